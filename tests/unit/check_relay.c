/*
 * Unit tests for relay.c and relaycache.c: a relay between two real
 * connections (loopback TCP, or AF_UNIX socketpairs), run by a real loop
 * (HARMONY_LOOP=poll runs them on poll(2)). Two test peers, "client" and
 * "target", sit at the far ends and are driven by the same loop: each
 * sends a position-dependent byte pattern (a byte dropped, doubled or
 * moved is caught) and checks what it receives against the other's.
 *
 * The relay picks its mode itself: a read that fills a whole buffer makes
 * a direction bulk (splice through a pipe), smaller reads keep it copying,
 * and a bulk direction with no pipe to be had (fd budget spent) copies.
 * So a peer that writes as fast as it can drives splice mode, and one that
 * writes 16 KiB at a time, waiting until each has arrived, drives copy
 * mode. Each test checks which mode it got.
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/acceptor.h"
#include "core/loop.h"
#include "proxy/relay.h"
#include "proxy/relaycache.h"

#define MIB		(1024 * 1024)
#define LOCKSTEP_CHUNK	(16 * 1024)	/* well under a buffer: copy mode */
#define SEED_UP		0x9e3779b9u
#define SEED_DOWN	0x7f4a7c15u

enum kind { TCP, UNIX_PAIR };
static const char *const kind_name[] = { "tcp", "unix" };

struct fx;

/* A test peer: one far end of the relay. */
struct peer {
	struct fx	*fx;
	struct peer	*other;		/* the peer at the relay's other end */
	const char	*name;
	int		 fd;		/* -1 once it has reset */
	uint32_t	 seed;		/* of what it sends */
	size_t		 total;		/* bytes to send */
	size_t		 sent;
	bool		 sending;	/* may send now */
	bool		 lockstep;	/* a chunk at a time, each received first */
	size_t		 chunk;		/* bytes a send at most (0: any) */
	bool		 shut_when_sent;
	bool		 answer_after_eof;	/* starts sending once it saw EOF */
	bool		 shut;
	bool		 reading;
	size_t		 received;
	size_t		 received_at_eof;
	bool		 eof;
	bool		 mismatch;
	int		 err;		/* errno of a failed send or recv */
	size_t		 reset_after;	/* resets once this much arrived (0: never) */
};

struct fx {
	struct loop		*loop;
	struct relaycache	 cache;
	struct relay		*relay;		/* freed when it ends */
	int			 cfd;		/* the relay's ends */
	int			 tfd;
	struct peer		 client;
	struct peer		 target;
	bool			 ended;
	char			 outcome[32];
	bool			 pipe_at_end[2];	/* [up]: a direction still had one */
	bool			 bulk_at_end[2];
	uint64_t		 bytes_at_end[2];
	unsigned		 relay_calls;	/* callbacks into the relay */
	bool			 saw_deferred;	/* a shutdown waited for the pass end */
};

static uint8_t
pattern(uint32_t seed, size_t pos)
{
	uint32_t x = (uint32_t)pos * 2654435761u ^ seed;

	x ^= x >> 15;
	x *= 0x2c1b3c6du;
	x ^= x >> 12;
	return (uint8_t)x;
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	ck_assert_int_ne(fl, -1);
	ck_assert_int_eq(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

/* fds[0] and fds[1]: two connected, non-blocking ends. */
static void
make_pair(enum kind k, int fds[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int ls;

	if (k == UNIX_PAIR) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0, fds), 0);
		return;
	}
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), 0);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(ls, 1), 0);
	ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
	ck_assert_int_ge(fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), 0);
	ck_assert_int_eq(connect(fds[0], (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_ge(fds[1] = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), 0);
	ck_assert_int_eq(close(ls), 0);
	set_nonblock(fds[0]);
}

static void
set_bufs(int fd, int bytes)
{
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)), 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)), 0);
}

/* An abortive close: the other end gets a reset, not a FIN. */
static void
reset_close(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	ck_assert_int_eq(close(fd), 0);
}

static size_t
held_bufs(const struct relaycache *c)
{
	size_t bufs, pipes;

	relaycache_held(c, &bufs, &pipes);
	return bufs;
}

static size_t
held_pipes(const struct relaycache *c)
{
	size_t bufs, pipes;

	relaycache_held(c, &bufs, &pipes);
	return pipes;
}

/* --- the peers --------------------------------------------------------- */

