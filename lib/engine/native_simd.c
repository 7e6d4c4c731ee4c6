/* Native engine, part 3: batch kernels with explicit SIMD (issue 18), chosen
 * at run time (mlops__isa_detect) with the portable kernels of native_eval.c
 * as the fallback.
 *
 * Perfect runs, a doubled feature-major block of order keys (native_eval.c,
 * block_perfect): the top levels of a tree hold few nodes, so rather than
 * walking each row down them (one dependent load chain per row and level),
 * every top node compares all 64 rows of a chunk at once: a contiguous load of
 * the node's column and one unsigned compare per 16 rows gives a 64-bit mask
 * of the rows that would go right there. Bit masks of the rows that reach
 * each node (left child: reach & ~right, right child: reach & right) give,
 * per level, the rows that went right, and from those each row's heap index
 * below the top levels. Deeper levels walk 16 rows side by side as in
 * block_perfect_s; a run of depth <= TOP_LEVELS is done entirely in vectors
 * and reads its leaf values by a permute.
 *
 * Same compares (key(x) >= key(t)) and, per row, the same one float add per
 * tree in tree order as the portable kernels: outputs are bit-identical (the
 * differential test runs every ISA level this machine has).
 *
 * Tried and dropped (issue 18, this machine, AMD EPYC with AVX-512): a 16-row
 * gather of the row keys per level (a zmm gather costs about as much as 16
 * scalar loads, so no gain over the scalar lanes); top levels beyond 4
 * (level 4 has 16 nodes: 16 vector compares per 16 rows cost more than
 * 16 scalar steps). */
#include "native_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define MLOPS__HAVE_X86_SIMD 1
#include <immintrin.h>
#endif

/* Rows of a chunk compared at once (four zmm), and the levels done in vectors. */
#define CHUNK_ROWS 64
#define TOP_LEVELS 4
#define LANES 16

mlops__isa mlops__isa_detect(void) {
    static _Atomic int cached = -1;
    int isa = atomic_load_explicit(&cached, memory_order_relaxed);
    if (isa >= 0) return (mlops__isa)isa;
    isa = MLOPS__ISA_SCALAR;
#if defined(MLOPS__HAVE_X86_SIMD)
    /* Also checks that the OS saves the registers (XCR0); valgrind hides
     * AVX-512 from CPUID, so the scalar kernels run there. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) isa = MLOPS__ISA_AVX512;
#endif
    atomic_store_explicit(&cached, isa, memory_order_relaxed);
    return (mlops__isa)isa;
}

#if defined(MLOPS__HAVE_X86_SIMD)

#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpass-failed"
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 16")
#endif
/* Each scalar lane's index in a register after every step: see
 * MLOPS__LANE_DONE in native_eval.c for clang; with AVX-512 enabled gcc also
 * packs the 16 lanes' steps into vectors otherwise (inserts and extracts
 * around every load: slower than the portable kernel). */
#define LANE_DONE(v) __asm__("" : "+r"(v))

#define AVX512 __attribute__((target("avx512f")))
#define AVX512_INLINE static inline __attribute__((always_inline, target("avx512f")))

/* Rows r0 .. r0 + 16 * nv of the block going right at node n (bit r: row r0 + r). */
AVX512_INLINE uint64_t rows_right(const mlops__pnode *n, const uint32_t *xk, unsigned shift, size_t r0,
                                  const unsigned nv) {
    const uint32_t *x = xk + ((size_t)n->col << shift) + r0;
    __m512i key = _mm512_set1_epi32((int)n->key);
    uint64_t m = _mm512_cmpge_epu32_mask(_mm512_loadu_si512(x), key);
    for (unsigned g = 1; g < nv; g++)
        m |= (uint64_t)_mm512_cmpge_epu32_mask(_mm512_loadu_si512(x + LANES * g), key) << (LANES * g);
    return m;
}

/* The heap index after the top V levels of tree nd for the rows of a chunk,
 * 16 per vector in idx[0 .. nv). */
AVX512_INLINE void top_levels(const mlops__pnode *nd, const uint32_t *xk, unsigned shift, size_t r0,
                              const unsigned nv, const unsigned V, __m512i *idx) {
    uint64_t reach[1u << TOP_LEVELS], right_at[TOP_LEVELS];
    reach[0] = ~(uint64_t)0;
    UNROLL
    for (unsigned d = 0; d < V; d++) {
        right_at[d] = 0;
        for (unsigned n = (1u << d) - 1; n < (2u << d) - 1; n++) {
            uint64_t right = reach[n] & rows_right(nd + n, xk, shift, r0, nv);
            if (d + 1 < V) {
                reach[2 * n + 1] = reach[n] & ~right;
                reach[2 * n + 2] = right;
            }
            right_at[d] |= right;
        }
    }
    /* Level d's direction is bit V - 1 - d of the index among level V's nodes. */
    for (unsigned g = 0; g < nv; g++) {
        __m512i i = _mm512_set1_epi32((int)((1u << V) - 1));
        UNROLL
        for (unsigned d = 0; d < V; d++)
            i = _mm512_mask_add_epi32(i, (__mmask16)(right_at[d] >> (LANES * g)), i,
                                      _mm512_set1_epi32((int)(1u << (V - 1 - d))));
        idx[g] = i;
    }
}

/* Add 16 leaf values to rows r .. r + kn of acc (G outputs per row). */
AVX512_INLINE void add_leaves(float *a, size_t G, size_t kn, __m512 v) {
    if (G == 1) {
        __mmask16 k = (__mmask16)(kn >= LANES ? 0xFFFFu : (1u << kn) - 1u);
        _mm512_mask_storeu_ps(a, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, a), v));
        return;
    }
    float t[LANES];
    _mm512_storeu_ps(t, v);
    for (size_t k = 0; k < kn; k++)
        a[k * G] += t[k];
}

