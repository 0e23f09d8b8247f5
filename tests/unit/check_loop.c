/*
 * Unit tests for loop.c: the timer heap (order, cancel, re-arm, callbacks
 * that re-arm or free), fd dispatch over real pipes and socketpairs, and
 * deferred calls (after the pass's I/O, before its timers).
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/loop.h"

static int64_t fake_now;

static int64_t
fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

static struct loop *
fake_loop(void)
{
	struct loop *l = loop_new();

	ck_assert_ptr_nonnull(l);
	fake_now = 1000;
	loop_set_clock(l, fake_clock, NULL);
	return l;
}

static void
advance(struct loop *l, int64_t ms)
{
	fake_now += ms;
	loop_update_now(l);
	loop_run_timers(l);
}

struct record {
	int	 order[64];
	int	 n;
};

struct tagged {
	struct loop_timer	 t;
	struct record		*rec;
	int			 tag;
	int64_t			 next;	/* what the callback returns */
};

static int64_t
record_fire(struct loop *l, struct loop_timer *t, void *arg)
{
	struct tagged *x = arg;

	(void)l;
	(void)t;
	x->rec->order[x->rec->n++] = x->tag;
	return x->next;
}

START_TEST(test_timers_fire_in_deadline_order)
{
	static const int64_t delays[] = { 50, 10, 40, 10, 30, 0, 20, 60, 5, 45 };
	enum { N = sizeof(delays) / sizeof(delays[0]) };
	struct loop *l = fake_loop();
	struct record rec = { .n = 0 };
	struct tagged x[N];

	for (int i = 0; i < N; i++) {
		x[i] = (struct tagged){ .rec = &rec, .tag = i, .next = LOOP_TIMER_STOP };
		loop_timer_init(&x[i].t, record_fire, &x[i]);
		loop_timer_add(l, &x[i].t, delays[i]);
	}
	ck_assert_uint_eq(loop_ntimers(l), N);
	advance(l, 100);
	ck_assert_int_eq(rec.n, N);
	for (int i = 1; i < N; i++) {
		int64_t a = delays[rec.order[i - 1]], b = delays[rec.order[i]];
		ck_assert_int_le(a, b);
		if (a == b)	/* equal deadlines fire in the order armed */
			ck_assert_int_lt(rec.order[i - 1], rec.order[i]);
	}
	ck_assert_uint_eq(loop_ntimers(l), 0);
	loop_free(l);
}
END_TEST

START_TEST(test_timer_not_early)
{
	struct loop *l = fake_loop();
	struct record rec = { .n = 0 };
	struct tagged x = { .rec = &rec, .tag = 7, .next = LOOP_TIMER_STOP };

	loop_timer_init(&x.t, record_fire, &x);
	loop_timer_add(l, &x.t, 100);
	advance(l, 99);
	ck_assert_int_eq(rec.n, 0);
	ck_assert(loop_timer_armed(&x.t));
	advance(l, 1);
	ck_assert_int_eq(rec.n, 1);
	ck_assert(!loop_timer_armed(&x.t));
	loop_free(l);
}
END_TEST

START_TEST(test_timer_cancel_and_rearm)
{
	struct loop *l = fake_loop();
	struct record rec = { .n = 0 };
	struct tagged x[20];

	for (int i = 0; i < 20; i++) {
		x[i] = (struct tagged){ .rec = &rec, .tag = i, .next = LOOP_TIMER_STOP };
		loop_timer_init(&x[i].t, record_fire, &x[i]);
		loop_timer_add(l, &x[i].t, 10 * (i + 1));
	}
	/* Cancel the odd ones (from the middle of the heap), re-arm 0 last. */
	for (int i = 1; i < 20; i += 2)
		loop_timer_cancel(l, &x[i].t);
	loop_timer_cancel(l, &x[1].t);		/* twice is harmless */
	loop_timer_add(l, &x[0].t, 1000);
	ck_assert_uint_eq(loop_ntimers(l), 10);
	advance(l, 500);
	ck_assert_int_eq(rec.n, 9);
	for (int i = 0; i < rec.n; i++)
		ck_assert_int_eq(rec.order[i], 2 * (i + 1));
	advance(l, 500);
	ck_assert_int_eq(rec.n, 10);
	ck_assert_int_eq(rec.order[9], 0);
	loop_free(l);
}
END_TEST

