/*
 * token.h: what a token may hold. A token travels in "AUTH:<token>:" on
 * the ack port and in an HTTP Authorization header; a ':', a blank, a
 * control byte or a byte outside ASCII could not be sent on both, so the
 * daemon (config), the client library and the agent all refuse them.
 */
#ifndef HARMONY_COMMON_TOKEN_H
#define HARMONY_COMMON_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

/* 1..max bytes of printable ASCII other than ':' and space. */
bool	token_valid(const char *s, size_t len, size_t max);

#endif
