/* Unit tests for the monitor: metrics against scikit-learn fixtures (tests/monitor/gen_fixtures.py),
 * long-stream accuracy, delayed labels, alerts, durable state, bad input, concurrency. */
#include <check.h>
#include <gsl/gsl_statistics_double.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mlops/monitor.h"
#include "harness.h"

#define TOL 1e-9

static char tmpdir[256];

/* A path in the test's temporary directory; each call returns its own buffer (freed at exit). */
static const char *tmp_path(const char *name) {
    static char bufs[16][512];
    static int next;
    char *buf = bufs[next++ % 16];
    snprintf(buf, 512, "%s/%s", tmpdir, name);
    return buf;
}

static void setup_tmp(void) { test_tmpdir_make(tmpdir, sizeof tmpdir, "monitor", 0); }

static void teardown_tmp(void) { ck_assert_int_eq(test_tmpdir_remove(tmpdir), 0); }

static int close_enough(double got, double want) {
    if (isnan(want)) return isnan(got);
    return fabs(got - want) <= TOL * fmax(1.0, fabs(want));
}

static mlops_monitor_metrics get_metrics(mlops_monitor *m) {
    mlops_monitor_metrics out;
    memset(&out, 0, sizeof out);
    out.version = MLOPS_MONITOR_METRICS_VERSION;
    ck_assert_int_eq(mlops_monitor_compute_metrics(m, &out), MLOPS_OK);
    return out;
}

static mlops_monitor_stats get_stats(mlops_monitor *m) {
    mlops_monitor_stats s;
    memset(&s, 0, sizeof s);
    s.version = MLOPS_MONITOR_STATS_VERSION;
    ck_assert_int_eq(mlops_monitor_get_stats(m, &s), MLOPS_OK);
    return s;
}

/* Same values, NaN equal to NaN, bit for bit otherwise. */
static void assert_same_metrics(const mlops_monitor_metrics *a, const mlops_monitor_metrics *b) {
    ck_assert_uint_eq(a->has, b->has);
    ck_assert_uint_eq(a->count, b->count);
    for (int k = 0; k < MLOPS_METRIC_N; k++) {
        double x = mlops_monitor_metrics_value(a, (mlops_metric)k),
               y = mlops_monitor_metrics_value(b, (mlops_metric)k);
        ck_assert_msg((isnan(x) && isnan(y)) || x == y, "%s: %.17g != %.17g",
                      mlops_metric_name((mlops_metric)k), x, y);
    }
}

static void assert_same_stats(const mlops_monitor_stats *a, const mlops_monitor_stats *b) {
    ck_assert_uint_eq(a->recorded, b->recorded);
    ck_assert_uint_eq(a->window_count, b->window_count);
    ck_assert_uint_eq(a->pending, b->pending);
    ck_assert_uint_eq(a->matched, b->matched);
    ck_assert_uint_eq(a->evicted_ttl, b->evicted_ttl);
    ck_assert_uint_eq(a->evicted_capacity, b->evicted_capacity);
}

/* ----------------------------------------------------------- fixtures */

static json_t *fixtures;

static void load_fixtures(void) {
    if (fixtures) return;
    const char *dir = getenv("MLOPS_SOURCE_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/monitor/fixtures/monitor_cases.json", dir ? dir : ".");
    json_error_t err;
    fixtures = json_load_file(path, 0, &err);
    ck_assert_msg(fixtures != NULL, "%s: %s", path, err.text);
}

static mlops_monitor_opts case_opts(json_t *c) {
    mlops_monitor_opts o;
    mlops_monitor_opts_init(&o, MLOPS_MONITOR_OPTS_VERSION);
    const char *task = json_string_value(json_object_get(c, "task"));
    o.task = !strcmp(task, "binary")       ? MLOPS_MONITOR_BINARY
             : !strcmp(task, "multiclass") ? MLOPS_MONITOR_MULTICLASS
                                           : MLOPS_MONITOR_REGRESSION;
    o.window = (size_t)json_integer_value(json_object_get(c, "window"));
    o.threshold = json_number_value(json_object_get(c, "threshold"));
    o.tolerance = json_number_value(json_object_get(c, "tolerance"));
    o.n_classes = (unsigned)json_integer_value(json_object_get(c, "n_classes"));
    json_t *eps = json_object_get(c, "eps");
    if (json_is_number(eps)) o.log_loss_eps = json_number_value(eps);
    return o;
}

static void check_against(const mlops_monitor_metrics *got, json_t *want, const char *what, size_t n) {
    const char *key;
    json_t *v;
    json_object_foreach(want, key, v) {
        int id = -1;
        for (int k = 0; k < MLOPS_METRIC_N; k++)
            if (!strcmp(mlops_metric_name((mlops_metric)k), key)) id = k;
        ck_assert_msg(id >= 0, "unknown metric %s in fixture", key);
        ck_assert_msg(got->has & (1ull << id), "%s n=%zu: %s should apply", what, n, key);
        double g = mlops_monitor_metrics_value(got, (mlops_metric)id);
        double w = json_is_null(v) ? NAN : json_number_value(v);
        ck_assert_msg(close_enough(g, w), "%s n=%zu %s: got %.17g, scikit-learn %.17g", what, n, key, g, w);
    }
}

/* mode 0: one record at a time; 1: batches between checkpoints; 2: via request ids and late labels. */
static void replay_case(json_t *c, int mode) {
    mlops_monitor_opts o = case_opts(c);
    mlops_monitor *m = NULL;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_OK);
    json_t *preds = json_object_get(c, "preds"), *acts = json_object_get(c, "actuals");
    size_t n = json_array_size(acts), width = o.task == MLOPS_MONITOR_MULTICLASS ? o.n_classes : 1;
    double *P = calloc(n * width, sizeof *P), *Y = calloc(n, sizeof *Y);
    for (size_t i = 0; i < n; i++) {
        json_t *p = json_array_get(preds, i);
        if (width == 1)
            P[i] = json_number_value(p);
        else
            for (size_t k = 0; k < width; k++)
                P[i * width + k] = json_number_value(json_array_get(p, k));
        Y[i] = json_number_value(json_array_get(acts, i));
    }
    const char *name = json_string_value(json_object_get(c, "name"));
    size_t done = 0;
    json_t *cp;
    size_t ci;
    json_array_foreach(json_object_get(c, "checkpoints"), ci, cp) {
        size_t upto = (size_t)json_integer_value(json_object_get(cp, "n"));
        if (mode == 1) {
            ck_assert_int_eq(
                mlops_monitor_record_batch(m, P + done * width, (upto - done) * width, Y + done, upto - done),
                MLOPS_OK);
        } else if (mode == 2) {
            char id[32];
            /* All predictions of the segment first (several outstanding), then their labels. */
            for (size_t i = done; i < upto; i++) {
                snprintf(id, sizeof id, "req-%zu", i);
                ck_assert_int_eq(mlops_monitor_record_prediction_at(m, id, P + i * width, width, (double)i),
                                 MLOPS_OK);
            }
            for (size_t i = done; i < upto; i++) {
                snprintf(id, sizeof id, "req-%zu", i);
                ck_assert_int_eq(mlops_monitor_record_label_at(m, id, Y[i], (double)i), MLOPS_OK);
            }
        } else {
            for (size_t i = done; i < upto; i++)
                ck_assert_int_eq(mlops_monitor_record(m, P + i * width, width, Y[i]), MLOPS_OK);
        }
        done = upto;
        mlops_monitor_metrics got = get_metrics(m);
        check_against(&got, json_object_get(cp, "metrics"), name, upto);
    }
    ck_assert_uint_eq(done, n);
    mlops_monitor_metrics life;
    life.version = MLOPS_MONITOR_METRICS_VERSION;
    ck_assert_int_eq(mlops_monitor_get_lifetime(m, &life), MLOPS_OK);
    ck_assert(!(life.has & (1ull << MLOPS_METRIC_ROC_AUC)));
    check_against(&life, json_object_get(c, "lifetime"), "lifetime", n);
    mlops_monitor_stats s = get_stats(m);
    ck_assert_uint_eq(s.recorded, n);
    ck_assert_uint_eq(s.matched, mode == 2 ? n : 0);
    ck_assert_uint_eq(s.pending, 0);
    free(P);
    free(Y);
    mlops_monitor_free(m);
}

