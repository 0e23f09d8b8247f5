/*
 * Unit tests for ackproto.c and ackreg.c: node-harmony's registration
 * protocol fed every byte split of the reference client's bursts, garbage,
 * overlong tokens, binary bytes, and the extensions (AUTH, HOST, TTL,
 * SVC, AGENT),
 * through ackreg on a real pool; and ackproto alone, with no pool at all,
 * answering from the outcomes a test scripts (the requests it hands out,
 * what it does with each outcome).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ack/ackproto.h"
#include "ack/ackreg.h"
#include "ack/ratelimit.h"
#include "common/log.h"
#include "core/loop.h"
#include "registry/events.h"
#include "registry/pool.h"
#include "registry/selfaddr.h"

static int64_t fake_now;

static int64_t
fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

struct fixture {
	struct loop		*loop;
	struct pool		*pool;
	struct ratelimit	*rate;		/* NULL: no registration limit */
	struct ack_policy	 policy;
	struct ack_session	 sess;
	char			 outbuf[65536];
	char			 text[65536 + 1];	/* everything answered so far */
	size_t			 textlen;
	enum ack_result		 last;
};

/* A peer's IPv4 address and port, as ackport hands it to the session. */
static struct net_addr
peer_addr(const char *ip, uint16_t port)
{
	struct net_addr a = { .len = sizeof(struct sockaddr_in) };
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;

	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	return a;
}

static struct fixture *
fixture_new(const char *token, bool allowed, const char *peer)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct net_addr a = peer_addr(peer, 40000);

	ck_assert_ptr_nonnull(f);
	log_set_level(LOG_LEVEL_QUIET);
	fake_now = 100000;
	f->loop = loop_new();
	loop_set_clock(f->loop, fake_clock, NULL);
	f->pool = pool_new(f->loop, 60000);
	ck_assert_ptr_nonnull(f->pool);
	f->policy = (struct ack_policy){ .token = token, .peer_allowed = allowed };
	ack_session_init(&f->sess, &f->policy, &a);
	return f;
}

static void
fixture_free(struct fixture *f)
{
	pool_free(f->pool);
	loop_free(f->loop);
	ratelimit_free(f->rate);
	free(f);
}

/* Feeds len bytes; the answers are appended to f->text. */
static enum ack_result
feed(struct fixture *f, const char *data, size_t len)
{
	struct ack_out out = { .buf = f->outbuf, .len = 0, .cap = sizeof(f->outbuf) };

	f->last = ackreg_feed(f->pool, f->rate, &f->sess, data, len, &out);
	ck_assert(f->last == ACK_CONTINUE || f->last == ACK_CLOSE);
	ck_assert(!f->sess.pending);
	ck_assert_uint_le(f->textlen + out.len, sizeof(f->text) - 1);
	memcpy(f->text + f->textlen, out.buf, out.len);
	f->textlen += out.len;
	f->text[f->textlen] = '\0';
	return f->last;
}

static enum ack_result
feeds(struct fixture *f, const char *s)
{
	return feed(f, s, strlen(s));
}

static bool
is_key(const char *p)
{
	for (int i = 0; i < TARGET_KEY_LEN; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

/* The key from a "NID:<key>:" at the start of f->text. */
static void
nid_key(const struct fixture *f, char key[TARGET_KEY_LEN + 1])
{
	ck_assert_msg(strncmp(f->text, "NID:", 4) == 0, "got '%s'", f->text);
	ck_assert(is_key(f->text + 4));
	ck_assert_int_eq(f->text[4 + TARGET_KEY_LEN], ':');
	memcpy(key, f->text + 4, TARGET_KEY_LEN);
	key[TARGET_KEY_LEN] = '\0';
}

static const char burst[] = "NID::BAL:1000:SPORT:1080:";

/* The registration answered last in f->text; n targets in the pool. */
static void
assert_registered_n(struct fixture *f, size_t n)
{
	char key[TARGET_KEY_LEN + 1], want[128];
	struct target *t;

	nid_key(f, key);
	snprintf(want, sizeof(want), "NID:%s:BAL:1000:SPORT:1080:", key);
	ck_assert_str_eq(f->text, want);
	ck_assert_uint_eq(pool_count(f->pool), n);
	ck_assert_ptr_nonnull(t = pool_find_key(f->pool, key));
	ck_assert_int_eq(t->state, TARGET_UP);
	ck_assert(!t->lost);
}

static void
assert_registered(struct fixture *f)
{
	char key[TARGET_KEY_LEN + 1], want[128];
	struct target *t;

	nid_key(f, key);
	snprintf(want, sizeof(want), "NID:%s:BAL:1000:SPORT:1080:", key);
	ck_assert_str_eq(f->text, want);
	ck_assert_uint_eq(pool_count(f->pool), 1);
	t = pool_find_key(f->pool, key);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(t->port, 1080);
	ck_assert_uint_eq(t->weight, 1000);
	ck_assert_str_eq(t->host, "127.0.0.1");
	ck_assert_int_eq(t->source, TARGET_SRC_ACK);
	ck_assert(target_choosable(t, fake_now));
}

START_TEST(test_burst_every_split)
{
	size_t n = strlen(burst);

	for (size_t cut = 0; cut <= n; cut++) {
		struct fixture *f = fixture_new(NULL, true, "127.0.0.1");

		ck_assert_int_eq(feed(f, burst, cut), ACK_CONTINUE);
		ck_assert_int_eq(feed(f, burst + cut, n - cut), ACK_CONTINUE);
		assert_registered(f);
		ck_assert_int_eq(feeds(f, "BYE:"), ACK_CLOSE);
		fixture_free(f);
	}
}
END_TEST

START_TEST(test_burst_byte_at_a_time)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");

	for (size_t i = 0; burst[i]; i++)
		ck_assert_int_eq(feed(f, burst + i, 1), ACK_CONTINUE);
	assert_registered(f);
	fixture_free(f);
}
END_TEST

START_TEST(test_heartbeat_and_close)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");
	char key[TARGET_KEY_LEN + 1], msg[256];
	struct target *t;

	feeds(f, burst);
	nid_key(f, key);
	t = pool_find_key(f->pool, key);
	ck_assert_ptr_nonnull(t);

	/* A heartbeat connection: ACK then ID, then BYE. */
	ack_session_init(&f->sess, &f->policy, &f->sess.peer);
	f->textlen = 0;
	snprintf(msg, sizeof(msg), "ACK:%s:ID:%s:", key, key);
	ck_assert_int_eq(feeds(f, msg), ACK_CONTINUE);
	ck_assert_str_eq(f->text, msg);
	ck_assert_int_eq(feeds(f, "BYE:"), ACK_CLOSE);

	/* A close connection: CLOSE then ID, never BYE. */
	ack_session_init(&f->sess, &f->policy, &f->sess.peer);
	f->textlen = 0;
	snprintf(msg, sizeof(msg), "CLOSE:%s:ID:%s:", key, key);
	ck_assert_int_eq(feeds(f, msg), ACK_CONTINUE);
	t = pool_find_id(f->pool, 1);
	ck_assert(t == NULL || t->state == TARGET_DRAINING);
	if (t == NULL)	/* removed at once (no session): the ID is unknown */
		ck_assert(strstr(f->text, "BID:") != NULL);
	fixture_free(f);
}
END_TEST

