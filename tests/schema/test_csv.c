/* mlops_schema_parse_csv / _f64 (issue 17): values bit-equal to strtof/strtod on over a million
 * random and edge-case decimals (the C library is the reference), and the CSV rules: field
 * counts, quotes, CRLF, blank lines, empty cells, column selection, errors with line and field,
 * a too small out written only up to out_len, text read only inside [text, text + len). */
#include <check.h>
#include <float.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/schema/csv_isa.h"
#include "harness.h"
#include "mlops/schema.h"

/* The fast path levels (csv_isa.h) a test runs under: loop tests take _i as the level and
 * say so when this CPU lacks it. */
static int use_level(int level) {
    int got = mlops__csv_force_isa(level);
    if (got >= 0 && (level == MLOPS__CSV_AUTO || got == level)) return 1;
    fprintf(stderr, "csv level %d: not on this CPU, skipped\n", level);
    return 0;
}

/* A random decimal in buf (one of several shapes: short table cells, long mantissas, large
 * and tiny exponents, digits near float/double rounding boundaries). */
static void random_decimal(gsl_rng *r, char *buf, size_t cap) {
    const char *sign = gsl_rng_uniform_int(r, 4) == 0 ? "-" : gsl_rng_uniform_int(r, 8) == 0 ? "+" : "";
    unsigned kind = (unsigned)gsl_rng_uniform_int(r, 6);
    char digits[64];
    size_t nd = 1 + gsl_rng_uniform_int(r, kind == 2 ? 40 : 12);
    for (size_t i = 0; i < nd; i++)
        digits[i] = (char)('0' + gsl_rng_uniform_int(r, 10));
    digits[nd] = '\0';
    if (kind == 0) { /* the usual cell: D.F with 0..8 digits after the point */
        snprintf(buf, cap, "%s%c.%.*s", sign, digits[0], (int)gsl_rng_uniform_int(r, 9), digits + 1);
    } else if (kind <= 2) { /* a point anywhere (or none), maybe an exponent */
        size_t at = gsl_rng_uniform_int(r, nd + 1);
        char e[16] = "";
        if (gsl_rng_uniform_int(r, 2)) snprintf(e, sizeof e, "e%d", (int)gsl_rng_uniform_int(r, 700) - 350);
        snprintf(buf, cap, "%s%.*s%s%s%s", sign, (int)at, digits, at < nd ? "." : "", digits + at, e);
        if (!strcmp(buf, sign) || buf[strlen(sign)] == 'e') snprintf(buf, cap, "%s0.%s", sign, digits);
    } else if (kind == 3) { /* a float's neighbour or a halfway point between two floats */
        uint32_t u = (uint32_t)gsl_rng_get(r) & 0x7F7FFFFFu;
        float f;
        memcpy(&f, &u, sizeof f);
        double m = ((double)f + (double)nextafterf(f, INFINITY)) / 2;
        int prec = 5 + (int)gsl_rng_uniform_int(r, 60);
        snprintf(buf, cap, "%s%.*e", sign, prec, gsl_rng_uniform_int(r, 2) ? m : (double)f);
    } else if (kind == 4) { /* a double's shortest and longer forms */
        uint64_t u = ((uint64_t)gsl_rng_get(r) << 32 | gsl_rng_get(r)) & 0x7FEFFFFFFFFFFFFFull;
        double d;
        memcpy(&d, &u, sizeof d);
        snprintf(buf, cap, "%s%.*g", sign, 15 + (int)gsl_rng_uniform_int(r, 12), d);
    } else { /* integers, leading zeros, subnormal floats */
        static const char *forms[] = {"%s%s", "%s000%s", "%s0.0000000%se-30", "%s%se-45", "%s.%s", "%s%s."};
        snprintf(buf, cap, forms[gsl_rng_uniform_int(r, 6)], sign, digits);
    }
}

typedef struct cases {
    char *text;
    size_t len, n;
    float *want_f;
    double *want_d;
} cases;

/* n random decimals (finite as strtof and strtod read them), one per field, n_fields a row,
 * LF or CRLF; strtof/strtod's values beside them. */
