/*
 * relay: moves bytes both ways between two connected sockets, a client's
 * and a target's, until both directions have ended or one side fails.
 *
 * Each direction is a flow. A side is read only while its flow has room (a
 * buffer of RELAY_BUF_SIZE, or RELAY_PIPE_MAX bytes in a pipe), so memory
 * per relay is bounded whatever the peers do, and POLLOUT is asked for only
 * while bytes wait: relay_rearm is the one place the two sockets' events
 * are chosen. A flow copies through a buffer taken from the cache while
 * bytes are in flight; a read that fills a whole buffer marks it bulk, and
 * from then on its bytes go socket -> pipe -> socket with splice(2)
 * (HAProxy's "splice-auto"), through a pipe it keeps to the end. Without a
 * pipe (out of fds) a bulk flow simply keeps copying.
 *
 * Half-close: when a side's end of file has been passed on, the other
 * side's socket is shut for writing, but only at the end of the loop pass
 * (a deferred call): if the other direction ends in the same pass, as after
 * a "Connection: close" answer, no shutdown(2) is made at all and the
 * owner's close sends the FIN.
 *
 * The relay borrows the loop, the cache and the two fds, which its owner
 * watches (with any events) before relay_start, passing their readiness
 * on to relay_on_ready. When the relay is over it calls the owner's
 * relay_end_fn once, with the outcome:
 *   "done"          both directions ended
 *   "client-reset"  the client's socket failed (a reset is passed on:
 *   "target-reset"  the target's;                both sockets get SO_LINGER 0)
 *   "error"         ours: no memory for a buffer, or the loop cannot watch
 *                   a socket (POLLNVAL; also passed on as a reset)
 * The callback must call relay_stop, and closes the fds (a session ends in
 * session_close); the relay touches nothing of its own after it returns.
 *
 * struct relay is embedded in its owner; its fields are private to relay.c
 * (read them through the accessors below).
 */
#ifndef HARMONY_RELAY_H
#define HARMONY_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"

struct relay;
struct relaycache;

#define RELAY_PIPE_MAX	(64 * 1024)	/* bytes a flow keeps in its pipe */

typedef void	relay_end_fn(struct relay *, const char *outcome, void *arg);

/* One direction of a relay: bytes read from one side, for the other. */
struct relay_flow {
	char		*buf;		/* NULL while nothing is in flight */
	size_t		 off;		/* first unsent byte */
	size_t		 len;		/* end of the bytes read */
	int		 pipe[2];	/* splice: -1 while there is none */
	size_t		 inpipe;	/* bytes in the pipe */
	bool		 bulk;		/* splice from now on */
	bool		 pipe_full;	/* no read until the pipe drains a bit */
	bool		 eof;		/* the source side has no more */
	bool		 shut;		/* ... and the sink side was shut down */
	bool		 shut_later;	/* ... at the end of this loop pass */
	uint64_t	 bytes;		/* sent to the sink side */
};

struct relay {
	struct loop		*loop;
	struct relaycache	*cache;
	int			 cfd;
	int			 tfd;
	struct relay_flow	 up;		/* client -> target */
	struct relay_flow	 down;		/* target -> client */
	struct loop_defer	 shut_defer;	/* a flow's shut_later */
	int64_t			 last_active;	/* loop ms of the last bytes read */
	relay_end_fn		*on_end;
	void			*arg;
};

/* Holds nothing yet: relay_stop is a no-op until relay_start. */
void		 relay_init(struct relay *);
/*
 * Starts relaying between cfd and tfd (connected, non-blocking, watched by
 * the caller): sets their events and counts now as activity.
 */
void		 relay_start(struct relay *, struct loop *, struct relaycache *,
		    int cfd, int tfd, relay_end_fn *, void *arg);
/* Readiness of fd (its cfd or its tfd), as the loop reported it. */
void		 relay_on_ready(struct relay *, int fd, short revents);
/*
 * Gives the buffers and pipes back to the cache (a pipe with bytes left is
 * closed) and cancels a pending shutdown. Leaves the fds and their events
 * alone. Safe after relay_init, and twice.
 */
void		 relay_stop(struct relay *);

/*
 * By direction: up is client -> target. Bytes sent on; bytes read and not
 * yet sent (buffer and pipe).
 */
uint64_t	 relay_bytes(const struct relay *, bool up);
size_t		 relay_pending(const struct relay *, bool up);
int64_t		 relay_last_active(const struct relay *);
/* Whether a direction has turned bulk, and whether it holds a pipe now. */
bool		 relay_bulk(const struct relay *, bool up);
bool		 relay_has_pipe(const struct relay *, bool up);

#endif
