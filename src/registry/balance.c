/*
 * balance: see balance.h.
 *
 * Every algorithm works in tiers: first the targets target_choosable()
 * accepts, then, only if none is left, the failing ones still in backoff
 * (target_fallback). Excluded targets are never candidates.
 *
 * roundrobin and leastconn as below walk the pool; in a pool of more than
 * BALANCE_LINEAR_MAX listed targets the first tier is registry/sched.c's
 * instead (same shares, same least load, O(log n); its head comment), and
 * only the fallback tier walks. The balancer makes the scheduler at the
 * first large pick and drops it, with the round robin's state below, when
 * the pool is back under the bound; if it cannot be made or built
 * (ENOMEM) the pick walks.
 *
 * roundrobin is nginx's smooth weighted round robin. Its state, each
 * target's current weight, is the balancer's own: a table by target id
 * (struct rr_table), where a target that never took part has 0 (as a new
 * one starts) and from which the pool's removal callback (pool_watch_remove)
 * drops a target as it leaves. So a target that comes back with the same id
 * (a static one taken out and put back) starts again from 0. leastconn takes the
 * lowest (active + 1) / weight, ties broken by the same smooth WRR; when no
 * candidate has an active session (an idle farm) they all tie, so short
 * connections spread by weight instead of all going to the heaviest target
 * (node-harmony's flaw). The + 1 keeps weights meaningful at low load: a
 * light target with no session does not beat a heavy one with one (which
 * active / weight would, sending a tenth-weight target every other
 * connection).
 *
 * hash is Maglev (Eisenbud et al., NSDI 2016) with weights. The table
 * depends only on the set of (address, port, weight) of its targets: they
 * are sorted by address before the build, and each one's permutation comes
 * from a fixed hash of its address and port, so every instance that sees
 * the same targets builds the same table, whatever the ids or the order of
 * registration. Failing targets stay in the table: while in backoff a
 * lookup walks past them to the next entry, so a connect failure seen by
 * one instance moves only that target's clients, and once the backoff is
 * over the target's own clients are the trial connections that bring it
 * back. A lookup costs the table entries it walks past (bounded by the
 * table, short unless most members are failing), never a walk of the
 * pool: the members up with slots are counted at the build, and those
 * with no slot listed, for the rendezvous.
 */
#include "autoconfig.h"

#include <netinet/in.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "registry/balance.h"
#include "registry/pool.h"
#include "registry/sched.h"

#define MAGLEV_EMPTY	UINT32_MAX

/* Fixed seeds: instances must agree, so nothing here may be random. */
#define SEED_OFFSET	HASH_FNV1A_BASIS
#define SEED_SKIP	UINT64_C(0x9e3779b97f4a7c15)
#define SEED_CLIENT	UINT64_C(0x6a09e667f3bcc909)

/* Smooth WRR's current weights by target id; open addressing, linear probing. */
struct rr_slot {
	uint32_t		 id;		/* 0: free */
	int64_t			 current;
};

struct rr_table {
	struct rr_slot		*slots;
	size_t			 cap;		/* a power of two, or 0 */
	size_t			 n;		/* ids held */
};

struct balancer {
	struct pool		*pool;
	enum balance_algo	 algo;
	struct rr_table		 rr;
	struct sched		*sched;		/* above BALANCE_LINEAR_MAX, or NULL */
	uint64_t		 steps;		/* balance_steps */

	/* Maglev: valid while built and pool_set_version() == set_version. */
	bool			 built;
	uint64_t		 set_version;
	struct target		**sorted;	/* table members, by address */
	struct maglev_member	*members;	/* what the table was built from */
	uint32_t		*nslots;	/* table entries per member */
	size_t			 nsorted;
	size_t			 cap_sorted;
	uint32_t		*table;		/* BALANCE_MAGLEV_SIZE indexes */
	size_t			 nup;		/* members up or static, with slots */
	struct target		**zero;		/* members with no slot */
	size_t			 nzero;
};

/* What a table depends on, per member; zeroed, so memcmp compares it. */
struct maglev_member {
	uint8_t			 bytes[18];	/* address bytes, port */
	uint8_t			 len;
	uint32_t		 scope;		/* IPv6 scope id */
	uint32_t		 weight;
};

