/*
 * Unit tests for sni.c: ClientHellos captured from real clients (OpenSSL
 * 3.0 s_client offering TLS 1.3, 1.2 only, 1.0, without a name; curl
 * 7.88) parsed whole, fed one byte more at a time, cut again into records
 * of every size; every length field of them one too large and one too
 * small; hand-built hellos for the name and extension rules; what is not
 * TLS at all; and the server-name map's exact, wildcard, longest-match
 * and case rules. Every input is parsed from a heap copy of exactly its
 * length, so that ASan sees any read past it.
 */
#include "autoconfig.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sni.h"

/*
 * Captured on 127.0.0.1 from a socket that only recorded the first bytes
 * each client sent (the random, session id and key shares are whatever
 * they were then): OpenSSL 3.0.22's s_client and curl 7.88.1 on OpenSSL.
 */
/* openssl s_client -servername a.example (TLS 1.3 offered): 315 bytes */
static const uint8_t hello_s_client_13[] = {
	0x16, 0x03, 0x01, 0x01, 0x36, 0x01, 0x00, 0x01, 0x32, 0x03, 0x03, 0xcd,
	0x39, 0x73, 0xbe, 0xa5, 0xd8, 0xe4, 0xfe, 0xc0, 0x1d, 0xce, 0xce, 0x1b,
	0x80, 0xaf, 0x4a, 0xaa, 0xe2, 0x02, 0x7f, 0x87, 0x00, 0x6d, 0x8d, 0x80,
	0x1d, 0xfd, 0xde, 0xf1, 0x41, 0xfd, 0x0d, 0x20, 0x6d, 0x01, 0x03, 0xfe,
	0xf1, 0xd5, 0x3b, 0x81, 0x5d, 0x89, 0x6d, 0x70, 0xaf, 0x78, 0xb7, 0x59,
	0x86, 0xfe, 0x60, 0x1b, 0x21, 0x7a, 0xbc, 0xdb, 0x97, 0xe4, 0xc5, 0x40,
	0x3f, 0xa3, 0xc1, 0x48, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
	0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
	0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xab,
	0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09, 0x61, 0x2e, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00,
	0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17,
	0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02,
	0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00,
	0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03,
	0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a,
	0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01,
	0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02,
	0x06, 0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03,
	0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00,
	0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0xfa, 0x1e, 0x94, 0x86, 0x12,
	0x8c, 0xc5, 0xa7, 0x1e, 0x25, 0x06, 0xbf, 0xe0, 0x58, 0x56, 0xf9, 0xca,
	0x8a, 0xca, 0x9c, 0xb7, 0x24, 0x39, 0x70, 0xa2, 0xd2, 0xb3, 0x0f, 0xc9,
	0x66, 0xde, 0x38,
};

/* openssl s_client -no_tls1_3 -servername a.example: 206 bytes */
static const uint8_t hello_s_client_12[] = {
	0x16, 0x03, 0x01, 0x00, 0xc9, 0x01, 0x00, 0x00, 0xc5, 0x03, 0x03, 0xb7,
	0x2e, 0x6f, 0x13, 0x8c, 0x06, 0x13, 0x7a, 0xa1, 0xd5, 0x76, 0x49, 0x75,
	0x6c, 0xe2, 0xa0, 0xb2, 0x70, 0x93, 0x60, 0xf3, 0x5f, 0x93, 0x16, 0x93,
	0xd2, 0x18, 0x37, 0x71, 0x64, 0x55, 0x5e, 0x00, 0x00, 0x38, 0xc0, 0x2c,
	0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b,
	0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23,
	0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09,
	0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c,
	0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x64, 0x00, 0x00,
	0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09, 0x61, 0x2e, 0x65, 0x78, 0x61,
	0x6d, 0x70, 0x6c, 0x65, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02,
	0x00, 0x0a, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e,
	0x00, 0x19, 0x00, 0x18, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00,
	0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03,
	0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a,
	0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01,
	0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02,
	0x06, 0x02,
};

/* openssl s_client -tls1 -servername old.example: 124 bytes */
static const uint8_t hello_s_client_10[] = {
	0x16, 0x03, 0x01, 0x00, 0x77, 0x01, 0x00, 0x00, 0x73, 0x03, 0x01, 0xce,
	0x85, 0x36, 0xe9, 0x7d, 0xa9, 0x50, 0xa3, 0xa2, 0x59, 0x9e, 0xb4, 0x8f,
	0x00, 0x5e, 0xb5, 0x8e, 0x14, 0x40, 0x9b, 0x24, 0xd4, 0x72, 0xc3, 0x15,
	0x12, 0x71, 0x19, 0x3d, 0xc0, 0x64, 0xde, 0x00, 0x00, 0x12, 0xc0, 0x0a,
	0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x35,
	0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x38, 0x00, 0x00, 0x00, 0x10,
	0x00, 0x0e, 0x00, 0x00, 0x0b, 0x6f, 0x6c, 0x64, 0x2e, 0x65, 0x78, 0x61,
	0x6d, 0x70, 0x6c, 0x65, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02,
	0x00, 0x0a, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e,
	0x00, 0x19, 0x00, 0x18, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00,
	0x00, 0x17, 0x00, 0x00,
};

/* openssl s_client -tls1_3 -servername WWW.B.Example.ORG: 251 bytes */
static const uint8_t hello_s_client_upper[] = {
	0x16, 0x03, 0x01, 0x00, 0xf6, 0x01, 0x00, 0x00, 0xf2, 0x03, 0x03, 0xd7,
	0x72, 0x65, 0xab, 0x1c, 0xbf, 0x73, 0xe4, 0x42, 0x8c, 0x49, 0xfc, 0xb9,
	0x3d, 0x70, 0xe8, 0xd7, 0xe6, 0xd1, 0x47, 0xad, 0xc8, 0x14, 0xc3, 0x46,
	0xe8, 0x30, 0xa3, 0x18, 0xa8, 0x3b, 0x5e, 0x20, 0x9c, 0x1c, 0xdd, 0xb4,
	0x8d, 0xd7, 0xe0, 0xcc, 0x34, 0x27, 0xbc, 0x75, 0xe4, 0x97, 0xfb, 0x3c,
	0x27, 0x13, 0xf1, 0xc4, 0xc8, 0x44, 0x77, 0xb2, 0xc8, 0xcb, 0xd7, 0xc3,
	0xe4, 0x39, 0xe7, 0x09, 0x00, 0x08, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0x00, 0xff, 0x01, 0x00, 0x00, 0xa1, 0x00, 0x00, 0x00, 0x16, 0x00, 0x14,
	0x00, 0x00, 0x11, 0x57, 0x57, 0x57, 0x2e, 0x42, 0x2e, 0x45, 0x78, 0x61,
	0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x4f, 0x52, 0x47, 0x00, 0x0b, 0x00, 0x04,
	0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d,
	0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01,
	0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16,
	0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x1e, 0x00, 0x1c,
	0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09,
	0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01,
	0x05, 0x01, 0x06, 0x01, 0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04, 0x00,
	0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00,
	0x1d, 0x00, 0x20, 0xf7, 0x8b, 0xf6, 0x21, 0x1c, 0x89, 0x8c, 0x44, 0xf6,
	0xd0, 0x8e, 0x53, 0x79, 0xe6, 0x66, 0xa5, 0xee, 0x82, 0x37, 0xfa, 0x28,
	0x48, 0x01, 0xa8, 0x9f, 0xe0, 0x77, 0x09, 0x8b, 0x6f, 0xa8, 0x08,
};

