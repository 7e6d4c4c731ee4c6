/* Models written by XGBoost 3.5 (tests/compat/gen_xgb35_fixtures.py): every fixture in JSON and
 * UBJSON predicts bit for bit what XGBoost 3.5 predicted; where XGBoost 1.7.4 misreads the model
 * libmlops does not; fields nobody understands are refused by name; early stopping, stored
 * categories and the fallback are reported. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "mlops.h"
#include "harness.h"

static json_t *manifest;

static const char *path_of(const char *rel) {
    char buf[1024];
    snprintf(buf, sizeof buf, "tests/compat/fixtures/%s", rel);
    return test_source_file(buf);
}

static void *read_all(const char *rel, size_t *n) { return test_read_file(path_of(rel), n); }

static float *read_f32(const char *rel, size_t *n) { return test_read_f32(path_of(rel), n); }

static json_t *fixture(const char *name) {
    size_t i;
    json_t *fx;
    json_array_foreach(json_object_get(manifest, "fixtures"), i, fx) {
        if (strcmp(json_string_value(json_object_get(fx, "name")), name) == 0) return fx;
    }
    ck_abort_msg("no fixture %s", name);
    return NULL;
}

static const char *str(json_t *fx, const char *key) { return json_string_value(json_object_get(fx, key)); }

static size_t count_mismatches(const float *a, const float *b, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0 && !(isnan(a[i]) && isnan(b[i]))) bad++;
    return bad;
}

/* Load `rel` and compare predict (flags) with XGBoost 3.5's values in `want_rel`. */
static void expect_predictions(const char *rel, const mlops_model_opts *o, const float *x, size_t n_rows,
                               size_t n_cols, uint32_t flags, const char *want_rel) {
    mlops_model *m = NULL;
    ck_assert_msg(mlops_model_load(path_of(rel), o, &m) == MLOPS_OK, "%s: %s", rel, mlops_last_error());
    size_t nw;
    float *want = read_f32(want_rel, &nw);
    ck_assert_uint_eq(nw, n_rows * mlops_model_output_width(m, flags));
    float *got = malloc(nw * sizeof *got);
    ck_assert_int_eq(mlops_model_predict(m, x, n_rows, n_cols, flags, got, nw), MLOPS_OK);
    ck_assert_msg(count_mismatches(got, want, nw) == 0, "%s (%s engine, flags %u): %zu of %zu values differ",
                  rel, mlops_engine_name(mlops_model_engine(m)), flags, count_mismatches(got, want, nw), nw);
    free(got);
    free(want);
    mlops_model_free(m);
}

/* Per-output intercepts: XGBoost 1.7.4 cannot hold them, so it is no fallback for these. */
static int needs_native(const char *name) {
    return !strcmp(name, "multi_softmax") || !strcmp(name, "quantile");
}

START_TEST(every_xgboost_35_fixture_predicts_bit_for_bit) {
    json_t *fx = json_array_get(json_object_get(manifest, "fixtures"), (size_t)_i / 2);
    const char *fmt = _i % 2 ? "ubjson" : "json";
    const char *name = str(fx, "name");
    const char *rel = json_string_value(json_object_get(json_object_get(fx, "models"), fmt));
    size_t n_rows = (size_t)json_integer_value(json_object_get(fx, "n_rows"));
    size_t n_cols = (size_t)json_integer_value(json_object_get(fx, "n_features")), nx;
    float *x = read_f32(str(fx, "x"), &nx);
    ck_assert_uint_eq(nx, n_rows * n_cols);
    mlops_model_opts o;
    mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
    json_t *range = json_object_get(fx, "iteration_range");
    o.iteration_end = (unsigned)json_integer_value(json_array_get(range, 1));
    expect_predictions(rel, &o, x, n_rows, n_cols, 0, str(fx, "pred"));
    expect_predictions(rel, &o, x, n_rows, n_cols, MLOPS_PREDICT_MARGIN, str(fx, "margin"));

    mlops_model *m = NULL;
    ck_assert_int_eq(mlops_model_load(path_of(rel), &o, &m), MLOPS_OK);
    ck_assert_int_eq(mlops_model_engine(m), MLOPS_ENGINE_NATIVE);
    ck_assert_int_eq(mlops_model_fallback(m), !needs_native(name));
    ck_assert_str_eq(mlops_model_objective(m), str(fx, "objective"));
    ck_assert_uint_eq(mlops_model_n_rounds(m), (size_t)json_integer_value(json_object_get(fx, "n_rounds")));
    mlops_model_free(m);

    /* The fallback is the oracle: XGBoost 1.7.4 handed the equivalent model agrees bit for bit. */
    o.engine = MLOPS_ENGINE_XGBOOST;
    if (!needs_native(name)) {
        expect_predictions(rel, &o, x, n_rows, n_cols, 0, str(fx, "pred"));
        expect_predictions(rel, &o, x, n_rows, n_cols, MLOPS_PREDICT_MARGIN, str(fx, "margin"));
    } else {
        ck_assert_int_eq(mlops_model_load(path_of(rel), &o, &m), MLOPS_ENOTSUP);
        ck_assert_ptr_nonnull(strstr(mlops_last_error(), "per-output intercepts"));
    }
    free(x);
}
END_TEST

