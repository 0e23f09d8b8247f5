/*
 * sse: the admin interface's Server-Sent Events (GET /api/v1/events).
 *
 * A tick (every SSE_TICK_MS while anyone listens) compares a stamp of
 * everything a snapshot shows (api_stamp) and builds the snapshot text once
 * per change, reference-counted and shared by every subscriber. A
 * subscriber holds at most the event it is writing and the newest snapshot
 * it has not started (a newer one replaces it: coalescing), plus flags for
 * the retry line and a ping; with nothing to write it suspends its
 * connection until the tick resumes it. So a snapshot of any size reaches
 * every subscriber, a slow one skips to the newest, and memory is at most
 * one snapshot in flight per subscriber plus the newest: SSE_MAX + 1
 * snapshots whatever their size.
 *
 * Target events (registry/events.h) go out as "event: target" as they
 * happen, in order, from the daemon's history itself: a subscriber keeps
 * only the seq of the next one it owes and the text of the one it is
 * writing (SSE_EVENT_TEXT), so a slow one costs no memory. One that
 * falls SSE_EVENTS_LAG events behind (or behind the history's oldest)
 * is sent "event: resync" instead of what it missed, then a new
 * snapshot, which shows where things stand.
 *
 * A suspended stream does not time out in libmicrohttpd, nor is it
 * watched: the tick asks its owner (hooks.reap) which suspended streams'
 * peers have gone, and the ping every SSE_PING_MS makes a write that finds
 * the rest. One that cannot be written to at all ends by libmicrohttpd's
 * own idle timeout (admin.c sets it).
 *
 * An sse borrows the loop and the api_env (they outlive it) and owns its
 * subscribers and the newest snapshot. A subscriber lives as long as the
 * libmicrohttpd response that streams to it: it is unlinked only when MHD
 * frees that response, so an sse is freed after its daemon has stopped.
 */
#ifndef HARMONY_SSE_H
#define HARMONY_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

struct api_env;
struct loop;
struct sse;

#define SSE_MAX		32		/* event subscribers */
#define SSE_TICK_MS	250		/* change check: <= 4 events/s */
#define SSE_COST_FACTOR	10		/* ... and <= 1/10 of the loop building them */
#define SSE_TICK_MAX_MS	5000		/* ... but one at least every 5 s */

/*
 * The next change check after a snapshot that took build_us to build:
 * SSE_TICK_MS, or longer when snapshots cost more (many thousand targets).
 */
int64_t		 sse_tick_after(int64_t build_us);
#define SSE_PING_MS	15000
#define SSE_RETRY_MS	2000		/* EventSource reconnect delay */
#define SSE_EVENTS_LAG	1000		/* events a subscriber may owe */
#define SSE_EVENT_TEXT	2048		/* bytes of one target event's text */

struct sse_hooks {
	/* Runs MHD: in external mode a resume does nothing until it runs. */
	void	(*run)(void *arg);
	/*
	 * Of conns[0..n) (suspended streams, which MHD does not watch),
	 * shuts down those whose peer has closed and sets gone[i] for them.
	 */
	void	(*reap)(void *arg, struct MHD_Connection *const *conns, size_t n,
		    bool *gone);
	void	*arg;
};

struct sse	*sse_new(struct loop *, struct api_env *, const struct sse_hooks *);
/* After the MHD daemon has stopped (which frees every subscriber). */
void		 sse_free(struct sse *);
/* SSE_MAX subscribers already. */
bool		 sse_full(const struct sse *);
/*
 * A new subscriber on c and the response that streams to it (200), with
 * the current snapshot as its first event; NULL if out of memory. The
 * caller queues it, then destroys its reference.
 */
struct MHD_Response *sse_subscribe(struct sse *, struct MHD_Connection *);
/* Every stream ends (with its chunked terminator, if it can take it). */
void		 sse_close_all(struct sse *);
size_t		 sse_subscribers(const struct sse *);

#endif
