/* Prometheus/OpenMetrics registry and text exposition.
 *
 * Hot path: a series handle holds its values in atomic 64-bit words (doubles by bit pattern,
 * updated with compare-and-swap; histogram bucket counts with fetch_add). No lock, no allocation.
 * Series lookup: an open-addressing index of atomic pointers that only ever grows (entries are never
 * removed before the registry is freed), so readers probe it without a lock; inserts take the
 * family mutex. Rendering holds only the render mutex and reads the atomics.
 */
#include <locale.h>
#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "metrics_internal.h"
#include "mlops/metrics.h"

#define MAX_COLLECTORS 64
#define MAX_NAME_LEN 1024
#define MAX_STD 16

static const double default_buckets[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

struct mlops_series {
    mlops_metrics_family *family;
    uint64_t hash;
    char **values;             /* n_labels strings inside this allocation */
    _Atomic uint64_t value;    /* counter/gauge: double bits; histogram: sum bits */
    _Atomic uint64_t counts[]; /* histogram: n_buckets + 1 non-cumulative counts */
};

struct mlops_metrics_family {
    mlops_metrics *reg;
    mlops_metrics_type type;
    char *name;
    char *help;
    size_t n_labels;
    char **label_names;
    size_t n_buckets;
    double *buckets;
    char **bucket_le; /* formatted upper bounds, n_buckets + 1 ("+Inf") */
    size_t max_series;
    mlops_series **series; /* max_series slots; first n_series are set */
    _Atomic size_t n_series;
    _Atomic(mlops_series *) *index;
    size_t index_mask;
    pthread_mutex_t lock;
};

typedef struct collector {
    mlops_metrics_collect_fn fn;
    void *user;
} collector;

struct mlops_metrics {
    pthread_mutex_t lock;        /* families, reserved names, std sets */
    pthread_mutex_t render_lock; /* renders and the collector list */
    mlops_metrics_family **families;
    size_t max_families;
    _Atomic size_t n_families;
    size_t default_max_series;
    char **reserved; /* names emitted by built-in collectors */
    size_t n_reserved;
    collector collectors[MAX_COLLECTORS];
    size_t n_collectors;
    mlops_metrics_std *std[MAX_STD];
    size_t n_std;
    double latency_buckets[MLOPS_METRICS_MAX_BUCKETS]; /* of the standard prediction histogram */
    size_t n_latency_buckets;
};

/* ---- numbers and names --------------------------------------------------------------------- */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale_obj = (locale_t)0;
static void c_locale_init(void) { c_locale_obj = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

/* Switch the calling thread to the C locale; returns what to restore (0 = nothing). */
static locale_t c_locale_enter(void) {
    pthread_once(&c_locale_once, c_locale_init);
    if (!c_locale_obj) return (locale_t)0;
    return uselocale(c_locale_obj);
}
static void c_locale_leave(locale_t old) {
    if (old) uselocale(old);
}

static size_t fmt_u64(char *out, uint64_t v) {
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = 0;
    return n;
}

/* Caller must be in the C locale for the snprintf/strtod path (render and registration are). */
size_t mlops__metrics_fmt_double(char *out, double v) {
    if (isnan(v)) return (size_t)(memcpy(out, "NaN", 4), 3);
    if (isinf(v)) return (size_t)(memcpy(out, v > 0 ? "+Inf" : "-Inf", 5), 4);
    if (v == trunc(v) && fabs(v) < 1e15) {
        if (v < 0) {
            out[0] = '-';
            return 1 + fmt_u64(out + 1, (uint64_t)(-v));
        }
        return fmt_u64(out, (uint64_t)v);
    }
    /* Shortest of %.15g, %.16g, %.17g that reads back to the same double. */
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, 32, "%.*g", prec, v);
        if (prec == 17 || strtod(out, NULL) == v) break;
    }
    return (size_t)n;
}

int mlops__metrics_valid_metric_name(const char *s) {
    if (!s || !*s) return 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                 (i > 0 && c >= '0' && c <= '9');
        if (!ok || i >= MAX_NAME_LEN) return 0;
    }
    return 1;
}

int mlops__metrics_valid_label_name(const char *s) {
    if (!s || !*s) return 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        int ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
        if (!ok || i >= MAX_NAME_LEN) return 0;
    }
    return 1;
}

int mlops__metrics_valid_utf8(const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s;
        size_t n;
        unsigned min;
        if (c < 0x80) {
            s++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80) return 0;
            c = (c << 6) | (s[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
        s += n + 1;
    }
    return 1;
}

static int has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && memcmp(s + a - b, suf, b) == 0;
}

/* The names a family occupies in either format's output. */
static size_t exposed_names(mlops_metrics_type type, const char *name, char out[4][MAX_NAME_LEN + 16]) {
    size_t n = 0, len = strlen(name);
    snprintf(out[n++], MAX_NAME_LEN + 16, "%s", name);
    if (type == MLOPS_METRICS_COUNTER) {
        if (has_suffix(name, "_total"))
            snprintf(out[n++], MAX_NAME_LEN + 16, "%.*s", (int)(len - 6), name);
        else
            snprintf(out[n++], MAX_NAME_LEN + 16, "%s_total", name);
    } else if (type == MLOPS_METRICS_HISTOGRAM) {
        snprintf(out[n++], MAX_NAME_LEN + 16, "%s_bucket", name);
        snprintf(out[n++], MAX_NAME_LEN + 16, "%s_count", name);
        snprintf(out[n++], MAX_NAME_LEN + 16, "%s_sum", name);
    }
    return n;
}

static int names_clash(mlops_metrics_type ta, const char *a, mlops_metrics_type tb, const char *b) {
    static _Thread_local char na[4][MAX_NAME_LEN + 16], nb[4][MAX_NAME_LEN + 16];
    size_t ka = exposed_names(ta, a, na), kb = exposed_names(tb, b, nb);
    for (size_t i = 0; i < ka; i++)
        for (size_t j = 0; j < kb; j++)
            if (strcmp(na[i], nb[j]) == 0) return 1;
    return 0;
}

/* Registry lock held. Returns the name of what `name` clashes with, or NULL. */
static const char *find_clash(mlops_metrics *reg, mlops_metrics_type type, const char *name) {
    size_t nf = atomic_load_explicit(&reg->n_families, memory_order_acquire);
    for (size_t i = 0; i < nf; i++)
        if (names_clash(type, name, reg->families[i]->type, reg->families[i]->name))
            return reg->families[i]->name;
    for (size_t i = 0; i < reg->n_reserved; i++)
        if (names_clash(type, name, MLOPS_METRICS_GAUGE, reg->reserved[i])) return reg->reserved[i];
    return NULL;
}

/* A registry's mutex from a const handle: renders and lookups are read-only and lock it too; a lock
 * is not part of the registry's observable state. */
