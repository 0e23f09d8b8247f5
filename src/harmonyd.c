/*
 * harmonyd: options -> config -> start the parts -> run the loop -> stop.
 *
 * main owns every part it starts and frees them in reverse order, so that
 * a clean exit leaves nothing for valgrind or LeakSanitizer to report.
 * Signals only write their number to a self-pipe; the loop reads it.
 */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "ack/ackport.h"
#include "admin/admin.h"
#include "common/log.h"
#include "common/selfpipe.h"
#include "check/check.h"
#include "config.h"
#include "core/acceptor.h"
#include "core/loop.h"
#include "core/net.h"
#include "core/sdnotify.h"
#include "daemon.h"
#include "instance.h"
#include "proxy/proxy.h"
#include "registry/balance.h"
#include "registry/persist.h"
#include "registry/pool.h"
#include "registry/selfaddr.h"
#include "service/service.h"
#include "state/state.h"
#include "state/statesaver.h"

#define STOP_CHECK_MS		100
#define TAKEOVER_WAIT_MS	30000	/* for the old one's last save */
#define TOUCH_SAVE_MAX_MS	300000	/* persistence recency: 5 min at most */


/* Signals only write their number to the self-pipe (common/selfpipe.h). */
static int
signals_init(struct harmonyd *h)
{
	if (selfpipe_open(h->sigpipe) == -1 || selfpipe_set(SIGPIPE, SIG_IGN) == -1)
		return -1;
	/* Inherited SIG_IGN would reap the state saver's child before we can. */
	if (selfpipe_set(SIGCHLD, SIG_DFL) == -1)
		return -1;
	if (selfpipe_catch(SIGTERM, 0) == -1 || selfpipe_catch(SIGINT, 0) == -1 ||
	    selfpipe_catch(SIGHUP, 0) == -1 || selfpipe_catch(SIGUSR2, 0) == -1)
		return -1;
	return 0;
}

static int64_t
on_stop_check(struct loop *l, struct loop_timer *t, void *arg)
{
	struct harmonyd *h = arg;

	(void)t;
	services_reap(h->services);
	if (services_sessions(h->services) == 0) {
		log_info("all sessions ended: exiting");
		loop_stop(l);
		return LOOP_TIMER_STOP;
	}
	if (loop_now(l) >= h->stop_deadline) {
		log_info("grace period over: closing %zu sessions",
		    services_sessions(h->services));
		loop_stop(l);
		return LOOP_TIMER_STOP;
	}
	return STOP_CHECK_MS;
}

static void
begin_stop(struct harmonyd *h, int signo)
{
	if (h->stopping) {
		log_info("%s again: stopping now", strsignal(signo));
		loop_stop(h->loop);
		return;
	}
	h->stopping = true;
	sdnotify_stopping(&h->sdnotify);
	log_info("%s: no new clients; waiting up to %lld ms for %zu sessions",
	    strsignal(signo), (long long)h->cfg.grace_ms,
	    services_sessions(h->services));
	services_stop_accepting(h->services);
	if (h->ackport != NULL)
		ackport_stop(h->ackport);
	admin_stop(h->admin);
	h->stop_deadline = loop_now(h->loop) + h->cfg.grace_ms;
	loop_timer_add(h->loop, &h->stop_timer, 0);
}

static void
on_signal_pipe(struct loop *l, int fd, short revents, void *arg)
{
	struct harmonyd *h = arg;
	unsigned char sigs[16];
	ssize_t n;

	(void)l;
	(void)revents;
	while ((n = read(fd, sigs, sizeof(sigs))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (sigs[i] == SIGHUP && !h->stopping)
				daemon_reload(h);
			else if (sigs[i] == SIGHUP)
				log_info("SIGHUP: stopping, not reloading");
			else if (sigs[i] == SIGUSR2 && h->saver != NULL) {
				sdnotify_replaced(&h->sdnotify);
				saver_handover(h->saver);
			} else if (sigs[i] == SIGUSR2) {
				sdnotify_replaced(&h->sdnotify);
				log_info("SIGUSR2: no state file to hand over");
			} else
				begin_stop(h, sigs[i]);
		}
	}
}

static struct json_object *
runtime_of(void *arg)
{
	return daemon_overrides(arg);
}

/* Persistence recency is saved a few times per TTL, never every second. */
static int64_t
touch_interval(const struct config *cfg)
{
	int64_t ms = cfg->persist_ttl_ms / 4;

	if (ms <= 0 || ms > TOUCH_SAVE_MAX_MS)
		return TOUCH_SAVE_MAX_MS;
	return ms < 1000 ? 1000 : ms;
}

