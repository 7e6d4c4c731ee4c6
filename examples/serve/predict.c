/* POST /predict and POST /feedback. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "serve.h"

#define MAX_ID_BYTES SERVE_MAX_ID_BYTES
#define MAX_VIOLATIONS 1000 /* violations listed in one 422 response; the rest are counted */

static json_t *prediction_json(const server *s, const float *p) {
    if (s->width == 1) return jnum(p[0]);
    json_t *a = json_array();
    for (size_t k = 0; a && k < s->width; k++)
        json_array_append_new(a, jnum(p[k]));
    return a;
}

/* ml_predict_stage_duration_seconds{stage}: the time since *t, then *t = now. */
static void stage(server *s, const char *name, double *t) {
    double now = serve_now();
    const char *labels[1] = {name};
    mlops_metrics_histogram_observe_labels(s->stage_duration, labels, 1, now - *t);
    *t = now;
}

/* The body into dense rows, stages parse and validate: the fast path (rows.c) and then the schema's
 * check of those rows, or, for a body the fast path declines, the library's parser, which checks
 * as it parses (its time is all parse). A row the check refuses is read again by the library, whose
 * report words violations for named rows. Returns the library's status. */
static mlops_status read_rows(server *s, const request *rq, float *x, size_t cap, unsigned char *ok,
                              size_t *n_rows, mlops_schema_report *rep, double *t) {
    size_t nf = s->n_feat ? s->n_feat : 1;
    int fast = serve_rows_parse(s->rows, rq->body, rq->len, x, cap, n_rows) == 0;
    mlops_status st =
        fast ? MLOPS_OK : mlops_schema_parse_rows(s->schema, rq->body, rq->len, x, cap * nf, ok, n_rows, rep);
    stage(s, "parse", t);
    if (!fast) return st;
    st = mlops_schema_validate(s->schema, x, *n_rows, nf, ok, rep);
    if (st == MLOPS_EVALIDATION)
        st = mlops_schema_parse_rows(s->schema, rq->body, rq->len, x, cap * nf, ok, n_rows, rep);
    return st;
}

/* 64 random bits from the kernel's generator, drawn KEY_BATCH at a time: one getrandom call per
 * KEY_BATCH requests instead of one each. Thread-local state, on purpose: each libmicrohttpd thread
 * keeps its own unread bits, so no lock is taken and no bits are ever given twice. 0 on failure. */
#define KEY_BATCH 32
static int random_u64(uint64_t *out) {
    static _Thread_local uint64_t batch[KEY_BATCH];
    static _Thread_local size_t left;
    if (!left) {
        if (getrandom(batch, sizeof batch, GRND_NONBLOCK) != (ssize_t)sizeof batch) return 0;
        left = KEY_BATCH;
    }
    *out = batch[--left];
    batch[left] = 0; /* used bits are not kept */
    return 1;
}

/* The routing key of a request without the --route-header header: a fresh random one, so canary and
 * A/B assignment of such requests is random and not sticky. (The library's own keyless rule is a
 * shared counter with exact proportions, which a client sending a repeating pattern of requests
 * could line up with.) */
static const char *routing_key(const server *s, struct MHD_Connection *c, char buf[17]) {
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, s->opts->route_header);
    if (key) return key;
    uint64_t r = 0;
    if (!random_u64(&r)) return NULL; /* counter rule */
    snprintf(buf, 17, "%016llx", (unsigned long long)r);
    return buf;
}

/* 1 when jansson would write `str` unchanged between quotes: printable ASCII without '"' or '\\'. */
static int plain(const char *str) {
    for (; *str; str++)
        if (*str < 0x20 || *str > 0x7e || *str == '"' || *str == '\\') return 0;
    return 1;
}

/* A double exactly as jansson writes a real (json_dumps): "%.17g", ".0" added when there is neither a
 * point nor an exponent, the exponent without '+' or leading zeros; "null" when not finite (jnum).
 * `p` has room for 32 bytes. Returns the length. */
static size_t put_real(char *p, double v) {
    if (!isfinite(v)) {
        memcpy(p, "null", 4);
        return 4;
    }
    size_t n = (size_t)snprintf(p, 32, "%.17g", v);
    if (!strchr(p, '.') && !strchr(p, 'e')) {
        memcpy(p + n, ".0", 3);
        n += 2;
    }
    char *e = strchr(p, 'e');
    if (e) {
        char *start = e + 1, *end = start + 1;
        if (*start == '-') start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, (size_t)(p + n - end) + 1);
            n -= (size_t)(end - start);
        }
    }
    return n;
}

/* The 200 answer of a request whose rows are all valid, written directly: the same bytes as the
 * jansson document the other answers are built from ({"predictions", "model", "slot" or "variant",
 * "model_version" with a registry, "engine"}), without its allocations. NULL (build the document
 * instead) when a name would need escaping, or out of memory. Free with free(). */