/* Tree nd's top V levels for the rows r0 .. r0 + 16 * nv: heap indices into ix. */
AVX512_INLINE void top_store(const mlops__pnode *nd, const uint32_t *xk, unsigned shift, size_t r0,
                             const unsigned nv, const unsigned V, uint32_t *ix) {
    __m512i idx[CHUNK_ROWS / LANES];
    top_levels(nd, xk, shift, r0, nv, V, idx);
    for (unsigned g = 0; g < nv; g++)
        _mm512_storeu_si512(ix + LANES * g, idx[g]);
}

/* Trees of run sg over rows [0, R) of the block, chunks of 16 * nv rows;
 * V = min(depth, TOP_LEVELS) levels in vectors. */
AVX512_INLINE void block_run(const mlops__forest *f, const mlops__segment *sg, const uint32_t *xk,
                             unsigned shift, size_t R, float *acc, const unsigned nv, const unsigned V) {
    size_t G = f->n_groups;
    unsigned D = sg->depth;
    size_t per = ((size_t)1 << D) - 1, step = LANES * nv;
    const mlops__pnode *pn = f->pnodes + sg->pnode0;
    const float *pl = f->pleaves + sg->pleaf0;
    if (V == D) { /* the whole tree in vectors: its 2^D <= 16 leaves in a register */
        for (size_t t = sg->t0; t < sg->t1; t++) {
            const mlops__pnode *nd = pn + (t - sg->t0) * per;
            __m512 leaves =
                _mm512_maskz_loadu_ps((__mmask16)((1u << (1u << V)) - 1u), pl + (t - sg->t0) * (per + 1));
            float *a = acc + f->groups[t];
            for (size_t r0 = 0; r0 < R; r0 += step) {
                __m512i idx[CHUNK_ROWS / LANES];
                top_levels(nd, xk, shift, r0, nv, V, idx);
                for (unsigned g = 0; g < nv && r0 + LANES * g < R; g++) {
                    size_t r = r0 + LANES * g, kn = R - r < LANES ? R - r : LANES;
                    __m512i leaf = _mm512_sub_epi32(idx[g], _mm512_set1_epi32((int)per));
                    add_leaves(a + r * G, G, kn, _mm512_permutexvar_ps(leaf, leaves));
                }
            }
        }
        return;
    }
    /* Deeper trees: the levels below walk 16 rows side by side, as
     * block_perfect_s. The top levels of the next (tree, chunk) are computed
     * before the lanes walk this one, so the lanes' loads of their start
     * indices never wait on the vector stores just made. */
    uint32_t ix[2][CHUNK_ROWS];
    size_t t = sg->t0, r0 = 0, tn = t, rn = 0;
    top_store(pn, xk, shift, 0, nv, V, ix[0]);
    for (unsigned cur = 0; t < sg->t1; cur ^= 1u, t = tn, r0 = rn) {
        rn += step;
        if (rn >= R) {
            rn = 0;
            tn++;
        }
        if (tn < sg->t1) top_store(pn + (tn - sg->t0) * per, xk, shift, rn, nv, V, ix[cur ^ 1u]);
        const mlops__pnode *nd = pn + (t - sg->t0) * per;
        __asm__("" : "+r"(nd)); /* see row_perfect_d */
        const float *lv = pl + (t - sg->t0) * (per + 1);
        float *a = acc + f->groups[t];
        for (unsigned g = 0; g < nv && r0 + LANES * g < R; g++) {
            size_t r = r0 + LANES * g, kn = R - r < LANES ? R - r : LANES;
            uint32_t i[LANES];
            UNROLL
            for (int k = 0; k < LANES; k++) {
                i[k] = ix[cur][LANES * g + k];
                LANE_DONE(i[k]); /* loaded straight into registers, not copied through the stack */
            }
            const uint32_t *xr = xk + r;
            __asm__("" : "+r"(xr));
            for (unsigned d = V; d < D; d++) {
                UNROLL
                for (int k = 0; k < LANES; k++) {
                    const mlops__pnode *n = nd + i[k];
                    uint32_t x = xr[k + ((size_t)n->col << shift)];
                    i[k] = 2 * i[k] + 1 + (uint32_t)(x >= n->key);
                    LANE_DONE(i[k]);
                }
            }
            if (G == 1) {
                for (size_t k = 0; k < kn; k++)
                    a[r + k] += lv[i[k] - per];
            } else {
                for (size_t k = 0; k < kn; k++)
                    a[(r + k) * G] += lv[i[k] - per];
            }
        }
    }
}

