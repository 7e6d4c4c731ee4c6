/* Internal: the rank counts behind the streaming KS statistic. Never installed.
 *
 * For a fixed reference with distinct sorted values u[0] < ... < u[K-1], a window
 * value c has the slot 2q + ne, q = #u <= c, ne = (c != u[q-1]): slots are the
 * 2K + 1 classes of values that the reference cannot tell apart. The window is
 * kept as a count per slot (plus a bitmap of occupied slots), so adding or
 * removing a value is O(1) once its slot is known (O(log K), found once when it
 * enters). The statistic is evaluated when asked, exactly as SciPy computes it in
 * doubles: with i = #ref <= x and j = #window <= x at a pooled value x, SciPy's
 * cdf difference is fl(fl(i/R) - fl(j/C)), which for a fixed j is non-decreasing
 * in i. So the max over pooled values is the max over occupied slots of
 * (#ref < slot value, #window below the slot), and the min is the min over
 * occupied slots of (#ref <= slot value, #window up to the slot): one in-order
 * pass over the occupied slots, O(K / 64 + distinct window slots), no ties to
 * resolve. Pairs that merge distinct window values of one slot are dominated by
 * pairs that are attained, so they never change either extreme.
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
    /* K + 1 records, one cache line holds four: fr = fl(i(k) / R), i(k) = #reference <= u[k-1]
     * (i(0) = 0); cnt[ne] = window values in slot 2k + ne (equal to u[k-1], or between u[k-1]
     * and u[k]). A report reads fr of a slot's record and of the one before it. */
    struct mlops__rtrec {
        double fr;
        uint32_t cnt[2];
    } * rec;
    size_t nslot;   /* 2K + 2 slots (slot 0 is never used) */
    uint64_t *bits; /* ceil(nslot / 64): bit s set when slot s holds window values */
    size_t nwords;
    size_t W;      /* largest window */
    double *cw;    /* W + 1: fl(j / cw_C) */
    int64_t cw_C;  /* window size cw was computed for (0: none) */
    uint32_t *occ; /* nocc: scratch for the occupied slots in order */
    size_t nocc;   /* min(nslot, W) + 8 */
} mlops__ranktree;

/* Build from `R` >= 1 sorted, non-NaN values for windows of up to W; the window starts empty.
 * Returns MLOPS_ENOMEM / MLOPS_ELIMIT without touching *t on failure. */
mlops_status mlops__ranktree_init(mlops__ranktree *t, const double *sorted, size_t R, size_t W);
void mlops__ranktree_free(mlops__ranktree *t);
/* The slot of a non-NaN window value (its leaf and whether it equals a reference value). */
uint32_t mlops__ranktree_slot(const mlops__ranktree *t, double c);
/* Add (delta = +1) or remove (-1) one window value by its slot. */
void mlops__ranktree_add(mlops__ranktree *t, uint32_t slot, int delta);
/* Remove the value in slot `out` and add the one in slot `in`. */
void mlops__ranktree_replace(mlops__ranktree *t, uint32_t out, uint32_t in);
/* max and min over pooled values of cdf_ref - cdf_window, as SciPy computes them in doubles,
 * for the current window of C >= 1 values (C = the sum of the counts). */
void mlops__ranktree_extremes(mlops__ranktree *t, int64_t C, double *max_s, double *min_s);
/* Heap bytes held. */
size_t mlops__ranktree_bytes(const mlops__ranktree *t);

#endif
