/* Validation of dense rows and named JSON rows against a schema; reports. */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "mlops/schema.h"
#include "schema_internal.h"

#define DEFAULT_MAX_VIOLATIONS 10000u
#define MSG_NAME 64 /* feature names are cut to this many bytes inside messages */

/* ---------------- reports ---------------- */

typedef struct rep_entry {
    size_t row;
    long feature;
    mlops_violation_kind kind;
    size_t name_off, msg_off;
} rep_entry;

struct mlops_schema_report {
    size_t max;
    rep_entry *e;
    size_t n, cap;
    char *arena;
    size_t alen, acap;
    size_t n_rows, n_invalid, omitted;
};

mlops_status mlops_schema_report_create(size_t max_violations, mlops_schema_report **out) {
    MLOPS__CHECK_ARG("schema", out);
    mlops_schema_report *r = mlops__calloc(1, sizeof *r);
    if (!r) return mlops__fail(MLOPS_ENOMEM, "report: out of memory");
    r->max = max_violations ? max_violations : DEFAULT_MAX_VIOLATIONS;
    *out = r;
    return MLOPS_OK;
}

void mlops_schema_report_free(mlops_schema_report *r) {
    if (!r) return;
    mlops__free(r->e);
    mlops__free(r->arena);
    mlops__free(r);
}

void mlops_schema_report_clear(mlops_schema_report *r) {
    if (!r) return;
    r->n = r->alen = r->n_rows = r->n_invalid = r->omitted = 0;
}

size_t mlops_schema_report_n_rows(const mlops_schema_report *r) { return r ? r->n_rows : 0; }
size_t mlops_schema_report_n_invalid(const mlops_schema_report *r) { return r ? r->n_invalid : 0; }
size_t mlops_schema_report_count(const mlops_schema_report *r) { return r ? r->n : 0; }
size_t mlops_schema_report_n_omitted(const mlops_schema_report *r) { return r ? r->omitted : 0; }
size_t mlops_schema_report_row(const mlops_schema_report *r, size_t i) {
    return r && i < r->n ? r->e[i].row : (size_t)-1;
}
long mlops_schema_report_feature(const mlops_schema_report *r, size_t i) {
    return r && i < r->n ? r->e[i].feature : -1;
}
const char *mlops_schema_report_feature_name(const mlops_schema_report *r, size_t i) {
    return r && i < r->n ? r->arena + r->e[i].name_off : NULL;
}
mlops_violation_kind mlops_schema_report_kind(const mlops_schema_report *r, size_t i) {
    return r && i < r->n ? r->e[i].kind : (mlops_violation_kind)0;
}
const char *mlops_schema_report_message(const mlops_schema_report *r, size_t i) {
    return r && i < r->n ? r->arena + r->e[i].msg_off : NULL;
}

static int arena_put(mlops_schema_report *r, const char *s, size_t len, size_t *off) {
    if (r->alen + len + 1 > r->acap) {
        size_t cap = r->acap ? r->acap : 1024;
        while (cap < r->alen + len + 1)
            cap *= 2;
        char *a = mlops__realloc(r->arena, cap);
        if (!a) return -1;
        r->arena = a;
        r->acap = cap;
    }
    memcpy(r->arena + r->alen, s, len);
    r->arena[r->alen + len] = '\0';
    *off = r->alen;
    r->alen += len + 1;
    return 0;
}

/* A validation pass: where violations go and the first message for mlops_last_error(). */
typedef struct vctx {
    const mlops_schema *s;
    mlops_schema_report *rep;
    size_t count; /* violations in this call */
    char first[320];
} vctx;

static void add(vctx *c, size_t row, long feat, const char *name, size_t name_len, mlops_violation_kind kind,
                const char *fmt, ...) MLOPS__PRINTF(7, 8);

