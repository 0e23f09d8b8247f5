/*
 * Unit tests for acceptor.c: how the fd budget is shared and counted, and
 * the accept path over real loopback sockets: a connection beyond its
 * user's share is closed at once, and accept failing with EMFILE pauses
 * the listener (the loop then waits, it does not spin). Each test runs in
 * its own process (CK_FORK), so lowering RLIMIT_NOFILE stays there.
 */
#include "autoconfig.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/acceptor.h"
#include "core/loop.h"

static const size_t no_caps[FD_USER_COUNT] = { 0, 0, 0 };

static void
set_nofile(rlim_t n)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = n;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

START_TEST(test_budget_shares_the_limit)
{
	struct fdbudget *b;
	size_t sum = 0;

	set_nofile(1024);
	ck_assert_ptr_nonnull(b = fdbudget_new());
	ck_assert_uint_eq(fdbudget_left(b, FD_USER_PROXY), SIZE_MAX);	/* unshared */
	fdbudget_share(b, no_caps, 0);
	ck_assert_int_eq(fdbudget_limit(b), 1024);
	for (int u = 0; u < FD_USER_COUNT; u++) {
		ck_assert_uint_gt(fdbudget_share_of(b, u), 0);
		sum += fdbudget_share_of(b, u);
	}
	ck_assert_uint_le(sum, 1024 - FDBUDGET_SPARE);
	/* An eighth each for the ack and admin ports, the rest for sessions. */
	ck_assert_uint_gt(fdbudget_share_of(b, FD_USER_PROXY),
	    4 * fdbudget_share_of(b, FD_USER_ACK));
	fdbudget_free(b);
}
END_TEST

START_TEST(test_budget_caps_and_minimums)
{
	const size_t caps[FD_USER_COUNT] = { 0, 10, 20 };
	struct fdbudget *b;

	set_nofile(4096);
	ck_assert_ptr_nonnull(b = fdbudget_new());
	fdbudget_share(b, caps, 0);
	ck_assert_uint_eq(fdbudget_share_of(b, FD_USER_ACK), 10);
	ck_assert_uint_eq(fdbudget_share_of(b, FD_USER_ADMIN), 20);
	fdbudget_free(b);
	/* A tiny limit still leaves the admin and ack ports their minimums. */
	set_nofile(40);
	ck_assert_ptr_nonnull(b = fdbudget_new());
	fdbudget_share(b, no_caps, 0);
	ck_assert_uint_ge(fdbudget_share_of(b, FD_USER_ADMIN), 8);
	ck_assert_uint_ge(fdbudget_share_of(b, FD_USER_ACK), 4);
	ck_assert_uint_ge(fdbudget_share_of(b, FD_USER_PROXY), 2);
	fdbudget_free(b);
}
END_TEST

START_TEST(test_budget_take_give)
{
	const size_t caps[FD_USER_COUNT] = { 0, 5, 0 };
	struct fdbudget *b;

	set_nofile(1024);
	ck_assert_ptr_nonnull(b = fdbudget_new());
	fdbudget_share(b, caps, 0);
	ck_assert_uint_eq(fdbudget_left(b, FD_USER_ACK), 5);
	ck_assert(fdbudget_take(b, FD_USER_ACK, 3));
	ck_assert(!fdbudget_take(b, FD_USER_ACK, 3));	/* all or nothing */
	ck_assert_uint_eq(fdbudget_left(b, FD_USER_ACK), 2);
	ck_assert(fdbudget_take(b, FD_USER_ACK, 2));
	ck_assert_uint_eq(fdbudget_left(b, FD_USER_ACK), 0);
	fdbudget_charge(b, FD_USER_ACK, 1);		/* beyond the share */
	ck_assert_uint_eq(fdbudget_left(b, FD_USER_ACK), 0);
	fdbudget_give(b, FD_USER_ACK, 6);
	ck_assert_uint_eq(fdbudget_left(b, FD_USER_ACK), 5);
	/* One user's use leaves the others' shares alone. */
	ck_assert_uint_eq(fdbudget_left(b, FD_USER_PROXY),
	    fdbudget_share_of(b, FD_USER_PROXY));
	/* No budget: everything goes. */
	ck_assert(fdbudget_take(NULL, FD_USER_PROXY, 1000000));
	fdbudget_free(b);
}
END_TEST

/* --- the accept path over loopback --------------------------------------- */

struct accepted {
	int	 calls;
	int	 fds[64];
};

