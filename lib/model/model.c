/* The model handle: read and check the bytes (any XGBoost 1.0-3.5 model), hand XGBoost 1.7.4 the
 * bytes or an equivalent rewrite of them, read metadata once, then serve predictions from the
 * native forest or XGBoost. */
#include <jansson.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "engine/engine.h"
#include "internal.h"
#include "mlops/model.h"
#include "model/format.h"
#include "model/json_reader.h"

#define DEFAULT_MAX_BYTES ((size_t)2 << 30)
/* Nesting allowed in the JSON XGBoost hands back (its configuration and its model export): the
 * reader's limit for model files (format.c), far above the ~10 levels XGBoost writes. */
#define XGB_JSON_MAX_DEPTH 64

/* XGBoost's own JSON (configuration or model export) into `*out` (the caller decrefs it), read by
 * our reader as model files are: jansson's parser is on no load path. */
static mlops_status read_xgb_json(const char *source, const char *what, const char *text, size_t len,
                                  json_t **out) {
    mlops__json_read_error err;
    *out = mlops__json_read(text, len, XGB_JSON_MAX_DEPTH, &err);
    if (*out) return MLOPS_OK;
    if (err.nomem) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", source);
    return mlops__fail(MLOPS_EBACKEND, "%s: xgboost %s is not JSON: %s at line %d", source, what, err.text,
                       err.line);
}

struct mlops_model {
    atomic_size_t refs;
    BoosterHandle booster; /* XGBoost's copy while loading; kept only when XGBoost serves */
    mlops__forest *forest; /* native engine, or NULL */
    mlops_engine engine;   /* the engine serving predictions */
    int fallback;          /* 1: XGBoost 1.7.4 predicts exactly what the model means */
    long best_iteration;   /* -1 when none */
    float *base_scores;    /* n_base intercepts (XGBoost 3.1+ vector base_score), or NULL */
    size_t n_base;
    char why_native[160]; /* why XGBoost 1.7.4 cannot serve the model, or "" */
    char ***cats;         /* per feature (n_cat_features): stored category strings, or NULL */
    size_t *n_cats;
    size_t n_cat_features;
    mlops_model_format format;
    int is_linear; /* gblinear: no in-place predict in 1.7, use a DMatrix */
    int n_threads;
    float missing;
    unsigned iteration_begin, iteration_end;
    size_t n_features;
    size_t width[2]; /* output values per row: [0] transformed, [1] margin */
    char **feature_names;
    char **feature_types;
    char *objective;
    char *booster_name;
    mlops_task task;
    size_t n_classes;
    size_t n_rounds;
    double base_score;
    size_t n_attrs;
    char **attr_names; /* sorted */
    char **attr_values;
    char source[128];         /* file name or "buffer", for messages */
    char predict_cfg[2][192]; /* XGBoost predict configs, built once: [0] value, [1] margin */
};

/* XGBoost's log output goes to the user's log callback; registered once per process. */
static void xgb_log(const char *msg) { mlops__log(MLOPS_LOG_INFO, "xgboost: %s", msg); }
static pthread_once_t xgb_log_once = PTHREAD_ONCE_INIT;
static void register_xgb_log(void) { XGBRegisterLogCallback(xgb_log); }

static mlops_status xgb_fail(const mlops_model *m, const char *what) {
    return mlops__fail(MLOPS_EBACKEND, "%s: xgboost %s failed: %s", m->source, what, XGBGetLastError());
}

/* Bytes of mlops_model_opts in `version` (1: up to all_rounds, 2: up to keep_booster, 3: all);
 * sizeof(unsigned) for an unknown version, so only the version is written. */
static size_t opts_size(unsigned version) {
    switch (version) {
    case 1u:
        return offsetof(mlops_model_opts, all_rounds);
    case 2u:
        return offsetof(mlops_model_opts, keep_booster);
    case MLOPS_MODEL_OPTS_VERSION:
        return sizeof(mlops_model_opts);
    default:
        return sizeof(unsigned);
    }
}

MLOPS_API void mlops_model_opts_init(mlops_model_opts *opts, unsigned version) {
    static const mlops_model_opts defaults = MLOPS_MODEL_OPTS_INIT;
    mlops__opts_init(opts, &defaults, opts_size(version), version);
}

static void free_strv(char **v, size_t n) {
    if (!v) return;
    for (size_t i = 0; i < n; i++)
        mlops__free(v[i]);
    mlops__free(v);
}

/* Free what read_doc_meta or the booster readers set, so the other path can start over. */
static void clear_meta(mlops_model *m) {
    free_strv(m->feature_names, m->n_features);
    free_strv(m->feature_types, m->n_features);
    free_strv(m->attr_names, m->n_attrs);
    free_strv(m->attr_values, m->n_attrs);
    mlops__free(m->objective);
    mlops__free(m->booster_name);
    m->feature_names = m->feature_types = m->attr_names = m->attr_values = NULL;
    m->objective = m->booster_name = NULL;
    m->n_features = m->n_attrs = m->n_rounds = m->n_classes = 0;
}

static void model_destroy(mlops_model *m) {
    if (!m) return;
    if (m->booster) XGBoosterFree(m->booster);
    mlops__forest_free(m->forest);
    clear_meta(m);
    mlops__compat c = {.base_scores = m->base_scores,
                       .cats = m->cats,
                       .n_cats = m->n_cats,
                       .n_cat_features = m->n_cat_features};
    mlops__compat_clear(&c);
    mlops__free(m);
}

