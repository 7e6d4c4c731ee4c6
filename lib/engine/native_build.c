/* Native engine, part 1: build the flattened forest from XGBoost's model document.
 *
 * Trees are flattened one at a time as the reader delivers them (a stream, engine.h: the
 * reader drops each tree's arrays right after), and what the end of the document says is
 * applied to the nodes already built (finish). A whole document goes through the same stream.
 * Semantics follow XGBoost 1.7.4 (learner.cc, gbtree.h, tree_model.cc, the objectives); see the
 * notes next to each step. */
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/doc_array.h"
#include "internal.h"
#include "native_internal.h"

typedef struct {
    const char *name;
    mlops__transform transform;
    enum { M_IDENTITY, M_LOGIT, M_LOG } margin; /* ProbToMargin(base_score) */
} objective_info;

/* XGBoost 1.7's objectives. ProbToMargin: RegLossObj<Logistic*> uses
 * -logf(1/b - 1); poisson, gamma, tweedie, cox and aft use std::log(float);
 * the rest keep base_score. PredTransform: poisson, gamma, tweedie use expf,
 * cox std::exp(float) (= expf); aft calls exp() on a float, which resolves to
 * the double exp (matched bit for bit by the differential test). */
static const objective_info objectives[] = {
    {"reg:squarederror", MLOPS__TX_IDENTITY, M_IDENTITY},
    {"reg:squaredlogerror", MLOPS__TX_IDENTITY, M_IDENTITY},
    {"reg:pseudohubererror", MLOPS__TX_IDENTITY, M_IDENTITY},
    {"reg:absoluteerror", MLOPS__TX_IDENTITY, M_IDENTITY},
    {"reg:logistic", MLOPS__TX_SIGMOID, M_LOGIT},
    {"binary:logistic", MLOPS__TX_SIGMOID, M_LOGIT},
    {"binary:logitraw", MLOPS__TX_IDENTITY, M_IDENTITY},
    {"binary:hinge", MLOPS__TX_HINGE, M_IDENTITY},
    {"count:poisson", MLOPS__TX_EXP, M_LOG},
    {"reg:gamma", MLOPS__TX_EXP, M_LOG},
    {"reg:tweedie", MLOPS__TX_EXP, M_LOG},
    {"survival:cox", MLOPS__TX_EXP, M_LOG},
    {"survival:aft", MLOPS__TX_EXP_DOUBLE, M_LOG},
    {"multi:softprob", MLOPS__TX_SOFTPROB, M_IDENTITY},
    {"multi:softmax", MLOPS__TX_SOFTMAX, M_IDENTITY},
    {"rank:pairwise", MLOPS__TX_IDENTITY, M_IDENTITY},
    {"rank:ndcg", MLOPS__TX_IDENTITY, M_IDENTITY},
    {"rank:map", MLOPS__TX_IDENTITY, M_IDENTITY},
};

/* ---- small JSON helpers ---- */

static json_t *path_get(json_t *root, const char *const *keys, size_t n) {
    json_t *cur = root;
    for (size_t i = 0; i < n && cur; i++)
        cur = json_object_get(cur, keys[i]);
    return cur;
}

/* A float the way XGBoost reads it (from_chars to float). jansson gives the
 * nearest double; rounding that to float is the same except when the double
 * lands exactly halfway between two floats, where the decimal text could have
 * been on either side: refuse those (never seen in practice). */
static int double_to_f32(double d, float *out) {
    float f = (float)d;
    if ((double)f != d && isfinite(f)) {
        float other = nextafterf(f, d > (double)f ? INFINITY : -INFINITY);
        if (d == ((double)f + (double)other) / 2.0) return 0;
    }
    *out = f;
    return 1;
}

static int to_f32(json_t *j, float *out) {
    return json_is_number(j) && double_to_f32(json_number_value(j), out);
}

/* Element i of a number array (plain or compact, engine/doc_array.h) as to_f32 reads it; the
 * reader's non-finite numbers are refused like the nulls of the text path. */
static int vf32_at(const mlops__arr_view *v, size_t i, float *out) {
    if (v->plain) return to_f32(json_array_get(v->plain, i), out);
    double d;
    return mlops__view_real(v, i, &d) && isfinite(d) && double_to_f32(d, out);
}

static int f32_at(json_t *arr, size_t i, float *out) {
    mlops__arr_view v;
    return mlops__arr_view_of(arr, &v) && vf32_at(&v, i, out);
}

/* XGBoost stores integer parameters as strings ("num_class": "3"). */
static int param_long(json_t *j, long long *out) {
    if (json_is_integer(j)) {
        *out = json_integer_value(j);
        return 1;
    }
    if (!json_is_string(j)) return 0;
    const char *s = json_string_value(j);
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end != '\0') return 0;
    *out = v;
    return 1;
}

/* Element i of an integer array (plain or compact); default_left may be booleans. */
static int vint_at(const mlops__arr_view *v, size_t i, long long *out) {
    int64_t x;
    if (!v->plain) {
        if (!mlops__view_int(v, i, &x)) return 0;
        *out = x;
        return 1;
    }
    json_t *e = json_array_get(v->plain, i);
    if (json_is_integer(e)) {
        *out = json_integer_value(e);
        return 1;
    }
    if (json_is_true(e) || json_is_false(e)) { /* default_left may be booleans */
        *out = json_is_true(e);
        return 1;
    }
    return 0;
}

static int int_at(json_t *arr, size_t i, long long *out) {
    mlops__arr_view v;
    return mlops__arr_view_of(arr, &v) && vint_at(&v, i, out);
}

/* ---- building ---- */

typedef struct {
    mlops__fnode *nodes;
    size_t n_nodes, cap_nodes;
    uint32_t *cats;
    size_t n_cats, cap_cats;
    float *leaves;
    size_t n_leaves, cap_leaves;
    /* scratch reused between trees */
    int32_t *queue;
    uint32_t *depth_of;
    uint8_t *seen;
    size_t scratch_cap;
    char err[256];
} builder;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = mlops__realloc(*p, c * elem);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

/* Write the failure's message into the builder's buffer and return `st`: `return build_fail(b, ...)`.
 * Why the builder keeps its own message instead of calling mlops__fail where it fails: a build fails
 * along many paths and some write no message (an allocation in grow); mlops__forest_build_doc records
 * the one message with the "native engine: " prefix after the builder is released, an out-of-memory
 * status replacing it and a generic text standing in when no path wrote one, so a failed build never
 * leaves mlops_last_error() holding an earlier, unrelated message. */
static mlops_status build_fail(builder *b, mlops_status st, const char *fmt, ...) MLOPS__PRINTF(3, 4);
static mlops_status build_fail(builder *b, mlops_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
    return st;
}

/* One tree being flattened: its node arrays (checked to have n entries each), where it comes
 * from, and what it adds to the forest. Leaf values are stored as read: what depends on the end of
 * the document (dart and 3.5 tree weights, the group's base margin) is applied by finish(). */
typedef struct {
    size_t id; /* position in the model's tree list (messages) */
    size_t n;  /* nodes in the document */
    mlops__arr_view lefts, rights, indices, conds, dleft, stype; /* stype.n == 0: no split_type */
    json_t *c_nodes, *c_segs, *c_sizes, *c_vals;                 /* categorical splits, c_nodes may be NULL */
    size_t n_cat_nodes;
    /* results */
    uint32_t root;    /* index of the root in the builder's nodes */
    unsigned depth;   /* levels to the deepest leaf */
    int has_cat;      /* a categorical split was seen */
    int general;      /* the plain walker is needed (categorical split, -inf threshold) */
    long long max_feat; /* largest split feature, -1 without splits (checked against num_feature at the end) */
} tree_ctx;

