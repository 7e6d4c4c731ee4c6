/* Feature schema: parsing, building, inference, JSON output, model checks. */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "mlops/schema.h"
#include "schema_internal.h"

#define MAX_SCHEMA_FILE (64u << 20)

/* ---------------- string map ---------------- */

uint32_t mlops__strhash(const char *s, size_t len) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

mlops_status mlops__strmap_build(mlops__strmap *m, char *const *keys, const size_t *lens, size_t n) {
    size_t cap = 8;
    while (cap < 2 * n)
        cap *= 2;
    m->slots = mlops__calloc(cap, sizeof *m->slots);
    m->hashes = mlops__calloc(cap, sizeof *m->hashes);
    if (!m->slots || !m->hashes) {
        mlops__strmap_free(m);
        return mlops__fail(MLOPS_ENOMEM, "schema: out of memory for a name table of %zu entries", n);
    }
    m->mask = cap - 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t h = mlops__strhash(keys[i], lens[i]);
        size_t j = h & m->mask;
        while (m->slots[j])
            j = (j + 1) & m->mask;
        m->slots[j] = (uint32_t)(i + 1);
        m->hashes[j] = h;
    }
    return MLOPS_OK;
}

void mlops__strmap_free(mlops__strmap *m) {
    mlops__free(m->slots);
    mlops__free(m->hashes);
    m->slots = NULL;
    m->hashes = NULL;
}

long mlops__strmap_find(const mlops__strmap *m, char *const *keys, const size_t *lens, const char *key,
                        size_t len) {
    if (!m->slots) return -1;
    uint32_t h = mlops__strhash(key, len);
    for (size_t j = h & m->mask;; j = (j + 1) & m->mask) {
        uint32_t s = m->slots[j];
        if (!s) return -1;
        if (m->hashes[j] == h && lens[s - 1] == len && memcmp(keys[s - 1], key, len) == 0)
            return (long)(s - 1);
    }
}

/* ---------------- names ---------------- */

const char *mlops_feature_type_name(mlops_feature_type type) {
    switch (type) {
    case MLOPS_FEATURE_TYPE_FLOAT:
        return "float";
    case MLOPS_FEATURE_TYPE_INT:
        return "int";
    case MLOPS_FEATURE_TYPE_BOOL:
        return "bool";
    case MLOPS_FEATURE_TYPE_CATEGORICAL:
        return "categorical";
    }
    return "unknown";
}

const char *mlops_violation_kind_name(mlops_violation_kind kind) {
    switch (kind) {
    case MLOPS_VIOLATION_MISSING:
        return "missing";
    case MLOPS_VIOLATION_NULL:
        return "null_not_allowed";
    case MLOPS_VIOLATION_OUT_OF_RANGE:
        return "out_of_range";
    case MLOPS_VIOLATION_NOT_INTEGER:
        return "not_integer";
    case MLOPS_VIOLATION_UNKNOWN_CATEGORY:
        return "unknown_category";
    case MLOPS_VIOLATION_UNKNOWN_FEATURE:
        return "unknown_feature";
    case MLOPS_VIOLATION_DUPLICATE:
        return "duplicate_feature";
    case MLOPS_VIOLATION_WRONG_TYPE:
        return "wrong_type";
    case MLOPS_VIOLATION_NOT_FINITE:
        return "not_finite";
    }
    return "unknown";
}

/* ---------------- lifetime ---------------- */

static void feature_clear(mlops__feature *f) {
    mlops__free(f->name);
    for (size_t k = 0; k < f->n_cats; k++)
        mlops__free(f->cats[k]);
    mlops__free(f->cats);
    mlops__free(f->cat_lens);
    mlops__strmap_free(&f->catmap);
}

void mlops_schema_free(mlops_schema *s) {
    if (!s) return;
    for (size_t i = 0; s->f && i < s->n; i++) /* f is NULL when mlops__schema_alloc failed */
        feature_clear(&s->f[i]);
    mlops__free(s->f);
    mlops__strmap_free(&s->names);
    mlops__free(s->name_ptrs);
    mlops__free(s->name_lens);
    mlops__free(s->lo);
    mlops__free(s->hi);
    mlops__free(s->integral);
    mlops__free(s->nan_ok);
    mlops__free(s);
}

