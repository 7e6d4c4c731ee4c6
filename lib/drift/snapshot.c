/* Mergeable snapshots of drift windows (see mlops/drift.h).
 *
 * A numeric feature's window is a count per slot of its reference (ranktree.h: slot 2k holds
 * values equal to u[k-1], slot 2k + 1 values strictly between u[k-1] and u[k]). Detectors with
 * the same reference number their slots alike, so the windows of a fleet merge by adding counts,
 * and the statistic of the merged counts is computed with the same doubles SciPy computes on the
 * concatenated windows: fl(fl(i / R) - fl(j / C)) at every pooled value, where only the pairs of
 * occupied slots can reach an extreme. Categorical features merge their counts per category.
 *
 * Buffer layout (host little-endian, as the detector's state file):
 *   "MLOPSSNP" u64 format | f64 p_value f64 drift_share u64 correction u64 method
 *   u64 nf u64 rows u64 seen u64 digest
 *   per feature: u64 name_len, name | u64 kind u64 ref_missing u64 missing u64 C u64 K
 *                K x f64 value, K x u64 reference count
 *                numeric: u64 n, n x (u64 slot, u64 count); categorical: K x u64 window count
 *   u64 FNV-1a of everything before.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drift/drift_internal.h"
#include "drift/ks_internal.h"
#include "internal.h"
#include "mlops/drift.h"

#define SNAP_MAGIC "MLOPSSNP"
#define SNAP_FORMAT 1u
#define SNAP_MAX_FEATURES 100000u
#define SNAP_MAX_COUNT ((uint64_t)1 << 40) /* values per feature in a (merged) window or reference */

typedef struct snap_feat {
    char *name;
    int kind;
    size_t ref_missing, missing, C; /* missing and non-missing values in the window */
    size_t K;                       /* distinct reference values (categorical: categories seen anywhere) */
    double *v;                      /* K values, increasing */
    size_t *cref;                   /* K reference counts (categorical: 0 for a category only the window has) */
    size_t *cur;                    /* numeric: 2K + 2 counts per slot; categorical: K counts */
} snap_feat;

struct mlops_drift_snapshot {
    mlops_drift_opts opts;
    size_t nf, rows, seen;
    uint64_t digest;
    snap_feat *f;
};

static size_t cur_len(const snap_feat *f) { return f->kind == MLOPS_FEATURE_NUMERIC ? 2 * f->K + 2 : f->K; }

static void feat_free(snap_feat *f) {
    mlops__free(f->name);
    mlops__free(f->v);
    mlops__free(f->cref);
    mlops__free(f->cur);
}

void mlops_drift_snapshot_free(mlops_drift_snapshot *snap) {
    if (!snap) return;
    for (size_t i = 0; snap->f && i < snap->nf; i++)
        feat_free(&snap->f[i]);
    mlops__free(snap->f);
    mlops__free(snap);
}

/* Arrays for K values; 0 or -1 when out of memory. */
static int feat_alloc(snap_feat *f, size_t K) {
    f->K = K;
    f->v = mlops__malloc((K ? K : 1) * sizeof *f->v);
    f->cref = mlops__calloc(K ? K : 1, sizeof *f->cref);
    f->cur = mlops__calloc(cur_len(f) ? cur_len(f) : 1, sizeof *f->cur);
    return f->v && f->cref && f->cur ? 0 : -1;
}

/* What names a feature and its reference's missing count (in the digest and the buffer). */
static void put_identity(buf *b, const snap_feat *f) {
    size_t l = strlen(f->name);
    put_u64(b, l);
    put(b, f->name, l);
    put_u64(b, (uint64_t)f->kind);
    put_u64(b, f->ref_missing);
}

