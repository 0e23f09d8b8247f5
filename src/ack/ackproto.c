/*
 * ackproto: see ackproto.h. The verbs and answers are the README's "The ack
 * protocol" table;
 * the extensions AUTH, HOST and TTL are ours. Every answer that repeats a
 * client's argument repeats it byte for byte: the reference client matches
 * answers against the exact text it sent.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "ack/ackproto.h"
#include "common/log.h"
#include "common/secret.h"
#include "registry/pool.h"
#include "registry/selfaddr.h"

void
ack_session_init(struct ack_session *s, struct pool *pool,
    const struct ack_policy *policy, const struct net_addr *peer)
{
	memset(s, 0, sizeof(*s));
	s->pool = pool;
	s->policy = policy;
	s->peer = *peer;
}

void
ack_session_revoke(struct ack_session *s)
{
	s->authed = false;
	s->has_host = false;	/* HOST: needed the token too */
}

size_t
ack_pending(const struct ack_session *s)
{
	return s->toklen + (s->have_verb ? strlen(s->verb) + 1 : 0);
}

/* Appends "a:" or "a:b:"; false when out is full. */
static bool
answer(struct ack_out *out, const char *verb, const char *arg, size_t arglen)
{
	size_t vlen = strlen(verb);
	size_t need = vlen + 1 + (arg ? arglen + 1 : 0);

	if (need > out->cap - out->len)
		return false;
	memcpy(out->buf + out->len, verb, vlen);
	out->len += vlen;
	out->buf[out->len++] = ':';
	if (arg != NULL) {
		memcpy(out->buf + out->len, arg, arglen);
		out->len += arglen;
		out->buf[out->len++] = ':';
	}
	return true;
}

static enum ack_result
answer_err(struct ack_out *out, const char *reason, enum ack_result r)
{
	if (!answer(out, "ERR", reason, strlen(reason)))
		return ACK_CLOSE;
	return r;
}

static bool
may_write(const struct ack_session *s)
{
	if (s->policy->token != NULL)
		return s->authed;
	return s->policy->peer_allowed;
}

/* Digits only, at most digits long; -1 otherwise. */
static int64_t
parse_number(const char *arg, size_t len, size_t digits)
{
	int64_t v = 0;

	if (len == 0 || len > digits)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (arg[i] < '0' || arg[i] > '9')
			return -1;
		v = v * 10 + (arg[i] - '0');
	}
	return v;
}

static struct target *
find_key(const struct ack_session *s, const char *arg, size_t len)
{
	if (len != TARGET_KEY_LEN || memchr(arg, '\0', len) != NULL)
		return NULL;
	return pool_find_key(s->pool, arg);
}

static struct target *
bound_target(const struct ack_session *s)
{
	return s->bound ? pool_find_id(s->pool, s->bound) : NULL;
}

/* A re-registration after a BID: the host's lost target, or its deleted key. */
static bool
nid_again(struct ack_session *s, const struct net_addr *a, struct ack_out *out,
    enum ack_result *r)
{
	struct target *t;
	const char *key;

	if ((t = pool_find_lost(s->pool, (const struct sockaddr *)&a->ss)) != NULL) {
		s->bound = t->id;
		pool_ack(t);
		key = t->key;
	} else if ((key = pool_deleted_lost(s->pool,
	    (const struct sockaddr *)&a->ss)) != NULL) {
		s->bound = 0;		/* removed: stays removed */
	} else {
		return false;
	}
	*r = answer(out, "NID", key, TARGET_KEY_LEN) ? ACK_CONTINUE : ACK_CLOSE;
	return true;
}

