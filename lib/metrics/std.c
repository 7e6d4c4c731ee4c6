/* Standard metrics: prediction counters and latency histogram, model info, and the hook through
 * which attached monitors and drift detectors are read at render time. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "metrics_internal.h"
#include "mlops/metrics.h"

#define MAX_PREFIX 200

typedef struct reason_map {
    mlops_status status;
    const char *reason;
} reason_map;

static const reason_map reasons[] = {
    {MLOPS_EVALIDATION, "validation"},
    {MLOPS_ESHAPE, "shape"},
    {MLOPS_EBACKEND, "backend"},
    {MLOPS_EINVAL, "invalid_argument"},
    {MLOPS_EFORMAT, "format"},
    {MLOPS_ENOTSUP, "not_supported"},
    {MLOPS_ELIMIT, "limit"},
    {MLOPS_ENOMEM, "out_of_memory"},
    {MLOPS_EIO, "io"},
    {MLOPS_OK, "other"} /* last: everything else */
};
#define N_REASONS (sizeof reasons / sizeof reasons[0])

struct mlops_metrics_std {
    mlops_metrics *reg;
    char prefix[MAX_PREFIX + 1];
    mlops_metrics_family *requests, *rows, *errors, *duration;
    mlops_series *s_requests, *s_rows, *s_duration;
    mlops_series *s_errors[N_REASONS];
    pthread_mutex_t lock; /* model info and attachments; held by the collector while it runs */
    int has_info;
    char *info[4];
    mlops__metrics_attach_fn attach_fn[MLOPS__METRICS_N_SLOTS];
    void *attach_obj[MLOPS__METRICS_N_SLOTS];
};

const char *mlops_metrics_error_reason(mlops_status status) {
    for (size_t i = 0; i + 1 < N_REASONS; i++)
        if (reasons[i].status == status) return reasons[i].reason;
    return reasons[N_REASONS - 1].reason;
}

static mlops_status std_collect(mlops_metrics_writer *w, void *user) {
    mlops_metrics_std *std = user;
    mlops_status st = MLOPS_OK;
    char name[MAX_PREFIX + 64];
    pthread_mutex_lock(&std->lock);
    mlops__metrics_enter(std);
    if (std->has_info) {
        static const char *const labels[] = {"model", "version", "objective", "engine"};
        snprintf(name, sizeof name, "%s_model_info", std->prefix);
        st = mlops_metrics_writer_family(w, MLOPS_METRICS_GAUGE, name,
                                         "Model being served (value is always 1).", labels, 4);
        if (!st) st = mlops_metrics_writer_sample(w, (const char *const *)std->info, 4, 1.0);
    }
    for (int i = 0; i < MLOPS__METRICS_N_SLOTS && !st; i++)
        if (std->attach_fn[i]) st = std->attach_fn[i](w, std->prefix, std->attach_obj[i]);
    mlops__metrics_leave();
    pthread_mutex_unlock(&std->lock);
    return st;
}

void mlops__metrics_std_free(mlops_metrics_std *std) {
    if (!std) return;
    for (int i = 0; i < 4; i++)
        mlops__free(std->info[i]);
    pthread_mutex_destroy(&std->lock);
    mlops__free(std);
}

static mlops_status reg_one(mlops_metrics_std *std, mlops_metrics_type type, const char *suffix,
                            const char *help, const char *label, mlops_metrics_family **out) {
    char name[MAX_PREFIX + 64];
    snprintf(name, sizeof name, "%s_%s", std->prefix, suffix);
    mlops_metrics_family_opts o = MLOPS_METRICS_FAMILY_OPTS_INIT;
    if (type == MLOPS_METRICS_HISTOGRAM) o.buckets = mlops__metrics_latency_buckets(std->reg, &o.n_buckets);
    if (label) {
        o.label_names = &label;
        o.n_labels = 1;
        o.max_series = 64;
    }
    return mlops__metrics_family_build(std->reg, type, name, help, &o, out);
}

