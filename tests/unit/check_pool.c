/*
 * Unit tests for pool.c: registration, liveness, backoff, draining,
 * reference-counted removal, versions.
 *
 * Time is a fake clock on a real loop: a test sets the clock, then
 * loop_update_now and loop_run_timers fire whatever deadline is due.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "registry/pool.h"
#include "registry/selfaddr.h"

#define TIMEOUT	1000	/* the pool's default heartbeat timeout, ms */

struct fixture {
	int64_t		 now;
	struct loop	*loop;
	struct pool	*pool;
	size_t		 removed;	/* on_remove calls */
	uint32_t	 removed_id;	/* the last one */
};

static int64_t
fake_clock(void *arg)
{
	return *(int64_t *)arg;
}

static void
on_remove(struct pool *p, struct target *t, void *arg)
{
	struct fixture *fx = arg;

	ck_assert_ptr_eq(p, fx->pool);
	ck_assert(!t->listed);
	ck_assert_ptr_null(pool_find_id(p, t->id));
	fx->removed++;
	fx->removed_id = t->id;
}

static void
fx_init(struct fixture *fx)
{
	memset(fx, 0, sizeof(*fx));
	fx->now = 5000;
	ck_assert_ptr_nonnull(fx->loop = loop_new());
	loop_set_clock(fx->loop, fake_clock, &fx->now);
	ck_assert_ptr_nonnull(fx->pool = pool_new(fx->loop, TIMEOUT));
	pool_set_on_remove(fx->pool, on_remove, fx);
}

static void
fx_done(struct fixture *fx)
{
	pool_free(fx->pool);
	ck_assert_uint_eq(loop_ntimers(fx->loop), 0);
	loop_free(fx->loop);
}

/* Moves the clock to now + ms and runs every timer due on the way. */
static void
fx_advance(struct fixture *fx, int64_t ms)
{
	fx->now += ms;
	loop_update_now(fx->loop);
	/* Timers re-armed by a callback run on a later pass. */
	while (loop_run_timers(fx->loop) > 0)
		;
}

static socklen_t
make_addr(struct sockaddr_storage *ss, const char *host, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return sizeof(*sin);
	}
	ck_assert_int_eq(inet_pton(AF_INET6, host, &sin6->sin6_addr), 1);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	return sizeof(*sin6);
}

static struct target *
reg(struct fixture *fx, enum target_source src, const char *host,
    uint16_t port, int64_t timeout, bool *created)
{
	struct sockaddr_storage ss;
	socklen_t len = make_addr(&ss, host, port);

	return pool_register(fx->pool, src, (struct sockaddr *)&ss, len,
	    LIMIT_WEIGHT_DEFAULT, timeout, created);
}

static struct target *
reg_new(struct fixture *fx, enum target_source src, const char *host,
    uint16_t port)
{
	bool created = false;
	struct target *t = reg(fx, src, host, port, 0, &created);

	ck_assert_ptr_nonnull(t);
	ck_assert(created);
	return t;
}

/* --- registration ---------------------------------------------------- */

START_TEST(test_register_find)
{
	struct fixture fx;
	struct target *a, *b, *c, *d;
	struct sockaddr_storage ss;
	char wrong[TARGET_KEY_LEN + 1];

	fx_init(&fx);
	a = reg_new(&fx, TARGET_SRC_HTTP, "10.0.0.1", 80);
	b = reg_new(&fx, TARGET_SRC_STATIC, "2001:db8::1", 8080);
	c = reg_new(&fx, TARGET_SRC_ACK, "::ffff:10.0.0.3", 81);
	d = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 81);
	ck_assert_uint_eq(a->id, 1);
	ck_assert_uint_eq(b->id, 2);
	ck_assert_uint_eq(c->id, 3);
	ck_assert_uint_eq(d->id, 4);
	ck_assert_uint_eq(pool_count(fx.pool), 4);
	ck_assert_ptr_eq(TAILQ_FIRST(pool_targets(fx.pool)), a);

	ck_assert_str_eq(a->name, "10.0.0.1:80");
	ck_assert_str_eq(a->host, "10.0.0.1");
	ck_assert_uint_eq(a->port, 80);
	ck_assert_uint_eq(a->weight, LIMIT_WEIGHT_DEFAULT);
	ck_assert_int_eq(a->state, TARGET_UP);
	ck_assert_int_eq(a->timeout_ms, TIMEOUT);
	ck_assert_int_eq(a->last_ack, fx.now);
	ck_assert_str_eq(b->name, "[2001:db8::1]:8080");
	ck_assert_int_eq(b->state, TARGET_STATIC);
	ck_assert_int_eq(b->addr.ss_family, AF_INET6);
	/* IPv4-mapped is stored, shown and connected to as IPv4. */
	ck_assert_str_eq(c->name, "10.0.0.3:81");
	ck_assert_int_eq(c->addr.ss_family, AF_INET);
	ck_assert_uint_eq(c->addrlen, sizeof(struct sockaddr_in));
	ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&c->addr)->sin_port), 81);

	ck_assert_ptr_eq(pool_find_id(fx.pool, 2), b);
	ck_assert_ptr_null(pool_find_id(fx.pool, 99));
	ck_assert_ptr_eq(pool_find_key(fx.pool, c->key), c);
	snprintf(wrong, sizeof(wrong), "%s", c->key);
	wrong[TARGET_KEY_LEN - 1] = wrong[TARGET_KEY_LEN - 1] == '0' ? '1' : '0';
	ck_assert_ptr_null(pool_find_key(fx.pool, wrong));
	wrong[TARGET_KEY_LEN - 1] = '\0';
	ck_assert_ptr_null(pool_find_key(fx.pool, wrong));
	ck_assert_ptr_null(pool_find_key(fx.pool, ""));
	ck_assert_ptr_null(pool_find_key(fx.pool, NULL));

	make_addr(&ss, "10.0.0.1", 80);
	ck_assert_ptr_eq(pool_find_addr(fx.pool, (struct sockaddr *)&ss), a);
	make_addr(&ss, "10.0.0.1", 81);
	ck_assert_ptr_eq(pool_find_addr(fx.pool, (struct sockaddr *)&ss), d);
	make_addr(&ss, "10.0.0.3", 81);
	ck_assert_ptr_eq(pool_find_addr(fx.pool, (struct sockaddr *)&ss), c);
	make_addr(&ss, "::ffff:10.0.0.1", 80);
	ck_assert_ptr_eq(pool_find_addr(fx.pool, (struct sockaddr *)&ss), a);
	make_addr(&ss, "2001:db8::1", 8080);
	ck_assert_ptr_eq(pool_find_addr(fx.pool, (struct sockaddr *)&ss), b);
	make_addr(&ss, "2001:db8::1", 8081);
	ck_assert_ptr_null(pool_find_addr(fx.pool, (struct sockaddr *)&ss));
	ck_assert_ptr_null(pool_find_addr(fx.pool, NULL));
	ck_assert_ptr_eq(pool_loop(fx.pool), fx.loop);
	fx_done(&fx);
}
END_TEST

START_TEST(test_reregister)
{
	struct fixture fx;
	struct target *a, *t;
	bool created = true;

	fx_init(&fx);
	a = reg_new(&fx, TARGET_SRC_HTTP, "10.0.0.1", 80);
	t = reg(&fx, TARGET_SRC_HTTP, "10.0.0.1", 80, 0, &created);
	ck_assert_ptr_eq(t, a);
	ck_assert(!created);
	created = true;
	t = reg(&fx, TARGET_SRC_ACK, "::ffff:10.0.0.1", 80, 0, &created);
	ck_assert_ptr_eq(t, a);
	ck_assert(!created);
	ck_assert_ptr_eq(reg(&fx, TARGET_SRC_ACK, "10.0.0.1", 80, 0, NULL), a);
	ck_assert_uint_eq(pool_count(fx.pool), 1);

	/* A leaving target does not block a new registration. */
	pool_session_begin(a);
	pool_deregister(a);
	t = reg(&fx, TARGET_SRC_HTTP, "10.0.0.1", 80, 0, &created);
	ck_assert(created);
	ck_assert_ptr_ne(t, a);
	ck_assert_uint_ne(t->id, a->id);
	ck_assert_uint_eq(fx.removed, 1);
	ck_assert_uint_eq(fx.removed_id, a->id);
	ck_assert(!a->listed);
	ck_assert_uint_eq(pool_count(fx.pool), 1);
	pool_session_end(a, 0, 0);	/* frees the old one */
	fx_done(&fx);
}
END_TEST

