/*
 * api: see api.h. This file routes, authorises, runs the handlers and
 * builds their replies and the SSE snapshot; request bodies are parsed in
 * api_body.c, the JSON views built in api_json.c and /metrics written in
 * api_metrics.c, joined by the private header api_int.h.
 *
 * Order of checks for every request, so that a caller learns nothing it
 * may not know: route (404, 405), the route's service and target (404:
 * names and ids are public anyway), auth (401, 403), Content-Type (415),
 * body (400, 422), then the handler (409 for a conflict with a static
 * target or a deregistered one).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "admin/api.h"
#include "admin/api_int.h"
#include "common/addr.h"
#include "common/log.h"
#include "common/secret.h"
#include "common/service.h"
#include "config.h"
#include "core/net.h"
#include "proxy/proxy.h"
#include "registry/balance.h"
#include "registry/events.h"
#include "registry/persist.h"
#include "registry/pool.h"
#include "registry/selfaddr.h"
#include "settings.h"

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
	    r->handler == API_TARGET_PATCH || r->handler == API_CONFIG_PATCH ||
	    r->handler == API_SERVICE_PATCH;
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

/*
 * The routes a service scopes, "/targets" and "/persistence[/{client}]",
 * under /api/v1 (the default service) or /api/v1/services/{name}; false
 * if sub is none of them.
 */
static bool
route_scoped(struct api_route *r, enum method m, const char *sub)
{
	static const char persistence[] = "/persistence";
	const char *rest;

	if (strcmp(sub, "/targets") == 0) {
		route_pick(r, m, API_TARGETS_LIST, API_TARGETS_CREATE, 0, 0,
		    "GET, HEAD, POST");
		return true;
	}
	if (strcmp(sub, persistence) == 0) {
		route_pick(r, m, API_PERSIST_LIST, 0, 0, API_PERSIST_FLUSH,
		    "GET, HEAD, DELETE");
		return true;
	}
	if (strncmp(sub, persistence, sizeof(persistence) - 1) == 0 &&
	    sub[sizeof(persistence) - 1] == '/') {
		rest = sub + sizeof(persistence);
		if (*rest == '\0' || strchr(rest, '/') != NULL ||
		    strlen(rest) >= sizeof(r->client))
			return false;
		strcpy(r->client, rest);
		route_pick(r, m, 0, 0, 0, API_PERSIST_FORGET, "DELETE");
		return true;
	}
	return false;
}

/* /api/v1/services/{name}[/...]: rest is what follows "services/". */
static void
route_service(struct api_route *r, enum method m, const char *rest)
{
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);

	if (n == 0)
		return;
	r->has_service = true;
	r->service_valid = service_name_valid(rest, n);
	if (n >= sizeof(r->service))
		n = sizeof(r->service) - 1;
	memcpy(r->service, rest, n);
	r->service[n] = '\0';
	if (slash == NULL)
		route_pick(r, m, API_SERVICE_GET, 0, API_SERVICE_PATCH, 0,
		    "GET, HEAD, PATCH");
	else if (strcmp(slash, "/events/history") == 0)
		route_pick(r, m, API_EVENTS_HISTORY, 0, 0, 0, "GET, HEAD");
	else if (!route_scoped(r, m, slash))
		memset(r, 0, sizeof(*r));	/* API_NOT_FOUND */
}

