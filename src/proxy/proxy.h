/*
 * proxy: client sessions, from accept to close.
 *
 * accept -> (inspect: a PROXY header, a ClientHello routed by its server
 * name to another proxy) -> (queue while concurrency is used up) -> pick a target
 * (persistence, then the balancer) -> non-blocking connect with a timeout
 * -> requeue to another target on failure -> relay both ways with
 * backpressure and half-close -> close, with one access-log line.
 *
 * The proxy owns its listeners and sessions, and each session owns its two
 * fds, its buffers and its timer; session_close (in session.c) is the only
 * way a session ends. It borrows the loop, pool, balancer and persistence table,
 * which must outlive it. Sessions hold counted references on their targets.
 * Routes (proxy_set_routes) point at other proxies: whoever owns them
 * resolves the routes again (proxy_resolve_routes) before one is freed.
 */
#ifndef HARMONY_PROXY_H
#define HARMONY_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/net.h"

struct loop;
struct pool;
struct balancer;
struct persist;
struct proxy;

#define PROXY_BUF_SIZE		(64 * 1024)	/* per direction, while in flight */
#define PROXY_ACCEPT_BATCH	64		/* accepts per wake-up */

struct proxy_params {
	int64_t		 concurrency;		/* -1 unlimited, 0 paused */
	int64_t		 queue_max;
	int64_t		 queue_timeout_ms;
	int64_t		 requeue;
	int64_t		 connect_timeout_ms;
	int64_t		 idle_timeout_ms;	/* 0 never */
	bool		 persistent;
	const char	*unavailable;		/* copied; may hold NULs */
	size_t		 unavailable_len;
	/* PROXY protocol and SNI: docs/harmonyd.8, PROXY PROTOCOL AND SNI. */
	int		 send_proxy;		/* 0 off, else the version: 1, 2 */
	const struct net_cidr *accept_proxy;	/* copied; none: off */
	size_t		 naccept_proxy;
	bool		 sni;			/* read the ClientHello, route */
	int64_t		 inspect_timeout_ms;
	size_t		 inspect_max;		/* ClientHello bytes at most */
};

/* Why an inspected client was closed (harmony_inspect_rejected_total). */
enum proxy_reject {
	PROXY_REJ_UNTRUSTED,	/* accept-proxy: not from a trusted network */
	PROXY_REJ_BAD_PROXY,	/* no valid PROXY header */
	PROXY_REJ_TIMEOUT,	/* the header or the hello took too long */
	PROXY_REJ_NOT_TLS,
	PROXY_REJ_BAD_HELLO,
	PROXY_REJ_TOO_BIG,	/* a ClientHello over inspect_max */
	PROXY_REJ_NO_ROUTE,	/* sni-default close, or a service gone */
	PROXY_REJ_MAX,
};
/* "untrusted", "bad-proxy", "timeout", "not-tls", "bad-hello", ... */
const char	*proxy_reject_name(enum proxy_reject);

struct proxy_stats {
	uint64_t	 accepted;		/* client connections taken */
	uint64_t	 connected;		/* sessions that reached a target */
	uint64_t	 unavailable;		/* answered "unavailable" */
	uint64_t	 connect_failures;	/* failed connects (before requeue) */
	uint64_t	 accept_errors;		/* refused for want of fds, EMFILE... */
	uint64_t	 bytes_up;		/* client -> target, finished sessions */
	uint64_t	 bytes_down;		/* target -> client, finished sessions */
	uint64_t	 rejected[PROXY_REJ_MAX];	/* closed while inspected */
};

struct proxy	*proxy_new(struct loop *, struct pool *, struct balancer *,
		    struct persist *, const struct proxy_params *);
/* Closes every session and listener. */
void		 proxy_free(struct proxy *);
/* Copies what it needs. Raising concurrency releases queued clients. */
int		 proxy_set_params(struct proxy *, const struct proxy_params *);
/* Adds a listener; the real address (port 0 resolved) goes to *bound. */
int		 proxy_listen(struct proxy *, const struct net_addr *,
		    struct net_addr *bound, char *err, size_t errlen);
/*
 * The addresses its listeners are bound to, in the order they were added:
 * up to max of them into out; returns how many there are.
 */
size_t		 proxy_listeners(const struct proxy *, struct net_addr *out, size_t max);
/* Closes the listeners; running and queued sessions go on. */
void		 proxy_stop_accepting(struct proxy *);
struct fdbudget;
/* The budget its sessions' fds come out of; before the first listener. */
void		 proxy_set_fdbudget(struct proxy *, struct fdbudget *);

size_t		 proxy_active(const struct proxy *);	/* connecting or relaying */
size_t		 proxy_queued(const struct proxy *);
size_t		 proxy_sessions(const struct proxy *);	/* every session alive */
const struct proxy_stats *proxy_stats(const struct proxy *);

/*
 * SNI routes (proxy/sni.h patterns): where the sessions of a proxy with
 * params.sni go, by server name, each destination a service name that
 * proxy_resolve_routes turns into a proxy. def is where a hello without
 * a mapped name goes; NULL closes it.
 */
struct proxy_routes;
struct proxy_routes *proxy_routes_new(const char *def);
/* -1 with errno: EINVAL (bad pattern: *why says), EEXIST, ENOMEM. */
int		 proxy_routes_add(struct proxy_routes *, const char *pattern,
		    const char *service, const char **why);
void		 proxy_routes_free(struct proxy_routes *);
/*
 * Takes r (NULL: no routing, its sessions stay), unresolved until
 * proxy_resolve_routes; the counts of destinations it keeps carry over.
 */
void		 proxy_set_routes(struct proxy *, struct proxy_routes *r);
/* The proxy of a service name, or NULL (routed there: closed, no-route). */
typedef struct proxy *proxy_find_fn(void *arg, const char *service);
void		 proxy_resolve_routes(struct proxy *, proxy_find_fn *, void *arg);
/*
 * The destinations of its routes: how many; for i below that, its name
 * and the sessions routed there (while it stays a destination).
 */
size_t		 proxy_routed(const struct proxy *, size_t i, const char **to,
		    uint64_t *n);

#endif