/* The reference digest: names, kinds, missing counts and the (value, count) pairs with a count. */
static uint64_t snap_digest(const mlops_drift_snapshot *s, int *oom) {
    buf b = {0};
    put_u64(&b, s->nf);
    for (size_t i = 0; i < s->nf; i++) {
        const snap_feat *f = &s->f[i];
        put_identity(&b, f);
        for (size_t k = 0; k < f->K; k++) {
            if (!f->cref[k]) continue;
            put_f64(&b, f->v[k]);
            put_u64(&b, f->cref[k]);
        }
    }
    uint64_t h = b.oom ? 0 : mlops__fnv1a64(b.p, b.len);
    *oom = b.oom;
    mlops__free(b.p);
    return h;
}

/* ---- from a detector ------------------------------------------------------------------------ */

/* One feature's counts, with the detector's lock held. */
static int feat_from(snap_feat *o, const feat *f, const char *name) {
    o->kind = f->kind;
    o->ref_missing = f->ref_missing;
    o->missing = f->missing;
    o->C = f->C;
    o->name = mlops__strdup(name);
    size_t K = f->kind == MLOPS_FEATURE_NUMERIC ? (f->R ? f->rt.K : 0) : f->ncat;
    if (!o->name || feat_alloc(o, K)) return -1;
    if (f->kind == MLOPS_FEATURE_CATEGORICAL) {
        memcpy(o->v, f->cats, K * sizeof *o->v);
        memcpy(o->cref, f->cref, K * sizeof *o->cref);
        memcpy(o->cur, f->ccur, K * sizeof *o->cur);
        return 0;
    }
    for (size_t k = 0; k < K; k++) {
        o->v[k] = f->rt.u[k];
        /* fr = fl(i / R) with i, R < 2^31: fr * R is within 2^-21 of the integer i */
        double lo = f->rt.rec[k].fr * (double)f->R, hi = f->rt.rec[k + 1].fr * (double)f->R;
        o->cref[k] = (size_t)llround(hi) - (size_t)llround(lo);
    }
    for (size_t s = 1; K && s < 2 * K + 2; s++)
        o->cur[s] = f->rt.rec[s >> 1].cnt[s & 1];
    return 0;
}

mlops_status mlops_drift_snapshot_create(const mlops_drift *d, mlops_drift_snapshot **out) {
    MLOPS__CHECK_ARG("drift", d);
    MLOPS__CHECK_ARG("drift", out);
    mlops_drift_snapshot *s = mlops__calloc(1, sizeof *s);
    if (!s) return mlops__fail(MLOPS_ENOMEM, "drift_snapshot_create: out of memory");
    pthread_mutex_lock(mlops__drift_lock(d));
    s->opts = d->opts;
    s->nf = d->x.nf;
    s->rows = d->x.len;
    s->seen = d->x.seen;
    int ready = d->x.ready, oom = 0;
    s->f = ready ? mlops__calloc(s->nf, sizeof *s->f) : NULL;
    oom = ready && !s->f;
    for (size_t i = 0; ready && !oom && i < s->nf; i++)
        oom = feat_from(&s->f[i], &d->x.f[i], d->names[i]) != 0;
    pthread_mutex_unlock(mlops__drift_lock(d));
    if (!ready || oom) {
        if (!ready) s->nf = 0;
        mlops_drift_snapshot_free(s);
        return ready ? mlops__fail(MLOPS_ENOMEM, "drift_snapshot_create: out of memory")
                     : mlops__fail(MLOPS_ESTATE, "drift_snapshot_create: reference not complete");
    }
    s->digest = snap_digest(s, &oom);
    if (oom) {
        mlops_drift_snapshot_free(s);
        return mlops__fail(MLOPS_ENOMEM, "drift_snapshot_create: out of memory");
    }
    *out = s;
    return MLOPS_OK;
}

/* ---- serialization -------------------------------------------------------------------------- */