void
api_route(const char *method, const char *path, struct api_route *r)
{
	static const char v1[] = "/api/v1";
	static const char targets[] = "/api/v1/targets";
	static const char services[] = "/api/v1/services";
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
		else if (strcmp(slash, "/events/history") == 0) {
			/* A removed target's history is still there: no lookup. */
			route_pick(r, m, API_EVENTS_HISTORY, 0, 0, 0, "GET, HEAD");
			r->one_target = false;
		} else
			r->one_target = false;
		return;
	}
	if (strcmp(path, services) == 0) {
		route_pick(r, m, API_SERVICES_LIST, 0, 0, 0, "GET, HEAD");
		return;
	}
	if (strncmp(path, services, sizeof(services) - 1) == 0 &&
	    path[sizeof(services) - 1] == '/') {
		route_service(r, m, path + sizeof(services));
		return;
	}
	if (strncmp(path, v1, sizeof(v1) - 1) == 0 &&
	    route_scoped(r, m, path + sizeof(v1) - 1))
		return;
	if (strcmp(path, "/api/v1/status") == 0)
		route_pick(r, m, API_STATUS, 0, 0, 0, "GET, HEAD");
	else if (strcmp(path, "/api/v1/config") == 0)
		route_pick(r, m, API_CONFIG_GET, 0, API_CONFIG_PATCH, 0,
		    "GET, HEAD, PATCH");
	else if (strcmp(path, "/api/v1/events") == 0)
		route_pick(r, m, API_EVENTS, 0, 0, 0, "GET, HEAD");
	else if (strcmp(path, "/api/v1/events/history") == 0)
		route_pick(r, m, API_EVENTS_HISTORY, 0, 0, 0, "GET, HEAD");
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
		[API_SERVICES_LIST] = "services-list",
		[API_SERVICE_GET] = "service-get",
		[API_SERVICE_PATCH] = "service-patch",
		[API_EVENTS_HISTORY] = "events-history",
	};

	if ((size_t)h >= sizeof(names) / sizeof(names[0]) || names[h] == NULL)
		return "unknown";
	return names[h];
}

/* --- auth ---------------------------------------------------------------- */

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
		a->token_ok = secret_equal(tok, len, pol->token);
	if (tok != NULL && target_key != NULL)
		a->key_ok = secret_equal(tok, len, target_key);
	if (peer != NULL) {
		a->peer_ok = net_is_loopback(peer);
		for (size_t i = 0; i < pol->nallow && !a->peer_ok; i++)
			a->peer_ok = net_cidr_match(&pol->allow[i].net, peer);
	}
}

