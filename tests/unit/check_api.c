/*
 * Unit tests for api.c: routing, the auth decision, validation of every
 * JSON body, static paths, and the handlers on real pool, persistence and
 * proxy objects (no listener, no HTTP).
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "admin/api.h"
#include "common/log.h"
#include "common/service.h"
#include "config.h"
#include "core/loop.h"
#include "core/net.h"
#include "proxy/proxy.h"
#include "registry/balance.h"
#include "registry/persist.h"
#include "registry/pool.h"
#include "registry/selfaddr.h"
#include "tests/unit/world.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))
/* A body with its exact length, so that embedded NULs count. */
#define BODY(s)		s, sizeof(s) - 1
#define S(s)		s, strlen(s)

static const struct sockaddr *
sa(struct sockaddr_storage *ss, const char *text, uint16_t port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
	}
	return (const struct sockaddr *)ss;
}

/* --- routing ------------------------------------------------------------- */

static const struct {
	const char		*method;
	const char		*path;
	enum api_handler	 handler;
	uint32_t		 id;
	bool			 write;
	bool			 one_target;
	bool			 json_body;
} routes[] = {
	{ "GET", "/api/v1/targets", API_TARGETS_LIST, 0, false, false, false },
	{ "HEAD", "/api/v1/targets", API_TARGETS_LIST, 0, false, false, false },
	{ "POST", "/api/v1/targets", API_TARGETS_CREATE, 0, true, false, true },
	{ "DELETE", "/api/v1/targets", API_BAD_METHOD, 0, true, false, false },
	{ "GET", "/api/v1/targets/7", API_TARGET_GET, 7, false, true, false },
	{ "PATCH", "/api/v1/targets/7", API_TARGET_PATCH, 7, true, true, true },
	{ "DELETE", "/api/v1/targets/4294967295", API_TARGET_DELETE, 4294967295u, true, true, false },
	{ "POST", "/api/v1/targets/7", API_BAD_METHOD, 7, true, true, false },
	{ "POST", "/api/v1/targets/12/ack", API_TARGET_ACK, 12, true, true, false },
	{ "GET", "/api/v1/targets/12/ack", API_BAD_METHOD, 12, false, true, false },
	{ "GET", "/api/v1/targets/0", API_NOT_FOUND, 0, false, false, false },
	{ "GET", "/api/v1/targets/07", API_NOT_FOUND, 0, false, false, false },
	{ "GET", "/api/v1/targets/4294967296", API_NOT_FOUND, 0, false, false, false },
	{ "GET", "/api/v1/targets/-1", API_NOT_FOUND, 0, false, false, false },
	{ "GET", "/api/v1/targets/1x", API_NOT_FOUND, 0, false, false, false },
	{ "GET", "/api/v1/targets/", API_NOT_FOUND, 0, false, false, false },
	{ "POST", "/api/v1/targets/7/nack", API_NOT_FOUND, 7, false, false, false },
	{ "POST", "/api/v1/targets/7/ack/", API_NOT_FOUND, 7, false, false, false },
	{ "GET", "/api/v1/persistence", API_PERSIST_LIST, 0, false, false, false },
	{ "DELETE", "/api/v1/persistence", API_PERSIST_FLUSH, 0, true, false, false },
	{ "DELETE", "/api/v1/persistence/127.0.0.2", API_PERSIST_FORGET, 0, true, false, false },
	{ "DELETE", "/api/v1/persistence/::1", API_PERSIST_FORGET, 0, true, false, false },
	{ "GET", "/api/v1/persistence/127.0.0.2", API_BAD_METHOD, 0, false, false, false },
	{ "DELETE", "/api/v1/persistence/", API_NOT_FOUND, 0, false, false, false },
	{ "DELETE", "/api/v1/persistence/a/b", API_NOT_FOUND, 0, false, false, false },
	{ "GET", "/api/v1/status", API_STATUS, 0, false, false, false },
	{ "POST", "/api/v1/status", API_BAD_METHOD, 0, true, false, false },
	{ "GET", "/api/v1/config", API_CONFIG_GET, 0, false, false, false },
	{ "PATCH", "/api/v1/config", API_CONFIG_PATCH, 0, true, false, true },
	{ "PUT", "/api/v1/config", API_BAD_METHOD, 0, true, false, false },
	{ "GET", "/api/v1/events", API_EVENTS, 0, false, false, false },
	{ "GET", "/metrics", API_METRICS, 0, false, false, false },
	{ "POST", "/metrics", API_BAD_METHOD, 0, true, false, false },
	{ "GET", "/metrics/", API_STATIC, 0, false, false, false },
	{ "GET", "/", API_STATIC, 0, false, false, false },
	{ "GET", "/app.js", API_STATIC, 0, false, false, false },
	{ "DELETE", "/index.html", API_BAD_METHOD, 0, true, false, false },
	{ "OPTIONS", "/", API_BAD_METHOD, 0, true, false, false },
	{ "GET", "/api", API_NOT_FOUND, 0, false, false, false },
	{ "GET", "/api/", API_NOT_FOUND, 0, false, false, false },
	{ "GET", "/api/v2/targets", API_NOT_FOUND, 0, false, false, false },
	{ "GET", "/api/v1/targetsx", API_NOT_FOUND, 0, false, false, false },
	{ "get", "/api/v1/targets", API_BAD_METHOD, 0, true, false, false },
	/* services: /api/v1/services[/{name}[/targets|/persistence[/{client}]]] */
	{ "GET", "/api/v1/services", API_SERVICES_LIST, 0, false, false, false },
	{ "HEAD", "/api/v1/services", API_SERVICES_LIST, 0, false, false, false },
	{ "POST", "/api/v1/services", API_BAD_METHOD, 0, true, false, false },
	{ "GET", "/api/v1/services/", API_NOT_FOUND, 0, false, false, false },
	{ "GET", "/api/v1/servicesx", API_NOT_FOUND, 0, false, false, false },
	{ "GET", "/api/v1/services/default", API_SERVICE_GET, 0, false, false, false },
	{ "PATCH", "/api/v1/services/default", API_SERVICE_PATCH, 0, true, false, true },
	{ "DELETE", "/api/v1/services/default", API_BAD_METHOD, 0, true, false, false },
	{ "GET", "/api/v1/services/web/targets", API_TARGETS_LIST, 0, false, false, false },
	{ "POST", "/api/v1/services/web/targets", API_TARGETS_CREATE, 0, true, false, true },
	{ "GET", "/api/v1/services/web/persistence", API_PERSIST_LIST, 0, false, false, false },
	{ "DELETE", "/api/v1/services/web/persistence", API_PERSIST_FLUSH, 0, true, false, false },
	{ "DELETE", "/api/v1/services/web/persistence/::1", API_PERSIST_FORGET, 0, true, false, false },
	{ "DELETE", "/api/v1/services/web/persistence/", API_NOT_FOUND, 0, false, false, false },
	{ "GET", "/api/v1/services/web/targets/1", API_NOT_FOUND, 0, false, false, false },
	{ "GET", "/api/v1/services/web/status", API_NOT_FOUND, 0, false, false, false },
	{ "GET", "/api/v1/services/web/", API_NOT_FOUND, 0, false, false, false },
	{ "GET", "/api/v1/services//targets", API_NOT_FOUND, 0, false, false, false },
	/* an invalid name routes: the handler answers 404 naming it */
	{ "GET", "/api/v1/services/Web", API_SERVICE_GET, 0, false, false, false },
};

/* The route keeps the name a path gave, valid or not, cut to fit. */
START_TEST(test_route_service)
{
	char path[300];
	struct api_route r;

	api_route("GET", "/api/v1/targets", &r);
	ck_assert(!r.has_service);
	api_route("GET", "/api/v1/services/web-2_a/targets", &r);
	ck_assert(r.has_service && r.service_valid);
	ck_assert_str_eq(r.service, "web-2_a");
	api_route("DELETE", "/api/v1/services/db/persistence/10.0.0.1", &r);
	ck_assert_str_eq(r.service, "db");
	ck_assert_str_eq(r.client, "10.0.0.1");
	api_route("GET", "/api/v1/services/\"<x>\"", &r);
	ck_assert(r.has_service && !r.service_valid);
	ck_assert_str_eq(r.service, "\"<x>\"");
	snprintf(path, sizeof(path), "/api/v1/services/%0200d", 1);
	api_route("PATCH", path, &r);
	ck_assert_int_eq(r.handler, API_SERVICE_PATCH);
	ck_assert(!r.service_valid);
	ck_assert_uint_eq(strlen(r.service), API_SERVICE_TEXT - 1);
}
END_TEST

START_TEST(test_route_table)
{
	struct api_route r;

	api_route(routes[_i].method, routes[_i].path, &r);
	ck_assert_msg(r.handler == routes[_i].handler, "%s %s: handler %s, expected %s",
	    routes[_i].method, routes[_i].path, api_handler_name(r.handler),
	    api_handler_name(routes[_i].handler));
	if (r.handler == API_NOT_FOUND)
		return;
	ck_assert_uint_eq(r.target_id, routes[_i].id);
	ck_assert_int_eq(r.write, routes[_i].write);
	ck_assert_int_eq(r.one_target, routes[_i].one_target);
	ck_assert_int_eq(r.json_body, routes[_i].json_body);
	ck_assert_ptr_nonnull(r.allow);
}
END_TEST

