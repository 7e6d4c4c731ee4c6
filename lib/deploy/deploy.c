/* Blue/green deployment: see include/mlops/deploy.h for the contract.
 *
 * Hot path: mlops_deploy_predict() loads the published configuration through
 * an atomic pointer while registered in one of two reader counters; it never
 * takes a lock and never allocates. Control calls are serialized by `ctl`;
 * each one builds a new immutable configuration (with its own model
 * references), swaps it in, waits out a two-phase grace period (flip the
 * reader epoch, wait for the old counter to drain, twice) and then releases
 * the old configuration. Every reader that could have loaded the old pointer
 * incremented one of the two counters before the swap, so after both drains
 * none is left.
 *
 * Locks: `ctl` (held through the grace period) serializes control calls and is
 * the only lock allowed to be held while waiting; `state` guards the swap,
 * stage_id and gate_id for a few instructions, so stats_get, model and
 * validate never wait behind a grace period. Nothing logs or calls out while
 * holding `state` or `wmu`. A drain waits on `drained` after a short spin; the
 * reader that brings a counter to 0 signals it when a waiter announced itself
 * (`waiting`, seq_cst on both sides, re-checked under `wmu`). A grace period
 * longer than SLOW_GRACE_SECONDS logs one warning and counts in
 * stats.slow_grace_periods.
 *
 * Re-entry: a thread inside a call on a deployment (a predict whose error
 * reaches the log callback, a control call that logs) is recorded in a
 * thread-local list; a control call on that deployment from such a
 * thread would wait for itself, so it returns MLOPS_EBUSY instead.
 */
#include "mlops/deploy.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "internal.h"

typedef struct deploy_config {
    mlops_model *slot[3]; /* blue, green, previous (each one reference, or NULL) */
    double canary;        /* fraction served by green */
    uint64_t canary_cut;  /* keyed: green iff (hash >> 11) < canary_cut (53-bit fixed point) */
    int shadow;
} deploy_config;

typedef struct {
    _Alignas(64) atomic_size_t n;
} reader_count;

struct mlops_deploy {
    _Atomic(deploy_config *) cfg;
    atomic_uint epoch;
    reader_count readers[2];
    _Alignas(64) atomic_uint_fast64_t keyless; /* keyless canary counter */
    atomic_uint_fast64_t requests[2], rows[2], errors[2];
    atomic_uint_fast64_t shadow_requests, shadow_rows, shadow_disagree, shadow_errors;
    atomic_uint_fast64_t shadow_max_bits; /* non-negative double as bits: bit order = value order */
    atomic_uint_fast64_t promotions, rollbacks, generation, slow_grace;
    double shadow_tolerance;
    uint64_t hash_seed;
    pthread_mutex_t ctl;   /* serializes control calls, held through the grace period */
    pthread_mutex_t state; /* the swap, stage_id, gate_id; never held while waiting or logging */
    pthread_mutex_t wmu;   /* with `drained`: a control call sleeping until a counter drains */
    pthread_cond_t drained;
    atomic_int waiting; /* a control call sleeps (or is about to) on `drained` */
    uint64_t stage_id;  /* under state: bumped whenever green changes or blue changes under it */
    uint64_t gate_id;   /* under state: stage_id the last passing gate was measured for; 0 = none */
};

/* Deployments this thread is inside a call on (see the header comment). Thread-local by
 * nature: it records this thread's own call stack; deeper nesting than MAX_NEST is not tracked. */
#define MAX_NEST 8
static _Thread_local const mlops_deploy *tls_inside[MAX_NEST];
static _Thread_local unsigned tls_depth;

static void enter_call(const mlops_deploy *d) {
    if (tls_depth < MAX_NEST) tls_inside[tls_depth] = d;
    tls_depth++;
}

static void leave_call(void) { tls_depth--; }

static int inside(const mlops_deploy *d) {
    for (unsigned i = 0; i < tls_depth && i < MAX_NEST; i++)
        if (tls_inside[i] == d) return 1;
    return 0;
}

/* Take `ctl` for control call `what`, or refuse a call that would wait for its own thread. */
static mlops_status ctl_enter(mlops_deploy *d, const char *what) {
    if (inside(d))
        return mlops__fail(MLOPS_EBUSY,
                           "deploy: %s called from inside a call on the same deployment (a log callback?) "
                           "would wait for itself; call it after the callback returns",
                           what);
    pthread_mutex_lock(&d->ctl);
    enter_call(d);
    return MLOPS_OK;
}

static void ctl_leave(mlops_deploy *d) {
    leave_call();
    pthread_mutex_unlock(&d->ctl);
}

MLOPS__DEFINE_OPTS_INIT(mlops_deploy_opts_init, mlops_deploy_opts, MLOPS_DEPLOY_OPTS_INIT,
                        MLOPS_DEPLOY_OPTS_VERSION, sizeof(mlops_deploy_opts))

