/*
 * reload: see reload.h. It decides when a new configuration is read and
 * whether it is complete; settings.c puts it in force.
 *
 * daemon.h's functions for the settings of a running harmonyd are here
 * too, at the end: each hands settings.c or the reloader the parts of
 * struct harmonyd they need, and nothing more.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "ack/ackport.h"
#include "admin/admin.h"
#include "admin/api.h"
#include "common/log.h"
#include "config.h"
#include "core/net.h"
#include "core/resolve.h"
#include "core/sdnotify.h"
#include "daemon.h"
#include "proxy/proxy.h"
#include "registry/balance.h"
#include "reload.h"
#include "service/service.h"
#include "settings.h"

#define RELOAD_NAMES_SHOWN	3	/* in a log line, then "and N more" */

/* A reload waiting for its names. */
struct reload {
	struct reloader	*rl;
	struct config	 cfg;		/* read and checked; names unresolved */
	const char	**names;	/* the targets' names, into cfg */
	struct cfg_target **target_of;	/* names[i] is *target_of[i]'s */
	size_t		 nnames;
	struct resolve	*resolve;
};

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

/*
 * With no services configured, the "default" one holds a copy of the
 * top level's targets (config.h), resolved with them.
 */
static void
copy_implicit_targets(struct config *nc)
{
	struct config *sc = nc->nservices == 1 && nc->services_implicit ?
	    &nc->services[0] : NULL;

	if (sc != NULL && sc->ntargets == nc->ntargets)
		for (size_t i = 0; i < nc->ntargets; i++)
			sc->targets[i].addr = nc->targets[i].addr;
}

static void
reload_apply(struct reloader *rl, struct config *nc)
{
	copy_implicit_targets(nc);
	if (rl->p.apply != NULL)
		rl->p.apply(rl->p.arg, nc);
	else
		settings_replace(rl->p.cfg, rl->p.base, &rl->p.parts, nc);
}

/* Adds c's targets that have a name still to resolve (counts them if !r->names). */
static void
collect_of(struct reload *r, struct config *c, size_t *n)
{
	for (size_t i = 0; i < c->ntargets; i++) {
		if (c->targets[i].name[0] == '\0')
			continue;
		if (r->names != NULL) {
			r->names[r->nnames] = c->targets[i].name;
			r->target_of[r->nnames++] = &c->targets[i];
		}
		(*n)++;
	}
}

/* Every walk over the targets a configuration names: the top level's, or each service's. */
static void
collect_all(struct reload *r, size_t *n)
{
	if (r->cfg.services_implicit || r->cfg.nservices == 0)
		collect_of(r, &r->cfg, n);
	else
		for (size_t i = 0; i < r->cfg.nservices; i++)
			collect_of(r, &r->cfg.services[i], n);
}

