/*
 * duration.h: the one duration syntax ("500ms", "1.5s", "5m", "1h"; a bare
 * number is seconds) of harmonyd's options, its config file, its API and
 * harmony-agent's options.
 */
#ifndef HARMONY_COMMON_DURATION_H
#define HARMONY_COMMON_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* The daemon's cap; callers pass their own, never more than this. */
#define DURATION_MAX_MS		(365LL * 24 * 3600 * 1000)

/*
 * Parse s into milliseconds in [0, max_ms]. A value finer than a
 * millisecond is an error, never truncated. -1 with the reason in err.
 */
int	duration_parse(const char *s, int64_t max_ms, int64_t *ms, char *err,
	    size_t errlen);

#endif