/* Copy XGBoost's string array (owned by XGBoost's thread-local storage). */
static mlops_status copy_strv(const mlops_model *m, char const **src, size_t n, char ***dst) {
    char **v = mlops__calloc(n ? n : 1, sizeof *v);
    if (!v) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", m->source);
    for (size_t i = 0; i < n; i++) {
        v[i] = mlops__strdup(src[i]);
        if (!v[i]) {
            free_strv(v, i);
            return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", m->source);
        }
    }
    *dst = v;
    return MLOPS_OK;
}

static mlops_status read_features(mlops_model *m) {
    bst_ulong n = 0;
    if (XGBoosterGetNumFeature(m->booster, &n) != 0) return xgb_fail(m, "GetNumFeature");
    m->n_features = (size_t)n;
    const char **names = NULL;
    bst_ulong len = 0;
    if (XGBoosterGetStrFeatureInfo(m->booster, "feature_name", &len, &names) != 0)
        return xgb_fail(m, "GetStrFeatureInfo");
    mlops_status st;
    if (len == n && n > 0) {
        st = copy_strv(m, names, n, &m->feature_names);
    } else {
        m->feature_names = mlops__calloc(n ? n : 1, sizeof(char *));
        st = m->feature_names ? MLOPS_OK : MLOPS_ENOMEM;
        for (size_t i = 0; st == MLOPS_OK && i < n; i++) {
            char buf[32];
            snprintf(buf, sizeof buf, "f%zu", i);
            if (!(m->feature_names[i] = mlops__strdup(buf))) st = MLOPS_ENOMEM;
        }
        if (st != MLOPS_OK) return mlops__fail(st, "%s: out of memory", m->source);
    }
    if (st != MLOPS_OK) return st;
    const char **types = NULL;
    len = 0;
    if (XGBoosterGetStrFeatureInfo(m->booster, "feature_type", &len, &types) != 0)
        return xgb_fail(m, "GetStrFeatureInfo");
    if (len == n && n > 0) return copy_strv(m, types, n, &m->feature_types);
    m->feature_types = mlops__calloc(n ? n : 1, sizeof(char *));
    if (!m->feature_types) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", m->source);
    for (size_t i = 0; i < n; i++)
        if (!(m->feature_types[i] = mlops__strdup("float")))
            return mlops__fail(MLOPS_ENOMEM, "out of memory");
    return MLOPS_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static mlops_status read_attrs(mlops_model *m) {
    const char **names = NULL;
    bst_ulong n = 0;
    if (XGBoosterGetAttrNames(m->booster, &n, &names) != 0) return xgb_fail(m, "GetAttrNames");
    mlops_status st = copy_strv(m, names, n, &m->attr_names);
    if (st != MLOPS_OK) return st;
    m->n_attrs = (size_t)n;
    qsort(m->attr_names, m->n_attrs, sizeof(char *), cmp_str);
    m->attr_values = mlops__calloc(n ? n : 1, sizeof(char *));
    if (!m->attr_values) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", m->source);
    for (size_t i = 0; i < m->n_attrs; i++) {
        const char *v = NULL;
        int ok = 0;
        if (XGBoosterGetAttr(m->booster, m->attr_names[i], &v, &ok) != 0) return xgb_fail(m, "GetAttr");
        if (!(m->attr_values[i] = mlops__strdup(ok && v ? v : "")))
            return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", m->source);
    }
    return MLOPS_OK;
}

/* ---- Metadata from the model document (no XGBoost booster needed) ---- */

/* The document's string list `arr` when it has `n` entries, else `n` defaults ("f0", "f1", ... when
 * `dflt` is NULL, else `dflt` each), as XGBoost's GetStrFeatureInfo and the booster path give them. */
static mlops_status doc_strv(const mlops_model *m, json_t *arr, size_t n, const char *dflt, char ***dst) {
    char **v = mlops__calloc(n ? n : 1, sizeof *v);
    if (!v) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", m->source);
    int stored = n > 0 && json_array_size(arr) == n;
    for (size_t i = 0; i < n; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "f%zu", i);
        const char *s = stored ? json_string_value(json_array_get(arr, i)) : dflt ? dflt : buf;
        if (!(v[i] = mlops__strdup(s ? s : ""))) {
            free_strv(v, i);
            return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", m->source);
        }
    }
    *dst = v;
    return MLOPS_OK;
}

/* learner.attributes (the checker made every value a string), names sorted. */
static mlops_status doc_attrs(mlops_model *m, json_t *attrs) {
    size_t n = json_object_size(attrs), i = 0;
    m->attr_names = mlops__calloc(n ? n : 1, sizeof(char *));
    m->attr_values = mlops__calloc(n ? n : 1, sizeof(char *));
    if (!m->attr_names || !m->attr_values) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", m->source);
    const char *k;
    json_t *v;
    json_object_foreach(attrs, k, v) {
        if (!(m->attr_names[i] = mlops__strdup(k)))
            return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", m->source);
        m->n_attrs = ++i;
    }
    qsort(m->attr_names, m->n_attrs, sizeof(char *), cmp_str);
    for (i = 0; i < m->n_attrs; i++)
        if (!(m->attr_values[i] = mlops__strdup(json_string_value(json_object_get(attrs, m->attr_names[i])))))
            return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", m->source);
    return MLOPS_OK;
}

/* An integer parameter string of the document ("3"); the checker validated it. */
static size_t doc_param(json_t *obj, const char *key, size_t dflt) {
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? (size_t)strtoul(s, NULL, 10) : dflt;
}

/* XGBoost's BoostedRounds for a tree booster: trees / (num_parallel_tree * output groups). */
static size_t doc_rounds(json_t *gb, size_t n_groups) {
    json_t *gbtree = strcmp(json_string_value(json_object_get(gb, "name")), "dart") == 0
                         ? json_object_get(gb, "gbtree")
                         : gb;
    json_t *mp = json_object_get(json_object_get(gbtree, "model"), "gbtree_model_param");
    size_t layer = doc_param(mp, "num_parallel_tree", 1) * (n_groups ? n_groups : 1);
    return layer ? doc_param(mp, "num_trees", 0) / layer : 0;
}

