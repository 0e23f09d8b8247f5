/*
 * balance: choosing a target for a new session.
 *
 * Pure policy over the pool: it reads targets and keeps its own
 * per-algorithm state (smooth WRR's current weights by target id, the
 * Maglev table, and for large pools the indexed scheduler of
 * registry/sched.h), and never changes a target's state or counters. It
 * watches the pool's removals (pool_watch_remove) and active counts
 * (pool_watch_active) to keep that state in step. Persistence sits in
 * front of it, in the caller.
 *
 * Cost of a pick: roundrobin and leastconn walk the pool while it lists
 * at most BALANCE_LINEAR_MAX targets (their exact sequences, below), and
 * take O(log n) from the indexed scheduler beyond; hash is a table
 * lookup at any size. Only the fallback tier (nothing choosable) walks
 * at any size.
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
/*
 * Up to this many listed targets, roundrobin is nginx's smooth WRR and
 * leastconn breaks ties with it, by a walk (at most ~10 us); beyond, the
 * earliest-deadline-first scheduler (registry/sched.h) picks in O(log n)
 * with the same shares and the same least load, in another order.
 */
#define BALANCE_LINEAR_MAX	320

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

/*
 * The targets, heap levels and table slots picks have gone through so
 * far: what shows a pick's cost independent of the pool's size
 * (check_balance).
 */
uint64_t	 balance_steps(const struct balancer *);

int		 balance_algo_parse(const char *, enum balance_algo *);
const char	*balance_algo_name(enum balance_algo);

#endif
