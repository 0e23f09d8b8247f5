/*
 * acceptor: see acceptor.h.
 */
#include "autoconfig.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "core/acceptor.h"
#include "core/loop.h"
#include "core/net.h"

#define ACCEPTOR_LOG_EVERY_MS	1000
#define FDLIMIT_UNLIMITED_MAX	(1L << 20)	/* Linux's default nr_open */
#define FDCOUNT_SCAN_MAX	65536

struct fdbudget {
	long		 limit;
	bool		 shared;
	size_t		 share[FD_USER_COUNT];
	size_t		 used[FD_USER_COUNT];
};

struct acceptor {
	struct loop		*loop;
	int			 fd;
	struct acceptor_params	 p;
	bool			 enabled;	/* the owner's say */
	bool			 paused;	/* after EMFILE */
	bool			 watching;	/* what the loop was told */
	struct loop_timer	 resume;
	int64_t			 logged;	/* last refusal line */
	uint64_t		 unlogged;	/* refusals since */
};

static const char *const user_name[FD_USER_COUNT] = {
	"sessions", "ack port", "admin port", "health checks"
};

/* --- the limit ----------------------------------------------------------- */

long
fdlimit_raise(long *before)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		*before = -1;
		return -1;
	}
	*before = rl.rlim_cur == RLIM_INFINITY ? LONG_MAX : (long)rl.rlim_cur;
	if (rl.rlim_cur == rl.rlim_max)
		return *before;
	want = rl.rlim_max;
	if (want == RLIM_INFINITY || want > (rlim_t)FDLIMIT_UNLIMITED_MAX)
		want = FDLIMIT_UNLIMITED_MAX;
	/* As redis does: step down until the kernel takes it (nr_open). */
	while (want > rl.rlim_cur) {
		struct rlimit nl = { .rlim_cur = want, .rlim_max = rl.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &nl) == 0)
			return (long)want;
		if (errno != EPERM && errno != EINVAL)
			break;
		want = want > 1024 ? want / 2 : rl.rlim_cur;
	}
	return *before;
}

static long
limit_now(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > (rlim_t)LONG_MAX)
		return LONG_MAX;
	return (long)rl.rlim_cur;
}

/* Descriptors open now: /proc/self/fd, else a probe of the low numbers. */
static long
fds_open(long limit)
{
	struct dirent *de;
	long n = 0;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				n++;
		closedir(d);
		return n - 1;		/* the directory's own fd */
	}
	for (long fd = 0; fd < limit && fd < FDCOUNT_SCAN_MAX; fd++)
		if (fcntl((int)fd, F_GETFD) != -1)
			n++;
	return n;
}

/* --- the budget ---------------------------------------------------------- */

struct fdbudget *
fdbudget_new(void)
{
	struct fdbudget *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->limit = limit_now();
	return b;
}

void
fdbudget_free(struct fdbudget *b)
{
	free(b);
}

static size_t
clamp_share(size_t want, size_t min, size_t cap)
{
	if (want < min)
		want = min;
	if (cap != 0 && want > cap)
		want = cap;
	return want;
}

void
fdbudget_share(struct fdbudget *b, const size_t cap[FD_USER_COUNT], long raised_from)
{
	size_t counted = 0, avail, eighth, others;
	long open_now;
	char from[64] = "";

	b->limit = limit_now();
	for (int u = 0; u < FD_USER_COUNT; u++)
		counted += b->used[u];
	open_now = fds_open(b->limit);
	if (open_now < 0)
		open_now = 0;
	/* What is open and no user's: the base, never given back. */
	if (b->limit == LONG_MAX)
		avail = SIZE_MAX / 2;
	else if (b->limit > open_now - (long)counted + FDBUDGET_SPARE)
		avail = (size_t)(b->limit - (open_now - (long)counted) - FDBUDGET_SPARE);
	else
		avail = 0;
	eighth = avail / 8;
	b->share[FD_USER_ACK] = clamp_share(eighth, 4, cap[FD_USER_ACK]);
	b->share[FD_USER_ADMIN] = clamp_share(eighth, 8, cap[FD_USER_ADMIN]);
	b->share[FD_USER_CHECK] = clamp_share(eighth, 4, cap[FD_USER_CHECK]);
	others = b->share[FD_USER_ACK] + b->share[FD_USER_ADMIN] +
	    b->share[FD_USER_CHECK];
	b->share[FD_USER_PROXY] = avail > others + 2 ? avail - others : 2;
	if (cap[FD_USER_PROXY] != 0 && b->share[FD_USER_PROXY] > cap[FD_USER_PROXY])
		b->share[FD_USER_PROXY] = cap[FD_USER_PROXY];
	b->shared = true;
	if (raised_from > 0 && raised_from != b->limit)
		snprintf(from, sizeof(from), " (raised from %ld)", raised_from);
	if (b->limit == LONG_MAX) {
		log_info("file descriptors: no limit");
		return;
	}
	log_info("file descriptors: limit %ld%s, %ld open at start, %d kept spare: "
	    "%zu for sessions, %zu for the ack port, %zu for the admin port, "
	    "%zu for health checks",
	    b->limit, from, open_now - (long)counted, FDBUDGET_SPARE,
	    b->share[FD_USER_PROXY], b->share[FD_USER_ACK], b->share[FD_USER_ADMIN],
	    b->share[FD_USER_CHECK]);
	if (avail < 64)
		log_warnx("file descriptors: only %zu to share: raise the limit "
		    "(ulimit -n, LimitNOFILE=)", avail);
}

