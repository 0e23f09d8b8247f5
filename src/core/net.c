/*
 * net: see net.h.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/net.h"

int
net_parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
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

static int
numeric_host(const char *host, uint16_t port, struct net_addr *out)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&out->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)&out->ss;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		out->len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		out->len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

int
net_resolve_numeric(const char *host, uint16_t port, struct net_addr *out,
    char *err, size_t errlen)
{
	if (*host == '\0') {
		snprintf(err, errlen, "empty host");
		return -1;
	}
	if (strlen(host) >= NET_NAME_MAX) {
		snprintf(err, errlen, "host name too long");
		return -1;
	}
	if (numeric_host(host, port, out) == 0)
		return 0;
	/* getaddrinfo takes "1.2.3" as 1.2.0.3: a typo, never meant. */
	if (strspn(host, "0123456789.") == strlen(host)) {
		snprintf(err, errlen, "bad IPv4 address '%s'", host);
		return -1;
	}
	/* Listeners bind "localhost" by default: make it one stable address. */
	if (strcasecmp(host, "localhost") == 0)
		return numeric_host("127.0.0.1", port, out);
	return 1;
}

int
net_resolve(const char *host, uint16_t port, struct net_addr *out, char *err,
    size_t errlen)
{
	struct addrinfo hints, *res, *ai, *pick = NULL;
	int rc;

	if ((rc = net_resolve_numeric(host, port, out, err, errlen)) != 1)
		return rc;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET) {
			pick = ai;
			break;
		}
		if (ai->ai_family == AF_INET6 && pick == NULL)
			pick = ai;
	}
	if (pick == NULL || pick->ai_addrlen > sizeof(out->ss)) {
		freeaddrinfo(res);
		snprintf(err, errlen, "no IPv4 or IPv6 address for '%s'", host);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	memcpy(&out->ss, pick->ai_addr, pick->ai_addrlen);
	out->len = pick->ai_addrlen;
	net_addr_set_port((struct sockaddr *)&out->ss, port);
	freeaddrinfo(res);
	return 0;
}

/*
 * Splits "HOST:PORT", "[V6]:PORT" or (when allowed) "PORT" into a host
 * (copied into hostbuf, NULL when absent) and a port text.
 */
static int
split_hostport(const char *s, char *hostbuf, size_t hostlen, const char **host,
    const char **port, char *err, size_t errlen)
{
	const char *colon;
	size_t n;

	*host = NULL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':') {
			snprintf(err, errlen, "bad address '%s': expected [IPV6]:PORT", s);
			return -1;
		}
		n = (size_t)(close - s - 1);
		*port = close + 2;
		s++;
	} else if ((colon = strrchr(s, ':')) != NULL) {
		if (strchr(s, ':') != colon) {
			snprintf(err, errlen, "bad address '%s': IPv6 needs [brackets]", s);
			return -1;
		}
		n = (size_t)(colon - s);
		*port = colon + 1;
	} else {
		*port = s;
		return 0;
	}
	if (n == 0 || n >= hostlen) {
		snprintf(err, errlen, "bad address '%s': %s host", s, n ? "overlong" : "empty");
		return -1;
	}
	memcpy(hostbuf, s, n);
	hostbuf[n] = '\0';
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

	if (split_hostport(s, hostbuf, sizeof(hostbuf), &host, &port_text, err,
	    errlen) == -1)
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

	if (split_hostport(s, hostbuf, sizeof(hostbuf), &host, &port_text, err,
	    errlen) == -1)
		return -1;
	if (host == NULL) {
		snprintf(err, errlen, "bad address '%s': expected HOST:PORT", s);
		return -1;
	}
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
	const uint8_t *b;
	int family = addr_bytes(sa, &b);

	net_host_text(sa, host, sizeof(host));
	snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", host,
	    (unsigned)net_addr_port(sa));
	return buf;
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
