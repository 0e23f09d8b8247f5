/*
 * check: see check.h.
 *
 * Each checked target has one probe (target.check.probe), found again
 * through the pool's removal watcher when the target goes. A probe is
 * idle (its timer is its next run), queued (waiting for a slot), or in
 * flight: connecting, sending, then reading (its timer is its timeout).
 * Only a probe in flight holds an fd, its budget unit, a slot and a read
 * buffer, so memory and fds are bounded by CHECK_INFLIGHT_MAX whatever
 * the number of targets.
 *
 * New targets are found by walking the pool whenever pool_set_version()
 * moved (every registration bumps it), at most every CHECK_SWEEP_MS.
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check/check.h"
#include "common/log.h"
#include "common/random.h"
#include "core/acceptor.h"
#include "core/loop.h"
#include "core/net.h"
#include "proxy/proxyproto.h"
#include "registry/pool.h"

#define CHECK_SWEEP_MS		500	/* new targets are probed this soon */
#define CHECK_LOG_EVERY_MS	1000	/* the starved line, at most */
#define CHECK_REASON_MAX	TARGET_CHECK_REASON_MAX

enum probe_phase {
	PROBE_IDLE,
	PROBE_QUEUED,
	PROBE_CONNECTING,
	PROBE_SENDING,
	PROBE_READING,
};

struct probe {
	TAILQ_ENTRY(probe)	 all;		/* in its check's list */
	TAILQ_ENTRY(probe)	 queue;		/* in the set's queue, while queued */
	struct check		*ck;
	struct target		*t;
	struct loop_timer	 timer;
	enum probe_phase	 phase;
	int			 fd;		/* -1 unless in flight */
	int64_t			 started;	/* loop ms the connect began */
	char			*buf;		/* in flight: request, then answer */
	size_t			 len;		/* bytes in buf */
	size_t			 sent;		/* of the request */
};

TAILQ_HEAD(probe_list, probe);

struct check_set {
	struct loop		*loop;
	struct fdbudget		*budget;
	size_t			 inflight;
	size_t			 queued;
	struct probe_list	 waiting;	/* queued probes, oldest first */
	struct loop_defer	 pump;		/* starts queued probes */
	uint64_t		 starved;
	int64_t			 logged;
	uint64_t		 rng;		/* jitter: xorshift64 */
};

struct check {
	struct check_set	*set;
	struct pool		*pool;
	struct check_params	 p;
	struct probe_list	 probes;
	struct loop_timer	 sweep;
	uint64_t		 seen;		/* pool_set_version of the last walk */
	bool			 swept;
	bool			 watching;
};

static void	probe_start(struct probe *);
static void	probe_schedule(struct probe *, int64_t delay);

/* --- parameters ------------------------------------------------------------ */

void
check_params_default(struct check_params *p)
{
	memset(p, 0, sizeof(*p));
	p->type = CHECK_NONE;
	p->interval_ms = 2000;
	p->timeout_ms = 1000;
	p->rise = 2;
	p->fall = 3;
	snprintf(p->path, sizeof(p->path), "/");
	p->status_min = 200;
	p->status_max = 399;
}

static const char *const type_names[] = {
	[CHECK_NONE] = "none",
	[CHECK_TCP] = "tcp",
	[CHECK_SEND_EXPECT] = "send-expect",
	[CHECK_HTTP] = "http",
};

int
check_type_parse(const char *s, enum check_type *out)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (strcmp(s, type_names[i]) == 0) {
			*out = (enum check_type)i;
			return 0;
		}
	return -1;
}

const char *
check_type_name(enum check_type t)
{
	if ((size_t)t < sizeof(type_names) / sizeof(type_names[0]))
		return type_names[t];
	return "none";
}

/* --- the set ---------------------------------------------------------------- */

