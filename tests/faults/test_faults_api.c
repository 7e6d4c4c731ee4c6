/* Fault injection (issue 13) for every public entry point that allocates,
 * module by module: schema, model, metrics, router, deploy, monitor, drift
 * (the registry and the state files are in tests/registry/test_faults.c).
 * The allocator hook fails the k-th allocation for every k a call makes; each
 * failure must give MLOPS_ENOMEM with a message and change no observable state
 * (stats, metadata, render output, the output pointer); ASan (suite unit in
 * .ci/run) checks that nothing leaks.
 *
 * Where the hook reaches: every allocation libmlops makes itself. It does not
 * reach XGBoost (its C++ allocator), GSL, or jansson: jansson's only allocator
 * setting, json_set_alloc_funcs(), is process-global (no per-call or per-object
 * allocator), which the library must not change, so the JSON trees of schema
 * parsing, model JSON and parse_rows are not failed here. The models are loaded
 * with the native engine so that predictions run on our allocations. Public API only. */
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "fault_inject.h"
#include "harness.h"

static const char *fixture(const char *name, char *buf, size_t n) {
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", name);
    snprintf(buf, n, "%s", test_fixture_file(rel));
    return buf;
}

static mlops_model *load_native(void) {
    char path[512];
    mlops_model_opts o;
    mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
    o.engine = MLOPS_ENGINE_NATIVE;
    mlops_model *m = NULL;
    ck_assert_int_eq(mlops_model_load(fixture("binary_logistic.json", path, sizeof path), &o, &m), MLOPS_OK);
    return m;
}

/* 8 rows of the model's 30 features, from the fixture written by XGBoost's generator. */
enum { NF = 30, NR = 8 };
static float X[NR * NF], Y[NR];

