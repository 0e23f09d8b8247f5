/*
 * state: see state.h.
 *
 * Writing uses stdio directly: every value but the runtime object is a
 * number, a hex key or a numeric address, none of which needs escaping, and
 * a persistence table of 100000 entries would otherwise mean 100000 json-c
 * objects per save. Reading uses json-c, strictly, and checks every entry
 * before applying any, so a bad file changes nothing.
 *
 * No path is ever followed through a symlink: the temporary file is made
 * with O_CREAT|O_EXCL (mkostemp), which fails on any existing name, the
 * state file and its lock are opened with O_NOFOLLOW, and rename replaces
 * a symlink at FILE instead of writing through it.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/file.h"
#include "common/addr.h"
#include "common/log.h"
#include "common/service.h"
#include "core/child.h"
#include "core/jsondup.h"
#include "core/net.h"
#include "registry/persist.h"
#include "registry/pool.h"
#include "state/state.h"

#define STATE_FORMAT	1
#define STATE_FILE_MAX	(256 * 1024 * 1024)
#define STATE_DEPTH	8
#define STATE_JSON_FLAGS (JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8)

/* --- saving ------------------------------------------------------------ */

struct save_ctx {
	FILE	*fp;
	int64_t	 now;
	int	 indent;
	bool	 first;
};

/* What one section of the file is made of (state_part, read only). */
struct save_part {
	const char		*name;	/* NULL: a file of one pool, unnamed */
	const struct pool	*pool;
	const struct persist	*persist;
};

static void
save_persist_entry(const struct persist_entry_info *e, void *arg)
{
	struct save_ctx *c = arg;

	fprintf(c->fp, "%s\n%*s{\"client\": \"%s\", \"target\": %u, \"idle_ms\": %lld}",
	    c->first ? "" : ",", c->indent, "", e->client, (unsigned)e->target_id,
	    (long long)(c->now > e->last_use ? c->now - e->last_use : 0));
	c->first = false;
}

/* Static targets: only their identity, so that each keeps its id. */
static void
save_static(FILE *fp, const struct pool *pool, int indent)
{
	const struct target *t;
	bool first = true;

	TAILQ_FOREACH(t, pool_targets(pool), entry) {
		if (t->source != TARGET_SRC_STATIC)
			continue;
		fprintf(fp, "%s\n%*s{\"id\": %u, \"host\": \"%s\", \"port\": %u}",
		    first ? "" : ",", indent, "", (unsigned)t->id, t->host,
		    (unsigned)t->port);
		first = false;
	}
}

static void
save_targets(FILE *fp, const struct pool *pool, int indent)
{
	const struct target *t;
	bool first = true;

	TAILQ_FOREACH(t, pool_targets(pool), entry) {
		/* Static targets come from the configuration; leaving ones are gone. */
		if (t->source == TARGET_SRC_STATIC || t->leaving)
			continue;
		fprintf(fp, "%s\n%*s{\"id\": %u, \"key\": \"%s\", \"host\": \"%s\", "
		    "\"port\": %u, \"weight\": %u, \"source\": \"%s\", "
		    "\"timeout_ms\": %lld, \"own_timeout\": %s, \"state\": \"%s\"}",
		    first ? "" : ",", indent, "", (unsigned)t->id, t->key, t->host,
		    (unsigned)t->port, (unsigned)t->weight, target_source_name(t->source),
		    (long long)t->timeout_ms, t->own_timeout ? "true" : "false",
		    t->state == TARGET_DRAINING ? "draining" : "up");
		first = false;
	}
}

/* A section's three lists, their keys at indent, their entries deeper. */
static void
save_lists(FILE *fp, const struct save_part *sp, int64_t now, int indent)
{
	struct save_ctx ctx = { .fp = fp, .now = now, .indent = indent + 2,
	    .first = true };

	fprintf(fp, "\"static\": [");
	save_static(fp, sp->pool, indent + 2);
	fprintf(fp, "\n%*s],\n%*s\"targets\": [", indent, "", indent, "");
	save_targets(fp, sp->pool, indent + 2);
	fprintf(fp, "\n%*s],\n%*s\"persistence\": [", indent, "", indent, "");
	persist_foreach(sp->persist, save_persist_entry, &ctx);
	fprintf(fp, "\n%*s]", indent, "");
}

