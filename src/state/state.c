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
	bool	 first;
};

static void
save_persist_entry(const struct persist_entry_info *e, void *arg)
{
	struct save_ctx *c = arg;

	fprintf(c->fp, "%s\n    {\"client\": \"%s\", \"target\": %u, \"idle_ms\": %lld}",
	    c->first ? "" : ",", e->client, (unsigned)e->target_id,
	    (long long)(c->now > e->last_use ? c->now - e->last_use : 0));
	c->first = false;
}

/* Static targets: only their identity, so that each keeps its id. */
static void
save_static(FILE *fp, const struct pool *pool)
{
	const struct target *t;
	bool first = true;

	TAILQ_FOREACH(t, pool_targets(pool), entry) {
		if (t->source != TARGET_SRC_STATIC)
			continue;
		fprintf(fp, "%s\n    {\"id\": %u, \"host\": \"%s\", \"port\": %u}",
		    first ? "" : ",", (unsigned)t->id, t->host, (unsigned)t->port);
		first = false;
	}
}

static void
save_targets(FILE *fp, const struct pool *pool)
{
	const struct target *t;
	bool first = true;

	TAILQ_FOREACH(t, pool_targets(pool), entry) {
		/* Static targets come from the configuration; leaving ones are gone. */
		if (t->source == TARGET_SRC_STATIC || t->leaving)
			continue;
		fprintf(fp, "%s\n    {\"id\": %u, \"key\": \"%s\", \"host\": \"%s\", "
		    "\"port\": %u, \"weight\": %u, \"source\": \"%s\", "
		    "\"timeout_ms\": %lld, \"own_timeout\": %s, \"state\": \"%s\"}",
		    first ? "" : ",", (unsigned)t->id, t->key, t->host,
		    (unsigned)t->port, (unsigned)t->weight, target_source_name(t->source),
		    (long long)t->timeout_ms, t->own_timeout ? "true" : "false",
		    t->state == TARGET_DRAINING ? "draining" : "up");
		first = false;
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

int
state_save(const char *path, const struct pool *pool, const struct persist *persist,
    struct json_object *runtime, int64_t now)
{
	struct save_ctx ctx;
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
	fprintf(fp, "{\n  \"harmony_state\": %d,\n  \"next_id\": %u,\n  \"static\": [",
	    STATE_FORMAT, (unsigned)pool_next_id(pool));
	save_static(fp, pool);
	fprintf(fp, "\n  ],\n  \"targets\": [");
	save_targets(fp, pool);
	fprintf(fp, "\n  ],\n  \"persistence\": [");
	ctx = (struct save_ctx){ .fp = fp, .now = now, .first = true };
	persist_foreach(persist, save_persist_entry, &ctx);
	fprintf(fp, "\n  ],\n  \"runtime\": %s\n}\n", runtime ?
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

pid_t
state_save_start(const char *path, const struct pool *pool,
    const struct persist *persist, struct json_object *runtime, int64_t now)
{
	pid_t pid;
	int rc;

	if ((pid = fork()) != 0)
		return pid;		/* the parent, or -1 */
	/*
	 * The child: a copy-on-write snapshot of the registry. It must not
	 * keep the parent's listeners or state lock alive, nor run the
	 * parent's signal handlers, nor flush the parent's stdio buffers.
	 */
	child_enter(3);
	rc = state_save(path, pool, persist, runtime, now);
	_exit(rc == 0 ? 0 : (errno > 0 && errno < 256 ? errno : EIO));
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

/* With pool NULL, only checks. */
static int
load_static(json_object *arr, struct pool *pool, char *err, size_t errlen)
{
	size_t n = arr != NULL ? json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		const char *host;
		int64_t id, port;
		struct net_addr a;

		if (!json_object_is_type(o, json_type_object) ||
		    !get_int(o, "id", 1, UINT32_MAX, &id) ||
		    (host = get_string(o, "host")) == NULL ||
		    !get_int(o, "port", 1, 65535, &port) ||
		    parse_host(host, (uint16_t)port, &a) == -1) {
			snprintf(err, errlen, "static target %zu is malformed", i);
			return -1;
		}
		if (pool != NULL && pool_remember_static_id(pool,
		    (struct sockaddr *)&a.ss, a.len, (uint32_t)id) == -1) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

static int
load_targets(json_object *arr, struct pool *pool, size_t *restored, char *err,
    size_t errlen)
{
	size_t n = json_object_array_length(arr);
	struct saved_target *st = calloc(n + 1, sizeof(*st));
	int rc = -1;

	if (st == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (check_target(json_object_array_get_idx(arr, i), &st[i], err, errlen) == -1)
			goto out;
	for (size_t i = 0; i < n; i++) {
		struct target *t = pool_restore(pool, st[i].source,
		    (struct sockaddr *)&st[i].addr.ss, st[i].addr.len, st[i].weight,
		    st[i].timeout_ms, st[i].id, st[i].key);

		if (t == NULL) {
			/* A duplicate or bad entry: skip it, keep the rest. */
			log_warn("state: target %u not restored", (unsigned)st[i].id);
			continue;
		}
		if (st[i].draining)
			pool_drain(t);
		(*restored)++;
	}
	rc = 0;
out:
	free(st);
	return rc;
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

enum state_load_result
state_load(const char *path, struct pool *pool, struct persist *persist,
    struct json_object **runtime, int64_t now, size_t *restored, char *err,
    size_t errlen)
{
	json_tokener *tok;
	json_object *root = NULL, *targets, *pers, *rt, *stat_ids = NULL, *v;
	enum json_tokener_error jerr;
	int64_t format, next_id = 1;
	size_t len = 0;
	char *text;

	*runtime = NULL;
	*restored = 0;
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
		goto bad;
	}
	json_tokener_set_flags(tok, STATE_JSON_FLAGS);
	root = json_tokener_parse_ex(tok, text, (int)len + 1);
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
	if (jerr != json_tokener_success)
		goto bad;
	if (!json_object_is_type(root, json_type_object) ||
	    !get_int(root, "harmony_state", STATE_FORMAT, STATE_FORMAT, &format) ||
	    !json_object_object_get_ex(root, "targets", &targets) ||
	    !json_object_is_type(targets, json_type_array) ||
	    !json_object_object_get_ex(root, "persistence", &pers) ||
	    !json_object_is_type(pers, json_type_array)) {
		snprintf(err, errlen, "not a harmony state file (format %d)", STATE_FORMAT);
		goto bad;
	}
	/* Both optional: files written before them give ids by position. */
	if (json_object_object_get_ex(root, "next_id", &v) &&
	    !get_int(root, "next_id", 1, UINT32_MAX, &next_id)) {
		snprintf(err, errlen, "bad next_id");
		goto bad;
	}
	if (json_object_object_get_ex(root, "static", &stat_ids) &&
	    !json_object_is_type(stat_ids, json_type_array)) {
		snprintf(err, errlen, "bad static list");
		goto bad;
	}
	if (load_persistence(pers, NULL, now, err, errlen) == -1 ||
	    load_static(stat_ids, NULL, err, errlen) == -1)
		goto bad;
	/* load_targets checks every entry before it restores any. */
	if (load_targets(targets, pool, restored, err, errlen) == -1)
		goto bad;
	pool_reserve_ids(pool, (uint32_t)next_id);
	if (load_static(stat_ids, pool, err, errlen) == -1 ||
	    load_persistence(pers, persist, now, err, errlen) == -1)
		goto bad;
	if (json_object_object_get_ex(root, "runtime", &rt) &&
	    json_object_is_type(rt, json_type_object))
		*runtime = json_object_get(rt);
	json_object_put(root);
	return STATE_LOADED;
bad:
	json_object_put(root);
	keep_aside(path);
	return STATE_BAD;
}