static pthread_mutex_t *lock_of(const pthread_mutex_t *lock) { return (pthread_mutex_t *)lock; }

/* Objects whose render-time lock this thread holds, innermost last. Thread-local by nature:
 * it records this thread's own call stack (a registry's render inside a std collector). */
#define MAX_HELD 8
static _Thread_local const void *tls_held[MAX_HELD];
static _Thread_local unsigned tls_n_held;

void mlops__metrics_enter(const void *obj) {
    if (tls_n_held < MAX_HELD) tls_held[tls_n_held] = obj;
    tls_n_held++;
}

void mlops__metrics_leave(void) { tls_n_held--; }

mlops_status mlops__metrics_busy(const void *obj, const char *what) {
    for (unsigned i = 0; i < tls_n_held && i < MAX_HELD; i++)
        if (tls_held[i] == obj)
            return mlops__fail(MLOPS_EBUSY,
                               "%s: called from inside a render of the same registry (a collector or a "
                               "callback it triggered) would deadlock; call it after the render",
                               what);
    return MLOPS_OK;
}

/* Check label names for a family or collector; returns a failure status or OK. */
static mlops_status check_labels(const char *what, const char *name, mlops_metrics_type type,
                                 const char *const *labels, size_t n) {
    if (n > MLOPS_METRICS_MAX_LABELS)
        return mlops__fail(MLOPS_ELIMIT, "metrics: %s '%s': %zu labels, at most %d", what, name, n,
                           MLOPS_METRICS_MAX_LABELS);
    MLOPS__FAIL_IF(n && !labels, MLOPS_EINVAL, "metrics: %s '%s': label_names is NULL", what, name);
    for (size_t i = 0; i < n; i++) {
        MLOPS__FAIL_IF(!labels[i], MLOPS_EINVAL, "metrics: %s '%s': label name %zu is NULL", what, name, i);
        if (!mlops__metrics_valid_label_name(labels[i]))
            return mlops__fail(
                MLOPS_EINVAL, "metrics: %s '%s': invalid label name '%s' (must match [a-zA-Z_][a-zA-Z0-9_]*)",
                what, name, labels[i]);
        if (labels[i][0] == '_' && labels[i][1] == '_')
            return mlops__fail(MLOPS_EINVAL, "metrics: %s '%s': label name '%s' is reserved (prefix \"__\")",
                               what, name, labels[i]);
        if (type == MLOPS_METRICS_HISTOGRAM && strcmp(labels[i], "le") == 0)
            return mlops__fail(MLOPS_EINVAL,
                               "metrics: %s '%s': label name 'le' is reserved for histogram buckets", what,
                               name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(labels[i], labels[j]) == 0)
                return mlops__fail(MLOPS_EINVAL, "metrics: %s '%s': label name '%s' appears twice", what,
                                   name, labels[i]);
    }
    return MLOPS_OK;
}

static mlops_status check_values(const char *name, size_t n_labels, const char *const *values, size_t n) {
    if (n != n_labels)
        return mlops__fail(MLOPS_EINVAL, "metrics: '%s' has %zu labels, got %zu values", name, n_labels, n);
    MLOPS__FAIL_IF(n && !values, MLOPS_EINVAL, "metrics: '%s': label_values is NULL", name);
    for (size_t i = 0; i < n; i++) {
        MLOPS__FAIL_IF(!values[i], MLOPS_EINVAL, "metrics: '%s': label value %zu is NULL", name, i);
        if (!mlops__metrics_valid_utf8(values[i]))
            return mlops__fail(MLOPS_EINVAL, "metrics: '%s': label value %zu is not valid UTF-8", name, i);
    }
    return MLOPS_OK;
}

static mlops_status check_type_and_name(const char *what, mlops_metrics_type type, const char *name,
                                        const char *help) {
    if (type != MLOPS_METRICS_COUNTER && type != MLOPS_METRICS_GAUGE && type != MLOPS_METRICS_HISTOGRAM)
        return mlops__fail(MLOPS_EINVAL, "metrics: %s: unknown type %d", what, (int)type);
    MLOPS__FAIL_IF(!name, MLOPS_EINVAL, "metrics: %s: name is NULL", what);
    if (!mlops__metrics_valid_metric_name(name))
        return mlops__fail(MLOPS_EINVAL,
                           "metrics: %s: invalid metric name '%.64s' (must match [a-zA-Z_:][a-zA-Z0-9_:]*)",
                           what, name);
    if (help && !mlops__metrics_valid_utf8(help))
        return mlops__fail(MLOPS_EINVAL, "metrics: %s '%s': help is not valid UTF-8", what, name);
    return MLOPS_OK;
}

/* ---- registry -------------------------------------------------------------------------------- */

MLOPS__DEFINE_OPTS_INIT(mlops_metrics_opts_init, mlops_metrics_opts, MLOPS_METRICS_OPTS_INIT,
                        MLOPS_METRICS_OPTS_VERSION, offsetof(mlops_metrics_opts, latency_buckets))

MLOPS__DEFINE_OPTS_INIT(mlops_metrics_family_opts_init, mlops_metrics_family_opts,
                        MLOPS_METRICS_FAMILY_OPTS_INIT, MLOPS_METRICS_FAMILY_OPTS_VERSION,
                        sizeof(mlops_metrics_family_opts))

mlops_status mlops_metrics_exponential_buckets(double start, double factor, size_t count, double *out,
                                               size_t out_len) {
    if (!out || !(start > 0) || !isfinite(start) || !(factor > 1) || !isfinite(factor) || count < 1 ||
        count > MLOPS_METRICS_MAX_BUCKETS || count > out_len)
        return mlops__fail(MLOPS_EINVAL,
                           "metrics_exponential_buckets: start %g, factor %g, count %zu (out_len %zu): expected "
                           "start > 0, factor > 1, 1 <= count <= min(%d, out_len)",
                           start, factor, count, out_len, MLOPS_METRICS_MAX_BUCKETS);
    double last = start * pow(factor, (double)(count - 1));
    if (!isfinite(last))
        return mlops__fail(MLOPS_EINVAL, "metrics_exponential_buckets: start %g * factor %g ^ %zu overflows",
                           start, factor, count - 1);
    /* pow() rather than repeated multiplication: no accumulated rounding, so 1e-6 * 2^i is exact. */
    for (size_t i = 0; i < count; i++)
        out[i] = start * pow(factor, (double)i);
    return MLOPS_OK;
}

