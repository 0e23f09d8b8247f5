/*
 * admin: see admin.h.
 *
 * libmicrohttpd calls admin_on_request, its access handler, at three
 * moments of a request: the headers (route it; refuse an announced
 * oversized body at once), each body chunk (kept up to API_BODY_MAX, the
 * rest drained and answered 413), and the end, which answers. Answering only at the end keeps the
 * connection alive; answering on the first call makes MHD close it.
 *
 * Requests must arrive whole in time: libmicrohttpd's timeout is one of
 * inactivity, which a header line every few seconds never triggers, and in
 * epoll mode it misses a peer's FIN that came with the last data (after a
 * short read it waits for an edge that never comes). So admin tracks every
 * connection (MHD_OPTION_NOTIFY_CONNECTION) and keeps those receiving a
 * request, from its start or the end of the previous one until the request
 * is complete, in a FIFO that is also deadline order. A timer every
 * ADMIN_SWEEP_MS shuts down the socket of each one past its deadline, or
 * whose peer has closed with nothing left to read (a poll(2) with no wait
 * over them), and MHD then sees the end and closes it. When all
 * conn_max slots are taken, a new connection shuts down the oldest one still
 * receiving, so a client with a whole request is served during a slowloris.
 *
 * Event streams are sse.c's, static files webroot.c's: admin routes to
 * them, answers their refusals, and lends sse.c the two things only the
 * glue knows, running MHD and which connections' peers have gone.
 *
 * Connections come through our own accept path (acceptor.h), like every
 * other listener's: MHD runs with no listen socket of its own and is handed
 * each connection with MHD_add_connection. So the admin port draws on its
 * own share of the fd budget (two units a connection: its socket and a
 * file it may send), pauses on EMFILE instead of spinning, and MHD never
 * sits in its at-limit state with its listen socket dropped.
 */
#include "autoconfig.h"

#include <sys/ioctl.h>
#include <sys/queue.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "admin/admin.h"
#include "admin/api.h"
#include "admin/sse.h"
#include "admin/webroot.h"
#include "common/addr.h"
#include "common/log.h"
#include "config.h"
#include "core/acceptor.h"
#include "core/loop.h"
#include "core/net.h"
#include "registry/pool.h"

#define ADMIN_RUN_MAX_MS	60000	/* MHD's timeouts are 15 s anyway */
#define ADMIN_LOG_BURST		5	/* MHD messages per window ... */
#define ADMIN_LOG_WINDOW_MS	10000	/* ... the rest are counted */
#define ADMIN_BODY_CHUNK	1024
#define ADMIN_CONN_FDS		2	/* budget units: socket, file sent */
#define ADMIN_ACCEPT_BATCH	16
#define ADMIN_BACKLOG		128
#ifndef POLLRDHUP
#define POLLRDHUP	0	/* Linux's; POLLIN with nothing to read says it too */
#endif
#define ADMIN_SWEEP_MS		250	/* deadlines and closed peers checked */

/* A connection of the MHD daemon (its socket_context). */
struct admin_conn {
	TAILQ_ENTRY(admin_conn)	 entry;		/* in ad->receiving */
	struct MHD_Connection	*conn;
	int			 fd;		/* MHD's; valid until NOTIFY_CLOSED */
	int64_t			 deadline;	/* loop ms: the request is whole by then */
	bool			 receiving;
	bool			 shut;		/* shut down: MHD closes it next */
};
TAILQ_HEAD(admin_conns, admin_conn);

struct admin_req {
	bool			 started;	/* the headers call has been */
	bool			 nul_in_uri;	/* "%00": MHD would cut the path there */
	struct api_route	 route;
	char			*body;		/* NUL-terminated */
	size_t			 len;
	size_t			 cap;
	bool			 too_big;
};

struct admin {
	struct api_env		 env;
	struct api_service	 one;		/* admin_params' parts, until told */
	struct loop		*loop;
	struct MHD_Daemon	*d;
	struct acceptor		*acc;
	struct fdbudget		*budget;
	int			 epoll_fd;
	int			 web_fd;
	unsigned		 conn_max;
	unsigned		 conn_per_ip;
	unsigned		 timeout_s;
	bool			 stopping;

