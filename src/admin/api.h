/*
 * api: the admin REST interface, /metrics and the SSE snapshot, without
 * any HTTP library.
 *
 * admin.c (libmicrohttpd) turns a request into a struct api_request and a
 * struct api_reply back into a response; routing, the auth decision, the
 * validation of JSON bodies and the handlers live here. Routing, auth and
 * the body parsers are pure functions (no I/O, no globals, no clock), so
 * that tests/unit/check_api.c covers them without a server.
 *
 * The routes of services (/api/v1/services...) run the same handlers as
 * today's routes, which mean the default service; which names are
 * services only api_service_find says.
 *
 * An api_env borrows every part it names; they outlive it. A runtime change
 * (PATCH /api/v1/config or /api/v1/services/{name}) goes through settings.h, the one writer of
 * env->cfg, so that the config always holds the values in force. Replies own their body (malloc'd);
 * api_reply_free releases it. A target's key appears only in the answer to
 * the registration that created it, or to a caller proving it holds the
 * key or the admin token; never in a list, a log line or /metrics.
 */
#ifndef HARMONY_API_H
#define HARMONY_API_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "common/service.h"
#include "core/net.h"

struct config;
struct cfg_cidr;
struct json_object;
struct loop;
struct pool;
struct balancer;
struct persist;
struct proxy;
struct selfaddr;
struct target;

#define API_BODY_MAX		(64 * 1024)	/* bytes of a request body */
#define API_JSON_DEPTH		16		/* nesting of a request body */
#define API_ERR_MAX		256		/* reason texts */
#define API_PERSIST_LIMIT	1000		/* GET /api/v1/persistence default */
#define API_PERSIST_LIMIT_MAX	10000		/* ... and its ?limit= cap */
#define API_SNAPSHOT_PERSIST	200		/* entries in an SSE snapshot */
/*
 * Targets in an SSE snapshot: every service's up to this many in all,
 * else the default service's alone if it has no more, else none
 * ("targets_complete": false says so; GET /api/v1/services/{name}/targets
 * has them): a snapshot is rebuilt on every change, and building megabytes
 * of JSON in the loop would hold up every session.
 */
#define API_SNAPSHOT_TARGETS	8192
#define API_EVENTS_LIMIT	100		/* GET .../events/history default */

enum api_handler {
	API_NOT_FOUND,		/* 404 */
	API_BAD_METHOD,		/* 405; route.allow holds the Allow header */
	API_TARGETS_LIST,
	API_TARGETS_CREATE,
	API_TARGET_GET,
	API_TARGET_PATCH,
	API_TARGET_DELETE,
	API_TARGET_ACK,
	API_PERSIST_LIST,
	API_PERSIST_FLUSH,
	API_PERSIST_FORGET,
	API_STATUS,
	API_CONFIG_GET,
	API_CONFIG_PATCH,
	API_EVENTS,		/* served by admin.c (SSE) */
	API_METRICS,
	API_STATIC,		/* served by admin.c (web root) */
	API_SERVICES_LIST,
	API_SERVICE_GET,
	API_SERVICE_PATCH,
	API_EVENTS_HISTORY,	/* /api/v1[/services/{name}|/targets/{id}]/events/history */
};

/*
 * A service's name as a path gave it (/api/v1/services/{name}/...),
 * cut to fit: shown in the 404 of a name that is no service.
 */
#define API_SERVICE_TEXT	80

struct api_route {
	enum api_handler handler;
	bool		 write;		/* anything but GET/HEAD: needs auth */
	bool		 one_target;	/* that target's key authorises it too */
	bool		 json_body;	/* takes a JSON body (Content-Type checked) */
	uint32_t	 target_id;	/* /targets/{id} */
	char		 client[NET_HOSTSTRLEN];	/* /persistence/{client} */
	const char	*allow;		/* methods of this path, for 405 */
	/*
	 * /api/v1/services/{name}/...: the targets and persistence handlers
	 * then act on that service; without it, on the default service.
	 */
	bool		 has_service;
	bool		 service_valid;	/* service_name_valid (service.h) */
	char		 service[API_SERVICE_TEXT];	/* NUL-terminated, maybe cut */
};

/*
 * Maps a method and a (percent-decoded) path to a handler. HEAD is GET.
 * Anything outside /api/ and /metrics is a static file (GET and HEAD only).
 */
void		 api_route(const char *method, const char *path, struct api_route *);
const char	*api_handler_name(enum api_handler);

/* --- auth -------------------------------------------------------------- */