static void read_rows(void) {
    char path[512];
    FILE *f = fopen(fixture("binary_logistic.x.f32", path, sizeof path), "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(X, sizeof(float), NR * NF, f), NR * NF);
    fclose(f);
    for (int i = 0; i < NR; i++)
        Y[i] = (float)(i % 2);
}

/* A call creating an object must leave the output pointer untouched on failure. */
#define SENTINEL ((void *)0x5e5e)
#define CHECK_OUT(st, out)                                                                                  \
    do {                                                                                                    \
        if ((st) != MLOPS_OK) ck_assert_msg((void *)(out) == SENTINEL, "output written on failure");        \
    } while (0)

static char *text(const char *s) { return strdup(s); }

/* ---- schema ---- */

typedef struct schema_ctx {
    mlops_schema *schema;
    mlops_schema_report *report;
    char path[512], *json;
} schema_ctx;

static mlops_status schema_load(void *c) {
    mlops_schema *s = SENTINEL;
    mlops_status st = mlops_schema_load(((schema_ctx *)c)->path, &s);
    CHECK_OUT(st, s);
    if (!st) mlops_schema_free(s);
    return st;
}

static mlops_status schema_parse(void *c) {
    schema_ctx *x = c;
    mlops_schema *s = SENTINEL;
    mlops_status st = mlops_schema_load_buffer(x->json, strlen(x->json), &s);
    CHECK_OUT(st, s);
    if (!st) mlops_schema_free(s);
    return st;
}

static mlops_status schema_infer(void *c) {
    (void)c;
    mlops_schema *s = SENTINEL;
    mlops_status st = mlops_schema_infer(X, NR, NF, NULL, NULL, &s);
    CHECK_OUT(st, s);
    if (!st) mlops_schema_free(s);
    return st;
}

static mlops_model *the_model;

static mlops_status schema_from_model(void *c) {
    (void)c;
    mlops_schema *s = SENTINEL;
    mlops_status st = mlops_schema_from_model(the_model, &s);
    CHECK_OUT(st, s);
    if (!st) mlops_schema_free(s);
    return st;
}

static mlops_status schema_to_json(void *c) {
    char *out = SENTINEL;
    mlops_status st = mlops_schema_save_buffer(((schema_ctx *)c)->schema, &out);
    CHECK_OUT(st, out);
    if (!st) mlops_free(out);
    return st;
}

static mlops_status report_new(void *c) {
    (void)c;
    mlops_schema_report *r = SENTINEL;
    mlops_status st = mlops_schema_report_create(4, &r);
    CHECK_OUT(st, r);
    if (!st) mlops_schema_report_free(r);
    return st;
}

/* rows with violations, so that the report records some */
static float XBAD[NR * NF];

/* The report is best effort by design: a violation whose entry cannot be allocated is
 * counted as omitted. So validation still succeeds (EVALIDATION) when the report's
 * allocations fail; what must hold is that the verdicts are those of a clean run and
 * that recorded + omitted violations add up to the clean run's. */
static size_t want_invalid, want_total;

static mlops_status report_verdict(schema_ctx *x, mlops_status st) {
    if (st != MLOPS_EVALIDATION) return st;
    size_t total = mlops_schema_report_count(x->report) + mlops_schema_report_n_omitted(x->report);
    if (want_total) {
        ck_assert_uint_eq(mlops_schema_report_n_invalid(x->report), want_invalid);
        ck_assert_uint_eq(total, want_total);
    }
    want_invalid = mlops_schema_report_n_invalid(x->report);
    want_total = total;
    return MLOPS_OK;
}

/* a new report each time, so that its entry and text arrays are allocated under the hook */
static mlops_status fresh_report(schema_ctx *x) {
    mlops_schema_report_free(x->report);
    x->report = NULL;
    return mlops_schema_report_create(0, &x->report);
}

static mlops_status schema_validate(void *c) {
    schema_ctx *x = c;
    mlops_status st = fresh_report(x);
    if (st) return st;
    return report_verdict(x, mlops_schema_validate(x->schema, XBAD, NR, NF, NULL, x->report));
}

static mlops_status schema_parse_rows(void *c) {
    schema_ctx *x = c;
    float out[2 * NF];
    size_t n = 0;
    mlops_status st = fresh_report(x);
    if (st) return st;
    const char *json = "[{\"features\": {\"mean_radius\": 1e9}}, {\"features\": {\"nope\": 1}}]";
    return report_verdict(x, mlops_schema_parse_rows(x->schema, json, strlen(json), out, 2 * NF, NULL, &n,
                                                     x->report));
}

START_TEST(schema_calls) {
    schema_ctx x = {0};
    mlops_model *m = load_native();
    /* inferred bounds, so that validation has something to report */
    ck_assert_int_eq(mlops_schema_infer(X, NR, NF, NULL, NULL, &x.schema), MLOPS_OK);
    ck_assert_int_eq(mlops_schema_save_buffer(x.schema, &x.json), MLOPS_OK);
    snprintf(x.path, sizeof x.path, "/tmp/mlops-faults-schema-%d.json", (int)getpid());
    ck_assert_int_eq(mlops_schema_save(x.schema, x.path), MLOPS_OK);
    ck_assert_int_eq(mlops_schema_report_create(0, &x.report), MLOPS_OK);
    for (int i = 0; i < NR * NF; i++)
        XBAD[i] = X[i] * (i % 3 ? 1.0f : 100.0f);
    the_model = m;
    long n[8];
    n[7] = fi_inject("schema_from_model", schema_from_model, NULL, &x);
    n[0] = fi_inject("schema_load", schema_load, NULL, &x);
    n[1] = fi_inject("schema_parse", schema_parse, NULL, &x);
    n[2] = fi_inject("schema_infer", schema_infer, NULL, &x);
    n[3] = fi_inject("schema_to_json", schema_to_json, NULL, &x);
    n[4] = fi_inject("report_new", report_new, NULL, &x);
    /* a clean run first gives the verdicts every failed run must repeat */
    ck_assert_int_eq(schema_validate(&x), MLOPS_OK);
    ck_assert_uint_gt(want_total, 0);
    fi_allow_ok = 1;
    long absorbed = fi_absorbed;
    n[5] = fi_inject("schema_validate", schema_validate, NULL, &x);
    ck_assert_uint_eq(mlops_schema_report_n_omitted(x.report), 0);
    want_total = 0;
    ck_assert_int_eq(schema_parse_rows(&x), MLOPS_OK);
    ck_assert_uint_gt(want_total, 0);
    n[6] = fi_inject("schema_parse_rows", schema_parse_rows, NULL, &x);
    ck_assert_uint_eq(mlops_schema_report_n_omitted(x.report), 0);
    fi_allow_ok = 0;
    absorbed = fi_absorbed - absorbed;
    printf("faults: schema load/parse/from_model/infer/to_json/report_new/validate/parse_rows: "
           "%ld/%ld/%ld/%ld/%ld/%ld/%ld/%ld allocations, each failed once (%ld report entries dropped and counted as omitted)\n", n[0], n[1], n[7], n[2],
           n[3], n[4], n[5], n[6], absorbed);
    remove(x.path);
    mlops_free(x.json);
    mlops_schema_report_free(x.report);
    mlops_schema_free(x.schema);
    mlops_model_free(m);
}
END_TEST

/* ---- model ---- */

typedef struct model_ctx {
    char path[512], *bytes;
    size_t len;
    mlops_model *m;
    int xgboost; /* load with the XGBoost engine: only our own wrapper allocations are reached */
} model_ctx;

static mlops_status model_load(void *c) {
    model_ctx *x = c;
    mlops_model_opts o;
    mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
    o.engine = x->xgboost ? MLOPS_ENGINE_XGBOOST : MLOPS_ENGINE_NATIVE;
    mlops_model *m = SENTINEL;
    mlops_status st = mlops_model_load(x->path, &o, &m);
    CHECK_OUT(st, m);
    if (!st) mlops_model_free(m);
    return st;
}

static mlops_status model_load_buffer(void *c) {
    model_ctx *x = c;
    mlops_model_opts o;
    mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
    o.engine = MLOPS_ENGINE_NATIVE;
    mlops_model *m = SENTINEL;
    mlops_status st = mlops_model_load_buffer(x->bytes, x->len, &o, &m);
    CHECK_OUT(st, m);
    if (!st) mlops_model_free(m);
    return st;
}

static mlops_status model_predict(void *c) {
    float out[NR];
    return mlops_model_predict(((model_ctx *)c)->m, X, NR, NF, 0, out, NR);
}

/* every metadata accessor, each result checked against the clean values */
static char *model_meta(void *c) {
    mlops_model *m = ((model_ctx *)c)->m;
    char buf[4096];
    int n = snprintf(buf, sizeof buf, "%zu %zu %s %s %s %zu %zu %g %zu", mlops_model_n_features(m),
                     mlops_model_n_outputs(m), mlops_model_objective(m), mlops_model_booster(m),
                     mlops_task_name(mlops_model_task(m)), mlops_model_n_classes(m), mlops_model_n_rounds(m),
                     mlops_model_base_score(m), mlops_model_n_attrs(m));
    for (size_t i = 0; i < mlops_model_n_features(m); i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, " %s:%s", mlops_model_feature_name(m, i),
                      mlops_model_feature_type(m, i) ? mlops_model_feature_type(m, i) : "-");
    return text(buf);
}

static mlops_status model_metadata(void *c) {
    model_ctx *x = c;
    char *got = model_meta(x);
    ck_assert_ptr_nonnull(got);
    free(got);
    size_t i = 0;
    mlops_status st = mlops_model_find_feature(x->m, "mean_area", &i);
    return st == MLOPS_OK && i != 3 ? MLOPS_ENOTFOUND : st;
}

START_TEST(model_calls) {
    model_ctx x = {0};
    fixture("binary_logistic.json", x.path, sizeof x.path);
    FILE *f = fopen(x.path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    x.len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    x.bytes = malloc(x.len);
    ck_assert_uint_eq(fread(x.bytes, 1, x.len, f), x.len);
    fclose(f);
    x.m = load_native();
    long n[5];
    /* the native engine shrinks its node array to fit: a failed shrink keeps the array */
    fi_allow_ok = 1;
    n[0] = fi_inject("model_load (native)", model_load, NULL, &x);
    x.xgboost = 1;
    n[1] = fi_inject("model_load (xgboost)", model_load, NULL, &x);
    n[2] = fi_inject("model_load_buffer", model_load_buffer, NULL, &x);
    fi_allow_ok = 0;
    n[3] = fi_inject("model_predict", model_predict, model_meta, &x);
    n[4] = fi_inject("model metadata", model_metadata, model_meta, &x);
    printf("faults: model load (native)/load (xgboost)/load_buffer/predict/metadata: %ld/%ld/%ld/%ld/%ld "
           "allocations, each failed once (%ld failed shrink-to-fit reallocs absorbed)\n", n[0], n[1], n[2], n[3],
           n[4], fi_absorbed);
    free(x.bytes);
    mlops_model_free(x.m);
}
END_TEST

/* ---- metrics ---- */

typedef struct metrics_ctx {
    mlops_metrics *reg;
    mlops_metrics_family *fam;
    mlops_metrics_std *std;
    mlops_monitor *mon;
    mlops_drift *drift;
    int serial;
} metrics_ctx;

static char *metrics_snap(void *c) {
    char *out = NULL;
    size_t len = 0;
    ck_assert_int_eq(mlops_metrics_render_alloc(((metrics_ctx *)c)->reg, MLOPS_METRICS_PROMETHEUS, &out, &len),
                     MLOPS_OK);
    char *copy = text(out);
    mlops_free(out);
    return copy;
}

static mlops_status metrics_create(void *c) {
    (void)c;
    mlops_metrics *r = SENTINEL;
    mlops_status st = mlops_metrics_create(NULL, &r);
    CHECK_OUT(st, r);
    if (!st) mlops_metrics_free(r);
    return st;
}

static mlops_status metrics_register(void *c) {
    metrics_ctx *x = c;
    mlops_metrics_family_opts o;
    mlops_metrics_family_opts_init(&o, MLOPS_METRICS_FAMILY_OPTS_VERSION);
    const char *labels[] = {"variant", "reason"};
    o.label_names = labels;
    o.n_labels = 2;
    mlops_metrics_family *f = SENTINEL;
    mlops_status st = mlops_metrics_register(x->reg, MLOPS_METRICS_COUNTER, "faults_total", "Faults.", &o, &f);
    CHECK_OUT(st, f);
    if (!st) x->fam = f;
    return st;
}

static mlops_status metrics_series(void *c) {
    metrics_ctx *x = c;
    const char *v[] = {"blue", "oom"};
    mlops_series *s = SENTINEL;
    mlops_status st = mlops_metrics_series(x->fam, v, 2, &s);
    CHECK_OUT(st, s);
    return st ? st : mlops_metrics_counter_inc(s, 1);
}

static mlops_status metrics_render(void *c) {
    char *out = SENTINEL;
    size_t len = 0;
    mlops_status st = mlops_metrics_render_alloc(((metrics_ctx *)c)->reg, MLOPS_METRICS_PROMETHEUS, &out, &len);
    CHECK_OUT(st, out);
    if (!st) mlops_free(out);
    return st;
}

static mlops_status metrics_std(void *c) {
    metrics_ctx *x = c;
    mlops_metrics_std *s = SENTINEL;
    mlops_status st = mlops_metrics_std_create(x->reg, "svc", &s);
    CHECK_OUT(st, s);
    if (!st) x->std = s;
    return st;
}


static mlops_status metrics_attach_monitor(void *c) {
    metrics_ctx *x = c;
    return mlops_metrics_attach_monitor(x->std, x->mon);
}

static mlops_status metrics_attach_drift(void *c) {
    metrics_ctx *x = c;
    return mlops_metrics_attach_drift(x->std, x->drift);
}

static mlops_status metrics_set_model(void *c) {
    metrics_ctx *x = c;
    return mlops_metrics_std_set_model_info(x->std, "cancer", "3", "binary:logistic", "native");
}

static mlops_status metrics_std_predict(void *c) {
    metrics_ctx *x = c;
    float out[NR];
    return mlops_metrics_std_predict(x->std, the_model, X, NR, NF, 0, out, NR);
}

START_TEST(metrics_calls) {
    metrics_ctx x = {0};
    the_model = load_native();
    ck_assert_int_eq(mlops_metrics_create(NULL, &x.reg), MLOPS_OK);
    ck_assert_int_eq(mlops_monitor_create(NULL, &x.mon), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_create(2, NULL, NULL, NULL, &x.drift), MLOPS_OK);
    long n[9];
    n[0] = fi_inject("metrics_create", metrics_create, NULL, &x);
    n[1] = fi_inject("metrics_register", metrics_register, metrics_snap, &x);
    n[2] = fi_inject("metrics_series", metrics_series, metrics_snap, &x);
    /* Every failed attempt must leave the registry as it was: a family left behind would make the
     * next attempt fail with EEXIST instead of ENOMEM, and would show in the snapshot. */
    n[3] = fi_inject("metrics_std_create", metrics_std, metrics_snap, &x);
    ck_assert_ptr_nonnull(x.std);
    n[4] = fi_inject("metrics_std_set_model_info", metrics_set_model, metrics_snap, &x);
    n[5] = fi_inject("metrics_std_predict", metrics_std_predict, metrics_snap, &x);
    n[6] = fi_inject("metrics_attach_monitor", metrics_attach_monitor, metrics_snap, &x);
    n[7] = fi_inject("metrics_attach_drift", metrics_attach_drift, metrics_snap, &x);
    n[8] = fi_inject("metrics_render", metrics_render, metrics_snap, &x);
    printf("faults: metrics create/register/series/std_create/set_model_info/std_predict/attach_monitor/"
           "attach_drift/render: %ld/%ld/%ld/%ld/%ld/%ld/%ld/%ld/%ld allocations, each failed once\n",
           n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8]);
    mlops_metrics_free(x.reg);
    mlops_monitor_free(x.mon);
    mlops_drift_free(x.drift);
    mlops_model_free(the_model);
}
END_TEST

/* ---- router ---- */

typedef struct router_ctx {
    mlops_router *r;
    mlops_model *m;
} router_ctx;

static char *router_snap(void *c) {
    router_ctx *x = c;
    char buf[1024];
    size_t nv = mlops_router_n_variants(x->r);
    int n = snprintf(buf, sizeof buf, "%zu variants", nv);
    for (size_t i = 0; i < nv; i++) {
        mlops_variant_stats s;
        ck_assert_int_eq(mlops_router_get_variant_stats(x->r, i, &s), MLOPS_OK);
        n += snprintf(buf + n, sizeof buf - (size_t)n, "; %llu req %llu rows %llu err",
                      (unsigned long long)s.requests, (unsigned long long)s.rows, (unsigned long long)s.errors);
    }
    return text(buf);
}

static mlops_status router_create(void *c) {
    (void)c;
    mlops_router *r = SENTINEL;
    mlops_status st = mlops_router_create(NULL, &r);
    CHECK_OUT(st, r);
    if (!st) mlops_router_free(r);
    return st;
}

static mlops_status router_add(void *c) {
    router_ctx *x = c;
    return mlops_router_add_variant(x->r, mlops_router_n_variants(x->r) ? "b" : "a", x->m, 50);
}

static mlops_status router_set_weight(void *c) { return mlops_router_set_weight(((router_ctx *)c)->r, "a", 10); }

static mlops_status router_predict(void *c) {
    float out[NR];
    size_t v = 0;
    return mlops_router_predict(((router_ctx *)c)->r, "user-7", 6, X, NR, NF, 0, out, NR, &v);
}

START_TEST(router_calls) {
    router_ctx x = {0};
    x.m = load_native();
    ck_assert_int_eq(mlops_router_create(NULL, &x.r), MLOPS_OK);
    long n[5];
    n[0] = fi_inject("router_create", router_create, NULL, &x);
    n[1] = fi_inject("router_add_variant (first)", router_add, router_snap, &x);
    n[2] = fi_inject("router_add_variant (second)", router_add, router_snap, &x);
    n[3] = fi_inject("router_set_weight", router_set_weight, router_snap, &x);
    n[4] = fi_inject("router_predict", router_predict, router_snap, &x);
    printf("faults: router create/add_variant/add_variant/set_weight/predict: %ld/%ld/%ld/%ld/%ld allocations, "
           "each failed once\n", n[0], n[1], n[2], n[3], n[4]);
    mlops_router_free(x.r);
    mlops_model_free(x.m);
}
END_TEST

/* ---- deploy ---- */

typedef struct deploy_ctx {
    mlops_deploy *d;
    mlops_model *a, *b;
} deploy_ctx;

static char *deploy_snap(void *c) {
    deploy_ctx *x = c;
    mlops_deploy_stats s;
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(mlops_deploy_get_stats(x->d, &s), MLOPS_OK);
    char buf[512];
    int n = snprintf(buf, sizeof buf, "req %llu/%llu rows %llu/%llu err %llu/%llu shadow %llu/%llu slots",
                     (unsigned long long)s.requests[0], (unsigned long long)s.requests[1],
                     (unsigned long long)s.rows[0], (unsigned long long)s.rows[1], (unsigned long long)s.errors[0],
                     (unsigned long long)s.errors[1], (unsigned long long)s.shadow_requests,
                     (unsigned long long)s.shadow_rows);
    for (int slot = 0; slot < 3; slot++) {
        mlops_model *m = NULL;
        mlops_status st = mlops_deploy_model(x->d, (mlops_deploy_slot)slot, &m);
        n += snprintf(buf + n, sizeof buf - (size_t)n, " %s", st ? "-" : m == x->a ? "a" : m == x->b ? "b" : "?");
        mlops_model_free(m);
    }
    return text(buf);
}

static mlops_status deploy_create(void *c) {
    mlops_deploy *d = SENTINEL;
    mlops_status st = mlops_deploy_create(((deploy_ctx *)c)->a, NULL, &d);
    CHECK_OUT(st, d);
    if (!st) mlops_deploy_free(d);
    return st;
}

static mlops_status deploy_stage(void *c) { return mlops_deploy_stage(((deploy_ctx *)c)->d, ((deploy_ctx *)c)->b); }

static mlops_status deploy_validate(void *c) {
    mlops_deploy_gate_report rep;
    return mlops_deploy_validate(((deploy_ctx *)c)->d, X, NR, NF, Y, NULL, &rep);
}

static mlops_status deploy_promote(void *c) { return mlops_deploy_promote(((deploy_ctx *)c)->d, 0); }
static mlops_status deploy_rollback(void *c) { return mlops_deploy_rollback(((deploy_ctx *)c)->d); }
static mlops_status deploy_canary(void *c) { return mlops_deploy_set_canary(((deploy_ctx *)c)->d, 0.5); }
static mlops_status deploy_shadow(void *c) { return mlops_deploy_set_shadow(((deploy_ctx *)c)->d, 1); }

static mlops_status deploy_predict(void *c) {
    float out[NR];
    mlops_deploy_slot by;
    return mlops_deploy_predict(((deploy_ctx *)c)->d, "user-7", 6, X, NR, NF, 0, out, NR, &by);
}

static mlops_status deploy_stats(void *c) {
    mlops_deploy_stats s;
    return mlops_deploy_get_stats(((deploy_ctx *)c)->d, &s);
}

START_TEST(deploy_calls) {
    deploy_ctx x = {0};
    x.a = load_native();
    x.b = load_native();
    ck_assert_int_eq(mlops_deploy_create(x.a, NULL, &x.d), MLOPS_OK);
    long n[10];
    n[0] = fi_inject("deploy_create", deploy_create, NULL, &x);
    n[1] = fi_inject("deploy_stage", deploy_stage, deploy_snap, &x);
    n[2] = fi_inject("deploy_validate", deploy_validate, deploy_snap, &x);
    n[3] = fi_inject("deploy_promote", deploy_promote, deploy_snap, &x);
    n[4] = fi_inject("deploy_rollback", deploy_rollback, deploy_snap, &x);
    ck_assert_int_eq(mlops_deploy_stage(x.d, x.b), MLOPS_OK);
    n[5] = fi_inject("deploy_set_canary", deploy_canary, deploy_snap, &x);
    n[6] = fi_inject("deploy_set_shadow", deploy_shadow, deploy_snap, &x);
    n[7] = fi_inject("deploy_predict", deploy_predict, deploy_snap, &x);
    n[8] = fi_inject("deploy_stats_get", deploy_stats, deploy_snap, &x);
    n[9] = fi_inject("deploy_stage (replacing)", deploy_stage, deploy_snap, &x);
    printf("faults: deploy create/stage/validate/promote/rollback/set_canary/set_shadow/predict/stats_get/restage: "
           "%ld/%ld/%ld/%ld/%ld/%ld/%ld/%ld/%ld/%ld allocations, each failed once\n",
           n[0], n[1], n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9]);
    mlops_deploy_free(x.d);
    mlops_model_free(x.a);
    mlops_model_free(x.b);
}
END_TEST

