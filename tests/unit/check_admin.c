/*
 * Unit tests for the admin glue (admin.c, with sse.c and webroot.c): the
 * real admin interface inside a real loop (core/loop.h), libmicrohttpd on
 * a loopback listener, and plain non-blocking sockets from the test. The
 * test is the only thread: it pumps the loop (loop_run_once, 10 ms at a
 * time) while it waits for an answer, and every wait has a deadline.
 *
 * What is pinned: routing reaches MHD as the status (404, 405 with Allow);
 * the admin token (missing, wrong, right); the Host check (421); the
 * request deadline (a request trickling in for longer than the timeout is
 * closed, though MHD's own timeout is one of inactivity); a peer that
 * closes with its request unfinished, or while its event stream is
 * suspended, is released at once, not at a timeout; an event subscriber
 * gets the retry line, the snapshot and the next one after a change;
 * subscribers are bounded (SSE_MAX, then 503) and one that never reads is
 * dropped once nothing can be written to it for the timeout; and the web
 * root's rules (no "..", no hidden names, no symbolic link anywhere on the
 * path, regular files only, ETag revalidation, no "%00").
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "admin/admin.h"
#include "admin/sse.h"
#include "core/acceptor.h"
#include "core/loop.h"
#include "core/net.h"
#include "registry/pool.h"
#include "tests/unit/world.h"

#define TOKEN		"0123456789abcdef-admin-token"
#define ADMIN_SHARE	200		/* fd budget units of the admin port */

/* The daemon's parts (world.h) and an admin interface over them. */
struct site {
	struct world	 parts;
	struct fdbudget	*budget;
	struct admin	*admin;
	uint16_t	 port;
};

/* No web root unless the test names one. */
static void
site_init(struct site *w, const char *token, unsigned timeout_s, const char *web_root)
{
	const size_t caps[FD_USER_COUNT] = { 0, 0, ADMIN_SHARE };
	struct net_addr a, bound;
	char err[256];

	memset(w, 0, sizeof(*w));
	world_init(&w->parts, token);
	free(w->parts.cfg.web_root);
	w->parts.cfg.web_root = web_root != NULL ? strdup(web_root) : NULL;
	ck_assert_ptr_nonnull(w->budget = fdbudget_new());
	fdbudget_share(w->budget, caps, 0);
	ck_assert_uint_eq(fdbudget_left(w->budget, FD_USER_ADMIN), ADMIN_SHARE);
	w->admin = admin_new(&(struct admin_params){ .cfg = &w->parts.cfg,
	    .loop = w->parts.loop, .pool = w->parts.pool, .balancer = w->parts.balancer,
	    .persist = w->parts.persist, .proxy = w->parts.proxy, .budget = w->budget,
	    .timeout_s = timeout_s });
	ck_assert_ptr_nonnull(w->admin);
	ck_assert_int_eq(net_resolve_numeric("127.0.0.1", 0, &a, err, sizeof(err)), 0);
	ck_assert_msg(admin_listen(w->admin, &a, &bound, err, sizeof(err)) == 0, "%s", err);
	w->port = net_addr_port((const struct sockaddr *)&bound.ss);
	ck_assert_uint_ne(w->port, 0);
}

static void
site_free(struct site *w)
{
	admin_free(w->admin);
	fdbudget_free(w->budget);
	world_free(&w->parts);
}

/* Admin connections open now, as the fd budget counts them. */
static size_t
admin_conns(const struct site *w)
{
	return (ADMIN_SHARE - fdbudget_left(w->budget, FD_USER_ADMIN)) / 2;
}

static void
pump(struct site *w, int64_t ms)
{
	int64_t end = loop_clock_monotonic_ms() + ms;

	while (loop_clock_monotonic_ms() < end)
		ck_assert_int_ne(loop_run_once(w->parts.loop, 10), -1);
}

/* --- a client ------------------------------------------------------------ */

struct client {
	int	 fd;
	char	*buf;		/* what came, NUL-terminated */
	size_t	 len;
	size_t	 cap;
	bool	 eof;		/* closed or reset by the server */
};

