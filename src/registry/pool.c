/*
 * pool: see pool.h.
 *
 * Listed targets live on p->targets. A removed target that sessions still
 * use moves to p->unlisted, so that pool_free can release it even if a
 * session never ends (shutdown); pool_session_end frees it when the last
 * session is gone.
 *
 * Each non-static target has one timer, its deadline, whose meaning follows
 * the state (see deadline_when): up and failing wait for the next ack, down
 * waits for removal, draining waits for removal if no ack comes either.
 *
 * Deleted keys live in a small array (POOL_DELETED_MAX) whose oldest in
 * use makes room, indexed by key like the listed ones (deleted_ix), so
 * that a heartbeat with a deleted or unknown key costs one lookup.
 *
 * Every lookup a request or a heartbeat makes goes through an index, so
 * that none depends on the number of targets: by id and by key in the
 * shared part (ids and keys are daemon-wide: pools_find_id, pools_find_key; a
 * pool's own lookups filter on the pool), by host:port (targets with a port) and
 * by host (port-less ones: pool_find_lost; the lost flag is set outside,
 * by ackreg.c, so the index holds every port-less target and the lookup
 * filters) in each pool. The targets in each state are counted as they
 * change (pool_count_state), for status reads that would otherwise walk. Each is an open-addressing table of
 * (hash, target) with linear probing and no tombstones, kept at a load of a
 * half at most: it doubles as targets come, halves as they go, so its
 * memory follows the pool, and a rebuild moves at most POOL_MAX_TARGETS
 * pointers plus the static targets (well under a millisecond). Room for
 * one more target in every index is made before a target is, so that
 * listing it cannot fail halfway. Keys and addresses are hashed with
 * SipHash under the pool's random key: peers choose addresses and must not
 * aim at one run, and a key lookup compares only the candidates whose hash
 * matches, in constant time, so its time says nothing about how close a
 * guess was. Where several targets match (only port-less ones of one host,
 * or keys a state file repeats) the first listed wins, as a walk of the
 * list would have it (target.order).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/random.h"
#include "common/service.h"
#include "core/loop.h"
#include "registry/events.h"
#include "registry/pool.h"
#include "registry/selfaddr.h"

#define POOL_TIMEOUT_FALLBACK_MS 60000	/* --host-timeout's default (docs/harmonyd.8) */
/* A deadline that fires this much later than due met a stalled loop. */
#define POOL_DEADLINE_SLACK_MS	50

/* A deleted target's key, and whose it was. */
struct deleted {
	char			 key[TARGET_KEY_LEN + 1];	/* "" if free */
	struct sockaddr_storage	 host;		/* port 0 */
	bool			 lost;
	int64_t			 used;		/* loop ms of deletion or last use */
	int64_t			 keep_ms;	/* remembered this long after */
};

/* One index (see the top): hash 0 is a valid hash, p NULL a free slot. */
struct ix_slot {
	uint64_t		 h;
	void			*p;		/* a target, or a struct deleted */
};

struct tindex {
	struct ix_slot		*slots;
	size_t			 cap;		/* a power of two, or 0 */
	size_t			 n;
};

#define IX_CAP_MIN	16

/*
 * What the pools of one harmonyd share (pool.h): ids and keys are
 * daemon-wide, so their indexes are here, over every pool's targets
 * (pool_find_id and pool_find_key keep to their pool's).
 */
struct pool_shared {
	struct selfaddr		*self;
	uint32_t		 next_id;
	TAILQ_HEAD(, pool)	 pools;		/* every pool made in it */
	struct pool		*first;		/* the default one (pool.h) */
	uint64_t		 steps;		/* pool_lookup_steps */
	struct tindex		 by_id, by_key;
	uint64_t		 sipkey[2];	/* for by_key and the pools' by_addr, by_host */
	uint64_t		 next_order;	/* target.order */
	struct events		*events;	/* the history, daemon-wide */
	enum pool_actor		 actor;		/* of the changes being made */
	char			 reason[EVENTS_REASON_MAX];	/* "": none */
};

struct pool {
	TAILQ_ENTRY(pool)	 sibling;	/* in shared->pools */
	struct loop		*loop;
	struct pool_shared	*shared;
	bool			 own_shared;	/* made by pool_new: freed with it */
	char			 name[SERVICE_NAME_MAX + 1];
	bool			 detached;	/* pool_detach: no sibling any more */
	struct deleted		*deleted;	/* POOL_DELETED_MAX, when first needed */
	struct target_list	 targets;	/* listed, in registration order */
	struct target_list	 unlisted;	/* removed, still referenced */
	size_t			 count;
	int64_t			 default_timeout;
	int64_t			 slow_start_ms;	/* pool_set_slow_start */
	pool_remove_fn		*on_remove;
	void			*on_remove_arg;
	struct pool_watcher {
		pool_remove_fn	*fn;
		void		*arg;
	}			 watchers[POOL_WATCHERS_MAX];
	struct pool_watcher	 active_watchers[POOL_WATCHERS_MAX];
	uint64_t		 version;
	uint64_t		 set_version;
	uint64_t		 state_version;
	struct static_id	*static_ids;	/* host:port -> id, grows only */
	size_t			 nstatic_ids;
	struct tindex		 by_addr, by_host;
	struct tindex		 deleted_ix;	/* the deleted keys, by key */
	size_t			 nstate[TARGET_PORTLESS + 1];	/* pool_count_state */
	uint64_t		 nevents[EVENT_KINDS][POOL_ACTORS];
	struct pool_check_hist	 check_hist;
};

/* A static target's identity: the id its address had before. */
struct static_id {
	struct sockaddr_storage	 addr;
	uint32_t		 id;
};

static int64_t	deadline_fire(struct loop *, struct loop_timer *, void *);
static void	emit(struct target *, struct event *);
static void	emit_state(struct target *, enum target_state from);

static void	set_state(struct target *, enum target_state);

/*
 * The pool's own changes (its timers, the proxy's connects) say their own
 * actor and reason, and leave the caller's as they were: st is a state,
 * or -1 to remove t (which may free it).
 */
static void
change_by(struct target *t, int st, enum pool_actor a, const char *reason)
{
	struct pool_shared *sh = t->pool->shared;
	enum pool_actor was = sh->actor;
	char was_reason[EVENTS_REASON_MAX];

	memcpy(was_reason, sh->reason, sizeof(was_reason));
	pool_actor_set(t->pool, a);
	pool_actor_reason(t->pool, reason);
	if (st < 0)
		pool_remove(t);
	else
		set_state(t, (enum target_state)st);
	sh->actor = was;
	memcpy(sh->reason, was_reason, sizeof(sh->reason));
}

/* Deadlines saturate rather than wrap for absurd timeouts. */
static int64_t
add_sat(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	return a + b;
}

static int64_t
mul_sat(int64_t a, int64_t b)
{
	if (a > 0 && b > 0 && a > INT64_MAX / b)
		return INT64_MAX;
	return a * b;
}

static void
bump(struct pool *p, bool set_changed)
{
	p->version++;
	if (set_changed)
		p->set_version++;
}

/* What the state file holds changed (see pool_state_version). */
static void
bump_state(struct pool *p)
{
	p->state_version++;
}

static enum target_state
base_state(const struct target *t)
{
	if (t->source == TARGET_SRC_STATIC)
		return TARGET_STATIC;
	return t->port == 0 ? TARGET_PORTLESS : TARGET_UP;
}

/* The one place a listed target's state changes: each change is an event. */
static void
set_state(struct target *t, enum target_state st)
{
	enum target_state from = t->state;

	if (t->state == st)
		return;
	/* The state file keeps draining or not; up, down and failing are live. */
	if ((t->state == TARGET_DRAINING) != (st == TARGET_DRAINING))
		bump_state(t->pool);
	if (t->listed) {
		t->pool->nstate[t->state]--;
		t->pool->nstate[st]++;
	}
	t->state = st;
	t->state_since = loop_now(t->pool->loop);
	bump(t->pool, true);
	emit_state(t, from);
}

static bool
check_failing(const struct target *t)
{
	return t->check.on && t->check.status == TARGET_CHECK_FAILING;
}

/* It becomes choosable now: the slow start ramp begins (pool.h). */
static void
slow_start(struct target *t)
{
	t->slow_at = loop_now(t->pool->loop);
	t->slow_ms = t->pool->slow_start_ms;
}

