/* Differential test of our JSON model reader (lib/model/json_reader.c) against jansson's
 * json_loadb, the reference: for random documents (random nesting, numbers at the edges of double
 * and int64, long mantissas, strings with every escape, surrogate pairs and raw UTF-8), for single
 * number tokens, for every truncation and random byte flips of real model files, both accept or
 * both refuse, and accepted documents are the same tree (reals compared bit for bit) once our
 * compact arrays are expanded. Then every engine model (tests/engine/models), exported to JSON by
 * XGBoost, loads through the reader and predicts bit-identically to XGBoost.
 *
 * Intentional differences, checked as such: NaN / Infinity / -Infinity tokens are values for us
 * (the reference reads the same text with each token written as doc_array.h's marker string, as
 * the old patched copy did); nesting deeper than the limit and string values starting with the
 * reserved byte 0x02 are refused by us only. */
#include <check.h>
#include <gsl/gsl_rng.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "engine/doc_array.h"
#include "harness.h"
#include "xgb_ref.h"
#include "json_compare.h"
#include "mlops.h"
#include "model/json_reader.h"

#define MAX_DEPTH 64

/* ---- growable text, written twice: ours (NaN tokens) and the reference (marker strings) ---- */

typedef struct pair {
    text ours, ref;
} pair;

static void both(pair *p, const char *s) {
    put(&p->ours, s, strlen(s));
    put(&p->ref, s, strlen(s));
}

static size_t n_compact; /* compact arrays seen: the tests must exercise them */

static void count_compact(const json_t *j) {
    size_t i;
    const char *k;
    json_t *v;
    if (json_is_string(j) && mlops__arr_is(j)) n_compact++;
    if (json_is_array(j)) json_array_foreach((json_t *)j, i, v) count_compact(v);
    if (json_is_object(j)) json_object_foreach((json_t *)j, k, v) count_compact(v);
}

/* Read `ours` with our reader and `ref` with jansson; assert they agree (see the header). Returns
 * 1 when both accepted. */
static int agree(const char *ours, size_t n_ours, const char *ref, size_t n_ref, const char *what) {
    mlops__json_read_error e;
    json_t *a = mlops__json_read(ours, n_ours, MAX_DEPTH, &e);
    json_error_t je;
    json_t *b = json_loadb(ref, n_ref, 0, &je);
    if (a) {
        count_compact(a);
        ck_assert_msg(mlops__arr_expand_all(a) == 0, "%s: expand", what);
    }
    const char *why = json_compare_verdict(a, &e, b, MAX_DEPTH);
    ck_assert_msg(why == NULL, "%s: %s (ours: %s at %zu; jansson: %s at %d)", what, why,
                  a ? "accepted" : e.text, e.position, b ? "accepted" : je.text, je.position);
    int ok = a && b;
    json_decref(a);
    json_decref(b);
    return ok;
}

static void agree_text(const char *s, size_t n, const char *what) {
    text r = reference_text(s, n);
    agree(s, n, r.s, r.n, what);
    free(r.s);
}

/* ---- random documents ---- */

static const char *const edge_reals[] = {"1e-320",
                                         "4.9e-324",
                                         "5e-324",
                                         "2.4703282292062327e-324",
                                         "2.4703282292062328e-324",
                                         "1.7976931348623157e308",
                                         "1.7976931348623158e308",
                                         "-0.0",
                                         "0.0",
                                         "0e0",
                                         "-0e-999",
                                         "0.1",
                                         "0.2",
                                         "0.3",
                                         "1e23",
                                         "8.98846567431158e307",
                                         "2.2250738585072011e-308",
                                         "2.2250738585072014e-308",
                                         "9007199254740993.0",
                                         "9007199254740992e0",
                                         "3.141592653589793238462643383279502884197",
                                         "123456789012345678901234567890e-10",
                                         "1E22",
                                         "1e-22",
                                         "1.00000000000000011102230246251565404236316680908203125",
                                         "7.038531e-26",
                                         "4.35E-1",
                                         "-2.3841858E-7",
                                         "0.000000000000000000000000000000000000001e30",
                                         "1e400000000000",
                                         "-1e-400",
                                         "1.5e+3",
                                         "1E-0"};
