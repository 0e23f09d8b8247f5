/*
 * Unit tests for events.c and the events pool.c makes: the ring's bounds,
 * seq and wrap; one event per change, with its actor, at every place a
 * target changes; the history's JSON filters by service and target; the
 * routes of the history.
 *
 * Time is a fake clock on a real loop, as in check_pool.c.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ack/ackproto.h"
#include "ack/ackreg.h"
#include "admin/api.h"
#include "common/log.h"
#include "core/loop.h"
#include "registry/events.h"
#include "registry/pool.h"

#define TIMEOUT	1000

struct fixture {
	int64_t		 now;
	struct loop	*loop;
	struct pool	*pool;
	struct events	*ev;
};

static int64_t
fake_clock(void *arg)
{
	return *(int64_t *)arg;
}

static void
fx_init(struct fixture *fx)
{
	memset(fx, 0, sizeof(*fx));
	fx->now = 5000;
	log_set_level(LOG_LEVEL_QUIET);
	ck_assert_ptr_nonnull(fx->loop = loop_new());
	loop_set_clock(fx->loop, fake_clock, &fx->now);
	ck_assert_ptr_nonnull(fx->pool = pool_new(fx->loop, TIMEOUT));
	ck_assert_ptr_nonnull(fx->ev = pool_events(fx->pool));
}

static void
fx_done(struct fixture *fx)
{
	pool_free(fx->pool);
	loop_free(fx->loop);
}

static void
fx_advance(struct fixture *fx, int64_t ms)
{
	fx->now += ms;
	loop_update_now(fx->loop);
	while (loop_run_timers(fx->loop) > 0)
		;
}

static struct sockaddr_in
sa4(const char *ip, uint16_t port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	return sin;
}

static struct target *
reg(struct pool *p, enum target_source src, const char *ip, uint16_t port)
{
	struct sockaddr_in sin = sa4(ip, port);
	struct target *t;

	t = pool_register(p, src, (const struct sockaddr *)&sin, sizeof(sin), 100, 0, NULL);
	ck_assert_ptr_nonnull(t);
	return t;
}

/* A fixture and a target registered by a. */
static struct target *
fx_with(struct fixture *fx, enum pool_actor a, enum target_source src,
    const char *ip, uint16_t port)
{
	fx_init(fx);
	pool_actor_set(fx->pool, a);
	return reg(fx->pool, src, ip, port);
}

/* The newest event: it is of kind k, by a, about t. */
static const struct event *
last_is(struct fixture *fx, enum event_kind k, enum pool_actor a, uint32_t id)
{
	const struct event *e = events_get(fx->ev, events_last_seq(fx->ev));

	ck_assert_ptr_nonnull(e);
	ck_assert_msg(e->kind == k, "event %s, wanted %s", event_kind_name(e->kind),
	    event_kind_name(k));
	ck_assert_msg(e->by == a, "by %s, wanted %s", pool_actor_name(e->by),
	    pool_actor_name(a));
	ck_assert_uint_eq(e->target, id);
	ck_assert_str_eq(e->service, "default");
	ck_assert(e->time_ms > 1600000000000LL);
	return e;
}

/* --- the ring ------------------------------------------------------------ */

START_TEST(test_ring_seq_wrap)
{
	struct events *ev = events_new(4);
	struct event e;

	ck_assert_ptr_nonnull(ev);
	ck_assert_uint_eq(events_capacity(ev), 4);
	ck_assert_uint_eq(events_last_seq(ev), 0);
	ck_assert_ptr_null(events_get(ev, 0));
	ck_assert_ptr_null(events_get(ev, 1));
	for (uint32_t i = 1; i <= 10; i++) {
		memset(&e, 0, sizeof(e));
		e.target = i;
		e.seq = 999;		/* the ring gives the seq */
		ck_assert_uint_eq(events_add(ev, &e)->seq, i);
		ck_assert_uint_eq(events_count(ev), i < 4 ? i : 4);
	}
	ck_assert_uint_eq(events_last_seq(ev), 10);
	ck_assert_uint_eq(events_first_seq(ev), 7);
	ck_assert_uint_eq(events_dropped(ev), 6);
	ck_assert_ptr_null(events_get(ev, 6));
	ck_assert_ptr_null(events_get(ev, 11));
	for (uint64_t s = 7; s <= 10; s++) {
		ck_assert_uint_eq(events_get(ev, s)->seq, s);
		ck_assert_uint_eq(events_get(ev, s)->target, s);
	}
	events_free(ev);
	events_free(NULL);
}
END_TEST

