/**
 * @file mlops/monitor.h
 * @brief Live model quality: sliding-window metrics, delayed labels, alerts, durable state.
 *
 * A monitor keeps the last `window` (prediction, label) pairs and the running
 * sums that give every metric below in O(1) per record (ROC AUC is computed on
 * demand by sorting the window). The values equal scikit-learn 1.2's on the
 * same records:
 *
 *  - binary (prediction = P(y=1), label 0 or 1, predicted class = p >= threshold):
 *    accuracy_score, precision_score / recall_score / f1_score with
 *    zero_division=0 (a 0/0 ratio is 0, as sklearn's default "warn" returns),
 *    log_loss (probabilities clipped to [eps, 1-eps] with eps = DBL_EPSILON,
 *    sklearn 1.2's eps="auto" for float64, then renormalized), roc_auc_score
 *    (ties count one half; NaN when the window holds one class only) and
 *    brier_score_loss;
 *  - multiclass (prediction = n_classes probabilities, label = class index,
 *    predicted class = first argmax): accuracy, log_loss(labels=range(K)) and
 *    f1_score(average="macro") over the classes present in the window's labels
 *    or predictions (sklearn's default `labels=None`), zero_division=0;
 *  - regression: mean_squared_error, its square root, mean_absolute_error,
 *    r2_score (force_finite: constant labels give 1 if every prediction is
 *    exact, else 0; NaN with fewer than two records) and the tolerance accuracy
 *    |y - yhat| < tolerance.
 *
 * Sliding sums use Neumaier-compensated add and subtract and are rebuilt from
 * the window every `recompute_every` records, so they do not drift over long
 * streams.
 *
 * Predictions may be recorded under a request id and matched with their label
 * later. Pending predictions live in a bounded store (capacity, time to live in
 * seconds on a monotonic clock); the oldest is evicted when the store is full
 * and expired ones are evicted on every call that takes a time. Evictions are
 * counted.
 *
 * Thread safety: a monitor is safe to share between threads. Every call takes
 * the monitor's mutex for a short, allocation-free critical section (input is
 * validated before); files are read and written outside the lock; the alert
 * callback runs outside the lock on the thread whose call caused the change.
 * mlops_monitor_free() must not race with other calls on the same monitor.
 *
 * Bad input (NaN or infinite values, a label outside {0, 1} for binary, a class
 * index out of range, probabilities outside [0, 1] or of the wrong width, an
 * unknown or duplicate request id) fails with a status and message and leaves
 * the monitor exactly as it was. Batches are all-or-nothing.
 */
#ifndef MLOPS_MONITOR_H
#define MLOPS_MONITOR_H

#include <float.h>
#include <stddef.h>
#include <stdint.h>

#include "mlops/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A sliding-window quality monitor (opaque, internally synchronized). */
typedef struct mlops_monitor mlops_monitor;

/** What the monitored model predicts. Values equal mlops_task's for the same kinds. */
typedef enum mlops_monitor_task {
    MLOPS_MONITOR_REGRESSION = 0, /**< prediction and label are real numbers */
    MLOPS_MONITOR_BINARY = 1,     /**< prediction is P(y=1); label is 0 or 1 */
    MLOPS_MONITOR_MULTICLASS = 2  /**< prediction is n_classes probabilities; label is a class index */
} mlops_monitor_task;

/** Layout version of mlops_monitor_opts: callers set it in `version` (or pass it to the initialiser). */
#define MLOPS_MONITOR_OPTS_VERSION 1u

/** Monitor options. Initialise with MLOPS_MONITOR_OPTS_INIT or mlops_monitor_opts_init(opts,
 * MLOPS_MONITOR_OPTS_VERSION). */
typedef struct mlops_monitor_opts {
    unsigned version;        /**< MLOPS_MONITOR_OPTS_VERSION */
    mlops_monitor_task task; /**< default MLOPS_MONITOR_BINARY */
    size_t window;           /**< records in the sliding window, >= 1; default 1000 */
    double threshold;        /**< binary: predicted class is p >= threshold; default 0.5 */
    double tolerance;        /**< regression: |y - yhat| < tolerance counts as correct; default 0.1 */
    unsigned n_classes;      /**< multiclass: number of classes, >= 2 (required); others: ignored */
    size_t pending_capacity; /**< pending predictions kept for late labels; default 10000; 0 disables */
    double pending_ttl;  /**< seconds a pending prediction waits for its label; default 3600; 0 = forever */
    double log_loss_eps; /**< log-loss clipping; default DBL_EPSILON (sklearn 1.2); 1e-15 for sklearn < 1.2 */
    size_t recompute_every; /**< rebuild the sliding sums every this many records; 0 = `window`; SIZE_MAX =
                               never */
} mlops_monitor_opts;

