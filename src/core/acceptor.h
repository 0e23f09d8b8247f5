/*
 * acceptor: the one accept path of every listener (clients, the ack port,
 * the admin port), and the file-descriptor budget they all draw on.
 *
 * The budget is RLIMIT_NOFILE less what is open once the daemon has
 * started (stdio, the loop, the listeners, logs) and a few fds kept spare
 * for short-lived ones (the state file, a log reopened on SIGHUP). What is
 * left is shared out: the ack port, the admin port and the health checks
 * get a share each, the proxy the rest, so that none of them can take the fds another needs
 * (relayd's accept_reserve, made per user). A part takes units when it
 * opens fds (a session: its client and target sockets, then 2 per splice
 * pipe; an ack connection: 1; an admin connection: 2, its socket and a
 * file it may send; a health check probe: 1) and gives them back when it closes them.
 *
 * An acceptor owns its listening fd. It accepts up to a batch per wake-up;
 * a connection whose user has no budget left is closed at once (as nginx
 * does when its connections run out), so that a client hears of it rather
 * than wait in the backlog. accept itself failing for want of fds or
 * memory (EMFILE, ENFILE, ENOBUFS, ENOMEM: fds outside the budget) pauses
 * the listener for a second instead of letting a level-triggered listener
 * spin. Each is logged at most once a second per listener.
 */
#ifndef HARMONY_ACCEPTOR_H
#define HARMONY_ACCEPTOR_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct loop;
struct fdbudget;
struct acceptor;

enum fd_user {
	FD_USER_PROXY,
	FD_USER_ACK,
	FD_USER_ADMIN,
	FD_USER_CHECK,		/* health check probes (check/check.h) */
	FD_USER_COUNT
};

#define FDBUDGET_SPARE		8	/* short-lived fds outside every share */
#define FDBUDGET_PAUSE_MS	1000	/* a listener after EMFILE */

/*
 * Raises the soft RLIMIT_NOFILE to the hard limit (a hard limit of
 * "unlimited" to what the kernel allows). Returns the limit in effect and
 * the one before in *before.
 */
long		 fdlimit_raise(long *before);

/* A budget over the RLIMIT_NOFILE in effect; unlimited until shared. */
struct fdbudget	*fdbudget_new(void);
void		 fdbudget_free(struct fdbudget *);
/*
 * Once the daemon has started: counts the fds open now, and shares out
 * the rest. cap[user] is the most that user could ever use (0: no cap).
 * Logs the outcome.
 */
void		 fdbudget_share(struct fdbudget *, const size_t cap[FD_USER_COUNT],
		    long raised_from);
/* Takes n units of user's share; false (nothing taken) if they are not left. */
bool		 fdbudget_take(struct fdbudget *, enum fd_user, size_t n);
/* Counts n units that are open already, even beyond the share. */
void		 fdbudget_charge(struct fdbudget *, enum fd_user, size_t n);
void		 fdbudget_give(struct fdbudget *, enum fd_user, size_t n);
/* Units left in user's share (SIZE_MAX while unshared). */
size_t		 fdbudget_left(const struct fdbudget *, enum fd_user);
size_t		 fdbudget_share_of(const struct fdbudget *, enum fd_user);
long		 fdbudget_limit(const struct fdbudget *);

/*
 * Called with each accepted connection (non-blocking, close-on-exec), which
 * it owns from then on with the need units taken for it.
 */
typedef void	 acceptor_fn(void *arg, int fd, const struct sockaddr *, socklen_t);

struct acceptor_params {
	const char	*what;		/* "clients", "ack", "http": for the log */
	struct fdbudget	*budget;	/* NULL: no budget */
	enum fd_user	 user;
	size_t		 need;		/* units per connection */
	int		 batch;		/* accepts per wake-up */
	acceptor_fn	*on_accept;
	void		*arg;
	uint64_t	*errors;	/* bumped per refusal or failed accept */
};

/* Takes fd (a listening socket); on failure fd is closed and errno set. */
struct acceptor	*acceptor_new(struct loop *, int fd, const struct acceptor_params *);
/* Unwatches and closes the listening fd; NULL is fine. */
void		 acceptor_free(struct acceptor *);
/* The owner's own reason to accept or not (a full queue). */
void		 acceptor_enable(struct acceptor *, bool on);
/* Stops accepting for ms, as after EMFILE (a connect that met it). */
void		 acceptor_pause(struct acceptor *, int64_t ms);
/* Accepts one batch now, if accepting (what waits, before a stop). */
void		 acceptor_run(struct acceptor *);
bool		 acceptor_accepting(const struct acceptor *);
int		 acceptor_fd(const struct acceptor *);

#endif
