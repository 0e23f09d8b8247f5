/*
 * Unit tests for proxyproto.c: PROXY protocol v1 and v2 headers parsed
 * whole, one byte at a time and with the client's bytes behind them;
 * every way one can be bad (signature, version, command, family, lengths,
 * TLVs, v1 fields and the 107-byte bound), judged as early as the bytes
 * allow; and built, byte for byte and round trip, for IPv4, IPv6, mixed
 * and IPv4-mapped addresses.
 */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "proxy/proxyproto.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static const uint8_t v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

/* A socket address from text; port in host order. */
static socklen_t
mkaddr(struct sockaddr_storage *ss, const char *ip, unsigned port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		ck_assert_int_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
		return sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		ck_assert_int_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
		return sizeof(*s4);
	}
}

/* "ip port" of a parsed address, for comparing with what a test expects. */
static const char *
show(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		ck_assert_ptr_nonnull(inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip)));
		snprintf(out, cap, "%s %u", ip, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		ck_assert_ptr_nonnull(inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip)));
		snprintf(out, cap, "[%s] %u", ip, ntohs(s6->sin6_port));
	} else {
		snprintf(out, cap, "family %d", ss->ss_family);
	}
	return out;
}

static void
assert_addrs(const struct proxyproto_header *h, const char *src, const char *dst)
{
	char a[80], b[80];

	ck_assert(!h->local);
	ck_assert_str_eq(show(&h->src, a, sizeof(a)), src);
	ck_assert_str_eq(show(&h->dst, b, sizeof(b)), dst);
	ck_assert_uint_eq(h->srclen, h->src.ss_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	ck_assert_uint_eq(h->dstlen, h->srclen);
}

/* A v2 header: signature, ver_cmd, fam, then len bytes of block. */
static size_t
mkv2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *block, size_t len)
{
	memcpy(out, v2sig, sizeof(v2sig));
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(len >> 8);
	out[15] = (uint8_t)len;
	if (len > 0)
		memcpy(out + 16, block, len);
	return 16 + len;
}

/* 192.0.2.1:56324 -> 198.51.100.7:443 */
static const uint8_t block4[12] = {
	192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb
};

/* 2001:db8::1:56324 -> 2001:db8::2:443 */
static const uint8_t block6[36] = {
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
	0xdc, 0x04, 0x01, 0xbb
};

/* block4 and three TLVs: ALPN "h2", NOOP of 0 bytes, CRC32C (unchecked). */
static const uint8_t block4tlv[12 + 5 + 3 + 7] = {
	192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb,
	0x01, 0x00, 0x02, 'h', '2',
	0x04, 0x00, 0x00,
	0x03, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef
};

static enum proxyproto_result
parse(const void *buf, size_t len, struct proxyproto_header *h, const char **why)
{
	*why = NULL;
	return proxyproto_parse(buf, len, h, why);
}

static void
assert_bad(const void *buf, size_t len)
{
	struct proxyproto_header h;
	const char *why;

	ck_assert_msg(parse(buf, len, &h, &why) == PROXYPROTO_BAD,
	    "%zu bytes not BAD", len);
	ck_assert_ptr_nonnull(why);
	ck_assert(why[0] != '\0');
}

static void
assert_need_more(const void *buf, size_t len)
{
	struct proxyproto_header h;
	const char *why;
	enum proxyproto_result r = parse(buf, len, &h, &why);

	ck_assert_msg(r == PROXYPROTO_NEED_MORE, "%zu bytes: %d (%s)", len, r,
	    why != NULL ? why : "");
}

/*
 * Every prefix of a valid header is NEED_MORE, the whole is OK; the same
 * header with the client's bytes behind it is OK with the same length.
 */
