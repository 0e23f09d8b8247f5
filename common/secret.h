/*
 * secret.h: comparing a secret (admin token, ack token, target key) with
 * what a peer sent, in time that does not depend on where they differ.
 */
#ifndef HARMONY_COMMON_SECRET_H
#define HARMONY_COMMON_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* given (givenlen bytes, not terminated) equals the string secret. */
bool	secret_equal(const char *given, size_t givenlen, const char *secret);

#endif
