/**
 * @file mlops/metrics.h
 * @brief Prometheus metrics: a registry of counters, gauges and histograms rendered to the
 *        text exposition format 0.0.4 or to OpenMetrics 1.0.
 *
 * Model: a registry (mlops_metrics) holds metric families (mlops_metrics_family). A family has a type,
 * a name, a help text, a fixed list of label names and a bounded number of series (label
 * combinations). A series (mlops_series) is a handle owned by the registry; once obtained, updating
 * it never locks and never allocates (C11 atomics; doubles are stored as their bit pattern in an
 * atomic 64-bit word and updated by compare-and-swap).
 *
 * Thread safety: every function may be called from any thread on a shared registry.
 * - mlops_metrics_counter_inc(), mlops_metrics_gauge_set()/add(), mlops_metrics_histogram_observe() on a
 *   series handle are lock-free and allocation-free.
 * - mlops_metrics_series() and the *_labels() conveniences find an existing series without
 *   locking; creating a new series takes the family's mutex briefly and allocates once.
 * - Registering families takes the registry mutex. Rendering is serialized by a render mutex
 *   (collector callbacks run under it), never blocks updates, and sees each value atomically
 *   (a histogram's buckets, _count and _sum are read one by one, so a render concurrent with
 *   observations may show a _sum that lags its _count; +Inf always equals _count).
 * - Families and series live until mlops_metrics_free(); handles stay valid until then.
 *
 * Numbers are formatted independently of the process or thread locale (the render switches the
 * calling thread to the "C" locale with uselocale() and restores it).
 */
#ifndef MLOPS_METRICS_H
#define MLOPS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "mlops/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A registry of metric families. */
typedef struct mlops_metrics mlops_metrics;
/** One metric family (name, type, help, label names). Owned by its registry. */
typedef struct mlops_metrics_family mlops_metrics_family;
/** One series of a family (one combination of label values). Owned by its registry. */
typedef struct mlops_series mlops_series;

/** Metric family types. */
typedef enum mlops_metrics_type {
    MLOPS_METRICS_COUNTER = 0,  /**< monotonically increasing; name should end in "_total" */
    MLOPS_METRICS_GAUGE = 1,    /**< goes up and down */
    MLOPS_METRICS_HISTOGRAM = 2 /**< cumulative buckets, _sum and _count */
} mlops_metrics_type;

/** Exposition formats. */
typedef enum mlops_metrics_format {
    MLOPS_METRICS_PROMETHEUS = 0, /**< text format 0.0.4 */
    MLOPS_METRICS_OPENMETRICS = 1 /**< OpenMetrics 1.0 text, ends with "# EOF" */
} mlops_metrics_format;

/** Version 2 added latency_buckets; version 1 structs (without them) are still accepted. */
#define MLOPS_METRICS_OPTS_VERSION 2u

/** Most finite buckets a histogram may have. */
#define MLOPS_METRICS_MAX_BUCKETS 64

/** Registry options. Initialise with MLOPS_METRICS_OPTS_INIT or mlops_metrics_opts_init(opts,
 * MLOPS_METRICS_OPTS_VERSION). */
typedef struct mlops_metrics_opts {
    unsigned version;          /**< MLOPS_METRICS_OPTS_VERSION */
    size_t max_families;       /**< families the registry accepts; default 256 */
    size_t default_max_series; /**< series per family when a family does not say; default 1000 */
    /* Since version 2: */
    const double *latency_buckets; /**< buckets of the standard <p>_prediction_duration_seconds, copied
                                        (rules as mlops_metrics_family_opts.buckets); NULL = the
                                        library's latency default (MLOPS_METRICS_LATENCY_BUCKETS_*). */
    size_t n_latency_buckets;      /**< 1 to MLOPS_METRICS_MAX_BUCKETS when latency_buckets is set */
} mlops_metrics_opts;

/** Initialiser of mlops_metrics_opts with the defaults and the current version. */
#define MLOPS_METRICS_OPTS_INIT                                                                              \
    { MLOPS_METRICS_OPTS_VERSION, 256, 1000, NULL, 0 }

/**
 * The default latency buckets of the standard prediction histogram: START * FACTOR^i for i < COUNT,
 * i.e. 1 us doubling 21 times to 1.05 s. Predictions take 0.2-50 us and a request through a server
 * up to milliseconds; Prometheus' classic default buckets start at 5 ms, which puts every
 * prediction in the first bucket so that histogram_quantile() cannot tell 7 us from 4 ms. Doubling
 * bounds the error of an interpolated quantile to the width of one bucket (at most a factor 2).
 */