START_TEST(test_unknown_keys_are_bid)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");
	struct target *t;
	char key[TARGET_KEY_LEN + 1];

	feeds(f, burst);
	nid_key(f, key);
	f->textlen = 0;
	ck_assert_int_eq(feeds(f, "ACK:deadbeef:CLOSE:nope:ID::"), ACK_CONTINUE);
	ck_assert_str_eq(f->text, "BID:deadbeef:BID:nope:BID::");
	/* A near miss of the real key: same length, one digit off. */
	f->textlen = 0;
	key[0] = key[0] == 'a' ? 'b' : 'a';
	{
		char msg[128];
		snprintf(msg, sizeof(msg), "CLOSE:%s:", key);
		feeds(f, msg);
		ck_assert(strncmp(f->text, "BID:", 4) == 0);
	}
	t = pool_find_id(f->pool, 1);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(t->state, TARGET_UP);	/* untouched */
	fixture_free(f);
}
END_TEST

START_TEST(test_unbound)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");

	ck_assert_int_eq(feeds(f, "BAL:1000:SPORT:1080:"), ACK_CONTINUE);
	ck_assert_str_eq(f->text, "ERR:unbound:ERR:unbound:");
	ck_assert_uint_eq(pool_count(f->pool), 0);
	fixture_free(f);
}
END_TEST

START_TEST(test_bal_not_a_number)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");
	char key[TARGET_KEY_LEN + 1], want[128];

	feeds(f, "NID::BAL:heavy:SPORT:99999:SPORT:0:SPORT:8080:BAL:0:");
	nid_key(f, key);
	snprintf(want, sizeof(want),
	    "NID:%s:BAL:heavy:ERR:port:ERR:port:SPORT:8080:BAL:0:", key);
	ck_assert_str_eq(f->text, want);
	ck_assert_uint_eq(pool_find_key(f->pool, key)->weight, LIMIT_WEIGHT_MIN);
	fixture_free(f);
}
END_TEST

START_TEST(test_empty_tokens_and_unknown_verbs)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");

	ck_assert_int_eq(feeds(f, ":::HELLO:::nid::"), ACK_CONTINUE);
	ck_assert_str_eq(f->text, "ERR:verb:ERR:verb:");
	ck_assert_uint_eq(pool_count(f->pool), 0);
	fixture_free(f);
}
END_TEST

START_TEST(test_overlong_token)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");
	char big[LIMIT_TOKEN_MAX + 2];

	memset(big, 'A', sizeof(big));
	ck_assert_int_eq(feed(f, big, LIMIT_TOKEN_MAX), ACK_CONTINUE);	/* fits */
	ck_assert_int_eq(feed(f, big, 1), ACK_CLOSE);
	ck_assert_str_eq(f->text, "ERR:toolong:");
	fixture_free(f);

	/* Also as the argument of a known verb. */
	f = fixture_new(NULL, true, "127.0.0.1");
	ck_assert_int_eq(feeds(f, "ACK:"), ACK_CONTINUE);
	ck_assert_int_eq(feed(f, big, sizeof(big)), ACK_CLOSE);
	ck_assert_str_eq(f->text, "ERR:toolong:");
	fixture_free(f);
}
END_TEST

START_TEST(test_binary_garbage)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");
	unsigned seed = 7;
	char junk[4096];

	/* Random bytes, with ':' frequent enough to make many tokens. */
	for (int round = 0; round < 50 && f->last != ACK_CLOSE; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			int r = rand_r(&seed);
			junk[i] = (r % 5 == 0) ? ':' : (char)(r >> 8);
		}
		f->textlen = 0;
		feed(f, junk, sizeof(junk));
		ck_assert_uint_le(ack_pending(&f->sess), LIMIT_TOKEN_MAX + ACK_VERB_MAX + 1);
	}
	ck_assert_uint_eq(pool_count(f->pool), 0);
	fixture_free(f);
}
END_TEST

START_TEST(test_token_required)
{
	struct fixture *f = fixture_new("s3cret", true, "127.0.0.1");

	ck_assert_int_eq(feeds(f, burst), ACK_CLOSE);
	ck_assert_str_eq(f->text, "ERR:auth:");
	ck_assert_uint_eq(pool_count(f->pool), 0);
	fixture_free(f);

	f = fixture_new("s3cret", true, "127.0.0.1");
	ck_assert_int_eq(feeds(f, "AUTH:s3cre:"), ACK_CLOSE);
	ck_assert_str_eq(f->text, "ERR:auth:");
	fixture_free(f);

	f = fixture_new("s3cret", true, "127.0.0.1");
	ck_assert_int_eq(feeds(f, "HOST:10.0.0.5:"), ACK_CLOSE);	/* needs auth */
	ck_assert_str_eq(f->text, "ERR:auth:");
	fixture_free(f);

	f = fixture_new("s3cret", false, "192.0.2.1");
	ck_assert_int_eq(feeds(f, "AUTH:s3cret:HOST:10.0.0.5:TTL:5:"), ACK_CONTINUE);
	ck_assert_str_eq(f->text, "AUTH:ok:HOST:10.0.0.5:TTL:5:");
	f->textlen = 0;
	ck_assert_int_eq(feeds(f, burst), ACK_CONTINUE);
	{
		char key[TARGET_KEY_LEN + 1];
		struct target *t;

		nid_key(f, key);
		t = pool_find_key(f->pool, key);
		ck_assert_str_eq(t->host, "10.0.0.5");
		ck_assert_int_eq(t->timeout_ms, 5000);
	}
	fixture_free(f);
}
END_TEST

