/*
 * ratelimit: see ratelimit.h. Tokens are kept in thousandths so that a
 * refill of a few per minute needs no floating point.
 */
#include "autoconfig.h"

#include <netinet/in.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ack/ratelimit.h"
#include "common/hash.h"
#include "common/random.h"

struct bucket {
	uint8_t		 addr[16];	/* IPv6, or IPv4-mapped */
	bool		 used;
	int64_t		 milli;		/* tokens x 1000 */
	int64_t		 last_ms;
};

struct ratelimit {
	struct bucket	*slots;
	size_t		 nslots;
	int64_t		 burst_milli;
	unsigned	 per_minute;
	uint64_t	 seed;
};

struct ratelimit *
ratelimit_new(size_t slots, unsigned burst, unsigned per_minute)
{
	struct ratelimit *rl;

	if (slots == 0 || burst == 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	if ((rl->slots = calloc(slots, sizeof(*rl->slots))) == NULL) {
		free(rl);
		return NULL;
	}
	rl->nslots = slots;
	rl->burst_milli = (int64_t)burst * 1000;
	rl->per_minute = per_minute;
	/* A seed the peers cannot know, so they cannot aim at one slot. */
	if (random_fill(&rl->seed, sizeof(rl->seed)) == -1)
		rl->seed = (uint64_t)(uintptr_t)rl ^ 0x9e3779b97f4a7c15ULL;
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->slots);
	free(rl);
}

void
ratelimit_set_seed(struct ratelimit *rl, uint64_t seed)
{
	rl->seed = seed;
}

static void
addr_key(const struct sockaddr *sa, uint8_t key[16])
{
	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	}
}

static size_t
slot_of(const struct ratelimit *rl, const uint8_t key[16])
{
	uint64_t h = hash_fnv1a(rl->seed ^ HASH_FNV1A_BASIS, key, 16);

	return (size_t)(hash_mix64(h) % rl->nslots);
}

bool
ratelimit_take(struct ratelimit *rl, const struct sockaddr *sa, int64_t now_ms)
{
	uint8_t key[16];
	struct bucket *b;

	addr_key(sa, key);
	b = &rl->slots[slot_of(rl, key)];
	if (!b->used || memcmp(b->addr, key, sizeof(key)) != 0) {
		memcpy(b->addr, key, sizeof(key));
		b->used = true;
		b->milli = rl->burst_milli;
		b->last_ms = now_ms;
	} else if (now_ms > b->last_ms) {
		/* per_minute tokens a minute = per_minute milli-tokens per 60 ms. */
		int64_t add = (now_ms - b->last_ms) * rl->per_minute / 60;

		if (b->milli + add >= rl->burst_milli) {
			b->milli = rl->burst_milli;
			b->last_ms = now_ms;
		} else if (add > 0) {
			/*
			 * Only the time that made whole milli-tokens is spent:
			 * the rest counts toward the next, so takes that come
			 * faster than one a milli-token still refill.
			 */
			b->milli += add;
			b->last_ms += add * 60 / rl->per_minute;
		}
	}
	if (b->milli < 1000)
		return false;
	b->milli -= 1000;
	return true;
}
