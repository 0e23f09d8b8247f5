/*
 * loop: see loop.h.
 *
 * The pollfd array is persistent: a watched fd keeps its slot until it is
 * unwatched, and a per-fd table maps fd -> slot and callback, so watch,
 * unwatch and set_events are O(1). An fd unwatched while the loop is
 * dispatching is only marked (fd -1 in its slot) and the array is compacted
 * after the pass (libuv's posix-poll), so slots never move under the
 * dispatcher. A slot is dispatched only if it still belongs to the watcher
 * that was there at poll time.
 *
 * A watched fd with no events is parked: it stays in the poll set with an
 * empty mask, because poll(2) and epoll report POLLERR and POLLHUP even
 * then, and a peer that resets while its owner deliberately waits on
 * something else (backpressure, a queue) must be noticed at once. Such a
 * report reaches the owner once: if the fd is still parked after its
 * callback, it goes quiet (poll: its slot holds ~fd, which poll skips;
 * epoll: it leaves the set) until its interest is set again, so a hang-up
 * that is no error (both directions already shut) cannot spin the loop.
 * A dead slot holds DEAD_FD.
 *
 * On Linux the default backend is epoll(7) instead, level-triggered, with
 * the same parking rule: with thousands of idle sessions, poll(2) spends
 * its time walking every fd on every wake-up (bench/RESULTS.md). Interest
 * changes are only noted during a pass and brought to the kernel just
 * before the next epoll_wait, as HAProxy does: an fd that is parked and
 * then closed in the same pass (a session ending) costs no epoll_ctl at
 * all, and one that flips back and forth costs at most one. Watching a new
 * fd with events adds it at once, so that failure is reported to the
 * caller; a parked new fd is added with the next flush. An epoll_ctl that
 * fails at a flush is never dropped: the fd's callback gets POLLNVAL in
 * the next pass (it cannot be watched as asked: its owner ends it), and
 * that pass does not wait. Each event carries the fd and a generation
 * number, so an event for an fd that was unwatched (and maybe reused)
 * during the same pass is dropped. HARMONY_LOOP=poll in the environment
 * selects the portable poll(2) backend.
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
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYS_EPOLL_H
#include <sys/epoll.h>
#endif

#include "loop.h"

#define LOOP_EPOLL_BATCH	256	/* events per epoll_wait */

enum loop_kind {
	LOOP_POLL,
	LOOP_EPOLL,
};

struct watcher {
	loop_io_fn	*fn;
	void		*arg;
	size_t		 slot;		/* poll: index in pfds, or NO_SLOT */
	short		 events;	/* epoll: what the epoll set holds */
	short		 want;		/* epoll: what it should hold */
	uint32_t	 gen;		/* epoll: bumped by every watch/unwatch */
	bool		 inset;		/* epoll: in the set (maybe with no events) */
	bool		 queued;	/* epoll: on the update list */
	bool		 failed;	/* epoll: on the failed list */
	bool		 quiet;		/* parked, and its hang-up was reported */
};
#define NO_SLOT	((size_t)-1)
#define DEAD_FD	INT_MIN

/* An epoll_ctl that failed at a flush, for the owner to hear of. */
struct failed_fd {
	int		 fd;
	uint32_t	 gen;
};

static struct watcher *watcher_of(const struct loop *, int);

static int
slot_fd(bool quiet, int fd)
{
	return quiet ? ~fd : fd;
}

struct loop {
	enum loop_kind	  kind;
	int		  epfd;
	struct pollfd	 *pfds;
	size_t		  npfds;
	size_t		  cap_pfds;
	struct watcher	 *watchers;	/* indexed by fd */
	size_t		  cap_watchers;
	size_t		  nwatched;
	int		 *updates;	/* epoll: fds whose interest changed */
	size_t		  nupdates;
	size_t		  cap_updates;
	struct failed_fd *failed;	/* epoll: flushes that failed */
	size_t		  nfailed;
	size_t		  cap_failed;
	bool		  dispatching;
	bool		  need_compact;