	/* MHD's messages: all of them while starting, then rate-limited. */
	bool			 starting;
	char			 start_err[256];
	int64_t			 log_window;
	unsigned		 log_count;
	unsigned		 log_dropped;

	uint16_t		 port;		/* bound: what a Host may name */

	/* Connections receiving a request, oldest (first deadline) first. */
	struct admin_conns	 receiving;
	size_t			 nreceiving;
	size_t			 nconns;	/* all, as MHD counts them */
	struct pollfd		*sweep_fds;	/* conn_max + ADMIN_CONN_SPARE */
	struct admin_conn	**sweep_conns;
	struct loop_timer	 sweep_timer;

	struct loop_timer	 run_timer;	/* MHD_get_timeout is due */
	struct sse		*sse;
};

static char empty_body[1];

/* --- MHD in our loop ----------------------------------------------------- */

static void
admin_run(struct admin *ad)
{
	if (ad->d != NULL)
		(void)MHD_run(ad->d);
}

static void
admin_on_epoll(struct loop *l, int fd, short revents, void *arg)
{
	(void)l;
	(void)fd;
	(void)revents;
	admin_run(arg);
}

static int64_t
admin_on_run_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	(void)l;
	(void)t;
	admin_run(arg);
	return LOOP_TIMER_STOP;
}

/*
 * Before each poll: MHD may need to run without any event on its epoll fd
 * (timeouts, and edge-triggered sockets it left data on), so its timeout
 * arms a timer that runs it, and shortens this poll.
 */
static int64_t
admin_prepare(struct loop *l, void *arg)
{
	struct admin *ad = arg;
	MHD_UNSIGNED_LONG_LONG to;

	if (ad->d == NULL || MHD_get_timeout(ad->d, &to) != MHD_YES) {
		loop_timer_cancel(l, &ad->run_timer);
		return -1;
	}
	if (to > ADMIN_RUN_MAX_MS)
		to = ADMIN_RUN_MAX_MS;
	loop_timer_add(l, &ad->run_timer, (int64_t)to);
	return (int64_t)to;
}

static void
admin_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((__format__(__printf__, 2, 0)));

static void
admin_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct admin *ad = cls;
	char msg[256];
	size_t n;
	int64_t now;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	if (ad->starting) {
		snprintf(ad->start_err, sizeof(ad->start_err), "%s", msg);
		return;
	}
	/* A peer can make MHD complain at will: never let it flood the log. */
	now = loop_now(ad->loop);
	if (now - ad->log_window >= ADMIN_LOG_WINDOW_MS) {
		if (ad->log_dropped > 0)
			log_warnx("http: %u more libmicrohttpd messages not shown",
			    ad->log_dropped);
		ad->log_window = now;
		ad->log_count = 0;
		ad->log_dropped = 0;
	}
	if (ad->log_count++ < ADMIN_LOG_BURST)
		log_warnx("http: %s", msg);
	else
		ad->log_dropped++;
}

/* --- connections: request deadlines, closed peers ------------------------- */

/* MHD sees the end at its next read and closes the connection itself. */
static void
conn_shut(struct admin *ad, struct admin_conn *ac)
{
	if (ac->receiving) {
		TAILQ_REMOVE(&ad->receiving, ac, entry);
		ad->nreceiving--;
		ac->receiving = false;
	}
	if (!ac->shut && shutdown(ac->fd, SHUT_RDWR) == -1 && errno != ENOTCONN)
		log_warn("http: shutdown");
	ac->shut = true;
}

static void
conn_receiving(struct admin *ad, struct admin_conn *ac, bool on)
{
	if (ac == NULL || ac->shut || ac->receiving == on)
		return;
	ac->receiving = on;
	if (on) {
		ac->deadline = loop_now(ad->loop) + (int64_t)ad->timeout_s * 1000;
		TAILQ_INSERT_TAIL(&ad->receiving, ac, entry);
		ad->nreceiving++;
		if (!loop_timer_armed(&ad->sweep_timer))
			loop_timer_add(ad->loop, &ad->sweep_timer, ADMIN_SWEEP_MS);
	} else {
		TAILQ_REMOVE(&ad->receiving, ac, entry);
		ad->nreceiving--;
	}
}