MLOPS__DEFINE_OPTS_INIT(mlops_deploy_gate_opts_init, mlops_deploy_gate_opts, MLOPS_DEPLOY_GATE_OPTS_INIT,
                        MLOPS_DEPLOY_GATE_OPTS_VERSION, sizeof(mlops_deploy_gate_opts))

const char *mlops_deploy_gate_metric_name(mlops_deploy_gate_metric metric) {
    switch (metric) {
    case MLOPS_DEPLOY_GATE_AUTO:
        return "auto";
    case MLOPS_DEPLOY_GATE_NONE:
        return "none";
    case MLOPS_DEPLOY_GATE_ACCURACY:
        return "accuracy";
    case MLOPS_DEPLOY_GATE_LOGLOSS:
        return "logloss";
    case MLOPS_DEPLOY_GATE_RMSE:
        return "rmse";
    }
    return "unknown";
}

/* ---- configurations ---------------------------------------------------------------------------- */

static uint64_t canary_cut(double f) {
    return (uint64_t)ldexp(f, 53); /* f = 1 gives 2^53, above every (hash >> 11) */
}

static void config_free(deploy_config *c) {
    if (!c) return;
    for (int i = 0; i < 3; i++)
        mlops_model_free(c->slot[i]);
    mlops__free(c);
}

#define NO_SLOT (-1)

/* A copy of `c` whose slot i holds the model of c's slot from[i] (NO_SLOT: none), each with a
 * reference of its own. */
static deploy_config *config_moved(const deploy_config *c, const int from[3]) {
    deploy_config *n = mlops__malloc(sizeof *n);
    if (!n) return NULL;
    *n = *c;
    for (int i = 0; i < 3; i++)
        n->slot[i] = from[i] == NO_SLOT ? NULL : mlops_model_ref(c->slot[from[i]]);
    return n;
}

/* A copy of `c` with its own model references. */
static deploy_config *config_copy(const deploy_config *c) {
    static const int same[3] = {MLOPS_SLOT_BLUE, MLOPS_SLOT_GREEN, MLOPS_SLOT_PREVIOUS};
    return config_moved(c, same);
}

#define DRAIN_SPINS 1000
#define SLOW_GRACE_SECONDS 1.0

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Sleep on `drained` until counter `n` is 0 (or `slice` seconds pass). Caller holds wmu. */
static void wait_slice(mlops_deploy *d, atomic_size_t *n, double slice) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ns = (long long)ts.tv_nsec + (long long)(slice * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    atomic_store(&d->waiting, 1);
    if (atomic_load(n) != 0) pthread_cond_timedwait(&d->drained, &d->wmu, &ts);
    atomic_store(&d->waiting, 0);
}

/* Wait until counter `n` drains; returns 1 if that took over SLOW_GRACE_SECONDS (reported once). */
static int drain(mlops_deploy *d, atomic_size_t *n, double t0) {
    for (int i = 0; i < DRAIN_SPINS; i++)
        if (atomic_load(n) == 0) return 0;
    int slow = 0;
    pthread_mutex_lock(&d->wmu);
    while (atomic_load(n) != 0) {
        double waited = now_seconds() - t0;
        if (!slow && waited > SLOW_GRACE_SECONDS) {
            slow = 1;
            pthread_mutex_unlock(&d->wmu); /* the log callback may call back into the deployment */
            mlops__log(MLOPS_LOG_WARN,
                       "deploy: a configuration change has waited %.1f s for requests still using the old "
                       "configuration (a slow or stuck predict?)",
                       waited);
            pthread_mutex_lock(&d->wmu);
            continue;
        }
        wait_slice(d, n, slow ? 1.0 : SLOW_GRACE_SECONDS - waited + 0.001);
    }
    pthread_mutex_unlock(&d->wmu);
    return slow;
}

/* Wait until no request still uses a configuration unpublished before this call. Caller holds ctl. */
static void synchronize(mlops_deploy *d) {
    double t0 = now_seconds();
    int slow = 0;
    for (int phase = 0; phase < 2; phase++) {
        unsigned e = atomic_load(&d->epoch);
        atomic_store(&d->epoch, e ^ 1u);
        slow |= drain(d, &d->readers[e & 1u].n, t0);
    }
    if (slow) atomic_fetch_add(&d->slow_grace, 1);
}

/* A reader leaves counter `n`; the last one out wakes a control call sleeping on it. */
static void reader_leave(mlops_deploy *d, atomic_size_t *n) {
    if (atomic_fetch_sub(n, 1) == 1 && atomic_load(&d->waiting)) {
        pthread_mutex_lock(&d->wmu);
        pthread_cond_broadcast(&d->drained);
        pthread_mutex_unlock(&d->wmu);
    }
}

/* Swap in `next` (taking it over); returns the old configuration. Caller holds ctl and state.
 * new_stage: green changed, or blue changed under it (a passed gate no longer counts). */
