/*
 * Unit tests for balance.c: smooth WRR, leastconn, Maglev, tiers, and
 * above BALANCE_LINEAR_MAX the indexed scheduler (sched.c).
 *
 * Targets come from a real pool on a loop with a fake clock; static
 * targets have no timers, so nothing moves unless a test moves it.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core/loop.h"
#include "registry/balance.h"
#include "registry/pool.h"
#include "registry/sched.h"

#define NCLIENTS	100000

/*
 * Check records the location of every passing ck_assert with a write(2);
 * loops of 10^5 iterations check with this instead, which stays silent
 * until something fails.
 */
#define EXPECT(cond, ...) do {						\
	if (!(cond))							\
		ck_abort_msg(__VA_ARGS__);				\
} while (0)

struct fixture {
	int64_t		 now;
	struct loop	*loop;
	struct pool	*pool;
	struct balancer	*bal;
};

static int64_t
fake_clock(void *arg)
{
	return *(int64_t *)arg;
}

static void
fx_init(struct fixture *fx, enum balance_algo algo)
{
	fx->now = 1000000;
	ck_assert_ptr_nonnull(fx->loop = loop_new());
	loop_set_clock(fx->loop, fake_clock, &fx->now);
	ck_assert_ptr_nonnull(fx->pool = pool_new(fx->loop, 60000));
	ck_assert_ptr_nonnull(fx->bal = balance_new(fx->pool, algo));
}

static void
fx_done(struct fixture *fx)
{
	balance_free(fx->bal);
	pool_free(fx->pool);
	loop_free(fx->loop);
}

static void
fx_advance(struct fixture *fx, int64_t ms)
{
	fx->now += ms;
	loop_update_now(fx->loop);
	loop_run_timers(fx->loop);
}

static void
make_addr(struct sockaddr_storage *ss, socklen_t *len, const char *host,
    uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, host, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
	}
}

static struct target *
add_target(struct pool *p, const char *host, uint16_t port, uint32_t weight)
{
	struct sockaddr_storage ss;
	socklen_t len;
	struct target *t;
	bool created;

	make_addr(&ss, &len, host, port);
	t = pool_register(p, TARGET_SRC_STATIC, (struct sockaddr *)&ss, len,
	    weight, 0, &created);
	ck_assert_ptr_nonnull(t);
	ck_assert(created);
	return t;
}

/* Deterministic client addresses: xorshift64*, half IPv4, half IPv6. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

static const struct sockaddr *
client_addr(struct sockaddr_storage *ss, uint64_t *seed, bool v6)
{
	uint64_t a = rnd(seed), b = rnd(seed);

	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr.s6_addr[0], &a, 8);
		memcpy(&sin6->sin6_addr.s6_addr[8], &b, 8);
		sin6->sin6_addr.s6_addr[0] = 0x20;	/* not v4-mapped */
		sin6->sin6_port = htons((uint16_t)b);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, &a, 4);
		sin->sin_port = htons((uint16_t)b);
	}
	return (const struct sockaddr *)ss;
}

static size_t
index_of(struct target *const *ts, size_t n, const struct target *t)
{
	for (size_t i = 0; i < n; i++) {
		if (ts[i] == t)
			return i;
	}
	ck_abort_msg("picked a target outside the set: %s",
	    t != NULL ? t->name : "(null)");
	/* NOTREACHED */
	return 0;
}

/* --- algorithm names ------------------------------------------------- */

static const struct {
	const char		*name;
	int			 ok;
	enum balance_algo	 algo;
} algo_cases[] = {
	{ "leastconn",	0, BALANCE_LEASTCONN },
	{ "roundrobin",	0, BALANCE_ROUNDROBIN },
	{ "hash",	0, BALANCE_HASH },
	{ "Hash",	-1, BALANCE_HASH },
	{ "",		-1, BALANCE_HASH },
	{ "random",	-1, BALANCE_HASH },
};

START_TEST(test_algo_parse)
{
	enum balance_algo a = BALANCE_LEASTCONN;

	ck_assert_int_eq(balance_algo_parse(algo_cases[_i].name, &a),
	    algo_cases[_i].ok);
	if (algo_cases[_i].ok == 0) {
		ck_assert_int_eq(a, algo_cases[_i].algo);
		ck_assert_str_eq(balance_algo_name(a), algo_cases[_i].name);
	}
}
END_TEST

/* --- roundrobin ------------------------------------------------------ */

START_TEST(test_rr_weights)
{
	struct fixture fx;
	struct target *ts[3];
	size_t count[3] = { 0 }, run = 0, last = 3;

	fx_init(&fx, BALANCE_ROUNDROBIN);
	ts[0] = add_target(fx.pool, "10.0.0.1", 80, 500);
	ts[1] = add_target(fx.pool, "10.0.0.2", 80, 500);
	ts[2] = add_target(fx.pool, "10.0.0.3", 80, 1000);
	for (int i = 0; i < NCLIENTS; i++) {
		size_t k = index_of(ts, 3, balance_pick(fx.bal, NULL, NULL, 0,
		    fx.now));

		count[k]++;
		run = k == last ? run + 1 : 1;
		last = k;
		/* Evenly interleaved: the heavy one never 3 in a row, others never 2. */
		EXPECT(run <= (k == 2 ? 2u : 1u), "pick %d: %zu in a row", i, run);
	}
	ck_assert_uint_ge(count[0], 24500);
	ck_assert_uint_le(count[0], 25500);
	ck_assert_uint_ge(count[1], 24500);
	ck_assert_uint_le(count[1], 25500);
	ck_assert_uint_ge(count[2], 49500);
	ck_assert_uint_le(count[2], 50500);
	fx_done(&fx);
}
END_TEST

START_TEST(test_rr_equal)
{
	struct fixture fx;
	struct target *ts[5], *prev = NULL;
	size_t count[5] = { 0 };
	char host[32];

	fx_init(&fx, BALANCE_ROUNDROBIN);
	for (int i = 0; i < 5; i++) {
		snprintf(host, sizeof(host), "10.0.0.%d", i + 1);
		ts[i] = add_target(fx.pool, host, 8080, 77);
	}
	for (int i = 0; i < 1000; i++) {
		struct target *t = balance_pick(fx.bal, NULL, NULL, 0, fx.now);

		EXPECT(t != prev, "pick %d: the same target twice", i);
		count[index_of(ts, 5, t)]++;
		prev = t;
	}
	for (int i = 0; i < 5; i++)
		ck_assert_uint_eq(count[i], 200);
	fx_done(&fx);
}
END_TEST

