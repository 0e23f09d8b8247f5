/*
 * config: see config.h.
 *
 * One table (options[] below) describes every option once: its long flag,
 * which is also its config file key, its short flag, the kind of argument
 * it takes, where it is stored, its range and its help line. getopt_long's
 * tables, the --help text and the JSON key lookup are all derived from it,
 * and the command line and the file go through the same setter
 * (opt_set_text), so the two can never disagree about what a value means.
 *
 * Every setter parses into temporaries and only then replaces the old
 * value, so a struct config is consistent (and freeable) after any error.
 *
 * Services: the same setters fill a service's own struct config (made
 * zeroed by service_open, from the file's "services" or a --service
 * section), and cfg->given records which options each one set, so that
 * cfg_validate can give a service the top level's value of every other
 * tunable once all flags are applied, and refuse a top-level listen or
 * target next to services.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/duration.h"
#include "common/file.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/service.h"
#include "common/token.h"
#include "config.h"
#include "core/jsondup.h"
#include "core/net.h"
#include "proxy/proxy.h"
#include "proxy/sni.h"
#include "registry/balance.h"

#ifndef HARMONY_WEBDIR
#define HARMONY_WEBDIR		"/usr/local/share/harmony/web"
#endif

#define NITEMS(a)		(sizeof(a) / sizeof((a)[0]))

#define CFG_FILE_MAX		(1024 * 1024)	/* config and unavailable files */
#define CFG_JSON_DEPTH		8		/* object > array > string is 2 */
/* Not JSON_TOKENER_STRICT: that would refuse comments. */
#define CFG_JSON_FLAGS		JSON_TOKENER_VALIDATE_UTF8
#define CFG_LIST_MAX		4096		/* --target and --allow entries */
#define CFG_REASON_MAX		512

/* What an option takes, and so how text and JSON values are turned into it. */
enum cfg_kind {
	K_STRING,	/* char *, non-empty */
	K_LISTEN,	/* char *, "[ADDR:]PORT[,...]", resolved by cfg_validate */
	K_LISTEN_OFF,	/* same, and "0" disables the listener */
	K_DURATION,	/* int64_t milliseconds, in [min, max] */
	K_INT,		/* int64_t, in [min, max] */
	K_BOOL,		/* bool: the flag sets it, JSON gives true or false */
	K_BOOL_OFF,	/* command line only: clears that bool */
	K_LEVEL,	/* int: enum log_level */
	K_BALANCE,	/* int: enum balance_algo */
	K_TARGET,	/* appends to targets */
	K_CIDR,		/* appends to allow */
	K_HOSTNAME,	/* appends to admin_hosts */
	K_TEXT,		/* unavailable, escapes decoded */
	K_TEXT_FILE,	/* unavailable, from a file */
	K_TOKEN,
	K_TOKEN_FILE,
	K_SVCNAME,	/* char *, a service name (common/service.h) */
	K_CHECK,	/* check: TYPE[:PATH], or a JSON object */
	K_PROXYVER,	/* int: off, v1, v2 (0, 1, 2) */
	K_CIDRS,	/* accept_proxy: a comma list (JSON: also an array) */
	K_SNI,		/* appends NAME=SERVICE to sni (JSON: an object) */
	K_SNIDEF,	/* char *: close, or a service name */
	/* The kinds below are command line only. */
	K_CONFIG,
	K_SERVICE,	/* opens a section: see cfg_parse_args_ex */
	K_TAKEOVER,
	K_VERBOSE,
	K_QUIET,
	K_HELP,
	K_VERSION,
};

struct cfg_option {
	const char	*name;		/* long flag and JSON key */
	int		 shortopt;	/* 0: none */
	enum cfg_kind	 kind;
	const char	*arg;		/* metavariable; NULL: takes no argument */
	size_t		 off;		/* field, for the generic kinds */
	int64_t		 min, max;	/* K_INT and K_DURATION (ms) */
	const char	*help;		/* with the default */
};

#define F(field)	offsetof(struct config, field)
#define DUR_MAX		DURATION_MAX_MS

static const struct cfg_option options[] = {
	{ "config", 'c', K_CONFIG, "FILE", 0, 0, 0,
	    "JSON config file (comments allowed); flags override it" },
	{ "host", 0, K_STRING, "ADDR", F(host), 0, 0,
	    "bind address of listeners that give none (default: localhost)" },
	{ "service", 0, K_SERVICE, "NAME", 0, 0, 0,
	    "the per-service flags after it, up to the next --service, configure"
	    " the service NAME; the others stay daemon-wide" },
	{ "default", 0, K_SVCNAME, "NAME", F(default_service), 0, 0,
	    "the service of clients and routes that name none (default: the one"
	    " named default, else the only one)" },
	{ "listen", 0, K_LISTEN, "[ADDR:]PORT[,...]", F(listen), 0, 0,
	    "client traffic; a comma list listens on each (default: 3000)" },
	{ "ack-port", 0, K_LISTEN_OFF, "[ADDR:]PORT", F(ack_port), 0, 0,
	    "raw TCP registration; 0 disables (default: 1666)" },
	{ "http", 0, K_LISTEN_OFF, "[ADDR:]PORT", F(http), 0, 0,
	    "admin HTTP: REST, dashboard, metrics; 0 disables (default: 1667)" },
	{ "target", 0, K_TARGET, "HOST:PORT[@WEIGHT]", 0, 0, 0,
	    "static target that never expires; weight 1..1000000 (default: 500);"
	    " repeatable" },
	{ "balance", 0, K_BALANCE, "ALGO", F(balance), 0, 0,
	    "leastconn, roundrobin or hash (default: leastconn)" },
	{ "persistent", 0, K_BOOL, NULL, F(persistent), 0, 0,
	    "keep a client address on its target (default)" },
	{ "no-persistent", 0, K_BOOL_OFF, NULL, F(persistent), 0, 0,
	    "pick a target for every connection" },
	{ "persist-ttl", 0, K_DURATION, "DUR", F(persist_ttl_ms), 1, DUR_MAX,
	    "forget an idle persistence entry after this (default: 30m)" },
	{ "persist-max", 0, K_INT, "N", F(persist_max), 1, 100000000,
	    "persistence entries; least recently used are evicted"
	    " (default: 100000)" },
	{ "concurrency", 0, K_INT, "N", F(concurrency),
	    CFG_CONCURRENCY_MIN, CFG_CONCURRENCY_MAX,
	    "sessions at once; -1 unlimited, 0 paused (default: -1)" },
	{ "queue-max", 0, K_INT, "N", F(queue_max), 0, 10000000,
	    "clients waiting for a slot (default: 1024)" },
	{ "queue-timeout", 0, K_DURATION, "DUR", F(queue_timeout_ms), 1, DUR_MAX,
	    "a queued client gets the unavailable text after this (default: 30s)" },
	{ "requeue", 0, K_INT, "N", F(requeue), 0, CFG_REQUEUE_MAX,
	    "other targets tried after a failed connect (default: 1)" },
	{ "unavailable", 0, K_TEXT, "TEXT", 0, 0, 0,
	    "sent when nothing can serve; escapes \\r \\n \\t \\\\ \\xHH" },
	{ "unavailable-file", 0, K_TEXT_FILE, "FILE", 0, 0, 0,
	    "the same, from a file of at most 1 MiB" },
	{ "host-timeout", 0, K_DURATION, "DUR", F(host_timeout_ms), 1, DUR_MAX,
	    "a target that has not acked for this long is down (default: 1m)" },
	{ "connect-timeout", 0, K_DURATION, "DUR", F(connect_timeout_ms), 1,
	    DUR_MAX, "connect to a target, then requeue (default: 5s)" },
	{ "idle-timeout", 0, K_DURATION, "DUR", F(idle_timeout_ms), 0, DUR_MAX,
	    "close a session idle both ways; 0 never (default: 10m)" },
	{ "check", 0, K_CHECK, "TYPE[:PATH]", 0, 0, 0,
	    "health check of every target: tcp, http (GET PATH, default /,"
	    " status 200-399), send-expect or none (default: none)" },
	{ "check-interval", 0, K_DURATION, "DUR", F(check.interval_ms), 1,
	    DUR_MAX, "time between two checks of a target, with jitter"
	    " (default: 2s)" },
	{ "check-timeout", 0, K_DURATION, "DUR", F(check.timeout_ms), 1,
	    DUR_MAX, "a check not done in this time failed; at most the"
	    " interval (default: 1s)" },
	{ "check-rise", 0, K_INT, "N", F(check.rise), 1, CHECK_RISE_MAX,
	    "checks passed in a row that make a failing target pass"
	    " (default: 2)" },
	{ "check-fall", 0, K_INT, "N", F(check.fall), 1, CHECK_RISE_MAX,
	    "checks failed in a row that make a target fail (default: 3)" },
	{ "check-port", 0, K_INT, "PORT", F(check.port), 0, 65535,
	    "check this port instead of the target's; 0 its own (default: 0)" },
	{ "check-send-proxy", 0, K_BOOL, NULL, F(check.send_proxy), 0, 0,
	    "checks send a PROXY header first (LOCAL), in the --send-proxy"
	    " version, v1 if that is off" },
	{ "slow-start", 0, K_DURATION, "DUR", F(slow_start_ms), 0, DUR_MAX,
	    "a target that becomes choosable ramps from a tenth of its weight"
	    " to all of it over this; 0 off (default: 0)" },
	{ "send-proxy", 0, K_PROXYVER, "off|v1|v2", F(send_proxy), 0, 0,
	    "send a PROXY protocol header to every target connection, telling"
	    " the client's address (default: off)" },
	{ "accept-proxy", 0, K_CIDRS, "CIDR[,...]", 0, 0, 0,
	    "every client must come from one of these networks and start with"
	    " a PROXY header (v1 or v2), whose address is the client's; \"\""
	    " off (default)" },
	{ "sni", 0, K_SNI, "NAME=SERVICE", 0, 0, 0,
	    "route TLS clients by the server name of their ClientHello; NAME"
	    " exact or *.suffix; repeatable (file: an object)" },
	{ "sni-default", 0, K_SNIDEF, "SERVICE|close", F(sni_default), 0, 0,
	    "where a ClientHello without a mapped name goes (default: this"
	    " service)" },
	{ "inspect-timeout", 0, K_DURATION, "DUR", F(inspect_timeout_ms), 1,
	    DUR_MAX, "the PROXY header and the ClientHello must arrive within"
	    " this (default: 5s)" },
	{ "inspect-max", 0, K_INT, "BYTES", F(inspect_max), CFG_INSPECT_MAX_MIN,
	    CFG_INSPECT_MAX_MAX, "bytes of ClientHello read at most"
	    " (default: 16384)" },
	{ "grace", 0, K_DURATION, "DUR", F(grace_ms), 0, DUR_MAX,
	    "on SIGTERM, let sessions finish for this long (default: 10s)" },
	{ "token", 0, K_TOKEN, "TOKEN", 0, 0, 0,
	    "shared secret for registration and every write" },
	{ "token-file", 0, K_TOKEN_FILE, "FILE", 0, 0, 0,
	    "the same, read from FILE (not visible in ps)" },
	{ "allow", 0, K_CIDR, "CIDR", 0, 0, 0,
	    "without a token, also accept writes from CIDR (loopback always);"
	    " repeatable" },
	{ "admin-host", 0, K_HOSTNAME, "NAME", 0, 0, 0,
	    "a name the admin interface answers to (Host header), besides its"
	    " listen address and loopback; repeatable" },
	{ "web-root", 0, K_STRING, "DIR", F(web_root), 0, 0,
	    "dashboard files (default: " HARMONY_WEBDIR "; run from its build"
	    " tree, the source tree's web/)" },
	{ "state-file", 0, K_STRING, "FILE", F(state_file), 0, 0,
	    "keep targets and persistence across restarts" },
	{ "access-log", 0, K_STRING, "FILE", F(access_log), 0, 0,
	    "one line per finished session; - is stdout" },
	{ "takeover", 0, K_TAKEOVER, "PID", F(takeover_pid), 1, INT32_MAX,
	    "take over from the harmonyd PID (its ports and state file):"
	    " see harmonyd-restart.sh" },
	{ "log-level", 0, K_LEVEL, "LEVEL", F(log_level), 0, 0,
	    "debug, info, warn or error (default: info)" },
	{ "verbose", 'v', K_VERBOSE, NULL, 0, 0, 0, "same as --log-level debug" },
	{ "quiet", 'q', K_QUIET, NULL, 0, 0, 0, "same as --log-level error" },
	{ "help", 'h', K_HELP, NULL, 0, 0, 0, "print this help and exit" },
	{ "version", 'V', K_VERSION, NULL, 0, 0, 0, "print the version and exit" },
};