START_TEST(test_portless)
{
	struct fixture fx;
	struct target *n1, *n2, *st, *other;
	uint64_t sv;

	fx_init(&fx);
	n1 = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 0);
	n2 = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 0);
	ck_assert_ptr_ne(n1, n2);
	ck_assert_uint_eq(n1->port, 0);
	ck_assert(!target_choosable(n1, fx.now));
	ck_assert(!target_fallback(n1, fx.now));
	st = reg_new(&fx, TARGET_SRC_STATIC, "10.0.0.1", 7000);
	other = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.2", 9000);

	sv = pool_set_version(fx.pool);
	ck_assert_int_eq(pool_set_port(n1, 9000), 0);
	ck_assert_uint_gt(pool_set_version(fx.pool), sv);
	ck_assert_uint_eq(n1->port, 9000);
	ck_assert_str_eq(n1->name, "10.0.0.1:9000");
	ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&n1->addr)->sin_port), 9000);
	ck_assert(target_choosable(n1, fx.now));
	ck_assert_int_eq(pool_set_port(n1, 9000), 0);	/* no change */
	ck_assert_uint_eq(fx.removed, 0);

	/* The same host:port again: the newer registration replaces it. */
	ck_assert_int_eq(pool_set_port(n2, 9000), 0);
	ck_assert_uint_eq(fx.removed, 1);
	ck_assert_uint_eq(fx.removed_id, 1);
	ck_assert_ptr_null(pool_find_id(fx.pool, 1));
	ck_assert_str_eq(n2->name, "10.0.0.1:9000");
	ck_assert_uint_eq(other->port, 9000);		/* other host: untouched */

	/* A static target is never replaced. */
	n1 = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 0);
	errno = 0;
	ck_assert_int_eq(pool_set_port(n1, 7000), -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_uint_eq(n1->port, 0);
	ck_assert(st->listed);
	ck_assert_int_eq(pool_set_port(n1, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_uint_eq(pool_count(fx.pool), 4);
	fx_done(&fx);
}
END_TEST

/* Issue 13 item 16: a port-less target is portless, never up. */
START_TEST(test_portless_state)
{
	struct fixture fx;
	struct target *t;

	fx_init(&fx);
	t = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 0);
	ck_assert_int_eq(t->state, TARGET_PORTLESS);
	ck_assert_str_eq(target_state_name(t->state), "portless");
	ck_assert(!target_choosable(t, fx.now));
	fx_advance(&fx, TIMEOUT);
	ck_assert_int_eq(t->state, TARGET_DOWN);
	pool_ack(t);
	ck_assert_int_eq(t->state, TARGET_PORTLESS);	/* back, still no port */
	pool_drain(t);
	pool_undrain(t);
	ck_assert_int_eq(t->state, TARGET_PORTLESS);
	ck_assert_int_eq(pool_set_port(t, 8080), 0);
	ck_assert_int_eq(t->state, TARGET_UP);
	ck_assert(target_choosable(t, fx.now));
	fx_done(&fx);
}
END_TEST

/* Issue 13 item 19: SPORT does not replace a live HTTP target. */
START_TEST(test_set_port_over_http)
{
	struct fixture fx;
	struct target *web, *n;

	fx_init(&fx);
	web = reg_new(&fx, TARGET_SRC_HTTP, "10.0.0.1", 8080);
	n = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 0);
	errno = 0;
	ck_assert_int_eq(pool_set_port(n, 8080), -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert(web->listed);
	ck_assert_uint_eq(n->port, 0);
	/* Down (its agent is gone): the new registration takes its place. */
	fx_advance(&fx, TIMEOUT);
	pool_ack(n);
	ck_assert_int_eq(web->state, TARGET_DOWN);
	ck_assert_int_eq(pool_set_port(n, 8080), 0);
	ck_assert_uint_eq(fx.removed, 1);
	ck_assert_uint_eq(pool_count(fx.pool), 1);
	fx_done(&fx);
}
END_TEST

static void
self_listen(struct fixture *fx, const char *host, uint16_t port, const char *what)
{
	struct sockaddr_storage ss;

	make_addr(&ss, host, port);
	ck_assert_int_eq(selfaddr_add_listener(pool_self(fx->pool),
	    (struct sockaddr *)&ss, what), 0);
}

static void
self_local(struct fixture *fx, const char *host)
{
	struct sockaddr_storage ss;

	make_addr(&ss, host, 0);
	ck_assert_int_eq(selfaddr_add_local(pool_self(fx->pool), (struct sockaddr *)&ss), 0);
}

/* Registering host:port: 1 refused as one of ours, 0 accepted. */
static int
refused(struct fixture *fx, const char *host, uint16_t port)
{
	bool created;
	struct target *t;

	errno = 0;
	t = reg(fx, TARGET_SRC_HTTP, host, port, 0, &created);
	if (t != NULL) {
		pool_remove(t);
		return 0;
	}
	ck_assert_int_eq(errno, EADDRINUSE);
	return 1;
}

/* Issue 13 item 6: our own listeners, and what a wildcard covers. */
START_TEST(test_self_targets)
{
	struct fixture fx;
	struct sockaddr_storage ss;
	char text[64];
	struct target *n;

	fx_init(&fx);
	self_listen(&fx, "127.0.0.1", 3000, "client");
	self_listen(&fx, "0.0.0.0", 1666, "ack");
	self_listen(&fx, "::", 1667, "http");
	self_local(&fx, "192.0.2.7");
	self_local(&fx, "2001:db8::7");

	ck_assert_int_eq(refused(&fx, "127.0.0.1", 3000), 1);
	ck_assert_int_eq(refused(&fx, "::ffff:127.0.0.1", 3000), 1);
	ck_assert_int_eq(refused(&fx, "127.0.0.2", 3000), 0);	/* not bound there */
	ck_assert_int_eq(refused(&fx, "127.0.0.1", 3001), 0);
	/* 0.0.0.0:1666 covers 127/8 and the interfaces, not other hosts. */
	ck_assert_int_eq(refused(&fx, "127.0.0.1", 1666), 1);
	ck_assert_int_eq(refused(&fx, "127.9.9.9", 1666), 1);
	ck_assert_int_eq(refused(&fx, "192.0.2.7", 1666), 1);
	ck_assert_int_eq(refused(&fx, "::ffff:192.0.2.7", 1666), 1);
	ck_assert_int_eq(refused(&fx, "192.0.2.8", 1666), 0);
	ck_assert_int_eq(refused(&fx, "::1", 1666), 0);		/* v6only */
	/* [::]:1667 covers ::1 and the v6 interfaces; v4 is another socket. */
	ck_assert_int_eq(refused(&fx, "::1", 1667), 1);
	ck_assert_int_eq(refused(&fx, "2001:db8::7", 1667), 1);
	ck_assert_int_eq(refused(&fx, "2001:db8::8", 1667), 0);
	ck_assert_int_eq(refused(&fx, "127.0.0.1", 1667), 0);

	make_addr(&ss, "127.3.0.1", 1666);
	ck_assert_str_eq(selfaddr_match(pool_self(fx.pool), (struct sockaddr *)&ss,
	    text, sizeof(text)), "ack");
	ck_assert_str_eq(text, "0.0.0.0:1666");

	/* SPORT and a state file go through the same check. */
	n = reg_new(&fx, TARGET_SRC_ACK, "127.0.0.1", 0);
	errno = 0;
	ck_assert_int_eq(pool_set_port(n, 3000), -1);
	ck_assert_int_eq(errno, EADDRINUSE);
	ck_assert_uint_eq(n->port, 0);
	make_addr(&ss, "192.0.2.7", 1666);
	errno = 0;
	ck_assert_ptr_null(pool_restore(fx.pool, TARGET_SRC_ACK, (struct sockaddr *)&ss,
	    sizeof(struct sockaddr_in), 500, 0, 77, "0123456789abcdef0123456789abcdef"));
	ck_assert_int_eq(errno, EADDRINUSE);
	fx_done(&fx);
}
END_TEST

/* Issue 13 item 16: a deleted key is remembered, then forgotten. */
START_TEST(test_deleted_keys)
{
	struct fixture fx;
	struct sockaddr_storage ss;
	struct target *t, *lost;
	char key[TARGET_KEY_LEN + 1], lost_key[TARGET_KEY_LEN + 1];

	fx_init(&fx);
	t = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 8080);
	lost = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 0);
	lost->lost = true;
	make_addr(&ss, "10.0.0.1", 0);
	ck_assert_ptr_eq(pool_find_lost(fx.pool, (struct sockaddr *)&ss), lost);
	memcpy(key, t->key, sizeof(key));
	memcpy(lost_key, lost->key, sizeof(lost_key));
	ck_assert(!pool_key_deleted(fx.pool, key));
	pool_delete(t);
	pool_delete(lost);
	ck_assert_uint_eq(pool_count(fx.pool), 0);
	ck_assert_ptr_null(pool_find_key(fx.pool, key));
	ck_assert(pool_key_deleted(fx.pool, key));
	ck_assert_ptr_null(pool_find_lost(fx.pool, (struct sockaddr *)&ss));
	ck_assert_str_eq(pool_deleted_lost(fx.pool, (struct sockaddr *)&ss), lost_key);
	make_addr(&ss, "10.0.0.2", 0);
	ck_assert_ptr_null(pool_deleted_lost(fx.pool, (struct sockaddr *)&ss));
	key[0] = key[0] == 'a' ? 'b' : 'a';
	ck_assert(!pool_key_deleted(fx.pool, key));
	/* A use keeps it; 10 timeouts without one forget it. */
	memcpy(key, lost_key, sizeof(key));
	fx_advance(&fx, TARGET_DOWN_REMOVE_FACTOR * TIMEOUT);
	ck_assert(pool_key_deleted(fx.pool, key));
	fx_advance(&fx, TARGET_DOWN_REMOVE_FACTOR * TIMEOUT + 1);
	ck_assert(!pool_key_deleted(fx.pool, key));
	make_addr(&ss, "10.0.0.1", 0);
	ck_assert_ptr_null(pool_deleted_lost(fx.pool, (struct sockaddr *)&ss));
	fx_done(&fx);
}
END_TEST