/* The names of the picks so far: "a", "b" ... from each target's host. */
static char
pick_name(struct fixture *fx, struct target *const *ts, size_t n)
{
	struct target *t = balance_pick(fx->bal, NULL, NULL, 0, fx->now);

	return (char)('a' + index_of(ts, n, t));
}

/*
 * nginx's published order for weights {5, 1, 1}: a a b a c a a, and then
 * again. A target added and removed between two picks, never picked,
 * leaves no trace in it.
 */
START_TEST(test_rr_sequence)
{
	struct fixture fx;
	struct target *ts[3], *e;
	char seq[15];

	fx_init(&fx, BALANCE_ROUNDROBIN);
	ts[0] = add_target(fx.pool, "10.0.0.1", 80, 5);
	ts[1] = add_target(fx.pool, "10.0.0.2", 80, 1);
	ts[2] = add_target(fx.pool, "10.0.0.3", 80, 1);
	for (size_t i = 0; i < 14; i++) {
		seq[i] = pick_name(&fx, ts, 3);
		if (i == 2 || i == 9) {
			e = add_target(fx.pool, "10.0.0.9", 80, 1000);
			pool_remove(e);
		}
	}
	seq[14] = '\0';
	ck_assert_str_eq(seq, "aabacaa" "aabacaa");
	fx_done(&fx);
}
END_TEST

/*
 * A target that takes part, leaves and comes back with the same id (a
 * static one keeps its id) starts again from 0, as a new one does: its
 * old current weight went with it. Kept, it would give ...adabd.
 */
START_TEST(test_rr_target_comes_back)
{
	struct fixture fx;
	struct target *ts[4];
	uint32_t id;
	char seq[13];

	fx_init(&fx, BALANCE_ROUNDROBIN);
	ts[0] = add_target(fx.pool, "10.0.0.1", 80, 5);
	ts[1] = add_target(fx.pool, "10.0.0.2", 80, 1);
	ts[2] = add_target(fx.pool, "10.0.0.3", 80, 1);
	for (size_t i = 0; i < 3; i++)
		seq[i] = pick_name(&fx, ts, 3);
	ts[3] = add_target(fx.pool, "10.0.0.4", 80, 3);
	id = ts[3]->id;
	for (size_t i = 3; i < 5; i++)
		seq[i] = pick_name(&fx, ts, 4);
	pool_remove(ts[3]);
	ts[3] = add_target(fx.pool, "10.0.0.4", 80, 3);
	ck_assert_uint_eq(ts[3]->id, id);
	for (size_t i = 5; i < 12; i++)
		seq[i] = pick_name(&fx, ts, 4);
	seq[12] = '\0';
	ck_assert_str_eq(seq, "aabad" "acdaada");
	fx_done(&fx);
}
END_TEST

/*
 * Targets coming and going at random between picks, against a model of
 * smooth WRR written here: list order (a target that comes back is last),
 * current weights, a returning target at 0. Enough ids to make the table
 * grow and its runs collide.
 */
#define CHURN_N	300

START_TEST(test_rr_churn)
{
	struct fixture fx;
	struct target *ts[CHURN_N];
	uint32_t weight[CHURN_N];
	int64_t cur[CHURN_N] = { 0 };
	size_t order[CHURN_N], n = CHURN_N;
	uint64_t seed = 42;
	char host[32];

	fx_init(&fx, BALANCE_ROUNDROBIN);
	for (size_t i = 0; i < CHURN_N; i++) {
		snprintf(host, sizeof(host), "10.0.%zu.%zu", i / 200, i % 200 + 1);
		weight[i] = (uint32_t)(rnd(&seed) % 9 + 1);
		ts[i] = add_target(fx.pool, host, 80, weight[i]);
		order[i] = i;
	}
	for (int step = 0; step < 20000; step++) {
		if (rnd(&seed) % 4 == 0) {
			/* One leaves, and comes back at the end of the list. */
			size_t k = (size_t)(rnd(&seed) % n), i = order[k];

			pool_remove(ts[i]);
			memmove(&order[k], &order[k + 1], (n - k - 1) * sizeof(order[0]));
			snprintf(host, sizeof(host), "10.0.%zu.%zu", i / 200, i % 200 + 1);
			ts[i] = add_target(fx.pool, host, 80, weight[i]);
			order[n - 1] = i;
			cur[i] = 0;
		} else {
			size_t best = CHURN_N;
			int64_t total = 0;

			for (size_t k = 0; k < n; k++) {
				size_t i = order[k];

				cur[i] += weight[i];
				total += weight[i];
				if (best == CHURN_N || cur[i] > cur[best])
					best = i;
			}
			cur[best] -= total;
			EXPECT(balance_pick(fx.bal, NULL, NULL, 0, fx.now) == ts[best],
			    "step %d: not target %zu", step, best);
		}
	}
	fx_done(&fx);
}
END_TEST

/* Either may go first: the pool tells the balancer it is gone. */
START_TEST(test_free_order)
{
	struct fixture fx;

	fx_init(&fx, BALANCE_ROUNDROBIN);
	add_target(fx.pool, "10.0.0.1", 80, 5);
	ck_assert_ptr_nonnull(balance_pick(fx.bal, NULL, NULL, 0, fx.now));
	pool_free(fx.pool);
	balance_free(fx.bal);
	loop_free(fx.loop);
}
END_TEST

/* --- leastconn ------------------------------------------------------- */

START_TEST(test_leastconn_active)
{
	struct fixture fx;
	struct target *a, *b, *c;

	fx_init(&fx, BALANCE_LEASTCONN);
	a = add_target(fx.pool, "10.0.0.1", 80, 500);
	b = add_target(fx.pool, "10.0.0.2", 80, 500);
	c = add_target(fx.pool, "10.0.0.3", 80, 500);
	a->active = 5;
	b->active = 2;
	c->active = 7;
	for (int i = 0; i < 10; i++)
		ck_assert_ptr_eq(balance_pick(fx.bal, NULL, NULL, 0, fx.now), b);
	/* Load is (active + 1) / weight: 4/1000 beats 3/500. */
	pool_set_weight(a, 1000);
	a->active = 3;
	ck_assert_ptr_eq(balance_pick(fx.bal, NULL, NULL, 0, fx.now), a);
	/* 6/1000 against 3/500: tied, so both get turns, by weight. */
	a->active = 5;
	{
		int na = 0, nb = 0;

		for (int i = 0; i < 30; i++) {
			struct target *t = balance_pick(fx.bal, NULL, NULL, 0,
			    fx.now);

			ck_assert(t == a || t == b);
			t == a ? na++ : nb++;
		}
		ck_assert_int_eq(na, 20);
		ck_assert_int_eq(nb, 10);
	}
	/* Huge counts must not overflow the comparison. */
	a->active = UINT64_MAX / 2;
	b->active = UINT64_MAX / 4 + 1;
	c->active = UINT64_MAX / 4 + 2;
	ck_assert_ptr_eq(balance_pick(fx.bal, NULL, NULL, 0, fx.now), a);
	a->active = b->active = c->active = 0;
	fx_done(&fx);
}
END_TEST

