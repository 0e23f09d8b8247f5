/*
 * fakedns: getaddrinfo and freeaddrinfo replaced, for the unit tests that
 * resolve names (check_resolve.c, check_reload.c), so that none asks a
 * name server: "slow.test" sleeps 30 s, "fast.test" is 192.0.2.7, any
 * other name fails with EAI_NONAME.
 *
 * A test that must not resolve in some process (the loop's own) names it
 * in fakedns_watched; each call made in it counts in fakedns_watched_calls.
 */
#ifndef HARMONY_TESTS_FAKEDNS_H
#define HARMONY_TESTS_FAKEDNS_H

#include <sys/types.h>

extern pid_t	fakedns_watched;	/* 0: none */
extern int	fakedns_watched_calls;

#endif
