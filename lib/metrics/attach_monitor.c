/* Standard metrics read from an attached monitor at render time. Built with the monitor module. */
#include <math.h>
#include <stdio.h>

#include "internal.h"
#include "metrics_internal.h"
#include "mlops/metrics.h"
#include "mlops/monitor.h"

#define NAME_MAX_ 280

static mlops_status monitor_collect(mlops_metrics_writer *w, const char *prefix, void *obj) {
    mlops_monitor_metrics m;
    m.version = MLOPS_MONITOR_METRICS_VERSION;
    mlops_status st = mlops_monitor_get_metrics((mlops_monitor *)obj, &m);
    if (st) return st;
    char name[NAME_MAX_];
    int acc_id = (m.has >> MLOPS_METRIC_ACCURACY) & 1u             ? MLOPS_METRIC_ACCURACY
                 : (m.has >> MLOPS_METRIC_TOLERANCE_ACCURACY) & 1u ? MLOPS_METRIC_TOLERANCE_ACCURACY
                                                                   : -1;
    if (acc_id >= 0) {
        snprintf(name, sizeof name, "%s_model_accuracy", prefix);
        if ((st = mlops_metrics_writer_family(
                 w, MLOPS_METRICS_GAUGE, name,
                 "Accuracy over the monitor's sliding window (tolerance accuracy for "
                 "regression).",
                 NULL, 0)) ||
            (st = mlops_metrics_writer_sample(w, NULL, 0,
                                              mlops_monitor_metrics_value(&m, (mlops_metric)acc_id))))
            return st;
    }
    snprintf(name, sizeof name, "%s_model_window_metric", prefix);
    static const char *const label[] = {"metric"};
    if ((st = mlops_metrics_writer_family(w, MLOPS_METRICS_GAUGE, name,
                                          "Quality metrics over the monitor's sliding window.", label, 1)))
        return st;
    for (int id = 0; id < MLOPS_METRIC_N; id++) {
        if (!((m.has >> id) & 1u)) continue;
        const char *mn = mlops_metric_name((mlops_metric)id);
        if (!mn) continue;
        if ((st = mlops_metrics_writer_sample(w, &mn, 1, mlops_monitor_metrics_value(&m, (mlops_metric)id))))
            return st;
    }
    return MLOPS_OK;
}

mlops_status mlops_metrics_attach_monitor(mlops_metrics_std *std, mlops_monitor *monitor) {
    MLOPS__CHECK_ARG("metrics", std);
    return mlops__metrics_std_attach(std, MLOPS__METRICS_SLOT_MONITOR, monitor_collect, monitor);
}
