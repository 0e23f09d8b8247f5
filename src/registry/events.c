/*
 * events: see events.h.
 *
 * The ring is an array of capacity slots; the event of seq s sits in slot
 * (s - 1) % capacity, so finding one by seq is a division, and the held
 * ones are the last min(count, capacity) seqs.
 */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "registry/events.h"

struct events {
	struct event	*ring;		/* capacity slots, when first needed */
	size_t		 capacity;
	size_t		 count;		/* held */
	uint64_t	 last_seq;
	uint64_t	 lost;		/* never stored: no memory */
	events_fn	*listen_fn;
	void		*listen_arg;
};

struct events *
events_new(size_t capacity)
{
	struct events *ev;

	if ((ev = calloc(1, sizeof(*ev))) == NULL)
		return NULL;
	ev->capacity = capacity == 0 ? EVENTS_HISTORY_MAX : capacity;
	return ev;
}

void
events_free(struct events *ev)
{
	if (ev == NULL)
		return;
	free(ev->ring);
	free(ev);
}

const struct event *
events_add(struct events *ev, const struct event *e)
{
	struct event *slot;

	ev->last_seq++;
	if (ev->ring == NULL &&
	    (ev->ring = calloc(ev->capacity, sizeof(*ev->ring))) == NULL) {
		ev->lost++;
		return NULL;
	}
	slot = &ev->ring[(ev->last_seq - 1) % ev->capacity];
	*slot = *e;
	slot->seq = ev->last_seq;
	if (ev->count < ev->capacity)
		ev->count++;
	if (ev->listen_fn != NULL)
		ev->listen_fn(ev->listen_arg);
	return slot;
}

uint64_t
events_last_seq(const struct events *ev)
{
	return ev->last_seq;
}

uint64_t
events_first_seq(const struct events *ev)
{
	return ev->last_seq - ev->count + 1;
}

const struct event *
events_get(const struct events *ev, uint64_t seq)
{
	if (ev->count == 0 || seq < events_first_seq(ev) || seq > ev->last_seq)
		return NULL;
	return &ev->ring[(seq - 1) % ev->capacity];
}

const struct event *
events_back(const struct events *ev, uint64_t *cursor, const char *service,
    uint32_t target)
{
	const struct event *e;
	uint64_t seq = *cursor == 0 ? ev->last_seq + 1 : *cursor;

	while (--seq > 0 && (e = events_get(ev, seq)) != NULL) {
		if ((service != NULL && strcmp(e->service, service) != 0) ||
		    (target != 0 && e->target != target))
			continue;
		*cursor = seq;
		return e;
	}
	*cursor = 0;
	return NULL;
}

size_t
events_count(const struct events *ev)
{
	return ev->count;
}

size_t
events_capacity(const struct events *ev)
{
	return ev->capacity;
}

uint64_t
events_dropped(const struct events *ev)
{
	return ev->last_seq - ev->count;
}

void
events_listen(struct events *ev, events_fn *fn, void *arg)
{
	ev->listen_fn = fn;
	ev->listen_arg = fn != NULL ? arg : NULL;
}

const char *
event_kind_name(enum event_kind k)
{
	static const char *const names[] = {
		[EVENT_REGISTERED] = "registered",
		[EVENT_UP] = "up",
		[EVENT_DOWN] = "down",
		[EVENT_FAILING] = "failing",
		[EVENT_DRAINING] = "draining",
		[EVENT_REMOVED] = "removed",
		[EVENT_WEIGHT] = "weight",
		[EVENT_CHECK] = "check",
	};

	if ((size_t)k >= sizeof(names) / sizeof(names[0]))
		return "?";
	return names[k];
}

/*
 * A reason may come from a peer (a check's answer): only whole UTF-8
 * characters that are not controls are kept, anything else becomes '?',
 * so that the text is valid in JSON and in a log line alike.
 */
void
event_set_reason(struct event *e, const char *s)
{
	size_t in = 0, out = 0, len = s != NULL ? strlen(s) : 0, n;

	while (in < len) {
		n = log_utf8_seq(s + in, len - in);
		if (n == 1 && ((unsigned char)s[in] < 0x20 || s[in] == 0x7f))
			n = 0;
		if (out + (n == 0 ? 1 : n) >= sizeof(e->reason))
			break;
		if (n == 0) {
			e->reason[out++] = '?';
			in++;
			continue;
		}
		memcpy(e->reason + out, s + in, n);
		out += n;
		in += n;
	}
	e->reason[out] = '\0';
}
