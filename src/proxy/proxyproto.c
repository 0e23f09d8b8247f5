/*
 * proxyproto: the PROXY protocol's two header formats, read and written
 * (src/proxy/proxyproto.h). No I/O, no allocation, no state between calls:
 * the caller hands in all it has read so far each time, so a header split
 * anywhere across reads is judged again from its first byte (headers are
 * at most PROXYPROTO_HDR_MAX bytes, the cost is bounded).
 *
 * Each check runs as soon as the bytes it needs are there, so a peer that
 * is not speaking the protocol is refused on its first byte, and one that
 * announces an oversized or inconsistent v2 header on its 16th, not after
 * the caller has buffered and waited for what it announced.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/net.h"
#include "proxy/proxyproto.h"

static const uint8_t v2_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};
static const char v1_sig[] = "PROXY ";
#define V1_SIG_LEN	(sizeof(v1_sig) - 1)

#define V2_FIXED	16		/* signature, ver_cmd, fam, length */
#define V2_VERSION	0x20		/* ver_cmd's high nibble */
#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define V2_AF_UNSPEC	0x0		/* fam's high nibble */
#define V2_AF_INET	0x1
#define V2_AF_INET6	0x2
#define V2_AF_UNIX	0x3
#define V2_TP_UNSPEC	0x0		/* fam's low nibble */
#define V2_TP_STREAM	0x1
#define V2_TP_DGRAM	0x2
#define V2_BLOCK_INET	12		/* 2 addresses of 4 bytes, 2 ports */
#define V2_BLOCK_INET6	36
#define V2_BLOCK_UNIX	216		/* 2 paths of 108 bytes */
#define V2_TLV_HEAD	3		/* type, 16-bit length */

/* The longest text form of an IPv6 address inet_pton takes (mixed notation). */
#define V1_ADDR6_MAX	(INET6_ADDRSTRLEN - 1)

static enum proxyproto_result
bad(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return PROXYPROTO_BAD;
}

/* --- version 2 ----------------------------------------------------------- */

static void
v2_addresses(const uint8_t *block, int family, struct proxyproto_header *hdr)
{
	if (family == V2_AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&hdr->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&hdr->dst;

		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, block, 4);
		memcpy(&d->sin_addr, block + 4, 4);
		memcpy(&s->sin_port, block + 8, 2);	/* both in network order */
		memcpy(&d->sin_port, block + 10, 2);
		hdr->srclen = hdr->dstlen = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&hdr->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&hdr->dst;

		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, block, 16);
		memcpy(&d->sin6_addr, block + 16, 16);
		memcpy(&s->sin6_port, block + 32, 2);
		memcpy(&d->sin6_port, block + 34, 2);
		hdr->srclen = hdr->dstlen = sizeof(*s);
	}
}

/*
 * buf starts with the whole 12-byte signature. The address block's length
 * is checked against PROXYPROTO_HDR_MAX and against the addresses its
 * family needs before any of it is awaited; TLVs are walked as they
 * arrive, so one overrunning the block is refused at its length field.
 */
static enum proxyproto_result
v2_parse(const uint8_t *buf, size_t len, struct proxyproto_header *hdr,
    const char **why)
{
	unsigned cmd, af, tp;
	size_t total, addrlen = 0, p;

	hdr->version = 2;
	if (len <= 12)
		return PROXYPROTO_NEED_MORE;
	if ((buf[12] & 0xf0) != V2_VERSION)
		return bad(why, "v2: version is not 2");
	cmd = buf[12] & 0x0fu;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return bad(why, "v2: command is neither LOCAL nor PROXY");
	if (len <= 13)
		return PROXYPROTO_NEED_MORE;
	af = buf[13] >> 4;
	tp = buf[13] & 0x0fu;
	if (af > V2_AF_UNIX)
		return bad(why, "v2: unknown address family");
	if (tp > V2_TP_DGRAM)
		return bad(why, "v2: unknown transport protocol");
	/* A LOCAL header's family is to be ignored; a PROXY one for UDP
	   cannot describe a TCP connection. */
	if (cmd == V2_CMD_PROXY && tp == V2_TP_DGRAM)
		return bad(why, "v2: a datagram transport on a stream connection");
	if (len < V2_FIXED)
		return PROXYPROTO_NEED_MORE;
	total = V2_FIXED + ((size_t)buf[14] << 8 | buf[15]);
	if (total > PROXYPROTO_HDR_MAX)
		return bad(why, "v2: header longer than 4096 bytes");

	/*
	 * Only a PROXY header over STREAM says how long its addresses are;
	 * the TLVs follow them. LOCAL and UNSPEC blocks are skipped unread,
	 * as the spec says to ignore their address information.
	 */
	if (cmd == V2_CMD_PROXY && tp == V2_TP_STREAM) {
		if (af == V2_AF_INET)
			addrlen = V2_BLOCK_INET;
		else if (af == V2_AF_INET6)
			addrlen = V2_BLOCK_INET6;
		else if (af == V2_AF_UNIX)
			addrlen = V2_BLOCK_UNIX;
	}
	if (total - V2_FIXED < addrlen)
		return bad(why, "v2: address block shorter than its addresses");
	if (addrlen > 0) {
		for (p = V2_FIXED + addrlen; p < total; hdr->ntlv++) {
			size_t tlen;

			if (total - p < V2_TLV_HEAD)
				return bad(why, "v2: a TLV cut short by the end of the block");
			if (len < p + V2_TLV_HEAD)
				return PROXYPROTO_NEED_MORE;
			tlen = (size_t)buf[p + 1] << 8 | buf[p + 2];
			if (tlen > total - p - V2_TLV_HEAD)
				return bad(why, "v2: a TLV overruns the address block");
			/* PP2_TYPE_CRC32C (0x03) is not verified: see proxyproto.h. */
			p += V2_TLV_HEAD + tlen;
		}
	}
	if (len < total)
		return PROXYPROTO_NEED_MORE;

	hdr->len = total;
	if (addrlen == 0 || af == V2_AF_UNIX)
		hdr->local = true;
	else
		v2_addresses(buf + V2_FIXED, (int)af, hdr);
	return PROXYPROTO_OK;
}

