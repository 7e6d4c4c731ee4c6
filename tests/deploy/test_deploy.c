/* Deploy: slots, validation gate (metrics checked against scikit-learn, differences against XGBoost's
 * predictions: tests/deploy/gen_fixtures.py), promote/rollback, canary, shadow, bad input, and a
 * concurrency test (8 predicting threads while another promotes and rolls back), grace periods (stats,
 * model and validate answer during one; a wait over 1 s is reported), re-entry from the log callback,
 * and a control-plane stress (several control threads, slow readers, stats/validate/unstage). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "mlops/deploy.h"

#include "harness.h"

static const char *fixture(const char *rel) { return test_source_file(rel); }

static mlops_model *load(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/fixtures/models/%s.json", name);
    mlops_model *m = NULL;
    ck_assert_msg(mlops_model_load(fixture(rel), NULL, &m) == MLOPS_OK, "%s: %s", name, mlops_last_error());
    return m;
}

static float *read_f32(const char *rel, size_t n) {
    FILE *f = fopen(fixture(rel), "rb");
    ck_assert_msg(f != NULL, "cannot open %s", rel);
    float *v = malloc(n * sizeof *v);
    ck_assert(v != NULL);
    ck_assert_uint_eq(fread(v, sizeof *v, n, f), n);
    fclose(f);
    return v;
}

static json_t *expected;
typedef struct {
    size_t n, c;
    float *x, *y;
} vset;

static vset load_set(const char *name) {
    if (!expected) {
        json_error_t err;
        expected = json_load_file(fixture("tests/deploy/fixtures/expected.json"), 0, &err);
        ck_assert_msg(expected != NULL, "expected.json: %s", err.text);
    }
    json_t *e = json_object_get(expected, name);
    vset s;
    s.n = (size_t)json_integer_value(json_object_get(e, "n_rows"));
    s.c = (size_t)json_integer_value(json_object_get(e, "n_cols"));
    char rel[256];
    snprintf(rel, sizeof rel, "tests/deploy/fixtures/%s.x.f32", name);
    s.x = read_f32(rel, s.n * s.c);
    snprintf(rel, sizeof rel, "tests/deploy/fixtures/%s.y.f32", name);
    s.y = read_f32(rel, s.n);
    return s;
}

static void free_set(vset *s) {
    free(s->x);
    free(s->y);
}

static double want_metric(const char *set, const char *model, const char *metric) {
    return json_real_value(json_object_get(
        json_object_get(json_object_get(json_object_get(expected, set), "models"), model), metric));
}

static double want_diff(const char *set, const char *pair) {
    return json_real_value(
        json_object_get(json_object_get(json_object_get(expected, set), "max_abs_diff"), pair));
}

#define ck_close(got, want)                                                                                  \
    ck_assert_msg(fabs((got) - (want)) <= 1e-9 * fmax(1.0, fabs(want)), "%s = %.17g, want %.17g", #got,      \
                  (double)(got), (double)(want))

#define ck_fail_with(call, status, needle)                                                                   \
    do {                                                                                                     \
        mlops_clear_error();                                                                                 \
        mlops_status st_ = (call);                                                                           \
        ck_assert_msg(st_ == (status), "%s: got %d (%s), want %d", #call, st_, mlops_last_error(), status);  \
        ck_assert_msg(strstr(mlops_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", #call,      \
                      mlops_last_error(), needle);                                                           \
    } while (0)

static mlops_deploy_stats stats(mlops_deploy *d) {
    mlops_deploy_stats s;
    ck_assert_int_eq(mlops_deploy_get_stats(d, &s), MLOPS_OK);
    return s;
}

/* The model now in `slot`, compared by identity with `m`. */
static int slot_is(mlops_deploy *d, mlops_deploy_slot slot, const mlops_model *m) {
    mlops_model *got = NULL;
    mlops_status st = mlops_deploy_model(d, slot, &got);
    if (st != MLOPS_OK) return m == NULL;
    int same = got == m;
    mlops_model_free(got);
    return same;
}

static float *predict_all(const mlops_model *m, const vset *s) {
    float *p = malloc(s->n * sizeof *p);
    ck_assert_int_eq(mlops_model_predict(m, s->x, s->n, s->c, 0, p, s->n), MLOPS_OK);
    return p;
}

/* ---- create / stage ------------------------------------------------------------------------------ */

START_TEST(create_bad_input) {
    mlops_model *a = load("binary_logistic");
    mlops_deploy *d = (mlops_deploy *)0x1;
    ck_fail_with(mlops_deploy_create(NULL, NULL, &d), MLOPS_EINVAL, "deploy: mlops_deploy_create: NULL live");
    ck_fail_with(mlops_deploy_create(a, NULL, NULL), MLOPS_EINVAL, ": NULL out");
    mlops_deploy_opts o;
    mlops_deploy_opts_init(&o, MLOPS_DEPLOY_OPTS_VERSION);
    o.canary_fraction = 1.5;
    ck_fail_with(mlops_deploy_create(a, &o, &d), MLOPS_ERANGE, "canary fraction");
    o.canary_fraction = NAN;
    ck_fail_with(mlops_deploy_create(a, &o, &d), MLOPS_ERANGE, "canary fraction");
    o.canary_fraction = 0.0;
    o.shadow_tolerance = -1;
    ck_fail_with(mlops_deploy_create(a, &o, &d), MLOPS_ERANGE, "shadow_tolerance");
    mlops_deploy_opts_init(&o, MLOPS_DEPLOY_OPTS_VERSION);
    o.version = 99;
    ck_fail_with(mlops_deploy_create(a, &o, &d), MLOPS_EVERSION, "version 99");
    ck_assert_ptr_eq(d, (mlops_deploy *)0x1); /* untouched on failure */
    mlops_deploy_free(NULL);
    mlops_model_free(a);
}
END_TEST

