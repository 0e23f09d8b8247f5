/*
 * service: one balanced service, the unit that owns its client listeners
 * (in its proxy), its pool of targets, its balancer, its persistence table
 * and that table's expiry timer.
 *
 * harmonyd runs a set of them (struct services), one per entry of
 * cfg->services (config.h). Their pools share one id space and harmonyd's
 * own addresses (pool_shared, registry/pool.h), so that an id or a key
 * names a target daemon-wide and no service may balance to a listener of
 * another; their health checks share one bound on probes in flight
 * (check_set, check/check.h). service_set_config applies the service's
 * check and slow start, so a SIGHUP's new ones take effect there. A service borrows its struct config, the daemon's
 * cfg->services[i]: settings.c writes it, and whoever replaces the
 * configuration points each service at its new entry (service_set_config).
 *
 * A service removed while it runs (SIGHUP) stops accepting at once and is
 * retired: its sessions go on until they end or the grace period is over,
 * then services_reap frees it.
 */
#ifndef HARMONY_SERVICE_H
#define HARMONY_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/service.h"
#include "core/loop.h"
#include "settings.h"

struct balancer;
struct check;
struct check_set;
struct config;
struct fdbudget;
struct persist;
struct pool;
struct pool_shared;
struct proxy;
struct services;

struct service {
	struct services	*set;
	struct config	*cfg;		/* borrowed: cfg->services[i] */
	char		 name[SERVICE_NAME_MAX + 1];
	struct pool	*pool;
	struct balancer	*balancer;
	struct persist	*persist;
	struct proxy	*proxy;
	struct check	*check;		/* its health checks (check/check.h) */
	struct loop_timer expire_timer;	/* persistence entries past their TTL */
	struct settings_base base;	/* its tunables as configured (settings.h) */
	bool		 retired;	/* removed: finishing its sessions */
	int64_t		 retire_deadline;	/* loop ms its sessions may last */
};

struct services	*services_new(struct loop *, struct fdbudget *);
/* Frees every service, retired ones too: after the loop has stopped. */
void		 services_free(struct services *);
struct pool_shared *services_shared(struct services *);
struct check_set *services_checks(struct services *);

/*
 * A new service for cfg (a cfg->services[] entry), with its parts made
 * and nothing bound yet; the first one added is the default until
 * services_set_default says otherwise. NULL with errno.
 */
struct service	*service_add(struct services *, struct config *cfg);
/*
 * Binds each of cfg->listens (config.h) and makes it known as our own
 * (pool_self). -1 with "services.NAME.listen ADDR: reason" in err, what
 * it bound left bound (service_retire or services_free closes it).
 */
int		 service_listen(struct service *, char *err, size_t errlen);
/*
 * The configured static targets into the pool (a restored registered
 * target at one of their addresses becomes static, with its id). -1 if
 * one cannot be (logged).
 */
int		 service_add_static(struct service *);
void		 service_set_config(struct service *, struct config *cfg);
/*
 * Removed from the set: no new clients; it lingers, retired, until its
 * sessions end (services_reap) or until deadline (loop ms).
 */
void		 service_retire(struct service *, int64_t deadline);

void		 services_set_default(struct services *, struct service *);
struct service	*services_default(const struct services *);
/* The live service of exactly that name, or NULL. */
struct service	*services_find(const struct services *, const char *name);
/* The live (not retired) services, in the order added: *n of them. */
struct service	*const *services_all(const struct services *, size_t *n);
/* Frees the retired services whose sessions are over or whose time is up. */
void		 services_reap(struct services *);
/* Sessions alive in every service, retired ones included. */
size_t		 services_sessions(const struct services *);
/* Every service stops accepting (SIGTERM). */
void		 services_stop_accepting(struct services *);
/*
 * Closes every session and listener (their counters final), before the
 * last save; services_free follows. Nothing may touch a proxy after.
 */
void		 services_end_sessions(struct services *);

#endif
