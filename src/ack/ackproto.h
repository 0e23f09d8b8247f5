/*
 * ackproto: node-harmony's registration protocol, without any I/O.
 *
 * A byte stream of tokens, each ended by ':'. A message is a verb and (for
 * every verb but BYE) one argument. Input may be split anywhere; the parser
 * keeps the partial token. ack_feed() consumes bytes and appends every
 * answer to the caller's output buffer, so that ackport can send all the
 * answers to one read in one write (the reference client splits each chunk
 * it reads on ':' by itself, and a token cut across two reads breaks it).
 *
 * The session borrows the pool; it holds the id of the target it is bound
 * to, never a pointer.
 *
 * Re-registrations (issue 13 item 16): node-harmony's client answers a BID
 * with a bare NID:: on its next connection, after resending the message
 * that got the BID, and never sends SPORT again. So a NID on a connection
 * that has been answered a BID is a re-registration: it gets the host's
 * one lost port-less target (pool_find_lost), or the key of the one the
 * operator deleted (pool_deleted_lost), and adds a target only when the
 * host has neither. A fresh NID (no BID before it) always registers a new
 * target, so one host may run several clients.
 *
 * A deleted key (pool_delete) is answered as if it were known (ACK, ID,
 * CLOSE repeat it) and binds nothing: BID would make the client register
 * again, port-less. It stays removed until the client starts afresh.
 */
#ifndef HARMONY_ACKPROTO_H
#define HARMONY_ACKPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/limits.h"
#include "core/net.h"

struct pool;

#define ACK_VERB_MAX	8	/* "SPORT", "CLOSE" ... */

/* What a peer may do, decided by ackport from the token and allow-list. */
struct ack_policy {
	const char	*token;		/* NULL: none configured */
	bool		 peer_allowed;	/* loopback or --allow (matters without token) */
	/* Asked before every NID; NULL: no limit. */
	bool		(*may_register)(void *arg, const struct net_addr *peer);
	void		*arg;
};

struct ack_session {
	struct pool		*pool;
	const struct ack_policy	*policy;
	struct net_addr		 peer;
	/* parser */
	char			 tok[LIMIT_TOKEN_MAX + 1];
	size_t			 toklen;
	char			 verb[ACK_VERB_MAX + 1];
	bool			 have_verb;	/* next token is its argument */
	/* protocol */
	uint32_t		 bound;		/* target id, 0 if none */
	bool			 authed;
	bool			 has_host;	/* HOST: given for the next NID */
	struct net_addr		 host;
	int64_t			 ttl_ms;	/* TTL: given for the next NID; 0 none */
	unsigned		 registrations;	/* NIDs on this connection */
	bool			 lost;		/* a BID was answered here */
	uint32_t		 created;	/* target a NID made here, 0 if none */
};

/* Output of one ack_feed call. */
struct ack_out {
	char	*buf;
	size_t	 len;
	size_t	 cap;		/* ack_feed never writes beyond it */
};

enum ack_result {
	ACK_CONTINUE,
	ACK_CLOSE,		/* BYE, or an error that ends the connection */
};

#define ACK_MAX_NID_PER_CONN	16

void		 ack_session_init(struct ack_session *, struct pool *,
		    const struct ack_policy *, const struct net_addr *peer);
/*
 * Consumes all of data (unless it returns ACK_CLOSE, then *used tells how
 * much) and appends the answers to out.
 */
enum ack_result	 ack_feed(struct ack_session *, const char *data, size_t len,
		    struct ack_out *, size_t *used);
/* Bytes of a partial message held by the parser. */
size_t		 ack_pending(const struct ack_session *);
/*
 * The token changed (SIGHUP): what AUTH proved no longer holds, so the
 * session writes again only after an AUTH with the new token.
 */
void		 ack_session_revoke(struct ack_session *);

#endif
