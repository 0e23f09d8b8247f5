/*
 * libharmony: register a backend with a Harmony balancer (harmonyd, or
 * node-harmony) over its ack port, heartbeat, reweigh and deregister.
 *
 * One struct harmony_client speaks for one target (this backend's port) to
 * one balancer. It opens one short TCP connection per operation, as
 * node-harmony's own client does:
 *
 *	register	[AUTH:<token>:][AGENT:<me>:][SVC:<name>:][HOST:<addr>:][TTL:<s>:]
 *			NID::BAL:<w>:SPORT:<port>:
 *	heartbeat	[AUTH:<token>:][AGENT:<me>:]ACK:<key>:
 *	reweigh		[AUTH:<token>:][AGENT:<me>:][SVC:<name>:]ACK:<key>:ID:<key>:
 *			[TTL:<s>:]BAL:<w>:
 *	deregister	[AUTH:<token>:][AGENT:<me>:]CLOSE:<key>:
 *
 * and, once every message has its answer, BYE:. A BID answer (the balancer
 * no longer knows the key, e.g. it restarted without a state file) makes
 * the client register anew at once, with its port and weight.
 *
 * AUTH, AGENT, SVC, HOST and TTL are harmonyd's extensions. The original
 * node-harmony server answers none of them: it answers the plain message
 * that follows instead. The client takes that as proof, says so
 * (HARMONY_EVENT_PLAIN, each time it finds out), completes the operation
 * and speaks the plain protocol to that balancer from then on: no token,
 * no host, no TTL (its own host timeout applies, and a heartbeat period
 * derived from the TTL is at most HARMONY_INTERVAL_DEFAULT_MS), and
 * heartbeats as the reference client sends them, ACK:<key>:ID:<key>:, so
 * that a restart of that server is noticed (BID). An ERR answer (only
 * harmonyd sends one) or a BID ends plain mode: the next request carries
 * the extensions again.
 *
 * The client's name (harmony_client_set_agent) is no loss there either
 * (that server says nothing of who changes a target): never named in the
 * HARMONY_EVENT_PLAIN detail, and no event at all when it was the only
 * extension. A harmonyd older than AGENT answers it ERR:verb: (twice: the
 * name too); the client takes that for the answer, goes on, and leaves
 * the name out to that balancer until a BID.
 *
 * Services (harmony_client_set_service): the old server has one service
 * and no names. SVC:default: skipped there is no loss: it is not named in
 * the HARMONY_EVENT_PLAIN detail, and no event at all says so when it was
 * the only extension. Any other service cannot be honoured: the
 * registration that found the old server out (it registers as it reads,
 * before the client can tell) is not kept (the client forgets its key;
 * the old server ages the target out by its own host timeout) and every
 * later one is refused without a connection, each with
 * HARMONY_EVENT_ERROR ("... has no services: ..."), errno ENOTSUP for
 * harmony_client_wait, until the client is made anew.
 *
 * Nothing here blocks but the two helpers at the end, and the resolution
 * of a balancer given by name (getaddrinfo(3), when an operation starts;
 * a numeric address never blocks). The client is driven by the caller's
 * event loop (poll(2) and the like): after every call into the client, ask
 * it again for
 *
 *	harmony_client_fd()	the socket of the operation in flight, or -1;
 *				it changes from one operation to the next
 *	harmony_client_events()	POLLIN/POLLOUT wanted on that socket
 *	harmony_client_next_ms()	how long until it wants
 *				harmony_client_process() anyway (a heartbeat
 *				is due, a retry, a timeout), or -1
 *
 * and call harmony_client_process() when the socket is ready or that time
 * has come. Time is CLOCK_MONOTONIC in milliseconds (harmony_now_ms()),
 * passed in so that tests may run on a clock of their own.
 *
 * Failures (refused, timed out, an ERR answer, a dropped connection) are
 * retried with a backoff: from min(1 s, period) doubling, up to the
 * heartbeat period while registered and up to 30 s (or the period, if
 * longer) otherwise. Each one is reported to the event callback.
 *
 * Ownership: the client copies every string it is given and owns its
 * socket; harmony_client_free closes it. Strings it returns live until the
 * next call that changes the client. A client is not thread-safe.
 */