/*
 * The default service's section at the top level, as a file of one pool
 * always was; the others' under "services", which only a file of several
 * has. Names are written as they are: service_name_valid needs no escape.
 */
static void
save_body(FILE *fp, const struct save_part *sp, size_t n, int64_t now)
{
	fprintf(fp, "{\n  \"harmony_state\": %d,\n", STATE_FORMAT);
	if (sp[0].name != NULL)
		fprintf(fp, "  \"service\": \"%s\",\n", sp[0].name);
	fprintf(fp, "  \"next_id\": %u,\n  ", (unsigned)pool_next_id(sp[0].pool));
	save_lists(fp, &sp[0], now, 2);
	fprintf(fp, ",\n");
	if (n > 1) {
		fprintf(fp, "  \"services\": {");
		for (size_t i = 1; i < n; i++) {
			fprintf(fp, "%s\n    \"%s\": {\n      ", i > 1 ? "," : "",
			    sp[i].name);
			save_lists(fp, &sp[i], now, 6);
			fprintf(fp, "\n    }");
		}
		fprintf(fp, "\n  },\n");
	}
}

static int
fsync_dir_of(const char *path)
{
	char *copy = strdup(path);
	int fd, rc = -1;

	if (copy == NULL)
		return -1;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd != -1) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

static int
fail_saved(int fd, FILE *fp, const char *tmp)
{
	int saved = errno;

	if (fp != NULL)
		fclose(fp);
	else if (fd != -1)
		close(fd);
	unlink(tmp);
	errno = saved != 0 ? saved : EIO;
	return -1;
}

static int
save_file(const char *path, const struct save_part *sp, size_t n,
    struct json_object *runtime, int64_t now)
{
	char tmp[4096];
	FILE *fp;
	int fd;

	/* A name of our own in FILE's directory, so rename stays atomic. */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1)
		return -1;
	/* mkostemp makes it 0600 already; say so whatever the umask. */
	if (fchmod(fd, 0600) == -1)
		return fail_saved(fd, NULL, tmp);
	if ((fp = fdopen(fd, "w")) == NULL)
		return fail_saved(fd, NULL, tmp);
	save_body(fp, sp, n, now);
	fprintf(fp, "  \"runtime\": %s\n}\n", runtime ?
	    json_object_to_json_string_ext(runtime, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE) : "null");
	if (fflush(fp) == EOF || ferror(fp) || fsync(fd) == -1)
		return fail_saved(fd, fp, tmp);
	if (fclose(fp) == EOF)
		return fail_saved(-1, NULL, tmp);
	if (rename(tmp, path) == -1)
		return fail_saved(-1, NULL, tmp);
	/* The rename itself must reach the disk too. */
	(void)fsync_dir_of(path);
	return 0;
}

int
state_save(const char *path, const struct pool *pool, const struct persist *persist,
    struct json_object *runtime, int64_t now)
{
	const struct save_part sp = { .pool = pool, .persist = persist };

	return save_file(path, &sp, 1, runtime, now);
}

int
state_save_parts(const char *path, const struct state_part *parts, size_t n,
    struct json_object *runtime, int64_t now)
{
	struct save_part *sp;
	int rc, saved;

