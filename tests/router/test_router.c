/* Router tests: the hash against xxHash's own published test vectors, the
 * documented assignment scheme, the split of 100k keys against the weights,
 * stickiness under weight changes, routed predictions against XGBoost's
 * (tests/fixtures/gen_fixtures.py), every kind of bad input, and 8 threads
 * predicting while variants are added, reweighted and removed. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlops.h"
#include "mlops/router.h"
#include "harness.h"

static const char *path_of(const char *rel) { return test_fixture_file(rel); }

static float *read_f32(const char *rel, size_t *n) { return test_read_f32(path_of(rel), n); }

static mlops_model *load(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s.json", name);
    mlops_model *m = NULL;
    ck_assert_msg(mlops_model_load(path_of(rel), NULL, &m) == MLOPS_OK, "%s", mlops_last_error());
    return m;
}

/* binary_logistic and dart_binary: 30 features, width 1 (tests/fixtures/manifest.json); X = the 48 rows of
 * binary_logistic.x.f32, PRED_A/PRED_B = XGBoost's predictions of the two models on X (the second from
 * tests/router/gen_fixtures.py). */
enum { NF = 30, NROWS = 48 };
static float *X, *PRED_A, *PRED_B;

static void setup(void) {
    size_t n = 0;
    X = read_f32("models/binary_logistic.x.f32", &n);
    ck_assert_uint_eq(n, (size_t)NF * NROWS);
    PRED_A = read_f32("models/binary_logistic.pred.f32", &n);
    ck_assert_uint_eq(n, NROWS);
    PRED_B = test_read_f32(test_source_file("tests/router/fixtures/dart_binary.on_binary_logistic_x.pred.f32"), &n);
    ck_assert_uint_eq(n, NROWS);
}

static void teardown(void) {
    free(X);
    free(PRED_A);
    free(PRED_B);
}

static mlops_router *router_ab(uint32_t wa, uint32_t wb) {
    mlops_router *r = NULL;
    ck_assert_int_eq(mlops_router_create(NULL, &r), MLOPS_OK);
    mlops_model *a = load("binary_logistic"), *b = load("dart_binary");
    ck_assert_int_eq(mlops_router_add_variant(r, "A", a, wa), MLOPS_OK);
    ck_assert_int_eq(mlops_router_add_variant(r, "B", b, wb), MLOPS_OK);
    mlops_model_free(a); /* the router keeps its own references */
    mlops_model_free(b);
    return r;
}

static size_t assign(mlops_router *r, const char *key) {
    size_t v = 99;
    ck_assert_int_eq(mlops_router_assign(r, key, strlen(key), &v), MLOPS_OK);
    return v;
}

/* ---- the hash: xxHash's published XXH3_64bits_withSeed vectors ----------------------------------
 * From Cyan4973/xxHash cli/xsum_sanity_check.c (XSUM_XXH3_testdata): the input is the sanity buffer
 * byte[i] = gen >> 56, gen = PRIME32 then gen *= PRIME64 after each byte. */
START_TEST(key_hash_is_xxh3_by_the_spec_vectors) {
    const uint64_t PRIME32 = UINT64_C(2654435761), PRIME64 = UINT64_C(11400714785074694797);
    unsigned char buf[512];
    uint64_t gen = PRIME32;
    for (size_t i = 0; i < sizeof buf; i++) {
        buf[i] = (unsigned char)(gen >> 56);
        gen *= PRIME64;
    }
    static const struct {
        size_t len;
        int seeded;
        uint64_t want;
    } v[] = {
        {0, 0, UINT64_C(0x2D06800538D394C2)},   {0, 1, UINT64_C(0xA8A6B918B2F0364A)},
        {1, 0, UINT64_C(0xC44BDFF4074EECDB)},   {1, 1, UINT64_C(0x032BE332DD766EF8)},
        {6, 0, UINT64_C(0x27B56A84CD2D7325)},   {6, 1, UINT64_C(0x84589C116AB59AB9)},
        {12, 0, UINT64_C(0xA713DAF0DFBB77E7)},  {12, 1, UINT64_C(0xE7303E1B2336DE0E)},
        {24, 0, UINT64_C(0xA3FE70BF9D3510EB)},  {24, 1, UINT64_C(0x850E80FC35BDD690)},
        {48, 0, UINT64_C(0x397DA259ECBA1F11)},  {48, 1, UINT64_C(0xADC2CBAA44ACC616)},
        {80, 0, UINT64_C(0xBCDEFBBB2C47C90A)},  {80, 1, UINT64_C(0xC6DD0CB699532E73)},
        {195, 0, UINT64_C(0xCD94217EE362EC3A)}, {195, 1, UINT64_C(0xBA68003D370CB3D9)},
        {403, 0, UINT64_C(0xCDEB804D65C6DEA4)}, {403, 1, UINT64_C(0x6259F6ECFD6443FD)},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint64_t got = mlops_router_key_hash(v[i].len ? buf : NULL, v[i].len, v[i].seeded ? PRIME64 : 0);
        ck_assert_msg(got == v[i].want, "len %zu seed %d: %016llx, want %016llx", v[i].len, v[i].seeded,
                      (unsigned long long)got, (unsigned long long)v[i].want);
    }
}
END_TEST