/* One case per chunk width (a block has 16, 32 or >= 64 rows) and top depth. */
#define RUN_V(nv)                                                                                            \
    switch (sg->depth < TOP_LEVELS ? sg->depth : TOP_LEVELS) {                                               \
    case 0:                                                                                                  \
        block_run(f, sg, xk, shift, R, acc, nv, 0);                                                          \
        break;                                                                                               \
    case 1:                                                                                                  \
        block_run(f, sg, xk, shift, R, acc, nv, 1);                                                          \
        break;                                                                                               \
    case 2:                                                                                                  \
        block_run(f, sg, xk, shift, R, acc, nv, 2);                                                          \
        break;                                                                                               \
    case 3:                                                                                                  \
        block_run(f, sg, xk, shift, R, acc, nv, 3);                                                          \
        break;                                                                                               \
    default:                                                                                                 \
        block_run(f, sg, xk, shift, R, acc, nv, 4);                                                          \
        break;                                                                                               \
    }

AVX512 void mlops__block_perfect_avx512(const mlops__forest *f, const mlops__segment *sg, const uint32_t *xk,
                                        unsigned shift, size_t R, float *acc) {
    _Static_assert(TOP_LEVELS == 4 && CHUNK_ROWS == 4 * LANES, "one case per top depth and chunk width");
    if (shift >= 6) {
        RUN_V(4)
    } else if (shift == 5) {
        RUN_V(2)
    } else {
        RUN_V(1)
    }
}

/* ---- binned batches (issue 26; layout: native_internal.h, mlops__bnode) ----
 * A byte per row and column, so every node of a tree compares all 64 rows of
 * the block in one instruction, level by level: the rows at node n of level
 * d are those whose index within the level (a byte per row) is n; the ones of
 * them with bin >= rank go right. After D levels the index is the leaf's.
 * The 64 running sums stay in four zmm over every tree, and each tree's
 * 2^D <= 64 leaf values are read by permutes: per row, the same float adds in
 * tree order as every other kernel. Against 4 vector levels + scalar lanes,
 * same run: 2.3-2.7x faster on the depth-4 and depth-6 bench forests (README).
 * Tried and dropped: 128-row blocks sharing each node's loads (1.7x slower:
 * spills). */

#define AVX512BW __attribute__((target("avx512f,avx512bw")))
#define AVX512BW_INLINE static inline __attribute__((always_inline, target("avx512f,avx512bw")))
#if defined(__clang__)
#define UNROLL_ALL _Pragma("unroll")
#else
#define UNROLL_ALL _Pragma("GCC unroll 64")
#endif

