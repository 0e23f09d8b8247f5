/*
 * state: the registry and the persistence table in a file, so that a
 * restart loses neither targets (with their keys: a node-harmony client's
 * next heartbeat is answered ACK, not BID) nor stickiness, nor ids.
 *
 * The file is JSON, written whole to a new FILE.tmp.XXXXXX (0600), fsync'ed
 * and renamed over FILE, so a crash leaves the old file or the new one,
 * never half of one; no name is followed through a symlink. A file that
 * does not parse or check is renamed to FILE.bad and ignored; one that
 * cannot be read at all (permissions, I/O error, a symlink, not a regular
 * file) is left alone and reported: the caller must not save over it.
 *
 * Static targets are saved as their identity only (host:port and id): the
 * configuration gives the rest, and the id stays theirs whatever their
 * order. The file also keeps the next id, so no id is handed out twice.
 * The caller may save and get back one JSON object of its own ("runtime":
 * settings changed at run time); state borrows it when saving and hands a
 * new reference back when loading.
 *
 * FILE.lock beside it, flock'ed and holding the holder's pid, keeps a
 * second harmonyd off the same file.
 */
#ifndef HARMONY_STATE_H
#define HARMONY_STATE_H

#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct persist;
struct pool;

/* Synchronous; -1 with errno (the temporary file is removed). */
int	state_save(const char *path, const struct pool *, const struct persist *,
	    struct json_object *runtime, int64_t now);
/*
 * The same in a child process working on a copy-on-write snapshot, so the
 * caller's loop goes on while the file is written and fsync'ed. Returns
 * the child's pid (reap it with state_save_reap) or -1 with errno.
 */
pid_t	state_save_start(const char *path, const struct pool *,
	    const struct persist *, struct json_object *runtime, int64_t now);
/* 0: still running (with wait false); 1: saved; -1: failed, why in err. */
int	state_save_reap(pid_t, bool wait, char *err, size_t errlen);

enum state_load_result {
	STATE_LOADED,
	STATE_NONE,		/* no file yet */
	STATE_BAD,		/* reported in err, kept aside as FILE.bad */
	STATE_UNREADABLE,	/* reported in err, left alone: never save over it */
};

/*
 * Restores into an empty pool and table, before the static targets are
 * added; *runtime is NULL or the caller's to put; *restored counts the
 * registered targets restored.
 */
enum state_load_result state_load(const char *path, struct pool *, struct persist *,
	    struct json_object **runtime, int64_t now, size_t *restored,
	    char *err, size_t errlen);

/*
 * Locks FILE.lock, waiting up to wait_ms for another holder to let go.
 * Returns the lock's fd, or -1 with the reason in err and, if another
 * process holds it, its pid in *holder (0 if unknown).
 */
int	state_lock(const char *path, int64_t wait_ms, pid_t *holder, char *err,
	    size_t errlen);
/* Releases the lock (-1: nothing). */
void	state_unlock(int fd);

#endif