/* XGBoost 1.7.4 given the 3.5 file itself: margins from 1.7.4's own in-place predict. Returns 0
 * when 1.7.4 refuses the file. */
static int xgb174_margins(const char *rel, const float *x, size_t n_rows, size_t n_cols, float *out,
                          size_t n) {
    size_t len;
    char *bytes = read_all(rel, &len);
    BoosterHandle b = NULL;
    int ok = XGBoosterCreate(NULL, 0, &b) == 0 && XGBoosterLoadModelFromBuffer(b, bytes, len) == 0;
    if (ok) {
        char ai[256];
        snprintf(ai, sizeof ai,
                 "{\"data\": [%llu, true], \"shape\": [%zu, %zu], \"typestr\": \"<f4\", \"version\": 3}",
                 (unsigned long long)(uintptr_t)x, n_rows, n_cols);
        const bst_ulong *shape;
        bst_ulong dim;
        const float *res;
        ok = XGBoosterPredictFromDense(
                 b, ai,
                 "{\"type\": 1, \"training\": false, \"iteration_begin\": 0, "
                 "\"iteration_end\": 0, \"strict_shape\": false, \"missing\": NaN, \"cache_id\": 0}",
                 NULL, &shape, &dim, &res) == 0;
        if (ok) memcpy(out, res, n * sizeof *out);
    }
    XGBoosterFree(b);
    free(bytes);
    return ok;
}

START_TEST(where_xgboost_174_is_silently_wrong_libmlops_is_right) {
    /* "[6.274165E-1]": 1.7.4 loads it, cannot parse the intercept and uses 0.5 without a word. */
    static const char *const cases[] = {"binary_logistic", "multi_softmax"};
    for (size_t c = 0; c < 2; c++) {
        json_t *fx = fixture(cases[c]);
        size_t n_rows = (size_t)json_integer_value(json_object_get(fx, "n_rows"));
        size_t n_cols = (size_t)json_integer_value(json_object_get(fx, "n_features")), nx, nw;
        float *x = read_f32(str(fx, "x"), &nx);
        float *want = read_f32(str(fx, "margin"), &nw);
        float *old = malloc(nw * sizeof *old);
        const char *rel = json_string_value(json_object_get(json_object_get(fx, "models"), "json"));
        ck_assert_msg(xgb174_margins(rel, x, n_rows, n_cols, old, nw), "1.7.4 refused %s: %s", rel,
                      XGBGetLastError());
        ck_assert_msg(count_mismatches(old, want, nw) == nw, "%s: 1.7.4 got %zu of %zu margins right",
                      cases[c], nw - count_mismatches(old, want, nw), nw);
        expect_predictions(rel, NULL, x, n_rows, n_cols, MLOPS_PREDICT_MARGIN, str(fx, "margin"));
        free(old);
        free(want);
        free(x);
    }
}
END_TEST

