/* Streaming per-feature drift detector.
 *
 * Numeric features: the reference is fixed, so each window value falls in one of
 * the 2K + 1 classes ("slots") its K distinct values define; the window is a
 * count per slot (ranktree.c), O(1) per add or removal once the slot is found
 * (O(log K), once, when the value enters; kept in a per-feature ring so its
 * removal needs no search). The statistic is one in-order pass over the occupied
 * slots, giving exactly SciPy's doubles. Batches are applied one feature at a
 * time (all rows of a batch against one feature's counts while they are in cache).
 * Categorical features: counts per category, chi-square test of homogeneity.
 */
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sort.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift/drift_internal.h"
#include "drift/ks_internal.h"
#include "drift/ranktree.h"
#include "internal.h"
#include "mlops/drift.h"

static mlops_status memo_pvalue(pmemo *memo, double d, size_t n1, size_t n2, mlops_drift_ks_method method,
                                double *d_out, double *p) {
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    uint64_t h = bits * 0x9E3779B97F4A7C15ull ^ (uint64_t)n1 * 0xBF58476D1CE4E5B9ull ^
                 (uint64_t)n2 * 0x94D049BB133111EBull ^ (uint64_t)method;
    pmemo *e = &memo[(h >> 32) % PMEMO_SIZE];
    if (e->used && e->d == d && e->n1 == n1 && e->n2 == n2 && e->method == (int)method) {
        *d_out = e->d_out;
        *p = e->p;
        return MLOPS_OK;
    }
    mlops_status st = mlops__ks_pvalue_raw(d, n1, n2, MLOPS_DRIFT_KS_TWO_SIDED, method, d_out, p, NULL);
    if (st) return st;
    pmemo n = {d, *d_out, *p, n1, n2, (int)method, 1};
    *e = n;
    return MLOPS_OK;
}

/* version 1: the fields before rule */
MLOPS__DEFINE_OPTS_INIT(mlops_drift_opts_init, mlops_drift_opts, MLOPS_DRIFT_OPTS_INIT,
                        MLOPS_DRIFT_OPTS_VERSION, offsetof(mlops_drift_opts, rule))

/* ------------------------------------------------------------------------ */
/* feature state                                                            */

static void feat_clear(feat *f) {
    mlops__ranktree_free(&f->rt);
    mlops__free(f->slots);
    mlops__free(f->cats);
    mlops__free(f->cref);
    mlops__free(f->ccur);
    int kind = f->kind;
    memset(f, 0, sizeof *f);
    f->kind = kind;
}

static size_t cat_find(const feat *f, double v, int *found) {
    size_t lo = 0, hi = f->ncat;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (f->cats[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < f->ncat && f->cats[lo] == v;
    return lo;
}

/* Insert category v at its place; returns its index or (size_t)-1 on ENOMEM. */
static size_t cat_insert(feat *f, double v) {
    int found;
    size_t at = cat_find(f, v, &found);
    if (found) return at;
    if (f->ncat == f->capcat) {
        size_t cap = f->capcat ? f->capcat * 2 : 8;
        double *c = mlops__realloc(f->cats, cap * sizeof *c);
        if (!c) return (size_t)-1;
        f->cats = c;
        size_t *a = mlops__realloc(f->cref, cap * sizeof *a);
        if (!a) return (size_t)-1;
        f->cref = a;
        size_t *b = mlops__realloc(f->ccur, cap * sizeof *b);
        if (!b) return (size_t)-1;
        f->ccur = b;
        f->capcat = cap;
    }
    memmove(f->cats + at + 1, f->cats + at, (f->ncat - at) * sizeof *f->cats);
    memmove(f->cref + at + 1, f->cref + at, (f->ncat - at) * sizeof *f->cref);
    memmove(f->ccur + at + 1, f->ccur + at, (f->ncat - at) * sizeof *f->ccur);
    f->cats[at] = v;
    f->cref[at] = 0;
    f->ccur[at] = 0;
    f->ncat++;
    return at;
}

/* Build a feature's reference from `n` values with stride. */
static mlops_status feat_build(feat *f, const double *v, size_t n, size_t stride, size_t W) {
    feat nf;
    memset(&nf, 0, sizeof nf);
    nf.kind = f->kind;
    size_t R = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i * stride])) R++;
    nf.R = R;
    nf.ref_missing = n - R;
    if (nf.kind == MLOPS_FEATURE_CATEGORICAL) {
        for (size_t i = 0; i < n; i++) {
            double x = v[i * stride];
            if (isnan(x)) continue;
            size_t at = cat_insert(&nf, x);
            if (at == (size_t)-1) goto oom;
            nf.cref[at]++;
        }
        feat_clear(f);
        *f = nf;
        return MLOPS_OK;
    }
    double *s = mlops__malloc((R ? R : 1) * sizeof *s);
    nf.W = W;
    nf.slots = mlops__malloc(W * sizeof *nf.slots);
    if (!s || !nf.slots) {
        mlops__free(s);
        feat_clear(&nf);
        goto oom;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i * stride])) s[k++] = v[i * stride];
    gsl_sort(s, 1, R);
    if (R > 0) {
        mlops_status st = mlops__ranktree_init(&nf.rt, s, R, W);
        if (st) {
            mlops__free(s);
            feat_clear(&nf);
            return st;
        }
    }
    mlops__free(s);
    feat_clear(f);
    *f = nf;
    return MLOPS_OK;
oom:
    return mlops__fail(MLOPS_ENOMEM, "drift: out of memory building a reference of %zu values", n);
}

