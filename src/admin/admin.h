/*
 * admin: the HTTP admin interface (libmicrohttpd) inside our poll loop.
 *
 * One MHD daemon in external-poll epoll mode, no thread of its own: the
 * loop watches MHD's single epoll fd, admin owns the loop's prepare hook
 * to shorten poll's timeout to MHD_get_timeout, and MHD_run runs when the
 * epoll fd is readable, when MHD's timeout is due (it keeps edge-triggered
 * sockets with unread data on an internal list), and after every resume of
 * a suspended connection (there is no ITC in this mode).
 *
 * admin enforces the limits (connections in all and per client address,
 * idle timeout, request deadlines, memory per connection, body size) and
 * the Host check, and routes: the dashboard's files to webroot.h, the
 * event stream to sse.h, every other route to api_handle (api.h), which
 * does the routing, auth and JSON.
 *
 * It borrows everything named in struct admin_params (they must outlive
 * it) and owns the MHD daemon, the event streams (an sse) and the web
 * root's directory fd.
 */
#ifndef HARMONY_ADMIN_H
#define HARMONY_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/net.h"

struct config;
struct fdbudget;
struct loop;
struct pool;
struct balancer;
struct persist;
struct proxy;
struct admin;

/*
 * Limits. The per-address limit leaves a single client (or a browser with
 * its 6 connections and an event stream) plenty, while one address cannot
 * take all of ADMIN_CONN_MAX; a request must arrive whole (header and
 * body) within ADMIN_TIMEOUT_S of the connection's start or of the
 * previous request's end, and a connection idle that long is closed. The
 * event streams' own limits are in sse.h (SSE_MAX subscribers).
 */
#define ADMIN_CONN_MAX		512
#define ADMIN_CONN_SPARE	16		/* beyond conn_max, while the oldest goes */
#define ADMIN_CONN_PER_IP	64
#define ADMIN_TIMEOUT_S		15
#define ADMIN_MEMORY_LIMIT	(32 * 1024)	/* MHD pool: headers, URL */

struct admin_params {
	struct config	*cfg;		/* token, allow, web_root; runtime tunables */
	struct loop	*loop;
	/* One service's parts, until admin_set_services tells them all. */
	struct pool	*pool;
	struct balancer	*balancer;
	struct persist	*persist;
	struct proxy	*proxy;
	struct fdbudget	*budget;	/* its connections' fds; NULL: none */
	unsigned	 conn_max;	/* 0: ADMIN_CONN_MAX */
	unsigned	 conn_per_ip;	/* 0: ADMIN_CONN_PER_IP */
	unsigned	 timeout_s;	/* 0: ADMIN_TIMEOUT_S */
};

struct admin	*admin_new(const struct admin_params *);
/*
 * Starts the MHD daemon on a (port 0: an ephemeral port) and opens the web
 * root; the real address goes to *bound. One listener per admin.
 */
int		 admin_listen(struct admin *, const struct net_addr *,
		    struct net_addr *bound, char *err, size_t errlen);
/* No new connections; event streams end. Requests in progress finish. */
void		 admin_stop(struct admin *);
/* Ends every connection and frees everything; NULL is fine. */
void		 admin_free(struct admin *);
size_t		 admin_subscribers(const struct admin *);
/*
 * Bumped by every runtime change of the config (PATCH /api/v1/config),
 * whose new values are already in the struct config: for whoever saves it.
 */
uint64_t	 admin_config_version(const struct admin *);
struct api_service;
/*
 * The services to show and act on (api.h), borrowed until the next call:
 * harmonyd's, at start and after each reload. n >= 1.
 */
void		 admin_set_services(struct admin *, const struct api_service *,
		    size_t n, size_t default_index);

#endif
