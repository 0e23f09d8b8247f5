/*
 * libharmony: see harmony.h.
 *
 * A client is a small state machine over at most one connection at a time
 * (the operation in flight). What to do next is decided in one place,
 * client_due(), from the state and a few flags; the I/O of an operation is
 * op_io(): connect, send the whole request, read answers until each
 * message has one, then BYE: and close. Answers are checked in order
 * against what was sent: the server answers every message, and repeats
 * our BAL/SPORT/TTL argument byte for byte.
 *
 * The original node-harmony server answers none of the extensions (AUTH,
 * AGENT, SVC, HOST, TTL), keeps them unanswered, and dies on the first
 * socket error (a reset from a peer that hung up on unread answers, a
 * write to a closed connection). The extensions always come before the
 * plain messages of a request, so such a server shows itself by answering
 * a plain message where an extension's answer was due: the client then
 * goes on with the answers it has (no reset, no retry), and from then on
 * speaks the plain protocol ("plain" mode) in the reference client's form.
 * A bare close or a timeout proves nothing (harmonyd closes at once when
 * it has too many connections) and stays an ordinary failure. An ERR
 * answer is harmonyd's, never the old server's, and ends plain mode; so
 * does a BID, whose re-registration asks with the extensions again, in
 * case harmonyd now runs at that address.
 *
 * A harmonyd older than AGENT answers it ERR:verb:, and its argument
 * (never a verb: common/agentname.h) ERR:verb: again, then does the rest
 * of the request: those two answers are taken for AGENT's, and the name is
 * not sent to that balancer again until a BID.
 *
 * Nothing is exported but harmony_* (the build passes
 * -export-symbols-regex), and every other function here is static.
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/agentname.h"
#include "common/limits.h"
#include "common/service.h"
#include "common/token.h"
#include "harmony.h"

/* The installed header's copies of the shared limits (common/limits.h). */
_Static_assert(HARMONY_WEIGHT_MIN == LIMIT_WEIGHT_MIN, "HARMONY_WEIGHT_MIN");
_Static_assert(HARMONY_WEIGHT_MAX == LIMIT_WEIGHT_MAX, "HARMONY_WEIGHT_MAX");
_Static_assert(HARMONY_WEIGHT_DEFAULT == LIMIT_WEIGHT_DEFAULT,
    "HARMONY_WEIGHT_DEFAULT");
_Static_assert(HARMONY_TTL_MAX_MS == LIMIT_TTL_MAX_MS, "HARMONY_TTL_MAX_MS");
_Static_assert(HARMONY_TOKEN_MAX == LIMIT_TOKEN_MAX, "HARMONY_TOKEN_MAX");
_Static_assert(HARMONY_SERVICE_MAX == SERVICE_NAME_MAX, "HARMONY_SERVICE_MAX");
_Static_assert(HARMONY_AGENT_MAX == AGENT_NAME_MAX, "HARMONY_AGENT_MAX");

#define HC_ADDRS_MAX		8	/* addresses of one balancer tried in turn */
#define HC_KEY_MAX		128	/* harmonyd's keys are 32; be lenient */
#define HC_OUT_MAX		768	/* the longest request: an update with a
					   256-byte token, a name, a service and
					   HC_KEY_MAX keys */
#define HC_IN_MAX		1024	/* answers to it are shorter still */
#define HC_EXPECT_MAX		10
#define HC_VERB_MAX		8
#define HC_BACKOFF_MAX_MS	30000
#define HC_BACKOFF_BASE_MS	1000
#define HC_ERROR_MAX		256

enum op_kind {
	OP_NONE,
	OP_REGISTER,
	OP_HEARTBEAT,
	OP_UPDATE,
	OP_CLOSE,
};

/* One answer we wait for: verb and argument ("" arg: any, the NID key). */
struct expect {
	const char	*verb;
	char		 arg[HC_KEY_MAX + 1];
	bool		 any;
	bool		 bid_ok;	/* a BID here means "key unknown" */
	bool		 ext;		/* an extension's: an old server skips it */
	unsigned	 errs;		/* AGENT: ERR:verb: answers taken */
};

struct harmony_client {
	char			*host;
	uint16_t		 ack_port;
	uint16_t		 port;
	char			 balancer[300];
	uint32_t		 weight;
	char			*token;
	char			*target_host;
	char			*service;	/* NULL: none named */
	char			*agent;		/* NULL: none named */
	int64_t			 ttl_ms;
	int64_t			 interval_ms;
	int64_t			 timeout_ms;
	harmony_event_fn	*cb;
	void			*cb_arg;

