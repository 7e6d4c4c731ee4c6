/**
 * @file mlops/deploy.h
 * @brief Blue/green model deployment: a validation gate, promote and rollback, canary and shadow traffic.
 *
 * A deployment has two slots. Blue is the live model; green is an optional
 * candidate staged next to it. A candidate is checked for compatibility when
 * staged, compared with the live model on a labelled (or unlabelled)
 * validation set by mlops_deploy_validate(), and promoted to blue only when
 * that gate passed (or when forced). The model it replaces is kept as the
 * rollback target. While a candidate is staged, a canary fraction of requests
 * can be served by it, and in shadow mode it also predicts every request that
 * blue serves; its output is then only compared with blue's, never returned.
 *
 * Thread safety: every function may be called from any number of threads on
 * one shared deployment, except mlops_deploy_free(), which must not race with
 * any other call on the same handle. mlops_deploy_predict() takes no lock and
 * never waits: the active configuration (slots, canary, shadow) is an
 * immutable struct published through an atomic pointer, and a request
 * registers itself in one of two reader counters (a two-phase grace period,
 * as in SRCU) for as long as it uses that configuration. A configuration
 * change (stage, promote, rollback, canary, shadow) is serialized by a control
 * mutex that requests never touch; it publishes the new configuration at once
 * and then waits for requests still using the old one to finish before
 * dropping the old configuration's model references. So a switch never frees
 * a model a request is using, and never blocks a prediction; the control call
 * itself returns after the longest in-flight request ends. It sleeps (no
 * spinning) while it waits; a wait longer than 1 s is logged once at
 * MLOPS_LOG_WARN and counted in mlops_deploy_stats.slow_grace_periods.
 * mlops_deploy_get_stats(), mlops_deploy_model() and mlops_deploy_validate()
 * never wait for a configuration change's grace period.
 *
 * Callbacks: the library calls no user code while holding a lock that these
 * functions need, except the control mutex. The log callback may call any
 * function here, but a configuration change (stage, unstage, promote,
 * rollback, set_canary, set_shadow) on the same deployment from a callback
 * running inside a call on it (for example a log message about a failed
 * predict) would wait for its own thread: it returns MLOPS_EBUSY instead.
 *
 * Ownership: the deployment takes its own reference (mlops_model_ref) to every
 * model given to it; the caller keeps, and eventually frees, its own.
 */
#ifndef MLOPS_DEPLOY_H
#define MLOPS_DEPLOY_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "mlops/common.h"
#include "mlops/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A blue/green deployment of one live model and an optional candidate. */
typedef struct mlops_deploy mlops_deploy;

/** Slots of a deployment. */
typedef enum mlops_deploy_slot {
    MLOPS_SLOT_BLUE = 0,    /**< the live model */
    MLOPS_SLOT_GREEN = 1,   /**< the staged candidate */
    MLOPS_SLOT_PREVIOUS = 2 /**< the rollback target (the live model before the last promote) */
} mlops_deploy_slot;

/** Layout version of mlops_deploy_opts: callers set it in `version` (or pass it to the initialiser). */
#define MLOPS_DEPLOY_OPTS_VERSION 1u

/** Deployment options. Initialise with MLOPS_DEPLOY_OPTS_INIT or mlops_deploy_opts_init(opts,
 * MLOPS_DEPLOY_OPTS_VERSION). */
typedef struct mlops_deploy_opts {
    unsigned version;        /**< MLOPS_DEPLOY_OPTS_VERSION */
    double canary_fraction;  /**< share of requests green serves while staged, in [0, 1]; default 0 */
    int shadow;              /**< nonzero: green shadows every request blue serves; default 0 */
    double shadow_tolerance; /**< a shadowed row disagrees when some |green - blue| > this; default 0 */
    uint64_t hash_seed;      /**< seed of XXH3_64bits for keyed canary assignment; default 0 */
} mlops_deploy_opts;

/** Initialiser of mlops_deploy_opts with the defaults and the current version. */
#define MLOPS_DEPLOY_OPTS_INIT                                                                               \
    { MLOPS_DEPLOY_OPTS_VERSION, 0.0, 0, 0.0, 0 }

/**
 * Fill `opts` with the defaults and stamp `version`, which the caller passes as
 * MLOPS_DEPLOY_OPTS_VERSION (the layout it was compiled against; a constructor rejects an
 * unknown version with MLOPS_EVERSION). For bindings that cannot expand macros.
 * NULL is a no-op. Thread safety: writes only `*opts`.
 */
MLOPS_API void mlops_deploy_opts_init(mlops_deploy_opts *opts, unsigned version);

/** Quality metric of the validation gate. */
typedef enum mlops_deploy_gate_metric {
    /** log loss for binary models, RMSE for regression; none without labels or for multiclass and
        ranking models */
    MLOPS_DEPLOY_GATE_AUTO = 0,
    /** no metric: only the prediction-difference bound */
    MLOPS_DEPLOY_GATE_NONE = 1,
    /** binary: share of rows with (p >= threshold) == label; higher is better */
    MLOPS_DEPLOY_GATE_ACCURACY = 2,
    /** binary: mean log loss, p clipped to [1e-15, 1 - 1e-15]; lower is better */
    MLOPS_DEPLOY_GATE_LOGLOSS = 3,
    /** regression: root mean squared error; lower is better */
    MLOPS_DEPLOY_GATE_RMSE = 4
} mlops_deploy_gate_metric;

