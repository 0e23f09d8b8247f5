/*
 * daemon: the parts of a running harmonyd, shared by harmonyd.c (start,
 * signals, stop) and reload.c, which implements the functions below by
 * handing settings.c (the live configuration, its overrides) and the
 * reloader (SIGHUP) the parts they need.
 *
 * struct harmonyd owns every part; harmonyd.c creates and frees them.
 */
#ifndef HARMONY_DAEMON_H
#define HARMONY_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "core/loop.h"
#include "core/sdnotify.h"
#include "reload.h"
#include "settings.h"

struct json_object;
struct fdbudget;
struct api_service;
struct services;

struct harmonyd {
	struct config	 cfg;
	struct loop	*loop;
	struct services	*services;	/* service/service.h: pools, proxies... */
	struct api_service *api_services;	/* what admin shows of them */
	struct ackport	*ackport;
	struct admin	*admin;
	struct fdbudget	*fdbudget;	/* every part's fds (acceptor.h) */
	int		 sigpipe[2];
	bool		 stopping;
	int64_t		 stop_deadline;
	struct loop_timer stop_timer;
	struct saver	*saver;		/* with --state-file */
	int		 state_lock;	/* until the saver takes it, or -1 */
	int		 argc;		/* to read the options again on SIGHUP */
	char		**argv;
	struct reloader	 reloader;	/* SIGHUP */
	struct sdnotify	 sdnotify;	/* systemd's Type=notify */
};

struct ackport	*daemon_ackport_new(struct harmonyd *);
/*
 * Tells admin the services as they are now (at start, after a reload):
 * -1 on ENOMEM, and admin keeps what it had.
 */
int		 daemon_admin_services(struct harmonyd *);
/* The live tunables that differ from the configured ones, or NULL. */
struct json_object *daemon_overrides(const struct harmonyd *);
/* Applies saved overrides to the live configuration and the parts. */
void		 daemon_apply_overrides(struct harmonyd *, struct json_object *);
/*
 * SIGHUP: read the options again; apply what can change, or keep all.
 * Names are resolved off the loop, so it may apply later (or not at all).
 */
void		 daemon_reload(struct harmonyd *);
/* Abandons a reload still resolving (at exit). */
void		 daemon_reload_cancel(struct harmonyd *);

#endif
