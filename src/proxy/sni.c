/*
 * sni.c: the server name of a TLS ClientHello, read from the records at
 * the start of a connection, and the server-name map (src/proxy/sni.h).
 *
 * The parser reads the handshake bytes through a cursor that steps over
 * each record header as it comes (RFC 5246 section 6.2.1: a handshake
 * message may be cut into any number of records), so nothing is copied
 * but the name itself and a record boundary may fall anywhere, inside a
 * length field too. Each length is checked against the structure that
 * holds it (its declared end, in handshake bytes), never against what has
 * arrived: running out of bytes is NEED_MORE, a length past its container
 * is BAD as soon as it is read. The whole ClientHello is parsed before a
 * name is handed out, so a hello malformed after its server_name is BAD
 * too, as the target's TLS stack would find it.
 *
 * The map hashes each pattern's key from its last byte to its first, so
 * that a lookup gets the hash of every suffix of the name in one pass from
 * the right: at each dot it probes the wildcards for the suffix after it,
 * and at the end the exact names for the whole name.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "proxy/sni.h"

#define TLS_HANDSHAKE		22	/* a record's content type */
#define TLS_CLIENT_HELLO	1	/* a handshake message's type */
#define TLS_EXT_SERVER_NAME	0
#define TLS_NAME_HOST		0	/* RFC 6066 NameType host_name */
#define TLS_RECORD_HEADER	5
#define TLS_RECORD_MAX		16384	/* 2^14: a larger record is an overflow */
#define TLS_SESSION_ID_MAX	32

#define NAME_LEN_MAX		253	/* a DNS name without its final dot */
#define LABEL_LEN_MAX		63

/* The handshake bytes of the records in buf, one at a time. */
struct reader {
	const uint8_t	*buf;
	size_t		 len;
	size_t		 pos;		/* the next byte in buf */
	size_t		 frag_end;	/* where the current record ends in buf
					   (may be past len) */
	size_t		 off;		/* handshake bytes read so far */
	size_t		 hs_end;	/* the ClientHello's end in handshake
					   bytes; SIZE_MAX before its header */
	enum sni_result	 res;		/* why reading stopped */
	const char	*why;
};

static bool
stop(struct reader *r, enum sni_result res, const char *why)
{
	r->res = res;
	r->why = why;
	return false;
}

static enum sni_result
fail(struct reader *r, const char *why)
{
	stop(r, SNI_BAD, why);
	return SNI_BAD;
}

/*
 * The header of the record that goes on with the hello, at r->pos. The
 * first one tells TLS from anything else, byte by byte as they come: an
 * SSLv2 hello, plain text and other record types fail at its first byte.
 */
static bool
next_record(struct reader *r)
{
	const uint8_t *h = r->buf + r->pos;
	size_t have = r->len - r->pos, rlen;
	bool first = r->pos == 0;

	if (have >= 1 && h[0] != TLS_HANDSHAKE)
		return first ? stop(r, SNI_NOT_TLS, "not a TLS handshake record") :
		    stop(r, SNI_BAD, "a record of another type inside the ClientHello");
	/* The minor version is not looked at (RFC 8446 section 5.1). */
	if (have >= 2 && h[1] != 3)
		return first ? stop(r, SNI_NOT_TLS, "not a TLS record version") :
		    stop(r, SNI_BAD, "a record of another version inside the ClientHello");
	if (have < TLS_RECORD_HEADER)
		return stop(r, SNI_NEED_MORE, NULL);
	rlen = (size_t)h[3] << 8 | h[4];
	if (rlen == 0)
		return stop(r, SNI_BAD, "an empty handshake record");
	if (rlen > TLS_RECORD_MAX)
		return stop(r, SNI_BAD, "a record longer than 2^14 bytes");
	if (r->hs_end != SIZE_MAX && rlen > r->hs_end - r->off)
		return stop(r, SNI_BAD, "a record runs past the ClientHello");
	r->pos += TLS_RECORD_HEADER;
	r->frag_end = r->pos + rlen;
	return true;
}

