/* mlops-serve's state: the model, its schema, monitor, drift detector and metrics, and the
 * monitor and drift state saved in --state-dir. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cli_util.h"
#include <sodium.h>

#include "serve.h"

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
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
        fprintf(stderr, "%s: %s\n", serve_prog, err);
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
            fprintf(stderr, "%s: %s has no column \"%s\" (feature %zu of the model)\n", serve_prog, path,
                    mlops_model_feature_name(s->model, j), j);
            missing = 1;
        }
    if (missing) goto done;
    if (cli_csv_matrix(&csv, serve_prog, path, sel, s->n_feat, &x, &n_rows, &ids, &n_bad) != 0) goto done;
    if (n_rows == 0) {
        fprintf(stderr, "%s: %s: no usable reference row\n", serve_prog, path);
        goto done;
    }
    d = malloc(n_rows * (s->n_drift > 1 ? s->n_drift : 1) * sizeof *d);
    if (!d) goto done;
    for (size_t r = 0; r < n_rows; r++)
        for (size_t j = 0; j < s->n_drift; j++)
            d[r * s->n_drift + j] = x[r * s->n_feat + s->drift_idx[j]];
    mlops_drift_opts opts;
    mlops_drift_opts_init(&opts, MLOPS_DRIFT_OPTS_VERSION);
    opts.window = window;
    if (mlops_drift_create(s->n_drift, s->drift_names, NULL, &opts, &s->drift) != MLOPS_OK ||
        mlops_drift_set_reference(s->drift, d, n_rows, s->n_drift) != MLOPS_OK) {
        fprintf(stderr, "%s: drift reference %s: %s\n", serve_prog, path, mlops_last_error());
        goto done;
    }
    serve_history_reference(s, d, n_rows); /* the status page's ECDFs */
    if (s->width == 1) { /* the prediction distribution's reference */
        pred = malloc(n_rows * sizeof *pred);
        if (!pred || mlops_model_predict(s->model, x, n_rows, s->n_feat, 0, pred, n_rows) != MLOPS_OK) {
            fprintf(stderr, "%s: predicting the reference rows: %s\n", serve_prog, mlops_last_error());
            goto done;
        }
        for (size_t r = 0; r < n_rows; r++)
            d[r] = pred[r];
        if (mlops_drift_set_prediction_reference(s->drift, d, n_rows) != MLOPS_OK) {
            fprintf(stderr, "%s: %s\n", serve_prog, mlops_last_error());
            goto done;
        }
    }
    fprintf(stderr, "%s: drift reference: %zu rows of %s, %zu features%s\n", serve_prog, n_rows, path,
            s->n_drift, n_bad ? " (malformed rows left out)" : "");
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

/* Restore the monitor and drift state of the same model; anything else is set aside (state_key.c). */
static int restore_state(server *s, const char *dir, const char *mon_path, const char *drift_path) {
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "%s: --state-dir %s: %s\n", serve_prog, dir, strerror(errno));
        return -1;
    }
    if (!serve_state_key_matches(s)) {
        if (file_exists(mon_path)) serve_state_set_aside(s, mon_path, "other_model");
        if (file_exists(drift_path)) serve_state_set_aside(s, drift_path, "other_model");
    }
    if (s->monitor && file_exists(mon_path)) {
        if (mlops_monitor_restore(s->monitor, mon_path) != MLOPS_OK) {
            fprintf(stderr, "%s: cannot restore %s: %s\n", serve_prog, mon_path, mlops_last_error());
            serve_state_set_aside(s, mon_path, "unreadable");
        } else {
            fprintf(stderr, "%s: monitor restored from %s\n", serve_prog, mon_path);
        }
    }
    if (file_exists(drift_path)) {
        mlops_drift *d = NULL;
        if (mlops_drift_load(drift_path, &d) != MLOPS_OK) {
            fprintf(stderr, "%s: cannot restore %s: %s\n", serve_prog, drift_path, mlops_last_error());
            serve_state_set_aside(s, drift_path, "unreadable");
            return 0;
        }
        int same = mlops_drift_n_features(d) == s->n_drift;
        for (size_t j = 0; same && j < s->n_drift; j++)
            same = !strcmp(mlops_drift_feature_name(d, j), s->drift_names[j]);
        if (!same) {
            fprintf(stderr, "%s: %s: its features are not the model's numeric features\n", serve_prog, drift_path);
            mlops_drift_free(d);
            serve_state_set_aside(s, drift_path, "other_model");
            return 0;
        }
        mlops_drift_free(s->drift);
        s->drift = d;
        fprintf(stderr, "%s: drift detector restored from %s\n", serve_prog, drift_path);
    }
    return 0;
}