mlops_schema *mlops__schema_alloc(size_t n) {
    mlops_schema *s = mlops__calloc(1, sizeof *s);
    if (!s) return NULL;
    s->n = n;
    s->reject_unknown = 1;
    s->f = mlops__calloc(n, sizeof *s->f);
    s->name_ptrs = mlops__calloc(n, sizeof *s->name_ptrs);
    s->name_lens = mlops__calloc(n, sizeof *s->name_lens);
    s->lo = mlops__calloc(n, sizeof *s->lo);
    s->hi = mlops__calloc(n, sizeof *s->hi);
    s->integral = mlops__calloc(n, 1);
    s->nan_ok = mlops__calloc(n, 1);
    if (!s->f || !s->name_ptrs || !s->name_lens || !s->lo || !s->hi || !s->integral || !s->nan_ok) {
        mlops_schema_free(s);
        return NULL;
    }
    return s;
}

/* Nearest float32 of a bound, as a double; +-DBL_MAX when absent so that +-Inf fails. */
static double f32_bound(double v) {
    if (v > FLT_MAX) return FLT_MAX;
    if (v < -FLT_MAX) return -FLT_MAX;
    return (double)(float)v;
}

/* After all features are filled: name table, duplicate check, dense checks. */
mlops_status mlops__schema_finish(mlops_schema *s, const char *ctx) {
    for (size_t i = 0; i < s->n; i++) {
        s->name_ptrs[i] = s->f[i].name;
        s->name_lens[i] = s->f[i].name_len;
    }
    mlops_status st = mlops__strmap_build(&s->names, s->name_ptrs, s->name_lens, s->n);
    if (st != MLOPS_OK) return st;
    for (size_t i = 0; i < s->n; i++) {
        long j = mlops__strmap_find(&s->names, s->name_ptrs, s->name_lens, s->f[i].name, s->f[i].name_len);
        if (j != (long)i)
            return mlops__fail(MLOPS_EFORMAT, "%s: duplicate feature name '%.200s' (features %ld and %zu)",
                               ctx, s->f[i].name, j, i);
    }
    for (size_t i = 0; i < s->n; i++) {
        mlops__feature *f = &s->f[i];
        switch (f->type) {
        case MLOPS_FEATURE_TYPE_FLOAT:
        case MLOPS_FEATURE_TYPE_INT:
            s->lo[i] = f->has_min ? f32_bound(f->min) : -DBL_MAX;
            s->hi[i] = f->has_max ? f32_bound(f->max) : DBL_MAX;
            s->integral[i] = f->type == MLOPS_FEATURE_TYPE_INT;
            break;
        case MLOPS_FEATURE_TYPE_BOOL:
            s->lo[i] = 0;
            s->hi[i] = 1;
            s->integral[i] = 1;
            break;
        case MLOPS_FEATURE_TYPE_CATEGORICAL:
            s->lo[i] = 0;
            s->hi[i] = (double)f->n_cats - 1;
            s->integral[i] = 1;
            st = mlops__strmap_build(&f->catmap, f->cats, f->cat_lens, f->n_cats);
            if (st != MLOPS_OK) return st;
            for (size_t k = 0; k < f->n_cats; k++) {
                long j = mlops__strmap_find(&f->catmap, f->cats, f->cat_lens, f->cats[k], f->cat_lens[k]);
                if (j != (long)k)
                    return mlops__fail(MLOPS_EFORMAT,
                                       "%s: feature %zu ('%.200s'): duplicate category '%.200s'", ctx, i,
                                       f->name, f->cats[k]);
            }
            break;
        }
        s->nan_ok[i] = (unsigned char)(f->nullable || f->has_default);
    }
    return MLOPS_OK;
}

/* ---------------- parsing ---------------- */

static int is_integral(double v) { return isfinite(v) && v == floor(v); }

/* One feature being parsed: every error names it with the same prefix. */
typedef struct feat_ctx {
    json_t *jf;
    mlops__feature *f;
    const char *ctx;
    char at[1024]; /* "<ctx>: feature <i> ('<name>'): ", as long as a whole message may be */
} feat_ctx;

