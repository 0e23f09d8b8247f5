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
 * It knows nothing of the registry. A message that needs it (NID, ID, ACK,
 * CLOSE, and BAL, SPORT, TTL on a bound connection) stops ack_feed with
 * ACK_APPLY and a struct ack_request saying what should happen; the caller
 * (ackreg.c) does it to the pool and hands back a struct ack_outcome to
 * ack_complete, which updates the session and writes the answer; then
 * ack_feed goes on with the rest of the input. Everything else (syntax,
 * AUTH, HOST, the write permission, the per-connection limits, parsing the
 * arguments) is decided here. The session holds the id of the target it is
 * bound to, never a pointer.
 *
 * Re-registrations (issue 13 item 16): node-harmony's client answers a BID
 * with a bare NID:: on its next connection, after resending the message
 * that got the BID, and never sends SPORT again. So a NID on a connection
 * that has been answered a BID is a re-registration (ack_request.again):
 * ackreg.c gives it the host's one lost port-less target, or the key of
 * the one the operator deleted, and adds a target only when the host has
 * neither. A fresh NID (no BID before it) always registers a new
 * target, so one host may run several clients.
 *
 * Services (issue 15): SVC:<name>: picks the service the connection's
 * registration goes to. The name's syntax (common/service.h) is judged
 * here; whether the service exists is the registry side's (ACK_OP_SERVICE,
 * ackreg_service). It must come before the connection's first NID or ID:
 * a later one, a bad name or an unknown service is answered ERR:service:
 * and ends the connection, so that a NID sent behind it in the same burst
 * registers nowhere. A connection that names none registers in the default
 * service, as every node-harmony client does (they never send SVC).
 * ACK, ID and CLOSE find their target by its key, whatever the service.
 *
 * Who (issue 16): AGENT:<name>: names the client (common/agentname.h:
 * AGENT:harmony-agent/0.9:), answered AGENT:<name>:, and every request
 * of the connection from then on carries the name (ack_request.agent):
 * ackreg makes its changes as the agent actor rather than ack, the name
 * their reason. It is a write (as NID: the token, or an allowed peer),
 * no business of the registry's (no request), and comes before the
 * connection's first NID, ID, ACK or CLOSE; a later one again renames.
 * A bad name or a late one is answered ERR:agent: and ends the
 * connection, so that nothing sent behind it is done under the wrong
 * name. A connection that names none (every node-harmony client) is ack.
 *
 * A deleted key (ACK_DELETED) is answered as if it were known (ACK, ID,
 * CLOSE repeat it) and binds nothing: BID would make the client register
 * again, port-less. It stays removed until the client starts afresh.
 */
#ifndef HARMONY_ACKPROTO_H
#define HARMONY_ACKPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/agentname.h"
#include "common/limits.h"
#include "common/service.h"
#include "core/net.h"

#define ACK_VERB_MAX	8	/* "SPORT", "CLOSE" ... */
#define ACK_KEY_LEN	32	/* a target's key: 32 hex digits (pool.h) */

/* What a peer may do, decided by ackport from the token and allow-list. */
struct ack_policy {
	const char	*token;		/* NULL: none configured */
	bool		 peer_allowed;	/* loopback or --allow (matters without token) */
};

/* What a message asks of the registry. */
enum ack_op {
	ACK_OP_REGISTER,	/* NID: a target at host */
	ACK_OP_BIND,		/* ID:<key>: the target to bind to */
	ACK_OP_HEARTBEAT,	/* ACK:<key> */
	ACK_OP_DEREGISTER,	/* CLOSE:<key> */
	ACK_OP_WEIGHT,		/* BAL: the bound target's weight */
	ACK_OP_PORT,		/* SPORT: the bound target's port */
	ACK_OP_TTL,		/* TTL: the bound target's heartbeat timeout */
	ACK_OP_SERVICE,		/* SVC: does the service exist */
	ACK_OP_WRONG_TOKEN,	/* AUTH failed: nothing to change, a log line */
};

