/*
 * ackport: see ackport.h.
 *
 * A connection reads only while it has no answer waiting: the answers to
 * one read go out in one send, and a peer that does not read its answers
 * stops being read (backpressure), so its input waits in the kernel, not in
 * our memory.
 */
#include "autoconfig.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ack/ackport.h"
#include "ack/ackproto.h"
#include "ack/ackreg.h"
#include "ack/ratelimit.h"
#include "common/log.h"
#include "core/acceptor.h"
#include "core/loop.h"
#include "core/net.h"

#define ACKPORT_READ_MAX	8192	/* answers to it fit ACKPORT_OUT_MAX */
#define ACKPORT_ACCEPT_BATCH	32

struct ack_conn {
	TAILQ_ENTRY(ack_conn)	 entry;
	struct ackport		*ap;
	int			 fd;
	struct ack_policy	 policy;
	struct ack_session	 sess;
	char			*out;		/* ACKPORT_OUT_MAX, while answering */
	size_t			 outoff;
	size_t			 outlen;
	bool			 closing;	/* close once out is sent */
	int64_t			 last_active;
	struct loop_timer	 timer;
};

struct ack_listener {
	SLIST_ENTRY(ack_listener) entry;
	struct acceptor		*acc;
};

struct ackport {
	struct loop		*loop;
	struct pool		*pool;
	char			*token;
	struct net_cidr		*allow;
	size_t			 nallow;
	int64_t			 idle_ms;
	size_t			 max_conns;
	size_t			 max_per_peer;
	SLIST_HEAD(, ack_listener) listeners;
	TAILQ_HEAD(, ack_conn)	 conns;
	size_t			 nconns;
	uint64_t		 refused;
	struct ratelimit	*nid_rate;	/* registrations per peer */
	struct fdbudget		*budget;	/* a unit per connection */
};

static void
conn_close(struct ack_conn *c)
{
	struct ackport *ap = c->ap;

	loop_timer_cancel(ap->loop, &c->timer);
	loop_unwatch(ap->loop, c->fd);
	if (net_close(c->fd) == -1)
		log_warn("ack: close");
	TAILQ_REMOVE(&ap->conns, c, entry);
	ap->nconns--;
	free(c->out);
	free(c);
	fdbudget_give(ap->budget, FD_USER_ACK, 1);
}

/* Sends pending answers; false if c is gone. */
static bool
conn_flush(struct ack_conn *c)
{
	while (c->outoff < c->outlen) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL);
		if (n >= 0) {
			c->outoff += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			loop_set_events(c->ap->loop, c->fd, POLLOUT);
			return true;
		}
		conn_close(c);
		return false;
	}
	c->outoff = c->outlen = 0;
	if (c->closing) {
		conn_close(c);
		return false;
	}
	loop_set_events(c->ap->loop, c->fd, POLLIN);
	return true;
}

static void
conn_read(struct ack_conn *c)
{
	char in[ACKPORT_READ_MAX];
	struct ack_out out;
	ssize_t n;

	do {
		n = recv(c->fd, in, sizeof(in), 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n <= 0) {
		conn_close(c);		/* EOF or error: nothing more to answer */
		return;
	}
	c->last_active = loop_now(c->ap->loop);
	if (c->out == NULL && (c->out = malloc(ACKPORT_OUT_MAX)) == NULL) {
		conn_close(c);
		return;
	}
	out = (struct ack_out){ .buf = c->out, .len = 0, .cap = ACKPORT_OUT_MAX };
	if (ackreg_feed(c->ap->pool, c->ap->nid_rate, &c->sess, in, (size_t)n,
	    &out) == ACK_CLOSE)
		c->closing = true;
	c->outoff = 0;
	c->outlen = out.len;
	if (!conn_flush(c))
		return;
	if (c->outlen == 0) {
		free(c->out);
		c->out = NULL;
	}
}

static void
conn_on_io(struct loop *l, int fd, short revents, void *arg)
{
	struct ack_conn *c = arg;

	(void)l;
	(void)fd;
	if (revents & POLLNVAL) {	/* the loop cannot watch it */
		conn_close(c);
		return;
	}
	if (c->outlen > c->outoff) {
		if (revents & (POLLOUT | POLLERR | POLLHUP))
			(void)conn_flush(c);
		return;
	}
	if (revents & (POLLIN | POLLERR | POLLHUP))
		conn_read(c);
}

static int64_t
conn_on_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct ack_conn *c = arg;
	int64_t left = c->last_active + c->ap->idle_ms - loop_now(l);

	(void)t;
	if (left > 0)
		return left;
	conn_close(c);
	return LOOP_TIMER_STOP;
}