/* openssl s_client -noservername: 297 bytes */
static const uint8_t hello_s_client_nosni[] = {
	0x16, 0x03, 0x01, 0x01, 0x24, 0x01, 0x00, 0x01, 0x20, 0x03, 0x03, 0xa0,
	0xca, 0xec, 0x8e, 0x5a, 0x57, 0x3d, 0x3a, 0x07, 0xf5, 0x1a, 0x7f, 0x4c,
	0xa0, 0x32, 0x4c, 0x6f, 0xf4, 0xa2, 0x5f, 0x90, 0xe4, 0x10, 0xc2, 0x66,
	0x5c, 0x02, 0x23, 0x6b, 0x1a, 0x18, 0x25, 0x20, 0xbc, 0xd5, 0x4e, 0x9c,
	0x22, 0xfb, 0x3f, 0xec, 0xb9, 0x8a, 0x9b, 0x82, 0x28, 0xe8, 0x45, 0x92,
	0xf1, 0x02, 0x16, 0xcf, 0x99, 0xe7, 0x34, 0x6c, 0x24, 0xdf, 0x4d, 0x29,
	0x3f, 0xb0, 0x2b, 0x22, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
	0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
	0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x99,
	0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16,
	0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
	0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23,
	0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d,
	0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07,
	0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05,
	0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01,
	0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
	0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00,
	0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00,
	0x20, 0x37, 0xed, 0x84, 0xc4, 0xfa, 0x7e, 0x5d, 0x05, 0x26, 0xfb, 0x48,
	0x9a, 0x83, 0x1f, 0xd7, 0xe4, 0x97, 0x5f, 0x98, 0x41, 0x39, 0x1b, 0xe9,
	0x69, 0xee, 0xd2, 0x47, 0x3c, 0x6c, 0x12, 0x21, 0x36,
};

/* curl --resolve a.example:PORT:127.0.0.1 https://a.example:PORT/: 517 bytes */
static const uint8_t hello_curl[] = {
	0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x06,
	0x93, 0x0e, 0x3c, 0xc5, 0xf3, 0xcd, 0x40, 0x92, 0xa0, 0x50, 0x5d, 0xac,
	0x72, 0xb8, 0xc6, 0x0c, 0x80, 0xe7, 0xc9, 0xc5, 0x97, 0xac, 0x93, 0x2d,
	0x3d, 0x99, 0x23, 0x62, 0xfd, 0x5f, 0x0e, 0x20, 0x0b, 0x09, 0xc8, 0xb8,
	0x01, 0xe6, 0x44, 0x35, 0x4b, 0x66, 0xf9, 0x0e, 0xec, 0x6b, 0xa4, 0x4b,
	0x38, 0xa1, 0x3a, 0x03, 0x28, 0x1f, 0x12, 0xea, 0xb0, 0x5a, 0x96, 0x66,
	0x55, 0x5e, 0xd7, 0x2f, 0x00, 0x3e, 0x13, 0x02, 0x13, 0x03, 0x13, 0x01,
	0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
	0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b,
	0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39,
	0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d,
	0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x01, 0x75,
	0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09, 0x61, 0x2e, 0x65,
	0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00,
	0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17,
	0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02,
	0x01, 0x03, 0x01, 0x04, 0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, 0x68,
	0x32, 0x08, 0x68, 0x74, 0x74, 0x70, 0x2f, 0x31, 0x2e, 0x31, 0x00, 0x16,
	0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x31, 0x00, 0x00, 0x00, 0x0d,
	0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07,
	0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05,
	0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01,
	0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
	0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00,
	0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00,
	0x20, 0x02, 0xe2, 0x4a, 0x6b, 0x42, 0xd4, 0x24, 0x2d, 0x32, 0x75, 0x4c,
	0x01, 0x0b, 0xae, 0x5e, 0x54, 0xcc, 0xd0, 0xef, 0x8b, 0x68, 0xeb, 0x24,
	0x54, 0x52, 0x4f, 0x75, 0x2b, 0x83, 0x6f, 0xa0, 0x38, 0x00, 0x15, 0x00,
	0xb4, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00,
};

struct capture {
	const char	*what;
	const uint8_t	*bytes;
	size_t		 len;
	const char	*name;		/* NULL: no server_name */
};

#define CAPTURE(v, n)	{ #v, v, sizeof(v), n }
static const struct capture captures[] = {
	CAPTURE(hello_s_client_13, "a.example"),
	CAPTURE(hello_s_client_12, "a.example"),
	CAPTURE(hello_s_client_10, "old.example"),
	CAPTURE(hello_s_client_upper, "www.b.example.org"),
	CAPTURE(hello_s_client_nosni, NULL),
	CAPTURE(hello_curl, "a.example"),
};
#define NCAPTURES	(sizeof(captures) / sizeof(captures[0]))

/* sni_parse on a heap copy of exactly n bytes. */
static enum sni_result
parse_exact(const uint8_t *p, size_t n, char name[SNI_NAME_MAX + 1], const char **why)
{
	uint8_t *copy = malloc(n > 0 ? n : 1);
	enum sni_result r;

	ck_assert_ptr_nonnull(copy);
	if (n > 0)
		memcpy(copy, p, n);
	*why = NULL;
	r = sni_parse(copy, n, name, why);
	free(copy);
	/* A reason for every refusal, and a name only when one was found. */
	if (r == SNI_BAD || r == SNI_NOT_TLS)
		ck_assert_ptr_nonnull(*why);
	if (r != SNI_FOUND)
		ck_assert_str_eq(name, "");
	return r;
}

