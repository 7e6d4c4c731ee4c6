/* The fast path of POST /predict bodies (see rows.h). */
#include "rows.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROW_KEYS 4    /* keys beside "features" in a row (FastAPI's "model_version"); more: declined */
#define MAX_INT_DIGITS 18 /* an integer of at most 18 digits fits jansson's 64-bit integers */
#define UNSEEN_BITS 0x7f80deadu /* a signalling NaN: "no value yet"; no conversion from double makes one */

typedef struct feat {
    const char *name; /* owned by the schema */
    size_t name_len;
    mlops_feature_type type;
    int null_ok;      /* null is taken: the default, else NaN (nullable) */
    float null_value; /* what a null becomes */
    int has_default;
    float def; /* what an absent feature becomes */
    size_t n_cats;
    const char **cats; /* owned by the schema; code k is cats[k] */
    size_t *cat_lens;
} feat;

struct serve_rows {
    size_t n;
    feat *f;
    uint32_t *slots; /* name table: feature index + 1, 0 empty; a power of two long */
    size_t mask;
};

typedef struct cursor {
    const char *p, *end;
} cursor;

static uint32_t name_hash(const char *s, size_t n) { /* FNV-1a */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static int same(const char *a, size_t an, const char *b, size_t bn) { return an == bn && !memcmp(a, b, an); }

/* The feature called s[0..n), trying `hint` (the one after the previous key) first; -1 if none. */
static long find_feature(const serve_rows *p, const char *s, size_t n, size_t hint) {
    if (hint < p->n && same(s, n, p->f[hint].name, p->f[hint].name_len)) return (long)hint;
    for (size_t i = name_hash(s, n) & p->mask;; i = (i + 1) & p->mask) {
        uint32_t v = p->slots[i];
        if (!v) return -1;
        if (same(s, n, p->f[v - 1].name, p->f[v - 1].name_len)) return (long)v - 1;
    }
}

static int plan_feature(const mlops_schema *schema, size_t i, feat *f) {
    double d;
    f->name = mlops_schema_feature_name(schema, i);
    f->name_len = strlen(f->name);
    f->type = mlops_schema_feature_type(schema, i);
    f->has_default = mlops_schema_get_feature_default(schema, i, &d) == MLOPS_OK;
    f->def = f->has_default ? (float)d : NAN;
    f->null_ok = f->has_default || mlops_schema_feature_nullable(schema, i);
    f->null_value = f->def; /* NaN when nullable without a default */
    f->n_cats = mlops_schema_feature_n_categories(schema, i);
    if (!f->n_cats) return 0;
    f->cats = malloc(f->n_cats * sizeof *f->cats);
    f->cat_lens = malloc(f->n_cats * sizeof *f->cat_lens);
    if (!f->cats || !f->cat_lens) return -1;
    for (size_t k = 0; k < f->n_cats; k++) {
        f->cats[k] = mlops_schema_feature_category(schema, i, k);
        f->cat_lens[k] = strlen(f->cats[k]);
    }
    return 0;
}

int serve_rows_create(const mlops_schema *schema, serve_rows **out) {
    *out = NULL;
    serve_rows *p = calloc(1, sizeof *p);
    size_t n = mlops_schema_n_features(schema), size = 16;
    while (size < 2 * n)
        size *= 2;
    if (!p || !(p->f = calloc(n ? n : 1, sizeof *p->f)) || !(p->slots = calloc(size, sizeof *p->slots))) {
        serve_rows_free(p);
        return -1;
    }
    p->n = n;
    p->mask = size - 1;
    for (size_t i = 0; i < n; i++) {
        if (plan_feature(schema, i, &p->f[i]) != 0) {
            serve_rows_free(p);
            return -1;
        }
        size_t j = name_hash(p->f[i].name, p->f[i].name_len) & p->mask;
        while (p->slots[j]) /* names are unique in a schema */
            j = (j + 1) & p->mask;
        p->slots[j] = (uint32_t)(i + 1);
    }
    *out = p;
    return 0;
}

void serve_rows_free(serve_rows *p) {
    if (!p) return;
    for (size_t i = 0; p->f && i < p->n; i++) {
        free(p->f[i].cats);
        free(p->f[i].cat_lens);
    }
    free(p->f);
    free(p->slots);
    free(p);
}

/* ---- tokens ---- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

/* After optional whitespace, the character `ch`: 1 and consumed, else 0. */
static int eat(cursor *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A string of printable ASCII without escapes: 0 and its bytes, or -1 (anything else). */
static int plain_string(cursor *c, const char **s, size_t *n) {
    skip_ws(c);
    if (c->p >= c->end || *c->p != '"') return -1;
    const char *b = ++c->p;
    for (; c->p < c->end; c->p++) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            *s = b;
            *n = (size_t)(c->p++ - b);
            return 0;
        }
        if (ch < 0x20 || ch > 0x7e || ch == '\\') return -1;
    }
    return -1;
}

