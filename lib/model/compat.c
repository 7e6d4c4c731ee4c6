/* What XGBoost 2.x and 3.x models carry beyond what XGBoost 1.7.4 reads, and the rewrite that
 * hands 1.7.4 an equivalent model where one exists.
 *
 * Written from XGBoost 3.5's writer (src/learner.cc ModelStateToJson, src/gbm/gbtree_model.cc
 * SaveModel, src/tree/tree_model.cc, src/data/cat_container.cc Save) and 1.7.4's reader:
 * - learner_model_param.base_score: a number before 3.1, a bracketed list after ("[4.6E-1]"),
 *   one intercept per output for multi-output models. 1.7.4 cannot parse the list and silently
 *   uses 0.5; a list whose values are all equal is rewritten as that number.
 * - gbtree model.weight_drop (3.5: dart is gbtree with dropout): predictions add leaf * weight
 *   (float), so the weight is folded into the leaf values and the field removed.
 * - model.iteration_indptr: must describe the regular layout (rounds x outputs x parallel trees).
 * - model.cats: the categories of the training DataFrame; the trees split on their codes
 *   (positions in that list), so serving codes through 1.7.4 is exact. Kept for the schema.
 * - reg:quantileerror: identity link and transform, as reg:squarederror in 1.7.4.
 * Any other field in the model structure is refused by name: it might change predictions. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "model/format.h"

/* Keys XGBoost 1.0 to 3.5 write in each part of the model (training-only parameter objects such
 * as the objective's are not listed: they do not affect predictions). */
static const char *const k_root[] = {"version", "learner", NULL};
static const char *const k_learner[] = {
    "attributes", "feature_names", "feature_types", "gradient_booster", "learner_model_param", "objective",
    NULL};
static const char *const k_lmp[] = {"base_score", "num_class",          "num_feature",
                                    "num_target", "boost_from_average", NULL};
static const char *const k_gbtree[] = {"name", "model", NULL};
static const char *const k_dart[] = {"name", "gbtree", "weight_drop", NULL};
static const char *const k_gblinear[] = {"name", "model", NULL};
static const char *const k_model[] = {"gbtree_model_param", "trees", "tree_info", "iteration_indptr",
                                      "weight_drop",        "cats",  NULL};
static const char *const k_linear_model[] = {"weights", "boosted_rounds", NULL};
static const char *const k_tree[] = {"tree_param",
                                     "id",
                                     "loss_changes",
                                     "sum_hessian",
                                     "base_weights",
                                     "left_children",
                                     "right_children",
                                     "parents",
                                     "split_indices",
                                     "split_conditions",
                                     "split_type",
                                     "default_left",
                                     "categories",
                                     "categories_nodes",
                                     "categories_segments",
                                     "categories_sizes",
                                     "leaf_child_counts", /* 1.0-1.x: a statistic */
                                     NULL};

static int listed(const char *const *keys, const char *k) {
    for (; *keys; ++keys)
        if (strcmp(*keys, k) == 0) return 1;
    return 0;
}

static mlops_status known_keys(json_t *obj, const char *const *keys, const char *path, const char *what) {
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (!listed(keys, k))
            return mlops__fail(
                MLOPS_EFORMAT,
                "%s: %s.%s is not a field XGBoost 1.0-3.5 writes; refusing the model because it "
                "may change predictions",
                what, path, k);
    }
    return MLOPS_OK;
}

/* Integer parameter stored as a string ("3"), or a default when absent. */
static long param_int(json_t *obj, const char *key, long dflt) {
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? strtol(s, NULL, 10) : dflt;
}

/* base_score as XGBoost reads it: one float, or a bracketed comma-separated list. */
static mlops_status read_base_score(const char *s, const char *what, mlops__compat *c) {
    size_t n = 1;
    for (const char *p = s; *p; ++p)
        n += *p == ',';
    c->base_scores = mlops__calloc(n, sizeof(float));
    if (!c->base_scores) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", what);
    const char *p = s[0] == '[' ? s + 1 : s;
    for (size_t i = 0; i < n; ++i) {
        char *end = NULL;
        c->base_scores[i] = strtof(p, &end);
        if (end == p || !isfinite(c->base_scores[i]))
            return mlops__fail(MLOPS_EFORMAT,
                               "%s: learner_model_param.base_score \"%.60s\" is not a list of finite numbers",
                               what, s);
        p = end;
        while (isspace((unsigned char)*p) || *p == ',')
            ++p;
    }
    c->n_base = n;
    return MLOPS_OK;
}