START_TEST(stage_checks_compatibility) {
    mlops_model *a = load("binary_logistic"), *reg = load("reg_squarederror"), *rank = load("rank_pairwise");
    mlops_model *same = load("dart_binary");
    mlops_deploy *d = NULL, *dr = NULL;
    ck_assert_int_eq(mlops_deploy_create(a, NULL, &d), MLOPS_OK);
    ck_assert_int_eq(mlops_deploy_create(reg, NULL, &dr), MLOPS_OK);
    uint64_t gen = stats(d).generation;
    ck_fail_with(mlops_deploy_stage(d, reg), MLOPS_ESHAPE, "candidate has 10 features, the live model 30");
    ck_fail_with(mlops_deploy_stage(dr, rank), MLOPS_EINVAL, "ranking");
    ck_fail_with(mlops_deploy_stage(d, NULL), MLOPS_EINVAL, "deploy: mlops_deploy_stage: NULL candidate");
    ck_fail_with(mlops_deploy_stage(NULL, a), MLOPS_EINVAL, ": NULL d");

    /* Same shape, one feature renamed: the model JSON with "mean_radius" spelled differently. */
    char *json = NULL;
    {
        FILE *f = fopen(fixture("tests/fixtures/models/binary_logistic.json"), "rb");
        ck_assert(f != NULL);
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        json = malloc((size_t)len + 1);
        ck_assert_uint_eq(fread(json, 1, (size_t)len, f), (size_t)len);
        json[len] = 0;
        fclose(f);
        char *p = strstr(json, "\"mean_radius\"");
        ck_assert(p != NULL);
        memcpy(p, "\"mean_RADIUS\"", 13);
        mlops_model *renamed = NULL;
        ck_assert_int_eq(mlops_model_load_buffer(json, (size_t)len, NULL, &renamed), MLOPS_OK);
        ck_fail_with(mlops_deploy_stage(d, renamed), MLOPS_EINVAL,
                     "feature 0 is 'mean_RADIUS', the live model's 'mean_radius'");
        mlops_model_free(renamed);
        free(json);
    }
    mlops_deploy_stats s = stats(d);
    ck_assert_int_eq(s.has_candidate, 0);
    ck_assert_uint_eq(s.generation, gen);
    ck_assert(slot_is(d, MLOPS_SLOT_GREEN, NULL));

    ck_assert_int_eq(mlops_deploy_stage(d, same), MLOPS_OK);
    ck_assert(slot_is(d, MLOPS_SLOT_GREEN, same));
    ck_assert(slot_is(d, MLOPS_SLOT_BLUE, a));
    /* The deployment holds its own references: the caller's can go. */
    mlops_model_free(same);
    ck_assert_int_eq(stats(d).has_candidate, 1);
    ck_assert_int_eq(mlops_deploy_unstage(d), MLOPS_OK);
    ck_fail_with(mlops_deploy_unstage(d), MLOPS_ESTATE, "no candidate");
    mlops_model *out = NULL;
    ck_fail_with(mlops_deploy_model(d, MLOPS_SLOT_GREEN, &out), MLOPS_ENOTFOUND, "green slot is empty");
    ck_fail_with(mlops_deploy_model(d, (mlops_deploy_slot)7, &out), MLOPS_EINVAL, "unknown slot");
    ck_assert_ptr_null(out);
    mlops_deploy_free(d);
    mlops_deploy_free(dr);
    mlops_model_free(a);
    mlops_model_free(reg);
    mlops_model_free(rank);
}
END_TEST

/* Issue 28 #5: a binary:logitraw candidate outputs margins; staged next to a binary:logistic model its
 * margins would be judged (and after promote served) as probabilities. Refused both ways. */
START_TEST(stage_refuses_other_output_kind) {
    mlops_model *prob = load("binary_logistic"), *margin = load("binary_logitraw");
    mlops_deploy *dp = NULL, *dm = NULL;
    ck_assert_int_eq(mlops_deploy_create(prob, NULL, &dp), MLOPS_OK);
    ck_assert_int_eq(mlops_deploy_create(margin, NULL, &dm), MLOPS_OK);
    ck_fail_with(mlops_deploy_stage(dp, margin), MLOPS_EINVAL,
                 "candidate outputs a margin (binary:logitraw), the live model a probability (binary:logistic)");
    ck_fail_with(mlops_deploy_stage(dm, prob), MLOPS_EINVAL,
                 "candidate outputs a probability (binary:logistic), the live model a margin (binary:logitraw)");
    ck_assert_int_eq(stats(dp).has_candidate, 0);
    ck_assert_int_eq(stats(dm).has_candidate, 0);
    ck_assert_int_eq(mlops_deploy_stage(dm, margin), MLOPS_OK); /* like with like */
    mlops_deploy_free(dp);
    mlops_deploy_free(dm);
    mlops_model_free(prob);
    mlops_model_free(margin);
}
END_TEST

/* ---- gate ---------------------------------------------------------------------------------------- */

START_TEST(gate_binary_metrics_match_sklearn) {
    vset s = load_set("bc");
    mlops_model *a = load("binary_logistic"), *b = load("dart_binary");
    mlops_deploy *d = NULL;
    ck_assert_int_eq(mlops_deploy_create(a, NULL, &d), MLOPS_OK);
    ck_assert_int_eq(mlops_deploy_stage(d, b), MLOPS_OK);
    mlops_deploy_gate_report r;
    /* Defaults: log loss, tolerance 0. dart's log loss is higher: fails. */
    ck_assert_int_eq(mlops_deploy_validate(d, s.x, s.n, s.c, s.y, NULL, &r), MLOPS_OK);
    ck_assert_int_eq(r.metric, MLOPS_DEPLOY_GATE_LOGLOSS);
    ck_close(r.live_metric, want_metric("bc", "binary_logistic", "logloss"));
    ck_close(r.candidate_metric, want_metric("bc", "dart_binary", "logloss"));
    ck_assert_double_eq(r.max_abs_diff, want_diff("bc", "binary_logistic|dart_binary"));
    ck_assert_uint_eq(r.n_rows, s.n);
    ck_assert_int_eq(r.passed, 0);
    ck_assert_msg(strstr(r.reason, "logloss") != NULL, "%s", r.reason);
    ck_assert_int_eq(stats(d).gate_passed, 0);
    ck_fail_with(mlops_deploy_promote(d, 0), MLOPS_EVALIDATION, "has not passed the validation gate");

    /* A tolerance above the difference passes. */
    mlops_deploy_gate_opts o;
    mlops_deploy_gate_opts_init(&o, MLOPS_DEPLOY_GATE_OPTS_VERSION);
    o.tolerance =
        want_metric("bc", "dart_binary", "logloss") - want_metric("bc", "binary_logistic", "logloss") + 1e-6;
    ck_assert_int_eq(mlops_deploy_validate(d, s.x, s.n, s.c, s.y, &o, &r), MLOPS_OK);
    ck_assert_int_eq(r.passed, 1);
    ck_assert_str_eq(r.reason, "passed");
    ck_assert_int_eq(stats(d).gate_passed, 1);

    /* ... and so does accuracy (both are 1.0 on this set), per scikit-learn. */
    mlops_deploy_gate_opts_init(&o, MLOPS_DEPLOY_GATE_OPTS_VERSION);
    o.metric = MLOPS_DEPLOY_GATE_ACCURACY;
    ck_assert_int_eq(mlops_deploy_validate(d, s.x, s.n, s.c, s.y, &o, &r), MLOPS_OK);
    ck_close(r.live_metric, want_metric("bc", "binary_logistic", "accuracy"));
    ck_close(r.candidate_metric, want_metric("bc", "dart_binary", "accuracy"));
    ck_assert_int_eq(r.passed, 1);

    /* Adding a difference bound below the real one fails; just above it passes. */
    double diff = want_diff("bc", "binary_logistic|dart_binary");
    o.max_abs_diff = diff * 0.99;
    ck_assert_int_eq(mlops_deploy_validate(d, s.x, s.n, s.c, s.y, &o, &r), MLOPS_OK);
    ck_assert_int_eq(r.passed, 0);
    ck_assert_msg(strstr(r.reason, "max |candidate - live|") != NULL, "%s", r.reason);
    ck_assert_int_eq(stats(d).gate_passed, 0); /* a failed run forgets the earlier pass */
    /* Unlabelled: the difference bound alone. */
    mlops_deploy_gate_opts_init(&o, MLOPS_DEPLOY_GATE_OPTS_VERSION);
    o.max_abs_diff = diff;
    ck_assert_int_eq(mlops_deploy_validate(d, s.x, s.n, s.c, NULL, &o, &r), MLOPS_OK);
    ck_assert_int_eq(r.passed, 1);
    ck_assert_int_eq(r.metric, MLOPS_DEPLOY_GATE_NONE);
    ck_assert(isnan(r.live_metric) && isnan(r.candidate_metric));
    ck_assert_int_eq(mlops_deploy_promote(d, 0), MLOPS_OK);
    ck_assert(slot_is(d, MLOPS_SLOT_BLUE, b));
    ck_assert(slot_is(d, MLOPS_SLOT_PREVIOUS, a));
    ck_assert(slot_is(d, MLOPS_SLOT_GREEN, NULL));

    mlops_deploy_free(d);
    mlops_model_free(a);
    mlops_model_free(b);
    free_set(&s);
}
END_TEST