START_TEST(fixtures_match_sklearn) {
    load_fixtures();
    json_t *cases = json_object_get(fixtures, "cases");
    ck_assert_uint_ge(json_array_size(cases), 8);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) replay_case(c, _i);
}
END_TEST

/* --------------------------------------------------------- long stream */

/* Deterministic LCG for test data (not a statistical RNG; only needs to be repeatable). */
static uint64_t lcg_state;
static double urand(void) {
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) * (1.0 / 9007199254740992.0);
}

static void long_stream(size_t recompute_every) {
    const size_t W = 1000, N = 3000000;
    mlops_monitor_opts o = MLOPS_MONITOR_OPTS_INIT;
    o.task = MLOPS_MONITOR_REGRESSION;
    o.window = W;
    o.tolerance = 0.5;
    o.recompute_every = recompute_every;
    mlops_monitor *m;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_OK);
    double *yh = malloc(N * sizeof *yh), *y = malloc(N * sizeof *y);
    lcg_state = 42;
    for (size_t i = 0; i < N; i++) {
        /* Labels around 1e6 with unit noise; early huge outliers that must leave no trace. */
        y[i] = 1e6 + (urand() - 0.5) * 4.0;
        yh[i] = y[i] + (urand() - 0.5) * 2.0;
        if (i < N / 2 && i % 9973 == 0) yh[i] = 1e9 * urand(), y[i] = -1e8;
    }
    for (size_t i = 0; i < N; i += 5000)
        ck_assert_int_eq(mlops_monitor_record_batch(m, yh + i, 5000, y + i, 5000), 0);
    mlops_monitor_metrics got = get_metrics(m);
    /* Reference: GSL two-pass statistics over the last W records. */
    const double *ly = y + N - W, *lh = yh + N - W;
    double *se = malloc(W * sizeof *se), *ae = malloc(W * sizeof *ae);
    for (size_t i = 0; i < W; i++)
        se[i] = (ly[i] - lh[i]) * (ly[i] - lh[i]), ae[i] = fabs(ly[i] - lh[i]);
    double mse = gsl_stats_mean(se, 1, W), mae = gsl_stats_mean(ae, 1, W);
    double r2 = 1.0 - mse * (double)W / gsl_stats_tss(ly, 1, W);
    ck_assert_msg(close_enough(got.mse, mse), "mse %.17g vs %.17g", got.mse, mse);
    ck_assert_msg(close_enough(got.mae, mae), "mae %.17g vs %.17g", got.mae, mae);
    ck_assert_msg(close_enough(got.r2, r2), "r2 %.17g vs %.17g", got.r2, r2);
    ck_assert_msg(close_enough(got.mean_label, gsl_stats_mean(ly, 1, W)), "mean label");
    ck_assert_msg(close_enough(got.mean_prediction, gsl_stats_mean(lh, 1, W)), "mean prediction");
    mlops_monitor_stats s = get_stats(m);
    if (recompute_every == SIZE_MAX)
        ck_assert_uint_le(s.recomputes, 1); /* only the query-time re-centring */
    else
        ck_assert_uint_ge(s.recomputes, N / W - 1);
    free(se);
    free(ae);
    free(y);
    free(yh);
    mlops_monitor_free(m);
}

START_TEST(long_stream_without_periodic_rebuild) { long_stream(SIZE_MAX); }
END_TEST

START_TEST(long_stream_with_rebuilds) { long_stream(0); }
END_TEST

START_TEST(long_stream_binary) {
    const size_t W = 1000, N = 2000000;
    mlops_monitor_opts o = MLOPS_MONITOR_OPTS_INIT;
    o.window = W;
    o.recompute_every = SIZE_MAX;
    mlops_monitor *m;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_OK);
    double *p = malloc(N * sizeof *p), *y = malloc(N * sizeof *y);
    lcg_state = 7;
    for (size_t i = 0; i < N; i++) {
        p[i] = urand();
        y[i] = urand() < p[i] ? 1.0 : 0.0;
        if (i % 1000 == 1) p[i] = y[i] ? 1e-300 : 1.0; /* maximal clipped log loss terms */
    }
    ck_assert_int_eq(mlops_monitor_record_batch(m, p, N, y, N), 0);
    mlops_monitor_metrics got = get_metrics(m);
    double *ll = malloc(W * sizeof *ll), *br = malloc(W * sizeof *br);
    for (size_t i = 0; i < W; i++) {
        double pi = p[N - W + i], yi = y[N - W + i], eps = DBL_EPSILON;
        double pc = fmin(fmax(pi, eps), 1 - eps), q = 1 - pc;
        ll[i] = -log((yi ? pc : q) / (pc + q));
        br[i] = (pi - yi) * (pi - yi);
    }
    ck_assert_msg(close_enough(got.log_loss, gsl_stats_mean(ll, 1, W)), "log loss %.17g", got.log_loss);
    ck_assert_msg(close_enough(got.brier, gsl_stats_mean(br, 1, W)), "brier %.17g", got.brier);
    ck_assert_msg(close_enough(got.mean_prediction, gsl_stats_mean(p + N - W, 1, W)), "mean p");
    free(ll);
    free(br);
    free(p);
    free(y);
    mlops_monitor_free(m);
}
END_TEST

/* ------------------------------------------------------------ options */