static cases make_cases(size_t n, size_t n_fields, unsigned long seed) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    cases c = {malloc(n * 80), 0, 0, malloc(n * sizeof(float)), malloc(n * sizeof(double))};
    while (c.n < n) {
        char buf[80];
        random_decimal(r, buf, sizeof buf);
        float f = strtof(buf, NULL);
        double d = strtod(buf, NULL);
        if (isinf(f) || isinf(d)) continue; /* out of range: refused, tested apart */
        c.want_f[c.n] = f;
        c.want_d[c.n] = d;
        size_t k = strlen(buf);
        memcpy(c.text + c.len, buf, k);
        c.len += k;
        c.n++;
        if (c.n % n_fields)
            c.text[c.len++] = ',';
        else if (c.n % 7 == 0)
            c.text[c.len++] = '\r', c.text[c.len++] = '\n';
        else
            c.text[c.len++] = '\n';
    }
    gsl_rng_free(r);
    return c;
}

static void free_cases(cases *c) {
    free(c->text);
    free(c->want_f);
    free(c->want_d);
}

static void expect_equal(const cases *c, size_t n_fields) {
    char *text = malloc(c->len); /* exactly len bytes: a read past the end is an ASan error */
    memcpy(text, c->text, c->len);
    float *f = malloc(c->n * sizeof *f);
    double *d = malloc(c->n * sizeof *d);
    size_t rows = 0, bytes = 0;
    ck_assert_msg(mlops_schema_parse_csv(text, c->len, n_fields, NULL, 0, NULL, f, c->n, &rows, &bytes) ==
                      MLOPS_OK,
                  "%s", mlops_last_error());
    ck_assert_uint_eq(rows, c->n / n_fields);
    ck_assert_uint_eq(bytes, c->len);
    ck_assert_msg(mlops_schema_parse_csv_f64(text, c->len, n_fields, NULL, 0, NULL, d, c->n, &rows, NULL) ==
                      MLOPS_OK,
                  "%s", mlops_last_error());
    ck_assert_uint_eq(rows, c->n / n_fields);
    size_t bad_f = 0, bad_d = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (memcmp(&f[i], &c->want_f[i], sizeof *f) && bad_f++ < 5)
            fprintf(stderr, "value %zu: float %a, strtof %a\n", i, (double)f[i], (double)c->want_f[i]);
        if (memcmp(&d[i], &c->want_d[i], sizeof *d) && bad_d++ < 5)
            fprintf(stderr, "value %zu: double %a, strtod %a\n", i, d[i], c->want_d[i]);
    }
    ck_assert_uint_eq(bad_f, 0);
    ck_assert_uint_eq(bad_d, 0);
    free(text);
    free(f);
    free(d);
}

START_TEST(values_equal_strtof_and_strtod) {
    if (!use_level(_i)) return;
    size_t n = test_on_valgrind() ? 20000 : _i == MLOPS__CSV_AUTO ? 1200000 : 300000;
    cases one = make_cases(n, 1, 17); /* one field a row */
    expect_equal(&one, 1);
    free_cases(&one);
    cases five = make_cases(n / 5 * 5, 5, 18); /* five fields a row (the fast path's loop) */
    expect_equal(&five, 5);
    free_cases(&five);
}
END_TEST

/* Parse text (a C string) as n_fields fields into 16 floats; the status. */
static size_t last_line; /* the line after the last one parse() consumed */

static mlops_status parse(const char *text, size_t n_fields, const size_t *cols, size_t n_cols, float *out,
                          size_t *rows, size_t *bytes) {
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1);
    memcpy(copy, text, len);
    last_line = 1;
    mlops_status st =
        mlops_schema_parse_csv(copy, len, n_fields, cols, n_cols, &last_line, out, 16, rows, bytes);
    free(copy);
    return st;
}

static void expect_error(const char *text, size_t n_fields, mlops_status want, const char *msg,
                         size_t rows_before, size_t bytes_before) {
    float out[16];
    size_t rows = 99, bytes = 99;
    mlops_status st = parse(text, n_fields, NULL, 0, out, &rows, &bytes);
    ck_assert_msg(st == want, "%s: got %d (%s)", text, st, mlops_last_error());
    ck_assert_msg(strcmp(mlops_last_error(), msg) == 0, "'%s' instead of '%s'", mlops_last_error(), msg);
    ck_assert_uint_eq(rows, rows_before);
    ck_assert_uint_eq(bytes, bytes_before);
    ck_assert_uint_eq(last_line, (size_t)strtoul(msg + strlen("csv: line "), NULL, 10)); /* the bad line's */
}

