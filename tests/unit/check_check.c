/*
 * Unit tests for check.c (and the verdicts it gives pool.c): each kind of
 * probe against real loopback sockets, rise and fall, the jitter of the
 * schedule, the bound on probes in flight.
 *
 * The loop runs on the real clock; the peers are listeners on the same
 * loop that answer with a canned text (or never), so each test takes at
 * most a few hundred milliseconds.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/check.h"
#include "core/loop.h"
#include "registry/pool.h"

#define PEERS_MAX	1024

/* A listener that answers every connection with text, or never. */
struct peer {
	struct loop	*loop;
	int		 lfd;
	uint16_t	 port;
	const char	*text;		/* NULL: accept, say nothing */
	bool		 accept;	/* false: leave them in the backlog */
	int		 conns[PEERS_MAX];
	size_t		 nconns;
};

struct fixture {
	struct loop	 *loop;
	struct pool	 *pool;
	struct check_set *set;
	struct check	 *ck;
	struct check_params p;
	struct peer	  peer;
};

static void
peer_accept(struct loop *l, int fd, short revents, void *arg)
{
	struct peer *pe = arg;
	int c;

	(void)l;
	(void)revents;
	while ((c = accept(fd, NULL, NULL)) != -1) {
		if (pe->text != NULL) {
			ck_assert_int_eq(write(c, pe->text, strlen(pe->text)),
			    (ssize_t)strlen(pe->text));
			/* FIN, not close: an unread request would make it a RST. */
			ck_assert_int_eq(shutdown(c, SHUT_WR), 0);
		}
		ck_assert_uint_lt(pe->nconns, PEERS_MAX);
		pe->conns[pe->nconns++] = c;
	}
	ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* On every 127/8 address (any), at an ephemeral port. */
static void
peer_start(struct fixture *fx, const char *text, bool do_accept)
{
	struct peer *pe = &fx->peer;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	pe->loop = fx->loop;
	pe->text = text;
	pe->accept = do_accept;
	sin.sin_addr.s_addr = htonl(INADDR_ANY);
	ck_assert_int_ge(pe->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), 0);
	ck_assert_int_eq(bind(pe->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(pe->lfd, 4096), 0);
	ck_assert_int_eq(getsockname(pe->lfd, (struct sockaddr *)&sin, &len), 0);
	pe->port = ntohs(sin.sin_port);
	if (do_accept)
		ck_assert_int_eq(loop_watch(fx->loop, pe->lfd, POLLIN, peer_accept, pe), 0);
}

/* A port where nothing listens: bound once, then closed. */
static uint16_t
closed_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd = socket(AF_INET, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	ck_assert_int_eq(close(fd), 0);
	return ntohs(sin.sin_port);
}

static void
fx_init(struct fixture *fx, enum check_type type)
{
	memset(fx, 0, sizeof(*fx));
	fx->peer.lfd = -1;
	ck_assert_ptr_nonnull(fx->loop = loop_new());
	ck_assert_ptr_nonnull(fx->pool = pool_new(fx->loop, 60000));
	ck_assert_ptr_nonnull(fx->set = check_set_new(fx->loop, NULL));
	ck_assert_ptr_nonnull(fx->ck = check_new(fx->set, fx->pool));
	check_params_default(&fx->p);
	fx->p.type = (int)type;
	fx->p.interval_ms = 100;
	fx->p.timeout_ms = 80;
	fx->p.rise = 1;
	fx->p.fall = 1;
}

static void
fx_free(struct fixture *fx)
{
	check_free(fx->ck);
	check_set_free(fx->set);
	pool_free(fx->pool);
	if (fx->peer.lfd != -1) {
		if (loop_watching(fx->loop, fx->peer.lfd))
			loop_unwatch(fx->loop, fx->peer.lfd);
		close(fx->peer.lfd);
	}
	for (size_t i = 0; i < fx->peer.nconns; i++)
		close(fx->peer.conns[i]);
	loop_free(fx->loop);
}

static struct target *
add_target(struct fixture *fx, uint32_t host, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct target *t;

	sin.sin_addr.s_addr = htonl(host);
	sin.sin_port = htons(port);
	t = pool_register(fx->pool, TARGET_SRC_STATIC, (struct sockaddr *)&sin,
	    sizeof(sin), 500, 0, NULL);
	ck_assert_ptr_nonnull(t);
	return t;
}

/* Runs the loop until t has had n probes judged, or 3 s. */
static void
run_probes(struct fixture *fx, struct target *t, unsigned n)
{
	int64_t end = loop_update_now(fx->loop) + 3000;

	while (t->check.successes + t->check.failures < n &&
	    loop_update_now(fx->loop) < end)
		ck_assert_int_ge(loop_run_once(fx->loop, 10), 0);
	ck_assert_uint_ge(t->check.successes + t->check.failures, n);
}

static struct target *
one_target(struct fixture *fx, uint16_t port)
{
	struct target *t = add_target(fx, INADDR_LOOPBACK, port);

	check_configure(fx->ck, &fx->p, 0);
	ck_assert(t->check.on);
	ck_assert_int_eq(t->check.status, TARGET_CHECK_PENDING);
	return t;
}

START_TEST(test_tcp_pass)
{
	struct fixture fx;
	struct target *t;

	fx_init(&fx, CHECK_TCP);
	peer_start(&fx, NULL, true);
	t = one_target(&fx, fx.peer.port);
	run_probes(&fx, t, 2);
	ck_assert_int_eq(t->check.status, TARGET_CHECK_PASSING);
	ck_assert_int_ge(t->check.latency_ms, 0);
	ck_assert_int_eq(t->state, TARGET_STATIC);
	ck_assert(target_choosable(t, loop_now(fx.loop)));
	fx_free(&fx);
}
END_TEST

START_TEST(test_tcp_refused)
{
	struct fixture fx;
	struct target *t;

	fx_init(&fx, CHECK_TCP);
	fx.p.fall = 2;
	t = one_target(&fx, closed_port());
	run_probes(&fx, t, 1);
	/* One failure of fall 2: still chosen. */
	ck_assert_int_eq(t->check.status, TARGET_CHECK_PENDING);
	ck_assert(target_choosable(t, loop_now(fx.loop)));
	run_probes(&fx, t, 2);
	ck_assert_int_eq(t->check.status, TARGET_CHECK_FAILING);
	ck_assert_ptr_nonnull(strstr(t->check.reason, "connection refused"));
	ck_assert_int_eq(t->state, TARGET_DOWN);
	ck_assert(!target_choosable(t, loop_now(fx.loop)));
	ck_assert(!target_fallback(t, loop_now(fx.loop)));
	fx_free(&fx);
}
END_TEST

/* What a peer answers, and the verdict on it. */
static const struct answer {
	enum check_type	 type;
	const char	*send, *expect;
	const char	*text;		/* the peer's answer */
	bool		 pass;
	const char	*reason;	/* in the failure's reason */
} answers[] = {
	{ CHECK_HTTP, NULL, NULL, "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
	    true, NULL },
	{ CHECK_HTTP, NULL, NULL, "HTTP/1.0 503 Service Unavailable\r\n\r\n",
	    false, "wrong status: 503" },
	{ CHECK_HTTP, NULL, NULL, "SSH-2.0-OpenSSH\r\n", false, "invalid response" },
	{ CHECK_HTTP, NULL, NULL, "HTTP/1.0 200", false, "no status line" },
	{ CHECK_SEND_EXPECT, "PING\r\n", "PONG", "+PONG\r\n", true, NULL },
	{ CHECK_SEND_EXPECT, NULL, "PONG", "-ERR unknown\r\n", false,
	    "content mismatch" },
};

START_TEST(test_answer)
{
	const struct answer *an = &answers[_i];
	struct fixture fx;
	struct target *t;

	fx_init(&fx, an->type);
	if (an->send != NULL) {
		fx.p.send_len = strlen(an->send);
		memcpy(fx.p.send, an->send, fx.p.send_len);
	}
	if (an->expect != NULL) {
		fx.p.expect_len = strlen(an->expect);
		memcpy(fx.p.expect, an->expect, fx.p.expect_len);
	}
	peer_start(&fx, an->text, true);
	t = one_target(&fx, fx.peer.port);
	run_probes(&fx, t, an->pass ? 2 : 1);
	if (an->pass) {
		ck_assert_uint_eq(t->check.failures, 0);
		ck_assert_int_eq(t->check.status, TARGET_CHECK_PASSING);
	} else {
		ck_assert_int_eq(t->check.status, TARGET_CHECK_FAILING);
		ck_assert_msg(strstr(t->check.reason, an->reason) != NULL,
		    "reason '%s', not '%s'", t->check.reason, an->reason);
	}
	fx_free(&fx);
}
END_TEST

START_TEST(test_timeout)
{
	struct fixture fx;
	struct target *t;
	int64_t start;

	fx_init(&fx, CHECK_HTTP);
	peer_start(&fx, NULL, true);	/* accepts, never answers */
	t = one_target(&fx, fx.peer.port);
	start = loop_update_now(fx.loop);
	run_probes(&fx, t, 1);
	ck_assert_int_eq(t->check.status, TARGET_CHECK_FAILING);
	ck_assert_ptr_nonnull(strstr(t->check.reason, "timeout"));
	ck_assert_int_ge(t->check.latency_ms, fx.p.timeout_ms);
	ck_assert_int_lt(loop_update_now(fx.loop) - start, 1000);
	fx_free(&fx);
}
END_TEST

/* Thresholds, without sockets: the pool's side of a verdict. */
START_TEST(test_rise_fall)
{
	struct fixture fx;
	struct target *t;

	fx_init(&fx, CHECK_TCP);
	t = add_target(&fx, INADDR_LOOPBACK, 9);
	pool_check_enable(t, 2, 3);
	ck_assert(!pool_check_result(t, false, 1, "a"));
	ck_assert(!pool_check_result(t, false, 1, "b"));
	ck_assert_int_eq(t->check.status, TARGET_CHECK_PENDING);
	ck_assert(target_choosable(t, loop_now(fx.loop)));
	ck_assert(pool_check_result(t, false, 1, "c"));
	ck_assert_int_eq(t->check.status, TARGET_CHECK_FAILING);
	ck_assert_str_eq(t->check.reason, "c");
	ck_assert_int_eq(t->state, TARGET_DOWN);
	ck_assert(!pool_check_result(t, true, 1, NULL));
	ck_assert_int_eq(t->check.status, TARGET_CHECK_FAILING);
	ck_assert(!target_choosable(t, loop_now(fx.loop)));
	/* A failure in between starts the count again. */
	ck_assert(!pool_check_result(t, false, 1, "d"));
	ck_assert(!pool_check_result(t, true, 1, NULL));
	ck_assert(pool_check_result(t, true, 1, NULL));
	ck_assert_int_eq(t->check.status, TARGET_CHECK_PASSING);
	ck_assert_int_eq(t->state, TARGET_STATIC);
	ck_assert(target_choosable(t, loop_now(fx.loop)));
	/* Taken away while failing, the target comes back. */
	for (int i = 0; i < 3; i++)
		(void)pool_check_result(t, false, 1, "e");
	ck_assert_int_eq(t->state, TARGET_DOWN);
	pool_check_disable(t);
	ck_assert_int_eq(t->state, TARGET_STATIC);
	ck_assert(target_choosable(t, loop_now(fx.loop)));
	fx_free(&fx);
}
END_TEST

/* Slow start: a target back from failing ramps from a tenth. */
START_TEST(test_slow_start)
{
	struct fixture fx;
	struct target *t;
	int64_t now;

	fx_init(&fx, CHECK_TCP);
	pool_set_slow_start(fx.pool, 10000);
	t = add_target(&fx, INADDR_LOOPBACK, 9);
	ck_assert_uint_eq(target_weight_now(t, loop_now(fx.loop)), 500);
	pool_check_enable(t, 1, 1);
	(void)pool_check_result(t, false, 1, "x");
	ck_assert(pool_check_result(t, true, 1, NULL));
	now = loop_now(fx.loop);
	ck_assert_uint_eq(target_weight_now(t, now), 50);
	ck_assert_uint_eq(target_weight_now(t, now + 5000), 275);
	ck_assert_uint_eq(target_weight_now(t, now + 10000), 500);
	fx_free(&fx);
}
END_TEST

static int64_t
fake_clock(void *arg)
{
	return *(int64_t *)arg;
}

/*
 * 200 targets, interval 500 ms: on a fake clock stepped by 1 ms (timers
 * only, no I/O), the probes start spread over the interval, never many in
 * one millisecond. A probe is started once it is in flight or judged (a
 * refused loopback connect may be judged at once); in the first 450 ms no
 * target has a second one (the next comes an interval, less a tenth, on).
 */
START_TEST(test_jitter)
{
	struct fixture fx;
	struct check_counts c;
	struct target *t[200];
	int64_t now = 100000, first = -1, last = -1;
	size_t before = 0, most = 0, started = 0;

	fx_init(&fx, CHECK_TCP);
	loop_set_clock(fx.loop, fake_clock, &now);
	(void)loop_update_now(fx.loop);
	fx.p.interval_ms = 500;
	fx.p.fall = 100;
	for (size_t i = 0; i < 200; i++)
		t[i] = add_target(&fx, INADDR_LOOPBACK + 1 + (uint32_t)i, 9);
	check_configure(fx.ck, &fx.p, 0);
	for (int ms = 0; ms < 450; ms++, now++) {
		(void)loop_update_now(fx.loop);
		(void)loop_run_timers(fx.loop);
		check_set_counts(fx.set, &c);
		started = c.inflight;
		for (size_t i = 0; i < 200; i++)
			started += t[i]->check.last_at != 0;
		if (started > before) {
			if (first < 0)
				first = ms;
			last = ms;
			most = started - before > most ? started - before : most;
		}
		before = started;
	}
	ck_assert_uint_ge(started, 120);
	ck_assert_int_ge(last - first, 350);
	/* Uniform over 500 ms: 0.4 a millisecond; without jitter, 200 at once. */
	ck_assert_uint_le(most, 6);
	fx_free(&fx);
}
END_TEST

/* 600 probes that hang: never more than CHECK_INFLIGHT_MAX at once. */
START_TEST(test_inflight_bound)
{
	struct fixture fx;
	size_t most = 0, queued = 0, nt = 600;
	int64_t end;

	fx_init(&fx, CHECK_SEND_EXPECT);
	memcpy(fx.p.expect, "never", 5);
	fx.p.expect_len = 5;
	fx.p.interval_ms = 200;
	fx.p.timeout_ms = 150;
	fx.p.fall = 100;
	peer_start(&fx, NULL, false);	/* the backlog completes connects */
	for (size_t i = 0; i < nt; i++)
		(void)add_target(&fx, INADDR_LOOPBACK + 1 + (uint32_t)i, fx.peer.port);
	check_configure(fx.ck, &fx.p, 0);
	end = loop_update_now(fx.loop) + 600;
	while (loop_update_now(fx.loop) < end) {
		struct check_counts c;

		check_set_counts(fx.set, &c);
		ck_assert_uint_le(c.inflight, CHECK_INFLIGHT_MAX);
		/* Only the probes hold fds: one each. */
		ck_assert_uint_le(loop_nwatched(fx.loop), CHECK_INFLIGHT_MAX);
		most = c.inflight > most ? c.inflight : most;
		queued = c.queued > queued ? c.queued : queued;
		ck_assert_int_ge(loop_run_once(fx.loop, 5), 0);
	}
	ck_assert_uint_eq(most, CHECK_INFLIGHT_MAX);
	ck_assert_uint_gt(queued, 0);
	fx_free(&fx);
}
END_TEST

/* A check port other than the target's. */
START_TEST(test_check_port)
{
	struct fixture fx;
	struct target *t;

	fx_init(&fx, CHECK_TCP);
	peer_start(&fx, NULL, true);
	fx.p.port = fx.peer.port;
	t = one_target(&fx, closed_port());
	run_probes(&fx, t, 2);
	ck_assert_uint_eq(t->check.failures, 0);
	ck_assert_int_eq(t->check.status, TARGET_CHECK_PASSING);
	fx_free(&fx);
}
END_TEST

START_TEST(test_configure_none)
{
	struct fixture fx;
	struct target *t;

	fx_init(&fx, CHECK_TCP);
	t = one_target(&fx, closed_port());
	run_probes(&fx, t, 1);
	ck_assert_int_eq(t->state, TARGET_DOWN);
	fx.p.type = CHECK_NONE;
	check_configure(fx.ck, &fx.p, 0);
	ck_assert(!t->check.on);
	ck_assert_ptr_null(t->check.probe);
	ck_assert_int_eq(t->state, TARGET_STATIC);
	ck_assert_uint_eq(loop_nwatched(fx.loop), 0);
	fx_free(&fx);
}
END_TEST

static Suite *
check_suite(void)
{
	Suite *s = suite_create("check");
	TCase *tc = tcase_create("kinds");

	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_tcp_pass);
	tcase_add_test(tc, test_tcp_refused);
	tcase_add_loop_test(tc, test_answer, 0, sizeof(answers) / sizeof(answers[0]));
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_check_port);
	tcase_add_test(tc, test_configure_none);
	suite_add_tcase(s, tc);

	tc = tcase_create("verdicts");
	tcase_add_test(tc, test_rise_fall);
	tcase_add_test(tc, test_slow_start);
	suite_add_tcase(s, tc);

	tc = tcase_create("scale");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_jitter);
	tcase_add_test(tc, test_inflight_bound);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(check_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
