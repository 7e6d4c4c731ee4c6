/* Internal engine interface: the XGBoost backend and the native flattened-forest
 * evaluator. Never included by a public header, examples or bindings. */
#ifndef MLOPS_ENGINE_H
#define MLOPS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "mlops/common.h"

/* ---- Native forest (lib/engine/native*.c) ---- */

typedef struct mlops__forest mlops__forest;

/* Build a flattened forest from the model's JSON serialization (as written by
 * XGBoosterSaveModelToBuffer with {"format": "json"}), restricted to boosting
 * rounds [iteration_begin, iteration_end) (0, 0 = all). Returns MLOPS_ENOTSUP
 * with a message naming the unsupported feature (gblinear, unknown objective...)
 * so the caller can fall back to XGBoost. Tests and benchmarks; a load reads
 * the bytes with lib/model's reader and streams the trees (below). */
mlops_status mlops__forest_build(const char *json, size_t len, unsigned iteration_begin,
                                 unsigned iteration_end, mlops__forest **out);

/* The same from a model document already parsed into jansson values (a JSON document, or the
 * reader's view of a UBJSON one, with non-finite numbers as the reader's marker strings, which the
 * builder refuses like the nulls of the text path). `base_scores` (n_base values in output space:
 * one, or one per output as XGBoost 3.1+ stores them; NULL, 0: the document's base_score) are the
 * intercepts. `doc` is only read; the caller keeps it. Its trees go through a stream (below). */
struct json_t;
mlops_status mlops__forest_build_doc(struct json_t *doc, unsigned iteration_begin, unsigned iteration_end,
                                     const float *base_scores, size_t n_base, mlops__forest **out);

/* Streaming build (issue 24): the reader hands each tree to the stream as soon as it has read and
 * checked it, the stream turns it into the engine's compact nodes at once, and the reader can then
 * drop the tree's arrays, so a load holds the forest plus one tree, never the whole document.
 * What only the end of the document says (objective, num_feature, base_score, tree_info, weights,
 * the rounds served and the per-tree layout) is applied by _finish over the nodes already built.
 * A stream belongs to one load (not thread-safe). */
typedef struct mlops__forest_stream mlops__forest_stream;

/* A new, empty stream; NULL on ENOMEM. Free with mlops__forest_stream_free (NULL is a no-op). */
mlops__forest_stream *mlops__forest_stream_create(void);
void mlops__forest_stream_free(mlops__forest_stream *s);

/* Flatten the next tree (a JSON tree object, borrowed; the stream keeps a reference to the object
 * only, so its arrays may be dropped afterwards). A failure (MLOPS_ENOMEM, or what the engine
 * cannot serve: MLOPS_ENOTSUP/EFORMAT with a message) ends the stream: every later call returns it. */
mlops_status mlops__forest_stream_tree(mlops__forest_stream *s, struct json_t *tree);

/* Trees flattened so far; 0 once the stream failed. */
size_t mlops__forest_stream_count(const mlops__forest_stream *s);

/* The forest, from the trees streamed and the rest of `doc` (only read): the document's trees must
 * be the very objects streamed, all of them, in order (MLOPS_EFORMAT otherwise). `base_scores` as
 * for mlops__forest_build_doc; `tree_weights` (NULL, or n_weights == number of trees) multiply each
 * tree's leaf values in float, as XGBoost 3.5 does with gbtree weight_drop. Once per stream. */
mlops_status mlops__forest_stream_finish(mlops__forest_stream *s, struct json_t *doc, unsigned iteration_begin,
                                         unsigned iteration_end, const float *base_scores, size_t n_base,
                                         const float *tree_weights, size_t n_weights, mlops__forest **out);

void mlops__forest_free(mlops__forest *forest);

/* Bytes held by the flattened forest. */
size_t mlops__forest_bytes(const mlops__forest *forest);

/* Values per row: margin != 0 gives XGBoost's margin shape. */
size_t mlops__forest_output_width(const mlops__forest *forest, int margin);

/* Predict n_rows x n_cols row-major rows (n_cols == number of features);
 * NaN and values equal to `missing` are missing. Writes n_rows * width values
 * to out. Bit-identical to XGBoost. No allocation, no lock; n_threads > 1 may
 * split rows across threads. */
mlops_status mlops__forest_predict(const mlops__forest *forest, const float *x, size_t n_rows, size_t n_cols,
                                   float missing, int margin, int n_threads, float *out);

#endif