/* Two heartbeats in a row slower than the timeout: warned once. */
START_TEST(test_slow_heartbeats)
{
	struct fixture fx;
	struct target *t;

	fx_init(&fx);
	t = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 8080);
	fx_advance(&fx, 3 * TIMEOUT);
	pool_ack(t);			/* one long gap: an outage */
	ck_assert(!t->slow_warned);
	ck_assert_int_eq(t->beat_ms, 3 * TIMEOUT);
	fx_advance(&fx, TIMEOUT / 2);
	pool_ack(t);
	fx_advance(&fx, 3 * TIMEOUT);
	pool_ack(t);
	ck_assert(!t->slow_warned);
	fx_advance(&fx, 3 * TIMEOUT);
	pool_ack(t);			/* the second in a row: its pace */
	ck_assert(t->slow_warned);
	fx_done(&fx);
}
END_TEST

START_TEST(test_bad_args)
{
	struct fixture fx;
	struct sockaddr_storage ss;
	struct sockaddr_un sun;
	socklen_t len;
	struct target *t;

	fx_init(&fx);
	len = make_addr(&ss, "10.0.0.1", 80);
	errno = 0;
	ck_assert_ptr_null(pool_register(fx.pool, TARGET_SRC_HTTP,
	    (struct sockaddr *)&ss, len, 0, 0, NULL));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(pool_register(fx.pool, TARGET_SRC_HTTP,
	    (struct sockaddr *)&ss, len, LIMIT_WEIGHT_MAX + 1, 0, NULL));
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_ptr_null(pool_register(fx.pool, TARGET_SRC_HTTP,
	    (struct sockaddr *)&ss, 4, 500, 0, NULL));
	ck_assert_int_eq(errno, EINVAL);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	errno = 0;
	ck_assert_ptr_null(pool_register(fx.pool, TARGET_SRC_HTTP,
	    (struct sockaddr *)&sun, sizeof(sun), 500, 0, NULL));
	ck_assert_int_eq(errno, EINVAL);
	len = make_addr(&ss, "10.0.0.1", 0);
	errno = 0;
	ck_assert_ptr_null(pool_register(fx.pool, TARGET_SRC_STATIC,
	    (struct sockaddr *)&ss, len, 500, 0, NULL));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_uint_eq(pool_count(fx.pool), 0);

	len = make_addr(&ss, "10.0.0.1", 80);
	t = pool_register(fx.pool, TARGET_SRC_HTTP, (struct sockaddr *)&ss, len,
	    LIMIT_WEIGHT_MAX, 0, NULL);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(pool_set_weight(t, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(pool_set_weight(t, LIMIT_WEIGHT_MAX + 1), -1);
	ck_assert_int_eq(pool_set_weight(t, LIMIT_WEIGHT_MIN), 0);
	ck_assert_uint_eq(t->weight, LIMIT_WEIGHT_MIN);
	fx_done(&fx);
}
END_TEST

START_TEST(test_keys)
{
	struct fixture fx;
	struct target *ts[32];
	char host[32];

	fx_init(&fx);
	for (int i = 0; i < 32; i++) {
		snprintf(host, sizeof(host), "10.0.1.%d", i);
		ts[i] = reg_new(&fx, TARGET_SRC_HTTP, host, 80);
		ck_assert_uint_eq(strlen(ts[i]->key), TARGET_KEY_LEN);
		for (int k = 0; k < TARGET_KEY_LEN; k++) {
			char ch = ts[i]->key[k];

			ck_assert((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'));
		}
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(ts[i]->key, ts[j]->key);
	}
	for (int i = 0; i < 32; i++)
		ck_assert_ptr_eq(pool_find_key(fx.pool, ts[i]->key), ts[i]);
	fx_done(&fx);
}
END_TEST

/* --- liveness -------------------------------------------------------- */

START_TEST(test_flap_damping)
{
	struct fixture fx;
	struct target *t;

	fx_init(&fx);
	t = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 80);
	ck_assert_int_eq(pool_set_weight(t, 1000), 0);
	ck_assert_uint_eq(target_weight_now(t, fx.now), 1000);	/* new: full */

	fx_advance(&fx, TIMEOUT);
	ck_assert_int_eq(t->state, TARGET_DOWN);
	pool_ack(t);					/* back: ramps up */
	ck_assert_uint_eq(t->flaps, 0);
	ck_assert_uint_eq(target_weight_now(t, fx.now), 100);
	ck_assert_uint_eq(target_weight_now(t, fx.now + TIMEOUT / 2), 550);
	ck_assert_uint_eq(target_weight_now(t, fx.now + TIMEOUT), 1000);

	/* Down again soon after coming back: each flap doubles the ramp. */
	for (unsigned i = 1; i <= TARGET_FLAPS_MAX + 2; i++) {
		fx_advance(&fx, TIMEOUT);
		ck_assert_int_eq(t->state, TARGET_DOWN);
		pool_ack(t);
		ck_assert_uint_eq(t->flaps, i < TARGET_FLAPS_MAX ? i : TARGET_FLAPS_MAX);
		ck_assert_int_eq(t->recovery_ms, (int64_t)TIMEOUT << t->flaps);
		ck_assert_uint_lt(target_weight_now(t, fx.now + TIMEOUT), 1000);
	}

	/* Stable past its ramp (and ten timeouts): the next return starts afresh. */
	for (int i = 0; i < 2 * (TIMEOUT << TARGET_FLAPS_MAX) / TIMEOUT + 1; i++) {
		fx_advance(&fx, TIMEOUT / 2);
		pool_ack(t);
	}
	ck_assert_uint_eq(target_weight_now(t, fx.now), 1000);
	fx_advance(&fx, TIMEOUT);
	pool_ack(t);
	ck_assert_uint_eq(t->flaps, 0);
	ck_assert_int_eq(t->recovery_ms, TIMEOUT);
	fx_done(&fx);
}
END_TEST

START_TEST(test_up_down_up)
{
	struct fixture fx;
	struct target *t, *st;

	fx_init(&fx);
	t = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 80);
	st = reg_new(&fx, TARGET_SRC_STATIC, "10.0.0.2", 80);
	ck_assert(loop_timer_armed(&t->deadline));
	ck_assert(!loop_timer_armed(&st->deadline));

	fx_advance(&fx, TIMEOUT - 1);
	ck_assert_int_eq(t->state, TARGET_UP);
	/* An ack pushes the deadline a full timeout ahead. */
	pool_ack(t);
	ck_assert_int_eq(t->last_ack, fx.now);
	fx_advance(&fx, TIMEOUT - 1);
	ck_assert_int_eq(t->state, TARGET_UP);
	fx_advance(&fx, 1);
	ck_assert_int_eq(t->state, TARGET_DOWN);
	ck_assert_int_eq(t->down_since, fx.now);
	ck_assert(!target_choosable(t, fx.now));
	ck_assert(!target_fallback(t, fx.now));
	ck_assert(t->listed);

	fx_advance(&fx, 3 * TIMEOUT);
	pool_ack(t);
	ck_assert_int_eq(t->state, TARGET_UP);
	ck_assert(target_choosable(t, fx.now));
	fx_advance(&fx, TIMEOUT);
	ck_assert_int_eq(t->state, TARGET_DOWN);

	/* Static targets never expire, and acks do nothing to them. */
	fx_advance(&fx, 1000 * TIMEOUT);
	ck_assert_int_eq(st->state, TARGET_STATIC);
	pool_ack(st);
	ck_assert_int_eq(st->state, TARGET_STATIC);
	ck_assert(!loop_timer_armed(&st->deadline));
	fx_done(&fx);
}
END_TEST

START_TEST(test_down_removed)
{
	struct fixture fx;
	struct target *t;
	uint32_t id;

	fx_init(&fx);
	t = reg_new(&fx, TARGET_SRC_HTTP, "10.0.0.1", 80);
	id = t->id;
	fx_advance(&fx, TIMEOUT);
	ck_assert_int_eq(t->state, TARGET_DOWN);
	fx_advance(&fx, TARGET_DOWN_REMOVE_FACTOR * TIMEOUT - 1);
	ck_assert_uint_eq(fx.removed, 0);
	ck_assert_ptr_eq(pool_find_id(fx.pool, id), t);
	fx_advance(&fx, 1);
	ck_assert_uint_eq(fx.removed, 1);
	ck_assert_uint_eq(fx.removed_id, id);
	ck_assert_ptr_null(pool_find_id(fx.pool, id));
	ck_assert_uint_eq(pool_count(fx.pool), 0);
	ck_assert_uint_eq(loop_ntimers(fx.loop), 0);
	fx_done(&fx);
}
END_TEST

START_TEST(test_own_timeout)
{
	struct fixture fx;
	struct target *t;
	bool created;

	fx_init(&fx);
	t = reg(&fx, TARGET_SRC_ACK, "10.0.0.1", 80, 5000, &created);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->timeout_ms, 5000);
	fx_advance(&fx, 4999);
	ck_assert_int_eq(t->state, TARGET_UP);
	/* A shorter timeout applies at once, from the last ack. */
	ck_assert_int_eq(pool_set_timeout(t, 2000), 0);
	fx_advance(&fx, 0);
	ck_assert_int_eq(t->state, TARGET_DOWN);
	pool_ack(t);
	ck_assert_int_eq(pool_set_timeout(t, 0), 0);	/* the pool's default */
	ck_assert_int_eq(t->timeout_ms, TIMEOUT);
	pool_set_default_timeout(fx.pool, 3000);
	ck_assert_int_eq(pool_default_timeout(fx.pool), 3000);
	/* A target on the default follows a new default (issue 13 item 18). */
	ck_assert_int_eq(t->timeout_ms, 3000);
	fx_advance(&fx, TIMEOUT);
	ck_assert_int_eq(t->state, TARGET_UP);
	fx_advance(&fx, 3000 - TIMEOUT);
	ck_assert_int_eq(t->state, TARGET_DOWN);
	fx_done(&fx);
}
END_TEST

/* A new default moves the deadlines of targets on it, and only theirs. */
START_TEST(test_default_timeout_change)
{
	struct fixture fx;
	struct target *dflt, *own;
	bool created;

	fx_init(&fx);
	pool_set_default_timeout(fx.pool, 60000);
	dflt = reg(&fx, TARGET_SRC_HTTP, "10.0.0.1", 80, 0, &created);
	own = reg(&fx, TARGET_SRC_HTTP, "10.0.0.2", 80, 60000, &created);
	ck_assert_ptr_nonnull(dflt);
	ck_assert_ptr_nonnull(own);
	fx_advance(&fx, 1500);
	pool_set_default_timeout(fx.pool, 1000);
	ck_assert_int_eq(dflt->timeout_ms, 1000);
	ck_assert_int_eq(own->timeout_ms, 60000);
	fx_advance(&fx, 0);
	ck_assert_int_eq(dflt->state, TARGET_DOWN);
	ck_assert_int_eq(own->state, TARGET_UP);
	/* Longer again: down for 10 x the new timeout before removal. */
	pool_set_default_timeout(fx.pool, 5000);
	fx_advance(&fx, 10 * 1000);
	ck_assert_ptr_nonnull(pool_find_id(fx.pool, dflt->id));
	fx_done(&fx);
}
END_TEST

/* --- connect failures ------------------------------------------------ */

START_TEST(test_backoff)
{
	static const int64_t want[] = { 1000, 2000, 4000, 8000, 16000, 30000,
	    30000, 30000 };
	struct fixture fx;
	struct target *st, *t;

	fx_init(&fx);
	st = reg_new(&fx, TARGET_SRC_STATIC, "10.0.0.1", 80);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		pool_connect_failed(st);
		ck_assert_int_eq(st->state, TARGET_FAILING);
		ck_assert_uint_eq(st->fail_streak, i + 1);
		ck_assert_int_eq(st->retry_at - fx.now, want[i]);
		/* In backoff: only a fallback. */
		ck_assert(!target_choosable(st, fx.now));
		ck_assert(target_fallback(st, fx.now));
		ck_assert(!target_choosable(st, st->retry_at - 1));
		ck_assert(target_fallback(st, st->retry_at - 1));
		/* Backoff over: a first-round choice again, for one try. */
		ck_assert(target_choosable(st, st->retry_at));
		ck_assert(!target_fallback(st, st->retry_at));
	}
	fx_advance(&fx, 30000);
	ck_assert(target_choosable(st, fx.now));
	pool_connect_ok(st);
	ck_assert_int_eq(st->state, TARGET_STATIC);
	ck_assert_uint_eq(st->fail_streak, 0);
	ck_assert_uint_eq(st->failures, 8);
	pool_connect_failed(st);
	ck_assert_int_eq(st->retry_at - fx.now, 1000);	/* streak restarted */

	t = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.2", 80);
	pool_connect_failed(t);
	ck_assert_int_eq(t->state, TARGET_FAILING);
	pool_ack(t);			/* alive, but its port still fails */
	ck_assert_int_eq(t->state, TARGET_FAILING);
	pool_connect_ok(t);
	ck_assert_int_eq(t->state, TARGET_UP);
	pool_connect_ok(t);
	ck_assert_int_eq(t->state, TARGET_UP);

	/* Failing still misses heartbeats: down, and failures only count. */
	pool_connect_failed(t);
	fx_advance(&fx, TIMEOUT);
	ck_assert_int_eq(t->state, TARGET_DOWN);
	pool_connect_failed(t);
	ck_assert_int_eq(t->state, TARGET_DOWN);
	ck_assert_uint_eq(t->failures, 3);
	pool_connect_ok(t);
	ck_assert_int_eq(t->state, TARGET_DOWN);
	pool_ack(t);
	ck_assert_int_eq(t->state, TARGET_UP);
	fx_done(&fx);
}
END_TEST