static mlops_task task_of(const char *objective) {
    if (strncmp(objective, "binary:", 7) == 0) return MLOPS_TASK_BINARY;
    if (strncmp(objective, "multi:", 6) == 0) return MLOPS_TASK_MULTICLASS;
    if (strncmp(objective, "rank:", 5) == 0) return MLOPS_TASK_RANKING;
    return MLOPS_TASK_REGRESSION;
}

/* What read_config, read_features, read_attrs and BoostedRounds read from the booster, read from
 * the checked document instead (`n_groups` from the reader). */
static mlops_status read_doc_meta(mlops_model *m, json_t *doc, size_t n_groups) {
    json_t *learner = json_object_get(doc, "learner");
    json_t *lmp = json_object_get(learner, "learner_model_param");
    json_t *gb = json_object_get(learner, "gradient_booster");
    const char *obj = json_string_value(json_object_get(json_object_get(learner, "objective"), "name"));
    m->objective = mlops__strdup(obj);
    m->booster_name = mlops__strdup(json_string_value(json_object_get(gb, "name")));
    if (!m->objective || !m->booster_name) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", m->source);
    m->task = task_of(obj);
    m->n_classes = m->task == MLOPS_TASK_MULTICLASS ? doc_param(lmp, "num_class", 0) : 0;
    m->base_score = m->n_base > 0 ? m->base_scores[0] : 0.5;
    m->is_linear = strcmp(m->booster_name, "gblinear") == 0;
    m->n_rounds = m->is_linear ? 0 : doc_rounds(gb, n_groups);
    m->n_features = doc_param(lmp, "num_feature", 0);
    mlops_status st =
        doc_strv(m, json_object_get(learner, "feature_names"), m->n_features, NULL, &m->feature_names);
    if (st == MLOPS_OK)
        st =
            doc_strv(m, json_object_get(learner, "feature_types"), m->n_features, "float", &m->feature_types);
    if (st == MLOPS_OK) st = doc_attrs(m, json_object_get(learner, "attributes"));
    return st;
}

/* Objective, booster, classes and base score from XGBoost's JSON configuration. */
static mlops_status read_config(mlops_model *m) {
    bst_ulong len = 0;
    const char *cfg = NULL;
    if (XGBoosterSaveJsonConfig(m->booster, &len, &cfg) != 0) return xgb_fail(m, "SaveJsonConfig");
    json_t *root = NULL;
    mlops_status st = read_xgb_json(m->source, "config", cfg, (size_t)len, &root);
    if (st != MLOPS_OK) return st;
    json_error_t err;
    const char *obj = NULL, *gbm = NULL, *ncls = NULL, *base = NULL;
    int r = json_unpack_ex(root, &err, 0, "{s:{s:{s:s}, s:{s:s}, s:{s?s, s?s}}}", "learner", "objective",
                           "name", &obj, "gradient_booster", "name", &gbm, "learner_model_param", "num_class",
                           &ncls, "base_score", &base);
    if (r != 0) {
        st = mlops__fail(MLOPS_EBACKEND, "%s: unexpected xgboost config: %s", m->source, err.text);
    } else {
        m->objective = mlops__strdup(obj);
        m->booster_name = mlops__strdup(gbm);
        if (!m->objective || !m->booster_name) st = mlops__fail(MLOPS_ENOMEM, "%s: out of memory", m->source);
        m->task = task_of(obj);
        m->n_classes = ncls ? strtoul(ncls, NULL, 10) : 0;
        if (m->task != MLOPS_TASK_MULTICLASS) m->n_classes = 0;
        m->base_score = base ? strtod(base, NULL) : 0.5;
        m->is_linear = strcmp(gbm, "gblinear") == 0;
    }
    json_decref(root);
    return st;
}

static void build_predict_configs(mlops_model *m) {
    char missing[48];
    if (isnan(m->missing))
        snprintf(missing, sizeof missing, "NaN");
    else if (isinf(m->missing))
        snprintf(missing, sizeof missing, "%s", m->missing > 0 ? "Infinity" : "-Infinity");
    else
        snprintf(missing, sizeof missing, "%.9g", (double)m->missing);
    for (int margin = 0; margin < 2; margin++)
        snprintf(m->predict_cfg[margin], sizeof m->predict_cfg[margin],
                 "{\"type\": %d, \"training\": false, \"iteration_begin\": %u, \"iteration_end\": %u, "
                 "\"strict_shape\": false, \"missing\": %s, \"cache_id\": 0}",
                 margin, m->iteration_begin, m->iteration_end, missing);
}

/* Predict through XGBoost and copy its thread-local result into `out`. */
/* Predict through XGBoost (in-place, or a DMatrix for gblinear, which has no
 * in-place predict in 1.7) and copy its thread-local result into `out`.
 * `*total` is the number of values XGBoost returned; returns 0, -1 when XGBoost
 * failed, or -2 when the values do not fit in `out_cap` (nothing copied). */
