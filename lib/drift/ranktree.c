/* The rank counts behind the streaming KS statistic (see ranktree.h).
 *
 * Window: a count per slot and a bitmap of occupied slots; adding or removing a
 * value is two stores. Slots are found by a 16-ary search index over the
 * distinct reference values (vector compares within a block of 16 per level).
 * The statistic is one in-order pass over the occupied slots (bitmap words,
 * count trailing zeros) with tabulated fl(i / R) and fl(j / C), so it is the
 * same double SciPy computes, ties included, without integer arithmetic.
 *
 * (An earlier version kept a segment tree with range add and max/min over the
 * K + 1 ECDF differences: O(log K) per value but ~25 dependent node updates per
 * replacement over ~260 KB per feature, and ties in the integer extreme had to be
 * resolved by a search at report time. Counts make updates O(1) after the slot
 * search and reports O(K / 64 + W), cheaper than the tree's walks at every size
 * this module is meant for.)
 */
#include "drift/ranktree.h"

#include <math.h>
#include <string.h>

#include "internal.h"

#define RT_UBLK 16 /* values of u per block of the search index */

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
    n.nslot = 2 * K + 2;
    n.nwords = (n.nslot + 63) / 64;
    n.W = W;
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
    n.rec = mlops__calloc(K + 1, sizeof *n.rec);
    n.bits = mlops__calloc(n.nwords, sizeof *n.bits);
    n.cw = mlops__malloc((W + 1) * sizeof *n.cw);
    n.nocc = (n.nslot < W ? n.nslot : W) + 8;
    n.occ = mlops__malloc(n.nocc * sizeof *n.occ);
    if (!n.u || !n.sidx || !n.rec || !n.bits || !n.cw || !n.occ) {
        mlops__ranktree_free(&n);
        return mlops__fail(MLOPS_ENOMEM, "drift: out of memory for a reference of %zu values", R);
    }
    size_t k = 0;
    for (size_t i = 0; i < R; i++) {
        if (i > 0 && s[i] == s[i - 1]) continue;
        n.u[k++] = s[i];
    }
    /* fr[k] = fl(#reference <= u[k-1] / R): the last index of each distinct value, plus one */
    n.rec[0].fr = 0.0;
    k = 0;
    for (size_t i = 0; i < R; i++)
        if (i + 1 == R || s[i + 1] != s[i]) n.rec[++k].fr = (double)(i + 1) / (double)R;
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
    n.cw_C = 0;
    *t = n;
    return MLOPS_OK;
}

void mlops__ranktree_free(mlops__ranktree *t) {
    mlops__free(t->u);
    mlops__free(t->sidx);
    mlops__free(t->rec);
    mlops__free(t->bits);
    mlops__free(t->cw);
    mlops__free(t->occ);
    memset(t, 0, sizeof *t);
}

