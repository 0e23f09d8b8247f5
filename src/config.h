/*
 * config: every option of harmonyd, its default, its parsing from the
 * command line (getopt_long) and from a JSON config file (json-c, comments
 * allowed), and its validation.
 *
 * One table describes every option once: its flag is also its config key.
 * Flags override the file: cfg_parse_args reads -c first, loads the file,
 * then applies the other flags. A struct config owns all its strings and
 * arrays; cfg_free releases them.
 */
#ifndef HARMONY_CONFIG_H
#define HARMONY_CONFIG_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

struct config {
	char		*config_file;		/* -c */
	char		*host;			/* --host, default "localhost" */
	char		*listen;		/* --listen, raw text, default "3000" */
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
 * resolve and differ (those given by name only without CFG_DEFER_NAMES).
 */
int		 cfg_validate(struct config *, char *err, size_t errlen);
struct proxy_params;
void		 cfg_proxy_params(const struct config *, struct proxy_params *);
void		 cfg_usage(FILE *);

/* "HOST:PORT[@WEIGHT]" */
int		 cfg_parse_target(const char *, struct cfg_target *, char *err, size_t errlen);
/* "\r\n", "\t", "\\", "\xHH" decoded; returns malloc'd bytes and length. */
int		 cfg_unescape(const char *, char **out, size_t *outlen, char *err, size_t errlen);

#endif
