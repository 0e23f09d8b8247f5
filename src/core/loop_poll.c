/*
 * loop_poll: the portable poll(2) backend of the loop (loop_int.h), the
 * only one where there is no epoll, and chosen on Linux by
 * HARMONY_LOOP=poll.
 *
 * The pollfd array is persistent: a watched fd keeps its slot until it is
 * unwatched, and the watcher table maps fd -> slot, so watch, unwatch and
 * set_events are O(1). An fd unwatched while the loop is dispatching is
 * only marked (fd DEAD_FD in its slot) and the array is compacted after
 * the pass (libuv's posix-poll), so slots never move under the
 * dispatcher. A slot is dispatched only if it still belongs to the watcher
 * that was there at poll time.
 *
 * A parked fd keeps its slot with an empty mask; once quiet (loop_int.h)
 * its slot holds ~fd, which poll skips, until its interest is set again.
 */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>

#include "core/loop_int.h"

#define DEAD_FD	INT_MIN

static int
slot_fd(bool quiet, int fd)
{
	return quiet ? ~fd : fd;
}

static int
real_fd(int slotfd)
{
	return slotfd < 0 ? ~slotfd : slotfd;
}

static int
poll_init(struct loop *l)
{
	(void)l;
	return 0;
}

static void
poll_free(struct loop *l)
{
	free(l->be.poll.pfds);
}

static int
poll_watch(struct loop *l, int fd, struct watcher *w, short events)
{
	struct loop_poll_state *s = &l->be.poll;

	if (loop_grow((void **)&s->pfds, &s->cap_pfds, s->npfds + 1,
	    sizeof(*s->pfds)) == -1)
		return -1;
	s->pfds[s->npfds] = (struct pollfd){ .fd = fd, .events = events };
	w->slot = s->npfds++;
	return 0;
}

static int
poll_set_events(struct loop *l, int fd, struct watcher *w, short events)
{
	struct loop_poll_state *s = &l->be.poll;

	if (events != 0)
		w->quiet = false;
	s->pfds[w->slot].events = events;
	s->pfds[w->slot].fd = slot_fd(w->quiet, fd);
	return 0;
}

static void
poll_unwatch(struct loop *l, int fd, struct watcher *w, bool closing)
{
	struct loop_poll_state *s = &l->be.poll;
	size_t slot, last;

	(void)fd;
	(void)closing;
	slot = w->slot;
	w->slot = NO_SLOT;
	if (s->dispatching) {
		s->pfds[slot].fd = DEAD_FD;
		s->pfds[slot].revents = 0;
		s->need_compact = true;
		return;
	}
	last = s->npfds - 1;
	if (slot != last) {
		s->pfds[slot] = s->pfds[last];
		l->watchers[real_fd(s->pfds[slot].fd)].slot = slot;
	}
	s->npfds--;
}

static void
compact(struct loop *l)
{
	struct loop_poll_state *s = &l->be.poll;
	size_t j = 0;

	for (size_t i = 0; i < s->npfds; i++) {
		if (s->pfds[i].fd == DEAD_FD)
			continue;
		if (i != j) {
			s->pfds[j] = s->pfds[i];
			l->watchers[real_fd(s->pfds[j].fd)].slot = j;
		}
		j++;
	}
	s->npfds = j;
	s->need_compact = false;
}

static int
poll_wait(struct loop *l, int timeout)
{
	struct loop_poll_state *s = &l->be.poll;
	size_t n;
	int ready;

	ready = poll(s->pfds, (nfds_t)s->npfds, timeout);
	loop_update_now(l);
	if (ready < 0) {
		if (errno == EINTR)
			ready = 0;	/* signals come through the self-pipe */
		else
			return -1;
	}

	n = s->npfds;		/* fds watched from here on wait for the next poll */
	s->dispatching = true;
	for (size_t i = 0; i < n && ready > 0; i++) {
		struct pollfd *p = &s->pfds[i];
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
		if (rev == 0 || (w = loop_watcher_of(l, fd)) == NULL || w->slot != i)
			continue;
		parked = p->events == 0;
		w->fn(l, fd, rev, w->arg);
		/* Parked, heard of it, still parked: quiet until asked again. */
		if (parked && (w = loop_watcher_of(l, fd)) != NULL && w->slot == i &&
		    s->pfds[i].events == 0) {	/* p may have moved (realloc) */
			w->quiet = true;
			s->pfds[i].fd = slot_fd(true, fd);
		}
	}
	s->dispatching = false;
	if (s->need_compact)
		compact(l);
	return 0;
}

const struct loop_backend_ops loop_poll_ops = {
	.name = "poll",
	.init = poll_init,
	.free = poll_free,
	.watch = poll_watch,
	.set_events = poll_set_events,
	.unwatch = poll_unwatch,
	.wait = poll_wait,
};