int serve_state_save(server *s) {
    int rc = 0;
    if (s->monitor && mlops_monitor_save(s->monitor, s->mon_path) != MLOPS_OK) {
        fprintf(stderr, "%s: saving %s: %s\n", serve_prog, s->mon_path, mlops_last_error());
        rc = -1;
    }
    if (s->drift && mlops_drift_save(s->drift, s->drift_path) != MLOPS_OK) {
        fprintf(stderr, "%s: saving %s: %s\n", serve_prog, s->drift_path, mlops_last_error());
        rc = -1;
    }
    /* last: a crash before it leaves the old key, and the next start sets this state aside rather
     * than restoring it for the wrong model */
    if (rc == 0 && serve_state_save_key(s) != 0) rc = -1;
    return rc;
}

/* The monitor follows the model's task; multiclass needs the probabilities (multi:softprob). */
static int open_monitor(server *s, size_t window) {
    mlops_monitor_opts mon;
    mlops_monitor_opts_init(&mon, MLOPS_MONITOR_OPTS_VERSION);
    mon.window = window;
    s->pending_ttl = mon.pending_ttl;
    mlops_task task = mlops_model_task(s->model);
    s->monitor_why = "the model's output cannot be monitored";
    int monitorable = 1;
    if (task == MLOPS_TASK_MULTICLASS) {
        mon.task = MLOPS_MONITOR_MULTICLASS;
        mon.n_classes = (unsigned)mlops_model_n_classes(s->model);
        monitorable = s->width == mon.n_classes && mon.n_classes >= 2;
        if (!monitorable)
            s->monitor_why = "the model outputs class indices, not probabilities (use multi:softprob)";
    } else {
        mon.task = task == MLOPS_TASK_BINARY ? MLOPS_MONITOR_BINARY : MLOPS_MONITOR_REGRESSION;
        monitorable = s->width == 1;
    }
    s->monitor_opts = mon;
    if (monitorable && mlops_monitor_create(&mon, &s->monitor) != MLOPS_OK) {
        fprintf(stderr, "%s: monitor: %s\n", serve_prog, mlops_last_error());
        return -1;
    }
    return 0;
}

const char *serve_model_version_attr(const mlops_model *m) {
    const char *v = NULL;
    return mlops_model_find_attr(m, "version", &v) == MLOPS_OK ? v : NULL;
}

/* ml_model_info's version: the registry version, or the model's own "version" attribute. */
static const char *model_version_label(server *s) {
    static char v[16];
    if (!s->registry) return serve_model_version_attr(s->model);
    snprintf(v, sizeof v, "%u", atomic_load(&s->slot_version[MLOPS_SLOT_BLUE]));
    return v;
}

/* A counter family with one label. */
static int counter1(server *s, const char *name, const char *help, const char *label,
                    mlops_metrics_family **out) {
    mlops_metrics_family_opts fo;
    mlops_metrics_family_opts_init(&fo, MLOPS_METRICS_FAMILY_OPTS_VERSION);
    fo.label_names = &label;
    fo.n_labels = 1;
    return mlops_metrics_register(s->reg, MLOPS_METRICS_COUNTER, name, help, &fo, out) == MLOPS_OK ? 0 : -1;
}

/* ml_http_spins_total{result}: polls after an answer (--spin-us) that found the next request, and
 * those that ran out (each cost the whole --spin-us of CPU). */
