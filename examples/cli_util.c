/* CSV reading and strict number parsing for the example programs. */
#include "cli_util.h"

#include "cli_float.h"

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

int cli_parse_double(const char *s, double *out) {
    const char *end;
    s = trim_cell(s, &end);
    int rc = cli_double_parse_dec(s, end, out); /* -2: 1e999, out of range */
    return rc != -1 ? rc : parse_word(s, end, out);
}

int cli_parse_float(const char *s, float *out) {
    int rc = cli_float_parse_cell(s, out);
    if (rc != -1) return rc == 0 ? 0 : -1; /* beyond float's range: refused */
    const char *end;
    s = trim_cell(s, &end);
    double d;
    if (parse_word(s, end, &d) != 0) return -1;
    *out = (float)d;
    return 0;
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
        if (status[r] == 1) {
            fprintf(stderr, "%s: %s row %zu (line %zu): expected %zu columns, got %zu; row skipped\n", prog,
                    path, csv->row_base + r + 1, csv->line[r], csv->n_cols, csv->n_fields[r]);
        } else if (status[r]) {
            size_t c = sel ? (size_t)sel[status[r] - 2] : status[r] - 2;
            fprintf(stderr, "%s: %s row %zu (line %zu), column %s: not a number: \"%s\"; row skipped\n", prog,
                    path, csv->row_base + r + 1, csv->line[r], csv->header[c], csv->fields[r][c]);
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

int cli_csv_stream_next(cli_csv_stream *st, char *err, size_t err_len) {
    cli_csv *csv = &st->csv;
    for (size_t r = 0; r < csv->n_rows; r++)
        free(csv->fields[r]);
    csv->row_base += csv->n_rows;
    csv->n_rows = 0;
    size_t cut;
    if (st->stopped || stream_cut(st, 0, &cut, err, err_len) != 0) return st->stopped ? 0 : -1;
    if (st->len == 0) return 0;
    st->saved = st->buf[cut];
    st->buf[cut] = '\0';
    st->pos = cut;
    char *p = st->buf;
    int rc = split_rows(csv, &p, &st->line_no);
    if (rc) return record_error(rc, st->path, st->line_no, err, err_len);
    st->stopped = p < st->buf + cut; /* a NUL byte ends the input, as in cli_csv_read */
    return 1;
}

void cli_csv_stream_close(cli_csv_stream *st) {
    if (st->fd > 0) close(st->fd); /* never stdin (0) */
    st->csv.buf = st->buf;         /* freed with the rest */
    cli_csv_free(&st->csv);
    memset(st, 0, sizeof *st);
    st->fd = -1;
}
