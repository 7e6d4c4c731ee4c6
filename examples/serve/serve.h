/* mlops-serve, the HTTP server of libmlops: what its files share.
 *
 *   options.c  command line -> serve_opts
 *   state.c    model, schema, monitor, drift detector, metrics; saved state
 *   http.c     libmicrohttpd plumbing: routing, body reading, limits, responses
 *   predict.c  POST /predict and POST /feedback
 *   status.c   GET /metrics /healthz /health /ready /model /model/info /drift /monitor
 *   deploy.c   model sources (file, registry alias), the deployment, swaps, --follow, ml_deploy_*
 *   admin.c    the admin API (/admin/...)
 *   limits.c   deadlines, memory of unfinished bodies, pending ids per client
 *   auth.c     bearer tokens, files read whole (TLS key pair)
 *   fleet.c    GET /drift/window (mergeable drift snapshot), ml_feedback_unknown_total
 *   body.c     request bodies and body headers parsed without the server (fuzzed: tests/fuzz)
 *   rows.c     the fast path of /predict bodies: named rows into dense rows in one pass
 *   main.c     parse -> start -> wait -> stop
 *   ui.c       GET / and /ui: the status page (ui/status.html) under a strict CSP
 *   history.c  GET /history: quality snapshots and ECDF samples for the status page
 *
 * The program is a client of the public libmlops API only. */
#ifndef MLOPS_SERVE_H
#define MLOPS_SERVE_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>

#include "body.h"
#include "rows.h"
#include "mlops.h"

extern const char *const serve_prog; /* "mlops-serve", the prefix of every message */

/* ---- options.c ---- */
typedef struct serve_opts {
    const char *model_path, *schema_path, *ref_path, *bind, *state_dir, *engine;
    size_t port, threads, max_body, window, checkpoint;
    /* limits (limits.c, http.c) */
    size_t drain_seconds; /* after SIGTERM: /ready answers 503 for this long while requests are served */
    size_t spin_us;       /* after an answer, poll a lone connection this long before sleeping (limits.c) */
    size_t max_connections, max_per_ip, header_timeout, body_timeout, max_body_memory, max_pending_per_client;
    const char *feedback_token_file, *tls_cert, *tls_key;
    /* model source and deployment (deploy.c, admin.c) */
    const char *registry, *reg_name, *alias, *gate_data, *gate_label, *admin_token_file, *route_header;
    size_t follow;               /* seconds between alias checks; 0 = only on SIGHUP */
    const char *latency_buckets; /* "START,FACTOR,COUNT"; default 1e-6,2,21 (1 us to 1.05 s) */
    const char *ab_alpha_text;
    double ab_alpha; /* significance level of the A/B tests (--ab-alpha, default 0.05) */
    const char *rollback_below_text, *rollback_above_text;
    double rollback_below, rollback_above; /* automatic rollback thresholds (NaN: off) */
    size_t rollback_min_labels;
    /* trusted models (audit.c) */
#define SERVE_MAX_TRUST 16
    const char *trust[SERVE_MAX_TRUST]; /* --trust PUB, repeatable */
    size_t n_trust;
    const char *encrypt_key; /* --encrypt-key KEY: decrypts encrypted registry versions */
} serve_opts;

/* Fill `o` from argv. Returns 0 to run, 1 after --help (exit 0), 2 on a usage error (printed). */
int serve_opts_parse(int argc, char **argv, serve_opts *o);