/* The names of r's static targets still to resolve. */
static int
reload_collect_names(struct reload *r)
{
	size_t n = 0;

	collect_all(r, &n);
	if (n == 0)
		return 0;
	if ((r->names = calloc(n, sizeof(*r->names))) == NULL ||
	    (r->target_of = calloc(n, sizeof(*r->target_of))) == NULL)
		return -1;
	n = 0;
	collect_all(r, &n);
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

static void	reload_start(struct reloader *);
static void	reload_done(struct reloader *);

static bool
stopping(const struct reloader *rl)
{
	return rl->p.stopping != NULL && *rl->p.stopping;
}

static void
on_resolved(struct resolve *res, const struct resolve_answer *answers, size_t n,
    const char *err, void *arg)
{
	struct reload *r = arg;
	struct reloader *rl = r->rl;
	char names[1024];
	bool ok = true;

	(void)res;
	rl->pending = NULL;
	if (err != NULL) {
		names_text(r, names, sizeof(names));
		log_error("SIGHUP: resolving %s %s; keeping the running configuration",
		    names, err);
		ok = false;
	}
	for (size_t i = 0; ok && i < n; i++) {
		struct cfg_target *t = r->target_of[i];

		if (!answers[i].ok) {
			log_warnx("SIGHUP: target %s:%u: %s; keeping the running "
			    "configuration", t->name, (unsigned)t->port, answers[i].err);
			ok = false;
			break;
		}
		t->addr = answers[i].addr;
		net_addr_set_port((struct sockaddr *)&t->addr.ss, t->port);
	}
	if (ok && stopping(rl))
		log_info("SIGHUP: stopping, not reloading");
	else if (ok)
		reload_apply(rl, &r->cfg);
	reload_free(r);
	if (rl->again && !stopping(rl)) {
		rl->again = false;
		reload_request(rl);
	} else
		reload_done(rl);
}

static void
reload_done(struct reloader *rl)
{
	if (rl->pending == NULL && rl->p.done != NULL)
		rl->p.done(rl->p.arg);
}

void
reload_request(struct reloader *rl)
{
	reload_start(rl);
	reload_done(rl);
}

/* Reads the options and applies them, or starts resolving their names. */
static void
reload_start(struct reloader *rl)
{
	struct reload *r;
	char err[512];

	if (rl->pending != NULL) {
		if (!rl->again)
			log_info("SIGHUP: the last reload still resolves names; "
			    "reloading again once it ends");
		rl->again = true;
		return;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		log_warn("SIGHUP");
		return;
	}
	r->rl = rl;
	if (cfg_parse_args_ex(&r->cfg, rl->p.argc, rl->p.argv, CFG_DEFER_NAMES, err,
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
		reload_apply(rl, &r->cfg);
		reload_free(r);
		return;
	}
	if ((r->resolve = resolve_start(rl->p.loop, r->names, r->nnames,
	    RELOAD_RESOLVE_MS, on_resolved, r)) == NULL) {
		log_warn("SIGHUP: cannot start resolving names; keeping the running "
		    "configuration");
		reload_free(r);
		return;
	}
	log_info("SIGHUP: resolving %zu name%s", r->nnames, r->nnames == 1 ? "" : "s");
	rl->pending = r;
}

void
reload_cancel(struct reloader *rl)
{
	reload_free(rl->pending);
	rl->pending = NULL;
	rl->again = false;
}

/* --- daemon.h ------------------------------------------------------------- */

static struct settings_parts
parts_of(const struct service *svc)
{
	return (struct settings_parts){ .pool = svc->pool, .balancer = svc->balancer,
	    .persist = svc->persist, .proxy = svc->proxy };
}

struct ackport *
daemon_ackport_new(struct harmonyd *h)
{
	struct ackport_params ap;
	struct net_cidr *allow;
	struct ackport *a;

	if (settings_ackport_params(&h->cfg, &ap, &allow) == -1)
		return NULL;
	/* Any pool reaches the others (ackreg_service). */
	a = ackport_new(h->loop, services_default(h->services)->pool, &ap);
	free(allow);
	return a;
}

int
daemon_admin_services(struct harmonyd *h)
{
	struct service *def = services_default(h->services);
	struct service *const *all;
	struct api_service *v;
	size_t n, di = 0;

	all = services_all(h->services, &n);
	if (n == 0 || (v = calloc(n, sizeof(*v))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		v[i] = (struct api_service){ .name = all[i]->name, .cfg = all[i]->cfg,
		    .pool = all[i]->pool, .balancer = all[i]->balancer,
		    .persist = all[i]->persist, .proxy = all[i]->proxy };
		if (all[i] == def)
			di = i;
	}
	admin_set_services(h->admin, v, n, di);
	free(h->api_services);
	h->api_services = v;
	return 0;
}

/*
 * The default service's overrides at the top level, as a state file of
 * one service always had them; the others' under "services".
 */
struct json_object *
daemon_overrides(const struct harmonyd *h)
{
	struct service *def = services_default(h->services);
	struct service *const *all;
	struct json_object *o, *per = NULL, *one;
	size_t n;

	o = settings_overrides(def->cfg, &def->base);
	all = services_all(h->services, &n);
	for (size_t i = 0; i < n; i++) {
		if (all[i] == def ||
		    (one = settings_overrides(all[i]->cfg, &all[i]->base)) == NULL)
			continue;
		if ((per == NULL && (per = json_object_new_object()) == NULL) ||
		    json_object_object_add(per, all[i]->name, one) < 0) {
			json_object_put(one);
			continue;
		}
	}
	if (per == NULL)
		return o;
	if (o == NULL && (o = json_object_new_object()) == NULL) {
		json_object_put(per);
		return NULL;
	}
	if (json_object_object_add(o, "services", per) < 0)
		json_object_put(per);
	return o;
}

void
daemon_apply_overrides(struct harmonyd *h, struct json_object *o)
{
	struct service *def = services_default(h->services), *svc;
	struct settings_parts parts = parts_of(def);
	struct json_object *per;

	settings_restore(def->cfg, &parts, o);
	if (!json_object_object_get_ex(o, "services", &per) ||
	    !json_object_is_type(per, json_type_object))
		return;
	json_object_object_foreach(per, name, one) {
		/* A service no longer configured: its overrides go with it. */
		if ((svc = services_find(h->services, name)) == NULL)
			continue;
		parts = parts_of(svc);
		settings_restore(svc->cfg, &parts, one);
	}
}

/* A service's listen text changed: it rebinds (only its own listeners). */
static void
rebind(struct service *svc, struct config *oldc, struct config *sc)
{
	char err[512];

	for (size_t i = 0; i < sc->nlistens; i++)
		if (sc->listens[i].addr.len == 0) {
			log_warnx("SIGHUP: services.%s.listen %s: a name is resolved"
			    " only at start; keeping %s", svc->name,
			    sc->listens[i].text, oldc->listen);
			return;
		}
	log_info("SIGHUP: service %s: listening on %s instead of %s", svc->name,
	    sc->listen, oldc->listen);
	proxy_stop_accepting(svc->proxy);
	service_set_config(svc, sc);	/* what service_listen binds */
	if (service_listen(svc, err, sizeof(err)) == -1)
		log_error("SIGHUP: %s; service %s takes no new clients until a"
		    " reload binds it", err, svc->name);
}

/* A service the new configuration adds: made, bound, its targets given. */
static void
add_service(struct harmonyd *h, struct config *sc)
{
	struct service *svc;
	char err[512];

	if ((svc = service_add(h->services, sc)) == NULL) {
		log_warn("SIGHUP: service %s", sc->name);
		return;
	}
	/* Kept unbound if it cannot bind: a later reload may bind it. */
	if (service_listen(svc, err, sizeof(err)) == -1)
		log_error("SIGHUP: %s; service %s takes no clients until a reload"
		    " binds it", err, sc->name);
	if (service_add_static(svc) == -1)
		log_error("SIGHUP: service %s: a static target was refused",
		    sc->name);
	log_info("SIGHUP: service %s added: %s, balance %s, %zu static targets",
	    svc->name, sc->listen, balance_algo_name((enum balance_algo)sc->balance),
	    sc->ntargets);
}

/*
 * SIGHUP with services: the daemon's options, then each service by name:
 * kept (its overrides carried, rebound only if its listen changed),
 * added, or retired (its sessions finish within --grace). Sessions of a
 * service left alone are never touched.
 */
static void
daemon_apply_config(void *arg, struct config *nc)
{
	struct harmonyd *h = arg;
	struct service *const *all;
	struct service *svc;
	struct config old;
	size_t n;

	settings_replace_daemon(&h->cfg, h->ackport,
	    services_default(h->services)->pool, nc);
	/* Retired first, so that a new service may take a listen it freed. */
	all = services_all(h->services, &n);
	for (size_t i = n; i-- > 0;) {
		if (cfg_service_find(nc, all[i]->name) != NULL)
			continue;
		log_info("SIGHUP: service %s removed: no new clients; %zu sessions"
		    " may finish within %lld ms", all[i]->name,
		    proxy_sessions(all[i]->proxy), (long long)nc->grace_ms);
		svc = all[i];
		service_set_config(svc, NULL);
		service_retire(svc, loop_now(h->loop) + nc->grace_ms);
	}
	for (size_t i = 0; i < nc->nservices; i++) {
		struct config *sc = &nc->services[i], *oldc;
		struct settings_parts parts;

		if ((svc = services_find(h->services, sc->name)) == NULL) {
			add_service(h, sc);
			continue;
		}
		oldc = svc->cfg;
		if (strcmp(oldc->listen, sc->listen) != 0)
			rebind(svc, oldc, sc);
		parts = parts_of(svc);
		settings_replace_service(oldc, &svc->base, &parts, sc);
		service_set_config(svc, sc);
	}
	if ((svc = services_find(h->services,
	    nc->services[nc->default_index].name)) != NULL)
		services_set_default(h->services, svc);
	/* The pool it had may be a retired service's, freed soon. */
	if (h->ackport != NULL && (svc = services_default(h->services)) != NULL)
		ackport_set_pool(h->ackport, svc->pool);
	/* nc's services array moves whole: the services' pointers stay good. */
	old = h->cfg;
	h->cfg = *nc;
	memset(nc, 0, sizeof(*nc));
	cfg_free(&old);
	if (services_default(h->services) == NULL) {
		/* Every service failed to be made: nothing could serve. */
		log_error("SIGHUP: no service could be made (out of memory): stopping");
		loop_stop(h->loop);
		return;
	}
	if (daemon_admin_services(h) == -1)
		log_warn("SIGHUP: the admin interface still shows the old services");
	svc = services_default(h->services);
	if (h->cfg.nservices == 1)
		log_info("SIGHUP: configuration reloaded: balance %s, persistence %s,"
		    " %zu static targets", balance_algo_name((enum balance_algo)
		    svc->cfg->balance), svc->cfg->persistent ? "on" : "off",
		    svc->cfg->ntargets);
	else
		log_info("SIGHUP: configuration reloaded: %zu services, default %s",
		    h->cfg.nservices, svc->name);
}

/* Applied, refused or dropped: systemd's reload is over either way. */
static void
daemon_reload_done(void *arg)
{
	struct harmonyd *h = arg;

	sdnotify_reloaded(&h->sdnotify);
}

void
daemon_reload(struct harmonyd *h)
{
	/* The parts exist by now, and stay until harmonyd_stop. */
	h->reloader.p = (struct reload_params){ .loop = h->loop, .argc = h->argc,
	    .argv = h->argv, .cfg = &h->cfg, .stopping = &h->stopping,
	    .apply = daemon_apply_config, .done = daemon_reload_done, .arg = h };
	sdnotify_reloading(&h->sdnotify);
	reload_request(&h->reloader);
}

void
daemon_reload_cancel(struct harmonyd *h)
{
	reload_cancel(&h->reloader);
}
