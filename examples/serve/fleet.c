/* A fleet of replicas as one service (issue 14):
 *   GET /drift/window  the drift window as a mergeable snapshot (mlops_drift_snapshot_save_buffer),
 *                      behind the admin token when --admin-token-file is set; merge the replicas'
 *                      with `mlops-drift --merge URL...` or mlops.DriftSnapshot
 *   ml_feedback_unknown_total  labels for ids this replica never predicted (answered 404): non-zero
 *                      when the load balancer does not hash X-Request-Id for /predict and /feedback */
#include <string.h>

#include "serve.h"

int serve_fleet_open(server *s) {
    mlops_metrics_family *f = NULL;
    return mlops_metrics_register(s->reg, MLOPS_METRICS_COUNTER, "ml_feedback_unknown_total",
                                  "Labels posted for a prediction id this replica does not hold (404)", NULL,
                                  &f) != MLOPS_OK ||
                   mlops_metrics_series(f, NULL, 0, &s->feedback_unknown) != MLOPS_OK
               ? -1
               : 0;
}

void serve_fleet_feedback_unknown(server *s) { mlops_metrics_counter_inc(s->feedback_unknown, 1.0); }

enum MHD_Result do_drift_window(server *s, struct MHD_Connection *c, request *rq) {
    if (s->admin_auth) {
        unsigned code = serve_bearer_check(c, s->admin_token);
        if (code)
            return send_error(s, c, rq, code, NULL, "/drift/window needs \"Authorization: Bearer <token>\" (%s)",
                              code == MHD_HTTP_UNAUTHORIZED ? "missing" : "wrong token");
    }
    if (!s->drift)
        return send_error(s, c, rq, MHD_HTTP_NOT_FOUND, NULL, "no drift detector: start with --reference R.csv");
    mlops_drift_snapshot *snap = NULL;
    void *data = NULL;
    size_t len = 0;
    mlops_status st = mlops_drift_snapshot_create(s->drift, &snap);
    if (!st) st = mlops_drift_snapshot_save_buffer(snap, &data, &len);
    mlops_drift_snapshot_free(snap);
    if (st)
        return send_error(s, c, rq,
                          st == MLOPS_ESTATE ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR,
                          NULL, "drift window: %s", mlops_last_error());
    return send_body(s, c, rq, MHD_HTTP_OK, "application/octet-stream", data, len, mlops_free, NULL);
}
