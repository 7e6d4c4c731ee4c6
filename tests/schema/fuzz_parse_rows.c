/* libFuzzer harness: named JSON rows against a fixed schema covering every type, and the same
 * bytes as dense floats through mlops_schema_validate(). Seed corpus in corpus/parse_rows. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mlops/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *SCHEMA =
    "{\"features\": ["
    "{\"name\": \"mean_radius\", \"type\": \"float\", \"min\": 0, \"max\": 60, \"nullable\": false},"
    "{\"name\": \"n_visits\", \"type\": \"int\", \"min\": 0},"
    "{\"name\": \"plan\", \"type\": \"categorical\", \"categories\": [\"free\", \"pro\", \"team\"]},"
    "{\"name\": \"is_member\", \"type\": \"bool\", \"default\": false}],"
    " \"unknown_features\": \"reject\"}";

#define NF 4
#define MAXROWS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static mlops_schema *s;
    static mlops_schema_report *rep;
    if (!s) {
        if (mlops_schema_load_buffer(SCHEMA, strlen(SCHEMA), &s) != MLOPS_OK) abort();
        if (mlops_schema_report_create(100, &rep) != MLOPS_OK) abort();
    }
    float out[NF * MAXROWS];
    unsigned char ok[MAXROWS];
    size_t n = (size_t)-1;
    mlops_status st = mlops_schema_parse_rows(s, (const char *)data, size, out, NF * MAXROWS, ok, &n, rep);
    if (st == MLOPS_OK || st == MLOPS_EVALIDATION) {
        if (n > MAXROWS) abort();
        size_t bad = 0;
        for (size_t r = 0; r < n; r++) {
            bad += !ok[r];
            /* a valid named row must also pass as a dense row */
            if (ok[r] && mlops_schema_validate(s, out + r * NF, 1, NF, NULL, NULL) != MLOPS_OK) abort();
        }
        if (bad != mlops_schema_report_n_invalid(rep) || (st == MLOPS_OK) != (bad == 0)) abort();
        for (size_t i = 0; i < mlops_schema_report_count(rep); i++)
            if (!mlops_schema_report_message(rep, i) || mlops_schema_report_row(rep, i) >= n) abort();
    } else if (n != (size_t)-1) {
        abort(); /* nothing is written on failure */
    }
    /* the raw bytes as dense rows */
    size_t nrows = size / (sizeof(float) * NF);
    if (nrows > MAXROWS) nrows = MAXROWS;
    float x[NF * MAXROWS];
    memcpy(x, data, nrows * NF * sizeof(float));
    st = mlops_schema_validate(s, x, nrows, NF, ok, rep);
    if (st != MLOPS_OK && st != MLOPS_EVALIDATION) abort();
    return 0;
}