START_TEST(test_route_allow)
{
	struct api_route r;

	api_route("PUT", "/api/v1/targets/3", &r);
	ck_assert_str_eq(r.allow, "GET, HEAD, PATCH, DELETE");
	api_route("GET", "/api/v1/targets/3/ack", &r);
	ck_assert_str_eq(r.allow, "POST");
	api_route("PUT", "/api/v1/targets", &r);
	ck_assert_str_eq(r.allow, "GET, HEAD, POST");
	api_route("POST", "/", &r);
	ck_assert_str_eq(r.allow, "GET, HEAD");
	api_route("DELETE", "/api/v1/persistence/10.0.0.1", &r);
	ck_assert_str_eq(r.client, "10.0.0.1");
	/* A client segment that cannot fit an address is not a route. */
	api_route("DELETE", "/api/v1/persistence/"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &r);
	ck_assert_int_eq(r.handler, API_NOT_FOUND);
}
END_TEST

/* --- auth ---------------------------------------------------------------- */

#define KEY	"0123456789abcdef0123456789abcdef"

static const struct {
	const char	*token;
	const char	*peer;
	const char	*authz;
	const char	*key;		/* the route's target key */
	const char	*method;
	const char	*path;
	int		 expect;
} auths[] = {
	/* no token: loopback and --allow may write, others may not */
	{ NULL, "127.0.0.1", NULL, NULL, "POST", "/api/v1/targets", 0 },
	{ NULL, "127.9.8.7", NULL, NULL, "PATCH", "/api/v1/config", 0 },
	{ NULL, "::1", NULL, NULL, "DELETE", "/api/v1/persistence", 0 },
	{ NULL, "::ffff:127.0.0.1", NULL, NULL, "DELETE", "/api/v1/persistence", 0 },
	{ NULL, "192.168.4.5", NULL, NULL, "POST", "/api/v1/targets", 0 },
	{ NULL, "10.1.2.3", NULL, NULL, "POST", "/api/v1/targets", 403 },
	{ NULL, "2001:db8::1", NULL, NULL, "POST", "/api/v1/targets", 403 },
	{ NULL, "10.1.2.3", NULL, NULL, "GET", "/api/v1/targets", 0 },
	{ NULL, "10.1.2.3", NULL, NULL, "GET", "/metrics", 0 },
	{ NULL, "10.1.2.3", "Bearer anything", NULL, "PATCH", "/api/v1/config", 403 },
	/* no token: a target's key works for that target only */
	{ NULL, "10.1.2.3", "Bearer " KEY, KEY, "POST", "/api/v1/targets/1/ack", 0 },
	{ NULL, "10.1.2.3", "Bearer " KEY, KEY, "PATCH", "/api/v1/targets/1", 0 },
	{ NULL, "10.1.2.3", "Bearer " KEY, KEY, "DELETE", "/api/v1/targets/1", 0 },
	{ NULL, "10.1.2.3", "Bearer " KEY, NULL, "POST", "/api/v1/targets", 403 },
	{ NULL, "10.1.2.3", "Bearer " KEY, NULL, "DELETE", "/api/v1/persistence", 403 },
	{ NULL, "10.1.2.3", "Bearer 0123456789abcdef0123456789abcdee", KEY,
	    "POST", "/api/v1/targets/1/ack", 403 },
	/* token: every write needs it (or the key); loopback is no exception */
	{ "s3cret", "127.0.0.1", NULL, NULL, "POST", "/api/v1/targets", 401 },
	{ "s3cret", "127.0.0.1", "Bearer s3cret", NULL, "POST", "/api/v1/targets", 0 },
	{ "s3cret", "10.1.2.3", "Bearer s3cret", NULL, "PATCH", "/api/v1/config", 0 },
	{ "s3cret", "10.1.2.3", "bearer s3cret", NULL, "PATCH", "/api/v1/config", 0 },
	{ "s3cret", "10.1.2.3", "BEARER   s3cret  ", NULL, "PATCH", "/api/v1/config", 0 },
	{ "s3cret", "10.1.2.3", "Bearer s3cre", NULL, "PATCH", "/api/v1/config", 401 },
	{ "s3cret", "10.1.2.3", "Bearer s3cretx", NULL, "PATCH", "/api/v1/config", 401 },
	{ "s3cret", "10.1.2.3", "Bearer S3CRET", NULL, "PATCH", "/api/v1/config", 401 },
	{ "s3cret", "10.1.2.3", "Basic s3cret", NULL, "PATCH", "/api/v1/config", 401 },
	{ "s3cret", "10.1.2.3", "Bearer", NULL, "PATCH", "/api/v1/config", 401 },
	{ "s3cret", "10.1.2.3", "Bearer ", NULL, "PATCH", "/api/v1/config", 401 },
	{ "s3cret", "10.1.2.3", "Bearers3cret", NULL, "PATCH", "/api/v1/config", 401 },
	{ "s3cret", "10.1.2.3", "Bearer s3cret s3cret", NULL, "PATCH", "/api/v1/config", 401 },
	{ "s3cret", "10.1.2.3", "", NULL, "PATCH", "/api/v1/config", 401 },
	{ "s3cret", "10.1.2.3", "Bearer " KEY, KEY, "POST", "/api/v1/targets/1/ack", 0 },
	{ "s3cret", "10.1.2.3", "Bearer " KEY, KEY, "DELETE", "/api/v1/targets/1", 0 },
	{ "s3cret", "10.1.2.3", "Bearer " KEY, NULL, "POST", "/api/v1/targets", 401 },
	{ "s3cret", "10.1.2.3", "Bearer " KEY, NULL, "DELETE", "/api/v1/persistence", 401 },
	{ "s3cret", "10.1.2.3", NULL, NULL, "GET", "/api/v1/targets", 0 },
	{ "s3cret", "10.1.2.3", "Bearer wrong", NULL, "GET", "/api/v1/status", 0 },
	/* a route error is not an auth matter, but a write stays a write */
	{ "s3cret", "10.1.2.3", NULL, NULL, "PUT", "/api/v1/targets", 401 },
};

START_TEST(test_auth_table)
{
	struct cfg_cidr allow[1];
	struct api_policy pol = { .token = auths[_i].token, .allow = allow, .nallow = 1 };
	struct sockaddr_storage ss;
	struct api_route r;
	struct api_auth a;
	char err[128];
	int got;

	ck_assert_int_eq(net_parse_cidr("192.168.0.0/16", &allow[0].net, err,
	    sizeof(err)), 0);
	api_route(auths[_i].method, auths[_i].path, &r);
	api_auth_check(&pol, sa(&ss, auths[_i].peer, 40000), auths[_i].authz,
	    auths[_i].key, &a);
	got = api_auth_decide(&pol, &a, &r);
	ck_assert_msg(got == auths[_i].expect, "case %d (%s %s from %s, %s): %d, expected %d",
	    _i, auths[_i].method, auths[_i].path, auths[_i].peer,
	    auths[_i].authz ? auths[_i].authz : "no header", got, auths[_i].expect);
}
END_TEST

START_TEST(test_auth_admin)
{
	struct api_policy none = { 0 }, tok = { .token = "t" };
	struct sockaddr_storage ss;
	struct api_auth a;

	api_auth_check(&none, sa(&ss, "127.0.0.1", 1), NULL, NULL, &a);
	ck_assert(api_auth_admin(&none, &a));
	ck_assert(!a.token_ok);
	api_auth_check(&none, sa(&ss, "10.0.0.1", 1), "Bearer t", NULL, &a);
	ck_assert(!api_auth_admin(&none, &a));
	api_auth_check(&tok, sa(&ss, "127.0.0.1", 1), NULL, NULL, &a);
	ck_assert(!api_auth_admin(&tok, &a));
	api_auth_check(&tok, sa(&ss, "10.0.0.1", 1), "Bearer t", NULL, &a);
	ck_assert(api_auth_admin(&tok, &a));
	/* No peer at all (cannot happen with MHD) is never trusted. */
	api_auth_check(&none, NULL, NULL, NULL, &a);
	ck_assert(!a.peer_ok);
}
END_TEST