static const char *const edge_ints[] = {"0",
                                        "-0",
                                        "9223372036854775807",
                                        "-9223372036854775808",
                                        "9223372036854775808",
                                        "-9223372036854775809",
                                        "18446744073709551616",
                                        "255",
                                        "256",
                                        "-1",
                                        "2147483647",
                                        "2147483648",
                                        "-2147483648",
                                        "-2147483649",
                                        "123456789012345678901234567890"};

static void digits_to(text *t, gsl_rng *r, int n, int lead_zero_ok) {
    for (int i = 0; i < n; i++) {
        char c = (char)('0' + gsl_rng_uniform_int(r, 10));
        if (i == 0 && !lead_zero_ok && c == '0') c = '1';
        put(t, &c, 1);
    }
}

/* A random real token; `safe` keeps it below overflow. */
static void random_real(text *t, gsl_rng *r, int safe) {
    if (gsl_rng_uniform(r) < 0.2) {
        const char *e = edge_reals[gsl_rng_uniform_int(r, sizeof edge_reals / sizeof *edge_reals)];
        if (!safe || (strstr(e, "e400") == NULL && strstr(e, "7158e308") == NULL)) {
            put(t, e, strlen(e));
            return;
        }
    }
    if (gsl_rng_uniform(r) < 0.5) put(t, "-", 1);
    int int_digits = 1 + (int)gsl_rng_uniform_int(r, gsl_rng_uniform(r) < 0.8 ? 3 : 25);
    if (gsl_rng_uniform(r) < 0.3)
        put(t, "0", 1), int_digits = 1;
    else
        digits_to(t, r, int_digits, 0);
    int has_frac = gsl_rng_uniform(r) < 0.8, has_exp = !has_frac || gsl_rng_uniform(r) < 0.6;
    if (has_frac) {
        put(t, ".", 1);
        digits_to(t, r, 1 + (int)gsl_rng_uniform_int(r, gsl_rng_uniform(r) < 0.7 ? 9 : 40), 1);
    }
    if (has_exp) {
        char b[32];
        int lim = safe ? 300 - int_digits : 340;
        long ex = (long)gsl_rng_uniform_int(r, gsl_rng_uniform(r) < 0.7 ? 25 : (unsigned long)lim + 330) -
                  (gsl_rng_uniform(r) < 0.5 ? 330 : 0);
        if (ex > lim) ex = lim;
        snprintf(b, sizeof b, "%s%s%ld", gsl_rng_uniform(r) < 0.5 ? "e" : "E",
                 ex >= 0 && gsl_rng_uniform(r) < 0.3 ? "+" : "", ex);
        put(t, b, strlen(b));
    }
}

static void random_int(text *t, gsl_rng *r, int safe) {
    char b[32];
    double u = gsl_rng_uniform(r);
    if (u < 0.15 && !safe) {
        const char *e = edge_ints[gsl_rng_uniform_int(r, sizeof edge_ints / sizeof *edge_ints)];
        put(t, e, strlen(e));
        return;
    }
    int64_t v = u < 0.5   ? (int64_t)gsl_rng_uniform_int(r, 256)
                : u < 0.8 ? (int64_t)gsl_rng_uniform_int(r, 1u << 31) - (1 << 30)
                          : (int64_t)(((uint64_t)gsl_rng_get(r) << 32) ^ gsl_rng_get(r));
    snprintf(b, sizeof b, "%" PRId64, v);
    put(t, b, strlen(b));
}

static void number(pair *p, gsl_rng *r, int kind) {
    text t = {0};
    put(&t, "", 0);
    if (kind == 'i')
        random_int(&t, r, 1);
    else
        random_real(&t, r, 1);
    put(&p->ours, t.s, t.n);
    put(&p->ref, t.s, t.n);
    free(t.s);
}