START_TEST(test_host_without_token_configured)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");

	ck_assert_int_eq(feeds(f, "AUTH:anything:HOST:10.0.0.5:"), ACK_CLOSE);
	ck_assert_str_eq(f->text, "AUTH:ok:ERR:auth:");
	fixture_free(f);
}
END_TEST

START_TEST(test_peer_not_allowed)
{
	struct fixture *f = fixture_new(NULL, false, "192.0.2.1");

	ck_assert_int_eq(feeds(f, burst), ACK_CLOSE);
	ck_assert_str_eq(f->text, "ERR:forbidden:");
	ck_assert_uint_eq(pool_count(f->pool), 0);
	fixture_free(f);
}
END_TEST

START_TEST(test_ttl_and_bad_ttl)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");
	char key[TARGET_KEY_LEN + 1];

	feeds(f, "NID::TTL:0:TTL:x:TTL:30:");
	nid_key(f, key);
	ck_assert(strstr(f->text, ":ERR:ttl:ERR:ttl:TTL:30:") != NULL);
	ck_assert_int_eq(pool_find_key(f->pool, key)->timeout_ms, 30000);
	fixture_free(f);
}
END_TEST

/* A new connection from peer on the same pool; the answers start afresh. */
static void
new_session(struct fixture *f, const char *peer)
{
	struct net_addr a = peer_addr(peer, 40001);

	ack_session_init(&f->sess, &f->policy, &a);
	f->textlen = 0;
	f->text[0] = '\0';
}

#define ZKEY	"00000000000000000000000000000000"

/* Issue 13 item 16: NID after a BID reuses the host's port-less target. */
START_TEST(test_reregistration_after_bid)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");
	char k1[TARGET_KEY_LEN + 1], want[256];
	struct target *t;

	ck_assert_int_eq(feeds(f, "ACK:" ZKEY ":NID::"), ACK_CONTINUE);
	ck_assert_int_eq(strncmp(f->text, "BID:" ZKEY ":NID:", 41), 0);
	memcpy(k1, f->text + 41, TARGET_KEY_LEN);
	k1[TARGET_KEY_LEN] = '\0';
	ck_assert_ptr_nonnull(t = pool_find_key(f->pool, k1));
	ck_assert(t->lost);
	ck_assert_int_eq(t->state, TARGET_PORTLESS);

	/* The client's next connections: the same target, again and again. */
	for (int i = 0; i < 3; i++) {
		new_session(f, "127.0.0.1");
		feeds(f, "ACK:" ZKEY ":ID:" ZKEY ":NID::NID::ACK:");
		feeds(f, k1);
		feeds(f, ":");
		snprintf(want, sizeof(want), "BID:%s:BID:%s:NID:%s:NID:%s:ACK:%s:",
		    ZKEY, ZKEY, k1, k1, k1);
		ck_assert_str_eq(f->text, want);
		ck_assert_uint_eq(pool_count(f->pool), 1);
	}
	/* A fresh NID (a client starting) registers its own target. */
	new_session(f, "127.0.0.1");
	feeds(f, burst);
	assert_registered_n(f, 2);
	/* Another host that lost its key gets its own one. */
	new_session(f, "127.0.0.2");
	feeds(f, "ID:" ZKEY ":NID::");
	ck_assert_uint_eq(pool_count(f->pool), 3);
	fixture_free(f);
}
END_TEST

/* A deleted key is answered and binds nothing; nothing comes back. */
START_TEST(test_deleted_key_answered)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");
	char key[TARGET_KEY_LEN + 1], lost[TARGET_KEY_LEN + 1], want[256];

	feeds(f, burst);
	nid_key(f, key);
	pool_delete(pool_find_key(f->pool, key));
	new_session(f, "127.0.0.1");
	snprintf(want, sizeof(want), "ACK:%s:ID:%s:", key, key);
	feeds(f, want);
	ck_assert_str_eq(f->text, want);
	ck_assert_uint_eq(pool_count(f->pool), 0);

	new_session(f, "127.0.0.1");
	feeds(f, "ACK:" ZKEY ":NID::");
	memcpy(lost, f->text + 41, TARGET_KEY_LEN);
	lost[TARGET_KEY_LEN] = '\0';
	pool_delete(pool_find_key(f->pool, lost));
	new_session(f, "127.0.0.1");
	feeds(f, "ACK:" ZKEY ":NID::SPORT:1080:");
	snprintf(want, sizeof(want), "BID:%s:NID:%s:ERR:unbound:", ZKEY, lost);
	ck_assert_str_eq(f->text, want);
	ck_assert_uint_eq(pool_count(f->pool), 0);
	fixture_free(f);
}
END_TEST

/* Issue 13 items 6 and 19: SPORT refused, and its port-less target gone. */
START_TEST(test_sport_refused)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct target *web;
	bool created;

	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(3000);
	sin->sin_addr.s_addr = htonl(0);
	ck_assert_int_eq(selfaddr_add_listener(pool_self(f->pool),
	    (struct sockaddr *)&ss, "client"), 0);
	feeds(f, "NID::SPORT:3000:");
	ck_assert_ptr_nonnull(strstr(f->text, ":ERR:self:"));
	ck_assert_uint_eq(pool_count(f->pool), 0);

	sin->sin_addr.s_addr = htonl(0x7f000001);
	sin->sin_port = htons(1080);
	web = pool_register(f->pool, TARGET_SRC_HTTP, (struct sockaddr *)&ss,
	    sizeof(*sin), 700, 0, &created);
	ck_assert_ptr_nonnull(web);
	new_session(f, "127.0.0.1");
	feeds(f, burst);
	ck_assert_ptr_nonnull(strstr(f->text, ":BAL:1000:ERR:exists:"));
	ck_assert_uint_eq(pool_count(f->pool), 1);
	ck_assert_ptr_eq(pool_find_id(f->pool, web->id), web);
	ck_assert_uint_eq(web->weight, 700);
	fixture_free(f);
}
END_TEST

/* Issue 13 item 14: a revoked session must authenticate again. */
START_TEST(test_revoke)
{
	struct fixture *f = fixture_new("tok", false, "10.0.0.1");

	ck_assert_int_eq(feeds(f, "AUTH:tok:NID::"), ACK_CONTINUE);
	ck_assert_uint_eq(pool_count(f->pool), 1);
	ack_session_revoke(&f->sess);
	f->policy.token = "new";
	ck_assert_int_eq(feeds(f, "NID::"), ACK_CLOSE);
	ck_assert_ptr_nonnull(strstr(f->text, "ERR:auth:"));
	ck_assert_uint_eq(pool_count(f->pool), 1);
	fixture_free(f);
}
END_TEST

