/*
 * harmony-agent: runs beside a backend; registers it with every balancer
 * given, heartbeats while its health check passes, deregisters it on
 * SIGTERM, SIGINT or SIGHUP.
 *
 * One process, one poll(2) loop: a libharmony client per balancer (each
 * with at most one short connection), the health check (a socket, or a
 * child process whose end SIGCHLD announces), and a self-pipe that the
 * signal handlers write to. Every wait is bounded: libharmony times out
 * each exchange, the check has its own timeout, and the drain on exit has
 * a deadline, so a dead balancer or backend never hangs the agent.
 *
 * A failing check does not deregister: the agent only stops heartbeating,
 * so the balancers mark the target down after its timeout (--ttl, or their
 * --host-timeout), and the first heartbeat after the check passes again
 * brings it back up. Deregistering would drain the sessions of a backend
 * that may only be slow for a moment.
 *
 * A balancer that is still the original node-harmony server (a migration
 * half done) ignores --token, --host and --ttl: libharmony notices, and the
 * agent warns once per balancer and goes on with the plain protocol there.
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/duration.h"
#include "common/file.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/selfpipe.h"
#include "common/token.h"
#include "harmony.h"

#define AGENT_BALANCERS_MAX	64
#define AGENT_TOKEN_FILE_MAX	4096
#define AGENT_CHECK_INTERVAL_MAX_MS 5000	/* default: min(--ack, this) */
#define AGENT_CHECK_TIMEOUT_MS	2000
#define AGENT_DURATION_MAX_MS	LIMIT_TTL_MAX_MS	/* every option: 24h at most */
#define AGENT_HTTP_LINE_MAX	512
#define AGENT_STOP_EXTRA_MS	1000	/* drain deadline beyond --timeout */

extern char **environ;

enum check_kind {
	CHECK_NONE,
	CHECK_TCP,
	CHECK_HTTP,
	CHECK_EXEC,
};

struct check {
	enum check_kind		 kind;
	const char		*spec;		/* as given, for log lines */
	struct sockaddr_storage	 addr;		/* tcp, http */
	socklen_t		 addrlen;
	char			*request;	/* http */
	const char		*cmd;		/* exec */
	int64_t			 interval_ms;
	int64_t			 timeout_ms;

	int			 result;	/* -1 not known yet, 0 fails, 1 passes */
	bool			 running;
	int64_t			 started;
	int64_t			 next_at;
	int			 fd;
	bool			 connecting;
	size_t			 outoff;
	char			 in[AGENT_HTTP_LINE_MAX];
	size_t			 inlen;
	pid_t			 pid;
};

struct balancer {
	struct agent		*agent;
	struct harmony_client	*client;
	bool			 failing;	/* logged a failure: log the recovery */
	bool			 plain_warned;	/* said it ignores the extensions */
};

struct agent {
	struct balancer		 bal[AGENT_BALANCERS_MAX];
	size_t			 nbal;
	uint16_t		 port;
	uint32_t		 weight;
	int64_t			 ack_ms;
	bool			 ack_given;	/* else libharmony derives it */
	int64_t			 ttl_ms;
	int64_t			 timeout_ms;
	char			*token;
	const char		*host;
	struct check		 check;
	bool			 stopping;
	int64_t			 stop_deadline;
};

/* Signals only write their number to the self-pipe (common/selfpipe.h). */
static int
signals_init(int pipefd[2])
{
	if (selfpipe_open(pipefd) == -1 || selfpipe_set(SIGPIPE, SIG_IGN) == -1)
		return -1;
	if (selfpipe_catch(SIGTERM, 0) == -1 || selfpipe_catch(SIGINT, 0) == -1 ||
	    selfpipe_catch(SIGHUP, 0) == -1)
		return -1;
	/* An exec check's end; its stops are none of our business. */
	return selfpipe_catch(SIGCHLD, SA_NOCLDSTOP);
}

/* --- options ---------------------------------------------------------- */

