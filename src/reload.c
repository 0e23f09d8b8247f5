/*
 * reload: SIGHUP and the runtime overrides.
 *
 * A reload reads the options again (the command line, and the -c file it
 * names) into a new struct config, without asking DNS: the loop must not
 * wait for a name server. Static targets given by name are then resolved
 * by a child process (resolve.h) within RELOAD_RESOLVE_MS, while the
 * running configuration keeps serving. If anything is wrong (a bad file, a
 * name that does not resolve, no answer in time) the running configuration
 * stays, whole. Otherwise every option that can change without a restart
 * is applied to the running parts, running sessions and targets included
 * (timeouts), and the new configuration replaces the old; the listen
 * addresses (and the state file and web root) keep their running values
 * and a change to them is reported as needing a restart.
 *
 * One reload at a time: SIGHUPs while one resolves make one more reload
 * once it ends, which reads the options afresh.
 *
 * Tunables changed at run time (PATCH /api/v1/config) are overrides: the
 * live values that differ from the configured ones. They are carried over
 * a reload and saved with the state, so a restart keeps them too.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ack/ackport.h"
#include "common/log.h"
#include "core/net.h"
#include "core/resolve.h"
#include "daemon.h"
#include "proxy/proxy.h"
#include "registry/balance.h"
#include "registry/persist.h"
#include "registry/pool.h"
#include "registry/selfaddr.h"

#define RELOAD_RESOLVE_MS	10000	/* names must resolve within this */
#define RELOAD_NAMES_SHOWN	3	/* in a log line, then "and N more" */

/* A reload waiting for its names. */
struct reload {
	struct config	 cfg;		/* read and checked; names unresolved */
	const char	**names;	/* the targets' names, into cfg */
	size_t		*target_of;	/* names[i] is cfg.targets[target_of[i]] */
	size_t		 nnames;
	struct resolve	*resolve;
};

static int
ackport_params_of(const struct config *cfg, struct ackport_params *ap,
    struct net_cidr **allow)
{
	if ((*allow = calloc(cfg->nallow + 1, sizeof(**allow))) == NULL)
		return -1;
	for (size_t i = 0; i < cfg->nallow; i++)
		(*allow)[i] = cfg->allow[i].net;
	*ap = (struct ackport_params){
		.token = cfg->token,
		.allow = *allow,
		.nallow = cfg->nallow,
		.idle_ms = ACKPORT_IDLE_MS,
		.max_conns = ACKPORT_MAX_CONNS,
		.max_per_peer = ACKPORT_MAX_PER_PEER,
	};
	return 0;
}

struct ackport *
daemon_ackport_new(struct harmonyd *h)
{
	struct ackport_params ap;
	struct net_cidr *allow;
	struct ackport *a;

	if (ackport_params_of(&h->cfg, &ap, &allow) == -1)
		return NULL;
	a = ackport_new(h->loop, h->pool, &ap);
	free(allow);
	return a;
}

void
daemon_free_base(struct harmonyd *h)
{
	free(h->base.unavailable);
	memset(&h->base, 0, sizeof(h->base));
}

int
daemon_capture_base(struct harmonyd *h)
{
	struct cfg_runtime b = {
		.concurrency = h->cfg.concurrency,
		.requeue = h->cfg.requeue,
		.balance = h->cfg.balance,
		.persistent = h->cfg.persistent,
		.unavailable_len = h->cfg.unavailable_len,
	};

	if (h->cfg.unavailable_len > 0) {
		if ((b.unavailable = malloc(h->cfg.unavailable_len)) == NULL)
			return -1;
		memcpy(b.unavailable, h->cfg.unavailable, h->cfg.unavailable_len);
	}
	daemon_free_base(h);
	h->base = b;
	return 0;
}

static void
jadd(json_object *o, const char *key, json_object *v)
{
	if (v == NULL || json_object_object_add(o, key, v) < 0)
		json_object_put(v);
}

