/* CSV reading and strict number parsing for the example programs. */
#include "cli_util.h"

#include "mlops/schema.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Open a CSV for reading: stdin for "-", otherwise a regular file only
 * (O_NONBLOCK first, so a FIFO given by mistake fails instead of hanging). */
static int open_input(const char *path, int limit_size, char *err, size_t err_len) {
    if (strcmp(path, "-") == 0) return STDIN_FILENO;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, err_len, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (limit_size && (unsigned long long)st.st_size > (unsigned long long)CLI_CSV_MAX_BYTES) {
        snprintf(err, err_len, "%s: %lld bytes is more than the limit of %zu", path, (long long)st.st_size,
                 CLI_CSV_MAX_BYTES);
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

static char *slurp(const char *path, size_t *len, char *err, size_t err_len) {
    int fd = open_input(path, 1, err, err_len);
    if (fd < 0) return NULL;
    struct stat st;
    size_t cap = 1 << 16, n = 0;
    if (fd != STDIN_FILENO && fstat(fd, &st) == 0 && st.st_size > 0) cap = (size_t)st.st_size + 2;
    char *buf = malloc(cap);
    int e = 0;
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = cap <= CLI_CSV_MAX_BYTES ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) e = errno;
        if (got <= 0) break;
        n += (size_t)got;
    }
    if (fd != STDIN_FILENO) close(fd);
    if (!buf || e) {
        free(buf);
        snprintf(err, err_len, "%s: %s", path, e ? strerror(e) : "out of memory (or larger than the limit)");
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

enum { REC_OK = 0, REC_OOM = 1, REC_UNTERMINATED = 2, REC_AFTER_QUOTE = 3 };

/* Split one record starting at *p in place; advances *p past the newline and
 * counts the file lines it spans in *lines. Fields go to *out (allocated, room
 * for cap_hint fields first: the header's width). */
static int split_record(char **p, char ***out_fields, size_t *count, size_t *lines, size_t cap_hint) {
    size_t cap = cap_hint > 16 ? cap_hint : 16, n = 0;
    char **out = malloc(cap * sizeof *out);
    char *s = *p, *w = s;
    *lines = 1;
    if (!out) return REC_OOM;
    for (;;) {
        char *field = w;
        if (*s == '"') {
            s++;
            for (;;) {
                if (*s == '\0') {
                    free(out);
                    return REC_UNTERMINATED;
                }
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
            if (*s && *s != ',' && *s != '\n' && *s != '\r') {
                free(out);
                return REC_AFTER_QUOTE;
            }
        }
        if (w == s) { /* nothing unquoted moved yet: scan without copying */
            while (*s && *s != ',' && *s != '\n' && *s != '\r')
                s++;
            w = s;
        } else {
            while (*s && *s != ',' && *s != '\n' && *s != '\r')
                *w++ = *s++;
        }
        char sep = *s;
        *w = '\0';
        if (n == cap) {
            char **nb = realloc(out, (cap *= 2) * sizeof *out);
            if (!nb) {
                free(out);
                return REC_OOM;
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
    *out_fields = out;
    return REC_OK;
}

static int record_error(int rc, const char *path, size_t line, char *err, size_t err_len) {
    if (rc == REC_UNTERMINATED)
        snprintf(err, err_len, "%s line %zu: a quoted field is never closed (missing '\"')", path, line);
    else if (rc == REC_AFTER_QUOTE)
        snprintf(err, err_len, "%s line %zu: text after the closing quote of a field (quote it all, '\"\"' for a quote)",
                 path, line);
    else
        snprintf(err, err_len, "%s: out of memory", path);
    return -1;
}

static uint64_t hash_name(const char *s) {
    uint64_t h = 14695981039346656037ull; /* FNV-1a 64 */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* Build the header index; -1 with a message on a duplicate name. */
static int index_header(cli_csv *csv, const char *path, char *err, size_t err_len) {
    size_t cap = 16;
    while (cap < 2 * csv->n_cols)
        cap *= 2;
    csv->index = calloc(cap, sizeof *csv->index);
    if (!csv->index) return snprintf(err, err_len, "%s: out of memory", path), -1;
    csv->index_cap = cap;
    for (size_t c = 0; c < csv->n_cols; c++) {
        size_t i = (size_t)hash_name(csv->header[c]) & (cap - 1);
        for (; csv->index[i]; i = (i + 1) & (cap - 1))
            if (strcmp(csv->header[csv->index[i] - 1], csv->header[c]) == 0) {
                snprintf(err, err_len, "%s: column name \"%s\" appears twice in the header (columns %zu and %zu)",
                         path, csv->header[c], csv->index[i], c + 1);
                return -1;
            }
        csv->index[i] = c + 1;
    }
    return 0;
}

/* Room for one more row in csv's row arrays; REC_OK or REC_OOM. */
static int grow_rows(cli_csv *csv) {
    if (csv->n_rows < csv->rows_cap) return REC_OK;
    size_t cap = csv->rows_cap ? csv->rows_cap * 2 : 256;
    char ***f = realloc(csv->fields, cap * sizeof *f);
    if (f) csv->fields = f;
    size_t *nf = realloc(csv->n_fields, cap * sizeof *nf);
    if (nf) csv->n_fields = nf;
    size_t *ln = realloc(csv->line, cap * sizeof *ln);
    if (ln) csv->line = ln;
    if (!f || !nf || !ln) return REC_OOM;
    csv->rows_cap = cap;
    return REC_OK;
}

/* Split the records from *p up to the NUL into csv's rows (after those it has),
 * skipping blank lines; *line_no is the file line of *p and moves on. */
static int split_rows(cli_csv *csv, char **p, size_t *line_no) {
    char *s = *p;
    int rc = REC_OK;
    size_t lines = 0;
    while (*s) {
        if (*s == '\n' || (*s == '\r' && s[1] == '\n')) { /* blank line */
            s += *s == '\r' ? 2 : 1;
            (*line_no)++;
            continue;
        }
        if ((rc = grow_rows(csv)) != REC_OK) break;
        csv->line[csv->n_rows] = *line_no;
        rc = split_record(&s, &csv->fields[csv->n_rows], &csv->n_fields[csv->n_rows], &lines, csv->n_cols);
        if (rc) break;
        csv->n_rows++;
        *line_no += lines;
    }
    *p = s;
    return rc;
}

int cli_csv_read(const char *path, cli_csv *csv, char *err, size_t err_len) {
    memset(csv, 0, sizeof *csv);
    size_t len = 0;
    csv->buf = slurp(path, &len, err, err_len);
    if (!csv->buf) return -1;
    char *p = csv->buf;
    if ((unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF) p += 3;
    size_t lines = 0, line_no = 1;
    if (*p == '\0') {
        snprintf(err, err_len, "%s: empty file (a header row is required)", path);
        cli_csv_free(csv);
        return -1;
    }
    int rc = split_record(&p, &csv->header, &csv->n_cols, &lines, 0);
    if (rc) goto bad_record;
    if (index_header(csv, path, err, err_len)) goto fail;
    line_no += lines;
    rc = split_rows(csv, &p, &line_no);
    if (rc) goto bad_record;
    return 0;
bad_record:
    record_error(rc, path, line_no, err, err_len);
fail:
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
    free(csv->index);
    free(csv->header_buf);
    free(csv->buf);
    memset(csv, 0, sizeof *csv);
}

long cli_csv_col(const cli_csv *csv, const char *name) {
    if (!csv->index_cap) return -1;
    for (size_t i = (size_t)hash_name(name) & (csv->index_cap - 1); csv->index[i];
         i = (i + 1) & (csv->index_cap - 1))
        if (strcmp(csv->header[csv->index[i] - 1], name) == 0) return (long)csv->index[i] - 1;
    return -1;
}

int cli_csv_check_ragged(const cli_csv *csv, const char *path, char *err, size_t err_len) {
    for (size_t r = 0; r < csv->n_rows; r++)
        if (csv->n_fields[r] != csv->n_cols) {
            snprintf(err, err_len, "%s row %zu (line %zu): expected %zu columns, got %zu", path, csv->row_base + r + 1,
                     csv->line[r], csv->n_cols, csv->n_fields[r]);
            return -1;
        }
    return 0;
}

int cli_is_missing(const char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return n == 0 || (n == 2 && strncasecmp(s, "NA", 2) == 0) || (n == 3 && strncasecmp(s, "NaN", 3) == 0) ||
           (n == 4 && strncmp(s, "null", 4) == 0);
}

static int is_infinity(const char *s, const char *end) {
    if (s < end && (*s == '+' || *s == '-')) s++;
    size_t n = (size_t)(end - s);
    return (n == 3 && strncasecmp(s, "inf", 3) == 0) || (n == 8 && strncasecmp(s, "infinity", 8) == 0);
}

/* The cell without surrounding spaces and tabs: returns its start, *end its end. */
static const char *trim_cell(const char *s, const char **end) {
    while (*s == ' ' || *s == '\t')
        s++;
    const char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *end = e;
    return s;
}

/* Not a decimal: missing (NaN), an infinity, or -1. */
static int parse_word(const char *s, const char *end, double *out) {
    size_t n = (size_t)(end - s);
    if (n == 0 || (n == 2 && strncasecmp(s, "NA", 2) == 0) || (n == 3 && strncasecmp(s, "NaN", 3) == 0) ||
        (n == 4 && strncmp(s, "null", 4) == 0)) {
        *out = NAN;
        return 0;
    }
    if (!is_infinity(s, end)) return -1;
    *out = *s == '-' ? -INFINITY : INFINITY;
    return 0;
}

/* 1 if a byte of [s, end) is in set. */
static int has_any(const char *s, const char *end, const char *set) {
    for (; s < end; s++)
        if (*s && strchr(set, *s)) return 1;
    return 0;
}

/* A trimmed cell [s, end) that is not one of our words by the library's exact parser, read as a
 * one-field CSV row (values exactly as strtof/strtod). What it would take as CSV syntax (quotes,
 * commas) or as its own words (nan, inf with a sign) is not a number here. 0, or -1. */
static int lib_number(const char *s, const char *end, float *f, double *d) {
    size_t n = (size_t)(end - s), rows = 0;
    if (n == 0 || has_any(s, end, "\",nNiI")) return -1;
    mlops_status st = d ? mlops_schema_parse_csv_f64(s, n, 1, NULL, 0, NULL, d, 1, &rows, NULL)
                        : mlops_schema_parse_csv(s, n, 1, NULL, 0, NULL, f, 1, &rows, NULL);
    return st == MLOPS_OK && rows == 1 ? 0 : -1;
}

/* -2 with the infinity it overflows to when [s, end) is a decimal beyond a double (strtod reads it
 * whole, ERANGE, not hex), else -1. */
static int overflow(const char *s, const char *end, double *out) {
    char *stop;
    errno = 0;
    double v = strtod(s, &stop);
    if (stop != end || errno != ERANGE || !isinf(v) || has_any(s, end, "xX")) return -1;
    *out = v;
    return -2;
}

int cli_parse_double(const char *s, double *out) {
    const char *end;
    s = trim_cell(s, &end);
    if (parse_word(s, end, out) == 0) return 0;
    return lib_number(s, end, NULL, out) == 0 ? 0 : overflow(s, end, out); /* -2: 1e999, out of range */
}

int cli_parse_float(const char *s, float *out) {
    const char *end;
    s = trim_cell(s, &end);
    double d;
    if (parse_word(s, end, &d) == 0) return *out = (float)d, 0;
    return lib_number(s, end, out, NULL); /* beyond float's range: refused */
}

const char *cli_violation_detail(const char *msg) {
    if (strncmp(msg, "row ", 4) != 0) return msg;
    const char *p = msg + 4;
    while (*p >= '0' && *p <= '9')
        p++;
    return (p > msg + 4 && p[0] == ':' && p[1] == ' ') ? p + 2 : msg;
}

/* One parser thread's rows [lo, hi): values at row r's place (not compacted) and
 * status[r]: 0 parsed, 1 ragged, 2 + j the selected column j that is not a number. */
typedef struct matrix_part {
    const cli_csv *csv;
    const long *sel;
    size_t width, lo, hi;
    float *m;
    size_t *status;
} matrix_part;

static void *parse_part(void *arg) {
    const matrix_part *t = arg;
    const cli_csv *csv = t->csv;
    for (size_t r = t->lo; r < t->hi; r++) {
        t->status[r] = csv->n_fields[r] != csv->n_cols;
        for (size_t j = 0; j < t->width && !t->status[r]; j++)
            if (cli_parse_float(csv->fields[r][t->sel ? (size_t)t->sel[j] : j], &t->m[r * t->width + j]) != 0)
                t->status[r] = 2 + j;
    }
    return NULL;
}

/* parse_part over n_threads threads (the caller's thread is one of them). */
static void parse_parallel(matrix_part *whole, int n_threads) {
    enum { MAX_THREADS = 64 };
    matrix_part parts[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    size_t n = whole->hi, k = n_threads < 1 ? 1 : n_threads > MAX_THREADS ? MAX_THREADS : (size_t)n_threads;
    for (size_t i = 0; i < k; i++) {
        parts[i] = *whole;
        parts[i].lo = n * i / k;
        parts[i].hi = n * (i + 1) / k;
        if (i > 0) started[i] = pthread_create(&tid[i], NULL, parse_part, &parts[i]) == 0;
    }
    parse_part(&parts[0]);
    for (size_t i = 1; i < k; i++) {
        if (started[i]) pthread_join(tid[i], NULL);
        else parse_part(&parts[i]); /* no thread: this one does it */
    }
}

/* The message for a skipped row: status 1 ragged (n_fields wide), 2 + j the selected column j
 * not a number (its text). */
static void report_bad_row(const char *prog, const char *path, const cli_csv *csv, size_t row, size_t line,
                           size_t status, size_t n_fields, const char *text, const long *sel) {
    if (status == 1) {
        fprintf(stderr, "%s: %s row %zu (line %zu): expected %zu columns, got %zu; row skipped\n", prog, path, row,
                line, csv->n_cols, n_fields);
        return;
    }
    size_t c = sel ? (size_t)sel[status - 2] : status - 2;
    fprintf(stderr, "%s: %s row %zu (line %zu), column %s: not a number: \"%s\"; row skipped\n", prog, path, row,
            line, csv->header[c], text);
}

int cli_csv_matrix(const cli_csv *csv, const char *prog, const char *path, const long *sel, size_t n_sel,
                   float **x, size_t *n_rows, size_t **row_ids, size_t *n_bad) {
    return cli_csv_matrix_mt(csv, prog, path, sel, n_sel, x, n_rows, row_ids, n_bad, 1);
}

int cli_csv_matrix_mt(const cli_csv *csv, const char *prog, const char *path, const long *sel, size_t n_sel,
                      float **x, size_t *n_rows, size_t **row_ids, size_t *n_bad, int n_threads) {
    size_t width = sel ? n_sel : csv->n_cols, rows = csv->n_rows ? csv->n_rows : 1;
    float *m = malloc(rows * (width ? width : 1) * sizeof *m);
    size_t *ids = malloc(rows * sizeof *ids), *status = malloc(rows * sizeof *status);
    if (!m || !ids || !status) {
        free(m);
        free(ids);
        free(status);
        fprintf(stderr, "%s: %s: out of memory\n", prog, path);
        return -1;
    }
    matrix_part whole = {csv, sel, width, 0, csv->n_rows, m, status};
    parse_parallel(&whole, n_threads);
    size_t kept = 0, bad = 0;
    for (size_t r = 0; r < csv->n_rows; r++) {
        if (status[r]) {
            size_t c = status[r] == 1 ? 0 : sel ? (size_t)sel[status[r] - 2] : status[r] - 2;
            report_bad_row(prog, path, csv, csv->row_base + r + 1, csv->line[r], status[r], csv->n_fields[r],
                           status[r] == 1 ? NULL : csv->fields[r][c], sel);
        } else {
            if (kept != r) memmove(m + kept * width, m + r * width, width * sizeof *m);
            ids[kept++] = csv->row_base + r + 1;
            continue;
        }
        bad++;
    }
    free(status);
    *x = m;
    *n_rows = kept;
    *row_ids = ids;
    *n_bad = bad;
    return 0;
}

/* Bytes after the last record end ('\n' outside a quoted field) in b[0, n), or 0. */
static size_t find_cut(const char *b, size_t n) {
    if (!memchr(b, '"', n)) {
        const char *nl = memrchr(b, '\n', n);
        return nl ? (size_t)(nl - b) + 1 : 0;
    }
    size_t cut = 0;
    int at_start = 1, quoted = 0;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (quoted) {
            if (c != '"') continue;
            if (i + 1 == n) break; /* "" or a closing quote: the next block tells */
            if (b[i + 1] == '"') i++;
            else quoted = 0;
        } else if (c == '"' && at_start) {
            quoted = 1;
            at_start = 0;
        } else {
            at_start = c == ',' || c == '\n' || c == '\r'; /* a bare CR ends a record too */
            if (c == '\n') cut = i + 1;
        }
    }
    return cut;
}

/* Move the unsplit bytes to the front and read until the buffer is full or the input ends. */
static int stream_fill(cli_csv_stream *st, char *err, size_t err_len) {
    if (st->pos) {
        st->buf[st->pos] = st->saved;
        memmove(st->buf, st->buf + st->pos, st->len - st->pos);
        st->len -= st->pos;
        st->pos = 0;
    }
    while (!st->eof && st->len + 1 < st->cap) {
        ssize_t got = read(st->fd, st->buf + st->len, st->cap - 1 - st->len);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return snprintf(err, err_len, "%s: %s", st->path, strerror(errno)), -1;
        if (got == 0) st->eof = 1;
        st->len += (size_t)(got > 0 ? got : 0);
    }
    st->buf[st->len] = '\0'; /* the splitter reads C strings (len < cap: one byte is kept for this) */
    return 0;
}

static int has_bom(const char *p, size_t n) {
    return n >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF;
}

/* Fill until the buffer holds a whole record (growing it for a long one): its end, or 0 at
 * the end. At the header (`first`), a byte order mark is not part of the first field. */
static int stream_cut(cli_csv_stream *st, int first, size_t *cut, char *err, size_t err_len) {
    for (;;) {
        if (stream_fill(st, err, err_len)) return -1;
        size_t skip = first && has_bom(st->buf, st->len) ? 3 : 0, c = find_cut(st->buf + skip, st->len - skip);
        *cut = st->eof ? st->len : c ? c + skip : 0;
        if (*cut || st->len == 0) return 0;
        char *nb = st->cap <= CLI_CSV_MAX_BYTES ? realloc(st->buf, st->cap * 2) : NULL;
        if (!nb) return snprintf(err, err_len, "%s line %zu: a record longer than the limit (or out of memory)",
                                 st->path, st->line_no), -1;
        st->buf = nb;
        st->cap *= 2;
    }
}

/* The header names copied out of the buffer (which the next chunk reuses). */
static int keep_header(cli_csv *csv) {
    size_t total = 0;
    for (size_t c = 0; c < csv->n_cols; c++)
        total += strlen(csv->header[c]) + 1;
    char *w = csv->header_buf = malloc(total ? total : 1);
    if (!w) return -1;
    for (size_t c = 0; c < csv->n_cols; c++) {
        size_t n = strlen(csv->header[c]) + 1;
        memcpy(w, csv->header[c], n);
        csv->header[c] = w;
        w += n;
    }
    return 0;
}

static int stream_header(cli_csv_stream *st, char *err, size_t err_len) {
    size_t cut, lines = 0;
    if (stream_cut(st, 1, &cut, err, err_len)) return -1;
    char *p = st->buf + (has_bom(st->buf, st->len) ? 3 : 0);
    if (p == st->buf + cut || *p == '\0') /* a NUL ends the input, as in cli_csv_read */
        return snprintf(err, err_len, "%s: empty file (a header row is required)", st->path), -1;
    char saved = st->buf[cut];
    st->buf[cut] = '\0';
    int rc = split_record(&p, &st->csv.header, &st->csv.n_cols, &lines, 0);
    if (rc) return record_error(rc, st->path, 1, err, err_len);
    if (keep_header(&st->csv)) return snprintf(err, err_len, "%s: out of memory", st->path), -1;
    st->buf[cut] = saved;
    st->pos = (size_t)(p - st->buf);
    st->saved = st->buf[st->pos];
    st->line_no = 1 + lines;
    return index_header(&st->csv, st->path, err, err_len);
}

int cli_csv_stream_open(const char *path, size_t chunk_bytes, cli_csv_stream *st, char *err, size_t err_len) {
    memset(st, 0, sizeof *st);
    st->path = path;
    st->fd = open_input(path, 0, err, err_len);
    if (st->fd < 0) return -1;
    st->cap = (chunk_bytes ? chunk_bytes : CLI_CSV_CHUNK_BYTES) + 1; /* + the terminator */
    st->buf = malloc(st->cap);
    if (!st->buf) snprintf(err, err_len, "%s: out of memory", path);
    if (!st->buf || stream_header(st, err, err_len) != 0) {
        cli_csv_stream_close(st);
        return -1;
    }
    return 0;
}

/* Free the previous chunk's rows and cut the next chunk, terminated in place at *cut:
 * 1, 0 at the end, -1 with a message in err. */
static int stream_take(cli_csv_stream *st, size_t *cut, char *err, size_t err_len) {
    cli_csv *csv = &st->csv;
    for (size_t r = 0; r < csv->n_rows; r++)
        free(csv->fields[r]);
    csv->row_base += csv->n_rows;
    csv->n_rows = 0;
    if (st->stopped) return 0;
    if (stream_cut(st, 0, cut, err, err_len) != 0) return -1;
    if (st->len == 0) return 0;
    st->saved = st->buf[*cut];
    st->buf[*cut] = '\0';
    st->pos = *cut;
    return 1;
}

/* The taken chunk's records into st->csv's rows: 1, or -1 with a message in err. */
static int split_chunk(cli_csv_stream *st, size_t cut, char *err, size_t err_len) {
    char *p = st->buf;
    int rc = split_rows(&st->csv, &p, &st->line_no);
    if (rc) return record_error(rc, st->path, st->line_no, err, err_len);
    st->stopped = p < st->buf + cut; /* a NUL byte ends the input, as in cli_csv_read */
    return 1;
}

int cli_csv_stream_next(cli_csv_stream *st, char *err, size_t err_len) {
    size_t cut;
    int rc = stream_take(st, &cut, err, err_len);
    return rc == 1 ? split_chunk(st, cut, err, err_len) : rc;
}

/* ---- numeric chunks (cli_csv_stream_matrix): rows straight to floats ----
 * A chunk without quotes has a record end at every '\n', so it is cut there into one
 * part per thread. Each part goes to the library's CSV parser (mlops_schema_parse_csv:
 * plain decimals and empty cells, exactly the header's width, values exactly as strtof)
 * straight into the part's matrix; a record it refuses (spaces, NA, null, ragged, bad
 * cells) is copied out, split by split_record and parsed by cli_parse_float, exactly as
 * cli_csv_matrix would, and the parser resumes after it. Parts never write to the chunk. */

/* A left-out record of a part: its index and line (from the part's start), status
 * (1 ragged, 2 + j column j not a number), width and the bad cell (offset in text). */
typedef struct num_bad {
    size_t rec, line, status, n_fields, text;
} num_bad;

/* One thread's share of a chunk; the arrays grow and are kept for the next chunk. */
typedef struct num_part {
    const char *lo, *hi;         /* its records; *hi is '\0' or follows a '\n' */
    const struct cli_csv_numeric *num;
    float *x;                    /* rows kept, width floats each (room for cap_x floats) */
    size_t *rec, n_ok, cap_ok;   /* the record index of each (room for cap_ok) */
    size_t cap_x;
    num_bad *bad;
    size_t n_bad, cap_bad;
    char *text, *scratch;        /* bad cells; a copy of the record being split */
    size_t text_len, text_cap, scratch_cap;
    size_t n_rec, lines;         /* records and file lines gone through */
    int oom;
} num_part;

enum { NUM_MAX_THREADS = 64 };

/* Rows for the caller: room for cap floats and ids_cap row numbers. */
typedef struct num_out {
    float *x;
    size_t *ids, cap, ids_cap;
} num_out;

struct cli_csv_numeric {
    const cli_csv *csv;
    const long *sel;
    size_t width;
    size_t *cols; /* sel as the library takes it */
    int fast;     /* 0 when sel names a column twice (then every chunk is split) */
    num_part parts[NUM_MAX_THREADS];
    num_out out;  /* the chunk's rows, returned to the caller */
    num_out spare; /* the previous chunk's (the caller may still read them): swapped in next */
};

/* The previous chunk's buffers become the current ones (double buffering). */
static void swap_outputs(struct cli_csv_numeric *num) {
    num_out t = num->out;
    num->out = num->spare;
    num->spare = t;
}

/* Grow *p (elements of `size`, *cap of them) to hold `need`; 0 or -1. */
static int grow(void *p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    void *nb = realloc(*(void **)p, n * size);
    if (!nb) return -1;
    *(void **)p = nb;
    *cap = n;
    return 0;
}

/* The record at p the way cli_csv_matrix reads it: 0 kept, else its status (-1 out of
 * memory); *next after it, *n_fields its width, *cell the bad cell (in t->scratch). */
static long slow_record(num_part *t, const char *p, const char **next, float *row, size_t *n_fields,
                        const char **cell) {
    const cli_csv *csv = t->num->csv;
    const char *e = p;
    while (*e && *e != '\n' && *e != '\r')
        e++;
    *next = e + (*e == '\r' && e[1] == '\n' ? 2 : *e ? 1 : 0);
    size_t n = (size_t)(e - p);
    if (grow(&t->scratch, &t->scratch_cap, n + 1, 1)) return -1;
    memcpy(t->scratch, p, n);
    t->scratch[n] = '\0';
    char *s = t->scratch, **fields;
    size_t lines;
    if (split_record(&s, &fields, n_fields, &lines, csv->n_cols) != REC_OK) return -1;
    long status = *n_fields != csv->n_cols;
    for (size_t j = 0; j < t->num->width && !status; j++) {
        *cell = fields[t->num->sel[j]];
        if (cli_parse_float(*cell, &row[j]) != 0) status = 2 + (long)j;
    }
    free(fields);
    return status;
}

/* Note a left-out record (its bad cell copied into the part's text). */
static int add_bad(num_part *t, size_t line, long status, size_t n_fields, const char *cell) {
    size_t n = status > 1 ? strlen(cell) + 1 : 0;
    if (grow(&t->bad, &t->cap_bad, t->n_bad + 1, sizeof *t->bad) || grow(&t->text, &t->text_cap, t->text_len + n, 1))
        return -1;
    t->bad[t->n_bad++] = (num_bad){t->n_rec, line, (size_t)status, n_fields, t->text_len};
    if (n) memcpy(t->text + t->text_len, cell, n);
    t->text_len += n;
    return 0;
}

static void *parse_numeric_part(void *arg) {
    num_part *t = arg;
    size_t width = t->num->width, n_cols = t->num->csv->n_cols;
    const char *p = t->lo;
    t->n_ok = t->n_bad = t->text_len = t->n_rec = t->lines = 0;
    t->oom = 0;
    /* room for the most rows the part can hold: a record takes at least n_cols bytes */
    size_t max_rows = (size_t)(t->hi - t->lo) / (n_cols ? n_cols : 1) + 1;
    if (grow(&t->x, &t->cap_x, max_rows * (width ? width : 1), sizeof *t->x) ||
        grow(&t->rec, &t->cap_ok, max_rows, sizeof *t->rec))
        return t->oom = 1, NULL;
    while (p < t->hi) {
        size_t rows = 0, used = 0, line = 1;
        mlops_status st = mlops_schema_parse_csv(p, (size_t)(t->hi - p), n_cols, t->num->cols, width, &line,
                                                 t->x + t->n_ok * width, t->cap_x - t->n_ok * width, &rows, &used);
        for (size_t r = 0; r < rows; r++)
            t->rec[t->n_ok + r] = t->n_rec + r;
        t->n_ok += rows;
        t->n_rec += rows;
        t->lines += line - 1; /* blank lines too */
        p += used;
        if (st == MLOPS_OK) break;
        if (st != MLOPS_EFORMAT) return t->oom = 1, NULL; /* out of memory (the rows always fit) */
        float *row = t->x + t->n_ok * width;
        const char *next, *cell = NULL;
        size_t n_fields = 0;
        long status = slow_record(t, p, &next, row, &n_fields, &cell);
        if (status < 0 || (status > 0 && add_bad(t, t->lines, status, n_fields, cell))) return t->oom = 1, NULL;
        if (status == 0) t->rec[t->n_ok++] = t->n_rec;
        t->n_rec++;
        t->lines++;
        p = next;
    }
    return NULL;
}

/* The stream's numeric state for these columns (made on the first call). */
static struct cli_csv_numeric *numeric_state(cli_csv_stream *st, const long *sel, size_t n_sel) {
    struct cli_csv_numeric *num = st->num;
    if (num) return num;
    if (!(num = st->num = calloc(1, sizeof *num))) return NULL;
    num->csv = &st->csv;
    num->sel = sel;
    num->width = n_sel;
    num->fast = 1;
    if (!(num->cols = malloc((n_sel ? n_sel : 1) * sizeof *num->cols))) return NULL;
    for (size_t j = 0; j < n_sel; j++) {
        num->cols[j] = (size_t)sel[j];
        for (size_t i = 0; i < j; i++)
            if (sel[i] == sel[j]) num->fast = 0;
    }
    return num;
}

static void numeric_free(struct cli_csv_numeric *num) {
    if (!num) return;
    for (size_t i = 0; i < NUM_MAX_THREADS; i++) {
        num_part *t = &num->parts[i];
        free(t->x);
        free(t->rec);
        free(t->bad);
        free(t->text);
        free(t->scratch);
    }
    free(num->cols);
    free(num->out.x);
    free(num->out.ids);
    free(num->spare.x);
    free(num->spare.ids);
    free(num);
}

/* Bytes [lo, hi) in k parts ending after a '\n' (the last at hi); the number of parts. */
static size_t cut_parts(struct cli_csv_numeric *num, const char *lo, const char *hi, size_t k) {
    size_t n = 0;
    for (const char *p = lo; p < hi && n < k; n++) {
        const char *e = n + 1 == k ? hi : lo + (size_t)(hi - lo) * (n + 1) / k;
        const char *nl = e < p ? p : e;
        nl = nl < hi ? memchr(nl, '\n', (size_t)(hi - nl)) : NULL;
        e = n + 1 == k || !nl ? hi : nl + 1;
        num->parts[n].lo = p;
        num->parts[n].hi = e;
        num->parts[n].num = num;
        p = e;
    }
    return n;
}

/* The parts in threads (the caller's thread runs the first). */
static void run_parts(struct cli_csv_numeric *num, size_t k) {
    pthread_t tid[NUM_MAX_THREADS];
    int started[NUM_MAX_THREADS] = {0};
    for (size_t i = 1; i < k; i++)
        started[i] = pthread_create(&tid[i], NULL, parse_numeric_part, &num->parts[i]) == 0;
    parse_numeric_part(&num->parts[0]);
    for (size_t i = 1; i < k; i++) {
        if (started[i]) pthread_join(tid[i], NULL);
        else parse_numeric_part(&num->parts[i]);
    }
}

/* The parts' rows into num->out.x and num->out.ids in order, their messages on stderr; the
 * stream's row and line counts move past the chunk. 0, or -1 out of memory. */
static int merge_parts(cli_csv_stream *st, struct cli_csv_numeric *num, size_t k, const char *prog, size_t *n_rows,
                       size_t *n_bad) {
    size_t total = 0, w = num->width;
    for (size_t i = 0; i < k; i++) {
        if (num->parts[i].oom) return -1;
        total += num->parts[i].n_ok;
    }
    if (k == 1) { /* one part: its rows become the output as they are (out is not the caller's now) */
        float *t = num->out.x;
        size_t cap = num->out.cap;
        num->out.x = num->parts[0].x;
        num->out.cap = num->parts[0].cap_x;
        num->parts[0].x = t;
        num->parts[0].cap_x = cap;
    }
    if (grow(&num->out.x, &num->out.cap, total * (w ? w : 1), sizeof *num->out.x)) return -1;
    if (grow(&num->out.ids, &num->out.ids_cap, total, sizeof *num->out.ids)) return -1;
    size_t kept = 0, bad = 0;
    for (size_t i = 0; i < k; i++) {
        const num_part *t = &num->parts[i];
        for (size_t b = 0; b < t->n_bad; b++) {
            const num_bad *nb = &t->bad[b];
            report_bad_row(prog, st->path, &st->csv, st->csv.row_base + nb->rec + 1, st->line_no + nb->line,
                           nb->status, nb->n_fields, nb->status > 1 ? t->text + nb->text : NULL, num->sel);
        }
        if (t->n_ok && w && k > 1) memcpy(num->out.x + kept * w, t->x, t->n_ok * w * sizeof *num->out.x);
        for (size_t r = 0; r < t->n_ok; r++)
            num->out.ids[kept + r] = st->csv.row_base + t->rec[r] + 1;
        kept += t->n_ok;
        bad += t->n_bad;
        st->csv.row_base += t->n_rec;
        st->line_no += t->lines;
    }
    *n_rows = kept;
    *n_bad = bad;
    return 0;
}

/* A chunk with quotes (or columns selected twice): split, then cli_csv_matrix_mt. */
static int split_matrix(cli_csv_stream *st, struct cli_csv_numeric *num, size_t cut, const char *prog, int n_threads,
                        size_t *n_rows, size_t *n_bad, char *err, size_t err_len) {
    if (split_chunk(st, cut, err, err_len) < 0) return -1;
    float *x;
    size_t *ids;
    if (cli_csv_matrix_mt(&st->csv, prog, st->path, num->sel, num->width, &x, n_rows, &ids, n_bad, n_threads) != 0)
        return snprintf(err, err_len, "%s: out of memory", st->path), -1;
    free(num->out.x);
    free(num->out.ids);
    num->out.x = x;
    num->out.ids = ids;
    num->out.ids_cap = st->csv.n_rows ? st->csv.n_rows : 1;
    num->out.cap = num->out.ids_cap * (num->width ? num->width : 1);
    return 1;
}

int cli_csv_stream_matrix(cli_csv_stream *st, const char *prog, const long *sel, size_t n_sel, int n_threads,
                          const float **x, const size_t **row_ids, size_t *n_rows, size_t *n_bad, char *err,
                          size_t err_len) {
    struct cli_csv_numeric *num = numeric_state(st, sel, n_sel);
    if (!num) return snprintf(err, err_len, "%s: out of memory", st->path), -1;
    size_t cut;
    *n_rows = *n_bad = 0;
    swap_outputs(num);
    int rc = stream_take(st, &cut, err, err_len);
    if (rc != 1) return rc;
    const char *nul = memchr(st->buf, '\0', cut), *end = nul ? nul : st->buf + cut;
    if (!num->fast || memchr(st->buf, '"', (size_t)(end - st->buf))) {
        rc = split_matrix(st, num, cut, prog, n_threads, n_rows, n_bad, err, err_len);
    } else {
        st->stopped = nul != NULL; /* a NUL byte ends the input, as in cli_csv_read */
        size_t k = n_threads < 1 ? 1 : n_threads > NUM_MAX_THREADS ? NUM_MAX_THREADS : (size_t)n_threads;
        k = cut_parts(num, st->buf, end, k);
        if (k) run_parts(num, k);
        rc = merge_parts(st, num, k, prog, n_rows, n_bad) == 0 ? 1 : -1;
        if (rc < 0) snprintf(err, err_len, "%s: out of memory", st->path);
    }
    *x = num->out.x;
    *row_ids = num->out.ids;
    return rc;
}

void cli_csv_stream_close(cli_csv_stream *st) {
    if (st->fd > 0) close(st->fd); /* never stdin (0) */
    st->csv.buf = st->buf;         /* freed with the rest */
    numeric_free(st->num);
    cli_csv_free(&st->csv);
    memset(st, 0, sizeof *st);
    st->fd = -1;
}
