/* Standard metrics fed from a model: model info and a timed predict. Built with the model module. */
#include <time.h>

#include "internal.h"
#include "metrics_internal.h"
#include "mlops/metrics.h"
#include "mlops/model.h"

mlops_status mlops_metrics_std_set_model(mlops_metrics_std *std, const mlops_model *model, const char *name,
                                         const char *version) {
    MLOPS__CHECK_ARG("metrics", std);
    MLOPS__CHECK_ARG("metrics", model);
    return mlops_metrics_std_set_model_info(std, name ? name : "", version ? version : "",
                                            mlops_model_objective(model),
                                            mlops_engine_name(mlops_model_engine(model)));
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

mlops_status mlops_metrics_std_predict(mlops_metrics_std *std, const mlops_model *model, const float *x,
                                       size_t n_rows, size_t n_cols, uint32_t flags, float *out,
                                       size_t out_len) {
    MLOPS__CHECK_ARG("metrics", std);
    double t0 = now_seconds();
    mlops_status st = mlops_model_predict(model, x, n_rows, n_cols, flags, out, out_len);
    double dt = now_seconds() - t0;
    mlops_metrics_std_observe_predict(std, n_rows, dt < 0 ? 0 : dt, st);
    return st;
}
