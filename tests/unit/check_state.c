/*
 * Unit tests for state.c: what a save keeps (every field of a registered
 * target, static ids, the next id, the persistence table, the runtime
 * object), how a file that cannot be read differs from a missing or a bad
 * one, which files are bad (a table of them), that a save replaces a
 * symlink instead of writing through it and leaves no temporary file, the
 * save in a child process, the lock. Real files in a temporary directory.
 *
 * Services (issue 15): a file of one pool (today's) loads into the default
 * service; several services round-trip, each its own targets, static ids
 * and persistence table; a section goes back to the service it names
 * whichever is the default now; a removed service's section is dropped
 * (logged), the rest loads; a bad entry in any section refuses the file
 * whole; an id or key that another service holds already is skipped.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/log.h"
#include "core/loop.h"
#include "registry/persist.h"
#include "registry/pool.h"
#include "state/state.h"

struct fixture {
	char		 dir[256];
	char		 path[320];
	struct loop	*loop;
	struct pool	*pool;
	struct persist	*persist;
};

/* A temporary directory of the test's own, the state file's name in it. */
static void
dir_make(char *dir, size_t dirlen, char *path, size_t pathlen)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, dirlen, "%s/check_state.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, pathlen, "%s/state.json", dir);
}

static void
dir_remove(const char *dir)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
fx_init(struct fixture *fx)
{
	memset(fx, 0, sizeof(*fx));
	dir_make(fx->dir, sizeof(fx->dir), fx->path, sizeof(fx->path));
	ck_assert_ptr_nonnull(fx->loop = loop_new());
	ck_assert_ptr_nonnull(fx->pool = pool_new(fx->loop, 60000));
	ck_assert_ptr_nonnull(fx->persist = persist_new(100, 0));
}

/* A fresh, empty pool and table, as at the next start. */
static void
fx_restart(struct fixture *fx)
{
	pool_free(fx->pool);
	persist_free(fx->persist);
	ck_assert_ptr_nonnull(fx->pool = pool_new(fx->loop, 60000));
	ck_assert_ptr_nonnull(fx->persist = persist_new(100, 0));
}

static void
fx_done(struct fixture *fx)
{
	pool_free(fx->pool);
	persist_free(fx->persist);
	loop_free(fx->loop);
	dir_remove(fx->dir);
}

static struct target *
reg(struct fixture *fx, enum target_source src, const char *host, uint16_t port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	return pool_register(fx->pool, src, (struct sockaddr *)&sin, sizeof(sin),
	    LIMIT_WEIGHT_DEFAULT, 0, NULL);
}

static enum state_load_result
load(struct fixture *fx, size_t *restored, char *err, size_t errlen)
{
	struct json_object *rt = NULL;
	enum state_load_result r = state_load(fx->path, fx->pool, fx->persist,
	    &rt, loop_now(fx->loop), restored, err, errlen);

	ck_assert_ptr_null(rt);		/* none saved */
	return r;
}

/* Issue 13 item 17: static ids by address, the next id, across a restart. */
START_TEST(test_ids_survive)
{
	struct fixture fx;
	struct target *a, *b, *c, *d;
	uint32_t aid, bid, cid, next;
	char err[256];
	size_t restored;
	struct stat st;

	fx_init(&fx);
	a = reg(&fx, TARGET_SRC_STATIC, "127.0.0.1", 81);
	b = reg(&fx, TARGET_SRC_STATIC, "127.0.0.1", 82);
	c = reg(&fx, TARGET_SRC_HTTP, "127.0.0.1", 83);
	d = reg(&fx, TARGET_SRC_HTTP, "127.0.0.1", 84);
	ck_assert(a && b && c && d);
	aid = a->id;
	bid = b->id;
	cid = c->id;
	pool_remove(d);			/* its id must not come back */
	next = pool_next_id(fx.pool);
	ck_assert_int_eq(state_save(fx.path, fx.pool, fx.persist, NULL,
	    loop_now(fx.loop)), 0);
	ck_assert_int_eq(stat(fx.path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);

	fx_restart(&fx);
	ck_assert_int_eq(load(&fx, &restored, err, sizeof(err)), STATE_LOADED);
	ck_assert_uint_eq(restored, 1);
	ck_assert_uint_eq(pool_next_id(fx.pool), next);
	ck_assert_uint_eq(pool_find_id(fx.pool, cid)->port, 83);
	/* The other order, as after a configuration change. */
	b = reg(&fx, TARGET_SRC_STATIC, "127.0.0.1", 82);
	a = reg(&fx, TARGET_SRC_STATIC, "127.0.0.1", 81);
	ck_assert_uint_eq(a->id, aid);
	ck_assert_uint_eq(b->id, bid);
	d = reg(&fx, TARGET_SRC_HTTP, "127.0.0.1", 85);
	ck_assert_uint_eq(d->id, next);
	fx_done(&fx);
}
END_TEST

/* Issue 13 items 11 and 12: unreadable is not missing, nor bad. */
START_TEST(test_unreadable)
{
	struct fixture fx;
	char err[256], other[300], bad[330];
	size_t restored;
	FILE *fp;

	fx_init(&fx);
	ck_assert_int_eq(load(&fx, &restored, err, sizeof(err)), STATE_NONE);
	/* A symlink is never followed, and left alone. */
	snprintf(other, sizeof(other), "%s/other.json", fx.dir);
	ck_assert_ptr_nonnull(fp = fopen(other, "w"));
	fputs("{\"harmony_state\": 1, \"targets\": [], \"persistence\": []}", fp);
	fclose(fp);
	ck_assert_int_eq(symlink(other, fx.path), 0);
	ck_assert_int_eq(load(&fx, &restored, err, sizeof(err)), STATE_UNREADABLE);
	ck_assert_ptr_nonnull(strstr(err, "symbolic link"));
	ck_assert_int_eq(unlink(fx.path), 0);
	/* A directory: left alone too. */
	ck_assert_int_eq(mkdir(fx.path, 0700), 0);
	ck_assert_int_eq(load(&fx, &restored, err, sizeof(err)), STATE_UNREADABLE);
	ck_assert_int_eq(rmdir(fx.path), 0);
	/* Garbage is bad: kept aside as .bad. */
	ck_assert_ptr_nonnull(fp = fopen(fx.path, "w"));
	fputs("{\"harmony_state\": 1, \"next_id\": \"7\"", fp);
	fclose(fp);
	ck_assert_int_eq(load(&fx, &restored, err, sizeof(err)), STATE_BAD);
	snprintf(bad, sizeof(bad), "%s.bad", fx.path);
	ck_assert_int_eq(access(bad, F_OK), 0);
	ck_assert_int_eq(access(fx.path, F_OK), -1);
	fx_done(&fx);
}
END_TEST

static void
write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	ck_assert_ptr_nonnull(fp);
	ck_assert_int_ge(fputs(text, fp), 0);
	ck_assert_int_eq(fclose(fp), 0);
}