/* Same address, whatever the port; an IPv4-mapped address is IPv4. */
static bool
same_host_sa(const struct sockaddr *a, const struct sockaddr *b)
{
	char ta[NET_HOSTSTRLEN], tb[NET_HOSTSTRLEN];

	net_host_text(a, ta, sizeof(ta));
	net_host_text(b, tb, sizeof(tb));
	return strcmp(ta, tb) == 0;
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

static bool
name_equal(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (blen > 0 && b[blen - 1] == '.')
		blen--;
	return alen == blen && strncasecmp(a, b, alen) == 0;
}

/* addr (a literal of the Host header) is one of ours. */
static bool
host_addr_ok(struct net_addr *addr, const struct api_hosts *hs)
{
	struct sockaddr *sa = (struct sockaddr *)&addr->ss;
	struct net_addr other;
	char err[API_ERR_MAX];

	if (net_is_loopback(sa))
		return true;
	for (size_t i = 0; i < hs->nnames; i++)
		if (api_parse_host(hs->names[i], &other, err, sizeof(err)) == 0 &&
		    same_host_sa(sa, (const struct sockaddr *)&other.ss))
			return true;
	/* Would a connection to it, on our port, reach the admin listener? */
	net_addr_set_port(sa, hs->port);
	return hs->self != NULL && hs->port != 0 &&
	    selfaddr_match(hs->self, sa, NULL, 0) != NULL;
}

bool
api_host_ok(const char *host, const struct api_hosts *hs)
{
	static const char lo[] = "localhost";
	char name[ADDR_NAME_MAX], err[API_ERR_MAX];
	struct net_addr addr;
	const char *port;
	uint16_t portnum;
	size_t len;

	if (host == NULL)
		return true;
	/*
	 * uri-host [ ":" port ], an IPv6 address only in brackets (common/addr.h);
	 * RFC 3986's port is *DIGIT, so "host:" is a host with no port.
	 */
	if (addr_split(host, name, sizeof(name), &port, err, sizeof(err)) == -1 ||
	    (port != NULL && *port != '\0' && addr_parse_port(port, &portnum) == -1))
		return false;
	if (*host == '[')
		return api_parse_host(name, &addr, err, sizeof(err)) == 0 &&
		    host_addr_ok(&addr, hs);
	len = strlen(name);
	if (name[len - 1] == '.')
		name[--len] = '\0';
	if (len == 0)
		return false;
	if (strchr(name, '.') != NULL && strspn(name, "0123456789.") == len)
		return api_parse_host(name, &addr, err, sizeof(err)) == 0 &&
		    host_addr_ok(&addr, hs);
	/* RFC 6761: localhost and every name below it are loopback. */
	if (name_equal(name, len, lo) || (len > sizeof(lo) &&
	    name[len - sizeof(lo)] == '.' &&
	    strncasecmp(name + len - (sizeof(lo) - 1), lo, sizeof(lo) - 1) == 0))
		return true;
	if (hs->listen_name != NULL && name_equal(name, len, hs->listen_name))
		return true;
	for (size_t i = 0; i < hs->nnames; i++)
		if (name_equal(name, len, hs->names[i]))
			return true;
	return false;
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

/* --- static files -------------------------------------------------------- */

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
	if ((rp->body = api_json_text(o, &rp->len)) == NULL) {
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
		api_jset(o, "error", json_object_new_string(reason));
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
	return api_parse_host(text, a, err, sizeof(err)) == 0;
}

static bool
same_host(const struct net_addr *a, const struct net_addr *b)
{
	return same_host_sa((const struct sockaddr *)&a->ss,
	    (const struct sockaddr *)&b->ss);
}

/*
 * POST /api/v1/targets and /api/v1/services/{name}/targets; svc is the
 * path's service (the default one for the first), which a "service" in
 * the body may name again but not contradict.
 */
static void
targets_create(struct api_env *env, const struct api_request *rq,
    const struct api_service *svc, const struct api_policy *pol,
    const struct api_auth *auth, struct api_reply *rp)
{
	struct api_register reg;
	struct net_addr peer, addr;
	struct target *t, *old;
	char err[API_ERR_MAX], from[NET_ADDRSTRLEN], listener[NET_ADDRSTRLEN];
	const char *ours;
	const char *tok;
	size_t toklen = 0;
	bool created, own, show_key;
	int st;

	if ((st = api_parse_register(rq->body, rq->body_len, &reg, err, sizeof(err))) != 0) {
		api_reply_error(rp, st, err);
		return;
	}
	if (reg.has_service && rq->route->has_service &&
	    strcmp(reg.service, svc->name) != 0) {
		reply_errorf(rp, 422, "'service' is '%s' but the path names '%s'",
		    reg.service, svc->name);
		return;
	}
	if (reg.has_service && (svc = api_service_find(env, reg.service,
	    strlen(reg.service))) == NULL) {
		reply_errorf(rp, 404, "no service '%s'", reg.service);
		return;
	}
	own = peer_host(rq->peer, &peer);
	if (reg.has_host) {
		/* Normalise "::ffff:10.0.0.5" to "10.0.0.5" before comparing. */
		net_host_text((const struct sockaddr *)&reg.host.ss, from, sizeof(from));
		(void)api_parse_host(from, &addr, err, sizeof(err));
		own = own && same_host(&addr, &peer);
	} else if (own) {
		addr = peer;
	} else {
		api_reply_error(rp, 422, "'host' is required");
		return;
	}
	/* docs/API.md "Who may write": someone else's address needs the token. */
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
	if ((ours = selfaddr_match(pool_self(svc->pool), (const struct sockaddr *)&addr.ss,
	    listener, sizeof(listener))) != NULL) {
		net_addr_text((const struct sockaddr *)&addr.ss, from, sizeof(from));
		log_warnx("http: target %s refused: harmonyd's own %s listener (%s)",
		    from, ours, listener);
		reply_errorf(rp, 409, "%s is harmonyd's own %s listener (%s): a target"
		    " there would send every client back into harmonyd", from, ours,
		    listener);
		return;
	}
	old = pool_find_addr(svc->pool, (const struct sockaddr *)&addr.ss);
	if (old != NULL && old->source == TARGET_SRC_STATIC) {
		reply_errorf(rp, 409, "%s is a static target", old->name);
		return;
	}
	t = pool_register(svc->pool, TARGET_SRC_HTTP, (const struct sockaddr *)&addr.ss,
	    addr.len, reg.has_weight ? reg.weight : LIMIT_WEIGHT_DEFAULT,
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
	    (tok != NULL && secret_equal(tok, toklen, t->key));
	if (rq->peer != NULL)
		net_host_text(rq->peer, from, sizeof(from));
	else
		snprintf(from, sizeof(from), "-");
	log_info("http: target %u %s %s from %s, weight %u, service %s",
	    (unsigned)t->id, t->name, created ? "registered" : "registered again",
	    from, (unsigned)t->weight, svc->name);
	snprintf(rp->location, sizeof(rp->location), "/api/v1/targets/%u",
	    (unsigned)t->id);
	reply_json(rp, created ? 201 : 200, api_target_json(env, t, show_key));
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
	reply_json(rp, 200, api_target_json(env, t, false));
}

/* ?limit=1..max, else def; false (a 400 in rp) if it is no such number. */
static bool
query_limit(const struct api_request *rq, size_t def, uint32_t max, size_t *limit,
    struct api_reply *rp)
{
	uint32_t v;

	*limit = def;
	if (rq->limit == NULL)
		return true;
	if ((v = parse_id(rq->limit, strlen(rq->limit))) == 0 || v > max) {
		reply_errorf(rp, 400, "'limit' must be 1..%u", (unsigned)max);
		return false;
	}
	*limit = v;
	return true;
}

/* Newest first, of service (NULL: any) and the route's target (docs/API.md). */
static void
events_history(struct api_env *env, const struct api_request *rq,
    const char *service, struct api_reply *rp)
{
	size_t limit;

	if (query_limit(rq, API_EVENTS_LIMIT, EVENTS_HISTORY_MAX, &limit, rp))
		reply_json(rp, 200, api_events_json(env, service, rq->route->target_id,
		    limit));
}

struct events *
api_events(const struct api_env *env)
{
	return pool_events(api_service_default(env)->pool);
}

static void
persist_list(struct api_env *env, const struct api_request *rq,
    const struct api_service *svc, struct api_reply *rp)
{
	size_t limit;

	if (query_limit(rq, API_PERSIST_LIMIT, API_PERSIST_LIMIT_MAX, &limit, rp))
		reply_json(rp, 200, api_persistence_json(env, svc, limit));
}

static void
persist_forget_one(const struct api_service *svc, const struct api_route *r,
    struct api_reply *rp)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, r->client, buf) != 1 &&
	    inet_pton(AF_INET6, r->client, buf) != 1) {
		reply_errorf(rp, 400, "'%s' is not an IP address", r->client);
		return;
	}
	if (!persist_forget_text(svc->persist, r->client)) {
		reply_errorf(rp, 404, "no persistence entry for %s", r->client);
		return;
	}
	log_info("http: persistence entry of %s forgotten (service %s)", r->client,
	    svc->name);
	reply_empty(rp, 204);
}