#define FEAT_KEYS "name, type, min, max, nullable, default, categories, description"

static mlops_status parse_name(json_t *jf, size_t i, const char *ctx, const char **name, size_t *nlen) {
    json_t *jname = json_object_get(jf, "name");
    MLOPS__FAIL_IF(!json_is_string(jname) || json_string_length(jname) == 0, MLOPS_EFORMAT,
                   "%s: feature %zu: \"name\" must be a non-empty string", ctx, i);
    *nlen = json_string_length(jname);
    *name = json_string_value(jname);
    MLOPS__FAIL_IF(*nlen > MLOPS__SCHEMA_MAX_NAME, MLOPS_EFORMAT,
                   "%s: feature %zu: name is %zu bytes long, the limit is %u", ctx, i, *nlen,
                   MLOPS__SCHEMA_MAX_NAME);
    MLOPS__FAIL_IF(memchr(*name, '\0', *nlen), MLOPS_EFORMAT,
                   "%s: feature %zu: name contains a NUL character", ctx, i);
    return MLOPS_OK;
}

static mlops_status parse_keys(const feat_ctx *c) {
    const char *key;
    json_t *v;
    json_object_foreach(c->jf, key, v) {
        if (strcmp(key, "name") && strcmp(key, "type") && strcmp(key, "min") && strcmp(key, "max") &&
            strcmp(key, "nullable") && strcmp(key, "default") && strcmp(key, "categories") &&
            strcmp(key, "description"))
            return mlops__fail_at(MLOPS_EFORMAT, c->at, "unknown key '%.200s' (expected " FEAT_KEYS ")", key);
    }
    return MLOPS_OK;
}

static mlops_status parse_type(feat_ctx *c) {
    static const struct {
        const char *name;
        mlops_feature_type type;
    } types[] = {{"float", MLOPS_FEATURE_TYPE_FLOAT},
                 {"int", MLOPS_FEATURE_TYPE_INT},
                 {"bool", MLOPS_FEATURE_TYPE_BOOL},
                 {"categorical", MLOPS_FEATURE_TYPE_CATEGORICAL}};
    json_t *jtype = json_object_get(c->jf, "type");
    if (!json_is_string(jtype))
        return mlops__fail_at(MLOPS_EFORMAT, c->at,
                              "\"type\" must be one of \"float\", \"int\", \"bool\", \"categorical\"");
    const char *t = json_string_value(jtype);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        if (!strcmp(t, types[k].name)) {
            c->f->type = types[k].type;
            return MLOPS_OK;
        }
    }
    return mlops__fail_at(MLOPS_EFORMAT, c->at,
                          "unknown type '%.100s' (expected float, int, bool or categorical)", t);
}

static mlops_status parse_bound(const feat_ctx *c, const char *key, int *has, double *value) {
    json_t *j = json_object_get(c->jf, key);
    if (!j) return MLOPS_OK;
    if (!json_is_number(j)) return mlops__fail_at(MLOPS_EFORMAT, c->at, "\"%s\" must be a number", key);
    *has = 1;
    *value = json_number_value(j);
    return MLOPS_OK;
}

static mlops_status parse_bounds(const feat_ctx *c) {
    mlops__feature *f = c->f;
    int numeric = f->type == MLOPS_FEATURE_TYPE_FLOAT || f->type == MLOPS_FEATURE_TYPE_INT;
    if ((json_object_get(c->jf, "min") || json_object_get(c->jf, "max")) && !numeric)
        return mlops__fail_at(MLOPS_EFORMAT, c->at, "min/max are only allowed for float and int features");
    MLOPS__TRY(parse_bound(c, "min", &f->has_min, &f->min));
    MLOPS__TRY(parse_bound(c, "max", &f->has_max, &f->max));
    if (f->has_min && f->has_max && f->min > f->max)
        return mlops__fail_at(MLOPS_EFORMAT, c->at, "min %.17g is greater than max %.17g", f->min, f->max);
    if (f->type == MLOPS_FEATURE_TYPE_INT && f->has_min && f->has_max && ceil(f->min) > floor(f->max))
        return mlops__fail_at(MLOPS_EFORMAT, c->at, "no integer lies in [%.17g, %.17g]", f->min, f->max);
    if ((f->has_min && fabs(f->min) > FLT_MAX) || (f->has_max && fabs(f->max) > FLT_MAX))
        return mlops__fail_at(MLOPS_EFORMAT, c->at, "min/max must fit in float32 (|x| <= %g)", FLT_MAX);
    return MLOPS_OK;
}

