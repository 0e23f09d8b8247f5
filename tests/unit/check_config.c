/*
 * Unit tests for config.c: defaults, every flag, durations, targets,
 * escapes, JSON files (comments, overrides, every kind of bad input), the
 * token and unavailable files, --help and --version, parsing that leaves
 * names unresolved (reload), services (the file's "services", --service
 * sections, inheritance, the default one, listen lists). Only numeric
 * hosts and "localhost" resolve: getaddrinfo is replaced below, so no test
 * waits on a name server.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <check.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "config.h"
#include "core/net.h"
#include "registry/balance.h"

#ifndef HARMONY_WEBDIR
#define HARMONY_WEBDIR	"/usr/local/share/harmony/web"	/* as config.c */
#endif

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
#define ARGS(...)	((const char *const []){ "harmonyd", __VA_ARGS__, NULL })
#define NOARGS		((const char *const []){ "harmonyd", NULL })
#define MAXARGS		64

/*
 * The executable's getaddrinfo takes precedence over libc's (and the
 * sanitizers'): a name that reaches it is counted and does not resolve.
 */
static int gai_calls;

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
    struct addrinfo **res)
{
	(void)node;
	(void)service;
	(void)hints;
	gai_calls++;
	*res = NULL;
	return EAI_NONAME;
}

void
freeaddrinfo(struct addrinfo *res)
{
	(void)res;
}

/* cfg_parse_args_ex on writable copies of args (getopt wants char *[]). */
static enum cfg_result
parse_ex(struct config *cfg, char *err, size_t errlen, unsigned flags,
    const char *const *args)
{
	char *copy[MAXARGS], *argv[MAXARGS + 1];
	enum cfg_result r;
	int argc;

	for (argc = 0; args[argc] != NULL; argc++) {
		ck_assert_int_lt(argc, MAXARGS);
		copy[argc] = argv[argc] = strdup(args[argc]);
		ck_assert_ptr_nonnull(copy[argc]);
	}
	argv[argc] = NULL;
	err[0] = '\0';
	r = cfg_parse_args_ex(cfg, argc, argv, flags, err, errlen);
	for (int i = 0; i < argc; i++)
		free(copy[i]);
	return r;
}

static enum cfg_result
parse(struct config *cfg, char *err, size_t errlen, const char *const *args)
{
	return parse_ex(cfg, err, errlen, 0, args);
}

/* A temporary file holding len bytes of data; returns its malloc'd path. */
static char *
temp_file(const void *data, size_t len)
{
	const char *dir = getenv("TMPDIR");
	char *path;
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	ck_assert_int_gt(asprintf(&path, "%s/check_config.XXXXXX", dir), 0);
	ck_assert_int_ge(fd = mkstemp(path), 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static char *
temp_text(const char *text)
{
	return temp_file(text, strlen(text));
}

static void
temp_remove(char *path)
{
	unlink(path);
	free(path);
}

static uint16_t
port_of(const struct net_addr *a)
{
	return net_addr_port((const struct sockaddr *)&a->ss);
}

static const char *
host_of(const struct net_addr *a, char *buf, size_t len)
{
	return net_host_text((const struct sockaddr *)&a->ss, buf, len);
}

#define ck_assert_err_has(err, part) \
	ck_assert_msg(strstr((err), (part)) != NULL, \
	    "error '%s' lacks '%s'", (err), (part))

/* ---- defaults and flags --------------------------------------------- */

static void
check_defaults(const struct config *cfg)
{
	ck_assert_ptr_null(cfg->config_file);
	ck_assert_str_eq(cfg->host, "localhost");
	ck_assert_str_eq(cfg->listen, "3000");
	ck_assert_str_eq(cfg->ack_port, "1666");
	ck_assert_str_eq(cfg->http, "1667");
	ck_assert_uint_eq(cfg->ntargets, 0);
	ck_assert_int_eq(cfg->balance, BALANCE_LEASTCONN);
	ck_assert(cfg->persistent);
	ck_assert_int_eq(cfg->persist_ttl_ms, 30 * 60 * 1000);
	ck_assert_int_eq(cfg->persist_max, 100000);
	ck_assert_int_eq(cfg->concurrency, -1);
	ck_assert_int_eq(cfg->queue_max, 1024);
	ck_assert_int_eq(cfg->queue_timeout_ms, 30000);
	ck_assert_int_eq(cfg->requeue, 1);
	ck_assert_ptr_null(cfg->unavailable);
	ck_assert_uint_eq(cfg->unavailable_len, 0);
	ck_assert_ptr_null(cfg->unavailable_file);
	ck_assert_int_eq(cfg->host_timeout_ms, 60000);
	ck_assert_int_eq(cfg->connect_timeout_ms, 5000);
	ck_assert_int_eq(cfg->idle_timeout_ms, 600000);
	ck_assert_int_eq(cfg->grace_ms, 10000);
	ck_assert_ptr_null(cfg->token);
	ck_assert_ptr_null(cfg->token_file);
	ck_assert_uint_eq(cfg->nallow, 0);
	ck_assert_uint_eq(cfg->nadmin_hosts, 0);
	ck_assert_str_eq(cfg->web_root, HARMONY_WEBDIR);
	ck_assert_ptr_null(cfg->state_file);
	ck_assert_ptr_null(cfg->access_log);
	ck_assert_int_eq(cfg->log_level, LOG_LEVEL_INFO);
}

START_TEST(test_defaults)
{
	struct config cfg;
	char err[256];

	cfg_defaults(&cfg);
	check_defaults(&cfg);
	ck_assert_int_eq(cfg_validate(&cfg, err, sizeof(err)), 0);
	cfg_free(&cfg);
	cfg_free(&cfg);		/* harmless: cfg_free leaves it zeroed */

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), NOARGS), CFG_OK);
	check_defaults(&cfg);
	cfg_free(&cfg);
}
END_TEST

START_TEST(test_every_flag)
{
	struct config cfg;
	char err[256], host[NET_HOSTSTRLEN];

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS(
	    "--listen", "4000", "--host", "127.0.0.2",	/* --host after --listen */
	    "--ack-port", "0", "--http", "[::1]:0",
	    "--target", "127.0.0.1:8080@7", "--target", "[::1]:9000",
	    "--balance", "hash", "--no-persistent",
	    "--persist-ttl", "1h", "--persist-max", "10", "--concurrency", "0",
	    "--queue-max", "0", "--queue-timeout", "500ms", "--requeue", "100",
	    "--unavailable", "busy\\r\\n", "--host-timeout", "2m",
	    "--connect-timeout", "1.5s", "--idle-timeout", "0", "--grace", "0",
	    "--token", "s3cret", "--allow", "10.1.0.0/16", "--allow", "fd00::/8",
	    "--web-root", "/srv/web", "--state-file", "/var/lib/harmony.state",
	    "--access-log", "-", "--log-level", "warn")), CFG_OK);
	ck_assert_str_eq(cfg.host, "127.0.0.2");
	ck_assert_str_eq(cfg.listen, "4000");
	ck_assert_str_eq(cfg.ack_port, "0");
	ck_assert_str_eq(cfg.http, "[::1]:0");
	ck_assert_uint_eq(cfg.ntargets, 2);
	ck_assert_str_eq(host_of(&cfg.targets[0].addr, host, sizeof(host)), "127.0.0.1");
	ck_assert_uint_eq(port_of(&cfg.targets[0].addr), 8080);
	ck_assert_uint_eq(cfg.targets[0].weight, 7);
	ck_assert_str_eq(host_of(&cfg.targets[1].addr, host, sizeof(host)), "::1");
	ck_assert_uint_eq(port_of(&cfg.targets[1].addr), 9000);
	ck_assert_uint_eq(cfg.targets[1].weight, 500);
	ck_assert_int_eq(cfg.balance, BALANCE_HASH);
	ck_assert(!cfg.persistent);
	ck_assert_int_eq(cfg.persist_ttl_ms, 3600000);
	ck_assert_int_eq(cfg.persist_max, 10);
	ck_assert_int_eq(cfg.concurrency, 0);
	ck_assert_int_eq(cfg.queue_max, 0);
	ck_assert_int_eq(cfg.queue_timeout_ms, 500);
	ck_assert_int_eq(cfg.requeue, 100);
	ck_assert_uint_eq(cfg.unavailable_len, 6);
	ck_assert_mem_eq(cfg.unavailable, "busy\r\n", 6);
	ck_assert_int_eq(cfg.host_timeout_ms, 120000);
	ck_assert_int_eq(cfg.connect_timeout_ms, 1500);
	ck_assert_int_eq(cfg.idle_timeout_ms, 0);
	ck_assert_int_eq(cfg.grace_ms, 0);
	ck_assert_str_eq(cfg.token, "s3cret");
	ck_assert_ptr_null(cfg.token_file);
	ck_assert_uint_eq(cfg.nallow, 2);
	ck_assert_int_eq(cfg.allow[0].net.family, AF_INET);
	ck_assert_uint_eq(cfg.allow[0].net.prefix, 16);
	ck_assert_int_eq(cfg.allow[1].net.family, AF_INET6);
	ck_assert_uint_eq(cfg.allow[1].net.prefix, 8);
	ck_assert_str_eq(cfg.web_root, "/srv/web");
	ck_assert_str_eq(cfg.state_file, "/var/lib/harmony.state");
	ck_assert_str_eq(cfg.access_log, "-");
	ck_assert_int_eq(cfg.log_level, LOG_LEVEL_WARN);
	cfg_free(&cfg);

	/* The other spellings: --persistent, abbreviations, --opt=value. */
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--no-persistent",
	    "--persistent", "--balance=roundrobin", "--conc", "5")), CFG_OK);
	ck_assert(cfg.persistent);
	ck_assert_int_eq(cfg.balance, BALANCE_ROUNDROBIN);
	ck_assert_int_eq(cfg.concurrency, 5);
	cfg_free(&cfg);
}
END_TEST

static const struct {
	const char	*args[4];
	int		 level;
} level_cases[] = {
	{ { "-v" }, LOG_LEVEL_DEBUG },
	{ { "-q" }, LOG_LEVEL_ERROR },
	{ { "--verbose" }, LOG_LEVEL_DEBUG },
	{ { "-v", "-q" }, LOG_LEVEL_ERROR },
	{ { "-qv" }, LOG_LEVEL_DEBUG },
	{ { "-q", "--log-level", "info" }, LOG_LEVEL_INFO },
	{ { "--log-level", "debug", "-q" }, LOG_LEVEL_ERROR },
	{ { "--log-level=error" }, LOG_LEVEL_ERROR },
};

START_TEST(test_levels)
{
	const char *args[6] = { "harmonyd" };
	struct config cfg;
	char err[256];

	for (size_t i = 0; i < 3; i++)
		args[i + 1] = level_cases[_i].args[i];
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), args), CFG_OK);
	ck_assert_int_eq(cfg.log_level, level_cases[_i].level);
	cfg_free(&cfg);
}
END_TEST

