/* Latency percentiles over a sliding window of the most recent observations (see
 * include/mlops/router.h). Observing is lock-free: a writer claims a slot with one atomic
 * increment and stores the value's bits atomically; a reader copies the slots, skips the ones
 * never written (NaN), sorts with gsl_sort and interpolates with gsl_stats_quantile_from_sorted_data,
 * which is numpy.percentile's default ("linear") definition. */
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mlops/router.h"

struct mlops_router_latency_window {
    size_t capacity;
    atomic_uint_fast64_t next; /* observations so far; slot of the next is next % capacity */
    _Atomic uint64_t slots[];  /* double bits; NaN = never written */
};

static uint64_t to_bits(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double from_bits(uint64_t b) {
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

mlops_status mlops_router_latency_window_create(size_t capacity, mlops_router_latency_window **out) {
    MLOPS__CHECK_ARG("router", out);
    if (capacity < 1 || capacity > MLOPS_ROUTER_LATENCY_WINDOW_MAX)
        return mlops__fail(MLOPS_EINVAL, "router: latency window: capacity %zu is outside 1..%d", capacity,
                           MLOPS_ROUTER_LATENCY_WINDOW_MAX);
    mlops_router_latency_window *w = malloc(sizeof *w + capacity * sizeof w->slots[0]);
    if (!w) return mlops__fail(MLOPS_ENOMEM, "router: latency window: out of memory (%zu slots)", capacity);
    w->capacity = capacity;
    atomic_init(&w->next, 0);
    for (size_t i = 0; i < capacity; i++)
        atomic_init(&w->slots[i], to_bits(NAN));
    *out = w;
    return MLOPS_OK;
}

void mlops_router_latency_window_free(mlops_router_latency_window *window) { free(window); }

mlops_status mlops_router_latency_window_observe(mlops_router_latency_window *window, double seconds) {
    MLOPS__CHECK_ARG("router", window);
    if (!isfinite(seconds) || seconds < 0.0)
        return mlops__fail(MLOPS_EINVAL, "router: latency window: latency %g is not a finite value >= 0",
                           seconds);
    uint64_t i = atomic_fetch_add_explicit(&window->next, 1, memory_order_relaxed);
    atomic_store_explicit(&window->slots[i % window->capacity], to_bits(seconds), memory_order_relaxed);
    return MLOPS_OK;
}

static mlops_status check_quantiles(const double *q, size_t n_q, const double *out) {
    MLOPS__FAIL_IF(!q || !out || n_q == 0, MLOPS_EINVAL,
                   "router: latency window: NULL or empty quantile arrays");
    for (size_t i = 0; i < n_q; i++)
        if (!(q[i] >= 0.0 && q[i] <= 1.0))
            return mlops__fail(MLOPS_EINVAL, "router: latency window: quantile %g is outside [0, 1]", q[i]);
    return MLOPS_OK;
}

mlops_status mlops_router_latency_window_quantiles(const mlops_router_latency_window *window, const double *q,
                                                   size_t n_q, double *out, size_t *n_used) {
    MLOPS__CHECK_ARG("router", window);
    mlops_status st = check_quantiles(q, n_q, out);
    if (st != MLOPS_OK) return st;
    double *v = malloc(window->capacity * sizeof *v);
    if (!v) return mlops__fail(MLOPS_ENOMEM, "router: latency window: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < window->capacity; i++) {
        double x = from_bits(atomic_load_explicit(&window->slots[i], memory_order_relaxed));
        if (!isnan(x)) v[n++] = x;
    }
    if (n == 0) {
        free(v);
        return mlops__fail(MLOPS_ESTATE, "router: latency window: no latency observed yet");
    }
    gsl_sort(v, 1, n);
    for (size_t i = 0; i < n_q; i++)
        out[i] = gsl_stats_quantile_from_sorted_data(v, 1, n, q[i]);
    free(v);
    if (n_used) *n_used = n;
    return MLOPS_OK;
}