struct ack_request {
	enum ack_op	 op;
	struct net_addr	 peer;		/* who sent it */
	/* REGISTER */
	struct net_addr	 host;		/* port 0: the peer's host, or HOST:'s */
	bool		 named_host;	/* given by HOST: */
	bool		 again;		/* after a BID here: a re-registration */
	/* Every request: the name AGENT gave, NULL: none. Valid until
	 * ack_complete. */
	const char	*agent;
	/* REGISTER: the service SVC named, NULL: the default; SERVICE: the
	 * name asked for (valid by common/service.h). Valid until
	 * ack_complete. */
	const char	*service;
	/* BIND, HEARTBEAT, DEREGISTER: ACK_KEY_LEN bytes, no NUL; valid until
	 * ack_complete */
	const char	*key;
	/* WEIGHT, PORT, TTL: the bound target's id */
	uint32_t	 target;
	bool		 made_here;	/* PORT: a NID of this connection made it */
	uint32_t	 weight;	/* WEIGHT: in LIMIT_WEIGHT_MIN..MAX */
	uint16_t	 port;		/* PORT; 0: the argument is not a port */
	int64_t		 ttl_ms;	/* REGISTER (0: the default), TTL */
};

enum ack_status {
	ACK_DONE,		/* done as asked */
	ACK_UNBOUND,		/* WEIGHT, PORT: the bound target is gone */
	ACK_UNKNOWN,		/* keyed: no target has that key (BID);
				   SERVICE: no such service */
	ACK_DELETED,		/* keyed, REGISTER again: a deleted target's key */
	ACK_REFUSED,		/* REGISTER, PORT: reason says why */
};

struct ack_outcome {
	enum ack_status	 status;
	uint32_t	 target;	/* REGISTER, BIND done: the target to bind */
	bool		 created;	/* REGISTER done: a new target, made here */
	bool		 gone;		/* PORT refused: the target was removed */
	char		 key[ACK_KEY_LEN + 1];	/* REGISTER: the answer's key */
	const char	*reason;	/* REFUSED: ERR:<reason>: (no ':') */
};

struct ack_session {
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
	char			 service[SERVICE_NAME_MAX + 1];	/* SVC's; "": none */
	bool			 settled;	/* a NID or ID came: SVC is too late */
	char			 agent[AGENT_NAME_MAX + 1];	/* AGENT's; "": none */
	bool			 acted;		/* a NID, ID, ACK or CLOSE came:
						   AGENT is too late */
	bool			 lost;		/* a BID was answered here */
	uint32_t		 created;	/* target a NID made here, 0 if none */
	bool			 pending;	/* a request waits for ack_complete */
	enum ack_op		 op;		/* what it was */
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
	ACK_APPLY,		/* ack_feed: a request to apply, then ack_complete */
};

#define ACK_MAX_NID_PER_CONN	16

void		 ack_session_init(struct ack_session *, const struct ack_policy *,
		    const struct net_addr *peer);
/*
 * Consumes data and appends the answers to out: all of it (ACK_CONTINUE),
 * up to the end of a message that needs the registry (ACK_APPLY: *req
 * says what, *used how far it got), or up to the end of the connection
 * (ACK_CLOSE). Not to be called while a request waits for ack_complete.
 */
enum ack_result	 ack_feed(struct ack_session *, const char *data, size_t len,
		    struct ack_out *, size_t *used, struct ack_request *req);
/*
 * What came of the request ack_feed handed out: the session takes it in
 * and answers. ACK_CONTINUE (feed the rest) or ACK_CLOSE.
 */
enum ack_result	 ack_complete(struct ack_session *, const struct ack_outcome *,
		    struct ack_out *);
/* Bytes of a partial message held by the parser. */
size_t		 ack_pending(const struct ack_session *);
/*
 * The token changed (SIGHUP): what AUTH proved no longer holds, so the
 * session writes again only after an AUTH with the new token.
 */
void		 ack_session_revoke(struct ack_session *);

#endif
