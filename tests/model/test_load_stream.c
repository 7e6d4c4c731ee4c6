/* Issue 24: a load builds the native forest while it reads the bytes, so its peak holds the
 * forest plus one tree, not the forest plus the whole document.
 *
 * The process counts every live byte of libmlops's allocator and of jansson's (the document:
 * json_set_alloc_funcs is process-global, which the library must never call, but a test process
 * owns its globals) and records the peak during each load. Models are trained here by XGBoost
 * itself (deep, sparse trees: the compact layout, 8 bytes a node, against tens of bytes a node
 * for the document) and saved as JSON and UBJSON. Before issue 24's streaming the peak exceeded
 * the bound below several times over (README, model load); predictions are compared with
 * XGBoost's bit for bit, so the streamed forest is the model. */
#include <check.h>
#include <jansson.h>
#include <malloc.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "harness.h"
#include "mlops.h"
#include "xgb_ref.h"

static atomic_size_t live, peak;

static void count_in(void *p) {
    if (!p) return;
    size_t now = atomic_fetch_add(&live, malloc_usable_size(p)) + malloc_usable_size(p);
    size_t seen = atomic_load(&peak);
    while (now > seen && !atomic_compare_exchange_weak(&peak, &seen, now))
        ;
}
static void count_out(void *p) {
    if (p) atomic_fetch_sub(&live, malloc_usable_size(p));
}
static void *c_malloc(size_t n) {
    void *p = malloc(n);
    count_in(p);
    return p;
}
static void c_free(void *p) {
    count_out(p);
    free(p);
}
static void *c_realloc(void *p, size_t n) {
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = realloc(p, n);
    if (!q) return NULL;
    atomic_fetch_sub(&live, old);
    count_in(q);
    return q;
}

enum { ROWS = 2000, COLS = 16, ROUNDS = 150 };
static float X[ROWS * COLS];
static char *model_bytes[2]; /* JSON, UBJSON, in the test's own memory (not counted) */
static size_t model_len[2];
static BoosterHandle booster;
static size_t max_nodes; /* the largest tree's nodes, from XGBoost's JSON */

/* Deep, sparse trees: max_depth 14 with few rows per leaf keeps them far from complete, so every
 * tree stays in the compact layout (native_build.c tree_perfect). */
static void train(void) {
    unsigned s = 7;
    float y[ROWS];
    for (size_t i = 0; i < ROWS * COLS; i++) {
        s = s * 1103515245u + 12345u;
        X[i] = (float)((s >> 8) & 0xFFFF) / 65536.0f;
    }
    for (size_t r = 0; r < ROWS; r++)
        y[r] = X[r * COLS] + X[r * COLS + 1] * X[r * COLS + 2] + X[r * COLS + 3 + r % 5]; /* noisy: deep trees */
    DMatrixHandle dm;
    test_xgb_ok(XGDMatrixCreateFromMat(X, ROWS, COLS, NAN, &dm), "DMatrixCreateFromMat");
    test_xgb_ok(XGDMatrixSetFloatInfo(dm, "label", y, ROWS), "SetFloatInfo");
    test_xgb_ok(XGBoosterCreate(&dm, 1, &booster), "BoosterCreate");
    const char *params[][2] = {{"objective", "reg:squarederror"}, {"max_depth", "14"}, {"eta", "0.1"},
                               {"subsample", "0.5"}, {"nthread", "1"}, {"seed", "1"}};
    for (size_t k = 0; k < sizeof params / sizeof params[0]; k++)
        test_xgb_ok(XGBoosterSetParam(booster, params[k][0], params[k][1]), "SetParam");
    for (int i = 0; i < ROUNDS; i++)
        test_xgb_ok(XGBoosterUpdateOneIter(booster, i, dm), "UpdateOneIter");
    XGDMatrixFree(dm);
    static const char *formats[] = {"{\"format\": \"json\"}", "{\"format\": \"ubj\"}"};
    for (int k = 0; k < 2; k++) {
        bst_ulong len;
        const char *buf;
        test_xgb_ok(XGBoosterSaveModelToBuffer(booster, formats[k], &len, &buf), "SaveModelToBuffer");
        model_bytes[k] = malloc(len);
        memcpy(model_bytes[k], buf, len);
        model_len[k] = len;
    }
    json_t *doc = json_loadb(model_bytes[0], model_len[0], 0, NULL);
    ck_assert_ptr_nonnull(doc);
    json_t *trees = json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "learner"), "gradient_booster"), "model"), "trees");
    ck_assert_int_eq(json_array_size(trees), ROUNDS);
    for (size_t t = 0; t < json_array_size(trees); t++) {
        size_t n = json_array_size(json_object_get(json_array_get(trees, t), "left_children"));
        if (n > max_nodes) max_nodes = n;
    }
    json_decref(doc);
}

