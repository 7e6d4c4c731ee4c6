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
    if (mlops_deploy_get_stats(s->deploy, &st) != MLOPS_OK) return NULL;
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

/* The operation named by `op` (under admin_lock). Returns the response code; *out the body. */
static unsigned run(server *s, const char *op, json_t *in, json_t **out, char *why, size_t why_len) {
    mlops_status st;
    if (!strcmp(op, "stage")) {
        unsigned version;
        const char *alias;
        if (serve_body_stage(in, &version, &alias, why, why_len)) return MHD_HTTP_BAD_REQUEST;
        st = serve_stage(s, version, alias, why, why_len);
    } else if (!strcmp(op, "validate")) {
        serve_gate g;
        if (serve_body_gate(in, &g, why, why_len)) return MHD_HTTP_BAD_REQUEST;
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
        double f;
        if (serve_body_canary(in, &f, why, why_len)) return MHD_HTTP_UNPROCESSABLE_CONTENT;
        st = mlops_deploy_set_canary(s->deploy, f);
        if (st != MLOPS_OK) snprintf(why, why_len, "%s", mlops_last_error());
    } else if (!strcmp(op, "shadow")) {
        int enabled;
        if (serve_body_shadow(in, &enabled, why, why_len)) return MHD_HTTP_BAD_REQUEST;
        st = mlops_deploy_set_shadow(s->deploy, enabled);
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
    json_t *in = serve_body_admin(rq->body, rq->len, why, sizeof why);
    if (!in) return send_error(s, c, rq, MHD_HTTP_BAD_REQUEST, NULL, "%s: %s", url, why);
    json_t *out = NULL;
    pthread_mutex_lock(&s->admin_lock);
    unsigned code = ab ? serve_ab_set(s, strcmp(method, MHD_HTTP_METHOD_DELETE) ? in : NULL, why, sizeof why)
                       : run(s, op, in, &out, why, sizeof why);
    if (ab && code == MHD_HTTP_OK) out = status_json(s);
    serve_audit(s, ab ? "ab" : op, in, code, why);
    pthread_mutex_unlock(&s->admin_lock);
    json_decref(in);
    if (code != MHD_HTTP_OK) {
        json_decref(out);
        return send_error(s, c, rq, code, NULL, "%s", why);
    }
    return send_json(s, c, rq, code, out, NULL);
}