/* ---- the documented scheme, recomputed here with a 128-bit product ---------------------------- */
__extension__ typedef unsigned __int128 u128;

static size_t scheme(const char *key, uint64_t seed, const uint32_t *w, size_t n) {
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    uint64_t h = mlops_router_key_hash(key, strlen(key), seed);
    uint64_t point = (uint64_t)(((u128)h * total) >> 64);
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++) {
        c += w[i];
        if (c > point) return i;
    }
    return (size_t)-1;
}

START_TEST(assignment_follows_the_documented_scheme) {
    mlops_router_opts o;
    mlops_router_opts_init(&o, MLOPS_ROUTER_OPTS_VERSION);
    ck_assert_uint_eq(o.version, MLOPS_ROUTER_OPTS_VERSION);
    ck_assert_uint_eq(o.seed, 0);
    o.seed = UINT64_C(0x5eed5eed12345678);
    mlops_router *r = NULL;
    ck_assert_int_eq(mlops_router_create(&o, &r), MLOPS_OK);
    mlops_model *a = load("binary_logistic");
    const uint32_t w[4] = {3, 0, 4000000000u, 7};
    const char *names[4] = {"control", "off", "big", "tail"};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(mlops_router_add_variant(r, names[i], a, w[i]), MLOPS_OK);
    mlops_model_free(a);
    size_t hits[4] = {0};
    char key[64];
    for (int k = 0; k < 20000; k++) {
        snprintf(key, sizeof key, "user-%d", k);
        size_t got = assign(r, key);
        ck_assert_uint_eq(got, scheme(key, o.seed, w, 4));
        hits[got]++;
    }
    ck_assert_uint_eq(hits[1], 0); /* weight 0 gets nothing */
    ck_assert_uint_gt(hits[2], 19900);
    /* another seed is another split; the same seed is the same one */
    mlops_router *r2 = NULL;
    ck_assert_int_eq(mlops_router_create(NULL, &r2), MLOPS_OK);
    mlops_model *b = load("binary_logistic");
    ck_assert_int_eq(mlops_router_add_variant(r2, "x", b, 1), MLOPS_OK);
    ck_assert_int_eq(mlops_router_add_variant(r2, "y", b, 1), MLOPS_OK);
    mlops_model_free(b);
    const uint32_t w2[2] = {1, 1};
    size_t differ = 0;
    for (int k = 0; k < 2000; k++) {
        snprintf(key, sizeof key, "user-%d", k);
        size_t got = assign(r2, key);
        ck_assert_uint_eq(got, scheme(key, 0, w2, 2));
        differ += got != scheme(key, o.seed, w2, 2);
    }
    ck_assert_uint_gt(differ, 800); /* independent halves: ~1000 of 2000 differ */
    ck_assert_uint_lt(differ, 1200);
    mlops_router_free(r);
    mlops_router_free(r2);
}
END_TEST

/* |count - n p| within 5 binomial standard deviations. */
static void ck_binomial(size_t count, size_t n, double p) {
    double sd = sqrt(n * p * (1 - p));
    ck_assert_msg(fabs((double)count - n * p) <= 5 * sd, "%zu of %zu, expected %.1f +- %.1f", count, n, n * p,
                  5 * sd);
}

