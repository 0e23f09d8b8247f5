/*
 * agentname.h: what a client may call itself. A client names itself on
 * the ack port ("AGENT:<name>:", e.g. AGENT:harmony-agent/0.9:) and
 * harmonyd shows the name with every change it makes: in an event's
 * reason (the JSON of the history and the event stream) and in a log
 * line. So the rule keeps it safe in each without escaping, and keeps it
 * apart from every verb of the protocol: a product and a version, as in
 * an HTTP User-Agent's first product, 1 to AGENT_NAME_MAX bytes
 *
 *	[A-Za-z0-9][A-Za-z0-9._-]* "/" [A-Za-z0-9][A-Za-z0-9._+-]*
 *
 * The '/' it must hold is in no verb: the original node-harmony server,
 * which keeps the tokens it does not know and reads them again, can never
 * take the name for a message.
 */
#ifndef HARMONY_COMMON_AGENTNAME_H
#define HARMONY_COMMON_AGENTNAME_H

#include <stdbool.h>
#include <stddef.h>

#define AGENT_NAME_MAX	64

bool	agent_name_valid(const char *s, size_t len);

#endif