/*
 * Normalises a sockaddr to AF_INET or AF_INET6, an IPv4-mapped IPv6
 * address becoming plain IPv4, so that both spellings of one host are one
 * target and connect over an IPv4 socket.
 */
static int
addr_normalise(const struct sockaddr *sa, socklen_t salen,
    struct sockaddr_storage *ss, socklen_t *sslen)
{
	memset(ss, 0, sizeof(*ss));
	if (sa == NULL)
		goto bad;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (salen < (socklen_t)sizeof(*sin))
			goto bad;
		memcpy(sin, sa, sizeof(*sin));
		*sslen = sizeof(*sin);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		if (salen < (socklen_t)sizeof(sin6))
			goto bad;
		memcpy(&sin6, sa, sizeof(sin6));
		if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
			struct sockaddr_in *sin = (struct sockaddr_in *)ss;

			sin->sin_family = AF_INET;
			sin->sin_port = sin6.sin6_port;
			memcpy(&sin->sin_addr, &sin6.sin6_addr.s6_addr[12], 4);
			*sslen = sizeof(*sin);
			return 0;
		}
		memcpy(ss, &sin6, sizeof(sin6));
		*sslen = sizeof(sin6);
		return 0;
	}
bad:
	errno = EINVAL;
	return -1;
}

/* What addr_normalise may read of a sockaddr of known family. */
static socklen_t
sa_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

static uint16_t
addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
}

static void
addr_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
}

/* Same host (address and, for IPv6, scope); ports are compared apart. */
static bool
addr_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a;
		const struct sockaddr_in *y = (const struct sockaddr_in *)b;

		return x->sin_addr.s_addr == y->sin_addr.s_addr;
	} else {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
		const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;

		return memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0 &&
		    x->sin6_scope_id == y->sin6_scope_id;
	}
}

/* --- the indexes (see the top) -------------------------------------- */

/* Puts (h, item) in the first free slot of its run; room was made. */
static void
ix_put(struct tindex *ix, uint64_t h, void *item)
{
	size_t mask = ix->cap - 1, i = (size_t)h & mask;

	while (ix->slots[i].p != NULL)
		i = (i + 1) & mask;
	ix->slots[i].h = h;
	ix->slots[i].p = item;
	ix->n++;
}

/* Rebuilds ix at cap slots (>= 2 n). -1 on ENOMEM, ix untouched. */
static int
ix_resize(struct tindex *ix, size_t cap)
{
	struct ix_slot *old = ix->slots;
	size_t oldcap = ix->cap;

	if ((ix->slots = calloc(cap, sizeof(*ix->slots))) == NULL) {
		ix->slots = old;
		return -1;
	}
	ix->cap = cap;
	ix->n = 0;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].p != NULL)
			ix_put(ix, old[i].h, old[i].p);
	}
	free(old);
	return 0;
}

/* Room for one more at a load of a half. -1 on ENOMEM. */
static int
ix_room(struct tindex *ix)
{
	size_t cap = ix->cap != 0 ? ix->cap : IX_CAP_MIN;

	while (cap / 2 < ix->n + 1)
		cap *= 2;
	return cap == ix->cap ? 0 : ix_resize(ix, cap);
}

/*
 * Takes item out; the slots after it in its run move back (no tombstones).
 * Then halves while an eighth of the slots would still hold every entry:
 * what is left keeps room for one more (ix_room), and a pool that shrank
 * gives its memory back. A failed shrink (ENOMEM) only keeps it larger.
 */