START_TEST(test_timer_periodic_by_return)
{
	struct loop *l = fake_loop();
	struct record rec = { .n = 0 };
	struct tagged x = { .rec = &rec, .tag = 1, .next = 10 };

	loop_timer_init(&x.t, record_fire, &x);
	loop_timer_add(l, &x.t, 10);
	for (int i = 0; i < 5; i++)
		advance(l, 10);
	ck_assert_int_eq(rec.n, 5);
	x.next = LOOP_TIMER_STOP;
	advance(l, 10);
	ck_assert_int_eq(rec.n, 6);
	advance(l, 100);
	ck_assert_int_eq(rec.n, 6);
	loop_free(l);
}
END_TEST

static int64_t
rearm_zero(struct loop *l, struct loop_timer *t, void *arg)
{
	int *count = arg;

	(*count)++;
	loop_timer_add(l, t, 0);
	return LOOP_TIMER_STOP;
}

START_TEST(test_timer_rearmed_at_zero_waits_for_next_pass)
{
	struct loop *l = fake_loop();
	struct loop_timer t;
	int count = 0;

	loop_timer_init(&t, rearm_zero, &count);
	loop_timer_add(l, &t, 0);
	loop_run_timers(l);
	ck_assert_int_eq(count, 1);	/* not an endless loop */
	loop_run_timers(l);
	ck_assert_int_eq(count, 2);
	loop_timer_cancel(l, &t);
	loop_free(l);
}
END_TEST

static int64_t
free_self(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)arg;
	free(t);	/* the timer is the first member of its owner */
	return LOOP_TIMER_STOP;
}

START_TEST(test_timer_callback_may_free_owner)
{
	struct loop *l = fake_loop();
	struct loop_timer *t = malloc(sizeof(*t));

	ck_assert_ptr_nonnull(t);
	loop_timer_init(t, free_self, NULL);
	loop_timer_add(l, t, 5);
	advance(l, 5);		/* ASan reports any touch after the free */
	ck_assert_uint_eq(loop_ntimers(l), 0);
	loop_free(l);
}
END_TEST

START_TEST(test_timer_heap_stress)
{
	enum { N = 2000 };
	struct loop *l = fake_loop();
	struct record rec = { .n = 0 };
	struct tagged *x = calloc(N, sizeof(*x));
	int64_t last = -1;
	unsigned seed = 42;

	ck_assert_ptr_nonnull(x);
	for (int i = 0; i < N; i++) {
		x[i] = (struct tagged){ .rec = &rec, .tag = 0, .next = LOOP_TIMER_STOP };
		loop_timer_init(&x[i].t, record_fire, &x[i]);
		loop_timer_add(l, &x[i].t, rand_r(&seed) % 10000);
	}
	for (int i = 0; i < N; i += 3)
		loop_timer_cancel(l, &x[i].t);
	for (int i = 0; i < N; i += 7)
		loop_timer_add(l, &x[i].t, rand_r(&seed) % 10000);
	/* Pop one tick at a time: deadlines never go backwards. */
	for (int step = 0; step < 10001; step++) {
		rec.n = 0;
		advance(l, 1);
		if (rec.n > 0) {
			ck_assert_int_ge(fake_now, last);
			last = fake_now;
		}
	}
	ck_assert_uint_eq(loop_ntimers(l), 0);
	free(x);
	loop_free(l);
}
END_TEST

/* --- fds --------------------------------------------------------------- */

struct io_rec {
	int	 calls;
	short	 revents;
	int	 unwatch_fd;	/* unwatched by the callback, if >= 0 */
};

static void
io_cb(struct loop *l, int fd, short revents, void *arg)
{
	struct io_rec *r = arg;
	char buf[64];

	r->calls++;
	r->revents = revents;
	if (revents & POLLIN)
		(void)read(fd, buf, sizeof(buf));
	if (r->unwatch_fd >= 0)
		loop_unwatch(l, r->unwatch_fd);
}

