/* libmicrohttpd plumbing: the daemon, routing, reading bodies within the limits, responses. */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "serve.h"

static const char *const route_names[R_N] = {"other",   "predict", "feedback", "metrics",    "healthz",
                                             "health",  "ready",   "model",    "model_info", "drift",
                                             "monitor", "admin",   "ab",      "ui",      "history", "drift_window"};

/* ml_http_requests_total{handler,code}, and http_request_duration_seconds{handler,code_class} from
 * the end of the request's headers (libmicrohttpd's first call) to the response queued. */
static void count_http(server *s, const request *rq, unsigned code) {
    char codes[8], class[4] = {(char)('0' + (code / 100) % 10), 'x', 'x', '\0'};
    snprintf(codes, sizeof codes, "%u", code);
    const char *labels[2] = {route_names[rq->route], codes};
    mlops_metrics_counter_inc_labels(s->http, labels, 2, 1.0); /* best effort: a full family only loses a count */
    labels[1] = class;
    mlops_metrics_histogram_observe_labels(s->http_duration, labels, 2, serve_now() - rq->t_start);
}

enum MHD_Result send_response(server *s, struct MHD_Connection *c, request *rq, unsigned code,
                              struct MHD_Response *resp) {
    enum MHD_Result ret = MHD_queue_response(c, code, resp);
    MHD_destroy_response(resp);
    rq->responded = 1;
    count_http(s, rq, code);
    return ret;
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
    if (code == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    /* a request whose body is left unread (refused early) must not leave bytes for the next one */
    if (rq->close) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    return send_response(s, c, rq, code, resp);
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
    } table[] = {{"/predict", R_PREDICT},
                 {"/feedback", R_FEEDBACK},
                 {"/metrics", R_METRICS},
                 {"/healthz", R_HEALTHZ},
                 {"/health", R_HEALTH},
                 {"/ready", R_READY},
                 {"/model", R_MODEL},
                 {"/model/info", R_MODEL_INFO},
                 {"/drift", R_DRIFT},
                 {"/monitor", R_MONITOR},
                 {"/ab", R_AB},
                 {"/", R_UI},
                 {"/ui", R_UI},
                 {"/history", R_HISTORY},
                 {"/drift/window", R_DRIFT_WINDOW}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(url, table[i].path)) return table[i].r;
    return strncmp(url, "/admin/", 7) == 0 ? R_ADMIN : R_NONE;
}

/* Content-Length headers: how many, and whether they all agree on *len. */
typedef struct clen_scan {
    int count, conflict, bad;
    unsigned long long len;
} clen_scan;

static enum MHD_Result scan_clen(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
    (void)kind;
    clen_scan *sc = cls;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) != 0) return MHD_YES;
    unsigned long long n = 0;
    if (serve_body_content_length(value, &n) != 0) sc->bad = 1;
    if (sc->count++ && n != sc->len) sc->conflict = 1;
    sc->len = n;
    return MHD_YES;
}

/* Checks made once the headers are in, before any body is read. Returns 0 to go on reading, or the
 * status of the response queued. */
