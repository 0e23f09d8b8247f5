/*
 * proxy: see proxy.h.
 *
 * A session moves through these states, never back:
 *
 *   QUEUED ──► CONNECTING ──► RELAY ──► (closed)
 *      │            │ fail: requeue to another target, or
 *      └────────────┴──────► UNAVAIL ──► LINGER ──► (closed)
 *
 * QUEUED waits for a concurrency slot (FIFO); CONNECTING and RELAY hold a
 * slot ("active") and a reference on their target. UNAVAIL writes the
 * unavailable text; LINGER then half-closes and discards what the client
 * still sends for a moment, so that closing with unread input does not turn
 * our answer into a reset.
 *
 * One timer per session serves whichever deadline the state has: queue
 * timeout, connect timeout, idle timeout (checked lazily against the last
 * activity, so traffic never touches the heap) or the linger limit.
 *
 * Relay buffers are taken from a small free list only while bytes are in
 * flight, and a side is read only while its direction's buffer has room, so
 * memory per session is bounded by two buffers whatever the peers do.
 *
 * A flow that fills a whole buffer in one read is a bulk transfer: from then
 * on its bytes go socket -> pipe -> socket with splice(2) and never cross
 * into user space (HAProxy's "splice-auto"). A bulk flow keeps its pipe
 * to the end of the session (two fds, no per-chunk pipe2/close); ended
 * sessions give clean pipes back to a small pool, which, like the buffer
 * free list, is emptied whenever no session is left. Without a pipe (out
 * of fds) a flow simply keeps copying.
 *
 * Every fd a session opens comes out of the proxy's share of the fd budget
 * (acceptor.h): two units from accept to close (its client socket, and its
 * target socket whichever target it is), two more per pipe while the pipe
 * exists (cached ones too; the cache keeps none when the share runs low).
 * An error of our own (no fd, no local port, no memory, an epoll_ctl that
 * failed) ends the session as "error" and never counts against a target.
 */
#include "autoconfig.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "core/acceptor.h"
#include "core/loop.h"
#include "core/net.h"
#include "proxy/proxy.h"
#include "registry/balance.h"
#include "registry/persist.h"
#include "registry/pool.h"

#define PROXY_MAX_TRIES		101	/* 1 + the largest --requeue */
#define PROXY_LINGER_MS		2000
#define PROXY_UNAVAIL_MS	10000	/* to write the unavailable text */
#define PROXY_SESSION_FDS	2	/* budget units: client and target */
#define PROXY_LOCAL_LOG_MS	1000	/* our own connect errors, at most */
#define PROXY_BUF_CACHE		64	/* free buffers kept for reuse */
#define PROXY_DISCARD_MAX	(1024 * 1024)	/* read while lingering */
#define PROXY_DRAIN_MAX		1024	/* queued connections taken at stop */
#define PROXY_PIPE_CACHE	64	/* empty pipes kept for reuse */
#define PROXY_PIPE_MAX		(64 * 1024)	/* bytes a flow keeps in its pipe */
#define PROXY_IDLE_BATCH	1024	/* sessions re-armed per loop pass */

enum session_state {
	S_NEW,		/* accepted, about to start or queue */
	S_QUEUED,
	S_CONNECTING,
	S_RELAY,
	S_UNAVAIL,
	S_LINGER,
};

/* The unavailable text, shared by the sessions writing it. */
struct message {
	unsigned	 refs;
	size_t		 len;
	char		 data[];
};

/* One direction of a relay: bytes read from one side, for the other. */
struct flow {
	char		*buf;		/* NULL while nothing is in flight */
	size_t		 off;		/* first unsent byte */
	size_t		 len;		/* end of the bytes read */
	int		 pipe[2];	/* splice: -1 while nothing is in flight */
	size_t		 inpipe;	/* bytes in the pipe */
	bool		 bulk;		/* splice from now on */
	bool		 pipe_full;	/* no read until the pipe drains a bit */
	bool		 eof;		/* the source side has no more */
	bool		 shut;		/* ... and the sink side was shut down */
	bool		 shut_later;	/* ... at the end of this loop pass */
	uint64_t	 bytes;
};

struct session {
	TAILQ_ENTRY(session)	 entry;		/* px->sessions */
	/* px->queue while queued; px->shut_pending while a flow is shut_later */
	TAILQ_ENTRY(session)	 qentry;
	struct proxy		*px;
	enum session_state	 state;
	int			 cfd;
	int			 tfd;		/* -1 unless connecting/relaying */
	union {
		struct sockaddr		 sa;
		struct sockaddr_in	 sin;
		struct sockaddr_in6	 sin6;
	}			 client;	/* not sockaddr_storage: 28 bytes, not 128 */
	struct target		*target;	/* referenced while connecting/relaying */
	/*
	 * Ids of the targets tried (a pointer could be a freed target's, or a
	 * new one at its address): most sessions try one, so the first two
	 * live here and a longer requeue allocates.
	 */
	uint32_t		*tried;
	uint32_t		 tried_inline[2];
	size_t			 ntried;
	size_t			 tried_cap;
	struct flow		 up;		/* client -> target */
	struct flow		 down;		/* target -> client */
	struct message		*msg;
	size_t			 msg_off;
	size_t			 discarded;
	const char		*end;		/* why it is unavailable */
	int64_t			 started;
	int64_t			 last_active;
	struct loop_timer	 timer;
	char			 target_name[TARGET_NAME_MAX];
};