static int xgb_call(const mlops_model *m, const float *x, size_t n_rows, size_t n_cols, int margin,
                    float *out, size_t out_cap, size_t *total) {
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *res = NULL;
    DMatrixHandle dm = NULL;
    int rc;
    if (m->is_linear) {
        rc = XGDMatrixCreateFromMat(x, (bst_ulong)n_rows, (bst_ulong)n_cols, m->missing, &dm);
        if (rc == 0)
            rc = XGBoosterPredictFromDMatrix(m->booster, dm, m->predict_cfg[margin], &shape, &dim, &res);
    } else {
        char ai[192];
        snprintf(ai, sizeof ai,
                 "{\"data\": [%llu, true], \"shape\": [%zu, %zu], \"typestr\": \"<f4\", \"version\": 3}",
                 (unsigned long long)(uintptr_t)x, n_rows, n_cols);
        rc = XGBoosterPredictFromDense(m->booster, ai, m->predict_cfg[margin], NULL, &shape, &dim, &res);
    }
    if (rc == 0) {
        *total = 1;
        for (bst_ulong i = 0; i < dim; i++)
            *total *= (size_t)shape[i];
        if (*total > out_cap)
            rc = -2;
        else
            memcpy(out, res, *total * sizeof *out);
    } else {
        rc = -1;
    }
    if (dm) XGDMatrixFree(dm);
    return rc;
}

static mlops_status xgb_predict(const mlops_model *m, const float *x, size_t n_rows, size_t n_cols,
                                int margin, float *out, size_t out_len) {
    size_t total = 0;
    int rc = xgb_call(m, x, n_rows, n_cols, margin, out, out_len, &total);
    if (rc == -2)
        return mlops__fail(MLOPS_EBACKEND, "%s: xgboost returned more values than expected", m->source);
    if (rc != 0) return xgb_fail(m, "predict");
    return MLOPS_OK;
}

/* Learn the output widths by asking XGBoost for one all-missing row. */
static mlops_status probe_widths(mlops_model *m) {
    size_t n = m->n_features ? m->n_features : 1;
    float *row = mlops__malloc(n * sizeof *row);
    float out[4096];
    if (!row) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", m->source);
    for (size_t i = 0; i < n; i++)
        row[i] = NAN;
    mlops_status st = MLOPS_OK;
    for (int margin = 0; margin < 2 && st == MLOPS_OK; margin++) {
        size_t total = 0;
        int rc = xgb_call(m, row, 1, n, margin, out, sizeof out / sizeof out[0], &total);
        if (rc == -1)
            st = xgb_fail(m, "predict");
        else if (rc == -2 || total == 0)
            st = mlops__fail(MLOPS_ENOTSUP, "%s: unsupported output width %zu", m->source, total);
        m->width[margin] = total;
    }
    mlops__free(row);
    return st;
}

/* The native forest from the reader's document (`doc`, the form XGBoost 1.7.4 is handed), else
 * from XGBoost's JSON export (legacy binary models, or a document the builder refuses where the
 * export might not, so the engine chosen never depends on the path). */
static mlops_status build_forest(mlops_model *m, json_t *doc, mlops__forest **f) {
    mlops__error_saved saved;
    mlops__error_save(&saved);
    if (doc && mlops__forest_build_doc(doc, m->iteration_begin, m->iteration_end, m->base_scores, m->n_base,
                                       f) == MLOPS_OK)
        return MLOPS_OK;
    mlops__log(MLOPS_LOG_DEBUG, "%s: native forest from xgboost's export (%s)", m->source,
               doc ? mlops_last_error() : "legacy binary model");
    mlops__error_restore(&saved); /* the first attempt's failure is not the caller's */
    bst_ulong len = 0;
    const char *json = NULL;
    if (XGBoosterSaveModelToBuffer(m->booster, "{\"format\": \"json\"}", &len, &json) != 0)
        return xgb_fail(m, "SaveModelToBuffer");
    json_t *exported = NULL;
    mlops_status st = read_xgb_json(m->source, "model export", json, (size_t)len, &exported);
    if (st != MLOPS_OK) return st;
    st =
        mlops__forest_build_doc(exported, m->iteration_begin, m->iteration_end, m->base_scores, m->n_base, f);
    json_decref(exported);
    return st;
}

static mlops_status setup_native(mlops_model *m, mlops_engine want, int keep_booster, json_t *doc) {
    if (want == MLOPS_ENGINE_XGBOOST && !m->fallback)
        return mlops__fail(
            MLOPS_ENOTSUP,
            "%s: engine \"xgboost\" cannot serve this model: XGBoost 1.7.4 cannot represent its %s "
            "(use the native engine)",
            m->source, m->why_native);
    if (want == MLOPS_ENGINE_XGBOOST) return MLOPS_OK;
    mlops__forest *f = NULL;
    mlops__error_saved saved;
    mlops__error_save(&saved);
    mlops_status st = build_forest(m, doc, &f);
    if (st == MLOPS_OK && (mlops__forest_output_width(f, 0) != m->width[0] ||
                           mlops__forest_output_width(f, 1) != m->width[1])) {
        st = mlops__fail(MLOPS_ENOTSUP, "%s: native engine output width differs from xgboost's", m->source);
        mlops__forest_free(f);
        f = NULL;
    }
    if (st != MLOPS_OK) {
        if (want == MLOPS_ENGINE_NATIVE) return st;
        if (!m->fallback) {
            char why[256];
            snprintf(why, sizeof why, "%s", mlops_last_error());
            return mlops__fail(st,
                               "%s: the native engine cannot serve this model (%s) and XGBoost 1.7.4 cannot "
                               "represent its %s",
                               m->source, why, m->why_native);
        }
        mlops__log(MLOPS_LOG_INFO, "%s: served by xgboost: %s", m->source, mlops_last_error());
        mlops__error_restore(&saved); /* the fallback serves: not a failure */
        return MLOPS_OK;
    }
    m->forest = f;
    m->engine = MLOPS_ENGINE_NATIVE;
    /* Every prediction is native and the metadata is read: unless asked for, XGBoost's copy would
     * only cost memory. */
    if (!keep_booster) {
        XGBoosterFree(m->booster);
        m->booster = NULL;
    }
    return MLOPS_OK;
}

