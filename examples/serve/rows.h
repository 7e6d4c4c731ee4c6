/* The fast path of POST /predict bodies: named rows ({"features": {name: value}} or an array of
 * them) parsed in one pass into dense float rows, without jansson and without allocating.
 *
 * It takes only what it can take exactly as mlops_schema_parse_rows() would: plain strings (printable
 * ASCII, no escapes), numbers read exactly as strtod (the library's mlops_schema_parse_csv_f64) and then rounded to float as
 * the library does, values of the right type for their feature. Anything else, malformed or merely
 * unusual (an escape, a nested value beside "features", a duplicate key, a value of the wrong type, a
 * missing feature without default, more rows than the buffer), is declined, and the caller runs
 * mlops_schema_parse_rows(), which gives the answer and the messages. Range checks are not made here:
 * the caller validates the dense rows (mlops_schema_validate()), which is the `validate` stage.
 *
 * Kept apart from the server so that tests drive it directly against the library
 * (tests/examples/serve_rows.c, tests/fuzz/fuzz_serve_rows.c). */
#ifndef MLOPS_SERVE_ROWS_H
#define MLOPS_SERVE_ROWS_H

#include <stddef.h>

#include "mlops/schema.h"

/* What the fast path knows of a schema: per feature its type, null rule, default and categories, and
 * a name table. Immutable once made; shared by any number of threads. */
typedef struct serve_rows serve_rows;

/* Build the plan of `schema`, which must outlive it. 0 and *out, or -1 (out of memory; *out NULL). */
int serve_rows_create(const mlops_schema *schema, serve_rows **out);
/* Release a plan. NULL is a no-op. */
void serve_rows_free(serve_rows *p);

/* Parse `body` (`len` bytes, not NUL-terminated necessarily) into `x`, which holds `cap_rows` rows of
 * the schema's features. 0 with *n_rows set (every row well-typed; not yet range-checked), or -1
 * when the body is not one the fast path takes (x is then scratch; nothing else is written). */
int serve_rows_parse(const serve_rows *p, const char *body, size_t len, float *x, size_t cap_rows,
                     size_t *n_rows);

#endif