static void
pump_queue(struct loop *l, void *arg)
{
	struct check_set *set = arg;
	struct probe *pr;

	(void)l;
	while (set->inflight < CHECK_INFLIGHT_MAX &&
	    (pr = TAILQ_FIRST(&set->waiting)) != NULL) {
		TAILQ_REMOVE(&set->waiting, pr, queue);
		set->queued--;
		pr->phase = PROBE_IDLE;
		probe_start(pr);
		/* The fd share is used up: the rest wait for a probe to end. */
		if (pr->phase == PROBE_QUEUED)
			break;
	}
}

struct check_set *
check_set_new(struct loop *l, struct fdbudget *budget)
{
	struct check_set *set;

	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	set->loop = l;
	set->budget = budget;
	TAILQ_INIT(&set->waiting);
	loop_defer_init(&set->pump, pump_queue, set);
	if (random_fill(&set->rng, sizeof(set->rng)) == -1 || set->rng == 0)
		set->rng = (uint64_t)loop_now(l) | 1;
	return set;
}

void
check_set_free(struct check_set *set)
{
	if (set == NULL)
		return;
	loop_defer_cancel(set->loop, &set->pump);
	free(set);
}

void
check_set_counts(const struct check_set *set, struct check_counts *c)
{
	c->inflight = set->inflight;
	c->queued = set->queued;
	c->starved = set->starved;
}

/* A delay in [0, span), spread evenly: the jitter. */
static int64_t
jitter(struct check_set *set, int64_t span)
{
	uint64_t x = set->rng;

	if (span <= 1)
		return 0;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	set->rng = x;
	return (int64_t)(x % (uint64_t)span);
}

/* --- one probe -------------------------------------------------------------- */

/*
 * The call site of a changed verdict (passing <-> failing): the target's
 * state has moved already (pool_check_result, through set_state). The
 * events hook for check verdicts is called from here.
 */
static void
check_verdict(struct probe *pr, bool pass, int64_t latency_ms,
    const char *reason)
{
	struct target *t = pr->t;

	if (pass)
		log_info("target %s/%u %s: check passed (%lld ms), %u/%u: it may"
		    " be chosen", pool_name(t->pool), (unsigned)t->id, t->name,
		    (long long)latency_ms, t->check.successes, t->check.rise);
	else
		log_warnx("target %s/%u %s: check failed (%s), %u/%u: not chosen"
		    " until it passes %u in a row", pool_name(t->pool),
		    (unsigned)t->id, t->name, reason, t->check.failures,
		    t->check.fall, t->check.rise);
}

static void
budget_give(struct check_set *set)
{
	if (set->budget != NULL)
		fdbudget_give(set->budget, FD_USER_CHECK, 1);
}

/* Ends what is in flight, without a verdict: fd, budget unit, slot, buffer. */
static void
probe_release(struct probe *pr)
{
	struct check_set *set = pr->ck->set;

	if (pr->phase == PROBE_QUEUED) {
		TAILQ_REMOVE(&set->waiting, pr, queue);
		set->queued--;
	} else if (pr->phase != PROBE_IDLE) {
		if (pr->fd != -1) {
			loop_unwatch_closing(set->loop, pr->fd);
			if (close(pr->fd) == -1 && errno != EINTR)
				log_warn("check: close");
			pr->fd = -1;
			budget_give(set);
		}
		set->inflight--;
		loop_defer(set->loop, &set->pump);
	}
	free(pr->buf);
	pr->buf = NULL;
	pr->len = pr->sent = 0;
	pr->phase = PROBE_IDLE;
	loop_timer_cancel(set->loop, &pr->timer);
}

static void
probe_done(struct probe *pr, bool pass, const char *reason)
{
	struct loop *l = pr->ck->set->loop;
	int64_t latency = loop_update_now(l) - pr->started;

	probe_release(pr);
	if (pool_check_result(pr->t, pass, latency, reason))
		check_verdict(pr, pass, latency, reason);
	probe_schedule(pr, pr->ck->p.interval_ms);
}

