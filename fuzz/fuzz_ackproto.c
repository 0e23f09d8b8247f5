/*
 * libFuzzer target: the ack-port protocol (ack_feed) on a real pool whose
 * loop runs on a fake clock.
 *
 * Input: byte 0 picks the policy (bit 0: a token "s3cret" is configured,
 * bit 1: the peer is allowed, bit 2: IPv6 peer, bit 3: a rate limit lets
 * only 3 registrations through); byte 1 is the size of the
 * reads the stream is cut into (1..256); the rest is the byte stream. The
 * clock moves 10 s between reads and due timers run, so TTL expiry and
 * heartbeat deadlines happen while the session is still open.
 *
 * The pool starts with a deleted key (DKEY, of a lost port-less target of
 * the peer's host), a listed key (LKEY, port 1080) and 10.0.0.1:3000 as
 * one of our own listeners, so that those paths are reachable.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ack/ackproto.h"
#include "common/log.h"
#include "core/loop.h"
#include "registry/pool.h"
#include "registry/selfaddr.h"

#define DKEY	"0123456789abcdef0123456789abcdef"
#define LKEY	"fedcba9876543210fedcba9876543210"

#define OUT_CAP	4096	/* ackport's is larger; a small one tests the cap */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t fake_now;

static int64_t
fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

static bool
three_only(void *arg, const struct net_addr *peer)
{
	unsigned *n = arg;

	(void)peer;
	return (*n)++ < 3;
}

static void
seed_pool(struct pool *pool, const struct net_addr *peer)
{
	struct sockaddr_storage ss = peer->ss;
	struct target *t;

	net_addr_set_port((struct sockaddr *)&ss, 0);
	if ((t = pool_restore(pool, TARGET_SRC_ACK, (struct sockaddr *)&ss, peer->len,
	    500, 0, 1, DKEY)) == NULL)
		abort();
	t->lost = true;
	pool_delete(t);
	net_addr_set_port((struct sockaddr *)&ss, 1080);
	if (pool_restore(pool, TARGET_SRC_ACK, (struct sockaddr *)&ss, peer->len,
	    500, 0, 2, LKEY) == NULL)
		abort();
	net_addr_set_port((struct sockaddr *)&ss, 3000);
	if (selfaddr_add_listener(pool_self(pool), (struct sockaddr *)&ss, "client") == -1)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ack_policy policy = { 0 };
	unsigned registered = 0;
	struct ack_session sess;
	struct net_addr peer;
	struct loop *loop;
	struct pool *pool;
	char *outbuf;
	size_t chunk, off;

	if (size < 2)
		return 0;
	log_set_level(LOG_LEVEL_QUIET);
	policy.token = (data[0] & 1) ? "s3cret" : NULL;
	policy.peer_allowed = (data[0] & 2) != 0;
	if (data[0] & 8) {
		policy.may_register = three_only;
		policy.arg = &registered;
	}
	memset(&peer, 0, sizeof(peer));
	if (data[0] & 4) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&peer.ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(40000);
		sin6->sin6_addr = in6addr_loopback;
		peer.len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&peer.ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(40000);
		sin->sin_addr.s_addr = htonl(0x0a000001);
		peer.len = sizeof(*sin);
	}
	chunk = (size_t)data[1] + 1;
	data += 2;
	size -= 2;

	fake_now = 100000;
	if ((loop = loop_new()) == NULL)
		abort();
	loop_set_clock(loop, fake_clock, NULL);
	loop_update_now(loop);
	if ((pool = pool_new(loop, 60000)) == NULL)
		abort();
	/* Exactly OUT_CAP bytes, so that ASan sees a write past the cap. */
	if ((outbuf = malloc(OUT_CAP)) == NULL)
		abort();
	seed_pool(pool, &peer);
	ack_session_init(&sess, pool, &policy, &peer);

	for (off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk, used = 0;
		struct ack_out out = { .buf = outbuf, .len = 0, .cap = OUT_CAP };
		enum ack_result r;

		r = ack_feed(&sess, (const char *)data + off, n, &out, &used);
		if (out.len > out.cap || used > n)
			abort();
		if (r == ACK_CONTINUE && used != n)
			abort();
		if (ack_pending(&sess) > LIMIT_TOKEN_MAX + ACK_VERB_MAX + 1)
			abort();
		if (r == ACK_CLOSE)
			break;
		fake_now += 10000;
		loop_update_now(loop);
		loop_run_timers(loop);
	}

	free(outbuf);
	pool_free(pool);
	loop_free(loop);
	return 0;
}