static void nonfinite(pair *p, gsl_rng *r) {
    static const char *const ours[] = {"NaN", "Infinity", "-Infinity"};
    static const char *const ref[] = {"\"\\u0001NaN\"", "\"\\u0001Infinity\"", "\"\\u0001-Infinity\""};
    unsigned k = (unsigned)gsl_rng_uniform_int(r, 3);
    put(&p->ours, ours[k], strlen(ours[k]));
    put(&p->ref, ref[k], strlen(ref[k]));
}

static void string(pair *p, gsl_rng *r) {
    static const char *const pieces[] = {"a",
                                         "split_conditions",
                                         " ",
                                         "\\\"",
                                         "\\\\",
                                         "\\/",
                                         "\\b",
                                         "\\f",
                                         "\\n",
                                         "\\r",
                                         "\\t",
                                         "\\u00e9",
                                         "\\u20AC",
                                         "\\uD83D\\uDE00",
                                         "\\uDBFF\\uDFFF",
                                         "\\u0001",
                                         "\\u001f",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "\xf4\x8f\xbf\xbf",
                                         "\\u0041x",
                                         "~",
                                         "0"};
    both(p, "\"");
    int n = (int)gsl_rng_uniform_int(r, 6);
    for (int i = 0; i < n; i++)
        both(p, pieces[gsl_rng_uniform_int(r, sizeof pieces / sizeof *pieces)]);
    both(p, "\"");
}

static void value(pair *p, gsl_rng *r, int depth);

static void ws(pair *p, gsl_rng *r) {
    static const char *const w[] = {"", "", "", " ", "\n", "\t", "\r\n  "};
    both(p, w[gsl_rng_uniform_int(r, sizeof w / sizeof *w)]);
}

static void array(pair *p, gsl_rng *r, int depth, int numeric) {
    both(p, "[");
    int n = (int)gsl_rng_uniform_int(r, numeric ? 40 : 6);
    int kind = gsl_rng_uniform(r) < 0.5 ? 'i' : 'r';
    for (int i = 0; i < n; i++) {
        if (i) both(p, ",");
        ws(p, r);
        double u = gsl_rng_uniform(r);
        if (!numeric)
            value(p, r, depth + 1);
        else if (u < 0.03) /* a mixed array stays plain */
            number(p, r, kind == 'i' ? 'r' : 'i');
        else if (u < 0.06 && kind == 'r')
            nonfinite(p, r);
        else
            number(p, r, kind);
        ws(p, r);
    }
    both(p, "]");
}

static void object(pair *p, gsl_rng *r, int depth) {
    static const char *const keys[] = {"learner", "trees", "", "a", "left_children", "\\u00e9t\\u00e9", "a"};
    both(p, "{");
    int n = (int)gsl_rng_uniform_int(r, 6);
    for (int i = 0; i < n; i++) {
        if (i) both(p, ",");
        ws(p, r);
        both(p, "\""); /* repeated keys: the last one wins in both */
        both(p, keys[gsl_rng_uniform_int(r, sizeof keys / sizeof *keys)]);
        both(p, "\"");
        ws(p, r);
        both(p, ":");
        ws(p, r);
        value(p, r, depth + 1);
    }
    both(p, "}");
}

static void value(pair *p, gsl_rng *r, int depth) {
    double u = gsl_rng_uniform(r);
    int leaf = depth >= 8;
    if (!leaf && u < 0.2)
        object(p, r, depth);
    else if (!leaf && u < 0.3)
        array(p, r, depth, 0);
    else if (u < 0.5)
        array(p, r, depth, 1);
    else if (u < 0.65)
        string(p, r);
    else if (u < 0.75)
        number(p, r, 'i');
    else if (u < 0.85)
        number(p, r, 'r');
    else if (u < 0.88)
        nonfinite(p, r);
    else
        both(p, u < 0.92 ? "true" : u < 0.96 ? "false" : "null");
}

/* ---- tests ---- */

/* Iterations: a twentieth under valgrind (the setup's timeout would not fit the full count). */
static int scaled(int n) { return test_on_valgrind() ? n / 20 : n; }

