/*
 * selfaddr: the addresses at which harmonyd would reach itself.
 *
 * A target at one of our own listeners sends each client back into
 * harmonyd, which picks that target again: one client connection became a
 * thousand sessions. The pool refuses such targets (pool.h); this module
 * knows which addresses they are.
 *
 * A listener on an address covers that address and port. A wildcard one
 * (0.0.0.0, [::]) covers, on its port, every address of the host in its
 * family: the unspecified address, loopback (127.0.0.0/8, ::1) and the
 * interfaces' addresses, read with getifaddrs(3) by selfaddr_load_local
 * (at start and on SIGHUP, never per request). An IPv4-mapped IPv6 address
 * counts as IPv4: our IPv6 listeners are IPV6_V6ONLY, and the pool
 * connects to mapped addresses over IPv4.
 *
 * The set owns copies of what it is given; `what` strings are static.
 */
#ifndef HARMONY_SELFADDR_H
#define HARMONY_SELFADDR_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>

#define SELFADDR_LISTENERS_MAX	16
#define SELFADDR_LOCAL_MAX	256	/* interface addresses kept */

struct selfaddr;

struct selfaddr	*selfaddr_new(void);
void		 selfaddr_free(struct selfaddr *);
/*
 * A bound listener ("client", "ack", "http"). The first wildcard one loads
 * the local addresses if that was not done yet. -1: EINVAL (family) or
 * ENOSPC (SELFADDR_LISTENERS_MAX).
 */
int		 selfaddr_add_listener(struct selfaddr *, const struct sockaddr *,
		    const char *what);
/* Replaces the local addresses with the interfaces' (getifaddrs). */
int		 selfaddr_load_local(struct selfaddr *);
/* Adds one local address (getifaddrs does it; tests too). */
int		 selfaddr_add_local(struct selfaddr *, const struct sockaddr *);
/*
 * Which listener a connection to sa (address and port) would reach: its
 * `what`, with its address in text form in listener[] if given; NULL if
 * none.
 */
const char	*selfaddr_match(const struct selfaddr *, const struct sockaddr *,
		    char *listener, size_t len);
/*
 * "ADDR is harmonyd's own WHAT listener (LISTENER)" in buf if sa is one of
 * ours (buf returned), else NULL: the one wording of the log lines.
 */
const char	*selfaddr_explain(const struct selfaddr *, const struct sockaddr *,
		    char *buf, size_t len);

#endif