static void
usage(FILE *fp)
{
	fprintf(fp,
"usage: harmony-agent --balancer HOST[:PORT] --port PORT [option ...]\n"
"\n"
"Registers a backend with Harmony balancers over their ack port, heartbeats\n"
"while its health check passes, and deregisters it on SIGTERM or SIGINT.\n"
"\n"
"      --balancer HOST[:PORT]   a balancer's ack port (default port: 1666);\n"
"                               repeatable: registers with every one\n"
"      --port PORT              the backend's port on this host (required)\n"
"      --weight N               1..1000000 (default: 500)\n"
"      --ack DUR                heartbeat period (default: half the --ttl,\n"
"                               or 30s)\n"
"      --ttl DUR                the target's heartbeat timeout on the\n"
"                               balancers, whole seconds (default: their\n"
"                               --host-timeout)\n"
"      --token-file FILE        the balancers' shared secret, first line\n"
"      --token TOKEN            the same (visible in ps)\n"
"      --host ADDR              register IPv4 ADDR instead of the address the\n"
"                               balancer sees (needs the token)\n"
"      --check SPEC             heartbeat only while it passes: tcp,\n"
"                               tcp:HOST:PORT, http://HOST[:PORT]/PATH (any\n"
"                               2xx) or exec:COMMAND (exit status 0)\n"
"      --check-interval DUR     (default: --ack, at most 5s)\n"
"      --check-timeout DUR      (default: 2s)\n"
"      --timeout DUR            connect and answer, per exchange with a\n"
"                               balancer (default: 5s)\n"
"      --log-level LEVEL        debug, info, warn or error (default: info)\n"
"  -v, --verbose                same as --log-level debug\n"
"  -q, --quiet                  same as --log-level error\n"
"  -h, --help                   print this help and exit\n"
"  -V, --version                print the version and exit\n"
"\n"
"DUR is 500ms, 30s, 1.5m, 1h; a bare number is seconds.\n");
}

/* A port 1..65535 (common/addr.h). */
static int
parse_port(const char *s, uint16_t *port)
{
	return addr_parse_port(s, port) == -1 || *port == 0 ? -1 : 0;
}

/*
 * "HOST", "HOST:PORT", "[V6]" or "[V6]:PORT" (common/addr.h) into host (a
 * copy) and port, defport when none is given; never port 0.
 */
static int
split_hostport(const char *s, char **host, uint16_t *port, uint16_t defport)
{
	char buf[ADDR_NAME_MAX], why[128];
	const char *port_text;

	if (addr_split(s, buf, sizeof(buf), &port_text, why, sizeof(why)) == -1)
		return -1;
	*port = defport;
	if ((port_text != NULL && addr_parse_port(port_text, port) == -1) || *port == 0)
		return -1;
	if ((*host = strdup(buf)) == NULL)
		return -1;
	return 0;
}

static int
parse_check(struct agent *a, const char *spec, char *err, size_t errlen)
{
	struct check *k = &a->check;
	char *host = NULL, *hostport = NULL;
	const char *rest, *path;
	uint16_t port;
	int n;

	k->spec = spec;
	if (strcmp(spec, "tcp") == 0 || strncmp(spec, "tcp:", 4) == 0) {
		k->kind = CHECK_TCP;
		if (spec[3] == '\0') {
			/* The backend itself, on this host. */
			struct sockaddr_in *sin = (struct sockaddr_in *)&k->addr;

			sin->sin_family = AF_INET;
			sin->sin_port = htons(a->port);
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			k->addrlen = sizeof(*sin);
			return 0;
		}
		if (split_hostport(spec + 4, &host, &port, 0) == -1) {
			snprintf(err, errlen, "--check %s: expected tcp:HOST:PORT", spec);
			return -1;
		}
		n = addr_resolve(host, port, &k->addr, &k->addrlen, 1, err,
		    errlen) < 0 ? -1 : 0;
		free(host);
		return n;
	}
	if (strncmp(spec, "http://", 7) == 0) {
		k->kind = CHECK_HTTP;
		rest = spec + 7;
		path = rest + strcspn(rest, "/?#");
		if (*path == '#' || path == rest || strpbrk(spec, " \r\n\t") != NULL) {
			snprintf(err, errlen, "--check %s: expected http://HOST[:PORT]/PATH", spec);
			return -1;
		}
		if ((hostport = strndup(rest, (size_t)(path - rest))) == NULL ||
		    split_hostport(hostport, &host, &port, 80) == -1) {
			snprintf(err, errlen, "--check %s: bad host or port", spec);
			free(hostport);
			return -1;
		}
		n = addr_resolve(host, port, &k->addr, &k->addrlen, 1, err,
		    errlen) < 0 ? -1 : 0;
		free(host);
		if (n == 0 && asprintf(&k->request, "GET %s%s HTTP/1.0\r\nHost: %s\r\n"
		    "User-Agent: harmony-agent/%s\r\nConnection: close\r\n\r\n",
		    *path == '/' ? "" : "/", *path ? path : "", hostport,
		    PACKAGE_VERSION) == -1) {
			k->request = NULL;
			snprintf(err, errlen, "out of memory");
			n = -1;
		}
		free(hostport);
		return n;
	}
	if (strncmp(spec, "exec:", 5) == 0 && spec[5] != '\0') {
		k->kind = CHECK_EXEC;
		k->cmd = spec + 5;
		return 0;
	}
	if (strncmp(spec, "https://", 8) == 0)
		snprintf(err, errlen, "--check %s: https is not supported; try"
		    " exec:curl -fsS URL", spec);
	else
		snprintf(err, errlen, "--check %s: expected tcp, tcp:HOST:PORT,"
		    " http://HOST[:PORT]/PATH or exec:COMMAND", spec);
	return -1;
}

