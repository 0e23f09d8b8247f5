/*
 * fakedns: see fakedns.h. Defined in the test program itself, these come
 * before libc's for every caller in it, net_resolve in resolve's child
 * included.
 */
#include "autoconfig.h"

#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/fakedns.h"

pid_t	fakedns_watched;
int	fakedns_watched_calls;

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
    struct addrinfo **res)
{
	struct addrinfo *ai;
	struct sockaddr_in *sin;

	(void)service;
	(void)hints;
	*res = NULL;
	if (fakedns_watched != 0 && getpid() == fakedns_watched)
		fakedns_watched_calls++;
	if (strcmp(node, "slow.test") == 0)
		sleep(30);
	if (strcmp(node, "fast.test") != 0)
		return EAI_NONAME;
	if ((ai = calloc(1, sizeof(*ai) + sizeof(*sin))) == NULL)
		return EAI_MEMORY;
	sin = (struct sockaddr_in *)(void *)(ai + 1);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &sin->sin_addr);
	ai->ai_family = AF_INET;
	ai->ai_socktype = SOCK_STREAM;
	ai->ai_addr = (struct sockaddr *)sin;
	ai->ai_addrlen = sizeof(*sin);
	*res = ai;
	return 0;
}

void
freeaddrinfo(struct addrinfo *res)
{
	free(res);
}
