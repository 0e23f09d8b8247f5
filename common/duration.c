/*
 * duration.c: the duration parser shared by harmonyd and harmony-agent.
 * Exact: digits are read as integers, never through a double, so "0.1s"
 * is 100 ms and "1.0001s" is refused rather than rounded.
 */
#include "autoconfig.h"

#include <stdio.h>
#include <string.h>

#include "common/duration.h"

/* "365 days", "1 day" or "N ms": what the cap reads as in a message. */
static void
format_max(int64_t max_ms, char *buf, size_t len)
{
	int64_t day = 86400LL * 1000;

	if (max_ms >= day && max_ms % day == 0)
		snprintf(buf, len, "%lld day%s", (long long)(max_ms / day),
		    max_ms == day ? "" : "s");
	else
		snprintf(buf, len, "%lld ms", (long long)max_ms);
}

int
duration_parse(const char *s, int64_t max_ms, int64_t *ms, char *err,
    size_t errlen)
{
	static const struct {
		const char	*suffix;
		int64_t		 ms;
	} units[] = {
		{ "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 },
	};
	const char *p = s, *digits;
	int64_t whole = 0, frac = 0, scale = 1, unit = -1, v;
	char cap[32];

	if (max_ms > DURATION_MAX_MS || max_ms < 0)
		max_ms = DURATION_MAX_MS;
	for (; *p >= '0' && *p <= '9'; p++) {
		/* Stop early: whole only has to exceed the cap, not overflow. */
		if (whole <= DURATION_MAX_MS)
			whole = whole * 10 + (*p - '0');
	}
	if (p == s)
		goto bad;
	if (*p == '.') {
		digits = ++p;
		for (; *p >= '0' && *p <= '9'; p++) {
			/* 9 digits resolve 3.6 us of an hour: finer is an error. */
			if (scale < 1000000000) {
				frac = frac * 10 + (*p - '0');
				scale *= 10;
			} else if (*p != '0')
				goto fine;
		}
		if (p == digits)
			goto bad;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(p, units[i].suffix) == 0)
			unit = units[i].ms;
	if (unit == -1)
		goto bad;
	if (whole > max_ms / unit)
		goto big;
	if (frac * unit % scale != 0)
		goto fine;
	v = whole * unit + frac * unit / scale;
	if (v > max_ms)
		goto big;
	*ms = v;
	return 0;
bad:
	snprintf(err, errlen, "bad duration '%s' (like 500ms, 1.5s, 5m, 1h)", s);
	return -1;
fine:
	snprintf(err, errlen, "duration '%s' is finer than a millisecond", s);
	return -1;
big:
	format_max(max_ms, cap, sizeof(cap));
	snprintf(err, errlen, "duration '%s' is longer than %s", s, cap);
	return -1;
}