static mlops_status parse_nullable(const feat_ctx *c) {
    c->f->nullable = 1;
    json_t *jn = json_object_get(c->jf, "nullable");
    if (!jn) return MLOPS_OK;
    if (!json_is_boolean(jn))
        return mlops__fail_at(MLOPS_EFORMAT, c->at, "\"nullable\" must be true or false");
    c->f->nullable = json_is_true(jn);
    return MLOPS_OK;
}

static mlops_status parse_categories(const feat_ctx *c) {
    mlops__feature *f = c->f;
    json_t *jc = json_object_get(c->jf, "categories");
    if (f->type != MLOPS_FEATURE_TYPE_CATEGORICAL) {
        if (!jc) return MLOPS_OK;
        return mlops__fail_at(MLOPS_EFORMAT, c->at,
                              "\"categories\" is only allowed for categorical features");
    }
    if (!json_is_array(jc) || json_array_size(jc) == 0)
        return mlops__fail_at(MLOPS_EFORMAT, c->at,
                              "a categorical feature needs a non-empty \"categories\" array");
    size_t nc = json_array_size(jc);
    if (nc > MLOPS__SCHEMA_MAX_CATEGORIES)
        return mlops__fail_at(MLOPS_ELIMIT, c->at, "%zu categories, the limit is %u", nc,
                              MLOPS__SCHEMA_MAX_CATEGORIES);
    f->cats = mlops__calloc(nc, sizeof *f->cats);
    f->cat_lens = mlops__calloc(nc, sizeof *f->cat_lens);
    if (!f->cats || !f->cat_lens) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", c->ctx);
    for (size_t k = 0; k < nc; k++) {
        json_t *jk = json_array_get(jc, k);
        if (!json_is_string(jk) || json_string_length(jk) == 0 ||
            memchr(json_string_value(jk), '\0', json_string_length(jk)))
            return mlops__fail_at(MLOPS_EFORMAT, c->at, "category %zu must be a non-empty string", k);
        f->cats[k] = mlops__strdup(json_string_value(jk));
        if (!f->cats[k]) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", c->ctx);
        f->cat_lens[k] = json_string_length(jk);
        f->n_cats = k + 1;
    }
    return MLOPS_OK;
}

static mlops_status default_number(const feat_ctx *c, json_t *jd) {
    mlops__feature *f = c->f;
    if (!json_is_number(jd)) return mlops__fail_at(MLOPS_EFORMAT, c->at, "\"default\" must be a number");
    f->def = json_number_value(jd);
    if (fabs(f->def) > FLT_MAX)
        return mlops__fail_at(MLOPS_EFORMAT, c->at, "default %.17g does not fit in float32", f->def);
    if (f->type == MLOPS_FEATURE_TYPE_INT && !is_integral(f->def))
        return mlops__fail_at(MLOPS_EFORMAT, c->at, "default %.17g of an int feature is not an integer",
                              f->def);
    if ((f->has_min && f->def < f->min) || (f->has_max && f->def > f->max))
        return mlops__fail_at(MLOPS_EFORMAT, c->at, "default %.17g is outside [min, max]", f->def);
    return MLOPS_OK;
}

static mlops_status default_category(const feat_ctx *c, json_t *jd) {
    mlops__feature *f = c->f;
    if (!json_is_string(jd))
        return mlops__fail_at(MLOPS_EFORMAT, c->at,
                              "\"default\" of a categorical feature must be a category string");
    size_t k = 0;
    while (k < f->n_cats && strcmp(f->cats[k], json_string_value(jd)))
        k++;
    if (k == f->n_cats)
        return mlops__fail_at(MLOPS_EFORMAT, c->at, "default '%.200s' is not one of the categories",
                              json_string_value(jd));
    f->def = (double)k;
    return MLOPS_OK;
}

