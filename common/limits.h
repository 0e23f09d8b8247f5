/*
 * limits.h: the bounds every part of Harmony agrees on, the daemon, the
 * client library (libharmony) and the agent alike. One definition each:
 * the daemon's checks use these names, and the installed header's
 * HARMONY_* copies are pinned to them at compile time (client.c).
 */
#ifndef HARMONY_COMMON_LIMITS_H
#define HARMONY_COMMON_LIMITS_H

#define LIMIT_WEIGHT_MIN	1
#define LIMIT_WEIGHT_MAX	1000000
#define LIMIT_WEIGHT_DEFAULT	500

/* A TTL travels in whole seconds on the ack port: 1 s to a day. */
#define LIMIT_TTL_MIN_MS	1000
#define LIMIT_TTL_MAX_MS	(86400LL * 1000)

/* Bytes in one token ("AUTH:<token>:", a target key, a Bearer token). */
#define LIMIT_TOKEN_MAX		256

#endif
