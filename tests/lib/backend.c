/*
 * backend: a tiny TCP server for Harmony's integration tests.
 *
 *   backend [--listen ADDR:PORT] --mode MODE [--name NAME] [--bytes N]
 *           [--delay MS] [--seed S] [--status-file FILE]
 *
 * One process, one poll(2) loop, non-blocking sockets. Every accepted
 * connection waits --delay ms (reading and writing nothing), then:
 *
 *   name    writes "NAME\n", shutdown(SHUT_WR), reads and discards until
 *           EOF, closes
 *   echo    echoes everything; after the peer's EOF and once all is echoed,
 *           shutdown(SHUT_WR), then closes
 *   stream  writes N bytes of the pattern, shutdown(SHUT_WR), reads and
 *           discards until EOF, closes
 *   sink    reads until EOF, answers "COUNT CRC32\n", closes
 *   hold    never reads or writes; closes when the peer closes
 *   http    like name, as an HTTP/1.0 200 answer with "NAME\n" as its body
 *           (the demo's backends: curl through the proxy shows who served);
 *           with --status-file, each answer's status is the number FILE
 *           holds then (a test changes it: a health check sees it change),
 *           200 while it holds none
 *   reset   waits for the peer's first byte (or EOF), so that the peer has
 *           surely seen the connection established, writes N bytes of the
 *           pattern, then closes with SO_LINGER 0 (RST)
 *
 * The pattern: byte o is byte (o % 4) of the little-endian 32-bit word
 * (seed + o / 4). CRC32 is zlib's (Python: zlib.crc32).
 *
 * On stdout (line-buffered, for harness.py):
 *   port P                        once listening
 *   conn CUR max MAX total TOTAL  after every accept and close
 *   done in=BYTES crc=CRC32       when a connection closes (what it read)
 * SIGTERM and SIGINT exit 0.
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYS_EPOLL_H
#include <sys/epoll.h>
#endif

#define BUFSZ		(256 * 1024)
#define ACCEPT_BURST	64

enum mode { MODE_NAME, MODE_ECHO, MODE_STREAM, MODE_SINK, MODE_HOLD, MODE_RESET,
	MODE_HTTP };

struct conn {
	int		 fd;
	int64_t		 start_at;	/* the mode starts at this time (ms) */
	bool		 started;
	bool		 peer_shut;	/* seen POLLRDHUP before starting */
	bool		 in_eof;	/* the peer has shut down its side */
	bool		 wr_shut;	/* we have shut down ours */
	bool		 answered;	/* sink, reset: the answer is queued */
	uint64_t	 in_bytes;
	uint32_t	 crc;
	uint64_t	 gen_left;	/* pattern bytes still to produce */
	uint64_t	 gen_off;
	unsigned char	*buf;		/* pending output: buf[off..len) */
	size_t		 off, len;
};

static enum mode	 mode = MODE_NAME;
static const char	*name = "backend";
static uint64_t		 nbytes = 1024 * 1024;
static int64_t		 delay_ms;
static uint32_t		 seed;
static const char	*status_file;

static struct conn	**conns;
static size_t		 nconns, conns_cap;
static unsigned long	 max_conns, total_conns;

static uint32_t		 crc_table[256];

/*
 * Every connection is also in this epoll set, for input only: it answers
 * "has any connection something to read?" in O(1) before each accept,
 * where a poll over all of them made accepting quadratic: with thousands
 * of connections the listen queue overflowed and dropped handshakes, which
 * left connections that the proxy had and the backend never saw. -1 (no
 * epoll, or a failed epoll_ctl): always assume there is.
 */
static int		 pending_ep = -1;