/* Options of any accepted version as the current struct (version 1 lacks all_rounds). */
static mlops_status read_opts(const mlops_model_opts *opts, const char *what, mlops_model_opts *o) {
    mlops_model_opts d = MLOPS_MODEL_OPTS_INIT;
    *o = d;
    if (!opts) return MLOPS_OK;
    if (opts_size(opts->version) == sizeof(unsigned))
        return mlops__fail(MLOPS_EVERSION, "%s: mlops_model_opts version %u, expected %u (or 1, 2)", what,
                           opts->version, MLOPS_MODEL_OPTS_VERSION);
    memcpy(o, opts, opts_size(opts->version)); /* older versions: the later fields keep their defaults */
    o->version = MLOPS_MODEL_OPTS_VERSION;
    if (o->engine != MLOPS_ENGINE_AUTO && o->engine != MLOPS_ENGINE_NATIVE &&
        o->engine != MLOPS_ENGINE_XGBOOST)
        return mlops__fail(MLOPS_EINVAL, "%s: unknown engine %d", what, (int)o->engine);
    if (o->n_threads < 1 || o->n_threads > 1024)
        return mlops__fail(MLOPS_EINVAL, "%s: n_threads must be 1..1024, got %d", what, o->n_threads);
    if (o->iteration_end != 0 && o->iteration_end <= o->iteration_begin)
        return mlops__fail(MLOPS_EINVAL, "%s: empty iteration range [%u, %u)", what, o->iteration_begin,
                           o->iteration_end);
    if ((int)o->format < MLOPS_FORMAT_AUTO || o->format > MLOPS_FORMAT_BINARY)
        return mlops__fail(MLOPS_EINVAL, "%s: unknown format %d", what, (int)o->format);
    if (o->all_rounds != 0 && o->all_rounds != 1)
        return mlops__fail(MLOPS_EINVAL, "%s: all_rounds must be 0 or 1, got %d", what, o->all_rounds);
    if (o->keep_booster != 0 && o->keep_booster != 1)
        return mlops__fail(MLOPS_EINVAL, "%s: keep_booster must be 0 or 1, got %d", what, o->keep_booster);
    return MLOPS_OK;
}

/* Take what the reader learned (intercepts, categories, best_iteration) into the model. */
static void adopt_compat(mlops_model *m, mlops__compat *c) {
    m->fallback = c->equivalent;
    m->best_iteration = c->best_iteration;
    snprintf(m->why_native, sizeof m->why_native, "%s", c->why_native);
    m->base_scores = c->base_scores;
    m->n_base = c->n_base;
    m->cats = c->cats;
    m->n_cats = c->n_cats;
    m->n_cat_features = c->n_cat_features;
    c->base_scores = NULL;
    c->cats = NULL;
    c->n_cats = NULL;
    c->n_base = c->n_cat_features = 0;
}

/* Rounds served: the caller's range, else up to best_iteration unless all_rounds. */
static mlops_status choose_rounds(mlops_model *m, const mlops_model_opts *o) {
    m->iteration_begin = o->iteration_begin;
    m->iteration_end = o->iteration_end;
    if (o->iteration_end > m->n_rounds)
        return mlops__fail(MLOPS_EINVAL, "%s: iteration_end %u is past the model's %zu rounds", m->source,
                           o->iteration_end, m->n_rounds);
    if (o->iteration_end != 0 || o->all_rounds || m->best_iteration < 0) return MLOPS_OK;
    if ((size_t)m->best_iteration >= m->n_rounds) { /* a stale attribute (a sliced model): every round */
        mlops__log(MLOPS_LOG_INFO,
                   "%s: best_iteration %ld is past the model's %zu rounds; serving all of them", m->source,
                   m->best_iteration, m->n_rounds);
        return MLOPS_OK;
    }
    m->iteration_end = (unsigned)m->best_iteration + 1;
    if (m->iteration_end <= m->iteration_begin)
        return mlops__fail(MLOPS_EINVAL, "%s: iteration_begin %u is past best_iteration %ld (set all_rounds)",
                           m->source, m->iteration_begin, m->best_iteration);
    return MLOPS_OK;
}

/* Load `xdata` (the bytes or their 1.7.4 rewrite) into XGBoost and read the metadata. */
static mlops_status load_booster(mlops_model *m, const void *xdata, size_t xlen, int n_threads) {
    char nthread[16];
    snprintf(nthread, sizeof nthread, "%d", n_threads);
    if (XGBoosterCreate(NULL, 0, &m->booster) != 0) return xgb_fail(m, "BoosterCreate");
    if (XGBoosterLoadModelFromBuffer(m->booster, xdata, (bst_ulong)xlen) != 0)
        return mlops__fail(MLOPS_EFORMAT, "%s: xgboost could not load the model: %s", m->source,
                           XGBGetLastError());
    if (XGBoosterSetParam(m->booster, "nthread", nthread) != 0) return xgb_fail(m, "SetParam(nthread)");
    mlops_status st = read_config(m);
    if (st == MLOPS_OK) st = read_features(m);
    if (st == MLOPS_OK) st = read_attrs(m);
    if (st == MLOPS_OK) {
        int rounds = 0;
        if (XGBoosterBoostedRounds(m->booster, &rounds) != 0) st = xgb_fail(m, "BoostedRounds");
        m->n_rounds = rounds > 0 ? (size_t)rounds : 0;
    }
    if (st == MLOPS_OK && m->n_base > 0) m->base_score = m->base_scores[0];
    return st;
}

