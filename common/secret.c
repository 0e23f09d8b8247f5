/* secret.c: constant-time secret comparison for the daemon's two doors. */
#include "autoconfig.h"

#include <string.h>

#include "common/secret.h"

bool
secret_equal(const char *given, size_t givenlen, const char *secret)
{
	size_t slen = strlen(secret);
	unsigned char diff = (unsigned char)(givenlen != slen);

	/* Every byte of the secret is looked at, whatever matched before. */
	for (size_t i = 0; i < slen; i++)
		diff |= (unsigned char)(secret[i] ^ (i < givenlen ? given[i] : 0));
	return diff == 0;
}
