/*
 * libFuzzer target: proxyproto.c. The input is what a peer sends first;
 * it is parsed whole and cut short, in buffers of exactly the size given,
 * so that ASan sees any read past len. What the parser says must hold
 * together: an OK header fits the bounds and parses the same from its own
 * bytes, every shorter prefix of it (and of a NEED_MORE input) is
 * NEED_MORE, and its addresses built again (v1 and v2) parse back to the
 * same addresses. The builder is also fed addresses read from the input
 * with any family and any cap.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxyproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum proxyproto_result
parse_copy(const uint8_t *data, size_t n, struct proxyproto_header *h)
{
	const char *why = NULL;
	uint8_t *p = malloc(n > 0 ? n : 1);
	enum proxyproto_result r;

	if (p == NULL)
		abort();
	if (n > 0)
		memcpy(p, data, n);
	r = proxyproto_parse(p, n, h, &why);
	free(p);
	if (r == PROXYPROTO_BAD && (why == NULL || why[0] == '\0'))
		abort();
	if (r != PROXYPROTO_NEED_MORE && r != PROXYPROTO_OK && r != PROXYPROTO_BAD)
		abort();
	return r;
}

/* An address as the builder counts it: mapped IPv6 as IPv4. */
struct canon {
	int		family;
	uint8_t		addr[16];
	uint16_t	port;
};

static struct canon
canon(const struct sockaddr_storage *ss)
{
	struct canon c;

	memset(&c, 0, sizeof(c));
	c.family = ss->ss_family;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		memcpy(c.addr, &a->sin_addr, 4);
		c.port = a->sin_port;
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
			c.family = AF_INET;
			memcpy(c.addr, a->sin6_addr.s6_addr + 12, 4);
		} else {
			memcpy(c.addr, &a->sin6_addr, 16);
		}
		c.port = a->sin6_port;
	} else {
		abort();	/* a non-local header has IPv4 or IPv6 addresses */
	}
	return c;
}

static void
check_header(const struct proxyproto_header *h, size_t size)
{
	if (h->len == 0 || h->len > size || h->len > PROXYPROTO_HDR_MAX)
		abort();
	if (h->version == 1) {
		if (h->len > PROXYPROTO_V1_MAX || h->ntlv != 0)
			abort();
	} else if (h->version != 2) {
		abort();
	}
	if (h->local)
		return;
	if (h->src.ss_family != h->dst.ss_family)
		abort();
	if (h->srclen != (h->src.ss_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6)) || h->dstlen != h->srclen)
		abort();
}

/* The parsed addresses, built and parsed again, in both versions. */
static void
round_trip(const struct proxyproto_header *h)
{
	struct canon s = canon(&h->src), d = canon(&h->dst);

	for (int version = 1; version <= 2; version++) {
		uint8_t out[PROXYPROTO_BUILD_MAX];
		struct proxyproto_header back;
		size_t n = proxyproto_build(version, (const struct sockaddr *)&h->src,
		    (const struct sockaddr *)&h->dst, out, sizeof(out));
		struct canon bs, bd;

		if (n == 0 || parse_copy(out, n, &back) != PROXYPROTO_OK ||
		    back.len != n || back.local || back.version != version)
			abort();
		bs = canon(&back.src);
		bd = canon(&back.dst);
		if (memcmp(&s, &bs, sizeof(s)) != 0 || memcmp(&d, &bd, sizeof(d)) != 0)
			abort();
	}
}

/*
 * The builder on raw bytes: two address families and bodies from the
 * input, a cap from it. Whatever it writes fits the cap and parses.
 */
static void
build_raw(const uint8_t *data, size_t size)
{
	struct sockaddr_storage s, d;
	uint8_t out[PROXYPROTO_BUILD_MAX];
	struct proxyproto_header back;
	static const int fams[4] = { AF_INET, AF_INET6, AF_UNIX, AF_UNSPEC };
	size_t need = 3 + 2 * sizeof(struct sockaddr_in6), cap, n;
	int version;

	if (size < need)
		return;
	memset(&s, 0, sizeof(s));
	memset(&d, 0, sizeof(d));
	memcpy(&s, data + 3, sizeof(struct sockaddr_in6));
	memcpy(&d, data + 3 + sizeof(struct sockaddr_in6), sizeof(struct sockaddr_in6));
	s.ss_family = (sa_family_t)fams[data[0] & 3];
	d.ss_family = (sa_family_t)fams[(data[0] >> 2) & 3];
	version = (data[0] >> 4) & 3;
	cap = data[1] % (PROXYPROTO_BUILD_MAX + 1);
	n = proxyproto_build(version, (data[2] & 1) ? NULL : (struct sockaddr *)&s,
	    (data[2] & 2) ? NULL : (struct sockaddr *)&d, out, cap);
	if (n > cap)
		abort();
	if (n > 0 && (parse_copy(out, n, &back) != PROXYPROTO_OK || back.len != n))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxyproto_header h, again;
	enum proxyproto_result r = parse_copy(data, size, &h);

	if (r == PROXYPROTO_OK) {
		check_header(&h, size);
		/* Its own bytes alone say the same; one fewer is a prefix. */
		if (parse_copy(data, h.len, &again) != PROXYPROTO_OK ||
		    again.version != h.version || again.local != h.local ||
		    again.len != h.len || again.ntlv != h.ntlv ||
		    again.srclen != h.srclen || again.dstlen != h.dstlen ||
		    memcmp(&again.src, &h.src, sizeof(h.src)) != 0 ||
		    memcmp(&again.dst, &h.dst, sizeof(h.dst)) != 0)
			abort();
		if (parse_copy(data, h.len - 1, &again) != PROXYPROTO_NEED_MORE ||
		    parse_copy(data, h.len / 2, &again) != PROXYPROTO_NEED_MORE)
			abort();
		if (!h.local)
			round_trip(&h);
	} else if (r == PROXYPROTO_NEED_MORE) {
		if (size >= PROXYPROTO_HDR_MAX)
			abort();	/* never waits past the bound */
		if (size > 0 && (parse_copy(data, size - 1, &again) != PROXYPROTO_NEED_MORE ||
		    parse_copy(data, size / 2, &again) != PROXYPROTO_NEED_MORE))
			abort();
	}
	build_raw(data, size);
	return 0;
}
