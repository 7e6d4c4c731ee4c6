/* Sliding-window model quality monitor: incremental metrics, delayed labels, alerts, durable state.
 *
 * Layout: a ring of `window` slots (prediction, label, log-loss term) with the
 * sums every metric needs (Neumaier-compensated, added on push and subtracted
 * on eviction, rebuilt from the ring every `recompute_every` pushes), lifetime
 * sums beside them, a pending store (hash table + age list over a fixed node
 * pool) for predictions that wait for their label, and one alert rule per
 * metric. One mutex guards everything; inputs are validated before it is
 * taken and callbacks, sorting and file I/O happen after it is released. */
#include "mlops/monitor.h"

#include <gsl/gsl_sort_double.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "monitor_internal.h"

#define MAX_ID_LEN 1024

/* ---------------------------------------------------------------- sums */

static inline void ksum_add(ksum *k, double x) {
    double t = k->s + x;
    if (fabs(k->s) >= fabs(x))
        k->c += (k->s - t) + x;
    else
        k->c += (x - t) + k->s;
    k->s = t;
}
static inline double ksum_val(const ksum *k) { return k->s + k->c; }

/* Apply one slot to the sums with sign +1 (push) or -1 (evict). Label runs
 * (`label_changes`) are maintained by the caller, which knows the neighbours. */
static inline void sums_apply(mlops__monitor_sums *w, const mlops__monitor_core *c, const mlops__slot *s,
                              int sign) {
    double sg = (double)sign;
    if (sign > 0)
        w->n++;
    else
        w->n--;
    ksum_add(&w->pred, sg * s->pred);
    switch (c->cfg.task) {
    case MLOPS_MONITOR_BINARY: {
        int yhat = s->pred >= c->cfg.threshold, y = s->y != 0.0;
        uint64_t *cell = y ? (yhat ? &w->tp : &w->fn) : (yhat ? &w->fp : &w->tn);
        if (sign > 0)
            (*cell)++;
        else
            (*cell)--;
        double d = s->pred - s->y;
        ksum_add(&w->ll, sg * s->ll);
        ksum_add(&w->brier, sg * d * d);
        ksum_add(&w->y1, sg * s->y);
        break;
    }
    case MLOPS_MONITOR_MULTICLASS: {
        size_t k = (size_t)s->pred, y = (size_t)s->y, K = c->cfg.n_classes;
        uint64_t *tp = w->cls, *fp = w->cls + K, *fn = w->cls + 2 * K;
        if (sign > 0) {
            if (k == y)
                tp[k]++, w->correct++;
            else
                fp[k]++, fn[y]++;
        } else {
            if (k == y)
                tp[k]--, w->correct--;
            else
                fp[k]--, fn[y]--;
        }
        ksum_add(&w->ll, sg * s->ll);
        ksum_add(&w->y1, sg * s->y);
        break;
    }
    default: {
        double e = s->y - s->pred, se = e * e, ae = fabs(e), yc = s->y - w->shift;
        ksum_add(&w->y1, sg * yc);
        ksum_add(&w->y2, sg * yc * yc);
        ksum_add(&w->se, sg * se);
        ksum_add(&w->ae, sg * ae);
        if (ae < c->cfg.tolerance) w->tol_ok += (uint64_t)(int64_t)sign;
        if (se == 0.0) w->exact += (uint64_t)(int64_t)sign;
        break;
    }
    }
}

static inline void lifetime_push(mlops__monitor_sums *t, const mlops__monitor_core *c, const mlops__slot *s) {
    if (c->cfg.task == MLOPS_MONITOR_REGRESSION) {
        if (t->n > 0 && s->y != t->last_y) t->label_changes++;
        t->last_y = s->y;
        /* Welford for the lifetime label variance (no subtraction, no re-centering). */
        double d = s->y - t->mean;
        t->mean += d / (double)(t->n + 1);
        t->m2 += d * (s->y - t->mean);
    }
    sums_apply(t, c, s, +1);
}

/* ------------------------------------------------------------- metrics */

static double nan_(void) { return NAN; }

uint64_t mlops__monitor_task_mask(mlops_monitor_task task) {
    uint64_t m =
        (1u << MLOPS_METRIC_COUNT) | (1u << MLOPS_METRIC_MEAN_PREDICTION) | (1u << MLOPS_METRIC_MEAN_LABEL);
    switch (task) {
    case MLOPS_MONITOR_BINARY:
        return m | (1u << MLOPS_METRIC_ACCURACY) | (1u << MLOPS_METRIC_PRECISION) |
               (1u << MLOPS_METRIC_RECALL) | (1u << MLOPS_METRIC_F1) | (1u << MLOPS_METRIC_LOG_LOSS) |
               (1u << MLOPS_METRIC_ROC_AUC) | (1u << MLOPS_METRIC_BRIER);
    case MLOPS_MONITOR_MULTICLASS:
        return m | (1u << MLOPS_METRIC_ACCURACY) | (1u << MLOPS_METRIC_F1) | (1u << MLOPS_METRIC_LOG_LOSS);
    default:
        return m | (1u << MLOPS_METRIC_MSE) | (1u << MLOPS_METRIC_RMSE) | (1u << MLOPS_METRIC_MAE) |
               (1u << MLOPS_METRIC_R2) | (1u << MLOPS_METRIC_TOLERANCE_ACCURACY);
    }
}

static double ratio0(uint64_t num, uint64_t den) { return den ? (double)num / (double)den : 0.0; }

/* Everything but ROC AUC, from sums. `lifetime` selects the Welford label variance. */
static void fill_metrics(const mlops__monitor_sums *w, const mlops__monitor_core *c, int lifetime,
                         mlops_monitor_metrics *out) {
    unsigned version = out->version;
    double nan = nan_();
    out->version = version;
    out->has = mlops__monitor_task_mask(c->cfg.task);
    out->count = w->n;
    out->mean_prediction = out->mean_label = out->accuracy = out->precision = out->recall = out->f1 = nan;
    out->log_loss = out->roc_auc = out->brier = out->mse = out->rmse = out->mae = out->r2 = nan;
    out->tolerance_accuracy = nan;
    if (w->n == 0) return;
    double n = (double)w->n;
    out->mean_prediction = ksum_val(&w->pred) / n;
    switch (c->cfg.task) {
    case MLOPS_MONITOR_BINARY: {
        out->mean_label = (double)(w->tp + w->fn) / n;
        out->accuracy = (double)(w->tp + w->tn) / n;
        double p = ratio0(w->tp, w->tp + w->fp), r = ratio0(w->tp, w->tp + w->fn);
        out->precision = p;
        out->recall = r;
        out->f1 = (p + r) > 0.0 ? 2.0 * p * r / (p + r) : 0.0;
        out->log_loss = ksum_val(&w->ll) / n;
        out->brier = ksum_val(&w->brier) / n;
        break;
    }
    case MLOPS_MONITOR_MULTICLASS: {
        size_t K = c->cfg.n_classes;
        const uint64_t *tp = w->cls, *fp = w->cls + K, *fn = w->cls + 2 * K;
        out->mean_label = ksum_val(&w->y1) / n;
        out->accuracy = (double)w->correct / n;
        out->log_loss = ksum_val(&w->ll) / n;
        double f1sum = 0.0;
        size_t present = 0;
        for (size_t k = 0; k < K; k++) {
            if (tp[k] + fp[k] + fn[k] == 0) continue; /* class absent from labels and predictions */
            present++;
            double p = ratio0(tp[k], tp[k] + fp[k]), r = ratio0(tp[k], tp[k] + fn[k]);
            f1sum += (p + r) > 0.0 ? 2.0 * p * r / (p + r) : 0.0;
        }
        out->f1 = f1sum / (double)present;
        break;
    }
    default: {
        double sy = ksum_val(&w->y1);
        out->mean_label = lifetime ? w->mean : w->shift + sy / n;
        out->mse = ksum_val(&w->se) / n;
        if (out->mse < 0.0) out->mse = 0.0;
        out->rmse = sqrt(out->mse);
        out->mae = ksum_val(&w->ae) / n;
        out->tolerance_accuracy = (double)w->tol_ok / n;
        if (w->n < 2) {
            out->r2 = nan;
        } else if (w->label_changes == 0) {
            /* Constant labels: sklearn's force_finite convention. */
            out->r2 = w->exact == w->n ? 1.0 : 0.0;
        } else {
            double sstot = lifetime ? w->m2 : ksum_val(&w->y2) - sy * sy / n;
            double ssres = ksum_val(&w->se);
            out->r2 = sstot > 0.0 ? 1.0 - ssres / sstot : (ssres == 0.0 ? 1.0 : 0.0);
        }
        break;
    }
    }
}

