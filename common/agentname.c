/* agentname.c: the one rule for a client's name (agentname.h says why). */
#include "autoconfig.h"

#include "common/agentname.h"

static bool
alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* One part, product or version: an alnum, then alnums and more. */
static bool
part_valid(const char *s, size_t len, const char *more)
{
	if (len == 0 || !alnum((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool extra = false;

		for (const char *m = more; *m != '\0'; m++)
			extra = extra || c == (unsigned char)*m;
		if (!alnum(c) && !extra)
			return false;
	}
	return true;
}

bool
agent_name_valid(const char *s, size_t len)
{
	size_t slash = 0;

	if (len == 0 || len > AGENT_NAME_MAX)
		return false;
	while (slash < len && s[slash] != '/')
		slash++;
	if (slash == len)
		return false;
	return part_valid(s, slash, "._-") &&
	    part_valid(s + slash + 1, len - slash - 1, "._+-");
}