START_TEST(csv_rules) {
    if (!use_level(_i)) return;
    float out[16];
    size_t rows, bytes;
    /* CRLF, a blank line, an empty cell (NaN), quoted numbers, spaces, inf/nan, no final newline */
    ck_assert_int_eq(
        parse("1,2.5\r\n\r\n,\"-3\"\n  4 ,\"5e1\"\ninf,-NaN\n.5,5.", 2, NULL, 0, out, &rows, &bytes),
        MLOPS_OK);
    ck_assert_uint_eq(rows, 5);
    ck_assert_uint_eq(last_line, 7); /* 6 lines, the last unterminated */
    ck_assert(out[0] == 1 && out[1] == 2.5f && isnan(out[2]) && out[3] == -3 && out[4] == 4 && out[5] == 50);
    ck_assert(isinf(out[6]) && out[6] > 0 && isnan(out[7]) && out[8] == 0.5f && out[9] == 5);
    /* columns selected in another order, one twice; the others only counted */
    size_t cols[] = {2, 0, 2};
    ck_assert_int_eq(parse("1,x,3\n4,,6\n", 3, cols, 3, out, &rows, NULL), MLOPS_OK);
    ck_assert_uint_eq(rows, 2);
    ck_assert(out[0] == 3 && out[1] == 1 && out[2] == 3 && out[3] == 6 && out[4] == 4 && out[5] == 6);
    /* nothing at all; only blank lines */
    ck_assert_int_eq(parse("", 2, NULL, 0, out, &rows, &bytes), MLOPS_OK);
    ck_assert_uint_eq(rows, 0);
    ck_assert_int_eq(parse("\n\r\n\n", 2, NULL, 0, out, &rows, &bytes), MLOPS_OK);
    ck_assert_uint_eq(rows, 0);
    ck_assert_uint_eq(bytes, 4);
    ck_assert_uint_eq(last_line, 4);
    /* a comma inside quotes is not a separator */
    ck_assert_int_eq(parse("\"1\",2,\"a,b\"\n", 3, cols + 1, 1, out, &rows, NULL), MLOPS_OK);
    ck_assert(rows == 1 && out[0] == 1);
}
END_TEST

START_TEST(bad_rows_name_line_and_field) {
    if (!use_level(_i)) return;
    expect_error("1,2\n3,4,\n", 2, MLOPS_EFORMAT,
                 "csv: line 2: 3 fields, the header has 2 (a trailing comma)", 1, 4);
    expect_error("1,2\n\n3\n", 2, MLOPS_EFORMAT, "csv: line 3: 1 fields, the header has 2", 1, 5);
    expect_error("1,2\n3,4,\"5,6\"\n", 2, MLOPS_EFORMAT, "csv: line 2: 3 fields, the header has 2", 1, 4);
    expect_error("1,2\r\n3,abc\r\n", 2, MLOPS_EFORMAT, "csv: line 2, field 2: not a number: \"abc\"", 1, 5);
    expect_error("1,\"3,5\"\n", 2, MLOPS_EFORMAT, "csv: line 1, field 2: not a number: \"3,5\"", 0, 0);
    expect_error("1,0x10\n", 2, MLOPS_EFORMAT, "csv: line 1, field 2: not a number: \"0x10\"", 0, 0);
    expect_error("1e39,1\n", 2, MLOPS_EFORMAT, "csv: line 1, field 1: beyond the range of float32: \"1e39\"",
                 0, 0);
    expect_error("1,\"2\n", 2, MLOPS_EFORMAT,
                 "csv: line 1, field 2: a quote not closed before the line ends or followed by text", 0, 0);
    expect_error("1,\"2\"3\n", 2, MLOPS_EFORMAT,
                 "csv: line 1, field 2: a quote not closed before the line ends or followed by text", 0, 0);
    expect_error("1,2\n3,4\n5,6\n7,8\n9,1\n1,2\n3,4\n5,6\n7,8\n", 2, MLOPS_ESHAPE,
                 "csv: line 9: out has room for 8 rows of 2 values only", 8, 32);
    /* the first line's number in messages; float64's range */
    double d[4];
    size_t line = 41;
    ck_assert_int_eq(mlops_schema_parse_csv_f64("1,2\n1,e5\n", 9, 2, NULL, 0, &line, d, 4, NULL, NULL),
                     MLOPS_EFORMAT);
    ck_assert_uint_eq(line, 42);
    ck_assert_str_eq(mlops_last_error(), "csv: line 42, field 2: not a number: \"e5\"");
    ck_assert_int_eq(mlops_schema_parse_csv_f64("1e39,1e309\n", 11, 2, NULL, 0, NULL, d, 4, NULL, NULL),
                     MLOPS_EFORMAT);
    ck_assert_str_eq(mlops_last_error(), "csv: line 1, field 2: beyond the range of float64: \"1e309\"");
}
END_TEST