static void
probe_fail_errno(struct probe *pr, const char *layer, int e)
{
	char reason[CHECK_REASON_MAX];

	if (e == ECONNREFUSED)
		snprintf(reason, sizeof(reason), "%s connection problem:"
		    " connection refused", layer);
	else
		snprintf(reason, sizeof(reason), "%s connection problem: %s",
		    layer, strerror(e));
	probe_done(pr, false, reason);
}

/* interval +- a tenth, so that probes started together drift apart. */
static void
probe_schedule(struct probe *pr, int64_t interval)
{
	struct check_set *set = pr->ck->set;
	int64_t spread = interval / 5, delay = interval;

	if (spread > 0)
		delay = interval - spread / 2 + jitter(set, spread + 1);
	loop_timer_add(set->loop, &pr->timer, delay > 0 ? delay : 1);
}

/* The request, in buf: send-expect's bytes or the http GET. */
static int
probe_request(struct probe *pr)
{
	const struct check_params *p = &pr->ck->p;
	const char *host = p->host[0] != '\0' ? p->host : pr->t->name;
	int n;

	size_t off = 0;

	if ((pr->buf = malloc(CHECK_READ_MAX)) == NULL)
		return -1;
	pr->sent = 0;
	/* A probe is no client: the header says LOCAL (v1: UNKNOWN). */
	if (p->proxy_version != 0)
		off = proxyproto_build(p->proxy_version, NULL, NULL,
		    (uint8_t *)pr->buf, CHECK_READ_MAX);
	if (p->type == CHECK_TCP) {
		pr->len = off;
		return 0;
	}
	if (p->type == CHECK_SEND_EXPECT) {
		memcpy(pr->buf + off, p->send, p->send_len);
		pr->len = off + p->send_len;
		return 0;
	}
	n = snprintf(pr->buf + off, CHECK_READ_MAX - off, "GET %s HTTP/1.0\r\n"
	    "Host: %s\r\nUser-Agent: harmonyd-check\r\nConnection: close\r\n\r\n",
	    p->path, host);
	if (n < 0 || (size_t)n >= CHECK_READ_MAX - off) {
		errno = ENAMETOOLONG;
		return -1;
	}
	pr->len = off + (size_t)n;
	return 0;
}

/* 1: a verdict was given (pr is idle again); 0: wait for more. */
static int
probe_judge(struct probe *pr, bool eof)
{
	const struct check_params *p = &pr->ck->p;
	char reason[CHECK_REASON_MAX];
	const char *nl, *sp;
	long code;
	char *end;

	if (p->type == CHECK_SEND_EXPECT) {
		if (memmem(pr->buf, pr->len, p->expect, p->expect_len) != NULL) {
			probe_done(pr, true, NULL);
			return 1;
		}
		if (!eof && pr->len < CHECK_READ_MAX)
			return 0;
		snprintf(reason, sizeof(reason), "Layer7 content mismatch: %zu"
		    " bytes%s, expected text not found", pr->len,
		    eof ? " then end of stream" : "");
		probe_done(pr, false, reason);
		return 1;
	}
	/* http: only the status line, "HTTP/1.x NNN reason". */
	if ((nl = memchr(pr->buf, '\n', pr->len)) == NULL) {
		if (!eof && pr->len < CHECK_READ_MAX)
			return 0;
		probe_done(pr, false, eof ? "Layer7 invalid response: no status line" :
		    "Layer7 invalid response: status line too long");
		return 1;
	}
	pr->buf[nl - pr->buf] = '\0';
	sp = strchr(pr->buf, ' ');
	if (strncmp(pr->buf, "HTTP/1.", 7) != 0 || sp == NULL) {
		probe_done(pr, false, "Layer7 invalid response: not HTTP/1.x");
		return 1;
	}
	errno = 0;
	code = strtol(sp + 1, &end, 10);
	if (errno != 0 || end != sp + 4 || code < 100 || code > 999) {
		probe_done(pr, false, "Layer7 invalid response: bad status code");
		return 1;
	}
	if (code < p->status_min || code > p->status_max) {
		snprintf(reason, sizeof(reason), "Layer7 wrong status: %ld, not"
		    " %d-%d", code, p->status_min, p->status_max);
		probe_done(pr, false, reason);
		return 1;
	}
	probe_done(pr, true, NULL);
	return 1;
}

