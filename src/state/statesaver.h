/*
 * statesaver: when and how the state file is written while harmonyd runs.
 *
 * A save happens only when what the file holds has changed (the pools' and
 * the persistence tables' state versions, the set of services, the
 * runtime overrides): traffic and counters alone never rewrite it. Persistence hits only refresh
 * entries' recency, saved at most every touch_ms. Each save runs in a
 * child process (state_save_start, redis's BGSAVE), at most one at a time,
 * reaped from a timer with waitpid(WNOHANG): the loop never writes or
 * fsyncs the file. The saver owns the state lock (FILE.lock).
 *
 * A handover (SIGUSR2 from a harmonyd started with --takeover) makes one
 * last save, then releases the lock and stops saving: from then on the
 * file is the new instance's. Should the lock come free again (the new
 * one failed to start or stopped first), the saver takes it back and saves
 * its registry again. saver_free makes the final save at exit,
 * synchronously, unless the file was handed over.
 */
#ifndef HARMONY_STATESAVER_H
#define HARMONY_STATESAVER_H

#include <stdbool.h>
#include <stdint.h>

#include <stddef.h>

struct json_object;
struct loop;
struct persist;
struct pool;
struct saver;
struct state_part;

/* A new reference to the runtime object to save, or NULL. */
typedef struct json_object *saver_runtime_fn(void *arg);
/*
 * The services' parts as they are now, the default's first (state.h): a
 * new array of *n, the saver's to free, or NULL on ENOMEM. Asked at every
 * look and save, since the set of services changes (SIGHUP); the saver
 * keeps no part from one call to the next.
 */
typedef struct state_part *saver_parts_fn(void *arg, size_t *n);

struct saver_params {
	const char	*path;
	struct loop	*loop;
	saver_parts_fn	*parts;		/* NULL: pool and persist, unnamed */
	struct pool	*pool;
	struct persist	*persist;
	saver_runtime_fn *runtime;
	void		*arg;		/* for parts and runtime */
	int64_t		 touch_ms;	/* recency only: save at most this often */
};

/*
 * What the pools, tables and runtime hold now is taken as saved (it was
 * just loaded). Takes lock_fd (from state_lock). NULL on ENOMEM.
 */
struct saver	*saver_new(const struct saver_params *, int lock_fd);
/* Save once more, then release the lock and stop saving. */
void		 saver_handover(struct saver *);
/* Waits for a save in progress, saves (unless handed over), unlocks. */
void		 saver_free(struct saver *);

#endif
