/* A/B experiments: PUT /admin/ab sets variants (registry versions with weights), DELETE /admin/ab
 * ends the experiment, GET /ab reports each variant and tests every treatment against the first
 * variant (the control) with the library's tests (mlops_ab_proportions_ztest).
 *
 * While an experiment runs, /predict goes through its mlops_router (sticky by the routing key)
 * instead of the deployment, and a prediction kept for a label (X-Request-Id) goes into the
 * monitor of the variant that served it, so each variant's accuracy is its own.
 *
 * Lifetime: the experiment is one immutable struct behind an atomic pointer. A request counts
 * itself in `users` and re-checks the pointer (a published experiment is then never freed under
 * it); replacing the experiment swaps the pointer and waits until the old one has no user. */
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve.h"

/* Latencies kept per variant for its percentiles: the last 4096 (32 KiB per variant). */
#define AB_LATENCY_WINDOW 4096

/* Count, mean and sum of squared deviations (Welford) of one variant's squared errors: the
 * monitor keeps their sum but not their variance, which Welch's t-test needs. `lock` also makes
 * "label, then read the monitor's lifetime sum" one step, so the difference is this label's. */
typedef struct sq_errors {
    pthread_mutex_t lock;
    uint64_t n;
    double mean, m2;
} sq_errors;

struct ab_set {
    mlops_router *router;
    size_t n;
    char names[MLOPS_ROUTER_MAX_VARIANTS][MLOPS_ROUTER_NAME_MAX];
    unsigned versions[MLOPS_ROUTER_MAX_VARIANTS];
    mlops_monitor *monitors[MLOPS_ROUTER_MAX_VARIANTS];
    mlops_router_latency_window *latency[MLOPS_ROUTER_MAX_VARIANTS]; /* for p50/p95/p99 in GET /ab */
    sq_errors sq[MLOPS_ROUTER_MAX_VARIANTS];                  /* for Welch's t-test (regression) */
    atomic_int users;
};

static void ab_free(ab_set *ab) {
    if (!ab) return;
    for (size_t i = 0; i < MLOPS_ROUTER_MAX_VARIANTS; i++) { /* also a half-built last variant */
        mlops_monitor_free(ab->monitors[i]);
        mlops_router_latency_window_free(ab->latency[i]);
        pthread_mutex_destroy(&ab->sq[i].lock);
    }
    mlops_router_free(ab->router);
    free(ab);
}

ab_set *serve_ab_enter(server *s) {
    for (;;) {
        ab_set *ab = atomic_load(&s->ab);
        if (!ab) return NULL;
        atomic_fetch_add(&ab->users, 1);
        if (atomic_load(&s->ab) == ab) return ab;
        atomic_fetch_sub(&ab->users, 1); /* replaced meanwhile: take the new one */
    }
}

void serve_ab_leave(ab_set *ab) {
    if (ab) atomic_fetch_sub(&ab->users, 1);
}

/* Publish `next` (may be NULL) and free the previous experiment once no request uses it. */
static void ab_replace(server *s, ab_set *next) {
    ab_set *old = atomic_exchange(&s->ab, next);
    if (!old) return;
    while (atomic_load(&old->users) > 0)
        sched_yield();
    ab_free(old);
}

mlops_status serve_ab_predict(server *s, ab_set *ab, const char *key, const float *x, size_t n_rows,
                              float *out, size_t out_len, size_t *variant) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    mlops_status st = mlops_router_predict(ab->router, key, key ? strlen(key) : 0, x, n_rows, s->n_feat, 0,
                                           out, out_len, variant);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    mlops_metrics_std_observe_predict(s->std, n_rows, seconds, st);
    if (st == MLOPS_OK) {
        const char *v[1] = {ab->names[*variant]};
        mlops_metrics_histogram_observe_labels(s->ab_duration, v, 1, seconds);
        mlops_router_latency_window_observe(ab->latency[*variant], seconds);
    }
    return st;
}

const char *serve_ab_name(const ab_set *ab, size_t variant) { return ab->names[variant]; }
mlops_status serve_ab_stats(server *s, ab_set *ab, size_t variant, mlops_variant_stats *vs) {
    (void)s;
    return variant < ab->n ? mlops_router_get_variant_stats(ab->router, variant, vs) : MLOPS_ERANGE;
}
unsigned serve_ab_version(const ab_set *ab, size_t variant) { return ab->versions[variant]; }
mlops_monitor *serve_ab_monitor(const ab_set *ab, size_t variant) { return ab->monitors[variant]; }