/* n handshake bytes into out (NULL: passed over). */
static bool
get_bytes(struct reader *r, uint8_t *out, size_t n)
{
	while (n > 0) {
		size_t k;

		if (r->pos == r->frag_end && !next_record(r))
			return false;
		if (r->pos >= r->len)
			return stop(r, SNI_NEED_MORE, NULL);
		k = r->frag_end - r->pos;
		if (k > r->len - r->pos)
			k = r->len - r->pos;
		if (k > n)
			k = n;
		if (out != NULL) {
			memcpy(out, r->buf + r->pos, k);
			out += k;
		}
		r->pos += k;
		r->off += k;
		n -= k;
	}
	return true;
}

/* A big-endian number of n (1 to 3) bytes. */
static bool
get_uint(struct reader *r, size_t n, size_t *v)
{
	uint8_t b[3];

	if (!get_bytes(r, b, n))
		return false;
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = *v << 8 | b[i];
	return true;
}

/* Whether n more bytes fit before end (in handshake bytes), or BAD. */
static bool
fits(struct reader *r, size_t n, size_t end, const char *why)
{
	return n <= end - r->off ? true : stop(r, SNI_BAD, why);
}

static bool
name_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * Why the len bytes at s are no host name (NULL: they are one, copied to
 * out lower-cased and NUL-ended; out has room for NAME_LEN_MAX + 1).
 */
static const char *
name_check(const char *s, size_t len, char *out)
{
	size_t label = 0;

	if (len == 0)
		return "an empty name";
	if (len > NAME_LEN_MAX)
		return "a name longer than 253 bytes";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0)
				return "an empty label in the name";
			label = 0;
		} else if (!name_byte(c)) {
			return "a byte other than [A-Za-z0-9._-] in the name";
		} else if (++label > LABEL_LEN_MAX) {
			return "a label longer than 63 bytes in the name";
		}
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
	}
	if (label == 0)
		return "an empty label in the name";
	out[len] = '\0';
	return NULL;
}

/*
 * The server_name extension's data, up to end (RFC 6066 section 3): a
 * list of (type, length, name), filling the extension; at most one
 * host_name, of which host gets the checked, lower-cased copy. Entries of
 * other types (none is defined) are read with host_name's layout and
 * passed over; a list of those alone is no server name.
 */
static bool
server_name(struct reader *r, size_t end, char host[SNI_NAME_MAX + 1], bool *found)
{
	size_t list;

	if (!fits(r, 2, end, "a server_name extension too short for its list") ||
	    !get_uint(r, 2, &list))
		return false;
	if (list == 0)
		return stop(r, SNI_BAD, "an empty server name list");
	if (list != end - r->off)
		return stop(r, SNI_BAD, "a server name list that does not fill its extension");
	while (r->off < end) {
		char raw[NAME_LEN_MAX];
		size_t type, nlen;
		const char *why;

		if (!fits(r, 3, end, "a server name entry cut by its list's end") ||
		    !get_uint(r, 1, &type) || !get_uint(r, 2, &nlen) ||
		    !fits(r, nlen, end, "a server name runs past its list"))
			return false;
		if (type != TLS_NAME_HOST) {
			if (!get_bytes(r, NULL, nlen))
				return false;
			continue;
		}
		if (*found)
			return stop(r, SNI_BAD, "two host names in the server name list");
		if (nlen == 0)
			return stop(r, SNI_BAD, "an empty host name");
		if (nlen > NAME_LEN_MAX)
			return stop(r, SNI_BAD, "a host name longer than 253 bytes");
		if (!get_bytes(r, (uint8_t *)raw, nlen))
			return false;
		if ((why = name_check(raw, nlen, host)) != NULL)
			return stop(r, SNI_BAD, why);
		*found = true;
	}
	return true;
}

/*
 * The ClientHello (RFC 8446 section 4.1.2; TLS 1.0 to 1.2 have the same
 * fields, the extensions optional before 1.3). Returns NEED_MORE, BAD,
 * NOT_TLS (through the cursor), NONE or FOUND with host set.
 */