/* The default as the model sees it (category code, 0/1); after type, bounds and categories. */
static mlops_status parse_default(const feat_ctx *c) {
    json_t *jd = json_object_get(c->jf, "default");
    if (!jd) return MLOPS_OK;
    c->f->has_default = 1;
    switch (c->f->type) {
    case MLOPS_FEATURE_TYPE_FLOAT:
    case MLOPS_FEATURE_TYPE_INT:
        return default_number(c, jd);
    case MLOPS_FEATURE_TYPE_BOOL:
        if (!json_is_boolean(jd))
            return mlops__fail_at(MLOPS_EFORMAT, c->at,
                                  "\"default\" of a bool feature must be true or false");
        c->f->def = json_is_true(jd) ? 1.0 : 0.0;
        return MLOPS_OK;
    case MLOPS_FEATURE_TYPE_CATEGORICAL:
        return default_category(c, jd);
    }
    return MLOPS_OK;
}

static mlops_status parse_feature(mlops__feature *f, json_t *jf, size_t i, const char *ctx) {
    if (!json_is_object(jf)) return mlops__fail(MLOPS_EFORMAT, "%s: feature %zu is not an object", ctx, i);
    const char *name = NULL;
    size_t nlen = 0;
    MLOPS__TRY(parse_name(jf, i, ctx, &name, &nlen));
    feat_ctx c = {jf, f, ctx, ""};
    snprintf(c.at, sizeof c.at, "%s: feature %zu ('%.200s'): ", ctx, i, name);
    MLOPS__TRY(parse_keys(&c));
    MLOPS__TRY(parse_type(&c));
    MLOPS__TRY(parse_bounds(&c));
    MLOPS__TRY(parse_nullable(&c));
    MLOPS__TRY(parse_categories(&c));
    MLOPS__TRY(parse_default(&c));
    f->name = mlops__strdup(name);
    if (!f->name) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", ctx);
    f->name_len = nlen;
    return MLOPS_OK;
}

static mlops_status schema_from_json(json_t *root, const char *ctx, mlops_schema **out) {
    if (!json_is_object(root))
        return mlops__fail(MLOPS_EFORMAT, "%s: expected a JSON object {\"features\": [...]}", ctx);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "features") && strcmp(key, "unknown_features") && strcmp(key, "description"))
            return mlops__fail(MLOPS_EFORMAT,
                               "%s: unknown key '%.200s' (expected features, unknown_features, description)",
                               ctx, key);
    }
    json_t *jf = json_object_get(root, "features");
    if (!json_is_array(jf) || json_array_size(jf) == 0)
        return mlops__fail(MLOPS_EFORMAT, "%s: \"features\" must be a non-empty array", ctx);
    size_t n = json_array_size(jf);
    if (n > MLOPS__SCHEMA_MAX_FEATURES)
        return mlops__fail(MLOPS_ELIMIT, "%s: %zu features, the limit is %u", ctx, n,
                           MLOPS__SCHEMA_MAX_FEATURES);
    int reject = 1;
    json_t *ju = json_object_get(root, "unknown_features");
    if (ju) {
        const char *u = json_string_value(ju);
        if (u && !strcmp(u, "reject"))
            reject = 1;
        else if (u && !strcmp(u, "ignore"))
            reject = 0;
        else
            return mlops__fail(MLOPS_EFORMAT, "%s: \"unknown_features\" must be \"reject\" or \"ignore\"",
                               ctx);
    }
    mlops_schema *s = mlops__schema_alloc(n);
    if (!s) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory for %zu features", ctx, n);
    s->reject_unknown = reject;
    mlops_status st = MLOPS_OK;
    for (size_t i = 0; i < n && st == MLOPS_OK; i++)
        st = parse_feature(&s->f[i], json_array_get(jf, i), i, ctx);
    if (st == MLOPS_OK) st = mlops__schema_finish(s, ctx);
    if (st != MLOPS_OK) {
        mlops_schema_free(s);
        return st;
    }
    *out = s;
    return MLOPS_OK;
}