/* Who may be picked in this pass. */
struct pick {
	bool			  fallback;	/* second tier */
	int64_t			  now;
	const uint32_t		 *exclude;
	size_t			  nexclude;
};

static bool
excluded(const struct target *t, const struct pick *pk)
{
	for (size_t i = 0; i < pk->nexclude; i++) {
		if (pk->exclude[i] == t->id)
			return true;
	}
	return false;
}

static bool
candidate(const struct target *t, const struct pick *pk)
{
	if (pk->fallback ? !target_fallback(t, pk->now) :
	    !target_choosable(t, pk->now))
		return false;
	return !excluded(t, pk);
}

/* --- smooth weighted round robin's state ---------------------------- */

static size_t
rr_home(const struct rr_table *rr, uint32_t id)
{
	return (size_t)(hash_mix64(id) & (rr->cap - 1));
}

/* The slot holding id, or the free one where it would go. */
static struct rr_slot *
rr_slot_of(const struct rr_table *rr, uint32_t id)
{
	size_t i = rr_home(rr, id);

	while (rr->slots[i].id != 0 && rr->slots[i].id != id)
		i = (i + 1) & (rr->cap - 1);
	return &rr->slots[i];
}

/*
 * Room for want ids at a load of a half at most, so that every pass can
 * add its candidates without failing midway. -1 on ENOMEM (the table is
 * untouched).
 */
static int
rr_reserve(struct rr_table *rr, size_t want)
{
	struct rr_slot *old = rr->slots;
	size_t oldcap = rr->cap, cap = oldcap ? oldcap : 16;

	while (cap / 2 < want)
		cap *= 2;
	if (cap == oldcap)
		return 0;
	if ((rr->slots = calloc(cap, sizeof(*rr->slots))) == NULL) {
		rr->slots = old;
		return -1;
	}
	rr->cap = cap;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].id != 0)
			*rr_slot_of(rr, old[i].id) = old[i];
	}
	free(old);
	return 0;
}

/* id's current weight, added at 0 if absent; room was reserved. */
static int64_t *
rr_current(struct rr_table *rr, uint32_t id)
{
	struct rr_slot *sl = rr_slot_of(rr, id);

	if (sl->id == 0) {
		sl->id = id;
		sl->current = 0;
		rr->n++;
	}
	return &sl->current;
}