START_TEST(options_defaults_and_validation) {
    mlops_monitor_opts a = MLOPS_MONITOR_OPTS_INIT, b;
    memset(&b, 0xab, sizeof b);
    mlops_monitor_opts_init(&b, MLOPS_MONITOR_OPTS_VERSION);
    ck_assert_uint_eq(b.version, MLOPS_MONITOR_OPTS_VERSION);
    ck_assert_int_eq(b.task, MLOPS_MONITOR_BINARY);
    ck_assert_uint_eq(b.window, 1000);
    ck_assert(b.threshold == 0.5 && b.tolerance == 0.1 && b.log_loss_eps == DBL_EPSILON);
    ck_assert(a.window == b.window && a.pending_capacity == b.pending_capacity &&
              a.pending_ttl == b.pending_ttl);

    mlops_monitor *m = (mlops_monitor *)0x1;
    mlops_monitor_opts o = a;
    o.window = 0;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_EINVAL);
    ck_assert_ptr_eq(m, (mlops_monitor *)0x1);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "window"));
    o = a;
    o.task = MLOPS_MONITOR_MULTICLASS;
    o.n_classes = 1;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "n_classes"));
    o = a;
    o.threshold = NAN;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_EINVAL);
    o = a;
    o.tolerance = -1;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_EINVAL);
    o = a;
    o.pending_ttl = INFINITY;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_EINVAL);
    o = a;
    o.version = 99;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_EVERSION);
    o = a;
    o.task = (mlops_monitor_task)7;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_EINVAL);
    ck_assert_ptr_eq(m, (mlops_monitor *)0x1);
    ck_assert_int_eq(mlops_monitor_create(NULL, &m), MLOPS_OK);
    mlops_monitor_opts got;
    ck_assert_int_eq(mlops_monitor_get_opts(m, &got), MLOPS_OK);
    ck_assert_uint_eq(got.window, 1000);
    mlops_monitor_metrics bad;
    bad.version = 0;
    ck_assert_int_eq(mlops_monitor_compute_metrics(m, &bad), MLOPS_EVERSION);
    mlops_monitor_free(m);
    mlops_monitor_free(NULL);
    ck_assert_str_eq(mlops_metric_name(MLOPS_METRIC_ROC_AUC), "roc_auc");
    ck_assert_ptr_null(mlops_metric_name(MLOPS_METRIC_N));
}
END_TEST

START_TEST(empty_window_is_nan_with_mask) {
    mlops_monitor *m;
    ck_assert_int_eq(mlops_monitor_create(NULL, &m), MLOPS_OK);
    mlops_monitor_metrics r = get_metrics(m);
    ck_assert_uint_eq(r.count, 0);
    ck_assert(r.has & (1ull << MLOPS_METRIC_ACCURACY));
    ck_assert(!(r.has & (1ull << MLOPS_METRIC_MSE)));
    ck_assert(isnan(r.accuracy) && isnan(r.roc_auc) && isnan(r.mse));
    mlops_monitor_free(m);
}
END_TEST

/* ------------------------------------------------------------ bad input */

typedef struct snapshot {
    mlops_monitor_metrics w, l;
    mlops_monitor_stats s;
} snapshot;

static snapshot snap(mlops_monitor *m) {
    snapshot x;
    x.w = get_metrics(m);
    x.l.version = MLOPS_MONITOR_METRICS_VERSION;
    ck_assert_int_eq(mlops_monitor_get_lifetime(m, &x.l), MLOPS_OK);
    x.s = get_stats(m);
    return x;
}

static void assert_unchanged(mlops_monitor *m, const snapshot *before) {
    snapshot after = snap(m);
    assert_same_metrics(&before->w, &after.w);
    assert_same_metrics(&before->l, &after.l);
    assert_same_stats(&before->s, &after.s);
}

#define EXPECT_FAIL(call, status, needle)                                                                    \
    do {                                                                                                     \
        mlops_clear_error();                                                                                 \
        ck_assert_int_eq((call), (status));                                                                  \
        ck_assert_msg(strstr(mlops_last_error(), (needle)) != NULL, "message '%s' lacks '%s'",               \
                      mlops_last_error(), (needle));                                                         \
        assert_unchanged(m, &before);                                                                        \
    } while (0)

static mlops_monitor *seeded(mlops_monitor_task task, unsigned k) {
    mlops_monitor_opts o = MLOPS_MONITOR_OPTS_INIT;
    o.task = task;
    o.n_classes = k;
    o.window = 10;
    mlops_monitor *m;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_OK);
    for (int i = 0; i < 13; i++) {
        double p[4] = {0.1, 0.2, 0.3, 0.4};
        if (task == MLOPS_MONITOR_MULTICLASS)
            p[i % 4] = 0.9;
        else
            p[0] = task == MLOPS_MONITOR_BINARY ? (i % 10) / 10.0 : i * 1.5;
        double y = task == MLOPS_MONITOR_MULTICLASS ? (double)(i % k)
                   : task == MLOPS_MONITOR_BINARY   ? (double)(i % 3 == 0)
                                                    : i;
        ck_assert_int_eq(mlops_monitor_record(m, p, task == MLOPS_MONITOR_MULTICLASS ? k : 1, y), MLOPS_OK);
    }
    double p1[4] = {0.25, 0.25, 0.25, 0.25};
    ck_assert_int_eq(
        mlops_monitor_record_prediction_at(m, "pending-1", p1, task == MLOPS_MONITOR_MULTICLASS ? k : 1, 1.0),
        MLOPS_OK);
    return m;
}