/*
 * With --takeover, the old one is asked for its last save first and the
 * lock waited for; otherwise a locked file means a second harmonyd.
 */
static int
state_acquire(struct harmonyd *h)
{
	const char *path = h->cfg.state_file;
	pid_t old = (pid_t)h->cfg.takeover_pid, holder;
	char err[256];

	/*
	 * Under systemd the old one must know it is replaced even with no
	 * state file to hand over: its stop is no longer the service's
	 * (sdnotify_replaced).
	 */
	if (path == NULL && old != 0 && h->sdnotify.enabled &&
	    instance_handover(old, err, sizeof(err)) == -1)
		log_warnx("--takeover %ld: %s", (long)old, err);
	if (path == NULL)
		return 0;
	if (old != 0) {
		switch (instance_handover(old, err, sizeof(err))) {
		case -1:
			log_error("--takeover %ld: %s", (long)old, err);
			return -1;
		case 1:
			log_warnx("--takeover %ld: it does not take SIGUSR2 (an older"
			    " harmonyd?): its own last save may overwrite %s",
			    (long)old, path);
			break;
		default:
			log_info("state: waiting for pid %ld to hand %s over",
			    (long)old, path);
			break;
		}
	}
	h->state_lock = state_lock(path, old != 0 ? TAKEOVER_WAIT_MS : 0, &holder,
	    err, sizeof(err));
	if (h->state_lock != -1)
		return 0;
	if (holder == 0)
		log_error("state: %s: %s", path, err);
	else if (old != 0)
		log_error("state: %s is still held by pid %ld after %d s", path,
		    (long)holder, TAKEOVER_WAIT_MS / 1000);
	else
		log_error("state: %s is in use by pid %ld: another harmonyd with"
		    " this --state-file runs (to replace it, use harmonyd-restart.sh"
		    " or --takeover %ld)", path, (long)holder, (long)holder);
	return -1;
}

/*
 * The state file's parts (state.h): every live service's, the default's
 * first. A new array (saver_parts_fn), NULL on ENOMEM.
 */
static struct state_part *
state_parts(void *arg, size_t *n)
{
	struct harmonyd *h = arg;
	struct service *def = services_default(h->services);
	struct service *const *all = services_all(h->services, n);
	struct state_part *parts = calloc(*n + 1, sizeof(*parts));
	size_t k = 0;

	if (parts == NULL)
		return NULL;
	parts[k++] = (struct state_part){ def->name, def->pool, def->persist };
	for (size_t i = 0; i < *n; i++)
		if (all[i] != def)
			parts[k++] = (struct state_part){ all[i]->name, all[i]->pool,
			    all[i]->persist };
	*n = k;
	return parts;
}

static int
state_start(struct harmonyd *h)
{
	struct json_object *runtime = NULL;
	struct state_part *parts;
	size_t restored, n, entries = 0;
	enum state_load_result r;
	char err[256];

	if (h->cfg.state_file == NULL)
		return 0;
	if ((parts = state_parts(h, &n)) == NULL) {
		log_warn("state");
		return -1;
	}
	r = state_load_parts(h->cfg.state_file, parts, n, &runtime,
	    loop_now(h->loop), &restored, err, sizeof(err));
	for (size_t i = 0; i < n; i++)
		entries += persist_count(parts[i].persist);
	free(parts);
	switch (r) {
	case STATE_LOADED:
		log_info("state: restored %zu targets and %zu persistence entries from %s",
		    restored, entries, h->cfg.state_file);
		break;
	case STATE_NONE:
		log_info("state: %s does not exist yet", h->cfg.state_file);
		break;
	case STATE_BAD:
		log_warnx("state: ignoring %s: %s", h->cfg.state_file, err);
		break;
	case STATE_UNREADABLE:
		/* Saving over it would lose every target and key it holds. */
		log_error("state: cannot read %s: %s; not starting, so as not to"
		    " overwrite it (fix it, or move it away to start afresh)",
		    h->cfg.state_file, err);
		return -1;
	}
	if (runtime != NULL) {
		daemon_apply_overrides(h, runtime);
		json_object_put(runtime);
	}
	h->saver = saver_new(&(struct saver_params){ .path = h->cfg.state_file,
	    .loop = h->loop, .parts = state_parts, .runtime = runtime_of,
	    .arg = h, .touch_ms = touch_interval(&h->cfg) }, h->state_lock);
	if (h->saver == NULL) {
		log_warn("state");
		return -1;
	}
	h->state_lock = -1;	/* the saver's now */
	return 0;
}