/*
 * Every prefix of p: NEED_MORE up to the last byte, then want (and the
 * name, when FOUND). When want is BAD, it may come earlier, and then stays.
 */
static void
check_prefixes(const uint8_t *p, size_t n, enum sni_result want, const char *wname)
{
	enum sni_result was = SNI_NEED_MORE;
	char name[SNI_NAME_MAX + 1];
	const char *why;

	for (size_t k = 0; k < n; k++) {
		enum sni_result r = parse_exact(p, k, name, &why);

		if (r != SNI_NEED_MORE && !(want == SNI_BAD && r == SNI_BAD))
			ck_abort_msg("prefix %zu of %zu: %d (%s)", k, n, (int)r,
			    why != NULL ? why : "");
		if (was == SNI_BAD && r != SNI_BAD)
			ck_abort_msg("prefix %zu of %zu: %d after BAD", k, n, (int)r);
		was = r;
	}
	ck_assert_int_eq(parse_exact(p, n, name, &why), want);
	if (want == SNI_FOUND)
		ck_assert_str_eq(name, wname);
}

/* A growing byte string, for building records and hellos. */
struct bytes {
	uint8_t	*b;
	size_t	 len, cap;
};

static void
put(struct bytes *s, const void *p, size_t n)
{
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 256;

		while (cap < s->len + n)
			cap *= 2;
		s->b = realloc(s->b, cap);
		ck_assert_ptr_nonnull(s->b);
		s->cap = cap;
	}
	if (n > 0)
		memcpy(s->b + s->len, p, n);
	s->len += n;
}

static void
put8(struct bytes *s, unsigned v)
{
	uint8_t b = (uint8_t)v;

	put(s, &b, 1);
}

static void
put16(struct bytes *s, unsigned v)
{
	put8(s, v >> 8);
	put8(s, v);
}

static void
put24(struct bytes *s, unsigned v)
{
	put8(s, v >> 16);
	put16(s, v);
}

static void
bytes_free(struct bytes *s)
{
	free(s->b);
	memset(s, 0, sizeof(*s));
}

/* The handshake bytes of a capture that is one record (all of them are). */
static void
handshake_of(const struct capture *c, const uint8_t **hs, size_t *n)
{
	ck_assert_uint_ge(c->len, 9);
	ck_assert_uint_eq(((size_t)c->bytes[3] << 8 | c->bytes[4]) + 5, c->len);
	*hs = c->bytes + 5;
	*n = c->len - 5;
}

/* hs cut into records of sizes[0], sizes[1] ... (the last one repeats). */
static void
records(struct bytes *out, const uint8_t *hs, size_t n, const size_t *sizes, size_t nsizes)
{
	size_t i = 0;

	for (size_t off = 0; off < n; ) {
		size_t k = sizes[i < nsizes ? i : nsizes - 1];

		if (k > n - off)
			k = n - off;
		put8(out, 0x16);
		put16(out, 0x0301);
		put16(out, (unsigned)k);
		put(out, hs + off, k);
		off += k;
		i++;
	}
}

START_TEST(test_captures_whole)
{
	char name[SNI_NAME_MAX + 1];
	const char *why;

	for (size_t i = 0; i < NCAPTURES; i++) {
		const struct capture *c = &captures[i];
		enum sni_result r = parse_exact(c->bytes, c->len, name, &why);

		if (c->name == NULL) {
			ck_assert_msg(r == SNI_NONE, "%s: %d (%s)", c->what, (int)r,
			    why != NULL ? why : "");
		} else {
			ck_assert_msg(r == SNI_FOUND, "%s: %d (%s)", c->what, (int)r,
			    why != NULL ? why : "");
			ck_assert_str_eq(name, c->name);
		}
	}
}
END_TEST

START_TEST(test_captures_byte_by_byte)
{
	const struct capture *c = &captures[_i];

	check_prefixes(c->bytes, c->len, c->name ? SNI_FOUND : SNI_NONE, c->name);
}
END_TEST

/* The same hellos in records of 1, 2, 3, 5, 100 ... bytes, and mixed. */
START_TEST(test_captures_split_into_records)
{
	static const size_t splits[][4] = {
		{ 1 }, { 2 }, { 3 }, { 4 }, { 5 }, { 7 }, { 100 }, { 1000 },
		{ 1, 3, 200 }, { 4, 1, 39, 2 }, { 38, 1 }, { 300, 1 },
	};
	const struct capture *c = &captures[_i];
	const uint8_t *hs;
	size_t n;

	handshake_of(c, &hs, &n);
	for (size_t s = 0; s < sizeof(splits) / sizeof(splits[0]); s++) {
		struct bytes out = { 0 };
		size_t nsizes = 0;

		while (nsizes < 4 && splits[s][nsizes] != 0)
			nsizes++;
		records(&out, hs, n, splits[s], nsizes);
		check_prefixes(out.b, out.len, c->name ? SNI_FOUND : SNI_NONE, c->name);
		bytes_free(&out);
	}
}
END_TEST

/* What follows the hello (an early data record, say) is not looked at. */
START_TEST(test_bytes_after_the_hello)
{
	static const uint8_t more[] = { 0x17, 0x03, 0x03, 0x00, 0x02, 'h', 'i', 0xff };
	const struct capture *c = &captures[0];
	struct bytes out = { 0 };
	char name[SNI_NAME_MAX + 1];
	const char *why;

	put(&out, c->bytes, c->len);
	put(&out, more, sizeof(more));
	ck_assert_int_eq(parse_exact(out.b, out.len, name, &why), SNI_FOUND);
	ck_assert_str_eq(name, "a.example");
	bytes_free(&out);
}
END_TEST

/* Where a capture's length fields are: offset and size in bytes. */
struct field {
	size_t	off, size;
	char	what[32];
};

static size_t
get_be(const uint8_t *p, size_t size)
{
	size_t v = 0;

	for (size_t i = 0; i < size; i++)
		v = v << 8 | p[i];
	return v;
}

