/*
 * api: see api.h.
 *
 * Order of checks for every request, so that a caller learns nothing it
 * may not know: route (404, 405), the route's target (404: ids are public
 * anyway), auth (401, 403), Content-Type (415), body (400, 422), then the
 * handler (409 for a conflict with a static target or a deregistered one).
 *
 * JSON bodies are parsed strictly (json-c STRICT, UTF-8 validated, depth
 * capped) and every field is checked for its type before its value: json-c
 * converts "12", 1.5 and true to integers on request and saturates huge
 * numbers without telling, so only the type says what the caller sent.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "api.h"
#include "balance.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "net.h"
#include "persist.h"
#include "pool.h"
#include "proxy.h"

#define JSON_OUT_FLAGS	(JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* --- routing ------------------------------------------------------------- */

enum method {
	M_GET,		/* and HEAD */
	M_POST,
	M_PATCH,
	M_DELETE,
	M_OTHER,
};

static enum method
method_of(const char *m)
{
	if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0)
		return M_GET;
	if (strcmp(m, "POST") == 0)
		return M_POST;
	if (strcmp(m, "PATCH") == 0)
		return M_PATCH;
	if (strcmp(m, "DELETE") == 0)
		return M_DELETE;
	return M_OTHER;
}

/* API_NOT_FOUND in a slot means "this path does not take that method". */
static void
route_pick(struct api_route *r, enum method m, enum api_handler get,
    enum api_handler post, enum api_handler patch, enum api_handler del,
    const char *allow)
{
	enum api_handler h = API_NOT_FOUND;

	switch (m) {
	case M_GET:
		h = get;
		break;
	case M_POST:
		h = post;
		break;
	case M_PATCH:
		h = patch;
		break;
	case M_DELETE:
		h = del;
		break;
	case M_OTHER:
		break;
	}
	r->allow = allow;
	r->write = m != M_GET;
	r->handler = h == API_NOT_FOUND ? API_BAD_METHOD : h;
	r->json_body = r->handler == API_TARGETS_CREATE ||
	    r->handler == API_TARGET_PATCH || r->handler == API_CONFIG_PATCH;
}

/* "1".."4294967295", no sign, no leading zero; 0 if it is not one. */
static uint32_t
parse_id(const char *s, size_t len)
{
	uint64_t v = 0;

	if (len == 0 || len > 10 || s[0] == '0')
		return 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return v > UINT32_MAX ? 0 : (uint32_t)v;
}

void
api_route(const char *method, const char *path, struct api_route *r)
{
	static const char targets[] = "/api/v1/targets";
	static const char persistence[] = "/api/v1/persistence";
	enum method m = method_of(method);
	const char *rest, *slash;

	memset(r, 0, sizeof(*r));
	r->handler = API_NOT_FOUND;
	if (strcmp(path, "/metrics") == 0) {
		route_pick(r, m, API_METRICS, 0, 0, 0, "GET, HEAD");
		return;
	}
	if (strncmp(path, "/api/", 5) != 0 && strcmp(path, "/api") != 0) {
		route_pick(r, m, API_STATIC, 0, 0, 0, "GET, HEAD");
		return;
	}
	if (strcmp(path, targets) == 0) {
		route_pick(r, m, API_TARGETS_LIST, API_TARGETS_CREATE, 0, 0,
		    "GET, HEAD, POST");
		return;
	}
	if (strncmp(path, targets, sizeof(targets) - 1) == 0 &&
	    path[sizeof(targets) - 1] == '/') {
		rest = path + sizeof(targets);
		slash = strchr(rest, '/');
		r->target_id = parse_id(rest, slash ? (size_t)(slash - rest) : strlen(rest));
		if (r->target_id == 0)
			return;
		r->one_target = true;
		if (slash == NULL)
			route_pick(r, m, API_TARGET_GET, 0, API_TARGET_PATCH,
			    API_TARGET_DELETE, "GET, HEAD, PATCH, DELETE");
		else if (strcmp(slash, "/ack") == 0)
			route_pick(r, m, 0, API_TARGET_ACK, 0, 0, "POST");
		else
			r->one_target = false;
		return;
	}
	if (strcmp(path, persistence) == 0) {
		route_pick(r, m, API_PERSIST_LIST, 0, 0, API_PERSIST_FLUSH,
		    "GET, HEAD, DELETE");
		return;
	}
	if (strncmp(path, persistence, sizeof(persistence) - 1) == 0 &&
	    path[sizeof(persistence) - 1] == '/') {
		rest = path + sizeof(persistence);
		if (*rest == '\0' || strchr(rest, '/') != NULL ||
		    strlen(rest) >= sizeof(r->client))
			return;
		strcpy(r->client, rest);
		route_pick(r, m, 0, 0, 0, API_PERSIST_FORGET, "DELETE");
		return;
	}
	if (strcmp(path, "/api/v1/status") == 0)
		route_pick(r, m, API_STATUS, 0, 0, 0, "GET, HEAD");
	else if (strcmp(path, "/api/v1/config") == 0)
		route_pick(r, m, API_CONFIG_GET, 0, API_CONFIG_PATCH, 0,
		    "GET, HEAD, PATCH");
	else if (strcmp(path, "/api/v1/events") == 0)
		route_pick(r, m, API_EVENTS, 0, 0, 0, "GET, HEAD");
}

const char *
api_handler_name(enum api_handler h)
{
	static const char *const names[] = {
		[API_NOT_FOUND] = "not-found",
		[API_BAD_METHOD] = "bad-method",
		[API_TARGETS_LIST] = "targets-list",
		[API_TARGETS_CREATE] = "targets-create",
		[API_TARGET_GET] = "target-get",
		[API_TARGET_PATCH] = "target-patch",
		[API_TARGET_DELETE] = "target-delete",
		[API_TARGET_ACK] = "target-ack",
		[API_PERSIST_LIST] = "persist-list",
		[API_PERSIST_FLUSH] = "persist-flush",
		[API_PERSIST_FORGET] = "persist-forget",
		[API_STATUS] = "status",
		[API_CONFIG_GET] = "config-get",
		[API_CONFIG_PATCH] = "config-patch",
		[API_EVENTS] = "events",
		[API_METRICS] = "metrics",
		[API_STATIC] = "static",
	};

	if ((size_t)h >= sizeof(names) / sizeof(names[0]) || names[h] == NULL)
		return "unknown";
	return names[h];
}

/* --- auth ---------------------------------------------------------------- */

bool
api_secret_equal(const char *given, size_t givenlen, const char *secret)
{
	size_t slen = strlen(secret);
	unsigned char diff = (unsigned char)(givenlen != slen);

	/* Every byte of the secret is looked at, whatever matched before. */
	for (size_t i = 0; i < slen; i++)
		diff |= (unsigned char)(secret[i] ^ (i < givenlen ? given[i] : 0));
	return diff == 0;
}