	if (n == 0) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (parts[i].name == NULL ? n > 1 :
		    !service_name_valid(parts[i].name, strlen(parts[i].name))) {
			errno = EINVAL;
			return -1;
		}
	if ((sp = calloc(n, sizeof(*sp))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		sp[i] = (struct save_part){ .name = parts[i].name,
		    .pool = parts[i].pool, .persist = parts[i].persist };
	rc = save_file(path, sp, n, runtime, now);
	saved = errno;
	free(sp);
	errno = saved;
	return rc;
}

/*
 * As fork. The child works on a copy-on-write snapshot of the registry.
 * It must not keep the parent's listeners or state lock alive, nor run
 * the parent's signal handlers, nor flush the parent's stdio buffers.
 */
static pid_t
save_fork(void)
{
	pid_t pid = fork();

	if (pid == 0)
		child_enter(3);
	return pid;
}

/* The child's end: the save's errno is its exit status. */
static _Noreturn void
save_exit(int rc)
{
	_exit(rc == 0 ? 0 : (errno > 0 && errno < 256 ? errno : EIO));
}

pid_t
state_save_start(const char *path, const struct pool *pool,
    const struct persist *persist, struct json_object *runtime, int64_t now)
{
	pid_t pid;

	if ((pid = save_fork()) != 0)
		return pid;		/* the parent, or -1 */
	save_exit(state_save(path, pool, persist, runtime, now));
}

pid_t
state_save_parts_start(const char *path, const struct state_part *parts,
    size_t n, struct json_object *runtime, int64_t now)
{
	pid_t pid;

	if ((pid = save_fork()) != 0)
		return pid;		/* the parent, or -1 */
	save_exit(state_save_parts(path, parts, n, runtime, now));
}

int
state_save_reap(pid_t pid, bool wait, char *err, size_t errlen)
{
	int status;
	pid_t got;

	while ((got = waitpid(pid, &status, wait ? 0 : WNOHANG)) == -1 && errno == EINTR)
		;
	if (got == 0)
		return 0;
	if (got == -1) {
		snprintf(err, errlen, "waitpid: %s", strerror(errno));
		return -1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 1;
	if (WIFEXITED(status))
		snprintf(err, errlen, "%s", strerror(WEXITSTATUS(status)));
	else if (WIFSIGNALED(status))
		snprintf(err, errlen, "the saving process was killed by signal %d",
		    WTERMSIG(status));
	else
		snprintf(err, errlen, "the saving process ended oddly (%d)", status);
	return -1;
}

/* --- the lock ---------------------------------------------------------- */

static pid_t
lock_holder(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	long pid;
	char *end;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return pid > 0 && pid <= INT32_MAX && (*end == '\n' || *end == '\0') ?
	    (pid_t)pid : 0;
}

/*
 * Temporary files of saves that died (SIGKILL, a crash): ours to remove
 * once we hold the lock, since only the holder's saves make them.
 */
static void
remove_stale_temps(const char *path)
{
	char *dcopy = strdup(path), *bcopy = strdup(path), prefix[4096];
	struct dirent *de;
	size_t plen;
	DIR *d = NULL;
	int n;

	if (dcopy == NULL || bcopy == NULL)
		goto out;
	n = snprintf(prefix, sizeof(prefix), "%s.tmp.", basename(bcopy));
	if (n < 0 || (size_t)n >= sizeof(prefix) || (d = opendir(dirname(dcopy))) == NULL)
		goto out;
	plen = (size_t)n;
	while ((de = readdir(d)) != NULL) {
		const char *x = de->d_name + plen;

		/* mkostemp's six letters and digits, nothing else. */
		if (strncmp(de->d_name, prefix, plen) != 0 || strlen(x) != 6 ||
		    strspn(x, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		    "0123456789") != 6)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_info("state: removed %s, left by a save that did not finish",
			    de->d_name);
	}
out:
	if (d != NULL)
		closedir(d);
	free(dcopy);
	free(bcopy);
}

int
state_lock(const char *path, int64_t wait_ms, pid_t *holder, char *err,
    size_t errlen)
{
	char lock[4096], pid[32];
	int fd, n;

	*holder = 0;
	if ((size_t)snprintf(lock, sizeof(lock), "%s.lock", path) >= sizeof(lock)) {
		snprintf(err, errlen, "%s.lock: %s", path, strerror(ENAMETOOLONG));
		return -1;
	}
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", lock, strerror(errno));
		return -1;
	}
	for (int64_t waited = 0; flock(fd, LOCK_EX | LOCK_NB) == -1; waited += 20) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK || waited >= wait_ms) {
			if (errno == EWOULDBLOCK) {
				*holder = lock_holder(fd);
				snprintf(err, errlen, "%s is locked", lock);
			} else {
				snprintf(err, errlen, "%s: %s", lock, strerror(errno));
			}
			close(fd);
			return -1;
		}
		(void)poll(NULL, 0, 20);	/* at start-up only: no loop yet */
	}
	/* Who holds it, for the next one's error message. */
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("state: %s: cannot write our pid", lock);
	remove_stale_temps(path);
	return fd;
}

