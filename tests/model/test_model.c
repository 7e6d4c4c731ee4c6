/* Model module tests: every fixture model in every format against XGBoost's own
 * predictions (tests/fixtures/gen_fixtures.py), metadata, and bad input. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "mlops.h"
#include "harness.h"
#include "xgb_ref.h"

static json_t *manifest;

static const char *path_of(const char *rel) { return test_fixture_file(rel); }

/* Attribute `key` of `m`, or NULL when absent (mlops_model_find_attr's ENOTFOUND). */
static const char *attr_of(const mlops_model *m, const char *key) {
    const char *v = NULL;
    mlops_status st = mlops_model_find_attr(m, key, &v);
    ck_assert(st == MLOPS_OK || st == MLOPS_ENOTFOUND);
    return v;
}

static float *read_f32(const char *rel, size_t *n) { return test_read_f32(path_of(rel), n); }

static unsigned char *read_bytes(const char *rel, size_t *n) { return test_read_file(path_of(rel), n); }

/* Bitwise equality, NaN equal to NaN. */
static size_t count_mismatches(const float *a, const float *b, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (!(a[i] == b[i] || (isnan(a[i]) && isnan(b[i])))) bad++;
    return bad;
}

static void check_fixture(json_t *fx, const char *fmt, mlops_engine engine) {
    const char *name = json_string_value(json_object_get(fx, "name"));
    const char *rel = json_string_value(json_object_get(json_object_get(fx, "models"), fmt));
    mlops_model_opts o;
    mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
    o.engine = engine;
    mlops_model *m = NULL;
    mlops_status st = mlops_model_load(path_of(rel), &o, &m);
    ck_assert_msg(st == MLOPS_OK, "%s (%s): %s", name, fmt, mlops_last_error());
    size_t n_rows = (size_t)json_integer_value(json_object_get(fx, "n_rows"));
    size_t n_feat = (size_t)json_integer_value(json_object_get(fx, "n_features"));
    size_t width = (size_t)json_integer_value(json_object_get(fx, "width"));
    size_t mwidth = (size_t)json_integer_value(json_object_get(fx, "margin_width"));
    ck_assert_uint_eq(mlops_model_n_features(m), n_feat);
    ck_assert_uint_eq(mlops_model_n_outputs(m), width);
    ck_assert_uint_eq(mlops_model_output_width(m, MLOPS_PREDICT_MARGIN), mwidth);
    ck_assert_uint_eq(mlops_model_n_rounds(m),
                      (size_t)json_integer_value(json_object_get(json_object_get(fx, "n_rounds"), fmt)));
    json_t *attrs = json_object_get(json_object_get(fx, "attributes"), fmt);
    ck_assert_uint_eq(mlops_model_n_attrs(m), json_object_size(attrs));
    const char *key;
    json_t *val;
    json_object_foreach(attrs, key, val) ck_assert_str_eq(attr_of(m, key), json_string_value(val));
    ck_assert_str_eq(mlops_model_objective(m), json_string_value(json_object_get(fx, "objective")));
    ck_assert_str_eq(mlops_model_booster(m), json_string_value(json_object_get(fx, "booster")));
    ck_assert_uint_eq(mlops_model_n_classes(m), (size_t)json_integer_value(json_object_get(fx, "num_class")));
    ck_assert(fabs(mlops_model_base_score(m) - json_real_value(json_object_get(fx, "base_score"))) < 1e-6);
    if (strcmp(fmt, "binary") != 0) { /* the legacy format stores no feature names */
        json_t *names = json_object_get(fx, "feature_names");
        for (size_t i = 0; i < n_feat; i++)
            ck_assert_str_eq(mlops_model_feature_name(m, i), json_string_value(json_array_get(names, i)));
        ck_assert_str_eq(attr_of(m, "source"), "gen_fixtures.py");
        ck_assert_str_eq(attr_of(m, "dataset"), name);
    }
    ck_assert_ptr_null(mlops_model_feature_name(m, n_feat));
    if (engine == MLOPS_ENGINE_XGBOOST) ck_assert_int_eq(mlops_model_engine(m), MLOPS_ENGINE_XGBOOST);

    size_t nx = 0, np_ = 0, nm = 0;
    float *x = read_f32(json_string_value(json_object_get(fx, "x")), &nx);
    float *want = read_f32(json_string_value(json_object_get(fx, "pred")), &np_);
    float *want_margin = read_f32(json_string_value(json_object_get(fx, "margin")), &nm);
    ck_assert_uint_eq(nx, n_rows * n_feat);
    ck_assert_uint_eq(np_, n_rows * width);
    float *out = malloc(nm * sizeof *out > np_ * sizeof *out ? nm * sizeof *out : np_ * sizeof *out);
    ck_assert_int_eq(mlops_model_predict(m, x, n_rows, n_feat, 0, out, np_), MLOPS_OK);
    ck_assert_msg(count_mismatches(out, want, np_) == 0, "%s (%s, %s): %zu of %zu predictions differ", name,
                  fmt, mlops_engine_name(mlops_model_engine(m)), count_mismatches(out, want, np_), np_);
    ck_assert_int_eq(mlops_model_predict(m, x, n_rows, n_feat, MLOPS_PREDICT_MARGIN, out, nm), MLOPS_OK);
    ck_assert_msg(count_mismatches(out, want_margin, nm) == 0, "%s (%s): margins differ", name, fmt);
    /* Row by row gives the same as the batch. */
    for (size_t r = 0; r < n_rows; r++) {
        ck_assert_int_eq(mlops_model_predict(m, x + r * n_feat, 1, n_feat, 0, out, width), MLOPS_OK);
        ck_assert_uint_eq(count_mismatches(out, want + r * width, width), 0);
    }
    free(out);
    free(x);
    free(want);
    free(want_margin);
    mlops_model_free(m);
}

