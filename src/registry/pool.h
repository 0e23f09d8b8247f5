/*
 * pool: the target registry.
 *
 * The pool owns every struct target. Others hold a target only in two ways:
 * a session takes a counted reference (pool_session_begin/_end) that keeps
 * the memory alive after removal; everyone else keeps the numeric id and
 * looks it up again (pool_find_id), because a target can be removed at any
 * loop iteration.
 *
 * Liveness: every non-static target has a heartbeat deadline timer on the
 * pool's loop. A missed deadline turns up/failing into down; an ack brings
 * it back; down for 10 x its timeout removes it. Connect failures put a
 * target into failing with exponential backoff (1 s doubling to 30 s).
 *
 * A target without a port (an ack NID before its SPORT) is in state
 * portless: never chosen, never counted as up. A node-harmony client that
 * got a BID re-registers with a bare NID and never sends SPORT again; the
 * pool marks such a target lost (target.lost) and ackproto gives every
 * later re-registration of that host the same one, so the registry does
 * not grow from one client's re-registrations.
 *
 * Deleting a target (pool_delete: HTTP DELETE, the dashboard's Remove)
 * remembers its key for a while (POOL_DELETED_MAX keys, each for 10 x its
 * timeout after the last heartbeat that used it): a client that keeps
 * heartbeating is answered without coming back (ackproto).
 *
 * A target at one of harmonyd's own listeners (pool_self) is refused with
 * EADDRINUSE wherever one is made or given a port.
 *
 * pool_version() changes on every change an observer (the dashboard)
 * cares about, counters included; pool_set_version() changes only when the
 * set of targets the balancer chooses from, or their weights, change;
 * pool_state_version() only when what the state file holds changes.
 *
 * Every change of a target is an event (registry/events.h): a log line,
 * an entry in the history its pool_shared keeps, and a count. Who made
 * the change is the pool's actor, set by the caller before it calls the
 * pool (single-threaded: ackreg per request, api.c per handler, the
 * configuration at start and SIGHUP, the state file's restore, the
 * checker per result); the pool itself says heartbeat in its deadline
 * timer and proxy in pool_connect_failed/_ok.
 */
#ifndef HARMONY_POOL_H
#define HARMONY_POOL_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/limits.h"
#include "core/loop.h"

#define TARGET_KEY_LEN		32	/* hex digits of 128 random bits */
#define TARGET_HOST_MAX		46	/* INET6_ADDRSTRLEN */
#define TARGET_NAME_MAX		(TARGET_HOST_MAX + 8)	/* "[host]:port" */
#define TARGET_DOWN_REMOVE_FACTOR 10
#define TARGET_BACKOFF_MIN_MS	1000
#define TARGET_BACKOFF_MAX_MS	30000
#define POOL_MAX_TARGETS	16384	/* registered ones; beyond: ENOSPC */
#define TARGET_FLAPS_MAX	5	/* recovery doubles up to 2^5 x timeout */
#define POOL_DELETED_MAX	1024	/* deleted keys remembered */
#define TARGET_SLOW_BEATS	2	/* heartbeats in a row slower than the timeout: warn */
#define POOL_WATCHERS_MAX	4	/* pool_watch_remove, _active callbacks */

enum target_state {
	TARGET_UP,
	TARGET_DOWN,
	TARGET_FAILING,
	TARGET_DRAINING,
	TARGET_STATIC,
	TARGET_PORTLESS,	/* registered, no port yet: never chosen */
};

/* Who changed a target (see the head comment); pool_actor_name says it. */
enum pool_actor {
	POOL_ACTOR_ACK,
	POOL_ACTOR_HTTP,
	POOL_ACTOR_OPERATOR,
	POOL_ACTOR_CHECK,
	POOL_ACTOR_HEARTBEAT,
	POOL_ACTOR_CONFIG,
	POOL_ACTOR_STATE,
	POOL_ACTOR_PROXY,
	POOL_ACTOR_AGENT,	/* the ack port, a client that named itself (AGENT:) */
	POOL_ACTORS
};