/** Layout version of mlops_deploy_gate_opts: callers set it in `version` (or pass it to the initialiser). */
#define MLOPS_DEPLOY_GATE_OPTS_VERSION 1u

/**
 * Gate options. Initialise with MLOPS_DEPLOY_GATE_OPTS_INIT or mlops_deploy_gate_opts_init(opts,
 * MLOPS_DEPLOY_GATE_OPTS_VERSION). The gate passes when every enabled criterion passes:
 *  - metric (enabled when labels are given and the metric is not NONE): the
 *    candidate's metric is not worse than the live model's by more than
 *    `tolerance` (absolute, in the metric's units);
 *  - difference (enabled when `max_abs_diff` is finite): the largest
 *    |candidate - live| over every output value is <= `max_abs_diff`.
 * At least one criterion must be enabled.
 */
typedef struct mlops_deploy_gate_opts {
    unsigned version;                /**< MLOPS_DEPLOY_GATE_OPTS_VERSION */
    mlops_deploy_gate_metric metric; /**< default MLOPS_DEPLOY_GATE_AUTO */
    double tolerance;                /**< allowed metric regression, >= 0; default 0 */
    double max_abs_diff;             /**< bound on max |candidate - live|; default INFINITY (criterion off) */
    double threshold;                /**< binary accuracy: predicted class is p >= threshold; default 0.5 */
} mlops_deploy_gate_opts;

/** Initialiser of mlops_deploy_gate_opts with the defaults and the current version. */
#define MLOPS_DEPLOY_GATE_OPTS_INIT                                                                          \
    { MLOPS_DEPLOY_GATE_OPTS_VERSION, MLOPS_DEPLOY_GATE_AUTO, 0.0, INFINITY, 0.5 }

/**
 * Fill `opts` with the defaults and stamp `version`, which the caller passes as
 * MLOPS_DEPLOY_GATE_OPTS_VERSION (the layout it was compiled against; a constructor rejects an
 * unknown version with MLOPS_EVERSION). For bindings that cannot expand macros.
 * NULL is a no-op. Thread safety: writes only `*opts`.
 */
MLOPS_API void mlops_deploy_gate_opts_init(mlops_deploy_gate_opts *opts, unsigned version);

/** Outcome of one validation run. */
typedef struct mlops_deploy_gate_report {
    int passed;               /**< nonzero when every enabled criterion passed */
    mlops_deploy_gate_metric metric; /**< the metric used (NONE when no metric criterion ran) */
    double live_metric;       /**< the live model's metric (NaN when none) */
    double candidate_metric;  /**< the candidate's metric (NaN when none) */
    double max_abs_diff;      /**< largest |candidate - live| over every output value */
    size_t n_rows;            /**< rows validated */
    char reason[160];         /**< why the gate failed, or "passed" */
} mlops_deploy_gate_report;

/** Name of a gate metric ("auto", "none", "accuracy", "logloss", "rmse"); "unknown" otherwise. */
MLOPS_API const char *mlops_deploy_gate_metric_name(mlops_deploy_gate_metric metric);

/**
 * Create a deployment serving `live` from the blue slot. `opts` may be NULL
 * for defaults. Takes a reference to `live`. On success `*out` holds the new
 * deployment; on failure (NULL argument, bad option: ERANGE for a canary
 * fraction outside [0, 1], EVERSION for an unknown options version) it is untouched.
 */
MLOPS_API mlops_status mlops_deploy_create(mlops_model *live, const mlops_deploy_opts *opts,
                                           mlops_deploy **out);

/** Free the deployment and drop its model references. NULL is a no-op. No other call may be in flight. */
MLOPS_API void mlops_deploy_free(mlops_deploy *d);

/**
 * Put `candidate` in the green slot (replacing any staged candidate, whose
 * gate result is forgotten). The candidate must have the live model's task
 * kind, output kind (probability, margin, class index or value: binary:logistic
 * and binary:logitraw differ) and feature names (EINVAL otherwise), feature
 * count and output widths (ESHAPE otherwise). Takes a reference to `candidate`. On failure nothing changes.
 */
MLOPS_API mlops_status mlops_deploy_stage(mlops_deploy *d, mlops_model *candidate);

/** Empty the green slot (ESTATE when it is already empty). Canary and shadow then have no effect. */
MLOPS_API mlops_status mlops_deploy_unstage(mlops_deploy *d);

/**
 * Run the live and the staged model on `n_rows` validation rows of `n_cols`
 * features (row-major float32; NaN is missing) and apply the gate (`opts` may
 * be NULL for defaults). `y` holds one label per row (0/1 for binary, the
 * target for regression) or is NULL. The result is written to `*report` (may
 * be NULL) and remembered: mlops_deploy_promote() accepts only a candidate
 * whose last validation passed. A gate that ran and failed still returns
 * MLOPS_OK with report->passed == 0. Fails with ESTATE when no candidate is
 * staged (or another one is staged while this call runs), ESHAPE for a wrong
 * column count, EINVAL for no rows, NaN/Inf labels or no enabled criterion,
 * ERANGE for binary labels other than 0 and 1, ENOTSUP for a metric the
 * model's task has no definition of. Predictions are not blocked meanwhile.
 */
