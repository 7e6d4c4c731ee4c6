/* Native engine, part 2: evaluation.
 *
 * Bit-exactness with XGBoost 1.7.4 (cpu_predictor.cc, predict_fn.h,
 * categorical.h, gbtree.cc, the objectives):
 *   - a numeric split goes left iff `x < threshold` in float; a missing value
 *     (NaN, or equal to `missing`) takes the default direction; +-inf compare
 *     normally;
 *   - a categorical split goes right iff the (truncated) category is listed;
 *     negative, >= 2^24, or beyond the node's bit set go left;
 *   - every output starts at the base margin and adds the leaf values of its
 *     trees one at a time in tree order, in float (dart leaves hold
 *     ((base + leaf) - base) * weight, what Dart::InplacePredict adds);
 *   - transforms use the same float formulas (common::Sigmoid, softmax with a
 *     double sum, expf).
 * The engine is compiled with -ffp-contract=off so no FMA changes roundings.
 *
 * Kernels (all bit-identical; the differential test runs each of them):
 *   - plain walker (walk_gen, and walk_pgen on perfect trees): any forest;
 *     categorical splits, `missing`;
 *   - the layout is chosen per tree (issue 24, native_build.c), and every
 *     kernel below takes the forest's runs of same-layout trees in tree
 *     order, so a forest may mix both layouts;
 *   - compact layout lanes (row_trees, block_trees): trees deeper than
 *     MLOPS__PERFECT_MAX_DEPTH or too sparse to pad; rows read as "doubled"
 *     columns so missing values need no test (native_internal.h);
 *   - perfect layout (row_perfect_d, block_perfect_s): complete heap-order
 *     trees, exactly the run's depth in levels per row, `x >= t` compared
 *     as order keys;
 *     single rows walk ROW_LANES trees side by side (ROW_LANES_BIG with
 *     prefetching for forests beyond the L1/L2 caches), batches a
 *     feature-major block of 64 rows one tree at a time, 16 rows side by
 *     side; forests beyond the caches (f->wide) use heap blocks of up to
 *     WIDE_BLOCK_ROWS rows, so every tree is read from memory once per
 *     512 rows rather than per 64, and the largest (f->stream) walk every
 *     row of the block side by side with prefetching (block_perfect_wide).
 *   With AVX-512 (mlops__isa_detect; forced lower by f->isa), batches on
 *   perfect runs use native_simd.c instead of block_perfect_s: the top 4
 *   levels compare a chunk's 64 rows per node at once; and runs 7-10 deep
 *   of forests with at most 32 features are also stored as vector blocks
 *   (4 levels per compare, native_internal.h MLOPS__VEC_MIN_DEPTH), walked
 *   by single rows and, on forests beyond the caches (f->stream), batches.
 *   The tests force f->fast, f->wide and f->stream (and lay the forest out
 *   all plain, or mixed: mlops__forest_layout) so that every kernel runs on
 *   every model, whatever its size.
 * Tried and dropped (slower here): AVX-512 gathers for rows or trees (a
 * 16-lane gather costs ~13 cycles vs ~5 for 16 scalar loads), AVX-512 top
 * levels with permutes, evaluating the top 2-3 levels at once, size_t lane
 * indices in the batch kernel, dynamic row chunks across threads; issue 18:
 * the batch's top 2-3 levels as vectorizable compares of every candidate
 * node (1.6-2.3x slower), block_perfect_wide on forests of 1 MB (1.5x slower
 * than 16 register lanes: those stay in the L2 cache); single rows on deep
 * forests: 24 or 32 lanes (slower on 500x8, no gain on 1,000x10), prefetching
 * the grandchildren's line instead of the children's (no gain), 16 trees as
 * AVX-512 lanes with gathered nodes and the row's keys by permutes, 1-4 such
 * chunks side by side (0.4-0.9x on 1,000 depth-10 trees, 1.2x when the forest
 * fits the L2 cache); on the vector blocks: 8, 24 or 32 trees side by side
 * (16 is best), the row's features once with missing values sorted out by
 * mask operations instead of the doubled row's second permute (1.2x slower:
 * longer latency per block), the top nodes of 1-2 level top blocks compared
 * across 16 trees at once (no gain measured), the last level of each group
 * pipelined two groups behind its upper levels (2x slower as compiled),
 * tree chunks of 64 KB-100 MB per 64-row batch group (within the noise). */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "internal.h"
#include "native_internal.h"

/* Lane loops are unrolled so the lanes live in registers. (Clang reports a
 * request it declines, e.g. for the widest lanes at depth 10; the code is
 * correct either way.) */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpass-failed"
#endif
#if defined(__clang__)
#define MLOPS__UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define MLOPS__UNROLL _Pragma("GCC unroll 16")
#else
#define MLOPS__UNROLL
#endif

/* Clang (14) keeps every lane's compare result apart until all lanes are
 * compared (setae, spilled to the stack with the lane indices), where gcc
 * folds it into the index at once (cmp; sbb): the batch kernels ran 25-35%
 * slower. An empty asm that takes the new index in a register makes clang
 * finish each lane's step before the next one too; gcc's code is unchanged. */
#if defined(__clang__)
#define MLOPS__LANE_DONE(v) __asm__("" : "+r"(v))
#else
#define MLOPS__LANE_DONE(v) ((void)0)
#endif

#if defined(__GNUC__)
#define MLOPS__INLINE static inline __attribute__((always_inline))
#else
#define MLOPS__INLINE static inline
#endif