/* Intercepts: a list of equal values is the scalar 1.7.4 reads; distinct values are not. */
static mlops_status rewrite_base_score(json_t *lmp, const char *what, mlops__compat *c) {
    const char *s = json_string_value(json_object_get(lmp, "base_score"));
    mlops_status st = read_base_score(s, what, c);
    if (st) return st;
    if (c->n_base != 1 && c->n_base != c->n_groups)
        return mlops__fail(MLOPS_EFORMAT, "%s: learner_model_param.base_score has %zu values for %zu outputs",
                           what, c->n_base, c->n_groups);
    int same = 1;
    for (size_t i = 1; i < c->n_base; ++i)
        same &= memcmp(&c->base_scores[i], &c->base_scores[0], sizeof(float)) == 0;
    if (!same)
        snprintf(c->why_native, sizeof c->why_native,
                 "per-output intercepts (base_score with %zu different values)", c->n_base);
    if (s[0] != '[') return MLOPS_OK;
    char num[32];
    snprintf(num, sizeof num, "%.9g", (double)c->base_scores[0]);
    if (json_object_set_new(lmp, "base_score", json_string(num)))
        return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", what);
    return MLOPS_OK;
}

/* 3.5 predicts leaf * weight per tree (float): fold the weights into the leaves of the trees the
 * document holds, and keep them for the engine, which applies them to streamed trees (their
 * arrays are gone, see format.h). */
static mlops_status fold_weights(json_t *model, json_t *trees, const char *what, mlops__compat *c) {
    json_t *w = json_object_get(model, "weight_drop");
    if (!w) return MLOPS_OK;
    size_t n = json_array_size(trees);
    if (mlops__arr_size(w) != n)
        return mlops__fail(MLOPS_EFORMAT, "%s: gradient_booster.model.weight_drop has %zu weights for %zu trees",
                           what, mlops__arr_size(w), n);
    c->tree_weights = mlops__calloc(n ? n : 1, sizeof(float));
    if (!c->tree_weights) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", what);
    c->n_tree_weights = n;
    for (size_t t = 0; t < n; ++t) {
        double wd;
        if (!mlops__arr_real(w, t, &wd))
            return mlops__fail(MLOPS_EFORMAT, "%s: weight_drop[%zu] is not a number", what, t);
        float weight = (float)wd;
        c->tree_weights[t] = weight;
        json_t *tree = json_array_get(trees, t);
        if (weight == 1.0f || !json_object_get(tree, "left_children")) continue;
        if (mlops__arr_expand_all(tree)) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", what);
        json_t *left = json_object_get(tree, "left_children");
        json_t *cond = json_object_get(tree, "split_conditions");
        for (size_t i = 0; i < json_array_size(left); ++i) {
            double leaf;
            int64_t l;
            if (!mlops__arr_int(left, i, &l) || l != -1) continue;
            if (!mlops__json_to_double(json_array_get(cond, i), &leaf)) continue;
            float v = (float)leaf * weight;
            if (json_array_set_new(cond, i, mlops__json_number((double)v)))
                return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", what);
        }
    }
    json_object_del(model, "weight_drop");
    return MLOPS_OK;
}

/* iteration_indptr must be the regular layout: round k starts at tree k * layer. */
static mlops_status check_indptr(json_t *model, size_t n_trees, size_t layer, const char *what) {
    json_t *ip = json_object_get(model, "iteration_indptr");
    if (!ip) return MLOPS_OK;
    size_t n = mlops__arr_size(ip);
    int64_t x = 0;
    int ok = mlops__arr_is(ip) && n >= 1 && layer > 0 && (n - 1) * layer == n_trees;
    for (size_t k = 0; ok && k < n; ++k)
        ok = mlops__arr_int(ip, k, &x) && x >= 0 && (size_t)x == k * layer;
    if (!ok)
        return mlops__fail(
            MLOPS_EFORMAT,
            "%s: gradient_booster.model.iteration_indptr does not describe rounds of %zu trees; "
            "refusing the model",
            what, layer);
    json_object_del(model, "iteration_indptr");
    return MLOPS_OK;
}