/* Drops id; the entries after it in its run move back (no tombstones). */
static void
rr_forget(struct rr_table *rr, uint32_t id)
{
	struct rr_slot *sl;
	size_t i, j, mask = rr->cap - 1;

	if (rr->cap == 0 || (sl = rr_slot_of(rr, id))->id == 0)
		return;
	i = (size_t)(sl - rr->slots);
	sl->id = 0;
	rr->n--;
	for (j = (i + 1) & mask; rr->slots[j].id != 0; j = (j + 1) & mask) {
		size_t home = rr_home(rr, rr->slots[j].id);

		/* j stays if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		rr->slots[i] = rr->slots[j];
		rr->slots[j].id = 0;
		i = j;
	}
}

static void
rr_release(struct rr_table *rr)
{
	free(rr->slots);
	rr->slots = NULL;
	rr->cap = rr->n = 0;
}

/*
 * The pool's removal callback: a target that leaves takes its state along.
 * NULL: the pool itself is freed (pool.h), and the balancer with it soon.
 */
static void
rr_on_remove(struct pool *p, struct target *t, void *arg)
{
	struct balancer *b = arg;

	(void)p;
	if (t == NULL) {
		b->pool = NULL;
		return;
	}
	rr_forget(&b->rr, t->id);
	if (b->sched != NULL)
		sched_forget(b->sched, t);
}

/* The pool's active watch: leastconn's heap follows the session counts. */
static void
on_active(struct pool *p, struct target *t, void *arg)
{
	struct balancer *b = arg;

	(void)p;
	if (b->sched != NULL)
		sched_active(b->sched, t);
}

/*
 * Smooth weighted round robin over the candidates; with a load bound, only
 * over those whose load equals it (leastconn's ties). Only the targets
 * taking part have their current weight moved. If the table cannot grow
 * (ENOMEM), the first of the heaviest is picked and no state moves.
 */
static struct target *
swrr(struct balancer *b, const struct pick *pk, const struct target *tied)
{
	struct target *t, *best = NULL;
	int64_t total = 0, best_score = 0, *best_cur = NULL;
	uint32_t tied_w = tied ? target_weight_now(tied, pk->now) : 0;
	/* Every listed target may take part: room for all of them first. */
	bool room = rr_reserve(&b->rr, pool_count(b->pool)) == 0;

	TAILQ_FOREACH(t, pool_targets(b->pool), entry) {
		int64_t *cur = NULL, score;
		uint32_t w;

		b->steps++;
		if (!candidate(t, pk))
			continue;
		w = target_weight_now(t, pk->now);
		if (tied != NULL &&
		    sched_load_cmp(t->active + 1, w, tied->active + 1, tied_w) != 0)
			continue;
		if (room) {
			cur = rr_current(&b->rr, t->id);
			*cur += w;
			score = *cur;
		} else {
			score = w;
		}
		total += w;
		if (best == NULL || score > best_score) {
			best = t;
			best_score = score;
			best_cur = cur;
		}
	}
	if (best_cur != NULL)
		*best_cur -= total;
	return best;
}

static struct target *
leastconn(struct balancer *b, const struct pick *pk)
{
	struct target *t, *least = NULL;
	uint32_t least_w = 0;
	bool busy = false;

	TAILQ_FOREACH(t, pool_targets(b->pool), entry) {
		uint32_t w;

		b->steps++;
		if (!candidate(t, pk))
			continue;
		busy |= t->active > 0;
		w = target_weight_now(t, pk->now);
		if (least == NULL ||
		    sched_load_cmp(t->active + 1, w, least->active + 1, least_w) < 0) {
			least = t;
			least_w = w;
		}
	}
	if (least == NULL)
		return NULL;
	/* An idle farm: every target ties, the round robin spreads by weight. */
	return swrr(b, pk, busy ? least : NULL);
}

/* --- hash ------------------------------------------------------------ */

/* FNV-1a with a final mix: fixed, byte order independent, good enough here. */
static uint64_t
hash_bytes(uint64_t seed, const uint8_t *p, size_t len)
{
	return hash_mix64(hash_fnv1a(seed, p, len) ^ len);
}

/*
 * The bytes that identify an address: 4 for IPv4 (also when written as
 * IPv4-mapped IPv6), 16 for IPv6. Returns the length, 0 if unknown.
 */
static size_t
addr_bytes(const struct sockaddr *sa, uint8_t out[16])
{
	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		memcpy(out, &sin->sin_addr, 4);
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(out, &sin6->sin6_addr.s6_addr[12], 4);
			return 4;
		}
		memcpy(out, &sin6->sin6_addr, 16);
		return 16;
	}
	return 0;
}

/* Address bytes then port, big endian: what a target's permutation hashes. */
static size_t
target_bytes(const struct target *t, uint8_t out[18])
{
	size_t n = addr_bytes((const struct sockaddr *)&t->addr, out);

	out[n++] = (uint8_t)(t->port >> 8);
	out[n++] = (uint8_t)(t->port & 0xff);
	return n;
}

static int
target_order(const void *a, const void *b)
{
	const struct target *x = *(struct target *const *)a;
	const struct target *y = *(struct target *const *)b;
	uint8_t bx[18], by[18];
	size_t nx, ny;
	int c;

	/* IPv4 (4 address bytes) sorts before IPv6 (16). */
	nx = target_bytes(x, bx);
	ny = target_bytes(y, by);
	if (nx != ny)
		return nx < ny ? -1 : 1;
	if ((c = memcmp(bx, by, nx)) != 0)
		return c;
	if (x->addr.ss_family == AF_INET6 && y->addr.ss_family == AF_INET6) {
		uint32_t sx = ((const struct sockaddr_in6 *)&x->addr)->sin6_scope_id;
		uint32_t sy = ((const struct sockaddr_in6 *)&y->addr)->sin6_scope_id;

		if (sx != sy)
			return sx < sy ? -1 : 1;
	}
	return 0;
}

/* In the table: everything that is or may soon be choosable again. */
static bool
table_member(const struct target *t)
{
	if (!t->listed || t->port == 0 || t->leaving)
		return false;
	return t->state == TARGET_UP || t->state == TARGET_STATIC ||
	    t->state == TARGET_FAILING;
}

