/*
 * Unit tests for libharmony (client.c) through its public API only,
 * against a fake balancer in the test process: a loopback listener that
 * speaks the ack-port protocol like harmonyd (NID, BAL, SPORT, ACK, ID,
 * CLOSE, BYE, AUTH, HOST, TTL, SVC, AGENT; BID for unknown keys;
 * ERR:<reason>:), with
 * knobs to forget keys, lie, stay silent, hang up or answer byte by byte,
 * or to leave the extensions unanswered and answer ACK for any key, as the
 * original node-harmony server does (tests/lib/oldserver.py models it whole).
 *
 * Sockets are real; time is not: the client is handed a virtual clock
 * (vnow), so heartbeat periods, backoff and timeouts are checked exactly
 * without sleeping. Only the blocking helpers run on the real clock, with
 * the fake balancer in a child process.
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harmony.h"

#define FAKE_CONNS	8
#define FAKE_BUF	4096
#define MAX_EVENTS	64
#define HC_TEST_BACKOFF_MS	60000	/* longer than any backoff here */

struct fconn {
	int	 fd;
	char	 in[FAKE_BUF];
	size_t	 inlen;
	char	 out[FAKE_BUF];
	size_t	 outlen;
	size_t	 outoff;
	char	 verb[16];
	bool	 have_verb;
	bool	 authed;
	bool	 closing;	/* after BYE or a fatal ERR, once out is sent */
};

struct fake {
	int		 lfd;
	uint16_t	 port;
	struct fconn	 conns[FAKE_CONNS];
	int		 accepted;
	char		 log[FAKE_BUF * 4];	/* every byte received, in order */
	size_t		 loglen;
	char		 keys[16][16];
	int		 nkeys;
	int		 next_key;
	/* behaviour */
	const char	*token;		/* AUTH required */
	bool		 forget;	/* every key unknown: BID */
	bool		 silent;	/* read, never answer */
	bool		 hangup;	/* close at once after accept */
	bool		 bytewise;	/* answers one byte per write */
	bool		 lie;		/* BAL answered with another weight */
	const char	*sport_err;	/* SPORT answered ERR:<this>: */
	bool		 no_ext;	/* AUTH, HOST, TTL: no answer (node-harmony) */
	bool		 no_agent;	/* AGENT an unknown verb (harmonyd before it) */
	bool		 ack_any;	/* ACK answered for any key (node-harmony) */
};

struct event {
	enum harmony_event	 ev;
	char			 detail[256];
};

static struct event events[MAX_EVENTS];
static int nevents;
static int64_t vnow = 1000000;

static void
on_event(struct harmony_client *c, enum harmony_event ev, const char *detail,
    void *arg)
{
	(void)c;
	(void)arg;
	if (nevents == MAX_EVENTS)
		return;
	events[nevents].ev = ev;
	snprintf(events[nevents].detail, sizeof(events[0].detail), "%s",
	    detail ? detail : "");
	nevents++;
}

static int
count_events(enum harmony_event ev)
{
	int n = 0;

	for (int i = 0; i < nevents; i++)
		if (events[i].ev == ev)
			n++;
	return n;
}

static const struct event *
last_event(void)
{
	ck_assert_int_gt(nevents, 0);
	return &events[nevents - 1];
}

/* --- the fake balancer ------------------------------------------------- */

static struct fake *
fake_new(void)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	ck_assert_ptr_nonnull(f);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(f->lfd, 0);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(f->lfd, 16), 0);
	ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&sin, &len), 0);
	f->port = ntohs(sin.sin_port);
	for (int i = 0; i < FAKE_CONNS; i++)
		f->conns[i].fd = -1;
	nevents = 0;
	vnow = 1000000;
	return f;
}

static void
fake_free(struct fake *f)
{
	for (int i = 0; i < FAKE_CONNS; i++)
		if (f->conns[i].fd >= 0)
			close(f->conns[i].fd);
	close(f->lfd);
	free(f);
}

static size_t
fake_open_conns(const struct fake *f)
{
	size_t n = 0;

	for (int i = 0; i < FAKE_CONNS; i++)
		n += f->conns[i].fd >= 0;
	return n;
}

static void
fake_reply(struct fconn *fc, const char *verb, const char *arg)
{
	int n = snprintf(fc->out + fc->outlen, sizeof(fc->out) - fc->outlen, "%s:%s:",
	    verb, arg);

	ck_assert(n > 0 && (size_t)n < sizeof(fc->out) - fc->outlen);
	fc->outlen += (size_t)n;
}

static int
fake_find_key(const struct fake *f, const char *key)
{
	if (f->forget)
		return -1;
	for (int i = 0; i < f->nkeys; i++)
		if (strcmp(f->keys[i], key) == 0)
			return i;
	return -1;
}

static void
fake_message(struct fake *f, struct fconn *fc, const char *verb, const char *arg)
{
	int k;

	if (f->no_ext && (strcmp(verb, "AUTH") == 0 || strcmp(verb, "HOST") == 0 ||
	    strcmp(verb, "TTL") == 0 || strcmp(verb, "SVC") == 0 ||
	    strcmp(verb, "AGENT") == 0))
		return;
	/* An unknown verb, then its argument taken for another one. */
	if (f->no_agent && strcmp(verb, "AGENT") == 0) {
		fake_reply(fc, "ERR", "verb");
		fake_reply(fc, "ERR", "verb");
		return;
	}
	if (strcmp(verb, "AUTH") == 0) {
		if (f->token != NULL && strcmp(arg, f->token) != 0) {
			fake_reply(fc, "ERR", "auth");
			fc->closing = true;
			return;
		}
		fc->authed = true;
		fake_reply(fc, "AUTH", "ok");
		return;
	}
	if (f->token != NULL && !fc->authed) {
		fake_reply(fc, "ERR", "auth");
		fc->closing = true;
		return;
	}
	if (strcmp(verb, "SVC") == 0) {
		/* harmonyd's services here: default and web. */
		if (strcmp(arg, "default") != 0 && strcmp(arg, "web") != 0) {
			fake_reply(fc, "ERR", "service");
			fc->closing = true;
			return;
		}
		fake_reply(fc, "SVC", arg);
	} else if (strcmp(verb, "NID") == 0) {
		ck_assert_int_lt(f->nkeys, 16);
		snprintf(f->keys[f->nkeys], sizeof(f->keys[0]), "k%d", ++f->next_key);
		fake_reply(fc, "NID", f->keys[f->nkeys++]);
	} else if (strcmp(verb, "BAL") == 0) {
		fake_reply(fc, "BAL", f->lie ? "999" : arg);
	} else if (strcmp(verb, "SPORT") == 0) {
		if (f->sport_err != NULL)
			fake_reply(fc, "ERR", f->sport_err);
		else
			fake_reply(fc, "SPORT", arg);
	} else if (strcmp(verb, "TTL") == 0 || strcmp(verb, "HOST") == 0 ||
	    strcmp(verb, "AGENT") == 0) {
		fake_reply(fc, verb, arg);
	} else if (strcmp(verb, "ACK") == 0 || strcmp(verb, "ID") == 0 ||
	    strcmp(verb, "CLOSE") == 0) {
		if ((k = fake_find_key(f, arg)) == -1 &&
		    !(f->ack_any && strcmp(verb, "ACK") == 0)) {
			fake_reply(fc, "BID", arg);
			return;
		}
		if (strcmp(verb, "CLOSE") == 0 && k >= 0)
			memmove(f->keys[k], f->keys[--f->nkeys], sizeof(f->keys[0]));
		fake_reply(fc, verb, arg);
	} else
		fake_reply(fc, "ERR", "verb");
}