const char *
api_bearer(const char *h, size_t *len)
{
	const char *tok;
	size_t n;

	if (h == NULL || strncasecmp(h, "Bearer", 6) != 0 ||
	    (h[6] != ' ' && h[6] != '\t'))
		return NULL;
	for (tok = h + 7; *tok == ' ' || *tok == '\t'; tok++)
		;
	n = strlen(tok);
	while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
		n--;
	if (n == 0 || memchr(tok, ' ', n) != NULL || memchr(tok, '\t', n) != NULL)
		return NULL;
	*len = n;
	return tok;
}

void
api_auth_check(const struct api_policy *pol, const struct sockaddr *peer,
    const char *authorization, const char *target_key, struct api_auth *a)
{
	const char *tok;
	size_t len = 0;

	memset(a, 0, sizeof(*a));
	tok = api_bearer(authorization, &len);
	if (tok != NULL && pol->token != NULL)
		a->token_ok = api_secret_equal(tok, len, pol->token);
	if (tok != NULL && target_key != NULL)
		a->key_ok = api_secret_equal(tok, len, target_key);
	if (peer != NULL) {
		a->peer_ok = net_is_loopback(peer);
		for (size_t i = 0; i < pol->nallow && !a->peer_ok; i++)
			a->peer_ok = net_cidr_match(&pol->allow[i].net, peer);
	}
}

bool
api_origin_ok(const char *origin, const char *host)
{
	const char *rest;

	if (origin == NULL)
		return true;
	if (strncasecmp(origin, "http://", 7) == 0)
		rest = origin + 7;
	else if (strncasecmp(origin, "https://", 8) == 0)
		rest = origin + 8;
	else
		return false;		/* "null" and anything else */
	return host != NULL && *host != '\0' && strcasecmp(rest, host) == 0;
}

bool
api_auth_admin(const struct api_policy *pol, const struct api_auth *a)
{
	return pol->token != NULL ? a->token_ok : a->peer_ok;
}

int
api_auth_decide(const struct api_policy *pol, const struct api_auth *a,
    const struct api_route *r)
{
	if (!r->write || api_auth_admin(pol, a))
		return 0;
	if (r->one_target && a->key_ok)
		return 0;
	return pol->token != NULL ? 401 : 403;
}

/* --- request bodies ------------------------------------------------------ */

bool
api_content_type_json(const char *ct)
{
	static const char json[] = "application/json";
	size_t n = sizeof(json) - 1;

	if (ct == NULL || strncasecmp(ct, json, n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

int
api_parse_object(const char *body, size_t len, struct json_object **out,
    char *err, size_t errlen)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error e;
	size_t end;
	char *buf;

	*out = NULL;
	if (body == NULL || len == 0) {
		snprintf(err, errlen, "a JSON object is required");
		return 400;
	}
	if (len > API_BODY_MAX) {
		snprintf(err, errlen, "body larger than %d bytes", API_BODY_MAX);
		return 413;
	}
	/* json-c sees the end of input only at a NUL it is allowed to read. */
	if ((buf = malloc(len + 1)) == NULL ||
	    (tok = json_tokener_new_ex(API_JSON_DEPTH)) == NULL) {
		free(buf);
		snprintf(err, errlen, "out of memory");
		return 500;
	}
	memcpy(buf, body, len);
	buf[len] = '\0';
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, buf, (int)len + 1);
	e = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	free(buf);
	if (e != json_tokener_success) {
		snprintf(err, errlen, "bad JSON at byte %zu: %s", end,
		    json_tokener_error_desc(e));
		json_object_put(o);
		return 400;
	}
	/* A NUL byte ends the parse "successfully": the rest is garbage. */
	if (end != len) {
		snprintf(err, errlen, "bad JSON: unexpected data at byte %zu", end);
		json_object_put(o);
		return 400;
	}
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, errlen, "the body must be a JSON object");
		json_object_put(o);
		return 400;
	}
	*out = o;
	return 0;
}

static int
field_int(struct json_object *v, const char *name, int64_t min, int64_t max,
    int64_t *out, char *err, size_t errlen)
{
	int64_t x;

	if (v == NULL || !json_object_is_type(v, json_type_int)) {
		snprintf(err, errlen, "'%s' must be an integer", name);
		return 422;
	}
	/* Saturated at INT64_MIN/MAX for huge input: outside any range we take. */
	x = json_object_get_int64(v);
	if (x < min || x > max) {
		snprintf(err, errlen, "'%s' must be between %" PRId64 " and %" PRId64,
		    name, min, max);
		return 422;
	}
	*out = x;
	return 0;
}

/* A string with no NUL in it; empty allowed only if allow_empty. */
/*
 * Well-formed UTF-8 only (RFC 3629): no overlong forms, no surrogates,
 * nothing above U+10FFFF, no NUL. json-c's own check lets surrogates
 * through, and what we accept we later hand back in JSON.
 */
static bool
utf8_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		unsigned char lo = 0x80, hi = 0xbf;
		size_t n;

		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 2;
		else if (c >= 0xe0 && c <= 0xef)
			n = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 4;
		else
			return false;
		if (c == 0xe0)
			lo = 0xa0;		/* overlong */
		else if (c == 0xed)
			hi = 0x9f;		/* surrogates */
		else if (c == 0xf0)
			lo = 0x90;		/* overlong */
		else if (c == 0xf4)
			hi = 0x8f;		/* above U+10FFFF */
		if (i + n > len || p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (size_t k = 2; k < n; k++)
			if (p[i + k] < 0x80 || p[i + k] > 0xbf)
				return false;
		i += n;
	}
	return true;
}

static int
field_string(struct json_object *v, const char *name, bool allow_empty,
    const char **out, size_t *outlen, char *err, size_t errlen)
{
	const char *s;
	size_t len;

	if (v == NULL || !json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "'%s' must be a string", name);
		return 422;
	}
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (strlen(s) != len) {
		snprintf(err, errlen, "'%s' must not contain NUL", name);
		return 422;
	}
	if (!utf8_text(s, len)) {
		snprintf(err, errlen, "'%s' is not valid UTF-8", name);
		return 400;
	}
	if (len == 0 && !allow_empty) {
		snprintf(err, errlen, "'%s' must not be empty", name);
		return 422;
	}
	*out = s;
	if (outlen != NULL)
		*outlen = len;
	return 0;
}

static int
unknown_field(const char *key, char *err, size_t errlen)
{
	snprintf(err, errlen, "unknown field '%.64s'", key);
	return 422;
}

