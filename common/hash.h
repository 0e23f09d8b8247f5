/*
 * hash.h: the one non-cryptographic hash of bytes (FNV-1a, 64 bits) and
 * its finalizer (MurmurHash3's fmix64), for the balancer's fixed hashes
 * and the rate limiter's seeded slots. Byte order independent: the same
 * input gives the same value on every host, which the balancer's
 * placements rely on.
 *
 * And the keyed one, SipHash-2-4 (Aumasson, Bernstein), for tables whose
 * keys a peer chooses or must not learn (the persistence table's client
 * addresses, the pool's indexes by key and address): without the random
 * key nobody can aim at one chain, nor tell from a lookup's time anything
 * about what it was compared with.
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
/* SipHash-2-4 of len bytes under the 128-bit key k (random_fill it). */
uint64_t	hash_sip(const uint64_t k[2], const void *p, size_t len);

#endif