START_TEST(bad_input_binary) {
    mlops_monitor *m = seeded(MLOPS_MONITOR_BINARY, 0);
    snapshot before = snap(m);
    double nan1 = NAN, inf1 = INFINITY, ok = 0.7, big = 1.5, neg = -0.1;
    EXPECT_FAIL(mlops_monitor_record(m, &nan1, 1, 1.0), MLOPS_EINVAL, "prediction");
    EXPECT_FAIL(mlops_monitor_record(m, &inf1, 1, 1.0), MLOPS_EINVAL, "prediction");
    EXPECT_FAIL(mlops_monitor_record(m, &ok, 1, NAN), MLOPS_EINVAL, "label");
    EXPECT_FAIL(mlops_monitor_record(m, &ok, 1, -INFINITY), MLOPS_EINVAL, "label");
    EXPECT_FAIL(mlops_monitor_record(m, &ok, 1, 2.0), MLOPS_ERANGE, "not 0 or 1");
    EXPECT_FAIL(mlops_monitor_record(m, &ok, 1, 0.5), MLOPS_ERANGE, "not 0 or 1");
    EXPECT_FAIL(mlops_monitor_record(m, &big, 1, 1.0), MLOPS_ERANGE, "probability");
    EXPECT_FAIL(mlops_monitor_record(m, &neg, 1, 1.0), MLOPS_ERANGE, "probability");
    double two[2] = {0.3, 0.7};
    EXPECT_FAIL(mlops_monitor_record(m, two, 2, 1.0), MLOPS_ESHAPE, "expected 1");
    EXPECT_FAIL(mlops_monitor_record(m, NULL, 1, 1.0), MLOPS_EINVAL, "NULL");
    /* A batch with one bad row in the middle records nothing and names the row. */
    double bp[5] = {0.1, 0.2, 0.3, 0.4, 0.5}, by[5] = {0, 1, 3, 0, 1};
    EXPECT_FAIL(mlops_monitor_record_batch(m, bp, 5, by, 5), MLOPS_ERANGE, "(row 3)"); /* rows from 1 */
    by[2] = 1;
    bp[4] = NAN;
    EXPECT_FAIL(mlops_monitor_record_batch(m, bp, 5, by, 5), MLOPS_EINVAL, "(row 5)");
    bp[4] = 0.5;
    EXPECT_FAIL(mlops_monitor_record_batch(m, bp, 4, by, 5), MLOPS_ESHAPE, "5 rows");
    EXPECT_FAIL(mlops_monitor_record_batch(m, NULL, 5, by, 5), MLOPS_EINVAL, "NULL");
    /* Request ids. */
    EXPECT_FAIL(mlops_monitor_record_prediction_at(m, "pending-1", &ok, 1, 2.0), MLOPS_EEXIST,
                "already pending");
    EXPECT_FAIL(mlops_monitor_record_label_at(m, "nobody", 1.0, 2.0), MLOPS_ENOTFOUND, "not pending");
    EXPECT_FAIL(mlops_monitor_record_label_at(m, "pending-1", 3.0, 2.0), MLOPS_ERANGE, "not 0 or 1");
    EXPECT_FAIL(mlops_monitor_record_label_at(m, "pending-1", NAN, 2.0), MLOPS_EINVAL, "label");
    EXPECT_FAIL(mlops_monitor_record_prediction_at(m, "", &ok, 1, 2.0), MLOPS_EINVAL, "empty");
    EXPECT_FAIL(mlops_monitor_record_prediction_at(m, NULL, &ok, 1, 2.0), MLOPS_EINVAL, "NULL");
    EXPECT_FAIL(mlops_monitor_record_prediction_at(m, "x", &nan1, 1, 2.0), MLOPS_EINVAL, "prediction");
    EXPECT_FAIL(mlops_monitor_record_prediction_at(m, "x", &ok, 1, NAN), MLOPS_EINVAL, "time");
    char longid[1100];
    memset(longid, 'a', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    EXPECT_FAIL(mlops_monitor_record_prediction_at(m, longid, &ok, 1, 2.0), MLOPS_EINVAL, "longer");
    /* Alert rules. */
    mlops_alert_rule r = MLOPS_ALERT_RULE_INIT;
    r.metric = MLOPS_METRIC_MSE;
    EXPECT_FAIL(mlops_monitor_set_alert(m, &r), MLOPS_EINVAL, "does not apply");
    r.metric = MLOPS_METRIC_ACCURACY;
    r.trigger = 0.85;
    r.clear = 0.80;
    EXPECT_FAIL(mlops_monitor_set_alert(m, &r), MLOPS_EINVAL, "wrong side");
    r.clear = 0.87;
    r.trigger = NAN;
    EXPECT_FAIL(mlops_monitor_set_alert(m, &r), MLOPS_EINVAL, "finite");
    EXPECT_FAIL(mlops_monitor_remove_alert(m, MLOPS_METRIC_F1), MLOPS_ENOTFOUND, "no alert rule");
    /* The pending prediction is still there and can be labeled. */
    ck_assert_int_eq(mlops_monitor_record_label_at(m, "pending-1", 1.0, 2.0), MLOPS_OK);
    ck_assert_int_eq(mlops_monitor_record_label_at(m, "pending-1", 1.0, 2.0),
                     MLOPS_ENOTFOUND); /* already labeled */
    mlops_monitor_free(m);
}
END_TEST

START_TEST(bad_input_multiclass) {
    mlops_monitor *m = seeded(MLOPS_MONITOR_MULTICLASS, 4);
    snapshot before = snap(m);
    double p[4] = {0.1, 0.2, 0.3, 0.4};
    EXPECT_FAIL(mlops_monitor_record(m, p, 4, 4.0), MLOPS_ERANGE, "not an index");
    EXPECT_FAIL(mlops_monitor_record(m, p, 4, -1.0), MLOPS_ERANGE, "not an index");
    EXPECT_FAIL(mlops_monitor_record(m, p, 4, 1.5), MLOPS_ERANGE, "not an index");
    EXPECT_FAIL(mlops_monitor_record(m, p, 3, 1.0), MLOPS_ESHAPE, "expected 4");
    EXPECT_FAIL(mlops_monitor_record(m, p, 5, 1.0), MLOPS_ESHAPE, "expected 4");
    p[2] = NAN;
    EXPECT_FAIL(mlops_monitor_record(m, p, 4, 1.0), MLOPS_EINVAL, "probability 2");
    p[2] = 1.3;
    EXPECT_FAIL(mlops_monitor_record(m, p, 4, 1.0), MLOPS_ERANGE, "probability 2");
    p[2] = 0.3;
    EXPECT_FAIL(mlops_monitor_record_batch(m, p, 3, (double[]){1.0}, 1), MLOPS_ESHAPE, "prediction values");
    EXPECT_FAIL(mlops_monitor_record_label_at(m, "pending-1", 9.0, 2.0), MLOPS_ERANGE, "not an index");
    EXPECT_FAIL(mlops_monitor_record_prediction_at(m, "x", p, 3, 2.0), MLOPS_ESHAPE, "expected 4");
    mlops_monitor_free(m);
}
END_TEST

START_TEST(bad_input_regression) {
    mlops_monitor *m = seeded(MLOPS_MONITOR_REGRESSION, 0);
    snapshot before = snap(m);
    double p = 1.0, huge = 1e300;
    EXPECT_FAIL(mlops_monitor_record(m, &p, 1, NAN), MLOPS_EINVAL, "label");
    EXPECT_FAIL(mlops_monitor_record(m, &p, 1, INFINITY), MLOPS_EINVAL, "label");
    EXPECT_FAIL(mlops_monitor_record(m, &huge, 1, -1e300), MLOPS_ERANGE, "overflows");
    mlops_alert_rule r = MLOPS_ALERT_RULE_INIT; /* accuracy does not apply to regression */
    r.trigger = 0.5;
    r.clear = 0.6;
    EXPECT_FAIL(mlops_monitor_set_alert(m, &r), MLOPS_EINVAL, "does not apply");
    mlops_monitor_free(m);
}
END_TEST

/* -------------------------------------------------------------- pending */

START_TEST(pending_ttl_and_capacity) {
    mlops_monitor_opts o = MLOPS_MONITOR_OPTS_INIT;
    o.pending_capacity = 3;
    o.pending_ttl = 10.0;
    mlops_monitor *m;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_OK);
    double p = 0.9;
    ck_assert_int_eq(mlops_monitor_record_prediction_at(m, "a", &p, 1, 100.0), MLOPS_OK);
    ck_assert_int_eq(mlops_monitor_record_prediction_at(m, "b", &p, 1, 101.0), MLOPS_OK);
    ck_assert_int_eq(mlops_monitor_record_prediction_at(m, "c", &p, 1, 102.0), MLOPS_OK);
    ck_assert_int_eq(mlops_monitor_record_prediction_at(m, "d", &p, 1, 103.0), MLOPS_OK); /* evicts a */
    mlops_monitor_stats s = get_stats(m);
    ck_assert_uint_eq(s.pending, 3);
    ck_assert_uint_eq(s.evicted_capacity, 1);
    ck_assert_int_eq(mlops_monitor_record_label_at(m, "a", 1.0, 103.0), MLOPS_ENOTFOUND);
    ck_assert_int_eq(mlops_monitor_record_label_at(m, "b", 1.0, 104.0), MLOPS_OK);
    /* A time in the past counts as the latest seen. */
    ck_assert_int_eq(mlops_monitor_record_label_at(m, "c", 0.0, 50.0), MLOPS_OK);
    size_t ev = 99;
    ck_assert_int_eq(mlops_monitor_expire_at(m, 112.9, &ev), MLOPS_OK);
    ck_assert_uint_eq(ev, 0);
    ck_assert_int_eq(mlops_monitor_expire_at(m, 113.0, &ev), MLOPS_OK); /* d recorded at 103, ttl 10 */
    ck_assert_uint_eq(ev, 1);
    s = get_stats(m);
    ck_assert_uint_eq(s.pending, 0);
    ck_assert_uint_eq(s.evicted_ttl, 1);
    ck_assert_uint_eq(s.matched, 2);
    ck_assert_uint_eq(s.window_count, 2);
    /* Expiry also happens on record_label: e is gone by 200. */
    ck_assert_int_eq(mlops_monitor_record_prediction_at(m, "e", &p, 1, 150.0), MLOPS_OK);
    ck_assert_int_eq(mlops_monitor_record_label_at(m, "e", 1.0, 200.0), MLOPS_ENOTFOUND);
    ck_assert_uint_eq(get_stats(m).evicted_ttl, 2);
    /* The monotonic clock variant works end to end. */
    ck_assert_int_eq(mlops_monitor_record_prediction(m, "f", &p, 1), MLOPS_OK);
    ck_assert_int_eq(mlops_monitor_record_label(m, "f", 1.0), MLOPS_OK);
    mlops_monitor_free(m);

    o.pending_capacity = 0;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_OK);
    ck_assert_int_eq(mlops_monitor_record_prediction_at(m, "a", &p, 1, 1.0), MLOPS_ENOTSUP);
    mlops_monitor_free(m);
}
END_TEST

