/*
 * Unit tests for persist.c: TTL, LRU, keys, forgetting, iteration.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/persist.h"

/* A numeric address text (with an optional port) as a sockaddr. */
static const struct sockaddr *
sa(struct sockaddr_storage *ss, const char *text, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
	}
	return (const struct sockaddr *)ss;
}

static uint32_t
lookup(struct persist *ps, const char *text, int64_t now)
{
	struct sockaddr_storage ss;

	return persist_lookup(ps, sa(&ss, text, 1234), now);
}

static void
set(struct persist *ps, const char *text, uint32_t id, int64_t now)
{
	struct sockaddr_storage ss;

	ck_assert_int_eq(persist_set(ps, sa(&ss, text, 4321), id, now), 0);
}

#define COLLECT_MAX	16

struct collected {
	struct persist_entry_info	 e[COLLECT_MAX];
	size_t				 n;
};

static void
collect(const struct persist_entry_info *info, void *arg)
{
	struct collected *c = arg;

	ck_assert_uint_lt(c->n, COLLECT_MAX);
	c->e[c->n++] = *info;
}

START_TEST(test_ttl)
{
	struct persist *ps = persist_new(100, 1000);

	ck_assert_ptr_nonnull(ps);
	ck_assert_uint_eq(lookup(ps, "10.0.0.1", 0), 0);
	set(ps, "10.0.0.1", 7, 0);
	ck_assert_uint_eq(lookup(ps, "10.0.0.1", 999), 7);
	/* The hit at 999 renewed it. */
	ck_assert_uint_eq(lookup(ps, "10.0.0.1", 1998), 7);
	ck_assert_uint_eq(lookup(ps, "10.0.0.1", 2998), 0);
	ck_assert_uint_eq(persist_count(ps), 0);
	persist_free(ps);
}
END_TEST

START_TEST(test_ttl_zero_never_expires)
{
	struct persist *ps = persist_new(100, 0);

	set(ps, "10.0.0.1", 7, 0);
	ck_assert_uint_eq(persist_expire(ps, INT64_MAX / 2, 100), 0);
	ck_assert_uint_eq(lookup(ps, "10.0.0.1", INT64_MAX / 2), 7);
	persist_free(ps);
}
END_TEST

START_TEST(test_expire_budget)
{
	struct persist *ps = persist_new(100, 100);
	char ip[32];

	for (int i = 0; i < 10; i++) {
		snprintf(ip, sizeof(ip), "10.0.0.%d", i);
		set(ps, ip, (uint32_t)i + 1, i);
	}
	/* At 105, entries used at 0..5 are idle for >= 100 ms. */
	ck_assert_uint_eq(persist_expire(ps, 105, 3), 3);
	ck_assert_uint_eq(persist_count(ps), 7);
	ck_assert_uint_eq(lookup(ps, "10.0.0.2", 105), 0);	/* gone */
	ck_assert_uint_eq(persist_expire(ps, 105, 100), 3);
	ck_assert_uint_eq(persist_count(ps), 4);
	ck_assert_uint_eq(persist_expire(ps, 105, 100), 0);
	ck_assert_uint_eq(lookup(ps, "10.0.0.6", 105), 7);
	ck_assert_uint_eq(persist_expire(ps, 105, 0), 0);
	persist_free(ps);
}
END_TEST

START_TEST(test_lru_eviction)
{
	struct persist *ps = persist_new(3, 100000);
	struct collected c = { .n = 0 };

	set(ps, "10.0.0.1", 1, 1);
	set(ps, "10.0.0.2", 2, 2);
	set(ps, "10.0.0.3", 3, 3);
	/* .1 is the oldest insert but the most recently used now. */
	ck_assert_uint_eq(lookup(ps, "10.0.0.1", 4), 1);
	set(ps, "10.0.0.4", 4, 5);
	ck_assert_uint_eq(persist_count(ps), 3);
	ck_assert_uint_eq(lookup(ps, "10.0.0.2", 6), 0);
	ck_assert_uint_eq(lookup(ps, "10.0.0.1", 6), 1);
	ck_assert_uint_eq(lookup(ps, "10.0.0.3", 6), 3);
	ck_assert_uint_eq(lookup(ps, "10.0.0.4", 6), 4);

	/* A smaller cap evicts at once, least recently used first. */
	persist_configure(ps, 1, 100000);
	ck_assert_uint_eq(persist_count(ps), 1);
	persist_foreach(ps, collect, &c);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_str_eq(c.e[0].client, "10.0.0.4");
	persist_free(ps);
}
END_TEST

