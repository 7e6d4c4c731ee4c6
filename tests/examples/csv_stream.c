/* The chunked CSV reader (cli_csv_stream, examples/cli_util.c) against the whole-file
 * one (cli_csv_read) on every file given (the fuzz corpus) and on crafted files, with
 * read sizes from 1 byte up: same header, rows, fields, file lines and row numbers,
 * or the same error message (issue 26). Prints the disagreements; exit 1 if any. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../examples/cli_util.h"

/* Crafted files (sizeof keeps the NUL byte of one of them). */
#define FILE_TEXT(s) {s, sizeof s - 1}
static const struct {
    const char *text;
    size_t len;
} crafted[] = {
    FILE_TEXT("a,b\n1,2\n3,4\n"),
    FILE_TEXT("\xEF\xBB\xBF" "a,b\r\n1,2\r\n\r\n3,4\r\n"),
    FILE_TEXT("a,b\n\"x\ny\",2\n\"p\"\"q\",\"\"\n5,6"),
    FILE_TEXT("a,\"b\nc\"\n\"1\n\n2\",3\n"),
    FILE_TEXT("a,b\nx\"y,\"1\n2\"\n3,4\n"), /* a quote inside an unquoted field, then a quoted newline */
    FILE_TEXT("a,b\n1,2,3\n4\n\n\n5,6\n"), /* ragged rows */
    FILE_TEXT("a,b\n1,\"2\n3,4\n"), /* never closed */
    FILE_TEXT("a,b\n\"1\"x,2\n"), /* text after the closing quote */
    FILE_TEXT("a,a\n1,2\n"), /* duplicate header */
    FILE_TEXT(""),
    FILE_TEXT("\n"),
    FILE_TEXT("a,b"),
    FILE_TEXT("a,b\n1,2\n\0003,4\n"), /* a NUL ends the input */
    FILE_TEXT("\"h\n1\",\"h2\"\n\"\"\"\",\"a\"\"\"\"b\"\n"),
    FILE_TEXT("\0\0\0a,b\n1,2\n"),                            /* (fuzz-csv) a NUL first: empty */
    FILE_TEXT("\xEF\xBB\xBF\"\nh\",b\n1,2\n\"x\ny\",3\n"),          /* (fuzz-csv) a quoted header after the BOM */
    FILE_TEXT("a,b\r\"1\n2\",3\r\"4\n\",5\n"),                  /* (fuzz-csv) bare CRs end records */
    /* numeric tables for cli_csv_stream_matrix: every record its fast path declines */
    FILE_TEXT("a,b,c\n1.5,-2,+3e2\n 4, 5 ,6\nNA,nan,\n1,2\n1,2,3,4\n\n1.25,x,3\r\n7,8,9\r\n1e999,1,1\n"
              "12345678901234567890123,0.1,.5\n5.,inf,-Infinity\n1.5.2,3,4\n--1,2,3\n1e,2,3\n.,1,2\n"),
    FILE_TEXT("a,b\n1,2\r3,4\n5,6\n\r\n\r7,8\n"),              /* bare CRs, a CR alone */
    FILE_TEXT("a,b\n1,2\n3,4\0005,6\n"),                      /* a NUL inside a record */
    FILE_TEXT("a,b\n1,\n,2\n,\n\n3,4"),                       /* empty cells, no last newline */
    FILE_TEXT("a\n123456789012.5\n0.000000000000000000001\n99999999\n-0\n+0.0e-5\n0x10\n"),
    FILE_TEXT("a,b\n1,\xc3\xa9\n2,3\n\"4\",5\n6,7\n"),            /* UTF-8 cell; quotes in a numeric file */
    FILE_TEXT("a,b,c\n1,2,3\t\n4,5,6 \n7,8,9,\n10,11,\"12\"\n"), /* spaces and tabs before the end */
};

/* Everything written to stderr while `capturing` (between capture_begin and capture_end). */
static int saved_fd = -1;
static FILE *captured;
static void capture_begin(void) {
    fflush(stderr);
    captured = tmpfile();
    saved_fd = dup(2);
    dup2(fileno(captured), 2);
}
static char *capture_end(void) {
    fflush(stderr);
    dup2(saved_fd, 2);
    close(saved_fd);
    long n = ftell(captured);
    char *text = calloc((size_t)(n > 0 ? n : 0) + 1, 1);
    rewind(captured);
    if (text && n > 0 && fread(text, 1, (size_t)n, captured) != (size_t)n) text[0] = '\0';
    fclose(captured);
    return text;
}

