/* Single-pass JSON reader for model documents (see json_reader.h).
 *
 * Written because jansson's json_loadb builds one json_t per number: a 46 MB model holds millions
 * of them, and the load then costs more than XGBoost's own. The grammar, the string rules (escapes,
 * surrogate pairs, strict UTF-8, no control characters, no \u0000) and the number rules (integers
 * within int64, reals through strtod, overflow refused, underflow accepted) follow jansson 2.14's
 * load.c so that both accept the same texts and build the same values. */
#include "model/json_reader.h"

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/doc_array.h"
#include "internal.h"

typedef struct jr {
    const unsigned char *start, *p, *end;
    int max_depth;
    mlops__json_read_error *err;
    /* numbers of the array being read while it can still become compact */
    uint64_t *num;
    size_t num_n, num_cap;
    int num_kind; /* 0 none yet, 'i' integers, 'r' reals */
    int64_t num_min, num_max;
    /* decoded string bytes (strings with escapes or multi-byte characters) */
    char *sbuf;
    size_t sbuf_cap;
    /* checks while reading (json_reader.h) */
    const mlops__json_hook *hook;
    mlops__key_path kp;
} jr;

enum { KIND_INT = 'i', KIND_REAL = 'r' };

static void *jr_fail_at(jr *j, const unsigned char *at, const char *fmt, ...) MLOPS__PRINTF(3, 4);
static void *jr_fail_at(jr *j, const unsigned char *at, const char *fmt, ...) {
    if (j->err->text[0]) return NULL; /* the first failure is the one reported */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->err->text, sizeof j->err->text, fmt, ap);
    va_end(ap);
    j->err->position = (size_t)(at - j->start);
    return NULL;
}

static void *jr_nomem(jr *j) {
    j->err->nomem = 1;
    return jr_fail_at(j, j->p, "out of memory");
}

static void skip_ws(jr *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* 1 when the bytes at p are `word` not followed by a letter (jansson reads a run of letters as
 * one token). */
static int at_word(const jr *j, const unsigned char *p, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(j->end - p) < n || memcmp(p, word, n) != 0) return 0;
    return p + n == j->end || !is_alpha(p[n]);
}

/* ---- numbers ---- */

