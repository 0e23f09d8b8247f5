/*
 * service: see service.h.
 *
 * SNI routes: a service's proxy routes sessions to other services'
 * proxies (proxy.h). Each service's routes are made from its own
 * configuration (service_routes, at add and at each new configuration),
 * and every live service's are resolved again, names to proxies, each
 * time the live set or a configuration changes (services_relink), before
 * a removed service can be freed: no proxy keeps a pointer to a retired
 * one, and a retired one routes nowhere.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "common/log.h"
#include "config.h"
#include "core/acceptor.h"
#include "core/net.h"
#include "proxy/proxy.h"
#include "registry/balance.h"
#include "registry/persist.h"
#include "registry/pool.h"
#include "registry/selfaddr.h"
#include "service/service.h"

#define EXPIRE_EVERY_MS		1000
#define EXPIRE_BUDGET		1024	/* entries per pass: bounded work */

struct services {
	struct loop		*loop;
	struct fdbudget		*budget;
	struct pool_shared	*shared;
	struct check_set	*checks;	/* every service's probes */
	struct service		**live;		/* in the order added */
	size_t			 nlive;
	struct service		**retired;
	size_t			 nretired;
	struct service		*def;
	struct loop_timer	 reap_timer;	/* while some are retired */
};

#define REAP_EVERY_MS		100

static int64_t
on_reap(struct loop *l, struct loop_timer *t, void *arg)
{
	struct services *set = arg;

	(void)l;
	(void)t;
	services_reap(set);
	return set->nretired > 0 ? REAP_EVERY_MS : LOOP_TIMER_STOP;
}

struct services *
services_new(struct loop *l, struct fdbudget *budget)
{
	struct services *set;

	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	if ((set->shared = pool_shared_new()) == NULL) {
		free(set);
		return NULL;
	}
	if ((set->checks = check_set_new(l, budget)) == NULL) {
		pool_shared_free(set->shared);
		free(set);
		return NULL;
	}
	set->loop = l;
	set->budget = budget;
	loop_timer_init(&set->reap_timer, on_reap, set);
	return set;
}

/* Sessions first: they hold references into the pool. */
static void
service_free(struct service *svc)
{
	loop_timer_cancel(svc->set->loop, &svc->expire_timer);
	check_free(svc->check);
	proxy_free(svc->proxy);
	pool_free(svc->pool);
	balance_free(svc->balancer);
	persist_free(svc->persist);
	settings_base_free(&svc->base);
	free(svc);
}

void
services_free(struct services *set)
{
	if (set == NULL)
		return;
	loop_timer_cancel(set->loop, &set->reap_timer);
	for (size_t i = 0; i < set->nlive; i++)
		service_free(set->live[i]);
	for (size_t i = 0; i < set->nretired; i++)
		service_free(set->retired[i]);
	free(set->live);
	free(set->retired);
	check_set_free(set->checks);
	pool_shared_free(set->shared);
	free(set);
}

struct pool_shared *
services_shared(struct services *set)
{
	return set->shared;
}

struct check_set *
services_checks(struct services *set)
{
	return set->checks;
}

static int64_t
on_expire(struct loop *l, struct loop_timer *t, void *arg)
{
	struct service *svc = arg;
	size_t n;

	(void)t;
	n = persist_expire(svc->persist, loop_now(l), EXPIRE_BUDGET);
	/* A full budget means more are due: come back soon, not in this pass. */
	return n == EXPIRE_BUDGET ? 10 : EXPIRE_EVERY_MS;
}

static void
on_target_removed(struct pool *pool, struct target *t, void *arg)
{
	struct service *svc = arg;

	(void)pool;
	persist_forget_target(svc->persist, t->id);
}

static struct proxy *
find_proxy(void *arg, const char *name)
{
	struct service *svc = services_find(arg, name);

	return svc != NULL ? svc->proxy : NULL;
}

/* Every live service's routes point at the live services of now. */
static void
services_relink(struct services *set)
{
	for (size_t i = 0; i < set->nlive; i++)
		if (set->live[i]->proxy != NULL)
			proxy_resolve_routes(set->live[i]->proxy, find_proxy, set);
}

/*
 * The routes of svc's "sni" (sni-default: by default the service
 * itself), unresolved; none without "sni". On failure (no memory) its
 * SNI sessions stay with it, logged.
 */
