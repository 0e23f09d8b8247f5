/*
 * settings: the one writer of the live configuration.
 *
 * harmonyd's struct config holds the values in force, and two things change
 * it while it runs: PATCH /api/v1/config changes a few tunables (api.c,
 * settings_set), and SIGHUP replaces it with the options read again
 * (reload.c, settings_replace). Both come here. A change is checked whole
 * before anything is written, then written whole or not at all, and
 * settings_push is the one path by which the running parts (proxy,
 * balancer, pool, persistence, ack port) learn the values.
 *
 * Overrides: the tunables whose live value differs from the value as
 * configured (a struct settings_base copied from the file and flags at
 * start and at each reload). A PATCH leaves them behind; a reload puts
 * them back over the new configuration, the same keys included, so an
 * override stays until the configuration itself says the same value; the
 * state file saves them (settings_overrides) for a restart to restore.
 *
 * Every part named is borrowed and may be NULL (not told), so that a test
 * builds only the parts it looks at.
 */
#ifndef HARMONY_SETTINGS_H
#define HARMONY_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ackport;
struct ackport_params;
struct balancer;
struct config;
struct json_object;
struct net_cidr;
struct persist;
struct pool;
struct proxy;

/* The running parts that a change of the configuration reaches. */
struct settings_parts {
	struct pool	*pool;
	struct balancer	*balancer;
	struct persist	*persist;
	struct proxy	*proxy;
	struct ackport	*ackport;
};

/*
 * A change of the tunables, what PATCH /api/v1/config changes without a
 * reload; the SETTINGS_* bits say which it gives.
 */
#define SETTINGS_CONCURRENCY	0x01
#define SETTINGS_REQUEUE	0x02
#define SETTINGS_BALANCE	0x04
#define SETTINGS_PERSISTENT	0x08
#define SETTINGS_UNAVAILABLE	0x10
#define SETTINGS_ALL		0x1f

struct settings_change {
	unsigned	 set;		/* SETTINGS_* */
	int64_t		 concurrency;	/* -1 unlimited, 0 paused */
	int64_t		 requeue;
	int		 balance;	/* enum balance_algo */
	bool		 persistent;
	const char	*unavailable;	/* bytes, borrowed: copied when applied */
	size_t		 unavailable_len;
};

/* The tunables as configured, which the overrides are judged against. */
struct settings_base {
	struct settings_change v;	/* every one set; v.unavailable is text */
	char		*text;		/* owned */
};

/* The change's values against the options' ranges; -1 with the reason. */
int		 settings_check(const struct settings_change *, char *err,
		    size_t errlen);
/*
 * Checks the change, then applies it to cfg and the parts, or nothing at
 * all: 0, or -1 with the reason (out of range, out of memory). A new
 * unavailable text no longer comes from --unavailable-file.
 */
int		 settings_set(struct config *cfg, const struct settings_parts *,
		    const struct settings_change *, char *err, size_t errlen);
/*
 * SIGHUP: nc, read and checked (its names resolved), replaces cfg, which
 * the caller keeps; nc is left empty. The options bound at start-up
 * (listen addresses, state file, web root) keep their running values and a
 * change to them is reported; the overrides go back over the new values,
 * base becomes nc's own, and every part learns the result (also the
 * targets and sessions already there), the static targets included.
 */
void		 settings_replace(struct config *cfg, struct settings_base *base,
		    const struct settings_parts *, struct config *nc);
/*
 * SIGHUP with services (reload.c), in two halves. The daemon's options:
 * those bound at start-up keep their running values (as above), the log
 * level, the access log (reopened), the ack port's token and allow-list,
 * harmonyd's own addresses (any: one of its pools). Nothing is moved:
 * the caller swaps cfg and nc after.
 */
void		 settings_replace_daemon(struct config *cfg, struct ackport *,
		    struct pool *any, struct config *nc);
/*
 * One service that stays: the overrides of old (against base) go over
 * nc's tunables, base becomes nc's own, its parts learn nc's values and
 * its static targets are put in line with nc's.
 */
void		 settings_replace_service(const struct config *old,
		    struct settings_base *base, const struct settings_parts *,
		    struct config *nc);
/*
 * Tells the parts cfg's values: the tunables only, or everything. All are
 * told even if one fails; -1 then, with the first failure in err.
 */
int		 settings_push(const struct config *cfg, const struct settings_parts *,
		    bool all, char *err, size_t errlen);

/* Copies cfg's tunables into base (freeing what it held); -1 on ENOMEM. */
int		 settings_base_capture(struct settings_base *base,
		    const struct config *cfg);
void		 settings_base_free(struct settings_base *);
/* The live tunables that differ from base, as JSON; NULL if none. */
struct json_object *settings_overrides(const struct config *cfg,
		    const struct settings_base *base);
/*
 * Puts saved overrides (settings_overrides' JSON, from the state file) in
 * force: a key of the wrong type or out of range is left out, the others
 * kept.
 */
void		 settings_restore(struct config *cfg, const struct settings_parts *,
		    struct json_object *);

/*
 * The ack port's parameters from cfg; *allow is malloc'd (the caller frees
 * it once the ack port has copied it). -1 on ENOMEM.
 */
int		 settings_ackport_params(const struct config *cfg,
		    struct ackport_params *, struct net_cidr **allow);

#endif