static int first_call(server *s, struct MHD_Connection *c, request *rq, const char *url, const char *method,
                      enum MHD_Result *ret) {
    int post = rq->route == R_PREDICT || rq->route == R_FEEDBACK;
    if (rq->route == R_ADMIN) { /* only with --admin-token-file; the methods are checked in admin.c */
        if (!s->admin_auth || strlen(url) >= sizeof rq->url) rq->route = R_NONE;
        post = !strcmp(method, MHD_HTTP_METHOD_POST);
        snprintf(rq->url, sizeof rq->url, "%s", url);
        snprintf(rq->method, sizeof rq->method, "%s", method ? method : "");
        post = post || !strcmp(method, MHD_HTTP_METHOD_PUT); /* a JSON body */
        if (!post && strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_DELETE) != 0)
            rq->route = R_NONE;
    }
    clen_scan sc = {0};
    MHD_get_connection_values(c, MHD_HEADER_KIND, scan_clen, &sc);
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
#define REFUSE(code, ...) return (*ret = send_error(s, c, rq, code, __VA_ARGS__), (int)code)
    if (sc.conflict || sc.bad || (sc.count && te)) {
        rq->close = 1; /* where this body ends is ambiguous: never read past it */
        REFUSE(MHD_HTTP_BAD_REQUEST, NULL, "%s",
               sc.count && te ? "both Content-Length and Transfer-Encoding"
                              : "conflicting or malformed Content-Length headers");
    }
    if (rq->route == R_NONE) REFUSE(MHD_HTTP_NOT_FOUND, NULL, "no such path: %s", url);
    if (rq->route == R_ADMIN) {
        unsigned code = serve_bearer_check(c, s->admin_token);
        if (code)
            REFUSE(code, NULL, "/admin needs \"Authorization: Bearer <token>\" (%s)",
                   code == MHD_HTTP_UNAUTHORIZED ? "missing" : "wrong token");
    } else if (post && strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        REFUSE(MHD_HTTP_METHOD_NOT_ALLOWED, "POST", "%s %s: use POST", method, url);
    if (!post && rq->route != R_ADMIN && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        REFUSE(MHD_HTTP_METHOD_NOT_ALLOWED, "GET, HEAD", "%s %s: use GET", method, url);
    if (!post) return 0;
    rq->close = 1; /* from here on a refusal leaves the body unread */
    if (rq->route == R_FEEDBACK && s->feedback_auth) {
        unsigned code = serve_bearer_check(c, s->feedback_token);
        if (code)
            REFUSE(code, NULL, "/feedback needs \"Authorization: Bearer <token>\" (%s)",
                   code == MHD_HTTP_UNAUTHORIZED ? "missing" : "wrong token");
    }
    if (!serve_body_is_json_type(
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE)))
        REFUSE(MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, NULL, "%s needs Content-Type: application/json", url);
    if (sc.count && sc.len > s->opts->max_body)
        REFUSE(MHD_HTTP_CONTENT_TOO_LARGE, NULL, "body of %llu bytes is over the limit of %zu (--max-body)",
               sc.len, s->opts->max_body);
    if (sc.count && sc.len > 0) { /* the whole body is reserved and allocated up front */
        if (serve_body_reserve(s, rq, (size_t)sc.len) != 0) {
            const char *labels[1] = {"body_memory"};
            mlops_metrics_counter_inc_labels(s->refused, labels, 1, 1.0);
            REFUSE(MHD_HTTP_SERVICE_UNAVAILABLE, NULL,
                   "too many unfinished request bodies (--max-body-memory): try again");
        }
        if (!(rq->body = malloc((size_t)sc.len)))
            REFUSE(MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "out of memory");
        rq->cap = (size_t)sc.len;
    }
#undef REFUSE
    rq->close = 0;
    serve_conn_body_started(s, c);
    return 0;
}

/* Append an upload chunk. MHD_NO (drop the connection) when a chunked body outgrows what the
 * unfinished bodies may hold; too large for --max-body is answered 413 once it has ended. */