/* The model's own objective name (1.7.4 is handed reg:squarederror for reg:quantileerror). */
static mlops_status keep_objective(mlops_model *m, const char *objective) {
    if (!objective || strcmp(objective, m->objective) == 0) return MLOPS_OK;
    char *o = mlops__strdup(objective);
    if (!o) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", m->source);
    mlops__free(m->objective);
    m->objective = o;
    return MLOPS_OK;
}

/* Check the bytes and read what XGBoost 1.7.4 does not (`*compat`, cleared by the caller). `*doc`
 * gets the checked document, rewritten in place into what 1.7.4 reads (the caller decrefs it; NULL
 * for the legacy binary format). With a `stream`, the trees go to it as they are read and leave
 * the document (`*streamed`, see mlops__model_read_stream). */
static mlops_status read_document(const void *data, size_t len, mlops_model_format hint, const char *what,
                                  mlops_model_format *fmt, mlops__compat *compat, json_t **doc,
                                  mlops__forest_stream *stream, int *streamed) {
    memset(compat, 0, sizeof *compat);
    compat->equivalent = 1;
    compat->best_iteration = -1;
    *streamed = 0;
    mlops_status st = stream ? mlops__model_read_stream(data, len, hint, what, fmt, doc, stream, streamed)
                             : mlops__model_read_bytes(data, len, hint, what, fmt, doc);
    if (st == MLOPS_OK && *doc) st = mlops__model_compat(*doc, what, compat);
    if (st != MLOPS_OK) {
        json_decref(*doc);
        *doc = NULL;
    }
    return st;
}

/* glibc keeps the pages of the document's many small freed blocks; hand them back, so that what a
 * load leaves resident is the model itself. */
static void release_free_pages(void) {
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}

/* The native engine straight from the document: metadata read from it, the forest built from it
 * (from the trees streamed while it was read, when `stream` is given), widths from the objective.
 * No XGBoost booster is created. Fails (model left for the booster path to start over) when the
 * builder refuses the document. */
static mlops_status load_native_doc(mlops_model *m, const mlops_model_opts *o, json_t *doc,
                                    const mlops__compat *compat, mlops__forest_stream *stream) {
    mlops_status st = read_doc_meta(m, doc, compat->n_groups);
    if (st == MLOPS_OK) st = keep_objective(m, compat->objective);
    if (st == MLOPS_OK) st = choose_rounds(m, o);
    mlops__forest *f = NULL;
    if (st == MLOPS_OK && stream)
        st = mlops__forest_stream_finish(stream, doc, m->iteration_begin, m->iteration_end, m->base_scores,
                                         m->n_base, compat->tree_weights, compat->n_tree_weights, &f);
    else if (st == MLOPS_OK)
        st =
            mlops__forest_build_doc(doc, m->iteration_begin, m->iteration_end, m->base_scores, m->n_base, &f);
    if (st != MLOPS_OK) {
        clear_meta(m);
        return st;
    }
    m->forest = f;
    m->engine = MLOPS_ENGINE_NATIVE;
    m->width[0] = mlops__forest_output_width(f, 0);
    m->width[1] = mlops__forest_output_width(f, 1);
    build_predict_configs(m);
    return MLOPS_OK;
}

/* XGBoost loads the model (the bytes, or the 1.7.4 rewrite of a 2.x/3.x document) and gives the
 * metadata; the native engine is then built when wanted, from the document or XGBoost's export. */
static mlops_status load_with_booster(mlops_model *m, const void *data, size_t len, const mlops_model_opts *o,
                                      json_t *doc, const mlops__compat *compat) {
    char *rewritten = NULL;
    size_t xlen = len;
    if (doc && compat->version[0] >= 2 && !(rewritten = mlops__compat_dump(doc, &xlen)))
        return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", m->source);
    pthread_once(&xgb_log_once, register_xgb_log);
    mlops_status st = load_booster(m, rewritten ? rewritten : data, xlen, o->n_threads);
    mlops__free(rewritten);
    if (st == MLOPS_OK) st = keep_objective(m, compat->objective);
    if (st == MLOPS_OK) st = choose_rounds(m, o);
    if (st == MLOPS_OK) {
        build_predict_configs(m);
        st = probe_widths(m);
    }
    if (st == MLOPS_OK)
        st = setup_native(m, o->engine, o->keep_booster, o->engine == MLOPS_ENGINE_XGBOOST ? NULL : doc);
    return st;
}

/* One load. With `stream` (the native engine wanted, no booster kept) the forest is built while
 * the bytes are read; `*again` = 1 when the engine then refuses the model: the caller loads again
 * without the stream, since the booster path needs the whole document. */