static mlops_status parse_ctx(const char *json, size_t len, const char *ctx, mlops_schema **out) {
    MLOPS__CHECK_ARG("schema", json);
    MLOPS__CHECK_ARG("schema", out);
    json_error_t err;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return mlops__fail(MLOPS_EFORMAT, "%s: line %d column %d: %s", ctx, err.line, err.column, err.text);
    mlops_status st = schema_from_json(root, ctx, out);
    json_decref(root);
    return st;
}

mlops_status mlops_schema_load_buffer(const char *json, size_t len, mlops_schema **out) {
    return parse_ctx(json, len, "schema", out);
}

mlops_status mlops_schema_load(const char *path, mlops_schema **out) {
    MLOPS__CHECK_ARG("schema", path);
    MLOPS__CHECK_ARG("schema", out);
    char *data;
    size_t len;
    mlops_status st = mlops__read_file(path, MAX_SCHEMA_FILE, &data, &len);
    if (st != MLOPS_OK) return st;
    char ctx[512];
    snprintf(ctx, sizeof ctx, "%.480s", path);
    st = parse_ctx(data, len, ctx, out);
    mlops__free(data);
    return st;
}

/* ---------------- inference ---------------- */

MLOPS__DEFINE_OPTS_INIT(mlops_schema_infer_opts_init, mlops_schema_infer_opts, MLOPS_SCHEMA_INFER_OPTS_INIT,
                        MLOPS_SCHEMA_INFER_OPTS_VERSION, sizeof(mlops_schema_infer_opts))

mlops_status mlops_schema_infer(const float *x, size_t n_rows, size_t n_cols, const char *const *names,
                                const mlops_schema_infer_opts *opts, mlops_schema **out) {
    mlops_schema_infer_opts o = MLOPS_SCHEMA_INFER_OPTS_INIT;
    MLOPS__TRY(
        mlops__opts_copy(&o, opts, sizeof o, MLOPS_SCHEMA_INFER_OPTS_VERSION, "schema", "infer options"));
    MLOPS__CHECK_ARG("schema", x);
    MLOPS__CHECK_ARG("schema", out);
    if (n_rows == 0 || n_cols == 0)
        return mlops__fail(MLOPS_EINVAL, "schema infer: empty data (%zu rows x %zu columns)", n_rows, n_cols);
    if (!(o.margin >= 0) || !isfinite(o.margin))
        return mlops__fail(MLOPS_EINVAL, "schema infer: margin must be finite and >= 0, got %g", o.margin);
    if (n_cols > MLOPS__SCHEMA_MAX_FEATURES)
        return mlops__fail(MLOPS_ELIMIT, "schema infer: %zu columns, the limit is %u", n_cols,
                           MLOPS__SCHEMA_MAX_FEATURES);
    if (names) {
        for (size_t j = 0; j < n_cols; j++) {
            if (!names[j] || !names[j][0])
                return mlops__fail(MLOPS_EINVAL, "schema infer: name of column %zu is NULL or empty", j);
            if (strlen(names[j]) > MLOPS__SCHEMA_MAX_NAME)
                return mlops__fail(MLOPS_EINVAL, "schema infer: name of column %zu is longer than %u bytes",
                                   j, MLOPS__SCHEMA_MAX_NAME);
        }
    }
    for (size_t r = 0; r < n_rows; r++)
        for (size_t j = 0; j < n_cols; j++)
            if (isinf(x[r * n_cols + j]))
                return mlops__fail(MLOPS_EINVAL, "schema infer: row %zu column %zu is infinite", r + 1, j);
    mlops_schema *s = mlops__schema_alloc(n_cols);
    if (!s) return mlops__fail(MLOPS_ENOMEM, "schema infer: out of memory");
    s->reject_unknown = o.reject_unknown ? 1 : 0;
    mlops_status st = MLOPS_OK;
    for (size_t j = 0; j < n_cols && st == MLOPS_OK; j++) {
        mlops__feature *f = &s->f[j];
        char fallback[32];
        const char *name = names ? names[j] : fallback;
        if (!names) snprintf(fallback, sizeof fallback, "f%zu", j);
        f->name = mlops__strdup(name);
        if (!f->name) {
            st = mlops__fail(MLOPS_ENOMEM, "schema infer: out of memory");
            break;
        }
        f->name_len = strlen(name);
        double lo = INFINITY, hi = -INFINITY;
        int saw_nan = 0, all_int = 1;
        for (size_t r = 0; r < n_rows; r++) {
            double v = x[r * n_cols + j];
            if (isnan(v)) {
                saw_nan = 1;
                continue;
            }
            if (v < lo) lo = v;
            if (v > hi) hi = v;
            if (v != floor(v)) all_int = 0;
        }
        f->nullable = saw_nan || o.nullable;
        f->type = MLOPS_FEATURE_TYPE_FLOAT;
        if (lo > hi) { /* no finite value */
            f->nullable = 1;
            continue;
        }
        double w = hi > lo ? o.margin * (hi - lo) : o.margin * fmax(fabs(lo), 1.0);
        double wlo = lo - w, whi = hi + w;
        if (o.keep_sign && lo >= 0 && wlo < 0) wlo = 0;
        if (o.detect_int && all_int) {
            /* whole units of margin only: a 0/1 column with margin 0.1 stays [0, 1], never [0, 2] */
            f->type = MLOPS_FEATURE_TYPE_INT;
            wlo = fmin(lo, ceil(wlo));
            whi = fmax(hi, floor(whi));
        }
        f->has_min = f->has_max = 1;
        f->min = fmax(wlo, -FLT_MAX);
        f->max = fmin(whi, FLT_MAX);
    }
    if (st == MLOPS_OK) st = mlops__schema_finish(s, "schema infer");
    if (st != MLOPS_OK) {
        if (st == MLOPS_EFORMAT) st = MLOPS_EINVAL; /* duplicate column names are an argument error here */
        mlops_schema_free(s);
        return st;
    }
    *out = s;
    return MLOPS_OK;
}