static void
add_field(struct field *f, size_t *nf, size_t off, size_t size, const char *what)
{
	ck_assert_uint_lt(*nf, 64);
	f[*nf].off = off;
	f[*nf].size = size;
	snprintf(f[*nf].what, sizeof(f[*nf].what), "%s", what);
	(*nf)++;
}

/* Walks a well-formed one-record capture (the test trusts it). */
static size_t
length_fields(const struct capture *c, struct field *f)
{
	const uint8_t *p = c->bytes;
	size_t nf = 0, off, end;

	add_field(f, &nf, 3, 2, "record");
	add_field(f, &nf, 6, 3, "handshake");
	off = 5 + 4 + 2 + 32;
	add_field(f, &nf, off, 1, "session id");
	off += 1 + p[off];
	add_field(f, &nf, off, 2, "cipher suites");
	off += 2 + get_be(p + off, 2);
	add_field(f, &nf, off, 1, "compression");
	off += 1 + p[off];
	if (off == c->len)
		return nf;
	add_field(f, &nf, off, 2, "extensions");
	end = off + 2 + get_be(p + off, 2);
	ck_assert_uint_eq(end, c->len);
	for (off += 2; off < end; ) {
		size_t type = get_be(p + off, 2), elen = get_be(p + off + 2, 2);
		char what[32];

		snprintf(what, sizeof(what), "extension %zu", type);
		add_field(f, &nf, off + 2, 2, what);
		if (type == 0) {
			add_field(f, &nf, off + 4, 2, "server name list");
			add_field(f, &nf, off + 7, 2, "host name");
		}
		off += 4 + elen;
	}
	return nf;
}

/*
 * Each length field one more and one less than it is: BAD, for the whole
 * hello, and nothing but NEED_MORE or BAD for every prefix of it.
 */
START_TEST(test_length_off_by_one)
{
	const struct capture *c = &captures[_i];
	struct field f[64];
	size_t nf = length_fields(c, f);
	uint8_t *copy = malloc(c->len);

	ck_assert_ptr_nonnull(copy);
	ck_assert_uint_ge(nf, 6);
	for (size_t i = 0; i < nf; i++) {
		for (int d = -1; d <= 1; d += 2) {
			size_t v = get_be(c->bytes + f[i].off, f[i].size);
			size_t mask = ((size_t)1 << (8 * f[i].size)) - 1;
			char name[SNI_NAME_MAX + 1];
			const char *why;
			enum sni_result r;

			memcpy(copy, c->bytes, c->len);
			v = (d > 0 ? v + 1 : v - 1) & mask;
			for (size_t b = 0; b < f[i].size; b++)
				copy[f[i].off + b] = (uint8_t)(v >> (8 * (f[i].size - 1 - b)));
			for (size_t k = 0; k < c->len; k++) {
				r = parse_exact(copy, k, name, &why);
				ck_assert_msg(r == SNI_NEED_MORE || r == SNI_BAD,
				    "%s: %s %+d, prefix %zu: %d", c->what, f[i].what, d, k, (int)r);
			}
			r = parse_exact(copy, c->len, name, &why);
			ck_assert_msg(r == SNI_BAD, "%s: %s %+d: %d", c->what, f[i].what,
			    d, (int)r);
		}
	}
	free(copy);
}
END_TEST

/* An extension for build_hello: type and data. */
struct ext {
	unsigned	 type;
	const void	*data;
	size_t		 len;
};

/*
 * A ClientHello handshake message (TLS 1.2 shaped, one suite, no
 * compression) with these extensions; next < 0: no extensions block at all.
 */
static void
build_hello(struct bytes *hs, const struct ext *e, int next)
{
	struct bytes body = { 0 };
	uint8_t random[32];

	memset(random, 0x5a, sizeof(random));
	put16(&body, 0x0303);
	put(&body, random, sizeof(random));
	put8(&body, 32);
	put(&body, random, 32);
	put16(&body, 2);
	put16(&body, 0x1301);
	put8(&body, 1);
	put8(&body, 0);
	if (next >= 0) {
		size_t total = 0;

		for (int i = 0; i < next; i++)
			total += 4 + e[i].len;
		put16(&body, (unsigned)total);
		for (int i = 0; i < next; i++) {
			put16(&body, e[i].type);
			put16(&body, (unsigned)e[i].len);
			put(&body, e[i].data, e[i].len);
		}
	}
	put8(hs, 1);
	put24(hs, (unsigned)body.len);
	put(hs, body.b, body.len);
	bytes_free(&body);
}

/* server_name data: a list of (name_type, name) entries. */
static void
build_names(struct bytes *d, const unsigned *types, const char *const *names, size_t n)
{
	size_t total = 0;

	for (size_t i = 0; i < n; i++)
		total += 3 + strlen(names[i]);
	put16(d, (unsigned)total);
	for (size_t i = 0; i < n; i++) {
		put8(d, types[i]);
		put16(d, (unsigned)strlen(names[i]));
		put(d, names[i], strlen(names[i]));
	}
}

/* A one-record hello whose server_name has the one host name given. */
static enum sni_result
parse_named(const char *host, char name[SNI_NAME_MAX + 1])
{
	static const unsigned zero = 0;
	struct bytes data = { 0 }, hs = { 0 }, rec = { 0 };
	static const size_t one[] = { 16384 };
	const char *why;
	enum sni_result r;
	struct ext e;

	build_names(&data, &zero, &host, 1);
	e.type = 0;
	e.data = data.b;
	e.len = data.len;
	build_hello(&hs, &e, 1);
	records(&rec, hs.b, hs.len, one, 1);
	r = parse_exact(rec.b, rec.len, name, &why);
	bytes_free(&data);
	bytes_free(&hs);
	bytes_free(&rec);
	return r;
}

/* prefix, then labels of 63 'x' and dots, len bytes in all. */
static void
make_name(char *out, size_t cap, const char *prefix, size_t len)
{
	size_t n = strlen(prefix), run = 0;

	ck_assert_uint_lt(len, cap);
	memcpy(out, prefix, n);
	while (n < len) {
		if (run == 63) {
			out[n++] = '.';
			run = 0;
		} else {
			out[n++] = 'x';
			run++;
		}
	}
	out[n] = '\0';
	ck_assert(out[n - 1] != '.');
}