#undef F
#undef DUR_MAX

/* getopt_long returns this plus the table index for long options. */
#define OPT_LONG_BASE	256

static bool
opt_cli_only(const struct cfg_option *o)
{
	return o->kind >= K_CONFIG || o->kind == K_BOOL_OFF;
}

static bool
opt_is_list(const struct cfg_option *o)
{
	return o->kind == K_TARGET || o->kind == K_CIDR || o->kind == K_HOSTNAME ||
	    o->kind == K_SNI;
}

static char **
opt_str(struct config *cfg, const struct cfg_option *o)
{
	return (char **)(void *)((char *)cfg + o->off);
}

static int64_t *
opt_i64(struct config *cfg, const struct cfg_option *o)
{
	return (int64_t *)(void *)((char *)cfg + o->off);
}

static int *
opt_int(struct config *cfg, const struct cfg_option *o)
{
	return (int *)(void *)((char *)cfg + o->off);
}

static bool *
opt_bool(struct config *cfg, const struct cfg_option *o)
{
	return (bool *)(void *)((char *)cfg + o->off);
}

static const struct cfg_option *
opt_find(const char *name)
{
	for (size_t i = 0; i < NITEMS(options); i++)
		if (strcmp(options[i].name, name) == 0)
			return &options[i];
	return NULL;
}

/* A service may set it (CFG_SERVICE_KEYS, and --no-persistent). */
static bool
opt_per_service(const struct cfg_option *o)
{
	const char *name = o->name, *p = CFG_SERVICE_KEYS;
	size_t n, k;

	if (o->kind == K_BOOL_OFF && strncmp(name, "no-", 3) == 0)
		name += 3;
	n = strlen(name);
	while (*(p += strspn(p, ", ")) != '\0') {
		k = strcspn(p, ", ");
		if (k == n && strncmp(p, name, n) == 0)
			return true;
		p += k;
	}
	return false;
}

/*
 * What cfg->given records, by options[] index: whether a file or a flag
 * set the option (a service inherits what it did not set; with services
 * the top level may not set listen or target). --no-persistent counts as
 * --persistent: both set the one field.
 */
_Static_assert(NITEMS(options) <= 64, "cfg->given has 64 bits");

static uint64_t
opt_bit(const struct cfg_option *o)
{
	if (o->kind == K_BOOL_OFF)
		for (size_t i = 0; i < NITEMS(options); i++)
			if (options[i].kind == K_BOOL && options[i].off == o->off)
				return UINT64_C(1) << i;
	return UINT64_C(1) << (o - options);
}

static void
opt_mark(struct config *cfg, const struct cfg_option *o)
{
	cfg->given |= opt_bit(o);
}

static bool
opt_given(const struct config *cfg, const char *name)
{
	const struct cfg_option *o = opt_find(name);

	return o != NULL && (cfg->given & opt_bit(o)) != 0;
}

/* A name for an error message: at most 64 bytes, printable. */
static const char *
name_shown(const char *name, char *buf, size_t len)
{
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < len && i <= SERVICE_NAME_MAX; i++)
		buf[i] = isprint((unsigned char)name[i]) ? name[i] : '?';
	buf[i] = '\0';
	return buf;
}

#define SERVICE_NAME_RULE	"lowercase letters, digits, '_' and '-', 1 to 63" \
	" bytes, starting with a letter or digit"

static int
check_service_name(const char *name, char *err, size_t errlen)
{
	char shown[SERVICE_NAME_MAX + 2];

	if (service_name_valid(name, strlen(name)))
		return 0;
	snprintf(err, errlen, "bad service name '%s' (%s)",
	    name_shown(name, shown, sizeof(shown)), SERVICE_NAME_RULE);
	return -1;
}

/* file_read (common/file.h), with err as "path: reason". */
static int
read_file(const char *path, size_t max, char **out, size_t *outlen, char *err,
    size_t errlen)
{
	char reason[CFG_REASON_MAX];

	if (file_read(path, max, 0, out, outlen, reason, sizeof(reason)) == -1) {
		snprintf(err, errlen, "%s: %s", path, reason);
		return -1;
	}
	return 0;
}

