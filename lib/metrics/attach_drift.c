/* Standard metrics read from an attached drift detector at render time. Built with the drift module. */
#include <stdio.h>

#include "internal.h"
#include "metrics_internal.h"
#include "mlops/drift.h"
#include "mlops/metrics.h"

#define NAME_LEN 280

static mlops_status drift_collect(mlops_metrics_writer *w, const char *prefix, void *obj) {
    const mlops_drift *d = obj;
    size_t n = mlops_drift_n_features(d);
    mlops_drift_feature_result *res = n ? mlops__calloc(n, sizeof *res) : NULL;
    if (n && !res) return mlops__fail(MLOPS_ENOMEM, "metrics: drift report: out of memory");
    mlops_drift_summary sum;
    mlops__error_saved saved;
    mlops__error_save(&saved);
    mlops_status st = mlops_drift_report(d, res, n, &sum);
    if (st == MLOPS_ESTATE) { /* reference not complete yet: nothing to show */
        mlops__free(res);
        mlops__error_restore(&saved);
        return MLOPS_OK;
    }
    char name[NAME_LEN];
    static const char *const label[] = {"feature"};
    if (!st) {
        snprintf(name, sizeof name, "%s_data_drift_score", prefix);
        st = mlops_metrics_writer_family(w, MLOPS_METRICS_GAUGE, name,
                                         "Mean KS statistic over the numeric features (drift score).", NULL,
                                         0);
    }
    if (!st) st = mlops_metrics_writer_sample(w, NULL, 0, sum.mean_statistic);
    /* how much data the score stands on: alerts require a minimum (a few rows drift by chance) */
    if (!st) {
        snprintf(name, sizeof name, "%s_data_drift_window_rows", prefix);
        st = mlops_metrics_writer_family(w, MLOPS_METRICS_GAUGE, name,
                                         "Rows in the drift detector's current window (the drift score's sample).",
                                         NULL, 0);
    }
    if (!st) st = mlops_metrics_writer_sample(w, NULL, 0, (double)sum.n_rows);
    for (int pass = 0; pass < 2 && !st; pass++) {
        snprintf(name, sizeof name, pass ? "%s_feature_drift_detected" : "%s_feature_drift_statistic",
                 prefix);
        st = mlops_metrics_writer_family(w, MLOPS_METRICS_GAUGE, name,
                                         pass ? "1 if the feature's adjusted p-value is below the threshold."
                                              : "Per-feature drift test statistic (KS or chi-square).",
                                         label, 1);
        for (size_t i = 0; i < n && !st; i++) {
            const char *fname = mlops_drift_feature_name(d, i);
            if (!fname) continue;
            st = mlops_metrics_writer_sample(w, &fname, 1,
                                             pass ? (double)(res[i].drift != 0) : res[i].statistic);
        }
    }
    mlops__free(res);
    return st;
}

mlops_status mlops_metrics_attach_drift(mlops_metrics_std *std, mlops_drift *drift) {
    MLOPS__CHECK_ARG("metrics", std);
    return mlops__metrics_std_attach(std, MLOPS__METRICS_SLOT_DRIFT, drift_collect, drift);
}
