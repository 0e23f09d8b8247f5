/*
 * Unit tests for reload.c and settings.c: a config file changed and
 * reloaded is in force, in the config and in the parts; a bad file keeps
 * the running configuration whole and the log says why; a PATCH is checked
 * whole and applied whole; PATCHed values are overrides that a reload
 * carries over, until the file itself says the same value; saved overrides
 * are restored key by key; a target given by name waits for the resolver's
 * child, never for the loop.
 *
 * The parts are real (loop, pool, balancer, persistence, proxy), without
 * listeners. Targets are addresses; for the tests of names getaddrinfo is
 * replaced (fakedns.h: "fast.test" is 192.0.2.7, any other name fails),
 * and asking from the test's own process (the loop's) counts as the error
 * it would be.
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/log.h"
#include "config.h"
#include "core/loop.h"
#include "core/net.h"
#include "proxy/proxy.h"
#include "registry/balance.h"
#include "registry/persist.h"
#include "registry/pool.h"
#include "reload.h"
#include "settings.h"
#include "tests/unit/fakedns.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* --- a running harmonyd, its parts without listeners --------------------- */

struct world {
	char		 dir[32];
	char		 path[64];	/* the -c file */
	char		 arg0[16], arg1[4];
	char		*argv[4];
	struct config	 cfg;
	struct settings_base base;
	struct loop	*loop;
	struct pool	*pool;
	struct balancer	*balancer;
	struct persist	*persist;
	struct proxy	*proxy;
	bool		 stopping;
	struct reloader	 rl;
};