MLOPS_API mlops_status mlops_deploy_validate(mlops_deploy *d, const float *x, size_t n_rows, size_t n_cols,
                                             const float *y, const mlops_deploy_gate_opts *opts,
                                             mlops_deploy_gate_report *report);

/** Promote flag: promote even though the candidate has not passed the gate. */
#define MLOPS_DEPLOY_FORCE 1u

/**
 * Make the staged candidate live. The previous live model becomes the rollback
 * target and the green slot is emptied. Without MLOPS_DEPLOY_FORCE the last
 * mlops_deploy_validate() of this candidate must have passed (EVALIDATION
 * otherwise); ESTATE when no candidate is staged. On failure nothing changes.
 */
MLOPS_API mlops_status mlops_deploy_promote(mlops_deploy *d, uint32_t flags);

/**
 * Make the rollback target live again and drop the model it replaces (the
 * green slot is kept, but its gate result is forgotten: it was measured
 * against another live model). ESTATE when there is nothing to roll back to
 * (no promote yet, or already rolled back). On failure nothing changes.
 */
MLOPS_API mlops_status mlops_deploy_rollback(mlops_deploy *d);

/**
 * Serve `fraction` (in [0, 1], else ERANGE) of requests from the green slot while a
 * candidate is staged. Keyed requests go to green when XXH3_64bits_withSeed(key, hash_seed)
 * / 2^64 < fraction (a key keeps its slot while the fraction does not shrink below
 * it); keyless requests by a shared counter, exactly floor(n * fraction) of the first n.
 */
MLOPS_API mlops_status mlops_deploy_set_canary(mlops_deploy *d, double fraction);

/** Turn shadow mode on (nonzero) or off. */
MLOPS_API mlops_status mlops_deploy_set_shadow(mlops_deploy *d, int on);

/**
 * Predict `n_rows` rows of `n_cols` features (row-major float32) with the model
 * the canary rule picks for `key` (`key_len` bytes; NULL with 0 = keyless).
 * `flags` are the mlops_model_predict() flags. `out` must hold n_rows *
 * output width values (ESHAPE otherwise, nothing written). `*served_by` (may
 * be NULL) receives MLOPS_SLOT_BLUE or MLOPS_SLOT_GREEN on success. In shadow
 * mode a request served by blue is also predicted by green, in chunks into a
 * stack buffer, and only compared. Lock-free and allocation-free
 * (mlops_model_predict's own behaviour aside); safe from any number of threads.
 */
MLOPS_API mlops_status mlops_deploy_predict(mlops_deploy *d, const void *key, size_t key_len, const float *x,
                                            size_t n_rows, size_t n_cols, uint32_t flags, float *out,
                                            size_t out_len, mlops_deploy_slot *served_by);

/**
 * Take a new reference to the model in `slot` into `*out` (free it with
 * mlops_model_free). ENOTFOUND when the slot is empty, EINVAL for a bad slot.
 * Read-only on the deployment (const): the reference counts the model, not `d`.
 */
MLOPS_API mlops_status mlops_deploy_model(const mlops_deploy *d, mlops_deploy_slot slot, mlops_model **out);

/** Counters and state. Counters are cumulative since creation (take differences between snapshots). */
typedef struct mlops_deploy_stats {
    uint64_t requests[2];          /**< successful requests served, by slot (blue, green) */
    uint64_t rows[2];              /**< rows predicted for successful requests, by slot */
    uint64_t errors[2];            /**< failed requests, by the slot that was chosen */
    uint64_t shadow_requests;      /**< requests green shadowed */
    uint64_t shadow_rows;          /**< rows green shadowed */
    uint64_t shadow_disagreements; /**< shadowed rows where some |green - blue| > shadow_tolerance */
    uint64_t shadow_errors;        /**< shadow predictions that failed (never seen by the caller) */
    double shadow_max_abs_diff;    /**< largest |green - blue| seen in shadow mode */
    uint64_t promotions;           /**< successful promotes */
    uint64_t rollbacks;            /**< successful rollbacks */
    uint64_t generation;           /**< configurations published so far (1 after create) */
    double canary_fraction;        /**< current canary fraction */
    int shadow;                    /**< shadow mode on */
    int has_candidate;             /**< green slot occupied */
    int has_rollback;              /**< a rollback target exists */
    int gate_passed;               /**< the staged candidate's last validation passed */
    uint64_t slow_grace_periods;   /**< configuration changes that waited > 1 s for in-flight requests
                                        (each also logged at MLOPS_LOG_WARN) */
} mlops_deploy_stats;

/** Snapshot the counters into `*stats` (each counter read atomically; the set is not one instant). */
MLOPS_API mlops_status mlops_deploy_get_stats(const mlops_deploy *d, mlops_deploy_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* MLOPS_DEPLOY_H */