static int
add_static_targets(struct harmonyd *h)
{
	size_t n;
	struct service *const *all = services_all(h->services, &n);

	for (size_t i = 0; i < n; i++)
		if (service_add_static(all[i]) == -1)
			return -1;
	return 0;
}

/* README "Security": say so when writes are open beyond loopback. */
static void
warn_if_open(const struct harmonyd *h, const char *what, const struct net_addr *a)
{
	if (h->cfg.token == NULL && !net_is_loopback((const struct sockaddr *)&a->ss))
		log_warnx("the %s listens beyond loopback without --token: only loopback "
		    "and --allow networks may write", what);
}

/* A target there would loop back into us: the pool refuses it. */
static void
own_listener(struct harmonyd *h, const struct net_addr *bound, const char *what)
{
	if (selfaddr_add_listener(pool_shared_self(services_shared(h->services)),
	    (const struct sockaddr *)&bound->ss,
	    what) == -1)
		log_warn("%s listener: not known as our own", what);
}

/* How the user named a service's listen: the flag, or the file's key. */
static void
listen_flag(const struct config *cfg, const struct config *sc, char *buf, size_t len)
{
	if (cfg->services_implicit)
		snprintf(buf, len, "--listen");
	else
		snprintf(buf, len, "services.%s.listen", sc->name);
}

static int
check_port(struct harmonyd *h, const char *flag, const char *value,
    const struct net_addr *a)
{
	pid_t old = (pid_t)h->cfg.takeover_pid, holder;
	char err[256];

	if (instance_probe(a, &holder, err, sizeof(err)) == 0)
		return 0;
	if (old != 0 && (holder == old || holder == 0))
		return 0;
	if (old != 0)
		log_error("%s %s: %s, not by --takeover %ld", flag, value, err,
		    (long)old);
	else
		log_error("%s %s: %s: is another harmonyd running? (to replace"
		    " one, use harmonyd-restart.sh or --takeover PID)", flag, value,
		    err);
	return -1;
}

/*
 * Every listener allows SO_REUSEPORT, for --takeover: this is where a
 * port someone else listens on is refused, before anything else starts.
 * With --takeover only the old harmonyd (or a holder /proc cannot name)
 * may hold them.
 */
static int
check_ports(struct harmonyd *h)
{
	const struct {
		const char	*flag;
		const char	*value;
	} ports[] = {
		{ "--ack-port", h->cfg.ack_port },
		{ "--http", h->cfg.http },
	};
	char err[256], flag[SERVICE_NAME_MAX + 32];
	struct net_addr a;

	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		if (strcmp(ports[i].value, "0") == 0)
			continue;
		if (net_parse_listen(ports[i].value, h->cfg.host, &a, err,
		    sizeof(err)) == -1)
			continue;	/* start_listeners says why */
		if (check_port(h, ports[i].flag, ports[i].value, &a) == -1)
			return -1;
	}
	for (size_t i = 0; i < h->cfg.nservices; i++) {
		const struct config *sc = &h->cfg.services[i];

		listen_flag(&h->cfg, sc, flag, sizeof(flag));
		for (size_t j = 0; j < sc->nlistens; j++)
			if (sc->listens[j].addr.len > 0 && check_port(h, flag,
			    sc->listens[j].text, &sc->listens[j].addr) == -1)
				return -1;
	}
	return 0;
}

static int
start_listeners(struct harmonyd *h)
{
	struct service *const *all;
	struct net_addr a, bound;
	char err[256], text[NET_ADDRSTRLEN];
	size_t n;

	if (strcmp(h->cfg.ack_port, "0") != 0) {
		if (net_parse_listen(h->cfg.ack_port, h->cfg.host, &a, err, sizeof(err)) == -1 ||
		    ackport_listen(h->ackport, &a, &bound, err, sizeof(err)) == -1) {
			log_error("--ack-port %s: %s", h->cfg.ack_port, err);
			return -1;
		}
		log_info("listening: ack %s",
		    net_addr_text((struct sockaddr *)&bound.ss, text, sizeof(text)));
		own_listener(h, &bound, "ack");
		warn_if_open(h, "ack port", &bound);
	}
	if (strcmp(h->cfg.http, "0") != 0) {
		if (net_parse_listen(h->cfg.http, h->cfg.host, &a, err, sizeof(err)) == -1 ||
		    admin_listen(h->admin, &a, &bound, err, sizeof(err)) == -1) {
			log_error("--http %s: %s", h->cfg.http, err);
			return -1;
		}
		log_info("listening: http %s",
		    net_addr_text((struct sockaddr *)&bound.ss, text, sizeof(text)));
		own_listener(h, &bound, "http");
		warn_if_open(h, "admin HTTP interface", &bound);
	}
	all = services_all(h->services, &n);
	for (size_t i = 0; i < n; i++) {
		if (service_listen(all[i], err, sizeof(err)) == -1) {
			/* Today's words when the one service is the top level's. */
			if (h->cfg.services_implicit && strncmp(err, "services.", 9) == 0)
				log_error("--listen %s", strchr(err, ' ') + 1);
			else
				log_error("%s", err);
			return -1;
		}
	}
	return 0;
}

