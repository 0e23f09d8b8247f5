/*
 * api_metrics: GET /metrics in the Prometheus text exposition format
 * 0.0.4, printed into a buffer that grows as needed (struct sbuf); out of
 * memory anywhere fails the whole page rather than truncating it.
 *
 * Per-target series are labelled with id, host and port, never the key.
 */
#include "autoconfig.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/api.h"
#include "admin/api_int.h"
#include "common/log.h"
#include "config.h"
#include "proxy/proxy.h"
#include "registry/persist.h"
#include "registry/pool.h"

int
api_prom_escape(const char *in, char *out, size_t outlen)
{
	size_t n = 0;

	for (; *in != '\0'; in++) {
		const char *rep = NULL;
		char one[2] = { *in, '\0' };
		size_t k;

		if (*in == '\\')
			rep = "\\\\";
		else if (*in == '"')
			rep = "\\\"";
		else if (*in == '\n')
			rep = "\\n";
		else
			rep = one;
		k = strlen(rep);
		if (n + k >= outlen)
			return -1;
		memcpy(out + n, rep, k);
		n += k;
	}
	if (n >= outlen)
		return -1;
	out[n] = '\0';
	return 0;
}

struct sbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	bool	 oom;
};

static void
sb_printf(struct sbuf *b, const char *fmt, ...) LOG_PRINTF(2, 3);

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap ? b->cap * 2 : 4096;
		while (ncap - b->len <= (size_t)n)
			ncap *= 2;
		char *np = realloc(b->p, ncap);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

