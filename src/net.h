/*
 * net: addresses and sockets, with no knowledge of sessions or the loop.
 *
 * Parsing resolves names once, at configuration time (getaddrinfo may
 * block; it is never called from the loop). Every socket made here is
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

#define NET_HOSTSTRLEN	46			/* INET6_ADDRSTRLEN */
#define NET_ADDRSTRLEN	(NET_HOSTSTRLEN + 8)	/* "[v6]:port" */

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
/* A host (name or numeric) and a port. */
int		 net_resolve(const char *host, uint16_t port, struct net_addr *,
		    char *err, size_t errlen);
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

#endif