void
state_unlock(int fd)
{
	if (fd == -1)
		return;
	/* Explicit: a save child may still hold a copy of the descriptor. */
	(void)flock(fd, LOCK_UN);
	close(fd);
}

/* --- loading ----------------------------------------------------------- */

struct saved_target {
	uint32_t		 id;
	const char		*key;
	struct net_addr		 addr;
	uint32_t		 weight;
	enum target_source	 source;
	int64_t			 timeout_ms;	/* 0: the pool's default */
	bool			 draining;
};

static bool
get_int(json_object *o, const char *key, int64_t min, int64_t max, int64_t *out)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return false;
	*out = json_object_get_int64(v);
	return *out >= min && *out <= max;
}

static const char *
get_string(json_object *o, const char *key)
{
	json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

/* A saved address: numeric only (the file never holds a name). */
static int
parse_host(const char *host, uint16_t port, struct net_addr *a)
{
	a->len = 0;
	return addr_numeric(host, port, &a->ss, &a->len);
}

/*
 * A key as pool.c makes them: TARGET_KEY_LEN lowercase hex digits. The
 * next save writes it back as it is, so anything else (a quote, a control
 * byte) would make every later file unreadable.
 */
static bool
key_ok(const char *key)
{
	size_t i;

	for (i = 0; key[i] != '\0'; i++)
		if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
			return false;
	return i == TARGET_KEY_LEN;
}

static int
check_target(json_object *o, struct saved_target *st, char *err, size_t errlen)
{
	int64_t id, port, weight, timeout;
	const char *host, *source, *state;
	json_object *own = NULL;

	if (!json_object_is_type(o, json_type_object) ||
	    !get_int(o, "id", 1, UINT32_MAX, &id) ||
	    (st->key = get_string(o, "key")) == NULL || !key_ok(st->key) ||
	    (host = get_string(o, "host")) == NULL ||
	    !get_int(o, "port", 0, 65535, &port) ||
	    !get_int(o, "weight", LIMIT_WEIGHT_MIN, LIMIT_WEIGHT_MAX, &weight) ||
	    (source = get_string(o, "source")) == NULL ||
	    !get_int(o, "timeout_ms", 1, INT64_MAX / 1024, &timeout) ||
	    (state = get_string(o, "state")) == NULL) {
		snprintf(err, errlen, "a target lacks a field or has a wrong type or range");
		return -1;
	}
	if (strcmp(source, "ack") == 0)
		st->source = TARGET_SRC_ACK;
	else if (strcmp(source, "http") == 0)
		st->source = TARGET_SRC_HTTP;
	else {
		snprintf(err, errlen, "target %lld: bad source", (long long)id);
		return -1;
	}
	if (parse_host(host, (uint16_t)port, &st->addr) == -1) {
		snprintf(err, errlen, "target %lld: bad host", (long long)id);
		return -1;
	}
	st->id = (uint32_t)id;
	st->weight = (uint32_t)weight;
	/*
	 * A timeout that was the default then follows the default now (and any
	 * reload). Files without the key (older versions) kept only TTLs' worth
	 * of meaning: take the value as the target's own, as those versions did.
	 */
	if (json_object_object_get_ex(o, "own_timeout", &own) &&
	    !json_object_is_type(own, json_type_boolean)) {
		snprintf(err, errlen, "target %lld: own_timeout is not a boolean",
		    (long long)id);
		return -1;
	}
	if (strcmp(state, "up") != 0 && strcmp(state, "draining") != 0) {
		snprintf(err, errlen, "target %lld: bad state", (long long)id);
		return -1;
	}
	st->timeout_ms = own == NULL || json_object_get_boolean(own) ? timeout : 0;
	st->draining = strcmp(state, "draining") == 0;
	return 0;
}

/*
 * One section of a file being loaded: its lists as parsed, its targets
 * once checked, and the service it goes to (NULL: dropped).
 */
struct section {
	const char		*name;		/* NULL: the top one, unnamed */
	json_object		*stat;		/* NULL if absent */
	json_object		*targets;
	json_object		*pers;
	struct saved_target	*st;		/* the targets, checked */
	const struct state_part	*part;
};

static int
static_entry(json_object *o, int64_t *id, struct net_addr *a)
{
	const char *host;
	int64_t port;

	if (!json_object_is_type(o, json_type_object) ||
	    !get_int(o, "id", 1, UINT32_MAX, id) ||
	    (host = get_string(o, "host")) == NULL ||
	    !get_int(o, "port", 1, 65535, &port) ||
	    parse_host(host, (uint16_t)port, a) == -1)
		return -1;
	return 0;
}

static int
check_static(json_object *arr, char *err, size_t errlen)
{
	size_t n = arr != NULL ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++) {
		struct net_addr a;
		int64_t id;

		if (static_entry(json_object_array_get_idx(arr, i), &id, &a) == -1) {
			snprintf(err, errlen, "static target %zu is malformed", i);
			return -1;
		}
	}
	return 0;
}

