/* Where the served models come from and how they change: the model file or a registry alias,
 * the blue/green deployment every prediction goes through, the staging, gate, promote, rollback,
 * canary and shadow operations the admin API and --follow share, and the ml_deploy_* metrics.
 *
 * Which version served a request: every operation that changes the deployment runs under
 * admin_lock and is bracketed by two increments of swap_seq (odd while it runs). A prediction
 * reads swap_seq and the slot versions before predicting and swap_seq again after; if it changed
 * (or was odd), a switch overlapped the request and it is predicted again, so a response names
 * exactly the version that computed it. Switches are rare and short; requests never wait on a lock. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../cli_util.h"
#include "serve.h"

static const char *const slot_names[3] = {"blue", "green", "previous"};

const char *serve_slot_name(mlops_deploy_slot slot) {
    return (unsigned)slot < 3 ? slot_names[slot] : "unknown";
}

/* ---- the prediction path ---- */

mlops_status serve_predict(server *s, const char *key, const float *x, size_t n_rows, float *out,
                           size_t out_len, mlops_deploy_slot *slot, unsigned *version) {
    size_t key_len = key ? strlen(key) : 0;
    for (;;) {
        uint64_t before = atomic_load(&s->swap_seq);
        unsigned versions[2] = {atomic_load(&s->slot_version[0]), atomic_load(&s->slot_version[1])};
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        mlops_status st =
            mlops_deploy_predict(s->deploy, key, key_len, x, n_rows, s->n_feat, 0, out, out_len, slot);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (st == MLOPS_OK && (before & 1u || atomic_load(&s->swap_seq) != before)) continue; /* overlapped */
        mlops_metrics_std_observe_predict(
            s->std, n_rows, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9, st);
        if (st == MLOPS_OK) *version = versions[*slot == MLOPS_SLOT_GREEN];
        return st;
    }
}

/* ---- switches (caller holds admin_lock) ---- */

static void swap_begin(server *s) { atomic_fetch_add(&s->swap_seq, 1); }
static void swap_end(server *s) { atomic_fetch_add(&s->swap_seq, 1); }

/* ml_model_info names the live model and its version. */
static void publish_live(server *s) {
    mlops_model *live = NULL;
    if (mlops_deploy_model(s->deploy, MLOPS_SLOT_BLUE, &live) != MLOPS_OK) return;
    char v[16];
    snprintf(v, sizeof v, "%u", atomic_load(&s->slot_version[MLOPS_SLOT_BLUE]));
    mlops_metrics_std_set_model(s->std, live, s->model_name,
                                s->registry ? v : serve_model_version_attr(live));
    mlops_model_free(live);
}

mlops_status serve_stage(server *s, unsigned version, const char *alias, char *why, size_t why_len) {
    if (!s->registry) {
        snprintf(why, why_len, "no registry: start with --registry DIR --name NAME to stage versions");
        return MLOPS_ESTATE;
    }
    uint32_t v = version;
    if (alias && mlops_registry_resolve_alias(s->registry, s->opts->reg_name, alias, &v) != MLOPS_OK) {
        snprintf(why, why_len, "%s", mlops_last_error());
        return MLOPS_ENOTFOUND;
    }
    mlops_model_opts mo;
    mlops_model_opts_init(&mo, MLOPS_MODEL_OPTS_VERSION);
    mo.engine = s->engine;
    mlops_model *m = NULL;
    uint32_t loaded = 0;
    mlops_status st = mlops_registry_load_model(s->registry, s->opts->reg_name, v, &mo, &m, &loaded);
    if (st == MLOPS_OK) {
        swap_begin(s);
        st = mlops_deploy_stage(s->deploy, m);
        if (st == MLOPS_OK) atomic_store(&s->slot_version[MLOPS_SLOT_GREEN], loaded);
        swap_end(s);
    }
    if (st != MLOPS_OK) snprintf(why, why_len, "%s", mlops_last_error());
    mlops_model_free(m);
    if (st == MLOPS_OK) s->gate_ok = 0;
    return st;
}