/* A parsed number: an integer, or a real (NaN and the infinities included). */
typedef struct num {
    int kind;
    int64_t i;
    double d;
} num;

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* strtod on the token [s, e), with '.' turned into the locale's decimal point as jansson does. */
static int slow_real(jr *j, const unsigned char *s, const unsigned char *e, double *out) {
    size_t n = (size_t)(e - s);
    char small[64];
    char *b = n < sizeof small ? small : mlops__malloc(n + 1);
    if (!b) return jr_nomem(j), 0;
    memcpy(b, s, n);
    b[n] = '\0';
    const char *point = localeconv()->decimal_point;
    char *dot = strchr(b, '.');
    if (dot && point && point[0] && point[0] != '.' && !point[1]) *dot = point[0];
    errno = 0;
    double d = strtod(b, NULL);
    int overflow = (d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE;
    if (b != small) mlops__free(b);
    if (overflow) return jr_fail_at(j, s, "real number overflow"), 0;
    *out = d;
    return 1;
}

/* The real [s, e) (JSON syntax already checked): Clinger's exact case when the decimal mantissa
 * is below 2^53 and the power of ten is exact (one correctly rounded operation, so the same
 * double as strtod); strtod for the rest. */
static int real_value(jr *j, const unsigned char *s, const unsigned char *e, double *out) {
    const unsigned char *q = s;
    int neg = *q == '-';
    q += neg;
    uint64_t m = 0;
    int digits = 0, frac = 0, seen_point = 0;
    for (; q < e && (is_digit(*q) || *q == '.'); q++) {
        if (*q == '.') {
            seen_point = 1;
            continue;
        }
        if (m == 0 && *q == '0') { /* leading zeros carry no digit */
            frac += seen_point;
            continue;
        }
        if (++digits > 19) return slow_real(j, s, e, out);
        m = m * 10 + (uint64_t)(*q - '0');
        frac += seen_point;
    }
    long ex = 0;
    if (q < e) { /* 'e' or 'E' */
        q++;
        int eneg = *q == '-';
        q += *q == '-' || *q == '+';
        for (; q < e; q++)
            if (ex < 100000) ex = ex * 10 + (*q - '0');
        ex = eneg ? -ex : ex;
    }
    ex -= frac;
    if (m == 0) {
        *out = neg ? -0.0 : 0.0;
        return 1;
    }
    if (m > (UINT64_C(1) << 53) || ex < -22 || ex > 22 || FLT_EVAL_METHOD != 0)
        return slow_real(j, s, e, out);
    double d = (double)m;
    d = ex < 0 ? d / pow10_exact[-ex] : d * pow10_exact[ex];
    *out = neg ? -d : d;
    return 1;
}

/* The integer [s, e): int64 or refused as jansson refuses it. */
static int int_value(jr *j, const unsigned char *s, const unsigned char *e, int64_t *out) {
    int neg = *s == '-';
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    for (const unsigned char *q = s + neg; q < e; q++) {
        uint64_t dgt = (uint64_t)(*q - '0');
        if (v > (limit - dgt) / 10) {
            jr_fail_at(j, s, neg ? "too big negative integer" : "too big integer");
            return 0;
        }
        v = v * 10 + dgt;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

/* Skip a run of digits; 0 when there is none. */
static int digits(jr *j) {
    const unsigned char *s = j->p;
    while (j->p < j->end && is_digit(*j->p))
        j->p++;
    return j->p > s;
}

/* A number token at j->p (JSON grammar, as jansson's lexer), or NaN / Infinity / -Infinity. */
static int read_number(jr *j, num *out) {
    const unsigned char *s = j->p;
    if (at_word(j, s, "NaN") || at_word(j, s, "Infinity") || at_word(j, s, "-Infinity")) {
        out->kind = KIND_REAL;
        out->d = *s == 'N' ? NAN : *s == '-' ? -INFINITY : INFINITY;
        j->p += *s == 'N' ? 3 : *s == '-' ? 9 : 8;
        return 1;
    }
    if (j->p < j->end && *j->p == '-') j->p++;
    if (j->p < j->end && *j->p == '0') {
        j->p++;
        if (j->p < j->end && is_digit(*j->p)) return jr_fail_at(j, s, "invalid token (leading zero)"), 0;
    } else if (!digits(j)) {
        return jr_fail_at(j, s, "invalid token"), 0;
    }
    int real = 0;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!digits(j)) return jr_fail_at(j, s, "invalid token (no digit after '.')"), 0;
        real = 1;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        if (!digits(j)) return jr_fail_at(j, s, "invalid token (no digit in the exponent)"), 0;
        real = 1;
    }
    out->kind = real ? KIND_REAL : KIND_INT;
    return real ? real_value(j, s, j->p, &out->d) : int_value(j, s, j->p, &out->i);
}

static json_t *num_json(const num *n) {
    return n->kind == KIND_INT ? json_integer(n->i) : mlops__json_number(n->d);
}

/* ---- strings ---- */

static int hex4(const unsigned char *p, unsigned *out) {
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int c = p[k], d = c >= '0' && c <= '9'   ? c - '0'
                          : c >= 'a' && c <= 'f' ? c - 'a' + 10
                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                 : -1;
        if (d < 0) return 0;
        v = v * 16 + (unsigned)d;
    }
    *out = v;
    return 1;
}

