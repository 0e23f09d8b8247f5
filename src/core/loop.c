/*
 * loop: see loop.h. This file is what both backends share: the public
 * API, the per-fd watcher table, the timer heap, deferred calls and the
 * clock. How the kernel is told which fds to watch, and how one wait is
 * dispatched, is a backend's (loop_int.h): loop_epoll.c, the default on
 * Linux, or loop_poll.c, the portable one, which HARMONY_LOOP=poll in the
 * environment selects.
 *
 * Deferred calls are a FIFO list run after each dispatch pass; the list
 * is taken whole first, so one armed again by its own call waits a pass.
 *
 * Timers are a binary min-heap of pointers to struct loop_timer, ordered by
 * (when, seq); each timer knows its slot, so cancel and re-arm are
 * O(log n).
 */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/loop_int.h"

int64_t
loop_clock_monotonic_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer on Linux. */
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
default_clock(void *arg)
{
	(void)arg;
	return loop_clock_monotonic_ms();
}

struct loop *
loop_new(void)
{
	struct loop *l;

	const char *want = getenv("HARMONY_LOOP");

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->ops = &loop_poll_ops;
#ifdef HAVE_SYS_EPOLL_H
	if (want == NULL || strcmp(want, "poll") != 0)
		l->ops = &loop_epoll_ops;
#else
	(void)want;
#endif
	if (l->ops->init(l) == -1) {
		free(l);
		return NULL;
	}
	l->defer_tail = &l->defer_head;
	l->clock_fn = default_clock;
	l->now = l->clock_fn(NULL);
	return l;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	l->ops->free(l);
	free(l->watchers);
	free(l->heap);
	free(l);
}

const char *
loop_backend(const struct loop *l)
{
	return l->ops->name;
}

int
loop_grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 64;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem) {
			errno = ENOMEM;
			return -1;
		}
		ncap *= 2;
	}
	if ((np = realloc(*p, ncap * elem)) == NULL)
		return -1;
	*p = np;
	*cap = ncap;
	return 0;
}

struct watcher *
loop_watcher_of(const struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->cap_watchers || l->watchers[fd].fn == NULL)
		return NULL;
	return &l->watchers[fd];
}

int
loop_watch(struct loop *l, int fd, short events, loop_io_fn *fn, void *arg)
{
	size_t old = l->cap_watchers;
	struct watcher *w;

	if (fd < 0 || fn == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (loop_grow((void **)&l->watchers, &l->cap_watchers, (size_t)fd + 1,
	    sizeof(*l->watchers)) == -1)
		return -1;
	for (size_t i = old; i < l->cap_watchers; i++)
		l->watchers[i] = (struct watcher){ .slot = NO_SLOT };
	w = &l->watchers[fd];
	if (w->fn != NULL) {
		errno = EEXIST;
		return -1;
	}
	w->quiet = false;
	if (l->ops->watch(l, fd, w, events) == -1)
		return -1;
	w->fn = fn;
	w->arg = arg;
	l->nwatched++;
	return 0;
}

int
loop_set_events(struct loop *l, int fd, short events)
{
	struct watcher *w;

	if ((w = loop_watcher_of(l, fd)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	return l->ops->set_events(l, fd, w, events);
}

bool
loop_watching(const struct loop *l, int fd)
{
	return loop_watcher_of(l, fd) != NULL;
}

size_t
loop_nwatched(const struct loop *l)
{
	return l->nwatched;
}

static void
unwatch(struct loop *l, int fd, bool closing)
{
	struct watcher *w;

	if ((w = loop_watcher_of(l, fd)) == NULL)
		return;
	l->nwatched--;
	w->fn = NULL;
	w->arg = NULL;
	l->ops->unwatch(l, fd, w, closing);
}

void
loop_unwatch(struct loop *l, int fd)
{
	unwatch(l, fd, false);
}

void
loop_unwatch_closing(struct loop *l, int fd)
{
	unwatch(l, fd, true);
}

/* --- timers ------------------------------------------------------------ */

static bool
timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void
heap_place(struct loop *l, size_t i, struct loop_timer *t)
{
	l->heap[i] = t;
	t->slot = i;
}

static void
heap_up(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(t, l->heap[parent]))
			break;
		heap_place(l, i, l->heap[parent]);
		i = parent;
	}
	heap_place(l, i, t);
}

static void
heap_down(struct loop *l, size_t i)
{
	struct loop_timer *t = l->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= l->nheap)
			break;
		if (c + 1 < l->nheap && timer_before(l->heap[c + 1], l->heap[c]))
			c++;
		if (!timer_before(l->heap[c], t))
			break;
		heap_place(l, i, l->heap[c]);
		i = c;
	}
	heap_place(l, i, t);
}

void
loop_timer_init(struct loop_timer *t, loop_timer_fn *fn, void *arg)
{
	*t = (struct loop_timer){ .slot = LOOP_TIMER_IDLE, .fn = fn, .arg = arg };
}

bool
loop_timer_armed(const struct loop_timer *t)
{
	return t->slot != LOOP_TIMER_IDLE;
}