/* --- draining and deregistration ------------------------------------- */

START_TEST(test_drain)
{
	struct fixture fx;
	struct target *t, *st;

	fx_init(&fx);
	t = reg_new(&fx, TARGET_SRC_HTTP, "10.0.0.1", 80);
	st = reg_new(&fx, TARGET_SRC_STATIC, "10.0.0.2", 80);
	pool_drain(t);
	pool_drain(st);
	ck_assert_int_eq(t->state, TARGET_DRAINING);
	ck_assert_int_eq(st->state, TARGET_DRAINING);
	ck_assert(!target_choosable(t, fx.now));
	ck_assert(!target_fallback(t, fx.now));
	ck_assert(!target_choosable(st, fx.now));
	/* Draining, connect failures only count. */
	pool_connect_failed(st);
	ck_assert_int_eq(st->state, TARGET_DRAINING);

	/* Acks keep a drained target; they do not undrain it. */
	for (int i = 0; i < 20; i++) {
		fx_advance(&fx, TIMEOUT);
		pool_ack(t);
	}
	ck_assert_int_eq(t->state, TARGET_DRAINING);
	ck_assert(t->listed);
	pool_undrain(t);
	pool_undrain(st);
	ck_assert_int_eq(t->state, TARGET_UP);
	ck_assert_int_eq(st->state, TARGET_STATIC);
	ck_assert(target_choosable(t, fx.now));
	pool_undrain(t);
	ck_assert_int_eq(t->state, TARGET_UP);

	/* Undrained after a silence: down at the next timer pass. */
	pool_drain(t);
	fx_advance(&fx, 2 * TIMEOUT);
	pool_undrain(t);
	fx_advance(&fx, 0);
	ck_assert_int_eq(t->state, TARGET_DOWN);

	/* Drained and silent for 10 x timeout: removed. */
	pool_ack(t);
	pool_drain(t);
	fx_advance(&fx, TARGET_DOWN_REMOVE_FACTOR * TIMEOUT - 1);
	ck_assert(t->listed);
	fx_advance(&fx, 1);
	ck_assert_uint_eq(fx.removed, 1);
	ck_assert_uint_eq(pool_count(fx.pool), 1);
	/* A static target drained stays as long as it likes. */
	fx_advance(&fx, 1000 * TIMEOUT);
	ck_assert(st->listed);
	fx_done(&fx);
}
END_TEST