/* Load the JSON fixture `name`, let `edit` change the document, and load the result. */
static mlops_status load_edited(const char *name, void (*edit)(json_t *), mlops_model **out) {
    json_t *fx = fixture(name);
    json_error_t err;
    json_t *doc = json_load_file(
        path_of(json_string_value(json_object_get(json_object_get(fx, "models"), "json"))), 0, &err);
    ck_assert_ptr_nonnull(doc);
    edit(doc);
    char *s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    mlops_status st = mlops_model_load_buffer(s, strlen(s), NULL, out);
    free(s);
    return st;
}

static json_t *gb_model(json_t *doc) {
    return json_object_get(json_object_get(json_object_get(doc, "learner"), "gradient_booster"), "model");
}

static void add_model_field(json_t *doc) { json_object_set_new(gb_model(doc), "leaf_scale", json_real(2.0)); }
static void add_tree_field(json_t *doc) {
    json_object_set_new(json_array_get(json_object_get(gb_model(doc), "trees"), 3), "leaf_offset",
                        json_real(1.0));
}
static void add_param_field(json_t *doc) {
    json_object_set_new(json_object_get(json_object_get(doc, "learner"), "learner_model_param"),
                        "base_margin_scale", json_string("2"));
}
static void add_learner_field(json_t *doc) {
    json_object_set_new(json_object_get(doc, "learner"), "output_transform", json_string("sqrt"));
}

static void add_child_counts(json_t *doc) {
    json_t *tree = json_array_get(json_object_get(gb_model(doc), "trees"), 0);
    json_t *counts = json_array();
    for (size_t i = 0; i < json_array_size(json_object_get(tree, "left_children")); i++)
        json_array_append_new(counts, json_integer(0));
    json_object_set_new(tree, "leaf_child_counts", counts);
}

static void stale_best_iteration(json_t *doc) {
    json_object_set_new(json_object_get(json_object_get(doc, "learner"), "attributes"), "best_iteration",
                        json_string("99"));
}

START_TEST(a_best_iteration_past_the_rounds_serves_every_round) {
    mlops_model *m = NULL;
    ck_assert_msg(load_edited("binary_logistic", stale_best_iteration, &m) == MLOPS_OK, "%s",
                  mlops_last_error());
    ck_assert_int_eq(mlops_model_best_iteration(m), 99);
    ck_assert_uint_eq(mlops_model_iteration_end(m), mlops_model_n_rounds(m));
    mlops_model_free(m);
}
END_TEST

START_TEST(fields_older_writers_wrote_still_load) {
    mlops_model *m = NULL;
    ck_assert_msg(load_edited("binary_logistic", add_child_counts, &m) == MLOPS_OK, "%s", mlops_last_error());
    mlops_model_free(m);
}
END_TEST

