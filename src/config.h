/*
 * config: every option of harmonyd, its default, its parsing from the
 * command line (getopt_long) and from a JSON config file (json-c, comments
 * allowed), and its validation.
 *
 * One table describes every option once: its flag is also its config key.
 * Flags override the file: cfg_parse_args reads -c first, loads the file,
 * then applies the other flags. A struct config owns all its strings and
 * arrays; cfg_free releases them.
 *
 * Services (issue 15): a service is a struct config of its own, in
 * cfg->services, whose per-service fields (CFG_SERVICE_KEYS below: its
 * listeners, targets, algorithm, persistence, limits, timeouts and texts)
 * are in force; its other fields are unused. The file's "services" object
 * (name -> the same keys as the top level) and the command line's
 * --service NAME (the per-service flags after it belong to that service)
 * define them; a service inherits every per-service tunable it does not
 * set from the top level, but never its listen or targets: each service
 * sets its listen, and with services the top level may set neither. A
 * listen is a comma list ("8080,127.0.0.2:8080"; in JSON also a number
 * or an array), kept as given in listen, parsed into listens[]. With no
 * services configured, cfg_validate makes one named "default" of the
 * top-level values, so that the daemon always runs cfg->services[] and a
 * configuration of today means what it always meant.
 */
#ifndef HARMONY_CONFIG_H
#define HARMONY_CONFIG_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "check/check.h"
#include "core/net.h"


struct cfg_target {
	struct net_addr	 addr;		/* numeric; len 0 while name is unresolved */
	uint32_t	 weight;
	uint16_t	 port;
	char		 name[NET_NAME_MAX];	/* the host name given, "" if numeric */
};

struct cfg_cidr {
	struct net_cidr	 net;
};

/* One "sni" entry: a server name pattern (proxy/sni.h) and its service. */
struct cfg_sni {
	char		*pattern;
	char		*service;
};

#define CFG_SNI_CLOSE		"close"	/* sni-default: no service, close */
#define CFG_INSPECT_MAX_MIN	256
#define CFG_INSPECT_MAX_MAX	65536

/* One element of a listen text ("8080,127.0.0.2:8080"). */
#define CFG_LISTEN_TEXT	(NET_NAME_MAX + 8)
#define CFG_LISTEN_MAX	16		/* listeners of one service */
#define CFG_SERVICES_MAX 256

struct cfg_listen {
	char		 text[CFG_LISTEN_TEXT];	/* as given */
	struct net_addr	 addr;		/* len 0: a name CFG_DEFER_NAMES left */
};

/*
 * The keys a service may set, the same names as the top level's. Every
 * other key is the daemon's (ack port, admin, token, state, logs, grace).
 */
#define CFG_SERVICE_KEYS "listen, target, balance, persistent, persist-ttl," \
	" persist-max, concurrency, queue-max, queue-timeout, requeue," \
	" unavailable, unavailable-file, host-timeout, connect-timeout," \
	" idle-timeout, check, check-interval, check-timeout, check-rise," \
	" check-fall, check-port, check-send-proxy, slow-start, send-proxy," \
	" accept-proxy, sni, sni-default, inspect-timeout, inspect-max"

struct config {
	char		*config_file;		/* -c */
	char		*host;			/* --host, default "localhost" */
	char		*listen;		/* --listen, raw text "[ADDR:]PORT[,...]", "3000" */
	struct cfg_listen *listens;		/* listen's elements, by cfg_validate */
	size_t		 nlistens;
	char		*ack_port;		/* --ack-port, "1666"; "0" disables */
	char		*http;			/* --http, "1667"; "0" disables */
	struct cfg_target *targets;		/* --target, repeatable */
	size_t		 ntargets;
	int		 balance;		/* enum balance_algo */
	bool		 persistent;
	int64_t		 persist_ttl_ms;	/* 30m */
	int64_t		 persist_max;		/* 100000 */
	int64_t		 concurrency;		/* -1 unlimited, 0 paused */
	int64_t		 queue_max;		/* 1024 */
	int64_t		 queue_timeout_ms;	/* 30s */
	int64_t		 requeue;		/* 1 */
	char		*unavailable;		/* bytes, escapes decoded */
	size_t		 unavailable_len;
	char		*unavailable_file;
	int64_t		 host_timeout_ms;	/* 1m */
	int64_t		 connect_timeout_ms;	/* 5s */
	int64_t		 idle_timeout_ms;	/* 10m, 0 never */
	struct check_params check;		/* "check", --check*: none */
	int64_t		 slow_start_ms;		/* --slow-start, 0 none */
	/* PROXY protocol and SNI (docs/harmonyd.8, PROXY PROTOCOL AND SNI). */
	int		 send_proxy;		/* 0 off, else the version, 1 or 2 */
	struct net_cidr	*accept_proxy;		/* trusted sources; none: off */
	size_t		 naccept_proxy;
	struct cfg_sni	*sni;			/* server name -> service */
	size_t		 nsni;
	char		*sni_default;		/* NULL: this service; CFG_SNI_CLOSE */
	int64_t		 inspect_timeout_ms;	/* 5s */
	int64_t		 inspect_max;		/* 16384 */
	int64_t		 grace_ms;		/* 10s */
	char		*token;			/* --token or --token-file contents */
	char		*token_file;
	struct cfg_cidr	*allow;			/* --allow, repeatable */
	size_t		 nallow;
	char		**admin_hosts;		/* --admin-host, repeatable */
	size_t		 nadmin_hosts;
	char		*web_root;
	char		*state_file;
	int64_t		 takeover_pid;		/* --takeover, 0: none (CLI only) */
	char		*access_log;		/* path, or "-" for stdout */
	int		 log_level;		/* enum log_level */
	bool		 defer_names;		/* parsed with CFG_DEFER_NAMES */

