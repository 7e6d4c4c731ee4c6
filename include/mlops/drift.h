/**
 * @file mlops/drift.h
 * @brief Two-sample Kolmogorov-Smirnov test (SciPy 1.10 compatible) and a
 *        streaming per-feature drift detector.
 *
 * Thread safety: mlops_drift_ks_2samp() is reentrant and may be called from any
 * thread. A mlops_drift handle is internally synchronized (one mutex per
 * handle): every function taking a handle may be called concurrently from
 * several threads. Updates hold the lock for O(features * log R); reports
 * compute p-values under the lock; saving serializes under the lock and
 * writes the file after releasing it. The calls that take a `const` handle
 * (reports, statistic, save, snapshot) change no observable state: they only
 * take the lock and fill the handle's internal caches (p-values, scratch).
 */
#ifndef MLOPS_DRIFT_H
#define MLOPS_DRIFT_H

#include <stddef.h>
#include <stdint.h>

#include "mlops/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Alternative hypothesis, as in scipy.stats.ks_2samp. */
typedef enum {
    MLOPS_DRIFT_KS_TWO_SIDED = 0,
    MLOPS_DRIFT_KS_LESS = 1,
    MLOPS_DRIFT_KS_GREATER = 2
} mlops_drift_ks_alternative;

/** How the p-value is computed, as in scipy.stats.ks_2samp(method=...). */
typedef enum {
    MLOPS_DRIFT_KS_AUTO = 0,
    MLOPS_DRIFT_KS_EXACT = 1,
    MLOPS_DRIFT_KS_ASYMP = 2
} mlops_drift_ks_method;

/**
 * Two-sample Kolmogorov-Smirnov test. Gives what scipy.stats.ks_2samp of
 * SciPy 1.10 gives for the same arguments: the same statistic and the same
 * p-value (to about 1e-8 relative), including SciPy's 'auto' rule and its
 * fall-back from the exact to the asymptotic distribution when the exact
 * computation is infeasible. Like SciPy, the asymptotic two-sided p-value for
 * n == m == 1 is NaN.
 *
 * `x` (n values) and `y` (m values) are not modified and are not retained;
 * ±Inf are allowed. Fails with MLOPS_EINVAL (and a message) when a sample is
 * empty or NULL, a value is NaN, an output pointer is NULL or an enum is out
 * of range; the outputs are then untouched. Reentrant.
 */
MLOPS_API mlops_status mlops_drift_ks_2samp(const double *x, size_t n, const double *y, size_t m,
                                            mlops_drift_ks_alternative alternative,
                                            mlops_drift_ks_method method, double *statistic, double *pvalue);

/**
 * p-value of a two-sample KS statistic `d` for sample sizes n and m, as
 * mlops_drift_ks_2samp() would compute it. In the exact path SciPy first rounds the
 * statistic to a multiple of 1/lcm(n, m); `statistic_out` (may be NULL)
 * receives the statistic SciPy reports. MLOPS_EINVAL if n or m is 0, d is not
 * in [0, 1] or an enum is out of range. Reentrant.
 */
MLOPS_API mlops_status mlops_drift_ks_pvalue(double d, size_t n, size_t m,
                                             mlops_drift_ks_alternative alternative,
                                             mlops_drift_ks_method method, double *statistic_out,
                                             double *pvalue);

/** Multiple-testing correction applied to the per-feature p-values. */
typedef enum {
    MLOPS_DRIFT_CORRECTION_NONE = 0,       /**< compare raw p-values with the threshold */
    MLOPS_DRIFT_CORRECTION_BONFERRONI = 1, /**< p * k, capped at 1 */
    MLOPS_DRIFT_CORRECTION_BH = 2          /**< Benjamini-Hochberg adjusted p-values (FDR) */
} mlops_drift_correction;

/** How a feature is tested. */
typedef enum {
    MLOPS_FEATURE_NUMERIC = 0,    /**< two-sample KS test */
    MLOPS_FEATURE_CATEGORICAL = 1 /**< chi-square test of homogeneity; values are category codes */
} mlops_feature_kind;

/** When the whole data set counts as drifted (mlops_drift_summary.dataset_drift). */
typedef enum {
    MLOPS_DRIFT_RULE_SHARE = 0, /**< share of drifted features >= opts.drift_share (Evidently's rule) */
    MLOPS_DRIFT_RULE_ANY = 1    /**< any feature's corrected p-value below opts.p_value (alibi-detect's) */
} mlops_drift_rule;

/** Layout version of mlops_drift_opts: callers set it in `version` (or pass it to the initialiser).
 * Version 2 added `rule`; version 1 structs (without it) are still accepted (rule SHARE). */
#define MLOPS_DRIFT_OPTS_VERSION 2u