static void
peer_rearm(struct peer *p)
{
	short ev = 0;

	if (p->fd == -1 || p->err != 0)
		return;
	if (p->sending && p->sent < p->total &&
	    (!p->lockstep || p->other->received == p->sent))
		ev |= POLLOUT;
	if (p->reading && !p->eof)
		ev |= POLLIN;
	ck_assert_int_eq(loop_set_events(p->fx->loop, p->fd, ev), 0);
}

static void
peer_maybe_shut(struct peer *p)
{
	if (p->sending && p->sent == p->total && p->shut_when_sent && !p->shut) {
		p->shut = true;
		ck_assert_int_eq(shutdown(p->fd, SHUT_WR), 0);
	}
}

static void
peer_send(struct peer *p)
{
	static char out[256 * 1024];
	size_t done = 0;

	/* Up to a MiB a wake-up, or until the socket is full. */
	while (done < MIB && p->sent < p->total) {
		size_t n = p->total - p->sent;
		ssize_t w;

		if (p->lockstep) {
			if (p->other->received != p->sent)
				break;
			if (n > LOCKSTEP_CHUNK)
				n = LOCKSTEP_CHUNK;
		}
		if (p->chunk > 0 && n > p->chunk)
			n = p->chunk;
		if (n > sizeof(out))
			n = sizeof(out);
		for (size_t j = 0; j < n; j++)
			out[j] = (char)pattern(p->seed, p->sent + j);
		if ((w = send(p->fd, out, n, MSG_NOSIGNAL)) < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			p->err = errno;
			return;
		}
		p->sent += (size_t)w;
		done += (size_t)w;
	}
	peer_maybe_shut(p);
}

static void
peer_reset(struct peer *p)
{
	loop_unwatch(p->fx->loop, p->fd);
	reset_close(p->fd);
	p->fd = -1;
}

static void
peer_recv(struct peer *p)
{
	static char buf[256 * 1024];

	for (int i = 0; i < 16 && !p->eof; i++) {
		ssize_t n = recv(p->fd, buf, sizeof(buf), 0);

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				p->err = errno;
			break;
		}
		if (n == 0) {
			p->eof = true;
			p->received_at_eof = p->received;
			if (p->answer_after_eof) {
				p->sending = true;
				peer_maybe_shut(p);
			}
			break;
		}
		for (ssize_t j = 0; j < n; j++)
			if ((uint8_t)buf[j] != pattern(p->other->seed, p->received + (size_t)j))
				p->mismatch = true;
		p->received += (size_t)n;
		if (p->reset_after > 0 && p->received >= p->reset_after) {
			peer_reset(p);
			return;
		}
	}
	peer_rearm(p->other);
}

static void
peer_on_io(struct loop *l, int fd, short revents, void *arg)
{
	struct peer *p = arg;

	(void)l;
	(void)fd;
	if ((revents & POLLOUT) && p->err == 0)
		peer_send(p);
	if ((revents & (POLLIN | POLLHUP | POLLERR)) && p->reading && p->err == 0)
		peer_recv(p);
	if (p->fd != -1)
		peer_rearm(p);
}

/* Finished: saw the end (EOF, an error, or its own reset). */
static bool
peer_done(const struct peer *p)
{
	return p->fd == -1 || p->err != 0 || p->eof || !p->reading;
}

/* --- the relay's owner ------------------------------------------------- */

/* What an owner does (session_close): stop the relay, close its fds. */
static void
fx_on_end(struct relay *r, const char *outcome, void *arg)
{
	struct fx *fx = arg;

	ck_assert_msg(!fx->ended, "the relay ended twice");
	ck_assert_ptr_eq(r, fx->relay);
	fx->ended = true;
	snprintf(fx->outcome, sizeof(fx->outcome), "%s", outcome);
	for (int up = 0; up < 2; up++) {
		fx->pipe_at_end[up] = relay_has_pipe(r, up);
		fx->bulk_at_end[up] = relay_bulk(r, up);
		fx->bytes_at_end[up] = relay_bytes(r, up);
	}
	relay_stop(r);
	free(r);
	fx->relay = NULL;
	loop_unwatch_closing(fx->loop, fx->cfd);
	loop_unwatch_closing(fx->loop, fx->tfd);
	ck_assert_int_eq(close(fx->cfd), 0);
	ck_assert_int_eq(close(fx->tfd), 0);
	fx->cfd = fx->tfd = -1;
}

