/*
 * Unit tests for net.c: address, port and network parsing (table-driven),
 * address text, and a real listen/connect over loopback.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/net.h"

static const struct {
	const char	*in;
	const char	*want;	/* net_addr_text, or NULL: must fail */
} listen_cases[] = {
	{ "3000", "127.0.0.1:3000" },		/* default host "localhost" */
	{ "0", "127.0.0.1:0" },
	{ "127.0.0.2:80", "127.0.0.2:80" },
	{ "localhost:8080", "127.0.0.1:8080" },
	{ "0.0.0.0:1", "0.0.0.0:1" },
	{ "[::1]:3000", "[::1]:3000" },
	{ "[::]:3000", "[::]:3000" },
	{ "[fe80::1]:65535", "[fe80::1]:65535" },
	{ "65536", NULL },
	{ "-1", NULL },
	{ "+80", NULL },
	{ "80x", NULL },
	{ "", NULL },
	{ ":80", NULL },
	{ "127.0.0.1:", NULL },
	{ "::1:80", NULL },			/* IPv6 needs brackets */
	{ "[::1]80", NULL },
	{ "[::1", NULL },
	{ "[]:80", NULL },
	{ "[::1]", NULL },			/* a port is required */
	{ "[localhost]:80", NULL },		/* brackets hold IPv6 only */
	{ "[127.0.0.1]:80", NULL },
	{ "1.2.3:80", NULL },			/* not 1.2.0.3 */
	{ "1.2.3.4:99999", NULL },
	{ "no.such.host.invalid:80", NULL },
};

START_TEST(test_parse_listen)
{
	struct net_addr a;
	char err[256], text[NET_ADDRSTRLEN];
	int rc = net_parse_listen(listen_cases[_i].in, "localhost", &a, err, sizeof(err));

	if (listen_cases[_i].want == NULL) {
		ck_assert_msg(rc == -1, "'%s' accepted", listen_cases[_i].in);
		ck_assert_msg(err[0] != '\0', "no reason for '%s'", listen_cases[_i].in);
		return;
	}
	ck_assert_msg(rc == 0, "'%s': %s", listen_cases[_i].in, err);
	ck_assert_str_eq(net_addr_text((struct sockaddr *)&a.ss, text, sizeof(text)),
	    listen_cases[_i].want);
	ck_assert_uint_eq(a.len, net_addr_len((struct sockaddr *)&a.ss));
}
END_TEST

static const struct {
	const char	*in;
	const char	*want;
} hostport_cases[] = {
	{ "127.0.0.1:8080", "127.0.0.1:8080" },
	{ "[::1]:1", "[::1]:1" },
	{ "localhost:22", "127.0.0.1:22" },
	{ "8080", NULL },			/* host required */
	{ "127.0.0.1:0", NULL },		/* a target needs a real port */
	{ "127.0.0.1", NULL },
	{ "1.2.3:80", NULL },
	{ "[::1]", NULL },
};

START_TEST(test_parse_hostport)
{
	struct net_addr a;
	char err[256], text[NET_ADDRSTRLEN];
	int rc = net_parse_hostport(hostport_cases[_i].in, &a, err, sizeof(err));

	if (hostport_cases[_i].want == NULL) {
		ck_assert_msg(rc == -1, "'%s' accepted", hostport_cases[_i].in);
		return;
	}
	ck_assert_msg(rc == 0, "'%s': %s", hostport_cases[_i].in, err);
	ck_assert_str_eq(net_addr_text((struct sockaddr *)&a.ss, text, sizeof(text)),
	    hostport_cases[_i].want);
}
END_TEST

static const struct {
	const char	*cidr;
	const char	*addr;
	int		 match;		/* -1: the cidr must not parse */
} cidr_cases[] = {
	{ "10.0.0.0/8", "10.200.3.4", 1 },
	{ "10.0.0.0/8", "11.0.0.1", 0 },
	{ "10.1.2.3/8", "10.9.9.9", 1 },	/* host bits ignored */
	{ "192.168.1.0/25", "192.168.1.127", 1 },
	{ "192.168.1.0/25", "192.168.1.128", 0 },
	{ "0.0.0.0/0", "8.8.8.8", 1 },
	{ "127.0.0.1", "127.0.0.1", 1 },
	{ "127.0.0.1", "127.0.0.2", 0 },
	{ "::1", "::1", 1 },
	{ "fd00::/8", "fd12::1", 1 },
	{ "fd00::/8", "fe80::1", 0 },
	{ "10.0.0.0/8", "::ffff:10.1.1.1", 1 },	/* mapped is IPv4 */
	{ "10.0.0.0/8", "::1", 0 },
	{ "10.0.0.0/33", NULL, -1 },
	{ "::/129", NULL, -1 },
	{ "10.0.0.0/", NULL, -1 },
	{ "10.0.0.0/-1", NULL, -1 },
	{ "example.com/8", NULL, -1 },
	{ "", NULL, -1 },
};

static void
sockaddr_of(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		return;
	}
	ck_assert_int_eq(inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)ss)->sin6_addr), 1);
	ss->ss_family = AF_INET6;
}

START_TEST(test_cidr)
{
	struct net_cidr c;
	struct sockaddr_storage ss;
	char err[256];
	int rc = net_parse_cidr(cidr_cases[_i].cidr, &c, err, sizeof(err));

	if (cidr_cases[_i].match == -1) {
		ck_assert_msg(rc == -1, "'%s' accepted", cidr_cases[_i].cidr);
		return;
	}
	ck_assert_msg(rc == 0, "'%s': %s", cidr_cases[_i].cidr, err);
	sockaddr_of(cidr_cases[_i].addr, &ss);
	ck_assert_msg(net_cidr_match(&c, (struct sockaddr *)&ss) == (cidr_cases[_i].match == 1),
	    "%s in %s", cidr_cases[_i].addr, cidr_cases[_i].cidr);
}
END_TEST