START_TEST(test_max_zero)
{
	struct persist *ps = persist_new(0, 1000);

	set(ps, "10.0.0.1", 1, 0);
	ck_assert_uint_eq(persist_count(ps), 0);
	ck_assert_uint_eq(lookup(ps, "10.0.0.1", 0), 0);
	persist_free(ps);
}
END_TEST

START_TEST(test_replace)
{
	struct persist *ps = persist_new(10, 1000);
	struct collected c = { .n = 0 };

	set(ps, "10.0.0.1", 1, 0);
	ck_assert_uint_eq(lookup(ps, "10.0.0.1", 1), 1);
	ck_assert_uint_eq(lookup(ps, "10.0.0.1", 2), 1);
	set(ps, "10.0.0.1", 1, 3);		/* same target: hits kept */
	persist_foreach(ps, collect, &c);
	ck_assert_uint_eq(c.n, 1);
	ck_assert_uint_eq(c.e[0].hits, 2);
	ck_assert_int_eq(c.e[0].last_use, 3);

	set(ps, "10.0.0.1", 2, 4);		/* re-pointed: hits restart */
	ck_assert_uint_eq(persist_count(ps), 1);
	c.n = 0;
	persist_foreach(ps, collect, &c);
	ck_assert_uint_eq(c.e[0].target_id, 2);
	ck_assert_uint_eq(c.e[0].hits, 0);
	ck_assert_uint_eq(lookup(ps, "10.0.0.1", 5), 2);
	persist_free(ps);
}
END_TEST

START_TEST(test_keys)
{
	struct persist *ps = persist_new(10, 1000);
	struct collected c = { .n = 0 };

	set(ps, "192.0.2.1", 1, 0);
	set(ps, "2001:db8::1", 2, 1);
	set(ps, "::1", 3, 2);
	ck_assert_uint_eq(persist_count(ps), 3);
	/* IPv4-mapped IPv6 is the same client as IPv4; ports never count. */
	ck_assert_uint_eq(lookup(ps, "::ffff:192.0.2.1", 3), 1);
	ck_assert_uint_eq(lookup(ps, "192.0.2.1", 3), 1);
	ck_assert_uint_eq(lookup(ps, "2001:db8::1", 3), 2);
	ck_assert_uint_eq(lookup(ps, "2001:db8::2", 3), 0);
	ck_assert_uint_eq(lookup(ps, "192.0.2.2", 3), 0);
	set(ps, "::ffff:192.0.2.1", 4, 4);
	ck_assert_uint_eq(persist_count(ps), 3);
	ck_assert_uint_eq(lookup(ps, "192.0.2.1", 5), 4);

	persist_foreach(ps, collect, &c);
	ck_assert_uint_eq(c.n, 3);
	ck_assert_str_eq(c.e[0].client, "192.0.2.1");	/* shown as IPv4 */
	ck_assert_str_eq(c.e[1].client, "2001:db8::1");
	ck_assert_str_eq(c.e[2].client, "::1");
	persist_free(ps);
}
END_TEST