/* Bucket bounds given by a caller: 1..MAX finite, strictly increasing. `what` names the caller. */
static mlops_status check_buckets(const char *what, const char *name, const double *b, size_t n) {
    if (n == 0 || n > MLOPS_METRICS_MAX_BUCKETS)
        return mlops__fail(MLOPS_EINVAL, "%s '%s': %zu buckets, expected 1 to %d", what, name, n,
                           MLOPS_METRICS_MAX_BUCKETS);
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(b[i]))
            return mlops__fail(MLOPS_EINVAL, "%s '%s': bucket %zu is not finite (+Inf is implicit)", what, name, i);
        if (i && !(b[i] > b[i - 1]))
            return mlops__fail(MLOPS_EINVAL, "%s '%s': buckets must be strictly increasing (bucket %zu)", what,
                               name, i);
    }
    return MLOPS_OK;
}

/* Copy the caller's options: version 2, or version 1 (the fields before latency_buckets). */
static mlops_status read_opts(const mlops_metrics_opts *opts, mlops_metrics_opts *o) {
    if (opts->version == 1u) {
        memcpy(o, opts, offsetof(mlops_metrics_opts, latency_buckets));
        o->version = MLOPS_METRICS_OPTS_VERSION;
    } else if (opts->version == MLOPS_METRICS_OPTS_VERSION) {
        *o = *opts;
    } else {
        return mlops__fail(MLOPS_EVERSION, "metrics_create: options version %u, expected 1 to %u", opts->version,
                           MLOPS_METRICS_OPTS_VERSION);
    }
    if (!o->max_families) o->max_families = 256;
    if (!o->default_max_series) o->default_max_series = 1000;
    if (o->latency_buckets)
        return check_buckets("metrics_create", "latency_buckets", o->latency_buckets, o->n_latency_buckets);
    if (o->n_latency_buckets)
        return mlops__fail(MLOPS_EINVAL, "metrics_create: n_latency_buckets %zu without latency_buckets",
                           o->n_latency_buckets);
    return MLOPS_OK;
}

const double *mlops__metrics_latency_buckets(const mlops_metrics *reg, size_t *n) {
    *n = reg->n_latency_buckets;
    return reg->latency_buckets;
}

mlops_status mlops_metrics_create(const mlops_metrics_opts *opts, mlops_metrics **out) {
    mlops_metrics_opts o = MLOPS_METRICS_OPTS_INIT;
    mlops_status st;
    MLOPS__CHECK_ARG("metrics", out);
    if (opts && (st = read_opts(opts, &o))) return st;
    if (o.max_families > 100000 || o.default_max_series > 10000000)
        return mlops__fail(MLOPS_ERANGE,
                           "metrics_create: max_families %zu / default_max_series %zu too large",
                           o.max_families, o.default_max_series);
    mlops_metrics *reg = mlops__calloc(1, sizeof *reg);
    mlops_metrics_family **fam = mlops__calloc(o.max_families, sizeof *fam);
    if (!reg || !fam) {
        mlops__free(reg);
        mlops__free(fam);
        return mlops__fail(MLOPS_ENOMEM, "metrics_create: out of memory");
    }
    pthread_mutex_init(&reg->lock, NULL);
    pthread_mutex_init(&reg->render_lock, NULL);
    reg->families = fam;
    reg->max_families = o.max_families;
    reg->default_max_series = o.default_max_series;
    if (o.latency_buckets) {
        memcpy(reg->latency_buckets, o.latency_buckets, o.n_latency_buckets * sizeof(double));
        reg->n_latency_buckets = o.n_latency_buckets;
    } else {
        reg->n_latency_buckets = MLOPS_METRICS_LATENCY_BUCKETS_COUNT;
        mlops_metrics_exponential_buckets(MLOPS_METRICS_LATENCY_BUCKETS_START, MLOPS_METRICS_LATENCY_BUCKETS_FACTOR,
                                          MLOPS_METRICS_LATENCY_BUCKETS_COUNT, reg->latency_buckets,
                                          MLOPS_METRICS_MAX_BUCKETS);
    }
    atomic_init(&reg->n_families, 0);
    *out = reg;
    return MLOPS_OK;
}

static void family_free(mlops_metrics_family *f) {
    if (!f) return;
    size_t n = atomic_load(&f->n_series);
    for (size_t i = 0; i < n; i++)
        mlops__free(f->series[i]);
    mlops__free(f->series);
    mlops__free((void *)f->index);
    if (f->bucket_le)
        for (size_t i = 0; i <= f->n_buckets; i++)
            mlops__free(f->bucket_le[i]);
    mlops__free(f->bucket_le);
    mlops__free(f->buckets);
    if (f->label_names)
        for (size_t i = 0; i < f->n_labels; i++)
            mlops__free(f->label_names[i]);
    mlops__free(f->label_names);
    mlops__free(f->name);
    mlops__free(f->help);
    pthread_mutex_destroy(&f->lock);
    mlops__free(f);
}

void mlops_metrics_free(mlops_metrics *reg) {
    if (!reg) return;
    for (size_t i = 0; i < reg->n_std; i++)
        mlops__metrics_std_free(reg->std[i]);
    size_t n = atomic_load(&reg->n_families);
    for (size_t i = 0; i < n; i++)
        family_free(reg->families[i]);
    mlops__free(reg->families);
    for (size_t i = 0; i < reg->n_reserved; i++)
        mlops__free(reg->reserved[i]);
    mlops__free(reg->reserved);
    pthread_mutex_destroy(&reg->lock);
    pthread_mutex_destroy(&reg->render_lock);
    mlops__free(reg);
}

static uint64_t hash_values(const char *const *values, size_t n) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ull;
        h = (h ^ 0xffu) * 1099511628211ull; /* 0xff never occurs in UTF-8 */
    }
    return h;
}

static int values_equal(const mlops_series *s, const char *const *values, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->values[i], values[i]) != 0) return 0;
    return 1;
}

/* Lock-free probe. Returns the series or NULL; *slot receives the first empty slot seen. */
static mlops_series *index_find(mlops_metrics_family *f, uint64_t h, const char *const *values,
                                size_t *slot) {
    size_t i = (size_t)h & f->index_mask;
    for (;;) {
        mlops_series *s = atomic_load_explicit(&f->index[i], memory_order_acquire);
        if (!s) {
            if (slot) *slot = i;
            return NULL;
        }
        if (s->hash == h && values_equal(s, values, f->n_labels)) return s;
        i = (i + 1) & f->index_mask;
    }
}