/* Bad flags and bad values: CFG_ERROR and a line naming the culprit. */
static const struct {
	const char	*args[4];
	const char	*err;
} flag_error_cases[] = {
	{ { "--bogus" }, "unknown option '--bogus'" },
	{ { "--lisen=3000" }, "unknown option '--lisen'" },
	{ { "--" "-" }, "unknown option '---'" },
	{ { "-x" }, "unknown option '-x'" },
	{ { "-vx" }, "unknown option '-x'" },
	{ { "--persist" }, "ambiguous option '--persist': could be --persistent,"
	    " --persist-ttl, --persist-max" },
	{ { "--persist=1" }, "ambiguous option '--persist': could be" },
	{ { "--persistent=yes" }, "--persistent takes no argument" },
	{ { "--listen" }, "--listen needs an argument" },
	{ { "--requeue", "1", "--grace" }, "--grace needs an argument" },
	{ { "-c" }, "-c needs an argument" },
	{ { "stray" }, "unexpected argument 'stray'" },
	{ { "-v", "stray", "-q" }, "unexpected argument 'stray'" },
	{ { "--listen", "x" }, "--listen: bad port 'x'" },
	{ { "--listen", "" }, "--listen: empty value" },
	{ { "--listen", "::1:80" }, "--listen: " },
	{ { "--ack-port", "70000" }, "--ack-port: bad port '70000'" },
	{ { "--listen", "1667" }, "--http: 127.0.0.1:1667 is also --listen" },
	{ { "--host", "" }, "--host: empty value" },
	{ { "--requeue", "101" }, "--requeue: bad number '101' (0..100)" },
	{ { "--requeue", "-1" }, "--requeue: bad number" },
	{ { "--requeue", " 1" }, "--requeue: bad number" },
	{ { "--requeue", "1x" }, "--requeue: bad number" },
	{ { "--concurrency", "-2" }, "--concurrency: bad number '-2'" },
	{ { "--queue-max", "-1" }, "--queue-max: bad number" },
	{ { "--persist-max", "0" }, "--persist-max: bad number" },
	{ { "--persist-max", "99999999999999999999" }, "--persist-max: bad number" },
	{ { "--host-timeout", "0" }, "--host-timeout: must be more than 0" },
	{ { "--connect-timeout", "0ms" }, "--connect-timeout: must be more than 0" },
	{ { "--queue-timeout", "soon" }, "--queue-timeout: bad duration 'soon'" },
	{ { "--grace", "-1s" }, "--grace: bad duration" },
	{ { "--balance", "random" }, "--balance: bad algorithm 'random'" },
	{ { "--log-level", "loud" }, "--log-level: bad level 'loud'" },
	{ { "--allow", "10.0.0.0/33" }, "--allow: bad network" },
	{ { "--allow", "example.com" }, "--allow: bad network" },
	{ { "--target", "127.0.0.1:80@0" }, "--target: bad weight '0'" },
	{ { "--unavailable", "\\q" }, "--unavailable: unknown escape '\\q'" },
	{ { "--token", "" }, "--token: empty token" },
	{ { "--token", "a b" }, "--token: token may only hold" },
	{ { "--token", "a:b" }, "--token: token may only hold" },
	{ { "--token-file", "/nonexistent/token" }, "/nonexistent/token: No such file" },
	{ { "--unavailable-file", "/nonexistent/503" }, "/nonexistent/503: No such file" },
	{ { "--unavailable-file", "/" }, "--unavailable-file: /: " },
	{ { "-c", "/nonexistent/harmonyd.json" }, "/nonexistent/harmonyd.json: No such file" },
	/* Issue 13 item 19: a static target is its host:port, given once. */
	{ { "--target=127.0.0.1:80", "--target=127.0.0.2:80", "--target=127.0.0.1:80@7" },
	    "--target 127.0.0.1:80 is given twice" },
	{ { "--takeover", "0" }, "--takeover: bad pid '0'" },
	{ { "--takeover", "x1" }, "--takeover: bad pid 'x1'" },
};

/* harmonyd and the n args (NULL after the last): one line holding want. */
static void
check_args_error(const char *const *args, size_t n, const char *want)
{
	const char *argv[12] = { "harmonyd" };
	struct config cfg;
	char err[256];

	ck_assert_uint_lt(n, NITEMS(argv) - 1);
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = args[i];
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), argv), CFG_ERROR);
	ck_assert_err_has(err, want);
	ck_assert_ptr_null(strchr(err, '\n'));
	cfg_free(&cfg);		/* already freed: must stay harmless */
}

START_TEST(test_flag_errors)
{
	check_args_error(flag_error_cases[_i].args, 3, flag_error_cases[_i].err);
}
END_TEST

START_TEST(test_long_token)
{
	struct config cfg;
	char err[256], tok[258];

	memset(tok, 'k', 256);
	tok[256] = '\0';
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--token", tok)), CFG_OK);
	ck_assert_uint_eq(strlen(cfg.token), 256);
	cfg_free(&cfg);
	tok[256] = 'k';
	tok[257] = '\0';
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--token", tok)), CFG_ERROR);
	ck_assert_err_has(err, "longer than 256");
}
END_TEST

/* Twice in one process: getopt must start over, nothing may leak. */
START_TEST(test_parse_twice)
{
	struct config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("-vq", "--requeue", "3",
	    "--target", "127.0.0.1:1")), CFG_OK);
	ck_assert_int_eq(cfg.requeue, 3);
	cfg_free(&cfg);
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--bogus")), CFG_ERROR);
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("-q", "--requeue", "4")),
	    CFG_OK);
	ck_assert_int_eq(cfg.requeue, 4);
	ck_assert_uint_eq(cfg.ntargets, 0);
	ck_assert_int_eq(cfg.log_level, LOG_LEVEL_ERROR);
	cfg_free(&cfg);
}
END_TEST

/* Runs args with stdout going to a temp file; returns what was printed. */
static char *
parse_capturing(const char *const *args, enum cfg_result *r)
{
	struct config cfg;
	char err[256], *out;
	FILE *tmp = tmpfile();
	int saved;
	long len;

	ck_assert_ptr_nonnull(tmp);
	fflush(stdout);
	ck_assert_int_ge(saved = dup(STDOUT_FILENO), 0);
	ck_assert_int_eq(dup2(fileno(tmp), STDOUT_FILENO), STDOUT_FILENO);
	*r = parse(&cfg, err, sizeof(err), args);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	cfg_free(&cfg);
	len = ftell(tmp);
	ck_assert_int_ge(len, 0);
	out = calloc(1, (size_t)len + 1);
	rewind(tmp);
	ck_assert_uint_eq(fread(out, 1, (size_t)len, tmp), (size_t)len);
	fclose(tmp);
	return out;
}

START_TEST(test_help_version)
{
	static const char *const names[] = {
		"--config", "--host", "--listen", "--ack-port", "--http", "--target",
		"--balance", "--persistent", "--no-persistent", "--persist-ttl",
		"--persist-max", "--concurrency", "--queue-max", "--queue-timeout",
		"--requeue", "--unavailable", "--unavailable-file", "--host-timeout",
		"--connect-timeout", "--idle-timeout", "--grace", "--token",
		"--token-file", "--allow", "--web-root", "--state-file",
		"--access-log", "--log-level", "-v", "-q", "-h", "-V",
	};
	enum cfg_result r;
	char *out;

	out = parse_capturing(ARGS("--help"), &r);
	ck_assert_int_eq(r, CFG_EXIT);
	ck_assert_err_has(out, "usage: harmonyd");
	for (size_t i = 0; i < NITEMS(names); i++)
		ck_assert_err_has(out, names[i]);
	ck_assert_err_has(out, "(default: 30m)");
	free(out);

	/* -h wins over a broken config file: it is never read. */
	out = parse_capturing(ARGS("-c", "/nonexistent", "-h"), &r);
	ck_assert_int_eq(r, CFG_EXIT);
	free(out);

	out = parse_capturing(ARGS("-V"), &r);
	ck_assert_int_eq(r, CFG_EXIT);
	ck_assert_str_eq(out, "harmonyd " PACKAGE_VERSION "\n");
	free(out);
	out = parse_capturing(ARGS("--version"), &r);
	ck_assert_int_eq(r, CFG_EXIT);
	free(out);
}
END_TEST

/* ---- parsers -------------------------------------------------------- */

static const struct {
	const char	*text;
	const char	*host;
	uint16_t	 port;
	uint32_t	 weight;
} target_ok[] = {
	{ "127.0.0.1:80", "127.0.0.1", 80, 500 },
	{ "[::1]:8080", "::1", 8080, 500 },
	{ "[::1]:8080@3", "::1", 8080, 3 },
	{ "10.0.0.5:1@1", "10.0.0.5", 1, 1 },
	{ "10.0.0.5:65535@1000000", "10.0.0.5", 65535, 1000000 },
	{ "localhost:3000@42", "127.0.0.1", 3000, 42 },
};

START_TEST(test_target_ok)
{
	struct cfg_target t;
	char err[128], host[NET_HOSTSTRLEN];

	ck_assert_msg(cfg_parse_target(target_ok[_i].text, &t, err,
	    sizeof(err)) == 0, "'%s': %s", target_ok[_i].text, err);
	ck_assert_str_eq(host_of(&t.addr, host, sizeof(host)), target_ok[_i].host);
	ck_assert_uint_eq(port_of(&t.addr), target_ok[_i].port);
	ck_assert_uint_eq(t.weight, target_ok[_i].weight);
}
END_TEST

static const struct {
	const char	*text;
	const char	*err;
} target_bad[] = {
	{ "127.0.0.1:80@0", "bad weight '0' (1..1000000)" },
	{ "127.0.0.1:80@1000001", "bad weight '1000001'" },
	{ "127.0.0.1:80@", "bad weight ''" },
	{ "127.0.0.1:80@x", "bad weight 'x'" },
	{ "127.0.0.1:80@-5", "bad weight '-5'" },
	{ "127.0.0.1:80@5@6", "bad port '80@5'" },
	{ "127.0.0.1", "expected HOST:PORT" },
	{ "127.0.0.1:", "bad port ''" },
	{ "127.0.0.1:0", "bad port '0'" },
	{ "127.0.0.1:65536", "bad port '65536'" },
	{ "127.0.0.1:http", "bad port 'http'" },
	{ "::1:80", "IPv6 needs [brackets]" },
	{ "[::1]80", "expected [IPV6]:PORT" },
	{ ":80", "empty host" },
	{ "", "bad address" },
	{ "@5", "bad address" },
	{ "garbage", "expected HOST:PORT" },
};

START_TEST(test_target_bad)
{
	struct cfg_target t;
	char err[128] = "";

	ck_assert_int_eq(cfg_parse_target(target_bad[_i].text, &t, err,
	    sizeof(err)), -1);
	ck_assert_err_has(err, target_bad[_i].err);
}
END_TEST

static const struct {
	const char	*text;
	const char	*bytes;
	size_t		 len;
} unescape_ok[] = {
	{ "", "", 0 },
	{ "plain text", "plain text", 10 },
	{ "HTTP/1.1 503 Busy\\r\\n\\r\\n", "HTTP/1.1 503 Busy\r\n\r\n", 21 },
	{ "a\\tb\\\\c", "a\tb\\c", 5 },
	{ "\\x00\\x41\\xfF", "\0A\xff", 3 },
	{ "\\\\n", "\\n", 2 },
	{ "caf\xc3\xa9", "caf\xc3\xa9", 5 },
};