static void add(vctx *c, size_t row, long feat, const char *name, size_t name_len, mlops_violation_kind kind,
                const char *fmt, ...) {
    c->count++;
    mlops_schema_report *r = c->rep;
    int want_first = c->first[0] == '\0';
    if (!want_first && (!r || r->n >= r->max)) {
        if (r) r->omitted++;
        return;
    }
    char detail[256], msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    int ml;
    int nl = (int)(name_len > MSG_NAME ? MSG_NAME : name_len);
    const char *ell = name_len > MSG_NAME ? "..." : "";
    if (feat >= 0)
        ml = snprintf(msg, sizeof msg, "row %zu: feature '%.*s%s' (%ld): %s", row + 1, nl, name, ell, feat,
                      detail);
    else
        ml = snprintf(msg, sizeof msg, "row %zu: '%.*s%s': %s", row + 1, nl, name, ell, detail);
    if (ml < 0) ml = 0;
    if ((size_t)ml >= sizeof msg) ml = (int)sizeof msg - 1;
    if (want_first) {
        size_t n = (size_t)ml < sizeof c->first - 1 ? (size_t)ml : sizeof c->first - 1;
        memcpy(c->first, msg, n);
        c->first[n] = '\0';
    }
    if (!r) return;
    if (r->n >= r->max) {
        r->omitted++;
        return;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        rep_entry *e = mlops__realloc(r->e, cap * sizeof *e);
        if (!e) {
            r->omitted++;
            return;
        }
        r->e = e;
        r->cap = cap;
    }
    rep_entry *e = &r->e[r->n];
    size_t save = r->alen;
    if (arena_put(r, name, name_len, &e->name_off) || arena_put(r, msg, (size_t)ml, &e->msg_off)) {
        r->alen = save;
        r->omitted++;
        return;
    }
    e->row = row;
    e->feature = feat;
    e->kind = kind;
    r->n++;
}

/* ---------------- dense rows ---------------- */

/* Classify value v of feature i (dense semantics); returns 1 if it is a violation. */
static int check_value(vctx *c, size_t row, size_t i, float v) {
    const mlops_schema *s = c->s;
    const mlops__feature *f = &s->f[i];
    double d = v;
    if (isnan(v)) {
        if (s->nan_ok[i]) return 0;
        add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_NULL,
            "missing value (NaN) but not nullable");
        return 1;
    }
    if (isinf(v)) {
        add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_NOT_FINITE, "%s is not finite",
            v > 0 ? "+Inf" : "-Inf");
        return 1;
    }
    switch (f->type) {
    case MLOPS_FEATURE_TYPE_BOOL:
        if (d != 0 && d != 1) {
            add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_WRONG_TYPE,
                "bool value must be 0 or 1, got %.9g", d);
            return 1;
        }
        return 0;
    case MLOPS_FEATURE_TYPE_CATEGORICAL:
        if (d != floor(d) || d < 0 || d >= (double)f->n_cats) {
            add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_UNKNOWN_CATEGORY,
                "%.9g is not a category code (0..%zu)", d, f->n_cats - 1);
            return 1;
        }
        return 0;
    case MLOPS_FEATURE_TYPE_INT:
        if (d != floor(d)) {
            add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_NOT_INTEGER, "%.9g is not an integer",
                d);
            return 1;
        }
        /* fall through */
    case MLOPS_FEATURE_TYPE_FLOAT:
        if (d < s->lo[i]) {
            add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_OUT_OF_RANGE, "%.9g is below min %.9g",
                d, f->min);
            return 1;
        }
        if (d > s->hi[i]) {
            add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_OUT_OF_RANGE, "%.9g is above max %.9g",
                d, f->max);
            return 1;
        }
        return 0;
    }
    return 0;
}

/* 1 if the row passes the precomputed checks. No branches taken on valid rows but the loop. */
static inline int row_fast_ok(const mlops_schema *s, const float *row) {
    const double *lo = s->lo, *hi = s->hi;
    const unsigned char *integral = s->integral, *nan_ok = s->nan_ok;
    for (size_t i = 0, n = s->n; i < n; i++) {
        float v = row[i];
        double d = v;
        if (!(d >= lo[i] && d <= hi[i])) {
            if (v != v && nan_ok[i]) continue;
            return 0;
        }
        /* every float32 with |v| >= 2^23 is integral */
        if (integral[i] && fabsf(v) < 8388608.0f && (float)(int32_t)v != v) return 0;
    }
    return 1;
}

static mlops_status finish(vctx *c, size_t n_rows, size_t n_invalid) {
    if (c->rep) {
        c->rep->n_rows = n_rows;
        c->rep->n_invalid = n_invalid;
    }
    if (n_invalid == 0) return MLOPS_OK;
    return mlops__fail(MLOPS_EVALIDATION, "schema: %zu of %zu row%s invalid (%zu violation%s); first: %s",
                       n_invalid, n_rows, n_rows == 1 ? "" : "s", c->count, c->count == 1 ? "" : "s",
                       c->first);
}

