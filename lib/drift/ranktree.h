/* Internal: the rank tree behind the streaming KS statistic. Never installed.
 *
 * For a fixed reference with distinct sorted values u[0] < ... < u[K-1] and
 * i(k) = #reference <= u[k-1] (i(0) = 0), leaf k = 0..K holds two integers
 * for a window of C values:
 *   A_k = i(k) * C - R * #window <= u[k-1]   (the ECDF difference at u[k-1]),
 *   B_k = i(k) * C - R * #window <  u[k]     (at the last window value before u[k]),
 * scaled by R * C. The two-sided statistic is max(max_k A_k, -min_k B_k) / (R C).
 * A window value adds 1 to the counts of a suffix of leaves, so a tree with
 * range add and max/min (pending adds kept in the nodes, no push-down, updates
 * walk leaf to root without recursion) keeps both extremes in O(log K) per
 * value.
 */
#ifndef MLOPS_DRIFT_RANKTREE_H
#define MLOPS_DRIFT_RANKTREE_H

#include <stddef.h>
#include <stdint.h>

#include "mlops/common.h"

#define MLOPS__RT_MISSING UINT32_MAX

typedef struct mlops__ranktree {
    size_t K;        /* distinct reference values */
    int64_t R;       /* reference values */
    double *u;       /* K distinct values, sorted */
    size_t nblk;     /* ceil(K / 16): u is padded with NaN to whole blocks of 16 */
    double *sidx;    /* 16-ary search index over u: level l holds every 16th entry of level l - 1 */
    int slev;        /* index levels above u (0 when K <= 16) */
    size_t slen[16]; /* entries of level l (slen[0] = K) */
    size_t soff[17]; /* offset of level l in sidx; soff[slev + 1] = total */
    int64_t *ileaf;  /* K + 1: i(k) */
    size_t n0;       /* leaves: K + 1, in blocks of 4 ({max[4], min[4]}) */
    size_t nb;       /* binary tree leaves: a power of two >= the number of leaf blocks */
    int H;           /* log2(nb) */
    int64_t *leaf;   /* 16 per leaf block */
    struct mlops__rtnode {
        int64_t mx, mn, lz, pad; /* extremes of the subtree plus own pending add; pending add */
    } * bin;                     /* 2 nb, node 1 is the root, node nb + b sits above leaf block b */
    int64_t tree_C;              /* window size the stored leaf values were computed for */
} mlops__ranktree;

/* Build from `R` >= 1 sorted, non-NaN values for windows of up to W; the tree starts empty.
 * Returns MLOPS_ENOMEM / MLOPS_ELIMIT without touching *t on failure. */
mlops_status mlops__ranktree_init(mlops__ranktree *t, const double *sorted, size_t R, size_t W);
void mlops__ranktree_free(mlops__ranktree *t);
/* The slot of a non-NaN window value (its leaf and whether it equals a reference value). */
uint32_t mlops__ranktree_slot(const mlops__ranktree *t, double c);
/* Add (delta = +1) or remove (-1) one window value by its slot. */
void mlops__ranktree_add(mlops__ranktree *t, uint32_t slot, int delta);
/* Remove the value in slot `out` and add the one in slot `in`, in one walk when they share blocks. */
void mlops__ranktree_replace(mlops__ranktree *t, uint32_t out, uint32_t in);
/* max and min over pooled values of cdf_ref - cdf_window, as SciPy computes them in doubles,
 * for the current window of C >= 1 values. May re-base the stored values (O(K)) when C moved far. */
void mlops__ranktree_extremes(mlops__ranktree *t, int64_t C, double *max_s, double *min_s);
/* Heap bytes held. */
size_t mlops__ranktree_bytes(const mlops__ranktree *t);

#endif