START_TEST(split_of_100k_keys_matches_the_weights) {
    mlops_router *r = router_ab(1, 2);
    mlops_model *a = load("binary_logistic");
    ck_assert_int_eq(mlops_router_add_variant(r, "C", a, 7), MLOPS_OK);
    mlops_model_free(a);
    size_t hits[3] = {0};
    char key[64];
    const size_t N = 100000;
    for (size_t k = 0; k < N; k++) {
        snprintf(key, sizeof key, "%zu", k);
        hits[assign(r, key)]++;
    }
    ck_binomial(hits[0], N, 0.1);
    ck_binomial(hits[1], N, 0.2);
    ck_binomial(hits[2], N, 0.7);
    mlops_variant_stats s;
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(mlops_router_get_variant_stats(r, i, &s), MLOPS_OK);
        ck_assert_uint_eq(s.assignments, hits[i]);
    }
    /* unkeyed requests: spread evenly by the golden-ratio counter, far tighter than random */
    size_t un[3] = {0};
    for (size_t k = 0; k < 10000; k++) {
        size_t v = 9;
        ck_assert_int_eq(mlops_router_assign(r, NULL, 0, &v), MLOPS_OK);
        un[v]++;
    }
    ck_assert_msg(labs((long)un[0] - 1000) <= 10 && labs((long)un[1] - 2000) <= 10 &&
                      labs((long)un[2] - 7000) <= 10,
                  "unkeyed split %zu %zu %zu", un[0], un[1], un[2]);
    mlops_router_free(r);
}
END_TEST

START_TEST(weight_changes_move_only_keys_whose_slice_moved) {
    mlops_router *r = router_ab(90, 10);
    enum { N = 20000 };
    static size_t before[N];
    char key[64];
    for (int k = 0; k < N; k++) {
        snprintf(key, sizeof key, "u%d", k);
        before[k] = assign(r, key);
    }
    /* appending a zero-weight variant and removing it changes nothing */
    mlops_model *a = load("binary_logistic");
    ck_assert_int_eq(mlops_router_add_variant(r, "C", a, 0), MLOPS_OK);
    mlops_model_free(a);
    for (int k = 0; k < N; k++) {
        snprintf(key, sizeof key, "u%d", k);
        ck_assert_uint_eq(assign(r, key), before[k]);
    }
    ck_assert_int_eq(mlops_router_remove_variant(r, "C"), MLOPS_OK);
    /* ramp the last variant 10% -> 20%: B keeps all its keys, exactly the keys with u in [0.8, 0.9) move */
    ck_assert_int_eq(mlops_router_set_weight(r, "B", 20), MLOPS_OK);
    ck_assert_int_eq(mlops_router_set_weight(r, "A", 80), MLOPS_OK);
    size_t moved = 0;
    for (int k = 0; k < N; k++) {
        snprintf(key, sizeof key, "u%d", k);
        size_t now = assign(r, key);
        double u = (double)mlops_router_key_hash(key, strlen(key), 0) / 18446744073709551616.0;
        if (before[k] == 1) ck_assert_uint_eq(now, 1);
        int should_move = u >= 0.8 && u < 0.9;
        ck_assert_int_eq(now != before[k], should_move);
        moved += now != before[k];
    }
    ck_binomial(moved, N, 0.1);
    /* and back: everyone returns to the original variant (history-independent) */
    ck_assert_int_eq(mlops_router_set_weight(r, "A", 90), MLOPS_OK);
    ck_assert_int_eq(mlops_router_set_weight(r, "B", 10), MLOPS_OK);
    for (int k = 0; k < N; k++) {
        snprintf(key, sizeof key, "u%d", k);
        ck_assert_uint_eq(assign(r, key), before[k]);
    }
    mlops_router_free(r);
}
END_TEST