/* The socket context of a connection admin could not keep a record of. */
static struct admin_conn untracked;

static struct admin_conn *
conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci == NULL || ci->socket_context == &untracked)
		return NULL;
	return ci->socket_context;
}

/*
 * MHD's word that it has a connection, and that it closed it: the fd
 * budget counts it in between (the units the acceptor took only carry it
 * there), and so does admin's record.
 */
static void
admin_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode code)
{
	struct admin *ad = cls;
	struct admin_conn *ac = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (ac == NULL)
			return;
		fdbudget_give(ad->budget, FD_USER_ADMIN, ADMIN_CONN_FDS);
		ad->nconns--;
		if (ac != &untracked) {
			conn_receiving(ad, ac, false);
			free(ac);
		}
		*socket_context = NULL;
		return;
	}
	fdbudget_charge(ad->budget, FD_USER_ADMIN, ADMIN_CONN_FDS);
	ad->nconns++;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci == NULL || (ac = calloc(1, sizeof(*ac))) == NULL) {
		/* No record: MHD's own idle timeout still ends it. */
		*socket_context = &untracked;
		return;
	}
	ac->conn = c;
	ac->fd = ci->connect_fd;
	*socket_context = ac;
	/* Every slot taken: the oldest request still trickling in gives way. */
	if (ad->nconns > ad->conn_max && !TAILQ_EMPTY(&ad->receiving))
		conn_shut(ad, TAILQ_FIRST(&ad->receiving));
	conn_receiving(ad, ac, true);
}

/*
 * After a poll(2) for POLLIN | POLLRDHUP: the peer has closed or reset.
 * Readable with nothing to read is the end; unread bytes may still
 * complete a request: MHD's turn.
 */
static bool
peer_gone(const struct pollfd *p)
{
	int avail;

	if (p->revents == 0)
		return false;
	if (p->revents & (POLLHUP | POLLERR))
		return true;
	return ioctl(p->fd, FIONREAD, &avail) == 0 && avail == 0;
}

static int64_t
admin_on_sweep(struct loop *l, struct loop_timer *t, void *arg)
{
	struct admin *ad = arg;
	struct admin_conn *ac;
	int64_t now = loop_now(l);
	size_t n = 0, max = ad->conn_max + ADMIN_CONN_SPARE;
	bool shut = false;

	(void)t;
	while ((ac = TAILQ_FIRST(&ad->receiving)) != NULL && ac->deadline <= now) {
		conn_shut(ad, ac);
		shut = true;
	}
	TAILQ_FOREACH(ac, &ad->receiving, entry) {
		if (n == max)
			break;
		ad->sweep_fds[n] = (struct pollfd){ .fd = ac->fd,
		    .events = POLLIN | POLLRDHUP };
		ad->sweep_conns[n++] = ac;
	}
	/* No wait: only what the kernel knows already. */
	if (n > 0 && poll(ad->sweep_fds, (nfds_t)n, 0) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (!peer_gone(&ad->sweep_fds[i]))
				continue;
			conn_shut(ad, ad->sweep_conns[i]);
			shut = true;
		}
	}
	if (shut)
		admin_run(ad);
	return ad->nreceiving > 0 ? ADMIN_SWEEP_MS : LOOP_TIMER_STOP;
}

/* --- what sse.c borrows ---------------------------------------------------- */

static void
admin_on_sse_run(void *arg)
{
	admin_run(arg);
}

/* Suspended streams, which MHD does not watch: those whose peer has gone. */
static void
admin_on_sse_reap(void *arg, struct MHD_Connection *const *conns, size_t n,
    bool *gone)
{
	struct admin *ad = arg;
	struct pollfd fds[SSE_MAX];
	struct admin_conn *acs[SSE_MAX], *ac;
	size_t m = 0, at[SSE_MAX];

	for (size_t i = 0; i < n && m < SSE_MAX; i++) {
		if ((ac = conn_of(conns[i])) == NULL)
			continue;
		fds[m] = (struct pollfd){ .fd = ac->fd, .events = POLLIN | POLLRDHUP };
		acs[m] = ac;
		at[m++] = i;
	}
	if (m == 0 || poll(fds, (nfds_t)m, 0) <= 0)
		return;
	for (size_t i = 0; i < m; i++) {
		if (!peer_gone(&fds[i]))
			continue;
		gone[at[i]] = true;
		conn_shut(ad, acs[i]);
	}
}