/** Detector options. Initialise with MLOPS_DRIFT_OPTS_INIT or mlops_drift_opts_init(opts,
 * MLOPS_DRIFT_OPTS_VERSION). */
typedef struct mlops_drift_opts {
    unsigned version;      /**< MLOPS_DRIFT_OPTS_VERSION */
    size_t window;         /**< W: observations per feature in the sliding window; default 1000 */
    size_t reference_size; /**< N: with no explicit reference, the first N rows become it; default 1000 */
    double p_value;        /**< drift when the (corrected) p-value is below this; default 0.05 */
    double drift_share;    /**< dataset drift when drifted share >= this; default 0.5 */
    mlops_drift_correction correction; /**< default MLOPS_DRIFT_CORRECTION_NONE */
    mlops_drift_ks_method method;      /**< p-value method of the KS tests; default MLOPS_DRIFT_KS_AUTO */
    mlops_drift_rule rule;             /**< dataset-drift rule (version >= 2); default MLOPS_DRIFT_RULE_SHARE */
} mlops_drift_opts;

/** Initialiser of mlops_drift_opts with the defaults and the current version. */
#define MLOPS_DRIFT_OPTS_INIT                                                                                \
    {                                                                                                        \
        MLOPS_DRIFT_OPTS_VERSION, 1000, 1000, 0.05, 0.5, MLOPS_DRIFT_CORRECTION_NONE, MLOPS_DRIFT_KS_AUTO,   \
            MLOPS_DRIFT_RULE_SHARE                                                                           \
    }

/**
 * Fill `opts` with the defaults and stamp `version`, which the caller passes as
 * MLOPS_DRIFT_OPTS_VERSION (the layout it was compiled against; a constructor rejects an
 * unknown version with MLOPS_EVERSION). For bindings that cannot expand macros.
 * NULL is a no-op. Thread safety: writes only `*opts`.
 */
MLOPS_API void mlops_drift_opts_init(mlops_drift_opts *opts, unsigned version);

/** A streaming drift detector: a fixed reference and a sliding window per feature. */
typedef struct mlops_drift mlops_drift;

/**
 * Create a detector for `n_features` features. `names` (may be NULL: "f0",
 * "f1", ...) and `kinds` (may be NULL: all numeric) have n_features entries
 * and are copied; names must be distinct (MLOPS_EEXIST otherwise: they key the
 * report and the metric series). `opts` may be NULL for defaults. On success `*out`
 * owns a new handle (free with mlops_drift_free()); on failure it is untouched.
 */
MLOPS_API mlops_status mlops_drift_create(size_t n_features, const char *const *names,
                                          const mlops_feature_kind *kinds, const mlops_drift_opts *opts,
                                          mlops_drift **out);

/** Free a detector. NULL is a no-op. Must not race with other calls on the same handle. */
MLOPS_API void mlops_drift_free(mlops_drift *d);

/**
 * Set the reference sample from a row-major n_rows x n_features matrix
 * (copied). NaN is a missing value: excluded from the tests and counted.
 * Replaces any previous reference (or reference being collected) and empties
 * the window. MLOPS_ESHAPE if n_features differs from the detector's;
 * MLOPS_EINVAL if a numeric feature has no non-missing value or a categorical
 * value is not an integer. On failure the detector is unchanged.
 */
MLOPS_API mlops_status mlops_drift_set_reference(mlops_drift *d, const double *X, size_t n_rows,
                                                 size_t n_features);

/**
 * Add rows (row-major, n_rows x n_features) to the stream: while no
 * reference exists they fill the reference (opts.reference_size rows), then
 * they enter the sliding window, evicting the oldest rows. Cost O(log R) per
 * feature per row. Inf is a value, NaN is missing. Rows are validated before
 * any is applied: on failure (ESHAPE, EINVAL) nothing changes.
 */
MLOPS_API mlops_status mlops_drift_update(mlops_drift *d, const double *X, size_t n_rows, size_t n_features);

/** Set the reference of the model's prediction distribution (numeric, copied). */
MLOPS_API mlops_status mlops_drift_set_prediction_reference(mlops_drift *d, const double *p, size_t n);

/** Add model predictions to their stream (reference first, then window), like mlops_drift_update(). */
MLOPS_API mlops_status mlops_drift_update_predictions(mlops_drift *d, const double *p, size_t n);

/** Result of one feature's test. */
typedef struct mlops_drift_feature_result {
    double
        statistic; /**< KS statistic (numeric) or chi-square statistic (categorical); NaN if not testable */
    double pvalue; /**< raw p-value; NaN while the window or reference is empty */
    double pvalue_adjusted; /**< p-value after the correction */
    int drift;              /**< 1 if pvalue_adjusted < threshold */
    int kind;               /**< mlops_feature_kind */
    size_t n_reference;     /**< non-missing reference values */
    size_t n_current;       /**< non-missing window values */
    size_t n_missing;       /**< missing values in the window */
    double missing_rate;    /**< n_missing / window rows (0 when empty) */
} mlops_drift_feature_result;

