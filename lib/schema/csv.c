/* Numeric CSV text to dense rows (mlops_schema_parse_csv, issue 17).
 *
 * Each row first goes through a fast path: plain decimals (mlops__scan_*, digits 8 at a time)
 * and empty cells, separators where they must be, fields not selected skipped. Anything else
 * (quotes, spaces, inf/nan, long mantissas, a wrong field count, a bad cell) makes the row go
 * through the careful path, which decides and words the error. The fast path reads a few
 * bytes past the row, so it only runs on rows that end at least CSV_TAIL bytes before the end
 * of the text; the last rows always take the careful path, which never reads outside
 * [text, text + len).
 *
 * Where the CPU has AVX2 or AVX-512BW (issue 26), the fast path first marks the structural
 * bytes (',' '\n' '"' NUL) of a block of text in a bitmap, 64 bytes per vector compare, and
 * takes each cell's end from it: the cells of a row then no longer wait for the previous
 * cell's digits to find where they start, and run side by side. Without them (valgrind hides
 * AVX-512; other CPUs) the fast path finds each cell's end after parsing it (field_end). */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "../common/internal.h"
#include "csv_isa.h"
#include "decimal.h"
#include "mlops/schema.h"

/* Bytes after a fast-path row's newline that must still be text: every read of the fast
 * path lies within MLOPS__SCAN_PAD + 8 bytes of a byte of the row. */
#define CSV_TAIL 64

/* The last rows, from fast_stop, when they are at most this many bytes, are copied with zeros
 * after them so that the fast path may read past their end too: a one-cell parse (how the
 * examples read a cell) costs what a row of a file costs. */
#define CSV_COPY 256

typedef struct csv_job {
    const char *text, *end, *fast_stop; /* rows starting before fast_stop may take the fast path */
    size_t n_fields, width, first_line;
    const int *slot;   /* per field: the first output column reading it, or -1 */
    const int *next;   /* per output column: the next one reading the same field, or -1 */
    int fast;          /* 0 when a field is selected twice (the careful path writes every copy) */
    struct seps *seps; /* the structural bitmap, or NULL (the SWAR fast path) */
} csv_job;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* The first byte at or after p that is below '+' (0x2B: '\0', '\n', '\r', spaces, quotes
 * ...) or a ',': 8 bytes at a time. In each mask the lowest flagged byte is exact (borrows
 * only run upwards), so is the lowest of the two. Reads up to 7 bytes past it. */
static inline const char *field_end(const char *p) {
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    for (;;) {
        uint64_t x;
        memcpy(&x, p, sizeof x);
        uint64_t comma = x ^ (ones * ','), m = ((x - ones * '+') & ~x) | ((comma - ones) & ~comma);
        if ((m &= highs)) return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
}
#else
static inline const char *field_end(const char *p) {
    while ((unsigned char)*p >= '+' && *p != ',')
        p++;
    return p;
}
#endif

/* ---- the structural bitmap (AVX2 / AVX-512BW) ----
 * Bit i of word k: text[64k + i] is ',', '\n', '"' or NUL. Words are made SEP_WORDS at a time
 * (32 KB of text, still in L2 when its rows are parsed), only for whole 64-byte words inside
 * the text: the word of a fast row's newline always is one (CSV_TAIL bytes follow it). */
#define SEP_WORDS 512

typedef void (*classify_fn)(const char *p, size_t n_words, uint64_t *bits);

typedef struct seps {
    const char *base; /* word 0 starts here (job->text) */
    size_t total;     /* whole words in the text */
    size_t k0, n;     /* words [k0, k0 + n) are in bits */
    classify_fn classify;
    uint64_t bits[SEP_WORDS];
} seps;

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define CSV_HAVE_X86 1

__attribute__((target("avx512bw"))) static void classify_avx512(const char *p, size_t n_words,
                                                                uint64_t *bits) {
    const __m512i comma = _mm512_set1_epi8(','), nl = _mm512_set1_epi8('\n'), quote = _mm512_set1_epi8('"');
    for (size_t k = 0; k < n_words; k++) {
        __m512i x = _mm512_loadu_si512((const void *)(p + 64 * k));
        bits[k] = _mm512_cmpeq_epi8_mask(x, comma) | _mm512_cmpeq_epi8_mask(x, nl) |
                  _mm512_cmpeq_epi8_mask(x, quote) | _mm512_testn_epi8_mask(x, x);
    }
}

__attribute__((target("avx2"))) static uint32_t marks_avx2(const char *p) {
    __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)p);
    __m256i m = _mm256_or_si256(_mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(',')),
                                                _mm256_cmpeq_epi8(x, _mm256_set1_epi8('\n'))),
                                _mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8('"')),
                                                _mm256_cmpeq_epi8(x, _mm256_setzero_si256())));
    return (uint32_t)_mm256_movemask_epi8(m);
}

