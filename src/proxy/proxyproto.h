/*
 * proxyproto: the PROXY protocol (HAProxy's proxy-protocol.txt, versions 1
 * and 2), parsed and built without any I/O or allocation.
 *
 * proxyproto_parse() judges the bytes read so far from a connection that
 * must start with a header: it never reads past them, never trusts a
 * length field, and says BAD as early as the bytes allow, so that a caller
 * holding a bounded buffer never waits for more than PROXYPROTO_HDR_MAX
 * bytes. proxyproto_build() writes the header harmonyd sends a target (or
 * a health check sends, as LOCAL/UNKNOWN).
 *
 * v2 TLVs are walked after the addresses of a PROXY header over STREAM
 * (INET, INET6, UNIX), each length checked against the address block, and
 * counted, not interpreted: the CRC32C TLV (PP2_TYPE_CRC32C) is not
 * verified, as the spec leaves that to the receiver, and a trusted source
 * is trusted for its addresses already. A LOCAL or UNSPEC header's block is
 * skipped unread, as the spec says to ignore it. A v2 PROXY header for a
 * datagram transport is BAD: it cannot describe a TCP connection.
 *
 * hdr means something only on PROXYPROTO_OK; *why is set only on
 * PROXYPROTO_BAD (a static string, why may be NULL).
 */
#ifndef HARMONY_PROXYPROTO_H
#define HARMONY_PROXYPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXYPROTO_V1_MAX   107     /* a whole v1 line with CRLF */
#define PROXYPROTO_HDR_MAX  4096    /* the largest header we accept */
#define PROXYPROTO_BUILD_MAX 232    /* v2 with 2 TLV-free addresses, v1 */

enum proxyproto_result {
	PROXYPROTO_NEED_MORE,   /* a valid prefix so far: read more */
	PROXYPROTO_OK,          /* a whole header: see hdr */
	PROXYPROTO_BAD,         /* not a header, or a bad one: *why says */
};

struct proxyproto_header {
	int       version;          /* 1 or 2 */
	bool      local;            /* v2 LOCAL, v1 UNKNOWN, v2 AF_UNSPEC/UNIX:
	                               use the connection's own addresses */
	struct sockaddr_storage src, dst;   /* AF_INET/AF_INET6, when !local */
	socklen_t srclen, dstlen;
	size_t    len;              /* bytes the header takes in buf */
	size_t    ntlv;             /* v2 TLVs seen (each bound-checked) */
};

/*
 * Parses the header at the start of buf (len bytes read so far).
 * Decides as early as the bytes allow: a first byte that starts
 * neither signature is BAD at once; a v2 whose length exceeds
 * PROXYPROTO_HDR_MAX is BAD as soon as the length is read (never
 * wait for 64 KiB); a v1 line without CRLF within 107 bytes is BAD.
 * Never reads past len. Everything after hdr->len is the client's.
 */
enum proxyproto_result proxyproto_parse(const uint8_t *buf, size_t len,
    struct proxyproto_header *hdr, const char **why);

/*
 * The header telling src -> dst (the client and the address it
 * reached), for the target: v1 text or v2 binary, into out (cap >=
 * PROXYPROTO_BUILD_MAX). An IPv4-mapped IPv6 address counts as IPv4;
 * when one side is IPv4 and the other IPv6, both go as IPv6 (the IPv4
 * one mapped). src NULL: v1 "PROXY UNKNOWN\r\n", v2 LOCAL (what a
 * health check sends). Returns the length, 0 if cap is too small or
 * a family is neither IPv4 nor IPv6 (then v1 UNKNOWN/v2 LOCAL is the
 * caller's choice).
 */
size_t proxyproto_build(int version, const struct sockaddr *src,
    const struct sockaddr *dst, uint8_t *out, size_t cap);

#endif