static struct sockaddr_in
sin_of(const char *host, uint16_t port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	return sin;
}

/* Everything a registered target is comes back: id, key, address, weight,
 * source, its own TTL or the default, draining; and the persistence table
 * and the runtime object with it. */
START_TEST(test_roundtrip)
{
	struct fixture fx;
	struct target *a, *b, *c;
	char akey[TARGET_KEY_LEN + 1], bkey[TARGET_KEY_LEN + 1], err[256];
	uint32_t aid, bid, cid;
	struct json_object *rt, *got = NULL, *v;
	struct sockaddr_in cl1 = sin_of("127.0.0.7", 0), cl2 = sin_of("127.0.0.8", 0);
	size_t restored;
	int64_t now;

	fx_init(&fx);
	now = loop_now(fx.loop);
	a = reg(&fx, TARGET_SRC_HTTP, "127.0.0.1", 91);
	b = reg(&fx, TARGET_SRC_ACK, "127.0.0.2", 92);
	c = reg(&fx, TARGET_SRC_HTTP, "127.0.0.3", 93);
	ck_assert(a && b && c);
	pool_set_weight(a, 1234);
	pool_set_weight(b, 1);
	pool_drain(c);
	aid = a->id;
	bid = b->id;
	cid = c->id;
	memcpy(akey, a->key, sizeof(akey));
	memcpy(bkey, b->key, sizeof(bkey));
	ck_assert_int_eq(persist_set(fx.persist, (struct sockaddr *)&cl1, aid, now), 0);
	ck_assert_int_eq(persist_set(fx.persist, (struct sockaddr *)&cl2, bid, now), 0);
	rt = json_object_new_object();
	json_object_object_add(rt, "concurrency", json_object_new_int(7));
	ck_assert_int_eq(state_save(fx.path, fx.pool, fx.persist, rt, now), 0);
	json_object_put(rt);

	fx_restart(&fx);
	ck_assert_int_eq(state_load(fx.path, fx.pool, fx.persist, &got, now,
	    &restored, err, sizeof(err)), STATE_LOADED);
	/* A draining target with no session is left (removed) at once. */
	ck_assert_uint_ge(restored, 2);
	ck_assert_ptr_nonnull(a = pool_find_id(fx.pool, aid));
	ck_assert_ptr_nonnull(b = pool_find_id(fx.pool, bid));
	ck_assert_str_eq(a->key, akey);
	ck_assert_str_eq(b->key, bkey);
	ck_assert_ptr_eq(pool_find_key(fx.pool, bkey), b);
	ck_assert_uint_eq(a->port, 91);
	ck_assert_str_eq(b->host, "127.0.0.2");
	ck_assert_uint_eq(a->weight, 1234);
	ck_assert_uint_eq(b->weight, 1);
	ck_assert_int_eq(a->source, TARGET_SRC_HTTP);
	ck_assert_int_eq(b->source, TARGET_SRC_ACK);
	ck_assert(!a->own_timeout);
	c = pool_find_id(fx.pool, cid);
	ck_assert(c == NULL || c->state == TARGET_DRAINING || c->leaving);
	ck_assert_uint_eq(persist_lookup(fx.persist, (struct sockaddr *)&cl1, now), aid);
	ck_assert_uint_eq(persist_lookup(fx.persist, (struct sockaddr *)&cl2, now), bid);
	ck_assert_ptr_nonnull(got);
	ck_assert(json_object_object_get_ex(got, "concurrency", &v));
	ck_assert_int_eq(json_object_get_int(v), 7);
	json_object_put(got);
	fx_done(&fx);
}
END_TEST

/*
 * Files that are bad: each is refused whole (nothing restored from it),
 * kept aside as FILE.bad, and said why. The key rule matters beyond the
 * file: a key is written back unquoted-as-is on the next save, so one
 * that is not 32 hex digits could break every later file.
 */
#define GOOD_TARGET(key, extra) \
	"{\"id\": 5, \"key\": \"" key "\", \"host\": \"127.0.0.1\", " \
	"\"port\": 95, \"weight\": 10, \"source\": \"http\", " \
	"\"timeout_ms\": 60000, \"own_timeout\": false, \"state\": \"up\"" extra "}"
#define HEXKEY	"0123456789abcdef0123456789abcdef"
#define FILE_OF(targets) \
	"{\"harmony_state\": 1, \"next_id\": 9, \"targets\": [" targets "], " \
	"\"persistence\": []}"