/* Rows evaluated together per tree on the batch path. */
#define BLOCK_ROWS 64
/* Rows walked side by side on the batch path. */
#define BLOCK_LANES 16
/* Trees walked side by side on the single-row path (perfect layout): more
 * for large forests, whose node loads wait on the L2 cache. */
#ifndef ROW_LANES_BIG
#if defined(__clang__)
/* Clang (14) keeps 16 lanes' indices on the stack (a store and a reload per
 * lane and level) where gcc keeps most in registers: 10 lanes ran as fast
 * as gcc's 16 (issue 18, 500x8 and 1000x10 single rows). */
#define ROW_LANES_BIG 10
#else
#define ROW_LANES_BIG 16
#endif
#endif
#define ROW_LANES 10
/* Stack scratch for multi:softmax margins (floats). */
#define SOFTMAX_SCRATCH 4096
/* Forests beyond the caches (f->wide): rows per heap-allocated block, and
 * most keys in it (256 KiB, within the L2 cache). */
#ifndef WIDE_BLOCK_ROWS
#define WIDE_BLOCK_ROWS 512
#endif
#define WIDE_BLOCK_KEYS 65536
/* Stack buffer for a feature-major block of rows (floats, 32 KiB). */
#define XT_FLOATS 8192

/* ---- one step down a tree ----
 * Leaves have threshold NaN (its payload indexes f->leaves), offset 0 and
 * column 0, so `x >= NaN` is false and a leaf steps onto itself: lanes can
 * walk a fixed number of levels without testing for leaves. */

/* A doubled row or block (see native_internal.h: missing values already
 * replaced by -inf / +inf per default direction). `x` is read at
 * base[column << shift]: shift 0 for a row, log2(rows) for a feature-major
 * block. */
MLOPS__INLINE const mlops__fnode *step(const mlops__fnode *n, const float *base, unsigned shift) {
    uint32_t info = n->info;
    float x = base[(size_t)(info & MLOPS__FN_COLUMN_MASK) << shift];
    return n + (info >> MLOPS__FN_OFFSET_SHIFT) + (uint32_t)(x >= n->u.v);
}

/* A plain row without missing values: column c reads feature c / 2. */
MLOPS__INLINE const mlops__fnode *step_raw(const mlops__fnode *n, const float *row) {
    uint32_t info = n->info;
    float x = row[(info & MLOPS__FN_COLUMN_MASK) >> 1];
    return n + (info >> MLOPS__FN_OFFSET_SHIFT) + (uint32_t)(x >= n->u.v);
}

MLOPS__INLINE float leaf_value(const mlops__forest *f, const mlops__fnode *n) {
    return f->leaves[n->u.cat & MLOPS__LEAF_INDEX_MASK];
}

MLOPS__INLINE uint32_t cat_right(const uint32_t *set, float x) {
    /* common::Decision: invalid categories go left; so do categories beyond
     * the node's bit set and unlisted ones. */
    if (x < 0.0f || x >= 16777216.0f) return 0;
    uint32_t c = (uint32_t)x;
    if ((c >> 5) >= set[0]) return 0;
    return (set[1 + (c >> 5)] >> (c & 31u)) & 1u;
}

/* Any forest (categorical splits, `missing` values): walk to a leaf the plain
 * way. Also the reference the fast kernels are tested against. */
static float walk_gen(const mlops__forest *f, const mlops__fnode *n, const float *row, float missing) {
    uint32_t info;
    while ((info = n->info) >= MLOPS__FN_LEAF_LIMIT) {
        float x = row[(info & MLOPS__FN_COLUMN_MASK) >> 1];
        uint32_t right;
        if (x != x || x == missing)
            right = info & 1u;
        else if (info & MLOPS__FN_CAT)
            right = cat_right(f->cats + n->u.cat, x);
        else
            right = !(x < n->u.v);
        n += (info >> MLOPS__FN_OFFSET_SHIFT) + right;
    }
    return leaf_value(f, n);
}

/* ---- transforms (objective PredTransform) ---- */

static float sigmoid(float x) {
    /* common::Sigmoid: min(-x, 88.7f), expf(x) + 1 + 1e-16f, 1 / denom. */
    const float eps = (float)1e-16;
    float t = -x;
    if (88.7f < t) t = 88.7f;
    float denom = expf(t) + 1.0f + eps;
    return 1.0f / denom;
}

static void softmax(float *p, size_t n) {
    float wmax = p[0];
    for (size_t i = 1; i < n; i++)
        wmax = fmaxf(p[i], wmax);
    double wsum = 0.0;
    for (size_t i = 0; i < n; i++) {
        p[i] = expf(p[i] - wmax);
        wsum += p[i];
    }
    float s = (float)wsum;
    for (size_t i = 0; i < n; i++)
        p[i] /= s;
}

static float argmax(const float *p, size_t n) {
    size_t best = 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] > p[best]) best = i;
    return (float)best;
}

/* Transform `rows` rows of margins `acc` (G per row) into `out`. For all but
 * multi:softmax acc == out (in place). */