static char *answer_text(const server *s, const float *pred, size_t n_rows, const char *route_key,
                         const char *route_name, unsigned version, size_t *len) {
    const char *engine = mlops_engine_name(mlops_model_engine(s->model));
    if (!plain(s->model_name) || !plain(route_name) || !plain(engine)) return NULL;
    size_t cap =
        n_rows * (s->width * 33 + 3) + strlen(s->model_name) + strlen(route_name) + strlen(engine) + 128;
    char *b = malloc(cap), *p = b;
    if (!b) return NULL;
    p += sprintf(p, "{\"predictions\":[");
    for (size_t r = 0; r < n_rows; r++) {
        if (r) *p++ = ',';
        if (s->width > 1) *p++ = '[';
        for (size_t k = 0; k < s->width; k++) {
            if (k) *p++ = ',';
            p += put_real(p, pred[r * s->width + k]);
        }
        if (s->width > 1) *p++ = ']';
    }
    p += sprintf(p, "],\"model\":\"%s\",\"%s\":\"%s\"", s->model_name, route_key, route_name);
    if (s->registry) p += sprintf(p, ",\"model_version\":%u", version);
    p += sprintf(p, ",\"engine\":\"%s\"}", engine);
    *len = (size_t)(p - b);
    return b;
}

enum MHD_Result do_predict(server *s, struct MHD_Connection *c, request *rq) {
    const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    if (id && (!*id || strlen(id) > MAX_ID_BYTES))
        return send_error(s, c, rq, MHD_HTTP_BAD_REQUEST, NULL, "X-Request-Id must have 1 to %d bytes",
                          MAX_ID_BYTES);
    if (id && !s->monitor)
        return send_error(s, c, rq, MHD_HTTP_BAD_REQUEST, NULL, "X-Request-Id: %s", s->monitor_why);
    if (rq->len == 0)
        return send_error(s, c, rq, MHD_HTTP_BAD_REQUEST, NULL, "empty body: expected JSON rows");
    size_t cap = serve_body_row_cap(rq->body, rq->len); /* memory proportional to --max-body */
    size_t nf = s->n_feat ? s->n_feat : 1;
    float *x = malloc(cap * nf * sizeof *x), *pred = malloc(cap * s->width * sizeof *pred);
    unsigned char *ok = malloc(cap);
    size_t *pos = malloc(cap * sizeof *pos);
    double *dx = NULL;
    mlops_schema_report *rep = NULL;
    json_t *doc = NULL;
    ab_set *ab = NULL; /* the A/B experiment that served, held until the response is built */
    size_t variant = 0;
    enum MHD_Result ret;
    if (!x || !pred || !ok || !pos || mlops_schema_report_create(MAX_VIOLATIONS, &rep) != MLOPS_OK) {
        ret = send_error(s, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "out of memory");
        goto done;
    }
    size_t n_rows = 0;
    double t = serve_now();
    mlops_status st = read_rows(s, rq, x, cap, ok, &n_rows, rep, &t);
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
    mlops_deploy_slot slot = MLOPS_SLOT_BLUE;
    unsigned version = atomic_load(&s->slot_version[MLOPS_SLOT_BLUE]);
    for (size_t r = 0; r < n_rows; r++) {
        if (!ok[r]) continue;
        if (n_valid != r) memmove(x + n_valid * nf, x + r * nf, nf * sizeof *x);
        pos[n_valid++] = r;
    }
    size_t n_invalid = n_rows - n_valid;
    if (n_invalid) mlops_metrics_std_error(s->std, "validation", n_invalid);
    if (n_valid) mlops_schema_impute(s->schema, x, n_valid, s->n_feat);
    stage(s, "validate", &t);
    if (n_valid) {
        char key_buf[17];
        const char *key = routing_key(s, c, key_buf);
        if ((ab = serve_ab_enter(s))) {
            st = serve_ab_predict(s, ab, key, x, n_valid, pred, n_valid * s->width, &variant);
            version = serve_ab_version(ab, variant);
        } else {
            st = serve_predict(s, key, x, n_valid, pred, n_valid * s->width, &slot, &version);
        }
        if (st != MLOPS_OK) {
            ret =
                send_error(s, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "predict: %s", mlops_last_error());
            goto done;
        }
    }
    stage(s, "predict", &t);
    unsigned code = n_invalid ? MHD_HTTP_UNPROCESSABLE_CONTENT : MHD_HTTP_OK;
    if (id && n_valid == 1 && serve_client_take_id(s, c, s->pending_ttl) != 0) {
        const char *labels[1] = {"pending_ids"};
        mlops_metrics_counter_inc_labels(s->refused, labels, 1, 1.0);
        ret = send_error(s, c, rq, MHD_HTTP_TOO_MANY_REQUESTS, NULL,
                         "this client holds %zu pending request ids (--max-pending-per-client): send their "
                         "labels to /feedback or wait for them to expire",
                         s->opts->max_pending_per_client);
        goto done;
    }
    if (id && n_valid == 1) {
        double *p = malloc(s->width * sizeof *p);
        if (!p) {
            ret = send_error(s, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "out of memory");
            goto done;
        }
        for (size_t k = 0; k < s->width; k++)
            p[k] = pred[k];
        /* the label will join the variant that served this prediction */
        st =
            mlops_monitor_record_prediction(ab ? serve_ab_monitor(ab, variant) : s->monitor, id, p, s->width);
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
                fprintf(stderr, "%s: drift: %s\n", serve_prog, mlops_last_error());
            serve_history_observe(s, dx, n_valid); /* the status page's ECDFs */
            if (s->width == 1) {
                for (size_t r = 0; r < n_valid; r++)
                    dx[r] = pred[r];
                mlops_drift_update_predictions(s->drift, dx, n_valid);
            }
        }
    }
    stage(s, "monitor", &t); /* the pending prediction and the drift window */
    const char *route_name = ab ? serve_ab_name(ab, variant) : serve_slot_name(slot);
    size_t text_len = 0;
    char *text = n_invalid
                     ? NULL
                     : answer_text(s, pred, n_rows, ab ? "variant" : "slot", route_name, version, &text_len);
    if (text) {
        ret = send_body(s, c, rq, code, "application/json", text, text_len, free, NULL);
        stage(s, "respond", &t);
        goto done;
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
    if (ab)
        json_object_set_new(doc, "variant", json_string(route_name));
    else
        json_object_set_new(doc, "slot", json_string(route_name));
    if (s->registry) json_object_set_new(doc, "model_version", json_integer((json_int_t)version));
    json_object_set_new(doc, "engine", json_string(mlops_engine_name(mlops_model_engine(s->model))));
    if (n_invalid) {
        json_t *vs = json_array();
        for (size_t i = 0; vs && i < mlops_schema_report_count(rep); i++) {
            const char *kind = mlops_violation_kind_name(mlops_schema_report_kind(rep, i));
            json_int_t row = (json_int_t)mlops_schema_report_row(rep, i);
            json_t *v = json_pack("{s:I, s:s?, s:s, s:s}", "row", row, "feature",
                                  mlops_schema_report_feature_name(rep, i), "kind", kind, "message",
                                  mlops_schema_report_message(rep, i));
            if (!v) /* a message cut inside a UTF-8 sequence */
                v = json_pack("{s:I, s:n, s:s, s:s}", "row", row, "feature", "kind", kind, "message",
                              "(message is not valid UTF-8)");
            json_array_append_new(vs, v);
        }
        json_object_set_new(doc, "violations", vs);
        json_object_set_new(doc, "invalid_rows", json_integer((json_int_t)n_invalid));
        if (mlops_schema_report_n_omitted(rep))
            json_object_set_new(doc, "violations_omitted",
                                json_integer((json_int_t)mlops_schema_report_n_omitted(rep)));
    }
    ret = send_json(s, c, rq, code, doc, NULL);
    stage(s, "respond", &t);
    doc = NULL;
done:
    serve_ab_leave(ab);
    json_decref(doc);
    mlops_schema_report_free(rep);
    free(x);
    free(pred);
    free(ok);
    free(pos);
    free(dx);
    return ret;
}

