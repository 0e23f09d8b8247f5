/*
 * file.c: the one whole-file reader (file.h). It sizes its buffer from
 * fstat and grows it only if the file grows while it is read, up to the
 * cap; a buffer it lets go of is wiped first, since a token file is a
 * secret and realloc would leave a copy behind in freed memory.
 */
#include "autoconfig.h"

#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file.h"

static void
wipe_free(char *buf, size_t len)
{
	if (buf == NULL)
		return;
	explicit_bzero(buf, len);
	free(buf);
}

/* buf (got bytes) moved into a buffer of *cap doubled, at most limit. */
static char *
grow(char *buf, size_t got, size_t *cap, size_t limit)
{
	size_t want = *cap > limit / 2 ? limit : *cap * 2;
	char *bigger;

	if ((bigger = malloc(want)) == NULL)
		return NULL;
	memcpy(bigger, buf, got);
	wipe_free(buf, got);
	*cap = want;
	return bigger;
}

int
file_read(const char *path, size_t max, unsigned flags, char **out,
    size_t *len, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL, *bigger;
	size_t cap, got = 0;
	ssize_t n;
	int fd, saved;

	*out = NULL;
	*len = 0;
	if (max > SIZE_MAX / 4)
		max = SIZE_MAX / 4;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
	    ((flags & FILE_NOFOLLOW) ? O_NOFOLLOW : 0));
	if (fd == -1) {
		saved = errno;
		if (saved == ELOOP && (flags & FILE_NOFOLLOW))
			snprintf(err, errlen, "it is a symbolic link (never followed)");
		else
			snprintf(err, errlen, "%s", strerror(saved));
		errno = saved;
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		saved = errno;
		snprintf(err, errlen, "%s", strerror(saved));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		saved = EINVAL;
		snprintf(err, errlen, "not a regular file");
		goto fail;
	}
	if (st.st_size < 0 || (uintmax_t)st.st_size > max) {
		saved = EFBIG;
		snprintf(err, errlen, "larger than %zu bytes", max);
		goto fail;
	}
	/* The size, one byte more to see it grow, and the NUL. */
	cap = (size_t)st.st_size + 2;
	if ((buf = malloc(cap)) == NULL) {
		saved = ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (;;) {
		if (got == cap - 1) {
			/* Full: it grew since fstat, or it is one of /proc's. */
			if (got > max) {
				saved = EFBIG;
				snprintf(err, errlen, "larger than %zu bytes", max);
				goto fail;
			}
			if ((bigger = grow(buf, got, &cap, max + 2)) == NULL) {
				saved = ENOMEM;
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			buf = bigger;
		}
		n = read(fd, buf + got, cap - 1 - got);
		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			snprintf(err, errlen, "%s", strerror(saved));
			goto fail;
		}
		got += (size_t)n;
	}
	if (got > max) {
		saved = EFBIG;
		snprintf(err, errlen, "larger than %zu bytes", max);
		goto fail;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
fail:
	wipe_free(buf, got);
	close(fd);
	errno = saved;
	return -1;
}