/* The monitor's lifetime sum of squared errors (0 before any label, NaN when the task has none). */
static double sse_of(mlops_monitor *m) {
    mlops_monitor_metrics life = {.version = MLOPS_MONITOR_METRICS_VERSION};
    if (mlops_monitor_get_lifetime(m, &life) != MLOPS_OK) return NAN;
    return life.count ? mlops_monitor_metrics_value(&life, MLOPS_METRIC_MSE) * (double)life.count : 0.0;
}

/* Label pending prediction `id` in variant i's monitor; on success add its squared error (the
 * growth of the monitor's lifetime sum) to the variant's moments. */
static mlops_status label_variant(ab_set *ab, size_t i, const char *id, double y) {
    sq_errors *q = &ab->sq[i];
    pthread_mutex_lock(&q->lock);
    double before = sse_of(ab->monitors[i]);
    mlops_status st = mlops_monitor_record_label(ab->monitors[i], id, y);
    double e = st == MLOPS_OK ? sse_of(ab->monitors[i]) - before : NAN;
    if (isfinite(e)) {
        double d = e - q->mean;
        q->n++;
        q->mean += d / (double)q->n;
        q->m2 += d * (e - q->mean);
    }
    pthread_mutex_unlock(&q->lock);
    return st;
}

mlops_status serve_ab_label(server *s, const char *id, double y) {
    ab_set *ab = serve_ab_enter(s);
    mlops_status st = MLOPS_ENOTFOUND;
    for (size_t i = 0; ab && st == MLOPS_ENOTFOUND && i < ab->n; i++)
        st = label_variant(ab, i, id, y);
    serve_ab_leave(ab);
    return st;
}

/* ---- PUT /admin/ab, DELETE /admin/ab ---- */