START_TEST(test_unescape_ok)
{
	char err[128], *out = NULL;
	size_t len = 99;

	ck_assert_int_eq(cfg_unescape(unescape_ok[_i].text, &out, &len, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(len, unescape_ok[_i].len);
	ck_assert_mem_eq(out, unescape_ok[_i].bytes, len);
	ck_assert_int_eq(out[len], '\0');
	free(out);
}
END_TEST

static const struct {
	const char	*text;
	const char	*err;
} unescape_bad[] = {
	{ "\\", "trailing backslash" },
	{ "abc\\", "trailing backslash" },
	{ "\\q", "unknown escape '\\q'" },
	{ "\\0", "unknown escape '\\0'" },
	{ "\\x", "two hex digits" },
	{ "\\x4", "two hex digits" },
	{ "\\xg0", "two hex digits" },
	{ "\\\x01", "unknown escape" },
};

START_TEST(test_unescape_bad)
{
	char err[128] = "", *out = NULL;
	size_t len = 0;

	ck_assert_int_eq(cfg_unescape(unescape_bad[_i].text, &out, &len, err,
	    sizeof(err)), -1);
	ck_assert_err_has(err, unescape_bad[_i].err);
	ck_assert_ptr_null(out);
}
END_TEST

/* ---- config files --------------------------------------------------- */

static const char sample_json[] =
    "/* harmonyd.json: comments are allowed */\n"
    "{\n"
    "\t// where clients come in\n"
    "\t\"listen\": 4000,\n"
    "\t\"ack-port\": \"127.0.0.1:0\",\n"
    "\t\"http\": \"0\",\n"
    "\t\"target\": [ \"127.0.0.1:8001@100\", \"[::1]:8002\" ],\n"
    "\t\"allow\": \"192.168.0.0/16\",\n"
    "\t\"balance\": \"roundrobin\",\n"
    "\t\"persistent\": false,\n"
    "\t\"persist-ttl\": 90,\t\t/* seconds */\n"
    "\t\"queue-timeout\": 1.5,\n"
    "\t\"grace\": \"2m\",\n"
    "\t\"concurrency\": 8,\n"
    "\t\"unavailable\": \"sorry\\\\r\\n\",\n"
    "\t\"token\": \"from-file\",\n"
    "\t\"log-level\": \"debug\",\n"
    "\t\"state-file\": \"/tmp/harmony.state\"\n"
    "}\n"
    "// the end\n";

static void
check_sample(const struct config *cfg)
{
	ck_assert_str_eq(cfg->listen, "4000");
	ck_assert_str_eq(cfg->ack_port, "127.0.0.1:0");
	ck_assert_str_eq(cfg->http, "0");
	ck_assert_uint_eq(cfg->ntargets, 2);
	ck_assert_uint_eq(cfg->targets[0].weight, 100);
	ck_assert_uint_eq(port_of(&cfg->targets[1].addr), 8002);
	ck_assert_uint_eq(cfg->nallow, 1);
	ck_assert_uint_eq(cfg->allow[0].net.prefix, 16);
	ck_assert_int_eq(cfg->balance, BALANCE_ROUNDROBIN);
	ck_assert(!cfg->persistent);
	ck_assert_int_eq(cfg->persist_ttl_ms, 90000);
	ck_assert_int_eq(cfg->queue_timeout_ms, 1500);
	ck_assert_int_eq(cfg->grace_ms, 120000);
	ck_assert_int_eq(cfg->concurrency, 8);
	/* JSON's escapes first ("\\r" is a backslash and r), then ours. */
	ck_assert_uint_eq(cfg->unavailable_len, 7);
	ck_assert_mem_eq(cfg->unavailable, "sorry\r\n", 7);
	ck_assert_str_eq(cfg->token, "from-file");
	ck_assert_int_eq(cfg->log_level, LOG_LEVEL_DEBUG);
	ck_assert_str_eq(cfg->state_file, "/tmp/harmony.state");
	/* Untouched keys keep their defaults. */
	ck_assert_int_eq(cfg->requeue, 1);
	ck_assert_str_eq(cfg->host, "localhost");
}

START_TEST(test_json_applies)
{
	struct config cfg;
	char err[256];

	cfg_defaults(&cfg);
	ck_assert_msg(cfg_load_json(&cfg, sample_json, strlen(sample_json), err,
	    sizeof(err)) == 0, "%s", err);
	check_sample(&cfg);
	ck_assert_int_eq(cfg_validate(&cfg, err, sizeof(err)), 0);
	cfg_free(&cfg);
}
END_TEST

/* Every way of naming the file: -c FILE, -cFILE, --config=FILE, ... */
START_TEST(test_config_flag_forms)
{
	char *path = temp_text(sample_json), *joined;
	struct config cfg;
	char err[256];

	for (int form = 0; form < 4; form++) {
		enum cfg_result r;

		switch (form) {
		case 0:
			r = parse(&cfg, err, sizeof(err), ARGS("-c", path));
			break;
		case 1:
			ck_assert_int_gt(asprintf(&joined, "-c%s", path), 0);
			r = parse(&cfg, err, sizeof(err), ARGS(joined));
			free(joined);
			break;
		case 2:
			ck_assert_int_gt(asprintf(&joined, "--config=%s", path), 0);
			r = parse(&cfg, err, sizeof(err), ARGS(joined));
			free(joined);
			break;
		default:
			/* -c comes last, yet the file still goes first. */
			r = parse(&cfg, err, sizeof(err), ARGS("--idle-timeout",
			    "5s", "--config", path));
			break;
		}
		ck_assert_msg(r == CFG_OK, "form %d: %s", form, err);
		check_sample(&cfg);
		ck_assert_str_eq(cfg.config_file, path);
		cfg_free(&cfg);
	}
	temp_remove(path);
}
END_TEST

START_TEST(test_flags_override_file)
{
	char *path = temp_text(sample_json);
	struct config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--listen", "5000",
	    "-c", path, "--persistent", "--balance", "hash", "--grace", "1s",
	    "--target", "127.0.0.1:9001")), CFG_OK);
	ck_assert_str_eq(cfg.listen, "5000");
	ck_assert(cfg.persistent);
	ck_assert_int_eq(cfg.balance, BALANCE_HASH);
	ck_assert_int_eq(cfg.grace_ms, 1000);
	/* A list flag replaces the file's list... */
	ck_assert_uint_eq(cfg.ntargets, 1);
	ck_assert_uint_eq(port_of(&cfg.targets[0].addr), 9001);
	/* ...and leaves the other list and the other keys alone. */
	ck_assert_uint_eq(cfg.nallow, 1);
	ck_assert_int_eq(cfg.persist_ttl_ms, 90000);
	ck_assert_str_eq(cfg.token, "from-file");
	cfg_free(&cfg);

	/* Within the command line, list flags add up. */
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("-c", path,
	    "--target", "127.0.0.1:9001", "--allow", "10.0.0.0/8",
	    "--target", "127.0.0.1:9002@9")), CFG_OK);
	ck_assert_uint_eq(cfg.ntargets, 2);
	ck_assert_uint_eq(cfg.targets[1].weight, 9);
	ck_assert_uint_eq(cfg.nallow, 1);
	ck_assert_uint_eq(cfg.allow[0].net.prefix, 8);
	cfg_free(&cfg);

	/* A bad value in the file is reported with the file's name. */
	temp_remove(path);
	path = temp_text("{ \"lisen\": 3000 }");
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("-c", path)), CFG_ERROR);
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0 &&
	    strcmp(err + strlen(path), ": unknown key 'lisen'") == 0, "%s", err);
	temp_remove(path);
}
END_TEST

static const struct {
	const char	*json;
	const char	*err;
} json_bad[] = {
	{ "{ \"lisen\": 3000 }", "unknown key 'lisen'" },
	{ "{ \"config\": \"other.json\" }", "'config' is a command-line flag" },
	{ "{ \"no-persistent\": true }", "'no-persistent' is a command-line flag" },
	{ "{ \"help\": true }", "'help' is a command-line flag" },
	{ "{ \"verbose\": true }", "'verbose' is a command-line flag" },
	{ "{ \"listen\": true }", "listen: expected a string or a port number" },
	{ "{ \"listen\": null }", "listen: expected" },
	{ "{ \"listen\": 70000 }", "listen: bad port 70000" },
	{ "{ \"listen\": -1 }", "listen: bad port -1" },
	{ "{ \"host\": 5 }", "host: expected a string" },
	{ "{ \"host\": \"\" }", "host: empty value" },
	{ "{ \"persistent\": 1 }", "persistent: expected true or false" },
	{ "{ \"persistent\": \"yes\" }", "persistent: expected true or false" },
	{ "{ \"persist-max\": \"10\" }", "persist-max: expected an integer" },
	{ "{ \"persist-max\": 1.5 }", "persist-max: expected an integer" },
	{ "{ \"persist-max\": 0 }", "persist-max: 0 is out of range" },
	{ "{ \"persist-max\": 99999999999999999999 }",
	    "persist-max: number out of range (1..100000000)" },
	{ "{ \"concurrency\": -99999999999999999999 }",
	    "concurrency: number out of range" },
	{ "{ \"requeue\": 9223372036854775806 }",
	    "requeue: 9223372036854775806 is out of range (0..100)" },
	{ "{ \"requeue\": -1 }", "requeue: -1 is out of range (0..100)" },
	{ "{ \"queue-timeout\": 1e400 }", "queue-timeout: inf seconds is out of range" },
	{ "{ \"queue-timeout\": NaN }", "queue-timeout: " },
	{ "{ \"queue-timeout\": -1 }", "queue-timeout: -1 seconds is out of range" },
	{ "{ \"queue-timeout\": -0.5 }", "queue-timeout: " },
	{ "{ \"queue-timeout\": 99999999999 }", "queue-timeout: " },
	{ "{ \"queue-timeout\": 0 }", "queue-timeout: must be more than 0" },
	{ "{ \"queue-timeout\": \"1x\" }", "queue-timeout: bad duration '1x'" },
	{ "{ \"queue-timeout\": true }", "queue-timeout: expected a duration" },
	{ "{ \"target\": 5 }", "target: expected a string or an array" },
	{ "{ \"target\": [ \"127.0.0.1:1\", 1 ] }", "target[1]: expected a string" },
	{ "{ \"target\": [ \"127.0.0.1:1@0\" ] }", "target[0]: bad weight '0'" },
	{ "{ \"allow\": [ \"10.0.0.0/99\" ] }", "allow[0]: bad network" },
	{ "{ \"token\": \"a\\u0000b\" }", "token: expected a string" },
	{ "{ \"token\": \"a\", \"token-file\": \"/nonexistent\" }",
	    "mutually exclusive" },
	{ "{ \"balance\": \"random\" }", "balance: bad algorithm 'random'" },
	{ "{ \"log-level\": 1 }", "log-level: expected a string" },
	{ "{ \"unavailable\": \"\\\\q\" }", "unavailable: unknown escape" },
	{ "{ \"listen\": 3000 } x", "line 1: unexpected data after" },
	{ "{}\n{}", "line 2: unexpected data after" },
	{ "{ \"listen\": 3000,\n  \"http\" 1 }", "line 2: " },
	{ "{ \"listen\": ", "unexpected end of data" },
	{ "", "unexpected end of data" },
	{ "[ \"listen\" ]", "must be a JSON object" },
	{ "3000", "must be a JSON object" },
	{ "null", "must be a JSON object" },
	{ "{ \"host\": \"\xff\" }", "invalid utf-8" },
	{ "{ \"listen\": 3000,\n  /* again */ \"list\\u0065n\": 3001 }",
	    "line 2: duplicate key 'listen'" },
	{ "{ \"allow\": [], 'allow': [] }", "duplicate key 'allow'" },
	{ "{ \"requeue\": 1, \"log-level\": \"info\",\n\n \"requeue\": 1 }",
	    "line 3: duplicate key 'requeue'" },
	{ "{ \"check\": { \"type\": \"udp\" } }", "check.type: expected tcp" },
	{ "{ \"check\": { \"interval\": \"2s\" } }", "check.type: missing" },
	{ "{ \"check\": { \"type\": \"http\", \"rise\": 0 } }",
	    "check.rise: 0 is out of range (1..100)" },
	{ "{ \"check\": { \"type\": \"http\", \"interval\": \"1x\" } }",
	    "check.interval: bad duration '1x'" },
	{ "{ \"check\": { \"type\": \"http\", \"status\": \"99\" } }",
	    "check.status: expected a status range" },
	{ "{ \"check\": { \"type\": \"http\", \"status\": \"300-200\" } }",
	    "check.status: expected a status range" },
	{ "{ \"check\": { \"type\": \"http\", \"path\": \"health\" } }",
	    "check.path: must start with /" },
	{ "{ \"check\": { \"type\": \"http\", \"host\": \"a b\" } }",
	    "check.host: empty, too long, or has a blank" },
	{ "{ \"check\": { \"type\": \"tcp\", \"bogus\": 1 } }",
	    "check: unknown key 'bogus'" },
	{ "{ \"check\": { \"type\": \"send-expect\" } }",
	    "check.expect: send-expect needs send or expect" },
	{ "{ \"check\": { \"type\": \"send-expect\", \"send\": \"\\\\q\" } }",
	    "check.send: unknown escape" },
	{ "{ \"check\": 5 }", "check: expected a check object" },
	{ "{ \"check\": \"http:health\" }", "check: bad check 'http:health'" },
	{ "{ \"check\": \"tcp:/x\" }", "only http takes a path" },
	{ "{ \"services\": { \"web\": { \"listen\": 1, \"check\": { \"type\":"
	    " \"tcp\", \"fall\": 0 } } } }",
	    "services.web.check.fall: 0 is out of range (1..100)" },
	{ "{ \"target\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"1.2.3.4:5\"]]]]]]]]]]]]]]"
	    "]]]]]]]]]]]]]]]]]] }", "nesting too deep" },
};