static enum ack_result
verb_nid(struct ack_session *s, struct ack_out *out)
{
	struct net_addr a = s->has_host ? s->host : s->peer;
	struct target *t;
	enum ack_result r;
	bool created;

	if (s->registrations >= ACK_MAX_NID_PER_CONN)
		return answer_err(out, "limit", ACK_CLOSE);
	s->registrations++;
	net_addr_set_port((struct sockaddr *)&a.ss, 0);
	if (s->lost && nid_again(s, &a, out, &r))
		return r;
	if (s->policy->may_register != NULL &&
	    !s->policy->may_register(s->policy->arg, &s->peer))
		return answer_err(out, "rate", ACK_CLOSE);
	t = pool_register(s->pool, TARGET_SRC_ACK, (struct sockaddr *)&a.ss, a.len,
	    LIMIT_WEIGHT_DEFAULT, s->ttl_ms, &created);
	if (t == NULL) {
		log_warn("ack: register %s", s->has_host ? "HOST" : "peer");
		return answer_err(out, errno == ENOSPC ? "full" : "internal", ACK_CLOSE);
	}
	s->bound = s->created = t->id;
	if (s->lost) {
		/* Once per target: the next ones reuse it (nid_again). */
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
	return answer(out, "NID", t->key, TARGET_KEY_LEN) ? ACK_CONTINUE : ACK_CLOSE;
}

static enum ack_result
verb_bal(struct ack_session *s, const char *arg, size_t len, struct ack_out *out)
{
	struct target *t = bound_target(s);
	int64_t w;

	if (t == NULL)
		return answer_err(out, "unbound", ACK_CONTINUE);
	/* node-harmony: not a number means the default weight. */
	if ((w = parse_number(arg, len, 12)) < 0)
		w = LIMIT_WEIGHT_DEFAULT;
	if (w < LIMIT_WEIGHT_MIN)
		w = LIMIT_WEIGHT_MIN;
	if (w > LIMIT_WEIGHT_MAX)
		w = LIMIT_WEIGHT_MAX;
	pool_set_weight(t, (uint32_t)w);
	return answer(out, "BAL", arg, len) ? ACK_CONTINUE : ACK_CLOSE;
}

/*
 * A SPORT refused: a target this connection's NID made and that has no
 * port is of no use (it could never get that port), so it goes; a client
 * that retries must not leave one behind each time.
 */
static void
sport_refused(struct ack_session *s, struct target *t)
{
	if (s->created == t->id && t->port == 0 && t->active == 0) {
		s->bound = s->created = 0;
		pool_remove(t);
	}
}

static enum ack_result
verb_sport(struct ack_session *s, const char *arg, size_t len, struct ack_out *out)
{
	struct target *t = bound_target(s), *dup;
	struct sockaddr_storage want;
	char name[NET_ADDRSTRLEN], what[NET_ADDRSTRLEN];
	const char *own, *why;
	uint32_t dup_id = 0;
	enum target_source dup_src = TARGET_SRC_ACK;
	int64_t port;

	if (t == NULL)
		return answer_err(out, "unbound", ACK_CONTINUE);
	if ((port = parse_number(arg, len, 5)) < 1 || port > 65535)
		return answer_err(out, "port", ACK_CONTINUE);
	want = t->addr;
	net_addr_set_port((struct sockaddr *)&want, (uint16_t)port);
	net_addr_text((const struct sockaddr *)&want, name, sizeof(name));
	if ((own = selfaddr_match(pool_self(s->pool), (const struct sockaddr *)&want,
	    what, sizeof(what))) != NULL) {
		log_warnx("ack: SPORT %s for target %u refused: that is harmonyd's own"
		    " %s listener (%s); a target there would loop", name,
		    (unsigned)t->id, own, what);
		sport_refused(s, t);
		return answer_err(out, "self", ACK_CONTINUE);
	}
	if ((dup = pool_find_addr(s->pool, (const struct sockaddr *)&want)) != NULL &&
	    dup != t) {
		dup_id = dup->id;
		dup_src = dup->source;
	}
	if (pool_set_port(t, (uint16_t)port) == -1) {
		if (errno != EEXIST) {
			log_warn("ack: SPORT %s for target %u", name, (unsigned)t->id);
			return answer_err(out, "port", ACK_CONTINUE);
		}
		why = dup_src == TARGET_SRC_STATIC ? "conflict" : "exists";
		log_warnx("ack: SPORT %s for target %u refused (ERR:%s:): target %u"
		    " has that address, %s", name, (unsigned)t->id, why,
		    (unsigned)dup_id, dup_src == TARGET_SRC_STATIC ? "a static target" :
		    "registered over HTTP and alive; deregister it first");
		sport_refused(s, t);
		return answer_err(out, why, ACK_CONTINUE);
	}
	if (dup_id != 0)
		log_info("ack: target %u %s replaces target %u (%s), registered again",
		    (unsigned)t->id, t->name, (unsigned)dup_id,
		    target_source_name(dup_src));
	log_info("ack: target %u is %s, weight %u", (unsigned)t->id, t->name,
	    (unsigned)t->weight);
	return answer(out, "SPORT", arg, len) ? ACK_CONTINUE : ACK_CLOSE;
}

static enum ack_result
verb_keyed(struct ack_session *s, const char *verb, const char *arg, size_t len,
    struct ack_out *out)
{
	struct target *t = find_key(s, arg, len);

	if (t == NULL) {
		/* Deleted by the operator: answered, so the client stays calm. */
		if (len == TARGET_KEY_LEN && memchr(arg, '\0', len) == NULL &&
		    pool_key_deleted(s->pool, arg))
			return answer(out, verb, arg, len) ? ACK_CONTINUE : ACK_CLOSE;
		s->lost = true;
		return answer(out, "BID", arg, len) ? ACK_CONTINUE : ACK_CLOSE;
	}
	if (strcmp(verb, "ID") == 0) {
		s->bound = t->id;
	} else if (strcmp(verb, "ACK") == 0) {
		pool_ack(t);
	} else {
		log_info("ack: target %u (%s) deregistered", (unsigned)t->id, t->name);
		pool_deregister(t);
	}
	return answer(out, verb, arg, len) ? ACK_CONTINUE : ACK_CLOSE;
}

static enum ack_result
verb_auth(struct ack_session *s, const char *arg, size_t len, struct ack_out *out)
{
	char peer[NET_HOSTSTRLEN];

	if (s->policy->token != NULL && !secret_equal(arg, len, s->policy->token)) {
		log_warnx("ack: wrong token from %s", net_host_text(
		    (const struct sockaddr *)&s->peer.ss, peer, sizeof(peer)));
		return answer_err(out, "auth", ACK_CLOSE);
	}
	s->authed = true;
	return answer(out, "AUTH", "ok", 2) ? ACK_CONTINUE : ACK_CLOSE;
}

static enum ack_result
verb_host(struct ack_session *s, const char *arg, size_t len, struct ack_out *out)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&s->host.ss;
	char text[NET_HOSTSTRLEN];

	/* Registering someone else's address needs the token. */
	if (s->policy->token == NULL || !s->authed)
		return answer_err(out, "auth", ACK_CLOSE);
	if (len >= sizeof(text))
		return answer_err(out, "host", ACK_CONTINUE);
	memcpy(text, arg, len);
	text[len] = '\0';
	memset(&s->host, 0, sizeof(s->host));
	if (strlen(text) != len || inet_pton(AF_INET, text, &sin->sin_addr) != 1)
		return answer_err(out, "host", ACK_CONTINUE);
	sin->sin_family = AF_INET;
	s->host.len = sizeof(*sin);
	s->has_host = true;
	return answer(out, "HOST", arg, len) ? ACK_CONTINUE : ACK_CLOSE;
}