/* harmony_check_duration_seconds's upper bounds, in ms (api_metrics.c). */
#define POOL_CHECK_BUCKETS	8
#define POOL_CHECK_BUCKET_MS	{ 5, 10, 25, 50, 100, 250, 1000, 5000 }

struct pool_check_hist {
	uint64_t		 le[POOL_CHECK_BUCKETS];	/* cumulative */
	uint64_t		 count;
	int64_t			 sum_ms;
};

enum target_source {
	TARGET_SRC_STATIC,
	TARGET_SRC_ACK,
	TARGET_SRC_HTTP,
};

struct pool;
struct selfaddr;

/*
 * A target's health check verdict (check/check.c probes it; the pool
 * keeps the verdict). pending: no verdict yet, chosen as if passing (as
 * HAProxy starts its servers up); failing after fall failed probes in a
 * row, passing again after rise passed ones. While failing, a listed up,
 * static or failing target is down (check_held) and never chosen.
 */
enum target_check_status {
	TARGET_CHECK_PENDING,
	TARGET_CHECK_PASSING,
	TARGET_CHECK_FAILING,
};

#define TARGET_CHECK_REASON_MAX	96

struct target_check {
	bool			 on;		/* its service configures a check */
	enum target_check_status status;
	unsigned		 rise, fall;
	unsigned		 successes;	/* passed probes in a row */
	unsigned		 failures;	/* failed probes in a row */
	int64_t			 latency_ms;	/* of the last probe, -1: none */
	int64_t			 last_at;	/* loop ms of the last probe, 0: none */
	char			 reason[TARGET_CHECK_REASON_MAX];	/* last failure's, "" */
	void			*probe;		/* the checker's (check/check.c) */
};

struct target {
	TAILQ_ENTRY(target)	 entry;		/* in pool's list while listed */
	struct pool		*pool;
	uint32_t		 id;		/* public, never reused by one pool */
	char			 key[TARGET_KEY_LEN + 1];	/* secret */
	char			 host[TARGET_HOST_MAX];	/* numeric address */
	uint16_t		 port;		/* 0: not known yet (ack NID) */
	char			 name[TARGET_NAME_MAX];	/* "host:port", "[v6]:port" */
	struct sockaddr_storage	 addr;		/* with port: ready to connect */
	socklen_t		 addrlen;
	uint32_t		 weight;
	enum target_state	 state;
	enum target_source	 source;
	int64_t			 timeout_ms;	/* heartbeat timeout */
	bool			 own_timeout;	/* its TTL, not the pool's default */
	int64_t			 last_ack;	/* loop ms of the last heartbeat */
	int64_t			 down_since;	/* loop ms, while down */
	unsigned		 fail_streak;	/* failed connects in a row */
	int64_t			 retry_at;	/* failing: loop ms of next trial */
	int64_t			 recovered_at;	/* loop ms it came back from down */
	int64_t			 recovery_ms;	/* its ramp back to full weight */
	unsigned		 flaps;		/* quick down/up cycles in a row */
	bool			 listed;	/* false once removed */
	bool			 leaving;	/* deregistered: removed when idle */
	bool			 lost;		/* port-less re-registration after a BID */
	bool			 slow_warned;	/* the slow heartbeat warning was given */
	unsigned		 slow_beats;	/* heartbeats in a row slower than timeout */
	int64_t			 beat_ms;	/* time between its last two heartbeats */
	bool			 check_held;	/* down because its check fails */
	int64_t			 slow_at;	/* loop ms it became choosable (slow start) */
	int64_t			 slow_ms;	/* its slow-start ramp, 0: none */
	struct target_check	 check;
	int64_t			 state_since;	/* loop ms of its last state change */
	enum pool_actor		 leave_by;	/* who deregistered it */

	uint64_t		 active;	/* sessions using it now */
	uint64_t		 total;		/* sessions that connected to it */
	uint64_t		 failures;	/* failed connects ever */
	uint64_t		 bytes_in;	/* from the target */
	uint64_t		 bytes_out;	/* to the target */
	int64_t			 connect_ms;	/* the last connect's time, -1: none yet */
	int64_t			 connect_avg_us;	/* their moving average (1/8), in us */

