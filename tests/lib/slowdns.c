/*
 * slowdns: an LD_PRELOAD library for the tests, a resolver they control.
 *
 * getaddrinfo answers the names listed in the file named by
 * $HARMONY_SLOWDNS_FILE, each after its own delay, and asks no DNS server:
 * a slow resolver with no root and no network. The file is read again at
 * every call, so a test can make a name slow after start-up. Its lines:
 *
 *   NAME ADDRESS DELAY_MS     ADDRESS numeric, or "fail" for EAI_NONAME
 *
 * Names not listed go to the real getaddrinfo. Built without sanitizers
 * (it is preloaded before their runtime: run with ASAN_OPTIONS
 * verify_asan_link_order=0).
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Our answers carry this as their canonical name; freeaddrinfo knows them by it. */
static char fake_mark[] = "slowdns";

struct fake {
	struct addrinfo		 ai;
	struct sockaddr_storage	 ss;
};

typedef int	gai_fn(const char *, const char *, const struct addrinfo *,
		    struct addrinfo **);
typedef void	fai_fn(struct addrinfo *);

int	getaddrinfo(const char *, const char *, const struct addrinfo *,
	    struct addrinfo **);
void	freeaddrinfo(struct addrinfo *);

/* 1 with address and delay if the file lists node, else 0. */
static int
lookup(const char *node, char *addr, size_t addrlen, long *delay_ms)
{
	const char *path = getenv("HARMONY_SLOWDNS_FILE");
	char line[512], name[256], a[64];
	FILE *fp;
	int found = 0;

	if (path == NULL || node == NULL || (fp = fopen(path, "re")) == NULL)
		return 0;
	while (!found && fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "%255s %63s %ld", name, a, delay_ms) == 3 &&
		    strcmp(name, node) == 0) {
			snprintf(addr, addrlen, "%s", a);
			found = 1;
		}
	}
	fclose(fp);
	return found;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
    struct addrinfo **res)
{
	char addr[64];
	long delay_ms = 0;
	struct fake *f;
	unsigned port = service != NULL ? (unsigned)strtoul(service, NULL, 10) : 0;

	if (!lookup(node, addr, sizeof(addr), &delay_ms)) {
		gai_fn *real = (gai_fn *)dlsym(RTLD_NEXT, "getaddrinfo");

		return real != NULL ? real(node, service, hints, res) : EAI_SYSTEM;
	}
	if (delay_ms > 0)
		sleep_ms(delay_ms);
	if (strcmp(addr, "fail") == 0)
		return EAI_NONAME;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return EAI_MEMORY;
	if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&f->ss)->sin_addr) == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&f->ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)port);
		f->ai.ai_addrlen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr,
	    &((struct sockaddr_in6 *)&f->ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&f->ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
		f->ai.ai_addrlen = sizeof(*sin6);
	} else {
		free(f);
		return EAI_NONAME;
	}
	f->ai.ai_family = f->ss.ss_family;
	f->ai.ai_socktype = hints != NULL && hints->ai_socktype != 0 ?
	    hints->ai_socktype : SOCK_STREAM;
	f->ai.ai_protocol = IPPROTO_TCP;
	f->ai.ai_addr = (struct sockaddr *)&f->ss;
	f->ai.ai_canonname = fake_mark;
	*res = &f->ai;
	return 0;
}

void
freeaddrinfo(struct addrinfo *ai)
{
	fai_fn *real;

	if (ai == NULL)
		return;
	if (ai->ai_canonname == fake_mark) {
		free(ai);	/* ai is the first member of its struct fake */
		return;
	}
	if ((real = (fai_fn *)dlsym(RTLD_NEXT, "freeaddrinfo")) != NULL)
		real(ai);
}