START_TEST(test_forget)
{
	struct persist *ps = persist_new(10, 1000);
	struct sockaddr_storage ss;

	set(ps, "10.0.0.1", 1, 0);
	set(ps, "10.0.0.2", 2, 0);
	set(ps, "10.0.0.3", 2, 0);
	set(ps, "fe80::1", 2, 0);
	set(ps, "10.0.0.5", 3, 0);
	ck_assert(persist_forget(ps, sa(&ss, "10.0.0.1", 9)));
	ck_assert(!persist_forget(ps, sa(&ss, "10.0.0.1", 9)));
	ck_assert(!persist_forget_text(ps, "10.0.0.9"));
	ck_assert(!persist_forget_text(ps, "not an address"));
	ck_assert(!persist_forget_text(ps, NULL));
	ck_assert(persist_forget_text(ps, "::ffff:10.0.0.5"));
	ck_assert_uint_eq(persist_count(ps), 3);
	ck_assert_uint_eq(persist_forget_target(ps, 2), 3);
	ck_assert_uint_eq(persist_forget_target(ps, 2), 0);
	ck_assert_uint_eq(persist_count(ps), 0);

	set(ps, "10.0.0.1", 1, 0);
	set(ps, "10.0.0.2", 2, 0);
	persist_flush(ps);
	ck_assert_uint_eq(persist_count(ps), 0);
	ck_assert_uint_eq(lookup(ps, "10.0.0.1", 1), 0);
	set(ps, "10.0.0.1", 1, 2);		/* usable after a flush */
	ck_assert_uint_eq(lookup(ps, "10.0.0.1", 3), 1);
	persist_free(ps);
}
END_TEST

START_TEST(test_foreach_order)
{
	struct persist *ps = persist_new(10, 1000);
	struct collected c = { .n = 0 };
	static const char *const want[] = { "10.0.0.2", "10.0.0.4", "10.0.0.3",
	    "10.0.0.1" };

	set(ps, "10.0.0.1", 1, 0);
	set(ps, "10.0.0.2", 2, 1);
	set(ps, "10.0.0.3", 3, 2);
	set(ps, "10.0.0.4", 4, 3);
	ck_assert_uint_eq(lookup(ps, "10.0.0.2", 4), 2);
	persist_foreach(ps, collect, &c);
	ck_assert_uint_eq(c.n, 4);
	for (size_t i = 0; i < 4; i++)
		ck_assert_str_eq(c.e[i].client, want[i]);
	ck_assert_uint_eq(c.e[0].hits, 1);
	ck_assert_int_eq(c.e[0].last_use, 4);
	ck_assert_uint_eq(c.e[1].target_id, 4);
	/* The most recent few only. */
	c.n = 0;
	persist_foreach_max(ps, 2, collect, &c);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_str_eq(c.e[0].client, want[0]);
	ck_assert_str_eq(c.e[1].client, want[1]);
	c.n = 0;
	persist_foreach_max(ps, 0, collect, &c);
	ck_assert_uint_eq(c.n, 0);
	persist_foreach_max(ps, 100, collect, &c);
	ck_assert_uint_eq(c.n, 4);
	persist_free(ps);
}
END_TEST

START_TEST(test_version)
{
	struct persist *ps = persist_new(10, 1000);
	uint64_t v = persist_version(ps);

	set(ps, "10.0.0.1", 1, 0);
	ck_assert_uint_gt(persist_version(ps), v);
	v = persist_version(ps);
	ck_assert_uint_eq(lookup(ps, "10.0.0.1", 1), 1);
	ck_assert_uint_gt(persist_version(ps), v);
	v = persist_version(ps);
	ck_assert_uint_eq(lookup(ps, "10.0.0.9", 1), 0);	/* a miss */
	ck_assert_uint_eq(persist_version(ps), v);
	ck_assert(persist_forget_text(ps, "10.0.0.1"));
	ck_assert_uint_gt(persist_version(ps), v);
	v = persist_version(ps);
	set(ps, "10.0.0.1", 1, 0);
	persist_flush(ps);
	ck_assert_uint_gt(persist_version(ps), v + 1);
	persist_free(ps);
}
END_TEST

