/* Private layout of the native flattened forest, shared by native_build.c and
 * native_eval.c. Never included outside lib/engine/. */
#ifndef MLOPS_ENGINE_NATIVE_INTERNAL_H
#define MLOPS_ENGINE_NATIVE_INTERNAL_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

/* One node: 8 bytes.
 *   v     split threshold (numeric split); for a leaf a quiet NaN whose
 *         payload indexes the forest's leaf values (already multiplied by the
 *         dart tree weight); for a categorical split (read through `cat`)
 *         an index into the category pool.
 *   info  bits  0..16 column: 2 * feature + (missing goes right). The fast
 *                     kernels read a "doubled" row where column 2j is feature
 *                     j with NaN replaced by -inf and column 2j + 1 the same
 *                     with NaN replaced by +inf: with a finite or +inf
 *                     threshold, `x >= t` then takes the default direction
 *                     for a missing value and is exact for every other one,
 *                     so the kernels never test for NaN.
 *         bit  17     categorical split
 *         bits 18..31 distance from this node to its left child; the right
 *                     child follows the left one. 0 marks a leaf
 *                     (leaves have info 0: column 0, and `x >= NaN` is false,
 *                     so a leaf steps onto itself).
 * Each tree is laid out breadth first, so the hot top levels are contiguous and
 * a node's two children are adjacent. */
typedef struct {
    union {
        float v;
        uint32_t cat;
    } u;
    uint32_t info;
} mlops__fnode;

#define MLOPS__FN_COLUMN_MASK 0x1FFFFu
#define MLOPS__FN_MAX_FEATURES 0x10000u
#define MLOPS__FN_CAT (1u << 17)
#define MLOPS__FN_OFFSET_SHIFT 18
#define MLOPS__FN_MAX_OFFSET ((1u << (32 - MLOPS__FN_OFFSET_SHIFT)) - 1u)
#define MLOPS__LEAF_NAN 0x7FC00000u
#define MLOPS__LEAF_INDEX_MASK 0x3FFFFFu                    /* up to 4M leaves per forest */
#define MLOPS__FN_LEAF_LIMIT (1u << MLOPS__FN_OFFSET_SHIFT) /* info < this: leaf */

/* Perfect layout (per tree: trees at most MLOPS__PERFECT_MAX_DEPTH deep whose
 * padding stays small, see mlops__segment): a tree of depth D padded to a
 * complete binary tree of 2^D - 1 nodes in heap order (children
 * of i at 2i + 1 and 2i + 2) followed, in a separate array, by its 2^D leaf
 * values. A leaf above depth D becomes a pass-through node whose whole subtree
 * holds its value, so every row walks exactly D levels with
 * idx = 2 * idx + 1 + (x >= t) and reads the value at idx - (2^D - 1): no
 * leaf tests, no offsets, same value added. */
typedef struct {
    uint32_t key; /* threshold as an order key (mlops__fkey) */
    uint32_t col; /* doubled column (2 * feature + missing goes right) */
} mlops__pnode;

/* Order key of a non-NaN float: unsigned keys compare as the floats do
 * (x >= t iff key(x) >= key(t)); v + 0.0f turns -0 into +0 and changes
 * nothing else. */
static inline uint32_t mlops__fkey(float v) {
    union {
        float f;
        uint32_t u;
    } c;
    c.f = v + 0.0f;
    uint32_t sign = (uint32_t)0 - (c.u >> 31); /* all ones when negative */
    return c.u ^ (sign | 0x80000000u);
}
#define MLOPS__KEY_NEG_INF 0x007FFFFFu /* mlops__fkey(-INFINITY) */
#define MLOPS__KEY_POS_INF 0xFF800000u /* mlops__fkey(INFINITY) */

/* Binned batches (issue 26, native_simd.c): per feature, the distinct
 * threshold keys of the forest sorted, so that a value becomes its bin (how
 * many of them are <= it, at most 255) and a node its rank (1 + its key's
 * index): key(x) >= key(t) iff bin >= rank (a feature with more keys gets
 * several bin columns, native_build.c make_bins). Bins are bytes, so one AVX-512
 * compare tests a node for 64 rows. `off` is the node's doubled column times
 * 64 (its bytes in a 64-row block); rank4 the rank in each byte (a dword
 * broadcast); a pass-through node has rank 0 (every bin goes right, as its
 * key 0 does). */