static void
sb_head(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* {id="1",host="10.0.0.5",port="80"}, and state="up" if state is given. */
static void
sb_target_labels(struct sbuf *b, const struct target *t, const char *state)
{
	char host[2 * TARGET_HOST_MAX + 1];

	if (api_prom_escape(t->host, host, sizeof(host)) == -1)
		host[0] = '\0';
	sb_printf(b, "{id=\"%u\",host=\"%s\",port=\"%u\"", (unsigned)t->id, host,
	    (unsigned)t->port);
	if (state != NULL)
		sb_printf(b, ",state=\"%s\"", state);
	sb_printf(b, "}");
}

enum tmetric {
	TM_WEIGHT,
	TM_ACTIVE,
	TM_TOTAL,
	TM_FAILURES,
	TM_BYTES_IN,
	TM_BYTES_OUT,
	TM_ACK_AGE,
};

static void
sb_per_target(struct sbuf *b, const struct api_env *env, const char *name,
    const char *type, const char *help, enum tmetric m)
{
	const struct target *t;

	sb_head(b, name, type, help);
	TAILQ_FOREACH(t, pool_targets(env->pool), entry) {
		uint64_t v = 0;

		switch (m) {
		case TM_WEIGHT:
			v = t->weight;
			break;
		case TM_ACTIVE:
			v = t->active;
			break;
		case TM_TOTAL:
			v = t->total;
			break;
		case TM_FAILURES:
			v = t->failures;
			break;
		case TM_BYTES_IN:
			v = t->bytes_in;
			break;
		case TM_BYTES_OUT:
			v = t->bytes_out;
			break;
		case TM_ACK_AGE:
			if (t->source == TARGET_SRC_STATIC)
				continue;
			sb_printf(b, "%s", name);
			sb_target_labels(b, t, NULL);
			sb_printf(b, " %.3f\n",
			    (double)api_ms_since(env, t->last_ack) / 1000.0);
			continue;
		}
		sb_printf(b, "%s", name);
		sb_target_labels(b, t, NULL);
		sb_printf(b, " %" PRIu64 "\n", v);
	}
}

char *
api_metrics(struct api_env *env, size_t *len)
{
	const struct proxy_stats *ps = proxy_stats(env->proxy);
	struct sbuf b = { 0 };
	const struct target *t;
	size_t counts[API_NSTATES];

	sb_head(&b, "harmony_build_info", "gauge", "Version of harmonyd (always 1).");
	sb_printf(&b, "harmony_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	sb_head(&b, "harmony_uptime_seconds", "gauge", "Seconds since harmonyd started.");
	sb_printf(&b, "harmony_uptime_seconds %.3f\n",
	    (double)api_ms_since(env, env->started_ms) / 1000.0);

	sb_head(&b, "harmony_targets", "gauge", "Listed targets by state.");
	api_count_states(env, counts);
	for (size_t i = 0; i < API_NSTATES; i++)
		sb_printf(&b, "harmony_targets{state=\"%s\"} %zu\n",
		    target_state_name(api_all_states[i]), counts[api_all_states[i]]);
	sb_head(&b, "harmony_target_state", "gauge",
	    "The state of each target (1 for its current state).");
	TAILQ_FOREACH(t, pool_targets(env->pool), entry) {
		sb_printf(&b, "harmony_target_state");
		sb_target_labels(&b, t, target_state_name(t->state));
		sb_printf(&b, " 1\n");
	}
	sb_per_target(&b, env, "harmony_target_weight", "gauge",
	    "Balancing weight of each target.", TM_WEIGHT);
	sb_per_target(&b, env, "harmony_target_active_sessions", "gauge",
	    "Sessions using each target now.", TM_ACTIVE);
	sb_per_target(&b, env, "harmony_target_sessions_total", "counter",
	    "Sessions each target has been given.", TM_TOTAL);
	sb_per_target(&b, env, "harmony_target_connect_failures_total", "counter",
	    "Failed connects to each target.", TM_FAILURES);
	sb_per_target(&b, env, "harmony_target_received_bytes_total", "counter",
	    "Bytes received from each target (finished sessions).", TM_BYTES_IN);
	sb_per_target(&b, env, "harmony_target_sent_bytes_total", "counter",
	    "Bytes sent to each target (finished sessions).", TM_BYTES_OUT);
	sb_per_target(&b, env, "harmony_target_heartbeat_age_seconds", "gauge",
	    "Seconds since each registered target last acked.", TM_ACK_AGE);

	sb_head(&b, "harmony_sessions_active", "gauge",
	    "Sessions connecting to or relaying with a target.");
	sb_printf(&b, "harmony_sessions_active %zu\n", proxy_active(env->proxy));
	sb_head(&b, "harmony_queue_length", "gauge", "Clients waiting for a slot.");
	sb_printf(&b, "harmony_queue_length %zu\n", proxy_queued(env->proxy));
	sb_head(&b, "harmony_concurrency_limit", "gauge",
	    "Sessions allowed at once (-1 unlimited, 0 paused).");
	sb_printf(&b, "harmony_concurrency_limit %lld\n", (long long)env->cfg->concurrency);
	sb_head(&b, "harmony_connections_accepted_total", "counter",
	    "Client connections accepted.");
	sb_printf(&b, "harmony_connections_accepted_total %" PRIu64 "\n", ps->accepted);
	sb_head(&b, "harmony_sessions_connected_total", "counter",
	    "Sessions that reached a target.");
	sb_printf(&b, "harmony_sessions_connected_total %" PRIu64 "\n", ps->connected);
	sb_head(&b, "harmony_unavailable_total", "counter",
	    "Clients answered with the unavailable text.");
	sb_printf(&b, "harmony_unavailable_total %" PRIu64 "\n", ps->unavailable);
	sb_head(&b, "harmony_connect_failures_total", "counter",
	    "Failed connects to targets, before requeue.");
	sb_printf(&b, "harmony_connect_failures_total %" PRIu64 "\n", ps->connect_failures);
	sb_head(&b, "harmony_accept_errors_total", "counter",
	    "Failed accepts (out of descriptors and the like).");
	sb_printf(&b, "harmony_accept_errors_total %" PRIu64 "\n", ps->accept_errors);
	sb_head(&b, "harmony_relayed_bytes_total", "counter",
	    "Bytes relayed by finished sessions (up: client to target).");
	sb_printf(&b, "harmony_relayed_bytes_total{direction=\"up\"} %" PRIu64 "\n",
	    ps->bytes_up);
	sb_printf(&b, "harmony_relayed_bytes_total{direction=\"down\"} %" PRIu64 "\n",
	    ps->bytes_down);
	sb_head(&b, "harmony_persistence_entries", "gauge",
	    "Clients remembered by the persistence table.");
	sb_printf(&b, "harmony_persistence_entries %zu\n", persist_count(env->persist));
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
