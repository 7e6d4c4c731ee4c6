/**
 * @file mlops/schema.h
 * @brief Feature schema: typed, ranged features; validation of dense rows and named (JSON) rows.
 *
 * A schema lists the model's input features in model order, each with a type
 * (float, int, bool, categorical), optional inclusive bounds, a nullable flag
 * and an optional default. It is loaded from JSON, derived from a model
 * (names and types only) or inferred from training data, and it checks
 * incoming rows, reporting every violation at once.
 *
 * Schema file format:
 * @code
 * {"features": [
 *   {"name": "mean_radius", "type": "float", "min": 0, "max": 60, "nullable": false},
 *   {"name": "n_visits", "type": "int", "min": 0},
 *   {"name": "plan", "type": "categorical", "categories": ["free", "pro", "team"]},
 *   {"name": "is_member", "type": "bool", "default": false}],
 *  "unknown_features": "reject"}
 * @endcode
 * - "name" (non-empty, unique) and "type" are required; "description" is allowed and ignored.
 * - "min"/"max" are inclusive, finite, min <= max; only for float and int.
 * - "nullable" (default true): a null (JSON) or NaN (dense) value is allowed and
 *   reaches the model as NaN (XGBoost's missing value).
 * - "default": the value used when the feature is absent or null. It must
 *   itself be valid (a listed category, within bounds, integral for int).
 * - "categories": non-empty list of unique strings, required for categorical
 *   and only allowed there. Category k is passed to the model as code k.
 * - "unknown_features": "reject" (default) or "ignore" (named rows only).
 * - Any other key is an error, so that typos do not silently weaken the schema.
 *
 * Rules for a value:
 * - dense rows: NaN is missing (allowed when nullable or defaulted); +-Inf is
 *   never allowed; int values must be integral; bool values 0 or 1;
 *   categorical values are codes 0..n-1.
 * - named rows: a feature absent from the object is "missing" unless it has a
 *   default; null follows "nullable"/"default"; float and int take JSON
 *   numbers, bool takes true/false (or 0/1), categorical takes a listed string.
 *
 * Thread safety: a schema is immutable after creation; every function taking
 * a `const mlops_schema *` may run concurrently on one schema from any number
 * of threads. A report is a plain object owned by one thread at a time: give
 * each thread its own report.
 */
#ifndef MLOPS_SCHEMA_H
#define MLOPS_SCHEMA_H

#include <stddef.h>

#include "mlops/common.h"
#include "mlops/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A feature schema (immutable). */
typedef struct mlops_schema mlops_schema;

/** Violations found by one validation call (reusable; see mlops_schema_report_create()). */
typedef struct mlops_schema_report mlops_schema_report;

/** Type of a feature. */
typedef enum mlops_feature_type {
    MLOPS_FEATURE_TYPE_FLOAT = 0,
    MLOPS_FEATURE_TYPE_INT = 1,        /**< integral values only */
    MLOPS_FEATURE_TYPE_BOOL = 2,       /**< 0 or 1 (false or true) */
    MLOPS_FEATURE_TYPE_CATEGORICAL = 3 /**< listed strings, passed on as codes 0..n-1 */
} mlops_feature_type;

/** What is wrong with one value of one row. */
typedef enum mlops_violation_kind {
    MLOPS_VIOLATION_MISSING = 1,          /**< feature absent from a named row (and no default) */
    MLOPS_VIOLATION_NULL = 2,             /**< null / NaN for a feature that is not nullable */
    MLOPS_VIOLATION_OUT_OF_RANGE = 3,     /**< below min, above max, or too large for float32 */
    MLOPS_VIOLATION_NOT_INTEGER = 4,      /**< fractional value for an int feature */
    MLOPS_VIOLATION_UNKNOWN_CATEGORY = 5, /**< string (or code) not in the category list */
    MLOPS_VIOLATION_UNKNOWN_FEATURE = 6,  /**< name not in the schema (unknown_features: reject) */
    MLOPS_VIOLATION_DUPLICATE = 7,        /**< the same key twice in one named row */
    MLOPS_VIOLATION_WRONG_TYPE = 8,       /**< e.g. a string for a float, 0.5 for a bool */
    MLOPS_VIOLATION_NOT_FINITE = 9        /**< +Inf or -Inf */
} mlops_violation_kind;

