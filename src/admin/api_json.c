/*
 * api_json: the JSON views of the admin API (targets, persistence, config,
 * status), built with json-c for api.c's replies and the SSE snapshot.
 *
 * Every builder returns a new object the caller owns, or NULL when out of
 * memory; a child that could not be made is left out of its parent
 * (api_jset). They only read what the api_env borrows, never change it.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "admin/api.h"
#include "admin/api_int.h"
#include "config.h"
#include "core/loop.h"
#include "core/net.h"
#include "proxy/proxy.h"
#include "registry/balance.h"
#include "registry/events.h"
#include "registry/persist.h"
#include "registry/pool.h"

#define JSON_OUT_FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define API_LISTENERS_MAX	16	/* a service's listeners shown */

/* Adds v (which may be NULL: out of memory) to o; v is o's from here on. */
void
api_jset(struct json_object *o, const char *key, struct json_object *v)
{
	if (v == NULL || json_object_object_add(o, key, v) < 0)
		json_object_put(v);
}

static void
jpush(struct json_object *a, struct json_object *v)
{
	if (v == NULL || json_object_array_add(a, v) < 0)
		json_object_put(v);
}

static void
jnull(struct json_object *o, const char *key)
{
	(void)json_object_object_add(o, key, NULL);
}

/* Serialises and puts o; NULL when out of memory. */
char *
api_json_text(struct json_object *o, size_t *len)
{
	const char *s;
	char *copy = NULL;
	size_t n = 0;

	if (o != NULL && (s = json_object_to_json_string_length(o, JSON_OUT_FLAGS,
	    &n)) != NULL && (copy = malloc(n + 1)) != NULL) {
		memcpy(copy, s, n + 1);
		*len = n;
	}
	json_object_put(o);
	return copy;
}

int64_t
api_ms_since(const struct api_env *env, int64_t when)
{
	int64_t d = loop_now(env->loop) - when;

	return d > 0 ? d : 0;
}

/* What an operator should know about t, or JSON null. */
static struct json_object *
target_note(const struct target *t)
{
	char text[320];

	if (t->port == 0 && t->lost)
		return json_object_new_string("registered without a port: the client"
		    " re-registered after BID without SPORT (node-harmony clients do,"
		    " after a restart of harmonyd without --state-file or a removal);"
		    " use --state-file so keys survive restarts, and restart the client");
	if (t->port == 0)
		return json_object_new_string("no port yet: the client has not sent"
		    " SPORT; it is never chosen until it does");
	if (t->slow_warned && t->slow_beats > 0) {
		snprintf(text, sizeof(text), "heartbeats come %.1f s apart, longer than"
		    " its %.1f s timeout: it is down between them; heartbeat more often"
		    " or raise its timeout", (double)t->beat_ms / 1000.0,
		    (double)t->timeout_ms / 1000.0);
		return json_object_new_string(text);
	}
	return NULL;
}

/* The target's "check" (docs/API.md), when it has one. */
static struct json_object *
check_json(const struct api_env *env, const struct target_check *c)
{
	struct json_object *o;

	if ((o = json_object_new_object()) == NULL)
		return NULL;
	api_jset(o, "status", json_object_new_string(
	    target_check_status_name(c->status)));
	if (c->latency_ms >= 0 && c->last_at != 0)
		api_jset(o, "latency_ms", json_object_new_int64(c->latency_ms));
	else
		jnull(o, "latency_ms");
	if (c->last_at != 0)
		api_jset(o, "last_ms_ago", json_object_new_int64(
		    api_ms_since(env, c->last_at)));
	else
		jnull(o, "last_ms_ago");
	if (c->reason[0] != '\0')
		api_jset(o, "reason", json_object_new_string(c->reason));
	else
		jnull(o, "reason");
	api_jset(o, "rise", json_object_new_int64(c->rise));
	api_jset(o, "fall", json_object_new_int64(c->fall));
	api_jset(o, "successes", json_object_new_int64(c->successes));
	api_jset(o, "failures", json_object_new_int64(c->failures));
	return o;
}

