/*
 * log: see log.h. Lines go out whole with one write each, so that lines of
 * concurrent processes (tests run many) do not interleave mid-line.
 *
 * The formatted message of every line (stderr and access log) is escaped
 * here, once for every caller: a peer's URL, name or reason can neither
 * end a line early nor write a terminal escape, whatever the format
 * string. Only our own prefix (time, ident, level) and strerror are not.
 *
 * Under systemd, when fd 2 is the journal's stream (JOURNAL_STREAM names
 * its device and inode: systemd.exec(5)), a line starts with its syslog
 * priority as "<N>" (sd-daemon.h's SD_ERR and the others, which the journal
 * strips and records) and carries no time or pid: the journal stamps both.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static const char *log_ident = "harmony";
static enum log_level log_threshold = LOG_LEVEL_INFO;
static FILE *access_fp;
static bool log_journal;	/* fd 2 is the journal: "<N>", no time */

static const char *const level_names[] = {
	[LOG_LEVEL_DEBUG] = "debug",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_QUIET] = "quiet",
};

/* The check systemd.exec(5) documents for JOURNAL_STREAM. */
static bool
stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	if (v == NULL || sscanf(v, "%llu:%llu%n", &dev, &ino, &end) != 2 ||
	    v[end] != '\0')
		return false;
	if (fstat(STDERR_FILENO, &st) == -1)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *ident, enum log_level level)
{
	log_ident = ident;
	log_threshold = level;
	log_journal = stderr_is_journal();
}

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

enum log_level
log_get_level(void)
{
	return log_threshold;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = LOG_LEVEL_WARN;
		return 0;
	}
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	if ((size_t)level >= sizeof(level_names) / sizeof(level_names[0]))
		return "?";
	return level_names[level];
}

size_t
log_utf8_seq(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned char c, lo = 0x80, hi = 0xbf;
	size_t n;

	if (len == 0)
		return 0;
	if ((c = p[0]) < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n > len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t k = 2; k < n; k++)
		if (p[k] < 0x80 || p[k] > 0xbf)
			return 0;
	return n;
}

size_t
log_escape(char *out, size_t outlen, const char *in, size_t inlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)in;
	size_t o = 0, n, esc;

	if (outlen == 0)
		return 0;
	for (size_t i = 0; i < inlen; i += n) {
		n = log_utf8_seq(in + i, inlen - i);
		/*
		 * C0, DEL and backslash; C1 (U+0080..U+009F, which terminals
		 * may obey as CSI and the like); and any byte that does not
		 * start a well-formed character, one at a time.
		 */
		esc = n == 0 || (n == 1 && (p[i] < 0x20 || p[i] == 0x7f ||
		    p[i] == '\\')) || (n == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0);
		if (n == 0)
			n = 1;
		if (o + (esc ? 4 * n : n) > outlen - 1)
			break;
		for (size_t k = 0; k < n; k++) {
			if (esc) {
				out[o++] = '\\';
				out[o++] = 'x';
				out[o++] = hex[p[i + k] >> 4];
				out[o++] = hex[p[i + k] & 0xf];
			} else
				out[o++] = (char)p[i + k];
		}
	}
	out[o] = '\0';
	return o;
}

static void log_vemit(int, const char *, int, const char *, va_list)
    __attribute__((__format__(__printf__, 4, 0)));

/* prio: syslog's, for the journal (LOG_PRIO_*). */
static void
log_vemit(int prio, const char *tag, int errnum, const char *fmt, va_list ap)
{
	char line[2048], msg[2048];
	struct timespec ts;
	struct tm tm;
	size_t n = 0;
	int r;

	if (log_journal)
		r = snprintf(line, sizeof(line), "<%d>%s: ", prio, tag);
	else {
		if (clock_gettime(CLOCK_REALTIME, &ts) == 0 &&
		    gmtime_r(&ts.tv_sec, &tm) != NULL)
			n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		else
			ts.tv_nsec = 0;
		r = snprintf(line + n, sizeof(line) - n, ".%03ldZ %s[%ld] %s: ",
		    (long)(ts.tv_nsec / 1000000), log_ident, (long)getpid(), tag);
	}
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	r = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (r > 0)
		n += log_escape(line + n, sizeof(line) - n - 1, msg,
		    (size_t)r < sizeof(msg) ? (size_t)r : sizeof(msg) - 1);
	if (errnum != 0 && n < sizeof(line) - 1) {
		r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(errnum));
		if (r > 0)
			n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* Best effort: nowhere left to report a failing stderr. */
	for (size_t off = 0; off < n; ) {
		ssize_t w = write(STDERR_FILENO, line + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

/* syslog(3) priorities, as sd-daemon.h's SD_CRIT .. SD_DEBUG spell them. */
#define LOG_PRIO_CRIT		2
#define LOG_PRIO_ERR		3
#define LOG_PRIO_WARNING	4
#define LOG_PRIO_INFO		6
#define LOG_PRIO_DEBUG		7

#define LOG_AT(level, prio, tag, errnum) do {			\
	va_list ap;						\
	int saved = errno;					\
	if (log_threshold > (level))				\
		return;						\
	va_start(ap, fmt);					\
	log_vemit(prio, tag, errnum, fmt, ap);			\
	va_end(ap);						\
	errno = saved;						\
} while (0)

void log_debug(const char *fmt, ...) { LOG_AT(LOG_LEVEL_DEBUG, LOG_PRIO_DEBUG, "debug", 0); }
void log_info(const char *fmt, ...) { LOG_AT(LOG_LEVEL_INFO, LOG_PRIO_INFO, "info", 0); }
void log_warn(const char *fmt, ...) { LOG_AT(LOG_LEVEL_WARN, LOG_PRIO_WARNING, "warn", saved); }
void log_warnx(const char *fmt, ...) { LOG_AT(LOG_LEVEL_WARN, LOG_PRIO_WARNING, "warn", 0); }
void log_error(const char *fmt, ...) { LOG_AT(LOG_LEVEL_ERROR, LOG_PRIO_ERR, "error", 0); }

void
fatal(const char *fmt, ...)
{
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	log_vemit(LOG_PRIO_CRIT, "fatal", saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_PRIO_CRIT, "fatal", 0, fmt, ap);
	va_end(ap);
	exit(1);
}

int
log_access_open(const char *path)
{
	FILE *fp;

	if (path == NULL) {
		log_access_close();
		return 0;
	}
	if (strcmp(path, "-") == 0)
		fp = stdout;
	else if ((fp = fopen(path, "ae")) == NULL)
		return -1;	/* the file open until now stays in use */
	log_access_close();
	access_fp = fp;
	/* Line buffered: a session's line is visible when it ends. */
	setvbuf(access_fp, NULL, _IOLBF, 0);
	return 0;
}

bool
log_access_enabled(void)
{
	return access_fp != NULL;
}

void
log_access(const char *fmt, ...)
{
	char msg[2048], line[2048];
	va_list ap;
	size_t n;
	int r;

	if (access_fp == NULL)
		return;
	va_start(ap, fmt);
	r = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	n = log_escape(line, sizeof(line) - 1, msg,
	    (size_t)r < sizeof(msg) ? (size_t)r : sizeof(msg) - 1);
	line[n++] = '\n';
	(void)fwrite(line, 1, n, access_fp);
}

void
log_access_close(void)
{
	if (access_fp != NULL && access_fp != stdout)
		fclose(access_fp);
	else if (access_fp == stdout)
		fflush(stdout);
	access_fp = NULL;
}