START_TEST(out_is_written_only_up_to_out_len) {
    /* long text (the fast path) into room for 3 rows of 2: the value after them untouched */
    char text[4096] = "";
    for (int i = 0; i < 200; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "%d.25,%d\n", i, i);
    float out[7];
    out[6] = 42;
    size_t rows, bytes;
    ck_assert_int_eq(mlops_schema_parse_csv(text, strlen(text), 2, NULL, 0, NULL, out, 6, &rows, &bytes),
                     MLOPS_ESHAPE);
    ck_assert(rows == 3 && out[6] == 42 && out[4] == 2.25f && out[5] == 2);
    ck_assert_uint_eq(bytes, strlen("0.25,0\n1.25,1\n2.25,2\n"));
    /* a 1-field selection needs room for 1 value a row */
    size_t col = 1;
    ck_assert_int_eq(mlops_schema_parse_csv(text, 21, 2, &col, 1, NULL, out, 3, &rows, NULL), MLOPS_OK);
    ck_assert(rows == 3 && out[2] == 2);
}
END_TEST

/* One random row of 6 fields: plain numbers, empty cells, quotes (a comma inside), spaces,
 * CRs, NULs, long text, words; fields 0, 2, 4 and 5 (not selected below) take anything. */
static void random_row(gsl_rng *r, char *w, size_t *len) {
    static const char *cells[] = {
        "+1.23456",  "-0.5",
        "",          "7",
        "\"2.5\"",   " 3 ",
        "1e5",       "-9.99999",
        "0.0000001", "12345678.5",
        "inf",       "\"a,b\"",
        "x\"y",      "1\r",
        "ab\0c",     "long text long text long text long text long text long text long text ."};
    static const size_t lens[] = {8, 4, 0, 1, 5, 3, 3, 8, 9, 10, 3, 5, 3, 2, 4, 72};
    if (gsl_rng_uniform_int(r, 300) == 0) { /* 5 fields, 6 for a splitter that ignores quotes */
        memcpy(w + *len, "1,2,3,4,\"5,6\"\n", 14);
        *len += 14;
        return;
    }
    size_t n = 6 + (gsl_rng_uniform_int(r, 300) == 0) - (gsl_rng_uniform_int(r, 300) == 0);
    for (size_t f = 0; f < n; f++) {
        int free_field = f != 1 && f != 3;
        /* selected fields: mostly the first ten forms (numbers), rarely a bad one */
        size_t k = gsl_rng_uniform_int(r, free_field || gsl_rng_uniform_int(r, 400) == 0 ? 16 : 10);
        if (f) w[(*len)++] = ',';
        memcpy(w + *len, cells[k], lens[k]);
        *len += lens[k];
    }
    if (gsl_rng_uniform_int(r, 4) == 0) w[(*len)++] = '\r';
    w[(*len)++] = '\n';
    if (gsl_rng_uniform_int(r, 50) == 0) w[(*len)++] = '\n'; /* a blank line */
}

/* Every fast path level against the careful path alone (a column selected twice keeps every
 * row off the fast paths): same status, message, rows, bytes, line and value bits, on random
 * tables of plain and unusual cells, cut at random lengths. */