static double feat_ks_stat(feat *f) {
    if (f->R == 0 || f->C == 0) return NAN;
    double mx, mn;
    mlops__ranktree_extremes(&f->rt, (int64_t)f->C, &mx, &mn);
    return mlops__ks_pick(mx, mn, MLOPS_DRIFT_KS_TWO_SIDED);
}

/* Chi-square test of homogeneity on the 2 x K table (categories seen anywhere). */
void mlops__drift_chi2(const size_t *cref, const size_t *ccur, size_t ncat, double *stat, double *p) {
    double nr = 0, nc = 0;
    size_t k = 0;
    for (size_t i = 0; i < ncat; i++) {
        nr += (double)cref[i];
        nc += (double)ccur[i];
        if (cref[i] + ccur[i] > 0) k++;
    }
    if (nr == 0 || nc == 0) {
        *stat = NAN;
        *p = NAN;
        return;
    }
    double tot = nr + nc, s = 0.0;
    for (size_t i = 0; i < ncat; i++) {
        double col = (double)(cref[i] + ccur[i]);
        if (col == 0) continue;
        double er = nr * col / tot, ec = nc * col / tot;
        double dr = (double)cref[i] - er, dc = (double)ccur[i] - ec;
        s += dr * dr / er + dc * dc / ec;
    }
    *stat = s;
    *p = k < 2 ? 1.0 : gsl_cdf_chisq_Q(s, (double)(k - 1));
}

/* MLOPS_ENOMEM when a p-value could not be computed for lack of memory. */
static mlops_status feat_result(feat *f, mlops_drift_ks_method method, size_t rows, pmemo *memo,
                                mlops_drift_feature_result *r) {
    memset(r, 0, sizeof *r);
    r->kind = f->kind;
    r->n_reference = f->R;
    r->n_current = f->C;
    r->n_missing = f->missing;
    r->missing_rate = rows ? (double)f->missing / (double)rows : 0.0;
    if (f->kind == MLOPS_FEATURE_CATEGORICAL) {
        mlops__drift_chi2(f->cref, f->ccur, f->ncat, &r->statistic, &r->pvalue);
    } else {
        r->statistic = feat_ks_stat(f);
        r->pvalue = NAN;
        if (!isnan(r->statistic)) {
            double d, p;
            mlops_status st = memo_pvalue(memo, r->statistic, f->R, f->C, method, &d, &p);
            if (st) return st;
            r->statistic = d; /* the exact path reports the statistic rounded to a multiple of 1/lcm */
            r->pvalue = p;
        }
    }
    r->pvalue_adjusted = r->pvalue;
    return MLOPS_OK;
}

static size_t feat_bytes(const feat *f, size_t ref_rows, size_t W) {
    size_t b = sizeof(feat) + (ref_rows + W) * sizeof(double);
    b += mlops__ranktree_bytes(&f->rt);
    if (f->slots) b += f->W * sizeof *f->slots;
    b += f->capcat * (sizeof(double) + 2 * sizeof(size_t));
    return b;
}

/* ------------------------------------------------------------------------ */
/* streams                                                                  */

static void stream_free(stream *s) {
    if (s->f)
        for (size_t i = 0; i < s->nf; i++)
            feat_clear(&s->f[i]);
    mlops__free(s->f);
    mlops__free(s->ref);
    mlops__free(s->win);
    memset(s, 0, sizeof *s);
}

static mlops_status stream_init(stream *s, size_t nf, const int *kinds, size_t W, size_t N) {
    memset(s, 0, sizeof *s);
    s->nf = nf;
    s->W = W;
    s->ref_cap = N;
    s->f = mlops__calloc(nf, sizeof *s->f);
    s->win = mlops__calloc(W * nf, sizeof *s->win);
    s->ref = mlops__calloc(N ? N * nf : 1, sizeof *s->ref);
    if (!s->f || !s->win || !s->ref) {
        stream_free(s);
        return mlops__fail(MLOPS_ENOMEM,
                           "drift: out of memory for %zu features x (window %zu + reference %zu)", nf, W, N);
    }
    for (size_t i = 0; i < nf; i++)
        s->f[i].kind = kinds ? kinds[i] : MLOPS_FEATURE_NUMERIC;
    return MLOPS_OK;
}

/* Build a new feature array from raw reference rows; the stream is not touched. */
static mlops_status build_feats(const stream *s, const double *ref, size_t rows, feat **out) {
    feat *nf = mlops__calloc(s->nf, sizeof *nf);
    if (!nf) return mlops__fail(MLOPS_ENOMEM, "drift: out of memory");
    for (size_t i = 0; i < s->nf; i++) {
        nf[i].kind = s->f[i].kind;
        mlops_status st = feat_build(&nf[i], ref + i, rows, s->nf, s->W);
        if (st) {
            for (size_t j = 0; j <= i; j++)
                feat_clear(&nf[j]);
            mlops__free(nf);
            return st;
        }
    }
    *out = nf;
    return MLOPS_OK;
}

static void free_feats(feat *f, size_t n) {
    if (!f) return;
    for (size_t i = 0; i < n; i++)
        feat_clear(&f[i]);
    mlops__free(f);
}

/* Build the reference from the collected rows (reference_size reached). */
static mlops_status stream_build(stream *s) {
    feat *nf;
    mlops_status st = build_feats(s, s->ref, s->ref_rows, &nf);
    if (st) return st;
    free_feats(s->f, s->nf);
    s->f = nf;
    s->ready = 1;
    s->head = s->len = 0;
    return MLOPS_OK;
}

