/*
 * json.c — the JSON writer (see json.h).
 */
#include "common/json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* Length of the valid UTF-8 sequence at p (1 to 4), or 0 when p starts none. */
static int utf8_seq(const unsigned char *p) {
    unsigned c = p[0];
    if (c < 0x80) return 1;
    int n;
    unsigned min, cp;
    if ((c & 0xE0) == 0xC0) n = 2, min = 0x80, cp = c & 0x1F;
    else if ((c & 0xF0) == 0xE0) n = 3, min = 0x800, cp = c & 0x0F;
    else if ((c & 0xF8) == 0xF0) n = 4, min = 0x10000, cp = c & 0x07;
    else return 0;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0; /* also stops at the terminating NUL */
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

int utf8_valid(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = utf8_seq(p);
        if (!n) return 0;
        p += n;
    }
    return 1;
}

char *utf8_text(const char *s) {
    if (utf8_valid(s)) return xstrdup(s);
    const unsigned char *p = (const unsigned char *)s;
    char *out = xmalloc(2 * strlen(s) + 1), *o = out; /* a transcoded byte takes 2 */
    while (*p) {
        int n = utf8_seq(p);
        if (n) {
            memcpy(o, p, (size_t)n);
            o += n;
            p += n;
        } else { /* Latin-1: U+0080..U+00FF in two bytes */
            *o++ = (char)(0xC0 | (*p >> 6));
            *o++ = (char)(0x80 | (*p & 0x3F));
            p++;
        }
    }
    *o = '\0';
    return out;
}

cJSON *json_str(const char *s) {
    char *t = utf8_text(s ? s : "");
    cJSON *item = cJSON_CreateString(t);
    free(t);
    CHECK(item, "out of memory writing JSON");
    return item;
}

void json_add_str(cJSON *o, const char *key, const char *s) { cJSON_AddItemToObject(o, key, json_str(s)); }

/* cJSON's own printing stops at 15 digits whenever its approximate
 * comparison calls that close enough (a seed of 2^53 - 1 came back as
 * 2^53 - 2, a resumed run's sums in their last bits): numbers are written
 * with the fewest digits, 15 to 17, that read back exactly. */
void json_add_path(cJSON *o, const char *key, const char *bytes) {
    json_add_str(o, key, bytes);
    if (utf8_valid(bytes)) return;
    size_t n = strlen(bytes);
    char *hex = xmalloc(2 * n + 1), *k = xasprintf("%s_bytes", key);
    for (size_t i = 0; i < n; i++) snprintf(hex + 2 * i, 3, "%02x", (unsigned char)bytes[i]);
    cJSON_AddItemToObject(o, k, json_str(hex));
    free(hex);
    free(k);
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int json_get_bytes(const cJSON *o, const char *key, char *out, size_t size) {
    char *k = xasprintf("%s_bytes", key);
    const cJSON *raw = cJSON_GetObjectItemCaseSensitive(o, k), *text = cJSON_GetObjectItemCaseSensitive(o, key);
    free(k);
    if (cJSON_IsString(raw)) {
        size_t n = strlen(raw->valuestring);
        if (n % 2 || n / 2 >= size) return -1;
        for (size_t i = 0; i < n / 2; i++) {
            int hi = hex_digit(raw->valuestring[2 * i]), lo = hex_digit(raw->valuestring[2 * i + 1]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) return -1;
            out[i] = (char)(hi << 4 | lo);
        }
        out[n / 2] = '\0';
        return 0;
    }
    if (!cJSON_IsString(text) || strlen(text->valuestring) >= size) return -1;
    memcpy(out, text->valuestring, strlen(text->valuestring) + 1);
    return 0;
}

cJSON *json_num(double v) {
    cJSON *item;
    if (!isfinite(v)) {
        item = cJSON_CreateNull();
    } else {
        char text[32];
        for (int digits = 15; digits <= 17; digits++) {
            snprintf(text, sizeof text, "%.*g", digits, v);
            if (strtod(text, NULL) == v) break;
        }
        item = cJSON_CreateRaw(text);
    }
    CHECK(item, "out of memory writing JSON");
    return item;
}

void json_add_num(cJSON *o, const char *key, double v) { cJSON_AddItemToObject(o, key, json_num(v)); }

static double rounded(const char *fmt, int places, double v) {
    char text[512]; /* %.Nf of a finite double with N <= 17: at most 309 + 1 + 17 digits */
    snprintf(text, sizeof text, fmt, places, v);
    return strtod(text, NULL);
}

cJSON *json_fixed(double v, int decimals) {
    CHECK(decimals >= 0 && decimals <= 17, "json_fixed: %d decimals", decimals);
    return json_num(isfinite(v) ? rounded("%.*f", decimals, v) : v);
}

void json_add_fixed(cJSON *o, const char *key, double v, int decimals) {
    cJSON_AddItemToObject(o, key, json_fixed(v, decimals));
}

void json_add_sig(cJSON *o, const char *key, double v, int digits) {
    CHECK(digits >= 1 && digits <= 17, "json_add_sig: %d digits", digits);
    json_add_num(o, key, isfinite(v) ? rounded("%.*g", digits, v) : v);
}

char *json_print(const cJSON *o, int pretty) {
    char *s = pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o);
    CHECK(s, "out of memory printing JSON");
    return s;
}
