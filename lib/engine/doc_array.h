/* Arrays of a model document, plain or compact. Internal.
 *
 * The reader (lib/model/format.c) keeps each UBJSON typed array ('$' type '#' count) as one jansson
 * string instead of one jansson value per element: the tag byte MLOPS__TYPED_TAG, the element type
 * ('d' float32, 'D' float64, 'i' int8, 'U' uint8, 'I' int16, 'l' int32, 'L' int64), then the
 * elements in host byte order. A 3.5 MB model then holds a few thousand strings instead of a few
 * million values. Every reader of node arrays (the structural check, compat.c, the native builder)
 * goes through these functions, which read plain jansson arrays and compact ones alike. */
#ifndef MLOPS_ENGINE_DOC_ARRAY_H
#define MLOPS_ENGINE_DOC_ARRAY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MLOPS__TYPED_TAG '\x02'

/* Bytes per element of typed-array type `type`, 0 when it is not one. */
size_t mlops__typed_width(unsigned char type);

/* A compact array of `n` elements of `type` from `be`, the big-endian bytes of a UBJSON typed array
 * (n * width bytes, checked by the caller). NULL on ENOMEM. */
json_t *mlops__typed_array(unsigned char type, const unsigned char *be, size_t n);

/* An array resolved once for fast element reads in loops: a plain jansson array (`plain`, type 0)
 * or a compact one (`data`, `type`). Valid while the document holds the array. */
typedef struct mlops__arr_view {
    const json_t *plain;
    const unsigned char *data;
    size_t n;
    unsigned char type;
} mlops__arr_view;

/* 1 and `*v` filled when `a` is an array (plain or compact), else 0 (`*v` an empty view). */
int mlops__arr_view_of(const json_t *a, mlops__arr_view *v);

/* mlops__arr_int and mlops__arr_real on a view; the compact cases are inline. */
int mlops__arr_int(const json_t *a, size_t i, int64_t *out);
int mlops__arr_real(const json_t *a, size_t i, double *out);

static inline int mlops__view_int(const mlops__arr_view *v, size_t i, int64_t *out) {
    if (i >= v->n) return 0;
    const unsigned char *p = v->data;
    int8_t i8;
    int16_t i16;
    int32_t i32;
    switch (v->type) {
    case 0:
        return mlops__arr_int(v->plain, i, out);
    case 'U':
        *out = p[i];
        return 1;
    case 'i':
        memcpy(&i8, p + i, 1);
        *out = i8;
        return 1;
    case 'I':
        memcpy(&i16, p + 2 * i, 2);
        *out = i16;
        return 1;
    case 'l':
        memcpy(&i32, p + 4 * i, 4);
        *out = i32;
        return 1;
    case 'L':
        memcpy(out, p + 8 * i, 8);
        return 1;
    default:
        return 0;
    }
}

static inline int mlops__view_real(const mlops__arr_view *v, size_t i, double *out) {
    if (i >= v->n) return 0;
    float f;
    switch (v->type) {
    case 0:
        return mlops__arr_real(v->plain, i, out);
    case 'd':
        memcpy(&f, v->data + 4 * i, 4);
        *out = (double)f;
        return 1;
    case 'D':
        memcpy(out, v->data + 8 * i, 8);
        return 1;
    default:
        return 0;
    }
}

/* 1 when `a` is a jansson array or a compact one. */
int mlops__arr_is(const json_t *a);

/* Elements of `a`; 0 when it is not an array. */
size_t mlops__arr_size(const json_t *a);

/* mlops__arr_int: 1 and *out when element i is an integer (a JSON integer, or an element of an
 * integer typed array); 0 otherwise (out of range, real, other value).
 * mlops__arr_real: 1 and *out when element i is a real (a JSON real, a NaN/infinity marker string,
 * or an element of a 'd'/'D' typed array); integers are not reals. (Declared above.) */

/* Non-finite numbers, which jansson cannot hold, are kept as these marker strings. */
#define MLOPS__JSON_NAN "\x01NaN"
#define MLOPS__JSON_POS_INF "\x01Infinity"
#define MLOPS__JSON_NEG_INF "\x01-Infinity"

/* A number for the document: a real, or a marker string when `d` is not finite. NULL on ENOMEM. */
json_t *mlops__json_number(double d);

/* 1 and *out set when `j` is a number or a marker string, else 0. */
int mlops__json_to_double(const json_t *j, double *out);

/* Replace every compact array inside `j` (objects and arrays, recursively) by the equivalent
 * jansson array, reals as format.h's numbers. -1 on ENOMEM (the document is then partly
 * expanded, still valid). */
int mlops__arr_expand_all(json_t *j);

#endif
