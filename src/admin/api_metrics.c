/*
 * api_metrics: GET /metrics in the Prometheus text exposition format
 * 0.0.4, printed into a buffer that grows as needed (struct sbuf); out of
 * memory anywhere fails the whole page rather than truncating it.
 *
 * Per-target series are labelled with id, host and port, never the key.
 * Today's series keep their names and labels: the daemon-wide ones sum
 * every service, the per-target ones name no service (their id is unique
 * daemon-wide) and harmony_target_info says each target's service; the
 * harmony_service_* families give each service's numbers with a service
 * label first. docs/API.md lists them.
 */
#include "autoconfig.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/api.h"
#include "admin/api_int.h"
#include "common/log.h"
#include "common/service.h"
#include "config.h"
#include "proxy/proxy.h"
#include "registry/events.h"
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

/*
 * service="web" (escaped) if svc is given, and a comma if more labels
 * follow.
 */
static void
sb_service_label(struct sbuf *b, const struct api_service *svc, bool more)
{
	char name[2 * SERVICE_NAME_MAX + 1];

	if (svc == NULL)
		return;
	if (api_prom_escape(svc->name, name, sizeof(name)) == -1)
		name[0] = '\0';
	sb_printf(b, "service=\"%s\"%s", name, more ? "," : "");
}

/*
 * {id="1",host="10.0.0.5",port="80"}, and state="up" if state is given;
 * service="web" first if svc is.
 */