START_TEST(test_loopback)
{
	static const struct { const char *a; bool lo; } t[] = {
		{ "127.0.0.1", true }, { "127.255.0.9", true }, { "::1", true },
		{ "::ffff:127.0.0.3", true }, { "128.0.0.1", false },
		{ "10.0.0.1", false }, { "::2", false },
	};
	struct sockaddr_storage ss;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		sockaddr_of(t[i].a, &ss);
		ck_assert_msg(net_is_loopback((struct sockaddr *)&ss) == t[i].lo, "%s", t[i].a);
	}
}
END_TEST

START_TEST(test_ports)
{
	uint16_t p;

	ck_assert_int_eq(net_parse_port("0", &p), 0);
	ck_assert_uint_eq(p, 0);
	ck_assert_int_eq(net_parse_port("65535", &p), 0);
	ck_assert_uint_eq(p, 65535);
	ck_assert_int_eq(net_parse_port("65536", &p), -1);
	ck_assert_int_eq(net_parse_port("000080", &p), -1);	/* too long */
	ck_assert_int_eq(net_parse_port(" 80", &p), -1);
	ck_assert_int_eq(net_parse_port("", &p), -1);
}
END_TEST

START_TEST(test_mapped_text_and_equal)
{
	struct sockaddr_storage a, b;
	char text[NET_ADDRSTRLEN];

	sockaddr_of("::ffff:10.0.0.1", &a);
	net_addr_set_port((struct sockaddr *)&a, 80);
	ck_assert_str_eq(net_addr_text((struct sockaddr *)&a, text, sizeof(text)), "10.0.0.1:80");
	sockaddr_of("10.0.0.1", &b);
	net_addr_set_port((struct sockaddr *)&b, 80);
	ck_assert(net_addr_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
	net_addr_set_port((struct sockaddr *)&b, 81);
	ck_assert(!net_addr_equal((struct sockaddr *)&a, (struct sockaddr *)&b));
}
END_TEST

START_TEST(test_listen_connect_loopback)
{
	struct net_addr a, bound;
	char err[256];
	struct pollfd p;
	int lfd, cfd, afd;

	ck_assert_int_eq(net_parse_listen("127.0.0.1:0", "localhost", &a, err, sizeof(err)), 0);
	lfd = net_listen(&a, 16, NET_LISTEN_NODELAY, NULL, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(net_local_addr(lfd, &bound), 0);
	ck_assert_uint_ne(net_addr_port((struct sockaddr *)&bound.ss), 0);
	{
		/* Taken without SO_REUSEPORT: the error names the address. */
		char want[64];

		snprintf(want, sizeof(want), "listen on 127.0.0.1:%u: ",
		    net_addr_port((struct sockaddr *)&bound.ss));
		ck_assert_int_eq(net_listen(&bound, 16, 0, err, sizeof(err)), -1);
		ck_assert_int_eq(errno, EADDRINUSE);
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "error: %s", err);
	}
	cfd = net_connect((struct sockaddr *)&bound.ss, bound.len);
	ck_assert_int_ge(cfd, 0);
	p = (struct pollfd){ .fd = cfd, .events = POLLOUT };
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	ck_assert_int_eq(net_connect_error(cfd), 0);
	ck_assert_int_eq(net_set_nodelay(cfd), 0);
	p = (struct pollfd){ .fd = lfd, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	afd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(afd, 0);
	{
		/* TCP_NODELAY was set once, on the listener, and inherited. */
		int on = 0;
		socklen_t len = sizeof(on);

		ck_assert_int_eq(getsockopt(afd, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
		ck_assert_int_eq(on, 1);
	}
	close(afd);
	close(cfd);

	/* A closed port: the connect fails with ECONNREFUSED. */
	close(lfd);
	cfd = net_connect((struct sockaddr *)&bound.ss, bound.len);
	if (cfd >= 0) {
		p = (struct pollfd){ .fd = cfd, .events = POLLOUT };
		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		ck_assert_int_eq(net_connect_error(cfd), ECONNREFUSED);
		close(cfd);
	} else {
		ck_assert_int_eq(errno, ECONNREFUSED);
	}
}
END_TEST

/* net_close: closed is 0, a real error (not an open fd) is -1 EBADF. */
START_TEST(test_close)
{
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(net_close(fds[0]), 0);
	ck_assert_int_eq(net_close(fds[1]), 0);
	errno = 0;
	ck_assert_int_eq(net_close(fds[1]), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

static Suite *
net_suite(void)
{
	Suite *s = suite_create("net");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, test_parse_listen, 0,
	    sizeof(listen_cases) / sizeof(listen_cases[0]));
	tcase_add_loop_test(tc, test_parse_hostport, 0,
	    sizeof(hostport_cases) / sizeof(hostport_cases[0]));
	tcase_add_loop_test(tc, test_cidr, 0, sizeof(cidr_cases) / sizeof(cidr_cases[0]));
	tcase_add_test(tc, test_loopback);
	tcase_add_test(tc, test_ports);
	tcase_add_test(tc, test_mapped_text_and_equal);
	tcase_add_test(tc, test_close);
	tcase_set_timeout(tc, 20);	/* a name lookup may be slow */
	suite_add_tcase(s, tc);
	tc = tcase_create("sockets");
	tcase_add_test(tc, test_listen_connect_loopback);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(net_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