START_TEST(compact_arrays) {
    static const struct {
        const char *doc;
        unsigned char type; /* 0: a plain jansson array */
    } cases[] = {{"[1,2,255]", 'U'},
                 {"[0,-1]", 'l'},
                 {"[300,2147483647]", 'l'},
                 {"[5000000000]", 'L'},
                 {"[1.5,2E0]", 'D'},
                 {"[1.5,NaN]", 'D'},
                 {"[1.5,2]", 0},
                 {"[]", 0},
                 {"[1,\"a\"]", 0},
                 {"[1,[2]]", 0},
                 {"[NaN,-Infinity]", 'D'},
                 {"[-0.0]", 'D'}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        mlops__json_read_error e;
        char doc[64];
        snprintf(doc, sizeof doc, "{\"k\":%s}", cases[i].doc);
        json_t *j = mlops__json_read(doc, strlen(doc), MAX_DEPTH, &e);
        ck_assert_msg(j != NULL, "%s: %s", doc, e.text);
        json_t *a = json_object_get(j, "k");
        mlops__arr_view v;
        ck_assert(mlops__arr_view_of(a, &v));
        ck_assert_msg(v.type == cases[i].type && (cases[i].type != 0 || json_is_array(a)), "%s: type %d", doc,
                      v.type);
        json_decref(j);
    }
    /* the values of a compact real array, NaN and the infinities included */
    mlops__json_read_error e;
    const char *doc = "{\"k\":[0.1,NaN,Infinity,-Infinity,-0.0]}";
    json_t *root = mlops__json_read(doc, strlen(doc), MAX_DEPTH, &e), *j = json_object_get(root, "k");
    double d[5];
    for (size_t i = 0; i < 5; i++)
        ck_assert(mlops__arr_real(j, i, &d[i]));
    ck_assert(d[0] == 0.1 && isnan(d[1]) && d[2] == INFINITY && d[3] == -INFINITY && signbit(d[4]));
    json_decref(root);
}
END_TEST

START_TEST(random_documents) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 24);
    int accepted = 0;
    const int n_docs = scaled(3000);
    for (int it = 0; it < n_docs; it++) {
        pair p = {{0}, {0}};
        if (gsl_rng_uniform(r) < 0.5)
            object(&p, r, 1);
        else
            array(&p, r, 1, 0);
        char what[32];
        snprintf(what, sizeof what, "document %d", it);
        accepted += agree(p.ours.s, p.ours.n, p.ref.s, p.ref.n, what);
        free(p.ours.s);
        free(p.ref.s);
    }
    gsl_rng_free(r);
    ck_assert_msg(accepted * 6 > n_docs * 5, "only %d of %d random documents accepted", accepted, n_docs);
    ck_assert_msg(n_compact * 3 > (size_t)n_docs, "only %zu compact arrays", n_compact);
}
END_TEST

START_TEST(number_tokens) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 2024);
    const size_t n_edge = sizeof edge_reals / sizeof *edge_reals + sizeof edge_ints / sizeof *edge_ints;
    for (size_t it = 0; it < (size_t)scaled(200000) + n_edge; it++) {
        text t = {0};
        put(&t, "", 0);
        if (it < n_edge) {
            const char *e = it < sizeof edge_reals / sizeof *edge_reals
                                ? edge_reals[it]
                                : edge_ints[it - sizeof edge_reals / sizeof *edge_reals];
            put(&t, e, strlen(e));
        } else if (it % 4 == 0) {
            random_int(&t, r, 0);
        } else {
            random_real(&t, r, 0);
        }
        char doc[160];
        if (t.n > 100) t.n = 100;
        t.s[t.n] = '\0';
        /* inside a one-element array (the compact path) and as an object value (a jansson real) */
        int k = snprintf(doc, sizeof doc, "[%s]", t.s);
        agree(doc, (size_t)k, doc, (size_t)k, t.s);
        k = snprintf(doc, sizeof doc, "{\"x\":%s}", t.s);
        agree(doc, (size_t)k, doc, (size_t)k, t.s);
        free(t.s);
    }
    static const char *const bad[] = {"01",
                                      "-",
                                      "1.",
                                      ".5",
                                      "1e",
                                      "1e+",
                                      "+1",
                                      "--1",
                                      "0x10",
                                      "1.5.2",
                                      "NaNa",
                                      "-NaN",
                                      "Infinit",
                                      "infinity",
                                      "nan",
                                      "1 2",
                                      "tru",
                                      "nul",
                                      "truee",
                                      "\"\\u0000\"",
                                      "\"\\uD800\"",
                                      "\"\\uDC00\"",
                                      "\"\\uD800\\u0041\"",
                                      "\"\\x\"",
                                      "\"\xc0\x80\"",
                                      "\"\xed\xa0\x80\"",
                                      "\"\xf4\x90\x80\x80\"",
                                      "\"\xe2\x82\"",
                                      "\"\x01\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char doc[64];
        int k = snprintf(doc, sizeof doc, "[%s]", bad[i]);
        mlops__json_read_error e;
        json_t *j = mlops__json_read(doc, (size_t)k, MAX_DEPTH, &e);
        ck_assert_msg(j == NULL && e.text[0], "accepted %s", doc);
        agree_text(doc, (size_t)k, bad[i]);
    }
    gsl_rng_free(r);
}
END_TEST