static mlops_status load_once(const void *data, size_t len, const mlops_model_opts *opts, const char *what,
                              mlops__forest_stream *stream, int *again, mlops_model **out) {
    mlops_model_opts o = *opts;
    *again = 0;
    mlops_model_format fmt = MLOPS_FORMAT_AUTO;
    mlops__compat compat;
    json_t *doc = NULL;
    int streamed = 0;
    mlops_status st = read_document(data, len, o.format, what, &fmt, &compat, &doc, stream, &streamed);
    mlops_model *m = NULL;
    if (st == MLOPS_OK && !(m = mlops__calloc(1, sizeof *m)))
        st = mlops__fail(MLOPS_ENOMEM, "%s: out of memory", what);
    if (st != MLOPS_OK) {
        json_decref(doc);
        mlops__compat_clear(&compat);
        return st;
    }
    atomic_init(&m->refs, 1);
    snprintf(m->source, sizeof m->source, "%s", what);
    m->format = fmt;
    m->engine = MLOPS_ENGINE_XGBOOST;
    m->n_threads = o.n_threads;
    m->missing = o.missing;
    adopt_compat(m, &compat);
    st = MLOPS_ENOTSUP;
    if (o.keep_booster && !m->fallback) {
        st = mlops__fail(MLOPS_ENOTSUP,
                         "%s: keep_booster: XGBoost 1.7.4 cannot represent the model's %s, so there is no "
                         "booster to keep",
                         m->source, m->why_native);
        model_destroy(m);
        json_decref(doc);
        mlops__compat_clear(&compat);
        return st;
    }
    if (doc && o.engine != MLOPS_ENGINE_XGBOOST && !o.keep_booster) {
        st = load_native_doc(m, &o, doc, &compat, streamed ? stream : NULL);
        if (st != MLOPS_OK && st != MLOPS_ENOMEM) {
            mlops__log(MLOPS_LOG_DEBUG, "%s: native engine not built from the document (%s)", m->source,
                       mlops_last_error());
            mlops_clear_error();
            *again = streamed; /* the document lacks the trees the booster path needs */
        }
    }
    if (st != MLOPS_OK && st != MLOPS_ENOMEM && !*again) st = load_with_booster(m, data, len, &o, doc, &compat);
    json_decref(doc);
    mlops__compat_clear(&compat);
    release_free_pages();
    if (st != MLOPS_OK) {
        model_destroy(m);
        return st;
    }
    *out = m;
    return MLOPS_OK;
}

static mlops_status load_checked(const void *data, size_t len, const mlops_model_opts *opts, const char *what,
                                 mlops_model **out) {
    mlops_model_opts o;
    mlops_status st = read_opts(opts, what, &o);
    if (st != MLOPS_OK) return st;
    size_t max_bytes = o.max_bytes ? o.max_bytes : DEFAULT_MAX_BYTES;
    if (len > max_bytes)
        return mlops__fail(MLOPS_ELIMIT, "%s: %zu bytes exceeds max_bytes %zu", what, len, max_bytes);
    mlops__forest_stream *stream = NULL;
    if (o.engine != MLOPS_ENGINE_XGBOOST && !o.keep_booster && !(stream = mlops__forest_stream_create()))
        return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", what);
    int again = 0;
    st = load_once(data, len, &o, what, stream, &again, out);
    mlops__forest_stream_free(stream);
    if (again) st = load_once(data, len, &o, what, NULL, &again, out);
    return st;
}

MLOPS_API mlops_status mlops_model_load_buffer(const void *data, size_t len, const mlops_model_opts *opts,
                                               mlops_model **out) {
    MLOPS__CHECK_ARG("model", data);
    MLOPS__CHECK_ARG("model", out);
    if (len == 0) return mlops__fail(MLOPS_EFORMAT, "buffer: empty model (0 bytes)");
    return load_checked(data, len, opts, "buffer", out);
}

MLOPS_API mlops_status mlops_model_load(const char *path, const mlops_model_opts *opts, mlops_model **out) {
    MLOPS__CHECK_ARG("model", path);
    MLOPS__CHECK_ARG("model", out);
    size_t max_bytes = (opts && opts_size(opts->version) > sizeof(unsigned) && opts->max_bytes)
                           ? opts->max_bytes
                           : DEFAULT_MAX_BYTES;
    char *data = NULL;
    size_t len = 0;
    mlops_status st = mlops__read_file(path, max_bytes, &data, &len);
    if (st != MLOPS_OK) return st;
    if (len == 0)
        st = mlops__fail(MLOPS_EFORMAT, "%s: empty file", path);
    else
        st = load_checked(data, len, opts, path, out);
    mlops__free(data);
    return st;
}

MLOPS_API mlops_model *mlops_model_ref(mlops_model *model) {
    if (model) atomic_fetch_add_explicit(&model->refs, 1, memory_order_relaxed);
    return model;
}

MLOPS_API void mlops_model_free(mlops_model *model) {
    if (!model) return;
    if (atomic_fetch_sub_explicit(&model->refs, 1, memory_order_acq_rel) == 1) model_destroy(model);
}

MLOPS_API size_t mlops_model_n_features(const mlops_model *model) { return model ? model->n_features : 0; }

MLOPS_API size_t mlops_model_n_outputs(const mlops_model *model) { return model ? model->width[0] : 0; }

MLOPS_API size_t mlops_model_output_width(const mlops_model *model, uint32_t flags) {
    return model ? model->width[(flags & MLOPS_PREDICT_MARGIN) ? 1 : 0] : 0;
}

MLOPS_API mlops_status mlops_model_predict(const mlops_model *model, const float *x, size_t n_rows,
                                           size_t n_cols, uint32_t flags, float *out, size_t out_len) {
    MLOPS__CHECK_ARG("model", model);
    if (flags & ~(uint32_t)(MLOPS_PREDICT_MARGIN | MLOPS_PREDICT_XGBOOST))
        return mlops__fail(MLOPS_EINVAL, "%s: unknown predict flags 0x%x", model->source, (unsigned)flags);
    if ((flags & MLOPS_PREDICT_XGBOOST) && !model->booster)
        return mlops__fail(MLOPS_ENOTSUP,
                           "%s: MLOPS_PREDICT_XGBOOST: no XGBoost booster is kept (load with "
                           "keep_booster = 1)",
                           model->source);
    if (n_cols != model->n_features)
        return mlops__fail(MLOPS_ESHAPE, "%s: model expects %zu features, got %zu", model->source,
                           model->n_features, n_cols);
    if (n_rows == 0) return MLOPS_OK;
    MLOPS__CHECK_ARG("model", x);
    MLOPS__CHECK_ARG("model", out);
    int margin = (flags & MLOPS_PREDICT_MARGIN) ? 1 : 0;
    size_t width = model->width[margin];
    if (n_rows > SIZE_MAX / width || (n_cols && n_rows > SIZE_MAX / sizeof(float) / n_cols))
        return mlops__fail(MLOPS_ELIMIT, "%s: %zu rows is too many", model->source, n_rows);
    if (out_len < n_rows * width)
        return mlops__fail(MLOPS_ESHAPE, "%s: output buffer holds %zu values, %zu rows need %zu",
                           model->source, out_len, n_rows, n_rows * width);
    if (model->forest && !(flags & MLOPS_PREDICT_XGBOOST))
        return mlops__forest_predict(model->forest, x, n_rows, n_cols, model->missing, margin,
                                     model->n_threads, out);
    return xgb_predict(model, x, n_rows, n_cols, margin, out, out_len);
}