/* ---------------- output ---------------- */

static json_t *json_bound(double v, mlops_feature_type t) {
    if (t == MLOPS_FEATURE_TYPE_INT && is_integral(v) && fabs(v) < 9007199254740992.0)
        return json_integer((json_int_t)v);
    return json_real(v);
}

mlops_status mlops_schema_save_buffer(const mlops_schema *s, char **out) {
    MLOPS__CHECK_ARG("schema", s);
    MLOPS__CHECK_ARG("schema", out);
    json_t *root = json_object(), *arr = json_array();
    int bad = !root || !arr;
    if (!bad)
        bad |= json_object_set_new(root, "features", arr);
    else
        json_decref(arr);
    for (size_t i = 0; i < s->n && !bad; i++) {
        const mlops__feature *f = &s->f[i];
        json_t *jf = json_object();
        if (!jf || json_array_append_new(arr, jf)) {
            bad = 1;
            break;
        }
        bad |= json_object_set_new(jf, "name", json_stringn(f->name, f->name_len));
        bad |= json_object_set_new(jf, "type", json_string(mlops_feature_type_name(f->type)));
        if (f->has_min) bad |= json_object_set_new(jf, "min", json_bound(f->min, f->type));
        if (f->has_max) bad |= json_object_set_new(jf, "max", json_bound(f->max, f->type));
        if (!f->nullable) bad |= json_object_set_new(jf, "nullable", json_false());
        if (f->type == MLOPS_FEATURE_TYPE_CATEGORICAL) {
            json_t *jc = json_array();
            bad |= json_object_set_new(jf, "categories", jc);
            for (size_t k = 0; k < f->n_cats && jc; k++)
                bad |= json_array_append_new(jc, json_stringn(f->cats[k], f->cat_lens[k]));
        }
        if (f->has_default) {
            json_t *d;
            if (f->type == MLOPS_FEATURE_TYPE_BOOL)
                d = json_boolean(f->def != 0);
            else if (f->type == MLOPS_FEATURE_TYPE_CATEGORICAL)
                d = json_stringn(f->cats[(size_t)f->def], f->cat_lens[(size_t)f->def]);
            else
                d = json_bound(f->def, f->type);
            bad |= json_object_set_new(jf, "default", d);
        }
    }
    if (!bad)
        bad |= json_object_set_new(root, "unknown_features",
                                   json_string(s->reject_unknown ? "reject" : "ignore"));
    char *copy = mlops__strdup_take(bad ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER));
    json_decref(root);
    if (!copy) return mlops__fail(MLOPS_ENOMEM, "schema: out of memory writing JSON");
    *out = copy;
    return MLOPS_OK;
}

