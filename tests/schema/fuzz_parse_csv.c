/* libFuzzer harness: mlops_schema_parse_csv and _f64 on arbitrary bytes. The first byte picks the
 * width (1..8 fields) and which of them are kept (a field may be kept twice); the rest is the text,
 * read in place (libFuzzer's buffer is exactly `size` bytes: ASan sees any read past it). Checks:
 * nothing written past out_len, rows and bytes consistent with the status, float32 and float64
 * agree on the rows and on NaN, and a float32 value is float64's rounded (within one float ulp).
 * The fast path level (csv_isa.h: SWAR, AVX2, AVX-512BW, as this CPU has them) goes by the
 * input's length, and every result equals the careful path's alone (a column selected once
 * more keeps every row off the fast paths): status, message, rows, bytes, line, value bits.
 * Seed corpus in corpus/parse_csv. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/schema/csv_isa.h"
#include "mlops/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROOM 96 /* values: small enough that long inputs reach MLOPS_ESHAPE */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    size_t n_fields = 1 + (data[0] & 7), cols[8], n_cols = 0;
    for (size_t j = 0; j < n_fields; j++)
        if (data[0] & (8u << (j % 5))) cols[n_cols++] = (j * 3 + data[0]) % n_fields;
    const size_t *sel = (data[0] & 0x80) ? NULL : cols;
    size_t width = sel ? n_cols : n_fields;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (mlops__csv_force_isa(MLOPS__CSV_SWAR + (int)(size % 3)) < 0) mlops__csv_force_isa(MLOPS__CSV_AUTO);
    float f[ROOM + 1];
    double d[ROOM + 1];
    f[ROOM] = 42.0f;
    d[ROOM] = 42.0;
    size_t rows_f = 7, bytes_f = 7, line_f = 5, rows_d = 7, bytes_d = 7, line_d = 5;
    mlops_status sf =
        mlops_schema_parse_csv(text, len, n_fields, sel, n_cols, &line_f, f, ROOM, &rows_f, &bytes_f);
    char msg_f[512];
    snprintf(msg_f, sizeof msg_f, "%s", mlops_last_error());
    mlops_status sd =
        mlops_schema_parse_csv_f64(text, len, n_fields, sel, n_cols, &line_d, d, ROOM, &rows_d, &bytes_d);
    if (f[ROOM] != 42.0f || d[ROOM] != 42.0) abort(); /* written past out_len */
    if (sf != MLOPS_OK && sf != MLOPS_EFORMAT && sf != MLOPS_ESHAPE) abort();
    if (sd != MLOPS_OK && sd != MLOPS_EFORMAT && sd != MLOPS_ESHAPE) abort();
    if (bytes_f > len || rows_f * width > ROOM || line_f < 5 || (sf == MLOPS_OK && bytes_f != len)) abort();
    if (bytes_d > len || rows_d * width > ROOM || line_d < 5 || (sd == MLOPS_OK && bytes_d != len)) abort();
    if (sd != MLOPS_OK && !*mlops_last_error()) abort(); /* a failure always says why */
    /* the careful path alone: the same columns and the first once more, each row one wider */
    size_t cols2[9], w2 = width + 1, rows_c = 7, bytes_c = 7, line_c = 5;
    for (size_t j = 0; j < width; j++)
        cols2[j] = sel ? sel[j] : j;
    cols2[width] = width ? cols2[0] : 0;
    float c[2 * ROOM];
    if (width) { /* (room for as many rows as f had) */
        mlops_status sc = mlops_schema_parse_csv(text, len, n_fields, cols2, w2, &line_c, c,
                                                 ROOM / width * w2, &rows_c, &bytes_c);
        if (sc != sf || rows_c != rows_f || bytes_c != bytes_f || line_c != line_f) abort();
        /* the same message (ESHAPE's names the width) */
        if (sf == MLOPS_EFORMAT && strcmp(msg_f, mlops_last_error())) abort();
        for (size_t r = 0; r < rows_f; r++)
            if (memcmp(f + r * width, c + r * w2, width * sizeof *f)) abort();
    }
    /* float64 reads every row float32 reads (only float32's range is narrower) */
    if (sf == MLOPS_OK && (sd != MLOPS_OK || rows_d != rows_f)) abort();
    size_t rows = rows_f < rows_d ? rows_f : rows_d;
    for (size_t i = 0; i < rows * width; i++) {
        if (isnan(f[i]) != isnan(d[i])) abort();
        if (isnan(d[i]) || isinf(d[i])) continue;
        double diff = fabs((double)f[i] - d[i]), ulp = fmax(fabs(d[i]) * 0x1p-23, 0x1p-149);
        if (diff > ulp) abort();
    }
    return 0;
}