/** Initialiser of mlops_monitor_opts with the defaults and the current version. */
#define MLOPS_MONITOR_OPTS_INIT                                                                              \
    { MLOPS_MONITOR_OPTS_VERSION, MLOPS_MONITOR_BINARY, 1000, 0.5, 0.1, 0, 10000, 3600.0, DBL_EPSILON, 0 }

/**
 * Fill `opts` with the defaults and stamp `version`, which the caller passes as
 * MLOPS_MONITOR_OPTS_VERSION (the layout it was compiled against; a constructor rejects an
 * unknown version with MLOPS_EVERSION). For bindings that cannot expand macros.
 * NULL is a no-op. Thread safety: writes only `*opts`.
 */
MLOPS_API void mlops_monitor_opts_init(mlops_monitor_opts *opts, unsigned version);

/** Metric identifiers; bit `1 << id` in mlops_monitor_metrics.has. */
typedef enum mlops_metric {
    MLOPS_METRIC_COUNT = 0,
    MLOPS_METRIC_MEAN_PREDICTION =
        1, /**< mean of p (binary), of the predicted class index (multiclass), of yhat */
    MLOPS_METRIC_MEAN_LABEL = 2,          /**< mean label (class index for multiclass) */
    MLOPS_METRIC_ACCURACY = 3,            /**< binary and multiclass */
    MLOPS_METRIC_PRECISION = 4,           /**< binary */
    MLOPS_METRIC_RECALL = 5,              /**< binary */
    MLOPS_METRIC_F1 = 6,                  /**< binary F1; multiclass macro F1 */
    MLOPS_METRIC_LOG_LOSS = 7,            /**< binary and multiclass */
    MLOPS_METRIC_ROC_AUC = 8,             /**< binary, window only */
    MLOPS_METRIC_BRIER = 9,               /**< binary */
    MLOPS_METRIC_MSE = 10,                /**< regression */
    MLOPS_METRIC_RMSE = 11,               /**< regression */
    MLOPS_METRIC_MAE = 12,                /**< regression */
    MLOPS_METRIC_R2 = 13,                 /**< regression */
    MLOPS_METRIC_TOLERANCE_ACCURACY = 14, /**< regression */
    MLOPS_METRIC_N = 15                   /**< number of metrics (not a metric) */
} mlops_metric;

/** Short name of a metric ("accuracy", "roc_auc", ...); NULL when out of range. Static storage. */
MLOPS_API const char *mlops_metric_name(mlops_metric metric);

/** Layout version of mlops_monitor_metrics: callers set it in `version` (or pass it to the initialiser). */
#define MLOPS_MONITOR_METRICS_VERSION 1u

/**
 * Metrics over the window or over the monitor's lifetime. Caller-owned; set
 * `version` to MLOPS_MONITOR_METRICS_VERSION before the call. Bit `1 << id` of
 * `has` says the metric applies to the task; its value is NaN when it applies
 * but is undefined (empty window, ROC AUC with one class, R² with < 2 records).
 * Values that do not apply are NaN too.
 */
typedef struct mlops_monitor_metrics {
    unsigned version; /**< MLOPS_MONITOR_METRICS_VERSION, set by the caller */
    uint64_t has;     /**< bit mask of applicable metrics */
    uint64_t count;   /**< records covered */
    double mean_prediction;    /**< mean prediction (MLOPS_METRIC_MEAN_PREDICTION) */
    double mean_label;         /**< mean label */
    double accuracy;           /**< accuracy */
    double precision;          /**< precision */
    double recall;             /**< recall */
    double f1;                 /**< F1 (macro F1 for multiclass) */
    double log_loss;           /**< log loss */
    double roc_auc;            /**< ROC AUC (window only) */
    double brier;              /**< Brier score */
    double mse;                /**< mean squared error */
    double rmse;               /**< root mean squared error */
    double mae;                /**< mean absolute error */
    double r2;                 /**< coefficient of determination R^2 */
    double tolerance_accuracy; /**< share of |yhat - y| <= tolerance */
} mlops_monitor_metrics;

/** Value of `metric` in `m` (count as a double); NaN when absent or out of range. */
MLOPS_API double mlops_monitor_metrics_value(const mlops_monitor_metrics *m, mlops_metric metric);