/* ---- the server (state.c sets it up, http.c serves it) ---- */
typedef struct ab_set ab_set; /* an A/B experiment (ab.c) */
typedef struct serve_history serve_history; /* history.c */
typedef struct server {
    const serve_opts *opts;
    mlops_model *model;
    const char *model_name;
    mlops_schema *schema;
    serve_rows *rows; /* the schema's plan for the fast path of /predict bodies (rows.c) */
    size_t n_feat, width;
    mlops_monitor *monitor;          /* NULL when the model's output cannot be monitored */
    mlops_monitor_opts monitor_opts; /* also for the monitors of A/B variants */
    _Atomic(ab_set *) ab;            /* the running A/B experiment, NULL when none */
    const char *monitor_why;
    double pending_ttl; /* the monitor's time to live of a pending prediction, seconds */
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
    /* deployment (deploy.c) */
    mlops_engine engine;
    mlops_registry *registry; /* NULL with --model */
    mlops_deploy *deploy;
    atomic_uint_fast64_t swap_seq; /* odd while a switch runs (see deploy.c) */
    atomic_uint slot_version[3];   /* registry version in blue, green, previous (0: none or a file) */
    pthread_mutex_t admin_lock;    /* serializes switches, the gate and its report */
    float *gate_x, *gate_y;        /* --gate-data rows and labels */
    size_t gate_rows;
    int gate_ok;           /* the staged candidate passed the server's gate */
    json_t *gate_report;   /* the last gate report (NULL before any) */
    unsigned follow_tried; /* the last alias version --follow tried */
    int rollback_armed;    /* a promotion is being watched for automatic rollback */
    uint64_t base_count;   /* the monitor's lifetime counters at the promotion */
    double base_correct, base_sse;
    int admin_auth;
    unsigned char admin_token[32];
    mlops_metrics_family *promotions_family, *rollbacks;
    mlops_series *promotions, *gate_failures;
    char *tls_cert, *tls_key; /* PEM text of --tls-cert and --tls-key */
    int feedback_auth;        /* /feedback needs the bearer token whose hash is feedback_token */
    unsigned char feedback_token[32];
    mlops_metrics_family *dropped;             /* ml_http_dropped_connections_total{reason} */
    mlops_metrics_family *refused;             /* ml_http_limited_requests_total{reason} */
    mlops_series *spin_hits, *spin_misses;     /* ml_http_spins_total{result} (--spin-us, limits.c) */
    mlops_metrics_family *http_duration;       /* http_request_duration_seconds{handler,code_class} */
    mlops_metrics_family *stage_duration;      /* ml_predict_stage_duration_seconds{stage} */
    mlops_metrics_family *ab_duration;         /* ml_ab_request_duration_seconds{variant} */
    double buckets[MLOPS_METRICS_MAX_BUCKETS]; /* latency buckets (--latency-buckets) */
    size_t n_buckets;
    pthread_mutex_t conns_lock; /* guards the connection table (limits.c) */
    struct conn_slot *conns;
    atomic_size_t open_conns; /* tracked connections of every worker (spinning, limits.c) */
    atomic_size_t body_bytes; /* bytes reserved by unfinished bodies */
    pthread_mutex_t clients_lock;
    struct client_ids *clients; /* pending ids per client (limits.c) */
    atomic_int ready;           /* 0 while loading or draining: GET /ready answers 503 */
    atomic_int loaded;          /* 1 once serve_state_load() finished; set once, never cleared */
    unsigned port;              /* the port bound (--port 0: the one the kernel picked) */
    mlops_metrics_family *set_aside; /* ml_state_set_aside_total{reason} (state_key.c) */
    serve_history *history;     /* history.c; NULL when out of memory (no /history then) */
    mlops_series *feedback_unknown; /* ml_feedback_unknown_total (fleet.c) */
} server;

/* What the listener needs before the model loads: options, limits, secrets, the metrics registry
 * with the HTTP metrics (`s` zeroed by the caller). 0, or -1 with a message printed. */
int serve_state_init(server *s, const serve_opts *o);
/* Load the model, monitor, drift detector, state and deployment, then set s->loaded; until then
 * requests other than /health, /healthz, /ready and /metrics are answered 503. Called once, after
 * serve_state_init(), while the listener runs. 0, or -1 with a message printed. */
int serve_state_load(server *s);
/* Save the monitor and the drift detector to --state-dir. 0, or -1 with a message printed. */
int serve_state_save(server *s);
/* Free what serve_state_init() and serve_state_load() made. */
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
    R_ADMIN,
    R_AB,
    R_UI,
    R_HISTORY,
    R_DRIFT_WINDOW,
    R_N
};

typedef struct request {
    enum route route;
    char url[64];   /* /admin/... */
    char method[8]; /* of an admin request: GET, POST, PUT or DELETE */
    char *body;
    size_t len, cap;
    size_t reserved; /* bytes counted in server.body_bytes */
    double t_start;  /* serve_now() when the headers were in */
    int too_large;
    int responded;
    int close; /* answer with "Connection: close" (the body was not read) */
} request;

