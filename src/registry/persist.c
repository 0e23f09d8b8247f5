/*
 * persist: see persist.h.
 *
 * A chained hash table of power-of-two size, keyed with SipHash-2-4
 * (common/hash.h) under a random per-table key (clients choose their addresses, so they must not be
 * able to aim at one chain), plus an LRU list whose head is the most
 * recently used entry. The table doubles while entries outnumber buckets,
 * up to the bucket count that max_entries needs; if growing fails the
 * chains just get longer.
 *
 * Hits count the lookups that found the entry. Re-pointing a client at
 * another target starts its count again (the hits belong to the pairing);
 * setting the same target again keeps it.
 *
 * A ttl of 0 or less means no idle expiry: only the size cap evicts.
 */
#include "autoconfig.h"

#include <sys/queue.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/random.h"
#include "registry/persist.h"

#define PERSIST_BUCKETS_MIN	64

struct persist_entry {
	struct persist_entry		*next;	/* hash chain */
	TAILQ_ENTRY(persist_entry)	 lru;
	uint8_t				 key[16];	/* IPv6, IPv4-mapped */
	uint32_t			 target_id;
	uint64_t			 hits;
	int64_t				 last_use;
};

TAILQ_HEAD(persist_lru, persist_entry);

struct persist {
	struct persist_entry	**buckets;
	size_t			  nbuckets;	/* power of two */
	size_t			  count;
	size_t			  max;
	int64_t			  ttl;
	struct persist_lru	  lru;		/* head: most recent */
	uint64_t		  version;
	uint64_t		  state_version;	/* entries or their targets */
	uint64_t		  sipkey[2];
};

/* --- keys ---------------------------------------------------------------- */

static int
key_of(const struct sockaddr *sa, uint8_t key[16])
{
	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		memcpy(key, &sin6->sin6_addr, 16);
		return 0;
	}
	return -1;
}

static void
key_text(const uint8_t key[16], char *buf, size_t len)
{
	struct in6_addr a;

	memcpy(&a, key, 16);
	if (IN6_IS_ADDR_V4MAPPED(&a)) {
		if (inet_ntop(AF_INET, key + 12, buf, (socklen_t)len) != NULL)
			return;
	} else if (inet_ntop(AF_INET6, key, buf, (socklen_t)len) != NULL)
		return;
	buf[0] = '\0';
}

static struct persist_entry **
bucket_of(const struct persist *ps, const uint8_t key[16])
{
	return &ps->buckets[hash_sip(ps->sipkey, key, 16) & (ps->nbuckets - 1)];
}

static struct persist_entry *
find(const struct persist *ps, const uint8_t key[16])
{
	struct persist_entry *e;

	for (e = *bucket_of(ps, key); e != NULL; e = e->next) {
		if (memcmp(e->key, key, 16) == 0)
			return e;
	}
	return NULL;
}

static void
entry_delete(struct persist *ps, struct persist_entry *e)
{
	struct persist_entry **pp = bucket_of(ps, e->key);

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	TAILQ_REMOVE(&ps->lru, e, lru);
	ps->count--;
	ps->version++;
	ps->state_version++;
	free(e);
}

static bool
expired(const struct persist *ps, const struct persist_entry *e, int64_t now)
{
	return ps->ttl > 0 && now - e->last_use >= ps->ttl;
}

/* The bucket count max entries need at a load factor of one. */
static size_t
buckets_cap(size_t max)
{
	size_t n = PERSIST_BUCKETS_MIN;

	while (n < max && n <= SIZE_MAX / 4)
		n *= 2;
	return n;
}

static void
grow(struct persist *ps)
{
	struct persist_entry **nb, *e;
	size_t n = ps->nbuckets * 2;

	if (n > buckets_cap(ps->max) || (nb = calloc(n, sizeof(*nb))) == NULL)
		return;
	free(ps->buckets);
	ps->buckets = nb;
	ps->nbuckets = n;
	TAILQ_FOREACH(e, &ps->lru, lru) {
		struct persist_entry **b = bucket_of(ps, e->key);

		e->next = *b;
		*b = e;
	}
}

static void
evict_to(struct persist *ps, size_t max)
{
	struct persist_entry *e;

	while (ps->count > max && (e = TAILQ_LAST(&ps->lru, persist_lru)) != NULL)
		entry_delete(ps, e);
}

/* --- API ----------------------------------------------------------------- */

struct persist *
persist_new(size_t max_entries, int64_t ttl_ms)
{
	struct persist *ps;

	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		return NULL;
	TAILQ_INIT(&ps->lru);
	ps->max = max_entries;
	ps->ttl = ttl_ms;
	ps->nbuckets = PERSIST_BUCKETS_MIN;
	if ((ps->buckets = calloc(ps->nbuckets, sizeof(*ps->buckets))) == NULL)
		goto fail;
	if (random_fill(ps->sipkey, sizeof(ps->sipkey)) == -1)
		goto fail;
	return ps;
fail:
	{
		int saved = errno;

		free(ps->buckets);
		free(ps);
		errno = saved;
	}
	return NULL;
}