static mlops_status check_rows(const stream *s, const int *kinds, const double *X, size_t n_rows,
                               size_t n_features, const char *what) {
    if (n_rows && !X) return mlops__fail(MLOPS_EINVAL, "drift: %s: data is NULL", what);
    if (n_features != s->nf)
        return mlops__fail(MLOPS_ESHAPE, "drift: %s: expected %zu features, got %zu", what, s->nf,
                           n_features);
    if (kinds)
        for (size_t r = 0; r < n_rows; r++)
            for (size_t i = 0; i < s->nf; i++) {
                double v = X[r * s->nf + i];
                if (kinds[i] == MLOPS_FEATURE_CATEGORICAL && !isnan(v) && (!isfinite(v) || v != floor(v)))
                    return mlops__fail(MLOPS_EINVAL,
                                       "drift: %s: row %zu feature %zu is categorical but %g is not an "
                                       "integer category code",
                                       what, r + 1, i, v);
            }
    return MLOPS_OK;
}

/* Apply validated rows to the window of a ready stream, one feature at a time:
 * every feature replays the same ring positions, so the rows leave in the same
 * order as they entered. New categories are inserted first (with zero counts,
 * which no test sees), so nothing can fail once the window starts to change. */
static mlops_status stream_window(stream *s, const double *X, size_t n_rows) {
    size_t nf = s->nf, W = s->W;
    for (size_t i = 0; i < nf; i++) {
        feat *f = &s->f[i];
        if (f->kind != MLOPS_FEATURE_CATEGORICAL) continue;
        for (size_t r = 0; r < n_rows; r++) {
            double v = X[r * nf + i];
            if (!isnan(v) && cat_insert(f, v) == (size_t)-1)
                return mlops__fail(MLOPS_ENOMEM, "drift: out of memory for a new category");
        }
    }
    size_t head = s->head, len = s->len;
    for (size_t i = 0; i < nf; i++) {
        feat *f = &s->f[i];
        double *col = s->win + i;
        head = s->head;
        len = s->len;
        if (f->kind == MLOPS_FEATURE_CATEGORICAL) {
            int found;
            for (size_t r = 0; r < n_rows; r++) {
                if (len == W) {
                    double o = col[head * nf];
                    if (isnan(o)) {
                        f->missing--;
                    } else {
                        f->ccur[cat_find(f, o, &found)]--;
                        f->C--;
                    }
                    head = head + 1 == W ? 0 : head + 1;
                    len--;
                }
                size_t pos = head + len >= W ? head + len - W : head + len;
                double v = X[r * nf + i];
                if (isnan(v)) {
                    f->missing++;
                } else {
                    f->ccur[cat_find(f, v, &found)]++;
                    f->C++;
                }
                col[pos * nf] = v;
                len++;
            }
            continue;
        }
        uint32_t *slots = f->slots;
        mlops__ranktree *t = &f->rt;
        for (size_t r = 0; r < n_rows; r++) {
            double v = X[r * nf + i];
            uint32_t in = isnan(v) ? MLOPS__RT_MISSING : mlops__ranktree_slot(t, v);
            uint32_t out = MLOPS__RT_MISSING;
            int evict = len == W;
            if (evict) {
                out = slots[head];
                head = head + 1 == W ? 0 : head + 1;
                len--;
            }
            size_t pos = head + len >= W ? head + len - W : head + len;
            slots[pos] = in;
            col[pos * nf] = v;
            len++;
            if (evict && out != MLOPS__RT_MISSING && in != MLOPS__RT_MISSING) {
                mlops__ranktree_replace(t, out, in);
                continue;
            }
            if (evict) {
                if (out == MLOPS__RT_MISSING) {
                    f->missing--;
                } else {
                    mlops__ranktree_add(t, out, -1);
                    f->C--;
                }
            }
            if (in == MLOPS__RT_MISSING) {
                f->missing++;
            } else {
                mlops__ranktree_add(t, in, +1);
                f->C++;
            }
        }
    }
    s->head = head;
    s->len = len;
    return MLOPS_OK;
}

/* Push validated rows: into the reference while it is being collected, then into the window. */
static mlops_status stream_push(stream *s, const double *X, size_t n_rows) {
    size_t r = 0;
    for (; r < n_rows && !s->ready; r++) {
        const double *row = X + r * s->nf;
        s->seen++;
        memcpy(s->ref + s->ref_rows * s->nf, row, s->nf * sizeof *row);
        s->ref_rows++;
        if (s->ref_rows == s->ref_cap) {
            mlops_status st = stream_build(s);
            if (st) { /* keep the state as it was before this row */
                s->ref_rows--;
                s->seen--;
                return st;
            }
        }
    }
    if (r == n_rows) return MLOPS_OK;
    mlops_status st = stream_window(s, X + r * s->nf, n_rows - r);
    if (!st) s->seen += n_rows - r;
    return st;
}

/* ------------------------------------------------------------------------ */
/* public API                                                               */

/* Copy caller options of version 1 (no `rule`: only its fields are read) or 2 into *o. */
static mlops_status copy_opts(const mlops_drift_opts *in, mlops_drift_opts *o) {
    if (in->version != 1u && in->version != MLOPS_DRIFT_OPTS_VERSION)
        return mlops__fail(MLOPS_EVERSION, "drift: options version %u, expected 1 or %u", in->version,
                           MLOPS_DRIFT_OPTS_VERSION);
    if (in->version == 1u)
        memcpy(o, in, offsetof(mlops_drift_opts, rule));
    else
        *o = *in;
    o->version = MLOPS_DRIFT_OPTS_VERSION;
    return MLOPS_OK;
}