START_TEST(test_leastconn_idle_spread)
{
	struct fixture fx;
	struct target *ts[3];
	size_t count[3] = { 0 };

	fx_init(&fx, BALANCE_LEASTCONN);
	ts[0] = add_target(fx.pool, "10.0.0.1", 80, 500);
	ts[1] = add_target(fx.pool, "10.0.0.2", 80, 500);
	ts[2] = add_target(fx.pool, "10.0.0.3", 80, 1000);
	/* Short sessions: the farm is idle at every pick. */
	for (int i = 0; i < 4000; i++) {
		struct target *t = balance_pick(fx.bal, NULL, NULL, 0, fx.now);

		count[index_of(ts, 3, t)]++;
		pool_session_begin(t);
		pool_session_end(t, 1, 1);
	}
	ck_assert_uint_eq(count[0], 1000);
	ck_assert_uint_eq(count[1], 1000);
	ck_assert_uint_eq(count[2], 2000);

	/* Long sessions: active counts follow the weights. */
	for (int i = 0; i < 400; i++)
		pool_session_begin(balance_pick(fx.bal, NULL, NULL, 0, fx.now));
	ck_assert_uint_eq(ts[0]->active, 100);
	ck_assert_uint_eq(ts[1]->active, 100);
	ck_assert_uint_eq(ts[2]->active, 200);
	for (int i = 0; i < 3; i++) {
		while (ts[i]->active > 0)
			pool_session_end(ts[i], 0, 0);
	}
	fx_done(&fx);
}
END_TEST

/* --- every algorithm: exclusion and tiers ---------------------------- */

static const enum balance_algo all_algos[] = {
	BALANCE_LEASTCONN, BALANCE_ROUNDROBIN, BALANCE_HASH,
};

START_TEST(test_exclude)
{
	struct fixture fx;
	struct target *ts[3];
	struct sockaddr_storage ss;
	uint64_t seed = 42;

	fx_init(&fx, all_algos[_i]);
	ts[0] = add_target(fx.pool, "10.0.0.1", 80, 500);
	ts[1] = add_target(fx.pool, "10.0.0.2", 80, 500);
	ts[2] = add_target(fx.pool, "10.0.0.3", 80, 500);
	for (int i = 0; i < 300; i++) {
		const struct sockaddr *c = client_addr(&ss, &seed, i % 2);
		uint32_t ex[2] = { ts[i % 3]->id, ts[(i + 1) % 3]->id };
		struct target *t;

		t = balance_pick(fx.bal, c, ex, 1, fx.now);
		ck_assert(t != NULL && t != ts[i % 3]);
		t = balance_pick(fx.bal, c, ex, 2, fx.now);
		ck_assert_ptr_eq(t, ts[(i + 2) % 3]);
	}
	ck_assert_ptr_null(balance_pick(fx.bal, (struct sockaddr *)&ss,
	    (uint32_t[]){ ts[0]->id, ts[1]->id, ts[2]->id }, 3, fx.now));
	fx_done(&fx);
}
END_TEST

START_TEST(test_failing_tiers)
{
	struct fixture fx;
	struct target *a, *b, *c, *t;
	struct sockaddr_storage ss;
	uint64_t seed = 7;
	bool seen_a = false;

	fx_init(&fx, all_algos[_i]);
	a = add_target(fx.pool, "10.0.0.1", 80, 500);
	b = add_target(fx.pool, "10.0.0.2", 80, 500);
	c = add_target(fx.pool, "10.0.0.3", 80, 500);
	pool_connect_failed(a);		/* backoff 1 s */
	ck_assert(target_fallback(a, fx.now));
	for (int i = 0; i < 200; i++) {
		t = balance_pick(fx.bal, client_addr(&ss, &seed, i % 2), NULL, 0,
		    fx.now);
		ck_assert(t == b || t == c);
	}
	/* Only when nothing else is left does the failing one get a try. */
	{
		uint32_t ex[2] = { b->id, c->id };

		ck_assert_ptr_eq(balance_pick(fx.bal,
		    client_addr(&ss, &seed, false), ex, 2, fx.now), a);
		ck_assert_ptr_null(balance_pick(fx.bal,
		    client_addr(&ss, &seed, false), (uint32_t[]){ a->id, b->id, c->id },
		    3, fx.now));
	}
	pool_drain(b);
	pool_drain(c);
	ck_assert_ptr_eq(balance_pick(fx.bal, client_addr(&ss, &seed, true),
	    NULL, 0, fx.now), a);
	pool_undrain(b);
	pool_undrain(c);

	/* Backoff over: a is choosable again and gets its share. */
	fx_advance(&fx, 1000);
	ck_assert(target_choosable(a, fx.now));
	for (int i = 0; i < 300 && !seen_a; i++) {
		t = balance_pick(fx.bal, client_addr(&ss, &seed, i % 2), NULL, 0,
		    fx.now);
		seen_a = t == a;
	}
	ck_assert(seen_a);
	fx_done(&fx);
}
END_TEST