mlops_status mlops_drift_snapshot_save_buffer(const mlops_drift_snapshot *s, void **data, size_t *len) {
    MLOPS__CHECK_ARG("drift", s);
    MLOPS__CHECK_ARG("drift", data);
    MLOPS__CHECK_ARG("drift", len);
    buf b = {0};
    put(&b, SNAP_MAGIC, 8);
    put_u64(&b, SNAP_FORMAT);
    put_f64(&b, s->opts.p_value);
    put_f64(&b, s->opts.drift_share);
    put_u64(&b, (uint64_t)s->opts.correction);
    put_u64(&b, (uint64_t)s->opts.method);
    put_u64(&b, s->nf);
    put_u64(&b, s->rows);
    put_u64(&b, s->seen);
    put_u64(&b, s->digest);
    for (size_t i = 0; i < s->nf; i++) {
        const snap_feat *f = &s->f[i];
        put_identity(&b, f);
        put_u64(&b, f->missing);
        put_u64(&b, f->C);
        put_u64(&b, f->K);
        put(&b, f->v, f->K * sizeof *f->v);
        for (size_t k = 0; k < f->K; k++)
            put_u64(&b, f->cref[k]);
        if (f->kind == MLOPS_FEATURE_CATEGORICAL) {
            for (size_t k = 0; k < f->K; k++)
                put_u64(&b, f->cur[k]);
            continue;
        }
        size_t n = 0;
        for (size_t k = 0; k < cur_len(f); k++)
            n += f->cur[k] != 0;
        put_u64(&b, n);
        for (size_t k = 0; k < cur_len(f); k++)
            if (f->cur[k]) {
                put_u64(&b, k);
                put_u64(&b, f->cur[k]);
            }
    }
    put_u64(&b, b.oom ? 0 : mlops__fnv1a64(b.p, b.len));
    if (b.oom) {
        mlops__free(b.p);
        return mlops__fail(MLOPS_ENOMEM, "drift_snapshot_save_buffer: out of memory");
    }
    *data = b.p;
    *len = b.len;
    return MLOPS_OK;
}

#define BAD(...) mlops__fail(MLOPS_EFORMAT, "drift snapshot: " __VA_ARGS__)

/* Reference values and counts of one feature: increasing, finite-or-infinite, counts in range. */
static mlops_status load_reference(mlops__reader *r, snap_feat *f, size_t i) {
    uint64_t R = 0;
    for (size_t k = 0; k < f->K; k++)
        f->v[k] = mlops__read_f64(r);
    for (size_t k = 0; k < f->K; k++) {
        uint64_t c = mlops__read_u64(r);
        if (r->short_read) return BAD("feature %zu: truncated reference", i);
        if (isnan(f->v[k]) || (k && !(f->v[k] > f->v[k - 1])))
            return BAD("feature %zu: reference values are not increasing", i);
        if (f->kind == MLOPS_FEATURE_CATEGORICAL && (!isfinite(f->v[k]) || f->v[k] != floor(f->v[k])))
            return BAD("feature %zu: category %g is not an integer code", i, f->v[k]);
        if ((f->kind == MLOPS_FEATURE_NUMERIC && c == 0) || c > SNAP_MAX_COUNT - R)
            return BAD("feature %zu: reference count %llu out of range", i, (unsigned long long)c);
        if (f->kind == MLOPS_FEATURE_NUMERIC && R + c > ((uint64_t)1 << 31))
            return BAD("feature %zu: reference exceeds 2^31 values", i);
        R += c;
        f->cref[k] = (size_t)c;
    }
    return MLOPS_OK;
}