/* One feature's categories from cats.enc[f]: strings ({"offsets", "values"}) or integers
 * ({"type", "values"}), written as their decimal text. */
static mlops_status read_feature_cats(json_t *col, size_t f, const char *what, mlops__compat *c) {
    json_t *vals = json_object_get(col, "values");
    json_t *offs = json_object_get(col, "offsets");
    if (!mlops__arr_is(vals))
        return mlops__fail(MLOPS_EFORMAT, "%s: cats.enc[%zu].values is not an array", what, f);
    size_t n = offs ? mlops__arr_size(offs) : mlops__arr_size(vals);
    if (offs) n = n ? n - 1 : 0;
    if (n == 0) return MLOPS_OK;
    char **v = mlops__calloc(n, sizeof *v);
    if (!v) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", what);
    c->cats[f] = v;
    c->n_cats[f] = n;
    for (size_t k = 0; k < n; ++k) {
        char buf[32];
        const char *src = buf;
        size_t len;
        char *own = NULL;
        if (offs) {
            int64_t a = 0, b = 0, ch = 0;
            if (!mlops__arr_int(offs, k, &a) || !mlops__arr_int(offs, k + 1, &b) || a < 0 || b < a ||
                (size_t)b > mlops__arr_size(vals))
                return mlops__fail(MLOPS_EFORMAT, "%s: cats.enc[%zu].offsets[%zu] is out of range", what, f, k);
            len = (size_t)(b - a);
            own = mlops__malloc(len + 1);
            if (!own) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", what);
            for (size_t i = 0; i < len; ++i)
                own[i] = mlops__arr_int(vals, (size_t)a + i, &ch) ? (char)ch : '\0';
            own[len] = '\0';
            if (memchr(own, '\0', len)) {
                mlops__free(own);
                return mlops__fail(MLOPS_EFORMAT, "%s: cats.enc[%zu] category %zu contains a NUL byte", what,
                                   f, k);
            }
            v[k] = own;
            continue;
        }
        int64_t x;
        if (!mlops__arr_int(vals, k, &x))
            return mlops__fail(MLOPS_EFORMAT, "%s: cats.enc[%zu].values[%zu] is not an integer", what, f, k);
        snprintf(buf, sizeof buf, "%" PRId64, x);
        if (!(v[k] = mlops__strdup(src))) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", what);
    }
    return MLOPS_OK;
}

static mlops_status read_cats(json_t *model, size_t n_features, const char *what, mlops__compat *c) {
    json_t *cats = json_object_get(model, "cats");
    if (!cats) return MLOPS_OK;
    json_t *enc = json_object_get(cats, "enc");
    if (!json_is_object(cats) || !json_is_array(enc))
        return mlops__fail(MLOPS_EFORMAT, "%s: gradient_booster.model.cats.enc is missing or not an array",
                           what);
    size_t n = json_array_size(enc);
    if (n != 0 && n != n_features)
        return mlops__fail(MLOPS_EFORMAT, "%s: cats.enc has %zu columns, the model has %zu features", what, n,
                           n_features);
    if (n) {
        c->cats = mlops__calloc(n, sizeof *c->cats);
        c->n_cats = mlops__calloc(n, sizeof *c->n_cats);
        if (!c->cats || !c->n_cats) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", what);
        c->n_cat_features = n;
    }
    for (size_t f = 0; f < n; ++f) {
        json_t *col = json_array_get(enc, f);
        if (!json_is_object(col))
            return mlops__fail(MLOPS_EFORMAT, "%s: cats.enc[%zu] is not an object", what, f);
        mlops_status st = read_feature_cats(col, f, what, c);
        if (st) return st;
    }
    json_object_del(model, "cats");
    return MLOPS_OK;
}

/* 2.0+ writes size_leaf_vector "1" for scalar leaves; 1.7.4 expects "0". */
static void scalar_leaf_param(json_t *param) {
    const char *s = json_string_value(json_object_get(param, "size_leaf_vector"));
    if (s && strcmp(s, "1") == 0) json_object_set_new(param, "size_leaf_vector", json_string("0"));
}