/* Family lock held (or family not yet published). */
static mlops_status series_create(mlops_metrics_family *f, const char *const *values, uint64_t h, size_t slot,
                                  mlops_series **out) {
    size_t n = atomic_load_explicit(&f->n_series, memory_order_relaxed);
    if (n >= f->max_series)
        return mlops__fail(MLOPS_ELIMIT,
                           "metrics: '%s' already has %zu series (max_series); label values refused", f->name,
                           f->max_series);
    size_t n_counts = f->type == MLOPS_METRICS_HISTOGRAM ? f->n_buckets + 1 : 0;
    size_t head = sizeof(mlops_series) + n_counts * sizeof(_Atomic uint64_t);
    size_t ptrs = f->n_labels * sizeof(char *);
    size_t strs = 0;
    for (size_t i = 0; i < f->n_labels; i++)
        strs += strlen(values[i]) + 1;
    mlops_series *s = mlops__calloc(1, head + ptrs + strs);
    if (!s) return mlops__fail(MLOPS_ENOMEM, "metrics: '%s': out of memory for a series", f->name);
    s->family = f;
    s->hash = h;
    s->values = (char **)((char *)s + head);
    char *p = (char *)s + head + ptrs;
    for (size_t i = 0; i < f->n_labels; i++) {
        size_t l = strlen(values[i]) + 1;
        memcpy(p, values[i], l);
        s->values[i] = p;
        p += l;
    }
    double zero = 0.0;
    uint64_t zbits;
    memcpy(&zbits, &zero, sizeof zbits);
    atomic_init(&s->value, zbits);
    for (size_t i = 0; i < n_counts; i++)
        atomic_init(&s->counts[i], 0);
    f->series[n] = s;
    atomic_store_explicit(&f->index[slot], s, memory_order_release);
    atomic_store_explicit(&f->n_series, n + 1, memory_order_release);
    *out = s;
    return MLOPS_OK;
}

/* Check the arguments and build a family that no reader can see yet; publish() makes it visible. */
static mlops_status family_build(mlops_metrics *reg, mlops_metrics_type type, const char *name,
                                 const char *help, const mlops_metrics_family_opts *opts,
                                 mlops_metrics_family **out) {
    mlops_metrics_family_opts o = MLOPS_METRICS_FAMILY_OPTS_INIT;
    mlops_status st;
    MLOPS__CHECK_ARG("metrics", reg);
    MLOPS__CHECK_ARG("metrics", out);
    if ((st = check_type_and_name("register", type, name, help))) return st;
    MLOPS__TRY(
        mlops__opts_copy(&o, opts, sizeof o, MLOPS_METRICS_FAMILY_OPTS_VERSION, "metrics", "family options"));
    if ((st = check_labels("register", name, type, o.label_names, o.n_labels))) return st;
    const double *buckets = default_buckets;
    size_t n_buckets = sizeof default_buckets / sizeof default_buckets[0];
    if (type == MLOPS_METRICS_HISTOGRAM && o.buckets) {
        if ((st = check_buckets("metrics_register", name, o.buckets, o.n_buckets))) return st;
        buckets = o.buckets;
        n_buckets = o.n_buckets;
    } else if (type != MLOPS_METRICS_HISTOGRAM && (o.buckets || o.n_buckets)) {
        return mlops__fail(MLOPS_EINVAL, "metrics_register '%s': buckets given for a non-histogram", name);
    }
    if (type != MLOPS_METRICS_HISTOGRAM) n_buckets = 0;
    size_t max_series = o.max_series ? o.max_series : reg->default_max_series;
    if (o.n_labels == 0) max_series = 1;
    if (max_series > 10000000)
        return mlops__fail(MLOPS_ERANGE, "metrics_register '%s': max_series %zu too large", name, max_series);

    /* Build the family outside the registry lock. */
    mlops_metrics_family *f = mlops__calloc(1, sizeof *f);
    if (!f) return mlops__fail(MLOPS_ENOMEM, "metrics_register '%s': out of memory", name);
    pthread_mutex_init(&f->lock, NULL);
    f->reg = reg;
    f->type = type;
    f->n_labels = o.n_labels;
    f->n_buckets = n_buckets;
    f->max_series = max_series;
    atomic_init(&f->n_series, 0);
    size_t cap = 2;
    while (cap < 2 * max_series)
        cap <<= 1;
    f->index_mask = cap - 1;
    f->name = mlops__strdup(name);
    f->help = mlops__strdup(help ? help : "");
    f->series = mlops__calloc(max_series, sizeof *f->series);
    f->index = mlops__calloc(cap, sizeof *f->index);
    f->label_names = o.n_labels ? mlops__calloc(o.n_labels, sizeof(char *)) : NULL;
    bool oom = !f->name || !f->help || !f->series || !f->index || (o.n_labels && !f->label_names);
    for (size_t i = 0; !oom && i < o.n_labels; i++)
        oom = !(f->label_names[i] = mlops__strdup(o.label_names[i]));
    for (size_t i = 0; !oom && i < cap; i++)
        atomic_init(&f->index[i], NULL);
    if (!oom && n_buckets) {
        f->buckets = mlops__calloc(n_buckets, sizeof(double));
        f->bucket_le = mlops__calloc(n_buckets + 1, sizeof(char *));
        oom = !f->buckets || !f->bucket_le;
        locale_t old = c_locale_enter();
        for (size_t i = 0; !oom && i < n_buckets; i++) {
            char tmp[40];
            f->buckets[i] = buckets[i];
            mlops__metrics_fmt_double(tmp, buckets[i]);
            oom = !(f->bucket_le[i] = mlops__strdup(tmp));
        }
        c_locale_leave(old);
        if (!oom) oom = !(f->bucket_le[n_buckets] = mlops__strdup("+Inf"));
    }
    if (!oom && o.n_labels == 0) {
        mlops_series *s;
        size_t slot;
        uint64_t h = hash_values(NULL, 0);
        index_find(f, h, NULL, &slot);
        if (series_create(f, NULL, h, slot, &s)) oom = true;
    }
    if (oom) {
        family_free(f);
        return mlops__fail(MLOPS_ENOMEM, "metrics_register '%s': out of memory", name);
    }
    *out = f;
    return MLOPS_OK;
}

/* Make built families, reserved collector names and a standard set visible together, or none of
 * them: families cannot be removed once readers may hold them, so every check and allocation
 * happens before the first one is published. Takes the registry lock. */