int
api_parse_ttl(struct json_object *v, int64_t *ms, char *err, size_t errlen)
{
	char reason[API_ERR_MAX];
	const char *s;
	int64_t x;
	int st;

	if (v != NULL && json_object_is_type(v, json_type_int)) {
		if ((st = field_int(v, "ttl", API_TTL_MIN_MS / 1000,
		    API_TTL_MAX_MS / 1000, &x, err, errlen)) != 0)
			return st;
		*ms = x * 1000;
		return 0;
	}
	if (v == NULL || !json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "'ttl' must be seconds or a duration like \"60s\"");
		return 422;
	}
	if ((st = field_string(v, "ttl", false, &s, NULL, err, errlen)) != 0)
		return st;
	if (cfg_parse_duration(s, &x, reason, sizeof(reason)) == -1) {
		snprintf(err, errlen, "'ttl': %s", reason);
		return 422;
	}
	if (x < API_TTL_MIN_MS || x > API_TTL_MAX_MS) {
		snprintf(err, errlen, "'ttl' must be between 1s and 24h");
		return 422;
	}
	*ms = x;
	return 0;
}

/* A numeric address that a target can have: not unspecified, not multicast. */
static int
parse_host(const char *s, struct net_addr *a, char *err, size_t errlen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&a->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		a->len = sizeof(*sin);
		if (sin->sin_addr.s_addr == htonl(INADDR_ANY) ||
		    IN_MULTICAST(ntohl(sin->sin_addr.s_addr)) ||
		    sin->sin_addr.s_addr == htonl(INADDR_BROADCAST))
			goto unusable;
		return 0;
	}
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		a->len = sizeof(*sin6);
		if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ||
		    IN6_IS_ADDR_MULTICAST(&sin6->sin6_addr))
			goto unusable;
		return 0;
	}
	snprintf(err, errlen, "'host' must be a numeric IPv4 or IPv6 address");
	return 422;
unusable:
	snprintf(err, errlen, "'host' %s cannot be a target", s);
	return 422;
}

int
api_parse_register(const char *body, size_t len, struct api_register *reg,
    char *err, size_t errlen)
{
	struct json_object *o;
	const char *s;
	bool has_port = false;
	int64_t x;
	int st;

	memset(reg, 0, sizeof(*reg));
	if ((st = api_parse_object(body, len, &o, err, errlen)) != 0)
		return st;
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "port") == 0) {
			if ((st = field_int(val, key, 1, 65535, &x, err, errlen)) != 0)
				goto out;
			reg->port = (uint16_t)x;
			has_port = true;
		} else if (strcmp(key, "weight") == 0) {
			if ((st = field_int(val, key, TARGET_WEIGHT_MIN,
			    TARGET_WEIGHT_MAX, &x, err, errlen)) != 0)
				goto out;
			reg->weight = (uint32_t)x;
			reg->has_weight = true;
		} else if (strcmp(key, "host") == 0) {
			if ((st = field_string(val, key, false, &s, NULL, err,
			    errlen)) != 0 ||
			    (st = parse_host(s, &reg->host, err, errlen)) != 0)
				goto out;
			reg->has_host = true;
		} else if (strcmp(key, "ttl") == 0) {
			if ((st = api_parse_ttl(val, &reg->ttl_ms, err, errlen)) != 0)
				goto out;
			reg->has_ttl = true;
		} else {
			st = unknown_field(key, err, errlen);
			goto out;
		}
	}
	if (!has_port) {
		snprintf(err, errlen, "'port' is required");
		st = 422;
	}
out:
	json_object_put(o);
	return st;
}

int
api_parse_target_patch(const char *body, size_t len, struct api_target_patch *tp,
    char *err, size_t errlen)
{
	struct json_object *o;
	const char *s;
	int64_t x;
	int st;

	memset(tp, 0, sizeof(*tp));
	if ((st = api_parse_object(body, len, &o, err, errlen)) != 0)
		return st;
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "weight") == 0) {
			if ((st = field_int(val, key, TARGET_WEIGHT_MIN,
			    TARGET_WEIGHT_MAX, &x, err, errlen)) != 0)
				goto out;
			tp->weight = (uint32_t)x;
			tp->has_weight = true;
		} else if (strcmp(key, "state") == 0) {
			if ((st = field_string(val, key, false, &s, NULL, err,
			    errlen)) != 0)
				goto out;
			if (strcmp(s, "draining") == 0)
				tp->drain = true;
			else if (strcmp(s, "up") != 0) {
				snprintf(err, errlen, "'state' must be \"draining\" or \"up\"");
				st = 422;
				goto out;
			}
			tp->has_state = true;
		} else {
			st = unknown_field(key, err, errlen);
			goto out;
		}
	}
	if (!tp->has_weight && !tp->has_state) {
		snprintf(err, errlen, "nothing to change: give 'weight' and/or 'state'");
		st = 422;
	}
out:
	json_object_put(o);
	return st;
}

void
api_config_patch_free(struct api_config_patch *cp)
{
	free(cp->unavailable);
	cp->unavailable = NULL;
	cp->unavailable_len = 0;
}

int
api_parse_config_patch(const char *body, size_t len, struct api_config_patch *cp,
    char *err, size_t errlen)
{
	enum balance_algo algo;
	struct json_object *o;
	const char *s;
	size_t slen;
	int st;

	memset(cp, 0, sizeof(*cp));
	if ((st = api_parse_object(body, len, &o, err, errlen)) != 0)
		return st;
	json_object_object_foreach(o, key, val) {
		if (strcmp(key, "concurrency") == 0) {
			if ((st = field_int(val, key, -1, API_CONCURRENCY_MAX,
			    &cp->concurrency, err, errlen)) != 0)
				goto out;
			cp->has_concurrency = true;
		} else if (strcmp(key, "requeue") == 0) {
			if ((st = field_int(val, key, 0, API_REQUEUE_MAX,
			    &cp->requeue, err, errlen)) != 0)
				goto out;
			cp->has_requeue = true;
		} else if (strcmp(key, "balance") == 0) {
			if ((st = field_string(val, key, false, &s, NULL, err,
			    errlen)) != 0)
				goto out;
			if (balance_algo_parse(s, &algo) == -1) {
				snprintf(err, errlen, "'balance' must be leastconn,"
				    " roundrobin or hash");
				st = 422;
				goto out;
			}
			cp->balance = (int)algo;
			cp->has_balance = true;
		} else if (strcmp(key, "persistent") == 0) {
			if (val == NULL || !json_object_is_type(val, json_type_boolean)) {
				snprintf(err, errlen, "'persistent' must be true or false");
				st = 422;
				goto out;
			}
			cp->persistent = json_object_get_boolean(val);
			cp->has_persistent = true;
		} else if (strcmp(key, "unavailable") == 0) {
			/* null or "" removes the text: clients are just closed. */
			free(cp->unavailable);
			cp->unavailable = NULL;
			cp->unavailable_len = 0;
			cp->has_unavailable = true;
			if (val == NULL)
				continue;
			if ((st = field_string(val, key, true, &s, &slen, err,
			    errlen)) != 0)
				goto out;
			if (slen > 0 && (cp->unavailable = strndup(s, slen)) == NULL) {
				snprintf(err, errlen, "out of memory");
				st = 500;
				goto out;
			}
			cp->unavailable_len = slen;
		} else {
			st = unknown_field(key, err, errlen);
			goto out;
		}
	}
	if (!cp->has_concurrency && !cp->has_requeue && !cp->has_balance &&
	    !cp->has_persistent && !cp->has_unavailable) {
		snprintf(err, errlen, "nothing to change: give concurrency, requeue,"
		    " balance, persistent or unavailable");
		st = 422;
	}
out:
	json_object_put(o);
	if (st != 0)
		api_config_patch_free(cp);
	return st;
}