struct listener {
	SLIST_ENTRY(listener)	 entry;
	struct acceptor		*acc;
};

TAILQ_HEAD(session_list, session);

struct proxy {
	struct loop		*loop;
	struct pool		*pool;
	struct balancer		*balancer;
	struct persist		*persist;
	struct proxy_params	 params;	/* unavailable points into msg */
	struct message		*msg;
	SLIST_HEAD(, listener)	 listeners;
	struct session_list	 sessions;
	struct session_list	 queue;
	size_t			 nsessions;
	size_t			 nqueued;
	size_t			 nactive;
	struct fdbudget		*budget;	/* NULL: none */
	int64_t			 local_logged;	/* last "our own error" line */
	struct loop_timer	 dequeue_timer;	/* hand free slots to the queue */
	struct loop_timer	 idle_timer;	/* a new idle timeout reaches sessions */
	size_t			 idle_left;	/* ... this many still to visit */
	struct session_list	 shut_pending;	/* a flow waits to shut its sink */
	struct loop_defer	 shut_defer;	/* ... until the pass is over */
	char			*free_bufs[PROXY_BUF_CACHE];
	size_t			 nfree_bufs;
	int			 free_pipes[PROXY_PIPE_CACHE][2];
	size_t			 nfree_pipes;
	struct proxy_stats	 stats;
};

static void	session_close(struct session *, const char *reason);
static void	session_connect(struct session *);
static void	session_rearm(struct session *);
static void	session_unavailable(struct session *, const char *reason);
static void	listeners_update(struct proxy *);
static void	close_fd(int);
static int	flow_recv(struct session *, struct flow *, int, int, bool);

/* --- small helpers ----------------------------------------------------- */

static struct message *
message_new(const char *data, size_t len)
{
	struct message *m;

	if ((m = malloc(sizeof(*m) + len)) == NULL)
		return NULL;
	m->refs = 1;
	m->len = len;
	if (len > 0)
		memcpy(m->data, data, len);
	return m;
}

static void
message_unref(struct message *m)
{
	if (m != NULL && --m->refs == 0)
		free(m);
}

static char *
buf_get(struct proxy *px)
{
	if (px->nfree_bufs > 0)
		return px->free_bufs[--px->nfree_bufs];
	return malloc(PROXY_BUF_SIZE);
}

static void
buf_put(struct proxy *px, char *buf)
{
	if (buf == NULL)
		return;
	if (px->nfree_bufs < PROXY_BUF_CACHE)
		px->free_bufs[px->nfree_bufs++] = buf;
	else
		free(buf);
}

static int
pipe_get(struct proxy *px, int p[2])
{
	if (px->nfree_pipes > 0) {
		px->nfree_pipes--;
		p[0] = px->free_pipes[px->nfree_pipes][0];
		p[1] = px->free_pipes[px->nfree_pipes][1];
		return 0;
	}
	if (!fdbudget_take(px->budget, FD_USER_PROXY, 2)) {
		errno = EMFILE;
		return -1;
	}
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == -1) {
		fdbudget_give(px->budget, FD_USER_PROXY, 2);
		return -1;
	}
	return 0;
}

static void
pipe_close(struct proxy *px, int p[2])
{
	close_fd(p[0]);
	close_fd(p[1]);
	fdbudget_give(px->budget, FD_USER_PROXY, 2);
}

/*
 * An empty pipe goes back to the pool, while the budget has room to spare
 * for new sessions; one with bytes left is closed.
 */
static void
pipe_put(struct proxy *px, int p[2], bool empty)
{
	if (p[0] == -1)
		return;
	if (empty && px->nfree_pipes < PROXY_PIPE_CACHE &&
	    fdbudget_left(px->budget, FD_USER_PROXY) >=
	    fdbudget_share_of(px->budget, FD_USER_PROXY) / 4) {
		px->free_pipes[px->nfree_pipes][0] = p[0];
		px->free_pipes[px->nfree_pipes][1] = p[1];
		px->nfree_pipes++;
	} else {
		pipe_close(px, p);
	}
	p[0] = p[1] = -1;
}

/* Gives back the buffer once it is drained. A bulk flow keeps its pipe. */
static void
flow_release(struct proxy *px, struct flow *f)
{
	buf_put(px, f->buf);
	f->buf = NULL;
	f->off = f->len = 0;
}

/* At the end of a session: everything, whatever is left in it. */
static void
flow_free(struct proxy *px, struct flow *f)
{
	flow_release(px, f);
	pipe_put(px, f->pipe, f->inpipe == 0);
	f->inpipe = 0;
}

/*
 * With no session left the caches go too: an idle proxy holds no relay
 * buffer and no pipe (and its fd count is back where it started).
 */
static void
caches_trim(struct proxy *px)
{
	while (px->nfree_bufs > 0)
		free(px->free_bufs[--px->nfree_bufs]);
	while (px->nfree_pipes > 0) {
		px->nfree_pipes--;
		pipe_close(px, px->free_pipes[px->nfree_pipes]);
	}
}