static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t
crc_update(uint32_t crc, const unsigned char *p, size_t n)
{
	crc = ~crc;
	while (n-- > 0)
		crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void
pattern_fill(unsigned char *p, size_t n, uint64_t off)
{
	for (size_t i = 0; i < n; i++, off++) {
		uint32_t w = seed + (uint32_t)(off >> 2);
		p[i] = (unsigned char)(w >> (8 * (off & 3)));
	}
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_signal(int sig)
{
	(void)sig;
	_exit(0);
}

static _Noreturn void
die(const char *what)
{
	fprintf(stderr, "backend: %s: %s\n", what, strerror(errno));
	exit(1);
}

static _Noreturn void
usage(void)
{
	fprintf(stderr, "usage: backend [--listen ADDR:PORT] --mode "
	    "name|echo|stream|sink|hold|reset|http [--name NAME] [--bytes N] "
	    "[--delay MS] [--seed S] [--status-file FILE]\n");
	exit(2);
}

static uint64_t
parse_u64(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-')
		usage();
	return (uint64_t)v;
}

static int
listen_on(const char *spec)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	const char *port;
	struct addrinfo hints, *ai;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	size_t hlen;
	int fd, one = 1, rc;

	if (colon == NULL)
		usage();
	port = colon + 1;
	hlen = (size_t)(colon - spec);
	if (hlen >= 2 && spec[0] == '[' && spec[hlen - 1] == ']') {
		spec++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		usage();
	memcpy(host, spec, hlen);
	host[hlen] = '\0';

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		fprintf(stderr, "backend: %s: %s\n", spec, gai_strerror(rc));
		exit(2);
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		die("SO_REUSEADDR");
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1)
		die("bind");
	freeaddrinfo(ai);
	/*
	 * As deep as the host allows (somaxconn): a test opening thousands of
	 * connections at once must not have handshakes dropped here.
	 */
	if (listen(fd, 4096) == -1)
		die("listen");
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1)
		die("getsockname");
	if (ss.ss_family == AF_INET6)
		printf("port %u\n", ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	else
		printf("port %u\n", ntohs(((struct sockaddr_in *)&ss)->sin_port));
	return fd;
}

/* --status-file's number, 200 without one. */
static int
http_status(void)
{
	FILE *fp;
	int code = 200;

	if (status_file == NULL || (fp = fopen(status_file, "r")) == NULL)
		return 200;
	if (fscanf(fp, "%d", &code) != 1 || code < 100 || code > 999)
		code = 200;
	fclose(fp);
	return code;
}

static void
print_count(void)
{
	printf("conn %zu max %lu total %lu\n", nconns, max_conns, total_conns);
}

static void
conn_start(struct conn *c)
{
	c->started = true;
	switch (mode) {
	case MODE_NAME: {
		size_t n = strlen(name);
		if (n > BUFSZ - 1)
			n = BUFSZ - 1;
		memcpy(c->buf, name, n);
		c->buf[n] = '\n';
		c->len = n + 1;
		break;
	}
	case MODE_HTTP:
		c->len = (size_t)snprintf((char *)c->buf, BUFSZ,
		    "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
		    http_status(), http_status() == 200 ? "OK" : "Status",
		    strlen(name) + 1, name);
		if (c->len >= BUFSZ)
			c->len = BUFSZ - 1;
		break;
	case MODE_STREAM:
		c->gen_left = nbytes;
		break;
	case MODE_RESET:
	case MODE_ECHO:
	case MODE_SINK:
	case MODE_HOLD:
		break;
	}
}

static void
conn_add(int fd)
{
	struct conn *c;

	if (nconns == conns_cap) {
		size_t ncap = conns_cap ? conns_cap * 2 : 64;
		struct conn **n = realloc(conns, ncap * sizeof(*n));
		if (n == NULL)
			die("realloc");
		conns = n;
		conns_cap = ncap;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL || (c->buf = malloc(BUFSZ)) == NULL)
		die("malloc");
	c->fd = fd;
	c->start_at = now_ms() + delay_ms;
#ifdef HAVE_SYS_EPOLL_H
	if (pending_ep != -1) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };

		if (epoll_ctl(pending_ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
			close(pending_ep);	/* one missing: the set says nothing */
			pending_ep = -1;
		}
	}
#endif
	conns[nconns++] = c;
	if (delay_ms == 0)
		conn_start(c);
	total_conns++;
	if (nconns > max_conns)
		max_conns = nconns;
	print_count();
}

/* Closes and frees conns[i]; the last entry takes its place. */
static void
conn_close(size_t i, bool rst)
{
	struct conn *c = conns[i];

	if (rst) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	close(c->fd);
	printf("done in=%" PRIu64 " crc=%08" PRIx32 "\n", c->in_bytes, c->crc);
	free(c->buf);
	free(c);
	conns[i] = conns[--nconns];
	print_count();
}

static bool
out_pending(const struct conn *c)
{
	return c->off < c->len || c->gen_left > 0;
}

