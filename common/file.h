/*
 * file.h: reading a whole small file (the config file, the unavailable
 * text, a token file, the state file) into memory, the one way all three
 * deliverables do it.
 *
 * Only a regular file is read: a FIFO or a device put in its place is
 * opened without blocking (O_NONBLOCK) and refused, so nothing can hang a
 * start or a reload. A file larger than the caller's cap is refused, never
 * cut short, even one that grows while it is read.
 */
#ifndef HARMONY_COMMON_FILE_H
#define HARMONY_COMMON_FILE_H

#include <stddef.h>

#define FILE_NOFOLLOW	0x1	/* a symbolic link (the last component) is refused */

/*
 * Reads all of path (at most max bytes) into a new buffer, NUL-terminated
 * so that text users may take it as a string (the length tells about NUL
 * bytes inside): 0 with *out (the caller frees it) and *len set. On failure
 * -1 with errno set and the reason, without the path, in err: ENOENT for a
 * file that does not exist (a caller may take that as "none yet"), ELOOP
 * for a symbolic link refused by FILE_NOFOLLOW, EFBIG for one over max,
 * EINVAL for what is not a regular file. Whatever was read is wiped before
 * it is freed on failure, since the file may hold a secret.
 */
int	file_read(const char *path, size_t max, unsigned flags, char **out,
	    size_t *len, char *err, size_t errlen);

#endif