mlops_status mlops_schema_save(const mlops_schema *s, const char *path) {
    MLOPS__CHECK_ARG("schema", s);
    MLOPS__CHECK_ARG("schema", path);
    char *text;
    mlops_status st = mlops_schema_save_buffer(s, &text);
    if (st != MLOPS_OK) return st;
    size_t len = strlen(text);
    char *withnl = mlops__realloc(text, len + 2);
    if (!withnl) {
        mlops__free(text);
        return mlops__fail(MLOPS_ENOMEM, "schema: out of memory");
    }
    withnl[len] = '\n';
    withnl[len + 1] = '\0';
    st = mlops__write_file_atomic(path, withnl, len + 1);
    mlops__free(withnl);
    return st;
}

/* ---------------- getters ---------------- */

size_t mlops_schema_n_features(const mlops_schema *s) { return s ? s->n : 0; }

const char *mlops_schema_feature_name(const mlops_schema *s, size_t i) {
    return s && i < s->n ? s->f[i].name : NULL;
}

mlops_status mlops_schema_find_feature(const mlops_schema *s, const char *name, size_t *index) {
    MLOPS__CHECK_ARG("schema", s);
    MLOPS__CHECK_ARG("schema", name);
    MLOPS__CHECK_ARG("schema", index);
    long i = mlops__strmap_find(&s->names, s->name_ptrs, s->name_lens, name, strlen(name));
    if (i < 0) return MLOPS_ENOTFOUND;
    *index = (size_t)i;
    return MLOPS_OK;
}

mlops_feature_type mlops_schema_feature_type(const mlops_schema *s, size_t i) {
    return s && i < s->n ? s->f[i].type : MLOPS_FEATURE_TYPE_FLOAT;
}

double mlops_schema_feature_min(const mlops_schema *s, size_t i) {
    if (!s || i >= s->n) return NAN;
    const mlops__feature *f = &s->f[i];
    if (f->type == MLOPS_FEATURE_TYPE_BOOL || f->type == MLOPS_FEATURE_TYPE_CATEGORICAL) return 0;
    return f->has_min ? f->min : -INFINITY;
}

double mlops_schema_feature_max(const mlops_schema *s, size_t i) {
    if (!s || i >= s->n) return NAN;
    const mlops__feature *f = &s->f[i];
    if (f->type == MLOPS_FEATURE_TYPE_BOOL) return 1;
    if (f->type == MLOPS_FEATURE_TYPE_CATEGORICAL) return (double)f->n_cats - 1;
    return f->has_max ? f->max : INFINITY;
}

int mlops_schema_feature_nullable(const mlops_schema *s, size_t i) {
    return s && i < s->n && s->f[i].nullable;
}

mlops_status mlops_schema_get_feature_default(const mlops_schema *s, size_t i, double *value) {
    MLOPS__CHECK_ARG("schema", s);
    MLOPS__CHECK_ARG("schema", value);
    if (i >= s->n)
        return mlops__fail(MLOPS_ERANGE, "schema: get_feature_default: feature %zu of %zu", i, s->n);
    if (!s->f[i].has_default) return MLOPS_ENOTFOUND;
    *value = s->f[i].def;
    return MLOPS_OK;
}

size_t mlops_schema_feature_n_categories(const mlops_schema *s, size_t i) {
    return s && i < s->n ? s->f[i].n_cats : 0;
}

const char *mlops_schema_feature_category(const mlops_schema *s, size_t i, size_t k) {
    return s && i < s->n && k < s->f[i].n_cats ? s->f[i].cats[k] : NULL;
}

int mlops_schema_rejects_unknown(const mlops_schema *s) { return s ? s->reject_unknown : 0; }
