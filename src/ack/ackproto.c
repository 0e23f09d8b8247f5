/*
 * ackproto: see ackproto.h. The verbs and answers are the README's "The ack
 * protocol" table;
 * the extensions AUTH, HOST, TTL, SVC and AGENT are ours. Every answer
 * that repeats a client's argument repeats it byte for byte: the reference
 * client matches answers against the exact text it sent.
 *
 * While a request is out, the message's verb and argument stay in the
 * session (verb, tok): the answer repeats them.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <string.h>

#include "ack/ackproto.h"
#include "common/secret.h"

void
ack_session_init(struct ack_session *s, const struct ack_policy *policy,
    const struct net_addr *peer)
{
	memset(s, 0, sizeof(*s));
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

/* Hands req out: the message waits in the session for ack_complete. */
static enum ack_result
request(struct ack_session *s, struct ack_request *req, enum ack_op op)
{
	req->op = op;
	req->peer = s->peer;
	req->agent = s->agent[0] != '\0' ? s->agent : NULL;
	s->op = op;
	s->pending = true;
	return ACK_APPLY;
}

static enum ack_result
verb_nid(struct ack_session *s, struct ack_request *req, struct ack_out *out)
{
	s->settled = true;
	s->acted = true;
	if (s->registrations >= ACK_MAX_NID_PER_CONN)
		return answer_err(out, "limit", ACK_CLOSE);
	s->registrations++;
	req->service = s->service[0] != '\0' ? s->service : NULL;
	req->host = s->has_host ? s->host : s->peer;
	net_addr_set_port((struct sockaddr *)&req->host.ss, 0);
	req->named_host = s->has_host;
	req->again = s->lost;
	req->ttl_ms = s->ttl_ms;
	return request(s, req, ACK_OP_REGISTER);
}

static enum ack_result
verb_bal(struct ack_session *s, const char *arg, size_t len,
    struct ack_request *req, struct ack_out *out)
{
	int64_t w;

	if (s->bound == 0)
		return answer_err(out, "unbound", ACK_CONTINUE);
	/* node-harmony: not a number means the default weight. */
	if ((w = parse_number(arg, len, 12)) < 0)
		w = LIMIT_WEIGHT_DEFAULT;
	if (w < LIMIT_WEIGHT_MIN)
		w = LIMIT_WEIGHT_MIN;
	if (w > LIMIT_WEIGHT_MAX)
		w = LIMIT_WEIGHT_MAX;
	req->target = s->bound;
	req->weight = (uint32_t)w;
	return request(s, req, ACK_OP_WEIGHT);
}

/*
 * A bad port is judged by the registry side too (port 0): a bound target
 * that is gone answers ERR:unbound first, whatever the argument.
 */
static enum ack_result
verb_sport(struct ack_session *s, const char *arg, size_t len,
    struct ack_request *req, struct ack_out *out)
{
	int64_t port;

	if (s->bound == 0)
		return answer_err(out, "unbound", ACK_CONTINUE);
	port = parse_number(arg, len, 5);
	req->target = s->bound;
	req->port = port >= 1 && port <= 65535 ? (uint16_t)port : 0;
	req->made_here = s->created == s->bound;
	return request(s, req, ACK_OP_PORT);
}

static enum ack_result
verb_keyed(struct ack_session *s, const char *verb, const char *arg, size_t len,
    struct ack_request *req, struct ack_out *out)
{
	if (strcmp(verb, "ID") == 0)
		s->settled = true;	/* even a BID: the connection chose */
	s->acted = true;		/* even a BID: AGENT would come late */
	/* No target can have a key of another length, or with a NUL in it. */
	if (len != ACK_KEY_LEN || memchr(arg, '\0', len) != NULL) {
		s->lost = true;
		return answer(out, "BID", arg, len) ? ACK_CONTINUE : ACK_CLOSE;
	}
	req->key = arg;
	if (strcmp(verb, "ID") == 0)
		return request(s, req, ACK_OP_BIND);
	if (strcmp(verb, "ACK") == 0)
		return request(s, req, ACK_OP_HEARTBEAT);
	return request(s, req, ACK_OP_DEREGISTER);
}
static enum ack_result
verb_auth(struct ack_session *s, const char *arg, size_t len,
    struct ack_request *req, struct ack_out *out)
{
	if (s->policy->token != NULL && !secret_equal(arg, len, s->policy->token))
		return request(s, req, ACK_OP_WRONG_TOKEN);
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
verb_ttl(struct ack_session *s, const char *arg, size_t len,
    struct ack_request *req, struct ack_out *out)
{
	int64_t secs = parse_number(arg, len, 6);