static void
fake_parse(struct fake *f, struct fconn *fc)
{
	size_t pos = 0;
	char *colon;

	while ((colon = memchr(fc->in + pos, ':', fc->inlen - pos)) != NULL) {
		char *tok = fc->in + pos;

		*colon = '\0';
		pos = (size_t)(colon - fc->in) + 1;
		if (fc->have_verb) {
			fc->have_verb = false;
			fake_message(f, fc, fc->verb, tok);
		} else if (strcmp(tok, "BYE") == 0) {
			fc->closing = true;
		} else if (*tok != '\0') {
			snprintf(fc->verb, sizeof(fc->verb), "%s", tok);
			fc->have_verb = true;
		}
	}
	memmove(fc->in, fc->in + pos, fc->inlen - pos);
	fc->inlen -= pos;
}

static void
fake_close(struct fconn *fc)
{
	close(fc->fd);
	memset(fc, 0, sizeof(*fc));
	fc->fd = -1;
}

static void
fake_conn_io(struct fake *f, struct fconn *fc, short revents)
{
	ssize_t n;

	if (fc->outoff < fc->outlen) {
		size_t len = f->bytewise ? 1 : fc->outlen - fc->outoff;

		n = send(fc->fd, fc->out + fc->outoff, len, MSG_NOSIGNAL);
		if (n > 0)
			fc->outoff += (size_t)n;
		if (fc->outoff == fc->outlen)
			fc->outoff = fc->outlen = 0;
		return;
	}
	if (fc->closing) {
		fake_close(fc);
		return;
	}
	if (!(revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	n = recv(fc->fd, fc->in + fc->inlen, sizeof(fc->in) - fc->inlen, 0);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			fake_close(fc);
		return;
	}
	ck_assert_uint_lt(f->loglen + (size_t)n, sizeof(f->log));
	memcpy(f->log + f->loglen, fc->in + fc->inlen, (size_t)n);
	f->loglen += (size_t)n;
	f->log[f->loglen] = '\0';
	fc->inlen += (size_t)n;
	if (!f->silent)
		fake_parse(f, fc);
}

static void
fake_accept(struct fake *f)
{
	int fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	f->accepted++;
	if (f->hangup) {
		close(fd);
		return;
	}
	for (int i = 0; i < FAKE_CONNS; i++) {
		if (f->conns[i].fd < 0) {
			f->conns[i].fd = fd;
			return;
		}
	}
	close(fd);
}

/*
 * One round of I/O for the fake and the client, waiting at most wait_ms
 * (real time) in poll. The client sees the virtual clock.
 */
static void
round_trip(struct fake *f, struct harmony_client *c, int wait_ms)
{
	struct pollfd pfd[2 + FAKE_CONNS];
	int n;

	pfd[0] = (struct pollfd){ .fd = f->lfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = c ? harmony_client_fd(c) : -1,
	    .events = c ? harmony_client_events(c) : 0 };
	for (int i = 0; i < FAKE_CONNS; i++) {
		struct fconn *fc = &f->conns[i];

		pfd[2 + i] = (struct pollfd){ .fd = fc->fd, .events = POLLIN };
		if (fc->outoff < fc->outlen || fc->closing)
			pfd[2 + i].events = POLLOUT;
	}
	n = poll(pfd, 2 + FAKE_CONNS, wait_ms);
	ck_assert_int_ge(n, 0);
	if (pfd[0].revents & POLLIN)
		fake_accept(f);
	for (int i = 0; i < FAKE_CONNS; i++)
		if (f->conns[i].fd >= 0 && f->conns[i].fd == pfd[2 + i].fd &&
		    pfd[2 + i].revents != 0)
			fake_conn_io(f, &f->conns[i], pfd[2 + i].revents);
	if (c != NULL)
		harmony_client_process(c, pfd[1].fd >= 0 &&
		    pfd[1].fd == harmony_client_fd(c) ? pfd[1].revents : 0, vnow);
}

/*
 * Runs until the client has nothing in flight and nothing due now, and the
 * fake has seen every connection end; false if that takes over 5 s.
 */
static bool
pump(struct fake *f, struct harmony_client *c)
{
	for (int i = 0; i < 500; i++) {
		round_trip(f, c, 10);
		if (harmony_client_fd(c) < 0 && harmony_client_next_ms(c, vnow) != 0 &&
		    fake_open_conns(f) == 0)
			return true;
	}
	return false;
}

static struct harmony_client *
client_for(const struct fake *f, uint16_t port)
{
	struct harmony_client *c = harmony_client_new("127.0.0.1", f->port, port);

	ck_assert_ptr_nonnull(c);
	harmony_client_set_callback(c, on_event, NULL);
	return c;
}

/* Registers with a fresh fake; the fake's log is cleared afterwards. */
static struct harmony_client *
registered(struct fake *f, int64_t interval_ms)
{
	struct harmony_client *c = client_for(f, 1080);

	ck_assert_int_eq(harmony_client_set_interval(c, interval_ms), 0);
	ck_assert_int_eq(harmony_client_register(c), 0);
	ck_assert(pump(f, c));
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	f->loglen = 0;
	f->log[0] = '\0';
	return c;
}

/* A loopback port where connections are refused (bound, not listening). */
static int
dead_port(uint16_t *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* --- registration ------------------------------------------------------ */

START_TEST(test_register_request)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);

	ck_assert_int_eq(harmony_client_state(c), HARMONY_IDLE);
	ck_assert_int_eq(harmony_client_fd(c), -1);
	ck_assert_int_eq(harmony_client_events(c), 0);
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), -1);
	ck_assert_ptr_null(harmony_client_key(c));
	ck_assert_int_eq(harmony_client_set_weight(c, 1000), 0);
	ck_assert_int_eq(harmony_client_register(c), 0);
	ck_assert_int_eq(harmony_client_register(c), -1);
	ck_assert_int_eq(errno, EALREADY);
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERING);
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 0);

	/* The first process starts the connection: it wants POLLOUT. */
	harmony_client_process(c, 0, vnow);
	ck_assert_int_ge(harmony_client_fd(c), 0);
	ck_assert_int_eq(harmony_client_events(c), POLLOUT);
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), HARMONY_TIMEOUT_DEFAULT_MS);

	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "NID::BAL:1000:SPORT:1080:BYE:");
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	ck_assert_str_eq(harmony_client_key(c), "k1");
	ck_assert_int_eq(harmony_client_fd(c), -1);
	ck_assert_int_eq(count_events(HARMONY_EVENT_REGISTERED), 1);
	ck_assert_str_eq(last_event()->detail, "k1");
	ck_assert_str_eq(harmony_client_error(c), "");
	/* No TTL: the default period. */
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), HARMONY_INTERVAL_DEFAULT_MS);
	ck_assert_int_eq(f->accepted, 1);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_register_extensions)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 8080);

	f->token = "s3cret";
	ck_assert_int_eq(harmony_client_set_token(c, "s3cret"), 0);
	ck_assert_int_eq(harmony_client_set_host(c, "10.0.0.5"), 0);
	/* Whole seconds on the wire, rounded up. */
	ck_assert_int_eq(harmony_client_set_ttl(c, 3500), 0);
	ck_assert_int_eq(harmony_client_register(c), 0);
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log,
	    "AUTH:s3cret:HOST:10.0.0.5:TTL:4:NID::BAL:500:SPORT:8080:BYE:");
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	/* Half the TTL. */
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 1750);

	/* Every later connection authenticates too. */
	f->loglen = 0;
	vnow += 1750;
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "AUTH:s3cret:ACK:k1:BYE:");
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_register_bytewise_answers)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);

	/* The answers trickle in one byte per segment. */
	f->bytewise = true;
	harmony_client_set_token(c, "t");
	harmony_client_set_ttl(c, 60000);
	ck_assert_int_eq(harmony_client_register(c), 0);
	ck_assert(pump(f, c));
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	ck_assert_str_eq(harmony_client_key(c), "k1");
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