json_object *
daemon_overrides(const struct harmonyd *h)
{
	const struct config *c = &h->cfg;
	const struct cfg_runtime *b = &h->base;
	json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	if (c->concurrency != b->concurrency)
		jadd(o, "concurrency", json_object_new_int64(c->concurrency));
	if (c->requeue != b->requeue)
		jadd(o, "requeue", json_object_new_int64(c->requeue));
	if (c->balance != b->balance)
		jadd(o, "balance", json_object_new_string(
		    balance_algo_name((enum balance_algo)c->balance)));
	if (c->persistent != b->persistent)
		jadd(o, "persistent", json_object_new_boolean(c->persistent));
	if (c->unavailable_len != b->unavailable_len || (c->unavailable_len > 0 &&
	    memcmp(c->unavailable, b->unavailable, c->unavailable_len) != 0))
		jadd(o, "unavailable", json_object_new_string_len(
		    c->unavailable ? c->unavailable : "", (int)c->unavailable_len));
	if (json_object_object_length(o) == 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* Pushes the live tunables to the proxy and the balancer. */
static void
apply_tunables(struct harmonyd *h)
{
	struct proxy_params pp;

	cfg_proxy_params(&h->cfg, &pp);
	if (proxy_set_params(h->proxy, &pp) == -1)
		log_warn("proxy settings");
	balance_set_algo(h->balancer, (enum balance_algo)h->cfg.balance);
}

void
daemon_apply_overrides(struct harmonyd *h, json_object *o)
{
	struct config *c = &h->cfg;
	enum balance_algo algo;
	json_object *v;

	if (o == NULL || !json_object_is_type(o, json_type_object))
		return;
	if (json_object_object_get_ex(o, "concurrency", &v) &&
	    json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= -1 &&
	    json_object_get_int64(v) <= 10000000)
		c->concurrency = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "requeue", &v) &&
	    json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0 &&
	    json_object_get_int64(v) <= 100)
		c->requeue = json_object_get_int64(v);
	if (json_object_object_get_ex(o, "balance", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    balance_algo_parse(json_object_get_string(v), &algo) == 0)
		c->balance = (int)algo;
	if (json_object_object_get_ex(o, "persistent", &v) &&
	    json_object_is_type(v, json_type_boolean))
		c->persistent = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "unavailable", &v) &&
	    json_object_is_type(v, json_type_string)) {
		size_t len = (size_t)json_object_get_string_len(v);
		char *text = malloc(len + 1);

		if (text != NULL) {
			memcpy(text, json_object_get_string(v), len + 1);
			free(c->unavailable);
			c->unavailable = text;
			c->unavailable_len = len;
		}
	}
	apply_tunables(h);
	log_info("runtime settings restored: concurrency %lld, requeue %lld, balance %s, "
	    "persistence %s", (long long)c->concurrency, (long long)c->requeue,
	    balance_algo_name((enum balance_algo)c->balance), c->persistent ? "on" : "off");
}

static bool
text_changed(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* Options bound at start-up: report a change, keep the running value. */
static void
keep_restart_only(struct config *nc, struct config *old)
{
	struct {
		const char	*name;
		char		**new_value;
		char		**old_value;
	} keep[] = {
		{ "--host", &nc->host, &old->host },
		{ "--listen", &nc->listen, &old->listen },
		{ "--ack-port", &nc->ack_port, &old->ack_port },
		{ "--http", &nc->http, &old->http },
		{ "--state-file", &nc->state_file, &old->state_file },
		{ "--web-root", &nc->web_root, &old->web_root },
	};

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		char *swap;

		if (text_changed(*keep[i].new_value, *keep[i].old_value))
			log_warnx("SIGHUP: %s changes only with a restart; keeping '%s'",
			    keep[i].name, *keep[i].old_value ? *keep[i].old_value : "");
		/* The new config takes the running value; the old one, freed, the other. */
		swap = *keep[i].new_value;
		*keep[i].new_value = *keep[i].old_value;
		*keep[i].old_value = swap;
	}
}

static bool
in_config(const struct config *c, const struct target *t)
{
	for (size_t i = 0; i < c->ntargets; i++)
		if (net_addr_equal((const struct sockaddr *)&c->targets[i].addr.ss,
		    (const struct sockaddr *)&t->addr))
			return true;
	return false;
}

