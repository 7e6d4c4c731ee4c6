/* mlops-serve: serve an XGBoost model over HTTP with libmlops and libmicrohttpd.
 *
 *   mlops-serve --model M [--schema S.json] [--reference R.csv] [--bind 127.0.0.1] [--port 8080]
 *               [--threads 4] [--max-body 1048576] [--window 1000] [--state-dir DIR]
 *               [--checkpoint SECONDS] [--engine auto|native|xgboost]
 *
 * Endpoints
 *   POST /predict   {"features": {name: value}} or an array of such objects (the schema's named
 *                   rows; without --schema the schema derived from the model). 200 {"predictions",
 *                   "model", "engine"}: one number per row, or an array per row for multi-output
 *                   models. Some rows invalid: 422 with null for those rows and "violations"
 *                   [{"row", "feature", "kind", "message"}] (rows numbered from 0 in the request).
 *                   Malformed JSON 400 (message with line and column), body over --max-body 413.
 *                   Header X-Request-Id (single-row requests) keeps the prediction in the monitor
 *                   until its label arrives at /feedback (a pending id used again: 409).
 *   POST /feedback  {"id": "...", "label": 1}: the label of a prediction made with X-Request-Id;
 *                   404 for an unknown (or expired) id.
 *   GET  /metrics   Prometheus text format 0.0.4, or OpenMetrics 1.0 when Accept asks for
 *                   application/openmetrics-text: the standard ml_* metrics, the monitor's window
 *                   metrics, the drift scores (with --reference) and ml_http_requests_total.
 *   GET  /healthz   200 "ok".
 *   GET  /model     model metadata (features, objective, task, rounds, engine, ...).
 *   GET  /drift     the drift report (mlops_drift_report_json); 404 without --reference.
 *   GET  /monitor   window and lifetime quality metrics and counters of the monitor.
 * Other paths 404, other methods 405 (with Allow).
 *
 * Drift: with --reference, the detector's features are the model's numeric features (float or
 * int in the schema), its reference those columns of R.csv, and every valid predicted row enters
 * its window (size --window); for single-output models the predictions are tested too, against
 * the model's predictions on the reference rows.
 *
 * SIGINT or SIGTERM stops the server: requests in progress finish, then, with --state-dir, the
 * monitor and the drift detector are saved to DIR/monitor.state and DIR/drift.state (each
 * written atomically: temporary file, fsync, rename) and restored from there at the next start.
 * --checkpoint N also saves them every N seconds.
 *
 * Exit status: 0 after a clean stop, 1 if the state could not be saved, 2 usage or start-up error. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli_util.h"
#include "mlops.h"

static const char *prog = "mlops-serve";

#define MAX_ID_BYTES 1024   /* the monitor's limit for request ids */
#define MAX_VIOLATIONS 1000 /* violations listed in one 422 response; the rest are counted */
#define MIN_ROW_BYTES 15    /* strlen("{\"features\":{}}"): no row is shorter */

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s --model MODEL [--schema SCHEMA.json] [--reference R.csv] [--bind 127.0.0.1]\n"
            "       [--port 8080] [--threads 4] [--max-body 1048576] [--window 1000] [--state-dir DIR]\n"
            "       [--checkpoint SECONDS] [--engine auto|native|xgboost]\n"
            "  POST /predict, POST /feedback, GET /metrics /healthz /model /drift /monitor\n"
            "  --port 0 picks a free port (printed on stderr at start)\n",
            prog);
}

/* ---------------------------------------------------------------------------------------------- */

enum route { R_NONE, R_PREDICT, R_FEEDBACK, R_METRICS, R_HEALTHZ, R_MODEL, R_DRIFT, R_MONITOR };
static const char *const route_names[] = {"other",   "predict", "feedback", "metrics",
                                          "healthz", "model",   "drift",    "monitor"};

typedef struct server {
    mlops_model *model;
    const char *model_name;
    mlops_schema *schema;
    size_t n_feat, width;
    mlops_monitor *monitor; /* NULL when the model's output cannot be monitored */
    const char *monitor_why;
    mlops_drift *drift; /* NULL without --reference (and no saved state) */
    size_t n_drift;
    size_t *drift_idx; /* model feature index of each drift feature */
    const char **drift_names;
    mlops_metrics *reg;
    mlops_metrics_std *std;
    mlops_metrics_family *http;
    size_t max_body;
    char *model_json; /* GET /model, built once */
} server;

