/*
 * net: see net.h.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/net.h"

int
net_parse_port(const char *s, uint16_t *port)
{
	return addr_parse_port(s, port);
}

socklen_t
net_addr_len(const struct sockaddr *sa)
{
	return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

uint16_t
net_addr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	return 0;
}

void
net_addr_set_port(struct sockaddr *sa, uint16_t port)
{
	if (sa->sa_family == AF_INET6)
		((struct sockaddr_in6 *)(void *)sa)->sin6_port = htons(port);
	else if (sa->sa_family == AF_INET)
		((struct sockaddr_in *)(void *)sa)->sin_port = htons(port);
}

int
net_resolve_numeric(const char *host, uint16_t port, struct net_addr *out,
    char *err, size_t errlen)
{
	int rc = addr_resolve_numeric(host, port, &out->ss, &out->len, err, errlen);

	/* Listeners bind "localhost" by default: make it one stable address. */
	if (rc == 1 && strcasecmp(host, "localhost") == 0)
		rc = addr_numeric("127.0.0.1", port, &out->ss, &out->len);
	if (rc == 1)
		memset(out, 0, sizeof(*out));
	return rc;
}

int
net_resolve(const char *host, uint16_t port, struct net_addr *out, char *err,
    size_t errlen)
{
	int rc;

	if ((rc = net_resolve_numeric(host, port, out, err, errlen)) != 1)
		return rc;
	return addr_resolve(host, port, &out->ss, &out->len, 1, err, errlen) == -1 ?
	    -1 : 0;
}

/*
 * Splits s as addr_split does, or takes it for a port alone (no colon, no
 * bracket) where port_only allows; host NULL then.
 */
static int
split_hostport(const char *s, bool port_only, char *hostbuf, size_t hostlen,
    const char **host, const char **port, char *err, size_t errlen)
{
	*host = NULL;
	if (s[0] != '[' && strchr(s, ':') == NULL && port_only) {
		*port = s;
		return 0;
	}
	if (addr_split(s, hostbuf, hostlen, port, err, errlen) == -1)
		return -1;
	if (*port == NULL) {
		snprintf(err, errlen, "bad address '%s': expected %s", s,
		    s[0] == '[' ? "[IPV6]:PORT" : "HOST:PORT");
		return -1;
	}
	*host = hostbuf;
	return 0;
}

/* net_parse_listen, resolving names only if dns. */
static int
parse_listen(const char *s, const char *default_host, struct net_addr *out,
    bool dns, char *err, size_t errlen)
{
	char hostbuf[NET_NAME_MAX];
	const char *host, *port_text;
	uint16_t port;

	if (split_hostport(s, true, hostbuf, sizeof(hostbuf), &host, &port_text,
	    err, errlen) == -1)
		return -1;
	if (net_parse_port(port_text, &port) == -1) {
		snprintf(err, errlen, "bad port '%s'", port_text);
		return -1;
	}
	if (host == NULL)
		host = default_host;
	return dns ? net_resolve(host, port, out, err, errlen) :
	    net_resolve_numeric(host, port, out, err, errlen);
}

int
net_parse_listen(const char *s, const char *default_host, struct net_addr *out,
    char *err, size_t errlen)
{
	return parse_listen(s, default_host, out, true, err, errlen);
}

int
net_parse_listen_numeric(const char *s, const char *default_host,
    struct net_addr *out, char *err, size_t errlen)
{
	return parse_listen(s, default_host, out, false, err, errlen);
}

int
net_parse_hostport_numeric(const char *s, struct net_addr *out, char *name,
    uint16_t *port, char *err, size_t errlen)
{
	char hostbuf[NET_NAME_MAX];
	const char *host, *port_text;
	int rc;

	if (split_hostport(s, false, hostbuf, sizeof(hostbuf), &host, &port_text,
	    err, errlen) == -1)
		return -1;
	if (net_parse_port(port_text, port) == -1 || *port == 0) {
		snprintf(err, errlen, "bad port '%s'", port_text);
		return -1;
	}
	if ((rc = net_resolve_numeric(host, *port, out, err, errlen)) == 1) {
		memset(out, 0, sizeof(*out));
		memcpy(name, host, strlen(host) + 1);	/* split_hostport bounds it */
	}
	return rc;
}

int
net_parse_hostport(const char *s, struct net_addr *out, char *err, size_t errlen)
{
	char name[NET_NAME_MAX];
	uint16_t port;
	int rc;

	if ((rc = net_parse_hostport_numeric(s, out, name, &port, err, errlen)) != 1)
		return rc;
	return net_resolve(name, port, out, err, errlen);
}