/* --- version 1 ----------------------------------------------------------- */

static bool
is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/*
 * A dotted quad, or (whole false) the start of one: 1 to 4 groups of 1 to
 * 3 digits, each at most 255, none with a leading zero (the spec forbids
 * them, against octal readings).
 */
static bool
v1_ipv4_ok(const uint8_t *s, size_t n, bool whole)
{
	unsigned groups = 1, digits = 0, val = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (digits == 0 || ++groups > 4)
				return false;
			digits = val = 0;
		} else if (is_digit(s[i])) {
			if (digits > 0 && val == 0)
				return false;
			val = val * 10 + (unsigned)(s[i] - '0');
			digits++;
			if (val > 255)
				return false;
		} else {
			return false;
		}
	}
	return !whole || (groups == 4 && digits > 0);
}

/* The characters of an IPv6 address, so that a prefix can be judged too;
   a whole one is inet_pton's to judge. */
static bool
v1_ipv6_chars_ok(const uint8_t *s, size_t n)
{
	if (n > V1_ADDR6_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];

		if (!is_digit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') &&
		    c != ':' && c != '.')
			return false;
	}
	return true;
}

/* A decimal port in [0, 65535] without leading zeros, or its start. */
static bool
v1_port_ok(const uint8_t *s, size_t n, bool whole, uint16_t *port)
{
	unsigned val = 0;

	if (n == 0)
		return !whole;
	if (n > 5 || (s[0] == '0' && n > 1))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return false;
		val = val * 10 + (unsigned)(s[i] - '0');
	}
	if (val > 65535)
		return false;
	*port = (uint16_t)val;
	return true;
}

/* A whole address field into sa, with inet_pton: its rules are the spec's. */
static bool
v1_address(const uint8_t *s, size_t n, int family, struct sockaddr_storage *sa,
    socklen_t *salen)
{
	char text[V1_ADDR6_MAX + 1];

	if (n > V1_ADDR6_MAX)
		return false;
	memcpy(text, s, n);
	text[n] = '\0';
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)sa;

		a->sin_family = AF_INET;
		*salen = sizeof(*a);
		return inet_pton(AF_INET, text, &a->sin_addr) == 1;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)sa;

		a->sin6_family = AF_INET6;
		*salen = sizeof(*a);
		return inet_pton(AF_INET6, text, &a->sin6_addr) == 1;
	}
}

static bool
is_prefix(const uint8_t *s, size_t n, const char *of)
{
	return n <= strlen(of) && memcmp(s, of, n) == 0;
}

static bool
is_word(const uint8_t *s, size_t n, const char *word)
{
	return n == strlen(word) && memcmp(s, word, n) == 0;
}

enum { V1_PROTO, V1_SRC, V1_DST, V1_SPORT, V1_DPORT, V1_FIELDS };

/*
 * The line's n bytes before its CR (whole), or all read so far of a line
 * whose CR has not come (then its last field may be cut anywhere): the
 * signature, then fields separated by exactly one space. BAD, or OK for a
 * line that is (or, not whole, could become) valid; hdr is filled when
 * whole.
 */