START_TEST(fixtures_match_xgboost) {
    static const char *formats[] = {"json", "ubjson", "binary"};
    static const mlops_engine engines[] = {MLOPS_ENGINE_XGBOOST, MLOPS_ENGINE_AUTO};
    json_t *list = json_object_get(manifest, "fixtures");
    json_t *fx = json_array_get(list, (size_t)_i);
    for (size_t f = 0; f < 3; f++)
        for (size_t e = 0; e < 2; e++)
            check_fixture(fx, formats[f], engines[e]);
}
END_TEST

static const char *first_model(void) {
    return json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(manifest, "fixtures"), 0), "models"), "json"));
}

START_TEST(buffer_load_equals_file_load) {
    size_t len = 0;
    unsigned char *bytes = read_bytes(first_model(), &len);
    mlops_model *a = NULL, *b = NULL;
    ck_assert_int_eq(mlops_model_load_buffer(bytes, len, NULL, &a), MLOPS_OK);
    ck_assert_int_eq(mlops_model_load(path_of(first_model()), NULL, &b), MLOPS_OK);
    ck_assert_int_eq(mlops_model_format_of(a), MLOPS_FORMAT_JSON);
    float x[30], pa = 0, pb = 1;
    for (int i = 0; i < 30; i++)
        x[i] = (float)i;
    ck_assert_int_eq(mlops_model_predict(a, x, 1, 30, 0, &pa, 1), MLOPS_OK);
    ck_assert_int_eq(mlops_model_predict(b, x, 1, 30, 0, &pb, 1), MLOPS_OK);
    ck_assert(pa == pb);
    free(bytes);
    mlops_model_free(a);
    mlops_model_free(b);
}
END_TEST

START_TEST(refcount_keeps_model_alive) {
    mlops_model *m = NULL;
    ck_assert_int_eq(mlops_model_load(path_of(first_model()), NULL, &m), MLOPS_OK);
    mlops_model *r = mlops_model_ref(m);
    ck_assert_ptr_eq(r, m);
    mlops_model_free(m);
    float x[30] = {0}, p = -1;
    ck_assert_int_eq(mlops_model_predict(r, x, 1, 30, 0, &p, 1), MLOPS_OK);
    ck_assert(p >= 0 && p <= 1);
    mlops_model_free(r);
    mlops_model_free(NULL);
    ck_assert_ptr_null(mlops_model_ref(NULL));
}
END_TEST