/* Leaf index (0 .. 2^D - 1, a byte per row) of the 64 rows of xb in tree nd. */
AVX512BW_INLINE __m512i bins_tree(const mlops__bnode *nd, const uint8_t *xb, const unsigned D) {
    if (D == 0) return _mm512_setzero_si512();
    /* Level 0 apart: every row is at the root. */
    __m512i idx = _mm512_maskz_mov_epi8(_mm512_cmpge_epu8_mask(_mm512_loadu_si512(xb + nd->off),
                                                                _mm512_set1_epi32((int)nd->rank4)),
                                         _mm512_set1_epi8(1));
    UNROLL_ALL
    for (unsigned d = 1; d < D; d++) {
        __mmask64 right = 0;
        /* (No unroll pragma here: gcc's ASan build rejects it, "ignoring loop annotation".) */
        for (unsigned n = 0; n < (1u << d); n++) {
            const mlops__bnode *b = nd + (1u << d) - 1 + n;
            __m512i x = _mm512_loadu_si512(xb + b->off);
            __m512i rank = _mm512_set1_epi32((int)b->rank4);
            __mmask64 at = _mm512_cmpeq_epi8_mask(idx, _mm512_set1_epi8((char)n));
            right |= _mm512_mask_cmpge_epu8_mask(at, x, rank);
        }
        idx = _mm512_add_epi8(idx, idx);
        idx = _mm512_mask_add_epi8(idx, right, idx, _mm512_set1_epi8(1));
    }
    return idx;
}

/* 16 rows' leaf values (dword indices i) among the 2^D in l[0 .. 3]. */
AVX512BW_INLINE __m512 bins_leaf(const __m512 *l, __m512i i, const unsigned D) {
    if (D <= 4) return _mm512_permutexvar_ps(i, l[0]);
    __m512 lo = _mm512_permutex2var_ps(l[0], i, l[1]);
    if (D == 5) return lo;
    __m512 hi = _mm512_permutex2var_ps(l[2], i, l[3]);
    return _mm512_mask_blend_ps(_mm512_test_epi32_mask(i, _mm512_set1_epi32(32)), lo, hi);
}

/* The trees of perfect run sg (depth D) on the 64 rows of xb, into a[0 .. 3]. */
AVX512BW_INLINE void bins_run(const mlops__forest *f, const mlops__segment *sg, const uint8_t *xb, __m512 *a,
                              const unsigned D) {
    size_t per = ((size_t)1 << D) - 1, nt = sg->t1 - sg->t0;
    const mlops__bnode *bn = f->bnodes + sg->pnode0;
    const float *pl = f->pleaves + sg->pleaf0;
    for (size_t t = 0; t < nt; t++) {
        const float *lv = pl + t * (per + 1);
        __m512 l[4];
        l[0] = _mm512_maskz_loadu_ps((__mmask16)(D >= 4 ? 0xFFFFu : (1u << (1u << D)) - 1u), lv);
        l[1] = D >= 5 ? _mm512_loadu_ps(lv + 16) : _mm512_setzero_ps();
        l[2] = D >= 6 ? _mm512_loadu_ps(lv + 32) : _mm512_setzero_ps();
        l[3] = D >= 6 ? _mm512_loadu_ps(lv + 48) : _mm512_setzero_ps();
        __m512i idx = bins_tree(bn + t * per, xb, D);
        a[0] = _mm512_add_ps(a[0], bins_leaf(l, _mm512_cvtepu8_epi32(_mm512_castsi512_si128(idx)), D));
        a[1] = _mm512_add_ps(a[1], bins_leaf(l, _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(idx, 1)), D));
        a[2] = _mm512_add_ps(a[2], bins_leaf(l, _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(idx, 2)), D));
        a[3] = _mm512_add_ps(a[3], bins_leaf(l, _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(idx, 3)), D));
    }
}

/* Bin column j of a 64-row block (t: floats, 64 per feature) into xb: its
 * doubled columns 2j (missing: 0) and 2j + 1 (missing: MLOPS__BIN_MISSING_HI).
 * A value's bin is found among its feature's sorted keys k (make_bins) in two
 * levels of 16, 16 rows at a time: its bucket c counts the splitters
 * k[16c + 15] <= key, then bin = 16c + the keys k[16c + r] <= key (r < 15),
 * each fetched for every row's c by a permute. Compares, never a gather. */
