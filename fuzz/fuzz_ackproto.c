/*
 * libFuzzer target: the ack-port protocol. Mostly ackproto alone, the
 * pure parser, with the registry's outcomes read from the input; also the
 * whole of it (ackreg_feed) on a real pool whose loop runs on a fake clock.
 *
 * Input: byte 0 picks the policy (bit 0: a token "s3cret" is configured,
 * bit 1: the peer is allowed, bit 2: IPv6 peer) and the mode (bit 4: the
 * real pool; then bit 3: a rate limit lets only 3 registrations through);
 * byte 1 is the size of the reads the stream is cut into (1..256); byte 2
 * is n, and the last n bytes are the outcomes tape (ackproto alone: one
 * byte an outcome, all done once it runs out); the rest is the byte
 * stream.
 *
 * With the pool, the clock moves 10 s between reads and due timers run, so
 * TTL expiry and heartbeat deadlines happen while the session is still
 * open. The pool starts with a deleted key (DKEY, of a lost port-less
 * target of the peer's host), a listed key (LKEY, port 1080) and
 * 10.0.0.1:3000 as one of our own listeners, so that those paths are
 * reachable. SVC names only SERVICE_DEFAULT there (ackreg_service).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ack/ackproto.h"
#include "ack/ackreg.h"
#include "ack/ratelimit.h"
#include "common/log.h"
#include "common/service.h"
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

static void
check_out(const struct ack_out *out)
{
	if (out->len > out->cap)
		abort();
	/* Every answer is whole: it ends with its ':'. */
	if (out->len > 0 && out->buf[out->len - 1] != ':')
		abort();
}

static void
run_pool(const struct ack_policy *policy, const struct net_addr *peer, bool limited,
    size_t chunk, const uint8_t *data, size_t size, char *outbuf)
{
	struct ratelimit *rate = NULL;
	struct ack_session sess;
	struct loop *loop;
	struct pool *pool;

	fake_now = 100000;
	if ((loop = loop_new()) == NULL)
		abort();
	loop_set_clock(loop, fake_clock, NULL);
	loop_update_now(loop);
	if ((pool = pool_new(loop, 60000)) == NULL)
		abort();
	if (limited && (rate = ratelimit_new(1, 3, 0)) == NULL)
		abort();
	seed_pool(pool, peer);
	ack_session_init(&sess, policy, peer);

	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk;
		struct ack_out out = { .buf = outbuf, .len = 0, .cap = OUT_CAP };
		enum ack_result r;

		r = ackreg_feed(pool, rate, &sess, (const char *)data + off, n, &out);
		check_out(&out);
		if ((r != ACK_CONTINUE && r != ACK_CLOSE) || sess.pending)
			abort();
		if (ack_pending(&sess) > LIMIT_TOKEN_MAX + ACK_VERB_MAX + 1)
			abort();
		if (r == ACK_CLOSE)
			break;
		fake_now += 10000;
		loop_update_now(loop);
		loop_run_timers(loop);
	}
	ratelimit_free(rate);
	pool_free(pool);
	loop_free(loop);
}

/* One outcome from a tape byte: any status for any request. */
static void
outcome_of(int byte, struct ack_outcome *o)
{
	static const char *const reasons[] = { "rate", NULL, "a:b", "" };

	memset(o, 0, sizeof(*o));
	if (byte < 0) {			/* the tape ran out: all done */
		o->status = ACK_DONE;
		o->target = 1;
		o->created = true;
		memcpy(o->key, LKEY, ACK_KEY_LEN);
		return;
	}
	o->status = (enum ack_status)((byte & 7) % 5);
	o->target = (uint32_t)((byte >> 3) & 3);	/* 0 too */
	o->created = (byte & 0x20) != 0;
	o->gone = (byte & 0x40) != 0;
	o->reason = reasons[(byte >> 5) & 3];
	memcpy(o->key, (byte & 0x80) ? "abc" : DKEY, (byte & 0x80) ? 3 : ACK_KEY_LEN);
}