static void
assert_whole(const uint8_t *buf, size_t len, struct proxyproto_header *h)
{
	uint8_t more[PROXYPROTO_HDR_MAX + 16];
	const char *why;
	enum proxyproto_result r;

	for (size_t n = 0; n < len; n++) {
		/* A copy of exactly n bytes, so that ASan sees a read past n. */
		uint8_t *p = malloc(n > 0 ? n : 1);

		ck_assert_ptr_nonnull(p);
		memcpy(p, buf, n);
		r = parse(p, n, h, &why);
		free(p);
		ck_assert_msg(r == PROXYPROTO_NEED_MORE, "prefix %zu of %zu: %d (%s)",
		    n, len, r, why != NULL ? why : "");
	}
	ck_assert_uint_le(len, sizeof(more) - 16);
	memcpy(more, buf, len);
	memcpy(more + len, "GET / HTTP/1.0\r\n", 16);
	r = parse(more, len + 16, h, &why);
	ck_assert_msg(r == PROXYPROTO_OK, "with data: %d (%s)", r, why ? why : "");
	ck_assert_uint_eq(h->len, len);
	r = parse(buf, len, h, &why);
	ck_assert_msg(r == PROXYPROTO_OK, "whole: %d (%s)", r, why ? why : "");
	ck_assert_uint_eq(h->len, len);
}

/* Valid lines and what they say. */
static const struct {
	const char *line, *src, *dst;
} v1_good[] = {
	{ "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
	  "192.168.0.1 56324", "192.168.0.11 443" },
	{ "PROXY TCP6 2001:DB8::1 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 0 65535\r\n",
	  "[2001:db8::1] 0", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff] 65535" },
	/* The spec's longest TCP6 line, 104 bytes. */
	{ "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 65535 65535\r\n",
	  "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff] 65535",
	  "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe] 65535" },
	{ "PROXY TCP4 0.0.0.0 255.255.255.255 0 1\r\n", "0.0.0.0 0", "255.255.255.255 1" },
	{ "PROXY TCP6 ::ffff:10.0.0.1 :: 10 100\r\n", "[::ffff:10.0.0.1] 10", "[::] 100" },
};

START_TEST(test_v1_good)
{
	struct proxyproto_header h;

	assert_whole((const uint8_t *)v1_good[_i].line, strlen(v1_good[_i].line), &h);
	ck_assert_int_eq(h.version, 1);
	assert_addrs(&h, v1_good[_i].src, v1_good[_i].dst);
	ck_assert_uint_eq(h.ntlv, 0);
}
END_TEST

START_TEST(test_v1_unknown)
{
	static const char *const lines[] = {
		"PROXY UNKNOWN\r\n",
		"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
		"PROXY UNKNOWN anything \x01\xff at all\r\n",
	};
	struct proxyproto_header h;

	for (size_t i = 0; i < NELEM(lines); i++) {
		assert_whole((const uint8_t *)lines[i], strlen(lines[i]), &h);
		ck_assert_int_eq(h.version, 1);
		ck_assert(h.local);
	}
}
END_TEST

START_TEST(test_v1_length_bound)
{
	char line[200];
	struct proxyproto_header h;

	/* 107 bytes with the CRLF: the longest line; one more is BAD. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + 105, "\r\n", 2);
	assert_whole((const uint8_t *)line, 107, &h);
	ck_assert(h.local);

	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	memcpy(line + 106, "\r\n", 2);
	assert_need_more(line, 106);
	assert_bad(line, 107);		/* the CR is the 107th byte: no room for LF */
	assert_bad(line, 108);

	/* No CR at all: a prefix until 107 bytes, BAD from there. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY UNKNOWN ", 14);
	assert_need_more(line, 106);
	assert_bad(line, 107);
	assert_bad(line, sizeof(line));

	/* A TCP6 line of 108 bytes (addresses inet_pton takes) is BAD too. */
	snprintf(line, sizeof(line), "PROXY TCP6 %s %s 65535 65535\r\n",
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
	    "ffff:ffff:ffff:ffff:ffff:ffff:1.2.3.4");
	ck_assert_uint_eq(strlen(line), 108);
	assert_bad(line, strlen(line));
	snprintf(line, sizeof(line), "PROXY TCP6 %s %s 6553 65535\r\n",
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
	    "ffff:ffff:ffff:ffff:ffff:ffff:1.2.3.4");
	ck_assert_uint_eq(strlen(line), 107);
	assert_whole((const uint8_t *)line, strlen(line), &h);
	assert_addrs(&h, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff] 6553",
	    "[ffff:ffff:ffff:ffff:ffff:ffff:102:304] 65535");
}
END_TEST

