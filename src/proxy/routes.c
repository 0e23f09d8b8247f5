/*
 * routes: a proxy's SNI routes (proxy.h), server name -> destination.
 *
 * The map (sni.h) holds, for each pattern, the index of its destination
 * as text, so that a lookup costs the map's O(labels) and no walk. The
 * destinations are service names, resolved to proxies by the owner of
 * the proxies (service.c) whenever the set of them changes: a session
 * never follows a pointer resolved before the last change.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/proxy.h"
#include "proxy/proxy_int.h"
#include "proxy/sni.h"

#define ROUTES_DEST_MAX		4096	/* distinct services, far above config's */

/* The index of service in dests, added if new; -1 with errno. */
static long
routes_dest(struct proxy_routes *r, const char *service)
{
	struct route_dest *grown;
	char *name;

	for (size_t i = 0; i < r->ndests; i++)
		if (strcmp(r->dests[i].name, service) == 0)
			return (long)i;
	if (r->ndests >= ROUTES_DEST_MAX) {
		errno = ENOSPC;
		return -1;
	}
	if ((grown = realloc(r->dests, (r->ndests + 1) * sizeof(*grown))) == NULL)
		return -1;
	r->dests = grown;
	if ((name = strdup(service)) == NULL)
		return -1;
	grown[r->ndests] = (struct route_dest){ .name = name };
	return (long)r->ndests++;
}

struct proxy_routes *
proxy_routes_new(const char *def)
{
	struct proxy_routes *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->def = -1;
	if ((r->map = sni_map_new()) == NULL ||
	    (def != NULL && (r->def = routes_dest(r, def)) == -1)) {
		proxy_routes_free(r);
		return NULL;
	}
	return r;
}

int
proxy_routes_add(struct proxy_routes *r, const char *pattern,
    const char *service, const char **why)
{
	char index[24];
	long i;

	if ((i = routes_dest(r, service)) == -1)
		return -1;
	snprintf(index, sizeof(index), "%ld", i);
	return sni_map_add(r->map, pattern, index, why);
}

void
proxy_routes_free(struct proxy_routes *r)
{
	if (r == NULL)
		return;
	sni_map_free(r->map);
	for (size_t i = 0; i < r->ndests; i++)
		free(r->dests[i].name);
	free(r->dests);
	free(r);
}

struct route_dest *
routes_pick(struct proxy_routes *r, const char *name)
{
	const char *v = name != NULL ? sni_map_find(r->map, name) : NULL;
	unsigned long i;
	char *end;

	if (v == NULL)
		return r->def >= 0 ? &r->dests[r->def] : NULL;
	i = strtoul(v, &end, 10);
	/* Our own text: never anything else, but never trusted past dests. */
	if (*end != '\0' || i >= r->ndests)
		return NULL;
	return &r->dests[i];
}

void
proxy_set_routes(struct proxy *px, struct proxy_routes *r)
{
	struct proxy_routes *old = px->routes;

	if (r != NULL && old != NULL)
		for (size_t i = 0; i < r->ndests; i++)
			for (size_t j = 0; j < old->ndests; j++)
				if (strcmp(r->dests[i].name, old->dests[j].name) == 0)
					r->dests[i].routed = old->dests[j].routed;
	px->routes = r;
	proxy_routes_free(old);
}

void
proxy_resolve_routes(struct proxy *px, proxy_find_fn *find, void *arg)
{
	struct proxy_routes *r = px->routes;

	if (r == NULL)
		return;
	for (size_t i = 0; i < r->ndests; i++)
		r->dests[i].px = find(arg, r->dests[i].name);
}

size_t
proxy_routed(const struct proxy *px, size_t i, const char **to, uint64_t *n)
{
	const struct proxy_routes *r = px->routes;

	if (r == NULL)
		return 0;
	if (i < r->ndests) {
		*to = r->dests[i].name;
		*n = r->dests[i].routed;
	}
	return r->ndests;
}