static size_t
flow_pending(const struct flow *f)
{
	return f->len - f->off + f->inpipe;
}

static bool
errno_is_transient(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

static bool
slot_free(const struct proxy *px)
{
	return px->params.concurrency < 0 ||
	    px->nactive < (uint64_t)px->params.concurrency;
}

static void
close_fd(int fd)
{
	/* Linux closes the fd even when close reports EINTR: never retry. */
	if (close(fd) == -1 && errno != EINTR)
		log_warn("close %d", fd);
}

/* --- ending a session -------------------------------------------------- */

static void
session_leave_active(struct session *s)
{
	struct proxy *px = s->px;

	if (s->state != S_CONNECTING && s->state != S_RELAY)
		return;
	px->nactive--;
	/* Let the queue have the slot on the next pass, not in our stack. */
	if (px->nqueued > 0 && !loop_timer_armed(&px->dequeue_timer))
		loop_timer_add(px->loop, &px->dequeue_timer, 0);
}

static void
session_drop_target(struct session *s)
{
	if (s->tfd != -1) {
		loop_unwatch_closing(s->px->loop, s->tfd);
		close_fd(s->tfd);
		s->tfd = -1;
	}
	if (s->target != NULL) {
		pool_session_end(s->target, s->down.bytes, s->up.bytes);
		s->target = NULL;
	}
}

/*
 * The only way a session ends: releases everything it owns, fixes the
 * counters and writes its access-log line. The caller returns at once.
 */
static void
session_close(struct session *s, const char *reason)
{
	struct proxy *px = s->px;
	char client[NET_ADDRSTRLEN];

	loop_timer_cancel(px->loop, &s->timer);
	if (s->state == S_QUEUED) {
		TAILQ_REMOVE(&px->queue, s, qentry);
		px->nqueued--;
	} else if (s->up.shut_later || s->down.shut_later) {
		TAILQ_REMOVE(&px->shut_pending, s, qentry);
	}
	session_leave_active(s);
	session_drop_target(s);
	if (s->cfd != -1) {
		loop_unwatch_closing(px->loop, s->cfd);
		close_fd(s->cfd);
	}
	flow_free(px, &s->up);
	flow_free(px, &s->down);
	message_unref(s->msg);
	if (s->tried != s->tried_inline)
		free(s->tried);
	px->stats.bytes_up += s->up.bytes;
	px->stats.bytes_down += s->down.bytes;

	if (log_access_enabled()) {
		log_access("client=%s target=%s up=%llu down=%llu ms=%lld tries=%zu end=%s",
		    net_addr_text(&s->client.sa, client, sizeof(client)),
		    s->target_name[0] ? s->target_name : "-",
		    (unsigned long long)s->up.bytes, (unsigned long long)s->down.bytes,
		    (long long)(loop_now(px->loop) - s->started), s->ntried, reason);
	}
	TAILQ_REMOVE(&px->sessions, s, entry);
	px->nsessions--;
	free(s);
	fdbudget_give(px->budget, FD_USER_PROXY, PROXY_SESSION_FDS);
	if (px->nsessions == 0)
		caches_trim(px);
	listeners_update(px);
}

/* A reset on one side is passed on as a reset to the other. */
static void
session_abort(struct session *s, const char *reason)
{
	if (s->cfd != -1)
		(void)net_set_linger0(s->cfd);
	if (s->tfd != -1)
		(void)net_set_linger0(s->tfd);
	session_close(s, reason);
}

/* --- unavailable ------------------------------------------------------- */

static void
session_linger(struct session *s)
{
	/* Our FIN goes after the text; then wait for the client's. */
	if (shutdown(s->cfd, SHUT_WR) == -1) {
		session_close(s, s->end);
		return;
	}
	s->state = S_LINGER;
	loop_set_events(s->px->loop, s->cfd, POLLIN);
	loop_timer_add(s->px->loop, &s->timer, PROXY_LINGER_MS);
}

static void
session_write_message(struct session *s)
{
	while (s->msg_off < s->msg->len) {
		ssize_t n = send(s->cfd, s->msg->data + s->msg_off,
		    s->msg->len - s->msg_off, MSG_NOSIGNAL);
		if (n > 0) {
			s->msg_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno_is_transient(errno)) {
			loop_set_events(s->px->loop, s->cfd, POLLOUT);
			return;
		}
		session_close(s, s->end);
		return;
	}
	session_linger(s);
}

static void
session_on_client_unavail(struct loop *l, int fd, short revents, void *arg)
{
	struct session *s = arg;
	char sink[4096];

	(void)l;
	(void)fd;
	if (revents & POLLNVAL) {
		session_close(s, s->end);
		return;
	}
	if (s->state == S_UNAVAIL) {
		if (revents & (POLLOUT | POLLERR | POLLHUP))
			session_write_message(s);
		return;
	}
	/* S_LINGER: discard until EOF, an error, the cap or the timer. */
	for (int i = 0; i < 16; i++) {
		ssize_t n = recv(s->cfd, sink, sizeof(sink), 0);
		if (n > 0) {
			s->discarded += (size_t)n;
			if (s->discarded <= PROXY_DISCARD_MAX)
				continue;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno_is_transient(errno)) {
			return;
		}
		session_close(s, s->end);
		return;
	}
}

/*
 * Nothing can serve this client: write the unavailable text (if any), then
 * close. The session gives up its slot and target first.
 */
static void
session_unavailable(struct session *s, const char *reason)
{
	struct proxy *px = s->px;

	s->end = reason;
	px->stats.unavailable++;
	if (s->state == S_QUEUED) {
		TAILQ_REMOVE(&px->queue, s, qentry);
		px->nqueued--;
		listeners_update(px);
	}
	session_leave_active(s);
	session_drop_target(s);
	loop_timer_cancel(px->loop, &s->timer);
	flow_free(px, &s->up);
	flow_free(px, &s->down);
	if (px->msg == NULL || px->msg->len == 0) {
		s->state = S_UNAVAIL;
		session_close(s, reason);
		return;
	}
	s->state = S_UNAVAIL;
	s->msg = px->msg;
	s->msg->refs++;
	s->msg_off = 0;
	loop_timer_add(px->loop, &s->timer, PROXY_UNAVAIL_MS);
	session_write_message(s);
}

/* --- relaying ---------------------------------------------------------- */

static bool
flow_has_room(const struct flow *f)
{
	if (f->bulk && f->off == f->len)
		return !f->pipe_full && f->inpipe < PROXY_PIPE_MAX;
	return f->buf == NULL || f->len < PROXY_BUF_SIZE || f->off == f->len;
}

/*
 * The only place a relaying session's poll interest is chosen: read a side
 * only while its flow has room, ask for POLLOUT only while bytes wait.
 */
static void
session_rearm(struct session *s)
{
	short c = 0, t = 0;

	if (!s->up.eof && flow_has_room(&s->up))
		c |= POLLIN;
	if (flow_pending(&s->down) > 0)
		c |= POLLOUT;
	if (!s->down.eof && flow_has_room(&s->down))
		t |= POLLIN;
	if (flow_pending(&s->up) > 0)
		t |= POLLOUT;
	loop_set_events(s->px->loop, s->cfd, c);
	loop_set_events(s->px->loop, s->tfd, t);
}

/*
 * Sends what f holds to fd. Returns 0 (progress or would block), or -1
 * after closing the session.
 */
static int
flow_send(struct session *s, struct flow *f, int fd, bool to_client)
{
	while (f->len > f->off) {
		ssize_t n = send(fd, f->buf + f->off, f->len - f->off, MSG_NOSIGNAL);
		if (n >= 0) {
			f->off += (size_t)n;
			f->bytes += (uint64_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno_is_transient(errno))
			return 0;
		session_abort(s, to_client ? "client-reset" : "target-reset");
		return -1;
	}
	while (f->inpipe > 0) {
		ssize_t n = splice(f->pipe[0], NULL, fd, NULL, f->inpipe,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0) {
			f->inpipe -= (size_t)n;
			f->bytes += (uint64_t)n;
			f->pipe_full = false;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno_is_transient(errno))
			return 0;
		session_abort(s, to_client ? "client-reset" : "target-reset");
		return -1;
	}
	flow_release(s->px, f);
	if (f->eof && !f->shut) {
		const struct flow *other = f == &s->up ? &s->down : &s->up;

		f->shut = true;
		/*
		 * The last flow to finish needs no shutdown: the session closes
		 * now and close() sends the FIN (nothing is left unread). The
		 * first waits for the end of the pass, for the other side's
		 * end often comes in the same batch of events (a server's FIN
		 * and its client's, after a "Connection: close" answer): then
		 * no shutdown(2) at all, as with HAProxy.
		 */
		if (!other->shut) {
			f->shut_later = true;
			TAILQ_INSERT_TAIL(&s->px->shut_pending, s, qentry);
			loop_defer(s->px->loop, &s->px->shut_defer);
		}
	}
	return 0;
}

/* The deferred half of flow_send's end of a flow: shut its sink now. */
static void
proxy_on_shut_defer(struct loop *l, void *arg)
{
	struct proxy *px = arg;
	struct session *s;

	(void)l;
	while ((s = TAILQ_FIRST(&px->shut_pending)) != NULL) {
		bool up = s->up.shut_later;

		TAILQ_REMOVE(&px->shut_pending, s, qentry);
		s->up.shut_later = s->down.shut_later = false;
		/* ENOTCONN: the peer is gone already; the other flow sees it. */
		if (shutdown(up ? s->tfd : s->cfd, SHUT_WR) == -1 && errno != ENOTCONN)
			session_abort(s, up ? "target-reset" : "client-reset");
	}
}

/* Moves bytes from the socket into f's pipe, then forwards at once. */
static int
flow_splice_in(struct session *s, struct flow *f, int from, int to, bool from_client)
{
	ssize_t n;

	buf_put(s->px, f->buf);		/* the (empty) buffer, if any */
	f->buf = NULL;
	f->off = f->len = 0;
	if (f->pipe[0] == -1 && pipe_get(s->px, f->pipe) == -1) {
		f->pipe[0] = f->pipe[1] = -1;
		f->bulk = false;	/* out of fds: copying works too */
		return flow_recv(s, f, from, to, from_client);
	}
	do {
		n = splice(from, NULL, f->pipe[1], NULL, PROXY_PIPE_MAX - f->inpipe,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	} while (n < 0 && errno == EINTR);
	if (n > 0) {
		f->inpipe += (size_t)n;
		s->last_active = loop_now(s->px->loop);
	} else if (n == 0) {
		f->eof = true;
	} else if (errno_is_transient(errno)) {
		/*
		 * With bytes in the pipe, EAGAIN may mean the pipe is full (it
		 * counts pages, not bytes): stop reading until it drains, or
		 * level-triggered POLLIN would spin.
		 */
		if (f->inpipe > 0)
			f->pipe_full = true;
		return 0;
	} else {
		session_abort(s, from_client ? "client-reset" : "target-reset");
		return -1;
	}
	return flow_send(s, f, to, !from_client);
}

/* Reads from fd into f, then forwards at once. Returns -1 if s is gone. */
static int
flow_recv(struct session *s, struct flow *f, int from, int to, bool from_client)
{
	ssize_t n;

	if (f->bulk && f->off == f->len)
		return flow_splice_in(s, f, from, to, from_client);
	if (f->buf == NULL && (f->buf = buf_get(s->px)) == NULL) {
		session_close(s, "error");
		return -1;
	}
	if (f->off == f->len)
		f->off = f->len = 0;
	do {
		n = recv(from, f->buf + f->len, PROXY_BUF_SIZE - f->len, 0);
	} while (n < 0 && errno == EINTR);
	if (n > 0) {
		/* A whole buffer in one read: a bulk transfer, splice from now on. */
		if ((size_t)n == PROXY_BUF_SIZE)
			f->bulk = true;
		f->len += (size_t)n;
		s->last_active = loop_now(s->px->loop);
	} else if (n == 0) {
		f->eof = true;
	} else if (errno_is_transient(errno)) {
		if (f->len == 0)
			flow_release(s->px, f);
		return 0;
	} else {
		session_abort(s, from_client ? "client-reset" : "target-reset");
		return -1;
	}
	return flow_send(s, f, to, !from_client);
}

/* POLLERR carries a pending socket error: a reset, passed on. */
static bool
session_error(struct session *s, int fd, short revents, const char *reason)
{
	int e;

	if (!(revents & POLLERR) || (e = net_connect_error(fd)) == 0)
		return false;
	log_debug("%s: %s", reason, strerror(e));
	session_abort(s, reason);
	return true;
}

static void
session_check_done(struct session *s)
{
	if (s->up.shut && s->down.shut) {
		session_close(s, "done");
		return;
	}
	session_rearm(s);
}

/*
 * A client parked while it waits (queued, or its target connecting) hears
 * only of errors and hang-ups: it is gone, and so is its session, before
 * a target is tried for it (HAProxy's abortonclose, for a reset).
 */
static void
session_on_client_waiting(struct session *s, short revents)
{
	if (revents & POLLNVAL)
		session_abort(s, "error");
	else if (revents & (POLLERR | POLLHUP))
		session_abort(s, "client-reset");
}

static void
session_on_client(struct loop *l, int fd, short revents, void *arg)
{
	struct session *s = arg;

	(void)l;
	(void)fd;
	if (s->state == S_QUEUED || s->state == S_CONNECTING) {
		session_on_client_waiting(s, revents);
		return;
	}
	if (s->state != S_RELAY) {
		session_on_client_unavail(l, fd, revents, arg);
		return;
	}
	if (revents & POLLNVAL) {
		session_abort(s, "error");
		return;
	}
	if (session_error(s, s->cfd, revents, "client-reset"))
		return;
	if ((revents & (POLLIN | POLLHUP)) && !s->up.eof && flow_has_room(&s->up) &&
	    flow_recv(s, &s->up, s->cfd, s->tfd, true) == -1)
		return;
	if ((revents & POLLOUT) && flow_send(s, &s->down, s->cfd, true) == -1)
		return;
	session_check_done(s);
}

static void
session_on_target_io(struct session *s, short revents)
{
	if (revents & POLLNVAL) {
		session_abort(s, "error");
		return;
	}
	if (session_error(s, s->tfd, revents, "target-reset"))
		return;
	if ((revents & (POLLIN | POLLHUP)) && !s->down.eof && flow_has_room(&s->down) &&
	    flow_recv(s, &s->down, s->tfd, s->cfd, false) == -1)
		return;
	if ((revents & POLLOUT) && flow_send(s, &s->up, s->tfd, false) == -1)
		return;
	session_check_done(s);
}

/* --- connecting -------------------------------------------------------- */

/*
 * Our own shortage (no fd, no local port, no memory, the loop could not
 * watch the socket) says nothing about the target: the session ends as an
 * error of ours, the target is not marked, and nothing is requeued (no
 * other target would fare better). Out of fds, the listeners pause too.
 */
static void
session_local_error(struct session *s, int e)
{
	struct proxy *px = s->px;
	int64_t now = loop_now(px->loop);
	struct listener *ln;

	if (now - px->local_logged >= PROXY_LOCAL_LOG_MS) {
		px->local_logged = now;
		log_warnx("connect %s: %s (ours, not the target's)", s->target_name,
		    strerror(e));
	}
	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
		px->stats.accept_errors++;
		SLIST_FOREACH(ln, &px->listeners, entry)
			acceptor_pause(ln->acc, FDBUDGET_PAUSE_MS);
	}
	session_drop_target(s);
	session_unavailable(s, "error");
}

static void
session_connect_failed(struct session *s, const char *why)
{
	struct proxy *px = s->px;

	px->stats.connect_failures++;
	log_debug("connect %s: %s", s->target_name, why);
	if (s->target != NULL)
		pool_connect_failed(s->target);
	session_drop_target(s);
	if (s->ntried < PROXY_MAX_TRIES &&
	    (int64_t)s->ntried <= px->params.requeue) {
		session_connect(s);
		return;
	}
	session_unavailable(s, "connect-failed");
}

static void
session_connected(struct session *s, short revents)
{
	struct proxy *px = s->px;
	/* Plain POLLOUT means connected: SO_ERROR only when poll says more. */
	int e = (revents & (POLLERR | POLLHUP)) ? net_connect_error(s->tfd) : 0;

	if (revents & POLLNVAL) {
		session_local_error(s, ENOSPC);
		return;
	}
	if (e != 0 && net_errno_local(e)) {
		session_local_error(s, e);
		return;
	}
	if (e != 0) {
		session_connect_failed(s, strerror(e));
		return;
	}
	pool_connect_ok(s->target);
	(void)net_set_nodelay(s->tfd);
	px->stats.connected++;
	s->state = S_RELAY;
	s->last_active = loop_now(px->loop);
	loop_timer_cancel(px->loop, &s->timer);
	if (px->params.idle_timeout_ms > 0)
		loop_timer_add(px->loop, &s->timer, px->params.idle_timeout_ms);
	session_rearm(s);
}

static void
session_on_target(struct loop *l, int fd, short revents, void *arg)
{
	struct session *s = arg;

	(void)l;
	(void)fd;
	if (s->state == S_CONNECTING) {
		if (revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL))
			session_connected(s, revents);
		return;
	}
	session_on_target_io(s, revents);
}

static bool
tried(const struct session *s, const struct target *t)
{
	for (size_t i = 0; i < s->ntried; i++)
		if (s->tried[i] == t->id)
			return true;
	return false;
}

static int
tried_grow(struct session *s)
{
	size_t cap = s->tried_cap * 2;
	/* NOLINTNEXTLINE(clang-analyzer-optin.portability.UnixAPI): tried_cap starts at 2, never 0 */
	uint32_t *n = calloc(cap, sizeof(*n));

	if (n == NULL)
		return -1;
	memcpy(n, s->tried, s->ntried * sizeof(*n));
	if (s->tried != s->tried_inline)
		free(s->tried);
	s->tried = n;
	s->tried_cap = cap;
	return 0;
}

/* Persistence first, then the balancer; remembers a fresh pick. */
static struct target *
session_pick(struct session *s)
{
	struct proxy *px = s->px;
	const struct sockaddr *client = &s->client.sa;
	int64_t now = loop_now(px->loop);
	struct target *t = NULL;
	uint32_t id;

	if (px->params.persistent && (id = persist_lookup(px->persist, client, now)) != 0) {
		t = pool_find_id(px->pool, id);
		if (t != NULL && (!target_choosable(t, now) || tried(s, t)))
			t = NULL;
	}
	if (t == NULL) {
		t = balance_pick(px->balancer, client, s->tried, s->ntried, now);
		if (t != NULL && px->params.persistent)
			(void)persist_set(px->persist, client, t->id, now);
	}
	return t;
}

static int64_t
session_on_timer(struct loop *l, struct loop_timer *timer, void *arg)
{
	struct session *s = arg;
	int64_t idle, left;

	(void)l;
	(void)timer;
	switch (s->state) {
	case S_NEW:
		break;
	case S_QUEUED:
		session_unavailable(s, "queue-timeout");
		break;
	case S_CONNECTING:
		session_connect_failed(s, "timeout");
		break;
	case S_RELAY:
		idle = s->px->params.idle_timeout_ms;
		if (idle <= 0)
			break;
		left = s->last_active + idle - loop_now(s->px->loop);
		if (left > 0)
			return left;
		session_close(s, "idle-timeout");
		break;
	case S_UNAVAIL:
	case S_LINGER:
		session_close(s, s->end);
		break;
	}
	return LOOP_TIMER_STOP;
}

static void
session_connect(struct session *s)
{
	struct proxy *px = s->px;
	struct target *t;
	int fd;

	if ((t = session_pick(s)) == NULL) {
		session_unavailable(s, "unavailable");
		return;
	}
	if (s->ntried == s->tried_cap && tried_grow(s) == -1) {
		session_unavailable(s, "error");
		return;
	}
	s->tried[s->ntried++] = t->id;
	s->target = t;
	memcpy(s->target_name, t->name, sizeof(s->target_name));
	pool_session_begin(t);
	if ((fd = net_connect((const struct sockaddr *)&t->addr, t->addrlen)) == -1) {
		if (net_errno_local(errno)) {
			session_local_error(s, errno);
			return;
		}
		session_connect_failed(s, strerror(errno));
		return;
	}
	s->tfd = fd;
	if (loop_watch(px->loop, fd, POLLOUT, session_on_target, s) == -1) {
		session_local_error(s, errno);	/* ENOSPC, ENOMEM: ours */
		return;
	}
	loop_timer_add(px->loop, &s->timer, px->params.connect_timeout_ms);
}

/* Takes a concurrency slot and starts connecting. */
static void
session_start(struct session *s)
{
	struct proxy *px = s->px;

	if (s->state == S_QUEUED) {
		TAILQ_REMOVE(&px->queue, s, qentry);
		px->nqueued--;
		loop_timer_cancel(px->loop, &s->timer);
	}
	s->state = S_CONNECTING;
	px->nactive++;
	session_connect(s);
}

static int64_t
proxy_on_dequeue(struct loop *l, struct loop_timer *t, void *arg)
{
	struct proxy *px = arg;
	struct session *s;

	(void)l;
	(void)t;
	while (slot_free(px) && (s = TAILQ_FIRST(&px->queue)) != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): session_start dequeues s */
		session_start(s);
	listeners_update(px);
	return LOOP_TIMER_STOP;
}

/* --- accepting --------------------------------------------------------- */

/*
 * A new client, with its PROXY_SESSION_FDS budget units taken by the
 * acceptor: served while a slot is free, else queued; with --queue-max 0
 * there is no queue, and it is refused at once.
 */
static void
proxy_on_client(void *arg, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct proxy *px = arg;
	struct session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL) {
		log_warn("session");
		close_fd(fd);
		fdbudget_give(px->budget, FD_USER_PROXY, PROXY_SESSION_FDS);
		return;
	}
	s->px = px;
	s->cfd = fd;
	s->tfd = -1;
	s->up.pipe[0] = s->up.pipe[1] = s->down.pipe[0] = s->down.pipe[1] = -1;
	if (len > sizeof(s->client))
		len = sizeof(s->client);	/* never: accept gives IPv4 or IPv6 */
	memcpy(&s->client, sa, len);
	s->tried = s->tried_inline;
	s->tried_cap = sizeof(s->tried_inline) / sizeof(s->tried_inline[0]);
	s->started = s->last_active = loop_now(px->loop);
	loop_timer_init(&s->timer, session_on_timer, s);
	/* Parked, but a reset is still heard (loop.h). */
	if (loop_watch(px->loop, fd, 0, session_on_client, s) == -1) {
		log_warn("watch client");
		close_fd(fd);
		free(s);
		fdbudget_give(px->budget, FD_USER_PROXY, PROXY_SESSION_FDS);
		return;
	}
	TAILQ_INSERT_TAIL(&px->sessions, s, entry);
	px->nsessions++;
	px->stats.accepted++;
	if (slot_free(px) && px->nqueued == 0) {
		session_start(s);
		return;
	}
	if (px->params.queue_max == 0) {
		session_unavailable(s, "queue-full");
		return;
	}
	s->state = S_QUEUED;
	TAILQ_INSERT_TAIL(&px->queue, s, qentry);
	px->nqueued++;
	/* The client stays parked (no events) until it gets a slot. */
	if (px->params.queue_timeout_ms > 0)
		loop_timer_add(px->loop, &s->timer, px->params.queue_timeout_ms);
}