/** "float", "int", "bool" or "categorical"; "unknown" for other values. Static. */
MLOPS_API const char *mlops_feature_type_name(mlops_feature_type type);

/** "missing", "null_not_allowed", "out_of_range", "not_integer", "unknown_category",
 *  "unknown_feature", "duplicate_feature", "wrong_type", "not_finite"; "unknown" otherwise. Static. */
MLOPS_API const char *mlops_violation_kind_name(mlops_violation_kind kind);

/* ------------------------------------------------------------------ */
/* Creating a schema                                                   */
/* ------------------------------------------------------------------ */

/**
 * Parse a schema from `len` bytes of JSON text (need not be NUL-terminated).
 * Malformed JSON is MLOPS_EFORMAT with line and column in the message; so is
 * a contradictory schema (min > max, duplicate names, empty or duplicate
 * categories, a default that breaks the feature's own rules, unknown keys).
 * On success `*out` is a new schema to release with mlops_schema_free();
 * on failure `*out` is untouched.
 */
MLOPS_API mlops_status mlops_schema_load_buffer(const char *json, size_t len, mlops_schema **out);

/** Load a schema file (at most 64 MiB); as mlops_schema_load_buffer(), messages name the path. */
MLOPS_API mlops_status mlops_schema_load(const char *path, mlops_schema **out);

/**
 * Derive a schema from a model's feature names and types (no bounds, all
 * nullable, unknown features rejected). XGBoost types map as: "float"/"q" ->
 * float, "int" -> int, "i" (indicator) -> bool, "c" -> categorical with the
 * category strings the model stores (XGBoost 3.x; string k is code k), else
 * int with min 0 (XGBoost before 3.0 stores no strings; put them in a schema file).
 * The model is only read during the call.
 */
MLOPS_API mlops_status mlops_schema_from_model(const mlops_model *model, mlops_schema **out);

/** Layout version of mlops_schema_infer_opts: callers set it in `version` (or pass it to the initialiser). */
#define MLOPS_SCHEMA_INFER_OPTS_VERSION 1u

/** Options for mlops_schema_infer(). */
typedef struct mlops_schema_infer_opts {
    unsigned version;   /**< MLOPS_SCHEMA_INFER_OPTS_VERSION */
    double margin;      /**< widen [min, max] by margin * (max - min) on each side
                             (margin * max(|min|, 1) when max == min); default 0.1; >= 0 */
    int detect_int;     /**< columns whose observed values are all integral become "int"
                             (the widened bounds rounded inward to whole numbers, never
                             inside the observed range: 0/1 stays [0, 1]); default 1 */
    int keep_sign;      /**< a column never observed negative keeps min >= 0; default 1 */
    int nullable;       /**< nullable flag of columns in which no NaN was observed
                             (columns with NaN are always nullable); default 1 */
    int reject_unknown; /**< unknown_features: 1 = "reject" (default), 0 = "ignore" */
} mlops_schema_infer_opts;

/** Initialiser of mlops_schema_infer_opts with the defaults and the current version. */
#define MLOPS_SCHEMA_INFER_OPTS_INIT                                                                         \
    { MLOPS_SCHEMA_INFER_OPTS_VERSION, 0.1, 1, 1, 1, 1 }

/**
 * Fill `opts` with the defaults and stamp `version`, which the caller passes as
 * MLOPS_SCHEMA_INFER_OPTS_VERSION (the layout it was compiled against; a constructor rejects an
 * unknown version with MLOPS_EVERSION). For bindings that cannot expand macros.
 * NULL is a no-op. Thread safety: writes only `*opts`.
 */
MLOPS_API void mlops_schema_infer_opts_init(mlops_schema_infer_opts *opts, unsigned version);