double mlops_monitor_metrics_value(const mlops_monitor_metrics *m, mlops_metric metric) {
    if (!m || (unsigned)metric >= MLOPS_METRIC_N || !(m->has & (1ull << metric))) return NAN;
    switch (metric) {
    case MLOPS_METRIC_COUNT:
        return (double)m->count;
    case MLOPS_METRIC_MEAN_PREDICTION:
        return m->mean_prediction;
    case MLOPS_METRIC_MEAN_LABEL:
        return m->mean_label;
    case MLOPS_METRIC_ACCURACY:
        return m->accuracy;
    case MLOPS_METRIC_PRECISION:
        return m->precision;
    case MLOPS_METRIC_RECALL:
        return m->recall;
    case MLOPS_METRIC_F1:
        return m->f1;
    case MLOPS_METRIC_LOG_LOSS:
        return m->log_loss;
    case MLOPS_METRIC_ROC_AUC:
        return m->roc_auc;
    case MLOPS_METRIC_BRIER:
        return m->brier;
    case MLOPS_METRIC_MSE:
        return m->mse;
    case MLOPS_METRIC_RMSE:
        return m->rmse;
    case MLOPS_METRIC_MAE:
        return m->mae;
    case MLOPS_METRIC_R2:
        return m->r2;
    case MLOPS_METRIC_TOLERANCE_ACCURACY:
        return m->tolerance_accuracy;
    default:
        return NAN;
    }
}

static const char *const metric_names[MLOPS_METRIC_N] = {"count",
                                                         "mean_prediction",
                                                         "mean_label",
                                                         "accuracy",
                                                         "precision",
                                                         "recall",
                                                         "f1",
                                                         "log_loss",
                                                         "roc_auc",
                                                         "brier",
                                                         "mse",
                                                         "rmse",
                                                         "mae",
                                                         "r2",
                                                         "tolerance_accuracy"};

const char *mlops_metric_name(mlops_metric metric) {
    return (unsigned)metric < MLOPS_METRIC_N ? metric_names[metric] : NULL;
}

/* ---------------------------------------------------------------- options */

MLOPS__DEFINE_OPTS_INIT(mlops_monitor_opts_init, mlops_monitor_opts, MLOPS_MONITOR_OPTS_INIT,
                        MLOPS_MONITOR_OPTS_VERSION, sizeof(mlops_monitor_opts))

MLOPS__DEFINE_OPTS_INIT(mlops_alert_rule_init, mlops_alert_rule, MLOPS_ALERT_RULE_INIT,
                        MLOPS_ALERT_RULE_VERSION, sizeof(mlops_alert_rule))

mlops_status mlops__monitor_check_opts(const mlops_monitor_opts *o) {
    MLOPS__CHECK_VERSION("monitor", "options", o->version, MLOPS_MONITOR_OPTS_VERSION);
    if (o->task != MLOPS_MONITOR_BINARY && o->task != MLOPS_MONITOR_MULTICLASS &&
        o->task != MLOPS_MONITOR_REGRESSION)
        return mlops__fail(MLOPS_EINVAL, "monitor: unknown task %d", (int)o->task);
    if (o->window == 0) return mlops__fail(MLOPS_EINVAL, "monitor: window must be at least 1");
    if (o->window > ((size_t)1 << 32))
        return mlops__fail(MLOPS_EINVAL, "monitor: window %zu is larger than 2^32", o->window);
    if (!isfinite(o->threshold)) return mlops__fail(MLOPS_EINVAL, "monitor: threshold must be finite");
    if (!isfinite(o->tolerance) || o->tolerance < 0.0)
        return mlops__fail(MLOPS_EINVAL, "monitor: tolerance must be finite and >= 0");
    if (o->task == MLOPS_MONITOR_MULTICLASS && (o->n_classes < 2 || o->n_classes > 65536))
        return mlops__fail(MLOPS_EINVAL, "monitor: multiclass needs n_classes in [2, 65536], got %u",
                           o->n_classes);
    if (o->pending_capacity >= ((size_t)1 << 30))
        return mlops__fail(MLOPS_EINVAL, "monitor: pending_capacity %zu is too large (limit 2^30)",
                           o->pending_capacity);
    if (!(o->pending_ttl >= 0.0) || isinf(o->pending_ttl))
        return mlops__fail(MLOPS_EINVAL, "monitor: pending_ttl must be finite and >= 0");
    if (!(o->log_loss_eps > 0.0 && o->log_loss_eps < 0.5))
        return mlops__fail(MLOPS_EINVAL, "monitor: log_loss_eps must be in (0, 0.5)");
    return MLOPS_OK;
}

void mlops__monitor_cfg_from_opts(const mlops_monitor_opts *o, mlops__monitor_cfg *g) {
    g->task = o->task;
    g->n_classes =
        o->task == MLOPS_MONITOR_MULTICLASS ? o->n_classes : (o->task == MLOPS_MONITOR_BINARY ? 2 : 0);
    g->width = o->task == MLOPS_MONITOR_MULTICLASS ? o->n_classes : 1;
    g->threshold = o->threshold;
    g->tolerance = o->tolerance;
    g->eps = o->log_loss_eps;
    g->pending_capacity = o->pending_capacity;
}

/* ------------------------------------------------------------ validation */