static const char *const v1_bad[] = {
	"PROXY TCP4 192.168.0.1  192.168.0.11 56324 443\r\n",	/* two spaces */
	"PROXY  TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
	"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n",	/* trailing space */
	"PROXY TCP4 192.168.0.1 192.168.0.11 056324 443\r\n",	/* leading zero */
	"PROXY TCP4 192.168.0.1 192.168.0.11 56324 0443\r\n",
	"PROXY TCP4 192.168.0.1 192.168.0.11 00 443\r\n",
	"PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n",	/* out of range */
	"PROXY TCP4 192.168.0.1 192.168.0.11 56324 99999\r\n",
	"PROXY TCP4 192.168.0.1 192.168.0.11 56324 100000\r\n",
	"PROXY TCP4 192.168.0.1 192.168.0.11 -1 443\r\n",
	"PROXY TCP4 192.168.0.1 192.168.0.11 +1 443\r\n",
	"PROXY TCP4 192.168.0.1 192.168.0.11 1a 443\r\n",
	"PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n",	/* a field short */
	"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 1\r\n",	/* one too many */
	"PROXY TCP4 192.168.0.1\r\n",
	"PROXY TCP4\r\n",
	"PROXY\r\n",
	"PROXY \r\n",
	"PROXY TCP4 192.168.01.1 192.168.0.11 56324 443\r\n",	/* octal-looking */
	"PROXY TCP4 192.168.0.256 192.168.0.11 56324 443\r\n",
	"PROXY TCP4 192.168.0 192.168.0.11 56324 443\r\n",
	"PROXY TCP4 192.168.0.1.1 192.168.0.11 56324 443\r\n",
	"PROXY TCP4 ::1 ::1 56324 443\r\n",			/* family mismatch */
	"PROXY TCP6 192.168.0.1 192.168.0.11 56324 443\r\n",
	"PROXY TCP6 ::1 192.168.0.11 56324 443\r\n",
	"PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 56324 443\r\n",
	"PROXY TCP6 ::1::2 ::1 56324 443\r\n",
	"PROXY TCP6 fe80::1%eth0 ::1 56324 443\r\n",
	"PROXY tcp4 192.168.0.1 192.168.0.11 56324 443\r\n",	/* case */
	"PROXY TCP5 192.168.0.1 192.168.0.11 56324 443\r\n",
	"PROXY UDP4 192.168.0.1 192.168.0.11 56324 443\r\n",
	"PROXY UNKNOWNX\r\n",
	"PROXY UNKNOWN\n",					/* LF alone */
	"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n",
	"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\rX",	/* CR alone */
	"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\r\n",
	"PROXY UNKNOWN \r \r\n",
	"PROXY UNKNOWN \n\r\n",
	"PROXY TCP4 192.168.0.1\t192.168.0.11 56324 443\r\n",
	"proxy TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
	"PROXYTCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
	" PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
};

START_TEST(test_v1_bad)
{
	const char *line = v1_bad[_i];
	size_t len = strlen(line);

	assert_bad(line, len);
	/* Its valid-looking client bytes behind it change nothing. */
	{
		char more[256];

		memcpy(more, line, len);
		memcpy(more + len, "\r\nGET / HTTP/1.0\r\n\r\n", 20);
		assert_bad(more, len + 20);
	}
}
END_TEST