struct api_policy {
	const char		*token;		/* NULL: none configured */
	const struct cfg_cidr	*allow;		/* --allow networks */
	size_t			 nallow;
};

/* What a caller has proved. */
struct api_auth {
	bool	 token_ok;	/* Authorization: Bearer <admin token> */
	bool	 key_ok;	/* Bearer <key of the route's target> */
	bool	 peer_ok;	/* loopback or an --allow network */
};

/*
 * authorization is the raw header (NULL if absent); target_key the key of
 * the route's target (NULL if the route names none).
 */
void		 api_auth_check(const struct api_policy *, const struct sockaddr *peer,
		    const char *authorization, const char *target_key, struct api_auth *);
/*
 * 0 if the route may run, else 401 (a token is configured and the caller
 * has not shown it, nor the target's key) or 403 (no token configured and
 * the peer is neither loopback nor --allow, nor holds the key). Reads
 * always pass.
 */
int		 api_auth_decide(const struct api_policy *, const struct api_auth *,
		    const struct api_route *);
/* The caller may act on any target: token, or no token and an allowed peer. */
bool		 api_auth_admin(const struct api_policy *, const struct api_auth *);
/*
 * A browser names the page that sends a request in Origin. A write whose
 * Origin is not this server (scheme://Host) is a cross-site request
 * forgery: refused whatever else it carries. No Origin: not a browser.
 */
bool		 api_origin_ok(const char *origin, const char *host);
/*
 * DNS rebinding: a page of any site can point its own name at our address
 * and then talk to us same-origin, Host and Origin both naming its site;
 * so a request is served only when its Host names this server: loopback
 * (localhost, *.localhost, 127.0.0.0/8, [::1]), the name the listen
 * address was given by, the --admin-host names, and any address at which
 * the admin listener is reached (self: its address, or on a wildcard one
 * every address of the host, as selfaddr.h knows them). Any port. No Host
 * (HTTP/1.0): not a browser, fine.
 */
struct api_hosts {
	const char *const	*names;		/* --admin-host: lower case, no final dot */
	size_t			 nnames;
	const char		*listen_name;	/* as --http/--host gave it, or NULL */
	const struct selfaddr	*self;		/* our listeners, or NULL */
	uint16_t		 port;		/* the admin listener's */
};
bool		 api_host_ok(const char *host, const struct api_hosts *);
/* The token of "Bearer <token>" (scheme case-insensitive), or NULL. */
const char	*api_bearer(const char *authorization, size_t *len);

/* --- request bodies ------------------------------------------------------ */

/*
 * Each parser returns 0, or an HTTP status with a one-line reason in err:
 * 400 for text that is not one JSON object (syntax, trailing data, a NUL
 * byte, nesting deeper than API_JSON_DEPTH), 422 for an object with an
 * unknown field, a missing field, a wrong type or a value out of range.
 */
int		 api_parse_object(const char *body, size_t len, struct json_object **,
		    char *err, size_t errlen);

struct api_register {
	bool		 has_host;
	struct net_addr	 host;		/* numeric IPv4 or IPv6, port 0 */
	uint16_t	 port;		/* 1..65535, required */
	bool		 has_weight;
	uint32_t	 weight;	/* 1..1000000 */
	bool		 has_ttl;
	int64_t		 ttl_ms;	/* "60s" or 60 (seconds): 1 s .. 24 h */
	bool		 has_service;
	char		 service[SERVICE_NAME_MAX + 1];	/* a valid name (service.h) */
};
int		 api_parse_register(const char *body, size_t len, struct api_register *,
		    char *err, size_t errlen);

struct api_target_patch {
	bool		 has_weight;
	uint32_t	 weight;
	bool		 has_state;
	bool		 drain;		/* "draining"; false: "up" */
};
int		 api_parse_target_patch(const char *body, size_t len,
		    struct api_target_patch *, char *err, size_t errlen);

struct api_config_patch {
	bool		 has_concurrency;
	int64_t		 concurrency;	/* -1 unlimited, 0 paused */
	bool		 has_requeue;
	int64_t		 requeue;
	bool		 has_balance;
	int		 balance;	/* enum balance_algo */
	bool		 has_persistent;
	bool		 persistent;
	bool		 has_unavailable;
	char		*unavailable;	/* malloc'd; NULL: none (JSON null or "") */
	size_t		 unavailable_len;
};
int		 api_parse_config_patch(const char *body, size_t len,
		    struct api_config_patch *, char *err, size_t errlen);