int
api_prom_escape(const char *in, char *out, size_t outlen)
{
	size_t n = 0;

	for (; *in != '\0'; in++) {
		const char *rep = NULL;
		char one[2] = { *in, '\0' };
		size_t k;

		if (*in == '\\')
			rep = "\\\\";
		else if (*in == '"')
			rep = "\\\"";
		else if (*in == '\n')
			rep = "\\n";
		else
			rep = one;
		k = strlen(rep);
		if (n + k >= outlen)
			return -1;
		memcpy(out + n, rep, k);
		n += k;
	}
	if (n >= outlen)
		return -1;
	out[n] = '\0';
	return 0;
}

int
api_static_path(const char *path, char *rel, size_t relsize)
{
	const char *seg;
	size_t len;

	if (path == NULL || path[0] != '/')
		return -1;
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	len = strlen(path + 1);
	if (len + 1 > relsize)
		return -1;
	for (seg = path + 1; *seg != '\0';) {
		size_t n = strcspn(seg, "/");

		if (n == 0 || n > 255 || seg[0] == '.')
			return -1;
		for (size_t i = 0; i < n; i++) {
			char c = seg[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
				return -1;
		}
		seg += n;
		if (*seg == '/' && *++seg == '\0')
			return -1;	/* a trailing slash names a directory */
	}
	memcpy(rel, path + 1, len + 1);
	return 0;
}

const char *
api_mime_type(const char *rel)
{
	static const struct {
		const char	*ext;
		const char	*type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	const char *dot = strrchr(rel, '.');

	for (size_t i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* --- JSON out ------------------------------------------------------------ */

/* Adds v (which may be NULL: out of memory) to o; v is o's from here on. */
static void
jset(struct json_object *o, const char *key, struct json_object *v)
{
	if (v == NULL || json_object_object_add(o, key, v) < 0)
		json_object_put(v);
}

static void
jpush(struct json_object *a, struct json_object *v)
{
	if (v == NULL || json_object_array_add(a, v) < 0)
		json_object_put(v);
}

static void
jnull(struct json_object *o, const char *key)
{
	(void)json_object_object_add(o, key, NULL);
}

/* Serialises and puts o; NULL when out of memory. */
static char *
json_text(struct json_object *o, size_t *len)
{
	const char *s;
	char *copy = NULL;
	size_t n = 0;

	if (o != NULL && (s = json_object_to_json_string_length(o, JSON_OUT_FLAGS,
	    &n)) != NULL && (copy = malloc(n + 1)) != NULL) {
		memcpy(copy, s, n + 1);
		*len = n;
	}
	json_object_put(o);
	return copy;
}

static int64_t
ms_since(const struct api_env *env, int64_t when)
{
	int64_t d = loop_now(env->loop) - when;

	return d > 0 ? d : 0;
}

static struct json_object *
target_json(const struct api_env *env, const struct target *t, bool with_key)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): one_target routes find t or 404 (api_handle) */
	jset(o, "id", json_object_new_int64(t->id));
	jset(o, "name", json_object_new_string(t->name));
	jset(o, "host", json_object_new_string(t->host));
	jset(o, "port", json_object_new_int(t->port));
	jset(o, "weight", json_object_new_int64(t->weight));
	/* Lower than weight while it ramps back up after being down. */
	jset(o, "effective_weight", json_object_new_int64(
	    target_weight_now(t, loop_now(pool_loop(env->pool)))));
	jset(o, "state", json_object_new_string(target_state_name(t->state)));
	jset(o, "source", json_object_new_string(target_source_name(t->source)));
	jset(o, "leaving", json_object_new_boolean(t->leaving));
	jset(o, "active", json_object_new_uint64(t->active));
	jset(o, "total", json_object_new_uint64(t->total));
	jset(o, "failures", json_object_new_uint64(t->failures));
	jset(o, "bytes_in", json_object_new_uint64(t->bytes_in));
	jset(o, "bytes_out", json_object_new_uint64(t->bytes_out));
	if (t->source == TARGET_SRC_STATIC) {
		/* No heartbeat: a static target never expires. */
		jnull(o, "last_ack_ms_ago");
		jnull(o, "timeout_ms");
	} else {
		jset(o, "last_ack_ms_ago", json_object_new_int64(ms_since(env, t->last_ack)));
		jset(o, "timeout_ms", json_object_new_int64(t->timeout_ms));
	}
	if (with_key)
		jset(o, "key", json_object_new_string(t->key));
	return o;
}

static struct json_object *
targets_json(const struct api_env *env)
{
	struct json_object *a = json_object_new_array();
	const struct target *t;

	if (a == NULL)
		return NULL;
	TAILQ_FOREACH(t, pool_targets(env->pool), entry)
		jpush(a, target_json(env, t, false));
	return a;
}

struct persist_walk {
	const struct api_env	*env;
	struct json_object	*entries;
	size_t			 limit;
	size_t			 n;
};

static void
persist_visit(const struct persist_entry_info *e, void *arg)
{
	struct persist_walk *w = arg;
	struct json_object *o;
	const struct target *t;

	if (w->n++ >= w->limit || (o = json_object_new_object()) == NULL)
		return;
	jset(o, "client", json_object_new_string(e->client));
	jset(o, "target", json_object_new_int64(e->target_id));
	if ((t = pool_find_id(w->env->pool, e->target_id)) != NULL)
		jset(o, "target_name", json_object_new_string(t->name));
	else
		jnull(o, "target_name");
	jset(o, "hits", json_object_new_uint64(e->hits));
	jset(o, "last_use_ms_ago", json_object_new_int64(ms_since(w->env, e->last_use)));
	jpush(w->entries, o);
}

static struct json_object *
persistence_json(const struct api_env *env, size_t limit)
{
	struct json_object *o = json_object_new_object();
	struct persist_walk w = { .env = env, .limit = limit };
	size_t count = persist_count(env->persist);

	if (o == NULL)
		return NULL;
	if ((w.entries = json_object_new_array()) != NULL)
		persist_foreach(env->persist, persist_visit, &w);
	jset(o, "count", json_object_new_uint64(count));
	jset(o, "truncated", json_object_new_boolean(count > limit));
	jset(o, "entries", w.entries);
	return o;
}

/* Valid UTF-8 without NUL: safe to hand to json-c as a string. */
static struct json_object *
config_json(const struct api_env *env)
{
	const struct config *cfg = env->cfg;
	struct json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	jset(o, "concurrency", json_object_new_int64(cfg->concurrency));
	jset(o, "requeue", json_object_new_int64(cfg->requeue));
	jset(o, "balance", json_object_new_string(balance_algo_name(
	    balance_algo(env->balancer))));
	jset(o, "persistent", json_object_new_boolean(cfg->persistent));
	if (cfg->unavailable == NULL || cfg->unavailable_len == 0)
		jnull(o, "unavailable");
	else if (utf8_text(cfg->unavailable, cfg->unavailable_len))
		jset(o, "unavailable", json_object_new_string_len(cfg->unavailable,
		    (int)cfg->unavailable_len));
	else
		jset(o, "unavailable", json_object_new_string("(binary)"));
	jset(o, "queue_max", json_object_new_int64(cfg->queue_max));
	jset(o, "queue_timeout_ms", json_object_new_int64(cfg->queue_timeout_ms));
	jset(o, "connect_timeout_ms", json_object_new_int64(cfg->connect_timeout_ms));
	jset(o, "idle_timeout_ms", json_object_new_int64(cfg->idle_timeout_ms));
	jset(o, "host_timeout_ms", json_object_new_int64(cfg->host_timeout_ms));
	jset(o, "persist_ttl_ms", json_object_new_int64(cfg->persist_ttl_ms));
	jset(o, "persist_max", json_object_new_int64(cfg->persist_max));
	return o;
}

static void
count_states(const struct api_env *env, size_t counts[5])
{
	const struct target *t;

	memset(counts, 0, 5 * sizeof(counts[0]));
	TAILQ_FOREACH(t, pool_targets(env->pool), entry)
		if ((size_t)t->state < 5)
			counts[t->state]++;
}

static const enum target_state all_states[5] = {
	TARGET_UP, TARGET_DOWN, TARGET_FAILING, TARGET_DRAINING, TARGET_STATIC,
};

static struct json_object *
status_json(const struct api_env *env)
{
	const struct proxy_stats *ps = proxy_stats(env->proxy);
	const struct config *cfg = env->cfg;
	struct json_object *o = json_object_new_object(), *ts, *tot;
	size_t counts[5];

	if (o == NULL)
		return NULL;
	jset(o, "version", json_object_new_string(PACKAGE_VERSION));
	jset(o, "uptime_ms", json_object_new_int64(ms_since(env, env->started_ms)));
	jset(o, "algorithm", json_object_new_string(balance_algo_name(
	    balance_algo(env->balancer))));
	jset(o, "persistent", json_object_new_boolean(cfg->persistent));
	jset(o, "concurrency", json_object_new_int64(cfg->concurrency));
	jset(o, "paused", json_object_new_boolean(cfg->concurrency == 0));
	jset(o, "requeue", json_object_new_int64(cfg->requeue));
	jset(o, "active", json_object_new_uint64(proxy_active(env->proxy)));
	jset(o, "queued", json_object_new_uint64(proxy_queued(env->proxy)));
	jset(o, "queue_max", json_object_new_int64(cfg->queue_max));
	jset(o, "sessions", json_object_new_uint64(proxy_sessions(env->proxy)));
	jset(o, "persistence_entries", json_object_new_uint64(persist_count(env->persist)));
	jset(o, "token_required", json_object_new_boolean(cfg->token != NULL));
	if ((ts = json_object_new_object()) != NULL) {
		count_states(env, counts);
		jset(ts, "total", json_object_new_uint64(pool_count(env->pool)));
		for (size_t i = 0; i < 5; i++)
			jset(ts, target_state_name(all_states[i]),
			    json_object_new_uint64(counts[all_states[i]]));
		jset(o, "targets", ts);
	}
	if ((tot = json_object_new_object()) != NULL) {
		jset(tot, "accepted", json_object_new_uint64(ps->accepted));
		jset(tot, "connected", json_object_new_uint64(ps->connected));
		jset(tot, "unavailable", json_object_new_uint64(ps->unavailable));
		jset(tot, "connect_failures", json_object_new_uint64(ps->connect_failures));
		jset(tot, "accept_errors", json_object_new_uint64(ps->accept_errors));
		jset(tot, "bytes_up", json_object_new_uint64(ps->bytes_up));
		jset(tot, "bytes_down", json_object_new_uint64(ps->bytes_down));
		jset(o, "totals", tot);
	}
	return o;
}

/* --- replies ------------------------------------------------------------- */

void
api_reply_free(struct api_reply *rp)
{
	free(rp->body);
	rp->body = NULL;
	rp->len = 0;
}

static void
reply_json(struct api_reply *rp, int status, struct json_object *o)
{
	free(rp->body);
	rp->content_type = API_JSON_TYPE;
	if ((rp->body = json_text(o, &rp->len)) == NULL) {
		rp->status = 500;
		rp->len = 0;
		return;
	}
	rp->status = status;
}

void
api_reply_error(struct api_reply *rp, int status, const char *reason)
{
	struct json_object *o = json_object_new_object();

	if (o != NULL)
		jset(o, "error", json_object_new_string(reason));
	reply_json(rp, status, o);
}

static void
reply_errorf(struct api_reply *rp, int status, const char *fmt, ...)
    LOG_PRINTF(3, 4);

static void
reply_errorf(struct api_reply *rp, int status, const char *fmt, ...)
{
	char reason[API_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	api_reply_error(rp, status, reason);
}

static void
reply_empty(struct api_reply *rp, int status)
{
	api_reply_free(rp);
	rp->status = status;
	rp->content_type = NULL;
}

/* --- handlers ------------------------------------------------------------ */

/* The peer's host (an IPv4-mapped address as IPv4), port 0. */
static bool
peer_host(const struct sockaddr *peer, struct net_addr *a)
{
	char text[NET_HOSTSTRLEN], err[API_ERR_MAX];

	memset(a, 0, sizeof(*a));
	if (peer == NULL || (peer->sa_family != AF_INET && peer->sa_family != AF_INET6))
		return false;
	net_host_text(peer, text, sizeof(text));
	return parse_host(text, a, err, sizeof(err)) == 0;
}

static bool
same_host(const struct net_addr *a, const struct net_addr *b)
{
	char ta[NET_HOSTSTRLEN], tb[NET_HOSTSTRLEN];

	net_host_text((const struct sockaddr *)&a->ss, ta, sizeof(ta));
	net_host_text((const struct sockaddr *)&b->ss, tb, sizeof(tb));
	return strcmp(ta, tb) == 0;
}

static void
targets_create(struct api_env *env, const struct api_request *rq,
    const struct api_policy *pol, const struct api_auth *auth, struct api_reply *rp)
{
	struct api_register reg;
	struct net_addr peer, addr;
	struct target *t, *old;
	char err[API_ERR_MAX], from[NET_HOSTSTRLEN];
	const char *tok;
	size_t toklen = 0;
	bool created, own, show_key;
	int st;

	if ((st = api_parse_register(rq->body, rq->body_len, &reg, err, sizeof(err))) != 0) {
		api_reply_error(rp, st, err);
		return;
	}
	own = peer_host(rq->peer, &peer);
	if (reg.has_host) {
		/* Normalise "::ffff:10.0.0.5" to "10.0.0.5" before comparing. */
		net_host_text((const struct sockaddr *)&reg.host.ss, from, sizeof(from));
		(void)parse_host(from, &addr, err, sizeof(err));
		own = own && same_host(&addr, &peer);
	} else if (own) {
		addr = peer;
	} else {
		api_reply_error(rp, 422, "'host' is required");
		return;
	}
	/* DESIGN.md "Security": someone else's address needs the token. */
	if (!own && !auth->token_ok) {
		api_reply_error(rp, pol->token != NULL ? 401 : 403,
		    pol->token != NULL ? "registering a host other than your own"
		    " address needs the admin token" : "registering a host other"
		    " than your own address needs the admin token, and none is"
		    " configured");
		rp->challenge = pol->token != NULL;
		return;
	}
	net_addr_set_port((struct sockaddr *)&addr.ss, reg.port);
	old = pool_find_addr(env->pool, (const struct sockaddr *)&addr.ss);
	if (old != NULL && old->source == TARGET_SRC_STATIC) {
		reply_errorf(rp, 409, "%s is a static target", old->name);
		return;
	}
	t = pool_register(env->pool, TARGET_SRC_HTTP, (const struct sockaddr *)&addr.ss,
	    addr.len, reg.has_weight ? reg.weight : TARGET_WEIGHT_DEFAULT,
	    reg.has_ttl ? reg.ttl_ms : 0, &created);
	if (t == NULL) {
		reply_errorf(rp, errno == ENOSPC ? 503 : 500, "cannot register: %s",
		    errno == ENOSPC ? "too many targets" : strerror(errno));
		return;
	}
	if (!created) {
		/* A restarted agent says it again: its news apply, and it is alive. */
		if (reg.has_weight)
			(void)pool_set_weight(t, reg.weight);
		if (reg.has_ttl)
			(void)pool_set_timeout(t, reg.ttl_ms);
		pool_ack(t);
	}
	tok = api_bearer(rq->authorization, &toklen);
	show_key = created || auth->token_ok ||
	    (tok != NULL && api_secret_equal(tok, toklen, t->key));
	if (rq->peer != NULL)
		net_host_text(rq->peer, from, sizeof(from));
	else
		snprintf(from, sizeof(from), "-");
	log_info("http: target %u %s %s from %s, weight %u", (unsigned)t->id,
	    t->name, created ? "registered" : "registered again", from,
	    (unsigned)t->weight);
	snprintf(rp->location, sizeof(rp->location), "/api/v1/targets/%u",
	    (unsigned)t->id);
	reply_json(rp, created ? 201 : 200, target_json(env, t, show_key));
}

static void
target_patch(struct api_env *env, const struct api_request *rq, struct target *t,
    struct api_reply *rp)
{
	struct api_target_patch tp;
	char err[API_ERR_MAX];
	int st;

	if ((st = api_parse_target_patch(rq->body, rq->body_len, &tp, err,
	    sizeof(err))) != 0) {
		api_reply_error(rp, st, err);
		return;
	}
	/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): api_handle found t (one_target) */
	if (tp.has_state && !tp.drain && t->leaving) {
		reply_errorf(rp, 409, "target %u is deregistered: register it again",
		    (unsigned)t->id);
		return;
	}
	if (tp.has_weight)
		(void)pool_set_weight(t, tp.weight);
	if (tp.has_state) {
		if (tp.drain)
			pool_drain(t);
		else
			pool_undrain(t);
	}
	/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): api_handle found t (one_target) */
	log_info("http: target %u %s: weight %u, %s", (unsigned)t->id, t->name,
	    (unsigned)t->weight, target_state_name(t->state));
	reply_json(rp, 200, target_json(env, t, false));
}

static void
persist_list(struct api_env *env, const struct api_request *rq, struct api_reply *rp)
{
	size_t limit = API_PERSIST_LIMIT;

	if (rq->limit != NULL) {
		uint32_t v = parse_id(rq->limit, strlen(rq->limit));

		if (v == 0 || v > API_PERSIST_LIMIT_MAX) {
			reply_errorf(rp, 400, "'limit' must be 1..%d", API_PERSIST_LIMIT_MAX);
			return;
		}
		limit = v;
	}
	reply_json(rp, 200, persistence_json(env, limit));
}

static void
persist_forget_one(struct api_env *env, const struct api_route *r, struct api_reply *rp)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, r->client, buf) != 1 &&
	    inet_pton(AF_INET6, r->client, buf) != 1) {
		reply_errorf(rp, 400, "'%s' is not an IP address", r->client);
		return;
	}
	if (!persist_forget_text(env->persist, r->client)) {
		reply_errorf(rp, 404, "no persistence entry for %s", r->client);
		return;
	}
	log_info("http: persistence entry of %s forgotten", r->client);
	reply_empty(rp, 204);
}