START_TEST(unknown_prediction_changing_fields_are_refused_by_name) {
    static const struct {
        void (*edit)(json_t *);
        const char *field;
    } cases[] = {{add_model_field, "learner.gradient_booster.model.leaf_scale"},
                 {add_tree_field, "learner.gradient_booster.model.trees[3].leaf_offset"},
                 {add_param_field, "learner.learner_model_param.base_margin_scale"},
                 {add_learner_field, "learner.output_transform"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mlops_model *m = NULL;
        ck_assert_int_eq(load_edited("binary_logistic", cases[i].edit, &m), MLOPS_EFORMAT);
        ck_assert_ptr_null(m);
        ck_assert_msg(strstr(mlops_last_error(), cases[i].field) != NULL, "message \"%s\" does not name %s",
                      mlops_last_error(), cases[i].field);
    }
}
END_TEST

static void base_score_count(json_t *doc) {
    json_object_set_new(json_object_get(json_object_get(doc, "learner"), "learner_model_param"), "base_score",
                        json_string("[1E-1,2E-1]"));
}
static void base_score_text(json_t *doc) {
    json_object_set_new(json_object_get(json_object_get(doc, "learner"), "learner_model_param"), "base_score",
                        json_string("[1E-1,,2E-1,3E-1]"));
}
static void indptr_irregular(json_t *doc) {
    json_array_set_new(json_object_get(gb_model(doc), "iteration_indptr"), 2, json_integer(5));
}
static void weights_short(json_t *doc) {
    json_array_remove(json_object_get(gb_model(doc), "weight_drop"), 0);
}
static void vector_leaf(json_t *doc) {
    json_t *tp = json_object_get(json_array_get(json_object_get(gb_model(doc), "trees"), 0), "tree_param");
    json_object_set_new(tp, "size_leaf_vector", json_string("3"));
}
static void expectile(json_t *doc) {
    json_object_set_new(json_object_get(json_object_get(doc, "learner"), "objective"), "name",
                        json_string("reg:expectileerror"));
}

START_TEST(malformed_3x_fields_get_a_clear_status_and_message) {
    static const struct {
        const char *fixture;
        void (*edit)(json_t *);
        mlops_status st;
        const char *msg;
    } cases[] = {
        {"multi_softmax", base_score_count, MLOPS_EFORMAT, "base_score has 2 values for 3 outputs"},
        {"multi_softmax", base_score_text, MLOPS_EFORMAT, "base_score is missing or not a number"},
        {"multi_softmax", indptr_irregular, MLOPS_EFORMAT,
         "iteration_indptr does not describe rounds of 3 trees"},
        {"dart", weights_short, MLOPS_EFORMAT, "weight_drop has 7 weights for 8 trees"},
        {"binary_logistic", vector_leaf, MLOPS_EFORMAT, "vector-leaf trees"},
        {"reg_squarederror", expectile, MLOPS_ENOTSUP, "reg:expectileerror is not supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mlops_model *m = NULL;
        ck_assert_int_eq(load_edited(cases[i].fixture, cases[i].edit, &m), cases[i].st);
        ck_assert_msg(strstr(mlops_last_error(), cases[i].msg) != NULL, "case %zu: \"%s\" lacks \"%s\"", i,
                      mlops_last_error(), cases[i].msg);
    }
}
END_TEST

START_TEST(early_stopping_serves_best_iteration_unless_all_rounds) {
    json_t *fx = fixture("early_stopping");
    size_t n_rows = (size_t)json_integer_value(json_object_get(fx, "n_rows"));
    size_t n_cols = (size_t)json_integer_value(json_object_get(fx, "n_features")), nx;
    long best = (long)json_integer_value(json_object_get(fx, "best_iteration"));
    float *x = read_f32(str(fx, "x"), &nx);
    const char *rel = json_string_value(json_object_get(json_object_get(fx, "models"), "ubjson"));
    /* The default is what XGBClassifier.predict_proba returns. */
    expect_predictions(rel, NULL, x, n_rows, n_cols, 0, str(fx, "proba"));
    mlops_model *m = NULL;
    ck_assert_int_eq(mlops_model_load(path_of(rel), NULL, &m), MLOPS_OK);
    ck_assert_int_eq(mlops_model_best_iteration(m), best);
    ck_assert_uint_eq(mlops_model_iteration_begin(m), 0);
    ck_assert_uint_eq(mlops_model_iteration_end(m), (unsigned)best + 1);
    ck_assert_uint_lt((size_t)best + 1, mlops_model_n_rounds(m));
    mlops_model_free(m);
    mlops_model_opts o;
    mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
    o.all_rounds = 1;
    expect_predictions(rel, &o, x, n_rows, n_cols, 0, str(fx, "all_rounds"));
    o.all_rounds = 2;
    ck_assert_int_eq(mlops_model_load(path_of(rel), &o, &m), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "all_rounds must be 0 or 1"));
    /* An explicit range wins; a begin past best_iteration says so. */
    o.all_rounds = 0;
    o.iteration_begin = (unsigned)best + 1;
    ck_assert_int_eq(mlops_model_load(path_of(rel), &o, &m), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "past best_iteration"));
    /* Version 1 option structs (without all_rounds) still load, with the default. */
    mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
    o.version = 1;
    ck_assert_int_eq(mlops_model_load(path_of(rel), &o, &m), MLOPS_OK);
    ck_assert_uint_eq(mlops_model_iteration_end(m), (unsigned)best + 1);
    mlops_model_free(m);
    free(x);
}
END_TEST

