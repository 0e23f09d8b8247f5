/*
 * Linked into every fuzzer: a getaddrinfo that never asks DNS. The
 * executable's definition takes precedence over libc's (and over the
 * sanitizer interceptor), so a host name in the input ends in the parser's
 * "cannot resolve" path at once, and fuzzing stays offline and fast.
 */
#include <netdb.h>
#include <stddef.h>
#include <sys/socket.h>

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
    struct addrinfo **res)
{
	(void)node;
	(void)service;
	(void)hints;
	*res = NULL;
	return EAI_NONAME;
}

void
freeaddrinfo(struct addrinfo *res)
{
	(void)res;
}