static size_t utf8_encode(unsigned cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at p (jansson's utf8_check_first/full: no overlong forms, no
 * surrogates, nothing above U+10FFFF), 0 when invalid. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0], cp;
    size_t n;
    if (c < 0x80) return 1;
    if (c < 0xC2) return 0;
    if (c < 0xE0)
        n = 2, cp = c & 0x1F;
    else if (c < 0xF0)
        n = 3, cp = c & 0x0F;
    else if (c < 0xF5)
        n = 4, cp = c & 0x07;
    else
        return 0;
    if ((size_t)(end - p) < n) return 0;
    for (size_t k = 1; k < n; k++) {
        if ((p[k] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[k] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

static int sbuf_room(jr *j, size_t need) {
    if (need <= j->sbuf_cap) return 1;
    size_t cap = j->sbuf_cap ? j->sbuf_cap : 256;
    while (cap < need)
        cap *= 2;
    char *b = mlops__realloc(j->sbuf, cap);
    if (!b) return jr_nomem(j), 0;
    j->sbuf = b;
    j->sbuf_cap = cap;
    return 1;
}

/* One escape after the backslash at j->p - 1, appended to sbuf at *k. */
static int read_escape(jr *j, size_t *k) {
    const unsigned char *at = j->p - 1;
    if (j->p >= j->end) return jr_fail_at(j, at, "premature end of input in a string"), 0;
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit = *j->p ? strchr(from, *j->p) : NULL;
    if (hit) {
        j->sbuf[(*k)++] = to[hit - from];
        j->p++;
        return 1;
    }
    unsigned cp, lo;
    if (*j->p != 'u' || j->end - j->p < 5 || !hex4(j->p + 1, &cp))
        return jr_fail_at(j, at, "invalid escape"), 0;
    j->p += 5;
    if (cp == 0) return jr_fail_at(j, at, "\\u0000 is not allowed"), 0;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return jr_fail_at(j, at, "invalid Unicode '\\u%04X'", cp), 0;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || !hex4(j->p + 2, &lo))
            return jr_fail_at(j, at, "invalid Unicode '\\u%04X'", cp), 0;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return jr_fail_at(j, at, "invalid Unicode '\\u%04X\\u%04X'", cp, lo), 0;
        j->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    *k += utf8_encode(cp, j->sbuf + *k);
    return 1;
}

/* The string whose opening quote is at j->p: its bytes in *s (into the input when it has no
 * escape, else into sbuf) and *n. */
static int read_string(jr *j, const char **s, size_t *n) {
    const unsigned char *open = j->p++, *b = j->p;
    while (j->p < j->end && *j->p != '"' && *j->p != '\\' && *j->p >= 0x20 && *j->p < 0x80)
        j->p++;
    if (j->p < j->end && *j->p == '"') {
        *s = (const char *)b;
        *n = (size_t)(j->p++ - b);
        return 1;
    }
    /* Decoded output is never longer than the input it comes from: room for the rest of the
     * string (up to the first quote no backslash escapes). */
    const unsigned char *q = j->p;
    while (q < j->end && *q != '"')
        q += *q == '\\' ? 2 : 1;
    if (!sbuf_room(j, (size_t)((q < j->end ? q : j->end) - b) + 1)) return 0;
    size_t k = (size_t)(j->p - b);
    memcpy(j->sbuf, b, k);
    for (;;) {
        if (j->p >= j->end) return jr_fail_at(j, open, "premature end of input in a string"), 0;
        unsigned char c = *j->p;
        if (c == '"') break;
        if (c < 0x20) return jr_fail_at(j, j->p, "control character 0x%x in a string", c), 0;
        if (c == '\\') {
            j->p++;
            if (!read_escape(j, &k)) return 0;
            continue;
        }
        size_t w = utf8_len(j->p, j->end);
        if (!w) return jr_fail_at(j, j->p, "invalid UTF-8 byte 0x%02x", c), 0;
        memcpy(j->sbuf + k, j->p, w);
        k += w;
        j->p += w;
    }
    j->p++;
    *s = j->sbuf;
    *n = k;
    return 1;
}

/* ---- values ---- */

static json_t *read_value(jr *j, int depth);

static json_t *string_value(jr *j) {
    const unsigned char *at = j->p;
    const char *s;
    size_t n;
    if (!read_string(j, &s, &n)) return NULL;
    if (n && s[0] == MLOPS__TYPED_TAG)
        return jr_fail_at(
            j, at, "a string value starts with the control byte 0x02 (reserved; XGBoost never writes it)");
    json_t *v = json_stringn_nocheck(s, n);
    return v ? v : jr_nomem(j);
}

/* After an element: ',' (another element must follow) or the closing bracket. 1: more, 0: closed,
 * -1: error. */
static int next_element(jr *j, unsigned char close) {
    skip_ws(j);
    if (j->p < j->end && *j->p == ',') {
        j->p++;
        return 1;
    }
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return 0;
    }
    jr_fail_at(j, j->p, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
    return -1;
}

static json_t *read_object(jr *j, int depth) {
    json_t *obj = json_object();
    if (!obj) return jr_nomem(j);
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return obj;
    }
    for (int more = 1; more == 1;) {
        skip_ws(j);
        const char *k;
        size_t kn;
        if (j->p >= j->end || *j->p != '"') goto fail_expected;
        if (!read_string(j, &k, &kn)) goto fail;
        /* the key may sit in sbuf, which the value can reuse: keep a copy when it does */
        char *key = k == j->sbuf ? mlops__malloc(kn + 1) : NULL;
        if (k == j->sbuf && !key) goto fail_nomem;
        if (key) memcpy(key, k, kn), k = key;
        skip_ws(j);
        json_t *v = NULL;
        if (j->p < j->end && *j->p == ':') {
            j->p++;
            skip_ws(j);
            size_t saved = mlops__key_path_enter(&j->kp, k, kn);
            v = read_value(j, depth + 1);
            mlops__key_path_leave(&j->kp, saved);
        } else {
            jr_fail_at(j, j->p, "':' expected");
        }
        int bad = !v || json_object_setn_new_nocheck(obj, k, kn, v);
        mlops__free(key);
        if (bad) {
            if (v) jr_nomem(j);
            goto fail;
        }
        if ((more = next_element(j, '}')) < 0) goto fail;
    }
    return obj;
fail_expected:
    jr_fail_at(j, j->p, "string or '}' expected");
    goto fail;
fail_nomem:
    jr_nomem(j);
fail:
    json_decref(obj);
    return NULL;
}

/* Keep number `n` in the scratch list of the array being read; 0 when the array cannot stay
 * compact (mixed kinds) or on ENOMEM (err set). */
static int scratch_push(jr *j, const num *n, int *mixed) {
    if (j->num_kind && j->num_kind != n->kind) return *mixed = 1, 0;
    if (j->num_n == j->num_cap) {
        size_t cap = j->num_cap ? 2 * j->num_cap : 1024;
        uint64_t *b = mlops__realloc(j->num, cap * sizeof *b);
        if (!b) return jr_nomem(j), 0;
        j->num = b;
        j->num_cap = cap;
    }
    if (!j->num_kind || n->kind == KIND_INT) {
        int64_t x = n->kind == KIND_INT ? n->i : 0;
        j->num_min = !j->num_kind || x < j->num_min ? x : j->num_min;
        j->num_max = !j->num_kind || x > j->num_max ? x : j->num_max;
    }
    j->num_kind = n->kind;
    if (n->kind == KIND_INT)
        memcpy(&j->num[j->num_n++], &n->i, 8);
    else
        memcpy(&j->num[j->num_n++], &n->d, 8);
    return 1;
}

/* The scratch numbers as a plain jansson array (the array turned out mixed or not numeric). */
static json_t *scratch_plain(jr *j) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < j->num_n; i++) {
        num n = {j->num_kind, 0, 0.0};
        memcpy(n.kind == KIND_INT ? (void *)&n.i : (void *)&n.d, &j->num[i], 8);
        if (json_array_append_new(arr, num_json(&n))) {
            json_decref(arr);
            arr = NULL;
        }
    }
    j->num_n = 0;
    j->num_kind = 0;
    return arr ? arr : jr_nomem(j);
}

