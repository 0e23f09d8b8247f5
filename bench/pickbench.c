/*
 * pickbench: the cost of one balance_pick, by algorithm and pool size
 * (bench/RESULTS.md, "Reading the scale run"). `make bench` runs it
 * before bench.py; alone: `make bench/pickbench && bench/pickbench`.
 * Meaningful only in a build configured without sanitizers.
 *
 * Each pool holds n targets registered over HTTP (weights 1..50 from a
 * fixed seed), a tenth of them with a long session on; every pick of the
 * run opens a session on the target chosen and closes the one opened
 * PICKBENCH_OPEN picks before, so leastconn sees a busy farm whose loads
 * move, as under traffic. The clock is fake and still: the times are the
 * balancer's, with the pool's session accounting around them.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "core/loop.h"
#include "registry/balance.h"
#include "registry/pool.h"

#define PICKBENCH_OPEN	64		/* sessions open at once */
#define PICKBENCH_NS	200000000	/* at least this much CPU per cell */

static int64_t
fake_clock(void *arg)
{
	return *(int64_t *)arg;
}

/* CPU time, not wall time: the machine may be shared, as the bench's is. */
static int64_t
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(2685821657736338717);
}

/* ns per pick, or -1 if the pool could not be made. */
static double
run(enum balance_algo algo, size_t n)
{
	struct target *open[PICKBENCH_OPEN] = { NULL };
	int64_t now = 1000000, t0, t1;
	uint64_t seed = 1, picks = 0;
	struct sockaddr_storage ss;
	struct loop *l;
	struct pool *p;
	struct balancer *b;
	double ns = -1;

	if ((l = loop_new()) == NULL)
		return -1;
	loop_set_clock(l, fake_clock, &now);
	if ((p = pool_new(l, 60000)) == NULL || (b = balance_new(p, algo)) == NULL) {
		pool_free(p);
		loop_free(l);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		struct target *t;

		memset(&ss, 0, sizeof(ss));
		sin->sin_family = AF_INET;
		sin->sin_port = htons(80);
		sin->sin_addr.s_addr = htonl(0x0a000001 + (uint32_t)i);
		t = pool_register(p, TARGET_SRC_HTTP, (struct sockaddr *)&ss,
		    sizeof(*sin), (uint32_t)(rnd(&seed) % 50 + 1), 1000000000, NULL);
		if (t == NULL)
			goto out;
		if (i % 10 == 0)
			pool_session_begin(t);
	}
	/* The first pick builds what the next ones use. */
	(void)balance_pick(b, (struct sockaddr *)&ss, NULL, 0, now);
	t0 = cpu_ns();
	do {
		for (int k = 0; k < 256; k++, picks++) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			struct target **slot = &open[picks % PICKBENCH_OPEN];

			sin->sin_addr.s_addr = (uint32_t)rnd(&seed);
			if (*slot != NULL)
				pool_session_end(*slot, 0, 0);
			if ((*slot = balance_pick(b, (struct sockaddr *)&ss, NULL, 0,
			    now)) != NULL)
				pool_session_begin(*slot);
		}
		t1 = cpu_ns();
	} while (t1 - t0 < PICKBENCH_NS);
	ns = (double)(t1 - t0) / (double)picks;
out:
	for (size_t i = 0; i < PICKBENCH_OPEN; i++) {
		if (open[i] != NULL)
			pool_session_end(open[i], 0, 0);
	}
	balance_free(b);
	pool_free(p);
	loop_free(l);
	return ns;
}

int
main(void)
{
	static const enum balance_algo algos[] = {
		BALANCE_LEASTCONN, BALANCE_ROUNDROBIN, BALANCE_HASH,
	};
	static const size_t sizes[] = { 10, 500, 10000 };

	log_set_level(LOG_LEVEL_ERROR);
	printf("| targets | leastconn | roundrobin | hash |\n");
	printf("|--------:|----------:|-----------:|-----:|\n");
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		printf("| %zu", sizes[i]);
		for (size_t a = 0; a < sizeof(algos) / sizeof(algos[0]); a++) {
			double ns = run(algos[a], sizes[i]);

			if (ns < 0) {
				fprintf(stderr, "pickbench: no pool of %zu targets\n",
				    sizes[i]);
				return EXIT_FAILURE;
			}
			printf(" | %.2f µs", ns / 1000.0);
			fflush(stdout);
		}
		printf(" |\n");
	}
	printf("\nCPU time of one balance_pick with the session accounting "
	    "around it; BALANCE_LINEAR_MAX = %d.\n", BALANCE_LINEAR_MAX);
	return EXIT_SUCCESS;
}