static void
write_config(struct world *w, const char *text)
{
	FILE *f = fopen(w->path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/* As harmonyd.c starts: the options, the base, the parts, the static targets. */
static void
world_init(struct world *w, const char *config)
{
	struct proxy_params pp;
	char err[512];

	memset(w, 0, sizeof(*w));
	fakedns_watched = getpid();
	log_init("check_reload", LOG_LEVEL_INFO);
	snprintf(w->dir, sizeof(w->dir), "/tmp/check_reload.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(w->dir));
	snprintf(w->path, sizeof(w->path), "%s/harmonyd.json", w->dir);
	write_config(w, config);
	snprintf(w->arg0, sizeof(w->arg0), "harmonyd");
	snprintf(w->arg1, sizeof(w->arg1), "-c");
	w->argv[0] = w->arg0;
	w->argv[1] = w->arg1;
	w->argv[2] = w->path;
	ck_assert_int_eq(cfg_parse_args(&w->cfg, 3, w->argv, err, sizeof(err)), CFG_OK);
	ck_assert_int_eq(settings_base_capture(&w->base, &w->cfg), 0);
	fakedns_watched_calls = 0;	/* start-up may ask; the loop runs only from here */
	ck_assert_ptr_nonnull(w->loop = loop_new());
	ck_assert_ptr_nonnull(w->pool = pool_new(w->loop, w->cfg.host_timeout_ms));
	ck_assert_ptr_nonnull(w->balancer = balance_new(w->pool,
	    (enum balance_algo)w->cfg.balance));
	ck_assert_ptr_nonnull(w->persist = persist_new((size_t)w->cfg.persist_max,
	    w->cfg.persist_ttl_ms));
	cfg_proxy_params(&w->cfg, &pp);
	ck_assert_ptr_nonnull(w->proxy = proxy_new(w->loop, w->pool, w->balancer,
	    w->persist, &pp));
	for (size_t i = 0; i < w->cfg.ntargets; i++)
		ck_assert_ptr_nonnull(pool_register(w->pool, TARGET_SRC_STATIC,
		    (struct sockaddr *)&w->cfg.targets[i].addr.ss,
		    w->cfg.targets[i].addr.len, w->cfg.targets[i].weight, 0, NULL));
	w->rl.p = (struct reload_params){ .loop = w->loop, .argc = 3,
	    .argv = w->argv, .cfg = &w->cfg, .base = &w->base,
	    .parts = { .pool = w->pool, .balancer = w->balancer,
	    .persist = w->persist, .proxy = w->proxy }, .stopping = &w->stopping };
}

static void
world_free(struct world *w)
{
	reload_cancel(&w->rl);
	proxy_free(w->proxy);
	pool_free(w->pool);
	balance_free(w->balancer);
	persist_free(w->persist);
	loop_free(w->loop);
	settings_base_free(&w->base);
	cfg_free(&w->cfg);
	(void)unlink(w->path);
	(void)rmdir(w->dir);
}

/* SIGHUP, and what the log said meanwhile (malloc'd). */
static char *
reload_logged(struct world *w)
{
	char path[] = "/tmp/check_reload.log.XXXXXX", *buf;
	int fd, saved;
	off_t len;

	ck_assert_int_ge(fd = mkstemp(path), 0);
	unlink(path);
	ck_assert_int_ge(saved = dup(STDERR_FILENO), 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	reload_request(&w->rl);
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	ck_assert_int_ge(len = lseek(fd, 0, SEEK_END), 0);
	ck_assert_ptr_nonnull(buf = calloc(1, (size_t)len + 1));
	ck_assert_int_eq(pread(fd, buf, (size_t)len, 0), len);
	close(fd);
	return buf;
}

static void
reload_ok(struct world *w)
{
	char *log = reload_logged(w);

	ck_assert_msg(strstr(log, "SIGHUP: configuration reloaded") != NULL,
	    "not reloaded: %s", log);
	ck_assert_ptr_null(w->rl.pending);
	free(log);
}

/* The static target at addr:port, or NULL. */
static struct target *
target_at(struct world *w, const char *addr, uint16_t port)
{
	struct net_addr a;
	char err[128];

	ck_assert_int_eq(net_resolve_numeric(addr, port, &a, err, sizeof(err)), 0);
	return pool_find_addr(w->pool, (struct sockaddr *)&a.ss);
}

static size_t
ntargets(struct world *w)
{
	const struct target *t;
	size_t n = 0;

	TAILQ_FOREACH(t, pool_targets(w->pool), entry)
		n++;
	return n;
}

/* PATCH /api/v1/config's path, as api.c takes it. */
static int
patch(struct world *w, const struct settings_change *c, char *err, size_t errlen)
{
	struct settings_parts parts = { .balancer = w->balancer, .proxy = w->proxy };

	return settings_set(&w->cfg, &parts, c, err, errlen);
}

static json_object *
overrides(struct world *w)
{
	return settings_overrides(&w->cfg, &w->base);
}

static int64_t
override_int(struct world *w, const char *key)
{
	json_object *o = overrides(w), *v;
	int64_t x = -100;

	if (o != NULL && json_object_object_get_ex(o, key, &v))
		x = json_object_get_int64(v);
	json_object_put(o);
	return x;
}

#define CONFIG_A "// the first\n{ \"target\": [\"127.0.0.1:7001@3\", \"127.0.0.1:7002\"]," \
	" \"balance\": \"leastconn\", \"requeue\": 1, \"host-timeout\": \"1m\"," \
	" \"persist-ttl\": \"30m\", \"unavailable\": \"busy\\\\r\\\\n\" }\n"

/* --- reload ---------------------------------------------------------------- */

START_TEST(test_reload_applies)
{
	struct world w;
	struct target *t;

	world_init(&w, CONFIG_A);
	ck_assert_uint_eq(ntargets(&w), 2);
	write_config(&w, "{ \"target\": [\"127.0.0.1:7002@7\", \"[::1]:7003@2\"],"
	    " \"balance\": \"roundrobin\", \"requeue\": 4, \"concurrency\": 9,"
	    " \"host-timeout\": \"2m\", \"persist-ttl\": \"5m\","
	    " \"token\": \"s3cret\", \"unavailable\": \"gone\" }");
	reload_ok(&w);

	/* The config holds the new values... */
	ck_assert_int_eq(w.cfg.balance, BALANCE_ROUNDROBIN);
	ck_assert_int_eq(w.cfg.requeue, 4);
	ck_assert_int_eq(w.cfg.concurrency, 9);
	ck_assert_int_eq(w.cfg.host_timeout_ms, 120000);
	ck_assert_int_eq(w.cfg.persist_ttl_ms, 300000);
	ck_assert_str_eq(w.cfg.token, "s3cret");
	ck_assert_uint_eq(w.cfg.unavailable_len, 4);
	ck_assert_mem_eq(w.cfg.unavailable, "gone", 4);
	/* ... and so do the parts. */
	ck_assert_int_eq(balance_algo(w.balancer), BALANCE_ROUNDROBIN);
	ck_assert_int_eq(pool_default_timeout(w.pool), 120000);
	ck_assert_uint_eq(ntargets(&w), 2);
	ck_assert_ptr_null(target_at(&w, "127.0.0.1", 7001));
	ck_assert_ptr_nonnull(t = target_at(&w, "127.0.0.1", 7002));
	ck_assert_uint_eq(t->weight, 7);
	ck_assert_int_eq(t->source, TARGET_SRC_STATIC);
	ck_assert_ptr_nonnull(t = target_at(&w, "::1", 7003));
	ck_assert_uint_eq(t->weight, 2);
	/* What the file says is the base: nothing is an override. */
	ck_assert_ptr_null(overrides(&w));
	ck_assert_int_eq(fakedns_watched_calls, 0);
	world_free(&w);
}
END_TEST

/* Broken files, each with a value before the fault that must not land. */
static const struct {
	const char	*text;
	const char	*why;		/* in the log line */
} bad_files[] = {
	{ "{ \"requeue\": 9, \"target\": [\"127.0.0.1:7009@1\"], \"balance\": \"nonsense\"",
	    "" },
	{ "{ \"requeue\": 9, \"target\": [\"127.0.0.1:7009@1\"], \"balance\": \"nonsense\" }",
	    "nonsense" },
	{ "{ \"requeue\": 9, \"target\": [\"127.0.0.1:7009@0\"] }", "weight" },
	{ "{ \"requeue\": 101 }", "101" },
	{ "{ \"requeue\": 9, \"no-such-option\": 1 }", "no-such-option" },
	{ "{ \"requeue\": 9, \"unavailable\": \"x\", \"unavailable-file\": \"/dev/null\" }",
	    "mutually exclusive" },
	{ "{ \"requeue\": 9, \"target\": [\"127.0.0.1:7009\", \"127.0.0.1:7009\"] }",
	    "" },
};

START_TEST(test_reload_bad_file_keeps_all)
{
	struct world w;
	struct target *t;
	char *log;

	world_init(&w, CONFIG_A);
	write_config(&w, bad_files[_i].text);
	log = reload_logged(&w);
	ck_assert_msg(strstr(log, "keeping the running configuration") != NULL &&
	    strstr(log, bad_files[_i].why) != NULL, "case %d: %s", _i, log);
	ck_assert_msg(strstr(log, "configuration reloaded") == NULL, "case %d: %s",
	    _i, log);
	free(log);

	/* Nothing of it: not in the config, not in the parts. */
	ck_assert_int_eq(w.cfg.requeue, 1);
	ck_assert_int_eq(w.cfg.balance, BALANCE_LEASTCONN);
	ck_assert_int_eq(balance_algo(w.balancer), BALANCE_LEASTCONN);
	ck_assert_int_eq(w.cfg.host_timeout_ms, 60000);
	ck_assert_uint_eq(w.cfg.unavailable_len, 6);
	ck_assert_mem_eq(w.cfg.unavailable, "busy\r\n", 6);
	ck_assert_uint_eq(w.cfg.ntargets, 2);
	ck_assert_uint_eq(ntargets(&w), 2);
	ck_assert_ptr_null(target_at(&w, "127.0.0.1", 7009));
	ck_assert_ptr_nonnull(t = target_at(&w, "127.0.0.1", 7001));
	ck_assert_uint_eq(t->weight, 3);
	ck_assert_ptr_null(overrides(&w));

	/* And the file fixed, the next reload takes it. */
	write_config(&w, "{ \"requeue\": 2 }");
	reload_ok(&w);
	ck_assert_int_eq(w.cfg.requeue, 2);
	ck_assert_uint_eq(ntargets(&w), 0);
	world_free(&w);
}
END_TEST

/* The listen addresses and the state file change only with a restart. */
START_TEST(test_reload_keeps_restart_only)
{
	struct world w;
	char *log;

	world_init(&w, "{ \"listen\": \"127.0.0.1:3001\", \"state-file\": \"/tmp/a\" }");
	write_config(&w, "{ \"listen\": \"127.0.0.1:3002\", \"state-file\": \"/tmp/b\","
	    " \"requeue\": 3 }");
	log = reload_logged(&w);
	ck_assert_msg(strstr(log, "--listen changes only with a restart; keeping"
	    " '127.0.0.1:3001'") != NULL, "%s", log);
	ck_assert_msg(strstr(log, "--state-file changes only with a restart") != NULL,
	    "%s", log);
	free(log);
	ck_assert_str_eq(w.cfg.listen, "127.0.0.1:3001");
	ck_assert_str_eq(w.cfg.state_file, "/tmp/a");
	ck_assert_int_eq(w.cfg.requeue, 3);
	world_free(&w);
}
END_TEST

/*
 * The rule (settings.h): an override is a live value that differs from the
 * configured one. A reload puts it back over whatever the file now says,
 * the same key included; it ends only when the file says that same value.
 */
START_TEST(test_reload_keeps_overrides)
{
	struct settings_change c = { .set = SETTINGS_REQUEUE | SETTINGS_UNAVAILABLE,
	    .requeue = 5, .unavailable = "later", .unavailable_len = 5 };
	struct world w;
	char err[128];

	world_init(&w, CONFIG_A);
	ck_assert_int_eq(patch(&w, &c, err, sizeof(err)), 0);
	ck_assert_int_eq(override_int(&w, "requeue"), 5);

	/* Other keys change: the overrides stay, the rest is the file's. */
	write_config(&w, "{ \"balance\": \"hash\", \"requeue\": 1 }");
	reload_ok(&w);
	ck_assert_int_eq(w.cfg.requeue, 5);
	ck_assert_uint_eq(w.cfg.unavailable_len, 5);
	ck_assert_mem_eq(w.cfg.unavailable, "later", 5);
	ck_assert_int_eq(w.cfg.balance, BALANCE_HASH);
	ck_assert_int_eq(balance_algo(w.balancer), BALANCE_HASH);
	ck_assert_int_eq(override_int(&w, "requeue"), 5);

	/* The file changes the same key: the override still wins. */
	write_config(&w, "{ \"requeue\": 7 }");
	reload_ok(&w);
	ck_assert_int_eq(w.cfg.requeue, 5);
	ck_assert_int_eq(w.base.v.requeue, 7);
	ck_assert_int_eq(override_int(&w, "requeue"), 5);

	/* The file says the override's value: no override any more... */
	write_config(&w, "{ \"requeue\": 5, \"unavailable\": \"later\" }");
	reload_ok(&w);
	ck_assert_int_eq(w.cfg.requeue, 5);
	ck_assert_ptr_null(overrides(&w));
	/* ... so the next change in the file is in force. */
	write_config(&w, "{ \"requeue\": 8 }");
	reload_ok(&w);
	ck_assert_int_eq(w.cfg.requeue, 8);
	ck_assert_ptr_null(w.cfg.unavailable);
	world_free(&w);
}
END_TEST

/* A name waits for the resolver's child; the loop never asks DNS itself. */
START_TEST(test_reload_names_resolve_off_the_loop)
{
	int64_t end;
	struct world w;
	struct target *t;
	char *log;

	world_init(&w, CONFIG_A);
	write_config(&w, "{ \"target\": [\"fast.test:7005@4\", \"127.0.0.1:7001\"],"
	    " \"requeue\": 6 }");
	log = reload_logged(&w);
	ck_assert_msg(strstr(log, "SIGHUP: resolving 1 name") != NULL, "%s", log);
	free(log);
	ck_assert_ptr_nonnull(w.rl.pending);
	/* Meanwhile the running configuration serves, whole. */
	ck_assert_int_eq(w.cfg.requeue, 1);
	ck_assert_uint_eq(ntargets(&w), 2);
	/* A SIGHUP meanwhile waits for this one. */
	free(reload_logged(&w));
	ck_assert(w.rl.again);

	end = loop_clock_monotonic_ms() + 20000;
	while (w.rl.pending != NULL && loop_clock_monotonic_ms() < end)
		ck_assert_int_eq(loop_run_once(w.loop, 100), 0);
	ck_assert_ptr_null(w.rl.pending);
	ck_assert(!w.rl.again);
	ck_assert_int_eq(fakedns_watched_calls, 0);
	ck_assert_int_eq(w.cfg.requeue, 6);
	ck_assert_ptr_nonnull(t = target_at(&w, "192.0.2.7", 7005));
	ck_assert_uint_eq(t->weight, 4);
	ck_assert_ptr_null(target_at(&w, "127.0.0.1", 7002));
	ck_assert_uint_eq(ntargets(&w), 2);
	world_free(&w);
}
END_TEST

/* A name that does not resolve keeps the running configuration, and says so. */
START_TEST(test_reload_bad_name_keeps_all)
{
	int64_t end;
	struct world w;
	char path[] = "/tmp/check_reload.log.XXXXXX", buf[2048];
	int fd, saved;
	ssize_t n;

	world_init(&w, CONFIG_A);
	write_config(&w, "{ \"target\": [\"no.such.test:7005\"], \"requeue\": 6 }");
	ck_assert_int_ge(fd = mkstemp(path), 0);
	unlink(path);
	ck_assert_int_ge(saved = dup(STDERR_FILENO), 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	reload_request(&w.rl);
	end = loop_clock_monotonic_ms() + 20000;
	while (w.rl.pending != NULL && loop_clock_monotonic_ms() < end)
		ck_assert_int_eq(loop_run_once(w.loop, 100), 0);
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	ck_assert_int_ge(n = pread(fd, buf, sizeof(buf) - 1, 0), 0);
	buf[n] = '\0';
	close(fd);
	ck_assert_msg(strstr(buf, "no.such.test:7005: cannot resolve") != NULL &&
	    strstr(buf, "keeping the running configuration") != NULL, "%s", buf);
	ck_assert_ptr_null(w.rl.pending);
	ck_assert_int_eq(w.cfg.requeue, 1);
	ck_assert_uint_eq(ntargets(&w), 2);
	world_free(&w);
}
END_TEST

/* --- settings: the PATCH path and saved overrides ------------------------ */

START_TEST(test_set_applies)
{
	struct settings_change c = { .set = SETTINGS_CONCURRENCY | SETTINGS_BALANCE |
	    SETTINGS_PERSISTENT | SETTINGS_UNAVAILABLE, .concurrency = 0,
	    .balance = BALANCE_ROUNDROBIN, .persistent = false,
	    .unavailable = "a\0b", .unavailable_len = 3 };
	struct world w;
	char err[128];
	json_object *o, *v;
	char empty[] = "/tmp/check_reload.empty.XXXXXX", conf[128];
	int fd;

	/* A regular empty file: common/file.c reads nothing else (not /dev/null). */
	ck_assert_int_ge(fd = mkstemp(empty), 0);
	ck_assert_int_eq(close(fd), 0);
	snprintf(conf, sizeof(conf), "{ \"unavailable-file\": \"%s\" }", empty);
	world_init(&w, conf);
	ck_assert_int_eq(unlink(empty), 0);
	ck_assert_int_eq(patch(&w, &c, err, sizeof(err)), 0);
	ck_assert_int_eq(w.cfg.concurrency, 0);
	ck_assert_int_eq(w.cfg.balance, BALANCE_ROUNDROBIN);
	ck_assert_int_eq(balance_algo(w.balancer), BALANCE_ROUNDROBIN);
	ck_assert(!w.cfg.persistent);
	ck_assert_uint_eq(w.cfg.unavailable_len, 3);
	ck_assert_mem_eq(w.cfg.unavailable, "a\0b", 3);
	ck_assert_ptr_null(w.cfg.unavailable_file);
	/* Each is an override now, and only those. */
	ck_assert_ptr_nonnull(o = overrides(&w));
	ck_assert_int_eq(json_object_object_length(o), 4);
	ck_assert(json_object_object_get_ex(o, "balance", &v));
	ck_assert_str_eq(json_object_get_string(v), "roundrobin");
	json_object_put(o);
	/* Back to the configured values: no override left. */
	c = (struct settings_change){ .set = SETTINGS_CONCURRENCY | SETTINGS_BALANCE |
	    SETTINGS_PERSISTENT | SETTINGS_UNAVAILABLE, .concurrency = -1,
	    .balance = BALANCE_LEASTCONN, .persistent = true };
	ck_assert_int_eq(patch(&w, &c, err, sizeof(err)), 0);
	ck_assert_ptr_null(w.cfg.unavailable);
	ck_assert_ptr_null(overrides(&w));
	world_free(&w);
}
END_TEST

/* One field out of range: nothing of the change lands. */
static const struct settings_change bad_changes[] = {
	{ .set = SETTINGS_CONCURRENCY | SETTINGS_REQUEUE | SETTINGS_BALANCE,
	    .concurrency = 3, .requeue = CFG_REQUEUE_MAX + 1, .balance = BALANCE_HASH },
	{ .set = SETTINGS_CONCURRENCY | SETTINGS_REQUEUE, .concurrency = -2,
	    .requeue = 3 },
	{ .set = SETTINGS_CONCURRENCY | SETTINGS_REQUEUE,
	    .concurrency = CFG_CONCURRENCY_MAX + 1, .requeue = 3 },
	{ .set = SETTINGS_REQUEUE | SETTINGS_BALANCE, .requeue = 3, .balance = 7 },
	{ .set = SETTINGS_REQUEUE | SETTINGS_UNAVAILABLE, .requeue = 3,
	    .unavailable = NULL, .unavailable_len = 4 },
	{ .set = SETTINGS_REQUEUE, .requeue = -1 },
};

START_TEST(test_set_all_or_nothing)
{
	struct world w;
	char err[128] = "";

	world_init(&w, CONFIG_A);
	ck_assert_int_eq(patch(&w, &bad_changes[_i], err, sizeof(err)), -1);
	ck_assert_msg(err[0] != '\0', "case %d: no reason", _i);
	ck_assert_int_eq(w.cfg.concurrency, -1);
	ck_assert_int_eq(w.cfg.requeue, 1);
	ck_assert_int_eq(w.cfg.balance, BALANCE_LEASTCONN);
	ck_assert_int_eq(balance_algo(w.balancer), BALANCE_LEASTCONN);
	ck_assert_uint_eq(w.cfg.unavailable_len, 6);
	ck_assert_ptr_null(overrides(&w));
	world_free(&w);
}
END_TEST

/* The limits are the options' own, at both ends. */
START_TEST(test_set_limits)
{
	struct settings_change c = { .set = SETTINGS_CONCURRENCY | SETTINGS_REQUEUE,
	    .concurrency = CFG_CONCURRENCY_MAX, .requeue = CFG_REQUEUE_MAX };
	struct world w;
	char err[128];

	/* The file takes the same values as the API. */
	world_init(&w, "{ \"concurrency\": 10000000, \"requeue\": 100 }");
	ck_assert_int_eq(w.cfg.concurrency, CFG_CONCURRENCY_MAX);
	ck_assert_int_eq(w.cfg.requeue, CFG_REQUEUE_MAX);
	w.cfg.concurrency = w.cfg.requeue = 1;
	ck_assert_int_eq(patch(&w, &c, err, sizeof(err)), 0);
	ck_assert_int_eq(w.cfg.concurrency, CFG_CONCURRENCY_MAX);
	ck_assert_int_eq(w.cfg.requeue, CFG_REQUEUE_MAX);
	c.concurrency = CFG_CONCURRENCY_MIN;
	c.requeue = 0;
	ck_assert_int_eq(patch(&w, &c, err, sizeof(err)), 0);
	ck_assert_int_eq(w.cfg.concurrency, -1);
	ck_assert_int_eq(w.cfg.requeue, 0);
	world_free(&w);
}
END_TEST

/* The state file's overrides: what is right is restored, key by key. */
START_TEST(test_restore)
{
	struct settings_parts parts;
	struct world w;
	json_object *o;

	world_init(&w, CONFIG_A);
	parts = w.rl.p.parts;
	o = json_tokener_parse("{\"concurrency\": 2, \"requeue\": 500,"
	    " \"balance\": \"hash\", \"persistent\": \"yes\","
	    " \"unavailable\": \"saved\"}");
	ck_assert_ptr_nonnull(o);
	settings_restore(&w.cfg, &parts, o);
	json_object_put(o);
	ck_assert_int_eq(w.cfg.concurrency, 2);
	ck_assert_int_eq(w.cfg.requeue, 1);
	ck_assert_int_eq(w.cfg.balance, BALANCE_HASH);
	ck_assert_int_eq(balance_algo(w.balancer), BALANCE_HASH);
	ck_assert(w.cfg.persistent);
	ck_assert_mem_eq(w.cfg.unavailable, "saved", 5);
	/* Saved as they were read: the round trip of a restart. */
	ck_assert_ptr_nonnull(o = overrides(&w));
	ck_assert_str_eq(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
	    "{\"concurrency\":2,\"balance\":\"hash\",\"unavailable\":\"saved\"}");
	json_object_put(o);
	/* An unknown algorithm is left out like any other bad value. */
	o = json_tokener_parse("{\"balance\": \"nonsense\", \"requeue\": 3}");
	ck_assert_ptr_nonnull(o);
	settings_restore(&w.cfg, &parts, o);
	json_object_put(o);
	ck_assert_int_eq(w.cfg.balance, BALANCE_HASH);
	ck_assert_int_eq(w.cfg.requeue, 3);
	settings_restore(&w.cfg, &parts, NULL);
	ck_assert_int_eq(w.cfg.concurrency, 2);
	world_free(&w);
}
END_TEST

static Suite *
reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *tc;

	tc = tcase_create("reload");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_reload_applies);
	tcase_add_loop_test(tc, test_reload_bad_file_keeps_all, 0, NITEMS(bad_files));
	tcase_add_test(tc, test_reload_keeps_restart_only);
	tcase_add_test(tc, test_reload_keeps_overrides);
	tcase_add_test(tc, test_reload_names_resolve_off_the_loop);
	tcase_add_test(tc, test_reload_bad_name_keeps_all);
	suite_add_tcase(s, tc);

	tc = tcase_create("settings");
	tcase_add_test(tc, test_set_applies);
	tcase_add_loop_test(tc, test_set_all_or_nothing, 0, NITEMS(bad_changes));
	tcase_add_test(tc, test_set_limits);
	tcase_add_test(tc, test_restore);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(reload_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