START_TEST(test_json_bad)
{
	struct config cfg;
	char err[256] = "";
	size_t len = strlen(json_bad[_i].json);
	cfg_defaults(&cfg);
	ck_assert_int_eq(cfg_load_json(&cfg, json_bad[_i].json, len, err,
	    sizeof(err)), -1);
	ck_assert_err_has(err, json_bad[_i].err);
	ck_assert_ptr_null(strchr(err, '\n'));
	cfg_free(&cfg);
}
END_TEST

START_TEST(test_json_limits)
{
	size_t big = 1024 * 1024 + 1;
	char *text = malloc(big), *path;
	const char *json;
	struct config cfg;
	char err[256];

	/* Just over 1 MiB of valid JSON (padded with blanks) is refused. */
	ck_assert_ptr_nonnull(text);
	memset(text, ' ', big);
	text[0] = '{';
	text[big - 1] = '}';
	cfg_defaults(&cfg);
	ck_assert_int_eq(cfg_load_json(&cfg, text, big, err, sizeof(err)), -1);
	ck_assert_err_has(err, "larger than");
	path = temp_file(text, big);
	ck_assert_int_eq(cfg_load_file(&cfg, path, err, sizeof(err)), -1);
	ck_assert_err_has(err, "larger than");
	temp_remove(path);
	/* One byte less is fine. */
	text[big - 2] = '}';
	ck_assert_int_eq(cfg_load_json(&cfg, text, big - 1, err, sizeof(err)), 0);
	cfg_free(&cfg);
	free(text);

	/* A NUL byte ends json-c's parse early: what follows is refused. */
	cfg_defaults(&cfg);
	ck_assert_int_eq(cfg_load_json(&cfg, "{} \0 {}", 7, err, sizeof(err)), -1);
	ck_assert_err_has(err, "unexpected data after");
	cfg_free(&cfg);

	/* A key given twice is refused, naming it: json-c would keep the last. */
	cfg_defaults(&cfg);
	json = "{\"requeue\": 2, \"requeue\": 3}";
	ck_assert_int_eq(cfg_load_json(&cfg, json, strlen(json), err, sizeof(err)),
	    -1);
	ck_assert_err_has(err, "line 1: duplicate key 'requeue'");
	path = temp_file(json, strlen(json));
	ck_assert_int_eq(cfg_load_file(&cfg, path, err, sizeof(err)), -1);
	ck_assert_err_has(err, path);
	ck_assert_err_has(err, "duplicate key 'requeue'");
	temp_remove(path);
	cfg_free(&cfg);
}
END_TEST

/* Keys that only look alike, or sit in strings and comments, are no duplicates. */
static const char *const json_not_dup[] = {
	"{ \"requeue\": 2, \"unavailable\": \"{\\\"requeue\\\": 1}\" }",
	"{ /* \"requeue\": 1, */ \"requeue\": 2 }",
	"{ // \"requeue\": 1,\n \"requeue\": 2 }",
	"{ \"target\": [ \"127.0.0.1:1\", \"127.0.0.1:1\" ], \"requeue\": 2 }",
	"{ \"web-root\": \"x\\\\\", \"requeue\": 2 }",
	"{ \"unavailable\": \"requeue\", \"requeue\": 2 }",
};

/* --admin-host: repeatable, kept lower case without a final dot. */
START_TEST(test_admin_host)
{
	static const char *const args[] = { "harmonyd", "--admin-host", "Admin.Example.",
	    "--admin-host", "fd00::2", "--admin-host", "203.0.113.5", NULL };
	static const char *const bad[] = { "a b", "[::1]", "x/y", "", ".", "::zz",
	    "evil.example:80" };
	const char *json = "{ \"admin-host\": [ \"one.example\", \"TWO\" ] }";
	struct config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), args), CFG_OK);
	ck_assert_uint_eq(cfg.nadmin_hosts, 3);
	ck_assert_str_eq(cfg.admin_hosts[0], "admin.example");
	ck_assert_str_eq(cfg.admin_hosts[1], "fd00::2");
	ck_assert_str_eq(cfg.admin_hosts[2], "203.0.113.5");
	cfg_free(&cfg);
	cfg_defaults(&cfg);
	ck_assert_int_eq(cfg_load_json(&cfg, json, strlen(json), err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.nadmin_hosts, 2);
	ck_assert_str_eq(cfg.admin_hosts[1], "two");
	cfg_free(&cfg);
	for (size_t i = 0; i < NITEMS(bad); i++) {
		const char *a[] = { "harmonyd", "--admin-host", bad[i], NULL };

		ck_assert_msg(parse(&cfg, err, sizeof(err), a) == CFG_ERROR,
		    "'%s' accepted", bad[i]);
		ck_assert_err_has(err, "admin-host");
		cfg_free(&cfg);
	}
}
END_TEST

START_TEST(test_json_not_dup)
{
	struct config cfg;
	char err[256] = "";

	cfg_defaults(&cfg);
	ck_assert_msg(cfg_load_json(&cfg, json_not_dup[_i], strlen(json_not_dup[_i]),
	    err, sizeof(err)) == 0, "case %d: %s", _i, err);
	ck_assert_int_eq(cfg.requeue, 2);
	cfg_free(&cfg);
}
END_TEST

/* ---- token and unavailable files ----------------------------------- */

START_TEST(test_token_file)
{
	char *path = temp_text("s3cret-token\r\n"), *empty = temp_text("\n");
	char *spaced = temp_text("two words\n"), long_tok[300];
	char *toolong;
	struct config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--token-file", path)),
	    CFG_OK);
	ck_assert_str_eq(cfg.token, "s3cret-token");
	ck_assert_str_eq(cfg.token_file, path);
	cfg_free(&cfg);

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--token-file", empty)),
	    CFG_ERROR);
	ck_assert_err_has(err, "--token-file: empty token");
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--token-file", spaced)),
	    CFG_ERROR);
	ck_assert_err_has(err, "--token-file: token may only hold");
	memset(long_tok, 'k', 257);
	long_tok[257] = '\n';
	toolong = temp_file(long_tok, 258);
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--token-file", toolong)),
	    CFG_ERROR);
	ck_assert_err_has(err, "longer than 256");
	temp_remove(toolong);
	temp_remove(empty);
	temp_remove(spaced);
	temp_remove(path);
}
END_TEST

/* Both given is an error, in either order and across file and flags. */
START_TEST(test_token_exclusive)
{
	char *tok = temp_text("abc\n"), *json;
	struct config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--token", "x",
	    "--token-file", tok)), CFG_ERROR);
	ck_assert_err_has(err, "--token-file: --token and --token-file are"
	    " mutually exclusive");
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--token-file", tok,
	    "--token", "x")), CFG_ERROR);
	ck_assert_err_has(err, "--token: --token and --token-file are mutually"
	    " exclusive");
	json = temp_text("{ \"token\": \"x\" }");
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("-c", json,
	    "--token-file", tok)), CFG_ERROR);
	ck_assert_err_has(err, "mutually exclusive");
	temp_remove(json);

	/* The same option twice simply replaces. */
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--token-file", tok,
	    "--token-file", tok, "--token-file", tok)), CFG_OK);
	ck_assert_str_eq(cfg.token, "abc");
	cfg_free(&cfg);
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--token", "a",
	    "--token", "b")), CFG_OK);
	ck_assert_str_eq(cfg.token, "b");
	cfg_free(&cfg);
	temp_remove(tok);
}
END_TEST

START_TEST(test_unavailable_file)
{
	static const char reply[] = "HTTP/1.1 503 Busy\r\nContent-Length: 1\r\n\r\n\0";
	char *path = temp_file(reply, sizeof(reply)), *big, *bigpath;
	struct config cfg;
	char err[256];

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--unavailable-file",
	    path)), CFG_OK);
	ck_assert_uint_eq(cfg.unavailable_len, sizeof(reply));
	ck_assert_mem_eq(cfg.unavailable, reply, sizeof(reply));
	ck_assert_str_eq(cfg.unavailable_file, path);
	cfg_free(&cfg);

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--unavailable", "x",
	    "--unavailable-file", path)), CFG_ERROR);
	ck_assert_err_has(err, "mutually exclusive");
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--unavailable-file",
	    path, "--unavailable", "x")), CFG_ERROR);
	ck_assert_err_has(err, "mutually exclusive");

	/* An empty file is an empty message; more than 1 MiB is refused. */
	big = calloc(1, 1024 * 1024 + 1);
	ck_assert_ptr_nonnull(big);
	bigpath = temp_file(big, 0);
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--unavailable-file",
	    bigpath)), CFG_OK);
	ck_assert_uint_eq(cfg.unavailable_len, 0);
	cfg_free(&cfg);
	temp_remove(bigpath);
	bigpath = temp_file(big, 1024 * 1024);
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--unavailable-file",
	    bigpath)), CFG_OK);
	ck_assert_uint_eq(cfg.unavailable_len, 1024 * 1024);
	cfg_free(&cfg);
	temp_remove(bigpath);
	bigpath = temp_file(big, 1024 * 1024 + 1);
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--unavailable-file",
	    bigpath)), CFG_ERROR);
	ck_assert_err_has(err, "larger than 1048576 bytes");
	temp_remove(bigpath);
	free(big);
	temp_remove(path);
}
END_TEST

