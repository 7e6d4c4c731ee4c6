/**
 * @file mlops/model.h
 * @brief Load an XGBoost model behind an opaque, reference-counted handle and predict in batches.
 *
 * Thread safety: a loaded model is immutable. mlops_model_predict() and every
 * metadata getter may be called from any number of threads on one shared model
 * without locking. mlops_model_ref()/mlops_model_free() are atomic; the last
 * free releases the model, so callers must not use a handle after dropping
 * their own reference.
 */
#ifndef MLOPS_MODEL_H
#define MLOPS_MODEL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "mlops/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An immutable, loaded model. */
typedef struct mlops_model mlops_model;

/** Which evaluator serves predictions. */
typedef enum mlops_engine {
    MLOPS_ENGINE_AUTO = 0,   /**< native when the model is supported, XGBoost otherwise */
    MLOPS_ENGINE_NATIVE = 1, /**< native only; loading fails if the model is not supported */
    MLOPS_ENGINE_XGBOOST = 2 /**< XGBoost's own predictor */
} mlops_engine;

/** Serialized model formats (XGBoost 1.7 writes all three). */
typedef enum mlops_model_format {
    MLOPS_FORMAT_AUTO = 0, /**< detect from the bytes */
    MLOPS_FORMAT_JSON = 1,
    MLOPS_FORMAT_UBJSON = 2,
    MLOPS_FORMAT_BINARY = 3 /**< XGBoost's legacy binary format */
} mlops_model_format;

/** What the model predicts. */
typedef enum mlops_task {
    MLOPS_TASK_REGRESSION = 0,
    MLOPS_TASK_BINARY = 1,
    MLOPS_TASK_MULTICLASS = 2,
    MLOPS_TASK_RANKING = 3
} mlops_task;

/** Layout version of mlops_model_opts: callers set it in `version` (or pass it to the initialiser). */
#define MLOPS_MODEL_OPTS_VERSION 3u

/** Load options. Initialise with MLOPS_MODEL_OPTS_INIT or mlops_model_opts_init(opts,
 * MLOPS_MODEL_OPTS_VERSION). */
typedef struct mlops_model_opts {
    unsigned version;    /**< MLOPS_MODEL_OPTS_VERSION */
    mlops_engine engine; /**< default MLOPS_ENGINE_AUTO */
    int n_threads;       /**< threads per predict call; default 1 (services parallelize across requests) */
    float missing;       /**< input value treated as missing; default NaN (NaN is always missing) */
    mlops_model_format format; /**< default MLOPS_FORMAT_AUTO */
    size_t max_bytes;          /**< refuse larger model files; 0 = default 2 GiB */
    unsigned iteration_begin;  /**< first boosting round used; default 0 */
    unsigned iteration_end;    /**< one past the last round used; 0 = up to best_iteration (or all rounds) */
    /** Version 2: 1 serves every round of a model trained with early stopping; the default 0 stops
     * after its best_iteration, as xgboost's scikit-learn wrapper predicts. Ignored when
     * iteration_end is set. (Version 1 structs, without this field, are still accepted.) */
    int all_rounds;
    /** Version 3: 1 keeps XGBoost's booster loaded beside the native engine, for predictions
     * through it with MLOPS_PREDICT_XGBOOST (a live cross-check, at the cost of XGBoost's copy of
     * the model in memory and a slower load). The default 0 keeps it only when XGBoost serves the
     * model (the native engine cannot, or engine is MLOPS_ENGINE_XGBOOST). A model XGBoost 1.7.4
     * cannot represent (mlops_model_fallback() 0) is refused with MLOPS_ENOTSUP when 1.
     * mlops_model_booster_kept() says whether a booster is held. (Versions 1 and 2, without
     * this field, are still accepted.) */
    int keep_booster;
} mlops_model_opts;

/** Initialiser of mlops_model_opts with the defaults and the current version. */
#define MLOPS_MODEL_OPTS_INIT                                                                                \
    { MLOPS_MODEL_OPTS_VERSION, MLOPS_ENGINE_AUTO, 1, NAN, MLOPS_FORMAT_AUTO, 0, 0, 0, 0, 0 }