struct json_object *
api_target_json(const struct api_env *env, const struct target *t, bool with_key)
{
	struct json_object *o = json_object_new_object(), *note;

	if (o == NULL)
		return NULL;
	/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): one_target routes find t or 404 (api_handle) */
	api_jset(o, "id", json_object_new_int64(t->id));
	api_jset(o, "service", json_object_new_string(pool_name(t->pool)));
	api_jset(o, "name", json_object_new_string(t->name));
	api_jset(o, "host", json_object_new_string(t->host));
	api_jset(o, "port", json_object_new_int(t->port));
	api_jset(o, "weight", json_object_new_int64(t->weight));
	/* Lower than weight while it ramps back up after being down. */
	api_jset(o, "effective_weight", json_object_new_int64(
	    target_weight_now(t, loop_now(env->loop))));
	api_jset(o, "state", json_object_new_string(target_state_name(t->state)));
	api_jset(o, "state_since_ms_ago", json_object_new_int64(
	    api_ms_since(env, t->state_since)));
	api_jset(o, "source", json_object_new_string(target_source_name(t->source)));
	api_jset(o, "leaving", json_object_new_boolean(t->leaving));
	api_jset(o, "active", json_object_new_uint64(t->active));
	api_jset(o, "total", json_object_new_uint64(t->total));
	api_jset(o, "failures", json_object_new_uint64(t->failures));
	api_jset(o, "bytes_in", json_object_new_uint64(t->bytes_in));
	api_jset(o, "bytes_out", json_object_new_uint64(t->bytes_out));
	/* How long its connects take (ms): the last, and the moving average. */
	if (t->connect_ms < 0) {
		jnull(o, "connect_ms");
		jnull(o, "connect_avg_ms");
	} else {
		/* Hundredths of a millisecond, rounded down: no float noise. */
		int64_t hundredths = t->connect_avg_us / 10;

		api_jset(o, "connect_ms", json_object_new_int64(t->connect_ms));
		api_jset(o, "connect_avg_ms", json_object_new_double(
		    (double)hundredths / 100.0));
	}
	if (t->source == TARGET_SRC_STATIC) {
		/* No heartbeat: a static target never expires. */
		jnull(o, "last_ack_ms_ago");
		jnull(o, "timeout_ms");
	} else {
		api_jset(o, "last_ack_ms_ago", json_object_new_int64(
		    api_ms_since(env, t->last_ack)));
		api_jset(o, "timeout_ms", json_object_new_int64(t->timeout_ms));
	}
	if ((note = target_note(t)) != NULL)
		api_jset(o, "note", note);
	else
		jnull(o, "note");
	if (t->check.on)
		api_jset(o, "check", check_json(env, &t->check));
	else
		jnull(o, "check");
	if (with_key)
		api_jset(o, "key", json_object_new_string(t->key));
	return o;
}

struct json_object *
api_targets_json(const struct api_env *env, const struct api_service *svc)
{
	struct json_object *a = json_object_new_array();
	const struct api_service *all = svc;
	const struct target *t;
	size_t n = 1;

	if (a == NULL)
		return NULL;
	if (svc == NULL)
		all = api_services(env, &n);
	for (size_t i = 0; i < n; i++)
		TAILQ_FOREACH(t, pool_targets(all[i].pool), entry)
			jpush(a, api_target_json(env, t, false));
	return a;
}

struct persist_walk {
	const struct api_env	*env;
	const struct api_service *svc;
	struct json_object	*entries;
};

static void
persist_visit(const struct persist_entry_info *e, void *arg)
{
	struct persist_walk *w = arg;
	struct json_object *o;
	const struct target *t;

	if ((o = json_object_new_object()) == NULL)
		return;
	api_jset(o, "client", json_object_new_string(e->client));
	api_jset(o, "target", json_object_new_int64(e->target_id));
	if ((t = pool_find_id(w->svc->pool, e->target_id)) != NULL)
		api_jset(o, "target_name", json_object_new_string(t->name));
	else
		jnull(o, "target_name");
	api_jset(o, "hits", json_object_new_uint64(e->hits));
	api_jset(o, "last_use_ms_ago", json_object_new_int64(
	    api_ms_since(w->env, e->last_use)));
	jpush(w->entries, o);
}

struct json_object *
api_persistence_json(const struct api_env *env, const struct api_service *svc,
    size_t limit)
{
	struct json_object *o = json_object_new_object();
	struct persist_walk w = { .env = env, .svc = svc };
	size_t count = persist_count(svc->persist);

	if (o == NULL)
		return NULL;
	if ((w.entries = json_object_new_array()) != NULL)
		persist_foreach_max(svc->persist, limit, persist_visit, &w);
	api_jset(o, "count", json_object_new_uint64(count));
	api_jset(o, "truncated", json_object_new_boolean(count > limit));
	api_jset(o, "entries", w.entries);
	return o;
}