/* Static targets added, removed or reweighed; sessions keep running. */
static void
apply_static_targets(struct harmonyd *h, const struct config *nc)
{
	struct target *t, *next;

	for (t = TAILQ_FIRST(pool_targets(h->pool)); t != NULL; t = next) {
		next = TAILQ_NEXT(t, entry);
		if (t->source == TARGET_SRC_STATIC && !in_config(nc, t)) {
			log_info("SIGHUP: static target %s removed", t->name);
			pool_remove(t);
		}
	}
	for (size_t i = 0; i < nc->ntargets; i++) {
		const struct cfg_target *ct = &nc->targets[i];
		const struct sockaddr *sa = (const struct sockaddr *)&ct->addr.ss;
		char why[2 * NET_ADDRSTRLEN + 64];
		bool created;

		t = pool_find_addr(h->pool, sa);
		if (t != NULL && t->source != TARGET_SRC_STATIC) {
			log_warnx("SIGHUP: %s is registered already; not made static", t->name);
			continue;
		}
		if (t == NULL && (t = pool_register(h->pool, TARGET_SRC_STATIC, sa,
		    ct->addr.len, ct->weight, 0, &created)) == NULL) {
			if (errno == EADDRINUSE && selfaddr_explain(pool_self(h->pool),
			    sa, why, sizeof(why)) != NULL)
				log_warnx("SIGHUP: static target %s: not added, every"
				    " client would come back in", why);
			else
				log_warn("SIGHUP: static target %zu", i + 1);
			continue;
		}
		if (t->weight != ct->weight) {
			log_info("SIGHUP: static target %s weight %u", t->name,
			    (unsigned)ct->weight);
			pool_set_weight(t, ct->weight);
		}
	}
}

/* The new configuration nc replaces the running one, which h then owns. */
static void
reload_apply(struct harmonyd *h, struct config *nc)
{
	struct ackport_params ap;
	struct net_cidr *allow;
	json_object *overrides;

	keep_restart_only(nc, &h->cfg);

	/* Swap in the new configuration, then put the overrides back on it. */
	overrides = daemon_overrides(h);
	cfg_free(&h->cfg);
	h->cfg = *nc;
	memset(nc, 0, sizeof(*nc));
	/* On failure the old base stays: the overrides are judged against it. */
	if (daemon_capture_base(h) == -1)
		log_warn("SIGHUP: runtime settings");
	if (overrides != NULL)
		daemon_apply_overrides(h, overrides);
	json_object_put(overrides);

	log_set_level((enum log_level)h->cfg.log_level);
	/* Reopened even when unchanged: this is how logs are rotated. */
	if (log_access_open(h->cfg.access_log) == -1)
		log_error("SIGHUP: --access-log %s: %s; %s", h->cfg.access_log,
		    strerror(errno), log_access_enabled() ?
		    "still writing to the old file; the next SIGHUP tries again" :
		    "no access log until a SIGHUP opens it");
	/* Also for the targets and sessions already there. */
	pool_set_default_timeout(h->pool, h->cfg.host_timeout_ms);
	persist_configure(h->persist, (size_t)h->cfg.persist_max, h->cfg.persist_ttl_ms);
	apply_tunables(h);
	if (ackport_params_of(&h->cfg, &ap, &allow) == 0) {
		if (ackport_set_params(h->ackport, &ap) == -1)
			log_warn("SIGHUP: ack port settings");
		free(allow);
	}
	/* The host's addresses may have changed: our own, for pool_self. */
	if (selfaddr_load_local(pool_self(h->pool)) == -1)
		log_warn("SIGHUP: local addresses");
	apply_static_targets(h, &h->cfg);
	log_info("SIGHUP: configuration reloaded: balance %s, persistence %s, %zu static targets",
	    balance_algo_name((enum balance_algo)h->cfg.balance),
	    h->cfg.persistent ? "on" : "off", h->cfg.ntargets);
}

