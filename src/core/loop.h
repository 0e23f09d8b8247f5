/*
 * loop: the one event loop of a process (epoll on Linux, poll(2)
 * elsewhere or with HARMONY_LOOP=poll: loop_int.h, one file per backend).
 *
 * Everything harmonyd does happens in callbacks from here: fd readiness and
 * timers. The loop owns its pollfd array (or epoll set) and its timer
 * heap; it never owns the fds it watches (the watcher closes them, after
 * loop_unwatch) nor the struct loop_timer it is handed (those live inside
 * the owner's objects).
 *
 * The clock is CLOCK_MONOTONIC in milliseconds, read once per iteration
 * (loop_now); tests may install a clock of their own with loop_set_clock.
 */
#ifndef HARMONY_LOOP_H
#define HARMONY_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct loop_timer;

typedef void	loop_io_fn(struct loop *, int fd, short revents, void *arg);
/* Returns the next delay in ms, or LOOP_TIMER_STOP to leave it disarmed. */
typedef int64_t	loop_timer_fn(struct loop *, struct loop_timer *, void *arg);
typedef int64_t	loop_clock_fn(void *arg);

#define LOOP_TIMER_STOP	(-1)

/* Embedded in its owner; opaque but for its size. */
struct loop_timer {
	int64_t		 when;		/* absolute loop ms */
	size_t		 slot;		/* index in the heap, or LOOP_TIMER_IDLE */
	uint64_t	 seq;		/* tie-break: FIFO among equal deadlines */
	loop_timer_fn	*fn;
	void		*arg;
};
#define LOOP_TIMER_IDLE	((size_t)-1)

/*
 * A deferred call: runs once, after the I/O callbacks of the current pass
 * and before its timers (or, armed outside a pass, after the next poll,
 * which then does not wait). What happened anywhere in one batch of
 * readiness is known by then: HAProxy's tasks run the same way.
 */
typedef void	loop_defer_fn(struct loop *, void *arg);
struct loop_defer {
	loop_defer_fn		*fn;
	void			*arg;
	struct loop_defer	*next;
	struct loop_defer	**pprev;	/* NULL unless armed */
	uint64_t		 seq;
};

/* epoll on Linux unless HARMONY_LOOP=poll; poll(2) elsewhere. */
struct loop	*loop_new(void);
const char	*loop_backend(const struct loop *);
void		 loop_free(struct loop *);

/*
 * One fd, one watcher: watch fails with EEXIST if it is already watched.
 * An fd with no events is parked: its owner still hears of POLLERR and
 * POLLHUP (a peer's reset), once, until its events are set again. POLLNVAL
 * means the fd cannot be watched as asked (with epoll, an epoll_ctl that
 * failed after the call that asked for it): its owner must end it.
 */
int		 loop_watch(struct loop *, int fd, short events, loop_io_fn *, void *arg);
int		 loop_set_events(struct loop *, int fd, short events);
void		 loop_unwatch(struct loop *, int fd);
/*
 * The same, for an fd the caller closes right away: closing takes it out
 * of an epoll set by itself, so no epoll_ctl is spent on it. Not for an fd
 * that has a dup somewhere (epoll would keep watching the file).
 */
void		 loop_unwatch_closing(struct loop *, int fd);
bool		 loop_watching(const struct loop *, int fd);
size_t		 loop_nwatched(const struct loop *);

void		 loop_timer_init(struct loop_timer *, loop_timer_fn *, void *arg);
/* Arms, or re-arms an armed timer, delay_ms from now. */
void		 loop_timer_add(struct loop *, struct loop_timer *, int64_t delay_ms);
void		 loop_timer_at(struct loop *, struct loop_timer *, int64_t when);
void		 loop_timer_cancel(struct loop *, struct loop_timer *);
bool		 loop_timer_armed(const struct loop_timer *);
size_t		 loop_ntimers(const struct loop *);

void		 loop_defer_init(struct loop_defer *, loop_defer_fn *, void *arg);
/* Arms d unless it is armed already; armed during its own call, it runs next pass. */
void		 loop_defer(struct loop *, struct loop_defer *);
void		 loop_defer_cancel(struct loop *, struct loop_defer *);
bool		 loop_defer_armed(const struct loop_defer *);

int64_t		 loop_now(const struct loop *);
/* Re-reads the clock (loop_now is cached per iteration). */
int64_t		 loop_update_now(struct loop *);
void		 loop_set_clock(struct loop *, loop_clock_fn *, void *arg);

/* Hook called before each poll to shorten its timeout (libmicrohttpd). */
typedef int64_t	loop_prepare_fn(struct loop *, void *arg);	/* ms, -1 = none */
void		 loop_set_prepare(struct loop *, loop_prepare_fn *, void *arg);

/* Runs the timers that are due now; returns how many ran. For tests too. */
size_t		 loop_run_timers(struct loop *);
/* One poll + dispatch, waiting at most max_ms (-1: until the next timer). */
int		 loop_run_once(struct loop *, int64_t max_ms);
/* Until loop_stop; returns 0, or -1 if poll failed. */
int		 loop_run(struct loop *);
void		 loop_stop(struct loop *);
bool		 loop_stopped(const struct loop *);

int64_t		 loop_clock_monotonic_ms(void);

#endif