/* Window counts of one feature; they must add up to C. */
static mlops_status load_window(mlops__reader *r, snap_feat *f, size_t i) {
    uint64_t total = 0, n = f->kind == MLOPS_FEATURE_NUMERIC ? mlops__read_u64(r) : f->K;
    if (r->short_read || n > cur_len(f) || n > (r->len - r->off) / 8 || (f->K == 0 && n))
        return BAD("feature %zu: malformed window counts", i);
    uint64_t prev = 0;
    for (uint64_t k = 0; k < n; k++) {
        uint64_t slot = f->kind == MLOPS_FEATURE_NUMERIC ? mlops__read_u64(r) : k;
        uint64_t c = mlops__read_u64(r);
        if (r->short_read) return BAD("feature %zu: truncated window counts", i);
        int bad_slot = f->kind == MLOPS_FEATURE_NUMERIC && (slot == 0 || slot <= prev || slot >= cur_len(f) ||
                                                           c == 0);
        if (bad_slot || c > SNAP_MAX_COUNT - total)
            return BAD("feature %zu: window slot %llu or count %llu out of range", i, (unsigned long long)slot,
                       (unsigned long long)c);
        prev = slot;
        total += c;
        f->cur[slot] = (size_t)c;
    }
    if (total != f->C && (f->K > 0 || f->kind == MLOPS_FEATURE_CATEGORICAL))
        return BAD("feature %zu: window counts add up to %llu, not %zu", i, (unsigned long long)total, f->C);
    return MLOPS_OK;
}

static mlops_status load_feature(mlops__reader *r, snap_feat *f, size_t i, uint64_t rows) {
    uint64_t l = mlops__read_u64(r);
    if (r->short_read || l > r->len - r->off || l > 4096) return BAD("feature %zu: malformed name", i);
    f->name = mlops__malloc(l + 1);
    if (!f->name) return mlops__fail(MLOPS_ENOMEM, "drift snapshot: out of memory");
    mlops__read_bytes(r, f->name, l);
    f->name[l] = 0;
    if (strlen(f->name) != l) return BAD("feature %zu: name holds a NUL byte", i);
    uint64_t kind = mlops__read_u64(r), rmiss = mlops__read_u64(r), miss = mlops__read_u64(r);
    uint64_t C = mlops__read_u64(r), K = mlops__read_u64(r);
    if (r->short_read || kind > 1 || rmiss > SNAP_MAX_COUNT || C > SNAP_MAX_COUNT || miss > rows ||
        C != rows - miss || K > (r->len - r->off) / 16)
        return BAD("feature %zu: malformed header", i);
    f->kind = (int)kind;
    f->ref_missing = (size_t)rmiss;
    f->missing = (size_t)miss;
    f->C = (size_t)C;
    if (feat_alloc(f, (size_t)K)) return mlops__fail(MLOPS_ENOMEM, "drift snapshot: out of memory");
    mlops_status st = load_reference(r, f, i);
    return st ? st : load_window(r, f, i);
}

/* Header fields after the magic and the format; the features are read by the caller. */
static mlops_status load_header(mlops__reader *r, mlops_drift_snapshot *s) {
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    o.p_value = mlops__read_f64(r);
    o.drift_share = mlops__read_f64(r);
    uint64_t corr = mlops__read_u64(r), method = mlops__read_u64(r), nf = mlops__read_u64(r);
    uint64_t rows = mlops__read_u64(r), seen = mlops__read_u64(r);
    s->digest = mlops__read_u64(r);
    if (r->short_read || corr > 2 || method > 2 || !(o.p_value > 0 && o.p_value < 1) ||
        !(o.drift_share > 0 && o.drift_share <= 1) || nf == 0 || nf > SNAP_MAX_FEATURES ||
        nf > (r->len - r->off) / 48 || rows > SNAP_MAX_COUNT || seen > UINT64_MAX / 2)
        return BAD("malformed header");
    o.correction = (mlops_drift_correction)corr;
    o.method = (mlops_drift_ks_method)method;
    s->opts = o;
    s->rows = (size_t)rows;
    s->seen = (size_t)seen;
    s->f = mlops__calloc(nf, sizeof *s->f);
    if (!s->f) return mlops__fail(MLOPS_ENOMEM, "drift snapshot: out of memory");
    s->nf = (size_t)nf;
    return MLOPS_OK;
}