static mlops_status check_gbtree(json_t *gbtree, const char *what, mlops__compat *c, size_t n_features) {
    mlops_status st = known_keys(gbtree, k_gbtree, "learner.gradient_booster", what);
    json_t *model = json_object_get(gbtree, "model");
    if (!st) st = known_keys(model, k_model, "learner.gradient_booster.model", what);
    if (st) return st;
    json_t *trees = json_object_get(model, "trees");
    json_t *mp = json_object_get(model, "gbtree_model_param");
    size_t npt = (size_t)param_int(mp, "num_parallel_tree", 1);
    scalar_leaf_param(mp);
    for (size_t t = 0; t < json_array_size(trees); ++t) {
        json_t *tree = json_array_get(trees, t);
        char path[96];
        snprintf(path, sizeof path, "learner.gradient_booster.model.trees[%zu]", t);
        if ((st = known_keys(tree, k_tree, path, what))) return st;
        scalar_leaf_param(json_object_get(tree, "tree_param"));
    }
    if ((st = check_indptr(model, json_array_size(trees), c->n_groups * npt, what))) return st;
    if ((st = fold_weights(model, trees, what, c))) return st;
    return read_cats(model, n_features, what, c);
}

/* The parameter object XGBoost 1.7.4's objective LoadConfig reads (3.x omits some, e.g. for
 * count:poisson, and renamed lambda_rank_param). Training parameters only: empty means defaults. */
static const struct {
    const char *prefix, *param;
} k_obj_params[] = {{"count:poisson", "poisson_regression_param"},
                    {"reg:tweedie", "tweedie_regression_param"},
                    {"reg:pseudohubererror", "pseudo_huber_param"},
                    {"survival:aft", "aft_loss_param"},
                    {"rank:", "lambda_rank_param"},
                    {"reg:squarederror", "reg_loss_param"},
                    {"reg:squaredlogerror", "reg_loss_param"},
                    {"reg:logistic", "reg_loss_param"},
                    {"reg:linear", "reg_loss_param"},
                    {"binary:logistic", "reg_loss_param"},
                    {"binary:logitraw", "reg_loss_param"}};

static mlops_status add_objective_params(json_t *obj, const char *name, const char *what) {
    for (size_t i = 0; i < sizeof k_obj_params / sizeof k_obj_params[0]; ++i) {
        if (strncmp(name, k_obj_params[i].prefix, strlen(k_obj_params[i].prefix)) != 0) continue;
        if (json_object_get(obj, k_obj_params[i].param)) return MLOPS_OK;
        if (json_object_set_new(obj, k_obj_params[i].param, json_object()))
            return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", what);
        return MLOPS_OK;
    }
    return MLOPS_OK;
}

static mlops_status check_objective(json_t *learner, const char *what, mlops__compat *c) {
    json_t *obj = json_object_get(learner, "objective");
    const char *name = json_string_value(json_object_get(obj, "name"));
    if (!(c->objective = mlops__strdup(name))) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", what);
    if (strcmp(name, "reg:expectileerror") == 0)
        return mlops__fail(
            MLOPS_ENOTSUP,
            "%s: objective reg:expectileerror is not supported (its prediction transform is not "
            "implemented)",
            what);
    if (strcmp(name, "reg:quantileerror") != 0)
        return c->version[0] >= 2 ? add_objective_params(obj, name, what) : MLOPS_OK;
    /* Identity link and transform in 3.5 (quantile_obj.cc overrides neither). */
    json_t *sq =
        json_pack("{s:s, s:{s:s}}", "name", "reg:squarederror", "reg_loss_param", "scale_pos_weight", "1");
    if (!sq || json_object_set_new(learner, "objective", sq))
        return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", what);
    return MLOPS_OK;
}

static void read_version(json_t *doc, mlops__compat *c) {
    json_t *v = json_object_get(doc, "version");
    int64_t x;
    for (size_t i = 0; i < 3 && i < mlops__arr_size(v); ++i)
        c->version[i] = mlops__arr_int(v, i, &x) ? (int)x : 0;
}

