/*
 * state: the registry and the persistence table in a file, so that a
 * restart loses neither targets (with their keys: a node-harmony client's
 * next heartbeat is answered ACK, not BID) nor stickiness.
 *
 * The file is JSON, written whole to FILE.tmp, fsync'ed and renamed over
 * FILE, so a crash leaves the old file or the new one, never half of one.
 * A file that does not parse or check is renamed to FILE.bad and ignored.
 *
 * Static targets are not saved: the configuration gives them. The caller
 * may save and get back one JSON object of its own ("runtime": settings
 * changed at run time); state borrows it when saving and hands a new
 * reference back when loading.
 */
#ifndef HARMONY_STATE_H
#define HARMONY_STATE_H

#include <stddef.h>
#include <stdint.h>

struct json_object;
struct persist;
struct pool;

int	state_save(const char *path, const struct pool *, const struct persist *,
	    struct json_object *runtime, int64_t now);

enum state_load_result {
	STATE_LOADED,
	STATE_NONE,		/* no file yet */
	STATE_BAD,		/* reported in err, kept aside as FILE.bad */
};

/* Restores into an empty pool and table; *runtime is NULL or the caller's to put. */
enum state_load_result state_load(const char *path, struct pool *, struct persist *,
	    struct json_object **runtime, int64_t now, char *err, size_t errlen);

#endif