#ifndef HARMONY_H
#define HARMONY_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HARMONY_ACK_PORT	1666	/* harmonyd's and node-harmony's default */
#define HARMONY_WEIGHT_MIN	1
#define HARMONY_WEIGHT_MAX	1000000
#define HARMONY_WEIGHT_DEFAULT	500
#define HARMONY_TOKEN_MAX	256	/* bytes; the ack port's token limit */
#define HARMONY_SERVICE_MAX	63	/* bytes of a service's name */
#define HARMONY_AGENT_MAX	64	/* bytes of a client's name */
#define HARMONY_TTL_MAX_MS	(86400 * 1000LL)
#define HARMONY_INTERVAL_DEFAULT_MS 30000	/* without a TTL */
#define HARMONY_TIMEOUT_DEFAULT_MS 5000	/* connect and answers, per operation */

struct harmony_client;

enum harmony_state {
	HARMONY_IDLE,		/* created; harmony_client_register not called */
	HARMONY_REGISTERING,	/* not registered yet, or again after BID */
	HARMONY_REGISTERED,
	HARMONY_CLOSING,	/* harmony_client_close called, not done yet */
	HARMONY_CLOSED,		/* deregistered (or never registered): final */
};

enum harmony_event {
	HARMONY_EVENT_REGISTERED,	/* detail: the target's key */
	HARMONY_EVENT_ACKED,		/* a heartbeat was answered */
	HARMONY_EVENT_UPDATED,		/* a new weight or TTL was answered */
	HARMONY_EVENT_LOST,		/* BID: registering anew */
	HARMONY_EVENT_ERROR,		/* detail: why; retried after a backoff */
	HARMONY_EVENT_CLOSED,		/* deregistered; detail "not registered" if
					   there was nothing to deregister */
	HARMONY_EVENT_PLAIN,		/* the balancer ignores the extensions:
					   plain protocol from now on; detail:
					   those it skipped, e.g. "AUTH TTL" */
};

/*
 * detail is NULL or a short text, valid during the call only. Later
 * versions may add events: ignore those you do not know.
 */
typedef void	harmony_event_fn(struct harmony_client *, enum harmony_event,
		    const char *detail, void *arg);

/*
 * A client for the balancer at host (name or numeric address) and
 * ack_port (0: HARMONY_ACK_PORT), for the target port (1..65535) of this
 * host. NULL with errno set: EINVAL for a bad argument, ENOMEM. The host is
 * resolved with getaddrinfo(3) when an operation starts, so a name may
 * block then; numeric addresses never do.
 */
struct harmony_client *harmony_client_new(const char *host, uint16_t ack_port,
		    uint16_t port);
/* Closes the socket; deregisters nothing (see harmony_client_close). */
void		 harmony_client_free(struct harmony_client *);

/*
 * Settings. Each returns 0, or -1 with errno EINVAL (and changes nothing).
 * Weight and TTL changed while registered are sent to the balancer (an
 * update); the others apply from the next operation on.
 */
/* HARMONY_WEIGHT_MIN..HARMONY_WEIGHT_MAX (default HARMONY_WEIGHT_DEFAULT). */
int		 harmony_client_set_weight(struct harmony_client *, uint32_t weight);
/*
 * Shared secret sent as AUTH: on every connection; NULL for none. 1 to
 * HARMONY_TOKEN_MAX bytes of printable ASCII other than ':' and space (what
 * harmonyd accepts as --token), else -1 with errno EINVAL.
 */
int		 harmony_client_set_token(struct harmony_client *, const char *token);
/*
 * This target's own heartbeat timeout on the balancer (TTL:, in whole
 * seconds, rounded up); 0 leaves the balancer's --host-timeout.
 */
int		 harmony_client_set_ttl(struct harmony_client *, int64_t ttl_ms);
/* Heartbeat period; 0 (the default) is half the TTL, or 30 s without one. */
int		 harmony_client_set_interval(struct harmony_client *, int64_t ms);
/* Time allowed to each operation, connect included; 0: 5 s. */
int		 harmony_client_set_timeout(struct harmony_client *, int64_t ms);
/*
 * Register this IPv4 address instead of the one the balancer sees the
 * connection come from (HOST:; the balancer requires the token for it).
 * NULL for the default.
 */