START_TEST(fast_paths_agree_with_the_careful_path) {
    if (!use_level(_i)) return;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 26 + (unsigned long)_i);
    size_t cols[] = {1, 3, 3}, rounds = test_on_valgrind() ? 20 : 300;
    for (size_t round = 0; round < rounds; round++) {
        size_t n_rows = 1 + gsl_rng_uniform_int(r, 400), cap = n_rows * 600, len = 0;
        char *buf = malloc(cap);
        for (size_t i = 0; i < n_rows; i++)
            random_row(r, buf, &len);
        len -= gsl_rng_uniform_int(r, 3) == 0 ? gsl_rng_uniform_int(r, len < 80 ? len : 80) : 0;
        char *text = malloc(len ? len : 1); /* exactly len bytes: ASan sees reads past the end */
        memcpy(text, buf, len);
        size_t room = n_rows * 3 + 3;
        float *fast = malloc(room * sizeof *fast), *slow = malloc(room * sizeof *slow);
        size_t rf = 0, rs = 0, bf = 0, bs = 0, lf = 3, ls = 3;
        mlops_status sf = mlops_schema_parse_csv(text, len, 6, cols, 2, &lf, fast, room, &rf, &bf);
        char msg[256];
        snprintf(msg, sizeof msg, "%s", mlops_last_error());
        mlops_status ss = mlops_schema_parse_csv(text, len, 6, cols, 3, &ls, slow, room, &rs, &bs);
        ck_assert_msg(sf == ss, "round %zu: %d (%s) vs the careful path's %d (%s)", round, sf, msg, ss,
                      mlops_last_error());
        if (sf != MLOPS_OK) ck_assert_str_eq(msg, mlops_last_error());
        ck_assert_uint_eq(rf, rs);
        ck_assert_uint_eq(bf, bs);
        ck_assert_uint_eq(lf, ls);
        for (size_t i = 0; i < rf; i++)
            ck_assert_msg(memcmp(fast + 2 * i, slow + 3 * i, 2 * sizeof *fast) == 0, "round %zu, row %zu",
                          round, i);
        free(buf);
        free(text);
        free(fast);
        free(slow);
    }
    gsl_rng_free(r);
}
END_TEST

START_TEST(bad_arguments) {
    float out[4];
    size_t col = 2;
    ck_assert_int_eq(mlops_schema_parse_csv(NULL, 3, 1, NULL, 0, NULL, out, 4, NULL, NULL), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_schema_parse_csv("1\n", 2, 1, NULL, 0, NULL, NULL, 4, NULL, NULL), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_schema_parse_csv("1\n", 2, 0, NULL, 0, NULL, out, 4, NULL, NULL), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_schema_parse_csv("1,2\n", 4, 2, &col, 1, NULL, out, 4, NULL, NULL), MLOPS_EINVAL);
    ck_assert_str_eq(mlops_last_error(), "schema: parse_csv: cols[0] is 2, not below n_fields 2");
    size_t rows = 7;
    ck_assert_int_eq(mlops_schema_parse_csv(NULL, 0, 1, NULL, 0, NULL, NULL, 0, &rows, NULL), MLOPS_OK);
    ck_assert_uint_eq(rows, 0);
}
END_TEST

static Suite *make_suite(void) {
    TCase *tc;
    Suite *s = test_suite_single("schema-csv", 0, NULL, NULL, &tc);
    /* every level this CPU has (AUTO, SWAR, AVX2, AVX-512BW); AUTO last, left in force */
    tcase_add_loop_test(tc, values_equal_strtof_and_strtod, MLOPS__CSV_SWAR, MLOPS__CSV_AVX512 + 1);
    tcase_add_loop_test(tc, csv_rules, MLOPS__CSV_SWAR, MLOPS__CSV_AVX512 + 1);
    tcase_add_loop_test(tc, bad_rows_name_line_and_field, MLOPS__CSV_SWAR, MLOPS__CSV_AVX512 + 1);
    tcase_add_loop_test(tc, fast_paths_agree_with_the_careful_path, MLOPS__CSV_SWAR, MLOPS__CSV_AVX512 + 1);
    tcase_add_loop_test(tc, values_equal_strtof_and_strtod, MLOPS__CSV_AUTO, MLOPS__CSV_AUTO + 1);
    tcase_add_test(tc, out_is_written_only_up_to_out_len);
    tcase_add_test(tc, bad_arguments);
    return s;
}

MLOPS_TEST_MAIN(make_suite)
