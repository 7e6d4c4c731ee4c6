/* Structural check of serialized XGBoost 1.7 models before XGBoost parses them.
 *
 * XGBoost 1.7.4 trusts its input: the UBJSON reader copies bytes without bounds checks, and
 * several loaders index arrays with values taken from the model (child and parent ids, feature
 * indices, tree_info groups, category segments). This file decides the format the same way
 * XGBoost's LearnerIO::LoadModel(dmlc::Stream*) does and then checks every field XGBoost
 * dereferences, so a model that passes can be loaded and predicted with without reading or
 * writing out of bounds.
 *
 * JSON is read in one pass by json_reader.c; UBJSON is walked with explicit bounds checks; both
 * build the same jansson document (numeric arrays kept compact) and share one set of semantic
 * checks. Those run in the same pass: each tree is checked the moment the reader has built it (a
 * hook on the trees arrays), and what is left once the document is complete is its frame
 * (learner parameters, counts, tree_info, ids, and each tree's largest split feature against
 * num_feature, which XGBoost writes after the trees). A load that builds the native engine also
 * streams each checked tree to it (mlops__model_read_stream) and drops the tree's arrays, so the
 * document never holds more than one tree's nodes. The legacy binary format is walked field by
 * field following learner.cc, gbtree_model.cc, tree_model.cc and gblinear_model.h.
 */
#include "model/format.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "model/json_reader.h"

/* Limits beyond XGBoost's own: nesting well above anything XGBoost writes (about 10 levels),
 * and sizes that keep XGBoost's allocations sane. */
#define FMT_MAX_DEPTH 64
#define FMT_MAX_FEATURES (1L << 26)
#define FMT_MAX_CLASSES (1L << 20)
#define FMT_MAX_CATEGORY (1L << 24) /* XGBoost's OutOfRangeCat(): categories are exact floats */
#define FMT_NOT_MODEL "not an XGBoost model (JSON, UBJSON or legacy binary)"

typedef struct fmt_ctx {
    const char *what;
    const char *kind; /* "JSON", "UBJSON", "binary" */
} fmt_ctx;

static mlops_status fmt_fail(const fmt_ctx *c, const char *fmt, ...) MLOPS__PRINTF(2, 3);
static mlops_status fmt_fail(const fmt_ctx *c, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return mlops__fail(MLOPS_EFORMAT, "%s: %s: %s", c->what, c->kind, msg);
}