static deploy_config *swap_config(mlops_deploy *d, deploy_config *next, int new_stage) {
    if (new_stage) {
        d->stage_id++;
        d->gate_id = 0;
    }
    atomic_fetch_add(&d->generation, 1);
    return atomic_exchange(&d->cfg, next);
}

/* Wait out the grace period, then release `old`. Caller holds ctl, not state. */
static void retire(mlops_deploy *d, deploy_config *old) {
    synchronize(d);
    config_free(old);
}

/* Publish `next` (taking it over) and release the old configuration. Caller holds ctl. */
static void publish(mlops_deploy *d, deploy_config *next, int new_stage) {
    pthread_mutex_lock(&d->state);
    deploy_config *old = swap_config(d, next, new_stage);
    pthread_mutex_unlock(&d->state);
    retire(d, old);
}

/* The current configuration: valid under ctl (only ctl holders replace it) or under state
 * (a replaced configuration is freed only after a swap, which takes state). */
static deploy_config *current(const mlops_deploy *d) { return atomic_load(&d->cfg); }

/* The state mutex from a const handle: the read-only calls (get_stats, model) lock it too, and the
 * lock is not part of the deployment's observable state. */
static pthread_mutex_t *state_lock(const mlops_deploy *d) { return (pthread_mutex_t *)&d->state; }

/* The next configuration of a slot move (unstage, promote, rollback): the current one moved by
 * `from` (see config_moved). Caller holds ctl. MLOPS_ESTATE with message `missing` when slot `need`
 * is empty now; MLOPS_ENOMEM says what it was `doing`. */
static mlops_status next_moved(const mlops_deploy *d, int need, const char *missing, const char *doing,
                               const int from[3], deploy_config **next) {
    const deploy_config *cur = current(d);
    if (!cur->slot[need]) return mlops__fail(MLOPS_ESTATE, "%s", missing);
    if (!(*next = config_moved(cur, from)))
        return mlops__fail(MLOPS_ENOMEM, "deploy: out of memory %s", doing);
    return MLOPS_OK;
}

/* ---- create / free ----------------------------------------------------------------------------- */

static mlops_status check_canary(double f) {
    if (!(f >= 0.0 && f <= 1.0))
        return mlops__fail(MLOPS_ERANGE, "deploy: canary fraction must be in [0, 1], got %g", f);
    return MLOPS_OK;
}

/* The locks and condition variable; 0 (nothing left initialized) on failure. */
static int sync_init(mlops_deploy *d) {
    if (pthread_mutex_init(&d->ctl, NULL) != 0) return 0;
    if (pthread_mutex_init(&d->state, NULL) != 0) goto no_state;
    if (pthread_mutex_init(&d->wmu, NULL) != 0) goto no_wmu;
    if (pthread_cond_init(&d->drained, NULL) != 0) goto no_cond;
    return 1;
no_cond:
    pthread_mutex_destroy(&d->wmu);
no_wmu:
    pthread_mutex_destroy(&d->state);
no_state:
    pthread_mutex_destroy(&d->ctl);
    return 0;
}

mlops_status mlops_deploy_create(mlops_model *live, const mlops_deploy_opts *opts, mlops_deploy **out) {
    mlops_deploy_opts o = MLOPS_DEPLOY_OPTS_INIT;
    MLOPS__CHECK_ARG("deploy", live);
    MLOPS__CHECK_ARG("deploy", out);
    MLOPS__TRY(mlops__opts_copy(&o, opts, sizeof o, MLOPS_DEPLOY_OPTS_VERSION, "deploy", "options"));
    mlops_status st = check_canary(o.canary_fraction);
    if (st) return st;
    if (!(o.shadow_tolerance >= 0.0))
        return mlops__fail(MLOPS_ERANGE, "deploy: shadow_tolerance must be >= 0, got %g", o.shadow_tolerance);
    mlops_deploy *d = mlops__calloc(1, sizeof *d);
    deploy_config *c = mlops__calloc(1, sizeof *c);
    if (!d || !c || !sync_init(d)) {
        mlops__free(d);
        mlops__free(c);
        return mlops__fail(MLOPS_ENOMEM, "deploy: out of memory creating a deployment");
    }
    c->slot[MLOPS_SLOT_BLUE] = mlops_model_ref(live);
    c->canary = o.canary_fraction;
    c->canary_cut = canary_cut(o.canary_fraction);
    c->shadow = o.shadow != 0;
    atomic_init(&d->cfg, c);
    atomic_init(&d->generation, 1);
    d->shadow_tolerance = o.shadow_tolerance;
    d->hash_seed = o.hash_seed;
    d->stage_id = 1;
    *out = d;
    return MLOPS_OK;
}