START_TEST(test_nid_limit_per_connection)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");
	int i;

	for (i = 0; i < ACK_MAX_NID_PER_CONN; i++)
		ck_assert_int_eq(feeds(f, "NID::"), ACK_CONTINUE);
	ck_assert_int_eq(feeds(f, "NID::"), ACK_CLOSE);
	ck_assert(strstr(f->text, "ERR:limit:") != NULL);
	ck_assert_uint_eq(pool_count(f->pool), ACK_MAX_NID_PER_CONN);
	fixture_free(f);
}
END_TEST

START_TEST(test_output_full_closes)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");
	struct ack_out out = { .buf = f->outbuf, .len = 0, .cap = 20 };

	ck_assert_int_eq(ackreg_feed(f->pool, NULL, &f->sess, "X:Y:Z:", 6, &out),
	    ACK_CLOSE);
	ck_assert_uint_le(out.len, 20);
	fixture_free(f);
}
END_TEST

/* ackreg takes a token of the peer's bucket for each new target. */
START_TEST(test_registration_rate)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");

	ck_assert_ptr_nonnull(f->rate = ratelimit_new(16, 2, 0));
	ck_assert_int_eq(feeds(f, "NID::"), ACK_CONTINUE);
	/* Another connection of the same peer shares its bucket. */
	new_session(f, "127.0.0.1");
	ck_assert_int_eq(feeds(f, "NID::"), ACK_CONTINUE);
	ck_assert_uint_eq(pool_count(f->pool), 2);
	new_session(f, "127.0.0.1");
	ck_assert_int_eq(feeds(f, burst), ACK_CLOSE);
	ck_assert_str_eq(f->text, "ERR:rate:");
	ck_assert_uint_eq(pool_count(f->pool), 2);
	fixture_free(f);
}
END_TEST

/* A re-registration that finds the host's lost target adds none: not limited. */
START_TEST(test_registration_rate_reuse)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");

	ck_assert_ptr_nonnull(f->rate = ratelimit_new(16, 1, 0));
	ck_assert_int_eq(feeds(f, "ACK:" ZKEY ":NID::"), ACK_CONTINUE);
	ck_assert_uint_eq(pool_count(f->pool), 1);
	for (int i = 0; i < 3; i++) {
		new_session(f, "127.0.0.1");
		ck_assert_int_eq(feeds(f, "ID:" ZKEY ":NID::"), ACK_CONTINUE);
		ck_assert_int_eq(strncmp(f->text, "BID:" ZKEY ":NID:", 41), 0);
	}
	ck_assert_uint_eq(pool_count(f->pool), 1);
	fixture_free(f);
}
END_TEST

/* --- ackproto alone: no pool, outcomes scripted ---------------------- */

struct pure {
	struct ack_policy	 policy;
	struct ack_session	 sess;
	const struct ack_outcome *script;	/* one per request, in order */
	size_t			 nscript;
	struct ack_request	 reqs[16];	/* what was asked */
	char			 keys[16][ACK_KEY_LEN + 1];
	size_t			 nreqs;
	char			 outbuf[4096];
	char			 text[4096 + 1];
	size_t			 textlen;
};

static void
pure_init(struct pure *p, const char *token, bool allowed)
{
	struct net_addr a = peer_addr("127.0.0.1", 40000);

	memset(p, 0, sizeof(*p));
	p->policy = (struct ack_policy){ .token = token, .peer_allowed = allowed };
	ack_session_init(&p->sess, &p->policy, &a);
}

/* Feeds s, answering each request from the script; the answers go to text. */
static enum ack_result
pure_feed(struct pure *p, const char *s)
{
	size_t len = strlen(s), off = 0, used;
	enum ack_result r;

	for (;;) {
		struct ack_out out = { .buf = p->outbuf, .len = 0, .cap = sizeof(p->outbuf) };
		struct ack_request *rq = &p->reqs[p->nreqs];

		ck_assert_uint_lt(p->nreqs, 16);
		r = ack_feed(&p->sess, s + off, len - off, &out, &used, rq);
		ck_assert_uint_le(used, len - off);
		off += used;
		if (r == ACK_APPLY) {
			ck_assert_uint_lt(p->nreqs, p->nscript);
			if (rq->key != NULL) {
				memcpy(p->keys[p->nreqs], rq->key, ACK_KEY_LEN);
				rq->key = p->keys[p->nreqs];
			}
			r = ack_complete(&p->sess, &p->script[p->nreqs++], &out);
		} else if (r == ACK_CONTINUE) {
			ck_assert_uint_eq(off, len);
		}
		memcpy(p->text + p->textlen, out.buf, out.len);
		p->textlen += out.len;
		p->text[p->textlen] = '\0';
		if (r != ACK_CONTINUE || off == len)
			return r;
	}
}

#define KEY_A	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define KEY_B	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* The reference client's registration: one request a message, in order. */
START_TEST(test_pure_registration)
{
	static const struct ack_outcome script[] = {
		{ .status = ACK_DONE, .target = 7, .created = true, .key = KEY_A },
		{ .status = ACK_DONE },
		{ .status = ACK_DONE },
	};
	struct pure p;
	const struct sockaddr_in *host;

	pure_init(&p, NULL, true);
	p.script = script;
	p.nscript = 3;
	ck_assert_int_eq(pure_feed(&p, "NID::BAL:1000:SPORT:1080:"), ACK_CONTINUE);
	ck_assert_str_eq(p.text, "NID:" KEY_A ":BAL:1000:SPORT:1080:");
	ck_assert_uint_eq(p.nreqs, 3);
	ck_assert_int_eq(p.reqs[0].op, ACK_OP_REGISTER);
	host = (const struct sockaddr_in *)&p.reqs[0].host.ss;
	ck_assert_uint_eq(ntohl(host->sin_addr.s_addr), 0x7f000001);
	ck_assert_uint_eq(host->sin_port, 0);	/* no port yet */
	ck_assert(!p.reqs[0].again);
	ck_assert(!p.reqs[0].named_host);
	ck_assert_int_eq(p.reqs[0].ttl_ms, 0);
	ck_assert_int_eq(p.reqs[1].op, ACK_OP_WEIGHT);
	ck_assert_uint_eq(p.reqs[1].target, 7);
	ck_assert_uint_eq(p.reqs[1].weight, 1000);
	ck_assert_int_eq(p.reqs[2].op, ACK_OP_PORT);
	ck_assert_uint_eq(p.reqs[2].target, 7);
	ck_assert_uint_eq(p.reqs[2].port, 1080);
	ck_assert(p.reqs[2].made_here);
	ck_assert_uint_eq(p.sess.bound, 7);
	ck_assert_uint_eq(p.sess.created, 7);
}
END_TEST