/* --- heartbeats -------------------------------------------------------- */

START_TEST(test_heartbeat_period)
{
	struct fake *f = fake_new();
	struct harmony_client *c = registered(f, 1000);

	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 1000);
	vnow += 999;
	harmony_client_process(c, 0, vnow);
	ck_assert_int_eq(harmony_client_fd(c), -1);	/* not due yet */
	vnow += 1;
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 0);
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "ACK:k1:BYE:");
	ck_assert_int_eq(count_events(HARMONY_EVENT_ACKED), 1);
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 1000);

	/* An early heartbeat on request. */
	ck_assert_int_eq(harmony_client_heartbeat(c), 0);
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 0);
	ck_assert(pump(f, c));
	ck_assert_int_eq(count_events(HARMONY_EVENT_ACKED), 2);
	ck_assert_int_eq(f->accepted, 3);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_bid_registers_anew)
{
	struct fake *f = fake_new();
	struct harmony_client *c = registered(f, 1000);

	/* The balancer restarted without its state: it knows no key. */
	f->forget = true;
	vnow += 1000;
	ck_assert(pump(f, c));
	/* Not node-harmony's bare NID: port and weight come along. */
	ck_assert_str_eq(f->log, "ACK:k1:BYE:NID::BAL:500:SPORT:1080:BYE:");
	ck_assert_int_eq(count_events(HARMONY_EVENT_LOST), 1);
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	ck_assert_str_eq(harmony_client_key(c), "k2");
	ck_assert_int_eq(harmony_client_failures(c), 0);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_suspend_resume)
{
	struct fake *f = fake_new();
	struct harmony_client *c = registered(f, 1000);
	int accepted = f->accepted;

	harmony_client_suspend(c);
	ck_assert(harmony_client_suspended(c));
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), -1);
	vnow += 10000;
	ck_assert(pump(f, c));
	ck_assert_int_eq(f->accepted, accepted);	/* silence while suspended */

	/* Resuming heartbeats at once, not one period later. */
	harmony_client_resume(c);
	ck_assert(!harmony_client_suspended(c));
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 0);
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "ACK:k1:BYE:");
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 1000);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_suspended_from_the_start)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);

	/* The agent's first health check has not passed yet. */
	harmony_client_suspend(c);
	ck_assert_int_eq(harmony_client_register(c), 0);
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), -1);
	ck_assert(pump(f, c));
	ck_assert_int_eq(f->accepted, 0);
	harmony_client_resume(c);
	ck_assert(pump(f, c));
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

/* --- updates and close ------------------------------------------------- */

START_TEST(test_reweigh)
{
	struct fake *f = fake_new();
	struct harmony_client *c = registered(f, 1000);

	ck_assert_int_eq(harmony_client_set_weight(c, 42), 0);
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 0);
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "ACK:k1:ID:k1:BAL:42:BYE:");
	ck_assert_int_eq(count_events(HARMONY_EVENT_UPDATED), 1);
	/* The update was a heartbeat as well. */
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 1000);

	/* Same weight again: nothing to send. */
	ck_assert_int_eq(harmony_client_set_weight(c, 42), 0);
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 1000);

	/* A new TTL goes along with the weight. */
	f->loglen = 0;
	ck_assert_int_eq(harmony_client_set_ttl(c, 9000), 0);
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "ACK:k1:ID:k1:TTL:9:BAL:42:BYE:");
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_weight_changed_while_registering)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);

	ck_assert_int_eq(harmony_client_register(c), 0);
	harmony_client_process(c, 0, vnow);		/* in flight with 500 */
	ck_assert_int_ge(harmony_client_fd(c), 0);
	ck_assert_int_eq(harmony_client_set_weight(c, 700), 0);
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "NID::BAL:500:SPORT:1080:BYE:ACK:k1:ID:k1:BAL:700:BYE:");
	ck_assert_int_eq(count_events(HARMONY_EVENT_UPDATED), 1);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_close)
{
	struct fake *f = fake_new();
	struct harmony_client *c = registered(f, 1000);

	ck_assert_int_eq(harmony_client_close(c), 0);
	ck_assert_int_eq(harmony_client_state(c), HARMONY_CLOSING);
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 0);
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "CLOSE:k1:BYE:");
	ck_assert_int_eq(harmony_client_state(c), HARMONY_CLOSED);
	ck_assert_int_eq(count_events(HARMONY_EVENT_CLOSED), 1);
	ck_assert_str_eq(last_event()->detail, "");
	ck_assert_ptr_null(harmony_client_key(c));
	/* Nothing follows a close. */
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), -1);
	vnow += 100000;
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "CLOSE:k1:BYE:");
	ck_assert_int_eq(harmony_client_register(c), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(harmony_client_heartbeat(c), -1);
	ck_assert_int_eq(harmony_client_close(c), 0);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_close_while_suspended)
{
	struct fake *f = fake_new();
	struct harmony_client *c = registered(f, 1000);

	/* A failing check does not keep the agent from draining on exit. */
	harmony_client_suspend(c);
	harmony_client_close(c);
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "CLOSE:k1:BYE:");
	ck_assert_int_eq(harmony_client_state(c), HARMONY_CLOSED);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_close_unknown_key)
{
	struct fake *f = fake_new();
	struct harmony_client *c = registered(f, 1000);

	f->forget = true;
	harmony_client_close(c);
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "CLOSE:k1:BYE:");
	/* Gone already is as good as closed. */
	ck_assert_int_eq(harmony_client_state(c), HARMONY_CLOSED);
	ck_assert_int_eq(count_events(HARMONY_EVENT_LOST), 0);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_close_before_register)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);

	harmony_client_close(c);
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 0);
	ck_assert(pump(f, c));
	ck_assert_int_eq(harmony_client_state(c), HARMONY_CLOSED);
	ck_assert_int_eq(count_events(HARMONY_EVENT_CLOSED), 1);
	ck_assert_str_eq(last_event()->detail, "not registered");
	ck_assert_int_eq(f->accepted, 0);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_close_during_registration)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);

	harmony_client_register(c);
	harmony_client_process(c, 0, vnow);
	ck_assert_int_ge(harmony_client_fd(c), 0);
	harmony_client_close(c);
	ck_assert(pump(f, c));
	/* Registered, then closed with the key it got: nothing left behind. */
	ck_assert_str_eq(f->log, "NID::BAL:500:SPORT:1080:BYE:CLOSE:k1:BYE:");
	ck_assert_int_eq(harmony_client_state(c), HARMONY_CLOSED);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

