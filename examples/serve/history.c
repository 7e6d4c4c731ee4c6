/* The server's memory of the recent past, for the status page (GET /history):
 *  - a ring of quality snapshots, one per HISTORY_SECONDS (window accuracy, or RMSE for regression,
 *    the window's size and the lifetime count of labelled predictions), HISTORY_POINTS long;
 *  - per drift feature, a small sample of the reference (evenly spaced order statistics) and the
 *    last values the drift window received (ECDF_POINTS, or the window if smaller), to draw the ECDFs.
 * One mutex guards it all; its critical sections copy a few hundred numbers at most. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve.h"

#define HISTORY_SECONDS 1.0
#define HISTORY_POINTS 600 /* ten minutes */
#define ECDF_POINTS 200

typedef struct snapshot {
    double t;     /* wall clock, Unix seconds */
    double value; /* window accuracy or RMSE (NaN: no label yet) */
    uint64_t window_count, recorded;
} snapshot;

typedef struct feature_sample {
    double ref[ECDF_POINTS]; /* sorted */
    size_t n_ref;
    double cur[ECDF_POINTS]; /* ring of the last values */
    size_t n_cur, pos;
} feature_sample;

struct serve_history {
    pthread_mutex_t lock;
    snapshot ring[HISTORY_POINTS];
    size_t n, head; /* head: where the next snapshot goes */
    double next;    /* serve_now() of the next snapshot */
    size_t n_feat, cur_cap; /* cur_cap: values kept per feature, at most the drift window */
    feature_sample *feat;
};

serve_history *serve_history_create(void) {
    serve_history *h = calloc(1, sizeof *h);
    if (h && pthread_mutex_init(&h->lock, NULL) != 0) {
        free(h);
        return NULL;
    }
    return h;
}

void serve_history_free(serve_history *h) {
    if (!h) return;
    pthread_mutex_destroy(&h->lock);
    free(h->feat);
    free(h);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Evenly spaced order statistics of column j of the n x nf matrix d (missing left out). */
static void reference_sample(feature_sample *f, const double *d, size_t n, size_t nf, size_t j, double *tmp) {
    size_t k = 0;
    for (size_t r = 0; r < n; r++)
        if (!isnan(d[r * nf + j])) tmp[k++] = d[r * nf + j];
    qsort(tmp, k, sizeof *tmp, cmp_double);
    f->n_ref = k < ECDF_POINTS ? k : ECDF_POINTS;
    for (size_t i = 0; i < f->n_ref; i++)
        f->ref[i] = tmp[k <= ECDF_POINTS ? i : (size_t)((double)i * (double)(k - 1) / (ECDF_POINTS - 1))];
}

void serve_history_reference(server *s, const double *d, size_t n_rows) {
    serve_history *h = s->history;
    if (!h || !s->n_drift) return;
    feature_sample *feat = calloc(s->n_drift, sizeof *feat);
    double *tmp = malloc((n_rows ? n_rows : 1) * sizeof *tmp);
    if (!feat || !tmp) { /* no ECDFs on the page; nothing else changes */
        free(feat);
        free(tmp);
        return;
    }
    for (size_t j = 0; j < s->n_drift; j++)
        reference_sample(&feat[j], d, n_rows, s->n_drift, j, tmp);
    free(tmp);
    pthread_mutex_lock(&h->lock);
    free(h->feat);
    h->feat = feat;
    h->n_feat = s->n_drift;
    h->cur_cap = s->opts->window && s->opts->window < ECDF_POINTS ? s->opts->window : ECDF_POINTS;
    pthread_mutex_unlock(&h->lock);
}

void serve_history_observe(server *s, const double *d, size_t n_rows) {
    serve_history *h = s->history;
    if (!h) return;
    pthread_mutex_lock(&h->lock);
    size_t first = n_rows > h->cur_cap ? n_rows - h->cur_cap : 0; /* older rows would be overwritten */
    for (size_t j = 0; j < h->n_feat; j++) {
        feature_sample *f = &h->feat[j];
        for (size_t r = first; r < n_rows; r++) {
            double v = d[r * h->n_feat + j];
            if (isnan(v)) continue;
            f->cur[f->pos] = v;
            f->pos = (f->pos + 1) % h->cur_cap;
            if (f->n_cur < h->cur_cap) f->n_cur++;
        }
    }
    pthread_mutex_unlock(&h->lock);
}

/* The monitored figure: accuracy for classifiers, RMSE for regression. */
static mlops_metric quality_metric(const server *s) {
    return s->monitor_opts.task == MLOPS_MONITOR_REGRESSION ? MLOPS_METRIC_RMSE : MLOPS_METRIC_ACCURACY;
}

void serve_history_tick(server *s) {
    serve_history *h = s->history;
    if (!h || !s->monitor || serve_now() < h->next) return;
    h->next = serve_now() + HISTORY_SECONDS;
    mlops_monitor_metrics win = {.version = MLOPS_MONITOR_METRICS_VERSION};
    mlops_monitor_stats stats = {.version = MLOPS_MONITOR_STATS_VERSION};
    if (mlops_monitor_compute_metrics(s->monitor, &win) != MLOPS_OK ||
        mlops_monitor_get_stats(s->monitor, &stats) != MLOPS_OK)
        return;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    mlops_metric m = quality_metric(s);
    snapshot snap = {.t = (double)now.tv_sec + now.tv_nsec * 1e-9,
                     .value = win.has & (1ull << m) ? mlops_monitor_metrics_value(&win, m) : NAN,
                     .window_count = stats.window_count,
                     .recorded = stats.recorded};
    pthread_mutex_lock(&h->lock);
    h->ring[h->head] = snap;
    h->head = (h->head + 1) % HISTORY_POINTS;
    if (h->n < HISTORY_POINTS) h->n++;
    pthread_mutex_unlock(&h->lock);
}

static json_t *numbers(const double *v, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, jnum(v[i]));
    return a;
}