/* Build an experiment from {"variants": [{"name", "version", "weight"}, ...]}. */
static ab_set *ab_build(server *s, json_t *in, unsigned *code, char *why, size_t why_len) {
    json_t *vs = json_object_get(in, "variants");
    *code = MHD_HTTP_BAD_REQUEST;
    if (!json_is_array(vs) || json_array_size(vs) < 2 || json_array_size(vs) > MLOPS_ROUTER_MAX_VARIANTS) {
        snprintf(why, why_len,
                 "ab: expected {\"variants\": [{\"name\", \"version\", \"weight\"}, ...]} (2 or more)");
        return NULL;
    }
    ab_set *ab = calloc(1, sizeof *ab);
    for (size_t i = 0; ab && i < MLOPS_ROUTER_MAX_VARIANTS; i++)
        pthread_mutex_init(&ab->sq[i].lock, NULL);
    if (!ab || mlops_router_create(NULL, &ab->router) != MLOPS_OK) {
        free(ab);
        *code = MHD_HTTP_INTERNAL_SERVER_ERROR;
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    mlops_model_opts mo;
    mlops_model_opts_init(&mo, MLOPS_MODEL_OPTS_VERSION);
    mo.engine = s->engine;
    for (size_t i = 0; i < json_array_size(vs); i++) {
        json_t *v = json_array_get(vs, i);
        const char *name = json_string_value(json_object_get(v, "name"));
        json_t *ver = json_object_get(v, "version"), *w = json_object_get(v, "weight");
        if (!name || !json_is_integer(ver) || json_integer_value(ver) <= 0 ||
            json_integer_value(ver) > UINT32_MAX || !json_is_integer(w) || json_integer_value(w) < 0 ||
            json_integer_value(w) > UINT32_MAX) {
            snprintf(why, why_len, "ab: variant %zu needs a name, a version > 0 and a weight >= 0", i);
            ab_free(ab);
            return NULL;
        }
        mlops_model *m = NULL;
        uint32_t loaded = 0;
        mlops_status st = mlops_registry_load_model(s->registry, s->opts->reg_name,
                                                    (uint32_t)json_integer_value(ver), &mo, &m, &loaded);
        if (st == MLOPS_OK)
            st = mlops_router_add_variant(ab->router, name, m, (uint32_t)json_integer_value(w));
        if (st == MLOPS_OK && (mlops_router_n_features(ab->router) != s->n_feat ||
                               mlops_router_output_width(ab->router, 0) != s->width)) {
            st = MLOPS_ESHAPE;
            snprintf(why, why_len, "ab: version %u has other features or outputs than the served model",
                     loaded);
        } else if (st != MLOPS_OK) {
            snprintf(why, why_len, "ab: variant %s: %s", name, mlops_last_error());
        }
        if (st == MLOPS_OK && mlops_router_latency_window_create(AB_LATENCY_WINDOW, &ab->latency[i]) != MLOPS_OK)
            st = MLOPS_ENOMEM, snprintf(why, why_len, "ab: %s", mlops_last_error());
        if (st == MLOPS_OK &&
            (!s->monitor || mlops_monitor_create(&s->monitor_opts, &ab->monitors[i]) != MLOPS_OK))
            st = MLOPS_ENOTSUP,
            snprintf(why, why_len, "ab: %s", s->monitor ? mlops_last_error() : s->monitor_why);
        mlops_model_free(m);
        if (st != MLOPS_OK) {
            *code = st == MLOPS_ENOTFOUND ? MHD_HTTP_NOT_FOUND : MHD_HTTP_UNPROCESSABLE_CONTENT;
            ab_free(ab);
            return NULL;
        }
        snprintf(ab->names[i], sizeof ab->names[i], "%s", name);
        ab->versions[i] = loaded;
        ab->n = i + 1;
    }
    return ab;
}

unsigned serve_ab_set(server *s, json_t *in, char *why, size_t why_len) {
    if (!in) { /* DELETE */
        if (!atomic_load(&s->ab)) {
            snprintf(why, why_len, "no A/B experiment is running");
            return MHD_HTTP_CONFLICT;
        }
        ab_replace(s, NULL);
        return MHD_HTTP_OK;
    }
    if (!s->registry) {
        snprintf(why, why_len, "ab: variants are registry versions: start with --registry DIR --name NAME");
        return MHD_HTTP_CONFLICT;
    }
    unsigned code;
    ab_set *ab = ab_build(s, in, &code, why, why_len);
    if (!ab) return code;
    ab_replace(s, ab);
    return MHD_HTTP_OK;
}

/* ---- GET /ab ---- */

typedef struct variant_figures {
    uint64_t requests, labelled, correct;
    double accuracy, rmse, mean_latency_ms;
    double latency_ms[3]; /* p50, p95, p99 over the variant's latency window; NaN before any */
    uint64_t sq_n;        /* squared errors: count, mean, unbiased variance (NaN below 2) */
    double sq_mean, sq_var;
} variant_figures;

static void figures(ab_set *ab, size_t i, variant_figures *f) {
    mlops_variant_stats vs;
    mlops_monitor_metrics life = {.version = MLOPS_MONITOR_METRICS_VERSION};
    memset(f, 0, sizeof *f);
    f->accuracy = f->rmse = f->mean_latency_ms = NAN;
    static const double q[3] = {0.50, 0.95, 0.99};
    double sec[3];
    for (int k = 0; k < 3; k++)
        f->latency_ms[k] = NAN;
    if (mlops_router_latency_window_quantiles(ab->latency[i], q, 3, sec, NULL) == MLOPS_OK)
        for (int k = 0; k < 3; k++)
            f->latency_ms[k] = sec[k] * 1e3;
    if (mlops_router_get_variant_stats(ab->router, i, &vs) == MLOPS_OK) {
        f->requests = vs.requests;
        if (vs.requests) f->mean_latency_ms = (double)vs.latency_ns / (double)vs.requests * 1e-6;
    }
    pthread_mutex_lock(&ab->sq[i].lock);
    f->sq_n = ab->sq[i].n;
    f->sq_mean = ab->sq[i].mean;
    f->sq_var = f->sq_n > 1 ? ab->sq[i].m2 / (double)(f->sq_n - 1) : NAN;
    pthread_mutex_unlock(&ab->sq[i].lock);
    if (mlops_monitor_get_lifetime(ab->monitors[i], &life) == MLOPS_OK) {
        f->labelled = life.count;
        f->accuracy = mlops_monitor_metrics_value(&life, MLOPS_METRIC_ACCURACY);
        f->rmse = mlops_monitor_metrics_value(&life, MLOPS_METRIC_RMSE);
        if (isfinite(f->accuracy)) f->correct = (uint64_t)llround(f->accuracy * (double)life.count);
    }
}

/* The treatment-vs-control test: accuracy by the pooled two-proportion z-test, regression by
 * Welch's t-test on squared errors. Statistic and sign are treatment - control. */
static json_t *test_json(server *s, const ab_set *ab, size_t t, const variant_figures *ctl,
                         const variant_figures *trt) {
    json_t *o = json_pack("{s:s, s:s, s:s}", "control", ab->names[0], "treatment", ab->names[t], "metric",
                          isfinite(trt->accuracy) ? "accuracy" : "rmse");
    mlops_ab_test r;
    mlops_status st =
        isfinite(trt->accuracy)
            ? mlops_ab_proportions_ztest(trt->correct, trt->labelled, ctl->correct, ctl->labelled, &r)
            : mlops_ab_welch_ttest(trt->sq_mean, trt->sq_var, trt->sq_n, ctl->sq_mean, ctl->sq_var, ctl->sq_n,
                                   &r);
    if (st != MLOPS_OK) {
        json_object_set_new(o, "why", json_string(mlops_last_error()));
        return o;
    }
    json_object_set_new(o, "statistic", jnum(r.statistic));
    json_object_set_new(o, "p_value", jnum(r.p_value));
    json_object_set_new(o, "significant", json_boolean(r.p_value < s->opts->ab_alpha));
    return o;
}

enum MHD_Result do_ab(server *s, struct MHD_Connection *c, request *rq) {
    ab_set *ab = serve_ab_enter(s);
    if (!ab) return send_error(s, c, rq, MHD_HTTP_NOT_FOUND, NULL, "no A/B experiment is running");
    json_t *variants = json_array(), *tests = json_array();
    variant_figures ctl;
    figures(ab, 0, &ctl);
    for (size_t i = 0; i < ab->n; i++) {
        variant_figures f;
        figures(ab, i, &f);
        mlops_variant_stats vs = {0};
        mlops_router_get_variant_stats(ab->router, i, &vs);
        json_t *v =
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "name", ab->names[i], "version",
                      (json_int_t)ab->versions[i], "weight", (json_int_t)vs.weight, "requests",
                      (json_int_t)f.requests, "labelled", (json_int_t)f.labelled, "accuracy",
                      jnum(f.accuracy), "rmse", jnum(f.rmse), "mean_latency_ms", jnum(f.mean_latency_ms));
        json_object_set_new(v, "latency_p50_ms", jnum(f.latency_ms[0]));
        json_object_set_new(v, "latency_p95_ms", jnum(f.latency_ms[1]));
        json_object_set_new(v, "latency_p99_ms", jnum(f.latency_ms[2]));
        json_array_append_new(variants, v);
        if (i) json_array_append_new(tests, test_json(s, ab, i, &ctl, &f));
    }
    serve_ab_leave(ab);
    json_t *doc =
        json_pack("{s:o, s:o, s:f}", "variants", variants, "tests", tests, "alpha", s->opts->ab_alpha);
    return send_json(s, c, rq, MHD_HTTP_OK, doc, NULL);
}