/*
 * "listening: service NAME ADDR" for each client listener of each
 * configured service; last, the default service's first listener as
 * "listening: clients ADDR" (the only line when no services are
 * configured, as always): tests and scripts wait for it.
 */
static void
log_client_listeners(struct harmonyd *h)
{
	struct service *def = services_default(h->services);
	struct service *const *all;
	struct net_addr bound[CFG_LISTEN_MAX];
	char text[NET_ADDRSTRLEN];
	size_t n, nb;

	all = services_all(h->services, &n);
	for (size_t i = 0; i < n; i++) {
		nb = proxy_listeners(all[i]->proxy, bound, CFG_LISTEN_MAX);
		for (size_t j = all[i] == def && h->cfg.services_implicit ? 1 : 0;
		    j < nb && j < CFG_LISTEN_MAX; j++)
			log_info("listening: service %s %s", all[i]->name,
			    net_addr_text((struct sockaddr *)&bound[j].ss, text,
			    sizeof(text)));
	}
	nb = proxy_listeners(def->proxy, bound, 1);
	if (nb > 0)
		log_info("listening: clients %s", net_addr_text(
		    (struct sockaddr *)&bound[0].ss, text, sizeof(text)));
}

/*
 * The fd budget's shares, from the limit in effect now that everything
 * that stays open is: listeners, the loop, logs (acceptor.h).
 */
static void
fdbudget_start(struct harmonyd *h, long raised_from)
{
	size_t cap[FD_USER_COUNT] = {
		[FD_USER_PROXY] = 0,
		[FD_USER_ACK] = ACKPORT_MAX_CONNS,
		[FD_USER_ADMIN] = 2 * (size_t)(ADMIN_CONN_MAX + ADMIN_CONN_SPARE),
		[FD_USER_CHECK] = CHECK_INFLIGHT_MAX,
	};

	fdbudget_share(h->fdbudget, cap, raised_from);
}

/* STATUS= (core/sdnotify.h): "2 services, 3/4 targets up, 17 sessions". */
static void
status_line(void *arg, char *buf, size_t len)
{
	struct harmonyd *h = arg;
	struct service *const *all;
	size_t n, up = 0, total = 0;

	all = services_all(h->services, &n);
	for (size_t i = 0; i < n; i++) {
		total += pool_count(all[i]->pool);
		up += pool_count_state(all[i]->pool, TARGET_UP) +
		    pool_count_state(all[i]->pool, TARGET_STATIC);
	}
	snprintf(buf, len, "%s%zu service%s, %zu/%zu targets up, %zu sessions",
	    h->stopping ? "stopping: " : "", n, n == 1 ? "" : "s", up, total,
	    services_sessions(h->services));
}