/* ---- monitor ---- */

static char *monitor_snap(void *c) {
    mlops_monitor *m = c;
    mlops_monitor_stats s;
    memset(&s, 0, sizeof s);
    s.version = MLOPS_MONITOR_STATS_VERSION;
    ck_assert_int_eq(mlops_monitor_get_stats(m, &s), MLOPS_OK);
    char buf[256];
    snprintf(buf, sizeof buf, "recorded %llu window %llu pending %llu matched %llu evicted %llu/%llu",
             (unsigned long long)s.recorded, (unsigned long long)s.window_count, (unsigned long long)s.pending,
             (unsigned long long)s.matched, (unsigned long long)s.evicted_ttl,
             (unsigned long long)s.evicted_capacity);
    return text(buf);
}

static mlops_status monitor_create(void *c) {
    (void)c;
    mlops_monitor *m = SENTINEL;
    mlops_status st = mlops_monitor_create(NULL, &m);
    CHECK_OUT(st, m);
    if (!st) mlops_monitor_free(m);
    return st;
}

static int monitor_serial;

static mlops_status monitor_prediction(void *c) {
    char id[32];
    snprintf(id, sizeof id, "req-%d", monitor_serial);
    double p = 0.25;
    return mlops_monitor_record_prediction(c, id, &p, 1);
}