/*
 * The owner's watcher of both relay fds, as a session's: passes readiness
 * on, and notes a shutdown left for the end of the pass.
 */
static void
fx_on_relay_fd(struct loop *l, int fd, short revents, void *arg)
{
	struct fx *fx = arg;

	(void)l;
	fx->relay_calls++;
	relay_on_ready(fx->relay, fd, revents);
	if (fx->relay != NULL && loop_defer_armed(&fx->relay->shut_defer))
		fx->saw_deferred = true;
}

static void
peer_init(struct fx *fx, struct peer *p, struct peer *other, const char *name,
    int fd, uint32_t seed)
{
	*p = (struct peer){ .fx = fx, .other = other, .name = name, .fd = fd,
	    .seed = seed, .sending = true, .reading = true };
}

/*
 * client peer ═ cfd [relay] tfd ═ target peer, all watched by one loop.
 * The peers start with nothing to send; each test fills them in, then
 * calls fx_start.
 */
static void
fx_init(struct fx *fx, enum kind k)
{
	int cp[2], tp[2];

	memset(fx, 0, sizeof(*fx));
	ck_assert_ptr_nonnull(fx->loop = loop_new());
	relaycache_init(&fx->cache);
	make_pair(k, cp);
	make_pair(k, tp);
	fx->cfd = cp[1];
	fx->tfd = tp[0];
	peer_init(fx, &fx->client, &fx->target, "client", cp[0], SEED_UP);
	peer_init(fx, &fx->target, &fx->client, "target", tp[1], SEED_DOWN);
	ck_assert_ptr_nonnull(fx->relay = malloc(sizeof(*fx->relay)));
	relay_init(fx->relay);
}

static void
fx_start(struct fx *fx)
{
	ck_assert_int_eq(loop_watch(fx->loop, fx->cfd, 0, fx_on_relay_fd, fx), 0);
	ck_assert_int_eq(loop_watch(fx->loop, fx->tfd, 0, fx_on_relay_fd, fx), 0);
	ck_assert_int_eq(loop_watch(fx->loop, fx->client.fd, 0, peer_on_io, &fx->client), 0);
	ck_assert_int_eq(loop_watch(fx->loop, fx->target.fd, 0, peer_on_io, &fx->target), 0);
	relay_start(fx->relay, fx->loop, &fx->cache, fx->cfd, fx->tfd, fx_on_end, fx);
	peer_rearm(&fx->client);
	peer_rearm(&fx->target);
	peer_maybe_shut(&fx->client);
	peer_maybe_shut(&fx->target);
}

static void
fx_free(struct fx *fx)
{
	struct peer *peers[] = { &fx->client, &fx->target };

	if (fx->relay != NULL) {
		relay_stop(fx->relay);
		free(fx->relay);
		loop_unwatch(fx->loop, fx->cfd);
		loop_unwatch(fx->loop, fx->tfd);
		ck_assert_int_eq(close(fx->cfd), 0);
		ck_assert_int_eq(close(fx->tfd), 0);
	}
	for (size_t i = 0; i < 2; i++) {
		if (peers[i]->fd != -1) {
			loop_unwatch(fx->loop, peers[i]->fd);
			ck_assert_int_eq(close(peers[i]->fd), 0);
		}
	}
	relaycache_trim(&fx->cache);
	loop_free(fx->loop);
}

typedef bool	fx_pred(const struct fx *);

static bool
all_done(const struct fx *fx)
{
	return fx->ended && peer_done(&fx->client) && peer_done(&fx->target);
}

static void
run_until(struct fx *fx, fx_pred *pred, int64_t ms, const char *what)
{
	int64_t end = loop_clock_monotonic_ms() + ms;

	while (!pred(fx)) {
		ck_assert_msg(loop_clock_monotonic_ms() < end,
		    "%s: not within %lld ms (ended=%d %s; client sent %zu got %zu eof=%d err=%d; "
		    "target sent %zu got %zu eof=%d err=%d)", what, (long long)ms,
		    fx->ended, fx->outcome, fx->client.sent, fx->client.received,
		    fx->client.eof, fx->client.err, fx->target.sent, fx->target.received,
		    fx->target.eof, fx->target.err);
		ck_assert_int_ge(loop_run_once(fx->loop, 20), 0);
	}
}

/* Runs the loop for ms whatever happens. */
static void
run_for(struct fx *fx, int64_t ms)
{
	int64_t end = loop_clock_monotonic_ms() + ms;
	int64_t now;

	while ((now = loop_clock_monotonic_ms()) < end)
		ck_assert_int_ge(loop_run_once(fx->loop, end - now), 0);
}