START_TEST(test_v1_nul)
{
	static const char line[] = "PROXY TCP4 192.168.0.1 192.168.0.11 56324 44\0003\r\n";
	static const char unknown[] = "PROXY UNKNOWN \0\r\n";
	struct proxyproto_header h;

	assert_bad(line, sizeof(line) - 1);
	assert_bad(line, 45);
	/* UNKNOWN's rest is ignored, whatever its bytes. */
	assert_whole((const uint8_t *)unknown, sizeof(unknown) - 1, &h);
	ck_assert(h.local);
}
END_TEST

START_TEST(test_v1_bad_early)
{
	/* Decided before any CRLF, from the bytes alone. */
	static const char *const early[] = {
		"X",
		"G",
		"PROXX",
		"PROXY  ",
		"PROXY TCP4 192.168.0.1  ",
		"PROXY TCP4 1:",
		"PROXY TCP4 1234",
		"PROXY TCP4 256",
		"PROXY TCP4 01",
		"PROXY TCP4 1..",
		"PROXY TCP4 .",
		"PROXY TCP4 1.2.3.4.",
		"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2555",	/* 46 */
		"PROXY TCP6 g",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01",
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536",
		"PROXY TCP4 1.2.3.4 5.6.7.8 123456",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ",
		"PROXY TCPX",
		"PROXY UNKNOWNX",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXY TCP4 1.2.3.4\r",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r",
	};
	static const char *const fine[] = {
		"P", "PROXY", "PROXY ", "PROXY T", "PROXY U", "PROXY UNKNOWN",
		"PROXY UNKNOWN ", "PROXY TCP4 1", "PROXY TCP4 1.2.3.4 5.6.7.8 6553",
		"PROXY TCP6 ::", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r",
		"PROXY TCP4 1.2.3.4 5.6.7.8 0", "PROXY TCP4 1.2.3.4 5.6.7.8 0 ",
		"PROXY TCP4 ", "PROXY TCP4 255.255.255.25", "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.",
	};

	for (size_t i = 0; i < NELEM(early); i++)
		assert_bad(early[i], strlen(early[i]));
	for (size_t i = 0; i < NELEM(fine); i++)
		assert_need_more(fine[i], strlen(fine[i]));
}
END_TEST

/* Valid PROXY headers over STREAM and what they say. */
static const struct {
	uint8_t fam;
	const uint8_t *block;
	size_t blen, ntlv;
	const char *src, *dst;
} v2_good[] = {
	{ 0x11, block4, sizeof(block4), 0, "192.0.2.1 56324", "198.51.100.7 443" },
	{ 0x21, block6, sizeof(block6), 0, "[2001:db8::1] 56324", "[2001:db8::2] 443" },
	{ 0x11, block4tlv, sizeof(block4tlv), 3, "192.0.2.1 56324", "198.51.100.7 443" },
};

START_TEST(test_v2_good)
{
	uint8_t buf[128];
	size_t n = mkv2(buf, 0x21, v2_good[_i].fam, v2_good[_i].block, v2_good[_i].blen);
	struct proxyproto_header h;

	assert_whole(buf, n, &h);
	ck_assert_int_eq(h.version, 2);
	assert_addrs(&h, v2_good[_i].src, v2_good[_i].dst);
	ck_assert_uint_eq(h.ntlv, v2_good[_i].ntlv);
}
END_TEST

START_TEST(test_v2_local)
{
	uint8_t buf[64];
	size_t n;
	struct proxyproto_header h;

	/* What haproxy's checks send: LOCAL, UNSPEC, no block. */
	n = mkv2(buf, 0x20, 0x00, NULL, 0);
	assert_whole(buf, n, &h);
	ck_assert_int_eq(h.version, 2);
	ck_assert(h.local);
	ck_assert_uint_eq(h.len, 16);

	/* LOCAL with a block: skipped whatever it says, family ignored. */
	n = mkv2(buf, 0x20, 0x11, block4, sizeof(block4));
	assert_whole(buf, n, &h);
	ck_assert(h.local);
	ck_assert_uint_eq(h.len, 28);
	n = mkv2(buf, 0x20, 0x21, block4, 5);		/* shorter than IPv6's */
	assert_whole(buf, n, &h);
	ck_assert(h.local);
}
END_TEST