	struct loop_defer *defer_head;	/* FIFO of armed deferred calls */
	struct loop_defer **defer_tail;
	uint64_t	  defer_seq;

	struct loop_timer **heap;
	size_t		  nheap;
	size_t		  cap_heap;
	uint64_t	  timer_seq;

	int64_t		  now;
	loop_clock_fn	 *clock_fn;
	void		 *clock_arg;
	loop_prepare_fn	 *prepare_fn;
	void		 *prepare_arg;
	bool		  stopped;
};

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
	l->kind = LOOP_POLL;
	l->epfd = -1;
#ifdef HAVE_SYS_EPOLL_H
	if (want == NULL || strcmp(want, "poll") != 0) {
		if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
			free(l);
			return NULL;
		}
		l->kind = LOOP_EPOLL;
	}
#else
	(void)want;
#endif
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
	if (l->epfd != -1)
		close(l->epfd);
	free(l->pfds);
	free(l->updates);
	free(l->failed);
	free(l->watchers);
	free(l->heap);
	free(l);
}

static int
grow(void **p, size_t *cap, size_t need, size_t elem)
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

/* Whether the epoll set already holds what w asks for. */
static bool
epoll_in_line(const struct watcher *w)
{
	if (w->quiet)
		return !w->inset;
	return w->inset && w->events == w->want;
}

/*
 * Brings the epoll set in line with w->want: a parked fd stays in the set
 * with no events (errors and hang-ups are still reported), a quiet one
 * leaves it. A syscall only on a change.
 */
static int
epoll_apply(struct loop *l, int fd, struct watcher *w)
{
#ifdef HAVE_SYS_EPOLL_H
	struct epoll_event ev = { .events = 0 };
	short events = w->want;
	int op;

	if (epoll_in_line(w))
		return 0;
	if (w->quiet)
		op = EPOLL_CTL_DEL;
	else
		op = w->inset ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (events & POLLIN)
		ev.events |= EPOLLIN;
	if (events & POLLOUT)
		ev.events |= EPOLLOUT;
	ev.data.u64 = (uint64_t)w->gen << 32 | (uint32_t)fd;
	if (epoll_ctl(l->epfd, op, fd, &ev) == -1)
		return -1;
	w->inset = op != EPOLL_CTL_DEL;
	w->events = w->inset ? events : 0;
	return 0;
#else
	(void)l; (void)fd; (void)w;
	errno = ENOSYS;
	return -1;
#endif
}

/* Queues fd for epoll_flush; applies at once if there is no room to. */
static int
epoll_queue(struct loop *l, int fd, struct watcher *w)
{
	if (w->queued || epoll_in_line(w))
		return 0;
	if (grow((void **)&l->updates, &l->cap_updates, l->nupdates + 1,
	    sizeof(*l->updates)) == -1)
		return epoll_apply(l, fd, w);	/* no room to defer: now */
	l->updates[l->nupdates++] = fd;
	w->queued = true;
	return 0;
}

/* Notes a change of interest, for epoll_flush to bring to the kernel. */
static int
epoll_interest(struct loop *l, int fd, struct watcher *w, short events)
{
	w->want = events;
	if (events != 0)
		w->quiet = false;
	return epoll_queue(l, fd, w);
}

/* Notes that fd could not be watched as asked; false with no memory to. */
static bool
epoll_failed(struct loop *l, int fd, struct watcher *w)
{
	if (w->failed)
		return true;
	if (grow((void **)&l->failed, &l->cap_failed, l->nfailed + 1,
	    sizeof(*l->failed)) == -1)
		return false;
	l->failed[l->nfailed++] = (struct failed_fd){ .fd = fd, .gen = w->gen };
	w->failed = true;
	return true;
}

/*
 * Before each epoll_wait: every change noted in the pass, in one go. A
 * failure goes to the fd's owner; with no memory even to note it, the fd
 * stays queued and the next flush tries again: never silently unarmed.
 */