/* What a peer got is all the other sent, intact, then a clean end. */
static void
assert_intact(const struct peer *p, size_t expect)
{
	ck_assert_msg(!p->mismatch, "%s received altered bytes", p->name);
	ck_assert_uint_eq(p->received, expect);
	ck_assert_msg(p->eof, "%s saw no EOF", p->name);
	ck_assert_int_eq(p->err, 0);
}

static void
assert_done(const struct fx *fx, size_t up, size_t down)
{
	ck_assert_str_eq(fx->outcome, "done");
	assert_intact(&fx->target, up);
	assert_intact(&fx->client, down);
	ck_assert_uint_eq(fx->bytes_at_end[1], up);
	ck_assert_uint_eq(fx->bytes_at_end[0], down);
}

/* --- both ways --------------------------------------------------------- */

/*
 * Both ways at once, more than a buffer and a pipe each, then both FINs.
 * As fast as the peers can, each direction fills a buffer and splices; a
 * chunk at a time, each well under a buffer, the relay copies. _i: bit 0
 * AF_UNIX (else TCP), bit 1 copy (else splice).
 */
START_TEST(test_both_ways)
{
	enum kind k = (_i & 1) ? UNIX_PAIR : TCP;
	bool copy = _i & 2;
	const size_t n = copy ? 2 * MIB : 8 * MIB;
	size_t bufs, pipes;
	struct fx fx;

	fx_init(&fx, k);
	fx.client.total = fx.target.total = n;
	fx.client.lockstep = fx.target.lockstep = copy;
	fx.client.shut_when_sent = fx.target.shut_when_sent = true;
	fx_start(&fx);
	run_until(&fx, all_done, 20000, kind_name[k]);
	assert_done(&fx, n, n);
	ck_assert_int_eq(fx.bulk_at_end[1], !copy);
	ck_assert_int_eq(fx.bulk_at_end[0], !copy);
	/* A bulk flow keeps its pipe to the end; the cache takes both back. */
	ck_assert_int_eq(fx.pipe_at_end[1], !copy);
	ck_assert_int_eq(fx.pipe_at_end[0], !copy);
	relaycache_held(&fx.cache, &bufs, &pipes);
	ck_assert_uint_eq(pipes, copy ? 0 : 2);
	/* Buffers go back as soon as they drain: the cache has them. */
	if (copy)
		ck_assert(bufs >= 1 && bufs <= 2);
	fx_free(&fx);
}
END_TEST

/* Bulk, but the fd budget has no room for a pipe: copying works too. */
START_TEST(test_bulk_without_pipe_copies)
{
	static const size_t no_caps[FD_USER_COUNT] = { 0, 0, 0 };
	struct fdbudget *b;
	struct fx fx;
	const size_t n = 4 * MIB;
	size_t left;

	ck_assert_ptr_nonnull(b = fdbudget_new());
	fdbudget_share(b, no_caps, 0);
	left = fdbudget_left(b, FD_USER_PROXY);
	ck_assert(fdbudget_take(b, FD_USER_PROXY, left));
	fx_init(&fx, TCP);
	relaycache_set_fdbudget(&fx.cache, b);
	fx.client.total = fx.target.total = n;
	fx.client.shut_when_sent = fx.target.shut_when_sent = true;
	fx_start(&fx);
	run_until(&fx, all_done, 20000, "no pipe");
	assert_done(&fx, n, n);
	ck_assert(!fx.pipe_at_end[1] && !fx.pipe_at_end[0]);
	ck_assert_uint_eq(held_pipes(&fx.cache), 0);
	ck_assert_uint_eq(fdbudget_left(b, FD_USER_PROXY), 0);
	fx_free(&fx);
	fdbudget_give(b, FD_USER_PROXY, left);
	fdbudget_free(b);
}
END_TEST

/* --- half-close -------------------------------------------------------- */

/* Who half-closes first, what it sends, and what the other answers. */
static const struct halfclose_case {
	const char	*what;
	bool		 client_first;
	size_t		 first;		/* sent, then a FIN */
	size_t		 answer;	/* sent after that FIN arrived */
} halfclose_cases[] = {
	/* A request, then a FIN; the answer is longer than a buffer. */
	{ "client first", true, 3000, 300 * 1024 },
	/* A banner, then a FIN (the target speaks first); then the client. */
	{ "target first", false, 200 * 1024, 500 * 1024 },
};

