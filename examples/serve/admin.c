/* The admin API: /admin/{stage,validate,promote,rollback,canary,shadow,status}, only with
 * --admin-token-file (404 otherwise), behind "Authorization: Bearer <token>" (401 missing, 403 wrong).
 * JSON in, JSON out. Operations are serialized by admin_lock; predictions never take it. */
#include <math.h>
#include <string.h>

#include "serve.h"

/* HTTP status of a failed operation. */
static unsigned status_of(mlops_status st) {
    switch (st) {
    case MLOPS_ESHAPE:
    case MLOPS_EINVAL:
    case MLOPS_ERANGE:
        return MHD_HTTP_UNPROCESSABLE_CONTENT;
    case MLOPS_ENOTFOUND:
        return MHD_HTTP_NOT_FOUND;
    case MLOPS_ESTATE:
    case MLOPS_EVALIDATION:
        return MHD_HTTP_CONFLICT;
    case MLOPS_EINTEGRITY:
    case MLOPS_EFORMAT:
        return MHD_HTTP_UNPROCESSABLE_CONTENT;
    default:
        return MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

static json_t *version_or_null(server *s, mlops_deploy_slot slot, int present) {
    return present ? json_integer((json_int_t)atomic_load(&s->slot_version[slot])) : json_null();
}

static json_t *status_json(server *s) {
    mlops_deploy_stats st;
    if (mlops_deploy_stats_get(s->deploy, &st) != MLOPS_OK) return NULL;
    ab_set *ab = serve_ab_enter(s);
    json_t *variants = ab ? json_array() : json_null();
    for (size_t i = 0; ab && i < MLOPS_ROUTER_MAX_VARIANTS; i++) {
        mlops_variant_stats vs;
        if (serve_ab_stats(s, ab, i, &vs) != MLOPS_OK) break;
        json_array_append_new(variants, json_pack("{s:s, s:I, s:I}", "name", vs.name, "version",
                                                  (json_int_t)serve_ab_version(ab, i), "weight",
                                                  (json_int_t)vs.weight));
    }
    serve_ab_leave(ab);
    return json_pack("{s:o, s:o, s:o, s:o, s:f, s:b, s:b, s:O?, s:{s:I, s:I, s:I, s:I, s:I, s:I}}", "ab",
                     variants, "live_version", version_or_null(s, MLOPS_SLOT_BLUE, 1), "candidate_version",
                     version_or_null(s, MLOPS_SLOT_GREEN, st.has_candidate), "rollback_version",
                     version_or_null(s, MLOPS_SLOT_PREVIOUS, st.has_rollback), "canary", st.canary_fraction,
                     "shadow", st.shadow, "gate_passed", s->gate_ok, "last_gate", s->gate_report, "counters",
                     "requests_live", (json_int_t)st.requests[0], "requests_candidate",
                     (json_int_t)st.requests[1], "promotions", (json_int_t)st.promotions, "rollbacks",
                     (json_int_t)st.rollbacks, "shadow_rows", (json_int_t)st.shadow_rows,
                     "shadow_disagreements", (json_int_t)st.shadow_disagreements);
}

/* A number field of `doc`: *out keeps its default when absent; -1 when present but not a number. */
static int get_number(json_t *doc, const char *key, double *out) {
    json_t *v = json_object_get(doc, key);
    if (!v) return 0;
    if (!json_is_number(v)) return -1;
    *out = json_number_value(v);
    return 0;
}

/* The operation named by `op` (under admin_lock). Returns the response code; *out the body. */
static unsigned run(server *s, const char *op, json_t *in, json_t **out, char *why, size_t why_len) {
    mlops_status st;
    if (!strcmp(op, "stage")) {
        json_t *v = json_object_get(in, "version"), *a = json_object_get(in, "alias");
        if (!(json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= UINT32_MAX) &&
            !json_is_string(a)) {
            snprintf(why, why_len, "stage: expected {\"version\": N} or {\"alias\": \"name\"}");
            return MHD_HTTP_BAD_REQUEST;
        }
        st = serve_stage(s, v ? (unsigned)json_integer_value(v) : 0,
                         json_is_string(a) ? json_string_value(a) : NULL, why, why_len);
    } else if (!strcmp(op, "validate")) {
        serve_gate g = {0.0, 0.0, INFINITY};
        if (get_number(in, "min_accuracy", &g.min_accuracy) ||
            get_number(in, "max_logloss_increase", &g.max_increase) ||
            get_number(in, "max_rmse", &g.max_rmse) || !(g.max_increase >= 0)) {
            snprintf(why, why_len,
                     "validate: min_accuracy, max_logloss_increase (>= 0) and max_rmse are numbers");
            return MHD_HTTP_BAD_REQUEST;
        }
        json_t *rep = NULL;
        st = serve_validate(s, &g, &rep, why, why_len);
        if (st == MLOPS_OK) {
            *out = rep;
            return MHD_HTTP_OK;
        }
    } else if (!strcmp(op, "promote")) {
        st = serve_promote(s, json_is_true(json_object_get(in, "force")), why, why_len);
    } else if (!strcmp(op, "rollback")) {
        st = serve_rollback(s, "admin", why, why_len);
    } else if (!strcmp(op, "canary")) {
        double f = NAN;
        if (get_number(in, "fraction", &f) || !(f >= 0 && f <= 1)) {
            snprintf(why, why_len, "canary: expected {\"fraction\": a number in [0, 1]}");
            return MHD_HTTP_UNPROCESSABLE_CONTENT;
        }
        st = mlops_deploy_set_canary(s->deploy, f);
        if (st != MLOPS_OK) snprintf(why, why_len, "%s", mlops_last_error());
    } else if (!strcmp(op, "shadow")) {
        json_t *e = json_object_get(in, "enabled");
        if (!json_is_boolean(e)) {
            snprintf(why, why_len, "shadow: expected {\"enabled\": true or false}");
            return MHD_HTTP_BAD_REQUEST;
        }
        st = mlops_deploy_set_shadow(s->deploy, json_is_true(e));
        if (st != MLOPS_OK) snprintf(why, why_len, "%s", mlops_last_error());
    } else {
        snprintf(why, why_len, "no such admin operation: %s", op);
        return MHD_HTTP_NOT_FOUND;
    }
    if (st != MLOPS_OK) return status_of(st);
    *out = status_json(s);
    return MHD_HTTP_OK;
}

enum MHD_Result do_admin(server *s, struct MHD_Connection *c, request *rq, const char *url,
                         const char *method) {
    const char *op = url + strlen("/admin/");
    int get = !strcmp(method, MHD_HTTP_METHOD_GET);
    char why[512] = "";
    if (!strcmp(op, "status")) {
        if (!get) return send_error(s, c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, "GET", "/admin/status: use GET");
        pthread_mutex_lock(&s->admin_lock);
        json_t *doc = status_json(s);
        pthread_mutex_unlock(&s->admin_lock);
        return send_json(s, c, rq, MHD_HTTP_OK, doc, NULL);
    }
    int ab = !strcmp(op, "ab");
    const char *want =
        ab ? (strcmp(method, MHD_HTTP_METHOD_DELETE) ? MHD_HTTP_METHOD_PUT : MHD_HTTP_METHOD_DELETE)
           : MHD_HTTP_METHOD_POST;
    if (strcmp(method, want) != 0)
        return send_error(s, c, rq, MHD_HTTP_METHOD_NOT_ALLOWED, ab ? "PUT, DELETE" : "POST", "%s %s: use %s",
                          method, url, ab ? "PUT or DELETE" : "POST");
    json_error_t err;
    json_t *in = rq->len ? json_loadb(rq->body, rq->len, JSON_REJECT_DUPLICATES, &err) : json_object();
    if (!json_is_object(in)) {
        json_decref(in);
        return send_error(s, c, rq, MHD_HTTP_BAD_REQUEST, NULL, "%s: expected a JSON object", url);
    }
    json_t *out = NULL;
    pthread_mutex_lock(&s->admin_lock);
    unsigned code = ab ? serve_ab_set(s, strcmp(method, MHD_HTTP_METHOD_DELETE) ? in : NULL, why, sizeof why)
                       : run(s, op, in, &out, why, sizeof why);
    if (ab && code == MHD_HTTP_OK) out = status_json(s);
    pthread_mutex_unlock(&s->admin_lock);
    json_decref(in);
    if (code != MHD_HTTP_OK) {
        json_decref(out);
        return send_error(s, c, rq, code, NULL, "%s", why);
    }
    return send_json(s, c, rq, code, out, NULL);
}