MLOPS_API const char *mlops_model_feature_name(const mlops_model *model, size_t i) {
    return model && i < model->n_features ? model->feature_names[i] : NULL;
}

MLOPS_API const char *mlops_model_feature_type(const mlops_model *model, size_t i) {
    return model && i < model->n_features ? model->feature_types[i] : NULL;
}

/* Index of `key` in names[0..n), or n when absent. */
static size_t index_of(char *const *names, size_t n, const char *key) {
    size_t i = 0;
    while (i < n && strcmp(names[i], key) != 0)
        i++;
    return i;
}

MLOPS_API mlops_status mlops_model_find_feature(const mlops_model *model, const char *name, size_t *index) {
    MLOPS__CHECK_ARG("model", model);
    MLOPS__CHECK_ARG("model", name);
    MLOPS__CHECK_ARG("model", index);
    size_t i = index_of(model->feature_names, model->n_features, name);
    if (i == model->n_features) return MLOPS_ENOTFOUND;
    *index = i;
    return MLOPS_OK;
}

MLOPS_API const char *mlops_model_objective(const mlops_model *model) {
    return model ? model->objective : NULL;
}

MLOPS_API const char *mlops_model_booster(const mlops_model *model) {
    return model ? model->booster_name : NULL;
}

MLOPS_API mlops_task mlops_model_task(const mlops_model *model) {
    return model ? model->task : MLOPS_TASK_REGRESSION;
}

MLOPS_API size_t mlops_model_n_classes(const mlops_model *model) { return model ? model->n_classes : 0; }

MLOPS_API size_t mlops_model_n_rounds(const mlops_model *model) { return model ? model->n_rounds : 0; }

MLOPS_API double mlops_model_base_score(const mlops_model *model) { return model ? model->base_score : NAN; }

MLOPS_API size_t mlops_model_n_attrs(const mlops_model *model) { return model ? model->n_attrs : 0; }

MLOPS_API const char *mlops_model_attr_name(const mlops_model *model, size_t i) {
    return model && i < model->n_attrs ? model->attr_names[i] : NULL;
}

MLOPS_API mlops_status mlops_model_find_attr(const mlops_model *model, const char *key, const char **value) {
    MLOPS__CHECK_ARG("model", model);
    MLOPS__CHECK_ARG("model", key);
    MLOPS__CHECK_ARG("model", value);
    size_t i = index_of(model->attr_names, model->n_attrs, key);
    if (i == model->n_attrs) return MLOPS_ENOTFOUND;
    *value = model->attr_values[i];
    return MLOPS_OK;
}

MLOPS_API mlops_engine mlops_model_engine(const mlops_model *model) {
    return model ? model->engine : MLOPS_ENGINE_XGBOOST;
}

MLOPS_API const char *mlops_engine_name(mlops_engine engine) {
    switch (engine) {
    case MLOPS_ENGINE_AUTO:
        return "auto";
    case MLOPS_ENGINE_NATIVE:
        return "native";
    case MLOPS_ENGINE_XGBOOST:
        return "xgboost";
    }
    return "unknown";
}

MLOPS_API int mlops_model_fallback(const mlops_model *model) { return model ? model->fallback : 0; }

MLOPS_API int mlops_model_booster_kept(const mlops_model *model) { return model && model->booster ? 1 : 0; }

MLOPS_API long mlops_model_best_iteration(const mlops_model *model) {
    return model ? model->best_iteration : -1;
}

MLOPS_API unsigned mlops_model_iteration_begin(const mlops_model *model) {
    return model ? model->iteration_begin : 0;
}

MLOPS_API unsigned mlops_model_iteration_end(const mlops_model *model) {
    if (!model) return 0;
    return model->iteration_end ? model->iteration_end : (unsigned)model->n_rounds;
}

MLOPS_API size_t mlops_model_n_categories(const mlops_model *model, size_t i) {
    return model && i < model->n_cat_features ? model->n_cats[i] : 0;
}

MLOPS_API const char *mlops_model_category(const mlops_model *model, size_t i, size_t k) {
    return k < mlops_model_n_categories(model, i) ? model->cats[i][k] : NULL;
}

MLOPS_API mlops_model_format mlops_model_format_of(const mlops_model *model) {
    return model ? model->format : MLOPS_FORMAT_AUTO;
}

MLOPS_API size_t mlops_model_native_bytes(const mlops_model *model) {
    return model && model->forest ? mlops__forest_bytes(model->forest) : 0;
}

MLOPS_API const char *mlops_task_name(mlops_task task) {
    switch (task) {
    case MLOPS_TASK_REGRESSION:
        return "regression";
    case MLOPS_TASK_BINARY:
        return "binary";
    case MLOPS_TASK_MULTICLASS:
        return "multiclass";
    case MLOPS_TASK_RANKING:
        return "ranking";
    }
    return "unknown";
}