/* The first line of the file (common/file.h: a regular file, capped). */
static int
read_token_file(const char *path, char **out, char *err, size_t errlen)
{
	char reason[256], *buf;
	size_t len;

	if (file_read(path, AGENT_TOKEN_FILE_MAX, 0, &buf, &len, reason,
	    sizeof(reason)) == -1) {
		snprintf(err, errlen, "--token-file %s: %s", path, reason);
		return -1;
	}
	buf[strcspn(buf, "\r\n")] = '\0';	/* the first line */
	*out = strdup(buf);
	explicit_bzero(buf, len);
	free(buf);
	if (*out == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

enum {
	OPT_BALANCER = 256,
	OPT_PORT,
	OPT_WEIGHT,
	OPT_ACK,
	OPT_TTL,
	OPT_TOKEN,
	OPT_TOKEN_FILE,
	OPT_HOST,
	OPT_CHECK,
	OPT_CHECK_INTERVAL,
	OPT_CHECK_TIMEOUT,
	OPT_TIMEOUT,
	OPT_LOG_LEVEL,
};

static const struct option longopts[] = {
	{ "balancer", required_argument, NULL, OPT_BALANCER },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "weight", required_argument, NULL, OPT_WEIGHT },
	{ "ack", required_argument, NULL, OPT_ACK },
	{ "ttl", required_argument, NULL, OPT_TTL },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "check", required_argument, NULL, OPT_CHECK },
	{ "check-interval", required_argument, NULL, OPT_CHECK_INTERVAL },
	{ "check-timeout", required_argument, NULL, OPT_CHECK_TIMEOUT },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char *
opt_name(int c)
{
	for (const struct option *o = longopts; o->name != NULL; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

/* A duration option in (0, max]. */
static int
opt_duration(int c, const char *arg, int64_t min, int64_t *ms, char *err,
    size_t errlen)
{
	char why[128];

	/* harmonyd's parser: what it refuses (finer than 1 ms) is refused here. */
	if (duration_parse(arg, AGENT_DURATION_MAX_MS, ms, why, sizeof(why)) == -1 ||
	    *ms < min) {
		snprintf(err, errlen, "--%s: bad duration '%s' (like 500ms, 30s, 5m;"
		    " at least %lld ms, at most 24h)", opt_name(c), arg, (long long)min);
		return -1;
	}
	return 0;
}

enum parse_result {
	PARSE_OK,
	PARSE_EXIT,
	PARSE_ERROR,
};

struct balancer_arg {
	char		*host;
	uint16_t	 port;
};

static enum parse_result
parse_args(struct agent *a, int argc, char *argv[], struct balancer_arg *bals,
    char *err, size_t errlen)
{
	const char *token_file = NULL, *check = NULL;
	int64_t check_interval = 0, check_timeout = AGENT_CHECK_TIMEOUT_MS;
	enum log_level level;
	int64_t v;
	char *end;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:vqhV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_BALANCER:
			if (a->nbal == AGENT_BALANCERS_MAX) {
				snprintf(err, errlen, "--balancer: at most %d",
				    AGENT_BALANCERS_MAX);
				return PARSE_ERROR;
			}
			if (split_hostport(optarg, &bals[a->nbal].host,
			    &bals[a->nbal].port, HARMONY_ACK_PORT) == -1) {
				snprintf(err, errlen, "--balancer: bad HOST[:PORT] '%s'", optarg);
				return PARSE_ERROR;
			}
			a->nbal++;
			break;
		case OPT_PORT:
			if (parse_port(optarg, &a->port) == -1) {
				snprintf(err, errlen, "--port: bad port '%s' (1..65535)", optarg);
				return PARSE_ERROR;
			}
			break;
		case OPT_WEIGHT:
			errno = 0;
			v = strtoll(optarg, &end, 10);
			if (*optarg < '0' || *optarg > '9' || errno != 0 || *end != '\0' ||
			    v < LIMIT_WEIGHT_MIN || v > LIMIT_WEIGHT_MAX) {
				snprintf(err, errlen, "--weight: bad weight '%s' (%d..%d)",
				    optarg, LIMIT_WEIGHT_MIN, LIMIT_WEIGHT_MAX);
				return PARSE_ERROR;
			}
			a->weight = (uint32_t)v;
			break;
		case OPT_ACK:
			if (opt_duration(c, optarg, 10, &a->ack_ms, err, errlen) == -1)
				return PARSE_ERROR;
			a->ack_given = true;
			break;
		case OPT_TTL:
			if (opt_duration(c, optarg, 1, &a->ttl_ms, err, errlen) == -1)
				return PARSE_ERROR;
			break;
		case OPT_TOKEN:
			free(a->token);
			if ((a->token = strdup(optarg)) == NULL) {
				snprintf(err, errlen, "out of memory");
				return PARSE_ERROR;
			}
			token_file = NULL;
			break;
		case OPT_TOKEN_FILE:
			token_file = optarg;
			break;
		case OPT_HOST:
			a->host = optarg;
			break;
		case OPT_CHECK:
			check = optarg;
			break;
		case OPT_CHECK_INTERVAL:
			if (opt_duration(c, optarg, 10, &check_interval, err, errlen) == -1)
				return PARSE_ERROR;
			break;
		case OPT_CHECK_TIMEOUT:
			if (opt_duration(c, optarg, 10, &check_timeout, err, errlen) == -1)
				return PARSE_ERROR;
			break;
		case OPT_TIMEOUT:
			if (opt_duration(c, optarg, 10, &a->timeout_ms, err, errlen) == -1)
				return PARSE_ERROR;
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &level) == -1) {
				snprintf(err, errlen, "--log-level: unknown level '%s'"
				    " (debug, info, warn, error)", optarg);
				return PARSE_ERROR;
			}
			log_set_level(level);
			break;
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'q':
			log_set_level(LOG_LEVEL_ERROR);
			break;
		case 'h':
			usage(stdout);
			return PARSE_EXIT;
		case 'V':
			printf("harmony-agent %s (libharmony %s)\n", PACKAGE_VERSION,
			    harmony_version());
			return PARSE_EXIT;
		case ':':
			if (optopt >= OPT_BALANCER)
				snprintf(err, errlen, "--%s needs an argument", opt_name(optopt));
			else
				snprintf(err, errlen, "-%c needs an argument", optopt);
			return PARSE_ERROR;
		default:
			if (optopt >= OPT_BALANCER || optopt == 'v' || optopt == 'q' ||
			    optopt == 'h' || optopt == 'V')
				snprintf(err, errlen, "--%s takes no argument", opt_name(optopt));
			else if (optopt != 0)
				snprintf(err, errlen, "unknown option '-%c'", optopt);
			else
				snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return PARSE_ERROR;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return PARSE_ERROR;
	}
	if (a->nbal == 0) {
		snprintf(err, errlen, "no --balancer given");
		return PARSE_ERROR;
	}
	if (a->port == 0) {
		snprintf(err, errlen, "no --port given (the backend's port)");
		return PARSE_ERROR;
	}
	if (a->ttl_ms > LIMIT_TTL_MAX_MS) {
		snprintf(err, errlen, "--ttl: at most 24h");
		return PARSE_ERROR;
	}
	if (a->ack_ms == 0)
		a->ack_ms = a->ttl_ms > 0 ? a->ttl_ms / 2 : HARMONY_INTERVAL_DEFAULT_MS;
	if (a->ack_ms < 10) {
		a->ack_ms = 10;
		a->ack_given = true;	/* libharmony would go lower */
	}
	if (token_file != NULL) {
		free(a->token);
		a->token = NULL;
		if (read_token_file(token_file, &a->token, err, errlen) == -1)
			return PARSE_ERROR;
	}
	if (a->token != NULL && !token_valid(a->token, strlen(a->token), LIMIT_TOKEN_MAX)) {
		snprintf(err, errlen, "%s: the token must be 1..%d bytes of printable"
		    " ASCII: no ':', no space, no control character", token_file ? token_file : "--token",
		    LIMIT_TOKEN_MAX);
		return PARSE_ERROR;
	}
	if (a->host != NULL) {
		struct in_addr ia;

		if (inet_pton(AF_INET, a->host, &ia) != 1) {
			snprintf(err, errlen, "--host: '%s' is not an IPv4 address"
			    " (IPv6 hosts register over HTTP)", a->host);
			return PARSE_ERROR;
		}
		if (a->token == NULL) {
			snprintf(err, errlen, "--host needs --token-file: balancers let"
			    " only token holders register another address");
			return PARSE_ERROR;
		}
	}
	if (check != NULL && parse_check(a, check, err, errlen) == -1)
		return PARSE_ERROR;
	a->check.interval_ms = check_interval ? check_interval :
	    (a->ack_ms < AGENT_CHECK_INTERVAL_MAX_MS ? a->ack_ms :
	    AGENT_CHECK_INTERVAL_MAX_MS);
	a->check.timeout_ms = check_timeout;
	return PARSE_OK;
}