mlops_status mlops_drift_snapshot_load_buffer(const void *data, size_t len, mlops_drift_snapshot **out) {
    MLOPS__CHECK_ARG("drift", data);
    MLOPS__CHECK_ARG("drift", out);
    const unsigned char *p = data;
    if (len < 24 || memcmp(p, SNAP_MAGIC, 8) != 0)
        return mlops__fail(MLOPS_EFORMAT, "drift snapshot: not a libmlops drift snapshot");
    uint64_t sum;
    memcpy(&sum, p + len - 8, 8);
    if (mlops__fnv1a64(p, len - 8) != sum)
        return mlops__fail(MLOPS_EFORMAT, "drift snapshot: checksum mismatch (truncated or corrupted)");
    mlops__reader r = {p + 8, len - 16, 0, 0};
    uint64_t fmt = mlops__read_u64(&r);
    if (fmt != SNAP_FORMAT)
        return mlops__fail(MLOPS_EVERSION, "drift snapshot: format %llu, this library reads %u",
                           (unsigned long long)fmt, SNAP_FORMAT);
    mlops_drift_snapshot *s = mlops__calloc(1, sizeof *s);
    if (!s) return mlops__fail(MLOPS_ENOMEM, "drift snapshot: out of memory");
    mlops_status st = load_header(&r, s);
    for (size_t i = 0; !st && i < s->nf; i++)
        st = load_feature(&r, &s->f[i], i, s->rows);
    if (!st && r.off != r.len) st = BAD("%zu trailing bytes", r.len - r.off);
    int oom = 0;
    if (!st && snap_digest(s, &oom) != s->digest)
        st = oom ? mlops__fail(MLOPS_ENOMEM, "drift snapshot: out of memory")
                 : BAD("the reference digest does not match the reference");
    if (st) {
        mlops_drift_snapshot_free(s);
        return st;
    }
    *out = s;
    return MLOPS_OK;
}

/* ---- merge ---------------------------------------------------------------------------------- */

/* Categorical: the union of two sorted category lists with their counts, into `o` (fresh). */
static int merge_categories(snap_feat *o, const snap_feat *a, const snap_feat *b) {
    size_t n = 0, i = 0, j = 0;
    while (i < a->K || j < b->K) {
        int take_a = j == b->K || (i < a->K && a->v[i] <= b->v[j]);
        int both = i < a->K && j < b->K && a->v[i] == b->v[j];
        i += take_a || both;
        j += !take_a || both;
        n++;
    }
    o->kind = a->kind;
    if (feat_alloc(o, n)) return -1;
    n = i = j = 0;
    while (i < a->K || j < b->K) {
        int take_a = j == b->K || (i < a->K && a->v[i] <= b->v[j]);
        int both = i < a->K && j < b->K && a->v[i] == b->v[j];
        o->v[n] = take_a ? a->v[i] : b->v[j];
        o->cref[n] = take_a ? a->cref[i] : b->cref[j]; /* equal references: equal counts */
        o->cur[n] = (take_a ? a->cur[i] : 0) + (!take_a || both ? b->cur[j] : 0);
        i += take_a || both;
        j += !take_a || both;
        n++;
    }
    return 0;
}

/* The merged counts of one feature into `o` (fresh); a and b have the same reference. */
static int merge_feature(snap_feat *o, const snap_feat *a, const snap_feat *b) {
    if (a->kind == MLOPS_FEATURE_CATEGORICAL) {
        if (merge_categories(o, a, b)) return -1;
    } else {
        o->kind = a->kind;
        if (feat_alloc(o, a->K)) return -1;
        memcpy(o->v, a->v, a->K * sizeof *o->v);
        memcpy(o->cref, a->cref, a->K * sizeof *o->cref);
        for (size_t k = 0; k < cur_len(a); k++)
            o->cur[k] = a->cur[k] + b->cur[k];
    }
    o->name = mlops__strdup(a->name);
    o->ref_missing = a->ref_missing;
    o->missing = a->missing + b->missing;
    o->C = a->C + b->C;
    return o->name ? 0 : -1;
}