	enum harmony_state	 state;
	bool			 suspended;
	bool			 need_update;	/* weight or TTL to send */
	bool			 hb_now;	/* a heartbeat asked for */
	bool			 plain;		/* the balancer ignores the extensions */
	bool			 no_agent;	/* it answered AGENT ERR:verb: */
	char			 key[HC_KEY_MAX + 1];
	int64_t			 next_hb;
	int64_t			 retry_at;
	unsigned		 failures;	/* in a row */
	uint64_t		 nfailed;	/* ever: harmony_client_wait's witness */
	int			 last_errno;
	char			 error[HC_ERROR_MAX];

	struct sockaddr_storage	 addrs[HC_ADDRS_MAX];
	socklen_t		 addrlens[HC_ADDRS_MAX];
	size_t			 naddrs;
	size_t			 addr_first;	/* the one that worked last */

	/* The operation in flight (fd >= 0). */
	enum op_kind		 op;
	int			 fd;
	bool			 connecting;
	size_t			 addr_try;	/* addresses tried by this operation */
	int64_t			 op_start;
	int64_t			 op_deadline;
	uint32_t		 op_weight;	/* as sent */
	int64_t			 op_ttl_ms;
	char			 out[HC_OUT_MAX];
	size_t			 outlen;
	size_t			 outoff;
	char			 in[HC_IN_MAX];
	size_t			 inlen;
	char			 verb[HC_VERB_MAX + 1];
	bool			 have_verb;
	struct expect		 expect[HC_EXPECT_MAX];
	size_t			 nexpect;
	size_t			 ngot;
	char			 newkey[HC_KEY_MAX + 1];
};

static void op_fail(struct harmony_client *, int, int64_t, const char *, ...)
    __attribute__((__format__(__printf__, 4, 5)));

const char *
harmony_version(void)
{
	return PACKAGE_VERSION;
}

int64_t
harmony_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
harmony_state_name(enum harmony_state s)
{
	switch (s) {
	case HARMONY_IDLE:
		return "idle";
	case HARMONY_REGISTERING:
		return "registering";
	case HARMONY_REGISTERED:
		return "registered";
	case HARMONY_CLOSING:
		return "closing";
	case HARMONY_CLOSED:
		return "closed";
	}
	return "?";
}

/* Text safe to put on the wire as one token (common/token.h). */
static bool
token_ok(const char *s, size_t max)
{
	return token_valid(s, strlen(s), max);
}

struct harmony_client *
harmony_client_new(const char *host, uint16_t ack_port, uint16_t port)
{
	struct harmony_client *c;

	if (host == NULL || *host == '\0' || strlen(host) > 255 || port == 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->host = strdup(host)) == NULL) {
		free(c);
		return NULL;
	}
	c->ack_port = ack_port ? ack_port : HARMONY_ACK_PORT;
	c->port = port;
	addr_join(host, c->ack_port, c->balancer, sizeof(c->balancer));
	c->weight = LIMIT_WEIGHT_DEFAULT;
	c->timeout_ms = HARMONY_TIMEOUT_DEFAULT_MS;
	c->state = HARMONY_IDLE;
	c->fd = -1;
	return c;
}

static void
op_close_fd(struct harmony_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->op = OP_NONE;
	c->connecting = false;
}

void
harmony_client_free(struct harmony_client *c)
{
	if (c == NULL)
		return;
	op_close_fd(c);
	free(c->host);
	if (c->token != NULL) {
		explicit_bzero(c->token, strlen(c->token));
		free(c->token);
	}
	free(c->target_host);
	free(c->service);
	free(c->agent);
	explicit_bzero(c->key, sizeof(c->key));
	free(c);
}