static void
member_of(const struct target *t, struct maglev_member *m)
{
	m->len = (uint8_t)target_bytes(t, m->bytes);
	if (t->addr.ss_family == AF_INET6)
		m->scope = ((const struct sockaddr_in6 *)&t->addr)->sin6_scope_id;
	m->weight = t->weight;
}

/* Min-heap entry of the population: who takes the next slot. */
struct maglev_turn {
	uint32_t	 idx;		/* into sorted */
	uint32_t	 weight;
	uint64_t	 taken;		/* slots taken so far */
	uint64_t	 pos;		/* next permutation position */
	uint64_t	 skip;
};

/*
 * Target i takes its k-th slot at virtual time k / weight_i, so shares
 * follow the weights exactly (to one slot), with no empty rounds however
 * uneven they are. Ties go to the lower index, which is address order.
 */
static bool
turn_before(const struct maglev_turn *a, const struct maglev_turn *b)
{
	uint64_t x = (a->taken + 1) * b->weight, y = (b->taken + 1) * a->weight;

	if (x != y)
		return x < y;
	return a->idx < b->idx;
}

static void
turn_sift_down(struct maglev_turn *h, size_t n, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1;
		struct maglev_turn tmp;

		if (c >= n)
			return;
		if (c + 1 < n && turn_before(&h[c + 1], &h[c]))
			c++;
		if (!turn_before(&h[c], &h[i]))
			return;
		tmp = h[i];
		h[i] = h[c];
		h[c] = tmp;
		i = c;
	}
}

