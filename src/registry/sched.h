/*
 * sched: the indexed scheduler balance.c uses for roundrobin and
 * leastconn once a pool lists more than BALANCE_LINEAR_MAX targets, so
 * that a pick costs O(log n) instead of a walk of the pool.
 *
 * It keeps one entry per listed target it has seen (freed by
 * sched_forget, which balance.c calls from the pool's removal watch) and
 * orders the choosable ones in binary heaps: by virtual deadline for
 * earliest-deadline-first round robin, and for leastconn also by load.
 * Failing targets in backoff wait in a heap by retry_at. The owner tells
 * it of every active count that moves (sched_active, from the pool's
 * active watch); everything else it reads from the pool at a pick: the
 * set is rebuilt when pool_set_version() moved, weights are re-read.
 *
 * Like balance.c, it never changes a target.
 */
#ifndef HARMONY_SCHED_H
#define HARMONY_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool;
struct target;
struct sched;

/* steps counts the entries and heap levels it goes through (balance_steps). */
struct sched	*sched_new(struct pool *, bool leastconn, uint64_t *steps);
void		 sched_free(struct sched *);
/*
 * A choosable target not among the nexclude ids in exclude, in *out, or
 * NULL if there is none (the fallback tier is the caller's). -1 with
 * ENOMEM when the index could not be built: the caller walks instead.
 */
int		 sched_pick(struct sched *, const uint32_t *exclude, size_t nexclude,
		    int64_t now, struct target **out);
void		 sched_forget(struct sched *, const struct target *);
void		 sched_active(struct sched *, const struct target *);

/*
 * Compares the loads a1 / w1 and a2 / w2 exactly: -1, 0 or 1 (leastconn's
 * order, shared with balance.c's walk).
 */
int		 sched_load_cmp(uint64_t a1, uint32_t w1, uint64_t a2, uint32_t w2);

#endif