START_TEST(test_deregister_idle)
{
	struct fixture fx;
	struct target *t;
	uint32_t id;

	fx_init(&fx);
	t = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 80);
	id = t->id;
	pool_deregister(t);		/* t is gone */
	ck_assert_uint_eq(fx.removed, 1);
	ck_assert_uint_eq(fx.removed_id, id);
	ck_assert_ptr_null(pool_find_id(fx.pool, id));
	ck_assert_uint_eq(pool_count(fx.pool), 0);
	fx_done(&fx);
}
END_TEST

START_TEST(test_deregister_active)
{
	struct fixture fx;
	struct target *t, *st;
	char key[TARGET_KEY_LEN + 1];

	fx_init(&fx);
	t = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 80);
	st = reg_new(&fx, TARGET_SRC_STATIC, "10.0.0.2", 80);
	memcpy(key, t->key, sizeof(key));
	pool_session_begin(t);
	pool_session_begin(t);
	pool_session_begin(st);
	pool_deregister(t);
	pool_deregister(st);
	ck_assert_int_eq(t->state, TARGET_DRAINING);
	ck_assert(t->leaving);
	ck_assert(t->listed);
	ck_assert(!target_choosable(t, fx.now));
	ck_assert_ptr_eq(pool_find_key(fx.pool, key), t);
	pool_undrain(t);		/* no way back once deregistered */
	ck_assert_int_eq(t->state, TARGET_DRAINING);

	pool_session_end(t, 10, 20);
	ck_assert(t->listed);
	ck_assert_uint_eq(t->bytes_in, 10);
	ck_assert_uint_eq(t->bytes_out, 20);
	ck_assert_uint_eq(fx.removed, 0);
	pool_session_end(t, 1, 2);	/* the last one: removed and freed */
	ck_assert_uint_eq(fx.removed, 1);
	ck_assert_ptr_null(pool_find_key(fx.pool, key));
	pool_session_end(st, 0, 0);
	ck_assert_uint_eq(fx.removed, 2);
	ck_assert_uint_eq(pool_count(fx.pool), 0);
	fx_done(&fx);
}
END_TEST

/*
 * A removed target that sessions still use stays readable until the last
 * session ends; ASan turns any mistake here into a use after free or a
 * leak.
 */
START_TEST(test_remove_referenced)
{
	struct fixture fx;
	struct target *t, *u;
	uint32_t id;

	fx_init(&fx);
	t = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 80);
	u = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.2", 80);
	id = t->id;
	pool_session_begin(t);
	pool_session_begin(t);
	ck_assert_uint_eq(t->active, 2);
	ck_assert_uint_eq(t->total, 0);		/* total counts connected ones */
	pool_connect_ok(t);
	pool_connect_ok(t);
	ck_assert_uint_eq(t->total, 2);
	pool_remove(t);
	ck_assert_uint_eq(fx.removed, 1);
	ck_assert(!t->listed);
	ck_assert_ptr_null(pool_find_id(fx.pool, id));
	ck_assert_uint_eq(pool_count(fx.pool), 1);
	ck_assert(!target_choosable(t, fx.now));
	ck_assert_str_eq(t->name, "10.0.0.1:80");
	pool_remove(t);			/* twice is harmless */
	ck_assert_uint_eq(fx.removed, 1);
	/* Its deadline is gone with it; u's goes on: down, then out. */
	fx_advance(&fx, TIMEOUT);
	ck_assert_int_eq(u->state, TARGET_DOWN);
	fx_advance(&fx, TARGET_DOWN_REMOVE_FACTOR * TIMEOUT);
	ck_assert_uint_eq(fx.removed, 2);
	ck_assert_uint_eq(pool_count(fx.pool), 0);
	pool_connect_failed(t);		/* a connect that was in flight */
	pool_session_end(t, 1, 1);
	ck_assert_uint_eq(t->active, 1);
	pool_session_end(t, 1, 1);	/* freed here */

	/* pool_free releases a removed target a session still holds. */
	u = reg_new(&fx, TARGET_SRC_HTTP, "10.0.0.3", 80);
	pool_session_begin(u);
	pool_remove(u);
	fx_done(&fx);
}
END_TEST

/* --- versions -------------------------------------------------------- */

START_TEST(test_versions)
{
	struct fixture fx;
	struct target *t;
	uint64_t v, sv;

#define EXPECT_BUMP(set_too) do {					\
	ck_assert_uint_gt(pool_version(fx.pool), v);			\
	if (set_too)							\
		ck_assert_uint_gt(pool_set_version(fx.pool), sv);	\
	else								\
		ck_assert_uint_eq(pool_set_version(fx.pool), sv);	\
	v = pool_version(fx.pool);					\
	sv = pool_set_version(fx.pool);					\
} while (0)

	fx_init(&fx);
	v = pool_version(fx.pool);
	sv = pool_set_version(fx.pool);
	t = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 0);
	EXPECT_BUMP(true);
	ck_assert_int_eq(pool_set_port(t, 80), 0);
	EXPECT_BUMP(true);
	ck_assert_int_eq(pool_set_weight(t, 700), 0);
	EXPECT_BUMP(true);
	ck_assert_int_eq(pool_set_weight(t, 700), 0);	/* no change */
	ck_assert_uint_eq(pool_version(fx.pool), v);
	ck_assert_uint_eq(pool_set_version(fx.pool), sv);
	pool_session_begin(t);
	EXPECT_BUMP(false);
	pool_session_end(t, 5, 5);
	EXPECT_BUMP(false);
	pool_touch(fx.pool);
	EXPECT_BUMP(false);
	pool_connect_failed(t);			/* up -> failing */
	EXPECT_BUMP(true);
	pool_connect_failed(t);			/* counts only */
	EXPECT_BUMP(false);
	pool_connect_ok(t);			/* failing -> up */
	EXPECT_BUMP(true);
	pool_ack(t);				/* no state change */
	ck_assert_uint_eq(pool_set_version(fx.pool), sv);
	fx_advance(&fx, TIMEOUT);		/* up -> down */
	EXPECT_BUMP(true);
	pool_ack(t);				/* down -> up */
	EXPECT_BUMP(true);
	pool_drain(t);
	EXPECT_BUMP(true);
	pool_undrain(t);
	EXPECT_BUMP(true);
	ck_assert_int_eq(pool_set_timeout(t, 3000), 0);
	EXPECT_BUMP(false);
	pool_remove(t);
	EXPECT_BUMP(true);
	fx_done(&fx);
#undef EXPECT_BUMP
}
END_TEST

/* Issue 13 item 7: only what the state file holds moves the state version. */
START_TEST(test_state_version)
{
	struct fixture fx;
	struct target *t;
	uint64_t v;

#define STATE_MOVED(yes) do {						\
	if (yes)							\
		ck_assert_uint_gt(pool_state_version(fx.pool), v);	\
	else								\
		ck_assert_uint_eq(pool_state_version(fx.pool), v);	\
	v = pool_state_version(fx.pool);				\
} while (0)

	fx_init(&fx);
	v = pool_state_version(fx.pool);
	t = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.1", 0);
	STATE_MOVED(true);
	ck_assert_int_eq(pool_set_port(t, 80), 0);
	STATE_MOVED(true);
	ck_assert_int_eq(pool_set_weight(t, 700), 0);
	STATE_MOVED(true);
	ck_assert_int_eq(pool_set_weight(t, 700), 0);
	STATE_MOVED(false);
	pool_session_begin(t);
	pool_session_end(t, 5, 5);
	pool_touch(fx.pool);
	pool_connect_failed(t);			/* up -> failing */
	pool_connect_ok(t);			/* failing -> up */
	pool_ack(t);
	fx_advance(&fx, TIMEOUT);		/* up -> down */
	pool_ack(t);				/* down -> up */
	STATE_MOVED(false);			/* counters and liveness are not state */
	ck_assert_int_eq(pool_set_timeout(t, 3000), 0);
	STATE_MOVED(true);
	ck_assert_int_eq(pool_set_timeout(t, 3000), 0);
	STATE_MOVED(false);
	pool_drain(t);
	STATE_MOVED(true);
	pool_undrain(t);
	STATE_MOVED(true);
	pool_deregister(t);			/* leaving, then removed */
	STATE_MOVED(true);
	fx_done(&fx);
