/*
 * proxy_int.h: what the files of the proxy share, and nothing outside
 * src/proxy/ may include.
 *
 *   proxy.c     the proxy object: parameters, counters, and what a change
 *               of them does to every session (the queue released, a new
 *               idle timeout)
 *   session.c   a session from accept to close (the state machine below)
 *   listener.c  the listening sockets, on the one accept path (acceptor.h)
 *   inspect.c   a session's first bytes: the PROXY header (proxyproto.h)
 *               and the ClientHello (sni.h), then its route
 *   routes.c    the SNI routes, server name -> another proxy
 *   relay.c     the bytes of a connected session (relay.h), on buffers
 *               and pipes from relaycache.c
 *
 * A session moves through these states, never back:
 *
 *   INSPECT ──► QUEUED ──► CONNECTING ──► PREFACE ──► RELAY ──► (closed)
 *      │           │            │ fail: requeue  │
 *      │ bad       │            │ to another target, or
 *      ▼           └────────────┴────────────────┴──► UNAVAIL ──► LINGER ──► (closed)
 *   (closed)
 *
 * INSPECT (only on a proxy with accept-proxy or sni) reads the PROXY
 * header and the ClientHello into a bounded buffer within the inspect
 * timeout, holding no slot and no target; a session routed by SNI moves
 * to the other proxy's lists there, before QUEUED, and any failure closes
 * it with no unavailable text. QUEUED waits for a concurrency slot (FIFO);
 * CONNECTING, PREFACE and RELAY hold a slot ("active") and a reference on
 * their target. PREFACE (only with send-proxy or inspected bytes) writes
 * this connection's PROXY header, then the bytes inspection read, to the
 * target before the relay starts: a requeued connect writes them again. UNAVAIL writes the
 * unavailable text; LINGER then half-closes and discards what the client
 * still sends for a moment, so that closing with unread input does not turn
 * our answer into a reset. session_close is the only way a session ends.
 *
 * Every fd a session opens comes out of the proxy's share of the fd budget
 * (acceptor.h): two units from accept to close (its client socket, and its
 * target socket whichever target it is), two more per pipe while the pipe
 * exists (relaycache.h).
 */
#ifndef HARMONY_PROXY_INT_H
#define HARMONY_PROXY_INT_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "proxy/proxy.h"
#include "proxy/proxyproto.h"
#include "proxy/relay.h"
#include "proxy/relaycache.h"
#include "registry/pool.h"

#define PROXY_MAX_TRIES		101	/* 1 + the largest --requeue */
#define PROXY_SESSION_FDS	2	/* budget units: client and target */
#define PROXY_INSPECT_MAX	65536	/* inspect_max at most */

enum session_state {
	S_NEW,		/* accepted, about to start or queue */
	S_INSPECT,
	S_QUEUED,
	S_CONNECTING,
	S_PREFACE,
	S_RELAY,
	S_UNAVAIL,
	S_LINGER,
};

/* The unavailable text, shared by the sessions writing it. */
struct message {
	unsigned	 refs;
	size_t		 len;
	char		 data[];
};

/*
 * What inspection read, kept until the relay starts: the client's bytes
 * (after a PROXY header) go to each target connection, after its header.
 */
struct inspect {
	uint8_t			*buf;
	size_t			 len;		/* read so far */
	size_t			 size;		/* allocated, grows up to cap */
	size_t			 cap;		/* the bound */
	size_t			 off;		/* the client's bytes start here */
	bool			 need_proxy;	/* a PROXY header still due */
	bool			 need_hello;
	bool			 have_dst;	/* the header's destination */
	struct sockaddr_storage	 dst;
	uint8_t			 hdr[PROXYPROTO_BUILD_MAX];	/* this connection's */
	size_t			 hdrlen;
	size_t			 hdr_sent;	/* of hdr, this connection */
	size_t			 sent;		/* of buf + off, this connection */
};