/* --- replies ------------------------------------------------------------- */

static void
add_header(struct MHD_Response *r, const char *name, const char *value)
{
	/* Fails only for bad header text or no memory; nothing to undo. */
	(void)MHD_add_response_header(r, name, value);
}

static enum MHD_Result
send_reply(struct MHD_Connection *c, struct api_reply *rp)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (rp->body != NULL) {
		r = MHD_create_response_from_buffer(rp->len, rp->body,
		    MHD_RESPMEM_MUST_FREE);
		if (r == NULL) {
			api_reply_free(rp);
			return MHD_NO;
		}
		rp->body = NULL;	/* MHD frees it */
	} else if ((r = MHD_create_response_from_buffer(0, empty_body,
	    MHD_RESPMEM_PERSISTENT)) == NULL)
		return MHD_NO;
	if (rp->content_type != NULL)
		add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rp->content_type);
	add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	add_header(r, "X-Content-Type-Options", "nosniff");
	if (rp->allow != NULL)
		add_header(r, MHD_HTTP_HEADER_ALLOW, rp->allow);
	if (rp->challenge)
		add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"harmony\"");
	if (rp->location[0] != '\0')
		add_header(r, MHD_HTTP_HEADER_LOCATION, rp->location);
	ret = MHD_queue_response(c, (unsigned)rp->status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
reply_error(struct MHD_Connection *c, int status, const char *reason)
{
	struct api_reply rp;

	memset(&rp, 0, sizeof(rp));
	api_reply_error(&rp, status, reason);
	return send_reply(c, &rp);
}

static const struct sockaddr *
peer_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	return ci != NULL ? ci->client_addr : NULL;
}

static const char *
header(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

static enum MHD_Result
serve_api(struct admin *ad, struct MHD_Connection *c, struct admin_req *rq)
{
	struct api_request req;
	struct api_reply rp;

	req = (struct api_request){
		.route = &rq->route,
		.peer = peer_of(c),
		.authorization = header(c, MHD_HTTP_HEADER_AUTHORIZATION),
		.content_type = header(c, MHD_HTTP_HEADER_CONTENT_TYPE),
		.origin = header(c, MHD_HTTP_HEADER_ORIGIN),
		.host = header(c, MHD_HTTP_HEADER_HOST),
		.body = rq->body,
		.body_len = rq->len,
		.limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit"),
	};
	api_handle(&ad->env, &req, &rp);
	return send_reply(c, &rp);
}

/* --- the Host header ----------------------------------------------------- */

/* The host part of a listen text "[ADDR:]PORT", or NULL if it has none. */
static const char *
listen_name(const char *text, char *buf, size_t buflen)
{
	char err[128];
	const char *port;

	/* "ADDR:PORT" names its host; a bare "PORT" does not. */
	if (text == NULL || addr_split(text, buf, buflen, &port, err, sizeof(err)) == -1 ||
	    port == NULL)
		return NULL;
	return buf;
}

static bool
host_ok(struct admin *ad, const char *host)
{
	const struct config *cfg = ad->env.cfg;
	char name[256];
	struct api_hosts hs = {
		.names = (const char *const *)cfg->admin_hosts,
		.nnames = cfg->nadmin_hosts,
		.self = pool_self(ad->env.services[0].pool),
		.port = ad->port,
	};

	hs.listen_name = listen_name(cfg->http, name, sizeof(name));
	if (hs.listen_name == NULL)
		hs.listen_name = cfg->host;
	return api_host_ok(host, &hs);
}

/* --- static files and event streams -------------------------------------- */

static enum MHD_Result
serve_static(struct admin *ad, struct MHD_Connection *c, const char *url)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	const char *reason;
	unsigned status;

	if ((r = webroot_response(ad->web_fd, c, url, &status, &reason)) == NULL)
		return status != 0 ? reply_error(c, (int)status, reason) : MHD_NO;
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
serve_events(struct admin *ad, struct MHD_Connection *c, const char *method)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (ad->stopping)
		return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down");
	if (strcmp(method, "HEAD") == 0) {
		struct api_reply rp = { .status = MHD_HTTP_OK,
		    .content_type = "text/event-stream" };

		return send_reply(c, &rp);
	}
	if (sse_full(ad->sse))
		return reply_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
		    "too many event subscribers");
	if ((r = sse_subscribe(ad->sse, c)) == NULL)
		return MHD_NO;
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);	/* if queueing failed, this ends the subscriber */
	return ret;
}

