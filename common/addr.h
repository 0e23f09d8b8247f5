/*
 * addr.h: the address rules the daemon, libharmony and the agent share:
 * port numbers, "HOST:PORT" with IPv6 in brackets, numeric hosts, name
 * resolution, and "host:port" text.
 *
 * One grammar for all three: a port is 1 to 5 decimal digits up to 65535
 * (no sign, no blank; whether 0 is allowed is the caller's rule); an IPv6
 * address goes in brackets whenever a port may follow, and brackets hold
 * nothing else; a host is never empty; a string of digits and dots is an
 * IPv4 address or a mistake, never a name ("1.2.3" is not 1.2.0.3).
 *
 * Parsers return -1 with a one-line reason in err. addr_resolve may wait
 * seconds for a name server: never call it from an event loop.
 */
#ifndef HARMONY_COMMON_ADDR_H
#define HARMONY_COMMON_ADDR_H

#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>

#define ADDR_HOSTSTRLEN	46			/* INET6_ADDRSTRLEN */
#define ADDR_TEXTLEN	(ADDR_HOSTSTRLEN + 8)	/* "[v6]:port" */
#define ADDR_NAME_MAX	256			/* a host name, with its NUL */

/* "0" to "65535": digits only, at most five of them. */
int	addr_parse_port(const char *, uint16_t *);

/*
 * Splits "HOST:PORT", "[V6]:PORT", "[V6]" or "HOST" (no colon): the host
 * copied into host (hostlen bytes), *port the text after the colon, or
 * NULL when there is none (the caller decides if it may be missing; the
 * port text is not checked). Refused: a missing ']' or anything but
 * ":PORT" after it, brackets around what is no IPv6 address, an IPv6
 * address without brackets (more than one colon), an empty host, a host
 * longer than hostlen - 1.
 */
int	addr_split(const char *, char *host, size_t hostlen, const char **port,
	    char *err, size_t errlen);

/* A numeric IPv4 or IPv6 host into *ss (zeroed first) and *len: 0, else -1. */
int	addr_numeric(const char *host, uint16_t port, struct sockaddr_storage *,
	    socklen_t *len);

/*
 * The part of addr_resolve that asks no name server: 0 with *ss set for a
 * numeric host, 1 for a name (*ss untouched), -1 with err for an empty or
 * overlong host or digits and dots that are no IPv4 address.
 */
int	addr_resolve_numeric(const char *host, uint16_t port,
	    struct sockaddr_storage *, socklen_t *len, char *err, size_t errlen);

/*
 * A host, numeric or a name (getaddrinfo), with port: up to max addresses
 * into ss[] and len[], the IPv4 ones first, then IPv6; returns how many
 * (at least one), or -1 with err. May block.
 */
int	addr_resolve(const char *host, uint16_t port, struct sockaddr_storage *ss,
	    socklen_t *len, size_t max, char *err, size_t errlen);

/* "host:port", or "[host]:port" for an IPv6 host (one with a colon). */
const char *addr_join(const char *host, uint16_t port, char *buf, size_t len);

#endif