static void finish_rows(const mlops__forest *f, const float *acc, size_t rows, int margin, float *out) {
    size_t G = f->n_groups, n = rows * G;
    if (margin) {
        if (out != acc) memcpy(out, acc, n * sizeof(float));
        return;
    }
    switch (f->transform) {
    case MLOPS__TX_IDENTITY:
        if (out != acc) memcpy(out, acc, n * sizeof(float));
        break;
    case MLOPS__TX_SIGMOID:
        for (size_t i = 0; i < n; i++)
            out[i] = sigmoid(acc[i]);
        break;
    case MLOPS__TX_EXP:
        for (size_t i = 0; i < n; i++)
            out[i] = expf(acc[i]);
        break;
    case MLOPS__TX_EXP_DOUBLE:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)exp((double)acc[i]);
        break;
    case MLOPS__TX_HINGE:
        for (size_t i = 0; i < n; i++)
            out[i] = acc[i] > 0.0f ? 1.0f : 0.0f;
        break;
    case MLOPS__TX_SOFTPROB:
        if (out != acc) memcpy(out, acc, n * sizeof(float));
        for (size_t r = 0; r < rows; r++)
            softmax(out + r * G, G);
        break;
    case MLOPS__TX_SOFTMAX:
        for (size_t r = 0; r < rows; r++)
            out[r] = argmax(acc + r * G, G);
        break;
    }
}

/* ---- single row: MLOPS__TREE_LANES trees side by side ---- */

MLOPS__INLINE void row_trees(const mlops__forest *f, size_t t, size_t nt, const float *row, float *acc,
                             const int raw) {
    const mlops__fnode *nodes = f->nodes;
    const uint32_t *roots = f->roots, *groups = f->groups;
    const int one_group = f->n_groups == 1;
    float sum = acc[0]; /* one output: a register, not a store/load chain */
    while (t < nt) {
        const mlops__fnode *p[MLOPS__TREE_LANES];
        size_t kn = nt - t < MLOPS__TREE_LANES ? nt - t : MLOPS__TREE_LANES;
        /* Levels: the deepest of the chunks trees [t, t + kn) fall in (more
         * levels than a tree has are harmless: a leaf steps onto itself). */
        unsigned D = f->chunk_depths[t / MLOPS__TREE_LANES];
        if (f->chunk_depths[(t + kn - 1) / MLOPS__TREE_LANES] > D)
            D = f->chunk_depths[(t + kn - 1) / MLOPS__TREE_LANES];
        if (kn == MLOPS__TREE_LANES) {
            for (int k = 0; k < MLOPS__TREE_LANES; k++)
                p[k] = nodes + roots[t + k];
            for (unsigned d = 0; d < D; d++) {
                MLOPS__UNROLL
                for (int k = 0; k < MLOPS__TREE_LANES; k++)
                    p[k] = raw ? step_raw(p[k], row) : step(p[k], row, 0);
            }
        } else {
            for (size_t k = 0; k < kn; k++)
                p[k] = nodes + roots[t + k];
            for (unsigned d = 0; d < D; d++)
                for (size_t k = 0; k < kn; k++)
                    p[k] = raw ? step_raw(p[k], row) : step(p[k], row, 0);
        }
        for (size_t k = 0; k < kn; k++) {
            if (one_group)
                sum += leaf_value(f, p[k]);
            else
                acc[groups[t + k]] += leaf_value(f, p[k]);
        }
        t += kn;
    }
    if (one_group) acc[0] = sum;
}

/* Tree t of the perfect run sg, the plain way (missing values tested, order
 * keys compared): a pass-through node's sides hold the same value. */
static float walk_pgen(const mlops__forest *f, const mlops__segment *sg, size_t t, const float *row,
                       float missing) {
    size_t per = ((size_t)1 << sg->depth) - 1;
    const mlops__pnode *nd = f->pnodes + sg->pnode0 + (t - sg->t0) * per;
    size_t i = 0;
    for (unsigned d = 0; d < sg->depth; d++) {
        uint32_t col = nd[i].col;
        float x = row[col >> 1];
        uint32_t right = (x != x || x == missing) ? (col & 1u) : (uint32_t)(mlops__fkey(x) >= nd[i].key);
        i = 2 * i + 1 + right;
    }
    return f->pleaves[sg->pleaf0 + (t - sg->t0) * (per + 1) + i - per];
}

/* The plain walker over every tree, in tree order, on each tree's layout. */
static void row_gen(const mlops__forest *f, const float *row, float missing, float *acc) {
    if (!f->segs) {
        for (size_t t = 0; t < f->n_trees; t++)
            acc[f->groups[t]] += walk_gen(f, f->nodes + f->roots[t], row, missing);
        return;
    }
    for (size_t s = 0; s < f->n_segs; s++) {
        const mlops__segment *sg = &f->segs[s];
        for (size_t t = sg->t0; t < sg->t1; t++)
            acc[f->groups[t]] += sg->perfect ? walk_pgen(f, sg, t, row, missing)
                                             : walk_gen(f, f->nodes + f->roots[t], row, missing);
    }
}

/* ---- perfect layout (native_internal.h): exactly pdepth levels per tree ---- */

MLOPS__INLINE uint32_t pstep(const mlops__pnode *nd, uint32_t i, const uint32_t *base, unsigned shift) {
    const mlops__pnode *n = nd + i;
    uint32_t x = base[(size_t)n->col << shift];
    return 2 * i + 1 + (uint32_t)(x >= n->key);
}

/* Single row (doubled), depth D a compile-time constant: lane k walks tree
 * t + k through j = k * per + i (i: heap index in its tree), so a step is
 * j = 2j + (1 - k * per) + (x >= t) with a constant term, and the node is at
 * nd + j. (Unsigned wrap-around: the true value is never negative.) */