START_TEST(test_host_name_rules)
{
	static const struct {
		const char	*host, *want;	/* want NULL: BAD */
	} cases[] = {
		{ "a.example", "a.example" },
		{ "A.EXAMPLE", "a.example" },
		{ "localhost", "localhost" },
		{ "_srv.a-b.Example9", "_srv.a-b.example9" },
		{ "a", "a" },
		{ "a..example", NULL },
		{ ".a.example", NULL },
		{ "a.example.", NULL },
		{ ".", NULL },
		{ "a example", NULL },
		{ "a/b", NULL },
		{ "a.example:443", NULL },
		{ "\xc3\xa4.example", NULL },
		{ "a\x7f", NULL },
		{ "*.example", NULL },
		{ "a\tb", NULL },
	};
	char name[SNI_NAME_MAX + 1];
	char label[80], host[300];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum sni_result r = parse_named(cases[i].host, name);

		if (cases[i].want == NULL) {
			ck_assert_msg(r == SNI_BAD, "%s: %d", cases[i].host, (int)r);
		} else {
			ck_assert_msg(r == SNI_FOUND, "%s: %d", cases[i].host, (int)r);
			ck_assert_str_eq(name, cases[i].want);
		}
	}

	/* Labels of 63 bytes, not 64. */
	memset(label, 'x', 64);
	label[63] = '\0';
	snprintf(host, sizeof(host), "%s.example", label);
	ck_assert_int_eq(parse_named(host, name), SNI_FOUND);
	ck_assert_str_eq(name, host);
	label[63] = 'x';
	label[64] = '\0';
	snprintf(host, sizeof(host), "%s.example", label);
	ck_assert_int_eq(parse_named(host, name), SNI_BAD);

	/* 253 bytes in all, not 254 (nor 255, SNI_NAME_MAX). */
	make_name(host, sizeof(host), "", 253);
	ck_assert_int_eq(parse_named(host, name), SNI_FOUND);
	ck_assert_str_eq(name, host);
	make_name(host, sizeof(host), "", 254);
	ck_assert_int_eq(parse_named(host, name), SNI_BAD);
	make_name(host, sizeof(host), "", 255);
	ck_assert_int_eq(parse_named(host, name), SNI_BAD);

	/* A NUL inside the name, which strlen would not see. */
	{
		static const uint8_t data[] = { 0, 6, 0, 0, 3, 'a', 0, 'b' };
		struct bytes hs = { 0 }, rec = { 0 };
		static const size_t one[] = { 16384 };
		struct ext e = { 0, data, sizeof(data) };
		const char *why;

		build_hello(&hs, &e, 1);
		records(&rec, hs.b, hs.len, one, 1);
		ck_assert_int_eq(parse_exact(rec.b, rec.len, name, &why), SNI_BAD);
		bytes_free(&hs);
		bytes_free(&rec);
	}
}
END_TEST

/* A hand-built hello in one record, parsed whole and byte by byte. */
static void
check_built(const struct ext *e, int next, enum sni_result want, const char *wname)
{
	static const size_t one[] = { 16384 };
	struct bytes hs = { 0 }, rec = { 0 };

	build_hello(&hs, e, next);
	records(&rec, hs.b, hs.len, one, 1);
	check_prefixes(rec.b, rec.len, want, wname);
	bytes_free(&hs);
	bytes_free(&rec);
}

START_TEST(test_server_name_extension)
{
	static const unsigned t00[] = { 0, 0 }, t10[] = { 1, 0 }, t1[] = { 1 };
	static const char *const two[] = { "a.example", "b.example" };
	static const char *const one[] = { "a.example" };
	static const uint8_t alpn[] = { 0, 3, 2, 'h', '2' };
	static const uint8_t empty_list[] = { 0, 0 };
	static const uint8_t short_list[] = { 0 };
	static const uint8_t empty_host[] = { 0, 3, 0, 0, 0 };
	static const uint8_t list_short[] = { 0, 5, 0, 0, 3, 'a', '.', 'b' };
	static const uint8_t list_long[] = { 0, 7, 0, 0, 3, 'a', '.', 'b' };
	static const uint8_t host_long[] = { 0, 6, 0, 0, 4, 'a', '.', 'b' };
	static const uint8_t host_short[] = { 0, 6, 0, 0, 2, 'a', '.', 'b' };
	static const uint8_t cut_entry[] = { 0, 2, 0, 0 };
	struct bytes d = { 0 }, d2 = { 0 };
	struct ext e[3];

	/* One name, among other extensions. */
	build_names(&d, t00, one, 1);
	e[0] = (struct ext){ 16, alpn, sizeof(alpn) };
	e[1] = (struct ext){ 0, d.b, d.len };
	e[2] = (struct ext){ 43, "\x02\x03\x04", 3 };
	check_built(e, 3, SNI_FOUND, "a.example");
	/* The same extension twice. */
	e[0] = e[1];
	check_built(e, 2, SNI_BAD, NULL);
	bytes_free(&d);

	/* Two host names in one list. */
	build_names(&d, t00, two, 2);
	e[0] = (struct ext){ 0, d.b, d.len };
	check_built(e, 1, SNI_BAD, NULL);
	bytes_free(&d);

	/* A name of an unknown type is passed over. */
	build_names(&d, t10, two, 2);
	e[0] = (struct ext){ 0, d.b, d.len };
	check_built(e, 1, SNI_FOUND, "b.example");
	build_names(&d2, t1, one, 1);
	e[0] = (struct ext){ 0, d2.b, d2.len };
	check_built(e, 1, SNI_NONE, NULL);
	bytes_free(&d);
	bytes_free(&d2);

	/* Malformed lists. */
	e[0] = (struct ext){ 0, empty_list, sizeof(empty_list) };
	check_built(e, 1, SNI_BAD, NULL);
	e[0] = (struct ext){ 0, short_list, sizeof(short_list) };
	check_built(e, 1, SNI_BAD, NULL);
	e[0] = (struct ext){ 0, NULL, 0 };
	check_built(e, 1, SNI_BAD, NULL);
	e[0] = (struct ext){ 0, empty_host, sizeof(empty_host) };
	check_built(e, 1, SNI_BAD, NULL);
	e[0] = (struct ext){ 0, list_short, sizeof(list_short) };
	check_built(e, 1, SNI_BAD, NULL);
	e[0] = (struct ext){ 0, list_long, sizeof(list_long) };
	check_built(e, 1, SNI_BAD, NULL);
	e[0] = (struct ext){ 0, host_long, sizeof(host_long) };
	check_built(e, 1, SNI_BAD, NULL);
	e[0] = (struct ext){ 0, host_short, sizeof(host_short) };
	check_built(e, 1, SNI_BAD, NULL);
	e[0] = (struct ext){ 0, cut_entry, sizeof(cut_entry) };
	check_built(e, 1, SNI_BAD, NULL);

	/* No extensions block, an empty one, others only. */
	check_built(e, -1, SNI_NONE, NULL);
	check_built(e, 0, SNI_NONE, NULL);
	e[0] = (struct ext){ 16, alpn, sizeof(alpn) };
	check_built(e, 1, SNI_NONE, NULL);
}
END_TEST

