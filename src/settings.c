/*
 * settings: see settings.h.
 *
 * A change of tunables is written into the live config first and pushed
 * to the parts from there, so that the parts only ever learn values the
 * config holds (settings_push reads nothing else). If the push fails (the
 * proxy copies the unavailable text: out of memory), the old values go back
 * and the parts, which change nothing when they fail, still hold them.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ack/ackport.h"
#include "common/log.h"
#include "config.h"
#include "core/net.h"
#include "proxy/proxy.h"
#include "registry/balance.h"
#include "registry/persist.h"
#include "registry/pool.h"
#include "registry/selfaddr.h"
#include "settings.h"

int
settings_check(const struct settings_change *c, char *err, size_t errlen)
{
	if ((c->set & SETTINGS_CONCURRENCY) && (c->concurrency < CFG_CONCURRENCY_MIN ||
	    c->concurrency > CFG_CONCURRENCY_MAX)) {
		snprintf(err, errlen, "concurrency must be between %d and %d",
		    CFG_CONCURRENCY_MIN, CFG_CONCURRENCY_MAX);
		return -1;
	}
	if ((c->set & SETTINGS_REQUEUE) && (c->requeue < 0 ||
	    c->requeue > CFG_REQUEUE_MAX)) {
		snprintf(err, errlen, "requeue must be between 0 and %d",
		    CFG_REQUEUE_MAX);
		return -1;
	}
	if ((c->set & SETTINGS_BALANCE) && (c->balance < BALANCE_LEASTCONN ||
	    c->balance > BALANCE_HASH)) {
		snprintf(err, errlen, "no balancing algorithm %d", c->balance);
		return -1;
	}
	if ((c->set & SETTINGS_UNAVAILABLE) && c->unavailable == NULL &&
	    c->unavailable_len > 0) {
		snprintf(err, errlen, "unavailable text of %zu bytes missing",
		    c->unavailable_len);
		return -1;
	}
	return 0;
}

/* cfg's tunables, all of them set; the text borrowed from cfg. */
static struct settings_change
change_of(const struct config *cfg)
{
	return (struct settings_change){
		.set = SETTINGS_ALL,
		.concurrency = cfg->concurrency,
		.requeue = cfg->requeue,
		.balance = cfg->balance,
		.persistent = cfg->persistent,
		.unavailable = cfg->unavailable,
		.unavailable_len = cfg->unavailable_len,
	};
}

/*
 * Writes c into cfg; text is the unavailable text's copy (or NULL), which
 * cfg takes. cfg's own text before is the caller's to free.
 */
static void
write_change(struct config *cfg, const struct settings_change *c, char *text)
{
	if (c->set & SETTINGS_CONCURRENCY)
		cfg->concurrency = c->concurrency;
	if (c->set & SETTINGS_REQUEUE)
		cfg->requeue = c->requeue;
	if (c->set & SETTINGS_BALANCE)
		cfg->balance = c->balance;
	if (c->set & SETTINGS_PERSISTENT)
		cfg->persistent = c->persistent;
	if (c->set & SETTINGS_UNAVAILABLE) {
		cfg->unavailable = text;
		cfg->unavailable_len = text != NULL ? c->unavailable_len : 0;
	}
}

/* A copy of c's unavailable text: *text NULL if it has none; -1 on ENOMEM. */
static int
copy_text(const struct settings_change *c, char **text)
{
	*text = NULL;
	if (!(c->set & SETTINGS_UNAVAILABLE) || c->unavailable_len == 0)
		return 0;
	/* NUL-terminated too, as the config's own texts are. */
	if ((*text = malloc(c->unavailable_len + 1)) == NULL)
		return -1;
	memcpy(*text, c->unavailable, c->unavailable_len);
	(*text)[c->unavailable_len] = '\0';
	return 0;
}