static mlops_status check_opts(const mlops_drift_opts *o) {
    if (o->window == 0) return mlops__fail(MLOPS_EINVAL, "drift: window must be at least 1");
    if (o->window > ((size_t)1 << 31))
        return mlops__fail(MLOPS_EINVAL, "drift: window %zu is too large (max 2^31)", o->window);
    if (o->reference_size > ((size_t)1 << 31))
        return mlops__fail(MLOPS_EINVAL, "drift: reference_size %zu is too large (max 2^31)",
                           o->reference_size);
    if (!(o->p_value > 0 && o->p_value < 1))
        return mlops__fail(MLOPS_EINVAL, "drift: p_value threshold %g must be in (0, 1)", o->p_value);
    if (!(o->drift_share > 0 && o->drift_share <= 1))
        return mlops__fail(MLOPS_EINVAL, "drift: drift_share %g must be in (0, 1]", o->drift_share);
    if ((int)o->correction < 0 || (int)o->correction > 2)
        return mlops__fail(MLOPS_EINVAL, "drift: unknown correction %d", (int)o->correction);
    if ((int)o->method < 0 || (int)o->method > 2)
        return mlops__fail(MLOPS_EINVAL, "drift: unknown KS method %d", (int)o->method);
    if ((int)o->rule != MLOPS_DRIFT_RULE_SHARE && (int)o->rule != MLOPS_DRIFT_RULE_ANY)
        return mlops__fail(MLOPS_EINVAL, "drift: unknown dataset-drift rule %d", (int)o->rule);
    return MLOPS_OK;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names key the report, the JSON object and the metric series {feature="..."}: two features
 * with one name would make an exposition Prometheus rejects and lookups ambiguous. Sorted copy:
 * O(n log n) for up to 100000 features. */
static mlops_status check_unique_names(const char *const *names, size_t n) {
    const char **sorted = mlops__malloc(n * sizeof *sorted);
    if (!sorted) return mlops__fail(MLOPS_ENOMEM, "drift_new: out of memory");
    memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_name);
    mlops_status st = MLOPS_OK;
    for (size_t i = 1; i < n && !st; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            st = mlops__fail(MLOPS_EEXIST, "drift_new: feature name \"%s\" is given twice", sorted[i]);
    mlops__free(sorted);
    return st;
}

mlops_status mlops_drift_create(size_t n_features, const char *const *names, const mlops_feature_kind *kinds,
                                const mlops_drift_opts *opts, mlops_drift **out) {
    MLOPS__CHECK_ARG("drift", out);
    if (n_features == 0) return mlops__fail(MLOPS_EINVAL, "drift_new: at least one feature is needed");
    if (n_features > 100000)
        return mlops__fail(MLOPS_ELIMIT, "drift_new: %zu features exceed 100000", n_features);
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    mlops_status st = opts ? copy_opts(opts, &o) : MLOPS_OK;
    if (!st) st = check_opts(&o);
    if (st) return st;
    if (kinds)
        for (size_t i = 0; i < n_features; i++)
            if ((int)kinds[i] != MLOPS_FEATURE_NUMERIC && (int)kinds[i] != MLOPS_FEATURE_CATEGORICAL)
                return mlops__fail(MLOPS_EINVAL, "drift_new: feature %zu has unknown kind %d", i,
                                   (int)kinds[i]);
    if (names)
        for (size_t i = 0; i < n_features; i++)
            MLOPS__FAIL_IF(!names[i], MLOPS_EINVAL, "drift: create: name of feature %zu is NULL", i);
    if (names) {
        st = check_unique_names(names, n_features);
        if (st) return st;
    }
    mlops_drift *d = mlops__calloc(1, sizeof *d);
    if (!d) return mlops__fail(MLOPS_ENOMEM, "drift_new: out of memory");
    d->opts = o;
    d->names = mlops__calloc(n_features, sizeof *d->names);
    d->kinds = mlops__calloc(n_features, sizeof *d->kinds);
    if (!d->names || !d->kinds) goto oom;
    for (size_t i = 0; i < n_features; i++) {
        char buf[32];
        if (!names) snprintf(buf, sizeof buf, "f%zu", i);
        d->names[i] = mlops__strdup(names ? names[i] : buf);
        if (!d->names[i]) goto oom;
        d->kinds[i] = kinds ? (int)kinds[i] : MLOPS_FEATURE_NUMERIC;
    }
    if (stream_init(&d->x, n_features, d->kinds, o.window, o.reference_size)) goto fail;
    if (stream_init(&d->pred, 1, NULL, o.window, o.reference_size)) goto fail;
    if (pthread_mutex_init(&d->lock, NULL) != 0) goto fail;
    *out = d;
    return MLOPS_OK;
oom:
    mlops__fail(MLOPS_ENOMEM, "drift_new: out of memory");
fail:
    stream_free(&d->x);
    stream_free(&d->pred);
    if (d->names)
        for (size_t i = 0; i < n_features; i++)
            mlops__free(d->names[i]);
    mlops__free(d->names);
    mlops__free(d->kinds);
    mlops__free(d);
    return MLOPS_ENOMEM;
}

void mlops_drift_free(mlops_drift *d) {
    if (!d) return;
    for (size_t i = 0; i < d->x.nf; i++)
        mlops__free(d->names[i]);
    mlops__free(d->names);
    mlops__free(d->kinds);
    stream_free(&d->x);
    stream_free(&d->pred);
    pthread_mutex_destroy(&d->lock);
    mlops__free(d);
}

size_t mlops_drift_n_features(const mlops_drift *d) { return d ? d->x.nf : 0; }

const char *mlops_drift_feature_name(const mlops_drift *d, size_t i) {
    return d && i < d->x.nf ? d->names[i] : NULL;
}

/* Replace a stream's reference with explicit rows; all-or-nothing. */
static mlops_status stream_set_reference(stream *s, const double *X, size_t n_rows,
                                         const char *const *names) {
    feat *nf;
    mlops_status st = build_feats(s, X, n_rows, &nf);
    if (st) return st;
    for (size_t i = 0; i < s->nf; i++) {
        if (nf[i].R == 0) {
            free_feats(nf, s->nf);
            return mlops__fail(MLOPS_EINVAL, "drift: reference of feature '%s' has no non-missing value",
                               names ? names[i] : "prediction");
        }
    }
    double *ref = mlops__malloc(n_rows * s->nf * sizeof *ref);
    if (!ref) {
        free_feats(nf, s->nf);
        return mlops__fail(MLOPS_ENOMEM, "drift: out of memory for a reference of %zu rows", n_rows);
    }
    memcpy(ref, X, n_rows * s->nf * sizeof *ref);
    free_feats(s->f, s->nf);
    mlops__free(s->ref);
    s->f = nf;
    s->ref = ref;
    s->ref_rows = s->ref_cap = n_rows;
    s->ready = 1;
    s->len = s->head = 0;
    return MLOPS_OK;
}

mlops_status mlops_drift_set_reference(mlops_drift *d, const double *X, size_t n_rows, size_t n_features) {
    MLOPS__CHECK_ARG("drift", d);
    if (n_rows == 0) return mlops__fail(MLOPS_EINVAL, "drift_set_reference: the reference has no rows");
    pthread_mutex_lock(&d->lock);
    mlops_status st = check_rows(&d->x, d->kinds, X, n_rows, n_features, "set_reference");
    if (!st) st = stream_set_reference(&d->x, X, n_rows, (const char *const *)d->names);
    pthread_mutex_unlock(&d->lock);
    return st;
}

mlops_status mlops_drift_set_prediction_reference(mlops_drift *d, const double *p, size_t n) {
    MLOPS__CHECK_ARG("drift", d);
    MLOPS__FAIL_IF(n == 0 || !p, MLOPS_EINVAL, "drift: set_prediction_reference: no predictions");
    pthread_mutex_lock(&d->lock);
    mlops_status st = stream_set_reference(&d->pred, p, n, NULL);
    pthread_mutex_unlock(&d->lock);
    return st;
}

static mlops_status stream_update(stream *s, const double *X, size_t n_rows) {
    if (!s->ready && s->ref_cap == 0 && n_rows)
        return mlops__fail(MLOPS_ESTATE,
                           "drift: no reference (set one, or set opts.reference_size to collect it)");
    return stream_push(s, X, n_rows); /* only ENOMEM can fail here */
}

mlops_status mlops_drift_update(mlops_drift *d, const double *X, size_t n_rows, size_t n_features) {
    MLOPS__CHECK_ARG("drift", d);
    pthread_mutex_lock(&d->lock);
    mlops_status st = check_rows(&d->x, d->kinds, X, n_rows, n_features, "update");
    if (!st) st = stream_update(&d->x, X, n_rows);
    pthread_mutex_unlock(&d->lock);
    return st;
}

mlops_status mlops_drift_update_predictions(mlops_drift *d, const double *p, size_t n) {
    MLOPS__CHECK_ARG("drift", d);
    if (n && !p) return mlops__fail(MLOPS_EINVAL, "drift_update_predictions: data is NULL");
    pthread_mutex_lock(&d->lock);
    mlops_status st = stream_update(&d->pred, p, n);
    pthread_mutex_unlock(&d->lock);
    return st;
}

static int cmp_idx_p(const void *a, const void *b, void *ctx) {
    const double *p = ctx;
    double x = p[*(const size_t *)a], y = p[*(const size_t *)b];
    return x < y ? -1 : x > y ? 1 : 0;
}

void mlops__drift_correct(mlops_drift_feature_result *r, size_t n, mlops_drift_correction c, double thr) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(r[i].pvalue)) m++;
    if (c == MLOPS_DRIFT_CORRECTION_BONFERRONI) {
        for (size_t i = 0; i < n; i++)
            if (!isnan(r[i].pvalue)) r[i].pvalue_adjusted = fmin(1.0, r[i].pvalue * (double)m);
    } else if (c == MLOPS_DRIFT_CORRECTION_BH && m > 0) {
        size_t *idx = mlops__malloc(m * sizeof *idx);
        double *p = mlops__malloc(n * sizeof *p);
        if (idx && p) {
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                p[i] = r[i].pvalue;
                if (!isnan(p[i])) idx[k++] = i;
            }
            qsort_r(idx, m, sizeof *idx, cmp_idx_p, p);
            double run = 1.0;
            for (size_t k2 = m; k2-- > 0;) {
                double v = p[idx[k2]] * (double)m / (double)(k2 + 1);
                if (v < run) run = v;
                r[idx[k2]].pvalue_adjusted = run;
            }
        } else { /* out of memory: fall back to the conservative Bonferroni */
            for (size_t i = 0; i < n; i++)
                if (!isnan(r[i].pvalue)) r[i].pvalue_adjusted = fmin(1.0, r[i].pvalue * (double)m);
        }
        mlops__free(idx);
        mlops__free(p);
    }
    for (size_t i = 0; i < n; i++)
        r[i].drift = !isnan(r[i].pvalue_adjusted) && r[i].pvalue_adjusted < thr;
}