	struct loop_timer	 deadline;
	int64_t			 deadline_set;	/* loop ms it was last armed */
	bool			 deadline_grace;	/* fired late once: waiting */
	uint64_t		 order;		/* pool.c: its place in the list */
};

TAILQ_HEAD(target_list, target);

typedef void	pool_remove_fn(struct pool *, struct target *, void *arg);

struct pool	*pool_new(struct loop *, int64_t default_timeout_ms);
/*
 * The pools of one harmonyd (one per service, service/service.h) share
 * its own addresses (pool_self) and one id space, so that a target's id
 * names it daemon-wide. The shared part outlives every pool made in it.
 * pool_new makes a pool with a shared part of its own.
 */
struct pool_shared;
struct pool_shared *pool_shared_new(void);
void		 pool_shared_free(struct pool_shared *);
struct selfaddr	*pool_shared_self(struct pool_shared *);
/* The shared part a pool was made in (pool_new's own, or the one given). */
struct pool_shared *pool_shared_of(const struct pool *);
struct pool	*pool_new_shared(struct loop *, int64_t default_timeout_ms,
		    struct pool_shared *);
/*
 * A pool is named by its service (common/service.h), "default" until
 * told. The pools of a shared part are siblings: pool_sibling finds one
 * by name, NULL the default one (the first made, or the one named with
 * first set); "default", when no pool has that name, is the default one
 * too. -1 with EINVAL for a bad name.
 */
int		 pool_set_name(struct pool *, const char *name, bool first);
const char	*pool_name(const struct pool *);
struct pool	*pool_sibling(const struct pool *, const char *name);
/*
 * No sibling any more (a retired service, service.h): no lookup by name,
 * id or key from another pool finds it or its targets; its own sessions
 * and lookups go on until pool_free. pool_free detaches too.
 */
void		 pool_detach(struct pool *);
/*
 * Ids and keys name a target daemon-wide: these look in every sibling
 * (the ack port's ID, ACK and CLOSE; /api/v1/targets/{id}), with one
 * lookup in the shared part's index however many siblings there are.
 */
struct target	*pools_find_id(const struct pool *, uint32_t id);
struct target	*pools_find_key(const struct pool *, const char *key);
bool		 pools_key_deleted(const struct pool *, const char *key);
/* Frees every target, even ones still referenced: call after sessions end. */
void		 pool_free(struct pool *);
/* Also for the listed targets that have no TTL of their own. */
void		 pool_set_default_timeout(struct pool *, int64_t ms);
int64_t		 pool_default_timeout(const struct pool *);
/* Called for each target as it is removed (persistence forgets it). */
void		 pool_set_on_remove(struct pool *, pool_remove_fn *, void *arg);
/*
 * More removal callbacks, for a module that keeps its own state by target
 * id (balance.c): called after the one above, in the order added. At most
 * POOL_WATCHERS_MAX; -1 with ENOSPC beyond. unwatch takes the pair given.
 * pool_free calls each watcher once more with a NULL target: the pool is
 * gone, so a watcher freed later must not unwatch.
 */
int		 pool_watch_remove(struct pool *, pool_remove_fn *, void *arg);
void		 pool_unwatch_remove(struct pool *, pool_remove_fn *, void *arg);
/*
 * Called after a target's active count moved (pool_session_begin and
 * _end, before _end may free it), for a balancer that keeps targets
 * ordered by load (balance.c): the same limits as pool_watch_remove.
 */
typedef void	pool_active_fn(struct pool *, struct target *, void *arg);
int		 pool_watch_active(struct pool *, pool_active_fn *, void *arg);
void		 pool_unwatch_active(struct pool *, pool_active_fn *, void *arg);
/* harmonyd's own listeners and addresses (selfaddr.h), of its shared part. */
struct selfaddr	*pool_self(struct pool *);

/*
 * Registers host:port (a numeric sockaddr; its port may be 0 for an ack
 * target before SPORT) or returns the listed target with that address, with
 * *created telling which. timeout_ms <= 0 means the pool's default. A static
 * target is in state static and has no deadline. Returns NULL with errno set
 * (ENOMEM, EINVAL for a bad weight or family, ENOSPC beyond
 * POOL_MAX_TARGETS registered targets, EADDRINUSE for one of our own
 * listeners: pool_self).
 */