AVX512BW_INLINE void bins_fill(const mlops__forest *f, const float *t, size_t j, float missing, uint8_t *xb) {
    const uint32_t *k = f->bin_keys + 256 * j;
    unsigned m = f->bin_counts[j], nc = m >> 4, nr = m < 15 ? m : 15;
    const __m512i one = _mm512_set1_epi32(1);
    for (unsigned g = 0; g < 4; g++) {
        __m512 v = _mm512_loadu_ps(t + 64 * (size_t)f->bin_feature[j] + LANES * g);
        __mmask16 miss = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) |
                         _mm512_cmp_ps_mask(v, _mm512_set1_ps(missing), _CMP_EQ_OQ);
        /* mlops__fkey, 16 at once */
        __m512i u = _mm512_castps_si512(_mm512_add_ps(v, _mm512_setzero_ps()));
        __m512i key = _mm512_xor_si512(
            u, _mm512_or_si512(_mm512_srai_epi32(u, 31), _mm512_set1_epi32((int)0x80000000u)));
        __m512i c = _mm512_setzero_si512();
        for (unsigned i = 0; i < nc; i++)
            c = _mm512_mask_add_epi32(c, _mm512_cmpge_epu32_mask(key, _mm512_set1_epi32((int)k[i])), c, one);
        __m512i b = _mm512_slli_epi32(c, 4);
        for (unsigned r = 0; r < nr; r++) {
            __m512i kr = _mm512_permutexvar_epi32(c, _mm512_loadu_si512(k + 16 + 16 * r));
            b = _mm512_mask_add_epi32(b, _mm512_cmpge_epu32_mask(key, kr), b, one);
        }
        __m512i lo = _mm512_maskz_mov_epi32((__mmask16)~miss, b);
        __m512i hi = _mm512_mask_mov_epi32(b, miss, _mm512_set1_epi32((int)MLOPS__BIN_MISSING_HI));
        _mm_storeu_si128((__m128i *)(void *)(xb + 128 * j + LANES * g), _mm512_cvtepi32_epi8(lo));
        _mm_storeu_si128((__m128i *)(void *)(xb + 128 * j + 64 + LANES * g), _mm512_cvtepi32_epi8(hi));
    }
}

/* Rows [0, R) (R <= 64) of the bins in xb on every tree, into acc. */
AVX512BW_INLINE void bins_block(const mlops__forest *f, const uint8_t *xb, size_t R, float *acc) {
    _Static_assert(MLOPS__BIN_MAX_DEPTH == 6, "one case per depth 0..6");
    __mmask16 k[4];
    __m512 a[4];
    for (unsigned g = 0; g < 4; g++) {
        size_t r = LANES * g;
        k[g] = (__mmask16)(R <= r ? 0u : R - r >= LANES ? 0xFFFFu : (1u << (R - r)) - 1u);
        a[g] = _mm512_maskz_loadu_ps(k[g], acc + r);
    }
    for (size_t s = 0; s < f->n_segs; s++) {
        const mlops__segment *sg = &f->segs[s];
        switch (sg->depth) {
        case 0:
            bins_run(f, sg, xb, a, 0);
            break;
        case 1:
            bins_run(f, sg, xb, a, 1);
            break;
        case 2:
            bins_run(f, sg, xb, a, 2);
            break;
        case 3:
            bins_run(f, sg, xb, a, 3);
            break;
        case 4:
            bins_run(f, sg, xb, a, 4);
            break;
        case 5:
            bins_run(f, sg, xb, a, 5);
            break;
        default:
            bins_run(f, sg, xb, a, 6);
            break;
        }
    }
    for (unsigned g = 0; g < 4; g++)
        _mm512_mask_storeu_ps(acc + LANES * g, k[g], a[g]);
}

AVX512BW void mlops__block_bins_avx512(const mlops__forest *f, const float *x, size_t R, size_t n_cols,
                                       float missing, float *acc) {
    float t[MLOPS__BIN_MAX_FEATURES * 64];
    uint8_t xb[2 * MLOPS__BIN_MAX_COLUMNS * 64];
    for (size_t r0 = 0; r0 < R; r0 += 64) {
        size_t n = R - r0 < 64 ? R - r0 : 64;
        for (size_t r = 0; r < 64; r++) /* transposed; rows past R: zeros */
            for (size_t j = 0; j < n_cols; j++)
                t[64 * j + r] = r < n ? x[(r0 + r) * n_cols + j] : 0.0f;
        for (size_t j = 0; j < f->n_bin_cols; j++)
            bins_fill(f, t, j, missing, xb);
        bins_block(f, xb, n, acc + r0);
    }
}