/* Validate one record and turn it into a slot (pure: no monitor state). */
mlops_status mlops__monitor_make_slot(const mlops__monitor_cfg *g, const double *pred, double actual,
                                      size_t row, int batch, mlops__slot *out) {
    char where[48]; /* " (row N)" for batches, formatted only on failure */
#define WHERE (batch ? (snprintf(where, sizeof where, " (row %zu)", row + 1), where) : "")
    if (!isfinite(actual)) return mlops__fail(MLOPS_EINVAL, "monitor: label%s is %g", WHERE, actual);
    switch (g->task) {
    case MLOPS_MONITOR_BINARY: {
        double p = pred[0];
        if (!isfinite(p)) return mlops__fail(MLOPS_EINVAL, "monitor: prediction%s is %g", WHERE, p);
        if (p < 0.0 || p > 1.0)
            return mlops__fail(MLOPS_ERANGE, "monitor: binary prediction%s %g is not a probability in [0, 1]",
                               WHERE, p);
        if (actual != 0.0 && actual != 1.0)
            return mlops__fail(MLOPS_ERANGE, "monitor: binary label%s %g is not 0 or 1", WHERE, actual);
        /* sklearn 1.2 log_loss: clip to [eps, 1-eps], columns (1-p, p), renormalize. */
        double eps = g->eps, pc = p < eps ? eps : (p > 1.0 - eps ? 1.0 - eps : p), q = 1.0 - pc;
        double sum = q + pc;
        out->pred = p;
        out->y = actual;
        out->ll = -log((actual != 0.0 ? pc : q) / sum);
        return MLOPS_OK;
    }
    case MLOPS_MONITOR_MULTICLASS: {
        size_t K = g->n_classes, arg = 0;
        if (actual < 0.0 || actual >= (double)K || actual != floor(actual))
            return mlops__fail(MLOPS_ERANGE, "monitor: class label%s %g is not an index in [0, %zu)", WHERE,
                               actual, K);
        double eps = g->eps, sum = 0.0, best = -1.0, py = 0.0;
        size_t y = (size_t)actual;
        for (size_t k = 0; k < K; k++) {
            double p = pred[k];
            if (!isfinite(p))
                return mlops__fail(MLOPS_EINVAL, "monitor: probability %zu%s is %g", k, WHERE, p);
            if (p < 0.0 || p > 1.0)
                return mlops__fail(MLOPS_ERANGE, "monitor: probability %zu%s = %g is not in [0, 1]", k, WHERE,
                                   p);
            if (p > best) best = p, arg = k; /* first maximum, like numpy.argmax */
            double pc = p < eps ? eps : (p > 1.0 - eps ? 1.0 - eps : p);
            sum += pc;
            if (k == y) py = pc;
        }
        out->pred = (double)arg;
        out->y = actual;
        out->ll = -log(py / sum);
        return MLOPS_OK;
    }
    default: {
        double p = pred[0];
        if (!isfinite(p)) return mlops__fail(MLOPS_EINVAL, "monitor: prediction%s is %g", WHERE, p);
        double e = actual - p;
        if (!isfinite(e * e))
            return mlops__fail(MLOPS_ERANGE, "monitor: squared error%s overflows (prediction %g, label %g)",
                               WHERE, p, actual);
        out->pred = p;
        out->y = actual;
        out->ll = 0.0;
        return MLOPS_OK;
    }
    }
}
#undef WHERE

/* --------------------------------------------------------------- window */

/* Rebuild the window sums from the ring, re-centering the label shift. */
void mlops__monitor_rebuild(mlops__monitor_core *c) {
    mlops__monitor_sums *w = &c->win;
    uint64_t *cls = w->cls;
    size_t ncls = c->cfg.task == MLOPS_MONITOR_MULTICLASS ? 3 * (size_t)c->cfg.n_classes : 0;
    double shift = 0.0;
    if (c->cfg.task == MLOPS_MONITOR_REGRESSION && c->count > 0) {
        ksum m = {0, 0};
        for (size_t i = 0; i < c->count; i++)
            ksum_add(&m, c->ring[(c->head + i) % c->window].y);
        shift = ksum_val(&m) / (double)c->count;
    }
    memset(w, 0, sizeof *w);
    w->cls = cls;
    if (ncls) memset(cls, 0, ncls * sizeof *cls);
    w->shift = shift;
    for (size_t i = 0; i < c->count; i++) {
        const mlops__slot *s = &c->ring[(c->head + i) % c->window];
        if (i > 0 && s->y != c->ring[(c->head + i - 1) % c->window].y) w->label_changes++;
        sums_apply(w, c, s, +1);
    }
    c->since_rebuild = 0;
    c->recomputes++;
}

/* R² needs SStot = S2 - S1²/n over labels shifted by `shift`. That subtraction loses precision when
 * the window mean has moved far from the shift (more than one standard deviation: S1²/n > S2/2),
 * for example after a huge label entered the empty window. Then rebuild, which re-centres the
 * shift on the current mean. Checked only where R² is read (queries, R² alerts), so the per-record
 * cost stays O(1); the rebuild is O(W) and rare. */
static void recenter_if_needed(mlops__monitor_core *c) {
    const mlops__monitor_sums *w = &c->win;
    if (c->cfg.task != MLOPS_MONITOR_REGRESSION || w->n < 2) return;
    double s1 = ksum_val(&w->y1), s2 = ksum_val(&w->y2);
    if (s1 * s1 / (double)w->n > 0.5 * s2) mlops__monitor_rebuild(c);
}

/* First allocation of a ring or a pending store: small, then doubling. */
enum { FIRST_CAPACITY = 64 };

static size_t grown(size_t cap, size_t need, size_t limit) {
    size_t n = cap < FIRST_CAPACITY ? FIRST_CAPACITY : cap;
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : 2 * n;
    return n < limit ? n : limit;
}

mlops_status mlops__monitor_reserve(mlops__monitor_core *c, size_t extra) {
    size_t need = extra > c->window - c->count ? c->window : c->count + extra;
    if (need <= c->ring_cap) return MLOPS_OK;
    size_t cap = grown(c->ring_cap, need, c->window);
    mlops__slot *r = cap <= SIZE_MAX / sizeof *r ? mlops__realloc(c->ring, cap * sizeof *r) : NULL;
    if (!r) return mlops__fail(MLOPS_ENOMEM, "monitor: out of memory for %zu window records", cap);
    c->ring = r;
    c->ring_cap = cap;
    return MLOPS_OK;
}

void mlops__monitor_push(mlops__monitor_core *c, const mlops__slot *s) {
    size_t W = c->window;
    mlops__monitor_sums *w = &c->win;
    int regression = c->cfg.task == MLOPS_MONITOR_REGRESSION;
    if (c->count == W) {
        const mlops__slot *old = &c->ring[c->head];
        size_t next = c->head + 1 == W ? 0 : c->head + 1;
        if (regression && W >= 2 && old->y != c->ring[next].y) w->label_changes--;
        sums_apply(w, c, old, -1);
        c->head = next;
        c->count--;
    }
    size_t tail = c->head + c->count;
    if (tail >= W) tail -= W;
    if (c->count == 0) {
        /* Empty window: start the sums afresh, centred on this label (see mlops__monitor_sums.shift). */
        uint64_t *cls = w->cls;
        memset(w, 0, sizeof *w);
        w->cls = cls;
        w->shift = s->y;
    } else if (regression && c->ring[tail == 0 ? W - 1 : tail - 1].y != s->y) {
        w->label_changes++;
    }
    c->ring[tail] = *s;
    c->count++;
    sums_apply(w, c, s, +1);
    lifetime_push(&c->life, c, s);
    c->recorded++;
    c->generation++;
    if (++c->since_rebuild >= c->recompute_every) mlops__monitor_rebuild(c);
}

/* ---------------------------------------------------------------- pending */

