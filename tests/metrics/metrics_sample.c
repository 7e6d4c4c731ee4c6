/* Test program: build a registry from a JSON spec and render it, or serve it over HTTP.
 *
 *   metrics_sample SPEC.json render prometheus|openmetrics    exposition on stdout
 *   metrics_sample SPEC.json serve                              serve on 127.0.0.1, free port
 *
 * serve prints "PORT <n>" on stdout and serves GET /metrics (text 0.0.4) and GET /openmetrics
 * (OpenMetrics 1.0) until stdin is closed. Every scrape also increments sample_scrapes_total{path}.
 *
 * Spec: {"families": [{"type": "counter"|"gauge"|"histogram", "name": str, "help": str,
 *         "labels": [str], "buckets": [num], "series": [{"labels": [str], "ops":
 * [num|"NaN"|"+Inf"|"-Inf"]}]}]} ops: counter -> inc, gauge -> set, histogram -> observe, in order.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlops/metrics.h"

static mlops_metrics *reg;
static mlops_metrics_family *scrapes;

static int die(const char *what) {
    fprintf(stderr, "metrics_sample: %s: %s (%s)\n", what, mlops_last_error(), "");
    return 2;
}

static double num(json_t *v) {
    if (json_is_number(v)) return json_number_value(v);
    const char *s = json_string_value(v);
    if (s && strcmp(s, "NaN") == 0) return NAN;
    if (s && strcmp(s, "+Inf") == 0) return INFINITY;
    if (s && strcmp(s, "-Inf") == 0) return -INFINITY;
    fprintf(stderr, "metrics_sample: bad number in spec\n");
    exit(2);
}

static int build(json_t *spec) {
    json_t *fams = json_object_get(spec, "families"), *fam;
    size_t i;
    json_array_foreach(fams, i, fam) {
        const char *type = json_string_value(json_object_get(fam, "type"));
        mlops_metrics_type t = strcmp(type, "counter") == 0 ? MLOPS_METRICS_COUNTER
                               : strcmp(type, "gauge") == 0 ? MLOPS_METRICS_GAUGE
                                                            : MLOPS_METRICS_HISTOGRAM;
        const char *labels[MLOPS_METRICS_MAX_LABELS];
        double buckets[MLOPS_METRICS_MAX_BUCKETS];
        json_t *jl = json_object_get(fam, "labels"), *jb = json_object_get(fam, "buckets"), *x;
        size_t j;
        mlops_metrics_family_opts o;
        mlops_metrics_family_opts_init(&o, MLOPS_METRICS_FAMILY_OPTS_VERSION);
        json_array_foreach(jl, j, x) labels[j] = json_string_value(x);
        o.label_names = labels;
        o.n_labels = json_array_size(jl);
        if (json_array_size(jb)) {
            json_array_foreach(jb, j, x) buckets[j] = num(x);
            o.buckets = buckets;
            o.n_buckets = json_array_size(jb);
        }
        mlops_metrics_family *f;
        if (mlops_metrics_register(reg, t, json_string_value(json_object_get(fam, "name")),
                                   json_string_value(json_object_get(fam, "help")), &o, &f))
            return die("register");
        json_t *ser;
        size_t k;
        json_array_foreach(json_object_get(fam, "series"), k, ser) {
            const char *vals[MLOPS_METRICS_MAX_LABELS];
            json_array_foreach(json_object_get(ser, "labels"), j, x) vals[j] = json_string_value(x);
            mlops_series *s;
            if (mlops_metrics_series(f, vals, json_array_size(json_object_get(ser, "labels")), &s))
                return die("series");
            json_array_foreach(json_object_get(ser, "ops"), j, x) {
                double v = num(x);
                mlops_status st = t == MLOPS_METRICS_COUNTER ? mlops_metrics_counter_inc(s, v)
                                  : t == MLOPS_METRICS_GAUGE ? mlops_metrics_gauge_set(s, v)
                                                             : mlops_metrics_histogram_observe(s, v);
                if (st) return die("update");
            }
        }
    }
    return 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_size,
                              void **con_cls) {
    (void)cls, (void)version, (void)upload_data, (void)upload_size, (void)con_cls;
    if (strcmp(method, "GET") != 0) return MHD_NO;
    mlops_metrics_format fmt;
    if (strcmp(url, "/metrics") == 0)
        fmt = MLOPS_METRICS_PROMETHEUS;
    else if (strcmp(url, "/openmetrics") == 0)
        fmt = MLOPS_METRICS_OPENMETRICS;
    else {
        struct MHD_Response *r =
            MHD_create_response_from_buffer(9, (void *)"not found", MHD_RESPMEM_PERSISTENT);
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, r);
        MHD_destroy_response(r);
        return ret;
    }
    mlops_metrics_counter_inc_labels(scrapes, &url, 1, 1);
    char *text = NULL;
    size_t len = 0;
    if (mlops_metrics_render_alloc(reg, fmt, &text, &len)) return MHD_NO;
    /* MHD frees with free(); copy out of the library's allocator. */
    char *copy = malloc(len + 1);
    memcpy(copy, text, len + 1);
    mlops_free(text);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, copy, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", mlops_metrics_content_type(fmt));
    enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: metrics_sample SPEC.json render prometheus|openmetrics | serve\n");
        return 2;
    }
    json_error_t err;
    json_t *spec = json_load_file(argv[1], 0, &err);
    if (!spec) {
        fprintf(stderr, "metrics_sample: %s: %s\n", argv[1], err.text);
        return 2;
    }
    if (mlops_metrics_create(NULL, &reg)) return die("create");
    int rc = build(spec);
    json_decref(spec);
    if (rc) return rc;
    if (strcmp(argv[2], "render") == 0 && argc == 4) {
        char *text;
        size_t len;
        mlops_metrics_format fmt =
            strcmp(argv[3], "openmetrics") == 0 ? MLOPS_METRICS_OPENMETRICS : MLOPS_METRICS_PROMETHEUS;
        if (mlops_metrics_render_alloc(reg, fmt, &text, &len)) return die("render");
        fwrite(text, 1, len, stdout);
        mlops_free(text);
        mlops_metrics_free(reg);
        return 0;
    }
    if (strcmp(argv[2], "serve") != 0) return 2;
    const char *pl[] = {"path"};
    mlops_metrics_family_opts o;
    mlops_metrics_family_opts_init(&o, MLOPS_METRICS_FAMILY_OPTS_VERSION);
    o.label_names = pl;
    o.n_labels = 1;
    if (mlops_metrics_register(reg, MLOPS_METRICS_COUNTER, "sample_scrapes_total", "Scrapes served.", &o,
                               &scrapes))
        return die("register scrapes");
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, NULL,
                                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "metrics_sample: cannot start the HTTP server\n");
        return 2;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("PORT %u\n", (unsigned)info->port);
    fflush(stdout);
    char buf[256];
    while (fread(buf, 1, sizeof buf, stdin) > 0) {
    }
    MHD_stop_daemon(d);
    mlops_metrics_free(reg);
    return 0;
}