/* --- a balancer without the extensions (node-harmony) ------------------ */

static struct harmony_client *
registered_plain(struct fake *f)
{
	struct harmony_client *c = client_for(f, 1080);

	f->no_ext = true;
	f->ack_any = true;
	harmony_client_set_token(c, "t");
	harmony_client_set_host(c, "10.0.0.5");
	/* Half of it, 60 s, is longer than the default period. */
	harmony_client_set_ttl(c, 120000);
	ck_assert(!harmony_client_plain(c));
	ck_assert_int_eq(harmony_client_register(c), 0);
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log,
	    "AUTH:t:HOST:10.0.0.5:TTL:120:NID::BAL:500:SPORT:1080:BYE:");
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	ck_assert_str_eq(harmony_client_key(c), "k1");
	ck_assert(harmony_client_plain(c));
	ck_assert_int_eq(count_events(HARMONY_EVENT_PLAIN), 1);
	ck_assert_int_eq(count_events(HARMONY_EVENT_ERROR), 0);
	ck_assert_int_eq(f->accepted, 1);
	f->loglen = 0;
	f->log[0] = '\0';
	return c;
}

START_TEST(test_plain_server)
{
	struct fake *f = fake_new();
	struct harmony_client *c = registered_plain(f);

	ck_assert_str_eq(events[0].detail, "AUTH HOST TTL");
	ck_assert_int_eq(events[0].ev, HARMONY_EVENT_PLAIN);
	ck_assert_int_eq(last_event()->ev, HARMONY_EVENT_REGISTERED);
	/* The TTL is not in force there: not half of it, the default. */
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), HARMONY_INTERVAL_DEFAULT_MS);

	/* Heartbeats in the reference client's form, with no extension. */
	vnow += HARMONY_INTERVAL_DEFAULT_MS;
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "ACK:k1:ID:k1:BYE:");
	ck_assert_int_eq(last_event()->ev, HARMONY_EVENT_ACKED);

	/* An update carries the weight, not the TTL. */
	f->loglen = 0;
	ck_assert_int_eq(harmony_client_set_weight(c, 42), 0);
	ck_assert_int_eq(harmony_client_set_ttl(c, 9000), 0);
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "ACK:k1:ID:k1:BAL:42:BYE:");
	ck_assert_int_eq(last_event()->ev, HARMONY_EVENT_UPDATED);
	/* A TTL short enough is still what sets the period. */
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 4500);

	f->loglen = 0;
	harmony_client_close(c);
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "CLOSE:k1:BYE:");
	ck_assert_int_eq(harmony_client_state(c), HARMONY_CLOSED);
	ck_assert_int_eq(count_events(HARMONY_EVENT_PLAIN), 1);
	ck_assert_int_eq(count_events(HARMONY_EVENT_ERROR), 0);
	ck_assert_int_eq(f->accepted, 4);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

/* --- services (issue 15) ------------------------------------------------ */

/* What the next operations send, from a clean log. */
static void
wire_is(struct fake *f, struct harmony_client *c, const char *want)
{
	f->loglen = 0;
	f->log[0] = '\0';
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, want);
}

/* Refused, and trying again: no key, still registering. */
static void
assert_refused(struct harmony_client *c, const char *why)
{
	ck_assert_int_eq(last_event()->ev, HARMONY_EVENT_ERROR);
	ck_assert_msg(strstr(harmony_client_error(c), why) != NULL, "error '%s'",
	    harmony_client_error(c));
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERING);
	ck_assert_ptr_null(harmony_client_key(c));
}

/* SVC before the NID and the update's ID; a heartbeat's key needs none. */
START_TEST(test_service_on_the_wire)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);

	ck_assert_int_eq(harmony_client_set_service(c, "web"), 0);
	/* A refused name changes nothing: web is what goes out. */
	ck_assert_int_eq(harmony_client_set_service(c, "Nope"), -1);
	/* After AUTH: the service is for those allowed to register only. */
	f->token = "s3cret";
	ck_assert_int_eq(harmony_client_set_token(c, "s3cret"), 0);
	ck_assert_int_eq(harmony_client_register(c), 0);
	wire_is(f, c, "AUTH:s3cret:SVC:web:NID::BAL:500:SPORT:1080:BYE:");
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	vnow += HARMONY_INTERVAL_DEFAULT_MS;
	wire_is(f, c, "AUTH:s3cret:ACK:k1:BYE:");
	ck_assert_int_eq(harmony_client_set_weight(c, 42), 0);
	wire_is(f, c, "AUTH:s3cret:SVC:web:ACK:k1:ID:k1:BAL:42:BYE:");
	ck_assert_int_eq(last_event()->ev, HARMONY_EVENT_UPDATED);
	/* Unset again: exactly today's bytes. */
	ck_assert_int_eq(harmony_client_set_service(c, NULL), 0);
	ck_assert_int_eq(harmony_client_set_weight(c, 43), 0);
	wire_is(f, c, "AUTH:s3cret:ACK:k1:ID:k1:BAL:43:BYE:");
	ck_assert_int_eq(count_events(HARMONY_EVENT_ERROR), 0);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_service_validated)
{
	static const char *const bad[] = {
		"", "Web", "-web", "web.1", "we b", "web:",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);

	ck_assert_int_eq(harmony_client_set_service(c, "web"), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		ck_assert_int_eq(harmony_client_set_service(c, bad[i]), -1);
		ck_assert_int_eq(errno, EINVAL);
	}
	ck_assert_int_eq(harmony_client_set_service(c,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), 0);
	ck_assert_int_eq(harmony_client_set_service(c, "web_2-a"), 0);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

/* ERR:service: is a failure like any other, retried, and says which. */
START_TEST(test_service_unknown)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);

	ck_assert_int_eq(harmony_client_set_service(c, "nosuch"), 0);
	ck_assert_int_eq(harmony_client_register(c), 0);
	ck_assert(pump(f, c));
	assert_refused(c, "balancer answered ERR:service: it has no service nosuch");
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

