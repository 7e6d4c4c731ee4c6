/* libmicrohttpd plumbing: the daemon, routing, reading bodies within the limits, responses. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "serve.h"

static const char *const route_names[R_N] = {"other", "predict", "feedback",   "metrics", "healthz", "health",
                                             "ready", "model",   "model_info", "drift",   "monitor"};

static void count_http(server *s, enum route r, unsigned code) {
    char codes[8];
    snprintf(codes, sizeof codes, "%u", code);
    const char *labels[2] = {route_names[r], codes};
    mlops_counter_inc_labels(s->http, labels, 2, 1.0); /* best effort: a full family only loses a count */
}

/* Queue `body` (freed with `free_fn`, or static when free_fn is NULL). */
enum MHD_Result send_body(server *s, struct MHD_Connection *c, request *rq, unsigned code, const char *ctype,
                          char *body, size_t len, void (*free_fn)(void *), const char *allow) {
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

enum MHD_Result send_json(server *s, struct MHD_Connection *c, request *rq, unsigned code, json_t *doc,
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

enum MHD_Result send_error(server *s, struct MHD_Connection *c, request *rq, unsigned code, const char *allow,
                           const char *fmt, ...) {
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
json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static enum route route_of(const char *url) {
    static const struct {
        const char *path;
        enum route r;
    } table[] = {{"/predict", R_PREDICT}, {"/feedback", R_FEEDBACK},     {"/metrics", R_METRICS},
                 {"/healthz", R_HEALTHZ}, {"/health", R_HEALTH},         {"/ready", R_READY},
                 {"/model", R_MODEL},     {"/model/info", R_MODEL_INFO}, {"/drift", R_DRIFT},
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
            if (errno == ERANGE || n > s->opts->max_body)
                return send_error(s, c, rq, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                                  "body of %s bytes is over the limit of %zu (--max-body)", clen,
                                  s->opts->max_body);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->responded || rq->too_large) return MHD_YES;
        if (rq->len + n > s->opts->max_body) { /* chunked uploads have no Content-Length */
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
            if (cap > s->opts->max_body) cap = s->opts->max_body;
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
                          "body is over the limit of %zu bytes (--max-body)", s->opts->max_body);
    switch (rq->route) {
    case R_PREDICT:
        return do_predict(s, c, rq);
    case R_FEEDBACK:
        return do_feedback(s, c, rq);
    case R_METRICS:
        return do_metrics(s, c, rq);
    case R_HEALTHZ:
    case R_HEALTH:
        return do_health(s, c, rq);
    case R_READY:
        return do_ready(s, c, rq);
    case R_MODEL:
    case R_MODEL_INFO:
        return do_model(s, c, rq);
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
    fprintf(stderr, "%s: microhttpd: %s\n", serve_prog, msg);
}

int serve_http_start(server *s) {
    const serve_opts *o = s->opts;
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    char port_s[8];
    snprintf(port_s, sizeof port_s, "%zu", o->port);
    int gai = getaddrinfo(o->bind, port_s, &hints, &ai);
    if (gai != 0) {
        fprintf(stderr, "%s: --bind %s: %s (give a numeric IPv4 or IPv6 address)\n", serve_prog, o->bind,
                gai_strerror(gai));
        return -1;
    }
    int v6 = ai->ai_family == AF_INET6;
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    s->daemon =
        MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                         NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_THREAD_POOL_SIZE,
                         (unsigned int)o->threads, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
                         MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->daemon) {
        fprintf(stderr, "%s: cannot listen on %s port %zu: %s\n", serve_prog, o->bind, o->port,
                strerror(errno));
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned bound = info ? info->port : (unsigned)o->port;
    fprintf(stderr, "%s: serving %s (%zu features, %s, engine %s) on http://%s%s%s:%u/ with %zu threads\n",
            serve_prog, s->model_name, s->n_feat, mlops_model_objective(s->model),
            mlops_engine_name(mlops_model_engine(s->model)), v6 ? "[" : "", o->bind, v6 ? "]" : "", bound,
            o->threads);
    fflush(stderr);
    return 0;
}

void serve_http_stop(server *s) {
    if (s->daemon) MHD_stop_daemon(s->daemon); /* waits for the requests in progress */
    s->daemon = NULL;
}