	/* Services: see the comment at the top. */
	char		*name;			/* a service's name; NULL at the top */
	char		*default_service;	/* --default / "default" as given */
	struct config	*services;		/* in the order configured */
	size_t		 nservices;		/* >= 1 after cfg_validate */
	size_t		 default_index;		/* services[] of the default one */
	bool		 services_implicit;	/* none configured: "default" made */

	/* config.c's own: the options[] a file or flag set, by index. */
	uint64_t	 given;
};

/*
 * The ranges of the options that also change at run time (settings.h,
 * PATCH /api/v1/config): one rule for the flag, the file and the API.
 */
#define CFG_CONCURRENCY_MIN	(-1)		/* unlimited */
#define CFG_CONCURRENCY_MAX	10000000
#define CFG_REQUEUE_MAX		100

enum cfg_result {
	CFG_OK = 0,
	CFG_EXIT = 1,		/* --help or --version printed: exit 0 */
	CFG_ERROR = -1,		/* err holds one line: exit 2 */
};

void		 cfg_defaults(struct config *);
void		 cfg_free(struct config *);
/* Defaults, then the file named by -c (if any), then the other flags. */
enum cfg_result	 cfg_parse_args(struct config *, int argc, char *argv[],
		    char *err, size_t errlen);
/*
 * With CFG_DEFER_NAMES no name is resolved (getaddrinfo may block; a
 * reload runs on the loop): a target given by name keeps it in name, with
 * addr.len 0, for the caller to resolve; listen addresses given by name
 * are left unchecked (they change only with a restart anyway).
 */
#define CFG_DEFER_NAMES	0x1
enum cfg_result	 cfg_parse_args_ex(struct config *, int argc, char *argv[],
		    unsigned flags, char *err, size_t errlen);
/* Applies a JSON config file over what cfg already holds. */
int		 cfg_load_file(struct config *, const char *path, char *err, size_t errlen);
int		 cfg_load_json(struct config *, const char *text, size_t len,
		    char *err, size_t errlen);
/*
 * Cross-option checks, after everything is applied: listen addresses
 * resolve and differ, across every service and the ack and admin ports
 * (those given by name only without CFG_DEFER_NAMES); fills listens[] of
 * each service; makes the "default" service when none is configured and
 * finds the default one (the "default" key, else the one named
 * "default", else the only one). Errors name the service and the key:
 * "services.web.balance: ...". The services each "sni" value and
 * "sni-default" name must exist (in every service, after inheritance),
 * and each service's check learns its PROXY version (check.proxy_version).
 */
int		 cfg_validate(struct config *, char *err, size_t errlen);
/* The default service (cfg_validate has run). */
struct config	*cfg_default_service(struct config *);
/* The service of that name, or NULL. */
struct config	*cfg_service_find(struct config *, const char *name);
struct proxy_params;
void		 cfg_proxy_params(const struct config *, struct proxy_params *);
void		 cfg_usage(FILE *);

/* "HOST:PORT[@WEIGHT]" */
int		 cfg_parse_target(const char *, struct cfg_target *, char *err, size_t errlen);
/* "\r\n", "\t", "\\", "\xHH" decoded; returns malloc'd bytes and length. */
int		 cfg_unescape(const char *, char **out, size_t *outlen, char *err, size_t errlen);

#endif