mlops_status mlops_metrics_std_create(mlops_metrics *reg, const char *prefix, mlops_metrics_std **out) {
    MLOPS__CHECK_ARG("metrics", reg);
    MLOPS__CHECK_ARG("metrics", out);
    if (!prefix) prefix = "ml";
    if (strlen(prefix) > MAX_PREFIX || !mlops__metrics_valid_metric_name(prefix))
        return mlops__fail(MLOPS_EINVAL,
                           "metrics_std_create: invalid prefix '%.64s' (must match [a-zA-Z_:][a-zA-Z0-9_:]*)",
                           prefix);
    mlops_metrics_family *probe;
    char name[MAX_PREFIX + 64];
    mlops__error_saved saved; /* the probes below are lookups, not this call's failures */
    mlops__error_save(&saved);
    snprintf(name, sizeof name, "%s_prediction_requests_total", prefix);
    if (mlops_metrics_find(reg, name, &probe) == MLOPS_OK)
        return mlops__fail(MLOPS_EEXIST,
                           "metrics_std_create: standard metrics with prefix '%s' already exist", prefix);
    mlops__error_restore(&saved);
    /* Check every name first so that a clash leaves the registry unchanged. */
    static const char *const suffixes[] = {"prediction_requests_total",
                                           "prediction_rows_total",
                                           "prediction_errors_total",
                                           "prediction_duration_seconds",
                                           "model_info",
                                           "model_accuracy",
                                           "model_window_metric",
                                           "data_drift_score",
                                           "data_drift_window_rows",
                                           "feature_drift_statistic",
                                           "feature_drift_detected"};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(name, sizeof name, "%s_%s", prefix, suffixes[i]);
        if (mlops_metrics_find(reg, name, &probe) == MLOPS_OK)
            return mlops__fail(MLOPS_EEXIST, "metrics_std_create: a metric '%s' already exists", name);
    }
    mlops__error_restore(&saved);
    mlops_metrics_std *std = mlops__calloc(1, sizeof *std);
    if (!std) return mlops__fail(MLOPS_ENOMEM, "metrics_std_create: out of memory");
    pthread_mutex_init(&std->lock, NULL);
    std->reg = reg;
    memcpy(std->prefix, prefix, strlen(prefix) + 1);
    mlops_status st;
    enum { N_RESERVED = sizeof suffixes / sizeof suffixes[0] - 4 }; /* written by the collector */
    const char *reserved[N_RESERVED];
    char rnames[N_RESERVED][MAX_PREFIX + 64];
    for (int i = 0; i < N_RESERVED; i++) {
        snprintf(rnames[i], sizeof rnames[i], "%s_%s", prefix, suffixes[4 + i]);
        reserved[i] = rnames[i];
    }
    /* Build the families unpublished, then publish them with the reserved names and the set in one
     * step, so a failure anywhere leaves the registry as it was. */
    if ((st = reg_one(std, MLOPS_METRICS_COUNTER, suffixes[0], "Predict calls.", NULL, &std->requests)) ||
        (st = reg_one(std, MLOPS_METRICS_COUNTER, suffixes[1], "Rows predicted.", NULL, &std->rows)) ||
        (st = reg_one(std, MLOPS_METRICS_COUNTER, suffixes[2],
                      "Failed predict calls and rejected rows, by reason.", "reason", &std->errors)) ||
        (st = reg_one(std, MLOPS_METRICS_HISTOGRAM, suffixes[3], "Duration of predict calls in seconds.",
                      NULL, &std->duration)))
        goto fail;
    for (size_t i = 0; i < N_REASONS && !st; i++)
        st = mlops_metrics_series(std->errors, &reasons[i].reason, 1, &std->s_errors[i]);
    if (st || (st = mlops_metrics_series(std->requests, NULL, 0, &std->s_requests)) ||
        (st = mlops_metrics_series(std->rows, NULL, 0, &std->s_rows)) ||
        (st = mlops_metrics_series(std->duration, NULL, 0, &std->s_duration)))
        goto fail;
    if ((st = mlops_metrics_add_collector(reg, std_collect, std))) goto fail;
    mlops_metrics_family *const fams[] = {std->requests, std->rows, std->errors, std->duration};
    if ((st = mlops__metrics_publish_std(reg, fams, 4, reserved, N_RESERVED, std))) {
        mlops_metrics_remove_collector(reg, std_collect, std);
        goto fail;
    }
    *out = std;
    return MLOPS_OK;
