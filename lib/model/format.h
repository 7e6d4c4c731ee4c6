/* Reader of serialized XGBoost models (1.0 to 3.5): structural check, document, compatibility. Internal. */
#ifndef MLOPS_MODEL_FORMAT_H
#define MLOPS_MODEL_FORMAT_H

#include <jansson.h>
#include <stddef.h>

#include "engine/doc_array.h" /* compact arrays, number markers */
#include "engine/engine.h"    /* the forest stream */
#include "mlops/model.h"

/* Detect the format of `data` (when hint is MLOPS_FORMAT_AUTO) and verify its structure completely
 * enough that XGBoost 1.7.4 and the native engine can read it without reading out of bounds.
 * Returns MLOPS_OK and the detected format, or MLOPS_EFORMAT with a message saying what is wrong
 * and where. `what` names the source in messages (a path or "buffer"). Never reads outside
 * [data, data+len). */
mlops_status mlops__model_check_bytes(const void *data, size_t len, mlops_model_format hint, const char *what,
                                      mlops_model_format *detected);

/* The same check; on success JSON and UBJSON models also hand back the document in `*doc` (the
 * caller owns it; NULL for the legacy binary format). Floats are kept as jansson reals except
 * NaN and the infinities, which jansson cannot hold: those become the marker strings below. */
mlops_status mlops__model_read_bytes(const void *data, size_t len, mlops_model_format hint, const char *what,
                                     mlops_model_format *detected, json_t **doc);

/* mlops__model_read_bytes handing each tree of a JSON/UBJSON document to `stream` as soon as it is
 * read and checked, and then dropping the tree's node arrays from the document (their compact
 * form is in the stream), so the read never holds the whole document's trees (issue 24).
 * `*streamed` = 1: the document's trees went to the stream in order, their arrays are gone
 * (mlops__forest_stream_finish checks they are all of them); 0: the stream got nothing usable
 * (legacy binary, a tree the engine cannot flatten, trees out of order) and `*doc`, when read, is
 * the whole document (read again without the stream); discard the stream. */
mlops_status mlops__model_read_stream(const void *data, size_t len, mlops_model_format hint, const char *what,
                                      mlops_model_format *detected, json_t **doc, mlops__forest_stream *stream,
                                      int *streamed);

/* What the reader learned about a JSON/UBJSON model beyond XGBoost 1.7.4's view of it. */
typedef struct mlops__compat {
    int version[3];       /* writer version; 0.0.0 when absent */
    size_t n_base;        /* intercepts stored (1, or one per output) */
    float *base_scores;   /* n_base values, output space, as XGBoost reads them */
    size_t n_groups;      /* outputs: max(num_class, num_target, 1) */
    long best_iteration;  /* learner attribute best_iteration, or -1 */
    int equivalent;       /* 1: the XGBoost 1.7.4 document predicts exactly the same */
    char why_native[160]; /* when not equivalent: what 1.7.4 cannot represent */
    char *objective;      /* the writer's objective name */
    size_t n_cat_features;
    char ***cats;   /* per feature (num_feature entries, NULL when none): category strings */
    size_t *n_cats; /* per feature: number of categories */
    float *tree_weights; /* 3.5 gbtree weight_drop, one per tree (NULL when absent); folded into the
                            leaf values of the trees the document still holds, applied by the
                            engine to streamed ones */
    size_t n_tree_weights;
} mlops__compat;

/* Analyse `doc` (as returned by mlops__model_read_bytes), refuse any field that would change
 * predictions and is not understood (MLOPS_EFORMAT naming it), fold 3.x tree weights into leaf
 * values and rewrite the document in place into one XGBoost 1.7.4 reads (scalar intercept,
 * objectives it knows, no stored categories). Fills `*out` (free with mlops__compat_clear). */
mlops_status mlops__model_compat(json_t *doc, const char *what, mlops__compat *out);

void mlops__compat_clear(mlops__compat *c);

/* The rewritten document as JSON text for XGBoost 1.7.4 (NaN and infinities restored as XGBoost
 * writes them; compact arrays expanded in `doc` first). Caller frees with mlops__free; NULL on
 * ENOMEM. */
char *mlops__compat_dump(json_t *doc, size_t *len);

#endif