static enum sni_result
client_hello(struct reader *r, char host[SNI_NAME_MAX + 1])
{
	size_t type, hlen, v, end;
	bool has_sni = false, found = false;

	if (!get_uint(r, 1, &type))
		return r->res;
	if (type != TLS_CLIENT_HELLO)
		return fail(r, "not a ClientHello");
	if (!get_uint(r, 3, &hlen))
		return r->res;
	r->hs_end = end = r->off + hlen;
	/* The record that holds the header may not hold more than the hello. */
	if (r->frag_end - r->pos > end - r->off)
		return fail(r, "a record runs past the ClientHello");

	if (!fits(r, 2, end, "a ClientHello cut before its version") ||
	    !get_uint(r, 2, &v))
		return r->res;
	if (v >> 8 != 3)
		return fail(r, "not a TLS version in the ClientHello");
	if (!fits(r, 32 + 1, end, "a ClientHello cut in its random") ||
	    !get_bytes(r, NULL, 32) || !get_uint(r, 1, &v))
		return r->res;
	if (v > TLS_SESSION_ID_MAX)
		return fail(r, "a session id longer than 32 bytes");
	if (!fits(r, v + 2, end, "a session id runs past the ClientHello") ||
	    !get_bytes(r, NULL, v) || !get_uint(r, 2, &v))
		return r->res;
	if (v < 2 || v % 2 != 0)
		return fail(r, "a cipher suite list of a bad length");
	if (!fits(r, v + 1, end, "the cipher suites run past the ClientHello") ||
	    !get_bytes(r, NULL, v) || !get_uint(r, 1, &v))
		return r->res;
	if (v < 1)
		return fail(r, "no compression method");
	if (!fits(r, v, end, "the compression methods run past the ClientHello") ||
	    !get_bytes(r, NULL, v))
		return r->res;
	if (r->off == end)
		return SNI_NONE;
	if (!fits(r, 2, end, "a ClientHello cut in its extensions' length") ||
	    !get_uint(r, 2, &v))
		return r->res;
	if (v != end - r->off)
		return fail(r, "extensions that do not end with the ClientHello");
	while (r->off < end) {
		size_t etype, elen;

		if (!fits(r, 4, end, "an extension cut by the ClientHello's end") ||
		    !get_uint(r, 2, &etype) || !get_uint(r, 2, &elen) ||
		    !fits(r, elen, end, "an extension runs past the ClientHello"))
			return r->res;
		if (etype != TLS_EXT_SERVER_NAME) {
			if (!get_bytes(r, NULL, elen))
				return r->res;
			continue;
		}
		/* RFC 8446 section 4.2: no extension type twice. */
		if (has_sni)
			return fail(r, "two server_name extensions");
		has_sni = true;
		if (!server_name(r, r->off + elen, host, &found))
			return r->res;
	}
	return found ? SNI_FOUND : SNI_NONE;
}

enum sni_result
sni_parse(const uint8_t *buf, size_t len, char name[SNI_NAME_MAX + 1],
    const char **why)
{
	struct reader r = { .buf = buf, .len = len, .hs_end = SIZE_MAX };
	char host[SNI_NAME_MAX + 1];
	enum sni_result res;

	name[0] = '\0';
	res = client_hello(&r, host);
	if (res == SNI_FOUND)
		memcpy(name, host, strlen(host) + 1);
	if (why != NULL)
		*why = res == SNI_BAD || res == SNI_NOT_TLS ? r.why : NULL;
	return res;
}

/* ---- the map ---------------------------------------------------------- */

#define MAP_BUCKETS_MIN	16

struct sni_entry {
	struct sni_entry	*next;
	uint64_t		 hash;
	bool			 wild;
	char			*key;	/* lower case; a wildcard's without "*." */
	char			*value;
};

struct sni_map {
	struct sni_entry	**buckets;
	size_t			  nbuckets;	/* a power of two */
	size_t			  count;
};

/* The key's hash, from its last byte to its first (see the top). */
static uint64_t
key_hash(const char *key, size_t len)
{
	uint64_t h = HASH_FNV1A_BASIS;

	for (size_t i = len; i-- > 0; )
		h = hash_fnv1a(h, key + i, 1);
	return h;
}

static size_t
bucket_of(uint64_t hash, bool wild, size_t nbuckets)
{
	return (size_t)(hash_mix64(hash + wild) & (nbuckets - 1));
}

