/**
 * @file mlops/router.h
 * @brief A/B traffic split between model variants: sticky assignment, routed predict, per-variant stats.
 *
 * A router holds an ordered list of variants, each a (name, model reference,
 * integer weight). A request is assigned to one variant and predicted by its
 * model.
 *
 * Sticky assignment (the scheme, stable across processes, machines and
 * library versions for a given seed):
 *
 *     h     = XXH3_64bits_withSeed(key, key_len, seed)      (xxHash 0.8, libxxhash)
 *     T     = sum of the weights, W_0 + ... + W_{n-1}
 *     point = floor(h * T / 2^64)                            (exact 64x32-bit product)
 *     variant = the first i with W_0 + ... + W_i > point
 *
 * That is: the key's position u = h / 2^64 in [0, 1) never changes, and
 * variant i owns the slice [C_{i-1} / T, C_i / T) of the unit interval
 * (C_i = W_0 + ... + W_i, in variant order). A key keeps its variant across a
 * weight change, an addition or a removal exactly when its u still falls in
 * the slice of the same variant. Consequences: adding a variant (it is
 * appended) or ramping the LAST variant up or down moves only the keys that
 * must move (those between the new and the old boundary); changing an earlier
 * weight rescales the later slices too. Put the control first and the
 * treatment last. Zero-weight variants receive no traffic but keep their
 * statistics and their place.
 *
 * Requests without a key (key == NULL, key_len == 0) are not sticky: they are
 * spread by a shared counter c through the same mapping with
 * h = c * 0x9E3779B97F4A7C15 (mod 2^64), a golden-ratio sequence, so every run
 * of consecutive unkeyed requests is split close to the weights.
 *
 * Model lifetimes: mlops_router_add_variant() takes its own reference
 * (mlops_model_ref) — the caller may free its handle right away; removing a
 * variant or freeing the router drops that reference only after every request
 * that is using the model has finished. The router never owns a model beyond
 * that reference.
 *
 * Thread safety: a router is safe to share between threads.
 * Variants live in an immutable table that writers (add, set_weight, remove)
 * replace copy-on-write under a writer mutex; readers (assign, predict, stats,
 * find) take a read lock only to copy the table pointer and increment its
 * reference count, then work without any lock. The lock prefers writers, so a
 * writer waits only for the few read sections already running, never for a
 * stream of new readers (bench: tests/router/bench_router.c). The library calls
 * no user code from the router; the last reader of a replaced
 * table frees it. Statistics are relaxed atomic counters. No allocation, I/O or
 * lock is held during a prediction. mlops_router_free() must not race with
 * other calls on the same router.
 *
 * Variant indices refer to the current table: adding appends, set_weight keeps
 * indices, removal shifts the later variants down by one. If another thread
 * may remove variants, resolve an index with mlops_router_get_variant_stats() (which
 * reports the name) promptly, or look variants up by name.
 *
 * Bad input (NULL, an empty or too long name, a duplicate or unknown name, a
 * model whose feature count or output width differs from the other variants',
 * a total weight that overflows, zero total weight at assignment, a wrong
 * n_cols or a too-small output buffer) fails with a status and a message and
 * leaves the router, and its statistics, exactly as they were.
 */
#ifndef MLOPS_ROUTER_H
#define MLOPS_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include "mlops/common.h"
#include "mlops/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An A/B router (opaque, internally synchronized). */
typedef struct mlops_router mlops_router;

/** Layout version of mlops_router_opts: callers set it in `version` (or pass it to the initialiser). */
#define MLOPS_ROUTER_OPTS_VERSION 1u
/** Bytes of a variant name including its terminating NUL (names have at most 63 bytes). */
#define MLOPS_ROUTER_NAME_MAX 64
/** Most variants one router holds. */
#define MLOPS_ROUTER_MAX_VARIANTS 256

/** Router options. Initialise with MLOPS_ROUTER_OPTS_INIT or mlops_router_opts_init(opts,
 * MLOPS_ROUTER_OPTS_VERSION). */
typedef struct mlops_router_opts {
    unsigned version; /**< MLOPS_ROUTER_OPTS_VERSION */
    uint64_t seed; /**< XXH3 seed (the experiment's salt); default 0. Another seed = an independent split. */
} mlops_router_opts;

/** Initialiser of mlops_router_opts with the defaults and the current version. */
#define MLOPS_ROUTER_OPTS_INIT                                                                               \
    { MLOPS_ROUTER_OPTS_VERSION, 0 }

/**
 * Fill `opts` with the defaults and stamp `version`, which the caller passes as
 * MLOPS_ROUTER_OPTS_VERSION (the layout it was compiled against; a constructor rejects an
 * unknown version with MLOPS_EVERSION). For bindings that cannot expand macros.
 * NULL is a no-op. Thread safety: writes only `*opts`.
 */
MLOPS_API void mlops_router_opts_init(mlops_router_opts *opts, unsigned version);