static void
config_patch(struct api_env *env, const struct api_request *rq, struct api_reply *rp)
{
	struct config *cfg = env->cfg;
	struct api_config_patch cp;
	struct proxy_params pp;
	char err[API_ERR_MAX];
	int st;

	if ((st = api_parse_config_patch(rq->body, rq->body_len, &cp, err,
	    sizeof(err))) != 0) {
		api_reply_error(rp, st, err);
		return;
	}
	proxy_params_from_config(cfg, &pp);
	if (cp.has_concurrency)
		pp.concurrency = cp.concurrency;
	if (cp.has_requeue)
		pp.requeue = cp.requeue;
	if (cp.has_persistent)
		pp.persistent = cp.persistent;
	if (cp.has_unavailable) {
		pp.unavailable = cp.unavailable;
		pp.unavailable_len = cp.unavailable_len;
	}
	/* The proxy copies what it keeps; nothing is committed if it fails. */
	if (proxy_set_params(env->proxy, &pp) == -1) {
		api_config_patch_free(&cp);
		api_reply_error(rp, 500, "out of memory");
		return;
	}
	cfg->concurrency = pp.concurrency;
	cfg->requeue = pp.requeue;
	cfg->persistent = pp.persistent;
	if (cp.has_unavailable) {
		free(cfg->unavailable);
		cfg->unavailable = cp.unavailable;
		cfg->unavailable_len = cp.unavailable_len;
		cp.unavailable = NULL;
		/* The text no longer comes from that file. */
		free(cfg->unavailable_file);
		cfg->unavailable_file = NULL;
	}
	if (cp.has_balance) {
		cfg->balance = cp.balance;
		balance_set_algo(env->balancer, (enum balance_algo)cp.balance);
	}
	api_config_patch_free(&cp);
	env->config_gen++;
	log_info("http: runtime config: concurrency %lld, requeue %lld, balance %s,"
	    " persistence %s, unavailable text %zu bytes",
	    (long long)cfg->concurrency, (long long)cfg->requeue,
	    balance_algo_name((enum balance_algo)cfg->balance),
	    cfg->persistent ? "on" : "off", cfg->unavailable_len);
	reply_json(rp, 200, config_json(env));
}