/**
 * Infer a schema from training data: `n_rows` x `n_cols` row-major float32.
 * Each column becomes a float (or int, see opts) feature with the observed
 * finite [min, max] widened by opts->margin; NaN is treated as missing and
 * ignored; +-Inf is MLOPS_EINVAL. A column with no finite value gets no
 * bounds. `names` may be NULL (then "f0", "f1", ...); otherwise n_cols unique
 * non-empty strings. `opts` may be NULL for defaults.
 */
MLOPS_API mlops_status mlops_schema_infer(const float *x, size_t n_rows, size_t n_cols,
                                          const char *const *names, const mlops_schema_infer_opts *opts,
                                          mlops_schema **out);

/** Release a schema. NULL is a no-op. */
MLOPS_API void mlops_schema_free(mlops_schema *schema);

/**
 * Write the schema as JSON text (the file format above, indented). `*out`
 * receives a NUL-terminated string to release with mlops_free(). Parsing the
 * text again gives an equal schema.
 */
MLOPS_API mlops_status mlops_schema_save_buffer(const mlops_schema *schema, char **out);

/** Write the schema to `path` atomically (temporary file, fsync, rename). */
MLOPS_API mlops_status mlops_schema_save(const mlops_schema *schema, const char *path);

/**
 * Check that a schema and a model agree: same number of features, same names
 * in the same order, and a model categorical ("c") feature is categorical or
 * int in the schema. MLOPS_ESHAPE for a count mismatch, MLOPS_EVALIDATION for
 * names, order or types, with every disagreement (up to 20) in the message.
 */
MLOPS_API mlops_status mlops_schema_check_model(const mlops_schema *schema, const mlops_model *model);

/* ------------------------------------------------------------------ */
/* Reading a schema                                                    */
/* ------------------------------------------------------------------ */

/** Number of features. 0 for NULL. */
MLOPS_API size_t mlops_schema_n_features(const mlops_schema *schema);
/** Name of feature `i`; NULL if out of range. Owned by the schema. */
MLOPS_API const char *mlops_schema_feature_name(const mlops_schema *schema, size_t i);
/** Look up the feature called `name`: MLOPS_OK and `*index` set, MLOPS_ENOTFOUND (no message
 * recorded) when absent, MLOPS_EINVAL for a NULL argument; `*index` is untouched on failure. */
MLOPS_API mlops_status mlops_schema_find_feature(const mlops_schema *schema, const char *name, size_t *index);
/** Type of feature `i` (MLOPS_FEATURE_TYPE_FLOAT if out of range). */
MLOPS_API mlops_feature_type mlops_schema_feature_type(const mlops_schema *schema, size_t i);
/** Inclusive lower bound of feature `i`; -INFINITY when unbounded (bool: 0, categorical: 0). */
MLOPS_API double mlops_schema_feature_min(const mlops_schema *schema, size_t i);
/** Inclusive upper bound of feature `i`; +INFINITY when unbounded (bool: 1, categorical: n-1). */
MLOPS_API double mlops_schema_feature_max(const mlops_schema *schema, size_t i);
/** 1 if feature `i` accepts null/NaN, else 0. */
MLOPS_API int mlops_schema_feature_nullable(const mlops_schema *schema, size_t i);
/** Default of feature `i` as the model sees it (category code, 0/1): MLOPS_OK and `*value` set,
 * MLOPS_ENOTFOUND (no message recorded) when it has none, MLOPS_ERANGE when `i` is out of range,
 * MLOPS_EINVAL for a NULL argument; `*value` is untouched on failure. */
MLOPS_API mlops_status mlops_schema_get_feature_default(const mlops_schema *schema, size_t i, double *value);
/** Number of categories of feature `i` (0 unless categorical). */
MLOPS_API size_t mlops_schema_feature_n_categories(const mlops_schema *schema, size_t i);
/** Category `k` of feature `i` (its code is k); NULL if out of range. Owned by the schema. */
MLOPS_API const char *mlops_schema_feature_category(const mlops_schema *schema, size_t i, size_t k);
/** 1 if unknown features in named rows are rejected, 0 if ignored. */
MLOPS_API int mlops_schema_rejects_unknown(const mlops_schema *schema);

