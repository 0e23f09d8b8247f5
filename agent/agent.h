/*
 * agent.h: what the parts of harmony-agent share. main.c runs the loop
 * and owns the process (signals, the stop); options.c turns the command
 * line into a struct agent; balancers.c keeps one libharmony client per
 * balancer; check.c runs the health check that gates the heartbeats.
 *
 * One struct agent lives in main for the whole run: the balancers and the
 * check point back into it, and nothing here allocates one of its own.
 */
#ifndef HARMONY_AGENT_H
#define HARMONY_AGENT_H

#include <sys/socket.h>
#include <sys/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;
struct harmony_client;

#define AGENT_BALANCERS_MAX	64
#define AGENT_HTTP_LINE_MAX	512

enum check_kind {
	CHECK_NONE,
	CHECK_TCP,
	CHECK_HTTP,
	CHECK_EXEC,
};

struct check {
	enum check_kind		 kind;
	const char		*spec;		/* as given, for log lines */
	struct sockaddr_storage	 addr;		/* tcp, http */
	socklen_t		 addrlen;
	char			*request;	/* http */
	const char		*cmd;		/* exec */
	int64_t			 interval_ms;
	int64_t			 timeout_ms;

	int			 result;	/* -1 not known yet, 0 fails, 1 passes */
	bool			 running;
	int64_t			 started;
	int64_t			 next_at;
	int			 fd;
	bool			 connecting;
	size_t			 outoff;
	char			 in[AGENT_HTTP_LINE_MAX];
	size_t			 inlen;
	pid_t			 pid;
};

struct balancer {
	struct agent		*agent;
	struct harmony_client	*client;
	bool			 failing;	/* logged a failure: log the recovery */
	bool			 plain_warned;	/* said it ignores the extensions */
};

struct agent {
	struct balancer		 bal[AGENT_BALANCERS_MAX];
	size_t			 nbal;
	uint16_t		 port;
	uint32_t		 weight;
	int64_t			 ack_ms;
	bool			 ack_given;	/* else libharmony derives it */
	int64_t			 ttl_ms;
	int64_t			 timeout_ms;
	char			*token;
	const char		*host;
	const char		*service;	/* --service; NULL: the default */
	struct check		 check;
	bool			 stopping;
	int64_t			 stop_deadline;
};

/* A --balancer as given: host (owned, freed by main) and ack port. */
struct balancer_arg {
	char		*host;
	uint16_t	 port;
};

enum parse_result {
	PARSE_OK,
	PARSE_EXIT,		/* --help, --version: done, exit 0 */
	PARSE_ERROR,		/* the reason in err: exit 2 */
};

/* options.c: argv into *a (its defaults already set) and bals[]. */
enum parse_result options_parse(struct agent *a, int argc, char *argv[],
		    struct balancer_arg *bals, char *err, size_t errlen);

/* balancers.c: a client for each, registering (held while a check is due). */
int		 balancers_init(struct agent *a, struct balancer_arg *args,
		    char *err, size_t errlen);
void		 balancers_suspend(struct agent *a, bool suspend);
bool		 balancers_closed(const struct agent *a);

/*
 * check.c: check_tick starts the check when due and times it out (ms until
 * it wants a tick again, -1 for never); check_events and check_io drive its
 * socket, check_reap its exec child (after SIGCHLD); check_abort ends a
 * running one, with a verdict or (stopping) without.
 */
int64_t		 check_tick(struct agent *a, int64_t now);
short		 check_events(const struct check *k);
void		 check_io(struct agent *a, short revents, int64_t now);
void		 check_reap(struct agent *a, int64_t now);
void		 check_abort(struct agent *a, const char *why, int64_t now,
		    bool verdict);

#endif
