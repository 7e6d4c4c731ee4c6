/* The rank tree behind the streaming KS statistic (see ranktree.h).
 *
 * Layout: the K + 1 leaves in blocks of 4 ({max[4], min[4]}, int64), and a
 * binary tree over the blocks stored as an array (node 1 the root, node nb + b
 * above block b), each node {max, min, pending}: its max/min are the extremes
 * of its children plus its own pending add. A suffix add updates one leaf block
 * branch-free, then walks from the block's node to the root: where the path is
 * a left child, the right sibling lies wholly in the suffix and takes the add as
 * a pending add; every node on the path is recomputed from its two children.
 * No recursion and no push-down; about 14 small steps at K = 10^4.
 *
 * The window size C enters every leaf as i(k) * C. The stored values are kept
 * for tree_C; a report for another C finds the exact extremes by branch and
 * bound (a node's values move by delta * i(k), and i(k) is monotone over its
 * leaves), and re-bases all leaves in O(K) only when that search would cost
 * more (while the window fills, or after many missing values).
 */
#include "drift/ranktree.h"

#include <limits.h>
#include <math.h>
#include <string.h>

#include "internal.h"

#define RT_B 4 /* leaves per leaf block; maxb/minb are written out for 4 */
#define RT_NEG (-((int64_t)1 << 62))
#define RT_POS ((int64_t)1 << 62)
#define RT_UBLK 16 /* values of u per block of the search index */
#define RT_TIES 64 /* tied leaves examined for the double value of an extreme */

typedef struct mlops__rtnode rtnode;

static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t maxb(const int64_t *a) { return max64(max64(a[0], a[1]), max64(a[2], a[3])); }
static inline int64_t minb(const int64_t *a) { return min64(min64(a[0], a[1]), min64(a[2], a[3])); }

static size_t nleafblocks(const mlops__ranktree *t) { return (t->n0 + RT_B - 1) / RT_B; }

/* Recompute the binary tree from the leaves (pending adds kept). */
static void rt_recompute(mlops__ranktree *t) {
    size_t nlb = nleafblocks(t);
    for (size_t b = 0; b < nlb; b++) {
        rtnode *x = &t->bin[t->nb + b];
        x->mx = maxb(t->leaf + b * 2 * RT_B) + x->lz;
        x->mn = minb(t->leaf + b * 2 * RT_B + RT_B) + x->lz;
    }
    for (size_t i = t->nb - 1; i >= 1; i--) {
        rtnode *x = &t->bin[i];
        x->mx = max64(t->bin[2 * i].mx, t->bin[2 * i + 1].mx) + x->lz;
        x->mn = min64(t->bin[2 * i].mn, t->bin[2 * i + 1].mn) + x->lz;
    }
}

