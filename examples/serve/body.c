/* Request bodies and body headers, parsed without the server (see body.h). */
#include "body.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MIN_ROW_BYTES 15 /* strlen("{\"features\":{}}"): no row is shorter */

int serve_body_content_length(const char *value, unsigned long long *n) {
    if (!value || *value < '0' || *value > '9') return -1; /* strtoull would take a sign or spaces */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (*end || errno) return -1;
    *n = v;
    return 0;
}

int serve_body_is_json_type(const char *ctype) {
    static const char want[] = "application/json";
    if (!ctype || strncasecmp(ctype, want, sizeof want - 1) != 0) return 0;
    char next = ctype[sizeof want - 1];
    return next == '\0' || next == ';' || next == ' ';
}

size_t serve_body_row_cap(const char *body, size_t len) {
    size_t braces = 0;
    for (const char *p = body, *end = body + len; p && (p = memchr(p, '{', (size_t)(end - p))); p++)
        braces++;
    size_t cap = braces / 2 + 1, by_len = len / MIN_ROW_BYTES + 1;
    return by_len < cap ? by_len : cap;
}

int serve_body_feedback(const char *body, size_t len, json_t **doc, const char **id, double *label, char *why,
                        size_t why_len) {
    json_error_t err;
    json_t *d = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &err);
    *doc = NULL;
    if (!d) {
        snprintf(why, why_len, "feedback: line %d, column %d: %s", err.line, err.column, err.text);
        return -1;
    }
    json_t *i = json_object_get(d, "id"), *l = json_object_get(d, "label");
    if (!json_is_object(d) || !json_is_string(i) || !(json_is_number(l) || json_is_boolean(l))) {
        snprintf(why, why_len, "feedback: expected {\"id\": string, \"label\": number}");
        json_decref(d);
        return -1;
    }
    *doc = d;
    *id = json_string_value(i);
    *label = json_is_number(l) ? json_number_value(l) : (json_is_true(l) ? 1.0 : 0.0);
    return 0;
}

json_t *serve_body_admin(const char *body, size_t len, char *why, size_t why_len) {
    json_error_t err;
    json_t *in = len ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &err) : json_object();
    if (json_is_object(in)) return in;
    json_decref(in);
    snprintf(why, why_len, "expected a JSON object");
    return NULL;
}

/* An optional number: 0 when absent (*out unchanged) or a number, -1 when another type. */
static int get_number(json_t *doc, const char *key, double *out) {
    json_t *v = json_object_get(doc, key);
    if (!v) return 0;
    if (!json_is_number(v)) return -1;
    *out = json_number_value(v);
    return 0;
}

int serve_body_gate(json_t *in, serve_gate *g, char *why, size_t why_len) {
    *g = (serve_gate){0.0, 0.0, INFINITY};
    if (get_number(in, "min_accuracy", &g->min_accuracy) ||
        get_number(in, "max_logloss_increase", &g->max_increase) ||
        get_number(in, "max_rmse", &g->max_rmse) || !(g->max_increase >= 0)) {
        snprintf(why, why_len,
                 "validate: min_accuracy, max_logloss_increase (>= 0) and max_rmse are numbers");
        return -1;
    }
    return 0;
}

int serve_body_stage(json_t *in, unsigned *version, const char **alias, char *why, size_t why_len) {
    json_t *v = json_object_get(in, "version"), *a = json_object_get(in, "alias");
    int by_version = json_is_integer(v) && json_integer_value(v) > 0 && json_integer_value(v) <= UINT32_MAX;
    if (!by_version && !json_is_string(a)) {
        snprintf(why, why_len, "stage: expected {\"version\": N} or {\"alias\": \"name\"}");
        return -1;
    }
    *version = v ? (unsigned)json_integer_value(v) : 0;
    *alias = json_is_string(a) ? json_string_value(a) : NULL;
    return 0;
}

int serve_body_canary(json_t *in, double *fraction, char *why, size_t why_len) {
    double f = NAN;
    if (get_number(in, "fraction", &f) || !(f >= 0 && f <= 1)) {
        snprintf(why, why_len, "canary: expected {\"fraction\": a number in [0, 1]}");
        return -1;
    }
    *fraction = f;
    return 0;
}

int serve_body_shadow(json_t *in, int *enabled, char *why, size_t why_len) {
    json_t *e = json_object_get(in, "enabled");
    if (!json_is_boolean(e)) {
        snprintf(why, why_len, "shadow: expected {\"enabled\": true or false}");
        return -1;
    }
    *enabled = json_is_true(e);
    return 0;
}
