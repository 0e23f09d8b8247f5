/*
 * proxyproto: PROXY protocol v1/v2 parsing and building (see
 * src/proxy/proxyproto.h). Stubs for now.
 */
#include "autoconfig.h"

#include "proxy/proxyproto.h"

enum proxyproto_result
proxyproto_parse(const uint8_t *buf, size_t len,
    struct proxyproto_header *hdr, const char **why)
{
	(void)buf;
	(void)len;
	(void)hdr;
	if (why != NULL)
		*why = "not implemented";
	return PROXYPROTO_BAD;
}

size_t
proxyproto_build(int version, const struct sockaddr *src,
    const struct sockaddr *dst, uint8_t *out, size_t cap)
{
	(void)version;
	(void)src;
	(void)dst;
	(void)out;
	(void)cap;
	return 0;
}
