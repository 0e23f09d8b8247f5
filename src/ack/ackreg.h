/*
 * ackreg: what the ack protocol's requests do to the registry.
 *
 * ackproto decides and answers, and knows nothing of the pool; this is its
 * other half: it looks targets up, registers, heartbeats, deregisters,
 * sets weights, ports and TTLs, applies the registration rate limit, and
 * writes the log lines that go with them. No I/O: ackport feeds it what a
 * connection read and sends what it answered. It borrows the pool and the
 * rate limit for the length of a call.
 */
#ifndef HARMONY_ACKREG_H
#define HARMONY_ACKREG_H

#include <stddef.h>

#include "ack/ackproto.h"

struct pool;
struct ratelimit;

/*
 * The pool of the service called name (SVC:; NULL: the default one), or
 * NULL if harmonyd has no such service: the one place the ack port looks
 * a service up. The pool given is any of harmonyd's (pool_sibling).
 * Keys and ids are looked up in every service (pools_find_key).
 */
struct pool	*ackreg_service(struct pool *, const char *name);
/*
 * Does one request to the pool and says what came of it. nid_rate, if
 * not NULL, is taken from for every registration that adds a target, per
 * peer, at the pool's loop time.
 */
void		 ackreg_apply(struct pool *, struct ratelimit *nid_rate,
		    const struct ack_request *, struct ack_outcome *);
/*
 * Feeds one read to the session, applying each request in turn, so that
 * every answer to it lands in out (one send). ACK_CONTINUE or ACK_CLOSE.
 */
enum ack_result	 ackreg_feed(struct pool *, struct ratelimit *nid_rate,
		    struct ack_session *, const char *data, size_t len,
		    struct ack_out *);

#endif