/* What ackproto hands out must make sense whatever came before. */
static void
check_request(const struct ack_session *s, const struct ack_request *rq,
    const struct net_addr *peer)
{
	if (!s->pending || s->op != rq->op ||
	    memcmp(&rq->peer.ss, &peer->ss, sizeof(peer->ss)) != 0)
		abort();
	switch (rq->op) {
	case ACK_OP_REGISTER:
		if (((const struct sockaddr_in *)(const void *)&rq->host.ss)->sin_port != 0 ||
		    rq->again != s->lost || rq->named_host != s->has_host ||
		    rq->ttl_ms != s->ttl_ms)
			abort();
		if (rq->service != NULL && (rq->service != s->service ||
		    !service_name_valid(rq->service, strlen(rq->service))))
			abort();
		break;
	case ACK_OP_SERVICE:
		/* A name by the rule, and before the connection's NID or ID. */
		if (rq->service == NULL || s->settled ||
		    !service_name_valid(rq->service, strlen(rq->service)))
			abort();
		break;
	case ACK_OP_BIND:
	case ACK_OP_HEARTBEAT:
	case ACK_OP_DEREGISTER:
		if (rq->key == NULL || memchr(rq->key, '\0', ACK_KEY_LEN) != NULL ||
		    rq->key[ACK_KEY_LEN] != '\0')
			abort();
		break;
	case ACK_OP_WEIGHT:
		if (rq->target == 0 || rq->target != s->bound ||
		    rq->weight < LIMIT_WEIGHT_MIN || rq->weight > LIMIT_WEIGHT_MAX)
			abort();
		break;
	case ACK_OP_PORT:
		if (rq->target == 0 || rq->target != s->bound ||
		    rq->made_here != (s->created == s->bound))
			abort();
		break;
	case ACK_OP_TTL:
		if (rq->target == 0 || rq->target != s->bound ||
		    rq->ttl_ms < LIMIT_TTL_MIN_MS || rq->ttl_ms > LIMIT_TTL_MAX_MS)
			abort();
		break;
	case ACK_OP_WRONG_TOKEN:
		if (s->policy->token == NULL)
			abort();
		break;
	default:
		abort();
	}
}

static void
run_pure(const struct ack_policy *policy, const struct net_addr *peer, size_t chunk,
    const uint8_t *data, size_t size, const uint8_t *tape, size_t ntape,
    char *outbuf)
{
	struct ack_session sess;

	ack_session_init(&sess, policy, peer);
	for (size_t off = 0; off < size; off += chunk) {
		size_t n = size - off < chunk ? size - off : chunk, done = 0;
		struct ack_out out = { .buf = outbuf, .len = 0, .cap = OUT_CAP };
		enum ack_result r;

		do {
			struct ack_request rq;
			struct ack_outcome o;
			size_t used = 0;

			r = ack_feed(&sess, (const char *)data + off + done, n - done,
			    &out, &used, &rq);
			if (used > n - done)
				abort();
			done += used;
			if (r == ACK_CONTINUE && done != n)
				abort();
			if (r == ACK_APPLY) {
				check_request(&sess, &rq, peer);
				outcome_of(ntape > 0 ? *tape : -1, &o);
				if (ntape > 0) {
					tape++;
					ntape--;
				}
				r = ack_complete(&sess, &o, &out);
				if (r == ACK_APPLY || sess.pending)
					abort();
			}
			check_out(&out);
		} while (r == ACK_CONTINUE && done < n);
		if (ack_pending(&sess) > LIMIT_TOKEN_MAX + ACK_VERB_MAX + 1)
			abort();
		if (r == ACK_CLOSE)
			break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ack_policy policy = { 0 };
	struct net_addr peer;
	size_t chunk, ntape;
	uint8_t mode;
	char *outbuf;

	if (size < 3)
		return 0;
	log_set_level(LOG_LEVEL_QUIET);
	mode = data[0];
	policy.token = (mode & 1) ? "s3cret" : NULL;
	policy.peer_allowed = (mode & 2) != 0;
	memset(&peer, 0, sizeof(peer));
	if (mode & 4) {
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
	ntape = data[2];
	data += 3;
	size -= 3;
	if (ntape > size)
		ntape = size;
	size -= ntape;

	/* Exactly OUT_CAP bytes, so that ASan sees a write past the cap. */
	if ((outbuf = malloc(OUT_CAP)) == NULL)
		abort();
	if (mode & 16)
		run_pool(&policy, &peer, (mode & 8) != 0, chunk, data, size, outbuf);
	else
		run_pure(&policy, &peer, chunk, data, size, data + size, ntape, outbuf);
	free(outbuf);
	return 0;
}