static mlops_status monitor_label(void *c) {
    char id[32];
    snprintf(id, sizeof id, "req-%d", monitor_serial);
    return mlops_monitor_record_label(c, id, 1.0);
}

static mlops_status monitor_record(void *c) {
    double p = 0.75;
    return mlops_monitor_record(c, &p, 1, 0.0);
}

/* 100 rows: past the ring's first allocation, so the ring grows inside the call. */
static mlops_status monitor_record_batch(void *c) {
    double p[100], y[100];
    for (int i = 0; i < 100; i++) {
        p[i] = (i % 10) / 10.0;
        y[i] = i % 2;
    }
    return mlops_monitor_record_batch(c, p, 100, y, 100);
}

static mlops_status monitor_metrics(void *c) {
    mlops_monitor_metrics m;
    memset(&m, 0, sizeof m);
    m.version = MLOPS_MONITOR_METRICS_VERSION;
    return mlops_monitor_compute_metrics(c, &m);
}

START_TEST(monitor_calls) {
    mlops_monitor *m = NULL;
    ck_assert_int_eq(mlops_monitor_create(NULL, &m), MLOPS_OK);
    long n[6];
    n[0] = fi_inject("monitor_create", monitor_create, NULL, NULL);
    n[1] = fi_inject("monitor_record_prediction", monitor_prediction, monitor_snap, m);
    n[2] = fi_inject("monitor_record_label", monitor_label, monitor_snap, m);
    monitor_serial++;
    for (int i = 0; i < 3; i++) /* a second pending prediction and a few direct pairs */
        ck_assert_int_eq(monitor_record(m), MLOPS_OK);
    n[3] = fi_inject("monitor_record", monitor_record, monitor_snap, m);
    n[4] = fi_inject("monitor_get_metrics", monitor_metrics, monitor_snap, m);
    n[5] = fi_inject("monitor_record_batch", monitor_record_batch, monitor_snap, m);
    ck_assert_int_gt(n[5], 0); /* the ring grew */
    printf("faults: monitor create/record_prediction/record_label/record/get_metrics/record_batch: "
           "%ld/%ld/%ld/%ld/%ld/%ld allocations, each failed once\n", n[0], n[1], n[2], n[3], n[4], n[5]);
    mlops_monitor_free(m);
}
END_TEST

