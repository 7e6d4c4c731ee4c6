/* Small helpers shared by the example programs: CSV reading and number parsing.
 * Part of the examples, not of the library. */
#ifndef MLOPS_CLI_UTIL_H
#define MLOPS_CLI_UTIL_H

#include <stddef.h>

/* A CSV file with a header row, held in memory. Fields point into `buf`. */
typedef struct cli_csv {
    char *buf;        /* the file's bytes, split in place */
    size_t n_cols;    /* header width */
    char **header;    /* n_cols names */
    size_t n_rows;    /* data rows */
    size_t *n_fields; /* fields in each row (may differ from n_cols: a malformed row) */
    char ***fields;   /* fields[r][c] */
    size_t *line;     /* 1-based line number in the file of each row */
} cli_csv;

/* Read `path` ("-" is stdin). Quoted fields ("a,b", "" for a quote) are supported.
 * Returns 0, or -1 with a message in err. */
int cli_csv_read(const char *path, cli_csv *csv, char *err, size_t err_len);
void cli_csv_free(cli_csv *csv);

/* Index of the header column `name`, or -1. */
long cli_csv_col(const cli_csv *csv, const char *name);

/* Parse a float cell. Empty, "NA", "NaN", "nan", "null" are missing (NaN).
 * Returns 0, or -1 when the cell is not a number. */
int cli_parse_float(const char *s, float *out);

/* Load a whole CSV as a dense float matrix over the given columns (n_sel indices
 * into the header; NULL = all columns). Rows that fail to parse are reported on
 * stderr as "prog: IN.csv row N, column NAME: reason" and skipped; *n_bad counts them.
 * On success *x (malloc'd, caller frees) holds *n_rows x n_sel values and
 * *row_ids (malloc'd) the 1-based data row number of each kept row. */
int cli_csv_matrix(const cli_csv *csv, const char *prog, const char *path, const long *sel, size_t n_sel,
                   float **x, size_t *n_rows, size_t **row_ids, size_t *n_bad);

#endif