static const char *fmt_name(mlops_model_format f) {
    switch (f) {
    case MLOPS_FORMAT_JSON:
        return "JSON";
    case MLOPS_FORMAT_UBJSON:
        return "UBJSON";
    case MLOPS_FORMAT_BINARY:
        return "legacy binary";
    default:
        return "auto";
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Shared semantic checks                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* The learner-level numbers every booster check needs. */
typedef struct model_info {
    long num_feature;
    long num_class;
    long num_target;
    long n_groups; /* max(num_class, num_target, 1) */
} model_info;

/* Parse a decimal integer string as dmlc::Parameter would accept it for an int field. */
static int parse_long_str(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return 0;
    const char *p = s;
    while (isspace((unsigned char)*p))
        ++p;
    if (!*p) return 0;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(p, &end, 10);
    if (errno || end == p) return 0;
    while (isspace((unsigned char)*end))
        ++end;
    if (*end) return 0;
    if (v < lo || v > hi) return 0;
    *out = (long)v;
    return 1;
}

static int parse_float_str(const char *s) {
    if (!s || !*s) return 0;
    errno = 0;
    char *end = NULL;
    (void)strtod(s, &end);
    if (end == s) return 0;
    while (isspace((unsigned char)*end))
        ++end;
    return *end == '\0';
}

/* base_score: a number (XGBoost before 3.1) or a bracketed list of numbers ("[4.6E-1]"). */
static int parse_base_score(const char *s) {
    if (!s) return 0;
    if (s[0] != '[') return parse_float_str(s);
    const char *p = s + 1;
    for (;;) {
        char *end = NULL;
        (void)strtod(p, &end);
        if (end == p) return 0;
        while (isspace((unsigned char)*end))
            ++end;
        if (*end == ']') return end[1] == '\0';
        if (*end != ',') return 0;
        p = end + 1;
    }
}

/* A dmlc parameter object (every value a string). Unknown keys are allowed, as XGBoost does. */
static mlops_status check_param_object(const fmt_ctx *c, json_t *obj, const char *path) {
    if (!json_is_object(obj)) return fmt_fail(c, "%s is not an object", path);
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (!json_is_string(v)) return fmt_fail(c, "%s.%s is not a string", path, key);
    }
    return MLOPS_OK;
}

/* Integer-valued string parameter; `required` says whether it may be absent (then *out = dflt). */
static mlops_status param_long(const fmt_ctx *c, json_t *obj, const char *path, const char *key, int required,
                               long dflt, long lo, long hi, long *out) {
    json_t *v = json_object_get(obj, key);
    if (!v) {
        if (required) return fmt_fail(c, "%s.%s is missing", path, key);
        *out = dflt;
        return MLOPS_OK;
    }
    if (!json_is_string(v)) return fmt_fail(c, "%s.%s is not a string", path, key);
    if (!parse_long_str(json_string_value(v), lo, hi, out))
        return fmt_fail(c, "%s.%s is \"%.40s\", expected an integer in [%ld, %ld]", path, key,
                        json_string_value(v), lo, hi);
    return MLOPS_OK;
}

/* A string value the reader would mistake for one of its compact arrays (engine/doc_array.h). */
static mlops_status reserved_string(const fmt_ctx *c, const char *s, size_t n) {
    if (n == 0 || s[0] != MLOPS__TYPED_TAG) return MLOPS_OK;
    return fmt_fail(c,
                    "a string value starts with the control byte 0x02 (reserved; XGBoost never writes it)");
}

/* Node arrays of one tree, in XGBoost's in-memory encoding. */
typedef struct tree_nodes {
    long n;
    const int64_t *left, *right, *parent, *sindex; /* sindex: split index, default-left NOT merged */
    const uint8_t *dleft;                          /* default_left flags, may be NULL */
    const uint8_t *cat;                            /* split_type == categorical, may be NULL */
    long num_deleted;
} tree_nodes;

/* The largest split feature of a tree's reachable split nodes, for checking it against num_feature
 * once that is known (JSON and UBJSON trees are checked as they are read, before
 * learner_model_param, which XGBoost writes after them). */
typedef struct tree_features {
    int64_t max; /* -1 when the tree has no split */
    long node;   /* the first node in walk order splitting on it */
} tree_features;

static mlops_status feature_fail(const fmt_ctx *c, const char *path, long node, int64_t feature, long nf) {
    return fmt_fail(c, "%s node %ld splits on feature %" PRId64 " but the model has %ld features", path, node,
                    feature, nf);
}

/* Child/parent/feature consistency, shared by the JSON/UBJSON and binary paths. `scratch` has
 * room for 2 * n bytes + n longs. `feat` (may be NULL) gets the tree's largest split feature. */
static mlops_status check_tree_nodes(const fmt_ctx *c, const tree_nodes *t, const model_info *mi,
                                     const char *path, unsigned char *seen, long *stack,
                                     tree_features *feat) {
    long n = t->n;
    long deleted = 0;
    for (long i = 0; i < n; ++i) {
        if (t->left[i] < -1 || t->left[i] >= n || t->right[i] < -1 || t->right[i] >= n)
            return fmt_fail(c, "%s node %ld has child %" PRId64 "/%" PRId64 " outside [-1, %ld)", path, i,
                            t->left[i], t->right[i], n);
        if (i >= 1 && (t->parent[i] < 0 || t->parent[i] >= n))
            return fmt_fail(c, "%s node %ld has parent %" PRId64 " outside [0, %ld)", path, i, t->parent[i],
                            n);
        if (t->sindex[i] < 0 || t->sindex[i] > (int64_t)UINT32_MAX)
            return fmt_fail(c, "%s node %ld has split index %" PRId64 " outside the uint32 range", path, i,
                            t->sindex[i]);
        uint32_t raw = (uint32_t)t->sindex[i];
        if (t->dleft && t->dleft[i]) raw |= 1U << 31;
        if (i >= 1 && raw == UINT32_MAX) ++deleted;
    }
    if (deleted != t->num_deleted)
        return fmt_fail(c, "%s has %ld deleted nodes, tree_param.num_deleted says %ld", path, deleted,
                        t->num_deleted);
    /* Walk from the root: every reachable node exactly once, children point back to parents,
     * split features in range. This also rules out cycles, so prediction terminates. */
    memset(seen, 0, (size_t)n);
    if (feat) {
        feat->max = -1;
        feat->node = 0;
    }
    long sp = 0;
    stack[sp++] = 0;
    seen[0] = 1;
    while (sp > 0) {
        long i = stack[--sp];
        if (t->left[i] == -1) {
            if (t->cat && t->cat[i])
                return fmt_fail(c, "%s leaf %ld is marked as a categorical split", path, i);
            continue;
        }
        int64_t l = t->left[i], r = t->right[i];
        if (l < 1 || r < 1 || l == r)
            return fmt_fail(c, "%s node %ld has invalid children %" PRId64 " and %" PRId64, path, i, l, r);
        if (t->sindex[i] >= mi->num_feature) return feature_fail(c, path, i, t->sindex[i], mi->num_feature);
        if (feat && t->sindex[i] > feat->max) {
            feat->max = t->sindex[i];
            feat->node = i;
        }
        int64_t kids[2] = {l, r};
        for (int k = 0; k < 2; ++k) {
            long ch = (long)kids[k];
            if (seen[ch])
                return fmt_fail(c, "%s node %ld is reached twice (cycle or shared child)", path, ch);
            if (t->parent[ch] != i)
                return fmt_fail(c, "%s node %ld is a child of %ld but its parent is %" PRId64, path, ch, i,
                                t->parent[ch]);
            seen[ch] = 1;
            stack[sp++] = ch;
        }
    }
    return MLOPS_OK;
}

/* Read an integer array (JSON ints) into `out`, each within [lo, hi]. */
static mlops_status int_array(const fmt_ctx *c, json_t *tree, const char *path, const char *key, long n,
                              int64_t lo, int64_t hi, int64_t *out) {
    mlops__arr_view a;
    if (!mlops__arr_view_of(json_object_get(tree, key), &a))
        return fmt_fail(c, "%s.%s is missing or not an array", path, key);
    if ((long)a.n != n)
        return fmt_fail(c, "%s.%s has %zu entries, tree_param.num_nodes is %ld", path, key, a.n, n);
    for (long i = 0; i < n; ++i) {
        int64_t x;
        if (!mlops__view_int(&a, (size_t)i, &x))
            return fmt_fail(c, "%s.%s[%ld] is not an integer", path, key, i);
        if (x < lo || x > hi)
            return fmt_fail(c, "%s.%s[%ld] = %" PRId64 " is outside [%" PRId64 ", %" PRId64 "]", path, key, i,
                            x, lo, hi);
        if (out) out[i] = x;
    }
    return MLOPS_OK;
}

static mlops_status real_array(const fmt_ctx *c, json_t *obj, const char *path, const char *key, long n) {
    mlops__arr_view a;
    if (!mlops__arr_view_of(json_object_get(obj, key), &a))
        return fmt_fail(c, "%s.%s is missing or not an array", path, key);
    if (n >= 0 && (long)a.n != n)
        return fmt_fail(c, "%s.%s has %zu entries, expected %ld", path, key, a.n, n);
    if (a.type == 'd' || a.type == 'D') return MLOPS_OK; /* a typed array of reals */
    for (size_t i = 0; i < a.n; ++i) {
        double d;
        if (!mlops__view_real(&a, i, &d))
            return fmt_fail(c, "%s.%s[%zu] is not a floating-point number", path, key, i);
    }
    return MLOPS_OK;
}

/* Categorical split arrays (tree_model.cc LoadCategoricalSplit). */
static mlops_status check_categories(const fmt_ctx *c, json_t *tree, const char *path, long n,
                                     const uint8_t *is_cat) {
    json_t *seg = json_object_get(tree, "categories_segments");
    json_t *siz = json_object_get(tree, "categories_sizes");
    json_t *nod = json_object_get(tree, "categories_nodes");
    json_t *cats = json_object_get(tree, "categories");
    if (!mlops__arr_is(seg) || !mlops__arr_is(siz) || !mlops__arr_is(nod) || !mlops__arr_is(cats))
        return fmt_fail(
            c,
            "%s has split_type but categories_segments/categories_sizes/categories_nodes/categories "
            "are missing or not arrays",
            path);
    size_t k = mlops__arr_size(nod), ncat = mlops__arr_size(cats);
    if (mlops__arr_size(seg) != k || mlops__arr_size(siz) != k)
        return fmt_fail(c,
                        "%s: categories_nodes has %zu entries but categories_segments has %zu and "
                        "categories_sizes %zu",
                        path, k, mlops__arr_size(seg), mlops__arr_size(siz));
    for (size_t j = 0; j < ncat; ++j) {
        int64_t v;
        if (!mlops__arr_int(cats, j, &v) || v < 0 || v >= FMT_MAX_CATEGORY)
            return fmt_fail(c, "%s.categories[%zu] is not an integer in [0, %ld)", path, j, FMT_MAX_CATEGORY);
    }
    int64_t prev = -1;
    size_t n_cat_nodes = 0;
    for (long i = 0; i < n; ++i)
        n_cat_nodes += is_cat[i] ? 1 : 0;
    if (n_cat_nodes != k)
        return fmt_fail(c, "%s: split_type marks %zu categorical nodes, categories_nodes lists %zu", path,
                        n_cat_nodes, k);
    for (size_t j = 0; j < k; ++j) {
        int64_t node, beg, size;
        if (!mlops__arr_int(nod, j, &node) || !mlops__arr_int(seg, j, &beg) || !mlops__arr_int(siz, j, &size))
            return fmt_fail(c, "%s: categories entry %zu is not an integer", path, j);
        if (node <= prev || node >= n || !is_cat[node])
            return fmt_fail(c,
                            "%s.categories_nodes[%zu] = %" PRId64 " is not an increasing categorical node id",
                            path, j, node);
        prev = node;
        if (beg < 0 || size < 1 || (uint64_t)beg > ncat || (uint64_t)size > ncat - (uint64_t)beg)
            return fmt_fail(c,
                            "%s: category segment %zu [%" PRId64 ", +%" PRId64
                            ") is empty or runs past the %zu "
                            "categories",
                            path, j, beg, size, ncat);
    }
    return MLOPS_OK;
}

/* Node scratch of check_tree_json, kept across the trees of a model (one allocation, grown to the
 * largest tree, instead of three per tree). Every entry read is written first: no zeroing. */
typedef struct tree_scratch {
    int64_t *ints;  /* 4 * cap: left, right, parent, split index */
    uint8_t *flags; /* 3 * cap: default left, categorical, seen */
    long *stack;    /* cap */
    size_t cap;
} tree_scratch;

static int scratch_room(tree_scratch *s, size_t nn) {
    if (nn <= s->cap) return 1;
    int64_t *ints = mlops__realloc(s->ints, 4 * nn * sizeof *ints);
    if (ints) s->ints = ints;
    uint8_t *flags = ints ? mlops__realloc(s->flags, 3 * nn) : NULL;
    if (flags) s->flags = flags;
    long *stack = flags ? mlops__realloc(s->stack, nn * sizeof *stack) : NULL;
    if (!stack) return 0;
    s->stack = stack;
    s->cap = nn;
    return 1;
}

static void scratch_free(tree_scratch *s) {
    mlops__free(s->ints);
    mlops__free(s->flags);
    mlops__free(s->stack);
    memset(s, 0, sizeof *s);
}

static mlops_status check_tree_json(const fmt_ctx *c, json_t *tree, const char *path, const model_info *mi,
                                    tree_scratch *scratch, tree_features *feat) {
    if (!json_is_object(tree)) return fmt_fail(c, "%s is not an object", path);
    char ppath[192];
    snprintf(ppath, sizeof ppath, "%s.tree_param", path);
    json_t *tp = json_object_get(tree, "tree_param");
    mlops_status st = check_param_object(c, tp, ppath);
    if (st) return st;
    long n, num_deleted, tnf, slv;
    if ((st = param_long(c, tp, ppath, "num_nodes", 1, 1, 1, INT32_MAX, &n)) ||
        (st = param_long(c, tp, ppath, "num_deleted", 0, 0, 0, INT32_MAX, &num_deleted)) ||
        (st = param_long(c, tp, ppath, "num_feature", 0, 0, 0, UINT32_MAX, &tnf)) ||
        (st = param_long(c, tp, ppath, "size_leaf_vector", 0, 0, 0, INT32_MAX, &slv)))
        return st;
    if (slv > 1)
        return fmt_fail(c,
                        "%s.size_leaf_vector is %ld: vector-leaf trees (multi_strategy=multi_output_tree) "
                        "are not supported",
                        ppath, slv);
    /* Node count bounded by the document itself: each of ~10 arrays holds n entries. */
    json_t *lc = json_object_get(tree, "left_children");
    if (!mlops__arr_is(lc)) return fmt_fail(c, "%s.left_children is missing or not an array", path);
    if ((long)mlops__arr_size(lc) != n)
        return fmt_fail(c, "%s.left_children has %zu entries, tree_param.num_nodes is %ld", path,
                        mlops__arr_size(lc), n);
    static const char *const reals[] = {"loss_changes", "sum_hessian", "base_weights", "split_conditions"};
    for (size_t i = 0; i < sizeof reals / sizeof *reals; ++i)
        if ((st = real_array(c, tree, path, reals[i], n))) return st;

    size_t nn = (size_t)n;
    if (!scratch_room(scratch, nn))
        return mlops__fail(MLOPS_ENOMEM, "%s: out of memory checking %s", c->what, path);
    int64_t *ints = scratch->ints;
    uint8_t *flags = scratch->flags;
    long *stack = scratch->stack;
    tree_nodes t = {n, ints, ints + nn, ints + 2 * nn, ints + 3 * nn, flags, NULL, num_deleted};
    uint8_t *dleft = flags, *cat = flags + nn, *seen = flags + 2 * nn;
    if ((st = int_array(c, tree, path, "left_children", n, INT32_MIN, INT32_MAX, ints)) ||
        (st = int_array(c, tree, path, "right_children", n, INT32_MIN, INT32_MAX, ints + nn)) ||
        (st = int_array(c, tree, path, "parents", n, INT32_MIN, INT32_MAX, ints + 2 * nn)) ||
        (st = int_array(c, tree, path, "split_indices", n, 0, UINT32_MAX, ints + 3 * nn)))
        goto done;
    /* XGBoost stores Parent() (the parent id with the left-child bit masked off); the root has
     * kInvalidNodeId masked, 2147483647. Mask the same way it does. */
    for (size_t i = 0; i < nn; ++i)
        ints[2 * nn + i] = (int64_t)((uint32_t)ints[2 * nn + i] & 0x7fffffffu);
    json_t *dl = json_object_get(tree, "default_left");
    if (!mlops__arr_is(dl) || (long)mlops__arr_size(dl) != n) {
        st = fmt_fail(c, "%s.default_left is missing, not an array or not %ld entries long", path, n);
        goto done;
    }
    mlops__arr_view dlv;
    mlops__arr_view_of(dl, &dlv);
    for (size_t i = 0; i < nn; ++i) {
        json_t *v = dlv.plain ? json_array_get(dl, i) : NULL;
        int64_t x;
        if (json_is_boolean(v))
            dleft[i] = json_is_true(v);
        else if (mlops__view_int(&dlv, i, &x) && x >= 0 && x <= 255)
            dleft[i] = x == 1;
        else {
            st = fmt_fail(c, "%s.default_left[%zu] is not a boolean or a small integer", path, i);
            goto done;
        }
    }
    json_t *stype = json_object_get(tree, "split_type");
    if (stype) {
        int64_t *tmp = mlops__calloc(nn, sizeof *tmp);
        if (!tmp) {
            st = mlops__fail(MLOPS_ENOMEM, "%s: out of memory checking %s", c->what, path);
            goto done;
        }
        st = int_array(c, tree, path, "split_type", n, 0, 1, tmp);
        for (size_t i = 0; i < nn && !st; ++i)
            cat[i] = (uint8_t)tmp[i];
        mlops__free(tmp);
        if (st) goto done;
        t.cat = cat;
        if ((st = check_categories(c, tree, path, n, cat))) goto done;
    }
    st = check_tree_nodes(c, &t, mi, path, seen, stack, feat);
done:
    return st;
}

/* ---- Trees checked while the document is read ---- */

/* The two places XGBoost keeps trees (gbtree, and dart's inner gbtree), as key paths for the
 * readers' hook and as the prefixes of messages. */
enum { TREES_GBTREE = 0, TREES_DART = 1 };
static const char *const tree_key_paths[] = {"learner/gradient_booster/model/trees",
                                             "learner/gradient_booster/gbtree/model/trees", NULL};
static const char *const tree_msg_paths[] = {"learner.gradient_booster.model",
                                             "learner.gradient_booster.gbtree.model"};

/* A tree object checked while reading: everything but its split features against num_feature. */
typedef struct tree_seen {
    json_t *tree; /* a reference to the object checked; NULL when none */
    tree_features feat;
} tree_seen;

/* What the hook checked, per tree array and position. The structural pass uses an entry only when
 * its object is the one the final document holds there (a repeated key may have replaced or
 * dropped the array read), and checks any other tree itself. */
typedef struct tree_log {
    const fmt_ctx *c;
    tree_seen *v[2];
    size_t n[2];
    tree_scratch scratch;         /* shared by every tree check of the load */
    mlops__forest_stream *stream; /* NULL, or where each tree goes once checked (then its arrays go) */
    int which;                    /* the tree array streamed: -1 before the first tree */
    int broken;                   /* 1: a tree could not be streamed, or came out of order */
} tree_log;

static void tree_log_clear(tree_log *log) {
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < log->n[k]; i++)
            json_decref(log->v[k][i].tree);
        mlops__free(log->v[k]);
        log->v[k] = NULL;
        log->n[k] = 0;
    }
    scratch_free(&log->scratch);
}