/* ---- rows on vector blocks (see MLOPS__VEC_MIN_DEPTH) ----
 * A row's tree walk is a chain of dependent loads; here a step covers 4
 * levels: the block's 16 words pick the row's bins out of four zmm (two
 * permutes of 32 and a blend), one unsigned compare gives the nodes that go
 * right, and a table gives the leaf of the block. bin >= word exactly when
 * key(x) >= key(t), the heap walk's compare; same leaf, same one float add
 * per tree in tree order. */
/* Trees walked side by side: the more, the more cache misses overlap on
 * forests beyond the L2 cache (1,000 x depth 10: 8 lanes 1.1-1.2x the scalar
 * kernel, 16 lanes 1.4-1.5x, 24 and 32 no better). */
#if defined(__clang__)
/* Clang (14) keeps 16 lanes' block indices on the stack: 12 ran as fast as
 * gcc's 16 (500 x 8: 2.59 vs 2.61 us in one run; 16 lanes: 3.1 us). Again with
 * rank words (median of 10 alternating runs, 1,000 x 10): 12 lanes 9.16 us,
 * 16 lanes 9.80, gcc's 16 8.98. */
#define VEC_LANES 12
#else
#define VEC_LANES 16
#endif

/* The leaf (0 .. 2^h - 1) by which the row leaves block kb of h levels. */
AVX512_INLINE unsigned vec_block(const uint32_t *kb, const __m512i *x, const uint8_t *leaf3, const unsigned h) {
    __m512i w = _mm512_load_si512(kb); /* a word's low 5 bits are its column: its own permute index */
    __mmask16 hi = _mm512_test_epi32_mask(w, _mm512_set1_epi32(32));
    __m512i v = _mm512_mask_blend_epi32(hi, _mm512_permutex2var_epi32(x[0], w, x[1]),
                                        _mm512_permutex2var_epi32(x[2], w, x[3]));
    unsigned r = (unsigned)_mm512_cmpge_epu32_mask(v, w);
    /* The top 3 levels by table; a 4th by one more bit. Fewer levels: the
     * unused lanes (word 0) always go right, so the table's leaf is shifted. */
    unsigned l3 = leaf3[r & 0x7Fu];
    if (h == 4) return 2 * l3 + ((r >> (7 + l3)) & 1u);
    return l3 >> (3 - h);
}

/* Trees [ta, tb) of the perfect run sg (depth D, a compile-time constant;
 * indices within the run) for one row on vector blocks. Lane k walks tree
 * t + k through g = k * nblk + its block in the tree, so a step down is
 * g = 16 g + l + (2^h0 - 15 - 15 k nblk), a constant per lane. */