struct session {
	TAILQ_ENTRY(session)	 entry;		/* px->sessions */
	TAILQ_ENTRY(session)	 qentry;	/* px->queue, while queued */
	struct proxy		*px;
	enum session_state	 state;
	int			 cfd;
	int			 tfd;		/* -1 unless connecting/relaying */
	union {
		struct sockaddr		 sa;
		struct sockaddr_in	 sin;
		struct sockaddr_in6	 sin6;
	}			 client;	/* not sockaddr_storage: 28 bytes, not 128 */
	struct target		*target;	/* referenced while connecting/relaying */
	/*
	 * Ids of the targets tried (a pointer could be a freed target's, or a
	 * new one at its address): most sessions try one, so the first two
	 * live here and a longer requeue allocates.
	 */
	uint32_t		*tried;
	uint32_t		 tried_inline[2];
	size_t			 ntried;
	size_t			 tried_cap;
	struct relay		 relay;		/* in RELAY */
	struct inspect		*ins;		/* NULL unless inspecting or a preface */
	char			*sni;		/* the server name, for the access log */
	uint64_t		 pre_up;	/* client bytes the preface sent */
	struct message		*msg;
	size_t			 msg_off;
	size_t			 discarded;
	const char		*end;		/* why it is unavailable */
	int64_t			 started;
	int64_t			 connect_at;	/* loop ms this target's connect began */
	struct loop_timer	 timer;
	char			 target_name[TARGET_NAME_MAX];
};

struct listener {
	SLIST_ENTRY(listener)	 entry;
	struct acceptor		*acc;
	struct net_addr		 addr;		/* as bound (port 0 resolved) */
};

TAILQ_HEAD(session_list, session);

/* One destination of the SNI routes. */
struct route_dest {
	char			*name;		/* a service's */
	struct proxy		*px;		/* NULL: unresolved, or gone */
	uint64_t		 routed;
};

struct proxy_routes {
	struct sni_map		*map;		/* pattern -> index in dests, as text */
	struct route_dest	*dests;
	size_t			 ndests;
	long			 def;		/* index in dests; -1: close */
};

struct proxy {
	struct loop		*loop;
	struct pool		*pool;
	struct balancer		*balancer;
	struct persist		*persist;
	struct proxy_params	 params;	/* unavailable points into msg, */
	struct net_cidr		*accept;	/* ... accept_proxy into this */
	struct proxy_routes	*routes;	/* NULL: SNI sessions stay */
	int64_t			 reject_logged;	/* second of the last refusal lines */
	unsigned		 reject_lines;	/* ... in that second */
	struct message		*msg;
	SLIST_HEAD(, listener)	 listeners;
	struct session_list	 sessions;
	struct session_list	 queue;
	size_t			 nsessions;
	size_t			 nqueued;
	size_t			 nactive;
	struct fdbudget		*budget;	/* NULL: none */
	int64_t			 local_logged;	/* last "our own error" line */
	struct loop_timer	 dequeue_timer;	/* hand free slots to the queue */
	struct loop_timer	 idle_timer;	/* a new idle timeout reaches sessions */
	size_t			 idle_left;	/* ... this many still to visit */
	struct relaycache	 cache;
	struct proxy_stats	 stats;
};

/* proxy.c */
bool	 proxy_slot_free(const struct proxy *);
void	 message_unref(struct message *);

/* session.c */
/* The acceptor's callback: a new client, its budget units taken. */
void	 session_accept(void *proxy, int fd, const struct sockaddr *, socklen_t);
/* Takes a concurrency slot and starts connecting. */
void	 session_start(struct session *);
/* Inspection is over: served while a slot is free, else queued. */
void	 session_admit(struct session *);
/* Closed while inspected: counted, logged, no unavailable text. */
void	 session_reject(struct session *, enum proxy_reject, const char *why);

/* inspect.c */
/* A new client of a proxy that inspects: -1 if it cannot (no memory). */
int	 inspect_begin(struct session *);
/* The client is readable (or failed) while inspected. */
void	 inspect_on_client(struct session *, short revents);
void	 inspect_free(struct session *);

/* routes.c */
/* Where a server name (NULL: none) goes; NULL: closed (no route). */
struct route_dest *routes_pick(struct proxy_routes *, const char *name);
/*
 * The only way a session ends: releases everything it owns, fixes the
 * counters and writes its access-log line. The caller returns at once.
 */
void	 session_close(struct session *, const char *reason);

/* listener.c */
/* Listening follows the queue: a full queue stops accepting. */
void	 listeners_update(struct proxy *);
/* Every listener stops for ms (our own shortage of fds). */
void	 listeners_pause(struct proxy *, int64_t ms);

#endif