/* What a tree holds (tree_model.cc SaveModel), dropped once checked and streamed. "id" stays for
 * the checks at the end, and so do keys XGBoost does not write (compat.c refuses them by name). */
static const char *const tree_arrays[] = {
    "tree_param",    "loss_changes",     "sum_hessian",         "base_weights",     "left_children",
    "right_children", "parents",         "split_indices",       "split_conditions", "split_type",
    "default_left",  "categories",       "categories_nodes",    "categories_segments", "categories_sizes",
    "leaf_child_counts"};

/* Hand a checked tree to the stream and drop its arrays, so that the document never holds more
 * than the tree being read (issue 24). A tree out of order (a repeated key, both tree arrays) or
 * one the engine cannot flatten stops the streaming: mlops__model_read_stream then reads the
 * bytes again without it. Out of memory stops the read. */
static int stream_tree(tree_log *log, int which, size_t index, json_t *tree) {
    if (!log->stream || log->broken) return MLOPS_OK;
    if ((log->which >= 0 && which != log->which) || index != mlops__forest_stream_count(log->stream)) {
        log->broken = 1;
        return MLOPS_OK;
    }
    log->which = which;
    mlops__error_saved saved;
    mlops__error_save(&saved);
    mlops_status st = mlops__forest_stream_tree(log->stream, tree);
    if (st == MLOPS_ENOMEM) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", log->c->what);
    if (st != MLOPS_OK) {
        mlops__error_restore(&saved); /* not the read's failure: the engine's, met again later */
        log->broken = 1;
        return MLOPS_OK;
    }
    for (size_t k = 0; k < sizeof tree_arrays / sizeof *tree_arrays; k++)
        json_object_del(tree, tree_arrays[k]);
    return MLOPS_OK;
}

/* mlops__json_hook: check tree `index` of array `which` the moment the reader has built it. */
static int check_tree_read(void *ctx, int which, size_t index, json_t *tree) {
    tree_log *log = ctx;
    if (index > INT32_MAX) return MLOPS_OK; /* more trees than num_trees can say: the pass refuses it */
    if (index >= log->n[which]) {
        tree_seen *v = mlops__realloc(log->v[which], (index + 1) * 2 * sizeof *v);
        if (!v) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", log->c->what);
        memset(v + log->n[which], 0, ((index + 1) * 2 - log->n[which]) * sizeof *v);
        log->v[which] = v;
        log->n[which] = (index + 1) * 2;
    }
    char q[160];
    snprintf(q, sizeof q, "%s.trees[%zu]", tree_msg_paths[which], index);
    model_info any = {LONG_MAX, 0, 0, 0}; /* num_feature is read later */
    tree_seen *e = &log->v[which][index];
    mlops_status st = check_tree_json(log->c, tree, q, &any, &log->scratch, &e->feat);
    if (st) return st;
    json_decref(e->tree);
    e->tree = json_incref(tree);
    return stream_tree(log, which, index, tree);
}