static short
conn_events(const struct conn *c)
{
	short ev = 0;

	if (!c->started)
		return c->peer_shut ? 0 : POLLRDHUP;
	if (mode == MODE_HOLD)
		return POLLRDHUP;
	if (!c->in_eof && (mode != MODE_ECHO || c->len < BUFSZ))
		ev |= POLLIN;
	if (out_pending(c))
		ev |= POLLOUT;
	return ev;
}

/* Returns -1 when the connection must be closed (the peer reset it). */
static int
conn_read(struct conn *c)
{
	unsigned char tmp[64 * 1024];
	unsigned char *dst = tmp;
	size_t room = sizeof(tmp);
	ssize_t n;

	if (mode == MODE_ECHO) {
		if (c->off > 0) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		dst = c->buf + c->len;
		room = BUFSZ - c->len;
		if (room == 0)
			return 0;
	}
	n = recv(c->fd, dst, room, 0);
	if (n == -1)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
	if (n == 0) {
		c->in_eof = true;
		return 0;
	}
	c->in_bytes += (uint64_t)n;
	c->crc = crc_update(c->crc, dst, (size_t)n);
	if (mode == MODE_ECHO)
		c->len += (size_t)n;
	return 0;
}

static int
conn_write(struct conn *c)
{
	ssize_t n;

	if (c->off == c->len && c->gen_left > 0) {
		size_t k = c->gen_left < BUFSZ ? (size_t)c->gen_left : BUFSZ;
		pattern_fill(c->buf, k, c->gen_off);
		c->gen_off += k;
		c->gen_left -= k;
		c->off = 0;
		c->len = k;
	}
	if (c->off == c->len)
		return 0;
	n = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
	if (n == -1)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
	c->off += (size_t)n;
	if (c->off == c->len)
		c->off = c->len = 0;
	return 0;
}

enum verdict { KEEP, CLOSE, CLOSE_RST };

/* What the mode does next once its pending output is all written. */
static enum verdict
conn_advance(struct conn *c)
{
	if (out_pending(c))
		return KEEP;
	switch (mode) {
	case MODE_ECHO:
	case MODE_NAME:
	case MODE_HTTP:
	case MODE_STREAM:
		if (mode != MODE_ECHO && !c->wr_shut) {
			(void)shutdown(c->fd, SHUT_WR);
			c->wr_shut = true;
		}
		if (!c->in_eof)
			return KEEP;
		if (!c->wr_shut)
			(void)shutdown(c->fd, SHUT_WR);
		return CLOSE;
	case MODE_SINK:
		if (!c->in_eof)
			return KEEP;
		if (c->answered)
			return CLOSE;
		c->len = (size_t)snprintf((char *)c->buf, BUFSZ, "%" PRIu64 " %08" PRIx32 "\n",
		    c->in_bytes, c->crc);
		c->off = 0;
		c->answered = true;
		return KEEP;
	case MODE_RESET:
		if (c->answered)
			return CLOSE_RST;
		if (c->in_bytes == 0 && !c->in_eof)
			return KEEP;
		c->gen_left = nbytes;
		c->answered = true;
		return KEEP;
	case MODE_HOLD:
		return KEEP;
	}
	return KEEP;
}

static bool	service(int, int64_t);

/* Whether a connection may have input (a close) waiting to be handled. */
static bool
input_pending(void)
{
#ifdef HAVE_SYS_EPOLL_H
	struct epoll_event ev;

	if (pending_ep != -1)
		return epoll_wait(pending_ep, &ev, 1, 0) != 0;	/* -1: maybe */
#endif
	return true;
}

/* Returns -1 when out of descriptors (or memory). */
static int
on_listener(int lfd)
{
	for (int i = 0; i < ACCEPT_BURST; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				fprintf(stderr, "backend: accept: %s\n", strerror(errno));
				return -1;
			}
			return 0;
		}
		/*
		 * A peer's FIN that was sent before this connection's SYN has
		 * been processed by now: count that close first, or "max" would
		 * be one too high (the proxy freed the slot before connecting).
		 * Only if there is one: a poll over every connection per accept
		 * would make accepting thousands quadratic.
		 */
		if (input_pending())
			(void)service(-1, 0);
		conn_add(fd);
	}
	return 0;
}

/*
 * One poll over the connections (and the listener if lfd != -1), waiting at
 * most max_wait ms (-1: no limit), and handles what it reports. Returns
 * whether the listener is ready.
 */