/* The scratch numbers as a compact array: 'U', 'l' or 'L' integers by range, 'D' reals. */
static json_t *scratch_compact(jr *j) {
    unsigned char type = j->num_kind == KIND_REAL                             ? 'D'
                         : j->num_min >= 0 && j->num_max <= 255               ? 'U'
                         : j->num_min >= INT32_MIN && j->num_max <= INT32_MAX ? 'l'
                                                                              : 'L';
    size_t w = mlops__typed_width(type), n = j->num_n;
    char *buf = mlops__malloc(2 + n * w);
    if (!buf) return jr_nomem(j);
    buf[0] = MLOPS__TYPED_TAG;
    buf[1] = (char)type;
    unsigned char *o = (unsigned char *)buf + 2;
    if (w == 8) memcpy(o, j->num, n * 8);
    for (size_t i = 0; w != 8 && i < n; i++) {
        int64_t x;
        memcpy(&x, &j->num[i], 8);
        int32_t x32 = (int32_t)x;
        if (w == 1)
            o[i] = (unsigned char)x;
        else
            memcpy(o + 4 * i, &x32, 4);
    }
    json_t *s = json_stringn_nocheck(buf, 2 + n * w);
    mlops__free(buf);
    j->num_n = 0;
    j->num_kind = 0;
    return s ? s : jr_nomem(j);
}

