/*
 * Unit tests for service/service.c and the pools' sharing (registry/pool.h
 * pool_shared): two services on one loop, ids and keys daemon-wide, own
 * listeners refused across services, the ack port's service lookup
 * (ack/ackreg.c), retirement and reaping.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ack/ackreg.h"
#include "common/log.h"
#include "config.h"
#include "core/acceptor.h"
#include "core/loop.h"
#include "core/net.h"
#include "proxy/proxy.h"
#include "registry/events.h"
#include "registry/pool.h"
#include "registry/selfaddr.h"
#include "service/service.h"

struct fixture {
	struct loop	*loop;
	struct fdbudget	*budget;
	struct services	*set;
	struct config	 cfg[3];	/* web, api, db */
	struct service	*svc[3];
};

/* A service's struct config as cfg_validate leaves one: listens parsed. */
static void
service_cfg(struct config *c, const char *name, const char *listen)
{
	char err[256];

	cfg_defaults(c);
	ck_assert_ptr_nonnull(c->name = strdup(name));
	free(c->listen);
	ck_assert_ptr_nonnull(c->listen = strdup(listen));
	ck_assert_ptr_nonnull(c->listens = calloc(1, sizeof(*c->listens)));
	snprintf(c->listens[0].text, sizeof(c->listens[0].text), "%s", listen);
	ck_assert_int_eq(net_parse_listen(listen, "127.0.0.1", &c->listens[0].addr,
	    err, sizeof(err)), 0);
	c->nlistens = 1;
}

static void
fx_init(struct fixture *fx, size_t n)
{
	static const char *const names[3] = { "web", "api", "db" };

	memset(fx, 0, sizeof(*fx));
	log_init("check_service", LOG_LEVEL_ERROR);
	ck_assert_ptr_nonnull(fx->loop = loop_new());
	ck_assert_ptr_nonnull(fx->budget = fdbudget_new());
	ck_assert_ptr_nonnull(fx->set = services_new(fx->loop, fx->budget));
	for (size_t i = 0; i < n; i++) {
		service_cfg(&fx->cfg[i], names[i], "127.0.0.1:0");
		ck_assert_ptr_nonnull(fx->svc[i] = service_add(fx->set, &fx->cfg[i]));
	}
}

static void
fx_free(struct fixture *fx)
{
	services_end_sessions(fx->set);
	services_free(fx->set);
	fdbudget_free(fx->budget);
	loop_free(fx->loop);
	for (size_t i = 0; i < 3; i++)
		cfg_free(&fx->cfg[i]);
}

static struct target *
reg(struct pool *p, const char *host, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };

	ck_assert_int_eq(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	return pool_register(p, TARGET_SRC_HTTP, (struct sockaddr *)&sin,
	    sizeof(sin), 10, 0, NULL);
}

START_TEST(test_names_and_default)
{
	struct fixture fx;
	size_t n;

	fx_init(&fx, 2);
	ck_assert_ptr_eq(services_default(fx.set), fx.svc[0]);
	ck_assert_ptr_eq(services_find(fx.set, "api"), fx.svc[1]);
	ck_assert_ptr_null(services_find(fx.set, "default"));
	ck_assert_ptr_null(services_find(fx.set, "ap"));
	ck_assert_str_eq(pool_name(fx.svc[1]->pool), "api");
	ck_assert_ptr_eq(services_all(fx.set, &n)[1], fx.svc[1]);
	ck_assert_uint_eq(n, 2);
	/* The pools find each other; "default" means the default one. */
	ck_assert_ptr_eq(pool_sibling(fx.svc[0]->pool, "api"), fx.svc[1]->pool);
	ck_assert_ptr_eq(pool_sibling(fx.svc[1]->pool, NULL), fx.svc[0]->pool);
	ck_assert_ptr_eq(pool_sibling(fx.svc[1]->pool, "default"), fx.svc[0]->pool);
	ck_assert_ptr_null(pool_sibling(fx.svc[1]->pool, "nope"));
	services_set_default(fx.set, fx.svc[1]);
	ck_assert_ptr_eq(services_default(fx.set), fx.svc[1]);
	ck_assert_ptr_eq(pool_sibling(fx.svc[0]->pool, NULL), fx.svc[1]->pool);
	ck_assert_ptr_eq(pool_sibling(fx.svc[0]->pool, "default"), fx.svc[1]->pool);
	fx_free(&fx);
}
END_TEST