/** Layout version of mlops_monitor_stats: callers set it in `version` (or pass it to the initialiser). */
#define MLOPS_MONITOR_STATS_VERSION 1u

/** Counters. Caller-owned; set `version` to MLOPS_MONITOR_STATS_VERSION before the call. */
typedef struct mlops_monitor_stats {
    unsigned version;          /**< MLOPS_MONITOR_STATS_VERSION, set by the caller */
    uint64_t recorded;         /**< pairs recorded over the lifetime (direct and matched) */
    uint64_t window_count;     /**< pairs in the window now */
    uint64_t pending;          /**< predictions waiting for a label now */
    uint64_t matched;          /**< labels matched to a pending prediction */
    uint64_t evicted_ttl;      /**< pending predictions dropped because their time to live ran out */
    uint64_t evicted_capacity; /**< pending predictions dropped because the store was full */
    uint64_t recomputes;       /**< times the sliding sums were rebuilt from the window */
} mlops_monitor_stats;

/**
 * Create a monitor. `opts` may be NULL for defaults (binary, window 1000).
 * On success `*out` owns the monitor (free with mlops_monitor_free()); on
 * failure `*out` is untouched. EINVAL for bad options (window 0, multiclass
 * with n_classes < 2, NaN threshold, negative tolerance or TTL), EVERSION for
 * an unknown opts version, ENOMEM.
 */
MLOPS_API mlops_status mlops_monitor_create(const mlops_monitor_opts *opts, mlops_monitor **out);

/** Free a monitor and everything it holds. NULL is a no-op. Not concurrent with other calls on it. */
MLOPS_API void mlops_monitor_free(mlops_monitor *monitor);

/** Copy the options the monitor runs with into `*opts` (version set). */
MLOPS_API mlops_status mlops_monitor_get_opts(const mlops_monitor *monitor, mlops_monitor_opts *opts);

/**
 * Record one (prediction, label) pair. `pred` holds `n_pred` values: 1 for
 * binary and regression, n_classes for multiclass (ESHAPE otherwise). For
 * multiclass, `actual` is the class index as a double.
 */
MLOPS_API mlops_status mlops_monitor_record(mlops_monitor *monitor, const double *pred, size_t n_pred,
                                            double actual);

/**
 * Record `n` pairs: `preds` is row-major, `preds_len` = n * width (width 1, or
 * n_classes for multiclass; ESHAPE otherwise), `actuals` has `n` labels. All
 * rows are validated first: one bad row rejects the batch and records nothing
 * (the message names the row). n = 0 is a no-op.
 */
MLOPS_API mlops_status mlops_monitor_record_batch(mlops_monitor *monitor, const double *preds,
                                                  size_t preds_len, const double *actuals, size_t n);

/**
 * Keep a prediction under request id `id` (a non-empty NUL-terminated string of
 * at most 1024 bytes, copied) until its label arrives. EEXIST if `id` is
 * already pending. When the store is full the oldest pending prediction is
 * evicted (counted in evicted_capacity). ENOTSUP if pending_capacity is 0.
 * Uses the monotonic clock; see the _at variant.
 */
MLOPS_API mlops_status mlops_monitor_record_prediction(mlops_monitor *monitor, const char *id,
                                                       const double *pred, size_t n_pred);

/**
 * As mlops_monitor_record_prediction() at time `now` (seconds on any clock
 * the caller keeps for this monitor, not mixed with the monotonic one). A time
 * earlier than one already seen counts as the latest seen.
 */
MLOPS_API mlops_status mlops_monitor_record_prediction_at(mlops_monitor *monitor, const char *id,
                                                          const double *pred, size_t n_pred, double now);

/**
 * Attach the label of pending prediction `id`: the pair enters the window and
 * the id is forgotten. ENOTFOUND for an id that is unknown, already labeled or
 * evicted (expired ones are evicted first, at the current time).
 */
MLOPS_API mlops_status mlops_monitor_record_label(mlops_monitor *monitor, const char *id, double actual);

/** As mlops_monitor_record_label() at time `now` (see mlops_monitor_record_prediction_at()). */
MLOPS_API mlops_status mlops_monitor_record_label_at(mlops_monitor *monitor, const char *id, double actual,
                                                     double now);

/** Evict the pending predictions whose time to live has run out at `now`; `*evicted` (may be NULL) gets how
 * many. */
MLOPS_API mlops_status mlops_monitor_expire_at(mlops_monitor *monitor, double now, size_t *evicted);

