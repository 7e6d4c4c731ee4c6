/* mlops-serve: serve an XGBoost model over HTTP with libmlops and libmicrohttpd.
 *
 *   mlops-serve (--model M | --registry DIR --name NAME [--alias production]) [options]
 *   (mlops-serve --help lists them all: model source and --follow, gate data, admin and feedback
 *   tokens, TLS, connection and memory limits, latency buckets, A/B and automatic rollback)
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
 *   GET  /health    {"status": "healthy", "model_loaded": true, ...} (as the usual Python service).
 *   GET  /ready     200 {"ready": true} while serving; 503 while the model loads (the port opens
 *                   first; other model routes answer 503 meanwhile) and while draining (after
 *                   SIGTERM with --drain-seconds N, requests are still served for N seconds).
 *   GET  /model, GET /model/info   model metadata (features, objective, task, rounds, engine, ...).
 *   GET  /drift     the drift report (mlops_drift_report_json); 404 without --reference.
 *   GET  /drift/window  the drift window as a mergeable snapshot (fleet.c; admin token when set).
 *   GET  /monitor   window and lifetime quality metrics and counters of the monitor.
 *   GET  /, /ui     the status page (ui.c): model, deployment, quality over time, drift, A/B,
 *                   request rate and latency, refreshed from the JSON endpoints every few seconds.
 *   GET  /history   quality snapshots (one a second, ten minutes) and ECDF samples (history.c).
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
 * With a registry, every response names the "slot" (or A/B "variant") and the "model_version"
 * that computed it. With --admin-token-file: /admin/{stage,validate,promote,rollback,canary,shadow,
 * status} and PUT/DELETE /admin/ab (admin.c, ab.c); GET /ab reports an A/B experiment. SIGHUP checks
 * the registry alias once (deploy.c). Limits against hostile clients: limits.c.
 *
 * Exit status: 0 after a clean stop, 1 if the state could not be saved, 2 usage or start-up error. */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "serve.h"

const char *const serve_prog = "mlops-serve";

/* Block the stop signals in every thread (the server's threads inherit the mask); main waits. */
static void block_signals(sigset_t *sigs) {
    sigemptyset(sigs);
    sigaddset(sigs, SIGINT);
    sigaddset(sigs, SIGTERM);
    sigaddset(sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* Wait for SIGINT or SIGTERM. Meanwhile, every REAP_SECONDS, drop the connections past their
 * deadline, and save the state every --checkpoint seconds. */
#define REAP_SECONDS 0.1
static int wait_for_stop(server *s, const sigset_t *sigs) {
    const serve_opts *o = s->opts;
    double next_save = o->checkpoint && o->state_dir ? serve_now() + (double)o->checkpoint : 0;
    double next_follow = o->follow ? serve_now() + (double)o->follow : 0;
    for (;;) {
        struct timespec ts = {0, (long)(REAP_SECONDS * 1e9)};
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) return sig;
        serve_conns_reap(s);
        serve_auto_rollback_check(s);
        serve_history_tick(s);
        if (sig == SIGHUP || (next_follow && serve_now() >= next_follow)) {
            serve_follow_check(s); /* SIGHUP: one check now */
            if (next_follow) next_follow = serve_now() + (double)o->follow;
        }
        if (next_save && serve_now() >= next_save) {
            serve_state_save(s);
            next_save = serve_now() + (double)o->checkpoint;
        }
    }
}

/* --drain-seconds: keep serving (with /ready at 503, so that load balancers move away) for that
 * long, or until a second signal. */
static void drain(server *s, const sigset_t *sigs) {
    double end = serve_now() + (double)s->opts->drain_seconds;
    while (serve_now() < end) {
        struct timespec ts = {0, (long)(REAP_SECONDS * 1e9)};
        int sig = sigtimedwait(sigs, NULL, &ts);
        if (sig == SIGINT || sig == SIGTERM) return;
        serve_conns_reap(s);
    }
}

int main(int argc, char **argv) {
    serve_opts opts;
    int rc = serve_opts_parse(argc, argv, &opts);
    if (rc) return rc == 1 ? 0 : 2;
    sigset_t sigs;
    block_signals(&sigs);
    static server s; /* zeroed; static so that its address is stable and it is not on the stack */
    rc = 2;
    s.history = serve_history_create(); /* before the state: the drift reference fills it */
    if (serve_state_init(&s, &opts) != 0 || serve_http_start(&s) != 0 || serve_state_load(&s) != 0) goto done;
    atomic_store(&s.ready, 1);
    serve_http_announce(&s); /* after: a client that waits for this line finds /ready at 200 */
    int sig = wait_for_stop(&s, &sigs);
    atomic_store(&s.ready, 0);
    fprintf(stderr, "%s: %s: stopping\n", serve_prog, sig == SIGINT ? "SIGINT" : "SIGTERM");
    drain(&s, &sigs);
    serve_http_stop(&s);
    rc = 0;
    if (opts.state_dir) {
        if (serve_state_save(&s) != 0)
            rc = 1;
        else
            fprintf(stderr, "%s: state saved in %s\n", serve_prog, opts.state_dir);
    }
done:
    serve_http_stop(&s);
    serve_state_close(&s);
    serve_history_free(s.history);
    return rc;
}
