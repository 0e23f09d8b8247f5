/*
 * sni: the server name a TLS client asks for, read from the start of its
 * byte stream without any I/O, and the map from server names to what a
 * listener routes them to (issue 17).
 *
 * sni_parse looks at the TLS records at the start of a buffer (RFC 5246
 * section 6.2: 5-byte headers, handshake content), gathers the ClientHello
 * they carry (RFC 8446 section 4.1.2, the same shape in TLS 1.0 to 1.3),
 * which may span several records and reads, and returns the host_name of
 * its server_name extension (RFC 6066 section 3), lower-cased. It decides
 * on every call from the bytes alone (no state kept between calls), reads
 * nothing past len and checks every length field against what contains
 * it. How many bytes a caller may buffer before giving up is its rule
 * (SNI_INSPECT_MAX is the default bound).
 *
 * A name is only ever handed out if it is a host name by the rules below,
 * so a peer can never put odd bytes into a log line or a map lookup.
 *
 * The map owns copies of its patterns and values; sni_map_find's result
 * lives as long as the map. Lookups cost one hash probe per label of the
 * name, whatever the number of patterns.
 */
#ifndef HARMONY_PROXY_SNI_H
#define HARMONY_PROXY_SNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNI_NAME_MAX     255
#define SNI_INSPECT_MAX  16384  /* default bound on what is buffered */

enum sni_result {
	SNI_NEED_MORE,  /* a valid ClientHello prefix so far */
	SNI_FOUND,      /* name holds the server name, lower-cased */
	SNI_NONE,       /* a whole ClientHello without server_name */
	SNI_NOT_TLS,    /* the first bytes are no TLS handshake record */
	SNI_BAD,        /* a malformed record, ClientHello or extension */
};

/*
 * Parses the TLS records at the start of buf (len bytes so far) for
 * the ClientHello's server_name (RFC 6066 host_name). The handshake
 * message may span several records (each with its own 5-byte header)
 * and TCP segments. Never reads past len, never trusts a length
 * field: each is checked against its container. Whether len is too
 * much is the caller's rule (SNI_INSPECT_MAX).
 * why (may be NULL) says what was wrong for SNI_NOT_TLS and SNI_BAD.
 */
enum sni_result sni_parse(const uint8_t *buf, size_t len,
    char name[SNI_NAME_MAX + 1], const char **why);

/* Server name patterns: "host.example" exact, "*.example" any name
   ending in ".example" (any depth, nginx's rule, not the apex);
   case-insensitive. Lookup: exact first, else the longest matching
   wildcard. O(labels of the name), not O(patterns). */
struct sni_map;
struct sni_map *sni_map_new(void);
void	sni_map_free(struct sni_map *);
/* -1 with errno EINVAL (bad pattern: why says), EEXIST, ENOMEM. */
int	sni_map_add(struct sni_map *, const char *pattern, const char *value,
	    const char **why);
/* The value added for the best pattern matching name, or NULL. */
const char *sni_map_find(const struct sni_map *, const char *name);
/* A valid pattern, for config validation (same rules as add). */
bool	sni_pattern_valid(const char *pattern, const char **why);

#endif
