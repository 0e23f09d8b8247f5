/*
 * harmony-agent: runs beside a backend; registers it with every balancer
 * given, heartbeats while its health check passes, deregisters it on
 * SIGTERM, SIGINT or SIGHUP. This file is main, the loop and the stop;
 * agent.h says which file does the rest.
 *
 * One process, one poll(2) loop: a libharmony client per balancer (each
 * with at most one short connection), the health check (a socket, or a
 * child process whose end SIGCHLD announces), and a self-pipe that the
 * signal handlers write to. Every wait is bounded: libharmony times out
 * each exchange, the check has its own timeout, and the drain on exit has
 * a deadline, so a dead balancer or backend never hangs the agent.
 *
 * A failing check does not deregister: the agent only stops heartbeating,
 * so the balancers mark the target down after its timeout (--ttl, or their
 * --host-timeout), and the first heartbeat after the check passes again
 * brings it back up. Deregistering would drain the sessions of a backend
 * that may only be slow for a moment.
 *
 * A balancer that is still the original node-harmony server (a migration
 * half done) ignores --token, --host and --ttl: libharmony notices, and the
 * agent warns once per balancer and goes on with the plain protocol there.
 * It has no services either: --service default is no loss there, any
 * other is refused (libharmony's error, logged as every failure is).
 */
#include "autoconfig.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "common/limits.h"
#include "common/log.h"
#include "common/selfpipe.h"
#include "harmony.h"

#define AGENT_STOP_EXTRA_MS	1000	/* drain deadline beyond --timeout */

/* Signals only write their number to the self-pipe (common/selfpipe.h). */
static int
signals_init(int pipefd[2])
{
	if (selfpipe_open(pipefd) == -1 || selfpipe_set(SIGPIPE, SIG_IGN) == -1)
		return -1;
	if (selfpipe_catch(SIGTERM, 0) == -1 || selfpipe_catch(SIGINT, 0) == -1 ||
	    selfpipe_catch(SIGHUP, 0) == -1)
		return -1;
	/* An exec check's end; its stops are none of our business. */
	return selfpipe_catch(SIGCHLD, SA_NOCLDSTOP);
}

static void
begin_stop(struct agent *a, int signo, int64_t now)
{
	log_info("%s: deregistering from %zu balancer%s", strsignal(signo), a->nbal,
	    a->nbal == 1 ? "" : "s");
	a->stopping = true;
	a->stop_deadline = now + a->timeout_ms + AGENT_STOP_EXTRA_MS;
	check_abort(a, NULL, now, false);
	for (size_t i = 0; i < a->nbal; i++) {
		a->bal[i].failing = false;
		harmony_client_close(a->bal[i].client);
	}
}