#define MLOPS_METRICS_LATENCY_BUCKETS_START 1e-6
#define MLOPS_METRICS_LATENCY_BUCKETS_FACTOR 2.0 /**< each latency bucket bound is twice the previous */
#define MLOPS_METRICS_LATENCY_BUCKETS_COUNT 21   /**< latency buckets: 1 us to about 1 s */

/**
 * Fill `out[0..count)` with exponential bucket bounds start * factor^i (like Prometheus'
 * ExponentialBuckets). Requires start > 0 and finite, factor > 1 and finite, 1 <= count <=
 * MLOPS_METRICS_MAX_BUCKETS, count <= out_len, and a finite, strictly increasing result; otherwise
 * MLOPS_EINVAL and `out` is unchanged. Pure; thread-safe.
 */
MLOPS_API mlops_status mlops_metrics_exponential_buckets(double start, double factor, size_t count, double *out,
                                                         size_t out_len);

/**
 * Fill `opts` with the defaults and stamp `version`, which the caller passes as
 * MLOPS_METRICS_OPTS_VERSION (the layout it was compiled against; a constructor rejects an
 * unknown version with MLOPS_EVERSION). For bindings that cannot expand macros.
 * NULL is a no-op. Thread safety: writes only `*opts`.
 */
MLOPS_API void mlops_metrics_opts_init(mlops_metrics_opts *opts, unsigned version);

/** Layout version of mlops_metrics_family_opts: callers set it in `version` (or pass it to the initialiser).
 */
#define MLOPS_METRICS_FAMILY_OPTS_VERSION 1u

/** Per-family options. Initialise with MLOPS_METRICS_FAMILY_OPTS_INIT or mlops_metrics_family_opts_init(opts,
 * MLOPS_METRICS_FAMILY_OPTS_VERSION). */
typedef struct mlops_metrics_family_opts {
    unsigned version;               /**< MLOPS_METRICS_FAMILY_OPTS_VERSION */
    const char *const *label_names; /**< `n_labels` label names, copied; NULL when n_labels is 0 */
    size_t n_labels;                /**< at most 16 */
    const double *buckets;          /**< histograms: strictly increasing finite upper bounds, copied;
                                         NULL = the Prometheus default .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10.
                                         +Inf is always added. */
    size_t n_buckets;               /**< at most 64 */
    size_t max_series;              /**< bound on label combinations; 0 = registry default */
} mlops_metrics_family_opts;

/** Initialiser of mlops_metrics_family_opts with the defaults and the current version. */
#define MLOPS_METRICS_FAMILY_OPTS_INIT                                                                       \
    { MLOPS_METRICS_FAMILY_OPTS_VERSION, NULL, 0, NULL, 0, 0 }

/**
 * Fill `opts` with the defaults and stamp `version`, which the caller passes as
 * MLOPS_METRICS_FAMILY_OPTS_VERSION (the layout it was compiled against; a constructor rejects an
 * unknown version with MLOPS_EVERSION). For bindings that cannot expand macros.
 * NULL is a no-op. Thread safety: writes only `*opts`.
 */
MLOPS_API void mlops_metrics_family_opts_init(mlops_metrics_family_opts *opts, unsigned version);

/** Most label names a family may have. */
#define MLOPS_METRICS_MAX_LABELS 16

/** Create an empty registry. `opts` may be NULL. `*out` is written only on success. */
MLOPS_API mlops_status mlops_metrics_create(const mlops_metrics_opts *opts, mlops_metrics **out);

/** Free the registry, its families, series and standard metrics. Every handle obtained from it
 *  becomes invalid. Not safe while another thread uses the registry. NULL is a no-op. */
MLOPS_API void mlops_metrics_free(mlops_metrics *reg);

/**
 * Register a family. `name` must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
 * [a-zA-Z_][a-zA-Z0-9_]*, not start with "__", be distinct, and histograms may not use "le".
 * `help` may be NULL (empty) and is escaped on output. A name whose exposition lines would clash
 * with an existing family (e.g. a gauge "x_count" beside a histogram "x") is MLOPS_EEXIST; more
 * families than max_families is MLOPS_ELIMIT. Families without labels get their single series at
 * once. `*out` (owned by the registry) is written only on success.
 */
