/*
 * libFuzzer target: validation of the REST write routes' JSON bodies.
 * Byte 0 picks the route (POST /targets, PATCH /targets/{id}, PATCH
 * /config), or the generic object parser, or the pure helpers around a
 * request (route, static path, bearer, content type); the rest is the body.
 */
#include "autoconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "admin/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 0, or a status with a reason: 400, 422, or 500 (out of memory). */
static void
status_check(int st, const char *err)
{
	if (st != 0 && st != 400 && st != 422 && st != 500)
		abort();
	if (st != 0 && err[0] == '\0')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_register reg;
	struct api_target_patch tp;
	struct api_config_patch cp;
	struct api_route route;
	struct json_object *o;
	char err[API_ERR_MAX], rel[512], *body;
	const char *tok;
	size_t len, toklen;
	int st;

	if (size < 1 || size - 1 > API_BODY_MAX)
		return 0;
	len = size - 1;
	/* As admin.c hands it over: exactly len bytes, and a NUL after them. */
	if ((body = malloc(len + 1)) == NULL)
		return 0;
	memcpy(body, data + 1, len);
	body[len] = '\0';
	err[0] = '\0';

	switch (data[0] % 5) {
	case 0:
		st = api_parse_register(body, len, &reg, err, sizeof(err));
		status_check(st, err);
		if (st == 0 && reg.port == 0)
			abort();
		break;
	case 1:
		st = api_parse_target_patch(body, len, &tp, err, sizeof(err));
		status_check(st, err);
		break;
	case 2:
		st = api_parse_config_patch(body, len, &cp, err, sizeof(err));
		status_check(st, err);
		if (st == 0)
			api_config_patch_free(&cp);
		else if (cp.unavailable != NULL)
			abort();
		break;
	case 3:
		st = api_parse_object(body, len, &o, err, sizeof(err));
		status_check(st, err);
		if (st == 0)
			json_object_put(o);
		break;
	case 4:
		/* "METHOD PATH": the route table, then the static path check. */
		{
			char *sp = strchr(body, ' ');
			const char *method = "GET", *path = body;

			if (sp != NULL) {
				*sp = '\0';
				method = body;
				path = sp + 1;
			}
			api_route(method, path, &route);
			(void)api_handler_name(route.handler);
			if (api_static_path(path, rel, sizeof(rel)) == 0) {
				/* No segment may climb out of the web root. */
				if (rel[0] == '.' || strstr(rel, "/.") != NULL)
					abort();
				(void)api_mime_type(rel);
			}
			tok = api_bearer(path, &toklen);
			if (tok != NULL && toklen > strlen(path))
				abort();
			(void)api_content_type_json(path);
		}
		break;
	}
	free(body);
	return 0;
}