#undef STATE_MOVED
}
END_TEST

/* Issue 13 item 17: a static target's id is its address's, ids never come back. */
START_TEST(test_static_identity)
{
	struct fixture fx;
	struct sockaddr_storage ss;
	socklen_t len;
	struct target *a, *b, *c;
	uint32_t aid;

	fx_init(&fx);
	/* As a state file gives them back: next id 40, B:81 had id 7. */
	pool_reserve_ids(fx.pool, 40);
	len = make_addr(&ss, "10.0.0.2", 81);
	ck_assert_int_eq(pool_remember_static_id(fx.pool, (struct sockaddr *)&ss,
	    len, 7), 0);
	ck_assert_uint_eq(pool_next_id(fx.pool), 40);
	a = reg_new(&fx, TARGET_SRC_STATIC, "10.0.0.1", 80);
	b = reg_new(&fx, TARGET_SRC_STATIC, "10.0.0.2", 81);
	ck_assert_uint_eq(b->id, 7);
	ck_assert_uint_eq(a->id, 40);
	aid = a->id;
	/* Taken out and put back (SIGHUP): the same id; a new one: a new id. */
	pool_remove(a);
	c = reg_new(&fx, TARGET_SRC_HTTP, "10.0.0.3", 82);
	ck_assert_uint_eq(c->id, 41);
	a = reg_new(&fx, TARGET_SRC_STATIC, "10.0.0.1", 80);
	ck_assert_uint_eq(a->id, aid);
	pool_reserve_ids(fx.pool, 10);		/* never lowers */
	ck_assert_uint_eq(pool_next_id(fx.pool), 42);
	/* A registered target the configuration names: static, same id. */
	pool_make_static(c);
	ck_assert_int_eq(c->source, TARGET_SRC_STATIC);
	ck_assert_int_eq(c->state, TARGET_STATIC);
	ck_assert_uint_eq(c->id, 41);
	fx_advance(&fx, 100 * TIMEOUT);		/* no deadline any more */
	ck_assert_ptr_eq(pool_find_id(fx.pool, 41), c);
	fx_done(&fx);
}
END_TEST

/* --- names ----------------------------------------------------------- */

static const struct {
	enum target_state	 state;
	const char		*name;
} state_names[] = {
	{ TARGET_UP, "up" },
	{ TARGET_DOWN, "down" },
	{ TARGET_FAILING, "failing" },
	{ TARGET_DRAINING, "draining" },
	{ TARGET_STATIC, "static" },
	{ TARGET_PORTLESS, "portless" },
};

START_TEST(test_state_names)
{
	ck_assert_str_eq(target_state_name(state_names[_i].state),
	    state_names[_i].name);
}
END_TEST

START_TEST(test_source_names)
{
	ck_assert_str_eq(target_source_name(TARGET_SRC_STATIC), "static");
	ck_assert_str_eq(target_source_name(TARGET_SRC_ACK), "ack");
	ck_assert_str_eq(target_source_name(TARGET_SRC_HTTP), "http");
}
END_TEST

/* What the removal watchers saw, in order: a target's id, 0 for pool_free. */
struct watch_log {
	char		 seen[32];
	size_t		 n;
	struct fixture	*fx;
};

static void
watch_a(struct pool *p, struct target *t, void *arg)
{
	struct watch_log *w = arg;

	(void)p;
	/* After the owner's callback, with the target already unlisted. */
	if (t != NULL) {
		ck_assert_uint_eq(w->fx->removed_id, t->id);
		ck_assert(!t->listed);
	}
	w->seen[w->n++] = t != NULL ? (char)('0' + t->id) : '-';
}

static void
watch_b(struct pool *p, struct target *t, void *arg)
{
	struct watch_log *w = arg;

	(void)p;
	w->seen[w->n++] = t != NULL ? (char)('A' + t->id) : '=';
}

START_TEST(test_remove_watchers)
{
	struct fixture fx;
	struct watch_log w = { .fx = &fx };
	struct target *t1, *t2;

	fx_init(&fx);
	ck_assert_int_eq(pool_watch_remove(fx.pool, watch_a, &w), 0);
	ck_assert_int_eq(pool_watch_remove(fx.pool, watch_b, &w), 0);
	t1 = reg_new(&fx, TARGET_SRC_HTTP, "10.0.0.1", 80);
	t2 = reg_new(&fx, TARGET_SRC_HTTP, "10.0.0.2", 80);
	pool_remove(t1);
	/* Called in the order added, both after the owner's. */
	ck_assert_uint_eq(fx.removed, 1);
	ck_assert_uint_eq(w.n, 2);
	ck_assert_int_eq(memcmp(w.seen, "1B", 2), 0);
	/* Unwatched: the other one still hears. */
	pool_unwatch_remove(fx.pool, watch_a, &w);
	pool_unwatch_remove(fx.pool, watch_a, NULL);	/* not a pair given */
	pool_deregister(t2);
	ck_assert_uint_eq(w.n, 3);
	ck_assert_int_eq(w.seen[2], 'C');
	/* A bounded number of them. */
	for (int i = 1; i < POOL_WATCHERS_MAX; i++)
		ck_assert_int_eq(pool_watch_remove(fx.pool, watch_a, &w), 0);
	errno = 0;
	ck_assert_int_eq(pool_watch_remove(fx.pool, watch_a, &w), -1);
	ck_assert_int_eq(errno, ENOSPC);
	for (int i = 1; i < POOL_WATCHERS_MAX; i++)
		pool_unwatch_remove(fx.pool, watch_a, &w);
	/* pool_free says so once, with no target, and removes none. */
	reg_new(&fx, TARGET_SRC_HTTP, "10.0.0.3", 80);
	fx_done(&fx);
	ck_assert_uint_eq(w.n, 4);
	ck_assert_int_eq(w.seen[3], '=');
}
END_TEST

/* --- indexes: lookups independent of the pool's size ----------------- */

/* Average targets looked at per lookup, at a load of a half at most. */
#define STEPS_PER_LOOKUP	4

static void
host_of(char *buf, size_t len, int i)
{
	snprintf(buf, len, "10.%d.%d.%d", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff);
}

/* pool_count_state agrees with a walk of the list. */
static void
check_state_counts(const struct pool *p)
{
	size_t counts[TARGET_PORTLESS + 1] = { 0 }, total = 0;
	const struct target *t;

	TAILQ_FOREACH(t, pool_targets(p), entry)
		counts[t->state]++;
	for (int st = TARGET_UP; st <= TARGET_PORTLESS; st++) {
		ck_assert_uint_eq(pool_count_state(p, (enum target_state)st), counts[st]);
		total += counts[st];
	}
	ck_assert_uint_eq(total, pool_count(p));
}

/* Every listed target is found by id, key and address, and by nothing else. */
static void
check_all_found(struct fixture *fx)
{
	const struct target_list *list = pool_targets(fx->pool);
	uint64_t steps = pool_lookup_steps(fx->pool);
	struct target *t;
	size_t n = 0;

	TAILQ_FOREACH(t, list, entry) {
		ck_assert_ptr_eq(pool_find_id(fx->pool, t->id), t);
		ck_assert_ptr_eq(pool_find_key(fx->pool, t->key), t);
		if (t->port != 0)
			ck_assert_ptr_eq(pool_find_addr(fx->pool,
			    (const struct sockaddr *)&t->addr), t);
		n++;
	}
	ck_assert_uint_eq(n, pool_count(fx->pool));
	check_state_counts(fx->pool);
	if (n > 0)
		ck_assert_uint_le(pool_lookup_steps(fx->pool) - steps,
		    3 * n * STEPS_PER_LOOKUP);
}