/* One gate run of `metric` with `tolerance`; the report is added to `doc` under the metric's name. */
static mlops_status gate_run(server *s, mlops_deploy_gate_metric metric, double tolerance, json_t *doc,
                             mlops_deploy_gate_report *rep) {
    mlops_deploy_gate_opts g;
    mlops_deploy_gate_opts_init(&g, MLOPS_DEPLOY_GATE_OPTS_VERSION);
    g.metric = metric;
    g.tolerance = tolerance;
    mlops_status st =
        mlops_deploy_validate(s->deploy, s->gate_x, s->gate_rows, s->n_feat, s->gate_y, &g, rep);
    if (st == MLOPS_OK)
        json_object_set_new(doc, mlops_deploy_gate_metric_name(rep->metric),
                            json_pack("{s:o, s:o, s:b, s:s}", "live", jnum(rep->live_metric), "candidate",
                                      jnum(rep->candidate_metric), "passed", rep->passed, "why",
                                      rep->reason));
    return st;
}

mlops_status serve_validate(server *s, const serve_gate *gate, json_t **report, char *why, size_t why_len) {
    if (!s->gate_rows) {
        snprintf(why, why_len, "no gate data: start with --gate-data CSV --gate-label COLUMN");
        return MLOPS_ESTATE;
    }
    json_t *metrics = json_object();
    mlops_deploy_gate_report acc = {0}, main_rep = {0};
    mlops_task task = mlops_model_task(s->model);
    int binary = task == MLOPS_TASK_BINARY;
    mlops_status st = MLOPS_OK;
    /* binary: accuracy (reported, checked against min_accuracy) then log loss, the remembered gate */
    if (binary) st = gate_run(s, MLOPS_DEPLOY_GATE_ACCURACY, 1.0, metrics, &acc);
    if (st == MLOPS_OK)
        st = gate_run(s, binary ? MLOPS_DEPLOY_GATE_LOGLOSS : MLOPS_DEPLOY_GATE_AUTO, gate->max_increase, metrics,
                      &main_rep);
    if (st != MLOPS_OK) {
        snprintf(why, why_len, "%s", mlops_last_error());
        json_decref(metrics);
        return st;
    }
    int passed = main_rep.passed;
    char reason[256];
    snprintf(reason, sizeof reason, "%s", main_rep.reason);
    if (passed && binary && acc.candidate_metric < gate->min_accuracy) {
        passed = 0;
        snprintf(reason, sizeof reason, "candidate accuracy %.6g is below min_accuracy %.6g",
                 acc.candidate_metric, gate->min_accuracy);
    }
    if (passed && main_rep.metric == MLOPS_DEPLOY_GATE_RMSE && main_rep.candidate_metric > gate->max_rmse) {
        passed = 0;
        snprintf(reason, sizeof reason, "candidate RMSE %.6g is above max_rmse %.6g",
                 main_rep.candidate_metric, gate->max_rmse);
    }
    s->gate_ok = passed;
    *report = json_pack("{s:b, s:s, s:I, s:I, s:o, s:o}", "passed", passed, "why", reason, "rows",
                        (json_int_t)main_rep.n_rows, "candidate_version",
                        (json_int_t)atomic_load(&s->slot_version[MLOPS_SLOT_GREEN]), "max_abs_diff",
                        jnum(main_rep.max_abs_diff), "metrics", metrics);
    json_decref(s->gate_report);
    s->gate_report = json_incref(*report);
    if (!passed) mlops_metrics_counter_inc(s->gate_failures, 1.0);
    return MLOPS_OK;
}

/* The monitor's lifetime label count, correct predictions and squared-error sum. */
static int lifetime(server *s, uint64_t *count, double *correct, double *sse) {
    mlops_monitor_metrics m = {.version = MLOPS_MONITOR_METRICS_VERSION};
    if (!s->monitor || mlops_monitor_get_lifetime(s->monitor, &m) != MLOPS_OK) return -1;
    double acc = mlops_monitor_metrics_value(&m, MLOPS_METRIC_ACCURACY);
    double mse = mlops_monitor_metrics_value(&m, MLOPS_METRIC_MSE);
    *count = m.count;
    *correct = isfinite(acc) ? acc * (double)m.count : 0.0;
    *sse = isfinite(mse) ? mse * (double)m.count : 0.0;
    return 0;
}