/* ---- POST /feedback -------------------------------------------------------------------------- */

enum MHD_Result do_feedback(server *s, struct MHD_Connection *c, request *rq) {
    if (!s->monitor) return send_error(s, c, rq, MHD_HTTP_NOT_FOUND, NULL, "no monitor: %s", s->monitor_why);
    json_t *doc;
    const char *id;
    double y;
    char why[512];
    if (serve_body_feedback(rq->body, rq->len, &doc, &id, &y, why, sizeof why))
        return send_error(s, c, rq, MHD_HTTP_BAD_REQUEST, NULL, "%s", why);
    enum MHD_Result ret;
    mlops_status st = mlops_monitor_record_label(s->monitor, id, y);
    if (st == MLOPS_ENOTFOUND) st = serve_ab_label(s, id, y); /* an A/B variant's */
    if (st == MLOPS_ENOTFOUND) serve_fleet_feedback_unknown(s);
    if (st == MLOPS_OK)
        ret = send_json(s, c, rq, MHD_HTTP_OK, json_pack("{s:b, s:s}", "ok", 1, "id", id), NULL);
    else
        ret = send_error(s, c, rq, st == MLOPS_ENOTFOUND ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_REQUEST, NULL,
                         "%s", mlops_last_error());
    json_decref(doc);
    return ret;
}