static mlops_status publish(mlops_metrics *reg, mlops_metrics_family *const *fams, size_t n_fams,
                            const char *const *reserved, size_t n_reserved, mlops_metrics_std *std) {
    char **copies = n_reserved ? mlops__calloc(n_reserved, sizeof *copies) : NULL;
    bool oom = n_reserved && !copies;
    for (size_t i = 0; !oom && i < n_reserved; i++)
        oom = !(copies[i] = mlops__strdup(reserved[i]));
    mlops_status st = oom ? mlops__fail(MLOPS_ENOMEM, "metrics: out of memory") : MLOPS_OK;
    pthread_mutex_lock(&reg->lock);
    size_t nf = atomic_load_explicit(&reg->n_families, memory_order_relaxed);
    for (size_t i = 0; i < n_fams && !st; i++) {
        const char *clash = find_clash(reg, fams[i]->type, fams[i]->name);
        if (clash)
            st = mlops__fail(MLOPS_EEXIST, "metrics_register '%s': clashes with existing metric '%s'",
                             fams[i]->name, clash);
    }
    for (size_t i = 0; i < n_reserved && !st; i++) {
        const char *clash = find_clash(reg, MLOPS_METRICS_GAUGE, reserved[i]);
        if (clash)
            st = mlops__fail(MLOPS_EEXIST, "metrics: '%s' clashes with existing metric '%s'", reserved[i],
                             clash);
    }
    if (!st && nf + n_fams > reg->max_families)
        st = mlops__fail(MLOPS_ELIMIT, "metrics_register '%s': registry already has %zu families (max_families)",
                         fams[0]->name, reg->max_families);
    if (!st && std && reg->n_std >= MAX_STD)
        st = mlops__fail(MLOPS_ELIMIT, "metrics: at most %d standard metric sets", MAX_STD);
    if (!st && n_reserved) {
        char **grown = mlops__realloc(reg->reserved, (reg->n_reserved + n_reserved) * sizeof(char *));
        if (!grown) st = mlops__fail(MLOPS_ENOMEM, "metrics: out of memory");
        else reg->reserved = grown;
    }
    if (!st) {
        for (size_t i = 0; i < n_reserved; i++)
            reg->reserved[reg->n_reserved++] = copies[i];
        if (std) reg->std[reg->n_std++] = std;
        for (size_t i = 0; i < n_fams; i++)
            reg->families[nf + i] = fams[i];
        atomic_store_explicit(&reg->n_families, nf + n_fams, memory_order_release);
    }
    pthread_mutex_unlock(&reg->lock);
    if (st)
        for (size_t i = 0; copies && i < n_reserved; i++)
            mlops__free(copies[i]);
    mlops__free(copies);
    return st;
}

mlops_status mlops_metrics_register(mlops_metrics *reg, mlops_metrics_type type, const char *name,
                                    const char *help, const mlops_metrics_family_opts *opts,
                                    mlops_metrics_family **out) {
    mlops_metrics_family *f;
    mlops_status st = family_build(reg, type, name, help, opts, &f);
    if (!st && (st = publish(reg, &f, 1, NULL, 0, NULL))) family_free(f);
    if (!st) *out = f;
    return st;
}

mlops_status mlops__metrics_family_build(mlops_metrics *reg, mlops_metrics_type type, const char *name,
                                         const char *help, const mlops_metrics_family_opts *opts,
                                         mlops_metrics_family **out) {
    return family_build(reg, type, name, help, opts, out);
}

void mlops__metrics_family_discard(mlops_metrics_family *f) { family_free(f); }

mlops_status mlops__metrics_publish_std(mlops_metrics *reg, mlops_metrics_family *const *fams, size_t n_fams,
                                        const char *const *reserved, size_t n_reserved,
                                        mlops_metrics_std *std) {
    return publish(reg, fams, n_fams, reserved, n_reserved, std);
}

mlops_status mlops_metrics_find(const mlops_metrics *reg, const char *name, mlops_metrics_family **out) {
    MLOPS__CHECK_ARG("metrics", reg);
    MLOPS__CHECK_ARG("metrics", name);
    MLOPS__CHECK_ARG("metrics", out);
    size_t nf = atomic_load_explicit(&reg->n_families, memory_order_acquire);
    for (size_t i = 0; i < nf; i++)
        if (strcmp(reg->families[i]->name, name) == 0) {
            *out = reg->families[i];
            return MLOPS_OK;
        }
    return mlops__fail(MLOPS_ENOTFOUND, "metrics_find: no metric '%.64s'", name);
}

mlops_metrics_type mlops_metrics_family_type(const mlops_metrics_family *f) {
    return f ? f->type : MLOPS_METRICS_COUNTER;
}
const char *mlops_metrics_family_name(const mlops_metrics_family *f) { return f ? f->name : NULL; }
size_t mlops_metrics_family_n_labels(const mlops_metrics_family *f) { return f ? f->n_labels : 0; }
size_t mlops_metrics_family_n_series(const mlops_metrics_family *f) {
    return f ? atomic_load_explicit(&((mlops_metrics_family *)f)->n_series, memory_order_acquire) : 0;
}

mlops_status mlops_metrics_series(mlops_metrics_family *f, const char *const *values, size_t n,
                                  mlops_series **out) {
    MLOPS__CHECK_ARG("metrics", f);
    MLOPS__CHECK_ARG("metrics", out);
    if (n != f->n_labels || (n && !values)) {
        mlops_status st = check_values(f->name, f->n_labels, values, n);
        if (st) return st;
    }
    for (size_t i = 0; i < n; i++)
        MLOPS__FAIL_IF(!values[i], MLOPS_EINVAL, "metrics: '%s': label value %zu is NULL", f->name, i);
    /* Fast path: values of an existing series are already known to be valid UTF-8. */
    uint64_t h = hash_values(values, n);
    mlops_series *s = NULL;
    if ((s = index_find(f, h, values, NULL))) {
        *out = s;
        return MLOPS_OK;
    }
    mlops_status st = check_values(f->name, f->n_labels, values, n);
    if (st) return st;
    size_t slot = 0;
    pthread_mutex_lock(&f->lock);
    s = index_find(f, h, values, &slot);
    if (!s) st = series_create(f, values, h, slot, &s);
    pthread_mutex_unlock(&f->lock);
    if (!st) *out = s;
    return st;
}

/* ---- hot path -------------------------------------------------------------------------------- */

static inline double u2d(uint64_t u) {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}
static inline uint64_t d2u(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static inline void atomic_add_double(_Atomic uint64_t *a, double v) {
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, d2u(u2d(old) + v), memory_order_relaxed,
                                                  memory_order_relaxed)) {
    }
}

static mlops_status wrong_type(const mlops_series *s, const char *op) {
    MLOPS__FAIL_IF(!s, MLOPS_EINVAL, "metrics: %s: series is NULL", op);
    static const char *const names[] = {"counter", "gauge", "histogram"};
    return mlops__fail(MLOPS_EINVAL, "metrics: %s on '%s', which is a %s", op, s->family->name,
                       names[s->family->type]);
}

mlops_status mlops_metrics_counter_inc(mlops_series *s, double v) {
    if (!s || s->family->type != MLOPS_METRICS_COUNTER) return wrong_type(s, "counter_inc");
    if (!(v >= 0)) /* also NaN */
        return mlops__fail(MLOPS_EINVAL, "metrics: counter '%s' cannot be increased by %g (negative or NaN)",
                           s->family->name, v);
    atomic_add_double(&s->value, v);
    return MLOPS_OK;
}