MLOPS__INLINE void row_perfect_d(const mlops__forest *f, const mlops__segment *sg, const uint32_t *row,
                                 float *acc, const unsigned D, const int one_group, const int prefetch) {
    const size_t per = ((size_t)1 << D) - 1;
    const size_t L = prefetch ? ROW_LANES_BIG : ROW_LANES;
    size_t nt = sg->t1 - sg->t0, t = 0;
    const uint32_t *groups = f->groups + sg->t0;
    const mlops__pnode *pn = f->pnodes + sg->pnode0;
    const float *pl = f->pleaves + sg->pleaf0;
    /* One output: the running sum stays in a register (same additions in
     * the same order), not a store/load chain through acc. */
    float sum = acc[0];
    for (; t + L <= nt; t += L) {
        const mlops__pnode *nd = pn + t * per;
#if defined(__GNUC__)
        /* Keep the chunk's base in a register so a node is one addressing
         * mode (nd + 8j) away; otherwise compilers recompute it per step. */
        __asm__("" : "+r"(nd));
#endif
        const float *lv = pl + t * (per + 1);
        size_t j[ROW_LANES_BIG > ROW_LANES ? ROW_LANES_BIG : ROW_LANES];
        for (size_t k = 0; k < L; k++)
            j[k] = k * per;
#if defined(__GNUC__)
        /* Large forests: the next chunk's top levels (the lines of its
         * roots) arrive while this chunk is walked, rather than each chunk
         * starting with L misses to wait for. */
        if (prefetch && t + 2 * L <= nt)
            for (size_t k = L; k < 2 * L; k++) {
                __builtin_prefetch(nd + k * per);
                __builtin_prefetch(nd + k * per + 7);
            }
#endif
        MLOPS__UNROLL
        for (unsigned d = 0; d < D; d++) {
            MLOPS__UNROLL
            for (size_t k = 0; k < L; k++) {
                const mlops__pnode *n = nd + j[k];
#if defined(__GNUC__)
                /* Large forests: fetch the children's line (on the last
                 * level: the two leaf values) while this level's compare is
                 * under way. */
                if (prefetch && d + 1 < D) __builtin_prefetch(nd + (2 * j[k] + 1 - k * per));
                if (prefetch && d + 1 == D) __builtin_prefetch(lv + (2 * j[k] + 1 - k * per + k - per));
#endif
                uint32_t x = row[n->col];
                j[k] = 2 * j[k] + (1 - k * per) + (size_t)(x >= n->key);
                MLOPS__LANE_DONE(j[k]);
            }
        }
        for (size_t k = 0; k < L; k++) {
            if (one_group)
                sum += lv[j[k] + k - per];
            else
                acc[groups[t + k]] += lv[j[k] + k - per];
        }
    }
    for (; t < nt; t++) {
        const mlops__pnode *nd = pn + t * per;
        uint32_t i = 0;
        for (unsigned d = 0; d < D; d++)
            i = pstep(nd, i, row, 0);
        if (one_group)
            sum += pl[t * (per + 1) + i - per];
        else
            acc[groups[t]] += pl[t * (per + 1) + i - per];
    }
    if (one_group) acc[0] = sum;
}

#if defined(__GNUC__)
#define MLOPS__NOINLINE __attribute__((noinline))
#else
#define MLOPS__NOINLINE
#endif

/* A doubled row on the perfect run sg. */
static MLOPS__NOINLINE void row_perfect_doubled(const mlops__forest *f, const mlops__segment *sg,
                                                const uint32_t *row, float *acc) {
    _Static_assert(MLOPS__PERFECT_MAX_DEPTH == 10, "one case per depth 1..MLOPS__PERFECT_MAX_DEPTH");
    /* Nodes beyond what the L1/L2 caches keep: prefetch children. */
    int big = f->wide;
    switch (sg->depth) {
#define ROW_CASE(d)                                                                                          \
    case d:                                                                                                  \
        if (f->n_groups == 1 && big)                                                                         \
            row_perfect_d(f, sg, row, acc, d, 1, 1);                                                         \
        else if (f->n_groups == 1)                                                                           \
            row_perfect_d(f, sg, row, acc, d, 1, 0);                                                         \
        else                                                                                                 \
            row_perfect_d(f, sg, row, acc, d, 0, big);                                                       \
        break;
        ROW_CASE(1)
        ROW_CASE(2)
        ROW_CASE(3)
        ROW_CASE(4)
        ROW_CASE(5)
        ROW_CASE(6)
        ROW_CASE(7)
        ROW_CASE(8)
        ROW_CASE(9)
        ROW_CASE(10)
#undef ROW_CASE
    default: /* depth 0: every tree is a single leaf */
        row_perfect_d(f, sg, row, acc, 0, f->n_groups == 1, 0);
    }
}

/* Batch: a doubled feature-major block, one tree at a time, BLOCK_LANES rows
 * side by side. */
MLOPS__INLINE void block_perfect_s(const mlops__forest *f, const mlops__segment *sg, const uint32_t *xt,
                                   unsigned shift, size_t R, float *acc) {
    size_t G = f->n_groups;
    unsigned D = sg->depth;
    size_t per = ((size_t)1 << D) - 1;
    for (size_t t = sg->t0; t < sg->t1; t++) {
        const mlops__pnode *nd = f->pnodes + sg->pnode0 + (t - sg->t0) * per;
#if defined(__GNUC__)
        __asm__("" : "+r"(nd)); /* see row_perfect_d */
#endif
        const float *lv = f->pleaves + sg->pleaf0 + (t - sg->t0) * (per + 1);
        float *a = acc + f->groups[t];
        for (size_t r0 = 0; r0 < R; r0 += BLOCK_LANES) {
            uint32_t i[BLOCK_LANES];
            for (int k = 0; k < BLOCK_LANES; k++)
                i[k] = 0;
            const uint32_t *xr = xt + r0;
#if defined(__GNUC__)
            __asm__("" : "+r"(xr)); /* x at a constant offset from a register */
#endif
            for (unsigned d = 0; d < D; d++) {
                MLOPS__UNROLL
                for (int k = 0; k < BLOCK_LANES; k++) {
                    i[k] = pstep(nd, i[k], xr + k, shift);
                    MLOPS__LANE_DONE(i[k]);
                }
            }
            size_t kn = R - r0 < BLOCK_LANES ? R - r0 : BLOCK_LANES;
            for (size_t k = 0; k < kn; k++)
                a[(r0 + k) * G] += lv[i[k] - per];
        }
    }
}