void mlops__drift_summarize(const mlops_drift_feature_result *res, size_t nf, const mlops_drift_opts *o,
                            mlops_drift_summary *sum) {
    memset(sum, 0, sizeof *sum);
    size_t tested = 0, drifted = 0, nnum = 0;
    double ssum = 0.0;
    for (size_t i = 0; i < nf; i++) {
        if (isnan(res[i].pvalue)) continue;
        tested++;
        drifted += res[i].drift != 0;
        if (res[i].kind == MLOPS_FEATURE_NUMERIC) {
            ssum += res[i].statistic;
            nnum++;
        }
    }
    sum->n_features = tested;
    sum->n_drifted = drifted;
    sum->drift_share = tested ? (double)drifted / (double)tested : 0.0;
    sum->dataset_drift = o->rule == MLOPS_DRIFT_RULE_ANY ? drifted > 0
                                                         : tested > 0 && sum->drift_share >= o->drift_share;
    sum->mean_statistic = nnum ? ssum / (double)nnum : NAN;
}

/* The p-value memo from a const handle: reports fill it under the lock, and a hit returns exactly
 * what would be computed, so it is a cache and not part of the detector's observable state. */
static pmemo *memo_of(const mlops_drift *d) { return (pmemo *)d->memo; }

/* Report with the lock held. res has nf entries. */
mlops_status mlops__drift_report_locked(const mlops_drift *d, mlops_drift_feature_result *res,
                                        mlops_drift_summary *sum) {
    size_t nf = d->x.nf;
    mlops_status st = MLOPS_OK;
    for (size_t i = 0; i < nf && !st; i++)
        st = feat_result(&d->x.f[i], d->opts.method, d->x.len, memo_of(d), &res[i]);
    if (st) return st;
    mlops__drift_correct(res, nf, d->opts.correction, d->opts.p_value);
    mlops__drift_summarize(res, nf, &d->opts, sum);
    sum->reference_ready = d->x.ready;
    sum->n_rows = d->x.len;
    sum->n_seen = d->x.seen;
    if (d->pred.ready && d->pred.f[0].C > 0) {
        st = feat_result(&d->pred.f[0], d->opts.method, d->pred.len, memo_of(d), &sum->prediction);
        sum->prediction.drift = !isnan(sum->prediction.pvalue) && sum->prediction.pvalue < d->opts.p_value;
        sum->has_prediction = 1;
    }
    return st;
}

