/* Standard metrics read from an attached monitor at render time. Built with the monitor module. */
#include <math.h>
#include <stdio.h>

#include "internal.h"
#include "metrics_internal.h"
#include "mlops/metrics.h"
#include "mlops/monitor.h"

#define NAME_MAX_ 280

/* One counter family with one unlabelled sample. */
static mlops_status counter1(mlops_metrics_writer *w, const char *prefix, const char *what, const char *help,
                             double v) {
    char name[NAME_MAX_];
    snprintf(name, sizeof name, "%s_model_%s_total", prefix, what);
    mlops_status st = mlops_metrics_writer_family(w, MLOPS_METRICS_COUNTER, name, help, NULL, 0);
    return st ? st : mlops_metrics_writer_sample(w, NULL, 0, v);
}

/* Per-class labelled and correct counters, {class="k"}. */
static mlops_status class_counters(mlops_metrics_writer *w, const char *prefix, mlops_monitor *mon, unsigned K) {
    static const char *const label[] = {"class"};
    static const char *const what[2] = {"class_labelled", "class_correct"};
    static const char *const help[2] = {"Labelled predictions by true class over the monitor's lifetime.",
                                        "Correct predictions by true class over the monitor's lifetime."};
    char name[NAME_MAX_], cls[16];
    mlops_status st = MLOPS_OK;
    for (int which = 0; which < 2 && !st; which++) {
        snprintf(name, sizeof name, "%s_model_%s_total", prefix, what[which]);
        st = mlops_metrics_writer_family(w, MLOPS_METRICS_COUNTER, name, help[which], label, 1);
        for (unsigned k = 0; k < K && !st; k++) {
            uint64_t lab, ok;
            const char *v = cls;
            snprintf(cls, sizeof cls, "%u", k);
            st = mlops_monitor_get_class_totals(mon, k, &lab, &ok);
            if (!st) st = mlops_metrics_writer_sample(w, &v, 1, (double)(which ? ok : lab));
        }
    }
    return st;
}

/* Counters that add up across replicas: fleet quality is sum(increase(correct)) / sum(increase(labelled)). */
static mlops_status fleet_counters(mlops_metrics_writer *w, const char *prefix, mlops_monitor *mon) {
    mlops_monitor_totals t = {.version = MLOPS_MONITOR_TOTALS_VERSION};
    mlops_status st = mlops_monitor_get_totals(mon, &t);
    if (!st) st = counter1(w, prefix, "labelled", "Predictions matched with their label.", (double)t.labelled);
    if (!st)
        st = counter1(w, prefix, "correct",
                      "Correct labelled predictions (regression: error below the tolerance).", (double)t.correct);
    if (!st && t.n_classes) {
        st = counter1(w, prefix, "log_loss", "Sum of the log losses of labelled predictions.", t.log_loss);
        if (!st) st = class_counters(w, prefix, mon, t.n_classes);
    } else if (!st) {
        st = counter1(w, prefix, "squared_error", "Sum of squared errors of labelled predictions.",
                      t.squared_error);
        if (!st)
            st = counter1(w, prefix, "absolute_error", "Sum of absolute errors of labelled predictions.",
                          t.absolute_error);
    }
    return st;
}

static mlops_status monitor_collect(mlops_metrics_writer *w, const char *prefix, void *obj) {
    mlops_monitor_metrics m;
    m.version = MLOPS_MONITOR_METRICS_VERSION;
    mlops_status st = mlops_monitor_compute_metrics((mlops_monitor *)obj, &m);
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
    return fleet_counters(w, prefix, (mlops_monitor *)obj);
}

mlops_status mlops_metrics_attach_monitor(mlops_metrics_std *std, mlops_monitor *monitor) {
    MLOPS__CHECK_ARG("metrics", std);
    return mlops__metrics_std_attach(std, MLOPS__METRICS_SLOT_MONITOR, monitor_collect, monitor);
}
