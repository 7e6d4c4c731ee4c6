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

/* Standard sets register several families and reserve the names their collector writes, all or
 * nothing: build each family unpublished (discard frees one that was never published), then publish
 * them with the reserved names and the set in one step. On success the registry owns the families
 * and frees the set with mlops__metrics_std_free(); on failure nothing changed and the caller still
 * owns them. */
mlops_status mlops__metrics_family_build(mlops_metrics *reg, mlops_metrics_type type, const char *name,
                                         const char *help, const mlops_metrics_family_opts *opts,
                                         mlops_metrics_family **out);
void mlops__metrics_family_discard(mlops_metrics_family *f);
mlops_status mlops__metrics_publish_std(mlops_metrics *reg, mlops_metrics_family *const *fams, size_t n_fams,
                                        const char *const *reserved, size_t n_reserved,
                                        mlops_metrics_std *std);
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
