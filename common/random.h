/*
 * random.h: bytes from the kernel's random source (getrandom(2)) for keys,
 * hash seeds and anything a peer must not guess.
 */
#ifndef HARMONY_COMMON_RANDOM_H
#define HARMONY_COMMON_RANDOM_H

#include <stddef.h>

/*
 * Fill buf with len random bytes; -1 with errno on failure. Waits only
 * while the kernel's pool is not yet initialized (early boot), like every
 * getrandom(2) call without GRND_NONBLOCK.
 */
int	random_fill(void *buf, size_t len);

#endif