int
harmony_client_set_weight(struct harmony_client *c, uint32_t weight)
{
	if (weight < LIMIT_WEIGHT_MIN || weight > LIMIT_WEIGHT_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (weight != c->weight && c->state == HARMONY_REGISTERED)
		c->need_update = true;
	c->weight = weight;
	return 0;
}

static int
set_string(char **dst, const char *s)
{
	char *copy = NULL;

	if (s != NULL && (copy = strdup(s)) == NULL)
		return -1;
	if (*dst != NULL) {
		explicit_bzero(*dst, strlen(*dst));
		free(*dst);
	}
	*dst = copy;
	return 0;
}

int
harmony_client_set_token(struct harmony_client *c, const char *token)
{
	if (token != NULL && !token_ok(token, LIMIT_TOKEN_MAX)) {
		errno = EINVAL;
		return -1;
	}
	return set_string(&c->token, token);
}

int
harmony_client_set_service(struct harmony_client *c, const char *name)
{
	if (name != NULL && !service_name_valid(name, strlen(name))) {
		errno = EINVAL;
		return -1;
	}
	return set_string(&c->service, name);
}

int
harmony_client_set_agent(struct harmony_client *c, const char *name)
{
	if (name != NULL && !agent_name_valid(name, strlen(name))) {
		errno = EINVAL;
		return -1;
	}
	if (set_string(&c->agent, name) == -1)
		return -1;
	c->no_agent = false;	/* a new name: worth asking again */
	return 0;
}

/* A service other than the default: the plain protocol cannot carry it. */
static bool
service_named(const struct harmony_client *c)
{
	return c->service != NULL && strcmp(c->service, SERVICE_DEFAULT) != 0;
}

int
harmony_client_set_host(struct harmony_client *c, const char *addr)
{
	struct in_addr a;

	if (addr != NULL && inet_pton(AF_INET, addr, &a) != 1) {
		errno = EINVAL;
		return -1;
	}
	return set_string(&c->target_host, addr);
}

int
harmony_client_set_ttl(struct harmony_client *c, int64_t ttl_ms)
{
	if (ttl_ms < 0 || ttl_ms > LIMIT_TTL_MAX_MS) {
		errno = EINVAL;
		return -1;
	}
	if (ttl_ms != c->ttl_ms && ttl_ms > 0 && c->state == HARMONY_REGISTERED)
		c->need_update = true;
	c->ttl_ms = ttl_ms;
	return 0;
}

int
harmony_client_set_interval(struct harmony_client *c, int64_t ms)
{
	if (ms < 0 || ms > LIMIT_TTL_MAX_MS) {
		errno = EINVAL;
		return -1;
	}
	c->interval_ms = ms;
	return 0;
}

int
harmony_client_set_timeout(struct harmony_client *c, int64_t ms)
{
	if (ms < 0 || ms > LIMIT_TTL_MAX_MS) {
		errno = EINVAL;
		return -1;
	}
	c->timeout_ms = ms ? ms : HARMONY_TIMEOUT_DEFAULT_MS;
	return 0;
}

void
harmony_client_set_callback(struct harmony_client *c, harmony_event_fn *fn,
    void *arg)
{
	c->cb = fn;
	c->cb_arg = arg;
}

int
harmony_client_register(struct harmony_client *c)
{
	if (c->state == HARMONY_CLOSING || c->state == HARMONY_CLOSED) {
		errno = EINVAL;
		return -1;
	}
	if (c->state != HARMONY_IDLE) {
		errno = EALREADY;
		return -1;
	}
	c->state = HARMONY_REGISTERING;
	c->retry_at = 0;
	return 0;
}

int
harmony_client_heartbeat(struct harmony_client *c)
{
	if (c->state == HARMONY_CLOSING || c->state == HARMONY_CLOSED ||
	    c->state == HARMONY_IDLE) {
		errno = EINVAL;
		return -1;
	}
	c->hb_now = true;
	return 0;
}

int
harmony_client_close(struct harmony_client *c)
{
	if (c->state == HARMONY_CLOSED)
		return 0;
	c->state = HARMONY_CLOSING;
	/* A pending retry was for something else: try to close at once. */
	c->retry_at = 0;
	c->failures = 0;
	return 0;
}

void
harmony_client_suspend(struct harmony_client *c)
{
	c->suspended = true;
}

void
harmony_client_resume(struct harmony_client *c)
{
	if (!c->suspended)
		return;
	c->suspended = false;
	/* Back in rotation now, not one period from now. */
	if (c->state == HARMONY_REGISTERED)
		c->hb_now = true;
	c->retry_at = 0;
}

bool
harmony_client_suspended(const struct harmony_client *c)
{
	return c->suspended;
}

enum harmony_state
harmony_client_state(const struct harmony_client *c)
{
	return c->state;
}

const char *
harmony_client_key(const struct harmony_client *c)
{
	return c->key[0] != '\0' ? c->key : NULL;
}

const char *
harmony_client_error(const struct harmony_client *c)
{
	return c->error;
}

bool
harmony_client_plain(const struct harmony_client *c)
{
	return c->plain;
}

unsigned
harmony_client_failures(const struct harmony_client *c)
{
	return c->failures;
}

const char *
harmony_client_balancer(const struct harmony_client *c)
{
	return c->balancer;
}

int
harmony_client_fd(const struct harmony_client *c)
{
	return c->fd;
}

short
harmony_client_events(const struct harmony_client *c)
{
	if (c->fd < 0)
		return 0;
	if (c->connecting || c->outoff < c->outlen)
		return POLLOUT;
	return POLLIN;
}

static int64_t
client_interval(const struct harmony_client *c)
{
	int64_t half = c->ttl_ms / 2 > 0 ? c->ttl_ms / 2 : 1;

	if (c->interval_ms > 0)
		return c->interval_ms;
	if (c->ttl_ms <= 0)
		return HARMONY_INTERVAL_DEFAULT_MS;
	/* The TTL is not sent in plain mode: the balancer's own timeout rules. */
	if (c->plain && half > HARMONY_INTERVAL_DEFAULT_MS)
		return HARMONY_INTERVAL_DEFAULT_MS;
	return half;
}

static int64_t
client_backoff(const struct harmony_client *c)
{
	int64_t period = client_interval(c);
	int64_t base = period < HC_BACKOFF_BASE_MS ? period : HC_BACKOFF_BASE_MS;
	int64_t cap, d = base;

	/*
	 * Registered, the target lives on the balancer until its timeout:
	 * retry at least once a period. Otherwise back off further, so that
	 * many agents do not hammer a balancer that is down.
	 */
	if (c->state == HARMONY_REGISTERED)
		cap = period;
	else
		cap = period > HC_BACKOFF_MAX_MS ? period : HC_BACKOFF_MAX_MS;
	for (unsigned i = 1; i < c->failures && d < cap; i++)
		d *= 2;
	return d < cap ? d : cap;
}

/* The operation due next (OP_NONE: nothing), and when (*when). */
static enum op_kind
client_due(const struct harmony_client *c, int64_t *when)
{
	*when = c->retry_at;
	switch (c->state) {
	case HARMONY_IDLE:
	case HARMONY_CLOSED:
		return OP_NONE;
	case HARMONY_CLOSING:
		if (c->key[0] == '\0')
			*when = 0;	/* nothing to deregister: just end */
		return OP_CLOSE;
	case HARMONY_REGISTERING:
		return c->suspended ? OP_NONE : OP_REGISTER;
	case HARMONY_REGISTERED:
		if (c->suspended)
			return OP_NONE;
		if (c->need_update)
			return OP_UPDATE;
		if (!c->hb_now && c->next_hb > *when)
			*when = c->next_hb;
		return OP_HEARTBEAT;
	}
	return OP_NONE;
}

int64_t
harmony_client_next_ms(const struct harmony_client *c, int64_t now)
{
	int64_t when;

	if (c->fd >= 0)
		return c->op_deadline > now ? c->op_deadline - now : 0;
	if (client_due(c, &when) == OP_NONE)
		return -1;
	return when > now ? when - now : 0;
}

static void
emit(struct harmony_client *c, enum harmony_event ev, const char *detail)
{
	if (c->cb != NULL)
		c->cb(c, ev, detail, c->cb_arg);
}

static void
op_fail(struct harmony_client *c, int err, int64_t now, const char *fmt, ...)
{
	va_list ap;

	op_close_fd(c);
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
	c->last_errno = err;
	c->failures++;
	c->nfailed++;
	c->retry_at = now + client_backoff(c);
	emit(c, HARMONY_EVENT_ERROR, c->error);
}

static void
op_succeeded(struct harmony_client *c)
{
	c->failures = 0;
	c->error[0] = '\0';
	c->retry_at = 0;
}

/* Called when every expected answer has come. */
static void
op_done(struct harmony_client *c)
{
	enum op_kind op = c->op;
	int64_t next = c->op_start + client_interval(c);

	/* Say goodbye as the reference client does; the answer is EOF. */
	(void)send(c->fd, "BYE:", 4, MSG_NOSIGNAL | MSG_DONTWAIT);
	op_close_fd(c);
	c->addr_first = (c->addr_first + c->addr_try) % (c->naddrs ? c->naddrs : 1);
	op_succeeded(c);
	if (c->plain && service_named(c) && (op == OP_REGISTER || op == OP_UPDATE)) {
		/* Answered by the old server, which has no services: not kept. */
		explicit_bzero(c->newkey, sizeof(c->newkey));
		if (op == OP_UPDATE) {
			explicit_bzero(c->key, sizeof(c->key));
			c->state = HARMONY_REGISTERING;
		}
		op_fail(c, ENOTSUP, c->op_start, "the balancer speaks node-harmony's"
		    " plain protocol and has no services: service %s refused",
		    c->service);
		return;
	}
	switch (op) {
	case OP_REGISTER:
		memcpy(c->key, c->newkey, sizeof(c->key));
		if (c->state == HARMONY_REGISTERING)
			c->state = HARMONY_REGISTERED;
		c->next_hb = next;
		c->hb_now = false;
		c->need_update = c->weight != c->op_weight || c->ttl_ms != c->op_ttl_ms;
		emit(c, HARMONY_EVENT_REGISTERED, c->key);
		break;
	case OP_HEARTBEAT:
		c->next_hb = next;
		c->hb_now = false;
		emit(c, HARMONY_EVENT_ACKED, NULL);
		break;
	case OP_UPDATE:
		c->next_hb = next;
		c->hb_now = false;
		c->need_update = c->weight != c->op_weight || c->ttl_ms != c->op_ttl_ms;
		emit(c, HARMONY_EVENT_UPDATED, NULL);
		break;
	case OP_CLOSE:
		explicit_bzero(c->key, sizeof(c->key));
		c->state = HARMONY_CLOSED;
		emit(c, HARMONY_EVENT_CLOSED, NULL);
		break;
	case OP_NONE:
		break;
	}
}

/* BID: the balancer does not know our key (any more). */
static void
op_lost(struct harmony_client *c)
{
	enum op_kind op = c->op;

	/*
	 * The old server answers an unknown ID again on every later chunk:
	 * after a BYE it would write to a closed connection and die. A close
	 * (with nothing unread) ends the connection as cleanly.
	 */
	if (!c->plain)
		(void)send(c->fd, "BYE:", 4, MSG_NOSIGNAL | MSG_DONTWAIT);
	op_close_fd(c);
	c->plain = false;	/* register with the extensions again */
	c->no_agent = false;	/* the balancer restarted: perhaps a newer one */
	explicit_bzero(c->key, sizeof(c->key));
	c->error[0] = '\0';
	c->retry_at = 0;
	if (op == OP_CLOSE || c->state == HARMONY_CLOSING) {
		c->state = HARMONY_CLOSED;
		emit(c, HARMONY_EVENT_CLOSED, NULL);
		return;
	}
	/* Not node-harmony's bare NID::: we register with port and weight. */
	c->state = HARMONY_REGISTERING;
	c->need_update = false;
	emit(c, HARMONY_EVENT_LOST, NULL);
}

static void
out_add(struct harmony_client *c, const char *verb, const char *arg)
{
	int n;

	/* HC_OUT_MAX holds the longest request; a cut one is never sent. */
	if (c->outlen >= sizeof(c->out))
		return;
	n = snprintf(c->out + c->outlen, sizeof(c->out) - c->outlen, "%s:%s:",
	    verb, arg);
	if (n > 0 && (size_t)n < sizeof(c->out) - c->outlen)
		c->outlen += (size_t)n;
	else
		c->outlen = sizeof(c->out);
}

static void
expect_add(struct harmony_client *c, const char *verb, const char *arg,
    bool bid_ok)
{
	struct expect *e;

	if (c->nexpect == HC_EXPECT_MAX)
		return;
	e = &c->expect[c->nexpect++];
	e->verb = verb;
	e->any = arg == NULL;
	e->bid_ok = bid_ok;
	e->ext = false;
	e->errs = 0;
	snprintf(e->arg, sizeof(e->arg), "%s", arg ? arg : "");
}

/* Adds a message and the answer that repeats it. */
static void
request(struct harmony_client *c, const char *verb, const char *arg, bool bid_ok)
{
	out_add(c, verb, arg);
	expect_add(c, verb, arg, bid_ok);
}

/* The same for an extension (AUTH answers "ok", the others repeat). */
static void
request_ext(struct harmony_client *c, const char *verb, const char *arg,
    const char *answer)
{
	out_add(c, verb, arg);
	expect_add(c, verb, answer, false);
	c->expect[c->nexpect - 1].ext = true;
}

static int
ttl_seconds(int64_t ms)
{
	return (int)((ms + 999) / 1000);
}

/* Fills out[] and expect[] for op; false if it does not fit. */
static bool
op_build(struct harmony_client *c, enum op_kind op)
{
	char num[32];

	c->outlen = c->outoff = 0;
	c->inlen = 0;
	c->have_verb = false;
	c->nexpect = c->ngot = 0;
	c->newkey[0] = '\0';
	c->op_weight = c->weight;
	c->op_ttl_ms = c->ttl_ms;
	/* Extensions first, so that a server ignoring them shows it at once. */
	if (c->token != NULL && !c->plain)
		request_ext(c, "AUTH", c->token, "ok");
	/* Every operation: the balancer says who with each change it makes. */
	if (c->agent != NULL && !c->plain && !c->no_agent)
		request_ext(c, "AGENT", c->agent, c->agent);
	/* Before the NID or ID it is for; a heartbeat's key needs none. */
	if (c->service != NULL && !c->plain && (op == OP_REGISTER || op == OP_UPDATE))
		request_ext(c, "SVC", c->service, c->service);
	switch (op) {
	case OP_REGISTER:
		if (c->target_host != NULL && !c->plain)
			request_ext(c, "HOST", c->target_host, c->target_host);
		/* Before NID: the server applies it to the next NID. */
		if (c->ttl_ms > 0 && !c->plain) {
			snprintf(num, sizeof(num), "%d", ttl_seconds(c->ttl_ms));
			request_ext(c, "TTL", num, num);
		}
		out_add(c, "NID", "");
		expect_add(c, "NID", NULL, false);
		snprintf(num, sizeof(num), "%u", (unsigned)c->weight);
		request(c, "BAL", num, false);
		snprintf(num, sizeof(num), "%u", (unsigned)c->port);
		request(c, "SPORT", num, false);
		break;
	case OP_HEARTBEAT:
		request(c, "ACK", c->key, true);
		/*
		 * The old server answers ACK for any key; only ID tells it
		 * has restarted and lost ours (the reference client's form).
		 */
		if (c->plain)
			request(c, "ID", c->key, true);
		break;
	case OP_UPDATE:
		request(c, "ACK", c->key, true);
		request(c, "ID", c->key, true);
		/* After ID (it binds the target), before BAL (it shows a skip). */
		if (c->ttl_ms > 0 && !c->plain) {
			snprintf(num, sizeof(num), "%d", ttl_seconds(c->ttl_ms));
			request_ext(c, "TTL", num, num);
		}
		snprintf(num, sizeof(num), "%u", (unsigned)c->weight);
		request(c, "BAL", num, false);
		break;
	case OP_CLOSE:
		request(c, "CLOSE", c->key, true);
		break;
	case OP_NONE:
		return false;
	}
	return c->outlen < sizeof(c->out);
}

/* The balancer's addresses, IPv4 first (common/addr.h). */
static int
resolve(struct harmony_client *c, char *err, size_t errlen)
{
	int n = addr_resolve(c->host, c->ack_port, c->addrs, c->addrlens,
	    HC_ADDRS_MAX, err, errlen);

	c->addr_first = 0;
	c->naddrs = n > 0 ? (size_t)n : 0;
	return n > 0 ? 0 : -1;
}

/*
 * Connects to the next untried address. Returns 0 (connected or in
 * progress) or -1 with errno once every address has failed.
 */
static int
op_connect(struct harmony_client *c)
{
	int err = ECONNREFUSED;

	while (c->addr_try < c->naddrs) {
		size_t i = (c->addr_first + c->addr_try) % c->naddrs;
		const struct sockaddr *sa = (const struct sockaddr *)&c->addrs[i];

		if (c->fd >= 0)
			close(c->fd);
		c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd == -1)
			return -1;
		if (connect(c->fd, sa, c->addrlens[i]) == 0) {
			c->connecting = false;
			return 0;
		}
		if (errno == EINPROGRESS || errno == EINTR) {
			c->connecting = true;
			return 0;
		}
		err = errno;
		c->addr_try++;
	}
	errno = err;
	return -1;
}