static enum MHD_Result append(server *s, request *rq, const char *data, size_t n) {
    if (rq->responded || rq->too_large) return MHD_YES;
    if (rq->len + n > s->opts->max_body) { /* chunked uploads have no Content-Length */
        rq->too_large = 1;
        free(rq->body);
        rq->body = NULL;
        rq->len = rq->cap = 0;
        serve_body_release(s, rq);
        return MHD_YES;
    }
    if (rq->len + n > rq->cap) { /* chunked: grow, reserving as it grows */
        size_t cap = rq->cap ? rq->cap : 4096;
        while (cap < rq->len + n)
            cap *= 2;
        if (cap > s->opts->max_body) cap = s->opts->max_body;
        if (serve_body_reserve(s, rq, cap - rq->cap) != 0) {
            const char *labels[1] = {"body_memory"};
            mlops_metrics_counter_inc_labels(s->refused, labels, 1, 1.0);
            return MHD_NO;
        }
        char *nb = realloc(rq->body, cap);
        if (!nb) return MHD_NO;
        rq->body = nb;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    return MHD_YES;
}

static enum MHD_Result dispatch(server *s, struct MHD_Connection *c, request *rq) {
    int early = rq->route == R_HEALTHZ || rq->route == R_HEALTH || rq->route == R_READY || rq->route == R_METRICS ||
                rq->route == R_UI; /* the page itself; the data it fetches waits for the model */
    if (!early && !atomic_load(&s->loaded))
        return send_error(s, c, rq, MHD_HTTP_SERVICE_UNAVAILABLE, NULL, "the model is still loading");
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
    case R_ADMIN:
        return do_admin(s, c, rq, rq->url, rq->method);
    case R_AB:
        return do_ab(s, c, rq);
    case R_UI:
        return do_ui(s, c, rq);
    case R_HISTORY:
        return do_history(s, c, rq);
    case R_DRIFT_WINDOW:
        return do_drift_window(s, c, rq);
    default:
        return send_error(s, c, rq, MHD_HTTP_NOT_FOUND, NULL, "no such path");
    }
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
        rq->t_start = serve_now();
        enum MHD_Result ret = MHD_YES;
        first_call(s, c, rq, url, method, &ret);
        return ret;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        return append(s, rq, upload_data, n);
    }
    if (rq->responded) return MHD_YES;
    serve_conn_busy(s, c); /* the whole request is in: no deadline while it is answered */
    if (rq->too_large)
        return send_error(s, c, rq, MHD_HTTP_CONTENT_TOO_LARGE, NULL,
                          "body is over the limit of %zu bytes (--max-body)", s->opts->max_body);
    return dispatch(s, c, rq);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    server *s = cls;
    request *rq = *con_cls;
    if (rq) {
        serve_body_release(s, rq);
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
    serve_conn_idle(s, c); /* a kept-alive connection has header_timeout for its next request */
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) serve_conn_spin(s, c);
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

/* The daemon's options: limits, callbacks, and TLS when asked. */
static size_t daemon_options(server *s, const struct sockaddr *addr, struct MHD_OptionItem *it) {
    const serve_opts *o = s->opts;
    size_t n = 0;
#define OPT(opt, val, ptr) it[n++] = (struct MHD_OptionItem){opt, (intptr_t)(val), (void *)(ptr)}
    OPT(MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL); /* first, so that it sees every message */
    OPT(MHD_OPTION_SOCK_ADDR, 0, addr);
    OPT(MHD_OPTION_THREAD_POOL_SIZE, o->threads, NULL);
    OPT(MHD_OPTION_CONNECTION_LIMIT, o->max_connections, NULL);
    OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_per_ip, NULL);
    /* idle timeout: a backstop behind the deadlines of limits.c */
    OPT(MHD_OPTION_CONNECTION_TIMEOUT,
        o->header_timeout > o->body_timeout ? o->header_timeout : o->body_timeout, NULL);
    OPT(MHD_OPTION_NOTIFY_COMPLETED, completed, s);
    OPT(MHD_OPTION_NOTIFY_CONNECTION, serve_conn_notify, s);
    if (s->tls_cert) {
        OPT(MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert);
        OPT(MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key);
    }
    OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
    return n;
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
    if (s->tls_cert) flags |= MHD_USE_TLS;
    struct MHD_OptionItem items[16];
    daemon_options(s, ai->ai_addr, items);
    s->daemon = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, handle, s, MHD_OPTION_ARRAY, items,
                                 MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->daemon) {
        fprintf(stderr, "%s: cannot listen on %s port %zu: %s\n", serve_prog, o->bind, o->port,
                strerror(errno));
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : (unsigned)o->port;
    fprintf(stderr, "%s: listening at %s port %u; loading the model (/ready answers 503 until it is served)\n",
            serve_prog, o->bind, s->port);
    fflush(stderr);
    return 0;
}

void serve_http_announce(const server *s) {
    const serve_opts *o = s->opts;
    int v6 = strchr(o->bind, ':') != NULL;
    fprintf(stderr, "%s: serving %s (%zu features, %s, engine %s) on http%s://%s%s%s:%u/ with %zu threads\n",
            serve_prog, s->model_name, s->n_feat, mlops_model_objective(s->model),
            mlops_engine_name(mlops_model_engine(s->model)), s->tls_cert ? "s" : "", v6 ? "[" : "", o->bind,
            v6 ? "]" : "", s->port, o->threads);
    fflush(stderr);
}

void serve_http_stop(server *s) {
    if (s->daemon) MHD_stop_daemon(s->daemon); /* waits for the requests in progress */
    s->daemon = NULL;
}