/**
 * Fill `opts` with the defaults and stamp `version`, which the caller passes as
 * MLOPS_MODEL_OPTS_VERSION (the layout it was compiled against; a constructor rejects an
 * unknown version with MLOPS_EVERSION). For bindings that cannot expand macros.
 * NULL is a no-op. Thread safety: writes only `*opts`.
 */
MLOPS_API void mlops_model_opts_init(mlops_model_opts *opts, unsigned version);

/** Predict flag: return the raw margin instead of the transformed output. */
#define MLOPS_PREDICT_MARGIN 1u
/** Predict flag: predict through the XGBoost booster kept with keep_booster (bit-identical to the
 * native engine); MLOPS_ENOTSUP when the model holds no booster. */
#define MLOPS_PREDICT_XGBOOST 2u

/**
 * Load a model file. `opts` may be NULL for defaults. The bytes are checked
 * structurally before XGBoost sees them. On success `*out` holds one
 * reference; on failure `*out` is untouched and mlops_last_error() says why.
 */
MLOPS_API mlops_status mlops_model_load(const char *path, const mlops_model_opts *opts, mlops_model **out);

/** Load a model from memory. The bytes are copied as needed; the caller keeps `data`. */
MLOPS_API mlops_status mlops_model_load_buffer(const void *data, size_t len, const mlops_model_opts *opts,
                                               mlops_model **out);

/** Take another reference; returns `model`. NULL is returned unchanged. */
MLOPS_API mlops_model *mlops_model_ref(mlops_model *model);

/** Drop one reference; the last one frees the model. NULL is a no-op. */
MLOPS_API void mlops_model_free(mlops_model *model);

/** Number of input features per row. 0 for NULL. */
MLOPS_API size_t mlops_model_n_features(const mlops_model *model);

/** Values per row in the default (transformed) predict output. 0 for NULL. */
MLOPS_API size_t mlops_model_n_outputs(const mlops_model *model);

/** Values per row for the given predict flags (margin output of multi:softmax has n_classes). */
MLOPS_API size_t mlops_model_output_width(const mlops_model *model, uint32_t flags);

/**
 * Predict `n_rows` rows of `n_cols` features, row-major float32. `out` must
 * hold n_rows * mlops_model_output_width(model, flags) values; a smaller
 * `out_len` is MLOPS_ESHAPE and nothing is written. No allocation on the
 * native engine's path; safe from any number of threads.
 */
MLOPS_API mlops_status mlops_model_predict(const mlops_model *model, const float *x, size_t n_rows,
                                           size_t n_cols, uint32_t flags, float *out, size_t out_len);

/** Name of feature `i` ("f0", "f1"... when the model has none); NULL if out of range. Owned by the model. */
MLOPS_API const char *mlops_model_feature_name(const mlops_model *model, size_t i);

/** XGBoost type of feature `i` ("float", "int", "i", "q" or "c"); NULL if out of range. Owned by the model.
 */
MLOPS_API const char *mlops_model_feature_type(const mlops_model *model, size_t i);

/**
 * Look up the feature called `name`: MLOPS_OK and `*index` set, MLOPS_ENOTFOUND
 * (no message recorded: absence is an answer) when the model has no such
 * feature, MLOPS_EINVAL for a NULL argument. `*index` is untouched on failure.
 * Thread safety: any number of threads on one model.
 */
MLOPS_API mlops_status mlops_model_find_feature(const mlops_model *model, const char *name, size_t *index);

/** Objective name, for example "binary:logistic". Owned by the model. */
MLOPS_API const char *mlops_model_objective(const mlops_model *model);

/** Booster kind: "gbtree", "dart" or "gblinear". Owned by the model. */
MLOPS_API const char *mlops_model_booster(const mlops_model *model);

/** Task kind derived from the objective. */
MLOPS_API mlops_task mlops_model_task(const mlops_model *model);