static void arm_auto_rollback(server *s) {
    s->rollback_armed = (isfinite(s->opts->rollback_below) || isfinite(s->opts->rollback_above)) &&
                        lifetime(s, &s->base_count, &s->base_correct, &s->base_sse) == 0;
}

/* The live model's accuracy and RMSE over its labels in the monitor's window, and how many those
 * are. While the window still holds labels from before the promotion, they are the labels since
 * the promotion (lifetime counters minus those at the promotion: the window's own sums cannot be
 * split); once the window holds only labels since the promotion, it is the window itself, so a
 * model that was good at first and turns bad is judged on its recent labels, not diluted by all
 * of them. Labels of predictions the previous model made just before the switch count too: the
 * switch is instant, they are few. */
static int live_window(server *s, double *k, double *acc, double *rmse) {
    uint64_t n;
    double correct, sse;
    mlops_monitor_metrics w = {.version = MLOPS_MONITOR_METRICS_VERSION};
    if (lifetime(s, &n, &correct, &sse) != 0 || mlops_monitor_compute_metrics(s->monitor, &w) != MLOPS_OK)
        return -1;
    double since = (double)(n - s->base_count);
    if (since >= (double)w.count) {
        *k = (double)w.count;
        *acc = mlops_monitor_metrics_value(&w, MLOPS_METRIC_ACCURACY);
        *rmse = mlops_monitor_metrics_value(&w, MLOPS_METRIC_RMSE);
    } else {
        *k = since;
        *acc = (correct - s->base_correct) / since;
        *rmse = sqrt((sse - s->base_sse) / since);
    }
    return 0;
}

/* Roll back when the live model has --rollback-min-labels labels in its window (see live_window)
 * and their accuracy is below --rollback-below (or their RMSE above --rollback-above). A
 * --rollback-min-labels above --window never fires. */
void serve_auto_rollback_check(server *s) {
    pthread_mutex_lock(&s->admin_lock);
    double k, acc, rmse;
    if (s->rollback_armed && live_window(s, &k, &acc, &rmse) == 0 &&
        k >= (double)s->opts->rollback_min_labels) {
        int worse = acc < s->opts->rollback_below || rmse > s->opts->rollback_above; /* NaN: off */
        char why[512];
        if (worse && serve_rollback(s, "auto", why, sizeof why) == MLOPS_OK)
            fprintf(stderr,
                    "%s: automatic rollback: %.0f labels of the live model in the window, accuracy %.4g, "
                    "RMSE %.4g\n",
                    serve_prog, k, acc, rmse);
        else if (worse)
            fprintf(stderr, "%s: automatic rollback failed: %s\n", serve_prog, why);
    }
    pthread_mutex_unlock(&s->admin_lock);
}

/* Promote (with `flags`) or roll back inside a swap. On success the slots' registry versions move as
 * the deployment moved the models and the gate's verdict is spent; on failure `why` has the message. */
static mlops_status move_slots(server *s, int promote, uint32_t flags, char *why, size_t why_len) {
    static const int promoted[3] = {MLOPS_SLOT_GREEN, -1, MLOPS_SLOT_BLUE}; /* slot i's version from */
    static const int rolled_back[3] = {MLOPS_SLOT_PREVIOUS, MLOPS_SLOT_GREEN, -1};
    const int *from = promote ? promoted : rolled_back;
    swap_begin(s);
    mlops_status st = promote ? mlops_deploy_promote(s->deploy, flags) : mlops_deploy_rollback(s->deploy);
    if (st == MLOPS_OK) {
        unsigned v[3];
        for (int i = 0; i < 3; i++)
            v[i] = from[i] < 0 ? 0 : atomic_load(&s->slot_version[from[i]]);
        for (int i = 0; i < 3; i++)
            atomic_store(&s->slot_version[i], v[i]);
    }
    swap_end(s);
    if (st != MLOPS_OK)
        snprintf(why, why_len, "%s", mlops_last_error());
    else
        s->gate_ok = 0;
    return st;
}