START_TEST(gate_regression_rmse_matches_sklearn) {
    vset s = load_set("dia");
    mlops_model *lin = load("gblinear_reg"), *tree = load("reg_squarederror");
    mlops_deploy *d = NULL;
    ck_assert_int_eq(mlops_deploy_create(lin, NULL, &d), MLOPS_OK);
    ck_assert_int_eq(mlops_deploy_stage(d, tree), MLOPS_OK);
    mlops_deploy_gate_report r;
    ck_assert_int_eq(mlops_deploy_validate(d, s.x, s.n, s.c, s.y, NULL, &r), MLOPS_OK);
    ck_assert_int_eq(r.metric, MLOPS_DEPLOY_GATE_RMSE);
    ck_close(r.live_metric, want_metric("dia", "gblinear_reg", "rmse"));
    ck_close(r.candidate_metric, want_metric("dia", "reg_squarederror", "rmse"));
    ck_assert_int_eq(r.passed, 1); /* the trees are better */
    ck_assert_double_eq(r.max_abs_diff, want_diff("dia", "gblinear_reg|reg_squarederror"));
    ck_assert_int_eq(mlops_deploy_promote(d, 0), MLOPS_OK);
    /* The other way round the candidate is worse. */
    ck_assert_int_eq(mlops_deploy_stage(d, lin), MLOPS_OK);
    ck_assert_int_eq(mlops_deploy_validate(d, s.x, s.n, s.c, s.y, NULL, &r), MLOPS_OK);
    ck_assert_int_eq(r.passed, 0);
    ck_fail_with(mlops_deploy_promote(d, 0), MLOPS_EVALIDATION, "validation gate");
    ck_assert(slot_is(d, MLOPS_SLOT_BLUE, tree));
    mlops_deploy_free(d);
    mlops_model_free(lin);
    mlops_model_free(tree);
    free_set(&s);
}
END_TEST

START_TEST(gate_bad_input_leaves_state) {
    vset s = load_set("bc");
    mlops_model *a = load("binary_logistic"), *b = load("parallel_forest");
    mlops_deploy *d = NULL;
    ck_assert_int_eq(mlops_deploy_create(a, NULL, &d), MLOPS_OK);
    mlops_deploy_gate_report r;
    memset(&r, 0x5a, sizeof r);
    mlops_deploy_gate_report untouched = r;
    ck_fail_with(mlops_deploy_validate(d, s.x, s.n, s.c, s.y, NULL, &r), MLOPS_ESTATE,
                 "no candidate is staged");
    ck_assert_int_eq(mlops_deploy_stage(d, b), MLOPS_OK);
    mlops_deploy_gate_opts o;
    mlops_deploy_gate_opts_init(&o, MLOPS_DEPLOY_GATE_OPTS_VERSION);
    o.tolerance = 1.0;
    ck_assert_int_eq(mlops_deploy_validate(d, s.x, s.n, s.c, s.y, &o, NULL), MLOPS_OK);
    ck_assert_int_eq(stats(d).gate_passed, 1);

    ck_fail_with(mlops_deploy_validate(NULL, s.x, s.n, s.c, s.y, NULL, &r), MLOPS_EINVAL,
                 ": NULL d");
    ck_fail_with(mlops_deploy_validate(d, NULL, s.n, s.c, s.y, NULL, &r), MLOPS_EINVAL, "x is NULL");
    ck_fail_with(mlops_deploy_validate(d, s.x, 0, s.c, s.y, NULL, &r), MLOPS_EINVAL, "no rows");
    ck_fail_with(mlops_deploy_validate(d, s.x, s.n / 2, s.c - 1, s.y, NULL, &r), MLOPS_ESHAPE,
                 "29 columns, the models expect 30");
    float *y = malloc(s.n * sizeof *y);
    memcpy(y, s.y, s.n * sizeof *y);
    y[3] = NAN;
    ck_fail_with(mlops_deploy_validate(d, s.x, s.n, s.c, y, NULL, &r), MLOPS_EINVAL, "label 3 is nan");
    y[3] = 2.0f;
    ck_fail_with(mlops_deploy_validate(d, s.x, s.n, s.c, y, NULL, &r), MLOPS_ERANGE, "binary label 3 is 2");
    free(y);
    ck_fail_with(mlops_deploy_validate(d, s.x, s.n, s.c, NULL, NULL, &r), MLOPS_EINVAL, "no criterion");
    o.metric = MLOPS_DEPLOY_GATE_RMSE;
    ck_fail_with(mlops_deploy_validate(d, s.x, s.n, s.c, s.y, &o, &r), MLOPS_ENOTSUP,
                 "rmse is not defined for binary");
    o.metric = MLOPS_DEPLOY_GATE_LOGLOSS;
    ck_fail_with(mlops_deploy_validate(d, s.x, s.n, s.c, NULL, &o, &r), MLOPS_EINVAL, "needs labels");
    o.metric = (mlops_deploy_gate_metric)42;
    ck_fail_with(mlops_deploy_validate(d, s.x, s.n, s.c, s.y, &o, &r), MLOPS_EINVAL, "unknown metric");
    mlops_deploy_gate_opts_init(&o, MLOPS_DEPLOY_GATE_OPTS_VERSION);
    o.tolerance = -0.1;
    ck_fail_with(mlops_deploy_validate(d, s.x, s.n, s.c, s.y, &o, &r), MLOPS_EINVAL, "tolerance");
    mlops_deploy_gate_opts_init(&o, MLOPS_DEPLOY_GATE_OPTS_VERSION);
    o.max_abs_diff = NAN;
    ck_fail_with(mlops_deploy_validate(d, s.x, s.n, s.c, s.y, &o, &r), MLOPS_EINVAL, "max_abs_diff");
    o.version = 7;
    ck_fail_with(mlops_deploy_validate(d, s.x, s.n, s.c, s.y, &o, &r), MLOPS_EVERSION, "version 7");
    ck_assert(memcmp(&r, &untouched, sizeof r) == 0);
    /* None of those touched the earlier pass. */
    ck_assert_int_eq(stats(d).gate_passed, 1);
    ck_assert(slot_is(d, MLOPS_SLOT_GREEN, b));
    ck_assert_int_eq(mlops_deploy_promote(d, 0), MLOPS_OK);
    mlops_deploy_free(d);
    mlops_model_free(a);
    mlops_model_free(b);
    free_set(&s);
}
END_TEST