static int open_spin_metrics(server *s) {
    mlops_metrics_family *spins;
    const char *hit[1] = {"next_request"}, *miss[1] = {"timed_out"};
    return counter1(s, "ml_http_spins_total",
                    "Polls of a lone connection after an answer (--spin-us), by result: the next request came, "
                    "or the poll ran out",
                    "result", &spins) ||
                   mlops_metrics_series(spins, hit, 1, &s->spin_hits) != MLOPS_OK ||
                   mlops_metrics_series(spins, miss, 1, &s->spin_misses) != MLOPS_OK
               ? -1
               : 0;
}

/* --latency-buckets START,FACTOR,COUNT: exponential upper bounds START * FACTOR^i. The default,
 * 1 us doubling 21 times to 1.05 s, spans what a prediction (0.2-50 us) and a request through HTTP
 * take, so that histogram_quantile() can tell 7 us from 4 ms (Prometheus' default buckets start at 5 ms). */
static int latency_buckets(server *s, const char *spec) {
    double start = MLOPS_METRICS_LATENCY_BUCKETS_START, factor = MLOPS_METRICS_LATENCY_BUCKETS_FACTOR;
    int count = MLOPS_METRICS_LATENCY_BUCKETS_COUNT, used = 0;
    if ((spec && (sscanf(spec, "%lf,%lf,%d%n", &start, &factor, &count, &used) != 3 || spec[used] != '\0' ||
                  count < 1)) ||
        mlops_metrics_exponential_buckets(start, factor, (size_t)count, s->buckets, MLOPS_METRICS_MAX_BUCKETS)) {
        fprintf(
            stderr,
            "%s: --latency-buckets %s: expected START,FACTOR,COUNT (START > 0, FACTOR > 1, COUNT 1..%d)\n",
            serve_prog, spec, MLOPS_METRICS_MAX_BUCKETS);
        return -1;
    }
    s->n_buckets = (size_t)count;
    return 0;
}

/* A histogram family over the latency buckets with `n` labels. */
static int latency_family(server *s, const char *name, const char *help, const char *const *labels, size_t n,
                          mlops_metrics_family **out) {
    mlops_metrics_family_opts fo;
    mlops_metrics_family_opts_init(&fo, MLOPS_METRICS_FAMILY_OPTS_VERSION);
    fo.label_names = labels;
    fo.n_labels = n;
    fo.buckets = s->buckets;
    fo.n_buckets = s->n_buckets;
    return mlops_metrics_register(s->reg, MLOPS_METRICS_HISTOGRAM, name, help, &fo, out) == MLOPS_OK ? 0 : -1;
}

static int open_latency_metrics(server *s) {
    const char *http[2] = {"handler", "code_class"}, *stage = "stage", *variant = "variant";
    return latency_family(s, "http_request_duration_seconds",
                          "HTTP requests from the end of their headers to the response queued", http, 2,
                          &s->http_duration) ||
           latency_family(
               s, "ml_predict_stage_duration_seconds",
               "Time of POST /predict by stage: parse (with validation), predict, monitor, respond", &stage,
               1, &s->stage_duration) ||
           latency_family(s, "ml_ab_request_duration_seconds", "Predict time of each A/B variant", &variant,
                          1, &s->ab_duration);
}

/* The registry and the server's own HTTP metrics: they exist before the model is loaded, so that
 * requests answered while it loads are counted too. */