/* Model files: every truncation, and random byte flips biased towards JSON's own characters. */
START_TEST(model_files_mutated) {
    static const char *const files[] = {
        "tests/format/fixtures/gbtree_categorical.json", "tests/format/fixtures/gbtree_softmax.json",
        "tests/format/fixtures/gblinear_binary.json", "tests/fixtures/models/binary_logistic.json"};
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 7);
    static const char interesting[] = "\"\\,:[]{}0123456789.eE-+ \nNaIfuntrl\x02\x80\xc3\xff";
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        size_t len = 0;
        char *b = test_read_file(test_source_file(files[f]), &len);
        text whole = reference_text(b, len);
        ck_assert_msg(agree(b, len, whole.s, whole.n, files[f]), "%s is not accepted", files[f]);
        free(whole.s);
        for (size_t cut = 0; f < 3 && cut < len; cut++) {
            char what[96];
            snprintf(what, sizeof what, "%s cut at %zu", files[f], cut);
            agree_text(b, cut, what);
        }
        char *m = malloc(len);
        for (int it = 0; it < scaled(1500); it++) {
            memcpy(m, b, len);
            int flips = 1 + (int)gsl_rng_uniform_int(r, 3);
            for (int k = 0; k < flips; k++) {
                size_t at = gsl_rng_uniform_int(r, len);
                m[at] = gsl_rng_uniform(r) < 0.7 ? interesting[gsl_rng_uniform_int(r, sizeof interesting - 1)]
                                                 : (char)gsl_rng_uniform_int(r, 256);
            }
            char what[96];
            snprintf(what, sizeof what, "%s flip %d", files[f], it);
            agree_text(m, len, what);
        }
        free(m);
        free(b);
    }
    gsl_rng_free(r);
}
END_TEST

START_TEST(depth_and_reserved_byte) {
    text t = {0};
    for (int d = 0; d < 66; d++)
        put(&t, "[", 1);
    for (int d = 0; d < 66; d++)
        put(&t, "]", 1);
    mlops__json_read_error e;
    ck_assert_ptr_null(mlops__json_read(t.s, t.n, MAX_DEPTH, &e));
    ck_assert_msg(strstr(e.text, "nesting deeper than 64") && e.position == 64, "%s at %zu", e.text,
                  e.position);
    json_t *j = mlops__json_read(t.s + 2, t.n - 4, MAX_DEPTH, &e); /* 64 levels: accepted */
    ck_assert_msg(j != NULL, "%s", e.text);
    json_decref(j);
    free(t.s);
    ck_assert_ptr_null(mlops__json_read("{\"a\":\"\\u0002x\"}", 15, MAX_DEPTH, &e));
    ck_assert_msg(strstr(e.text, "0x02") != NULL, "%s", e.text);
    j = mlops__json_read("{\"\\u0002x\":\"x\\u0002\"}", 21, MAX_DEPTH, &e); /* keys and later bytes: fine */
    ck_assert_msg(j != NULL, "%s", e.text);
    json_decref(j);
    ck_assert_ptr_null(mlops__json_read("{\"a\":1}\n\n x", 11, MAX_DEPTH, &e));
    ck_assert_msg(e.line == 3 && e.position == 10, "line %d position %zu", e.line, e.position);
}
END_TEST