/* Valid UTF-8 without NUL: safe to hand to json-c as a string. */
struct json_object *
api_config_json(const struct api_env *env, const struct api_service *svc)
{
	const struct config *cfg = svc->cfg;
	struct json_object *o = json_object_new_object();

	(void)env;
	if (o == NULL)
		return NULL;
	api_jset(o, "concurrency", json_object_new_int64(cfg->concurrency));
	api_jset(o, "requeue", json_object_new_int64(cfg->requeue));
	api_jset(o, "balance", json_object_new_string(balance_algo_name(
	    balance_algo(svc->balancer))));
	api_jset(o, "persistent", json_object_new_boolean(cfg->persistent));
	if (cfg->unavailable == NULL || cfg->unavailable_len == 0)
		jnull(o, "unavailable");
	else if (api_utf8_text(cfg->unavailable, cfg->unavailable_len))
		api_jset(o, "unavailable", json_object_new_string_len(cfg->unavailable,
		    (int)cfg->unavailable_len));
	else
		api_jset(o, "unavailable", json_object_new_string("(binary)"));
	api_jset(o, "queue_max", json_object_new_int64(cfg->queue_max));
	api_jset(o, "queue_timeout_ms", json_object_new_int64(cfg->queue_timeout_ms));
	api_jset(o, "connect_timeout_ms", json_object_new_int64(cfg->connect_timeout_ms));
	api_jset(o, "idle_timeout_ms", json_object_new_int64(cfg->idle_timeout_ms));
	api_jset(o, "host_timeout_ms", json_object_new_int64(cfg->host_timeout_ms));
	api_jset(o, "persist_ttl_ms", json_object_new_int64(cfg->persist_ttl_ms));
	api_jset(o, "persist_max", json_object_new_int64(cfg->persist_max));
	return o;
}

void
api_count_states(const struct api_service *svc, size_t counts[API_NSTATES])
{
	/* Counted as states change (pool.c): no walk of the targets. */
	for (size_t i = 0; i < API_NSTATES; i++)
		counts[api_all_states[i]] = pool_count_state(svc->pool, api_all_states[i]);
}

const enum target_state api_all_states[API_NSTATES] = {
	TARGET_UP, TARGET_DOWN, TARGET_FAILING, TARGET_DRAINING, TARGET_STATIC,
	TARGET_PORTLESS,
};

/* {"total": n, "up": n, ...}: the listed targets by state. */
static struct json_object *
target_counts_json(const struct api_service *svc)
{
	struct json_object *ts = json_object_new_object();
	size_t counts[API_NSTATES];

	if (ts == NULL)
		return NULL;
	api_count_states(svc, counts);
	api_jset(ts, "total", json_object_new_uint64(pool_count(svc->pool)));
	for (size_t i = 0; i < API_NSTATES; i++)
		api_jset(ts, target_state_name(api_all_states[i]),
		    json_object_new_uint64(counts[api_all_states[i]]));
	return ts;
}

/* The proxy's counters since start. */
static struct json_object *
totals_json(const struct api_service *svc)
{
	const struct proxy_stats *ps = proxy_stats(svc->proxy);
	struct json_object *tot = json_object_new_object();

	if (tot == NULL)
		return NULL;
	api_jset(tot, "accepted", json_object_new_uint64(ps->accepted));
	api_jset(tot, "connected", json_object_new_uint64(ps->connected));
	api_jset(tot, "unavailable", json_object_new_uint64(ps->unavailable));
	api_jset(tot, "connect_failures", json_object_new_uint64(ps->connect_failures));
	api_jset(tot, "accept_errors", json_object_new_uint64(ps->accept_errors));
	api_jset(tot, "bytes_up", json_object_new_uint64(ps->bytes_up));
	api_jset(tot, "bytes_down", json_object_new_uint64(ps->bytes_down));
	return tot;
}