mlops_status mlops__ranktree_init(mlops__ranktree *t, const double *s, size_t R, size_t W) {
    if (R == 0) return mlops__fail(MLOPS_EINVAL, "drift: empty reference");
    if (R > ((size_t)1 << 31) || W > ((size_t)1 << 31) || (uint64_t)R * (uint64_t)W > ((uint64_t)1 << 60))
        return mlops__fail(MLOPS_ELIMIT, "drift: reference of %zu values with a window of %zu exceeds 2^60",
                           R, W);
    mlops__ranktree n;
    memset(&n, 0, sizeof n);
    size_t K = 0;
    for (size_t i = 0; i < R; i++)
        if (i == 0 || s[i] != s[i - 1]) K++;
    n.K = K;
    n.R = (int64_t)R;
    n.nblk = (K + RT_UBLK - 1) / RT_UBLK;
    n.n0 = K + 1;
    size_t nlb = nleafblocks(&n);
    n.nb = 2;
    n.H = 1;
    while (n.nb < nlb) {
        n.nb *= 2;
        n.H++;
    }
    n.u = mlops__malloc(n.nblk * RT_UBLK * sizeof *n.u);
    size_t len = n.nblk; /* entries of the level being indexed, in blocks of 16 */
    size_t total = 0;
    n.slen[0] = K;
    while (len > 1) {
        n.slev++;
        n.slen[n.slev] = len;
        n.soff[n.slev] = total;
        len = (len + RT_UBLK - 1) / RT_UBLK;
        total += len * RT_UBLK;
    }
    n.soff[n.slev + 1] = total;
    n.sidx = mlops__malloc((total ? total : 1) * sizeof *n.sidx);
    n.ileaf = mlops__malloc((K + 1) * sizeof *n.ileaf);
    n.leaf = mlops__malloc(nlb * 2 * RT_B * sizeof *n.leaf);
    n.bin = mlops__calloc(2 * n.nb, sizeof *n.bin);
    if (!n.u || !n.sidx || !n.ileaf || !n.leaf || !n.bin) {
        mlops__ranktree_free(&n);
        return mlops__fail(MLOPS_ENOMEM, "drift: out of memory for a reference of %zu values", R);
    }
    size_t k = 0;
    n.ileaf[0] = 0;
    for (size_t i = 0; i < R; i++) {
        if (i > 0 && s[i] == s[i - 1]) {
            n.ileaf[k]++;
            continue;
        }
        n.u[k] = s[i];
        n.ileaf[k + 1] = (int64_t)(i + 1);
        k++;
    }
    for (size_t i = K; i < n.nblk * RT_UBLK; i++)
        n.u[i] = NAN;
    /* index levels: level l holds every 16th entry of level l - 1 (level 0 = u), padded with NaN */
    for (int l = 1; l <= n.slev; l++) {
        const double *below = l == 1 ? n.u : n.sidx + n.soff[l - 1];
        double *lev = n.sidx + n.soff[l];
        for (size_t j = 0; j < n.slen[l]; j++)
            lev[j] = below[j * RT_UBLK];
        for (size_t j = n.slen[l]; j < n.soff[l + 1] - n.soff[l]; j++)
            lev[j] = NAN;
    }
    for (size_t b = 0; b < nlb; b++)
        for (size_t p = 0; p < RT_B; p++) {
            int valid = b * RT_B + p < n.n0;
            n.leaf[b * 2 * RT_B + p] = valid ? 0 : RT_NEG;
            n.leaf[b * 2 * RT_B + RT_B + p] = valid ? 0 : RT_POS;
        }
    for (size_t b = nlb; b < n.nb; b++) { /* binary leaves without a leaf block */
        n.bin[n.nb + b].mx = RT_NEG;
        n.bin[n.nb + b].mn = RT_POS;
    }
    n.tree_C = 0;
    rt_recompute(&n);
    *t = n;
    return MLOPS_OK;
}

void mlops__ranktree_free(mlops__ranktree *t) {
    mlops__free(t->u);
    mlops__free(t->sidx);
    mlops__free(t->ileaf);
    mlops__free(t->leaf);
    mlops__free(t->bin);
    memset(t, 0, sizeof *t);
}

size_t mlops__ranktree_bytes(const mlops__ranktree *t) {
    if (!t->u) return 0;
    return t->nblk * RT_UBLK * sizeof *t->u + t->soff[t->slev + 1] * sizeof *t->sidx +
           (t->K + 1) * sizeof *t->ileaf + nleafblocks(t) * 2 * RT_B * sizeof *t->leaf +
           2 * t->nb * sizeof *t->bin;
}

/* Entries <= c among 16 doubles (NaN padding never counts): two-lane vector
 * compares with two accumulators, so no serial chain of scalar compares. */
typedef double rt_v2d __attribute__((vector_size(16)));
typedef int64_t rt_v2i __attribute__((vector_size(16)));

static inline size_t count16(const double *u, double c) {
    rt_v2d cv = {c, c};
    rt_v2i a0 = {0, 0}, a1 = {0, 0};
    for (size_t k = 0; k < RT_UBLK; k += 4) {
        rt_v2d x0, x1;
        memcpy(&x0, u + k, sizeof x0);
        memcpy(&x1, u + k + 2, sizeof x1);
        a0 -= (rt_v2i)(x0 <= cv); /* lanes are -1 where true */
        a1 -= (rt_v2i)(x1 <= cv);
    }
    a0 += a1;
    return (size_t)(a0[0] + a0[1]);
}

uint32_t mlops__ranktree_slot(const mlops__ranktree *t, double c) {
    /* q = #u <= c, down the 16-ary index: each level counts the entries <= c in one block
     * of 16 and picks the child block */
    size_t idx = 0;
    for (int l = t->slev; l >= 1; l--) {
        size_t cnt = count16(t->sidx + t->soff[l] + idx * RT_UBLK, c);
        if (cnt == 0) return 1; /* below every reference value: q = 0, not equal */
        idx = idx * RT_UBLK + cnt - 1;
    }
    size_t q = idx * RT_UBLK + count16(t->u + idx * RT_UBLK, c);
    uint32_t ne = !(q > 0 && t->u[q - 1] == c);
    return (uint32_t)(2 * q) + ne;
}