/* Batch on forests beyond the L1/L2 caches (f->wide): one tree at a time,
 * every row of the block side by side, one level at a time. The node a row
 * visits next is known one level (R steps) before it is read, so it is
 * prefetched then: the cache misses of R rows overlap instead of BLOCK_LANES
 * (with 16 lanes a 1,000-tree depth-10 forest waited on memory at every
 * level and ran slower per row than single rows). Same compares, same
 * additions in the same order as block_perfect_s. */
static MLOPS__NOINLINE void block_perfect_wide(const mlops__forest *f, const mlops__segment *sg,
                                               const uint32_t *xt, unsigned shift, size_t R, float *acc,
                                               uint32_t *i) {
    size_t G = f->n_groups;
    unsigned D = sg->depth;
    size_t per = ((size_t)1 << D) - 1;
    for (size_t t = sg->t0; t < sg->t1; t++) {
        const mlops__pnode *nd = f->pnodes + sg->pnode0 + (t - sg->t0) * per;
        const float *lv = f->pleaves + sg->pleaf0 + (t - sg->t0) * (per + 1);
        for (size_t k = 0; k < R; k++)
            i[k] = 0;
        /* The last level apart (it prefetches leaf values): clang 14 kept
         * one loop with a select per row (cmov of two addresses) and ran
         * 1.4x slower than gcc, which splits it this way itself. */
        for (unsigned d = 0; d + 1 < D; d++) {
            for (size_t k = 0; k < R; k++) {
                uint32_t next = pstep(nd, i[k], xt + k, shift);
#if defined(__GNUC__)
                __builtin_prefetch(nd + next);
#endif
                i[k] = next;
            }
        }
        if (D > 0) {
            for (size_t k = 0; k < R; k++) {
                uint32_t next = pstep(nd, i[k], xt + k, shift);
#if defined(__GNUC__)
                __builtin_prefetch(lv + (next - per));
#endif
                i[k] = next;
            }
        }
        if (t + 1 < sg->t1) {
#if defined(__GNUC__)
            __builtin_prefetch(nd + per); /* the next tree's root */
#endif
        }
        float *a = acc + f->groups[t];
        for (size_t k = 0; k < R; k++)
            a[k * G] += lv[i[k] - per];
    }
}

/* Rows [0, R) of x as a doubled feature-major block of floats in xt (see
 * native_internal.h), 1 << shift rows per column. */
static void fill_block(const float *x, size_t R, size_t n_cols, float missing, float *xt, unsigned shift) {
    size_t cap = (size_t)1 << shift;
    for (size_t j = 0; j < n_cols; j++) {
        float *lo = xt + ((2 * j) << shift), *hi = lo + cap;
        for (size_t r = 0; r < R; r++) {
            float v = x[r * n_cols + j];
            int miss = (v != v) | (v == missing);
            lo[r] = miss ? -INFINITY : v;
            hi[r] = miss ? INFINITY : v;
        }
        for (size_t r = R; r < cap; r++)
            lo[r] = hi[r] = 0.0f;
    }
}

/* ---- batches on the compact layout: trees [t0, t1), a doubled
 * feature-major block of rows, one tree at a time, BLOCK_LANES rows side by
 * side ---- */
static void block_trees(const mlops__forest *f, size_t t0, size_t t1, const float *xt, unsigned shift, size_t R,
                        float *acc) {
    size_t G = f->n_groups;
    for (size_t t = t0; t < t1; t++) {
        const mlops__fnode *root = f->nodes + f->roots[t];
        unsigned D = f->depths[t];
        float *a = acc + f->groups[t];
        for (size_t r0 = 0; r0 < R; r0 += BLOCK_LANES) {
            const mlops__fnode *p[BLOCK_LANES];
            for (int k = 0; k < BLOCK_LANES; k++)
                p[k] = root;
            const float *xr = xt + r0;
            for (unsigned d = 0; d < D; d++) {
                MLOPS__UNROLL
                for (int k = 0; k < BLOCK_LANES; k++)
                    p[k] = step(p[k], xr + k, shift);
            }
            size_t kn = R - r0 < BLOCK_LANES ? R - r0 : BLOCK_LANES;
            for (size_t k = 0; k < kn; k++)
                a[(r0 + k) * G] += leaf_value(f, p[k]);
        }
    }
}

/* The kernels' instruction set: the best this CPU has, or what f->isa forces lower. */
static mlops__isa forest_isa(const mlops__forest *f) {
    mlops__isa isa = mlops__isa_detect();
    return f->isa != MLOPS__ISA_AUTO && f->isa < isa ? f->isa : isa;
}

/* Rows [0, R) of x into acc on the per-tree layout: the perfect runs read a
 * doubled feature-major block of keys, in `big` (2 * n_cols << shift keys,
 * then 1 << shift lane indices) when given, else on the stack
 * (2 * n_cols << shift <= XT_FLOATS, R <= BLOCK_ROWS); the plain runs (mixed
 * forests) the same block as floats in xt. */