fail:
    mlops__metrics_family_discard(std->requests);
    mlops__metrics_family_discard(std->rows);
    mlops__metrics_family_discard(std->errors);
    mlops__metrics_family_discard(std->duration);
    mlops__metrics_std_free(std);
    return st;
}

mlops_status mlops_metrics_std_observe_predict(mlops_metrics_std *std, size_t n_rows, double seconds,
                                               mlops_status status) {
    MLOPS__CHECK_ARG("metrics", std);
    if (!(seconds >= 0)) /* also NaN */
        return mlops__fail(MLOPS_EINVAL, "metrics_std_observe_predict: duration %g s is negative or NaN",
                           seconds);
    mlops_metrics_counter_inc(std->s_requests, 1.0);
    mlops_metrics_histogram_observe(std->s_duration, seconds);
    if (status == MLOPS_OK) {
        mlops_metrics_counter_inc(std->s_rows, (double)n_rows);
    } else {
        size_t i = 0;
        while (i + 1 < N_REASONS && reasons[i].status != status)
            i++;
        mlops_metrics_counter_inc(std->s_errors[i], 1.0);
    }
    return MLOPS_OK;
}

mlops_status mlops_metrics_std_error(mlops_metrics_std *std, const char *reason, uint64_t count) {
    MLOPS__CHECK_ARG("metrics", std);
    MLOPS__CHECK_STR("metrics", reason);
    for (size_t i = 0; i < N_REASONS; i++)
        if (strcmp(reasons[i].reason, reason) == 0)
            return mlops_metrics_counter_inc(std->s_errors[i], (double)count);
    return mlops_metrics_counter_inc_labels(std->errors, &reason, 1, (double)count);
}

mlops_status mlops_metrics_std_set_model_info(mlops_metrics_std *std, const char *model, const char *version,
                                              const char *objective, const char *engine) {
    MLOPS__CHECK_ARG("metrics", std);
    if (mlops__metrics_busy(std, "metrics_std_set_model_info")) return MLOPS_EBUSY;
    const char *in[4] = {model, version, objective, engine};
    char *copy[4] = {NULL, NULL, NULL, NULL};
    int any = 0;
    for (int i = 0; i < 4; i++) {
        if (in[i]) any = 1;
        if (in[i] && !mlops__metrics_valid_utf8(in[i]))
            return mlops__fail(MLOPS_EINVAL, "metrics_std_set_model_info: label %d is not valid UTF-8", i);
    }
    for (int i = 0; any && i < 4; i++)
        if (!(copy[i] = mlops__strdup(in[i] ? in[i] : ""))) {
            for (int j = 0; j < i; j++)
                mlops__free(copy[j]);
            return mlops__fail(MLOPS_ENOMEM, "metrics_std_set_model_info: out of memory");
        }
    char *old[4];
    pthread_mutex_lock(&std->lock);
    for (int i = 0; i < 4; i++)
        old[i] = std->info[i], std->info[i] = copy[i];
    std->has_info = any;
    pthread_mutex_unlock(&std->lock);
    for (int i = 0; i < 4; i++)
        mlops__free(old[i]);
    return MLOPS_OK;
}

mlops_status mlops__metrics_std_attach(mlops_metrics_std *std, int slot, mlops__metrics_attach_fn fn,
                                       void *obj) {
    MLOPS__CHECK_ARG("metrics", std);
    MLOPS__FAIL_IF(slot < 0 || slot >= MLOPS__METRICS_N_SLOTS, MLOPS_EINVAL,
                   "metrics: attach: unknown slot %d", slot);
    if (mlops__metrics_busy(std, "metrics attach")) return MLOPS_EBUSY;
    pthread_mutex_lock(&std->lock);
    std->attach_fn[slot] = obj ? fn : NULL;
    std->attach_obj[slot] = obj;
    pthread_mutex_unlock(&std->lock);
    return MLOPS_OK;
}

mlops_metrics *mlops_metrics_std_registry(const mlops_metrics_std *std) { return std ? std->reg : NULL; }
mlops_series *mlops_metrics_std_requests(const mlops_metrics_std *std) { return std ? std->s_requests : NULL; }
mlops_series *mlops_metrics_std_rows(const mlops_metrics_std *std) { return std ? std->s_rows : NULL; }
mlops_series *mlops_metrics_std_duration(const mlops_metrics_std *std) { return std ? std->s_duration : NULL; }