static uint64_t hash_id(uint64_t seed, const char *id, size_t len) {
    uint64_t h = 14695981039346656037ull ^ seed; /* FNV-1a, seeded per monitor */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)id[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

#define NIL UINT32_MAX

static void list_unlink(mlops__monitor_core *c, uint32_t i) {
    mlops__pnode *n = &c->nodes[i];
    if (n->prev != NIL)
        c->nodes[n->prev].next = n->next;
    else
        c->p_head = n->next;
    if (n->next != NIL)
        c->nodes[n->next].prev = n->prev;
    else
        c->p_tail = n->prev;
}

static void bucket_unlink(mlops__monitor_core *c, uint32_t i) {
    uint32_t *pp = &c->buckets[c->nodes[i].hash & (c->n_buckets - 1)];
    while (*pp != i)
        pp = &c->nodes[*pp].hnext;
    *pp = c->nodes[i].hnext;
}

static void pending_remove(mlops__monitor_core *c, uint32_t i) {
    list_unlink(c, i);
    bucket_unlink(c, i);
    mlops__free(c->nodes[i].id);
    c->nodes[i].id = NULL;
    c->nodes[i].next = c->p_free;
    c->p_free = i;
    c->n_pending--;
}

static uint32_t pending_find(const mlops__monitor_core *c, const char *id, size_t len, uint64_t h) {
    if (!c->buckets) return NIL;
    for (uint32_t i = c->buckets[h & (c->n_buckets - 1)]; i != NIL; i = c->nodes[i].hnext) {
        const mlops__pnode *n = &c->nodes[i];
        if (n->hash == h && n->id_len == len && memcmp(n->id, id, len) == 0) return i;
    }
    return NIL;
}

/* Chain every pending node into `buckets` (n_buckets of them). */
static void rehash(mlops__monitor_core *c) {
    memset(c->buckets, 0xff, c->n_buckets * sizeof *c->buckets);
    for (uint32_t i = c->p_head; i != NIL; i = c->nodes[i].next) {
        uint32_t *b = &c->buckets[c->nodes[i].hash & (c->n_buckets - 1)];
        c->nodes[i].hnext = *b;
        *b = i;
    }
}

/* Double the pending store (nodes, their predictions, buckets at twice the nodes); on failure
 * nothing changed. */
static mlops_status pending_grow(mlops__monitor_core *c) {
    size_t cap = grown(c->node_cap, c->node_cap + 1, c->pending_capacity), w = c->cfg.width, nb = 16;
    while (nb < 2 * cap)
        nb *= 2;
    mlops__pnode *nodes = mlops__realloc(c->nodes, cap * sizeof *nodes);
    if (!nodes) goto oom;
    c->nodes = nodes; /* larger, same contents: consistent with node_cap */
    double *pvals = cap <= SIZE_MAX / sizeof *pvals / w ? mlops__realloc(c->pvals, cap * w * sizeof *pvals) : NULL;
    if (!pvals) goto oom;
    c->pvals = pvals;
    uint32_t *buckets = mlops__malloc(nb * sizeof *buckets);
    if (!buckets) goto oom;
    mlops__free(c->buckets);
    c->buckets = buckets;
    c->n_buckets = nb;
    c->node_cap = cap;
    rehash(c);
    return MLOPS_OK;
oom:
    return mlops__fail(MLOPS_ENOMEM, "monitor: out of memory for %zu pending predictions", cap);
}

/* Insert (lock held; id owned by the store on success). Evicts the oldest when full. */
mlops_status mlops__monitor_pending_insert(mlops__monitor_core *c, char *id, size_t len, const double *pred,
                                           double t) {
    uint64_t h = hash_id(c->seed, id, len);
    if (pending_find(c, id, len, h) != NIL)
        return mlops__fail(MLOPS_EEXIST, "monitor: request id '%.64s' is already pending", id);
    if (c->p_free == NIL && c->n_used == c->node_cap && c->n_pending < c->pending_capacity) {
        mlops_status st = pending_grow(c);
        if (st) return st;
    }
    if (c->n_pending == c->pending_capacity) {
        pending_remove(c, c->p_head);
        c->evicted_capacity++;
    }
    uint32_t i = c->p_free;
    if (i == NIL)
        i = (uint32_t)c->n_used++;
    else
        c->p_free = c->nodes[i].next;
    mlops__pnode *n = &c->nodes[i];
    n->id = id;
    n->id_len = len;
    n->hash = h;
    n->t = t;
    n->prev = c->p_tail;
    n->next = NIL;
    if (c->p_tail != NIL)
        c->nodes[c->p_tail].next = i;
    else
        c->p_head = i;
    c->p_tail = i;
    uint32_t *b = &c->buckets[h & (c->n_buckets - 1)];
    n->hnext = *b;
    *b = i;
    memcpy(c->pvals + (size_t)i * c->cfg.width, pred, c->cfg.width * sizeof *pred);
    c->n_pending++;
    return MLOPS_OK;
}

/* Bring `now` into the monitor's clock (lock held): rebase loaded ages, clamp to the latest seen. */
static double take_time(mlops__monitor_core *c, double now) {
    if (c->rebase) {
        for (uint32_t i = c->p_head; i != NIL; i = c->nodes[i].next)
            c->nodes[i].t += now;
        c->rebase = 0;
        c->last_now = now;
    }
    if (now < c->last_now) now = c->last_now;
    c->last_now = now;
    return now;
}

static size_t expire(mlops__monitor_core *c, double now) {
    size_t n = 0;
    if (c->pending_ttl <= 0.0) return 0;
    while (c->p_head != NIL && now - c->nodes[c->p_head].t >= c->pending_ttl) {
        pending_remove(c, c->p_head);
        c->evicted_ttl++;
        n++;
    }
    return n;
}

static double mono_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- alerts */

typedef struct events {
    size_t n;
    mlops_alert_event ev[MLOPS_METRIC_N];
} events;

/* Evaluate rules (lock held). `auc` is the ROC AUC value to use for that rule, or NaN to skip it. */
static void eval_alerts(mlops__monitor_core *c, events *evs, int with_auc, double auc) {
    if (!c->alert_mask) return;
    if (c->alert_mask & (1u << MLOPS_METRIC_R2)) recenter_if_needed(c);
    mlops_monitor_metrics m;
    m.version = MLOPS_MONITOR_METRICS_VERSION;
    fill_metrics(&c->win, c, 0, &m);
    m.roc_auc = auc;
    for (unsigned k = 0; k < MLOPS_METRIC_N; k++) {
        if (!(c->alert_mask & (1u << k))) continue;
        if (k == MLOPS_METRIC_ROC_AUC && !with_auc) continue;
        mlops__alert *a = &c->alerts[k];
        if (c->win.n < a->rule.min_count) continue;
        double v = mlops_monitor_metrics_value(&m, (mlops_metric)k);
        if (isnan(v)) continue;
        int below = a->rule.direction == MLOPS_ALERT_BELOW;
        int fire = below ? v < a->rule.trigger : v > a->rule.trigger;
        int clear = below ? v > a->rule.clear : v < a->rule.clear;
        if (!a->firing && fire)
            a->firing = 1;
        else if (a->firing && clear)
            a->firing = 0;
        else
            continue;
        mlops_alert_event *e = &evs->ev[evs->n++];
        e->metric = (mlops_metric)k;
        e->firing = a->firing;
        e->value = v;
        e->count = c->win.n;
    }
}

/* ------------------------------------------------------------ lifecycle */

struct mlops_monitor {
    pthread_mutex_t lock;
    mlops__monitor_cfg cfg; /* immutable copy, read without the lock to validate input */
    mlops__monitor_core core;
    mlops_alert_fn cb;
    void *cb_user;
};

/* Give `evs` (collected under the lock) to the callback, with no lock held. The callback is
 * re-read under the lock before each event, so once mlops_monitor_set_alert_callback has
 * returned, the callback it replaced is never called again (the rule in monitor.h): a callback
 * that replaces itself gets none of the remaining events, they go to its replacement. */
static void deliver(mlops_monitor *m, const events *evs) {
    for (size_t i = 0; i < evs->n; i++) {
        pthread_mutex_lock(&m->lock);
        mlops_alert_fn fn = m->cb;
        void *user = m->cb_user;
        pthread_mutex_unlock(&m->lock);
        if (fn) fn(m, &evs->ev[i], user);
    }
}

void mlops__monitor_core_free(mlops__monitor_core *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n_used; i++)
        mlops__free(c->nodes[i].id);
    mlops__free(c->nodes);
    mlops__free(c->buckets);
    mlops__free(c->pvals);
    mlops__free(c->ring);
    mlops__free(c->win.cls);
    mlops__free(c->life.cls);
    memset(c, 0, sizeof *c);
}