/* What is decided without the registry is answered without a request. */
START_TEST(test_pure_no_request)
{
	struct pure p;

	pure_init(&p, NULL, true);
	ck_assert_int_eq(pure_feed(&p, "BAL:5:SPORT:80:TTL:0:TTL:30:HELLO::ID:short:"
	    "ACK:" KEY_A "x:"), ACK_CONTINUE);
	ck_assert_str_eq(p.text, "ERR:unbound:ERR:unbound:ERR:ttl:TTL:30:ERR:verb:"
	    "BID:short:BID:" KEY_A "x:");
	ck_assert_uint_eq(p.nreqs, 0);
	/* The BID makes the next NID a re-registration. */
	ck_assert(p.sess.lost);
	ck_assert_int_eq(pure_feed(&p, "BYE:"), ACK_CLOSE);
}
END_TEST

/* Weights and ports as parsed for the registry; a bad port still asks. */
START_TEST(test_pure_arguments)
{
	static const struct ack_outcome script[] = {
		{ .status = ACK_DONE, .target = 3, .key = KEY_B },	/* reused */
		{ .status = ACK_DONE }, { .status = ACK_DONE },
		{ .status = ACK_DONE }, { .status = ACK_DONE },
		{ .status = ACK_REFUSED, .reason = "port" },
		{ .status = ACK_UNBOUND },
		{ .status = ACK_DONE },
	};
	struct pure p;

	pure_init(&p, NULL, true);
	p.script = script;
	p.nscript = 8;
	p.sess.lost = true;
	ck_assert_int_eq(pure_feed(&p, "TTL:45:NID::BAL:heavy:BAL:0:BAL:99999999999:"
	    "BAL:12:SPORT:99999:SPORT:1:TTL:9:"), ACK_CONTINUE);
	ck_assert_str_eq(p.text, "TTL:45:NID:" KEY_B ":BAL:heavy:BAL:0:"
	    "BAL:99999999999:BAL:12:ERR:port:ERR:unbound:TTL:9:");
	ck_assert(p.reqs[0].again);
	ck_assert_int_eq(p.reqs[0].ttl_ms, 45000);
	ck_assert_uint_eq(p.sess.bound, 3);
	ck_assert_uint_eq(p.sess.created, 0);	/* bound, not made here */
	ck_assert_uint_eq(p.reqs[1].weight, LIMIT_WEIGHT_DEFAULT);
	ck_assert_uint_eq(p.reqs[2].weight, LIMIT_WEIGHT_MIN);
	ck_assert_uint_eq(p.reqs[3].weight, LIMIT_WEIGHT_MAX);
	ck_assert_uint_eq(p.reqs[4].weight, 12);
	ck_assert_int_eq(p.reqs[5].op, ACK_OP_PORT);
	ck_assert_uint_eq(p.reqs[5].port, 0);
	ck_assert(!p.reqs[5].made_here);
	ck_assert_uint_eq(p.reqs[6].port, 1);
	ck_assert_int_eq(p.reqs[7].op, ACK_OP_TTL);
	ck_assert_int_eq(p.reqs[7].ttl_ms, 9000);
}
END_TEST

/* Keyed verbs: each outcome's answer, and what the session keeps. */
START_TEST(test_pure_keyed)
{
	static const struct ack_outcome script[] = {
		{ .status = ACK_UNKNOWN },
		{ .status = ACK_DELETED },
		{ .status = ACK_DONE, .target = 9 },
		{ .status = ACK_DONE },
		{ .status = ACK_DONE },
	};
	struct pure p;

	pure_init(&p, NULL, true);
	p.script = script;
	p.nscript = 5;
	ck_assert_int_eq(pure_feed(&p, "ACK:" KEY_A ":ID:" KEY_B ":ID:" KEY_A ":"
	    "ACK:" KEY_A ":CLOSE:" KEY_A ":"), ACK_CONTINUE);
	ck_assert_str_eq(p.text, "BID:" KEY_A ":ID:" KEY_B ":ID:" KEY_A ":ACK:"
	    KEY_A ":CLOSE:" KEY_A ":");
	ck_assert_int_eq(p.reqs[0].op, ACK_OP_HEARTBEAT);
	ck_assert_int_eq(memcmp(p.keys[0], KEY_A, ACK_KEY_LEN), 0);
	ck_assert_int_eq(p.reqs[1].op, ACK_OP_BIND);
	ck_assert_int_eq(memcmp(p.keys[1], KEY_B, ACK_KEY_LEN), 0);
	ck_assert_int_eq(p.reqs[4].op, ACK_OP_DEREGISTER);
	ck_assert(p.sess.lost);
	ck_assert_uint_eq(p.sess.bound, 9);	/* the deleted key bound nothing */
}
END_TEST

/* A refused SPORT that removed the target leaves the connection unbound. */
START_TEST(test_pure_sport_gone)
{
	static const struct ack_outcome script[] = {
		{ .status = ACK_DONE, .target = 4, .created = true, .key = KEY_A },
		{ .status = ACK_REFUSED, .reason = "self", .gone = true },
		{ .status = ACK_REFUSED, .reason = "bad:reason" },
	};
	struct pure p;

	pure_init(&p, NULL, true);
	p.script = script;
	p.nscript = 3;
	ck_assert_int_eq(pure_feed(&p, "NID::SPORT:3000:BAL:7:"), ACK_CONTINUE);
	ck_assert_str_eq(p.text, "NID:" KEY_A ":ERR:self:ERR:unbound:");
	ck_assert_uint_eq(p.nreqs, 2);
	ck_assert_uint_eq(p.sess.bound, 0);
	ck_assert_uint_eq(p.sess.created, 0);
	/* A reason that would break the framing is not written. */
	ck_assert_int_eq(pure_feed(&p, "NID::"), ACK_CLOSE);
	ck_assert_str_eq(p.text, "NID:" KEY_A ":ERR:self:ERR:unbound:ERR:internal:");
}
END_TEST