size_t
fdbudget_left(const struct fdbudget *b, enum fd_user u)
{
	if (b == NULL || !b->shared)
		return SIZE_MAX;
	return b->used[u] < b->share[u] ? b->share[u] - b->used[u] : 0;
}

size_t
fdbudget_share_of(const struct fdbudget *b, enum fd_user u)
{
	return b == NULL || !b->shared ? SIZE_MAX : b->share[u];
}

long
fdbudget_limit(const struct fdbudget *b)
{
	return b == NULL ? LONG_MAX : b->limit;
}

bool
fdbudget_take(struct fdbudget *b, enum fd_user u, size_t n)
{
	if (b == NULL)
		return true;
	if (fdbudget_left(b, u) < n)
		return false;
	b->used[u] += n;
	return true;
}

void
fdbudget_charge(struct fdbudget *b, enum fd_user u, size_t n)
{
	if (b != NULL)
		b->used[u] += n;
}

void
fdbudget_give(struct fdbudget *b, enum fd_user u, size_t n)
{
	if (b == NULL)
		return;
	/* More given than taken is a bug in the caller's accounting. */
	b->used[u] = b->used[u] >= n ? b->used[u] - n : 0;
}

/* --- the accept path ----------------------------------------------------- */

static void
acceptor_sync(struct acceptor *a)
{
	bool on = a->enabled && !a->paused;

	if (on == a->watching)
		return;
	a->watching = on;
	loop_set_events(a->loop, a->fd, on ? POLLIN : 0);
}

static int64_t
acceptor_on_resume(struct loop *l, struct loop_timer *t, void *arg)
{
	struct acceptor *a = arg;

	(void)l;
	(void)t;
	a->paused = false;
	acceptor_sync(a);
	return LOOP_TIMER_STOP;
}

void
acceptor_pause(struct acceptor *a, int64_t ms)
{
	if (a->paused)
		return;
	a->paused = true;
	acceptor_sync(a);
	loop_timer_add(a->loop, &a->resume, ms);
}

static void
acceptor_error(struct acceptor *a)
{
	if (a->p.errors != NULL)
		(*a->p.errors)++;
}

/* No budget for it: closed at once, and said so at most once a second. */
static void
acceptor_refuse(struct acceptor *a, int fd)
{
	int64_t now = loop_now(a->loop);

	if (net_close(fd) == -1)
		log_warn("%s: close", a->p.what);
	acceptor_error(a);
	a->unlogged++;
	if (now - a->logged < ACCEPTOR_LOG_EVERY_MS)
		return;
	log_warnx("%s: file descriptors for the %s used up (%zu of limit %ld): "
	    "closed %llu new connection%s", a->p.what, user_name[a->p.user],
	    fdbudget_share_of(a->p.budget, a->p.user), fdbudget_limit(a->p.budget),
	    (unsigned long long)a->unlogged, a->unlogged == 1 ? "" : "s");
	a->logged = now;
	a->unlogged = 0;
}

void
acceptor_run(struct acceptor *a)
{
	for (int i = 0; i < a->p.batch && a->enabled && !a->paused; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(a->fd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			acceptor_error(a);
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_warn("%s: accept: pausing for %d ms", a->p.what,
				    FDBUDGET_PAUSE_MS);
				acceptor_pause(a, FDBUDGET_PAUSE_MS);
				return;
			}
			/* Anything else is the peer's (a reset in the backlog). */
			log_debug("%s: accept: %s", a->p.what, strerror(errno));
			continue;
		}
		if (!fdbudget_take(a->p.budget, a->p.user, a->p.need)) {
			acceptor_refuse(a, fd);
			continue;
		}
		a->p.on_accept(a->p.arg, fd, (const struct sockaddr *)&ss, len);
	}
}

static void
acceptor_on_io(struct loop *l, int fd, short revents, void *arg)
{
	struct acceptor *a = arg;

	(void)l;
	(void)fd;
	if (revents & POLLNVAL) {
		/* The loop cannot watch it: try again in a while. */
		log_warnx("%s: the listener cannot be watched: retrying in %d ms",
		    a->p.what, FDBUDGET_PAUSE_MS);
		a->watching = false;
		acceptor_pause(a, FDBUDGET_PAUSE_MS);
		return;
	}
	acceptor_run(a);
}

struct acceptor *
acceptor_new(struct loop *l, int fd, const struct acceptor_params *p)
{
	struct acceptor *a;
	int saved;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		goto fail;
	a->loop = l;
	a->fd = fd;
	a->p = *p;
	if (a->p.batch <= 0)
		a->p.batch = 1;
	a->enabled = true;
	a->watching = true;
	a->logged = INT64_MIN / 2;
	loop_timer_init(&a->resume, acceptor_on_resume, a);
	if (loop_watch(l, fd, POLLIN, acceptor_on_io, a) == -1)
		goto fail;
	return a;
fail:
	saved = errno;
	free(a);
	close(fd);
	errno = saved;
	return NULL;
}

void
acceptor_free(struct acceptor *a)
{
	if (a == NULL)
		return;
	loop_timer_cancel(a->loop, &a->resume);
	loop_unwatch(a->loop, a->fd);
	if (net_close(a->fd) == -1)
		log_warn("%s: close listener", a->p.what);
	free(a);
}

void
acceptor_enable(struct acceptor *a, bool on)
{
	a->enabled = on;
	acceptor_sync(a);
}

bool
acceptor_accepting(const struct acceptor *a)
{
	return a->enabled && !a->paused;
}

int
acceptor_fd(const struct acceptor *a)
{
	return a->fd;
}