/* node-harmony's server: default is no loss, silently; web is refused. */
START_TEST(test_service_plain_server)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);
	int accepted;

	f->no_ext = true;
	f->ack_any = true;
	ck_assert_int_eq(harmony_client_set_service(c, "default"), 0);
	ck_assert_int_eq(harmony_client_register(c), 0);
	wire_is(f, c, "SVC:default:NID::BAL:500:SPORT:1080:BYE:");
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	ck_assert(harmony_client_plain(c));
	ck_assert_int_eq(count_events(HARMONY_EVENT_PLAIN), 0);
	ck_assert_int_eq(count_events(HARMONY_EVENT_ERROR), 0);
	ck_assert_int_eq(harmony_client_set_weight(c, 42), 0);
	wire_is(f, c, "ACK:k1:ID:k1:BAL:42:BYE:");
	harmony_client_free(c);
	fake_free(f);

	f = fake_new();
	c = client_for(f, 1080);
	f->no_ext = true;
	f->ack_any = true;
	nevents = 0;
	ck_assert_int_eq(harmony_client_set_service(c, "web"), 0);
	ck_assert_int_eq(harmony_client_register(c), 0);
	wire_is(f, c, "SVC:web:NID::BAL:500:SPORT:1080:BYE:");
	assert_refused(c, "has no services: service web refused");
	ck_assert_int_eq(count_events(HARMONY_EVENT_PLAIN), 1);
	ck_assert_str_eq(events[0].detail, "SVC");
	/* Later attempts are refused without a connection. */
	accepted = f->accepted;
	vnow += HC_TEST_BACKOFF_MS;
	ck_assert(pump(f, c));
	ck_assert_int_eq(f->accepted, accepted);
	ck_assert_int_ge(count_events(HARMONY_EVENT_ERROR), 2);
	assert_refused(c, "has no services: service web refused");
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_plain_server_restarted)
{
	struct fake *f = fake_new();
	struct harmony_client *c = registered_plain(f);

	/*
	 * It restarted and knows no key: it still answers ACK, only ID gets
	 * BID. No BYE then (it would answer that BID again, into a closed
	 * connection); the new registration tries the extensions again.
	 */
	f->forget = true;
	vnow += HARMONY_INTERVAL_DEFAULT_MS;
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "ACK:k1:ID:k1:"
	    "AUTH:t:HOST:10.0.0.5:TTL:120:NID::BAL:500:SPORT:1080:BYE:");
	ck_assert_int_eq(count_events(HARMONY_EVENT_LOST), 1);
	ck_assert_int_eq(count_events(HARMONY_EVENT_PLAIN), 2);
	ck_assert_int_eq(count_events(HARMONY_EVENT_ERROR), 0);
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	ck_assert_str_eq(harmony_client_key(c), "k2");
	ck_assert(harmony_client_plain(c));
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_plain_ends_on_err)
{
	struct fake *f = fake_new();
	struct harmony_client *c = registered_plain(f);

	/* harmonyd, with a token, now answers at that address. */
	f->no_ext = false;
	f->ack_any = false;
	f->token = "t";
	vnow += HARMONY_INTERVAL_DEFAULT_MS;
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "ACK:k1:ID:k1:");
	ck_assert_int_eq(last_event()->ev, HARMONY_EVENT_ERROR);
	ck_assert(!harmony_client_plain(c));
	f->loglen = 0;
	vnow += harmony_client_next_ms(c, vnow);
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "AUTH:t:ACK:k1:BYE:");
	ck_assert_int_eq(last_event()->ev, HARMONY_EVENT_ACKED);
	/* The TTL is in force again: half of it. */
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 60000);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_hangup_is_not_plain)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);

	/* A bare close proves nothing: harmonyd does that when it is full. */
	f->hangup = true;
	harmony_client_set_ttl(c, 60000);
	harmony_client_register(c);
	ck_assert(pump(f, c));
	ck_assert_int_eq(last_event()->ev, HARMONY_EVENT_ERROR);
	ck_assert(!harmony_client_plain(c));
	f->hangup = false;
	vnow += harmony_client_next_ms(c, vnow);
	ck_assert(pump(f, c));
	ck_assert_str_eq(f->log, "TTL:60:NID::BAL:500:SPORT:1080:BYE:");
	ck_assert_int_eq(count_events(HARMONY_EVENT_PLAIN), 0);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

/* --- failures ---------------------------------------------------------- */

START_TEST(test_refused_backoff)
{
	uint16_t port;
	int hold = dead_port(&port);
	struct harmony_client *c = harmony_client_new("127.0.0.1", port, 1080);
	int64_t expect[] = { 1000, 2000, 4000, 8000, 16000, 30000, 30000 };

	nevents = 0;
	harmony_client_set_callback(c, on_event, NULL);
	harmony_client_register(c);
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
		/* The refusal may come at connect or at the first poll. */
		harmony_client_process(c, 0, vnow);
		if (harmony_client_fd(c) >= 0) {
			struct pollfd pfd = { harmony_client_fd(c), harmony_client_events(c), 0 };

			ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
			harmony_client_process(c, pfd.revents, vnow);
		}
		ck_assert_int_eq(harmony_client_fd(c), -1);
		ck_assert_uint_eq(harmony_client_failures(c), i + 1);
		ck_assert_int_eq(harmony_client_next_ms(c, vnow), expect[i]);
		ck_assert_int_eq(last_event()->ev, HARMONY_EVENT_ERROR);
		ck_assert_ptr_nonnull(strstr(harmony_client_error(c), "refused"));
		vnow += expect[i];
	}
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERING);
	harmony_client_free(c);
	close(hold);
}
END_TEST