START_TEST(test_io_dispatch_pipe)
{
	struct loop *l = loop_new();
	struct io_rec r = { .unwatch_fd = -1 };
	int p[2];

	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	ck_assert_int_eq(loop_watch(l, p[0], POLLIN, io_cb, &r), 0);
	ck_assert_int_eq(loop_watch(l, p[0], POLLIN, io_cb, &r), -1);	/* EEXIST */
	ck_assert_int_eq(loop_run_once(l, 0), 0);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert(r.revents & POLLIN);
	/* No events: parked, so even a pending byte is not reported. */
	ck_assert_int_eq(write(p[1], "y", 1), 1);
	ck_assert_int_eq(loop_set_events(l, p[0], 0), 0);
	ck_assert_int_eq(loop_run_once(l, 0), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(loop_set_events(l, p[0], POLLIN), 0);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(r.calls, 2);
	loop_unwatch(l, p[0]);
	ck_assert(!loop_watching(l, p[0]));
	ck_assert_int_eq(loop_set_events(l, p[0], POLLIN), -1);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}
END_TEST

START_TEST(test_io_parked_hangup_does_not_spin)
{
	struct loop *l = loop_new();
	struct io_rec r = { .unwatch_fd = -1 };
	int64_t start;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	ck_assert_int_eq(loop_watch(l, sv[0], 0, io_cb, &r), 0);
	close(sv[1]);		/* POLLHUP is always reported ... */
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(r.calls, 1);	/* ... to a parked fd too, once ... */
	ck_assert(r.revents & POLLHUP);
	ck_assert(!(r.revents & POLLIN));
	/* ... and not again while it stays parked: the loop waits its timeout. */
	ck_assert_int_eq(loop_set_events(l, sv[0], 0), 0);
	start = loop_clock_monotonic_ms();
	ck_assert_int_eq(loop_run_once(l, 300), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_ge(loop_clock_monotonic_ms() - start, 250);
	ck_assert_int_eq(loop_set_events(l, sv[0], POLLOUT), 0);
	ck_assert_int_eq(loop_run_once(l, 0), 0);
	ck_assert_int_eq(r.calls, 2);
	ck_assert(r.revents & (POLLHUP | POLLERR | POLLOUT));
	loop_unwatch(l, sv[0]);
	close(sv[0]);
	loop_free(l);
}
END_TEST

/* A TCP pair over loopback: *a connected to *b (accepted). */
static void
tcp_pair(int *a, int *b)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int ls = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(ls, 0);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(ls, 1), 0);
	ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&sin, &len), 0);
	*a = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(*a, 0);
	ck_assert_int_eq(connect(*a, (struct sockaddr *)&sin, sizeof(sin)), 0);
	*b = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
	ck_assert_int_ge(*b, 0);
	close(ls);
}

