/*
 * Unit tests for ratelimit.c: token buckets per address in a fixed table,
 * on a clock the test passes in. The bounds here are the ack port's own
 * (ackport.h: a burst of 30 registrations, then 60 a minute) where they
 * matter, and small ones where they make the arithmetic plain.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ack/ackport.h"
#include "ack/ratelimit.h"

/* An address by text, IPv4 or IPv6, kept in a static slot per call site. */
static const struct sockaddr *
addr(struct sockaddr_storage *ss, const char *text)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(40000);
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(40001);
	}
	return (const struct sockaddr *)ss;
}

/* How many takes in a row succeed at now (at most limit tries). */
static unsigned
drain(struct ratelimit *rl, const struct sockaddr *sa, int64_t now, unsigned limit)
{
	unsigned n = 0;

	while (n < limit && ratelimit_take(rl, sa, now))
		n++;
	return n;
}

START_TEST(test_bad_sizes)
{
	errno = 0;
	ck_assert_ptr_null(ratelimit_new(0, 1, 60));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(ratelimit_new(16, 0, 60));
	ck_assert_int_eq(errno, EINVAL);
	ratelimit_free(NULL);
}
END_TEST

/* The ack port's numbers: 30 at once, the 31st refused, then 1 a second. */
START_TEST(test_burst_then_refusal)
{
	struct ratelimit *rl = ratelimit_new(ACKPORT_RATE_SLOTS, ACKPORT_NID_BURST,
	    ACKPORT_NID_PER_MIN);
	struct sockaddr_storage a;
	const struct sockaddr *sa = addr(&a, "192.0.2.7");
	int64_t now = 5000;

	ck_assert_ptr_nonnull(rl);
	ck_assert_uint_eq(drain(rl, sa, now, 100), ACKPORT_NID_BURST);
	ck_assert(!ratelimit_take(rl, sa, now));
	/* A refusal spends nothing: still empty, not in debt. */
	for (int i = 0; i < 1000; i++)
		ck_assert(!ratelimit_take(rl, sa, now));
	ck_assert(!ratelimit_take(rl, sa, now + 999));
	ck_assert(ratelimit_take(rl, sa, now + 1000));
	ck_assert(!ratelimit_take(rl, sa, now + 1000));
	ratelimit_free(rl);
}
END_TEST

/* Refill: proportional to the time passed, capped at the burst. */
START_TEST(test_refill)
{
	struct ratelimit *rl = ratelimit_new(64, 5, 60);	/* 1 a second */
	struct sockaddr_storage a;
	const struct sockaddr *sa = addr(&a, "192.0.2.8");
	int64_t now = 1000;

	ck_assert_ptr_nonnull(rl);
	ratelimit_set_seed(rl, 1);
	ck_assert_uint_eq(drain(rl, sa, now, 10), 5);
	now += 3500;		/* 3.5 tokens */
	ck_assert_uint_eq(drain(rl, sa, now, 10), 3);
	now += 500;		/* the half left, and a half more */
	ck_assert_uint_eq(drain(rl, sa, now, 10), 1);
	now += 3600 * 1000;	/* an hour: the burst, not 3600 */
	ck_assert_uint_eq(drain(rl, sa, now, 100), 5);
	/* Time that goes back refills nothing, and breaks nothing after. */
	ck_assert(!ratelimit_take(rl, sa, now - 60000));
	ck_assert(!ratelimit_take(rl, sa, now + 999));
	ck_assert(ratelimit_take(rl, sa, now + 1000));
	ratelimit_free(rl);
}
END_TEST

/*
 * A slow rate (1 a minute) with takes coming every 59 ms: each gap is less
 * than a milli-token, yet the time adds up: one token a minute all the same.
 */
START_TEST(test_refill_slow_rate_frequent_takes)
{
	struct ratelimit *rl = ratelimit_new(64, 1, 1);
	struct sockaddr_storage a;
	const struct sockaddr *sa = addr(&a, "192.0.2.9");
	int64_t now = 0;
	unsigned got = 0;

	ck_assert_ptr_nonnull(rl);
	ck_assert(ratelimit_take(rl, sa, now));
	while (now < 10 * 60000) {
		now += 59;
		got += ratelimit_take(rl, sa, now);
	}
	ck_assert_uint_eq(got, 10);
	ratelimit_free(rl);
}
END_TEST