static void
policy_of(const struct api_env *env, struct api_policy *pol)
{
	pol->token = env->cfg->token;
	pol->allow = env->cfg->allow;
	pol->nallow = env->cfg->nallow;
}

void
api_handle(struct api_env *env, const struct api_request *rq, struct api_reply *rp)
{
	const struct api_route *r = rq->route;
	struct target *t = NULL;
	struct api_policy pol;
	struct api_auth auth;
	struct json_object *o;
	int st;

	memset(rp, 0, sizeof(*rp));
	switch (r->handler) {
	case API_NOT_FOUND:
		api_reply_error(rp, 404, "not found");
		return;
	case API_BAD_METHOD:
		api_reply_error(rp, 405, "method not allowed");
		rp->allow = r->allow;
		return;
	case API_EVENTS:
	case API_STATIC:
		api_reply_error(rp, 500, "not an API route");
		return;
	default:
		break;
	}
	if (r->one_target && (t = pool_find_id(env->pool, r->target_id)) == NULL) {
		reply_errorf(rp, 404, "no target %u", (unsigned)r->target_id);
		return;
	}
	if (r->write && !api_origin_ok(rq->origin, rq->host)) {
		api_reply_error(rp, 403, "cross-origin writes are refused");
		return;
	}
	policy_of(env, &pol);
	api_auth_check(&pol, rq->peer, rq->authorization, t != NULL ? t->key : NULL,
	    &auth);
	if ((st = api_auth_decide(&pol, &auth, r)) != 0) {
		api_reply_error(rp, st, st == 401 ? "a valid token is required"
		    " (Authorization: Bearer TOKEN)" : "writes are allowed from"
		    " loopback and --allow networks only");
		rp->challenge = st == 401;
		return;
	}
	if (r->json_body && !api_content_type_json(rq->content_type)) {
		api_reply_error(rp, 415, "Content-Type must be application/json");
		return;
	}

	switch (r->handler) {
	case API_TARGETS_LIST:
		if ((o = json_object_new_object()) != NULL)
			jset(o, "targets", targets_json(env));
		reply_json(rp, 200, o);
		break;
	case API_TARGETS_CREATE:
		targets_create(env, rq, &pol, &auth, rp);
		break;
	case API_TARGET_GET:
		reply_json(rp, 200, target_json(env, t, false));
		break;
	case API_TARGET_PATCH:
		target_patch(env, rq, t, rp);
		break;
	case API_TARGET_DELETE:
		/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): one_target: t is found */
		log_info("http: target %u %s deregistered", (unsigned)t->id, t->name);
		pool_deregister(t);		/* t may be freed */
		reply_empty(rp, 204);
		break;
	case API_TARGET_ACK:
		pool_ack(t);
		reply_empty(rp, 204);
		break;
	case API_PERSIST_LIST:
		persist_list(env, rq, rp);
		break;
	case API_PERSIST_FLUSH:
		log_info("http: persistence table flushed (%zu entries)",
		    persist_count(env->persist));
		persist_flush(env->persist);
		reply_empty(rp, 204);
		break;
	case API_PERSIST_FORGET:
		persist_forget_one(env, r, rp);
		break;
	case API_STATUS:
		reply_json(rp, 200, status_json(env));
		break;
	case API_CONFIG_GET:
		reply_json(rp, 200, config_json(env));
		break;
	case API_CONFIG_PATCH:
		config_patch(env, rq, rp);
		break;
	case API_METRICS:
		free(rp->body);
		if ((rp->body = api_metrics(env, &rp->len)) == NULL) {
			api_reply_error(rp, 500, "out of memory");
			break;
		}
		rp->status = 200;
		rp->content_type = API_METRICS_TYPE;
		break;
	default:
		api_reply_error(rp, 500, "unhandled route");
		break;
	}
}