static enum ack_result
verb_ttl(struct ack_session *s, const char *arg, size_t len, struct ack_out *out)
{
	struct target *t = bound_target(s);
	int64_t secs = parse_number(arg, len, 6);

	if (secs < 1 || secs > (LIMIT_TTL_MAX_MS / 1000))
		return answer_err(out, "ttl", ACK_CONTINUE);
	s->ttl_ms = secs * 1000;
	if (t != NULL)
		pool_set_timeout(t, s->ttl_ms);
	return answer(out, "TTL", arg, len) ? ACK_CONTINUE : ACK_CLOSE;
}

static enum ack_result
dispatch(struct ack_session *s, const char *verb, const char *arg, size_t len,
    struct ack_out *out)
{
	if (strcmp(verb, "AUTH") == 0)
		return verb_auth(s, arg, len, out);
	if (strcmp(verb, "HOST") == 0)
		return verb_host(s, arg, len, out);
	if (!may_write(s))
		return answer_err(out, s->policy->token ? "auth" : "forbidden", ACK_CLOSE);
	if (strcmp(verb, "NID") == 0)
		return verb_nid(s, out);
	if (strcmp(verb, "BAL") == 0)
		return verb_bal(s, arg, len, out);
	if (strcmp(verb, "SPORT") == 0)
		return verb_sport(s, arg, len, out);
	if (strcmp(verb, "TTL") == 0)
		return verb_ttl(s, arg, len, out);
	return verb_keyed(s, verb, arg, len, out);
}

static const char *const verbs_with_arg[] = {
	"NID", "ID", "BAL", "SPORT", "ACK", "CLOSE", "AUTH", "HOST", "TTL",
};

static bool
known_verb(const char *tok, size_t len)
{
	for (size_t i = 0; i < sizeof(verbs_with_arg) / sizeof(verbs_with_arg[0]); i++)
		if (strlen(verbs_with_arg[i]) == len && memcmp(tok, verbs_with_arg[i], len) == 0)
			return true;
	return false;
}

/* One complete token (without its ':'). */
static enum ack_result
token(struct ack_session *s, struct ack_out *out)
{
	const char *tok = s->tok;
	size_t len = s->toklen;

	if (s->have_verb) {
		s->have_verb = false;
		return dispatch(s, s->verb, tok, len, out);
	}
	if (len == 0)
		return ACK_CONTINUE;		/* empty tokens between messages */
	if (len == 3 && memcmp(tok, "BYE", 3) == 0)
		return ACK_CLOSE;
	if (!known_verb(tok, len))
		return answer_err(out, "verb", ACK_CONTINUE);
	memcpy(s->verb, tok, len);
	s->verb[len] = '\0';
	s->have_verb = true;
	return ACK_CONTINUE;
}

enum ack_result
ack_feed(struct ack_session *s, const char *data, size_t len, struct ack_out *out,
    size_t *used)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] != ':') {
			if (s->toklen == LIMIT_TOKEN_MAX) {
				*used = i + 1;
				(void)answer_err(out, "toolong", ACK_CLOSE);
				return ACK_CLOSE;
			}
			s->tok[s->toklen++] = data[i];
			continue;
		}
		s->tok[s->toklen] = '\0';
		enum ack_result r = token(s, out);
		s->toklen = 0;
		if (r == ACK_CLOSE) {
			*used = i + 1;
			return ACK_CLOSE;
		}
	}
	*used = len;
	return ACK_CONTINUE;
}