/* The Host header against what this server is called (DNS rebinding). */
START_TEST(test_host)
{
	static const char *const names[] = { "admin.example", "fd00::2" };
	struct sockaddr_storage ss;
	struct selfaddr *self = selfaddr_new();
	struct api_hosts hs = {
		.names = names, .nnames = NITEMS(names), .listen_name = "box.lan",
		.port = 1667,
	};
	static const char *const good[] = {
		"127.0.0.1:1667", "127.0.0.1", "127.9.8.7:1", "localhost", "LocalHost:1667",
		"localhost.", "dash.localhost:1667", "[::1]:1667", "[::1]", "[::ffff:127.0.0.1]",
		"10.0.0.5:1667", "10.0.0.5:99", "admin.example", "ADMIN.example.:8080",
		"[fd00::2]:1667", "box.lan:1667", "BOX.LAN", "10.0.0.5:",
	};
	static const char *const bad[] = {
		"", ":1667", "evil.example", "evil.example:1667", "admin.example.evil",
		"xadmin.example", "localhost.evil.example", "127.0.0.1.nip.io",
		"10.0.0.6:1667", "[::2]:1667", "::1", "[::1", "[::1]x", "[]",
		"127.0.0.1:1667:1", "127.0.0.1:abc", "127.0.0.1:123456", "1.2.3",
		"0.0.0.0:1667", "[10.0.0.5]", "localhost:-1", "box.lan.evil", ".",
		"192.168.1.9", "[localhost]", "[localhost]:1667", "127.0.0.1:+80",
	};

	ck_assert_ptr_nonnull(self);
	hs.self = self;
	/* Another of our listeners' address is not the admin's. */
	ck_assert_int_eq(selfaddr_add_listener(self, sa(&ss, "10.0.0.7", 3000),
	    "client"), 0);
	ck_assert_int_eq(selfaddr_add_listener(self, sa(&ss, "10.0.0.5", 1667),
	    "http"), 0);
	for (size_t i = 0; i < NITEMS(good); i++)
		ck_assert_msg(api_host_ok(good[i], &hs), "'%s' refused", good[i]);
	for (size_t i = 0; i < NITEMS(bad); i++)
		ck_assert_msg(!api_host_ok(bad[i], &hs), "'%s' accepted", bad[i]);
	ck_assert(api_host_ok(NULL, &hs));
	ck_assert(!api_host_ok("10.0.0.7:3000", &hs));
	selfaddr_free(self);

	/* On a wildcard address: the host's own addresses, not others. */
	self = selfaddr_new();
	ck_assert_ptr_nonnull(self);
	hs.self = self;
	/* (The first wildcard listener reads the interfaces: add after it.) */
	ck_assert_int_eq(selfaddr_add_listener(self, sa(&ss, "0.0.0.0", 1667),
	    "http"), 0);
	ck_assert_int_eq(selfaddr_add_local(self, sa(&ss, "192.168.1.9", 0)), 0);
	ck_assert_int_eq(selfaddr_add_local(self, sa(&ss, "fe80::1", 0)), 0);
	ck_assert(api_host_ok("192.168.1.9:1667", &hs));
	ck_assert(api_host_ok("192.168.1.9:8080", &hs));
	ck_assert(api_host_ok("localhost:1667", &hs));
	ck_assert(!api_host_ok("[fe80::1]:1667", &hs));	/* an IPv4 listener */
	ck_assert(!api_host_ok("198.51.100.10:1667", &hs));
	ck_assert(!api_host_ok("0.0.0.0:1667", &hs));
	hs.self = NULL;
	ck_assert(!api_host_ok("192.168.1.9:1667", &hs));
	selfaddr_free(self);
}
END_TEST

START_TEST(test_origin)
{
	ck_assert(api_origin_ok(NULL, NULL));
	ck_assert(api_origin_ok(NULL, "127.0.0.1:1667"));
	ck_assert(api_origin_ok("http://127.0.0.1:1667", "127.0.0.1:1667"));
	ck_assert(api_origin_ok("https://Admin.Example:8443", "admin.example:8443"));
	ck_assert(!api_origin_ok("http://evil.example", "127.0.0.1:1667"));
	ck_assert(!api_origin_ok("http://127.0.0.1:1668", "127.0.0.1:1667"));
	ck_assert(!api_origin_ok("http://127.0.0.1:1667", NULL));
	ck_assert(!api_origin_ok("null", "127.0.0.1:1667"));
	ck_assert(!api_origin_ok("127.0.0.1:1667", "127.0.0.1:1667"));
	ck_assert(!api_origin_ok("http://", ""));
}
END_TEST

START_TEST(test_bearer)
{
	size_t len;
	const char *t;

	t = api_bearer("Bearer abc", &len);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(len, 3);
	ck_assert_int_eq(memcmp(t, "abc", 3), 0);
	t = api_bearer("bEaReR\tabc\t ", &len);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(len, 3);
	ck_assert_ptr_null(api_bearer(NULL, &len));
	ck_assert_ptr_null(api_bearer("Bearer", &len));
	ck_assert_ptr_null(api_bearer("Bearer    ", &len));
	ck_assert_ptr_null(api_bearer("Token abc", &len));
	ck_assert_ptr_null(api_bearer("Bearer a b", &len));
}
END_TEST

/* --- bodies -------------------------------------------------------------- */

struct body_case {
	const char	*text;
	size_t		 len;
	int		 expect;
};

static const struct body_case registers[] = {
	{ BODY("{\"port\":1080}"), 0 },
	{ BODY("{\"port\":1080,\"weight\":1000,\"host\":\"127.0.0.1\",\"ttl\":\"60s\"}"), 0 },
	{ BODY(" {\"ttl\":60, \"port\":1} \n"), 0 },
	{ BODY("{\"port\":65535,\"weight\":1,\"host\":\"::1\"}"), 0 },
	{ BODY("{\"port\":80,\"weight\":1000000,\"ttl\":\"1.5s\"}"), 0 },
	{ BODY("{\"port\":80,\"ttl\":\"24h\"}"), 0 },
	{ BODY("{\"port\":80,\"ttl\":1}"), 0 },
	{ BODY("{\"port\":80,\"service\":\"default\"}"), 0 },
	{ BODY("{\"port\":80,\"service\":\"web\"}"), 0 },
	{ BODY("{\"port\":80,\"host\":\"::ffff:10.0.0.5\"}"), 0 },
	/* not one JSON object: 400 */
	{ BODY(""), 400 },
	{ BODY("   "), 400 },
	{ BODY("{\"port\":80} x"), 400 },
	{ BODY("{\"port\":80}{}"), 400 },
	{ BODY("{\"port\":80,}"), 400 },
	{ BODY("{\"port\":080}"), 400 },
	{ BODY("{\"port\":80"), 400 },
	{ BODY("{\"port\":80}\0{\"port\":81}"), 400 },
	{ BODY("\0{\"port\":80}"), 400 },
	{ BODY("[80]"), 400 },
	{ BODY("80"), 400 },
	{ BODY("null"), 400 },
	{ BODY("\"port\""), 400 },
	{ BODY("{\"port\":80,\"host\":\"\xff\xfe\"}"), 400 },
	{ BODY("{\"port\":[[[[[[[[[[[[[[[[[[[[80]]]]]]]]]]]]]]]]]]]]}"), 400 },
	{ BODY("{\"port\":80,\"port\":81}"), 400 },
	{ BODY("{\"port\":80,\"p\\u006frt\":81}"), 400 },
	{ BODY("{\"port\":80,\"weight\":5,\"weight\":5}"), 400 },
	{ BODY("{\"port\":80,\"host\":\"::1\",\"ttl\":1,\"host\":\"::1\"}"), 400 },
	/* wrong fields, types or ranges: 422 */
	{ BODY("{}"), 422 },
	{ BODY("{\"weight\":5}"), 422 },
	{ BODY("{\"port\":0}"), 422 },
	{ BODY("{\"port\":65536}"), 422 },
	{ BODY("{\"port\":-1}"), 422 },
	{ BODY("{\"port\":\"80\"}"), 422 },
	{ BODY("{\"port\":80.0}"), 422 },
	{ BODY("{\"port\":8e1}"), 422 },
	{ BODY("{\"port\":true}"), 422 },
	{ BODY("{\"port\":null}"), 422 },
	{ BODY("{\"port\":{}}"), 422 },
	{ BODY("{\"port\":[[[80]]]}"), 422 },
	{ BODY("{\"port\":99999999999999999999}"), 422 },
	{ BODY("{\"port\":-99999999999999999999}"), 422 },
	{ BODY("{\"port\":18446744073709551696}"), 422 },
	{ BODY("{\"port\":80,\"weight\":0}"), 422 },
	{ BODY("{\"port\":80,\"weight\":1000001}"), 422 },
	{ BODY("{\"port\":80,\"weight\":4294967797}"), 422 },
	{ BODY("{\"port\":80,\"weight\":1e400}"), 422 },
	{ BODY("{\"port\":80,\"weight\":NaN}"), 422 },
	{ BODY("{\"port\":80,\"host\":\"example.com\"}"), 422 },
	{ BODY("{\"port\":80,\"host\":\"\"}"), 422 },
	{ BODY("{\"port\":80,\"host\":\"0.0.0.0\"}"), 422 },
	{ BODY("{\"port\":80,\"host\":\"::\"}"), 422 },
	{ BODY("{\"port\":80,\"host\":\"224.0.0.1\"}"), 422 },
	{ BODY("{\"port\":80,\"host\":\"ff02::1\"}"), 422 },
	{ BODY("{\"port\":80,\"host\":\"1.2.3.4 \"}"), 422 },
	{ BODY("{\"port\":80,\"host\":\"1.2.3.4:80\"}"), 422 },
	{ BODY("{\"port\":80,\"host\":\"127.0.0.1\\u0000x\"}"), 422 },
	{ BODY("{\"port\":80,\"host\":127001}"), 422 },
	{ BODY("{\"port\":80,\"ttl\":0}"), 422 },
	{ BODY("{\"port\":80,\"ttl\":86401}"), 422 },
	{ BODY("{\"port\":80,\"ttl\":-5}"), 422 },
	{ BODY("{\"port\":80,\"ttl\":1.5}"), 422 },
	{ BODY("{\"port\":80,\"ttl\":true}"), 422 },
	{ BODY("{\"port\":80,\"ttl\":\"0s\"}"), 422 },
	{ BODY("{\"port\":80,\"ttl\":\"500ms\"}"), 422 },
	{ BODY("{\"port\":80,\"ttl\":\"25h\"}"), 422 },
	{ BODY("{\"port\":80,\"ttl\":\"soon\"}"), 422 },
	{ BODY("{\"port\":80,\"ttl\":\"-5s\"}"), 422 },
	{ BODY("{\"port\":80,\"ttl\":\"\"}"), 422 },
	{ BODY("{\"port\":80,\"ttl\":\"60s\\u0000\"}"), 422 },
	{ BODY("{\"port\":80,\"ttl\":\"99999999999999999999h\"}"), 422 },
	{ BODY("{\"port\":80,\"colour\":\"red\"}"), 422 },
	{ BODY("{\"port\":80,\"service\":\"\"}"), 422 },
	{ BODY("{\"port\":80,\"service\":\"Web\"}"), 422 },
	{ BODY("{\"port\":80,\"service\":\"-web\"}"), 422 },
	{ BODY("{\"port\":80,\"service\":\"a b\"}"), 422 },
	{ BODY("{\"port\":80,\"service\":\"web\\u0000\"}"), 422 },
	{ BODY("{\"port\":80,\"service\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaa\"}"), 422 },
	{ BODY("{\"port\":80,\"service\":null}"), 422 },
	{ BODY("{\"port\":80,\"service\":1}"), 422 },
	{ BODY("{\"port\":80,\"service\":\"web\",\"service\":\"web\"}"), 400 },
	{ BODY("{\"port\":80,\"key\":\"" KEY "\"}"), 422 },
};

