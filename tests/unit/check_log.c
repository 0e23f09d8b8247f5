/*
 * Unit tests for log.c: every line it writes, on stderr and in the access
 * log, carries what a peer sent only escaped (control bytes, DEL, C1
 * controls, backslash and invalid UTF-8 as \xNN), so that no caller can
 * forge a line or write a terminal escape; valid UTF-8 passes unchanged.
 * When fd 2 is the journal (JOURNAL_STREAM), lines carry a syslog
 * priority instead of a time of their own.
 */
#include "autoconfig.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

static const struct {
	const char	*in;
	const char	*out;
} escapes[] = {
	{ "plain text", "plain text" },
	{ "", "" },
	{ "GET /x\r\n2026 info: forged", "GET /x\\x0d\\x0a2026 info: forged" },
	{ "\x1b[31mred", "\\x1b[31mred" },
	{ "tab\there", "tab\\x09here" },
	{ "del\x7f", "del\\x7f" },
	{ "back\\slash", "back\\x5cslash" },
	{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
	{ "bad \xff\xfe", "bad \\xff\\xfe" },
	{ "cut \xe2\x82", "cut \\xe2\\x82" },
	{ "overlong \xc0\xaf", "overlong \\xc0\\xaf" },
	{ "surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80" },
	{ "c1 \xc2\x9b" "2J", "c1 \\xc2\\x9b2J" },
	{ "nel \xc2\x85", "nel \\xc2\\x85" },
	{ "nbsp \xc2\xa0", "nbsp \xc2\xa0" },
};

START_TEST(test_escape_table)
{
	char out[256];
	size_t n;

	n = log_escape(out, sizeof(out), escapes[_i].in, strlen(escapes[_i].in));
	ck_assert_str_eq(out, escapes[_i].out);
	ck_assert_uint_eq(n, strlen(escapes[_i].out));
}
END_TEST

/* A cut never splits an escape or a UTF-8 sequence, and always ends in NUL. */
START_TEST(test_escape_truncates_whole)
{
	char out[8];
	size_t n;

	n = log_escape(out, sizeof(out), "ab\ncd", 5);
	ck_assert_str_eq(out, "ab\\x0ac");
	ck_assert_uint_eq(n, 7);
	n = log_escape(out, sizeof(out), "abcd\n", 5);
	ck_assert_str_eq(out, "abcd");
	ck_assert_uint_eq(n, 4);
	n = log_escape(out, sizeof(out), "abcde\xe2\x82\xac", 8);
	ck_assert_str_eq(out, "abcde");
	n = log_escape(out, 1, "abc", 3);
	ck_assert_str_eq(out, "");
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_utf8_seq)
{
	ck_assert_uint_eq(log_utf8_seq("a", 1), 1);
	ck_assert_uint_eq(log_utf8_seq("\xc3\xa9", 2), 2);
	ck_assert_uint_eq(log_utf8_seq("\xc3", 1), 0);
	ck_assert_uint_eq(log_utf8_seq("\xe2\x82\xac", 3), 3);
	ck_assert_uint_eq(log_utf8_seq("\xf4\x90\x80\x80", 4), 0);	/* > U+10FFFF */
	ck_assert_uint_eq(log_utf8_seq("\x80", 1), 0);
	ck_assert_uint_eq(log_utf8_seq("", 0), 0);
}
END_TEST

/* Reads back what a log call wrote to fd 2 (a temp file meanwhile). */
static char *
capture_stderr(void (*fn)(void))
{
	char path[] = "/tmp/check_log.XXXXXX", *buf;
	int fd, saved;
	off_t len;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	fn();
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	len = lseek(fd, 0, SEEK_END);
	ck_assert_int_ge(len, 0);
	buf = calloc(1, (size_t)len + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, (size_t)len, 0), len);
	close(fd);
	return buf;
}

static void
log_forgery(void)
{
	log_init("check", LOG_LEVEL_DEBUG);
	log_debug("http: %s %s", "GET", "/x\r\n2026-01-01T00:00:00.000Z harmonyd[1] warn: forged\x1b[2J");
	log_warnx("peer said %s", "a\nb");
}