/* Per-variant metrics for the collector: requests and window accuracy by `variant`. */
mlops_status serve_ab_collect(server *s, mlops_metrics_writer *w) {
    ab_set *ab = serve_ab_enter(s);
    if (!ab) return MLOPS_OK;
    const char *label = "variant";
    mlops_status rc = mlops_metrics_writer_family(w, MLOPS_METRICS_COUNTER, "ml_ab_requests_total",
                                                  "Requests routed to each A/B variant", &label, 1);
    for (size_t i = 0; rc == MLOPS_OK && i < ab->n; i++) {
        variant_figures f;
        figures(ab, i, &f);
        const char *v[1] = {ab->names[i]};
        rc = mlops_metrics_writer_sample(w, v, 1, (double)f.requests);
    }
    if (rc == MLOPS_OK)
        rc = mlops_metrics_writer_family(w, MLOPS_METRICS_GAUGE, "ml_ab_accuracy",
                                         "Accuracy of each A/B variant over its labelled predictions", &label,
                                         1);
    for (size_t i = 0; rc == MLOPS_OK && i < ab->n; i++) {
        variant_figures f;
        figures(ab, i, &f);
        const char *v[1] = {ab->names[i]};
        if (isfinite(f.accuracy)) rc = mlops_metrics_writer_sample(w, v, 1, f.accuracy);
    }
    serve_ab_leave(ab);
    return rc;
}

void serve_ab_close(server *s) { ab_free(atomic_exchange(&s->ab, NULL)); }
