/*
 * persist: see persist.h.
 *
 * A chained hash table of power-of-two size, keyed with SipHash-2-4
 * (common/hash.h) under a random per-table key (clients choose their addresses, so they must not be
 * able to aim at one chain), plus an LRU list whose head is the most
 * recently used entry. The table doubles while entries outnumber buckets,
 * up to the bucket count that max_entries needs; if growing fails the
 * chains just get longer. Growing never rehashes everything at once (100
 * 000 entries would hold the loop for milliseconds): the old table stays
 * beside the new one, and every operation moves PERSIST_MOVE_STEP of its
 * buckets over, so the old one is empty (and freed) long before the new
 * one fills; until then a key is looked for in the old bucket if that has
 * not moved yet.
 *
 * The entries of one target id are also linked in a group (a second,
 * smaller chained table, by id), so that forgetting a target (when it is
 * removed) costs its own entries, not a walk of the table. Groups come
 * and go with their entries; their table doubles and halves with their
 * number, which is at most the number of target ids in use (the pool's,
 * POOL_MAX_TARGETS), rehashed at once: well under a millisecond.
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
#define PERSIST_GROUPS_MIN	16
/* Old buckets moved to a grown table per operation (see the top). */
#define PERSIST_MOVE_STEP	16

struct persist_group;

struct persist_entry {
	struct persist_entry		*next;	/* hash chain */
	TAILQ_ENTRY(persist_entry)	 lru;
	TAILQ_ENTRY(persist_entry)	 same;	/* its group's */
	struct persist_group		*group;	/* of its target id */
	uint8_t				 key[16];	/* IPv6, IPv4-mapped */
	uint32_t			 target_id;
	uint64_t			 hits;
	int64_t				 last_use;
};

TAILQ_HEAD(persist_lru, persist_entry);

/* The entries that point at one target id. */
struct persist_group {
	struct persist_group	*next;		/* hash chain */
	struct persist_lru	 entries;	/* by .same */
	uint32_t		 id;
};

