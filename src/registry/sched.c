/*
 * sched: see sched.h.
 *
 * roundrobin is earliest deadline first, as Envoy schedules weighted
 * round robin: each choosable target has a virtual deadline, start +
 * SCHED_SCALE / weight, where start is the virtual time of its last turn
 * (or of its entry); a pick takes the earliest deadline (ties by id) and
 * moves the virtual clock to it, so over any stretch of picks each target
 * gets its weight's share, to within one turn. A target that enters (a
 * rebuild that finds it new, a backoff that ends) starts at the clock: no
 * credit for the time it was away.
 *
 * leastconn keeps a second heap by (load, tie deadline, id), the load
 * (active + 1) / weight compared exactly (sched_load_cmp). As in
 * balance.c's walk, an idle farm (no choosable target has a session)
 * takes the round robin's turn instead, so that short sessions spread by
 * weight; a busy one takes the least loaded exactly, and among equal
 * loads the earliest tie deadline, which a turn moves by 1 / weight from
 * the later of its own and the tie clock. The tie deadlines are apart
 * from the round robin's, so the turns the busy farm takes do not count
 * against a target when the farm is idle again.
 *
 * Membership: the heaps hold what target_choosable() accepted at the last
 * rebuild, which a pick makes whenever pool_set_version() moved (state,
 * port, weight, check verdict, listing; never a heartbeat or a session),
 * in O(n). Between rebuilds two things change with time alone: a failing
 * target's backoff ends, and a ramping weight grows (target_weight_now:
 * recovery and slow start). Both wait in the wake heap: a target in
 * backoff by its retry_at, after which it enters; a ramping one by the
 * next time its weight is re-read, SCHED_RAMP_STEPS times over its ramp,
 * so its keys follow the ramp in steps. The top of a heap is checked
 * again before it is taken (still choosable, weight still the same, not
 * excluded), so what a rebuild could not foresee (a failing target
 * failing again, its backoff moved on) is corrected as it surfaces: the
 * chosen target is always choosable, with its weight of now.
 *
 * Excluded targets are taken off the heap in use and put back after the
 * pick. Clocks only grow: past SCHED_REBASE a rebuild moves them and every
 * entry back by the same amount, so nothing wraps.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>

#include "common/hash.h"
#include "registry/pool.h"
#include "registry/sched.h"

/* Virtual time of one turn at weight 1; weights go up to 10^6 < 2^20. */
#define SCHED_SCALE	((uint64_t)1 << 40)
#define SCHED_REBASE	((uint64_t)1 << 62)
/* A ramping weight is re-read this many times over its ramp, at most. */
#define SCHED_RAMP_STEPS 64
#define NOPOS		SIZE_MAX
#define NEVER		INT64_MAX

enum { H_EDF, H_LOAD, H_WAKE, HEAPS };

struct sched_ent {
	struct target		*t;
	struct sched_ent	*next;		/* in its id bucket */
	struct sched_ent	*aside;		/* taken off during a pick */
	uint32_t		 id;
	uint32_t		 w;		/* the weight its keys use */
	bool			 busy;		/* active > 0, as last told */
	bool			 kept;		/* a rebuild found it in H_EDF */
	uint64_t		 start;		/* virtual time of its last turn */
	uint64_t		 d;		/* its deadline, start + step(w) */
	uint64_t		 tie;		/* leastconn's tie deadline */
	int64_t			 wake;		/* in H_WAKE: loop ms */
	size_t			 pos[HEAPS];	/* NOPOS: not in that heap */
};

struct heap {
	struct sched_ent	**v;
	size_t			 n, cap;
};

struct sched {
	struct pool		*pool;
	bool			 leastconn;
	bool			 built;
	uint64_t		 set_version;	/* pool_set_version() at the rebuild */
	int64_t			 last_now;
	uint64_t		 vnow;		/* the round robin's clock */
	uint64_t		 vtie;		/* leastconn's tie clock */
	size_t			 nbusy;		/* H_LOAD members with a session */
	struct sched_ent	**bucket;	/* entries by id, chained */
	size_t			 nbucket;	/* a power of two, or 0 */
	size_t			 nent;
	struct heap		 h[HEAPS];
	uint64_t		*steps;		/* sched_new's counter */
};

