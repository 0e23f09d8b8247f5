/*
 * sdnotify: telling systemd how the process is doing (sd_notify(3), for
 * Type=notify units): ready, reloading, stopping, a one-line status, and
 * the watchdog's keep-alive pings.
 *
 * Nothing is sent unless NOTIFY_SOCKET is set (systemd sets it for a
 * Type=notify service) and the build has libsystemd (configure's
 * --with-systemd, the default when it is found): every function is then a
 * no-op and arms no timer. The status and the pings come from loop timers,
 * never from a request: a loop that no longer turns stops pinging, and
 * systemd (WatchdogSec=) restarts the service.
 *
 * The owner embeds a struct sdnotify, calls sdnotify_init before its loop
 * runs and sdnotify_stop before freeing the loop. The status callback is
 * borrowed until sdnotify_stop.
 */
#ifndef HARMONY_SDNOTIFY_H
#define HARMONY_SDNOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/loop.h"

#define SDNOTIFY_STATUS_MS	3000	/* STATUS= refreshed at most this often */
#define SDNOTIFY_STATUS_MAX	256

/* Writes the one-line status (NUL-terminated) into buf. */
typedef void	sdnotify_status_fn(void *arg, char *buf, size_t len);

struct sdnotify {
	struct loop		*loop;
	struct loop_timer	 ping;		/* WATCHDOG=1 */
	struct loop_timer	 status;	/* STATUS= when it changed */
	sdnotify_status_fn	*status_fn;
	void			*arg;
	int64_t			 ping_ms;	/* half the watchdog period, or 0 */
	bool			 enabled;	/* NOTIFY_SOCKET, and libsystemd */
	bool			 mainpid;	/* READY=1 says MAINPID= (takeover) */
	bool			 replaced;	/* handed over: the next one reports */
	bool			 stopping;	/* STOPPING=1 said: no READY=1 again */
	bool			 failed;	/* a send failed: said once */
	char			 last[SDNOTIFY_STATUS_MAX];
};

/* true if built with libsystemd (configure --with-systemd). */
bool	sdnotify_built(void);
/*
 * takeover: the pid of the harmonyd this one replaces (--takeover), or 0.
 * Such a process, or one that systemd did not start itself
 * (SYSTEMD_EXEC_PID is another's), says MAINPID= with its READY=1; the
 * watchdog period it inherits from the one it replaces is its own.
 */
void	sdnotify_init(struct sdnotify *, struct loop *, pid_t takeover,
	    sdnotify_status_fn *, void *arg);
/* READY=1 and the first STATUS=, and arms the timers: every listener is bound. */
void	sdnotify_ready(struct sdnotify *);
/* RELOADING=1 (with MONOTONIC_USEC=) ... READY=1, around SIGHUP. */
void	sdnotify_reloading(struct sdnotify *);
void	sdnotify_reloaded(struct sdnotify *);
/*
 * The next harmonyd takes over (SIGUSR2): it says READY=1 and MAINPID=
 * and the status from now on; this one's stop is no longer the service's.
 * The pings go on until this one exits.
 */
void	sdnotify_replaced(struct sdnotify *);
/* STOPPING=1, unless replaced. */
void	sdnotify_stopping(struct sdnotify *);
/* Cancels the timers (at exit, before the loop is freed). */
void	sdnotify_stop(struct sdnotify *);

#endif