static bool
peer_allowed(const struct ackport *ap, const struct sockaddr *sa)
{
	if (net_is_loopback(sa))
		return true;
	for (size_t i = 0; i < ap->nallow; i++)
		if (net_cidr_match(&ap->allow[i], sa))
			return true;
	return false;
}

static size_t
peer_conns(const struct ackport *ap, const struct sockaddr *sa)
{
	const struct ack_conn *c;
	size_t n = 0;

	/* Linear, but bounded by max_conns and only paid at accept. */
	TAILQ_FOREACH(c, &ap->conns, entry) {
		struct sockaddr_storage a = c->sess.peer.ss, b;

		memcpy(&b, sa, net_addr_len(sa));
		net_addr_set_port((struct sockaddr *)&a, 0);
		net_addr_set_port((struct sockaddr *)&b, 0);
		if (net_addr_equal((struct sockaddr *)&a, (struct sockaddr *)&b))
			n++;
	}
	return n;
}

/* A connection from the acceptor, with its budget unit. */
static void
ackport_accept_one(void *arg, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct ackport *ap = arg;
	const struct sockaddr_storage *ss = (const struct sockaddr_storage *)(const void *)sa;
	struct ack_conn *c;
	struct net_addr peer;
	char text[NET_ADDRSTRLEN];

	if (ap->nconns >= ap->max_conns ||
	    peer_conns(ap, (const struct sockaddr *)ss) >= ap->max_per_peer) {
		ap->refused++;
		log_debug("ack: refusing %s: too many connections",
		    net_addr_text((const struct sockaddr *)ss, text, sizeof(text)));
		close(fd);
		fdbudget_give(ap->budget, FD_USER_ACK, 1);
		return;
	}
	if (len > sizeof(peer.ss) || (c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		fdbudget_give(ap->budget, FD_USER_ACK, 1);
		return;
	}
	memset(&peer, 0, sizeof(peer));
	memcpy(&peer.ss, ss, len);
	peer.len = len;
	c->ap = ap;
	c->fd = fd;
	c->policy.token = ap->token;
	c->policy.peer_allowed = peer_allowed(ap, (const struct sockaddr *)ss);
	ack_session_init(&c->sess, &c->policy, &peer);
	c->last_active = loop_now(ap->loop);
	loop_timer_init(&c->timer, conn_on_timer, c);
	if (loop_watch(ap->loop, fd, POLLIN, conn_on_io, c) == -1) {
		log_warn("ack: watch");
		close(fd);
		free(c);
		fdbudget_give(ap->budget, FD_USER_ACK, 1);
		return;
	}
	TAILQ_INSERT_TAIL(&ap->conns, c, entry);
	ap->nconns++;
	loop_timer_add(ap->loop, &c->timer, ap->idle_ms);
}

int
ackport_set_params(struct ackport *ap, const struct ackport_params *p)
{
	char *token = NULL;
	struct net_cidr *allow = NULL;
	struct ack_conn *c;
	size_t nrevoked = 0;
	bool revoke;

	if (p->token != NULL && (token = strdup(p->token)) == NULL)
		return -1;
	if (p->nallow > 0) {
		if ((allow = calloc(p->nallow, sizeof(*allow))) == NULL) {
			free(token);
			return -1;
		}
		memcpy(allow, p->allow, p->nallow * sizeof(*allow));
	}
	/* A rotated token revokes what the old one proved (issue 13 item 14). */
	revoke = ap->token == NULL ? token != NULL :
	    token == NULL || strcmp(ap->token, token) != 0;
	if (ap->token != NULL)
		explicit_bzero(ap->token, strlen(ap->token));
	free(ap->token);
	free(ap->allow);
	ap->token = token;
	ap->allow = allow;
	ap->nallow = p->nallow;
	ap->idle_ms = p->idle_ms > 0 ? p->idle_ms : ACKPORT_IDLE_MS;
	ap->max_conns = p->max_conns ? p->max_conns : ACKPORT_MAX_CONNS;
	ap->max_per_peer = p->max_per_peer ? p->max_per_peer : ACKPORT_MAX_PER_PEER;
	TAILQ_FOREACH(c, &ap->conns, entry) {
		if (revoke && c->sess.authed)
			nrevoked++;
		if (revoke)
			ack_session_revoke(&c->sess);
		c->policy.token = ap->token;
		c->policy.peer_allowed = peer_allowed(ap,
		    (const struct sockaddr *)&c->sess.peer.ss);
	}
	if (nrevoked > 0)
		log_info("ack: token changed: %zu connections must authenticate again",
		    nrevoked);
	return 0;
}

struct ackport *
ackport_new(struct loop *l, struct pool *pool, const struct ackport_params *p)
{
	struct ackport *ap;

	if ((ap = calloc(1, sizeof(*ap))) == NULL)
		return NULL;
	ap->loop = l;
	ap->pool = pool;
	SLIST_INIT(&ap->listeners);
	TAILQ_INIT(&ap->conns);
	if ((ap->nid_rate = ratelimit_new(ACKPORT_RATE_SLOTS, ACKPORT_NID_BURST,
	    ACKPORT_NID_PER_MIN)) == NULL || ackport_set_params(ap, p) == -1) {
		ratelimit_free(ap->nid_rate);
		free(ap);
		return NULL;
	}
	return ap;
}

int
ackport_listen(struct ackport *ap, const struct net_addr *a, struct net_addr *bound,
    char *err, size_t errlen)
{
	struct ack_listener *ln;
	int fd;

	if ((fd = net_listen(a, 128, NET_LISTEN_REUSEPORT, err, errlen)) == -1)
		return -1;
	if (bound != NULL && net_local_addr(fd, bound) == -1)
		*bound = *a;
	if ((ln = calloc(1, sizeof(*ln))) == NULL) {
		snprintf(err, errlen, "ack listener: %s", strerror(errno));
		close(fd);
		return -1;
	}
	ln->acc = acceptor_new(ap->loop, fd, &(struct acceptor_params){
	    .what = "ack", .budget = ap->budget, .user = FD_USER_ACK, .need = 1,
	    .batch = ACKPORT_ACCEPT_BATCH, .on_accept = ackport_accept_one,
	    .arg = ap, .errors = &ap->refused });
	if (ln->acc == NULL) {
		snprintf(err, errlen, "ack listener: %s", strerror(errno));
		free(ln);
		return -1;
	}
	SLIST_INSERT_HEAD(&ap->listeners, ln, entry);
	return 0;
}

void
ackport_stop(struct ackport *ap)
{
	struct ack_listener *ln;

	while ((ln = SLIST_FIRST(&ap->listeners)) != NULL) {
		SLIST_REMOVE_HEAD(&ap->listeners, entry);
		acceptor_free(ln->acc);
		free(ln);
	}
}

void
ackport_free(struct ackport *ap)
{
	struct ack_conn *c;

	if (ap == NULL)
		return;
	ackport_stop(ap);
	while ((c = TAILQ_FIRST(&ap->conns)) != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): conn_close unlinks c: the next round reads a new head */
		conn_close(c);
	free(ap->token);
	free(ap->allow);
	ratelimit_free(ap->nid_rate);
	free(ap);
}

void
ackport_set_fdbudget(struct ackport *ap, struct fdbudget *b)
{
	ap->budget = b;
}

void
ackport_set_pool(struct ackport *ap, struct pool *pool)
{
	ap->pool = pool;
}

size_t
ackport_conns(const struct ackport *ap)
{
	return ap->nconns;
}
