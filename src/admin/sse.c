/*
 * sse: see sse.h.
 *
 * libmicrohttpd pulls a stream's bytes through sse_read (its content
 * reader callback). With nothing to write, sse_read suspends the
 * connection (legal from there); the tick resumes it when there is news
 * and then runs MHD through hooks.run, since with no ITC in external mode
 * a resume does nothing until MHD runs.
 */
#include "autoconfig.h"

#include <sys/queue.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/api.h"
#include "admin/sse.h"
#include "core/loop.h"
#include "registry/events.h"

#define SSE_BLOCK	(16 * 1024)	/* bytes MHD asks sse_read for */

/* One snapshot event's text, shared; freed with its last reference. */
struct sse_snap {
	size_t			 refs;
	size_t			 len;
	char			 text[];	/* "event: snapshot\ndata: {...}\n\n" */
};

struct sse_sub {
	TAILQ_ENTRY(sse_sub)	 entry;
	struct sse		*sse;
	struct MHD_Connection	*conn;
	/* The event being written: text[off..len), from cur if a snapshot. */
	const char		*text;
	size_t			 off;
	size_t			 len;
	struct sse_snap		*cur;
	struct sse_snap		*next;		/* newest snapshot not started */
	uint64_t		 gen;		/* generation of the last one taken */
	uint64_t		 ev_next;	/* seq of the next target event owed */
	bool			 want_retry;
	bool			 want_ping;
	bool			 suspended;
	bool			 closing;
	char			 evtext[SSE_EVENT_TEXT];	/* a target event or resync */
};

struct sse {
	struct loop		*loop;
	struct api_env		*env;
	struct sse_hooks	 hooks;
	struct loop_timer	 timer;
	TAILQ_HEAD(, sse_sub)	 subs;
	size_t			 nsubs;
	struct api_stamp	 stamp;
	uint64_t		 gen;		/* bumped when stamp changes */
	struct sse_snap		*snap;		/* the event of generation snap_gen */
	uint64_t		 snap_gen;
	int64_t			 last_ping;
	int64_t			 build_us;	/* the last snapshot's build time */
	struct events		*events;	/* the daemon's, once subscribed to */
	struct loop_defer	 on_event;	/* wakes the subscribers */
};

#define SSE_STR(x)	#x
#define SSE_XSTR(x)	SSE_STR(x)
static const char sse_retry_text[] = "retry: " SSE_XSTR(SSE_RETRY_MS) "\n\n";
static const char sse_ping_text[] = ": ping\n\n";

static void
snap_unref(struct sse_snap *sn)
{
	if (sn != NULL && --sn->refs == 0)
		free(sn);
}

static struct sse_snap *
snap_ref(struct sse_snap *sn)
{
	sn->refs++;
	return sn;
}

/* The loop's clock is in ms: a snapshot's cost is measured finer. */
static int64_t
mono_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return 0;
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * SSE_COST_FACTOR times the build time: building snapshots never takes
 * more than a tenth of the loop, however many targets and watchers.
 */
int64_t
sse_tick_after(int64_t build_us)
{
	int64_t ms = build_us * SSE_COST_FACTOR / 1000;

	return ms > SSE_TICK_MS ? (ms < SSE_TICK_MAX_MS ? ms : SSE_TICK_MAX_MS) :
	    SSE_TICK_MS;
}

/* Bumps the generation if anything a snapshot shows has changed. */
static void
sse_refresh(struct sse *e)
{
	struct api_stamp now;

	api_stamp(e->env, &now);
	if (!api_stamp_equal(&now, &e->stamp)) {
		e->stamp = now;
		e->gen++;
	}
}

/* The event of the current generation, built at most once per generation. */
static struct sse_snap *
sse_event(struct sse *e)
{
	static const char head[] = "event: snapshot\ndata: ";
	struct sse_snap *sn;
	char *json;
	size_t len = 0;
	int64_t t0;

	if (e->snap != NULL && e->snap_gen == e->gen)
		return e->snap;
	snap_unref(e->snap);		/* subscribers keep theirs */
	e->snap = NULL;
	t0 = mono_us();
	json = api_snapshot(e->env, &len);
	e->build_us = mono_us() - t0;
	if (json == NULL)
		return NULL;
	/* PLAIN JSON has no newline, so one data: line carries it all. */
	if ((sn = malloc(sizeof(*sn) + sizeof(head) - 1 + len + 3)) != NULL) {
		sn->refs = 1;
		sn->len = sizeof(head) - 1 + len + 2;
		memcpy(sn->text, head, sizeof(head) - 1);
		memcpy(sn->text + sizeof(head) - 1, json, len);
		memcpy(sn->text + sizeof(head) - 1 + len, "\n\n", 3);
		e->snap = sn;
		e->snap_gen = e->gen;
	}
	free(json);
	return e->snap;
}