void		 api_config_patch_free(struct api_config_patch *);

/* A ttl value: a JSON integer of seconds or a duration text. */
int		 api_parse_ttl(struct json_object *, int64_t *ms, char *err, size_t errlen);
/* "application/json", with optional parameters ("; charset=utf-8"). */
bool		 api_content_type_json(const char *content_type);
/*
 * A static file path (percent-decoded by MHD) to a path relative to the web
 * root: "/" is "index.html"; every segment only [A-Za-z0-9._-], not empty,
 * not starting with '.', at most 255 bytes. -1 if refused.
 */
int		 api_static_path(const char *path, char *rel, size_t relsize);
/* Content-Type by file name extension; octet-stream if unknown. */
const char	*api_mime_type(const char *rel);
/* Prometheus label value escaping (\\, \", \n); -1 if out is too small. */
int		 api_prom_escape(const char *in, char *out, size_t outlen);

/* --- services ------------------------------------------------------------ */

/*
 * A service as the API sees it: its name and the parts it owns
 * (src/service/service.h), borrowed. cfg is its struct config
 * (config.h), whose tunables settings.h writes. api_service_find is the
 * one place that says whether a name is a service.
 */
struct api_service {
	const char	*name;
	struct config	*cfg;
	struct pool	*pool;
	struct balancer	*balancer;
	struct persist	*persist;
	struct proxy	*proxy;
};

struct api_env;
/* The services, in the order they are listed; *n of them. */
const struct api_service *api_services(const struct api_env *, size_t *n);
/*
 * The service of registrations and routes that name none (config.h:
 * the default service). Never NULL.
 */
const struct api_service *api_service_default(const struct api_env *);
/*
 * The service of that name (len bytes, no NUL needed), or NULL;
 * "default", when no service has that name, is the default one.
 */
const struct api_service *api_service_find(const struct api_env *, const char *name,
		    size_t len);
/* The service a target belongs to. */
const struct api_service *api_target_service(const struct api_env *,
		    const struct target *);

/* --- handlers ------------------------------------------------------------ */

struct api_env {
	struct config	*cfg;		/* the daemon's: token, allow... */
	struct loop	*loop;
	const struct api_service *services;	/* at least one */
	size_t		 nservices;
	size_t		 default_index;	/* of services[] */
	int64_t		 started_ms;	/* loop ms at start, for uptime */
	uint64_t	 config_gen;	/* bumped by every runtime config change */
};

struct api_request {
	const struct api_route	*route;
	const struct sockaddr	*peer;
	const char		*authorization;	/* header, or NULL */
	const char		*content_type;	/* header, or NULL */
	const char		*origin;	/* header, or NULL */
	const char		*host;		/* header, or NULL */
	const char		*body;		/* NUL-terminated, or NULL */
	size_t			 body_len;
	const char		*limit;		/* ?limit= of GET persistence */
};

struct api_reply {
	int		 status;
	char		*body;		/* malloc'd; NULL: empty */
	size_t		 len;
	const char	*content_type;	/* static text */
	const char	*allow;		/* 405: the Allow header */
	bool		 challenge;	/* 401: WWW-Authenticate: Bearer */
	char		 location[48];	/* 201: the new target's URL */
};

void		 api_handle(struct api_env *, const struct api_request *, struct api_reply *);
void		 api_reply_error(struct api_reply *, int status, const char *reason);
void		 api_reply_free(struct api_reply *);

/*
 * Changes when anything a snapshot shows has changed: a sum of every
 * service's versions and counters, each of which only grows or moves
 * (a service list change bumps config_gen).
 */
struct api_stamp {
	uint64_t	 v[10];
};
void		 api_stamp(const struct api_env *, struct api_stamp *);
bool		 api_stamp_equal(const struct api_stamp *, const struct api_stamp *);
/* SSE snapshot: status, targets and the most recent persistence entries. */
char		*api_snapshot(struct api_env *, size_t *len);
/*
 * The daemon's history of target changes (registry/events.h), shared by
 * every service; NULL if it could not be made.
 */
struct events	*api_events(const struct api_env *);
/*
 * One event as an SSE event ("event: target\ndata: {...}\n\n") in buf;
 * its length, or 0 if it does not fit or memory ran out.
 */
struct event;
size_t		 api_event_text(const struct event *, char *buf, size_t len);
/* Prometheus text exposition format 0.0.4. */
char		*api_metrics(struct api_env *, size_t *len);

#define API_JSON_TYPE	"application/json"
#define API_METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