START_TEST(test_v2_unspec_unix)
{
	uint8_t block[216 + 3], buf[256];
	size_t n;
	struct proxyproto_header h;

	/* PROXY for an unspecified family: the connection's own addresses. */
	n = mkv2(buf, 0x21, 0x00, NULL, 0);
	assert_whole(buf, n, &h);
	ck_assert(h.local);
	n = mkv2(buf, 0x21, 0x10, block4, sizeof(block4));	/* INET, UNSPEC */
	assert_whole(buf, n, &h);
	ck_assert(h.local);

	/* UNIX stream: 216 address bytes, then TLVs. */
	memset(block, 'u', sizeof(block));
	memcpy(block + 216, "\x04\x00\x00", 3);
	n = mkv2(buf, 0x21, 0x31, block, sizeof(block));
	assert_whole(buf, n, &h);
	ck_assert(h.local);
	ck_assert_uint_eq(h.ntlv, 1);
	n = mkv2(buf, 0x21, 0x31, block, 215);
	assert_bad(buf, n);
	assert_bad(buf, 16);
}
END_TEST

START_TEST(test_v2_bad_header)
{
	static const struct {
		uint8_t ver_cmd, fam;
	} bad[] = {
		{ 0x11, 0x11 },		/* version 1 in binary */
		{ 0x31, 0x11 },		/* version 3 */
		{ 0x01, 0x11 },
		{ 0x22, 0x11 },		/* command 2 */
		{ 0x2f, 0x11 },
		{ 0x21, 0x41 },		/* family 4 */
		{ 0x21, 0xf1 },
		{ 0x21, 0x13 },		/* transport 3 */
		{ 0x21, 0x1f },
		{ 0x21, 0x12 },		/* UDP: no datagrams here */
		{ 0x21, 0x22 },
		{ 0x21, 0x32 },
		{ 0x20, 0x41 },		/* LOCAL still needs a valid byte */
	};
	uint8_t buf[64];

	for (size_t i = 0; i < NELEM(bad); i++) {
		size_t n = mkv2(buf, bad[i].ver_cmd, bad[i].fam, block4, sizeof(block4));
		size_t early = (bad[i].ver_cmd & 0xf0) != 0x20 ||
		    (bad[i].ver_cmd & 0x0f) > 1 ? 13 : 14;

		assert_bad(buf, n);
		/* As soon as the byte is there. */
		assert_bad(buf, early);
		assert_need_more(buf, early - 1);
	}
}
END_TEST

START_TEST(test_v2_signature)
{
	uint8_t buf[64];
	size_t n = mkv2(buf, 0x21, 0x11, block4, sizeof(block4));

	/* Any signature byte wrong: BAD as soon as it is read. */
	for (size_t i = 0; i < 12; i++) {
		uint8_t c[64];

		memcpy(c, buf, n);
		c[i] ^= 0x40;
		assert_bad(c, i + 1);
		assert_bad(c, n);
		if (i > 0)
			assert_need_more(c, i);
	}
	/* Neither signature from the first byte. */
	assert_bad("\x16\x03\x01", 1);
	assert_bad("GET / HTTP/1.1\r\n", 1);
	assert_bad("\0", 1);
	assert_need_more("", 0);
}
END_TEST