/* strtoll on the whole string, no leading blanks, within [min, max]. */
static int
parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	long long v;
	char *end;

	if (*s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* cfg_parse_target; a host name is only recorded unless dns. */
static int
parse_target(const char *s, struct cfg_target *t, bool dns, char *err,
    size_t errlen)
{
	char hostport[320];
	const char *at = strrchr(s, '@');
	size_t n = at != NULL ? (size_t)(at - s) : strlen(s);
	int64_t weight = LIMIT_WEIGHT_DEFAULT;

	if (n >= sizeof(hostport)) {
		snprintf(err, errlen, "target too long");
		return -1;
	}
	memcpy(hostport, s, n);
	hostport[n] = '\0';
	if (at != NULL &&
	    parse_int(at + 1, LIMIT_WEIGHT_MIN, LIMIT_WEIGHT_MAX, &weight) == -1) {
		snprintf(err, errlen, "bad weight '%s' (%d..%d)", at + 1,
		    LIMIT_WEIGHT_MIN, LIMIT_WEIGHT_MAX);
		return -1;
	}
	memset(t, 0, sizeof(*t));
	switch (net_parse_hostport_numeric(hostport, &t->addr, t->name, &t->port,
	    err, errlen)) {
	case -1:
		return -1;
	case 1:
		if (dns && net_resolve(t->name, t->port, &t->addr, err, errlen) == -1)
			return -1;
		break;
	default:
		break;
	}
	t->weight = (uint32_t)weight;
	return 0;
}

int
cfg_parse_target(const char *s, struct cfg_target *t, char *err, size_t errlen)
{
	return parse_target(s, t, true, err, errlen);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
cfg_unescape(const char *s, char **out, size_t *outlen, char *err, size_t errlen)
{
	char *buf, *d;
	int hi, lo;

	/* Decoding only shrinks the text. */
	if ((buf = malloc(strlen(s) + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (d = buf; *s != '\0'; s++) {
		if (*s != '\\') {
			*d++ = *s;
			continue;
		}
		switch (*++s) {
		case 'r':
			*d++ = '\r';
			break;
		case 'n':
			*d++ = '\n';
			break;
		case 't':
			*d++ = '\t';
			break;
		case '\\':
			*d++ = '\\';
			break;
		case 'x':
			if ((hi = hexval((unsigned char)s[1])) == -1 ||
			    (lo = hexval((unsigned char)s[2])) == -1) {
				snprintf(err, errlen, "\\x needs two hex digits");
				goto fail;
			}
			*d++ = (char)(hi << 4 | lo);
			s += 2;
			break;
		case '\0':
			snprintf(err, errlen, "trailing backslash");
			goto fail;
		default:
			if (isprint((unsigned char)*s))
				snprintf(err, errlen, "unknown escape '\\%c'", *s);
			else
				snprintf(err, errlen, "unknown escape '\\\\x%02x'",
				    (unsigned char)*s);
			goto fail;
		}
	}
	*d = '\0';
	*out = buf;
	*outlen = (size_t)(d - buf);
	return 0;
fail:
	free(buf);
	return -1;
}

/* token_valid (common/token.h says why), with a reason for each case. */
static int
check_token(const char *tok, size_t len, char *err, size_t errlen)
{
	if (len == 0) {
		snprintf(err, errlen, "empty token");
		return -1;
	}
	if (len > LIMIT_TOKEN_MAX) {
		snprintf(err, errlen, "token longer than %d bytes", LIMIT_TOKEN_MAX);
		return -1;
	}
	if (!token_valid(tok, len, LIMIT_TOKEN_MAX)) {
		snprintf(err, errlen, "token may only hold printable"
		    " ASCII other than ':' and space");
		return -1;
	}
	return 0;
}

static int
set_string(char **field, const char *s, char *err, size_t errlen)
{
	char *copy;

	if ((copy = strdup(s)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	free(*field);
	*field = copy;
	return 0;
}

/*
 * The entries a list of n has room for (4 at least): lists grow by
 * doubling, so that 4096 targets are not 4096 copies of a growing array.
 * Every list that list_grow grows is made by it or by list_dup.
 */
static size_t
list_cap(size_t n)
{
	size_t cap = 4;

	while (cap < n)
		cap *= 2;
	return cap;
}

/* A copy of n entries of sz bytes, with list_grow's room; NULL on ENOMEM. */
static void *
list_dup(const void *list, size_t n, size_t sz)
{
	void *copy;

	if ((copy = calloc(list_cap(n), sz)) == NULL)
		return NULL;
	memcpy(copy, list, n * sz);
	return copy;
}

/* Room for one more element of size sz after the n in list. */
static void *
list_grow(void *list, size_t n, size_t sz, char *err, size_t errlen)
{
	void *grown;

	if (n >= CFG_LIST_MAX) {
		snprintf(err, errlen, "more than %d entries", CFG_LIST_MAX);
		return NULL;
	}
	/* Room left: a list of n always has list_cap(n) entries. */
	if (list != NULL && list_cap(n + 1) == list_cap(n))
		return list;
	if ((grown = realloc(list, list_cap(n + 1) * sz)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return grown;
}

/*
 * A DNS name or an IP address (IPv6 without brackets), kept lower case
 * without a final dot, as api_host_ok compares them.
 */
static int
add_hostname(struct config *cfg, const char *text, char *err, size_t errlen)
{
	unsigned char buf[sizeof(struct in6_addr)];
	size_t len = strlen(text);
	char *name, **grown;

	if (len > 0 && text[len - 1] == '.')
		len--;
	if (len == 0 || len > 253) {
		snprintf(err, errlen, "bad name '%s'", text);
		return -1;
	}
	if ((name = strndup(text, len)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
		    c == ':')) {
			snprintf(err, errlen, "bad name '%s': letters, digits,"
			    " '-', '.', '_' only (IPv6 without brackets)", text);
			free(name);
			return -1;
		}
		if (c >= 'A' && c <= 'Z')
			name[i] = (char)(c - 'A' + 'a');
	}
	if (strchr(name, ':') != NULL && inet_pton(AF_INET6, name, buf) != 1) {
		snprintf(err, errlen, "bad name '%s'", text);
		free(name);
		return -1;
	}
	if ((grown = list_grow(cfg->admin_hosts, cfg->nadmin_hosts,
	    sizeof(*grown), err, errlen)) == NULL) {
		free(name);
		return -1;
	}
	cfg->admin_hosts = grown;
	cfg->admin_hosts[cfg->nadmin_hosts++] = name;
	return 0;
}

static void
sni_clear(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nsni; i++) {
		free(cfg->sni[i].pattern);
		free(cfg->sni[i].service);
	}
	free(cfg->sni);
	cfg->sni = NULL;
	cfg->nsni = 0;
}

/* One "sni" entry; a pattern given twice (in any case) is refused. */
static int
sni_add(struct config *cfg, const char *pattern, const char *service,
    char *err, size_t errlen)
{
	char shown[SNI_NAME_MAX + 2];
	struct cfg_sni *grown;
	const char *why = NULL;
	char *p, *v;

	if (!sni_pattern_valid(pattern, &why)) {
		snprintf(err, errlen, "bad server name '%s': %s",
		    name_shown(pattern, shown, sizeof(shown)),
		    why != NULL ? why : "invalid");
		return -1;
	}
	if (check_service_name(service, err, errlen) == -1)
		return -1;
	for (size_t i = 0; i < cfg->nsni; i++)
		if (strcasecmp(cfg->sni[i].pattern, pattern) == 0) {
			snprintf(err, errlen, "server name '%s' given twice", pattern);
			return -1;
		}
	if ((grown = list_grow(cfg->sni, cfg->nsni, sizeof(*grown), err,
	    errlen)) == NULL)
		return -1;
	cfg->sni = grown;
	if ((p = strdup(pattern)) == NULL || (v = strdup(service)) == NULL) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cfg->sni[cfg->nsni++] = (struct cfg_sni){ .pattern = p, .service = v };
	return 0;
}

/* --sni NAME=SERVICE */
static int
sni_set_text(struct config *cfg, const char *text, char *err, size_t errlen)
{
	const char *eq = strrchr(text, '=');
	char pattern[SNI_NAME_MAX + 2];
	size_t n = eq != NULL ? (size_t)(eq - text) : 0;

	if (eq == NULL || n == 0 || n >= sizeof(pattern)) {
		snprintf(err, errlen, "expected NAME=SERVICE");
		return -1;
	}
	memcpy(pattern, text, n);
	pattern[n] = '\0';
	return sni_add(cfg, pattern, eq + 1, err, errlen);
}

/* "10.0.0.0/8,::1" replaces the list; "" empties it (accept-proxy off). */
static int
cidrs_set_text(struct config *cfg, const char *text, char *err, size_t errlen)
{
	char item[128], reason[CFG_REASON_MAX];
	struct net_cidr *list = NULL, *grown;
	const char *p = text;
	size_t n = 0, k;

	while (*p != '\0') {
		k = strcspn(p, ",");
		if (k == 0 || k >= sizeof(item)) {
			snprintf(err, errlen, "bad network list '%s'", text);
			goto fail;
		}
		memcpy(item, p, k);
		item[k] = '\0';
		if (net_parse_cidr(item, &(struct net_cidr){ 0 }, reason,
		    sizeof(reason)) == -1) {
			snprintf(err, errlen, "%s", reason);
			goto fail;
		}
		if ((grown = list_grow(list, n, sizeof(*grown), err, errlen)) == NULL)
			goto fail;
		list = grown;
		(void)net_parse_cidr(item, &list[n++], reason, sizeof(reason));
		p += k;
		if (*p == ',' && *++p == '\0') {
			snprintf(err, errlen, "bad network list '%s'", text);
			goto fail;
		}
	}
	free(cfg->accept_proxy);
	cfg->accept_proxy = list;
	cfg->naccept_proxy = n;
	return 0;
fail:
	free(list);
	return -1;
}

static void
opt_clear(struct config *cfg, const struct cfg_option *o)
{
	if (o->kind == K_TARGET) {
		free(cfg->targets);
		cfg->targets = NULL;
		cfg->ntargets = 0;
	} else if (o->kind == K_CIDR) {
		free(cfg->allow);
		cfg->allow = NULL;
		cfg->nallow = 0;
	} else if (o->kind == K_HOSTNAME) {
		for (size_t i = 0; i < cfg->nadmin_hosts; i++)
			free(cfg->admin_hosts[i]);
		free(cfg->admin_hosts);
		cfg->admin_hosts = NULL;
		cfg->nadmin_hosts = 0;
	} else if (o->kind == K_SNI) {
		sni_clear(cfg);
	}
}

static int
store_i64(struct config *cfg, const struct cfg_option *o, int64_t v, char *err,
    size_t errlen)
{
	/* json-c saturates what int64_t cannot hold: don't echo that. */
	if (v == INT64_MIN || v == INT64_MAX) {
		snprintf(err, errlen, "number out of range (%lld..%lld)",
		    (long long)o->min, (long long)o->max);
		return -1;
	}
	if (v < o->min || v > o->max) {
		snprintf(err, errlen, "%lld is out of range (%lld..%lld)",
		    (long long)v, (long long)o->min, (long long)o->max);
		return -1;
	}
	*opt_i64(cfg, o) = v;
	return 0;
}

static int
store_duration(struct config *cfg, const struct cfg_option *o, int64_t ms,
    char *err, size_t errlen)
{
	/* The only lower bounds are 0 and 1 ms: say it in words. */
	if (ms < o->min) {
		snprintf(err, errlen, "must be more than 0");
		return -1;
	}
	*opt_i64(cfg, o) = ms;
	return 0;
}

/* "tcp", "http", "http:/health", "send-expect", "none". */
static int
check_set_text(struct check_params *c, const char *text, char *err,
    size_t errlen)
{
	const char *colon = strchr(text, ':');
	char type[16];
	enum check_type t;
	size_t n = colon != NULL ? (size_t)(colon - text) : strlen(text);

	if (n >= sizeof(type) || (memcpy(type, text, n), type[n] = '\0',
	    check_type_parse(type, &t) == -1)) {
		snprintf(err, errlen, "bad check '%s' (tcp, http[:PATH],"
		    " send-expect, none)", text);
		return -1;
	}
	if (colon != NULL) {
		if (t != CHECK_HTTP || colon[1] != '/' ||
		    strlen(colon + 1) >= sizeof(c->path)) {
			snprintf(err, errlen, "bad check '%s': only http takes"
			    " a path, /..., under %zu bytes", text, sizeof(c->path));
			return -1;
		}
		snprintf(c->path, sizeof(c->path), "%s", colon + 1);
	}
	c->type = (int)t;
	return 0;
}

/*
 * --unavailable and --unavailable-file (likewise --token and --token-file)
 * fill the same field. Whichever comes second, from the file or the flags,
 * finds the other one's value (a set *_file means the field came from a
 * file) and refuses it, so "both given" is an error in any order.
 */
static int
set_text(struct config *cfg, const char *s, bool from_file, char *err,
    size_t errlen)
{
	char *buf, *path = NULL;
	size_t len;

	if (cfg->unavailable != NULL && from_file == (cfg->unavailable_file == NULL)) {
		snprintf(err, errlen, "--unavailable and --unavailable-file are"
		    " mutually exclusive");
		return -1;
	}
	if (from_file) {
		if (read_file(s, CFG_FILE_MAX, &buf, &len, err, errlen) == -1)
			return -1;
		if ((path = strdup(s)) == NULL) {
			free(buf);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	} else if (cfg_unescape(s, &buf, &len, err, errlen) == -1)
		return -1;
	free(cfg->unavailable);
	free(cfg->unavailable_file);
	cfg->unavailable = buf;
	cfg->unavailable_len = len;
	cfg->unavailable_file = path;
	return 0;
}

static int
set_token(struct config *cfg, const char *s, bool from_file, char *err,
    size_t errlen)
{
	char *buf, *path = NULL;
	size_t len;

	if (cfg->token != NULL && from_file == (cfg->token_file == NULL)) {
		snprintf(err, errlen, "--token and --token-file are mutually"
		    " exclusive");
		return -1;
	}
	if (from_file) {
		if (read_file(s, TOKEN_FILE_MAX, &buf, &len, err, errlen) == -1)
			return -1;
		len = token_file_text(buf, len);
		if (check_token(buf, len, err, errlen) == -1) {
			explicit_bzero(buf, len);
			free(buf);
			return -1;
		}
		if ((path = strdup(s)) == NULL) {
			explicit_bzero(buf, len);
			free(buf);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	} else {
		len = strlen(s);
		if (check_token(s, len, err, errlen) == -1)
			return -1;
		if ((buf = strdup(s)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	if (cfg->token != NULL)
		explicit_bzero(cfg->token, strlen(cfg->token));
	free(cfg->token);
	free(cfg->token_file);
	cfg->token = buf;
	cfg->token_file = path;
	return 0;
}

/*
 * The one setter behind both the command line and the config file. text
 * is NULL for options that take no argument. err gets the reason only;
 * callers say which flag or key it was.
 */
static int
opt_set_text(struct config *cfg, const struct cfg_option *o, const char *text,
    char *err, size_t errlen)
{
	struct cfg_target t;
	struct cfg_cidr c;
	enum log_level level;
	enum balance_algo algo;
	void *grown;
	int64_t v;

	switch (o->kind) {
	case K_STRING:
	case K_LISTEN:
	case K_LISTEN_OFF:
		if (*text == '\0') {
			snprintf(err, errlen, "empty value");
			return -1;
		}
		return set_string(opt_str(cfg, o), text, err, errlen);
	case K_DURATION:
		if (duration_parse(text, DURATION_MAX_MS, &v, err, errlen) == -1)
			return -1;
		return store_duration(cfg, o, v, err, errlen);
	case K_INT:
		if (parse_int(text, o->min, o->max, &v) == -1) {
			snprintf(err, errlen, "bad number '%s' (%lld..%lld)", text,
			    (long long)o->min, (long long)o->max);
			return -1;
		}
		*opt_i64(cfg, o) = v;
		return 0;
	case K_BOOL:
		*opt_bool(cfg, o) = true;
		return 0;
	case K_BOOL_OFF:
		*opt_bool(cfg, o) = false;
		return 0;
	case K_LEVEL:
		if (log_level_parse(text, &level) == -1) {
			snprintf(err, errlen, "bad level '%s' (debug, info, warn,"
			    " error)", text);
			return -1;
		}
		*opt_int(cfg, o) = (int)level;
		return 0;
	case K_BALANCE:
		if (balance_algo_parse(text, &algo) == -1) {
			snprintf(err, errlen, "bad algorithm '%s' (leastconn,"
			    " roundrobin, hash)", text);
			return -1;
		}
		*opt_int(cfg, o) = (int)algo;
		return 0;
	case K_TARGET:
		if (parse_target(text, &t, !cfg->defer_names, err, errlen) == -1 ||
		    (grown = list_grow(cfg->targets, cfg->ntargets, sizeof(t),
		    err, errlen)) == NULL)
			return -1;
		cfg->targets = grown;
		cfg->targets[cfg->ntargets++] = t;
		return 0;
	case K_CIDR:
		if (net_parse_cidr(text, &c.net, err, errlen) == -1 ||
		    (grown = list_grow(cfg->allow, cfg->nallow, sizeof(c), err,
		    errlen)) == NULL)
			return -1;
		cfg->allow = grown;
		cfg->allow[cfg->nallow++] = c;
		return 0;
	case K_HOSTNAME:
		return add_hostname(cfg, text, err, errlen);
	case K_TEXT:
		return set_text(cfg, text, false, err, errlen);
	case K_TEXT_FILE:
		return set_text(cfg, text, true, err, errlen);
	case K_TOKEN:
		return set_token(cfg, text, false, err, errlen);
	case K_TOKEN_FILE:
		return set_token(cfg, text, true, err, errlen);
	case K_CHECK:
		return check_set_text(&cfg->check, text, err, errlen);
	case K_PROXYVER:
		if (strcmp(text, "off") == 0)
			*opt_int(cfg, o) = 0;
		else if (strcmp(text, "v1") == 0)
			*opt_int(cfg, o) = 1;
		else if (strcmp(text, "v2") == 0)
			*opt_int(cfg, o) = 2;
		else {
			snprintf(err, errlen, "bad version '%s' (off, v1, v2)", text);
			return -1;
		}
		return 0;
	case K_CIDRS:
		return cidrs_set_text(cfg, text, err, errlen);
	case K_SNI:
		return sni_set_text(cfg, text, err, errlen);
	case K_SNIDEF:
		if (strcmp(text, CFG_SNI_CLOSE) != 0 &&
		    check_service_name(text, err, errlen) == -1)
			return -1;
		return set_string(opt_str(cfg, o), text, err, errlen);
	case K_SVCNAME:
		if (check_service_name(text, err, errlen) == -1)
			return -1;
		return set_string(opt_str(cfg, o), text, err, errlen);
	case K_VERBOSE:
		cfg->log_level = LOG_LEVEL_DEBUG;
		return 0;
	case K_QUIET:
		cfg->log_level = LOG_LEVEL_ERROR;
		return 0;
	case K_CONFIG:
		return set_string(&cfg->config_file, text, err, errlen);
	case K_TAKEOVER:
		if (parse_int(text, o->min, o->max, &v) == -1) {
			snprintf(err, errlen, "bad pid '%s'", text);
			return -1;
		}
		*opt_i64(cfg, o) = v;
		return 0;
	case K_SERVICE:
	case K_HELP:
	case K_VERSION:
		break;
	}
	return 0;
}

/* A JSON string, refusing an embedded NUL that C would silently cut. */
static const char *
json_text(struct json_object *v)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	if (strlen(s) != (size_t)json_object_get_string_len(v))
		return NULL;
	return s;
}

/* A JSON port number as text. */
static int
json_port(struct json_object *v, char *num, size_t numlen, char *err,
    size_t errlen)
{
	int64_t i = json_object_get_int64(v);

	if (i < 0 || i > 65535) {
		snprintf(err, errlen, "bad port %lld", (long long)i);
		return -1;
	}
	snprintf(num, numlen, "%lld", (long long)i);
	return 0;
}

/*
 * "listen": [ 8080, "127.0.0.2:8080" ] is the text "8080,127.0.0.2:8080":
 * listen holds the comma list as given, cfg_validate splits it.
 * "accept-proxy": [ "10.0.0.0/8", "::1" ] likewise, [] is "" (off).
 */
static int
list_set_json(struct config *cfg, const struct cfg_option *o,
    struct json_object *v, char *err, size_t errlen)
{
	char reason[CFG_REASON_MAX], num[32], *text = NULL, *grown;
	size_t n = json_object_array_length(v), len = 0, add;
	bool listen = o->kind != K_CIDRS;
	const char *s;
	int rc = -1;

	if (n == 0 && listen) {
		snprintf(err, errlen, "%s: empty list", o->name);
		return -1;
	}
	for (size_t k = 0; k < n; k++) {
		struct json_object *e = json_object_array_get_idx(v, k);

		if (!listen) {
			if ((s = json_text(e)) == NULL || *s == '\0' ||
			    strchr(s, ',') != NULL) {
				snprintf(err, errlen, "%s[%zu]: expected a network"
				    " (\"10.0.0.0/8\", \"::1\")", o->name, k);
				goto out;
			}
		} else if (json_object_is_type(e, json_type_int)) {
			if (json_port(e, num, sizeof(num), reason,
			    sizeof(reason)) == -1) {
				snprintf(err, errlen, "%s[%zu]: %s", o->name, k,
				    reason);
				goto out;
			}
			s = num;
		} else if ((s = json_text(e)) == NULL) {
			snprintf(err, errlen, "%s[%zu]: expected a string or a"
			    " port number", o->name, k);
			goto out;
		}
		add = strlen(s) + 1;
		if ((grown = realloc(text, len + add + 1)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		text = grown;
		snprintf(text + len, add + 1, "%s%s", k > 0 ? "," : "", s);
		len += k > 0 ? add : add - 1;
	}
	if (opt_set_text(cfg, o, text != NULL ? text : "", reason,
	    sizeof(reason)) == -1) {
		snprintf(err, errlen, "%s: %s", o->name, reason);
		goto out;
	}
	rc = 0;
out:
	free(text);
	return rc;
}

static int	check_set_json(struct config *, struct json_object *, char *,
		    size_t);


/*
 * Applies one config file value. err gets the whole message, naming the
 * key (and the index within a list).
 */
static int
opt_set_json(struct config *cfg, const struct cfg_option *o,
    struct json_object *v, char *err, size_t errlen)
{
	char reason[CFG_REASON_MAX], num[32];
	const char *s = NULL, *want = "a string";
	int64_t i;
	double d;
	size_t n;

	switch (o->kind) {
	case K_CHECK:
		want = "a check object or a string (tcp, http[:PATH], send-expect)";
		if (json_object_is_type(v, json_type_null)) {
			cfg->check.type = CHECK_NONE;
			return 0;
		}
		if (json_object_is_type(v, json_type_object))
			return check_set_json(cfg, v, err, errlen);
		break;
	case K_BOOL:
		if (!json_object_is_type(v, json_type_boolean)) {
			want = "true or false";
			goto type;
		}
		*opt_bool(cfg, o) = json_object_get_boolean(v);
		return 0;
	case K_INT:
		/* get_int64 would also take 1.5, "12" and true: check first. */
		if (!json_object_is_type(v, json_type_int)) {
			want = "an integer";
			goto type;
		}
		/* Out-of-range numbers saturate to INT64_MIN/MAX: still out. */
		if (store_i64(cfg, o, json_object_get_int64(v), reason,
		    sizeof(reason)) == -1)
			goto bad;
		return 0;
	case K_DURATION:
		want = "a duration (\"30s\") or a number of seconds";
		if (json_object_is_type(v, json_type_int)) {
			i = json_object_get_int64(v);
			if (i < 0 || i > DURATION_MAX_MS / 1000) {
				snprintf(reason, sizeof(reason), "%lld seconds is"
				    " out of range (0..%lld)", (long long)i,
				    DURATION_MAX_MS / 1000);
				goto bad;
			}
			if (store_duration(cfg, o, i * 1000, reason,
			    sizeof(reason)) == -1)
				goto bad;
			return 0;
		}
		if (json_object_is_type(v, json_type_double)) {
			d = json_object_get_double(v);
			if (!isfinite(d) || d < 0 ||
			    d * 1000 > (double)DURATION_MAX_MS) {
				snprintf(reason, sizeof(reason), "%g seconds is"
				    " out of range (0..%lld)", d,
				    DURATION_MAX_MS / 1000);
				goto bad;
			}
			/* d is in range and not negative: +0.5 rounds, no libm. */
			if (store_duration(cfg, o, (int64_t)(d * 1000 + 0.5),
			    reason, sizeof(reason)) == -1)
				goto bad;
			return 0;
		}
		break;
	case K_LISTEN:
		if (json_object_is_type(v, json_type_array))
			return list_set_json(cfg, o, v, err, errlen);
		/* FALLTHROUGH */
	case K_LISTEN_OFF:
		/* "listen": 3000 is how anyone would write it in JSON. */
		want = "a string or a port number";
		if (json_object_is_type(v, json_type_int)) {
			if (json_port(v, num, sizeof(num), reason,
			    sizeof(reason)) == -1)
				goto bad;
			s = num;
		}
		break;
	case K_CIDRS:
		want = "a string or an array of strings";
		if (json_object_is_type(v, json_type_array))
			return list_set_json(cfg, o, v, err, errlen);
		break;
	case K_SNI:
		if (!json_object_is_type(v, json_type_object)) {
			want = "an object (server name -> service)";
			goto type;
		}
		sni_clear(cfg);
		json_object_object_foreach(v, name, val) {
			if ((s = json_text(val)) == NULL) {
				snprintf(err, errlen, "%s.%s: expected a service name",
				    o->name, name);
				return -1;
			}
			if (sni_add(cfg, name, s, reason, sizeof(reason)) == -1)
				goto bad;
		}
		return 0;
	case K_TARGET:
	case K_CIDR:
	case K_HOSTNAME:
		want = "a string or an array of strings";
		if (json_object_is_type(v, json_type_string))
			break;
		if (!json_object_is_type(v, json_type_array))
			goto type;
		/* A list in a file replaces the list, like a list flag does. */
		opt_clear(cfg, o);
		n = json_object_array_length(v);
		for (size_t k = 0; k < n; k++) {
			struct json_object *e = json_object_array_get_idx(v, k);
			if ((s = json_text(e)) == NULL) {
				snprintf(err, errlen, "%s[%zu]: expected a string",
				    o->name, k);
				return -1;
			}
			if (opt_set_text(cfg, o, s, reason, sizeof(reason)) == -1) {
				snprintf(err, errlen, "%s[%zu]: %s", o->name, k,
				    reason);
				return -1;
			}
		}
		return 0;
	default:
		break;
	}
	if (s == NULL && (s = json_text(v)) == NULL)
		goto type;
	if (opt_is_list(o))
		opt_clear(cfg, o);
	if (opt_set_text(cfg, o, s, reason, sizeof(reason)) == -1)
		goto bad;
	return 0;
type:
	snprintf(err, errlen, "%s: expected %s", o->name, want);
	return -1;
bad:
	snprintf(err, errlen, "%s: %s", o->name, reason);
	return -1;
}

/* "check.KEY" bytes (send, expect: escapes decoded), at most max. */
static int
check_bytes(const char *key, struct json_object *v, char *dst, size_t *len,
    size_t max, char *err, size_t errlen)
{
	char reason[CFG_REASON_MAX], *bytes;
	const char *s;
	size_t n;

	if ((s = json_text(v)) == NULL) {
		snprintf(err, errlen, "check.%s: expected a string", key);
		return -1;
	}
	if (cfg_unescape(s, &bytes, &n, reason, sizeof(reason)) == -1) {
		snprintf(err, errlen, "check.%s: %s", key, reason);
		return -1;
	}
	if (n > max || (len == NULL && (n == 0 || memchr(bytes, '\0', n) != NULL ||
	    strpbrk(bytes, " \r\n") != NULL))) {
		snprintf(err, errlen, "check.%s: %s", key, len != NULL ?
		    "too long" : "empty, too long, or has a blank, CR or LF");
		free(bytes);
		return -1;
	}
	memcpy(dst, bytes, n);
	if (len != NULL)
		*len = n;
	else
		dst[n] = '\0';
	free(bytes);
	return 0;
}

/* "200-399" or "200". */
static int
check_status(struct check_params *c, struct json_object *v, char *err,
    size_t errlen)
{
	const char *s = json_text(v);
	int64_t lo, hi;
	char buf[16], *dash;

	if (s != NULL && strlen(s) < sizeof(buf)) {
		snprintf(buf, sizeof(buf), "%s", s);
		if ((dash = strchr(buf, '-')) != NULL)
			*dash = '\0';
		if (parse_int(buf, 100, 999, &lo) == 0 && (dash == NULL ?
		    (hi = lo, 1) : parse_int(dash + 1, lo, 999, &hi) == 0)) {
			c->status_min = (int)lo;
			c->status_max = (int)hi;
			return 0;
		}
	}
	snprintf(err, errlen, "check.status: expected a status range such as"
	    " \"200-399\" (100..999)");
	return -1;
}

/*
 * "check": { "type": ..., "interval": ..., ... }. The keys that have a
 * flag of their own (interval: --check-interval) count as given with it,
 * so that a service inherits each of the others from the top level.
 */
static int
check_set_json(struct config *cfg, struct json_object *obj, char *err,
    size_t errlen)
{
	static const char *const flagged[][2] = {
		{ "interval", "check-interval" }, { "timeout", "check-timeout" },
		{ "rise", "check-rise" }, { "fall", "check-fall" },
		{ "port", "check-port" }, { "send-proxy", "check-send-proxy" },
	};
	struct check_params *c = &cfg->check;
	char reason[CFG_REASON_MAX];
	const struct cfg_option *o;
	const char *s;
	bool typed = false;

	json_object_object_foreach(obj, key, val) {
		o = NULL;
		for (size_t i = 0; i < NITEMS(flagged); i++)
			if (strcmp(key, flagged[i][0]) == 0)
				o = opt_find(flagged[i][1]);
		if (o != NULL) {
			if (opt_set_json(cfg, o, val, reason, sizeof(reason)) == -1) {
				/* reason is "check-KEY: why": say it as check.KEY. */
				snprintf(err, errlen, "check.%s", reason + 6);
				return -1;
			}
			opt_mark(cfg, o);
		} else if (strcmp(key, "type") == 0) {
			enum check_type t;

			if ((s = json_text(val)) == NULL ||
			    check_type_parse(s, &t) == -1) {
				snprintf(err, errlen, "check.type: expected tcp,"
				    " http, send-expect or none");
				return -1;
			}
			c->type = (int)t;
			typed = true;
		} else if (strcmp(key, "send") == 0) {
			if (check_bytes(key, val, c->send, &c->send_len,
			    sizeof(c->send), err, errlen) == -1)
				return -1;
		} else if (strcmp(key, "expect") == 0) {
			if (check_bytes(key, val, c->expect, &c->expect_len,
			    sizeof(c->expect), err, errlen) == -1)
				return -1;
		} else if (strcmp(key, "path") == 0 || strcmp(key, "host") == 0) {
			char *dst = key[0] == 'p' ? c->path : c->host;

			if (check_bytes(key, val, dst, NULL, CHECK_TEXT_MAX - 1,
			    err, errlen) == -1)
				return -1;
			if (key[0] == 'p' && dst[0] != '/') {
				snprintf(err, errlen, "check.path: must start with /");
				return -1;
			}
		} else if (strcmp(key, "status") == 0) {
			if (check_status(c, val, err, errlen) == -1)
				return -1;
		} else {
			snprintf(err, errlen, "check: unknown key '%s' (type, interval,"
			    " timeout, rise, fall, port, send, expect, path, status,"
			    " host, send-proxy)", key);
			return -1;
		}
	}
	if (!typed) {
		snprintf(err, errlen, "check.type: missing (tcp, http, send-expect"
		    " or none)");
		return -1;
	}
	if (c->type == CHECK_SEND_EXPECT && c->send_len == 0 && c->expect_len == 0) {
		snprintf(err, errlen, "check.expect: send-expect needs send or expect");
		return -1;
	}
	return 0;
}

/*
 * The default --web-root: the installed dashboard. Before `make install`
 * there is none, and a harmonyd run from its build tree (the binary at
 * HARMONY_BUILDDIR/src/harmonyd, by its real path) serves the source
 * tree's web/ instead. Any other binary, an installed one included, never
 * looks at the tree it was built in.
 */
static const char *
web_root_default(void)
{
#if defined(HARMONY_BUILDDIR) && defined(HARMONY_SRCDIR)
	char exe[PATH_MAX], built[PATH_MAX];
	ssize_t n;

	if (access(HARMONY_WEBDIR "/index.html", F_OK) == 0)
		return HARMONY_WEBDIR;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return HARMONY_WEBDIR;
	exe[n] = '\0';
	if (realpath(HARMONY_BUILDDIR "/src/harmonyd", built) != NULL &&
	    strcmp(exe, built) == 0 &&
	    access(HARMONY_SRCDIR "/web/index.html", F_OK) == 0)
		return HARMONY_SRCDIR "/web";
#endif
	return HARMONY_WEBDIR;
}

void
cfg_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	/* A failed strdup leaves NULL, which cfg_validate reports. */
	cfg->host = strdup("localhost");
	cfg->listen = strdup("3000");
	cfg->ack_port = strdup("1666");
	cfg->http = strdup("1667");
	cfg->web_root = strdup(web_root_default());
	cfg->balance = BALANCE_LEASTCONN;
	cfg->persistent = true;
	cfg->persist_ttl_ms = 30 * 60 * 1000;
	cfg->persist_max = 100000;
	cfg->concurrency = -1;
	cfg->queue_max = 1024;
	cfg->queue_timeout_ms = 30 * 1000;
	cfg->requeue = 1;
	cfg->host_timeout_ms = 60 * 1000;
	cfg->connect_timeout_ms = 5 * 1000;
	cfg->idle_timeout_ms = 10 * 60 * 1000;
	cfg->grace_ms = 10 * 1000;
	cfg->inspect_timeout_ms = 5 * 1000;
	cfg->inspect_max = SNI_INSPECT_MAX;
	cfg->log_level = LOG_LEVEL_INFO;
	check_params_default(&cfg->check);
}

/* Leaves cfg zeroed, so a second cfg_free is harmless. */
void
cfg_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	if (cfg->token != NULL)
		explicit_bzero(cfg->token, strlen(cfg->token));
	free(cfg->config_file);
	free(cfg->host);
	free(cfg->listen);
	free(cfg->ack_port);
	free(cfg->http);
	free(cfg->targets);
	free(cfg->unavailable);
	free(cfg->unavailable_file);
	free(cfg->token);
	free(cfg->token_file);
	free(cfg->allow);
	for (size_t i = 0; i < cfg->nadmin_hosts; i++)
		free(cfg->admin_hosts[i]);
	free(cfg->admin_hosts);
	free(cfg->web_root);
	free(cfg->state_file);
	free(cfg->access_log);
	free(cfg->listens);
	free(cfg->accept_proxy);
	sni_clear(cfg);
	free(cfg->sni_default);
	free(cfg->name);
	free(cfg->default_service);
	for (size_t i = 0; i < cfg->nservices; i++)
		cfg_free(&cfg->services[i]);
	free(cfg->services);
	memset(cfg, 0, sizeof(*cfg));
}

/* 1-based line of byte offset off, for parse errors. */
static unsigned
line_of(const char *text, size_t off)
{
	unsigned line = 1;

	for (size_t i = 0; i < off; i++)
		if (text[i] == '\n')
			line++;
	return line;
}

/* Forgets the services cfg_validate made of the top level. */
static void
services_drop(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nservices; i++)
		cfg_free(&cfg->services[i]);
	free(cfg->services);
	cfg->services = NULL;
	cfg->nservices = 0;
	cfg->default_index = 0;
	cfg->services_implicit = false;
}

/*
 * The index of the service name in cfg->services, added (zeroed: it holds
 * only what it sets, until cfg_validate) if it is not there yet.
 */
static int
service_open(struct config *cfg, const char *name, size_t *index, char *err,
    size_t errlen)
{
	struct config *grown;

	if (check_service_name(name, err, errlen) == -1)
		return -1;
	if (cfg->services_implicit)
		services_drop(cfg);
	for (size_t i = 0; i < cfg->nservices; i++)
		if (strcmp(cfg->services[i].name, name) == 0) {
			*index = i;
			return 0;
		}
	if (cfg->nservices >= CFG_SERVICES_MAX) {
		snprintf(err, errlen, "more than %d services", CFG_SERVICES_MAX);
		return -1;
	}
	if ((grown = realloc(cfg->services, (cfg->nservices + 1) *
	    sizeof(*grown))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cfg->services = grown;
	memset(&grown[cfg->nservices], 0, sizeof(*grown));
	grown[cfg->nservices].defer_names = cfg->defer_names;
	if ((grown[cfg->nservices].name = strdup(name)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*index = cfg->nservices++;
	return 0;
}

/* One member of "services": its keys, applied in file order. */
static int
load_service(struct config *cfg, const char *name, struct json_object *obj,
    char *err, size_t errlen)
{
	char reason[CFG_REASON_MAX], shown[SERVICE_NAME_MAX + 2];
	const struct cfg_option *o;
	struct config *svc;
	size_t i;

	if (service_open(cfg, name, &i, reason, sizeof(reason)) == -1) {
		snprintf(err, errlen, "services: %s", reason);
		return -1;
	}
	svc = &cfg->services[i];
	if (!json_object_is_type(obj, json_type_object)) {
		snprintf(err, errlen, "services.%s: expected an object",
		    name_shown(name, shown, sizeof(shown)));
		return -1;
	}
	json_object_object_foreach(obj, key, val) {
		o = opt_find(key);
		if (o == NULL && strcmp(key, "services") != 0) {
			snprintf(err, errlen, "services.%s: unknown key '%s'",
			    svc->name, key);
			return -1;
		}
		if (o != NULL && opt_cli_only(o)) {
			snprintf(err, errlen, "services.%s: '%s' is a command-line"
			    " flag, not a config file key", svc->name, key);
			return -1;
		}
		if (o == NULL || !opt_per_service(o)) {
			snprintf(err, errlen, "services.%s: '%s' is not a"
			    " per-service key; set it at the top level",
			    svc->name, key);
			return -1;
		}
		if (opt_set_json(svc, o, val, reason, sizeof(reason)) == -1) {
			snprintf(err, errlen, "services.%s.%s", svc->name, reason);
			return -1;
		}
		opt_mark(svc, o);
	}
	return 0;
}

/* "services": { "web": { "listen": 8080, ... }, ... }, in file order. */
static int
load_services(struct config *cfg, struct json_object *obj, char *err,
    size_t errlen)
{
	if (!json_object_is_type(obj, json_type_object)) {
		snprintf(err, errlen, "services: expected an object (service"
		    " name -> its keys)");
		return -1;
	}
	if (json_object_object_length(obj) == 0) {
		snprintf(err, errlen, "services: empty: define at least one"
		    " service, or leave \"services\" out");
		return -1;
	}
	json_object_object_foreach(obj, name, val) {
		if (load_service(cfg, name, val, err, errlen) == -1)
			return -1;
	}
	return 0;
}

/*
 * Keys are applied in file order; a key given twice (json-c would keep the
 * last) is refused, naming it, at any depth. On error, cfg holds the keys
 * applied so far.
 */
int
cfg_load_json(struct config *cfg, const char *text, size_t len, char *err,
    size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *root;
	enum json_tokener_error e;
	const struct cfg_option *o;
	char *buf, dupkey[65];
	size_t end;
	int rc = -1;

	if (len > CFG_FILE_MAX) {
		snprintf(err, errlen, "larger than %d bytes", CFG_FILE_MAX);
		return -1;
	}
	/* json-c needs the final NUL to see the end of the input. */
	if ((buf = malloc(len + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	if ((tok = json_tokener_new_ex(CFG_JSON_DEPTH)) == NULL) {
		free(buf);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_tokener_set_flags(tok, CFG_JSON_FLAGS);
	root = json_tokener_parse_ex(tok, buf, (int)len + 1);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (e != json_tokener_success) {
		snprintf(err, errlen, "line %u: %s", line_of(buf, end < len ?
		    end : len), json_tokener_error_desc(e));
		goto out;
	}
	/* A NUL byte or a second value ends the parse early. */
	if (end < len) {
		snprintf(err, errlen, "line %u: unexpected data after the"
		    " top-level object", line_of(buf, end));
		goto out;
	}
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "the top level must be a JSON object");
		goto out;
	}
	/* json-c keeps the last of a key given twice: which one was meant? */
	switch (jsondup_find(buf, len, CFG_JSON_FLAGS, dupkey, sizeof(dupkey),
	    &end)) {
	case 0:
		break;
	case 1:
		snprintf(err, errlen, "line %u: duplicate key '%s'",
		    line_of(buf, end < len ? end : len), dupkey);
		goto out;
	default:
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	json_object_object_foreach(root, key, val) {
		if (strcmp(key, "services") == 0) {
			if (load_services(cfg, val, err, errlen) == -1)
				goto out;
			continue;
		}
		if ((o = opt_find(key)) == NULL) {
			snprintf(err, errlen, "unknown key '%s'", key);
			goto out;
		}
		if (opt_cli_only(o)) {
			snprintf(err, errlen, "'%s' is a command-line flag, not"
			    " a config file key", key);
			goto out;
		}
		if (opt_set_json(cfg, o, val, err, errlen) == -1)
			goto out;
		opt_mark(cfg, o);
	}
	rc = 0;
out:
	json_object_put(root);
	free(buf);
	return rc;
}

int
cfg_load_file(struct config *cfg, const char *path, char *err, size_t errlen)
{
	char reason[CFG_REASON_MAX], *text;
	size_t len;
	int rc;

	if (read_file(path, CFG_FILE_MAX, &text, &len, err, errlen) == -1)
		return -1;
	if ((rc = cfg_load_json(cfg, text, len, reason, sizeof(reason))) == -1)
		snprintf(err, errlen, "%s: %s", path, reason);
	free(text);
	return rc;
}

/* dst's unavailable text becomes a copy of src's. */
static int
unavailable_copy(struct config *dst, const struct config *src)
{
	char *text = NULL, *file = NULL;

	if (src->unavailable != NULL) {
		if ((text = malloc(src->unavailable_len + 1)) == NULL)
			return -1;
		memcpy(text, src->unavailable, src->unavailable_len + 1);
	}
	if (src->unavailable_file != NULL &&
	    (file = strdup(src->unavailable_file)) == NULL) {
		free(text);
		return -1;
	}
	free(dst->unavailable);
	free(dst->unavailable_file);
	dst->unavailable = text;
	dst->unavailable_file = file;
	dst->unavailable_len = src->unavailable_len;
	return 0;
}

static void
check_inherit(struct check_params *dst, const struct check_params *src)
{
	dst->type = src->type;
	memcpy(dst->send, src->send, sizeof(dst->send));
	dst->send_len = src->send_len;
	memcpy(dst->expect, src->expect, sizeof(dst->expect));
	dst->expect_len = src->expect_len;
	memcpy(dst->path, src->path, sizeof(dst->path));
	memcpy(dst->host, src->host, sizeof(dst->host));
	dst->status_min = src->status_min;
	dst->status_max = src->status_max;
}

/* svc's accept-proxy, sni or sni-default becomes a copy of top's. */
static int
edge_inherit(struct config *svc, const struct config *top, enum cfg_kind kind)
{
	struct net_cidr *nets = NULL;
	struct config tmp = { .nsni = 0 };
	char *s = NULL, err[64];

	switch (kind) {
	case K_CIDRS:
		if (top->naccept_proxy > 0) {
			if ((nets = calloc(top->naccept_proxy, sizeof(*nets))) == NULL)
				return -1;
			memcpy(nets, top->accept_proxy, top->naccept_proxy *
			    sizeof(*nets));
		}
		free(svc->accept_proxy);
		svc->accept_proxy = nets;
		svc->naccept_proxy = top->naccept_proxy;
		return 0;
	case K_SNI:
		for (size_t i = 0; i < top->nsni; i++)
			if (sni_add(&tmp, top->sni[i].pattern, top->sni[i].service,
			    err, sizeof(err)) == -1) {
				sni_clear(&tmp);
				return -1;
			}
		sni_clear(svc);
		svc->sni = tmp.sni;
		svc->nsni = tmp.nsni;
		return 0;
	case K_SNIDEF:
		if (top->sni_default != NULL && (s = strdup(top->sni_default)) == NULL)
			return -1;
		free(svc->sni_default);
		svc->sni_default = s;
		return 0;
	default:
		return 0;
	}
}

/*
 * svc takes top's value of every per-service tunable it did not set. Run
 * again, it copies the same values: cfg_validate may run twice.
 */
static int
service_inherit(struct config *svc, struct config *top)
{
	for (size_t i = 0; i < NITEMS(options); i++) {
		const struct cfg_option *o = &options[i];

		if (!opt_per_service(o) || (svc->given & opt_bit(o)) != 0)
			continue;
		switch (o->kind) {
		case K_DURATION:
		case K_INT:
			*opt_i64(svc, o) = *opt_i64(top, o);
			break;
		case K_BOOL:
			*opt_bool(svc, o) = *opt_bool(top, o);
			break;
		case K_BALANCE:
			*opt_int(svc, o) = *opt_int(top, o);
			break;
		case K_CHECK:
			/* Its flagged keys are inherited one by one, above. */
			check_inherit(&svc->check, &top->check);
			break;
		case K_TEXT:
			if (!opt_given(svc, "unavailable-file") &&
			    unavailable_copy(svc, top) == -1)
				return -1;
			break;
		case K_PROXYVER:
			*opt_int(svc, o) = *opt_int(top, o);
			break;
		case K_CIDRS:
		case K_SNI:
		case K_SNIDEF:
			if (edge_inherit(svc, top, o->kind) == -1)
				return -1;
			break;
		default:
			/*
			 * Never listen and target; --no-persistent and
			 * --unavailable-file go with their pair above.
			 */
			break;
		}
	}
	return 0;
}

/* With no services, the zeroed dst becomes the top level's service. */
static int
service_copy(struct config *dst, struct config *src, const char *name)
{
	dst->defer_names = src->defer_names;
	if (service_inherit(dst, src) == -1 ||
	    (dst->name = strdup(name)) == NULL ||
	    (dst->listen = strdup(src->listen)) == NULL)
		return -1;
	if (src->ntargets > 0) {
		if ((dst->targets = list_dup(src->targets, src->ntargets,
		    sizeof(*dst->targets))) == NULL)
			return -1;
		dst->ntargets = src->ntargets;
	}
	if (src->nlistens > 0) {
		if ((dst->listens = calloc(src->nlistens, sizeof(*dst->listens))) == NULL)
			return -1;
		memcpy(dst->listens, src->listens, src->nlistens * sizeof(*dst->listens));
		dst->nlistens = src->nlistens;
	}
	return 0;
}

/*
 * With services: the top level sets neither listen nor target (its
 * default listen is simply unused), each service sets its listen and
 * inherits the rest.
 */
static int
services_check(struct config *cfg, char *err, size_t errlen)
{
	static const char *const own[] = { "listen", "target" };

	for (size_t i = 0; i < NITEMS(own); i++)
		if (opt_given(cfg, own[i])) {
			snprintf(err, errlen, "--%s: with services, each one sets"
			    " its own %s (in \"services\" or after --service NAME)",
			    own[i], own[i]);
			return -1;
		}
	for (size_t i = 0; i < cfg->nservices; i++) {
		struct config *svc = &cfg->services[i];

		if (svc->listen == NULL) {
			snprintf(err, errlen, "services.%s: listen is required",
			    svc->name);
			return -1;
		}
		if (service_inherit(svc, cfg) == -1) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

/* With no services configured, the top level is the one named "default". */
static int
services_finish(struct config *cfg, char *err, size_t errlen)
{
	if (cfg->nservices > 0)
		return 0;
	if ((cfg->services = calloc(1, sizeof(*cfg->services))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cfg->nservices = 1;
	cfg->services_implicit = true;
	if (service_copy(&cfg->services[0], cfg, SERVICE_DEFAULT) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* "default", else the service named "default", else the only one. */
static int
services_default(struct config *cfg, char *err, size_t errlen)
{
	struct config *svc;

	if (cfg->default_service != NULL) {
		if ((svc = cfg_service_find(cfg, cfg->default_service)) == NULL) {
			snprintf(err, errlen, "default: no service named '%s'",
			    cfg->default_service);
			return -1;
		}
	} else if ((svc = cfg_service_find(cfg, SERVICE_DEFAULT)) == NULL) {
		if (cfg->nservices != 1) {
			snprintf(err, errlen, "no default service: %zu services"
			    " and none named '%s': set \"default\" (--default"
			    " NAME) to one of them", cfg->nservices,
			    SERVICE_DEFAULT);
			return -1;
		}
		svc = &cfg->services[0];
	}
	cfg->default_index = (size_t)(svc - cfg->services);
	return 0;
}

struct config *
cfg_default_service(struct config *cfg)
{
	return cfg->nservices > 0 ? &cfg->services[cfg->default_index] : NULL;
}

struct config *
cfg_service_find(struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->nservices; i++)
		if (strcmp(cfg->services[i].name, name) == 0)
			return &cfg->services[i];
	return NULL;
}

/* A listen address and who set it, for the clash check. */
struct cfg_bound {
	struct net_addr		 addr;
	const struct config	*svc;		/* NULL: the top level */
	const char		*key;		/* listen, ack-port, http */
};

/* "--http" or "services.web.listen", as errors name them. */
static const char *
bound_label(const struct cfg_bound *b, char *buf, size_t len)
{
	if (b->svc == NULL)
		snprintf(buf, len, "--%s", b->key);
	else
		snprintf(buf, len, "services.%s.%s", b->svc->name, b->key);
	return buf;
}

/* Adds b to the n in all, unless another listener has its address. */
static int
bound_add(struct cfg_bound *all, size_t *n, const struct cfg_bound *b,
    char *err, size_t errlen)
{
	char mine[SERVICE_NAME_MAX + 32], theirs[SERVICE_NAME_MAX + 32];
	char text[NET_ADDRSTRLEN];

	/* Port 0 picks a free port each time: no clash possible. */
	if (net_addr_port((const struct sockaddr *)&b->addr.ss) == 0)
		return 0;
	for (size_t j = 0; j < *n; j++)
		if (net_addr_equal((const struct sockaddr *)&all[j].addr.ss,
		    (const struct sockaddr *)&b->addr.ss)) {
			snprintf(err, errlen, "%s: %s is also %s",
			    bound_label(b, mine, sizeof(mine)),
			    net_addr_text((const struct sockaddr *)&b->addr.ss,
			    text, sizeof(text)),
			    bound_label(&all[j], theirs, sizeof(theirs)));
			return -1;
		}
	all[(*n)++] = *b;
	return 0;
}

/* One listen text against cfg->host, numeric only with CFG_DEFER_NAMES. */
static int
listen_resolve(const struct config *cfg, const char *s, struct net_addr *a,
    char *err, size_t errlen)
{
	return cfg->defer_names ? net_parse_listen_numeric(s, cfg->host, a, err,
	    errlen) : net_parse_listen(s, cfg->host, a, err, errlen);
}

/*
 * svc->listen, a comma list, into svc->listens (svc is cfg itself with no
 * services). Listen texts are resolved only here, once every flag is
 * applied: --host may come after --listen and changes what "3000" means.
 */
static int
listens_parse(struct config *cfg, struct config *svc, struct cfg_bound *all,
    size_t *nall, char *err, size_t errlen)
{
	struct cfg_bound b = { .svc = svc == cfg ? NULL : svc, .key = "listen" };
	char reason[CFG_REASON_MAX], label[SERVICE_NAME_MAX + 32];
	const char *p = svc->listen;
	struct cfg_listen *ls;
	size_t n = 0, k;

	bound_label(&b, label, sizeof(label));
	if ((ls = calloc(CFG_LISTEN_MAX, sizeof(*ls))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;; p += k + 1) {
		k = strcspn(p, ",");
		if (k == 0) {
			snprintf(err, errlen, "%s: empty address in '%s'", label,
			    svc->listen);
			goto fail;
		}
		if (n == CFG_LISTEN_MAX) {
			snprintf(err, errlen, "%s: more than %d addresses", label,
			    CFG_LISTEN_MAX);
			goto fail;
		}
		if (k >= sizeof(ls[n].text)) {
			snprintf(err, errlen, "%s: address too long", label);
			goto fail;
		}
		memcpy(ls[n].text, p, k);
		switch (listen_resolve(cfg, ls[n].text, &ls[n].addr, reason,
		    sizeof(reason))) {
		case -1:
			snprintf(err, errlen, "%s: %s", label, reason);
			goto fail;
		case 1:
			/* A name, not resolved here: unchecked. */
			memset(&ls[n].addr, 0, sizeof(ls[n].addr));
			break;
		default:
			b.addr = ls[n].addr;
			if (bound_add(all, nall, &b, err, errlen) == -1)
				goto fail;
			break;
		}
		n++;
		if (p[k] == '\0')
			break;
	}
	free(svc->listens);
	svc->listens = ls;
	svc->nlistens = n;
	return 0;
fail:
	free(ls);
	return -1;
}

/* The ack port and the admin port, after every listen. */
static int
ports_check(struct config *cfg, struct cfg_bound *all, size_t *nall,
    char *err, size_t errlen)
{
	char reason[CFG_REASON_MAX];

	for (size_t i = 0; i < NITEMS(options); i++) {
		const struct cfg_option *o = &options[i];
		struct cfg_bound b = { .svc = NULL, .key = o->name };
		const char *s;

		if (o->kind != K_LISTEN_OFF)
			continue;
		if (strcmp(s = *opt_str(cfg, o), "0") == 0)
			continue;
		switch (listen_resolve(cfg, s, &b.addr, reason, sizeof(reason))) {
		case -1:
			snprintf(err, errlen, "--%s: %s", o->name, reason);
			return -1;
		case 1:
			continue;
		default:
			break;
		}
		if (bound_add(all, nall, &b, err, errlen) == -1)
			return -1;
	}
	return 0;
}

/* A static target is known by its host:port: one of each, per service. */
static int
targets_check(const struct config *svc, char *err, size_t errlen)
{
	char text[NET_ADDRSTRLEN];

	for (size_t i = 0; i < svc->ntargets; i++)
		for (size_t j = 0; j < i; j++) {
			if (!net_addr_equal((const struct sockaddr *)
			    &svc->targets[i].addr.ss, (const struct sockaddr *)
			    &svc->targets[j].addr.ss))
				continue;
			net_addr_text((const struct sockaddr *)
			    &svc->targets[i].addr.ss, text, sizeof(text));
			if (svc->name == NULL)
				snprintf(err, errlen, "--target %s is given twice",
				    text);
			else
				snprintf(err, errlen, "services.%s.target: %s is"
				    " given twice", svc->name, text);
			return -1;
		}
	return 0;
}

/*
 * Each service's "sni" values and "sni-default" name configured services
 * (after inheritance: a top-level map is every service's), and its check
 * learns the PROXY version it sends.
 */
static int
edge_check(struct config *cfg, char *err, size_t errlen)
{
	char label[SERVICE_NAME_MAX + 32];

	for (size_t i = 0; i < cfg->nservices; i++) {
		struct config *svc = &cfg->services[i];

		if (cfg->services_implicit)
			label[0] = '\0';
		else
			snprintf(label, sizeof(label), "services.%s.", svc->name);
		for (size_t k = 0; k < svc->nsni; k++)
			if (cfg_service_find(cfg, svc->sni[k].service) == NULL) {
				snprintf(err, errlen, "%ssni: '%s' -> '%s': no service"
				    " named '%s'", label, svc->sni[k].pattern,
				    svc->sni[k].service, svc->sni[k].service);
				return -1;
			}
		if (svc->sni_default != NULL &&
		    strcmp(svc->sni_default, CFG_SNI_CLOSE) != 0 &&
		    cfg_service_find(cfg, svc->sni_default) == NULL) {
			snprintf(err, errlen, "%ssni-default: no service named '%s'"
			    " (a service or %s)", label, svc->sni_default,
			    CFG_SNI_CLOSE);
			return -1;
		}
		svc->check.proxy_version = !svc->check.send_proxy ? 0 :
		    svc->send_proxy != 0 ? svc->send_proxy : 1;
	}
	return 0;
}

int
cfg_validate(struct config *cfg, char *err, size_t errlen)
{
	struct cfg_bound *all;
	size_t nall = 0;
	int rc = -1;

	if (cfg->host == NULL || cfg->listen == NULL || cfg->ack_port == NULL ||
	    cfg->http == NULL || cfg->web_root == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	/* Made of the top level last time: make it again from what is now. */
	if (cfg->services_implicit)
		services_drop(cfg);
	if (cfg->nservices > 0 && services_check(cfg, err, errlen) == -1)
		return -1;
	if ((all = calloc((cfg->nservices + 1) * CFG_LISTEN_MAX + 2,
	    sizeof(*all))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (cfg->nservices == 0) {
		if (listens_parse(cfg, cfg, all, &nall, err, errlen) == -1 ||
		    ports_check(cfg, all, &nall, err, errlen) == -1 ||
		    targets_check(cfg, err, errlen) == -1)
			goto out;
	} else {
		for (size_t i = 0; i < cfg->nservices; i++)
			if (listens_parse(cfg, &cfg->services[i], all, &nall, err,
			    errlen) == -1)
				goto out;
		if (ports_check(cfg, all, &nall, err, errlen) == -1)
			goto out;
		for (size_t i = 0; i < cfg->nservices; i++)
			if (targets_check(&cfg->services[i], err, errlen) == -1)
				goto out;
	}
	if (services_finish(cfg, err, errlen) == -1 ||
	    services_default(cfg, err, errlen) == -1 ||
	    edge_check(cfg, err, errlen) == -1)
		goto out;
	rc = 0;
out:
	free(all);
	return rc;
}

/*
 * Prints text from column col (the caller is there), wrapped at word
 * boundaries to fit 79 columns.
 */
static void
usage_wrap(FILE *fp, int col, const char *help)
{
	const int width = 79 - col;
	const char *p = help;
	int n;

	while (*p != '\0') {
		n = (int)strlen(p);
		if (n > width) {
			for (n = width; n > 0 && p[n] != ' '; n--)
				;
			if (n == 0)
				n = width;
		}
		fprintf(fp, "%*s%.*s\n", p == help ? 0 : col, "", n, p);
		p += n;
		while (*p == ' ')
			p++;
	}
}

void
cfg_usage(FILE *fp)
{
	char left[64];
	int w;

	fprintf(fp, "usage: harmonyd [option ...]\n\n"
	    "A smart TCP load balancer: targets register over the ack port"
	    " or HTTP.\n\n");
	for (size_t i = 0; i < NITEMS(options); i++) {
		const struct cfg_option *o = &options[i];

		if (o->shortopt != 0)
			w = snprintf(left, sizeof(left), "  -%c, --%s%s%s",
			    o->shortopt, o->name, o->arg ? " " : "",
			    o->arg ? o->arg : "");
		else
			w = snprintf(left, sizeof(left), "      --%s%s%s", o->name,
			    o->arg ? " " : "", o->arg ? o->arg : "");
		if (w < 0)
			continue;
		if (w < 30)
			fprintf(fp, "%-30s ", left);
		else
			fprintf(fp, "%s\n%-30s ", left, "");
		usage_wrap(fp, 31, o->help);
	}
	fprintf(fp, "\n"
	    "DUR is 500ms, 30s, 1.5m, 1h; a bare number is seconds.\n"
	    "Every option but -c, --service, --takeover, -v, -q, -h, -V and"
	    " --no-persistent\nis also a key of the -c file (\"persistent\": false"
	    " for --no-persistent). Flags\noverride the file; --target and --allow"
	    " on the command line replace the\nfile's list.\n\n"
	    "Services: a \"services\" object in the file (name -> its keys) and"
	    " --service\nNAME sections define them. Per-service keys and flags:\n"
	    "  ");
	usage_wrap(fp, 2, CFG_SERVICE_KEYS ".");
	fprintf(fp, "A service takes from the top level every one it does not set"
	    " but listen and\ntarget: each service sets its listen, and then the"
	    " top level sets neither.\nIn a section, a list flag's first use"
	    " replaces that service's list in the\nfile. See SERVICES in"
	    " harmonyd(8).\n");
}

/* getopt_long's tables, built from options[]. */
static void
getopt_tables(struct option *longopts, char *shortopts)
{
	size_t i, k = 0;

	/* '+': stop at the first operand; ':': report a missing argument. */
	shortopts[k++] = '+';
	shortopts[k++] = ':';
	for (i = 0; i < NITEMS(options); i++) {
		longopts[i] = (struct option){ options[i].name,
		    options[i].arg ? required_argument : no_argument, NULL,
		    OPT_LONG_BASE + (int)i };
		if (options[i].shortopt != 0) {
			shortopts[k++] = (char)options[i].shortopt;
			if (options[i].arg != NULL)
				shortopts[k++] = ':';
		}
	}
	longopts[i] = (struct option){ NULL, 0, NULL, 0 };
	shortopts[k] = '\0';
}

/*
 * getopt_long accepts unambiguous abbreviations ("--conc") and says only
 * '?' otherwise: tell "unknown" from "ambiguous" and list the candidates.
 */
static void
unknown_long(const char *arg, char *err, size_t errlen)
{
	const char *name = arg + strspn(arg, "-"), *sep = " ";
	int n = (int)strcspn(name, "="), shown = (int)(name - arg) + n;
	size_t matches = 0, len;

	for (size_t i = 0; i < NITEMS(options); i++)
		if (strncmp(options[i].name, name, (size_t)n) == 0)
			matches++;
	if (n == 0 || matches < 2) {
		snprintf(err, errlen, "unknown option '%.*s'", n ? shown :
		    (int)strlen(arg), arg);
		return;
	}
	snprintf(err, errlen, "ambiguous option '%.*s': could be", shown, arg);
	for (size_t i = 0; i < NITEMS(options); i++) {
		if (strncmp(options[i].name, name, (size_t)n) != 0)
			continue;
		len = strlen(err);
		snprintf(err + len, errlen - len, "%s--%s", sep, options[i].name);
		sep = ", ";
	}
}

/* Maps getopt_long's answer to options[], or explains it in err. */
static const struct cfg_option *
getopt_option(int c, char *argv[], char *err, size_t errlen)
{
	if (c >= OPT_LONG_BASE && c < OPT_LONG_BASE + (int)NITEMS(options))
		return &options[c - OPT_LONG_BASE];
	if (c != '?' && c != ':') {
		for (size_t i = 0; i < NITEMS(options); i++)
			if (options[i].shortopt == c)
				return &options[i];
	}
	if (c == ':') {
		if (optopt >= OPT_LONG_BASE)
			snprintf(err, errlen, "--%s needs an argument",
			    options[optopt - OPT_LONG_BASE].name);
		else
			snprintf(err, errlen, "-%c needs an argument", optopt);
	} else if (optopt >= OPT_LONG_BASE)
		snprintf(err, errlen, "--%s takes no argument",
		    options[optopt - OPT_LONG_BASE].name);
	else if (optopt != 0)
		snprintf(err, errlen, "unknown option '-%c'", optopt);
	else
		unknown_long(argv[optind - 1], err, errlen);
	return NULL;
}

/*
 * Two passes over argv. The first handles -c, --help and --version and
 * finds malformed flags before anything is read; then come the file and,
 * in the second pass, every other flag in order. --service NAME opens a
 * section: the per-service flags after it, up to the next --service, set
 * that service (the file's, or a new one after the file's), the others
 * stay the top level's; before any --service, every flag is the top
 * level's. optind = 0 makes glibc
 * start over completely, so this can run more than once per process.
 */
enum cfg_result
cfg_parse_args(struct config *cfg, int argc, char *argv[], char *err,
    size_t errlen)
{
	return cfg_parse_args_ex(cfg, argc, argv, 0, err, errlen);
}

enum cfg_result
cfg_parse_args_ex(struct config *cfg, int argc, char *argv[], unsigned flags,
    char *err, size_t errlen)
{
	struct option longopts[NITEMS(options) + 1];
	char shortopts[3 + 2 * NITEMS(options)];
	char reason[CFG_REASON_MAX];
	/* The list flags used so far: the top level's, then each service's. */
	uint64_t cli_lists[1 + CFG_SERVICES_MAX] = { 0 };
	const struct cfg_option *o;
	const char *config_path = NULL;
	struct config *at;
	size_t section = 0;	/* 0: the top level, else services[section - 1] */
	int c;

	cfg_defaults(cfg);
	cfg->defer_names = (flags & CFG_DEFER_NAMES) != 0;
	getopt_tables(longopts, shortopts);
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if ((o = getopt_option(c, argv, err, errlen)) == NULL)
			goto fail;
		if (o->kind == K_CONFIG)
			config_path = optarg;
		else if (o->kind == K_HELP) {
			cfg_usage(stdout);
			goto done;
		} else if (o->kind == K_VERSION) {
			printf("harmonyd %s\n", PACKAGE_VERSION);
			goto done;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		goto fail;
	}
	if (config_path != NULL) {
		if (set_string(&cfg->config_file, config_path, err, errlen) == -1 ||
		    cfg_load_file(cfg, config_path, err, errlen) == -1)
			goto fail;
	}

	optind = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if ((o = getopt_option(c, argv, err, errlen)) == NULL)
			goto fail;
		if (o->kind == K_CONFIG)
			continue;
		if (o->kind == K_SERVICE) {
			if (service_open(cfg, optarg, &section, reason,
			    sizeof(reason)) == -1) {
				snprintf(err, errlen, "--service: %s", reason);
				goto fail;
			}
			section++;
			continue;
		}
		/* Within a section, its per-service flags are the service's. */
		if (section > 0 && opt_per_service(o))
			at = &cfg->services[section - 1];
		else
			at = cfg;
		/* The first list flag drops the file's list; later ones add. */
		if (opt_is_list(o) &&
		    (cli_lists[at == cfg ? 0 : section] & opt_bit(o)) == 0) {
			opt_clear(at, o);
			cli_lists[at == cfg ? 0 : section] |= opt_bit(o);
		}
		if (opt_set_text(at, o, optarg, reason, sizeof(reason)) == -1) {
			if (at == cfg)
				snprintf(err, errlen, "--%s: %s", o->name, reason);
			else
				snprintf(err, errlen, "services.%s.%s: %s", at->name,
				    o->name, reason);
			goto fail;
		}
		opt_mark(at, o);
	}
	if (cfg_validate(cfg, err, errlen) == -1)
		goto fail;
	return CFG_OK;
done:
	cfg_free(cfg);
	return CFG_EXIT;
fail:
	cfg_free(cfg);
	return CFG_ERROR;
}

/* The proxy's share of a configuration, as the proxy takes it (it knows no
 * struct config). Pointers into cfg: proxy_set_params copies them. */
void
cfg_proxy_params(const struct config *cfg, struct proxy_params *pp)
{
	*pp = (struct proxy_params){
		.concurrency = cfg->concurrency,
		.queue_max = cfg->queue_max,
		.queue_timeout_ms = cfg->queue_timeout_ms,
		.requeue = cfg->requeue,
		.connect_timeout_ms = cfg->connect_timeout_ms,
		.idle_timeout_ms = cfg->idle_timeout_ms,
		.persistent = cfg->persistent,
		.unavailable = cfg->unavailable,
		.unavailable_len = cfg->unavailable_len,
		.send_proxy = cfg->send_proxy,
		.accept_proxy = cfg->accept_proxy,
		.naccept_proxy = cfg->naccept_proxy,
		.sni = cfg->nsni > 0,
		.inspect_timeout_ms = cfg->inspect_timeout_ms,
		.inspect_max = (size_t)cfg->inspect_max,
	};
}
