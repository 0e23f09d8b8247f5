/*
 * loop_int: what loop.c shares with its backends, loop_poll.c and
 * loop_epoll.c, and nothing else includes.
 *
 * loop.c owns the public API, the per-fd watcher table, timers, deferred
 * calls and the clock; a backend owns how the kernel is told which fds to
 * watch and how one wait is dispatched, behind struct loop_backend_ops (one
 * file per backend, as libuv keeps src/unix/epoll.c apart).
 *
 * The parking rule is the same in both: a watched fd with no events stays
 * watched with an empty mask, because poll(2) and epoll report POLLERR
 * and POLLHUP even then, and a peer that resets while its owner
 * deliberately waits on something else (backpressure, a queue) must be
 * noticed at once. Such a report reaches the owner once: if the fd is
 * still parked after its callback, it goes quiet (the backend stops
 * watching it) until its interest is set again, so a hang-up that is no
 * error (both directions already shut) cannot spin the loop.
 */
#ifndef HARMONY_LOOP_INT_H
#define HARMONY_LOOP_INT_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"

struct watcher {
	loop_io_fn	*fn;		/* NULL: not watched */
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

/* An epoll_ctl that failed at a flush, for the owner to hear of. */
struct failed_fd {
	int		 fd;
	uint32_t	 gen;
};

struct loop_poll_state {
	struct pollfd	 *pfds;
	size_t		  npfds;
	size_t		  cap_pfds;
	bool		  dispatching;
	bool		  need_compact;
};

struct loop_epoll_state {
	int		  epfd;
	int		 *updates;	/* fds whose interest changed */
	size_t		  nupdates;
	size_t		  cap_updates;
	struct failed_fd *failed;	/* flushes that failed */
	size_t		  nfailed;
	size_t		  cap_failed;
};

/*
 * A backend. loop.c checks the arguments and keeps the watcher table:
 * watch gets a watcher that is not watched yet (fn still NULL, set by the
 * caller on success), set_events and unwatch a watched one (unwatch after
 * fn was cleared). wait tells the kernel what changed, waits at most
 * timeout ms (-1: no limit), updates the clock and dispatches; loop.c
 * then runs the deferred calls and the timers.
 */
struct loop_backend_ops {
	const char	*name;
	int		(*init)(struct loop *);
	void		(*free)(struct loop *);
	int		(*watch)(struct loop *, int fd, struct watcher *, short events);
	int		(*set_events)(struct loop *, int fd, struct watcher *, short events);
	void		(*unwatch)(struct loop *, int fd, struct watcher *, bool closing);
	int		(*wait)(struct loop *, int timeout);
};

extern const struct loop_backend_ops loop_poll_ops;
#ifdef HAVE_SYS_EPOLL_H
extern const struct loop_backend_ops loop_epoll_ops;
#endif

struct loop {
	const struct loop_backend_ops *ops;
	union {
		struct loop_poll_state	poll;
		struct loop_epoll_state	epoll;
	} be;
	struct watcher	 *watchers;	/* indexed by fd */
	size_t		  cap_watchers;
	size_t		  nwatched;

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

/* Grows *p (of *cap elements of elem bytes) to hold need; -1 on ENOMEM. */
int		 loop_grow(void **p, size_t *cap, size_t need, size_t elem);
/* fd's watcher, or NULL if fd is not watched. */
struct watcher	*loop_watcher_of(const struct loop *, int fd);

#endif