/* The same backend in two services is two targets, with two ids. */
START_TEST(test_ids_daemon_wide)
{
	struct fixture fx;
	struct target *a, *b, *c;
	char key[TARGET_KEY_LEN + 1];

	fx_init(&fx, 2);
	ck_assert_ptr_nonnull(a = reg(fx.svc[0]->pool, "127.0.0.1", 9000));
	ck_assert_ptr_nonnull(b = reg(fx.svc[1]->pool, "127.0.0.1", 9000));
	ck_assert_ptr_nonnull(c = reg(fx.svc[0]->pool, "127.0.0.2", 9000));
	ck_assert_uint_ne(a->id, b->id);
	ck_assert_uint_ne(b->id, c->id);
	ck_assert_uint_eq(pool_next_id(fx.svc[0]->pool), pool_next_id(fx.svc[1]->pool));
	ck_assert_ptr_eq(pools_find_id(fx.svc[0]->pool, b->id), b);
	ck_assert_ptr_eq(pools_find_id(fx.svc[1]->pool, c->id), c);
	ck_assert_ptr_null(pool_find_id(fx.svc[0]->pool, b->id));
	ck_assert_ptr_eq(pools_find_key(fx.svc[0]->pool, b->key), b);
	ck_assert_ptr_null(pools_find_key(fx.svc[0]->pool, "0123456789abcdef0123456789abcdef"));
	pool_reserve_ids(fx.svc[1]->pool, 100);
	ck_assert_uint_eq(pool_next_id(fx.svc[0]->pool), 100);
	memcpy(key, b->key, sizeof(key));
	pool_delete(b);		/* b is freed: no session holds it */
	ck_assert(pools_key_deleted(fx.svc[0]->pool, key));
	fx_free(&fx);
}
END_TEST

/* No service balances to a listener of another: it would loop. */
START_TEST(test_own_listeners_everywhere)
{
	struct fixture fx;
	struct net_addr bound[1];
	char err[256], text[NET_ADDRSTRLEN], host[NET_HOSTSTRLEN];

	fx_init(&fx, 2);
	ck_assert_int_eq(service_listen(fx.svc[1], err, sizeof(err)), 0);
	ck_assert_uint_eq(proxy_listeners(fx.svc[1]->proxy, bound, 1), 1);
	net_host_text((struct sockaddr *)&bound[0].ss, host, sizeof(host));
	errno = 0;
	ck_assert_ptr_null(reg(fx.svc[0]->pool, host,
	    net_addr_port((struct sockaddr *)&bound[0].ss)));
	ck_assert_int_eq(errno, EADDRINUSE);
	(void)text;
	fx_free(&fx);
}
END_TEST

START_TEST(test_listen_error_names_service)
{
	struct fixture fx;
	char err[256];

	fx_init(&fx, 1);
	fx.cfg[0].listens[0].addr.len = 0;	/* a name left for later */
	ck_assert_int_eq(service_listen(fx.svc[0], err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "services.web.listen 127.0.0.1:0"));
	fx_free(&fx);
}
END_TEST

static void
apply(struct pool *any, struct ack_request *rq, struct ack_outcome *o)
{
	ackreg_apply(any, NULL, rq, o);
}