/* state_key.c: the key of the live model saved beside --state-dir's state. key_matches: 1 when
 * the saved key is the loaded model's (or there is none yet), 0 otherwise. set_aside renames `path`
 * to "<path>.set-aside.<UTC time>" and counts it under `reason` ("other_model", "unreadable"). */
int serve_state_key_matches(server *s);
int serve_state_save_key(server *s);
void serve_state_set_aside(server *s, const char *path, const char *reason);

/* Start the daemon on --bind/--port (the port is printed on stderr). 0, or -1 with a message printed. */
int serve_http_start(server *s);
/* Print the "serving MODEL ... on http://ADDR:PORT/" line, once the model is loaded. */
void serve_http_announce(const server *s);
/* Stop accepting, finish the requests in progress. */
void serve_http_stop(server *s);

/* Responses. `body` is freed with `free_fn`, or static when free_fn is NULL. All count the request. */
enum MHD_Result send_body(server *s, struct MHD_Connection *c, request *rq, unsigned code, const char *ctype,
                          char *body, size_t len, void (*free_fn)(void *), const char *allow);
enum MHD_Result send_json(server *s, struct MHD_Connection *c, request *rq, unsigned code, json_t *doc,
                          const char *allow);
enum MHD_Result send_error(server *s, struct MHD_Connection *c, request *rq, unsigned code, const char *allow,
                           const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Queue `resp` (headers set by the caller), destroy it and count the request. */
enum MHD_Result send_response(server *s, struct MHD_Connection *c, request *rq, unsigned code,
                              struct MHD_Response *resp);
/* A double for JSON: jansson has no NaN or infinity, they become null. */
json_t *jnum(double v);

/* ---- deploy.c, admin.c ---- */
int serve_deploy_open(server *s, const serve_opts *o); /* after the model and the metrics */
void serve_deploy_close(server *s);
const char *serve_slot_name(mlops_deploy_slot slot);
/* The model's own "version" attribute, or NULL when it has none. */
const char *serve_model_version_attr(const mlops_model *m);
/* Predict through the deployment (key: the routing key or NULL); *slot and *version name who served. */
mlops_status serve_predict(server *s, const char *key, const float *x, size_t n_rows, float *out,
                           size_t out_len, mlops_deploy_slot *slot, unsigned *version);
/* Switches: the caller holds admin_lock. On failure `why` says why. */
mlops_status serve_stage(server *s, unsigned version, const char *alias, char *why, size_t why_len);
mlops_status serve_validate(server *s, const serve_gate *gate, json_t **report, char *why, size_t why_len);
mlops_status serve_promote(server *s, int force, char *why, size_t why_len);
mlops_status serve_rollback(server *s, const char *reason, char *why, size_t why_len);
/* --follow / SIGHUP: if the alias moved, stage, gate and promote its version. Takes admin_lock. */
void serve_follow_check(server *s);
/* --rollback-below/--rollback-above: roll back a promotion whose labels since then are worse. */
void serve_auto_rollback_check(server *s);
enum MHD_Result do_admin(server *s, struct MHD_Connection *c, request *rq, const char *url,
                         const char *method);

/* ---- ab.c ---- */
ab_set *serve_ab_enter(server *s); /* the running experiment, held until serve_ab_leave(); or NULL */
void serve_ab_leave(ab_set *ab);
mlops_status serve_ab_predict(server *s, ab_set *ab, const char *key, const float *x, size_t n_rows,
                              float *out, size_t out_len, size_t *variant);
const char *serve_ab_name(const ab_set *ab, size_t variant);
mlops_status serve_ab_stats(server *s, ab_set *ab, size_t variant, mlops_variant_stats *vs);
unsigned serve_ab_version(const ab_set *ab, size_t variant);
mlops_monitor *serve_ab_monitor(const ab_set *ab, size_t variant);
/* A label for a prediction some variant kept: MLOPS_ENOTFOUND when none holds `id`. */
mlops_status serve_ab_label(server *s, const char *id, double y);
/* PUT /admin/ab (`in` the body) or DELETE /admin/ab (`in` NULL); caller holds admin_lock. HTTP code. */
unsigned serve_ab_set(server *s, json_t *in, char *why, size_t why_len);
enum MHD_Result do_ab(server *s, struct MHD_Connection *c, request *rq);
mlops_status serve_ab_collect(server *s, mlops_metrics_writer *w);
void serve_ab_close(server *s);

/* ---- limits.c ---- */
double serve_now(void); /* monotonic seconds */
int serve_limits_init(server *s);
void serve_limits_free(server *s);
/* MHD_OPTION_NOTIFY_CONNECTION callback: tracks every connection with a deadline. */
void serve_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);
void serve_conn_body_started(server *s, struct MHD_Connection *c); /* body deadline starts */
void serve_conn_busy(server *s, struct MHD_Connection *c);         /* answering: no deadline */
void serve_conn_spin(server *s, struct MHD_Connection *c);         /* answered: wait for the next request */
void serve_conn_idle(server *s, struct MHD_Connection *c);         /* next request's header deadline */
/* Shut down every connection past its deadline (main calls it a few times a second). */
void serve_conns_reap(server *s);
/* Count `bytes` against --max-body-memory for `rq`: 0, or -1 (nothing counted) over the cap. */
int serve_body_reserve(server *s, request *rq, size_t bytes);
void serve_body_release(server *s, request *rq);
/* One more pending id for the client of `c`: 0, or -1 when it holds its cap within `ttl` seconds. */
int serve_client_take_id(server *s, struct MHD_Connection *c, double ttl);

