/*
 * events: what happened to targets, and who did it: a bounded history.
 *
 * An event is one change of one target (registered, up, down, failing,
 * draining, removed, weight, check), made by pool.c where the change
 * happens. The history is a ring of EVENTS_HISTORY_MAX events held by
 * value: it is allocated once, when the first event comes, and never
 * grows; the oldest event makes room for the newest. Every event gets the
 * next seq (1, 2, ...), so a reader that keeps the seq it is at can tell
 * what it missed (events_get returns NULL for one pushed out).
 *
 * One ring serves the pools of one harmonyd (pool_shared in pool.h), so
 * the events of every service interleave in the order they happened. Pure
 * logic over structs: no loop, no I/O; the clock is the caller's.
 */
#ifndef HARMONY_EVENTS_H
#define HARMONY_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/service.h"
#include "registry/pool.h"

#define EVENTS_HISTORY_MAX	10000
#define EVENTS_REASON_MAX	160	/* bytes of a reason, cut beyond */

enum event_kind {
	EVENT_REGISTERED,
	EVENT_UP,
	EVENT_DOWN,
	EVENT_FAILING,
	EVENT_DRAINING,
	EVENT_REMOVED,
	EVENT_WEIGHT,
	EVENT_CHECK,
	EVENT_KINDS
};

struct event {
	uint64_t		 seq;		/* given by events_add */
	int64_t			 time_ms;	/* wall clock, epoch ms */
	char			 service[SERVICE_NAME_MAX + 1];
	uint32_t		 target;
	char			 name[TARGET_NAME_MAX];
	enum event_kind		 kind;
	bool			 has_from;	/* state events and removed */
	bool			 has_to;	/* state events and registered */
	enum target_state	 from;
	enum target_state	 to;
	enum pool_actor		 by;
	char			 reason[EVENTS_REASON_MAX];	/* "": none */
	int64_t			 latency_ms;	/* check events; -1: none */
	uint32_t		 weight;	/* weight events; 0: none */
	bool			 passed;	/* check events: the new verdict */
};

struct events;
/* capacity 0 means EVENTS_HISTORY_MAX. */
struct events	*events_new(size_t capacity);
void		 events_free(struct events *);
/*
 * Copies ev in with the next seq and returns the copy (valid until the
 * next add), or NULL when the ring could not be allocated (counted in
 * events_dropped).
 */
const struct event *events_add(struct events *, const struct event *ev);
/* The event with that seq, or NULL if it is gone or not yet made. */
const struct event *events_get(const struct events *, uint64_t seq);
/*
 * Walks back from the newest: the next older event held than *cursor
 * (0: from the newest) of service (NULL: any) and target (0: any), or
 * NULL; *cursor becomes its seq.
 */
const struct event *events_back(const struct events *, uint64_t *cursor,
		    const char *service, uint32_t target);
uint64_t	 events_last_seq(const struct events *);	/* 0: none yet */
uint64_t	 events_first_seq(const struct events *);	/* oldest held */
size_t		 events_count(const struct events *);
size_t		 events_capacity(const struct events *);
/* Events made but no longer held: pushed out of the ring, or never stored. */
uint64_t	 events_dropped(const struct events *);
/*
 * One listener, told after each add (the SSE stream wakes on it); fn NULL
 * removes it.
 */
typedef void	events_fn(void *arg);
void		 events_listen(struct events *, events_fn *, void *arg);

const char	*event_kind_name(enum event_kind);
/* The text of s (the reason of an event), cut to fit without cutting a character. */
void		 event_set_reason(struct event *, const char *s);

#endif