int
sched_load_cmp(uint64_t a1, uint32_t w1, uint64_t a2, uint32_t w2)
{
	/* a1 * w2 against a2 * w1 in 96 bits: 64 x 32 does not fit in 64. */
	uint64_t xl = (a1 & 0xffffffff) * w2, xh = (a1 >> 32) * w2;
	uint64_t yl = (a2 & 0xffffffff) * w1, yh = (a2 >> 32) * w1;

	xh += xl >> 32;
	xl &= 0xffffffff;
	yh += yl >> 32;
	yl &= 0xffffffff;
	if (xh != yh)
		return xh < yh ? -1 : 1;
	if (xl != yl)
		return xl < yl ? -1 : 1;
	return 0;
}

static uint64_t
step(uint32_t w)
{
	return SCHED_SCALE / (w > 0 ? w : 1);
}

/* --- heaps ------------------------------------------------------------ */

static bool
before(int k, const struct sched_ent *a, const struct sched_ent *b)
{
	int c;

	switch (k) {
	case H_LOAD:
		c = sched_load_cmp(a->t->active + 1, a->w, b->t->active + 1, b->w);
		if (c != 0)
			return c < 0;
		if (a->tie != b->tie)
			return a->tie < b->tie;
		break;
	case H_WAKE:
		if (a->wake != b->wake)
			return a->wake < b->wake;
		break;
	case H_EDF:
	default:
		if (a->d != b->d)
			return a->d < b->d;
		break;
	}
	return a->id < b->id;
}

static void
heap_put(struct heap *h, int k, size_t i, struct sched_ent *e)
{
	h->v[i] = e;
	e->pos[k] = i;
}