static int same_value(float a, float b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0; }

/* The columns read: every one, every other one backwards, or column 0 twice (which the
 * fast path cannot serve). */
static size_t pick_columns(int mode, size_t n_cols, long *sel) {
    size_t n = 0;
    if (mode == 0)
        for (size_t c = 0; c < n_cols; c++)
            sel[n++] = (long)c;
    else if (mode == 1)
        for (size_t c = n_cols; c-- > 0;)
            if (c % 2 == 0) sel[n++] = (long)c;
    if (mode == 2 && n_cols) sel[n++] = 0, sel[n++] = (long)(n_cols - 1), sel[n++] = 0;
    return n;
}

/* cli_csv_stream_matrix against cli_csv_read + cli_csv_matrix: the same rows, values (bits),
 * row numbers, count and text of the messages, or the same error. 0 when they agree. */
static int compare_matrix(const char *path, size_t chunk_bytes, int threads, int mode) {
    char what[600], err_w[512] = "", err_s[512] = "";
    snprintf(what, sizeof what, "%s (matrix, reads of %zu bytes, %d threads, columns %d)", path, chunk_bytes, threads,
             mode);
    cli_csv whole;
    cli_csv_stream st;
    long sel[256];
    float *x = NULL;
    size_t *ids = NULL, rows = 0, n_bad = 0, done = 0, bad_s = 0;
    int bad = 0, more = 0;
    capture_begin();
    int rw = cli_csv_read(path, &whole, err_w, sizeof err_w);
    size_t n_sel = rw == 0 && whole.n_cols <= 128 ? pick_columns(mode, whole.n_cols, sel) : 0;
    if (rw == 0 && whole.n_cols > 128) rw = 1; /* (not this test's business) */
    if (rw == 0) cli_csv_matrix(&whole, "p", path, sel, n_sel, &x, &rows, &ids, &n_bad);
    char *msg_w = capture_end();
    capture_begin();
    int rs = rw == 1 ? 1 : cli_csv_stream_open(path, chunk_bytes, &st, err_s, sizeof err_s);
    if (rs == 0) {
        const float *cx, *prev = NULL;
        const size_t *cids;
        size_t n, nb, prev_n = 0;
        float *prev_copy = NULL;
        while (!bad && (more = cli_csv_stream_matrix(&st, "p", sel, n_sel, threads, &cx, &cids, &n, &nb, err_s,
                                                     sizeof err_s)) == 1) {
            /* double buffered: the previous chunk's rows are intact after this call */
            if (prev_n && memcmp(prev, prev_copy, prev_n * n_sel * sizeof *prev) != 0)
                bad = printf("%s: the previous chunk's rows changed under the next call\n", what) > 0;
            free(prev_copy);
            prev = cx;
            prev_n = n_sel ? n : 0;
            prev_copy = malloc((prev_n ? prev_n * n_sel : 1) * sizeof *prev_copy);
            if (!prev_copy) return 1;
            if (prev_n) memcpy(prev_copy, cx, prev_n * n_sel * sizeof *cx);
            bad_s += nb;
            for (size_t r = 0; r < n && !bad; r++, done++) {
                if (rw != 0 || done >= rows) bad = 1;
                for (size_t j = 0; !bad && j < n_sel; j++)
                    bad = !same_value(cx[r * n_sel + j], x[done * n_sel + j]);
                if (!bad && cids[r] != ids[done]) bad = 1;
            }
            if (bad) printf("%s: row %zu (the stream's) differs\n", what, done + 1);
        }
        rs = more;
        free(prev_copy);
        cli_csv_stream_close(&st);
    }
    char *msg_s = capture_end();
    if (rw != 1) {
        if (!bad && (rw == 0) != (rs == 0)) bad = printf("%s: whole %d (%s), stream %d (%s)\n", what, rw, err_w, rs, err_s) > 0;
        if (!bad && rw != 0 && strcmp(err_w, err_s) != 0) bad = printf("%s: \"%s\" vs \"%s\"\n", what, err_w, err_s) > 0;
        if (!bad && rw == 0 && (done != rows || bad_s != n_bad))
            bad = printf("%s: %zu rows and %zu left out, expected %zu and %zu\n", what, done, bad_s, rows, n_bad) > 0;
        if (!bad && rw == 0 && strcmp(msg_w ? msg_w : "", msg_s ? msg_s : "") != 0)
            bad = printf("%s: messages differ:\n%s---\n%s", what, msg_w, msg_s) > 0;
    }
    if (rw == 0) cli_csv_free(&whole);
    free(x);
    free(ids);
    free(msg_w);
    free(msg_s);
    return bad;
}