typedef struct request {
    enum route route;
    char *body;
    size_t len, cap;
    int too_large;
    int responded;
} request;

/* ---- responses ------------------------------------------------------------------------------- */

static void count_http(server *s, enum route r, unsigned code) {
    char codes[8];
    snprintf(codes, sizeof codes, "%u", code);
    const char *labels[2] = {route_names[r], codes};
    mlops_counter_inc_labels(s->http, labels, 2, 1.0); /* best effort: a full family only loses a count */
}

/* Queue `body` (freed with `free_fn`, or static when free_fn is NULL). */
static enum MHD_Result send_body(server *s, struct MHD_Connection *c, request *rq, unsigned code,
                                 const char *ctype, char *body, size_t len, void (*free_fn)(void *),
                                 const char *allow) {
    struct MHD_Response *resp = free_fn
                                    ? MHD_create_response_from_buffer_with_free_callback(len, body, free_fn)
                                    : MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (free_fn) free_fn(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (allow) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(c, code, resp);
    MHD_destroy_response(resp);
    rq->responded = 1;
    count_http(s, rq->route, code);
    return ret;
}

static enum MHD_Result send_json(server *s, struct MHD_Connection *c, request *rq, unsigned code, json_t *doc,
                                 const char *allow) {
    char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (!text) {
        static char oom[] = "{\"error\":\"out of memory\"}";
        return send_body(s, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json", oom, strlen(oom), NULL,
                         NULL);
    }
    return send_body(s, c, rq, code, "application/json", text, strlen(text), free, allow);
}

static enum MHD_Result send_error(server *s, struct MHD_Connection *c, request *rq, unsigned code,
                                  const char *allow, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *doc = json_object();
    json_t *m = json_string(msg);
    if (!m) m = json_string("(message is not valid UTF-8)");
    if (doc)
        json_object_set_new(doc, "error", m);
    else
        json_decref(m);
    return send_json(s, c, rq, code, doc, allow);
}

/* A double for JSON: jansson has no NaN or infinity, they become null. */
static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* ---- POST /predict --------------------------------------------------------------------------- */

static json_t *prediction_json(const server *s, const float *p) {
    if (s->width == 1) return jnum(p[0]);
    json_t *a = json_array();
    for (size_t k = 0; a && k < s->width; k++)
        json_array_append_new(a, jnum(p[k]));
    return a;
}

static enum MHD_Result do_predict(server *s, struct MHD_Connection *c, request *rq) {
    const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (id && (!*id || strlen(id) > MAX_ID_BYTES))
        return send_error(s, c, rq, MHD_HTTP_BAD_REQUEST, NULL, "X-Request-Id must have 1 to %d bytes",
                          MAX_ID_BYTES);
    if (id && !s->monitor)
        return send_error(s, c, rq, MHD_HTTP_BAD_REQUEST, NULL, "X-Request-Id: %s", s->monitor_why);
    if (rq->len == 0)
        return send_error(s, c, rq, MHD_HTTP_BAD_REQUEST, NULL, "empty body: expected JSON rows");
    /* Every row is an object {"features": {...}}: at least two '{' and MIN_ROW_BYTES bytes, so
     * this bounds the row count and the memory of the request (proportional to --max-body). */
    size_t braces = 0;
    for (const char *p = rq->body, *end = rq->body + rq->len; (p = memchr(p, '{', (size_t)(end - p))); p++)
        braces++;
    size_t cap = braces / 2 + 1, by_len = rq->len / MIN_ROW_BYTES + 1;
    if (by_len < cap) cap = by_len;
    size_t nf = s->n_feat ? s->n_feat : 1;
    float *x = malloc(cap * nf * sizeof *x), *pred = malloc(cap * s->width * sizeof *pred);
    unsigned char *ok = malloc(cap);
    size_t *pos = malloc(cap * sizeof *pos);
    double *dx = NULL;
    mlops_report *rep = NULL;
    json_t *doc = NULL;
    enum MHD_Result ret;
    if (!x || !pred || !ok || !pos || mlops_report_new(MAX_VIOLATIONS, &rep) != MLOPS_OK) {
        ret = send_error(s, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "out of memory");
        goto done;
    }
    size_t n_rows = 0;
    mlops_status st = mlops_schema_parse_rows(s->schema, rq->body, rq->len, x, cap * nf, ok, &n_rows, rep);
    if (st != MLOPS_OK && st != MLOPS_EVALIDATION) {
        mlops_metrics_std_error(s->std, mlops_metrics_error_reason(st), 1);
        ret =
            send_error(s, c, rq, st == MLOPS_EFORMAT ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_INTERNAL_SERVER_ERROR,
                       NULL, "%s", mlops_last_error());
        goto done;
    }
    if (id && n_rows != 1) {
        ret = send_error(s, c, rq, MHD_HTTP_BAD_REQUEST, NULL,
                         "X-Request-Id needs a request with exactly one row (got %zu)", n_rows);
        goto done;
    }
    /* Valid rows to the front, defaults filled in, one predict call for the batch. */
    size_t n_valid = 0;
    for (size_t r = 0; r < n_rows; r++) {
        if (!ok[r]) continue;
        if (n_valid != r) memmove(x + n_valid * nf, x + r * nf, nf * sizeof *x);
        pos[n_valid++] = r;
    }
    size_t n_invalid = n_rows - n_valid;
    if (n_invalid) mlops_metrics_std_error(s->std, "validation", n_invalid);
    if (n_valid) {
        mlops_schema_impute(s->schema, x, n_valid, s->n_feat);
        st = mlops_metrics_std_predict(s->std, s->model, x, n_valid, s->n_feat, 0, pred, n_valid * s->width);
        if (st != MLOPS_OK) {
            ret =
                send_error(s, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "predict: %s", mlops_last_error());
            goto done;
        }
    }
    unsigned code = n_invalid ? MHD_HTTP_UNPROCESSABLE_CONTENT : MHD_HTTP_OK;
    if (id && n_valid == 1) {
        double *p = malloc(s->width * sizeof *p);
        if (!p) {
            ret = send_error(s, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "out of memory");
            goto done;
        }
        for (size_t k = 0; k < s->width; k++)
            p[k] = pred[k];
        st = mlops_monitor_record_prediction(s->monitor, id, p, s->width);
        free(p);
        if (st == MLOPS_EEXIST) {
            ret = send_error(s, c, rq, MHD_HTTP_CONFLICT, NULL, "%s", mlops_last_error());
            goto done;
        }
        if (st != MLOPS_OK) {
            ret =
                send_error(s, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "monitor: %s", mlops_last_error());
            goto done;
        }
    }
    if (s->drift && n_valid) {
        dx = malloc(n_valid * (s->n_drift > s->width ? s->n_drift : s->width) * sizeof *dx);
        if (dx) {
            for (size_t r = 0; r < n_valid; r++)
                for (size_t j = 0; j < s->n_drift; j++)
                    dx[r * s->n_drift + j] = x[r * nf + s->drift_idx[j]];
            if (mlops_drift_update(s->drift, dx, n_valid, s->n_drift) != MLOPS_OK)
                fprintf(stderr, "%s: drift: %s\n", prog, mlops_last_error());
            if (s->width == 1) {
                for (size_t r = 0; r < n_valid; r++)
                    dx[r] = pred[r];
                mlops_drift_update_predictions(s->drift, dx, n_valid);
            }
        }
    }
    doc = json_object();
    json_t *preds = json_array();
    if (!doc || !preds) {
        json_decref(preds);
        ret = send_error(s, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "out of memory");
        goto done;
    }
    for (size_t r = 0, v = 0; r < n_rows; r++) {
        if (v < n_valid && pos[v] == r)
            json_array_append_new(preds, prediction_json(s, pred + v++ * s->width));
        else
            json_array_append_new(preds, json_null());
    }
    json_object_set_new(doc, "predictions", preds);
    json_object_set_new(doc, "model", json_string(s->model_name));
    json_object_set_new(doc, "engine", json_string(mlops_engine_name(mlops_model_engine(s->model))));
    if (n_invalid) {
        json_t *vs = json_array();
        for (size_t i = 0; vs && i < mlops_report_count(rep); i++) {
            const char *kind = mlops_violation_kind_name(mlops_report_kind(rep, i));
            json_int_t row = (json_int_t)mlops_report_row(rep, i);
            json_t *v =
                json_pack("{s:I, s:s?, s:s, s:s}", "row", row, "feature", mlops_report_feature_name(rep, i),
                          "kind", kind, "message", mlops_report_message(rep, i));
            if (!v) /* a message cut inside a UTF-8 sequence */
                v = json_pack("{s:I, s:n, s:s, s:s}", "row", row, "feature", "kind", kind, "message",
                              "(message is not valid UTF-8)");
            json_array_append_new(vs, v);
        }
        json_object_set_new(doc, "violations", vs);
        json_object_set_new(doc, "invalid_rows", json_integer((json_int_t)n_invalid));
        if (mlops_report_n_omitted(rep))
            json_object_set_new(doc, "violations_omitted",
                                json_integer((json_int_t)mlops_report_n_omitted(rep)));
    }
    ret = send_json(s, c, rq, code, doc, NULL);
    doc = NULL;
done:
    json_decref(doc);
    mlops_report_free(rep);
    free(x);
    free(pred);
    free(ok);
    free(pos);
    free(dx);
    return ret;
}

/* ---- POST /feedback -------------------------------------------------------------------------- */

static enum MHD_Result do_feedback(server *s, struct MHD_Connection *c, request *rq) {
    if (!s->monitor) return send_error(s, c, rq, MHD_HTTP_NOT_FOUND, NULL, "no monitor: %s", s->monitor_why);
    json_error_t err;
    json_t *doc = json_loadb(rq->body ? rq->body : "", rq->len, JSON_REJECT_DUPLICATES, &err);
    if (!doc)
        return send_error(s, c, rq, MHD_HTTP_BAD_REQUEST, NULL, "feedback: line %d, column %d: %s", err.line,
                          err.column, err.text);
    json_t *id = json_object_get(doc, "id"), *label = json_object_get(doc, "label");
    enum MHD_Result ret;
    if (!json_is_object(doc) || !json_is_string(id) || !(json_is_number(label) || json_is_boolean(label))) {
        ret = send_error(s, c, rq, MHD_HTTP_BAD_REQUEST, NULL,
                         "feedback: expected {\"id\": string, \"label\": number}");
    } else {
        double y = json_is_number(label) ? json_number_value(label) : (json_is_true(label) ? 1.0 : 0.0);
        mlops_status st = mlops_monitor_record_label(s->monitor, json_string_value(id), y);
        if (st == MLOPS_OK) {
            json_t *out = json_pack("{s:b, s:O}", "ok", 1, "id", id);
            ret = send_json(s, c, rq, MHD_HTTP_OK, out, NULL);
        } else {
            ret = send_error(s, c, rq, st == MLOPS_ENOTFOUND ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_REQUEST,
                             NULL, "%s", mlops_last_error());
        }
    }
    json_decref(doc);
    return ret;
}

/* ---- GET endpoints --------------------------------------------------------------------------- */

static enum MHD_Result do_metrics(server *s, struct MHD_Connection *c, request *rq) {
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

static enum MHD_Result do_monitor(server *s, struct MHD_Connection *c, request *rq) {
    if (!s->monitor) return send_error(s, c, rq, MHD_HTTP_NOT_FOUND, NULL, "no monitor: %s", s->monitor_why);
    mlops_monitor_metrics win = {.version = MLOPS_MONITOR_METRICS_VERSION};
    mlops_monitor_metrics life = {.version = MLOPS_MONITOR_METRICS_VERSION};
    mlops_monitor_stats stats = {.version = MLOPS_MONITOR_STATS_VERSION};
    mlops_monitor_opts opts;
    if (mlops_monitor_get_metrics(s->monitor, &win) != MLOPS_OK ||
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

static enum MHD_Result do_drift(server *s, struct MHD_Connection *c, request *rq) {
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

/* ---- the access handler ---------------------------------------------------------------------- */

static enum route route_of(const char *url) {
    static const struct {
        const char *path;
        enum route r;
    } table[] = {{"/predict", R_PREDICT}, {"/feedback", R_FEEDBACK}, {"/metrics", R_METRICS},
                 {"/healthz", R_HEALTHZ}, {"/model", R_MODEL},       {"/drift", R_DRIFT},
                 {"/monitor", R_MONITOR}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(url, table[i].path)) return table[i].r;
    return R_NONE;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size,
                              void **con_cls) {
    (void)version;
    server *s = cls;
    request *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq) return MHD_NO;
        *con_cls = rq;
        rq->route = route_of(url);
        int post = rq->route == R_PREDICT || rq->route == R_FEEDBACK;
        if (rq->route == R_NONE)
            return send_error(s, c, rq, MHD_HTTP_NOT_FOUND, NULL, "no such path: %s", url);
        if (post && strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return send_error(s, c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "POST", "%s %s: use POST", method, url);
        if (!post && strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
            return send_error(s, c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "GET, HEAD", "%s %s: use GET", method,
                              url);
        const char *clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (clen) {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(clen, &end, 10);
            if (errno == ERANGE || n > s->max_body)
                return send_error(s, c, rq, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                                  "body of %s bytes is over the limit of %zu (--max-body)", clen,
                                  s->max_body);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->responded || rq->too_large) return MHD_YES;
        if (rq->len + n > s->max_body) { /* chunked uploads have no Content-Length */
            rq->too_large = 1;
            free(rq->body);
            rq->body = NULL;
            rq->len = rq->cap = 0;
            return MHD_YES;
        }
        if (rq->len + n > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 4096;
            while (cap < rq->len + n)
                cap *= 2;
            if (cap > s->max_body) cap = s->max_body;
            char *nb = realloc(rq->body, cap);
            if (!nb) return MHD_NO;
            rq->body = nb;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        return MHD_YES;
    }
    if (rq->responded) return MHD_YES;
    if (rq->too_large)
        return send_error(s, c, rq, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                          "body is over the limit of %zu bytes (--max-body)", s->max_body);
    switch (rq->route) {
    case R_PREDICT:
        return do_predict(s, c, rq);
    case R_FEEDBACK:
        return do_feedback(s, c, rq);
    case R_METRICS:
        return do_metrics(s, c, rq);
    case R_HEALTHZ: {
        static char okb[] = "ok\n";
        return send_body(s, c, rq, MHD_HTTP_OK, "text/plain; charset=utf-8", okb, 3, NULL, NULL);
    }
    case R_MODEL:
        return send_body(s, c, rq, MHD_HTTP_OK, "application/json", s->model_json, strlen(s->model_json),
                         NULL, NULL);
    case R_DRIFT:
        return do_drift(s, c, rq);
    case R_MONITOR:
        return do_monitor(s, c, rq);
    default:
        return send_error(s, c, rq, MHD_HTTP_NOT_FOUND, NULL, "no such path");
    }
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    request *rq = *con_cls;
    if (rq) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    fprintf(stderr, "%s: microhttpd: %s\n", prog, msg);
}

/* ---- start-up -------------------------------------------------------------------------------- */

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static char *build_model_json(const server *s) {
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

/* Drift features: the model's numeric features (float or int in the schema). */
static int drift_features(server *s) {
    s->drift_idx = malloc((s->n_feat ? s->n_feat : 1) * sizeof *s->drift_idx);
    s->drift_names = malloc((s->n_feat ? s->n_feat : 1) * sizeof *s->drift_names);
    if (!s->drift_idx || !s->drift_names) return -1;
    for (size_t j = 0; j < s->n_feat; j++) {
        mlops_feature_type t = mlops_schema_feature_type(s->schema, j);
        if (t == MLOPS_FEATURE_TYPE_FLOAT || t == MLOPS_FEATURE_TYPE_INT) {
            s->drift_idx[s->n_drift] = j;
            s->drift_names[s->n_drift++] = mlops_model_feature_name(s->model, j);
        }
    }
    return 0;
}

static int load_reference(server *s, const char *path, size_t window) {
    cli_csv csv;
    char err[512];
    if (cli_csv_read(path, &csv, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    int rc = -1;
    long *sel = malloc((s->n_feat ? s->n_feat : 1) * sizeof *sel);
    float *x = NULL, *pred = NULL;
    double *d = NULL;
    size_t *ids = NULL, n_rows = 0, n_bad = 0;
    if (!sel) goto done;
    /* all model features, so that the reference rows can be predicted too */
    int missing = 0;
    for (size_t j = 0; j < s->n_feat; j++)
        if ((sel[j] = cli_csv_col(&csv, mlops_model_feature_name(s->model, j))) < 0) {
            fprintf(stderr, "%s: %s has no column \"%s\" (feature %zu of the model)\n", prog, path,
                    mlops_model_feature_name(s->model, j), j);
            missing = 1;
        }
    if (missing) goto done;
    if (cli_csv_matrix(&csv, prog, path, sel, s->n_feat, &x, &n_rows, &ids, &n_bad) != 0) goto done;
    if (n_rows == 0) {
        fprintf(stderr, "%s: %s: no usable reference row\n", prog, path);
        goto done;
    }
    d = malloc(n_rows * (s->n_drift > 1 ? s->n_drift : 1) * sizeof *d);
    if (!d) goto done;
    for (size_t r = 0; r < n_rows; r++)
        for (size_t j = 0; j < s->n_drift; j++)
            d[r * s->n_drift + j] = x[r * s->n_feat + s->drift_idx[j]];
    mlops_drift_opts opts;
    mlops_drift_opts_init(&opts);
    opts.window = window;
    if (mlops_drift_new(s->n_drift, s->drift_names, NULL, &opts, &s->drift) != MLOPS_OK ||
        mlops_drift_set_reference(s->drift, d, n_rows, s->n_drift) != MLOPS_OK) {
        fprintf(stderr, "%s: drift reference %s: %s\n", prog, path, mlops_last_error());
        goto done;
    }
    if (s->width == 1) { /* the prediction distribution's reference */
        pred = malloc(n_rows * sizeof *pred);
        if (!pred || mlops_model_predict(s->model, x, n_rows, s->n_feat, 0, pred, n_rows) != MLOPS_OK) {
            fprintf(stderr, "%s: predicting the reference rows: %s\n", prog, mlops_last_error());
            goto done;
        }
        for (size_t r = 0; r < n_rows; r++)
            d[r] = pred[r];
        if (mlops_drift_set_prediction_reference(s->drift, d, n_rows) != MLOPS_OK) {
            fprintf(stderr, "%s: %s\n", prog, mlops_last_error());
            goto done;
        }
    }
    fprintf(stderr, "%s: drift reference: %zu rows of %s, %zu features%s\n", prog, n_rows, path, s->n_drift,
            n_bad ? " (malformed rows left out)" : "");
    rc = 0;
done:
    free(sel);
    free(x);
    free(pred);
    free(d);
    free(ids);
    cli_csv_free(&csv);
    return rc;
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int restore_state(server *s, const char *dir, const char *mon_path, const char *drift_path) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: --state-dir %s: %s\n", prog, dir, strerror(errno));
        return -1;
    }
    if (s->monitor && file_exists(mon_path)) {
        if (mlops_monitor_restore(s->monitor, mon_path) != MLOPS_OK) {
            fprintf(stderr, "%s: cannot restore %s: %s (move the file away to start afresh)\n", prog,
                    mon_path, mlops_last_error());
            return -1;
        }
        fprintf(stderr, "%s: monitor restored from %s\n", prog, mon_path);
    }
    if (file_exists(drift_path)) {
        mlops_drift *d = NULL;
        if (mlops_drift_load(drift_path, &d) != MLOPS_OK) {
            fprintf(stderr, "%s: cannot restore %s: %s (move the file away to start afresh)\n", prog,
                    drift_path, mlops_last_error());
            return -1;
        }
        int same = mlops_drift_n_features(d) == s->n_drift;
        for (size_t j = 0; same && j < s->n_drift; j++)
            same = !strcmp(mlops_drift_feature_name(d, j), s->drift_names[j]);
        if (!same) {
            fprintf(stderr, "%s: %s: its features are not the model's numeric features (move it away)\n",
                    prog, drift_path);
            mlops_drift_free(d);
            return -1;
        }
        mlops_drift_free(s->drift);
        s->drift = d;
        fprintf(stderr, "%s: drift detector restored from %s\n", prog, drift_path);
    }
    return 0;
}

static int save_state(server *s, const char *mon_path, const char *drift_path) {
    int rc = 0;
    if (s->monitor && mlops_monitor_save(s->monitor, mon_path) != MLOPS_OK) {
        fprintf(stderr, "%s: saving %s: %s\n", prog, mon_path, mlops_last_error());
        rc = -1;
    }
    if (s->drift && mlops_drift_save(s->drift, drift_path) != MLOPS_OK) {
        fprintf(stderr, "%s: saving %s: %s\n", prog, drift_path, mlops_last_error());
        rc = -1;
    }
    return rc;
}

static int parse_size(const char *v, size_t lo, size_t hi, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || *end || errno || *v == '-' || n < lo || n > hi) return -1;
    *out = (size_t)n;
    return 0;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *schema_path = NULL, *ref_path = NULL, *bind = "127.0.0.1",
               *state_dir = NULL;
    const char *engine = "auto";
    size_t port = 8080, threads = 4, max_body = 1048576, window = 1000, checkpoint = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (!v) {
            fprintf(stderr, "%s: %s needs a value\n", prog, a);
            usage(stderr);
            return 2;
        }
        int bad = 0;
        if (!strcmp(a, "--model"))
            model_path = v;
        else if (!strcmp(a, "--schema"))
            schema_path = v;
        else if (!strcmp(a, "--reference"))
            ref_path = v;
        else if (!strcmp(a, "--bind"))
            bind = v;
        else if (!strcmp(a, "--state-dir"))
            state_dir = v;
        else if (!strcmp(a, "--engine"))
            engine = v;
        else if (!strcmp(a, "--port"))
            bad = parse_size(v, 0, 65535, &port);
        else if (!strcmp(a, "--threads"))
            bad = parse_size(v, 1, 256, &threads);
        else if (!strcmp(a, "--max-body"))
            bad = parse_size(v, 16, (size_t)1 << 30, &max_body);
        else if (!strcmp(a, "--window"))
            bad = parse_size(v, 1, (size_t)1 << 24, &window);
        else if (!strcmp(a, "--checkpoint"))
            bad = parse_size(v, 0, 86400 * 365, &checkpoint);
        else
            bad = 1;
        if (bad) {
            fprintf(stderr, "%s: unknown option or bad value: %s %s\n", prog, a, v);
            usage(stderr);
            return 2;
        }
    }
    if (!model_path) {
        fprintf(stderr, "%s: --model is required\n", prog);
        usage(stderr);
        return 2;
    }
    mlops_model_opts mopts;
    mlops_model_opts_init(&mopts);
    if (!strcmp(engine, "native"))
        mopts.engine = MLOPS_ENGINE_NATIVE;
    else if (!strcmp(engine, "xgboost"))
        mopts.engine = MLOPS_ENGINE_XGBOOST;
    else if (strcmp(engine, "auto") != 0) {
        fprintf(stderr, "%s: --engine must be auto, native or xgboost\n", prog);
        return 2;
    }

    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    char port_s[8];
    snprintf(port_s, sizeof port_s, "%zu", port);
    int gai = getaddrinfo(bind, port_s, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "%s: --bind %s: %s (give a numeric IPv4 or IPv6 address)\n", prog, bind,
                gai_strerror(gai));
        return 2;
    }

    server s;
    memset(&s, 0, sizeof s);
    s.max_body = max_body;
    s.model_name = base_name(model_path);
    int rc = 2;
    struct MHD_Daemon *daemon = NULL;
    char mon_path[4096], drift_path[4096];
    if (state_dir) {
        snprintf(mon_path, sizeof mon_path, "%s/monitor.state", state_dir);
        snprintf(drift_path, sizeof drift_path, "%s/drift.state", state_dir);
    }
    if (mlops_model_load(model_path, &mopts, &s.model) != MLOPS_OK) {
        fprintf(stderr, "%s: %s\n", prog, mlops_last_error());
        goto done;
    }
    s.n_feat = mlops_model_n_features(s.model);
    s.width = mlops_model_output_width(s.model, 0);
    if (schema_path ? mlops_schema_load(schema_path, &s.schema) != MLOPS_OK ||
                          mlops_schema_check_model(s.schema, s.model) != MLOPS_OK
                    : mlops_schema_from_model(s.model, &s.schema) != MLOPS_OK) {
        fprintf(stderr, "%s: schema: %s\n", prog, mlops_last_error());
        goto done;
    }
    /* The monitor follows the model's task; multiclass needs the probabilities (multi:softprob). */
    mlops_monitor_opts mon;
    mlops_monitor_opts_init(&mon);
    mon.window = window;
    mlops_task task = mlops_model_task(s.model);
    s.monitor_why = "the model's output cannot be monitored";
    int monitorable = 1;
    if (task == MLOPS_TASK_MULTICLASS) {
        mon.task = MLOPS_MONITOR_MULTICLASS;
        mon.n_classes = (unsigned)mlops_model_n_classes(s.model);
        monitorable = s.width == mon.n_classes && mon.n_classes >= 2;
        if (!monitorable)
            s.monitor_why = "the model outputs class indices, not probabilities (use multi:softprob)";
    } else {
        mon.task = task == MLOPS_TASK_BINARY ? MLOPS_MONITOR_BINARY : MLOPS_MONITOR_REGRESSION;
        monitorable = s.width == 1;
    }
    if (monitorable && mlops_monitor_create(&mon, &s.monitor) != MLOPS_OK) {
        fprintf(stderr, "%s: monitor: %s\n", prog, mlops_last_error());
        goto done;
    }
    if (drift_features(&s) != 0) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    if (ref_path) {
        if (s.n_drift == 0) {
            fprintf(stderr, "%s: --reference: the model has no numeric feature to watch\n", prog);
            goto done;
        }
        if (load_reference(&s, ref_path, window) != 0) goto done;
    }
    if (state_dir && restore_state(&s, state_dir, mon_path, drift_path) != 0) goto done;
    if (mlops_metrics_create(NULL, &s.reg) != MLOPS_OK ||
        mlops_metrics_std_create(s.reg, NULL, &s.std) != MLOPS_OK ||
        mlops_metrics_std_set_model(s.std, s.model, s.model_name, mlops_model_attr(s.model, "version")) !=
            MLOPS_OK ||
        (s.monitor && mlops_metrics_attach_monitor(s.std, s.monitor) != MLOPS_OK) ||
        (s.drift && mlops_metrics_attach_drift(s.std, s.drift) != MLOPS_OK)) {
        fprintf(stderr, "%s: metrics: %s\n", prog, mlops_last_error());
        goto done;
    }
    {
        const char *labels[2] = {"handler", "code"};
        mlops_metrics_family_opts fo;
        mlops_metrics_family_opts_init(&fo);
        fo.label_names = labels;
        fo.n_labels = 2;
        if (mlops_metrics_register(s.reg, MLOPS_METRICS_COUNTER, "ml_http_requests_total",
                                   "HTTP requests answered, by handler and status code", &fo,
                                   &s.http) != MLOPS_OK) {
            fprintf(stderr, "%s: metrics: %s\n", prog, mlops_last_error());
            goto done;
        }
    }
    if (!(s.model_json = build_model_json(&s))) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }

    /* Signals: block them in every thread (the server's threads inherit the mask), wait here. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, &s, MHD_OPTION_EXTERNAL_LOGGER,
                              mhd_log, NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE,
                              (unsigned int)threads, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
                              MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    if (!daemon) {
        fprintf(stderr, "%s: cannot listen on %s port %zu: %s\n", prog, bind, port, strerror(errno));
        goto done;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info ? info->port : (unsigned)port;
    fprintf(stderr, "%s: serving %s (%zu features, %s, engine %s) on http://%s%s%s:%u/ with %zu threads\n",
            prog, s.model_name, s.n_feat, mlops_model_objective(s.model),
            mlops_engine_name(mlops_model_engine(s.model)), ai->ai_family == AF_INET6 ? "[" : "", bind,
            ai->ai_family == AF_INET6 ? "]" : "", bound, threads);
    fflush(stderr);

    int sig = 0;
    for (;;) {
        if (checkpoint && state_dir) {
            struct timespec ts = {(time_t)checkpoint, 0};
            sig = sigtimedwait(&sigs, NULL, &ts);
            if (sig < 0 && errno == EAGAIN) {
                save_state(&s, mon_path, drift_path);
                continue;
            }
        } else {
            if (sigwait(&sigs, &sig) != 0) sig = -1;
        }
        if (sig == SIGINT || sig == SIGTERM) break;
    }
    fprintf(stderr, "%s: %s: stopping\n", prog, sig == SIGINT ? "SIGINT" : "SIGTERM");
    MHD_stop_daemon(daemon); /* waits for the requests in progress */
    daemon = NULL;
    rc = 0;
    if (state_dir) {
        if (save_state(&s, mon_path, drift_path) != 0)
            rc = 1;
        else
            fprintf(stderr, "%s: state saved in %s\n", prog, state_dir);
    }
done:
    if (daemon) MHD_stop_daemon(daemon);
    if (ai) freeaddrinfo(ai);
    mlops_metrics_free(s.reg); /* detaches the monitor and the drift detector first */
    mlops_monitor_free(s.monitor);
    mlops_drift_free(s.drift);
    free(s.drift_idx);
    free(s.drift_names);
    free(s.model_json);
    mlops_schema_free(s.schema);
    mlops_model_free(s.model);
    return rc;
}