typedef struct {
    uint32_t rank4;
    uint32_t off;
} mlops__bnode;
#define MLOPS__BIN_MAX_DEPTH 6       /* 2^6 leaves in four zmm, bins' leaf index in a byte */
#define MLOPS__BIN_MAX_FEATURES 64u /* a 64-row block: 16 KiB of floats on the stack */
#define MLOPS__BIN_MAX_COLUMNS 128u /* and 16 KiB of doubled bins */
#define MLOPS__BIN_MISSING_HI 255u   /* a missing value in its "goes right" column: above every rank */

#define MLOPS__PERFECT_MAX_DEPTH 10

/* Vector blocks (issue 18: single rows and batches on deep perfect runs with
 * AVX-512, native_simd.c). A perfect tree of depth D is cut into blocks of 4
 * levels, 15 nodes in heap order in 16 lanes; the top block holds the
 * D - 4 * (ceil(D / 4) - 1) top levels (1..4), every other block 4. A block is
 * one 64-byte line of vkeys: per node the word (rank << 8) | column, where
 * column is the feature plus 32 when a missing value goes right, and rank is
 * 1 + the index of the node's key among its feature's distinct keys in
 * vcuts (sorted); a pass-through node (key 0) and an unused lane hold 0. The
 * row is its features' bins twice, in four zmm: bin = (r << 8) | 0xFF, r how
 * many of the feature's keys are <= key(x), so bin >= word iff key(x) >=
 * key(t); columns 0..31 with a missing value as 0, 32..63 as 0xFFFFFFFF. A
 * word is its own permute index (the low 5 bits pick the column), so two
 * permutes and a blend on bit 5 pick a block's 15 bins, and one unsigned
 * compare gives the nodes that go right (bit i: node i). One line per block
 * (no separate column bytes) halves the lines a deep forest's row touches
 * beyond the caches. The leaf
 * the row leaves a 4-level block by is l = 2 * vec_leaf3[m & 127] + bit
 * 7 + vec_leaf3[...] of m (the top 3 levels by table, the 4th by its bit); a
 * block of h < 4 levels: vec_leaf3[m & 127] >> (3 - h), its unused lanes
 * (word 0) going right. A tree's blocks are stored breadth first, left to
 * right (so the last level's blocks end in the tree's leaves in heap order),
 * trees one after another from their run's vblk0. Built only where it pays: runs at least
 * MLOPS__VEC_MIN_DEPTH deep in forests of at most MLOPS__VEC_MAX_FEATURES
 * features (each with at most MLOPS__VEC_MAX_RANK keys), on CPUs with AVX-512. */
#define MLOPS__VEC_MIN_DEPTH 7
#define MLOPS__VEC_MAX_FEATURES 32u
#define MLOPS__VEC_MAX_RANK 0xFFFFFFu /* a rank in 24 bits, below the missing-hi bin */
#define MLOPS__VEC_TAB (17u * 16u)    /* a feature's bin table: 15 splitters, then 16 lines of 16 keys */
#define MLOPS__VEC_TAB_KEYS 256u      /* the most keys a feature's table holds */

/* Blocks of one tree of depth D (1..MLOPS__PERFECT_MAX_DEPTH): 1 top block
 * with 2^h children, each the root of a 16-ary tree of 4-level blocks. */
static inline size_t mlops__vec_blocks(unsigned D) {
    unsigned nb = (D + 3) / 4, h = D - 4 * (nb - 1);
    size_t below = 0, level = (size_t)1 << h;
    for (unsigned b = 1; b < nb; b++, level *= 16)
        below += level;
    return 1 + below;
}

/* Single rows: perfect-layout node bytes above which the walk prefetches
 * (and uses wider lanes). */
#define MLOPS__PREFETCH_BYTES (256u * 1024u)

/* Batches: perfect-layout node bytes above which every row of a block walks
 * side by side, one level at a time, prefetching the next level (cache
 * misses overlap across the block's rows), rather than 16 rows in registers. */
#ifndef MLOPS__STREAM_BYTES
#define MLOPS__STREAM_BYTES (4u * 1024u * 1024u)
#endif