/* With no queue (--queue-max 0), a client finding no slot is refused. */
static bool
accept_allowed(const struct proxy *px)
{
	return px->params.queue_max == 0 ||
	    px->nqueued < (uint64_t)px->params.queue_max;
}

/* Listening follows the queue: a full queue stops accepting. */
static void
listeners_update(struct proxy *px)
{
	struct listener *ln;
	bool on = accept_allowed(px);

	SLIST_FOREACH(ln, &px->listeners, entry)
		acceptor_enable(ln->acc, on);
}

/*
 * A new idle timeout (SIGHUP) reaches running sessions: each relaying one
 * gets the deadline last_active + the new timeout, or none for 0. Sessions
 * that start later arm it themselves. Done in batches, one per loop pass,
 * so that many sessions never stall the loop: a visited session moves to
 * the tail, where new sessions go too, so the head holds those still to
 * visit (one closed meanwhile only means a session is visited twice).
 */
static int64_t
proxy_on_idle_change(struct loop *l, struct loop_timer *timer, void *arg)
{
	struct proxy *px = arg;
	int64_t idle = px->params.idle_timeout_ms;
	struct session *s;

	(void)timer;
	for (size_t n = 0; n < PROXY_IDLE_BATCH && px->idle_left > 0; n++) {
		px->idle_left--;
		if ((s = TAILQ_FIRST(&px->sessions)) == NULL)
			break;
		TAILQ_REMOVE(&px->sessions, s, entry);
		TAILQ_INSERT_TAIL(&px->sessions, s, entry);
		if (s->state != S_RELAY)
			continue;
		if (idle > 0)
			loop_timer_at(l, &s->timer, s->last_active + idle);
		else
			loop_timer_cancel(l, &s->timer);
	}
	if (TAILQ_EMPTY(&px->sessions))
		px->idle_left = 0;
	return px->idle_left > 0 ? 0 : LOOP_TIMER_STOP;
}