/* SVC: picks the pool; ACK, ID and CLOSE find a key in any service. */
START_TEST(test_ack_services)
{
	struct fixture fx;
	struct ack_request rq;
	struct ack_outcome o;
	struct target *t;
	struct sockaddr_in *sin;

	fx_init(&fx, 2);
	memset(&rq, 0, sizeof(rq));
	rq.op = ACK_OP_SERVICE;
	rq.service = "api";
	apply(fx.svc[0]->pool, &rq, &o);
	ck_assert_int_eq(o.status, ACK_DONE);
	rq.service = "nope";
	apply(fx.svc[0]->pool, &rq, &o);
	ck_assert_int_eq(o.status, ACK_UNKNOWN);

	memset(&rq, 0, sizeof(rq));
	rq.op = ACK_OP_REGISTER;
	rq.service = "api";
	sin = (struct sockaddr_in *)&rq.host.ss;
	sin->sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, "127.0.0.5", &sin->sin_addr), 1);
	rq.host.len = sizeof(*sin);
	rq.peer = rq.host;
	apply(fx.svc[0]->pool, &rq, &o);
	ck_assert_int_eq(o.status, ACK_DONE);
	ck_assert_ptr_nonnull(t = pool_find_id(fx.svc[1]->pool, o.target));
	ck_assert_uint_eq(pool_count(fx.svc[0]->pool), 0);
	/* No SVC: the default service. */
	rq.service = NULL;
	ck_assert_int_eq(inet_pton(AF_INET, "127.0.0.6", &sin->sin_addr), 1);
	apply(fx.svc[1]->pool, &rq, &o);
	ck_assert_int_eq(o.status, ACK_DONE);
	ck_assert_ptr_nonnull(pool_find_id(fx.svc[0]->pool, o.target));

	memset(&rq, 0, sizeof(rq));
	rq.op = ACK_OP_HEARTBEAT;
	rq.key = t->key;
	apply(fx.svc[0]->pool, &rq, &o);
	ck_assert_int_eq(o.status, ACK_DONE);
	rq.op = ACK_OP_PORT;
	rq.target = t->id;
	rq.port = 8088;
	apply(fx.svc[0]->pool, &rq, &o);
	ck_assert_int_eq(o.status, ACK_DONE);
	ck_assert_uint_eq(t->port, 8088);
	fx_free(&fx);
}
END_TEST

START_TEST(test_retire_and_reap)
{
	struct fixture fx;
	struct target *t;
	char key[TARGET_KEY_LEN + 1];
	uint32_t id;
	size_t n;

	fx_init(&fx, 3);
	ck_assert_ptr_nonnull(t = reg(fx.svc[0]->pool, "127.0.0.1", 9000));
	id = t->id;
	memcpy(key, t->key, sizeof(key));
	service_retire(fx.svc[0], loop_now(fx.loop) + 1000);	/* t is freed */
	services_all(fx.set, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_null(services_find(fx.set, "web"));
	/* The default moves to the first one left. */
	ck_assert_ptr_eq(services_default(fx.set), fx.svc[1]);
	ck_assert_ptr_eq(pool_sibling(fx.svc[2]->pool, NULL), fx.svc[1]->pool);
	/* Its targets are removed, each with its event, by config. */
	ck_assert_uint_eq(pool_count(fx.svc[0]->pool), 0);
	ck_assert_uint_eq(pool_event_count(fx.svc[0]->pool, EVENT_REMOVED,
	    POOL_ACTOR_CONFIG), 1);
	/* Retired is gone for the ack port and for ids at once. */
	ck_assert_ptr_null(pool_sibling(fx.svc[2]->pool, "web"));
	ck_assert_ptr_null(pools_find_id(fx.svc[2]->pool, id));
	ck_assert_ptr_null(pools_find_key(fx.svc[2]->pool, key));
	/* No session: it goes at the next reap. */
	services_reap(fx.set);
	ck_assert_ptr_null(pool_sibling(fx.svc[2]->pool, "web"));
	ck_assert_uint_eq(services_sessions(fx.set), 0);
	fx_free(&fx);
}
END_TEST

static Suite *
service_suite(void)
{
	Suite *s = suite_create("service");
	TCase *tc = tcase_create("services");

	tcase_add_test(tc, test_names_and_default);
	tcase_add_test(tc, test_ids_daemon_wide);
	tcase_add_test(tc, test_own_listeners_everywhere);
	tcase_add_test(tc, test_listen_error_names_service);
	tcase_add_test(tc, test_ack_services);
	tcase_add_test(tc, test_retire_and_reap);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(service_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