START_TEST(test_lines_escaped)
{
	char *text = capture_stderr(log_forgery);
	char *nl;
	unsigned lines = 0;

	for (const char *p = text; (nl = strchr(p, '\n')) != NULL; p = nl + 1)
		lines++;
	ck_assert_uint_eq(lines, 2);
	ck_assert_ptr_null(strchr(text, '\x1b'));
	ck_assert_ptr_null(strchr(text, '\r'));
	ck_assert_ptr_nonnull(strstr(text, "debug: http: GET /x\\x0d\\x0a2026-01-01T"));
	ck_assert_ptr_nonnull(strstr(text, "forged\\x1b[2J\n"));
	ck_assert_ptr_nonnull(strstr(text, "warn: peer said a\\x0ab\n"));
	free(text);
}
END_TEST

START_TEST(test_access_escaped)
{
	char path[] = "/tmp/check_log_access.XXXXXX", buf[512];
	FILE *fp;
	size_t n;
	int fd;

	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(log_access_open(path), 0);
	log_access("client=%s end=%s", "1.2.3.4", "x\nclient=6.6.6.6 end=forged\x1b");
	log_access_close();
	fp = fopen(path, "r");
	ck_assert_ptr_nonnull(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	unlink(path);
	ck_assert_str_eq(buf, "client=1.2.3.4 end=x\\x0aclient=6.6.6.6 end=forged\\x1b\n");
}
END_TEST

/* JOURNAL_STREAM as systemd sets it when fd 2 is its stream: dev:inode. */
static void
set_journal_stream(int fd, int inode_delta)
{
	struct stat st;
	char v[64];

	ck_assert_int_eq(fstat(fd, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + (unsigned long long)inode_delta);
	ck_assert_int_eq(setenv("JOURNAL_STREAM", v, 1), 0);
}

static void
log_levels(void)
{
	log_init("check", LOG_LEVEL_DEBUG);
	log_debug("d %d", 1);
	log_info("i");
	errno = ENOENT;
	log_warn("w");
	log_warnx("x\ny");
	log_error("e");
}

static void
log_levels_journal(void)
{
	set_journal_stream(STDERR_FILENO, 0);
	log_levels();
	unsetenv("JOURNAL_STREAM");
	log_init("check", LOG_LEVEL_DEBUG);	/* back to the usual lines */
}

static void
log_levels_other_stream(void)
{
	set_journal_stream(STDERR_FILENO, 1);
	log_levels();
	unsetenv("JOURNAL_STREAM");
}

START_TEST(test_journal_priorities)
{
	char *text = capture_stderr(log_levels_journal);

	/* sd-daemon.h's SD_DEBUG .. SD_ERR; the journal stamps time and pid. */
	ck_assert_str_eq(text, "<7>debug: d 1\n<6>info: i\n"
	    "<4>warn: w: No such file or directory\n<4>warn: x\\x0ay\n"
	    "<3>error: e\n");
	free(text);
}
END_TEST

START_TEST(test_journal_not_ours)
{
	static const char *const want[] = { "Z check[", "] info: i\n", "] error: e\n" };
	char *text = capture_stderr(log_levels_other_stream);

	/* Another stream's dev:inode (a pipe to a logger, say): today's lines. */
	ck_assert_ptr_null(strchr(text, '<'));
	for (size_t i = 0; i < NITEMS(want); i++)
		ck_assert_msg(strstr(text, want[i]) != NULL, "no \"%s\" in: %s", want[i], text);
	free(text);
}
END_TEST

START_TEST(test_journal_fatal)
{
	char *text;
	int p[2], status;
	pid_t pid;
	ssize_t n;
	char buf[256];

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		set_journal_stream(STDERR_FILENO, 0);
		log_init("check", LOG_LEVEL_INFO);
		fatalx("gone %s", "now");
	}
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	text = buf;
	ck_assert_str_eq(text, "<2>fatal: gone now\n");
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("escape");

	tcase_add_loop_test(tc, test_escape_table, 0, NITEMS(escapes));
	tcase_add_test(tc, test_escape_truncates_whole);
	tcase_add_test(tc, test_utf8_seq);
	suite_add_tcase(s, tc);
	tc = tcase_create("lines");
	tcase_add_test(tc, test_lines_escaped);
	tcase_add_test(tc, test_access_escaped);
	suite_add_tcase(s, tc);
	tc = tcase_create("journal");
	tcase_add_test(tc, test_journal_priorities);
	tcase_add_test(tc, test_journal_not_ours);
	tcase_add_test(tc, test_journal_fatal);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
