/* The chunked CSV reader (cli_csv_stream, examples/cli_util.c) against the whole-file
 * one (cli_csv_read) on every file given (the fuzz corpus) and on crafted files, with
 * read sizes from 1 byte up: same header, rows, fields, file lines and row numbers,
 * or the same error message (issue 26). Prints the disagreements; exit 1 if any. */
#include <dirent.h>
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
};

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
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        bad += compare(path, sizes[i]);
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