/* The newest snapshot replaces one s has not started yet. */
static void
sse_offer(struct sse *e, struct sse_sub *s)
{
	struct sse_snap *sn;

	if (s->gen == e->gen || (sn = sse_event(e)) == NULL)
		return;
	snap_unref(s->next);
	s->next = snap_ref(sn);
	s->gen = e->gen;
}

static bool
sse_events_owed(const struct sse_sub *s)
{
	return s->sse->events != NULL && !s->closing &&
	    s->ev_next <= events_last_seq(s->sse->events);
}

static bool
sse_pending(const struct sse_sub *s)
{
	return s->off < s->len || s->want_retry || s->next != NULL || s->want_ping ||
	    sse_events_owed(s);
}

/*
 * The next target event s owes into its own buffer, or a resync if it
 * fell behind; false if it owes none.
 */
static bool
sse_take_event(struct sse_sub *s)
{
	struct sse *e = s->sse;
	const struct event *ev;
	uint64_t last;
	size_t n;

	if (e->events == NULL)
		return false;
	last = events_last_seq(e->events);
	while (s->ev_next <= last) {
		if (s->ev_next < events_first_seq(e->events) ||
		    last - s->ev_next >= SSE_EVENTS_LAG) {
			int w = snprintf(s->evtext, sizeof(s->evtext),
			    "event: resync\ndata: {\"missed\": %llu}\n\n",
			    (unsigned long long)(last + 1 - s->ev_next));

			s->ev_next = last + 1;
			s->gen = 0;		/* a snapshot follows */
			sse_offer(e, s);
			s->text = s->evtext;
			s->len = w > 0 ? (size_t)w : 0;
			return s->len > 0;
		}
		ev = events_get(e->events, s->ev_next++);
		if (ev != NULL && (n = api_event_text(ev, s->evtext,
		    sizeof(s->evtext))) > 0) {
			s->text = s->evtext;
			s->len = n;
			return true;
		}
	}
	return false;
}

/* Starts s's next event, in this order; false if it has none. */
static bool
sse_next(struct sse_sub *s)
{
	snap_unref(s->cur);
	s->cur = NULL;
	s->text = NULL;
	s->off = s->len = 0;
	if (s->want_retry) {
		s->want_retry = false;
		s->text = sse_retry_text;
		s->len = sizeof(sse_retry_text) - 1;
	} else if (!s->closing && sse_take_event(s)) {
		s->want_ping = false;
	} else if (s->next != NULL && !s->closing) {
		s->cur = s->next;
		s->next = NULL;
		s->text = s->cur->text;
		s->len = s->cur->len;
		s->want_ping = false;	/* an event shows the line alive too */
	} else if (s->want_ping && !s->closing) {
		s->want_ping = false;
		s->text = sse_ping_text;
		s->len = sizeof(sse_ping_text) - 1;
	}
	return s->len > 0;
}