__attribute__((target("avx2"))) static void classify_avx2(const char *p, size_t n_words, uint64_t *bits) {
    for (size_t k = 0; k < n_words; k++)
        bits[k] = marks_avx2(p + 64 * k) | (uint64_t)marks_avx2(p + 64 * k + 32) << 32;
}
#endif

/* Process-wide on purpose: the CPU check, done once and cached, and the level tests force. */
static _Atomic int csv_isa = MLOPS__CSV_AUTO;

/* The best level this CPU has (checks that the OS saves the registers, too). */
static int csv_isa_detect(void) {
#if defined(CSV_HAVE_X86)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512bw")) return MLOPS__CSV_AVX512;
    if (__builtin_cpu_supports("avx2")) return MLOPS__CSV_AVX2;
#endif
    return MLOPS__CSV_SWAR;
}

int mlops__csv_force_isa(int level) {
    int best = csv_isa_detect();
    if (level < MLOPS__CSV_AUTO || level > best) return -1;
    atomic_store_explicit(&csv_isa, level ? level : best, memory_order_relaxed);
    return level ? level : best;
}

/* The classifier of the level in use, or NULL (the SWAR fast path). */
static classify_fn csv_classifier(void) {
    int isa = atomic_load_explicit(&csv_isa, memory_order_relaxed);
    if (isa == MLOPS__CSV_AUTO) {
        isa = csv_isa_detect();
        atomic_store_explicit(&csv_isa, isa, memory_order_relaxed);
    }
#if defined(CSV_HAVE_X86)
    if (isa == MLOPS__CSV_AVX512) return classify_avx512;
    if (isa == MLOPS__CSV_AVX2) return classify_avx2;
#endif
    return NULL;
}

static void seps_reset(seps *sp, const char *text, size_t len) {
    sp->base = text;
    sp->total = len / 64;
    sp->k0 = sp->n = 0;
}

/* Word k of the bitmap into *w (made with the next words when it is not there): 0, or -1
 * past the whole words of the text. */
static inline int seps_word(seps *sp, size_t k, uint64_t *w) {
    if (k - sp->k0 >= sp->n) {
        if (k >= sp->total) return -1;
        sp->k0 = k;
        sp->n = sp->total - k < SEP_WORDS ? sp->total - k : SEP_WORDS;
        sp->classify(sp->base + 64 * k, sp->n, sp->bits);
    }
    *w = sp->bits[k - sp->k0];
    return 0;
}

/* The next structural byte at or after the one *w's lowest bit stands for (word *k); NULL
 * when the bitmap ends first. */
static inline const char *seps_next(seps *sp, size_t *k, uint64_t *w) {
    while (!*w)
        if (seps_word(sp, ++*k, w)) return NULL;
    const char *e = sp->base + 64 * *k + __builtin_ctzll(*w);
    *w &= *w - 1;
    return e;
}

/* The cell's text for a message: at most 40 bytes, anything unprintable as '?'. */
static void cell_text(const char *s, const char *e, char *buf, size_t cap) {
    size_t n = 0;
    for (; s < e && n + 4 < cap && n < 40; s++)
        buf[n++] = (*s >= ' ' && *s <= '~') ? *s : '?';
    if (s < e) buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
    buf[n] = '\0';
}

/* "nan", "inf" or "infinity" with an optional sign, any case (as strtod reads them). */
static int parse_word(const char *s, const char *e, double *out) {
    int neg = s < e && *s == '-';
    if (s < e && (*s == '-' || *s == '+')) s++;
    size_t n = (size_t)(e - s);
    if (n == 3 && strncasecmp(s, "nan", 3) == 0)
        *out = neg ? -NAN : NAN;
    else if ((n == 3 && strncasecmp(s, "inf", 3) == 0) || (n == 8 && strncasecmp(s, "infinity", 8) == 0))
        *out = neg ? -INFINITY : INFINITY;
    else
        return -1;
    return 0;
}

