/*
 * proxy: client sessions, from accept to close.
 *
 * accept -> (queue while concurrency is used up) -> pick a target
 * (persistence, then the balancer) -> non-blocking connect with a timeout
 * -> requeue to another target on failure -> relay both ways with
 * backpressure and half-close -> close, with one access-log line.
 *
 * The proxy owns its listeners and sessions, and each session owns its two
 * fds, its buffers and its timer; session_close (in session.c) is the only
 * way a session ends. It borrows the loop, pool, balancer and persistence table,
 * which must outlive it. Sessions hold counted references on their targets.
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
};

struct proxy_stats {
	uint64_t	 accepted;		/* client connections taken */
	uint64_t	 connected;		/* sessions that reached a target */
	uint64_t	 unavailable;		/* answered "unavailable" */
	uint64_t	 connect_failures;	/* failed connects (before requeue) */
	uint64_t	 accept_errors;		/* refused for want of fds, EMFILE... */
	uint64_t	 bytes_up;		/* client -> target, finished sessions */
	uint64_t	 bytes_down;		/* target -> client, finished sessions */
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

#endif