mlops_status mlops_metrics_gauge_set(mlops_series *s, double v) {
    if (!s || s->family->type != MLOPS_METRICS_GAUGE) return wrong_type(s, "gauge_set");
    atomic_store_explicit(&s->value, d2u(v), memory_order_relaxed);
    return MLOPS_OK;
}

mlops_status mlops_metrics_gauge_add(mlops_series *s, double v) {
    if (!s || s->family->type != MLOPS_METRICS_GAUGE) return wrong_type(s, "gauge_add");
    atomic_add_double(&s->value, v);
    return MLOPS_OK;
}

mlops_status mlops_metrics_histogram_observe(mlops_series *s, double v) {
    if (!s || s->family->type != MLOPS_METRICS_HISTOGRAM) return wrong_type(s, "histogram_observe");
    if (isnan(v))
        return mlops__fail(MLOPS_EINVAL, "metrics: histogram '%s' cannot observe NaN", s->family->name);
    const mlops_metrics_family *f = s->family;
    size_t i = 0, n = f->n_buckets;
    if (n <= 16) {
        while (i < n && v > f->buckets[i])
            i++;
    } else {
        size_t lo = 0, hi = n; /* first bucket with v <= bound */
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (v > f->buckets[mid])
                lo = mid + 1;
            else
                hi = mid;
        }
        i = lo;
    }
    atomic_fetch_add_explicit(&s->counts[i], 1, memory_order_relaxed);
    atomic_add_double(&s->value, v);
    return MLOPS_OK;
}

#define LABELS_PATH(fn, call)                                                                                \
    mlops_status fn(mlops_metrics_family *family, const char *const *values, size_t n, double v) {           \
        mlops_series *s;                                                                                     \
        mlops_status st = mlops_metrics_series(family, values, n, &s);                                       \
        return st ? st : call(s, v);                                                                         \
    }
LABELS_PATH(mlops_metrics_counter_inc_labels, mlops_metrics_counter_inc)
LABELS_PATH(mlops_metrics_gauge_set_labels, mlops_metrics_gauge_set)
LABELS_PATH(mlops_metrics_gauge_add_labels, mlops_metrics_gauge_add)
LABELS_PATH(mlops_metrics_histogram_observe_labels, mlops_metrics_histogram_observe)

mlops_status mlops_series_value(const mlops_series *s, double *out) {
    MLOPS__CHECK_ARG("metrics", s);
    MLOPS__CHECK_ARG("metrics", out);
    if (s->family->type == MLOPS_METRICS_HISTOGRAM)
        return mlops__fail(MLOPS_EINVAL,
                           "series_value: '%s' is a histogram (use mlops_metrics_histogram_snapshot)",
                           s->family->name);
    *out = u2d(atomic_load_explicit(&((mlops_series *)s)->value, memory_order_relaxed));
    return MLOPS_OK;
}

mlops_status mlops_metrics_histogram_snapshot(const mlops_series *cs, uint64_t *cumulative, size_t n,
                                              double *sum, uint64_t *count) {
    mlops_series *s = (mlops_series *)cs;
    if (!s || s->family->type != MLOPS_METRICS_HISTOGRAM) return wrong_type(s, "histogram_snapshot");
    size_t nb = s->family->n_buckets + 1;
    if (cumulative && n < nb)
        return mlops__fail(MLOPS_ESHAPE, "histogram_snapshot: '%s' needs %zu counts, buffer holds %zu",
                           s->family->name, nb, n);
    uint64_t acc = 0;
    for (size_t i = 0; i < nb; i++) {
        acc += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
        if (cumulative) cumulative[i] = acc;
    }
    if (count) *count = acc;
    if (sum) *sum = u2d(atomic_load_explicit(&s->value, memory_order_relaxed));
    return MLOPS_OK;
}

/* ---- rendering ------------------------------------------------------------------------------- */

typedef struct sink {
    char *buf;
    size_t cap; /* bytes available including the NUL */
    size_t len; /* bytes produced (may exceed cap when not growing) */
    bool grow;
    bool oom;
} sink;

static void put(sink *k, const char *s, size_t n) {
    if (k->grow && k->len + n + 1 > k->cap && !k->oom) {
        size_t nc = k->cap ? k->cap : 4096;
        while (nc < k->len + n + 1)
            nc *= 2;
        char *nb = mlops__realloc(k->buf, nc);
        if (!nb)
            k->oom = true;
        else
            k->buf = nb, k->cap = nc;
    }
    if (k->len + n + 1 <= k->cap)
        memcpy(k->buf + k->len, s, n);
    else if (k->len < k->cap)
        memcpy(k->buf + k->len, s, k->cap - 1 - k->len > n ? n : k->cap - 1 - k->len);
    k->len += n;
}
static void puts_(sink *k, const char *s) { put(k, s, strlen(s)); }
static void putc_(sink *k, char c) { put(k, &c, 1); }

static void put_escaped(sink *k, const char *s, bool quote) {
    const char *run = s;
    for (; *s; s++) {
        const char *rep = NULL;
        if (*s == '\\')
            rep = "\\\\";
        else if (*s == '\n')
            rep = "\\n";
        else if (*s == '"' && quote)
            rep = "\\\"";
        if (rep) {
            put(k, run, (size_t)(s - run));
            put(k, rep, 2);
            run = s + 1;
        }
    }
    put(k, run, (size_t)(s - run));
}

static void put_double(sink *k, double v) {
    char tmp[40];
    put(k, tmp, mlops__metrics_fmt_double(tmp, v));
}
static void put_u64(sink *k, uint64_t v) {
    char tmp[24];
    put(k, tmp, fmt_u64(tmp, v));
}

static void put_header(sink *k, mlops_metrics_format fmt, mlops_metrics_type type, const char *name,
                       const char *help) {
    static const char *const tnames[] = {"counter", "gauge", "histogram"};
    size_t nlen = strlen(name);
    if (fmt == MLOPS_METRICS_OPENMETRICS && type == MLOPS_METRICS_COUNTER && has_suffix(name, "_total"))
        nlen -= 6;
    if (help && *help) {
        puts_(k, "# HELP ");
        put(k, name, nlen);
        putc_(k, ' ');
        put_escaped(k, help, fmt == MLOPS_METRICS_OPENMETRICS);
        putc_(k, '\n');
    }
    puts_(k, "# TYPE ");
    put(k, name, nlen);
    putc_(k, ' ');
    puts_(k, tnames[type]);
    putc_(k, '\n');
}

/* Sample name for a counter or gauge family. */
static void put_sample_name(sink *k, mlops_metrics_format fmt, mlops_metrics_type type, const char *name) {
    puts_(k, name);
    if (fmt == MLOPS_METRICS_OPENMETRICS && type == MLOPS_METRICS_COUNTER && !has_suffix(name, "_total"))
        puts_(k, "_total");
}

