/*
 * relaycache: see relaycache.h.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "core/acceptor.h"
#include "core/net.h"
#include "proxy/relaycache.h"

void
relaycache_init(struct relaycache *c)
{
	memset(c, 0, sizeof(*c));
}

void
relaycache_set_fdbudget(struct relaycache *c, struct fdbudget *b)
{
	c->budget = b;
}

char *
relaycache_buf_get(struct relaycache *c)
{
	if (c->nbufs > 0)
		return c->bufs[--c->nbufs];
	return malloc(RELAY_BUF_SIZE);
}

void
relaycache_buf_put(struct relaycache *c, char *buf)
{
	if (buf == NULL)
		return;
	if (c->nbufs < RELAYCACHE_BUFS)
		c->bufs[c->nbufs++] = buf;
	else
		free(buf);
}

int
relaycache_pipe_get(struct relaycache *c, int p[2])
{
	if (c->npipes > 0) {
		c->npipes--;
		p[0] = c->pipes[c->npipes][0];
		p[1] = c->pipes[c->npipes][1];
		return 0;
	}
	if (!fdbudget_take(c->budget, FD_USER_PROXY, 2)) {
		errno = EMFILE;
		return -1;
	}
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == -1) {
		fdbudget_give(c->budget, FD_USER_PROXY, 2);
		return -1;
	}
	return 0;
}

static void
pipe_close(struct relaycache *c, const int p[2])
{
	for (int i = 0; i < 2; i++)
		if (net_close(p[i]) == -1)
			log_warn("close pipe %d", p[i]);
	fdbudget_give(c->budget, FD_USER_PROXY, 2);
}

/*
 * An empty pipe goes back to the cache while the budget has room to spare
 * for new sessions; one with bytes left is closed.
 */
void
relaycache_pipe_put(struct relaycache *c, int p[2], bool empty)
{
	if (p[0] == -1)
		return;
	if (empty && c->npipes < RELAYCACHE_PIPES &&
	    fdbudget_left(c->budget, FD_USER_PROXY) >=
	    fdbudget_share_of(c->budget, FD_USER_PROXY) / 4) {
		c->pipes[c->npipes][0] = p[0];
		c->pipes[c->npipes][1] = p[1];
		c->npipes++;
	} else {
		pipe_close(c, p);
	}
	p[0] = p[1] = -1;
}

void
relaycache_trim(struct relaycache *c)
{
	while (c->nbufs > 0)
		free(c->bufs[--c->nbufs]);
	while (c->npipes > 0) {
		c->npipes--;
		pipe_close(c, c->pipes[c->npipes]);
	}
}

void
relaycache_held(const struct relaycache *c, size_t *bufs, size_t *pipes)
{
	*bufs = c->nbufs;
	*pipes = c->npipes;
}