static bool
answerer_saw_eof(const struct fx *fx)
{
	return fx->client.answer_after_eof ? fx->client.eof : fx->target.eof;
}

/*
 * One side sends and shuts its write side; the other reads to EOF (the
 * relay's shutdown reached it, at the end of its pass) and only then
 * answers; the answer arrives whole, then EOF. _i: halfclose_cases, over
 * TCP then AF_UNIX.
 */
START_TEST(test_halfclose_answer_arrives)
{
	const struct halfclose_case *hc = &halfclose_cases[_i % 2];
	enum kind k = _i < 2 ? TCP : UNIX_PAIR;
	struct fx fx;
	struct peer *first, *answerer;

	fx_init(&fx, k);
	first = hc->client_first ? &fx.client : &fx.target;
	answerer = first->other;
	first->total = hc->first;
	first->shut_when_sent = true;
	answerer->total = hc->answer;
	answerer->sending = false;
	answerer->answer_after_eof = true;
	answerer->shut_when_sent = true;
	fx_start(&fx);
	run_until(&fx, answerer_saw_eof, 5000, hc->what);
	ck_assert_uint_eq(answerer->received_at_eof, hc->first);
	ck_assert_msg(fx.saw_deferred, "the shutdown was not deferred to the pass end");
	ck_assert_msg(!fx.ended, "the relay ended at the half-close");
	run_until(&fx, all_done, 10000, hc->what);
	if (hc->client_first)
		assert_done(&fx, hc->first, hc->answer);
	else
		assert_done(&fx, hc->answer, hc->first);
	fx_free(&fx);
}
END_TEST

/*
 * A relay that ends in the same pass as it armed its deferred shutdown
 * (the client's FIN, then the target's reset) leaves nothing armed: the
 * owner frees it in its callback, and the pass end must not touch it.
 */
