/*
 * jsondup: finds a key given twice in one JSON object, which json-c 0.16
 * cannot report: its tokener adds every member with json_object_object_add,
 * so a second "port" silently replaces the first, and no flag or hook
 * tells. The admin API's bodies and the config file refuse such text.
 *
 * It reads text that json-c has already parsed with the same tokener
 * flags (so the syntax is known good: strings in either quote, comments,
 * nesting within json-c's depth cap), and compares keys as json-c stores
 * them: escapes decoded by json-c itself, cut at a NUL like its strdup.
 * Pure: no I/O, nothing kept.
 */
#ifndef HARMONY_JSONDUP_H
#define HARMONY_JSONDUP_H

#include <stddef.h>

/*
 * 1 if some object in text[0..len) names a key twice: the first such key
 * (json-c's reading, cut to fit keysize) goes to key and the byte offset
 * of its second occurrence to *off. 0 if none; -1 if out of memory.
 * flags are the json_tokener flags text was parsed with.
 */
int	jsondup_find(const char *text, size_t len, int flags, char *key,
	    size_t keysize, size_t *off);

#endif
