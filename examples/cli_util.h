/* Small helpers shared by the example programs: CSV reading and number parsing.
 * Part of the examples, not of the library.
 *
 * One CSV dialect for every program: RFC 4180 quoting ("a,b", "" for a quote),
 * LF or CRLF line ends, a UTF-8 byte order mark at the start ignored, a header
 * row whose names must be unique. Data rows are numbered from 1 (the first row
 * after the header) in every message, with the file line beside it. */
#ifndef MLOPS_CLI_UTIL_H
#define MLOPS_CLI_UTIL_H

#include <stddef.h>

/* Largest CSV file read (the whole file is held in memory). */
#define CLI_CSV_MAX_BYTES ((size_t)4 << 30)

/* A CSV file with a header row, held in memory. Fields point into `buf`. */
typedef struct cli_csv {
    char *buf;        /* the file's bytes, split in place */
    size_t n_cols;    /* header width */
    char **header;    /* n_cols names */
    size_t n_rows;    /* data rows */
    size_t *n_fields; /* fields in each row (may differ from n_cols: a ragged row) */
    char ***fields;   /* fields[r][c] */
    size_t *line;     /* 1-based line number in the file of each row */
    size_t *index;    /* hash table of header names: column + 1, 0 = empty slot */
    size_t index_cap; /* a power of two */
    size_t rows_cap;  /* room in fields, n_fields and line */
    size_t row_base;  /* data rows before these (a chunk of a cli_csv_stream), 0 for a whole file */
    char *header_buf; /* the header names when they do not point into buf (a stream) */
} cli_csv;

/* Read `path` ("-" is stdin; anything else must be a regular file). Fails,
 * with a message in err naming the file and line, on: an unterminated quoted
 * field or text after a closing quote, a duplicate header name, an empty file.
 * Returns 0, or -1 with a message in err. */
int cli_csv_read(const char *path, cli_csv *csv, char *err, size_t err_len);
void cli_csv_free(cli_csv *csv);

/* A CSV read in chunks of whole records, in bounded memory: the same dialect,
 * checks and messages as cli_csv_read, for files of any size. One thread uses a
 * stream at a time (the chunk's rows may then be read by several); it owns its
 * buffer and the chunk's rows, freed by the next call or by cli_csv_stream_close. */
typedef struct cli_csv_stream {
    cli_csv csv;      /* header and index, and the rows of the current chunk (csv.row_base before them) */
    const char *path; /* as given, for messages */
    int fd, eof, stopped;
    char *buf;        /* bytes read: [0, pos) the current chunk, [pos, len) the next one's start */
    size_t cap, len, pos;
    char saved;       /* the byte at pos, overwritten by the chunk's terminator */
    size_t line_no;   /* file line of the byte at pos */
    struct cli_csv_numeric *num; /* cli_csv_stream_matrix's buffers */
} cli_csv_stream;

/* Bytes read at a time by a stream (a record longer than this grows the buffer). */
#define CLI_CSV_CHUNK_BYTES ((size_t)4 << 20)

/* Open `path` ("-" is stdin) and read its header; chunk_bytes is the read size
 * (0: CLI_CSV_CHUNK_BYTES; tests use small ones). Returns 0, or -1 with a
 * message in err (and nothing left to close). */
int cli_csv_stream_open(const char *path, size_t chunk_bytes, cli_csv_stream *st, char *err, size_t err_len);

/* The next chunk of rows into st->csv (the previous chunk's fields are freed).
 * Returns 1 (a chunk, possibly of no rows), 0 at the end, -1 with a message in err. */
int cli_csv_stream_next(cli_csv_stream *st, char *err, size_t err_len);

/* The next chunk as numbers, for numeric tables: the rows as a dense matrix over the
 * header columns sel[0..n_sel) (the same on every call) and their 1-based data row
 * numbers, with the same values, row numbers and stderr messages (left-out rows, in
 * row order) as cli_csv_stream_next + cli_csv_matrix_mt would give, without splitting
 * the rows into fields first (a chunk with quotes still is). n_threads (1..64) parse at
 * once. *x (*n_rows x n_sel) and *row_ids belong to the stream, valid until the call
 * after next (double buffered: one thread may read a chunk while another makes the next
 * one; the stream itself is used by one thread at a time); st->csv holds no rows. Returns 1 (a chunk, maybe of no rows), 0 at the end, -1
 * with a message in err. */
int cli_csv_stream_matrix(cli_csv_stream *st, const char *prog, const long *sel, size_t n_sel, int n_threads,
                          const float **x, const size_t **row_ids, size_t *n_rows, size_t *n_bad, char *err,
                          size_t err_len);

void cli_csv_stream_close(cli_csv_stream *st);

/* Index of the header column `name` (a hash lookup), or -1. */
long cli_csv_col(const cli_csv *csv, const char *name);

/* -1 with "PATH row N (line L): expected C columns, got K" in err when a row's
 * width differs from the header's (the first such row), else 0. */
int cli_csv_check_ragged(const cli_csv *csv, const char *path, char *err, size_t err_len);

/* Cells as numbers, strictly: a decimal number ("12", "-1.5e3", ".5"), or
 * "inf"/"infinity" with an optional sign (any case). Hex, trailing text and
 * values out of range are refused. Empty, "NA", "NaN", "nan" and "null" (any
 * case except null) are missing: NaN. Surrounding spaces and tabs are ignored.
 * Return 0, or -1 when the cell is not a number. A decimal beyond the type's
 * range ("1e999") is refused by cli_parse_float; cli_parse_double returns -2
 * and stores the infinity it overflows to. */
int cli_parse_double(const char *s, double *out);
int cli_parse_float(const char *s, float *out);

/* 1 if cli_parse_* would call the cell missing. */
int cli_is_missing(const char *s);

/* A library violation message without its leading "row N: " (N counts the
 * rows of one library call from 1, not the file's rows: skipped rows shift it), so that a program's message carries only
 * its own numbering: data rows of the file from 1. */
const char *cli_violation_detail(const char *msg);

/* Load a whole CSV as a dense float matrix over the given columns (n_sel indices
 * into the header; NULL = all columns). Rows that fail to parse are reported on
 * stderr as "prog: IN.csv row N (line L), column NAME: reason" and skipped; *n_bad counts them.
 * On success *x (malloc'd, caller frees) holds *n_rows x n_sel values and
 * *row_ids (malloc'd) the 1-based data row number of each kept row. */
int cli_csv_matrix(const cli_csv *csv, const char *prog, const char *path, const long *sel, size_t n_sel,
                   float **x, size_t *n_rows, size_t **row_ids, size_t *n_bad);

/* cli_csv_matrix with the numbers parsed by n_threads threads (1..64; the caller's
 * thread is one); messages and results are the same, in row order. */
int cli_csv_matrix_mt(const cli_csv *csv, const char *prog, const char *path, const long *sel, size_t n_sel,
                      float **x, size_t *n_rows, size_t **row_ids, size_t *n_bad, int n_threads);

#endif