START_TEST(test_registered_backoff_capped_by_period)
{
	struct fake *f = fake_new();
	struct harmony_client *c = registered(f, 300);

	/* The balancer goes away: retries at the heartbeat period at most. */
	f->hangup = true;
	vnow += 300;
	ck_assert(pump(f, c));
	ck_assert_uint_eq(harmony_client_failures(c), 1);
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 300);
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	ck_assert_str_ne(harmony_client_error(c), "");

	/* It comes back: the next heartbeat succeeds and clears the failure. */
	f->hangup = false;
	vnow += 300;
	ck_assert(pump(f, c));
	ck_assert_uint_eq(harmony_client_failures(c), 0);
	ck_assert_str_eq(harmony_client_error(c), "");
	ck_assert_int_eq(last_event()->ev, HARMONY_EVENT_ACKED);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_timeout)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);

	f->silent = true;
	harmony_client_set_timeout(c, 2000);
	harmony_client_register(c);
	for (int i = 0; i < 50; i++)
		round_trip(f, c, 10);
	ck_assert_int_ge(harmony_client_fd(c), 0);	/* still waiting */
	ck_assert_int_eq(harmony_client_next_ms(c, vnow), 2000);
	vnow += 1999;
	round_trip(f, c, 0);
	ck_assert_int_ge(harmony_client_fd(c), 0);
	vnow += 1;
	round_trip(f, c, 0);
	ck_assert_int_eq(harmony_client_fd(c), -1);
	ck_assert_int_eq(last_event()->ev, HARMONY_EVENT_ERROR);
	ck_assert_ptr_nonnull(strstr(last_event()->detail, "no answer within 2000 ms"));
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_wrong_token)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);

	f->token = "right";
	harmony_client_set_token(c, "wrong");
	harmony_client_register(c);
	ck_assert(pump(f, c));
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERING);
	ck_assert_int_eq(last_event()->ev, HARMONY_EVENT_ERROR);
	ck_assert_ptr_nonnull(strstr(harmony_client_error(c), "ERR:auth"));
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_err_answer)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);

	f->sport_err = "conflict";
	harmony_client_register(c);
	ck_assert(pump(f, c));
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERING);
	ck_assert_ptr_nonnull(strstr(harmony_client_error(c), "ERR:conflict"));
	ck_assert_ptr_null(harmony_client_key(c));
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_wrong_echo)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);

	/* The server must repeat BAL's argument byte for byte. */
	f->lie = true;
	harmony_client_register(c);
	ck_assert(pump(f, c));
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERING);
	ck_assert_ptr_nonnull(strstr(harmony_client_error(c), "unexpected answer BAL:999"));
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_unresolvable)
{
	struct harmony_client *c = harmony_client_new("no-such-host.invalid", 1666, 1080);

	nevents = 0;
	harmony_client_set_callback(c, on_event, NULL);
	harmony_client_register(c);
	harmony_client_process(c, 0, vnow);
	ck_assert_int_eq(harmony_client_fd(c), -1);
	ck_assert_int_eq(last_event()->ev, HARMONY_EVENT_ERROR);
	ck_assert_ptr_nonnull(strstr(harmony_client_error(c), "no-such-host.invalid"));
	ck_assert_int_gt(harmony_client_next_ms(c, vnow), 0);
	harmony_client_free(c);
}
END_TEST

/* --- the client's name (AGENT, issue 16) -------------------------------- */

#define AGENT_NAME	"harmony-agent/0.9"

/* A client named AGENT_NAME (and token's, if any), registered with want. */
static struct harmony_client *
named_registered(struct fake *f, const char *token, const char *want)
{
	struct harmony_client *c = client_for(f, 1080);

	if (token != NULL)
		ck_assert_int_eq(harmony_client_set_token(c, token), 0);
	ck_assert_int_eq(harmony_client_set_agent(c, AGENT_NAME), 0);
	ck_assert_int_eq(harmony_client_register(c), 0);
	wire_is(f, c, want);
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	ck_assert_int_eq(count_events(HARMONY_EVENT_ERROR), 0);
	return c;
}

/* A fake that answers as node-harmony's server does. */
static struct fake *
fake_old(void)
{
	struct fake *f = fake_new();

	f->no_ext = true;
	f->ack_any = true;
	return f;
}