mlops_status mlops__monitor_core_init(mlops__monitor_core *c, const mlops_monitor_opts *o) {
    memset(c, 0, sizeof *c);
    c->opts = *o;
    mlops__monitor_cfg_from_opts(o, &c->cfg);
    c->window = o->window;
    c->opts.n_classes = c->cfg.n_classes;
    c->pending_capacity = o->pending_capacity;
    c->pending_ttl = o->pending_ttl;
    c->recompute_every = o->recompute_every ? o->recompute_every : o->window;
    c->last_now = -INFINITY;
    c->p_head = c->p_tail = c->p_free = NIL;
    c->seed = (uint64_t)(uintptr_t)c ^ (uint64_t)(mono_now() * 1e9);
    if (mlops__monitor_reserve(c, 1)) goto oom;
    if (c->cfg.task == MLOPS_MONITOR_MULTICLASS) {
        c->win.cls = mlops__calloc(3 * (size_t)c->cfg.n_classes, sizeof(uint64_t));
        c->life.cls = mlops__calloc(3 * (size_t)c->cfg.n_classes, sizeof(uint64_t));
        if (!c->win.cls || !c->life.cls) goto oom;
    }
    return MLOPS_OK;
oom:
    mlops__monitor_core_free(c);
    return mlops__fail(MLOPS_ENOMEM, "monitor: out of memory for a window of %zu", o->window);
}

static mlops_status new_monitor(mlops_monitor **out) {
    mlops_monitor *m = mlops__calloc(1, sizeof *m);
    if (!m) return mlops__fail(MLOPS_ENOMEM, "monitor: out of memory");
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        mlops__free(m);
        return mlops__fail(MLOPS_ENOMEM, "monitor: cannot create mutex");
    }
    *out = m;
    return MLOPS_OK;
}

mlops_status mlops_monitor_create(const mlops_monitor_opts *opts, mlops_monitor **out) {
    mlops_monitor_opts d = MLOPS_MONITOR_OPTS_INIT;
    MLOPS__CHECK_ARG("monitor", out);
    if (!opts) opts = &d;
    mlops_status st = mlops__monitor_check_opts(opts);
    if (st) return st;
    mlops_monitor *m;
    if ((st = new_monitor(&m))) return st;
    if ((st = mlops__monitor_core_init(&m->core, opts))) {
        pthread_mutex_destroy(&m->lock);
        mlops__free(m);
        return st;
    }
    m->cfg = m->core.cfg;
    *out = m;
    return MLOPS_OK;
}

void mlops_monitor_free(mlops_monitor *m) {
    if (!m) return;
    mlops__monitor_core_free(&m->core);
    pthread_mutex_destroy(&m->lock);
    mlops__free(m);
}

/* The monitor's mutex from a const handle: read-only calls lock it too, and the
 * lock is not part of the monitor's observable state. */
static pthread_mutex_t *lock_of(const mlops_monitor *m) { return (pthread_mutex_t *)&m->lock; }

mlops_status mlops_monitor_get_opts(const mlops_monitor *m, mlops_monitor_opts *opts) {
    MLOPS__CHECK_ARG("monitor", m);
    MLOPS__CHECK_ARG("monitor", opts);
    pthread_mutex_lock(lock_of(m));
    *opts = m->core.opts;
    pthread_mutex_unlock(lock_of(m));
    return MLOPS_OK;
}

/* ------------------------------------------------------------- recording */

mlops_status mlops_monitor_record(mlops_monitor *m, const double *pred, size_t n_pred, double actual) {
    MLOPS__CHECK_ARG("monitor", m);
    MLOPS__CHECK_ARG("monitor", pred);
    const mlops__monitor_cfg *g = &m->cfg;
    if (n_pred != g->width)
        return mlops__fail(MLOPS_ESHAPE, "monitor_record: expected %zu prediction value(s), got %zu",
                           g->width, n_pred);
    mlops__slot s;
    mlops_status st = mlops__monitor_make_slot(g, pred, actual, 0, 0, &s);
    if (st) return st;
    events evs;
    evs.n = 0;
    pthread_mutex_lock(&m->lock);
    if ((st = mlops__monitor_reserve(&m->core, 1))) {
        pthread_mutex_unlock(&m->lock);
        return st;
    }
    mlops__monitor_push(&m->core, &s);
    eval_alerts(&m->core, &evs, 0, NAN);
    pthread_mutex_unlock(&m->lock);
    deliver(m, &evs);
    return MLOPS_OK;
}

mlops_status mlops_monitor_record_batch(mlops_monitor *m, const double *preds, size_t preds_len,
                                        const double *actuals, size_t n) {
    MLOPS__CHECK_ARG("monitor", m);
    if (n == 0) return MLOPS_OK;
    MLOPS__CHECK_ARG("monitor", preds);
    MLOPS__CHECK_ARG("monitor", actuals);
    const mlops__monitor_cfg *g = &m->cfg;
    size_t wd = g->width;
    if (preds_len / wd != n || preds_len % wd != 0)
        return mlops__fail(MLOPS_ESHAPE,
                           "monitor_record_batch: %zu rows need %zu prediction values (%zu each), got %zu", n,
                           n * wd, wd, preds_len);
    /* Validate every row into slots before touching the monitor (all or nothing). */
    enum { SMALL = 64 };
    mlops__slot small[SMALL], *slots = small;
    if (n > SMALL) {
        slots = mlops__calloc(n, sizeof *slots);
        if (!slots) return mlops__fail(MLOPS_ENOMEM, "monitor_record_batch: out of memory for %zu rows", n);
    }
    for (size_t i = 0; i < n; i++) {
        mlops_status st = mlops__monitor_make_slot(g, preds + i * wd, actuals[i], i, 1, &slots[i]);
        if (st) {
            if (slots != small) mlops__free(slots);
            return st;
        }
    }
    events evs;
    evs.n = 0;
    pthread_mutex_lock(&m->lock);
    mlops_status st = mlops__monitor_reserve(&m->core, n);
    if (st) {
        pthread_mutex_unlock(&m->lock);
        if (slots != small) mlops__free(slots);
        return st;
    }
    for (size_t i = 0; i < n; i++)
        mlops__monitor_push(&m->core, &slots[i]);
    eval_alerts(&m->core, &evs, 0, NAN);
    pthread_mutex_unlock(&m->lock);
    if (slots != small) mlops__free(slots);
    deliver(m, &evs);
    return MLOPS_OK;
}

