/*
 * sdnotify: see sdnotify.h. Without libsystemd (--without-systemd) only
 * notify() differs: it sends nothing, and sdnotify_init never enables.
 *
 * sd_notify(3) sends one small datagram to NOTIFY_SOCKET, which the
 * service manager drains as they come; a few a second at most go out from
 * here (a ping per half period, a status when it changed), so the loop is
 * not held up by them.
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "common/log.h"
#include "core/sdnotify.h"

/* Room for "READY=1\nMAINPID=...\nSTATUS=" and the status. */
#define SDNOTIFY_MSG_MAX	(SDNOTIFY_STATUS_MAX + 64)

static void
notify(struct sdnotify *n, const char *msg)
{
#ifdef HAVE_SYSTEMD
	int r;

	if (!n->enabled)
		return;
	if ((r = sd_notify(0, msg)) < 0 && !n->failed) {
		/* Once: a gone socket would say so at every ping. */
		errno = -r;
		log_warn("sd_notify %s", getenv("NOTIFY_SOCKET"));
		n->failed = true;
	} else if (r > 0)
		n->failed = false;
#else
	(void)n;
	(void)msg;
#endif
}

bool
sdnotify_built(void)
{
#ifdef HAVE_SYSTEMD
	return true;
#else
	return false;
#endif
}

/* "123" as a pid, or 0. */
static pid_t
env_pid(const char *name)
{
	const char *v = getenv(name);
	char *end;
	long pid;

	if (v == NULL)
		return 0;
	errno = 0;
	pid = strtol(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || pid <= 0 || pid > INT32_MAX)
		return 0;
	return (pid_t)pid;
}

/*
 * The watchdog period in ms (0: none): WATCHDOG_USEC, if WATCHDOG_PID is
 * unset or ours (sd_watchdog_enabled(3)), or the replaced harmonyd's.
 */
static int64_t
watchdog_ms(pid_t takeover)
{
#ifdef HAVE_SYSTEMD
	uint64_t usec = 0;
	const char *v;
	char *end;

	if (sd_watchdog_enabled(0, &usec) <= 0) {
		if (takeover == 0 || env_pid("WATCHDOG_PID") != takeover ||
		    (v = getenv("WATCHDOG_USEC")) == NULL)
			return 0;
		errno = 0;
		usec = strtoull(v, &end, 10);
		if (errno != 0 || end == v || *end != '\0')
			return 0;
	}
	return usec == 0 ? 0 : (int64_t)((usec + 999) / 1000);
#else
	(void)takeover;
	return 0;
#endif
}

static void
send_status(struct sdnotify *n, bool ready)
{
	char text[SDNOTIFY_STATUS_MAX], msg[SDNOTIFY_MSG_MAX];

	n->status_fn(n->arg, text, sizeof(text));
	if (!ready && strcmp(text, n->last) == 0)
		return;
	if (ready && n->mainpid) {
		snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%ld\nSTATUS=%s",
		    (long)getpid(), text);
		n->mainpid = false;	/* said once is enough */
	} else
		snprintf(msg, sizeof(msg), "%sSTATUS=%s", ready ? "READY=1\n" : "",
		    text);
	notify(n, msg);
	snprintf(n->last, sizeof(n->last), "%s", text);
}

static int64_t
on_ping(struct loop *l, struct loop_timer *t, void *arg)
{
	struct sdnotify *n = arg;

	(void)l;
	(void)t;
	notify(n, "WATCHDOG=1");
	return n->ping_ms;
}

static int64_t
on_status(struct loop *l, struct loop_timer *t, void *arg)
{
	struct sdnotify *n = arg;

	(void)l;
	(void)t;
	if (n->replaced)
		return LOOP_TIMER_STOP;
	send_status(n, false);
	return SDNOTIFY_STATUS_MS;
}

void
sdnotify_init(struct sdnotify *n, struct loop *l, pid_t takeover,
    sdnotify_status_fn *fn, void *arg)
{
	pid_t exec_pid = env_pid("SYSTEMD_EXEC_PID");
	int64_t period;

	memset(n, 0, sizeof(*n));
	n->loop = l;
	n->status_fn = fn;
	n->arg = arg;
	loop_timer_init(&n->ping, on_ping, n);
	loop_timer_init(&n->status, on_status, n);
	n->enabled = sdnotify_built() && getenv("NOTIFY_SOCKET") != NULL;
	if (!n->enabled)
		return;
	n->mainpid = takeover != 0 || (exec_pid != 0 && exec_pid != getpid());
	/* Half the period, so that one late turn of the loop is not fatal. */
	if ((period = watchdog_ms(takeover)) > 0)
		n->ping_ms = period / 2 > 0 ? period / 2 : 1;
}

void
sdnotify_ready(struct sdnotify *n)
{
	if (!n->enabled)
		return;
	send_status(n, true);
	if (n->ping_ms > 0) {
		notify(n, "WATCHDOG=1");
		loop_timer_add(n->loop, &n->ping, n->ping_ms);
	}
	loop_timer_add(n->loop, &n->status, SDNOTIFY_STATUS_MS);
}

void
sdnotify_reloading(struct sdnotify *n)
{
	char msg[SDNOTIFY_MSG_MAX] = "RELOADING=1";
	struct timespec ts;

	if (!n->enabled || n->replaced || n->stopping)
		return;
	/* systemd >= 253 (Type=notify-reload) wants the time; older ignore it. */
	if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0)
		snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
		    (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000);
	notify(n, msg);
}

void
sdnotify_reloaded(struct sdnotify *n)
{
	if (!n->enabled || n->replaced || n->stopping)
		return;
	send_status(n, true);
}

void
sdnotify_replaced(struct sdnotify *n)
{
	if (!n->enabled)
		return;
	n->replaced = true;
	loop_timer_cancel(n->loop, &n->status);
}

void
sdnotify_stopping(struct sdnotify *n)
{
	if (!n->enabled || n->replaced || n->stopping)
		return;
	n->stopping = true;
	notify(n, "STOPPING=1");
}

void
sdnotify_stop(struct sdnotify *n)
{
	if (n->loop == NULL)
		return;
	loop_timer_cancel(n->loop, &n->ping);
	loop_timer_cancel(n->loop, &n->status);
}
