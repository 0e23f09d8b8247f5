/*
 * ackport: the raw TCP registration port (node-harmony's "adminport").
 *
 * Owns its listeners and connections; each connection owns its fd, its
 * protocol state (ackproto) and its idle timer. Borrows the loop and the
 * pool, which it changes only through ackreg (what each message does). Every bound is enforced here: connections in all and per peer
 * address, idle time, bytes of unanswered output; beyond any of them the
 * connection is closed and nothing else is touched.
 */
#ifndef HARMONY_ACKPORT_H
#define HARMONY_ACKPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/net.h"

struct loop;
struct pool;
struct ackport;

#define ACKPORT_MAX_CONNS	1024
#define ACKPORT_MAX_PER_PEER	16
#define ACKPORT_IDLE_MS		10000
#define ACKPORT_OUT_MAX		(64 * 1024)
#define ACKPORT_NID_BURST	30	/* registrations per peer at once ... */
#define ACKPORT_NID_PER_MIN	60	/* ... then on average per minute */
#define ACKPORT_RATE_SLOTS	4096	/* peers the rate limit tells apart */

struct ackport_params {
	const char		*token;		/* copied; NULL: none */
	const struct net_cidr	*allow;		/* copied */
	size_t			 nallow;
	int64_t			 idle_ms;
	size_t			 max_conns;
	size_t			 max_per_peer;
};

/* pool: any of harmonyd's (ackreg.h); ackport_set_pool before it goes. */
struct ackport	*ackport_new(struct loop *, struct pool *, const struct ackport_params *);
void		 ackport_set_pool(struct ackport *, struct pool *);
void		 ackport_free(struct ackport *);
/*
 * New token and allow-list apply to new connections and new messages. A
 * changed token also revokes the AUTH of every open connection: it must
 * authenticate again with the new one before it writes.
 */
int		 ackport_set_params(struct ackport *, const struct ackport_params *);
int		 ackport_listen(struct ackport *, const struct net_addr *,
		    struct net_addr *bound, char *err, size_t errlen);
void		 ackport_stop(struct ackport *);
struct fdbudget;
/* The budget its connections come out of (a unit each); before listening. */
void		 ackport_set_fdbudget(struct ackport *, struct fdbudget *);
size_t		 ackport_conns(const struct ackport *);

#endif