START_TEST(pending_many_ids) {
    mlops_monitor_opts o = MLOPS_MONITOR_OPTS_INIT;
    o.pending_capacity = 5000;
    o.pending_ttl = 0; /* never expire */
    mlops_monitor *m;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_OK);
    char id[32];
    for (int i = 0; i < 20000; i++) {
        double p = (i % 7) / 7.0;
        snprintf(id, sizeof id, "r%d", i);
        ck_assert_int_eq(mlops_monitor_record_prediction_at(m, id, &p, 1, i * 1e6), MLOPS_OK);
        if (i % 3 == 0) ck_assert_int_eq(mlops_monitor_record_label_at(m, id, 1.0, i * 1e6), MLOPS_OK);
    }
    mlops_monitor_stats s = get_stats(m);
    ck_assert_uint_eq(s.pending, 5000);
    ck_assert_uint_eq(s.matched, 6667);
    ck_assert_uint_eq(s.evicted_capacity, 20000 - 6667 - 5000);
    ck_assert_uint_eq(s.evicted_ttl, 0);
    /* The newest unlabeled ones are still there. */
    ck_assert_int_eq(mlops_monitor_record_label_at(m, "r19999", 0.0, 0), MLOPS_OK);
    ck_assert_int_eq(mlops_monitor_record_label_at(m, "r1", 0.0, 0), MLOPS_ENOTFOUND);
    mlops_monitor_free(m);
}
END_TEST

/* --------------------------------------------------------------- alerts */

typedef struct cb_log {
    int fired, cleared;
    double last_value;
    mlops_metric last_metric;
    int reentered;
} cb_log;

static void on_alert(mlops_monitor *m, const mlops_alert_event *e, void *user) {
    cb_log *l = user;
    if (e->firing)
        l->fired++;
    else
        l->cleared++;
    l->last_value = e->value;
    l->last_metric = e->metric;
    /* Runs outside the lock: calling back into the monitor must not deadlock. */
    mlops_monitor_stats s;
    s.version = MLOPS_MONITOR_STATS_VERSION;
    if (mlops_monitor_get_stats(m, &s) == MLOPS_OK) l->reentered++;
}

START_TEST(alerts_hysteresis_and_callback) {
    mlops_monitor_opts o = MLOPS_MONITOR_OPTS_INIT;
    o.window = 100;
    mlops_monitor *m;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_OK);
    mlops_alert_rule r = MLOPS_ALERT_RULE_INIT;
    r.metric = MLOPS_METRIC_ACCURACY;
    r.direction = MLOPS_ALERT_BELOW;
    r.trigger = 0.85;
    r.clear = 0.87;
    r.min_count = 100;
    ck_assert_int_eq(mlops_monitor_set_alert(m, &r), MLOPS_OK);
    cb_log log = {0, 0, 0, 0, 0};
    ck_assert_int_eq(mlops_monitor_set_alert_callback(m, on_alert, &log), MLOPS_OK);
    int firing = -1;
    ck_assert_int_eq(mlops_monitor_alert_state(m, MLOPS_METRIC_ACCURACY, &firing), MLOPS_OK);
    ck_assert_int_eq(firing, 0);
    ck_assert_int_eq(mlops_monitor_alert_state(m, MLOPS_METRIC_F1, &firing), MLOPS_ENOTFOUND);
    double good = 0.9, bad = 0.1;
    /* 100 correct: accuracy 1. Then wrong ones: accuracy falls 0.99, 0.98, ... */
    for (int i = 0; i < 100; i++)
        mlops_monitor_record(m, &good, 1, 1.0);
    ck_assert_int_eq(log.fired, 0);
    int i = 0;
    while (log.fired == 0 && i < 100)
        mlops_monitor_record(m, &bad, 1, 1.0), i++;
    ck_assert_int_eq(i, 16); /* accuracy 0.84 < 0.85 after 16 wrong */
    ck_assert(fabs(log.last_value - 0.84) < 1e-12);
    ck_assert_int_eq(mlops_monitor_alert_state(m, MLOPS_METRIC_ACCURACY, &firing), MLOPS_OK);
    ck_assert_int_eq(firing, 1);
    /* Back up to 0.86: inside the hysteresis band, still firing. Correct ones replace correct ones
     * first (the oldest records are the 84 correct), so push wrong-free records until the 16 wrong leave. */
    for (int k = 0; k < 84; k++)
        mlops_monitor_record(m, &good, 1, 1.0); /* window: 16 wrong, 84 correct */
    ck_assert_int_eq(log.cleared, 0);
    int j = 0;
    while (log.cleared == 0 && j < 100)
        mlops_monitor_record(m, &good, 1, 1.0), j++;
    ck_assert_int_eq(j, 4); /* wrong count 12 -> accuracy 0.88 > 0.87 */
    ck_assert_int_eq(log.fired, 1);
    ck_assert_int_eq(log.reentered, 2);
    ck_assert_int_eq(mlops_monitor_alert_state(m, MLOPS_METRIC_ACCURACY, &firing), MLOPS_OK);
    ck_assert_int_eq(firing, 0);

    /* ROC AUC alerts are evaluated in get_metrics. */
    r.metric = MLOPS_METRIC_ROC_AUC;
    r.trigger = 0.9;
    r.clear = 0.95;
    r.min_count = 1;
    ck_assert_int_eq(mlops_monitor_set_alert(m, &r), MLOPS_OK);
    mlops_monitor_record(m, &bad, 1, 0.0);
    mlops_monitor_record(m, &good, 1, 0.0);
    mlops_monitor_metrics x = get_metrics(m);
    ck_assert(x.roc_auc < 0.9);
    ck_assert_int_eq(log.fired, 2);
    ck_assert_int_eq(log.last_metric, MLOPS_METRIC_ROC_AUC);
    ck_assert_int_eq(mlops_monitor_remove_alert(m, MLOPS_METRIC_ROC_AUC), MLOPS_OK);
    ck_assert_int_eq(mlops_monitor_alert_state(m, MLOPS_METRIC_ROC_AUC, &firing), MLOPS_ENOTFOUND);
    mlops_monitor_free(m);
}
END_TEST

