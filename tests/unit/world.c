/*
 * world: see world.h.
 */
#include "autoconfig.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "proxy/proxy.h"
#include "registry/balance.h"
#include "registry/persist.h"
#include "registry/pool.h"
#include "tests/unit/world.h"

void
world_init(struct world *w, const char *token)
{
	struct proxy_params pp = { .concurrency = -1, .queue_max = 10,
	    .queue_timeout_ms = 1000, .requeue = 1, .connect_timeout_ms = 1000,
	    .persistent = true };

	cfg_defaults(&w->cfg);
	w->cfg.services_implicit = true;	/* one service, the top level (config.h) */
	if (token != NULL)
		w->cfg.token = strdup(token);
	ck_assert_ptr_nonnull(w->loop = loop_new());
	ck_assert_ptr_nonnull(w->pool = pool_new(w->loop, 60000));
	ck_assert_ptr_nonnull(w->balancer = balance_new(w->pool, BALANCE_LEASTCONN));
	ck_assert_ptr_nonnull(w->persist = persist_new(100, 60000));
	ck_assert_ptr_nonnull(w->proxy = proxy_new(w->loop, w->pool, w->balancer,
	    w->persist, &pp));
	w->svc = (struct api_service){ .name = pool_name(w->pool), .cfg = &w->cfg,
	    .pool = w->pool, .balancer = w->balancer, .persist = w->persist,
	    .proxy = w->proxy };
	w->env = (struct api_env){ .cfg = &w->cfg, .loop = w->loop,
	    .services = &w->svc, .nservices = 1, .started_ms = loop_now(w->loop) };
}

void
world_free(struct world *w)
{
	proxy_free(w->proxy);
	pool_free(w->pool);
	balance_free(w->balancer);
	persist_free(w->persist);
	loop_free(w->loop);
	cfg_free(&w->cfg);
}