/* One cell [s, e) (a quoted field without its quotes) as a value: spaces and tabs around
 * it ignored, empty = NaN. MLOPS_OK or MLOPS_EFORMAT naming line and field. */
static mlops_status cell_value(const char *s, const char *e, size_t line, size_t field, int dbl, void *row,
                               size_t j) {
    float *f = dbl ? NULL : (float *)row + j;
    double *d = dbl ? (double *)row + j : NULL;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    int rc = 0;
    double w;
    if (s == e) {
        w = NAN;
    } else {
        rc = dbl ? mlops__parse_double(s, e, d) : mlops__parse_float(s, e, f);
        if (rc == 0) return MLOPS_OK;
        if (rc == -1) rc = parse_word(s, e, &w);
    }
    if (rc == 0) {
        if (dbl)
            *d = w;
        else
            *f = (float)w;
        return MLOPS_OK;
    }
    char buf[48];
    cell_text(s, e, buf, sizeof buf);
    if (rc == -2)
        return mlops__fail(MLOPS_EFORMAT, "csv: line %zu, field %zu: beyond the range of %s: \"%s\"", line,
                           field, dbl ? "float64" : "float32", buf);
    return mlops__fail(MLOPS_EFORMAT, "csv: line %zu, field %zu: not a number: \"%s\"", line, field, buf);
}

/* The end of the field starting at a in [a, le): the separator or le; NULL for a quoted
 * field left open or followed by text. *s, *e: its content (inside the quotes). */
static const char *next_field(const char *a, const char *le, const char **s, const char **e) {
    if (a < le && *a == '"') {
        const char *q = a + 1;
        for (;;) {
            q = memchr(q, '"', (size_t)(le - q));
            if (!q) return NULL;
            if (q + 1 < le && q[1] == '"') {
                q += 2;
                continue;
            }
            break;
        }
        *s = a + 1;
        *e = q;
        return q + 1 < le && q[1] != ',' ? NULL : q + 1;
    }
    const char *c = memchr(a, ',', (size_t)(le - a));
    *s = a;
    return *e = c ? c : le;
}

/* The careful path: the row at p (not blank) into row, *next after its line. Checks the
 * field count first (RFC 4180 quotes), then parses the selected cells. */
static mlops_status careful_row(const csv_job *job, const char *p, const char **next, void *row, size_t line,
                                int dbl) {
    const char *nl = memchr(p, '\n', (size_t)(job->end - p)), *le = nl ? nl : job->end;
    *next = nl ? nl + 1 : job->end;
    if (le > p && le[-1] == '\r') le--;
    size_t n = 0;
    const char *s, *e;
    for (const char *a = p;; a++) {
        const char *b = next_field(a, le, &s, &e);
        if (!b)
            return mlops__fail(MLOPS_EFORMAT,
                               "csv: line %zu, field %zu: a quote not closed before the line ends"
                               " or followed by text",
                               line, n + 1);
        n++;
        if ((a = b) == le) break;
    }
    if (n != job->n_fields)
        return mlops__fail(MLOPS_EFORMAT, "csv: line %zu: %zu fields, the header has %zu%s", line, n,
                           job->n_fields, le > p && le[-1] == ',' ? " (a trailing comma)" : "");
    size_t f = 0;
    for (const char *a = p;; a++, f++) {
        const char *b = next_field(a, le, &s, &e);
        for (int j = job->slot[f]; j >= 0; j = job->next[j]) {
            mlops_status st = cell_value(s, e, line, f + 1, dbl, row, (size_t)j);
            if (st != MLOPS_OK) return st;
        }
        if ((a = b) == le) break;
    }
    return MLOPS_OK;
}

/* The fast path: the row at p into row; the byte after its newline, or NULL (careful path). */
static inline __attribute__((always_inline)) const char *fast_row(const csv_job *job, const char *p,
                                                                  void *row, int dbl) {
    for (size_t f = 0; f < job->n_fields; f++) {
        if (f && *p++ != ',') return NULL;
        int j = job->slot[f];
        if (j < 0 || *p == ',' || *p == '\n' || *p == '\r' || !*p) {
            const char *e = field_end(p);
            if (j >= 0) {
                if (dbl)
                    ((double *)row)[j] = NAN; /* empty: missing */
                else
                    ((float *)row)[j] = NAN;
            }
            p = e;
        } else {
            p = dbl ? mlops__scan_double(p, (double *)row + j) : mlops__scan_float(p, (float *)row + j);
            if (!p) return NULL;
        }
    }
    if (*p == '\n') return p + 1;
    if (*p == '\r' && p[1] == '\n') return p + 2;
    return p == job->end ? p : NULL; /* the end of a copied tail */
}