static void
proxy_apply_idle_timeout(struct proxy *px)
{
	px->idle_left = px->nsessions;
	if (px->idle_left > 0)
		loop_timer_add(px->loop, &px->idle_timer, 0);
}

/* --- public ------------------------------------------------------------ */

struct proxy *
proxy_new(struct loop *l, struct pool *pool, struct balancer *b,
    struct persist *persist, const struct proxy_params *params)
{
	struct proxy *px;

	if ((px = calloc(1, sizeof(*px))) == NULL)
		return NULL;
	px->loop = l;
	px->pool = pool;
	px->balancer = b;
	px->persist = persist;
	SLIST_INIT(&px->listeners);
	TAILQ_INIT(&px->sessions);
	TAILQ_INIT(&px->queue);
	loop_timer_init(&px->dequeue_timer, proxy_on_dequeue, px);
	loop_timer_init(&px->idle_timer, proxy_on_idle_change, px);
	TAILQ_INIT(&px->shut_pending);
	loop_defer_init(&px->shut_defer, proxy_on_shut_defer, px);
	if (proxy_set_params(px, params) == -1) {
		free(px);
		return NULL;
	}
	return px;
}

int
proxy_set_params(struct proxy *px, const struct proxy_params *params)
{
	struct message *m;

	if ((m = message_new(params->unavailable, params->unavailable_len)) == NULL)
		return -1;
	message_unref(px->msg);
	px->msg = m;
	if (params->idle_timeout_ms != px->params.idle_timeout_ms)
		proxy_apply_idle_timeout(px);
	px->params = *params;
	px->params.unavailable = m->data;
	if (px->params.requeue > PROXY_MAX_TRIES - 1)
		px->params.requeue = PROXY_MAX_TRIES - 1;
	/* More room (or a resume from 0) releases queued clients. */
	if (px->nqueued > 0 && slot_free(px) && !loop_timer_armed(&px->dequeue_timer))
		loop_timer_add(px->loop, &px->dequeue_timer, 0);
	listeners_update(px);
	return 0;
}