static const struct bad_case {
	const char	*why;
	const char	*text;
} bad_cases[] = {
	{ "empty", "" },
	{ "not an object", "[]" },
	{ "truncated", FILE_OF(GOOD_TARGET(HEXKEY, "")) "x" },
	{ "cut short", "{\"harmony_state\": 1, \"targets\": [" },
	{ "another format", "{\"harmony_state\": 2, \"targets\": [], \"persistence\": []}" },
	{ "no persistence", "{\"harmony_state\": 1, \"targets\": []}" },
	{ "a key given twice", "{\"harmony_state\": 1, \"targets\": [], "
	    "\"targets\": [], \"persistence\": []}" },
	{ "a target's key given twice",
	    FILE_OF("{\"id\": 5, \"id\": 6, \"key\": \"" HEXKEY "\", \"host\": \"127.0.0.1\", "
	    "\"port\": 95, \"weight\": 10, \"source\": \"http\", "
	    "\"timeout_ms\": 60000, \"own_timeout\": false, \"state\": \"up\"}") },
	{ "key too short", FILE_OF(GOOD_TARGET("0123456789abcdef0123456789abcde", "")) },
	{ "key not hex", FILE_OF(GOOD_TARGET("0123456789abcdef0123456789abcde\\\"", "")) },
	{ "key with a control byte", FILE_OF(GOOD_TARGET("0123456789abcdef0123456789abcde\\n", "")) },
	{ "weight 0", FILE_OF("{\"id\": 5, \"key\": \"" HEXKEY "\", \"host\": \"127.0.0.1\", "
	    "\"port\": 95, \"weight\": 0, \"source\": \"http\", "
	    "\"timeout_ms\": 60000, \"own_timeout\": false, \"state\": \"up\"}") },
	{ "a state of its own", FILE_OF("{\"id\": 5, \"key\": \"" HEXKEY "\", \"host\": \"127.0.0.1\", "
	    "\"port\": 95, \"weight\": 10, \"source\": \"http\", "
	    "\"timeout_ms\": 60000, \"own_timeout\": false, \"state\": \"sideways\"}") },
	{ "a static source", FILE_OF("{\"id\": 5, \"key\": \"" HEXKEY "\", \"host\": \"127.0.0.1\", "
	    "\"port\": 95, \"weight\": 10, \"source\": \"static\", "
	    "\"timeout_ms\": 60000, \"own_timeout\": false, \"state\": \"up\"}") },
	{ "a host name", FILE_OF("{\"id\": 5, \"key\": \"" HEXKEY "\", \"host\": \"localhost\", "
	    "\"port\": 95, \"weight\": 10, \"source\": \"http\", "
	    "\"timeout_ms\": 60000, \"own_timeout\": false, \"state\": \"up\"}") },
	{ "own_timeout not a boolean", FILE_OF(GOOD_TARGET(HEXKEY, ", \"own_timeout\": 1")) },
	{ "next_id 0", "{\"harmony_state\": 1, \"next_id\": 0, \"targets\": [], \"persistence\": []}" },
	{ "a bad persistence entry", "{\"harmony_state\": 1, \"targets\": [], "
	    "\"persistence\": [{\"client\": \"nowhere\", \"target\": 1, \"idle_ms\": 0}]}" },
	{ "invalid UTF-8", "{\"harmony_state\": 1, \"targets\": [], \"persistence\": [], "
	    "\"runtime\": {\"unavailable\": \"\xc3\x28\"}}" },
	{ "too deep", "{\"harmony_state\": 1, \"targets\": [], \"persistence\": [], "
	    "\"runtime\": {\"a\": [[[[[[[[[[1]]]]]]]]]]}}" },
};

START_TEST(test_bad_files)
{
	const struct bad_case *bc = &bad_cases[_i];
	struct fixture fx;
	char err[256], bad[330];
	size_t restored = 99;

	fx_init(&fx);
	/* The good file these are made from loads. */
	write_text(fx.path, FILE_OF(GOOD_TARGET(HEXKEY, "")));
	ck_assert_int_eq(load(&fx, &restored, err, sizeof(err)), STATE_LOADED);
	ck_assert_uint_eq(restored, 1);
	fx_restart(&fx);

	write_text(fx.path, bc->text);
	err[0] = '\0';
	ck_assert_msg(load(&fx, &restored, err, sizeof(err)) == STATE_BAD,
	    "%s: not refused", bc->why);
	ck_assert_msg(err[0] != '\0', "%s: no reason given", bc->why);
	ck_assert_uint_eq(restored, 0);
	ck_assert_ptr_null(pool_find_id(fx.pool, 5));
	snprintf(bad, sizeof(bad), "%s.bad", fx.path);
	ck_assert_int_eq(access(bad, F_OK), 0);
	ck_assert_int_eq(access(fx.path, F_OK), -1);
	fx_done(&fx);
}
END_TEST