/* A reload parses with CFG_DEFER_NAMES: no getaddrinfo on the loop. */
START_TEST(test_deferred_names)
{
	struct config cfg;
	char err[256];

	gai_calls = 0;
	ck_assert_int_eq(parse_ex(&cfg, err, sizeof(err), CFG_DEFER_NAMES,
	    ARGS("--host", "lb.harmony.test", "--target", "web.harmony.test:8080@7",
	    "--target", "10.0.0.1:80")), CFG_OK);
	ck_assert_int_eq(gai_calls, 0);
	ck_assert_uint_eq(cfg.ntargets, 2);
	ck_assert_str_eq(cfg.targets[0].name, "web.harmony.test");
	ck_assert_uint_eq(cfg.targets[0].port, 8080);
	ck_assert_uint_eq(cfg.targets[0].weight, 7);
	ck_assert_uint_eq(cfg.targets[0].addr.len, 0);
	ck_assert_str_eq(cfg.targets[1].name, "");
	ck_assert_uint_eq(cfg.targets[1].port, 80);
	ck_assert_uint_eq(cfg.targets[1].addr.len, sizeof(struct sockaddr_in));
	cfg_free(&cfg);

	/* Everything but the names is still checked. */
	ck_assert_int_eq(parse_ex(&cfg, err, sizeof(err), CFG_DEFER_NAMES,
	    ARGS("--target", "web.harmony.test:0")), CFG_ERROR);
	ck_assert_int_eq(parse_ex(&cfg, err, sizeof(err), CFG_DEFER_NAMES,
	    ARGS("--target", "1.2.3:80")), CFG_ERROR);
	ck_assert_int_eq(parse_ex(&cfg, err, sizeof(err), CFG_DEFER_NAMES,
	    ARGS("--listen", "lb.harmony.test:x")), CFG_ERROR);
	ck_assert_int_eq(gai_calls, 0);

	/* Without the flag names are resolved (start-up): here they fail. */
	ck_assert_int_eq(parse(&cfg, err, sizeof(err),
	    ARGS("--target", "web.harmony.test:8080")), CFG_ERROR);
	ck_assert_int_eq(gai_calls, 1);
	ck_assert_ptr_nonnull(strstr(err, "cannot resolve 'web.harmony.test'"));
	ck_assert_int_eq(parse(&cfg, err, sizeof(err),
	    ARGS("--host", "lb.harmony.test")), CFG_ERROR);
	ck_assert_int_eq(gai_calls, 2);
}
END_TEST

/* ---- services (issue 15) -------------------------------------------- */

/* cfg_defaults, cfg_load_json, cfg_validate: -1 with err at either step. */
static int
load_validate(struct config *cfg, const char *json, char *err, size_t errlen)
{
	cfg_defaults(cfg);
	err[0] = '\0';
	if (cfg_load_json(cfg, json, strlen(json), err, errlen) == -1)
		return -1;
	return cfg_validate(cfg, err, errlen);
}

static const char two_services_json[] =
	"{ \"requeue\": 3, \"default\": \"web\",\n"
	"  \"services\": {\n"
	"    \"web\": { \"listen\": \"8080,127.0.0.2:8080\", \"balance\": \"roundrobin\",\n"
	"      \"target\": [ \"127.0.0.1:9001\", \"127.0.0.1:9002@7\" ] },\n"
	"    \"api\": { \"listen\": [ 8081, \"127.0.0.2:8081\" ], \"balance\": \"hash\",\n"
	"      \"persist-ttl\": \"1m\", \"target\": \"127.0.0.1:9001\" }\n"
	"  } }";

static void
check_two_services(struct config *cfg)
{
	struct config *web, *api;
	char host[NET_HOSTSTRLEN];

	ck_assert_uint_eq(cfg->nservices, 2);
	web = &cfg->services[0];
	api = &cfg->services[1];
	ck_assert_str_eq(web->name, "web");
	ck_assert_str_eq(api->name, "api");
	ck_assert_uint_eq(cfg->default_index, 0);
	ck_assert_ptr_eq(cfg_default_service(cfg), web);
	ck_assert_ptr_eq(cfg_service_find(cfg, "api"), api);
	ck_assert_ptr_null(cfg_service_find(cfg, "nope"));
	ck_assert_ptr_null(cfg_service_find(cfg, "default"));
	/* listen lists: the raw text, then its elements. */
	ck_assert_str_eq(web->listen, "8080,127.0.0.2:8080");
	ck_assert_uint_eq(web->nlistens, 2);
	ck_assert_str_eq(web->listens[0].text, "8080");
	ck_assert_str_eq(host_of(&web->listens[0].addr, host, sizeof(host)), "127.0.0.1");
	ck_assert_uint_eq(port_of(&web->listens[0].addr), 8080);
	ck_assert_str_eq(web->listens[1].text, "127.0.0.2:8080");
	ck_assert_str_eq(host_of(&web->listens[1].addr, host, sizeof(host)), "127.0.0.2");
	ck_assert_str_eq(api->listen, "8081,127.0.0.2:8081");
	ck_assert_uint_eq(api->nlistens, 2);
	ck_assert_uint_eq(port_of(&api->listens[1].addr), 8081);
	/* Their own keys... */
	ck_assert_int_eq(web->balance, BALANCE_ROUNDROBIN);
	ck_assert_int_eq(api->balance, BALANCE_HASH);
	ck_assert_int_eq(api->persist_ttl_ms, 60000);
	ck_assert_uint_eq(web->ntargets, 2);
	ck_assert_uint_eq(web->targets[1].weight, 7);
	/* ...the same target in two services is fine... */
	ck_assert_uint_eq(api->ntargets, 1);
	ck_assert_uint_eq(port_of(&api->targets[0].addr), 9001);
	/* ...and the top level's for the rest. */
	ck_assert_int_eq(web->requeue, 3);
	ck_assert_int_eq(api->requeue, 3);
	ck_assert_int_eq(web->persist_ttl_ms, 30 * 60 * 1000);
	ck_assert(api->persistent);
	ck_assert_str_eq(cfg->default_service, "web");
}

START_TEST(test_services_file)
{
	struct config cfg;
	char err[256];

	ck_assert_msg(load_validate(&cfg, two_services_json, err, sizeof(err)) == 0,
	    "%s", err);
	check_two_services(&cfg);
	/* Idempotent: a second cfg_validate changes nothing. */
	ck_assert_msg(cfg_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
	check_two_services(&cfg);
	cfg_free(&cfg);
	cfg_free(&cfg);
}
END_TEST

/*
 * The top level's check is inherited key by key: a service that sets its
 * own check object keeps what it sets and takes the others' values.
 */
START_TEST(test_services_check)
{
	struct config cfg, *web, *api;
	char err[256];

	ck_assert_msg(load_validate(&cfg, "{ \"default\": \"web\","
	    " \"slow-start\": \"30s\", \"check\": {"
	    " \"type\": \"http\", \"path\": \"/h\", \"status\": \"200\","
	    " \"interval\": \"5s\", \"rise\": 4 }, \"services\": {"
	    " \"web\": { \"listen\": 18001, \"check\": { \"type\": \"send-expect\","
	    " \"send\": \"PING\\\\r\\\\n\", \"expect\": \"PONG\", \"fall\": 7 } },"
	    " \"api\": { \"listen\": 18002, \"check-port\": 81 } } }",
	    err, sizeof(err)) == 0, "%s", err);
	web = cfg_service_find(&cfg, "web");
	api = cfg_service_find(&cfg, "api");
	ck_assert_int_eq(web->check.type, CHECK_SEND_EXPECT);
	ck_assert_uint_eq(web->check.send_len, 6);
	ck_assert_mem_eq(web->check.send, "PING\r\n", 6);
	ck_assert_uint_eq(web->check.expect_len, 4);
	ck_assert_int_eq(web->check.fall, 7);
	ck_assert_int_eq(web->check.rise, 4);
	ck_assert_int_eq(web->check.interval_ms, 5000);
	ck_assert_int_eq(web->check.timeout_ms, 1000);
	ck_assert_int_eq(api->check.type, CHECK_HTTP);
	ck_assert_str_eq(api->check.path, "/h");
	ck_assert_int_eq(api->check.status_min, 200);
	ck_assert_int_eq(api->check.status_max, 200);
	ck_assert_int_eq(api->check.fall, 3);
	ck_assert_int_eq(api->check.port, 81);
	ck_assert_int_eq(web->check.port, 0);
	ck_assert_int_eq(api->slow_start_ms, 30000);
	cfg_free(&cfg);
}
END_TEST

/* Today's configuration is one service "default" made of the top level. */
START_TEST(test_services_none)
{
	struct config cfg;
	struct config *d;
	char err[256];

	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--requeue", "7",
	    "--listen", "4000", "--target", "127.0.0.1:9001", "--balance", "hash")),
	    CFG_OK);
	for (int pass = 0; pass < 2; pass++) {
		ck_assert_uint_eq(cfg.nservices, 1);
		ck_assert_uint_eq(cfg.default_index, 0);
		d = cfg_default_service(&cfg);
		ck_assert_ptr_eq(d, &cfg.services[0]);
		ck_assert_ptr_eq(cfg_service_find(&cfg, "default"), d);
		ck_assert_str_eq(d->name, "default");
		ck_assert_str_eq(d->listen, "4000");
		ck_assert_uint_eq(cfg.nlistens, 1);
		ck_assert_str_eq(cfg.listens[0].text, cfg.listen);
		ck_assert_uint_eq(port_of(&cfg.listens[0].addr), 4000);
		ck_assert_uint_eq(d->nlistens, 1);
		ck_assert_str_eq(d->listens[0].text, "4000");
		ck_assert_int_eq(d->requeue, 7);
		ck_assert_int_eq(d->balance, BALANCE_HASH);
		ck_assert_uint_eq(d->ntargets, 1);
		ck_assert_ptr_null(cfg.default_service);
		ck_assert_msg(cfg_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
	}
	cfg_free(&cfg);

	/* A listen list at the top level is the default service's. */
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--listen",
	    "8080,127.0.0.2:8080")), CFG_OK);
	ck_assert_str_eq(cfg.listen, "8080,127.0.0.2:8080");
	ck_assert_uint_eq(cfg.nlistens, 2);
	ck_assert_uint_eq(cfg.services[0].nlistens, 2);
	ck_assert_str_eq(cfg.services[0].listens[1].text, "127.0.0.2:8080");
	cfg_free(&cfg);
	ck_assert_int_eq(load_validate(&cfg, "{ \"listen\": [ 8080, \"127.0.0.2:8081\" ] }",
	    err, sizeof(err)), 0);
	ck_assert_str_eq(cfg.listen, "8080,127.0.0.2:8081");
	ck_assert_uint_eq(cfg.nlistens, 2);
	cfg_free(&cfg);
	/* "default" may name the service that the top level makes. */
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--default", "default")),
	    CFG_OK);
	ck_assert_uint_eq(cfg.nservices, 1);
	cfg_free(&cfg);
}
END_TEST

#define NAME63	"abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abc"

