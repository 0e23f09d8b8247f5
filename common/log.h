/*
 * log: leveled log lines on stderr, and the access log (one line per
 * finished session) on a file or stdout.
 *
 * A fixed vocabulary (after relayd): log_warn appends strerror(errno),
 * log_warnx does not; fatal/fatalx exit(1) and are for start-up and broken
 * invariants only, never for a misbehaving peer.
 *
 * Lines are "TIME IDENT[PID] LEVEL: MESSAGE", except when stderr is the
 * journal (a systemd service's, JOURNAL_STREAM): "<PRIORITY>LEVEL: MESSAGE",
 * the syslog priority for the journal to keep, its own time and pid.
 */
#ifndef HARMONY_LOG_H
#define HARMONY_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_QUIET,	/* nothing but fatal */
};

#define LOG_PRINTF(f, a) __attribute__((__format__(__printf__, f, a)))

/* Also looks whether stderr is the journal (see above). */
void	log_init(const char *ident, enum log_level);
void	log_set_level(enum log_level);
enum log_level log_get_level(void);
int	log_level_parse(const char *, enum log_level *);
const char *log_level_name(enum log_level);

void	log_debug(const char *, ...) LOG_PRINTF(1, 2);
void	log_info(const char *, ...) LOG_PRINTF(1, 2);
void	log_warn(const char *, ...) LOG_PRINTF(1, 2);
void	log_warnx(const char *, ...) LOG_PRINTF(1, 2);
void	log_error(const char *, ...) LOG_PRINTF(1, 2);
_Noreturn void fatal(const char *, ...) LOG_PRINTF(1, 2);
_Noreturn void fatalx(const char *, ...) LOG_PRINTF(1, 2);

/*
 * Copies in to out (NUL-terminated, at most outlen - 1 bytes) with every
 * control byte, DEL, C1 control, backslash and byte that is not part of
 * well-formed UTF-8 written as \xNN; never cuts an escape or a character.
 * Returns the length written. Every log line goes through it.
 */
size_t	log_escape(char *out, size_t outlen, const char *in, size_t inlen);
/* Length (1..4) of the well-formed UTF-8 character at s, 0 if none. */
size_t	log_utf8_seq(const char *s, size_t len);

/*
 * path "-" is stdout; NULL closes. Returns -1 with errno if open fails,
 * and then the log open before (if any) stays open and in use: a failed
 * reopen on SIGHUP loses no line.
 */
int	log_access_open(const char *path);
bool	log_access_enabled(void);
void	log_access(const char *, ...) LOG_PRINTF(1, 2);
void	log_access_close(void);

#endif
