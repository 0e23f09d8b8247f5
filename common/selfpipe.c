/* selfpipe.c: see selfpipe.h. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/selfpipe.h"

static int selfpipe_wfd = -1;

static void
on_signal(int signo)
{
	int saved = errno;
	unsigned char b = (unsigned char)signo;

	/* A full pipe already holds a wake-up; losing this byte is fine. */
	if (write(selfpipe_wfd, &b, 1) == -1)
		(void)0;
	errno = saved;
}

int
selfpipe_open(int fds[2])
{
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	selfpipe_wfd = fds[1];
	return 0;
}

static int
set_action(int signo, void (*handler)(int), int sa_flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	/*
	 * Every signal blocked in a handler: one that came at the same time
	 * would otherwise run nested, before this one writes, and its byte
	 * would come first (a SIGTERM read before the SIGUSR2 sent ahead of
	 * it).
	 */
	sigfillset(&sa.sa_mask);
	sa.sa_handler = handler;
	sa.sa_flags = sa_flags;
	return sigaction(signo, &sa, NULL);
}

int
selfpipe_catch(int signo, int sa_flags)
{
	return set_action(signo, on_signal, sa_flags);
}

int
selfpipe_set(int signo, void (*disposition)(int))
{
	return set_action(signo, disposition, 0);
}

void
selfpipe_close(int fds[2])
{
	for (int i = 0; i < 2; i++) {
		if (fds[i] == -1)
			continue;
		if (fds[i] == selfpipe_wfd)
			selfpipe_wfd = -1;
		close(fds[i]);
		fds[i] = -1;
	}
}