/* ---- promote / rollback -------------------------------------------------------------------------- */

START_TEST(promote_and_rollback) {
    vset s = load_set("bc");
    mlops_model *a = load("binary_logistic"), *b = load("dart_binary"), *c = load("parallel_forest");
    float *pa = predict_all(a, &s), *pb = predict_all(b, &s);
    float *out = malloc(s.n * sizeof *out);
    mlops_deploy *d = NULL;
    ck_assert_int_eq(mlops_deploy_create(a, NULL, &d), MLOPS_OK);
    ck_fail_with(mlops_deploy_promote(d, 0), MLOPS_ESTATE, "no candidate is staged");
    ck_fail_with(mlops_deploy_promote(d, MLOPS_DEPLOY_FORCE), MLOPS_ESTATE, "no candidate is staged");
    ck_fail_with(mlops_deploy_rollback(d), MLOPS_ESTATE, "nothing to roll back");
    ck_fail_with(mlops_deploy_promote(NULL, 0), MLOPS_EINVAL, ": NULL d");
    ck_fail_with(mlops_deploy_rollback(NULL), MLOPS_EINVAL, ": NULL d");
    ck_assert_int_eq(mlops_deploy_stage(d, b), MLOPS_OK);
    ck_fail_with(mlops_deploy_promote(d, 0x80), MLOPS_EINVAL, "unknown flags");
    ck_fail_with(mlops_deploy_promote(d, 0), MLOPS_EVALIDATION, "MLOPS_DEPLOY_FORCE");
    mlops_deploy_slot by = MLOPS_SLOT_GREEN;
    ck_assert_int_eq(mlops_deploy_predict(d, NULL, 0, s.x, s.n, s.c, 0, out, s.n, &by), MLOPS_OK);
    ck_assert_int_eq(by, MLOPS_SLOT_BLUE);
    ck_assert(memcmp(out, pa, s.n * sizeof *out) == 0);

    ck_assert_int_eq(mlops_deploy_promote(d, MLOPS_DEPLOY_FORCE), MLOPS_OK);
    ck_assert_int_eq(mlops_deploy_predict(d, NULL, 0, s.x, s.n, s.c, 0, out, s.n, &by), MLOPS_OK);
    ck_assert_int_eq(by, MLOPS_SLOT_BLUE);
    ck_assert(memcmp(out, pb, s.n * sizeof *out) == 0);
    mlops_deploy_stats st = stats(d);
    ck_assert_int_eq(st.has_rollback, 1);
    ck_assert_int_eq(st.has_candidate, 0);
    ck_assert_uint_eq(st.promotions, 1);

    /* A staged candidate survives a rollback, but its gate result does not. */
    ck_assert_int_eq(mlops_deploy_stage(d, c), MLOPS_OK);
    mlops_deploy_gate_opts o;
    mlops_deploy_gate_opts_init(&o, MLOPS_DEPLOY_GATE_OPTS_VERSION);
    o.tolerance = 10;
    ck_assert_int_eq(mlops_deploy_validate(d, s.x, s.n, s.c, s.y, &o, NULL), MLOPS_OK);
    ck_assert_int_eq(stats(d).gate_passed, 1);
    ck_assert_int_eq(mlops_deploy_rollback(d), MLOPS_OK);
    ck_assert(slot_is(d, MLOPS_SLOT_BLUE, a));
    ck_assert(slot_is(d, MLOPS_SLOT_GREEN, c));
    ck_assert(slot_is(d, MLOPS_SLOT_PREVIOUS, NULL));
    st = stats(d);
    ck_assert_int_eq(st.gate_passed, 0);
    ck_assert_uint_eq(st.rollbacks, 1);
    ck_fail_with(mlops_deploy_rollback(d), MLOPS_ESTATE, "nothing to roll back");
    ck_assert_int_eq(mlops_deploy_predict(d, NULL, 0, s.x, s.n, s.c, 0, out, s.n, &by), MLOPS_OK);
    ck_assert(memcmp(out, pa, s.n * sizeof *out) == 0);
    ck_assert_uint_eq(stats(d).generation, st.generation);

    mlops_deploy_free(d);
    mlops_model_free(a);
    mlops_model_free(b);
    mlops_model_free(c);
    free(pa);
    free(pb);
    free(out);
    free_set(&s);
}
END_TEST

/* ---- predict, canary, shadow --------------------------------------------------------------------- */

START_TEST(predict_bad_input) {
    vset s = load_set("bc");
    mlops_model *a = load("binary_logistic");
    mlops_deploy *d = NULL;
    ck_assert_int_eq(mlops_deploy_create(a, NULL, &d), MLOPS_OK);
    float out[200];
    memset(out, 0, sizeof out);
    mlops_deploy_slot by = (mlops_deploy_slot)9;
    ck_fail_with(mlops_deploy_predict(NULL, NULL, 0, s.x, 1, s.c, 0, out, 1, &by), MLOPS_EINVAL,
                 ": NULL d");
    ck_fail_with(mlops_deploy_predict(d, NULL, 4, s.x, 1, s.c, 0, out, 1, &by), MLOPS_EINVAL, "key is NULL");
    ck_fail_with(mlops_deploy_predict(d, "k", 1, s.x, 2, s.c - 1, 0, out, 2, &by), MLOPS_ESHAPE, "");
    ck_fail_with(mlops_deploy_predict(d, NULL, 0, s.x, 10, s.c, 0, out, 9, &by), MLOPS_ESHAPE, "");
    ck_fail_with(mlops_deploy_predict(d, NULL, 0, NULL, 10, s.c, 0, out, 10, &by), MLOPS_EINVAL, "");
    ck_assert_int_eq(by, 9); /* untouched */
    for (int i = 0; i < 200; i++)
        ck_assert_float_eq(out[i], 0.0f);
    mlops_deploy_stats st = stats(d);
    ck_assert_uint_eq(st.errors[0], 3);
    ck_assert_uint_eq(st.requests[0], 0);
    ck_fail_with(mlops_deploy_get_stats(d, NULL), MLOPS_EINVAL, ": NULL s");
    ck_fail_with(mlops_deploy_set_canary(d, -0.1), MLOPS_ERANGE, "canary fraction");
    ck_fail_with(mlops_deploy_set_canary(NULL, 0.1), MLOPS_EINVAL, ": NULL d");
    ck_fail_with(mlops_deploy_set_shadow(NULL, 1), MLOPS_EINVAL, ": NULL d");
    ck_assert_double_eq(stats(d).canary_fraction, 0.0);
    mlops_deploy_free(d);
    mlops_model_free(a);
    free_set(&s);
}
END_TEST