void mlops_deploy_free(mlops_deploy *d) {
    if (!d) return;
    config_free(atomic_load(&d->cfg));
    pthread_cond_destroy(&d->drained);
    pthread_mutex_destroy(&d->wmu);
    pthread_mutex_destroy(&d->state);
    pthread_mutex_destroy(&d->ctl);
    mlops__free(d);
}

/* ---- stage / unstage --------------------------------------------------------------------------- */

/* What one output value means: the gate's metrics and the callers compare values of one kind only. */
enum output_kind { OUT_VALUE, OUT_PROBABILITY, OUT_MARGIN, OUT_CLASS };
static const char *const OUT_KIND_NAMES[] = {"value", "probability", "margin", "class index"};

static enum output_kind output_kind(const mlops_model *m) {
    const char *o = mlops_model_objective(m);
    if (!o) return OUT_VALUE;
    if (strcmp(o, "binary:logitraw") == 0) return OUT_MARGIN;
    if (strcmp(o, "binary:hinge") == 0 || strcmp(o, "multi:softmax") == 0) return OUT_CLASS;
    if (strncmp(o, "binary:", 7) == 0 || strcmp(o, "multi:softprob") == 0) return OUT_PROBABILITY;
    return OUT_VALUE;
}

static mlops_status compatible(const mlops_model *live, const mlops_model *cand) {
    size_t nf = mlops_model_n_features(live), nc = mlops_model_n_features(cand);
    if (nf != nc)
        return mlops__fail(MLOPS_ESHAPE, "deploy: candidate has %zu features, the live model %zu", nc, nf);
    if (mlops_model_task(live) != mlops_model_task(cand))
        return mlops__fail(MLOPS_EINVAL, "deploy: candidate is a %s model (%s), the live model %s (%s)",
                           mlops_task_name(mlops_model_task(cand)), mlops_model_objective(cand),
                           mlops_task_name(mlops_model_task(live)), mlops_model_objective(live));
    enum output_kind kl = output_kind(live), kc = output_kind(cand);
    if (kl != kc) /* a logitraw candidate's margins would be judged, then served, as probabilities */
        return mlops__fail(MLOPS_EINVAL, "deploy: candidate outputs a %s (%s), the live model a %s (%s)",
                           OUT_KIND_NAMES[kc], mlops_model_objective(cand), OUT_KIND_NAMES[kl],
                           mlops_model_objective(live));
    for (uint32_t f = 0; f <= MLOPS_PREDICT_MARGIN; f++) {
        size_t wl = mlops_model_output_width(live, f), wc = mlops_model_output_width(cand, f);
        if (wl != wc)
            return mlops__fail(MLOPS_ESHAPE,
                               "deploy: candidate's %s output has %zu values per row, the live model's %zu",
                               f ? "margin" : "default", wc, wl);
    }
    for (size_t i = 0; i < nf; i++) {
        const char *a = mlops_model_feature_name(live, i), *b = mlops_model_feature_name(cand, i);
        if (!a || !b || strcmp(a, b) != 0)
            return mlops__fail(MLOPS_EINVAL, "deploy: candidate's feature %zu is '%s', the live model's '%s'",
                               i, b ? b : "(null)", a ? a : "(null)");
    }
    return MLOPS_OK;
}

mlops_status mlops_deploy_stage(mlops_deploy *d, mlops_model *candidate) {
    MLOPS__CHECK_ARG("deploy", d);
    MLOPS__CHECK_ARG("deploy", candidate);
    mlops_status st = ctl_enter(d, "stage");
    if (st) return st;
    deploy_config *cur = current(d);
    st = compatible(cur->slot[MLOPS_SLOT_BLUE], candidate);
    deploy_config *next = st ? NULL : config_copy(cur);
    if (!st && !next) st = mlops__fail(MLOPS_ENOMEM, "deploy: out of memory staging a candidate");
    if (!st) {
        mlops_model_free(next->slot[MLOPS_SLOT_GREEN]);
        next->slot[MLOPS_SLOT_GREEN] = mlops_model_ref(candidate);
        publish(d, next, 1);
    }
    ctl_leave(d);
    return st;
}

/* Enter ctl as `what`, publish the slot move of next_moved(), leave. */
static mlops_status move_slots(mlops_deploy *d, const char *what, int need, const char *missing,
                               const char *doing, const int from[3]) {
    mlops_status st = ctl_enter(d, what);
    if (st) return st;
    deploy_config *next = NULL;
    st = next_moved(d, need, missing, doing, from, &next);
    if (!st) publish(d, next, 1);
    ctl_leave(d);
    return st;
}

mlops_status mlops_deploy_unstage(mlops_deploy *d) {
    MLOPS__CHECK_ARG("deploy", d);
    static const int from[3] = {MLOPS_SLOT_BLUE, NO_SLOT, MLOPS_SLOT_PREVIOUS};
    return move_slots(d, "unstage", MLOPS_SLOT_GREEN, "deploy: unstage: no candidate is staged", "unstaging",
                      from);
}

