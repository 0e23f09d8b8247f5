/*
 * persist: the persistence table, client address -> target id.
 *
 * Keys are client addresses without port (IPv4 and IPv6; an IPv4-mapped
 * IPv6 address is the same client as its IPv4 form). Values are target ids,
 * never pointers: the caller resolves them with pool_find_id and replaces an
 * entry whose target is gone or not choosable.
 *
 * Lookup, insert, touch, evict and forgetting a target are O(1) (hash
 * table, LRU list, the entries of each target id; forgetting a target costs
 * its own entries); the table grows without a pause; idle expiry walks the
 * LRU tail and is bounded per call.
 */
#ifndef HARMONY_PERSIST_H
#define HARMONY_PERSIST_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct persist;

struct persist_entry_info {
	char		 client[46];	/* numeric address */
	uint32_t	 target_id;
	uint64_t	 hits;
	int64_t		 last_use;	/* caller's ms clock */
};

typedef void	persist_visit_fn(const struct persist_entry_info *, void *arg);

struct persist	*persist_new(size_t max_entries, int64_t ttl_ms);
void		 persist_free(struct persist *);
/* A smaller max evicts at once, least recently used first. */
void		 persist_configure(struct persist *, size_t max_entries, int64_t ttl_ms);

/* Target id for client, 0 if none or expired; a hit counts and touches. */
uint32_t	 persist_lookup(struct persist *, const struct sockaddr *client, int64_t now);
/* Inserts or replaces; evicts the least recently used at the cap. -1 ENOMEM. */
int		 persist_set(struct persist *, const struct sockaddr *client,
		    uint32_t target_id, int64_t now);
/* client is a numeric address text ("127.0.0.2", "::1"); false if absent. */
bool		 persist_forget_text(struct persist *, const char *client);
bool		 persist_forget(struct persist *, const struct sockaddr *client);
size_t		 persist_forget_target(struct persist *, uint32_t target_id);
void		 persist_flush(struct persist *);
/* Drops at most budget entries idle for ttl or more; returns how many. */
size_t		 persist_expire(struct persist *, int64_t now, size_t budget);
size_t		 persist_count(const struct persist *);
/* Most recently used first. */
void		 persist_foreach(const struct persist *, persist_visit_fn *, void *arg);
/* The same for the max most recent only: a read that shows a few costs a few. */
void		 persist_foreach_max(const struct persist *, size_t max,
		    persist_visit_fn *, void *arg);
/* Changes with every use too (a hit touches its entry). */
uint64_t	 persist_version(const struct persist *);
/* Changes only when an entry comes, goes or changes its target, not on a hit. */
uint64_t	 persist_state_version(const struct persist *);
/*
 * The entries (and target ids) lookups and forgetting have looked at so
 * far: what proves them independent of the table's size (check_persist).
 */
uint64_t	 persist_steps(const struct persist *);

#endif