/* Refusals of a registration end the connection; a wrong token too. */
START_TEST(test_pure_refusals)
{
	static const struct ack_outcome rate[] = {
		{ .status = ACK_REFUSED, .reason = "rate" },
	};
	static const struct ack_outcome any[] = { { .status = ACK_DONE } };
	struct pure p;

	pure_init(&p, NULL, true);
	p.script = rate;
	p.nscript = 1;
	ck_assert_int_eq(pure_feed(&p, "NID::BAL:1:"), ACK_CLOSE);
	ck_assert_str_eq(p.text, "ERR:rate:");

	pure_init(&p, "tok", false);
	p.script = any;
	p.nscript = 1;
	ck_assert_int_eq(pure_feed(&p, "AUTH:tik:NID::"), ACK_CLOSE);
	ck_assert_str_eq(p.text, "ERR:auth:");
	ck_assert_int_eq(p.reqs[0].op, ACK_OP_WRONG_TOKEN);
	ck_assert_uint_eq(ntohl(((const struct sockaddr_in *)&p.reqs[0].peer.ss)
	    ->sin_addr.s_addr), 0x7f000001);
}
END_TEST

/* ack_feed stops right after the message that needs the registry. */
START_TEST(test_pure_stops_at_request)
{
	static const struct ack_outcome script[] = {
		{ .status = ACK_DONE, .target = 1, .created = true, .key = KEY_A },
	};
	static const char in[] = "::NID::BAL:5:";
	struct ack_out out;
	struct ack_request rq;
	struct pure p;
	size_t used;

	pure_init(&p, NULL, true);
	out = (struct ack_out){ .buf = p.outbuf, .len = 0, .cap = sizeof(p.outbuf) };
	ck_assert_int_eq(ack_feed(&p.sess, in, strlen(in), &out, &used, &rq), ACK_APPLY);
	ck_assert_uint_eq(used, 7);
	ck_assert_uint_eq(out.len, 0);
	/* Fed again before its outcome: a caller's mistake, the end. */
	ck_assert_int_eq(ack_feed(&p.sess, in + used, strlen(in) - used, &out, &used,
	    &rq), ACK_CLOSE);
	ck_assert_uint_eq(used, 0);
	ck_assert_int_eq(ack_complete(&p.sess, &script[0], &out), ACK_CONTINUE);
	ck_assert_int_eq(ack_complete(&p.sess, &script[0], &out), ACK_CLOSE);	/* none out */
	ck_assert_uint_eq(ack_pending(&p.sess), 0);
}
END_TEST

/*
 * SVC (issue 15): the default service is echoed and registers as without
 * it; everything else is ERR:service: and ends the connection, so the NID
 * behind it in the same burst registers nowhere.
 */
START_TEST(test_service_default)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");
	char want[sizeof(f->text) + 16];

	/* The one lookup: only the default service, and it is this pool. */
	ck_assert_ptr_eq(ackreg_service(f->pool, SERVICE_DEFAULT), f->pool);
	ck_assert_ptr_null(ackreg_service(f->pool, "web"));
	ck_assert_ptr_null(ackreg_service(f->pool, ""));
	ck_assert_int_eq(feeds(f, "SVC:default:"), ACK_CONTINUE);
	ck_assert_str_eq(f->text, "SVC:default:");
	f->textlen = 0;
	ck_assert_int_eq(feeds(f, "SVC:default:"), ACK_CONTINUE);	/* again: fine */
	f->textlen = 0;
	ck_assert_int_eq(feeds(f, burst), ACK_CONTINUE);
	assert_registered(f);
	/* Too late now: the target is bound in the service it was named in. */
	snprintf(want, sizeof(want), "%sERR:service:", f->text);
	ck_assert_int_eq(feeds(f, "SVC:default:BAL:7:"), ACK_CLOSE);
	ck_assert_str_eq(f->text, want);
	fixture_free(f);
}
END_TEST

/* A connection refused, and ended: what it sent, what it got. */
struct refusal {
	const char	*in;
	const char	*out;		/* "NID:*...": a NID's answer, then ... */
	size_t		 inlen;		/* 0: strlen(in) */
	size_t		 targets;	/* in the pool after it */
	const char	*token;		/* the policy: a token configured, */
	bool		 foreign;	/* the peer not allowed */
};

static void
assert_refusal(const struct refusal *r)
{
	struct fixture *f = fixture_new(r->token, !r->foreign,
	    r->foreign ? "10.0.0.1" : "127.0.0.1");
	size_t len = r->inlen ? r->inlen : strlen(r->in);

	ck_assert_int_eq(feed(f, r->in, len), ACK_CLOSE);
	if (strncmp(r->out, "NID:*", 5) == 0) {	/* after the NID's own answer */
		ck_assert_uint_eq(f->textlen, 4 + TARGET_KEY_LEN + 1 + strlen(r->out + 5));
		ck_assert_str_eq(f->text + 4 + TARGET_KEY_LEN + 1, r->out + 5);
	} else {
		ck_assert_str_eq(f->text, r->out);
	}
	ck_assert_uint_eq(pool_count(f->pool), r->targets);
	fixture_free(f);
}

static const struct refusal service_refusals[] = {
	{ .in = "SVC:nosuch:NID::SPORT:1080:", .out = "ERR:service:" },
	{ .in = "SVC:Default:NID::", .out = "ERR:service:" },	/* uppercase */
	{ .in = "SVC::NID::", .out = "ERR:service:" },		/* empty */
	{ .in = "SVC:-web:NID::", .out = "ERR:service:" },	/* first char */
	{ .in = "SVC:web.1:NID::", .out = "ERR:service:" },
	/* 64 bytes; then 63, a good name but not a service here */
	{ .in = "SVC:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:NID::",
	  .out = "ERR:service:" },
	{ .in = "SVC:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:NID::",
	  .out = "ERR:service:" },
	{ .in = "SVC:def\0ult:NID::", .out = "ERR:service:",
	  .inlen = sizeof("SVC:def\0ult:NID::") - 1 },
	{ .in = "SVC:default:SVC:nosuch:NID::", .out = "SVC:default:ERR:service:" },
	/* after an ID (even one answered BID): too late */
	{ .in = "ID:0123456789abcdef0123456789abcdef:SVC:default:NID::",
	  .out = "BID:0123456789abcdef0123456789abcdef:ERR:service:" },
	/* SVC is a write: refused as NID is without AUTH or an allowed peer. */
	{ .in = "SVC:default:", .out = "ERR:auth:", .token = "s3cret" },
	{ .in = "SVC:nosuch:", .out = "ERR:forbidden:", .foreign = true },
};

