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

static mlops_status parse_feature(mlops__feature *f, json_t *jf, size_t i, const char *ctx) {
    if (!json_is_object(jf)) return mlops__fail(MLOPS_EFORMAT, "%s: feature %zu is not an object", ctx, i);
    json_t *jname = json_object_get(jf, "name");
    if (!json_is_string(jname) || json_string_length(jname) == 0)
        return mlops__fail(MLOPS_EFORMAT, "%s: feature %zu: \"name\" must be a non-empty string", ctx, i);
    size_t nlen = json_string_length(jname);
    const char *name = json_string_value(jname);
    if (nlen > MLOPS__SCHEMA_MAX_NAME)
        return mlops__fail(MLOPS_EFORMAT, "%s: feature %zu: name is %zu bytes long, the limit is %u", ctx, i,
                           nlen, MLOPS__SCHEMA_MAX_NAME);
    if (memchr(name, '\0', nlen))
        return mlops__fail(MLOPS_EFORMAT, "%s: feature %zu: name contains a NUL character", ctx, i);
#define FEAT_FAIL(...) return mlops__fail(MLOPS_EFORMAT, __VA_ARGS__)
    const char *key;
    json_t *v;
    json_object_foreach(jf, key, v) {
        if (strcmp(key, "name") && strcmp(key, "type") && strcmp(key, "min") && strcmp(key, "max") &&
            strcmp(key, "nullable") && strcmp(key, "default") && strcmp(key, "categories") &&
            strcmp(key, "description"))
            FEAT_FAIL(
                "%s: feature %zu ('%.200s'): unknown key '%.200s' (expected name, type, min, max, nullable, "
                "default, categories, description)",
                ctx, i, name, key);
    }
    json_t *jtype = json_object_get(jf, "type");
    if (!json_is_string(jtype))
        FEAT_FAIL("%s: feature %zu ('%.200s'): \"type\" must be one of \"float\", \"int\", \"bool\", "
                  "\"categorical\"",
                  ctx, i, name);
    const char *t = json_string_value(jtype);
    if (!strcmp(t, "float"))
        f->type = MLOPS_FEATURE_TYPE_FLOAT;
    else if (!strcmp(t, "int"))
        f->type = MLOPS_FEATURE_TYPE_INT;
    else if (!strcmp(t, "bool"))
        f->type = MLOPS_FEATURE_TYPE_BOOL;
    else if (!strcmp(t, "categorical"))
        f->type = MLOPS_FEATURE_TYPE_CATEGORICAL;
    else
        FEAT_FAIL(
            "%s: feature %zu ('%.200s'): unknown type '%.100s' (expected float, int, bool or categorical)",
            ctx, i, name, t);
    int numeric = f->type == MLOPS_FEATURE_TYPE_FLOAT || f->type == MLOPS_FEATURE_TYPE_INT;
    json_t *jmin = json_object_get(jf, "min"), *jmax = json_object_get(jf, "max");
    if ((jmin || jmax) && !numeric)
        FEAT_FAIL("%s: feature %zu ('%.200s'): min/max are only allowed for float and int features", ctx, i,
                  name);
    if (jmin) {
        if (!json_is_number(jmin))
            FEAT_FAIL("%s: feature %zu ('%.200s'): \"min\" must be a number", ctx, i, name);
        f->has_min = 1;
        f->min = json_number_value(jmin);
    }
    if (jmax) {
        if (!json_is_number(jmax))
            FEAT_FAIL("%s: feature %zu ('%.200s'): \"max\" must be a number", ctx, i, name);
        f->has_max = 1;
        f->max = json_number_value(jmax);
    }
    if (f->has_min && f->has_max && f->min > f->max)
        FEAT_FAIL("%s: feature %zu ('%.200s'): min %.17g is greater than max %.17g", ctx, i, name, f->min,
                  f->max);
    if (f->type == MLOPS_FEATURE_TYPE_INT && f->has_min && f->has_max && ceil(f->min) > floor(f->max))
        FEAT_FAIL("%s: feature %zu ('%.200s'): no integer lies in [%.17g, %.17g]", ctx, i, name, f->min,
                  f->max);
    if ((f->has_min && fabs(f->min) > FLT_MAX) || (f->has_max && fabs(f->max) > FLT_MAX))
        FEAT_FAIL("%s: feature %zu ('%.200s'): min/max must fit in float32 (|x| <= %g)", ctx, i, name,
                  FLT_MAX);
    f->nullable = 1;
    json_t *jn = json_object_get(jf, "nullable");
    if (jn) {
        if (!json_is_boolean(jn))
            FEAT_FAIL("%s: feature %zu ('%.200s'): \"nullable\" must be true or false", ctx, i, name);
        f->nullable = json_is_true(jn);
    }
    json_t *jc = json_object_get(jf, "categories");
    if (f->type == MLOPS_FEATURE_TYPE_CATEGORICAL) {
        if (!json_is_array(jc) || json_array_size(jc) == 0)
            FEAT_FAIL(
                "%s: feature %zu ('%.200s'): a categorical feature needs a non-empty \"categories\" array",
                ctx, i, name);
        size_t nc = json_array_size(jc);
        if (nc > MLOPS__SCHEMA_MAX_CATEGORIES)
            return mlops__fail(MLOPS_ELIMIT, "%s: feature %zu ('%.200s'): %zu categories, the limit is %u",
                               ctx, i, name, nc, MLOPS__SCHEMA_MAX_CATEGORIES);
        f->cats = mlops__calloc(nc, sizeof *f->cats);
        f->cat_lens = mlops__calloc(nc, sizeof *f->cat_lens);
        if (!f->cats || !f->cat_lens) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", ctx);
        for (size_t k = 0; k < nc; k++) {
            json_t *c = json_array_get(jc, k);
            if (!json_is_string(c) || json_string_length(c) == 0 ||
                memchr(json_string_value(c), '\0', json_string_length(c)))
                FEAT_FAIL("%s: feature %zu ('%.200s'): category %zu must be a non-empty string", ctx, i, name,
                          k);
            f->cats[k] = mlops__strdup(json_string_value(c));
            if (!f->cats[k]) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", ctx);
            f->cat_lens[k] = json_string_length(c);
            f->n_cats = k + 1;
        }
    } else if (jc) {
        FEAT_FAIL("%s: feature %zu ('%.200s'): \"categories\" is only allowed for categorical features", ctx,
                  i, name);
    }
    json_t *jd = json_object_get(jf, "default");
    if (jd) {
        f->has_default = 1;
        switch (f->type) {
        case MLOPS_FEATURE_TYPE_FLOAT:
        case MLOPS_FEATURE_TYPE_INT:
            if (!json_is_number(jd))
                FEAT_FAIL("%s: feature %zu ('%.200s'): \"default\" must be a number", ctx, i, name);
            f->def = json_number_value(jd);
            if (fabs(f->def) > FLT_MAX)
                FEAT_FAIL("%s: feature %zu ('%.200s'): default %.17g does not fit in float32", ctx, i, name,
                          f->def);
            if (f->type == MLOPS_FEATURE_TYPE_INT && !is_integral(f->def))
                FEAT_FAIL("%s: feature %zu ('%.200s'): default %.17g of an int feature is not an integer",
                          ctx, i, name, f->def);
            if ((f->has_min && f->def < f->min) || (f->has_max && f->def > f->max))
                FEAT_FAIL("%s: feature %zu ('%.200s'): default %.17g is outside [min, max]", ctx, i, name,
                          f->def);
            break;
        case MLOPS_FEATURE_TYPE_BOOL:
            if (!json_is_boolean(jd))
                FEAT_FAIL("%s: feature %zu ('%.200s'): \"default\" of a bool feature must be true or false",
                          ctx, i, name);
            f->def = json_is_true(jd) ? 1.0 : 0.0;
            break;
        case MLOPS_FEATURE_TYPE_CATEGORICAL: {
            if (!json_is_string(jd))
                FEAT_FAIL("%s: feature %zu ('%.200s'): \"default\" of a categorical feature must be a "
                          "category string",
                          ctx, i, name);
            size_t k = 0;
            while (k < f->n_cats && strcmp(f->cats[k], json_string_value(jd)))
                k++;
            if (k == f->n_cats)
                FEAT_FAIL("%s: feature %zu ('%.200s'): default '%.200s' is not one of the categories", ctx, i,
                          name, json_string_value(jd));
            f->def = (double)k;
            break;
        }
        }
    }
#undef FEAT_FAIL
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
    if (!json || !out) return mlops__fail(MLOPS_EINVAL, "schema: NULL argument");
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
    if (!path || !out) return mlops__fail(MLOPS_EINVAL, "schema: NULL argument");
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

void mlops_schema_infer_opts_init(mlops_schema_infer_opts *opts, unsigned version) {
    static const mlops_schema_infer_opts defaults = MLOPS_SCHEMA_INFER_OPTS_INIT;
    mlops__opts_init(opts, &defaults,
                     mlops__opts_size(version, MLOPS_SCHEMA_INFER_OPTS_VERSION,
                                      sizeof(mlops_schema_infer_opts), sizeof defaults),
                     version);
}

mlops_status mlops_schema_infer(const float *x, size_t n_rows, size_t n_cols, const char *const *names,
                                const mlops_schema_infer_opts *opts, mlops_schema **out) {
    mlops_schema_infer_opts o = MLOPS_SCHEMA_INFER_OPTS_INIT;
    if (opts) {
        if (opts->version != MLOPS_SCHEMA_INFER_OPTS_VERSION)
            return mlops__fail(MLOPS_EVERSION, "schema infer: options version %u, expected %u", opts->version,
                               MLOPS_SCHEMA_INFER_OPTS_VERSION);
        o = *opts;
    }
    if (!x || !out) return mlops__fail(MLOPS_EINVAL, "schema infer: NULL argument");
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
            f->type = MLOPS_FEATURE_TYPE_INT;
            wlo = floor(wlo);
            whi = ceil(whi);
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
    if (!s || !out) return mlops__fail(MLOPS_EINVAL, "schema: NULL argument");
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
    char *text = bad ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text) return mlops__fail(MLOPS_ENOMEM, "schema: out of memory writing JSON");
    char *copy = mlops__strdup(text);
    free(text); /* jansson's allocator */
    if (!copy) return mlops__fail(MLOPS_ENOMEM, "schema: out of memory writing JSON");
    *out = copy;
    return MLOPS_OK;
}

mlops_status mlops_schema_save(const mlops_schema *s, const char *path) {
    if (!s || !path) return mlops__fail(MLOPS_EINVAL, "schema: NULL argument");
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
    if (!s || !name || !index) return mlops__fail(MLOPS_EINVAL, "schema: find_feature: NULL argument");
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
    if (!s || !value) return mlops__fail(MLOPS_EINVAL, "schema: get_feature_default: NULL argument");
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