int
proxy_listen(struct proxy *px, const struct net_addr *a, struct net_addr *bound,
    char *err, size_t errlen)
{
	struct listener *ln;
	int fd;

	/* Accepted sockets inherit TCP_NODELAY: one setsockopt, not one each. */
	if ((fd = net_listen(a, 1024, NET_LISTEN_REUSEPORT | NET_LISTEN_NODELAY,
	    err, errlen)) == -1)
		return -1;
	if (bound != NULL && net_local_addr(fd, bound) == -1)
		*bound = *a;
	if ((ln = calloc(1, sizeof(*ln))) == NULL) {
		snprintf(err, errlen, "listener: %s", strerror(errno));
		close_fd(fd);
		return -1;
	}
	ln->acc = acceptor_new(px->loop, fd, &(struct acceptor_params){
	    .what = "clients", .budget = px->budget, .user = FD_USER_PROXY,
	    .need = PROXY_SESSION_FDS, .batch = PROXY_ACCEPT_BATCH,
	    .on_accept = proxy_on_client, .arg = px,
	    .errors = &px->stats.accept_errors });
	if (ln->acc == NULL) {
		snprintf(err, errlen, "listener: %s", strerror(errno));
		free(ln);
		return -1;
	}
	SLIST_INSERT_HEAD(&px->listeners, ln, entry);
	listeners_update(px);
	return 0;
}

