/* service.c: the one service name rule (service.h says why it is this strict). */
#include "autoconfig.h"

#include "common/service.h"

static bool
name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool
service_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > SERVICE_NAME_MAX || !name_char((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!name_char(c) && c != '_' && c != '-')
			return false;
	}
	return true;
}
