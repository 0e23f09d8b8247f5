/*
 * ackreg: see ackreg.h. The decisions that need the pool, moved here from
 * ackproto.c unchanged, log lines included.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>

#include "ack/ackreg.h"
#include "ack/ratelimit.h"
#include "common/log.h"
#include "common/service.h"
#include "core/loop.h"
#include "registry/pool.h"
#include "registry/selfaddr.h"

_Static_assert(ACK_KEY_LEN == TARGET_KEY_LEN, "a key on the wire is a pool key");

static void
set_key(struct ack_outcome *o, const char *key)
{
	memcpy(o->key, key, ACK_KEY_LEN);
	o->key[ACK_KEY_LEN] = '\0';
}

static bool
may_register(struct pool *pool, struct ratelimit *rate, const struct net_addr *peer)
{
	char text[NET_HOSTSTRLEN];

	if (rate == NULL || ratelimit_take(rate, (const struct sockaddr *)&peer->ss,
	    loop_now(pool_loop(pool))))
		return true;
	log_warnx("ack: %s registers too fast: refused",
	    net_host_text((const struct sockaddr *)&peer->ss, text, sizeof(text)));
	return false;
}

/* A re-registration after a BID: the host's lost target, or its deleted key. */
static bool
register_again(struct pool *pool, const struct sockaddr *host, struct ack_outcome *o)
{
	struct target *t;
	const char *key;

	if ((t = pool_find_lost(pool, host)) != NULL) {
		pool_ack(t);
		o->status = ACK_DONE;
		o->target = t->id;
		set_key(o, t->key);
		return true;
	}
	if ((key = pool_deleted_lost(pool, host)) != NULL) {
		o->status = ACK_DELETED;	/* removed: stays removed */
		set_key(o, key);
		return true;
	}
	return false;
}

struct pool *
ackreg_service(struct pool *pool, const char *name)
{
	return pool_sibling(pool, name);
}

/* SVC: a name no service has is logged, so that its operator can tell. */
static void
do_service(struct pool *pool, const struct ack_request *rq, struct ack_outcome *o)
{
	char peer[NET_HOSTSTRLEN];

	if (ackreg_service(pool, rq->service) != NULL) {
		o->status = ACK_DONE;
		return;
	}
	/* The name is safe to print: common/service.h's characters only. */
	log_warnx("ack: %s names no service \"%s\": refused (ERR:service:)",
	    net_host_text((const struct sockaddr *)&rq->peer.ss, peer,
	    sizeof(peer)), rq->service);
	o->status = ACK_UNKNOWN;
}

static void
do_register(struct pool *pool, struct ratelimit *rate, const struct ack_request *rq,
    struct ack_outcome *o)
{
	const struct sockaddr *host = (const struct sockaddr *)&rq->host.ss;
	struct target *t;
	bool created;

	/* SVC found it; only a service removed since could be missing. */
	if ((pool = ackreg_service(pool, rq->service)) == NULL) {
		o->status = ACK_REFUSED;
		o->reason = "service";
		return;
	}
	if (rq->again && register_again(pool, host, o))
		return;
	o->status = ACK_REFUSED;
	if (!may_register(pool, rate, &rq->peer)) {
		o->reason = "rate";
		return;
	}
	t = pool_register(pool, TARGET_SRC_ACK, host, rq->host.len,
	    LIMIT_WEIGHT_DEFAULT, rq->ttl_ms, &created);
	if (t == NULL) {
		int err = errno;

		log_warn("ack: register %s", rq->named_host ? "HOST" : "peer");
		o->reason = err == ENOSPC ? "full" : "internal";
		return;
	}
	if (rq->again) {
		/* Once per target: the next ones reuse it (register_again). */
		t->lost = true;
		log_warnx("ack: target %u (%s) registered without a port: the client"
		    " re-registered after BID without SPORT (node-harmony clients do"
		    " after a restart of harmonyd without --state-file, or a removal);"
		    " it is never chosen. Use --state-file so keys survive restarts,"
		    " and restart the client", (unsigned)t->id, t->host);
	} else {
		log_info("ack: target %u registered from %s (no port yet)",
		    (unsigned)t->id, t->host);
	}
	o->status = ACK_DONE;
	o->target = t->id;
	o->created = true;	/* port-less registrations are never merged */
	set_key(o, t->key);
}

static void
do_keyed(struct pool *pool, const struct ack_request *rq, struct ack_outcome *o)
{
	struct target *t = pools_find_key(pool, rq->key);

	if (t == NULL) {
		/* Deleted by the operator: answered, so the client stays calm. */
		o->status = pools_key_deleted(pool, rq->key) ? ACK_DELETED : ACK_UNKNOWN;
		return;
	}
	if (rq->op == ACK_OP_BIND) {
		o->target = t->id;
	} else if (rq->op == ACK_OP_HEARTBEAT) {
		pool_ack(t);
	} else {
		log_info("ack: target %u (%s) deregistered", (unsigned)t->id, t->name);
		pool_deregister(t);
	}
	o->status = ACK_DONE;
}

/*
 * A SPORT refused: a target this connection's NID made and that has no
 * port is of no use (it could never get that port), so it goes; a client
 * that retries must not leave one behind each time.
 */