static mlops_status check_id(const char *fn, const char *id, size_t *len) {
    MLOPS__FAIL_IF(!id, MLOPS_EINVAL, "%s: request id is NULL", fn);
    size_t l = strnlen(id, MAX_ID_LEN + 1);
    if (l == 0) return mlops__fail(MLOPS_EINVAL, "%s: request id is empty", fn);
    if (l > MAX_ID_LEN)
        return mlops__fail(MLOPS_EINVAL, "%s: request id is longer than %d bytes", fn, MAX_ID_LEN);
    *len = l;
    return MLOPS_OK;
}

mlops_status mlops_monitor_record_prediction_at(mlops_monitor *m, const char *id, const double *pred,
                                                size_t n_pred, double now) {
    static const char fn[] = "monitor_record_prediction";
    MLOPS__CHECK_ARG("monitor", m);
    MLOPS__CHECK_ARG("monitor", pred);
    const mlops__monitor_cfg *g = &m->cfg;
    size_t len;
    mlops_status st = check_id(fn, id, &len);
    if (st) return st;
    if (!isfinite(now)) return mlops__fail(MLOPS_EINVAL, "%s: time %g is not finite", fn, now);
    if (g->pending_capacity == 0)
        return mlops__fail(MLOPS_ENOTSUP, "%s: the monitor keeps no pending predictions (pending_capacity 0)",
                           fn);
    if (n_pred != g->width)
        return mlops__fail(MLOPS_ESHAPE, "%s: expected %zu prediction value(s), got %zu", fn, g->width,
                           n_pred);
    /* Validate the prediction with a label that is always valid for the task. */
    mlops__slot s;
    if ((st = mlops__monitor_make_slot(g, pred, 0.0, 0, 0, &s))) return st;
    char *copy = mlops__malloc(len + 1);
    if (!copy) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", fn);
    memcpy(copy, id, len + 1);
    pthread_mutex_lock(&m->lock);
    mlops__monitor_core *c = &m->core;
    double t = take_time(c, now);
    expire(c, t);
    st = mlops__monitor_pending_insert(c, copy, len, pred, t);
    pthread_mutex_unlock(&m->lock);
    if (st) mlops__free(copy);
    return st;
}

mlops_status mlops_monitor_record_prediction(mlops_monitor *m, const char *id, const double *pred,
                                             size_t n_pred) {
    return mlops_monitor_record_prediction_at(m, id, pred, n_pred, mono_now());
}

mlops_status mlops_monitor_record_label_at(mlops_monitor *m, const char *id, double actual, double now) {
    static const char fn[] = "monitor_record_label";
    MLOPS__CHECK_ARG("monitor", m);
    const mlops__monitor_cfg *g = &m->cfg;
    size_t len;
    mlops_status st = check_id(fn, id, &len);
    if (st) return st;
    if (!isfinite(now)) return mlops__fail(MLOPS_EINVAL, "%s: time %g is not finite", fn, now);
    /* Validate the label with a prediction that is always valid for the task. */
    double probe[1] = {0.0};
    mlops__slot s;
    if (g->task == MLOPS_MONITOR_MULTICLASS) {
        if (!isfinite(actual)) return mlops__fail(MLOPS_EINVAL, "%s: label is %g", fn, actual);
        if (actual < 0.0 || actual >= (double)g->n_classes || actual != floor(actual))
            return mlops__fail(MLOPS_ERANGE, "%s: class label %g is not an index in [0, %u)", fn, actual,
                               g->n_classes);
    } else if ((st = mlops__monitor_make_slot(g, probe, actual, 0, 0, &s))) {
        return st;
    }
    events evs;
    evs.n = 0;
    pthread_mutex_lock(&m->lock);
    mlops__monitor_core *c = &m->core;
    double t = take_time(c, now);
    expire(c, t);
    uint32_t i = pending_find(c, id, len, hash_id(c->seed, id, len));
    if (i == NIL) {
        pthread_mutex_unlock(&m->lock);
        return mlops__fail(
            MLOPS_ENOTFOUND,
            "%s: request id '%.64s' is not pending (never recorded, already labeled or evicted)", fn, id);
    }
    if ((st = mlops__monitor_reserve(c, 1))) {
        pthread_mutex_unlock(&m->lock);
        return st;
    }
    mlops__monitor_make_slot(g, c->pvals + (size_t)i * g->width, actual, 0, 0, &s);
    pending_remove(c, i);
    c->matched++;
    mlops__monitor_push(c, &s);
    eval_alerts(c, &evs, 0, NAN);
    pthread_mutex_unlock(&m->lock);
    deliver(m, &evs);
    return MLOPS_OK;
}

mlops_status mlops_monitor_record_label(mlops_monitor *m, const char *id, double actual) {
    return mlops_monitor_record_label_at(m, id, actual, mono_now());
}

mlops_status mlops_monitor_expire_at(mlops_monitor *m, double now, size_t *evicted) {
    MLOPS__CHECK_ARG("monitor", m);
    if (!isfinite(now)) return mlops__fail(MLOPS_EINVAL, "monitor_expire: time %g is not finite", now);
    pthread_mutex_lock(&m->lock);
    size_t n = expire(&m->core, take_time(&m->core, now));
    pthread_mutex_unlock(&m->lock);
    if (evicted) *evicted = n;
    return MLOPS_OK;
}

/* --------------------------------------------------------------- queries */

/* ROC AUC from the positives' and negatives' scores, each sorted ascending: the
 * Mann-Whitney statistic, ties counted one half (= sklearn's trapezoidal AUC). */
static double auc_sorted(const double *pos, size_t n1, const double *neg, size_t n0) {
    if (n1 == 0 || n0 == 0) return NAN;
    uint64_t u2 = 0;
    size_t lt = 0, le = 0;
    for (size_t i = 0; i < n1; i++) {
        double p = pos[i];
        while (lt < n0 && neg[lt] < p)
            lt++;
        if (le < lt) le = lt;
        while (le < n0 && neg[le] <= p)
            le++;
        u2 += 2 * (uint64_t)lt + (uint64_t)(le - lt);
    }
    return (double)u2 / (2.0 * (double)n1 * (double)n0);
}

