/*
 * addr.c: see addr.h. The one getaddrinfo loop of the three deliverables
 * (harmonyd's net_resolve, libharmony's balancer addresses, the agent's
 * check target) and the one host:port grammar.
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include "common/addr.h"

int
addr_parse_port(const char *s, uint16_t *port)
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

int
addr_split(const char *s, char *host, size_t hostlen, const char **port,
    char *err, size_t errlen)
{
	const char *start = s, *colon;
	size_t n;

	*port = NULL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (close == NULL || (close[1] != ':' && close[1] != '\0')) {
			snprintf(err, errlen, "bad address '%s': expected [IPV6]:PORT", s);
			return -1;
		}
		start = s + 1;
		n = (size_t)(close - start);
		if (n > 0 && memchr(start, ':', n) == NULL) {
			snprintf(err, errlen, "bad address '%s': brackets are for an"
			    " IPv6 address", s);
			return -1;
		}
		if (close[1] == ':')
			*port = close + 2;
	} else if ((colon = strchr(s, ':')) != NULL) {
		if (strchr(colon + 1, ':') != NULL) {
			snprintf(err, errlen, "bad address '%s': IPv6 needs [brackets]", s);
			return -1;
		}
		n = (size_t)(colon - s);
		*port = colon + 1;
	} else
		n = strlen(s);
	if (n == 0 || n >= hostlen) {
		snprintf(err, errlen, "bad address '%s': %s host", s,
		    n ? "overlong" : "empty");
		*port = NULL;
		return -1;
	}
	memcpy(host, start, n);
	host[n] = '\0';
	return 0;
}

int
addr_numeric(const char *host, uint16_t port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		*len = sizeof(*sin);
		return 0;
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		*len = sizeof(*sin6);
		return 0;
	}
	memset(ss, 0, sizeof(*ss));
	return -1;
}

int
addr_resolve_numeric(const char *host, uint16_t port,
    struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errlen)
{
	struct sockaddr_storage tmp;
	socklen_t tmplen;

	if (*host == '\0') {
		snprintf(err, errlen, "empty host");
		return -1;
	}
	if (strlen(host) >= ADDR_NAME_MAX) {
		snprintf(err, errlen, "host name too long");
		return -1;
	}
	if (addr_numeric(host, port, &tmp, &tmplen) == 0) {
		*ss = tmp;
		*len = tmplen;
		return 0;
	}
	/* getaddrinfo takes "1.2.3" as 1.2.0.3: a typo, never meant. */
	if (strspn(host, "0123456789.") == strlen(host)) {
		snprintf(err, errlen, "bad IPv4 address '%s'", host);
		return -1;
	}
	return 1;
}

static void
set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)(void *)ss)->sin6_port = htons(port);
	else
		((struct sockaddr_in *)(void *)ss)->sin_port = htons(port);
}

int
addr_resolve(const char *host, uint16_t port, struct sockaddr_storage *ss,
    socklen_t *len, size_t max, char *err, size_t errlen)
{
	static const int order[] = { AF_INET, AF_INET6 };
	struct addrinfo hints, *res, *ai;
	size_t n = 0;
	int rc;

	if (max == 0) {
		snprintf(err, errlen, "no room for an address");
		return -1;
	}
	if ((rc = addr_resolve_numeric(host, port, &ss[0], &len[0], err, errlen)) != 1)
		return rc == 0 ? 1 : -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot resolve '%s': %s", host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	/* IPv4 first, as harmonyd binds its own "localhost" (127.0.0.1). */
	for (size_t f = 0; f < sizeof(order) / sizeof(order[0]); f++) {
		for (ai = res; ai != NULL && n < max; ai = ai->ai_next) {
			if (ai->ai_family != order[f] || ai->ai_addrlen > sizeof(ss[n]))
				continue;
			memset(&ss[n], 0, sizeof(ss[n]));
			memcpy(&ss[n], ai->ai_addr, ai->ai_addrlen);
			len[n] = ai->ai_addrlen;
			set_port(&ss[n], port);
			n++;
		}
	}
	freeaddrinfo(res);
	if (n == 0) {
		snprintf(err, errlen, "no IPv4 or IPv6 address for '%s'", host);
		return -1;
	}
	return (int)n;
}

const char *
addr_join(const char *host, uint16_t port, char *buf, size_t len)
{
	snprintf(buf, len, strchr(host, ':') != NULL ? "[%s]:%u" : "%s:%u", host,
	    (unsigned)port);
	return buf;
}