/*
 * PATCH /api/v1/config and /api/v1/services/{name}: settings.c checks the
 * change whole and applies it. The answer is the config, or with svc (the
 * service route) that service's view.
 */
static void
config_patch(struct api_env *env, const struct api_request *rq,
    const struct api_service *svc, bool service_route, struct api_reply *rp)
{
	const struct config *cfg = svc->cfg;
	struct settings_parts parts = { .balancer = svc->balancer, .proxy = svc->proxy };
	struct api_config_patch cp;
	struct settings_change c;
	char err[API_ERR_MAX];
	int st;

	if ((st = api_parse_config_patch(rq->body, rq->body_len, &cp, err,
	    sizeof(err))) != 0) {
		api_reply_error(rp, st, err);
		return;
	}
	c = (struct settings_change){
		.set = (cp.has_concurrency ? SETTINGS_CONCURRENCY : 0) |
		    (cp.has_requeue ? SETTINGS_REQUEUE : 0) |
		    (cp.has_balance ? SETTINGS_BALANCE : 0) |
		    (cp.has_persistent ? SETTINGS_PERSISTENT : 0) |
		    (cp.has_unavailable ? SETTINGS_UNAVAILABLE : 0),
		.concurrency = cp.concurrency,
		.requeue = cp.requeue,
		.balance = cp.balance,
		.persistent = cp.persistent,
		.unavailable = cp.unavailable,
		.unavailable_len = cp.unavailable_len,
	};
	/* The body's checks are settings_check's: only memory can fail here. */
	st = settings_set(svc->cfg, &parts, &c, err, sizeof(err));
	api_config_patch_free(&cp);
	if (st == -1) {
		api_reply_error(rp, 500, err);
		return;
	}
	env->config_gen++;
	log_info("http: runtime config of service %s: concurrency %lld, requeue %lld,"
	    " balance %s, persistence %s, unavailable text %zu bytes", svc->name,
	    (long long)cfg->concurrency, (long long)cfg->requeue,
	    balance_algo_name((enum balance_algo)cfg->balance),
	    cfg->persistent ? "on" : "off", cfg->unavailable_len);
	reply_json(rp, 200, service_route ? api_service_json(env, svc, true) :
	    api_config_json(env, svc));
}

