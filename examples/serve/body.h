/* Request bodies and body headers of mlops-serve, parsed without the server: pure functions over
 * bytes (jansson only), so that tests/fuzz/fuzz_serve_body.c can drive them directly. */
#ifndef MLOPS_SERVE_BODY_H
#define MLOPS_SERVE_BODY_H

#include <jansson.h>
#include <stddef.h>

#define SERVE_MAX_ID_BYTES 1024 /* the monitor's limit for request ids */

/* A Content-Length value: digits only, no sign, fits in unsigned long long. 0 and *n on success. */
int serve_body_content_length(const char *value, unsigned long long *n);

/* 1 when a Content-Type is application/json (any case, optionally followed by parameters). */
int serve_body_is_json_type(const char *ctype);

/* POST /predict: an upper bound of the rows in a body (each row {"features": {...}} has two '{' and
 * at least 15 bytes), so the row buffers are proportional to the body. At least 1. */
size_t serve_body_row_cap(const char *body, size_t len);

/* POST /feedback: {"id": string, "label": number or boolean}. On success 0, *doc owns the parsed
 * document (json_decref it), *id points into it and *label is the label (true 1, false 0).
 * Otherwise -1 with `why` set and *doc NULL. */
int serve_body_feedback(const char *body, size_t len, json_t **doc, const char **id, double *label, char *why,
                        size_t why_len);

/* An admin body: a JSON object (an empty body is {}). NULL with `why` set otherwise. */
json_t *serve_body_admin(const char *body, size_t len, char *why, size_t why_len);

typedef struct serve_gate {
    double min_accuracy; /* binary: the candidate's accuracy on the gate data at least this */
    double max_increase; /* log loss (binary) or RMSE (regression) no worse than live's + this */
    double max_rmse;     /* regression: the candidate's RMSE at most this */
} serve_gate;

/* POST /admin/validate: {"min_accuracy", "max_logloss_increase" (>= 0), "max_rmse"}, each optional
 * (defaults 0, 0, infinity). 0 on success, -1 with `why`. */
int serve_body_gate(json_t *in, serve_gate *g, char *why, size_t why_len);

/* POST /admin/stage: {"version": 1..2^32-1} or {"alias": string}. 0 on success with *version
 * (0 when by alias) and *alias (NULL when by version, else pointing into `in`); -1 with `why`. */
int serve_body_stage(json_t *in, unsigned *version, const char **alias, char *why, size_t why_len);

/* POST /admin/canary: {"fraction": a number in [0, 1]}. 0 and *fraction, or -1 with `why`. */
int serve_body_canary(json_t *in, double *fraction, char *why, size_t why_len);

/* POST /admin/shadow: {"enabled": boolean}. 0 and *enabled (0/1), or -1 with `why`. */
int serve_body_shadow(json_t *in, int *enabled, char *why, size_t why_len);

#endif