START_TEST(predict_routes_and_records_statistics) {
    mlops_router *r = router_ab(1, 1);
    ck_assert_uint_eq(mlops_router_n_features(r), NF);
    ck_assert_uint_eq(mlops_router_output_width(r, 0), 1);
    ck_assert_uint_eq(mlops_router_output_width(r, MLOPS_PREDICT_MARGIN), 1);
    float out[NROWS];
    size_t rows[2] = {0}, reqs[2] = {0};
    char key[32];
    for (int k = 0; k < 200; k++) {
        snprintf(key, sizeof key, "id-%d", k);
        size_t n = 1 + (size_t)k % NROWS, v = 9;
        ck_assert_int_eq(mlops_router_predict(r, key, strlen(key), X, n, NF, 0, out, n, &v), MLOPS_OK);
        ck_assert_uint_eq(v, assign(r, key)); /* sticky: predict goes where assign says */
        const float *want = v == 0 ? PRED_A : PRED_B;
        for (size_t i = 0; i < n; i++)
            ck_assert_float_eq_tol(out[i], want[i], 1e-6);
        rows[v] += n;
        reqs[v]++;
    }
    ck_assert_uint_gt(reqs[0], 60);
    ck_assert_uint_gt(reqs[1], 60);
    for (size_t i = 0; i < 2; i++) {
        mlops_variant_stats s;
        ck_assert_int_eq(mlops_router_get_variant_stats(r, i, &s), MLOPS_OK);
        ck_assert_str_eq(s.name, i == 0 ? "A" : "B");
        ck_assert_uint_eq(s.weight, 1);
        ck_assert_uint_eq(s.requests, reqs[i]);
        ck_assert_uint_eq(s.rows, rows[i]);
        ck_assert_uint_eq(s.errors, 0);
        ck_assert_uint_eq(s.assignments, reqs[i]); /* the assign() calls above only */
        ck_assert_uint_gt(s.latency_ns, 0);
    }
    /* statistics survive a weight change */
    ck_assert_int_eq(mlops_router_set_weight(r, "B", 5), MLOPS_OK);
    mlops_variant_stats s;
    ck_assert_int_eq(mlops_router_get_variant_stats(r, 1, &s), MLOPS_OK);
    ck_assert_uint_eq(s.requests, reqs[1]);
    ck_assert_uint_eq(s.weight, 5);
    size_t idx = 9;
    ck_assert_int_eq(mlops_router_find(r, "B", &idx), MLOPS_OK);
    ck_assert_uint_eq(idx, 1);
    /* zero rows is a no-op request */
    ck_assert_int_eq(mlops_router_predict(r, NULL, 0, NULL, 0, NF, 0, NULL, 0, NULL), MLOPS_OK);
    mlops_router_free(r);
}
END_TEST

/* ---- bad input: status, message, and nothing changed ------------------------------------------ */
typedef struct snapshot {
    size_t n;
    mlops_variant_stats s[4];
    size_t probe[64];
} snapshot;

static void take(mlops_router *r, snapshot *sn) {
    memset(sn, 0, sizeof *sn);
    sn->n = mlops_router_n_variants(r);
    for (size_t i = 0; i < sn->n; i++)
        ck_assert_int_eq(mlops_router_get_variant_stats(r, i, &sn->s[i]), MLOPS_OK);
    char key[16];
    for (int k = 0; k < 64; k++) {
        snprintf(key, sizeof key, "p%d", k);
        sn->probe[k] = scheme(key, 0, (uint32_t[]){sn->s[0].weight, sn->s[1].weight}, 2);
    }
}

static void unchanged(mlops_router *r, const snapshot *before) {
    snapshot now;
    take(r, &now);
    ck_assert_uint_eq(now.n, before->n);
    for (size_t i = 0; i < now.n; i++) {
        const mlops_variant_stats *a = &now.s[i], *b = &before->s[i];
        ck_assert_str_eq(a->name, b->name);
        ck_assert_uint_eq(a->weight, b->weight);
        ck_assert_uint_eq(a->assignments, b->assignments);
        ck_assert_uint_eq(a->requests, b->requests);
        ck_assert_uint_eq(a->rows, b->rows);
        ck_assert_uint_eq(a->errors, b->errors);
        ck_assert_uint_eq(a->latency_ns, b->latency_ns);
    }
    ck_assert_int_eq(memcmp(now.probe, before->probe, sizeof now.probe), 0);
}

#define EXPECT_FAIL(call, status, text)                                                                      \
    do {                                                                                                     \
        mlops_clear_error();                                                                                 \
        ck_assert_int_eq((call), (status));                                                                  \
        ck_assert_msg(strstr(mlops_last_error(), (text)) != NULL, "message '%s' lacks '%s'",                 \
                      mlops_last_error(), (text));                                                           \
        unchanged(r, &sn);                                                                                   \
    } while (0)