/* ------------------------------------------------------------------ */
/* Reports                                                             */
/* ------------------------------------------------------------------ */

/**
 * Create an empty report that records at most `max_violations` violations
 * (0 = default 10000); further ones are counted in mlops_schema_report_n_omitted()
 * but not stored. Row verdicts are never affected by the cap. A report can be
 * reused: each validation call clears it first, and keeps its memory, so a
 * reused report does not allocate while rows are valid.
 */
MLOPS_API mlops_status mlops_schema_report_create(size_t max_violations, mlops_schema_report **out);
/** Release a report. NULL is a no-op. */
MLOPS_API void mlops_schema_report_free(mlops_schema_report *report);
/** Forget all violations (keeps the memory). */
MLOPS_API void mlops_schema_report_clear(mlops_schema_report *report);
/** Rows examined by the last call. */
MLOPS_API size_t mlops_schema_report_n_rows(const mlops_schema_report *report);
/** Rows with at least one violation in the last call. */
MLOPS_API size_t mlops_schema_report_n_invalid(const mlops_schema_report *report);
/** Violations stored (at most max_violations). */
MLOPS_API size_t mlops_schema_report_count(const mlops_schema_report *report);
/** Violations found but not stored because of the cap. */
MLOPS_API size_t mlops_schema_report_n_omitted(const mlops_schema_report *report);
/** Row of violation `i` as a 0-based index into the call's rows (messages say "row N" from 1, so this is
 * N - 1); (size_t)-1 if `i` is out of range. */
MLOPS_API size_t mlops_schema_report_row(const mlops_schema_report *report, size_t i);
/** Schema index of the feature of violation `i`; -1 for unknown features or out of range. */
MLOPS_API long mlops_schema_report_feature(const mlops_schema_report *report, size_t i);
/** Feature name of violation `i` (the row's key for unknown features); NULL if out of range. Owned by the
 * report. */
MLOPS_API const char *mlops_schema_report_feature_name(const mlops_schema_report *report, size_t i);
/** Kind of violation `i`; 0 if out of range. */
MLOPS_API mlops_violation_kind mlops_schema_report_kind(const mlops_schema_report *report, size_t i);
/** Human-readable message of violation `i` ("row 3: feature 'age' (2): 130 is above max 120": data rows
 *  of the call numbered from 1, feature index from 0);
 *  NULL if out of range. Owned by the report, valid until the next call that changes it. */
MLOPS_API const char *mlops_schema_report_message(const mlops_schema_report *report, size_t i);

/* ------------------------------------------------------------------ */
/* Validation                                                          */
/* ------------------------------------------------------------------ */

/**
 * Check `n_rows` dense rows of `n_cols` float32 values (row-major, model
 * order) against the schema. `row_ok` (optional, n_rows bytes) receives 1
 * for a valid row and 0 for an invalid one. `report` (optional) is cleared
 * and receives every violation. No allocation when `report` is NULL or has
 * room. Returns MLOPS_OK when every row is valid, MLOPS_EVALIDATION when at
 * least one is not (row_ok and report are filled in both cases; the last
 * error names the first violation), MLOPS_ESHAPE when n_cols differs from the
 * schema (nothing written), MLOPS_EINVAL for NULL arguments.
 */
MLOPS_API mlops_status mlops_schema_validate(const mlops_schema *schema, const float *x, size_t n_rows,
                                             size_t n_cols, unsigned char *row_ok,
                                             mlops_schema_report *report);

/**
 * Replace NaN by the feature's default, for features that have one, in
 * `n_rows` dense rows of `n_cols` values. MLOPS_ESHAPE when n_cols differs.
 */
MLOPS_API mlops_status mlops_schema_impute(const mlops_schema *schema, float *x, size_t n_rows,
                                           size_t n_cols);