/** Whole-set summary. */
typedef struct mlops_drift_summary {
    size_t n_features;                     /**< features tested (testable ones) */
    size_t n_drifted;                      /**< features flagged */
    double drift_share;                    /**< n_drifted / n_features */
    int dataset_drift;                     /**< by opts.rule: drift_share >= opts.drift_share, or n_drifted > 0 */
    double mean_statistic;                 /**< mean KS statistic over numeric features (the drift score) */
    int reference_ready;                   /**< 1 once the reference is complete */
    size_t n_rows;                         /**< rows in the window */
    size_t n_seen;                         /**< rows passed to mlops_drift_update() in total */
    int has_prediction;                    /**< 1 if predictions have been tested */
    mlops_drift_feature_result prediction; /**< the prediction distribution's test (numeric) */
} mlops_drift_summary;

/**
 * Compute the report: per-feature results into `features` (caller-owned,
 * `features_len` >= n_features, may be NULL when features_len is 0) and the
 * summary into `summary` (may be NULL). p-values are computed here, on
 * demand. MLOPS_ESHAPE if the buffer is too small; MLOPS_ESTATE if the
 * reference is not complete yet; MLOPS_ENOMEM if a p-value cannot be computed
 * for lack of memory (the outputs are then untouched). Read-only (const):
 * the results are computed under the handle's lock; a memo of p-values is the
 * only thing it fills.
 */
MLOPS_API mlops_status mlops_drift_report(const mlops_drift *d, mlops_drift_feature_result *features,
                                          size_t features_len, mlops_drift_summary *summary);

/**
 * The report as a JSON document: {"features": [{"name", "kind", "statistic",
 * "pvalue", "pvalue_adjusted", "drift", "n_reference", "n_current",
 * "n_missing", "missing_rate"}...], "drift_share", "dataset_drift",
 * "mean_statistic", "n_drifted", "correction", "p_value", "prediction"?}.
 * `*json` is freed with mlops_free(). Read-only, as mlops_drift_report().
 */
MLOPS_API mlops_status mlops_drift_report_json(const mlops_drift *d, char **json);

/**
 * The report as one self-contained HTML page, the page `mlops-drift --html` writes: a sortable
 * summary table (drifted features first, then by p-value), the reference and window ECDFs of each
 * numeric feature with the KS distance marked, and the category shares of each categorical one.
 * No external resource; the page's Content-Security-Policy allows only its own inline style and
 * script, by SHA-256.
 *
 * `labels` (may be NULL) has one entry per feature: for a categorical feature j, NULL or an array
 * of `n_labels[j]` label strings, label k naming category code k (codes outside are not drawn);
 * without labels categories are named by their codes. Entries of numeric features are ignored.
 * Nothing is retained. On success `*html` is a NUL-terminated page (free with mlops_free()) and
 * `*len` (may be NULL) its length; on failure they are untouched: MLOPS_ESTATE while the reference
 * is incomplete, MLOPS_ENOMEM, MLOPS_EINVAL for NULL `d`/`html` or labels without n_labels.
 * Thread safety: as every call on the handle (values and results are taken under its lock);
 * read-only, as mlops_drift_report().
 */
MLOPS_API mlops_status mlops_drift_report_html(const mlops_drift *d, const char *const *const *labels,
                                               const size_t *n_labels, char **html, size_t *len);

/**
 * Current KS statistic of one numeric feature: max |cdf_ref - cdf_window| as SciPy computes it before its
 * exact path rounds it to a multiple of 1/lcm (the report gives the rounded one). O(1) while the count of
 * non-missing window values is unchanged since the last call, O(R) otherwise (that is a cache of the
 * handle's, filled under its lock: the call is read-only).
 */
MLOPS_API mlops_status mlops_drift_statistic(const mlops_drift *d, size_t feature, double *statistic);

/** Number of features. */
MLOPS_API size_t mlops_drift_n_features(const mlops_drift *d);

/** Name of feature `i` (owned by the handle; NULL if out of range). */
MLOPS_API const char *mlops_drift_feature_name(const mlops_drift *d, size_t i);

/** Approximate bytes of state held for feature `i` (O(R + W)); 0 if out of range. */
MLOPS_API size_t mlops_drift_feature_bytes(const mlops_drift *d, size_t i);

