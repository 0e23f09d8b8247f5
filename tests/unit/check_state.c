/*
 * Unit tests for state.c: what a save keeps (static ids, the next id), how
 * a file that cannot be read differs from a missing or a bad one, the save
 * in a child process, the lock. Real files in a temporary directory.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