START_TEST(test_v2_lengths)
{
	static uint8_t block[PROXYPROTO_HDR_MAX];
	uint8_t buf[16 + sizeof(block)];
	size_t n;
	struct proxyproto_header h;

	/* The largest header is 4096 bytes, block and all. */
	memcpy(block, block4, sizeof(block4));
	block[12] = 0xe0;			/* one custom TLV filling it */
	block[13] = (uint8_t)((PROXYPROTO_HDR_MAX - 16 - 12 - 3) >> 8);
	block[14] = (uint8_t)(PROXYPROTO_HDR_MAX - 16 - 12 - 3);
	n = mkv2(buf, 0x21, 0x11, block, PROXYPROTO_HDR_MAX - 16);
	ck_assert_uint_eq(n, PROXYPROTO_HDR_MAX);
	assert_whole(buf, n, &h);
	ck_assert_uint_eq(h.ntlv, 1);

	/* One more: BAD from the length field, without waiting for it. */
	n = mkv2(buf, 0x21, 0x11, block, PROXYPROTO_HDR_MAX - 15);
	assert_need_more(buf, 15);
	assert_bad(buf, 16);
	assert_bad(buf, n);
	buf[14] = 0xff;
	buf[15] = 0xff;
	assert_bad(buf, 16);

	/* A block too short for its addresses: BAD from the length too. */
	n = mkv2(buf, 0x21, 0x11, block4, 11);
	assert_bad(buf, 16);
	assert_bad(buf, n);
	n = mkv2(buf, 0x21, 0x21, block6, 35);
	assert_bad(buf, 16);
	n = mkv2(buf, 0x21, 0x21, block4, sizeof(block4));	/* IPv6 in 12 */
	assert_bad(buf, n);
}
END_TEST

START_TEST(test_v2_tlv_overrun)
{
	uint8_t block[64], buf[128];
	size_t n, blen = sizeof(block4tlv);
	struct proxyproto_header h;

	/* The last TLV (CRC32C, 4 bytes) claims 5: it overruns the block. */
	memcpy(block, block4tlv, blen);
	block[blen - 5] = 5;
	n = mkv2(buf, 0x21, 0x11, block, blen);
	assert_bad(buf, n);
	/* Known as soon as its length is read, before the block is whole. */
	assert_bad(buf, 16 + blen - 4);
	assert_need_more(buf, 16 + blen - 5);

	/* The first one (ALPN) claims the whole 16-bit range. */
	memcpy(block, block4tlv, blen);
	block[13] = 0xff;
	block[14] = 0xff;
	n = mkv2(buf, 0x21, 0x11, block, blen);
	assert_bad(buf, n);
	assert_bad(buf, 16 + 15);

	/* One or two bytes left after the TLVs: a TLV header cut short. */
	for (size_t extra = 1; extra <= 2; extra++) {
		memcpy(block, block4tlv, blen);
		memset(block + blen, 0x04, extra);
		n = mkv2(buf, 0x21, 0x11, block, blen + extra);
		assert_bad(buf, n);
	}

	/* A TLV that ends exactly at the block's end is fine (NOOP, 0). */
	memcpy(block, block4, 12);
	memcpy(block + 12, "\x04\x00\x00", 3);
	n = mkv2(buf, 0x21, 0x11, block, 15);
	assert_whole(buf, n, &h);
	ck_assert_uint_eq(h.ntlv, 1);
	/* Also after IPv6's addresses, with a PP2_TYPE_SSL TLV. */
	memcpy(block, block6, 36);
	memcpy(block + 36, "\x20\x00\x05\x01\x00\x00\x00\x00", 8);
	n = mkv2(buf, 0x21, 0x21, block, 44);
	assert_whole(buf, n, &h);
	ck_assert_uint_eq(h.ntlv, 1);
	n = mkv2(buf, 0x21, 0x21, block, 43);
	assert_bad(buf, n);
}
END_TEST

/* --- building ---------------------------------------------------------- */

/* What proxyproto_build writes for src -> dst (NULL: UNKNOWN/LOCAL). */
static void
assert_built(int version, const char *src, unsigned sport, const char *dst,
    unsigned dport, const void *want, size_t wantlen)
{
	struct sockaddr_storage s, d;
	uint8_t out[PROXYPROTO_BUILD_MAX];
	size_t n;

	if (src != NULL)
		mkaddr(&s, src, sport);
	mkaddr(&d, dst != NULL ? dst : "192.0.2.9", dport);
	n = proxyproto_build(version, src != NULL ? (struct sockaddr *)&s : NULL,
	    dst != NULL ? (struct sockaddr *)&d : NULL, out, sizeof(out));
	ck_assert_uint_eq(n, wantlen);
	ck_assert(memcmp(out, want, n) == 0);
}