START_TEST(stored_string_categories_reach_the_schema_and_named_rows) {
    json_t *fx = fixture("categorical");
    json_t *cats = json_object_get(json_object_get(fx, "categories"), "plan");
    size_t n_rows = (size_t)json_integer_value(json_object_get(fx, "n_rows"));
    size_t n_cols = (size_t)json_integer_value(json_object_get(fx, "n_features")), nx, nw;
    float *x = read_f32(str(fx, "x"), &nx);
    float *want = read_f32(str(fx, "pred"), &nw);
    mlops_model *m = NULL;
    ck_assert_int_eq(mlops_model_load(path_of("categorical.ubj"), NULL, &m), MLOPS_OK);
    ck_assert_uint_eq(mlops_model_n_categories(m, n_cols - 1), json_array_size(cats));
    ck_assert_uint_eq(mlops_model_n_categories(m, 0), 0);
    ck_assert_uint_eq(mlops_model_n_categories(m, 99), 0);
    for (size_t k = 0; k < json_array_size(cats); k++)
        ck_assert_str_eq(mlops_model_category(m, n_cols - 1, k), json_string_value(json_array_get(cats, k)));
    ck_assert_ptr_null(mlops_model_category(m, n_cols - 1, json_array_size(cats)));

    mlops_schema *s = NULL;
    ck_assert_int_eq(mlops_schema_from_model(m, &s), MLOPS_OK);
    ck_assert_int_eq(mlops_schema_feature_type(s, n_cols - 1), MLOPS_FEATURE_TYPE_CATEGORICAL);
    /* Named rows carry the strings XGBoost 3.5 was trained on. */
    json_t *rows = json_array();
    json_t *plan = json_object_get(fx, "plan");
    for (size_t r = 0; r < n_rows; r++) {
        json_t *feat = json_object();
        for (size_t j = 0; j + 1 < n_cols; j++) {
            float v = x[r * n_cols + j];
            json_object_set_new(feat, mlops_model_feature_name(m, j), isnan(v) ? json_null() : json_real(v));
        }
        json_object_set(feat, "plan", json_array_get(plan, r));
        json_array_append_new(rows, json_pack("{s:o}", "features", feat));
    }
    char *text = json_dumps(rows, JSON_COMPACT);
    float *dense = malloc(nx * sizeof *dense), *got = malloc(nw * sizeof *got);
    mlops_schema_report *rep = NULL;
    ck_assert_int_eq(mlops_schema_report_create(0, &rep), MLOPS_OK);
    mlops_status st = mlops_schema_parse_rows(s, text, strlen(text), dense, nx, NULL, NULL, rep);
    ck_assert_msg(st == MLOPS_OK, "%s",
                  mlops_schema_report_count(rep) ? mlops_schema_report_message(rep, 0) : mlops_last_error());
    ck_assert_int_eq(mlops_model_predict(m, dense, n_rows, n_cols, 0, got, nw), MLOPS_OK);
    ck_assert_uint_eq(count_mismatches(got, want, nw), 0);
    free(text);
    /* An unknown category is a validation error like any other. */
    json_object_set_new(json_object_get(json_array_get(rows, 0), "features"), "plan", json_string("gold"));
    text = json_dumps(rows, JSON_COMPACT);
    ck_assert_int_eq(mlops_schema_parse_rows(s, text, strlen(text), dense, nx, NULL, NULL, rep),
                     MLOPS_EVALIDATION);
    ck_assert_uint_eq(mlops_schema_report_n_invalid(rep), 1);
    ck_assert_uint_eq(mlops_schema_report_row(rep, 0), 0);
    mlops_schema_report_free(rep);
    free(text);
    json_decref(rows);
    free(dense);
    free(got);
    free(want);
    free(x);
    mlops_schema_free(s);
    mlops_model_free(m);
}
END_TEST

/* Replace the first occurrence of `from` in `s` with `to` (a new malloc'd string). */
static char *replace_once(const char *s, const char *from, const char *to) {
    const char *at = strstr(s, from);
    ck_assert_ptr_nonnull(at);
    size_t head = (size_t)(at - s), n = strlen(s) - strlen(from) + strlen(to);
    char *o = malloc(n + 1);
    memcpy(o, s, head);
    strcpy(o + head, to);
    strcat(o, at + strlen(from));
    return o;
}

