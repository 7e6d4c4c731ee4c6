/* mlops-serve, the HTTP server of libmlops: what its files share.
 *
 *   options.c  command line -> serve_opts
 *   state.c    model, schema, monitor, drift detector, metrics; saved state
 *   http.c     libmicrohttpd plumbing: routing, body reading, limits, responses
 *   predict.c  POST /predict and POST /feedback
 *   status.c   GET /metrics /healthz /health /ready /model /model/info /drift /monitor
 *   main.c     parse -> start -> wait -> stop
 *
 * The program is a client of the public libmlops API only. */
#ifndef MLOPS_SERVE_H
#define MLOPS_SERVE_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#include "mlops.h"

extern const char *const serve_prog; /* "mlops-serve", the prefix of every message */

/* ---- options.c ---- */
typedef struct serve_opts {
    const char *model_path, *schema_path, *ref_path, *bind, *state_dir, *engine;
    size_t port, threads, max_body, window, checkpoint;
} serve_opts;

/* Fill `o` from argv. Returns 0 to run, 1 after --help (exit 0), 2 on a usage error (printed). */
int serve_opts_parse(int argc, char **argv, serve_opts *o);

/* ---- the server (state.c sets it up, http.c serves it) ---- */
typedef struct server {
    const serve_opts *opts;
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
    char *model_json; /* GET /model, built once */
    char mon_path[4096], drift_path[4096];
    struct MHD_Daemon *daemon;
    atomic_int ready; /* 0 while loading or draining: GET /ready answers 503 */
} server;

/* Load everything `o` names into `s` (zeroed by the caller). 0, or -1 with a message printed. */
int serve_state_open(server *s, const serve_opts *o);
/* Save the monitor and the drift detector to --state-dir. 0, or -1 with a message printed. */
int serve_state_save(server *s);
/* Free what serve_state_open() made. */
void serve_state_close(server *s);

/* ---- http.c ---- */
enum route {
    R_NONE,
    R_PREDICT,
    R_FEEDBACK,
    R_METRICS,
    R_HEALTHZ,
    R_HEALTH,
    R_READY,
    R_MODEL,
    R_MODEL_INFO,
    R_DRIFT,
    R_MONITOR,
    R_N
};

typedef struct request {
    enum route route;
    char *body;
    size_t len, cap;
    int too_large;
    int responded;
} request;

/* Start the daemon on --bind/--port (printed on stderr). 0, or -1 with a message printed. */
int serve_http_start(server *s);
/* Stop accepting, finish the requests in progress. */
void serve_http_stop(server *s);

/* Responses. `body` is freed with `free_fn`, or static when free_fn is NULL. All count the request. */
enum MHD_Result send_body(server *s, struct MHD_Connection *c, request *rq, unsigned code, const char *ctype,
                          char *body, size_t len, void (*free_fn)(void *), const char *allow);
enum MHD_Result send_json(server *s, struct MHD_Connection *c, request *rq, unsigned code, json_t *doc,
                          const char *allow);
enum MHD_Result send_error(server *s, struct MHD_Connection *c, request *rq, unsigned code, const char *allow,
                           const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* A double for JSON: jansson has no NaN or infinity, they become null. */
json_t *jnum(double v);

/* ---- predict.c, status.c: route handlers, called with the whole body read ---- */
enum MHD_Result do_predict(server *s, struct MHD_Connection *c, request *rq);
enum MHD_Result do_feedback(server *s, struct MHD_Connection *c, request *rq);
enum MHD_Result do_metrics(server *s, struct MHD_Connection *c, request *rq);
enum MHD_Result do_monitor(server *s, struct MHD_Connection *c, request *rq);
enum MHD_Result do_drift(server *s, struct MHD_Connection *c, request *rq);
enum MHD_Result do_health(server *s, struct MHD_Connection *c, request *rq);
enum MHD_Result do_ready(server *s, struct MHD_Connection *c, request *rq);
enum MHD_Result do_model(server *s, struct MHD_Connection *c, request *rq);
/* The GET /model document (built once at start). NULL when out of memory. */
char *serve_model_json(const server *s);

#endif