static int open_http_metrics(server *s) {
    if (latency_buckets(s, s->opts->latency_buckets) != 0) return -1;
    /* The same buckets for the library's standard prediction histogram and the server's own. */
    mlops_metrics_opts mo;
    mlops_metrics_opts_init(&mo, MLOPS_METRICS_OPTS_VERSION);
    mo.latency_buckets = s->buckets;
    mo.n_latency_buckets = s->n_buckets;
    if (mlops_metrics_create(&mo, &s->reg) != MLOPS_OK) goto fail;
    const char *labels[2] = {"handler", "code"};
    mlops_metrics_family_opts fo;
    mlops_metrics_family_opts_init(&fo, MLOPS_METRICS_FAMILY_OPTS_VERSION);
    fo.label_names = labels;
    fo.n_labels = 2;
    if (mlops_metrics_register(s->reg, MLOPS_METRICS_COUNTER, "ml_http_requests_total",
                               "HTTP requests answered, by handler and status code", &fo,
                               &s->http) != MLOPS_OK ||
        counter1(s, "ml_http_dropped_connections_total",
                 "Connections shut down for missing their header or body deadline", "reason", &s->dropped) ||
        counter1(
            s, "ml_http_limited_requests_total",
            "Requests refused by a server-wide limit (memory of unfinished bodies, pending ids per client)",
            "reason", &s->refused) ||
        open_spin_metrics(s) ||
        counter1(s, "ml_state_set_aside_total",
                 "Saved monitor/drift state files set aside at start: of another model, or unreadable", "reason",
                 &s->set_aside) ||
        serve_fleet_open(s) || open_latency_metrics(s))
        goto fail;
    return 0;
fail:
    fprintf(stderr, "%s: metrics: %s\n", serve_prog, mlops_last_error());
    return -1;
}

/* The library's standard metrics of the loaded model, its monitor and drift detector. */
static int open_model_metrics(server *s) {
    if (mlops_metrics_std_create(s->reg, NULL, &s->std) != MLOPS_OK ||
        mlops_metrics_std_set_model(s->std, s->model, s->model_name, model_version_label(s)) != MLOPS_OK ||
        (s->monitor && mlops_metrics_attach_monitor(s->std, s->monitor) != MLOPS_OK) ||
        (s->drift && mlops_metrics_attach_drift(s->std, s->drift) != MLOPS_OK)) {
        fprintf(stderr, "%s: metrics: %s\n", serve_prog, mlops_last_error());
        return -1;
    }
    return 0;
}

/* Remove the temporary files a crashed save left in --state-dir ("<file>.tmp.<pid>.<n>"). */
static void remove_stale_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "monitor.state.tmp.", 18) != 0 &&
            strncmp(e->d_name, "drift.state.tmp.", 16) != 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0)
            fprintf(stderr, "%s: removed %s (left by an interrupted save)\n", serve_prog, path);
    }
    closedir(d);
}

/* --feedback-token-file and the TLS key pair. */
static int open_secrets(server *s, const serve_opts *o) {
    if (o->admin_token_file) {
        if (serve_token_load(o->admin_token_file, s->admin_token) != 0) return -1;
        s->admin_auth = 1;
    }
    if (o->feedback_token_file) {
        if (serve_token_load(o->feedback_token_file, s->feedback_token) != 0) return -1;
        s->feedback_auth = 1;
    }
    if (o->tls_cert) {
        s->tls_cert = serve_read_file(o->tls_cert, 1 << 20, NULL);
        s->tls_key = serve_read_file(o->tls_key, 1 << 20, NULL);
        if (!s->tls_cert || !s->tls_key) {
            fprintf(stderr, "%s: cannot read %s (PEM files of at most 1 MiB)\n", serve_prog,
                    s->tls_cert ? o->tls_key : o->tls_cert);
            return -1;
        }
    }
    return 0;
}

/* --registry: the version the alias names, digest verified. */
static int open_registry_model(server *s, const serve_opts *o, const mlops_model_opts *mopts) {
    uint32_t v = 0;
    mlops_registry_opts ro;
    serve_registry_opts(o, &ro);
    if (mlops_registry_create(o->registry, &ro, &s->registry) != MLOPS_OK ||
        mlops_registry_resolve_alias(s->registry, o->reg_name, o->alias, &v) != MLOPS_OK ||
        mlops_registry_load_model(s->registry, o->reg_name, v, mopts, &s->model, &v) != MLOPS_OK) {
        fprintf(stderr, "%s: --registry %s --name %s --alias %s: %s\n", serve_prog, o->registry, o->reg_name,
                o->alias, mlops_last_error());
        return -1;
    }
    atomic_store(&s->slot_version[MLOPS_SLOT_BLUE], v);
    s->model_name = o->reg_name;
    return 0;
}