/** Statistics of one variant, a snapshot taken by mlops_router_get_variant_stats(). */
typedef struct mlops_variant_stats {
    char name[MLOPS_ROUTER_NAME_MAX]; /**< NUL-terminated variant name */
    uint32_t weight;                  /**< current weight */
    uint64_t assignments;             /**< mlops_router_assign() calls that chose this variant */
    uint64_t requests;                /**< mlops_router_predict() calls routed here (successful or not) */
    uint64_t rows;                    /**< rows predicted successfully */
    uint64_t errors;                  /**< routed predictions that the model failed */
    uint64_t latency_ns;              /**< sum of the model's predict time over successful requests, ns */
} mlops_variant_stats;

/**
 * Create an empty router. `opts` may be NULL for defaults; a version other
 * than MLOPS_ROUTER_OPTS_VERSION is MLOPS_EVERSION. On success `*out` is the
 * caller's, to release with mlops_router_free().
 */
MLOPS_API mlops_status mlops_router_create(const mlops_router_opts *opts, mlops_router **out);

/** Free the router and drop its model references. NULL is a no-op. Must not race with other calls. */
MLOPS_API void mlops_router_free(mlops_router *router);

/**
 * Append a variant `name` served by `model` with `weight`. The router takes
 * its own reference to `model`. Fails with MLOPS_EEXIST for a name already
 * present, MLOPS_EINVAL for NULL or an empty name, MLOPS_ELIMIT for a name of
 * MLOPS_ROUTER_NAME_MAX bytes or more or a router already holding
 * MLOPS_ROUTER_MAX_VARIANTS, MLOPS_ESHAPE when the model's feature count or
 * output widths differ from the existing variants', MLOPS_ERANGE when the
 * total weight would exceed UINT32_MAX. Thread-safe.
 */
MLOPS_API mlops_status mlops_router_add_variant(mlops_router *router, const char *name, mlops_model *model,
                                                uint32_t weight);

/** Change the weight of variant `name` (MLOPS_ENOTFOUND if absent, MLOPS_ERANGE on overflow). Thread-safe. */
MLOPS_API mlops_status mlops_router_set_weight(mlops_router *router, const char *name, uint32_t weight);

/**
 * Remove variant `name` (MLOPS_ENOTFOUND if absent). Its model reference is
 * dropped once no request uses it; later variants shift down one index.
 * Thread-safe.
 */
MLOPS_API mlops_status mlops_router_remove_variant(mlops_router *router, const char *name);

/** Number of variants (0 for NULL). Thread-safe. */
MLOPS_API size_t mlops_router_n_variants(const mlops_router *router);

/** Index of variant `name` in `*index`; MLOPS_ENOTFOUND if absent. Thread-safe. */
MLOPS_API mlops_status mlops_router_find(const mlops_router *router, const char *name, size_t *index);

/** Features per row every variant takes (0 while the router is empty or NULL). Thread-safe. */
MLOPS_API size_t mlops_router_n_features(const mlops_router *router);

/** Values per row of every variant's output for predict `flags` (0 while empty or NULL). Thread-safe. */
MLOPS_API size_t mlops_router_output_width(const mlops_router *router, uint32_t flags);

/** XXH3_64bits_withSeed(key, key_len, seed): the hash sticky assignment uses. NULL key with length 0 is "".
 */
MLOPS_API uint64_t mlops_router_key_hash(const void *key, size_t key_len, uint64_t seed);

/**
 * Assign a request to a variant: `*variant` = its index (see the scheme
 * above). `key` (any bytes, e.g. a user id) makes the assignment sticky;
 * key == NULL with key_len == 0 is an unkeyed request. MLOPS_ESTATE when the
 * total weight is 0 (including an empty router). Counts an assignment in the
 * variant's statistics. Lock-free apart from copying the table pointer.
 */
MLOPS_API mlops_status mlops_router_assign(mlops_router *router, const void *key, size_t key_len,
                                           size_t *variant);

/**
 * Assign as mlops_router_assign() (without counting an assignment), then
 * predict with the chosen variant's model exactly as mlops_model_predict().
 * `n_cols` must equal mlops_router_n_features() and `out_len` must hold
 * n_rows * mlops_router_output_width(flags) values (else MLOPS_ESHAPE);
 * `flags` is 0 or MLOPS_PREDICT_MARGIN. Input errors are detected before a
 * variant is chosen and leave the statistics unchanged; a failure of the
 * model itself is counted as an error of the variant and its status
 * returned. `*variant` (optional, may be NULL) receives the chosen index,
 * also when the model fails. The model stays alive for the whole call even if
 * the variant is removed meanwhile. No allocation on this path.
 */
MLOPS_API mlops_status mlops_router_predict(mlops_router *router, const void *key, size_t key_len,
                                            const float *x, size_t n_rows, size_t n_cols, uint32_t flags,
                                            float *out, size_t out_len, size_t *variant);

/** Snapshot of variant `index`'s name, weight and counters; MLOPS_ERANGE if index >= n_variants. Thread-safe.
 */