START_TEST(test_build_v1)
{
	static const char v4[] = "PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n";
	static const char v6[] = "PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n";

	assert_built(1, "192.0.2.1", 56324, "198.51.100.7", 443, v4, strlen(v4));
	assert_built(1, "2001:db8::1", 0, "2001:db8::2", 65535, v6, strlen(v6));
	assert_built(1, NULL, 0, NULL, 0, "PROXY UNKNOWN\r\n", 15);
	assert_built(1, NULL, 0, "198.51.100.7", 443, "PROXY UNKNOWN\r\n", 15);
}
END_TEST

START_TEST(test_build_v2)
{
	static const uint8_t local[16] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
		0x20, 0x00, 0x00, 0x00
	};
	uint8_t want[64];

	assert_built(2, "192.0.2.1", 56324, "198.51.100.7", 443, want,
	    mkv2(want, 0x21, 0x11, block4, sizeof(block4)));
	assert_built(2, "2001:db8::1", 56324, "2001:db8::2", 443, want,
	    mkv2(want, 0x21, 0x21, block6, sizeof(block6)));
	assert_built(2, NULL, 0, NULL, 0, local, sizeof(local));
}
END_TEST

START_TEST(test_build_limits)
{
	struct sockaddr_storage s, d;
	struct sockaddr_un un;
	uint8_t out[PROXYPROTO_BUILD_MAX];
	const struct sockaddr *sp = (struct sockaddr *)&s, *dp = (struct sockaddr *)&d;

	mkaddr(&s, "2001:db8::1", 56324);
	mkaddr(&d, "2001:db8::2", 443);
	/* cap one short of each length: 0; exactly it: the header. */
	ck_assert_uint_eq(proxyproto_build(2, sp, dp, out, 51), 0);
	ck_assert_uint_eq(proxyproto_build(2, sp, dp, out, 52), 52);
	ck_assert_uint_eq(proxyproto_build(1, sp, dp, out, 45), 0);
	ck_assert_uint_eq(proxyproto_build(1, sp, dp, out, 46), 46);
	ck_assert_uint_eq(proxyproto_build(1, NULL, NULL, out, 14), 0);
	ck_assert_uint_eq(proxyproto_build(2, NULL, NULL, out, 15), 0);
	ck_assert_uint_eq(proxyproto_build(2, NULL, NULL, out, 0), 0);

	/* Neither IPv4 nor IPv6, a missing dst, or no such version: 0. */
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	ck_assert_uint_eq(proxyproto_build(1, (struct sockaddr *)&un, dp, out, sizeof(out)), 0);
	ck_assert_uint_eq(proxyproto_build(2, sp, (struct sockaddr *)&un, out, sizeof(out)), 0);
	ck_assert_uint_eq(proxyproto_build(2, sp, NULL, out, sizeof(out)), 0);
	ck_assert_uint_eq(proxyproto_build(0, sp, dp, out, sizeof(out)), 0);
	ck_assert_uint_eq(proxyproto_build(3, sp, dp, out, sizeof(out)), 0);
	ck_assert_uint_eq(proxyproto_build(3, NULL, NULL, out, sizeof(out)), 0);
}
END_TEST

/*
 * Build, then parse: the addresses come back. Mapped IPv4 counts as
 * IPv4; a mixed pair goes as IPv6 both, the IPv4 one mapped.
 */
