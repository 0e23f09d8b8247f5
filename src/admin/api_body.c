/*
 * api_body: the admin API's request bodies (JSON, and their Content-Type),
 * parsed and validated without I/O.
 *
 * JSON bodies are parsed strictly (json-c STRICT, UTF-8 validated, depth
 * capped) and every field is checked for its type before its value: json-c
 * converts "12", 1.5 and true to integers on request and saturates huge
 * numbers without telling, so only the type says what the caller sent.
 * A key given twice is refused (jsondup.h), as json-c would keep the last.
 *
 * api_parse_host and api_utf8_text (api_int.h) are shared with api.c and
 * api_json.c, which check a peer's address and outgoing text the same way.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "admin/api.h"
#include "admin/api_int.h"
#include "common/addr.h"
#include "common/duration.h"
#include "common/log.h"
#include "common/service.h"
#include "config.h"
#include "core/jsondup.h"
#include "registry/balance.h"
#include "registry/pool.h"

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
	char *buf, key[65];

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
	/* json-c keeps the last of a key given twice: which one was meant? */
	switch (jsondup_find(body, len, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8,
	    key, sizeof(key), &end)) {
	case 0:
		break;
	case 1:
		snprintf(err, errlen, "bad JSON: duplicate key '%s'", key);
		json_object_put(o);
		return 400;
	default:
		snprintf(err, errlen, "out of memory");
		json_object_put(o);
		return 500;
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

/*
 * Well-formed UTF-8 only (RFC 3629, log_utf8_seq), no NUL. json-c's own
 * check lets surrogates through, and what we accept we later hand back in
 * JSON.
 */
bool
api_utf8_text(const char *s, size_t len)
{
	size_t n;

	for (size_t i = 0; i < len; i += n)
		if (s[i] == '\0' || (n = log_utf8_seq(s + i, len - i)) == 0)
			return false;
	return true;
}

/* A string with no NUL in it; empty allowed only if allow_empty. */
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
	if (!api_utf8_text(s, len)) {
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
		if ((st = field_int(v, "ttl", LIMIT_TTL_MIN_MS / 1000,
		    LIMIT_TTL_MAX_MS / 1000, &x, err, errlen)) != 0)
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
	if (duration_parse(s, DURATION_MAX_MS, &x, reason, sizeof(reason)) == -1) {
		snprintf(err, errlen, "'ttl': %s", reason);
		return 422;
	}
	if (x < LIMIT_TTL_MIN_MS || x > LIMIT_TTL_MAX_MS) {
		snprintf(err, errlen, "'ttl' must be between 1s and 24h");
		return 422;
	}
	*ms = x;
	return 0;
}

/* A numeric address that a target can have: not unspecified, not multicast. */
int
api_parse_host(const char *s, struct net_addr *a, char *err, size_t errlen)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)(void *)&a->ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(void *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (addr_numeric(s, 0, &a->ss, &a->len) == -1) {
		snprintf(err, errlen, "'host' must be a numeric IPv4 or IPv6 address");
		return 422;
	}
	if (a->ss.ss_family == AF_INET ? sin->sin_addr.s_addr == htonl(INADDR_ANY) ||
	    IN_MULTICAST(ntohl(sin->sin_addr.s_addr)) ||
	    sin->sin_addr.s_addr == htonl(INADDR_BROADCAST) :
	    IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ||
	    IN6_IS_ADDR_MULTICAST(&sin6->sin6_addr)) {
		snprintf(err, errlen, "'host' %s cannot be a target", s);
		return 422;
	}
	return 0;
}

int
api_parse_register(const char *body, size_t len, struct api_register *reg,
    char *err, size_t errlen)
{
	struct json_object *o;
	const char *s;
	bool has_port = false;
	size_t slen;
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
			if ((st = field_int(val, key, LIMIT_WEIGHT_MIN,
			    LIMIT_WEIGHT_MAX, &x, err, errlen)) != 0)
				goto out;
			reg->weight = (uint32_t)x;
			reg->has_weight = true;
		} else if (strcmp(key, "host") == 0) {
			if ((st = field_string(val, key, false, &s, NULL, err,
			    errlen)) != 0 ||
			    (st = api_parse_host(s, &reg->host, err, errlen)) != 0)
				goto out;
			reg->has_host = true;
		} else if (strcmp(key, "ttl") == 0) {
			if ((st = api_parse_ttl(val, &reg->ttl_ms, err, errlen)) != 0)
				goto out;
			reg->has_ttl = true;
		} else if (strcmp(key, "service") == 0) {
			if ((st = field_string(val, key, false, &s, &slen, err,
			    errlen)) != 0)
				goto out;
			if (!service_name_valid(s, slen)) {
				snprintf(err, errlen, "'service' must be a service name"
				    " ([a-z0-9][a-z0-9_-]{0,62})");
				st = 422;
				goto out;
			}
			memcpy(reg->service, s, slen + 1);
			reg->has_service = true;
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
			if ((st = field_int(val, key, LIMIT_WEIGHT_MIN,
			    LIMIT_WEIGHT_MAX, &x, err, errlen)) != 0)
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
			if ((st = field_int(val, key, CFG_CONCURRENCY_MIN,
			    CFG_CONCURRENCY_MAX, &cp->concurrency, err, errlen)) != 0)
				goto out;
			cp->has_concurrency = true;
		} else if (strcmp(key, "requeue") == 0) {
			if ((st = field_int(val, key, 0, CFG_REQUEUE_MAX,
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