/* A fast-path cell [p, e) into row[j]: empty (NaN) or exactly a number the scan reads; 0 if not. */
static inline __attribute__((always_inline)) int fast_cell(const char *p, const char *e, void *row, int j,
                                                           int dbl) {
    if (e == p) {
        if (dbl)
            ((double *)row)[j] = NAN; /* empty: missing */
        else
            ((float *)row)[j] = NAN;
        return 1;
    }
    return (dbl ? mlops__scan_double(p, (double *)row + j) : mlops__scan_float(p, (float *)row + j)) == e;
}

/* The fast path over the bitmap: as fast_row, each cell's end taken from the bitmap. A
 * cell must be exactly a number the scan reads (up to a CR before the row's LF), or empty. */
static inline __attribute__((always_inline)) const char *fast_row_seps(const csv_job *job, seps *sp,
                                                                       const char *p, void *row, int dbl) {
    size_t pos = (size_t)(p - sp->base), k = pos / 64, last = job->n_fields - 1;
    uint64_t w;
    if (seps_word(sp, k, &w)) return NULL;
    w &= ~0ull << (pos % 64);
    for (size_t f = 0; f < last; f++) {
        const char *e = seps_next(sp, &k, &w);
        if (!e || *e != ',') return NULL;
        int j = job->slot[f];
        if (j >= 0 && !fast_cell(p, e, row, j, dbl)) return NULL;
        p = e + 1;
    }
    const char *e = seps_next(sp, &k, &w);
    /* the row's LF, or the end of a copied tail */
    if (!e || (*e != '\n' && (*e || e != job->end))) return NULL;
    int j = job->slot[last];
    if (j >= 0 && !fast_cell(p, e > p && e[-1] == '\r' ? e - 1 : e, row, j, dbl)) return NULL;
    return *e ? e + 1 : e;
}

static inline __attribute__((always_inline)) mlops_status parse_rows(csv_job *job, void *out, size_t out_len,
                                                                     size_t *n_rows, size_t *n_bytes,
                                                                     size_t *n_line, int dbl) {
    const char *p = job->text;
    size_t rows = 0, line = job->first_line, size = dbl ? sizeof(double) : sizeof(float);
    size_t max_rows = job->width ? out_len / job->width : SIZE_MAX;
    mlops_status st = MLOPS_OK;
    char tail[CSV_COPY + CSV_TAIL];
    size_t base = 0; /* the caller's offset of job->text (moved to tail) */
    seps *sp = job->seps;
    while (p < job->end) {
        if (p == job->fast_stop && job->fast && (size_t)(job->end - p) <= CSV_COPY) {
            size_t n = (size_t)(job->end - p);
            memcpy(tail, p, n);
            memset(tail + n, 0, CSV_TAIL);
            base = (size_t)(p - job->text);
            job->text = p = tail;
            job->end = tail + n;
            job->fast_stop = job->end + 1; /* every row of the copy */
            if (sp) seps_reset(sp, tail, n + CSV_TAIL);
        }
        if (*p == '\n' || (*p == '\r' && p + 1 < job->end && p[1] == '\n')) { /* a blank line: no row */
            p += *p == '\r' ? 2 : 1;
            line++;
            continue;
        }
        if (rows == max_rows) {
            st = mlops__fail(MLOPS_ESHAPE, "csv: line %zu: out has room for %zu rows of %zu values only",
                             line, max_rows, job->width);
            break;
        }
        char *row = (char *)out + rows * job->width * size;
        const char *next = !job->fast || p >= job->fast_stop ? NULL
                           : sp                              ? fast_row_seps(job, sp, p, row, dbl)
                                                             : fast_row(job, p, row, dbl);
        if (!next && (st = careful_row(job, p, &next, row, line, dbl)) != MLOPS_OK) break;
        rows++;
        line++;
        p = next;
    }
    if (n_rows) *n_rows = rows;
    if (n_bytes) *n_bytes = base + (size_t)(p - job->text);
    if (n_line) *n_line = line;
    return st;
}