/* Fetch and check the node arrays of `tree` into `tc`. */
static mlops_status tree_arrays(builder *b, json_t *tree, tree_ctx *tc) {
    size_t tree_id = tc->id;
    json_t *stype = json_object_get(tree, "split_type");
    if (!mlops__arr_view_of(json_object_get(tree, "left_children"), &tc->lefts) ||
        !mlops__arr_view_of(json_object_get(tree, "right_children"), &tc->rights) ||
        !mlops__arr_view_of(json_object_get(tree, "split_indices"), &tc->indices) ||
        !mlops__arr_view_of(json_object_get(tree, "split_conditions"), &tc->conds) ||
        !mlops__arr_view_of(json_object_get(tree, "default_left"), &tc->dleft))
        return build_fail(b, MLOPS_EFORMAT, "tree %zu: missing node arrays", tree_id);
    size_t n = tc->lefts.n;
    if (n == 0 || tc->rights.n != n || tc->indices.n != n || tc->conds.n != n || tc->dleft.n != n ||
        (stype && (!mlops__arr_view_of(stype, &tc->stype) || tc->stype.n != n)))
        return build_fail(b, MLOPS_EFORMAT, "tree %zu: node arrays of different lengths", tree_id);
    long long lv;
    json_t *tp = json_object_get(tree, "tree_param");
    if (json_is_object(tp)) {
        if (param_long(json_object_get(tp, "num_nodes"), &lv) && (size_t)lv != n)
            return build_fail(b, MLOPS_EFORMAT, "tree %zu: num_nodes %lld but %zu nodes", tree_id, lv, n);
        if (param_long(json_object_get(tp, "size_leaf_vector"), &lv) && lv != 0)
            return build_fail(b, MLOPS_ENOTSUP, "tree %zu: vector leaves are not supported", tree_id);
    }
    if (n > UINT32_MAX / 2) return build_fail(b, MLOPS_ENOTSUP, "tree %zu: too many nodes", tree_id);
    tc->n = n;
    /* Categorical splits: categories_nodes[k] is a node id whose categories are
     * categories[segments[k] .. segments[k] + sizes[k]). */
    tc->c_nodes = json_object_get(tree, "categories_nodes");
    tc->c_segs = json_object_get(tree, "categories_segments");
    tc->c_sizes = json_object_get(tree, "categories_sizes");
    tc->c_vals = json_object_get(tree, "categories");
    size_t k = mlops__arr_is(tc->c_nodes) ? mlops__arr_size(tc->c_nodes) : 0;
    if (k && (!mlops__arr_is(tc->c_segs) || !mlops__arr_is(tc->c_sizes) || !mlops__arr_is(tc->c_vals) ||
              mlops__arr_size(tc->c_segs) != k || mlops__arr_size(tc->c_sizes) != k))
        return build_fail(b, MLOPS_EFORMAT, "tree %zu: inconsistent categorical split arrays", tree_id);
    tc->n_cat_nodes = k;
    return MLOPS_OK;
}

/* Scratch (queue, depths, seen flags) for a tree of n nodes; seen cleared. */
static mlops_status tree_scratch(builder *b, size_t n) {
    if (n > b->scratch_cap) {
        int32_t *q = mlops__realloc(b->queue, n * sizeof(int32_t));
        if (!q) return MLOPS_ENOMEM;
        b->queue = q;
        uint32_t *d = mlops__realloc(b->depth_of, n * sizeof(uint32_t));
        if (!d) return MLOPS_ENOMEM;
        b->depth_of = d;
        uint8_t *s = mlops__realloc(b->seen, n);
        if (!s) return MLOPS_ENOMEM;
        b->seen = s;
        b->scratch_cap = n;
    }
    memset(b->seen, 0, n);
    return MLOPS_OK;
}

/* A leaf (XGBoost tests cleft_ == -1): its value joins the forest's leaf values. */
static mlops_status add_leaf(builder *b, float v, mlops__fnode *nd) {
    if (b->n_leaves > MLOPS__LEAF_INDEX_MASK)
        return build_fail(b, MLOPS_ENOTSUP, "more than %u leaves in the forest", MLOPS__LEAF_INDEX_MASK + 1);
    if (!grow((void **)&b->leaves, &b->cap_leaves, b->n_leaves + 1, sizeof(float))) return MLOPS_ENOMEM;
    b->leaves[b->n_leaves] = v;
    nd->u.cat = MLOPS__LEAF_NAN | (uint32_t)b->n_leaves;
    b->n_leaves++;
    nd->info = 0;
    return MLOPS_OK;
}

/* A categorical split of source node `id`: its category set joins the pool as a bitmap. */
static mlops_status add_cat_split(builder *b, tree_ctx *tc, int32_t id, uint32_t info, mlops__fnode *nd) {
    size_t tree_id = tc->id, k;
    long long cn = -1;
    for (k = 0; k < tc->n_cat_nodes; k++)
        if (int_at(tc->c_nodes, k, &cn) && cn == id) break;
    if (k == tc->n_cat_nodes)
        return build_fail(b, MLOPS_EFORMAT, "tree %zu node %d: categorical split without categories", tree_id,
                          (int)id);
    long long seg, size;
    if (!int_at(tc->c_segs, k, &seg) || !int_at(tc->c_sizes, k, &size) || seg < 0 || size <= 0 ||
        (size_t)(seg + size) > mlops__arr_size(tc->c_vals))
        return build_fail(b, MLOPS_EFORMAT, "tree %zu node %d: bad category segment", tree_id, (int)id);
    long long max_cat = -1;
    for (long long j = seg; j < seg + size; j++) {
        long long c;
        if (!int_at(tc->c_vals, (size_t)j, &c) || c < 0 || c >= 16777216)
            return build_fail(b, MLOPS_EFORMAT, "tree %zu node %d: bad category value", tree_id, (int)id);
        if (c > max_cat) max_cat = c;
    }
    size_t words = ((size_t)max_cat + 1 + 31) / 32;
    size_t at = b->n_cats;
    if (!grow((void **)&b->cats, &b->cap_cats, at + 1 + words, sizeof(uint32_t))) return MLOPS_ENOMEM;
    b->cats[at] = (uint32_t)words;
    memset(&b->cats[at + 1], 0, words * sizeof(uint32_t));
    for (long long j = seg; j < seg + size; j++) {
        long long c = 0;
        int_at(tc->c_vals, (size_t)j, &c);
        b->cats[at + 1 + (size_t)c / 32] |= 1u << ((unsigned)c % 32);
    }
    b->n_cats = at + 1 + words;
    if (at > UINT32_MAX) return build_fail(b, MLOPS_ENOTSUP, "too many categorical splits");
    nd->u.cat = (uint32_t)at;
    nd->info = info | MLOPS__FN_CAT;
    tc->has_cat = 1;
    return MLOPS_OK;
}

/* Split node `id` (output position `head`): queue its children breadth first and encode it. */
static mlops_status add_split(builder *b, tree_ctx *tc, int32_t id, size_t head, size_t *tail, long long l,
                              long long r, float cond, mlops__fnode *nd) {
    size_t tree_id = tc->id, n = tc->n;
    long long feat, dl, st = 0;
    if (!vint_at(&tc->indices, (size_t)id, &feat) || !vint_at(&tc->dleft, (size_t)id, &dl) ||
        (tc->stype.n && !vint_at(&tc->stype, (size_t)id, &st)))
        return build_fail(b, MLOPS_EFORMAT, "tree %zu node %d: expected integers", tree_id, (int)id);
    if (l < 0 || r < 0 || (size_t)l >= n || (size_t)r >= n || l == r)
        return build_fail(b, MLOPS_EFORMAT, "tree %zu node %d: child index out of range", tree_id, (int)id);
    if (b->seen[l] || b->seen[r])
        return build_fail(b, MLOPS_EFORMAT, "tree %zu node %d: not a tree (shared child)", tree_id, (int)id);
    /* Against num_feature in finish() (it may come after the trees); here the node encoding's limit. */
    if (feat < 0) return build_fail(b, MLOPS_EFORMAT, "tree %zu node %d: negative feature", tree_id, (int)id);
    if ((unsigned long long)feat >= MLOPS__FN_MAX_FEATURES)
        return build_fail(b, MLOPS_ENOTSUP, "tree %zu node %d: feature %lld: the native engine handles at most %u",
                          tree_id, (int)id, feat, MLOPS__FN_MAX_FEATURES);
    if (feat > tc->max_feat) tc->max_feat = feat;
    size_t off = *tail - head; /* from this node to its left child, both relative to the tree */
    if (off > MLOPS__FN_MAX_OFFSET)
        return build_fail(b, MLOPS_ENOTSUP, "tree %zu: too wide for the compact node layout (%zu > %u)",
                          tree_id, off, MLOPS__FN_MAX_OFFSET);
    uint32_t depth_here = b->depth_of[head];
    if (depth_here + 1 > 255)
        return build_fail(b, MLOPS_ENOTSUP, "tree %zu: deeper than 255 levels", tree_id);
    b->seen[l] = b->seen[r] = 1;
    b->depth_of[*tail] = depth_here + 1;
    b->queue[(*tail)++] = (int32_t)l;
    b->depth_of[*tail] = depth_here + 1;
    b->queue[(*tail)++] = (int32_t)r;
    uint32_t info = ((uint32_t)feat << 1 | (dl ? 0u : 1u)) | ((uint32_t)off << MLOPS__FN_OFFSET_SHIFT);
    if (st == 1) return add_cat_split(b, tc, id, info, nd);
    if (st != 0)
        return build_fail(b, MLOPS_ENOTSUP, "tree %zu node %d: unknown split type %lld", tree_id, (int)id,
                          st);
    /* -inf: every present value goes right, but the doubled row's
     * -inf for a missing one would too (see native_internal.h). */
    if (cond == -INFINITY) tc->general = 1;
    nd->u.v = cond;
    nd->info = info;
    return MLOPS_OK;
}

/* Flatten one tree (JSON object) onto b->nodes, breadth first: queue[k] is the source id of
 * output node base_idx + k. Fills tc->root, tc->depth, tc->has_cat, tc->general. */