static void
op_start(struct harmony_client *c, enum op_kind op, int64_t now)
{
	char err[HC_ERROR_MAX];

	if (op == OP_CLOSE && c->key[0] == '\0') {
		/* Never registered (or lost it): nothing to tell anyone. */
		c->state = HARMONY_CLOSED;
		emit(c, HARMONY_EVENT_CLOSED, "not registered");
		return;
	}
	if (c->plain && service_named(c) && (op == OP_REGISTER || op == OP_UPDATE)) {
		op_fail(c, ENOTSUP, now, "the balancer speaks node-harmony's plain"
		    " protocol and has no services: service %s refused", c->service);
		return;
	}
	c->op = op;
	c->op_start = now;
	c->op_deadline = now + c->timeout_ms;
	c->addr_try = 0;
	if (!op_build(c, op)) {
		op_fail(c, EINVAL, now, "request too long");
		return;
	}
	if (c->naddrs == 0 && resolve(c, err, sizeof(err)) == -1) {
		op_fail(c, EHOSTUNREACH, now, "%s", err);
		return;
	}
	if (op_connect(c) == -1) {
		int e = errno;

		c->naddrs = 0;		/* resolve again next time */
		op_fail(c, e, now, "connect: %s", strerror(e));
	}
}

/* ERR:<reason>: from the server. */
static void
answer_err(struct harmony_client *c, const char *reason, int64_t now)
{
	int e = EPROTO;

	if (strcmp(reason, "auth") == 0 || strcmp(reason, "forbidden") == 0)
		e = EACCES;
	else if (strcmp(reason, "conflict") == 0 || strcmp(reason, "exists") == 0)
		e = EEXIST;
	else if (strcmp(reason, "service") == 0)
		e = ENOENT;
	else if (strcmp(reason, "agent") == 0)
		e = EINVAL;
	if (e == ENOENT && c->service != NULL) {
		op_fail(c, e, now, "balancer answered ERR:service: it has no"
		    " service %s", c->service);
		return;
	}
	op_fail(c, e, now, "balancer answered ERR:%s%s", reason,
	    e == EACCES ? (c->token ? " (wrong token?)" : " (needs a token?)") : "");
}