/* ---- validation gate --------------------------------------------------------------------------- */

static double sigmoid(double m) { return 1.0 / (1.0 + exp(-m)); }

/* Metric of predictions `p` (n values, one per row) against labels `y`. */
static double metric_of(mlops_deploy_gate_metric m, const float *p, const float *y, size_t n, double thr,
                        int logit) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        double v = logit ? sigmoid(p[i]) : (double)p[i], t = y[i];
        if (m == MLOPS_DEPLOY_GATE_ACCURACY) {
            sum += ((v >= thr) == (t == 1.0));
        } else if (m == MLOPS_DEPLOY_GATE_LOGLOSS) {
            const double eps = 1e-15;
            double pc = v < eps ? eps : (v > 1.0 - eps ? 1.0 - eps : v);
            sum -= t == 1.0 ? log(pc) : log(1.0 - pc);
        } else {
            double e = v - t;
            sum += e * e;
        }
    }
    return m == MLOPS_DEPLOY_GATE_RMSE ? sqrt(sum / (double)n) : sum / (double)n;
}

static mlops_status gate_check_args(const mlops_model *live, const float *x, size_t n_rows, size_t n_cols,
                                    const float *y, const mlops_deploy_gate_opts *o,
                                    mlops_deploy_gate_metric *metric) {
    MLOPS__FAIL_IF(!x, MLOPS_EINVAL, "deploy: validate: x is NULL");
    if (n_rows == 0) return mlops__fail(MLOPS_EINVAL, "deploy: validate: the validation set has no rows");
    size_t nf = mlops_model_n_features(live);
    if (n_cols != nf)
        return mlops__fail(MLOPS_ESHAPE, "deploy: validate: rows have %zu columns, the models expect %zu",
                           n_cols, nf);
    if (!(o->tolerance >= 0.0) || isinf(o->tolerance))
        return mlops__fail(MLOPS_EINVAL, "deploy: validate: tolerance must be finite and >= 0, got %g",
                           o->tolerance);
    if (isnan(o->max_abs_diff) || o->max_abs_diff < 0.0)
        return mlops__fail(MLOPS_EINVAL,
                           "deploy: validate: max_abs_diff must be >= 0 (INFINITY = off), got %g",
                           o->max_abs_diff);
    if (!isfinite(o->threshold))
        return mlops__fail(MLOPS_EINVAL, "deploy: validate: threshold must be finite, got %g", o->threshold);
    mlops_task task = mlops_model_task(live);
    mlops_deploy_gate_metric m = o->metric;
    if ((unsigned)m > MLOPS_DEPLOY_GATE_RMSE)
        return mlops__fail(MLOPS_EINVAL, "deploy: validate: unknown metric %d", (int)m);
    if (m == MLOPS_DEPLOY_GATE_AUTO)
        m = !y                              ? MLOPS_DEPLOY_GATE_NONE
            : task == MLOPS_TASK_BINARY     ? MLOPS_DEPLOY_GATE_LOGLOSS
            : task == MLOPS_TASK_REGRESSION ? MLOPS_DEPLOY_GATE_RMSE
                                            : MLOPS_DEPLOY_GATE_NONE;
    if (m != MLOPS_DEPLOY_GATE_NONE) {
        int ok = m == MLOPS_DEPLOY_GATE_RMSE ? task == MLOPS_TASK_REGRESSION : task == MLOPS_TASK_BINARY;
        if (!ok)
            return mlops__fail(MLOPS_ENOTSUP, "deploy: validate: metric %s is not defined for %s models",
                               mlops_deploy_gate_metric_name(m), mlops_task_name(task));
        MLOPS__FAIL_IF(!y, MLOPS_EINVAL, "deploy: validate: metric %s needs labels (y is NULL)",
                       mlops_deploy_gate_metric_name(m));
        for (size_t i = 0; i < n_rows; i++) {
            if (!isfinite(y[i]))
                return mlops__fail(MLOPS_EINVAL, "deploy: validate: label %zu is %g", i, (double)y[i]);
            if (task == MLOPS_TASK_BINARY && y[i] != 0.0f && y[i] != 1.0f)
                return mlops__fail(MLOPS_ERANGE, "deploy: validate: binary label %zu is %g, not 0 or 1", i,
                                   (double)y[i]);
        }
    }
    if (m == MLOPS_DEPLOY_GATE_NONE && isinf(o->max_abs_diff))
        return mlops__fail(MLOPS_EINVAL,
                           "deploy: validate: no criterion enabled (give labels and a metric, or a "
                           "finite max_abs_diff)");
    *metric = m;
    return MLOPS_OK;
}

