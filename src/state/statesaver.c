/*
 * statesaver: see statesaver.h.
 *
 * One timer does everything: every SAVER_EVERY_MS it compares what the
 * file holds with what was last saved and, if they differ, forks a save;
 * while a child runs it comes back every SAVER_REAP_MS to reap it. The
 * versions and runtime text a child writes are kept aside (pending) and
 * become the saved ones only when it succeeds, so a change made during a
 * save, or a failed save, is saved by the next one.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "common/log.h"
#include "core/loop.h"
#include "registry/persist.h"
#include "registry/pool.h"
#include "state/state.h"
#include "state/statesaver.h"

#define SAVER_EVERY_MS	1000	/* at most one save a second */
#define SAVER_REAP_MS	50
/* Longer than a --takeover waits for the lock: never snatched from it. */
#define SAVER_RELOCK_AFTER_MS	35000

struct saved {
	uint64_t	 pool;		/* pool_state_version */
	uint64_t	 persist;	/* persist_state_version */
	uint64_t	 touch;		/* persist_version: recency too */
	char		*runtime;	/* the runtime object's text */
	int64_t		 at;		/* loop ms the snapshot was taken */
};

struct saver {
	struct saver_params	 p;
	int			 lock_fd;
	bool			 saving;	/* false once handed over */
	bool			 handover;	/* asked: hand over after a save */
	bool			 failing;	/* the last save failed (logged) */
	pid_t			 child;		/* a save in progress, or 0 */
	int64_t			 handed_at;	/* loop ms of the handover */
	struct saved		 saved;
	struct saved		 pending;	/* what the child writes */
	struct loop_timer	 timer;
};

static int64_t	saver_on_timer(struct loop *, struct loop_timer *, void *);