static void
epoll_flush(struct loop *l)
{
	size_t keep = 0;

	for (size_t i = 0; i < l->nupdates; i++) {
		int fd = l->updates[i];
		struct watcher *w = &l->watchers[fd];

		if (w->fn != NULL && epoll_apply(l, fd, w) == -1 &&
		    !epoll_failed(l, fd, w)) {
			l->updates[keep++] = fd;
			continue;
		}
		w->queued = false;
	}
	l->nupdates = keep;
}

/* The failed flushes of the last pass: POLLNVAL to each owner. */
static void
epoll_report_failed(struct loop *l)
{
	size_t n = l->nfailed;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct failed_fd f = l->failed[i];
		struct watcher *w;

		if ((w = watcher_of(l, f.fd)) == NULL || w->gen != f.gen)
			continue;
		w->failed = false;
		w->fn(l, f.fd, POLLNVAL, w->arg);
	}
	/* Failures noted meanwhile (none: flushes come later) are kept. */
	memmove(l->failed, l->failed + n, (l->nfailed - n) * sizeof(*l->failed));
	l->nfailed -= n;
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
	if (grow((void **)&l->watchers, &l->cap_watchers, (size_t)fd + 1,
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
	if (l->kind == LOOP_EPOLL) {
		w->gen++;
		w->events = 0;
		w->inset = false;
		w->failed = false;
		w->want = events;
		/* With events, at once: the caller hears of a failure. */
		if (events != 0 ? epoll_apply(l, fd, w) == -1 :
		    epoll_queue(l, fd, w) == -1)
			return -1;
	} else {
		if (grow((void **)&l->pfds, &l->cap_pfds, l->npfds + 1,
		    sizeof(*l->pfds)) == -1)
			return -1;
		l->pfds[l->npfds] = (struct pollfd){ .fd = fd, .events = events };
		w->slot = l->npfds++;
	}
	w->fn = fn;
	w->arg = arg;
	l->nwatched++;
	return 0;
}

static int
real_fd(int slotfd)
{
	return slotfd < 0 ? ~slotfd : slotfd;
}

static struct watcher *
watcher_of(const struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->cap_watchers || l->watchers[fd].fn == NULL)
		return NULL;
	return &l->watchers[fd];
}

int
loop_set_events(struct loop *l, int fd, short events)
{
	struct watcher *w;

	if ((w = watcher_of(l, fd)) == NULL) {
		errno = ENOENT;
		return -1;
	}
	if (l->kind == LOOP_EPOLL)
		return epoll_interest(l, fd, w, events);
	if (events != 0)
		w->quiet = false;
	l->pfds[w->slot].events = events;
	l->pfds[w->slot].fd = slot_fd(w->quiet, fd);
	return 0;
}