static ssize_t
sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse_sub *s = cls;
	size_t n;

	(void)pos;
	if (s->off == s->len && !sse_next(s)) {
		if (s->closing)
			return MHD_CONTENT_READER_END_OF_STREAM;
		/* Legal from here; the tick resumes it when there is news. */
		s->suspended = true;
		MHD_suspend_connection(s->conn);
		return 0;
	}
	n = s->len - s->off;
	if (n > max)
		n = max;
	memcpy(buf, s->text + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void
sse_sub_free(struct sse_sub *s)
{
	snap_unref(s->cur);
	snap_unref(s->next);
	free(s);
}

/* MHD is done with the response: the only place a subscriber goes. */
static void
sse_on_response_free(void *cls)
{
	struct sse_sub *s = cls;
	struct sse *e = s->sse;

	TAILQ_REMOVE(&e->subs, s, entry);
	e->nsubs--;
	sse_sub_free(s);
}

/* Resumes s if it waits and has something to say; true if it did. */
static bool
sse_wake(struct sse_sub *s)
{
	if (!s->suspended || (!sse_pending(s) && !s->closing))
		return false;
	s->suspended = false;
	MHD_resume_connection(s->conn);
	return true;
}

/*
 * A suspended stream is not watched by MHD: one whose client has gone is
 * ended here, not at the next ping.
 */
static void
sse_reap(struct sse *e)
{
	struct MHD_Connection *conns[SSE_MAX];
	struct sse_sub *subs[SSE_MAX], *s;
	bool gone[SSE_MAX];
	size_t n = 0;

	TAILQ_FOREACH(s, &e->subs, entry) {
		if (n == SSE_MAX)
			break;
		if (s->closing || !s->suspended)
			continue;
		gone[n] = false;
		conns[n] = s->conn;
		subs[n++] = s;
	}
	if (n == 0)
		return;
	e->hooks.reap(e->hooks.arg, conns, n, gone);
	for (size_t i = 0; i < n; i++)
		if (gone[i])
			subs[i]->closing = true;
}

/* Something happened to a target: its event goes out now, not at the tick. */
static void
sse_on_event_defer(struct loop *l, void *arg)
{
	struct sse *e = arg;
	struct sse_sub *s;
	bool woke = false;

	(void)l;
	TAILQ_FOREACH(s, &e->subs, entry)
		woke |= sse_wake(s);
	if (woke)
		e->hooks.run(e->hooks.arg);
}

static void
sse_on_event(void *arg)
{
	struct sse *e = arg;

	if (e->nsubs > 0)
		loop_defer(e->loop, &e->on_event);
}

static int64_t
sse_on_tick(struct loop *l, struct loop_timer *t, void *arg)
{
	struct sse *e = arg;
	struct sse_sub *s;
	bool ping, woke = false;

	(void)t;
	if (e->nsubs == 0)
		return LOOP_TIMER_STOP;
	sse_reap(e);
	sse_refresh(e);
	/* A vanished subscriber is only noticed when something is written. */
	if ((ping = loop_now(l) - e->last_ping >= SSE_PING_MS))
		e->last_ping = loop_now(l);
	TAILQ_FOREACH(s, &e->subs, entry) {
		if (s->closing) {
			woke |= sse_wake(s);
			continue;
		}
		sse_offer(e, s);
		if (ping)
			s->want_ping = true;
		woke |= sse_wake(s);
	}
	if (woke)
		e->hooks.run(e->hooks.arg);
	return e->nsubs > 0 ? sse_tick_after(e->build_us) : LOOP_TIMER_STOP;
}

struct sse *
sse_new(struct loop *l, struct api_env *env, const struct sse_hooks *hooks)
{
	struct sse *e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->loop = l;
	e->env = env;
	e->hooks = *hooks;
	e->gen = 1;
	e->last_ping = loop_now(l);
	TAILQ_INIT(&e->subs);
	loop_timer_init(&e->timer, sse_on_tick, e);
	loop_defer_init(&e->on_event, sse_on_event_defer, e);
	return e;
}

void
sse_free(struct sse *e)
{
	if (e == NULL)
		return;
	loop_timer_cancel(e->loop, &e->timer);
	loop_defer_cancel(e->loop, &e->on_event);
	if (e->events != NULL)
		events_listen(e->events, NULL, NULL);
	snap_unref(e->snap);
	free(e);
}

bool
sse_full(const struct sse *e)
{
	return e->nsubs >= SSE_MAX;
}

static void
add_header(struct MHD_Response *r, const char *name, const char *value)
{
	/* Fails only for bad header text or no memory; nothing to undo. */
	(void)MHD_add_response_header(r, name, value);
}

struct MHD_Response *
sse_subscribe(struct sse *e, struct MHD_Connection *c)
{
	struct MHD_Response *r;
	struct sse_sub *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->sse = e;
	s->conn = c;
	s->want_retry = true;
	/* The pools are made by now; the history outlives this sse (sse.h). */
	if (e->events == NULL && (e->events = api_events(e->env)) != NULL)
		events_listen(e->events, sse_on_event, e);
	if (e->events != NULL)
		s->ev_next = events_last_seq(e->events) + 1;
	sse_refresh(e);
	sse_offer(e, s);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK,
	    sse_read, s, sse_on_response_free);
	if (r == NULL) {
		sse_sub_free(s);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&e->subs, s, entry);
	e->nsubs++;
	add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
	add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	add_header(r, "X-Content-Type-Options", "nosniff");
	add_header(r, "X-Accel-Buffering", "no");
	/* If queueing fails, destroying r frees s. */
	if (!loop_timer_armed(&e->timer))
		loop_timer_add(e->loop, &e->timer, SSE_TICK_MS);
	return r;
}

void
sse_close_all(struct sse *e)
{
	struct sse_sub *s;
	bool woke = false;

	TAILQ_FOREACH(s, &e->subs, entry) {
		s->closing = true;
		woke |= sse_wake(s);
	}
	if (woke)
		e->hooks.run(e->hooks.arg);
}

size_t
sse_subscribers(const struct sse *e)
{
	return e->nsubs;
}