static const struct {
	const char	*json;
	const char	*err;
} services_bad[] = {
	{ "{ \"services\": {} }", "services: empty" },
	{ "{ \"services\": [] }", "services: expected an object" },
	{ "{ \"services\": \"web\" }", "services: expected an object" },
	{ "{ \"services\": { \"web\": 8080 } }", "services.web: expected an object" },
	{ "{ \"services\": { \"Web\": { \"listen\": 1 } } }",
	    "services: bad service name 'Web'" },
	{ "{ \"services\": { \"\": { \"listen\": 1 } } }", "services: bad service name ''" },
	{ "{ \"services\": { \"-web\": { \"listen\": 1 } } }", "services: bad service name" },
	{ "{ \"services\": { \"" NAME63 "x\": { \"listen\": 1 } } }",
	    "services: bad service name '" NAME63 "x'" },
	{ "{ \"services\": { \"web\": { \"listen\": 8080, \"lisen\": 1 } } }",
	    "services.web: unknown key 'lisen'" },
	{ "{ \"services\": { \"web\": { \"http\": 1 } } }",
	    "services.web: 'http' is not a per-service key; set it at the top level" },
	{ "{ \"services\": { \"web\": { \"ack-port\": 1 } } }",
	    "services.web: 'ack-port' is not a per-service key" },
	{ "{ \"services\": { \"web\": { \"token\": \"x\" } } }",
	    "services.web: 'token' is not a per-service key" },
	{ "{ \"services\": { \"web\": { \"host\": \"x\" } } }",
	    "services.web: 'host' is not a per-service key" },
	{ "{ \"services\": { \"web\": { \"grace\": 1 } } }",
	    "services.web: 'grace' is not a per-service key" },
	{ "{ \"services\": { \"web\": { \"default\": \"web\" } } }",
	    "services.web: 'default' is not a per-service key" },
	{ "{ \"services\": { \"web\": { \"services\": {} } } }",
	    "services.web: 'services' is not a per-service key" },
	{ "{ \"services\": { \"web\": { \"config\": \"x\" } } }",
	    "services.web: 'config' is a command-line flag, not a config file key" },
	{ "{ \"services\": { \"web\": { \"no-persistent\": true } } }",
	    "services.web: 'no-persistent' is a command-line flag" },
	{ "{ \"services\": { \"web\": { \"listen\": 8080, \"balance\": \"x\" } } }",
	    "services.web.balance: bad algorithm 'x'" },
	{ "{ \"services\": { \"web\": { \"persistent\": 1 } } }",
	    "services.web.persistent: expected true or false" },
	{ "{ \"services\": { \"web\": { \"requeue\": 101 } } }",
	    "services.web.requeue: 101 is out of range (0..100)" },
	{ "{ \"services\": { \"web\": { \"idle-timeout\": \"x\" } } }",
	    "services.web.idle-timeout: bad duration 'x'" },
	{ "{ \"services\": { \"web\": { \"target\": [ \"127.0.0.1:1\", 2 ] } } }",
	    "services.web.target[1]: expected a string" },
	{ "{ \"services\": { \"web\": { \"unavailable\": \"x\", \"unavailable-file\": \"/y\" } } }",
	    "services.web.unavailable-file: --unavailable and --unavailable-file are"
	    " mutually exclusive" },
	{ "{ \"services\": { \"web\": { \"listen\": true } } }",
	    "services.web.listen: expected a string or a port number" },
	{ "{ \"services\": { \"web\": { \"listen\": [] } } }",
	    "services.web.listen: empty list" },
	{ "{ \"services\": { \"web\": { \"listen\": [ 1, true ] } } }",
	    "services.web.listen[1]: expected a string or a port number" },
	{ "{ \"services\": { \"web\": { \"listen\": [ 70000 ] } } }",
	    "services.web.listen[0]: bad port 70000" },
	{ "{ \"services\": { \"web\": { \"listen\": \"x\" } } }",
	    "services.web.listen: bad port 'x'" },
	{ "{ \"services\": { \"web\": { \"listen\": \"8080,,8081\" } } }",
	    "services.web.listen: empty address in '8080,,8081'" },
	{ "{ \"services\": { \"web\": { \"listen\": \"8080,\" } } }",
	    "services.web.listen: empty address" },
	{ "{ \"services\": { \"web\": { \"listen\": \"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\" } } }",
	    "services.web.listen: more than 16 addresses" },
	{ "{ \"listen\": \"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\" }",
	    "--listen: more than 16 addresses" },
	{ "{ \"listen\": \"8080,127.0.0.1:8080\" }",
	    "--listen: 127.0.0.1:8080 is also --listen" },
	{ "{ \"listen\": \"8080,1667\" }", "--http: 127.0.0.1:1667 is also --listen" },
	{ "{ \"listen\": \"8080,x\" }", "--listen: bad port 'x'" },
	/* Duplicates, at any depth: json-c would keep the last. */
	{ "{ \"services\": { \"web\": { \"listen\": 1 },\n \"web\": { \"listen\": 2 } } }",
	    "line 2: duplicate key 'web'" },
	{ "{ \"services\": { \"web\": { \"listen\": 1, \"balance\": \"hash\",\n"
	    " \"balance\": \"hash\" } } }", "line 2: duplicate key 'balance'" },
	{ "{ \"services\": { \"web\": { \"listen\": 1 } },\n \"services\": {} }",
	    "line 2: duplicate key 'services'" },
	/* listen is each service's own, and required. */
	{ "{ \"services\": { \"web\": { \"balance\": \"hash\" } } }",
	    "services.web: listen is required" },
	{ "{ \"listen\": 8080, \"services\": { \"web\": { \"listen\": 8081 } } }",
	    "--listen: with services, each one sets its own listen (in"
	    " \"services\" or after --service NAME)" },
	{ "{ \"target\": [], \"services\": { \"web\": { \"listen\": 8081 } } }",
	    "--target: with services, each one sets its own target (in"
	    " \"services\" or after --service NAME)" },
	/* Every listen address differs, across services and daemon ports. */
	{ "{ \"services\": { \"web\": { \"listen\": 8081 }, \"api\": { \"listen\": \"9000,8081\" } } ,"
	    " \"default\": \"web\" }",
	    "services.api.listen: 127.0.0.1:8081 is also services.web.listen" },
	{ "{ \"services\": { \"web\": { \"listen\": \"8080,127.0.0.1:8080\" } } }",
	    "services.web.listen: 127.0.0.1:8080 is also services.web.listen" },
	{ "{ \"services\": { \"web\": { \"listen\": 1666 } } }",
	    "--ack-port: 127.0.0.1:1666 is also services.web.listen" },
	{ "{ \"http\": 8081, \"services\": { \"web\": { \"listen\": 8081 } } }",
	    "--http: 127.0.0.1:8081 is also services.web.listen" },
	{ "{ \"services\": { \"web\": { \"listen\": 8080, \"target\": [ \"127.0.0.1:80\","
	    " \"127.0.0.1:80@3\" ] } } }",
	    "services.web.target: 127.0.0.1:80 is given twice" },
	/* The default service. */
	{ "{ \"services\": { \"web\": { \"listen\": 8080 }, \"api\": { \"listen\": 8081 } } }",
	    "no default service: 2 services and none named 'default': set"
	    " \"default\" (--default NAME)" },
	{ "{ \"default\": \"nope\", \"services\": { \"web\": { \"listen\": 8080 } } }",
	    "default: no service named 'nope'" },
	{ "{ \"default\": \"web\" }", "default: no service named 'web'" },
	{ "{ \"default\": \"Web\" }", "default: bad service name 'Web'" },
	{ "{ \"default\": 1 }", "default: expected a string" },
};

START_TEST(test_services_bad)
{
	struct config cfg;
	char err[256];

	ck_assert_msg(load_validate(&cfg, services_bad[_i].json, err, sizeof(err)) == -1,
	    "accepted: %s", services_bad[_i].json);
	ck_assert_err_has(err, services_bad[_i].err);
	ck_assert_ptr_null(strchr(err, '\n'));
	cfg_free(&cfg);
}
END_TEST