static void
ix_del(struct tindex *ix, uint64_t h, const void *item)
{
	size_t mask = ix->cap - 1, i, j, cap;

	if (ix->cap == 0)
		return;
	for (i = (size_t)h & mask; ix->slots[i].p != item; i = (i + 1) & mask) {
		if (ix->slots[i].p == NULL)
			return;
	}
	ix->slots[i].p = NULL;
	ix->n--;
	for (j = (i + 1) & mask; ix->slots[j].p != NULL; j = (j + 1) & mask) {
		size_t home = (size_t)ix->slots[j].h & mask;

		/* j stays if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		ix->slots[i] = ix->slots[j];
		ix->slots[j].p = NULL;
		i = j;
	}
	for (cap = ix->cap; cap > IX_CAP_MIN && cap / 8 > ix->n; cap /= 2)
		;
	if (cap != ix->cap)
		(void)ix_resize(ix, cap);
}

static void
ix_release(struct tindex *ix)
{
	free(ix->slots);
	ix->slots = NULL;
	ix->cap = ix->n = 0;
}

typedef bool	ix_match_fn(const void *item, const void *arg);

/*
 * The item of h's run that match accepts: for targets the first listed
 * (targets set), else the first met. Only slots whose hash is h are
 * offered to match (for keys: the only ones compared).
 */
static void *
ix_find(struct pool_shared *sh, const struct tindex *ix, uint64_t h,
    ix_match_fn *match, const void *arg, bool targets)
{
	void *found = NULL;
	size_t mask = ix->cap - 1;

	if (ix->cap == 0)
		return NULL;
	for (size_t i = (size_t)h & mask; ix->slots[i].p != NULL; i = (i + 1) & mask) {
		void *item = ix->slots[i].p;

		sh->steps++;
		if (ix->slots[i].h != h || !match(item, arg))
			continue;
		if (!targets)
			return item;
		if (found == NULL || ((struct target *)item)->order <
		    ((struct target *)found)->order)
			found = item;
	}
	return found;
}

static uint64_t
id_hash(uint32_t id)
{
	return hash_mix64(id);
}

/* Over the key's 32 characters: any string of that length can be looked up. */
static uint64_t
key_hash(const struct pool_shared *sh, const char *key)
{
	return hash_sip(sh->sipkey, key, TARGET_KEY_LEN);
}

/* Host (address, IPv6 scope) and port: what addr_same_host and a port tell apart. */
static uint64_t
host_hash(const struct pool *p, const struct sockaddr_storage *ss, uint16_t port)
{
	uint8_t b[1 + 16 + 4 + 2];
	size_t n = 0;

	if (ss->ss_family == AF_INET) {
		b[n++] = 4;
		memcpy(b + n, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		n += 4;
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		b[n++] = 6;
		memcpy(b + n, &sin6->sin6_addr, 16);
		n += 16;
		memcpy(b + n, &sin6->sin6_scope_id, 4);
		n += 4;
	}
	b[n++] = (uint8_t)(port >> 8);
	b[n++] = (uint8_t)(port & 0xff);
	return hash_sip(p->shared->sipkey, b, n);
}

/* by_addr holds the targets with a port, by_host the port-less ones. */
static struct tindex *
addr_index(struct pool *p, uint16_t port)
{
	return port != 0 ? &p->by_addr : &p->by_host;
}

static void
index_add(struct pool *p, struct target *t)
{
	ix_put(&p->shared->by_id, id_hash(t->id), t);
	ix_put(&p->shared->by_key, key_hash(p->shared, t->key), t);
	ix_put(addr_index(p, t->port), host_hash(p, &t->addr, t->port), t);
}

static void
index_del(struct pool *p, const struct target *t)
{
	ix_del(&p->shared->by_id, id_hash(t->id), t);
	ix_del(&p->shared->by_key, key_hash(p->shared, t->key), t);
	ix_del(addr_index(p, t->port), host_hash(p, &t->addr, t->port), t);
}

/* What a host:port lookup looks for. */
struct hostport {
	const struct sockaddr_storage	*ss;
	uint16_t			 port;
	const struct target		*self;	/* not this one */
};

static bool
match_hostport(const void *item, const void *arg)
{
	const struct target *t = item;
	const struct hostport *w = arg;

	return t != w->self && t->port == w->port && addr_same_host(&t->addr, w->ss);
}

static bool
match_lost(const void *item, const void *arg)
{
	const struct target *t = item;

	return t->lost && t->port == 0 && !t->leaving && addr_same_host(&t->addr, arg);
}

/* An id or a key, in one pool or (NULL) in any of the shared part's. */
struct idkey {
	const struct pool	*pool;
	uint32_t		 id;
	const char		*key;
};

static bool
match_id(const void *item, const void *arg)
{
	const struct target *t = item;
	const struct idkey *w = arg;

	return t->id == w->id && (w->pool == NULL || t->pool == w->pool);
}

/* In full, whatever differs first: the time says nothing of a guess. */
static bool
key_equal(const char *a, const char *b)
{
	unsigned char diff = 0;

	for (size_t i = 0; i < TARGET_KEY_LEN; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static bool
match_key(const void *item, const void *arg)
{
	const struct target *t = item;
	const struct idkey *w = arg;

	return key_equal(t->key, w->key) && (w->pool == NULL || t->pool == w->pool);
}

static void
target_set_names(struct target *t)
{
	const void *a;

	if (t->addr.ss_family == AF_INET)
		a = &((const struct sockaddr_in *)&t->addr)->sin_addr;
	else
		a = &((const struct sockaddr_in6 *)&t->addr)->sin6_addr;
	/* Cannot fail: the family is checked and the buffer is big enough. */
	if (inet_ntop(t->addr.ss_family, a, t->host, sizeof(t->host)) == NULL)
		t->host[0] = '\0';
	t->port = addr_port(&t->addr);
	if (t->addr.ss_family == AF_INET6)
		snprintf(t->name, sizeof(t->name), "[%s]:%u", t->host,
		    (unsigned)t->port);
	else
		snprintf(t->name, sizeof(t->name), "%s:%u", t->host,
		    (unsigned)t->port);
}

static int
make_key(char key[TARGET_KEY_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[TARGET_KEY_LEN / 2];

	if (random_fill(rnd, sizeof(rnd)) == -1)
		return -1;
	for (size_t i = 0; i < sizeof(rnd); i++) {
		key[2 * i] = hex[rnd[i] >> 4];
		key[2 * i + 1] = hex[rnd[i] & 0xf];
	}
	key[TARGET_KEY_LEN] = '\0';
	return 0;
}

static int64_t
resolve_timeout(const struct pool *p, int64_t ms)
{
	if (ms > 0)
		return ms;
	return p->default_timeout;
}

/* When the deadline timer should next look at t, by state. */
static int64_t
deadline_when(const struct target *t)
{
	int64_t removal = mul_sat(t->timeout_ms, TARGET_DOWN_REMOVE_FACTOR);

	switch (t->state) {
	case TARGET_DOWN:
		/* Held down by its check, it still owes its heartbeats. */
		if (t->check_held)
			return add_sat(t->last_ack, t->timeout_ms);
		return add_sat(t->down_since, removal);
	case TARGET_DRAINING:
		return add_sat(t->last_ack, removal);
	case TARGET_UP:
	case TARGET_PORTLESS:
	case TARGET_FAILING:
	case TARGET_STATIC:
	default:
		return add_sat(t->last_ack, t->timeout_ms);
	}
}

static void
deadline_arm(struct target *t)
{
	struct loop *l = t->pool->loop;

	if (t->source == TARGET_SRC_STATIC || !t->listed) {
		loop_timer_cancel(l, &t->deadline);
		return;
	}
	t->deadline_set = loop_now(l);
	t->deadline_grace = false;
	loop_timer_at(l, &t->deadline, deadline_when(t));
}

/*
 * Whether a deadline that fires now should wait a little first: when the
 * loop itself was held up (no CPU, a long pass) past the deadline, the
 * target's heartbeat may be waiting unread in a socket since before it.
 * Judging it then would count our own stall against the target. It waits
 * once, as long as the stall was (at most a timeout), so that the passes
 * after the stall read what came meanwhile; a target that really went
 * quiet is judged that much later.
 */
static int64_t
deadline_stall(struct target *t, int64_t now, int64_t when)
{
	int64_t late = now - (when > t->deadline_set ? when : t->deadline_set);

	if (t->deadline_grace || late <= POOL_DEADLINE_SLACK_MS)
		return 0;
	t->deadline_grace = true;
	return late < t->timeout_ms ? late : t->timeout_ms;
}

static int64_t
deadline_fire(struct loop *l, struct loop_timer *timer, void *arg)
{
	struct target *t = arg;
	int64_t now = loop_now(l), when, wait;
	char why[64];

	(void)timer;
	when = deadline_when(t);
	if (now < when)
		return when - now;	/* moved since it was armed */
	if (t->state != TARGET_STATIC && (wait = deadline_stall(t, now, when)) > 0)
		return wait;
	t->deadline_grace = false;
	switch (t->state) {
	case TARGET_UP:
	case TARGET_PORTLESS:
	case TARGET_FAILING:
		snprintf(why, sizeof(why), "no heartbeat for %.1f s",
		    (double)(now - t->last_ack) / 1000.0);
		t->down_since = now;
		change_by(t, TARGET_DOWN, POOL_ACTOR_HEARTBEAT, why);
		return deadline_when(t) - now;
	case TARGET_DOWN:
		if (t->check_held) {
			/* Now down for its heartbeat too: that one counts. */
			t->check_held = false;
			t->down_since = now;
			return deadline_when(t) - now;
		}
		/* FALLTHROUGH */
	case TARGET_DRAINING:
		snprintf(why, sizeof(why), "%s for %.1f s", t->state == TARGET_DOWN ?
		    "down" : "draining, no heartbeat", (double)(now - (t->state ==
		    TARGET_DOWN ? t->down_since : t->last_ack)) / 1000.0);
		change_by(t, -1, POOL_ACTOR_HEARTBEAT, why);
		return LOOP_TIMER_STOP;		/* t may be freed */
	case TARGET_STATIC:
	default:
		return LOOP_TIMER_STOP;
	}
}

struct pool_shared *
pool_shared_new(void)
{
	struct pool_shared *sh;

	if ((sh = calloc(1, sizeof(*sh))) == NULL)
		return NULL;
	if (random_fill(sh->sipkey, sizeof(sh->sipkey)) == -1 ||
	    (sh->self = selfaddr_new()) == NULL) {
		int saved = errno;

		free(sh);
		errno = saved;
		return NULL;
	}
	/* The ring itself is allocated with the first event (events.h). */
	if ((sh->events = events_new(0)) == NULL) {
		selfaddr_free(sh->self);
		free(sh);
		return NULL;
	}
	sh->next_id = 1;
	sh->actor = POOL_ACTOR_CONFIG;
	TAILQ_INIT(&sh->pools);
	return sh;
}

void
pool_shared_free(struct pool_shared *sh)
{
	if (sh == NULL)
		return;
	selfaddr_free(sh->self);
	ix_release(&sh->by_id);
	ix_release(&sh->by_key);
	events_free(sh->events);
	free(sh);
}

struct selfaddr *
pool_shared_self(struct pool_shared *sh)
{
	return sh->self;
}

struct pool *
pool_new_shared(struct loop *l, int64_t default_timeout_ms, struct pool_shared *sh)
{
	struct pool *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->shared = sh;
	p->loop = l;
	memcpy(p->name, SERVICE_DEFAULT, sizeof(SERVICE_DEFAULT));
	TAILQ_INSERT_TAIL(&sh->pools, p, sibling);
	if (sh->first == NULL)
		sh->first = p;
	TAILQ_INIT(&p->targets);
	TAILQ_INIT(&p->unlisted);
	pool_set_default_timeout(p, default_timeout_ms);
	return p;
}

struct pool *
pool_new(struct loop *l, int64_t default_timeout_ms)
{
	struct pool_shared *sh;
	struct pool *p;

	if ((sh = pool_shared_new()) == NULL)
		return NULL;
	if ((p = pool_new_shared(l, default_timeout_ms, sh)) == NULL) {
		pool_shared_free(sh);
		return NULL;
	}
	p->own_shared = true;
	return p;
}

void
pool_free(struct pool *p)
{
	struct target *t;

	if (p == NULL)
		return;
	for (size_t i = 0; i < POOL_WATCHERS_MAX && p->watchers[i].fn != NULL; i++)
		p->watchers[i].fn(p, NULL, p->watchers[i].arg);
	while ((t = TAILQ_FIRST(&p->targets)) != NULL) {
		TAILQ_REMOVE(&p->targets, t, entry);
		/* The shared part's indexes outlive this pool. */
		index_del(p, t);
		loop_timer_cancel(p->loop, &t->deadline);
		free(t);
	}
	while ((t = TAILQ_FIRST(&p->unlisted)) != NULL) {
		TAILQ_REMOVE(&p->unlisted, t, entry);
		free(t);
	}
	if (p->deleted != NULL)
		explicit_bzero(p->deleted, POOL_DELETED_MAX * sizeof(*p->deleted));
	free(p->deleted);
	ix_release(&p->deleted_ix);
	pool_detach(p);
	if (p->own_shared)
		pool_shared_free(p->shared);
	free(p->static_ids);
	ix_release(&p->by_addr);
	ix_release(&p->by_host);
	free(p);
}

struct pool_shared *
pool_shared_of(const struct pool *p)
{
	return p->shared;
}

struct selfaddr *
pool_self(struct pool *p)
{
	return p->shared->self;
}

/* One of our own listeners: EADDRINUSE (pool.h). */
static bool
is_self(const struct pool *p, const struct sockaddr_storage *ss)
{
	if (selfaddr_match(p->shared->self, (const struct sockaddr *)ss, NULL, 0) == NULL)
		return false;
	errno = EADDRINUSE;
	return true;
}

/*
 * Targets without a TTL of their own follow a new default (SIGHUP) at
 * once, their deadlines moved: at most POOL_MAX_TARGETS timer updates.
 */
void
pool_set_default_timeout(struct pool *p, int64_t ms)
{
	struct target *t;
	bool changed = false;

	p->default_timeout = ms > 0 ? ms : POOL_TIMEOUT_FALLBACK_MS;
	TAILQ_FOREACH(t, &p->targets, entry) {
		if (t->own_timeout || t->timeout_ms == p->default_timeout)
			continue;
		t->timeout_ms = p->default_timeout;
		deadline_arm(t);
		changed = true;
	}
	if (changed)
		bump(p, false);
}

int64_t
pool_default_timeout(const struct pool *p)
{
	return p->default_timeout;
}

void
pool_set_on_remove(struct pool *p, pool_remove_fn *fn, void *arg)
{
	p->on_remove = fn;
	p->on_remove_arg = arg;
}

static int
watcher_add(struct pool_watcher *w, pool_remove_fn *fn, void *arg)
{
	for (size_t i = 0; i < POOL_WATCHERS_MAX; i++) {
		if (w[i].fn == NULL) {
			w[i].fn = fn;
			w[i].arg = arg;
			return 0;
		}
	}
	errno = ENOSPC;
	return -1;
}

/* The later ones move up: the calling order stays the order added. */
static void
watcher_del(struct pool_watcher *w, pool_remove_fn *fn, void *arg)
{
	for (size_t i = 0; i < POOL_WATCHERS_MAX; i++) {
		if (w[i].fn != fn || w[i].arg != arg)
			continue;
		memmove(&w[i], &w[i + 1], (POOL_WATCHERS_MAX - i - 1) * sizeof(w[0]));
		w[POOL_WATCHERS_MAX - 1].fn = NULL;
		w[POOL_WATCHERS_MAX - 1].arg = NULL;
		return;
	}
}

int
pool_watch_remove(struct pool *p, pool_remove_fn *fn, void *arg)
{
	return watcher_add(p->watchers, fn, arg);
}

void
pool_unwatch_remove(struct pool *p, pool_remove_fn *fn, void *arg)
{
	watcher_del(p->watchers, fn, arg);
}

int
pool_watch_active(struct pool *p, pool_active_fn *fn, void *arg)
{
	return watcher_add(p->active_watchers, fn, arg);
}

void
pool_unwatch_active(struct pool *p, pool_active_fn *fn, void *arg)
{
	watcher_del(p->active_watchers, fn, arg);
}

/* A listed target other than self with this host and port (port > 0). */
static struct target *
find_hostport(const struct pool *p, const struct sockaddr_storage *ss,
    uint16_t port, const struct target *self)
{
	const struct hostport w = { ss, port, self };

	return ix_find(p->shared, port != 0 ? &p->by_addr : &p->by_host,
	    host_hash(p, ss, port), match_hostport, &w, true);
}

static struct static_id *
static_id_find(const struct pool *p, const struct sockaddr_storage *ss)
{
	for (size_t i = 0; i < p->nstatic_ids; i++)
		if (addr_port(&p->static_ids[i].addr) == addr_port(ss) &&
		    addr_same_host(&p->static_ids[i].addr, ss))
			return &p->static_ids[i];
	return NULL;
}

static int
static_id_set(struct pool *p, const struct sockaddr_storage *ss, uint32_t id)
{
	struct static_id *si = static_id_find(p, ss), *grown;

	if (si == NULL) {
		grown = realloc(p->static_ids, (p->nstatic_ids + 1) * sizeof(*grown));
		if (grown == NULL)
			return -1;
		p->static_ids = grown;
		si = &grown[p->nstatic_ids++];
		si->addr = *ss;
	}
	si->id = id;
	return 0;
}

/* The id a static target at ss had before, if it is free, else 0. */
static uint32_t
static_id_of(const struct pool *p, const struct sockaddr_storage *ss)
{
	const struct static_id *si = static_id_find(p, ss);

	if (si == NULL || pool_find_id(p, si->id) != NULL)
		return 0;
	return si->id;
}

/*
 * A new listed target. id 0 and key NULL make fresh ones (a static target
 * takes the id its address had before); otherwise they are a restored
 * target's (checked by the caller).
 */
static struct target *
target_create(struct pool *p, enum target_source src,
    const struct sockaddr_storage *ss, socklen_t sslen, uint32_t weight,
    int64_t timeout_ms, uint32_t id, const char *key)
{
	struct target *t;

	/* Registrations come from peers: their number is bounded here. */
	if (src != TARGET_SRC_STATIC && p->count >= POOL_MAX_TARGETS) {
		errno = ENOSPC;
		return NULL;
	}
	if (ix_room(&p->shared->by_id) == -1 || ix_room(&p->shared->by_key) == -1 ||
	    ix_room(addr_index(p, addr_port(ss))) == -1)
		return NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->connect_ms = -1;
	if (key != NULL) {
		memcpy(t->key, key, TARGET_KEY_LEN);
		t->key[TARGET_KEY_LEN] = '\0';
	} else if (make_key(t->key) == -1) {
		int saved = errno;

		free(t);
		errno = saved;
		return NULL;
	}
	t->pool = p;
	if (id == 0 && src == TARGET_SRC_STATIC)
		id = static_id_of(p, ss);
	if (id == 0) {
		t->id = p->shared->next_id++;
	} else {
		t->id = id;
		if (id >= p->shared->next_id)
			p->shared->next_id = id + 1;
	}
	if (p->shared->next_id == 0)
		p->shared->next_id = 1;		/* 0 means "none" to persist */
	t->addr = *ss;
	t->addrlen = sslen;
	target_set_names(t);
	t->weight = weight;
	t->source = src;
	t->state = base_state(t);
	t->timeout_ms = resolve_timeout(p, timeout_ms);
	t->own_timeout = timeout_ms > 0;
	t->last_ack = loop_now(p->loop);
	t->check.latency_ms = -1;
	t->state_since = t->last_ack;
	t->listed = true;
	loop_timer_init(&t->deadline, deadline_fire, t);
	TAILQ_INSERT_TAIL(&p->targets, t, entry);
	t->order = p->shared->next_order++;
	p->nstate[t->state]++;
	index_add(p, t);
	p->count++;
	deadline_arm(t);
	bump(p, true);
	bump_state(p);
	/* Remembered, so a static target taken out and put back keeps its id. */
	if (src == TARGET_SRC_STATIC)
		(void)static_id_set(p, &t->addr, t->id);
	{
		struct event e = { .kind = EVENT_REGISTERED, .has_to = true,
		    .to = t->state, .weight = t->weight };

		emit(t, &e);
	}
	return t;
}

static bool
key_valid(const char *key)
{
	for (size_t i = 0; i < TARGET_KEY_LEN; i++)
		if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
			return false;
	return key[TARGET_KEY_LEN] == '\0';
}

struct target *
pool_restore(struct pool *p, enum target_source src, const struct sockaddr *sa,
    socklen_t salen, uint32_t weight, int64_t timeout_ms, uint32_t id,
    const char *key)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	uint16_t port;

	if (src == TARGET_SRC_STATIC || id == 0 || !key_valid(key) ||
	    weight < LIMIT_WEIGHT_MIN || weight > LIMIT_WEIGHT_MAX ||
	    addr_normalise(sa, salen, &ss, &sslen) == -1) {
		errno = EINVAL;
		return NULL;
	}
	port = addr_port(&ss);
	if (port != 0 && is_self(p, &ss))
		return NULL;
	if (pool_find_id(p, id) != NULL ||
	    (port != 0 && find_hostport(p, &ss, port, NULL) != NULL)) {
		errno = EEXIST;
		return NULL;
	}
	return target_create(p, src, &ss, sslen, weight, timeout_ms, id, key);
}

struct target *
pool_register(struct pool *p, enum target_source src,
    const struct sockaddr *sa, socklen_t salen, uint32_t weight,
    int64_t timeout_ms, bool *created)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct target *t;
	uint16_t port;

	if (created != NULL)
		*created = false;
	if (weight < LIMIT_WEIGHT_MIN || weight > LIMIT_WEIGHT_MAX ||
	    addr_normalise(sa, salen, &ss, &sslen) == -1) {
		errno = EINVAL;
		return NULL;
	}
	port = addr_port(&ss);
	if (port == 0 && src == TARGET_SRC_STATIC) {
		errno = EINVAL;		/* nothing would ever give it a port */
		return NULL;
	}
	if (port != 0 && is_self(p, &ss))
		return NULL;
	/*
	 * Port-less registrations are never merged: each ack connection that
	 * says NID gets its own target until SPORT. A leaving target is on its
	 * way out, so registering its address again starts a new one.
	 */
	if (port != 0 && (t = find_hostport(p, &ss, port, NULL)) != NULL) {
		if (!t->leaving)
			return t;
		pool_remove(t);
	}

	if ((t = target_create(p, src, &ss, sslen, weight, timeout_ms, 0, NULL)) == NULL)
		return NULL;
	if (created != NULL)
		*created = true;
	if (src != TARGET_SRC_STATIC && port != 0)
		slow_start(t);
	return t;
}

int
pool_set_port(struct target *t, uint16_t port)
{
	struct sockaddr_storage want;
	struct target *dup;

	if (port == 0 || !t->listed) {
		errno = EINVAL;
		return -1;
	}
	if (t->port == port)
		return 0;
	want = t->addr;
	addr_set_port(&want, port);
	if (is_self(t->pool, &want))
		return -1;
	if (ix_room(&t->pool->by_addr) == -1)
		return -1;
	if ((dup = find_hostport(t->pool, &t->addr, port, t)) != NULL) {
		/*
		 * An agent heartbeating over HTTP keeps its target: replacing
		 * it would turn its key into a BID (issue 13 item 19).
		 */
		if (dup->source == TARGET_SRC_STATIC || (dup->source == TARGET_SRC_HTTP &&
		    !dup->leaving && dup->state != TARGET_DOWN)) {
			errno = EEXIST;
			return -1;
		}
		/* The same backend registered again: the newer one wins. */
		pool_remove(dup);
	}
	/* Removing dup left room: an index only shrinks to keep one more. */
	ix_del(addr_index(t->pool, t->port), host_hash(t->pool, &t->addr, t->port), t);
	t->addr = want;
	target_set_names(t);
	ix_put(&t->pool->by_addr, host_hash(t->pool, &t->addr, t->port), t);
	t->lost = false;
	if (t->state == TARGET_PORTLESS) {
		slow_start(t);
		set_state(t, TARGET_UP);
	}
	bump(t->pool, true);
	bump_state(t->pool);
	return 0;
}

int
pool_set_weight(struct target *t, uint32_t weight)
{
	if (weight < LIMIT_WEIGHT_MIN || weight > LIMIT_WEIGHT_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (t->weight != weight) {
		struct event e = { .kind = EVENT_WEIGHT, .weight = weight };

		t->weight = weight;
		bump(t->pool, true);
		bump_state(t->pool);
		emit(t, &e);
	}
	return 0;
}

int
pool_set_timeout(struct target *t, int64_t timeout_ms)
{
	int64_t ms = resolve_timeout(t->pool, timeout_ms);

	if (ms != t->timeout_ms || t->own_timeout != (timeout_ms > 0))
		bump_state(t->pool);
	t->timeout_ms = ms;
	t->own_timeout = timeout_ms > 0;
	deadline_arm(t);
	bump(t->pool, false);
	return 0;
}

/*
 * node-harmony's client heartbeats every 5 minutes by default and our host
 * timeout is 1 minute: such a target is down 4 minutes in 5. One long gap
 * is an outage; TARGET_SLOW_BEATS in a row is the heartbeat's own pace.
 */
static void
check_pace(struct target *t, int64_t now)
{
	t->beat_ms = now - t->last_ack;
	if (t->beat_ms <= t->timeout_ms) {
		t->slow_beats = 0;
		return;
	}
	if (t->slow_beats < TARGET_SLOW_BEATS)
		t->slow_beats++;
	if (t->slow_beats < TARGET_SLOW_BEATS || t->slow_warned)
		return;
	t->slow_warned = true;
	log_warnx("target %u %s: heartbeats come %.1f s apart, longer than its"
	    " %.1f s timeout: it is down between them; heartbeat more often, or"
	    " raise its timeout (--host-timeout, TTL: or \"ttl\")", (unsigned)t->id,
	    t->port != 0 ? t->name : t->host, (double)t->beat_ms / 1000.0,
	    (double)t->timeout_ms / 1000.0);
}

void
pool_ack(struct target *t)
{
	if (t->source == TARGET_SRC_STATIC || !t->listed)
		return;
	check_pace(t, loop_now(t->pool->loop));
	t->last_ack = loop_now(t->pool->loop);
	if (t->state == TARGET_DOWN && !t->check_held) {
		int64_t now = t->last_ack;

		/*
		 * A target that missed its deadline has most likely restarted:
		 * its old connect failures say nothing about the new process.
		 */
		t->fail_streak = 0;
		/* Down again within ten timeouts of its last return: a flap. */
		if (t->recovered_at != 0 &&
		    now - t->recovered_at < mul_sat(t->timeout_ms, TARGET_DOWN_REMOVE_FACTOR))
			t->flaps = t->flaps < TARGET_FLAPS_MAX ? t->flaps + 1 : t->flaps;
		else
			t->flaps = 0;
		t->recovered_at = now;
		t->recovery_ms = mul_sat(t->timeout_ms, (int64_t)1 << t->flaps);
		if (check_failing(t))
			t->check_held = true;	/* alive, but its check fails */
		else {
			slow_start(t);
			set_state(t, base_state(t));
		}
	}
	deadline_arm(t);
}

void
pool_drain(struct target *t)
{
	if (!t->listed || t->state == TARGET_DRAINING)
		return;
	set_state(t, TARGET_DRAINING);
	deadline_arm(t);
}

/*
 * Back to up (or static). A non-static target that has not acked lately
 * goes down at the next timer pass, as it would have without the drain. A
 * deregistered target stays on its way out.
 */
void
pool_undrain(struct target *t)
{
	if (!t->listed || t->leaving || t->state != TARGET_DRAINING)
		return;
	if (check_failing(t)) {
		t->check_held = true;
		set_state(t, TARGET_DOWN);
	} else {
		slow_start(t);
		set_state(t, base_state(t));
	}
	deadline_arm(t);
}

void
pool_deregister(struct target *t)
{
	if (!t->listed)
		return;
	if (!t->leaving) {
		t->leaving = true;
		t->leave_by = t->pool->shared->actor;
		bump(t->pool, true);
		bump_state(t->pool);
	}
	set_state(t, TARGET_DRAINING);
	if (t->active == 0) {
		pool_remove(t);
		return;
	}
	deadline_arm(t);
}

void
pool_remove(struct target *t)
{
	struct pool *p = t->pool;

	if (!t->listed)
		return;
	TAILQ_REMOVE(&p->targets, t, entry);
	index_del(p, t);
	p->nstate[t->state]--;
	p->count--;
	t->listed = false;
	loop_timer_cancel(p->loop, &t->deadline);
	bump(p, true);
	bump_state(p);
	{
		struct event e = { .kind = EVENT_REMOVED,
		    .has_from = true, .from = t->state };

		emit(t, &e);
	}
	if (p->on_remove != NULL)
		p->on_remove(p, t, p->on_remove_arg);
	for (size_t i = 0; i < POOL_WATCHERS_MAX && p->watchers[i].fn != NULL; i++)
		p->watchers[i].fn(p, t, p->watchers[i].arg);
	if (t->active == 0)
		free(t);
	else
		TAILQ_INSERT_TAIL(&p->unlisted, t, entry);
}

/* Forgets d, and its place in the index. */
static void
deleted_clear(struct pool *p, struct deleted *d)
{
	if (d->key[0] != '\0')
		ix_del(&p->deleted_ix, key_hash(p->shared, d->key), d);
	explicit_bzero(d, sizeof(*d));
}

/* The slot for a new deleted key: a free one, an expired one, or the oldest. */
static struct deleted *
deleted_slot(struct pool *p, int64_t now)
{
	struct deleted *oldest = NULL;

	if (p->deleted == NULL &&
	    (p->deleted = calloc(POOL_DELETED_MAX, sizeof(*p->deleted))) == NULL)
		return NULL;
	for (size_t i = 0; i < POOL_DELETED_MAX; i++) {
		struct deleted *d = &p->deleted[i];

		if (d->key[0] == '\0' || now - d->used > d->keep_ms)
			return d;
		if (oldest == NULL || d->used < oldest->used)
			oldest = d;
	}
	return oldest;
}

void
pool_delete(struct target *t)
{
	struct pool *p = t->pool;
	int64_t now = loop_now(p->loop);
	struct deleted *d;

	if (!t->listed)
		return;
	if (t->source != TARGET_SRC_STATIC && (d = deleted_slot(p, now)) != NULL) {
		deleted_clear(p, d);
		/* No room in the index (ENOMEM): not remembered, as without a slot. */
		if (ix_room(&p->deleted_ix) == 0) {
			memcpy(d->key, t->key, sizeof(d->key));
			d->host = t->addr;
			addr_set_port(&d->host, 0);
			d->lost = t->lost;
			d->used = now;
			d->keep_ms = mul_sat(t->timeout_ms, TARGET_DOWN_REMOVE_FACTOR);
			ix_put(&p->deleted_ix, key_hash(p->shared, d->key), d);
		}
	}
	pool_deregister(t);		/* t may be freed */
}

/* A remembered deleted entry, or NULL; expired ones are forgotten here. */
static struct deleted *
deleted_live(struct pool *p, struct deleted *d, int64_t now)
{
	if (d->key[0] == '\0')
		return NULL;
	if (now - d->used > d->keep_ms) {
		deleted_clear(p, d);
		return NULL;
	}
	return d;
}

static bool
match_deleted(const void *item, const void *arg)
{
	const struct deleted *d = item;

	return key_equal(d->key, arg);
}

bool
pool_key_deleted(struct pool *p, const char *key)
{
	int64_t now = loop_now(p->loop);
	struct deleted *found;

	if (p->deleted == NULL || key == NULL ||
	    strnlen(key, TARGET_KEY_LEN + 1) != TARGET_KEY_LEN)
		return false;
	found = ix_find(p->shared, &p->deleted_ix, key_hash(p->shared, key),
	    match_deleted, key, false);
	if (found == NULL || deleted_live(p, found, now) == NULL)
		return false;
	found->used = now;
	return true;
}

const char *
pool_deleted_lost(struct pool *p, const struct sockaddr *host)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	int64_t now = loop_now(p->loop);

	if (p->deleted == NULL || addr_normalise(host, sa_len(host), &ss, &sslen) == -1)
		return NULL;
	for (size_t i = 0; i < POOL_DELETED_MAX; i++) {
		struct deleted *d = deleted_live(p, &p->deleted[i], now);

		if (d != NULL && d->lost && addr_same_host(&d->host, &ss)) {
			d->used = now;
			return d->key;
		}
	}
	return NULL;
}

struct target *
pool_find_lost(const struct pool *p, const struct sockaddr *host)
{
	struct sockaddr_storage ss;
	socklen_t sslen;

	if (addr_normalise(host, sa_len(host), &ss, &sslen) == -1)
		return NULL;
	addr_set_port(&ss, 0);
	return ix_find(p->shared, &p->by_host, host_hash(p, &ss, 0), match_lost, &ss,
	    true);
}

static struct target *
find_id(struct pool_shared *sh, const struct pool *p, uint32_t id)
{
	const struct idkey w = { .pool = p, .id = id };

	return ix_find(sh, &sh->by_id, id_hash(id), match_id, &w, true);
}

static struct target *
find_key(struct pool_shared *sh, const struct pool *p, const char *key)
{
	const struct idkey w = { .pool = p, .key = key };

	if (key == NULL || strnlen(key, TARGET_KEY_LEN + 1) != TARGET_KEY_LEN)
		return NULL;
	return ix_find(sh, &sh->by_key, key_hash(sh, key), match_key, &w, true);
}

struct target *
pool_find_id(const struct pool *p, uint32_t id)
{
	return find_id(p->shared, p, id);
}

/*
 * Only the candidates whose keyed hash matches are compared, each in full
 * (match_key): without the pool's SipHash key a guess cannot be aimed at
 * a run, so the time taken tells nothing about how much of it was right.
 */
struct target *
pool_find_key(const struct pool *p, const char *key)
{
	return find_key(p->shared, p, key);
}

size_t
pool_count_state(const struct pool *p, enum target_state st)
{
	return (size_t)st < sizeof(p->nstate) / sizeof(p->nstate[0]) ? p->nstate[st] : 0;
}

struct target *
pool_find_addr(const struct pool *p, const struct sockaddr *sa)
{
	struct sockaddr_storage ss;
	socklen_t sslen;

	if (sa == NULL || addr_normalise(sa, sa_len(sa), &ss, &sslen) == -1)
		return NULL;
	return find_hostport(p, &ss, addr_port(&ss), NULL);
}

uint64_t
pool_lookup_steps(const struct pool *p)
{
	return p->shared->steps;
}

const struct target_list *
pool_targets(const struct pool *p)
{
	return &p->targets;
}

size_t
pool_count(const struct pool *p)
{
	return p->count;
}

static bool
target_pickable(const struct target *t)
{
	return t->listed && t->port != 0 && !t->leaving && !check_failing(t);
}

/* A ramp from a tenth of w to w over [at, at + ms). */
static uint64_t
ramp(uint64_t w, int64_t at, int64_t ms, int64_t now)
{
	uint64_t floor = w / 10;

	if (ms <= 0 || now >= at + ms)
		return w;
	if (now <= at)
		return floor;
	return floor + (w - floor) * (uint64_t)(now - at) / (uint64_t)ms;
}

bool
target_choosable(const struct target *t, int64_t now)
{
	if (!target_pickable(t))
		return false;
	switch (t->state) {
	case TARGET_UP:
	case TARGET_STATIC:
		return true;
	case TARGET_FAILING:
		return now >= t->retry_at;
	case TARGET_DOWN:
	case TARGET_DRAINING:
	case TARGET_PORTLESS:
	default:
		return false;
	}
}

uint32_t
target_weight_now(const struct target *t, int64_t now)
{
	uint64_t w = t->weight, floor = w / 10, slow;

	if (t->slow_ms > 0)
		slow = ramp(t->weight, t->slow_at, t->slow_ms, now);
	else
		slow = w;
	if (t->recovered_at == 0 || now >= t->recovered_at + t->recovery_ms ||
	    t->recovery_ms <= 0)
		w = slow;
	/* A flapper is held at the floor for its whole (doubled) period. */
	else if (t->flaps > 0)
		w = floor;
	else {
		w = ramp(t->weight, t->recovered_at, t->recovery_ms, now);
		if (slow < w)
			w = slow;
	}
	return w > 0 ? (uint32_t)w : 1;
}

bool
target_fallback(const struct target *t, int64_t now)
{
	return target_pickable(t) && t->state == TARGET_FAILING &&
	    now < t->retry_at;
}

/* t->active moved: the active watchers re-read it (pool.h). */
static void
active_moved(struct target *t)
{
	struct pool *p = t->pool;

	for (size_t i = 0; i < POOL_WATCHERS_MAX && p->active_watchers[i].fn != NULL; i++)
		p->active_watchers[i].fn(p, t, p->active_watchers[i].arg);
}

void
pool_session_begin(struct target *t)
{
	t->active++;
	active_moved(t);
	pool_touch(t->pool);
}

/* t may be freed on return. */
void
pool_session_end(struct target *t, uint64_t bytes_in, uint64_t bytes_out)
{
	struct pool *p = t->pool;

	if (t->active > 0)
		t->active--;
	active_moved(t);
	t->bytes_in += bytes_in;
	t->bytes_out += bytes_out;
	pool_touch(p);
	if (t->active > 0)
		return;
	if (!t->listed) {
		TAILQ_REMOVE(&p->unlisted, t, entry);
		free(t);
	} else if (t->leaving) {
		/* Its last session ended: the deregistration is done, by its maker. */
		change_by(t, -1, t->leave_by, "deregistered, its last session ended");
	}
}

void
pool_connect_ok(struct target *t)
{
	t->total++;		/* sessions that reached it, not attempts */
	t->fail_streak = 0;
	if (t->state == TARGET_FAILING)
		change_by(t, base_state(t), POOL_ACTOR_PROXY, "connected");
}

void
pool_connect_time(struct target *t, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms > INT64_MAX / 1000)
		ms = INT64_MAX / 1000;
	/* The first one is the average; then each weighs an eighth. */
	t->connect_avg_us = t->connect_ms < 0 ? ms * 1000 :
	    t->connect_avg_us + (ms * 1000 - t->connect_avg_us) / 8;
	t->connect_ms = ms;
}

void
pool_connect_failed(struct target *t)
{
	int64_t backoff = TARGET_BACKOFF_MAX_MS;

	t->failures++;
	if (t->fail_streak < UINT32_MAX)
		t->fail_streak++;
	/* 1 s << 5 is past the cap already; shifting further could overflow. */
	if (t->fail_streak <= 5) {
		backoff = (int64_t)TARGET_BACKOFF_MIN_MS << (t->fail_streak - 1);
		if (backoff > TARGET_BACKOFF_MAX_MS)
			backoff = TARGET_BACKOFF_MAX_MS;
	}
	t->retry_at = loop_now(t->pool->loop) + backoff;
	pool_touch(t->pool);
	/* Draining and down say more than failing; they only count it. */
	if (t->listed && t->state != TARGET_DRAINING && t->state != TARGET_DOWN &&
	    t->state != TARGET_FAILING) {
		char why[64];

		snprintf(why, sizeof(why), "connect failed, retry in %.0f s",
		    (double)backoff / 1000.0);
		change_by(t, TARGET_FAILING, POOL_ACTOR_PROXY, why);
	}
}

uint64_t
pool_version(const struct pool *p)
{
	return p->version;
}

uint64_t
pool_set_version(const struct pool *p)
{
	return p->set_version;
}

uint64_t
pool_state_version(const struct pool *p)
{
	return p->state_version;
}

uint32_t
pool_next_id(const struct pool *p)
{
	return p->shared->next_id;
}

void
pool_reserve_ids(struct pool *p, uint32_t next_id)
{
	if (next_id > p->shared->next_id) {
		p->shared->next_id = next_id;
		bump_state(p);
	}
}

int
pool_remember_static_id(struct pool *p, const struct sockaddr *sa,
    socklen_t salen, uint32_t id)
{
	struct sockaddr_storage ss;
	socklen_t sslen;

	if (id == 0 || addr_normalise(sa, salen, &ss, &sslen) == -1) {
		errno = EINVAL;
		return -1;
	}
	if (static_id_set(p, &ss, id) == -1)
		return -1;
	pool_reserve_ids(p, id == UINT32_MAX ? id : id + 1);
	return 0;
}

void
pool_make_static(struct target *t)
{
	if (!t->listed || t->source == TARGET_SRC_STATIC)
		return;
	t->source = TARGET_SRC_STATIC;
	t->leaving = false;
	if (t->state != TARGET_DRAINING)
		set_state(t, TARGET_STATIC);
	deadline_arm(t);
	(void)static_id_set(t->pool, &t->addr, t->id);
	bump(t->pool, true);
	bump_state(t->pool);
}

void
pool_touch(struct pool *p)
{
	bump(p, false);
}

const char *
target_state_name(enum target_state st)
{
	switch (st) {
	case TARGET_UP:
		return "up";
	case TARGET_DOWN:
		return "down";
	case TARGET_FAILING:
		return "failing";
	case TARGET_DRAINING:
		return "draining";
	case TARGET_STATIC:
		return "static";
	case TARGET_PORTLESS:
		return "portless";
	}
	return "unknown";
}

const char *
target_source_name(enum target_source src)
{
	switch (src) {
	case TARGET_SRC_STATIC:
		return "static";
	case TARGET_SRC_ACK:
		return "ack";
	case TARGET_SRC_HTTP:
		return "http";
	}
	return "unknown";
}

struct loop *
pool_loop(const struct pool *p)
{
	return p->loop;
}

int
pool_set_name(struct pool *p, const char *name, bool first)
{
	size_t len = strlen(name);

	if (!service_name_valid(name, len)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(p->name, name, len + 1);
	if (first)
		p->shared->first = p;
	return 0;
}

const char *
pool_name(const struct pool *p)
{
	return p->name;
}

struct pool *
pool_sibling(const struct pool *p, const char *name)
{
	struct pool *q;

	if (name == NULL)
		return p->shared->first;
	TAILQ_FOREACH(q, &p->shared->pools, sibling)
		if (strcmp(q->name, name) == 0)
			return q;
	/* A client that says "default" means the default, whatever its name. */
	return strcmp(name, SERVICE_DEFAULT) == 0 ? p->shared->first : NULL;
}

void
pool_detach(struct pool *p)
{
	if (p->detached)
		return;
	TAILQ_REMOVE(&p->shared->pools, p, sibling);
	if (p->shared->first == p)
		p->shared->first = TAILQ_FIRST(&p->shared->pools);
	p->detached = true;
}

/* One lookup in the shared part's index, however many siblings there are. */
struct target *
pools_find_id(const struct pool *p, uint32_t id)
{
	struct target *t = find_id(p->shared, NULL, id);

	return t != NULL && !t->pool->detached ? t : NULL;
}

struct target *
pools_find_key(const struct pool *p, const char *key)
{
	struct target *t = find_key(p->shared, NULL, key);

	return t != NULL && !t->pool->detached ? t : NULL;
}

bool
pools_key_deleted(const struct pool *p, const char *key)
{
	struct pool *q;

	TAILQ_FOREACH(q, &p->shared->pools, sibling)
		if (pool_key_deleted(q, key))
			return true;
	return false;
}

void
pool_set_slow_start(struct pool *p, int64_t ms)
{
	p->slow_start_ms = ms > 0 ? ms : 0;
}

void
pool_check_enable(struct target *t, unsigned rise, unsigned fall)
{
	t->check.rise = rise > 0 ? rise : 1;
	t->check.fall = fall > 0 ? fall : 1;
	if (t->check.on)
		return;
	t->check.on = true;
	t->check.status = TARGET_CHECK_PENDING;
	t->check.successes = 0;
	t->check.failures = 0;
	t->check.latency_ms = -1;
	t->check.last_at = 0;
	t->check.reason[0] = '\0';
	pool_touch(t->pool);
}

/*
 * Its check no longer holds it down: back to what it would be without. why
 * is the check's word when its verdict did it (NULL: whoever turned the
 * check off, the caller's actor).
 */
static void
check_release(struct target *t, const char *why)
{
	if (!t->check_held)
		return;
	t->check_held = false;
	if (t->listed && t->state == TARGET_DOWN) {
		slow_start(t);
		if (why != NULL)
			change_by(t, base_state(t), POOL_ACTOR_CHECK, why);
		else
			set_state(t, base_state(t));
	}
}

void
pool_check_disable(struct target *t)
{
	if (!t->check.on)
		return;
	t->check.on = false;
	t->check.status = TARGET_CHECK_PENDING;
	check_release(t, NULL);
	deadline_arm(t);
	/*
	 * A failing check that held nothing down (the target was port-less
	 * or draining when it failed) still kept the target from being
	 * chosen: without it, the set may have grown.
	 */
	bump(t->pool, true);
}

bool
pool_check_result(struct target *t, bool pass, int64_t latency_ms,
    const char *reason)
{
	struct target_check *c = &t->check;
	enum target_check_status was = c->status;
	char why[EVENTS_REASON_MAX];

	if (!c->on)
		return false;
	c->latency_ms = latency_ms;
	c->last_at = loop_now(t->pool->loop);
	if (pass) {
		c->failures = 0;
		if (c->successes < UINT32_MAX)
			c->successes++;
		/* Pending is passing already: the first pass says so. */
		if (was == TARGET_CHECK_PENDING ||
		    (was == TARGET_CHECK_FAILING && c->successes >= c->rise))
			c->status = TARGET_CHECK_PASSING;
	} else {
		c->successes = 0;
		if (c->failures < UINT32_MAX)
			c->failures++;
		snprintf(c->reason, sizeof(c->reason), "%s",
		    reason != NULL ? reason : "failed");
		if (was != TARGET_CHECK_FAILING && c->failures >= c->fall)
			c->status = TARGET_CHECK_FAILING;
	}
	pool_touch(t->pool);
	pool_check_latency(t, latency_ms);
	if (c->status == was)
		return false;
	/* A verdict (not pending's first pass) is an event, then its effect. */
	if (was == TARGET_CHECK_FAILING || c->status == TARGET_CHECK_FAILING) {
		pool_check_event(t, pass, pass ? NULL : c->reason, latency_ms);
		if (pass)
			snprintf(why, sizeof(why), "%u/%u checks passed", c->successes,
			    c->rise);
		else
			snprintf(why, sizeof(why), "%s, %u/%u checks failed", c->reason,
			    c->failures, c->fall);
	}
	if (c->status == TARGET_CHECK_FAILING) {
		if (t->listed && (t->state == TARGET_UP || t->state == TARGET_STATIC ||
		    t->state == TARGET_FAILING)) {
			t->check_held = true;
			change_by(t, TARGET_DOWN, POOL_ACTOR_CHECK, why);
			deadline_arm(t);
		}
	} else if (was == TARGET_CHECK_FAILING) {
		check_release(t, why);
		deadline_arm(t);
	}
	bump(t->pool, true);
	/* Pending to passing changes no choice: it was chosen already. */
	return was == TARGET_CHECK_FAILING || c->status == TARGET_CHECK_FAILING;
}

const char *
target_check_status_name(enum target_check_status st)
{
	switch (st) {
	case TARGET_CHECK_PASSING:
		return "passing";
	case TARGET_CHECK_FAILING:
		return "failing";
	case TARGET_CHECK_PENDING:
	default:
		return "pending";
	}
}

/* --- events -------------------------------------------------------------- */

void
pool_actor_set(struct pool *p, enum pool_actor a)
{
	p->shared->actor = a;
	p->shared->reason[0] = '\0';
}

void
pool_actor_reason(struct pool *p, const char *reason)
{
	struct event e;

	event_set_reason(&e, reason);
	memcpy(p->shared->reason, e.reason, sizeof(p->shared->reason));
}

enum pool_actor
pool_actor(const struct pool *p)
{
	return p->shared->actor;
}

const char *
pool_actor_name(enum pool_actor a)
{
	static const char *const names[] = {
		[POOL_ACTOR_ACK] = "ack",
		[POOL_ACTOR_HTTP] = "http",
		[POOL_ACTOR_OPERATOR] = "operator",
		[POOL_ACTOR_CHECK] = "check",
		[POOL_ACTOR_HEARTBEAT] = "heartbeat",
		[POOL_ACTOR_CONFIG] = "config",
		[POOL_ACTOR_STATE] = "state",
		[POOL_ACTOR_PROXY] = "proxy",
		[POOL_ACTOR_AGENT] = "agent",
	};

	if ((size_t)a >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[a];
}

struct events *
pool_events(const struct pool *p)
{
	return p->shared->events;
}

uint64_t
pool_event_count(const struct pool *p, int kind, enum pool_actor a)
{
	if (kind < 0 || kind >= EVENT_KINDS || (unsigned)a >= POOL_ACTORS)
		return 0;
	return p->nevents[kind][a];
}

const struct pool_check_hist *
pool_check_hist(const struct pool *p)
{
	return &p->check_hist;
}

static int64_t
wall_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return 0;
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * HAProxy's way of saying it ("Server web/a is DOWN, reason: ..."): the
 * service and id, the address, what happened, by whom and why. Warnings
 * for what takes a target out of use, info for the rest.
 */
static void
event_log(const struct event *e)
{
	static const char *const said[EVENT_KINDS] = {
		[EVENT_UP] = "is UP", [EVENT_DOWN] = "is DOWN",
		[EVENT_FAILING] = "is FAILING", [EVENT_DRAINING] = "is DRAINING",
		[EVENT_REMOVED] = "is REMOVED",
	};
	char what[64], why[EVENTS_REASON_MAX + 64];
	bool warn = e->kind == EVENT_DOWN || e->kind == EVENT_FAILING ||
	    e->kind == EVENT_REMOVED || (e->kind == EVENT_CHECK && !e->passed);

	if (e->kind == EVENT_REGISTERED || e->kind == EVENT_WEIGHT)
		snprintf(what, sizeof(what), "%sweight %u", e->kind == EVENT_REGISTERED ?
		    "registered, " : "", (unsigned)e->weight);
	else if (e->kind == EVENT_CHECK)
		snprintf(what, sizeof(what), "check %s", e->passed ? "passed" : "failed");
	else
		snprintf(what, sizeof(what), "%s", (unsigned)e->kind < EVENT_KINDS &&
		    said[e->kind] != NULL ? said[e->kind] : "changed");
	snprintf(why, sizeof(why), "%s%s%s", pool_actor_name(e->by),
	    e->reason[0] != '\0' ? ": " : "", e->reason);
	if (e->kind == EVENT_CHECK && e->latency_ms >= 0)
		snprintf(why + strlen(why), sizeof(why) - strlen(why), ", %lld ms",
		    (long long)e->latency_ms);
	/* log.c escapes the whole message: a reason cannot end the line. */
	if (warn)
		log_warnx("target %s/%u %s %s (by %s)", e->service,
		    (unsigned)e->target, e->name, what, why);
	else
		log_info("target %s/%u %s %s (by %s)", e->service,
		    (unsigned)e->target, e->name, what, why);
}

/* e's kind and its kind's fields are set; the rest is t's and the actor's. */
static void
emit(struct target *t, struct event *e)
{
	struct pool *p = t->pool;
	struct pool_shared *sh = p->shared;

	e->time_ms = wall_ms();
	memcpy(e->service, p->name, sizeof(e->service));
	e->target = t->id;
	memcpy(e->name, t->port != 0 ? t->name : t->host, sizeof(e->name));
	e->name[sizeof(e->name) - 1] = '\0';
	e->by = e->kind == EVENT_CHECK ? POOL_ACTOR_CHECK : sh->actor;
	if (e->kind != EVENT_CHECK)
		memcpy(e->reason, sh->reason, sizeof(e->reason));
	if (e->kind != EVENT_CHECK)
		e->latency_ms = -1;
	if ((unsigned)e->kind < EVENT_KINDS && (unsigned)e->by < POOL_ACTORS)
		p->nevents[e->kind][e->by]++;
	event_log(e);
	(void)events_add(sh->events, e);
}

static bool
state_live(enum target_state st)
{
	return st == TARGET_UP || st == TARGET_STATIC || st == TARGET_PORTLESS;
}

static void
emit_state(struct target *t, enum target_state from)
{
	struct event e = { .has_from = true, .from = from, .has_to = true,
	    .to = t->state };

	switch (t->state) {
	case TARGET_DOWN:
		e.kind = EVENT_DOWN;
		break;
	case TARGET_FAILING:
		e.kind = EVENT_FAILING;
		break;
	case TARGET_DRAINING:
		e.kind = EVENT_DRAINING;
		break;
	case TARGET_UP:
	case TARGET_STATIC:
	case TARGET_PORTLESS:
	default:
		/* Static from up (made static) is no news; a port given is. */
		if (state_live(from) && !(from == TARGET_PORTLESS && t->state == TARGET_UP))
			return;
		e.kind = EVENT_UP;
		break;
	}
	emit(t, &e);
}

void
pool_check_latency(struct target *t, int64_t latency_ms)
{
	static const int64_t le[POOL_CHECK_BUCKETS] = POOL_CHECK_BUCKET_MS;
	struct pool_check_hist *h = &t->pool->check_hist;

	if (latency_ms < 0)
		return;
	for (size_t i = 0; i < POOL_CHECK_BUCKETS; i++)
		if (latency_ms <= le[i])
			h->le[i]++;
	h->count++;
	h->sum_ms = add_sat(h->sum_ms, latency_ms);
}

void
pool_check_event(struct target *t, bool passed, const char *reason,
    int64_t latency_ms)
{
	struct event e = { .kind = EVENT_CHECK, .passed = passed,
	    .latency_ms = latency_ms < 0 ? -1 : latency_ms };

	if (!t->listed)
		return;
	event_set_reason(&e, reason);
	bump(t->pool, false);
	emit(t, &e);
}