/* What status and a service's view both say about the sessions. */
static void
sessions_json(struct json_object *o, const struct api_service *svc)
{
	const struct config *cfg = svc->cfg;

	api_jset(o, "algorithm", json_object_new_string(balance_algo_name(
	    balance_algo(svc->balancer))));
	api_jset(o, "persistent", json_object_new_boolean(cfg->persistent));
	api_jset(o, "concurrency", json_object_new_int64(cfg->concurrency));
	api_jset(o, "paused", json_object_new_boolean(cfg->concurrency == 0));
	api_jset(o, "requeue", json_object_new_int64(cfg->requeue));
	api_jset(o, "active", json_object_new_uint64(proxy_active(svc->proxy)));
	api_jset(o, "queued", json_object_new_uint64(proxy_queued(svc->proxy)));
	api_jset(o, "queue_max", json_object_new_int64(cfg->queue_max));
	api_jset(o, "sessions", json_object_new_uint64(proxy_sessions(svc->proxy)));
	api_jset(o, "persistence_entries", json_object_new_uint64(
	    persist_count(svc->persist)));
}

struct json_object *
api_status_json(const struct api_env *env)
{
	const struct api_service *svc = api_service_default(env);
	struct json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	api_jset(o, "version", json_object_new_string(PACKAGE_VERSION));
	api_jset(o, "uptime_ms", json_object_new_int64(api_ms_since(env, env->started_ms)));
	sessions_json(o, svc);
	api_jset(o, "token_required", json_object_new_boolean(env->cfg->token != NULL));
	api_jset(o, "targets", target_counts_json(svc));
	api_jset(o, "totals", totals_json(svc));
	return o;
}

/* The client listeners' addresses as bound ("127.0.0.1:3000", "[::1]:80"). */
static struct json_object *
listeners_json(const struct api_service *svc)
{
	struct net_addr addrs[API_LISTENERS_MAX];
	struct json_object *a = json_object_new_array();
	char text[NET_ADDRSTRLEN];
	size_t n;

	if (a == NULL)
		return NULL;
	n = proxy_listeners(svc->proxy, addrs, API_LISTENERS_MAX);
	for (size_t i = 0; i < n && i < API_LISTENERS_MAX; i++)
		jpush(a, json_object_new_string(net_addr_text(
		    (const struct sockaddr *)&addrs[i].ss, text, sizeof(text))));
	return a;
}

/* "10.0.0.0/8" */
static struct json_object *
cidr_json(const struct net_cidr *c)
{
	char addr[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 8];

	if (inet_ntop(c->family, c->bytes, addr, sizeof(addr)) == NULL)
		return NULL;
	snprintf(text, sizeof(text), "%s/%u", addr, (unsigned)c->prefix);
	return json_object_new_string(text);
}

/*
 * PROXY protocol and SNI, read-only, by their config keys (config.h):
 * send-proxy "off", "v1" or "v2"; accept-proxy the trusted networks;
 * sni the map; sni-default a service, "close", or null (this one).
 */
static void
edge_json(struct json_object *o, const struct config *cfg)
{
	static const char *const versions[] = { "off", "v1", "v2" };
	struct json_object *a, *m;

	api_jset(o, "send-proxy", json_object_new_string(
	    cfg->send_proxy >= 0 && cfg->send_proxy <= 2 ?
	    versions[cfg->send_proxy] : "off"));
	if ((a = json_object_new_array()) != NULL)
		for (size_t i = 0; i < cfg->naccept_proxy; i++)
			jpush(a, cidr_json(&cfg->accept_proxy[i]));
	api_jset(o, "accept-proxy", a);
	if ((m = json_object_new_object()) != NULL)
		for (size_t i = 0; i < cfg->nsni; i++)
			api_jset(m, cfg->sni[i].pattern,
			    json_object_new_string(cfg->sni[i].service));
	api_jset(o, "sni", m);
	if (cfg->sni_default == NULL)
		jnull(o, "sni-default");
	else
		api_jset(o, "sni-default", json_object_new_string(cfg->sni_default));
	api_jset(o, "inspect-timeout", json_object_new_int64(cfg->inspect_timeout_ms));
	api_jset(o, "inspect-max", json_object_new_int64(cfg->inspect_max));
	api_jset(o, "check-send-proxy", json_object_new_boolean(cfg->check.send_proxy));
}

