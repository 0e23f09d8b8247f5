/* random.c: the one getrandom(2) loop (short reads and EINTR retried). */
#include "autoconfig.h"

#include <sys/random.h>
#include <errno.h>
#include <stdint.h>

#include "common/random.h"

int
random_fill(void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(p + got, len - got, 0);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)n;
	}
	return 0;
}
