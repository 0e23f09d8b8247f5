/*
 * child: the first steps of a short-lived child process of the daemon (the
 * state file's save, a reload's name resolution), in one place.
 *
 * A forked child holds copies of every fd of the daemon: its listeners
 * (which would keep a closed port accepting), the state lock (which would
 * keep a second instance out) and the signal pipe (which its handlers
 * would write into). It closes them all but the ones it needs, below lowfd,
 * and blocks every signal: the daemon ends it with SIGKILL if it must.
 */
#ifndef HARMONY_CHILD_H
#define HARMONY_CHILD_H

/* Blocks every signal and closes every fd from lowfd up. */
void	child_enter(int lowfd);

#endif
