/*
 * reload: SIGHUP, reading the options again.
 *
 * A reload reads the options again (the command line, and the -c file it
 * names) into a new struct config, without asking DNS: the loop must not
 * wait for a name server. Static targets given by name are then resolved
 * by a child process (core/resolve.h) within RELOAD_RESOLVE_MS, while the
 * running configuration keeps serving. If anything is wrong (a bad file, a
 * name that does not resolve, no answer in time) the running configuration
 * stays, whole, and the log says why. Otherwise settings_replace
 * (settings.h) puts the new one in force, the overrides kept.
 *
 * One reload at a time: reload_request while one resolves makes one more
 * reload once it ends, which reads the options afresh.
 *
 * The owner fills the reloader's params (borrowed: they outlive every
 * reload) and keeps it in one place while a reload may be pending.
 */
#ifndef HARMONY_RELOAD_H
#define HARMONY_RELOAD_H

#include <stdbool.h>

#include "settings.h"

#define RELOAD_RESOLVE_MS	10000	/* names must resolve within this */

struct config;
struct loop;
struct reload;

struct reload_params {
	struct loop		*loop;		/* for the resolver */
	int			 argc;		/* the options to read again */
	char			**argv;
	struct config		*cfg;		/* the live configuration */
	struct settings_base	*base;		/* its tunables as configured */
	struct settings_parts	 parts;
	const bool		*stopping;	/* true: a pending reload is dropped */
	/*
	 * If set, puts the new configuration (checked, its names resolved)
	 * in force instead of settings_replace over cfg, base and parts:
	 * harmonyd's services (reload.c). It empties nc as settings_replace.
	 */
	void			(*apply)(void *arg, struct config *nc);
	/*
	 * If set, called once no reload is left to do: the last one applied,
	 * refused or dropped (systemd's READY=1 after RELOADING=1).
	 */
	void			(*done)(void *arg);
	void			*arg;
};

struct reloader {
	struct reload_params	 p;
	struct reload		*pending;	/* resolving its names */
	bool			 again;		/* requested meanwhile: once more */
};

/*
 * Reads the options again and applies them now, or once their names are
 * resolved (then rl->pending is set), or not at all.
 */
void		 reload_request(struct reloader *);
/* Abandons a reload still resolving (at exit). */
void		 reload_cancel(struct reloader *);

#endif