/* --- requests ------------------------------------------------------------ */

static bool
body_append(struct admin_req *rq, const char *data, size_t n)
{
	size_t ncap;
	char *np;

	if (rq->too_big)
		return false;
	if (n > API_BODY_MAX - rq->len) {
		rq->too_big = true;	/* keep draining; answer 413 at the end */
		free(rq->body);
		rq->body = NULL;
		rq->len = rq->cap = 0;
		return false;
	}
	if (rq->len + n + 1 > rq->cap) {
		ncap = rq->cap ? rq->cap : ADMIN_BODY_CHUNK;
		while (ncap < rq->len + n + 1)
			ncap *= 2;
		if ((np = realloc(rq->body, ncap)) == NULL)
			return false;
		rq->body = np;
		rq->cap = ncap;
	}
	memcpy(rq->body + rq->len, data, n);
	rq->len += n;
	rq->body[rq->len] = '\0';
	return true;
}

static bool
length_too_big(const char *cl)
{
	unsigned long long v = 0;

	for (; *cl >= '0' && *cl <= '9'; cl++) {
		v = v * 10 + (unsigned long long)(*cl - '0');
		if (v > API_BODY_MAX)
			return true;
	}
	return false;
}

/* An answer on the headers call: the request is no longer awaited. */
static enum MHD_Result
reply_now(struct admin *ad, struct MHD_Connection *c, int status, const char *reason)
{
	conn_receiving(ad, conn_of(c), false);
	return reply_error(c, status, reason);
}

static enum MHD_Result
admin_on_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct admin *ad = cls;
	struct admin_req *rq = *con_cls;
	const char *cl, *host;

	(void)version;
	if (rq == NULL || !rq->started) {
		if (rq == NULL && (rq = calloc(1, sizeof(*rq))) == NULL)
			return MHD_NO;
		*con_cls = rq;
		rq->started = true;
		host = header(c, MHD_HTTP_HEADER_HOST);
		cl = header(c, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (rq->nul_in_uri)
			return reply_now(ad, c, MHD_HTTP_BAD_REQUEST, "NUL in the URL");
		if (!host_ok(ad, host)) {
			char reason[API_ERR_MAX], shown[104];

			log_debug("http: %s %s: Host '%s' refused", method, url, host);
			(void)log_escape(shown, sizeof(shown), host, strlen(host));
			snprintf(reason, sizeof(reason), "Host '%s' is not a name"
			    " of this server (see --admin-host)", shown);
			return reply_now(ad, c, MHD_HTTP_MISDIRECTED_REQUEST, reason);
		}
		api_route(method, url, &rq->route);
		/* Refused before a byte of it is read (no 100 Continue). */
		if (cl != NULL && length_too_big(cl))
			return reply_now(ad, c, MHD_HTTP_CONTENT_TOO_LARGE,
			    "body larger than 65536 bytes");
		return MHD_YES;
	}
	if (*upload_size != 0) {
		if (!body_append(rq, upload, *upload_size) && !rq->too_big)
			return MHD_NO;		/* out of memory: drop it */
		*upload_size = 0;
		return MHD_YES;
	}
	/* The request is whole: no deadline while it is answered. */
	conn_receiving(ad, conn_of(c), false);
	if (rq->too_big)
		return reply_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
		    "body larger than 65536 bytes");
	log_debug("http: %s %s (%s)", method, url, api_handler_name(rq->route.handler));
	switch (rq->route.handler) {
	case API_STATIC:
		return serve_static(ad, c, url);
	case API_EVENTS:
		return serve_events(ad, c, method);
	default:
		return serve_api(ad, c, rq);
	}
}

/*
 * Sees the URI before MHD decodes it: a "%00" would silently cut the path
 * short ("/index.html%00.css" is "/index.html" to the handler).
 */