static void
service_routes(struct service *svc)
{
	const struct config *cfg = svc->cfg;
	struct proxy_routes *r = NULL;
	const char *def, *why = NULL;

	if (cfg != NULL && cfg->nsni > 0) {
		def = cfg->sni_default == NULL ? svc->name :
		    strcmp(cfg->sni_default, CFG_SNI_CLOSE) == 0 ? NULL :
		    cfg->sni_default;
		if ((r = proxy_routes_new(def)) == NULL)
			log_warn("service %s: sni routes", svc->name);
		for (size_t i = 0; r != NULL && i < cfg->nsni; i++)
			if (proxy_routes_add(r, cfg->sni[i].pattern,
			    cfg->sni[i].service, &why) == -1) {
				log_warn("service %s: sni %s: %s", svc->name,
				    cfg->sni[i].pattern, why != NULL ? why : "");
				proxy_routes_free(r);
				r = NULL;
			}
	}
	proxy_set_routes(svc->proxy, r);
}

static int
append(struct service ***v, size_t *n, struct service *svc)
{
	struct service **nv;

	if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL)
		return -1;
	nv[(*n)++] = svc;
	*v = nv;
	return 0;
}

struct service *
service_add(struct services *set, struct config *cfg)
{
	struct proxy_params pp;
	struct service *svc;
	int saved;

	if ((svc = calloc(1, sizeof(*svc))) == NULL)
		return NULL;
	svc->set = set;
	svc->cfg = cfg;
	snprintf(svc->name, sizeof(svc->name), "%s",
	    cfg->name != NULL ? cfg->name : SERVICE_DEFAULT);
	loop_timer_init(&svc->expire_timer, on_expire, svc);
	cfg_proxy_params(cfg, &pp);
	if ((svc->pool = pool_new_shared(set->loop, cfg->host_timeout_ms,
	    set->shared)) == NULL ||
	    pool_set_name(svc->pool, svc->name, set->def == NULL) == -1 ||
	    (svc->balancer = balance_new(svc->pool,
	    (enum balance_algo)cfg->balance)) == NULL ||
	    (svc->persist = persist_new((size_t)cfg->persist_max,
	    cfg->persist_ttl_ms)) == NULL ||
	    (svc->proxy = proxy_new(set->loop, svc->pool, svc->balancer,
	    svc->persist, &pp)) == NULL ||
	    settings_base_capture(&svc->base, cfg) == -1 ||
	    (svc->check = check_new(set->checks, svc->pool)) == NULL ||
	    append(&set->live, &set->nlive, svc) == -1) {
		saved = errno;
		service_free(svc);
		errno = saved;
		return NULL;
	}
	proxy_set_fdbudget(svc->proxy, set->budget);
	pool_set_on_remove(svc->pool, on_target_removed, svc);
	if (set->def == NULL)
		set->def = svc;
	loop_timer_add(set->loop, &svc->expire_timer, EXPIRE_EVERY_MS);
	check_configure(svc->check, &cfg->check, cfg->slow_start_ms);
	service_routes(svc);
	services_relink(set);
	return svc;
}

int
service_listen(struct service *svc, char *err, size_t errlen)
{
	const struct config *cfg = svc->cfg;
	struct net_addr bound;
	char reason[256];

	for (size_t i = 0; i < cfg->nlistens; i++) {
		const struct cfg_listen *cl = &cfg->listens[i];

		if (cl->addr.len == 0) {
			snprintf(err, errlen, "services.%s.listen %s: not resolved",
			    svc->name, cl->text);
			return -1;
		}
		if (proxy_listen(svc->proxy, &cl->addr, &bound, reason,
		    sizeof(reason)) == -1) {
			snprintf(err, errlen, "services.%s.listen %s: %s", svc->name,
			    cl->text, reason);
			return -1;
		}
		/* A target there would loop back into us: the pools refuse it. */
		if (selfaddr_add_listener(pool_self(svc->pool),
		    (const struct sockaddr *)&bound.ss, "client") == -1)
			log_warn("client listener: not known as our own");
	}
	return 0;
}

int
service_add_static(struct service *svc)
{
	const struct config *cfg = svc->cfg;

	pool_actor_set(svc->pool, POOL_ACTOR_CONFIG);
	for (size_t i = 0; i < cfg->ntargets; i++) {
		const struct cfg_target *ct = &cfg->targets[i];
		const struct sockaddr *sa = (const struct sockaddr *)&ct->addr.ss;
		struct target *t = pool_find_addr(svc->pool, sa);
		char why[2 * NET_ADDRSTRLEN + 64];

		/* cfg_validate refused duplicates: t can only be a restored one. */
		if (t != NULL && t->source != TARGET_SRC_STATIC) {
			log_info("target %u %s was registered: static now, same id",
			    (unsigned)t->id, t->name);
			pool_make_static(t);
		} else if (t == NULL) {
			t = pool_register(svc->pool, TARGET_SRC_STATIC, sa, ct->addr.len,
			    ct->weight, 0, NULL);
		}
		if (t == NULL && errno == EADDRINUSE && selfaddr_explain(
		    pool_self(svc->pool), sa, why, sizeof(why)) != NULL) {
			log_error("static target %s: every client would come back in", why);
			return -1;
		}
		if (t == NULL) {
			log_warn("static target %zu", i + 1);
			return -1;
		}
		pool_set_weight(t, ct->weight);
		log_info("target %u %s weight %u (static%s%s)", (unsigned)t->id,
		    t->name, (unsigned)t->weight, svc->set->nlive > 1 ? ", service " : "",
		    svc->set->nlive > 1 ? svc->name : "");
	}
	return 0;
}