/* --- balancers -------------------------------------------------------- */

static void
on_client_event(struct harmony_client *hc, enum harmony_event ev,
    const char *detail, void *arg)
{
	struct balancer *b = arg;
	const char *name = harmony_client_balancer(hc);
	int64_t retry;

	switch (ev) {
	case HARMONY_EVENT_REGISTERED:
		/* detail is the key: a secret, never logged. */
		log_info("%s: registered port %u, weight %u%s", name,
		    (unsigned)b->agent->port, (unsigned)b->agent->weight,
		    harmony_client_plain(hc) ? " (plain node-harmony protocol)" : "");
		b->failing = false;
		break;
	case HARMONY_EVENT_PLAIN:
		/* Again after each re-registration there: news only once. */
		if (b->plain_warned) {
			log_debug("%s: still no answer to %s: plain protocol", name, detail);
			break;
		}
		b->plain_warned = true;
		log_warnx("%s: the balancer does not answer harmonyd's extensions (%s):"
		    " an original node-harmony server? Going on with its plain"
		    " protocol: %s%s%sits own host timeout applies", name, detail,
		    b->agent->token ? "no token, " : "",
		    b->agent->host ? "--host ignored, " : "",
		    b->agent->ttl_ms > 0 ? "no --ttl, " : "");
		break;
	case HARMONY_EVENT_ACKED:
	case HARMONY_EVENT_UPDATED:
		if (b->failing)
			log_info("%s: reachable again", name);
		else
			log_debug("%s: heartbeat answered", name);
		b->failing = false;
		break;
	case HARMONY_EVENT_LOST:
		log_warnx("%s: the balancer does not know this target (restarted?):"
		    " registering anew", name);
		break;
	case HARMONY_EVENT_ERROR:
		retry = harmony_client_next_ms(hc, harmony_now_ms());
		/* The first failure in a row is news; the retries are not. */
		if (!b->failing && !b->agent->stopping)
			log_warnx("%s: %s (%s; retrying in %lld ms)", name, detail,
			    harmony_state_name(harmony_client_state(hc)), (long long)retry);
		else
			log_debug("%s: %s (retrying in %lld ms)", name, detail,
			    (long long)retry);
		b->failing = true;
		break;
	case HARMONY_EVENT_CLOSED:
		if (detail != NULL)
			log_info("%s: %s: nothing to deregister", name, detail);
		else
			log_info("%s: deregistered", name);
		break;
	}
}