static MLOPS__NOINLINE void block_perfect(const mlops__forest *f, const float *x, size_t R, size_t n_cols,
                                          float missing, float *acc, unsigned shift, uint32_t *big, float *xt) {
    mlops__isa isa = forest_isa(f);
    if (f->bnodes && !f->no_bins && isa == MLOPS__ISA_AVX512) {
        mlops__block_bins_avx512(f, x, R, n_cols, missing, acc);
        return;
    }
    uint32_t stack_keys[XT_FLOATS], stack_lanes[BLOCK_ROWS];
    uint32_t *xk = big ? big : stack_keys;
    size_t cap = (size_t)1 << shift;
    for (size_t j = 0; j < n_cols; j++) {
        uint32_t *lo = xk + ((2 * j) << shift), *hi = lo + cap;
        for (size_t r = 0; r < R; r++) {
            float v = x[r * n_cols + j];
            int miss = (v != v) | (v == missing);
            uint32_t k = mlops__fkey(v);
            lo[r] = miss ? MLOPS__KEY_NEG_INF : k;
            hi[r] = miss ? MLOPS__KEY_POS_INF : k;
        }
        for (size_t r = R; r < cap; r++)
            lo[r] = hi[r] = 0;
    }
    if (f->mixed) fill_block(x, R, n_cols, missing, xt, shift);
    /* Vector blocks on batches: only for forests beyond the caches (1,000 x
     * depth 10: 29-33 ms vs 38-39 ms); on 500 x depth 8 (1 MB) the AVX-512
     * kernel below stays faster (9.2 vs 10.0-10.4 ms). */
    int vec = f->vkeys && f->stream && isa == MLOPS__ISA_AVX512 && n_cols <= MLOPS__VEC_MAX_FEATURES;
    for (size_t s = 0; s < f->n_segs; s++) {
        const mlops__segment *sg = &f->segs[s];
        if (!sg->perfect)
            block_trees(f, sg->t0, sg->t1, xt, shift, R, acc);
        else if (vec && sg->vec)
            mlops__rows_vec_avx512(f, sg, x, R, n_cols, missing, acc);
        else if (f->stream)
            block_perfect_wide(f, sg, xk, shift, R, acc, big ? big + ((2 * n_cols) << shift) : stack_lanes);
        else if (isa == MLOPS__ISA_AVX512)
            mlops__block_perfect_avx512(f, sg, xk, shift, R, acc);
        else if (shift == 6)
            block_perfect_s(f, sg, xk, 6, R, acc);
        else
            block_perfect_s(f, sg, xk, shift, R, acc);
    }
}

/* A doubled copy of a row (see native_internal.h); cols <= XT_FLOATS / 2. */
static void double_row(const float *row, size_t n_cols, float missing, float *d) {
    for (size_t j = 0; j < n_cols; j++) {
        float v = row[j];
        int miss = (v != v) | (v == missing);
        d[2 * j] = miss ? -INFINITY : v;
        d[2 * j + 1] = miss ? INFINITY : v;
    }
}

/* One row (2 * n_cols <= XT_FLOATS) on the per-tree layout: doubled keys for
 * the perfect runs, and for the plain runs of a mixed forest a doubled copy. */
static MLOPS__NOINLINE void row_perfect(const mlops__forest *f, const float *row, size_t n_cols,
                                        float missing, float *acc) {
    uint32_t keys[XT_FLOATS];
    float copy[XT_FLOATS];
    mlops__isa isa = forest_isa(f);
    int vec = f->vkeys && isa == MLOPS__ISA_AVX512 && n_cols <= MLOPS__VEC_MAX_FEATURES, need_keys = 0;
    for (size_t s = 0; s < f->n_segs; s++) /* the vector blocks bin the row themselves */
        need_keys |= f->segs[s].perfect && !(vec && f->segs[s].vec);
    for (size_t j = 0; need_keys && j < n_cols; j++) {
        float v = row[j];
        int miss = (v != v) | (v == missing);
        uint32_t k = mlops__fkey(v);
        keys[2 * j] = miss ? MLOPS__KEY_NEG_INF : k;
        keys[2 * j + 1] = miss ? MLOPS__KEY_POS_INF : k;
    }
    if (f->mixed) double_row(row, n_cols, missing, copy);
    for (size_t s = 0; s < f->n_segs; s++) {
        const mlops__segment *sg = &f->segs[s];
        if (sg->perfect && vec && sg->vec)
            mlops__rows_vec_avx512(f, sg, row, 1, n_cols, missing, acc);
        else if (sg->perfect)
            row_perfect_doubled(f, sg, keys, acc);
        else
            row_trees(f, sg->t0, sg->t1, copy, acc, 0);
    }
}

/* One row into acc (G margins, already holding the base margin). */
static void eval_row(const mlops__forest *f, const float *row, size_t n_cols, float missing, float *acc) {
    if (f->general || !f->fast) {
        row_gen(f, row, missing, acc);
        return;
    }
    if (f->pnodes && 2 * n_cols <= XT_FLOATS) {
        row_perfect(f, row, n_cols, missing, acc);
        return;
    }
    int has_missing = 0;
    for (size_t j = 0; j < n_cols; j++)
        has_missing |= (row[j] != row[j]) | (row[j] == missing);
    if (!has_missing) {
        row_trees(f, 0, f->n_trees, row, acc, 1);
    } else if (2 * n_cols <= XT_FLOATS) {
        float copy[XT_FLOATS];
        double_row(row, n_cols, missing, copy);
        row_trees(f, 0, f->n_trees, copy, acc, 0);
    } else {
        row_gen(f, row, missing, acc);
    }
}