static void put_labels(sink *k, char *const *names, const char *const *values, size_t n, const char *le) {
    if (!n && !le) return;
    putc_(k, '{');
    for (size_t i = 0; i < n; i++) {
        if (i) putc_(k, ',');
        puts_(k, names[i]);
        put(k, "=\"", 2);
        put_escaped(k, values[i], true);
        putc_(k, '"');
    }
    if (le) {
        if (n) putc_(k, ',');
        put(k, "le=\"", 4);
        puts_(k, le);
        putc_(k, '"');
    }
    putc_(k, '}');
}

static void render_family(sink *k, mlops_metrics_format fmt, mlops_metrics_family *f) {
    size_t ns = atomic_load_explicit(&f->n_series, memory_order_acquire);
    if (!ns) return;
    put_header(k, fmt, f->type, f->name, f->help);
    for (size_t i = 0; i < ns; i++) {
        mlops_series *s = f->series[i];
        const char *const *vals = (const char *const *)s->values;
        if (f->type != MLOPS_METRICS_HISTOGRAM) {
            put_sample_name(k, fmt, f->type, f->name);
            put_labels(k, f->label_names, vals, f->n_labels, NULL);
            putc_(k, ' ');
            put_double(k, u2d(atomic_load_explicit(&s->value, memory_order_relaxed)));
            putc_(k, '\n');
            continue;
        }
        uint64_t acc = 0;
        for (size_t b = 0; b <= f->n_buckets; b++) {
            acc += atomic_load_explicit(&s->counts[b], memory_order_relaxed);
            puts_(k, f->name);
            puts_(k, "_bucket");
            put_labels(k, f->label_names, vals, f->n_labels, f->bucket_le[b]);
            putc_(k, ' ');
            put_u64(k, acc);
            putc_(k, '\n');
        }
        /* OpenMetrics forbids _sum when a bucket bound is negative, and then _count must go too. */
        if (fmt == MLOPS_METRICS_OPENMETRICS && f->buckets[0] < 0) continue;
        puts_(k, f->name);
        puts_(k, "_count");
        put_labels(k, f->label_names, vals, f->n_labels, NULL);
        putc_(k, ' ');
        put_u64(k, acc);
        putc_(k, '\n');
        puts_(k, f->name);
        puts_(k, "_sum");
        put_labels(k, f->label_names, vals, f->n_labels, NULL);
        putc_(k, ' ');
        put_double(k, u2d(atomic_load_explicit(&s->value, memory_order_relaxed)));
        putc_(k, '\n');
    }
}

struct mlops_metrics_writer {
    const mlops_metrics *reg;
    sink *k;
    mlops_metrics_format fmt;
    /* families written by collectors in this render */
    char **names;
    mlops_metrics_type *types;
    size_t n_names, cap_names;
    /* current family */
    bool have_family;
    mlops_metrics_type type;
    char *name;
    char *label_names[MLOPS_METRICS_MAX_LABELS];
    size_t n_labels;
};

static void writer_clear_family(mlops_metrics_writer *w) {
    for (size_t i = 0; i < w->n_labels; i++)
        mlops__free(w->label_names[i]);
    w->n_labels = 0;
    w->name = NULL; /* owned by names[] */
    w->have_family = false;
}

mlops_status mlops_metrics_writer_family(mlops_metrics_writer *w, mlops_metrics_type type, const char *name,
                                         const char *help, const char *const *label_names, size_t n_labels) {
    mlops_status st;
    MLOPS__CHECK_ARG("metrics", w);
    if ((st = check_type_and_name("collector family", type, name, help))) return st;
    if (type == MLOPS_METRICS_HISTOGRAM)
        return mlops__fail(MLOPS_ENOTSUP,
                           "metrics_writer_family '%s': collectors write counters and gauges only", name);
    if ((st = check_labels("collector family", name, type, label_names, n_labels))) return st;
    pthread_mutex_lock(lock_of(&w->reg->lock));
    size_t nf = atomic_load_explicit(&w->reg->n_families, memory_order_acquire);
    const char *clash = NULL;
    for (size_t i = 0; i < nf && !clash; i++)
        if (names_clash(type, name, w->reg->families[i]->type, w->reg->families[i]->name))
            clash = w->reg->families[i]->name;
    pthread_mutex_unlock(lock_of(&w->reg->lock));
    for (size_t i = 0; i < w->n_names && !clash; i++)
        if (names_clash(type, name, w->types[i], w->names[i])) clash = w->names[i];
    if (clash)
        return mlops__fail(MLOPS_EEXIST,
                           "metrics_writer_family '%s': clashes with metric '%s' in the same output", name,
                           clash);
    if (w->n_names == w->cap_names) {
        size_t nc = w->cap_names ? 2 * w->cap_names : 16;
        char **nn = mlops__realloc(w->names, nc * sizeof(char *));
        if (nn) w->names = nn;
        mlops_metrics_type *nt = nn ? mlops__realloc(w->types, nc * sizeof(mlops_metrics_type)) : NULL;
        if (nt) w->types = nt;
        if (!nn || !nt) return mlops__fail(MLOPS_ENOMEM, "metrics_writer_family '%s': out of memory", name);
        w->cap_names = nc;
    }
    char *copy = mlops__strdup(name);
    if (!copy) return mlops__fail(MLOPS_ENOMEM, "metrics_writer_family '%s': out of memory", name);
    char *lcopy[MLOPS_METRICS_MAX_LABELS];
    for (size_t i = 0; i < n_labels; i++)
        if (!(lcopy[i] = mlops__strdup(label_names[i]))) {
            for (size_t j = 0; j < i; j++)
                mlops__free(lcopy[j]);
            mlops__free(copy);
            return mlops__fail(MLOPS_ENOMEM, "metrics_writer_family '%s': out of memory", name);
        }
    writer_clear_family(w);
    w->names[w->n_names] = copy;
    w->types[w->n_names++] = type;
    w->name = copy;
    w->type = type;
    for (size_t i = 0; i < n_labels; i++)
        w->label_names[i] = lcopy[i];
    w->n_labels = n_labels;
    w->have_family = true;
    put_header(w->k, w->fmt, type, name, help);
    return MLOPS_OK;
}

mlops_status mlops_metrics_writer_sample(mlops_metrics_writer *w, const char *const *values, size_t n,
                                         double value) {
    mlops_status st;
    MLOPS__CHECK_ARG("metrics", w);
    if (!w->have_family) return mlops__fail(MLOPS_ESTATE, "metrics_writer_sample: no family started");
    if ((st = check_values(w->name, w->n_labels, values, n))) return st;
    if (w->type == MLOPS_METRICS_COUNTER && value < 0)
        return mlops__fail(MLOPS_EINVAL, "metrics_writer_sample: counter '%s' cannot be negative", w->name);
    put_sample_name(w->k, w->fmt, w->type, w->name);
    put_labels(w->k, w->label_names, values, n, NULL);
    putc_(w->k, ' ');
    put_double(w->k, value);
    putc_(w->k, '\n');
    return MLOPS_OK;
}