START_TEST(test_register_table)
{
	struct api_register reg;
	char err[API_ERR_MAX] = "";
	int got;

	got = api_parse_register(registers[_i].text, registers[_i].len, &reg, err,
	    sizeof(err));
	ck_assert_msg(got == registers[_i].expect, "case %d %.60s: %d (%s), expected %d",
	    _i, registers[_i].text, got, err, registers[_i].expect);
	if (got != 0)
		ck_assert_msg(err[0] != '\0', "case %d: no reason given", _i);
}
END_TEST

/* The reason names the key as json-c reads it, escapes decoded. */
START_TEST(test_duplicate_named)
{
	struct api_register reg;
	struct api_config_patch cp;
	char err[API_ERR_MAX] = "";

	ck_assert_int_eq(api_parse_register(BODY("{\"port\":80,\"weight\":1,"
	    "\"weight\":2}"), &reg, err, sizeof(err)), 400);
	ck_assert_str_eq(err, "bad JSON: duplicate key 'weight'");
	ck_assert_int_eq(api_parse_register(BODY("{\"port\":80,\"p\\u006frt\":80}"),
	    &reg, err, sizeof(err)), 400);
	ck_assert_str_eq(err, "bad JSON: duplicate key 'port'");
	ck_assert_int_eq(api_parse_config_patch(BODY("{\"requeue\":1,\"x\":{\"a\":1,"
	    "\"a\":2}}"), &cp, err, sizeof(err)), 400);
	ck_assert_str_eq(err, "bad JSON: duplicate key 'a'");
}
END_TEST

START_TEST(test_register_values)
{
	static const char full[] =
	    "{\"port\":1080,\"weight\":1000,\"host\":\"10.0.0.5\",\"ttl\":\"1m\"}";
	struct api_register reg;
	char err[API_ERR_MAX], host[NET_HOSTSTRLEN];

	ck_assert_int_eq(api_parse_register(full, sizeof(full) - 1, &reg, err,
	    sizeof(err)), 0);
	ck_assert_uint_eq(reg.port, 1080);
	ck_assert(reg.has_weight);
	ck_assert_uint_eq(reg.weight, 1000);
	ck_assert(reg.has_host);
	ck_assert_str_eq(net_host_text((struct sockaddr *)&reg.host.ss, host,
	    sizeof(host)), "10.0.0.5");
	ck_assert(reg.has_ttl);
	ck_assert_int_eq(reg.ttl_ms, 60000);

	ck_assert_int_eq(api_parse_register(S("{\"port\":1,\"ttl\":90}"), &reg, err,
	    sizeof(err)), 0);
	ck_assert(!reg.has_host);
	ck_assert(!reg.has_weight);
	ck_assert_int_eq(reg.ttl_ms, 90000);
	ck_assert_int_eq(api_parse_register(S("{\"port\":0}"), &reg, err,
	    sizeof(err)), 422);
	ck_assert_str_eq(err, "'port' must be between 1 and 65535");
	ck_assert(!reg.has_service);
	ck_assert_int_eq(api_parse_register(S("{\"port\":1,\"service\":\"a-"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}"), &reg, err,
	    sizeof(err)), 0);
	ck_assert(reg.has_service);
	ck_assert_uint_eq(strlen(reg.service), SERVICE_NAME_MAX);
}
END_TEST