START_TEST(canary_split) {
    vset s = load_set("bc");
    mlops_model *a = load("binary_logistic"), *b = load("dart_binary");
    float pa, pb, out;
    ck_assert_int_eq(mlops_model_predict(a, s.x, 1, s.c, 0, &pa, 1), MLOPS_OK);
    ck_assert_int_eq(mlops_model_predict(b, s.x, 1, s.c, 0, &pb, 1), MLOPS_OK);
    mlops_deploy_opts o;
    mlops_deploy_opts_init(&o, MLOPS_DEPLOY_OPTS_VERSION);
    o.canary_fraction = 0.25;
    o.hash_seed = 1234;
    mlops_deploy *d = NULL;
    ck_assert_int_eq(mlops_deploy_create(a, &o, &d), MLOPS_OK);
    mlops_deploy_slot by;
    /* No candidate: everything is blue whatever the fraction. */
    for (int i = 0; i < 20; i++) {
        ck_assert_int_eq(mlops_deploy_predict(d, NULL, 0, s.x, 1, s.c, 0, &out, 1, &by), MLOPS_OK);
        ck_assert_int_eq(by, MLOPS_SLOT_BLUE);
    }
    ck_assert_int_eq(mlops_deploy_stage(d, b), MLOPS_OK);
    /* Keyless: exactly floor(N f) of N consecutive requests (the counter is shared). */
    int green = 0;
    for (int i = 0; i < 400; i++) {
        ck_assert_int_eq(mlops_deploy_predict(d, NULL, 0, s.x, 1, s.c, 0, &out, 1, &by), MLOPS_OK);
        green += by == MLOPS_SLOT_GREEN;
        ck_assert_float_eq(out, by == MLOPS_SLOT_GREEN ? pb : pa);
    }
    ck_assert_int_eq(green, 100);
    /* Keyed: the slot is XXH3_64bits_withSeed(key) < f * 2^64, stable per key. */
    int n_green = 0, n = 20000;
    for (int i = 0; i < n; i++) {
        char key[32];
        int len = snprintf(key, sizeof key, "user-%d", i);
        ck_assert_int_eq(mlops_deploy_predict(d, key, (size_t)len, s.x, 1, s.c, 0, &out, 1, &by), MLOPS_OK);
        int want = XXH3_64bits_withSeed(key, (size_t)len, 1234) < (UINT64_C(1) << 62);
        ck_assert_int_eq(by == MLOPS_SLOT_GREEN, want);
        n_green += want;
        mlops_deploy_slot again;
        ck_assert_int_eq(mlops_deploy_predict(d, key, (size_t)len, s.x, 1, s.c, 0, &out, 1, &again),
                         MLOPS_OK);
        ck_assert_int_eq(again, by);
    }
    double sd = sqrt(n * 0.25 * 0.75);
    ck_assert_msg(fabs(n_green - n * 0.25) < 5 * sd, "%d of %d keys green", n_green, n);
    mlops_deploy_stats st = stats(d);
    ck_assert_uint_eq(st.requests[1], 100 + 2 * (uint64_t)n_green);
    ck_assert_uint_eq(st.requests[0] + st.requests[1], 20 + 400 + 2 * (uint64_t)n);
    /* Growing the fraction only moves keys to green; 1 sends everything, 0 nothing. */
    ck_assert_int_eq(mlops_deploy_set_canary(d, 0.5), MLOPS_OK);
    for (int i = 0; i < 2000; i++) {
        char key[32];
        int len = snprintf(key, sizeof key, "user-%d", i);
        ck_assert_int_eq(mlops_deploy_predict(d, key, (size_t)len, s.x, 1, s.c, 0, &out, 1, &by), MLOPS_OK);
        if (XXH3_64bits_withSeed(key, (size_t)len, 1234) < (UINT64_C(1) << 62))
            ck_assert_int_eq(by, MLOPS_SLOT_GREEN);
    }
    for (double f = 0.0; f <= 1.0; f += 1.0) {
        ck_assert_int_eq(mlops_deploy_set_canary(d, f), MLOPS_OK);
        for (int i = 0; i < 50; i++) {
            ck_assert_int_eq(mlops_deploy_predict(d, &i, sizeof i, s.x, 1, s.c, 0, &out, 1, &by), MLOPS_OK);
            ck_assert_int_eq(by, f == 1.0 ? MLOPS_SLOT_GREEN : MLOPS_SLOT_BLUE);
            ck_assert_int_eq(mlops_deploy_predict(d, NULL, 0, s.x, 1, s.c, 0, &out, 1, &by), MLOPS_OK);
            ck_assert_int_eq(by, f == 1.0 ? MLOPS_SLOT_GREEN : MLOPS_SLOT_BLUE);
        }
    }
    mlops_deploy_free(d);
    mlops_model_free(a);
    mlops_model_free(b);
    free_set(&s);
}
END_TEST

START_TEST(shadow_compares_but_serves_blue) {
    vset s = load_set("bc");
    mlops_model *a = load("binary_logistic"), *b = load("dart_binary");
    /* 2000 rows (the validation set repeated): more than the shadow's stack buffer holds. */
    size_t n = 2000;
    float *x = malloc(n * s.c * sizeof *x), *out = malloc(n * sizeof *out);
    for (size_t i = 0; i < n; i++)
        memcpy(x + i * s.c, s.x + (i % s.n) * s.c, s.c * sizeof *x);
    float *pa = predict_all(a, &s), *pb = predict_all(b, &s);
    double tol = 0.05;
    size_t want_disagree = 0;
    for (size_t i = 0; i < n; i++)
        want_disagree += fabs((double)pb[i % s.n] - (double)pa[i % s.n]) > tol;
    mlops_deploy_opts o;
    mlops_deploy_opts_init(&o, MLOPS_DEPLOY_OPTS_VERSION);
    o.shadow = 1;
    o.shadow_tolerance = tol;
    mlops_deploy *d = NULL;
    ck_assert_int_eq(mlops_deploy_create(a, &o, &d), MLOPS_OK);
    mlops_deploy_slot by;
    ck_assert_int_eq(mlops_deploy_predict(d, NULL, 0, x, n, s.c, 0, out, n, &by), MLOPS_OK);
    ck_assert_uint_eq(stats(d).shadow_requests, 0); /* nothing staged: nothing to shadow */
    ck_assert_int_eq(mlops_deploy_stage(d, b), MLOPS_OK);
    ck_assert_int_eq(mlops_deploy_predict(d, NULL, 0, x, n, s.c, 0, out, n, &by), MLOPS_OK);
    ck_assert_int_eq(by, MLOPS_SLOT_BLUE);
    for (size_t i = 0; i < n; i++)
        ck_assert_float_eq(out[i], pa[i % s.n]);
    mlops_deploy_stats st = stats(d);
    ck_assert_uint_eq(st.shadow_requests, 1);
    ck_assert_uint_eq(st.shadow_rows, n);
    ck_assert_uint_eq(st.shadow_disagreements, want_disagree);
    ck_assert_uint_eq(st.shadow_errors, 0);
    ck_assert_double_eq(st.shadow_max_abs_diff, want_diff("bc", "binary_logistic|dart_binary"));
    ck_assert_uint_eq(st.rows[0], 2 * n);
    ck_assert_uint_eq(st.rows[1], 0);
    /* Off again: no more shadow work. */
    ck_assert_int_eq(mlops_deploy_set_shadow(d, 0), MLOPS_OK);
    ck_assert_int_eq(mlops_deploy_predict(d, NULL, 0, x, 10, s.c, 0, out, 10, &by), MLOPS_OK);
    ck_assert_uint_eq(stats(d).shadow_requests, 1);
    ck_assert_int_eq(stats(d).shadow, 0);
    mlops_deploy_free(d);
    mlops_model_free(a);
    mlops_model_free(b);
    free(x);
    free(out);
    free(pa);
    free(pb);
    free_set(&s);
}
END_TEST