/* The history's filters: newest first, by service, by target, both. */
START_TEST(test_ring_back)
{
	struct events *ev = events_new(6);
	static const char *const svc[] = { "web", "api", "web", "api", "web", "web",
	    "api", "web" };
	const struct event *e;
	struct event in;
	uint64_t cur;
	char seen[16];
	size_t n;

	for (size_t i = 0; i < sizeof(svc) / sizeof(svc[0]); i++) {
		memset(&in, 0, sizeof(in));
		snprintf(in.service, sizeof(in.service), "%s", svc[i]);
		in.target = (uint32_t)(i % 3) + 1;
		(void)events_add(ev, &in);
	}
	/* Held: seqs 3..8. */
	cur = 0;
	n = 0;
	while ((e = events_back(ev, &cur, NULL, 0)) != NULL)
		seen[n++] = (char)('0' + e->seq);
	seen[n] = '\0';
	ck_assert_str_eq(seen, "876543");
	ck_assert_uint_eq(cur, 0);
	cur = n = 0;
	while ((e = events_back(ev, &cur, "api", 0)) != NULL)
		seen[n++] = (char)('0' + e->seq);
	seen[n] = '\0';
	ck_assert_str_eq(seen, "74");
	cur = n = 0;
	while ((e = events_back(ev, &cur, NULL, 3)) != NULL)	/* i % 3 == 2 */
		seen[n++] = (char)('0' + e->seq);
	seen[n] = '\0';
	ck_assert_str_eq(seen, "63");
	cur = n = 0;
	while ((e = events_back(ev, &cur, "web", 3)) != NULL)
		seen[n++] = (char)('0' + e->seq);
	seen[n] = '\0';
	ck_assert_str_eq(seen, "63");
	cur = 0;
	ck_assert_ptr_null(events_back(ev, &cur, "nope", 0));
	ck_assert_ptr_null(events_back(ev, &cur, NULL, 99));
	events_free(ev);
}
END_TEST

START_TEST(test_ring_default_size)
{
	struct events *ev = events_new(0);
	struct event e = { .kind = EVENT_UP };

	ck_assert_uint_eq(events_capacity(ev), EVENTS_HISTORY_MAX);
	for (size_t i = 0; i < EVENTS_HISTORY_MAX + 5; i++)
		(void)events_add(ev, &e);
	ck_assert_uint_eq(events_count(ev), EVENTS_HISTORY_MAX);
	ck_assert_uint_eq(events_dropped(ev), 5);
	ck_assert_uint_eq(events_first_seq(ev), 6);
	events_free(ev);
}
END_TEST

static int listened;

static void
on_event(void *arg)
{
	(void)arg;
	listened++;
}

START_TEST(test_ring_listen)
{
	struct events *ev = events_new(2);
	struct event e = { .kind = EVENT_UP };

	listened = 0;
	events_listen(ev, on_event, NULL);
	(void)events_add(ev, &e);
	(void)events_add(ev, &e);
	ck_assert_int_eq(listened, 2);
	events_listen(ev, NULL, NULL);
	(void)events_add(ev, &e);
	ck_assert_int_eq(listened, 2);
	events_free(ev);
}
END_TEST