START_TEST(test_service_refused)
{
	assert_refusal(&service_refusals[_i]);
}
END_TEST

/* Without a pool: the name goes to the registry side, then with the NID. */
/* A session with no token, an allowed peer, and the registry's outcomes. */
static void
pure_scripted(struct pure *p, const struct ack_outcome *script, size_t n)
{
	pure_init(p, NULL, true);
	p->script = script;
	p->nscript = n;
}

START_TEST(test_pure_service)
{
	static const struct ack_outcome script[] = {
		{ .status = ACK_DONE },					/* SVC */
		{ .status = ACK_DONE, .target = 4, .created = true, .key = KEY_A },
		{ .status = ACK_UNKNOWN },				/* SVC */
	};
	struct pure p;

	pure_scripted(&p, script, 2);
	ck_assert_int_eq(pure_feed(&p, "SVC:web:NID::"), ACK_CONTINUE);
	ck_assert_str_eq(p.text, "SVC:web:NID:" KEY_A ":");
	ck_assert_uint_eq(p.nreqs, 2);
	ck_assert_int_eq(p.reqs[0].op, ACK_OP_SERVICE);
	ck_assert_int_eq(p.reqs[1].op, ACK_OP_REGISTER);
	ck_assert_str_eq(p.reqs[1].service, "web");
	/* No SVC (every node-harmony client): no service named. */
	pure_scripted(&p, script + 1, 1);
	ck_assert_int_eq(pure_feed(&p, "NID::"), ACK_CONTINUE);
	ck_assert_ptr_null(p.reqs[0].service);
	/* The registry side knows no such service. */
	pure_scripted(&p, script + 2, 1);
	ck_assert_int_eq(pure_feed(&p, "SVC:web:NID::"), ACK_CLOSE);
	ck_assert_str_eq(p.text, "ERR:service:");
	ck_assert_uint_eq(p.nreqs, 1);
	ck_assert_str_eq(p.sess.service, "");
}
END_TEST

/*
 * AGENT (issue 16): a connection that names its client makes its changes
 * as the agent actor, the name the reason of each event; one that names
 * none stays ack.
 */
#define AGENT_64 "harmony-agent-with-a-long-name/0.1.0-rc.1+abcdefghijklmnopqrstuv"

/* The newest event of the pool: its kind and actor, the reason returned. */
static const char *
newest_event(struct fixture *f, enum event_kind kind, enum pool_actor by)
{
	uint64_t cursor = 0;
	const struct event *e = events_back(pool_events(f->pool), &cursor, NULL, 0);

	ck_assert_ptr_nonnull(e);
	ck_assert_msg(e->kind == kind, "event %s", event_kind_name(e->kind));
	ck_assert_msg(e->by == by, "by %s", pool_actor_name(e->by));
	return e->reason;
}

START_TEST(test_agent_named)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");
	char key[TARGET_KEY_LEN + 1], msg[256];

	ck_assert_str_eq(pool_actor_name(POOL_ACTOR_AGENT), "agent");
	ck_assert_uint_eq(sizeof(AGENT_64) - 1, 64);
	ck_assert_int_eq(feeds(f, "AGENT:harmony-agent/0.9:"), ACK_CONTINUE);
	ck_assert_str_eq(f->text, "AGENT:harmony-agent/0.9:");
	f->textlen = 0;
	ck_assert_int_eq(feeds(f, burst), ACK_CONTINUE);
	assert_registered(f);
	nid_key(f, key);
	ck_assert_str_eq(newest_event(f, EVENT_UP, POOL_ACTOR_AGENT), "harmony-agent/0.9");
	ck_assert_uint_eq(pool_event_count(f->pool, EVENT_REGISTERED, POOL_ACTOR_AGENT), 1);
	ck_assert_uint_eq(pool_event_count(f->pool, EVENT_WEIGHT, POOL_ACTOR_AGENT), 1);
	ck_assert_uint_eq(pool_event_count(f->pool, EVENT_REGISTERED, POOL_ACTOR_ACK), 0);

	/* A plain connection after it: ack, no reason. */
	new_session(f, "127.0.0.1");
	snprintf(msg, sizeof(msg), "ID:%s:BAL:600:", key);
	ck_assert_int_eq(feeds(f, msg), ACK_CONTINUE);
	ck_assert_str_eq(newest_event(f, EVENT_WEIGHT, POOL_ACTOR_ACK), "");

	/* The longest name, after AUTH and SVC, before a heartbeat and a CLOSE. */
	new_session(f, "127.0.0.1");
	snprintf(msg, sizeof(msg), "AUTH:x:SVC:default:AGENT:Other/2:AGENT:%s:ID:%s:"
	    "BAL:700:CLOSE:%s:", AGENT_64, key, key);
	ck_assert_int_eq(feeds(f, msg), ACK_CONTINUE);
	snprintf(msg, sizeof(msg), "AUTH:ok:SVC:default:AGENT:Other/2:AGENT:%s:ID:%s:"
	    "BAL:700:CLOSE:%s:", AGENT_64, key, key);
	ck_assert_str_eq(f->text, msg);
	/* Removed at once (no session): draining, then removed, by the agent. */
	ck_assert_str_eq(newest_event(f, EVENT_REMOVED, POOL_ACTOR_AGENT), AGENT_64);
	ck_assert_uint_eq(pool_event_count(f->pool, EVENT_WEIGHT, POOL_ACTOR_AGENT), 2);
	ck_assert_uint_eq(pool_event_count(f->pool, EVENT_DRAINING, POOL_ACTOR_AGENT), 1);
	fixture_free(f);
}
END_TEST