/* ---- concurrency --------------------------------------------------------------------------------- */

typedef struct {
    mlops_deploy *d;
    const vset *s;
    const float *pa, *pb;
    atomic_int *stop;
    int id;
    long served, bad, failed;
} worker;

static void *predict_loop(void *arg) {
    worker *w = arg;
    unsigned k = (unsigned)w->id * 7919u;
    float out[4];
    while (!atomic_load(w->stop)) {
        size_t row = k++ % (w->s->n - 3);
        size_t rows = 1 + k % 4;
        mlops_deploy_slot by;
        unsigned key = k * 2654435761u;
        mlops_status st = mlops_deploy_predict(w->d, (k & 1) ? &key : NULL, (k & 1) ? sizeof key : 0,
                                               w->s->x + row * w->s->c, rows, w->s->c, 0, out, rows, &by);
        if (st != MLOPS_OK) {
            w->failed++;
            continue;
        }
        /* A batch is served by one model: every row from a, or every row from b. */
        int all_a = 1, all_b = 1;
        for (size_t i = 0; i < rows; i++) {
            all_a &= out[i] == w->pa[row + i];
            all_b &= out[i] == w->pb[row + i];
        }
        w->bad += !(all_a || all_b);
        w->served++;
    }
    return NULL;
}

START_TEST(concurrent_switching) {
    vset s = load_set("bc");
    mlops_model *a = load("binary_logistic"), *b0 = load("dart_binary");
    float *pa = predict_all(a, &s), *pb = predict_all(b0, &s);
    mlops_model_free(b0);
    /* Candidates are fresh loads from memory whose only reference the deployment holds, so a
     * model a request still uses would be freed for real (ASan sees it) if the scheme were wrong. */
    char *json = NULL;
    size_t len = 0;
    {
        FILE *f = fopen(fixture("tests/fixtures/models/dart_binary.json"), "rb");
        ck_assert(f != NULL);
        fseek(f, 0, SEEK_END);
        len = (size_t)ftell(f);
        fseek(f, 0, SEEK_SET);
        json = malloc(len);
        ck_assert_uint_eq(fread(json, 1, len, f), len);
        fclose(f);
    }
    mlops_deploy_opts o;
    mlops_deploy_opts_init(&o, MLOPS_DEPLOY_OPTS_VERSION);
    o.canary_fraction = 0.5;
    o.shadow = 1;
    mlops_deploy *d = NULL;
    ck_assert_int_eq(mlops_deploy_create(a, &o, &d), MLOPS_OK);
    mlops_model_free(a); /* the deployment's reference is the only one left */
    atomic_int stop = 0;
    enum { N = 8 };
    worker w[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){d, &s, pa, pb, &stop, i, 0, 0, 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, predict_loop, &w[i]), 0);
    }
    int switches = 0;
    /* Under valgrind threads run one at a time and every grace period waits for all
     * eight predictors to be scheduled: a few rounds prove the same thing there. */
    const int rounds = test_on_valgrind() ? 4 : 60;
    for (int it = 0; it < rounds; it++) {
        mlops_model *b = NULL;
        ck_assert_int_eq(mlops_model_load_buffer(json, len, NULL, &b), MLOPS_OK);
        ck_assert_int_eq(mlops_deploy_stage(d, b), MLOPS_OK);
        mlops_model_free(b);
        ck_assert_int_eq(mlops_deploy_set_canary(d, (it % 3) / 2.0), MLOPS_OK);
        ck_assert_int_eq(mlops_deploy_promote(d, MLOPS_DEPLOY_FORCE), MLOPS_OK);
        ck_assert_int_eq(mlops_deploy_rollback(d), MLOPS_OK); /* frees this b */
        switches += 2;
    }
    atomic_store(&stop, 1);
    long served = 0, bad = 0, failed = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        served += w[i].served;
        bad += w[i].bad;
        failed += w[i].failed;
    }
    ck_assert_int_eq(failed, 0);
    ck_assert_int_eq(bad, 0);
    ck_assert_msg(served > (test_on_valgrind() ? 8 : 1000), "only %ld predictions during %d switches",
                  served, switches);
    mlops_deploy_stats st = stats(d);
    ck_assert_uint_eq(st.promotions, (uint64_t)rounds);
    ck_assert_uint_eq(st.rollbacks, (uint64_t)rounds);
    ck_assert_uint_eq(st.requests[0] + st.requests[1], (uint64_t)served);
    ck_assert_uint_eq(st.shadow_errors, 0);
    printf("concurrent_switching: %ld predictions (%llu by green, %llu shadowed) during %d switches\n",
           served, (unsigned long long)st.requests[1], (unsigned long long)st.shadow_requests, switches);
    mlops_deploy_free(d);
    free(json);
    free(pa);
    free(pb);
    free_set(&s);
}
END_TEST

/* ---- callbacks, grace periods, control-plane stress ---------------------------------------------- */

/* The log callback is process-wide. A thread that sets tls_role makes the callback act on the
 * messages raised on that thread (a failed predict inside the deployment's reader section, a failed
 * control call under its control mutex); other messages are only counted. */
enum { ROLE_NONE, ROLE_HOLD, ROLE_REENTER, ROLE_SLOW };
static _Thread_local int tls_role;
static _Thread_local int tls_in_cb;
static mlops_deploy *cb_deploy;
static const vset *cb_set;
static pthread_mutex_t cb_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cb_cv = PTHREAD_COND_INITIALIZER;
static int cb_holding, cb_release, cb_warned;
static mlops_status cb_control_st, cb_stats_st, cb_model_st, cb_validate_st;
static char cb_control_msg[512];