AVX512_INLINE void row_vec_d(const mlops__forest *f, const mlops__segment *sg, const __m512i *x, float *acc,
                               const unsigned D, const int one_group, size_t ta, size_t tb) {
    const unsigned nb = (D + 3) / 4, h0 = D - 4 * (nb - 1);
    const size_t nblk = mlops__vec_blocks(D), per = ((size_t)1 << D) - 1;
    /* First block of the last level (nb >= 2), whose leaves end the tree. */
    const size_t last0 = nblk - ((size_t)1 << h0) * (nb >= 3 ? (size_t)1 << (4 * (nb - 2)) : 1);
    const size_t down = ((size_t)1 << h0) - 15;
    const uint8_t *leaf3 = f->vec_leaf3;
    const uint32_t *kb = f->vkeys + 16 * sg->vblk0;
    const float *pl = f->pleaves + sg->pleaf0;
    const uint32_t *groups = f->groups + sg->t0;
    size_t nt = tb, t = ta;
    float sum = acc[0]; /* one output: a register, as in row_perfect_d */
    for (; t + VEC_LANES <= nt; t += VEC_LANES) {
        const uint32_t *k0 = kb + 16 * nblk * t;
        size_t g[VEC_LANES];
        if (t + 2 * VEC_LANES <= nt) /* the next chunk's top blocks, and their children when few */
            for (size_t k = VEC_LANES; k < 2 * VEC_LANES; k++) {
                __builtin_prefetch(k0 + 16 * nblk * k);
                for (size_t j = 1; h0 <= 2 && nb >= 3 && j <= ((size_t)1 << h0); j++)
                    __builtin_prefetch(k0 + 16 * (nblk * k + j));
            }
        UNROLL
        for (size_t k = 0; k < VEC_LANES; k++) {
            unsigned l = vec_block(k0 + 16 * nblk * k, x, leaf3, h0);
            g[k] = nb == 1 ? l : k * nblk + 1 + l;
            LANE_DONE(g[k]); /* clang packed the 16 lanes' leaf lookups into vectors (1.35x slower) */
        }
        UNROLL
        for (unsigned b = 1; b < nb; b++) {
            UNROLL
            for (size_t k = 0; k < VEC_LANES; k++) {
                unsigned l = vec_block(k0 + 16 * g[k], x, leaf3, 4);
                g[k] = b + 1 < nb ? 16 * g[k] + l + (down - 15 * k * nblk) : (g[k] - k * nblk - last0) * 16 + l;
                LANE_DONE(g[k]);
                /* On the last level: its 16 leaf values (one line) while it is compared. */
                if (b + 2 == nb) __builtin_prefetch(pl + (t + k) * (per + 1) + (g[k] - k * nblk - last0) * 16);
            }
        }
        for (size_t k = 0; k < VEC_LANES; k++) {
            float v = pl[(t + k) * (per + 1) + g[k]];
            if (one_group)
                sum += v;
            else
                acc[groups[t + k]] += v;
        }
    }
    for (; t < nt; t++) { /* the last trees, one at a time */
        const uint32_t *k0 = kb + 16 * nblk * t;
        unsigned l = vec_block(k0, x, leaf3, h0);
        size_t g = nb == 1 ? l : 1 + l;
        for (unsigned b = 1; b < nb; b++) {
            l = vec_block(k0 + 16 * g, x, leaf3, 4);
            g = b + 1 < nb ? 16 * g + l + down : (g - last0) * 16 + l;
        }
        if (one_group)
            sum += pl[t * (per + 1) + g];
        else
            acc[groups[t]] += pl[t * (per + 1) + g];
    }
    if (one_group) acc[0] = sum;
}

/* How many of the n sorted keys s are <= key: a binary search without
 * branches (the feature's keys stay in cache across rows). */
static inline uint32_t vec_rank(const uint32_t *s, uint32_t n, uint32_t key) {
    if (n == 0) return 0;
    const uint32_t *b = s;
    while (n > 1) {
        uint32_t half = n / 2;
        b += (b[half] <= key) * half;
        n -= half;
    }
    return (uint32_t)(b - s) + (*b <= key);
}

/* The bin of key among feature j's n keys (see MLOPS__VEC_MIN_DEPTH): two
 * compares in its table when it has one, else a binary search. */
AVX512_INLINE uint32_t vec_bin(const mlops__forest *f, size_t j, uint32_t n, uint32_t key) {
    if (n > MLOPS__VEC_TAB_KEYS) return (vec_rank(f->vcuts + f->vcut0[j], n, key) << 8) | 0xFFu;
    const uint32_t *t = f->vtab + MLOPS__VEC_TAB * j;
    __m512i k = _mm512_set1_epi32((int)key);
    unsigned c = (unsigned)__builtin_popcount(_mm512_cmple_epu32_mask(_mm512_load_si512(t), k));
    unsigned r = (unsigned)__builtin_popcount(_mm512_cmple_epu32_mask(_mm512_load_si512(t + 16 + 16 * c), k));
    return ((16 * c + r) << 8) | 0xFFu;
}

/* A row's bins in four zmm: x[0..1] with a missing value (NaN or `missing`)
 * as 0, x[2..3] as 0xFFFFFFFF; features past n_cols or without keys: 0,
 * never read. */
AVX512_INLINE void vec_row_bins(const mlops__forest *f, const float *row, size_t n_cols, float missing,
                                __m512i *x) {
    uint32_t b[2][MLOPS__VEC_MAX_FEATURES] __attribute__((aligned(64))) = {{0}};
    for (size_t j = 0; j < n_cols; j++) {
        float v = row[j];
        uint32_t n = f->vcut0[j + 1] - f->vcut0[j];
        if (n == 0) continue;
        uint32_t bin = vec_bin(f, j, n, mlops__fkey(v));
        int miss = (v != v) | (v == missing);
        b[0][j] = miss ? 0 : bin;
        b[1][j] = miss ? UINT32_MAX : bin;
    }
    for (unsigned i = 0; i < 4; i++)
        x[i] = _mm512_load_si512(&b[i / 2][16 * (i % 2)]);
}

