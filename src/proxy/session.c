/*
 * session: one client of the proxy, from accept to close (the states are
 * drawn in proxy_int.h).
 *
 * accept -> (inspect: inspect.c) -> (queue while concurrency is used up)
 * -> pick a target (persistence, then the balancer) -> non-blocking
 * connect with a timeout -> (the preface: a PROXY header, the inspected
 * bytes) -> requeue to another target on failure -> relay (relay.h) ->
 * close, with one access-log line. A session nothing can serve writes
 * the unavailable text, then lingers.
 *
 * One timer per session serves whichever deadline the state has: inspect
 * timeout, queue timeout, connect timeout (which the preface shares),
 * idle timeout (checked lazily against the relay's last activity, so
 * traffic never touches the heap) or the linger limit.
 *
 * An error of our own (no fd, no local port, no memory, an epoll_ctl that
 * failed) ends the session as "error" and never counts against a target.
 */
#include "autoconfig.h"

#include <sys/queue.h>
#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "core/acceptor.h"
#include "core/loop.h"
#include "core/net.h"
#include "proxy/proxy_int.h"
#include "proxy/proxyproto.h"
#include "proxy/relay.h"
#include "proxy/sni.h"
#include "registry/balance.h"
#include "registry/persist.h"
#include "registry/pool.h"

#define PROXY_LINGER_MS		2000
#define PROXY_UNAVAIL_MS	10000	/* to write the unavailable text */
#define PROXY_LOCAL_LOG_MS	1000	/* our own connect errors, at most */
#define PROXY_DISCARD_MAX	(1024 * 1024)	/* read while lingering */
#define PROXY_REJECT_LINES	20		/* refusal lines a second, at most */

static void	session_connect(struct session *);
static void	session_unavailable(struct session *, const char *reason);
static void	session_relay(struct session *);
static void	session_preface_begin(struct session *);

static bool
errno_is_transient(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/*
 * Sends the bytes of p from *off to len on fd, as far as it takes them: 1
 * all sent, 0 it would block (POLLOUT), -1 an error (errno).
 */
static int
send_rest(int fd, const void *p, size_t len, size_t *off)
{
	while (*off < len) {
		ssize_t n = send(fd, (const char *)p + *off, len - *off, MSG_NOSIGNAL);

		if (n > 0) {
			*off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno_is_transient(errno))
			return 0;
		if (n == 0)
			errno = EPIPE;
		return -1;
	}
	return 1;
}

static void
close_fd(int fd)
{
	if (net_close(fd) == -1)
		log_warn("close %d", fd);
}

/* --- ending a session -------------------------------------------------- */

static void
session_leave_active(struct session *s)
{
	struct proxy *px = s->px;

	if (s->state != S_CONNECTING && s->state != S_PREFACE && s->state != S_RELAY)
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
		pool_session_end(s->target, relay_bytes(&s->relay, false),
		    relay_bytes(&s->relay, true) + s->pre_up);
		s->target = NULL;
	}
}

void
session_close(struct session *s, const char *reason)
{
	struct proxy *px = s->px;
	char client[NET_ADDRSTRLEN], sni[2 * SNI_NAME_MAX + 8];
	uint64_t up = relay_bytes(&s->relay, true) + s->pre_up;
	uint64_t down = relay_bytes(&s->relay, false);

	loop_timer_cancel(px->loop, &s->timer);
	if (s->state == S_QUEUED) {
		TAILQ_REMOVE(&px->queue, s, qentry);
		px->nqueued--;
	}
	session_leave_active(s);
	session_drop_target(s);
	if (s->cfd != -1) {
		loop_unwatch_closing(px->loop, s->cfd);
		close_fd(s->cfd);
	}
	relay_stop(&s->relay);
	message_unref(s->msg);
	inspect_free(s);
	if (s->tried != s->tried_inline)
		free(s->tried);
	px->stats.bytes_up += up;
	px->stats.bytes_down += down;

	if (log_access_enabled()) {
		sni[0] = '\0';
		if (s->sni != NULL) {
			memcpy(sni, " sni=", 5);
			(void)log_escape(sni + 5, sizeof(sni) - 5, s->sni, strlen(s->sni));
		}
		log_access("client=%s target=%s up=%llu down=%llu ms=%lld tries=%zu end=%s%s",
		    net_addr_text(&s->client.sa, client, sizeof(client)),
		    s->target_name[0] ? s->target_name : "-",
		    (unsigned long long)up, (unsigned long long)down,
		    (long long)(loop_now(px->loop) - s->started), s->ntried, reason,
		    sni);
	}
	free(s->sni);
	TAILQ_REMOVE(&px->sessions, s, entry);
	px->nsessions--;
	free(s);
	fdbudget_give(px->budget, FD_USER_PROXY, PROXY_SESSION_FDS);
	if (px->nsessions == 0)
		relaycache_trim(&px->cache);
	listeners_update(px);
}