static int is_number_start(const jr *j) {
    unsigned char c = *j->p;
    return c == '-' || is_digit(c) || c == 'N' || c == 'I';
}

/* Leading numbers of an array into the scratch list. Returns 1 when the array closed with only
 * numbers (all of one kind), 0 when an element that breaks compactness is next (not consumed:
 * j->p is at it, or at the number that mixed kinds), -1 on error. */
static int scratch_numbers(jr *j) {
    for (;;) {
        skip_ws(j);
        if (j->p >= j->end || !is_number_start(j)) return 0;
        const unsigned char *at = j->p;
        num n;
        int mixed = 0;
        if (!read_number(j, &n)) return -1;
        if (!scratch_push(j, &n, &mixed)) {
            if (!mixed) return -1;
            j->p = at; /* read it again as a plain element */
            return 0;
        }
        int more = next_element(j, ']');
        if (more <= 0) return more < 0 ? -1 : 1;
    }
}

/* Hand the element just appended to `arr` to the hook; 0 when the hook stopped the read. */
static int hook_element(jr *j, int watched, json_t *arr) {
    size_t i = json_array_size(arr) - 1;
    int st = j->hook->element(j->hook->ctx, watched, i, json_array_get(arr, i));
    if (st == 0) return 1;
    j->err->hook_status = st;
    jr_fail_at(j, j->p, "stopped by a check");
    return 0;
}