mlops_status mlops_drift_snapshot_merge(mlops_drift_snapshot *into, const mlops_drift_snapshot *other) {
    MLOPS__CHECK_ARG("drift", into);
    MLOPS__CHECK_ARG("drift", other);
    if (into->digest != other->digest || into->nf != other->nf)
        return mlops__fail(MLOPS_EINVAL,
                           "drift_snapshot_merge: the snapshots have different references (digest "
                           "%016llx, %016llx): only windows over one reference merge",
                           (unsigned long long)into->digest, (unsigned long long)other->digest);
    if (into->rows > SNAP_MAX_COUNT - other->rows)
        return mlops__fail(MLOPS_ELIMIT, "drift_snapshot_merge: merged window exceeds 2^40 rows");
    if (into == other) return mlops__fail(MLOPS_EINVAL, "drift_snapshot_merge: a snapshot merged with itself");
    snap_feat *nf = mlops__calloc(into->nf, sizeof *nf);
    int oom = !nf;
    for (size_t i = 0; !oom && i < into->nf; i++)
        oom = merge_feature(&nf[i], &into->f[i], &other->f[i]) != 0;
    if (oom) {
        for (size_t i = 0; nf && i < into->nf; i++)
            feat_free(&nf[i]);
        mlops__free(nf);
        return mlops__fail(MLOPS_ENOMEM, "drift_snapshot_merge: out of memory");
    }
    for (size_t i = 0; i < into->nf; i++)
        feat_free(&into->f[i]);
    mlops__free(into->f);
    into->f = nf;
    into->rows += other->rows;
    into->seen += other->seen;
    return MLOPS_OK;
}

/* ---- report --------------------------------------------------------------------------------- */

/* max and min over pooled values of fl(fl(i / R) - fl(j / C)), visiting the occupied slots in order
 * as mlops__ranktree_extremes() does (the pairs before and after each slot's window values). */
static void numeric_extremes(const snap_feat *f, size_t R, double *max_s, double *min_s) {
    double mx = 0.0, mn = 0.0, C = (double)f->C, fr_prev = 0.0, fr = 0.0;
    size_t i = 0, j = 0;
    for (size_t s = 1; s < cur_len(f); s++) {
        if (!(s & 1)) { /* entering record s / 2: #reference <= u[s/2 - 1] */
            fr_prev = fr;
            i += f->cref[s / 2 - 1];
            fr = (double)i / (double)R;
        }
        if (!f->cur[s]) continue;
        double below = (s & 1) ? fr : fr_prev; /* #reference < the slot's values */
        double a = below - (double)j / C;
        j += f->cur[s];
        double c = fr - (double)j / C;
        mx = a > mx ? a : mx;
        mn = c < mn ? c : mn;
    }
    *max_s = mx;
    *min_s = mn;
}

static mlops_status feature_result(const snap_feat *f, const mlops_drift_opts *o, size_t rows,
                                   mlops_drift_feature_result *r) {
    memset(r, 0, sizeof *r);
    size_t R = 0;
    for (size_t k = 0; k < f->K; k++)
        R += f->cref[k];
    r->kind = f->kind;
    r->n_reference = R;
    r->n_current = f->C;
    r->n_missing = f->missing;
    r->missing_rate = rows ? (double)f->missing / (double)rows : 0.0;
    r->statistic = r->pvalue = NAN;
    if (f->kind == MLOPS_FEATURE_CATEGORICAL) {
        mlops__drift_chi2(f->cref, f->cur, f->K, &r->statistic, &r->pvalue);
    } else if (R > 0 && f->C > 0) {
        double mx, mn, d, p;
        numeric_extremes(f, R, &mx, &mn);
        double stat = mlops__ks_pick(mx, mn, MLOPS_DRIFT_KS_TWO_SIDED);
        mlops_status st =
            mlops__ks_pvalue_raw(stat, R, f->C, MLOPS_DRIFT_KS_TWO_SIDED, o->method, &d, &p, NULL);
        if (st) return st; /* out of memory */
        r->statistic = d;  /* the exact path reports the statistic rounded to a multiple of 1/lcm */
        r->pvalue = p;
    }
    r->pvalue_adjusted = r->pvalue;
    return MLOPS_OK;
}