START_TEST(test_empty)
{
	struct fixture fx;
	struct sockaddr_storage ss;
	uint64_t seed = 1;
	struct target *t;
	bool created;
	socklen_t len;

	fx_init(&fx, all_algos[_i]);
	ck_assert_ptr_null(balance_pick(fx.bal, client_addr(&ss, &seed, false),
	    NULL, 0, fx.now));
	/* A port-less target is never chosen. */
	make_addr(&ss, &len, "10.0.0.1", 0);
	t = pool_register(fx.pool, TARGET_SRC_ACK, (struct sockaddr *)&ss, len,
	    500, 0, &created);
	ck_assert_ptr_nonnull(t);
	ck_assert_ptr_null(balance_pick(fx.bal, client_addr(&ss, &seed, false),
	    NULL, 0, fx.now));
	ck_assert_int_eq(pool_set_port(t, 80), 0);
	ck_assert_ptr_eq(balance_pick(fx.bal, client_addr(&ss, &seed, false),
	    NULL, 0, fx.now), t);
	pool_remove(t);
	ck_assert_ptr_null(balance_pick(fx.bal, client_addr(&ss, &seed, true),
	    NULL, 0, fx.now));
	fx_done(&fx);
}
END_TEST

/* --- hash (Maglev) --------------------------------------------------- */

struct share_case {
	size_t		 n;
	uint32_t	 weights[10];
};

static const struct share_case share_cases[] = {
	{ 10, { 500, 500, 500, 500, 500, 500, 500, 500, 500, 500 } },
	{ 4, { 100, 200, 300, 400 } },
	{ 4, { 1000, 2000, 3000, 4000 } },
	{ 3, { 1, 1, 1 } },
	{ 5, { 7, 1000, 250, 250, 500 } },
	{ 2, { 1000000, 500000 } },
};

START_TEST(test_hash_shares)
{
	const struct share_case *sc = &share_cases[_i];
	struct fixture fx;
	struct target *ts[10];
	size_t count[10] = { 0 };
	struct sockaddr_storage ss;
	uint64_t seed = 12345, total = 0;
	char host[64];

	fx_init(&fx, BALANCE_HASH);
	for (size_t i = 0; i < sc->n; i++) {
		snprintf(host, sizeof(host), "192.0.2.%zu", 10 + i);
		ts[i] = add_target(fx.pool, host, 443, sc->weights[i]);
		total += sc->weights[i];
	}
	for (int i = 0; i < NCLIENTS; i++) {
		struct target *t = balance_pick(fx.bal,
		    client_addr(&ss, &seed, i % 2), NULL, 0, fx.now);

		count[index_of(ts, sc->n, t)]++;
	}
	for (size_t i = 0; i < sc->n; i++) {
		double want = (double)sc->weights[i] / (double)total;
		double got = (double)count[i] / NCLIENTS;

		ck_assert_msg(got >= want * 0.95 && got <= want * 1.05,
		    "target %zu: share %.4f, weight share %.4f", i, got, want);
	}
	fx_done(&fx);
}
END_TEST

static void
map_clients(struct balancer *b, const char **names, int64_t now)
{
	struct sockaddr_storage ss;
	uint64_t seed = 999;

	for (int i = 0; i < NCLIENTS; i++) {
		struct target *t = balance_pick(b, client_addr(&ss, &seed, i % 2),
		    NULL, 0, now);

		EXPECT(t != NULL, "client %d: no target", i);
		names[i] = t->name;	/* stable: every target stays listed */
	}
}

START_TEST(test_hash_disruption)
{
	struct fixture fx;
	struct target *ts[10];
	const char **before, **after;
	char host[64], gone[TARGET_NAME_MAX];
	size_t moved = 0;

	fx_init(&fx, BALANCE_HASH);
	for (int i = 0; i < 10; i++) {
		snprintf(host, sizeof(host), "2001:db8::%d", i + 1);
		ts[i] = add_target(fx.pool, host, 80, 500);
	}
	before = calloc(NCLIENTS, sizeof(*before));
	after = calloc(NCLIENTS, sizeof(*after));
	ck_assert(before != NULL && after != NULL);
	map_clients(fx.bal, before, fx.now);
	/* Names of the nine that stay are compared as pointers to their text. */
	snprintf(gone, sizeof(gone), "%s", ts[3]->name);
	for (int i = 0; i < NCLIENTS; i++) {
		if (before[i] == ts[3]->name)
			before[i] = NULL;
	}
	pool_remove(ts[3]);
	map_clients(fx.bal, after, fx.now);
	for (int i = 0; i < NCLIENTS; i++) {
		EXPECT(strcmp(after[i], gone) != 0, "client %d: removed target", i);
		if (before[i] != after[i])
			moved++;
	}
	ck_assert_msg(moved <= NCLIENTS * 12 / 100, "%zu of %d clients moved",
	    moved, NCLIENTS);
	free(before);
	free(after);
	fx_done(&fx);
}
END_TEST

/*
 * Two pools with the same targets, registered in different orders and with
 * different ids, must send every client to the same host:port.
 */
START_TEST(test_hash_order_independent)
{
	static const struct {
		const char	*host;
		uint16_t	 port;
		uint32_t	 weight;
	} set[] = {
		{ "10.1.0.1", 80, 500 },
		{ "10.1.0.1", 81, 500 },
		{ "10.1.0.2", 80, 1000 },
		{ "2001:db8::5", 80, 700 },
		{ "10.1.0.9", 8080, 250 },
		{ "2001:db8::1", 9000, 500 },
		{ "::ffff:10.1.0.3", 80, 300 },
	};
	const size_t n = sizeof(set) / sizeof(set[0]);
	struct fixture f1, f2;
	const char **m1, **m2;
	struct target *dummy;

	fx_init(&f1, BALANCE_HASH);
	fx_init(&f2, BALANCE_HASH);
	for (size_t i = 0; i < n; i++)
		add_target(f1.pool, set[i].host, set[i].port, set[i].weight);
	/* Different ids in the second pool, and a reversed order. */
	dummy = add_target(f2.pool, "10.9.9.9", 1, 500);
	pool_remove(dummy);
	for (size_t i = n; i-- > 0;) {
		struct target *t = add_target(f2.pool, set[i].host, set[i].port,
		    i == 2 ? 1 : set[i].weight);

		if (i == 2) {	/* same final weight, reached another way */
			ck_assert_ptr_ne(balance_pick(f2.bal, NULL, NULL, 0,
			    f2.now), NULL);
			pool_set_weight(t, set[i].weight);
		}
	}
	m1 = calloc(NCLIENTS, sizeof(*m1));
	m2 = calloc(NCLIENTS, sizeof(*m2));
	ck_assert(m1 != NULL && m2 != NULL);
	map_clients(f1.bal, m1, f1.now);
	map_clients(f2.bal, m2, f2.now);
	for (int i = 0; i < NCLIENTS; i++) {
		if (strcmp(m1[i], m2[i]) != 0)
			ck_abort_msg("client %d: %s against %s", i, m1[i], m2[i]);
	}
	free(m1);
	free(m2);
	fx_done(&f1);
	fx_done(&f2);
}
END_TEST

