/*
 * ratelimit: token buckets per client address, in a fixed-size table.
 *
 * Memory is fixed at creation whatever the number of peers: the table is
 * direct-mapped by a keyed hash of the address (IPv4-mapped IPv6 counts as
 * IPv4), and a peer that lands on a slot held by another takes it over with
 * a full bucket. So the limit is per address "as far as the table can
 * tell": enough to stop one peer flooding, no defence against many
 * addresses (that is what the token and the allow-list are for).
 */
#ifndef HARMONY_RATELIMIT_H
#define HARMONY_RATELIMIT_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit;

/* burst events at once, then per_minute on average. NULL on ENOMEM. */
struct ratelimit *ratelimit_new(size_t slots, unsigned burst, unsigned per_minute);
void		 ratelimit_free(struct ratelimit *);
/*
 * A fixed placement instead of the random one, for tests that must know
 * two addresses do not share a slot. Before the first take.
 */
void		 ratelimit_set_seed(struct ratelimit *, uint64_t seed);
/*
 * Takes one token for addr at now_ms; false when its bucket is empty.
 * Time that goes back refills nothing.
 */
bool		 ratelimit_take(struct ratelimit *, const struct sockaddr *addr,
		    int64_t now_ms);

#endif
