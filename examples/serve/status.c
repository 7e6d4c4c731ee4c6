/* The GET endpoints: metrics, health, readiness, model metadata, drift report, monitor. */
#include <stdlib.h>
#include <string.h>

#include "serve.h"

enum MHD_Result do_metrics(server *s, struct MHD_Connection *c, request *rq) {
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    mlops_metrics_format fmt = accept && strstr(accept, "application/openmetrics-text")
                                   ? MLOPS_METRICS_OPENMETRICS
                                   : MLOPS_METRICS_PROMETHEUS;
    char *text = NULL;
    size_t len = 0;
    if (mlops_metrics_render_alloc(s->reg, fmt, &text, &len) != MLOPS_OK)
        return send_error(s, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "metrics: %s", mlops_last_error());
    /* count this scrape before the text is sent, as every other request is counted after */
    return send_body(s, c, rq, MHD_HTTP_OK, mlops_metrics_content_type(fmt), text, len, mlops_free, NULL);
}

static json_t *metrics_json(const mlops_monitor_metrics *m) {
    json_t *o = json_object();
    for (int i = 0; o && i < MLOPS_METRIC_N; i++)
        if (m->has & (1ull << i))
            json_object_set_new(o, mlops_metric_name((mlops_metric)i),
                                i == MLOPS_METRIC_COUNT
                                    ? json_integer((json_int_t)m->count)
                                    : jnum(mlops_monitor_metrics_value(m, (mlops_metric)i)));
    return o;
}

enum MHD_Result do_monitor(server *s, struct MHD_Connection *c, request *rq) {
    if (!s->monitor) return send_error(s, c, rq, MHD_HTTP_NOT_FOUND, NULL, "no monitor: %s", s->monitor_why);
    mlops_monitor_metrics win = {.version = MLOPS_MONITOR_METRICS_VERSION};
    mlops_monitor_metrics life = {.version = MLOPS_MONITOR_METRICS_VERSION};
    mlops_monitor_stats stats = {.version = MLOPS_MONITOR_STATS_VERSION};
    mlops_monitor_opts opts;
    if (mlops_monitor_compute_metrics(s->monitor, &win) != MLOPS_OK ||
        mlops_monitor_get_lifetime(s->monitor, &life) != MLOPS_OK ||
        mlops_monitor_get_stats(s->monitor, &stats) != MLOPS_OK ||
        mlops_monitor_get_opts(s->monitor, &opts) != MLOPS_OK)
        return send_error(s, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "monitor: %s", mlops_last_error());
    static const char *const tasks[] = {"regression", "binary", "multiclass"};
    json_t *doc = json_pack(
        "{s:s, s:I, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I}}", "task",
        (unsigned)opts.task < 3 ? tasks[opts.task] : "unknown", "window_size", (json_int_t)opts.window,
        "window", metrics_json(&win), "lifetime", metrics_json(&life), "stats", "recorded",
        (json_int_t)stats.recorded, "window_count", (json_int_t)stats.window_count, "pending",
        (json_int_t)stats.pending, "matched", (json_int_t)stats.matched, "evicted_ttl",
        (json_int_t)stats.evicted_ttl, "evicted_capacity", (json_int_t)stats.evicted_capacity);
    return send_json(s, c, rq, MHD_HTTP_OK, doc, NULL);
}

enum MHD_Result do_drift(server *s, struct MHD_Connection *c, request *rq) {
    if (!s->drift)
        return send_error(s, c, rq, MHD_HTTP_NOT_FOUND, NULL,
                          "no drift detector: start with --reference R.csv");
    char *text = NULL;
    mlops_status st = mlops_drift_report_json(s->drift, &text);
    if (st != MLOPS_OK)
        return send_error(s, c, rq,
                          st == MLOPS_ESTATE ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR,
                          NULL, "drift: %s", mlops_last_error());
    return send_body(s, c, rq, MHD_HTTP_OK, "application/json", text, strlen(text), mlops_free, NULL);
}

enum MHD_Result do_health(server *s, struct MHD_Connection *c, request *rq) {
    if (rq->route == R_HEALTHZ) {
        static char okb[] = "ok\n";
        return send_body(s, c, rq, MHD_HTTP_OK, "text/plain; charset=utf-8", okb, 3, NULL, NULL);
    }
    /* the body the usual Python service answers, plus what an operator wants at a glance */
    int loaded = atomic_load(&s->loaded) != 0; /* the model's fields are only read once it is set */
    json_t *doc = json_pack("{s:s, s:b, s:s?, s:b}", "status", loaded ? "healthy" : "loading", "model_loaded",
                            loaded, "model", loaded ? s->model_name : NULL, "ready", atomic_load(&s->ready) != 0);
    return send_json(s, c, rq, MHD_HTTP_OK, doc, NULL);
}

enum MHD_Result do_ready(server *s, struct MHD_Connection *c, request *rq) {
    int ready = atomic_load(&s->ready) != 0;
    json_t *doc = json_pack("{s:b}", "ready", ready);
    return send_json(s, c, rq, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, doc, NULL);
}

enum MHD_Result do_model(server *s, struct MHD_Connection *c, request *rq) {
    if (!s->registry)
        return send_body(s, c, rq, MHD_HTTP_OK, "application/json", s->model_json, strlen(s->model_json),
                         NULL, NULL);
    /* with a registry the live version changes: the static part plus the current versions */
    json_t *doc = json_loads(s->model_json, 0, NULL);
    if (doc) {
        json_object_set_new(doc, "model_version",
                            json_integer((json_int_t)atomic_load(&s->slot_version[MLOPS_SLOT_BLUE])));
        json_object_set_new(doc, "registry", json_string(s->opts->registry));
        json_object_set_new(doc, "alias", json_string(s->opts->alias));
    }
    return send_json(s, c, rq, MHD_HTTP_OK, doc, NULL);
}

char *serve_model_json(const server *s) {
    const mlops_model *m = s->model;
    json_t *feats = json_array();
    for (size_t j = 0; feats && j < s->n_feat; j++)
        json_array_append_new(feats,
                              json_pack("{s:s, s:s, s:s}", "name", mlops_model_feature_name(m, j), "type",
                                        mlops_feature_type_name(mlops_schema_feature_type(s->schema, j)),
                                        "model_type", mlops_model_feature_type(m, j)));
    json_t *doc = json_pack(
        "{s:s, s:o, s:I, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:b, s:b}", "model", s->model_name,
        "features", feats, "n_features", (json_int_t)s->n_feat, "objective", mlops_model_objective(m), "task",
        mlops_task_name(mlops_model_task(m)), "booster", mlops_model_booster(m), "rounds",
        (json_int_t)mlops_model_n_rounds(m), "n_outputs", (json_int_t)s->width, "n_classes",
        (json_int_t)mlops_model_n_classes(m), "engine", mlops_engine_name(mlops_model_engine(m)), "libmlops",
        mlops_version_string(), "monitor", s->monitor != NULL, "drift", s->drift != NULL);
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}