mlops_status mlops_drift_report(const mlops_drift *d, mlops_drift_feature_result *features, size_t features_len,
                                mlops_drift_summary *summary) {
    MLOPS__CHECK_ARG("drift", d);
    if (features_len && !features) return mlops__fail(MLOPS_EINVAL, "drift_report: features buffer is NULL");
    size_t nf = d->x.nf;
    if (features_len < nf && (features || features_len))
        return mlops__fail(MLOPS_ESHAPE, "drift_report: buffer holds %zu results, %zu features", features_len,
                           nf);
    mlops_drift_feature_result *res = mlops__calloc(nf, sizeof *res);
    if (!res) return mlops__fail(MLOPS_ENOMEM, "drift_report: out of memory");
    mlops_drift_summary sum;
    pthread_mutex_lock(mlops__drift_lock(d));
    int ready = d->x.ready;
    size_t have = d->x.ref_rows, want = d->x.ref_cap;
    mlops_status st = ready ? mlops__drift_report_locked(d, res, &sum) : MLOPS_OK;
    pthread_mutex_unlock(mlops__drift_lock(d));
    if (!ready || st) {
        mlops__free(res);
        return st ? st
                  : mlops__fail(MLOPS_ESTATE, "drift_report: reference not complete (%zu of %zu rows)", have,
                                want);
    }
    if (features && features_len >= nf) memcpy(features, res, nf * sizeof *res);
    if (summary) *summary = sum;
    mlops__free(res);
    return MLOPS_OK;
}

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *mlops__drift_result_json(const char *name, const mlops_drift_feature_result *r) {
    json_t *o = json_object();
    if (name) json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "kind",
                        json_string(r->kind == MLOPS_FEATURE_CATEGORICAL ? "categorical" : "numeric"));
    json_object_set_new(o, "test", json_string(r->kind == MLOPS_FEATURE_CATEGORICAL ? "chi2" : "ks"));
    json_object_set_new(o, "statistic", jnum(r->statistic));
    json_object_set_new(o, "pvalue", jnum(r->pvalue));
    json_object_set_new(o, "pvalue_adjusted", jnum(r->pvalue_adjusted));
    json_object_set_new(o, "drift", json_boolean(r->drift));
    json_object_set_new(o, "n_reference", json_integer((json_int_t)r->n_reference));
    json_object_set_new(o, "n_current", json_integer((json_int_t)r->n_current));
    json_object_set_new(o, "n_missing", json_integer((json_int_t)r->n_missing));
    json_object_set_new(o, "missing_rate", jnum(r->missing_rate));
    return o;
}

json_t *mlops__drift_report_doc(const char *const *names, const mlops_drift_feature_result *res, size_t nf,
                                const mlops_drift_summary *sum, const mlops_drift_opts *o) {
    static const char *const corr[] = {"none", "bonferroni", "fdr"};
    json_t *root = json_object(), *arr = json_array();
    for (size_t i = 0; i < nf; i++)
        json_array_append_new(arr, mlops__drift_result_json(names[i], &res[i]));
    json_object_set_new(root, "features", arr);
    json_object_set_new(root, "n_features", json_integer((json_int_t)sum->n_features));
    json_object_set_new(root, "n_drifted", json_integer((json_int_t)sum->n_drifted));
    json_object_set_new(root, "drift_share", json_real(sum->drift_share));
    json_object_set_new(root, "dataset_drift", json_boolean(sum->dataset_drift));
    json_object_set_new(root, "mean_statistic", jnum(sum->mean_statistic));
    json_object_set_new(root, "correction", json_string(corr[o->correction]));
    json_object_set_new(root, "rule", json_string(o->rule == MLOPS_DRIFT_RULE_ANY ? "any" : "share"));
    json_object_set_new(root, "p_value", json_real(o->p_value));
    json_object_set_new(root, "n_rows", json_integer((json_int_t)sum->n_rows));
    json_object_set_new(root, "n_seen", json_integer((json_int_t)sum->n_seen));
    if (sum->has_prediction)
        json_object_set_new(root, "prediction", mlops__drift_result_json("prediction", &sum->prediction));
    return root;
}