mlops_status serve_promote(server *s, int force, char *why, size_t why_len) {
    if (!force && !s->gate_ok) {
        snprintf(why, why_len, "the candidate has not passed the gate (validate it, or promote with force)");
        return MLOPS_EVALIDATION;
    }
    mlops_status st = move_slots(s, 1, force ? MLOPS_DEPLOY_FORCE : 0, why, why_len);
    if (st != MLOPS_OK) return st;
    mlops_metrics_counter_inc(s->promotions, 1.0);
    arm_auto_rollback(s);
    publish_live(s);
    return MLOPS_OK;
}

mlops_status serve_rollback(server *s, const char *reason, char *why, size_t why_len) {
    mlops_status st = move_slots(s, 0, 0, why, why_len);
    if (st != MLOPS_OK) return st;
    s->rollback_armed = 0;
    const char *labels[1] = {reason};
    mlops_metrics_counter_inc_labels(s->rollbacks, labels, 1, 1.0);
    publish_live(s);
    if (!strcmp(reason, "auto")) serve_audit(s, "auto-rollback", NULL, 200, NULL); /* admin's: admin.c */
    return MLOPS_OK;
}

/* ---- --follow and SIGHUP: the alias moved? stage, gate, promote ---- */

void serve_follow_check(server *s) {
    uint32_t v = 0;
    if (!s->registry ||
        mlops_registry_resolve_alias(s->registry, s->opts->reg_name, s->opts->alias, &v) != MLOPS_OK)
        return;
    pthread_mutex_lock(&s->admin_lock);
    if (v != atomic_load(&s->slot_version[MLOPS_SLOT_BLUE]) && v != s->follow_tried) {
        s->follow_tried = v;
        char why[512];
        json_t *rep = NULL;
        serve_gate gate = {0.0, 0.0, INFINITY};
        int ok = serve_stage(s, v, NULL, why, sizeof why) == MLOPS_OK &&
                 serve_validate(s, &gate, &rep, why, sizeof why) == MLOPS_OK && s->gate_ok &&
                 serve_promote(s, 0, why, sizeof why) == MLOPS_OK;
        if (!ok && !rep) mlops_metrics_counter_inc(s->gate_failures, 1.0); /* could not even be gated */
        fprintf(stderr, "%s: %s moved to version %u: %s\n", serve_prog, s->opts->alias, v,
                ok    ? "promoted"
                : rep ? "the gate failed, still serving the live version"
                      : why);
        json_decref(rep);
    }
    pthread_mutex_unlock(&s->admin_lock);
}

/* ---- start-up ---- */

/* --gate-data and --gate-label: the validation rows, in the model's feature order. */
static int load_gate_data(server *s, const serve_opts *o) {
    cli_csv csv;
    char err[512];
    if (cli_csv_read(o->gate_data, &csv, err, sizeof err) != 0) {
        fprintf(stderr, "%s: --gate-data: %s\n", serve_prog, err);
        return -1;
    }
    int rc = -1;
    long *sel = malloc((s->n_feat + 1) * sizeof *sel);
    float *xy = NULL;
    size_t *ids = NULL, n = 0, n_bad = 0;
    if (!sel) goto done;
    for (size_t j = 0; j <= s->n_feat; j++) {
        const char *name = j < s->n_feat ? mlops_model_feature_name(s->model, j) : o->gate_label;
        if ((sel[j] = cli_csv_col(&csv, name)) < 0) {
            fprintf(stderr, "%s: --gate-data %s has no column \"%s\"\n", serve_prog, o->gate_data, name);
            goto done;
        }
    }
    if (cli_csv_matrix(&csv, serve_prog, o->gate_data, sel, s->n_feat + 1, &xy, &n, &ids, &n_bad) != 0)
        goto done;
    if (n == 0) {
        fprintf(stderr, "%s: --gate-data %s: no usable row\n", serve_prog, o->gate_data);
        goto done;
    }
    s->gate_x = malloc(n * (s->n_feat ? s->n_feat : 1) * sizeof *s->gate_x);
    s->gate_y = malloc(n * sizeof *s->gate_y);
    if (!s->gate_x || !s->gate_y) goto done;
    for (size_t r = 0; r < n; r++) {
        memcpy(s->gate_x + r * s->n_feat, xy + r * (s->n_feat + 1), s->n_feat * sizeof *xy);
        s->gate_y[r] = xy[r * (s->n_feat + 1) + s->n_feat];
    }
    s->gate_rows = n;
    rc = 0;
done:
    free(sel);
    free(xy);
    free(ids);
    cli_csv_free(&csv);
    return rc;
}