static mlops_status add_tree(builder *b, json_t *tree, tree_ctx *tc) {
    mlops_status st = tree_arrays(b, tree, tc);
    if (st == MLOPS_OK) st = tree_scratch(b, tc->n);
    if (st != MLOPS_OK) return st;
    size_t base_idx = b->n_nodes;
    if (!grow((void **)&b->nodes, &b->cap_nodes, base_idx + tc->n, sizeof(mlops__fnode))) return MLOPS_ENOMEM;
    size_t head = 0, tail = 0;
    b->queue[tail++] = 0;
    b->seen[0] = 1;
    b->depth_of[0] = 0;
    unsigned max_depth = 0;
    for (; head < tail && st == MLOPS_OK; head++) {
        int32_t id = b->queue[head];
        long long l, r, stype = 0;
        if (!vint_at(&tc->lefts, (size_t)id, &l) || !vint_at(&tc->rights, (size_t)id, &r) ||
            (tc->stype.n && !vint_at(&tc->stype, (size_t)id, &stype)))
            return build_fail(b, MLOPS_EFORMAT, "tree %zu node %d: expected integers", tc->id, (int)id);
        /* XGBoost writes NaN as split condition of categorical splits; it is
         * only read for leaves and numeric splits. */
        float cond = 0.0f;
        if ((l == -1 || stype == 0) && !vf32_at(&tc->conds, (size_t)id, &cond))
            return build_fail(b, MLOPS_ENOTSUP,
                              "tree %zu node %d: split condition / leaf value is not a finite float", tc->id,
                              (int)id);
        mlops__fnode *nd = &b->nodes[base_idx + head];
        if (l == -1) {
            st = add_leaf(b, cond, nd);
            if (b->depth_of[head] > max_depth) max_depth = b->depth_of[head];
        } else {
            st = add_split(b, tc, id, head, &tail, l, r, cond, nd);
        }
    }
    if (st != MLOPS_OK) return st;
    b->n_nodes = base_idx + tail;
    tc->root = (uint32_t)base_idx;
    tc->depth = max_depth;
    return MLOPS_OK;
}

/* ---- perfect layout (see native_internal.h) ---- */

static void fill_perfect(const mlops__forest *f, const mlops__fnode *n, mlops__pnode *nodes, float *leaves,
                         size_t idx, unsigned d, unsigned D) {
    int leaf = n->info < MLOPS__FN_LEAF_LIMIT;
    if (d == D) { /* n is a leaf: build() checked every tree is at most D deep */
        leaves[idx - (((size_t)1 << D) - 1)] = f->leaves[n->u.cat & MLOPS__LEAF_INDEX_MASK];
        return;
    }
    if (leaf) {
        nodes[idx].key = 0; /* pass-through: both sides hold the same value */
        nodes[idx].col = 0;
        fill_perfect(f, n, nodes, leaves, 2 * idx + 1, d + 1, D);
        fill_perfect(f, n, nodes, leaves, 2 * idx + 2, d + 1, D);
        return;
    }
    const mlops__fnode *left = n + (n->info >> MLOPS__FN_OFFSET_SHIFT);
    nodes[idx].key = mlops__fkey(n->u.v);
    nodes[idx].col = n->info & MLOPS__FN_COLUMN_MASK;
    fill_perfect(f, left, nodes, leaves, 2 * idx + 1, d + 1, D);
    fill_perfect(f, left + 1, nodes, leaves, 2 * idx + 2, d + 1, D);
}

/* Compact nodes of tree t (trees are stored one after another). */
static size_t tree_nodes(const mlops__forest *f, size_t t) {
    return (t + 1 < f->n_trees ? f->roots[t + 1] : f->n_nodes) - f->roots[t];
}

/* Does tree t get the perfect layout? Measured on the bench shapes: a
 * padded tree pays while it is at most MLOPS__PERFECT_RATIO times its
 * compact size (every row then walks exactly `depth` levels with no leaf
 * test and no offset); sparser or deeper trees stay compact. */
static int tree_perfect(const mlops__forest *f, size_t t, mlops__layout layout) {
    unsigned d = f->depths[t];
    if (layout == MLOPS__LAYOUT_PLAIN || f->general || d > MLOPS__PERFECT_MAX_DEPTH) return 0;
    /* Tests: runs long enough for every lane kernel (23 perfect trees, 14
     * plain ones, starting off the lane boundaries); small forests alternate. */
    if (layout == MLOPS__LAYOUT_MIXED && (f->n_trees >= 37 ? t % 37 >= 23 : t % 3 == 1)) return 0;
    if (layout == MLOPS__LAYOUT_PERFECT) return 1;
    size_t padded = ((size_t)2 << d) - 1;
    return padded <= MLOPS__PERFECT_RATIO * tree_nodes(f, t) + MLOPS__PERFECT_SLACK;
}

/* Trees that fail the padding test in a row around t (t itself failing it),
 * counted up to MLOPS__MIN_PLAIN_RUN. */
static size_t plain_run(const mlops__forest *f, size_t t, mlops__layout layout) {
    size_t n = 1;
    for (size_t u = t; u > 0 && n < MLOPS__MIN_PLAIN_RUN && !tree_perfect(f, u - 1, layout); u--)
        n++;
    for (size_t u = t + 1; u < f->n_trees && n < MLOPS__MIN_PLAIN_RUN && !tree_perfect(f, u, layout); u++)
        n++;
    return n;
}

/* Runs of trees with the same layout (and, perfect, the same depth) into
 * segs (room for n_trees); returns their number and the perfect entries.
 * Measured on the 1,000 x 10 bench forest (40 sparse trees scattered among
 * 960 dense ones, 69 runs): short runs cost single rows 2x (each run's tail
 * walks one tree at a time), so a tree joins the perfect run before it when
 * it fits its depth, and plain runs shorter than MLOPS__MIN_PLAIN_RUN trees
 * are padded too (1 run, same speed as every tree perfect). */
static size_t plan_segments(const mlops__forest *f, mlops__layout layout, mlops__segment *segs, size_t *n_pn,
                            size_t *n_pl) {
    size_t n = 0;
    *n_pn = *n_pl = 0;
    for (size_t t = 0; t < f->n_trees; t++) {
        unsigned d = f->depths[t];
        int p = tree_perfect(f, t, layout), forced = 0;
        if (!p && layout == MLOPS__LAYOUT_MEASURED && !f->general && d <= MLOPS__PERFECT_MAX_DEPTH &&
            plain_run(f, t, layout) < MLOPS__MIN_PLAIN_RUN)
            p = forced = 1;
        mlops__segment *last = n ? &segs[n - 1] : NULL;
        int join = last && last->perfect == p &&
                   (!p || d == last->depth ||
                    (d < last->depth &&
                     (forced || ((size_t)2 << last->depth) - 1 <=
                                    MLOPS__PERFECT_RATIO * tree_nodes(f, t) + MLOPS__PERFECT_SLACK)));
        if (!join) {
            segs[n] = (mlops__segment){.t0 = (uint32_t)t, .t1 = (uint32_t)t, .depth = p ? d : 0, .perfect = p,
                                       .pnode0 = *n_pn, .pleaf0 = *n_pl};
            n++;
        }
        segs[n - 1].t1 = (uint32_t)t + 1;
        if (p) {
            *n_pn += ((size_t)1 << segs[n - 1].depth) - 1;
            *n_pl += (size_t)1 << segs[n - 1].depth;
        }
    }
    return n;
}

static void free_bins(mlops__forest *f) {
    mlops__free(f->bnodes);
    mlops__free(f->bin_keys);
    mlops__free(f->bin_counts);
    mlops__free(f->bin_feature);
    f->bnodes = NULL;
    f->bin_keys = NULL;
    f->bin_counts = NULL;
    f->bin_feature = NULL;
    f->n_bin_cols = 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sort the n values of a and keep each once, in place; how many remain. */
static size_t sort_distinct(uint64_t *a, size_t n) {
    qsort(a, n, sizeof *a, cmp_u64);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || a[i] != a[u - 1]) a[u++] = a[i];
    return u;
}

/* The binned batch layout (native_internal.h, mlops__bnode) when it applies:
 * every tree perfect and at most MLOPS__BIN_MAX_DEPTH deep, one output, at
 * most MLOPS__BIN_MAX_FEATURES features. A feature with more than 255
 * distinct thresholds (XGBoost's hist keeps at most 256 bins, its exact
 * method one per distinct value) gets several bin columns, each counting 255
 * of its keys in order: a node compares in the column of its key's range, so
 * bin >= rank stays key(x) >= key(t). It only speeds batches up: without it
 * (not applicable, or no memory) the other kernels run. */
