/*
 * Unit tests for resolve.c: names resolved by a child process while the
 * loop runs, answers in order, a name that fails, the deadline (the child
 * killed), abandoning a job, and no child left behind. getaddrinfo is
 * replaced (fakedns.h): "slow.test" sleeps 30 s, "fast.test" is 192.0.2.7,
 * any other name fails, so no test asks a name server.
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/net.h"
#include "core/resolve.h"
#include "tests/unit/fakedns.h"

struct result {
	int		 calls;
	bool		 answered;
	struct resolve_answer answers[4];
	size_t		 n;
	char		 err[128];
	bool		 free_in_callback;
};

static void
on_done(struct resolve *r, const struct resolve_answer *a, size_t n,
    const char *err, void *arg)
{
	struct result *res = arg;

	res->calls++;
	res->n = n;
	res->answered = a != NULL;
	if (a != NULL)
		memcpy(res->answers, a, n * sizeof(*a));
	if (err != NULL)
		snprintf(res->err, sizeof(res->err), "%s", err);
	if (res->free_in_callback)
		resolve_free(r);
}

/* Runs the loop until the callback came, for at most 20 s. */
static void
run_until_done(struct loop *l, struct result *res)
{
	int64_t end = loop_clock_monotonic_ms() + 20000;

	while (res->calls == 0 && loop_clock_monotonic_ms() < end)
		ck_assert_int_eq(loop_run_once(l, 100), 0);
}

static void
assert_no_child(void)
{
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}

START_TEST(test_answers)
{
	const char *names[] = { "fast.test", "10.1.2.3", "no.such.test", "localhost" };
	struct result res = { .free_in_callback = true };
	struct loop *l = loop_new();
	char text[NET_ADDRSTRLEN];

	ck_assert_ptr_nonnull(l);
	ck_assert_ptr_nonnull(resolve_start(l, names, 4, 10000, on_done, &res));
	run_until_done(l, &res);
	ck_assert_int_eq(res.calls, 1);
	ck_assert(res.answered);
	ck_assert_uint_eq(res.n, 4);
	ck_assert(res.answers[0].ok);
	ck_assert_str_eq(net_addr_text((struct sockaddr *)&res.answers[0].addr.ss,
	    text, sizeof(text)), "192.0.2.7:0");
	ck_assert(res.answers[1].ok);
	ck_assert_str_eq(net_addr_text((struct sockaddr *)&res.answers[1].addr.ss,
	    text, sizeof(text)), "10.1.2.3:0");
	ck_assert(!res.answers[2].ok);
	ck_assert_ptr_nonnull(strstr(res.answers[2].err, "cannot resolve 'no.such.test'"));
	ck_assert(res.answers[3].ok);
	ck_assert_uint_eq(loop_nwatched(l), 0);
	ck_assert_uint_eq(loop_ntimers(l), 0);
	assert_no_child();
	loop_free(l);
}
END_TEST

START_TEST(test_deadline)
{
	const char *names[] = { "fast.test", "slow.test" };
	struct result res = { 0 };
	struct loop *l = loop_new();
	struct resolve *r;
	int64_t t0 = loop_clock_monotonic_ms();

	ck_assert_ptr_nonnull(l);
	ck_assert_ptr_nonnull(r = resolve_start(l, names, 2, 300, on_done, &res));
	run_until_done(l, &res);
	ck_assert_int_eq(res.calls, 1);
	ck_assert(!res.answered);
	ck_assert_str_eq(res.err, "took longer than 300 ms");
	/* Killed at the deadline, not after the 30 s of the name. */
	ck_assert_int_lt(loop_clock_monotonic_ms() - t0, 10000);
	assert_no_child();
	resolve_free(r);
	ck_assert_uint_eq(loop_nwatched(l), 0);
	ck_assert_uint_eq(loop_ntimers(l), 0);
	loop_free(l);
}
END_TEST

START_TEST(test_abandon)
{
	const char *names[] = { "slow.test" };
	struct result res = { 0 };
	struct loop *l = loop_new();
	struct resolve *r;

	ck_assert_ptr_nonnull(l);
	ck_assert_ptr_nonnull(r = resolve_start(l, names, 1, 10000, on_done, &res));
	ck_assert_int_eq(loop_run_once(l, 50), 0);
	resolve_free(r);
	ck_assert_int_eq(res.calls, 0);
	assert_no_child();
	ck_assert_uint_eq(loop_nwatched(l), 0);
	ck_assert_uint_eq(loop_ntimers(l), 0);
	loop_free(l);
}
END_TEST

static Suite *
resolve_suite(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc = tcase_create("child");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_answers);
	tcase_add_test(tc, test_deadline);
	tcase_add_test(tc, test_abandon);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(resolve_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