MLOPS_API mlops_status mlops_metrics_register(mlops_metrics *reg, mlops_metrics_type type, const char *name,
                                              const char *help, const mlops_metrics_family_opts *opts,
                                              mlops_metrics_family **out);

/** Look up a registered family by name. MLOPS_ENOTFOUND if there is none. Read-only on the registry
 *  (const); the family it finds is the registry's own handle, updated through its series as after
 *  mlops_metrics_register(). */
MLOPS_API mlops_status mlops_metrics_find(const mlops_metrics *reg, const char *name, mlops_metrics_family **out);

/** Type, name and number of labels of a family (name owned by the registry). */
MLOPS_API mlops_metrics_type mlops_metrics_family_type(const mlops_metrics_family *family);
/** Name of a family (owned by the registry). */
MLOPS_API const char *mlops_metrics_family_name(const mlops_metrics_family *family);
/** Number of labels of a family. */
MLOPS_API size_t mlops_metrics_family_n_labels(const mlops_metrics_family *family);
/** Number of series that exist now. */
MLOPS_API size_t mlops_metrics_family_n_series(const mlops_metrics_family *family);

/**
 * The series of `family` for `label_values` (exactly n_labels UTF-8 strings, copied), created if
 * needed. Existing series are found without locking or allocation. Past the family's max_series,
 * MLOPS_ELIMIT and nothing changes. `*out` (owned by the registry) is written only on success.
 */
MLOPS_API mlops_status mlops_metrics_series(mlops_metrics_family *family, const char *const *label_values,
                                            size_t n_values, mlops_series **out);

/** Add `v` (finite or +Inf, >= 0) to a counter series. Lock-free. */
MLOPS_API mlops_status mlops_metrics_counter_inc(mlops_series *s, double v);
/** Set a gauge series to `v` (any double, NaN and infinities included). Lock-free. */
MLOPS_API mlops_status mlops_metrics_gauge_set(mlops_series *s, double v);
/** Add `v` (may be negative) to a gauge series. Lock-free. */
MLOPS_API mlops_status mlops_metrics_gauge_add(mlops_series *s, double v);
/** Record one observation `v` (not NaN) in a histogram series. Lock-free. */
MLOPS_API mlops_status mlops_metrics_histogram_observe(mlops_series *s, double v);

/** Convenience: find or create the series for `label_values`, then update it (see above). */
MLOPS_API mlops_status mlops_metrics_counter_inc_labels(mlops_metrics_family *family,
                                                        const char *const *label_values, size_t n_values,
                                                        double v);
/** mlops_metrics_series() then mlops_metrics_gauge_set(). */
MLOPS_API mlops_status mlops_metrics_gauge_set_labels(mlops_metrics_family *family,
                                                      const char *const *label_values, size_t n_values,
                                                      double v);
/** mlops_metrics_series() then mlops_metrics_gauge_add(). */
MLOPS_API mlops_status mlops_metrics_gauge_add_labels(mlops_metrics_family *family,
                                                      const char *const *label_values, size_t n_values,
                                                      double v);
/** mlops_metrics_series() then mlops_metrics_histogram_observe(). */
MLOPS_API mlops_status mlops_metrics_histogram_observe_labels(mlops_metrics_family *family,
                                                              const char *const *label_values,
                                                              size_t n_values, double v);

/** Current value of a counter or gauge series. */
MLOPS_API mlops_status mlops_series_value(const mlops_series *s, double *out);

/**
 * Snapshot of a histogram series: `cumulative` receives n_buckets + 1 cumulative counts (the last
 * is +Inf, equal to *count) when non-NULL and `n` is large enough (else MLOPS_ESHAPE); `sum` and
 * `count` may be NULL.
 */
MLOPS_API mlops_status mlops_metrics_histogram_snapshot(const mlops_series *s, uint64_t *cumulative, size_t n,
                                                        double *sum, uint64_t *count);

/* ---- Rendering ---------------------------------------------------------------------------- */

/**
 * Render every family (registration order, series in creation order) and then every collector's
 * output into `buf` as NUL-terminated text. `*len` receives the text length without the NUL.
 * If `buf_len` is not larger than that, the result is MLOPS_ESHAPE, `*len` still tells the
 * length needed (values may grow between calls: leave room) and `buf` holds "" if buf_len > 0.
 * Read-only on the registry (const): it only takes the render mutex. Collectors run during it; they
 * receive a writer for this output, not the registry, and what they change elsewhere is their own.
 */
