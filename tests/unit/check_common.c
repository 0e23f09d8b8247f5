/*
 * Unit tests for common/: the helpers the daemon, libharmony and the agent
 * share. Where their old copies disagreed, the stricter rule won, and the
 * cases that used to pass in one copy and not the other are pinned here:
 * a duration finer than a millisecond (the agent took it) and a token
 * with a space or a byte >= 0x7f (libharmony and the agent took them);
 * a FIFO, a device or an oversize file read as a config, token or state
 * file (only the state file's reader refused them; the agent's cut a long
 * token file short).
 */
#include "autoconfig.h"

#include <sys/stat.h>
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/duration.h"
#include "common/file.h"
#include "common/hash.h"
#include "common/limits.h"
#include "common/random.h"
#include "common/secret.h"
#include "common/token.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

#define ck_assert_err_has(err, part) \
	ck_assert_msg(strstr((err), (part)) != NULL, \
	    "error '%s' lacks '%s'", (err), (part))

/* ---- duration_parse ------------------------------------------------- */

static const struct {
	const char	*text;
	int64_t		 ms;
} duration_ok[] = {
	{ "500ms", 500 }, { "30s", 30000 }, { "5m", 300000 }, { "1h", 3600000 },
	{ "1.5s", 1500 }, { "2", 2000 }, { "0", 0 }, { "0.25", 250 },
	{ "1.5m", 90000 }, { "0.001s", 1 }, { "0010s", 10000 },
	{ "1.000000000000s", 1000 }, { "0.5h", 1800000 }, { "1.0ms", 1 },
	{ "8760h", 31536000000LL }, { "31536000", 31536000000LL },
};

START_TEST(test_duration_ok)
{
	char err[128];
	int64_t ms = -1;

	ck_assert_msg(duration_parse(duration_ok[_i].text, DURATION_MAX_MS, &ms, err,
	    sizeof(err)) == 0, "'%s': %s", duration_ok[_i].text, err);
	ck_assert_int_eq(ms, duration_ok[_i].ms);
}
END_TEST

static const struct {
	const char	*text;
	const char	*err;
} duration_bad[] = {
	{ "", "bad duration" }, { "-1s", "bad duration" }, { "+1s", "bad duration" },
	{ "s", "bad duration" }, { "1x", "bad duration" }, { "1.s", "bad duration" },
	{ ".5s", "bad duration" }, { "1 s", "bad duration" },
	{ " 1s", "bad duration" }, { "1s ", "bad duration" },
	{ "1e3", "bad duration" }, { "1,5s", "bad duration" },
	{ "5mm", "bad duration" }, { "0x10", "bad duration" },
	{ "nan", "bad duration" }, { "1d", "bad duration" },
	{ "1.0001s", "finer than a millisecond" },
	{ "0.5ms", "finer than a millisecond" },
	{ "1.0000000001h", "finer than a millisecond" },
	{ "8761h", "longer than 365 days" },
	{ "31536001", "longer than 365 days" },
	{ "99999999999999999999999999", "longer than 365 days" },
	{ "99999999999999999999999999ms", "longer than 365 days" },
};

START_TEST(test_duration_bad)
{
	char err[128] = "";
	int64_t ms = 42;

	ck_assert_int_eq(duration_parse(duration_bad[_i].text, DURATION_MAX_MS, &ms, err,
	    sizeof(err)), -1);
	ck_assert_err_has(err, duration_bad[_i].err);
	ck_assert_int_eq(ms, 42);
}
END_TEST