static int
maglev_populate(struct balancer *b)
{
	const uint64_t m = BALANCE_MAGLEV_SIZE;
	struct maglev_turn *h;
	size_t n = b->nsorted;

	for (size_t i = 0; i < m; i++)
		b->table[i] = MAGLEV_EMPTY;
	free(b->nslots);
	b->nslots = NULL;
	if (n == 0)
		return 0;
	if ((b->nslots = calloc(n, sizeof(*b->nslots))) == NULL)
		return -1;
	if ((h = calloc(n, sizeof(*h))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct maglev_member *mb = &b->members[i];

		h[i].idx = (uint32_t)i;
		h[i].weight = mb->weight;
		h[i].pos = hash_bytes(SEED_OFFSET, mb->bytes, mb->len) % m;
		h[i].skip = hash_bytes(SEED_SKIP, mb->bytes, mb->len) % (m - 1) + 1;
	}
	for (size_t i = n / 2; i-- > 0;)
		turn_sift_down(h, n, i);
	/* m is prime and skip in [1, m-1]: each permutation visits every slot. */
	for (uint64_t filled = 0; filled < m; filled++) {
		struct maglev_turn *top = &h[0];

		while (b->table[top->pos] != MAGLEV_EMPTY)
			top->pos = (top->pos + top->skip) % m;
		b->table[top->pos] = top->idx;
		b->nslots[top->idx]++;
		top->pos = (top->pos + top->skip) % m;
		top->taken++;
		turn_sift_down(h, n, 0);
	}
	free(h);
	return 0;
}

/*
 * Brings the table up to date with the pool. A state change between up
 * and failing bumps the pool's set version without changing the members,
 * so the population is skipped when the members' (address, port, weight)
 * are the same as at the last build.
 */
static int
maglev_refresh(struct balancer *b, int64_t now)
{
	const struct target_list *list = pool_targets(b->pool);
	uint64_t version = pool_set_version(b->pool);
	struct maglev_member *members = NULL;
	struct target *t;
	size_t n = 0;
	bool same;

	if (b->built && b->set_version == version)
		return 0;
	if (b->table == NULL &&
	    (b->table = calloc(BALANCE_MAGLEV_SIZE, sizeof(*b->table))) == NULL)
		return -1;
	TAILQ_FOREACH(t, list, entry) {
		if (table_member(t))
			n++;
	}
	if (n > b->cap_sorted) {
		struct target **ns, **nz;

		if ((ns = realloc(b->sorted, n * sizeof(*ns))) == NULL)
			goto fail;
		b->sorted = ns;
		if ((nz = realloc(b->zero, n * sizeof(*nz))) == NULL)
			goto fail;
		b->zero = nz;
		b->cap_sorted = n;
	}
	if (n > 0 && (members = calloc(n, sizeof(*members))) == NULL)
		goto fail;
	n = 0;
	TAILQ_FOREACH(t, list, entry) {
		if (table_member(t))
			b->sorted[n++] = t;
	}
	if (n > 1)
		qsort(b->sorted, n, sizeof(*b->sorted), target_order);
	for (size_t i = 0; i < n; i++)
		member_of(b->sorted[i], &members[i]);

	same = b->built && b->nsorted == n &&
	    (n == 0 || memcmp(b->members, members, n * sizeof(*members)) == 0);
	free(b->members);
	b->members = members;
	b->nsorted = n;
	if (!same && maglev_populate(b) == -1)
		goto fail;
	/*
	 * Up and static members stay choosable until the set version moves
	 * again; only failing ones come and go with time (pool.h).
	 */
	b->nup = b->nzero = 0;
	for (size_t i = 0; i < n; i++) {
		t = b->sorted[i];
		if (b->nslots[i] == 0)
			b->zero[b->nzero++] = t;
		else if ((t->state == TARGET_UP || t->state == TARGET_STATIC) &&
		    target_choosable(t, now))
			b->nup++;
	}
	b->built = true;
	b->set_version = version;
	return 0;
fail:
	/* The sorted pointers may be stale now: never use them unbuilt. */
	b->built = false;
	return -1;
}

static void
maglev_release(struct balancer *b)
{
	free(b->table);
	free(b->sorted);
	free(b->members);
	free(b->nslots);
	free(b->zero);
	b->nslots = NULL;
	b->zero = NULL;
	b->nzero = b->nup = 0;
	b->table = NULL;
	b->sorted = NULL;
	b->members = NULL;
	b->nsorted = 0;
	b->cap_sorted = 0;
	b->built = false;
}

/*
 * Rendezvous (highest random weight) over the candidates of a tier: for
 * targets the table cannot offer. Still consistent for a client, and
 * independent of list order. One target's turn: t against the best so far.
 */
static void
rendezvous_try(struct balancer *b, struct target *t, const struct pick *pk,
    uint64_t hc, struct target **best, uint64_t *best_score)
{
	uint8_t bytes[18];
	uint64_t score;

	b->steps++;
	if (!candidate(t, pk))
		return;
	score = hash_mix64(hc ^ hash_bytes(SEED_OFFSET, bytes,
	    target_bytes(t, bytes)));
	if (*best == NULL || score > *best_score ||
	    (score == *best_score && target_order(&t, best) < 0)) {
		*best = t;
		*best_score = score;
	}
}

static struct target *
rendezvous(struct balancer *b, const struct pick *pk, uint64_t hc)
{
	struct target *t, *best = NULL;
	uint64_t best_score = 0;

	TAILQ_FOREACH(t, pool_targets(b->pool), entry)
		rendezvous_try(b, t, pk, hc, &best, &best_score);
	return best;
}

static struct target *
hash_pick(struct balancer *b, const struct sockaddr *client, struct pick *pk)
{
	uint8_t bytes[16];
	size_t len = addr_bytes(client, bytes);
	uint64_t hc = hash_bytes(SEED_CLIENT, bytes, len);
	struct target *t;
	bool any = false;

	if (maglev_refresh(b, pk->now) == 0) {
		struct target *best = NULL;
		uint64_t best_score = 0;

		/*
		 * More up members with slots than exclusions: one is a
		 * candidate, and the walk below finds it. Else look.
		 */
		any = b->nup > pk->nexclude;
		for (size_t i = 0; i < b->nsorted && !any; i++) {
			b->steps++;
			any = b->nslots[i] > 0 && candidate(b->sorted[i], pk);
		}
		/* Walk on past entries that cannot take this client now. */
		for (size_t i = 0, slot = hc % BALANCE_MAGLEV_SIZE;
		    any && i < BALANCE_MAGLEV_SIZE; i++) {
			uint32_t idx = b->table[slot];

			b->steps++;
			if (idx != MAGLEV_EMPTY && candidate(b->sorted[idx], pk))
				return b->sorted[idx];
			if (++slot == BALANCE_MAGLEV_SIZE)
				slot = 0;
		}
		/* Candidates are members: those with a weight too small for a slot. */
		for (size_t i = 0; i < b->nzero; i++)
			rendezvous_try(b, b->zero[i], pk, hc, &best, &best_score);
		if (best != NULL)
			return best;
	} else if ((t = rendezvous(b, pk, hc)) != NULL) {
		return t;	/* no table (ENOMEM): every target */
	}
	pk->fallback = true;
	return rendezvous(b, pk, hc);
}

/* --- API ------------------------------------------------------------- */

struct balancer *
balance_new(struct pool *p, enum balance_algo algo)
{
	struct balancer *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->pool = p;
	b->algo = algo;
	if (pool_watch_remove(p, rr_on_remove, b) == -1) {
		free(b);
		return NULL;
	}
	if (pool_watch_active(p, on_active, b) == -1) {
		pool_unwatch_remove(p, rr_on_remove, b);
		free(b);
		return NULL;
	}
	return b;
}

void
balance_free(struct balancer *b)
{
	if (b == NULL)
		return;
	if (b->pool != NULL) {
		pool_unwatch_remove(b->pool, rr_on_remove, b);
		pool_unwatch_active(b->pool, on_active, b);
	}
	sched_free(b->sched);
	maglev_release(b);
	rr_release(&b->rr);
	free(b);
}

void
balance_set_algo(struct balancer *b, enum balance_algo algo)
{
	if (b->algo == algo)
		return;
	b->algo = algo;
	maglev_release(b);	/* rebuilt on the first hash pick */
	sched_free(b->sched);	/* and this one on the first large pick */
	b->sched = NULL;
}

enum balance_algo
balance_algo(const struct balancer *b)
{
	return b->algo;
}

uint64_t
balance_steps(const struct balancer *b)
{
	return b->steps;
}

/*
 * Whether this pick goes to the indexed scheduler (balance.h): the pool
 * lists more than BALANCE_LINEAR_MAX targets and the scheduler exists (a
 * NULL one, ENOMEM, walks). Back at or under the bound, it is dropped,
 * and the walk's round robin starts again from zero.
 */
static bool
large(struct balancer *b)
{
	if (pool_count(b->pool) <= BALANCE_LINEAR_MAX) {
		if (b->sched != NULL) {
			sched_free(b->sched);
			b->sched = NULL;
			rr_release(&b->rr);
		}
		return false;
	}
	if (b->sched == NULL)
		b->sched = sched_new(b->pool, b->algo == BALANCE_LEASTCONN,
		    &b->steps);
	return b->sched != NULL;
}

struct target *
balance_pick(struct balancer *b, const struct sockaddr *client,
    const uint32_t *exclude, size_t nexclude, int64_t now)
{
	struct pick pk = {
		.fallback = false,
		.now = now,
		.exclude = exclude,
		.nexclude = exclude != NULL ? nexclude : 0,
	};
	struct target *t;

	if (b->algo == BALANCE_HASH)
		return hash_pick(b, client, &pk);
	if (large(b) && sched_pick(b->sched, pk.exclude, pk.nexclude, now, &t) == 0) {
		if (t != NULL)
			return t;
		/* Nothing choosable: the fallback tier walks, as below. */
	} else if ((t = b->algo == BALANCE_ROUNDROBIN ? swrr(b, &pk, NULL) :
	    leastconn(b, &pk)) != NULL) {
		return t;
	}
	pk.fallback = true;
	return b->algo == BALANCE_ROUNDROBIN ? swrr(b, &pk, NULL) :
	    leastconn(b, &pk);
}

static const struct {
	enum balance_algo	 algo;
	const char		*name;
} algo_names[] = {
	{ BALANCE_LEASTCONN,	"leastconn" },
	{ BALANCE_ROUNDROBIN,	"roundrobin" },
	{ BALANCE_HASH,		"hash" },
};

int
balance_algo_parse(const char *s, enum balance_algo *algo)
{
	for (size_t i = 0; s != NULL && i < sizeof(algo_names) /
	    sizeof(algo_names[0]); i++) {
		if (strcmp(s, algo_names[i].name) == 0) {
			*algo = algo_names[i].algo;
			return 0;
		}
	}
	errno = EINVAL;
	return -1;
}

const char *
balance_algo_name(enum balance_algo algo)
{
	for (size_t i = 0; i < sizeof(algo_names) / sizeof(algo_names[0]); i++) {
		if (algo_names[i].algo == algo)
			return algo_names[i].name;
	}
	return "unknown";
}