static void
reload_free(struct reload *r)
{
	if (r == NULL)
		return;
	resolve_free(r->resolve);
	free(r->names);
	free(r->target_of);
	cfg_free(&r->cfg);
	free(r);
}

/* The names of r's static targets still to resolve. */
static int
reload_collect_names(struct reload *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->cfg.ntargets; i++)
		if (r->cfg.targets[i].name[0] != '\0')
			n++;
	if (n == 0)
		return 0;
	if ((r->names = calloc(n, sizeof(*r->names))) == NULL ||
	    (r->target_of = calloc(n, sizeof(*r->target_of))) == NULL)
		return -1;
	for (size_t i = 0; i < r->cfg.ntargets; i++) {
		if (r->cfg.targets[i].name[0] == '\0')
			continue;
		r->names[r->nnames] = r->cfg.targets[i].name;
		r->target_of[r->nnames++] = i;
	}
	return 0;
}

/* "a.example, b.example, c.example and 2 more" */
static void
names_text(const struct reload *r, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < r->nnames && off < len; i++) {
		int w;

		if (i == RELOAD_NAMES_SHOWN) {
			snprintf(buf + off, len - off, " and %zu more", r->nnames - i);
			return;
		}
		w = snprintf(buf + off, len - off, "%s%s", i > 0 ? ", " : "", r->names[i]);
		if (w < 0)
			return;
		off += (size_t)w;
	}
}

static void
on_resolved(struct resolve *res, const struct resolve_answer *answers, size_t n,
    const char *err, void *arg)
{
	struct harmonyd *h = arg;
	struct reload *r = h->reload;
	char names[1024];
	bool ok = true;

	(void)res;
	h->reload = NULL;
	if (err != NULL) {
		names_text(r, names, sizeof(names));
		log_error("SIGHUP: resolving %s %s; keeping the running configuration",
		    names, err);
		ok = false;
	}
	for (size_t i = 0; ok && i < n; i++) {
		struct cfg_target *t = &r->cfg.targets[r->target_of[i]];

		if (!answers[i].ok) {
			log_warnx("SIGHUP: target %s:%u: %s; keeping the running "
			    "configuration", t->name, (unsigned)t->port, answers[i].err);
			ok = false;
			break;
		}
		t->addr = answers[i].addr;
		net_addr_set_port((struct sockaddr *)&t->addr.ss, t->port);
	}
	if (ok && h->stopping)
		log_info("SIGHUP: stopping, not reloading");
	else if (ok)
		reload_apply(h, &r->cfg);
	reload_free(r);
	if (h->reload_again && !h->stopping) {
		h->reload_again = false;
		daemon_reload(h);
	}
}

void
daemon_reload(struct harmonyd *h)
{
	struct reload *r;
	char err[512];

	if (h->reload != NULL) {
		if (!h->reload_again)
			log_info("SIGHUP: the last reload still resolves names; "
			    "reloading again once it ends");
		h->reload_again = true;
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_warn("SIGHUP");
		return;
	}
	if (cfg_parse_args_ex(&r->cfg, h->argc, h->argv, CFG_DEFER_NAMES, err,
	    sizeof(err)) != CFG_OK) {
		log_warnx("SIGHUP: %s; keeping the running configuration", err);
		free(r);
		return;
	}
	if (reload_collect_names(r) == -1) {
		log_warn("SIGHUP: keeping the running configuration");
		reload_free(r);
		return;
	}
	if (r->nnames == 0) {
		reload_apply(h, &r->cfg);
		reload_free(r);
		return;
	}
	if ((r->resolve = resolve_start(h->loop, r->names, r->nnames,
	    RELOAD_RESOLVE_MS, on_resolved, h)) == NULL) {
		log_warn("SIGHUP: cannot start resolving names; keeping the running "
		    "configuration");
		reload_free(r);
		return;
	}
	log_info("SIGHUP: resolving %zu name%s", r->nnames, r->nnames == 1 ? "" : "s");
	h->reload = r;
}

void
daemon_reload_cancel(struct harmonyd *h)
{
	reload_free(h->reload);
	h->reload = NULL;
	h->reload_again = false;
}
