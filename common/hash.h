/*
 * hash.h: the one non-cryptographic hash of bytes (FNV-1a, 64 bits) and
 * its finalizer (MurmurHash3's fmix64), for the balancer's fixed hashes
 * and the rate limiter's seeded slots. Byte order independent: the same
 * input gives the same value on every host, which the balancer's
 * placements rely on.
 */
#ifndef HARMONY_COMMON_HASH_H
#define HARMONY_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV1A_BASIS	UINT64_C(0xcbf29ce484222325)

/* FNV-1a over len bytes from h (HASH_FNV1A_BASIS, or a seed mixed in). */
uint64_t	hash_fnv1a(uint64_t h, const void *p, size_t len);
/* Every bit of h affects every bit of the result. */
uint64_t	hash_mix64(uint64_t h);

#endif