/* {name: {"reference": [...], "current": [...]}}, both sorted. Caller holds the lock. */
static json_t *ecdf_json(server *s, serve_history *h) {
    json_t *o = json_object();
    for (size_t j = 0; o && j < h->n_feat; j++) {
        const feature_sample *f = &h->feat[j];
        double cur[ECDF_POINTS];
        memcpy(cur, f->cur, f->n_cur * sizeof *cur);
        qsort(cur, f->n_cur, sizeof *cur, cmp_double);
        json_object_set_new(o, s->drift_names[j],
                            json_pack("{s:o, s:o}", "reference", numbers(f->ref, f->n_ref), "current",
                                      numbers(cur, f->n_cur)));
    }
    return o;
}

static json_t *threshold_json(const server *s) {
    double t = quality_metric(s) == MLOPS_METRIC_RMSE ? s->opts->rollback_above : s->opts->rollback_below;
    return jnum(t); /* NaN (no --rollback-below/--rollback-above): null */
}

enum MHD_Result do_history(server *s, struct MHD_Connection *c, request *rq) {
    serve_history *h = s->history;
    if (!h) return send_error(s, c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL, "no history: out of memory");
    json_t *points = json_array();
    pthread_mutex_lock(&h->lock);
    for (size_t i = 0; points && i < h->n; i++) {
        const snapshot *p = &h->ring[(h->head + HISTORY_POINTS - h->n + i) % HISTORY_POINTS];
        json_array_append_new(points, json_pack("{s:f, s:o, s:I, s:I}", "t", p->t, "value", jnum(p->value),
                                                "window_count", (json_int_t)p->window_count, "recorded",
                                                (json_int_t)p->recorded));
    }
    json_t *ecdf = ecdf_json(s, h);
    pthread_mutex_unlock(&h->lock);
    json_t *doc = json_pack("{s:s, s:f, s:o, s:o, s:o}", "metric",
                            s->monitor ? mlops_metric_name(quality_metric(s)) : "none", "interval",
                            HISTORY_SECONDS, "threshold", threshold_json(s), "points", points, "ecdf", ecdf);
    return send_json(s, c, rq, MHD_HTTP_OK, doc, NULL);
}