START_TEST(test_reason_text)
{
	struct event e;
	char big[400];

	event_set_reason(&e, "Layer4 connection problem: connection refused");
	ck_assert_str_eq(e.reason, "Layer4 connection problem: connection refused");
	event_set_reason(&e, "a\nb\x1b[31m\xff\xc3\xa9");
	ck_assert_str_eq(e.reason, "a?b?[31m?\xc3\xa9");
	event_set_reason(&e, NULL);
	ck_assert_str_eq(e.reason, "");
	/* Cut to fit, never inside a character. */
	for (size_t i = 0; i + 2 < sizeof(big); i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	big[sizeof(big) - 2] = '\0';
	event_set_reason(&e, big);
	ck_assert_uint_lt(strlen(e.reason), EVENTS_REASON_MAX);
	ck_assert_uint_eq(strlen(e.reason) % 2, 0);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(event_kind_name(EVENT_REGISTERED), "registered");
	ck_assert_str_eq(event_kind_name(EVENT_CHECK), "check");
	ck_assert_str_eq(event_kind_name(EVENT_KINDS), "?");
	ck_assert_str_eq(pool_actor_name(POOL_ACTOR_ACK), "ack");
	ck_assert_str_eq(pool_actor_name(POOL_ACTOR_HTTP), "http");
	ck_assert_str_eq(pool_actor_name(POOL_ACTOR_OPERATOR), "operator");
	ck_assert_str_eq(pool_actor_name(POOL_ACTOR_CHECK), "check");
	ck_assert_str_eq(pool_actor_name(POOL_ACTOR_HEARTBEAT), "heartbeat");
	ck_assert_str_eq(pool_actor_name(POOL_ACTOR_CONFIG), "config");
	ck_assert_str_eq(pool_actor_name(POOL_ACTOR_STATE), "state");
	ck_assert_str_eq(pool_actor_name(POOL_ACTOR_PROXY), "proxy");
	ck_assert_str_eq(pool_actor_name(POOL_ACTORS), "?");
}
END_TEST

/* --- emission ------------------------------------------------------------ */

/* Registered by the actor set; down and removed by heartbeat. */
START_TEST(test_registered_down_removed)
{
	struct fixture fx;
	const struct event *e;
	struct target *t;
	uint32_t id;

	t = fx_with(&fx, POOL_ACTOR_HTTP, TARGET_SRC_HTTP, "10.0.0.1", 80);
	id = t->id;
	e = last_is(&fx, EVENT_REGISTERED, POOL_ACTOR_HTTP, id);
	ck_assert_uint_eq(e->seq, 1);
	ck_assert_str_eq(e->name, "10.0.0.1:80");
	ck_assert(!e->has_from && e->has_to && e->to == TARGET_UP);
	ck_assert_uint_eq(e->weight, 100);
	ck_assert_int_eq(e->latency_ms, -1);
	ck_assert_uint_eq(t->state_since, 5000);
	/* The same address again is no new event. */
	(void)reg(fx.pool, TARGET_SRC_HTTP, "10.0.0.1", 80);
	ck_assert_uint_eq(events_last_seq(fx.ev), 1);

	pool_actor_set(fx.pool, POOL_ACTOR_OPERATOR);	/* the timer says its own */
	fx_advance(&fx, TIMEOUT);
	e = last_is(&fx, EVENT_DOWN, POOL_ACTOR_HEARTBEAT, id);
	ck_assert(e->has_from && e->from == TARGET_UP && e->to == TARGET_DOWN);
	ck_assert_ptr_nonnull(strstr(e->reason, "no heartbeat"));
	ck_assert_uint_eq(t->state_since, 6000);
	ck_assert_int_eq(pool_actor(fx.pool), POOL_ACTOR_OPERATOR);

	fx_advance(&fx, TARGET_DOWN_REMOVE_FACTOR * TIMEOUT);
	e = last_is(&fx, EVENT_REMOVED, POOL_ACTOR_HEARTBEAT, id);
	ck_assert(e->has_from && e->from == TARGET_DOWN && !e->has_to);
	ck_assert_uint_eq(events_last_seq(fx.ev), 3);
	ck_assert_uint_eq(pool_event_count(fx.pool, EVENT_DOWN, POOL_ACTOR_HEARTBEAT), 1);
	ck_assert_uint_eq(pool_event_count(fx.pool, EVENT_REMOVED, POOL_ACTOR_HEARTBEAT), 1);
	ck_assert_uint_eq(pool_event_count(fx.pool, EVENT_REGISTERED, POOL_ACTOR_HTTP), 1);
	ck_assert_uint_eq(pool_event_count(fx.pool, EVENT_REGISTERED, POOL_ACTOR_ACK), 0);
	ck_assert_uint_eq(pool_event_count(fx.pool, 99, POOL_ACTOR_ACK), 0);
	fx_done(&fx);
}
END_TEST

/* A heartbeat brings a down target up, by whoever sent it. */
START_TEST(test_up_by_ack)
{
	struct fixture fx;
	struct target *t;

	t = fx_with(&fx, POOL_ACTOR_ACK, TARGET_SRC_ACK, "10.0.0.2", 81);
	fx_advance(&fx, TIMEOUT);
	ck_assert_int_eq(t->state, TARGET_DOWN);
	pool_actor_set(fx.pool, POOL_ACTOR_ACK);
	pool_ack(t);
	(void)last_is(&fx, EVENT_UP, POOL_ACTOR_ACK, t->id);
	/* A heartbeat while up is no event. */
	pool_ack(t);
	ck_assert_uint_eq(events_last_seq(fx.ev), 3);
	fx_done(&fx);
}
END_TEST

/* Failing by proxy, once; back up by proxy on a connect that works. */
START_TEST(test_failing_by_proxy)
{
	struct fixture fx;
	const struct event *e;
	struct target *t;

	t = fx_with(&fx, POOL_ACTOR_CONFIG, TARGET_SRC_STATIC, "10.0.0.3", 82);
	(void)last_is(&fx, EVENT_REGISTERED, POOL_ACTOR_CONFIG, t->id);
	pool_actor_set(fx.pool, POOL_ACTOR_OPERATOR);
	pool_connect_failed(t);
	e = last_is(&fx, EVENT_FAILING, POOL_ACTOR_PROXY, t->id);
	ck_assert(e->from == TARGET_STATIC && e->to == TARGET_FAILING);
	ck_assert_ptr_nonnull(strstr(e->reason, "connect failed"));
	pool_connect_failed(t);
	pool_connect_failed(t);
	ck_assert_uint_eq(events_last_seq(fx.ev), 2);
	ck_assert_int_eq(pool_actor(fx.pool), POOL_ACTOR_OPERATOR);
	pool_connect_ok(t);
	e = last_is(&fx, EVENT_UP, POOL_ACTOR_PROXY, t->id);
	ck_assert(e->from == TARGET_FAILING && e->to == TARGET_STATIC);
	ck_assert_uint_eq(events_last_seq(fx.ev), 3);
	fx_done(&fx);
}
END_TEST

/* Drain, undrain, weight, delete: the operator's. */
START_TEST(test_operator)
{
	struct fixture fx;
	const struct event *e;
	struct target *t;
	uint32_t id;

	t = fx_with(&fx, POOL_ACTOR_HTTP, TARGET_SRC_HTTP, "10.0.0.4", 83);
	id = t->id;
	pool_actor_set(fx.pool, POOL_ACTOR_OPERATOR);
	pool_drain(t);
	e = last_is(&fx, EVENT_DRAINING, POOL_ACTOR_OPERATOR, id);
	ck_assert(e->from == TARGET_UP && e->to == TARGET_DRAINING);
	pool_drain(t);
	ck_assert_uint_eq(events_last_seq(fx.ev), 2);
	pool_undrain(t);
	(void)last_is(&fx, EVENT_UP, POOL_ACTOR_OPERATOR, id);
	ck_assert_int_eq(pool_set_weight(t, 500), 0);
	e = last_is(&fx, EVENT_WEIGHT, POOL_ACTOR_OPERATOR, id);
	ck_assert_uint_eq(e->weight, 500);
	ck_assert(!e->has_from && !e->has_to);
	ck_assert_int_eq(pool_set_weight(t, 500), 0);	/* no change, no event */
	ck_assert_uint_eq(events_last_seq(fx.ev), 4);

	/* Deleted while a session runs: draining now, removed when it ends. */
	pool_session_begin(t);
	pool_delete(t);
	(void)last_is(&fx, EVENT_DRAINING, POOL_ACTOR_OPERATOR, id);
	pool_actor_set(fx.pool, POOL_ACTOR_ACK);	/* someone else meanwhile */
	pool_session_end(t, 0, 0);
	(void)last_is(&fx, EVENT_REMOVED, POOL_ACTOR_OPERATOR, id);
	ck_assert_uint_eq(events_last_seq(fx.ev), 6);
	fx_done(&fx);
}
END_TEST

/* An ack NID is registered port-less; SPORT makes it up, by ack. */
START_TEST(test_portless_port)
{
	struct fixture fx;
	const struct event *e;
	struct target *t;

	t = fx_with(&fx, POOL_ACTOR_ACK, TARGET_SRC_ACK, "10.0.0.5", 0);
	e = last_is(&fx, EVENT_REGISTERED, POOL_ACTOR_ACK, t->id);
	ck_assert_str_eq(e->name, "10.0.0.5");
	ck_assert_int_eq(e->to, TARGET_PORTLESS);
	ck_assert_int_eq(pool_set_port(t, 8080), 0);
	e = last_is(&fx, EVENT_UP, POOL_ACTOR_ACK, t->id);
	ck_assert(e->from == TARGET_PORTLESS && e->to == TARGET_UP);
	ck_assert_str_eq(e->name, "10.0.0.5:8080");
	fx_done(&fx);
}
END_TEST

/* The state file's targets, and a static one taken out by config. */
START_TEST(test_state_and_config)
{
	struct fixture fx;
	struct sockaddr_in sin = sa4("10.0.0.6", 84);
	const char *key = "0123456789abcdef0123456789abcdef";
	struct target *t, *s;

	fx_init(&fx);
	pool_actor_set(fx.pool, POOL_ACTOR_STATE);
	t = pool_restore(fx.pool, TARGET_SRC_ACK, (const struct sockaddr *)&sin,
	    sizeof(sin), 100, 0, 42, key);
	ck_assert_ptr_nonnull(t);
	(void)last_is(&fx, EVENT_REGISTERED, POOL_ACTOR_STATE, 42);
	pool_drain(t);
	(void)last_is(&fx, EVENT_DRAINING, POOL_ACTOR_STATE, 42);
	pool_actor_set(fx.pool, POOL_ACTOR_CONFIG);
	s = reg(fx.pool, TARGET_SRC_STATIC, "10.0.0.7", 85);
	pool_remove(s);
	(void)last_is(&fx, EVENT_REMOVED, POOL_ACTOR_CONFIG, 43);
	fx_done(&fx);
}
END_TEST

/* The checker's hook: its own event, by check, and the histogram. */
START_TEST(test_check_hook)
{
	struct fixture fx;
	const struct pool_check_hist *hist;
	const struct event *e;
	struct target *t;

	fx_init(&fx);
	t = reg(fx.pool, TARGET_SRC_STATIC, "10.0.0.8", 86);
	pool_actor_set(fx.pool, POOL_ACTOR_OPERATOR);
	pool_check_event(t, false, "Layer4 connection problem: connection refused", 12);
	e = last_is(&fx, EVENT_CHECK, POOL_ACTOR_CHECK, t->id);
	ck_assert(!e->passed);
	ck_assert_int_eq(e->latency_ms, 12);
	ck_assert_str_eq(e->reason, "Layer4 connection problem: connection refused");
	pool_check_event(t, true, NULL, -5);
	e = last_is(&fx, EVENT_CHECK, POOL_ACTOR_CHECK, t->id);
	ck_assert(e->passed);
	ck_assert_int_eq(e->latency_ms, -1);
	ck_assert_str_eq(e->reason, "");
	/* The checker changes the state through the pool, actor check, with its reason. */
	pool_actor_set(fx.pool, POOL_ACTOR_CHECK);
	pool_actor_reason(fx.pool, "3/3 checks failed");
	pool_drain(t);
	e = last_is(&fx, EVENT_DRAINING, POOL_ACTOR_CHECK, t->id);
	ck_assert_str_eq(e->reason, "3/3 checks failed");
	pool_actor_set(fx.pool, POOL_ACTOR_OPERATOR);	/* clears the reason */
	pool_undrain(t);
	e = last_is(&fx, EVENT_UP, POOL_ACTOR_OPERATOR, t->id);
	ck_assert_str_eq(e->reason, "");

	pool_check_latency(t, 3);
	pool_check_latency(t, 30);
	pool_check_latency(t, 99999);
	pool_check_latency(t, -1);		/* none: not counted */
	hist = pool_check_hist(fx.pool);
	ck_assert_uint_eq(hist->count, 3);
	ck_assert_int_eq(hist->sum_ms, 3 + 30 + 99999);
	ck_assert_uint_eq(hist->le[0], 1);	/* <= 5 ms */
	ck_assert_uint_eq(hist->le[3], 2);	/* <= 50 ms */
	ck_assert_uint_eq(hist->le[POOL_CHECK_BUCKETS - 1], 2);
	fx_done(&fx);
}
END_TEST

/*
 * The checker's results (pool_check_result): a verdict is a check event,
 * then the state it causes, by check, with the probes counted; pending's
 * first pass and probes that change no verdict say nothing.
 */
START_TEST(test_check_verdicts)
{
	struct fixture fx;
	const struct event *e;
	struct target *t;
	uint64_t seq;

	t = fx_with(&fx, POOL_ACTOR_CONFIG, TARGET_SRC_STATIC, "10.0.0.9", 87);
	pool_check_enable(t, 2, 2);
	seq = events_last_seq(fx.ev);
	pool_actor_set(fx.pool, POOL_ACTOR_OPERATOR);	/* the checker sets none */
	ck_assert(!pool_check_result(t, true, 4, NULL));	/* pending: passing */
	ck_assert(!pool_check_result(t, false, 7, "Layer4 connection problem: connection refused"));
	ck_assert_uint_eq(events_last_seq(fx.ev), seq);
	ck_assert(pool_check_result(t, false, 8, "Layer4 connection problem: connection refused"));
	ck_assert_uint_eq(events_last_seq(fx.ev), seq + 2);
	e = events_get(fx.ev, seq + 1);
	ck_assert_int_eq(e->kind, EVENT_CHECK);
	ck_assert_int_eq(e->by, POOL_ACTOR_CHECK);
	ck_assert(!e->passed);
	ck_assert_int_eq(e->latency_ms, 8);
	ck_assert_str_eq(e->reason, "Layer4 connection problem: connection refused");
	e = last_is(&fx, EVENT_DOWN, POOL_ACTOR_CHECK, t->id);
	ck_assert(e->from == TARGET_STATIC && e->to == TARGET_DOWN);
	ck_assert_str_eq(e->reason,
	    "Layer4 connection problem: connection refused, 2/2 checks failed");
	ck_assert_int_eq(pool_actor(fx.pool), POOL_ACTOR_OPERATOR);
	ck_assert(!pool_check_result(t, false, 9, "again"));
	ck_assert(!pool_check_result(t, true, 3, NULL));
	ck_assert_uint_eq(events_last_seq(fx.ev), seq + 2);
	ck_assert(pool_check_result(t, true, 2, NULL));
	e = events_get(fx.ev, seq + 3);
	ck_assert(e->kind == EVENT_CHECK && e->passed && e->latency_ms == 2);
	ck_assert_str_eq(e->reason, "");
	e = last_is(&fx, EVENT_UP, POOL_ACTOR_CHECK, t->id);
	ck_assert(e->from == TARGET_DOWN && e->to == TARGET_STATIC);
	ck_assert_str_eq(e->reason, "2/2 checks passed");
	ck_assert_uint_eq(pool_check_hist(fx.pool)->count, 6);
	ck_assert_uint_eq(pool_event_count(fx.pool, EVENT_CHECK, POOL_ACTOR_CHECK), 2);
	ck_assert_uint_eq(pool_event_count(fx.pool, EVENT_DOWN, POOL_ACTOR_CHECK), 1);
	fx_done(&fx);
}
END_TEST

/* Sibling pools share one ring, seq daemon-wide, and the actor. */
START_TEST(test_shared_ring)
{
	struct fixture fx;
	struct pool_shared *sh;
	struct pool *web, *api;
	struct target *a, *b;
	const struct event *e;

	fx_init(&fx);
	ck_assert_ptr_nonnull(sh = pool_shared_new());
	ck_assert_ptr_nonnull(web = pool_new_shared(fx.loop, TIMEOUT, sh));
	ck_assert_ptr_nonnull(api = pool_new_shared(fx.loop, TIMEOUT, sh));
	ck_assert_int_eq(pool_set_name(web, "web", true), 0);
	ck_assert_int_eq(pool_set_name(api, "api", false), 0);
	ck_assert_ptr_eq(pool_events(web), pool_events(api));
	ck_assert_ptr_ne(pool_events(web), fx.ev);
	pool_actor_set(web, POOL_ACTOR_ACK);
	ck_assert_int_eq(pool_actor(api), POOL_ACTOR_ACK);
	a = reg(web, TARGET_SRC_ACK, "10.0.1.1", 80);
	b = reg(api, TARGET_SRC_ACK, "10.0.1.2", 80);
	e = events_get(pool_events(web), 1);
	ck_assert_str_eq(e->service, "web");
	ck_assert_uint_eq(e->target, a->id);
	e = events_get(pool_events(web), 2);
	ck_assert_str_eq(e->service, "api");
	ck_assert_uint_eq(e->target, b->id);
	ck_assert_uint_eq(pool_event_count(web, EVENT_REGISTERED, POOL_ACTOR_ACK), 1);
	ck_assert_uint_eq(pool_event_count(api, EVENT_REGISTERED, POOL_ACTOR_ACK), 1);
	pool_free(web);
	pool_free(api);
	pool_shared_free(sh);
	fx_done(&fx);
}
END_TEST

/* ackreg says ack before each request, whatever was set before. */
START_TEST(test_ackreg_actor)
{
	struct fixture fx;
	struct ack_request rq;
	struct ack_outcome o;
	struct sockaddr_in *sin;

	fx_init(&fx);
	pool_actor_set(fx.pool, POOL_ACTOR_OPERATOR);
	memset(&rq, 0, sizeof(rq));
	rq.op = ACK_OP_REGISTER;
	sin = (struct sockaddr_in *)&rq.host.ss;
	sin->sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, "127.0.0.9", &sin->sin_addr), 1);
	rq.host.len = sizeof(*sin);
	rq.peer = rq.host;
	ackreg_apply(fx.pool, NULL, &rq, &o);
	ck_assert_int_eq(o.status, ACK_DONE);
	(void)last_is(&fx, EVENT_REGISTERED, POOL_ACTOR_ACK, o.target);
	fx_done(&fx);
}
END_TEST