mlops_status mlops_drift_snapshot_report(const mlops_drift_snapshot *s, mlops_drift_feature_result *features,
                                         size_t features_len, mlops_drift_summary *summary) {
    MLOPS__CHECK_ARG("drift", s);
    MLOPS__CHECK_BUF("drift", features, features_len);
    if (features && features_len < s->nf)
        return mlops__fail(MLOPS_ESHAPE, "drift_snapshot_report: buffer holds %zu results, %zu features",
                           features_len, s->nf);
    mlops_drift_feature_result *res = mlops__calloc(s->nf, sizeof *res);
    if (!res) return mlops__fail(MLOPS_ENOMEM, "drift_snapshot_report: out of memory");
    mlops_status st = MLOPS_OK;
    for (size_t i = 0; i < s->nf && !st; i++)
        st = feature_result(&s->f[i], &s->opts, s->rows, &res[i]);
    if (st) {
        mlops__free(res);
        return st;
    }
    mlops__drift_correct(res, s->nf, s->opts.correction, s->opts.p_value);
    mlops_drift_summary sum;
    mlops__drift_summarize(res, s->nf, &s->opts, &sum);
    sum.reference_ready = 1;
    sum.n_rows = s->rows;
    sum.n_seen = s->seen;
    if (features) memcpy(features, res, s->nf * sizeof *res);
    if (summary) *summary = sum;
    mlops__free(res);
    return MLOPS_OK;
}

mlops_status mlops_drift_snapshot_report_json(const mlops_drift_snapshot *s, char **json) {
    MLOPS__CHECK_ARG("drift", s);
    MLOPS__CHECK_ARG("drift", json);
    mlops_drift_feature_result *res = mlops__calloc(s->nf, sizeof *res);
    const char **names = mlops__calloc(s->nf, sizeof *names);
    mlops_drift_summary sum;
    mlops_status st = !res || !names ? mlops__fail(MLOPS_ENOMEM, "drift_snapshot_report_json: out of memory")
                                     : mlops_drift_snapshot_report(s, res, s->nf, &sum);
    char *text = NULL;
    if (!st) {
        for (size_t i = 0; i < s->nf; i++)
            names[i] = s->f[i].name;
        json_t *doc = mlops__drift_report_doc(names, res, s->nf, &sum, &s->opts);
        if (doc) json_object_set_new(doc, "reference_digest", json_sprintf("%016llx", (unsigned long long)s->digest));
        text = mlops__drift_dump(doc);
        if (!text) st = mlops__fail(MLOPS_ENOMEM, "drift_snapshot_report_json: out of memory");
    }
    mlops__free(res);
    mlops__free(names);
    if (!st) *json = text;
    return st;
}

size_t mlops_drift_snapshot_n_features(const mlops_drift_snapshot *s) { return s ? s->nf : 0; }

const char *mlops_drift_snapshot_feature_name(const mlops_drift_snapshot *s, size_t i) {
    return s && i < s->nf ? s->f[i].name : NULL;
}

mlops_status mlops_drift_snapshot_get_digest(const mlops_drift_snapshot *s, uint64_t *digest) {
    MLOPS__CHECK_ARG("drift", s);
    MLOPS__CHECK_ARG("drift", digest);
    *digest = s->digest;
    return MLOPS_OK;
}