mlops_status mlops_monitor_compute_metrics(mlops_monitor *m, mlops_monitor_metrics *out) {
    MLOPS__CHECK_ARG("monitor", m);
    MLOPS__CHECK_ARG("monitor", out);
    MLOPS__CHECK_VERSION("monitor", "metrics struct", out->version, MLOPS_MONITOR_METRICS_VERSION);
    mlops__monitor_core *c = &m->core;
    mlops_monitor_metrics res;
    res.version = MLOPS_MONITOR_METRICS_VERSION;
    double *buf = NULL;
    size_t n1 = 0, n0 = 0;
    uint64_t gen;
    int need_auc = 0;
    pthread_mutex_lock(&m->lock);
    recenter_if_needed(c);
    fill_metrics(&c->win, c, 0, &res);
    gen = c->generation;
    if (m->cfg.task == MLOPS_MONITOR_BINARY) {
        if (c->auc_valid && c->auc_generation == gen) {
            res.roc_auc = c->auc_value;
        } else if (c->win.tp + c->win.fn == 0 || c->win.fp + c->win.tn == 0) {
            res.roc_auc = NAN;
        } else {
            need_auc = 1;
            size_t n = c->count;
            buf = mlops__malloc(n * sizeof *buf); /* positives from the front, negatives from the back */
            if (!buf) {
                pthread_mutex_unlock(&m->lock);
                return mlops__fail(MLOPS_ENOMEM,
                                   "monitor_get_metrics: out of memory for ROC AUC over %zu records", n);
            }
            for (size_t i = 0; i < n; i++) {
                const mlops__slot *s = &c->ring[(c->head + i) % c->window];
                if (s->y != 0.0)
                    buf[n1++] = s->pred;
                else
                    buf[n - 1 - n0++] = s->pred;
            }
        }
    }
    pthread_mutex_unlock(&m->lock);
    if (need_auc) {
        gsl_sort(buf, 1, n1);
        gsl_sort(buf + n1, 1, n0);
        res.roc_auc = auc_sorted(buf, n1, buf + n1, n0);
        mlops__free(buf);
    }
    events evs;
    evs.n = 0;
    if (m->cfg.task == MLOPS_MONITOR_BINARY) {
        pthread_mutex_lock(&m->lock);
        if (need_auc && c->generation == gen) {
            c->auc_valid = 1;
            c->auc_generation = gen;
            c->auc_value = res.roc_auc;
        }
        if (c->generation == gen && (c->alert_mask & (1u << MLOPS_METRIC_ROC_AUC))) {
            uint64_t saved = c->alert_mask;
            c->alert_mask = 1u << MLOPS_METRIC_ROC_AUC;
            eval_alerts(c, &evs, 1, res.roc_auc);
            c->alert_mask = saved;
        }
        pthread_mutex_unlock(&m->lock);
    }
    *out = res;
    deliver(m, &evs);
    return MLOPS_OK;
}

mlops_status mlops_monitor_get_lifetime(const mlops_monitor *m, mlops_monitor_metrics *out) {
    MLOPS__CHECK_ARG("monitor", m);
    MLOPS__CHECK_ARG("monitor", out);
    MLOPS__CHECK_VERSION("monitor", "metrics struct", out->version, MLOPS_MONITOR_METRICS_VERSION);
    mlops_monitor_metrics res;
    res.version = MLOPS_MONITOR_METRICS_VERSION;
    pthread_mutex_lock(lock_of(m));
    fill_metrics(&m->core.life, &m->core, 1, &res);
    pthread_mutex_unlock(lock_of(m));
    res.has &= ~(1ull << MLOPS_METRIC_ROC_AUC);
    *out = res;
    return MLOPS_OK;
}

mlops_status mlops_monitor_get_stats(const mlops_monitor *m, mlops_monitor_stats *out) {
    MLOPS__CHECK_ARG("monitor", m);
    MLOPS__CHECK_ARG("monitor", out);
    MLOPS__CHECK_VERSION("monitor", "stats struct", out->version, MLOPS_MONITOR_STATS_VERSION);
    const mlops__monitor_core *c = &m->core;
    pthread_mutex_lock(lock_of(m));
    out->recorded = c->recorded;
    out->window_count = c->count;
    out->pending = c->n_pending;
    out->matched = c->matched;
    out->evicted_ttl = c->evicted_ttl;
    out->evicted_capacity = c->evicted_capacity;
    out->recomputes = c->recomputes;
    pthread_mutex_unlock(lock_of(m));
    return MLOPS_OK;
}

mlops_status mlops_monitor_reset_window(mlops_monitor *m) {
    MLOPS__CHECK_ARG("monitor", m);
    mlops__monitor_core *c = &m->core;
    pthread_mutex_lock(&m->lock);
    while (c->p_head != NIL)
        pending_remove(c, c->p_head);
    c->count = 0;
    c->head = 0;
    mlops__monitor_rebuild(c);
    c->generation++;
    for (unsigned k = 0; k < MLOPS_METRIC_N; k++)
        c->alerts[k].firing = 0;
    pthread_mutex_unlock(&m->lock);
    return MLOPS_OK;
}

/* ---------------------------------------------------------------- alerts */

mlops_status mlops__monitor_check_rule(const mlops__monitor_cfg *g, const mlops_alert_rule *r) {
    MLOPS__CHECK_VERSION("monitor", "rule", r->version, MLOPS_ALERT_RULE_VERSION);
    if ((unsigned)r->metric >= MLOPS_METRIC_N || r->metric == MLOPS_METRIC_COUNT ||
        !(mlops__monitor_task_mask(g->task) & (1ull << r->metric)))
        return mlops__fail(MLOPS_EINVAL, "monitor_set_alert: metric %d does not apply to this monitor's task",
                           (int)r->metric);
    if (r->direction != MLOPS_ALERT_BELOW && r->direction != MLOPS_ALERT_ABOVE)
        return mlops__fail(MLOPS_EINVAL, "monitor_set_alert: unknown direction %d", (int)r->direction);
    if (!isfinite(r->trigger)) return mlops__fail(MLOPS_EINVAL, "monitor_set_alert: trigger must be finite");
    if (!isnan(r->clear)) {
        if (!isfinite(r->clear))
            return mlops__fail(MLOPS_EINVAL, "monitor_set_alert: clear must be finite or NaN");
        if (r->direction == MLOPS_ALERT_BELOW ? r->clear < r->trigger : r->clear > r->trigger)
            return mlops__fail(
                MLOPS_EINVAL,
                "monitor_set_alert: %s: clear %g is on the wrong side of trigger %g for direction %s",
                mlops_metric_name(r->metric), r->clear, r->trigger,
                r->direction == MLOPS_ALERT_BELOW ? "below" : "above");
    }
    return MLOPS_OK;
}

mlops_status mlops_monitor_set_alert(mlops_monitor *m, const mlops_alert_rule *rule) {
    MLOPS__CHECK_ARG("monitor", m);
    MLOPS__CHECK_ARG("monitor", rule);
    mlops_status st = mlops__monitor_check_rule(&m->cfg, rule);
    if (st) return st;
    mlops_alert_rule r = *rule;
    if (isnan(r.clear)) r.clear = r.trigger;
    pthread_mutex_lock(&m->lock);
    m->core.alerts[r.metric].rule = r;
    m->core.alerts[r.metric].firing = 0;
    m->core.alert_mask |= 1u << r.metric;
    pthread_mutex_unlock(&m->lock);
    return MLOPS_OK;
}

mlops_status mlops_monitor_remove_alert(mlops_monitor *m, mlops_metric metric) {
    MLOPS__CHECK_ARG("monitor", m);
    if ((unsigned)metric >= MLOPS_METRIC_N)
        return mlops__fail(MLOPS_EINVAL, "monitor_remove_alert: unknown metric %d", (int)metric);
    mlops_status st = MLOPS_OK;
    pthread_mutex_lock(&m->lock);
    if (m->core.alert_mask & (1u << metric))
        m->core.alert_mask &= ~(1u << metric);
    else
        st = MLOPS_ENOTFOUND;
    pthread_mutex_unlock(&m->lock);
    if (st) return mlops__fail(st, "monitor_remove_alert: no alert rule for %s", mlops_metric_name(metric));
    return MLOPS_OK;
}