/* After AUTH, before everything else, on every connection. */
START_TEST(test_agent_on_the_wire)
{
	struct fake *f = fake_new();
	struct harmony_client *c = named_registered(f, NULL,
	    "AGENT:" AGENT_NAME ":NID::BAL:500:SPORT:1080:BYE:");

	harmony_client_free(c);
	fake_free(f);

	f = fake_new();
	c = client_for(f, 1080);
	f->token = "s3cret";
	ck_assert_int_eq(harmony_client_set_token(c, "s3cret"), 0);
	ck_assert_int_eq(harmony_client_set_agent(c, AGENT_NAME), 0);
	/* A refused name changes nothing. */
	ck_assert_int_eq(harmony_client_set_agent(c, "no version"), -1);
	ck_assert_int_eq(harmony_client_set_service(c, "web"), 0);
	ck_assert_int_eq(harmony_client_set_ttl(c, 4000), 0);
	ck_assert_int_eq(harmony_client_register(c), 0);
	wire_is(f, c, "AUTH:s3cret:AGENT:" AGENT_NAME ":SVC:web:TTL:4:NID::BAL:500:"
	    "SPORT:1080:BYE:");
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	vnow += 2000;
	wire_is(f, c, "AUTH:s3cret:AGENT:" AGENT_NAME ":ACK:k1:BYE:");
	ck_assert_int_eq(harmony_client_set_weight(c, 42), 0);
	wire_is(f, c, "AUTH:s3cret:AGENT:" AGENT_NAME ":SVC:web:ACK:k1:ID:k1:TTL:4:"
	    "BAL:42:BYE:");
	/* Unset: exactly the bytes without it. */
	ck_assert_int_eq(harmony_client_set_agent(c, NULL), 0);
	ck_assert_int_eq(harmony_client_set_weight(c, 43), 0);
	wire_is(f, c, "AUTH:s3cret:SVC:web:ACK:k1:ID:k1:TTL:4:BAL:43:BYE:");
	ck_assert_int_eq(harmony_client_set_agent(c, AGENT_NAME), 0);
	ck_assert_int_eq(harmony_client_close(c), 0);
	wire_is(f, c, "AUTH:s3cret:AGENT:" AGENT_NAME ":CLOSE:k1:BYE:");
	ck_assert_int_eq(harmony_client_state(c), HARMONY_CLOSED);
	ck_assert_int_eq(count_events(HARMONY_EVENT_ERROR), 0);
	ck_assert_int_eq(count_events(HARMONY_EVENT_PLAIN), 0);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_agent_validated)
{
	static const char *const bad[] = {
		"", "harmony-agent", "harmony-agent/", "/0.9", "a/b/c", "a b/1",
		"-a/1", "a/.1", "a:b/1", "a/1:", "a\"/1", "a\\/1", "a/1\n",
		"caf\xc3\xa9/1", "a\x7f/1",
		/* 65 bytes */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/1",
	};
	struct harmony_client *c = harmony_client_new("127.0.0.1", 1666, 80);

	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(strlen(bad[sizeof(bad) / sizeof(bad[0]) - 1]), HARMONY_AGENT_MAX + 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		ck_assert_msg(harmony_client_set_agent(c, bad[i]) == -1, "'%s' taken", bad[i]);
		ck_assert_int_eq(errno, EINVAL);
	}
	ck_assert_int_eq(harmony_client_set_agent(c,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/1"), 0);
	ck_assert_int_eq(harmony_client_set_agent(c, "My.App_2/1.0.0-rc.1+git.abc"), 0);
	ck_assert_int_eq(harmony_client_set_agent(c, NULL), 0);
	harmony_client_free(c);
}
END_TEST

/*
 * node-harmony's server skips it, as the other extensions: no loss (it
 * has no actors), so not named, and no event when it was the only one.
 */
START_TEST(test_agent_plain_server)
{
	struct fake *f = fake_old();
	struct harmony_client *c = named_registered(f, NULL,
	    "AGENT:" AGENT_NAME ":NID::BAL:500:SPORT:1080:BYE:");

	ck_assert(harmony_client_plain(c));
	ck_assert_int_eq(count_events(HARMONY_EVENT_PLAIN), 0);
	/* Never again to that server. */
	vnow += HARMONY_INTERVAL_DEFAULT_MS;
	wire_is(f, c, "ACK:k1:ID:k1:BYE:");
	ck_assert_int_eq(harmony_client_set_weight(c, 42), 0);
	wire_is(f, c, "ACK:k1:ID:k1:BAL:42:BYE:");
	harmony_client_close(c);
	wire_is(f, c, "CLOSE:k1:BYE:");
	ck_assert_int_eq(count_events(HARMONY_EVENT_PLAIN), 0);
	ck_assert_int_eq(count_events(HARMONY_EVENT_ERROR), 0);
	harmony_client_free(c);
	fake_free(f);

	/* With a token: the event names AUTH only. */
	f = fake_old();
	c = named_registered(f, "t",
	    "AUTH:t:AGENT:" AGENT_NAME ":NID::BAL:500:SPORT:1080:BYE:");
	ck_assert_int_eq(count_events(HARMONY_EVENT_PLAIN), 1);
	ck_assert_str_eq(events[0].detail, "AUTH");
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

/*
 * A harmonyd from before AGENT answers ERR:verb: to it and again to its
 * argument, and does the rest: the client goes on, and leaves it out
 * there until a BID (the balancer restarted, perhaps a newer one).
 */
START_TEST(test_agent_unknown_verb)
{
	struct fake *f = fake_new();
	struct harmony_client *c;

	f->no_agent = true;
	f->token = "t";
	c = named_registered(f, "t",
	    "AUTH:t:AGENT:" AGENT_NAME ":NID::BAL:500:SPORT:1080:BYE:");
	ck_assert_str_eq(harmony_client_key(c), "k1");
	ck_assert(!harmony_client_plain(c));
	ck_assert_int_eq(count_events(HARMONY_EVENT_PLAIN), 0);
	ck_assert_int_eq(f->nkeys, 1);		/* one registration, no retry */
	vnow += HARMONY_INTERVAL_DEFAULT_MS;
	wire_is(f, c, "AUTH:t:ACK:k1:BYE:");
	f->forget = true;
	vnow += HARMONY_INTERVAL_DEFAULT_MS;
	wire_is(f, c, "AUTH:t:ACK:k1:BYE:AUTH:t:AGENT:" AGENT_NAME ":NID::BAL:500:"
	    "SPORT:1080:BYE:");
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	ck_assert_int_eq(count_events(HARMONY_EVENT_ERROR), 0);
	/* Any other ERR is still one. */
	f->no_agent = false;
	f->forget = false;
	f->token = "other";
	vnow += HARMONY_INTERVAL_DEFAULT_MS;
	ck_assert(pump(f, c));
	ck_assert_int_eq(last_event()->ev, HARMONY_EVENT_ERROR);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

/* --- arguments --------------------------------------------------------- */

START_TEST(test_arguments)
{
	struct harmony_client *c;
	char big[HARMONY_TOKEN_MAX + 2];

	errno = 0;
	ck_assert_ptr_null(harmony_client_new("127.0.0.1", 1666, 0));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(harmony_client_new("", 1666, 80));
	ck_assert_ptr_null(harmony_client_new(NULL, 1666, 80));
	c = harmony_client_new("::1", 0, 80);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(harmony_client_balancer(c), "[::1]:1666");

	ck_assert_int_eq(harmony_client_set_weight(c, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(harmony_client_set_weight(c, HARMONY_WEIGHT_MAX + 1), -1);
	ck_assert_int_eq(harmony_client_set_weight(c, HARMONY_WEIGHT_MAX), 0);
	ck_assert_int_eq(harmony_client_set_token(c, "a:b"), -1);
	ck_assert_int_eq(harmony_client_set_token(c, ""), -1);
	ck_assert_int_eq(harmony_client_set_token(c, "a\nb"), -1);
	/* harmonyd refuses these tokens (common/token.c): so does libharmony. */
	ck_assert_int_eq(harmony_client_set_token(c, "a b"), -1);
	ck_assert_int_eq(harmony_client_set_token(c, "caf\xc3\xa9"), -1);
	ck_assert_int_eq(harmony_client_set_token(c, "\x7f"), -1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(harmony_client_set_token(c, big), -1);
	big[HARMONY_TOKEN_MAX] = '\0';
	ck_assert_int_eq(harmony_client_set_token(c, big), 0);
	ck_assert_int_eq(harmony_client_set_token(c, NULL), 0);
	ck_assert_int_eq(harmony_client_set_host(c, "::1"), -1);
	ck_assert_int_eq(harmony_client_set_host(c, "10.1.2.3:80"), -1);
	ck_assert_int_eq(harmony_client_set_host(c, "10.1.2.3"), 0);
	ck_assert_int_eq(harmony_client_set_host(c, NULL), 0);
	ck_assert_int_eq(harmony_client_set_ttl(c, -1), -1);
	ck_assert_int_eq(harmony_client_set_ttl(c, HARMONY_TTL_MAX_MS + 1), -1);
	ck_assert_int_eq(harmony_client_set_ttl(c, HARMONY_TTL_MAX_MS), 0);
	ck_assert_int_eq(harmony_client_set_interval(c, -5), -1);
	ck_assert_int_eq(harmony_client_set_timeout(c, -5), -1);
	ck_assert_int_eq(harmony_client_heartbeat(c), -1);	/* not registered */
	harmony_client_free(c);
	harmony_client_free(NULL);

	ck_assert_str_eq(harmony_state_name(HARMONY_REGISTERED), "registered");
	ck_assert_str_eq(harmony_version(), PACKAGE_VERSION);
	ck_assert_int_gt(harmony_now_ms(), 0);
}
END_TEST

/* A token is one protocol token: the longest one still fits a request. */
START_TEST(test_longest_request)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 65535);
	char tok[HARMONY_TOKEN_MAX + 1];

	memset(tok, 'z', HARMONY_TOKEN_MAX);
	tok[HARMONY_TOKEN_MAX] = '\0';
	f->token = tok;
	harmony_client_set_token(c, tok);
	harmony_client_set_host(c, "255.255.255.255");
	harmony_client_set_ttl(c, HARMONY_TTL_MAX_MS);
	harmony_client_set_weight(c, HARMONY_WEIGHT_MAX);
	harmony_client_register(c);
	ck_assert(pump(f, c));
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	ck_assert_ptr_nonnull(strstr(f->log, "TTL:86400:NID::BAL:1000000:SPORT:65535:"));
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

/* --- blocking helpers (real clock, fake in a child) -------------------- */

static pid_t
fake_fork(struct fake *f)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		for (;;)
			round_trip(f, NULL, 100);
	}
	return pid;
}

static void
fake_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

START_TEST(test_wait)
{
	struct fake *f = fake_new();
	struct harmony_client *c = client_for(f, 1080);
	pid_t pid = fake_fork(f);

	/* Nothing asked: nothing to wait for. */
	ck_assert_int_eq(harmony_client_wait(c, 1000), 0);
	harmony_client_register(c);
	ck_assert_int_eq(harmony_client_wait(c, 5000), 0);
	ck_assert_int_eq(harmony_client_state(c), HARMONY_REGISTERED);
	ck_assert_int_eq(harmony_client_heartbeat(c), 0);
	ck_assert_int_eq(harmony_client_wait(c, 5000), 0);
	ck_assert_int_eq(count_events(HARMONY_EVENT_ACKED), 1);
	harmony_client_set_weight(c, 9);
	ck_assert_int_eq(harmony_client_wait(c, 5000), 0);
	ck_assert_int_eq(count_events(HARMONY_EVENT_UPDATED), 1);
	/* One step: returns once the period is up or the timeout passes. */
	ck_assert_int_eq(harmony_client_poll(c, 10), 0);
	harmony_client_close(c);
	ck_assert_int_eq(harmony_client_wait(c, 5000), 0);
	ck_assert_int_eq(harmony_client_state(c), HARMONY_CLOSED);
	/* Closed: poll has nothing to wait for and returns at once. */
	ck_assert_int_eq(harmony_client_poll(c, -1), 0);
	fake_reap(pid);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

START_TEST(test_wait_failures)
{
	uint16_t port;
	int hold = dead_port(&port);
	struct harmony_client *c = harmony_client_new("127.0.0.1", port, 1080);
	struct fake *f = fake_new();
	pid_t pid;
	int64_t t0;

	harmony_client_register(c);
	ck_assert_int_eq(harmony_client_wait(c, 5000), -1);
	ck_assert_int_eq(errno, ECONNREFUSED);
	harmony_client_free(c);
	close(hold);

	/* A balancer that never answers: the operation's own timeout. */
	f->silent = true;
	pid = fake_fork(f);
	c = client_for(f, 1080);
	harmony_client_set_timeout(c, 200);
	harmony_client_register(c);
	t0 = harmony_now_ms();
	ck_assert_int_eq(harmony_client_wait(c, 5000), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_lt(harmony_now_ms() - t0, 2000);

	/* The caller's timeout, shorter than the operation's. */
	harmony_client_set_timeout(c, 5000);
	harmony_client_heartbeat(c);
	t0 = harmony_now_ms();
	ck_assert_int_eq(harmony_client_wait(c, 100), -1);
	ck_assert_int_eq(errno, ETIMEDOUT);
	ck_assert_int_lt(harmony_now_ms() - t0, 2000);

	/* Suspended: waiting would never end. */
	harmony_client_free(c);
	c = client_for(f, 1080);
	harmony_client_suspend(c);
	harmony_client_register(c);
	ck_assert_int_eq(harmony_client_wait(c, 5000), -1);
	ck_assert_int_eq(errno, EAGAIN);
	fake_reap(pid);
	harmony_client_free(c);
	fake_free(f);
}
END_TEST

static Suite *
client_suite(void)
{
	Suite *s = suite_create("client.c");
	TCase *tc;

	tc = tcase_create("register");
	tcase_add_test(tc, test_register_request);
	tcase_add_test(tc, test_register_extensions);
	tcase_add_test(tc, test_register_bytewise_answers);
	tcase_add_test(tc, test_longest_request);
	suite_add_tcase(s, tc);

	tc = tcase_create("heartbeat");
	tcase_add_test(tc, test_heartbeat_period);
	tcase_add_test(tc, test_bid_registers_anew);
	tcase_add_test(tc, test_suspend_resume);
	tcase_add_test(tc, test_suspended_from_the_start);
	suite_add_tcase(s, tc);

	tc = tcase_create("update and close");
	tcase_add_test(tc, test_reweigh);
	tcase_add_test(tc, test_weight_changed_while_registering);
	tcase_add_test(tc, test_close);
	tcase_add_test(tc, test_close_while_suspended);
	tcase_add_test(tc, test_close_unknown_key);
	tcase_add_test(tc, test_close_before_register);
	tcase_add_test(tc, test_close_during_registration);
	suite_add_tcase(s, tc);

	tc = tcase_create("node-harmony server");
	tcase_add_test(tc, test_plain_server);
	tcase_add_test(tc, test_service_on_the_wire);
	tcase_add_test(tc, test_service_validated);
	tcase_add_test(tc, test_service_unknown);
	tcase_add_test(tc, test_service_plain_server);
	tcase_add_test(tc, test_plain_server_restarted);
	tcase_add_test(tc, test_plain_ends_on_err);
	tcase_add_test(tc, test_hangup_is_not_plain);
	tcase_add_test(tc, test_agent_on_the_wire);
	tcase_add_test(tc, test_agent_validated);
	tcase_add_test(tc, test_agent_plain_server);
	tcase_add_test(tc, test_agent_unknown_verb);
	suite_add_tcase(s, tc);

	tc = tcase_create("failures");
	tcase_add_test(tc, test_refused_backoff);
	tcase_add_test(tc, test_registered_backoff_capped_by_period);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_wrong_token);
	tcase_add_test(tc, test_err_answer);
	tcase_add_test(tc, test_wrong_echo);
	suite_add_tcase(s, tc);

	tc = tcase_create("arguments");
	tcase_add_test(tc, test_arguments);
	suite_add_tcase(s, tc);

	tc = tcase_create("blocking");
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_wait);
	tcase_add_test(tc, test_wait_failures);
	/* getaddrinfo may wait for a DNS server. */
	tcase_add_test(tc, test_unresolvable);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(client_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