START_TEST(bad_load_arguments_get_status_and_message) {
    mlops_model *m = NULL, *untouched = (mlops_model *)0x1;
    ck_assert_int_eq(mlops_model_load(NULL, NULL, &m), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_model_load(path_of(first_model()), NULL, NULL), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_model_load_buffer(NULL, 3, NULL, &m), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_model_load("/nonexistent/model.json", NULL, &untouched), MLOPS_EIO);
    ck_assert_ptr_eq(untouched, (mlops_model *)0x1);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "/nonexistent/model.json"));
    mlops_model_opts o = MLOPS_MODEL_OPTS_INIT;
    o.version = 99;
    ck_assert_int_eq(mlops_model_load(path_of(first_model()), &o, &m), MLOPS_EVERSION);
    mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
    o.n_threads = 0;
    ck_assert_int_eq(mlops_model_load(path_of(first_model()), &o, &m), MLOPS_EINVAL);
    mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
    o.iteration_end = 1000;
    ck_assert_int_eq(mlops_model_load(path_of(first_model()), &o, &m), MLOPS_EINVAL);
    mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
    o.max_bytes = 10;
    ck_assert_int_eq(mlops_model_load(path_of(first_model()), &o, &m), MLOPS_ELIMIT);
}
END_TEST

START_TEST(bad_predict_arguments_get_status_and_message) {
    mlops_model *m = NULL;
    ck_assert_int_eq(mlops_model_load(path_of(first_model()), NULL, &m), MLOPS_OK);
    float x[64] = {0}, out[4] = {7, 7, 7, 7};
    ck_assert_int_eq(mlops_model_predict(m, x, 1, 29, 0, out, 4), MLOPS_ESHAPE);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "model expects 30 features, got 29"));
    ck_assert_int_eq(mlops_model_predict(m, x, 2, 30, 0, out, 1), MLOPS_ESHAPE);
    ck_assert(out[0] == 7 && out[1] == 7); /* nothing written */
    ck_assert_int_eq(mlops_model_predict(m, NULL, 1, 30, 0, out, 4), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_model_predict(m, x, 1, 30, 0, NULL, 4), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_model_predict(m, x, 1, 30, 0x80, out, 4), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_model_predict(NULL, x, 1, 30, 0, out, 4), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_model_predict(m, x, 0, 30, 0, out, 0), MLOPS_OK);
    ck_assert_int_eq(mlops_model_predict(m, x, SIZE_MAX / 2, 30, 0, out, 4), MLOPS_ELIMIT);
    mlops_model_free(m);
}
END_TEST

START_TEST(malformed_model_bytes_are_rejected) {
    static const char *kinds[] = {"json", "ubjson", "binary"};
    json_t *fx = json_array_get(json_object_get(manifest, "fixtures"), 0);
    mlops_model *m = NULL;
    ck_assert_int_eq(mlops_model_load_buffer("", 0, NULL, &m), MLOPS_EFORMAT);
    const char *csv = "a,b,c\n1,2,3\n";
    ck_assert_int_eq(mlops_model_load_buffer(csv, strlen(csv), NULL, &m), MLOPS_EFORMAT);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "buffer"));
    ck_assert_int_eq(mlops_model_load(path_of("../../examples/data/iris.csv"), NULL, &m), MLOPS_EFORMAT);
    for (size_t k = 0; k < 3; k++) {
        size_t len = 0;
        unsigned char *bytes =
            read_bytes(json_string_value(json_object_get(json_object_get(fx, "models"), kinds[k])), &len);
        /* Truncations: a sample of prefixes must all fail cleanly. */
        size_t step = len / 97 + 1;
        for (size_t cut = 0; cut < len; cut += step) {
            unsigned char *copy = malloc(cut ? cut : 1);
            memcpy(copy, bytes, cut);
            mlops_status st = mlops_model_load_buffer(copy, cut, NULL, &m);
            ck_assert_msg(st != MLOPS_OK, "%s truncated to %zu bytes was accepted", kinds[k], cut);
            ck_assert_str_ne(mlops_last_error(), "");
            free(copy);
        }
        /* Bit flips: either a clean failure or a loaded model that predicts. */
        srand(42);
        for (int t = 0; t < 60; t++) {
            unsigned char *copy = malloc(len);
            memcpy(copy, bytes, len);
            size_t pos = (size_t)rand() % len;
            copy[pos] ^= (unsigned char)(1u << (rand() % 8));
            mlops_status st = mlops_model_load_buffer(copy, len, NULL, &m);
            if (st == MLOPS_OK) {
                float x[30] = {0}, out[8];
                size_t w = mlops_model_n_outputs(m);
                if (mlops_model_n_features(m) == 30 && w <= 8) mlops_model_predict(m, x, 1, 30, 0, out, 8);
                mlops_model_free(m);
            } else {
                ck_assert_str_ne(mlops_last_error(), "");
            }
            free(copy);
        }
        free(bytes);
    }
}
END_TEST