/*
 * A peer chose the name: it is shown escaped (common/log.h), then JSON's,
 * cut by log_escape (which never cuts a character) to leave the rest of
 * the reason room.
 */
static void
service_not_found(struct api_reply *rp, const struct api_route *r)
{
	char shown[API_ERR_MAX - 64];

	(void)log_escape(shown, sizeof(shown), r->service, strlen(r->service));
	if (r->service_valid)
		reply_errorf(rp, 404, "no service '%s'", shown);
	else
		reply_errorf(rp, 404, "no service '%s': a service name is"
		    " [a-z0-9][a-z0-9_-]{0,62}", shown);
}

/* --- services ------------------------------------------------------------ */

const struct api_service *
api_services(const struct api_env *env, size_t *n)
{
	*n = env->nservices;
	return env->services;
}

const struct api_service *
api_service_find(const struct api_env *env, const char *name, size_t len)
{
	const struct api_service *all;
	size_t n;

	if (!service_name_valid(name, len))
		return NULL;
	all = api_services(env, &n);
	for (size_t i = 0; i < n; i++)
		if (strlen(all[i].name) == len && memcmp(all[i].name, name, len) == 0)
			return &all[i];
	if (len == sizeof(SERVICE_DEFAULT) - 1 && memcmp(name, SERVICE_DEFAULT, len) == 0)
		return api_service_default(env);
	return NULL;
}

const struct api_service *
api_service_default(const struct api_env *env)
{
	return &env->services[env->default_index];
}

