/* A single-pass JSON reader for model documents. Internal.
 *
 * It produces the document the rest of the code reads (lib/model/format.h): jansson objects,
 * strings and scalars for the structure, and every non-empty array (below the root) whose elements are all
 * JSON integers, or all JSON reals, kept compact the way the UBJSON reader keeps typed arrays
 * (engine/doc_array.h: 'U'/'l'/'L' integers by range, 'D' float64 reals) instead of one jansson
 * value per number. What it accepts and the values it builds are jansson's json_loadb(data, len, 0)
 * (tests/model/test_json_reader.c compares the two), with these deliberate differences:
 *   - the tokens NaN, Infinity and -Infinity that XGBoost writes are values: marker strings of
 *     doc_array.h where a jansson value is needed, the IEEE value inside a compact real array;
 *   - nesting deeper than `max_depth` containers (the root is level 1) is refused while reading;
 *   - a string value starting with byte 0x02 (the compact-array tag) is refused.
 * Numbers are read as strtod reads them (an exact fast path for short mantissas, strtod otherwise). */
#ifndef MLOPS_MODEL_JSON_READER_H
#define MLOPS_MODEL_JSON_READER_H

#include <jansson.h>
#include <stddef.h>

/* Why a read failed: a message, the byte offset it refers to and its 1-based line. */
typedef struct mlops__json_read_error {
    char text[160];
    size_t position;
    int line;
    int nomem; /* 1: out of memory rather than bad input */
} mlops__json_read_error;

/* The document in `data[0, len)` (an object or an array, with only whitespace after it); the
 * caller owns the result (json_decref). NULL on failure with `*err` filled. Never reads outside
 * the buffer; `data` need not be NUL-terminated. Thread-safe (no shared state). */
json_t *mlops__json_read(const char *data, size_t len, int max_depth, mlops__json_read_error *err);

#endif