static void *
admin_on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct admin_req *rq;
	const char *p;

	(void)cls;
	(void)c;
	if ((rq = calloc(1, sizeof(*rq))) == NULL)
		return NULL;
	for (p = uri; (p = strchr(p, '%')) != NULL; p++)
		if (p[1] == '0' && p[2] == '0')
			rq->nul_in_uri = true;
	return rq;
}

static void
admin_on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct admin *ad = cls;
	struct admin_req *rq = *con_cls;

	/* Kept alive: the next request has its own deadline. */
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		conn_receiving(ad, conn_of(c), true);
	if (rq != NULL) {
		free(rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

/* --- accepting ----------------------------------------------------------- */


static void
admin_on_accept(void *arg, int fd, const struct sockaddr *sa, socklen_t len)
{
	struct admin *ad = arg;

	/* MHD closes fd in any case: over its limits, or out of memory. */
	if (MHD_add_connection(ad->d, fd, sa, len) != MHD_YES)
		log_debug("http: connection not taken: %s", strerror(errno));
	fdbudget_give(ad->budget, FD_USER_ADMIN, ADMIN_CONN_FDS);
}

/* --- life ---------------------------------------------------------------- */

struct admin *
admin_new(const struct admin_params *p)
{
	struct admin *ad;

	if ((ad = calloc(1, sizeof(*ad))) == NULL)
		return NULL;
	ad->one = (struct api_service){
		.name = pool_name(p->pool),
		.cfg = cfg_default_service(p->cfg) != NULL ?
		    cfg_default_service(p->cfg) : p->cfg,
		.pool = p->pool,
		.balancer = p->balancer,
		.persist = p->persist,
		.proxy = p->proxy,
	};
	ad->env = (struct api_env){
		.cfg = p->cfg,
		.loop = p->loop,
		.services = &ad->one,
		.nservices = 1,
		.started_ms = loop_now(p->loop),
	};
	ad->loop = p->loop;
	ad->budget = p->budget;
	ad->epoll_fd = -1;
	ad->web_fd = -1;
	ad->conn_max = p->conn_max ? p->conn_max : ADMIN_CONN_MAX;
	ad->conn_per_ip = p->conn_per_ip ? p->conn_per_ip : ADMIN_CONN_PER_IP;
	ad->timeout_s = p->timeout_s ? p->timeout_s : ADMIN_TIMEOUT_S;
	TAILQ_INIT(&ad->receiving);
	ad->sweep_fds = calloc(ad->conn_max + ADMIN_CONN_SPARE, sizeof(*ad->sweep_fds));
	ad->sweep_conns = calloc(ad->conn_max + ADMIN_CONN_SPARE,
	    sizeof(*ad->sweep_conns));
	ad->sse = sse_new(ad->loop, &ad->env, &(struct sse_hooks){
	    .run = admin_on_sse_run, .reap = admin_on_sse_reap, .arg = ad });
	if (ad->sweep_fds == NULL || ad->sweep_conns == NULL || ad->sse == NULL) {
		sse_free(ad->sse);
		free(ad->sweep_fds);
		free(ad->sweep_conns);
		free(ad);
		return NULL;
	}
	loop_timer_init(&ad->sweep_timer, admin_on_sweep, ad);
	loop_timer_init(&ad->run_timer, admin_on_run_timer, ad);
	return ad;
}

int
admin_listen(struct admin *ad, const struct net_addr *a, struct net_addr *bound,
    char *err, size_t errlen)
{
	const union MHD_DaemonInfo *di;
	unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
	    MHD_USE_NO_LISTEN_SOCKET;
	struct net_addr local;
	char text[NET_ADDRSTRLEN];
	int lfd;

	if (ad->d != NULL) {
		snprintf(err, errlen, "the admin interface listens already");
		return -1;
	}
	if ((lfd = net_listen(a, ADMIN_BACKLOG, NET_LISTEN_REUSEPORT, err, errlen)) == -1)
		return -1;
	if (net_local_addr(lfd, &local) == -1)
		local = *a;
	if (bound != NULL)
		*bound = local;
	ad->port = net_addr_port((const struct sockaddr *)&local.ss);
	ad->starting = true;
	ad->start_err[0] = '\0';
	ad->d = MHD_start_daemon(flags, 0, NULL, NULL, admin_on_request, ad,
	    MHD_OPTION_EXTERNAL_LOGGER, admin_mhd_log, ad,
	    MHD_OPTION_SIGPIPE_HANDLED_BY_APP, (int)1,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(ad->conn_max + ADMIN_CONN_SPARE),
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)ad->conn_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)ad->timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)ADMIN_MEMORY_LIMIT,
	    MHD_OPTION_NOTIFY_COMPLETED, admin_on_completed, ad,
	    MHD_OPTION_NOTIFY_CONNECTION, admin_on_connection, ad,
	    MHD_OPTION_URI_LOG_CALLBACK, admin_on_uri, ad,
	    MHD_OPTION_END);
	ad->starting = false;
	if (ad->d == NULL) {
		snprintf(err, errlen, "cannot listen on %s: %s",
		    net_addr_text((const struct sockaddr *)&a->ss, text, sizeof(text)),
		    ad->start_err[0] != '\0' ? ad->start_err : "libmicrohttpd failed");
		close(lfd);
		return -1;
	}
	if ((di = MHD_get_daemon_info(ad->d, MHD_DAEMON_INFO_EPOLL_FD)) == NULL ||
	    (ad->epoll_fd = di->epoll_fd) < 0 ||
	    loop_watch(ad->loop, ad->epoll_fd, POLLIN, admin_on_epoll, ad) == -1) {
		snprintf(err, errlen, "cannot watch libmicrohttpd's epoll fd: %s",
		    strerror(errno));
		MHD_stop_daemon(ad->d);
		ad->d = NULL;
		ad->epoll_fd = -1;
		close(lfd);
		return -1;
	}
	ad->acc = acceptor_new(ad->loop, lfd, &(struct acceptor_params){
	    .what = "http", .budget = ad->budget, .user = FD_USER_ADMIN,
	    .need = ADMIN_CONN_FDS, .batch = ADMIN_ACCEPT_BATCH,
	    .on_accept = admin_on_accept, .arg = ad });
	if (ad->acc == NULL) {
		snprintf(err, errlen, "admin listener: %s", strerror(errno));
		loop_unwatch(ad->loop, ad->epoll_fd);
		MHD_stop_daemon(ad->d);
		ad->d = NULL;
		ad->epoll_fd = -1;
		return -1;
	}
	loop_set_prepare(ad->loop, admin_prepare, ad);
	ad->web_fd = webroot_open(ad->env.cfg->web_root);
	return 0;
}

