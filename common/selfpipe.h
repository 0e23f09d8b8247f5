/*
 * selfpipe.h: signals turned into bytes on a pipe (the self-pipe trick),
 * so that a poll(2) loop learns of them as a readable fd and handles them
 * outside the handler. harmonyd and harmony-agent set up their signals
 * with it.
 *
 * One per process: the handler writes to a process-wide descriptor. The
 * pipe is non-blocking and close-on-exec at both ends; the handler writes
 * the signal's number as one byte (every signal number fits) and leaves
 * errno as it found it; when the pipe is full, the byte is dropped: the
 * bytes already there wake the loop anyway.
 */
#ifndef HARMONY_COMMON_SELFPIPE_H
#define HARMONY_COMMON_SELFPIPE_H

/* The pipe: fds[0] to poll and read, fds[1] the handler's; -1 with errno. */
int	selfpipe_open(int fds[2]);

/*
 * Signal signo writes its number to the pipe. sa_flags as sigaction(2)
 * takes them (0, or SA_NOCLDSTOP for SIGCHLD): neither program asks for
 * SA_RESTART, so a blocking call a signal interrupts returns EINTR.
 */
int	selfpipe_catch(int signo, int sa_flags);

/* Sets signo to SIG_IGN or SIG_DFL, the same way (sigaction, empty mask). */
int	selfpipe_set(int signo, void (*disposition)(int));

/* Closes both ends (those that are open) and marks them -1. */
void	selfpipe_close(int fds[2]);

#endif
