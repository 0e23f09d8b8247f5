/*
 * resolve: see resolve.h.
 *
 * The child keeps only the pipe's write end (as fd 3) and stdio: a copy of
 * a session socket or a listener in it would hold that connection open
 * after the daemon closed it. (Until it has closed them, just after fork,
 * the daemon's epoll set may still report a socket the daemon closed; the
 * loop drops such events by their watch generation.) It writes each
 * answer whole (they are smaller than PIPE_BUF) and ends with _exit, so no
 * atexit handler and no stdio buffer of the daemon runs twice.
 *
 * A job is reading (fd open) until every answer is in, the pipe ends or
 * the deadline passes (then the child is killed); then reaping, with
 * waitpid(WNOHANG) every few ms until the child is gone, as a child that
 * has written its last answer or been killed exits at once; then done.
 */
#include "autoconfig.h"

#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/child.h"
#include "core/loop.h"
#include "core/net.h"
#include "core/resolve.h"

#define RESOLVE_REAP_MS		5	/* between waitpid tries */
#define RESOLVE_CHILD_FD	3

struct resolve {
	struct loop		*loop;
	pid_t			 pid;		/* -1 once reaped */
	int			 fd;		/* read end; -1 once done reading */
	struct resolve_answer	*answers;
	size_t			 n;
	size_t			 got;		/* bytes of answers read */
	int64_t			 timeout_ms;
	int64_t			 deadline;
	bool			 killed;
	bool			 failed;
	char			 err[128];
	struct loop_timer	 timer;		/* the deadline, then reaping */
	resolve_done_fn		*done;
	void			*arg;
};

_Static_assert(sizeof(struct resolve_answer) <= PIPE_BUF,
    "an answer is written in one piece");

static _Noreturn void
child_run(int wfd, const char *const *names, size_t n)
{
	struct resolve_answer a;

	if (wfd != RESOLVE_CHILD_FD && dup2(wfd, RESOLVE_CHILD_FD) == -1)
		_exit(1);
	child_enter(RESOLVE_CHILD_FD + 1);
	for (size_t i = 0; i < n; i++) {
		memset(&a, 0, sizeof(a));
		a.ok = net_resolve(names[i], 0, &a.addr, a.err, sizeof(a.err)) == 0;
		for (size_t off = 0; off < sizeof(a); ) {
			ssize_t w = write(RESOLVE_CHILD_FD, (char *)&a + off,
			    sizeof(a) - off);

			if (w == -1 && errno == EINTR)
				continue;
			if (w <= 0)
				_exit(1);
			off += (size_t)w;
		}
	}
	_exit(0);
}

/* The first reason a job failed is the one it reports. */
static void fail(struct resolve *, const char *, ...)
    __attribute__((__format__(__printf__, 2, 3)));

static void
fail(struct resolve *r, const char *fmt, ...)
{
	va_list ap;

	if (r->failed)
		return;
	r->failed = true;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
}

static void
stop_reading(struct resolve *r)
{
	if (r->fd == -1)
		return;
	loop_unwatch_closing(r->loop, r->fd);
	(void)close(r->fd);
	r->fd = -1;
}

/* Reaped, and the callback has run (r may be gone): true. */
static bool
try_reap(struct resolve *r)
{
	char what[64];
	int status;
	pid_t p;

	while ((p = waitpid(r->pid, &status, WNOHANG)) == -1 && errno == EINTR)
		;
	if (p == 0)
		return false;
	r->pid = -1;
	if (r->got < r->n * sizeof(*r->answers)) {
		if (p == -1)
			snprintf(what, sizeof(what), "waitpid: %s", strerror(errno));
		else if (WIFSIGNALED(status))
			snprintf(what, sizeof(what), "killed by signal %d",
			    WTERMSIG(status));
		else
			snprintf(what, sizeof(what), "exit status %d",
			    WEXITSTATUS(status));
		fail(r, "failed: the resolver process ended early (%s)", what);
	}
	r->done(r, r->failed ? NULL : r->answers, r->n, r->failed ? r->err : NULL,
	    r->arg);
	return true;
}

static int64_t
on_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct resolve *r = arg;
	char what[32];

	(void)t;
	if (!r->killed && loop_now(l) >= r->deadline) {
		if (r->fd != -1) {
			if (r->timeout_ms % 1000 == 0)
				snprintf(what, sizeof(what), "%lld s",
				    (long long)(r->timeout_ms / 1000));
			else
				snprintf(what, sizeof(what), "%lld ms",
				    (long long)r->timeout_ms);
			fail(r, "took longer than %s", what);
			stop_reading(r);
		}
		(void)kill(r->pid, SIGKILL);
		r->killed = true;
	}
	return try_reap(r) ? LOOP_TIMER_STOP : RESOLVE_REAP_MS;
}

static void
on_readable(struct loop *l, int fd, short revents, void *arg)
{
	struct resolve *r = arg;
	size_t total = r->n * sizeof(*r->answers);
	ssize_t n;

	(void)l;
	(void)revents;
	while (r->got < total) {
		n = read(fd, (char *)r->answers + r->got, total - r->got);
		if (n > 0) {
			r->got += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n == -1)
			fail(r, "failed: read: %s", strerror(errno));
		break;		/* EOF: try_reap says why */
	}
	stop_reading(r);
	if (!try_reap(r))
		loop_timer_add(r->loop, &r->timer, RESOLVE_REAP_MS);
}

struct resolve *
resolve_start(struct loop *l, const char *const *names, size_t n,
    int64_t timeout_ms, resolve_done_fn *done, void *arg)
{
	struct resolve *r;
	int p[2] = { -1, -1 }, saved;

	if (n == 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->loop = l;
	r->n = n;
	r->pid = -1;
	r->fd = -1;
	r->timeout_ms = timeout_ms;
	r->deadline = loop_now(l) + timeout_ms;
	r->done = done;
	r->arg = arg;
	loop_timer_init(&r->timer, on_timer, r);
	if ((r->answers = calloc(n, sizeof(*r->answers))) == NULL ||
	    pipe2(p, O_CLOEXEC) == -1 ||
	    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK) == -1)
		goto fail;
	if ((r->pid = fork()) == -1)
		goto fail;
	if (r->pid == 0) {
		(void)close(p[0]);
		child_run(p[1], names, n);
	}
	(void)close(p[1]);
	p[1] = -1;
	r->fd = p[0];
	p[0] = -1;
	if (loop_watch(l, r->fd, POLLIN, on_readable, r) == -1)
		goto fail;
	loop_timer_add(l, &r->timer, timeout_ms);
	return r;
fail:
	saved = errno;
	for (int i = 0; i < 2; i++)
		if (p[i] != -1)
			(void)close(p[i]);
	if (r->fd != -1) {
		(void)close(r->fd);
		r->fd = -1;
	}
	resolve_free(r);
	errno = saved;
	return NULL;
}

void
resolve_free(struct resolve *r)
{
	if (r == NULL)
		return;
	stop_reading(r);
	loop_timer_cancel(r->loop, &r->timer);
	if (r->pid > 0) {
		/* Abandoned: killed, so this wait is short. */
		(void)kill(r->pid, SIGKILL);
		while (waitpid(r->pid, NULL, 0) == -1 && errno == EINTR)
			;
	}
	free(r->answers);
	free(r);
}
