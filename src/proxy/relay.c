/*
 * relay: see relay.h.
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>

#include "common/log.h"
#include "core/loop.h"
#include "core/net.h"
#include "proxy/relay.h"
#include "proxy/relaycache.h"

static int	flow_recv(struct relay *, struct relay_flow *, int, int, bool);
static void	relay_on_shut_defer(struct loop *, void *);

static bool
errno_is_transient(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

static void
flow_init(struct relay_flow *f)
{
	memset(f, 0, sizeof(*f));
	f->pipe[0] = f->pipe[1] = -1;
}

static size_t
flow_pending(const struct relay_flow *f)
{
	return f->len - f->off + f->inpipe;
}

/* Gives back the buffer once it is drained. A bulk flow keeps its pipe. */
static void
flow_release(struct relay *r, struct relay_flow *f)
{
	relaycache_buf_put(r->cache, f->buf);
	f->buf = NULL;
	f->off = f->len = 0;
}

/* At the end of a relay: everything, whatever is left in it. */
static void
flow_free(struct relay *r, struct relay_flow *f)
{
	flow_release(r, f);
	relaycache_pipe_put(r->cache, f->pipe, f->inpipe == 0);
	f->inpipe = 0;
}

static bool
flow_has_room(const struct relay_flow *f)
{
	if (f->bulk && f->off == f->len)
		return !f->pipe_full && f->inpipe < RELAY_PIPE_MAX;
	return f->buf == NULL || f->len < RELAY_BUF_SIZE || f->off == f->len;
}

/* The relay is over: the owner's callback stops it and closes the fds. */
static void
relay_end(struct relay *r, const char *outcome)
{
	r->on_end(r, outcome, r->arg);
}

/* A reset on one side is passed on as a reset to the other. */
static void
relay_abort(struct relay *r, const char *outcome)
{
	(void)net_set_linger0(r->cfd);
	(void)net_set_linger0(r->tfd);
	relay_end(r, outcome);
}

/*
 * The only place a relay's poll interest is chosen: read a side only while
 * its flow has room, ask for POLLOUT only while bytes wait.
 */
static void
relay_rearm(struct relay *r)
{
	short c = 0, t = 0;

	if (!r->up.eof && flow_has_room(&r->up))
		c |= POLLIN;
	if (flow_pending(&r->down) > 0)
		c |= POLLOUT;
	if (!r->down.eof && flow_has_room(&r->down))
		t |= POLLIN;
	if (flow_pending(&r->up) > 0)
		t |= POLLOUT;
	loop_set_events(r->loop, r->cfd, c);
	loop_set_events(r->loop, r->tfd, t);
}

/*
 * Sends what f holds to fd. Returns 0 (progress or would block), or -1
 * after ending the relay.
 */
static int
flow_send(struct relay *r, struct relay_flow *f, int fd, bool to_client)
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
		relay_abort(r, to_client ? "client-reset" : "target-reset");
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
		relay_abort(r, to_client ? "client-reset" : "target-reset");
		return -1;
	}
	flow_release(r, f);
	if (f->eof && !f->shut) {
		const struct relay_flow *other = f == &r->up ? &r->down : &r->up;

		f->shut = true;
		/*
		 * The last flow to finish needs no shutdown: the relay ends now
		 * and close() sends the FIN (nothing is left unread). The first
		 * waits for the end of the pass, for the other side's end often
		 * comes in the same batch of events (a server's FIN and its
		 * client's, after a "Connection: close" answer): then no
		 * shutdown(2) at all, as with HAProxy.
		 */
		if (!other->shut) {
			f->shut_later = true;
			loop_defer(r->loop, &r->shut_defer);
		}
	}
	return 0;
}

/* The deferred half of flow_send's end of a flow: shut its sink now. */
static void
relay_on_shut_defer(struct loop *l, void *arg)
{
	struct relay *r = arg;
	bool up = r->up.shut_later;

	(void)l;
	r->up.shut_later = r->down.shut_later = false;
	/* ENOTCONN: the peer is gone already; the other flow sees it. */
	if (shutdown(up ? r->tfd : r->cfd, SHUT_WR) == -1 && errno != ENOTCONN)
		relay_abort(r, up ? "target-reset" : "client-reset");
}

/*
 * After a read into f that did not merely find nothing (n bytes, 0 at EOF,
 * -1 for a failure): forwards at once. Returns -1 if r is over.
 */
static int
flow_forward(struct relay *r, struct relay_flow *f, ssize_t n, int to, bool from_client)
{
	if (n > 0)
		r->last_active = loop_now(r->loop);
	else if (n == 0)
		f->eof = true;
	else {
		relay_abort(r, from_client ? "client-reset" : "target-reset");
		return -1;
	}
	return flow_send(r, f, to, !from_client);
}