/* The default service: "default", else the one named so, else the only one. */
START_TEST(test_services_default)
{
	struct config cfg;
	char err[256];

	ck_assert_int_eq(load_validate(&cfg, "{ \"services\": { \"web\": { \"listen\":"
	    " 8080 } } }", err, sizeof(err)), 0);
	ck_assert_str_eq(cfg_default_service(&cfg)->name, "web");
	cfg_free(&cfg);
	ck_assert_int_eq(load_validate(&cfg, "{ \"services\": { \"web\": { \"listen\":"
	    " 8080 }, \"default\": { \"listen\": 8081 } } }", err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.default_index, 1);
	ck_assert_str_eq(cfg_default_service(&cfg)->name, "default");
	cfg_free(&cfg);
	ck_assert_int_eq(load_validate(&cfg, "{ \"default\": \"web\", \"services\": {"
	    " \"default\": { \"listen\": 8081 }, \"web\": { \"listen\": 8080 } } }",
	    err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.default_index, 1);
	ck_assert_str_eq(cfg_default_service(&cfg)->name, "web");
	cfg_free(&cfg);
	/* 63 bytes is a name; the flag overrides the key. */
	ck_assert_int_eq(load_validate(&cfg, "{ \"services\": { \"a\": { \"listen\": 1 },"
	    " \"" NAME63 "\": { \"listen\": 2 } }, \"default\": \"" NAME63 "\" }",
	    err, sizeof(err)), 0);
	ck_assert_uint_eq(cfg.default_index, 1);
	cfg_free(&cfg);
}
END_TEST

/* A service takes the top level's tunables it does not set, after the flags. */
START_TEST(test_services_inherit)
{
	static const char reply[] = "busy\r\n";
	char *unav = temp_text(reply), *json, *path;
	struct config cfg;
	struct config *web, *api;
	char err[256];

	ck_assert_int_gt(asprintf(&json, "{ \"requeue\": 2, \"unavailable-file\": \"%s\","
	    " \"services\": { \"web\": { \"listen\": 8080, \"requeue\": 4,"
	    " \"persistent\": true, \"unavailable\": \"web\", \"concurrency\": 0 },"
	    " \"api\": { \"listen\": 8081 } }, \"default\": \"web\" }", unav), 0);
	path = temp_text(json);
	ck_assert_msg(parse(&cfg, err, sizeof(err), ARGS("-c", path, "--requeue", "5",
	    "--no-persistent", "--balance", "hash", "--idle-timeout", "0",
	    "--concurrency", "9")) == CFG_OK, "%s", err);
	web = &cfg.services[0];
	api = &cfg.services[1];
	ck_assert_int_eq(cfg.requeue, 5);
	ck_assert_int_eq(web->requeue, 4);
	ck_assert_int_eq(api->requeue, 5);
	ck_assert(web->persistent);
	ck_assert(!api->persistent);
	ck_assert_int_eq(web->balance, BALANCE_HASH);
	ck_assert_int_eq(api->balance, BALANCE_HASH);
	ck_assert_int_eq(web->idle_timeout_ms, 0);
	ck_assert_int_eq(web->concurrency, 0);
	ck_assert_int_eq(api->concurrency, 9);
	ck_assert_int_eq(api->host_timeout_ms, 60000);
	ck_assert_uint_eq(web->unavailable_len, 3);
	ck_assert_mem_eq(web->unavailable, "web", 3);
	ck_assert_ptr_null(web->unavailable_file);
	ck_assert_uint_eq(api->unavailable_len, strlen(reply));
	ck_assert_mem_eq(api->unavailable, reply, strlen(reply));
	ck_assert_str_eq(api->unavailable_file, unav);
	ck_assert_ptr_ne(api->unavailable, cfg.unavailable);
	/* Never listen nor targets; the top level's default "3000" is unused. */
	ck_assert_uint_eq(api->ntargets, 0);
	ck_assert_str_eq(api->listen, "8081");
	ck_assert_msg(cfg_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_mem_eq(api->unavailable, reply, strlen(reply));
	cfg_free(&cfg);
	temp_remove(path);
	temp_remove(unav);
	free(json);
}
END_TEST

/* --service NAME opens a section of per-service flags. */
START_TEST(test_services_cli)
{
	struct config cfg;
	struct config *web, *api;
	char err[256];

	ck_assert_msg(parse(&cfg, err, sizeof(err), ARGS("--balance", "hash",
	    "--service", "web", "--listen", "8080", "--target", "127.0.0.1:9001",
	    "--requeue", "4", "--grace", "1s", "--target", "127.0.0.1:9002",
	    "--service=api", "--listen", "8081,8082", "--no-persistent",
	    "--default", "api", "--target", "127.0.0.1:9001", "-q",
	    "--serv", "web", "--balance", "roundrobin")) == CFG_OK, "%s", err);
	ck_assert_uint_eq(cfg.nservices, 2);
	web = &cfg.services[0];
	api = &cfg.services[1];
	ck_assert_str_eq(web->name, "web");
	ck_assert_str_eq(api->name, "api");
	ck_assert_uint_eq(cfg.default_index, 1);
	ck_assert_int_eq(web->balance, BALANCE_ROUNDROBIN);
	ck_assert_int_eq(api->balance, BALANCE_HASH);
	ck_assert_int_eq(web->requeue, 4);
	ck_assert_int_eq(api->requeue, 1);
	ck_assert_int_eq(cfg.requeue, 1);
	/* Daemon-wide flags stay daemon-wide wherever they are. */
	ck_assert_int_eq(cfg.grace_ms, 1000);
	ck_assert_int_eq(cfg.log_level, LOG_LEVEL_ERROR);
	ck_assert_uint_eq(web->ntargets, 2);
	ck_assert_uint_eq(api->ntargets, 1);
	ck_assert_uint_eq(cfg.ntargets, 0);
	ck_assert(web->persistent);
	ck_assert(!api->persistent);
	ck_assert(cfg.persistent);
	ck_assert_uint_eq(api->nlistens, 2);
	ck_assert_uint_eq(port_of(&api->listens[1].addr), 8082);
	cfg_free(&cfg);
}
END_TEST

/* A section overrides the file's service of that name. */
START_TEST(test_services_cli_over_file)
{
	char *path = temp_text(two_services_json);
	struct config cfg;
	struct config *web;
	char err[256];

	ck_assert_msg(parse(&cfg, err, sizeof(err), ARGS("-c", path,
	    "--service", "web", "--target", "127.0.0.1:9101", "--requeue", "8",
	    "--service", "new", "--listen", "9090",
	    "--service", "web", "--target", "127.0.0.1:9102", "--listen", "7070")) ==
	    CFG_OK, "%s", err);
	ck_assert_uint_eq(cfg.nservices, 3);
	web = &cfg.services[0];
	ck_assert_str_eq(web->name, "web");
	ck_assert_str_eq(cfg.services[1].name, "api");
	ck_assert_str_eq(cfg.services[2].name, "new");
	/* The first --target of web drops the file's list; later ones add. */
	ck_assert_uint_eq(web->ntargets, 2);
	ck_assert_uint_eq(port_of(&web->targets[0].addr), 9101);
	ck_assert_uint_eq(port_of(&web->targets[1].addr), 9102);
	ck_assert_int_eq(web->requeue, 8);
	ck_assert_int_eq(web->balance, BALANCE_ROUNDROBIN);
	ck_assert_str_eq(web->listen, "7070");
	ck_assert_uint_eq(cfg.services[1].ntargets, 1);
	ck_assert_int_eq(cfg.services[1].requeue, 3);
	ck_assert_int_eq(cfg.services[2].requeue, 3);
	ck_assert_uint_eq(cfg.default_index, 0);
	cfg_free(&cfg);
	temp_remove(path);
}
END_TEST

static const struct {
	const char	*args[9];
	const char	*err;
} services_cli_bad[] = {
	{ { "--service" }, "--service needs an argument" },
	{ { "--service", "Web" }, "--service: bad service name 'Web'" },
	{ { "--service", NAME63 "x" }, "--service: bad service name" },
	{ { "--service", "web", "--listen", "8080", "--balance", "x" },
	    "services.web.balance: bad algorithm 'x'" },
	{ { "--service", "web", "--listen", "8080", "--target", "1.2.3.4:0" },
	    "services.web.target: " },
	{ { "--service", "web", "--balance", "hash" }, "services.web: listen is required" },
	{ { "--service", "web" }, "services.web: listen is required" },
	{ { "--listen", "4000", "--service", "web", "--listen", "8080" },
	    "--listen: with services, each one sets its own listen" },
	{ { "--target", "127.0.0.1:1", "--service", "web", "--listen", "8080" },
	    "--target: with services, each one sets its own target" },
	{ { "--service", "web", "--listen", "8080", "--service", "api", "--listen",
	    "127.0.0.1:8080" }, "services.api.listen: 127.0.0.1:8080 is also"
	    " services.web.listen" },
	{ { "--service", "web", "--listen", "8080", "--default", "api" },
	    "default: no service named 'api'" },
	{ { "--default", "-x" }, "--default: bad service name '-x'" },
	{ { "--service", "web", "--listen", "8080", "--unavailable", "\\q" },
	    "services.web.unavailable: unknown escape" },
};

START_TEST(test_services_cli_bad)
{
	check_args_error(services_cli_bad[_i].args, 8, services_cli_bad[_i].err);
}
END_TEST

/* A JSON text of n services, each on listen port 0 (never a clash). */
static char *
many_services(size_t n)
{
	size_t cap = 64 + n * 48, len = 0;
	char *json = malloc(cap);

	ck_assert_ptr_nonnull(json);
	len += (size_t)snprintf(json + len, cap - len, "{ \"services\": {");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(json + len, cap - len, "%s \"s%zu\": {"
		    " \"listen\": 0 }", i ? "," : "", i);
	len += (size_t)snprintf(json + len, cap - len, " }, \"default\": \"s0\" }");
	ck_assert_uint_lt(len, cap);
	return json;
}

START_TEST(test_services_max)
{
	char *json = many_services(CFG_SERVICES_MAX), *path;
	struct config cfg;
	char err[256];

	ck_assert_msg(load_validate(&cfg, json, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(cfg.nservices, CFG_SERVICES_MAX);
	cfg_free(&cfg);
	path = temp_text(json);
	/* Naming one of them is fine; one more is not. */
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("-c", path, "--service",
	    "s7", "--requeue", "3")), CFG_OK);
	ck_assert_int_eq(cfg.services[7].requeue, 3);
	cfg_free(&cfg);
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("-c", path, "--service",
	    "extra", "--listen", "0")), CFG_ERROR);
	ck_assert_err_has(err, "--service: more than 256 services");
	temp_remove(path);
	free(json);
	json = many_services(CFG_SERVICES_MAX + 1);
	ck_assert_int_eq(load_validate(&cfg, json, err, sizeof(err)), -1);
	ck_assert_err_has(err, "services: more than 256 services");
	cfg_free(&cfg);
	free(json);
}
END_TEST

/* A reload defers names: a service's listen and targets included. */
START_TEST(test_services_deferred)
{
	struct config cfg;
	char err[256];

	gai_calls = 0;
	ck_assert_msg(parse_ex(&cfg, err, sizeof(err), CFG_DEFER_NAMES,
	    ARGS("--service", "web", "--listen", "lb.harmony.test:8080,8081",
	    "--target", "web.harmony.test:80")) == CFG_OK, "%s", err);
	ck_assert_int_eq(gai_calls, 0);
	ck_assert_uint_eq(cfg.services[0].nlistens, 2);
	ck_assert_str_eq(cfg.services[0].listens[0].text, "lb.harmony.test:8080");
	ck_assert_uint_eq(cfg.services[0].listens[0].addr.len, 0);
	ck_assert_uint_eq(port_of(&cfg.services[0].listens[1].addr), 8081);
	ck_assert_str_eq(cfg.services[0].targets[0].name, "web.harmony.test");
	cfg_free(&cfg);
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), ARGS("--service", "web",
	    "--target", "web.harmony.test:80", "--listen", "8080")), CFG_ERROR);
	ck_assert_err_has(err, "services.web.target: cannot resolve");
	ck_assert_int_eq(gai_calls, 1);
}
END_TEST