static void test_log(mlops_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == MLOPS_LOG_WARN && strstr(msg, "has waited")) {
        pthread_mutex_lock(&cb_mu);
        cb_warned++;
        pthread_mutex_unlock(&cb_mu);
    }
    if (tls_in_cb || tls_role == ROLE_NONE) return;
    tls_in_cb = 1;               /* messages raised by the calls below are not acted on again */
    if (tls_role == ROLE_HOLD) { /* stay inside the reader section until released */
        pthread_mutex_lock(&cb_mu);
        cb_holding = 1;
        pthread_cond_broadcast(&cb_cv);
        while (!cb_release)
            pthread_cond_wait(&cb_cv, &cb_mu);
        pthread_mutex_unlock(&cb_mu);
    } else if (tls_role == ROLE_REENTER) {
        mlops_deploy_stats st;
        mlops_model *m = NULL;
        mlops_deploy_gate_opts o;
        mlops_deploy_gate_opts_init(&o, MLOPS_DEPLOY_GATE_OPTS_VERSION);
        o.max_abs_diff = INFINITY;
        cb_control_st = mlops_deploy_set_canary(cb_deploy, 0.5);
        snprintf(cb_control_msg, sizeof cb_control_msg, "%s", mlops_last_error());
        cb_stats_st = mlops_deploy_get_stats(cb_deploy, &st);
        cb_model_st = mlops_deploy_model(cb_deploy, MLOPS_SLOT_BLUE, &m);
        mlops_model_free(m);
        cb_validate_st =
            mlops_deploy_validate(cb_deploy, cb_set->x, cb_set->n, cb_set->c, cb_set->y, &o, NULL);
    } else if (tls_role == ROLE_SLOW) {
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    tls_in_cb = 0;
}

/* A predict that fails (wrong width) on a thread acting as `role`. */
static mlops_status bad_predict(mlops_deploy *d, const vset *s, int role) {
    float out[4];
    tls_role = role;
    mlops_status st = mlops_deploy_predict(d, NULL, 0, s->x, 1, s->c - 1, 0, out, 1, NULL);
    tls_role = ROLE_NONE;
    return st;
}

typedef struct {
    mlops_deploy *d;
    const vset *s;
    atomic_int done;
    mlops_status st;
} async_call;

static void *hold_reader(void *arg) {
    async_call *a = arg;
    a->st = bad_predict(a->d, a->s, ROLE_HOLD);
    atomic_store(&a->done, 1);
    return NULL;
}

static void *canary_call(void *arg) {
    async_call *a = arg;
    a->st = mlops_deploy_set_canary(a->d, 0.25);
    atomic_store(&a->done, 1);
    return NULL;
}

