/*
 * jsondup: see jsondup.h.
 *
 * A scan over the text with one frame per open object or array; an
 * object's frame holds the keys seen so far in a json-c object used as a
 * hash set (members with a NULL value), so a body of 64 KiB with
 * thousands of keys costs no more than parsing it did.
 */
#include "autoconfig.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/jsondup.h"

struct frame {
	struct json_object	*seen;		/* NULL: an array */
	bool			 want_key;	/* after '{' or ',' in an object */
};

/* End of the string starting with its quote at text[i]: the closing quote. */
static size_t
string_end(const char *text, size_t len, size_t i)
{
	char q = text[i];

	for (i++; i < len && text[i] != q; i++)
		if (text[i] == '\\')
			i++;
	return i;
}

/*
 * The key text[a..b] (quotes included) as json-c reads it, NUL-terminated
 * and malloc'd. Without a backslash it is the bytes between the quotes;
 * with one, json-c decodes it, parsing it alone with the same flags.
 */
static char *
key_text(const char *text, size_t a, size_t b, int flags)
{
	struct json_tokener *tok;
	struct json_object *o;
	char *buf, *key = NULL;

	if (memchr(text + a, '\\', b - a) == NULL)
		return strndup(text + a + 1, b - a - 1);
	if ((buf = strndup(text + a, b - a + 1)) == NULL)
		return NULL;
	if ((tok = json_tokener_new()) != NULL) {
		json_tokener_set_flags(tok, flags);
		o = json_tokener_parse_ex(tok, buf, (int)(b - a + 2));
		if (json_object_is_type(o, json_type_string))
			key = strdup(json_object_get_string(o));
		else
			key = strdup("");	/* json-c took it: cannot happen */
		json_object_put(o);
		json_tokener_free(tok);
	}
	free(buf);
	return key;
}

int
jsondup_find(const char *text, size_t len, int flags, char *key, size_t keysize,
    size_t *off)
{
	struct frame *st = NULL, *np;
	size_t depth = 0, cap = 0, i, e;
	char *k;
	int rc = 0;

	for (i = 0; i < len && rc == 0; i++) {
		switch (text[i]) {
		case '{':
		case '[':
			if (depth == cap) {
				cap = cap ? cap * 2 : 8;
				if ((np = realloc(st, cap * sizeof(*st))) == NULL) {
					rc = -1;
					break;
				}
				st = np;
			}
			st[depth].want_key = text[i] == '{';
			st[depth].seen = NULL;
			if (text[i] == '{' &&
			    (st[depth].seen = json_object_new_object()) == NULL) {
				rc = -1;
				break;
			}
			depth++;
			break;
		case '}':
		case ']':
			if (depth > 0)
				json_object_put(st[--depth].seen);
			break;
		case ',':
			if (depth > 0 && st[depth - 1].seen != NULL)
				st[depth - 1].want_key = true;
			break;
		case '/':
			/* A comment (json-c checked it is one): skip it whole. */
			if (i + 1 < len && text[i + 1] == '*') {
				for (i += 2; i + 1 < len &&
				    !(text[i] == '*' && text[i + 1] == '/'); i++)
					;
				i++;
			} else {
				while (i < len && text[i] != '\n')
					i++;
			}
			break;
		case '"':
		case '\'':
			e = string_end(text, len, i);
			if (depth > 0 && st[depth - 1].want_key) {
				st[depth - 1].want_key = false;
				if ((k = key_text(text, i, e, flags)) == NULL) {
					rc = -1;
					break;
				}
				if (json_object_object_get_ex(st[depth - 1].seen, k,
				    NULL)) {
					snprintf(key, keysize, "%s", k);
					*off = i;
					rc = 1;
				} else if (json_object_object_add(st[depth - 1].seen,
				    k, NULL) != 0)
					rc = -1;
				free(k);
			}
			i = e;
			break;
		default:
			break;
		}
	}
	while (depth > 0)
		json_object_put(st[--depth].seen);
	free(st);
	return rc;
}