static const struct body_case target_patches[] = {
	{ BODY("{\"weight\":5}"), 0 },
	{ BODY("{\"state\":\"draining\"}"), 0 },
	{ BODY("{\"state\":\"up\",\"weight\":1000000}"), 0 },
	{ BODY("{\"weight\":5,\"weight\":6}"), 400 },
	{ BODY("{\"state\":\"up\",\"state\":\"draining\"}"), 400 },
	{ BODY("{}"), 422 },
	{ BODY("{\"state\":\"down\"}"), 422 },
	{ BODY("{\"state\":\"UP\"}"), 422 },
	{ BODY("{\"state\":\"up\\u0000\"}"), 422 },
	{ BODY("{\"state\":1}"), 422 },
	{ BODY("{\"state\":null}"), 422 },
	{ BODY("{\"weight\":0}"), 422 },
	{ BODY("{\"weight\":1000001}"), 422 },
	{ BODY("{\"weight\":\"5\"}"), 422 },
	{ BODY("{\"weight\":5.5}"), 422 },
	{ BODY("{\"weight\":99999999999999999999}"), 422 },
	{ BODY("{\"port\":80}"), 422 },
	{ BODY("{\"weight\":5} garbage"), 400 },
	{ BODY("{\"weight\":5}\0"), 400 },
	{ BODY("{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":{\"j\":"
	    "{\"k\":{\"l\":{\"m\":{\"n\":{\"o\":{\"p\":{\"q\":1}}}}}}}}}}}}}}}}}"), 400 },
	{ BODY("weight=5"), 400 },
};

START_TEST(test_target_patch_table)
{
	struct api_target_patch tp;
	char err[API_ERR_MAX] = "";
	int got;

	got = api_parse_target_patch(target_patches[_i].text, target_patches[_i].len,
	    &tp, err, sizeof(err));
	ck_assert_msg(got == target_patches[_i].expect, "case %d %.60s: %d (%s), expected %d",
	    _i, target_patches[_i].text, got, err, target_patches[_i].expect);
}
END_TEST

START_TEST(test_target_patch_values)
{
	struct api_target_patch tp;
	char err[API_ERR_MAX];

	ck_assert_int_eq(api_parse_target_patch(S("{\"state\":\"draining\","
	    "\"weight\":9}"), &tp, err, sizeof(err)), 0);
	ck_assert(tp.has_state && tp.drain && tp.has_weight);
	ck_assert_uint_eq(tp.weight, 9);
	ck_assert_int_eq(api_parse_target_patch(S("{\"state\":\"up\"}"), &tp, err,
	    sizeof(err)), 0);
	ck_assert(tp.has_state && !tp.drain && !tp.has_weight);
}
END_TEST

static const struct body_case config_patches[] = {
	{ BODY("{\"concurrency\":0}"), 0 },
	{ BODY("{\"unavailable\":null,\"unavailable\":\"x\"}"), 400 },
	{ BODY("{\"concurrency\":0,\"requeue\":1,\"concurrency\":1}"), 400 },
	{ BODY("{\"concurrency\":-1}"), 0 },
	{ BODY("{\"concurrency\":10000000}"), 0 },
	{ BODY("{\"requeue\":0}"), 0 },
	{ BODY("{\"requeue\":100}"), 0 },
	{ BODY("{\"balance\":\"hash\"}"), 0 },
	{ BODY("{\"balance\":\"roundrobin\",\"persistent\":false}"), 0 },
	{ BODY("{\"unavailable\":\"busy\\r\\n\"}"), 0 },
	{ BODY("{\"unavailable\":null}"), 0 },
	{ BODY("{\"unavailable\":\"\"}"), 0 },
	{ BODY("{}"), 422 },
	{ BODY("{\"concurrency\":-2}"), 422 },
	{ BODY("{\"concurrency\":10000001}"), 422 },
	{ BODY("{\"concurrency\":\"5\"}"), 422 },
	{ BODY("{\"concurrency\":99999999999999999999}"), 422 },
	{ BODY("{\"concurrency\":-99999999999999999999}"), 422 },
	{ BODY("{\"requeue\":-1}"), 422 },
	{ BODY("{\"requeue\":101}"), 422 },
	{ BODY("{\"balance\":\"random\"}"), 422 },
	{ BODY("{\"balance\":\"hash\\u0000x\"}"), 422 },
	{ BODY("{\"balance\":1}"), 422 },
	{ BODY("{\"persistent\":1}"), 422 },
	{ BODY("{\"persistent\":\"true\"}"), 422 },
	{ BODY("{\"unavailable\":5}"), 422 },
	{ BODY("{\"unavailable\":\"a\\u0000b\"}"), 422 },
	{ BODY("{\"listen\":\"3000\"}"), 422 },
	{ BODY("{\"token\":\"x\"}"), 422 },
	{ BODY("{\"concurrency\":1,\"unavailable\":\"x\",\"bogus\":1}"), 422 },
	{ BODY("{\"concurrency\":0}}"), 400 },
	{ BODY("{\"concurrency\":0"), 400 },
};

START_TEST(test_config_patch_table)
{
	struct api_config_patch cp;
	char err[API_ERR_MAX] = "";
	int got;

	got = api_parse_config_patch(config_patches[_i].text, config_patches[_i].len,
	    &cp, err, sizeof(err));
	ck_assert_msg(got == config_patches[_i].expect, "case %d %.60s: %d (%s), expected %d",
	    _i, config_patches[_i].text, got, err, config_patches[_i].expect);
	if (got != 0)
		ck_assert_ptr_null(cp.unavailable);	/* nothing to leak */
	api_config_patch_free(&cp);
}
END_TEST

START_TEST(test_config_patch_values)
{
	static const char body[] = "{\"concurrency\":0,\"requeue\":3,\"balance\":\"hash\","
	    "\"persistent\":false,\"unavailable\":\"busy\\r\\n\"}";
	struct api_config_patch cp;
	char err[API_ERR_MAX];

	ck_assert_int_eq(api_parse_config_patch(body, sizeof(body) - 1, &cp, err,
	    sizeof(err)), 0);
	ck_assert(cp.has_concurrency && cp.concurrency == 0);
	ck_assert(cp.has_requeue && cp.requeue == 3);
	ck_assert(cp.has_balance && cp.balance == BALANCE_HASH);
	ck_assert(cp.has_persistent && !cp.persistent);
	ck_assert(cp.has_unavailable);
	ck_assert_uint_eq(cp.unavailable_len, 6);
	ck_assert_int_eq(memcmp(cp.unavailable, "busy\r\n", 6), 0);
	api_config_patch_free(&cp);
	ck_assert_int_eq(api_parse_config_patch(S("{\"unavailable\":null}"), &cp, err,
	    sizeof(err)), 0);
	ck_assert(cp.has_unavailable);
	ck_assert_ptr_null(cp.unavailable);
	api_config_patch_free(&cp);
}
END_TEST

START_TEST(test_content_type)
{
	ck_assert(api_content_type_json("application/json"));
	ck_assert(api_content_type_json("application/json; charset=utf-8"));
	ck_assert(api_content_type_json("Application/JSON"));
	ck_assert(!api_content_type_json(NULL));
	ck_assert(!api_content_type_json(""));
	ck_assert(!api_content_type_json("text/plain"));
	ck_assert(!api_content_type_json("application/jsonp"));
	ck_assert(!api_content_type_json("application/x-www-form-urlencoded"));
}
END_TEST

/* --- static files and metrics text --------------------------------------- */

static const struct {
	const char	*path;
	const char	*rel;		/* NULL: refused */
} statics[] = {
	{ "/", "index.html" },
	{ "/index.html", "index.html" },
	{ "/app.js", "app.js" },
	{ "/img/logo-1_x.png", "img/logo-1_x.png" },
	{ "", NULL },
	{ "index.html", NULL },
	{ "/../etc/passwd", NULL },
	{ "/..", NULL },
	{ "/a/../b", NULL },
	{ "/.hidden", NULL },
	{ "/.", NULL },
	{ "//index.html", NULL },
	{ "/a//b", NULL },
	{ "/dir/", NULL },
	{ "/a b", NULL },
	{ "/a%2e", NULL },
	{ "/a\\b", NULL },
	{ "/caf\xc3\xa9", NULL },
};

START_TEST(test_static_path)
{
	char rel[64];
	int got = api_static_path(statics[_i].path, rel, sizeof(rel));

	if (statics[_i].rel == NULL) {
		ck_assert_msg(got == -1, "%s accepted as %s", statics[_i].path, rel);
	} else {
		ck_assert_msg(got == 0, "%s refused", statics[_i].path);
		ck_assert_str_eq(rel, statics[_i].rel);
	}
}
END_TEST

START_TEST(test_static_limits)
{
	char rel[600], path[600];

	memset(path, 'a', 300);
	path[0] = '/';
	path[300] = '\0';
	ck_assert_int_eq(api_static_path(path, rel, sizeof(rel)), -1);	/* 299 > 255 */
	path[256] = '\0';
	ck_assert_int_eq(api_static_path(path, rel, sizeof(rel)), 0);
	ck_assert_int_eq(api_static_path(path, rel, 10), -1);
	ck_assert_str_eq(api_mime_type("index.html"), "text/html; charset=utf-8");
	ck_assert_str_eq(api_mime_type("app.js"), "text/javascript; charset=utf-8");
	ck_assert_str_eq(api_mime_type("style.css"), "text/css; charset=utf-8");
	ck_assert_str_eq(api_mime_type("dashboard.png"), "image/png");
	ck_assert_str_eq(api_mime_type("README"), "application/octet-stream");
	ck_assert_str_eq(api_mime_type("x.html.bak"), "application/octet-stream");
}
END_TEST

START_TEST(test_prom_escape)
{
	char out[32];

	ck_assert_int_eq(api_prom_escape("10.0.0.1", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "10.0.0.1");
	ck_assert_int_eq(api_prom_escape("a\"b\\c\nd", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "a\\\"b\\\\c\\nd");
	ck_assert_int_eq(api_prom_escape("", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(api_prom_escape("abcd", out, 4), -1);
	ck_assert_int_eq(api_prom_escape("abc", out, 4), 0);
	ck_assert_int_eq(api_prom_escape("ab\"", out, 4), -1);
}
END_TEST

/* --- handlers on real modules -------------------------------------------- */

/* Runs one request; the reply's body is parsed into *json (or NULL). */
static int
call(struct world *w, const char *method, const char *path, const char *peer,
    const char *authz, const char *body, struct json_object **json)
{
	struct sockaddr_storage ss;
	struct api_route r;
	struct api_request rq;
	struct api_reply rp;
	int status;

	api_route(method, path, &r);
	rq = (struct api_request){ .route = &r, .peer = sa(&ss, peer, 50000),
	    .authorization = authz, .content_type = body ? "application/json" : NULL,
	    .body = body, .body_len = body ? strlen(body) : 0 };
	api_handle(&w->env, &rq, &rp);
	status = rp.status;
	if (json != NULL)
		*json = rp.body ? json_tokener_parse(rp.body) : NULL;
	api_reply_free(&rp);
	return status;
}

static const char *
jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static int64_t
jint(struct json_object *o, const char *key)
{
	struct json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no %s", key);
	return json_object_get_int64(v);
}

START_TEST(test_handlers_register)
{
	struct world w;
	struct json_object *o;
	char key[TARGET_KEY_LEN + 1], authz[64], *text;
	size_t len;

	world_init(&w, NULL);
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "127.0.0.1", NULL,
	    "{\"port\":1080,\"weight\":1000,\"ttl\":\"60s\"}", &o), 201);
	ck_assert_str_eq(jstr(o, "host"), "127.0.0.1");
	ck_assert_int_eq(jint(o, "weight"), 1000);
	ck_assert_int_eq(jint(o, "timeout_ms"), 60000);
	ck_assert_str_eq(jstr(o, "source"), "http");
	ck_assert_uint_eq(strlen(jstr(o, "key")), TARGET_KEY_LEN);
	strcpy(key, jstr(o, "key"));
	json_object_put(o);

	/* Again: the same target, no key for a caller without it ... */
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "127.0.0.1", NULL,
	    "{\"port\":1080,\"weight\":7}", &o), 200);
	ck_assert_int_eq(jint(o, "id"), 1);
	ck_assert_int_eq(jint(o, "weight"), 7);
	ck_assert_ptr_null(jstr(o, "key"));
	json_object_put(o);
	/* ... but for one that shows it. */
	snprintf(authz, sizeof(authz), "Bearer %s", key);
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "127.0.0.1", authz,
	    "{\"port\":1080}", &o), 200);
	ck_assert_str_eq(jstr(o, "key"), key);
	json_object_put(o);

	/* Someone else's address needs the token, and there is none. */
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "127.0.0.1", NULL,
	    "{\"port\":1080,\"host\":\"127.0.0.2\"}", NULL), 403);
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "::ffff:127.0.0.1", NULL,
	    "{\"port\":1081,\"host\":\"127.0.0.1\"}", NULL), 201);
	/* Writes from beyond loopback: refused, but the key works. */
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "10.0.0.9", NULL,
	    "{\"port\":1080}", NULL), 403);
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets/1/ack", "10.0.0.9", authz,
	    NULL, NULL), 204);
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets/2/ack", "10.0.0.9", authz,
	    NULL, NULL), 403);

	/* The key is in no listing, no snapshot and not in /metrics. */
	ck_assert_int_eq(call(&w, "GET", "/api/v1/targets", "10.0.0.9", NULL, NULL, &o), 200);
	ck_assert_uint_eq(json_object_array_length(json_object_object_get(o, "targets")), 2);
	ck_assert_ptr_null(strstr(json_object_to_json_string(o), key));
	json_object_put(o);
	ck_assert_ptr_nonnull(text = api_snapshot(&w.env, &len));
	ck_assert_ptr_null(strstr(text, key));
	free(text);
	ck_assert_ptr_nonnull(text = api_metrics(&w.env, &len));
	ck_assert_ptr_null(strstr(text, key));
	ck_assert_ptr_nonnull(strstr(text, "harmony_target_weight{id=\"1\",host=\"127.0.0.1\","
	    "port=\"1080\"} 7\n"));
	free(text);

	ck_assert_int_eq(call(&w, "DELETE", "/api/v1/targets/1", "127.0.0.1", NULL, NULL,
	    NULL), 204);
	ck_assert_int_eq(call(&w, "GET", "/api/v1/targets/1", "127.0.0.1", NULL, NULL,
	    NULL), 404);
	world_free(&w);
}
END_TEST