/* Rows [0, R) (their bins xs, 4 zmm each) on trees [ta, tb) of the run, one depth per case. */
static AVX512 void rows_vec(const mlops__forest *f, const mlops__segment *sg, const __m512i *xs, size_t R,
                              float *acc, size_t ta, size_t tb) {
    size_t G = f->n_groups;
    _Static_assert(MLOPS__VEC_MIN_DEPTH == 7 && MLOPS__PERFECT_MAX_DEPTH == 10, "one case per depth 7..10");
    for (size_t r = 0; r < R; r++) {
        const __m512i *x = xs + 4 * r;
        float *a = acc + r * G;
        switch (sg->depth) {
#define VEC_CASE(d)                                                                                          \
    case d:                                                                                                  \
        if (G == 1)                                                                                          \
            row_vec_d(f, sg, x, a, d, 1, ta, tb);                                                            \
        else                                                                                                 \
            row_vec_d(f, sg, x, a, d, 0, ta, tb);                                                            \
        break;
            VEC_CASE(7)
            VEC_CASE(8)
            VEC_CASE(9)
            VEC_CASE(10)
#undef VEC_CASE
        default: /* never: blocks are built for depths 7..10 only */
            break;
        }
    }
}

/* Batches: rows of a group of VEC_BATCH_ROWS (binned once) on the trees of a
 * chunk of about VEC_CHUNK_BYTES of blocks (cache-resident while every row of
 * the group walks it), chunk after chunk: each row still adds its trees in
 * tree order. */
#define VEC_BATCH_ROWS 64
#ifndef VEC_CHUNK_BYTES
#define VEC_CHUNK_BYTES (192u * 1024u)
#endif

AVX512 void mlops__rows_vec_avx512(const mlops__forest *f, const mlops__segment *sg, const float *x, size_t R,
                                     size_t n_cols, float missing, float *acc) {
    size_t nt = sg->t1 - sg->t0, tree_bytes = mlops__vec_blocks(sg->depth) * 16 * sizeof(uint32_t);
    size_t chunk = VEC_CHUNK_BYTES / tree_bytes / VEC_LANES * VEC_LANES;
    if (chunk < VEC_LANES || R == 1) chunk = nt;
    if (chunk == 0) return;
    __m512i xs[4 * VEC_BATCH_ROWS]; /* 16 KiB */
    for (size_t r0 = 0; r0 < R; r0 += VEC_BATCH_ROWS) {
        size_t n = R - r0 < VEC_BATCH_ROWS ? R - r0 : VEC_BATCH_ROWS;
        for (size_t r = 0; r < n; r++)
            vec_row_bins(f, x + (r0 + r) * n_cols, n_cols, missing, xs + 4 * r);
        for (size_t ta = 0; ta < nt; ta += chunk)
            rows_vec(f, sg, xs, n, acc + r0 * f->n_groups, ta, nt - ta < chunk ? nt : ta + chunk);
    }
}

#else

/* Never called: mlops__isa_detect reports MLOPS__ISA_SCALAR. */
void mlops__block_bins_avx512(const mlops__forest *f, const float *x, size_t R, size_t n_cols, float missing,
                              float *acc) {
    (void)f, (void)x, (void)R, (void)n_cols, (void)missing, (void)acc;
}

/* Never called: mlops__isa_detect reports MLOPS__ISA_SCALAR. */
void mlops__rows_vec_avx512(const mlops__forest *f, const mlops__segment *sg, const float *x, size_t R,
                            size_t n_cols, float missing, float *acc) {
    (void)f, (void)sg, (void)x, (void)R, (void)n_cols, (void)missing, (void)acc;
}

/* Never called: mlops__isa_detect reports MLOPS__ISA_SCALAR. */
void mlops__block_perfect_avx512(const mlops__forest *f, const mlops__segment *sg, const uint32_t *xk,
                                 unsigned shift, size_t R, float *acc) {
    (void)f, (void)sg, (void)xk, (void)shift, (void)R, (void)acc;
}

#endif