mlops_status mlops_deploy_validate(mlops_deploy *d, const float *x, size_t n_rows, size_t n_cols,
                                   const float *y, const mlops_deploy_gate_opts *opts,
                                   mlops_deploy_gate_report *report) {
    mlops_deploy_gate_opts o = MLOPS_DEPLOY_GATE_OPTS_INIT;
    MLOPS__CHECK_ARG("deploy", d);
    MLOPS__TRY(
        mlops__opts_copy(&o, opts, sizeof o, MLOPS_DEPLOY_GATE_OPTS_VERSION, "deploy", "gate options"));
    /* Take references under state, then predict without it (a long validation blocks no one,
     * and a grace period in progress does not block the validation). */
    pthread_mutex_lock(&d->state);
    deploy_config *cur = current(d);
    mlops_model *live = mlops_model_ref(cur->slot[MLOPS_SLOT_BLUE]);
    mlops_model *cand = mlops_model_ref(cur->slot[MLOPS_SLOT_GREEN]);
    uint64_t id = d->stage_id;
    pthread_mutex_unlock(&d->state);

    mlops_status st = MLOPS_OK;
    float *buf = NULL;
    mlops_deploy_gate_metric metric = MLOPS_DEPLOY_GATE_NONE;
    mlops_deploy_gate_report r;
    memset(&r, 0, sizeof r);
    if (!cand) {
        st = mlops__fail(MLOPS_ESTATE, "deploy: validate: no candidate is staged");
        goto done;
    }
    st = gate_check_args(live, x, n_rows, n_cols, y, &o, &metric);
    if (st) goto done;
    size_t w = mlops_model_output_width(live, 0);
    if (n_rows > SIZE_MAX / 2 / (w ? w : 1) / sizeof(float)) {
        st = mlops__fail(MLOPS_ELIMIT, "deploy: validate: %zu rows is too many", n_rows);
        goto done;
    }
    buf = mlops__malloc(2 * n_rows * w * sizeof(float));
    if (!buf) {
        st = mlops__fail(MLOPS_ENOMEM, "deploy: validate: out of memory for %zu predictions", 2 * n_rows * w);
        goto done;
    }
    float *pl = buf, *pc = buf + n_rows * w;
    st = mlops_model_predict(live, x, n_rows, n_cols, 0, pl, n_rows * w);
    if (!st) st = mlops_model_predict(cand, x, n_rows, n_cols, 0, pc, n_rows * w);
    if (st) goto done;
    double maxd = 0.0;
    for (size_t i = 0; i < n_rows * w; i++) {
        double diff = fabs((double)pc[i] - (double)pl[i]);
        if (diff > maxd || isnan(diff)) maxd = diff;
    }
    r.metric = metric;
    r.n_rows = n_rows;
    r.max_abs_diff = maxd;
    r.live_metric = r.candidate_metric = NAN;
    r.passed = 1;
    snprintf(r.reason, sizeof r.reason, "passed");
    if (metric != MLOPS_DEPLOY_GATE_NONE) {
        int logit = strcmp(mlops_model_objective(live), "binary:logitraw") == 0; /* output is a margin */
        r.live_metric = metric_of(metric, pl, y, n_rows, o.threshold, logit);
        r.candidate_metric = metric_of(metric, pc, y, n_rows, o.threshold, logit);
        int higher_better = metric == MLOPS_DEPLOY_GATE_ACCURACY;
        double worse =
            higher_better ? r.live_metric - r.candidate_metric : r.candidate_metric - r.live_metric;
        if (!(worse <= o.tolerance)) {
            r.passed = 0;
            snprintf(
                r.reason, sizeof r.reason, "%s: candidate %.6g, live %.6g, worse by %.3g > tolerance %.3g",
                mlops_deploy_gate_metric_name(metric), r.candidate_metric, r.live_metric, worse, o.tolerance);
        }
    }
    if (r.passed && !(maxd <= o.max_abs_diff)) {
        r.passed = 0;
        snprintf(r.reason, sizeof r.reason, "max |candidate - live| %.6g > max_abs_diff %.6g", maxd,
                 o.max_abs_diff);
    }
    pthread_mutex_lock(&d->state);
    int changed = d->stage_id != id;
    if (!changed) d->gate_id = r.passed ? id : 0;
    pthread_mutex_unlock(&d->state);
    if (changed)
        st = mlops__fail(MLOPS_ESTATE,
                         "deploy: validate: the candidate or the live model changed during validation");
    if (!st && report) *report = r;
done:
    mlops__free(buf);
    mlops_model_free(live);
    mlops_model_free(cand);
    return st;
}

/* ---- promote / rollback / canary / shadow ------------------------------------------------------ */

