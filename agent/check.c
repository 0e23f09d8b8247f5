/*
 * check.c: the health check (agent.h): tcp (a connect), http (a status
 * line in 2xx) or exec (exit status 0), one at a time, each bounded by
 * --check-timeout. A verdict that changes suspends or resumes the
 * balancers' heartbeats; an exec check runs in its own process group, so
 * a timeout kills whatever it started.
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/log.h"

extern char **environ;

static void
check_verdict(struct agent *a, bool pass, const char *why)
{
	struct check *k = &a->check;
	int was = k->result;

	k->result = pass ? 1 : 0;
	if (pass && was != 1) {
		if (was == -1)
			log_info("check %s passes: registering", k->spec);
		else
			log_info("check %s passes again: heartbeating", k->spec);
		balancers_suspend(a, false);
	} else if (!pass && was != 0) {
		if (was == -1)
			log_warnx("check %s fails (%s): not registering until it passes",
			    k->spec, why);
		else
			log_warnx("check %s fails (%s): heartbeats stop, the balancers"
			    " take the target out at its timeout", k->spec, why);
		balancers_suspend(a, true);
	} else if (!pass)
		log_debug("check %s still fails (%s)", k->spec, why);
}

static void
check_end(struct agent *a, bool pass, const char *why, int64_t now)
{
	struct check *k = &a->check;

	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	k->running = false;
	k->next_at = k->started + k->interval_ms;
	if (k->next_at < now)
		k->next_at = now;
	check_verdict(a, pass, why);
}

static void
check_spawn(struct agent *a, int64_t now)
{
	struct check *k = &a->check;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	char *argv[] = { (char *)(uintptr_t)"sh", (char *)(uintptr_t)"-c",
	    (char *)(uintptr_t)k->cmd, NULL };
	int r;

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);	/* ignored here; a check runs with defaults */
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGCHLD);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&attr);
	/* Its own process group, so a timeout kills whatever it started. */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
	    POSIX_SPAWN_SETSIGMASK);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setsigmask(&attr, &none);
	r = posix_spawn(&k->pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r != 0) {
		k->pid = 0;
		check_end(a, false, strerror(r), now);
	}
}

static void
check_connect(struct agent *a, int64_t now)
{
	struct check *k = &a->check;
	const struct sockaddr *sa = (const struct sockaddr *)&k->addr;

	k->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (k->fd == -1) {
		check_end(a, false, strerror(errno), now);
		return;
	}
	k->connecting = true;
	k->outoff = 0;
	k->inlen = 0;
	if (connect(k->fd, sa, k->addrlen) == -1 && errno != EINPROGRESS &&
	    errno != EINTR) {
		char why[128];

		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		check_end(a, false, why, now);
	}
}

static void
check_start(struct agent *a, int64_t now)
{
	struct check *k = &a->check;

	k->running = true;
	k->started = now;
	if (k->kind == CHECK_EXEC)
		check_spawn(a, now);
	else
		check_connect(a, now);
}

/* The HTTP status line in in[]: done (true) once it is complete. */
static bool
check_http_status(struct agent *a, int64_t now)
{
	struct check *k = &a->check;
	char why[128];
	char *nl = memchr(k->in, '\n', k->inlen);
	int status;

	if (nl == NULL && k->inlen < sizeof(k->in) - 1)
		return false;
	k->in[nl ? (size_t)(nl - k->in) : k->inlen] = '\0';
	k->in[strcspn(k->in, "\r")] = '\0';
	if (sscanf(k->in, "HTTP/%*1d.%*1d %3d", &status) != 1) {
		snprintf(why, sizeof(why), "not an HTTP status line: %.60s", k->in);
		check_end(a, false, why, now);
	} else if (status < 200 || status > 299) {
		snprintf(why, sizeof(why), "%.60s", k->in);
		check_end(a, false, why, now);
	} else
		check_end(a, true, NULL, now);
	return true;
}

void
check_io(struct agent *a, short revents, int64_t now)
{
	struct check *k = &a->check;
	char why[128];
	ssize_t n;

	if (k->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
			return;
		if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0) {
			snprintf(why, sizeof(why), "connect: %s", strerror(err));
			check_end(a, false, why, now);
			return;
		}
		k->connecting = false;
		if (k->kind == CHECK_TCP) {
			check_end(a, true, NULL, now);
			return;
		}
	}
	while (k->outoff < strlen(k->request)) {
		n = send(k->fd, k->request + k->outoff, strlen(k->request) - k->outoff,
		    MSG_NOSIGNAL);
		if (n >= 0) {
			k->outoff += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		snprintf(why, sizeof(why), "send: %s", strerror(errno));
		check_end(a, false, why, now);
		return;
	}
	if (!(revents & (POLLIN | POLLERR | POLLHUP)))
		return;
	for (;;) {
		n = recv(k->fd, k->in + k->inlen, sizeof(k->in) - 1 - k->inlen, 0);
		if (n > 0) {
			k->inlen += (size_t)n;
			if (check_http_status(a, now))
				return;
			continue;
		}
		if (n == 0) {
			check_end(a, false, "connection closed before a status line", now);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		snprintf(why, sizeof(why), "recv: %s", strerror(errno));
		check_end(a, false, why, now);
		return;
	}
}

short
check_events(const struct check *k)
{
	if (!k->running || k->fd < 0)
		return 0;
	if (k->connecting || (k->request != NULL && k->outoff < strlen(k->request)))
		return POLLOUT;
	return POLLIN;
}

/* Reaps an exec check that has ended. */
void
check_reap(struct agent *a, int64_t now)
{
	struct check *k = &a->check;
	char why[64];
	int status;
	pid_t r;

	if (!k->running || k->kind != CHECK_EXEC || k->pid <= 0)
		return;
	do {
		r = waitpid(k->pid, &status, WNOHANG);
	} while (r == -1 && errno == EINTR);
	if (r == 0)
		return;
	k->pid = 0;
	if (r == -1)
		check_end(a, false, strerror(errno), now);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		check_end(a, true, NULL, now);
	else {
		if (WIFEXITED(status))
			snprintf(why, sizeof(why), "exit status %d", WEXITSTATUS(status));
		else
			snprintf(why, sizeof(why), "killed by signal %d", WTERMSIG(status));
		check_end(a, false, why, now);
	}
}

/* Ends a running check at once: its timeout, or the agent stopping. */
void
check_abort(struct agent *a, const char *why, int64_t now, bool verdict)
{
	struct check *k = &a->check;

	if (!k->running)
		return;
	if (k->kind == CHECK_EXEC && k->pid > 0) {
		kill(-k->pid, SIGKILL);
		while (waitpid(k->pid, NULL, 0) == -1 && errno == EINTR)
			;
		k->pid = 0;
	}
	if (verdict) {
		check_end(a, false, why, now);
		return;
	}
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
	k->running = false;
}

/* Starts or times out the check; returns ms until it wants this again. */
int64_t
check_tick(struct agent *a, int64_t now)
{
	struct check *k = &a->check;
	char why[64];

	if (k->kind == CHECK_NONE || a->stopping)
		return -1;
	if (k->running && now >= k->started + k->timeout_ms) {
		snprintf(why, sizeof(why), "no verdict within %lld ms",
		    (long long)k->timeout_ms);
		check_abort(a, why, now, true);
	}
	if (!k->running && now >= k->next_at)
		check_start(a, now);
	if (k->running)
		return k->started + k->timeout_ms - now;
	return k->next_at - now;
}