START_TEST(test_handlers_token)
{
	struct world w;
	struct json_object *o;

	world_init(&w, "s3cret");
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "127.0.0.1", NULL,
	    "{\"port\":1080}", &o), 401);
	ck_assert_str_eq(jstr(o, "error"), "a valid token is required"
	    " (Authorization: Bearer TOKEN)");
	json_object_put(o);
	/* A wrong token is told apart from none: the operator mistyped it. */
	ck_assert_int_eq(call(&w, "PATCH", "/api/v1/config", "10.0.0.9", "Bearer s3cre",
	    "{\"requeue\":2}", &o), 401);
	ck_assert_str_eq(jstr(o, "error"), "the token given is wrong: a valid token"
	    " is required (Authorization: Bearer TOKEN)");
	json_object_put(o);
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "10.0.0.9", "Bearer s3cret",
	    "{\"port\":1080,\"host\":\"10.0.0.5\"}", &o), 201);
	ck_assert_str_eq(jstr(o, "host"), "10.0.0.5");
	json_object_put(o);
	/* The token holder gets the key of an existing target. */
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "10.0.0.9", "Bearer s3cret",
	    "{\"port\":1080,\"host\":\"10.0.0.5\"}", &o), 200);
	ck_assert_ptr_nonnull(jstr(o, "key"));
	json_object_put(o);
	ck_assert_int_eq(call(&w, "PATCH", "/api/v1/targets/1", "10.0.0.9", "Bearer nope",
	    "{\"weight\":3}", NULL), 401);
	ck_assert_int_eq(call(&w, "PATCH", "/api/v1/targets/1", "10.0.0.9", "Bearer s3cret",
	    "{\"state\":\"draining\"}", &o), 200);
	ck_assert_str_eq(jstr(o, "state"), "draining");
	json_object_put(o);
	ck_assert_int_eq(call(&w, "PATCH", "/api/v1/targets/1", "10.0.0.9", "Bearer s3cret",
	    "{\"state\":\"up\"}", &o), 200);
	ck_assert_str_eq(jstr(o, "state"), "up");
	json_object_put(o);
	ck_assert_int_eq(call(&w, "PATCH", "/api/v1/targets/9", "10.0.0.9", "Bearer s3cret",
	    "{\"weight\":3}", NULL), 404);
	ck_assert_int_eq(call(&w, "GET", "/api/v1/status", "10.0.0.9", NULL, NULL, &o), 200);
	ck_assert_int_eq(jint(o, "concurrency"), -1);
	json_object_put(o);
	world_free(&w);
}
END_TEST

START_TEST(test_handlers_config)
{
	struct world w;
	struct json_object *o;
	struct sockaddr_storage ss;

	world_init(&w, NULL);
	ck_assert_int_eq(call(&w, "PATCH", "/api/v1/config", "127.0.0.1", NULL,
	    "{\"concurrency\":0,\"balance\":\"roundrobin\",\"unavailable\":\"busy\\n\"}",
	    &o), 200);
	ck_assert_int_eq(jint(o, "concurrency"), 0);
	ck_assert_str_eq(jstr(o, "balance"), "roundrobin");
	ck_assert_str_eq(jstr(o, "unavailable"), "busy\n");
	json_object_put(o);
	/* Kept in the config, so that whatever saves it sees what is in force. */
	ck_assert_int_eq(w.cfg.concurrency, 0);
	ck_assert_int_eq(w.cfg.balance, BALANCE_ROUNDROBIN);
	ck_assert_uint_eq(w.cfg.unavailable_len, 5);
	ck_assert_int_eq(balance_algo(w.balancer), BALANCE_ROUNDROBIN);
	ck_assert_uint_eq(w.env.config_gen, 1);
	ck_assert_int_eq(call(&w, "PATCH", "/api/v1/config", "127.0.0.1", NULL,
	    "{\"concurrency\":-1,\"unavailable\":null}", &o), 200);
	ck_assert_int_eq(jint(o, "concurrency"), -1);
	ck_assert(json_object_get_type(json_object_object_get(o, "unavailable")) ==
	    json_type_null);
	json_object_put(o);
	ck_assert_ptr_null(w.cfg.unavailable);
	/* Checked whole: one bad field, and nothing of the change lands. */
	ck_assert_int_eq(call(&w, "PATCH", "/api/v1/config", "127.0.0.1", NULL,
	    "{\"concurrency\":5,\"balance\":\"hash\",\"requeue\":101}", NULL), 422);
	ck_assert_int_eq(w.cfg.concurrency, -1);
	ck_assert_int_eq(balance_algo(w.balancer), BALANCE_ROUNDROBIN);
	ck_assert_uint_eq(w.env.config_gen, 2);

	/* Persistence: list, forget one, flush. */
	ck_assert_int_eq(persist_set(w.persist, sa(&ss, "127.0.0.2", 1), 5, 0), 0);
	ck_assert_int_eq(persist_set(w.persist, sa(&ss, "127.0.0.3", 1), 5, 0), 0);
	ck_assert_int_eq(call(&w, "GET", "/api/v1/persistence", "127.0.0.1", NULL, NULL,
	    &o), 200);
	ck_assert_int_eq(jint(o, "count"), 2);
	json_object_put(o);
	ck_assert_int_eq(call(&w, "DELETE", "/api/v1/persistence/127.0.0.2", "127.0.0.1",
	    NULL, NULL, NULL), 204);
	ck_assert_int_eq(call(&w, "DELETE", "/api/v1/persistence/127.0.0.2", "127.0.0.1",
	    NULL, NULL, NULL), 404);
	ck_assert_int_eq(call(&w, "DELETE", "/api/v1/persistence/nonsense", "127.0.0.1",
	    NULL, NULL, NULL), 400);
	ck_assert_int_eq(call(&w, "DELETE", "/api/v1/persistence", "127.0.0.1", NULL, NULL,
	    NULL), 204);
	ck_assert_uint_eq(persist_count(w.persist), 0);
	ck_assert_int_eq(call(&w, "DELETE", "/api/v1/persistence", "10.0.0.1", NULL, NULL,
	    NULL), 403);
	world_free(&w);
}
END_TEST

