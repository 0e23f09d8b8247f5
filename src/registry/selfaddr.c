/*
 * selfaddr: see selfaddr.h. Both lists are short (a few listeners, the
 * host's interface addresses), so a match is a linear walk; it runs only
 * when a target is registered or given a port.
 */
#include "autoconfig.h"

#include <sys/types.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/net.h"
#include "registry/selfaddr.h"

/* An address reduced to what a connect reaches: family and bytes. */
struct host {
	int		 family;	/* AF_INET or AF_INET6 */
	uint8_t		 bytes[16];
};

struct listener {
	struct host	 host;
	uint16_t	 port;
	struct net_addr	 addr;		/* as bound, for messages */
	const char	*what;
};

struct selfaddr {
	struct listener	 listeners[SELFADDR_LISTENERS_MAX];
	size_t		 nlisteners;
	struct host	*local;
	size_t		 nlocal;
	bool		 local_loaded;
};

static int
host_of(const struct sockaddr *sa, struct host *h)
{
	memset(h, 0, sizeof(*h));
	if (sa->sa_family == AF_INET) {
		h->family = AF_INET;
		memcpy(h->bytes, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			h->family = AF_INET;
			memcpy(h->bytes, a->s6_addr + 12, 4);
		} else {
			h->family = AF_INET6;
			memcpy(h->bytes, a->s6_addr, 16);
		}
		return 0;
	}
	errno = EINVAL;
	return -1;
}

static bool
host_equal(const struct host *a, const struct host *b)
{
	return a->family == b->family &&
	    memcmp(a->bytes, b->bytes, a->family == AF_INET ? 4 : 16) == 0;
}

static bool
host_unspecified(const struct host *h)
{
	static const uint8_t zero[16];

	return memcmp(h->bytes, zero, h->family == AF_INET ? 4 : 16) == 0;
}

static bool
host_loopback(const struct host *h)
{
	static const uint8_t one[16] = { [15] = 1 };

	if (h->family == AF_INET)
		return h->bytes[0] == 127;
	return memcmp(h->bytes, one, 16) == 0;
}

static bool
host_local(const struct selfaddr *s, const struct host *h)
{
	if (host_unspecified(h) || host_loopback(h))
		return true;
	for (size_t i = 0; i < s->nlocal; i++)
		if (host_equal(&s->local[i], h))
			return true;
	return false;
}

struct selfaddr *
selfaddr_new(void)
{
	return calloc(1, sizeof(struct selfaddr));
}

void
selfaddr_free(struct selfaddr *s)
{
	if (s == NULL)
		return;
	free(s->local);
	free(s);
}

int
selfaddr_add_listener(struct selfaddr *s, const struct sockaddr *sa, const char *what)
{
	struct listener *l;

	if (s->nlisteners == SELFADDR_LISTENERS_MAX) {
		errno = ENOSPC;
		return -1;
	}
	l = &s->listeners[s->nlisteners];
	if (host_of(sa, &l->host) == -1)
		return -1;
	l->port = net_addr_port(sa);
	memset(&l->addr, 0, sizeof(l->addr));
	l->addr.len = net_addr_len(sa);
	memcpy(&l->addr.ss, sa, l->addr.len);
	l->what = what;
	s->nlisteners++;
	/* Without the interface list, loopback and 0.0.0.0 are still known. */
	if (host_unspecified(&l->host) && !s->local_loaded)
		(void)selfaddr_load_local(s);
	return 0;
}

int
selfaddr_add_local(struct selfaddr *s, const struct sockaddr *sa)
{
	struct host h, *grown;

	if (host_of(sa, &h) == -1)
		return -1;
	if (host_local(s, &h))
		return 0;
	if (s->nlocal == SELFADDR_LOCAL_MAX) {
		errno = ENOSPC;
		return -1;
	}
	if ((grown = realloc(s->local, (s->nlocal + 1) * sizeof(*grown))) == NULL)
		return -1;
	s->local = grown;
	s->local[s->nlocal++] = h;
	return 0;
}

int
selfaddr_load_local(struct selfaddr *s)
{
	struct ifaddrs *ifa, *i;

	if (getifaddrs(&ifa) == -1)
		return -1;
	s->nlocal = 0;
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || (i->ifa_addr->sa_family != AF_INET &&
		    i->ifa_addr->sa_family != AF_INET6))
			continue;
		if (selfaddr_add_local(s, i->ifa_addr) == -1 && errno == ENOSPC)
			break;
	}
	freeifaddrs(ifa);
	s->local_loaded = true;
	return 0;
}

const char *
selfaddr_match(const struct selfaddr *s, const struct sockaddr *sa, char *listener,
    size_t len)
{
	struct host h;
	uint16_t port;

	if (s == NULL || host_of(sa, &h) == -1)
		return NULL;
	port = net_addr_port(sa);
	for (size_t i = 0; i < s->nlisteners; i++) {
		const struct listener *l = &s->listeners[i];

		if (l->port != port || l->host.family != h.family)
			continue;
		/*
		 * connect() to 0.0.0.0 or :: reaches this host: whatever
		 * listens there on that port.
		 */
		if (host_equal(&l->host, &h) || host_unspecified(&h) ||
		    (host_unspecified(&l->host) && host_local(s, &h))) {
			if (listener != NULL)
				net_addr_text((const struct sockaddr *)&l->addr.ss,
				    listener, len);
			return l->what;
		}
	}
	return NULL;
}

const char *
selfaddr_explain(const struct selfaddr *s, const struct sockaddr *sa, char *buf,
    size_t len)
{
	char name[NET_ADDRSTRLEN], listener[NET_ADDRSTRLEN];
	const char *what;

	if ((what = selfaddr_match(s, sa, listener, sizeof(listener))) == NULL)
		return NULL;
	snprintf(buf, len, "%s is harmonyd's own %s listener (%s)",
	    net_addr_text(sa, name, sizeof(name)), what, listener);
	return buf;
}