void
loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	struct loop_timer *moved;
	size_t i = t->slot;

	if (i == LOOP_TIMER_IDLE)
		return;
	t->slot = LOOP_TIMER_IDLE;
	l->nheap--;
	if (i == l->nheap)
		return;
	moved = l->heap[l->nheap];
	heap_place(l, i, moved);
	heap_up(l, i);
	heap_down(l, moved->slot);
}

void
loop_timer_at(struct loop *l, struct loop_timer *t, int64_t when)
{
	loop_timer_cancel(l, t);
	/*
	 * Growing can only fail on ENOMEM; a timer that silently never fires
	 * would hang a session forever, so this is an invariant failure.
	 */
	if (loop_grow((void **)&l->heap, &l->cap_heap, l->nheap + 1,
	    sizeof(*l->heap)) == -1)
		abort();
	t->when = when;
	t->seq = l->timer_seq++;
	l->heap[l->nheap] = t;
	t->slot = l->nheap++;
	heap_up(l, t->slot);
}

void
loop_timer_add(struct loop *l, struct loop_timer *t, int64_t delay_ms)
{
	if (delay_ms < 0)
		delay_ms = 0;
	loop_timer_at(l, t, l->now + delay_ms);
}

size_t
loop_ntimers(const struct loop *l)
{
	return l->nheap;
}

size_t
loop_run_timers(struct loop *l)
{
	size_t ran = 0;
	uint64_t limit = l->timer_seq;

	/*
	 * Timers armed by callbacks during this pass (seq >= limit) wait for
	 * the next pass, so a timer re-arming itself at 0 ms cannot starve I/O.
	 */
	while (l->nheap > 0 && l->heap[0]->when <= l->now) {
		struct loop_timer *t = l->heap[0];
		int64_t next;

		if (t->seq >= limit)
			break;
		loop_timer_cancel(l, t);
		ran++;
		next = t->fn(l, t, t->arg);
		/* t may be freed now unless the callback asked to re-arm it. */
		if (next != LOOP_TIMER_STOP)
			loop_timer_add(l, t, next);
	}
	return ran;
}

/* --- deferred calls ---------------------------------------------------- */

void
loop_defer_init(struct loop_defer *d, loop_defer_fn *fn, void *arg)
{
	*d = (struct loop_defer){ .fn = fn, .arg = arg };
}

bool
loop_defer_armed(const struct loop_defer *d)
{
	return d->pprev != NULL;
}

void
loop_defer(struct loop *l, struct loop_defer *d)
{
	if (d->pprev != NULL)
		return;
	d->seq = l->defer_seq++;
	d->next = NULL;
	d->pprev = l->defer_tail;
	*l->defer_tail = d;
	l->defer_tail = &d->next;
}

void
loop_defer_cancel(struct loop *l, struct loop_defer *d)
{
	if (d->pprev == NULL)
		return;
	if (d->next != NULL)
		d->next->pprev = d->pprev;
	else
		l->defer_tail = d->pprev;
	*d->pprev = d->next;
	d->pprev = NULL;
	d->next = NULL;
}

/* Runs the calls armed before this point; those armed meanwhile wait. */
static void
run_deferred(struct loop *l)
{
	uint64_t limit = l->defer_seq;
	struct loop_defer *d;

	while ((d = l->defer_head) != NULL && d->seq < limit) {
		loop_defer_cancel(l, d);
		d->fn(l, d->arg);
	}
}

/* --- clock and running ------------------------------------------------- */

int64_t
loop_now(const struct loop *l)
{
	return l->now;
}

int64_t
loop_update_now(struct loop *l)
{
	l->now = l->clock_fn(l->clock_arg);
	return l->now;
}

void
loop_set_clock(struct loop *l, loop_clock_fn *fn, void *arg)
{
	l->clock_fn = fn ? fn : default_clock;
	l->clock_arg = arg;
	loop_update_now(l);
}

void
loop_set_prepare(struct loop *l, loop_prepare_fn *fn, void *arg)
{
	l->prepare_fn = fn;
	l->prepare_arg = arg;
}

static int
poll_timeout(struct loop *l, int64_t max_ms)
{
	int64_t t = max_ms;

	if (l->defer_head != NULL)
		t = 0;		/* armed outside a pass: run them now */
	if (l->nheap > 0) {
		int64_t d = l->heap[0]->when - l->now;
		if (d < 0)
			d = 0;
		if (t < 0 || d < t)
			t = d;
	}
	if (l->prepare_fn != NULL) {
		int64_t p = l->prepare_fn(l, l->prepare_arg);
		if (p >= 0 && (t < 0 || p < t))
			t = p;
	}
	if (t > INT_MAX)
		t = INT_MAX;
	return (int)t;
}

int
loop_run_once(struct loop *l, int64_t max_ms)
{
	if (l->ops->wait(l, poll_timeout(l, max_ms)) == -1)
		return -1;
	run_deferred(l);
	loop_run_timers(l);
	return 0;
}

int
loop_run(struct loop *l)
{
	l->stopped = false;
	loop_update_now(l);
	while (!l->stopped) {
		if (loop_run_once(l, -1) == -1)
			return -1;
	}
	return 0;
}

void
loop_stop(struct loop *l)
{
	l->stopped = true;
}

bool
loop_stopped(const struct loop *l)
{
	return l->stopped;
}