static const char *skip_digits(const char *q, const char *end) {
    while (q < end && is_digit(*q))
        q++;
    return q;
}

/* A JSON number (RFC 8259 grammar) as jansson reads it: integers through int64 (so -0 is +0),
 * others through strtod (here the library's exact parser, mlops_schema_parse_csv_f64, which equals
 * it, on the number's text as a one-field CSV row). 0 and *d, or -1. */
static int number(cursor *c, double *d) {
    const char *b = c->p, *q = b, *e = c->end;
    if (q < e && *q == '-') q++;
    if (q >= e || !is_digit(*q)) return -1;
    q = *q == '0' ? q + 1 : skip_digits(q, e);
    const char *int_end = q;
    if (q < e && *q == '.') {
        if (++q >= e || !is_digit(*q)) return -1;
        q = skip_digits(q, e);
    }
    if (q < e && (*q == 'e' || *q == 'E')) {
        if (++q < e && (*q == '+' || *q == '-')) q++;
        if (q >= e || !is_digit(*q)) return -1;
        q = skip_digits(q, e);
    }
    int integer = q == int_end;
    if (integer && int_end - b - (*b == '-') > MAX_INT_DIGITS) return -1; /* jansson may say "too big" */
    size_t rows = 0;
    if (mlops_schema_parse_csv_f64(b, (size_t)(q - b), 1, NULL, 0, NULL, d, 1, &rows, NULL) != MLOPS_OK ||
        rows != 1)
        return -1; /* overflow: jansson refuses */
    if (integer && *d == 0) *d = 0.0;
    c->p = q;
    return 0;
}

static int literal(cursor *c, const char *word, size_t n) {
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return -1;
    c->p += n;
    return 0;
}

/* ---- values ---- */

static int category(const feat *f, const char *s, size_t n, float *dst) {
    for (size_t k = 0; k < f->n_cats; k++)
        if (same(s, n, f->cats[k], f->cat_lens[k])) {
            *dst = (float)k;
            return 0;
        }
    return -1;
}

/* A number for feature f as mlops_schema_parse_rows converts it; -1 where it would report a violation
 * that the dense check cannot see (not an integer before rounding, beyond float32, not a bool). */
static int number_value(const feat *f, double d, float *dst) {
    switch (f->type) {
    case MLOPS_FEATURE_TYPE_BOOL:
        if (d != 0 && d != 1) return -1;
        break;
    case MLOPS_FEATURE_TYPE_INT:
        if (d != floor(d)) return -1;
        /* fall through */
    case MLOPS_FEATURE_TYPE_FLOAT:
        if (fabs(d) > FLT_MAX) return -1;
        break;
    default:
        return -1;
    }
    *dst = (float)d;
    return 0;
}

/* One scalar value into *dst for feature f, or skipped when f is NULL (a row key beside "features").
 * Objects, arrays and values of the wrong type: -1. */
