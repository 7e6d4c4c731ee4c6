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
    int nomem;       /* 1: out of memory rather than bad input */
    int hook_status; /* non-zero: a hook's check stopped the read (mlops__json_read_hooked) */
} mlops__json_read_error;

/* The document in `data[0, len)` (an object or an array, with only whitespace after it); the
 * caller owns the result (json_decref). NULL on failure with `*err` filled. Never reads outside
 * the buffer; `data` need not be NUL-terminated. Thread-safe (no shared state). */
json_t *mlops__json_read(const char *data, size_t len, int max_depth, mlops__json_read_error *err);

/* ---- Checks while reading (the JSON and the UBJSON readers of lib/model/format.c) ---- */

/* Called with each element of a watched array as soon as the element is read (its bytes still in
 * cache): `path` is the index of the array's key path in the hook's `paths`, `index` the element's
 * position. The element is only borrowed (json_incref to keep it). A non-zero status stops the
 * read; the hook has set the message (mlops__fail). Elements kept compact, or numbers leading a
 * plain array, are not reported: a hook is an early check, never the only one. */
typedef struct mlops__json_hook {
    const char *const *paths; /* NULL-terminated; object keys from the root joined by '/' */
    int (*element)(void *ctx, int path, size_t index, json_t *elem);
    void *ctx;
} mlops__json_hook;

/* The object-key path of the value being read, for matching a hook's paths. Keys of arrays'
 * elements add "[]"; a path longer than the buffer matches nothing. */
typedef struct mlops__key_path {
    char buf[192];
    size_t len;
    int overflow; /* levels pushed past the buffer */
} mlops__key_path;

/* Enter `key` (kn bytes; NULL for an array level). Returns the length to restore with _leave. */
size_t mlops__key_path_enter(mlops__key_path *kp, const char *key, size_t kn);
void mlops__key_path_leave(mlops__key_path *kp, size_t saved);

/* Index of the current path in hook->paths, or -1 (also when hook is NULL). */
int mlops__key_path_watched(const mlops__key_path *kp, const mlops__json_hook *hook);

/* mlops__json_read with `hook` called while reading (NULL: no hook). When the hook stops the
 * read, NULL is returned with err->hook_status set to its status (and err->text to "stopped by a
 * check"); the message is the hook's (mlops_last_error). */
json_t *mlops__json_read_hooked(const char *data, size_t len, int max_depth, const mlops__json_hook *hook,
                                mlops__json_read_error *err);

#endif