static int
balancers_init(struct agent *a, struct balancer_arg *args, char *err, size_t errlen)
{
	for (size_t i = 0; i < a->nbal; i++) {
		struct balancer *b = &a->bal[i];
		struct harmony_client *c;

		b->agent = a;
		if ((c = harmony_client_new(args[i].host, args[i].port, a->port)) == NULL ||
		    harmony_client_set_weight(c, a->weight) == -1 ||
		    harmony_client_set_ttl(c, a->ttl_ms) == -1 ||
		    harmony_client_set_interval(c, a->ack_given ? a->ack_ms : 0) == -1 ||
		    harmony_client_set_timeout(c, a->timeout_ms) == -1 ||
		    harmony_client_set_token(c, a->token) == -1 ||
		    harmony_client_set_host(c, a->host) == -1) {
			snprintf(err, errlen, "balancer %s: %s", args[i].host, strerror(errno));
			harmony_client_free(c);
			return -1;
		}
		harmony_client_set_callback(c, on_client_event, b);
		b->client = c;
		/* Registration waits for the first check to pass. */
		if (a->check.kind != CHECK_NONE)
			harmony_client_suspend(c);
		harmony_client_register(c);
	}
	return 0;
}

static void
balancers_suspend(struct agent *a, bool suspend)
{
	for (size_t i = 0; i < a->nbal; i++) {
		if (suspend)
			harmony_client_suspend(a->bal[i].client);
		else
			harmony_client_resume(a->bal[i].client);
	}
}