void
admin_stop(struct admin *ad)
{
	if (ad == NULL || ad->d == NULL || ad->stopping)
		return;
	ad->stopping = true;
	acceptor_free(ad->acc);
	ad->acc = NULL;
	sse_close_all(ad->sse);
}

void
admin_free(struct admin *ad)
{
	if (ad == NULL)
		return;
	if (ad->d != NULL) {
		/*
		 * MHD panics when stopped with a suspended connection: end
		 * every stream (they get their chunked terminator if they
		 * can take it), then stop, which frees the rest.
		 */
		acceptor_free(ad->acc);
		ad->acc = NULL;
		sse_close_all(ad->sse);
		loop_set_prepare(ad->loop, NULL, NULL);
		loop_unwatch(ad->loop, ad->epoll_fd);
		MHD_stop_daemon(ad->d);
		ad->d = NULL;
	}
	loop_timer_cancel(ad->loop, &ad->run_timer);
	loop_timer_cancel(ad->loop, &ad->sweep_timer);
	free(ad->sweep_fds);
	free(ad->sweep_conns);
	if (ad->web_fd != -1)
		close(ad->web_fd);
	sse_free(ad->sse);
	free(ad);
}

size_t
admin_subscribers(const struct admin *ad)
{
	return sse_subscribers(ad->sse);
}

uint64_t
admin_config_version(const struct admin *ad)
{
	return ad->env.config_gen;
}

void
admin_set_services(struct admin *ad, const struct api_service *all, size_t n,
    size_t default_index)
{
	ad->env.services = all;
	ad->env.nservices = n;
	ad->env.default_index = default_index;
	ad->env.config_gen++;
}