static const struct refusal agent_refusals[] = {
	/* 65 bytes: one too many */
	{ .in = "AGENT:" AGENT_64 "x:NID::", .out = "ERR:agent:" },
	{ .in = "AGENT:harmony-agent:NID::", .out = "ERR:agent:" },	/* no version */
	{ .in = "AGENT:harmony-agent/:NID::", .out = "ERR:agent:" },
	{ .in = "AGENT:/0.9:NID::", .out = "ERR:agent:" },
	{ .in = "AGENT::NID::", .out = "ERR:agent:" },
	{ .in = "AGENT:a/b/c:NID::", .out = "ERR:agent:" },
	{ .in = "AGENT:harmony agent/0.9:NID::", .out = "ERR:agent:" },
	{ .in = "AGENT:-agent/0.9:NID::", .out = "ERR:agent:" },
	{ .in = "AGENT:agent/.9:NID::", .out = "ERR:agent:" },
	{ .in = "AGENT:agent/0.9\":NID::", .out = "ERR:agent:" },
	{ .in = "AGENT:agent\\x/0.9:NID::", .out = "ERR:agent:" },
	{ .in = "AGENT:agent/0.9\n:NID::", .out = "ERR:agent:" },
	{ .in = "AGENT:agent\x1b[2J/0.9:NID::", .out = "ERR:agent:" },
	{ .in = "AGENT:caf\xc3\xa9/1:NID::", .out = "ERR:agent:" },
	{ .in = "AGENT:age\0nt/1:NID::", .out = "ERR:agent:",
	  .inlen = sizeof("AGENT:age\0nt/1:NID::") - 1 },
	/* too late: after the connection's NID, ID, ACK or CLOSE */
	{ .in = "NID::AGENT:harmony-agent/0.9:BAL:7:", .out = "NID:*ERR:agent:",
	  .targets = 1 },
	{ .in = "ID:0123456789abcdef0123456789abcdef:AGENT:a/1:NID::",
	  .out = "BID:0123456789abcdef0123456789abcdef:ERR:agent:" },
	{ .in = "ACK:0123456789abcdef0123456789abcdef:AGENT:a/1:NID::",
	  .out = "BID:0123456789abcdef0123456789abcdef:ERR:agent:" },
	{ .in = "CLOSE:0123456789abcdef0123456789abcdef:AGENT:a/1:NID::",
	  .out = "BID:0123456789abcdef0123456789abcdef:ERR:agent:" },
	/* AGENT is a write: refused as NID is without AUTH or an allowed peer. */
	{ .in = "AGENT:a/1:", .out = "ERR:auth:", .token = "s3cret" },
	{ .in = "AGENT:a/1:", .out = "ERR:forbidden:", .foreign = true },
};

START_TEST(test_agent_refused)
{
	assert_refusal(&agent_refusals[_i]);
}
END_TEST

/* Without a pool: every request of a named connection carries the name. */
START_TEST(test_pure_agent)
{
	static const struct ack_outcome script[] = {
		{ .status = ACK_DONE, .target = 4, .created = true, .key = KEY_A },
		{ .status = ACK_DONE }, { .status = ACK_DONE }, { .status = ACK_DONE },
		{ .status = ACK_DONE },
	};
	struct pure p;

	pure_scripted(&p, script, 5);
	ck_assert_int_eq(pure_feed(&p, "AGENT:harmony-agent/0.9:NID::BAL:5:SPORT:80:"
	    "TTL:9:ACK:" KEY_A ":"), ACK_CONTINUE);
	ck_assert_str_eq(p.text, "AGENT:harmony-agent/0.9:NID:" KEY_A ":BAL:5:SPORT:80:"
	    "TTL:9:ACK:" KEY_A ":");
	ck_assert_uint_eq(p.nreqs, 5);
	for (size_t i = 0; i < p.nreqs; i++)
		ck_assert_str_eq(p.reqs[i].agent, "harmony-agent/0.9");
	ck_assert_int_eq(p.reqs[4].op, ACK_OP_HEARTBEAT);
	/* None named: none in the requests. */
	pure_scripted(&p, script, 2);
	ck_assert_int_eq(pure_feed(&p, "NID::BAL:5:"), ACK_CONTINUE);
	ck_assert_ptr_null(p.reqs[0].agent);
	ck_assert_ptr_null(p.reqs[1].agent);
}
END_TEST

static Suite *
ackproto_suite(void)
{
	Suite *s = suite_create("ackproto");
	TCase *tc = tcase_create("reference client");

	tcase_add_test(tc, test_burst_every_split);
	tcase_add_test(tc, test_burst_byte_at_a_time);
	tcase_add_test(tc, test_heartbeat_and_close);
	tcase_add_test(tc, test_unknown_keys_are_bid);
	tcase_add_test(tc, test_unbound);
	tcase_add_test(tc, test_bal_not_a_number);
	suite_add_tcase(s, tc);
	tc = tcase_create("hostile input");
	tcase_add_test(tc, test_empty_tokens_and_unknown_verbs);
	tcase_add_test(tc, test_overlong_token);
	tcase_add_test(tc, test_binary_garbage);
	tcase_add_test(tc, test_nid_limit_per_connection);
	tcase_add_test(tc, test_reregistration_after_bid);
	tcase_add_test(tc, test_deleted_key_answered);
	tcase_add_test(tc, test_sport_refused);
	tcase_add_test(tc, test_revoke);
	tcase_add_test(tc, test_output_full_closes);
	tcase_add_test(tc, test_registration_rate);
	tcase_add_test(tc, test_registration_rate_reuse);
	suite_add_tcase(s, tc);
	tc = tcase_create("extensions");
	tcase_add_test(tc, test_token_required);
	tcase_add_test(tc, test_host_without_token_configured);
	tcase_add_test(tc, test_peer_not_allowed);
	tcase_add_test(tc, test_ttl_and_bad_ttl);
	tcase_add_test(tc, test_service_default);
	tcase_add_loop_test(tc, test_service_refused, 0,
	    (int)(sizeof(service_refusals) / sizeof(service_refusals[0])));
	tcase_add_test(tc, test_agent_named);
	tcase_add_loop_test(tc, test_agent_refused, 0,
	    (int)(sizeof(agent_refusals) / sizeof(agent_refusals[0])));
	suite_add_tcase(s, tc);
	tc = tcase_create("without a pool");
	tcase_add_test(tc, test_pure_registration);
	tcase_add_test(tc, test_pure_no_request);
	tcase_add_test(tc, test_pure_arguments);
	tcase_add_test(tc, test_pure_keyed);
	tcase_add_test(tc, test_pure_sport_gone);
	tcase_add_test(tc, test_pure_refusals);
	tcase_add_test(tc, test_pure_stops_at_request);
	tcase_add_test(tc, test_pure_service);
	tcase_add_test(tc, test_pure_agent);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ackproto_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