START_TEST(test_hash_client_forms)
{
	struct fixture fx;
	struct sockaddr_storage s4, s6;
	struct sockaddr_in *sin = (struct sockaddr_in *)&s4;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&s6;
	socklen_t len;
	char host[32];

	fx_init(&fx, BALANCE_HASH);
	for (int i = 0; i < 8; i++) {
		snprintf(host, sizeof(host), "10.0.0.%d", i + 1);
		add_target(fx.pool, host, 80, 500);
	}
	for (int i = 0; i < 256; i++) {
		struct target *t;

		snprintf(host, sizeof(host), "198.51.100.%d", i);
		make_addr(&s4, &len, host, (uint16_t)(1000 + i));
		make_addr(&s6, &len, "::ffff:0.0.0.0", 7);
		memcpy(&sin6->sin6_addr.s6_addr[12], &sin->sin_addr, 4);
		t = balance_pick(fx.bal, (struct sockaddr *)&s4, NULL, 0, fx.now);
		/* Same client whatever its port or its spelling. */
		ck_assert_ptr_eq(balance_pick(fx.bal, (struct sockaddr *)&s6,
		    NULL, 0, fx.now), t);
		sin->sin_port = htons(1);
		ck_assert_ptr_eq(balance_pick(fx.bal, (struct sockaddr *)&s4,
		    NULL, 0, fx.now), t);
	}
	fx_done(&fx);
}
END_TEST

/*
 * A weight so small next to the others that it gets no slot in the table
 * still serves once the others are excluded.
 */
START_TEST(test_hash_tiny_weight)
{
	struct fixture fx;
	struct target *big, *tiny;
	struct sockaddr_storage ss;
	uint64_t seed = 3;

	fx_init(&fx, BALANCE_HASH);
	big = add_target(fx.pool, "10.0.0.1", 80, LIMIT_WEIGHT_MAX);
	tiny = add_target(fx.pool, "10.0.0.2", 80, LIMIT_WEIGHT_MIN);
	for (int i = 0; i < 100; i++) {
		const struct sockaddr *c = client_addr(&ss, &seed, i % 2);

		ck_assert_ptr_eq(balance_pick(fx.bal, c, &big->id, 1, fx.now), tiny);
	}
	fx_done(&fx);
}
END_TEST

/* Switching algorithms and back rebuilds the same table. */
START_TEST(test_hash_switch)
{
	struct fixture fx;
	struct sockaddr_storage ss;
	struct target *first[64];
	uint64_t seed;
	char host[32];

	fx_init(&fx, BALANCE_HASH);
	for (int i = 0; i < 6; i++) {
		snprintf(host, sizeof(host), "10.0.0.%d", i + 1);
		add_target(fx.pool, host, 80, 100 * (uint32_t)(i + 1));
	}
	seed = 5;
	for (int i = 0; i < 64; i++)
		first[i] = balance_pick(fx.bal, client_addr(&ss, &seed, i % 2),
		    NULL, 0, fx.now);
	balance_set_algo(fx.bal, BALANCE_ROUNDROBIN);
	ck_assert_int_eq(balance_algo(fx.bal), BALANCE_ROUNDROBIN);
	ck_assert_ptr_nonnull(balance_pick(fx.bal, NULL, NULL, 0, fx.now));
	balance_set_algo(fx.bal, BALANCE_HASH);
	seed = 5;
	for (int i = 0; i < 64; i++)
		ck_assert_ptr_eq(balance_pick(fx.bal,
		    client_addr(&ss, &seed, i % 2), NULL, 0, fx.now), first[i]);
	fx_done(&fx);
}
END_TEST

/* --- large pools: the indexed scheduler ------------------------------ */

#define LARGE_N		1000

static void
host_of(char *buf, size_t len, size_t i)
{
	snprintf(buf, len, "10.%zu.%zu.%zu", i / 62500 + 1, i / 250 % 250,
	    i % 250 + 1);
}

/*
 * A target registered over HTTP with a TTL no test outlives (static ones
 * cost a walk each to register: pool.c's static ids).
 */
static struct target *
add_live(struct pool *p, size_t i, uint32_t weight)
{
	struct sockaddr_storage ss;
	char host[32];
	socklen_t len;
	struct target *t;
	bool created;

	host_of(host, sizeof(host), i);
	make_addr(&ss, &len, host, 80);
	t = pool_register(p, TARGET_SRC_HTTP, (struct sockaddr *)&ss, len,
	    weight, INT64_C(1000000000), &created);
	ck_assert(t != NULL && created);
	return t;
}

/*
 * n targets, weights 1..maxw from seed (all maxw if seed is 0). Their
 * events would be thousands of log lines: warnings only.
 */
static void
add_many(struct fixture *fx, struct target **ts, size_t n, uint32_t maxw,
    uint64_t seed)
{
	log_set_level(LOG_LEVEL_ERROR);
	for (size_t i = 0; i < n; i++)
		ts[i] = add_live(fx->pool, i,
		    seed != 0 ? (uint32_t)(rnd(&seed) % maxw + 1) : maxw);
}

/* What the brute force says a leastconn pick may be: see check_large_pick. */
static bool
is_excluded(const struct target *t, const uint32_t *ex, size_t nex)
{
	for (size_t i = 0; i < nex; i++) {
		if (ex[i] == t->id)
			return true;
	}
	return false;
}

/*
 * Checks a leastconn pick against a walk of the pool: a candidate
 * (choosable, not excluded), least loaded if any candidate has a session;
 * else, with no candidate, a failing one in backoff; else NULL.
 */