/**
 * Metrics over the window into caller-owned `*out` (set out->version first;
 * EVERSION otherwise). ROC AUC costs O(W log W) (two GSL sorts) and is cached
 * until the window changes; everything else is O(1) (O(n_classes) for
 * multiclass). Evaluates ROC AUC alert rules.
 */
MLOPS_API mlops_status mlops_monitor_compute_metrics(mlops_monitor *monitor, mlops_monitor_metrics *out);

/**
 * Metrics over every record since the monitor was created (or since the state
 * was first saved, for a loaded one). ROC AUC is not kept over the lifetime
 * (NaN, its `has` bit clear).
 */
MLOPS_API mlops_status mlops_monitor_get_lifetime(const mlops_monitor *monitor, mlops_monitor_metrics *out);

/** Counters into caller-owned `*out` (set out->version first). */
MLOPS_API mlops_status mlops_monitor_get_stats(const mlops_monitor *monitor, mlops_monitor_stats *out);

/** Layout version of mlops_monitor_totals: callers set it in `version`. */
#define MLOPS_MONITOR_TOTALS_VERSION 1u

/**
 * Lifetime sums that add up across replicas (a fleet's quality is the ratio of the sums, never
 * the mean of per-replica ratios). Caller-owned; set `version` to MLOPS_MONITOR_TOTALS_VERSION.
 * Sums that do not apply to the task are 0.
 */
typedef struct mlops_monitor_totals {
    unsigned version;      /**< MLOPS_MONITOR_TOTALS_VERSION, set by the caller */
    uint64_t labelled;     /**< predictions matched with their label (or recorded with one) */
    uint64_t correct;      /**< classification: right class; regression: |y - yhat| < tolerance */
    double squared_error;  /**< regression: sum of (y - yhat)^2 */
    double absolute_error; /**< regression: sum of |y - yhat| */
    double log_loss;       /**< classification: sum of the per-record log losses */
    unsigned n_classes;    /**< classification: classes counted by mlops_monitor_get_class_totals(); else 0 */
} mlops_monitor_totals;

/**
 * The monitor's lifetime totals into `out` (see mlops_monitor_totals). Internally synchronized;
 * any thread. MLOPS_EINVAL on NULL, MLOPS_EVERSION for an unknown struct version; `out` is then
 * untouched.
 */
MLOPS_API mlops_status mlops_monitor_get_totals(const mlops_monitor *monitor, mlops_monitor_totals *out);

/**
 * Lifetime labelled and correct counts of class `cls` (the true label's class) of a
 * classification monitor. MLOPS_ERANGE if `cls` >= n_classes, MLOPS_EINVAL for a regression
 * monitor or a NULL argument; the outputs are then untouched. Internally synchronized.
 */
MLOPS_API mlops_status mlops_monitor_get_class_totals(const mlops_monitor *monitor, unsigned cls,
                                                      uint64_t *labelled, uint64_t *correct);

/** Forget the window, the pending predictions and the alert states; keep lifetime totals, rules and options.
 */
MLOPS_API mlops_status mlops_monitor_reset_window(mlops_monitor *monitor);

/** Which way a metric is bad. */
typedef enum mlops_alert_direction {
    MLOPS_ALERT_BELOW = 0, /**< fires when value < trigger, clears when value > clear (clear >= trigger) */
    MLOPS_ALERT_ABOVE = 1  /**< fires when value > trigger, clears when value < clear (clear <= trigger) */
} mlops_alert_direction;

/** Layout version of mlops_alert_rule: callers set it in `version` (or pass it to the initialiser). */
#define MLOPS_ALERT_RULE_VERSION 1u

/** An alert rule with hysteresis. Initialise with MLOPS_ALERT_RULE_INIT or mlops_alert_rule_init(rule,
 * MLOPS_ALERT_RULE_VERSION). */
typedef struct mlops_alert_rule {
    unsigned version;                /**< MLOPS_ALERT_RULE_VERSION */
    mlops_metric metric;             /**< a metric that applies to the monitor's task, not COUNT */
    mlops_alert_direction direction; /**< default MLOPS_ALERT_BELOW */
    double trigger;                  /**< threshold that fires the alert */
    double clear;                    /**< threshold that clears it (hysteresis); NaN = same as trigger */
    uint64_t min_count;              /**< evaluate only when the window holds at least this many; default 1 */
} mlops_alert_rule;

/** Initialiser of mlops_alert_rule with the defaults and the current version. */
#define MLOPS_ALERT_RULE_INIT                                                                                \
    { MLOPS_ALERT_RULE_VERSION, MLOPS_METRIC_ACCURACY, MLOPS_ALERT_BELOW, 0.0, 0.0, 1 }

