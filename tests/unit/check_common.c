/*
 * Unit tests for common/: the helpers the daemon, libharmony and the agent
 * share. Where their old copies disagreed, the stricter rule won, and the
 * cases that used to pass in one copy and not the other are pinned here:
 * a duration finer than a millisecond (the agent took it) and a token
 * with a space or a byte >= 0x7f (libharmony and the agent took them);
 * a FIFO, a device or an oversize file read as a config, token or state
 * file (only the state file's reader refused them; the agent's cut a long
 * token file short); and the address grammar, where the agent took an
 * IPv6 address without brackets, "[name]" and "1.2.3" (as 1.2.0.3), and
 * libharmony took "1.2.3" too. The self-pipe that harmonyd and the agent
 * set their signals up with is tested with raise(3).
 */
#include "autoconfig.h"

#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/duration.h"
#include "common/file.h"
#include "common/hash.h"
#include "common/limits.h"
#include "common/random.h"
#include "common/secret.h"
#include "common/selfpipe.h"
#include "common/service.h"
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

/* A token file's line ends go, a second line stays (and is refused). */
START_TEST(test_token_file_text)
{
	static const struct {
		const char	*in;
		const char	*out;
		bool		 ok;
	} cases[] = {
		{ "s3cret\n", "s3cret", true },
		{ "s3cret\r\n", "s3cret", true },
		{ "s3cret", "s3cret", true },
		{ "s3cret\n\n\r\n", "s3cret", true },
		{ "tok\nen\n", "tok\nen", false },
		{ "\n", "", false },
		{ "", "", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char buf[32];
		size_t len = strlen(cases[i].in);

		memcpy(buf, cases[i].in, len + 1);
		len = token_file_text(buf, len);
		ck_assert_uint_eq(len, strlen(cases[i].out));
		ck_assert_str_eq(buf, cases[i].out);
		ck_assert_msg(token_valid(buf, len, LIMIT_TOKEN_MAX) == cases[i].ok,
		    "case %zu", i);
	}
}
END_TEST

/* ---- service_name_valid -------------------------------------------- */

START_TEST(test_service_names)
{
	static const char *const good[] = {
		"default", "web", "a", "0", "api-v2", "db_replicas", "9lives",
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk",
	};
	static const char *const bad[] = {
		"", "-web", "_web", "Web", "WEB", "web.app", "web app", "web/x",
		"web:", "caf\xc3\xa9", "web\n", "%2e",
		"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(service_name_valid(good[i], strlen(good[i])), "'%s' refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!service_name_valid(bad[i], strlen(bad[i])), "'%s' accepted", bad[i]);
	/* The length is the caller's: a NUL inside is a byte like any other. */
	ck_assert(!service_name_valid("we\0b", 4));
	ck_assert_str_eq(SERVICE_DEFAULT, "default");
	ck_assert(service_name_valid(SERVICE_DEFAULT, strlen(SERVICE_DEFAULT)));
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
	{
		/* SipHash-2-4's reference vectors (key 00..0f, input 00..n-1). */
		uint64_t k[2] = { UINT64_C(0x0706050403020100),
		    UINT64_C(0x0f0e0d0c0b0a0908) };
		uint8_t in[16];

		for (size_t i = 0; i < sizeof(in); i++)
			in[i] = (uint8_t)i;
		ck_assert_uint_eq(hash_sip(k, in, 0), UINT64_C(0x726fdb47dd0e0e31));
		ck_assert_uint_eq(hash_sip(k, in, 7), UINT64_C(0xab0200f58b01d137));
		ck_assert_uint_eq(hash_sip(k, in, 8), UINT64_C(0x93f5f5799a932462));
		ck_assert_uint_eq(hash_sip(k, in, 15), UINT64_C(0xa129ca6149be45e5));
	}
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

/* ---- addr ----------------------------------------------------------- */

static const struct {
	const char	*text;
	int		 port;		/* -1: refused */
} ports[] = {
	{ "0", 0 }, { "1", 1 }, { "80", 80 }, { "65535", 65535 }, { "00080", 80 },
	{ "65536", -1 }, { "99999", -1 }, { "000080", -1 }, { "", -1 },
	{ " 80", -1 }, { "80 ", -1 }, { "+80", -1 }, { "-1", -1 }, { "8a", -1 },
	{ "0x50", -1 }, { "4294967376", -1 },	/* 2^32 + 80: no wrap */
};

START_TEST(test_addr_port)
{
	uint16_t p = 7;
	int rc = addr_parse_port(ports[_i].text, &p);

	if (ports[_i].port < 0) {
		ck_assert_msg(rc == -1, "'%s' taken", ports[_i].text);
		ck_assert_uint_eq(p, 7);
	} else {
		ck_assert_msg(rc == 0, "'%s' refused", ports[_i].text);
		ck_assert_uint_eq(p, (unsigned)ports[_i].port);
	}
}
END_TEST

static const struct {
	const char	*text;
	const char	*host;		/* NULL: refused, with a reason naming it */
	const char	*port;		/* NULL: no ":PORT" */
	const char	*why;
} splits[] = {
	{ "example.com:80", "example.com", "80", NULL },
	{ "10.0.0.1:0", "10.0.0.1", "0", NULL },	/* the caller judges 0 */
	{ "10.0.0.1:", "10.0.0.1", "", NULL },		/* and an empty port */
	{ "example.com", "example.com", NULL, NULL },
	{ "[::1]:80", "::1", "80", NULL },
	{ "[::1]", "::1", NULL, NULL },
	{ "[fe80::1%eth0]:80", "fe80::1%eth0", "80", NULL },
	{ "[::1", NULL, NULL, "expected [IPV6]:PORT" },		/* missing ']' */
	{ "[::1]80", NULL, NULL, "expected [IPV6]:PORT" },
	{ "[::1]:80:", NULL, NULL, NULL },	/* taken here; the port is not a port */
	{ "::1", NULL, NULL, "IPv6 needs [brackets]" },		/* the agent took it */
	{ "::1:80", NULL, NULL, "IPv6 needs [brackets]" },
	{ "[localhost]:80", NULL, NULL, "brackets are for an IPv6" },	/* as the agent did */
	{ "[10.0.0.1]", NULL, NULL, "brackets are for an IPv6" },
	{ "", NULL, NULL, "empty host" },
	{ ":80", NULL, NULL, "empty host" },
	{ "[]:80", NULL, NULL, "empty host" },
	{ "[]", NULL, NULL, "empty host" },
};

START_TEST(test_addr_split)
{
	char host[16], err[128] = "";
	const char *port = "unset";
	int rc = addr_split(splits[_i].text, host, sizeof(host), &port, err,
	    sizeof(err));

	if (splits[_i].host == NULL && splits[_i].why != NULL) {
		ck_assert_msg(rc == -1, "'%s' taken", splits[_i].text);
		ck_assert_err_has(err, splits[_i].why);
		ck_assert_err_has(err, splits[_i].text);
		ck_assert_ptr_null(port);
		return;
	}
	if (splits[_i].host == NULL) {
		ck_assert_int_eq(rc, 0);
		ck_assert_uint_eq(addr_parse_port(port, &(uint16_t){ 0 }), -1);
		return;
	}
	ck_assert_msg(rc == 0, "'%s': %s", splits[_i].text, err);
	ck_assert_str_eq(host, splits[_i].host);
	if (splits[_i].port == NULL)
		ck_assert_ptr_null(port);
	else
		ck_assert_str_eq(port, splits[_i].port);
}
END_TEST

/* A host that does not fit is refused, never cut. */
START_TEST(test_addr_split_overlong)
{
	char host[8], err[128];
	const char *port;

	ck_assert_int_eq(addr_split("1234567:80", host, sizeof(host), &port, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(host, "1234567");
	ck_assert_int_eq(addr_split("12345678:80", host, sizeof(host), &port, err,
	    sizeof(err)), -1);
	ck_assert_err_has(err, "overlong host");
	ck_assert_int_eq(addr_split("[1:2:3:4:5]", host, sizeof(host), &port, err,
	    sizeof(err)), -1);
	ck_assert_err_has(err, "overlong host");
}
END_TEST

/* Numeric hosts, and what never goes to a name server. */
START_TEST(test_addr_numeric)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&ss;
	char err[128], name[ADDR_NAME_MAX + 1];
	socklen_t len;

	ck_assert_int_eq(addr_resolve_numeric("10.1.2.3", 80, &ss, &len, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_uint_eq(ntohs(sin->sin_port), 80);
	ck_assert_uint_eq(ntohl(sin->sin_addr.s_addr), 0x0a010203);
	ck_assert_uint_eq(len, sizeof(*sin));
	ck_assert_int_eq(addr_resolve_numeric("::1", 443, &ss, &len, err,
	    sizeof(err)), 0);
	ck_assert_int_eq(sin6->sin6_family, AF_INET6);
	ck_assert_uint_eq(ntohs(sin6->sin6_port), 443);
	ck_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	ck_assert_uint_eq(len, sizeof(*sin6));
	/* A name: left for addr_resolve, *ss untouched. */
	ss.ss_family = AF_UNIX;
	ck_assert_int_eq(addr_resolve_numeric("example.com", 80, &ss, &len, err,
	    sizeof(err)), 1);
	ck_assert_int_eq(ss.ss_family, AF_UNIX);
	/* getaddrinfo would take these (1.2.0.3, 0.0.0.1): libharmony and the agent did. */
	ck_assert_int_eq(addr_resolve_numeric("1.2.3", 80, &ss, &len, err,
	    sizeof(err)), -1);
	ck_assert_err_has(err, "bad IPv4 address '1.2.3'");
	ck_assert_int_eq(addr_resolve("1", 80, &ss, &len, 1, err, sizeof(err)), -1);
	ck_assert_int_eq(addr_resolve("1.2.3.4.", 80, &ss, &len, 1, err, sizeof(err)), -1);
	ck_assert_int_eq(addr_resolve("", 80, &ss, &len, 1, err, sizeof(err)), -1);
	ck_assert_err_has(err, "empty host");
	memset(name, 'a', ADDR_NAME_MAX);
	name[ADDR_NAME_MAX] = '\0';
	ck_assert_int_eq(addr_resolve(name, 80, &ss, &len, 1, err, sizeof(err)), -1);
	ck_assert_err_has(err, "host name too long");
	ck_assert_int_eq(addr_numeric("example.com", 80, &ss, &len), -1);
}
END_TEST

/*
 * A resolver the test controls: getaddrinfo and freeaddrinfo defined here
 * take the place of libc's for this program. "mixed.test" answers IPv6
 * first, interleaved with IPv4; "v6.test" only IPv6; every other name goes
 * to the real getaddrinfo.
 */
#define FAKE_N	4
static struct addrinfo fake_ai[FAKE_N];
static struct sockaddr_storage fake_ss[FAKE_N];

static void
fake_set(int i, const char *text)
{
	socklen_t len;

	ck_assert_int_eq(addr_numeric(text, 9, &fake_ss[i], &len), 0);
	fake_ai[i] = (struct addrinfo){ .ai_family = fake_ss[i].ss_family,
	    .ai_socktype = SOCK_STREAM, .ai_addrlen = len,
	    .ai_addr = (struct sockaddr *)&fake_ss[i],
	    .ai_next = i + 1 < FAKE_N ? &fake_ai[i + 1] : NULL };
}

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
    struct addrinfo **res)
{
	__typeof__(getaddrinfo) *real;

	if (node != NULL && strcmp(node, "mixed.test") == 0) {
		fake_set(0, "2001:db8::1");
		fake_set(1, "192.0.2.1");
		fake_set(2, "2001:db8::2");
		fake_set(3, "192.0.2.2");
		*res = &fake_ai[0];
		return 0;
	}
	if (node != NULL && strcmp(node, "v6.test") == 0) {
		fake_set(3, "2001:db8::3");
		*res = &fake_ai[3];
		return 0;
	}
	*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	return real(node, service, hints, res);
}

void
freeaddrinfo(struct addrinfo *ai)
{
	__typeof__(freeaddrinfo) *real;

	if (ai >= &fake_ai[0] && ai < &fake_ai[FAKE_N])
		return;
	*(void **)&real = dlsym(RTLD_NEXT, "freeaddrinfo");
	real(ai);
}

static const char *
text_of(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const void *a = ss->ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)(const void *)ss)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr;

	ck_assert_ptr_nonnull(inet_ntop(ss->ss_family, a, buf, (socklen_t)len));
	return buf;
}

/* IPv4 first whatever order the resolver gives, then IPv6; at most max. */
START_TEST(test_addr_resolve_order)
{
	static const char *want[] = { "192.0.2.1", "192.0.2.2", "2001:db8::1",
	    "2001:db8::2" };
	struct sockaddr_storage ss[4];
	socklen_t len[4];
	char err[128], text[ADDR_HOSTSTRLEN];

	ck_assert_int_eq(addr_resolve("mixed.test", 1666, ss, len, 4, err,
	    sizeof(err)), 4);
	for (size_t i = 0; i < 4; i++) {
		ck_assert_str_eq(text_of(&ss[i], text, sizeof(text)), want[i]);
		ck_assert_uint_eq(len[i], ss[i].ss_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	}
	ck_assert_uint_eq(ntohs(((struct sockaddr_in6 *)(void *)&ss[3])->sin6_port),
	    1666);
	/* One address (harmonyd, the agent's check): the first IPv4 one. */
	ck_assert_int_eq(addr_resolve("mixed.test", 80, ss, len, 1, err,
	    sizeof(err)), 1);
	ck_assert_str_eq(text_of(&ss[0], text, sizeof(text)), "192.0.2.1");
	ck_assert_uint_eq(ntohs(((struct sockaddr_in *)(void *)&ss[0])->sin_port), 80);
	ck_assert_int_eq(addr_resolve("mixed.test", 80, ss, len, 3, err,
	    sizeof(err)), 3);
	ck_assert_str_eq(text_of(&ss[2], text, sizeof(text)), "2001:db8::1");
	/* IPv6 alone is fine. */
	ck_assert_int_eq(addr_resolve("v6.test", 80, ss, len, 4, err, sizeof(err)), 1);
	ck_assert_str_eq(text_of(&ss[0], text, sizeof(text)), "2001:db8::3");
}
END_TEST

/* Names through the real getaddrinfo ("localhost" is in every /etc/hosts). */
START_TEST(test_addr_resolve)
{
	struct sockaddr_storage ss[4];
	socklen_t len[4];
	char err[128];
	int n;

	n = addr_resolve("localhost", 1666, ss, len, 4, err, sizeof(err));
	ck_assert_msg(n >= 1, "localhost: %s", err);
	ck_assert_int_eq(ss[0].ss_family, AF_INET);
	for (int i = 0; i < n; i++) {
		const struct sockaddr_in *sin = (const void *)&ss[i];
		const struct sockaddr_in6 *sin6 = (const void *)&ss[i];

		ck_assert(ss[i].ss_family == AF_INET || ss[i].ss_family == AF_INET6);
		ck_assert_uint_eq(ntohs(ss[i].ss_family == AF_INET ? sin->sin_port :
		    sin6->sin6_port), 1666);
		if (i > 0 && ss[i].ss_family == AF_INET)
			ck_assert_int_eq(ss[i - 1].ss_family, AF_INET);
	}
	ck_assert_int_eq(addr_resolve("localhost", 1, ss, len, 1, err, sizeof(err)), 1);
	ck_assert_int_eq(addr_resolve("127.0.0.1", 1, ss, len, 4, err, sizeof(err)), 1);
	ck_assert_int_eq(addr_resolve("no-such-host.invalid", 1, ss, len, 4, err,
	    sizeof(err)), -1);
	ck_assert_err_has(err, "cannot resolve 'no-such-host.invalid'");
}
END_TEST

START_TEST(test_addr_join)
{
	char buf[ADDR_TEXTLEN];

	ck_assert_str_eq(addr_join("10.0.0.1", 80, buf, sizeof(buf)), "10.0.0.1:80");
	ck_assert_str_eq(addr_join("::1", 80, buf, sizeof(buf)), "[::1]:80");
	ck_assert_str_eq(addr_join("example.com", 0, buf, sizeof(buf)), "example.com:0");
}
END_TEST

/* ---- selfpipe -------------------------------------------------------- */

/* Both ends non-blocking and close-on-exec: a check's child gets neither. */
START_TEST(test_selfpipe_flags)
{
	int fds[2] = { -1, -1 };
	unsigned char b;

	ck_assert_int_eq(selfpipe_open(fds), 0);
	for (int i = 0; i < 2; i++) {
		ck_assert(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
		ck_assert(fcntl(fds[i], F_GETFL) & O_NONBLOCK);
	}
	ck_assert_int_eq(read(fds[0], &b, 1), -1);
	ck_assert_int_eq(errno, EAGAIN);
	selfpipe_close(fds);
	ck_assert_int_eq(fds[0], -1);
	ck_assert_int_eq(fds[1], -1);
	selfpipe_close(fds);	/* twice is fine */
}
END_TEST

/* A caught signal is its number on the pipe, and errno is left alone. */
START_TEST(test_selfpipe_raise)
{
	int fds[2] = { -1, -1 };
	unsigned char b[4];
	struct sigaction sa;

	ck_assert_int_eq(selfpipe_open(fds), 0);
	ck_assert_int_eq(selfpipe_catch(SIGUSR1, 0), 0);
	ck_assert_int_eq(selfpipe_catch(SIGCHLD, SA_NOCLDSTOP), 0);
	ck_assert_int_eq(sigaction(SIGCHLD, NULL, &sa), 0);
	ck_assert(sa.sa_flags & SA_NOCLDSTOP);
	ck_assert(!(sa.sa_flags & SA_RESTART));
	errno = ERANGE;
	ck_assert_int_eq(raise(SIGUSR1), 0);
	ck_assert_int_eq(errno, ERANGE);
	ck_assert_int_eq(raise(SIGCHLD), 0);
	ck_assert_int_eq(read(fds[0], b, sizeof(b)), 2);
	ck_assert_int_eq(b[0], SIGUSR1);
	ck_assert_int_eq(b[1], SIGCHLD);
	selfpipe_close(fds);
}
END_TEST

/* A full pipe: the handler neither blocks nor changes errno. */
/*
 * Two signals pending at once come out in the order the kernel takes
 * them, lowest number first, each handler done before the next: a
 * handler interrupted by the next one would put its byte behind it (a
 * SIGUSR2 handover read after the SIGTERM that followed it).
 */
START_TEST(test_selfpipe_order)
{
	int fds[2] = { -1, -1 };
	unsigned char b[4];
	sigset_t both, old;

	ck_assert_int_eq(selfpipe_open(fds), 0);
	ck_assert_int_eq(selfpipe_catch(SIGUSR2, 0), 0);
	ck_assert_int_eq(selfpipe_catch(SIGTERM, 0), 0);
	sigemptyset(&both);
	sigaddset(&both, SIGUSR2);
	sigaddset(&both, SIGTERM);
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, &both, &old), 0);
	ck_assert_int_eq(raise(SIGUSR2), 0);
	ck_assert_int_eq(raise(SIGTERM), 0);
	ck_assert_int_eq(sigprocmask(SIG_SETMASK, &old, NULL), 0);
	ck_assert_int_eq(read(fds[0], b, sizeof(b)), 2);
	ck_assert_int_eq(b[0], SIGUSR2);
	ck_assert_int_eq(b[1], SIGTERM);
	ck_assert_int_eq(selfpipe_set(SIGUSR2, SIG_DFL), 0);
	ck_assert_int_eq(selfpipe_set(SIGTERM, SIG_DFL), 0);
	selfpipe_close(fds);
}
END_TEST

START_TEST(test_selfpipe_full)
{
	int fds[2] = { -1, -1 };
	unsigned char fill[4096], b;
	size_t n = 0;
	ssize_t got;

	ck_assert_int_eq(selfpipe_open(fds), 0);
	ck_assert_int_eq(selfpipe_catch(SIGUSR2, 0), 0);
	memset(fill, 0, sizeof(fill));
	while (write(fds[1], fill, sizeof(fill)) > 0)
		n++;
	ck_assert_int_eq(errno, EAGAIN);
	while (write(fds[1], fill, 1) == 1)
		;
	errno = EDOM;
	ck_assert_int_eq(raise(SIGUSR2), 0);	/* blocked, Check's timeout ends it */
	ck_assert_int_eq(errno, EDOM);
	/* Only what was written before: the signal's byte was dropped. */
	while ((got = read(fds[0], fill, sizeof(fill))) > 0)
		ck_assert(memchr(fill, SIGUSR2, (size_t)got) == NULL);
	ck_assert_int_eq(raise(SIGUSR2), 0);
	ck_assert_int_eq(read(fds[0], &b, 1), 1);
	ck_assert_int_eq(b, SIGUSR2);
	ck_assert_uint_gt(n, 0);
	selfpipe_close(fds);
}
END_TEST

/* SIG_IGN and SIG_DFL the same way: an ignored signal writes nothing. */
START_TEST(test_selfpipe_set)
{
	int fds[2] = { -1, -1 };
	struct sigaction sa;
	unsigned char b;

	ck_assert_int_eq(selfpipe_open(fds), 0);
	ck_assert_int_eq(selfpipe_catch(SIGUSR1, 0), 0);
	ck_assert_int_eq(selfpipe_set(SIGUSR1, SIG_IGN), 0);
	ck_assert_int_eq(raise(SIGUSR1), 0);
	ck_assert_int_eq(read(fds[0], &b, 1), -1);
	ck_assert_int_eq(selfpipe_set(SIGCHLD, SIG_DFL), 0);
	ck_assert_int_eq(sigaction(SIGCHLD, NULL, &sa), 0);
	ck_assert_ptr_eq((void *)(uintptr_t)sa.sa_handler, (void *)(uintptr_t)SIG_DFL);
	selfpipe_close(fds);
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

/* A TCase of the tests listed (NULL-terminated). */
static void
add_tests(Suite *s, const char *name, const TTest *const *tests)
{
	TCase *tc = tcase_create(name);

	while (*tests != NULL)
		tcase_add_test(tc, *tests++);
	suite_add_tcase(s, tc);
}

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
	tcase_add_test(tc, test_service_names);
	tcase_add_test(tc, test_token_file_text);
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
	add_tests(s, "file", (const TTest *[]){ test_file_exact_cap,
	    test_file_oversize, test_file_grows_past_fstat, test_file_regular_only,
	    test_file_fifo_does_not_block, test_file_symlink, test_file_missing,
	    NULL });
	tc = tcase_create("addr grammar");
	tcase_add_loop_test(tc, test_addr_port, 0, NITEMS(ports));
	tcase_add_loop_test(tc, test_addr_split, 0, NITEMS(splits));
	suite_add_tcase(s, tc);
	add_tests(s, "addr", (const TTest *[]){ test_addr_split_overlong,
	    test_addr_numeric, test_addr_resolve_order, test_addr_resolve,
	    test_addr_join, NULL });
	add_tests(s, "selfpipe", (const TTest *[]){ test_selfpipe_flags,
	    test_selfpipe_raise, test_selfpipe_order, test_selfpipe_full,
	    test_selfpipe_set, NULL });
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