struct persist {
	struct persist_entry	**buckets;
	size_t			  nbuckets;	/* power of two */
	struct persist_entry	**old;		/* while growing: the table before */
	size_t			  nold;
	size_t			  moved;	/* old buckets moved so far */
	size_t			  count;
	size_t			  max;
	int64_t			  ttl;
	struct persist_lru	  lru;		/* head: most recent */
	struct persist_group	**groups;	/* by target id */
	size_t			  ngroups_buckets;	/* power of two */
	size_t			  ngroups;
	uint64_t		  version;
	uint64_t		  state_version;	/* entries or their targets */
	uint64_t		  sipkey[2];
	uint64_t		  steps;	/* persist_steps */
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

/* The chain key is on: the old table's if its bucket has not moved yet. */
static struct persist_entry **
bucket_of(const struct persist *ps, const uint8_t key[16])
{
	uint64_t h = hash_sip(ps->sipkey, key, 16);

	if (ps->old != NULL && (size_t)(h & (ps->nold - 1)) >= ps->moved)
		return &ps->old[h & (ps->nold - 1)];
	return &ps->buckets[h & (ps->nbuckets - 1)];
}

static struct persist_entry *
find(struct persist *ps, const uint8_t key[16])
{
	struct persist_entry *e;

	for (e = *bucket_of(ps, key); e != NULL; e = e->next) {
		ps->steps++;
		if (memcmp(e->key, key, 16) == 0)
			return e;
	}
	return NULL;
}

/* Moves up to n old buckets into the new table; frees the old one when done. */
static void
move_some(struct persist *ps, size_t n)
{
	for (; ps->old != NULL && n > 0; n--) {
		struct persist_entry *e = ps->old[ps->moved], *next;

		ps->old[ps->moved++] = NULL;
		for (; e != NULL; e = next) {
			struct persist_entry **b = &ps->buckets[hash_sip(ps->sipkey,
			    e->key, 16) & (ps->nbuckets - 1)];

			next = e->next;
			e->next = *b;
			*b = e;
		}
		if (ps->moved == ps->nold) {
			free(ps->old);
			ps->old = NULL;
			ps->nold = ps->moved = 0;
		}
	}
}

/* --- groups: the entries of a target id ---------------------------------- */

static struct persist_group **
group_bucket(struct persist_group **groups, size_t n, uint32_t id)
{
	return &groups[hash_mix64(id) & (n - 1)];
}

static struct persist_group *
group_find(struct persist *ps, uint32_t id)
{
	struct persist_group *g;

	for (g = *group_bucket(ps->groups, ps->ngroups_buckets, id); g != NULL;
	    g = g->next) {
		ps->steps++;
		if (g->id == id)
			return g;
	}
	return NULL;
}

/* Rehashes the groups into n buckets; ENOMEM keeps the table as it is. */
static void
groups_resize(struct persist *ps, size_t n)
{
	struct persist_group **nb, *g, *next;

	if ((nb = calloc(n, sizeof(*nb))) == NULL)
		return;
	for (size_t i = 0; i < ps->ngroups_buckets; i++) {
		for (g = ps->groups[i]; g != NULL; g = next) {
			struct persist_group **b = group_bucket(nb, n, g->id);

			next = g->next;
			g->next = *b;
			*b = g;
		}
	}
	free(ps->groups);
	ps->groups = nb;
	ps->ngroups_buckets = n;
}

/* id's group, made if it has none. NULL on ENOMEM. */
static struct persist_group *
group_get(struct persist *ps, uint32_t id)
{
	struct persist_group *g, **b;

	if ((g = group_find(ps, id)) != NULL)
		return g;
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	g->id = id;
	TAILQ_INIT(&g->entries);
	if (ps->ngroups >= ps->ngroups_buckets && ps->ngroups_buckets <= SIZE_MAX / 4)
		groups_resize(ps, ps->ngroups_buckets * 2);
	b = group_bucket(ps->groups, ps->ngroups_buckets, id);
	g->next = *b;
	*b = g;
	ps->ngroups++;
	return g;
}

/* A group left without entries goes; the table halves when mostly empty. */
static void
group_put(struct persist *ps, struct persist_group *g)
{
	struct persist_group **pp;

	if (!TAILQ_EMPTY(&g->entries))
		return;
	pp = group_bucket(ps->groups, ps->ngroups_buckets, g->id);
	while (*pp != g)
		pp = &(*pp)->next;
	*pp = g->next;
	free(g);
	ps->ngroups--;
	if (ps->ngroups_buckets > PERSIST_GROUPS_MIN &&
	    ps->ngroups < ps->ngroups_buckets / 8)
		groups_resize(ps, ps->ngroups_buckets / 2);
}

static void
group_join(struct persist_entry *e, struct persist_group *g)
{
	e->group = g;
	e->target_id = g->id;
	TAILQ_INSERT_TAIL(&g->entries, e, same);
}

/* --- entries --------------------------------------------------------------- */

static void
entry_delete(struct persist *ps, struct persist_entry *e)
{
	struct persist_entry **pp = bucket_of(ps, e->key);

	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	TAILQ_REMOVE(&ps->lru, e, lru);
	TAILQ_REMOVE(&e->group->entries, e, same);
	group_put(ps, e->group);
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

/* Starts moving to a table twice the size (see the top). */
static void
grow(struct persist *ps)
{
	struct persist_entry **nb;
	size_t n = ps->nbuckets * 2;

	/* Not while a move goes on: it ends within nbuckets / 2 operations. */
	if (ps->old != NULL || n > buckets_cap(ps->max) ||
	    (nb = calloc(n, sizeof(*nb))) == NULL)
		return;
	ps->old = ps->buckets;
	ps->nold = ps->nbuckets;
	ps->moved = 0;
	ps->buckets = nb;
	ps->nbuckets = n;
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
	ps->ngroups_buckets = PERSIST_GROUPS_MIN;
	if ((ps->groups = calloc(ps->ngroups_buckets, sizeof(*ps->groups))) == NULL)
		goto fail;
	if (random_fill(ps->sipkey, sizeof(ps->sipkey)) == -1)
		goto fail;
	return ps;
fail:
	{
		int saved = errno;

		free(ps->buckets);
		free(ps->groups);
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
	free(ps->groups);
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

	move_some(ps, PERSIST_MOVE_STEP);
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
	struct persist_group *g;
	uint8_t key[16];

	if (key_of(client, key) == -1) {
		errno = EINVAL;
		return -1;
	}
	move_some(ps, PERSIST_MOVE_STEP);
	if ((e = find(ps, key)) != NULL) {
		if (e->target_id != target_id) {
			struct persist_group *was = e->group;

			if ((g = group_get(ps, target_id)) == NULL)
				return -1;
			TAILQ_REMOVE(&was->entries, e, same);
			group_join(e, g);
			group_put(ps, was);
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
	if ((g = group_get(ps, target_id)) == NULL)
		return -1;
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		group_put(ps, g);
		return -1;
	}
	memcpy(e->key, key, sizeof(e->key));
	group_join(e, g);
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
	struct persist_group *g = group_find(ps, target_id);
	struct persist_entry *e;
	size_t n = 0;
	bool last = false;

	/* The last entry_delete frees g along with its last entry. */
	while (g != NULL && !last) {
		e = TAILQ_FIRST(&g->entries);
		last = TAILQ_NEXT(e, same) == NULL;
		ps->steps++;
		entry_delete(ps, e);
		n++;
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
		TAILQ_REMOVE(&e->group->entries, e, same);
		group_put(ps, e->group);
		free(e);
	}
	memset(ps->buckets, 0, ps->nbuckets * sizeof(*ps->buckets));
	free(ps->old);
	ps->old = NULL;
	ps->nold = ps->moved = 0;
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
	persist_foreach_max(ps, SIZE_MAX, fn, arg);
}

void
persist_foreach_max(const struct persist *ps, size_t max, persist_visit_fn *fn,
    void *arg)
{
	const struct persist_entry *e;
	struct persist_entry_info info;

	for (e = TAILQ_FIRST(&ps->lru); e != NULL && max > 0; e = TAILQ_NEXT(e, lru), max--) {
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

uint64_t
persist_steps(const struct persist *ps)
{
	return ps->steps;
}