static struct sni_entry *
lookup(const struct sni_map *m, bool wild, const char *key, uint64_t hash)
{
	struct sni_entry *e;

	for (e = m->buckets[bucket_of(hash, wild, m->nbuckets)]; e != NULL; e = e->next)
		if (e->hash == hash && e->wild == wild && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* Why pattern is none (NULL: it is; key gets its lower-cased name part). */
static const char *
pattern_check(const char *pattern, char key[NAME_LEN_MAX + 1], bool *wild)
{
	size_t len;

	if (pattern == NULL)
		return "no pattern";
	if ((len = strnlen(pattern, NAME_LEN_MAX + 1)) > NAME_LEN_MAX)
		return "a pattern longer than 253 bytes";
	*wild = pattern[0] == '*' && pattern[1] == '.';
	if (*wild) {
		pattern += 2;
		len -= 2;
	}
	if (memchr(pattern, '*', len) != NULL)
		return "'*' other than as a whole first label (\"*.example\")";
	return name_check(pattern, len, key);
}

bool
sni_pattern_valid(const char *pattern, const char **why)
{
	char key[NAME_LEN_MAX + 1];
	const char *w;
	bool wild;

	if ((w = pattern_check(pattern, key, &wild)) != NULL && why != NULL)
		*why = w;
	return w == NULL;
}

struct sni_map *
sni_map_new(void)
{
	struct sni_map *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	if ((m->buckets = calloc(MAP_BUCKETS_MIN, sizeof(*m->buckets))) == NULL) {
		free(m);
		return NULL;
	}
	m->nbuckets = MAP_BUCKETS_MIN;
	return m;
}

void
sni_map_free(struct sni_map *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct sni_entry *e, *next;

		for (e = m->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e->key);
			free(e->value);
			free(e);
		}
	}
	free(m->buckets);
	free(m);
}

/* Twice the buckets; on no memory the map stays as it was. */
static int
map_grow(struct sni_map *m)
{
	size_t n = m->nbuckets * 2;
	struct sni_entry **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return -1;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct sni_entry *e, *next;

		for (e = m->buckets[i]; e != NULL; e = next) {
			size_t j = bucket_of(e->hash, e->wild, n);

			next = e->next;
			e->next = b[j];
			b[j] = e;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
	return 0;
}

int
sni_map_add(struct sni_map *m, const char *pattern, const char *value,
    const char **why)
{
	char key[NAME_LEN_MAX + 1];
	struct sni_entry *e;
	const char *w;
	uint64_t hash;
	size_t b;
	bool wild;

	if ((w = pattern_check(pattern, key, &wild)) == NULL && value == NULL)
		w = "no value";
	if (w != NULL) {
		if (why != NULL)
			*why = w;
		errno = EINVAL;
		return -1;
	}
	hash = key_hash(key, strlen(key));
	if (lookup(m, wild, key, hash) != NULL) {
		if (why != NULL)
			*why = "a pattern given twice";
		errno = EEXIST;
		return -1;
	}
	if ((m->count >= m->nbuckets && map_grow(m) == -1) ||
	    (e = calloc(1, sizeof(*e))) == NULL)
		goto nomem;
	if ((e->key = strdup(key)) == NULL || (e->value = strdup(value)) == NULL) {
		free(e->key);
		free(e);
		goto nomem;
	}
	e->hash = hash;
	e->wild = wild;
	b = bucket_of(hash, wild, m->nbuckets);
	e->next = m->buckets[b];
	m->buckets[b] = e;
	m->count++;
	return 0;
nomem:
	if (why != NULL)
		*why = "out of memory";
	errno = ENOMEM;
	return -1;
}

const char *
sni_map_find(const struct sni_map *m, const char *name)
{
	char low[NAME_LEN_MAX + 1];
	const struct sni_entry *e, *wild = NULL;
	uint64_t h = HASH_FNV1A_BASIS;
	size_t len;

	if (m == NULL || name == NULL || m->count == 0)
		return NULL;
	len = strnlen(name, NAME_LEN_MAX + 1);
	if (name_check(name, len, low) != NULL)
		return NULL;
	/* From the right: each wildcard found is longer than the one before. */
	for (size_t i = len; i-- > 0; ) {
		if (low[i] == '.' && (e = lookup(m, true, low + i + 1, h)) != NULL)
			wild = e;
		h = hash_fnv1a(h, low + i, 1);
	}
	if ((e = lookup(m, false, low, h)) != NULL)
		return e->value;
	return wild != NULL ? wild->value : NULL;
}
