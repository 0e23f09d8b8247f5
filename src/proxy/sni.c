/*
 * sni.c: the ClientHello's server name and the server-name map
 * (src/proxy/sni.h). Stubs for now: the implementation follows.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>

#include "proxy/sni.h"

enum sni_result
sni_parse(const uint8_t *buf, size_t len, char name[SNI_NAME_MAX + 1],
    const char **why)
{
	(void)buf;
	(void)len;
	name[0] = '\0';
	if (why != NULL)
		*why = "not implemented";
	return SNI_BAD;
}

struct sni_map {
	int	unused;
};

struct sni_map *
sni_map_new(void)
{
	return calloc(1, sizeof(struct sni_map));
}

void
sni_map_free(struct sni_map *m)
{
	free(m);
}

int
sni_map_add(struct sni_map *m, const char *pattern, const char *value,
    const char **why)
{
	(void)m;
	(void)pattern;
	(void)value;
	if (why != NULL)
		*why = "not implemented";
	errno = EINVAL;
	return -1;
}

const char *
sni_map_find(const struct sni_map *m, const char *name)
{
	(void)m;
	(void)name;
	return NULL;
}

bool
sni_pattern_valid(const char *pattern, const char **why)
{
	(void)pattern;
	if (why != NULL)
		*why = "not implemented";
	return false;
}
