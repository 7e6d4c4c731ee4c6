/* What tests/model/test_json_reader.c and tests/fuzz/fuzz_json_reader.c share: comparing our
 * JSON reader's tree (compact arrays expanded) with jansson's, and the reference text jansson reads
 * in place of a text with NaN / Infinity / -Infinity tokens.
 *
 * Intentional differences: those tokens are values for us (jansson reads each written as
 * doc_array.h's marker string, as the old patched copy did); nesting deeper than the limit and
 * string values starting with the reserved byte 0x02 are refused by us only. A NUL byte outside
 * strings is not JSON and we refuse it; jansson 2.14 skips one that follows a number (its lexer
 * cannot push a NUL back), so the reference text writes such a byte as 0x01, which jansson refuses
 * wherever it stands. */
#ifndef MLOPS_TESTS_JSON_COMPARE_H
#define MLOPS_TESTS_JSON_COMPARE_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "engine/doc_array.h"
#include "model/json_reader.h"

/* A growable NUL-terminated text. */
typedef struct text {
    char *s;
    size_t n, cap;
} text;

static inline void put(text *t, const char *s, size_t n) {
    if (t->n + n + 1 > t->cap) {
        t->cap = (t->n + n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        if (!t->s) abort();
    }
    memcpy(t->s + t->n, s, n);
    t->n += n;
    t->s[t->n] = '\0';
}

/* Same tree, reals bit for bit (so -0.0 differs from 0.0), strings byte for byte. */
static inline int same_tree(const json_t *a, const json_t *b) {
    if (json_typeof(a) != json_typeof(b)) return 0;
    switch (json_typeof(a)) {
    case JSON_INTEGER:
        return json_integer_value(a) == json_integer_value(b);
    case JSON_REAL: {
        double x = json_real_value(a), y = json_real_value(b);
        return memcmp(&x, &y, sizeof x) == 0;
    }
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
    case JSON_ARRAY:
        if (json_array_size(a) != json_array_size(b)) return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!same_tree(json_array_get(a, i), json_array_get(b, i))) return 0;
        return 1;
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b)) return 0;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            json_t *w = json_object_get(b, k);
            if (!w || !same_tree(v, w)) return 0;
        }
        return 1;
    }
    default:
        return 1; /* true, false, null */
    }
}

/* Deepest container nesting (root = 1), and whether a string value starts with 0x02. */
static inline int depth_of(const json_t *j) {
    int d = 0;
    size_t i;
    const char *k;
    json_t *v;
    if (json_is_array(j)) json_array_foreach((json_t *)j, i, v) {
            int e = depth_of(v);
            d = e > d ? e : d;
        }
    if (json_is_object(j)) json_object_foreach((json_t *)j, k, v) {
            int e = depth_of(v);
            d = e > d ? e : d;
        }
    return json_is_array(j) || json_is_object(j) ? d + 1 : 0;
}

static inline int has_tagged_string(const json_t *j) {
    size_t i;
    const char *k;
    json_t *v;
    if (json_is_string(j)) return json_string_length(j) > 0 && json_string_value(j)[0] == MLOPS__TYPED_TAG;
    if (json_is_array(j)) json_array_foreach((json_t *)j, i, v) if (has_tagged_string(v)) return 1;
    if (json_is_object(j)) json_object_foreach((json_t *)j, k, v) if (has_tagged_string(v)) return 1;
    return 0;
}

/* The reference text of `s`: each NaN / Infinity / -Infinity token outside strings written as
 * the marker string our reader stands for it, each NUL byte outside strings as 0x01. */
static inline text reference_text(const char *s, size_t n) {
    text t = {0};
    static const struct {
        const char *tok, *rep;
    } toks[] = {{"-Infinity", "\"\\u0001-Infinity\""},
                {"Infinity", "\"\\u0001Infinity\""},
                {"NaN", "\"\\u0001NaN\""}};
    int in_str = 0;
    put(&t, "", 0);
    for (size_t i = 0; i < n;) {
        size_t k = 3;
        if (!in_str)
            for (k = 0; k < 3; k++) {
                size_t l = strlen(toks[k].tok);
                int alpha_next = i + l < n && ((s[i + l] | 32) >= 'a' && (s[i + l] | 32) <= 'z');
                if (n - i >= l && memcmp(s + i, toks[k].tok, l) == 0 && !alpha_next) break;
            }
        if (k < 3) {
            put(&t, toks[k].rep, strlen(toks[k].rep));
            i += strlen(toks[k].tok);
            continue;
        }
        if (in_str && s[i] == '\\' && i + 1 < n) {
            put(&t, s + i, 2);
            i += 2;
            continue;
        }
        if (s[i] == '"') in_str = !in_str;
        put(&t, !in_str && s[i] == '\0' ? "\x01" : s + i, 1);
        i++;
    }
    return t;
}

/* Whether our reader (`ours`, NULL with `e` when it refused) and jansson (`ref`, NULL when it
 * refused) agree, given the deliberate differences above: NULL when they do, else what differs. */
static inline const char *json_compare_verdict(const json_t *ours, const mlops__json_read_error *e,
                                               const json_t *ref, int max_depth) {
    if (!ours && ref) {
        int deep = depth_of(ref) > max_depth, tagged = has_tagged_string(ref);
        if ((deep && strstr(e->text, "nesting deeper than")) || (tagged && strstr(e->text, "0x02")))
            return NULL;
        return "we refuse what jansson accepts";
    }
    if (ours && !ref) return "we accept what jansson refuses";
    if (ours && ref && !same_tree(ours, ref)) return "trees differ";
    if (ours && ref && !json_equal((json_t *)ours, (json_t *)ref)) return "json_equal differs";
    if (!ours && (!e->text[0] || e->line < 1)) return "a refusal without a reason or a line";
    return NULL;
}

#endif