/**
 * Turn named JSON rows into dense float32 rows in schema (model) order.
 * `json` is `{"features": {"name": value, ...}}` or an array of such objects
 * (other keys beside "features" are ignored). `out` must hold
 * rows * n_features floats, `row_ok` (optional) one byte per row; both
 * have room for `out_len / n_features` rows. Invalid values are written as
 * NaN and their rows are marked 0. `*n_rows` (optional) gets the row count.
 *
 * Returns MLOPS_OK when every row is valid, MLOPS_EVALIDATION when at least
 * one is not (outputs filled as for valid rows), MLOPS_EFORMAT for malformed
 * JSON (message with line and column; includes nesting deeper than 2048,
 * numbers that do not fit a double or a 64-bit integer, invalid UTF-8) or an
 * element that is not {"features": {...}}, MLOPS_ESHAPE when the rows do not
 * fit in `out`. On EFORMAT and ESHAPE nothing is written and the report is
 * untouched. A key repeated inside one row is a DUPLICATE violation of that
 * row only. Allocates temporary memory (jansson).
 */
MLOPS_API mlops_status mlops_schema_parse_rows(const mlops_schema *schema, const char *json, size_t len,
                                               float *out, size_t out_len, unsigned char *row_ok,
                                               size_t *n_rows, mlops_schema_report *report);

/**
 * Parse numeric CSV text (rows without a header: a file's body or a chunk of it cut at a
 * line end) into dense row-major values, strictly.
 *
 * Every row has exactly `n_fields` fields (the header's width), separated by ',' and ended
 * by LF or CRLF (the last line may be unterminated); blank lines are skipped. A field may be
 * quoted (RFC 4180; fields hold no newlines). A selected cell is a decimal number
 * (`[+-]digits[.digits][e[+-]digits]`, or `.5`, `5.`), "nan", "inf" or "infinity" (any
 * case, optional sign), spaces and tabs around it ignored; an empty cell is NaN (missing).
 * Values are correctly rounded, bit-equal to strtof (float32) / strtod (float64); a decimal
 * beyond the type's range, hex and anything else are refused. Fields not selected are
 * counted, not parsed.
 *
 * `cols` lists the fields kept (0-based, below n_fields, in output order, a field may
 * repeat) and `n_cols` their count; NULL keeps all n_fields. `out` receives n_cols values
 * per row and has room for `out_len` values: nothing is written past it.
 * `*line` (optional, in and out) is the number of text's first line in messages (NULL or 0:
 * 1) and gets the number of the line after the last one consumed (blank lines counted).
 * `*n_rows` (optional) gets the rows written and `*n_bytes` (optional) the bytes consumed:
 * all of `len` on success, else the offset of the line that stopped the parse (the rows
 * before it are in out; that row's slot may hold part of it; *line is that line's number).
 *
 * Returns MLOPS_OK; MLOPS_EFORMAT for a bad row, the last error naming its line and field
 * ("csv: line 12, field 3: not a number: "abc"", "csv: line 9: 7 fields, the header has
 * 6 (a trailing comma)"); MLOPS_ESHAPE when the rows do not fit in `out_len`; MLOPS_EINVAL
 * for NULL buffers with a length, n_fields 0 or a column out of range. `text` is read only
 * in [text, text + len) and need not be NUL-terminated; the caller owns every buffer.
 * Allocates n_fields + n_cols ints per call when they are more than 64. Thread-safe (no shared
 * state): any number of threads may parse at once, each into its own out.
 */
MLOPS_API mlops_status mlops_schema_parse_csv(const char *text, size_t len, size_t n_fields,
                                              const size_t *cols, size_t n_cols, size_t *line, float *out,
                                              size_t out_len, size_t *n_rows, size_t *n_bytes);

/** mlops_schema_parse_csv() into float64 values, bit-equal to strtod (drift reads float64). */
MLOPS_API mlops_status mlops_schema_parse_csv_f64(const char *text, size_t len, size_t n_fields,
                                                  const size_t *cols, size_t n_cols, size_t *line,
                                                  double *out, size_t out_len, size_t *n_rows,
                                                  size_t *n_bytes);

#ifdef __cplusplus
}
#endif

#endif /* MLOPS_SCHEMA_H */