/* Addresses have their own buckets; IPv4-mapped IPv6 is the IPv4 one. */
START_TEST(test_per_key)
{
	struct ratelimit *rl = ratelimit_new(ACKPORT_RATE_SLOTS, 3, 60);
	struct sockaddr_storage a, b, c, m;
	const struct sockaddr *sa = addr(&a, "10.0.0.1"), *sb = addr(&b, "10.0.0.2");
	const struct sockaddr *sc = addr(&c, "2001:db8::1");
	const struct sockaddr *sm = addr(&m, "::ffff:10.0.0.1");
	int64_t now = 1000;

	ck_assert_ptr_nonnull(rl);
	/* Fixed placement: these three do not share a slot under it. */
	ratelimit_set_seed(rl, 0x1234);
	ck_assert_uint_eq(drain(rl, sa, now, 10), 3);
	ck_assert_uint_eq(drain(rl, sb, now, 1), 1);
	ck_assert_uint_eq(drain(rl, sc, now, 10), 3);
	/* b and c spending left a as empty as it was, b with its 2 left. */
	ck_assert(!ratelimit_take(rl, sa, now));
	ck_assert(!ratelimit_take(rl, sm, now));	/* a by another spelling */
	ck_assert_uint_eq(drain(rl, sb, now, 10), 2);
	/* The port does not matter, only the address. */
	((struct sockaddr_in *)&b)->sin_port = htons(1);
	ck_assert(!ratelimit_take(rl, sb, now));
	ratelimit_free(rl);
}
END_TEST

/*
 * More addresses than slots: the table never grows. An address that lands
 * on a slot held by another takes it over with a full bucket, and the one
 * pushed out is forgotten: when it comes back it has a full bucket too.
 */
START_TEST(test_bound_more_keys_than_slots)
{
	struct ratelimit *rl = ratelimit_new(4, 2, 0);	/* never refills */
	struct sockaddr_storage ss[5];
	const struct sockaddr *sa[5];
	char text[32];
	unsigned again = 0;

	ck_assert_ptr_nonnull(rl);
	for (int i = 0; i < 5; i++) {
		snprintf(text, sizeof(text), "10.1.0.%d", i + 1);
		sa[i] = addr(&ss[i], text);
		/* Each newcomer has its full burst, whoever held its slot. */
		ck_assert_uint_eq(drain(rl, sa[i], 0, 10), 2);
	}
	/* 5 addresses, 4 slots: at least one was pushed out, and is back full. */
	for (int i = 0; i < 4; i++)
		again += ratelimit_take(rl, sa[i], 0);
	ck_assert_uint_ge(again, 1);
	ratelimit_free(rl);
}
END_TEST

/*
 * Two addresses on one slot (a single slot: all collide). Their budgets
 * never merge: one's spending never leaves the other with less than a full
 * bucket. What the design allows instead: each takeover forgets the
 * previous holder, so two addresses taking turns are never refused.
 */
START_TEST(test_collision)
{
	struct ratelimit *rl = ratelimit_new(1, 3, 0);
	struct sockaddr_storage a, b;
	const struct sockaddr *sa = addr(&a, "10.2.0.1"), *sb = addr(&b, "10.2.0.2");

	ck_assert_ptr_nonnull(rl);
	ck_assert_uint_eq(drain(rl, sa, 0, 10), 3);
	ck_assert(!ratelimit_take(rl, sa, 0));
	ck_assert_uint_eq(drain(rl, sb, 0, 10), 3);	/* not a's empty bucket */
	ck_assert_uint_eq(drain(rl, sa, 0, 10), 3);	/* a was forgotten */
	for (int i = 0; i < 100; i++) {
		ck_assert(ratelimit_take(rl, sb, 0));
		ck_assert(ratelimit_take(rl, sa, 0));
	}
	/* The same address on its own is held to its bucket as ever. */
	ck_assert_uint_eq(drain(rl, sa, 0, 10), 2);
	ck_assert(!ratelimit_take(rl, sa, 0));
	ratelimit_free(rl);
}
END_TEST

static Suite *
ratelimit_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("buckets");

	tcase_add_test(tc, test_bad_sizes);
	tcase_add_test(tc, test_burst_then_refusal);
	tcase_add_test(tc, test_refill);
	tcase_add_test(tc, test_refill_slow_rate_frequent_takes);
	tcase_add_test(tc, test_per_key);
	suite_add_tcase(s, tc);
	tc = tcase_create("table");
	tcase_add_test(tc, test_bound_more_keys_than_slots);
	tcase_add_test(tc, test_collision);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ratelimit_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
