/*
 * loop_epoll: the loop's epoll(7) backend (loop_int.h), the default on
 * Linux: with thousands of idle sessions, poll(2) spends its time walking
 * every fd on every wake-up (bench/RESULTS.md). Level-triggered, with the
 * same parking rule as poll: a parked fd stays in the set with no events,
 * a quiet one leaves it.
 *
 * Interest changes are only noted during a pass and brought to the kernel
 * just before the next epoll_wait, as HAProxy does: an fd that is parked
 * and then closed in the same pass (a session ending) costs no epoll_ctl
 * at all, and one that flips back and forth costs at most one. Watching a
 * new fd with events adds it at once, so that failure is reported to the
 * caller; a parked new fd is added with the next flush. An epoll_ctl that
 * fails at a flush is never dropped: the fd's callback gets POLLNVAL in
 * the next pass (it cannot be watched as asked: its owner ends it), and
 * that pass does not wait. Each event carries the fd and a generation
 * number, so an event for an fd that was unwatched (and maybe reused)
 * during the same pass is dropped.
 *
 * Without <sys/epoll.h> this file compiles to nothing and loop.c offers
 * poll alone.
 */
#include "autoconfig.h"

#include "core/loop_int.h"

#ifdef HAVE_SYS_EPOLL_H
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define LOOP_EPOLL_BATCH	256	/* events per epoll_wait */

static int
epoll_init(struct loop *l)
{
	if ((l->be.epoll.epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;
	return 0;
}

static void
epoll_free(struct loop *l)
{
	struct loop_epoll_state *s = &l->be.epoll;

	close(s->epfd);
	free(s->updates);
	free(s->failed);
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
	if (epoll_ctl(l->be.epoll.epfd, op, fd, &ev) == -1)
		return -1;
	w->inset = op != EPOLL_CTL_DEL;
	w->events = w->inset ? events : 0;
	return 0;
}

/* Queues fd for epoll_flush; applies at once if there is no room to. */
static int
epoll_queue(struct loop *l, int fd, struct watcher *w)
{
	struct loop_epoll_state *s = &l->be.epoll;

	if (w->queued || epoll_in_line(w))
		return 0;
	if (loop_grow((void **)&s->updates, &s->cap_updates, s->nupdates + 1,
	    sizeof(*s->updates)) == -1)
		return epoll_apply(l, fd, w);	/* no room to defer: now */
	s->updates[s->nupdates++] = fd;
	w->queued = true;
	return 0;
}

/* Notes that fd could not be watched as asked; false with no memory to. */
static bool
epoll_failed(struct loop *l, int fd, struct watcher *w)
{
	struct loop_epoll_state *s = &l->be.epoll;

	if (w->failed)
		return true;
	if (loop_grow((void **)&s->failed, &s->cap_failed, s->nfailed + 1,
	    sizeof(*s->failed)) == -1)
		return false;
	s->failed[s->nfailed++] = (struct failed_fd){ .fd = fd, .gen = w->gen };
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
	struct loop_epoll_state *s = &l->be.epoll;
	size_t keep = 0;

	for (size_t i = 0; i < s->nupdates; i++) {
		int fd = s->updates[i];
		struct watcher *w = &l->watchers[fd];

		if (w->fn != NULL && epoll_apply(l, fd, w) == -1 &&
		    !epoll_failed(l, fd, w)) {
			s->updates[keep++] = fd;
			continue;
		}
		w->queued = false;
	}
	s->nupdates = keep;
}

/* The failed flushes of the last pass: POLLNVAL to each owner. */
static void
epoll_report_failed(struct loop *l)
{
	struct loop_epoll_state *s = &l->be.epoll;
	size_t n = s->nfailed;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct failed_fd f = s->failed[i];
		struct watcher *w;

		if ((w = loop_watcher_of(l, f.fd)) == NULL || w->gen != f.gen)
			continue;
		w->failed = false;
		w->fn(l, f.fd, POLLNVAL, w->arg);
	}
	/* Failures noted meanwhile (none: flushes come later) are kept. */
	memmove(s->failed, s->failed + n, (s->nfailed - n) * sizeof(*s->failed));
	s->nfailed -= n;
}

static int
epoll_watch(struct loop *l, int fd, struct watcher *w, short events)
{
	w->gen++;
	w->events = 0;
	w->inset = false;
	w->failed = false;
	w->want = events;
	/* With events, at once: the caller hears of a failure. */
	if (events != 0 ? epoll_apply(l, fd, w) == -1 :
	    epoll_queue(l, fd, w) == -1)
		return -1;
	return 0;
}

/* Notes a change of interest, for epoll_flush to bring to the kernel. */
static int
epoll_set_events(struct loop *l, int fd, struct watcher *w, short events)
{
	w->want = events;
	if (events != 0)
		w->quiet = false;
	return epoll_queue(l, fd, w);
}

static void
epoll_unwatch(struct loop *l, int fd, struct watcher *w, bool closing)
{
	/*
	 * The fd is still open here (callers close after unwatching);
	 * closing takes it out of the set, else take it out now. A queued
	 * update of it is skipped while it is unwatched.
	 */
	w->want = 0;
	w->quiet = true;	/* out of the set */
	if (closing || epoll_apply(l, fd, w) == -1) {
		w->events = 0;
		w->inset = false;
	}
	w->quiet = false;
	w->gen++;
}

static int
epoll_wait_once(struct loop *l, int timeout)
{
	struct loop_epoll_state *s = &l->be.epoll;
	struct epoll_event evs[LOOP_EPOLL_BATCH];
	int ready;

	epoll_flush(l);
	if (s->nfailed > 0)
		timeout = 0;		/* their owners must hear of it now */
	ready = epoll_wait(s->epfd, evs, LOOP_EPOLL_BATCH, timeout);

	loop_update_now(l);
	if (ready < 0) {
		if (errno != EINTR)
			return -1;
		ready = 0;		/* signals come through the self-pipe */
	}
	epoll_report_failed(l);
	for (int i = 0; i < ready; i++) {
		int fd = (int)(uint32_t)evs[i].data.u64;
		uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
		struct watcher *w = loop_watcher_of(l, fd);
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
		if (parked && (w = loop_watcher_of(l, fd)) != NULL && w->gen == gen &&
		    w->want == 0) {
			w->quiet = true;
			(void)epoll_queue(l, fd, w);
		}
	}
	return 0;
}

const struct loop_backend_ops loop_epoll_ops = {
	.name = "epoll",
	.init = epoll_init,
	.free = epoll_free,
	.watch = epoll_watch,
	.set_events = epoll_set_events,
	.unwatch = epoll_unwatch,
	.wait = epoll_wait_once,
};
#endif /* HAVE_SYS_EPOLL_H */
