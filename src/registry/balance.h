/*
 * balance: choosing a target for a new session.
 *
 * Pure policy over the pool: it reads targets and keeps its own
 * per-algorithm state (smooth WRR's current weights by target id, the
 * Maglev table), and never changes a target's state or counters. It
 * watches the pool's removals (pool_watch_remove) to keep that state in
 * step. Persistence sits in front of it, in the caller.
 *
 * balance_free may come before or after pool_free.
 */
#ifndef HARMONY_BALANCE_H
#define HARMONY_BALANCE_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

struct pool;
struct target;

enum balance_algo {
	BALANCE_LEASTCONN,
	BALANCE_ROUNDROBIN,
	BALANCE_HASH,
};

#define BALANCE_MAGLEV_SIZE	65537	/* prime */

struct balancer;

struct balancer	*balance_new(struct pool *, enum balance_algo);
void		 balance_free(struct balancer *);
void		 balance_set_algo(struct balancer *, enum balance_algo);
enum balance_algo balance_algo(const struct balancer *);

/*
 * Picks a target for a client (client may be NULL except for hash),
 * skipping the nexclude target ids in exclude (already tried by this session).
 * Choosable targets first; failing ones in backoff only if no choosable one
 * is left. NULL if none.
 */
struct target	*balance_pick(struct balancer *, const struct sockaddr *client,
		    const uint32_t *exclude, size_t nexclude, int64_t now);

int		 balance_algo_parse(const char *, enum balance_algo *);
const char	*balance_algo_name(enum balance_algo);

#endif
