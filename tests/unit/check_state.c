/*
 * Unit tests for state.c: what a save keeps (every field of a registered
 * target, static ids, the next id, the persistence table, the runtime
 * object), how a file that cannot be read differs from a missing or a bad
 * one, which files are bad (a table of them), that a save replaces a
 * symlink instead of writing through it and leaves no temporary file, the
 * save in a child process, the lock. Real files in a temporary directory.
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
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

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

static void
fx_init(struct fixture *fx)
{
	const char *tmp = getenv("TMPDIR");

	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "%s/check_state.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/state.json", fx->dir);
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
	char cmd[300];

	pool_free(fx->pool);
	persist_free(fx->persist);
	loop_free(fx->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	ck_assert_int_eq(system(cmd), 0);
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
