/*
 * libFuzzer target: the text parsers of config.c and net.c. Byte 0 picks
 * the parser, the rest is its NUL-terminated argument. nodns.c keeps host
 * names away from DNS.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/duration.h"
#include "config.h"
#include "core/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Formats a parsed address, which must fit the documented buffer. */
static void
addr_check(const struct net_addr *a)
{
	char text[NET_ADDRSTRLEN], host[NET_HOSTSTRLEN];

	if (a->len > sizeof(a->ss))
		abort();
	(void)net_addr_text((const struct sockaddr *)&a->ss, text, sizeof(text));
	(void)net_host_text((const struct sockaddr *)&a->ss, host, sizeof(host));
	if (net_addr_len((const struct sockaddr *)&a->ss) != a->len)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256], *s, *un;
	struct cfg_target t;
	struct net_addr a;
	struct net_cidr c;
	int64_t ms;
	size_t unlen;
	uint16_t port;

	if (size < 1)
		return 0;
	if ((s = malloc(size)) == NULL)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';

	switch (data[0] % 7) {
	case 0:
		if (duration_parse(s, DURATION_MAX_MS, &ms, err, sizeof(err)) == 0 && ms < 0)
			abort();
		break;
	case 1:
		if (cfg_parse_target(s, &t, err, sizeof(err)) == 0) {
			addr_check(&t.addr);
			if (t.weight < 1)
				abort();
		}
		break;
	case 2:
		if (net_parse_listen(s, "localhost", &a, err, sizeof(err)) == 0)
			addr_check(&a);
		break;
	case 3:
		if (net_parse_hostport(s, &a, err, sizeof(err)) == 0) {
			addr_check(&a);
			if (net_addr_port((struct sockaddr *)&a.ss) == 0)
				abort();
		}
		break;
	case 4:
		if (net_parse_cidr(s, &c, err, sizeof(err)) == 0) {
			struct sockaddr_in sin = { .sin_family = AF_INET };
			struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

			if (c.prefix > (c.family == AF_INET ? 32u : 128u))
				abort();
			sin.sin_addr.s_addr = htonl(0x7f000001);
			sin6.sin6_addr = in6addr_loopback;
			(void)net_cidr_match(&c, (struct sockaddr *)&sin);
			(void)net_cidr_match(&c, (struct sockaddr *)&sin6);
		}
		break;
	case 5:
		if (cfg_unescape(s, &un, &unlen, err, sizeof(err)) == 0) {
			if (unlen > strlen(s))
				abort();
			free(un);
		}
		break;
	case 6:
		(void)net_parse_port(s, &port);
		break;
	}
	free(s);
	return 0;
}