static int same_rows(const cli_csv *whole, size_t *row, const cli_csv *chunk, const char *what) {
    if (chunk->row_base != *row) return printf("%s: chunk row_base %zu, expected %zu\n", what, chunk->row_base, *row), 1;
    for (size_t r = 0; r < chunk->n_rows; r++, (*row)++) {
        if (*row >= whole->n_rows) return printf("%s: more rows than the whole-file reader\n", what), 1;
        if (whole->line[*row] != chunk->line[r] || whole->n_fields[*row] != chunk->n_fields[r])
            return printf("%s: row %zu: line or width differs\n", what, *row + 1), 1;
        for (size_t c = 0; c < chunk->n_fields[r]; c++)
            if (strcmp(whole->fields[*row][c], chunk->fields[r][c]) != 0)
                return printf("%s: row %zu field %zu: \"%s\" vs \"%s\"\n", what, *row + 1, c, whole->fields[*row][c],
                              chunk->fields[r][c]), 1;
    }
    return 0;
}

/* One file, one read size: 0 when both readers agree. */
static int compare(const char *path, size_t chunk_bytes) {
    char what[512], err_w[512] = "", err_s[512] = "";
    snprintf(what, sizeof what, "%s (reads of %zu bytes)", path, chunk_bytes);
    cli_csv whole;
    cli_csv_stream st;
    int rw = cli_csv_read(path, &whole, err_w, sizeof err_w);
    int rs = cli_csv_stream_open(path, chunk_bytes, &st, err_s, sizeof err_s), bad = 0, more = 0;
    size_t row = 0;
    if (rs == 0) {
        if (rw == 0 && (st.csv.n_cols != whole.n_cols))
            bad = printf("%s: header width differs\n", what) > 0;
        for (size_t c = 0; rw == 0 && !bad && c < whole.n_cols; c++)
            if (strcmp(whole.header[c], st.csv.header[c]) || cli_csv_col(&st.csv, whole.header[c]) != (long)c)
                bad = printf("%s: header %zu differs\n", what, c) > 0;
        while (!bad && (more = cli_csv_stream_next(&st, err_s, sizeof err_s)) == 1)
            bad = rw == 0 && same_rows(&whole, &row, &st.csv, what);
        rs = more;
        cli_csv_stream_close(&st);
    }
    if (!bad && (rw == 0) != (rs == 0)) bad = printf("%s: whole %d (%s), stream %d (%s)\n", what, rw, err_w, rs, err_s) > 0;
    if (!bad && rw != 0 && strcmp(err_w, err_s) != 0) bad = printf("%s: \"%s\" vs \"%s\"\n", what, err_w, err_s) > 0;
    if (!bad && rw == 0 && row != whole.n_rows) bad = printf("%s: %zu rows, expected %zu\n", what, row, whole.n_rows) > 0;
    if (rw == 0) cli_csv_free(&whole);
    return bad;
}

static int compare_all_sizes(const char *path, long *files) {
    static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 8, 11, 13, 16, 31, 64, 100, 0};
    int bad = 0;
    (*files)++;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        bad += compare(path, sizes[i]);
        for (int mode = 0; mode < 3; mode++)
            for (int threads = 1; threads <= 3; threads++)
                bad += compare_matrix(path, sizes[i], threads, mode);
    }
    return bad;
}

int main(int argc, char **argv) {
    char dir[] = "/tmp/csv-stream-XXXXXX", path[600];
    if (!mkdtemp(dir)) return perror("mkdtemp"), 2;
    long files = 0, bad = 0;
    for (size_t i = 0; i < sizeof crafted / sizeof *crafted; i++) {
        snprintf(path, sizeof path, "%s/crafted-%zu.csv", dir, i);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(crafted[i].text, 1, crafted[i].len, f) != crafted[i].len || fclose(f) != 0) return 2;
        bad += compare_all_sizes(path, &files);
        unlink(path);
    }
    rmdir(dir);
    for (int a = 1; a < argc; a++) { /* directories of CSV files (the fuzz corpus) */
        DIR *d = opendir(argv[a]);
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (e->d_name[0] != '.') {
                snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
                bad += compare_all_sizes(path, &files);
            }
        if (d) closedir(d);
    }
    printf("csv stream: %ld files x 14 read sizes, %ld disagreements with the whole-file reader\n", files, bad);
    return bad != 0;
}