/* contrib/two-services.json loads and means what its comments say. */
START_TEST(test_services_contrib)
{
	struct config cfg;
	struct config *web, *api;
	char err[512];

	cfg_defaults(&cfg);
	ck_assert_msg(cfg_load_file(&cfg, HARMONY_SRCDIR "/contrib/two-services.json",
	    err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(cfg_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(cfg.nservices, 2);
	web = cfg_service_find(&cfg, "web");
	api = cfg_service_find(&cfg, "api");
	ck_assert_ptr_nonnull(web);
	ck_assert_ptr_nonnull(api);
	ck_assert_ptr_eq(cfg_default_service(&cfg), web);
	ck_assert_int_eq(web->balance, BALANCE_ROUNDROBIN);
	ck_assert_uint_eq(port_of(&web->listens[0].addr), 8080);
	ck_assert_uint_eq(web->ntargets, 2);
	ck_assert_int_eq(api->balance, BALANCE_HASH);
	ck_assert(api->persistent);
	ck_assert_uint_eq(port_of(&api->listens[0].addr), 8081);
	cfg_free(&cfg);
}
END_TEST

START_TEST(test_services_help)
{
	enum cfg_result r;
	char *out = parse_capturing(ARGS("--help"), &r);

	ck_assert_int_eq(r, CFG_EXIT);
	ck_assert_err_has(out, "--service NAME");
	ck_assert_err_has(out, "--default NAME");
	ck_assert_err_has(out, "\"services\"");
	free(out);
}
END_TEST

/* ---- PROXY protocol and SNI (issue 17) -------------------------------- */

static const char edge_json[] =
	"{ \"send-proxy\": \"v2\", \"inspect-timeout\": \"2s\",\n"
	"  \"check\": { \"type\": \"tcp\", \"send-proxy\": true },\n"
	"  \"default\": \"edge\",\n"
	"  \"services\": {\n"
	"    \"edge\": { \"listen\": 8443, \"accept-proxy\": [ \"10.0.0.0/8\", \"::1\" ],\n"
	"      \"sni\": { \"a.example\": \"api\", \"*.example.org\": \"web\",\n"
	"               \"edge.example\": \"edge\" },\n"
	"      \"sni-default\": \"close\", \"inspect-max\": 65536 },\n"
	"    \"api\": { \"listen\": 8081, \"send-proxy\": \"v1\",\n"
	"      \"accept-proxy\": \"127.0.0.0/8,fd00::/8\" },\n"
	"    \"web\": { \"listen\": 8082, \"send-proxy\": \"off\",\n"
	"      \"sni-default\": \"api\", \"check\": { \"type\": \"tcp\" } }\n"
	"  } }";

/* Every key, in a service and inherited from the top level. */
START_TEST(test_edge_file)
{
	struct config cfg;
	struct config *edge, *api, *web;
	char err[256];

	ck_assert_msg(load_validate(&cfg, edge_json, err, sizeof(err)) == 0, "%s", err);
	edge = cfg_service_find(&cfg, "edge");
	api = cfg_service_find(&cfg, "api");
	web = cfg_service_find(&cfg, "web");
	ck_assert_int_eq(edge->send_proxy, 2);
	ck_assert_int_eq(api->send_proxy, 1);
	ck_assert_int_eq(web->send_proxy, 0);
	ck_assert_uint_eq(edge->naccept_proxy, 2);
	ck_assert_int_eq(edge->accept_proxy[0].family, AF_INET);
	ck_assert_uint_eq(edge->accept_proxy[0].prefix, 8);
	ck_assert_int_eq(edge->accept_proxy[1].family, AF_INET6);
	ck_assert_uint_eq(edge->accept_proxy[1].prefix, 128);
	ck_assert_uint_eq(api->naccept_proxy, 2);
	ck_assert_uint_eq(api->accept_proxy[1].prefix, 8);
	ck_assert_uint_eq(web->naccept_proxy, 0);
	ck_assert_uint_eq(edge->nsni, 3);
	ck_assert_str_eq(edge->sni[1].pattern, "*.example.org");
	ck_assert_str_eq(edge->sni[1].service, "web");
	ck_assert_uint_eq(api->nsni, 0);
	ck_assert_str_eq(edge->sni_default, "close");
	ck_assert_str_eq(web->sni_default, "api");
	ck_assert_ptr_null(api->sni_default);
	ck_assert_int_eq(edge->inspect_timeout_ms, 2000);
	ck_assert_int_eq(api->inspect_timeout_ms, 2000);
	ck_assert_int_eq(edge->inspect_max, 65536);
	ck_assert_int_eq(api->inspect_max, 16384);
	/* check.send-proxy is inherited like check.interval; its version follows. */
	ck_assert(edge->check.send_proxy);
	ck_assert_int_eq(edge->check.proxy_version, 2);
	ck_assert(api->check.send_proxy);
	ck_assert_int_eq(api->check.proxy_version, 1);
	ck_assert(web->check.send_proxy);
	ck_assert_int_eq(web->check.proxy_version, 1);
	/* Validating again changes nothing. */
	ck_assert_msg(cfg_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(edge->nsni, 3);
	ck_assert_uint_eq(api->naccept_proxy, 2);
	cfg_free(&cfg);
}
END_TEST

/* The flags; a top-level map is the implicit service's ("default"). */
START_TEST(test_edge_flags)
{
	struct config cfg;
	struct config *def, *web;
	char err[256];

	cfg_defaults(&cfg);
	ck_assert_int_eq(cfg.send_proxy, 0);
	ck_assert_uint_eq(cfg.naccept_proxy, 0);
	ck_assert_uint_eq(cfg.nsni, 0);
	ck_assert_ptr_null(cfg.sni_default);
	ck_assert_int_eq(cfg.inspect_timeout_ms, 5000);
	ck_assert_int_eq(cfg.inspect_max, 16384);
	ck_assert(!cfg.check.send_proxy);
	cfg_free(&cfg);

	ck_assert_msg(parse(&cfg, err, sizeof(err), ARGS("--send-proxy", "v1",
	    "--accept-proxy", "127.0.0.1,::1/128", "--sni", "A.Example=default",
	    "--sni", "*.b.example=default", "--sni-default", "close",
	    "--inspect-timeout", "750ms", "--inspect-max", "256",
	    "--check", "tcp", "--check-send-proxy")) == CFG_OK, "%s", err);
	def = cfg_default_service(&cfg);
	ck_assert_int_eq(def->send_proxy, 1);
	ck_assert_uint_eq(def->naccept_proxy, 2);
	ck_assert_uint_eq(def->accept_proxy[0].prefix, 32);
	ck_assert_uint_eq(def->nsni, 2);
	ck_assert_str_eq(def->sni[0].pattern, "A.Example");
	ck_assert_str_eq(def->sni[0].service, "default");
	ck_assert_str_eq(def->sni_default, "close");
	ck_assert_int_eq(def->inspect_timeout_ms, 750);
	ck_assert_int_eq(def->inspect_max, 256);
	ck_assert_int_eq(def->check.proxy_version, 1);
	cfg_free(&cfg);

	/* --accept-proxy "" is off; --sni in a section replaces the file's. */
	ck_assert_msg(parse(&cfg, err, sizeof(err), ARGS("--accept-proxy", "10.0.0.0/8",
	    "--accept-proxy", "", "--service", "web", "--listen", "8080", "--sni",
	    "w.example=web", "--send-proxy", "v2", "--sni-default", "web")) == CFG_OK,
	    "%s", err);
	ck_assert_uint_eq(cfg.naccept_proxy, 0);
	web = cfg_service_find(&cfg, "web");
	ck_assert_uint_eq(web->nsni, 1);
	ck_assert_int_eq(web->send_proxy, 2);
	ck_assert_str_eq(web->sni_default, "web");
	ck_assert_int_eq(web->check.proxy_version, 0);
	cfg_free(&cfg);
}
END_TEST

static const struct {
	const char	*json;
	const char	*err;
} edge_bad[] = {
	{ "{ \"send-proxy\": \"v3\" }", "send-proxy: bad version 'v3' (off, v1, v2)" },
	{ "{ \"send-proxy\": 2 }", "send-proxy: expected a string" },
	{ "{ \"accept-proxy\": \"10.0.0.0/33\" }", "accept-proxy: " },
	{ "{ \"accept-proxy\": \"10.0.0.0/8,\" }", "accept-proxy: bad network list" },
	{ "{ \"accept-proxy\": \",10.0.0.0/8\" }", "accept-proxy: bad network list" },
	{ "{ \"accept-proxy\": \"nope\" }", "accept-proxy: " },
	{ "{ \"accept-proxy\": [ \"::1\", 1 ] }", "accept-proxy[1]: expected a network" },
	{ "{ \"accept-proxy\": [ \"::1,::2\" ] }", "accept-proxy[0]: expected a network" },
	{ "{ \"accept-proxy\": true }", "accept-proxy: expected a string or an array" },
	{ "{ \"sni\": \"a.example=default\" }", "sni: expected an object" },
	{ "{ \"sni\": { \"a.example\": 1 } }", "sni.a.example: expected a service name" },
	{ "{ \"sni\": { \"a.example\": \"Web\" } }", "sni: bad service name 'Web'" },
	{ "{ \"sni\": { \"a..example\": \"default\" } }", "sni: bad server name 'a..example'" },
	{ "{ \"sni\": { \"a.example\": \"default\", \"A.EXAMPLE\": \"default\" } }",
	    "sni: server name 'A.EXAMPLE' given twice" },
	{ "{ \"sni\": { \"a.example\": \"api\" } }",
	    "sni: 'a.example' -> 'api': no service named 'api'" },
	{ "{ \"sni-default\": \"api\", \"sni\": { \"a.example\": \"default\" } }",
	    "sni-default: no service named 'api'" },
	{ "{ \"sni-default\": \"Api\" }", "sni-default: bad service name 'Api'" },
	{ "{ \"inspect-timeout\": 0 }", "inspect-timeout: must be more than 0" },
	{ "{ \"inspect-max\": 255 }", "inspect-max: 255 is out of range (256..65536)" },
	{ "{ \"inspect-max\": 65537 }", "inspect-max: 65537 is out of range (256..65536)" },
	{ "{ \"inspect-max\": \"1k\" }", "inspect-max: expected an integer" },
	{ "{ \"check\": { \"type\": \"tcp\", \"send-proxy\": 1 } }",
	    "check.send-proxy: expected true or false" },
	{ "{ \"check-send-proxy\": \"yes\" }", "check-send-proxy: expected true or false" },
	{ "{ \"services\": { \"web\": { \"listen\": 1, \"sni\": { \"a.example\":"
	    " \"nope\" } } } }", "services.web.sni: 'a.example' -> 'nope': no service named 'nope'" },
	{ "{ \"services\": { \"web\": { \"listen\": 1, \"sni-default\": \"nope\" } } }",
	    "services.web.sni-default: no service named 'nope'" },
	{ "{ \"services\": { \"web\": { \"listen\": 1, \"send-proxy\": \"v0\" } } }",
	    "services.web.send-proxy: bad version 'v0'" },
	{ "{ \"services\": { \"web\": { \"listen\": 1, \"inspect-max\": 0 } } }",
	    "services.web.inspect-max: 0 is out of range" },
	/* A top-level map is every service's: its values must exist. */
	{ "{ \"sni\": { \"a.example\": \"api\" }, \"services\": { \"web\":"
	    " { \"listen\": 1 } } }", "services.web.sni: 'a.example' -> 'api'" },
};

START_TEST(test_edge_bad)
{
	struct config cfg;
	char err[256];

	ck_assert_msg(load_validate(&cfg, edge_bad[_i].json, err, sizeof(err)) == -1,
	    "accepted: %s", edge_bad[_i].json);
	ck_assert_err_has(err, edge_bad[_i].err);
	ck_assert_ptr_null(strchr(err, '\n'));
	cfg_free(&cfg);
}
END_TEST

static const struct {
	const char	*args[8];
	const char	*err;
} edge_cli_bad[] = {
	{ { "--sni", "a.example" }, "--sni: expected NAME=SERVICE" },
	{ { "--sni", "=default" }, "--sni: expected NAME=SERVICE" },
	{ { "--sni", "a.example=" }, "--sni: bad service name ''" },
	{ { "--sni", "a.example=x", "--sni", "A.example=x" }, "given twice" },
	{ { "--send-proxy", "V1" }, "--send-proxy: bad version 'V1'" },
	{ { "--inspect-max", "70000" }, "--inspect-max: bad number '70000' (256..65536)" },
	{ { "--service", "web", "--listen", "1", "--sni", "a.example=api" },
	    "services.web.sni: 'a.example' -> 'api': no service named 'api'" },
	{ { "--accept-proxy", "10.0.0.1/8/8" }, "--accept-proxy: " },
};

START_TEST(test_edge_cli_bad)
{
	const char *args[MAXARGS] = { "harmonyd" };
	struct config cfg;
	char err[256];
	size_t n = 1;

	for (size_t i = 0; edge_cli_bad[_i].args[i] != NULL; i++)
		args[n++] = edge_cli_bad[_i].args[i];
	args[n] = NULL;
	ck_assert_int_eq(parse(&cfg, err, sizeof(err), args), CFG_ERROR);
	ck_assert_err_has(err, edge_cli_bad[_i].err);
}
END_TEST

/* contrib/sni.json is a working configuration. */
START_TEST(test_edge_contrib)
{
	struct config cfg;
	struct config *edge;
	char err[512];

	cfg_defaults(&cfg);
	ck_assert_msg(cfg_load_file(&cfg, HARMONY_SRCDIR "/contrib/sni.json",
	    err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(cfg_validate(&cfg, err, sizeof(err)) == 0, "%s", err);
	edge = cfg_default_service(&cfg);
	ck_assert_uint_gt(edge->nsni, 0);
	cfg_free(&cfg);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("args");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_every_flag);
	tcase_add_loop_test(tc, test_levels, 0, NITEMS(level_cases));
	tcase_add_loop_test(tc, test_flag_errors, 0, NITEMS(flag_error_cases));
	tcase_add_test(tc, test_long_token);
	tcase_add_test(tc, test_parse_twice);
	tcase_add_test(tc, test_help_version);
	suite_add_tcase(s, tc);

	tc = tcase_create("parsers");
	tcase_add_loop_test(tc, test_target_ok, 0, NITEMS(target_ok));
	tcase_add_loop_test(tc, test_target_bad, 0, NITEMS(target_bad));
	tcase_add_loop_test(tc, test_unescape_ok, 0, NITEMS(unescape_ok));
	tcase_add_loop_test(tc, test_unescape_bad, 0, NITEMS(unescape_bad));
	tcase_add_test(tc, test_deferred_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_test(tc, test_json_applies);
	tcase_add_test(tc, test_config_flag_forms);
	tcase_add_test(tc, test_flags_override_file);
	tcase_add_loop_test(tc, test_json_not_dup, 0, NITEMS(json_not_dup));
	tcase_add_test(tc, test_admin_host);
	tcase_add_loop_test(tc, test_json_bad, 0, NITEMS(json_bad));
	tcase_add_test(tc, test_json_limits);
	tcase_add_test(tc, test_token_file);
	tcase_add_test(tc, test_token_exclusive);
	tcase_add_test(tc, test_unavailable_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("services");
	tcase_add_test(tc, test_services_file);
	tcase_add_test(tc, test_services_check);
	tcase_add_test(tc, test_services_none);
	tcase_add_loop_test(tc, test_services_bad, 0, NITEMS(services_bad));
	tcase_add_test(tc, test_services_default);
	tcase_add_test(tc, test_services_inherit);
	tcase_add_test(tc, test_services_cli);
	tcase_add_test(tc, test_services_cli_over_file);
	tcase_add_loop_test(tc, test_services_cli_bad, 0, NITEMS(services_cli_bad));
	tcase_add_test(tc, test_services_max);
	tcase_add_test(tc, test_services_deferred);
	tcase_add_test(tc, test_services_contrib);
	tcase_add_test(tc, test_services_help);
	suite_add_tcase(s, tc);

	tc = tcase_create("edge");
	tcase_add_test(tc, test_edge_file);
	tcase_add_test(tc, test_edge_flags);
	tcase_add_loop_test(tc, test_edge_bad, 0, NITEMS(edge_bad));
	tcase_add_loop_test(tc, test_edge_cli_bad, 0, NITEMS(edge_cli_bad));
	tcase_add_test(tc, test_edge_contrib);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