static char *
runtime_text(struct json_object *rt)
{
	return strdup(rt != NULL ? json_object_to_json_string_ext(rt,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "null");
}

/* Takes rt's text and the versions now; false on ENOMEM. */
static bool
snapshot(struct saver *s, struct json_object *rt, struct saved *out)
{
	out->pool = pool_state_version(s->p.pool);
	out->persist = persist_state_version(s->p.persist);
	out->touch = persist_version(s->p.persist);
	out->at = loop_now(s->p.loop);
	out->runtime = runtime_text(rt);
	return out->runtime != NULL;
}

static bool
changed(const struct saver *s, const struct saved *now)
{
	const struct saved *was = &s->saved;

	if (now->pool != was->pool || now->persist != was->persist ||
	    was->runtime == NULL || strcmp(now->runtime, was->runtime) != 0)
		return true;
	/* Only recency moved: worth a save now and then, not every second. */
	return now->touch != was->touch && now->at - was->at >= s->p.touch_ms;
}

static void
saved_replace(struct saved *dst, struct saved *src)
{
	free(dst->runtime);
	*dst = *src;
	src->runtime = NULL;
}

struct saver *
saver_new(const struct saver_params *p, int lock_fd)
{
	struct saver *s;
	struct json_object *rt;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->p = *p;
	s->lock_fd = lock_fd;
	s->saving = true;
	rt = p->runtime(p->arg);
	if (!snapshot(s, rt, &s->saved)) {
		json_object_put(rt);
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	json_object_put(rt);
	loop_timer_init(&s->timer, saver_on_timer, s);
	loop_timer_add(p->loop, &s->timer, SAVER_EVERY_MS);
	return s;
}

static void
finish_handover(struct saver *s)
{
	state_unlock(s->lock_fd);
	s->lock_fd = -1;
	s->saving = false;
	s->handover = false;
	s->handed_at = loop_now(s->p.loop);
	log_info("state: handed %s over to the next harmonyd; no longer saving it",
	    s->p.path);
}

/*
 * Handed over, but the lock is free again: the next harmonyd is gone (it
 * failed to start, or stopped before us). Ours is the live registry now.
 */
static void
try_relock(struct saver *s)
{
	char err[256];
	pid_t holder;

	if (loop_now(s->p.loop) - s->handed_at < SAVER_RELOCK_AFTER_MS)
		return;
	if ((s->lock_fd = state_lock(s->p.path, 0, &holder, err, sizeof(err))) == -1)
		return;
	s->saving = true;
	free(s->saved.runtime);
	s->saved.runtime = NULL;	/* differs from anything: save at once */
	log_warnx("state: %s is free again (the next harmonyd is gone): saving it"
	    " again", s->p.path);
}

/* The child is done; true if it saved. */
static bool
reaped(struct saver *s, int rc, const char *err)
{
	s->child = 0;
	if (rc == 1) {
		saved_replace(&s->saved, &s->pending);
		if (s->failing)
			log_info("state: %s saved again", s->p.path);
		s->failing = false;
		return true;
	}
	free(s->pending.runtime);
	s->pending.runtime = NULL;
	/* Retried every second: say it once, and again when it works. */
	if (!s->failing)
		log_warnx("state: cannot write %s: %s", s->p.path, err);
	s->failing = true;
	return false;
}

static int64_t
saver_on_timer(struct loop *l, struct loop_timer *t, void *arg)
{
	struct saver *s = arg;
	struct json_object *rt;
	struct saved now;
	char err[256];
	int rc;

	(void)l;
	(void)t;
	if (s->child > 0) {
		if ((rc = state_save_reap(s->child, false, err, sizeof(err))) == 0)
			return SAVER_REAP_MS;
		reaped(s, rc, err);
		if (s->handover)
			finish_handover(s);
		return SAVER_EVERY_MS;
	}
	if (!s->saving) {
		try_relock(s);
		if (!s->saving)
			return SAVER_EVERY_MS;
	}
	rt = s->p.runtime(s->p.arg);
	if (!snapshot(s, rt, &now)) {
		json_object_put(rt);
		log_warnx("state: out of memory");
		return SAVER_EVERY_MS;
	}
	if (!changed(s, &now)) {
		json_object_put(rt);
		free(now.runtime);
		if (s->handover)
			finish_handover(s);
		return SAVER_EVERY_MS;
	}
	s->child = state_save_start(s->p.path, s->p.pool, s->p.persist, rt, now.at);
	json_object_put(rt);
	if (s->child == -1) {
		s->child = 0;
		free(now.runtime);
		log_warn("state: cannot start saving %s", s->p.path);
		if (s->handover)
			finish_handover(s);
		return SAVER_EVERY_MS;
	}
	s->pending = now;
	log_debug("state: saving %s in process %ld", s->p.path, (long)s->child);
	return SAVER_REAP_MS;
}

void
saver_handover(struct saver *s)
{
	if (!s->saving) {
		log_info("state: %s is handed over already", s->p.path);
		return;
	}
	log_info("state: handing %s over to the next harmonyd", s->p.path);
	s->handover = true;
	/* A save in progress is reaped first; its timer comes back anyway. */
	if (s->child == 0)
		loop_timer_add(s->p.loop, &s->timer, 0);
}

void
saver_free(struct saver *s)
{
	struct json_object *rt;
	char err[256];
	int rc;

	if (s == NULL)
		return;
	loop_timer_cancel(s->p.loop, &s->timer);
	/* Its rename must not land after ours. */
	if (s->child > 0) {
		rc = state_save_reap(s->child, true, err, sizeof(err));
		reaped(s, rc, err);
	}
	if (s->saving) {
		rt = s->p.runtime(s->p.arg);
		if (state_save(s->p.path, s->p.pool, s->p.persist, rt,
		    loop_now(s->p.loop)) == -1)
			log_warn("state: cannot write %s", s->p.path);
		json_object_put(rt);
	}
	state_unlock(s->lock_fd);
	free(s->saved.runtime);
	free(s->pending.runtime);
	free(s);
}