/* ---- drift ---- */

static char *drift_snap(void *c) {
    char *json = NULL;
    mlops_status st = mlops_drift_report_json(c, &json);
    char *copy = text(st ? mlops_status_str(st) : json); /* no report before a reference */
    mlops_free(json);
    return copy;
}

static double REF[100 * 2];

static mlops_status drift_new(void *c) {
    (void)c;
    const char *names[] = {"x", "y"};
    mlops_drift *d = SENTINEL;
    mlops_status st = mlops_drift_create(2, names, NULL, NULL, &d);
    CHECK_OUT(st, d);
    if (!st) mlops_drift_free(d);
    return st;
}

static mlops_status drift_set_reference(void *c) { return mlops_drift_set_reference(c, REF, 100, 2); }
static mlops_status drift_update(void *c) { return mlops_drift_update(c, REF + 40, 30, 2); }

static mlops_status drift_report_json(void *c) {
    char *json = SENTINEL;
    mlops_status st = mlops_drift_report_json(c, &json);
    CHECK_OUT(st, json);
    if (!st) mlops_free(json);
    return st;
}

static mlops_status drift_report_html(void *c) {
    char *html = SENTINEL;
    size_t len = 0;
    const char *labels_y[] = {"zero", "one", "two", "three", "four"};
    const char *const *labels[] = {NULL, labels_y};
    const size_t n_labels[] = {0, 5};
    mlops_status st = mlops_drift_report_html(c, labels, n_labels, &html, &len);
    CHECK_OUT(st, html);
    if (!st) mlops_free(html);
    return st;
}