/* Names in dir that start with prefix. */
static int
count_named(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* A save replaces a symlink at FILE (never writes through it), is 0600,
 * and leaves no temporary file behind, saved or failed. */
START_TEST(test_save_replaces_symlink)
{
	struct fixture fx;
	char other[300], err[256], buf[64];
	size_t restored;
	struct stat st;
	FILE *fp;

	fx_init(&fx);
	snprintf(other, sizeof(other), "%s/elsewhere", fx.dir);
	write_text(other, "untouched");
	ck_assert_int_eq(symlink(other, fx.path), 0);
	ck_assert_ptr_nonnull(reg(&fx, TARGET_SRC_HTTP, "127.0.0.1", 96));
	ck_assert_int_eq(state_save(fx.path, fx.pool, fx.persist, NULL,
	    loop_now(fx.loop)), 0);
	ck_assert_int_eq(lstat(fx.path, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_ptr_nonnull(fp = fopen(other, "r"));
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	ck_assert_str_eq(buf, "untouched");
	ck_assert_int_eq(count_named(fx.dir, "state.json.tmp"), 0);
	fx_restart(&fx);
	ck_assert_int_eq(load(&fx, &restored, err, sizeof(err)), STATE_LOADED);
	ck_assert_uint_eq(restored, 1);
	fx_done(&fx);
}
END_TEST

/* Issue 13 item 7: the save in a child process, reaped by the caller. */
START_TEST(test_save_in_child)
{
	struct fixture fx;
	char err[256];
	size_t restored;
	pid_t pid;
	int rc;

	fx_init(&fx);
	ck_assert_ptr_nonnull(reg(&fx, TARGET_SRC_HTTP, "127.0.0.1", 90));
	pid = state_save_start(fx.path, fx.pool, fx.persist, NULL, loop_now(fx.loop));
	ck_assert_int_gt(pid, 0);
	ck_assert_int_ne(pid, getpid());
	ck_assert_int_eq(state_save_reap(pid, true, err, sizeof(err)), 1);
	fx_restart(&fx);
	ck_assert_int_eq(load(&fx, &restored, err, sizeof(err)), STATE_LOADED);
	ck_assert_uint_eq(restored, 1);
	/* A save that fails says why (no such directory). */
	snprintf(fx.path, sizeof(fx.path), "%s/no/such/state.json", fx.dir);
	pid = state_save_start(fx.path, fx.pool, fx.persist, NULL, loop_now(fx.loop));
	ck_assert_int_gt(pid, 0);
	rc = state_save_reap(pid, true, err, sizeof(err));
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
	fx_done(&fx);
}
END_TEST

/* Issue 13 item 12: one holder; the next one is told who. */
START_TEST(test_lock)
{
	struct fixture fx;
	char err[256];
	pid_t holder;
	int fd, fd2;

	fx_init(&fx);
	fd = state_lock(fx.path, 0, &holder, err, sizeof(err));
	ck_assert_int_ge(fd, 0);
	/* flock is per open file: a second open conflicts, even here. */
	fd2 = state_lock(fx.path, 100, &holder, err, sizeof(err));
	ck_assert_int_eq(fd2, -1);
	ck_assert_int_eq(holder, getpid());
	state_unlock(fd);
	fd2 = state_lock(fx.path, 0, &holder, err, sizeof(err));
	ck_assert_int_ge(fd2, 0);
	state_unlock(fd2);
	fx_done(&fx);
}
END_TEST

/* --- services (issue 15) ------------------------------------------------ */

#define NSVC_MAX	4

/* Services whose pools share one id space, as harmonyd's do. */
struct svcfix {
	char			 dir[256];
	char			 path[320];
	struct loop		*loop;
	struct pool_shared	*shared;
	size_t			 n;
	struct state_part	 parts[NSVC_MAX];
};

/* names: the services, the default first; "" ends them. */
static void
svc_make(struct svcfix *fx, const char *const *names)
{
	ck_assert_ptr_nonnull(fx->shared = pool_shared_new());
	for (fx->n = 0; names[fx->n] != NULL; fx->n++) {
		struct state_part *p = &fx->parts[fx->n];

		ck_assert_uint_lt(fx->n, NSVC_MAX);
		p->name = names[fx->n];
		ck_assert_ptr_nonnull(p->pool = pool_new_shared(fx->loop, 60000,
		    fx->shared));
		ck_assert_int_eq(pool_set_name(p->pool, p->name, fx->n == 0), 0);
		ck_assert_ptr_nonnull(p->persist = persist_new(100, 0));
	}
}

static void
svc_free(struct svcfix *fx)
{
	for (size_t i = 0; i < fx->n; i++) {
		pool_free(fx->parts[i].pool);
		persist_free(fx->parts[i].persist);
	}
	pool_shared_free(fx->shared);
	fx->n = 0;
}

static void
svc_init(struct svcfix *fx, const char *const *names)
{
	memset(fx, 0, sizeof(*fx));
	dir_make(fx->dir, sizeof(fx->dir), fx->path, sizeof(fx->path));
	ck_assert_ptr_nonnull(fx->loop = loop_new());
	svc_make(fx, names);
}

/* The next start, with the services now configured. */
static void
svc_restart(struct svcfix *fx, const char *const *names)
{
	svc_free(fx);
	svc_make(fx, names);
}

static void
svc_done(struct svcfix *fx)
{
	svc_free(fx);
	loop_free(fx->loop);
	dir_remove(fx->dir);
}

/* The part of that name. */
static struct state_part *
svc(struct svcfix *fx, const char *name)
{
	for (size_t i = 0; i < fx->n; i++)
		if (strcmp(fx->parts[i].name, name) == 0)
			return &fx->parts[i];
	ck_abort_msg("no service %s", name);
	return NULL;
}

static struct target *
svc_reg(struct svcfix *fx, const char *name, enum target_source src,
    const char *host, uint16_t port)
{
	struct sockaddr_in sin = sin_of(host, port);

	return pool_register(svc(fx, name)->pool, src, (struct sockaddr *)&sin,
	    sizeof(sin), LIMIT_WEIGHT_DEFAULT, 0, NULL);
}

static size_t
pool_size(const struct pool *pool)
{
	const struct target *t;
	size_t n = 0;

	TAILQ_FOREACH(t, pool_targets(pool), entry)
		n++;
	return n;
}

/* What load said on stderr goes to a file while it runs. */
static int
stderr_to(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), saved;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(saved = dup(2), 0);
	ck_assert_int_eq(dup2(fd, 2), 2);
	close(fd);
	return saved;
}

static void
stderr_back(int saved)
{
	ck_assert_int_eq(dup2(saved, 2), 2);
	close(saved);
}

static char *
read_text(const char *path)
{
	static char buf[65536];
	FILE *fp = fopen(path, "r");
	size_t n;

	ck_assert_ptr_nonnull(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return buf;
}

static enum state_load_result
svc_load(struct svcfix *fx, size_t *restored, char *err, size_t errlen,
    char **logged)
{
	struct json_object *rt = NULL;
	char logf[340];
	enum state_load_result r;
	int saved;

	snprintf(logf, sizeof(logf), "%s/load.log", fx->dir);
	saved = stderr_to(logf);
	r = state_load_parts(fx->path, fx->parts, fx->n, &rt, loop_now(fx->loop),
	    restored, err, errlen);
	stderr_back(saved);
	if (logged != NULL)
		*logged = read_text(logf);
	json_object_put(rt);
	return r;
}

/* Saved, then loaded at the next start, with names configured: restored. */
static size_t
svc_cycle(struct svcfix *fx, const char *const *names, char **logged)
{
	char err[256];
	size_t restored;

	ck_assert_int_eq(state_save_parts(fx->path, fx->parts, fx->n, NULL,
	    loop_now(fx->loop)), 0);
	svc_restart(fx, names);
	ck_assert_msg(svc_load(fx, &restored, err, sizeof(err), logged) ==
	    STATE_LOADED, "not loaded: %s", err);
	return restored;
}

static const char *const svc_api_web[] = { "api", "web", NULL };
static const char *const svc_web_api[] = { "web", "api", NULL };
static const char *const svc_api_web_old[] = { "api", "web", "old", NULL };
static const char *const svc_api_only[] = { "api", NULL };
static const char *const svc_web_only[] = { "web", NULL };

/* A file today's version wrote loads into the default service. */
START_TEST(test_svc_today_file)
{
	struct svcfix fx;
	struct sockaddr_in cl = sin_of("127.0.0.9", 0);
	struct target *t, *s;
	char err[256];
	size_t restored;

	log_init("check_state", LOG_LEVEL_WARN);
	svc_init(&fx, svc_web_api);
	write_text(fx.path, "{\"harmony_state\": 1, \"next_id\": 9, \"static\": ["
	    "{\"id\": 3, \"host\": \"127.0.0.1\", \"port\": 81}], \"targets\": ["
	    GOOD_TARGET(HEXKEY, "") "], \"persistence\": [{\"client\": "
	    "\"127.0.0.9\", \"target\": 5, \"idle_ms\": 0}], \"runtime\": null}");
	ck_assert_int_eq(svc_load(&fx, &restored, err, sizeof(err), NULL),
	    STATE_LOADED);
	ck_assert_uint_eq(restored, 1);
	ck_assert_ptr_nonnull(t = pool_find_id(svc(&fx, "web")->pool, 5));
	ck_assert_str_eq(t->key, HEXKEY);
	ck_assert_ptr_null(pool_find_id(svc(&fx, "api")->pool, 5));
	ck_assert_uint_eq(persist_lookup(svc(&fx, "web")->persist,
	    (struct sockaddr *)&cl, loop_now(fx.loop)), 5);
	ck_assert_uint_eq(persist_count(svc(&fx, "api")->persist), 0);
	ck_assert_uint_eq(pool_next_id(svc(&fx, "api")->pool), 9);
	/* The static id is the default service's. */
	ck_assert_ptr_nonnull(s = svc_reg(&fx, "web", TARGET_SRC_STATIC,
	    "127.0.0.1", 81));
	ck_assert_uint_eq(s->id, 3);
	svc_done(&fx);
}
END_TEST

/*
 * Two services round-trip: each its targets (keys, weights), static ids
 * and persistence entries, one next_id; the file of one service is
 * today's plus a "service" key.
 */
START_TEST(test_svc_roundtrip)
{
	struct svcfix fx;
	struct target *a, *b, *w, *sa, *sw;
	char akey[TARGET_KEY_LEN + 1], wkey[TARGET_KEY_LEN + 1], err[256];
	uint32_t aid, bid, wid, said, swid, next;
	struct sockaddr_in cl1 = sin_of("127.0.0.7", 0), cl2 = sin_of("127.0.0.8", 0);
	struct json_object *root, *v, *web;
	char today[340], named[4096], *line;
	size_t restored;
	int64_t now;

	log_init("check_state", LOG_LEVEL_WARN);
	svc_init(&fx, svc_api_web);
	now = loop_now(fx.loop);
	sa = svc_reg(&fx, "api", TARGET_SRC_STATIC, "127.0.0.1", 81);
	sw = svc_reg(&fx, "web", TARGET_SRC_STATIC, "127.0.0.1", 82);
	a = svc_reg(&fx, "api", TARGET_SRC_HTTP, "127.0.0.1", 91);
	b = svc_reg(&fx, "api", TARGET_SRC_ACK, "127.0.0.2", 92);
	w = svc_reg(&fx, "web", TARGET_SRC_ACK, "127.0.0.3", 93);
	ck_assert(sa && sw && a && b && w);
	pool_set_weight(w, 77);
	said = sa->id;
	swid = sw->id;
	aid = a->id;
	bid = b->id;
	wid = w->id;
	memcpy(akey, a->key, sizeof(akey));
	memcpy(wkey, w->key, sizeof(wkey));
	ck_assert_int_eq(persist_set(svc(&fx, "api")->persist,
	    (struct sockaddr *)&cl1, aid, now), 0);
	ck_assert_int_eq(persist_set(svc(&fx, "web")->persist,
	    (struct sockaddr *)&cl2, wid, now), 0);
	next = pool_next_id(a->pool);
	ck_assert_int_eq(state_save_parts(fx.path, fx.parts, fx.n, NULL, now), 0);

	/* The layout: the default at the top, the others under "services". */
	ck_assert_ptr_nonnull(root = json_object_from_file(fx.path));
	ck_assert(json_object_object_get_ex(root, "service", &v));
	ck_assert_str_eq(json_object_get_string(v), "api");
	ck_assert(json_object_object_get_ex(root, "targets", &v));
	ck_assert_uint_eq(json_object_array_length(v), 2);
	ck_assert(json_object_object_get_ex(root, "services", &v));
	ck_assert_uint_eq(json_object_object_length(v), 1);
	ck_assert(json_object_object_get_ex(v, "web", &web));
	ck_assert(json_object_object_get_ex(web, "targets", &v));
	ck_assert_uint_eq(json_object_array_length(v), 1);
	ck_assert(json_object_object_get_ex(web, "static", &v));
	ck_assert_uint_eq(json_object_array_length(v), 1);
	ck_assert(json_object_object_get_ex(web, "persistence", &v));
	ck_assert_uint_eq(json_object_array_length(v), 1);
	ck_assert(!json_object_object_get_ex(web, "next_id", &v));
	json_object_put(root);

	svc_restart(&fx, svc_api_web);
	ck_assert_int_eq(svc_load(&fx, &restored, err, sizeof(err), NULL),
	    STATE_LOADED);
	ck_assert_uint_eq(restored, 3);
	ck_assert_uint_eq(pool_next_id(svc(&fx, "web")->pool), next);
	ck_assert_ptr_nonnull(a = pool_find_id(svc(&fx, "api")->pool, aid));
	ck_assert_ptr_nonnull(b = pool_find_id(svc(&fx, "api")->pool, bid));
	ck_assert_ptr_nonnull(w = pool_find_id(svc(&fx, "web")->pool, wid));
	ck_assert_ptr_null(pool_find_id(svc(&fx, "web")->pool, aid));
	ck_assert_ptr_null(pool_find_id(svc(&fx, "api")->pool, wid));
	ck_assert_str_eq(a->key, akey);
	ck_assert_str_eq(w->key, wkey);
	ck_assert_ptr_eq(pools_find_key(a->pool, wkey), w);
	ck_assert_uint_eq(w->weight, 77);
	ck_assert_int_eq(w->source, TARGET_SRC_ACK);
	ck_assert_uint_eq(persist_lookup(svc(&fx, "api")->persist,
	    (struct sockaddr *)&cl1, now), aid);
	ck_assert_uint_eq(persist_lookup(svc(&fx, "web")->persist,
	    (struct sockaddr *)&cl2, now), wid);
	ck_assert_uint_eq(persist_count(svc(&fx, "api")->persist), 1);
	ck_assert_uint_eq(persist_count(svc(&fx, "web")->persist), 1);
	/* Each static target takes its id back in its own service. */
	sw = svc_reg(&fx, "web", TARGET_SRC_STATIC, "127.0.0.1", 82);
	sa = svc_reg(&fx, "api", TARGET_SRC_STATIC, "127.0.0.1", 81);
	ck_assert(sa && sw);
	ck_assert_uint_eq(sa->id, said);
	ck_assert_uint_eq(sw->id, swid);

	/* One service: today's file, plus "service", without "services". */
	svc_restart(&fx, svc_api_only);
	ck_assert_ptr_nonnull(svc_reg(&fx, "api", TARGET_SRC_HTTP, "127.0.0.1", 91));
	ck_assert_int_eq(state_save_parts(fx.path, fx.parts, fx.n, NULL, now), 0);
	ck_assert_ptr_nonnull(root = json_object_from_file(fx.path));
	ck_assert(json_object_object_get_ex(root, "service", &v));
	ck_assert_str_eq(json_object_get_string(v), "api");
	ck_assert(!json_object_object_get_ex(root, "services", &v));
	json_object_put(root);
	/* Byte for byte: today's file has the same lines but that one. */
	snprintf(today, sizeof(today), "%s/today.json", fx.dir);
	ck_assert_int_eq(state_save(today, fx.parts[0].pool, fx.parts[0].persist,
	    NULL, now), 0);
	snprintf(named, sizeof(named), "%s", read_text(fx.path));
	line = strstr(named, "  \"service\": \"api\",\n");
	ck_assert_ptr_nonnull(line);
	memmove(line, line + strlen("  \"service\": \"api\",\n"),
	    strlen(line + strlen("  \"service\": \"api\",\n")) + 1);
	ck_assert_str_eq(named, read_text(today));
	svc_done(&fx);
}
END_TEST

/* The default changed: each section still goes to the service it names. */
START_TEST(test_svc_default_changed)
{
	struct svcfix fx;
	uint32_t aid, wid;

	log_init("check_state", LOG_LEVEL_WARN);
	svc_init(&fx, svc_api_web);
	aid = svc_reg(&fx, "api", TARGET_SRC_HTTP, "127.0.0.1", 91)->id;
	wid = svc_reg(&fx, "web", TARGET_SRC_HTTP, "127.0.0.1", 92)->id;
	ck_assert_uint_eq(svc_cycle(&fx, svc_web_api, NULL), 2);
	ck_assert_ptr_nonnull(pool_find_id(svc(&fx, "api")->pool, aid));
	ck_assert_ptr_nonnull(pool_find_id(svc(&fx, "web")->pool, wid));
	ck_assert_uint_eq(pool_size(svc(&fx, "api")->pool), 1);
	ck_assert_uint_eq(pool_size(svc(&fx, "web")->pool), 1);

	/* The default renamed: its section goes to the default now. */
	svc_restart(&fx, svc_api_only);
	aid = svc_reg(&fx, "api", TARGET_SRC_HTTP, "127.0.0.1", 91)->id;
	ck_assert_uint_eq(svc_cycle(&fx, svc_web_only, NULL), 1);
	ck_assert_ptr_nonnull(pool_find_id(svc(&fx, "web")->pool, aid));
	svc_done(&fx);
}
END_TEST

/* A removed service: its section is dropped, said once; the rest loads. */
START_TEST(test_svc_removed)
{
	struct svcfix fx;
	struct sockaddr_in cl = sin_of("127.0.0.7", 0);
	uint32_t aid, wid, oid;
	char *logged;

	log_init("check_state", LOG_LEVEL_WARN);
	svc_init(&fx, svc_api_web_old);
	aid = svc_reg(&fx, "api", TARGET_SRC_HTTP, "127.0.0.1", 91)->id;
	wid = svc_reg(&fx, "web", TARGET_SRC_HTTP, "127.0.0.1", 92)->id;
	oid = svc_reg(&fx, "old", TARGET_SRC_HTTP, "127.0.0.1", 93)->id;
	ck_assert_ptr_nonnull(svc_reg(&fx, "old", TARGET_SRC_ACK, "127.0.0.1", 94));
	ck_assert_int_eq(persist_set(svc(&fx, "old")->persist,
	    (struct sockaddr *)&cl, oid, loop_now(fx.loop)), 0);
	ck_assert_uint_eq(svc_cycle(&fx, svc_api_web, &logged), 2);
	ck_assert_ptr_nonnull(pool_find_id(svc(&fx, "api")->pool, aid));
	ck_assert_ptr_nonnull(pool_find_id(svc(&fx, "web")->pool, wid));
	ck_assert_ptr_null(pools_find_id(svc(&fx, "api")->pool, oid));
	ck_assert_uint_eq(persist_count(svc(&fx, "api")->persist), 0);
	ck_assert_uint_eq(persist_count(svc(&fx, "web")->persist), 0);
	ck_assert_msg(strstr(logged, "old") != NULL && strstr(logged, "2 targets")
	    != NULL && strstr(logged, "1 persistence entr") != NULL,
	    "the dropped service is not said: %s", logged);
	/* Its ids are not handed out again. */
	ck_assert_uint_gt(pool_next_id(svc(&fx, "api")->pool), oid);

	/*
	 * The default removed, another one the default now: the top section
	 * is a removed service's, dropped, not merged into the new default.
	 */
	svc_restart(&fx, svc_api_web);
	aid = svc_reg(&fx, "api", TARGET_SRC_HTTP, "127.0.0.1", 91)->id;
	wid = svc_reg(&fx, "web", TARGET_SRC_HTTP, "127.0.0.1", 92)->id;
	ck_assert_uint_eq(svc_cycle(&fx, svc_web_only, &logged), 1);
	ck_assert_ptr_nonnull(pool_find_id(svc(&fx, "web")->pool, wid));
	ck_assert_ptr_null(pools_find_id(svc(&fx, "web")->pool, aid));
	ck_assert_msg(strstr(logged, "api") != NULL && strstr(logged, "1 target")
	    != NULL, "the dropped default is not said: %s", logged);
	svc_done(&fx);
}
END_TEST

/* Hand-made files of services, good and bad. */
#define SECTION(targets, pers) \
	"{\"static\": [], \"targets\": [" targets "], \"persistence\": [" pers "]}"
#define GOOD_TARGET_AT(id, port, key) \
	"{\"id\": " #id ", \"key\": \"" key "\", \"host\": \"127.0.0.1\", " \
	"\"port\": " #port ", \"weight\": 10, \"source\": \"http\", " \
	"\"timeout_ms\": 60000, \"own_timeout\": false, \"state\": \"up\"}"
#define HEXKEY2	"fedcba9876543210fedcba9876543210"
#define HEXKEY3	"00112233445566778899aabbccddeeff"
#define SVC_FILE(services) \
	"{\"harmony_state\": 1, \"service\": \"api\", \"next_id\": 9, " \
	"\"targets\": [" GOOD_TARGET(HEXKEY, "") "], \"persistence\": [], " \
	"\"services\": " services "}"

static const struct bad_case svc_bad_cases[] = {
	{ "services not an object", SVC_FILE("[]") },
	{ "services null", SVC_FILE("null") },
	{ "a section not an object", SVC_FILE("{\"web\": []}") },
	{ "a section without targets",
	    SVC_FILE("{\"web\": {\"persistence\": []}}") },
	{ "a section without persistence",
	    SVC_FILE("{\"web\": {\"targets\": []}}") },
	{ "a malformed target in a section", SVC_FILE("{\"web\": "
	    SECTION("{\"id\": \"6\"}", "") "}") },
	{ "a malformed target in a removed service's section",
	    SVC_FILE("{\"web\": " SECTION(GOOD_TARGET_AT(6, 96, HEXKEY2), "")
	    ", \"gone\": " SECTION(GOOD_TARGET_AT(7, 97, "nothex"), "") "}") },
	{ "a malformed persistence entry in a section", SVC_FILE("{\"web\": "
	    SECTION("", "{\"client\": \"nowhere\", \"target\": 1, \"idle_ms\": 0}")
	    "}") },
	{ "a malformed static entry in a section", SVC_FILE("{\"web\": "
	    "{\"static\": [{\"id\": 0, \"host\": \"127.0.0.1\", \"port\": 1}], "
	    "\"targets\": [], \"persistence\": []}}") },
	{ "a bad static list in a section", SVC_FILE("{\"web\": "
	    "{\"static\": {}, \"targets\": [], \"persistence\": []}}") },
	{ "a service name that is no name", SVC_FILE("{\"W b\": " SECTION("", "") "}") },
	{ "the top section's service given again", SVC_FILE("{\"api\": "
	    SECTION("", "") "}") },
	{ "service not a string", "{\"harmony_state\": 1, \"service\": 1, "
	    "\"targets\": [], \"persistence\": []}" },
	{ "service not a name", "{\"harmony_state\": 1, \"service\": \"\", "
	    "\"targets\": [], \"persistence\": []}" },
	{ "a section's key given twice", SVC_FILE("{\"web\": {\"static\": [], "
	    "\"targets\": [], \"targets\": [], \"persistence\": []}}") },
};

START_TEST(test_svc_bad_files)
{
	const struct bad_case *bc = &svc_bad_cases[_i];
	struct svcfix fx;
	char err[256], bad[330];
	size_t restored = 99;

	log_init("check_state", LOG_LEVEL_WARN);
	svc_init(&fx, svc_api_web);
	/* The good file these are made from loads. */
	write_text(fx.path, SVC_FILE("{\"web\": " SECTION(GOOD_TARGET_AT(6, 96,
	    HEXKEY2), "{\"client\": \"127.0.0.5\", \"target\": 6, \"idle_ms\": 0}")
	    "}"));
	ck_assert_int_eq(svc_load(&fx, &restored, err, sizeof(err), NULL),
	    STATE_LOADED);
	ck_assert_uint_eq(restored, 2);
	ck_assert_ptr_nonnull(pool_find_id(svc(&fx, "web")->pool, 6));
	ck_assert_uint_eq(persist_count(svc(&fx, "web")->persist), 1);
	svc_restart(&fx, svc_api_web);

	write_text(fx.path, bc->text);
	err[0] = '\0';
	ck_assert_msg(svc_load(&fx, &restored, err, sizeof(err), NULL) == STATE_BAD,
	    "%s: not refused", bc->why);
	ck_assert_msg(err[0] != '\0', "%s: no reason given", bc->why);
	ck_assert_uint_eq(restored, 0);
	ck_assert_ptr_null(pools_find_id(svc(&fx, "api")->pool, 5));
	ck_assert_ptr_null(pools_find_id(svc(&fx, "api")->pool, 6));
	ck_assert_uint_eq(pool_next_id(svc(&fx, "api")->pool), 1);
	snprintf(bad, sizeof(bad), "%s.bad", fx.path);
	ck_assert_int_eq(access(bad, F_OK), 0);
	ck_assert_int_eq(access(fx.path, F_OK), -1);
	svc_done(&fx);
}
END_TEST

/*
 * A hand-edited file: an id or a key that a service holds already is
 * skipped in another (said), like a duplicate within one; a static id
 * another service's target holds is not given back.
 */
START_TEST(test_svc_duplicates)
{
	struct svcfix fx;
	struct target *t;
	char err[256], *logged;
	size_t restored;

	log_init("check_state", LOG_LEVEL_WARN);
	svc_init(&fx, svc_api_web);
	write_text(fx.path, SVC_FILE("{\"web\": {\"static\": [{\"id\": 5, "
	    "\"host\": \"127.0.0.1\", \"port\": 81}], \"targets\": ["
	    GOOD_TARGET_AT(5, 96, HEXKEY2) ", "
	    GOOD_TARGET_AT(6, 97, HEXKEY) ", "
	    GOOD_TARGET_AT(7, 98, HEXKEY3) "], \"persistence\": []}}"));
	ck_assert_int_eq(svc_load(&fx, &restored, err, sizeof(err), &logged),
	    STATE_LOADED);
	ck_assert_uint_eq(restored, 2);
	ck_assert_ptr_nonnull(t = pool_find_id(svc(&fx, "api")->pool, 5));
	ck_assert_uint_eq(t->port, 95);
	ck_assert_ptr_null(pool_find_id(svc(&fx, "web")->pool, 5));
	ck_assert_ptr_null(pools_find_id(svc(&fx, "web")->pool, 6));
	ck_assert_ptr_nonnull(pool_find_id(svc(&fx, "web")->pool, 7));
	ck_assert_uint_eq(pool_size(svc(&fx, "web")->pool), 1);
	ck_assert_msg(strstr(logged, "target 5") != NULL && strstr(logged,
	    "target 6") != NULL, "the skipped targets are not said: %s", logged);
	/* web's static target does not take id 5, api's target's. */
	ck_assert_ptr_nonnull(t = svc_reg(&fx, "web", TARGET_SRC_STATIC,
	    "127.0.0.1", 81));
	ck_assert_uint_ne(t->id, 5);
	ck_assert_ptr_eq(pools_find_id(t->pool, 5)->pool, svc(&fx, "api")->pool);
	svc_done(&fx);
}
END_TEST

static Suite *
state_suite(void)
{
	Suite *s = suite_create("state");
	TCase *tc = tcase_create("file");

	tcase_add_test(tc, test_ids_survive);
	tcase_add_test(tc, test_unreadable);
	tcase_add_test(tc, test_save_in_child);
	tcase_add_test(tc, test_lock);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_loop_test(tc, test_bad_files, 0,
	    (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, test_save_replaces_symlink);
	suite_add_tcase(s, tc);
	tc = tcase_create("services");
	tcase_add_test(tc, test_svc_today_file);
	tcase_add_test(tc, test_svc_roundtrip);
	tcase_add_test(tc, test_svc_default_changed);
	tcase_add_test(tc, test_svc_removed);
	tcase_add_loop_test(tc, test_svc_bad_files, 0,
	    (int)(sizeof(svc_bad_cases) / sizeof(svc_bad_cases[0])));
	tcase_add_test(tc, test_svc_duplicates);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(state_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