static void
on_accept(void *arg, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct accepted *a = arg;

	(void)sa;
	(void)len;
	ck_assert_int_lt(a->calls, 64);
	a->fds[a->calls++] = fd;
}

static int
listener(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static int
dial(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* The peer closed (EOF or reset) within a second. */
static bool
closed_by_peer(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, 1000) != 1)
		return false;
	return recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

START_TEST(test_accept_beyond_share_is_closed)
{
	const size_t caps[FD_USER_COUNT] = { 0, 2, 0 };
	struct loop *l = loop_new();
	struct fdbudget *b;
	struct accepted got = { .calls = 0 };
	struct acceptor *a;
	uint64_t errors = 0;
	uint16_t port;
	int c1, c2, c3;

	ck_assert_ptr_nonnull(b = fdbudget_new());
	fdbudget_share(b, caps, 0);
	a = acceptor_new(l, listener(&port), &(struct acceptor_params){
	    .what = "test", .budget = b, .user = FD_USER_ACK, .need = 1,
	    .batch = 8, .on_accept = on_accept, .arg = &got, .errors = &errors });
	ck_assert_ptr_nonnull(a);
	c1 = dial(port);
	c2 = dial(port);
	c3 = dial(port);
	for (int i = 0; i < 10 && got.calls + (int)errors < 3; i++)
		ck_assert_int_eq(loop_run_once(l, 200), 0);
	ck_assert_int_eq(got.calls, 2);		/* the share: 2 */
	ck_assert_uint_eq(errors, 1);
	ck_assert(closed_by_peer(c3));		/* told at once, not left waiting */
	ck_assert(!closed_by_peer(c1));
	/* One closes and gives its unit back: the next one is taken. */
	close(got.fds[0]);
	fdbudget_give(b, FD_USER_ACK, 1);
	close(c3);
	c3 = dial(port);
	for (int i = 0; i < 10 && got.calls < 3; i++)
		ck_assert_int_eq(loop_run_once(l, 200), 0);
	ck_assert_int_eq(got.calls, 3);
	for (int i = 1; i < got.calls; i++)
		close(got.fds[i]);
	close(c1);
	close(c2);
	close(c3);
	acceptor_free(a);
	fdbudget_free(b);
	loop_free(l);
}
END_TEST

START_TEST(test_accept_emfile_pauses)
{
	struct loop *l = loop_new();
	struct accepted got = { .calls = 0 };
	struct acceptor *a;
	uint64_t errors = 0;
	uint16_t port;
	int64_t start;
	int c1, probe;

	a = acceptor_new(l, listener(&port), &(struct acceptor_params){
	    .what = "test", .user = FD_USER_PROXY, .need = 2, .batch = 8,
	    .on_accept = on_accept, .arg = &got, .errors = &errors });
	ck_assert_ptr_nonnull(a);
	c1 = dial(port);
	/* No fd left for accept: the limit is what is open now. */
	ck_assert_int_ge(probe = dup(0), 0);
	close(probe);
	set_nofile((rlim_t)probe);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(got.calls, 0);
	ck_assert_uint_eq(errors, 1);
	ck_assert(!acceptor_accepting(a));
	/* Paused: the pending connection does not wake the loop again. */
	start = loop_clock_monotonic_ms();
	ck_assert_int_eq(loop_run_once(l, 300), 0);
	ck_assert_uint_eq(errors, 1);
	ck_assert_int_ge(loop_clock_monotonic_ms() - start, 250);
	/* Fds back: after the pause it is taken. */
	set_nofile(1024);
	for (int i = 0; i < 20 && got.calls == 0; i++)
		ck_assert_int_eq(loop_run_once(l, 200), 0);
	ck_assert_int_eq(got.calls, 1);
	ck_assert(acceptor_accepting(a));
	close(got.fds[0]);
	close(c1);
	acceptor_free(a);
	loop_free(l);
}
END_TEST

static Suite *
acceptor_suite(void)
{
	Suite *s = suite_create("acceptor.c");
	TCase *tc = tcase_create("budget");

	tcase_add_test(tc, test_budget_shares_the_limit);
	tcase_add_test(tc, test_budget_caps_and_minimums);
	tcase_add_test(tc, test_budget_take_give);
	suite_add_tcase(s, tc);
	tc = tcase_create("accept");
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_accept_beyond_share_is_closed);
	tcase_add_test(tc, test_accept_emfile_pauses);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(acceptor_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