/* --- SSE snapshot -------------------------------------------------------- */

void
api_stamp(const struct api_env *env, struct api_stamp *s)
{
	const struct proxy_stats *ps = proxy_stats(env->proxy);

	memset(s, 0, sizeof(*s));
	s->v[0] = pool_version(env->pool);
	s->v[1] = persist_version(env->persist);
	s->v[2] = ps->accepted;
	s->v[3] = ps->connected;
	s->v[4] = ps->unavailable;
	s->v[5] = ps->connect_failures;
	s->v[6] = ps->accept_errors;
	s->v[7] = proxy_active(env->proxy);
	s->v[8] = proxy_queued(env->proxy);
	s->v[9] = env->config_gen;
}

bool
api_stamp_equal(const struct api_stamp *a, const struct api_stamp *b)
{
	return memcmp(a->v, b->v, sizeof(a->v)) == 0;
}

char *
api_snapshot(struct api_env *env, size_t *len)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	jset(o, "status", status_json(env));
	jset(o, "config", config_json(env));
	jset(o, "targets", targets_json(env));
	jset(o, "persistence", persistence_json(env, API_SNAPSHOT_PERSIST));
	return json_text(o, len);
}

/* --- /metrics ------------------------------------------------------------ */

struct sbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	bool	 oom;
};

static void
sb_printf(struct sbuf *b, const char *fmt, ...) LOG_PRINTF(2, 3);