static void
check_large_pick(struct fixture *fx, const struct target *got,
    const uint32_t *ex, size_t nex, int step)
{
	const struct target *least = NULL, *t;
	uint32_t least_w = 0;
	bool busy = false, fallback = false;

	TAILQ_FOREACH(t, pool_targets(fx->pool), entry) {
		uint32_t w;

		if (is_excluded(t, ex, nex))
			continue;
		fallback |= target_fallback(t, fx->now);
		if (!target_choosable(t, fx->now))
			continue;
		busy |= t->active > 0;
		w = target_weight_now(t, fx->now);
		if (least == NULL || sched_load_cmp(t->active + 1, w,
		    least->active + 1, least_w) < 0) {
			least = t;
			least_w = w;
		}
	}
	if (least == NULL) {
		EXPECT(fallback ? got != NULL && target_fallback(got, fx->now) &&
		    !is_excluded(got, ex, nex) : got == NULL,
		    "step %d: %s with no candidate", step, got ? got->name : "NULL");
		return;
	}
	EXPECT(got != NULL && got->listed && target_choosable(got, fx->now) &&
	    !is_excluded(got, ex, nex), "step %d: not a candidate", step);
	EXPECT(!busy || sched_load_cmp(got->active + 1,
	    target_weight_now(got, fx->now), least->active + 1, least_w) == 0,
	    "step %d: %s (%llu) is not least loaded: %s (%llu)", step, got->name,
	    (unsigned long long)got->active, least->name,
	    (unsigned long long)least->active);
}

/* Above the bound, shares still follow the weights, to a turn or two. */
START_TEST(test_large_shares)
{
	static const enum balance_algo algos[] = {
		BALANCE_ROUNDROBIN, BALANCE_LEASTCONN,
	};
	struct fixture fx;
	struct target **ts = calloc(LARGE_N, sizeof(*ts));
	size_t *count = calloc(LARGE_N, sizeof(*count));
	uint64_t total = 0, rounds = 30;

	ck_assert(ts != NULL && count != NULL);
	fx_init(&fx, algos[_i]);
	add_many(&fx, ts, LARGE_N, 10, 99);
	for (size_t i = 0; i < LARGE_N; i++)
		total += ts[i]->weight;
	/* Short sessions: an idle farm at every pick, for leastconn too. */
	for (uint64_t k = 0; k < rounds * total; k++) {
		struct target *t = balance_pick(fx.bal, NULL, NULL, 0, fx.now);

		EXPECT(t != NULL, "pick %llu: NULL", (unsigned long long)k);
		count[t->id - ts[0]->id]++;
		pool_session_begin(t);
		pool_session_end(t, 0, 0);
	}
	for (size_t i = 0; i < LARGE_N; i++) {
		int64_t want = (int64_t)(rounds * ts[i]->weight);

		EXPECT(llabs((int64_t)count[i] - want) <= 2,
		    "%s weight %u: %zu picks, want %lld", ts[i]->name,
		    ts[i]->weight, count[i], (long long)want);
	}
	fx_done(&fx);
	free(ts);
	free(count);
}
END_TEST

/*
 * leastconn above the bound against a walk, over a seeded run of session
 * begins and ends, picks with exclusions, drains, connect failures and
 * their backoffs, weight changes, removals (some with sessions still on:
 * ASan sees any use of a freed target) and new targets.
 */
#define RUN_STEPS	30000
#define RUN_SESSIONS	4000

START_TEST(test_large_leastconn_run)
{
	struct fixture fx;
	struct target **ts = calloc(LARGE_N, sizeof(*ts));
	struct target **sess = calloc(RUN_SESSIONS, sizeof(*sess));
	size_t nsess = 0, n = 400, next_host = 400;
	uint64_t seed = 20261201;

	ck_assert(ts != NULL && sess != NULL);
	fx_init(&fx, BALANCE_LEASTCONN);
	add_many(&fx, ts, n, 20, 5);
	for (int step = 0; step < RUN_STEPS; step++) {
		unsigned op = (unsigned)(rnd(&seed) % 100);
		struct target *t = ts[rnd(&seed) % n];

		if (op < 45 && nsess < RUN_SESSIONS) {
			uint32_t ex[3];
			size_t nex = (size_t)(rnd(&seed) % 4);
			struct target *got;

			for (size_t i = 0; i < nex; i++)
				ex[i] = ts[rnd(&seed) % n]->id;
			got = balance_pick(fx.bal, NULL, ex, nex, fx.now);
			check_large_pick(&fx, got, ex, nex, step);
			if (got != NULL) {
				pool_session_begin(got);
				sess[nsess++] = got;
			}
		} else if (op < 80 && nsess > 0) {
			size_t k = (size_t)(rnd(&seed) % nsess);

			pool_session_end(sess[k], 0, 0);	/* may free it */
			sess[k] = sess[--nsess];
		} else if (op < 84) {
			t->state == TARGET_DRAINING ? pool_undrain(t) : pool_drain(t);
		} else if (op < 88) {
			pool_connect_failed(t);
		} else if (op < 90) {
			pool_connect_ok(t);
		} else if (op < 94) {
			fx_advance(&fx, (int64_t)(rnd(&seed) % 700));
		} else if (op < 97) {
			pool_set_weight(t, (uint32_t)(rnd(&seed) % 20 + 1));
		} else if (n > BALANCE_LINEAR_MAX + 10) {
			/* Gone, then a new target takes its place in ts. */
			size_t k = (size_t)(rnd(&seed) % n);

			pool_remove(ts[k]);
			ts[k] = add_live(fx.pool, next_host++,
			    (uint32_t)(rnd(&seed) % 20 + 1));
		}
	}
	while (nsess > 0)
		pool_session_end(sess[--nsess], 0, 0);
	fx_done(&fx);
	free(ts);
	free(sess);
}
END_TEST

/* A busy farm's equal loads take turns: short sessions beside a long one. */
START_TEST(test_large_leastconn_ties)
{
	struct fixture fx;
	struct target *ts[400];
	size_t count[400] = { 0 };

	fx_init(&fx, BALANCE_LEASTCONN);
	add_many(&fx, ts, 400, 7, 0);
	pool_session_begin(ts[0]);
	for (int i = 0; i < 399 * 10; i++) {
		struct target *t = balance_pick(fx.bal, NULL, NULL, 0, fx.now);

		count[index_of(ts, 400, t)]++;
		pool_session_begin(t);
		pool_session_end(t, 0, 0);
	}
	ck_assert_uint_eq(count[0], 0);
	for (size_t i = 1; i < 400; i++)
		EXPECT(count[i] == 10, "%s: %zu picks", ts[i]->name, count[i]);
	pool_session_end(ts[0], 0, 0);
	fx_done(&fx);
}
END_TEST

/*
 * A busy leastconn farm with a target in slow start: at every second of
 * its ramp the pick is exactly a least loaded target with the weights of
 * now, though the ramping one is not at the top to be re-read.
 */