/* Enough entries to grow the table several times, then shrink by expiry. */
START_TEST(test_many)
{
	const uint32_t n = 20000;
	struct persist *ps = persist_new(n, 1000);
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr.s6_addr[0] = 0x20;
	for (uint32_t i = 0; i < n; i++) {
		memcpy(&sin6.sin6_addr.s6_addr[12], &i, 4);
		ck_assert_int_eq(persist_set(ps, (struct sockaddr *)&sin6,
		    i + 1, i < n / 2 ? 0 : 500), 0);
	}
	ck_assert_uint_eq(persist_count(ps), n);
	for (uint32_t i = 0; i < n; i++) {
		memcpy(&sin6.sin6_addr.s6_addr[12], &i, 4);
		if (persist_lookup(ps, (struct sockaddr *)&sin6, 999) != i + 1)
			ck_abort_msg("entry %u lost", i);
	}
	/* The cap is reached: one more evicts exactly one. */
	sin6.sin6_addr.s6_addr[1] = 1;
	ck_assert_int_eq(persist_set(ps, (struct sockaddr *)&sin6, 1, 999), 0);
	ck_assert_uint_eq(persist_count(ps), n);
	ck_assert_uint_eq(persist_expire(ps, 1999, SIZE_MAX), n);
	ck_assert_uint_eq(persist_count(ps), 0);
	persist_free(ps);
}
END_TEST

/* --- indexes: the cost independent of the table's size ------------- */

static const struct sockaddr *
client_n(struct sockaddr_in *sin, uint32_t i)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(UINT32_C(0x0a000000) | i);
	return (const struct sockaddr *)sin;
}

#define BIG		100000
#define BIG_TARGETS	1000

/*
 * 100 000 entries over 1000 targets, every one checked while the table
 * grows (old and new tables side by side): forgetting a target looks only
 * at its own entries, a lookup at a couple.
 */
START_TEST(test_forget_target_indexed)
{
	struct persist *ps = persist_new(2 * BIG, 0);
	struct sockaddr_in sin;
	uint64_t steps;

	for (uint32_t i = 0; i < BIG; i++) {
		ck_assert_int_eq(persist_set(ps, client_n(&sin, i),
		    i % BIG_TARGETS + 1, i), 0);
		/* The one just set, and one long there, whichever table holds it. */
		ck_assert_uint_eq(persist_lookup(ps, client_n(&sin, i), i), i % BIG_TARGETS + 1);
		ck_assert_uint_eq(persist_lookup(ps, client_n(&sin, i / 2), i),
		    i / 2 % BIG_TARGETS + 1);
	}
	ck_assert_uint_eq(persist_count(ps), BIG);

	steps = persist_steps(ps);
	for (uint32_t i = 0; i < BIG; i++) {
		if (persist_lookup(ps, client_n(&sin, i), BIG) != i % BIG_TARGETS + 1)
			ck_abort_msg("entry %u lost", i);
	}
	ck_assert_uint_le(persist_steps(ps) - steps, 3 * BIG);

	/* Re-pointed: 10.0.0.7 leaves target 8 for target 9. */
	ck_assert_int_eq(persist_set(ps, client_n(&sin, 7), 9, BIG), 0);
	steps = persist_steps(ps);
	ck_assert_uint_eq(persist_forget_target(ps, 8), BIG / BIG_TARGETS - 1);
	ck_assert_uint_le(persist_steps(ps) - steps, BIG / BIG_TARGETS + 8);
	ck_assert_uint_eq(persist_lookup(ps, client_n(&sin, 7), BIG), 9);
	ck_assert_uint_eq(persist_lookup(ps, client_n(&sin, 7 + BIG_TARGETS), BIG), 0);
	ck_assert_uint_eq(persist_forget_target(ps, 9), BIG / BIG_TARGETS + 1);
	ck_assert_uint_eq(persist_lookup(ps, client_n(&sin, 7), BIG), 0);
	ck_assert_uint_eq(persist_lookup(ps, client_n(&sin, 8), BIG), 0);
	ck_assert_uint_eq(persist_lookup(ps, client_n(&sin, 9), BIG), 10);
	ck_assert_uint_eq(persist_count(ps), BIG - 2 * BIG / BIG_TARGETS);

	/* A target no entry names costs nothing; one forgotten twice, nothing more. */
	steps = persist_steps(ps);
	ck_assert_uint_eq(persist_forget_target(ps, BIG_TARGETS + 5), 0);
	ck_assert_uint_eq(persist_forget_target(ps, 8), 0);
	ck_assert_uint_le(persist_steps(ps) - steps, 8);

	/* Every target forgotten: nothing left. */
	for (uint32_t id = 1; id <= BIG_TARGETS; id++)
		persist_forget_target(ps, id);
	ck_assert_uint_eq(persist_count(ps), 0);
	persist_free(ps);
}
END_TEST

