/* Shared between the files of the metrics module. Never installed, never exported. */
#ifndef MLOPS_METRICS_INTERNAL_H
#define MLOPS_METRICS_INTERNAL_H

#include "mlops/metrics.h"

/* Format `v` as Prometheus does (NaN, +Inf, -Inf, shortest round-trip decimal) into `out`
 * (at least 32 bytes); returns the length. The caller must be in the C locale (renders are). */
size_t mlops__metrics_fmt_double(char *out, double v);

/* Validation helpers (1 = valid). */
int mlops__metrics_valid_metric_name(const char *s);
int mlops__metrics_valid_label_name(const char *s);
int mlops__metrics_valid_utf8(const char *s);

/* Reserve names written by a built-in collector so that no family can take them (EEXIST on clash). */
mlops_status mlops__metrics_reserve(mlops_metrics *reg, const char *const *names, size_t n);
/* Hand a standard-metrics set to the registry, which frees it with mlops__metrics_std_free(). */
mlops_status mlops__metrics_add_std(mlops_metrics *reg, mlops_metrics_std *std);
void mlops__metrics_std_free(mlops_metrics_std *std);
/* The registry's latency buckets (mlops_metrics_opts.latency_buckets or the library default), owned
 * by the registry and constant for its lifetime. */
const double *mlops__metrics_latency_buckets(const mlops_metrics *reg, size_t *n);

/* Attachments (attach_*.c, built only when the monitor / drift modules are): the std collector
 * calls `fn(writer, prefix, obj)` at every render while attached. */
typedef mlops_status (*mlops__metrics_attach_fn)(mlops_metrics_writer *w, const char *prefix, void *obj);
#define MLOPS__METRICS_SLOT_MONITOR 0
#define MLOPS__METRICS_SLOT_DRIFT 1
#define MLOPS__METRICS_N_SLOTS 2
/* Set (obj != NULL) or clear (obj == NULL) an attachment slot. Waits for a render in progress. */
mlops_status mlops__metrics_std_attach(mlops_metrics_std *std, int slot, mlops__metrics_attach_fn fn,
                                       void *obj);

/* Re-entry guard. A thread running a render's collectors holds locks that renders, collector
 * changes and std updates need; those calls made from inside (a collector, or a monitor alert
 * callback a collector triggers) would deadlock, so they check mlops__metrics_busy() and return
 * MLOPS_EBUSY. enter/leave bracket the section that holds `obj`'s lock on this thread. */
void mlops__metrics_enter(const void *obj);
void mlops__metrics_leave(void);
mlops_status mlops__metrics_busy(const void *obj, const char *what);

#endif
