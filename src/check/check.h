/*
 * check: active health checks of the targets of a pool, probed on the
 * event loop.
 *
 * A check_set is daemon-wide: it bounds the probes in flight across every
 * service (CHECK_INFLIGHT_MAX; the others wait in a queue, first come
 * first served) and takes one unit of the fd budget's health-check share
 * (core/acceptor.h) per probe, so checks can never take the fds of
 * sessions, and a probe the share cannot serve waits, counted and logged.
 * A check belongs to one service: it probes each listed target of its
 * pool, static ones too, every interval (with a tenth of it as jitter
 * either way, the first probe at a random point in the first interval, so
 * that many targets are not probed in the same millisecond), and gives
 * each result to the pool (pool_check_result), which keeps the verdict.
 *
 * Kinds: tcp (the connect succeeds), send-expect (send bytes, expect a
 * substring among the first CHECK_READ_MAX bytes), http (GET path with a
 * Host header, HTTP/1.0, Connection: close; the status line's code in a
 * range). With send_proxy, each probe first sends a PROXY header saying
 * LOCAL (v2) or UNKNOWN (v1), as a backend that requires the header
 * expects of a health check; a tcp check then passes once it is sent.
 * Every probe ends within its timeout. A check costs nothing while
 * its type is none: no timer, no probe.
 */
#ifndef HARMONY_CHECK_H
#define HARMONY_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct fdbudget;
struct pool;
struct target;

#define CHECK_INFLIGHT_MAX	256	/* probes at once, daemon-wide */
#define CHECK_READ_MAX		4096	/* bytes read from one probe's answer */
#define CHECK_BYTES_MAX		256	/* send, expect */
#define CHECK_TEXT_MAX		256	/* path, host */
#define CHECK_RISE_MAX		100	/* rise and fall */

enum check_type {
	CHECK_NONE,
	CHECK_TCP,
	CHECK_SEND_EXPECT,
	CHECK_HTTP,
};

/* One service's check, as configured (config.h holds one per service). */
struct check_params {
	int		 type;		/* enum check_type */
	int64_t		 interval_ms;	/* 2s */
	int64_t		 timeout_ms;	/* 1s, at most the interval */
	int64_t		 rise, fall;	/* 2, 3 */
	int64_t		 port;		/* 0: the target's own */
	char		 send[CHECK_BYTES_MAX];
	size_t		 send_len;
	char		 expect[CHECK_BYTES_MAX];
	size_t		 expect_len;
	char		 path[CHECK_TEXT_MAX];	/* "/" */
	char		 host[CHECK_TEXT_MAX];	/* "": the target's address */
	int		 status_min, status_max;	/* 200, 399 */
	bool		 send_proxy;	/* --check-send-proxy: a PROXY header first */
	int		 proxy_version;	/* ... of this version (config.c sets it) */
};

void		 check_params_default(struct check_params *);
/* "tcp", "send-expect", "http", "none": -1 if none of them. */
int		 check_type_parse(const char *, enum check_type *);
const char	*check_type_name(enum check_type);

struct check_set;
struct check;

struct check_set *check_set_new(struct loop *, struct fdbudget *);
/* After every check of the set is freed. */
void		 check_set_free(struct check_set *);
/*
 * Probes in flight and waiting now, and those that waited because the fd
 * share was used up (logged), ever.
 */
struct check_counts {
	size_t		 inflight;
	size_t		 queued;
	uint64_t	 starved;
};
void		 check_set_counts(const struct check_set *, struct check_counts *);

/* A check of pool's targets, doing nothing until configured. */
struct check	*check_new(struct check_set *, struct pool *);
/* Before the pool is freed: every probe ends, no verdict given. */
void		 check_free(struct check *);
/* Every probe ends, the verdicts stay as they are (a retired service). */
void		 check_stop(struct check *);
/*
 * Applies p (and the service's slow start) to every target, those to come
 * too: a type of none takes the check away (pool_check_disable); new
 * thresholds apply to the running counts; a new interval reschedules.
 */
void		 check_configure(struct check *, const struct check_params *,
		    int64_t slow_start_ms);

#endif