static int open_model(server *s, const serve_opts *o) {
    mlops_model_opts mopts;
    mlops_model_opts_init(&mopts, MLOPS_MODEL_OPTS_VERSION);
    if (!strcmp(o->engine, "native"))
        mopts.engine = MLOPS_ENGINE_NATIVE;
    else if (!strcmp(o->engine, "xgboost"))
        mopts.engine = MLOPS_ENGINE_XGBOOST;
    s->engine = mopts.engine;
    if (o->registry) {
        if (open_registry_model(s, o, &mopts) != 0) return -1;
    } else {
        if (mlops_model_load(o->model_path, &mopts, &s->model) != MLOPS_OK) {
            fprintf(stderr, "%s: %s\n", serve_prog, mlops_last_error());
            return -1;
        }
        s->model_name = base_name(o->model_path);
    }
    s->n_feat = mlops_model_n_features(s->model);
    s->width = mlops_model_output_width(s->model, 0);
    if (o->schema_path ? mlops_schema_load(o->schema_path, &s->schema) != MLOPS_OK ||
                             mlops_schema_check_model(s->schema, s->model) != MLOPS_OK
                       : mlops_schema_from_model(s->model, &s->schema) != MLOPS_OK) {
        fprintf(stderr, "%s: schema: %s\n", serve_prog, mlops_last_error());
        return -1;
    }
    if (serve_rows_create(s->schema, &s->rows) != 0) {
        fprintf(stderr, "%s: schema: out of memory\n", serve_prog);
        return -1;
    }
    return 0;
}

int serve_state_init(server *s, const serve_opts *o) {
    s->opts = o;
    pthread_mutex_init(&s->admin_lock, NULL);
    umask(077); /* state files (monitor, drift) are the operator's alone: 0600 */
    if (sodium_init() < 0 || serve_limits_init(s) != 0) {
        fprintf(stderr, "%s: cannot initialise libsodium or the limits\n", serve_prog);
        return -1;
    }
    if (open_secrets(s, o) != 0 || open_http_metrics(s) != 0) return -1;
    return 0;
}

int serve_state_load(server *s) {
    const serve_opts *o = s->opts;
    if (o->state_dir) {
        snprintf(s->mon_path, sizeof s->mon_path, "%s/monitor.state", o->state_dir);
        snprintf(s->drift_path, sizeof s->drift_path, "%s/drift.state", o->state_dir);
    }
    if (open_model(s, o) != 0 || open_monitor(s, o->window) != 0) return -1;
    if (drift_features(s) != 0) {
        fprintf(stderr, "%s: out of memory\n", serve_prog);
        return -1;
    }
    if (o->ref_path) {
        if (s->n_drift == 0) {
            fprintf(stderr, "%s: --reference: the model has no numeric feature to watch\n", serve_prog);
            return -1;
        }
        if (load_reference(s, o->ref_path, o->window) != 0) return -1;
    }
    if (o->state_dir) {
        if (restore_state(s, o->state_dir, s->mon_path, s->drift_path) != 0) return -1;
        remove_stale_temporaries(o->state_dir);
    }
    if (open_model_metrics(s) != 0 || serve_deploy_open(s, o) != 0) return -1;
    if (!(s->model_json = serve_model_json(s))) {
        fprintf(stderr, "%s: out of memory\n", serve_prog);
        return -1;
    }
    atomic_store(&s->loaded, 1); /* publishes everything above to the request threads */
    return 0;
}

void serve_state_close(server *s) {
    serve_ab_close(s);
    serve_deploy_close(s);      /* first: it holds model references and a metrics collector */
    mlops_metrics_free(s->reg); /* detaches the monitor and the drift detector first */
    mlops_monitor_free(s->monitor);
    mlops_drift_free(s->drift);
    free(s->drift_idx);
    free(s->drift_names);
    free(s->model_json);
    serve_rows_free(s->rows);
    mlops_schema_free(s->schema);
    mlops_model_free(s->model);
    serve_limits_free(s);
    pthread_mutex_destroy(&s->admin_lock);
    if (s->tls_key) sodium_memzero(s->tls_key, strlen(s->tls_key));
    free(s->tls_key);
    free(s->tls_cert);
}