const struct api_service *
api_target_service(const struct api_env *env, const struct target *t)
{
	size_t n;
	const struct api_service *all = api_services(env, &n);

	for (size_t i = 0; i < n; i++)
		if (all[i].pool == t->pool)
			return &all[i];
	return api_service_default(env);
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
	const struct api_service *svc;
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
	if (r->has_service) {
		svc = r->service_valid ? api_service_find(env, r->service,
		    strlen(r->service)) : NULL;
		if (svc == NULL) {
			service_not_found(rp, r);
			return;
		}
	} else
		svc = api_service_default(env);
	if (r->one_target && (t = pools_find_id(svc->pool, r->target_id)) == NULL) {
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
		/* A token sent but wrong is told apart: the operator mistyped. */
		api_reply_error(rp, st, st == 403 ? "writes are allowed from"
		    " loopback and --allow networks only" :
		    api_bearer(rq->authorization, &(size_t){ 0 }) != NULL ?
		    "the token given is wrong: a valid token is required"
		    " (Authorization: Bearer TOKEN)" : "a valid token is required"
		    " (Authorization: Bearer TOKEN)");
		rp->challenge = st == 401;
		return;
	}
	if (r->json_body && !api_content_type_json(rq->content_type)) {
		api_reply_error(rp, 415, "Content-Type must be application/json");
		return;
	}
	/*
	 * Who changes targets here (registry/pool.h): registrations and
	 * heartbeats are the target's own (http), as is a write shown only
	 * its key (an agent deregistering); any other write is an operator's.
	 */
	if (r->write)
		pool_actor_set(svc->pool, r->handler == API_TARGETS_CREATE ||
		    r->handler == API_TARGET_ACK || (auth.key_ok &&
		    !auth.token_ok) ? POOL_ACTOR_HTTP :
		    POOL_ACTOR_OPERATOR);

	switch (r->handler) {
	case API_TARGETS_LIST:
		if ((o = json_object_new_object()) != NULL)
			api_jset(o, "targets", api_targets_json(env, svc));
		reply_json(rp, 200, o);
		break;
	case API_TARGETS_CREATE:
		targets_create(env, rq, svc, &pol, &auth, rp);
		break;
	case API_TARGET_GET:
		reply_json(rp, 200, api_target_json(env, t, false));
		break;
	case API_TARGET_PATCH:
		target_patch(env, rq, t, rp);
		break;
	case API_TARGET_DELETE:
		/* NOLINTNEXTLINE(clang-analyzer-core.NullDereference): one_target: t is found */
		log_info("http: target %u %s deregistered", (unsigned)t->id, t->name);
		pool_delete(t);			/* t may be freed */
		reply_empty(rp, 204);
		break;
	case API_TARGET_ACK:
		pool_ack(t);
		reply_empty(rp, 204);
		break;
	case API_PERSIST_LIST:
		persist_list(env, rq, svc, rp);
		break;
	case API_PERSIST_FLUSH:
		log_info("http: persistence table of service %s flushed (%zu entries)",
		    svc->name, persist_count(svc->persist));
		persist_flush(svc->persist);
		reply_empty(rp, 204);
		break;
	case API_PERSIST_FORGET:
		persist_forget_one(svc, r, rp);
		break;
	case API_STATUS:
		reply_json(rp, 200, api_status_json(env));
		break;
	case API_CONFIG_GET:
		reply_json(rp, 200, api_config_json(env, svc));
		break;
	case API_CONFIG_PATCH:
		config_patch(env, rq, svc, false, rp);
		break;
	case API_SERVICES_LIST:
		reply_json(rp, 200, api_services_json(env));
		break;
	case API_SERVICE_GET:
		reply_json(rp, 200, api_service_json(env, svc, true));
		break;
	case API_SERVICE_PATCH:
		config_patch(env, rq, svc, true, rp);
		break;
	case API_EVENTS_HISTORY:
		events_history(env, rq, r->has_service ? svc->name : NULL, rp);
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
	const struct api_service *all;
	size_t n;

	memset(s, 0, sizeof(*s));
	all = api_services(env, &n);
	/*
	 * Versions and counters only grow, so their sums change whenever one
	 * does; active and queued move both ways, so they are folded in by
	 * position to tell "one up here, one down there" apart.
	 */
	for (size_t i = 0; i < n; i++) {
		const struct proxy_stats *ps = proxy_stats(all[i].proxy);

		s->v[0] += pool_version(all[i].pool);
		s->v[1] += persist_version(all[i].persist);
		s->v[2] += ps->accepted;
		s->v[3] += ps->connected;
		s->v[4] += ps->unavailable;
		s->v[5] += ps->connect_failures;
		s->v[6] += ps->accept_errors;
		s->v[7] = s->v[7] * 31 + proxy_active(all[i].proxy);
		s->v[8] = s->v[8] * 31 + proxy_queued(all[i].proxy);
	}
	s->v[9] = env->config_gen;
}

bool
api_stamp_equal(const struct api_stamp *a, const struct api_stamp *b)
{
	return memcmp(a->v, b->v, sizeof(a->v)) == 0;
}

/* The snapshot's targets, within API_SNAPSHOT_TARGETS (api.h). */
static void
snapshot_targets(const struct api_env *env, struct json_object *o)
{
	const struct api_service *all, *def = api_service_default(env);
	size_t n, total = 0;

	all = api_services(env, &n);
	for (size_t i = 0; i < n; i++)
		total += pool_count(all[i].pool);
	if (total <= API_SNAPSHOT_TARGETS) {
		api_jset(o, "targets", api_targets_json(env, NULL));
		api_jset(o, "targets_complete", json_object_new_boolean(true));
		return;
	}
	api_jset(o, "targets", pool_count(def->pool) <= API_SNAPSHOT_TARGETS ?
	    api_targets_json(env, def) : json_object_new_array());
	api_jset(o, "targets_complete", json_object_new_boolean(false));
}

char *
api_snapshot(struct api_env *env, size_t *len)
{
	struct json_object *o = json_object_new_object(), *all, *list = NULL;

	if (o == NULL)
		return NULL;
	api_jset(o, "status", api_status_json(env));
	api_jset(o, "config", api_config_json(env, api_service_default(env)));
	/* GET /api/v1/services's list, for the dashboard. */
	if ((all = api_services_json(env)) != NULL &&
	    json_object_object_get_ex(all, "services", &list))
		(void)json_object_get(list);
	json_object_put(all);
	api_jset(o, "services", list);
	snapshot_targets(env, o);
	api_jset(o, "persistence", api_persistence_json(env,
	    api_service_default(env), API_SNAPSHOT_PERSIST));
	return api_json_text(o, len);
}