START_TEST(test_handlers_errors)
{
	struct world w;
	struct sockaddr_storage ss;
	struct api_route r;
	struct api_request rq;
	struct api_reply rp;
	struct json_object *o;

	world_init(&w, NULL);
	/* 415 without a JSON Content-Type, checked after auth. */
	api_route("POST", "/api/v1/targets", &r);
	rq = (struct api_request){ .route = &r, .peer = sa(&ss, "127.0.0.1", 1),
	    .content_type = "text/plain", .body = "{\"port\":1}", .body_len = 10 };
	api_handle(&w.env, &rq, &rp);
	ck_assert_int_eq(rp.status, 415);
	api_reply_free(&rp);
	rq.peer = sa(&ss, "10.0.0.1", 1);
	api_handle(&w.env, &rq, &rp);
	ck_assert_int_eq(rp.status, 403);
	api_reply_free(&rp);
	/* A cross-site form cannot write, even from loopback. */
	rq.peer = sa(&ss, "127.0.0.1", 1);
	rq.content_type = "application/json";
	rq.origin = "http://evil.example";
	rq.host = "127.0.0.1:1667";
	api_handle(&w.env, &rq, &rp);
	ck_assert_int_eq(rp.status, 403);
	api_reply_free(&rp);
	rq.origin = "http://127.0.0.1:1667";
	api_handle(&w.env, &rq, &rp);
	ck_assert_int_eq(rp.status, 201);
	api_reply_free(&rp);
	/* 405 carries Allow; 401 a challenge. */
	api_route("PUT", "/api/v1/targets", &r);
	api_handle(&w.env, &rq, &rp);
	ck_assert_int_eq(rp.status, 405);
	ck_assert_str_eq(rp.allow, "GET, HEAD, POST");
	ck_assert_ptr_nonnull(o = json_tokener_parse(rp.body));
	ck_assert_str_eq(jstr(o, "error"), "method not allowed");
	json_object_put(o);
	api_reply_free(&rp);
	ck_assert_int_eq(call(&w, "GET", "/api/v1/nothing", "127.0.0.1", NULL, NULL,
	    NULL), 404);
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "127.0.0.1", NULL,
	    "{\"port\":1", NULL), 400);
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "127.0.0.1", NULL,
	    "{\"port\":0}", NULL), 422);
	/* A static target's address cannot be registered over HTTP. */
	ck_assert_ptr_nonnull(pool_register(w.pool, TARGET_SRC_STATIC,
	    sa(&ss, "127.0.0.1", 2000), sizeof(struct sockaddr_in), 500, 0, NULL));
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "127.0.0.1", NULL,
	    "{\"port\":2000}", NULL), 409);
	/* A deregistered target with sessions cannot come back up. */
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "127.0.0.1", NULL,
	    "{\"port\":2001}", NULL), 201);
	pool_session_begin(pool_find_id(w.pool, 2));
	ck_assert_int_eq(call(&w, "DELETE", "/api/v1/targets/2", "127.0.0.1", NULL, NULL,
	    NULL), 204);
	ck_assert_int_eq(call(&w, "PATCH", "/api/v1/targets/2", "127.0.0.1", NULL,
	    "{\"state\":\"up\"}", NULL), 409);
	pool_session_end(pool_find_id(w.pool, 2), 0, 0);
	ck_assert_int_eq(call(&w, "GET", "/api/v1/targets/2", "127.0.0.1", NULL, NULL,
	    NULL), 404);
	world_free(&w);
}
END_TEST

/* The error of a name that is no service; the reply's JSON must parse. */
static const char *
service_error(struct world *w, const char *method, const char *path, char *buf,
    size_t len)
{
	struct json_object *o;

	ck_assert_int_eq(call(w, method, path, "127.0.0.1", NULL,
	    method[0] == 'P' ? "{\"port\":1}" : NULL, &o), 404);
	ck_assert_ptr_nonnull(o);
	snprintf(buf, len, "%s", jstr(o, "error"));
	json_object_put(o);
	return buf;
}

static size_t
snapshot_targets(struct world *w, bool *complete)
{
	struct json_object *o, *v;
	size_t len, n;
	char *text;

	ck_assert_ptr_nonnull(text = api_snapshot(&w->env, &len));
	ck_assert_ptr_nonnull(o = json_tokener_parse(text));
	free(text);
	ck_assert(json_object_object_get_ex(o, "targets", &v));
	n = json_object_array_length(v);
	ck_assert(json_object_object_get_ex(o, "targets_complete", &v));
	*complete = json_object_get_boolean(v);
	json_object_put(o);
	return n;
}

/* A snapshot holds every target up to API_SNAPSHOT_TARGETS, then fewer. */
START_TEST(test_snapshot_targets_bounded)
{
	struct world w;
	struct api_service two[2];
	struct balancer *b2;
	struct persist *p2;
	struct proxy *x2;
	struct pool *big;
	struct proxy_params pp;
	struct sockaddr_storage ss;
	bool complete;

	world_init(&w, NULL);
	cfg_proxy_params(&w.cfg, &pp);
	ck_assert_ptr_nonnull(big = pool_new_shared(w.loop, 60000,
	    pool_shared_of(w.pool)));
	ck_assert_int_eq(pool_set_name(big, "big", false), 0);
	ck_assert_ptr_nonnull(b2 = balance_new(big, BALANCE_LEASTCONN));
	ck_assert_ptr_nonnull(p2 = persist_new(10, 60000));
	ck_assert_ptr_nonnull(x2 = proxy_new(w.loop, big, b2, p2, &pp));
	two[0] = w.svc;
	two[1] = (struct api_service){ .name = "big", .cfg = &w.cfg, .pool = big,
	    .balancer = b2, .persist = p2, .proxy = x2 };
	w.env.services = two;
	w.env.nservices = 2;
	ck_assert_ptr_nonnull(pool_register(w.pool, TARGET_SRC_HTTP,
	    sa(&ss, "127.0.0.1", 1080), sizeof(struct sockaddr_in), 1, 0, NULL));
	for (unsigned i = 0; i < API_SNAPSHOT_TARGETS - 1; i++) {
		char host[32];

		snprintf(host, sizeof(host), "127.1.%u.%u", i / 250, i % 250 + 1);
		ck_assert_ptr_nonnull(pool_register(big, TARGET_SRC_HTTP,
		    sa(&ss, host, 80), sizeof(struct sockaddr_in), 1, 0, NULL));
	}
	ck_assert_uint_eq(snapshot_targets(&w, &complete), API_SNAPSHOT_TARGETS);
	ck_assert(complete);
	/* One more: only the default service's (1) are in it. */
	ck_assert_ptr_nonnull(pool_register(big, TARGET_SRC_HTTP,
	    sa(&ss, "127.2.0.1", 80), sizeof(struct sockaddr_in), 1, 0, NULL));
	ck_assert_uint_eq(snapshot_targets(&w, &complete), 1);
	ck_assert(!complete);
	proxy_free(x2);
	pool_free(big);
	balance_free(b2);
	persist_free(p2);
	world_free(&w);
}
END_TEST

