/*
 * service.h: what a service's name may be. One harmonyd balances many
 * services; a name travels in the config file, the ack port's SVC verb,
 * harmony-agent's --service, libharmony's options and REST paths
 * (/api/v1/services/{name}), so all of them hold it to one rule that is
 * safe in each: lowercase ASCII letters, digits, '_' and '-', starting
 * with a letter or digit, 1 to 63 bytes ([a-z0-9][a-z0-9_-]{0,62}).
 *
 * With no services configured, the top-level options define one service
 * named SERVICE_DEFAULT, and a peer that names none means that one.
 */
#ifndef HARMONY_COMMON_SERVICE_H
#define HARMONY_COMMON_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#define SERVICE_NAME_MAX	63
#define SERVICE_DEFAULT		"default"

bool	service_name_valid(const char *s, size_t len);

#endif
