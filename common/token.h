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

/* The most a token file may hold (the token, its line end, some slack). */
#define TOKEN_FILE_MAX	4096

/*
 * A token file's text: the token on one line. The line end editors and
 * echo(1) add (LF, CRLF, any number of them) is cut off in place; the new
 * length is returned. A second line is not cut: token_valid refuses its
 * newline, so a file that is not one token is never half read.
 */
size_t	token_file_text(char *buf, size_t len);

#endif