/** Number of classes (0 for non-multiclass models). */
MLOPS_API size_t mlops_model_n_classes(const mlops_model *model);

/** Boosted rounds in the model. */
MLOPS_API size_t mlops_model_n_rounds(const mlops_model *model);

/** Base score as stored by XGBoost (in output space, before the link function); the first
 * output's when the model stores one intercept per output (XGBoost 3.1+). */
MLOPS_API double mlops_model_base_score(const mlops_model *model);

/** Number of user string attributes stored in the model. */
MLOPS_API size_t mlops_model_n_attrs(const mlops_model *model);

/** Name of attribute `i` (sorted by name); NULL if out of range. Owned by the model. */
MLOPS_API const char *mlops_model_attr_name(const mlops_model *model, size_t i);

/**
 * Look up the user attribute `key`: MLOPS_OK and `*value` set (owned by the
 * model, valid while it lives), MLOPS_ENOTFOUND (no message recorded) when
 * absent, MLOPS_EINVAL for a NULL argument. `*value` is untouched on failure.
 * Thread safety: any number of threads on one model.
 */
MLOPS_API mlops_status mlops_model_find_attr(const mlops_model *model, const char *key, const char **value);

/** The engine actually serving predictions (never AUTO). */
MLOPS_API mlops_engine mlops_model_engine(const mlops_model *model);

/** "native" or "xgboost". */
MLOPS_API const char *mlops_engine_name(mlops_engine engine);

/**
 * 1 when XGBoost 1.7.4 can be handed an exactly equivalent model: it serves the model when the
 * native engine cannot, MLOPS_ENGINE_XGBOOST loads it, and the tests use it as the oracle; 0 when
 * it cannot represent the model (per-output intercepts of XGBoost 3.1+), so only the native engine
 * serves it and MLOPS_ENGINE_XGBOOST is refused. 0 for NULL. (When the native engine serves, no
 * XGBoost copy stays in memory either way, unless the load asked for keep_booster.)
 */
MLOPS_API int mlops_model_fallback(const mlops_model *model);

/**
 * 1 when the model holds an XGBoost booster: XGBoost serves it (mlops_model_engine() is
 * MLOPS_ENGINE_XGBOOST), or the load asked for keep_booster and MLOPS_PREDICT_XGBOOST can use it;
 * 0 when only the native engine's forest is in memory, and for NULL. Thread safety: read-only.
 */
MLOPS_API int mlops_model_booster_kept(const mlops_model *model);

/** The model's best_iteration (early stopping), or -1 when it has none. -1 for NULL. */
MLOPS_API long mlops_model_best_iteration(const mlops_model *model);

/** First boosting round used by predict. 0 for NULL. */
MLOPS_API unsigned mlops_model_iteration_begin(const mlops_model *model);

/** One past the last boosting round used by predict (best_iteration + 1 by default for a model
 * trained with early stopping, else all rounds). 0 for NULL. */
MLOPS_API unsigned mlops_model_iteration_end(const mlops_model *model);

/** Number of categories XGBoost 3.x stored for feature `i` (its training DataFrame's
 * categories; code k is category k). 0 for none, an unknown feature or NULL. */
MLOPS_API size_t mlops_model_n_categories(const mlops_model *model, size_t i);

/** Category `k` of feature `i` (its code is k); NULL if out of range. Owned by the model. */
MLOPS_API const char *mlops_model_category(const mlops_model *model, size_t i, size_t k);

/** Format the model was loaded from. */
MLOPS_API mlops_model_format mlops_model_format_of(const mlops_model *model);

/** Bytes of the native flattened forest (0 when XGBoost serves the model). */
MLOPS_API size_t mlops_model_native_bytes(const mlops_model *model);

/** Name of the task kind: "regression", "binary", "multiclass" or "ranking". */
MLOPS_API const char *mlops_task_name(mlops_task task);

#ifdef __cplusplus
}
#endif

#endif /* MLOPS_MODEL_H */