static bool
expect_matches(const struct expect *e, const char *verb, const char *arg)
{
	if (strcmp(verb, "BID") == 0 && e->bid_ok)
		return strcmp(arg, e->arg) == 0;
	return strcmp(verb, e->verb) == 0 && (e->any || strcmp(arg, e->arg) == 0);
}

/*
 * The answer is not the extension's that was due. If it is the one due
 * after the extensions, the server skipped them: take it for one that
 * does not speak them (plain mode) and go on from there.
 */
static bool
skip_extensions(struct harmony_client *c, const char *verb, const char *arg)
{
	char skipped[4 * (HC_VERB_MAX + 1)] = "";
	size_t j = c->ngot;

	while (j < c->nexpect && c->expect[j].ext)
		j++;
	if (j == c->ngot || j == c->nexpect || !expect_matches(&c->expect[j], verb, arg))
		return false;
	for (size_t i = c->ngot; i < j; i++) {
		size_t n = strlen(skipped);

		/*
		 * The old server's one service is the default, and it tells
		 * no one who changed a target: no loss.
		 */
		if ((strcmp(c->expect[i].verb, "SVC") == 0 && !service_named(c)) ||
		    strcmp(c->expect[i].verb, "AGENT") == 0)
			continue;
		snprintf(skipped + n, sizeof(skipped) - n, "%s%s", n ? " " : "",
		    c->expect[i].verb);
	}
	c->ngot = j;
	if (!c->plain) {
		c->plain = true;
		if (skipped[0] != '\0')
			emit(c, HARMONY_EVENT_PLAIN, skipped);
	}
	return true;
}