START_TEST(drift_report_html_calls) { /* a numeric and a categorical feature, labels given */
    for (int i = 0; i < 200; i++)
        REF[i] = i % 2 ? (double)(i % 5) : (double)((i * 37) % 101) / 7.0;
    const char *names[] = {"x", "y"};
    const mlops_feature_kind kinds[] = {MLOPS_FEATURE_NUMERIC, MLOPS_FEATURE_CATEGORICAL};
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    o.window = 50;
    mlops_drift *d = NULL;
    ck_assert_int_eq(mlops_drift_create(2, names, kinds, &o, &d), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_set_reference(d, REF, 100, 2), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_update(d, REF + 40, 30, 2), MLOPS_OK);
    long n = fi_inject("drift_report_html", drift_report_html, drift_snap, d);
    printf("faults: drift report_html: %ld allocations, each failed once\n", n);
    mlops_drift_free(d);
}
END_TEST

START_TEST(drift_calls) {
    for (int i = 0; i < 200; i++)
        REF[i] = (double)((i * 37) % 101) / 7.0;
    const char *names[] = {"x", "y"};
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    o.window = 50;
    mlops_drift *d = NULL;
    ck_assert_int_eq(mlops_drift_create(2, names, NULL, &o, &d), MLOPS_OK);
    long n[4];
    n[0] = fi_inject("drift_new", drift_new, NULL, NULL);
    n[1] = fi_inject("drift_set_reference", drift_set_reference, drift_snap, d);
    n[2] = fi_inject("drift_update", drift_update, drift_snap, d);
    n[3] = fi_inject("drift_report_json", drift_report_json, drift_snap, d);
    printf("faults: drift new/set_reference/update/report_json: %ld/%ld/%ld/%ld allocations, each failed once\n",
           n[0], n[1], n[2], n[3]);
    mlops_drift_free(d);
}
END_TEST