static void
probe_read(struct probe *pr)
{
	ssize_t n;

	/* Bounded: one read of what is left of the buffer per wake-up. */
	n = read(pr->fd, pr->buf + pr->len, CHECK_READ_MAX - pr->len);
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		probe_fail_errno(pr, "Layer7", errno);
		return;
	}
	pr->len += (size_t)n;
	(void)probe_judge(pr, n == 0);
}

static void
probe_send(struct probe *pr)
{
	struct loop *l = pr->ck->set->loop;
	ssize_t n;

	while (pr->sent < pr->len) {
		n = send(pr->fd, pr->buf + pr->sent, pr->len - pr->sent, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;		/* POLLOUT again */
			probe_fail_errno(pr, "Layer7", errno);
			return;
		}
		pr->sent += (size_t)n;
	}
	/* Nothing to expect (tcp: only a PROXY header was sent): passed. */
	if (pr->ck->p.type == CHECK_TCP ||
	    (pr->ck->p.expect_len == 0 && pr->ck->p.type == CHECK_SEND_EXPECT)) {
		probe_done(pr, true, NULL);
		return;
	}
	/* The answer goes where the request was. */
	pr->len = 0;
	pr->phase = PROBE_READING;
	if (loop_set_events(l, pr->fd, POLLIN) == -1)
		probe_fail_errno(pr, "Layer4", errno);
}

static void
probe_io(struct loop *l, int fd, short revents, void *arg)
{
	struct probe *pr = arg;
	int e;

	(void)l;
	(void)fd;
	if ((revents & POLLNVAL) != 0) {
		probe_fail_errno(pr, "Layer4", EBADF);
		return;
	}
	switch (pr->phase) {
	case PROBE_CONNECTING:
		if ((e = net_connect_error(pr->fd)) != 0) {
			probe_fail_errno(pr, "Layer4", e);
			return;
		}
		if ((revents & (POLLOUT | POLLERR | POLLHUP)) == 0)
			return;
		if (pr->ck->p.type == CHECK_TCP && pr->ck->p.proxy_version == 0) {
			probe_done(pr, true, NULL);
			return;
		}
		if (probe_request(pr) == -1) {
			probe_fail_errno(pr, "Layer7", errno);
			return;
		}
		pr->phase = PROBE_SENDING;
		probe_send(pr);
		return;
	case PROBE_SENDING:
		probe_send(pr);
		return;
	case PROBE_READING:
		probe_read(pr);
		return;
	case PROBE_IDLE:
	case PROBE_QUEUED:
	default:
		return;
	}
}

static void
probe_queue(struct probe *pr)
{
	struct check_set *set = pr->ck->set;

	pr->phase = PROBE_QUEUED;
	TAILQ_INSERT_TAIL(&set->waiting, pr, queue);
	set->queued++;
}

/* Our own shortage (no fd, no port): the target's check is not judged. */
static void
probe_starved(struct probe *pr, const char *why)
{
	struct check_set *set = pr->ck->set;
	int64_t now = loop_now(set->loop);

	set->starved++;
	if (set->logged == 0 || now - set->logged >= CHECK_LOG_EVERY_MS) {
		set->logged = now;
		log_warnx("health checks: %s: %zu probes in flight, %zu waiting;"
		    " checks are late (raise the fd limit: ulimit -n)", why,
		    set->inflight, set->queued + 1);
	}
}