char *mlops__drift_dump(json_t *root) {
    char *s = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(root);
    return mlops__strdup_take(s);
}

mlops_status mlops_drift_report_json(const mlops_drift *d, char **json) {
    MLOPS__CHECK_ARG("drift", json);
    size_t nf = mlops_drift_n_features(d);
    mlops_drift_feature_result *res = mlops__calloc(nf ? nf : 1, sizeof *res);
    if (!res) return mlops__fail(MLOPS_ENOMEM, "drift_report_json: out of memory");
    mlops_drift_summary sum;
    mlops_status st = mlops_drift_report(d, res, nf, &sum);
    if (st) {
        mlops__free(res);
        return st;
    }
    json_t *root = mlops__drift_report_doc((const char *const *)d->names, res, nf, &sum, &d->opts);
    mlops__free(res);
    char *copy = mlops__drift_dump(root);
    if (!copy) return mlops__fail(MLOPS_ENOMEM, "drift_report_json: out of memory");
    *json = copy;
    return MLOPS_OK;
}

mlops_status mlops_drift_statistic(const mlops_drift *d, size_t feature, double *statistic) {
    MLOPS__CHECK_ARG("drift", d);
    MLOPS__CHECK_ARG("drift", statistic);
    if (feature >= d->x.nf)
        return mlops__fail(MLOPS_ERANGE, "drift_statistic: feature %zu out of range (%zu features)", feature,
                           d->x.nf);
    pthread_mutex_lock(mlops__drift_lock(d));
    mlops_status st = MLOPS_OK;
    if (!d->x.ready)
        st = mlops__fail(MLOPS_ESTATE, "drift_statistic: reference not complete");
    else if (d->x.f[feature].kind != MLOPS_FEATURE_NUMERIC)
        st = mlops__fail(MLOPS_EINVAL, "drift_statistic: feature '%s' is categorical", d->names[feature]);
    else
        *statistic = feat_ks_stat(&d->x.f[feature]);
    pthread_mutex_unlock(mlops__drift_lock(d));
    return st;
}

size_t mlops_drift_feature_bytes(const mlops_drift *d, size_t i) {
    if (!d || i >= d->x.nf) return 0;
    pthread_mutex_lock(mlops__drift_lock(d));
    size_t b = feat_bytes(&d->x.f[i], d->x.ready ? d->x.ref_rows : d->x.ref_cap, d->x.W);
    pthread_mutex_unlock(mlops__drift_lock(d));
    return b;
}

/* ------------------------------------------------------------------------ */
/* persistence: binary, little-endian host layout, FNV-1a 64 checksum       */

#define DRIFT_MAGIC "MLOPSDRF"
#define DRIFT_FORMAT 2u /* 2 added the dataset-drift rule after the KS method; 1 is still read */

static void put_stream(buf *b, const stream *s) {
    put_u64(b, s->ready);
    put_u64(b, s->seen);
    put_u64(b, s->ref_rows);
    put(b, s->ref, s->ref_rows * s->nf * sizeof(double));
    put_u64(b, s->len);
    for (size_t r = 0; r < s->len; r++)
        put(b, s->win + ((s->head + r) % s->W) * s->nf, s->nf * sizeof(double));
}

mlops_status mlops_drift_save(const mlops_drift *d, const char *path) {
    MLOPS__CHECK_ARG("drift", d);
    MLOPS__CHECK_ARG("drift", path);
    buf b = {0};
    pthread_mutex_lock(mlops__drift_lock(d));
    put(&b, DRIFT_MAGIC, 8);
    put_u64(&b, DRIFT_FORMAT);
    put_u64(&b, d->opts.window);
    put_u64(&b, d->opts.reference_size);
    put_f64(&b, d->opts.p_value);
    put_f64(&b, d->opts.drift_share);
    put_u64(&b, (uint64_t)d->opts.correction);
    put_u64(&b, (uint64_t)d->opts.method);
    put_u64(&b, (uint64_t)d->opts.rule);
    put_u64(&b, d->x.nf);
    for (size_t i = 0; i < d->x.nf; i++) {
        size_t l = strlen(d->names[i]);
        put_u64(&b, l);
        put(&b, d->names[i], l);
        put_u64(&b, (uint64_t)d->kinds[i]);
    }
    put_stream(&b, &d->x);
    put_stream(&b, &d->pred);
    pthread_mutex_unlock(mlops__drift_lock(d));
    put_u64(&b, mlops__fnv1a64(b.p, b.len));
    if (b.oom) {
        mlops__free(b.p);
        return mlops__fail(MLOPS_ENOMEM, "drift_save: out of memory serializing the state");
    }
    mlops_status st = mlops__write_file_atomic(path, b.p, b.len);
    mlops__free(b.p);
    return st;
}

