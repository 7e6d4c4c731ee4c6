/* CSV reading for the example programs. */
#include "cli_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *slurp(const char *path, size_t *len, char *err, size_t err_len) {
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = f != stdin ? (ferror(f) != 0) : 0;
    if (f != stdin) fclose(f);
    if (!buf || bad) {
        free(buf);
        snprintf(err, err_len, "%s: read failed", path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Split one record starting at *p in place; returns the fields and advances *p past the newline. */
static char **split_record(char **p, size_t *count, size_t *lines) {
    size_t cap = 16, n = 0;
    char **out = malloc(cap * sizeof *out);
    char *s = *p, *w = s;
    *lines = 1;
    if (!out) return NULL;
    for (;;) {
        char *field = w;
        if (*s == '"') {
            s++;
            for (;;) {
                if (*s == '\0') break;
                if (*s == '"' && s[1] == '"') {
                    *w++ = '"';
                    s += 2;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    if (*s == '\n') (*lines)++;
                    *w++ = *s++;
                }
            }
        }
        while (*s && *s != ',' && *s != '\n' && *s != '\r')
            *w++ = *s++;
        char sep = *s;
        *w = '\0';
        if (n == cap) {
            char **nb = realloc(out, (cap *= 2) * sizeof *out);
            if (!nb) {
                free(out);
                return NULL;
            }
            out = nb;
        }
        out[n++] = field;
        if (sep == ',') {
            s++;
            w = s;
            continue;
        }
        /* *s may have been overwritten by the terminator: decide from sep. */
        if (sep == '\r') {
            s++;
            if (*s == '\n') s++;
        } else if (sep == '\n') {
            s++;
        }
        break;
    }
    *p = s;
    *count = n;
    return out;
}

int cli_csv_read(const char *path, cli_csv *csv, char *err, size_t err_len) {
    memset(csv, 0, sizeof *csv);
    size_t len = 0;
    csv->buf = slurp(path, &len, err, err_len);
    if (!csv->buf) return -1;
    char *p = csv->buf;
    size_t lines = 0, line_no = 1;
    if (*p == '\0') {
        snprintf(err, err_len, "%s: empty file (a header row is required)", path);
        cli_csv_free(csv);
        return -1;
    }
    csv->header = split_record(&p, &csv->n_cols, &lines);
    line_no += lines;
    size_t cap = 256;
    csv->fields = malloc(cap * sizeof *csv->fields);
    csv->n_fields = malloc(cap * sizeof *csv->n_fields);
    csv->line = malloc(cap * sizeof *csv->line);
    if (!csv->header || !csv->fields || !csv->n_fields || !csv->line) goto oom;
    while (*p) {
        if (*p == '\n' || (*p == '\r' && p[1] == '\n')) { /* blank line */
            p += *p == '\r' ? 2 : 1;
            line_no++;
            continue;
        }
        if (csv->n_rows == cap) {
            cap *= 2;
            char ***f = realloc(csv->fields, cap * sizeof *f);
            if (f) csv->fields = f;
            size_t *nf = realloc(csv->n_fields, cap * sizeof *nf);
            if (nf) csv->n_fields = nf;
            size_t *ln = realloc(csv->line, cap * sizeof *ln);
            if (ln) csv->line = ln;
            if (!f || !nf || !ln) goto oom;
        }
        csv->line[csv->n_rows] = line_no;
        csv->fields[csv->n_rows] = split_record(&p, &csv->n_fields[csv->n_rows], &lines);
        if (!csv->fields[csv->n_rows]) goto oom;
        csv->n_rows++;
        line_no += lines;
    }
    return 0;
oom:
    snprintf(err, err_len, "%s: out of memory", path);
    cli_csv_free(csv);
    return -1;
}

void cli_csv_free(cli_csv *csv) {
    if (csv->fields)
        for (size_t r = 0; r < csv->n_rows; r++)
            free(csv->fields[r]);
    free(csv->fields);
    free(csv->n_fields);
    free(csv->line);
    free(csv->header);
    free(csv->buf);
    memset(csv, 0, sizeof *csv);
}

long cli_csv_col(const cli_csv *csv, const char *name) {
    for (size_t c = 0; c < csv->n_cols; c++)
        if (strcmp(csv->header[c], name) == 0) return (long)c;
    return -1;
}

int cli_parse_float(const char *s, float *out) {
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0' || strcasecmp(s, "NA") == 0 || strcasecmp(s, "NaN") == 0 || strcmp(s, "null") == 0) {
        *out = NAN;
        return 0;
    }
    char *end = NULL;
    errno = 0;
    float v = strtof(s, &end);
    if (end == s) return -1;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end != '\0') return -1;
    if (errno == ERANGE && isinf(v)) return -1;
    *out = v;
    return 0;
}

int cli_csv_matrix(const cli_csv *csv, const char *prog, const char *path, const long *sel, size_t n_sel,
                   float **x, size_t *n_rows, size_t **row_ids, size_t *n_bad) {
    size_t width = sel ? n_sel : csv->n_cols;
    float *m = malloc((csv->n_rows ? csv->n_rows : 1) * (width ? width : 1) * sizeof *m);
    size_t *ids = malloc((csv->n_rows ? csv->n_rows : 1) * sizeof *ids);
    if (!m || !ids) {
        free(m);
        free(ids);
        fprintf(stderr, "%s: %s: out of memory\n", prog, path);
        return -1;
    }
    size_t kept = 0, bad = 0;
    for (size_t r = 0; r < csv->n_rows; r++) {
        if (csv->n_fields[r] != csv->n_cols) {
            fprintf(stderr, "%s: %s row %zu (line %zu): expected %zu columns, got %zu; row skipped\n", prog,
                    path, r + 1, csv->line[r], csv->n_cols, csv->n_fields[r]);
            bad++;
            continue;
        }
        int ok = 1;
        for (size_t j = 0; j < width; j++) {
            size_t c = sel ? (size_t)sel[j] : j;
            if (cli_parse_float(csv->fields[r][c], &m[kept * width + j]) != 0) {
                fprintf(stderr, "%s: %s row %zu, column %s: not a number: \"%s\"; row skipped\n", prog, path,
                        r + 1, csv->header[c], csv->fields[r][c]);
                ok = 0;
                break;
            }
        }
        if (!ok) {
            bad++;
            continue;
        }
        ids[kept++] = r + 1;
    }
    *x = m;
    *n_rows = kept;
    *row_ids = ids;
    *n_bad = bad;
    return 0;
}