static void
probe_start(struct probe *pr)
{
	struct check_set *set = pr->ck->set;
	struct sockaddr_storage ss;
	int e;

	if (set->inflight >= CHECK_INFLIGHT_MAX) {
		probe_queue(pr);
		return;
	}
	if (set->budget != NULL && !fdbudget_take(set->budget, FD_USER_CHECK, 1)) {
		probe_starved(pr, "the fd share for checks is used up");
		probe_queue(pr);
		return;
	}
	ss = pr->t->addr;
	if (pr->ck->p.port != 0) {
		if (ss.ss_family == AF_INET6)
			((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)pr->ck->p.port);
		else
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)pr->ck->p.port);
	}
	set->inflight++;
	pr->phase = PROBE_CONNECTING;
	pr->started = loop_update_now(set->loop);
	if ((pr->fd = net_connect((struct sockaddr *)&ss, pr->t->addrlen)) == -1) {
		e = errno;
		budget_give(set);
		if (net_errno_local(e) && e != EAGAIN) {
			set->inflight--;
			pr->phase = PROBE_IDLE;
			probe_starved(pr, strerror(e));
			probe_schedule(pr, pr->ck->p.interval_ms);
			return;
		}
		probe_fail_errno(pr, "Layer4", e);
		return;
	}
	if (loop_watch(set->loop, pr->fd, POLLOUT, probe_io, pr) == -1) {
		e = errno;
		if (close(pr->fd) == -1 && errno != EINTR)
			log_warn("check: close");
		pr->fd = -1;
		budget_give(set);
		probe_fail_errno(pr, "Layer4", e);
		return;
	}
	loop_timer_add(set->loop, &pr->timer, pr->ck->p.timeout_ms);
}

static int64_t
probe_timer(struct loop *l, struct loop_timer *timer, void *arg)
{
	struct probe *pr = arg;
	char reason[CHECK_REASON_MAX];

	(void)l;
	(void)timer;
	switch (pr->phase) {
	case PROBE_IDLE:
		probe_start(pr);
		break;
	case PROBE_CONNECTING:
		snprintf(reason, sizeof(reason), "Layer4 timeout: no connect"
		    " within %lld ms", (long long)pr->ck->p.timeout_ms);
		probe_done(pr, false, reason);
		break;
	case PROBE_SENDING:
	case PROBE_READING:
		snprintf(reason, sizeof(reason), "Layer7 timeout: no answer"
		    " within %lld ms", (long long)pr->ck->p.timeout_ms);
		probe_done(pr, false, reason);
		break;
	case PROBE_QUEUED:
	default:
		break;
	}
	/* Every path above arms the timer itself when it is due again. */
	return LOOP_TIMER_STOP;
}

static void
probe_free(struct probe *pr)
{
	probe_release(pr);
	pr->t->check.probe = NULL;
	TAILQ_REMOVE(&pr->ck->probes, pr, all);
	free(pr);
}

/* --- a service's check ------------------------------------------------------ */

static void
on_removed(struct pool *pool, struct target *t, void *arg)
{
	struct check *ck = arg;
	struct probe *pr;

	(void)pool;
	if (t == NULL) {
		ck->watching = false;	/* the pool is gone (pool.h) */
		return;
	}
	if ((pr = t->check.probe) != NULL && pr->ck == ck)
		probe_free(pr);
}

/* Probes for the targets that have none, first run within an interval. */
static void
check_walk(struct check *ck)
{
	const struct target_list *list = pool_targets(ck->pool);
	struct target *t;
	struct probe *pr;

	ck->seen = pool_set_version(ck->pool);
	ck->swept = true;
	TAILQ_FOREACH(t, list, entry) {
		if (t->check.probe != NULL)
			continue;
		if ((pr = calloc(1, sizeof(*pr))) == NULL) {
			log_warn("check: target %u", (unsigned)t->id);
			ck->swept = false;	/* the next sweep tries again */
			continue;
		}
		pr->ck = ck;
		pr->t = t;
		pr->fd = -1;
		loop_timer_init(&pr->timer, probe_timer, pr);
		TAILQ_INSERT_TAIL(&ck->probes, pr, all);
		t->check.probe = pr;
		pool_check_enable(t, (unsigned)ck->p.rise, (unsigned)ck->p.fall);
		loop_timer_add(ck->set->loop, &pr->timer,
		    1 + jitter(ck->set, ck->p.interval_ms));
	}
}