/* Add v to the min of leaves >= q and to the max of leaves >= q + ne within q's leaf block. */
static void leaf_add(mlops__ranktree *t, size_t q, size_t ne, int64_t v) {
    size_t b = q / RT_B, pos = q % RT_B;
    int64_t *blk = t->leaf + b * 2 * RT_B;
    size_t end = t->n0 - b * RT_B;
    for (size_t p = 0; p < RT_B; p++) { /* branch-free: the position is data-dependent */
        int64_t in = v & -(int64_t)(p < end);
        blk[RT_B + p] += in & -(int64_t)(p >= pos);
        blk[p] += in & -(int64_t)(p >= pos + ne);
    }
}

/* Recompute node nb + b from its leaf block, then take `steps` steps up: the right
 * sibling of a left child lies wholly in the suffix and takes v as a pending add.
 * The path's values stay in registers: per level only max/min and the pending add
 * are chained. Returns the last node computed. */
static size_t walk_up(mlops__ranktree *t, size_t b, int64_t v, int steps) {
    rtnode *bin = t->bin;
    const int64_t *blk = t->leaf + b * 2 * RT_B;
    size_t i = t->nb + b;
    int64_t mx = maxb(blk) + bin[i].lz, mn = minb(blk + RT_B) + bin[i].lz;
    bin[i].mx = mx;
    bin[i].mn = mn;
    for (; steps > 0; steps--) {
        rtnode *sib = &bin[i ^ 1];
        int64_t a = v & ((int64_t)(i & 1) - 1); /* v when i is a left child, branch-free */
        int64_t smx = sib->mx + a, smn = sib->mn + a;
        sib->mx = smx;
        sib->mn = smn;
        sib->lz += a;
        i >>= 1;
        mx = max64(mx, smx) + bin[i].lz;
        mn = min64(mn, smn) + bin[i].lz;
        bin[i].mx = mx;
        bin[i].mn = mn;
    }
    return i;
}

void mlops__ranktree_add(mlops__ranktree *t, uint32_t slot, int delta) {
    int64_t v = -t->R * (int64_t)delta;
    leaf_add(t, slot >> 1, slot & 1, v);
    walk_up(t, (slot >> 1) / RT_B, v, t->H);
}

/* Two full walks: fusing them where the paths meet was measured slower (the meeting
 * level is data-dependent, so its loops mispredict). */
void mlops__ranktree_replace(mlops__ranktree *t, uint32_t out, uint32_t in) {
    if (out == in) return;
    mlops__ranktree_add(t, out, -1);
    mlops__ranktree_add(t, in, +1);
}

/* Re-base the stored leaf values to window size C. */
static void rt_rebase(mlops__ranktree *t, int64_t C) {
    int64_t delta = C - t->tree_C;
    if (delta == 0) return;
    for (size_t k = 0; k < t->n0; k++) {
        int64_t *blk = t->leaf + (k / RT_B) * 2 * RT_B;
        int64_t a = delta * t->ileaf[k];
        blk[k % RT_B] += a;
        blk[RT_B + k % RT_B] += a;
    }
    t->tree_C = C;
    rt_recompute(t);
}

typedef struct search {
    const mlops__ranktree *t;
    int64_t C, delta;
    int want_max; /* 1: max over A (the stored max); 0: min over B (the stored min), negated */
    int64_t best; /* best score (value, or -value for the min) at C */
    int ties;     /* leaves with score == best seen, in leaf order (capped) */
    double dbest; /* the extreme double among those leaves */
    long budget;  /* nodes left to expand */
} search;

static int64_t leaf_score(const search *s, size_t k, int64_t tv, double *d) {
    const mlops__ranktree *t = s->t;
    int64_t i = t->ileaf[k];
    int64_t j = (i * t->tree_C - tv) / t->R; /* tv = i tree_C - R j exactly */
    *d = (double)i / (double)t->R - (double)j / (double)s->C;
    int64_t v = tv + s->delta * i;
    return s->want_max ? v : -v;
}

/* Upper bound of the score over leaves [lo, hi] whose extreme true value (at tree_C) is tv. */
static int64_t range_bound(const search *s, size_t lo, size_t hi, int64_t tv) {
    const mlops__ranktree *t = s->t;
    if (hi >= t->n0) hi = t->n0 - 1;
    int64_t a = s->delta * t->ileaf[lo], b = s->delta * t->ileaf[hi];
    if (s->want_max) return tv + max64(a, b);
    return -tv + max64(-a, -b);
}