MLOPS_API mlops_status mlops_router_get_variant_stats(const mlops_router *router, size_t index,
                                                      mlops_variant_stats *stats);

/* ---- A/B significance tests (lib/router/abtest.c) ------------------------------------------------
 * Two tests an A/B report needs, from summary statistics a server keeps as counters (so they can
 * be summed across replicas first). Both compare sample a with sample b, two-sided, and report
 * the statistic with the sign of a - b. Distributions are GSL's (gsl_cdf_ugaussian_Q,
 * gsl_cdf_tdist_Q). Pure functions: thread-safe, no allocation. */

/** Result of a two-sample test. */
typedef struct mlops_ab_test {
    double statistic; /**< z or t, with the sign of (a - b) */
    double p_value;   /**< two-sided */
    double df;        /**< degrees of freedom (Welch-Satterthwaite); 0 for the z-test */
} mlops_ab_test;

/**
 * Pooled two-proportion z-test: successes_a of n_a against successes_b of n_b.
 * z = (p_a - p_b) / sqrt(p (1 - p) (1/n_a + 1/n_b)) with p = (successes_a + successes_b) / (n_a + n_b),
 * p-value 2 Q(|z|) — as statsmodels' proportions_ztest(alternative="two-sided").
 * MLOPS_EINVAL for NULL `out`, n_a or n_b of 0, or successes above their n; MLOPS_ESTATE when the
 * pooled proportion is 0 or 1 (every trial failed, or every one succeeded: the test is undefined).
 * `*out` is written only on success.
 */
MLOPS_API mlops_status mlops_ab_proportions_ztest(uint64_t successes_a, uint64_t n_a, uint64_t successes_b,
                                                  uint64_t n_b, mlops_ab_test *out);

/**
 * Welch's unequal-variances t-test from each sample's mean, unbiased variance (ddof 1) and size —
 * as scipy.stats.ttest_ind_from_stats(mean_a, sqrt(var_a), n_a, mean_b, sqrt(var_b), n_b,
 * equal_var=False). MLOPS_EINVAL for NULL `out`, n below 2, a variance that is negative, NaN or
 * infinite, or a mean that is not finite; MLOPS_ESTATE when both variances are 0 (the test is
 * undefined). `*out` is written only on success.
 */
MLOPS_API mlops_status mlops_ab_welch_ttest(double mean_a, double var_a, uint64_t n_a, double mean_b,
                                            double var_b, uint64_t n_b, mlops_ab_test *out);

/* ---- Latency percentiles (lib/router/latency.c) --------------------------------------------------
 * A sliding window of the most recent `capacity` latencies and its percentiles, for the per-variant
 * p50/p95/p99 an A/B report shows. Exact over the window: a quantile is numpy.percentile's default
 * ("linear") over the values in the window, computed with gsl_sort and
 * gsl_stats_quantile_from_sorted_data. Memory is 8 bytes per slot, fixed at creation. */

/** Largest window capacity mlops_router_latency_window_create() accepts (8 MiB of slots). */
#define MLOPS_ROUTER_LATENCY_WINDOW_MAX (1 << 20)

/** A latency window; opaque. */
typedef struct mlops_router_latency_window mlops_router_latency_window;

/**
 * Create an empty window keeping the last `capacity` observations (1..MLOPS_ROUTER_LATENCY_WINDOW_MAX,
 * else MLOPS_EINVAL; NULL `out` is MLOPS_EINVAL). The caller owns `*out` and releases it with
 * mlops_router_latency_window_free().
 */
MLOPS_API mlops_status mlops_router_latency_window_create(size_t capacity, mlops_router_latency_window **out);

/** Release a window (NULL is a no-op). Must not race with any other call on the same window. */
MLOPS_API void mlops_router_latency_window_free(mlops_router_latency_window *window);

/**
 * Record one latency in seconds, replacing the oldest once the window is full. MLOPS_EINVAL for a
 * NULL window or a latency that is negative, NaN or infinite (the window is then unchanged).
 * Lock-free and allocation-free: safe from any number of threads.
 */
MLOPS_API mlops_status mlops_router_latency_window_observe(mlops_router_latency_window *window,
                                                           double seconds);

/**
 * Percentiles of the values in the window: out[i] = the q[i] quantile (q in [0, 1]) as
 * numpy.percentile(values, 100 * q[i]). `*n_used` (optional) receives how many values were used.
 * MLOPS_EINVAL for NULL window/q/out, n_q of 0 or a q outside [0, 1]; MLOPS_ESTATE when nothing has
 * been observed; MLOPS_ENOMEM. `out` is written only on success. Thread-safe beside observers:
 * a reading taken while others observe sees each slot either before or after its latest write.
 * Allocates a copy of the window (a reporting call, not a hot path).
 */
MLOPS_API mlops_status mlops_router_latency_window_quantiles(const mlops_router_latency_window *window,
                                                             const double *q, size_t n_q, double *out,
                                                             size_t *n_used);

#ifdef __cplusplus
}
#endif

#endif /* MLOPS_ROUTER_H */