/* Issue 28 item 3: a callback replacing itself while a record fires two alerts. Rule (monitor.h):
 * once set_alert_callback returned, the replaced callback is never called again; the remaining
 * events go to the replacement. The callbacks also re-enter every kind of monitor call. */
typedef struct {
    int calls_a, calls_b;
    mlops_metric a_metric, b_metric;
    int replace_with_b; /* a replaces itself with b (1) or with NULL (0) */
    int reentered_ok;
} swap_log;

static void swap_b(mlops_monitor *m, const mlops_alert_event *e, void *user) {
    (void)m;
    swap_log *l = user;
    l->calls_b++;
    l->b_metric = e->metric;
}

static void swap_a(mlops_monitor *m, const mlops_alert_event *e, void *user) {
    swap_log *l = user;
    l->calls_a++;
    l->a_metric = e->metric;
    ck_assert_int_eq(mlops_monitor_set_alert_callback(m, l->replace_with_b ? swap_b : NULL, l), MLOPS_OK);
    /* Re-enter: queries, a record (no new alert change), a rule change. */
    mlops_monitor_stats s;
    s.version = MLOPS_MONITOR_STATS_VERSION;
    mlops_monitor_metrics x;
    x.version = MLOPS_MONITOR_METRICS_VERSION;
    int firing = 0;
    double p = 6.0;
    mlops_alert_rule r = MLOPS_ALERT_RULE_INIT;
    r.metric = MLOPS_METRIC_MSE;
    r.direction = MLOPS_ALERT_ABOVE;
    r.trigger = 1e9;
    r.clear = 1e8;
    l->reentered_ok =
        mlops_monitor_get_stats(m, &s) == MLOPS_OK && mlops_monitor_compute_metrics(m, &x) == MLOPS_OK &&
        mlops_monitor_alert_state(m, MLOPS_METRIC_MAE, &firing) == MLOPS_OK &&
        mlops_monitor_record(m, &p, 1, 0.0) == MLOPS_OK && mlops_monitor_set_alert(m, &r) == MLOPS_OK &&
        mlops_monitor_remove_alert(m, MLOPS_METRIC_MSE) == MLOPS_OK;
}

static mlops_monitor *two_rule_monitor(void) {
    mlops_monitor_opts o = MLOPS_MONITOR_OPTS_INIT;
    o.task = MLOPS_MONITOR_REGRESSION;
    o.window = 8;
    mlops_monitor *m;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_OK);
    mlops_alert_rule r = MLOPS_ALERT_RULE_INIT;
    r.direction = MLOPS_ALERT_ABOVE;
    r.trigger = 1.0;
    r.clear = 0.5;
    r.metric = MLOPS_METRIC_MAE;
    ck_assert_int_eq(mlops_monitor_set_alert(m, &r), MLOPS_OK);
    r.metric = MLOPS_METRIC_RMSE;
    ck_assert_int_eq(mlops_monitor_set_alert(m, &r), MLOPS_OK);
    return m;
}

START_TEST(alert_callback_replaced_from_inside) {
    double p = 5.0; /* |error| 5: MAE and RMSE both cross 1.0 on this one record */
    for (int with_b = 0; with_b < 2; with_b++) {
        mlops_monitor *m = two_rule_monitor();
        swap_log l = {0, 0, MLOPS_METRIC_COUNT, MLOPS_METRIC_COUNT, with_b, 0};
        ck_assert_int_eq(mlops_monitor_set_alert_callback(m, swap_a, &l), MLOPS_OK);
        ck_assert_int_eq(mlops_monitor_record(m, &p, 1, 0.0), MLOPS_OK);
        ck_assert_int_eq(l.calls_a, 1);
        ck_assert_int_eq(l.calls_b, with_b ? 1 : 0);
        if (with_b) /* the other event */
            ck_assert(l.a_metric + l.b_metric == MLOPS_METRIC_MAE + MLOPS_METRIC_RMSE &&
                      l.a_metric != l.b_metric);
        ck_assert(l.reentered_ok);
        int firing = 0;
        ck_assert_int_eq(mlops_monitor_alert_state(m, MLOPS_METRIC_RMSE, &firing), MLOPS_OK);
        ck_assert_int_eq(firing, 1);
        mlops_monitor_free(m);
    }
}
END_TEST

START_TEST(alerts_above_direction) {
    mlops_monitor_opts o = MLOPS_MONITOR_OPTS_INIT;
    o.task = MLOPS_MONITOR_REGRESSION;
    o.window = 4;
    mlops_monitor *m;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_OK);
    mlops_alert_rule r = MLOPS_ALERT_RULE_INIT;
    r.metric = MLOPS_METRIC_MAE;
    r.direction = MLOPS_ALERT_ABOVE;
    r.trigger = 1.0;
    r.clear = 0.5;
    ck_assert_int_eq(mlops_monitor_set_alert(m, &r), MLOPS_OK);
    int firing;
    double p = 0.0;
    for (int i = 0; i < 4; i++)
        mlops_monitor_record(m, &p, 1, 0.0);
    mlops_monitor_record(m, &p, 1, 5.0); /* mae 1.25 */
    mlops_monitor_alert_state(m, MLOPS_METRIC_MAE, &firing);
    ck_assert_int_eq(firing, 1);
    mlops_monitor_record(m, &p, 1, 0.0);
    mlops_monitor_record(m, &p, 1, 0.0);
    mlops_monitor_record(m, &p, 1, 0.0); /* still 1.25: the 5 is in the window */
    mlops_monitor_alert_state(m, MLOPS_METRIC_MAE, &firing);
    ck_assert_int_eq(firing, 1);
    mlops_monitor_record(m, &p, 1, 2.8); /* mae 0.7: in the band */
    mlops_monitor_alert_state(m, MLOPS_METRIC_MAE, &firing);
    ck_assert_int_eq(firing, 1);
    mlops_monitor_record(m, &p, 1, 0.0);
    mlops_monitor_record(m, &p, 1, 0.0);
    mlops_monitor_record(m, &p, 1, 0.0);
    mlops_monitor_record(m, &p, 1, 0.0); /* mae 0 < 0.5 */
    mlops_monitor_alert_state(m, MLOPS_METRIC_MAE, &firing);
    ck_assert_int_eq(firing, 0);
    mlops_monitor_free(m);
}
END_TEST