/* A peer's reset reaches the owner of a parked fd (an empty interest set). */
START_TEST(test_io_parked_reset_is_reported)
{
	struct loop *l = loop_new();
	struct io_rec r = { .unwatch_fd = -1 };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int64_t start;
	int a, b;

	tcp_pair(&a, &b);
	ck_assert_int_eq(loop_watch(l, b, POLLIN, io_cb, &r), 0);
	ck_assert_int_eq(loop_set_events(l, b, 0), 0);		/* parked */
	ck_assert_int_eq(write(a, "x", 1), 1);
	start = loop_clock_monotonic_ms();
	ck_assert_int_eq(loop_run_once(l, 300), 0);		/* healthy: quiet */
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_ge(loop_clock_monotonic_ms() - start, 250);
	ck_assert_int_eq(setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(a);						/* RST */
	ck_assert_int_eq(loop_run_once(l, 2000), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert(r.revents & POLLERR);
	ck_assert(!(r.revents & POLLIN));
	ck_assert_int_eq(loop_run_once(l, 100), 0);		/* once */
	ck_assert_int_eq(r.calls, 1);
	loop_unwatch(l, b);
	close(b);
	loop_free(l);
}
END_TEST

/* Reads what there is, then parks its fd (a flow whose buffer is full). */
static void
park_cb(struct loop *l, int fd, short revents, void *arg)
{
	struct io_rec *r = arg;
	char buf[64];

	r->calls++;
	r->revents = revents;
	if (revents & POLLIN)
		(void)read(fd, buf, sizeof(buf));
	ck_assert_int_eq(loop_set_events(l, fd, 0), 0);
}

/* Parked from its own callback after an ordinary event: a reset still comes. */
START_TEST(test_io_parked_after_event_reset_is_reported)
{
	struct loop *l = loop_new();
	struct io_rec r = { .unwatch_fd = -1 };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int a, b;

	tcp_pair(&a, &b);
	ck_assert_int_eq(loop_watch(l, b, POLLIN, park_cb, &r), 0);
	ck_assert_int_eq(write(a, "x", 1), 1);
	ck_assert_int_eq(loop_run_once(l, 2000), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert(r.revents & POLLIN);
	ck_assert_int_eq(setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(a);
	ck_assert_int_eq(loop_run_once(l, 2000), 0);
	ck_assert_int_eq(r.calls, 2);
	ck_assert(r.revents & POLLERR);
	loop_unwatch(l, b);
	close(b);
	loop_free(l);
}
END_TEST

/* A reset while parked from the start (watched with no events). */
START_TEST(test_io_parked_from_watch_reset_is_reported)
{
	struct loop *l = loop_new();
	struct io_rec r = { .unwatch_fd = -1 };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int a, b;

	tcp_pair(&a, &b);
	ck_assert_int_eq(loop_watch(l, b, 0, io_cb, &r), 0);
	ck_assert_int_eq(loop_run_once(l, 0), 0);
	ck_assert_int_eq(r.calls, 0);
	ck_assert_int_eq(setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	close(a);
	ck_assert_int_eq(loop_run_once(l, 2000), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert(r.revents & POLLERR);
	loop_unwatch(l, b);
	close(b);
	loop_free(l);
}
END_TEST

/*
 * An interest change the kernel refuses at the flush reaches the owner as
 * POLLNVAL (never an fd silently left unarmed). Made here by closing a
 * watched fd behind the loop's back and putting a new pipe at its number:
 * the epoll_ctl(MOD) then finds nothing (ENOENT). epoll only: poll(2) has
 * no registration to fail.
 */
START_TEST(test_io_flush_error_reaches_owner)
{
	struct loop *l = loop_new();
	struct io_rec r = { .unwatch_fd = -1 };
	int p[2], q[2];

	if (strcmp(loop_backend(l), "epoll") != 0) {
		loop_free(l);
		return;
	}
	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	ck_assert_int_eq(loop_watch(l, p[0], POLLIN, io_cb, &r), 0);
	ck_assert_int_eq(loop_run_once(l, 0), 0);
	ck_assert_int_eq(pipe2(q, O_NONBLOCK), 0);
	ck_assert_int_eq(dup2(q[1], p[0]), p[0]);	/* a new file at that number */
	ck_assert_int_eq(loop_set_events(l, p[0], POLLOUT), 0);
	ck_assert_int_eq(loop_run_once(l, 2000), 0);	/* flush fails: ENOENT */
	ck_assert_int_eq(loop_run_once(l, 2000), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(r.revents, POLLNVAL);
	loop_unwatch(l, p[0]);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	loop_free(l);
}
END_TEST

START_TEST(test_io_unwatch_other_during_dispatch)
{
	struct loop *l = loop_new();
	struct io_rec a = { .unwatch_fd = -1 }, b = { .unwatch_fd = -1 };
	int p[2], q[2];

	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	ck_assert_int_eq(pipe2(q, O_NONBLOCK), 0);
	ck_assert_int_eq(loop_watch(l, p[0], POLLIN, io_cb, &a), 0);
	ck_assert_int_eq(loop_watch(l, q[0], POLLIN, io_cb, &b), 0);
	/* Whichever runs first unwatches the other: only one may run. */
	a.unwatch_fd = q[0];
	b.unwatch_fd = p[0];
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(write(q[1], "x", 1), 1);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(a.calls + b.calls, 1);
	ck_assert_uint_eq(loop_nwatched(l), 1);
	/* The survivor keeps working after the compaction. */
	if (a.calls) {
		a.unwatch_fd = -1;
		ck_assert_int_eq(write(p[1], "x", 1), 1);
	} else {
		b.unwatch_fd = -1;
		ck_assert_int_eq(write(q[1], "x", 1), 1);
	}
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(a.calls + b.calls, 2);
	close(p[0]); close(p[1]); close(q[0]); close(q[1]);
	loop_free(l);
}
END_TEST

START_TEST(test_io_many_fds)
{
	enum { N = 200 };
	struct loop *l = loop_new();
	struct io_rec r[N];
	int p[N][2];

	for (int i = 0; i < N; i++) {
		r[i] = (struct io_rec){ .unwatch_fd = -1 };
		ck_assert_int_eq(pipe2(p[i], O_NONBLOCK), 0);
		ck_assert_int_eq(loop_watch(l, p[i][0], POLLIN, io_cb, &r[i]), 0);
	}
	for (int i = 0; i < N; i += 2) {
		loop_unwatch(l, p[i][0]);
		ck_assert_int_eq(write(p[i][1], "x", 1), 1);
	}
	for (int i = 1; i < N; i += 2)
		ck_assert_int_eq(write(p[i][1], "x", 1), 1);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(r[i].calls, i % 2);
	ck_assert_uint_eq(loop_nwatched(l), N / 2);
	for (int i = 0; i < N; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	loop_free(l);
}
END_TEST

START_TEST(test_io_unwatch_closing_then_reuse)
{
	struct loop *l = loop_new();
	struct io_rec a = { .unwatch_fd = -1 }, b = { .unwatch_fd = -1 };
	int p[2], q[2];

	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	ck_assert_int_eq(loop_watch(l, p[0], POLLIN, io_cb, &a), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	loop_unwatch_closing(l, p[0]);
	close(p[0]);
	close(p[1]);
	/* The same fd numbers come back: only the new watcher may hear of them. */
	ck_assert_int_eq(pipe2(q, O_NONBLOCK), 0);
	ck_assert_int_eq(loop_watch(l, q[0], POLLIN, io_cb, &b), 0);
	ck_assert_int_eq(loop_run_once(l, 0), 0);
	ck_assert_int_eq(a.calls + b.calls, 0);
	ck_assert_int_eq(write(q[1], "y", 1), 1);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(a.calls, 0);
	ck_assert_int_eq(b.calls, 1);
	loop_unwatch(l, q[0]);
	close(q[0]);
	close(q[1]);
	loop_free(l);
}
END_TEST

/*
 * A session ending inside a pass closes an fd whose event is still ahead
 * in the same batch, and a new connection takes its number at once: the
 * stale event must reach neither the old watcher nor the new one.
 */
struct reuse_rec {
	int		 fds[2];	/* the two watched ends */
	int		 peers[2];
	int		 calls[2];
	int		 newfd, newpeer;
	struct io_rec	 fresh;		/* the watcher of the reused number */
};

static void
reuse_cb(struct loop *l, int fd, short revents, void *arg)
{
	struct reuse_rec *x = arg;
	int me = fd == x->fds[0] ? 0 : 1, other = x->fds[!me], sp[2];
	char buf[8];

	(void)revents;
	x->calls[me]++;
	ck_assert_int_eq(read(fd, buf, sizeof(buf)), 1);
	if (x->newfd != -1)
		return;
	loop_unwatch_closing(l, other);
	ck_assert_int_eq(close(other), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
	if (sp[0] != other) {	/* the same number, now (it is the lowest free) */
		ck_assert_int_eq(dup2(sp[0], other), other);
		ck_assert_int_eq(close(sp[0]), 0);
	}
	x->newfd = other;
	x->newpeer = sp[1];
	ck_assert_int_eq(loop_watch(l, other, POLLIN, io_cb, &x->fresh), 0);
}

START_TEST(test_io_fd_reused_within_a_batch)
{
	struct loop *l = loop_new();
	struct reuse_rec x = { .newfd = -1, .newpeer = -1, .fresh = { .unwatch_fd = -1 } };

	for (int i = 0; i < 2; i++) {
		int sp[2];

		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sp), 0);
		x.fds[i] = sp[0];
		x.peers[i] = sp[1];
		ck_assert_int_eq(loop_watch(l, sp[0], POLLIN, reuse_cb, &x), 0);
		ck_assert_int_eq(write(sp[1], "x", 1), 1);
	}
	/* Both are ready in the one wait; whichever runs first ends the other. */
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(x.calls[0] + x.calls[1], 1);
	ck_assert_int_eq(x.fresh.calls, 0);
	ck_assert_int_ne(x.newfd, -1);
	ck_assert(loop_watching(l, x.newfd));
	/* Nothing for the new one yet: it is not woken by the old one's byte. */
	ck_assert_int_eq(loop_run_once(l, 0), 0);
	ck_assert_int_eq(x.fresh.calls, 0);
	ck_assert_int_eq(write(x.newpeer, "y", 1), 1);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(x.fresh.calls, 1);
	ck_assert_int_eq(x.calls[0] + x.calls[1], 1);
	for (int i = 0; i < 2; i++) {
		if (x.fds[i] != x.newfd) {
			loop_unwatch(l, x.fds[i]);
			close(x.fds[i]);
		}
		close(x.peers[i]);
	}
	loop_unwatch(l, x.newfd);
	close(x.newfd);
	close(x.newpeer);
	loop_free(l);
}
END_TEST

/* Interest switched off and on again inside one pass still holds. */
static void
flip_cb(struct loop *l, int fd, short revents, void *arg)
{
	struct io_rec *r = arg;
	char c;

	r->calls++;
	r->revents = revents;
	ck_assert_int_eq(read(fd, &c, 1), 1);
	ck_assert_int_eq(loop_set_events(l, fd, 0), 0);
	ck_assert_int_eq(loop_set_events(l, fd, POLLOUT), 0);
	ck_assert_int_eq(loop_set_events(l, fd, r->unwatch_fd ? POLLIN : 0), 0);
}

START_TEST(test_io_interest_changes_within_a_pass)
{
	struct loop *l = loop_new();
	struct io_rec r = { .unwatch_fd = 1 };	/* here: 1 = stay readable */
	int64_t start;
	int p[2];

	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	ck_assert_int_eq(loop_watch(l, p[0], POLLIN, flip_cb, &r), 0);
	ck_assert_int_eq(write(p[1], "ab", 2), 2);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(r.calls, 1);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);	/* still readable: "b" */
	ck_assert_int_eq(r.calls, 2);
	ck_assert(r.revents == POLLIN);
	r.unwatch_fd = 0;				/* now park it */
	ck_assert_int_eq(write(p[1], "cd", 2), 2);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	ck_assert_int_eq(r.calls, 3);
	/*
	 * "d" waits, parked: and the kernel must have been told, or epoll_wait
	 * would return at once with an event nobody asked for (a busy loop).
	 */
	start = loop_clock_monotonic_ms();
	ck_assert_int_eq(loop_run_once(l, 300), 0);
	ck_assert_int_eq(r.calls, 3);
	ck_assert_int_ge(loop_clock_monotonic_ms() - start, 250);
	loop_unwatch(l, p[0]);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}
END_TEST

/* Deferred calls: what they saw of the pass, and in what order. */
struct defer_rec {
	struct loop_defer	 d;
	struct loop_timer	 t;
	struct record		 rec;
	int			 io_calls;	/* when the deferred call ran */
	int			 again;		/* times it re-arms itself */
};

static void
defer_io_cb(struct loop *l, int fd, short revents, void *arg)
{
	struct defer_rec *x = arg;
	char c;

	(void)revents;
	ck_assert_int_eq(read(fd, &c, 1), 1);
	x->rec.order[x->rec.n++] = 1;
	loop_defer(l, &x->d);		/* twice in a pass: runs once */
}

static void
defer_fn(struct loop *l, void *arg)
{
	struct defer_rec *x = arg;

	x->rec.order[x->rec.n++] = 2;
	if (x->again-- > 0)
		loop_defer(l, &x->d);
}

static int64_t
defer_timer_fn(struct loop *l, struct loop_timer *t, void *arg)
{
	struct defer_rec *x = arg;

	(void)l;
	(void)t;
	x->rec.order[x->rec.n++] = 3;
	return LOOP_TIMER_STOP;
}

START_TEST(test_defer_after_io_before_timers)
{
	struct loop *l = loop_new();
	struct defer_rec x = { .again = 0 };
	int p[2], q[2];

	loop_defer_init(&x.d, defer_fn, &x);
	loop_timer_init(&x.t, defer_timer_fn, &x);
	ck_assert_int_eq(pipe2(p, O_NONBLOCK), 0);
	ck_assert_int_eq(pipe2(q, O_NONBLOCK), 0);
	ck_assert_int_eq(loop_watch(l, p[0], POLLIN, defer_io_cb, &x), 0);
	ck_assert_int_eq(loop_watch(l, q[0], POLLIN, defer_io_cb, &x), 0);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(write(q[1], "x", 1), 1);
	loop_timer_add(l, &x.t, 0);
	ck_assert_int_eq(loop_run_once(l, 1000), 0);
	/* Both fds in one batch: I/O, I/O, the deferred call once, the timer. */
	ck_assert_int_eq(x.rec.n, 4);
	ck_assert_int_eq(x.rec.order[0], 1);
	ck_assert_int_eq(x.rec.order[1], 1);
	ck_assert_int_eq(x.rec.order[2], 2);
	ck_assert_int_eq(x.rec.order[3], 3);
	ck_assert(!loop_defer_armed(&x.d));
	loop_unwatch(l, p[0]);
	loop_unwatch(l, q[0]);
	close(p[0]); close(p[1]); close(q[0]); close(q[1]);
	loop_free(l);
}
END_TEST

START_TEST(test_defer_rearm_cancel_and_no_wait)
{
	struct loop *l = loop_new();
	struct defer_rec x = { .again = 1 };
	int64_t start;

	loop_defer_init(&x.d, defer_fn, &x);
	/* Armed outside a pass: the next poll must not wait for anything. */
	loop_defer(l, &x.d);
	start = loop_clock_monotonic_ms();
	ck_assert_int_eq(loop_run_once(l, 5000), 0);
	ck_assert_int_eq(x.rec.n, 1);
	/* It re-armed itself: that waits for the next pass, again without waiting. */
	ck_assert(loop_defer_armed(&x.d));
	ck_assert_int_eq(loop_run_once(l, 5000), 0);
	ck_assert_int_eq(x.rec.n, 2);
	ck_assert_int_lt(loop_clock_monotonic_ms() - start, 2500);
	/* Cancelled, it never runs. */
	loop_defer(l, &x.d);
	loop_defer_cancel(l, &x.d);
	loop_defer_cancel(l, &x.d);	/* twice is harmless */
	ck_assert(!loop_defer_armed(&x.d));
	ck_assert_int_eq(loop_run_once(l, 0), 0);
	ck_assert_int_eq(x.rec.n, 2);
	loop_free(l);
}
END_TEST

static int64_t
stop_loop(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)t;
	(void)arg;
	loop_stop(l);
	return LOOP_TIMER_STOP;
}

START_TEST(test_run_until_stop_by_timer)
{
	struct loop *l = loop_new();
	struct loop_timer t;
	int64_t start = loop_clock_monotonic_ms();

	loop_timer_init(&t, stop_loop, NULL);
	loop_timer_add(l, &t, 50);
	ck_assert_int_eq(loop_run(l), 0);
	ck_assert(loop_stopped(l));
	ck_assert_int_ge(loop_clock_monotonic_ms() - start, 50);
	loop_free(l);
}
END_TEST

static Suite *
loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("timers");

	tcase_add_test(tc, test_timers_fire_in_deadline_order);
	tcase_add_test(tc, test_timer_not_early);
	tcase_add_test(tc, test_timer_cancel_and_rearm);
	tcase_add_test(tc, test_timer_periodic_by_return);
	tcase_add_test(tc, test_timer_rearmed_at_zero_waits_for_next_pass);
	tcase_add_test(tc, test_timer_callback_may_free_owner);
	tcase_add_test(tc, test_timer_heap_stress);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	tc = tcase_create("io");
	tcase_add_test(tc, test_io_dispatch_pipe);
	tcase_add_test(tc, test_io_parked_hangup_does_not_spin);
	tcase_add_test(tc, test_io_parked_reset_is_reported);
	tcase_add_test(tc, test_io_parked_from_watch_reset_is_reported);
	tcase_add_test(tc, test_io_parked_after_event_reset_is_reported);
	tcase_add_test(tc, test_io_flush_error_reaches_owner);
	tcase_add_test(tc, test_io_unwatch_other_during_dispatch);
	tcase_add_test(tc, test_io_many_fds);
	tcase_add_test(tc, test_io_unwatch_closing_then_reuse);
	tcase_add_test(tc, test_io_fd_reused_within_a_batch);
	tcase_add_test(tc, test_io_interest_changes_within_a_pass);
	tcase_add_test(tc, test_defer_after_io_before_timers);
	tcase_add_test(tc, test_defer_rearm_cancel_and_no_wait);
	tcase_add_test(tc, test_run_until_stop_by_timer);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(loop_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
