/* mlops_last_error() is documented as "the last failure on the calling thread": a call that
 * succeeds must leave it alone (issue 22). One call fails, then a typical session over every module
 * succeeds call by call, and after each the message must still be the failure's. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mlops.h"

static char failure[1024];

/* Assert the call succeeds and leaves the message as the failure's. */
#define KEEP(call)                                                                                     \
    do {                                                                                               \
        mlops_status st_ = (call);                                                                     \
        ck_assert_msg(st_ == MLOPS_OK, "%s failed: %s", #call, mlops_last_error());                    \
        ck_assert_msg(strcmp(mlops_last_error(), failure) == 0, "%s changed mlops_last_error() to '%s'", \
                      #call, mlops_last_error());                                                      \
    } while (0)

/* The same for a call that returns no status. */
#define KEEPV(expr)                                                                                    \
    do {                                                                                               \
        (void)(expr);                                                                                  \
        ck_assert_msg(strcmp(mlops_last_error(), failure) == 0, "%s changed mlops_last_error() to '%s'", \
                      #expr, mlops_last_error());                                                      \
    } while (0)

static void fail_once(void) {
    mlops_model *m = NULL;
    ck_assert_int_ne(mlops_model_load("/nonexistent/doc22/model.json", NULL, &m), MLOPS_OK);
    snprintf(failure, sizeof failure, "%s", mlops_last_error());
    ck_assert_str_ne(failure, "");
}

START_TEST(successful_calls_keep_the_last_error) {
    size_t nx = 0;
    float *xall = test_read_f32(test_fixture_file("models/binary_logistic.x.f32"), &nx);
    fail_once();
    mlops_model *m, *bin, *buf;
    KEEP(mlops_model_load(test_fixture_file("models/binary_logistic.json"), NULL, &m));
    KEEP(mlops_model_load(test_fixture_file("models/binary_logistic.bin"), NULL, &bin)); /* legacy: export path */
    size_t len = 0;
    void *bytes = test_read_file(test_fixture_file("models/binary_logistic.ubj"), &len);
    KEEP(mlops_model_load_buffer(bytes, len, NULL, &buf));
    free(bytes);
    size_t nf = mlops_model_n_features(m), n = nx / nf < 50 ? nx / nf : 50, idx = 0;
    float out[50];
    KEEP(mlops_model_predict(m, xall, n, nf, 0, out, n));
    KEEP(mlops_model_predict(bin, xall, n, nf, MLOPS_PREDICT_MARGIN, out, n));
    KEEPV(mlops_model_objective(m));
    KEEPV(mlops_model_engine(m));
    KEEP(mlops_model_find_feature(m, mlops_model_feature_name(m, 0), &idx));

    mlops_schema *s, *s2;
    mlops_schema_report *rep;
    char *json;
    unsigned char ok[50];
    KEEP(mlops_schema_from_model(m, &s));
    KEEP(mlops_schema_save_buffer(s, &json));
    KEEP(mlops_schema_load_buffer(json, strlen(json), &s2));
    mlops_free(json);
    KEEP(mlops_schema_check_model(s2, m));
    KEEP(mlops_schema_report_create(0, &rep));
    KEEP(mlops_schema_validate(s2, xall, n, nf, ok, rep));

    mlops_monitor *mon;
    mlops_monitor_opts mo;
    mlops_monitor_opts_init(&mo, MLOPS_MONITOR_OPTS_VERSION);
    mo.window = 100;
    KEEP(mlops_monitor_create(&mo, &mon));
    double p = 0.8, pn[50], x64[50 * 64];
    KEEP(mlops_monitor_record_prediction(mon, "req-1", &p, 1));
    KEEP(mlops_monitor_record_label(mon, "req-1", 1.0));
    KEEP(mlops_monitor_record(mon, &p, 1, 0.0));
    mlops_monitor_metrics q;
    q.version = MLOPS_MONITOR_METRICS_VERSION;
    KEEP(mlops_monitor_compute_metrics(mon, &q));

    for (size_t i = 0; i < n; i++) pn[i] = out[i];
    for (size_t i = 0; i < n * nf && i < 50 * 64; i++) x64[i] = xall[i] == xall[i] ? xall[i] : 0.0; /* no NaN */
    ck_assert_uint_le(nf, 64);
    double d, pv;
    KEEP(mlops_drift_ks_2samp(x64, n, pn, n, MLOPS_DRIFT_KS_TWO_SIDED, MLOPS_DRIFT_KS_AUTO, &d, &pv));
    mlops_drift *dr;
    KEEP(mlops_drift_create(nf, NULL, NULL, NULL, &dr));

    mlops_metrics *reg;
    mlops_metrics_std *std;
    char *text;
    KEEP(mlops_metrics_create(NULL, &reg));
    KEEP(mlops_metrics_std_create(reg, NULL, &std));
    KEEP(mlops_metrics_std_predict(std, m, xall, n, nf, 0, out, n));
    KEEP(mlops_metrics_attach_monitor(std, mon));
    KEEP(mlops_metrics_attach_drift(std, dr));
    KEEP(mlops_metrics_render_alloc(reg, MLOPS_METRICS_PROMETHEUS, &text, &len)); /* drift: no reference yet */
    mlops_free(text);
    KEEP(mlops_drift_set_reference(dr, x64, n, nf));
    KEEP(mlops_drift_update(dr, x64, n, nf));
    KEEP(mlops_drift_report_json(dr, &json));
    mlops_free(json);
    KEEP(mlops_metrics_render_alloc(reg, MLOPS_METRICS_OPENMETRICS, &text, &len));
    mlops_free(text);

    char dir[256];
    test_tmpdir_make(dir, sizeof dir, "last_error", 0);
    mlops_registry *rg;
    mlops_registry_opts ro;
    mlops_registry_opts_init(&ro, MLOPS_REGISTRY_OPTS_VERSION);
    ro.create = 1;
    uint32_t v, v2, got;
    mlops_model *cand;
    KEEP(mlops_registry_create(dir, &ro, &rg));
    KEEP(mlops_registry_put_file(rg, "churn", test_fixture_file("models/binary_logistic.json"), "{}", &v));
    KEEP(mlops_registry_put_file(rg, "churn", test_fixture_file("models/binary_logistic.ubj"), NULL, &v2));
    KEEP(mlops_registry_set_alias(rg, "churn", "production", v));
    KEEP(mlops_registry_resolve_alias(rg, "churn", "production", &got));
    KEEP(mlops_registry_info(rg, "churn", v, &json)); /* lists the version's aliases */
    mlops_free(json);
    KEEP(mlops_registry_verify(rg, "churn", &json)); /* walks the store */
    mlops_free(json);
    KEEP(mlops_registry_load_model(rg, "churn", 0, NULL, &cand, &got));

    mlops_deploy *dep;
    mlops_deploy_gate_opts g;
    mlops_deploy_gate_report gr;
    mlops_deploy_slot slot;
    float y[50];
    for (size_t i = 0; i < n; i++) y[i] = out[i] > 0.5f;
    KEEP(mlops_deploy_create(m, NULL, &dep));
    KEEP(mlops_deploy_stage(dep, cand));
    mlops_deploy_gate_opts_init(&g, MLOPS_DEPLOY_GATE_OPTS_VERSION);
    KEEP(mlops_deploy_validate(dep, xall, n, nf, y, &g, &gr));
    KEEP(mlops_deploy_promote(dep, 0));
    KEEP(mlops_deploy_predict(dep, "user-7", 6, xall, n, nf, 0, out, n, &slot));
    KEEP(mlops_deploy_rollback(dep));

    mlops_router *ab;
    size_t variant;
    mlops_variant_stats vs;
    KEEP(mlops_router_create(NULL, &ab));
    KEEP(mlops_router_add_variant(ab, "control", m, 90));
    KEEP(mlops_router_add_variant(ab, "treatment", cand, 10));
    KEEP(mlops_router_find(ab, "treatment", &idx));
    KEEP(mlops_router_predict(ab, "user-7", 6, xall, n, nf, 0, out, n, &variant));
    KEEP(mlops_router_get_variant_stats(ab, variant, &vs));

    KEEPV(mlops_router_free(ab));
    KEEPV(mlops_deploy_free(dep));
    KEEPV(mlops_registry_free(rg));
    KEEPV(mlops_metrics_free(reg));
    KEEPV(mlops_drift_free(dr));
    KEEPV(mlops_monitor_free(mon));
    KEEPV(mlops_schema_report_free(rep));
    KEEPV(mlops_schema_free(s2));
    KEEPV(mlops_schema_free(s));
    KEEPV(mlops_model_free(cand));
    KEEPV(mlops_model_free(buf));
    KEEPV(mlops_model_free(bin));
    KEEPV(mlops_model_free(m));
    test_tmpdir_remove(dir);
    free(xall);
}
END_TEST

int main(void) {
    const TTest *tests[] = {successful_calls_keep_the_last_error};
    return test_run_case("last_error", "core", 120, tests, MLOPS_TEST_COUNT(tests));
}