void
service_set_config(struct service *svc, struct config *cfg)
{
	svc->cfg = cfg;
	if (cfg == NULL)
		check_stop(svc->check);
	else
		check_configure(svc->check, &cfg->check, cfg->slow_start_ms);
	if (svc->proxy != NULL && !svc->retired) {
		service_routes(svc);
		services_relink(svc->set);
	}
}

void
service_retire(struct service *svc, int64_t deadline)
{
	struct target *t;
	struct services *set = svc->set;
	size_t i;

	for (i = 0; i < set->nlive && set->live[i] != svc; i++)
		continue;
	if (i == set->nlive || append(&set->retired, &set->nretired, svc) == -1) {
		/* No room to keep it aside: its sessions end now. */
		if (i < set->nlive) {
			memmove(&set->live[i], &set->live[i + 1],
			    (set->nlive - i - 1) * sizeof(*set->live));
			set->nlive--;
			services_relink(set);
			service_free(svc);
		}
		return;
	}
	memmove(&set->live[i], &set->live[i + 1],
	    (set->nlive - i - 1) * sizeof(*set->live));
	set->nlive--;
	/* Nobody routes to it any more, and it routes nowhere. */
	services_relink(set);
	proxy_set_routes(svc->proxy, NULL);
	svc->retired = true;
	svc->retire_deadline = deadline;
	/*
	 * Its targets go, each with its "removed" event, by the configuration
	 * that dropped the service; running sessions keep theirs until they
	 * end (pool.h). Then no SVC: nor ID of another's client finds it.
	 */
	pool_actor_set(svc->pool, POOL_ACTOR_CONFIG);
	pool_actor_reason(svc->pool, "its service was removed");
	while ((t = TAILQ_FIRST(pool_targets(svc->pool))) != NULL)
		pool_remove(t);
	pool_detach(svc->pool);
	svc->cfg = NULL;	/* the configuration it came from goes */
	proxy_stop_accepting(svc->proxy);
	if (!loop_timer_armed(&set->reap_timer))
		loop_timer_add(set->loop, &set->reap_timer, 0);
	if (set->def == svc && set->nlive > 0)
		services_set_default(set, set->live[0]);
	else if (set->def == svc)
		set->def = NULL;
}

void
services_set_default(struct services *set, struct service *svc)
{
	set->def = svc;
	(void)pool_set_name(svc->pool, svc->name, true);
}

struct service *
services_default(const struct services *set)
{
	return set->def;
}

struct service *
services_find(const struct services *set, const char *name)
{
	for (size_t i = 0; i < set->nlive; i++)
		if (strcmp(set->live[i]->name, name) == 0)
			return set->live[i];
	return NULL;
}

struct service *const *
services_all(const struct services *set, size_t *n)
{
	*n = set->nlive;
	return set->live;
}

void
services_reap(struct services *set)
{
	int64_t now = loop_now(set->loop);
	size_t i = 0;

	while (i < set->nretired) {
		struct service *svc = set->retired[i];

		if (proxy_sessions(svc->proxy) > 0 && now < svc->retire_deadline) {
			i++;
			continue;
		}
		if (proxy_sessions(svc->proxy) > 0)
			log_info("service %s: grace period over: closing %zu sessions",
			    svc->name, proxy_sessions(svc->proxy));
		else
			log_info("service %s: its last session ended: gone", svc->name);
		memmove(&set->retired[i], &set->retired[i + 1],
		    (set->nretired - i - 1) * sizeof(*set->retired));
		set->nretired--;
		service_free(svc);
	}
}

size_t
services_sessions(const struct services *set)
{
	size_t n = 0;

	for (size_t i = 0; i < set->nlive; i++)
		n += proxy_sessions(set->live[i]->proxy);
	for (size_t i = 0; i < set->nretired; i++)
		n += proxy_sessions(set->retired[i]->proxy);
	return n;
}

static void
end_sessions(struct service *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		proxy_free(v[i]->proxy);
		v[i]->proxy = NULL;
	}
}

void
services_end_sessions(struct services *set)
{
	if (set == NULL)
		return;
	end_sessions(set->live, set->nlive);
	end_sessions(set->retired, set->nretired);
}

void
services_stop_accepting(struct services *set)
{
	for (size_t i = 0; i < set->nlive; i++)
		proxy_stop_accepting(set->live[i]->proxy);
}