typedef struct {
    mlops_model *m;
    const float *x;
    size_t n_rows;
    const float *want;
    size_t bad;
} thread_job;

static void *predict_many(void *arg) {
    thread_job *j = arg;
    float out[64];
    for (int rep = 0; rep < 50; rep++)
        for (size_t r = 0; r < j->n_rows; r++) {
            if (mlops_model_predict(j->m, j->x + r * 30, 1, 30, 0, out, 64) != MLOPS_OK)
                j->bad++;
            else if (out[0] != j->want[r])
                j->bad++;
        }
    return NULL;
}

START_TEST(shared_model_from_many_threads) {
    json_t *fx = json_array_get(json_object_get(manifest, "fixtures"), 0);
    mlops_model *m = NULL;
    ck_assert_int_eq(mlops_model_load(path_of(first_model()), NULL, &m), MLOPS_OK);
    size_t nx = 0, np_ = 0;
    float *x = read_f32(json_string_value(json_object_get(fx, "x")), &nx);
    float *want = read_f32(json_string_value(json_object_get(fx, "pred")), &np_);
    pthread_t t[8];
    thread_job jobs[8];
    for (int i = 0; i < 8; i++) {
        jobs[i] = (thread_job){m, x, np_, want, 0};
        pthread_create(&t[i], NULL, predict_many, &jobs[i]);
    }
    size_t bad = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        bad += jobs[i].bad;
    }
    ck_assert_uint_eq(bad, 0);
    free(x);
    free(want);
    mlops_model_free(m);
}
END_TEST

static int xgb_logged;
static void count_log(mlops_log_level level, const char *msg, void *user) {
    (void)level;
    (void)user;
    if (strstr(msg, "xgboost") || strstr(msg, "served by")) xgb_logged++;
}

START_TEST(gblinear_falls_back_and_logs) {
    mlops_set_log_callback(count_log, NULL, MLOPS_LOG_DEBUG);
    mlops_model *m = NULL;
    ck_assert_int_eq(mlops_model_load(path_of("models/gblinear_reg.json"), NULL, &m), MLOPS_OK);
    ck_assert_int_eq(mlops_model_engine(m), MLOPS_ENGINE_XGBOOST);
    ck_assert_uint_eq(mlops_model_native_bytes(m), 0);
    mlops_model_free(m);
    mlops_model_opts o = MLOPS_MODEL_OPTS_INIT;
    o.engine = MLOPS_ENGINE_NATIVE;
    ck_assert_int_eq(mlops_model_load(path_of("models/gblinear_reg.json"), &o, &m), MLOPS_ENOTSUP);
    mlops_set_log_callback(NULL, NULL, MLOPS_LOG_DEBUG);
    ck_assert_int_gt(xgb_logged, 0);
}
END_TEST

START_TEST(names_and_strings) {
    ck_assert_str_eq(mlops_task_name(MLOPS_TASK_MULTICLASS), "multiclass");
    ck_assert_str_eq(mlops_engine_name(MLOPS_ENGINE_NATIVE), "native");
    mlops_model *m = NULL;
    ck_assert_int_eq(mlops_model_load(path_of("models/multi_softprob.ubj"), NULL, &m), MLOPS_OK);
    ck_assert_int_eq(mlops_model_task(m), MLOPS_TASK_MULTICLASS);
    ck_assert_int_eq(mlops_model_format_of(m), MLOPS_FORMAT_UBJSON);
    size_t idx = 99;
    ck_assert_int_eq(mlops_model_find_feature(m, mlops_model_feature_name(m, 2), &idx), MLOPS_OK);
    ck_assert_uint_eq(idx, 2);
    ck_assert_int_eq(mlops_model_find_feature(m, "no such feature", &idx), MLOPS_ENOTFOUND);
    ck_assert_uint_eq(idx, 2);
    ck_assert_ptr_nonnull(mlops_model_feature_type(m, 0));
    ck_assert_uint_eq(mlops_model_n_attrs(m), 4); /* best_iteration, best_ntree_limit, dataset, source */
    ck_assert_str_eq(mlops_model_attr_name(m, 0), "best_iteration");
    ck_assert_str_eq(mlops_model_attr_name(m, 2), "dataset");
    const char *v = "untouched";
    ck_assert_int_eq(mlops_model_find_attr(m, "missing-key", &v), MLOPS_ENOTFOUND);
    ck_assert_str_eq(v, "untouched");
    mlops_model_free(m);
}
END_TEST

