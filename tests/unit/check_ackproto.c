/*
 * Unit tests for ackproto.c: node-harmony's registration protocol fed every
 * byte split of the reference client's bursts, garbage, overlong tokens,
 * binary bytes, and the extensions (AUTH, HOST, TTL), against a real pool.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ack/ackproto.h"
#include "ack/ratelimit.h"
#include "common/log.h"
#include "core/loop.h"
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
	struct ack_policy	 policy;
	struct ack_session	 sess;
	char			 outbuf[65536];
	char			 text[65536 + 1];	/* everything answered so far */
	size_t			 textlen;
	enum ack_result		 last;
};

static struct fixture *
fixture_new(const char *token, bool allowed, const char *peer)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct net_addr a = { .len = sizeof(struct sockaddr_in) };
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;

	ck_assert_ptr_nonnull(f);
	log_set_level(LOG_LEVEL_QUIET);
	fake_now = 100000;
	f->loop = loop_new();
	loop_set_clock(f->loop, fake_clock, NULL);
	f->pool = pool_new(f->loop, 60000);
	ck_assert_ptr_nonnull(f->pool);
	f->policy = (struct ack_policy){ .token = token, .peer_allowed = allowed };
	sin->sin_family = AF_INET;
	sin->sin_port = htons(40000);
	ck_assert_int_eq(inet_pton(AF_INET, peer, &sin->sin_addr), 1);
	ack_session_init(&f->sess, f->pool, &f->policy, &a);
	return f;
}

static void
fixture_free(struct fixture *f)
{
	pool_free(f->pool);
	loop_free(f->loop);
	free(f);
}

/* Feeds len bytes; the answers are appended to f->text. */
static enum ack_result
feed(struct fixture *f, const char *data, size_t len)
{
	struct ack_out out = { .buf = f->outbuf, .len = 0, .cap = sizeof(f->outbuf) };
	size_t used = 0;

	f->last = ack_feed(&f->sess, data, len, &out, &used);
	ck_assert_uint_le(used, len);
	if (f->last == ACK_CONTINUE)
		ck_assert_uint_eq(used, len);
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
	ack_session_init(&f->sess, f->pool, &f->policy, &f->sess.peer);
	f->textlen = 0;
	snprintf(msg, sizeof(msg), "ACK:%s:ID:%s:", key, key);
	ck_assert_int_eq(feeds(f, msg), ACK_CONTINUE);
	ck_assert_str_eq(f->text, msg);
	ck_assert_int_eq(feeds(f, "BYE:"), ACK_CLOSE);

	/* A close connection: CLOSE then ID, never BYE. */
	ack_session_init(&f->sess, f->pool, &f->policy, &f->sess.peer);
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
	struct net_addr a = { .len = sizeof(struct sockaddr_in) };
	struct sockaddr_in *sin = (struct sockaddr_in *)&a.ss;

	sin->sin_family = AF_INET;
	sin->sin_port = htons(40001);
	ck_assert_int_eq(inet_pton(AF_INET, peer, &sin->sin_addr), 1);
	ack_session_init(&f->sess, f->pool, &f->policy, &a);
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
	size_t used;

	ck_assert_int_eq(ack_feed(&f->sess, "X:Y:Z:", 6, &out, &used), ACK_CLOSE);
	ck_assert_uint_le(out.len, 20);
	fixture_free(f);
}
END_TEST

static bool
deny_all(void *arg, const struct net_addr *peer)
{
	int *asked = arg;

	(void)peer;
	(*asked)++;
	return false;
}

START_TEST(test_registration_rate_hook)
{
	struct fixture *f = fixture_new(NULL, true, "127.0.0.1");
	int asked = 0;

	f->policy.may_register = deny_all;
	f->policy.arg = &asked;
	ck_assert_int_eq(feeds(f, burst), ACK_CLOSE);
	ck_assert_str_eq(f->text, "ERR:rate:");
	ck_assert_int_eq(asked, 1);
	ck_assert_uint_eq(pool_count(f->pool), 0);
	fixture_free(f);
}
END_TEST

START_TEST(test_ratelimit_buckets)
{
	struct ratelimit *rl = ratelimit_new(64, 3, 60);	/* 3 at once, 1/s */
	struct sockaddr_in a = { .sin_family = AF_INET }, b = a;
	int64_t now = 1000;

	ck_assert_ptr_nonnull(rl);
	inet_pton(AF_INET, "127.0.0.2", &a.sin_addr);
	inet_pton(AF_INET, "127.0.0.3", &b.sin_addr);
	for (int i = 0; i < 3; i++)
		ck_assert(ratelimit_take(rl, (struct sockaddr *)&a, now));
	ck_assert(!ratelimit_take(rl, (struct sockaddr *)&a, now));
	ck_assert(!ratelimit_take(rl, (struct sockaddr *)&a, now + 999));
	ck_assert(ratelimit_take(rl, (struct sockaddr *)&a, now + 1000));	/* refilled one */
	ck_assert(!ratelimit_take(rl, (struct sockaddr *)&a, now + 1000));
	/* Another peer has its own bucket (64 slots: a collision is unlikely;
	 * if it happens the newcomer gets a full bucket all the same). */
	ck_assert(ratelimit_take(rl, (struct sockaddr *)&b, now + 1000));
	ck_assert(ratelimit_take(rl, (struct sockaddr *)&a, now + 100000));
	ratelimit_free(rl);
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
	tcase_add_test(tc, test_registration_rate_hook);
	tcase_add_test(tc, test_ratelimit_buckets);
	suite_add_tcase(s, tc);
	tc = tcase_create("extensions");
	tcase_add_test(tc, test_token_required);
	tcase_add_test(tc, test_host_without_token_configured);
	tcase_add_test(tc, test_peer_not_allowed);
	tcase_add_test(tc, test_ttl_and_bad_ttl);
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