static int64_t
check_sweep(struct loop *l, struct loop_timer *timer, void *arg)
{
	struct check *ck = arg;

	(void)l;
	(void)timer;
	if (ck->p.type == CHECK_NONE)
		return LOOP_TIMER_STOP;
	if (!ck->swept || pool_set_version(ck->pool) != ck->seen)
		check_walk(ck);
	return CHECK_SWEEP_MS;
}

struct check *
check_new(struct check_set *set, struct pool *pool)
{
	struct check *ck;

	if ((ck = calloc(1, sizeof(*ck))) == NULL)
		return NULL;
	ck->set = set;
	ck->pool = pool;
	check_params_default(&ck->p);
	TAILQ_INIT(&ck->probes);
	loop_timer_init(&ck->sweep, check_sweep, ck);
	return ck;
}

/* Every probe ends; the targets keep their verdicts unless disable. */
static void
check_drop(struct check *ck, bool disable)
{
	struct probe *pr, *next;

	for (pr = TAILQ_FIRST(&ck->probes); pr != NULL; pr = next) {
		struct target *t = pr->t;

		next = TAILQ_NEXT(pr, all);
		probe_free(pr);
		if (disable)
			pool_check_disable(t);
	}
	loop_timer_cancel(ck->set->loop, &ck->sweep);
	ck->swept = false;
}

void
check_stop(struct check *ck)
{
	check_drop(ck, false);
	ck->p.type = CHECK_NONE;
}

void
check_free(struct check *ck)
{
	if (ck == NULL)
		return;
	check_drop(ck, false);
	if (ck->watching)
		pool_unwatch_remove(ck->pool, on_removed, ck);
	free(ck);
}

void
check_configure(struct check *ck, const struct check_params *p,
    int64_t slow_start_ms)
{
	struct probe *pr;
	bool retime = p->interval_ms != ck->p.interval_ms;

	pool_set_slow_start(ck->pool, slow_start_ms);
	if (p->type == CHECK_NONE) {
		check_drop(ck, true);
		ck->p = *p;
		return;
	}
	if (!ck->watching) {
		if (pool_watch_remove(ck->pool, on_removed, ck) == -1) {
			log_warn("health checks of %s: cannot watch removals",
			    pool_name(ck->pool));
			return;
		}
		ck->watching = true;
	}
	ck->p = *p;
	/* A service's own check object leaves out what it does not set. */
	if (ck->p.path[0] == '\0')
		snprintf(ck->p.path, sizeof(ck->p.path), "/");
	if (ck->p.status_min == 0 && ck->p.status_max == 0) {
		ck->p.status_min = 200;
		ck->p.status_max = 399;
	}
	if (ck->p.interval_ms <= 0)
		ck->p.interval_ms = 2000;
	if (ck->p.timeout_ms <= 0 || ck->p.timeout_ms > ck->p.interval_ms)
		ck->p.timeout_ms = ck->p.interval_ms;
	TAILQ_FOREACH(pr, &ck->probes, all) {
		pool_check_enable(pr->t, (unsigned)p->rise, (unsigned)p->fall);
		if (retime && pr->phase == PROBE_IDLE)
			loop_timer_add(ck->set->loop, &pr->timer,
			    1 + jitter(ck->set, p->interval_ms));
	}
	check_walk(ck);
	/* Soon: the static targets are added right after (service.c). */
	loop_timer_add(ck->set->loop, &ck->sweep, 1);
}