START_TEST(test_index_many)
{
	struct fixture fx;
	struct sockaddr_storage ss;
	struct target *t, *next;
	char host[32], key[TARGET_KEY_LEN + 1];
	uint64_t steps;
	int i;

	fx_init(&fx);
	for (i = 0; i < POOL_MAX_TARGETS; i++) {
		host_of(host, sizeof(host), i);
		reg_new(&fx, i % 2 ? TARGET_SRC_ACK : TARGET_SRC_HTTP, host,
		    (uint16_t)(1000 + i % 7));
	}
	ck_assert_ptr_null(reg(&fx, TARGET_SRC_HTTP, "10.255.0.1", 80, 0, NULL));
	ck_assert_int_eq(errno, ENOSPC);
	check_all_found(&fx);

	/* Misses cost as little as hits: unknown ids, keys, addresses. */
	steps = pool_lookup_steps(fx.pool);
	memset(key, 'f', TARGET_KEY_LEN);
	key[TARGET_KEY_LEN] = '\0';
	for (i = 0; i < 1000; i++) {
		ck_assert_ptr_null(pool_find_id(fx.pool, (uint32_t)(POOL_MAX_TARGETS + 1 + i)));
		snprintf(key, sizeof(key), "%032x", (unsigned)i);
		ck_assert_ptr_null(pool_find_key(fx.pool, key));
		host_of(host, sizeof(host), i);
		make_addr(&ss, host, 999);
		ck_assert_ptr_null(pool_find_addr(fx.pool, (struct sockaddr *)&ss));
	}
	ck_assert_uint_le(pool_lookup_steps(fx.pool) - steps, 3 * 1000 * STEPS_PER_LOOKUP);

	/* Every other one removed: gone from every index, the others stay. */
	i = 0;
	for (t = TAILQ_FIRST(pool_targets(fx.pool)); t != NULL; t = next) {
		next = TAILQ_NEXT(t, entry);
		if (i++ % 2 == 0) {
			uint32_t id = t->id;

			memcpy(key, t->key, sizeof(key));
			ss = t->addr;
			pool_remove(t);
			ck_assert_ptr_null(pool_find_id(fx.pool, id));
			ck_assert_ptr_null(pool_find_key(fx.pool, key));
			ck_assert_ptr_null(pool_find_addr(fx.pool, (struct sockaddr *)&ss));
		}
	}
	ck_assert_uint_eq(pool_count(fx.pool), POOL_MAX_TARGETS / 2);
	check_all_found(&fx);

	/* Down to a few (the indexes shrink), then up again. */
	while (pool_count(fx.pool) > 3)
		pool_remove(TAILQ_FIRST(pool_targets(fx.pool)));
	check_all_found(&fx);
	for (i = 0; i < 5000; i++) {
		host_of(host, sizeof(host), i);
		reg_new(&fx, TARGET_SRC_HTTP, host, 2000);
	}
	check_all_found(&fx);
	fx_done(&fx);
}
END_TEST

/* A port given, a duplicate replaced, a target restored: the indexes follow. */
START_TEST(test_index_changes)
{
	struct fixture fx;
	struct sockaddr_storage ss;
	struct target *a, *b, *c, *r, *r2;
	char key[TARGET_KEY_LEN + 1];
	uint32_t bid;
	socklen_t len;

	fx_init(&fx);
	for (int i = 0; i < 100; i++) {
		char host[32];

		host_of(host, sizeof(host), i);
		reg_new(&fx, TARGET_SRC_HTTP, host, 80);
	}
	a = reg_new(&fx, TARGET_SRC_ACK, "10.9.0.1", 0);
	b = reg_new(&fx, TARGET_SRC_ACK, "10.9.0.1", 7000);
	bid = b->id;
	memcpy(key, b->key, sizeof(key));
	make_addr(&ss, "10.9.0.1", 0);
	ck_assert_ptr_null(pool_find_lost(fx.pool, (struct sockaddr *)&ss));
	a->lost = true;
	ck_assert_ptr_eq(pool_find_lost(fx.pool, (struct sockaddr *)&ss), a);
	/* Another host's port-less targets are not its. */
	c = reg_new(&fx, TARGET_SRC_ACK, "10.9.0.2", 0);
	c->lost = true;
	ck_assert_ptr_eq(pool_find_lost(fx.pool, (struct sockaddr *)&ss), a);

	/* a takes b's port: b is replaced, a found at its new address only. */
	ck_assert_int_eq(pool_set_port(a, 7000), 0);
	ck_assert_ptr_null(pool_find_id(fx.pool, bid));
	ck_assert_ptr_null(pool_find_key(fx.pool, key));
	ck_assert_ptr_null(pool_find_lost(fx.pool, (struct sockaddr *)&ss));
	make_addr(&ss, "10.9.0.1", 7000);
	ck_assert_ptr_eq(pool_find_addr(fx.pool, (struct sockaddr *)&ss), a);
	ck_assert_int_eq(pool_set_port(a, 7001), 0);
	ck_assert_ptr_null(pool_find_addr(fx.pool, (struct sockaddr *)&ss));
	make_addr(&ss, "10.9.0.1", 7001);
	ck_assert_ptr_eq(pool_find_addr(fx.pool, (struct sockaddr *)&ss), a);
	check_all_found(&fx);

	/* Restored with its id and key; a second one with the same key is found after. */
	len = make_addr(&ss, "10.9.1.1", 81);
	memset(key, 'a', TARGET_KEY_LEN);
	key[TARGET_KEY_LEN] = '\0';
	ck_assert_ptr_nonnull(r = pool_restore(fx.pool, TARGET_SRC_ACK,
	    (struct sockaddr *)&ss, len, LIMIT_WEIGHT_DEFAULT, 0, 5000, key));
	len = make_addr(&ss, "10.9.1.2", 81);
	ck_assert_ptr_nonnull(r2 = pool_restore(fx.pool, TARGET_SRC_ACK,
	    (struct sockaddr *)&ss, len, LIMIT_WEIGHT_DEFAULT, 0, 4000, key));
	ck_assert_ptr_eq(pool_find_id(fx.pool, 5000), r);
	ck_assert_ptr_eq(pool_find_id(fx.pool, 4000), r2);
	ck_assert_ptr_eq(pool_find_key(fx.pool, key), r);	/* the first listed */
	ck_assert_ptr_eq(pool_find_addr(fx.pool, (struct sockaddr *)&ss), r2);
	ck_assert_ptr_null(pool_restore(fx.pool, TARGET_SRC_ACK,
	    (struct sockaddr *)&ss, len, LIMIT_WEIGHT_DEFAULT, 0, 6000, key));
	ck_assert_int_eq(errno, EEXIST);
	pool_remove(r);
	ck_assert_ptr_eq(pool_find_key(fx.pool, key), r2);
	check_all_found(&fx);
	fx_done(&fx);
}
END_TEST

/* Counts by state follow every change of state, listing and removal. */
START_TEST(test_state_counts)
{
	struct fixture fx;
	struct target *a, *b, *c, *d, *e;

	fx_init(&fx);
	a = reg_new(&fx, TARGET_SRC_HTTP, "10.0.0.1", 80);
	b = reg_new(&fx, TARGET_SRC_STATIC, "10.0.0.2", 80);
	c = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.3", 0);
	d = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.4", 80);
	e = reg_new(&fx, TARGET_SRC_ACK, "10.0.0.5", 80);
	ck_assert_uint_eq(pool_count_state(fx.pool, TARGET_UP), 3);
	ck_assert_uint_eq(pool_count_state(fx.pool, TARGET_STATIC), 1);
	ck_assert_uint_eq(pool_count_state(fx.pool, TARGET_PORTLESS), 1);
	check_state_counts(fx.pool);
	ck_assert_int_eq(pool_set_port(c, 81), 0);
	check_state_counts(fx.pool);
	pool_drain(a);
	pool_connect_failed(d);
	check_state_counts(fx.pool);
	ck_assert_uint_eq(pool_count_state(fx.pool, TARGET_FAILING), 1);
	ck_assert_uint_eq(pool_count_state(fx.pool, TARGET_DRAINING), 1);
	pool_session_begin(e);
	fx_advance(&fx, TIMEOUT + 1);		/* every ack target down */
	check_state_counts(fx.pool);
	ck_assert_uint_eq(pool_count_state(fx.pool, TARGET_DOWN), 3);
	pool_ack(c);
	pool_undrain(a);
	pool_make_static(d);
	check_state_counts(fx.pool);
	pool_remove(e);				/* still referenced */
	pool_connect_failed(e);			/* unlisted: counts nothing */
	pool_connect_ok(e);
	check_state_counts(fx.pool);
	pool_session_end(e, 0, 0);
	pool_deregister(a);
	fx_advance(&fx, 10 * TIMEOUT + 1);
	check_state_counts(fx.pool);
	(void)b;
	fx_done(&fx);
}
END_TEST

/*
 * Two pools of one shared part: ids and keys are found daemon-wide by the
 * shared lookups, each pool's own only in it, and what a freed pool held
 * is gone from the shared indexes.
 */
