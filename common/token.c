/* token.c: the one token rule (token.h says why it is this strict). */
#include "autoconfig.h"

#include "common/token.h"

bool
token_valid(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f || c == ':')
			return false;
	}
	return true;
}

size_t
token_file_text(char *buf, size_t len)
{
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	return len;
}