MLOPS_API mlops_status mlops_metrics_render(const mlops_metrics *reg, mlops_metrics_format format, char *buf,
                                            size_t buf_len, size_t *len);

/** Render into a fresh NUL-terminated string (free with mlops_free()); `len` may be NULL.
 *  Read-only on the registry, as mlops_metrics_render(). */
MLOPS_API mlops_status mlops_metrics_render_alloc(const mlops_metrics *reg, mlops_metrics_format format,
                                                  char **out, size_t *len);

/** Render and replace `path` atomically (write, fsync, rename). Read-only on the registry, as
 *  mlops_metrics_render(). */
MLOPS_API mlops_status mlops_metrics_write_file(const mlops_metrics *reg, mlops_metrics_format format,
                                                const char *path);

/** HTTP Content-Type of a format ("text/plain; version=0.0.4; charset=utf-8", ...). Static. */
MLOPS_API const char *mlops_metrics_content_type(mlops_metrics_format format);

/* ---- Collectors: values pulled at render time ------------------------------------------------ */

/** Receives a collector's families during a render. Valid only inside the callback. */
typedef struct mlops_metrics_writer mlops_metrics_writer;

/**
 * Called during every render, under the render mutex and with the thread in the "C" locale.
 * Write families with mlops_metrics_writer_family() and their samples with
 * mlops_metrics_writer_sample(). It may call any other function, but a render of the same
 * registry, mlops_metrics_add_collector()/remove_collector() on it, and
 * mlops_metrics_std_set_model_info()/attach_*() on a standard set of it, called from inside a
 * render (from a collector, or a monitor alert callback that an attached monitor runs during
 * the render), would wait for the render itself: they return MLOPS_EBUSY with a message instead.
 * A failure status aborts the render with that status.
 */
typedef mlops_status (*mlops_metrics_collect_fn)(mlops_metrics_writer *w, void *user);

/**
 * Call `fn(writer, user)` at every render, after the registered families. The pair (fn, user)
 * identifies the collector; adding the same pair twice is MLOPS_EEXIST. At most 64 collectors.
 */
MLOPS_API mlops_status mlops_metrics_add_collector(mlops_metrics *reg, mlops_metrics_collect_fn fn,
                                                   void *user);

/** Remove a collector. When this returns, `fn` is not running and will not be called again,
 *  so `user` may be freed. MLOPS_ENOTFOUND if the pair was not added. */
MLOPS_API mlops_status mlops_metrics_remove_collector(mlops_metrics *reg, mlops_metrics_collect_fn fn,
                                                      void *user);

/**
 * Start a family in a collector's output: counter or gauge (histogram is MLOPS_ENOTSUP), names
 * validated as in mlops_metrics_register(). A name that clashes with a registered family or one
 * already written in this render is MLOPS_EEXIST.
 */
MLOPS_API mlops_status mlops_metrics_writer_family(mlops_metrics_writer *w, mlops_metrics_type type,
                                                   const char *name, const char *help,
                                                   const char *const *label_names, size_t n_labels);

/** Write one sample of the current family with `n_values` label values (escaped on output). */
MLOPS_API mlops_status mlops_metrics_writer_sample(mlops_metrics_writer *w, const char *const *label_values,
                                                   size_t n_values, double value);

/* ---- Standard metrics ------------------------------------------------------------------------ */

/**
 * The standard families, named with a prefix (default "ml"):
 *   <p>_prediction_requests_total, <p>_prediction_rows_total, <p>_prediction_errors_total{reason},
 *   <p>_prediction_duration_seconds (histogram, the registry's latency_buckets), <p>_model_info{model,version,
 *   objective,engine} (1), and, for attached monitors and drift detectors, <p>_model_accuracy,
 *   <p>_model_window_metric{metric}, <p>_data_drift_score, <p>_feature_drift_statistic{feature},
 *   <p>_feature_drift_detected{feature}.
 */
typedef struct mlops_metrics_std mlops_metrics_std;

/**
 * Register the standard families in `reg` with `prefix` (NULL = "ml"). The result is owned by the
 * registry and freed with it. A second call with the same prefix is MLOPS_EEXIST.
 */