int
settings_set(struct config *cfg, const struct settings_parts *p,
    const struct settings_change *c, char *err, size_t errlen)
{
	struct config before;
	char *text, why[128];

	if (settings_check(c, err, errlen) == -1)
		return -1;
	if (copy_text(c, &text) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	before = *cfg;	/* shallow: only the tunables change below */
	write_change(cfg, c, text);
	if (settings_push(cfg, p, false, why, sizeof(why)) == -1) {
		/* The parts that failed kept their values: so does cfg. */
		free(text);
		*cfg = before;
		if (p->balancer != NULL)
			balance_set_algo(p->balancer, (enum balance_algo)cfg->balance);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (c->set & SETTINGS_UNAVAILABLE) {
		free(before.unavailable);
		/* The text no longer comes from that file. */
		free(cfg->unavailable_file);
		cfg->unavailable_file = NULL;
	}
	return 0;
}

int
settings_ackport_params(const struct config *cfg, struct ackport_params *ap,
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

int
settings_push(const struct config *cfg, const struct settings_parts *p, bool all,
    char *err, size_t errlen)
{
	struct ackport_params ap;
	struct proxy_params pp;
	struct net_cidr *allow;
	int rc = 0;

	/* Also for the targets and sessions already there. */
	if (all && p->pool != NULL)
		pool_set_default_timeout(p->pool, cfg->host_timeout_ms);
	if (all && p->persist != NULL)
		persist_configure(p->persist, (size_t)cfg->persist_max,
		    cfg->persist_ttl_ms);
	if (p->proxy != NULL) {
		cfg_proxy_params(cfg, &pp);
		if (proxy_set_params(p->proxy, &pp) == -1) {
			snprintf(err, errlen, "proxy settings: %s", strerror(errno));
			rc = -1;
		}
	}
	if (p->balancer != NULL)
		balance_set_algo(p->balancer, (enum balance_algo)cfg->balance);
	if (all && p->ackport != NULL) {
		if (settings_ackport_params(cfg, &ap, &allow) == -1 ||
		    ackport_set_params(p->ackport, &ap) == -1) {
			if (rc == 0)
				snprintf(err, errlen, "ack port settings: %s",
				    strerror(errno));
			rc = -1;
		} else
			free(allow);
	}
	return rc;
}

/* --- overrides ----------------------------------------------------------- */

void
settings_base_free(struct settings_base *base)
{
	free(base->text);
	memset(base, 0, sizeof(*base));
}

int
settings_base_capture(struct settings_base *base, const struct config *cfg)
{
	struct settings_base b = { .v = change_of(cfg) };

	if (cfg->unavailable_len > 0) {
		if ((b.text = malloc(cfg->unavailable_len)) == NULL)
			return -1;
		memcpy(b.text, cfg->unavailable, cfg->unavailable_len);
	}
	b.v.unavailable = b.text;
	settings_base_free(base);
	*base = b;
	return 0;
}

/* The live tunables that differ from base; the text borrowed from cfg. */
static void
overrides_of(const struct config *cfg, const struct settings_base *base,
    struct settings_change *c)
{
	const struct settings_change *b = &base->v;

	*c = change_of(cfg);
	c->set = 0;
	if (c->concurrency != b->concurrency)
		c->set |= SETTINGS_CONCURRENCY;
	if (c->requeue != b->requeue)
		c->set |= SETTINGS_REQUEUE;
	if (c->balance != b->balance)
		c->set |= SETTINGS_BALANCE;
	if (c->persistent != b->persistent)
		c->set |= SETTINGS_PERSISTENT;
	if (c->unavailable_len != b->unavailable_len || (c->unavailable_len > 0 &&
	    memcmp(c->unavailable, b->unavailable, c->unavailable_len) != 0))
		c->set |= SETTINGS_UNAVAILABLE;
}

static void
jadd(json_object *o, const char *key, json_object *v)
{
	if (v == NULL || json_object_object_add(o, key, v) < 0)
		json_object_put(v);
}

json_object *
settings_overrides(const struct config *cfg, const struct settings_base *base)
{
	struct settings_change c;
	json_object *o;

	overrides_of(cfg, base, &c);
	if (c.set == 0 || (o = json_object_new_object()) == NULL)
		return NULL;
	if (c.set & SETTINGS_CONCURRENCY)
		jadd(o, "concurrency", json_object_new_int64(c.concurrency));
	if (c.set & SETTINGS_REQUEUE)
		jadd(o, "requeue", json_object_new_int64(c.requeue));
	if (c.set & SETTINGS_BALANCE)
		jadd(o, "balance", json_object_new_string(
		    balance_algo_name((enum balance_algo)c.balance)));
	if (c.set & SETTINGS_PERSISTENT)
		jadd(o, "persistent", json_object_new_boolean(c.persistent));
	if (c.set & SETTINGS_UNAVAILABLE)
		jadd(o, "unavailable", json_object_new_string_len(
		    c.unavailable ? c.unavailable : "", (int)c.unavailable_len));
	if (json_object_object_length(o) == 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* o's key if it has type t, and then bit is set in c->set; or NULL. */
static json_object *
saved_key(json_object *o, const char *key, json_type t, unsigned bit,
    struct settings_change *c)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, t))
		return NULL;
	c->set |= bit;
	return v;
}

/* The valid keys of saved overrides; the text borrowed from o. */
static void
overrides_parse(json_object *o, struct settings_change *c)
{
	struct settings_change one;
	enum balance_algo algo;
	json_object *v;
	char err[128];

	memset(c, 0, sizeof(*c));
	if ((v = saved_key(o, "concurrency", json_type_int, SETTINGS_CONCURRENCY,
	    c)) != NULL)
		c->concurrency = json_object_get_int64(v);
	if ((v = saved_key(o, "requeue", json_type_int, SETTINGS_REQUEUE, c)) != NULL)
		c->requeue = json_object_get_int64(v);
	/* An unknown name is out of range for settings_check below. */
	if ((v = saved_key(o, "balance", json_type_string, SETTINGS_BALANCE, c)) != NULL)
		c->balance = balance_algo_parse(json_object_get_string(v), &algo) == 0 ?
		    (int)algo : -1;
	if ((v = saved_key(o, "persistent", json_type_boolean, SETTINGS_PERSISTENT,
	    c)) != NULL)
		c->persistent = json_object_get_boolean(v);
	if ((v = saved_key(o, "unavailable", json_type_string, SETTINGS_UNAVAILABLE,
	    c)) != NULL) {
		c->unavailable = json_object_get_string(v);
		c->unavailable_len = (size_t)json_object_get_string_len(v);
	}
	/* Each key on its own: one out of range leaves the others in. */
	for (unsigned bit = 1; bit & SETTINGS_ALL; bit <<= 1) {
		one = *c;
		one.set &= bit;
		if (one.set != 0 && settings_check(&one, err, sizeof(err)) == -1)
			c->set &= ~bit;
	}
}

static void
log_restored(const struct config *c)
{
	log_info("runtime settings restored: concurrency %lld, requeue %lld, balance %s, "
	    "persistence %s", (long long)c->concurrency, (long long)c->requeue,
	    balance_algo_name((enum balance_algo)c->balance), c->persistent ? "on" : "off");
}

void
settings_restore(struct config *cfg, const struct settings_parts *p, json_object *o)
{
	struct settings_change c;
	char err[128];

	if (o == NULL || !json_object_is_type(o, json_type_object))
		return;
	overrides_parse(o, &c);
	if (settings_set(cfg, p, &c, err, sizeof(err)) == -1)
		log_warnx("runtime settings not restored: %s", err);
	log_restored(cfg);
}

/* --- SIGHUP ---------------------------------------------------------------- */

static bool
text_changed(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

/* Options bound at start-up: report a change, keep the running value. */
static void
keep_restart_only(struct config *nc, struct config *old, bool listen)
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

		/* Without listen, each service rebinds its own (reload.c). */
		if (!listen && keep[i].new_value == &nc->listen)
			continue;
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
apply_static_targets(struct pool *pool, const struct config *nc)
{
	struct target *t, *next;

	pool_actor_set(pool, POOL_ACTOR_CONFIG);
	for (t = TAILQ_FIRST(pool_targets(pool)); t != NULL; t = next) {
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

		t = pool_find_addr(pool, sa);
		if (t != NULL && t->source != TARGET_SRC_STATIC) {
			log_warnx("SIGHUP: %s is registered already; not made static", t->name);
			continue;
		}
		if (t == NULL && (t = pool_register(pool, TARGET_SRC_STATIC, sa,
		    ct->addr.len, ct->weight, 0, &created)) == NULL) {
			if (errno == EADDRINUSE && selfaddr_explain(pool_self(pool),
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

/*
 * The overrides of old (judged against base) go over nc's tunables, and
 * base becomes nc's own.
 */
static void
carry_overrides(const struct config *old, struct settings_base *base,
    struct config *nc)
{
	struct settings_change overrides;
	char *text, *own;

	/* The overrides, judged against the old base, borrow the old config. */
	overrides_of(old, base, &overrides);
	/* On failure the old base stays: the overrides are judged against it. */
	if (settings_base_capture(base, nc) == -1)
		log_warn("SIGHUP: runtime settings");
	if (overrides.set != 0) {
		if (copy_text(&overrides, &text) == -1) {
			log_warn("SIGHUP: the unavailable text's override");
			overrides.set &= ~(unsigned)SETTINGS_UNAVAILABLE;
		}
		own = nc->unavailable;
		write_change(nc, &overrides, text);
		if (overrides.set & SETTINGS_UNAVAILABLE)
			free(own);	/* the new config's own text */
		log_restored(nc);
	}
}

void
settings_replace_service(const struct config *old, struct settings_base *base,
    const struct settings_parts *p, struct config *nc)
{
	char err[256];

	carry_overrides(old, base, nc);
	if (settings_push(nc, p, true, err, sizeof(err)) == -1)
		log_warnx("SIGHUP: service %s: %s", nc->name, err);
	if (p->pool != NULL)
		apply_static_targets(p->pool, nc);
}

void
settings_replace_daemon(struct config *cfg, struct ackport *ackport,
    struct pool *any, struct config *nc)
{
	struct settings_parts p = { .ackport = ackport };
	char err[256];

	keep_restart_only(nc, cfg, false);
	log_set_level((enum log_level)nc->log_level);
	/* Reopened even when unchanged: this is how logs are rotated. */
	if (log_access_open(nc->access_log) == -1)
		log_error("SIGHUP: --access-log %s: %s; %s", nc->access_log,
		    strerror(errno), log_access_enabled() ?
		    "still writing to the old file; the next SIGHUP tries again" :
		    "no access log until a SIGHUP opens it");
	if (ackport != NULL && settings_push(nc, &p, true, err, sizeof(err)) == -1)
		log_warnx("SIGHUP: %s", err);
	/* The host's addresses may have changed: our own, for pool_self. */
	if (any != NULL && selfaddr_load_local(pool_self(any)) == -1)
		log_warn("SIGHUP: local addresses");
}

void
settings_replace(struct config *cfg, struct settings_base *base,
    const struct settings_parts *p, struct config *nc)
{
	struct config old;
	char err[256];

	keep_restart_only(nc, cfg, true);
	old = *cfg;
	carry_overrides(&old, base, nc);
	*cfg = *nc;
	memset(nc, 0, sizeof(*nc));
	cfg_free(&old);

	log_set_level((enum log_level)cfg->log_level);
	/* Reopened even when unchanged: this is how logs are rotated. */
	if (log_access_open(cfg->access_log) == -1)
		log_error("SIGHUP: --access-log %s: %s; %s", cfg->access_log,
		    strerror(errno), log_access_enabled() ?
		    "still writing to the old file; the next SIGHUP tries again" :
		    "no access log until a SIGHUP opens it");
	if (settings_push(cfg, p, true, err, sizeof(err)) == -1)
		log_warnx("SIGHUP: %s", err);
	if (p->pool != NULL) {
		/* The host's addresses may have changed: our own, for pool_self. */
		if (selfaddr_load_local(pool_self(p->pool)) == -1)
			log_warn("SIGHUP: local addresses");
		apply_static_targets(p->pool, cfg);
	}
	log_info("SIGHUP: configuration reloaded: balance %s, persistence %s, %zu static targets",
	    balance_algo_name((enum balance_algo)cfg->balance),
	    cfg->persistent ? "on" : "off", cfg->ntargets);
}