struct json_object *
api_service_json(const struct api_env *env, const struct api_service *svc,
    bool with_config)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	api_jset(o, "name", json_object_new_string(svc->name));
	api_jset(o, "default", json_object_new_boolean(svc == api_service_default(env)));
	api_jset(o, "listeners", listeners_json(svc));
	sessions_json(o, svc);
	api_jset(o, "targets", target_counts_json(svc));
	api_jset(o, "totals", totals_json(svc));
	if (with_config) {
		api_jset(o, "config", api_config_json(env, svc));
		if (svc->cfg != NULL)
			edge_json(o, svc->cfg);
	}
	return o;
}

struct json_object *
api_services_json(const struct api_env *env)
{
	struct json_object *o = json_object_new_object(), *a;
	const struct api_service *all;
	size_t n;

	if (o == NULL)
		return NULL;
	all = api_services(env, &n);
	if ((a = json_object_new_array()) != NULL)
		for (size_t i = 0; i < n; i++)
			jpush(a, api_service_json(env, &all[i], false));
	api_jset(o, "services", a);
	return o;
}

/* The ISO 8601 text of epoch ms, UTC, to the millisecond. */
static void
iso_time(int64_t ms, char *buf, size_t len)
{
	time_t sec = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&sec, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(buf + strlen(buf), len - strlen(buf), ".%03dZ", (int)(ms % 1000));
}

struct json_object *
api_event_json(const struct event *e)
{
	struct json_object *o = json_object_new_object();
	char when[40];

	if (o == NULL)
		return NULL;
	iso_time(e->time_ms, when, sizeof(when));
	api_jset(o, "seq", json_object_new_uint64(e->seq));
	api_jset(o, "time", json_object_new_string(when));
	api_jset(o, "time_ms", json_object_new_int64(e->time_ms));
	api_jset(o, "service", json_object_new_string(e->service));
	api_jset(o, "target", json_object_new_int64(e->target));
	api_jset(o, "name", json_object_new_string(e->name));
	api_jset(o, "event", json_object_new_string(event_kind_name(e->kind)));
	if (e->has_from)
		api_jset(o, "from", json_object_new_string(target_state_name(e->from)));
	else
		jnull(o, "from");
	if (e->has_to)
		api_jset(o, "to", json_object_new_string(target_state_name(e->to)));
	else
		jnull(o, "to");
	api_jset(o, "by", json_object_new_string(pool_actor_name(e->by)));
	if (e->reason[0] != '\0')
		api_jset(o, "reason", json_object_new_string(e->reason));
	else
		jnull(o, "reason");
	if (e->kind == EVENT_CHECK) {
		api_jset(o, "passed", json_object_new_boolean(e->passed));
		if (e->latency_ms >= 0)
			api_jset(o, "latency_ms", json_object_new_int64(e->latency_ms));
		else
			jnull(o, "latency_ms");
	} else
		jnull(o, "latency_ms");
	if (e->weight != 0)
		api_jset(o, "weight", json_object_new_int64(e->weight));
	else
		jnull(o, "weight");
	return o;
}

struct json_object *
api_events_json(const struct api_env *env, const char *service, uint32_t target,
    size_t limit)
{
	const struct events *ev = pool_events(api_service_default(env)->pool);
	struct json_object *o = json_object_new_object(), *a;
	const struct event *e;
	uint64_t cursor = 0;

	if (o == NULL)
		return NULL;
	if ((a = json_object_new_array()) == NULL) {
		json_object_put(o);
		return NULL;
	}
	/* Newest first; the ring is at most EVENTS_HISTORY_MAX long. */
	while (ev != NULL && json_object_array_length(a) < limit &&
	    (e = events_back(ev, &cursor, service, target)) != NULL)
		jpush(a, api_event_json(e));
	api_jset(o, "events", a);
	api_jset(o, "dropped", json_object_new_uint64(ev != NULL ?
	    events_dropped(ev) : 0));
	return o;
}

size_t
api_event_text(const struct event *e, char *buf, size_t len)
{
	static const char head[] = "event: target\ndata: ";
	struct json_object *o;
	const char *s;
	size_t n;

	if ((o = api_event_json(e)) == NULL)
		return 0;
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	n = sizeof(head) - 1 + strlen(s) + 2;
	if (n >= len) {
		json_object_put(o);
		return 0;
	}
	/* PLAIN JSON has no newline: one data: line carries it. */
	snprintf(buf, len, "%s%s\n\n", head, s);
	json_object_put(o);
	return n;
}
