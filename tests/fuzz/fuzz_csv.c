/* libFuzzer harness: the CSV reader every command-line program uses
 * (examples/cli_util.c): reading, header lookup, ragged rows and strict numbers.
 * Seeds: corpus/csv. */
#include <math.h>
#include <string.h>

#include "../../examples/cli_util.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/in.csv", fuzz_dir());
    fuzz_write(path, data, size);
    cli_csv csv;
    if (cli_csv_read(path, &csv, err, sizeof err) != 0) {
        if (!err[0]) abort();
        return 0;
    }
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
        }
    cli_csv_free(&csv);
    return 0;
}