static mlops_status render_into(const mlops_metrics *reg, mlops_metrics_format fmt, sink *k) {
    if (fmt != MLOPS_METRICS_PROMETHEUS && fmt != MLOPS_METRICS_OPENMETRICS)
        return mlops__fail(MLOPS_EINVAL, "metrics_render: unknown format %d", (int)fmt);
    mlops_status st = mlops__metrics_busy(reg, "metrics_render");
    if (st) return st;
    pthread_mutex_lock(lock_of(&reg->render_lock));
    mlops__metrics_enter(reg);
    locale_t old = c_locale_enter();
    size_t nf = atomic_load_explicit(&reg->n_families, memory_order_acquire);
    for (size_t i = 0; i < nf; i++)
        render_family(k, fmt, reg->families[i]);
    mlops_metrics_writer w;
    memset(&w, 0, sizeof w);
    w.reg = reg;
    w.k = k;
    w.fmt = fmt;
    for (size_t i = 0; i < reg->n_collectors && !st; i++) {
        st = reg->collectors[i].fn(&w, reg->collectors[i].user);
        writer_clear_family(&w);
        if (st && !*mlops_last_error()) st = mlops__fail(st, "metrics_render: collector %zu failed", i);
    }
    for (size_t i = 0; i < w.n_names; i++)
        mlops__free(w.names[i]);
    mlops__free(w.names);
    mlops__free(w.types);
    if (fmt == MLOPS_METRICS_OPENMETRICS) puts_(k, "# EOF\n");
    c_locale_leave(old);
    mlops__metrics_leave();
    pthread_mutex_unlock(lock_of(&reg->render_lock));
    if (!st && k->oom) st = mlops__fail(MLOPS_ENOMEM, "metrics_render: out of memory");
    return st;
}

mlops_status mlops_metrics_render(const mlops_metrics *reg, mlops_metrics_format fmt, char *buf, size_t buf_len,
                                  size_t *len) {
    MLOPS__CHECK_ARG("metrics", reg);
    MLOPS__CHECK_ARG("metrics", len);
    MLOPS__CHECK_BUF("metrics", buf, buf_len);
    sink k = {buf, buf_len, 0, false, false};
    mlops_status st = render_into(reg, fmt, &k);
    if (st) {
        if (buf_len) buf[0] = 0;
        return st;
    }
    *len = k.len;
    if (k.len + 1 > buf_len) {
        if (buf_len) buf[0] = 0;
        return mlops__fail(MLOPS_ESHAPE, "metrics_render: output is %zu bytes plus NUL, buffer holds %zu",
                           k.len, buf_len);
    }
    buf[k.len] = 0;
    return MLOPS_OK;
}

mlops_status mlops_metrics_render_alloc(const mlops_metrics *reg, mlops_metrics_format fmt, char **out,
                                        size_t *len) {
    MLOPS__CHECK_ARG("metrics", reg);
    MLOPS__CHECK_ARG("metrics", out);
    sink k = {NULL, 0, 0, true, false};
    mlops_status st = render_into(reg, fmt, &k);
    if (!st && !k.buf) { /* empty output */
        k.buf = mlops__malloc(1);
        if (!k.buf) st = mlops__fail(MLOPS_ENOMEM, "metrics_render_alloc: out of memory");
    }
    if (st) {
        mlops__free(k.buf);
        return st;
    }
    k.buf[k.len] = 0;
    *out = k.buf;
    if (len) *len = k.len;
    return MLOPS_OK;
}

mlops_status mlops_metrics_write_file(const mlops_metrics *reg, mlops_metrics_format fmt, const char *path) {
    MLOPS__CHECK_ARG("metrics", reg);
    MLOPS__CHECK_ARG("metrics", path);
    char *text;
    size_t len;
    mlops_status st = mlops_metrics_render_alloc(reg, fmt, &text, &len);
    if (st) return st;
    st = mlops__write_file_atomic(path, text, len);
    mlops__free(text);
    return st;
}

const char *mlops_metrics_content_type(mlops_metrics_format fmt) {
    return fmt == MLOPS_METRICS_OPENMETRICS ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                            : "text/plain; version=0.0.4; charset=utf-8";
}

/* Index of the collector (fn, user), or n_collectors when it was not added. Render lock held. */
static size_t find_collector(const mlops_metrics *reg, mlops_metrics_collect_fn fn, const void *user) {
    size_t i = 0;
    while (i < reg->n_collectors && !(reg->collectors[i].fn == fn && reg->collectors[i].user == user))
        i++;
    return i;
}

mlops_status mlops_metrics_add_collector(mlops_metrics *reg, mlops_metrics_collect_fn fn, void *user) {
    MLOPS__CHECK_ARG("metrics", reg);
    MLOPS__CHECK_ARG("metrics", fn);
    if (mlops__metrics_busy(reg, "metrics_add_collector")) return MLOPS_EBUSY;
    mlops_status st = MLOPS_OK;
    pthread_mutex_lock(&reg->render_lock);
    if (find_collector(reg, fn, user) < reg->n_collectors)
        st = mlops__fail(MLOPS_EEXIST, "metrics_add_collector: this collector is already added");
    else if (reg->n_collectors >= MAX_COLLECTORS)
        st = mlops__fail(MLOPS_ELIMIT, "metrics_add_collector: at most %d collectors", MAX_COLLECTORS);
    else
        reg->collectors[reg->n_collectors++] = (collector){fn, user};
    pthread_mutex_unlock(&reg->render_lock);
    return st;
}

mlops_status mlops_metrics_remove_collector(mlops_metrics *reg, mlops_metrics_collect_fn fn, void *user) {
    MLOPS__CHECK_ARG("metrics", reg);
    MLOPS__CHECK_ARG("metrics", fn);
    if (mlops__metrics_busy(reg, "metrics_remove_collector")) return MLOPS_EBUSY;
    pthread_mutex_lock(&reg->render_lock);
    size_t i = find_collector(reg, fn, user);
    int found = i < reg->n_collectors;
    if (found) {
        memmove(&reg->collectors[i], &reg->collectors[i + 1], (reg->n_collectors - i - 1) * sizeof(collector));
        reg->n_collectors--;
    }
    pthread_mutex_unlock(&reg->render_lock);
    if (!found) return mlops__fail(MLOPS_ENOTFOUND, "metrics_remove_collector: no such collector");
    return MLOPS_OK;
}
