/*
 * proxy: see proxy.h; the parts are drawn in proxy_int.h.
 *
 * This file holds the proxy object: its parameters and counters, and what
 * a change of them does to every session: more concurrency releases queued
 * clients, and a new idle timeout reaches running sessions.
 */
#include "autoconfig.h"

#include <sys/queue.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "proxy/proxy.h"
#include "proxy/proxy_int.h"
#include "proxy/relay.h"
#include "proxy/relaycache.h"

#define PROXY_IDLE_BATCH	1024	/* sessions re-armed per loop pass */

/* NOLINTNEXTLINE(misc-redundant-expression): two names of one size, kept equal */
_Static_assert(PROXY_BUF_SIZE == RELAY_BUF_SIZE, "proxy.h tells the relay's buffer size");

static struct message *
message_new(const char *data, size_t len)
{
	struct message *m;

	if ((m = malloc(sizeof(*m) + len)) == NULL)
		return NULL;
	m->refs = 1;
	m->len = len;
	if (len > 0)
		memcpy(m->data, data, len);
	return m;
}

void
message_unref(struct message *m)
{
	if (m != NULL && --m->refs == 0)
		free(m);
}

bool
proxy_slot_free(const struct proxy *px)
{
	return px->params.concurrency < 0 ||
	    px->nactive < (uint64_t)px->params.concurrency;
}

static int64_t
proxy_on_dequeue(struct loop *l, struct loop_timer *t, void *arg)
{
	struct proxy *px = arg;
	struct session *s;

	(void)l;
	(void)t;
	while (proxy_slot_free(px) && (s = TAILQ_FIRST(&px->queue)) != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): session_start dequeues s */
		session_start(s);
	listeners_update(px);
	return LOOP_TIMER_STOP;
}

/*
 * A new idle timeout (SIGHUP) reaches running sessions: each relaying one
 * gets the deadline last_active + the new timeout, or none for 0. Sessions
 * that start later arm it themselves. Done in batches, one per loop pass,
 * so that many sessions never stall the loop: a visited session moves to
 * the tail, where new sessions go too, so the head holds those still to
 * visit (one closed meanwhile only means a session is visited twice).
 */
static int64_t
proxy_on_idle_change(struct loop *l, struct loop_timer *timer, void *arg)
{
	struct proxy *px = arg;
	int64_t idle = px->params.idle_timeout_ms;
	struct session *s;

	(void)timer;
	for (size_t n = 0; n < PROXY_IDLE_BATCH && px->idle_left > 0; n++) {
		px->idle_left--;
		if ((s = TAILQ_FIRST(&px->sessions)) == NULL)
			break;
		TAILQ_REMOVE(&px->sessions, s, entry);
		TAILQ_INSERT_TAIL(&px->sessions, s, entry);
		if (s->state != S_RELAY)
			continue;
		if (idle > 0)
			loop_timer_at(l, &s->timer, relay_last_active(&s->relay) + idle);
		else
			loop_timer_cancel(l, &s->timer);
	}
	if (TAILQ_EMPTY(&px->sessions))
		px->idle_left = 0;
	return px->idle_left > 0 ? 0 : LOOP_TIMER_STOP;
}

static void
proxy_apply_idle_timeout(struct proxy *px)
{
	px->idle_left = px->nsessions;
	if (px->idle_left > 0)
		loop_timer_add(px->loop, &px->idle_timer, 0);
}

/* --- public ------------------------------------------------------------ */

struct proxy *
proxy_new(struct loop *l, struct pool *pool, struct balancer *b,
    struct persist *persist, const struct proxy_params *params)
{
	struct proxy *px;

	if ((px = calloc(1, sizeof(*px))) == NULL)
		return NULL;
	px->loop = l;
	px->pool = pool;
	px->balancer = b;
	px->persist = persist;
	SLIST_INIT(&px->listeners);
	TAILQ_INIT(&px->sessions);
	TAILQ_INIT(&px->queue);
	loop_timer_init(&px->dequeue_timer, proxy_on_dequeue, px);
	loop_timer_init(&px->idle_timer, proxy_on_idle_change, px);
	relaycache_init(&px->cache);
	if (proxy_set_params(px, params) == -1) {
		message_unref(px->msg);
		free(px);
		return NULL;
	}
	return px;
}

int
proxy_set_params(struct proxy *px, const struct proxy_params *params)
{
	struct net_cidr *accept = NULL;
	struct message *m;

	if (params->naccept_proxy > 0) {
		if ((accept = calloc(params->naccept_proxy, sizeof(*accept))) == NULL)
			return -1;
		memcpy(accept, params->accept_proxy, params->naccept_proxy *
		    sizeof(*accept));
	}
	if ((m = message_new(params->unavailable, params->unavailable_len)) == NULL) {
		free(accept);
		return -1;
	}
	message_unref(px->msg);
	px->msg = m;
	free(px->accept);
	px->accept = accept;
	if (params->idle_timeout_ms != px->params.idle_timeout_ms)
		proxy_apply_idle_timeout(px);
	px->params = *params;
	px->params.unavailable = m->data;
	px->params.accept_proxy = accept;
	if (px->params.inspect_max > PROXY_INSPECT_MAX)
		px->params.inspect_max = PROXY_INSPECT_MAX;
	if (px->params.requeue > PROXY_MAX_TRIES - 1)
		px->params.requeue = PROXY_MAX_TRIES - 1;
	/* More room (or a resume from 0) releases queued clients. */
	if (px->nqueued > 0 && proxy_slot_free(px) && !loop_timer_armed(&px->dequeue_timer))
		loop_timer_add(px->loop, &px->dequeue_timer, 0);
	listeners_update(px);
	return 0;
}

void
proxy_free(struct proxy *px)
{
	struct session *s;

	if (px == NULL)
		return;
	proxy_stop_accepting(px);
	while ((s = TAILQ_FIRST(&px->sessions)) != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): session_close unlinks s */
		session_close(s, "shutdown");
	loop_timer_cancel(px->loop, &px->dequeue_timer);
	loop_timer_cancel(px->loop, &px->idle_timer);
	relaycache_trim(&px->cache);
	message_unref(px->msg);
	free(px->accept);
	proxy_routes_free(px->routes);
	free(px);
}

void
proxy_set_fdbudget(struct proxy *px, struct fdbudget *b)
{
	px->budget = b;
	relaycache_set_fdbudget(&px->cache, b);
}

size_t
proxy_active(const struct proxy *px)
{
	return px->nactive;
}

size_t
proxy_queued(const struct proxy *px)
{
	return px->nqueued;
}

size_t
proxy_sessions(const struct proxy *px)
{
	return px->nsessions;
}

const struct proxy_stats *
proxy_stats(const struct proxy *px)
{
	return &px->stats;
}