/* The answer due has come; false once that ends the operation. */
static bool
answered(struct harmony_client *c)
{
	if (++c->ngot == c->nexpect) {
		op_done(c);
		return false;
	}
	return true;
}

/* One answer: verb and argument. False once the operation has ended. */
static bool
answer(struct harmony_client *c, const char *verb, const char *arg, int64_t now)
{
	struct expect *e = &c->expect[c->ngot];

	/* A harmonyd before AGENT: ERR:verb: to it, then to its argument. */
	if (e->ext && strcmp(e->verb, "AGENT") == 0 && strcmp(verb, "ERR") == 0 &&
	    strcmp(arg, "verb") == 0) {
		c->no_agent = true;
		return e->errs++ == 0 ? true : answered(c);
	}
	if (strcmp(verb, "ERR") == 0) {
		c->plain = false;	/* only harmonyd answers ERR */
		answer_err(c, arg, now);
		return false;
	}
	if (e->ext && !expect_matches(e, verb, arg) && skip_extensions(c, verb, arg))
		e = &c->expect[c->ngot];
	if (strcmp(verb, "BID") == 0 && e->bid_ok && strcmp(arg, e->arg) == 0) {
		op_lost(c);
		return false;
	}
	if (strcmp(verb, e->verb) != 0 || (!e->any && strcmp(arg, e->arg) != 0)) {
		op_fail(c, EPROTO, now, "unexpected answer %s:%.40s: to %s", verb, arg,
		    e->verb);
		return false;
	}
	if (e->any) {
		if (!token_ok(arg, HC_KEY_MAX)) {
			op_fail(c, EPROTO, now, "bad key in the %s answer", verb);
			return false;
		}
		memcpy(c->newkey, arg, strlen(arg) + 1);	/* token_ok: it fits */
	}
	return answered(c);
}