static void make_bins(mlops__forest *f) {
    free_bins(f);
    size_t n_pn = 0, nf = f->n_features;
    if (!f->pnodes || f->mixed || f->n_groups != 1 || nf == 0 || nf > MLOPS__BIN_MAX_FEATURES) return;
    for (size_t s = 0; s < f->n_segs; s++) {
        if (f->segs[s].depth > MLOPS__BIN_MAX_DEPTH) return;
        n_pn += (((size_t)1 << f->segs[s].depth) - 1) * (f->segs[s].t1 - f->segs[s].t0);
    }
    /* Every split's key with its feature above it, sorted: by feature, then
     * key; then the distinct ones, and per feature its first bin column
     * (col0) and where its keys start (key0). */
    uint64_t *all = mlops__malloc((n_pn ? n_pn : 1) * sizeof *all);
    uint32_t *col0 = mlops__malloc((nf + 1) * sizeof *col0), *key0 = mlops__malloc((nf + 1) * sizeof *key0);
    f->bnodes = mlops__malloc((n_pn ? n_pn : 1) * sizeof *f->bnodes);
    f->bin_counts = mlops__malloc(MLOPS__BIN_MAX_COLUMNS);
    f->bin_feature = mlops__malloc(MLOPS__BIN_MAX_COLUMNS * sizeof *f->bin_feature); /* 384 bytes: not trimmed */
    f->bin_keys = mlops__malloc(MLOPS__BIN_MAX_COLUMNS * 256 * sizeof *f->bin_keys);
    if (!all || !col0 || !key0 || !f->bnodes || !f->bin_counts || !f->bin_feature || !f->bin_keys) goto fail;
    size_t n = 0;
    for (size_t i = 0; i < n_pn; i++)
        if (f->pnodes[i].key != 0) all[n++] = ((uint64_t)(f->pnodes[i].col >> 1) << 32) | f->pnodes[i].key;
    size_t u = sort_distinct(all, n); /* distinct (feature, key) pairs */
    size_t nc = 0;
    for (size_t j = 0, i = 0; j < nf; j++) {
        key0[j] = (uint32_t)i;
        col0[j] = (uint32_t)nc;
        size_t m = 0;
        while (i + m < u && (all[i + m] >> 32) == j)
            m++;
        do { /* one column per 255 keys (and one for a feature without any) */
            size_t cm = m > 255 ? 255 : m;
            if (nc == MLOPS__BIN_MAX_COLUMNS) goto fail;
            uint32_t k[256], *out = f->bin_keys + 256 * nc;
            for (size_t e = 0; e < 256; e++)
                k[e] = e < cm ? (uint32_t)all[i + e] : UINT32_MAX;
            /* Two levels of 16 (native_simd.c bins_fill): splitters k[16c + 15],
             * then row r (0..14) holds k[16c + r] for every bucket c. */
            for (size_t c = 0; c < 16; c++) {
                out[c] = k[16 * c + 15];
                for (size_t r = 0; r < 15; r++)
                    out[16 + 16 * r + c] = k[16 * c + r];
            }
            f->bin_counts[nc] = (uint8_t)cm;
            f->bin_feature[nc] = (uint16_t)j;
            nc++;
            i += cm;
            m -= cm;
        } while (m > 0);
    }
    key0[nf] = (uint32_t)u;
    for (size_t i = 0; i < n_pn; i++) {
        const mlops__pnode *p = &f->pnodes[i];
        uint32_t rank = 0, col = 0;
        if (p->key != 0) { /* the key's place among its feature's: binary search */
            size_t j = p->col >> 1, lo = key0[j], hi = key0[j + 1];
            uint64_t want = ((uint64_t)j << 32) | p->key;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (all[mid] < want)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            size_t at = lo - key0[j];
            rank = (uint32_t)(at % 255) + 1;
            col = 2 * (col0[j] + (uint32_t)(at / 255)) + (p->col & 1u);
        }
        f->bnodes[i].rank4 = rank * 0x01010101u;
        f->bnodes[i].off = col * 64u;
    }
    f->n_bin_cols = nc;
    uint32_t *fit = mlops__realloc(f->bin_keys, nc * 256 * sizeof *fit); /* nc >= nf >= 1 */
    if (fit) f->bin_keys = fit;
    f->pbytes += n_pn * sizeof *f->bnodes + nc * 256 * sizeof *f->bin_keys +
                MLOPS__BIN_MAX_COLUMNS * (1 + sizeof *f->bin_feature);
    mlops__free(all);
    mlops__free(col0);
    mlops__free(key0);
    return;
fail:
    mlops__free(all);
    mlops__free(col0);
    mlops__free(key0);
    free_bins(f);
}

static void free_vec(mlops__forest *f) {
    mlops__free(f->vraw);
    f->vraw = NULL;
    f->vkeys = NULL;
    f->vcuts = NULL;
    f->vtab = NULL;
}

/* The leaf (0..7) of a 3-level heap-ordered block for each right-going mask
 * of its 7 nodes. */
static void vec_leaves(uint8_t *leaf3) {
    for (uint32_t m = 0; m < 128; m++) {
        uint32_t i = 0;
        for (int d = 0; d < 3; d++)
            i = 2 * i + 1 + ((m >> i) & 1u);
        leaf3[m] = (uint8_t)(i - 7);
    }
}

/* A node's block word (native_internal.h, MLOPS__VEC_MIN_DEPTH): its key's
 * rank among its feature's vcuts, and its column. */