/* A NUL byte outside strings: refused by us wherever it stands; jansson skips one right after a
 * number (the fuzzer found it in a model), which json_compare.h's reference text accounts for. */
START_TEST(nul_byte_outside_strings) {
    static const char after_number[] = "{\"split_indices\":[2,0,3\0,2]}";
    size_t n = sizeof after_number - 1;
    mlops__json_read_error e;
    ck_assert_ptr_null(mlops__json_read(after_number, n, MAX_DEPTH, &e));
    ck_assert_msg(strstr(e.text, "expected ',' or ']'") && e.position == 23, "%s at %zu", e.text, e.position);
    json_error_t je;
    json_t *quirk = json_loadb(after_number, n, 0, &je); /* the quirk this test depends on */
    ck_assert_msg(quirk != NULL && json_array_size(json_object_get(quirk, "split_indices")) == 4,
                  "jansson no longer skips the NUL: %s", je.text);
    json_decref(quirk);
    agree_text(after_number, n, "NUL after a number");
#define WITH_LEN(x) {x, sizeof x - 1}
    static const struct {
        const char *s;
        size_t n;
    } others[] = {WITH_LEN("[\0 1]"), WITH_LEN("[1,\0 2]"), WITH_LEN("{\"a\"\0:1}"), WITH_LEN("[1]\0"),
                  WITH_LEN("\0[1]"), WITH_LEN("[true\0]")};
#undef WITH_LEN
    for (size_t i = 0; i < sizeof others / sizeof *others; i++) {
        ck_assert_ptr_null(mlops__json_read(others[i].s, others[i].n, MAX_DEPTH, &e));
        agree_text(others[i].s, others[i].n, "a NUL elsewhere");
    }
}
END_TEST

/* ---- engine models: XGBoost's JSON export loads through the reader, predicts bit-identically ---- */

static void predict_both(BoosterHandle h, const mlops_model *m, const float *x, size_t rows, size_t cols,
                         int margin, const char *name) {
    size_t n;
    const float *ref = test_xgb_predict(h, x, rows, cols, margin, 0, 0, NAN, &n);
    size_t width = mlops_model_output_width(m, margin ? MLOPS_PREDICT_MARGIN : 0);
    ck_assert_msg(n == rows * width, "%s: XGBoost gave %zu values, we have width %zu", name, n, width);
    float *out = malloc(n * sizeof *out);
    ck_assert_int_eq(mlops_model_predict(m, x, rows, cols, margin ? MLOPS_PREDICT_MARGIN : 0, out, n),
                     MLOPS_OK);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += !test_same_f32(out[i], ref[i]);
    ck_assert_msg(bad == 0, "%s (margin %d): %zu of %zu outputs differ from XGBoost", name, margin, bad, n);
    free(out);
}

START_TEST(engine_models_predict) {
    const char *dir = test_source_file("tests/engine/models");
    char dirpath[4096];
    snprintf(dirpath, sizeof dirpath, "%s", dir);
    size_t n_names = 0;
    char **names = test_xgb_models(dirpath, 40, &n_names);
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 1);
    size_t native = 0;
    for (size_t i = 0; i < n_names; i++) {
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dirpath, names[i]);
        BoosterHandle h = test_xgb_load(path);
        size_t len = 0;
        char *copy = test_xgb_save_json(h, &len);
        text ref = reference_text(copy, len);
        ck_assert_msg(agree(copy, len, ref.s, ref.n, names[i]), "%s: export not accepted", names[i]);
        free(ref.s);
        mlops_model_opts o;
        mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
        o.all_rounds = 1;
        mlops_model *m = NULL;
        ck_assert_msg(mlops_model_load_buffer(copy, len, &o, &m) == MLOPS_OK, "%s: %s", names[i],
                      mlops_last_error());
        native += mlops_model_engine(m) == MLOPS_ENGINE_NATIVE;
        size_t cols = mlops_model_n_features(m), rows = 97;
        float *x = malloc(rows * cols * sizeof *x);
        for (size_t k = 0; k < rows * cols; k++) {
            double u = gsl_rng_uniform(r);
            x[k] = u < 0.1   ? NAN
                   : u < 0.5 ? (float)gsl_rng_uniform_int(r, 8)
                             : (float)(4 * gsl_rng_uniform(r) - 2);
        }
        predict_both(h, m, x, rows, cols, 0, names[i]);
        predict_both(h, m, x, rows, cols, 1, names[i]);
        free(x);
        mlops_model_free(m);
        free(copy);
        test_xgb_ok(XGBoosterFree(h), "free");
    }
    test_names_free(names, n_names);
    gsl_rng_free(r);
    ck_assert_msg(native * 2 > n_names, "only %zu of %zu models on the native engine", native, n_names);
}
END_TEST