size_t mlops__ranktree_bytes(const mlops__ranktree *t) {
    if (!t->u) return 0;
    return t->nblk * RT_UBLK * sizeof *t->u + t->soff[t->slev + 1] * sizeof *t->sidx +
           (t->K + 1) * sizeof *t->rec + t->nwords * sizeof *t->bits + (t->W + 1) * sizeof *t->cw +
           t->nocc * sizeof *t->occ;
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

void mlops__ranktree_add(mlops__ranktree *t, uint32_t slot, int delta) {
    uint32_t *cp = &t->rec[slot >> 1].cnt[slot & 1], c = *cp + (uint32_t)delta;
    *cp = c;
    uint64_t m = (uint64_t)1 << (slot & 63), *w = &t->bits[slot >> 6];
    *w = (*w & ~m) | (m & -(uint64_t)(c != 0));
}

void mlops__ranktree_replace(mlops__ranktree *t, uint32_t out, uint32_t in) {
    if (out == in) return;
    mlops__ranktree_add(t, out, -1);
    mlops__ranktree_add(t, in, +1);
}

/* SWAR population count (the baseline x86-64 target has no popcnt instruction and
 * __builtin_popcountll becomes a libgcc call). */
static inline size_t popcount64(uint64_t x) {
    x -= (x >> 1) & 0x5555555555555555ull;
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (size_t)((x * 0x0101010101010101ull) >> 56);
}

void mlops__ranktree_extremes(mlops__ranktree *t, int64_t C, double *max_s, double *min_s) {
    const double *cw = t->cw;
    if (C > (int64_t)t->W) { /* never: C counts values in a window of at most W */
        *max_s = *min_s = NAN;
        return;
    }
    if (t->cw_C != C) {
        for (int64_t j = 0; j <= C; j++)
            t->cw[j] = (double)j / (double)C;
        t->cw_C = C;
    }
    const struct mlops__rtrec *rec = t->rec;
    /* 1. occupied slots in order: per bitmap word, 4 positions written unconditionally
     * (garbage past the word's count is overwritten by the next word), so the loop does
     * not mispredict on every word's population */
    uint32_t *occ = t->occ;
    size_t nocc = 0;
    for (size_t w = 0; w < t->nwords; w++) {
        uint64_t b = t->bits[w];
        uint32_t base = (uint32_t)(w * 64);
        size_t pc = popcount64(b);
        uint32_t *o = occ + nocc; /* unrolled: each step is independent of the count */
        o[0] = base + (uint32_t)__builtin_ctzll(b | ((uint64_t)1 << 63));
        b &= b - 1;
        o[1] = base + (uint32_t)__builtin_ctzll(b | ((uint64_t)1 << 63));
        b &= b - 1;
        o[2] = base + (uint32_t)__builtin_ctzll(b | ((uint64_t)1 << 63));
        b &= b - 1;
        o[3] = base + (uint32_t)__builtin_ctzll(b | ((uint64_t)1 << 63));
        b &= b - 1;
        for (size_t k = 4; k < pc; k++) { /* more than 4 in a word */
            o[k] = base + (uint32_t)__builtin_ctzll(b);
            b &= b - 1;
        }
        nocc += pc;
    }
    /* 2. the extremes over them; the last pooled value has i = R, j = C: 1.0 - 1.0 = 0.
     * Two accumulators each so the max/min chains do not bound the loop. */
    double mx0 = 0.0, mx1 = 0.0, mn0 = 0.0, mn1 = 0.0;
    size_t j = 0, p = 0;
    for (; p + 2 <= nocc; p += 2) {
        uint32_t s0 = occ[p], s1 = occ[p + 1];
        double a0 = rec[(s0 - 1) >> 1].fr - cw[j]; /* #ref < slot value, #window below the slot */
        j += rec[s0 >> 1].cnt[s0 & 1];
        double c0 = rec[s0 >> 1].fr - cw[j]; /* #ref <= slot value, #window up to the slot */
        double a1 = rec[(s1 - 1) >> 1].fr - cw[j];
        j += rec[s1 >> 1].cnt[s1 & 1];
        double c1 = rec[s1 >> 1].fr - cw[j];
        mx0 = a0 > mx0 ? a0 : mx0;
        mn0 = c0 < mn0 ? c0 : mn0;
        mx1 = a1 > mx1 ? a1 : mx1;
        mn1 = c1 < mn1 ? c1 : mn1;
    }
    if (p < nocc) {
        uint32_t s0 = occ[p];
        double a0 = rec[(s0 - 1) >> 1].fr - cw[j];
        j += rec[s0 >> 1].cnt[s0 & 1];
        double c0 = rec[s0 >> 1].fr - cw[j];
        mx0 = a0 > mx0 ? a0 : mx0;
        mn0 = c0 < mn0 ? c0 : mn0;
    }
    double mx = mx0 > mx1 ? mx0 : mx1, mn = mn0 < mn1 ? mn0 : mn1;
    *max_s = mx;
    *min_s = mn;
}