START_TEST(bad_input_fails_cleanly_and_changes_nothing) {
    mlops_router *r = router_ab(3, 1), *none = NULL;
    mlops_model *a = load("binary_logistic"), *multi = load("multi_softprob");
    float out[NROWS * 3];
    size_t v = 77;
    snapshot sn;
    take(r, &sn);
    char longname[MLOPS_ROUTER_NAME_MAX + 1];
    memset(longname, 'n', MLOPS_ROUTER_NAME_MAX);
    longname[MLOPS_ROUTER_NAME_MAX] = 0;

    EXPECT_FAIL(mlops_router_create(NULL, NULL), MLOPS_EINVAL, "NULL out");
    mlops_router_opts o = MLOPS_ROUTER_OPTS_INIT;
    o.version = 99;
    EXPECT_FAIL(mlops_router_create(&o, &none), MLOPS_EVERSION, "version 99");
    ck_assert_ptr_null(none);

    EXPECT_FAIL(mlops_router_add_variant(NULL, "C", a, 1), MLOPS_EINVAL, "NULL router");
    EXPECT_FAIL(mlops_router_add_variant(r, NULL, a, 1), MLOPS_EINVAL, "NULL variant name");
    EXPECT_FAIL(mlops_router_add_variant(r, "", a, 1), MLOPS_EINVAL, "empty variant name");
    EXPECT_FAIL(mlops_router_add_variant(r, longname, a, 1), MLOPS_ELIMIT, "longer than 63");
    EXPECT_FAIL(mlops_router_add_variant(r, "C", NULL, 1), MLOPS_EINVAL, "NULL model");
    EXPECT_FAIL(mlops_router_add_variant(r, "A", a, 1), MLOPS_EEXIST, "'A' already exists");
    EXPECT_FAIL(mlops_router_add_variant(r, "M", multi, 1), MLOPS_ESHAPE, "takes 4 features");
    EXPECT_FAIL(mlops_router_add_variant(r, "C", a, UINT32_MAX), MLOPS_ERANGE, "exceeds");

    EXPECT_FAIL(mlops_router_set_weight(r, "nope", 1), MLOPS_ENOTFOUND, "no variant 'nope'");
    EXPECT_FAIL(mlops_router_set_weight(r, "B", UINT32_MAX), MLOPS_ERANGE, "total weight");
    EXPECT_FAIL(mlops_router_set_weight(NULL, "B", 1), MLOPS_EINVAL, "NULL router");
    EXPECT_FAIL(mlops_router_remove_variant(r, "nope"), MLOPS_ENOTFOUND, "no variant 'nope'");
    EXPECT_FAIL(mlops_router_remove_variant(r, NULL), MLOPS_EINVAL, "NULL variant name");
    EXPECT_FAIL(mlops_router_find(r, "nope", &v), MLOPS_ENOTFOUND, "no variant 'nope'");
    EXPECT_FAIL(mlops_router_find(r, "A", NULL), MLOPS_EINVAL, "NULL index");

    EXPECT_FAIL(mlops_router_assign(NULL, "k", 1, &v), MLOPS_EINVAL, "NULL router");
    EXPECT_FAIL(mlops_router_assign(r, "k", 1, NULL), MLOPS_EINVAL, "NULL variant");
    EXPECT_FAIL(mlops_router_assign(r, NULL, 5, &v), MLOPS_EINVAL, "NULL key with length 5");

    EXPECT_FAIL(mlops_router_predict(r, "k", 1, X, 2, NF - 1, 0, out, 2, &v), MLOPS_ESHAPE,
                "expected 30 features per row, got 29");
    EXPECT_FAIL(mlops_router_predict(r, "k", 1, X, 2, NF, 0, out, 1, &v), MLOPS_ESHAPE,
                "output holds 1 values, 2 rows need 2");
    EXPECT_FAIL(mlops_router_predict(r, "k", 1, NULL, 2, NF, 0, out, 2, &v), MLOPS_EINVAL, "NULL x");
    EXPECT_FAIL(mlops_router_predict(r, "k", 1, X, 2, NF, 0, NULL, 2, &v), MLOPS_EINVAL, "NULL out");
    EXPECT_FAIL(mlops_router_predict(r, "k", 1, X, 2, NF, 8, out, 2, &v), MLOPS_EINVAL, "unknown flags 0x8");
    EXPECT_FAIL(mlops_router_predict(r, NULL, 3, X, 2, NF, 0, out, 2, &v), MLOPS_EINVAL, "NULL key");
    EXPECT_FAIL(mlops_router_predict(NULL, "k", 1, X, 2, NF, 0, out, 2, &v), MLOPS_EINVAL, "NULL router");
    ck_assert_uint_eq(v, 77); /* never written on failure */

    mlops_variant_stats s;
    EXPECT_FAIL(mlops_router_get_variant_stats(r, 2, &s), MLOPS_ERANGE, "index 2, the router has 2");
    EXPECT_FAIL(mlops_router_get_variant_stats(r, 0, NULL), MLOPS_EINVAL, "NULL stats");

    /* zero total weight: assign and predict refuse, nothing is counted */
    ck_assert_int_eq(mlops_router_set_weight(r, "A", 0), MLOPS_OK);
    ck_assert_int_eq(mlops_router_set_weight(r, "B", 0), MLOPS_OK);
    take(r, &sn);
    EXPECT_FAIL(mlops_router_assign(r, "k", 1, &v), MLOPS_ESTATE, "total weight is 0");
    EXPECT_FAIL(mlops_router_predict(r, "k", 1, X, 1, NF, 0, out, 1, &v), MLOPS_ESTATE, "total weight is 0");
    mlops_router *empty = NULL;
    ck_assert_int_eq(mlops_router_create(NULL, &empty), MLOPS_OK);
    ck_assert_int_eq(mlops_router_assign(empty, "k", 1, &v), MLOPS_ESTATE);
    ck_assert_uint_eq(mlops_router_n_features(empty), 0);
    /* once emptied, a router takes a model of another shape */
    ck_assert_int_eq(mlops_router_add_variant(empty, "M", multi, 1), MLOPS_OK);
    ck_assert_uint_eq(mlops_router_output_width(empty, 0), 3);
    ck_assert_int_eq(mlops_router_remove_variant(empty, "M"), MLOPS_OK);
    ck_assert_int_eq(mlops_router_add_variant(empty, "A", a, 1), MLOPS_OK);
    ck_assert_uint_eq(mlops_router_n_features(empty), NF);
    mlops_router_free(empty);
    mlops_router_free(NULL);
    ck_assert_uint_eq(mlops_router_n_variants(NULL), 0);
    mlops_model_free(a);
    mlops_model_free(multi);
    mlops_router_free(r);
}
END_TEST