static float *predict_bytes(const char *bytes, mlops_engine engine, const float *x, size_t n_rows,
                            size_t n_cols) {
    mlops_model_opts o;
    mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
    o.engine = engine;
    mlops_model *m = NULL;
    ck_assert_msg(mlops_model_load_buffer(bytes, strlen(bytes), &o, &m) == MLOPS_OK, "%s",
                  mlops_last_error());
    float *out = malloc(n_rows * sizeof *out);
    ck_assert_int_eq(mlops_model_predict(m, x, n_rows, n_cols, MLOPS_PREDICT_MARGIN, out, n_rows), MLOPS_OK);
    mlops_model_free(m);
    return out;
}

/* A 3.x document goes to 1.7.4 rewritten: non-finite values (a -Infinity split here, NaN leaves
 * XGBoost may write) must survive. Reference: XGBoost 1.7.4 reading the same model as written. */
START_TEST(non_finite_values_survive_the_rewrite_for_xgboost_174) {
    const char *root = getenv("MLOPS_SOURCE_ROOT");
    char path[1200];
    snprintf(path, sizeof path, "%s/tests/fixtures/models/binary_logistic.json", root ? root : ".");
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    char *text = calloc(1, 1 << 20);
    size_t len = fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    ck_assert_uint_gt(len, 0);
    char *as_17 = replace_once(text, "\"split_conditions\":[1.6795E1,", "\"split_conditions\":[-Infinity,");
    char *as_35 = replace_once(as_17, "\"version\":[1,7,4]", "\"version\":[3,5,0]");
    size_t n_rows = 64, n_cols = 30;
    float *x = malloc(n_rows * n_cols * sizeof *x);
    for (size_t i = 0; i < n_rows * n_cols; i++)
        x[i] = (i % 7 == 0) ? NAN : (float)((i * 37) % 101) - 50.0f;
    float *want = predict_bytes(as_17, MLOPS_ENGINE_XGBOOST, x, n_rows, n_cols);
    float *a = predict_bytes(as_35, MLOPS_ENGINE_XGBOOST, x, n_rows, n_cols);
    float *b = predict_bytes(as_35, MLOPS_ENGINE_AUTO, x, n_rows, n_cols);
    ck_assert_uint_eq(count_mismatches(a, want, n_rows), 0);
    ck_assert_uint_eq(count_mismatches(b, want, n_rows), 0);
    free(want);
    free(a);
    free(b);
    free(x);
    free(as_35);
    free(as_17);
    free(text);
}
END_TEST

int main(void) {
    json_error_t err;
    const char *mpath = path_of("manifest.json");
    manifest = json_load_file(mpath, 0, &err);
    if (!manifest) {
        fprintf(stderr, "%s: %s\n", mpath, err.text);
        return 1;
    }
    int n_fixtures = (int)json_array_size(json_object_get(manifest, "fixtures"));
    Suite *s = suite_create("compat");
    TCase *tc = tcase_create("xgboost35");
    tcase_add_loop_test(tc, every_xgboost_35_fixture_predicts_bit_for_bit, 0, 2 * n_fixtures);
    tcase_add_test(tc, where_xgboost_174_is_silently_wrong_libmlops_is_right);
    tcase_add_test(tc, unknown_prediction_changing_fields_are_refused_by_name);
    tcase_add_test(tc, fields_older_writers_wrote_still_load);
    tcase_add_test(tc, a_best_iteration_past_the_rounds_serves_every_round);
    tcase_add_test(tc, non_finite_values_survive_the_rewrite_for_xgboost_174);
    tcase_add_test(tc, malformed_3x_fields_get_a_clear_status_and_message);
    tcase_add_test(tc, early_stopping_serves_best_iteration_unless_all_rounds);
    tcase_add_test(tc, stored_string_categories_reach_the_schema_and_named_rows);
    suite_add_tcase(s, tc);
    int rc = test_run_suite(s);
    json_decref(manifest);
    return rc;
}