static void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap ? b->cap * 2 : 4096;
		while (ncap - b->len <= (size_t)n)
			ncap *= 2;
		char *np = realloc(b->p, ncap);
		if (np == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

static void
sb_head(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sb_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* {id="1",host="10.0.0.5",port="80"}, and state="up" if state is given. */
static void
sb_target_labels(struct sbuf *b, const struct target *t, const char *state)
{
	char host[2 * TARGET_HOST_MAX + 1];

	if (api_prom_escape(t->host, host, sizeof(host)) == -1)
		host[0] = '\0';
	sb_printf(b, "{id=\"%u\",host=\"%s\",port=\"%u\"", (unsigned)t->id, host,
	    (unsigned)t->port);
	if (state != NULL)
		sb_printf(b, ",state=\"%s\"", state);
	sb_printf(b, "}");
}

enum tmetric {
	TM_WEIGHT,
	TM_ACTIVE,
	TM_TOTAL,
	TM_FAILURES,
	TM_BYTES_IN,
	TM_BYTES_OUT,
	TM_ACK_AGE,
};

static void
sb_per_target(struct sbuf *b, const struct api_env *env, const char *name,
    const char *type, const char *help, enum tmetric m)
{
	const struct target *t;

	sb_head(b, name, type, help);
	TAILQ_FOREACH(t, pool_targets(env->pool), entry) {
		uint64_t v = 0;

		switch (m) {
		case TM_WEIGHT:
			v = t->weight;
			break;
		case TM_ACTIVE:
			v = t->active;
			break;
		case TM_TOTAL:
			v = t->total;
			break;
		case TM_FAILURES:
			v = t->failures;
			break;
		case TM_BYTES_IN:
			v = t->bytes_in;
			break;
		case TM_BYTES_OUT:
			v = t->bytes_out;
			break;
		case TM_ACK_AGE:
			if (t->source == TARGET_SRC_STATIC)
				continue;
			sb_printf(b, "%s", name);
			sb_target_labels(b, t, NULL);
			sb_printf(b, " %.3f\n", (double)ms_since(env, t->last_ack) / 1000.0);
			continue;
		}
		sb_printf(b, "%s", name);
		sb_target_labels(b, t, NULL);
		sb_printf(b, " %" PRIu64 "\n", v);
	}
}

char *
api_metrics(struct api_env *env, size_t *len)
{
	const struct proxy_stats *ps = proxy_stats(env->proxy);
	struct sbuf b = { 0 };
	const struct target *t;
	size_t counts[5];

	sb_head(&b, "harmony_build_info", "gauge", "Version of harmonyd (always 1).");
	sb_printf(&b, "harmony_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	sb_head(&b, "harmony_uptime_seconds", "gauge", "Seconds since harmonyd started.");
	sb_printf(&b, "harmony_uptime_seconds %.3f\n",
	    (double)ms_since(env, env->started_ms) / 1000.0);

	sb_head(&b, "harmony_targets", "gauge", "Listed targets by state.");
	count_states(env, counts);
	for (size_t i = 0; i < 5; i++)
		sb_printf(&b, "harmony_targets{state=\"%s\"} %zu\n",
		    target_state_name(all_states[i]), counts[all_states[i]]);
	sb_head(&b, "harmony_target_state", "gauge",
	    "The state of each target (1 for its current state).");
	TAILQ_FOREACH(t, pool_targets(env->pool), entry) {
		sb_printf(&b, "harmony_target_state");
		sb_target_labels(&b, t, target_state_name(t->state));
		sb_printf(&b, " 1\n");
	}
	sb_per_target(&b, env, "harmony_target_weight", "gauge",
	    "Balancing weight of each target.", TM_WEIGHT);
	sb_per_target(&b, env, "harmony_target_active_sessions", "gauge",
	    "Sessions using each target now.", TM_ACTIVE);
	sb_per_target(&b, env, "harmony_target_sessions_total", "counter",
	    "Sessions each target has been given.", TM_TOTAL);
	sb_per_target(&b, env, "harmony_target_connect_failures_total", "counter",
	    "Failed connects to each target.", TM_FAILURES);
	sb_per_target(&b, env, "harmony_target_received_bytes_total", "counter",
	    "Bytes received from each target (finished sessions).", TM_BYTES_IN);
	sb_per_target(&b, env, "harmony_target_sent_bytes_total", "counter",
	    "Bytes sent to each target (finished sessions).", TM_BYTES_OUT);
	sb_per_target(&b, env, "harmony_target_heartbeat_age_seconds", "gauge",
	    "Seconds since each registered target last acked.", TM_ACK_AGE);

	sb_head(&b, "harmony_sessions_active", "gauge",
	    "Sessions connecting to or relaying with a target.");
	sb_printf(&b, "harmony_sessions_active %zu\n", proxy_active(env->proxy));
	sb_head(&b, "harmony_queue_length", "gauge", "Clients waiting for a slot.");
	sb_printf(&b, "harmony_queue_length %zu\n", proxy_queued(env->proxy));
	sb_head(&b, "harmony_concurrency_limit", "gauge",
	    "Sessions allowed at once (-1 unlimited, 0 paused).");
	sb_printf(&b, "harmony_concurrency_limit %lld\n", (long long)env->cfg->concurrency);
	sb_head(&b, "harmony_connections_accepted_total", "counter",
	    "Client connections accepted.");
	sb_printf(&b, "harmony_connections_accepted_total %" PRIu64 "\n", ps->accepted);
	sb_head(&b, "harmony_sessions_connected_total", "counter",
	    "Sessions that reached a target.");
	sb_printf(&b, "harmony_sessions_connected_total %" PRIu64 "\n", ps->connected);
	sb_head(&b, "harmony_unavailable_total", "counter",
	    "Clients answered with the unavailable text.");
	sb_printf(&b, "harmony_unavailable_total %" PRIu64 "\n", ps->unavailable);
	sb_head(&b, "harmony_connect_failures_total", "counter",
	    "Failed connects to targets, before requeue.");
	sb_printf(&b, "harmony_connect_failures_total %" PRIu64 "\n", ps->connect_failures);
	sb_head(&b, "harmony_accept_errors_total", "counter",
	    "Failed accepts (out of descriptors and the like).");
	sb_printf(&b, "harmony_accept_errors_total %" PRIu64 "\n", ps->accept_errors);
	sb_head(&b, "harmony_relayed_bytes_total", "counter",
	    "Bytes relayed by finished sessions (up: client to target).");
	sb_printf(&b, "harmony_relayed_bytes_total{direction=\"up\"} %" PRIu64 "\n",
	    ps->bytes_up);
	sb_printf(&b, "harmony_relayed_bytes_total{direction=\"down\"} %" PRIu64 "\n",
	    ps->bytes_down);
	sb_head(&b, "harmony_persistence_entries", "gauge",
	    "Clients remembered by the persistence table.");
	sb_printf(&b, "harmony_persistence_entries %zu\n", persist_count(env->persist));
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}