/* ---- 8 threads ------------------------------------------------------------------------------- */
enum { THREADS = 8, ITERS = 3000 };
static mlops_router *shared;
static size_t expected_variant[THREADS][64];
static _Atomic int stop_writer;

static void *sticky_worker(void *arg) {
    int id = (int)(intptr_t)arg;
    float out[4];
    char key[32];
    for (int it = 0; it < ITERS; it++) {
        int k = it % 64;
        snprintf(key, sizeof key, "t%d-k%d", id, k);
        size_t v = 99, n = 1 + (size_t)it % 4;
        mlops_status st =
            mlops_router_predict(shared, key, strlen(key), X + (size_t)k % 40 * NF, n, NF, 0, out, n, &v);
        if (st != MLOPS_OK || v != expected_variant[id][k]) return (void *)1;
        const float *want = (v == 0 ? PRED_A : PRED_B) + k % 40;
        for (size_t i = 0; i < n; i++)
            if (fabsf(out[i] - want[i]) > 1e-6f) return (void *)2;
    }
    return NULL;
}

/* Churn that must not move any key: a zero-weight variant added and removed, no-op weight sets. */
static void *sticky_writer(void *arg) {
    (void)arg;
    mlops_model *m = load("binary_logistic");
    while (!stop_writer) {
        if (mlops_router_add_variant(shared, "C", m, 0) != MLOPS_OK) return (void *)1;
        if (mlops_router_set_weight(shared, "A", 1) != MLOPS_OK) return (void *)2;
        if (mlops_router_remove_variant(shared, "C") != MLOPS_OK) return (void *)3;
    }
    mlops_model_free(m);
    return NULL;
}

static void *unkeyed_worker(void *arg) {
    (void)arg;
    float out[NROWS];
    for (int it = 0; it < ITERS; it++) {
        size_t n = 1 + (size_t)it % NROWS;
        if (mlops_router_predict(shared, NULL, 0, X, n, NF, 0, out, n, NULL) != MLOPS_OK) return (void *)1;
        for (size_t i = 0; i < n; i++)
            if (fabsf(out[i] - PRED_A[i]) > 1e-6f) return (void *)2;
    }
    return NULL;
}