/* Rows [0, R) of x into acc (R x G margins holding the base margin), compact layout. */
static void eval_block(const mlops__forest *f, const float *x, size_t R, size_t n_cols, float missing,
                       float *acc, float *xt, unsigned shift) {
    fill_block(x, R, n_cols, missing, xt, shift);
    block_trees(f, 0, f->n_trees, xt, shift, R, acc);
}

void mlops__forest_eval(const mlops__forest *f, const float *x, size_t n_rows, size_t n_cols, float missing,
                        int margin, float *out) {
    size_t G = f->n_groups;
    int scratch = !margin && f->transform == MLOPS__TX_SOFTMAX;
    size_t width = mlops__forest_output_width(f, margin);
    float tmp[SOFTMAX_SCRATCH];
    /* Block height: a power of two, 8..BLOCK_ROWS, with the block in xt. */
    unsigned shift = 0;
    while (((size_t)2 << shift) <= BLOCK_ROWS && ((size_t)2 << shift) * 2 * n_cols <= XT_FLOATS)
        shift++;
    size_t block = (size_t)1 << shift;
    int blocked = n_rows > 1 && f->fast && !f->general && block >= BLOCK_LANES;
    if (!blocked) block = 1;
    if (scratch && block * G > SOFTMAX_SCRATCH) {
        size_t fit = SOFTMAX_SCRATCH / G;
        while (block > fit && block > BLOCK_LANES) {
            block /= 2;
            shift--;
        }
        if (block > fit) {
            blocked = 0;
            block = 1;
        }
    }
    /* Forests beyond the caches stream every tree once per block: larger
     * blocks (on the heap) read them less often. Without the memory, the
     * stack-sized blocks (a mixed forest's plain runs: a float block after
     * the keys and lanes). */
    uint32_t *big = NULL;
    float xt_stack[XT_FLOATS], *xt = xt_stack;
    if (blocked && f->pnodes && f->wide && !scratch && n_rows > block) {
        unsigned s2 = shift;
        while (((size_t)2 << s2) <= WIDE_BLOCK_ROWS && ((size_t)2 << s2) * 2 * n_cols <= WIDE_BLOCK_KEYS)
            s2++;
        size_t keys = (2 * n_cols) << s2, lanes = (size_t)1 << s2, floats = f->mixed ? keys : 0;
        if (s2 > shift) big = mlops__malloc((keys + lanes) * sizeof(uint32_t) + floats * sizeof(float));
        if (big) {
            shift = s2;
            block = (size_t)1 << s2;
            if (floats) xt = (float *)(void *)(big + keys + lanes);
        }
    }
    for (size_t r0 = 0; r0 < n_rows; r0 += block) {
        size_t R = n_rows - r0 < block ? n_rows - r0 : block;
        const float *xb = x + r0 * n_cols;
        float *acc = scratch ? tmp : out + r0 * G;
        for (size_t r = 0; r < R; r++)
            for (size_t g = 0; g < G; g++)
                acc[r * G + g] = f->base_margins[g];
        if (blocked && R > 1 && f->pnodes)
            block_perfect(f, xb, R, n_cols, missing, acc, shift, big, xt);
        else if (blocked && R > 1)
            eval_block(f, xb, R, n_cols, missing, acc, xt, shift);
        else
            for (size_t r = 0; r < R; r++)
                eval_row(f, xb + r * n_cols, n_cols, missing, acc + r * G);
        finish_rows(f, acc, R, margin, out + r0 * width);
    }
    mlops__free(big);
}

/* ---- worker pool (n_threads > 1) ----
 * Owned by the forest, started on the first multi-threaded call, joined in
 * mlops__forest_free. One caller at a time owns it (an atomic flag, never a
 * lock); a concurrent caller just evaluates on its own thread.
 *
 * Protocol. `gen` is the job's generation, `remaining` the workers that have
 * not finished it. Only the owning caller writes the job and `gen`:
 *   caller:  write job; remaining = n_started; lock; gen++; broadcast `work`;
 *            unlock; run part 0; wait until remaining == 0 (spin, then `done`).
 *   worker:  wait until gen != seen (spin, then `work`); seen = gen;
 *            run part (index + 1); remaining--; the one reaching 0 signals
 *            `done` under the lock.
 * Invariant: gen moves only while remaining == 0, i.e. after every started
 * worker has finished generation gen and recorded it in `seen`. So a worker
 * that observes gen != seen sees exactly seen + 1: it runs each generation
 * exactly once, and `remaining` reaches 0 exactly when every worker has
 * written its rows (release by the decrement, acquire by the caller) — the
 * call never returns while a worker still writes. Sleeping on both sides
 * re-checks the condition under `mu`, and both condition changes that matter
 * (gen++, the last decrement's signal) happen under `mu`, so no wakeup is
 * lost. Spins are short and bounded; idle workers sleep in the condvar. */

#define SPIN_ROUNDS 2000

struct mlops__pool {
    atomic_flag busy;
    unsigned n_started;
    atomic_uint gen;
    atomic_uint remaining;
    atomic_int shutdown;
    pthread_mutex_t mu;
    pthread_cond_t work; /* gen changed */
    pthread_cond_t done; /* remaining reached 0 */
    pthread_t threads[MLOPS__MAX_WORKERS];
    /* the current job (written before `gen` is bumped) */
    const mlops__forest *f;
    const float *x;
    float *out;
    size_t n_rows, n_cols, per_part, width, parts;
    float missing;
    int margin;
};