/* Parses the complete tokens in in[]; false once the operation has ended. */
static bool
parse_answers(struct harmony_client *c, int64_t now)
{
	size_t pos = 0;
	char *colon;

	while ((colon = memchr(c->in + pos, ':', c->inlen - pos)) != NULL) {
		char *tok = c->in + pos;
		size_t len = (size_t)(colon - tok);

		*colon = '\0';
		pos += len + 1;
		if (memchr(tok, '\0', len) != NULL) {
			op_fail(c, EPROTO, now, "NUL byte in an answer");
			return false;
		}
		if (!c->have_verb) {
			if (len == 0)
				continue;	/* empty tokens between messages */
			if (len > HC_VERB_MAX) {
				op_fail(c, EPROTO, now, "unexpected answer %.20s", tok);
				return false;
			}
			memcpy(c->verb, tok, len + 1);
			c->have_verb = true;
			continue;
		}
		c->have_verb = false;
		if (!answer(c, c->verb, tok, now))
			return false;
	}
	memmove(c->in, c->in + pos, c->inlen - pos);
	c->inlen -= pos;
	if (c->inlen == sizeof(c->in)) {
		op_fail(c, EPROTO, now, "answer too long");
		return false;
	}
	return true;
}

static void
op_io(struct harmony_client *c, short revents, int64_t now)
{
	ssize_t n;

	if (c->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err == EINPROGRESS || err == EALREADY)
			return;
		if (err != 0) {
			/* Refused on this address: the next one, if any. */
			c->addr_try++;
			if (op_connect(c) == 0)
				return;
			c->naddrs = 0;
			op_fail(c, err, now, "connect: %s", strerror(err));
			return;
		}
		c->connecting = false;
	}
	while (c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
		if (n >= 0) {
			c->outoff += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		op_fail(c, errno, now, "send: %s", strerror(errno));
		return;
	}
	if (!(revents & (POLLIN | POLLERR | POLLHUP)))
		return;
	for (;;) {
		n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
		if (n > 0) {
			c->inlen += (size_t)n;
			if (!parse_answers(c, now))
				return;
			continue;
		}
		if (n == 0) {
			op_fail(c, ECONNRESET, now, "the balancer closed the connection"
			    " before answering");
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		op_fail(c, errno, now, "recv: %s", strerror(errno));
		return;
	}
}

void
harmony_client_process(struct harmony_client *c, short revents, int64_t now)
{
	enum op_kind op;
	int64_t when;

	if (c->fd >= 0) {
		if (revents != 0)
			op_io(c, revents, now);
		if (c->fd >= 0 && now >= c->op_deadline)
			op_fail(c, ETIMEDOUT, now, "%s within %lld ms",
			    c->connecting ? "could not connect" : "no answer",
			    (long long)c->timeout_ms);
		if (c->fd >= 0)
			return;
	}
	/* At most one new operation per call, so a busy peer cannot spin us. */
	op = client_due(c, &when);
	if (op != OP_NONE && when <= now)
		op_start(c, op, now);
}

static bool
client_busy(const struct harmony_client *c)
{
	if (c->fd >= 0)
		return true;
	switch (c->state) {
	case HARMONY_REGISTERING:
	case HARMONY_CLOSING:
		return true;
	case HARMONY_REGISTERED:
		return c->need_update || c->hb_now;
	case HARMONY_IDLE:
	case HARMONY_CLOSED:
		break;
	}
	return false;
}

int
harmony_client_poll(struct harmony_client *c, int timeout_ms)
{
	struct pollfd pfd;
	int64_t wait = harmony_client_next_ms(c, harmony_now_ms());
	int n;

	if (timeout_ms >= 0 && (wait < 0 || wait > timeout_ms))
		wait = timeout_ms;
	if (wait > INT_MAX)
		wait = INT_MAX;
	pfd.fd = c->fd;
	pfd.events = harmony_client_events(c);
	pfd.revents = 0;
	if (c->fd < 0 && wait < 0)
		return 0;		/* nothing to wait for, ever */
	n = poll(&pfd, c->fd >= 0 ? 1 : 0, (int)wait);
	if (n == -1 && errno != EINTR)
		return -1;
	harmony_client_process(c, n > 0 ? pfd.revents : 0, harmony_now_ms());
	return 0;
}

int
harmony_client_wait(struct harmony_client *c, int timeout_ms)
{
	int64_t deadline = harmony_now_ms() + timeout_ms;
	uint64_t failed = c->nfailed;

	while (client_busy(c)) {
		int64_t left = deadline - harmony_now_ms();

		if (c->nfailed != failed) {
			errno = c->last_errno ? c->last_errno : EIO;
			return -1;
		}
		if (c->suspended && c->fd < 0 && c->state != HARMONY_CLOSING) {
			errno = EAGAIN;
			return -1;
		}
		if (timeout_ms >= 0 && left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (harmony_client_poll(c, timeout_ms >= 0 ? (int)left : -1) == -1)
			return -1;
	}
	if (c->nfailed != failed) {
		errno = c->last_errno ? c->last_errno : EIO;
		return -1;
	}
	return 0;
}
