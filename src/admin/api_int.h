/*
 * api_int: private to the api_*.c files (api.c, api_body.c, api_json.c,
 * api_metrics.c), which together implement api.h; nothing else includes
 * it. It holds only what one of those files uses from another.
 *
 * The json-c builders return a new object the caller owns, or NULL when
 * out of memory; api_jset and api_json_text take over the object given.
 */
#ifndef HARMONY_API_INT_H
#define HARMONY_API_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/api.h"
#include "registry/pool.h"

/* api_body.c */

/* Well-formed UTF-8 without NUL. */
bool		 api_utf8_text(const char *s, size_t len);
/* A numeric address a target can have, port 0; 0 or 422 with a reason. */
int		 api_parse_host(const char *s, struct net_addr *, char *err,
		    size_t errlen);

/* api_json.c */

#define API_NSTATES	6	/* values of enum target_state */

/* Adds v (NULL: out of memory, left out) to o as key. */
void		 api_jset(struct json_object *o, const char *key,
		    struct json_object *v);
/* Serialises and puts o; a malloc'd copy, or NULL when out of memory. */
char		*api_json_text(struct json_object *o, size_t *len);
/* Loop ms since when, never negative. */
int64_t		 api_ms_since(const struct api_env *, int64_t when);
struct json_object *api_target_json(const struct api_env *, const struct target *,
		    bool with_key);
/* The targets of svc; NULL: of every service. */
struct json_object *api_targets_json(const struct api_env *,
		    const struct api_service *svc);
/* GET /api/v1/services/{name}: with_config adds "config" (/api/v1/config's). */
struct json_object *api_service_json(const struct api_env *,
		    const struct api_service *svc, bool with_config);
/* GET /api/v1/services: {"services": [...]}, each without its config. */
struct json_object *api_services_json(const struct api_env *);
struct json_object *api_persistence_json(const struct api_env *,
		    const struct api_service *, size_t limit);
/* /api/v1/config: the service's tunables (the default one's there). */
struct json_object *api_config_json(const struct api_env *,
		    const struct api_service *);
struct json_object *api_status_json(const struct api_env *);
/* Listed targets by state, indexed by enum target_state. */
void		 api_count_states(const struct api_service *, size_t counts[API_NSTATES]);
/* One event of the history (registry/events.h) as docs/API.md shows it. */
struct event;
struct json_object *api_event_json(const struct event *);
/*
 * {"events": [newest first], "dropped": N}: at most limit events, of
 * service only (NULL: any) and of target only (0: any).
 */
struct json_object *api_events_json(const struct api_env *, const char *service,
		    uint32_t target, size_t limit);
/* Every state once, in the order status and /metrics list them. */
extern const enum target_state api_all_states[API_NSTATES];

#endif