struct target	*pool_register(struct pool *, enum target_source,
		    const struct sockaddr *, socklen_t, uint32_t weight,
		    int64_t timeout_ms, bool *created);
/*
 * Brings back a target saved in a state file, with its id and key: it is
 * up (chosen) and goes down if no heartbeat comes within its timeout.
 * -1 with EINVAL (bad values, static source), EEXIST (id or address taken)
 * or EADDRINUSE (one of our own listeners).
 */
struct target	*pool_restore(struct pool *, enum target_source,
		    const struct sockaddr *, socklen_t, uint32_t weight,
		    int64_t timeout_ms, uint32_t id, const char *key);
/*
 * Gives a (port-less) target its port: portless becomes up. If another
 * listed target has that host:port it is replaced (removed: the same
 * backend registered again), unless it is static, or registered over HTTP
 * and alive (not down, not leaving): then -1, EEXIST. EADDRINUSE: that is
 * one of our own listeners.
 */
int		 pool_set_port(struct target *, uint16_t port);
int		 pool_set_weight(struct target *, uint32_t weight);
int		 pool_set_timeout(struct target *, int64_t timeout_ms);
/*
 * Heartbeat: up (or portless) again if down, deadline re-armed. No effect
 * on static. Heartbeats that come further apart than the timeout,
 * TARGET_SLOW_BEATS times in a row, are logged once per target.
 */
void		 pool_ack(struct target *);
/* Operator drain (state draining, stays listed) and its undo. */
void		 pool_drain(struct target *);
void		 pool_undrain(struct target *);
/* Deregister: draining now, removed as soon as no session uses it. */
void		 pool_deregister(struct target *);
/* Unlists at once; the memory lives until the last session ends. */
void		 pool_remove(struct target *);
/*
 * An operator's removal (HTTP DELETE): deregisters t and remembers its
 * key, so that its heartbeats can be told apart from an unknown key's.
 */
void		 pool_delete(struct target *);
/* key is a deleted target's (constant time); a use keeps it remembered. */
bool		 pool_key_deleted(struct pool *, const char *key);
/*
 * The key of a deleted lost target of host (port ignored), or NULL; a use
 * keeps it remembered.
 */
const char	*pool_deleted_lost(struct pool *, const struct sockaddr *host);
/* A listed lost target of host (port ignored) that is not leaving. */
struct target	*pool_find_lost(const struct pool *, const struct sockaddr *host);

struct target	*pool_find_id(const struct pool *, uint32_t id);
/* Compares keys in constant time. Leaving targets are found too. */
struct target	*pool_find_key(const struct pool *, const char *key);
struct target	*pool_find_addr(const struct pool *, const struct sockaddr *);
const struct target_list *pool_targets(const struct pool *);
size_t		 pool_count(const struct pool *);
/* The listed targets in state st, counted as they change: no walk. */
size_t		 pool_count_state(const struct pool *, enum target_state st);
/*
 * The targets the lookups above (and registration's own) have looked at
 * so far, in every pool of p's shared part: what proves them independent
 * of the pool's size (check_pool).
 */
uint64_t	 pool_lookup_steps(const struct pool *);

/*
 * Health checks (check/check.c). enable gives t a check with these
 * thresholds (pending; a change of thresholds only sets them); disable
 * takes it away (a target held down by it comes back). A probe's result:
 * returns true if the verdict changed (pending counts as passing), the
 * transition made through the target's state (down while failing, back
 * to up or static, ramping over the slow start, when passing again). A
 * target down for a missed heartbeat stays down whatever its check says.
 */
void		 pool_check_enable(struct target *, unsigned rise, unsigned fall);
void		 pool_check_disable(struct target *);
bool		 pool_check_result(struct target *, bool pass, int64_t latency_ms,
		    const char *reason);
const char	*target_check_status_name(enum target_check_status);
/*
 * Slow start: a target that becomes choosable (back from down, from a
 * failing check, undrained, registered or given its port) ramps from a
 * tenth of its weight to all of it over ms; 0 turns it off.
 */
