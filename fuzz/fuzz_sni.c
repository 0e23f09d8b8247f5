/*
 * libFuzzer target: sni.c, the ClientHello parser and the server-name map.
 *
 * Byte 0 picks the mode, byte 1 is a size n (1..256), the rest is the
 * input:
 *   mode % 3 == 0  the input as it came from a client (TLS records)
 *   mode % 3 == 1  the input as handshake bytes, cut into records of n
 *                  bytes first (so one mutated hello is tried over many
 *                  records, and record headers need not be guessed)
 *   mode % 3 == 2  lines of patterns added to a map, then each line, and
 *                  each line with a label put in front, looked up
 * The parser is run on the whole input and on its prefixes at every n-th
 * byte (some 64 of them at most) and one byte short, each from a heap copy of exactly its length: a decision other
 * than NEED_MORE must not change with more bytes, a name must be a valid
 * lower-case host name, and the map must find it when it holds it.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum sni_result
parse_copy(const uint8_t *p, size_t n, char name[SNI_NAME_MAX + 1])
{
	uint8_t *copy = malloc(n > 0 ? n : 1);
	const char *why = NULL;
	enum sni_result r;
	size_t len;

	if (copy == NULL)
		abort();
	if (n > 0)
		memcpy(copy, p, n);
	r = sni_parse(copy, n, name, &why);
	free(copy);
	switch (r) {
	case SNI_FOUND:
		len = strlen(name);
		if (len == 0 || len > 253 || !sni_pattern_valid(name, NULL))
			abort();
		for (size_t i = 0; i < len; i++)
			if (name[i] >= 'A' && name[i] <= 'Z')
				abort();
		break;
	case SNI_NOT_TLS:
	case SNI_BAD:
		if (why == NULL || name[0] != '\0')
			abort();
		break;
	case SNI_NEED_MORE:
	case SNI_NONE:
		if (name[0] != '\0')
			abort();
		break;
	default:
		abort();
	}
	return r;
}

static void
run_parse(const uint8_t *p, size_t n, size_t step)
{
	char name[SNI_NAME_MAX + 1], pname[SNI_NAME_MAX + 1];
	enum sni_result r = parse_copy(p, n, name);

	/* Some 64 prefixes at most, and the one a byte short. */
	if (n / step > 64)
		step = n / 64 + 1;
	for (size_t k = n > 0 ? n - 1 : 0; k < n; k = n) {
		enum sni_result pr = parse_copy(p, k, pname);

		if (pr != SNI_NEED_MORE && (pr != r ||
		    (pr == SNI_FOUND && strcmp(pname, name) != 0)))
			abort();
	}
	for (size_t k = 0; k < n; k += step) {
		enum sni_result pr = parse_copy(p, k, pname);

		if (pr != SNI_NEED_MORE && (pr != r ||
		    (pr == SNI_FOUND && strcmp(pname, name) != 0)))
			abort();
	}
	if (r == SNI_FOUND) {
		struct sni_map *m = sni_map_new();

		if (m == NULL || sni_map_add(m, name, "v", NULL) != 0)
			abort();
		if (sni_map_find(m, name) == NULL || strcmp(sni_map_find(m, name), "v") != 0)
			abort();
		sni_map_free(m);
	}
}

/* The handshake bytes p cut into records of step bytes. */
static void
run_records(const uint8_t *p, size_t n, size_t step)
{
	size_t nrec = n / step + 1, cap = n + 5 * nrec, len = 0;
	uint8_t *buf = malloc(cap);

	if (buf == NULL)
		abort();
	for (size_t off = 0; off < n; off += step) {
		size_t k = n - off < step ? n - off : step;

		buf[len++] = 0x16;
		buf[len++] = 0x03;
		buf[len++] = 0x01;
		buf[len++] = (uint8_t)(k >> 8);
		buf[len++] = (uint8_t)k;
		memcpy(buf + len, p + off, k);
		len += k;
	}
	run_parse(buf, len, step);
	free(buf);
}

static void
run_map(const uint8_t *p, size_t n)
{
	struct sni_map *m = sni_map_new();
	char *text = malloc(n + 1), *line, *save = NULL;

	if (m == NULL || text == NULL)
		abort();
	memcpy(text, p, n);
	text[n] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		const char *why = NULL, *v;
		bool valid = sni_pattern_valid(line, NULL);
		char probe[SNI_NAME_MAX + 8];
		int rc = sni_map_add(m, line, line, &why);

		if (rc == 0 ? !valid : why == NULL)
			abort();
		/* Whatever the map says for a name, a valid pattern matches it. */
		if ((v = sni_map_find(m, line)) != NULL && !sni_pattern_valid(v, NULL))
			abort();
		if (rc == 0 && line[0] != '*' && sni_map_find(m, line) == NULL)
			abort();
		/* An added wildcard "*.s" matches "x.s" (if that is short enough). */
		if (rc == 0 && line[0] == '*' && strlen(line) <= 252) {
			memcpy(probe, "x.", 2);
			memcpy(probe + 2, line + 2, strlen(line + 2) + 1);
			if (sni_map_find(m, probe) == NULL)
				abort();
		}
		/* And one label deeper, which must only not crash. */
		if (strlen(line) + 2 < sizeof(probe)) {
			memcpy(probe, "y.", 2);
			memcpy(probe + 2, line, strlen(line) + 1);
			(void)sni_map_find(m, probe);
		}
	}
	free(text);
	sni_map_free(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t step;

	if (size < 2)
		return 0;
	step = (size_t)data[1] + 1;
	switch (data[0] % 3) {
	case 0:
		run_parse(data + 2, size - 2, step);
		break;
	case 1:
		run_records(data + 2, size - 2, step);
		break;
	default:
		run_map(data + 2, size - 2);
		break;
	}
	return 0;
}