/* ----------------------------------------------------------- save/load */

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len + 1);
    ck_assert_uint_eq(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

START_TEST(save_load_round_trip) {
    mlops_monitor *m = seeded(MLOPS_MONITOR_MULTICLASS, 4);
    mlops_alert_rule r = MLOPS_ALERT_RULE_INIT;
    r.metric = MLOPS_METRIC_ACCURACY;
    r.trigger = 0.99;
    r.clear = 0.995;
    ck_assert_int_eq(mlops_monitor_set_alert(m, &r), MLOPS_OK);
    double p[4] = {0.7, 0.1, 0.1, 0.1};
    ck_assert_int_eq(mlops_monitor_record(m, p, 4, 3.0), MLOPS_OK); /* fires */
    ck_assert_int_eq(mlops_monitor_record_prediction_at(m, "late", p, 4, 5.0), MLOPS_OK);
    const char *path = tmp_path("state.bin");
    ck_assert_int_eq(mlops_monitor_save(m, path), MLOPS_OK);
    snapshot before = snap(m);
    mlops_monitor *n = NULL;
    ck_assert_int_eq(mlops_monitor_load(path, &n), MLOPS_OK);
    snapshot after = snap(n);
    assert_same_metrics(&before.w, &after.w);
    assert_same_metrics(&before.l, &after.l);
    assert_same_stats(&before.s, &after.s);
    int firing = 0;
    ck_assert_int_eq(mlops_monitor_alert_state(n, MLOPS_METRIC_ACCURACY, &firing), MLOPS_OK);
    ck_assert_int_eq(firing, 1);
    mlops_monitor_opts oo;
    mlops_monitor_get_opts(n, &oo);
    ck_assert_uint_eq(oo.n_classes, 4);
    ck_assert_uint_eq(oo.window, 10);
    /* Pending predictions survive with their age: "pending-1" (t=1) and "late" (t=5); the TTL is 3600 s. */
    ck_assert_int_eq(mlops_monitor_record_label_at(n, "late", 0.0, 1000.0), MLOPS_OK);
    ck_assert_int_eq(mlops_monitor_record_label_at(m, "late", 0.0, 1000.0), MLOPS_OK);
    snapshot sm = snap(m), sn = snap(n);
    assert_same_metrics(&sm.w, &sn.w);
    /* pending-1 was 4 s older than "late" at save time (last time seen 5): it expires 3596 s after the
     * rebase. */
    size_t ev = 0;
    ck_assert_int_eq(mlops_monitor_expire_at(n, 1000.0 + 3595.5, &ev), MLOPS_OK);
    ck_assert_uint_eq(ev, 0);
    ck_assert_int_eq(mlops_monitor_expire_at(n, 1000.0 + 3596.0, &ev), MLOPS_OK);
    ck_assert_uint_eq(ev, 1);
    /* Saving over an existing file leaves no temporary file behind. */
    ck_assert_int_eq(mlops_monitor_save(n, path), MLOPS_OK);
    ck_assert_uint_eq(test_dir_entries(tmpdir), 1);
    mlops_monitor_free(n);
    mlops_monitor_free(m);
}
END_TEST

START_TEST(save_load_all_tasks_continue_identically) {
    for (int t = 0; t < 3; t++) {
        mlops_monitor *m = seeded((mlops_monitor_task)t, t == MLOPS_MONITOR_MULTICLASS ? 3 : 0);
        const char *path = tmp_path("s.bin");
        ck_assert_int_eq(mlops_monitor_save(m, path), MLOPS_OK);
        mlops_monitor *n;
        ck_assert_int_eq(mlops_monitor_load(path, &n), MLOPS_OK);
        for (int i = 0; i < 25; i++) { /* both continue identically after the reload */
            double p[3] = {0.2, 0.3, 0.5};
            if (t != MLOPS_MONITOR_MULTICLASS) p[0] = t == MLOPS_MONITOR_BINARY ? (i % 5) / 5.0 : i * 0.25;
            double y = t == MLOPS_MONITOR_MULTICLASS ? i % 3 : t == MLOPS_MONITOR_BINARY ? i % 2 : i * 0.3;
            size_t w = t == MLOPS_MONITOR_MULTICLASS ? 3 : 1;
            ck_assert_int_eq(mlops_monitor_record(m, p, w, y), 0);
            ck_assert_int_eq(mlops_monitor_record(n, p, w, y), 0);
            snapshot a = snap(m), b = snap(n);
            for (int k = 0; k < MLOPS_METRIC_N; k++)
                ck_assert(close_enough(mlops_monitor_metrics_value(&a.w, (mlops_metric)k),
                                       mlops_monitor_metrics_value(&b.w, (mlops_metric)k)));
            assert_same_metrics(&a.l, &b.l);
        }
        mlops_monitor_free(n);
        mlops_monitor_free(m);
    }
}
END_TEST

static long rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

/* The largest window and pending store the options allow cost memory for what they hold: the
 * ring and the store grow as records arrive, and a state file claiming these limits allocates
 * what it holds (a 600-byte file once made the loader reserve gigabytes: found by fuzzing). */
START_TEST(largest_limits_cost_what_is_held) {
    mlops_monitor_opts o = MLOPS_MONITOR_OPTS_INIT;
    o.window = (size_t)1 << 32;
    o.pending_capacity = ((size_t)1 << 30) - 1;
    o.pending_ttl = 0;
    long before = rss_kb();
    mlops_monitor *m;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_OK);
    char id[32];
    for (int i = 0; i < 3000; i++) {
        double p = (i % 10) / 10.0;
        snprintf(id, sizeof id, "q%d", i);
        ck_assert_int_eq(mlops_monitor_record_prediction_at(m, id, &p, 1, i), MLOPS_OK);
        if (i % 2) ck_assert_int_eq(mlops_monitor_record_label_at(m, id, i % 4 == 1, i), MLOPS_OK);
    }
    const char *path = tmp_path("largest.bin");
    ck_assert_int_eq(mlops_monitor_save(m, path), MLOPS_OK);
    mlops_monitor *back = NULL;
    ck_assert_int_eq(mlops_monitor_load(path, &back), MLOPS_OK);
    mlops_monitor_stats a = get_stats(m), b = get_stats(back);
    ck_assert_uint_eq(b.window_count, 1500);
    ck_assert_uint_eq(b.pending, 1500);
    ck_assert_uint_eq(a.matched, b.matched);
    ck_assert_int_eq(mlops_monitor_record_label_at(back, "q2998", 1.0, 3000), MLOPS_OK);
    long grew = rss_kb() - before;
    ck_assert_msg(grew < 64 * 1024, "RSS grew %ld kB", grew);
    mlops_monitor_free(back);
    mlops_monitor_free(m);
}
END_TEST