mlops_status mlops_deploy_promote(mlops_deploy *d, uint32_t flags) {
    MLOPS__CHECK_ARG("deploy", d);
    if (flags & ~MLOPS_DEPLOY_FORCE)
        return mlops__fail(MLOPS_EINVAL, "deploy: promote: unknown flags 0x%x", flags);
    mlops_status st = ctl_enter(d, "promote");
    if (st) return st;
    static const int from[3] = {MLOPS_SLOT_GREEN, NO_SLOT, MLOPS_SLOT_BLUE};
    deploy_config *next = NULL, *old = NULL;
    st = next_moved(d, MLOPS_SLOT_GREEN, "deploy: promote: no candidate is staged", "promoting", from, &next);
    if (!st) {
        /* The gate check and the swap in one state section: a validation finishing meanwhile
         * cannot slip between them. */
        pthread_mutex_lock(&d->state);
        if ((flags & MLOPS_DEPLOY_FORCE) || d->gate_id == d->stage_id) old = swap_config(d, next, 1);
        pthread_mutex_unlock(&d->state);
        if (old) {
            retire(d, old);
            atomic_fetch_add(&d->promotions, 1);
        } else {
            config_free(next);
            st = mlops__fail(MLOPS_EVALIDATION,
                             "deploy: promote: the candidate has not passed the validation gate "
                             "(validate it, or promote with MLOPS_DEPLOY_FORCE)");
        }
    }
    ctl_leave(d);
    return st;
}

mlops_status mlops_deploy_rollback(mlops_deploy *d) {
    MLOPS__CHECK_ARG("deploy", d);
    static const int from[3] = {MLOPS_SLOT_PREVIOUS, MLOPS_SLOT_GREEN, NO_SLOT};
    mlops_status st =
        move_slots(d, "rollback", MLOPS_SLOT_PREVIOUS,
                   "deploy: rollback: nothing to roll back to (no promote since the last rollback)",
                   "rolling back", from);
    if (!st) atomic_fetch_add(&d->rollbacks, 1);
    return st;
}

mlops_status mlops_deploy_set_canary(mlops_deploy *d, double fraction) {
    MLOPS__CHECK_ARG("deploy", d);
    mlops_status st = check_canary(fraction);
    if (!st) st = ctl_enter(d, "set_canary");
    if (st) return st;
    deploy_config *next = config_copy(current(d));
    if (!next) {
        st = mlops__fail(MLOPS_ENOMEM, "deploy: out of memory setting the canary fraction");
    } else {
        next->canary = fraction;
        next->canary_cut = canary_cut(fraction);
        publish(d, next, 0);
    }
    ctl_leave(d);
    return st;
}

mlops_status mlops_deploy_set_shadow(mlops_deploy *d, int on) {
    MLOPS__CHECK_ARG("deploy", d);
    mlops_status st = ctl_enter(d, "set_shadow");
    if (st) return st;
    deploy_config *next = config_copy(current(d));
    if (!next) {
        st = mlops__fail(MLOPS_ENOMEM, "deploy: out of memory setting shadow mode");
    } else {
        next->shadow = on != 0;
        publish(d, next, 0);
    }
    ctl_leave(d);
    return st;
}

mlops_status mlops_deploy_model(const mlops_deploy *d, mlops_deploy_slot slot, mlops_model **out) {
    MLOPS__CHECK_ARG("deploy", d);
    MLOPS__CHECK_ARG("deploy", out);
    if ((unsigned)slot > MLOPS_SLOT_PREVIOUS)
        return mlops__fail(MLOPS_EINVAL, "deploy: model: unknown slot %d", (int)slot);
    static const char *names[] = {"blue", "green", "previous"};
    pthread_mutex_lock(state_lock(d));
    mlops_model *m = mlops_model_ref(current(d)->slot[slot]);
    pthread_mutex_unlock(state_lock(d));
    if (!m) return mlops__fail(MLOPS_ENOTFOUND, "deploy: model: the %s slot is empty", names[slot]);
    *out = m;
    return MLOPS_OK;
}

/* ---- hot path ---------------------------------------------------------------------------------- */

static int canary_green(mlops_deploy *d, const deploy_config *c, const void *key, size_t key_len) {
    if (!c->slot[MLOPS_SLOT_GREEN] || c->canary <= 0.0) return 0;
    if (key) return (XXH3_64bits_withSeed(key, key_len, d->hash_seed) >> 11) < c->canary_cut;
    uint64_t n = atomic_fetch_add_explicit(&d->keyless, 1, memory_order_relaxed);
    /* Request n goes to green when floor((n + 1) f) > floor(n f): exactly floor(N f) of the first N. */
    return floor((double)(n + 1) * c->canary) > floor((double)n * c->canary);
}

static void shadow_max(mlops_deploy *d, double v) {
    uint64_t bits, cur = atomic_load_explicit(&d->shadow_max_bits, memory_order_relaxed);
    memcpy(&bits, &v, sizeof bits);
    while (bits > cur && !atomic_compare_exchange_weak_explicit(&d->shadow_max_bits, &cur, bits,
                                                                memory_order_relaxed, memory_order_relaxed)) {
    }
}