/* The agent's cap is a day; the message says so. */
START_TEST(test_duration_cap)
{
	char err[128] = "";
	int64_t ms = 42;

	ck_assert_int_eq(duration_parse("24h", LIMIT_TTL_MAX_MS, &ms, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(ms, LIMIT_TTL_MAX_MS);
	ck_assert_int_eq(duration_parse("86400.001", LIMIT_TTL_MAX_MS, &ms, err,
	    sizeof(err)), -1);
	ck_assert_err_has(err, "longer than 1 day");
	ck_assert_int_eq(duration_parse("1001ms", 1000, &ms, err,
	    sizeof(err)), -1);
	ck_assert_err_has(err, "longer than 1000 ms");
	/* A cap beyond the daemon's is the daemon's. */
	ck_assert_int_eq(duration_parse("8761h", INT64_MAX, &ms, err,
	    sizeof(err)), -1);
	ck_assert_err_has(err, "longer than 365 days");
}
END_TEST

/* The agent's old copy truncated these to whole milliseconds. */
START_TEST(test_duration_sub_ms_refused_under_any_cap)
{
	static const char *const fine[] = { "1.0001s", "0.5ms", "10.5ms",
	    "0.0001" };
	char err[128] = "";
	int64_t ms = 42;

	for (size_t i = 0; i < NITEMS(fine); i++) {
		ck_assert_int_eq(duration_parse(fine[i], LIMIT_TTL_MAX_MS, &ms,
		    err, sizeof(err)), -1);
		ck_assert_err_has(err, "finer than a millisecond");
		ck_assert_int_eq(ms, 42);
	}
}
END_TEST

/* ---- token_valid ---------------------------------------------------- */

static const struct {
	const char	*text;
	size_t		 len;
	bool		 ok;
} tokens[] = {
	{ "s3cret", 6, true },
	{ "!\"#$%&'()*+,-./09;<=>?@AZ[\\]^_`az{|}~", 37, true },
	{ "", 0, false },
	{ "a:b", 3, false },
	{ "a b", 3, false },		/* libharmony and the agent took it */
	{ "a\tb", 3, false },
	{ "a\x7f", 2, false },
	{ "caf\xc3\xa9", 5, false },	/* libharmony and the agent took it */
	{ "\x80", 1, false },
	{ "\xff", 1, false },
	{ "a\0b", 3, false },
	{ "a\r\nb", 4, false },
};

START_TEST(test_token_table)
{
	ck_assert_msg(token_valid(tokens[_i].text, tokens[_i].len,
	    LIMIT_TOKEN_MAX) == tokens[_i].ok, "token %zu", (size_t)_i);
}
END_TEST

START_TEST(test_token_length)
{
	char buf[LIMIT_TOKEN_MAX + 1];

	memset(buf, 'x', sizeof(buf));
	ck_assert(token_valid(buf, LIMIT_TOKEN_MAX, LIMIT_TOKEN_MAX));
	ck_assert(!token_valid(buf, LIMIT_TOKEN_MAX + 1, LIMIT_TOKEN_MAX));
	ck_assert(!token_valid(buf, 33, 32));
}
END_TEST

/* ---- secret_equal --------------------------------------------------- */

START_TEST(test_secret_equal)
{
	ck_assert(secret_equal("abc", 3, "abc"));
	ck_assert(!secret_equal("abd", 3, "abc"));
	ck_assert(!secret_equal("ab", 2, "abc"));
	ck_assert(!secret_equal("abcd", 4, "abc"));
	ck_assert(!secret_equal("abc\0", 4, "abc"));
	ck_assert(!secret_equal("", 0, "abc"));
	ck_assert(!secret_equal("x", 1, ""));
	ck_assert(secret_equal("", 0, ""));
}
END_TEST

/* ---- random_fill --------------------------------------------------- */

/* More than one getrandom(2) call's worth is still filled to the end. */
START_TEST(test_random_fill)
{
	static uint8_t a[1 << 20], b[1 << 20];
	size_t zero_tail = 0;

	ck_assert_int_eq(random_fill(a, 0), 0);
	ck_assert_int_eq(random_fill(a, sizeof(a)), 0);
	ck_assert_int_eq(random_fill(b, sizeof(b)), 0);
	ck_assert(memcmp(a, b, sizeof(a)) != 0);
	for (size_t i = sizeof(a); i > 0 && a[i - 1] == 0; i--)
		zero_tail++;
	ck_assert_uint_lt(zero_tail, 16);
}
END_TEST

/* ---- hash ---------------------------------------------------------- */

/*
 * The published FNV-1a 64 vectors, and one fixed mixed value: the
 * balancer's hash placements (Maglev, rendezvous) must not move between
 * versions.
 */
START_TEST(test_hash_vectors)
{
	ck_assert_uint_eq(hash_fnv1a(HASH_FNV1A_BASIS, "", 0),
	    UINT64_C(0xcbf29ce484222325));
	ck_assert_uint_eq(hash_fnv1a(HASH_FNV1A_BASIS, "a", 1),
	    UINT64_C(0xaf63dc4c8601ec8c));
	ck_assert_uint_eq(hash_fnv1a(HASH_FNV1A_BASIS, "foobar", 6),
	    UINT64_C(0x85944171f73967e8));
	ck_assert_uint_eq(hash_mix64(0), 0);
	ck_assert_uint_ne(hash_mix64(1), hash_mix64(2));
}
END_TEST

/* ---- file_read ------------------------------------------------------ */

struct tmpdir {
	char	dir[64];
	char	path[128];
};

static void
tmp_init(struct tmpdir *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/check_common.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/f", t->dir);
}

static const char *
tmp_write(struct tmpdir *t, const char *name, const void *data, size_t len)
{
	FILE *fp;

	snprintf(t->path, sizeof(t->path), "%s/%s", t->dir, name);
	ck_assert_ptr_nonnull(fp = fopen(t->path, "w"));
	ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
	ck_assert_int_eq(fclose(fp), 0);
	return t->path;
}

static void
tmp_done(struct tmpdir *t)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Exactly the cap is read whole, NUL bytes and all, and NUL-terminated. */
START_TEST(test_file_exact_cap)
{
	struct tmpdir t;
	char *buf, err[128];
	size_t len;

	tmp_init(&t);
	tmp_write(&t, "f", "ab\0cd", 5);
	ck_assert_int_eq(file_read(t.path, 5, 0, &buf, &len, err, sizeof(err)), 0);
	ck_assert_uint_eq(len, 5);
	ck_assert(memcmp(buf, "ab\0cd", 6) == 0);
	free(buf);
	tmp_write(&t, "empty", "", 0);
	ck_assert_int_eq(file_read(t.path, 0, 0, &buf, &len, err, sizeof(err)), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_int_eq(buf[0], '\0');
	free(buf);
	tmp_done(&t);
}
END_TEST

/* One byte over the cap is refused, naming the cap, never cut short. */
START_TEST(test_file_oversize)
{
	struct tmpdir t;
	char *buf = (char *)1, err[128];
	size_t len;

	tmp_init(&t);
	tmp_write(&t, "f", "abcdef", 6);
	ck_assert_int_eq(file_read(t.path, 5, 0, &buf, &len, err, sizeof(err)), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_ptr_null(buf);
	ck_assert_str_eq(err, "larger than 5 bytes");
	tmp_done(&t);
}
END_TEST

/*
 * A file that says it is empty but is not (/proc's) is read to its end,
 * and still refused past the cap.
 */
START_TEST(test_file_grows_past_fstat)
{
	char *buf, err[128];
	size_t len;

	if (access("/proc/self/status", R_OK) != 0)
		return;
	ck_assert_int_eq(file_read("/proc/self/status", 1 << 20, 0, &buf, &len, err,
	    sizeof(err)), 0);
	ck_assert_uint_gt(len, 100);
	ck_assert_uint_eq(strlen(buf), len);
	ck_assert(strncmp(buf, "Name:", 5) == 0);
	free(buf);
	ck_assert_int_eq(file_read("/proc/self/status", 10, 0, &buf, &len, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_str_eq(err, "larger than 10 bytes");
}
END_TEST

/* A directory and a device are refused: a regular file only. */
START_TEST(test_file_regular_only)
{
	struct tmpdir t;
	char *buf, err[128];
	size_t len;

	tmp_init(&t);
	ck_assert_int_eq(file_read(t.dir, 100, 0, &buf, &len, err, sizeof(err)), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_str_eq(err, "not a regular file");
	ck_assert_int_eq(file_read("/dev/null", 100, 0, &buf, &len, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_str_eq(err, "not a regular file");
	tmp_done(&t);
}
END_TEST

/* A FIFO with no writer would block a plain open(2): refused at once. */
START_TEST(test_file_fifo_does_not_block)
{
	struct tmpdir t;
	char *buf, err[128];
	size_t len;

	tmp_init(&t);
	ck_assert_int_eq(mkfifo(t.path, 0600), 0);
	/* Blocked, it would end in Check's per-test timeout. */
	ck_assert_int_eq(file_read(t.path, 100, 0, &buf, &len, err, sizeof(err)), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_str_eq(err, "not a regular file");
	tmp_done(&t);
}
END_TEST

/* FILE_NOFOLLOW refuses a symbolic link, even to a good file; without it, followed. */
START_TEST(test_file_symlink)
{
	struct tmpdir t;
	char *buf, err[128], link[160];
	size_t len;

	tmp_init(&t);
	tmp_write(&t, "target", "{}", 2);
	snprintf(link, sizeof(link), "%s/link", t.dir);
	ck_assert_int_eq(symlink(t.path, link), 0);
	ck_assert_int_eq(file_read(link, 100, FILE_NOFOLLOW, &buf, &len, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_str_eq(err, "it is a symbolic link (never followed)");
	ck_assert_int_eq(file_read(link, 100, 0, &buf, &len, err, sizeof(err)), 0);
	ck_assert_str_eq(buf, "{}");
	free(buf);
	tmp_done(&t);
}
END_TEST

/* A missing file is told apart (ENOENT) from one that cannot be read. */
START_TEST(test_file_missing)
{
	struct tmpdir t;
	char *buf, err[128];
	size_t len;

	tmp_init(&t);
	ck_assert_int_eq(file_read(t.path, 100, FILE_NOFOLLOW, &buf, &len, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_str_eq(err, strerror(ENOENT));
	/* A dangling link is a link first, under FILE_NOFOLLOW. */
	ck_assert_int_eq(symlink("/nonexistent/x", t.path), 0);
	ck_assert_int_eq(file_read(t.path, 100, FILE_NOFOLLOW, &buf, &len, err,
	    sizeof(err)), -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_int_eq(file_read(t.path, 100, 0, &buf, &len, err, sizeof(err)), -1);
	ck_assert_int_eq(errno, ENOENT);
	tmp_done(&t);
}
END_TEST

/* ---- limits --------------------------------------------------------- */

/* The ack port speaks whole seconds: the TTL bounds are whole seconds. */
START_TEST(test_limits_ttl_whole_seconds)
{
	ck_assert_int_eq(LIMIT_TTL_MIN_MS % 1000, 0);
	ck_assert_int_eq(LIMIT_TTL_MAX_MS % 1000, 0);
	ck_assert(LIMIT_TTL_MIN_MS <= LIMIT_TTL_MAX_MS);
	ck_assert(LIMIT_WEIGHT_MIN <= LIMIT_WEIGHT_DEFAULT &&
	    LIMIT_WEIGHT_DEFAULT <= LIMIT_WEIGHT_MAX);
	ck_assert(LIMIT_TTL_MAX_MS <= DURATION_MAX_MS);
}
END_TEST

static Suite *
common_suite(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("duration");

	tcase_add_loop_test(tc, test_duration_ok, 0, NITEMS(duration_ok));
	tcase_add_loop_test(tc, test_duration_bad, 0, NITEMS(duration_bad));
	tcase_add_test(tc, test_duration_cap);
	tcase_add_test(tc, test_duration_sub_ms_refused_under_any_cap);
	suite_add_tcase(s, tc);
	tc = tcase_create("token");
	tcase_add_loop_test(tc, test_token_table, 0, NITEMS(tokens));
	tcase_add_test(tc, test_token_length);
	suite_add_tcase(s, tc);
	tc = tcase_create("secret");
	tcase_add_test(tc, test_secret_equal);
	suite_add_tcase(s, tc);
	tc = tcase_create("random");
	tcase_add_test(tc, test_random_fill);
	suite_add_tcase(s, tc);
	tc = tcase_create("hash");
	tcase_add_test(tc, test_hash_vectors);
	suite_add_tcase(s, tc);
	tc = tcase_create("file");
	tcase_add_test(tc, test_file_exact_cap);
	tcase_add_test(tc, test_file_oversize);
	tcase_add_test(tc, test_file_grows_past_fstat);
	tcase_add_test(tc, test_file_regular_only);
	tcase_add_test(tc, test_file_fifo_does_not_block);
	tcase_add_test(tc, test_file_symlink);
	tcase_add_test(tc, test_file_missing);
	suite_add_tcase(s, tc);
	tc = tcase_create("limits");
	tcase_add_test(tc, test_limits_ttl_whole_seconds);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(common_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
