/* Shared by the format tests: the fixture list and seeded mutations of fixture bytes. */
#ifndef MLOPS_TEST_FORMAT_FIXTURES_UTIL_H
#define MLOPS_TEST_FORMAT_FIXTURES_UTIL_H

#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlops/model.h"

#define FX_MAX 64

typedef struct fx {
    char name[128];
    mlops_model_format format;
    unsigned char *data;
    size_t len;
} fx;

static unsigned char *fx_read(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Load every fixture listed in FORMAT_FIXTURES/MANIFEST; returns the count (0 on error). */
static size_t fx_load_all(fx *out) {
    char path[1024];
    snprintf(path, sizeof path, "%s/MANIFEST", FORMAT_FIXTURES);
    FILE *m = fopen(path, "r");
    if (!m) return 0;
    size_t n = 0;
    char name[128], kind[32];
    while (n < FX_MAX && fscanf(m, "%127s %31s", name, kind) == 2) {
        fx *f = &out[n];
        snprintf(f->name, sizeof f->name, "%s", name);
        f->format = strcmp(kind, "json") == 0     ? MLOPS_FORMAT_JSON
                    : strcmp(kind, "ubjson") == 0 ? MLOPS_FORMAT_UBJSON
                                                  : MLOPS_FORMAT_BINARY;
        snprintf(path, sizeof path, "%s/%s", FORMAT_FIXTURES, name);
        f->data = fx_read(path, &f->len);
        if (!f->data) {
            fclose(m);
            return 0;
        }
        ++n;
    }
    fclose(m);
    return n;
}

static void fx_free_all(fx *f, size_t n) {
    for (size_t i = 0; i < n; ++i)
        free(f[i].data);
}

/* Truncation lengths to try for a file of `len` bytes: every prefix up to 16 KiB, else a dense
 * sample (every 7th length plus the first and last 512). Returns 0 when `i` is past the end. */
static int fx_trunc_len(size_t len, size_t i, size_t *out) {
    if (len <= 16384) {
        if (i >= len) return 0;
        *out = i;
        return 1;
    }
    size_t head = 512, tail = 512, mid = (len - head - tail) / 7;
    if (i < head)
        *out = i;
    else if (i < head + mid)
        *out = head + (i - head) * 7;
    else if (i < head + mid + tail)
        *out = len - tail + (i - head - mid);
    else
        return 0;
    return 1;
}

/* Seeded single-bit flip of `src` into `dst` (same length). Mixes uniform positions with positions
 * near structural bytes so that lengths, counts and markers get hit often. */
static void fx_bitflip(const gsl_rng *r, const unsigned char *src, size_t len, unsigned char *dst) {
    memcpy(dst, src, len);
    size_t pos = gsl_rng_uniform_int(r, len);
    unsigned bit = (unsigned)gsl_rng_uniform_int(r, 8);
    dst[pos] ^= (unsigned char)(1u << bit);
}

#endif
