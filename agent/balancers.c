/*
 * balancers.c: one libharmony client per --balancer (agent.h), and the
 * log lines its events make: a failure once, then its recovery.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "common/log.h"
#include "harmony.h"

static void
on_client_event(struct harmony_client *hc, enum harmony_event ev,
    const char *detail, void *arg)
{
	struct balancer *b = arg;
	const char *name = harmony_client_balancer(hc);
	int64_t retry;

	switch (ev) {
	case HARMONY_EVENT_REGISTERED:
		/* detail is the key: a secret, never logged. */
		log_info("%s: registered port %u, weight %u%s", name,
		    (unsigned)b->agent->port, (unsigned)b->agent->weight,
		    harmony_client_plain(hc) ? " (plain node-harmony protocol)" : "");
		b->failing = false;
		break;
	case HARMONY_EVENT_PLAIN:
		/* Again after each re-registration there: news only once. */
		if (b->plain_warned) {
			log_debug("%s: still no answer to %s: plain protocol", name, detail);
			break;
		}
		b->plain_warned = true;
		log_warnx("%s: the balancer does not answer harmonyd's extensions (%s):"
		    " an original node-harmony server? Going on with its plain"
		    " protocol: %s%s%sits own host timeout applies", name, detail,
		    b->agent->token ? "no token, " : "",
		    b->agent->host ? "--host ignored, " : "",
		    b->agent->ttl_ms > 0 ? "no --ttl, " : "");
		break;
	case HARMONY_EVENT_ACKED:
	case HARMONY_EVENT_UPDATED:
		if (b->failing)
			log_info("%s: reachable again", name);
		else
			log_debug("%s: heartbeat answered", name);
		b->failing = false;
		break;
	case HARMONY_EVENT_LOST:
		log_warnx("%s: the balancer does not know this target (restarted?):"
		    " registering anew", name);
		break;
	case HARMONY_EVENT_ERROR:
		retry = harmony_client_next_ms(hc, harmony_now_ms());
		/* The first failure in a row is news; the retries are not. */
		if (!b->failing && !b->agent->stopping)
			log_warnx("%s: %s (%s; retrying in %lld ms)", name, detail,
			    harmony_state_name(harmony_client_state(hc)), (long long)retry);
		else
			log_debug("%s: %s (retrying in %lld ms)", name, detail,
			    (long long)retry);
		b->failing = true;
		break;
	case HARMONY_EVENT_CLOSED:
		if (detail != NULL)
			log_info("%s: %s: nothing to deregister", name, detail);
		else
			log_info("%s: deregistered", name);
		break;
	}
}

int
balancers_init(struct agent *a, struct balancer_arg *args, char *err, size_t errlen)
{
	for (size_t i = 0; i < a->nbal; i++) {
		struct balancer *b = &a->bal[i];
		struct harmony_client *c;

		b->agent = a;
		if ((c = harmony_client_new(args[i].host, args[i].port, a->port)) == NULL ||
		    harmony_client_set_weight(c, a->weight) == -1 ||
		    harmony_client_set_ttl(c, a->ttl_ms) == -1 ||
		    harmony_client_set_interval(c, a->ack_given ? a->ack_ms : 0) == -1 ||
		    harmony_client_set_timeout(c, a->timeout_ms) == -1 ||
		    harmony_client_set_token(c, a->token) == -1 ||
		    harmony_client_set_host(c, a->host) == -1 ||
		    harmony_client_set_service(c, a->service) == -1) {
			snprintf(err, errlen, "balancer %s: %s", args[i].host, strerror(errno));
			harmony_client_free(c);
			return -1;
		}
		/*
		 * Who we are, so that harmonyd says "by agent". A version
		 * outside the name's rule (a packager's 1.0~rc1) leaves the
		 * agent unnamed there, by "ack" as before, rather than dead.
		 */
		if (harmony_client_set_agent(c, "harmony-agent/" PACKAGE_VERSION) == -1)
			log_debug("harmony-agent/%s: not a name for the balancer",
			    PACKAGE_VERSION);
		harmony_client_set_callback(c, on_client_event, b);
		b->client = c;
		/* Registration waits for the first check to pass. */
		if (a->check.kind != CHECK_NONE)
			harmony_client_suspend(c);
		harmony_client_register(c);
	}
	return 0;
}

void
balancers_suspend(struct agent *a, bool suspend)
{
	for (size_t i = 0; i < a->nbal; i++) {
		if (suspend)
			harmony_client_suspend(a->bal[i].client);
		else
			harmony_client_resume(a->bal[i].client);
	}
}

bool
balancers_closed(const struct agent *a)
{
	for (size_t i = 0; i < a->nbal; i++)
		if (harmony_client_state(a->bal[i].client) != HARMONY_CLOSED)
			return false;
	return true;
}