void
persist_free(struct persist *ps)
{
	if (ps == NULL)
		return;
	persist_flush(ps);
	free(ps->buckets);
	free(ps);
}

void
persist_configure(struct persist *ps, size_t max_entries, int64_t ttl_ms)
{
	ps->max = max_entries;
	ps->ttl = ttl_ms;
	evict_to(ps, max_entries);
}

uint32_t
persist_lookup(struct persist *ps, const struct sockaddr *client, int64_t now)
{
	struct persist_entry *e;
	uint8_t key[16];

	if (key_of(client, key) == -1 || (e = find(ps, key)) == NULL)
		return 0;
	if (expired(ps, e, now)) {
		entry_delete(ps, e);
		return 0;
	}
	e->hits++;
	e->last_use = now;
	TAILQ_REMOVE(&ps->lru, e, lru);
	TAILQ_INSERT_HEAD(&ps->lru, e, lru);
	ps->version++;
	return e->target_id;
}

int
persist_set(struct persist *ps, const struct sockaddr *client,
    uint32_t target_id, int64_t now)
{
	struct persist_entry *e, **b;
	uint8_t key[16];

	if (key_of(client, key) == -1) {
		errno = EINVAL;
		return -1;
	}
	if ((e = find(ps, key)) != NULL) {
		if (e->target_id != target_id) {
			e->target_id = target_id;
			e->hits = 0;
			ps->state_version++;
		}
		e->last_use = now;
		TAILQ_REMOVE(&ps->lru, e, lru);
		TAILQ_INSERT_HEAD(&ps->lru, e, lru);
		ps->version++;
		return 0;
	}
	if (ps->max == 0)
		return 0;	/* persistence that keeps nothing */
	evict_to(ps, ps->max - 1);
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	memcpy(e->key, key, sizeof(e->key));
	e->target_id = target_id;
	e->last_use = now;
	if (ps->count >= ps->nbuckets)
		grow(ps);
	b = bucket_of(ps, key);
	e->next = *b;
	*b = e;
	TAILQ_INSERT_HEAD(&ps->lru, e, lru);
	ps->count++;
	ps->version++;
	ps->state_version++;
	return 0;
}

bool
persist_forget_text(struct persist *ps, const char *client)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;

	if (client == NULL)
		return false;
	memset(&sin, 0, sizeof(sin));
	if (inet_pton(AF_INET, client, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		return persist_forget(ps, (struct sockaddr *)&sin);
	}
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET6, client, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		return persist_forget(ps, (struct sockaddr *)&sin6);
	}
	return false;
}

bool
persist_forget(struct persist *ps, const struct sockaddr *client)
{
	struct persist_entry *e;
	uint8_t key[16];

	if (key_of(client, key) == -1 || (e = find(ps, key)) == NULL)
		return false;
	entry_delete(ps, e);
	return true;
}

size_t
persist_forget_target(struct persist *ps, uint32_t target_id)
{
	struct persist_entry *e, *next;
	size_t n = 0;

	/* O(n), but only when a target goes away. */
	for (e = TAILQ_FIRST(&ps->lru); e != NULL; e = next) {
		next = TAILQ_NEXT(e, lru);
		if (e->target_id == target_id) {
			entry_delete(ps, e);
			n++;
		}
	}
	return n;
}

void
persist_flush(struct persist *ps)
{
	struct persist_entry *e;

	if (ps->count == 0)
		return;
	while ((e = TAILQ_FIRST(&ps->lru)) != NULL) {
		TAILQ_REMOVE(&ps->lru, e, lru);
		free(e);
	}
	memset(ps->buckets, 0, ps->nbuckets * sizeof(*ps->buckets));
	ps->count = 0;
	ps->version++;
	ps->state_version++;
}

size_t
persist_expire(struct persist *ps, int64_t now, size_t budget)
{
	struct persist_entry *e;
	size_t n = 0;

	/* NOLINTBEGIN(clang-analyzer-unix.Malloc): entry_delete unlinks e */
	while (n < budget && (e = TAILQ_LAST(&ps->lru, persist_lru)) != NULL &&
	    expired(ps, e, now)) {
		entry_delete(ps, e);
		n++;
	}
	/* NOLINTEND(clang-analyzer-unix.Malloc) */
	return n;
}

size_t
persist_count(const struct persist *ps)
{
	return ps->count;
}

void
persist_foreach(const struct persist *ps, persist_visit_fn *fn, void *arg)
{
	const struct persist_entry *e;
	struct persist_entry_info info;

	TAILQ_FOREACH(e, &ps->lru, lru) {
		memset(&info, 0, sizeof(info));
		key_text(e->key, info.client, sizeof(info.client));
		info.target_id = e->target_id;
		info.hits = e->hits;
		info.last_use = e->last_use;
		fn(&info, arg);
	}
}

uint64_t
persist_version(const struct persist *ps)
{
	return ps->version;
}

uint64_t
persist_state_version(const struct persist *ps)
{
	return ps->state_version;
}