static const struct {
	const char *src, *dst;
	const char *want_src, *want_dst;
} trips[] = {
	{ "192.0.2.1", "198.51.100.7", "192.0.2.1 1234", "198.51.100.7 80" },
	{ "2001:db8::1", "2001:db8::2", "[2001:db8::1] 1234", "[2001:db8::2] 80" },
	{ "::ffff:192.0.2.1", "::ffff:198.51.100.7", "192.0.2.1 1234", "198.51.100.7 80" },
	{ "::ffff:192.0.2.1", "198.51.100.7", "192.0.2.1 1234", "198.51.100.7 80" },
	{ "192.0.2.1", "::ffff:198.51.100.7", "192.0.2.1 1234", "198.51.100.7 80" },
	{ "192.0.2.1", "2001:db8::2", "[::ffff:192.0.2.1] 1234", "[2001:db8::2] 80" },
	{ "2001:db8::1", "198.51.100.7", "[2001:db8::1] 1234", "[::ffff:198.51.100.7] 80" },
	{ "::ffff:192.0.2.1", "2001:db8::2", "[::ffff:192.0.2.1] 1234", "[2001:db8::2] 80" },
	{ "::1", "127.0.0.1", "[::1] 1234", "[::ffff:127.0.0.1] 80" },
	{ "0.0.0.0", "255.255.255.255", "0.0.0.0 1234", "255.255.255.255 80" },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::",
	  "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff] 1234", "[::] 80" },
};

START_TEST(test_round_trip)
{
	struct sockaddr_storage s, d;
	struct proxyproto_header h;
	uint8_t out[PROXYPROTO_BUILD_MAX];
	const char *why;

	mkaddr(&s, trips[_i].src, 1234);
	mkaddr(&d, trips[_i].dst, 80);
	for (int version = 1; version <= 2; version++) {
		size_t n = proxyproto_build(version, (struct sockaddr *)&s,
		    (struct sockaddr *)&d, out, sizeof(out));

		ck_assert_uint_gt(n, 0);
		ck_assert_uint_le(n, PROXYPROTO_BUILD_MAX);
		ck_assert_msg(parse(out, n, &h, &why) == PROXYPROTO_OK, "v%d %s: %s",
		    version, trips[_i].src, why ? why : "");
		ck_assert_int_eq(h.version, version);
		ck_assert_uint_eq(h.len, n);
		assert_addrs(&h, trips[_i].want_src, trips[_i].want_dst);
		assert_whole(out, n, &h);
	}
	/* LOCAL and UNKNOWN come back local. */
	for (int version = 1; version <= 2; version++) {
		size_t n = proxyproto_build(version, NULL, NULL, out, sizeof(out));

		ck_assert_uint_gt(n, 0);
		ck_assert(parse(out, n, &h, &why) == PROXYPROTO_OK);
		ck_assert(h.local);
		ck_assert_int_eq(h.version, version);
	}
}
END_TEST

static Suite *
proxyproto_suite(void)
{
	Suite *s = suite_create("proxyproto");
	TCase *tc;

	tc = tcase_create("v1");
	tcase_add_loop_test(tc, test_v1_good, 0, (int)NELEM(v1_good));
	tcase_add_test(tc, test_v1_unknown);
	tcase_add_test(tc, test_v1_length_bound);
	tcase_add_loop_test(tc, test_v1_bad, 0, (int)NELEM(v1_bad));
	tcase_add_test(tc, test_v1_nul);
	tcase_add_test(tc, test_v1_bad_early);
	suite_add_tcase(s, tc);
	tc = tcase_create("v2");
	tcase_add_loop_test(tc, test_v2_good, 0, (int)NELEM(v2_good));
	tcase_add_test(tc, test_v2_local);
	tcase_add_test(tc, test_v2_unspec_unix);
	tcase_add_test(tc, test_v2_bad_header);
	tcase_add_test(tc, test_v2_signature);
	tcase_add_test(tc, test_v2_lengths);
	tcase_add_test(tc, test_v2_tlv_overrun);
	suite_add_tcase(s, tc);
	tc = tcase_create("build");
	tcase_add_test(tc, test_build_v1);
	tcase_add_test(tc, test_build_v2);
	tcase_add_test(tc, test_build_limits);
	tcase_add_loop_test(tc, test_round_trip, 0, (int)NELEM(trips));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(proxyproto_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