static void
sift_up(struct sched *s, int k, size_t i)
{
	struct heap *h = &s->h[k];
	struct sched_ent *e = h->v[i];

	while (i > 0 && before(k, e, h->v[(i - 1) / 2])) {
		(*s->steps)++;
		heap_put(h, k, i, h->v[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_put(h, k, i, e);
}

static void
sift_down(struct sched *s, int k, size_t i)
{
	struct heap *h = &s->h[k];
	struct sched_ent *e = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && before(k, h->v[c + 1], h->v[c]))
			c++;
		if (!before(k, h->v[c], e))
			break;
		(*s->steps)++;
		heap_put(h, k, i, h->v[c]);
		i = c;
	}
	heap_put(h, k, i, e);
}

/* e's key moved: back to its place, if it is in heap k. */
static void
heap_fix(struct sched *s, int k, struct sched_ent *e)
{
	if (e->pos[k] == NOPOS)
		return;
	sift_up(s, k, e->pos[k]);
	sift_down(s, k, e->pos[k]);
}

/* Every heap has room for every entry (rebuild): this cannot fail. */
static void
heap_push(struct sched *s, int k, struct sched_ent *e)
{
	struct heap *h = &s->h[k];

	if (e->pos[k] != NOPOS) {
		heap_fix(s, k, e);
		return;
	}
	heap_put(h, k, h->n++, e);
	sift_up(s, k, h->n - 1);
}

static void
heap_del(struct sched *s, int k, struct sched_ent *e)
{
	struct heap *h = &s->h[k];
	size_t i = e->pos[k];
	struct sched_ent *last;

	if (i == NOPOS)
		return;
	e->pos[k] = NOPOS;
	last = h->v[--h->n];
	if (last == e)
		return;
	heap_put(h, k, i, last);
	heap_fix(s, k, last);
}

static struct sched_ent *
heap_top(const struct sched *s, int k)
{
	return s->h[k].n > 0 ? s->h[k].v[0] : NULL;
}

static int
heap_reserve(struct heap *h, size_t want)
{
	struct sched_ent **v;

	if (want <= h->cap)
		return 0;
	if ((v = realloc(h->v, want * sizeof(*v))) == NULL)
		return -1;
	h->v = v;
	h->cap = want;
	return 0;
}

/* --- entries by id ------------------------------------------------------ */

static size_t
bucket_of(const struct sched *s, uint32_t id)
{
	return (size_t)(hash_mix64(id) & (s->nbucket - 1));
}

static struct sched_ent *
ent_find(const struct sched *s, uint32_t id)
{
	struct sched_ent *e;

	if (s->nbucket == 0)
		return NULL;
	for (e = s->bucket[bucket_of(s, id)]; e != NULL; e = e->next) {
		if (e->id == id)
			return e;
	}
	return NULL;
}

/* A bucket per entry for want entries; -1 on ENOMEM, nothing changed. */
static int
map_reserve(struct sched *s, size_t want)
{
	struct sched_ent **old = s->bucket, *e, *next;
	size_t oldn = s->nbucket, cap = oldn ? oldn : 16;

	while (cap < want)
		cap *= 2;
	if (cap == oldn)
		return 0;
	if ((s->bucket = calloc(cap, sizeof(*s->bucket))) == NULL) {
		s->bucket = old;
		return -1;
	}
	s->nbucket = cap;
	for (size_t i = 0; i < oldn; i++) {
		for (e = old[i]; e != NULL; e = next) {
			size_t b = bucket_of(s, e->id);

			next = e->next;
			e->next = s->bucket[b];
			s->bucket[b] = e;
		}
	}
	free(old);
	return 0;
}

static struct sched_ent *
ent_new(struct sched *s, struct target *t)
{
	struct sched_ent *e;
	size_t b;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	e->t = t;
	e->id = t->id;
	for (int k = 0; k < HEAPS; k++)
		e->pos[k] = NOPOS;
	b = bucket_of(s, e->id);
	e->next = s->bucket[b];
	s->bucket[b] = e;
	s->nent++;
	return e;
}

static void
ent_drop(struct sched *s, struct sched_ent *e)
{
	struct sched_ent **pp = &s->bucket[bucket_of(s, e->id)];

	if (e->pos[H_LOAD] != NOPOS)
		s->nbusy -= e->busy;
	for (int k = 0; k < HEAPS; k++)
		heap_del(s, k, e);
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	s->nent--;
	free(e);
}

/* --- membership ------------------------------------------------------- */

/* When a ramping weight is next re-read, NEVER if it is not ramping. */
static int64_t
ramp_wake(const struct target *t, int64_t now)
{
	int64_t end = 0, len = 0, at;

	if (t->slow_ms > 0 && now < t->slow_at + t->slow_ms) {
		end = t->slow_at + t->slow_ms;
		len = t->slow_ms;
	}
	if (t->recovered_at != 0 && t->recovery_ms > 0 &&
	    now < t->recovered_at + t->recovery_ms) {
		if (t->recovered_at + t->recovery_ms > end)
			end = t->recovered_at + t->recovery_ms;
		if (t->recovery_ms > len)
			len = t->recovery_ms;
	}
	if (end == 0)
		return NEVER;
	at = now + (len / SCHED_RAMP_STEPS > 0 ? len / SCHED_RAMP_STEPS : 1);
	return at < end ? at : end;
}

static void
wake_at(struct sched *s, struct sched_ent *e, int64_t when)
{
	e->wake = when;
	if (when == NEVER)
		heap_del(s, H_WAKE, e);
	else
		heap_push(s, H_WAKE, e);
}

/* Its weight of now moved: its deadline with it, from its last turn. */
static void
reweigh(struct sched *s, struct sched_ent *e, uint32_t w)
{
	e->w = w;
	e->d = e->start + step(w);
	if (e->d < s->vnow)
		e->d = s->vnow;
	heap_fix(s, H_EDF, e);
	heap_fix(s, H_LOAD, e);
}

/* Choosable again between rebuilds (its backoff is over): from the clocks. */
static void
enter(struct sched *s, struct sched_ent *e, int64_t now)
{
	e->w = target_weight_now(e->t, now);
	e->start = s->vnow;
	e->d = s->vnow + step(e->w);
	e->tie = s->vtie;
	heap_push(s, H_EDF, e);
	if (s->leastconn) {
		e->busy = e->t->active > 0;
		s->nbusy += e->busy;
		heap_push(s, H_LOAD, e);
	}
	wake_at(s, e, ramp_wake(e->t, now));
}

/* No longer choosable: out, into the wake heap if it is in backoff. */
static void
leave(struct sched *s, struct sched_ent *e, int64_t now)
{
	heap_del(s, H_EDF, e);
	if (e->pos[H_LOAD] != NOPOS) {
		s->nbusy -= e->busy;
		heap_del(s, H_LOAD, e);
	}
	wake_at(s, e, target_fallback(e->t, now) ? e->t->retry_at : NEVER);
}

static uint64_t
sub_sat(uint64_t x, uint64_t by)
{
	return x > by ? x - by : 0;
}

static void
heapify(struct sched *s, int k)
{
	for (size_t i = s->h[k].n / 2; i-- > 0;)
		sift_down(s, k, i);
}

/*
 * The heaps again from the pool's list, O(n). An entry that was in the
 * round robin keeps its place in virtual time; one that was not starts
 * at the clocks. -1 on ENOMEM, with the heaps as they were.
 */
static int
rebuild(struct sched *s, int64_t now)
{
	const struct target_list *list = pool_targets(s->pool);
	uint64_t by_e = 0, by_t = 0;
	struct sched_ent *e;
	struct target *t;

	if (map_reserve(s, pool_count(s->pool)) == -1)
		return -1;
	TAILQ_FOREACH(t, list, entry) {
		if ((e = ent_find(s, t->id)) != NULL && e->t != t) {
			ent_drop(s, e);		/* its removal was not seen */
			e = NULL;
		}
		if (e == NULL && ent_new(s, t) == NULL)
			return -1;
	}
	for (int k = 0; k < HEAPS; k++) {
		if (heap_reserve(&s->h[k], s->nent) == -1)
			return -1;
	}
	for (int k = 0; k < HEAPS; k++) {
		for (size_t i = 0; i < s->h[k].n; i++) {
			e = s->h[k].v[i];
			e->kept |= k == H_EDF;
			e->pos[k] = NOPOS;
		}
		s->h[k].n = 0;
	}
	s->nbusy = 0;
	if (s->vnow > SCHED_REBASE)
		by_e = s->vnow;
	if (s->vtie > SCHED_REBASE)
		by_t = s->vtie;
	s->vnow -= by_e;
	s->vtie -= by_t;
	TAILQ_FOREACH(t, list, entry) {
		(*s->steps)++;
		if ((e = ent_find(s, t->id)) == NULL)
			continue;	/* made by the walk above: cannot happen */
		e->start = sub_sat(e->start, by_e);
		e->d = sub_sat(e->d, by_e);
		e->tie = sub_sat(e->tie, by_t);
		if (target_choosable(t, now)) {
			if (!e->kept) {
				e->start = s->vnow;
				e->tie = s->vtie;
			}
			e->w = target_weight_now(t, now);
			e->d = e->start + step(e->w);
			if (e->d < s->vnow)
				e->d = s->vnow;
			heap_put(&s->h[H_EDF], H_EDF, s->h[H_EDF].n++, e);
			if (s->leastconn) {
				e->busy = t->active > 0;
				s->nbusy += e->busy;
				heap_put(&s->h[H_LOAD], H_LOAD, s->h[H_LOAD].n++, e);
			}
			e->wake = ramp_wake(t, now);
		} else {
			e->wake = target_fallback(t, now) ? t->retry_at : NEVER;
		}
		if (e->wake != NEVER)
			heap_put(&s->h[H_WAKE], H_WAKE, s->h[H_WAKE].n++, e);
		e->kept = false;
	}
	for (int k = 0; k < HEAPS; k++)
		heapify(s, k);
	s->built = true;
	s->set_version = pool_set_version(s->pool);
	return 0;
}

/* What time alone changed since the last pick: backoffs over, ramps on. */
static void
wake_due(struct sched *s, int64_t now)
{
	struct sched_ent *e;

	while ((e = heap_top(s, H_WAKE)) != NULL && e->wake <= now) {
		(*s->steps)++;
		if (e->pos[H_EDF] != NOPOS) {
			uint32_t w = target_weight_now(e->t, now);

			if (w != e->w)
				reweigh(s, e, w);
			wake_at(s, e, ramp_wake(e->t, now));
		} else if (target_choosable(e->t, now)) {
			enter(s, e, now);
		} else {
			wake_at(s, e, target_fallback(e->t, now) ?
			    e->t->retry_at : NEVER);
		}
	}
}

static bool
excluded(uint32_t id, const uint32_t *ex, size_t nex)
{
	for (size_t i = 0; i < nex; i++) {
		if (ex[i] == id)
			return true;
	}
	return false;
}

/* leastconn: whether a choosable target that may be taken has a session. */
static bool
busy(const struct sched *s, const uint32_t *ex, size_t nex)
{
	size_t n = s->nbusy;

	for (size_t i = 0; i < nex && n > 0; i++) {
		const struct sched_ent *e = ent_find(s, ex[i]);

		if (e != NULL && e->busy && e->pos[H_LOAD] != NOPOS &&
		    !excluded(ex[i], ex, i))
			n--;
	}
	return n > 0;
}

/* --- API ------------------------------------------------------------- */

struct sched *
sched_new(struct pool *p, bool leastconn, uint64_t *steps)
{
	struct sched *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->pool = p;
	s->leastconn = leastconn;
	s->last_now = INT64_MIN;
	s->steps = steps;
	return s;
}

void
sched_free(struct sched *s)
{
	struct sched_ent *e, *next;

	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nbucket; i++) {
		for (e = s->bucket[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(s->bucket);
	for (int k = 0; k < HEAPS; k++)
		free(s->h[k].v);
	free(s);
}

/* The top of heap k that may be taken now; the excluded ones go on aside. */
static struct sched_ent *
top_taken(struct sched *s, int k, const uint32_t *ex, size_t nex, int64_t now,
    struct sched_ent **aside)
{
	struct sched_ent *e;
	uint32_t w;

	while ((e = heap_top(s, k)) != NULL) {
		(*s->steps)++;
		if (!target_choosable(e->t, now))
			leave(s, e, now);
		else if (excluded(e->id, ex, nex)) {
			heap_del(s, k, e);
			e->aside = *aside;
			*aside = e;
		} else if ((w = target_weight_now(e->t, now)) != e->w)
			reweigh(s, e, w);
		else
			return e;
	}
	return NULL;
}

static void
put_back(struct sched *s, int k, struct sched_ent *aside)
{
	struct sched_ent *e;

	while ((e = aside) != NULL) {
		aside = e->aside;
		e->aside = NULL;
		heap_push(s, k, e);
	}
}

int
sched_pick(struct sched *s, const uint32_t *ex, size_t nex, int64_t now,
    struct target **out)
{
	struct sched_ent *e, *aside = NULL;
	int k;

	*out = NULL;
	if (!s->built || s->set_version != pool_set_version(s->pool) ||
	    now < s->last_now || s->vnow > SCHED_REBASE || s->vtie > SCHED_REBASE) {
		if (rebuild(s, now) == -1) {
			s->built = false;
			errno = ENOMEM;
			return -1;
		}
	}
	s->last_now = now;
	wake_due(s, now);
	k = s->leastconn && busy(s, ex, nex) ? H_LOAD : H_EDF;
	e = top_taken(s, k, ex, nex, now, &aside);
	/* The busy ones it dropped on the way may have been the last. */
	if (k == H_LOAD && !busy(s, ex, nex)) {
		put_back(s, k, aside);
		aside = NULL;
		k = H_EDF;
		e = top_taken(s, k, ex, nex, now, &aside);
	}
	if (e != NULL && k == H_EDF) {
		s->vnow = e->d;
		e->start = e->d;
		e->d = e->start + step(e->w);
		heap_fix(s, H_EDF, e);
	} else if (e != NULL) {
		s->vtie = e->tie > s->vtie ? e->tie : s->vtie;
		e->tie = s->vtie + step(e->w);
		heap_fix(s, H_LOAD, e);
	}
	put_back(s, k, aside);
	*out = e != NULL ? e->t : NULL;
	return 0;
}

void
sched_forget(struct sched *s, const struct target *t)
{
	struct sched_ent *e = ent_find(s, t->id);

	if (e != NULL && e->t == t)
		ent_drop(s, e);
}

void
sched_active(struct sched *s, const struct target *t)
{
	struct sched_ent *e;
	bool b = t->active > 0;

	if (!s->leastconn || (e = ent_find(s, t->id)) == NULL || e->t != t)
		return;
	if (e->pos[H_LOAD] != NOPOS) {
		s->nbusy = s->nbusy - e->busy + b;
		e->busy = b;
		heap_fix(s, H_LOAD, e);
	} else {
		e->busy = b;
	}
}
