/* Drift module internals shared by drift.c (the detector) and snapshot.c (mergeable window
 * snapshots). Never installed. */
#ifndef MLOPS_DRIFT_INTERNAL_H
#define MLOPS_DRIFT_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "drift/ranktree.h"
#include "internal.h"
#include "mlops/drift.h"

typedef struct feat {
    int kind;
    size_t R; /* non-missing reference values */
    size_t ref_missing;
    /* numeric */
    mlops__ranktree rt;
    uint32_t
        *slots; /* W: tree slot of each window value (MLOPS__RT_MISSING for NaN), same ring as the stream */
    size_t W;
    /* categorical */
    size_t ncat, capcat;
    double *cats;
    size_t *cref, *ccur;
    /* window */
    size_t C;       /* non-missing values in the window */
    size_t missing; /* missing values in the window */
} feat;

typedef struct stream {
    size_t nf;
    feat *f;
    int ready;
    size_t ref_cap, ref_rows; /* reference rows (raw, NaN kept) */
    double *ref;
    size_t W, head, len; /* ring of W rows */
    double *win;
    size_t seen;
} stream;

/* p-values are a pure function of (statistic, n, m, method); a monitored feature's
 * statistic wanders over a small lattice of values, so reports memoize them
 * (direct-mapped, under the handle's lock; a hit returns exactly what was computed). */
#define PMEMO_SIZE 1024
typedef struct pmemo {
    double d, d_out, p;
    size_t n1, n2;
    int method, used;
} pmemo;

struct mlops_drift {
    pthread_mutex_t lock;
    mlops_drift_opts opts;
    char **names;
    int *kinds;
    stream x, pred;
    pmemo memo[PMEMO_SIZE];
};

/* The detector's mutex from a const handle: the read-only calls (reports, statistic, save, snapshot)
 * lock it too, and the lock is not part of the detector's observable state. */
static inline pthread_mutex_t *mlops__drift_lock(const mlops_drift *d) { return (pthread_mutex_t *)&d->lock; }

/* A growing byte buffer for the binary formats; `oom` is sticky. */
typedef struct buf {
    unsigned char *p;
    size_t len, cap;
    int oom;
} buf;

static inline void put(buf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *q = mlops__realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static inline void put_u64(buf *b, uint64_t v) { put(b, &v, sizeof v); }
static inline void put_f64(buf *b, double v) { put(b, &v, sizeof v); }

/* Chi-square test of homogeneity of reference counts `cref` and window counts `ccur` (ncat each). */
void mlops__drift_chi2(const size_t *cref, const size_t *ccur, size_t ncat, double *stat, double *p);
/* Adjusted p-values and drift flags of n results under correction c and threshold thr. */
void mlops__drift_correct(mlops_drift_feature_result *r, size_t n, mlops_drift_correction c, double thr);
/* n_features .. mean_statistic of `sum` from nf corrected results (the rest zeroed). */
void mlops__drift_summarize(const mlops_drift_feature_result *res, size_t nf, const mlops_drift_opts *o,
                            mlops_drift_summary *sum);
/* One feature's JSON object in the report. */
json_t *mlops__drift_result_json(const char *name, const mlops_drift_feature_result *r);
/* The report document (see mlops_drift_report_json). */
json_t *mlops__drift_report_doc(const char *const *names, const mlops_drift_feature_result *res, size_t nf,
                                const mlops_drift_summary *sum, const mlops_drift_opts *o);
/* Per-feature results (nf) and summary of a complete detector; the caller holds d->lock. Logically
 * const: it fills the p-value memo and each rank tree's scratch, caches that no caller can observe. */
mlops_status mlops__drift_report_locked(const mlops_drift *d, mlops_drift_feature_result *res,
                                        mlops_drift_summary *sum);
/* Compact JSON text of `root` (consumed), allocated for mlops_free(); NULL when out of memory. */
char *mlops__drift_dump(json_t *root);

#endif
