/* libFuzzer harness: mlops-serve's fast path of /predict bodies (examples/serve/rows.c) against the
 * library's parser (mlops_schema_parse_rows) on the same bytes, through tests/examples/serve_rows_check.h:
 * a body the fast path takes must be read exactly as the library reads it (same rows, same bits), or,
 * when the dense check refuses it, be refused by the library as invalid, never as malformed. The
 * first input byte picks the schema (typed features, or 30 float features), the rest is the body.
 * Seeds: corpus/serve_rows. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../examples/serve_rows_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void open_schema(const char *text, mlops_schema **s, serve_rows **p) {
    if (mlops_schema_load_buffer(text, strlen(text), s) != MLOPS_OK || serve_rows_create(*s, p) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static mlops_schema *s[2];
    static serve_rows *p[2];
    if (!s[0]) {
        char text[4096];
        snprintf(text, sizeof text, ROWS_CHECK_SCHEMA_TYPED, "reject");
        open_schema(text, &s[0], &p[0]);
        rows_check_float_schema(text, sizeof text, "f", 30);
        open_schema(text, &s[1], &p[1]);
    }
    if (size == 0) return 0;
    int k = data[0] & 1;
    if (rows_check(s[k], p[k], (const char *)data + 1, size - 1) == ROWS_MISMATCH) abort();
    return 0;
}
