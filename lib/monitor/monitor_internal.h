/* Monitor internals shared between monitor.c and monitor_state.c. Never installed. */
#ifndef MLOPS_MONITOR_INTERNAL_H
#define MLOPS_MONITOR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mlops/monitor.h"

/* Neumaier compensated sum: value = s + c. */
typedef struct ksum {
    double s, c;
} ksum;

/* One window record. pred: P(y=1), the argmax class, or yhat; ll: log-loss term (classification). */
typedef struct mlops__slot {
    double pred, y, ll;
} mlops__slot;

/* Sums behind every incremental metric; used for the window (add and subtract) and the lifetime (add). */
typedef struct mlops__monitor_sums {
    uint64_t n;
    uint64_t tp, fp, fn, tn; /* binary confusion matrix */
    uint64_t correct;        /* multiclass */
    uint64_t *cls;           /* multiclass: tp[K], fp[K], fn[K] (not serialized as a pointer) */
    ksum pred, ll, brier;    /* sum of predictions, log-loss terms, squared errors of p */
    ksum y1, y2;             /* regression: sum of (y - shift) and its squares; classification: sum of y */
    ksum se, ae;             /* regression: squared and absolute errors */
    double shift;            /* regression: label shift (window mean at the last rebuild) */
    uint64_t tol_ok, exact;  /* regression: |e| < tolerance; e*e == 0 */
    uint64_t label_changes;  /* adjacent records with different labels (0 = constant labels) */
    double last_y, mean, m2; /* lifetime only: last label, Welford mean and M2 of labels */
} mlops__monitor_sums;

/* Immutable configuration (a restore must match it). */
typedef struct mlops__monitor_cfg {
    mlops_monitor_task task;
    unsigned n_classes; /* 2 for binary, 0 for regression */
    size_t width;       /* prediction values per record */
    size_t pending_capacity;
    double threshold, tolerance, eps;
} mlops__monitor_cfg;

typedef struct mlops__pnode {
    char *id;
    size_t id_len;
    uint64_t hash;
    double t;            /* time recorded (after a load: minus the age until the first timed call) */
    uint32_t hnext;      /* hash chain */
    uint32_t prev, next; /* age list (oldest first); `next` links the free list */
} mlops__pnode;

typedef struct mlops__alert {
    mlops_alert_rule rule;
    int firing;
} mlops__alert;

typedef struct mlops__monitor_core {
    mlops_monitor_opts opts;
    mlops__monitor_cfg cfg;
    size_t window, recompute_every, since_rebuild;
    /* `ring_cap` slots are allocated, growing to `window` as records arrive: a large window costs
     * memory only once it fills, and loading a state file allocates what the file holds, not what
     * its options claim. While ring_cap < window nothing was evicted yet, so head is 0. */
    mlops__slot *ring;
    size_t ring_cap, head, count;
    mlops__monitor_sums win, life;
    uint64_t recorded, matched, evicted_ttl, evicted_capacity, recomputes, generation;
    /* ROC AUC cache */
    int auc_valid;
    uint64_t auc_generation;
    double auc_value;
    /* pending store: `node_cap` nodes (and rows of pvals) allocated, growing to pending_capacity;
     * nodes [0, n_used) have been handed out at least once, freed ones are on the p_free list */
    size_t pending_capacity, n_pending, n_buckets, node_cap, n_used;
    double pending_ttl, last_now;
    int rebase;
    uint64_t seed;
    mlops__pnode *nodes;
    uint32_t *buckets;
    double *pvals;
    uint32_t p_head, p_tail, p_free;
    /* alerts */
    uint64_t alert_mask;
    mlops__alert alerts[MLOPS_METRIC_N];
} mlops__monitor_core;

void mlops__monitor_cfg_from_opts(const mlops_monitor_opts *o, mlops__monitor_cfg *g);
mlops_status mlops__monitor_check_opts(const mlops_monitor_opts *o);
mlops_status mlops__monitor_check_rule(const mlops__monitor_cfg *g, const mlops_alert_rule *r);
uint64_t mlops__monitor_task_mask(mlops_monitor_task task);
mlops_status mlops__monitor_core_init(mlops__monitor_core *c, const mlops_monitor_opts *o);
void mlops__monitor_core_free(mlops__monitor_core *c);
mlops_status mlops__monitor_make_slot(const mlops__monitor_cfg *g, const double *pred, double actual,
                                      size_t row, int batch, mlops__slot *out);
/* Make room for `extra` more records in the ring (lock held); on failure nothing changed. */
mlops_status mlops__monitor_reserve(mlops__monitor_core *c, size_t extra);
/* Push one validated slot (lock held; room reserved with mlops__monitor_reserve). */
void mlops__monitor_push(mlops__monitor_core *c, const mlops__slot *s);
void mlops__monitor_rebuild(mlops__monitor_core *c);
mlops_status mlops__monitor_pending_insert(mlops__monitor_core *c, char *id, size_t len, const double *pred,
                                           double t);

/* monitor_state.c */
size_t mlops__monitor_state_size(const mlops__monitor_core *c);
/* Serialize into buf (mlops__monitor_state_size bytes); pending ages are taken relative to `now`. */
size_t mlops__monitor_serialize(const mlops__monitor_core *c, double now, unsigned char *buf);
/* Read and verify a state file into a fresh core (untouched on failure). */
mlops_status mlops__monitor_load_file(const char *path, mlops__monitor_core *out);

#endif