static void read_best_iteration(json_t *learner, mlops__compat *c) {
    const char *s =
        json_string_value(json_object_get(json_object_get(learner, "attributes"), "best_iteration"));
    char *end = NULL;
    long v = s ? strtol(s, &end, 10) : -1;
    c->best_iteration = s && end != s && *end == '\0' && v >= 0 ? v : -1;
}

mlops_status mlops__model_compat(json_t *doc, const char *what, mlops__compat *out) {
    mlops__compat c;
    memset(&c, 0, sizeof c);
    c.equivalent = 1;
    read_version(doc, &c);
    json_t *learner = json_object_get(doc, "learner");
    json_t *lmp = json_object_get(learner, "learner_model_param");
    json_t *gb = json_object_get(learner, "gradient_booster");
    long n_class = param_int(lmp, "num_class", 0), n_target = param_int(lmp, "num_target", 1);
    c.n_groups = (size_t)(n_class > n_target ? n_class : n_target);
    if (c.n_groups < 1) c.n_groups = 1;
    size_t n_features = (size_t)param_int(lmp, "num_feature", 0);
    read_best_iteration(learner, &c);
    mlops_status st = known_keys(doc, k_root, "(document)", what);
    if (!st) st = known_keys(learner, k_learner, "learner", what);
    if (!st) st = known_keys(lmp, k_lmp, "learner.learner_model_param", what);
    if (!st) st = check_objective(learner, what, &c);
    if (!st) st = rewrite_base_score(lmp, what, &c);
    const char *gname = json_string_value(json_object_get(gb, "name"));
    if (!st && strcmp(gname, "gbtree") == 0) {
        st = check_gbtree(gb, what, &c, n_features);
    } else if (!st && strcmp(gname, "dart") == 0) {
        st = known_keys(gb, k_dart, "learner.gradient_booster", what);
        if (!st) st = check_gbtree(json_object_get(gb, "gbtree"), what, &c, n_features);
    } else if (!st) {
        st = known_keys(gb, k_gblinear, "learner.gradient_booster", what);
        if (!st)
            st = known_keys(json_object_get(gb, "model"), k_linear_model, "learner.gradient_booster.model",
                            what);
        if (!st && c.why_native[0])
            st = mlops__fail(MLOPS_ENOTSUP, "%s: gblinear with %s is not supported", what, c.why_native);
    }
    if (st) {
        mlops__compat_clear(&c);
        return st;
    }
    c.equivalent = c.why_native[0] == '\0';
    *out = c;
    return MLOPS_OK;
}

void mlops__compat_clear(mlops__compat *c) {
    if (!c) return;
    for (size_t f = 0; c->cats && f < c->n_cat_features; ++f) {
        for (size_t k = 0; c->cats[f] && k < c->n_cats[f]; ++k)
            mlops__free(c->cats[f][k]);
        mlops__free(c->cats[f]);
    }
    mlops__free(c->cats);
    mlops__free(c->n_cats);
    mlops__free(c->base_scores);
    mlops__free(c->objective);
    mlops__free(c->tree_weights);
    memset(c, 0, sizeof *c);
}

char *mlops__compat_dump(json_t *doc, size_t *len) {
    /* Nine significant digits round-trip every float, which is all XGBoost stores. */
    char *s = mlops__arr_expand_all(doc) ? NULL : json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(9));
    if (!s) return NULL;
    static const struct {
        const char *marker, *token;
    } subs[] = {{"\"\\u0001NaN\"", "NaN"},
                {"\"\\u0001Infinity\"", "Infinity"},
                {"\"\\u0001-Infinity\"", "-Infinity"}};
    size_t n = strlen(s), k = 0;
    char *o = mlops__malloc(n + 1);
    if (!o) {
        free(s);
        return NULL;
    }
    for (size_t i = 0; i < n;) {
        size_t t = 0;
        if (s[i] == '"')
            for (; t < 3; ++t)
                if (strncmp(s + i, subs[t].marker, strlen(subs[t].marker)) == 0) break;
        if (s[i] == '"' && t < 3) {
            memcpy(o + k, subs[t].token, strlen(subs[t].token));
            k += strlen(subs[t].token);
            i += strlen(subs[t].marker);
        } else {
            o[k++] = s[i++];
        }
    }
    o[k] = '\0';
    free(s);
    *len = k;
    return o;
}