bool
loop_watching(const struct loop *l, int fd)
{
	return watcher_of(l, fd) != NULL;
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
	size_t slot, last;

	if ((w = watcher_of(l, fd)) == NULL)
		return;
	l->nwatched--;
	w->fn = NULL;
	w->arg = NULL;
	if (l->kind == LOOP_EPOLL) {
		/*
		 * The fd is still open here (callers close after unwatching);
		 * closing takes it out of the set, else take it out now. A
		 * queued update of it is skipped while it is unwatched.
		 */
		w->want = 0;
		w->quiet = true;	/* out of the set */
		if (closing || epoll_apply(l, fd, w) == -1) {
			w->events = 0;
			w->inset = false;
		}
		w->quiet = false;
		w->gen++;
		return;
	}
	slot = w->slot;
	w->slot = NO_SLOT;
	if (l->dispatching) {
		l->pfds[slot].fd = DEAD_FD;
		l->pfds[slot].revents = 0;
		l->need_compact = true;
		return;
	}
	last = l->npfds - 1;
	if (slot != last) {
		l->pfds[slot] = l->pfds[last];
		l->watchers[real_fd(l->pfds[slot].fd)].slot = slot;
	}
	l->npfds--;
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

static void
compact(struct loop *l)
{
	size_t j = 0;

	for (size_t i = 0; i < l->npfds; i++) {
		if (l->pfds[i].fd == DEAD_FD)
			continue;
		if (i != j) {
			l->pfds[j] = l->pfds[i];
			l->watchers[real_fd(l->pfds[j].fd)].slot = j;
		}
		j++;
	}
	l->npfds = j;
	l->need_compact = false;
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
	if (grow((void **)&l->heap, &l->cap_heap, l->nheap + 1, sizeof(*l->heap)) == -1)
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

#ifdef HAVE_SYS_EPOLL_H
static int
epoll_run_once(struct loop *l, int timeout)
{
	struct epoll_event evs[LOOP_EPOLL_BATCH];
	int ready;

	epoll_flush(l);
	if (l->nfailed > 0)
		timeout = 0;		/* their owners must hear of it now */
	ready = epoll_wait(l->epfd, evs, LOOP_EPOLL_BATCH, timeout);

	loop_update_now(l);
	if (ready < 0) {
		if (errno != EINTR)
			return -1;
		ready = 0;		/* signals come through the self-pipe */
	}
	l->dispatching = true;
	epoll_report_failed(l);
	for (int i = 0; i < ready; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		struct watcher *w = watcher_of(l, fd);
		short rev = 0;
		bool parked;

		/* Unwatched, or unwatched and watched again, earlier in this pass. */
		if (w == NULL || w->gen != gen)
			continue;
		if (evs[i].events & EPOLLIN)
			rev |= POLLIN;
		if (evs[i].events & EPOLLOUT)
			rev |= POLLOUT;
		if (evs[i].events & EPOLLERR)
			rev |= POLLERR;
		if (evs[i].events & EPOLLHUP)
			rev |= POLLHUP;
		rev &= (short)(w->want | POLLERR | POLLHUP);
		if (rev == 0)
			continue;
		parked = w->want == 0;
		w->fn(l, fd, rev, w->arg);
		/* Parked, heard of it, still parked: quiet until asked again. */
		if (parked && (w = watcher_of(l, fd)) != NULL && w->gen == gen &&
		    w->want == 0) {
			w->quiet = true;
			(void)epoll_queue(l, fd, w);
		}
	}
	l->dispatching = false;
	run_deferred(l);
	loop_run_timers(l);
	return 0;
}
#endif

const char *
loop_backend(const struct loop *l)
{
	return l->kind == LOOP_EPOLL ? "epoll" : "poll";
}

int
loop_run_once(struct loop *l, int64_t max_ms)
{
	size_t n;
	int ready;

#ifdef HAVE_SYS_EPOLL_H
	if (l->kind == LOOP_EPOLL)
		return epoll_run_once(l, poll_timeout(l, max_ms));
#endif

	ready = poll(l->pfds, (nfds_t)l->npfds, poll_timeout(l, max_ms));
	loop_update_now(l);
	if (ready < 0) {
		if (errno == EINTR)
			ready = 0;	/* signals come through the self-pipe */
		else
			return -1;
	}

	n = l->npfds;		/* fds watched from here on wait for the next poll */
	l->dispatching = true;
	for (size_t i = 0; i < n && ready > 0; i++) {
		struct pollfd *p = &l->pfds[i];
		struct watcher *w;
		short rev = p->revents;
		bool parked;
		int fd = p->fd;

		if (rev == 0 || fd < 0)
			continue;
		ready--;
		p->revents = 0;
		/* Only what was asked for, plus the conditions poll always reports. */
		rev &= (short)(p->events | POLLERR | POLLHUP | POLLNVAL);
		if (rev == 0 || (w = watcher_of(l, fd)) == NULL || w->slot != i)
			continue;
		parked = p->events == 0;
		w->fn(l, fd, rev, w->arg);
		/* Parked, heard of it, still parked: quiet until asked again. */
		if (parked && (w = watcher_of(l, fd)) != NULL && w->slot == i &&
		    l->pfds[i].events == 0) {	/* p may have moved (realloc) */
			w->quiet = true;
			l->pfds[i].fd = slot_fd(true, fd);
		}
	}
	l->dispatching = false;
	if (l->need_compact)
		compact(l);
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
