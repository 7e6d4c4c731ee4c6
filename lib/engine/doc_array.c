/* Arrays of a model document, plain or compact (see doc_array.h). */
#include "engine/doc_array.h"

#include <math.h>
#include <string.h>

#include "internal.h"

size_t mlops__typed_width(unsigned char type) {
    switch (type) {
    case 'i':
    case 'U':
        return 1;
    case 'I':
        return 2;
    case 'd':
    case 'l':
        return 4;
    case 'D':
    case 'L':
        return 8;
    default:
        return 0;
    }
}

json_t *mlops__typed_array(unsigned char type, const unsigned char *be, size_t n) {
    size_t w = mlops__typed_width(type);
    if (!w || n > (SIZE_MAX - 2) / w) return NULL;
    char *buf = mlops__malloc(2 + n * w);
    if (!buf) return NULL;
    buf[0] = MLOPS__TYPED_TAG;
    buf[1] = (char)type;
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 0;
        for (size_t k = 0; k < w; k++)
            v = (v << 8) | be[i * w + k];
        unsigned char *dst = (unsigned char *)buf + 2 + i * w;
        if (w == 1) {
            dst[0] = (unsigned char)v;
        } else if (w == 2) {
            uint16_t x = (uint16_t)v;
            memcpy(dst, &x, 2);
        } else if (w == 4) {
            uint32_t x = (uint32_t)v;
            memcpy(dst, &x, 4);
        } else {
            memcpy(dst, &v, 8);
        }
    }
    json_t *s = json_stringn_nocheck(buf, 2 + n * w);
    mlops__free(buf);
    return s;
}

/* The type and elements of a compact array, or 0. */
static int typed(const json_t *a, unsigned char *type, const unsigned char **data, size_t *n) {
    if (!json_is_string(a)) return 0;
    size_t len = json_string_length(a);
    const char *s = json_string_value(a);
    if (len < 2 || s[0] != MLOPS__TYPED_TAG) return 0;
    size_t w = mlops__typed_width((unsigned char)s[1]);
    if (!w || (len - 2) % w) return 0;
    *type = (unsigned char)s[1];
    *data = (const unsigned char *)s + 2;
    *n = (len - 2) / w;
    return 1;
}

int mlops__arr_is(const json_t *a) {
    unsigned char t;
    const unsigned char *d;
    size_t n;
    return json_is_array(a) || typed(a, &t, &d, &n);
}

size_t mlops__arr_size(const json_t *a) {
    unsigned char t;
    const unsigned char *d;
    size_t n;
    if (json_is_array(a)) return json_array_size(a);
    return typed(a, &t, &d, &n) ? n : 0;
}

int mlops__arr_view_of(const json_t *a, mlops__arr_view *v) {
    memset(v, 0, sizeof *v);
    if (json_is_array(a)) {
        v->plain = a;
        v->n = json_array_size(a);
        return 1;
    }
    return typed(a, &v->type, &v->data, &v->n);
}

int mlops__arr_int(const json_t *a, size_t i, int64_t *out) {
    if (json_is_array(a)) {
        json_t *v = json_array_get(a, i);
        if (!json_is_integer(v)) return 0;
        *out = json_integer_value(v);
        return 1;
    }
    mlops__arr_view v;
    return mlops__arr_view_of(a, &v) && mlops__view_int(&v, i, out);
}

int mlops__arr_real(const json_t *a, size_t i, double *out) {
    if (json_is_array(a)) {
        json_t *v = json_array_get(a, i);
        return !json_is_integer(v) && mlops__json_to_double(v, out);
    }
    mlops__arr_view v;
    return mlops__arr_view_of(a, &v) && mlops__view_real(&v, i, out);
}

json_t *mlops__json_number(double d) {
    if (isnan(d)) return json_string(MLOPS__JSON_NAN);
    if (isinf(d)) return json_string(d > 0 ? MLOPS__JSON_POS_INF : MLOPS__JSON_NEG_INF);
    return json_real(d);
}

int mlops__json_to_double(const json_t *j, double *out) {
    if (json_is_number(j)) {
        *out = json_number_value(j);
        return 1;
    }
    const char *s = json_string_value(j);
    if (!s || s[0] != '\x01') return 0;
    if (strcmp(s, MLOPS__JSON_NAN) == 0)
        *out = NAN;
    else if (strcmp(s, MLOPS__JSON_POS_INF) == 0)
        *out = INFINITY;
    else if (strcmp(s, MLOPS__JSON_NEG_INF) == 0)
        *out = -INFINITY;
    else
        return 0;
    return 1;
}

/* The jansson array equal to compact array `a`, or NULL on ENOMEM. */
static json_t *expand_one(const json_t *a) {
    size_t n = mlops__arr_size(a);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        int64_t iv;
        double dv;
        json_t *v = mlops__arr_int(a, i, &iv)    ? json_integer(iv)
                    : mlops__arr_real(a, i, &dv) ? mlops__json_number(dv)
                                                 : NULL;
        if (json_array_append_new(arr, v)) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

int mlops__arr_expand_all(json_t *j) {
    if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            if (json_is_string(v) && mlops__arr_is(v)) {
                json_t *arr = expand_one(v);
                if (!arr || json_object_set_new_nocheck(j, k, arr)) return -1;
            } else if (mlops__arr_expand_all(v)) {
                return -1;
            }
        }
    } else if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++) {
            json_t *v = json_array_get(j, i);
            if (json_is_string(v) && mlops__arr_is(v)) {
                json_t *arr = expand_one(v);
                if (!arr || json_array_set_new(j, i, arr)) return -1;
            } else if (mlops__arr_expand_all(v)) {
                return -1;
            }
        }
    }
    return 0;
}