/* Moves bytes from the socket into f's pipe, then forwards at once. */
static int
flow_splice_in(struct relay *r, struct relay_flow *f, int from, int to, bool from_client)
{
	ssize_t n;

	relaycache_buf_put(r->cache, f->buf);	/* the (empty) buffer, if any */
	f->buf = NULL;
	f->off = f->len = 0;
	if (f->pipe[0] == -1 && relaycache_pipe_get(r->cache, f->pipe) == -1) {
		f->pipe[0] = f->pipe[1] = -1;
		f->bulk = false;	/* out of fds: copying works too */
		return flow_recv(r, f, from, to, from_client);
	}
	do {
		n = splice(from, NULL, f->pipe[1], NULL, RELAY_PIPE_MAX - f->inpipe,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	} while (n < 0 && errno == EINTR);
	if (n > 0) {
		f->inpipe += (size_t)n;
	} else if (n < 0 && errno_is_transient(errno)) {
		/*
		 * With bytes in the pipe, EAGAIN may mean the pipe is full (it
		 * counts pages, not bytes): stop reading until it drains, or
		 * level-triggered POLLIN would spin.
		 */
		if (f->inpipe > 0)
			f->pipe_full = true;
		return 0;
	}
	return flow_forward(r, f, n, to, from_client);
}

/* Reads from fd into f, then forwards at once. Returns -1 if r is over. */
static int
flow_recv(struct relay *r, struct relay_flow *f, int from, int to, bool from_client)
{
	ssize_t n;

	if (f->bulk && f->off == f->len)
		return flow_splice_in(r, f, from, to, from_client);
	if (f->buf == NULL && (f->buf = relaycache_buf_get(r->cache)) == NULL) {
		relay_end(r, "error");
		return -1;
	}
	if (f->off == f->len)
		f->off = f->len = 0;
	do {
		n = recv(from, f->buf + f->len, RELAY_BUF_SIZE - f->len, 0);
	} while (n < 0 && errno == EINTR);
	if (n > 0) {
		/* A whole buffer in one read: a bulk transfer, splice from now on. */
		if ((size_t)n == RELAY_BUF_SIZE)
			f->bulk = true;
		f->len += (size_t)n;
	} else if (n < 0 && errno_is_transient(errno)) {
		if (f->len == 0)
			flow_release(r, f);
		return 0;
	}
	return flow_forward(r, f, n, to, from_client);
}

/* POLLERR carries a pending socket error: a reset, passed on. */
static bool
relay_error(struct relay *r, int fd, short revents, const char *outcome)
{
	int e;

	if (!(revents & POLLERR) || (e = net_connect_error(fd)) == 0)
		return false;
	log_debug("%s: %s", outcome, strerror(e));
	relay_abort(r, outcome);
	return true;
}

static void
relay_check_done(struct relay *r)
{
	if (r->up.shut && r->down.shut) {
		relay_end(r, "done");
		return;
	}
	relay_rearm(r);
}

void
relay_init(struct relay *r)
{
	memset(r, 0, sizeof(*r));
	r->cfd = r->tfd = -1;
	flow_init(&r->up);
	flow_init(&r->down);
	loop_defer_init(&r->shut_defer, relay_on_shut_defer, r);
}

void
relay_start(struct relay *r, struct loop *l, struct relaycache *c, int cfd,
    int tfd, relay_end_fn *on_end, void *arg)
{
	r->loop = l;
	r->cache = c;
	r->cfd = cfd;
	r->tfd = tfd;
	r->on_end = on_end;
	r->arg = arg;
	r->last_active = loop_now(l);
	relay_rearm(r);
}

/* One side's readiness: its own flow in, the other's out. */
void
relay_on_ready(struct relay *r, int fd, short revents)
{
	bool client = fd == r->cfd;
	int other = client ? r->tfd : r->cfd;
	struct relay_flow *in = client ? &r->up : &r->down;
	struct relay_flow *out = client ? &r->down : &r->up;

	if (revents & POLLNVAL) {
		relay_abort(r, "error");
		return;
	}
	if (relay_error(r, fd, revents, client ? "client-reset" : "target-reset"))
		return;
	if ((revents & (POLLIN | POLLHUP)) && !in->eof && flow_has_room(in) &&
	    flow_recv(r, in, fd, other, client) == -1)
		return;
	if ((revents & POLLOUT) && flow_send(r, out, fd, client) == -1)
		return;
	relay_check_done(r);
}

void
relay_stop(struct relay *r)
{
	if (r->loop != NULL)
		loop_defer_cancel(r->loop, &r->shut_defer);
	r->up.shut_later = r->down.shut_later = false;
	if (r->cache == NULL)
		return;		/* never started: holds nothing */
	flow_free(r, &r->up);
	flow_free(r, &r->down);
}

static const struct relay_flow *
flow_of(const struct relay *r, bool up)
{
	return up ? &r->up : &r->down;
}

uint64_t
relay_bytes(const struct relay *r, bool up)
{
	return flow_of(r, up)->bytes;
}

int64_t
relay_last_active(const struct relay *r)
{
	return r->last_active;
}

size_t
relay_pending(const struct relay *r, bool up)
{
	return flow_pending(flow_of(r, up));
}

bool
relay_bulk(const struct relay *r, bool up)
{
	return flow_of(r, up)->bulk;
}

bool
relay_has_pipe(const struct relay *r, bool up)
{
	return flow_of(r, up)->pipe[0] != -1;
}