mlops_status mlops_schema_validate(const mlops_schema *s, const float *x, size_t n_rows, size_t n_cols,
                                   unsigned char *row_ok, mlops_schema_report *report) {
    MLOPS__CHECK_ARG("schema", s);
    MLOPS__CHECK_BUF("schema", x, n_rows);
    if (n_cols != s->n)
        return mlops__fail(MLOPS_ESHAPE, "schema validate: rows have %zu values, the schema has %zu features",
                           n_cols, s->n);
    vctx c = {s, report, 0, {0}};
    if (report) mlops_schema_report_clear(report);
    size_t n_invalid = 0;
    for (size_t r = 0; r < n_rows; r++) {
        const float *row = x + r * n_cols;
        int ok = row_fast_ok(s, row);
        if (!ok) {
            size_t bad = 0;
            for (size_t i = 0; i < n_cols; i++)
                bad += (size_t)check_value(&c, r, i, row[i]);
            ok = bad == 0;
        }
        if (row_ok) row_ok[r] = (unsigned char)ok;
        n_invalid += !ok;
    }
    return finish(&c, n_rows, n_invalid);
}

mlops_status mlops_schema_impute(const mlops_schema *s, float *x, size_t n_rows, size_t n_cols) {
    MLOPS__CHECK_ARG("schema", s);
    MLOPS__CHECK_BUF("schema", x, n_rows);
    if (n_cols != s->n)
        return mlops__fail(MLOPS_ESHAPE, "schema impute: rows have %zu values, the schema has %zu features",
                           n_cols, s->n);
    for (size_t i = 0; i < n_cols; i++) {
        if (!s->f[i].has_default) continue;
        float d = (float)s->f[i].def;
        for (size_t r = 0; r < n_rows; r++)
            if (isnan(x[r * n_cols + i])) x[r * n_cols + i] = d;
    }
    return MLOPS_OK;
}

/* ---------------- named rows ---------------- */

static void line_col(const char *json, size_t off, int *line, int *col) {
    int l = 1, c = 0;
    for (size_t i = 0; i < off; i++) {
        if (json[i] == '\n') {
            l++;
            c = 0;
        } else {
            c++;
        }
    }
    *line = l;
    *col = c + 1;
}

static const char *json_kind(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

/* Convert one named value of feature i to the model's float; 1 = violation. */
static int convert_value(vctx *c, size_t row, size_t i, json_t *v, float *dst) {
    const mlops_schema *s = c->s;
    const mlops__feature *f = &s->f[i];
    *dst = NAN;
    if (json_is_null(v)) {
        if (f->has_default) {
            *dst = (float)f->def;
            return 0;
        }
        if (f->nullable) return 0;
        add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_NULL, "null but not nullable");
        return 1;
    }
    switch (f->type) {
    case MLOPS_FEATURE_TYPE_CATEGORICAL: {
        if (!json_is_string(v)) {
            add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_WRONG_TYPE,
                "expected a category string, got %s", json_kind(v));
            return 1;
        }
        const char *str = json_string_value(v);
        size_t len = json_string_length(v);
        long k = mlops__strmap_find(&f->catmap, f->cats, f->cat_lens, str, len);
        if (k < 0) {
            int show = (int)(len > MSG_NAME ? MSG_NAME : len);
            add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_UNKNOWN_CATEGORY,
                "'%.*s%s' is not one of the %zu categories ('%.40s'%s)", show, str,
                len > MSG_NAME ? "..." : "", f->n_cats, f->cats[0], f->n_cats > 1 ? ", ..." : "");
            return 1;
        }
        *dst = (float)k;
        return 0;
    }
    case MLOPS_FEATURE_TYPE_BOOL:
        if (json_is_boolean(v)) {
            *dst = json_is_true(v) ? 1.0f : 0.0f;
            return 0;
        }
        if (json_is_number(v) && (json_number_value(v) == 0 || json_number_value(v) == 1)) {
            *dst = (float)json_number_value(v);
            return 0;
        }
        if (json_is_number(v))
            add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_WRONG_TYPE,
                "expected true or false, got %.17g", json_number_value(v));
        else
            add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_WRONG_TYPE,
                "expected true or false, got %s", json_kind(v));
        return 1;
    case MLOPS_FEATURE_TYPE_FLOAT:
    case MLOPS_FEATURE_TYPE_INT: {
        if (!json_is_number(v)) {
            add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_WRONG_TYPE,
                "expected a number, got %s", json_kind(v));
            return 1;
        }
        double d = json_number_value(v);
        if (f->type == MLOPS_FEATURE_TYPE_INT && d != floor(d)) {
            add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_NOT_INTEGER, "%.17g is not an integer",
                d);
            return 1;
        }
        if (fabs(d) > FLT_MAX) {
            add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_OUT_OF_RANGE,
                "%.17g does not fit in float32", d);
            return 1;
        }
        float fv = (float)d;
        if (check_value(c, row, i, fv)) return 1;
        *dst = fv;
        return 0;
    }
    }
    return 1;
}

