/*
 * options.c: harmony-agent's command line (agent.h): getopt_long, the
 * usage text, and the --check, --balancer and --token-file arguments
 * (common/ holds their rules: addresses, durations, tokens, files).
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/addr.h"
#include "common/duration.h"
#include "common/file.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/service.h"
#include "common/token.h"
#include "harmony.h"

#define AGENT_CHECK_INTERVAL_MAX_MS 5000	/* default: min(--ack, this) */
#define AGENT_CHECK_TIMEOUT_MS	2000
#define AGENT_DURATION_MAX_MS	LIMIT_TTL_MAX_MS	/* every option: 24h at most */

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
"      --token-file FILE        the balancers' shared secret, on one line\n"
"      --token TOKEN            the same (visible in ps)\n"
"      --service NAME           the balancers' service to register in\n"
"                               ([a-z0-9][a-z0-9_-]{0,62}; default: their\n"
"                               default service)\n"
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

/* The token file (common/file.h: a regular file, capped; common/token.h: one line). */
static int
read_token_file(const char *path, char **out, char *err, size_t errlen)
{
	char reason[256], *buf;
	size_t len;

	if (file_read(path, TOKEN_FILE_MAX, 0, &buf, &len, reason,
	    sizeof(reason)) == -1) {
		snprintf(err, errlen, "--token-file %s: %s", path, reason);
		return -1;
	}
	len = token_file_text(buf, len);
	*out = strndup(buf, len);
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
	OPT_SERVICE,
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
	{ "service", required_argument, NULL, OPT_SERVICE },
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

enum parse_result
options_parse(struct agent *a, int argc, char *argv[], struct balancer_arg *bals,
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
		case OPT_SERVICE:
			if (!service_name_valid(optarg, strlen(optarg))) {
				snprintf(err, errlen, "--service: bad name '%s' (1 to %d of"
				    " a-z, 0-9, '_' and '-', starting with a letter or"
				    " digit)", optarg, SERVICE_NAME_MAX);
				return PARSE_ERROR;
			}
			a->service = optarg;
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