static enum proxyproto_result
v1_line(const uint8_t *line, size_t n, bool whole, struct proxyproto_header *hdr,
    const char **why)
{
	const uint8_t *p = line + V1_SIG_LEN, *end = line + n;
	int family = AF_INET;
	uint16_t port;
	size_t f;

	if (n < V1_SIG_LEN)
		return PROXYPROTO_OK;	/* a prefix of the signature, checked */
	for (f = 0;; f++) {
		const uint8_t *s = p;
		size_t flen;
		bool complete;

		while (p < end && *p != ' ')
			p++;
		flen = (size_t)(p - s);
		complete = p < end || whole;	/* ended by a space, or the CR */
		if (f == V1_FIELDS)
			return bad(why, "v1: more than 5 fields");
		if (complete && flen == 0)
			return bad(why, "v1: an empty field (not single spaces)");
		switch (f) {
		case V1_PROTO:
			if (!complete) {
				if (!is_prefix(s, flen, "TCP4") && !is_prefix(s, flen, "TCP6") &&
				    !is_prefix(s, flen, "UNKNOWN"))
					return bad(why, "v1: protocol not TCP4, TCP6 or UNKNOWN");
				break;
			}
			if (is_word(s, flen, "UNKNOWN")) {
				/* The rest of the line is to be ignored. */
				hdr->local = true;
				return PROXYPROTO_OK;
			}
			if (is_word(s, flen, "TCP6"))
				family = AF_INET6;
			else if (!is_word(s, flen, "TCP4"))
				return bad(why, "v1: protocol not TCP4, TCP6 or UNKNOWN");
			break;
		case V1_SRC:
		case V1_DST:
			if (family == AF_INET ? !v1_ipv4_ok(s, flen, complete) :
			    !v1_ipv6_chars_ok(s, flen))
				return bad(why, family == AF_INET ? "v1: bad IPv4 address" :
				    "v1: bad IPv6 address");
			if (complete && !v1_address(s, flen, family,
			    f == V1_SRC ? &hdr->src : &hdr->dst,
			    f == V1_SRC ? &hdr->srclen : &hdr->dstlen))
				return bad(why, family == AF_INET ? "v1: bad IPv4 address" :
				    "v1: bad IPv6 address");
			break;
		default:
			if (!v1_port_ok(s, flen, complete, &port))
				return bad(why, "v1: bad port");
			if (complete)
				net_addr_set_port((struct sockaddr *)(f == V1_SPORT ?
				    &hdr->src : &hdr->dst), port);
			break;
		}
		if (p == end)
			break;
		p++;	/* the space */
	}
	if (whole && f != V1_DPORT)
		return bad(why, "v1: fewer than 5 fields");
	return PROXYPROTO_OK;
}

/*
 * buf starts with what it has of "PROXY ". The line ends at the first CR,
 * which must be followed by LF within PROXYPROTO_V1_MAX bytes; a lone LF
 * anywhere is BAD, even in UNKNOWN's ignored rest.
 */
static enum proxyproto_result
v1_parse(const uint8_t *buf, size_t len, struct proxyproto_header *hdr,
    const char **why)
{
	size_t n = len < PROXYPROTO_V1_MAX ? len : PROXYPROTO_V1_MAX, cr;
	enum proxyproto_result r;

	hdr->version = 1;
	for (cr = 0; cr < n; cr++) {
		if (buf[cr] == '\n')
			return bad(why, "v1: LF without CR");
		if (buf[cr] == '\r')
			break;
	}
	if (cr == n) {
		if (len >= PROXYPROTO_V1_MAX)
			return bad(why, "v1: no CRLF within 107 bytes");
		r = v1_line(buf, len, false, hdr, why);
		return r == PROXYPROTO_OK ? PROXYPROTO_NEED_MORE : r;
	}
	if (cr + 1 >= PROXYPROTO_V1_MAX)
		return bad(why, "v1: no CRLF within 107 bytes");
	if (cr + 1 < len && buf[cr + 1] != '\n')
		return bad(why, "v1: CR without LF");
	/* The line is known once its CR is: judge it without waiting for LF. */
	if ((r = v1_line(buf, cr, true, hdr, why)) != PROXYPROTO_OK)
		return r;
	if (cr + 1 >= len)
		return PROXYPROTO_NEED_MORE;
	hdr->len = cr + 2;
	return PROXYPROTO_OK;
}

enum proxyproto_result
proxyproto_parse(const uint8_t *buf, size_t len, struct proxyproto_header *hdr,
    const char **why)
{
	memset(hdr, 0, sizeof(*hdr));
	if (len == 0)
		return PROXYPROTO_NEED_MORE;
	if (buf[0] == v2_sig[0]) {
		if (memcmp(buf, v2_sig, len < sizeof(v2_sig) ? len : sizeof(v2_sig)) != 0)
			return bad(why, "no PROXY protocol signature");
		if (len < sizeof(v2_sig))
			return PROXYPROTO_NEED_MORE;
		return v2_parse(buf, len, hdr, why);
	}
	if (memcmp(buf, v1_sig, len < V1_SIG_LEN ? len : V1_SIG_LEN) != 0)
		return bad(why, "no PROXY protocol signature");
	return v1_parse(buf, len, hdr, why);
}

