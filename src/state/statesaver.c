/*
 * statesaver: see statesaver.h.
 *
 * One timer does everything: every SAVER_EVERY_MS it compares what the
 * file holds with what was last saved and, if they differ, forks a save;
 * while a child runs it comes back every SAVER_REAP_MS to reap it. The
 * versions and runtime text a child writes are kept aside (pending) and
 * become the saved ones only when it succeeds, so a change made during a
 * save, or a failed save, is saved by the next one.
 *
 * With several services the versions are the sums of every service's, and
 * the services' names (in order: the first is the top level's) are kept
 * too, so that a service added or removed is saved even when no sum moves.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
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
	uint64_t	 pool;		/* pool_state_version, summed */
	uint64_t	 persist;	/* persist_state_version, summed */
	uint64_t	 touch;		/* persist_version: recency too */
	char		*names;		/* the services', one a line */
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
	struct state_part	 one;		/* without p.parts: p.pool's */
	struct loop_timer	 timer;
};

static int64_t	saver_on_timer(struct loop *, struct loop_timer *, void *);

static char *
runtime_text(struct json_object *rt)
{
	return strdup(rt != NULL ? json_object_to_json_string_ext(rt,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "null");
}

/*
 * The parts to save now (free them with parts_done); NULL on ENOMEM.
 * Without p.parts, p.pool's, unnamed: its file is as before services.
 */
static struct state_part *
parts_now(struct saver *s, size_t *n)
{
	if (s->p.parts != NULL)
		return s->p.parts(s->p.arg, n);
	s->one = (struct state_part){ .pool = s->p.pool, .persist = s->p.persist };
	*n = 1;
	return &s->one;
}

static void
parts_done(struct saver *s, struct state_part *parts)
{
	if (parts != &s->one)
		free(parts);
}

static char *
names_text(const struct state_part *parts, size_t n)
{
	size_t len = 1, off = 0;
	char *text;

	for (size_t i = 0; i < n; i++)
		len += (parts[i].name != NULL ? strlen(parts[i].name) : 0) + 1;
	if ((text = malloc(len)) == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, len - off, "%s\n",
		    parts[i].name != NULL ? parts[i].name : "");
	text[off] = '\0';
	return text;
}

static void
saved_clear(struct saved *sv)
{
	free(sv->names);
	free(sv->runtime);
	sv->names = sv->runtime = NULL;
}

/* Takes rt's text, the names and the versions now; false on ENOMEM. */
static bool
snapshot(struct saver *s, const struct state_part *parts, size_t n,
    struct json_object *rt, struct saved *out)
{
	*out = (struct saved){ .at = loop_now(s->p.loop) };
	for (size_t i = 0; i < n; i++) {
		out->pool += pool_state_version(parts[i].pool);
		out->persist += persist_state_version(parts[i].persist);
		out->touch += persist_version(parts[i].persist);
	}
	out->names = names_text(parts, n);
	out->runtime = runtime_text(rt);
	if (out->names != NULL && out->runtime != NULL)
		return true;
	saved_clear(out);
	return false;
}

static bool
changed(const struct saver *s, const struct saved *now)
{
	const struct saved *was = &s->saved;

	if (now->pool != was->pool || now->persist != was->persist ||
	    was->runtime == NULL || strcmp(now->runtime, was->runtime) != 0 ||
	    was->names == NULL || strcmp(now->names, was->names) != 0)
		return true;
	/* Only recency moved: worth a save now and then, not every second. */
	return now->touch != was->touch && now->at - was->at >= s->p.touch_ms;
}

static void
saved_replace(struct saved *dst, struct saved *src)
{
	saved_clear(dst);
	*dst = *src;
	src->names = src->runtime = NULL;
}

struct saver *
saver_new(const struct saver_params *p, int lock_fd)
{
	struct state_part *parts;
	struct saver *s;
	struct json_object *rt;
	size_t n;
	bool ok;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->p = *p;
	s->lock_fd = lock_fd;
	s->saving = true;
	if ((parts = parts_now(s, &n)) == NULL) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	rt = p->runtime(p->arg);
	ok = snapshot(s, parts, n, rt, &s->saved);
	json_object_put(rt);
	parts_done(s, parts);
	if (!ok) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
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
	saved_clear(&s->saved);		/* differs from anything: save at once */
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
	saved_clear(&s->pending);
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
	struct state_part *parts;
	struct json_object *rt;
	struct saved now;
	char err[256];
	size_t n;
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
	if ((parts = parts_now(s, &n)) == NULL) {
		log_warnx("state: out of memory");
		return SAVER_EVERY_MS;
	}
	rt = s->p.runtime(s->p.arg);
	if (!snapshot(s, parts, n, rt, &now)) {
		json_object_put(rt);
		parts_done(s, parts);
		log_warnx("state: out of memory");
		return SAVER_EVERY_MS;
	}
	if (!changed(s, &now)) {
		json_object_put(rt);
		parts_done(s, parts);
		saved_clear(&now);
		if (s->handover)
			finish_handover(s);
		return SAVER_EVERY_MS;
	}
	s->child = state_save_parts_start(s->p.path, parts, n, rt, now.at);
	json_object_put(rt);
	parts_done(s, parts);
	if (s->child == -1) {
		s->child = 0;
		saved_clear(&now);
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

/* Synchronously: at exit, with the loop stopped. */
static void
save_last(struct saver *s)
{
	struct state_part *parts;
	struct json_object *rt;
	size_t n;

	if ((parts = parts_now(s, &n)) == NULL) {
		log_warnx("state: out of memory: %s not saved at exit", s->p.path);
		return;
	}
	rt = s->p.runtime(s->p.arg);
	if (state_save_parts(s->p.path, parts, n, rt, loop_now(s->p.loop)) == -1)
		log_warn("state: cannot write %s", s->p.path);
	json_object_put(rt);
	parts_done(s, parts);
}

void
saver_free(struct saver *s)
{
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
	if (s->saving)
		save_last(s);
	state_unlock(s->lock_fd);
	saved_clear(&s->saved);
	saved_clear(&s->pending);
	free(s);
}