/* Tree `i` of array `which`: the hook's result when it checked this very object, else the check. */
static mlops_status check_tree_final(const fmt_ctx *c, tree_log *log, int which, long i, json_t *tree,
                                     const char *path, const model_info *mi) {
    const tree_seen *e = (size_t)i < log->n[which] ? &log->v[which][i] : NULL;
    if (!e || !e->tree || e->tree != tree) return check_tree_json(c, tree, path, mi, &log->scratch, NULL);
    if (e->feat.max >= mi->num_feature)
        return feature_fail(c, path, e->feat.node, e->feat.max, mi->num_feature);
    return MLOPS_OK;
}

static mlops_status check_gbtree_json(const fmt_ctx *c, json_t *gb, const char *path, const model_info *mi,
                                      tree_log *log, int which, long *num_trees_out) {
    char p[128], q[160];
    if (!json_is_object(gb)) return fmt_fail(c, "%s is not an object", path);
    json_t *name = json_object_get(gb, "name");
    if (!json_is_string(name) || strcmp(json_string_value(name), "gbtree") != 0)
        return fmt_fail(c, "%s.name is not \"gbtree\"", path);
    json_t *model = json_object_get(gb, "model");
    snprintf(p, sizeof p, "%s.model", path);
    if (!json_is_object(model)) return fmt_fail(c, "%s is missing or not an object", p);
    snprintf(q, sizeof q, "%s.gbtree_model_param", p);
    json_t *mp = json_object_get(model, "gbtree_model_param");
    mlops_status st = check_param_object(c, mp, q);
    if (st) return st;
    long num_trees, npt, slv;
    if ((st = param_long(c, mp, q, "num_trees", 1, 0, 0, INT32_MAX, &num_trees)) ||
        (st = param_long(c, mp, q, "num_parallel_tree", 0, 1, 1, INT32_MAX, &npt)) ||
        (st = param_long(c, mp, q, "size_leaf_vector", 0, 0, 0, INT32_MAX, &slv)))
        return st;
    if (slv > 1)
        return fmt_fail(c,
                        "%s.size_leaf_vector is %ld: vector-leaf trees (multi_strategy=multi_output_tree) "
                        "are not supported",
                        q, slv);
    if (json_object_get(model, "weight_drop") && (st = real_array(c, model, p, "weight_drop", -1))) return st;
    json_t *trees = json_object_get(model, "trees");
    json_t *info = json_object_get(model, "tree_info");
    if (!json_is_array(trees)) return fmt_fail(c, "%s.trees is missing or not an array", p);
    if (!mlops__arr_is(info)) return fmt_fail(c, "%s.tree_info is missing or not an array", p);
    if ((long)json_array_size(trees) != num_trees)
        return fmt_fail(c, "%s.trees has %zu trees, num_trees is %ld", p, json_array_size(trees), num_trees);
    if ((long)mlops__arr_size(info) != num_trees)
        return fmt_fail(c, "%s.tree_info has %zu entries, num_trees is %ld", p, mlops__arr_size(info),
                        num_trees);
    unsigned char *ids = mlops__calloc((size_t)num_trees + 1, 1);
    if (!ids) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", c->what);
    for (long i = 0; i < num_trees && !st; ++i) {
        int64_t g;
        if (!mlops__arr_int(info, (size_t)i, &g) || g < 0 || g >= mi->n_groups) {
            st = fmt_fail(c, "%s.tree_info[%ld] is not an output group in [0, %ld)", p, i, mi->n_groups);
            break;
        }
        json_t *tree = json_array_get(trees, (size_t)i);
        snprintf(q, sizeof q, "%s.trees[%ld]", p, i);
        json_t *id = json_is_object(tree) ? json_object_get(tree, "id") : NULL;
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= num_trees ||
            ids[json_integer_value(id)]) {
            st = fmt_fail(c, "%s.id is missing, out of range or repeated", q);
            break;
        }
        ids[json_integer_value(id)] = 1;
        st = check_tree_final(c, log, which, i, tree, q, mi);
    }
    mlops__free(ids);
    *num_trees_out = num_trees;
    return st;
}

/* Objectives registered in XGBoost 1.7.4 and 3.5 (src/objective/). Anything else fails to load there. */
static const char *const known_objectives[] = {
    "reg:squarederror",  "reg:squaredlogerror", "reg:logistic",  "reg:pseudohubererror",
    "reg:absoluteerror", "reg:linear",          "reg:gamma",     "reg:tweedie",
    "binary:logistic",   "binary:logitraw",     "binary:hinge",  "count:poisson",
    "survival:cox",      "survival:aft",        "multi:softmax", "multi:softprob",
    "rank:pairwise",     "rank:ndcg",           "rank:map",      "reg:quantileerror",
    "reg:expectileerror"};

static int known_objective(const char *s, size_t n) {
    for (size_t i = 0; i < sizeof known_objectives / sizeof *known_objectives; ++i)
        if (strlen(known_objectives[i]) == n && memcmp(known_objectives[i], s, n) == 0) return 1;
    return 0;
}

static mlops_status check_objective(const fmt_ctx *c, json_t *obj, const char *path, const model_info *mi) {
    if (!json_is_object(obj)) return fmt_fail(c, "%s is missing or not an object", path);
    json_t *name = json_object_get(obj, "name");
    if (!json_is_string(name)) return fmt_fail(c, "%s.name is missing or not a string", path);
    const char *nm = json_string_value(name);
    if (!known_objective(nm, json_string_length(name)))
        return fmt_fail(c, "%s.name \"%.40s\" is not an XGBoost objective", path, nm);
    if (strncmp(nm, "multi:", 6) == 0) {
        json_t *sp = json_object_get(obj, "softmax_multiclass_param");
        char q[160];
        snprintf(q, sizeof q, "%s.softmax_multiclass_param", path);
        mlops_status st = check_param_object(c, sp, q);
        if (st) return st;
        long k;
        if ((st = param_long(c, sp, q, "num_class", 1, 0, 1, FMT_MAX_CLASSES, &k))) return st;
        if (k != mi->num_class)
            return fmt_fail(c, "%s.num_class is %ld but learner_model_param.num_class is %ld", q, k,
                            mi->num_class);
    }
    return MLOPS_OK;
}