static void
port_refused(struct target *t, const struct ack_request *rq, struct ack_outcome *o,
    const char *reason)
{
	o->status = ACK_REFUSED;
	o->reason = reason;
	if (rq->made_here && t->port == 0 && t->active == 0) {
		o->gone = true;
		pool_remove(t);
	}
}

static void
do_port(struct pool *pool, const struct ack_request *rq, struct ack_outcome *o)
{
	struct target *t = pools_find_id(pool, rq->target), *dup;
	struct sockaddr_storage want;
	char name[NET_ADDRSTRLEN], what[NET_ADDRSTRLEN];
	const char *own, *why;
	uint32_t dup_id = 0;
	enum target_source dup_src = TARGET_SRC_ACK;

	if (t == NULL) {
		o->status = ACK_UNBOUND;
		return;
	}
	if (rq->port == 0) {
		o->status = ACK_REFUSED;
		o->reason = "port";
		return;
	}
	want = t->addr;
	net_addr_set_port((struct sockaddr *)&want, rq->port);
	net_addr_text((const struct sockaddr *)&want, name, sizeof(name));
	if ((own = selfaddr_match(pool_self(pool), (const struct sockaddr *)&want,
	    what, sizeof(what))) != NULL) {
		log_warnx("ack: SPORT %s for target %u refused: that is harmonyd's own"
		    " %s listener (%s); a target there would loop", name,
		    (unsigned)t->id, own, what);
		port_refused(t, rq, o, "self");
		return;
	}
	if ((dup = pool_find_addr(t->pool, (const struct sockaddr *)&want)) != NULL &&
	    dup != t) {
		dup_id = dup->id;
		dup_src = dup->source;
	}
	if (pool_set_port(t, rq->port) == -1) {
		if (errno != EEXIST) {
			log_warn("ack: SPORT %s for target %u", name, (unsigned)t->id);
			o->status = ACK_REFUSED;
			o->reason = "port";
			return;
		}
		why = dup_src == TARGET_SRC_STATIC ? "conflict" : "exists";
		log_warnx("ack: SPORT %s for target %u refused (ERR:%s:): target %u"
		    " has that address, %s", name, (unsigned)t->id, why,
		    (unsigned)dup_id, dup_src == TARGET_SRC_STATIC ? "a static target" :
		    "registered over HTTP and alive; deregister it first");
		port_refused(t, rq, o, why);
		return;
	}
	if (dup_id != 0)
		log_info("ack: target %u %s replaces target %u (%s), registered again",
		    (unsigned)t->id, t->name, (unsigned)dup_id,
		    target_source_name(dup_src));
	log_info("ack: target %u is %s, weight %u", (unsigned)t->id, t->name,
	    (unsigned)t->weight);
	o->status = ACK_DONE;
}

void
ackreg_apply(struct pool *pool, struct ratelimit *rate, const struct ack_request *rq,
    struct ack_outcome *o)
{
	struct target *t;
	char peer[NET_HOSTSTRLEN];

	memset(o, 0, sizeof(*o));
	/* For every sibling too; the name is safe to show (agentname.h). */
	pool_actor_set(pool, rq->agent != NULL ? POOL_ACTOR_AGENT : POOL_ACTOR_ACK);
	if (rq->agent != NULL)
		pool_actor_reason(pool, rq->agent);
	switch (rq->op) {
	case ACK_OP_REGISTER:
		do_register(pool, rate, rq, o);
		return;
	case ACK_OP_BIND:
	case ACK_OP_HEARTBEAT:
	case ACK_OP_DEREGISTER:
		do_keyed(pool, rq, o);
		return;
	case ACK_OP_WEIGHT:
		if ((t = pools_find_id(pool, rq->target)) == NULL) {
			o->status = ACK_UNBOUND;
			return;
		}
		(void)pool_set_weight(t, rq->weight);	/* in range: ackproto */
		o->status = ACK_DONE;
		return;
	case ACK_OP_PORT:
		do_port(pool, rq, o);
		return;
	case ACK_OP_TTL:
		if ((t = pools_find_id(pool, rq->target)) != NULL)
			(void)pool_set_timeout(t, rq->ttl_ms);
		o->status = ACK_DONE;
		return;
	case ACK_OP_SERVICE:
		do_service(pool, rq, o);
		return;
	case ACK_OP_WRONG_TOKEN:
	default:
		log_warnx("ack: wrong token from %s", net_host_text(
		    (const struct sockaddr *)&rq->peer.ss, peer, sizeof(peer)));
		o->status = ACK_DONE;
		return;
	}
}

enum ack_result
ackreg_feed(struct pool *pool, struct ratelimit *rate, struct ack_session *s,
    const char *data, size_t len, struct ack_out *out)
{
	struct ack_request rq;
	struct ack_outcome o;
	enum ack_result r;
	size_t off = 0, used;

	for (;;) {
		r = ack_feed(s, data + off, len - off, out, &used, &rq);
		off += used;
		if (r != ACK_APPLY)
			return r;
		ackreg_apply(pool, rate, &rq, &o);
		if ((r = ack_complete(s, &o, out)) == ACK_CLOSE)
			return r;
	}
}