START_TEST(readers_are_waited_for_without_blocking_stats) {
    vset s = load_set("bc");
    mlops_model *a = load("binary_logistic"), *b = load("dart_binary");
    mlops_deploy *d = NULL;
    ck_assert_int_eq(mlops_deploy_create(a, NULL, &d), MLOPS_OK);
    ck_assert_int_eq(mlops_deploy_stage(d, b), MLOPS_OK);
    cb_holding = cb_release = cb_warned = 0;
    mlops_set_log_callback(test_log, NULL, MLOPS_LOG_DEBUG);
    /* A request stays inside the deployment until released. */
    async_call reader = {d, &s, 0, MLOPS_OK}, control = {d, &s, 0, MLOPS_OK};
    pthread_t tr, tc;
    ck_assert_int_eq(pthread_create(&tr, NULL, hold_reader, &reader), 0);
    pthread_mutex_lock(&cb_mu);
    while (!cb_holding)
        pthread_cond_wait(&cb_cv, &cb_mu);
    pthread_mutex_unlock(&cb_mu);
    /* A configuration change publishes at once, then waits for that request. */
    uint64_t gen = stats(d).generation;
    ck_assert_int_eq(pthread_create(&tc, NULL, canary_call, &control), 0);
    while (stats(d).generation == gen) {
        struct timespec ts = {0, 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* Meanwhile stats, model and validate answer (they used to wait behind the control mutex). */
    mlops_deploy_stats st = stats(d);
    ck_assert_double_eq(st.canary_fraction, 0.25);
    ck_assert(slot_is(d, MLOPS_SLOT_GREEN, b));
    mlops_deploy_gate_opts o;
    mlops_deploy_gate_opts_init(&o, MLOPS_DEPLOY_GATE_OPTS_VERSION);
    mlops_deploy_gate_report r;
    ck_assert_int_eq(mlops_deploy_validate(d, s.x, s.n, s.c, s.y, &o, &r), MLOPS_OK);
    ck_assert_int_eq(atomic_load(&control.done), 0);
    /* Held past the 1 s report threshold: one warning, one slow grace period. */
    struct timespec hold = {1, 300 * 1000 * 1000};
    nanosleep(&hold, NULL);
    ck_assert_int_eq(atomic_load(&control.done), 0);
    pthread_mutex_lock(&cb_mu);
    cb_release = 1;
    pthread_cond_broadcast(&cb_cv);
    pthread_mutex_unlock(&cb_mu);
    pthread_join(tr, NULL);
    pthread_join(tc, NULL);
    mlops_set_log_callback(NULL, NULL, MLOPS_LOG_DEBUG);
    ck_assert_int_eq(reader.st, MLOPS_ESHAPE);
    ck_assert_int_eq(control.st, MLOPS_OK);
    ck_assert_int_eq(cb_warned, 1);
    ck_assert_uint_eq(stats(d).slow_grace_periods, 1);
    /* A quick change is not reported. */
    ck_assert_int_eq(mlops_deploy_set_canary(d, 0.5), MLOPS_OK);
    ck_assert_uint_eq(stats(d).slow_grace_periods, 1);
    mlops_deploy_free(d);
    mlops_model_free(a);
    mlops_model_free(b);
    free_set(&s);
}
END_TEST

START_TEST(log_callback_reenters) {
    vset s = load_set("bc");
    mlops_model *a = load("binary_logistic"), *b = load("dart_binary"), *reg = load("reg_squarederror");
    mlops_deploy *d = NULL;
    ck_assert_int_eq(mlops_deploy_create(a, NULL, &d), MLOPS_OK);
    ck_assert_int_eq(mlops_deploy_stage(d, b), MLOPS_OK);
    cb_deploy = d;
    cb_set = &s;
    mlops_set_log_callback(test_log, NULL, MLOPS_LOG_DEBUG);
    /* From a message raised inside a predict (the reader section): a configuration change would
     * wait for this very thread, so it is refused; the rest works. */
    cb_control_st = cb_stats_st = cb_model_st = cb_validate_st = (mlops_status)1;
    ck_assert_int_eq(bad_predict(d, &s, ROLE_REENTER), MLOPS_ESHAPE);
    ck_assert_int_eq(cb_control_st, MLOPS_EBUSY);
    ck_assert_msg(
        strstr(cb_control_msg, "deploy: set_canary called from inside a call on the same deployment"), "%s",
        cb_control_msg);
    ck_assert_int_eq(cb_stats_st, MLOPS_OK);
    ck_assert_int_eq(cb_model_st, MLOPS_OK);
    ck_assert_int_eq(cb_validate_st, MLOPS_OK);
    /* From a message raised by a failing control call (under the control mutex). */
    cb_control_st = cb_stats_st = cb_model_st = cb_validate_st = (mlops_status)1;
    tls_role = ROLE_REENTER;
    mlops_status st = mlops_deploy_stage(d, reg);
    tls_role = ROLE_NONE;
    ck_assert_int_eq(st, MLOPS_ESHAPE);
    ck_assert_int_eq(cb_control_st, MLOPS_EBUSY);
    ck_assert_int_eq(cb_stats_st, MLOPS_OK);
    ck_assert_int_eq(cb_model_st, MLOPS_OK);
    ck_assert_int_eq(cb_validate_st, MLOPS_OK);
    mlops_set_log_callback(NULL, NULL, MLOPS_LOG_DEBUG);
    /* Nothing changed by the refused calls; a call outside the callback works. */
    ck_assert_double_eq(stats(d).canary_fraction, 0.0);
    ck_assert_int_eq(mlops_deploy_set_canary(d, 0.5), MLOPS_OK);
    mlops_deploy_free(d);
    mlops_model_free(a);
    mlops_model_free(b);
    mlops_model_free(reg);
    free_set(&s);
}
END_TEST

typedef struct {
    mlops_deploy *d;
    const vset *s;
    mlops_model *a, *b;
    int kind, rounds;
    long unexpected;
    char what[256];
} ctl_worker;

static void note_unexpected(ctl_worker *w, const char *call, mlops_status st) {
    if (w->unexpected++ == 0) snprintf(w->what, sizeof w->what, "%s: %d (%s)", call, st, mlops_last_error());
}

/* Statuses a call may legitimately return when other threads change the deployment meanwhile. */
static void expect(ctl_worker *w, const char *call, mlops_status st, mlops_status ok2) {
    if (st != MLOPS_OK && st != ok2) note_unexpected(w, call, st);
}

static void *control_loop(void *arg) {
    ctl_worker *w = arg;
    mlops_deploy_gate_opts o;
    mlops_deploy_gate_opts_init(&o, MLOPS_DEPLOY_GATE_OPTS_VERSION);
    mlops_deploy_gate_report r;
    for (int i = 0; i < w->rounds; i++) {
        switch (w->kind) {
        case 0:
            expect(w, "stage", mlops_deploy_stage(w->d, i & 1 ? w->a : w->b), MLOPS_OK);
            expect(w, "unstage", mlops_deploy_unstage(w->d), MLOPS_ESTATE);
            break;
        case 1:
            expect(w, "set_canary", mlops_deploy_set_canary(w->d, (i % 4) / 4.0), MLOPS_OK);
            expect(w, "set_shadow", mlops_deploy_set_shadow(w->d, i & 1), MLOPS_OK);
            break;
        case 2:
            expect(w, "promote", mlops_deploy_promote(w->d, MLOPS_DEPLOY_FORCE), MLOPS_ESTATE);
            expect(w, "rollback", mlops_deploy_rollback(w->d), MLOPS_ESTATE);
            break;
        default: {
            mlops_deploy_stats st;
            expect(w, "stats_get", mlops_deploy_get_stats(w->d, &st), MLOPS_OK);
            mlops_status v = mlops_deploy_validate(w->d, w->s->x, w->s->n, w->s->c, w->s->y, &o, &r);
            if (v != MLOPS_OK && v != MLOPS_ESTATE) note_unexpected(w, "validate", v);
            expect(w, "unstage", mlops_deploy_unstage(w->d), MLOPS_ESTATE);
            expect(w, "slow predict", bad_predict(w->d, w->s, ROLE_SLOW) == MLOPS_ESHAPE ? MLOPS_OK : -1,
                   MLOPS_OK);
        }
        }
    }
    return NULL;
}

START_TEST(control_plane_stress) {
    vset s = load_set("bc");
    mlops_model *a = load("binary_logistic"), *b = load("dart_binary");
    float *pa = predict_all(a, &s), *pb = predict_all(b, &s);
    mlops_deploy *d = NULL;
    ck_assert_int_eq(mlops_deploy_create(a, NULL, &d), MLOPS_OK);
    /* Slow readers: failed predicts on the slow threads sleep 2 ms in the log callback. */
    mlops_set_log_callback(test_log, NULL, MLOPS_LOG_DEBUG);
    atomic_int stop = 0;
    enum { NP = 3, NC = 5 };
    worker w[NP];
    pthread_t tp[NP], tc[NC];
    for (int i = 0; i < NP; i++) {
        w[i] = (worker){d, &s, pa, pb, &stop, i, 0, 0, 0};
        ck_assert_int_eq(pthread_create(&tp[i], NULL, predict_loop, &w[i]), 0);
    }
    const int rounds = test_on_valgrind() ? 3 : 40;
    ctl_worker c[NC];
    for (int i = 0; i < NC; i++) {
        c[i] = (ctl_worker){d, &s, a, b, i < 3 ? i : 3, rounds, 0, ""};
        ck_assert_int_eq(pthread_create(&tc[i], NULL, control_loop, &c[i]), 0);
    }
    for (int i = 0; i < NC; i++)
        pthread_join(tc[i], NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < NP; i++)
        pthread_join(tp[i], NULL);
    mlops_set_log_callback(NULL, NULL, MLOPS_LOG_DEBUG);
    for (int i = 0; i < NC; i++)
        ck_assert_msg(c[i].unexpected == 0, "control thread %d: %ld unexpected results, first %s", i,
                      c[i].unexpected, c[i].what);
    long served = 0;
    for (int i = 0; i < NP; i++) {
        ck_assert_int_eq(w[i].failed, 0);
        ck_assert_int_eq(w[i].bad, 0);
        served += w[i].served;
    }
    mlops_deploy_stats st = stats(d);
    ck_assert_uint_eq(st.requests[0] + st.requests[1], (uint64_t)served);
    ck_assert_uint_eq(st.errors[0] + st.errors[1], (uint64_t)(2 * rounds)); /* the slow predicts */
    mlops_deploy_free(d);
    mlops_model_free(a);
    mlops_model_free(b);
    free(pa);
    free(pb);
    free_set(&s);
}
END_TEST

static Suite *suite(void) {
    TCase *tc;
    Suite *s = test_suite_single("deploy", 240, NULL, NULL, &tc);
    tcase_add_test(tc, create_bad_input);
    tcase_add_test(tc, stage_checks_compatibility);
    tcase_add_test(tc, stage_refuses_other_output_kind);
    tcase_add_test(tc, gate_binary_metrics_match_sklearn);
    tcase_add_test(tc, gate_regression_rmse_matches_sklearn);
    tcase_add_test(tc, gate_bad_input_leaves_state);
    tcase_add_test(tc, promote_and_rollback);
    tcase_add_test(tc, predict_bad_input);
    tcase_add_test(tc, canary_split);
    tcase_add_test(tc, shadow_compares_but_serves_blue);
    tcase_add_test(tc, concurrent_switching);
    tcase_add_test(tc, readers_are_waited_for_without_blocking_stats);
    tcase_add_test(tc, log_callback_reenters);
    tcase_add_test(tc, control_plane_stress);
    return s;
}

int main(void) {
    int rc = test_run_suite(suite());
    if (expected) json_decref(expected);
    return rc;
}