/* Green predicts what blue just served, in chunks through a stack buffer; only counters change. */
static void shadow(mlops_deploy *d, const mlops_model *green, const float *x, size_t n_rows, size_t n_cols,
                   uint32_t flags, const float *served, size_t w) {
    enum { BUF = 1024 };
    float buf[BUF];
    size_t chunk = w && w <= BUF ? BUF / w : 0, disagree = 0;
    double maxd = 0.0;
    if (!chunk) {
        atomic_fetch_add_explicit(&d->shadow_errors, 1, memory_order_relaxed);
        return;
    }
    for (size_t r0 = 0; r0 < n_rows; r0 += chunk) {
        size_t k = n_rows - r0 < chunk ? n_rows - r0 : chunk;
        if (mlops_model_predict(green, x + r0 * n_cols, k, n_cols, flags, buf, k * w) != MLOPS_OK) {
            atomic_fetch_add_explicit(&d->shadow_errors, 1, memory_order_relaxed);
            return;
        }
        for (size_t i = 0; i < k; i++) {
            double rowmax = 0.0;
            for (size_t j = 0; j < w; j++) {
                double diff = fabs((double)buf[i * w + j] - (double)served[(r0 + i) * w + j]);
                if (diff > rowmax || isnan(diff)) rowmax = isnan(diff) ? INFINITY : diff;
            }
            disagree += rowmax > d->shadow_tolerance;
            if (rowmax > maxd) maxd = rowmax;
        }
    }
    atomic_fetch_add_explicit(&d->shadow_requests, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&d->shadow_rows, n_rows, memory_order_relaxed);
    atomic_fetch_add_explicit(&d->shadow_disagree, disagree, memory_order_relaxed);
    shadow_max(d, maxd);
}

mlops_status mlops_deploy_predict(mlops_deploy *d, const void *key, size_t key_len, const float *x,
                                  size_t n_rows, size_t n_cols, uint32_t flags, float *out, size_t out_len,
                                  mlops_deploy_slot *served_by) {
    MLOPS__CHECK_ARG("deploy", d);
    MLOPS__CHECK_BUF("deploy", key, key_len);
    enter_call(d);
    unsigned e = atomic_load(&d->epoch) & 1u;
    atomic_fetch_add(&d->readers[e].n, 1);
    const deploy_config *c = atomic_load(&d->cfg);
    int green = canary_green(d, c, key, key_len);
    const mlops_model *m = c->slot[green ? MLOPS_SLOT_GREEN : MLOPS_SLOT_BLUE];
    mlops_status st = mlops_model_predict(m, x, n_rows, n_cols, flags, out, out_len);
    if (st == MLOPS_OK) {
        atomic_fetch_add_explicit(&d->requests[green], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&d->rows[green], n_rows, memory_order_relaxed);
        if (!green && c->shadow && c->slot[MLOPS_SLOT_GREEN])
            shadow(d, c->slot[MLOPS_SLOT_GREEN], x, n_rows, n_cols, flags, out,
                   mlops_model_output_width(m, flags));
    } else {
        atomic_fetch_add_explicit(&d->errors[green], 1, memory_order_relaxed);
    }
    reader_leave(d, &d->readers[e].n);
    leave_call();
    if (st == MLOPS_OK && served_by) *served_by = green ? MLOPS_SLOT_GREEN : MLOPS_SLOT_BLUE;
    return st;
}

mlops_status mlops_deploy_get_stats(const mlops_deploy *d, mlops_deploy_stats *s) {
    MLOPS__CHECK_ARG("deploy", d);
    MLOPS__CHECK_ARG("deploy", s);
    memset(s, 0, sizeof *s);
    for (int i = 0; i < 2; i++) {
        s->requests[i] = atomic_load(&d->requests[i]);
        s->rows[i] = atomic_load(&d->rows[i]);
        s->errors[i] = atomic_load(&d->errors[i]);
    }
    s->shadow_requests = atomic_load(&d->shadow_requests);
    s->shadow_rows = atomic_load(&d->shadow_rows);
    s->shadow_disagreements = atomic_load(&d->shadow_disagree);
    s->shadow_errors = atomic_load(&d->shadow_errors);
    uint64_t bits = atomic_load(&d->shadow_max_bits);
    memcpy(&s->shadow_max_abs_diff, &bits, sizeof bits);
    s->promotions = atomic_load(&d->promotions);
    s->rollbacks = atomic_load(&d->rollbacks);
    s->generation = atomic_load(&d->generation);
    s->slow_grace_periods = atomic_load(&d->slow_grace);
    pthread_mutex_lock(state_lock(d));
    const deploy_config *c = current(d);
    s->canary_fraction = c->canary;
    s->shadow = c->shadow;
    s->has_candidate = c->slot[MLOPS_SLOT_GREEN] != NULL;
    s->has_rollback = c->slot[MLOPS_SLOT_PREVIOUS] != NULL;
    s->gate_passed = s->has_candidate && d->gate_id == d->stage_id;
    pthread_mutex_unlock(state_lock(d));
    return MLOPS_OK;
}