/* Connects (the kernel completes a loopback handshake by itself). */
static void
cl_open_rcvbuf(struct site *w, struct client *c, int rcvbuf)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(w->port) };

	memset(c, 0, sizeof(*c));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), 0);
	if (rcvbuf > 0)
		ck_assert_int_eq(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf)), 0);
	ck_assert_int_eq(connect(c->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_ne(fcntl(c->fd, F_SETFL, O_NONBLOCK), -1);
	c->cap = 4096;
	ck_assert_ptr_nonnull(c->buf = calloc(1, c->cap));
}

static void
cl_open(struct site *w, struct client *c)
{
	cl_open_rcvbuf(w, c, 0);
}

static void
cl_close(struct client *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

static void
cl_send(struct client *c, const char *text)
{
	size_t n = strlen(text);

	/* A few hundred bytes: a loopback socket takes them at once. */
	ck_assert_int_eq(send(c->fd, text, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Reads what is there; false once the server has closed. */
static bool
cl_read(struct client *c)
{
	ssize_t n;

	while (!c->eof) {
		if (c->cap - c->len < 65536) {
			c->cap = c->cap * 2 + 65536;
			ck_assert_ptr_nonnull(c->buf = realloc(c->buf, c->cap));
		}
		n = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
		if (n > 0) {
			c->len += (size_t)n;
			c->buf[c->len] = '\0';
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			c->eof = true;
		else
			break;
	}
	return !c->eof;
}

typedef bool	cl_done_fn(const struct client *, const void *arg);

/* Pumps the loop and reads until done or ms have passed; true if done. */
static bool
cl_wait(struct site *w, struct client *c, cl_done_fn *done, const void *arg, int64_t ms)
{
	int64_t end = loop_clock_monotonic_ms() + ms;

	for (;;) {
		(void)cl_read(c);
		if (done(c, arg))
			return true;
		if (loop_clock_monotonic_ms() >= end)
			return false;
		ck_assert_int_ne(loop_run_once(w->parts.loop, 10), -1);
	}
}

static bool
done_eof(const struct client *c, const void *arg)
{
	(void)arg;
	return c->eof;
}

static bool
done_text(const struct client *c, const void *arg)
{
	return strstr(c->buf, arg) != NULL;
}

/* A whole response with a Content-Length (or one the server closed). */
static bool
done_response(const struct client *c, const void *arg)
{
	const char *end = strstr(c->buf, "\r\n\r\n"), *cl;

	(void)arg;
	if (c->eof)
		return true;
	if (end == NULL)
		return false;
	if ((cl = strcasestr(c->buf, "\r\nContent-Length:")) == NULL || cl > end)
		return false;
	return c->len >= (size_t)(end + 4 - c->buf) + strtoul(cl + 17, NULL, 10);
}

struct response {
	int	 status;
	char	 head[4096];
	char	 body[4096];
};

/* One request on a connection of its own: its response. */
static void
request(struct site *w, const char *text, struct response *r)
{
	struct client c;
	const char *end;

	memset(r, 0, sizeof(*r));
	cl_open(w, &c);
	cl_send(&c, text);
	ck_assert_msg(cl_wait(w, &c, done_response, NULL, 5000), "no response to %s", text);
	ck_assert_msg(sscanf(c.buf, "HTTP/1.%*d %d", &r->status) == 1, "not HTTP: %s", c.buf);
	if ((end = strstr(c.buf, "\r\n\r\n")) != NULL) {
		snprintf(r->head, sizeof(r->head), "%.*s", (int)(end - c.buf), c.buf);
		snprintf(r->body, sizeof(r->body), "%s", end + 4);
	}
	cl_close(&c);
}

static int
get(struct site *w, const char *path, struct response *r)
{
	char text[512];

	snprintf(text, sizeof(text), "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n\r\n",
	    path, w->port);
	request(w, text, r);
	return r->status;
}

/* --- routing, auth, Host -------------------------------------------------- */

START_TEST(test_routing)
{
	struct site w;
	struct response r;
	char text[256];

	site_init(&w, NULL, 0, NULL);
	ck_assert_int_eq(get(&w, "/api/v1/status", &r), 200);
	ck_assert_ptr_nonnull(strstr(r.head, "application/json"));
	ck_assert_ptr_nonnull(strstr(r.body, "\"version\""));
	ck_assert_int_eq(get(&w, "/api/v1/nothing-here", &r), 404);
	ck_assert_ptr_nonnull(strstr(r.body, "\"error\""));
	ck_assert_int_eq(get(&w, "/api/v1/targets/99", &r), 404);
	/* No web root: a static path is 404 with the reason. */
	ck_assert_int_eq(get(&w, "/", &r), 404);
	ck_assert_ptr_nonnull(strstr(r.body, "--web-root"));
	snprintf(text, sizeof(text), "DELETE /api/v1/status HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%u\r\n\r\n", w.port);
	request(&w, text, &r);
	ck_assert_int_eq(r.status, 405);
	ck_assert_ptr_nonnull(strcasestr(r.head, "\r\nAllow: GET, HEAD"));
	snprintf(text, sizeof(text), "POST /metrics HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%u\r\nContent-Length: 0\r\n\r\n", w.port);
	request(&w, text, &r);
	ck_assert_int_eq(r.status, 405);
	site_free(&w);
}
END_TEST

/* POST /api/v1/targets with this Authorization line ("" for none). */
static int
post_target(struct site *w, const char *authz, int port, struct response *r)
{
	char text[512], body[64];

	snprintf(body, sizeof(body), "{\"port\": %d}", port);
	snprintf(text, sizeof(text), "POST /api/v1/targets HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%u\r\n%s"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    w->port, authz, strlen(body), body);
	request(w, text, r);
	return r->status;
}

START_TEST(test_auth_token)
{
	struct site w;
	struct response r;

	site_init(&w, TOKEN, 0, NULL);
	ck_assert_int_eq(post_target(&w, "", 1080, &r), 401);
	ck_assert_ptr_nonnull(strcasestr(r.head, "\r\nWWW-Authenticate: Bearer"));
	ck_assert_int_eq(post_target(&w, "Authorization: Bearer wrong-token\r\n",
	    1080, &r), 401);
	/* One byte short, one byte more: compared whole. */
	ck_assert_int_eq(post_target(&w, "Authorization: Bearer "
	    "0123456789abcdef-admin-toke\r\n", 1080, &r), 401);
	ck_assert_int_eq(post_target(&w, "Authorization: Bearer " TOKEN "x\r\n",
	    1080, &r), 401);
	ck_assert_uint_eq(pool_count(w.parts.pool), 0);
	ck_assert_int_eq(post_target(&w, "Authorization: Bearer " TOKEN "\r\n",
	    1080, &r), 201);
	ck_assert_ptr_nonnull(strstr(r.body, "\"key\""));
	ck_assert_uint_eq(pool_count(w.parts.pool), 1);
	/* Reads need no token. */
	ck_assert_int_eq(get(&w, "/api/v1/targets", &r), 200);
	site_free(&w);
}
END_TEST

static int
get_host(struct site *w, const char *host, struct response *r)
{
	char text[512];

	snprintf(text, sizeof(text), "GET /api/v1/status HTTP/1.1\r\nHost: %s\r\n\r\n", host);
	request(w, text, r);
	return r->status;
}

START_TEST(test_host_check)
{
	static const struct {
		const char	*host;
		bool		 port;		/* ":" and the admin port after it */
		int		 status;
	} hosts[] = {
		{ "evil.example", false, 421 },
		{ "evil.example:1667", false, 421 },
		{ "127.0.0.1.evil.example", true, 421 },
		{ "localhost", false, 200 },
		{ "a.localhost", true, 200 },
		{ "127.0.0.1", true, 200 },
		{ "[::1]", true, 200 },
	};
	struct site w;
	struct response r;
	char host[64];

	site_init(&w, NULL, 0, NULL);
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		if (hosts[i].port)
			snprintf(host, sizeof(host), "%s:%u", hosts[i].host, w.port);
		else
			snprintf(host, sizeof(host), "%s", hosts[i].host);
		ck_assert_msg(get_host(&w, host, &r) == hosts[i].status, "Host %s: %d",
		    host, r.status);
		if (r.status == 421)
			ck_assert_ptr_nonnull(strstr(r.body, "--admin-host"));
	}
	/* HTTP/1.0 without a Host: not a browser. */
	request(&w, "GET /api/v1/status HTTP/1.0\r\n\r\n", &r);
	ck_assert_int_eq(r.status, 200);
	site_free(&w);
}
END_TEST

/* --- deadlines and closed peers ------------------------------------------ */

START_TEST(test_request_deadline)
{
	struct site w;
	struct client c;
	int64_t t0, end, took;
	char line[64];

	site_init(&w, NULL, 1, NULL);
	cl_open(&w, &c);
	t0 = loop_clock_monotonic_ms();
	cl_send(&c, "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\n");
	/* A header line every 200 ms: MHD's inactivity timeout never fires. */
	end = t0 + 4000;
	for (int i = 0; !c.eof && loop_clock_monotonic_ms() < end; i++) {
		snprintf(line, sizeof(line), "X-Trickle-%d: 1\r\n", i);
		if (send(c.fd, line, strlen(line), MSG_NOSIGNAL) == -1)
			break;		/* reset: closed */
		(void)cl_wait(&w, &c, done_eof, NULL, 200);
	}
	(void)cl_wait(&w, &c, done_eof, NULL, 500);
	took = loop_clock_monotonic_ms() - t0;
	ck_assert_msg(c.eof, "a request trickling for %lld ms is still open",
	    (long long)took);
	ck_assert_int_ge(took, 900);		/* not before its deadline (1 s) */
	ck_assert_ptr_null(strstr(c.buf, "HTTP/1.1 200"));
	cl_close(&c);
	pump(&w, 100);
	ck_assert_uint_eq(admin_conns(&w), 0);
	/* A whole request on a fresh connection is served as ever. */
	{
		struct response r;

		ck_assert_int_eq(get(&w, "/api/v1/status", &r), 200);
	}
	site_free(&w);
}
END_TEST

START_TEST(test_closed_peer_released)
{
	struct site w;
	struct client c;
	int64_t t0;

	/* A long timeout: what releases it must be the closed-peer sweep. */
	site_init(&w, NULL, 30, NULL);
	cl_open(&w, &c);
	pump(&w, 50);
	ck_assert_uint_eq(admin_conns(&w), 1);
	/* Half a request, then the end, in one go: MHD misses that FIN. */
	cl_send(&c, "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half");
	ck_assert_int_eq(shutdown(c.fd, SHUT_WR), 0);
	t0 = loop_clock_monotonic_ms();
	while (admin_conns(&w) > 0 && loop_clock_monotonic_ms() - t0 < 3000)
		ck_assert_int_ne(loop_run_once(w.parts.loop, 10), -1);
	ck_assert_msg(admin_conns(&w) == 0, "a closed peer still held after %lld ms",
	    (long long)(loop_clock_monotonic_ms() - t0));
	cl_close(&c);
	site_free(&w);
}
END_TEST

/* --- event streams ------------------------------------------------------- */

static void
subscribe(struct site *w, struct client *c, int rcvbuf)
{
	char text[256];

	cl_open_rcvbuf(w, c, rcvbuf);
	snprintf(text, sizeof(text), "GET /api/v1/events HTTP/1.1\r\n"
	    "Host: 127.0.0.1:%u\r\n\r\n", w->port);
	cl_send(c, text);
}

static size_t
count_of(const char *text, const char *what)
{
	size_t n = 0;

	for (const char *p = text; (p = strstr(p, what)) != NULL; p += strlen(what))
		n++;
	return n;
}

static void
add_target(struct site *w, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	bool created;

	sin.sin_addr.s_addr = htonl(0x7f000002);	/* 127.0.0.2 */
	ck_assert_ptr_nonnull(pool_register(w->parts.pool, TARGET_SRC_HTTP,
	    (struct sockaddr *)&sin, sizeof(sin), 500, 0, &created));
	ck_assert(created);
}

/* A costly snapshot spaces the next ones: at most a tenth of the loop. */
START_TEST(test_sse_tick_cost)
{
	ck_assert_int_eq(sse_tick_after(0), SSE_TICK_MS);
	ck_assert_int_eq(sse_tick_after(2000), SSE_TICK_MS);	/* 2 ms: cheap */
	ck_assert_int_eq(sse_tick_after(40000), 400);		/* 40 ms: 400 ms */
	ck_assert_int_eq(sse_tick_after(3000000), SSE_TICK_MAX_MS);
}
END_TEST

START_TEST(test_sse_events)
{
	struct site w;
	struct client c;

	site_init(&w, NULL, 0, NULL);
	subscribe(&w, &c, 0);
	ck_assert(cl_wait(&w, &c, done_text, "event: snapshot\ndata: {", 3000));
	ck_assert_ptr_nonnull(strstr(c.buf, "text/event-stream"));
	ck_assert_ptr_nonnull(strstr(c.buf, "retry: 2000\n\n"));
	ck_assert_uint_eq(admin_subscribers(w.admin), 1);
	/* Nothing changes: nothing more (the ping is 15 s away). */
	pump(&w, 3 * SSE_TICK_MS);
	(void)cl_read(&c);
	ck_assert_uint_eq(count_of(c.buf, "event: snapshot"), 1);
	ck_assert_ptr_null(strstr(c.buf, "\"port\":4321"));
	add_target(&w, 4321);
	ck_assert_msg(cl_wait(&w, &c, done_text, "\"port\":4321", 3000),
	    "no snapshot after a change: %s", c.buf);
	ck_assert_uint_eq(count_of(c.buf, "event: snapshot"), 2);
	/* A HEAD is answered, and subscribes nobody. */
	{
		struct response r;
		char text[256];

		snprintf(text, sizeof(text), "HEAD /api/v1/events HTTP/1.1\r\n"
		    "Host: 127.0.0.1:%u\r\nConnection: close\r\n\r\n", w.port);
		request(&w, text, &r);
		ck_assert_int_eq(r.status, 200);
		ck_assert_uint_eq(admin_subscribers(w.admin), 1);
	}
	cl_close(&c);
	site_free(&w);
}
END_TEST

/* A suspended stream is not watched by MHD: its closed peer is found anyway. */
START_TEST(test_sse_closed_while_suspended)
{
	struct site w;
	struct client c;
	int64_t t0;

	site_init(&w, NULL, 30, NULL);
	subscribe(&w, &c, 0);
	ck_assert(cl_wait(&w, &c, done_text, "event: snapshot", 3000));
	pump(&w, 2 * SSE_TICK_MS);		/* written out: suspended */
	ck_assert_uint_eq(admin_subscribers(w.admin), 1);
	ck_assert_uint_eq(admin_conns(&w), 1);
	cl_close(&c);
	t0 = loop_clock_monotonic_ms();
	while ((admin_subscribers(w.admin) > 0 || admin_conns(&w) > 0) &&
	    loop_clock_monotonic_ms() - t0 < 3000)
		ck_assert_int_ne(loop_run_once(w.parts.loop, 10), -1);
	ck_assert_msg(admin_subscribers(w.admin) == 0 && admin_conns(&w) == 0,
	    "a gone subscriber still held after %lld ms (the ping is %d ms)",
	    (long long)(loop_clock_monotonic_ms() - t0), SSE_PING_MS);
	site_free(&w);
}
END_TEST

START_TEST(test_sse_bounded)
{
	struct site w;
	struct client c[SSE_MAX];
	struct response r;

	site_init(&w, NULL, 0, NULL);
	for (int i = 0; i < SSE_MAX; i++)
		subscribe(&w, &c[i], 0);
	for (int i = 0; i < SSE_MAX; i++)
		ck_assert(cl_wait(&w, &c[i], done_text, "event: snapshot", 3000));
	ck_assert_uint_eq(admin_subscribers(w.admin), SSE_MAX);
	ck_assert_int_eq(get(&w, "/api/v1/events", &r), 503);
	ck_assert_ptr_nonnull(strstr(r.body, "too many event subscribers"));
	ck_assert_uint_eq(admin_subscribers(w.admin), SSE_MAX);
	for (int i = 0; i < SSE_MAX; i++)
		cl_close(&c[i]);
	site_free(&w);
}
END_TEST

/*
 * A subscriber that never reads holds one snapshot in flight (and the
 * newest), and once nothing can be written to it for the timeout it is
 * dropped; one that reads gets the newest snapshot all along.
 */
START_TEST(test_sse_stalled_dropped)
{
	struct site w;
	struct client live, stalled;
	char want[32];
	int64_t t0;
	uint16_t port = 10000;

	site_init(&w, NULL, 1, NULL);
	/* Some 3000 targets: a snapshot of most of a megabyte. */
	for (; port < 13000; port++)
		add_target(&w, port);
	subscribe(&w, &live, 0);
	subscribe(&w, &stalled, 4096);
	ck_assert(cl_wait(&w, &live, done_text, "event: snapshot", 5000));
	/*
	 * Changes keep coming: the stalled one's socket fills up. A slow
	 * build (sanitizers, a loaded machine) spaces the snapshots
	 * (sse_tick_after), so filling it may take a while.
	 */
	t0 = loop_clock_monotonic_ms();
	while (admin_subscribers(w.admin) > 1 && loop_clock_monotonic_ms() - t0 < 40000) {
		add_target(&w, port++);
		snprintf(want, sizeof(want), "\"port\":%u", (unsigned)(port - 1));
		live.len = 0;		/* only the newest matters */
		live.buf[0] = '\0';
		/* Behind a megabyte's snapshot on a loaded machine: generous. */
		ck_assert_msg(cl_wait(&w, &live, done_text, want, 20000),
		    "the live subscriber did not get %s", want);
	}
	ck_assert_msg(admin_subscribers(w.admin) == 1,
	    "a subscriber that never reads still held after %lld ms",
	    (long long)(loop_clock_monotonic_ms() - t0));
	ck_assert(!live.eof);
	(void)cl_read(&stalled);
	cl_close(&stalled);
	cl_close(&live);
	site_free(&w);
}
END_TEST

/*
 * A target's change goes out as "event: target" once, at once (no tick
 * to wait for); one that falls SSE_EVENTS_LAG events behind gets a resync
 * and a snapshot instead of what it missed.
 */
START_TEST(test_sse_target_events)
{
	struct site w;
	struct client c;
	int64_t t0;

	site_init(&w, NULL, 0, NULL);
	subscribe(&w, &c, 0);
	ck_assert(cl_wait(&w, &c, done_text, "event: snapshot\ndata: {", 3000));
	pump(&w, 2 * SSE_TICK_MS);		/* written out: suspended */
	t0 = loop_clock_monotonic_ms();
	add_target(&w, 4321);
	ck_assert_msg(cl_wait(&w, &c, done_text, "\"event\":\"registered\"", 3000),
	    "no target event: %s", c.buf);
	ck_assert_int_lt(loop_clock_monotonic_ms() - t0, SSE_TICK_MS);
	ck_assert_ptr_nonnull(strstr(c.buf, "event: target\ndata: {\"seq\":1,"));
	ck_assert_ptr_nonnull(strstr(c.buf, "\"name\":\"127.0.0.2:4321\""));
	pump(&w, 3 * SSE_TICK_MS);
	(void)cl_read(&c);
	ck_assert_uint_eq(count_of(c.buf, "event: target"), 1);
	ck_assert_uint_eq(count_of(c.buf, "event: resync"), 0);

	/* More than it may owe, in one go: a resync, then where things stand. */
	c.len = 0;
	c.buf[0] = '\0';
	for (uint16_t port = 20000; port < 20000 + SSE_EVENTS_LAG + 10; port++)
		add_target(&w, port);
	ck_assert_msg(cl_wait(&w, &c, done_text, "event: snapshot", 5000),
	    "no snapshot after a resync: %.300s", c.buf);
	ck_assert_ptr_nonnull(strstr(c.buf, "event: resync\ndata: {\"missed\": 1010}"));
	ck_assert_uint_eq(count_of(c.buf, "event: target"), 0);
	ck_assert(strstr(c.buf, "event: resync") < strstr(c.buf, "event: snapshot"));
	/* And it goes on with the next one. */
	add_target(&w, 4322);
	ck_assert(cl_wait(&w, &c, done_text, "\"name\":\"127.0.0.2:4322\"", 3000));
	cl_close(&c);
	site_free(&w);
}
END_TEST

/* --- the web root -------------------------------------------------------- */

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
}

/*
 * dir/web: index.html, app.js, .hidden, sub/ (a directory), out.txt and
 * outdir (symbolic links leaving the root, to dir/secret.txt and dir/priv/),
 * in.txt (a symbolic link inside the root); dir/secret.txt, dir/priv/x.txt.
 */
static void
web_root_make(char *dir, size_t dirlen, char *root, size_t rootlen)
{
	char path[256];

	snprintf(dir, dirlen, "/tmp/check_admin.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(root, rootlen, "%s/web", dir);
	ck_assert_int_eq(mkdir(root, 0700), 0);
	snprintf(path, sizeof(path), "%s/priv", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/sub", root);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	write_file(root, "index.html", "<!doctype html><title>harmony</title>");
	write_file(root, "app.js", "console.log('app');");
	write_file(root, ".hidden", "hidden");
	write_file(root, "sub/page.txt", "in a subdirectory");
	write_file(dir, "secret.txt", "SECRET-OUTSIDE");
	write_file(dir, "priv/x.txt", "SECRET-PRIV");
	snprintf(path, sizeof(path), "%s/out.txt", root);
	ck_assert_int_eq(symlink("../secret.txt", path), 0);
	snprintf(path, sizeof(path), "%s/outdir", root);
	ck_assert_int_eq(symlink("../priv", path), 0);
	snprintf(path, sizeof(path), "%s/in.txt", root);
	ck_assert_int_eq(symlink("app.js", path), 0);
}

static void
web_root_remove(const char *dir)
{
	static const char *const names[] = { "web/index.html", "web/app.js",
	    "web/.hidden", "web/sub/page.txt", "web/out.txt", "web/outdir",
	    "web/in.txt", "web/sub", "web", "secret.txt", "priv/x.txt", "priv" };
	char path[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		(void)remove(path);
	}
	(void)rmdir(dir);
}

START_TEST(test_static_files)
{
	static const char *const refused[] = {
		"/../secret.txt", "/%2e%2e/secret.txt", "/sub/../../secret.txt",
		"/..%2fsecret.txt", "/.hidden", "/sub", "/sub/", "//index.html",
		"/out.txt", "/outdir/x.txt", "/in.txt", "/missing.html",
	};
	struct site w;
	struct response r;
	char dir[64], root[128], text[512], etag[96];
	const char *p;

	/* admin_listen opens the root: it is made first. */
	web_root_make(dir, sizeof(dir), root, sizeof(root));
	site_init(&w, NULL, 0, root);
	ck_assert_int_eq(get(&w, "/", &r), 200);
	ck_assert_str_eq(r.body, "<!doctype html><title>harmony</title>");
	ck_assert_ptr_nonnull(strcasestr(r.head, "Content-Type: text/html"));
	ck_assert_ptr_nonnull(strcasestr(r.head, "Content-Security-Policy: default-src 'self'"));
	ck_assert_ptr_nonnull(strcasestr(r.head, "X-Frame-Options: DENY"));
	ck_assert_int_eq(get(&w, "/app.js", &r), 200);
	ck_assert_str_eq(r.body, "console.log('app');");
	ck_assert_ptr_null(strcasestr(r.head, "Content-Security-Policy"));
	ck_assert_int_eq(get(&w, "/sub/page.txt", &r), 200);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		ck_assert_msg(get(&w, refused[i], &r) == 404, "%s: %d", refused[i], r.status);
		ck_assert_ptr_null(strstr(r.body, "SECRET"));
	}
	/* "%00" would cut the path short where MHD decodes it. */
	ck_assert_int_eq(get(&w, "/index.html%00.css", &r), 400);
	/* Revalidation: the same ETag is a 304 with no body. */
	ck_assert_int_eq(get(&w, "/index.html", &r), 200);
	ck_assert_ptr_nonnull(p = strcasestr(r.head, "\r\nETag: "));
	ck_assert_int_eq(sscanf(p + 8, "%95[^\r]", etag), 1);
	snprintf(text, sizeof(text), "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "If-None-Match: %s\r\n\r\n", etag);
	request(&w, text, &r);
	ck_assert_int_eq(r.status, 304);
	ck_assert_str_eq(r.body, "");
	site_free(&w);
	web_root_remove(dir);
}
END_TEST

static Suite *
admin_suite(void)
{
	Suite *s = suite_create("admin");
	TCase *tc;

	tc = tcase_create("requests");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_routing);
	tcase_add_test(tc, test_auth_token);
	tcase_add_test(tc, test_host_check);
	tcase_add_test(tc, test_request_deadline);
	tcase_add_test(tc, test_closed_peer_released);
	tcase_add_test(tc, test_static_files);
	suite_add_tcase(s, tc);

	tc = tcase_create("events");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sse_tick_cost);
	tcase_add_test(tc, test_sse_events);
	tcase_add_test(tc, test_sse_closed_while_suspended);
	tcase_add_test(tc, test_sse_bounded);
	tcase_add_test(tc, test_sse_stalled_dropped);
	tcase_add_test(tc, test_sse_target_events);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(admin_suite());
	int failed;

	/* As harmonyd does: MHD is told the application handles SIGPIPE. */
	signal(SIGPIPE, SIG_IGN);

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
