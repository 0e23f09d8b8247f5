/*
 * world: the daemon's parts for a unit test that runs requests against
 * them (check_api.c's handlers, check_admin.c's admin interface): a config
 * on its defaults, a loop, a pool, a balancer, a persistence table, a
 * proxy, and the api_env over them. world_free frees all of it.
 */
#ifndef HARMONY_TEST_WORLD_H
#define HARMONY_TEST_WORLD_H

#include "admin/api.h"
#include "config.h"

struct world {
	struct config	 cfg;
	struct loop	*loop;
	struct pool	*pool;
	struct balancer	*balancer;
	struct persist	*persist;
	struct proxy	*proxy;
	struct api_service svc;		/* the one service, over the parts above */
	struct api_env	 env;
};

/* token NULL: none configured. Fails the test if a part cannot be made. */
void	world_init(struct world *, const char *token);
void	world_free(struct world *);

#endif
