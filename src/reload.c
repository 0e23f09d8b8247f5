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

#include "ack/ackport.h"
#include "common/log.h"
#include "config.h"
#include "core/net.h"
#include "core/resolve.h"
#include "daemon.h"
#include "reload.h"
#include "settings.h"

#define RELOAD_NAMES_SHOWN	3	/* in a log line, then "and N more" */

/* A reload waiting for its names. */
struct reload {
	struct reloader	*rl;
	struct config	 cfg;		/* read and checked; names unresolved */
	const char	**names;	/* the targets' names, into cfg */
	size_t		*target_of;	/* names[i] is cfg.targets[target_of[i]] */
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

static void
reload_apply(struct reloader *rl, struct config *nc)
{
	settings_replace(rl->p.cfg, rl->p.base, &rl->p.parts, nc);
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
	if (ok && stopping(rl))
		log_info("SIGHUP: stopping, not reloading");
	else if (ok)
		reload_apply(rl, &r->cfg);
	reload_free(r);
	if (rl->again && !stopping(rl)) {
		rl->again = false;
		reload_request(rl);
	}
}

void
reload_request(struct reloader *rl)
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
parts_of(const struct harmonyd *h)
{
	return (struct settings_parts){ .pool = h->pool, .balancer = h->balancer,
	    .persist = h->persist, .proxy = h->proxy, .ackport = h->ackport };
}

struct ackport *
daemon_ackport_new(struct harmonyd *h)
{
	struct ackport_params ap;
	struct net_cidr *allow;
	struct ackport *a;

	if (settings_ackport_params(&h->cfg, &ap, &allow) == -1)
		return NULL;
	a = ackport_new(h->loop, h->pool, &ap);
	free(allow);
	return a;
}

int
daemon_capture_base(struct harmonyd *h)
{
	return settings_base_capture(&h->base, &h->cfg);
}

void
daemon_free_base(struct harmonyd *h)
{
	settings_base_free(&h->base);
}

struct json_object *
daemon_overrides(const struct harmonyd *h)
{
	return settings_overrides(&h->cfg, &h->base);
}

void
daemon_apply_overrides(struct harmonyd *h, struct json_object *o)
{
	struct settings_parts parts = parts_of(h);

	settings_restore(&h->cfg, &parts, o);
}

void
daemon_reload(struct harmonyd *h)
{
	/* The parts exist by now, and stay until harmonyd_stop. */
	h->reloader.p = (struct reload_params){ .loop = h->loop, .argc = h->argc,
	    .argv = h->argv, .cfg = &h->cfg, .base = &h->base,
	    .parts = parts_of(h), .stopping = &h->stopping };
	reload_request(&h->reloader);
}

void
daemon_reload_cancel(struct harmonyd *h)
{
	reload_cancel(&h->reloader);
}