static mlops_status check_learner_json(const fmt_ctx *c, json_t *root, tree_log *log) {
    if (!json_is_object(root)) return fmt_fail(c, "the document is not an object");
    mlops_status st;
    json_t *ver = json_object_get(root, "version");
    if (ver) {
        int64_t x;
        if (!mlops__arr_is(ver) || mlops__arr_size(ver) < 3 || !mlops__arr_int(ver, 0, &x) ||
            !mlops__arr_int(ver, 1, &x) || !mlops__arr_int(ver, 2, &x))
            return fmt_fail(c, "version is not an array of three integers");
    }
    json_t *learner = json_object_get(root, "learner");
    if (!json_is_object(learner)) return fmt_fail(c, "\"learner\" is missing or not an object");
    json_t *lmp = json_object_get(learner, "learner_model_param");
    json_t *gb = json_object_get(learner, "gradient_booster");
    json_t *obj = json_object_get(learner, "objective");
    if (!lmp || !gb || !obj)
        return fmt_fail(c, "learner lacks %s",
                        !lmp  ? "learner_model_param"
                        : !gb ? "gradient_booster"
                              : "objective");
    const char *lp = "learner.learner_model_param";
    if ((st = check_param_object(c, lmp, lp))) return st;
    model_info mi;
    long bfa;
    if ((st = param_long(c, lmp, lp, "num_feature", 1, 0, 0, FMT_MAX_FEATURES, &mi.num_feature)) ||
        (st = param_long(c, lmp, lp, "num_class", 1, 0, 0, FMT_MAX_CLASSES, &mi.num_class)) ||
        (st = param_long(c, lmp, lp, "num_target", 0, 1, 1, FMT_MAX_CLASSES, &mi.num_target)) ||
        (st = param_long(c, lmp, lp, "boost_from_average", 0, 1, INT32_MIN, INT32_MAX, &bfa)))
        return st;
    json_t *bs = json_object_get(lmp, "base_score");
    if (!bs || !parse_base_score(json_string_value(bs)))
        return fmt_fail(c, "%s.base_score is missing or not a number or a list of numbers", lp);
    if (mi.num_class > 1 && mi.num_target > 1)
        return fmt_fail(c,
                        "%s: num_class %ld with num_target %ld (multi-class multi-output is not supported)",
                        lp, mi.num_class, mi.num_target);
    mi.n_groups = mi.num_class > mi.num_target ? mi.num_class : mi.num_target;
    if (mi.n_groups < 1) mi.n_groups = 1;

    if ((st = check_objective(c, obj, "learner.objective", &mi))) return st;

    if (!json_is_object(gb)) return fmt_fail(c, "learner.gradient_booster is not an object");
    json_t *gname = json_object_get(gb, "name");
    if (!json_is_string(gname))
        return fmt_fail(c, "learner.gradient_booster.name is missing or not a string");
    const char *gn = json_string_value(gname);
    long num_trees = 0;
    if (strcmp(gn, "gbtree") == 0) {
        if ((st = check_gbtree_json(c, gb, "learner.gradient_booster", &mi, log, TREES_GBTREE, &num_trees)))
            return st;
    } else if (strcmp(gn, "dart") == 0) {
        if ((st = check_gbtree_json(c, json_object_get(gb, "gbtree"), "learner.gradient_booster.gbtree", &mi,
                                    log, TREES_DART, &num_trees)))
            return st;
        if ((st = real_array(c, gb, "learner.gradient_booster", "weight_drop", num_trees))) return st;
    } else if (strcmp(gn, "gblinear") == 0) {
        json_t *model = json_object_get(gb, "model");
        if (!json_is_object(model))
            return fmt_fail(c, "learner.gradient_booster.model is missing or not an object");
        long nw = (mi.num_feature + 1) * mi.n_groups;
        if ((st = real_array(c, model, "learner.gradient_booster.model", "weights", nw))) return st;
        json_t *br = json_object_get(model, "boosted_rounds");
        if (br && (!json_is_integer(br) || json_integer_value(br) < 0 || json_integer_value(br) > INT32_MAX))
            return fmt_fail(c, "learner.gradient_booster.model.boosted_rounds is not a non-negative int32");
    } else {
        return fmt_fail(c, "learner.gradient_booster.name \"%.40s\" is not gbtree, dart or gblinear", gn);
    }

    json_t *attrs = json_object_get(learner, "attributes");
    if (!json_is_object(attrs)) return fmt_fail(c, "learner.attributes is missing or not an object");
    if ((st = check_param_object(c, attrs, "learner.attributes"))) return st;
    static const char *const lists[] = {"feature_names", "feature_types"};
    for (int k = 0; k < 2; ++k) {
        json_t *a = json_object_get(learner, lists[k]);
        if (!a) continue;
        if (!json_is_array(a)) return fmt_fail(c, "learner.%s is not an array", lists[k]);
        size_t n = json_array_size(a);
        if (n != 0 && (long)n != mi.num_feature)
            return fmt_fail(c, "learner.%s has %zu entries, the model has %ld features", lists[k], n,
                            mi.num_feature);
        size_t i;
        json_t *v;
        json_array_foreach(a, i, v) {
            if (!json_is_string(v)) return fmt_fail(c, "learner.%s[%zu] is not a string", lists[k], i);
        }
    }
    return MLOPS_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* JSON                                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* One pass of our reader (json_reader.h): the NaN, Infinity and -Infinity XGBoost writes are read
 * natively, numeric arrays stay compact, the depth limit and the reserved 0x02 byte are checked,
 * and each tree is checked as soon as it is read. What is left for check_learner_json is the
 * model's frame (parameters, counts, tree_info, ids), not its nodes. */
static mlops_status check_json(const fmt_ctx *c, const char *data, size_t len, json_t **doc,
                               mlops__forest_stream *stream, int *broken) {
    mlops__json_read_error err;
    tree_log log = {c, {NULL, NULL}, {0, 0}, {NULL, NULL, NULL, 0}, stream, -1, 0};
    mlops__json_hook hook = {tree_key_paths, check_tree_read, &log};
    json_t *root = mlops__json_read_hooked(data, len, FMT_MAX_DEPTH, &hook, &err);
    mlops_status st = MLOPS_OK;
    if (!root && err.hook_status)
        st = (mlops_status)err.hook_status; /* the tree's own message */
    else if (!root && err.nomem)
        st = mlops__fail(MLOPS_ENOMEM, "%s: out of memory", c->what);
    else if (!root)
        st = fmt_fail(c, "%s at offset %zu (line %d, %zu bytes)", err.text, err.position, err.line, len);
    else
        st = check_learner_json(c, root, &log);
    *broken = log.broken;
    tree_log_clear(&log);
    if (!st && doc)
        *doc = root;
    else
        json_decref(root);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* UBJSON (XGBoost 1.7's dialect: src/common/json.cc UBJReader)                                */
/* ------------------------------------------------------------------------------------------ */

typedef struct ubj {
    const fmt_ctx *c;
    const unsigned char *p;
    size_t len, pos;
    const mlops__json_hook *hook; /* trees checked as they are read */
    mlops__key_path kp;
} ubj;

static mlops_status ubj_need(ubj *u, size_t n, const char *what_field) {
    if (n > u->len - u->pos)
        return fmt_fail(u->c, "%s at offset %zu needs %zu bytes, runs past the end (%zu bytes)", what_field,
                        u->pos, n, u->len);
    return MLOPS_OK;
}

static uint64_t ubj_be(const unsigned char *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i)
        v = (v << 8) | p[i];
    return v;
}

static mlops_status ubj_int64(ubj *u, const char *field, int64_t *out) {
    mlops_status st = ubj_need(u, 8, field);
    if (st) return st;
    *out = (int64_t)ubj_be(u->p + u->pos, 8);
    u->pos += 8;
    return MLOPS_OK;
}

/* XGBoost's DecodeStr: 'L' then an int64 length; no other length marker is read. */
static mlops_status ubj_str(ubj *u, const char **s, size_t *n) {
    size_t at = u->pos;
    mlops_status st = ubj_need(u, 1, "string length marker");
    if (st) return st;
    unsigned char m = u->p[u->pos];
    if (m != 'L')
        return fmt_fail(u->c, "string length marker '%c' (0x%02x) at offset %zu; XGBoost 1.7 reads only 'L'",
                        isprint(m) ? m : '?', m, at);
    u->pos++;
    int64_t len;
    if ((st = ubj_int64(u, "string length", &len))) return st;
    if (len < 0 || (uint64_t)len > u->len - u->pos)
        return fmt_fail(u->c, "string length %" PRId64 " at offset %zu runs past the end (%zu bytes)", len,
                        at, u->len);
    *s = (const char *)u->p + u->pos;
    *n = (size_t)len;
    u->pos += (size_t)len;
    return MLOPS_OK;
}

static mlops_status ubj_value(ubj *u, int depth, json_t **out);

static mlops_status ubj_scalar(ubj *u, unsigned char m, size_t at, json_t **out) {
    mlops_status st;
    size_t w;
    switch (m) {
    case 'Z':
        *out = json_null();
        return MLOPS_OK;
    case 'T':
        *out = json_true();
        return MLOPS_OK;
    case 'F':
        *out = json_true();
        return MLOPS_OK; /* XGBoost 1.7 reads 'F' as true, too */
    case 'd':
        w = 4;
        break;
    case 'D':
        w = 8;
        break;
    case 'i':
    case 'U':
    case 'C':
        w = 1;
        break;
    case 'I':
        w = 2;
        break;
    case 'l':
        w = 4;
        break;
    case 'L':
        w = 8;
        break;
    case 'S': {
        const char *s;
        size_t n;
        if ((st = ubj_str(u, &s, &n)) || (st = reserved_string(u->c, s, n))) return st;
        *out = json_stringn_nocheck(s, n);
        return *out ? MLOPS_OK : mlops__fail(MLOPS_ENOMEM, "%s: out of memory", u->c->what);
    }
    default:
        return fmt_fail(u->c, "unknown marker '%c' (0x%02x) at offset %zu", isprint(m) ? m : '?', m, at);
    }
    if ((st = ubj_need(u, w, "number"))) return st;
    uint64_t raw = ubj_be(u->p + u->pos, w);
    u->pos += w;
    if (m == 'd' || m == 'D') {
        double d;
        if (m == 'd') {
            union {
                uint32_t u;
                float f;
            } cv = {(uint32_t)raw};
            d = (double)cv.f;
        } else {
            union {
                uint64_t u;
                double f;
            } cv = {raw};
            d = cv.f;
        }
        *out = mlops__json_number(d);
    } else {
        int64_t v;
        switch (m) {
        case 'i':
            v = (int8_t)raw;
            break;
        case 'U':
            v = (uint8_t)raw;
            break;
        case 'C':
            v = (char)raw;
            break;
        case 'I':
            v = (int16_t)raw;
            break;
        case 'l':
            v = (int32_t)raw;
            break;
        default:
            v = (int64_t)raw;
            break;
        }
        *out = json_integer(v);
    }
    return *out ? MLOPS_OK : mlops__fail(MLOPS_ENOMEM, "%s: out of memory", u->c->what);
}

/* The values of a plain array, `n` of them (a counted array) or up to its ']' (n < 0), appended to
 * `arr`; each handed to the hook when the array is watched. */
static mlops_status ubj_elements(ubj *u, int depth, int64_t n, json_t *arr) {
    int watched = mlops__key_path_watched(&u->kp, u->hook);
    size_t saved = mlops__key_path_enter(&u->kp, NULL, 0);
    mlops_status st = MLOPS_OK;
    for (int64_t i = 0; !st && (n < 0 || i < n); ++i) {
        if (n < 0) {
            if ((st = ubj_need(u, 1, "array element or ']'"))) break;
            if (u->p[u->pos] == ']') {
                u->pos++;
                break;
            }
        }
        json_t *v;
        if ((st = ubj_value(u, depth + 1, &v))) break;
        if (json_array_append_new(arr, v))
            st = mlops__fail(MLOPS_ENOMEM, "%s: out of memory", u->c->what);
        else if (watched >= 0)
            st = (mlops_status)u->hook->element(u->hook->ctx, watched, (size_t)i, v);
    }
    mlops__key_path_leave(&u->kp, saved);
    return st;
}

static mlops_status ubj_array(ubj *u, int depth, size_t at, json_t **out) {
    mlops_status st;
    json_t *arr = json_array();
    if (!arr) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", u->c->what);
    if ((st = ubj_need(u, 1, "array content"))) goto fail;
    if (u->p[u->pos] == '$') { /* typed array: $ type # L int64 */
        u->pos++;
        if ((st = ubj_need(u, 3, "typed array header"))) goto fail;
        unsigned char type = u->p[u->pos];
        if (u->p[u->pos + 1] != '#' || u->p[u->pos + 2] != 'L') {
            st = fmt_fail(u->c, "typed array at offset %zu lacks the '#L' count XGBoost 1.7 requires", at);
            goto fail;
        }
        u->pos += 3;
        size_t w = mlops__typed_width(type);
        if (!w) {
            st = fmt_fail(
                u->c, "typed array of '%c' at offset %zu is not an XGBoost array type (d, D, i, U, I, l, L)",
                isprint(type) ? type : '?', at);
            goto fail;
        }
        int64_t n;
        if ((st = ubj_int64(u, "typed array count", &n))) goto fail;
        if (n < 0 || (uint64_t)n > (u->len - u->pos) / w) {
            st = fmt_fail(u->c, "typed array count %" PRId64 " at offset %zu runs past the end (%zu bytes)",
                          n, at, u->len);
            goto fail;
        }
        /* Kept compact (engine/doc_array.h): one string, not a jansson value per element. */
        json_decref(arr);
        arr = mlops__typed_array(type, u->p + u->pos, (size_t)n);
        if (!arr) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", u->c->what);
        u->pos += (size_t)n * w;
    } else if (u->p[u->pos] == '#') { /* counted array: # L int64, then values */
        u->pos++;
        if ((st = ubj_need(u, 1, "array count marker"))) goto fail;
        if (u->p[u->pos] != 'L') {
            st = fmt_fail(u->c, "array count at offset %zu is not 'L' (XGBoost 1.7 reads only 'L')", u->pos);
            goto fail;
        }
        u->pos++;
        int64_t n;
        if ((st = ubj_int64(u, "array count", &n))) goto fail;
        if (n < 0 || (uint64_t)n > u->len - u->pos) { /* every value takes at least one byte */
            st = fmt_fail(u->c, "array count %" PRId64 " at offset %zu runs past the end (%zu bytes)", n, at,
                          u->len);
            goto fail;
        }
        if ((st = ubj_elements(u, depth, n, arr))) goto fail;
    } else if ((st = ubj_elements(u, depth, -1, arr))) {
        goto fail;
    }
    *out = arr;
    return MLOPS_OK;
fail:
    json_decref(arr);
    return st;
}

static mlops_status ubj_object(ubj *u, int depth, json_t **out) {
    mlops_status st;
    json_t *obj = json_object();
    if (!obj) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", u->c->what);
    for (;;) {
        if ((st = ubj_need(u, 1, "object key or '}'"))) goto fail;
        if (u->p[u->pos] == '}') {
            u->pos++;
            break;
        }
        const char *k;
        size_t kn;
        if ((st = ubj_str(u, &k, &kn))) goto fail;
        json_t *v;
        size_t saved = mlops__key_path_enter(&u->kp, k, kn);
        st = ubj_value(u, depth + 1, &v);
        mlops__key_path_leave(&u->kp, saved);
        if (st) goto fail;
        /* std::map::emplace keeps the first value of a repeated key; so do we. */
        if (json_object_getn(obj, k, kn)) {
            json_decref(v);
            continue;
        }
        if (json_object_setn_new_nocheck(obj, k, kn, v)) {
            st = mlops__fail(MLOPS_ENOMEM, "%s: out of memory", u->c->what);
            goto fail;
        }
    }
    *out = obj;
    return MLOPS_OK;
fail:
    json_decref(obj);
    return st;
}

static mlops_status ubj_value(ubj *u, int depth, json_t **out) {
    if (depth > FMT_MAX_DEPTH)
        return fmt_fail(u->c, "nesting deeper than %d levels at offset %zu", FMT_MAX_DEPTH, u->pos);
    mlops_status st = ubj_need(u, 1, "value marker");
    if (st) return st;
    size_t at = u->pos;
    unsigned char m = u->p[u->pos++];
    if (m == '{') return ubj_object(u, depth, out);
    if (m == '[') return ubj_array(u, depth, at, out);
    if (m == 'H') return fmt_fail(u->c, "'%c' number at offset %zu is not supported by XGBoost", m, at);
    return ubj_scalar(u, m, at, out);
}

/* One pass over the bytes builds the document and checks each tree as it is read (as check_json). */
static mlops_status check_ubjson(const fmt_ctx *c, const unsigned char *data, size_t len, json_t **doc,
                                 mlops__forest_stream *stream, int *broken) {
    tree_log log = {c, {NULL, NULL}, {0, 0}, {NULL, NULL, NULL, 0}, stream, -1, 0};
    mlops__json_hook hook = {tree_key_paths, check_tree_read, &log};
    ubj u;
    memset(&u, 0, sizeof u);
    u.c = c;
    u.p = data;
    u.len = len;
    u.hook = &hook;
    json_t *root = NULL;
    mlops_status st = ubj_value(&u, 1, &root);
    *broken = log.broken;
    if (st) {
        tree_log_clear(&log);
        return st;
    }
    if (u.pos != len)
        st = fmt_fail(c, "%zu trailing bytes after the document at offset %zu", len - u.pos, u.pos);
    if (!st) st = check_learner_json(c, root, &log);
    *broken = log.broken;
    tree_log_clear(&log);
    if (!st && doc)
        *doc = root;
    else
        json_decref(root);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* Legacy binary (learner.cc LoadModel(dmlc::Stream*), gbtree_model.cc, tree_model.cc)        */
/* ------------------------------------------------------------------------------------------ */

enum {
    LEARNER_PARAM_SIZE = 136, /* LearnerModelParamLegacy */
    GBTREE_PARAM_SIZE = 160,  /* GBTreeModelParam */
    TREE_PARAM_SIZE = 148,    /* TreeParam */
    NODE_SIZE = 20,           /* RegTree::Node */
    STAT_SIZE = 16,           /* RTreeNodeStat */
    GBLINEAR_PARAM_SIZE = 136 /* DeprecatedGBLinearModelParam */
};

typedef struct bin {
    const fmt_ctx *c;
    const unsigned char *p;
    size_t len, pos;
} bin;

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static int32_t les32(const unsigned char *p) { return (int32_t)le32(p); }
static uint64_t le64(const unsigned char *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static mlops_status bin_need(bin *b, size_t n, const char *field) {
    if (n > b->len - b->pos)
        return fmt_fail(b->c, "%s at offset %zu needs %zu bytes, runs past the end (%zu bytes)", field,
                        b->pos, n, b->len);
    return MLOPS_OK;
}

/* dmlc::Stream::Read(std::string*): uint64 length, then bytes. */
static mlops_status bin_str(bin *b, const char *field, const unsigned char **s, size_t *n) {
    size_t at = b->pos;
    mlops_status st = bin_need(b, 8, field);
    if (st) return st;
    uint64_t len = le64(b->p + b->pos);
    b->pos += 8;
    if (len > b->len - b->pos)
        return fmt_fail(b->c, "%s length %" PRIu64 " at offset %zu runs past the end (%zu bytes)", field, len,
                        at, b->len);
    *s = b->p + b->pos;
    *n = (size_t)len;
    b->pos += (size_t)len;
    return MLOPS_OK;
}

static int plausible_name(const unsigned char *s, size_t n) {
    if (n == 0 || n > 64) return 0;
    for (size_t i = 0; i < n; ++i)
        if (!(islower(s[i]) || isdigit(s[i]) || s[i] == ':' || s[i] == '_')) return 0;
    return 1;
}

/* Does this look like the legacy binary format at all (as opposed to some other file)? */
static int looks_binary(const unsigned char *p, size_t len) {
    size_t off = len >= 4 && memcmp(p, "binf", 4) == 0 ? 4 : 0;
    if (off) return 1;
    if (len < LEARNER_PARAM_SIZE + 8) return 0;
    uint64_t n = le64(p + LEARNER_PARAM_SIZE);
    if (n > len - LEARNER_PARAM_SIZE - 8) return 0;
    return plausible_name(p + LEARNER_PARAM_SIZE + 8, (size_t)n);
}

static mlops_status bin_tree(bin *b, long t, const model_info *mi) {
    char path[48];
    snprintf(path, sizeof path, "tree %ld", t);
    size_t at = b->pos;
    mlops_status st = bin_need(b, TREE_PARAM_SIZE, "tree parameters");
    if (st) return st;
    const unsigned char *tp = b->p + b->pos;
    int32_t n = les32(tp + 4), num_deleted = les32(tp + 8);
    b->pos += TREE_PARAM_SIZE;
    if (n < 1) return fmt_fail(b->c, "%s at offset %zu has num_nodes %d", path, at, n);
    if (num_deleted < 0) return fmt_fail(b->c, "%s at offset %zu has num_deleted %d", path, at, num_deleted);
    if ((size_t)n > (b->len - b->pos) / (NODE_SIZE + STAT_SIZE))
        return fmt_fail(b->c, "%s at offset %zu: %d nodes run past the end (%zu bytes)", path, at, n, b->len);
    size_t nn = (size_t)n;
    const unsigned char *nodes = b->p + b->pos;
    b->pos += nn * (NODE_SIZE + STAT_SIZE);
    int64_t *ints = mlops__calloc(4 * nn, sizeof *ints);
    unsigned char *seen = mlops__calloc(nn, 1);
    long *stack = mlops__calloc(nn, sizeof *stack);
    if (!ints || !seen || !stack) {
        st = mlops__fail(MLOPS_ENOMEM, "%s: out of memory checking %s", b->c->what, path);
        goto done;
    }
    for (size_t i = 0; i < nn; ++i) {
        const unsigned char *q = nodes + i * NODE_SIZE;
        ints[2 * nn + i] = (int64_t)(le32(q) & 0x7fffffffu); /* Parent() */
        ints[i] = les32(q + 4);
        ints[nn + i] = les32(q + 8);
        uint32_t sindex = le32(q + 12);
        /* A deleted node has sindex all ones; keep it recognisable as such. */
        ints[3 * nn + i] = sindex == UINT32_MAX ? (int64_t)UINT32_MAX : (int64_t)(sindex & 0x7fffffffu);
    }
    tree_nodes tn = {n, ints, ints + nn, ints + 2 * nn, ints + 3 * nn, NULL, NULL, num_deleted};
    st = check_tree_nodes(b->c, &tn, mi, path, seen, stack, NULL);
done:
    mlops__free(ints);
    mlops__free(seen);
    mlops__free(stack);
    return st;
}

static mlops_status bin_f32_vector(bin *b, const char *field, uint64_t *n_out) {
    size_t at = b->pos;
    mlops_status st = bin_need(b, 8, field);
    if (st) return st;
    uint64_t n = le64(b->p + b->pos);
    b->pos += 8;
    if (n > (b->len - b->pos) / 4)
        return fmt_fail(b->c, "%s of %" PRIu64 " floats at offset %zu runs past the end (%zu bytes)", field,
                        n, at, b->len);
    b->pos += (size_t)n * 4;
    *n_out = n;
    return MLOPS_OK;
}

static mlops_status check_binary(const fmt_ctx *c, const unsigned char *p, size_t len) {
    bin b = {c, p, len, 0};
    if (len >= 4 && memcmp(p, "binf", 4) == 0) b.pos = 4;
    mlops_status st = bin_need(&b, LEARNER_PARAM_SIZE, "learner parameters");
    if (st) return st;
    const unsigned char *lp = p + b.pos;
    model_info mi;
    uint32_t nf = le32(lp + 4);
    int32_t ncls = les32(lp + 8), extra = les32(lp + 12);
    uint32_t ntarget = le32(lp + 28);
    if (ntarget == 0) ntarget = 1;
    if (nf > FMT_MAX_FEATURES)
        return fmt_fail(c, "num_feature %" PRIu32 " at offset %zu is too large", nf, b.pos + 4);
    if (ncls < 0 || ncls > FMT_MAX_CLASSES)
        return fmt_fail(c, "num_class %" PRId32 " at offset %zu is out of range", ncls, b.pos + 8);
    if (ntarget > FMT_MAX_CLASSES)
        return fmt_fail(c, "num_target %" PRIu32 " at offset %zu is out of range", ntarget, b.pos + 28);
    if (ncls > 1 && ntarget > 1)
        return fmt_fail(c, "num_class %d with num_target %u", (int)ncls, (unsigned)ntarget);
    mi.num_feature = (long)nf;
    mi.num_class = ncls;
    mi.num_target = (long)ntarget;
    mi.n_groups = mi.num_class > mi.num_target ? mi.num_class : mi.num_target;
    if (mi.n_groups < 1) mi.n_groups = 1;
    b.pos += LEARNER_PARAM_SIZE;

    const unsigned char *obj, *booster;
    size_t nobj, nbooster;
    if ((st = bin_str(&b, "objective name", &obj, &nobj))) return st;
    if (!known_objective((const char *)obj, nobj)) {
        int printable = nobj <= 40;
        for (size_t i = 0; i < nobj && printable; ++i)
            printable = isprint(obj[i]) != 0;
        return fmt_fail(c, "objective name at offset %zu (\"%.*s\") is not an XGBoost 1.7 objective",
                        b.pos - nobj, printable ? (int)nobj : 1, printable ? (const char *)obj : "?");
    }
    if ((st = bin_str(&b, "booster name", &booster, &nbooster))) return st;
    int is_tree = (nbooster == 6 && memcmp(booster, "gbtree", 6) == 0) ||
                  (nbooster == 4 && memcmp(booster, "dart", 4) == 0);
    int is_dart = nbooster == 4 && is_tree;
    int is_linear = nbooster == 8 && memcmp(booster, "gblinear", 8) == 0;
    if (!is_tree && !is_linear)
        return fmt_fail(c, "booster name at offset %zu is not gbtree, dart or gblinear", b.pos - nbooster);

    if (is_tree) {
        size_t at = b.pos;
        if ((st = bin_need(&b, GBTREE_PARAM_SIZE, "gbtree parameters"))) return st;
        int32_t num_trees = les32(p + b.pos), npt = les32(p + b.pos + 4);
        b.pos += GBTREE_PARAM_SIZE;
        if (num_trees < 0) return fmt_fail(c, "num_trees %d at offset %zu is negative", num_trees, at);
        if (npt < 1) return fmt_fail(c, "num_parallel_tree %d at offset %zu is not positive", npt, at + 4);
        if ((size_t)num_trees > (len - b.pos) / (TREE_PARAM_SIZE + NODE_SIZE + STAT_SIZE))
            return fmt_fail(c, "num_trees %d at offset %zu: the trees cannot fit in %zu bytes", num_trees, at,
                            len);
        for (long t = 0; t < num_trees; ++t)
            if ((st = bin_tree(&b, t, &mi))) return st;
        if (num_trees > 0) {
            if ((st = bin_need(&b, (size_t)num_trees * 4, "tree_info"))) return st;
            for (long t = 0; t < num_trees; ++t) {
                int32_t g = les32(p + b.pos + 4 * (size_t)t);
                if (g < 0 || g >= mi.n_groups)
                    return fmt_fail(c, "tree_info[%ld] = %d at offset %zu is not an output group in [0, %ld)",
                                    t, g, b.pos + 4 * (size_t)t, mi.n_groups);
            }
            b.pos += (size_t)num_trees * 4;
        }
        if (is_dart && num_trees > 0) {
            uint64_t nw;
            size_t wat = b.pos;
            if ((st = bin_f32_vector(&b, "dart weight_drop", &nw))) return st;
            if (nw != (uint64_t)num_trees)
                return fmt_fail(c, "dart weight_drop at offset %zu has %" PRIu64 " entries for %d trees", wat,
                                nw, num_trees);
        }
    } else {
        if ((st = bin_need(&b, GBLINEAR_PARAM_SIZE, "gblinear parameters"))) return st;
        b.pos += GBLINEAR_PARAM_SIZE;
        uint64_t nw;
        size_t wat = b.pos;
        if ((st = bin_f32_vector(&b, "gblinear weights", &nw))) return st;
        uint64_t want = (uint64_t)(mi.num_feature + 1) * (uint64_t)mi.n_groups;
        if (nw != want)
            return fmt_fail(c,
                            "gblinear weights at offset %zu has %" PRIu64 " entries, expected %" PRIu64
                            " ((num_feature + 1) * groups)",
                            wat, nw, want);
    }

    if (extra != 0) {
        size_t at = b.pos;
        if ((st = bin_need(&b, 8, "attribute count"))) return st;
        uint64_t n = le64(p + b.pos);
        b.pos += 8;
        if (n > (len - b.pos) / 16)
            return fmt_fail(c, "attribute count %" PRIu64 " at offset %zu runs past the end (%zu bytes)", n,
                            at, len);
        for (uint64_t i = 0; i < n; ++i) {
            const unsigned char *k, *v;
            size_t kn, vn;
            if ((st = bin_str(&b, "attribute name", &k, &kn)) ||
                (st = bin_str(&b, "attribute value", &v, &vn)))
                return st;
            if (kn == 9 && memcmp(k, "objective", 9) == 0) {
                /* XGBoost parses this with its JSON reader and configures the objective from it. Our
                 * reader checks the depth limit and the reserved byte as it reads. */
                mlops__json_read_error err;
                json_t *j = mlops__json_read((const char *)v, vn, FMT_MAX_DEPTH, &err);
                if (!j && err.nomem) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", c->what);
                if (!j)
                    return fmt_fail(c, "objective attribute at offset %zu is not JSON: %s at %zu", b.pos - vn,
                                    err.text, err.position);
                fmt_ctx jc = {c->what, "binary objective attribute"};
                st = check_objective(&jc, j, "objective", &mi);
                json_decref(j);
                if (st) return st;
            }
        }
    }
    if (b.pos != len)
        return fmt_fail(c, "%zu trailing bytes after the model at offset %zu", len - b.pos, b.pos);
    return MLOPS_OK;
}

/* ------------------------------------------------------------------------------------------ */

mlops_status mlops__model_check_bytes(const void *data, size_t len, mlops_model_format hint, const char *what,
                                      mlops_model_format *detected) {
    return mlops__model_read_bytes(data, len, hint, what, detected, NULL);
}

static mlops_status read_bytes(const void *data, size_t len, mlops_model_format hint, const char *what,
                               mlops_model_format *detected, json_t **doc, mlops__forest_stream *stream,
                               int *broken);

mlops_status mlops__model_read_bytes(const void *data, size_t len, mlops_model_format hint, const char *what,
                                     mlops_model_format *detected, json_t **doc) {
    int broken = 0;
    return read_bytes(data, len, hint, what, detected, doc, NULL, &broken);
}

mlops_status mlops__model_read_stream(const void *data, size_t len, mlops_model_format hint, const char *what,
                                      mlops_model_format *detected, json_t **doc, mlops__forest_stream *stream,
                                      int *streamed) {
    int broken = 0;
    *streamed = 0;
    mlops_status st = read_bytes(data, len, hint, what, detected, doc, stream, &broken);
    if (st == MLOPS_ENOMEM || !broken) {
        *streamed = st == MLOPS_OK && doc && *doc;
        return st;
    }
    /* Trees were dropped from a document the stream cannot serve: read it whole. */
    if (doc) {
        json_decref(*doc);
        *doc = NULL;
    }
    return read_bytes(data, len, hint, what, detected, doc, NULL, &broken);
}

/* Printable ASCII text (with whitespace) throughout the first `n` bytes. */
static int looks_text(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(isprint(p[i]) || isspace(p[i]))) return 0;
    return 1;
}

static mlops_status read_bytes(const void *data, size_t len, mlops_model_format hint, const char *what,
                               mlops_model_format *detected, json_t **doc, mlops__forest_stream *stream,
                               int *broken) {
    if (doc) *doc = NULL;
    if (!what) what = "buffer";
    if (!data && len) return mlops__fail(MLOPS_EINVAL, "%s: NULL data", what);
    if ((int)hint < MLOPS_FORMAT_AUTO || hint > MLOPS_FORMAT_BINARY)
        return mlops__fail(MLOPS_EINVAL, "%s: unknown format %d", what, (int)hint);
    const unsigned char *p = data;
    if (len == 0) return mlops__fail(MLOPS_EFORMAT, "%s: empty, " FMT_NOT_MODEL, what);

    /* Dispatch exactly as XGBoost's LearnerIO::LoadModel(dmlc::Stream*) does: a '{' in the
     * first byte means JSON when the next non-space byte is '"', UBJSON when it is a letter;
     * anything else is read as the legacy binary format. */
    mlops_model_format fmt;
    if (p[0] == '{') {
        size_t i = 1;
        while (i < len && isspace(p[i]))
            ++i;
        if (i < len && p[i] == '"')
            fmt = MLOPS_FORMAT_JSON;
        else if (i < len && isalpha(p[i]))
            fmt = MLOPS_FORMAT_UBJSON;
        else
            return mlops__fail(MLOPS_EFORMAT,
                               "%s: starts with '{' but is neither JSON nor UBJSON; " FMT_NOT_MODEL, what);
    } else if (looks_binary(p, len)) {
        fmt = MLOPS_FORMAT_BINARY;
    } else {
        size_t i = 0;
        while (i < len && isspace(p[i]))
            ++i;
        if (i < len && i > 0 && p[i] == '{')
            return mlops__fail(
                MLOPS_EFORMAT,
                "%s: JSON must start with '{' at offset 0 (XGBoost 1.7 reads it as binary otherwise); "
                "found %zu leading whitespace bytes",
                what, i);
        return mlops__fail(MLOPS_EFORMAT, "%s: " FMT_NOT_MODEL, what);
    }
    if (hint != MLOPS_FORMAT_AUTO && hint != fmt)
        return mlops__fail(MLOPS_EFORMAT, "%s: expected %s but the bytes are %s", what, fmt_name(hint),
                           fmt_name(fmt));

    fmt_ctx c = {what, fmt == MLOPS_FORMAT_JSON ? "JSON" : fmt == MLOPS_FORMAT_UBJSON ? "UBJSON" : "binary"};
    mlops_status st = fmt == MLOPS_FORMAT_JSON     ? check_json(&c, (const char *)p, len, doc, stream, broken)
                      : fmt == MLOPS_FORMAT_UBJSON ? check_ubjson(&c, p, len, doc, stream, broken)
                                                   : check_binary(&c, p, len);
    if (st == MLOPS_EFORMAT && fmt == MLOPS_FORMAT_UBJSON && looks_text(p, len < 64 ? len : 64)) {
        /* "{not json": XGBoost's dispatch reads it as UBJSON, so the first complaint is about a
         * UBJSON marker; say what the user most likely meant */
        char why[512];
        snprintf(why, sizeof why, "%s", mlops_last_error());
        return mlops__fail(MLOPS_EFORMAT,
                           "%s: text that is not JSON (a JSON model starts with '{\"'); read as UBJSON, as XGBoost "
                           "dispatches it, it fails too: %s",
                           what, why);
    }
    if (st == MLOPS_OK && detected) *detected = fmt;
    return st;
}