static void take_leaf(search *s, size_t k, int64_t tv) {
    double d;
    int64_t sc = leaf_score(s, k, tv, &d);
    if (sc > s->best) {
        s->best = sc;
        s->ties = 1;
        s->dbest = d;
    } else if (sc == s->best && s->ties < RT_TIES) {
        s->ties++;
        if (s->want_max ? d > s->dbest : d < s->dbest) s->dbest = d;
    }
}

static int prune(const search *s, int64_t ub) {
    return ub < s->best || (ub == s->best && s->ties >= RT_TIES);
}

/* Leaves [lo, hi] of binary node c at height h (0 = just above a leaf block). */
static size_t node_lo(const mlops__ranktree *t, size_t c, int h) { return ((c << h) - t->nb) * RT_B; }
static size_t node_hi(const mlops__ranktree *t, size_t c, int h) {
    return node_lo(t, c, h) + ((size_t)RT_B << h) - 1;
}

/* Visit binary node i at height h; acc = pending adds of its strict ancestors. */
static void dfs(search *s, size_t i, int h, int64_t acc) {
    if (--s->budget < 0) return;
    const mlops__ranktree *t = s->t;
    acc += t->bin[i].lz;
    if (h == 0) {
        size_t b = i - t->nb;
        const int64_t *blk = t->leaf + b * 2 * RT_B + (s->want_max ? 0 : RT_B);
        for (size_t p = 0; p < RT_B && b * RT_B + p < t->n0; p++)
            take_leaf(s, b * RT_B + p, blk[p] + acc);
        return;
    }
    for (size_t c = 2 * i; c <= 2 * i + 1; c++) {
        size_t lo = node_lo(t, c, h - 1);
        if (lo >= t->n0) continue;
        int64_t tv = (s->want_max ? t->bin[c].mx : t->bin[c].mn) + acc;
        if (prune(s, range_bound(s, lo, node_hi(t, c, h - 1), tv))) continue;
        dfs(s, c, h - 1, acc);
        if (s->budget < 0) return;
    }
}

/* Exact extreme at C by branch and bound; returns 0 when the budget ran out. */
static int extreme(mlops__ranktree *t, int64_t C, int want_max, long budget, double *out) {
    search s = {t, C, C - t->tree_C, want_max, INT64_MIN, 0, 0.0, budget};
    int H = t->H;
    /* a greedy descent gives a bound to prune with; its leaves are visited again by the DFS */
    size_t i = 1;
    int64_t acc = 0;
    for (int h = H; h > 0; h--) {
        acc += t->bin[i].lz;
        size_t pick = 2 * i;
        int64_t pick_ub = INT64_MIN;
        for (size_t c = 2 * i; c <= 2 * i + 1; c++) {
            size_t lo = node_lo(t, c, h - 1);
            if (lo >= t->n0) continue;
            int64_t tv = (want_max ? t->bin[c].mx : t->bin[c].mn) + acc;
            int64_t ub = range_bound(&s, lo, node_hi(t, c, h - 1), tv);
            if (ub > pick_ub) {
                pick_ub = ub;
                pick = c;
            }
        }
        i = pick;
    }
    acc += t->bin[i].lz;
    size_t b = i - t->nb;
    const int64_t *blk = t->leaf + b * 2 * RT_B + (want_max ? 0 : RT_B);
    for (size_t p = 0; p < RT_B && b * RT_B + p < t->n0; p++) {
        double d;
        int64_t sc = leaf_score(&s, b * RT_B + p, blk[p] + acc, &d);
        if (sc > s.best) s.best = sc;
    }
    s.ties = 0;
    dfs(&s, 1, H, 0);
    if (s.budget < 0) return 0;
    *out = s.dbest;
    return 1;
}

void mlops__ranktree_extremes(mlops__ranktree *t, int64_t C, double *max_s, double *min_s) {
    long budget = (long)(t->n0 / RT_B) / 4 + 64;
    if (!extreme(t, C, 1, budget, max_s) || !extreme(t, C, 0, budget, min_s)) {
        rt_rebase(t, C);
        extreme(t, C, 1, LONG_MAX, max_s);
        extreme(t, C, 0, LONG_MAX, min_s);
    }
}