/* The elements after the leading numbers, appended to `arr` (freed on failure). */
static json_t *read_elements(jr *j, int depth, json_t *arr) {
    int watched = mlops__key_path_watched(&j->kp, j->hook);
    size_t saved = mlops__key_path_enter(&j->kp, NULL, 0);
    for (int more = 1; arr && more == 1;) {
        json_t *v = read_value(j, depth + 1);
        if (!v || json_array_append_new(arr, v)) {
            if (v) jr_nomem(j);
            json_decref(arr);
            arr = NULL;
        } else if ((watched >= 0 && !hook_element(j, watched, arr)) || (more = next_element(j, ']')) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    mlops__key_path_leave(&j->kp, saved);
    return arr;
}

static json_t *read_array(jr *j, int depth) {
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return json_array(); /* empty arrays stay plain: readers test json_is_array on them */
    }
    j->num_n = 0;
    j->num_kind = 0;
    int r = depth > 1 ? scratch_numbers(j) : 0; /* the root stays an array */
    if (r < 0) return NULL;
    if (r == 1) return scratch_compact(j);
    return read_elements(j, depth, scratch_plain(j));
}

static json_t *literal(jr *j) {
    static const char *const words[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++)
        if (at_word(j, j->p, words[k])) {
            j->p += strlen(words[k]);
            return k == 0 ? json_true() : k == 1 ? json_false() : json_null();
        }
    return jr_fail_at(j, j->p, "invalid token");
}

static json_t *read_value(jr *j, int depth) {
    skip_ws(j);
    if (j->p >= j->end) return jr_fail_at(j, j->p, "premature end of input");
    unsigned char c = *j->p;
    if ((c == '{' || c == '[') && depth > j->max_depth)
        return jr_fail_at(j, j->p, "nesting deeper than %d levels", j->max_depth);
    if (c == '{') return read_object(j, depth);
    if (c == '[') return read_array(j, depth);
    if (c == '"') return string_value(j);
    if (is_number_start(j)) {
        num n;
        if (!read_number(j, &n)) return NULL;
        json_t *v = num_json(&n);
        return v ? v : jr_nomem(j);
    }
    return literal(j);
}

static int line_of(const unsigned char *s, size_t pos) {
    int line = 1;
    for (const unsigned char *q = s; (q = memchr(q, '\n', pos - (size_t)(q - s))) != NULL; q++)
        line++;
    return line;
}

/* ---- key paths (json_reader.h) ---- */

size_t mlops__key_path_enter(mlops__key_path *kp, const char *key, size_t kn) {
    size_t need = key ? (kp->len ? 1 : 0) + kn : 2;
    /* a key holding '/' or NUL could pose as a path of several keys: it matches nothing */
    if (kp->overflow || need >= sizeof kp->buf - kp->len || (key && memchr(key, '/', kn)) ||
        (key && memchr(key, 0, kn))) {
        kp->overflow++;
        return SIZE_MAX;
    }
    size_t saved = kp->len;
    if (!key) {
        memcpy(kp->buf + kp->len, "[]", 2);
    } else {
        if (kp->len) kp->buf[kp->len++] = '/';
        memcpy(kp->buf + kp->len, key, kn);
    }
    kp->len = saved + need;
    return saved;
}

void mlops__key_path_leave(mlops__key_path *kp, size_t saved) {
    if (saved == SIZE_MAX)
        kp->overflow--;
    else
        kp->len = saved;
}

int mlops__key_path_watched(const mlops__key_path *kp, const mlops__json_hook *hook) {
    if (!hook || kp->overflow) return -1;
    for (int i = 0; hook->paths[i]; i++)
        if (strlen(hook->paths[i]) == kp->len && memcmp(hook->paths[i], kp->buf, kp->len) == 0) return i;
    return -1;
}

json_t *mlops__json_read(const char *data, size_t len, int max_depth, mlops__json_read_error *err) {
    return mlops__json_read_hooked(data, len, max_depth, NULL, err);
}

json_t *mlops__json_read_hooked(const char *data, size_t len, int max_depth, const mlops__json_hook *hook,
                                mlops__json_read_error *err) {
    memset(err, 0, sizeof *err);
    jr j;
    memset(&j, 0, sizeof j);
    j.start = j.p = (const unsigned char *)data;
    j.end = j.start + len;
    j.max_depth = max_depth;
    j.err = err;
    j.hook = hook;
    json_t *root = NULL;
    skip_ws(&j);
    if (j.p < j.end && (*j.p == '{' || *j.p == '['))
        root = read_value(&j, 1);
    else
        jr_fail_at(&j, j.p, "'[' or '{' expected");
    if (root) {
        skip_ws(&j);
        if (j.p != j.end) {
            jr_fail_at(&j, j.p, "end of file expected");
            json_decref(root);
            root = NULL;
        }
    }
    mlops__free(j.num);
    mlops__free(j.sbuf);
    if (!root) err->line = line_of(j.start, err->position);
    return root;
}