static bool
static_list_has(json_object *arr, int64_t id)
{
	size_t n = arr != NULL ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++) {
		struct net_addr a;
		int64_t got;

		if (static_entry(json_object_array_get_idx(arr, i), &got, &a) == 0 &&
		    got == id)
			return true;
	}
	return false;
}

/*
 * Another service's already: one of its targets has the id, or a section
 * restored before this one gives it to one of its static targets. Within
 * one pool the pool sorts it out (a static target takes only a free id).
 */
static bool
static_id_taken(const struct section *secs, size_t which, int64_t id)
{
	struct pool *pool = secs[which].part->pool;
	const struct target *t = pools_find_id(pool, (uint32_t)id);

	if (t != NULL && t->pool != pool)
		return true;
	for (size_t i = 0; i < which; i++)
		if (secs[i].part != NULL && secs[i].part->pool != pool &&
		    static_list_has(secs[i].stat, id))
			return true;
	return false;
}

static int
restore_static(const struct section *secs, size_t which, char *err, size_t errlen)
{
	const struct section *sec = &secs[which];
	size_t n = sec->stat != NULL ? json_object_array_length(sec->stat) : 0;

	for (size_t i = 0; i < n; i++) {
		struct net_addr a;
		int64_t id;

		if (static_entry(json_object_array_get_idx(sec->stat, i), &id, &a) == -1)
			continue;	/* checked before: cannot be */
		if (static_id_taken(secs, which, id)) {
			log_warnx("state: the static id %lld of service %s not given"
			    " back: another service holds it", (long long)id,
			    pool_name(sec->part->pool));
			continue;
		}
		if (pool_remember_static_id(sec->part->pool, (struct sockaddr *)&a.ss,
		    a.len, (uint32_t)id) == -1) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

static void
restore_targets(const struct section *sec, size_t *restored)
{
	struct pool *pool = sec->part->pool;
	size_t n = json_object_array_length(sec->targets);

	pool_actor_set(pool, POOL_ACTOR_STATE);
	for (size_t i = 0; i < n; i++) {
		const struct saved_target *st = &sec->st[i];
		struct target *t;

		/* Ids and keys are daemon-wide: a hand-edited file may repeat one. */
		if ((t = pools_find_id(pool, st->id)) != NULL && t->pool != pool) {
			log_warnx("state: target %u of service %s not restored: service"
			    " %s has that id", (unsigned)st->id, pool_name(pool),
			    pool_name(t->pool));
			continue;
		}
		if ((t = pools_find_key(pool, st->key)) != NULL && t->pool != pool) {
			log_warnx("state: target %u of service %s not restored: its key"
			    " is target %u's, of service %s", (unsigned)st->id,
			    pool_name(pool), (unsigned)t->id, pool_name(t->pool));
			continue;
		}
		t = pool_restore(pool, st->source, (const struct sockaddr *)&st->addr.ss,
		    st->addr.len, st->weight, st->timeout_ms, st->id, st->key);
		if (t == NULL) {
			/* A duplicate or bad entry: skip it, keep the rest. */
			log_warn("state: target %u not restored", (unsigned)st->id);
			continue;
		}
		if (st->draining)
			pool_drain(t);
		(*restored)++;
	}
}

static int
persistence_entry(json_object *o, struct net_addr *a, int64_t *target, int64_t *idle)
{
	const char *client;

	if (!json_object_is_type(o, json_type_object) ||
	    (client = get_string(o, "client")) == NULL ||
	    parse_host(client, 0, a) == -1 ||
	    !get_int(o, "target", 1, UINT32_MAX, target) ||
	    !get_int(o, "idle_ms", 0, INT64_MAX / 2, idle))
		return -1;
	return 0;
}

/* With persist NULL, only checks. */
static int
load_persistence(json_object *arr, struct persist *persist, int64_t now,
    char *err, size_t errlen)
{
	size_t n = json_object_array_length(arr);

	/* Saved most recent first: insert oldest first to rebuild the LRU order. */
	for (size_t i = n; i-- > 0; ) {
		struct net_addr a;
		int64_t target, idle;

		if (persistence_entry(json_object_array_get_idx(arr, i), &a, &target,
		    &idle) == -1) {
			snprintf(err, errlen, "persistence entry %zu is malformed", i);
			return -1;
		}
		if (persist != NULL && persist_set(persist, (struct sockaddr *)&a.ss,
		    (uint32_t)target, now - idle) == -1) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

/* True, with the reason in err, if an object of text names a key twice. */
static bool
duplicate_key(const char *text, size_t len, char *err, size_t errlen)
{
	char key[64];
	size_t off;

	switch (jsondup_find(text, len, STATE_JSON_FLAGS, key, sizeof(key), &off)) {
	case 0:
		return false;
	case 1:
		snprintf(err, errlen, "\"%s\" given twice (at byte %zu)", key, off);
		return true;
	default:
		snprintf(err, errlen, "out of memory");
		return true;
	}
}

static void
keep_aside(const char *path)
{
	char bad[4096];

	if ((size_t)snprintf(bad, sizeof(bad), "%s.bad", path) >= sizeof(bad) ||
	    rename(path, bad) == -1)
		log_warn("state: cannot keep %s aside", path);
	else
		log_warnx("state: kept the bad file as %s", bad);
}

/* Everything in a section checked, its targets kept for restoring. */
static int
check_section(struct section *sec, char *err, size_t errlen)
{
	size_t n = json_object_array_length(sec->targets);

	if (load_persistence(sec->pers, NULL, 0, err, errlen) == -1 ||
	    check_static(sec->stat, err, errlen) == -1)
		return -1;
	if ((sec->st = calloc(n + 1, sizeof(*sec->st))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (check_target(json_object_array_get_idx(sec->targets, i),
		    &sec->st[i], err, errlen) == -1)
			return -1;
	return 0;
}

/* A "services" entry's lists: the same as the top level's. */
static int
section_of(const char *name, json_object *o, struct section *sec, char *err,
    size_t errlen)
{
	char why[256];

	sec->name = name;
	if (!service_name_valid(name, strlen(name))) {
		snprintf(err, errlen, "services: a name that is no service name");
		return -1;
	}
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "targets", &sec->targets) ||
	    !json_object_is_type(sec->targets, json_type_array) ||
	    !json_object_object_get_ex(o, "persistence", &sec->pers) ||
	    !json_object_is_type(sec->pers, json_type_array) ||
	    (json_object_object_get_ex(o, "static", &sec->stat) &&
	    !json_object_is_type(sec->stat, json_type_array))) {
		snprintf(err, errlen, "service %s: not a section of targets,"
		    " static and persistence lists", name);
		return -1;
	}
	if (check_section(sec, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "service %s: %s", name, why);
		return -1;
	}
	return 0;
}

/*
 * The whole file checked, its sections in *secs (the top one first);
 * nothing restored yet. -1 with the reason in err.
 */
static int
check_file(json_object *root, struct section **secs, size_t *nsecs,
    int64_t *next_id, char *err, size_t errlen)
{
	json_object *services = NULL, *v;
	struct section *top;
	int64_t format;
	size_t n = 1;

	*secs = NULL;
	*nsecs = 0;
	if (json_object_is_type(root, json_type_object) &&
	    json_object_object_get_ex(root, "services", &services)) {
		if (!json_object_is_type(services, json_type_object)) {
			snprintf(err, errlen, "services is not an object");
			return -1;
		}
		n += (size_t)json_object_object_length(services);
	}
	if ((*secs = top = calloc(n, sizeof(*top))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*nsecs = n;
	if (!json_object_is_type(root, json_type_object) ||
	    !get_int(root, "harmony_state", STATE_FORMAT, STATE_FORMAT, &format) ||
	    !json_object_object_get_ex(root, "targets", &top->targets) ||
	    !json_object_is_type(top->targets, json_type_array) ||
	    !json_object_object_get_ex(root, "persistence", &top->pers) ||
	    !json_object_is_type(top->pers, json_type_array)) {
		snprintf(err, errlen, "not a harmony state file (format %d)", STATE_FORMAT);
		return -1;
	}
	/* Both optional: files written before them give ids by position. */
	if (json_object_object_get_ex(root, "next_id", &v) &&
	    !get_int(root, "next_id", 1, UINT32_MAX, next_id)) {
		snprintf(err, errlen, "bad next_id");
		return -1;
	}
	if (json_object_object_get_ex(root, "static", &top->stat) &&
	    !json_object_is_type(top->stat, json_type_array)) {
		snprintf(err, errlen, "bad static list");
		return -1;
	}
	/* Optional too: files of one pool name no service. */
	if (json_object_object_get_ex(root, "service", &v) &&
	    ((top->name = get_string(root, "service")) == NULL ||
	    !service_name_valid(top->name, strlen(top->name)))) {
		snprintf(err, errlen, "bad service name");
		return -1;
	}
	if (check_section(top, err, errlen) == -1)
		return -1;
	if (services == NULL)
		return 0;
	n = 1;
	json_object_object_foreach(services, name, o) {
		if (top->name != NULL && strcmp(name, top->name) == 0) {
			snprintf(err, errlen, "service %s: given twice", name);
			return -1;
		}
		if (section_of(name, o, &top[n++], err, errlen) == -1)
			return -1;
	}
	return 0;
}

static const struct state_part *
part_named(const struct state_part *parts, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (parts[i].name != NULL && strcmp(parts[i].name, name) == 0)
			return &parts[i];
	return NULL;
}

/*
 * Each section to the service it names. The top one, unnamed or of a
 * service gone, is the default's, unless the default has one of its own:
 * no service gets two.
 */
static void
assign_sections(struct section *secs, size_t nsecs,
    const struct state_part *parts, size_t nparts)
{
	for (size_t i = 1; i < nsecs; i++)
		secs[i].part = part_named(parts, nparts, secs[i].name);
	if (secs[0].name != NULL &&
	    (secs[0].part = part_named(parts, nparts, secs[0].name)) != NULL)
		return;
	secs[0].part = &parts[0];
	for (size_t i = 1; i < nsecs; i++)
		if (secs[i].part == &parts[0])
			secs[0].part = NULL;
}

static void
say_dropped(const struct section *sec)
{
	size_t nt = json_object_array_length(sec->targets);
	size_t np = json_object_array_length(sec->pers);

	log_warnx("state: service %s is no longer configured: dropped its %zu"
	    " target%s and %zu persistence entr%s", sec->name != NULL ?
	    sec->name : "of the top level", nt, nt == 1 ? "" : "s", np,
	    np == 1 ? "y" : "ies");
}

static void
sections_free(struct section *secs, size_t n)
{
	if (secs == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(secs[i].st);
	free(secs);
}

/* The file parsed strictly into *root; STATE_LOADED if it was. */
static enum state_load_result
read_root(const char *path, json_object **root, char *err, size_t errlen)
{
	enum json_tokener_error jerr;
	json_tokener *tok;
	size_t len = 0;
	char *text;

	*root = NULL;
	/* Unreadable is not bad: it is left alone, and nothing saved over it. */
	/*
	 * Never through a symbolic link (the saver replaces the file by
	 * rename); a FIFO or device is refused without blocking the start.
	 */
	if (file_read(path, STATE_FILE_MAX, FILE_NOFOLLOW, &text, &len, err,
	    errlen) == -1)
		return errno == ENOENT ? STATE_NONE : STATE_UNREADABLE;
	if ((tok = json_tokener_new_ex(STATE_DEPTH)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(text);
		return STATE_BAD;
	}
	json_tokener_set_flags(tok, STATE_JSON_FLAGS);
	*root = json_tokener_parse_ex(tok, text, (int)len + 1);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_success && json_tokener_get_parse_end(tok) != len) {
		snprintf(err, errlen, "trailing data");
		jerr = json_tokener_error_parse_unexpected;
	} else if (jerr != json_tokener_success) {
		snprintf(err, errlen, "%s", json_tokener_error_desc(jerr));
	} else if (duplicate_key(text, len, err, errlen)) {
		/* json-c kept the last of the two silently: which was meant? */
		jerr = json_tokener_error_parse_unexpected;
	}
	json_tokener_free(tok);
	free(text);
	return jerr == json_tokener_success ? STATE_LOADED : STATE_BAD;
}

enum state_load_result
state_load_parts(const char *path, const struct state_part *parts, size_t nparts,
    struct json_object **runtime, int64_t now, size_t *restored, char *err,
    size_t errlen)
{
	json_object *root, *rt;
	struct section *secs = NULL;
	enum state_load_result r;
	int64_t next_id = 1;
	size_t nsecs = 0;

	*runtime = NULL;
	*restored = 0;
	if (nparts == 0) {
		snprintf(err, errlen, "no service to restore into");
		return STATE_UNREADABLE;
	}
	if ((r = read_root(path, &root, err, errlen)) == STATE_NONE ||
	    r == STATE_UNREADABLE)
		return r;
	if (r == STATE_BAD ||
	    check_file(root, &secs, &nsecs, &next_id, err, errlen) == -1)
		goto bad;
	assign_sections(secs, nsecs, parts, nparts);
	for (size_t i = 0; i < nsecs; i++)
		if (secs[i].part != NULL)
			restore_targets(&secs[i], restored);
	pool_reserve_ids(parts[0].pool, (uint32_t)next_id);
	for (size_t i = 0; i < nsecs; i++) {
		if (secs[i].part == NULL) {
			say_dropped(&secs[i]);
			continue;
		}
		if (restore_static(secs, i, err, errlen) == -1 ||
		    load_persistence(secs[i].pers, secs[i].part->persist, now, err,
		    errlen) == -1)
			goto bad;
	}
	if (json_object_object_get_ex(root, "runtime", &rt) &&
	    json_object_is_type(rt, json_type_object))
		*runtime = json_object_get(rt);
	sections_free(secs, nsecs);
	json_object_put(root);
	return STATE_LOADED;
bad:
	sections_free(secs, nsecs);
	json_object_put(root);
	keep_aside(path);
	return STATE_BAD;
}

enum state_load_result
state_load(const char *path, struct pool *pool, struct persist *persist,
    struct json_object **runtime, int64_t now, size_t *restored, char *err,
    size_t errlen)
{
	const struct state_part part = { .name = pool_name(pool), .pool = pool,
	    .persist = persist };

	return state_load_parts(path, &part, 1, runtime, now, restored, err, errlen);
}