	if (secs < 1 || secs > (LIMIT_TTL_MAX_MS / 1000))
		return answer_err(out, "ttl", ACK_CONTINUE);
	s->ttl_ms = secs * 1000;
	if (s->bound == 0)
		return answer(out, "TTL", arg, len) ? ACK_CONTINUE : ACK_CLOSE;
	req->target = s->bound;
	req->ttl_ms = s->ttl_ms;
	return request(s, req, ACK_OP_TTL);
}
/*
 * The name's syntax is judged here; whether the service exists, by the
 * registry side. tok holds the name, NUL-terminated, until ack_complete.
 */
static enum ack_result
verb_svc(struct ack_session *s, const char *arg, size_t len,
    struct ack_request *req, struct ack_out *out)
{
	if (s->settled || !service_name_valid(arg, len))
		return answer_err(out, "service", ACK_CLOSE);
	req->service = arg;
	return request(s, req, ACK_OP_SERVICE);
}

/* The name's rule is common/agentname.h's; it only labels what follows. */
static enum ack_result
verb_agent(struct ack_session *s, const char *arg, size_t len, struct ack_out *out)
{
	if (s->acted || !agent_name_valid(arg, len))
		return answer_err(out, "agent", ACK_CLOSE);
	memcpy(s->agent, arg, len);		/* valid: it fits */
	s->agent[len] = '\0';
	return answer(out, "AGENT", arg, len) ? ACK_CONTINUE : ACK_CLOSE;
}

static enum ack_result
dispatch(struct ack_session *s, const char *verb, const char *arg, size_t len,
    struct ack_request *req, struct ack_out *out)
{
	memset(req, 0, sizeof(*req));
	if (strcmp(verb, "AUTH") == 0)
		return verb_auth(s, arg, len, req, out);
	if (strcmp(verb, "HOST") == 0)
		return verb_host(s, arg, len, out);
	if (!may_write(s))
		return answer_err(out, s->policy->token ? "auth" : "forbidden", ACK_CLOSE);
	if (strcmp(verb, "NID") == 0)
		return verb_nid(s, req, out);
	if (strcmp(verb, "BAL") == 0)
		return verb_bal(s, arg, len, req, out);
	if (strcmp(verb, "SPORT") == 0)
		return verb_sport(s, arg, len, req, out);
	if (strcmp(verb, "TTL") == 0)
		return verb_ttl(s, arg, len, req, out);
	if (strcmp(verb, "SVC") == 0)
		return verb_svc(s, arg, len, req, out);
	if (strcmp(verb, "AGENT") == 0)
		return verb_agent(s, arg, len, out);
	return verb_keyed(s, verb, arg, len, req, out);
}
static const char *const verbs_with_arg[] = {
	"NID", "ID", "BAL", "SPORT", "ACK", "CLOSE", "AUTH", "HOST", "TTL",
	"SVC", "AGENT",
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
token(struct ack_session *s, struct ack_request *req, struct ack_out *out)
{
	const char *tok = s->tok;
	size_t len = s->toklen;

	if (s->have_verb) {
		s->have_verb = false;
		return dispatch(s, s->verb, tok, len, req, out);
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
    size_t *used, struct ack_request *req)
{
	if (s->pending) {		/* a caller's mistake: end it safely */
		*used = 0;
		return ACK_CLOSE;
	}
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
		enum ack_result r = token(s, req, out);
		if (r == ACK_APPLY) {
			*used = i + 1;
			return ACK_APPLY;	/* tok is the argument until then */
		}
		s->toklen = 0;
		if (r == ACK_CLOSE) {
			*used = i + 1;
			return ACK_CLOSE;
		}
	}
	*used = len;
	return ACK_CONTINUE;
}

/* ERR:<reason>:, with a reason the registry side gave (never empty). */
static enum ack_result
answer_reason(struct ack_out *out, const struct ack_outcome *o, enum ack_result r)
{
	const char *reason = o->reason;

	if (reason == NULL || reason[0] == '\0' || strchr(reason, ':') != NULL)
		reason = "internal";
	return answer_err(out, reason, r);
}

static enum ack_result
done_register(struct ack_session *s, const struct ack_outcome *o,
    struct ack_out *out)
{
	switch (o->status) {
	case ACK_DONE:
		s->bound = o->target;
		if (o->created)
			s->created = o->target;
		break;
	case ACK_DELETED:
		s->bound = 0;		/* removed: stays removed */
		break;
	case ACK_UNBOUND:
	case ACK_UNKNOWN:
	case ACK_REFUSED:
	default:
		return answer_reason(out, o, ACK_CLOSE);
	}
	return answer(out, "NID", o->key, strnlen(o->key, ACK_KEY_LEN)) ?
	    ACK_CONTINUE : ACK_CLOSE;
}

static enum ack_result
done_keyed(struct ack_session *s, const struct ack_outcome *o, struct ack_out *out)
{
	const char *arg = s->tok;
	size_t len = s->toklen;

	switch (o->status) {
	case ACK_DONE:
		if (s->op == ACK_OP_BIND)
			s->bound = o->target;
		break;
	case ACK_DELETED:
		break;		/* answered, so the client stays calm */
	case ACK_UNBOUND:
	case ACK_UNKNOWN:
	case ACK_REFUSED:
	default:
		s->lost = true;
		return answer(out, "BID", arg, len) ? ACK_CONTINUE : ACK_CLOSE;
	}
	return answer(out, s->verb, arg, len) ? ACK_CONTINUE : ACK_CLOSE;
}

/* BAL and SPORT on the bound target. */
static enum ack_result
done_bound(struct ack_session *s, const struct ack_outcome *o, struct ack_out *out)
{
	switch (o->status) {
	case ACK_DONE:
		return answer(out, s->verb, s->tok, s->toklen) ? ACK_CONTINUE : ACK_CLOSE;
	case ACK_REFUSED:
		if (o->gone)
			s->bound = s->created = 0;
		return answer_reason(out, o, ACK_CONTINUE);
	case ACK_UNBOUND:
	case ACK_UNKNOWN:
	case ACK_DELETED:
	default:
		return answer_err(out, "unbound", ACK_CONTINUE);
	}
}

enum ack_result
ack_complete(struct ack_session *s, const struct ack_outcome *o, struct ack_out *out)
{
	enum ack_result r;

	if (!s->pending)
		return ACK_CLOSE;
	s->pending = false;
	switch (s->op) {
	case ACK_OP_REGISTER:
		r = done_register(s, o, out);
		break;
	case ACK_OP_BIND:
	case ACK_OP_HEARTBEAT:
	case ACK_OP_DEREGISTER:
		r = done_keyed(s, o, out);
		break;
	case ACK_OP_WEIGHT:
	case ACK_OP_PORT:
		r = done_bound(s, o, out);
		break;
	case ACK_OP_TTL:
		/* Set or not (the target went), the TTL holds for the next NID. */
		r = answer(out, "TTL", s->tok, s->toklen) ? ACK_CONTINUE : ACK_CLOSE;
		break;
	case ACK_OP_SERVICE:
		if (o->status != ACK_DONE) {
			r = answer_err(out, "service", ACK_CLOSE);
			break;
		}
		/* Valid by verb_svc: it fits. */
		memcpy(s->service, s->tok, s->toklen + 1);
		r = answer(out, "SVC", s->tok, s->toklen) ? ACK_CONTINUE : ACK_CLOSE;
		break;
	case ACK_OP_WRONG_TOKEN:
	default:
		r = answer_err(out, "auth", ACK_CLOSE);
		break;
	}
	s->toklen = 0;
	return r;
}