START_TEST(test_shared_lookups)
{
	struct fixture fx;
	struct pool_shared *sh;
	struct pool *p1, *p2;
	struct sockaddr_storage ss;
	struct target *t1[100], *t2[100];
	char host[32];
	socklen_t len;

	fx_init(&fx);
	ck_assert_ptr_nonnull(sh = pool_shared_new());
	ck_assert_ptr_nonnull(p1 = pool_new_shared(fx.loop, TIMEOUT, sh));
	ck_assert_ptr_nonnull(p2 = pool_new_shared(fx.loop, TIMEOUT, sh));
	for (int i = 0; i < 100; i++) {
		host_of(host, sizeof(host), i);
		len = make_addr(&ss, host, 80);
		/* The same address in both: services may share a backend. */
		ck_assert_ptr_nonnull(t1[i] = pool_register(p1, TARGET_SRC_HTTP,
		    (struct sockaddr *)&ss, len, LIMIT_WEIGHT_DEFAULT, 0, NULL));
		ck_assert_ptr_nonnull(t2[i] = pool_register(p2, TARGET_SRC_ACK,
		    (struct sockaddr *)&ss, len, LIMIT_WEIGHT_DEFAULT, 0, NULL));
		ck_assert_ptr_ne(t1[i], t2[i]);
		ck_assert_uint_ne(t1[i]->id, t2[i]->id);
	}
	for (int i = 0; i < 100; i++) {
		ck_assert_ptr_eq(pool_find_id(p1, t1[i]->id), t1[i]);
		ck_assert_ptr_null(pool_find_id(p2, t1[i]->id));
		ck_assert_ptr_eq(pool_find_key(p2, t2[i]->key), t2[i]);
		ck_assert_ptr_null(pool_find_key(p1, t2[i]->key));
		ck_assert_ptr_eq(pools_find_id(p1, t1[i]->id), t1[i]);
		ck_assert_ptr_eq(pools_find_id(p1, t2[i]->id), t2[i]);
		ck_assert_ptr_eq(pools_find_key(p1, t1[i]->key), t1[i]);
		ck_assert_ptr_eq(pools_find_key(p1, t2[i]->key), t2[i]);
		ck_assert_ptr_eq(pool_find_addr(p1, (struct sockaddr *)&t1[i]->addr), t1[i]);
		ck_assert_ptr_eq(pool_find_addr(p2, (struct sockaddr *)&t1[i]->addr), t2[i]);
	}
	ck_assert_ptr_null(pools_find_key(p1, "short"));
	ck_assert_ptr_null(pools_find_id(p1, 100000));
	{
		uint32_t id = t2[7]->id;
		char key[TARGET_KEY_LEN + 1];

		memcpy(key, t2[7]->key, sizeof(key));
		pool_remove(t2[7]);
		ck_assert_ptr_null(pools_find_id(p1, id));
		ck_assert_ptr_null(pools_find_key(p1, key));
	}
	{
		uint32_t ids[100];

		for (int i = 0; i < 100; i++)
			ids[i] = i == 7 ? 0 : t2[i]->id;
		pool_free(p2);
		for (int i = 0; i < 100; i++)
			ck_assert_ptr_null(pools_find_id(p1, ids[i]));
	}
	for (int i = 0; i < 100; i++) {
		ck_assert_ptr_eq(pools_find_key(p1, t1[i]->key), t1[i]);
		ck_assert_ptr_eq(pools_find_id(p1, t1[i]->id), t1[i]);
	}
	pool_free(p1);
	pool_shared_free(sh);
	fx_done(&fx);
}
END_TEST

/*
 * Deleted keys are looked up through an index too: POOL_DELETED_MAX of
 * them cost a few steps each, hit or miss; the oldest makes room for one
 * more, and expired ones leave the index.
 */
START_TEST(test_deleted_index)
{
	struct fixture fx;
	static char keys[POOL_DELETED_MAX + 1][TARGET_KEY_LEN + 1];
	char host[32], unknown[TARGET_KEY_LEN + 1];
	uint64_t steps;

	fx_init(&fx);
	for (int i = 0; i <= POOL_DELETED_MAX; i++) {
		struct target *t;

		host_of(host, sizeof(host), i);
		t = reg_new(&fx, TARGET_SRC_ACK, host, 80);
		memcpy(keys[i], t->key, sizeof(keys[i]));
		if (i == POOL_DELETED_MAX)
			fx_advance(&fx, 1);	/* the last one is the newest */
		pool_delete(t);
	}
	ck_assert_uint_eq(pool_count(fx.pool), 0);
	steps = pool_lookup_steps(fx.pool);
	/* The first was the oldest: it made room for the last. */
	ck_assert(!pool_key_deleted(fx.pool, keys[0]));
	for (int i = 1; i <= POOL_DELETED_MAX; i++)
		ck_assert(pool_key_deleted(fx.pool, keys[i]));
	for (int i = 0; i < POOL_DELETED_MAX; i++) {
		snprintf(unknown, sizeof(unknown), "%032x", (unsigned)i);
		ck_assert(!pool_key_deleted(fx.pool, unknown));
	}
	ck_assert_uint_le(pool_lookup_steps(fx.pool) - steps,
	    2 * (POOL_DELETED_MAX + 1) * STEPS_PER_LOOKUP);
	/* Ten timeouts later all are forgotten. */
	fx_advance(&fx, TARGET_DOWN_REMOVE_FACTOR * TIMEOUT + 2);
	for (int i = 0; i <= POOL_DELETED_MAX; i++)
		ck_assert(!pool_key_deleted(fx.pool, keys[i]));
	/* ... and gone from the index: a miss meets nothing now. */
	steps = pool_lookup_steps(fx.pool);
	for (int i = 0; i < POOL_DELETED_MAX; i++) {
		snprintf(unknown, sizeof(unknown), "%032x", (unsigned)i);
		ck_assert(!pool_key_deleted(fx.pool, unknown));
	}
	ck_assert_uint_eq(pool_lookup_steps(fx.pool) - steps, 0);
	fx_done(&fx);
}
END_TEST

/* Connect times: the last one, and a moving average weighing each 1/8. */
START_TEST(test_connect_time)
{
	struct fixture fx;
	struct target *t;

	fx_init(&fx);
	t = reg_new(&fx, TARGET_SRC_HTTP, "127.0.0.1", 1080);
	ck_assert_int_eq(t->connect_ms, -1);
	pool_connect_time(t, 8);
	ck_assert_int_eq(t->connect_ms, 8);
	ck_assert_int_eq(t->connect_avg_us, 8000);
	pool_connect_time(t, 16);
	ck_assert_int_eq(t->connect_ms, 16);
	ck_assert_int_eq(t->connect_avg_us, 9000);
	pool_connect_time(t, -5);	/* a clock step back: 0 */
	ck_assert_int_eq(t->connect_ms, 0);
	ck_assert_int_eq(t->connect_avg_us, 9000 - 9000 / 8);
	fx_done(&fx);
}
END_TEST

static Suite *
pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *tc;

	tc = tcase_create("register");
	tcase_add_test(tc, test_register_find);
	tcase_add_test(tc, test_connect_time);
	tcase_add_test(tc, test_reregister);
	tcase_add_test(tc, test_portless);
	tcase_add_test(tc, test_portless_state);
	tcase_add_test(tc, test_set_port_over_http);
	tcase_add_test(tc, test_self_targets);
	tcase_add_test(tc, test_deleted_keys);
	tcase_add_test(tc, test_slow_heartbeats);
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("index");
	tcase_add_test(tc, test_index_many);
	tcase_add_test(tc, test_index_changes);
	tcase_add_test(tc, test_state_counts);
	tcase_add_test(tc, test_shared_lookups);
	tcase_add_test(tc, test_deleted_index);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("liveness");
	tcase_add_test(tc, test_up_down_up);
	tcase_add_test(tc, test_flap_damping);
	tcase_add_test(tc, test_down_removed);
	tcase_add_test(tc, test_own_timeout);
	tcase_add_test(tc, test_default_timeout_change);
	suite_add_tcase(s, tc);

	tc = tcase_create("failing");
	tcase_add_test(tc, test_backoff);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifetime");
	tcase_add_test(tc, test_drain);
	tcase_add_test(tc, test_deregister_idle);
	tcase_add_test(tc, test_deregister_active);
	tcase_add_test(tc, test_remove_referenced);
	tcase_add_test(tc, test_remove_watchers);
	suite_add_tcase(s, tc);

	tc = tcase_create("versions");
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_state_version);
	tcase_add_test(tc, test_static_identity);
	tcase_add_loop_test(tc, test_state_names, 0,
	    sizeof(state_names) / sizeof(state_names[0]));
	tcase_add_test(tc, test_source_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pool_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