static uint32_t vec_word(const mlops__forest *f, const mlops__pnode *p) {
    if (p->key == 0) return 0;
    uint32_t j = p->col >> 1, lo = f->vcut0[j], hi = f->vcut0[j + 1];
    while (lo < hi) { /* the key is there: make_vec took it from this node */
        uint32_t mid = lo + (hi - lo) / 2;
        if (f->vcuts[mid] < p->key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return ((lo - f->vcut0[j] + 1) << 8) | (j + 32 * (p->col & 1u));
}

/* Tree nd (heap order, depth D) as vector blocks from kb (16 words per block). */
static void fill_vec_tree(const mlops__forest *f, const mlops__pnode *nd, unsigned D, uint32_t *kb) {
    size_t roots[69];    /* each block's root, as a heap index of the tree */
    unsigned above[69]; /* levels above that root; 69 = the most blocks (depth 10) */
    unsigned nb = (D + 3) / 4, h0 = D - 4 * (nb - 1);
    size_t n = 1;
    roots[0] = 0;
    above[0] = 0;
    for (size_t b = 0; b < n; b++) {
        unsigned h = b == 0 ? h0 : 4;
        for (uint32_t i = 0; i + 1 < (1u << h); i++) {
            /* Block-local heap index i -> the tree's: follow i's path bits. */
            unsigned lvl = 31u - (unsigned)__builtin_clz(i + 1);
            size_t g = roots[b];
            for (unsigned s = lvl; s-- > 0;)
                g = 2 * g + 1 + (((i + 1) >> s) & 1u);
            kb[16 * b + i] = vec_word(f, &nd[g]);
        }
        if (above[b] + h < D)
            for (uint32_t l = 0; l < (1u << h); l++) {
                size_t g = roots[b];
                for (unsigned s = h; s-- > 0;)
                    g = 2 * g + 1 + ((l >> s) & 1u);
                above[n] = above[b] + h;
                roots[n++] = g;
            }
    }
}

/* The runs that get vector blocks: perfect and at least MLOPS__VEC_MIN_DEPTH deep. */
static int vec_run(const mlops__segment *sg) {
    return sg->perfect && sg->depth >= MLOPS__VEC_MIN_DEPTH;
}

/* Sorted distinct keys of the vector runs' nodes, per feature, into the
 * (feature << 32 | key) array all; their count, or 0 when a feature has more
 * than MLOPS__VEC_MAX_RANK (or none at all). */
static size_t vec_keys(const mlops__forest *f, uint64_t *all) {
    size_t n = 0;
    for (size_t s = 0; s < f->n_segs; s++) {
        const mlops__segment *sg = &f->segs[s];
        if (!vec_run(sg)) continue;
        const mlops__pnode *p = f->pnodes + sg->pnode0;
        size_t np = (sg->t1 - sg->t0) * (((size_t)1 << sg->depth) - 1);
        for (size_t i = 0; i < np; i++)
            if (p[i].key != 0) all[n++] = ((uint64_t)(p[i].col >> 1) << 32) | p[i].key;
    }
    size_t u = sort_distinct(all, n);
    size_t run = 0;
    for (size_t i = 0; i < u; i++) {
        run = i > 0 && all[i] >> 32 == all[i - 1] >> 32 ? run + 1 : 1;
        if (run > MLOPS__VEC_MAX_RANK) return 0;
    }
    return u;
}

/* The bin tables of the features with 1..256 keys (XGBoost's hist method
 * keeps at most 256 bins): line 0 holds the first keys of buckets 1..15,
 * k[16], k[32], ..., k[240]; line 1 + c holds bucket c, k[16c .. 16c + 15].
 * Missing keys are UINT32_MAX, above every row's key. A row's bin is 16c,
 * c = how many of line 0 are <= its key, plus how many of line 1 + c are. */
static void vec_tables(mlops__forest *f) {
    for (size_t j = 0; j < f->n_features; j++) {
        uint32_t n = f->vcut0[j + 1] - f->vcut0[j], *t = f->vtab + MLOPS__VEC_TAB * j;
        const uint32_t *k = f->vcuts + f->vcut0[j];
        if (n == 0 || n > MLOPS__VEC_TAB_KEYS) continue;
        for (uint32_t i = 0; i < MLOPS__VEC_TAB_KEYS; i++) {
            t[16 + i] = i < n ? k[i] : UINT32_MAX;
            if (i % 16 == 0 && i > 0) t[i / 16 - 1] = i < n ? k[i] : UINT32_MAX;
        }
        t[15] = UINT32_MAX;
    }
}

/* Vector blocks for the perfect runs where they pay (MLOPS__VEC_MIN_DEPTH);
 * none (and no error) without the memory. */
static void make_vec(mlops__forest *f) {
    free_vec(f);
    for (size_t s = 0; s < f->n_segs; s++)
        f->segs[s].vec = 0;
    if (!f->pnodes || f->n_features > MLOPS__VEC_MAX_FEATURES ||
        mlops__isa_detect() != MLOPS__ISA_AVX512)
        return;
    size_t nblk = 0, n_pn = 0;
    for (size_t s = 0; s < f->n_segs; s++)
        if (vec_run(&f->segs[s])) {
            nblk += (f->segs[s].t1 - f->segs[s].t0) * mlops__vec_blocks(f->segs[s].depth);
            n_pn += (f->segs[s].t1 - f->segs[s].t0) * (((size_t)1 << f->segs[s].depth) - 1);
        }
    if (!nblk) return;
    uint64_t *all = mlops__malloc(n_pn * sizeof *all);
    size_t u = all ? vec_keys(f, all) : 0;
    size_t bytes = (nblk * 16 + MLOPS__VEC_TAB * f->n_features + u) * sizeof(uint32_t);
    f->vraw = u ? mlops__calloc(1, bytes + 63) : NULL;
    if (!f->vraw) {
        mlops__free(all);
        return;
    }
    f->vkeys = (uint32_t *)(((uintptr_t)f->vraw + 63) & ~(uintptr_t)63);
    f->vtab = f->vkeys + 16 * nblk;
    f->vcuts = f->vtab + MLOPS__VEC_TAB * f->n_features;
    for (size_t i = 0, j = 0; j <= MLOPS__VEC_MAX_FEATURES; j++) {
        while (i < u && all[i] >> 32 < j)
            i++;
        f->vcut0[j] = (uint32_t)i;
    }
    for (size_t i = 0; i < u; i++)
        f->vcuts[i] = (uint32_t)all[i];
    mlops__free(all);
    vec_tables(f);
    size_t at = 0;
    for (size_t s = 0; s < f->n_segs; s++) {
        mlops__segment *sg = &f->segs[s];
        if (!vec_run(sg)) continue;
        size_t per = ((size_t)1 << sg->depth) - 1, nb = mlops__vec_blocks(sg->depth);
        sg->vec = 1;
        sg->vblk0 = at;
        for (size_t t = sg->t0; t < sg->t1; t++, at += nb)
            fill_vec_tree(f, f->pnodes + sg->pnode0 + (t - sg->t0) * per, sg->depth, f->vkeys + 16 * at);
    }
    vec_leaves(f->vec_leaf3);
    f->pbytes += bytes;
}

int mlops__forest_layout(mlops__forest *f, mlops__layout layout) {
    size_t nt = f->n_trees, n_pn, n_pl;
    if (f->partial) return 0; /* the perfect trees' compact nodes are gone */
    mlops__segment *segs = mlops__malloc((nt ? nt : 1) * sizeof *segs);
    if (!segs) return 0;
    free_vec(f); /* its blocks follow the old runs */
    size_t n_segs = plan_segments(f, layout, segs, &n_pn, &n_pl);
    mlops__pnode *nodes = NULL;
    float *leaves = NULL;
    if (n_pl) {
        nodes = mlops__malloc((n_pn ? n_pn : 1) * sizeof *nodes);
        leaves = mlops__malloc(n_pl * sizeof *leaves);
        if (!nodes || !leaves) {
            mlops__free(nodes);
            mlops__free(leaves);
            mlops__free(segs);
            return 0;
        }
    }
    for (size_t s = 0; s < n_segs; s++) {
        if (!segs[s].perfect) continue;
        unsigned D = segs[s].depth;
        size_t per = ((size_t)1 << D) - 1;
        for (size_t t = segs[s].t0; t < segs[s].t1; t++)
            fill_perfect(f, f->nodes + f->roots[t], nodes + segs[s].pnode0 + (t - segs[s].t0) * per,
                         leaves + segs[s].pleaf0 + (t - segs[s].t0) * (per + 1), 0, 0, D);
    }
    mlops__free(f->pnodes);
    mlops__free(f->pleaves);
    mlops__free(f->segs);
    f->pnodes = n_pl ? nodes : NULL;
    f->pleaves = leaves;
    f->segs = n_pl ? segs : NULL;
    f->n_segs = n_pl ? n_segs : 0;
    f->mixed = 0;
    for (size_t s = 0; s < f->n_segs; s++)
        f->mixed |= !segs[s].perfect;
    if (!n_pl) mlops__free(segs);
    f->pbytes = n_pn * sizeof(mlops__pnode) + n_pl * sizeof(float) + (n_pl ? n_segs * sizeof *segs : 0);
    f->wide = n_pn * sizeof(mlops__pnode) > MLOPS__PREFETCH_BYTES;
    f->stream = n_pn * sizeof(mlops__pnode) > MLOPS__STREAM_BYTES;
    make_bins(f);
    make_vec(f);
    return 1;
}

/* Keep the compact nodes and leaf values of the plain trees only (issue 24:
 * no tree stored twice): every kernel walks a perfect tree on its complete
 * layout, the plain walker too (native_eval.c walk_pgen). Plain trees move
 * to the front, their leaves renumbered. 0 on ENOMEM, the forest unchanged. */
static int drop_perfect_nodes(mlops__forest *f) {
    if (!f->segs) return 1;
    size_t keep = 0;
    for (size_t s = 0; s < f->n_segs; s++)
        for (size_t t = f->segs[s].t0; !f->segs[s].perfect && t < f->segs[s].t1; t++)
            keep += tree_nodes(f, t);
    mlops__fnode *nodes = mlops__malloc((keep ? keep : 1) * sizeof *nodes);
    float *leaves = mlops__malloc((keep ? keep : 1) * sizeof *leaves);
    if (!nodes || !leaves) {
        mlops__free(nodes);
        mlops__free(leaves);
        return 0;
    }
    size_t n = 0, nl = 0;
    for (size_t s = 0; s < f->n_segs; s++)
        for (size_t t = f->segs[s].t0; t < f->segs[s].t1; t++) {
            if (f->segs[s].perfect) { /* roots[t + 1] is still read below: clear these after */
                continue;
            }
            size_t cnt = tree_nodes(f, t);
            memcpy(nodes + n, f->nodes + f->roots[t], cnt * sizeof *nodes);
            for (size_t k = n; k < n + cnt; k++)
                if (nodes[k].info < MLOPS__FN_LEAF_LIMIT) {
                    leaves[nl] = f->leaves[nodes[k].u.cat & MLOPS__LEAF_INDEX_MASK];
                    nodes[k].u.cat = MLOPS__LEAF_NAN | (uint32_t)nl++;
                }
            f->roots[t] = (uint32_t)n;
            n += cnt;
        }
    for (size_t s = 0; s < f->n_segs; s++)
        for (size_t t = f->segs[s].t0; f->segs[s].perfect && t < f->segs[s].t1; t++)
            f->roots[t] = 0;
    float *fit = mlops__realloc(leaves, (nl ? nl : 1) * sizeof *leaves);
    if (fit) leaves = fit;
    mlops__free(f->nodes);
    mlops__free(f->leaves);
    f->nodes = nodes;
    f->leaves = leaves;
    f->n_nodes = n;
    f->n_leaves = nl;
    f->partial = 1;
    return 1;
}

static void forest_release(mlops__forest *f) {
    if (!f) return;
    mlops__free(f->nodes);
    mlops__free(f->roots);
    mlops__free(f->groups);
    mlops__free(f->depths);
    mlops__free(f->chunk_depths);
    mlops__free(f->cats);
    mlops__free(f->leaves);
    mlops__free(f->pnodes);
    mlops__free(f->pleaves);
    mlops__free(f->segs);
    free_bins(f);
    free_vec(f);
    mlops__free(f->base_margins);
    mlops__free(f);
}

void mlops__forest_free(mlops__forest *forest) {
    if (!forest) return;
    if (forest->pool) mlops__pool_destroy(forest->pool);
    forest_release(forest);
}

size_t mlops__forest_bytes(const mlops__forest *forest) { return forest ? forest->bytes : 0; }

size_t mlops__forest_output_width(const mlops__forest *forest, int margin) {
    if (!forest) return 0;
    if (!margin && forest->transform == MLOPS__TX_SOFTMAX) return 1;
    return forest->n_groups;
}

/* ProbToMargin in float, as the objective does (XGBoost 1.7 to 3.5 agree for base scores in (0, 1)). */
static mlops_status to_margin(const objective_info *obj, const char *obj_name, float base_score, float *out,
                              builder *b) {
    if (isnan(base_score)) return build_fail(b, MLOPS_ENOTSUP, "base_score is NaN");
    switch (obj->margin) {
    case M_IDENTITY:
        *out = base_score;
        break;
    case M_LOGIT:
        if (!(base_score > 0.0f && base_score < 1.0f))
            return build_fail(b, MLOPS_EFORMAT, "base_score must be in (0,1) for %s, got %g", obj_name,
                              (double)base_score);
        *out = -logf(1.0f / base_score - 1.0f);
        break;
    case M_LOG:
        *out = logf(base_score);
        break;
    }
    return MLOPS_OK;
}

/* Objective: the transform, and how base_score becomes a margin. */
static mlops_status read_objective(builder *b, json_t *learner, mlops__forest *f,
                                   const objective_info **out) {
    static const char *const k_obj[] = {"objective", "name"};
    json_t *jobj = path_get(learner, k_obj, 2);
    if (!json_is_string(jobj)) return build_fail(b, MLOPS_EFORMAT, "no objective name");
    const char *obj_name = json_string_value(jobj);
    const objective_info *obj = NULL;
    for (size_t i = 0; i < sizeof objectives / sizeof objectives[0]; i++)
        if (strcmp(objectives[i].name, obj_name) == 0) obj = &objectives[i];
    if (!obj) return build_fail(b, MLOPS_ENOTSUP, "objective \"%s\" is not supported", obj_name);
    f->transform = obj->transform;
    *out = obj;
    return MLOPS_OK;
}

/* Learner parameters: features and output groups (LearnerModelParam: num_output_group =
 * max(num_class, num_target)). */
static mlops_status read_learner_params(builder *b, json_t *lmp, mlops__forest *f) {
    if (!json_is_object(lmp)) return build_fail(b, MLOPS_EFORMAT, "no learner_model_param");
    long long num_feature, num_class = 0, num_target = 1;
    if (!param_long(json_object_get(lmp, "num_feature"), &num_feature) || num_feature <= 0)
        return build_fail(b, MLOPS_EFORMAT, "learner_model_param.num_feature missing or invalid");
    if (json_object_get(lmp, "num_class") && !param_long(json_object_get(lmp, "num_class"), &num_class))
        return build_fail(b, MLOPS_EFORMAT, "learner_model_param.num_class invalid");
    if (json_object_get(lmp, "num_target") && !param_long(json_object_get(lmp, "num_target"), &num_target))
        return build_fail(b, MLOPS_EFORMAT, "learner_model_param.num_target invalid");
    if (num_class < 0 || num_target < 1)
        return build_fail(b, MLOPS_EFORMAT, "invalid num_class / num_target");
    if ((unsigned long long)num_feature > MLOPS__FN_MAX_FEATURES)
        return build_fail(b, MLOPS_ENOTSUP, "%lld features: the native engine handles at most %u",
                          num_feature, MLOPS__FN_MAX_FEATURES);
    long long groups = num_class > num_target ? num_class : num_target;
    if (groups < 1) groups = 1;
    if (groups > 1000000) return build_fail(b, MLOPS_ENOTSUP, "too many output groups (%lld)", groups);
    if (f->transform == MLOPS__TX_SOFTMAX && groups > MLOPS__MAX_SOFTMAX_CLASSES)
        return build_fail(b, MLOPS_ENOTSUP, "multi:softmax with more than %u classes",
                          MLOPS__MAX_SOFTMAX_CLASSES);
    f->n_features = (unsigned)num_feature;
    f->n_groups = (unsigned)groups;
    return MLOPS_OK;
}

/* base_score: a string in output space, read as float (from_chars), then ProbToMargin in float;
 * or the intercepts the caller read (one per output). */
static mlops_status read_base_margins(builder *b, json_t *lmp, const objective_info *obj,
                                      const float *base_scores, size_t n_base, mlops__forest *f) {
    float doc_base;
    if (n_base == 0) {
        json_t *jbs = json_object_get(lmp, "base_score");
        if (json_is_string(jbs)) {
            const char *s = json_string_value(jbs);
            char *end = NULL;
            doc_base = strtof(s, &end);
            if (end == s || *end != '\0')
                return build_fail(b, MLOPS_EFORMAT, "base_score \"%s\" is not a number", s);
        } else if (!to_f32(jbs, &doc_base)) {
            return build_fail(b, MLOPS_EFORMAT, "base_score missing");
        }
        base_scores = &doc_base;
        n_base = 1;
    }
    size_t groups = f->n_groups;
    if (n_base != 1 && n_base != groups)
        return build_fail(b, MLOPS_EFORMAT, "%zu intercepts for %zu outputs", n_base, groups);
    f->base_margins = mlops__calloc(groups, sizeof(float));
    if (!f->base_margins) return MLOPS_ENOMEM;
    for (size_t g = 0; g < groups; g++) {
        mlops_status st = to_margin(obj, obj->name, base_scores[n_base == 1 ? 0 : g], &f->base_margins[g], b);
        if (st != MLOPS_OK) return st;
    }
    return MLOPS_OK;
}

/* The trees of a gbtree or dart booster. */
typedef struct {
    json_t *trees, *tree_info, *weights; /* weights: dart only */
    int dart;
    long long npt; /* num_parallel_tree */
    size_t n_all;
} booster_trees;

static mlops_status read_booster(builder *b, json_t *learner, booster_trees *bt) {
    json_t *gb = json_object_get(learner, "gradient_booster");
    if (!json_is_object(gb)) return build_fail(b, MLOPS_EFORMAT, "no gradient_booster");
    json_t *gbname = json_object_get(gb, "name");
    if (!json_is_string(gbname)) return build_fail(b, MLOPS_EFORMAT, "gradient_booster has no name");
    json_t *gbtree = gb;
    if (strcmp(json_string_value(gbname), "dart") == 0) {
        bt->dart = 1;
        gbtree = json_object_get(gb, "gbtree");
        bt->weights = json_object_get(gb, "weight_drop");
        if (!json_is_object(gbtree) || !mlops__arr_is(bt->weights))
            return build_fail(b, MLOPS_EFORMAT, "dart without gbtree/weight_drop");
    } else if (strcmp(json_string_value(gbname), "gbtree") != 0) {
        return build_fail(b, MLOPS_ENOTSUP, "booster \"%s\" is not supported", json_string_value(gbname));
    }
    json_t *model = json_object_get(gbtree, "model");
    bt->trees = json_object_get(model, "trees");
    bt->tree_info = json_object_get(model, "tree_info");
    if (!mlops__arr_is(bt->trees) || !mlops__arr_is(bt->tree_info))
        return build_fail(b, MLOPS_EFORMAT, "gbtree model without trees");
    bt->n_all = mlops__arr_size(bt->trees);
    if (mlops__arr_size(bt->tree_info) != bt->n_all)
        return build_fail(b, MLOPS_EFORMAT, "tree_info and trees differ in length");
    if (bt->dart && mlops__arr_size(bt->weights) != bt->n_all)
        return build_fail(b, MLOPS_EFORMAT, "weight_drop and trees differ in length");
    bt->npt = 1;
    json_t *gmp = json_object_get(model, "gbtree_model_param");
    if (json_is_object(gmp)) {
        long long nt;
        if (json_object_get(gmp, "num_parallel_tree") &&
            !param_long(json_object_get(gmp, "num_parallel_tree"), &bt->npt))
            return build_fail(b, MLOPS_EFORMAT, "num_parallel_tree invalid");
        if (param_long(json_object_get(gmp, "num_trees"), &nt) && (size_t)nt != bt->n_all)
            return build_fail(b, MLOPS_EFORMAT, "num_trees %lld but %zu trees", nt, bt->n_all);
    }
    if (bt->npt < 1) return build_fail(b, MLOPS_EFORMAT, "num_parallel_tree must be positive");
    return MLOPS_OK;
}

/* ---- streaming: one tree at a time, the rest at the end (issue 24) ---- */

/* The trees flattened so far, one after another in the builder, and what finish() needs of each. */
struct mlops__forest_stream {
    builder b;
    size_t n, cap;
    uint32_t *roots;              /* per tree: its first node */
    uint32_t *leaf_end, *cat_end; /* per tree: leaf values and category words up to its end */
    uint8_t *depths, *kinds;      /* kinds: bit 0 categorical split, bit 1 needs the plain walker */
    int32_t *max_feat;            /* largest split feature, -1 without splits */
    json_t **trees;               /* references: finish() checks the document holds these very trees */
    mlops_status failed;          /* the status of the first tree that could not be flattened */
};

mlops__forest_stream *mlops__forest_stream_create(void) { return mlops__calloc(1, sizeof(mlops__forest_stream)); }

void mlops__forest_stream_free(mlops__forest_stream *s) {
    if (!s) return;
    for (size_t t = 0; t < s->n; t++)
        json_decref(s->trees[t]);
    mlops__free(s->trees);
    mlops__free(s->roots);
    mlops__free(s->leaf_end);
    mlops__free(s->cat_end);
    mlops__free(s->depths);
    mlops__free(s->kinds);
    mlops__free(s->max_feat);
    mlops__free(s->b.nodes);
    mlops__free(s->b.cats);
    mlops__free(s->b.leaves);
    mlops__free(s->b.queue);
    mlops__free(s->b.depth_of);
    mlops__free(s->b.seen);
    mlops__free(s);
}

/* Room for one more tree in the per-tree arrays. */
static int stream_room(mlops__forest_stream *s) {
    if (s->n < s->cap) return 1;
    size_t cap = s->cap ? 2 * s->cap : 64;
    void *p[7] = {s->roots, s->leaf_end, s->cat_end, s->depths, s->kinds, s->max_feat, s->trees};
    const size_t w[7] = {4, 4, 4, 1, 1, 4, sizeof(json_t *)};
    int ok = 1;
    for (int k = 0; k < 7 && ok; k++) {
        size_t c = s->cap;
        ok = grow(&p[k], &c, cap, w[k]);
    }
    s->roots = p[0];
    s->leaf_end = p[1];
    s->cat_end = p[2];
    s->depths = p[3];
    s->kinds = p[4];
    s->max_feat = p[5];
    s->trees = p[6];
    if (ok) s->cap = cap; /* on failure some arrays grew: harmless, cap stays the smallest */
    return ok;
}

mlops_status mlops__forest_stream_tree(mlops__forest_stream *s, json_t *tree) {
    builder *b = &s->b;
    if (s->failed) return mlops__fail(s->failed, "native engine: %s", b->err[0] ? b->err : "out of memory");
    tree_ctx tc = {.id = s->n, .max_feat = -1};
    mlops_status st;
    if (!json_is_object(tree))
        st = build_fail(b, MLOPS_EFORMAT, "tree %zu is not an object", s->n);
    else if (!stream_room(s))
        st = MLOPS_ENOMEM;
    else
        st = add_tree(b, tree, &tc);
    if (st != MLOPS_OK) {
        s->failed = st;
        if (st == MLOPS_ENOMEM) return mlops__fail(st, "native engine: out of memory building the forest");
        return mlops__fail(st, "native engine: %s", b->err[0] ? b->err : "cannot build the forest");
    }
    size_t t = s->n++;
    s->roots[t] = tc.root;
    s->leaf_end[t] = (uint32_t)b->n_leaves;
    s->cat_end[t] = (uint32_t)b->n_cats;
    s->depths[t] = (uint8_t)tc.depth;
    s->kinds[t] = (uint8_t)(tc.has_cat | (tc.general | tc.has_cat) << 1);
    s->max_feat[t] = (int32_t)tc.max_feat;
    s->trees[t] = json_incref(tree);
    return MLOPS_OK;
}

size_t mlops__forest_stream_count(const mlops__forest_stream *s) { return s && !s->failed ? s->n : 0; }

/* Keep trees [tb, te) of the stream: their nodes, leaf values and category words move to the front
 * of the builder's arrays (each range is contiguous), the nodes' leaf and category indices and
 * the roots renumbered to match. */
static void keep_range(mlops__forest_stream *s, size_t tb, size_t te) {
    builder *b = &s->b;
    size_t n0 = tb < s->n ? s->roots[tb] : b->n_nodes, n1 = te < s->n ? s->roots[te] : b->n_nodes;
    size_t l0 = tb ? s->leaf_end[tb - 1] : 0, l1 = te ? s->leaf_end[te - 1] : 0;
    size_t c0 = tb ? s->cat_end[tb - 1] : 0, c1 = te ? s->cat_end[te - 1] : 0;
    if (te <= tb) n1 = n0, l1 = l0, c1 = c0;
    /* An array nothing was added to is NULL: no pointer arithmetic on it. */
    if (n0) memmove(b->nodes, b->nodes + n0, (n1 - n0) * sizeof *b->nodes);
    if (l0) memmove(b->leaves, b->leaves + l0, (l1 - l0) * sizeof *b->leaves);
    if (c0) memmove(b->cats, b->cats + c0, (c1 - c0) * sizeof *b->cats);
    for (size_t k = 0; k < n1 - n0; k++) {
        mlops__fnode *nd = &b->nodes[k];
        if (nd->info < MLOPS__FN_LEAF_LIMIT)
            nd->u.cat = MLOPS__LEAF_NAN | ((nd->u.cat & MLOPS__LEAF_INDEX_MASK) - (uint32_t)l0);
        else if (nd->info & MLOPS__FN_CAT)
            nd->u.cat -= (uint32_t)c0;
    }
    for (size_t t = tb; t < te; t++) {
        s->roots[t] -= (uint32_t)n0;
        s->leaf_end[t] -= (uint32_t)l0;
        s->cat_end[t] -= (uint32_t)c0;
    }
    b->n_nodes = n1 - n0;
    b->n_leaves = l1 - l0;
    b->n_cats = c1 - c0;
}

/* What only the end of the document says, applied to trees [t_begin, t_begin + f->n_trees), which
 * keep_range moved to the front: groups, 3.5 tree weights and dart weights on the leaf values. */
static mlops_status finish_trees(mlops__forest_stream *s, const booster_trees *bt, size_t t_begin,
                                 const float *tree_weights, mlops__forest *f) {
    builder *b = &s->b;
    size_t nt = f->n_trees;
    size_t n_chunks = (nt + MLOPS__TREE_LANES - 1) / MLOPS__TREE_LANES;
    f->roots = mlops__calloc(nt ? nt : 1, sizeof(uint32_t));
    f->groups = mlops__calloc(nt ? nt : 1, sizeof(uint32_t));
    f->depths = mlops__calloc(nt ? nt : 1, 1);
    f->chunk_depths = mlops__calloc(n_chunks ? n_chunks : 1, 1);
    if (!f->roots || !f->groups || !f->depths || !f->chunk_depths) return MLOPS_ENOMEM;
    for (size_t t = 0; t < nt; t++) {
        size_t src = t_begin + t;
        long long g;
        if (!int_at(bt->tree_info, src, &g) || g < 0 || g >= (long long)f->n_groups)
            return build_fail(b, MLOPS_EFORMAT, "tree %zu: group out of range", src);
        float dart_w = 1.0f, base = f->base_margins[g];
        if (bt->dart && !f32_at(bt->weights, src, &dart_w))
            return build_fail(b, MLOPS_ENOTSUP,
                              "tree %zu: dart weight is not a float the engine can read exactly", src);
        /* 3.5 (gbtree weight_drop) predicts leaf * weight in float; Dart::InplacePredict (1.7)
         * adds ((base + leaf) - base) * w, all in float: both depend on the leaf only. */
        for (size_t k = t ? s->leaf_end[src - 1] : 0; k < s->leaf_end[src]; k++) {
            float v = b->leaves[k];
            if (tree_weights) v = v * tree_weights[src];
            if (bt->dart) {
                float with_base = base + v;
                float diff = with_base - base;
                v = diff * dart_w;
            }
            b->leaves[k] = v;
        }
        f->has_cat |= s->kinds[src] & 1;
        f->general |= s->kinds[src] >> 1;
        f->roots[t] = s->roots[src];
        f->groups[t] = (uint32_t)g;
        f->depths[t] = s->depths[src];
        if (s->depths[src] > f->chunk_depths[t / MLOPS__TREE_LANES])
            f->chunk_depths[t / MLOPS__TREE_LANES] = s->depths[src];
    }
    return MLOPS_OK;
}

static mlops_status build(mlops__forest_stream *s, json_t *root, unsigned it_begin, unsigned it_end,
                          const float *base_scores, size_t n_base, const float *tree_weights, size_t n_weights,
                          mlops__forest *f) {
    builder *b = &s->b;
    static const char *const k_learner[] = {"learner"};
    json_t *learner = path_get(root, k_learner, 1);
    if (!json_is_object(learner)) return build_fail(b, MLOPS_EFORMAT, "no \"learner\" object");
    json_t *version = json_object_get(root, "version");
    long long major;
    if (mlops__arr_is(version) && mlops__arr_size(version) >= 1 && int_at(version, 0, &major) && major < 1)
        return build_fail(b, MLOPS_ENOTSUP, "models saved before XGBoost 1.0 are not supported");
    const objective_info *obj = NULL;
    json_t *lmp = json_object_get(learner, "learner_model_param");
    booster_trees bt = {0};
    mlops_status st = read_objective(b, learner, f, &obj);
    if (st == MLOPS_OK) st = read_learner_params(b, lmp, f);
    if (st == MLOPS_OK) st = read_base_margins(b, lmp, obj, base_scores, n_base, f);
    if (st == MLOPS_OK) st = read_booster(b, learner, &bt);
    if (st != MLOPS_OK) return st;
    /* The trees flattened must be the document's, all of them, in order. */
    if (s->n != bt.n_all)
        return build_fail(b, MLOPS_EFORMAT, "%zu trees flattened, the model has %zu", s->n, bt.n_all);
    for (size_t t = 0; t < bt.n_all; t++) {
        if (json_array_get(bt.trees, t) != s->trees[t])
            return build_fail(b, MLOPS_EFORMAT, "tree %zu is not the tree flattened", t);
        if (s->max_feat[t] >= (int32_t)f->n_features)
            return build_fail(b, MLOPS_EFORMAT, "tree %zu: feature %d out of range (%u features)", t,
                              (int)s->max_feat[t], f->n_features);
    }
    if (tree_weights && n_weights != bt.n_all)
        return build_fail(b, MLOPS_EFORMAT, "%zu tree weights for %zu trees", n_weights, bt.n_all);
    /* gbtree.h LayerToTree: layers (boosting rounds) to trees. */
    unsigned long long layer = (unsigned long long)f->n_groups * (unsigned long long)bt.npt;
    unsigned long long t_begin = (unsigned long long)it_begin * layer;
    unsigned long long t_end = (unsigned long long)it_end * layer;
    if (t_end == 0) t_end = bt.n_all;
    if (t_begin > t_end || t_end > bt.n_all)
        return build_fail(b, MLOPS_ERANGE, "iteration range [%u, %u) is outside the model's %llu rounds",
                          it_begin, it_end, bt.n_all / layer);
    f->n_trees = (size_t)(t_end - t_begin);
    keep_range(s, (size_t)t_begin, (size_t)t_end);
    return finish_trees(s, &bt, (size_t)t_begin, tree_weights, f);
}

static mlops_status finish(mlops__forest_stream *s, json_t *root, unsigned iteration_begin, unsigned iteration_end,
                           const float *base_scores, size_t n_base, const float *tree_weights, size_t n_weights,
                           int keep, mlops__forest **out) {
    if (s->failed) return mlops__fail(s->failed, "native engine: %s", s->b.err[0] ? s->b.err : "out of memory");
    builder *b = &s->b;
    mlops__forest *f = mlops__calloc(1, sizeof *f);
    mlops_status st = f ? build(s, root, iteration_begin, iteration_end, base_scores, n_base, tree_weights,
                                n_weights, f)
                        : MLOPS_ENOMEM;
    if (st == MLOPS_OK) {
        /* Shrink to fit and account. */
        size_t nn = b->n_nodes ? b->n_nodes : 1;
        mlops__fnode *nodes = mlops__realloc(b->nodes, nn * sizeof(mlops__fnode));
        if (nodes) b->nodes = nodes;
        f->nodes = b->nodes;
        f->n_nodes = b->n_nodes;
        b->nodes = NULL;
        f->fast = 1;
        f->leaves = b->leaves;
        f->n_leaves = b->n_leaves;
        b->leaves = NULL;
        f->cats = b->cats;
        f->n_cat_words = b->n_cats;
        b->cats = NULL;
        f->pool = mlops__pool_create();
        if (!f->pool || !mlops__forest_layout(f, MLOPS__LAYOUT_MEASURED) || (!keep && !drop_perfect_nodes(f)))
            st = MLOPS_ENOMEM;
        size_t nt = f->n_trees;
        f->bytes = sizeof *f + f->n_groups * sizeof(float) + f->n_nodes * sizeof(mlops__fnode) +
                   (nt ? nt : 1) * (2 * sizeof(uint32_t) + 1) +
                   ((nt + MLOPS__TREE_LANES - 1) / MLOPS__TREE_LANES + 1) +
                   f->n_cat_words * sizeof(uint32_t) + f->n_leaves * sizeof(float);
        f->bytes += f->pbytes;
    }
    s->failed = st == MLOPS_OK ? MLOPS_EINVAL : st; /* a stream is finished once */
    if (st == MLOPS_OK) snprintf(b->err, sizeof b->err, "the stream was finished already");
    if (st != MLOPS_OK) {
        if (f) {
            if (f->pool) mlops__pool_destroy(f->pool);
            forest_release(f);
        }
        if (st == MLOPS_ENOMEM) return mlops__fail(st, "native engine: out of memory building the forest");
        return mlops__fail(st, "native engine: %s", b->err[0] ? b->err : "cannot build the forest");
    }
    *out = f;
    return MLOPS_OK;
}

mlops_status mlops__forest_stream_finish(mlops__forest_stream *s, json_t *doc, unsigned iteration_begin,
                                         unsigned iteration_end, const float *base_scores, size_t n_base,
                                         const float *tree_weights, size_t n_weights, mlops__forest **out) {
    if (!s || !doc || !out) return mlops__fail(MLOPS_EINVAL, "native engine: NULL stream, document or output");
    return finish(s, doc, iteration_begin, iteration_end, base_scores, n_base, tree_weights, n_weights, 0, out);
}

/* A whole document: its trees through a stream, then the rest. */
static mlops_status build_doc(json_t *root, unsigned iteration_begin, unsigned iteration_end,
                              const float *base_scores, size_t n_base, int keep, mlops__forest **out) {
    if (!root || !out) return mlops__fail(MLOPS_EINVAL, "native engine: NULL model document or output");
    mlops__forest_stream *s = mlops__forest_stream_create();
    if (!s) return mlops__fail(MLOPS_ENOMEM, "native engine: out of memory building the forest");
    /* The trees where read_booster looks for them; a document without them fails there, in finish. */
    json_t *gb = json_object_get(json_object_get(root, "learner"), "gradient_booster");
    json_t *gbtree = json_object_get(gb, "gbtree") ? json_object_get(gb, "gbtree") : gb;
    json_t *trees = json_object_get(json_object_get(gbtree, "model"), "trees");
    mlops_status st = MLOPS_OK;
    for (size_t t = 0; t < json_array_size(trees) && st == MLOPS_OK; t++)
        st = mlops__forest_stream_tree(s, json_array_get(trees, t));
    if (st == MLOPS_OK)
        st = finish(s, root, iteration_begin, iteration_end, base_scores, n_base, NULL, 0, keep, out);
    mlops__forest_stream_free(s);
    return st;
}

/* XGBoost's JSON writer emits NaN, Infinity and -Infinity, which are not JSON.
 * Copy the text with those tokens (outside strings) turned into null; the
 * builder refuses a null where it needs a number. Returns NULL on ENOMEM. */
static char *sanitize(const char *json, size_t len, size_t *out_len) {
    size_t extra = 0;
    for (size_t i = 0; i + 3 <= len; i++)
        if (json[i] == 'N' && memcmp(json + i, "NaN", 3) == 0) extra++;
    char *o = mlops__malloc(len + extra + 1);
    if (!o) return NULL;
    size_t k = 0;
    int in_str = 0;
    for (size_t i = 0; i < len;) {
        char c = json[i];
        if (in_str) {
            o[k++] = c;
            if (c == '\\' && i + 1 < len)
                o[k++] = json[++i];
            else if (c == '"')
                in_str = 0;
            i++;
        } else if (c == '"') {
            in_str = 1;
            o[k++] = c;
            i++;
        } else if (len - i >= 3 && memcmp(json + i, "NaN", 3) == 0) {
            memcpy(o + k, "null", 4);
            k += 4;
            i += 3;
        } else if (len - i >= 9 && memcmp(json + i, "-Infinity", 9) == 0) {
            memcpy(o + k, "null", 4);
            k += 4;
            i += 9;
        } else if (len - i >= 8 && memcmp(json + i, "Infinity", 8) == 0) {
            memcpy(o + k, "null", 4);
            k += 4;
            i += 8;
        } else {
            o[k++] = c;
            i++;
        }
    }
    o[k] = 0;
    *out_len = k;
    return o;
}

/* JSON text into a forest; keep: every tree's compact nodes stay (mlops__forest_build_keep). */
static mlops_status build_text(const char *json, size_t len, unsigned iteration_begin, unsigned iteration_end,
                               int keep, mlops__forest **out) {
    if (!json || !out) return mlops__fail(MLOPS_EINVAL, "native engine: NULL model text or output");
    size_t clean_len;
    char *clean = sanitize(json, len, &clean_len);
    if (!clean) return mlops__fail(MLOPS_ENOMEM, "native engine: out of memory reading the model");
    json_error_t jerr;
    json_t *root = json_loadb(clean, clean_len, 0, &jerr);
    mlops__free(clean);
    if (!root)
        return mlops__fail(MLOPS_EFORMAT, "native engine: model JSON line %d: %s", jerr.line, jerr.text);
    mlops_status st = build_doc(root, iteration_begin, iteration_end, NULL, 0, keep, out);
    json_decref(root);
    return st;
}

mlops_status mlops__forest_build(const char *json, size_t len, unsigned iteration_begin,
                                 unsigned iteration_end, mlops__forest **out) {
    return build_text(json, len, iteration_begin, iteration_end, 0, out);
}

mlops_status mlops__forest_build_keep(const char *json, size_t len, unsigned iteration_begin,
                                      unsigned iteration_end, mlops__forest **out) {
    return build_text(json, len, iteration_begin, iteration_end, 1, out);
}

mlops_status mlops__forest_build_doc(json_t *root, unsigned iteration_begin, unsigned iteration_end,
                                     const float *base_scores, size_t n_base, mlops__forest **out) {
    return build_doc(root, iteration_begin, iteration_end, base_scores, n_base, 0, out);
}