/**
 * Save options, names, reference and window to `path` atomically (write,
 * fsync, rename): a crash leaves the old file or the new one. The state is
 * serialized under the handle's lock; the detector is not changed.
 */
MLOPS_API mlops_status mlops_drift_save(const mlops_drift *d, const char *path);

/**
 * Load a detector saved by mlops_drift_save(). MLOPS_EIO if unreadable,
 * MLOPS_EFORMAT if malformed or truncated, MLOPS_EVERSION for an unknown
 * format version. On success `*out` owns a new handle.
 */
MLOPS_API mlops_status mlops_drift_load(const char *path, mlops_drift **out);

/* ------------------------------------------------------------------------ */
/* Mergeable window snapshots (a fleet of detectors as one)                 */

/**
 * A snapshot of a detector's window: per feature the reference's distinct
 * values with their counts, the window's counts over the 2K + 1 classes
 * ("slots") those K values define (numeric) or per category (categorical),
 * NaN counts, the window size and a digest of the reference (names, kinds,
 * values and counts). Snapshots of detectors with the same reference merge by
 * adding counts, and the merged report equals SciPy's
 * ks_2samp(reference, concatenation of the windows): statistic bit-equal.
 * The prediction stream is not part of a snapshot.
 *
 * Thread safety: a snapshot is not synchronized. Functions taking a const
 * snapshot may run concurrently; mlops_drift_snapshot_merge() and
 * mlops_drift_snapshot_free() must not race with any other call on `into`.
 */
typedef struct mlops_drift_snapshot mlops_drift_snapshot;

/**
 * Snapshot `d`'s current window (taken under d's lock; the detector is not
 * changed). MLOPS_ESTATE while the reference is incomplete. On success `*out`
 * owns a new snapshot (free with mlops_drift_snapshot_free()); on failure it is
 * untouched.
 */
MLOPS_API mlops_status mlops_drift_snapshot_create(const mlops_drift *d, mlops_drift_snapshot **out);

/** Free a snapshot. NULL is a no-op. */
MLOPS_API void mlops_drift_snapshot_free(mlops_drift_snapshot *snap);

/**
 * Serialize to a compact binary buffer (little-endian, FNV-1a checksum).
 * `*data` (free with mlops_free()) and `*len` are written only on success.
 */
MLOPS_API mlops_status mlops_drift_snapshot_save_buffer(const mlops_drift_snapshot *snap, void **data,
                                                        size_t *len);

/**
 * Parse a buffer made by mlops_drift_snapshot_save_buffer() (`data` is not
 * retained). MLOPS_EFORMAT if malformed, truncated or inconsistent (including a
 * digest that does not match the reference it carries), MLOPS_EVERSION for an
 * unknown format version. On success `*out` owns a new snapshot.
 */
MLOPS_API mlops_status mlops_drift_snapshot_load_buffer(const void *data, size_t len,
                                                        mlops_drift_snapshot **out);

/**
 * Add `other`'s window counts into `into`. Refused with MLOPS_EINVAL (and a
 * message naming both digests) when the references differ (names, kinds,
 * values or counts); MLOPS_ELIMIT if the merged window would exceed 2^40
 * values. On failure `into` is unchanged. The report options (threshold,
 * correction, method) stay `into`'s.
 */
MLOPS_API mlops_status mlops_drift_snapshot_merge(mlops_drift_snapshot *into, const mlops_drift_snapshot *other);

/**
 * The report of a (merged) snapshot, as mlops_drift_report() gives it for a
 * detector: `features` has room for `features_len` >= n_features results
 * (may be NULL when 0); `summary` may be NULL. has_prediction is 0.
 */
MLOPS_API mlops_status mlops_drift_snapshot_report(const mlops_drift_snapshot *snap,
                                                   mlops_drift_feature_result *features, size_t features_len,
                                                   mlops_drift_summary *summary);

/** The report as JSON, in mlops_drift_report_json()'s shape. `*json` is freed with mlops_free(). */
MLOPS_API mlops_status mlops_drift_snapshot_report_json(const mlops_drift_snapshot *snap, char **json);

/** Number of features of a snapshot (0 for NULL). */
MLOPS_API size_t mlops_drift_snapshot_n_features(const mlops_drift_snapshot *snap);

/** Name of feature `i` of a snapshot (owned by it); NULL if out of range. */
MLOPS_API const char *mlops_drift_snapshot_feature_name(const mlops_drift_snapshot *snap, size_t i);

/** The 64-bit digest of the snapshot's reference into `*digest`. MLOPS_EINVAL on NULL. */
MLOPS_API mlops_status mlops_drift_snapshot_get_digest(const mlops_drift_snapshot *snap, uint64_t *digest);

#ifdef __cplusplus
}
#endif

#endif /* MLOPS_DRIFT_H */