/* Patches a built one-record hello at off (from the record's start). */
static enum sni_result
parse_patched(size_t off, const uint8_t *val, size_t n, size_t cut)
{
	static const unsigned zero = 0;
	static const char *const one[] = { "a.example" };
	static const size_t big[] = { 16384 };
	struct bytes d = { 0 }, hs = { 0 }, rec = { 0 };
	char name[SNI_NAME_MAX + 1];
	const char *why;
	enum sni_result r;
	struct ext e;

	build_names(&d, &zero, one, 1);
	e = (struct ext){ 0, d.b, d.len };
	build_hello(&hs, &e, 1);
	records(&rec, hs.b, hs.len, big, 1);
	ck_assert_uint_le(off + n, rec.len);
	if (n > 0)
		memcpy(rec.b + off, val, n);
	r = parse_exact(rec.b, rec.len - cut, name, &why);
	bytes_free(&d);
	bytes_free(&hs);
	bytes_free(&rec);
	return r;
}

/* The fields before the extensions, one rule at a time. */
START_TEST(test_hello_fields)
{
	static const uint8_t server_hello[] = { 2 }, v2[] = { 0x02, 0x03 };
	static const uint8_t v30[] = { 0x03, 0x00 }, sid33[] = { 33 };
	static const uint8_t cs0[] = { 0, 0 }, cs1[] = { 0, 1 }, comp0[] = { 0 };
	size_t sid = 5 + 4 + 2 + 32, cs = sid + 1 + 32, comp = cs + 2 + 2;

	ck_assert_int_eq(parse_patched(0, NULL, 0, 0), SNI_FOUND);
	ck_assert_int_eq(parse_patched(5, server_hello, 1, 0), SNI_BAD);
	ck_assert_int_eq(parse_patched(9, v2, 2, 0), SNI_BAD);
	ck_assert_int_eq(parse_patched(9, v30, 2, 0), SNI_FOUND);
	ck_assert_int_eq(parse_patched(sid, sid33, 1, 0), SNI_BAD);
	ck_assert_int_eq(parse_patched(cs, cs0, 2, 0), SNI_BAD);
	ck_assert_int_eq(parse_patched(cs, cs1, 2, 0), SNI_BAD);
	ck_assert_int_eq(parse_patched(comp, comp0, 1, 0), SNI_BAD);
	/* Decided as soon as the field is read, not at the hello's end. */
	ck_assert_int_eq(parse_patched(5, server_hello, 1, 50), SNI_BAD);
	ck_assert_int_eq(parse_patched(sid, sid33, 1, 20), SNI_BAD);
}
END_TEST

/* The record layer: types, versions, lengths, what may share a record. */
START_TEST(test_records)
{
	static const unsigned zero = 0;
	static const char *const one[] = { "a.example" };
	static const size_t halves[] = { 40 }, big[] = { 16384 };
	struct bytes d = { 0 }, hs = { 0 }, rec = { 0 };
	char name[SNI_NAME_MAX + 1];
	const char *why;
	struct ext e;

	build_names(&d, &zero, one, 1);
	e = (struct ext){ 0, d.b, d.len };
	build_hello(&hs, &e, 1);

	/* A second record of another type (an alert, application data). */
	records(&rec, hs.b, hs.len, halves, 1);
	ck_assert_int_eq(parse_exact(rec.b, rec.len, name, &why), SNI_FOUND);
	rec.b[45] = 0x15;
	ck_assert_int_eq(parse_exact(rec.b, rec.len, name, &why), SNI_BAD);
	ck_assert_int_eq(parse_exact(rec.b, 46, name, &why), SNI_BAD);
	rec.b[45] = 0x17;
	ck_assert_int_eq(parse_exact(rec.b, rec.len, name, &why), SNI_BAD);
	rec.b[45] = 0x16;
	rec.b[46] = 0x02;	/* no TLS version */
	ck_assert_int_eq(parse_exact(rec.b, 47, name, &why), SNI_BAD);
	rec.b[46] = 0x03;
	rec.b[48] = 0;		/* an empty handshake record */
	rec.b[49] = 0;
	ck_assert_int_eq(parse_exact(rec.b, 50, name, &why), SNI_BAD);
	bytes_free(&rec);

	/* The first record's length: 0, and more than 2^14. */
	records(&rec, hs.b, hs.len, big, 1);
	rec.b[3] = 0;
	rec.b[4] = 0;
	ck_assert_int_eq(parse_exact(rec.b, 5, name, &why), SNI_BAD);
	rec.b[3] = 0x40;
	rec.b[4] = 0x01;
	ck_assert_int_eq(parse_exact(rec.b, 5, name, &why), SNI_BAD);
	bytes_free(&rec);

	/* Another handshake message in the hello's last record. */
	put(&hs, "\x0b\x00\x00\x00", 4);
	records(&rec, hs.b, hs.len, big, 1);
	ck_assert_int_eq(parse_exact(rec.b, rec.len, name, &why), SNI_BAD);
	ck_assert_int_eq(parse_exact(rec.b, rec.len - 4, name, &why), SNI_BAD);
	ck_assert_int_eq(parse_exact(rec.b, 9, name, &why), SNI_BAD);
	bytes_free(&rec);
	/* The same in the third record (of 40, 40, 21 bytes): BAD at its header. */
	ck_assert_uint_eq(hs.len, 101);
	records(&rec, hs.b, hs.len, halves, 1);
	ck_assert_int_eq(parse_exact(rec.b, rec.len, name, &why), SNI_BAD);
	ck_assert_int_eq(parse_exact(rec.b, 2 * 45 + 5, name, &why), SNI_BAD);
	ck_assert_int_eq(parse_exact(rec.b, 2 * 45 + 4, name, &why), SNI_NEED_MORE);
	bytes_free(&rec);
	bytes_free(&hs);
	bytes_free(&d);
}
END_TEST