static int64_t
min_wait(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

static int
agent_run(struct agent *a, int sigpipe)
{
	struct pollfd pfd[2 + AGENT_BALANCERS_MAX];
	int64_t now, wait;
	int n;

	for (;;) {
		now = harmony_now_ms();
		wait = check_tick(a, now);
		for (size_t i = 0; i < a->nbal; i++)
			wait = min_wait(wait, harmony_client_next_ms(a->bal[i].client, now));
		if (a->stopping) {
			if (balancers_closed(a))
				return 0;
			if (now >= a->stop_deadline)
				break;
			wait = min_wait(wait, a->stop_deadline - now);
		}
		pfd[0] = (struct pollfd){ .fd = sigpipe, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = a->check.running ? a->check.fd : -1,
		    .events = check_events(&a->check) };
		for (size_t i = 0; i < a->nbal; i++)
			pfd[2 + i] = (struct pollfd){
			    .fd = harmony_client_fd(a->bal[i].client),
			    .events = harmony_client_events(a->bal[i].client) };
		if (wait > INT_MAX)
			wait = INT_MAX;
		n = poll(pfd, 2 + a->nbal, (int)wait);
		if (n == -1 && errno != EINTR) {
			log_warn("poll");
			return 1;
		}
		now = harmony_now_ms();
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			unsigned char sig[16];
			ssize_t got = read(sigpipe, sig, sizeof(sig));

			for (ssize_t i = 0; i < got; i++) {
				if (sig[i] == SIGCHLD)
					continue;
				if (a->stopping) {
					log_info("%s again: exiting now", strsignal(sig[i]));
					return 0;
				}
				begin_stop(a, sig[i], now);
			}
		}
		if (a->check.running && a->check.fd >= 0 && pfd[1].fd == a->check.fd &&
		    pfd[1].revents != 0)
			check_io(a, pfd[1].revents, now);
		check_reap(a, now);
		for (size_t i = 0; i < a->nbal; i++) {
			struct harmony_client *c = a->bal[i].client;
			short rev = 0;

			if (pfd[2 + i].fd >= 0 && pfd[2 + i].fd == harmony_client_fd(c))
				rev = n > 0 ? pfd[2 + i].revents : 0;
			harmony_client_process(c, rev, now);
		}
	}
	for (size_t i = 0; i < a->nbal; i++) {
		struct harmony_client *c = a->bal[i].client;

		if (harmony_client_state(c) != HARMONY_CLOSED)
			log_warnx("%s: could not deregister (%s): the target stays until"
			    " its timeout there", harmony_client_balancer(c),
			    harmony_client_error(c)[0] ? harmony_client_error(c) :
			    "no answer in time");
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct agent a = {
		.weight = LIMIT_WEIGHT_DEFAULT,
		.timeout_ms = HARMONY_TIMEOUT_DEFAULT_MS,
		.check = { .result = -1, .fd = -1 },
	};
	struct balancer_arg args[AGENT_BALANCERS_MAX];
	int sigpipe[2] = { -1, -1 };
	char err[512];
	int rc = 2;

	memset(args, 0, sizeof(args));
	log_init("harmony-agent", LOG_LEVEL_INFO);
	switch (options_parse(&a, argc, argv, args, err, sizeof(err))) {
	case PARSE_OK:
		break;
	case PARSE_EXIT:
		rc = 0;
		goto out;
	case PARSE_ERROR:
		fprintf(stderr, "harmony-agent: %s\n", err);
		fprintf(stderr, "Try 'harmony-agent --help' for more information.\n");
		goto out;
	}
	if (a.ttl_ms > 0 && a.ack_ms >= a.ttl_ms)
		log_warnx("--ack %lld ms is not shorter than --ttl %lld ms: the target"
		    " will go down between heartbeats", (long long)a.ack_ms,
		    (long long)a.ttl_ms);
	if (balancers_init(&a, args, err, sizeof(err)) == -1) {
		fprintf(stderr, "harmony-agent: %s\n", err);
		goto out;
	}
	rc = 1;
	if (signals_init(sigpipe) == -1) {
		log_warn("signals");
		goto out;
	}
	log_info("harmony-agent %s: port %u, weight %u, heartbeat every %lld ms%s%s%s%s,"
	    " %zu balancer%s", PACKAGE_VERSION, (unsigned)a.port, (unsigned)a.weight,
	    (long long)a.ack_ms, a.check.kind != CHECK_NONE ? ", check " : "",
	    a.check.kind != CHECK_NONE ? a.check.spec : "",
	    a.service != NULL ? ", service " : "", a.service != NULL ? a.service : "",
	    a.nbal,
	    a.nbal == 1 ? "" : "s");
	rc = agent_run(&a, sigpipe[0]);
out:
	check_abort(&a, NULL, 0, false);
	for (size_t i = 0; i < AGENT_BALANCERS_MAX; i++) {
		harmony_client_free(a.bal[i].client);
		free(args[i].host);
	}
	if (a.token != NULL) {
		explicit_bzero(a.token, strlen(a.token));
		free(a.token);
	}
	free(a.check.request);
	selfpipe_close(sigpipe);
	return rc;
}