/* One named row: `el` must be {"features": {...}}. Returns 1 if the row is valid. */
static int convert_row(vctx *c, size_t row, json_t *feats, float *out, unsigned char *seen,
                       const char *dup_key) {
    const mlops_schema *s = c->s;
    size_t bad = 0;
    memset(seen, 0, s->n);
    if (dup_key) {
        size_t dl = strlen(dup_key);
        long i = mlops__strmap_find(&s->names, s->name_ptrs, s->name_lens, dup_key, dl);
        add(c, row, i, dup_key, dl, MLOPS_VIOLATION_DUPLICATE, "key appears more than once in the row");
        bad++;
    }
    const char *key;
    json_t *v;
    json_object_foreach(feats, key, v) {
        size_t kl = strlen(key);
        long i = mlops__strmap_find(&s->names, s->name_ptrs, s->name_lens, key, kl);
        if (i < 0) {
            if (s->reject_unknown) {
                add(c, row, -1, key, kl, MLOPS_VIOLATION_UNKNOWN_FEATURE,
                    "unknown feature (not in the schema)");
                bad++;
            }
            continue;
        }
        seen[i] = 1;
        bad += (size_t)convert_value(c, row, (size_t)i, v, &out[i]);
    }
    for (size_t i = 0; i < s->n; i++) {
        if (seen[i]) continue;
        const mlops__feature *f = &s->f[i];
        if (f->has_default) {
            out[i] = (float)f->def;
        } else {
            out[i] = NAN;
            add(c, row, (long)i, f->name, f->name_len, MLOPS_VIOLATION_MISSING, "missing from the row");
            bad++;
        }
    }
    return bad == 0;
}

/* Parsed elements before anything is written. */
typedef struct parsed {
    json_t **rows; /* the "features" objects' parents (owned) */
    char **dups;   /* duplicate key per row or NULL (owned) */
    size_t n, cap;
} parsed;

static void parsed_free(parsed *p) {
    for (size_t i = 0; i < p->n; i++) {
        json_decref(p->rows[i]);
        mlops__free(p->dups[i]);
    }
    mlops__free(p->rows);
    mlops__free(p->dups);
}

