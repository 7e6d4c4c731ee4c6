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
 * so the caller can fall back to XGBoost. */
mlops_status mlops__forest_build(const char *json, size_t len, unsigned iteration_begin,
                                 unsigned iteration_end, mlops__forest **out);

/* The same with the intercepts given: `base_scores` holds n_base values in output space (one, or
 * one per output group as XGBoost 3.1+ stores them), used instead of the document's base_score. */
mlops_status mlops__forest_build_with_base(const char *json, size_t len, unsigned iteration_begin,
                                           unsigned iteration_end, const float *base_scores, size_t n_base,
                                           mlops__forest **out);

/* The same from a model document already parsed into jansson values (a JSON document, or the
 * reader's view of a UBJSON one, with non-finite numbers as the reader's marker strings, which the
 * builder refuses like the nulls of the text path). `doc` is only read; the caller keeps it. */
struct json_t;
mlops_status mlops__forest_build_doc(struct json_t *doc, unsigned iteration_begin, unsigned iteration_end,
                                     const float *base_scores, size_t n_base, mlops__forest **out);

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