/* ml_deploy_canary_fraction, ml_deploy_shadow_disagreements_total, ml_model_version{slot}: read at scrape. */
static mlops_status collect(mlops_metrics_writer *w, void *user) {
    server *s = user;
    mlops_deploy_stats st;
    mlops_status rc = mlops_deploy_get_stats(s->deploy, &st);
    if (rc != MLOPS_OK) return rc;
    const char *slot = "slot";
    if ((rc = mlops_metrics_writer_family(w, MLOPS_METRICS_GAUGE, "ml_deploy_canary_fraction",
                                          "Share of requests the staged candidate serves", NULL, 0)) ||
        (rc = mlops_metrics_writer_sample(w, NULL, 0, st.has_candidate ? st.canary_fraction : 0.0)) ||
        (rc = mlops_metrics_writer_family(w, MLOPS_METRICS_COUNTER, "ml_deploy_shadow_disagreements_total",
                                          "Shadowed rows where the candidate disagreed with the live model",
                                          NULL, 0)) ||
        (rc = mlops_metrics_writer_sample(w, NULL, 0, (double)st.shadow_disagreements)) ||
        (rc = mlops_metrics_writer_family(
             w, MLOPS_METRICS_GAUGE, "ml_model_version",
             "Registry version in each deployment slot (0: empty, or a model file)", &slot, 1)))
        return rc;
    for (int k = 0; k < 3; k++) {
        const char *v[1] = {slot_names[k]};
        if ((rc = mlops_metrics_writer_sample(w, v, 1, (double)atomic_load(&s->slot_version[k])))) return rc;
    }
    return serve_ab_collect(s, w);
}

static int deploy_metrics(server *s) {
    const char *reason = "reason";
    mlops_metrics_family_opts fo;
    mlops_metrics_family_opts_init(&fo, MLOPS_METRICS_FAMILY_OPTS_VERSION);
    mlops_metrics_family *gate = NULL;
    if (mlops_metrics_register(s->reg, MLOPS_METRICS_COUNTER, "ml_deploy_promotions_total",
                               "Candidates promoted to live", NULL, &s->promotions_family) != MLOPS_OK ||
        mlops_metrics_series(s->promotions_family, NULL, 0, &s->promotions) != MLOPS_OK ||
        mlops_metrics_register(s->reg, MLOPS_METRICS_COUNTER, "ml_deploy_gate_failures_total",
                               "Candidates the validation gate refused", NULL, &gate) != MLOPS_OK ||
        mlops_metrics_series(gate, NULL, 0, &s->gate_failures) != MLOPS_OK)
        return -1;
    fo.label_names = &reason;
    fo.n_labels = 1;
    if (mlops_metrics_register(s->reg, MLOPS_METRICS_COUNTER, "ml_deploy_rollbacks_total",
                               "Rollbacks to the previous live model, by reason (admin, auto)", &fo,
                               &s->rollbacks) != MLOPS_OK ||
        mlops_metrics_add_collector(s->reg, collect, s) != MLOPS_OK)
        return -1;
    return 0;
}

int serve_deploy_open(server *s, const serve_opts *o) {
    if (mlops_deploy_create(s->model, NULL, &s->deploy) != MLOPS_OK || deploy_metrics(s) != 0) {
        fprintf(stderr, "%s: deployment: %s\n", serve_prog, mlops_last_error());
        return -1;
    }
    if (o->gate_data && load_gate_data(s, o) != 0) return -1;
    return 0;
}

void serve_deploy_close(server *s) {
    mlops_deploy_free(s->deploy);
    mlops_registry_free(s->registry);
    json_decref(s->gate_report);
    free(s->gate_x);
    free(s->gate_y);
}