START_TEST(test_end_cancels_deferred_shutdown)
{
	struct fx fx;
	struct pollfd pfd;

	fx_init(&fx, TCP);
	fx_start(&fx);
	ck_assert_int_eq(shutdown(fx.client.fd, SHUT_WR), 0);
	peer_reset(&fx.target);
	pfd = (struct pollfd){ .fd = fx.cfd, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
	pfd = (struct pollfd){ .fd = fx.tfd, .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
	/* Both in one pass, in this order: called here, not by the loop. */
	fx_on_relay_fd(fx.loop, fx.cfd, POLLIN, &fx);
	ck_assert_msg(fx.saw_deferred, "the client's FIN armed no shutdown");
	ck_assert(!fx.ended);
	fx_on_relay_fd(fx.loop, fx.tfd, POLLIN | POLLERR | POLLHUP, &fx);
	ck_assert(fx.ended);
	ck_assert_str_eq(fx.outcome, "target-reset");
	ck_assert_int_ge(loop_run_once(fx.loop, 0), 0);	/* the pass end */
	fx_free(&fx);
}
END_TEST

/* --- resets ------------------------------------------------------------ */

/*
 * Mid-transfer, one peer resets: the relay ends with that side's reset,
 * and passes it on as a reset (not a FIN) to the other. _i: bit 0, which
 * side resets (0 the target, 1 the client); bit 1, copy mode.
 */
START_TEST(test_reset_mid_transfer)
{
	bool client_resets = _i & 1, copy = _i & 2;
	struct fx fx;
	struct peer *victim, *sender;

	fx_init(&fx, TCP);
	victim = client_resets ? &fx.client : &fx.target;
	sender = victim->other;
	sender->total = 16 * MIB;
	sender->lockstep = copy;
	victim->reset_after = 200 * 1024;
	fx_start(&fx);
	run_until(&fx, all_done, 10000, "reset");
	ck_assert_str_eq(fx.outcome, client_resets ? "client-reset" : "target-reset");
	ck_assert_int_eq(victim->fd, -1);
	ck_assert_msg(!victim->mismatch, "altered bytes before the reset");
	ck_assert_msg(sender->err == ECONNRESET || sender->err == EPIPE,
	    "the reset was not passed on: err %d eof %d", sender->err, sender->eof);
	ck_assert_uint_lt(sender->sent, sender->total);
	ck_assert_int_eq(fx.bulk_at_end[!client_resets], !copy);
	fx_free(&fx);
}
END_TEST

static bool
both_received_all(const struct fx *fx)
{
	return fx->client.received == fx->target.total &&
	    fx->target.received == fx->client.total;
}

static void
wait_readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	ck_assert_int_eq(poll(&pfd, 1, 2000), 1);
}

/*
 * Each place the relay can meet a peer's reset names that peer: reading
 * from it, or writing what the other side sent to it, by copy or by
 * splice. The relay is called by hand, with POLLIN alone, so that the
 * error shows in recv/send/splice and not in POLLERR. _i: bit 0, the
 * client resets (else the target); bit 1, after a bulk warm-up (splice,
 * both ways); bit 2, found while forwarding (else while reading).
 */
START_TEST(test_reset_outcome_each_path)
{
	bool client_resets = _i & 1, bulk = _i & 2, forwarding = _i & 4;
	struct fx fx;
	struct peer *victim, *sender;
	int vfd, sfd;
	bool call_client;

	fx_init(&fx, TCP);
	victim = client_resets ? &fx.client : &fx.target;
	sender = victim->other;
	vfd = client_resets ? fx.cfd : fx.tfd;
	sfd = client_resets ? fx.tfd : fx.cfd;
	fx.client.total = fx.target.total = bulk ? 256 * 1024 : 32 * 1024;
	fx.client.lockstep = fx.target.lockstep = !bulk;
	fx_start(&fx);
	run_until(&fx, both_received_all, 5000, "warm-up");
	ck_assert_int_eq(relay_has_pipe(fx.relay, true), bulk);
	ck_assert_int_eq(relay_has_pipe(fx.relay, false), bulk);
	peer_reset(victim);
	wait_readable(vfd);
	if (forwarding) {
		ck_assert_int_eq(send(sender->fd, "x", 1, MSG_NOSIGNAL), 1);
		wait_readable(sfd);
	}
	call_client = forwarding ? !client_resets : client_resets;
	fx_on_relay_fd(fx.loop, call_client ? fx.cfd : fx.tfd, POLLIN, &fx);
	ck_assert_msg(fx.ended, "the relay went on");
	ck_assert_str_eq(fx.outcome, client_resets ? "client-reset" : "target-reset");
	fx_free(&fx);
}
END_TEST

/* --- a slow reader ----------------------------------------------------- */

static bool
client_blocked(const struct fx *fx)
{
	return fx->client.sent > 0 && fx->relay_calls > 0 &&
	    relay_pending(fx->relay, true) > 0;
}

/*
 * The target reads nothing for a while: the relay holds at most one
 * direction's worth (a buffer, or a pipe), stops reading the client (it
 * is not called again: no POLLIN spin on a full flow), and the client's
 * writes stall. Then the target reads, and everything arrives. _i: 0
 * splice; 1 copy (no pipe: the fd budget is spent); 2 splice over AF_UNIX
 * in 1000-byte sends, where the pipe runs out of slots (one a message)
 * long before it holds RELAY_PIPE_MAX bytes.
 */
START_TEST(test_slow_reader_bounded_then_resumes)
{
	static const size_t no_caps[FD_USER_COUNT] = { 0, 0, 0 };
	struct fdbudget *b = NULL;
	struct fx fx;
	const size_t n = 32 * MIB;
	size_t sent, left = 0, cap = _i != 1 ? RELAY_PIPE_MAX : RELAY_BUF_SIZE;
	unsigned calls;

	fx_init(&fx, _i == 2 ? UNIX_PAIR : TCP);
	if (_i == 2)
		fx.client.chunk = 1000;
	if (_i == 1) {
		ck_assert_ptr_nonnull(b = fdbudget_new());
		fdbudget_share(b, no_caps, 0);
		left = fdbudget_left(b, FD_USER_PROXY);
		ck_assert(fdbudget_take(b, FD_USER_PROXY, left));
		relaycache_set_fdbudget(&fx.cache, b);
	}
	/* Fixed socket buffers: the kernel's autotuning could hold it all. */
	set_bufs(fx.client.fd, 128 * 1024);
	set_bufs(fx.cfd, 128 * 1024);
	set_bufs(fx.tfd, 128 * 1024);
	set_bufs(fx.target.fd, 128 * 1024);
	fx.client.total = n;
	fx.client.shut_when_sent = true;
	fx.target.reading = false;
	fx.target.answer_after_eof = true;
	fx.target.shut_when_sent = true;
	fx.target.sending = false;
	fx_start(&fx);
	run_until(&fx, client_blocked, 5000, "a stalled flow");
	run_for(&fx, 300);
	sent = fx.client.sent;
	calls = fx.relay_calls;
	ck_assert_uint_lt(sent, n);
	ck_assert_uint_le(relay_pending(fx.relay, true), cap);
	run_for(&fx, 300);
	ck_assert_msg(fx.client.sent == sent, "the client could still write: %zu then %zu",
	    sent, fx.client.sent);
	ck_assert_msg(fx.relay_calls <= calls + 2, "the relay spun: %u calls in 300 ms",
	    fx.relay_calls - calls);
	ck_assert_uint_le(relay_pending(fx.relay, true), cap);
	ck_assert(!fx.ended);
	/* Without a pipe it may still be marked bulk, until its next read. */
	if (_i != 1)
		ck_assert(relay_bulk(fx.relay, true));
	ck_assert_int_eq(relay_has_pipe(fx.relay, true), _i != 1);
	/* The reader wakes up. */
	fx.target.reading = true;
	peer_rearm(&fx.target);
	run_until(&fx, all_done, 20000, "resumed");
	assert_done(&fx, n, 0);
	fx_free(&fx);
	if (b != NULL) {
		ck_assert_uint_eq(fdbudget_left(b, FD_USER_PROXY), 0);
		fdbudget_give(b, FD_USER_PROXY, left);
		fdbudget_free(b);
	}
}
END_TEST

/* --- the cache --------------------------------------------------------- */

START_TEST(test_cache_reuses_and_trims)
{
	static const size_t no_caps[FD_USER_COUNT] = { 0, 0, 0 };
	struct relaycache c;
	struct fdbudget *b;
	char *buf, *again;
	int p[2], q[2];
	size_t left;

	ck_assert_ptr_nonnull(b = fdbudget_new());
	fdbudget_share(b, no_caps, 0);
	left = fdbudget_left(b, FD_USER_PROXY);
	relaycache_init(&c);
	relaycache_set_fdbudget(&c, b);
	ck_assert_ptr_nonnull(buf = relaycache_buf_get(&c));
	relaycache_buf_put(&c, buf);
	ck_assert_ptr_eq(again = relaycache_buf_get(&c), buf);
	relaycache_buf_put(&c, again);
	ck_assert_uint_eq(held_bufs(&c), 1);
	/* A pipe costs 2 units, kept while cached; one with bytes is closed. */
	ck_assert_int_eq(relaycache_pipe_get(&c, p), 0);
	ck_assert_uint_eq(fdbudget_left(b, FD_USER_PROXY), left - 2);
	ck_assert_int_eq(relaycache_pipe_get(&c, q), 0);
	relaycache_pipe_put(&c, p, true);
	ck_assert_int_eq(p[0], -1);
	relaycache_pipe_put(&c, q, false);
	ck_assert_uint_eq(held_pipes(&c), 1);
	ck_assert_uint_eq(fdbudget_left(b, FD_USER_PROXY), left - 2);
	relaycache_trim(&c);
	ck_assert_uint_eq(held_bufs(&c), 0);
	ck_assert_uint_eq(held_pipes(&c), 0);
	ck_assert_uint_eq(fdbudget_left(b, FD_USER_PROXY), left);
	/* With the budget spent, no pipe. */
	ck_assert(fdbudget_take(b, FD_USER_PROXY, left));
	errno = 0;
	ck_assert_int_eq(relaycache_pipe_get(&c, p), -1);
	ck_assert_int_eq(errno, EMFILE);
	fdbudget_give(b, FD_USER_PROXY, left);
	fdbudget_free(b);
}
END_TEST

static Suite *
relay_suite(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("relay");

	tcase_add_loop_test(tc, test_both_ways, 0, 4);
	tcase_add_test(tc, test_bulk_without_pipe_copies);
	tcase_add_loop_test(tc, test_halfclose_answer_arrives, 0, 4);
	tcase_add_test(tc, test_end_cancels_deferred_shutdown);
	tcase_add_loop_test(tc, test_reset_mid_transfer, 0, 4);
	tcase_add_loop_test(tc, test_reset_outcome_each_path, 0, 8);
	tcase_add_loop_test(tc, test_slow_reader_bounded_then_resumes, 0, 3);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("relaycache");
	tcase_add_test(tc, test_cache_reuses_and_trims);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(relay_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
