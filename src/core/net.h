/*
 * net: addresses and sockets, with no knowledge of sessions or the loop.
 *
 * Names are resolved with getaddrinfo, which may wait seconds for a name
 * server: the loop never calls net_resolve (nor the parsers that resolve).
 * Start-up calls them before the loop runs; a reload parses with the
 * _numeric variants, which never ask DNS, and resolves what remains in a
 * child process (resolve.h). Every socket made here is
 * non-blocking and close-on-exec, and belongs to the caller. Functions that
 * make syscalls return -1 with errno set; parsers return -1 with a one-line
 * reason in err.
 */
#ifndef HARMONY_NET_H
#define HARMONY_NET_H

#include <sys/socket.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"

/* The grammar is common/addr.h's, shared with libharmony and the agent. */
#define NET_HOSTSTRLEN	ADDR_HOSTSTRLEN
#define NET_ADDRSTRLEN	ADDR_TEXTLEN
#define NET_NAME_MAX	ADDR_NAME_MAX

struct net_addr {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
};

struct net_cidr {
	int		 family;	/* AF_INET or AF_INET6 */
	uint8_t		 bytes[16];
	unsigned	 prefix;
};

/*
 * "[ADDR:]PORT", "HOST:PORT", "[V6]:PORT" or "PORT" (then default_host).
 * HOST may be a name: the first address getaddrinfo gives, IPv4 first;
 * "localhost" is 127.0.0.1. Port 0 is allowed (an ephemeral port).
 */
int		 net_parse_listen(const char *, const char *default_host,
		    struct net_addr *, char *err, size_t errlen);
/* "HOST:PORT" or "[V6]:PORT": both parts required, port 1..65535. */
int		 net_parse_hostport(const char *, struct net_addr *, char *err, size_t errlen);
/*
 * A host (name or numeric) and a port: addr_resolve's first address, with
 * "localhost" as 127.0.0.1. May block: never on the loop.
 */
int		 net_resolve(const char *host, uint16_t port, struct net_addr *,
		    char *err, size_t errlen);
/*
 * The part of net_resolve that asks no DNS: 0 with *out set for a numeric
 * host or "localhost", 1 for a name (*out zeroed), -1 with err.
 */
int		 net_resolve_numeric(const char *host, uint16_t port,
		    struct net_addr *, char *err, size_t errlen);
/* net_parse_listen without DNS: 1 (and *out untouched) for a host name. */
int		 net_parse_listen_numeric(const char *, const char *default_host,
		    struct net_addr *, char *err, size_t errlen);
/*
 * net_parse_hostport without DNS: 0 with *out set for a numeric host; 1
 * for a host name, copied into name (NET_NAME_MAX bytes), with *out zeroed
 * and the port in *port, to be resolved later; -1 with err.
 */
int		 net_parse_hostport_numeric(const char *, struct net_addr *,
		    char *name, uint16_t *port, char *err, size_t errlen);
/* "10.0.0.0/8", "::1", "fd00::/8"; a bare address is a /32 or /128. */
int		 net_parse_cidr(const char *, struct net_cidr *, char *err, size_t errlen);
bool		 net_cidr_match(const struct net_cidr *, const struct sockaddr *);
bool		 net_is_loopback(const struct sockaddr *);
/* "0", "65535": strict, no sign, no garbage. */
int		 net_parse_port(const char *, uint16_t *);

/*
 * Listening socket (SO_REUSEADDR, and what flags ask). On failure, errno
 * and, unless err is NULL, "listen on ADDR: reason" in err.
 */
#define NET_LISTEN_REUSEPORT	0x1	/* a second daemon may bind it too */
#define NET_LISTEN_NODELAY	0x2	/* inherited by every accepted socket */
int		 net_listen(const struct net_addr *, int backlog, unsigned flags,
		    char *err, size_t errlen);
/* Starts a non-blocking connect; returns the fd (EINPROGRESS is success). */
int		 net_connect(const struct sockaddr *, socklen_t);
/* 0 once connected, else the errno of the failed connect. */
int		 net_connect_error(int fd);
/*
 * Whether a connect error is our own shortage (no fd, no local port, no
 * memory, a full epoll set) rather than anything about the peer.
 */
bool		 net_errno_local(int);
int		 net_set_nodelay(int fd);
/* Close will send a RST instead of a FIN. */
int		 net_set_linger0(int fd);
int		 net_local_addr(int fd, struct net_addr *);

/* "1.2.3.4:80", "[::1]:80" */
const char	*net_addr_text(const struct sockaddr *, char *buf, size_t len);
/* "1.2.3.4", "::1" (an IPv4-mapped IPv6 address as IPv4) */
const char	*net_host_text(const struct sockaddr *, char *buf, size_t len);
uint16_t	 net_addr_port(const struct sockaddr *);
void		 net_addr_set_port(struct sockaddr *, uint16_t);
socklen_t	 net_addr_len(const struct sockaddr *);
/* Same family, address and port. */
bool		 net_addr_equal(const struct sockaddr *, const struct sockaddr *);

/*
 * Closes fd once: 0 when it is closed, -1 with errno on a real error.
 * EINTR counts as closed: Linux releases the fd before it reports the
 * interruption, so a retry could close a descriptor opened meanwhile.
 */
int		 net_close(int fd);

#endif