static int
harmonyd_start(struct harmonyd *h)
{
	struct service *def = NULL;
	long raised_from;

	/* As redis does: all the fds we may, then shared out (acceptor.h). */
	(void)fdlimit_raise(&raised_from);
	if ((h->fdbudget = fdbudget_new()) == NULL) {
		log_warn("start-up");
		return -1;
	}

	/* First, so that harmonyd_stop may cancel them whatever failed. */
	loop_timer_init(&h->stop_timer, on_stop_check, h);
	if (signals_init(h) == -1) {
		log_warn("signals");
		return -1;
	}
	if (h->cfg.access_log != NULL && log_access_open(h->cfg.access_log) == -1) {
		log_warn("--access-log %s", h->cfg.access_log);
		return -1;
	}
	if ((h->loop = loop_new()) == NULL ||
	    (h->services = services_new(h->loop, h->fdbudget)) == NULL) {
		log_warn("start-up");
		return -1;
	}
	sdnotify_init(&h->sdnotify, h->loop, (pid_t)h->cfg.takeover_pid,
	    status_line, h);
	for (size_t i = 0; i < h->cfg.nservices; i++) {
		struct service *svc = service_add(h->services, &h->cfg.services[i]);

		if (svc == NULL) {
			log_warn("service %s", h->cfg.services[i].name);
			return -1;
		}
		if (i == h->cfg.default_index)
			def = svc;
	}
	/* cfg_validate made at least one service and chose the default. */
	if (def == NULL) {
		log_error("start-up: no default service");
		return -1;
	}
	services_set_default(h->services, def);
	if ((h->ackport = daemon_ackport_new(h)) == NULL) {
		log_warn("ack port");
		return -1;
	}
	ackport_set_fdbudget(h->ackport, h->fdbudget);
	if ((h->admin = admin_new(&(struct admin_params){ .cfg = &h->cfg,
	    .loop = h->loop, .pool = def->pool, .balancer = def->balancer,
	    .persist = def->persist, .proxy = def->proxy,
	    .budget = h->fdbudget })) == NULL || daemon_admin_services(h) == -1) {
		log_warn("admin");
		return -1;
	}
	if (loop_watch(h->loop, h->sigpipe[0], POLLIN, on_signal_pipe, h) == -1) {
		log_warn("watch signals");
		return -1;
	}
	/*
	 * Ports probed, then the state file locked (waiting for a handover),
	 * both before binding: a refused start must neither take the lock nor
	 * leave clients in a backlog it never serves.
	 */
	if (check_ports(h) == -1 || state_acquire(h) == -1)
		return -1;
	/*
	 * Listeners first, so that targets are checked against the ports
	 * bound (pool_self); nothing is accepted before the loop runs.
	 */
	if (start_listeners(h) == -1)
		return -1;
	/* Restored before the static targets: those take their ids back. */
	if (state_start(h) == -1 || add_static_targets(h) == -1)
		return -1;
	fdbudget_start(h, raised_from);
	/* Last: "listening: clients" tells tests that everything is up. */
	log_client_listeners(h);
	if (h->cfg.nservices == 1)
		log_info("harmonyd %s: balance %s, persistence %s, %zu static"
		    " target%s, %s loop", PACKAGE_VERSION,
		    balance_algo_name((enum balance_algo)def->cfg->balance),
		    def->cfg->persistent ? "on" : "off", def->cfg->ntargets,
		    def->cfg->ntargets == 1 ? "" : "s", loop_backend(h->loop));
	else
		log_info("harmonyd %s: %zu services, default %s, %s loop",
		    PACKAGE_VERSION, h->cfg.nservices, def->name,
		    loop_backend(h->loop));
	sdnotify_ready(&h->sdnotify);
	return 0;
}

static void
harmonyd_stop(struct harmonyd *h)
{
	daemon_reload_cancel(h);
	admin_free(h->admin);
	h->admin = NULL;
	ackport_free(h->ackport);
	if (h->loop != NULL)
		loop_timer_cancel(h->loop, &h->stop_timer);
	sdnotify_stop(&h->sdnotify);
	/* After the sessions: their counters are final. */
	services_end_sessions(h->services);
	saver_free(h->saver);
	h->saver = NULL;
	state_unlock(h->state_lock);
	services_free(h->services);
	h->services = NULL;
	if (h->loop != NULL && h->sigpipe[0] != -1)
		loop_unwatch(h->loop, h->sigpipe[0]);
	loop_free(h->loop);
	selfpipe_close(h->sigpipe);
	log_access_close();
	fdbudget_free(h->fdbudget);
	h->fdbudget = NULL;
	free(h->api_services);
	cfg_free(&h->cfg);
}

int
main(int argc, char *argv[])
{
	struct harmonyd h = { .sigpipe = { -1, -1 }, .state_lock = -1 };
	char err[512];
	int rc = 0;

	log_init("harmonyd", LOG_LEVEL_INFO);
	switch (cfg_parse_args(&h.cfg, argc, argv, err, sizeof(err))) {
	case CFG_OK:
		break;
	case CFG_EXIT:
		cfg_free(&h.cfg);
		return 0;
	case CFG_ERROR:
	default:
		fprintf(stderr, "harmonyd: %s (see harmonyd --help)\n", err);
		cfg_free(&h.cfg);
		return 2;
	}
	log_set_level((enum log_level)h.cfg.log_level);
	h.argc = argc;
	h.argv = argv;
	if (harmonyd_start(&h) == -1) {
		rc = 1;
	} else if (loop_run(h.loop) == -1) {
		log_warn("poll");
		rc = 1;
	}
	harmonyd_stop(&h);
	return rc;
}