/* The transform applied to margins when margin output is not requested. */
typedef enum {
    MLOPS__TX_IDENTITY = 0,
    MLOPS__TX_SIGMOID,    /* reg:logistic, binary:logistic (common::Sigmoid) */
    MLOPS__TX_EXP,        /* count:poisson, reg:gamma, reg:tweedie, survival:cox: expf */
    MLOPS__TX_EXP_DOUBLE, /* survival:aft: (float)exp((double)x) */
    MLOPS__TX_HINGE,      /* binary:hinge: x > 0 ? 1 : 0 */
    MLOPS__TX_SOFTPROB,   /* multi:softprob: softmax per row */
    MLOPS__TX_SOFTMAX     /* multi:softmax: index of the largest margin */
} mlops__transform;

/* Trees walked side by side on the single-row path. */
#define MLOPS__TREE_LANES 8
/* Most classes multi:softmax may have (its margins live on the stack). */
#define MLOPS__MAX_SOFTMAX_CLASSES 1024u
/* Most worker threads a forest will start. */
#define MLOPS__MAX_WORKERS 31

typedef struct mlops__pool mlops__pool;

/* Instruction sets of the batch kernels (native_simd.c). A forest's `isa`
 * is MLOPS__ISA_AUTO (0, what the build's calloc leaves): the best this CPU
 * has; the tests set a lower one to run every kernel. */
typedef enum { MLOPS__ISA_AUTO = 0, MLOPS__ISA_SCALAR, MLOPS__ISA_AVX512 } mlops__isa;
/* (MLOPS__ISA_AVX512: AVX-512 F and BW.) */

/* The best kernel set this CPU and OS support, detected once per process
 * (thread-safe). Under valgrind (no AVX-512 in its CPUID): scalar. */
mlops__isa mlops__isa_detect(void);

/* Layout per tree (issue 24): a run of consecutive trees stored the same way.
 * Perfect runs hold trees of one depth, each padded to a complete tree of
 * that depth in pnodes/pleaves (from pnode0/pleaf0); plain runs are walked on
 * the compact nodes. Kernels take the runs in tree order, so every output
 * still adds its trees' leaf values in tree order. */
typedef struct {
    uint32_t t0, t1; /* trees [t0, t1) */
    unsigned depth;  /* perfect: levels of every tree in the run */
    int perfect;
    size_t pnode0, pleaf0;
    int vec;      /* vector blocks for this run (f->vkeys from block vblk0) */
    size_t vblk0;
} mlops__segment;

/* Which trees get the perfect layout: by measurement (a tree of depth d
 * only when its 2^(d+1) - 1 padded entries are at most MLOPS__PERFECT_RATIO
 * times its compact nodes, plus slack for small trees), none, or (tests) a
 * mix: the measured choice with runs of trees kept plain (native_build.c), or
 * every tree that can be (benchmarks: the choice measured against). */
typedef enum { MLOPS__LAYOUT_MEASURED = 0, MLOPS__LAYOUT_PLAIN, MLOPS__LAYOUT_MIXED, MLOPS__LAYOUT_PERFECT } mlops__layout;
#define MLOPS__PERFECT_RATIO 4u
#define MLOPS__PERFECT_SLACK 32u
#define MLOPS__MIN_PLAIN_RUN 16u /* shorter runs of sparse trees are padded too */

/* Rebuild the per-tree layout (the compact nodes of every tree stay); 0 on
 * ENOMEM, the forest unchanged. Not thread-safe: no predict may run. */
int mlops__forest_layout(mlops__forest *f, mlops__layout layout);

/* mlops__forest_build keeping every tree's compact nodes, so that
 * mlops__forest_layout can lay the forest out again (tests, benchmarks). */
mlops_status mlops__forest_build_keep(const char *json, size_t len, unsigned iteration_begin,
                                      unsigned iteration_end, mlops__forest **out);