mlops_status mlops_monitor_alert_state(const mlops_monitor *m, mlops_metric metric, int *firing) {
    MLOPS__CHECK_ARG("monitor", m);
    MLOPS__CHECK_ARG("monitor", firing);
    if ((unsigned)metric >= MLOPS_METRIC_N)
        return mlops__fail(MLOPS_EINVAL, "monitor_alert_state: unknown metric %d", (int)metric);
    int f = -1;
    pthread_mutex_lock(lock_of(m));
    if (m->core.alert_mask & (1u << metric)) f = m->core.alerts[metric].firing;
    pthread_mutex_unlock(lock_of(m));
    if (f < 0)
        return mlops__fail(MLOPS_ENOTFOUND, "monitor_alert_state: no alert rule for %s",
                           mlops_metric_name(metric));
    *firing = f;
    return MLOPS_OK;
}

mlops_status mlops_monitor_set_alert_callback(mlops_monitor *m, mlops_alert_fn fn, void *user) {
    MLOPS__CHECK_ARG("monitor", m);
    pthread_mutex_lock(&m->lock);
    m->cb = fn;
    m->cb_user = user;
    pthread_mutex_unlock(&m->lock);
    return MLOPS_OK;
}

/* ------------------------------------------------------------ save/load */

mlops_status mlops_monitor_save(const mlops_monitor *m, const char *path) {
    MLOPS__CHECK_ARG("monitor", m);
    MLOPS__CHECK_ARG("monitor", path);
    /* Size first (under the lock, cheap), then serialize a snapshot under the lock into a buffer
     * allocated outside it, then write without the lock. */
    size_t need;
    for (;;) {
        pthread_mutex_lock(lock_of(m));
        need = mlops__monitor_state_size(&m->core);
        pthread_mutex_unlock(lock_of(m));
        unsigned char *buf = mlops__malloc(need);
        if (!buf) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory for %zu bytes of state", path, need);
        size_t len = 0;
        pthread_mutex_lock(lock_of(m));
        double now = m->core.rebase ? 0.0 : m->core.last_now;
        if (mlops__monitor_state_size(&m->core) <= need) len = mlops__monitor_serialize(&m->core, now, buf);
        pthread_mutex_unlock(lock_of(m));
        if (len == 0) { /* grew in between: retry */
            mlops__free(buf);
            continue;
        }
        mlops_status st = mlops__write_file_atomic(path, buf, len);
        mlops__free(buf);
        return st;
    }
}

static void swap_core(mlops_monitor *m, mlops__monitor_core *fresh) {
    mlops__monitor_core old;
    pthread_mutex_lock(&m->lock);
    old = m->core;
    fresh->generation = old.generation + 1; /* invalidates ROC AUC computations in flight */
    m->core = *fresh;
    pthread_mutex_unlock(&m->lock);
    mlops__monitor_core_free(&old);
}

mlops_status mlops_monitor_load(const char *path, mlops_monitor **out) {
    MLOPS__CHECK_ARG("monitor", path);
    MLOPS__CHECK_ARG("monitor", out);
    mlops_monitor *m;
    mlops_status st = new_monitor(&m);
    if (st) return st;
    if ((st = mlops__monitor_load_file(path, &m->core))) {
        pthread_mutex_destroy(&m->lock);
        mlops__free(m);
        return st;
    }
    m->cfg = m->core.cfg;
    *out = m;
    return MLOPS_OK;
}

mlops_status mlops_monitor_restore(mlops_monitor *m, const char *path) {
    MLOPS__CHECK_ARG("monitor", m);
    MLOPS__CHECK_ARG("monitor", path);
    mlops__monitor_core fresh;
    mlops_status st = mlops__monitor_load_file(path, &fresh);
    if (st) return st;
    const mlops__monitor_cfg *a = &m->cfg, *b = &fresh.cfg;
    if (a->task != b->task || a->n_classes != b->n_classes || a->threshold != b->threshold ||
        a->tolerance != b->tolerance || a->eps != b->eps || a->pending_capacity != b->pending_capacity) {
        mlops__monitor_core_free(&fresh);
        return mlops__fail(
            MLOPS_ESTATE,
            "%s: the saved monitor's task, classes, threshold, tolerance, log-loss eps or pending "
            "capacity differ from this monitor's (use mlops_monitor_load for a new monitor)",
            path);
    }
    swap_core(m, &fresh);
    return MLOPS_OK;
}

/* ------------------------------------------------------------- fleet totals */

mlops_status mlops_monitor_get_totals(const mlops_monitor *m, mlops_monitor_totals *out) {
    MLOPS__CHECK_ARG("monitor", m);
    MLOPS__CHECK_ARG("monitor", out);
    MLOPS__CHECK_VERSION("monitor", "totals struct", out->version, MLOPS_MONITOR_TOTALS_VERSION);
    mlops_monitor_totals t = {.version = MLOPS_MONITOR_TOTALS_VERSION};
    pthread_mutex_lock(lock_of(m));
    const mlops__monitor_sums *l = &m->core.life;
    t.labelled = l->n;
    switch (m->cfg.task) {
    case MLOPS_MONITOR_BINARY:
        t.correct = l->tp + l->tn;
        t.log_loss = ksum_val(&l->ll);
        t.n_classes = 2;
        break;
    case MLOPS_MONITOR_MULTICLASS:
        t.correct = l->correct;
        t.log_loss = ksum_val(&l->ll);
        t.n_classes = m->cfg.n_classes;
        break;
    default:
        t.correct = l->tol_ok;
        t.squared_error = ksum_val(&l->se);
        t.absolute_error = ksum_val(&l->ae);
    }
    pthread_mutex_unlock(lock_of(m));
    *out = t;
    return MLOPS_OK;
}

mlops_status mlops_monitor_get_class_totals(const mlops_monitor *m, unsigned cls, uint64_t *labelled,
                                            uint64_t *correct) {
    MLOPS__CHECK_ARG("monitor", m);
    MLOPS__CHECK_ARG("monitor", labelled);
    MLOPS__CHECK_ARG("monitor", correct);
    if (m->cfg.task == MLOPS_MONITOR_REGRESSION)
        return mlops__fail(MLOPS_EINVAL, "monitor_get_class_totals: a regression monitor has no classes");
    unsigned K = m->cfg.task == MLOPS_MONITOR_BINARY ? 2 : m->cfg.n_classes;
    if (cls >= K) return mlops__fail(MLOPS_ERANGE, "monitor_get_class_totals: class %u of %u", cls, K);
    pthread_mutex_lock(lock_of(m));
    const mlops__monitor_sums *l = &m->core.life;
    uint64_t lab, ok;
    if (m->cfg.task == MLOPS_MONITOR_BINARY) {
        lab = cls ? l->tp + l->fn : l->tn + l->fp;
        ok = cls ? l->tp : l->tn;
    } else {
        lab = l->cls[cls] + l->cls[2 * (size_t)K + cls]; /* tp + fn of the true class */
        ok = l->cls[cls];
    }
    pthread_mutex_unlock(lock_of(m));
    *labelled = lab;
    *correct = ok;
    return MLOPS_OK;
}
