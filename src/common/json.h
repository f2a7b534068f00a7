/*
 * json.h — the one way the program writes JSON (over cJSON), so that every
 * output is valid JSON for any reader:
 *  - strings are valid UTF-8: bytes that are not (a file or class name in
 *    Latin-1, a binary --class_names file) are transcoded as Latin-1, each
 *    such byte becoming the code point of its value (0xE9 -> U+00E9 "é").
 *    Refusing would stop a user whose folders came from an old system;
 *    replacing with U+FFFD would lose the name and merge distinct ones;
 *    Latin-1 keeps every byte distinguishable and legacy names readable.
 *    (Two names that a transcoding makes equal are the caller's to refuse:
 *    dataset_scan does for class folders.)
 *  - numbers read back exactly (the fewest of 15 to 17 digits that do;
 *    cJSON's own printing can lose the last bits), and those that are not
 *    finite are null (JSON has no NaN or Infinity); a number may be rounded
 *    to a number of decimals or significant digits;
 *  - printing allocates what it needs (nothing is cut).
 * Reading JSON stays plain cJSON.
 */
#ifndef ALEXNET_JSON_H
#define ALEXNET_JSON_H

#include <cjson/cJSON.h>

/* 1 when s is valid UTF-8 (no overlong forms, surrogates or code points above U+10FFFF). */
int utf8_valid(const char *s);
/* s as valid UTF-8 (see above), malloc'd; s itself when it already is, copied. */
char *utf8_text(const char *s);

/* A string item / member, the text made valid UTF-8. */
cJSON *json_str(const char *s);
void json_add_str(cJSON *o, const char *key, const char *s);
/* A name the program must be able to reopen (a folder, a file): the text as
 * json_add_str writes it, and, when the bytes are not UTF-8, their exact
 * value beside it as KEY_bytes (hex), which json_get_bytes prefers. */
void json_add_path(cJSON *o, const char *key, const char *bytes);
/* The bytes of a member written by json_add_path (or a plain string) into
 * out[size]: 0, or -1 when absent, malformed or too long. */
int json_get_bytes(const cJSON *o, const char *key, char *out, size_t size);
/* A number member: null when v is not finite. */
void json_add_num(cJSON *o, const char *key, double v);
/* The same rounded as printf's %.{decimals}f, or to `digits` significant digits (%.{digits}g). */
void json_add_fixed(cJSON *o, const char *key, double v, int decimals);
void json_add_sig(cJSON *o, const char *key, double v, int digits);
/* A number array item (null when not finite); rounded as json_add_fixed. */
cJSON *json_num(double v);
cJSON *json_fixed(double v, int decimals);

/* The document as text, malloc'd: pretty (indented) or on one line. */
char *json_print(const cJSON *o, int pretty);

#endif
