/* libFuzzer harness: the CSV reader every command-line program uses
 * (examples/cli_util.c): reading, header lookup, ragged rows and strict numbers,
 * and the chunked reader (small read sizes) agreeing with the whole-file one.
 * Seeds: corpus/csv. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../examples/cli_util.h"
#include "fuzz_util.h"

/* The stream's rows, fields and lines are the whole file's, or both readers fail alike. */
static void check_stream(const char *path, const cli_csv *whole, int whole_rc, size_t chunk) {
    char err[512];
    cli_csv_stream st;
    int rc = cli_csv_stream_open(path, chunk, &st, err, sizeof err), opened = rc == 0;
    size_t row = 0;
    while (rc == 0 && (rc = cli_csv_stream_next(&st, err, sizeof err)) == 1) {
        rc = 0;
        for (size_t r = 0; whole_rc == 0 && r < st.csv.n_rows; r++, row++) { /* else: rows, then its error */
            if (row >= whole->n_rows || whole->line[row] != st.csv.line[r] ||
                whole->n_fields[row] != st.csv.n_fields[r])
                abort();
            for (size_t c = 0; c < st.csv.n_fields[r]; c++)
                if (strcmp(whole->fields[row][c], st.csv.fields[r][c]) != 0) abort();
        }
    }
    if (opened) cli_csv_stream_close(&st);
    if ((rc == -1) != (whole_rc != 0) || (whole_rc == 0 && row != whole->n_rows)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/in.csv", fuzz_dir());
    fuzz_write(path, data, size);
    cli_csv csv;
    size_t chunk = 1 + (size ? data[size - 1] % 61 : 0);
    if (cli_csv_read(path, &csv, err, sizeof err) != 0) {
        if (!err[0]) abort();
        check_stream(path, &csv, -1, chunk);
        return 0;
    }
    check_stream(path, &csv, 0, chunk);
    for (size_t c = 0; c < csv.n_cols; c++) /* every header name finds its own column */
        if (cli_csv_col(&csv, csv.header[c]) != (long)c) abort();
    (void)cli_csv_check_ragged(&csv, path, err, sizeof err);
    for (size_t r = 0; r < csv.n_rows; r++)
        for (size_t c = 0; c < csv.n_fields[r]; c++) {
            double d;
            float f;
            int a = cli_parse_double(csv.fields[r][c], &d), b = cli_parse_float(csv.fields[r][c], &f);
            if (b == 0 && a != 0) abort(); /* a float is never more permissive than a double */
            if (a == 0 && b == 0 && isnan(d) != isnan(f)) abort();
            if (b == 0 && !isnan(f)) { /* the fast parsers give the C library's bits */
                float ref = strtof(csv.fields[r][c], NULL);
                double refd = strtod(csv.fields[r][c], NULL);
                if (memcmp(&ref, &f, sizeof f) != 0 || (a == 0 && memcmp(&refd, &d, sizeof d) != 0)) abort();
            }
        }
    cli_csv_free(&csv);
    return 0;
}