/* Room for the field -> output map of a narrow table without an allocation (a one-cell parse). */
#define CSV_SMALL_MAP 64

/* Checks the arguments and builds the field -> output map (n_fields + width ints: in small when
 * they fit, else in *idx, allocated). */
static mlops_status start(csv_job *job, const char *text, size_t len, size_t n_fields, const size_t *cols,
                          size_t n_cols, size_t first_line, const void *out, size_t out_len, int *small,
                          int **idx) {
    MLOPS__CHECK_BUF("schema", text, len);
    MLOPS__CHECK_BUF("schema", out, out_len);
    MLOPS__FAIL_IF(n_fields == 0 || n_fields > INT32_MAX, MLOPS_EINVAL, "schema: parse_csv: n_fields is %zu",
                   n_fields);
    size_t width = cols ? n_cols : n_fields;
    MLOPS__FAIL_IF(width > INT32_MAX, MLOPS_EINVAL, "schema: parse_csv: n_cols is %zu", width);
    for (size_t j = 0; cols && j < n_cols; j++)
        MLOPS__FAIL_IF(cols[j] >= n_fields, MLOPS_EINVAL,
                       "schema: parse_csv: cols[%zu] is %zu, not below n_fields %zu", j, cols[j], n_fields);
    int *slot = small;
    *idx = NULL;
    if (n_fields + width > CSV_SMALL_MAP) {
        slot = *idx = mlops__malloc((n_fields + width) * sizeof *slot);
        MLOPS__FAIL_IF(!slot, MLOPS_ENOMEM, "schema: parse_csv: out of memory");
    }
    int *next = slot + n_fields;
    job->fast = 1;
    for (size_t f = 0; f < n_fields; f++)
        slot[f] = -1;
    for (size_t j = width; j-- > 0;) { /* backwards: slot[] ends on the first column reading a field */
        size_t f = cols ? cols[j] : j;
        if (slot[f] >= 0) job->fast = 0;
        next[j] = slot[f];
        slot[f] = (int)j;
    }
    job->text = text ? text : "";
    job->end = job->text + len;
    job->fast_stop = job->text;
    if (len > CSV_TAIL) { /* after the last newline at least CSV_TAIL bytes before the end */
        const char *nl = memrchr(job->text, '\n', len - CSV_TAIL);
        if (nl) job->fast_stop = nl + 1;
    }
    job->n_fields = n_fields;
    job->width = width;
    job->first_line = first_line ? first_line : 1;
    job->slot = slot;
    job->next = next;
    return MLOPS_OK;
}

/* Both public functions: dbl picks the output type (each parse_rows call is specialised for it). */
static mlops_status parse_csv(const char *text, size_t len, size_t n_fields, const size_t *cols,
                              size_t n_cols, size_t *line, void *out, size_t out_len, size_t *n_rows,
                              size_t *n_bytes, int dbl) {
    csv_job job = {0}; /* (set by start(); initialised for gcc's maybe-uninitialized) */
    int small[CSV_SMALL_MAP], *idx;
    mlops_status st =
        start(&job, text, len, n_fields, cols, n_cols, line ? *line : 1, out, out_len, small, &idx);
    if (st != MLOPS_OK) return st;
    seps sp;
    if (job.fast && (sp.classify = csv_classifier())) {
        seps_reset(&sp, job.text, len);
        job.seps = &sp;
    }
    st = dbl ? parse_rows(&job, out, out_len, n_rows, n_bytes, line, 1)
             : parse_rows(&job, out, out_len, n_rows, n_bytes, line, 0);
    mlops__free(idx);
    return st;
}

mlops_status mlops_schema_parse_csv(const char *text, size_t len, size_t n_fields, const size_t *cols,
                                    size_t n_cols, size_t *line, float *out, size_t out_len, size_t *n_rows,
                                    size_t *n_bytes) {
    return parse_csv(text, len, n_fields, cols, n_cols, line, out, out_len, n_rows, n_bytes, 0);
}

mlops_status mlops_schema_parse_csv_f64(const char *text, size_t len, size_t n_fields, const size_t *cols,
                                        size_t n_cols, size_t *line, double *out, size_t out_len,
                                        size_t *n_rows, size_t *n_bytes) {
    return parse_csv(text, len, n_fields, cols, n_cols, line, out, out_len, n_rows, n_bytes, 1);
}
