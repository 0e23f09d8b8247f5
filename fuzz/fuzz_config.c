/*
 * libFuzzer target: a config file's text (cfg_load_json) applied over the
 * defaults, then freed. Inputs naming a *-file key are skipped: those keys
 * read the named file, and a fuzzer must not open /dev/stdin or a FIFO.
 * nodns.c keeps the host names of targets away from DNS.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/log.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The keys as cfg_load_json will see them, escapes decoded. */
static int
names_a_file(const uint8_t *data, size_t size)
{
	struct json_tokener *tok;
	struct json_object *root;
	char *buf;
	int found = 0;

	if ((buf = malloc(size + 1)) == NULL)
		return 1;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if ((tok = json_tokener_new_ex(64)) == NULL) {
		free(buf);
		return 1;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, buf, (int)size + 1);
	if (root != NULL && json_object_is_type(root, json_type_object)) {
		json_object_object_foreach(root, key, val) {
			(void)val;
			if (strstr(key, "file") != NULL)
				found = 1;
		}
	}
	json_object_put(root);
	json_tokener_free(tok);
	free(buf);
	return found;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char err[512];

	if (names_a_file(data, size))
		return 0;
	log_set_level(LOG_LEVEL_QUIET);
	cfg_defaults(&cfg);
	(void)cfg_load_json(&cfg, (const char *)data, size, err, sizeof(err));
	cfg_free(&cfg);
	return 0;
}