START_TEST(bad_state_files) {
    mlops_monitor *m = seeded(MLOPS_MONITOR_BINARY, 0);
    const char *good = tmp_path("good.bin");
    ck_assert_int_eq(mlops_monitor_save(m, good), MLOPS_OK);
    size_t len;
    unsigned char *bytes = read_bytes(good, &len);
    /* Change the live monitor so a restore would be visible. */
    double p = 0.99;
    ck_assert_int_eq(mlops_monitor_record(m, &p, 1, 0.0), MLOPS_OK);
    snapshot before = snap(m);
    const char *bad = tmp_path("bad.bin");
    mlops_monitor *out = (mlops_monitor *)0x1;
    /* Every truncation: EFORMAT, nothing created, nothing changed. */
    for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 7)) {
        write_bytes(bad, bytes, cut);
        ck_assert_int_eq(mlops_monitor_load(bad, &out), MLOPS_EFORMAT);
        ck_assert_ptr_eq(out, (mlops_monitor *)0x1);
        EXPECT_FAIL(mlops_monitor_restore(m, bad), MLOPS_EFORMAT, "bad.bin");
    }
    /* Foreign file. */
    write_bytes(bad, "{\"not\": \"a monitor\"}\n", 21);
    EXPECT_FAIL(mlops_monitor_restore(m, bad), MLOPS_EFORMAT, "not a libmlops monitor state");
    /* One flipped bit in the payload: checksum. */
    unsigned char *flip = malloc(len);
    memcpy(flip, bytes, len);
    flip[len / 2] ^= 0x10;
    write_bytes(bad, flip, len);
    EXPECT_FAIL(mlops_monitor_restore(m, bad), MLOPS_EINTEGRITY, "checksum");
    /* A newer format version. */
    memcpy(flip, bytes, len);
    flip[8] = 99;
    write_bytes(bad, flip, len);
    EXPECT_FAIL(mlops_monitor_restore(m, bad), MLOPS_EVERSION, "version");
    /* Trailing garbage. */
    unsigned char *longer = malloc(len + 3);
    memcpy(longer, bytes, len);
    memcpy(longer + len, "xyz", 3);
    write_bytes(bad, longer, len + 3);
    EXPECT_FAIL(mlops_monitor_restore(m, bad), MLOPS_EFORMAT, "truncated or padded");
    /* Missing file. */
    EXPECT_FAIL(mlops_monitor_restore(m, tmp_path("missing.bin")), MLOPS_EIO, "missing.bin");
    /* A state of another task cannot replace this monitor's. */
    mlops_monitor *reg = seeded(MLOPS_MONITOR_REGRESSION, 0);
    ck_assert_int_eq(mlops_monitor_save(reg, bad), MLOPS_OK);
    EXPECT_FAIL(mlops_monitor_restore(m, bad), MLOPS_ESTATE, "differ");
    mlops_monitor_free(reg);
    /* And the good file restores. */
    ck_assert_int_eq(mlops_monitor_restore(m, good), MLOPS_OK);
    ck_assert_uint_eq(get_stats(m).recorded, before.s.recorded - 1);
    free(flip);
    free(longer);
    free(bytes);
    mlops_monitor_free(m);
}
END_TEST

/* ---------------------------------------------------------- concurrency */

#define THREADS 4
#define PER_THREAD 40000

typedef struct worker {
    mlops_monitor *m;
    int id;
    int failures;
} worker;

static void *record_worker(void *arg) {
    worker *w = arg;
    char id[32];
    for (int i = 0; i < PER_THREAD; i++) {
        double p = ((i * 7 + w->id) % 10) / 10.0, y = (double)((i + w->id) % 2);
        if (i % 4 == 0) {
            snprintf(id, sizeof id, "t%d-%d", w->id, i);
            if (mlops_monitor_record_prediction(w->m, id, &p, 1) != MLOPS_OK) w->failures++;
            if (mlops_monitor_record_label(w->m, id, y) != MLOPS_OK) w->failures++;
        } else if (i % 4 == 1) {
            double ps[2] = {p, p}, ys[2] = {y, y};
            if (mlops_monitor_record_batch(w->m, ps, 2, ys, 2) != MLOPS_OK) w->failures++;
            i++;
        } else if (mlops_monitor_record(w->m, &p, 1, y) != MLOPS_OK) {
            w->failures++;
        }
        if (i % 5000 == 0) {
            mlops_monitor_metrics x;
            x.version = MLOPS_MONITOR_METRICS_VERSION;
            if (mlops_monitor_compute_metrics(w->m, &x) != MLOPS_OK) w->failures++;
        }
    }
    return NULL;
}

static int alert_events;
static void count_alert(mlops_monitor *m, const mlops_alert_event *e, void *user) {
    (void)m;
    (void)e;
    __atomic_add_fetch((int *)user, 1, __ATOMIC_RELAXED);
}

START_TEST(concurrent_recording) {
    mlops_monitor_opts o = MLOPS_MONITOR_OPTS_INIT;
    o.window = 500;
    mlops_monitor *m;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_OK);
    mlops_alert_rule r = MLOPS_ALERT_RULE_INIT;
    r.trigger = 0.5;
    r.clear = 0.5;
    ck_assert_int_eq(mlops_monitor_set_alert(m, &r), MLOPS_OK);
    alert_events = 0;
    ck_assert_int_eq(mlops_monitor_set_alert_callback(m, count_alert, &alert_events), MLOPS_OK);
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker){m, t, 0};
        ck_assert_int_eq(pthread_create(&th[t], NULL, record_worker, &w[t]), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(w[t].failures, 0);
    }
    mlops_monitor_stats s = get_stats(m);
    ck_assert_uint_eq(s.recorded, THREADS * PER_THREAD);
    ck_assert_uint_eq(s.matched, THREADS * PER_THREAD / 4);
    ck_assert_uint_eq(s.pending, 0);
    /* Lifetime accuracy is order-independent: compare with a count over the same data. */
    uint64_t correct = 0;
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++) {
            double p = ((i * 7 + t) % 10) / 10.0, y = (double)((i + t) % 2);
            if (i % 4 == 1) { /* the batch records row i twice and skips i + 1 */
                correct += 2 * ((p >= 0.5) == (y == 1.0));
                i++;
                continue;
            }
            correct += (p >= 0.5) == (y == 1.0);
        }
    mlops_monitor_metrics l;
    l.version = MLOPS_MONITOR_METRICS_VERSION;
    ck_assert_int_eq(mlops_monitor_get_lifetime(m, &l), MLOPS_OK);
    ck_assert_uint_eq(l.count, THREADS * PER_THREAD);
    ck_assert(l.accuracy == (double)correct / (THREADS * PER_THREAD));
    mlops_monitor_free(m);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("monitor");
    TCase *t = tcase_create("metrics");
    tcase_set_timeout(t, 240);
    tcase_add_test(t, fixtures_match_sklearn);
    tcase_add_loop_test(t, fixtures_match_sklearn, 1, 3);
    tcase_add_test(t, long_stream_without_periodic_rebuild);
    tcase_add_test(t, long_stream_with_rebuilds);
    tcase_add_test(t, long_stream_binary);
    tcase_add_test(t, options_defaults_and_validation);
    tcase_add_test(t, empty_window_is_nan_with_mask);
    suite_add_tcase(s, t);
    TCase *b = tcase_create("bad_input");
    tcase_add_test(b, bad_input_binary);
    tcase_add_test(b, bad_input_multiclass);
    tcase_add_test(b, bad_input_regression);
    suite_add_tcase(s, b);
    TCase *p = tcase_create("pending_alerts");
    tcase_add_test(p, pending_ttl_and_capacity);
    tcase_add_test(p, pending_many_ids);
    tcase_add_test(p, alerts_hysteresis_and_callback);
    tcase_add_test(p, alerts_above_direction);
    suite_add_tcase(s, p);
    TCase *f = tcase_create("state");
    tcase_add_checked_fixture(f, setup_tmp, teardown_tmp);
    tcase_add_test(f, save_load_round_trip);
    tcase_add_test(f, save_load_all_tasks_continue_identically);
    tcase_add_test(f, alert_callback_replaced_from_inside);
    tcase_add_test(f, bad_state_files);
    tcase_add_test(f, largest_limits_cost_what_is_held);
    suite_add_tcase(s, f);
    TCase *c = tcase_create("concurrency");
    tcase_set_timeout(c, 240);
    tcase_add_test(c, concurrent_recording);
    suite_add_tcase(s, c);
    return s;
}

int main(void) {
    int rc = test_run_suite(suite());
    if (fixtures) json_decref(fixtures);
    return rc;
}