int		 harmony_client_set_host(struct harmony_client *, const char *addr);
/*
 * The balancer's service this target belongs to (SVC:, sent before the
 * registration's NID and the update's ID); NULL (the default) sends none,
 * and the balancer's default service takes it. 1 to HARMONY_SERVICE_MAX
 * bytes of [a-z0-9_-], starting with a letter or digit, else -1 with
 * errno EINVAL. A balancer without that service answers ERR:service:
 * (HARMONY_EVENT_ERROR, errno ENOENT for harmony_client_wait). Added in
 * interface 2 (libtool -version-info 2:0:2; still libharmony.so.0).
 */
int		 harmony_client_set_service(struct harmony_client *, const char *name);
/*
 * The name of the program this client speaks for, "product/version"
 * (AGENT:, sent after AUTH on every connection): harmonyd then says the
 * changes it makes are by "agent", with this name as their reason,
 * rather than by "ack". NULL (the default) sends none. 1 to
 * HARMONY_AGENT_MAX bytes: [A-Za-z0-9][A-Za-z0-9._-]* "/"
 * [A-Za-z0-9][A-Za-z0-9._+-]*, e.g. "harmony-agent/0.9" or
 * "myapp/2.1.0-rc.1+git.abc", else -1 with errno EINVAL. harmony-agent
 * sends "harmony-agent/<its version>". Added in interface 3 (libtool
 * -version-info 3:0:3; still libharmony.so.0).
 */
int		 harmony_client_set_agent(struct harmony_client *, const char *name);
/* fn may call into the client, but must not free it. */
void		 harmony_client_set_callback(struct harmony_client *,
		    harmony_event_fn *fn, void *arg);

/*
 * Requests; each only marks work for harmony_client_process. register
 * starts the registration and the heartbeats that follow it (-1, EALREADY
 * if it was called before; EINVAL once closed). close deregisters (or just
 * ends, if never registered); no heartbeat follows it. heartbeat sends one
 * now rather than when due.
 */
int		 harmony_client_register(struct harmony_client *);
int		 harmony_client_heartbeat(struct harmony_client *);
int		 harmony_client_close(struct harmony_client *);
/*
 * While suspended the client neither registers nor heartbeats, so the
 * balancer marks the target down once its timeout passes (e.g. while a
 * health check fails). resume heartbeats (or registers) at once.
 */
void		 harmony_client_suspend(struct harmony_client *);
void		 harmony_client_resume(struct harmony_client *);
bool		 harmony_client_suspended(const struct harmony_client *);

/* Driving it from an event loop; see the top of this file. */
int		 harmony_client_fd(const struct harmony_client *);
short		 harmony_client_events(const struct harmony_client *);
int64_t		 harmony_client_next_ms(const struct harmony_client *, int64_t now);
/* revents: from poll(2) for harmony_client_fd(), or 0 on a timeout. */
void		 harmony_client_process(struct harmony_client *, short revents,
		    int64_t now);

/* What it is at. */
enum harmony_state harmony_client_state(const struct harmony_client *);
/* The key the balancer gave (a secret); NULL while not registered. */
const char	*harmony_client_key(const struct harmony_client *);
/* The last failure ("" if none since the last success). */
const char	*harmony_client_error(const struct harmony_client *);
/* True while the balancer is taken for one without the extensions. */
bool		 harmony_client_plain(const struct harmony_client *);
/* Failed attempts in a row. */
unsigned	 harmony_client_failures(const struct harmony_client *);
/* "host:ackport", for log lines. */
const char	*harmony_client_balancer(const struct harmony_client *);

/*
 * Blocking helpers for programs without an event loop.
 * harmony_client_poll waits up to timeout_ms (-1: until the client wants
 * something) in poll(2), then processes. harmony_client_wait drives the
 * client until the registration, update or close asked for has been
 * answered: 0 then; -1 with errno on failure (the failure's errno, e.g.
 * ECONNREFUSED, EACCES for a refused token, EPROTO for a bad answer) or
 * ETIMEDOUT after timeout_ms. It does not retry a failed attempt.
 */
int		 harmony_client_poll(struct harmony_client *, int timeout_ms);
int		 harmony_client_wait(struct harmony_client *, int timeout_ms);

const char	*harmony_state_name(enum harmony_state);
const char	*harmony_version(void);
int64_t		 harmony_now_ms(void);

#ifdef __cplusplus
}
#endif

#endif