/* Every engine model (each objective, gbtree and dart, categorical splits), as UBJSON and as
 * XGBoost's JSON export of it: the native forest is built from the reader's document (no fallback
 * to XGBoost's export is logged) and predicts bit-identically to XGBoost loading the same bytes. */
static int export_logged;
static void count_export_log(mlops_log_level level, const char *msg, void *user) {
    (void)level;
    (void)user;
    if (strstr(msg, "native forest from xgboost's export")) export_logged++;
}

static void check_doc_build(const char *name, const void *bytes, size_t len, BoosterHandle ref) {
    mlops_model *m = NULL;
    export_logged = 0;
    mlops_set_log_callback(count_export_log, NULL, MLOPS_LOG_DEBUG);
    mlops_status st = mlops_model_load_buffer(bytes, len, NULL, &m);
    mlops_set_log_callback(NULL, NULL, MLOPS_LOG_DEBUG);
    ck_assert_msg(st == MLOPS_OK, "%s: %s", name, mlops_last_error());
    ck_assert_msg(mlops_model_engine(m) == MLOPS_ENGINE_NATIVE, "%s: not native", name);
    ck_assert_msg(export_logged == 0, "%s: built from xgboost's export, not the document", name);
    /* Metadata read from the document (no booster is loaded) is what XGBoost reads. */
    bst_ulong ref_nf = 0, n_attr = 0;
    int ref_rounds = -1;
    const char **attr_names = NULL;
    ck_assert_int_eq(XGBoosterGetNumFeature(ref, &ref_nf), 0);
    ck_assert_int_eq(XGBoosterBoostedRounds(ref, &ref_rounds), 0);
    ck_assert_int_eq(XGBoosterGetAttrNames(ref, &n_attr, &attr_names), 0);
    ck_assert_uint_eq(mlops_model_n_features(m), (size_t)ref_nf);
    ck_assert_msg(mlops_model_n_rounds(m) == (size_t)ref_rounds, "%s: %zu rounds, xgboost %d", name,
                  mlops_model_n_rounds(m), ref_rounds);
    ck_assert_uint_eq(mlops_model_n_attrs(m), (size_t)n_attr);
    for (bst_ulong i = 0; i < n_attr; i++) {
        const char *v = NULL;
        int ok = 0;
        ck_assert_int_eq(XGBoosterGetAttr(ref, attr_names[i], &v, &ok), 0);
        const char *got = attr_of(m, attr_names[i]);
        ck_assert_str_eq(got ? got : "", ok && v ? v : "");
    }
    size_t nf = mlops_model_n_features(m), rows = 64;
    float *x = malloc(rows * nf * sizeof *x);
    unsigned seed = 24;
    for (size_t i = 0; i < rows * nf; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (seed >> 16) % 11 == 0 ? NAN : (float)((int)((seed >> 8) % 2001) - 1000) / 250.0f;
    }
    for (int margin = 0; margin < 2; margin++) {
        size_t n = 0;
        const float *want = test_xgb_predict(ref, x, rows, nf, margin, 0, 0, NAN, &n);
        uint32_t flags = margin ? MLOPS_PREDICT_MARGIN : 0;
        ck_assert_uint_eq(n, rows * mlops_model_output_width(m, flags));
        float *got = malloc(n * sizeof *got);
        ck_assert_int_eq(mlops_model_predict(m, x, rows, nf, flags, got, n), MLOPS_OK);
        ck_assert_msg(count_mismatches(got, want, n) == 0, "%s margin %d: differs from xgboost", name,
                      margin);
        free(got);
    }
    free(x);
    mlops_model_free(m);
}