/* ---- drift snapshots (issue 14) ---- */

typedef struct snap_ctx {
    mlops_drift *d;
    mlops_drift_snapshot *into, *other;
    void *buf;
    size_t len;
} snap_ctx;

static char *snapshot_snap(void *c) {
    char *json = NULL;
    mlops_status st = mlops_drift_snapshot_report_json(((snap_ctx *)c)->into, &json);
    char *copy = text(st ? mlops_status_str(st) : json);
    mlops_free(json);
    return copy;
}

static char *snapshot_detector_snap(void *c) { return drift_snap(((snap_ctx *)c)->d); }

static mlops_status snapshot_create(void *c) {
    mlops_drift_snapshot *s = SENTINEL;
    mlops_status st = mlops_drift_snapshot_create(((snap_ctx *)c)->d, &s);
    CHECK_OUT(st, s);
    if (!st) mlops_drift_snapshot_free(s);
    return st;
}

static mlops_status snapshot_save_buffer(void *c) {
    void *buf = SENTINEL;
    size_t len = 0;
    mlops_status st = mlops_drift_snapshot_save_buffer(((snap_ctx *)c)->into, &buf, &len);
    CHECK_OUT(st, buf);
    if (!st) mlops_free(buf);
    return st;
}

static mlops_status snapshot_load_buffer(void *c) {
    mlops_drift_snapshot *s = SENTINEL;
    mlops_status st = mlops_drift_snapshot_load_buffer(((snap_ctx *)c)->buf, ((snap_ctx *)c)->len, &s);
    CHECK_OUT(st, s);
    if (!st) mlops_drift_snapshot_free(s);
    return st;
}

