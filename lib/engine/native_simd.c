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
    if (__builtin_cpu_supports("avx512f")) isa = MLOPS__ISA_AVX512;
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

#else

/* Never called: mlops__isa_detect reports MLOPS__ISA_SCALAR. */
void mlops__block_perfect_avx512(const mlops__forest *f, const mlops__segment *sg, const uint32_t *xk,
                                 unsigned shift, size_t R, float *acc) {
    (void)f, (void)sg, (void)xk, (void)shift, (void)R, (void)acc;
}

#endif