static mlops_status load_stream(mlops__reader *r, stream *s, const char *path) {
    uint64_t ready = mlops__read_u64(r), seen = mlops__read_u64(r), rows = mlops__read_u64(r);
    if (r->short_read || ready > 1 || rows > (r->len - r->off) / 8 / s->nf || (ready && rows == 0) ||
        (!ready && rows >= s->ref_cap && s->ref_cap))
        return mlops__fail(MLOPS_EFORMAT, "%s: malformed reference block", path);
    double *X = mlops__malloc((rows ? rows : 1) * s->nf * sizeof *X);
    if (!X) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", path);
    mlops__read_bytes(r, X, rows * s->nf * sizeof *X);
    uint64_t wl = mlops__read_u64(r);
    if (r->short_read || wl > s->W || wl > (r->len - r->off) / 8 / s->nf + 1) {
        mlops__free(X);
        return mlops__fail(MLOPS_EFORMAT, "%s: malformed window block", path);
    }
    mlops_status st = MLOPS_OK;
    if (ready) {
        /* features of a reference collected from the stream may be all-missing: build directly */
        feat *nf;
        st = build_feats(s, X, rows, &nf);
        if (!st) {
            double *keep = mlops__malloc(rows * s->nf * sizeof *keep);
            if (!keep) {
                free_feats(nf, s->nf);
                st = mlops__fail(MLOPS_ENOMEM, "%s: out of memory", path);
            } else {
                memcpy(keep, X, rows * s->nf * sizeof *keep);
                free_feats(s->f, s->nf);
                mlops__free(s->ref);
                s->f = nf;
                s->ref = keep;
                s->ref_rows = rows;
                if (rows > s->ref_cap) s->ref_cap = rows;
                s->ready = 1;
            }
        }
    } else {
        memcpy(s->ref, X, rows * s->nf * sizeof *X);
        s->ref_rows = rows;
    }
    mlops__free(X);
    if (st) return st;
    double *row = mlops__malloc(s->nf * sizeof *row);
    if (!row) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", path);
    for (uint64_t i = 0; i < wl && !st; i++) {
        mlops__read_bytes(r, row, s->nf * sizeof *row);
        if (r->short_read)
            st = mlops__fail(MLOPS_EFORMAT, "%s: truncated window", path);
        else if (!s->ready)
            st = mlops__fail(MLOPS_EFORMAT, "%s: window without a reference", path);
        else
            st = stream_push(s, row, 1);
    }
    mlops__free(row);
    s->seen = seen;
    return st;
}

mlops_status mlops_drift_load(const char *path, mlops_drift **out) {
    MLOPS__CHECK_ARG("drift", path);
    MLOPS__CHECK_ARG("drift", out);
    char *data;
    size_t len;
    mlops__remove_stale_temps_of(path); /* saves interrupted by a crash */
    mlops_status st = mlops__read_file(path, (size_t)1 << 34, &data, &len);
    if (st) return st;
    if (len < 16 || memcmp(data, DRIFT_MAGIC, 8) != 0) {
        mlops__free(data);
        return mlops__fail(MLOPS_EFORMAT, "%s: not a libmlops drift state file", path);
    }
    uint64_t sum;
    memcpy(&sum, data + len - 8, 8);
    if (mlops__fnv1a64((unsigned char *)data, len - 8) != sum) {
        mlops__free(data);
        return mlops__fail(MLOPS_EFORMAT, "%s: checksum mismatch (truncated or corrupted)", path);
    }
    mlops__reader r = {(unsigned char *)data + 8, len - 16, 0, 0};
    uint64_t fmt = mlops__read_u64(&r);
    if (fmt != 1u && fmt != DRIFT_FORMAT) {
        mlops__free(data);
        return mlops__fail(MLOPS_EVERSION, "%s: drift state format %llu, this library reads %u", path,
                           (unsigned long long)fmt, DRIFT_FORMAT);
    }
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    o.window = mlops__read_u64(&r);
    o.reference_size = mlops__read_u64(&r);
    mlops__read_bytes(&r, &o.p_value, 8);
    mlops__read_bytes(&r, &o.drift_share, 8);
    o.correction = (mlops_drift_correction)mlops__read_u64(&r);
    o.method = (mlops_drift_ks_method)mlops__read_u64(&r);
    if (fmt >= 2u) o.rule = (mlops_drift_rule)mlops__read_u64(&r);
    uint64_t nf = mlops__read_u64(&r);
    if (r.short_read || nf == 0 || nf > 100000 || check_opts(&o) != MLOPS_OK) {
        mlops__free(data);
        return mlops__fail(MLOPS_EFORMAT, "%s: malformed header", path);
    }
    char **names = mlops__calloc(nf, sizeof *names);
    mlops_feature_kind *kinds = mlops__calloc(nf, sizeof *kinds);
    mlops_drift *d = NULL;
    st = (!names || !kinds) ? mlops__fail(MLOPS_ENOMEM, "%s: out of memory", path) : MLOPS_OK;
    for (uint64_t i = 0; i < nf && !st; i++) {
        uint64_t l = mlops__read_u64(&r);
        if (r.short_read || l > r.len - r.off) {
            st = mlops__fail(MLOPS_EFORMAT, "%s: malformed feature name", path);
            break;
        }
        names[i] = mlops__malloc(l + 1);
        if (!names[i]) {
            st = mlops__fail(MLOPS_ENOMEM, "%s: out of memory", path);
            break;
        }
        mlops__read_bytes(&r, names[i], l);
        names[i][l] = 0;
        uint64_t k = mlops__read_u64(&r);
        if (r.short_read || k > 1) st = mlops__fail(MLOPS_EFORMAT, "%s: malformed feature kind", path);
        kinds[i] = (mlops_feature_kind)k;
    }
    if (!st) st = mlops_drift_create(nf, (const char *const *)names, kinds, &o, &d);
    if (!st) st = load_stream(&r, &d->x, path);
    if (!st) st = load_stream(&r, &d->pred, path);
    if (!st && (r.short_read || r.off != r.len))
        st = mlops__fail(MLOPS_EFORMAT, "%s: trailing or missing bytes", path);
    if (names)
        for (uint64_t i = 0; i < nf; i++)
            mlops__free(names[i]);
    mlops__free(names);
    mlops__free(kinds);
    mlops__free(data);
    if (st) {
        mlops_drift_free(d);
        return st;
    }
    *out = d;
    return MLOPS_OK;
}