static mlops_status snapshot_merge(void *c) {
    return mlops_drift_snapshot_merge(((snap_ctx *)c)->into, ((snap_ctx *)c)->other);
}

static mlops_status snapshot_report_json(void *c) {
    char *json = SENTINEL;
    mlops_status st = mlops_drift_snapshot_report_json(((snap_ctx *)c)->into, &json);
    CHECK_OUT(st, json);
    if (!st) mlops_free(json);
    return st;
}

START_TEST(snapshot_calls) {
    for (int i = 0; i < 200; i++)
        REF[i] = (double)((i * 37) % 101) / 7.0;
    const char *names[] = {"x", "y"};
    const mlops_feature_kind kinds[] = {MLOPS_FEATURE_NUMERIC, MLOPS_FEATURE_CATEGORICAL};
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    o.window = 50;
    snap_ctx x = {0};
    for (int i = 1; i < 200; i += 2)
        REF[i] = (double)(i % 5); /* the categorical column: integer codes */
    ck_assert_int_eq(mlops_drift_create(2, names, kinds, &o, &x.d), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_set_reference(x.d, REF, 100, 2), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_update(x.d, REF + 40, 30, 2), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_snapshot_create(x.d, &x.into), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_snapshot_create(x.d, &x.other), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_snapshot_save_buffer(x.into, &x.buf, &x.len), MLOPS_OK);
    long n[5];
    n[0] = fi_inject("drift_snapshot_create", snapshot_create, snapshot_detector_snap, &x);
    n[1] = fi_inject("drift_snapshot_save_buffer", snapshot_save_buffer, snapshot_snap, &x);
    n[2] = fi_inject("drift_snapshot_load_buffer", snapshot_load_buffer, NULL, &x);
    n[3] = fi_inject("drift_snapshot_merge", snapshot_merge, snapshot_snap, &x);
    n[4] = fi_inject("drift_snapshot_report_json", snapshot_report_json, snapshot_snap, &x);
    printf("faults: drift snapshot create/save_buffer/load_buffer/merge/report_json: %ld/%ld/%ld/%ld/%ld "
           "allocations, each failed once\n",
           n[0], n[1], n[2], n[3], n[4]);
    mlops_free(x.buf);
    mlops_drift_snapshot_free(x.into);
    mlops_drift_snapshot_free(x.other);
    mlops_drift_free(x.d);
}
END_TEST

static Suite *make_suite(void) {
    TCase *tc;
    Suite *s = test_suite_single("faults_api", 120, read_rows, NULL, &tc);
    tcase_add_test(tc, schema_calls);
    tcase_add_test(tc, model_calls);
    tcase_add_test(tc, metrics_calls);
    tcase_add_test(tc, router_calls);
    tcase_add_test(tc, deploy_calls);
    tcase_add_test(tc, monitor_calls);
    tcase_add_test(tc, drift_calls);
    tcase_add_test(tc, drift_report_html_calls);
    tcase_add_test(tc, snapshot_calls);
    return s;
}

MLOPS_TEST_MAIN(make_suite)