MLOPS_API mlops_status mlops_metrics_std_create(mlops_metrics *reg, const char *prefix,
                                                mlops_metrics_std **out);

/**
 * Record one predict call: requests += 1, one duration observation of `seconds`, and when
 * `status` is MLOPS_OK rows += n_rows, else errors{reason=mlops_metrics_error_reason(status)} += 1.
 * Lock-free and allocation-free.
 */
MLOPS_API mlops_status mlops_metrics_std_observe_predict(mlops_metrics_std *std, size_t n_rows,
                                                         double seconds, mlops_status status);

/**
 * Add `count` to errors{reason}. `reason` must be non-empty UTF-8 (for example "validation").
 * The well-known reasons are lock-free; others create a series on first use.
 */
MLOPS_API mlops_status mlops_metrics_std_error(mlops_metrics_std *std, const char *reason, uint64_t count);

/** The reason label for a failure status: "validation", "shape", "backend", "invalid_argument",
 *  "format", "not_supported", "limit", "out_of_memory", "io", or "other". Static. */
MLOPS_API const char *mlops_metrics_error_reason(mlops_status status);

/**
 * Set <p>_model_info{model,version,objective,engine} 1, replacing the previous labels. NULL strings
 * render as "". Passing all four NULL removes the sample. Copies the strings.
 */
MLOPS_API mlops_status mlops_metrics_std_set_model_info(mlops_metrics_std *std, const char *model,
                                                        const char *version, const char *objective,
                                                        const char *engine);

struct mlops_model;
struct mlops_monitor;
struct mlops_drift;

/**
 * Set <p>_model_info from a loaded model: model=`name`, version=`version` (NULL = ""),
 * objective=mlops_model_objective(), engine=mlops_engine_name(mlops_model_engine()).
 */
MLOPS_API mlops_status mlops_metrics_std_set_model(mlops_metrics_std *std, const struct mlops_model *model,
                                                   const char *name, const char *version);

/**
 * Predict through `model` (arguments as mlops_model_predict()) and record the call with
 * mlops_metrics_std_observe_predict(): duration on the monotonic clock, rows on success, the
 * failure reason otherwise. Returns the predict status. No allocation, no lock.
 */
MLOPS_API mlops_status mlops_metrics_std_predict(mlops_metrics_std *std, const struct mlops_model *model,
                                                 const float *x, size_t n_rows, size_t n_cols, uint32_t flags,
                                                 float *out, size_t out_len);

/**
 * Attach a monitor (NULL detaches): each render reads mlops_monitor_compute_metrics() and writes
 * <p>_model_accuracy (accuracy; tolerance accuracy for regression) and
 * <p>_model_window_metric{metric} for every metric that applies to the monitor's task
 * (names from mlops_metric_name(), "count" included).
 * One monitor per standard set; attaching replaces. The monitor must outlive the attachment:
 * detach (or free the registry) before mlops_monitor_free(). When this returns, a render in
 * progress no longer uses the previous monitor.
 */
MLOPS_API mlops_status mlops_metrics_attach_monitor(mlops_metrics_std *std, struct mlops_monitor *monitor);

/**
 * Attach a drift detector (NULL detaches): each render reads mlops_drift_report() and writes
 * <p>_data_drift_score (the summary's mean KS statistic), <p>_feature_drift_statistic{feature} and
 * <p>_feature_drift_detected{feature} (0 or 1). Nothing is written while the detector's reference is
 * incomplete. One detector per standard set; lifetime rules as mlops_metrics_attach_monitor().
 */
MLOPS_API mlops_status mlops_metrics_attach_drift(mlops_metrics_std *std, struct mlops_drift *drift);

/** The registry the standard metrics live in. */
MLOPS_API mlops_metrics *mlops_metrics_std_registry(const mlops_metrics_std *std);

/** Direct handles to the standard series (owned by the registry), for callers who update them. */
MLOPS_API mlops_series *mlops_metrics_std_requests(const mlops_metrics_std *std);
/** The rows counter of the standard metrics (owned by the registry). */
MLOPS_API mlops_series *mlops_metrics_std_rows(const mlops_metrics_std *std);
/** The prediction duration histogram of the standard metrics (owned by the registry). */
MLOPS_API mlops_series *mlops_metrics_std_duration(const mlops_metrics_std *std);

#ifdef __cplusplus
}
#endif

#endif /* MLOPS_METRICS_H */
