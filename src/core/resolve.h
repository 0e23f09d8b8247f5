/*
 * resolve: host names to addresses without blocking the loop.
 *
 * getaddrinfo may wait seconds for a name server, and nothing may block the
 * loop. A job forks a short-lived child that resolves every name with
 * net_resolve, writes one fixed-size answer per name back over a pipe the
 * loop watches, and exits. The job ends with exactly one call of its done
 * callback, once the child is gone (reaped): with every answer, or with an
 * error (no child, a failed child, or the deadline passed: it is killed).
 *
 * The caller owns the job and frees it with resolve_free, from the done
 * callback or after it, or before it to abandon the job (the child is
 * killed, and no callback comes). The names are read only by resolve_start.
 */
#ifndef HARMONY_RESOLVE_H
#define HARMONY_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/net.h"

struct loop;
struct resolve;

struct resolve_answer {
	bool		 ok;
	struct net_addr	 addr;		/* when ok; port 0 */
	char		 err[320];	/* when not: "cannot resolve 'x': ..." */
};

/*
 * answers (n of them, in the order of the names) is NULL when the job
 * failed, and err says why, to follow "resolving NAMES": "took longer than
 * 10 s", "failed: ...". Both live until resolve_free.
 */
typedef void	resolve_done_fn(struct resolve *, const struct resolve_answer *,
		    size_t n, const char *err, void *arg);

/* NULL with errno (ENOMEM, fork or pipe failing); n must be > 0. */
struct resolve	*resolve_start(struct loop *, const char *const *names, size_t n,
		    int64_t timeout_ms, resolve_done_fn *, void *arg);
void		 resolve_free(struct resolve *);

#endif