/* --- the routes ---------------------------------------------------------- */

START_TEST(test_routes)
{
	struct api_route r;

	api_route("GET", "/api/v1/events/history", &r);
	ck_assert_int_eq(r.handler, API_EVENTS_HISTORY);
	ck_assert(!r.has_service && r.target_id == 0 && !r.write);
	api_route("HEAD", "/api/v1/events/history", &r);
	ck_assert_int_eq(r.handler, API_EVENTS_HISTORY);
	api_route("POST", "/api/v1/events/history", &r);
	ck_assert_int_eq(r.handler, API_BAD_METHOD);
	api_route("GET", "/api/v1/services/web/events/history", &r);
	ck_assert_int_eq(r.handler, API_EVENTS_HISTORY);
	ck_assert(r.has_service && r.service_valid);
	ck_assert_str_eq(r.service, "web");
	api_route("GET", "/api/v1/targets/7/events/history", &r);
	ck_assert_int_eq(r.handler, API_EVENTS_HISTORY);
	ck_assert_uint_eq(r.target_id, 7);
	ck_assert(!r.one_target);	/* a removed target's history too */
	api_route("DELETE", "/api/v1/targets/7/events/history", &r);
	ck_assert_int_eq(r.handler, API_BAD_METHOD);
	api_route("GET", "/api/v1/targets/0/events/history", &r);
	ck_assert_int_eq(r.handler, API_NOT_FOUND);
	api_route("GET", "/api/v1/events/history/x", &r);
	ck_assert_int_eq(r.handler, API_NOT_FOUND);
	api_route("GET", "/api/v1/events", &r);
	ck_assert_int_eq(r.handler, API_EVENTS);
	ck_assert_str_eq(api_handler_name(API_EVENTS_HISTORY), "events-history");
}
END_TEST

static Suite *
events_suite(void)
{
	Suite *s = suite_create("events.c");
	TCase *tc;

	tc = tcase_create("ring");
	tcase_add_test(tc, test_ring_seq_wrap);
	tcase_add_test(tc, test_ring_back);
	tcase_add_test(tc, test_ring_default_size);
	tcase_add_test(tc, test_ring_listen);
	tcase_add_test(tc, test_reason_text);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("emission");
	tcase_add_test(tc, test_registered_down_removed);
	tcase_add_test(tc, test_up_by_ack);
	tcase_add_test(tc, test_failing_by_proxy);
	tcase_add_test(tc, test_operator);
	tcase_add_test(tc, test_portless_port);
	tcase_add_test(tc, test_state_and_config);
	tcase_add_test(tc, test_check_hook);
	tcase_add_test(tc, test_check_verdicts);
	tcase_add_test(tc, test_shared_ring);
	tcase_add_test(tc, test_ackreg_actor);
	suite_add_tcase(s, tc);

	tc = tcase_create("routes");
	tcase_add_test(tc, test_routes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(events_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
