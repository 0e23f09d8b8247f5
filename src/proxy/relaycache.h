/*
 * relaycache: the relay buffers and splice pipes of one proxy, kept for
 * reuse from one session to the next.
 *
 * A relay takes a buffer only while bytes are in flight, and a pipe once a
 * flow turns out to be bulk (relay.h); taking them from here spares a
 * malloc, or a pipe2 and two closes, per chunk or per session. Cached
 * pipes are empty (one with bytes left is closed instead) and their fds
 * stay counted in the fd budget (acceptor.h): 2 units a pipe, cached or
 * not, and the cache keeps none once the proxy's share runs low, so that
 * spare pipes never cost a client its connection. relaycache_trim empties
 * the cache; the proxy calls it whenever no session is left, so that an
 * idle proxy holds no buffer and no pipe.
 *
 * The cache is embedded in its owner: its fields are private to
 * relaycache.c. It borrows the budget, which must outlive it.
 */
#ifndef HARMONY_RELAYCACHE_H
#define HARMONY_RELAYCACHE_H

#include <stdbool.h>
#include <stddef.h>

struct fdbudget;

#define RELAY_BUF_SIZE		(64 * 1024)	/* one direction's buffer */
#define RELAYCACHE_BUFS		64		/* free buffers kept */
#define RELAYCACHE_PIPES	64		/* empty pipes kept */

struct relaycache {
	struct fdbudget	*budget;	/* NULL: none */
	char		*bufs[RELAYCACHE_BUFS];
	size_t		 nbufs;
	int		 pipes[RELAYCACHE_PIPES][2];
	size_t		 npipes;
};

/* Empty, with no budget: pipes are then limited by RLIMIT_NOFILE alone. */
void	 relaycache_init(struct relaycache *);
/* The budget pipes are counted in (FD_USER_PROXY's share); NULL for none. */
void	 relaycache_set_fdbudget(struct relaycache *, struct fdbudget *);
/* A RELAY_BUF_SIZE buffer, or NULL (out of memory). */
char	*relaycache_buf_get(struct relaycache *);
/* Keeps or frees buf; NULL is fine. */
void	 relaycache_buf_put(struct relaycache *, char *buf);
/*
 * A non-blocking pipe with its 2 budget units taken; -1 with errno set
 * (EMFILE when the budget has no room left).
 */
int	 relaycache_pipe_get(struct relaycache *, int p[2]);
/*
 * Gives p back (kept if empty and there is room, else closed) and sets it
 * to -1; a p already at -1 is left alone.
 */
void	 relaycache_pipe_put(struct relaycache *, int p[2], bool empty);
/* Frees every cached buffer and closes every cached pipe. */
void	 relaycache_trim(struct relaycache *);
/* How many buffers and pipes it keeps now. */
void	 relaycache_held(const struct relaycache *, size_t *bufs, size_t *pipes);

#endif