typedef struct {
    mlops__pool *pool;
    unsigned index;
    unsigned gen; /* the generation already handled when the worker starts */
} worker_arg;

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void run_part(mlops__pool *p, size_t part) {
    size_t r0 = part * p->per_part;
    if (part >= p->parts || r0 >= p->n_rows) return;
    size_t n = p->n_rows - r0 < p->per_part ? p->n_rows - r0 : p->per_part;
    mlops__forest_eval(p->f, p->x + r0 * p->n_cols, n, p->n_cols, p->missing, p->margin,
                       p->out + r0 * p->width);
}

/* Wait for a generation other than `seen`; returns it. */
static unsigned await_job(mlops__pool *p, unsigned seen) {
    unsigned g;
    for (int spins = 0; spins < SPIN_ROUNDS; spins++) {
        if ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) != seen) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen)
        pthread_cond_wait(&p->work, &p->mu);
    pthread_mutex_unlock(&p->mu);
    return g;
}

/* Wait until every worker finished the current generation. */
static void await_workers(mlops__pool *p) {
    for (int spins = 0; spins < SPIN_ROUNDS; spins++) {
        if (atomic_load_explicit(&p->remaining, memory_order_acquire) == 0) return;
        cpu_relax();
    }
    pthread_mutex_lock(&p->mu);
    while (atomic_load_explicit(&p->remaining, memory_order_acquire) != 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static void *worker_main(void *arg) {
    mlops__pool *p = ((worker_arg *)arg)->pool;
    unsigned i = ((worker_arg *)arg)->index;
    unsigned seen = ((worker_arg *)arg)->gen;
    mlops__free(arg);
    for (;;) {
        seen = await_job(p, seen);
        if (atomic_load_explicit(&p->shutdown, memory_order_acquire)) break;
        run_part(p, i + 1);
        if (atomic_fetch_sub_explicit(&p->remaining, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
    return NULL;
}

/* Start generation gen + 1 (the caller owns the pool, remaining == 0). */
static void publish(mlops__pool *p) {
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
}

mlops__pool *mlops__pool_create(void) {
    mlops__pool *p = mlops__calloc(1, sizeof *p);
    if (!p) return NULL;
    atomic_flag_clear(&p->busy);
    atomic_init(&p->gen, 0);
    atomic_init(&p->remaining, 0);
    atomic_init(&p->shutdown, 0);
    if (pthread_mutex_init(&p->mu, NULL) != 0) goto fail_mu;
    if (pthread_cond_init(&p->work, NULL) != 0) goto fail_work;
    if (pthread_cond_init(&p->done, NULL) != 0) goto fail_done;
    return p;
fail_done:
    pthread_cond_destroy(&p->work);
fail_work:
    pthread_mutex_destroy(&p->mu);
fail_mu:
    mlops__free(p);
    return NULL;
}

/* No call may be running (the forest is being freed). */
void mlops__pool_destroy(mlops__pool *p) {
    if (!p) return;
    atomic_store_explicit(&p->shutdown, 1, memory_order_relaxed);
    publish(p);
    for (unsigned i = 0; i < p->n_started; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    mlops__free(p);
}

/* Rows per thread below which splitting does not pay. */
#define MIN_ROWS_PER_THREAD 16

mlops_status mlops__forest_predict(const mlops__forest *forest, const float *x, size_t n_rows, size_t n_cols,
                                   float missing, int margin, int n_threads, float *out) {
    if (!forest) return mlops__fail(MLOPS_EINVAL, "native engine: predict on a NULL forest");
    if (n_rows == 0) return MLOPS_OK;
    if (!x || !out) return mlops__fail(MLOPS_EINVAL, "native engine: NULL input or output buffer");
    if (n_cols != forest->n_features)
        return mlops__fail(MLOPS_ESHAPE, "native engine: rows have %zu columns, the model expects %u", n_cols,
                           forest->n_features);
    size_t parts = n_threads > 1 ? (size_t)n_threads : 1;
    if (parts > MLOPS__MAX_WORKERS + 1) parts = MLOPS__MAX_WORKERS + 1;
    if (parts > n_rows / MIN_ROWS_PER_THREAD) parts = n_rows / MIN_ROWS_PER_THREAD;
    mlops__pool *p = forest->pool;
    if (parts < 2 || !p || atomic_flag_test_and_set_explicit(&p->busy, memory_order_acquire)) {
        mlops__forest_eval(forest, x, n_rows, n_cols, missing, margin, out);
        return MLOPS_OK;
    }
    /* We own the pool until the flag is cleared. */
    while (p->n_started + 1 < parts) {
        worker_arg *a = mlops__malloc(sizeof *a);
        if (!a) break;
        a->pool = p;
        a->index = p->n_started;
        a->gen = atomic_load_explicit(&p->gen, memory_order_relaxed);
        if (pthread_create(&p->threads[p->n_started], NULL, worker_main, a) != 0) {
            mlops__free(a);
            break;
        }
        p->n_started++;
    }
    if (parts > p->n_started + 1) parts = p->n_started + 1;
    p->f = forest;
    p->x = x;
    p->out = out;
    p->n_rows = n_rows;
    p->n_cols = n_cols;
    p->missing = missing;
    p->margin = margin;
    p->width = mlops__forest_output_width(forest, margin);
    p->parts = parts;
    p->per_part = (n_rows + parts - 1) / parts;
    /* Every started worker takes part (those beyond `parts` do nothing). */
    atomic_store_explicit(&p->remaining, p->n_started, memory_order_relaxed);
    publish(p);
    run_part(p, 0);
    await_workers(p);
    atomic_flag_clear_explicit(&p->busy, memory_order_release);
    return MLOPS_OK;
}