void		 pool_set_slow_start(struct pool *, int64_t ms);

/*
 * Chosen in the first round: up or static, with a port, or failing whose
 * backoff is over; never while its check is failing.
 */
bool		 target_choosable(const struct target *, int64_t now);
/*
 * The weight to balance with now. A target back from down ramps from a
 * tenth of its weight to all of it over its timeout. One that went down
 * again soon after coming back (a flap) stays at a tenth for a recovery
 * period that doubles with each flap (flap damping), so a flapping target
 * gets little traffic. The slow start (pool_set_slow_start) is a second
 * ramp of the same shape: the lower of the two is in force.
 */
uint32_t	 target_weight_now(const struct target *, int64_t now);
/* Chosen only when nothing is choosable: failing within its backoff. */
bool		 target_fallback(const struct target *, int64_t now);

/* Session accounting: begin takes a reference, end drops it. */
void		 pool_session_begin(struct target *);
void		 pool_session_end(struct target *, uint64_t bytes_in, uint64_t bytes_out);
void		 pool_connect_ok(struct target *);
/*
 * How long a connect that succeeded took (loop ms): the last one, and a
 * moving average weighing each new one 1/8 (the operator's view).
 */
void		 pool_connect_time(struct target *, int64_t ms);
void		 pool_connect_failed(struct target *);

uint64_t	 pool_version(const struct pool *);
uint64_t	 pool_set_version(const struct pool *);
/*
 * Changes only when what the state file holds changes: a target listed or
 * removed, its port, weight, timeout, draining or leaving, the static
 * targets' ids, the next id. Never for counters or up/down/failing.
 */
uint64_t	 pool_state_version(const struct pool *);
void		 pool_touch(struct pool *);	/* bump version (counters moved) */

/*
 * Identity across restarts. Ids are handed out from pool_next_id() on and
 * never twice in the shared id space: a state file keeps the next id and gives it back with
 * pool_reserve_ids (which only raises it). A static target is known by its
 * host:port: pool_remember_static_id gives that address its id back, so a
 * static target keeps its id whatever its place in the configuration.
 */
uint32_t	 pool_next_id(const struct pool *);
void		 pool_reserve_ids(struct pool *, uint32_t next_id);
int		 pool_remember_static_id(struct pool *, const struct sockaddr *,
		    socklen_t, uint32_t id);
/* A registered target named by the configuration: static from now on, same id. */
void		 pool_make_static(struct target *);

/*
 * The actor of the changes that follow (and no reason): for the pools of
 * the whole shared part, since a request may act on a sibling. reason,
 * when not NULL, is said with every event until the next pool_actor_set
 * (the checker's "Layer4 connection problem: ...").
 */
void		 pool_actor_set(struct pool *, enum pool_actor);
void		 pool_actor_reason(struct pool *, const char *reason);
enum pool_actor	 pool_actor(const struct pool *);
const char	*pool_actor_name(enum pool_actor);
/* The history of the shared part (registry/events.h); NULL if out of memory. */
struct events	*pool_events(const struct pool *);
/* Events of this pool of that kind by that actor, since it was made. */
uint64_t	 pool_event_count(const struct pool *, int kind, enum pool_actor);
/*
 * The check events. pool_check_latency counts one probe's time in the
 * pool's histogram (every probe); pool_check_event makes the "check"
 * event, by check, when t's verdict changes (passing <-> failing), with
 * its reason and latency (-1: none). Neither changes t's state.
 * pool_check_result calls both, and makes the state change its verdict
 * causes by check, with the reason and the count ("..., 3/3 checks
 * failed"): the checker calls nothing more.
 */
void		 pool_check_latency(struct target *, int64_t latency_ms);
void		 pool_check_event(struct target *, bool passed, const char *reason,
		    int64_t latency_ms);
const struct pool_check_hist *pool_check_hist(const struct pool *);

const char	*target_state_name(enum target_state);
const char	*target_source_name(enum target_source);
struct loop	*pool_loop(const struct pool *);

#endif