static int value(cursor *c, const feat *f, float *dst) {
    skip_ws(c);
    if (c->p >= c->end) return -1;
    const char *s;
    size_t n;
    double d;
    switch (*c->p) {
    case '"':
        if (plain_string(c, &s, &n)) return -1;
        return f ? (f->type == MLOPS_FEATURE_TYPE_CATEGORICAL ? category(f, s, n, dst) : -1) : 0;
    case 't':
    case 'f': {
        int t = *c->p == 't';
        if (literal(c, t ? "true" : "false", t ? 4 : 5)) return -1;
        if (f && f->type != MLOPS_FEATURE_TYPE_BOOL) return -1;
        if (f) *dst = t ? 1.0f : 0.0f;
        return 0;
    }
    case 'n':
        if (literal(c, "null", 4) || (f && !f->null_ok)) return -1;
        if (f) *dst = f->null_value;
        return 0;
    default:
        if (number(c, &d)) return -1;
        return f ? number_value(f, d, dst) : 0;
    }
}

static int unseen(const float *v) { /* by address: a signalling NaN is never loaded as a float */
    uint32_t bits;
    memcpy(&bits, v, sizeof bits);
    return bits == UNSEEN_BITS;
}

/* The object of "features": every key a schema feature, once; absent features take their default. */
static int features(const serve_rows *p, cursor *c, float *x) {
    const uint32_t mark = UNSEEN_BITS;
    for (size_t i = 0; i < p->n; i++)
        memcpy(&x[i], &mark, sizeof mark);
    if (!eat(c, '{')) return -1;
    if (!eat(c, '}')) {
        size_t hint = 0;
        do {
            const char *k;
            size_t kl;
            if (plain_string(c, &k, &kl) || !eat(c, ':')) return -1;
            long i = find_feature(p, k, kl, hint);
            /* unknown keys (a violation, or ignored but then a duplicate would go unseen) and duplicates */
            if (i < 0 || !unseen(&x[i]) || value(c, &p->f[i], &x[i])) return -1;
            hint = (size_t)i + 1;
        } while (eat(c, ','));
        if (!eat(c, '}')) return -1;
    }
    for (size_t i = 0; i < p->n; i++) {
        if (!unseen(&x[i])) continue;
        if (!p->f[i].has_default) return -1; /* missing */
        x[i] = p->f[i].def;
    }
    return 0;
}

/* {"features": {...}} with up to MAX_ROW_KEYS other keys of scalar values, no key twice. */
static int row(const serve_rows *p, cursor *c, float *x) {
    const char *keys[MAX_ROW_KEYS];
    size_t lens[MAX_ROW_KEYS], n_keys = 0;
    int have_features = 0;
    if (!eat(c, '{')) return -1;
    do {
        const char *k;
        size_t kl;
        if (plain_string(c, &k, &kl) || !eat(c, ':')) return -1;
        if (same(k, kl, "features", 8)) {
            if (have_features++ || features(p, c, x)) return -1;
            continue;
        }
        for (size_t j = 0; j < n_keys; j++)
            if (same(k, kl, keys[j], lens[j])) return -1;
        if (n_keys == MAX_ROW_KEYS || value(c, NULL, NULL)) return -1;
        keys[n_keys] = k;
        lens[n_keys++] = kl;
    } while (eat(c, ','));
    return eat(c, '}') && have_features ? 0 : -1;
}

int serve_rows_parse(const serve_rows *p, const char *body, size_t len, float *x, size_t cap_rows,
                     size_t *n_rows) {
    cursor c = {body, body + len};
    size_t n = 0;
    if (!p->n || !body) return -1;
    skip_ws(&c);
    if (c.p < c.end && *c.p == '{') {
        if (cap_rows < 1 || row(p, &c, x)) return -1;
        n = 1;
    } else if (eat(&c, '[')) {
        if (!eat(&c, ']')) {
            do {
                if (n == cap_rows || row(p, &c, x + n * p->n)) return -1;
                n++;
            } while (eat(&c, ','));
            if (!eat(&c, ']')) return -1;
        }
    } else {
        return -1;
    }
    skip_ws(&c);
    if (c.p != c.end) return -1;
    *n_rows = n;
    return 0;
}
