/*
 * inspect: a session's INSPECT state (proxy_int.h), on a proxy with
 * accept-proxy or sni: its first bytes, read into a buffer that grows up
 * to its bound (a PROXY header's PROXYPROTO_HDR_MAX, plus inspect_max of
 * ClientHello), parsed again after each read by the pure parsers
 * (proxyproto.h, sni.h), which decide as early as the bytes allow. A
 * valid header's source becomes the session's client address; its
 * destination is kept for send-proxy. A ClientHello's server name picks
 * the route, and the session moves to that proxy before it is admitted.
 * Every failure is a session_reject. The bytes read stay in the buffer:
 * the preface sends the client's part to each target (session.c).
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "core/loop.h"
#include "core/net.h"
#include "proxy/proxy_int.h"
#include "proxy/proxyproto.h"
#include "proxy/sni.h"

#define INSPECT_FIRST_SIZE	2048	/* most headers and hellos fit */

int
inspect_begin(struct session *s)
{
	struct proxy *px = s->px;
	struct inspect *ins;

	size_t cap = (px->params.naccept_proxy > 0 ? PROXYPROTO_HDR_MAX : 0) +
	    (px->params.sni ? px->params.inspect_max : 0);

	/* Nothing to read: the caller inspects only with one of the two. */
	if (cap == 0) {
		errno = EINVAL;
		return -1;
	}
	if ((ins = calloc(1, sizeof(*ins))) == NULL)
		return -1;
	ins->need_proxy = px->params.naccept_proxy > 0;
	ins->need_hello = px->params.sni;
	ins->cap = cap;
	ins->size = cap < INSPECT_FIRST_SIZE ? cap : INSPECT_FIRST_SIZE;
	if ((ins->buf = malloc(ins->size)) == NULL) {
		free(ins);
		return -1;
	}
	s->ins = ins;
	return 0;
}

void
inspect_free(struct session *s)
{
	if (s->ins == NULL)
		return;
	free(s->ins->buf);
	free(s->ins);
	s->ins = NULL;
}

/* The header's addresses become the session's (a LOCAL one changes none). */
static void
inspect_take_header(struct session *s, const struct proxyproto_header *h)
{
	struct inspect *ins = s->ins;

	ins->off = h->len;
	ins->need_proxy = false;
	if (h->local || h->srclen == 0 || h->srclen > sizeof(s->client))
		return;
	memset(&s->client, 0, sizeof(s->client));
	memcpy(&s->client, &h->src, h->srclen);
	if (h->dstlen > 0 && h->dstlen <= sizeof(ins->dst)) {
		memcpy(&ins->dst, &h->dst, h->dstlen);
		ins->have_dst = true;
	}
}

/* The server name (NULL: none) picks the proxy; 0, or -1 rejected. */
static int
inspect_route(struct session *s, const char *name)
{
	struct proxy *px = s->px, *to;
	struct route_dest *d;

	if (name != NULL && (s->sni = strdup(name)) == NULL) {
		session_close(s, "error");
		return -1;
	}
	if (px->routes == NULL)
		return 0;
	if ((d = routes_pick(px->routes, name)) == NULL || (to = d->px) == NULL) {
		session_reject(s, PROXY_REJ_NO_ROUTE, name != NULL ?
		    "no route for the server name" : "no server name and no default");
		return -1;
	}
	d->routed++;
	if (to == px)
		return 0;
	/* Its budget units stay taken: every proxy draws on the one budget. */
	TAILQ_REMOVE(&px->sessions, s, entry);
	px->nsessions--;
	if (px->nsessions == 0)
		relaycache_trim(&px->cache);
	s->px = to;
	TAILQ_INSERT_TAIL(&to->sessions, s, entry);
	to->nsessions++;
	return 0;
}

/* Decides what the bytes so far allow: 1 done, 0 more, -1 s is gone. */
static int
inspect_parse(struct session *s)
{
	struct inspect *ins = s->ins;
	struct proxyproto_header h;
	char name[SNI_NAME_MAX + 1];
	const char *why = NULL;

	if (ins->need_proxy) {
		memset(&h, 0, sizeof(h));
		switch (proxyproto_parse(ins->buf, ins->len, &h, &why)) {
		case PROXYPROTO_NEED_MORE:
			if (ins->len < PROXYPROTO_HDR_MAX)
				return 0;
			why = "header too long";
			/* FALLTHROUGH */
		case PROXYPROTO_BAD:
		default:
			session_reject(s, PROXY_REJ_BAD_PROXY, why);
			return -1;
		case PROXYPROTO_OK:
			if (h.len > ins->len) {
				session_reject(s, PROXY_REJ_BAD_PROXY, "header length");
				return -1;
			}
			inspect_take_header(s, &h);
			break;
		}
	}
	if (ins->need_hello) {
		switch (sni_parse(ins->buf + ins->off, ins->len - ins->off, name, &why)) {
		case SNI_NEED_MORE:
			if (ins->len - ins->off < s->px->params.inspect_max &&
			    ins->len < ins->cap)
				return 0;
			session_reject(s, PROXY_REJ_TOO_BIG, "ClientHello over inspect-max");
			return -1;
		case SNI_NOT_TLS:
			session_reject(s, PROXY_REJ_NOT_TLS, why);
			return -1;
		case SNI_BAD:
		default:
			session_reject(s, PROXY_REJ_BAD_HELLO, why);
			return -1;
		case SNI_FOUND:
			name[SNI_NAME_MAX] = '\0';
			ins->need_hello = false;
			return inspect_route(s, name) == -1 ? -1 : 1;
		case SNI_NONE:
			ins->need_hello = false;
			return inspect_route(s, NULL) == -1 ? -1 : 1;
		}
	}
	return 1;
}

void
inspect_on_client(struct session *s, short revents)
{
	struct inspect *ins = s->ins;
	uint8_t *grown;
	ssize_t n;

	if (revents & POLLNVAL) {
		session_close(s, "error");
		return;
	}
	if (ins->len == ins->size) {
		size_t size = ins->size * 2 < ins->cap ? ins->size * 2 : ins->cap;

		if ((grown = realloc(ins->buf, size)) == NULL) {
			session_close(s, "error");
			return;
		}
		ins->buf = grown;
		ins->size = size;
	}
	/* One read per wake-up: the loop is level-triggered and comes back. */
	n = recv(s->cfd, ins->buf + ins->len, ins->size - ins->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n < 0) {
		(void)net_set_linger0(s->cfd);
		session_close(s, "client-reset");
		return;
	}
	if (n == 0) {
		session_close(s, "client-closed");
		return;
	}
	ins->len += (size_t)n;
	if (inspect_parse(s) != 1)
		return;
	loop_timer_cancel(s->px->loop, &s->timer);
	/* Parked again, as it waits for a slot. */
	loop_set_events(s->px->loop, s->cfd, 0);
	session_admit(s);
}