/* The hook of mlops__json_read_hooked (format.c checks each tree with it as the tree is read). */
typedef struct hook_log {
    int calls, path[8];
    size_t index[8];
    int stop_at; /* call number that stops the read, or -1 */
} hook_log;

static int record_element(void *ctx, int path, size_t index, json_t *elem) {
    hook_log *h = ctx;
    ck_assert_ptr_nonnull(elem);
    if (h->calls < 8) h->path[h->calls] = path, h->index[h->calls] = index;
    return h->calls++ == h->stop_at ? -7 : 0;
}

START_TEST(hook_sees_watched_elements) {
    static const char *const paths[] = {"a/t", "b/c/t", NULL};
    /* Watched: a.t's elements (after its leading numbers) and b.c.t's; not the root key "a/t", not
     * a compact array, not an array nested in an element, not "t" elsewhere. */
    const char *doc = "{\"a\":{\"t\":[1,2,{\"x\":1},[{\"n\":1}],\"s\"]},\"a/t\":[{\"y\":1}],"
                      "\"b\":{\"c\":{\"t\":[{}]},\"t\":[{}]},\"c\":{\"t\":[1,2]}}";
    hook_log h = {0, {0}, {0}, -1};
    mlops__json_hook hook = {paths, record_element, &h};
    mlops__json_read_error e;
    json_t *j = mlops__json_read_hooked(doc, strlen(doc), MAX_DEPTH, &hook, &e);
    ck_assert_msg(j != NULL, "%s", e.text);
    ck_assert_int_eq(h.calls, 4);
    ck_assert(h.path[0] == 0 && h.index[0] == 2 && h.path[1] == 0 && h.index[1] == 3);
    ck_assert(h.path[2] == 0 && h.index[2] == 4 && h.path[3] == 1 && h.index[3] == 0);
    /* The document is what the reader builds without a hook. */
    json_t *plain = mlops__json_read(doc, strlen(doc), MAX_DEPTH, &e);
    ck_assert(json_equal(j, plain));
    json_decref(plain);
    json_decref(j);
    /* A hook's non-zero status stops the read there. */
    h = (hook_log){0, {0}, {0}, 1};
    ck_assert_ptr_null(mlops__json_read_hooked(doc, strlen(doc), MAX_DEPTH, &hook, &e));
    ck_assert_int_eq(e.hook_status, -7);
    ck_assert_int_eq(h.calls, 2);
    /* A key path longer than the buffer matches nothing, even when a path names it. */
    char key[300], big[400];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    snprintf(big, sizeof big, "{\"%s\":[{}]}", key);
    const char *const long_paths[] = {key, NULL};
    mlops__json_hook long_hook = {long_paths, record_element, &h};
    h = (hook_log){0, {0}, {0}, -1};
    j = mlops__json_read_hooked(big, strlen(big), MAX_DEPTH, &long_hook, &e);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(h.calls, 0);
    json_decref(j);
}
END_TEST

int main(void) {
    const TTest *tests[] = {compact_arrays,          random_documents,         number_tokens,
                            model_files_mutated,     depth_and_reserved_byte,  nul_byte_outside_strings,
                            engine_models_predict,   hook_sees_watched_elements};
    return test_run_case("json_reader", "differential", 600, tests, MLOPS_TEST_COUNT(tests));
}