/* ---- auth.c ---- */
#define SERVE_TOKEN_HASH_BYTES 32
/* The whole file (NUL-terminated, malloc'd) if it has at most `max` bytes, else NULL. */
char *serve_read_file(const char *path, size_t max, size_t *len);
/* Hash the token in `path` (one line, >= 16 characters). 0, or -1 with a message printed. */
int serve_token_load(const char *path, unsigned char hash[SERVE_TOKEN_HASH_BYTES]);
/* 0 when c's "Authorization: Bearer" token hashes to `want`; else 401 (none) or 403 (wrong). */
unsigned serve_bearer_check(struct MHD_Connection *c, const unsigned char want[SERVE_TOKEN_HASH_BYTES]);

/* ---- audit.c: --trust, --encrypt-key and the audit trail of admin actions ---- */
/* Add a --trust key: 0, or -1 (too many; printed). */
int serve_trust_add(serve_opts *o, const char *path);
/* Registry open options from --trust/--encrypt-key; says on stderr when there is no trust set. */
void serve_registry_opts(const serve_opts *o, mlops_registry_opts *ro);
/* Append an admin action (its JSON request, HTTP code, reason) to the registry's audit log, if any. */
void serve_audit(server *s, const char *action, json_t *request, unsigned code, const char *why);

/* ---- predict.c, status.c: route handlers, called with the whole body read ---- */
enum MHD_Result do_predict(server *s, struct MHD_Connection *c, request *rq);
enum MHD_Result do_feedback(server *s, struct MHD_Connection *c, request *rq);
enum MHD_Result do_metrics(server *s, struct MHD_Connection *c, request *rq);
enum MHD_Result do_monitor(server *s, struct MHD_Connection *c, request *rq);
enum MHD_Result do_drift(server *s, struct MHD_Connection *c, request *rq);
enum MHD_Result do_health(server *s, struct MHD_Connection *c, request *rq);
enum MHD_Result do_ready(server *s, struct MHD_Connection *c, request *rq);
enum MHD_Result do_model(server *s, struct MHD_Connection *c, request *rq);
/* ---- fleet.c: GET /drift/window, ml_feedback_unknown_total ---- */
int serve_fleet_open(server *s); /* registers the counter: 0, or -1 */
void serve_fleet_feedback_unknown(server *s);
enum MHD_Result do_drift_window(server *s, struct MHD_Connection *c, request *rq);
/* The GET /model document (built once at start). NULL when out of memory. */
char *serve_model_json(const server *s);

/* ---- ui.c, history.c ---- */
enum MHD_Result do_ui(server *s, struct MHD_Connection *c, request *rq);
enum MHD_Result do_history(server *s, struct MHD_Connection *c, request *rq);
serve_history *serve_history_create(void); /* NULL when out of memory */
void serve_history_free(serve_history *h);
/* Main loop: one quality snapshot per second. */
void serve_history_tick(server *s);
/* The drift reference (n_rows x s->n_drift), and rows entering the drift window (same layout). */
void serve_history_reference(server *s, const double *d, size_t n_rows);
void serve_history_observe(server *s, const double *d, size_t n_rows);

#endif