/* Entries that leave by other ways (evicted, expired, forgotten, flushed) leave their target's group. */
START_TEST(test_forget_target_after)
{
	struct persist *ps = persist_new(100, 1000);
	struct sockaddr_in sin;

	for (uint32_t i = 0; i < 100; i++)
		ck_assert_int_eq(persist_set(ps, client_n(&sin, i), i % 2 + 1, i), 0);
	/* 20 more evict the 20 oldest: ten of each target. */
	for (uint32_t i = 100; i < 120; i++)
		ck_assert_int_eq(persist_set(ps, client_n(&sin, i), 3, 100), 0);
	ck_assert(persist_forget(ps, client_n(&sin, 21)));
	ck_assert_uint_eq(persist_forget_target(ps, 2), 39);
	ck_assert_uint_eq(persist_expire(ps, 1099, SIZE_MAX), 40);	/* target 1s, used before 100 */
	ck_assert_uint_eq(persist_forget_target(ps, 1), 0);
	ck_assert_uint_eq(persist_count(ps), 20);
	persist_flush(ps);
	ck_assert_uint_eq(persist_forget_target(ps, 3), 0);
	/* And the table works on after the flush. */
	for (uint32_t i = 0; i < 3; i++)
		ck_assert_int_eq(persist_set(ps, client_n(&sin, i), 3 + i % 2, 2000), 0);
	ck_assert_uint_eq(persist_forget_target(ps, 3), 2);
	ck_assert_uint_eq(persist_lookup(ps, client_n(&sin, 1), 2000), 4);
	persist_free(ps);
}
END_TEST

START_TEST(test_bad_family)
{
	struct persist *ps = persist_new(10, 1000);
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	ck_assert_int_eq(persist_set(ps, (struct sockaddr *)&ss, 1, 0), -1);
	ck_assert_uint_eq(persist_lookup(ps, (struct sockaddr *)&ss, 0), 0);
	ck_assert_uint_eq(persist_lookup(ps, NULL, 0), 0);
	ck_assert(!persist_forget(ps, NULL));
	ck_assert_uint_eq(persist_count(ps), 0);
	persist_free(ps);
	persist_free(NULL);
}
END_TEST

static Suite *
persist_suite(void)
{
	Suite *s = suite_create("persist");
	TCase *tc;

	tc = tcase_create("expiry");
	tcase_add_test(tc, test_ttl);
	tcase_add_test(tc, test_ttl_zero_never_expires);
	tcase_add_test(tc, test_expire_budget);
	suite_add_tcase(s, tc);

	tc = tcase_create("lru");
	tcase_add_test(tc, test_lru_eviction);
	tcase_add_test(tc, test_max_zero);
	tcase_add_test(tc, test_many);
	tcase_set_timeout(tc, 20);
	suite_add_tcase(s, tc);

	tc = tcase_create("entries");
	tcase_add_test(tc, test_replace);
	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_forget);
	tcase_add_test(tc, test_foreach_order);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_bad_family);
	tcase_add_test(tc, test_forget_target_indexed);
	tcase_add_test(tc, test_forget_target_after);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(persist_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