START_TEST(test_handlers_services)
{
	struct world w;
	struct json_object *o, *a, *c;
	struct net_addr la, bound;
	struct sockaddr_storage ss;
	char err[API_ERR_MAX], want[64], lt[NET_ADDRSTRLEN], *text, *cfgtext;
	size_t len;

	world_init(&w, NULL);
	ck_assert_int_eq(net_parse_listen("127.0.0.1:0", NULL, &la, err, sizeof(err)), 0);
	ck_assert_int_eq(proxy_listen(w.proxy, &la, &bound, err, sizeof(err)), 0);
	net_addr_text((struct sockaddr *)&bound.ss, lt, sizeof(lt));

	/* The list: the one service, its listener as bound, its counts. */
	ck_assert_int_eq(call(&w, "GET", "/api/v1/services", "10.0.0.9", NULL, NULL,
	    &o), 200);
	a = json_object_object_get(o, "services");
	ck_assert_uint_eq(json_object_array_length(a), 1);
	c = json_object_array_get_idx(a, 0);
	ck_assert_str_eq(jstr(c, "name"), "default");
	ck_assert(json_object_get_boolean(json_object_object_get(c, "default")));
	ck_assert_str_eq(jstr(c, "algorithm"), "leastconn");
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(
	    json_object_object_get(c, "listeners"), 0)), lt);
	ck_assert_int_eq(jint(json_object_object_get(c, "targets"), "total"), 0);
	ck_assert_int_eq(jint(json_object_object_get(c, "totals"), "accepted"), 0);
	ck_assert(!json_object_object_get_ex(c, "config", NULL));
	json_object_put(o);

	/* One service: its config is /api/v1/config's, byte for byte. */
	ck_assert_int_eq(call(&w, "GET", "/api/v1/config", "127.0.0.1", NULL, NULL,
	    &o), 200);
	ck_assert_ptr_nonnull(cfgtext = strdup(json_object_to_json_string(o)));
	json_object_put(o);
	ck_assert_int_eq(call(&w, "GET", "/api/v1/services/default", "127.0.0.1", NULL,
	    NULL, &o), 200);
	ck_assert_str_eq(json_object_to_json_string(json_object_object_get(o, "config")),
	    cfgtext);
	ck_assert_int_eq(jint(o, "active"), 0);
	json_object_put(o);
	free(cfgtext);

	/* PATCH: PATCH /api/v1/config's rules, its auth, settings.c's writes. */
	ck_assert_int_eq(call(&w, "PATCH", "/api/v1/services/default", "10.0.0.9", NULL,
	    "{\"requeue\":4}", NULL), 403);
	ck_assert_int_eq(call(&w, "PATCH", "/api/v1/services/default", "127.0.0.1", NULL,
	    "{\"requeue\":101}", NULL), 422);
	ck_assert_uint_eq(w.env.config_gen, 0);
	ck_assert_int_eq(call(&w, "PATCH", "/api/v1/services/default", "127.0.0.1", NULL,
	    "{\"requeue\":4,\"balance\":\"hash\"}", &o), 200);
	ck_assert_str_eq(jstr(o, "name"), "default");
	ck_assert_str_eq(jstr(o, "algorithm"), "hash");
	ck_assert_int_eq(jint(json_object_object_get(o, "config"), "requeue"), 4);
	json_object_put(o);
	ck_assert_int_eq(w.cfg.requeue, 4);
	ck_assert_int_eq(balance_algo(w.balancer), BALANCE_HASH);
	ck_assert_uint_eq(w.env.config_gen, 1);

	/* Unknown or invalid: 404 naming it, escaped (a peer chose it). */
	ck_assert_str_eq(service_error(&w, "GET", "/api/v1/services/nope", err,
	    sizeof(err)), "no service 'nope'");
	ck_assert_str_eq(service_error(&w, "PATCH", "/api/v1/services/nope", err,
	    sizeof(err)), "no service 'nope'");
	ck_assert_str_eq(service_error(&w, "GET", "/api/v1/services/nope/targets", err,
	    sizeof(err)), "no service 'nope'");
	ck_assert_str_eq(service_error(&w, "POST", "/api/v1/services/nope/targets", err,
	    sizeof(err)), "no service 'nope'");
	ck_assert_str_eq(service_error(&w, "DELETE", "/api/v1/services/nope/persistence",
	    err, sizeof(err)), "no service 'nope'");
	ck_assert_str_eq(service_error(&w, "GET", "/api/v1/services/Default", err,
	    sizeof(err)), "no service 'Default': a service name is"
	    " [a-z0-9][a-z0-9_-]{0,62}");
	ck_assert_str_eq(service_error(&w, "GET", "/api/v1/services/\"\n\\\x1b\xff",
	    err, sizeof(err)), "no service '\"\\x0a\\x5c\\x1b\\xff': a service name is"
	    " [a-z0-9][a-z0-9_-]{0,62}");

	/* Targets: registered under the service or naming it; each shows it. */
	ck_assert_int_eq(call(&w, "POST", "/api/v1/services/default/targets", "127.0.0.1",
	    NULL, "{\"port\":1080}", &o), 201);
	ck_assert_str_eq(jstr(o, "service"), "default");
	json_object_put(o);
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "127.0.0.1", NULL,
	    "{\"port\":1081,\"service\":\"default\"}", &o), 201);
	ck_assert_str_eq(jstr(o, "service"), "default");
	json_object_put(o);
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "127.0.0.1", NULL,
	    "{\"port\":1082,\"service\":\"web\"}", &o), 404);
	ck_assert_str_eq(jstr(o, "error"), "no service 'web'");
	json_object_put(o);
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "127.0.0.1", NULL,
	    "{\"port\":1082,\"service\":\"Web\"}", NULL), 422);
	ck_assert_int_eq(call(&w, "POST", "/api/v1/services/default/targets", "127.0.0.1",
	    NULL, "{\"port\":1082,\"service\":\"web\"}", NULL), 422);
	ck_assert_int_eq(call(&w, "POST", "/api/v1/services/default/targets", "10.0.0.9",
	    NULL, "{\"port\":1082}", NULL), 403);
	ck_assert_uint_eq(pool_count(w.pool), 2);
	ck_assert_int_eq(call(&w, "GET", "/api/v1/services/default/targets", "10.0.0.9",
	    NULL, NULL, &o), 200);
	a = json_object_object_get(o, "targets");
	ck_assert_uint_eq(json_object_array_length(a), 2);
	for (size_t i = 0; i < 2; i++)
		ck_assert_str_eq(jstr(json_object_array_get_idx(a, i), "service"), "default");
	json_object_put(o);
	ck_assert_int_eq(call(&w, "GET", "/api/v1/targets/2", "10.0.0.9", NULL, NULL,
	    &o), 200);
	ck_assert_str_eq(jstr(o, "service"), "default");
	json_object_put(o);
	ck_assert_ptr_nonnull(text = api_snapshot(&w.env, &len));
	ck_assert_ptr_nonnull(strstr(text, "\"id\":1,\"service\":\"default\","));
	free(text);

	/* Persistence under the service is the default table. */
	ck_assert_int_eq(persist_set(w.persist, sa(&ss, "127.0.0.2", 1), 1, 0), 0);
	ck_assert_int_eq(persist_set(w.persist, sa(&ss, "127.0.0.3", 1), 2, 0), 0);
	ck_assert_int_eq(call(&w, "GET", "/api/v1/services/default/persistence",
	    "10.0.0.9", NULL, NULL, &o), 200);
	ck_assert_int_eq(jint(o, "count"), 2);
	json_object_put(o);
	ck_assert_int_eq(call(&w, "DELETE", "/api/v1/services/default/persistence/127.0.0.2",
	    "127.0.0.1", NULL, NULL, NULL), 204);
	ck_assert_uint_eq(persist_count(w.persist), 1);
	ck_assert_int_eq(call(&w, "DELETE", "/api/v1/services/default/persistence",
	    "10.0.0.9", NULL, NULL, NULL), 403);
	ck_assert_int_eq(call(&w, "DELETE", "/api/v1/services/default/persistence",
	    "127.0.0.1", NULL, NULL, NULL), 204);
	ck_assert_uint_eq(persist_count(w.persist), 0);

	/* /metrics: per-service series and each target's service; today's kept. */
	ck_assert_ptr_nonnull(text = api_metrics(&w.env, &len));
	ck_assert_ptr_nonnull(strstr(text,
	    "\nharmony_service_targets{service=\"default\",state=\"up\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nharmony_target_info{service=\"default\","
	    "id=\"2\",host=\"127.0.0.1\",port=\"1081\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nharmony_target_weight{id=\"2\","
	    "host=\"127.0.0.1\",port=\"1081\"} 500\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nharmony_targets{state=\"up\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nharmony_connections_accepted_total 0\n"));
	ck_assert_ptr_nonnull(strstr(text,
	    "\nharmony_service_connections_accepted_total{service=\"default\"} 0\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nharmony_service_concurrency_limit"
	    "{service=\"default\"} -1\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nharmony_service_relayed_bytes_total"
	    "{service=\"default\",direction=\"down\"} 0\n"));
	/* Each family once: a second HELP would make the page invalid. */
	snprintf(want, sizeof(want), "# HELP harmony_service_targets ");
	ck_assert_ptr_null(strstr(strstr(text, want) + 1, want));
	free(text);
	world_free(&w);
}
END_TEST

START_TEST(test_stamp)
{
	struct world w;
	struct api_stamp a, b;

	world_init(&w, NULL);
	api_stamp(&w.env, &a);
	api_stamp(&w.env, &b);
	ck_assert(api_stamp_equal(&a, &b));
	ck_assert_int_eq(call(&w, "POST", "/api/v1/targets", "127.0.0.1", NULL,
	    "{\"port\":1080}", NULL), 201);
	api_stamp(&w.env, &b);
	ck_assert(!api_stamp_equal(&a, &b));
	a = b;
	ck_assert_int_eq(call(&w, "PATCH", "/api/v1/config", "127.0.0.1", NULL,
	    "{\"requeue\":2}", NULL), 200);
	api_stamp(&w.env, &b);
	ck_assert(!api_stamp_equal(&a, &b));
	world_free(&w);
}
END_TEST

static Suite *
api_suite(void)
{
	Suite *s = suite_create("api");
	TCase *tc;

	tc = tcase_create("route");
	tcase_add_loop_test(tc, test_route_table, 0, NITEMS(routes));
	tcase_add_test(tc, test_route_allow);
	tcase_add_test(tc, test_route_service);
	suite_add_tcase(s, tc);

	tc = tcase_create("auth");
	tcase_add_loop_test(tc, test_auth_table, 0, NITEMS(auths));
	tcase_add_test(tc, test_auth_admin);
	tcase_add_test(tc, test_bearer);
	tcase_add_test(tc, test_origin);
	tcase_add_test(tc, test_host);
	suite_add_tcase(s, tc);

	tc = tcase_create("bodies");
	tcase_add_loop_test(tc, test_register_table, 0, NITEMS(registers));
	tcase_add_test(tc, test_register_values);
	tcase_add_test(tc, test_duplicate_named);
	tcase_add_loop_test(tc, test_target_patch_table, 0, NITEMS(target_patches));
	tcase_add_test(tc, test_target_patch_values);
	tcase_add_loop_test(tc, test_config_patch_table, 0, NITEMS(config_patches));
	tcase_add_test(tc, test_config_patch_values);
	tcase_add_test(tc, test_content_type);
	suite_add_tcase(s, tc);

	tc = tcase_create("text");
	tcase_add_loop_test(tc, test_static_path, 0, NITEMS(statics));
	tcase_add_test(tc, test_static_limits);
	tcase_add_test(tc, test_prom_escape);
	suite_add_tcase(s, tc);

	/* 8192 targets registered and shown twice: slow under the sanitizers. */
	tc = tcase_create("scale");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_snapshot_targets_bounded);
	suite_add_tcase(s, tc);

	tc = tcase_create("handlers");
	tcase_add_test(tc, test_handlers_register);
	tcase_add_test(tc, test_handlers_token);
	tcase_add_test(tc, test_handlers_config);
	tcase_add_test(tc, test_handlers_errors);
	tcase_add_test(tc, test_handlers_services);
	tcase_add_test(tc, test_stamp);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(api_suite());
	int failed;

	log_init("check_api", LOG_LEVEL_WARN);	/* handlers log every change */
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