/**
 * Fill `rule` with the defaults and stamp `version`, which the caller passes as
 * MLOPS_ALERT_RULE_VERSION (the layout it was compiled against; a constructor rejects an
 * unknown version with MLOPS_EVERSION). For bindings that cannot expand macros.
 * NULL is a no-op. Thread safety: writes only `*rule`.
 */
MLOPS_API void mlops_alert_rule_init(mlops_alert_rule *rule, unsigned version);

/** One change of an alert's state, given to the callback (valid during the call only). */
typedef struct mlops_alert_event {
    mlops_metric metric; /**< the alert's metric */
    int firing;     /**< 1: the alert fired; 0: it cleared */
    double value;   /**< the metric's value that caused the change */
    uint64_t count; /**< records in the window at that moment */
} mlops_alert_event;

/**
 * Called after a state change, outside the monitor's lock, on the thread
 * whose call caused it; it may call back into the monitor. Events of different
 * threads may be delivered out of order.
 */
typedef void (*mlops_alert_fn)(mlops_monitor *monitor, const mlops_alert_event *event, void *user);

/**
 * Set the rule for `rule->metric` (one rule per metric; replaces an existing
 * one and resets its state to not firing). Rules are evaluated after every
 * record (ROC AUC: in mlops_monitor_compute_metrics()). EINVAL for a metric that does
 * not apply to the task, COUNT, ROC AUC on a non-binary task, non-finite
 * thresholds, or a clear threshold on the wrong side of the trigger.
 */
MLOPS_API mlops_status mlops_monitor_set_alert(mlops_monitor *monitor, const mlops_alert_rule *rule);

/** Remove the rule for `metric`; ENOTFOUND if there is none. */
MLOPS_API mlops_status mlops_monitor_remove_alert(mlops_monitor *monitor, mlops_metric metric);

/** `*firing` = 1 if the alert on `metric` is firing, else 0; ENOTFOUND if there is no rule. */
MLOPS_API mlops_status mlops_monitor_alert_state(const mlops_monitor *monitor, mlops_metric metric,
                                                 int *firing);

/**
 * Install (or remove, with NULL) the alert callback. `user` is passed back unchanged.
 *
 * Callbacks run with no monitor lock held, on the thread whose call changed an
 * alert's state, one event per call; they may call any function on this
 * monitor (or another), including this one. Replacement rule: once this call
 * has returned, the callback it replaced is never called again — a call of it
 * that was already running (on another thread, or the callback that made this
 * call) runs to its end, and events not yet delivered go to the new callback
 * (none if it is NULL). So the old `user` may be released as soon as every
 * running call of the old callback has returned.
 */
MLOPS_API mlops_status mlops_monitor_set_alert_callback(mlops_monitor *monitor, mlops_alert_fn fn,
                                                        void *user);

/**
 * Save the whole state (options, window, lifetime totals, pending predictions
 * with their age, alert rules and states) to `path` atomically: a temporary
 * file is written, fsynced and renamed over `path`, so a crash leaves the old
 * file or the new one. The snapshot is taken under the lock; the file is
 * written after it is released. Binary format: magic "MLOPSMON", format
 * version, length and a 64-bit checksum. Read-only (const): the monitor is
 * not changed and no callback runs.
 */
MLOPS_API mlops_status mlops_monitor_save(const mlops_monitor *monitor, const char *path);

/**
 * Create a monitor from a file written by mlops_monitor_save(). Truncated,
 * padded, foreign or inconsistent files are EFORMAT, a checksum mismatch
 * EINTEGRITY, a newer format EVERSION, a file over 16 GiB ELIMIT, an unreadable
 * one EIO; `*out` is written only on success. Every record is validated as if
 * recorded afresh and the window sums are rebuilt. Pending predictions keep
 * their age: their clock restarts at the first call that takes a time
 * (monotonic or explicit `now`).
 */
MLOPS_API mlops_status mlops_monitor_load(const char *path, mlops_monitor **out);

/**
 * Replace the state of `monitor` (window, totals, pending predictions, alert
 * rules and states) with the file's, keeping its alert callback. The file must
 * come from a monitor with the same task, classes, threshold, tolerance,
 * log-loss eps and pending capacity (ESTATE otherwise). Errors as
 * mlops_monitor_load(); on any failure the monitor is unchanged. The swap is
 * atomic for concurrent callers (the file is read before the lock is taken).
 */
MLOPS_API mlops_status mlops_monitor_restore(mlops_monitor *monitor, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* MLOPS_MONITOR_H */