START_TEST(native_forest_from_document) {
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", test_source_file("tests/engine/models"));
    size_t n_models = 0;
    char **names = test_xgb_models(dir, 40, &n_models);
    for (size_t k = 0; k < n_models; k++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        size_t len = 0, jlen = 0;
        unsigned char *bytes = test_read_file(path, &len);
        BoosterHandle ref = test_xgb_load(path);
        check_doc_build(names[k], bytes, len, ref);
        char *copy = test_xgb_save_json(ref, &jlen);
        check_doc_build(names[k], copy, jlen, ref);
        free(copy);
        XGBoosterFree(ref);
        free(bytes);
    }
    test_names_free(names, n_models);
    /* The control: a legacy binary model has no document, so its forest comes from the export. */
    mlops_model *m = NULL;
    export_logged = 0;
    mlops_set_log_callback(count_export_log, NULL, MLOPS_LOG_DEBUG);
    ck_assert_int_eq(mlops_model_load(path_of("models/binary_logistic.bin"), NULL, &m), MLOPS_OK);
    mlops_set_log_callback(NULL, NULL, MLOPS_LOG_DEBUG);
    ck_assert_int_eq(mlops_model_engine(m), MLOPS_ENGINE_NATIVE);
    ck_assert_int_eq(export_logged, 1);
    mlops_model_free(m);
}
END_TEST

/* The reader keeps UBJSON typed arrays as strings tagged with byte 0x02; a string value of the
 * model's own that starts with that byte is refused in both formats, so it can never be read as
 * an array. */
START_TEST(reserved_string_byte_is_refused) {
    static const char *const rels[] = {"models/binary_logistic.json", "models/binary_logistic.ubj"};
    for (int k = 0; k < 2; k++) {
        size_t len = 0;
        unsigned char *bytes = read_bytes(rels[k], &len);
        unsigned char *hit = memmem(bytes, len, "gen_fixtures.py", 15);
        ck_assert_ptr_nonnull(hit);
        unsigned char *mut = malloc(len + 8);
        size_t at = (size_t)(hit - bytes), n = 0;
        memcpy(mut, bytes, at);
        n = at;
        if (k == 0) { /* JSON: the escape \u0002 in place of the first letter */
            memcpy(mut + n, "\\u0002", 6);
            n += 6;
        } else { /* UBJSON: the raw byte */
            mut[n++] = 0x02;
        }
        memcpy(mut + n, bytes + at + 1, len - at - 1);
        n += len - at - 1;
        mlops_model *m = NULL;
        ck_assert_int_eq(mlops_model_load_buffer(mut, n, NULL, &m), MLOPS_EFORMAT);
        ck_assert_msg(strstr(mlops_last_error(), "0x02") != NULL, "%s", mlops_last_error());
        ck_assert_ptr_null(m);
        /* The control: the unmodified bytes load. */
        ck_assert_int_eq(mlops_model_load_buffer(bytes, len, NULL, &m), MLOPS_OK);
        mlops_model_free(m);
        free(mut);
        free(bytes);
    }
}
END_TEST

/* Each tree is checked as the reader builds it, in the one pass over the bytes, not in a pass over
 * the document afterwards: with a bad split index in the first tree and the bytes cut after the
 * trees, the load names the tree (a later pass would never run: the cut fails the read first). */
static void load_spliced(const unsigned char *bytes, size_t cut, size_t at, const void *ins, size_t n_ins,
                         size_t skip, const char *want, const char *unwanted) {
    unsigned char *b = malloc(cut + n_ins);
    memcpy(b, bytes, at);
    memcpy(b + at, ins, n_ins);
    memcpy(b + at + n_ins, bytes + at + skip, cut - at - skip);
    mlops_model *m = NULL;
    ck_assert_int_eq(mlops_model_load_buffer(b, cut + n_ins - skip, NULL, &m), MLOPS_EFORMAT);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(mlops_last_error(), want) != NULL, "\"%s\" lacks \"%s\"", mlops_last_error(), want);
    ck_assert_msg(!unwanted || !strstr(mlops_last_error(), unwanted), "%s", mlops_last_error());
    free(b);
}

START_TEST(trees_are_checked_while_reading) {
    static const char *const rels[] = {"models/binary_logistic.json", "models/binary_logistic.ubj"};
    static const unsigned char minus_one[4] = {0xff, 0xff, 0xff, 0xff};
    for (int k = 0; k < 2; k++) {
        size_t len = 0;
        unsigned char *bytes = read_bytes(rels[k], &len);
        const char *key = k == 0 ? "\"split_indices\":[" : "split_indices[$l#L";
        unsigned char *hit = memmem(bytes, len, key, strlen(key));
        unsigned char *frame = memmem(bytes, len, "learner_model_param", 19);
        ck_assert(hit && frame && hit < frame);
        /* JSON: "-" before the first index (-20); UBJSON: the first int32 index set to -1. */
        size_t at = (size_t)(hit - bytes) + strlen(key) + (k == 0 ? 0 : 8), cut = (size_t)(frame - bytes);
        const void *ins = k == 0 ? (const void *)"-" : (const void *)minus_one;
        size_t n_ins = k == 0 ? 1 : 4, skip = k == 0 ? 0 : 4;
        const char *tree_msg = "trees[0].split_indices[0] = -";
        load_spliced(bytes, cut, at, ins, n_ins, skip, tree_msg, NULL); /* bad tree, cut after it */
        load_spliced(bytes, len, at, ins, n_ins, skip, tree_msg, NULL); /* the bad tree alone */
        load_spliced(bytes, cut, at, "", 0, 0, k == 0 ? "JSON:" : "UBJSON:", "trees[0]"); /* the cut alone */
        free(bytes);
    }
}
END_TEST