/* A hello longer than a record (a big padding extension), whole records. */
START_TEST(test_hello_over_several_full_records)
{
	static const unsigned zero = 0;
	static const char *const one[] = { "big.example" };
	static const size_t full[] = { 16384 };
	struct bytes d = { 0 }, hs = { 0 }, rec = { 0 };
	char name[SNI_NAME_MAX + 1];
	uint8_t *pad = calloc(1, 40000);
	const char *why;
	struct ext e[2];

	ck_assert_ptr_nonnull(pad);
	build_names(&d, &zero, one, 1);
	e[0] = (struct ext){ 21, pad, 40000 };
	e[1] = (struct ext){ 0, d.b, d.len };
	build_hello(&hs, e, 2);
	records(&rec, hs.b, hs.len, full, 1);
	ck_assert_uint_gt(rec.len, 2 * 16384);
	ck_assert_int_eq(parse_exact(rec.b, rec.len, name, &why), SNI_FOUND);
	ck_assert_str_eq(name, "big.example");
	ck_assert_int_eq(parse_exact(rec.b, rec.len - 1, name, &why), SNI_NEED_MORE);
	ck_assert_int_eq(parse_exact(rec.b, 16384 + 5 + 3, name, &why), SNI_NEED_MORE);
	bytes_free(&rec);
	bytes_free(&hs);
	bytes_free(&d);
	free(pad);
}
END_TEST

START_TEST(test_not_tls)
{
	static const uint8_t sslv2[] = {	/* an SSLv2-compatible hello */
		0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10,
		0x07, 0x00, 0xc0, 0x03, 0x00, 0x80, 0x01, 0x00, 0x80, 0x06, 0x00,
		0x40, 0x04, 0x00, 0x80, 0x02, 0x00, 0x80, 0x00, 0x00, 0x04,
	};
	static const char http[] = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
	static const uint8_t alert[] = { 0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28 };
	static const uint8_t appdata[] = { 0x17, 0x03, 0x03, 0x00, 0x01, 0x00 };
	static const uint8_t major2[] = { 0x16, 0x02, 0x00, 0x00, 0x10 };
	static const uint8_t zeros[16] = { 0 };
	char name[SNI_NAME_MAX + 1];
	const char *why;

	ck_assert_int_eq(parse_exact(sslv2, sizeof(sslv2), name, &why), SNI_NOT_TLS);
	ck_assert_int_eq(parse_exact((const uint8_t *)http, strlen(http), name, &why),
	    SNI_NOT_TLS);
	ck_assert_int_eq(parse_exact(alert, sizeof(alert), name, &why), SNI_NOT_TLS);
	ck_assert_int_eq(parse_exact(appdata, sizeof(appdata), name, &why), SNI_NOT_TLS);
	ck_assert_int_eq(parse_exact(major2, sizeof(major2), name, &why), SNI_NOT_TLS);
	ck_assert_int_eq(parse_exact(zeros, sizeof(zeros), name, &why), SNI_NOT_TLS);
	/* Decided by the first byte that tells, not later. */
	ck_assert_int_eq(parse_exact(sslv2, 1, name, &why), SNI_NOT_TLS);
	ck_assert_int_eq(parse_exact((const uint8_t *)http, 1, name, &why), SNI_NOT_TLS);
	ck_assert_int_eq(parse_exact(major2, 1, name, &why), SNI_NEED_MORE);
	ck_assert_int_eq(parse_exact(major2, 2, name, &why), SNI_NOT_TLS);
	ck_assert_int_eq(parse_exact(zeros, 0, name, &why), SNI_NEED_MORE);
	/* why may be NULL. */
	ck_assert_int_eq(sni_parse(sslv2, sizeof(sslv2), name, NULL), SNI_NOT_TLS);
	ck_assert_int_eq(sni_parse(hello_curl, sizeof(hello_curl), name, NULL), SNI_FOUND);
}
END_TEST

static struct sni_map *
map_of(const char *const *pv, size_t n)
{
	struct sni_map *m = sni_map_new();

	ck_assert_ptr_nonnull(m);
	for (size_t i = 0; i + 1 < n; i += 2) {
		const char *why = NULL;

		if (sni_map_add(m, pv[i], pv[i + 1], &why) != 0)
			ck_abort_msg("add %s: %s", pv[i], why != NULL ? why : "?");
	}
	return m;
}

static void
find_is(const struct sni_map *m, const char *name, const char *want)
{
	const char *v = sni_map_find(m, name);

	if (want == NULL)
		ck_assert_msg(v == NULL, "%s: %s, not none", name, v);
	else
		ck_assert_msg(v != NULL && strcmp(v, want) == 0, "%s: %s, not %s",
		    name, v != NULL ? v : "none", want);
}

START_TEST(test_map_rules)
{
	static const char *const pv[] = {
		"a.example", "api",
		"*.example", "web",
		"*.b.example", "b",
		"*.c.b.example", "cb",
		"x.c.b.example", "exact",
		"Mixed.Case.ORG", "mixed",
		"*.Org", "org",
		"localhost", "local",
	};
	struct sni_map *m = map_of(pv, sizeof(pv) / sizeof(pv[0]));

	find_is(m, "a.example", "api");		/* exact over wildcard */
	find_is(m, "A.Example", "api");		/* either case */
	find_is(m, "z.example", "web");
	find_is(m, "y.z.example", "web");	/* any depth */
	find_is(m, "example", NULL);		/* not the apex */
	find_is(m, "b.example", "web");		/* *.b.example is not its apex */
	find_is(m, "q.b.example", "b");		/* the longest wildcard */
	find_is(m, "p.q.b.example", "b");
	find_is(m, "c.b.example", "b");
	find_is(m, "d.c.b.example", "cb");
	find_is(m, "x.c.b.example", "exact");
	find_is(m, "w.x.c.b.example", "cb");
	find_is(m, "mixed.case.org", "mixed");
	find_is(m, "other.case.org", "org");
	find_is(m, "org", NULL);
	find_is(m, "localhost", "local");
	find_is(m, "localhost.example", "web");
	find_is(m, "nope", NULL);
	find_is(m, "a.example.net", NULL);
	find_is(m, "xa.example", "web");
	find_is(m, "aexample", NULL);		/* a suffix, but not at a dot */
	find_is(m, "", NULL);
	find_is(m, ".example", NULL);		/* not a name */
	find_is(m, "a..example", NULL);
	find_is(m, "a.example.", NULL);
	find_is(m, "*.example", NULL);
	find_is(m, "a b.example", NULL);
	ck_assert_ptr_null(sni_map_find(m, NULL));
	sni_map_free(m);

	m = sni_map_new();
	ck_assert_ptr_nonnull(m);
	find_is(m, "a.example", NULL);		/* an empty map */
	sni_map_free(m);
	sni_map_free(NULL);
}
END_TEST