static const char *const reject_names[PROXY_REJ_MAX] = {
	[PROXY_REJ_UNTRUSTED] = "untrusted",
	[PROXY_REJ_BAD_PROXY] = "bad-proxy",
	[PROXY_REJ_TIMEOUT] = "timeout",
	[PROXY_REJ_NOT_TLS] = "not-tls",
	[PROXY_REJ_BAD_HELLO] = "bad-hello",
	[PROXY_REJ_TOO_BIG] = "too-big",
	[PROXY_REJ_NO_ROUTE] = "no-route",
};

const char *
proxy_reject_name(enum proxy_reject r)
{
	return (unsigned)r < PROXY_REJ_MAX ? reject_names[r] : "?";
}

/*
 * Not our clients' protocol: no unavailable text, just the close. The
 * lines are bounded (a flood of bad peers must not flood the log); the
 * counter counts every one.
 */
void
session_reject(struct session *s, enum proxy_reject r, const char *why)
{
	struct proxy *px = s->px;
	int64_t sec = loop_now(px->loop) / 1000;
	char client[NET_ADDRSTRLEN], text[256];

	px->stats.rejected[r]++;
	if (sec != px->reject_logged) {
		px->reject_logged = sec;
		px->reject_lines = 0;
	}
	if (px->reject_lines++ < PROXY_REJECT_LINES) {
		(void)log_escape(text, sizeof(text), why != NULL ? why : "",
		    why != NULL ? strlen(why) : 0);
		log_info("client %s: closed (%s): %s",
		    net_addr_text(&s->client.sa, client, sizeof(client)),
		    proxy_reject_name(r), text);
	}
	session_close(s, proxy_reject_name(r));
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

/* The relay is over (relay.h): it ends the session the one way. */
static void
session_on_relay_end(struct relay *r, const char *outcome, void *arg)
{
	(void)r;
	session_close(arg, outcome);
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
	switch (send_rest(s->cfd, s->msg->data, s->msg->len, &s->msg_off)) {
	case 0:
		loop_set_events(s->px->loop, s->cfd, POLLOUT);
		return;
	case -1:
		session_close(s, s->end);
		return;
	default:
		session_linger(s);
	}
}

static void
session_on_client_unavail(struct session *s, short revents)
{
	char sink[4096];

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
	relay_stop(&s->relay);
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

/* --- events ------------------------------------------------------------ */

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
	if (s->state == S_INSPECT)
		inspect_on_client(s, revents);
	else if (s->state == S_QUEUED || s->state == S_CONNECTING ||
	    s->state == S_PREFACE)
		session_on_client_waiting(s, revents);
	else if (s->state == S_RELAY)
		relay_on_ready(&s->relay, fd, revents);
	else
		session_on_client_unavail(s, revents);
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

	if (now - px->local_logged >= PROXY_LOCAL_LOG_MS) {
		px->local_logged = now;
		log_warnx("connect %s: %s (ours, not the target's)", s->target_name,
		    strerror(e));
	}
	if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
		px->stats.accept_errors++;
		listeners_pause(px, FDBUDGET_PAUSE_MS);
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
		s->state = S_CONNECTING;	/* from PREFACE too */
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
	pool_connect_time(s->target, loop_now(px->loop) - s->connect_at);
	(void)net_set_nodelay(s->tfd);
	if (px->params.send_proxy != 0 || s->ins != NULL) {
		session_preface_begin(s);
		return;
	}
	session_relay(s);
}

/* Connected, and the preface (if any) written: the bytes flow. */
static void
session_relay(struct session *s)
{
	struct proxy *px = s->px;

	if (s->ins != NULL) {
		s->pre_up = s->ins->len - s->ins->off;
		inspect_free(s);
	}
	px->stats.connected++;
	s->state = S_RELAY;
	loop_timer_cancel(px->loop, &s->timer);
	if (px->params.idle_timeout_ms > 0)
		loop_timer_add(px->loop, &s->timer, px->params.idle_timeout_ms);
	relay_start(&s->relay, px->loop, &px->cache, s->cfd, s->tfd,
	    session_on_relay_end, s);
}

/*
 * This connection's preface, written before the relay starts (the connect
 * timer still runs): its PROXY header, telling the client's address and
 * the one it reached, then what inspection read. Every connection of a
 * requeue gets its own, and the bytes again.
 */
static void
session_preface_write(struct session *s)
{
	struct inspect *ins = s->ins;
	int rc = send_rest(s->tfd, ins->hdr, ins->hdrlen, &ins->hdr_sent);

	if (rc == 1)
		rc = send_rest(s->tfd, ins->buf + ins->off, ins->len - ins->off,
		    &ins->sent);
	if (rc == 0) {
		loop_set_events(s->px->loop, s->tfd, POLLOUT);
		return;
	}
	if (rc == -1) {
		session_connect_failed(s, strerror(errno));
		return;
	}
	session_relay(s);
}

static void
session_preface_begin(struct session *s)
{
	struct proxy *px = s->px;
	struct net_addr local;
	const struct sockaddr *dst = NULL;
	struct inspect *ins;
	int v = px->params.send_proxy;

	if (s->ins == NULL && (s->ins = calloc(1, sizeof(*s->ins))) == NULL) {
		session_local_error(s, ENOMEM);
		return;
	}
	ins = s->ins;
	ins->sent = ins->hdr_sent = ins->hdrlen = 0;
	if (v != 0) {
		if (ins->have_dst)
			dst = (const struct sockaddr *)&ins->dst;
		else if (net_local_addr(s->cfd, &local) == 0)
			dst = (const struct sockaddr *)&local.ss;
		if (dst != NULL)
			ins->hdrlen = proxyproto_build(v, &s->client.sa, dst, ins->hdr,
			    sizeof(ins->hdr));
		/* No address to tell (a family neither IPv4 nor IPv6): LOCAL. */
		if (ins->hdrlen == 0)
			ins->hdrlen = proxyproto_build(v, NULL, NULL, ins->hdr,
			    sizeof(ins->hdr));
	}
	s->state = S_PREFACE;
	session_preface_write(s);
}

static void
session_on_target(struct loop *l, int fd, short revents, void *arg)
{
	struct session *s = arg;

	(void)l;
	if (s->state == S_CONNECTING) {
		if (revents & (POLLOUT | POLLERR | POLLHUP | POLLNVAL))
			session_connected(s, revents);
		return;
	}
	if (s->state == S_PREFACE) {
		if (revents & POLLNVAL)
			session_local_error(s, ENOSPC);
		else if (revents & (POLLOUT | POLLERR | POLLHUP))
			session_preface_write(s);
		return;
	}
	relay_on_ready(&s->relay, fd, revents);
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
	case S_INSPECT:
		session_reject(s, PROXY_REJ_TIMEOUT, "inspect-timeout");
		break;
	case S_QUEUED:
		session_unavailable(s, "queue-timeout");
		break;
	case S_CONNECTING:
	case S_PREFACE:
		session_connect_failed(s, "timeout");
		break;
	case S_RELAY:
		idle = s->px->params.idle_timeout_ms;
		if (idle <= 0)
			break;
		left = relay_last_active(&s->relay) + idle - loop_now(s->px->loop);
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
	s->connect_at = loop_now(px->loop);
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

void
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

/* --- accepting --------------------------------------------------------- */

static bool
trusted(const struct proxy *px, const struct sockaddr *sa)
{
	for (size_t i = 0; i < px->params.naccept_proxy; i++)
		if (net_cidr_match(&px->params.accept_proxy[i], sa))
			return true;
	return false;
}

/*
 * A new client, with its PROXY_SESSION_FDS budget units taken by the
 * acceptor: served while a slot is free, else queued; with --queue-max 0
 * there is no queue, and it is refused at once.
 */
void
session_accept(void *arg, int fd, const struct sockaddr *sa, socklen_t len)
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
	relay_init(&s->relay);
	if (len > sizeof(s->client))
		len = sizeof(s->client);	/* never: accept gives IPv4 or IPv6 */
	memcpy(&s->client, sa, len);
	s->tried = s->tried_inline;
	s->tried_cap = sizeof(s->tried_inline) / sizeof(s->tried_inline[0]);
	s->started = loop_now(px->loop);
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
	if (px->params.naccept_proxy > 0 && !trusted(px, sa)) {
		session_reject(s, PROXY_REJ_UNTRUSTED, "not a trusted network");
		return;
	}
	if (px->params.naccept_proxy > 0 || px->params.sni) {
		if (inspect_begin(s) == -1) {
			session_close(s, "error");
			return;
		}
		s->state = S_INSPECT;
		loop_set_events(px->loop, fd, POLLIN);
		loop_timer_add(px->loop, &s->timer, px->params.inspect_timeout_ms);
		return;
	}
	session_admit(s);
}

void
session_admit(struct session *s)
{
	struct proxy *px = s->px;

	if (proxy_slot_free(px) && px->nqueued == 0) {
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