/* --- building ------------------------------------------------------------ */

/* One side of what is sent: an IPv4 address (4 bytes) or IPv6 (16). */
struct pp_side {
	int		family;
	uint8_t		addr[16];
	uint16_t	port;		/* network order */
};

static bool
side_of(const struct sockaddr *sa, struct pp_side *side)
{
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in a;

		memcpy(&a, sa, sizeof(a));
		side->family = AF_INET;
		memcpy(side->addr, &a.sin_addr, 4);
		side->port = a.sin_port;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 a;

		memcpy(&a, sa, sizeof(a));
		if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) {
			side->family = AF_INET;
			memcpy(side->addr, a.sin6_addr.s6_addr + 12, 4);
		} else {
			side->family = AF_INET6;
			memcpy(side->addr, &a.sin6_addr, 16);
		}
		side->port = a.sin6_port;
		return true;
	}
	return false;
}

/* An IPv4 side as its IPv4-mapped IPv6 address. */
static void
side_to_ipv6(struct pp_side *side)
{
	if (side->family != AF_INET)
		return;
	memcpy(side->addr + 12, side->addr, 4);
	memset(side->addr, 0, 10);
	side->addr[10] = side->addr[11] = 0xff;
	side->family = AF_INET6;
}

static size_t
put(uint8_t *out, size_t cap, const void *bytes, size_t n)
{
	if (n > cap)
		return 0;
	memcpy(out, bytes, n);
	return n;
}

static size_t
build_v1(const struct pp_side *s, const struct pp_side *d, uint8_t *out, size_t cap)
{
	char sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN], line[PROXYPROTO_V1_MAX + 1];
	int n;

	if (inet_ntop(s->family, s->addr, sa, sizeof(sa)) == NULL ||
	    inet_ntop(d->family, d->addr, da, sizeof(da)) == NULL)
		return 0;
	n = snprintf(line, sizeof(line), "PROXY TCP%c %s %s %u %u\r\n",
	    s->family == AF_INET ? '4' : '6', sa, da, ntohs(s->port), ntohs(d->port));
	if (n < 0 || (size_t)n >= sizeof(line))
		return 0;
	return put(out, cap, line, (size_t)n);
}

static size_t
build_v2(const struct pp_side *s, const struct pp_side *d, uint8_t *out, size_t cap)
{
	size_t alen = s->family == AF_INET ? 4 : 16;
	size_t block = 2 * alen + 4;

	if (cap < V2_FIXED + block)
		return 0;
	memcpy(out, v2_sig, sizeof(v2_sig));
	out[12] = V2_VERSION | V2_CMD_PROXY;
	out[13] = (uint8_t)(((s->family == AF_INET ? V2_AF_INET : V2_AF_INET6) << 4) |
	    V2_TP_STREAM);
	out[14] = 0;
	out[15] = (uint8_t)block;
	memcpy(out + V2_FIXED, s->addr, alen);
	memcpy(out + V2_FIXED + alen, d->addr, alen);
	memcpy(out + V2_FIXED + 2 * alen, &s->port, 2);
	memcpy(out + V2_FIXED + 2 * alen + 2, &d->port, 2);
	return V2_FIXED + block;
}

size_t
proxyproto_build(int version, const struct sockaddr *src,
    const struct sockaddr *dst, uint8_t *out, size_t cap)
{
	static const char unknown[] = "PROXY UNKNOWN\r\n";
	struct pp_side s, d;

	if (version != 1 && version != 2)
		return 0;
	if (src == NULL) {
		uint8_t local[V2_FIXED];

		if (version == 1)
			return put(out, cap, unknown, sizeof(unknown) - 1);
		memcpy(local, v2_sig, sizeof(v2_sig));
		local[12] = V2_VERSION | V2_CMD_LOCAL;
		local[13] = (V2_AF_UNSPEC << 4) | V2_TP_UNSPEC;
		local[14] = local[15] = 0;
		return put(out, cap, local, sizeof(local));
	}
	if (dst == NULL || !side_of(src, &s) || !side_of(dst, &d))
		return 0;
	if (s.family != d.family) {
		side_to_ipv6(&s);
		side_to_ipv6(&d);
	}
	return version == 1 ? build_v1(&s, &d, out, cap) : build_v2(&s, &d, out, cap);
}