START_TEST(test_map_add_errors)
{
	static const char *const bad[] = {
		"", "*", "*.", ".", "**.example", "*example", "a.*.example",
		"a.*", "*.*.example", ".example", "example.", "a..example",
		"a b", "a\tb", "\xc3\xa4.example", "a/b", "a:443", "*.a..b",
	};
	struct sni_map *m = sni_map_new();
	char label[80], pat[300];
	const char *why;

	ck_assert_ptr_nonnull(m);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_msg(!sni_pattern_valid(bad[i], &why), "%s valid", bad[i]);
		ck_assert_ptr_nonnull(why);
		why = NULL;
		errno = 0;
		ck_assert_int_eq(sni_map_add(m, bad[i], "v", &why), -1);
		ck_assert_int_eq(errno, EINVAL);
		ck_assert_ptr_nonnull(why);
	}
	ck_assert(!sni_pattern_valid(NULL, &why));
	ck_assert(sni_pattern_valid("a.example", NULL));
	ck_assert(sni_pattern_valid("*.com", &why));
	ck_assert(sni_pattern_valid("_a-b.Example", &why));
	errno = 0;
	ck_assert_int_eq(sni_map_add(m, "a.example", NULL, &why), -1);
	ck_assert_int_eq(errno, EINVAL);

	/* Label and total lengths, the same as a name's. */
	memset(label, 'x', 64);
	label[63] = '\0';
	snprintf(pat, sizeof(pat), "*.%s", label);
	ck_assert(sni_pattern_valid(pat, &why));
	snprintf(pat, sizeof(pat), "*.%sx", label);
	ck_assert(!sni_pattern_valid(pat, &why));
	make_name(pat, sizeof(pat), "", 253);
	ck_assert(sni_pattern_valid(pat, &why));
	make_name(pat, sizeof(pat), "", 254);
	ck_assert(!sni_pattern_valid(pat, &why));
	make_name(pat, sizeof(pat), "*.", 253);
	ck_assert(sni_pattern_valid(pat, &why));
	make_name(pat, sizeof(pat), "*.", 254);
	ck_assert(!sni_pattern_valid(pat, &why));

	/* The same pattern twice, whatever the case; a wildcard and its apex
	   are two patterns. */
	ck_assert_int_eq(sni_map_add(m, "a.example", "1", &why), 0);
	errno = 0;
	ck_assert_int_eq(sni_map_add(m, "A.EXAMPLE", "2", &why), -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_int_eq(sni_map_add(m, "*.a.example", "3", &why), 0);
	errno = 0;
	ck_assert_int_eq(sni_map_add(m, "*.A.example", "4", &why), -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_int_eq(sni_map_add(m, "example", "5", &why), 0);
	find_is(m, "a.example", "1");
	find_is(m, "b.a.example", "3");
	find_is(m, "example", "5");
	sni_map_free(m);
}
END_TEST

/* Values are copies; many patterns (the table grows) all still found. */
START_TEST(test_map_copies_and_grows)
{
	struct sni_map *m = sni_map_new();
	char pat[64], val[64], name[80];
	const char *why;

	ck_assert_ptr_nonnull(m);
	snprintf(val, sizeof(val), "first");
	ck_assert_int_eq(sni_map_add(m, "copy.example", val, &why), 0);
	snprintf(val, sizeof(val), "changed");
	find_is(m, "copy.example", "first");

	for (int i = 0; i < 5000; i++) {
		snprintf(pat, sizeof(pat), "h%d.example", i);
		snprintf(val, sizeof(val), "e%d", i);
		ck_assert_int_eq(sni_map_add(m, pat, val, &why), 0);
		snprintf(pat, sizeof(pat), "*.w%d.example", i);
		snprintf(val, sizeof(val), "w%d", i);
		ck_assert_int_eq(sni_map_add(m, pat, val, &why), 0);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "H%d.example", i);
		snprintf(val, sizeof(val), "e%d", i);
		find_is(m, name, val);
		snprintf(name, sizeof(name), "a.b.w%d.example", i);
		snprintf(val, sizeof(val), "w%d", i);
		find_is(m, name, val);
		snprintf(name, sizeof(name), "w%d.example", i);
		find_is(m, name, NULL);
	}
	find_is(m, "copy.example", "first");
	sni_map_free(m);
}
END_TEST

/* What the parser finds is what the map is looked up with. */
START_TEST(test_parse_then_find)
{
	static const char *const pv[] = { "*.example.org", "web", "a.example", "api" };
	struct sni_map *m = map_of(pv, 4);
	char name[SNI_NAME_MAX + 1];
	const char *why;

	ck_assert_int_eq(parse_exact(hello_s_client_upper, sizeof(hello_s_client_upper),
	    name, &why), SNI_FOUND);
	find_is(m, name, "web");
	ck_assert_int_eq(parse_exact(hello_curl, sizeof(hello_curl), name, &why),
	    SNI_FOUND);
	find_is(m, name, "api");
	sni_map_free(m);
}
END_TEST

static Suite *
sni_suite(void)
{
	Suite *s = suite_create("sni");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_captures_whole);
	tcase_add_loop_test(tc, test_captures_byte_by_byte, 0, (int)NCAPTURES);
	tcase_add_loop_test(tc, test_captures_split_into_records, 0, (int)NCAPTURES);
	tcase_add_test(tc, test_bytes_after_the_hello);
	tcase_add_loop_test(tc, test_length_off_by_one, 0, (int)NCAPTURES);
	tcase_add_test(tc, test_host_name_rules);
	tcase_add_test(tc, test_server_name_extension);
	tcase_add_test(tc, test_hello_fields);
	tcase_add_test(tc, test_records);
	tcase_add_test(tc, test_hello_over_several_full_records);
	tcase_add_test(tc, test_not_tls);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("map");
	tcase_add_test(tc, test_map_rules);
	tcase_add_test(tc, test_map_add_errors);
	tcase_add_test(tc, test_map_copies_and_grows);
	tcase_add_test(tc, test_parse_then_find);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sni_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