/* The legacy format's objective attribute (JSON text inside the binary) is read by our JSON reader
 * and checked like a JSON model's objective. */
START_TEST(legacy_objective_attribute_is_checked) {
    size_t len = 0;
    unsigned char *bytes = read_bytes("models/multi_softprob.bin", &len);
    static const char *const edits[][3] = {
        {"\"num_class\":\"3\"", "\"num_class\":\"4\"",
         "num_class is 4 but learner_model_param.num_class is 3"},
        {"{\"name\":\"multi", "{\"name\" \"multi", "objective attribute at offset"},
        {"\"multi:softprob\"", "\"\\u0002softprob\"", "0x02"}};
    mlops_model *m = NULL;
    ck_assert_int_eq(mlops_model_load_buffer(bytes, len, NULL, &m), MLOPS_OK); /* the control */
    mlops_model_free(m);
    m = NULL;
    for (size_t k = 0; k < sizeof edits / sizeof *edits; k++) {
        unsigned char *hit = memmem(bytes, len, edits[k][0], strlen(edits[k][0]));
        ck_assert_ptr_nonnull(hit);
        size_t at = (size_t)(hit - bytes), from = strlen(edits[k][0]), to = strlen(edits[k][1]);
        ck_assert_uint_eq(from, to); /* the attribute's length prefix stays right */
        unsigned char *b = malloc(len);
        memcpy(b, bytes, len);
        memcpy(b + at, edits[k][1], to);
        ck_assert_int_eq(mlops_model_load_buffer(b, len, NULL, &m), MLOPS_EFORMAT);
        ck_assert_ptr_null(m);
        ck_assert_msg(strstr(mlops_last_error(), edits[k][2]) != NULL, "%s", mlops_last_error());
        free(b);
    }
    free(bytes);
}
END_TEST

/* Keeping XGBoost's booster is a choice (keep_booster): by default a model the native engine serves
 * holds none and MLOPS_PREDICT_XGBOOST is refused; asked for, the booster stays and predicts what
 * the native engine and XGBoost's own predictions (the fixture) give, bit for bit. */
static void predict_fixture(const mlops_model *m, json_t *fx, uint32_t flags, const char *want_key) {
    size_t n_rows = (size_t)json_integer_value(json_object_get(fx, "n_rows"));
    size_t n_feat = (size_t)json_integer_value(json_object_get(fx, "n_features"));
    size_t nx = 0, nw = 0, w = mlops_model_output_width(m, flags);
    float *x = read_f32(json_string_value(json_object_get(fx, "x")), &nx);
    float *want = read_f32(json_string_value(json_object_get(fx, want_key)), &nw);
    ck_assert_uint_eq(nw, n_rows * w);
    float *out = malloc(nw * sizeof *out);
    ck_assert_msg(mlops_model_predict(m, x, n_rows, n_feat, flags, out, nw) == MLOPS_OK, "%s",
                  mlops_last_error());
    ck_assert_uint_eq(count_mismatches(out, want, nw), 0);
    free(out);
    free(x);
    free(want);
}