static bool
service(int lfd, int64_t max_wait)
{
	static struct pollfd *pfd;
	static size_t pfd_cap;
	int64_t now = now_ms(), timeout = max_wait;
	size_t np = 0;

	if (pfd_cap < nconns + 1) {
		pfd_cap = (nconns + 1) * 2;
		if ((pfd = realloc(pfd, pfd_cap * sizeof(*pfd))) == NULL)
			die("realloc");
	}
	pfd[np++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	for (size_t i = 0; i < nconns; i++) {
		struct conn *c = conns[i];
		if (!c->started) {
			int64_t wait = c->start_at > now ? c->start_at - now : 0;
			if (timeout == -1 || wait < timeout)
				timeout = wait;
		}
		pfd[np++] = (struct pollfd){ .fd = c->fd, .events = conn_events(c) };
	}
	if (poll(pfd, np, timeout > INT_MAX ? INT_MAX : (int)timeout) == -1) {
		if (errno == EINTR)
			return false;
		die("poll");
	}
	now = now_ms();

	/* Walk backwards: conn_close moves the last entry into slot i. */
	for (size_t i = nconns; i-- > 0;) {
		struct conn *c = conns[i];
		short re = pfd[i + 1].revents;
		enum verdict v;

		if (!c->started) {
			if (re & (POLLHUP | POLLERR)) {
				conn_close(i, false);	/* reset or gone */
				continue;
			}
			if (re & POLLRDHUP)
				c->peer_shut = true;	/* half-close: read it later */
			if (c->start_at > now)
				continue;
			conn_start(c);
			re = POLLIN | POLLOUT;	/* just try */
		}
		if (mode == MODE_HOLD) {
			if (re & (POLLRDHUP | POLLHUP | POLLERR))
				conn_close(i, false);
			continue;
		}
		if ((re & (POLLIN | POLLHUP | POLLERR)) && !c->in_eof &&
		    conn_read(c) == -1) {
			conn_close(i, false);
			continue;
		}
		if ((re & (POLLOUT | POLLERR)) && conn_write(c) == -1) {
			conn_close(i, false);
			continue;
		}
		v = conn_advance(c);
		if (v != KEEP)
			conn_close(i, v == CLOSE_RST);
	}
	return (pfd[0].revents & POLLIN) != 0;
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "mode", required_argument, NULL, 'm' },
		{ "name", required_argument, NULL, 'n' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "delay", required_argument, NULL, 'd' },
		{ "seed", required_argument, NULL, 's' },
		{ "status-file", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const modes[] = {
		[MODE_NAME] = "name", [MODE_ECHO] = "echo", [MODE_STREAM] = "stream",
		[MODE_SINK] = "sink", [MODE_HOLD] = "hold", [MODE_RESET] = "reset",
		[MODE_HTTP] = "http",
	};
	const char *listen_spec = "127.0.0.1:0";
	int64_t paused_until = 0;
	bool mode_set = false;
	int lfd, ch;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			listen_spec = optarg;
			break;
		case 'm':
			for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
				if (strcmp(optarg, modes[i]) == 0) {
					mode = (enum mode)i;
					mode_set = true;
				}
			if (!mode_set)
				usage();
			break;
		case 'n':
			name = optarg;
			break;
		case 'b':
			nbytes = parse_u64(optarg);
			break;
		case 'd':
			delay_ms = (int64_t)parse_u64(optarg);
			break;
		case 's':
			seed = (uint32_t)parse_u64(optarg);
			break;
		case 'f':
			status_file = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || !mode_set)
		usage();

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	crc_init();
	lfd = listen_on(listen_spec);
#ifdef HAVE_SYS_EPOLL_H
	pending_ep = epoll_create1(EPOLL_CLOEXEC);
#endif

	for (;;) {
		int64_t now = now_ms();
		bool listen_ok = paused_until <= now;

		if (!service(listen_ok ? lfd : -1, listen_ok ? -1 : paused_until - now))
			continue;
		/*
		 * Before accepting, handle what is already pending on the open
		 * connections: a close that arrived before the new connection
		 * must be counted first, or "max" would be one too high.
		 */
		if (input_pending())
			(void)service(-1, 0);
		if (on_listener(lfd) == -1)
			paused_until = now_ms() + 100;	/* out of fds: retry soon */
	}
}