struct mlops__forest {
    mlops__fnode *nodes;   /* the trees (all, or the plain ones: partial), breadth first, one after another */
    uint32_t *roots;       /* n_trees: index of each tree's root in nodes */
    uint32_t *groups;      /* n_trees: output group of each tree */
    uint8_t *depths;       /* n_trees: levels to reach the deepest leaf */
    uint8_t *chunk_depths; /* per MLOPS__TREE_LANES trees: the deepest of them */
    uint32_t *cats;        /* category pool: per categorical node [n_words, words...] */
    size_t n_trees, n_nodes, n_cat_words;
    unsigned n_features, n_groups;
    float *base_margins; /* n_groups: base_score per output in margin space (ProbToMargin) */
    mlops__transform transform;
    int has_cat;
    int general;          /* categorical splits or a -inf threshold: the plain walker */
    int fast;             /* 1: lane kernels; 0: the plain walker everywhere (the tests
                             compare both against XGBoost) */
    mlops__pnode *pnodes; /* perfect layout of the perfect runs, or NULL when there are none */
    float *pleaves;       /* their leaf values */
    mlops__segment *segs; /* runs of trees by layout, in tree order (NULL with pnodes) */
    size_t n_segs;
    int mixed;     /* a run is plain: the kernels also make the float copy of the rows it reads */
    size_t pbytes; /* bytes of pnodes + pleaves */
    int partial;   /* nodes/leaves hold the plain trees only (roots of perfect trees: 0) */
    int wide;      /* single rows: ROW_LANES_BIG lanes and prefetching (node bytes
                      above MLOPS__PREFETCH_BYTES; the tests also force it) */
    int stream;    /* batches: block_perfect_wide (node bytes above MLOPS__STREAM_BYTES;
                      the tests also force it) */
    mlops__isa isa; /* batch kernels: AUTO (mlops__isa_detect), or forced lower (tests, benchmarks) */
    mlops__bnode *bnodes; /* parallel to pnodes when the binned batch kernel applies (every tree
                             perfect and at most MLOPS__BIN_MAX_DEPTH deep, one output, see
                             native_build.c make_bins), else NULL */
    size_t n_bin_cols;    /* bin columns: one per feature, more for one with over 255 thresholds */
    uint32_t *bin_keys;   /* per bin column, 256: its (at most 255) distinct threshold keys sorted,
                             padded with UINT32_MAX, as two levels of 16 (native_build.c make_bins) */
    uint8_t *bin_counts;  /* per bin column: how many keys */
    uint16_t *bin_feature; /* per bin column: its feature */
    int no_bins;    /* tests, benchmarks: the other AVX-512 kernel on a forest with bins */
    uint32_t *vkeys;  /* vector blocks of the runs with sg->vec (64-byte aligned in vraw), else NULL */
    uint32_t *vcuts;  /* per feature, the distinct keys of the vector blocks' nodes, sorted (in vraw) */
    uint32_t vcut0[MLOPS__VEC_MAX_FEATURES + 1]; /* feature j's keys: vcuts[vcut0[j] .. vcut0[j + 1]) */
    uint32_t *vtab;   /* per feature, MLOPS__VEC_TAB words (in vraw): with 1..256 keys, its keys as two
                         levels of 16 lines, for a row's bin in two compares (native_build.c vec_tables) */
    void *vraw;
    uint8_t vec_leaf3[128]; /* a 3-level block's leaf by its right-going mask, see MLOPS__VEC_MIN_DEPTH */
    float *leaves;  /* leaf values, indexed by the leaf's NaN payload */
    size_t n_leaves;
    size_t bytes;
    mlops__pool *pool; /* worker threads for n_threads > 1, started on first use */
};

/* Evaluate rows [0, n_rows) on the calling thread. */
void mlops__forest_eval(const mlops__forest *f, const float *x, size_t n_rows, size_t n_cols, float missing,
                        int margin, float *out);

/* Batch kernel of native_simd.c for the perfect run sg (block_perfect_s with
 * AVX-512: needs mlops__isa_detect() == MLOPS__ISA_AVX512). */
void mlops__block_perfect_avx512(const mlops__forest *f, const mlops__segment *sg, const uint32_t *xk,
                                 unsigned shift, size_t R, float *acc);

/* Binned kernel of native_simd.c: rows [0, R) of x (n_cols each, `missing`
 * as in mlops__forest_eval) on every tree, into acc (one output per row,
 * holding the base margin). Needs f->bnodes and mlops__isa_detect() ==
 * MLOPS__ISA_AVX512. */
void mlops__block_bins_avx512(const mlops__forest *f, const float *x, size_t R, size_t n_cols, float missing,
                              float *acc);

/* Rows [0, R) of x (n_cols <= MLOPS__VEC_MAX_FEATURES each, `missing` as in
 * mlops__forest_eval) on the perfect run sg, which has vector blocks, into
 * acc (G outputs per row, holding what came before). Needs
 * mlops__isa_detect() == MLOPS__ISA_AVX512. */
void mlops__rows_vec_avx512(const mlops__forest *f, const mlops__segment *sg, const float *x, size_t R,
                            size_t n_cols, float missing, float *acc);

void mlops__pool_destroy(mlops__pool *pool);
mlops__pool *mlops__pool_create(void);

#endif