static void
sb_target_labels(struct sbuf *b, const struct target *t,
    const struct api_service *svc, const char *state)
{
	char host[2 * TARGET_HOST_MAX + 1];

	if (api_prom_escape(t->host, host, sizeof(host)) == -1)
		host[0] = '\0';
	sb_printf(b, "{");
	sb_service_label(b, svc, true);
	sb_printf(b, "id=\"%u\",host=\"%s\",port=\"%u\"", (unsigned)t->id, host,
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

/*
 * The service a per-target series names: none when the one service is the
 * top level's (today's label sets, config.h services_implicit), else the
 * target's.
 */
static const struct api_service *
label_service(const struct api_env *env, const struct api_service *svc)
{
	return env->cfg->services_implicit ? NULL : svc;
}

static void
sb_per_target(struct sbuf *b, const struct api_env *env, const char *name,
    const char *type, const char *help, enum tmetric m)
{
	const struct api_service *all;
	const struct target *t;
	size_t n;

	sb_head(b, name, type, help);
	all = api_services(env, &n);
	for (size_t i = 0; i < n; i++) {
		const struct api_service *ls = label_service(env, &all[i]);

		TAILQ_FOREACH(t, pool_targets(all[i].pool), entry) {
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
				sb_target_labels(b, t, ls, NULL);
				sb_printf(b, " %.3f\n",
				    (double)api_ms_since(env, t->last_ack) / 1000.0);
				continue;
			}
			sb_printf(b, "%s", name);
			sb_target_labels(b, t, ls, NULL);
			sb_printf(b, " %" PRIu64 "\n", v);
		}
	}
}

enum totals {
	TOT_ACTIVE,
	TOT_QUEUED,
	TOT_CONCURRENCY,
	TOT_ACCEPTED,
	TOT_CONNECTED,
	TOT_UNAVAILABLE,
	TOT_CONNECT_FAILURES,
	TOT_ACCEPT_ERRORS,
	TOT_BYTES,		/* two series: direction up and down */
	TOT_PERSIST,
	TOT_COUNT,
};

/* The numbers of one service. */
static void
service_totals(const struct api_service *svc, int64_t v[TOT_COUNT],
    uint64_t bytes[2])
{
	const struct proxy_stats *ps = proxy_stats(svc->proxy);

	v[TOT_ACTIVE] = (int64_t)proxy_active(svc->proxy);
	v[TOT_QUEUED] = (int64_t)proxy_queued(svc->proxy);
	v[TOT_CONCURRENCY] = svc->cfg->concurrency;
	v[TOT_ACCEPTED] = (int64_t)ps->accepted;
	v[TOT_CONNECTED] = (int64_t)ps->connected;
	v[TOT_UNAVAILABLE] = (int64_t)ps->unavailable;
	v[TOT_CONNECT_FAILURES] = (int64_t)ps->connect_failures;
	v[TOT_ACCEPT_ERRORS] = (int64_t)ps->accept_errors;
	v[TOT_BYTES] = 0;
	v[TOT_PERSIST] = (int64_t)persist_count(svc->persist);
	bytes[0] = ps->bytes_up;
	bytes[1] = ps->bytes_down;
}

/*
 * The numbers of svc, or with NULL of the daemon: every service's summed;
 * its concurrency limit is -1 if one service is unlimited.
 */
static void
totals_of(const struct api_env *env, const struct api_service *svc,
    int64_t v[TOT_COUNT], uint64_t bytes[2])
{
	const struct api_service *all;
	int64_t one[TOT_COUNT];
	uint64_t onebytes[2];
	size_t n;

	if (svc != NULL) {
		service_totals(svc, v, bytes);
		return;
	}
	memset(v, 0, TOT_COUNT * sizeof(v[0]));
	bytes[0] = bytes[1] = 0;
	all = api_services(env, &n);
	for (size_t i = 0; i < n; i++) {
		service_totals(&all[i], one, onebytes);
		for (size_t k = 0; k < TOT_COUNT; k++)
			if (k != TOT_CONCURRENCY)
				v[k] += one[k];
		if (one[TOT_CONCURRENCY] < 0 || v[TOT_CONCURRENCY] < 0)
			v[TOT_CONCURRENCY] = -1;
		else
			v[TOT_CONCURRENCY] += one[TOT_CONCURRENCY];
		bytes[0] += onebytes[0];
		bytes[1] += onebytes[1];
	}
}

/*
 * The sessions' series: daemon-wide as harmony_NAME with today's labels
 * (svcs NULL), or per service as harmony_service_NAME with service="..."
 * first, one family after the other (each family is written whole).
 */
static void
sb_totals(struct sbuf *b, const struct api_env *env,
    const struct api_service *svcs, size_t nsvcs)
{
	static const struct {
		const char	*name;
		const char	*type;
		const char	*help;
	} fams[TOT_COUNT] = {
		[TOT_ACTIVE] = { "sessions_active", "gauge",
		    "Sessions connecting to or relaying with a target." },
		[TOT_QUEUED] = { "queue_length", "gauge", "Clients waiting for a slot." },
		[TOT_CONCURRENCY] = { "concurrency_limit", "gauge",
		    "Sessions allowed at once (-1 unlimited, 0 paused)." },
		[TOT_ACCEPTED] = { "connections_accepted_total", "counter",
		    "Client connections accepted." },
		[TOT_CONNECTED] = { "sessions_connected_total", "counter",
		    "Sessions that reached a target." },
		[TOT_UNAVAILABLE] = { "unavailable_total", "counter",
		    "Clients answered with the unavailable text." },
		[TOT_CONNECT_FAILURES] = { "connect_failures_total", "counter",
		    "Failed connects to targets, before requeue." },
		[TOT_ACCEPT_ERRORS] = { "accept_errors_total", "counter",
		    "Failed accepts (out of descriptors and the like)." },
		[TOT_BYTES] = { "relayed_bytes_total", "counter",
		    "Bytes relayed by finished sessions (up: client to target)." },
		[TOT_PERSIST] = { "persistence_entries", "gauge",
		    "Clients remembered by the persistence table." },
	};
	static const char *const dirs[2] = { "up", "down" };
	const char *scope = svcs != NULL ? "service_" : "";
	size_t nrows = svcs != NULL ? nsvcs : 1;
	uint64_t bytes[2];
	int64_t v[TOT_COUNT];
	char name[64];

	for (size_t f = 0; f < TOT_COUNT; f++) {
		snprintf(name, sizeof(name), "harmony_%s%s", scope, fams[f].name);
		sb_head(b, name, fams[f].type, fams[f].help);
		for (size_t i = 0; i < nrows; i++) {
			const struct api_service *svc = svcs != NULL ? &svcs[i] : NULL;

			totals_of(env, svc, v, bytes);
			if (f == TOT_BYTES) {
				for (size_t d = 0; d < 2; d++) {
					sb_printf(b, "%s{", name);
					sb_service_label(b, svc, true);
					sb_printf(b, "direction=\"%s\"} %" PRIu64 "\n",
					    dirs[d], bytes[d]);
				}
				continue;
			}
			sb_printf(b, "%s", name);
			if (svc != NULL) {
				sb_printf(b, "{");
				sb_service_label(b, svc, false);
				sb_printf(b, "}");
			}
			sb_printf(b, " %" PRId64 "\n", v[f]);
		}
	}
}

/*
 * The services' targets by state, and which service each target is in:
 * with the one service of the top level, the per-target series keep
 * today's labels (id, host, port), and this one joins them to their
 * service (on id, unique daemon-wide).
 */
static void
sb_service_targets(struct sbuf *b, const struct api_service *svcs, size_t nsvcs)
{
	const struct target *t;
	size_t counts[API_NSTATES];

	sb_head(b, "harmony_service_targets", "gauge",
	    "Listed targets by service and state.");
	for (size_t i = 0; i < nsvcs; i++) {
		api_count_states(&svcs[i], counts);
		for (size_t k = 0; k < API_NSTATES; k++) {
			sb_printf(b, "harmony_service_targets{");
			sb_service_label(b, &svcs[i], true);
			sb_printf(b, "state=\"%s\"} %zu\n",
			    target_state_name(api_all_states[k]),
			    counts[api_all_states[k]]);
		}
	}
	sb_head(b, "harmony_target_info", "gauge",
	    "The service of each target (always 1).");
	for (size_t i = 0; i < nsvcs; i++)
		TAILQ_FOREACH(t, pool_targets(svcs[i].pool), entry) {
			sb_printf(b, "harmony_target_info");
			sb_target_labels(b, t, &svcs[i], NULL);
			sb_printf(b, " 1\n");
		}
}

/*
 * The events of each service by kind and actor (registry/events.h), the
 * ones that happened only; and its check probes' times, a histogram fed
 * by the checker (pool_check_latency).
 */
static void
sb_events(struct sbuf *b, const struct api_service *svcs, size_t nsvcs)
{
	static const int64_t le[POOL_CHECK_BUCKETS] = POOL_CHECK_BUCKET_MS;

	sb_head(b, "harmony_target_events_total", "counter",
	    "Changes of targets by service, event and who made them.");
	for (size_t i = 0; i < nsvcs; i++)
		for (int k = 0; k < EVENT_KINDS; k++)
			for (int a = 0; a < POOL_ACTORS; a++) {
				uint64_t v = pool_event_count(svcs[i].pool, k,
				    (enum pool_actor)a);

				if (v == 0)
					continue;
				sb_printf(b, "harmony_target_events_total{");
				sb_service_label(b, &svcs[i], true);
				sb_printf(b, "event=\"%s\",by=\"%s\"} %llu\n",
				    event_kind_name((enum event_kind)k),
				    pool_actor_name((enum pool_actor)a),
				    (unsigned long long)v);
			}
	sb_head(b, "harmony_check_duration_seconds", "histogram",
	    "Time of each health check probe, by service.");
	for (size_t i = 0; i < nsvcs; i++) {
		const struct pool_check_hist *h = pool_check_hist(svcs[i].pool);

		for (size_t k = 0; k < POOL_CHECK_BUCKETS; k++) {
			sb_printf(b, "harmony_check_duration_seconds_bucket{");
			sb_service_label(b, &svcs[i], true);
			sb_printf(b, "le=\"%g\"} %llu\n", (double)le[k] / 1000.0,
			    (unsigned long long)h->le[k]);
		}
		sb_printf(b, "harmony_check_duration_seconds_bucket{");
		sb_service_label(b, &svcs[i], true);
		sb_printf(b, "le=\"+Inf\"} %llu\n", (unsigned long long)h->count);
		sb_printf(b, "harmony_check_duration_seconds_sum{");
		sb_service_label(b, &svcs[i], false);
		sb_printf(b, "} %.3f\n", (double)h->sum_ms / 1000.0);
		sb_printf(b, "harmony_check_duration_seconds_count{");
		sb_service_label(b, &svcs[i], false);
		sb_printf(b, "} %llu\n", (unsigned long long)h->count);
	}
}

/*
 * Inspection (PROXY protocol, SNI): the clients closed while inspected,
 * by reason, for each service that inspects or did; and the sessions SNI
 * sent from each service to each (itself included).
 */
static void
sb_edge(struct sbuf *b, const struct api_service *svcs, size_t nsvcs)
{
	char to[2 * SERVICE_NAME_MAX + 1];
	const char *name;
	uint64_t v;

	sb_head(b, "harmony_inspect_rejected_total", "counter",
	    "Clients closed while their PROXY header or ClientHello was read,"
	    " by service and reason.");
	for (size_t i = 0; i < nsvcs; i++) {
		const struct proxy_stats *ps;
		bool any = svcs[i].cfg != NULL && (svcs[i].cfg->nsni > 0 ||
		    svcs[i].cfg->naccept_proxy > 0);

		if (svcs[i].proxy == NULL)
			continue;
		ps = proxy_stats(svcs[i].proxy);
		for (int r = 0; r < PROXY_REJ_MAX; r++)
			any = any || ps->rejected[r] > 0;
		for (int r = 0; any && r < PROXY_REJ_MAX; r++) {
			sb_printf(b, "harmony_inspect_rejected_total{");
			sb_service_label(b, &svcs[i], true);
			sb_printf(b, "reason=\"%s\"} %llu\n",
			    proxy_reject_name((enum proxy_reject)r),
			    (unsigned long long)ps->rejected[r]);
		}
	}
	sb_head(b, "harmony_sni_routed_total", "counter",
	    "Sessions routed by their server name, by service and the service"
	    " they went to.");
	for (size_t i = 0; i < nsvcs; i++) {
		size_t nto = svcs[i].proxy != NULL ?
		    proxy_routed(svcs[i].proxy, SIZE_MAX, &name, &v) : 0;

		for (size_t k = 0; k < nto; k++) {
			(void)proxy_routed(svcs[i].proxy, k, &name, &v);
			if (api_prom_escape(name, to, sizeof(to)) == -1)
				to[0] = '\0';
			sb_printf(b, "harmony_sni_routed_total{");
			sb_service_label(b, &svcs[i], true);
			sb_printf(b, "to=\"%s\"} %llu\n", to, (unsigned long long)v);
		}
	}
}

char *
api_metrics(struct api_env *env, size_t *len)
{
	const struct api_service *all;
	struct sbuf b = { 0 };
	const struct target *t;
	size_t counts[API_NSTATES], sum[API_NSTATES], n;

	sb_head(&b, "harmony_build_info", "gauge", "Version of harmonyd (always 1).");
	sb_printf(&b, "harmony_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	sb_head(&b, "harmony_uptime_seconds", "gauge", "Seconds since harmonyd started.");
	sb_printf(&b, "harmony_uptime_seconds %.3f\n",
	    (double)api_ms_since(env, env->started_ms) / 1000.0);

	all = api_services(env, &n);
	sb_head(&b, "harmony_targets", "gauge", "Listed targets by state.");
	memset(sum, 0, sizeof(sum));
	for (size_t k = 0; k < n; k++) {
		api_count_states(&all[k], counts);
		for (size_t i = 0; i < API_NSTATES; i++)
			sum[i] += counts[i];
	}
	for (size_t i = 0; i < API_NSTATES; i++)
		sb_printf(&b, "harmony_targets{state=\"%s\"} %zu\n",
		    target_state_name(api_all_states[i]), sum[api_all_states[i]]);
	sb_head(&b, "harmony_target_state", "gauge",
	    "The state of each target (1 for its current state).");
	for (size_t k = 0; k < n; k++)
		TAILQ_FOREACH(t, pool_targets(all[k].pool), entry) {
			sb_printf(&b, "harmony_target_state");
			sb_target_labels(&b, t, label_service(env, &all[k]),
			    target_state_name(t->state));
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

	sb_totals(&b, env, NULL, 0);
	sb_service_targets(&b, all, n);
	sb_totals(&b, env, all, n);
	sb_events(&b, all, n);
	sb_edge(&b, all, n);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