START_TEST(test_large_leastconn_ramp)
{
	struct fixture fx;
	struct target *ts[400], *t;
	int got = 0;

	fx_init(&fx, BALANCE_LEASTCONN);
	add_many(&fx, ts, 400, 10, 0);
	for (size_t i = 0; i < 400; i++)
		pool_session_begin(ts[i]);
	pool_set_slow_start(fx.pool, 64000);
	t = add_live(fx.pool, 400, 10);
	for (int sec = 0; sec <= 64; sec++) {
		for (int i = 0; i < 3; i++) {
			struct target *p = balance_pick(fx.bal, NULL, NULL, 0, fx.now);

			check_large_pick(&fx, p, NULL, 0, sec);
			got += p == t;
			/* Opened and closed: the loads stay as they are. */
			pool_session_begin(p);
			pool_session_end(p, 0, 0);
		}
		fx_advance(&fx, 1000);
	}
	ck_assert_int_gt(got, 0);	/* its ramp reached the others' load */
	for (size_t i = 0; i < 400; i++)
		pool_session_end(ts[i], 0, 0);
	fx_done(&fx);
}
END_TEST

/*
 * What the index trusts pool_set_version() for: heartbeats and sessions
 * leave it, weights move it, and so does turning off a failing check that
 * held nothing down (its target was port-less when it failed).
 */
START_TEST(test_large_set_version)
{
	struct fixture fx;
	struct target *ts[400], *t;
	struct sockaddr_storage ss;
	socklen_t len;
	uint64_t v;
	bool created;

	fx_init(&fx, BALANCE_ROUNDROBIN);
	add_many(&fx, ts, 400, 10, 0);
	ck_assert_ptr_nonnull(balance_pick(fx.bal, NULL, NULL, 0, fx.now));
	v = pool_set_version(fx.pool);
	pool_ack(ts[1]);
	pool_session_begin(ts[2]);
	pool_session_end(ts[2], 1, 1);
	ck_assert_uint_eq(pool_set_version(fx.pool), v);
	pool_set_weight(ts[3], 4);
	ck_assert_uint_ne(pool_set_version(fx.pool), v);

	make_addr(&ss, &len, "10.200.0.9", 0);
	t = pool_register(fx.pool, TARGET_SRC_ACK, (struct sockaddr *)&ss, len,
	    10, INT64_C(1000000000), &created);
	ck_assert(t != NULL && created);
	pool_check_enable(t, 1, 1);
	pool_check_result(t, false, 1, "refused");
	ck_assert_int_eq(pool_set_port(t, 80), 0);
	for (size_t i = 0; i < 400; i++)
		pool_drain(ts[i]);
	ck_assert(!target_choosable(t, fx.now));
	ck_assert_ptr_null(balance_pick(fx.bal, NULL, NULL, 0, fx.now));
	v = pool_set_version(fx.pool);
	pool_check_disable(t);
	ck_assert_uint_ne(pool_set_version(fx.pool), v);
	ck_assert(target_choosable(t, fx.now));
	ck_assert_ptr_eq(balance_pick(fx.bal, NULL, NULL, 0, fx.now), t);
	fx_done(&fx);
}
END_TEST

/* Exclusions, failing targets and their backoff, the fallback tier. */
START_TEST(test_large_tiers)
{
	static const enum balance_algo algos[] = {
		BALANCE_ROUNDROBIN, BALANCE_LEASTCONN,
	};
	struct fixture fx;
	struct target *ts[400], *a, *t;
	uint32_t ex[3];
	bool seen = false;

	fx_init(&fx, algos[_i]);
	add_many(&fx, ts, 400, 5, 0);
	a = ts[17];
	ex[0] = ts[3]->id;
	ex[1] = ts[250]->id;
	ex[2] = ts[399]->id;
	for (int i = 0; i < 2000; i++) {
		t = balance_pick(fx.bal, NULL, ex, 3, fx.now);
		ck_assert(t != NULL && t != ts[3] && t != ts[250] && t != ts[399]);
	}
	pool_connect_failed(a);		/* backoff 1 s */
	for (int i = 0; i < 2000; i++)
		ck_assert_ptr_ne(balance_pick(fx.bal, NULL, NULL, 0, fx.now), a);
	/* Its backoff over, a comes back with no rebuild: within a round. */
	fx_advance(&fx, 1000);
	for (int i = 0; i < 400 && !seen; i++)
		seen = balance_pick(fx.bal, NULL, NULL, 0, fx.now) == a;
	ck_assert(seen);
	/* Failing again, in backoff: only when nothing else is left. */
	pool_connect_failed(a);
	for (size_t i = 0; i < 400; i++) {
		if (ts[i] != a)
			pool_drain(ts[i]);
	}
	ck_assert_ptr_eq(balance_pick(fx.bal, NULL, NULL, 0, fx.now), a);
	ck_assert_ptr_null(balance_pick(fx.bal, NULL, &a->id, 1, fx.now));
	pool_undrain(ts[5]);
	ck_assert_ptr_eq(balance_pick(fx.bal, NULL, NULL, 0, fx.now), ts[5]);
	fx_done(&fx);
}
END_TEST

/*
 * Across BALANCE_LINEAR_MAX both ways, with sessions on: every pick a
 * listed choosable target, leastconn's the least loaded; back under the
 * bound, the walk's exact smooth WRR from zero again.
 */
START_TEST(test_large_crossing)
{
	static const enum balance_algo algos[] = {
		BALANCE_ROUNDROBIN, BALANCE_LEASTCONN,
	};
	struct fixture fx;
	struct target *ts[BALANCE_LINEAR_MAX + 20];
	size_t n = BALANCE_LINEAR_MAX - 10;
	uint64_t seed = 3;

	fx_init(&fx, algos[_i]);
	add_many(&fx, ts, BALANCE_LINEAR_MAX + 20, 7, 11);
	for (size_t i = n; i < BALANCE_LINEAR_MAX + 20; i++)
		pool_remove(ts[i]);
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 500; i++) {
			struct target *t = balance_pick(fx.bal, NULL, NULL, 0, fx.now);

			if (algos[_i] == BALANCE_LEASTCONN)
				check_large_pick(&fx, t, NULL, 0, i);
			ck_assert(t != NULL && t->listed);
			if (rnd(&seed) % 2)
				pool_session_begin(t);
		}
		/* Up over the bound, or down under it. */
		for (size_t i = 0; i < 20; i++) {
			if (round % 2 == 0) {
				ts[n] = add_live(fx.pool, 1000 + (size_t)round * 20 + i, 3);
				n++;
			} else {
				struct target *t = ts[--n];

				while (t->active > 0)
					pool_session_end(t, 0, 0);
				pool_remove(t);
			}
		}
	}
	ck_assert_uint_le(pool_count(fx.pool), BALANCE_LINEAR_MAX);
	for (size_t i = 0; i < n; i++) {
		while (ts[i]->active > 0)
			pool_session_end(ts[i], 0, 0);
	}
	if (algos[_i] == BALANCE_ROUNDROBIN) {
		int64_t *cur = calloc(n, sizeof(*cur));

		ck_assert_ptr_nonnull(cur);
		for (int step = 0; step < 2000; step++) {
			size_t best = n;
			int64_t total = 0;

			for (size_t i = 0; i < n; i++) {
				cur[i] += ts[i]->weight;
				total += ts[i]->weight;
				if (best == n || cur[i] > cur[best])
					best = i;
			}
			cur[best] -= total;
			EXPECT(balance_pick(fx.bal, NULL, NULL, 0, fx.now) == ts[best],
			    "step %d: not target %zu", step, best);
		}
		free(cur);
	}
	fx_done(&fx);
}
END_TEST

