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
 * Services (issue 15): the file holds every service's part, its static
 * ids, registered targets and persistence entries. The default service's
 * are at the top level, as a file of one pool always was, with its name
 * in "service"; every other service's are in "services" (name -> the same
 * three lists); "next_id" is one for all, since the pools share one id
 * space (pool_shared, registry/pool.h). Loading gives a section to the
 * service it names; the top one, if that service is gone or it names none
 * (a file of one pool), to the default service, unless the default has a
 * section of its own. A section of a service no longer configured is
 * dropped, and said; a target whose id or key another service holds
 * already (a hand-edited file) is skipped, and said.
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

/*
 * One service's part of the file. Functions taking an array of them take
 * the default service's first; the pools share one id space.
 */
struct state_part {
	const char	*name;		/* service_name_valid (common/service.h) */
	struct pool	*pool;
	struct persist	*persist;
};

/*
 * Synchronous; -1 with errno (the temporary file is removed). Of n >= 1
 * parts (EINVAL for a bad name); a lone part may have no name, and its
 * file is as before services: what state_save writes of one pool.
 */
int	state_save_parts(const char *path, const struct state_part *, size_t n,
	    struct json_object *runtime, int64_t now);
int	state_save(const char *path, const struct pool *, const struct persist *,
	    struct json_object *runtime, int64_t now);
/*
 * The same in a child process working on a copy-on-write snapshot, so the
 * caller's loop goes on while the file is written and fsync'ed. Returns
 * the child's pid (reap it with state_save_reap) or -1 with errno.
 */
pid_t	state_save_parts_start(const char *path, const struct state_part *,
	    size_t n, struct json_object *runtime, int64_t now);
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
 * Restores into empty pools and tables, before the static targets are
 * added; *runtime is NULL or the caller's to put; *restored counts the
 * registered targets restored. The file is checked whole first: a bad
 * entry in any section, even a dropped one, restores nothing. state_load
 * restores into one pool, as the default service named pool_name's.
 */
enum state_load_result state_load_parts(const char *path,
	    const struct state_part *, size_t n, struct json_object **runtime,
	    int64_t now, size_t *restored, char *err, size_t errlen);
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
