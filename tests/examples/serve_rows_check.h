/* The fast path of /predict bodies (examples/serve/rows.c) against the library's parser
 * (mlops_schema_parse_rows, jansson and strtod), on one body: shared by the unit test
 * (serve_rows.c) and the fuzz harness (tests/fuzz/fuzz_serve_rows.c).
 *
 * Whatever the fast path takes must be what the library makes of it: the same rows, bit for bit,
 * when the dense check passes; a validation failure (never a format error) when it does not. */
#ifndef SERVE_ROWS_CHECK_H
#define SERVE_ROWS_CHECK_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../../examples/serve/rows.h"
#include "mlops/schema.h"

#define ROWS_CHECK_MAX_ROWS 64
#define ROWS_CHECK_MAX_FEATS 64

/* A schema with every feature type, bounds, null rules and defaults; %s is "reject" or "ignore". */
#define ROWS_CHECK_SCHEMA_TYPED                                                                              \
    "{\"features\": ["                                                                                       \
    "{\"name\": \"mean_radius\", \"type\": \"float\", \"min\": 0, \"max\": 60, \"nullable\": false},"        \
    "{\"name\": \"n_visits\", \"type\": \"int\", \"min\": 0},"                                               \
    "{\"name\": \"plan\", \"type\": \"categorical\", \"categories\": [\"free\", \"pro\", \"team\"]},"        \
    "{\"name\": \"is_member\", \"type\": \"bool\", \"default\": false},"                                     \
    "{\"name\": \"score\", \"type\": \"float\"},"                                                            \
    "{\"name\": \"tier\", \"type\": \"int\", \"min\": 0, \"max\": 5, \"default\": 2, \"nullable\": false}]," \
    " \"unknown_features\": \"%s\"}"

/* The schema of `n` float features named "<prefix>0", "<prefix>1", ... into text[size]. */
static void rows_check_float_schema(char *text, size_t size, const char *prefix, unsigned n) {
    size_t used = (size_t)snprintf(text, size, "{\"features\": [");
    for (unsigned i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(text + used, size - used, "%s{\"name\": \"%s%u\", \"type\": \"float\"}",
                                 i ? ", " : "", prefix, i);
    if (used < size) snprintf(text + used, size - used, "]}");
}

enum rows_verdict { ROWS_DECLINED, ROWS_TAKEN, ROWS_TAKEN_INVALID, ROWS_MISMATCH };

static int rows_same_bits(float a, float b) {
    if (isnan(a) && isnan(b)) return 1;
    uint32_t x, y;
    memcpy(&x, &a, sizeof x);
    memcpy(&y, &b, sizeof y);
    return x == y;
}

/* Run both on `body`; ROWS_MISMATCH (with a line on stderr) when they disagree. */
static enum rows_verdict rows_check(const mlops_schema *s, const serve_rows *plan, const char *body,
                                    size_t len) {
    static float fast[ROWS_CHECK_MAX_ROWS * ROWS_CHECK_MAX_FEATS],
        lib[ROWS_CHECK_MAX_ROWS * ROWS_CHECK_MAX_FEATS];
    unsigned char ok[ROWS_CHECK_MAX_ROWS];
    size_t nf = mlops_schema_n_features(s), n_fast = 0, n_lib = 0;
    size_t cap = sizeof fast / sizeof fast[0] / nf;
    if (cap > ROWS_CHECK_MAX_ROWS) cap = ROWS_CHECK_MAX_ROWS;
    mlops_status lst = mlops_schema_parse_rows(s, body, len, lib, cap * nf, ok, &n_lib, NULL);
    if (serve_rows_parse(plan, body, len, fast, cap, &n_fast) != 0) return ROWS_DECLINED;
    mlops_status vst = mlops_schema_validate(s, fast, n_fast, nf, NULL, NULL);
    const char *why = NULL;
    if (vst == MLOPS_EVALIDATION)
        why = lst == MLOPS_EVALIDATION && n_lib == n_fast ? NULL
                                                          : "taken, refused by the check, not by the library";
    else if (vst != MLOPS_OK || lst != MLOPS_OK || n_lib != n_fast)
        why = "taken and valid, the library disagrees";
    for (size_t i = 0; !why && vst == MLOPS_OK && i < n_fast * nf; i++)
        if (!rows_same_bits(fast[i], lib[i])) why = "a value differs from the library's";
    if (why) {
        fprintf(stderr, "serve_rows: %s (library %s, %zu rows; fast %zu rows): %.*s\n", why,
                mlops_status_str(lst), n_lib, n_fast, (int)(len > 300 ? 300 : len), body);
        return ROWS_MISMATCH;
    }
    return vst == MLOPS_OK ? ROWS_TAKEN : ROWS_TAKEN_INVALID;
}

#endif