int
net_parse_cidr(const char *s, struct net_cidr *out, char *err, size_t errlen)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= sizeof(buf)) {
		snprintf(err, errlen, "bad network '%s'", s);
		return -1;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, out->bytes) == 1) {
		out->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, out->bytes) == 1) {
		out->family = AF_INET6;
		max = 128;
	} else {
		snprintf(err, errlen, "bad network '%s': not a numeric address", s);
		return -1;
	}
	out->prefix = max;
	if (slash != NULL) {
		uint16_t v;
		if (net_parse_port(slash + 1, &v) == -1 || v > max) {
			snprintf(err, errlen, "bad network '%s': prefix must be 0..%u", s, max);
			return -1;
		}
		out->prefix = v;
	}
	/* Clear host bits so that matching is a plain prefix compare. */
	for (unsigned bit = out->prefix; bit < max; bit++)
		out->bytes[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
	return 0;
}

/* The address bytes of sa, with an IPv4-mapped IPv6 address seen as IPv4. */
static int
addr_bytes(const struct sockaddr *sa, const uint8_t **bytes)
{
	*bytes = NULL;
	if (sa->sa_family == AF_INET) {
		*bytes = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		return AF_INET;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			*bytes = a->s6_addr + 12;
			return AF_INET;
		}
		*bytes = a->s6_addr;
		return AF_INET6;
	}
	return -1;
}

bool
net_cidr_match(const struct net_cidr *c, const struct sockaddr *sa)
{
	const uint8_t *b = NULL;
	unsigned full, rest;

	if (addr_bytes(sa, &b) != c->family)
		return false;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	/* NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): b is set whenever the families match */
	if (memcmp(b, c->bytes, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((b[full] ^ c->bytes[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

bool
net_is_loopback(const struct sockaddr *sa)
{
	const uint8_t *b;

	switch (addr_bytes(sa, &b)) {
	case AF_INET:
		return b[0] == 127;
	case AF_INET6:
		return IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)(const void *)b);
	default:
		return false;
	}
}

int
net_listen(const struct net_addr *a, int backlog, unsigned flags, char *err,
    size_t errlen)
{
	char text[NET_ADDRSTRLEN];
	int fd, saved, one = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto bad;
	if ((flags & NET_LISTEN_REUSEPORT) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == -1)
		goto bad;
	if ((flags & NET_LISTEN_NODELAY) && net_set_nodelay(fd) == -1)
		goto bad;
	if (a->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto bad;
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1)
		goto bad;
	if (listen(fd, backlog) == -1)
		goto bad;
	return fd;
bad:
	saved = errno;
	close(fd);
	errno = saved;
fail:
	saved = errno;
	if (err != NULL)
		snprintf(err, errlen, "listen on %s: %s",
		    net_addr_text((const struct sockaddr *)&a->ss, text, sizeof(text)),
		    strerror(saved));
	errno = saved;
	return -1;
}

int
net_connect(const struct sockaddr *sa, socklen_t len)
{
	int fd;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if (connect(fd, sa, len) == -1 && errno != EINPROGRESS) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
net_connect_error(int fd)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		return errno;
	return e;
}

bool
net_errno_local(int e)
{
	switch (e) {
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
	case ENOSPC:
	case EADDRNOTAVAIL:	/* no local port left */
	case EADDRINUSE:
	case EAGAIN:		/* Linux: no port or route cache entry */
		return true;
	default:
		return false;
	}
}

int
net_set_nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
net_set_linger0(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	return setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

int
net_local_addr(int fd, struct net_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->len = sizeof(a->ss);
	return getsockname(fd, (struct sockaddr *)&a->ss, &a->len);
}

const char *
net_host_text(const struct sockaddr *sa, char *buf, size_t len)
{
	const uint8_t *b;
	int family = addr_bytes(sa, &b);

	if (family == -1 || inet_ntop(family, b, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

const char *
net_addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[NET_HOSTSTRLEN];

	return addr_join(net_host_text(sa, host, sizeof(host)), net_addr_port(sa),
	    buf, len);
}

bool
net_addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	const uint8_t *ba = NULL, *bb = NULL;
	int fa = addr_bytes(a, &ba), fb = addr_bytes(b, &bb);

	if (fa == -1 || fa != fb || net_addr_port(a) != net_addr_port(b))
		return false;
	return memcmp(ba, bb, fa == AF_INET ? 4 : 16) == 0;
}

int
net_close(int fd)
{
	if (close(fd) == -1 && errno != EINTR)
		return -1;
	return 0;
}