/* A slow start ramps a new target's share up, with no rebuild. */
START_TEST(test_large_ramp)
{
	struct fixture fx;
	struct target *ts[400], *t;
	struct sockaddr_storage ss;
	socklen_t len;
	bool created;
	int early = 0, late = 0;

	fx_init(&fx, BALANCE_ROUNDROBIN);
	add_many(&fx, ts, 400, 10, 0);
	pool_set_slow_start(fx.pool, 64000);
	make_addr(&ss, &len, "10.200.0.1", 80);
	t = pool_register(fx.pool, TARGET_SRC_HTTP, (struct sockaddr *)&ss, len,
	    10, 1000000000, &created);
	ck_assert(t != NULL && created);
	for (int i = 0; i < 4010; i++)
		early += balance_pick(fx.bal, NULL, NULL, 0, fx.now) == t;
	fx_advance(&fx, 64000);
	for (int i = 0; i < 4010; i++)
		late += balance_pick(fx.bal, NULL, NULL, 0, fx.now) == t;
	/* A tenth of its weight, then all of it: 1 then 10 picks in 4010. */
	ck_assert_int_le(early, 2);
	ck_assert_int_ge(late, 9);
	ck_assert_int_le(late, 11);
	fx_done(&fx);
}
END_TEST

/* The cost of a pick at 10 000 targets: a few heap levels, not a walk. */
START_TEST(test_large_cost)
{
	struct fixture fx;
	struct target **ts = calloc(10000, sizeof(*ts));
	struct sockaddr_storage ss;
	uint64_t seed = 5, before;

	ck_assert_ptr_nonnull(ts);
	fx_init(&fx, all_algos[_i]);
	add_many(&fx, ts, 10000, 50, 17);
	for (int i = 0; i < 10; i++)
		pool_session_begin(ts[i * 1000]);
	/*
	 * Most of them failing, in backoff: the first nine tenths by address,
	 * where hash would look for a candidate first.
	 */
	for (int i = 0; i < 9000; i++)
		pool_connect_failed(ts[i]);
	/* The first pick builds the index (a walk); the next ones must not. */
	ck_assert_ptr_nonnull(balance_pick(fx.bal, client_addr(&ss, &seed, false),
	    NULL, 0, fx.now));
	before = balance_steps(fx.bal);
	for (int i = 0; i < 1000; i++) {
		struct target *t = balance_pick(fx.bal,
		    client_addr(&ss, &seed, i % 2), &ts[0]->id, 1, fx.now);

		ck_assert_ptr_nonnull(t);
		pool_session_begin(t);
		if (i % 3 != 0)
			pool_session_end(t, 0, 0);
	}
	ck_assert_uint_le(balance_steps(fx.bal) - before, 1000 * 100);
	fx_done(&fx);
	free(ts);
}
END_TEST

static Suite *
balance_suite(void)
{
	Suite *s = suite_create("balance");
	size_t nalgos = sizeof(all_algos) / sizeof(all_algos[0]);
	TCase *tc;

	tc = tcase_create("names");
	tcase_add_loop_test(tc, test_algo_parse, 0,
	    sizeof(algo_cases) / sizeof(algo_cases[0]));
	suite_add_tcase(s, tc);

	tc = tcase_create("roundrobin");
	tcase_add_test(tc, test_rr_weights);
	tcase_add_test(tc, test_rr_equal);
	tcase_add_test(tc, test_rr_sequence);
	tcase_add_test(tc, test_rr_target_comes_back);
	tcase_add_test(tc, test_rr_churn);
	tcase_add_test(tc, test_free_order);
	suite_add_tcase(s, tc);

	tc = tcase_create("leastconn");
	tcase_add_test(tc, test_leastconn_active);
	tcase_add_test(tc, test_leastconn_idle_spread);
	suite_add_tcase(s, tc);

	tc = tcase_create("tiers");
	tcase_add_loop_test(tc, test_exclude, 0, (int)nalgos);
	tcase_add_loop_test(tc, test_failing_tiers, 0, (int)nalgos);
	tcase_add_loop_test(tc, test_empty, 0, (int)nalgos);
	suite_add_tcase(s, tc);

	tc = tcase_create("hash");
	tcase_set_timeout(tc, 20);
	tcase_add_loop_test(tc, test_hash_shares, 0,
	    sizeof(share_cases) / sizeof(share_cases[0]));
	tcase_add_test(tc, test_hash_disruption);
	tcase_add_test(tc, test_hash_order_independent);
	tcase_add_test(tc, test_hash_client_forms);
	tcase_add_test(tc, test_hash_tiny_weight);
	tcase_add_test(tc, test_hash_switch);
	suite_add_tcase(s, tc);

	tc = tcase_create("large");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_large_shares, 0, 2);
	tcase_add_test(tc, test_large_leastconn_run);
	tcase_add_test(tc, test_large_leastconn_ties);
	tcase_add_test(tc, test_large_leastconn_ramp);
	tcase_add_test(tc, test_large_set_version);
	tcase_add_loop_test(tc, test_large_tiers, 0, 2);
	tcase_add_loop_test(tc, test_large_crossing, 0, 2);
	tcase_add_test(tc, test_large_ramp);
	tcase_add_loop_test(tc, test_large_cost, 0, (int)nalgos);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(balance_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