static bool
balancers_closed(const struct agent *a)
{
	for (size_t i = 0; i < a->nbal; i++)
		if (harmony_client_state(a->bal[i].client) != HARMONY_CLOSED)
			return false;
	return true;
}

/* --- the health check ------------------------------------------------- */

static void
check_verdict(struct agent *a, bool pass, const char *why)
{
	struct check *k = &a->check;
	int was = k->result;

	k->result = pass ? 1 : 0;
	if (pass && was != 1) {
		if (was == -1)
			log_info("check %s passes: registering", k->spec);
		else
			log_info("check %s passes again: heartbeating", k->spec);
		balancers_suspend(a, false);
	} else if (!pass && was != 0) {
		if (was == -1)
			log_warnx("check %s fails (%s): not registering until it passes",
			    k->spec, why);
		else
			log_warnx("check %s fails (%s): heartbeats stop, the balancers"
			    " take the target out at its timeout", k->spec, why);
		balancers_suspend(a, true);
	} else if (!pass)
		log_debug("check %s still fails (%s)", k->spec, why);
}

static void
check_end(struct agent *a, bool pass, const char *why, int64_t now)
{
	struct check *k = &a->check;

	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	k->running = false;
	k->next_at = k->started + k->interval_ms;
	if (k->next_at < now)
		k->next_at = now;
	check_verdict(a, pass, why);
}

static void
check_spawn(struct agent *a, int64_t now)
{
	struct check *k = &a->check;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	char *argv[] = { (char *)(uintptr_t)"sh", (char *)(uintptr_t)"-c",
	    (char *)(uintptr_t)k->cmd, NULL };
	int r;

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);	/* ignored here; a check runs with defaults */
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGCHLD);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&attr);
	/* Its own process group, so a timeout kills whatever it started. */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
	    POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setsigmask(&attr, &none);
	r = posix_spawn(&k->pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0) {
		k->pid = 0;
		check_end(a, false, strerror(r), now);
	}
}

static void
check_connect(struct agent *a, int64_t now)
{
	struct check *k = &a->check;
	const struct sockaddr *sa = (const struct sockaddr *)&k->addr;

	k->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (k->fd == -1) {
		check_end(a, false, strerror(errno), now);
		return;
	}
	k->connecting = true;
	k->outoff = 0;
	k->inlen = 0;
	if (connect(k->fd, sa, k->addrlen) == -1 && errno != EINPROGRESS &&
	    errno != EINTR) {
		char why[128];

		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		check_end(a, false, why, now);
	}
}

static void
check_start(struct agent *a, int64_t now)
{
	struct check *k = &a->check;

	k->running = true;
	k->started = now;
	if (k->kind == CHECK_EXEC)
		check_spawn(a, now);
	else
		check_connect(a, now);
}

/* The HTTP status line in in[]: done (true) once it is complete. */
static bool
check_http_status(struct agent *a, int64_t now)
{
	struct check *k = &a->check;
	char why[128];
	char *nl = memchr(k->in, '\n', k->inlen);
	int status;

	if (nl == NULL && k->inlen < sizeof(k->in) - 1)
		return false;
	k->in[nl ? (size_t)(nl - k->in) : k->inlen] = '\0';
	k->in[strcspn(k->in, "\r")] = '\0';
	if (sscanf(k->in, "HTTP/%*1d.%*1d %3d", &status) != 1) {
		snprintf(why, sizeof(why), "not an HTTP status line: %.60s", k->in);
		check_end(a, false, why, now);
	} else if (status < 200 || status > 299) {
		snprintf(why, sizeof(why), "%.60s", k->in);
		check_end(a, false, why, now);
	} else
		check_end(a, true, NULL, now);
	return true;
}