START_TEST(keep_booster_is_a_choice) {
    static const char *formats[] = {"json", "ubjson", "binary"};
    json_t *fx = json_array_get(json_object_get(manifest, "fixtures"), (size_t)_i);
    for (size_t f = 0; f < 3; f++) {
        const char *rel = json_string_value(json_object_get(json_object_get(fx, "models"), formats[f]));
        mlops_model_opts o;
        mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
        ck_assert_int_eq(o.keep_booster, 0);
        mlops_model *m = NULL;
        ck_assert_int_eq(mlops_model_load(path_of(rel), &o, &m), MLOPS_OK);
        int native = mlops_model_engine(m) == MLOPS_ENGINE_NATIVE;
        ck_assert_int_eq(mlops_model_booster_kept(m), !native); /* XGBoost serves: it holds its booster */
        float x[64] = {0}, out[64];
        size_t nf = mlops_model_n_features(m);
        if (native) {
            ck_assert_int_eq(mlops_model_predict(m, x, 1, nf, MLOPS_PREDICT_XGBOOST, out, 64), MLOPS_ENOTSUP);
            ck_assert_ptr_nonnull(strstr(mlops_last_error(), "keep_booster"));
        }
        mlops_model_free(m);
        o.keep_booster = 1;
        m = NULL;
        ck_assert_int_eq(mlops_model_load(path_of(rel), &o, &m), MLOPS_OK);
        ck_assert_int_eq(mlops_model_engine(m), native ? MLOPS_ENGINE_NATIVE : MLOPS_ENGINE_XGBOOST);
        ck_assert_int_eq(mlops_model_booster_kept(m), 1);
        for (uint32_t flags = 0; flags < 4; flags++)
            predict_fixture(m, fx, flags, flags & MLOPS_PREDICT_MARGIN ? "margin" : "pred");
        mlops_model_free(m);
    }
}
END_TEST

START_TEST(keep_booster_options_and_refusals) {
    mlops_model_opts o;
    mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
    o.keep_booster = 2;
    mlops_model *m = NULL;
    ck_assert_int_eq(mlops_model_load(path_of(first_model()), &o, &m), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "keep_booster must be 0 or 1"));
    /* A version 2 caller's struct ends before keep_booster: opts_init leaves it alone, the load
     * never reads it. */
    o.keep_booster = 77;
    mlops_model_opts_init(&o, 2);
    ck_assert_uint_eq(o.version, 2);
    ck_assert_int_eq(o.keep_booster, 77);
    ck_assert_int_eq(mlops_model_load(path_of(first_model()), &o, &m), MLOPS_OK);
    ck_assert_int_eq(mlops_model_booster_kept(m), 0);
    mlops_model_free(m);
    /* XGBoost 1.7.4 cannot represent a 3.1+ multi:softmax model's per-class intercepts: no booster
     * to keep. */
    mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
    m = NULL;
    ck_assert_int_eq(mlops_model_load(path_of("../compat/fixtures/multi_softmax.ubj"), &o, &m), MLOPS_OK);
    ck_assert_int_eq(mlops_model_fallback(m), 0);
    ck_assert_int_eq(mlops_model_booster_kept(m), 0);
    mlops_model_free(m);
    o.keep_booster = 1;
    m = NULL;
    ck_assert_int_eq(mlops_model_load(path_of("../compat/fixtures/multi_softmax.ubj"), &o, &m),
                     MLOPS_ENOTSUP);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "no booster to keep"));
    ck_assert_int_eq(mlops_model_booster_kept(NULL), 0);
}
END_TEST

int main(void) {
    json_error_t err;
    manifest = json_load_file(path_of("manifest.json"), 0, &err);
    if (!manifest) {
        fprintf(stderr, "cannot read manifest: %s\n", err.text);
        return EXIT_FAILURE;
    }
    const TTest *tests[] = {buffer_load_equals_file_load,
                            refcount_keeps_model_alive,
                            bad_load_arguments_get_status_and_message,
                            bad_predict_arguments_get_status_and_message,
                            malformed_model_bytes_are_rejected,
                            shared_model_from_many_threads,
                            gblinear_falls_back_and_logs,
                            names_and_strings,
                            native_forest_from_document,
                            reserved_string_byte_is_refused,
                            trees_are_checked_while_reading,
                            legacy_objective_attribute_is_checked,
                            keep_booster_options_and_refusals};
    Suite *s = suite_create("model");
    TCase *tc = test_case_add(s, "core", 300, tests, MLOPS_TEST_COUNT(tests));
    tcase_add_loop_test(tc, fixtures_match_xgboost, 0, (int)json_array_size(json_object_get(manifest, "fixtures")));
    tcase_add_loop_test(tc, keep_booster_is_a_choice, 0, (int)json_array_size(json_object_get(manifest, "fixtures")));
    int rc = test_run_suite(s);
    json_decref(manifest);
    return rc;
}