static size_t skip_ws(const char *s, size_t len, size_t i) {
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Extract the key from jansson's "duplicate object key near '\"k\"'" message. */
static char *dup_key_from(const json_error_t *e) {
    const char *p = strstr(e->text, "near '\"");
    if (!p) return mlops__strdup("?");
    p += 7;
    const char *q = strrchr(p, '\'');
    size_t n = q && q > p ? (size_t)(q - p) : strlen(p);
    if (n && p[n - 1] == '"') n--;
    char *k = mlops__malloc(n + 1);
    if (k) {
        memcpy(k, p, n);
        k[n] = '\0';
    }
    return k;
}

/* Parse one element starting at json+start; on success *end is one past it. */
static mlops_status parse_one(const char *json, size_t len, size_t start, size_t idx, parsed *p,
                              size_t *end) {
    json_error_t err;
    size_t flags = JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK;
    json_t *el = json_loadb(json + start, len - start, flags, &err);
    char *dup = NULL;
    if (!el && json_error_code(&err) == json_error_duplicate_key) {
        dup = dup_key_from(&err);
        if (!dup) return mlops__fail(MLOPS_ENOMEM, "rows: out of memory");
        el = json_loadb(json + start, len - start, JSON_DISABLE_EOF_CHECK, &err);
    }
    if (!el) {
        mlops__free(dup);
        int line, col;
        size_t off = start + (err.position > 0 ? (size_t)err.position : 0);
        if (off > len) off = len;
        line_col(json, off, &line, &col);
        return mlops__fail(MLOPS_EFORMAT, "rows: malformed JSON in row %zu at line %d column %d: %s", idx + 1,
                           line, col, err.text);
    }
    size_t consumed = (size_t)err.position;
    json_t *feats = json_is_object(el) ? json_object_get(el, "features") : NULL;
    if (!json_is_object(feats)) {
        json_decref(el);
        mlops__free(dup);
        int line, col;
        line_col(json, start, &line, &col);
        return mlops__fail(MLOPS_EFORMAT, "rows: row %zu (line %d column %d) is not {\"features\": {...}}",
                           idx + 1, line, col);
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        json_t **r = mlops__realloc(p->rows, cap * sizeof *r);
        if (r) p->rows = r;
        char **d = r ? mlops__realloc(p->dups, cap * sizeof *d) : NULL;
        if (d) p->dups = d;
        if (!r || !d) {
            json_decref(el);
            mlops__free(dup);
            return mlops__fail(MLOPS_ENOMEM, "rows: out of memory for %zu rows", cap);
        }
        p->cap = cap;
    }
    p->rows[p->n] = el;
    p->dups[p->n] = dup;
    p->n++;
    *end = start + consumed;
    return MLOPS_OK;
}

static mlops_status parse_all(const char *json, size_t len, parsed *p) {
    size_t i = skip_ws(json, len, 0);
    if (i == len) return mlops__fail(MLOPS_EFORMAT, "rows: empty input");
    if (json[i] == '{') {
        size_t end;
        mlops_status st = parse_one(json, len, i, 0, p, &end);
        if (st != MLOPS_OK) return st;
        end = skip_ws(json, len, end);
        if (end != len) {
            int line, col;
            line_col(json, end, &line, &col);
            return mlops__fail(MLOPS_EFORMAT, "rows: unexpected text after the row at line %d column %d",
                               line, col);
        }
        return MLOPS_OK;
    }
    if (json[i] != '[') {
        int line, col;
        line_col(json, i, &line, &col);
        return mlops__fail(MLOPS_EFORMAT,
                           "rows: line %d column %d: expected {\"features\": {...}} or an array of them",
                           line, col);
    }
    i = skip_ws(json, len, i + 1);
    if (i < len && json[i] == ']') {
        i = skip_ws(json, len, i + 1);
    } else {
        for (;;) {
            if (i < len && json[i] != '{') {
                int line, col;
                line_col(json, i, &line, &col);
                return mlops__fail(MLOPS_EFORMAT,
                                   "rows: row %zu (line %d column %d) is not {\"features\": {...}}", p->n + 1,
                                   line, col);
            }
            size_t end;
            mlops_status st = parse_one(json, len, i, p->n, p, &end);
            if (st != MLOPS_OK) return st;
            i = skip_ws(json, len, end);
            if (i < len && json[i] == ',') {
                i = skip_ws(json, len, i + 1);
                continue;
            }
            if (i < len && json[i] == ']') {
                i = skip_ws(json, len, i + 1);
                break;
            }
            int line, col;
            line_col(json, i, &line, &col);
            return mlops__fail(MLOPS_EFORMAT, "rows: line %d column %d: expected ',' or ']' after row %zu",
                               line, col, p->n);
        }
    }
    if (i != len) {
        int line, col;
        line_col(json, i, &line, &col);
        return mlops__fail(MLOPS_EFORMAT, "rows: unexpected text after the array at line %d column %d", line,
                           col);
    }
    return MLOPS_OK;
}

mlops_status mlops_schema_parse_rows(const mlops_schema *s, const char *json, size_t len, float *out,
                                     size_t out_len, unsigned char *row_ok, size_t *n_rows,
                                     mlops_schema_report *report) {
    MLOPS__CHECK_ARG("schema", s);
    MLOPS__CHECK_ARG("schema", json);
    MLOPS__CHECK_BUF("schema", out, out_len);
    parsed p = {0};
    mlops_status st = parse_all(json, len, &p);
    if (st == MLOPS_OK && p.n > out_len / s->n)
        st = mlops__fail(MLOPS_ESHAPE, "rows: %zu rows of %zu features need %zu floats, the buffer holds %zu",
                         p.n, s->n, p.n * s->n, out_len);
    unsigned char *seen = NULL;
    if (st == MLOPS_OK) {
        seen = mlops__malloc(s->n);
        if (!seen) st = mlops__fail(MLOPS_ENOMEM, "rows: out of memory");
    }
    if (st != MLOPS_OK) {
        parsed_free(&p);
        return st;
    }
    vctx c = {s, report, 0, {0}};
    if (report) mlops_schema_report_clear(report);
    size_t n_invalid = 0;
    for (size_t r = 0; r < p.n; r++) {
        int ok = convert_row(&c, r, json_object_get(p.rows[r], "features"), out + r * s->n, seen, p.dups[r]);
        if (row_ok) row_ok[r] = (unsigned char)ok;
        n_invalid += !ok;
    }
    mlops__free(seen);
    size_t n = p.n;
    parsed_free(&p);
    if (n_rows) *n_rows = n;
    return finish(&c, n, n_invalid);
}