static void
check_io(struct agent *a, short revents, int64_t now)
{
	struct check *k = &a->check;
	char why[128];
	ssize_t n;

	if (k->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return;
		if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0) {
			snprintf(why, sizeof(why), "connect: %s", strerror(err));
			check_end(a, false, why, now);
			return;
		}
		k->connecting = false;
		if (k->kind == CHECK_TCP) {
			check_end(a, true, NULL, now);
			return;
		}
	}
	while (k->outoff < strlen(k->request)) {
		n = send(k->fd, k->request + k->outoff, strlen(k->request) - k->outoff,
		    MSG_NOSIGNAL);
		if (n >= 0) {
			k->outoff += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		snprintf(why, sizeof(why), "send: %s", strerror(errno));
		check_end(a, false, why, now);
		return;
	}
	if (!(revents & (POLLIN | POLLERR | POLLHUP)))
		return;
	for (;;) {
		n = recv(k->fd, k->in + k->inlen, sizeof(k->in) - 1 - k->inlen, 0);
		if (n > 0) {
			k->inlen += (size_t)n;
			if (check_http_status(a, now))
				return;
			continue;
		}
		if (n == 0) {
			check_end(a, false, "connection closed before a status line", now);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		snprintf(why, sizeof(why), "recv: %s", strerror(errno));
		check_end(a, false, why, now);
		return;
	}
}

static short
check_events(const struct check *k)
{
	if (!k->running || k->fd < 0)
		return 0;
	if (k->connecting || (k->request != NULL && k->outoff < strlen(k->request)))
		return POLLOUT;
	return POLLIN;
}

/* Reaps an exec check that has ended. */
static void
check_reap(struct agent *a, int64_t now)
{
	struct check *k = &a->check;
	char why[64];
	int status;
	pid_t r;

	if (!k->running || k->kind != CHECK_EXEC || k->pid <= 0)
		return;
	do {
		r = waitpid(k->pid, &status, WNOHANG);
	} while (r == -1 && errno == EINTR);
	if (r == 0)
		return;
	k->pid = 0;
	if (r == -1)
		check_end(a, false, strerror(errno), now);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		check_end(a, true, NULL, now);
	else {
		if (WIFEXITED(status))
			snprintf(why, sizeof(why), "exit status %d", WEXITSTATUS(status));
		else
			snprintf(why, sizeof(why), "killed by signal %d", WTERMSIG(status));
		check_end(a, false, why, now);
	}
}

/* Ends a running check at once: its timeout, or the agent stopping. */
static void
check_abort(struct agent *a, const char *why, int64_t now, bool verdict)
{
	struct check *k = &a->check;

	if (!k->running)
		return;
	if (k->kind == CHECK_EXEC && k->pid > 0) {
		kill(-k->pid, SIGKILL);
		while (waitpid(k->pid, NULL, 0) == -1 && errno == EINTR)
			;
		k->pid = 0;
	}
	if (verdict) {
		check_end(a, false, why, now);
		return;
	}
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	k->running = false;
}

/* Starts or times out the check; returns ms until it wants this again. */
static int64_t
check_tick(struct agent *a, int64_t now)
{
	struct check *k = &a->check;
	char why[64];

	if (k->kind == CHECK_NONE || a->stopping)
		return -1;
	if (k->running && now >= k->started + k->timeout_ms) {
		snprintf(why, sizeof(why), "no verdict within %lld ms",
		    (long long)k->timeout_ms);
		check_abort(a, why, now, true);
	}
	if (!k->running && now >= k->next_at)
		check_start(a, now);
	if (k->running)
		return k->started + k->timeout_ms - now;
	return k->next_at - now;
}

/* --- the loop --------------------------------------------------------- */

static void
begin_stop(struct agent *a, int signo, int64_t now)
{
	log_info("%s: deregistering from %zu balancer%s", strsignal(signo), a->nbal,
	    a->nbal == 1 ? "" : "s");
	a->stopping = true;
	a->stop_deadline = now + a->timeout_ms + AGENT_STOP_EXTRA_MS;
	check_abort(a, NULL, now, false);
	for (size_t i = 0; i < a->nbal; i++) {
		a->bal[i].failing = false;
		harmony_client_close(a->bal[i].client);
	}
}

static int64_t
min_wait(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

static int
agent_run(struct agent *a, int sigpipe)
{
	struct pollfd pfd[2 + AGENT_BALANCERS_MAX];
	int64_t now, wait;
	int n;

	for (;;) {
		now = harmony_now_ms();
		wait = check_tick(a, now);
		for (size_t i = 0; i < a->nbal; i++)
			wait = min_wait(wait, harmony_client_next_ms(a->bal[i].client, now));
		if (a->stopping) {
			if (balancers_closed(a))
				return 0;
			if (now >= a->stop_deadline)
				break;
			wait = min_wait(wait, a->stop_deadline - now);
		}
		pfd[0] = (struct pollfd){ .fd = sigpipe, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = a->check.running ? a->check.fd : -1,
		    .events = check_events(&a->check) };
		for (size_t i = 0; i < a->nbal; i++)
			pfd[2 + i] = (struct pollfd){
			    .fd = harmony_client_fd(a->bal[i].client),
			    .events = harmony_client_events(a->bal[i].client) };
		if (wait > INT_MAX)
			wait = INT_MAX;
		n = poll(pfd, 2 + a->nbal, (int)wait);
		if (n == -1 && errno != EINTR) {
			log_warn("poll");
			return 1;
		}
		now = harmony_now_ms();
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			unsigned char sig[16];
			ssize_t got = read(sigpipe, sig, sizeof(sig));

			for (ssize_t i = 0; i < got; i++) {
				if (sig[i] == SIGCHLD)
					continue;
				if (a->stopping) {
					log_info("%s again: exiting now", strsignal(sig[i]));
					return 0;
				}
				begin_stop(a, sig[i], now);
			}
		}
		if (a->check.running && a->check.fd >= 0 && pfd[1].fd == a->check.fd &&
		    pfd[1].revents != 0)
			check_io(a, pfd[1].revents, now);
		check_reap(a, now);
		for (size_t i = 0; i < a->nbal; i++) {
			struct harmony_client *c = a->bal[i].client;
			short rev = 0;

			if (pfd[2 + i].fd >= 0 && pfd[2 + i].fd == harmony_client_fd(c))
				rev = n > 0 ? pfd[2 + i].revents : 0;
			harmony_client_process(c, rev, now);
		}
	}
	for (size_t i = 0; i < a->nbal; i++) {
		struct harmony_client *c = a->bal[i].client;

		if (harmony_client_state(c) != HARMONY_CLOSED)
			log_warnx("%s: could not deregister (%s): the target stays until"
			    " its timeout there", harmony_client_balancer(c),
			    harmony_client_error(c)[0] ? harmony_client_error(c) :
			    "no answer in time");
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct agent a = {
		.weight = LIMIT_WEIGHT_DEFAULT,
		.timeout_ms = HARMONY_TIMEOUT_DEFAULT_MS,
		.check = { .result = -1, .fd = -1 },
	};
	struct balancer_arg args[AGENT_BALANCERS_MAX];
	int sigpipe[2] = { -1, -1 };
	char err[512];
	int rc = 2;

	memset(args, 0, sizeof(args));
	log_init("harmony-agent", LOG_LEVEL_INFO);
	switch (parse_args(&a, argc, argv, args, err, sizeof(err))) {
	case PARSE_OK:
		break;
	case PARSE_EXIT:
		rc = 0;
		goto out;
	case PARSE_ERROR:
		fprintf(stderr, "harmony-agent: %s\n", err);
		fprintf(stderr, "Try 'harmony-agent --help' for more information.\n");
		goto out;
	}
	if (a.ttl_ms > 0 && a.ack_ms >= a.ttl_ms)
		log_warnx("--ack %lld ms is not shorter than --ttl %lld ms: the target"
		    " will go down between heartbeats", (long long)a.ack_ms,
		    (long long)a.ttl_ms);
	if (balancers_init(&a, args, err, sizeof(err)) == -1) {
		fprintf(stderr, "harmony-agent: %s\n", err);
		goto out;
	}
	rc = 1;
	if (signals_init(sigpipe) == -1) {
		log_warn("signals");
		goto out;
	}
	log_info("harmony-agent %s: port %u, weight %u, heartbeat every %lld ms%s%s,"
	    " %zu balancer%s", PACKAGE_VERSION, (unsigned)a.port, (unsigned)a.weight,
	    (long long)a.ack_ms, a.check.kind != CHECK_NONE ? ", check " : "",
	    a.check.kind != CHECK_NONE ? a.check.spec : "", a.nbal,
	    a.nbal == 1 ? "" : "s");
	rc = agent_run(&a, sigpipe[0]);
out:
	check_abort(&a, NULL, 0, false);
	for (size_t i = 0; i < AGENT_BALANCERS_MAX; i++) {
		harmony_client_free(a.bal[i].client);
		free(args[i].host);
	}
	if (a.token != NULL) {
		explicit_bzero(a.token, strlen(a.token));
		free(a.token);
	}
	free(a.check.request);
	selfpipe_close(sigpipe);
	return rc;
}