/* Real churn: variants with weight, each a freshly loaded model whose caller reference is dropped at
 * once, removed while requests are in flight (use-after-free would show under ASan/valgrind). */
static void *churn_writer(void *arg) {
    (void)arg;
    unsigned i = 0;
    while (!stop_writer) {
        mlops_model *m = load("binary_logistic");
        char name[16];
        snprintf(name, sizeof name, "c%u", i % 3);
        mlops_router_remove_variant(shared, name); /* may not exist yet */
        if (mlops_router_add_variant(shared, name, m, 1 + i % 5) != MLOPS_OK) return (void *)1;
        mlops_model_free(m);
        if (mlops_router_set_weight(shared, "A", 1 + i % 7) != MLOPS_OK) return (void *)2;
        i++;
    }
    return NULL;
}

START_TEST(eight_threads_predict_while_variants_change) {
    shared = router_ab(1, 1);
    char key[32];
    for (int t = 0; t < THREADS; t++)
        for (int k = 0; k < 64; k++) {
            snprintf(key, sizeof key, "t%d-k%d", t, k);
            expected_variant[t][k] = assign(shared, key);
        }
    pthread_t th[THREADS], w;
    stop_writer = 0;
    ck_assert_int_eq(pthread_create(&w, NULL, sticky_writer, NULL), 0);
    for (int t = 0; t < THREADS; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, sticky_worker, (void *)(intptr_t)t), 0);
    for (int t = 0; t < THREADS; t++) {
        void *res;
        pthread_join(th[t], &res);
        ck_assert_msg(res == NULL, "sticky worker %d failed (%ld): %s", t, (long)(intptr_t)res,
                      mlops_last_error());
    }
    stop_writer = 1;
    void *wres;
    pthread_join(w, &wres);
    ck_assert_ptr_null(wres);
    mlops_variant_stats a, b;
    ck_assert_int_eq(mlops_router_get_variant_stats(shared, 0, &a), MLOPS_OK);
    ck_assert_int_eq(mlops_router_get_variant_stats(shared, 1, &b), MLOPS_OK);
    ck_assert_uint_eq(a.requests + b.requests, (uint64_t)THREADS * ITERS);
    ck_assert_uint_eq(a.errors + b.errors, 0);
    mlops_router_free(shared);

    /* phase 2: every variant serves binary_logistic; variants come and go under load */
    ck_assert_int_eq(mlops_router_create(NULL, &shared), MLOPS_OK);
    mlops_model *m = load("binary_logistic");
    ck_assert_int_eq(mlops_router_add_variant(shared, "A", m, 1), MLOPS_OK);
    mlops_model_free(m);
    stop_writer = 0;
    ck_assert_int_eq(pthread_create(&w, NULL, churn_writer, NULL), 0);
    for (int t = 0; t < THREADS; t++)
        ck_assert_int_eq(pthread_create(&th[t], NULL, unkeyed_worker, NULL), 0);
    for (int t = 0; t < THREADS; t++) {
        void *res;
        pthread_join(th[t], &res);
        ck_assert_msg(res == NULL, "unkeyed worker %d failed (%ld)", t, (long)(intptr_t)res);
    }
    stop_writer = 1;
    pthread_join(w, &wres);
    ck_assert_ptr_null(wres);
    mlops_router_free(shared);
}
END_TEST

static Suite *make_suite(void) {
    TCase *t;
    Suite *s = test_suite_single("router", 240, setup, teardown, &t);
    tcase_add_test(t, key_hash_is_xxh3_by_the_spec_vectors);
    tcase_add_test(t, assignment_follows_the_documented_scheme);
    tcase_add_test(t, split_of_100k_keys_matches_the_weights);
    tcase_add_test(t, weight_changes_move_only_keys_whose_slice_moved);
    tcase_add_test(t, predict_routes_and_records_statistics);
    tcase_add_test(t, bad_input_fails_cleanly_and_changes_nothing);
    tcase_add_test(t, eight_threads_predict_while_variants_change);
    return s;
}

MLOPS_TEST_MAIN(make_suite)