static void load_and_measure(int k) {
    static const char *names[] = {"JSON", "UBJSON"};
    mlops_model_opts o;
    mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
    o.engine = MLOPS_ENGINE_NATIVE;
    size_t base = atomic_load(&live);
    atomic_store(&peak, base);
    mlops_model *m = NULL;
    ck_assert_int_eq(mlops_model_load_buffer(model_bytes[k], model_len[k], &o, &m), MLOPS_OK);
    size_t growth = atomic_load(&peak) - base, held = atomic_load(&live) - base;
    size_t forest = mlops_model_native_bytes(m);
    /* The forest twice (while the layout is chosen at the end: the builder's arrays, then the
     * copy kept), one tree being read (its arrays: 14 of them, up to 8 bytes an entry, and the
     * scratch of the check and of the builder: about 320 bytes a node), what stays of each tree
     * until the end (its object with its "id") and the frame of the document (128 KiB). */
    size_t one_tree = 320 * max_nodes;
    size_t bound = 2 * forest + one_tree + ROUNDS * (size_t)512 + ((size_t)128 << 10);
    printf("load_stream %s: %zu model bytes, largest tree %zu nodes, peak growth %zu, held after load %zu, "
           "forest %zu, bound %zu\n",
           names[k], model_len[k], max_nodes, growth, held, forest, bound);
    ck_assert_msg(growth <= bound, "%s: the load peaked at %zu bytes, above forest + one tree (%zu)", names[k],
                  growth, bound);
    /* The streamed forest is the model: bit-identical to XGBoost's predictions. */
    size_t n_ref;
    const float *ref = test_xgb_predict(booster, X, 200, COLS, 0, 0, 0, NAN, &n_ref);
    float *out = malloc(n_ref * sizeof *out);
    ck_assert_int_eq(mlops_model_predict(m, X, 200, COLS, 0, out, n_ref), MLOPS_OK);
    for (size_t i = 0; i < n_ref; i++)
        ck_assert_msg(memcmp(&out[i], &ref[i], sizeof(float)) == 0, "%s: row %zu: %.9g, xgboost %.9g", names[k],
                      i, (double)out[i], (double)ref[i]);
    free(out);
    mlops_model_free(m);
}

START_TEST(load_peak_is_forest_plus_one_tree) {
    train();
    load_and_measure(0);
    load_and_measure(1);
    XGBoosterFree(booster);
    free(model_bytes[0]);
    free(model_bytes[1]);
}
END_TEST

int main(void) {
    static const mlops_allocator counting = {c_malloc, c_realloc, c_free};
    json_set_alloc_funcs(c_malloc, c_free); /* the test process's choice, never the library's */
    if (mlops_set_allocator(&counting) != MLOPS_OK) return EXIT_FAILURE;
    const TTest *tests[] = {load_peak_is_forest_plus_one_tree};
    Suite *s = suite_create("load_stream");
    test_case_add(s, "core", 300, tests, MLOPS_TEST_COUNT(tests));
    return test_run_suite(s);
}