void
proxy_stop_accepting(struct proxy *px)
{
	struct listener *ln;

	while ((ln = SLIST_FIRST(&px->listeners)) != NULL) {
		/*
		 * Take what already waits in the accept queue: closing the
		 * listener would reset those clients. With SO_REUSEPORT a new
		 * harmonyd on the same port takes the ones that come after
		 * (and with net.ipv4.tcp_migrate_req=1 the kernel hands it any
		 * that arrive between this drain and the close).
		 */
		for (int i = 0; i < PROXY_DRAIN_MAX / PROXY_ACCEPT_BATCH &&
		    acceptor_accepting(ln->acc); i++)
			acceptor_run(ln->acc);
		SLIST_REMOVE_HEAD(&px->listeners, entry);
		acceptor_free(ln->acc);
		free(ln);
	}
}

void
proxy_free(struct proxy *px)
{
	struct session *s;

	if (px == NULL)
		return;
	proxy_stop_accepting(px);
	while ((s = TAILQ_FIRST(&px->sessions)) != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): session_close unlinks s */
		session_close(s, "shutdown");
	loop_timer_cancel(px->loop, &px->dequeue_timer);
	loop_timer_cancel(px->loop, &px->idle_timer);
	loop_defer_cancel(px->loop, &px->shut_defer);
	caches_trim(px);
	message_unref(px->msg);
	free(px);
}

void
proxy_set_fdbudget(struct proxy *px, struct fdbudget *b)
{
	px->budget = b;
}

size_t
proxy_active(const struct proxy *px)
{
	return px->nactive;
}

size_t
proxy_queued(const struct proxy *px)
{
	return px->nqueued;
}

size_t
proxy_sessions(const struct proxy *px)
{
	return px->nsessions;
}

const struct proxy_stats *
proxy_stats(const struct proxy *px)
{
	return &px->stats;
}
