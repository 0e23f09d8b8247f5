/*
 * listener: the proxy's listening sockets, each on the one accept path of
 * the daemon (acceptor.h), which hands new clients to session_accept.
 * Listening follows the queue (a full queue stops accepting) and pauses
 * when a session meets our own shortage of fds.
 */
#include "autoconfig.h"

#include <sys/queue.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/acceptor.h"
#include "core/net.h"
#include "proxy/proxy_int.h"

#define PROXY_DRAIN_MAX		1024	/* queued connections taken at stop */

/* With no queue (--queue-max 0), a client finding no slot is refused. */
static bool
accept_allowed(const struct proxy *px)
{
	return px->params.queue_max == 0 ||
	    px->nqueued < (uint64_t)px->params.queue_max;
}

void
listeners_update(struct proxy *px)
{
	struct listener *ln;
	bool on = accept_allowed(px);

	SLIST_FOREACH(ln, &px->listeners, entry)
		acceptor_enable(ln->acc, on);
}

void
listeners_pause(struct proxy *px, int64_t ms)
{
	struct listener *ln;

	SLIST_FOREACH(ln, &px->listeners, entry)
		acceptor_pause(ln->acc, ms);
}

int
proxy_listen(struct proxy *px, const struct net_addr *a, struct net_addr *bound,
    char *err, size_t errlen)
{
	struct listener *ln;
	int fd;

	/* Before the socket: acceptor_new owns fd from then on, even failing. */
	if ((ln = calloc(1, sizeof(*ln))) == NULL) {
		snprintf(err, errlen, "listener: %s", strerror(errno));
		return -1;
	}
	/* Accepted sockets inherit TCP_NODELAY: one setsockopt, not one each. */
	if ((fd = net_listen(a, 1024, NET_LISTEN_REUSEPORT | NET_LISTEN_NODELAY,
	    err, errlen)) == -1) {
		free(ln);
		return -1;
	}
	if (net_local_addr(fd, &ln->addr) == -1)
		ln->addr = *a;
	if (bound != NULL)
		*bound = ln->addr;
	ln->acc = acceptor_new(px->loop, fd, &(struct acceptor_params){
	    .what = "clients", .budget = px->budget, .user = FD_USER_PROXY,
	    .need = PROXY_SESSION_FDS, .batch = PROXY_ACCEPT_BATCH,
	    .on_accept = session_accept, .arg = px,
	    .errors = &px->stats.accept_errors });
	if (ln->acc == NULL) {
		snprintf(err, errlen, "listener: %s", strerror(errno));
		free(ln);
		return -1;
	}
	SLIST_INSERT_HEAD(&px->listeners, ln, entry);
	listeners_update(px);
	return 0;
}

size_t
proxy_listeners(const struct proxy *px, struct net_addr *out, size_t max)
{
	const struct listener *ln;
	size_t n = 0, i = 0;

	SLIST_FOREACH(ln, &px->listeners, entry)
		n++;
	/* The list is newest first. */
	SLIST_FOREACH(ln, &px->listeners, entry) {
		i++;
		if (n - i < max)
			out[n - i] = ln->addr;
	}
	return n;
}

void
proxy_stop_accepting(struct proxy *px)
{
	struct listener *ln;

	while ((ln = SLIST_FIRST(&px->listeners)) != NULL) {
		/*
		 * Take what already waits in the accept queue: closing the
		 * listener would reset those clients. With SO_REUSEPORT a new
		 * harmonyd on the same port takes the ones that come after
		 * (and with net.ipv4.tcp_migrate_req=1 the kernel hands it any
		 * that arrive between this drain and the close).
		 */
		for (int i = 0; i < PROXY_DRAIN_MAX / PROXY_ACCEPT_BATCH &&
		    acceptor_accepting(ln->acc); i++)
			acceptor_run(ln->acc);
		SLIST_REMOVE_HEAD(&px->listeners, entry);
		acceptor_free(ln->acc);
		free(ln);
	}
}
