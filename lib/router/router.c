/* A/B router: an immutable, reference-counted variant table replaced
 * copy-on-write by writers; readers copy the pointer under a read lock (writer-preferring, so
 * a table change never waits behind a stream of readers). No user code runs under a lock. See
 * include/mlops/router.h for the assignment scheme and the contract. */
#include "mlops/router.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "internal.h"

/* One variant: shared by every table that lists it, so its statistics survive
 * weight changes. Freed (and its model reference dropped) with the last table. */
typedef struct variant {
    atomic_size_t refs;
    mlops_model *model;
    char name[MLOPS_ROUTER_NAME_MAX];
    atomic_uint_fast64_t assignments, requests, rows, errors, latency_ns;
} rvariant;

typedef struct entry {
    rvariant *v;
    uint32_t weight;
    uint64_t cum; /* W_0 + ... + W_i */
} entry;

typedef struct table {
    atomic_size_t refs;
    size_t n;
    uint64_t total;
    size_t n_features, width, width_margin;
    entry e[];
} table;

struct mlops_router {
    pthread_rwlock_t lock; /* guards the pointer `cur` only */
    pthread_mutex_t write; /* serializes writers */
    table *cur;            /* never NULL */
    uint64_t seed;
    atomic_uint_fast64_t counter; /* unkeyed requests */
};

MLOPS__DEFINE_OPTS_INIT(mlops_router_opts_init, mlops_router_opts, MLOPS_ROUTER_OPTS_INIT,
                        MLOPS_ROUTER_OPTS_VERSION, sizeof(mlops_router_opts))

static void variant_unref(rvariant *v) {
    if (atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1) {
        mlops_model_free(v->model);
        mlops__free(v);
    }
}

static void table_release(table *t) {
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1) return;
    for (size_t i = 0; i < t->n; i++)
        variant_unref(t->e[i].v);
    mlops__free(t);
}

/* Takes a const router: readers only pin the current table. The lock is the
 * one member that changes, and it is not part of the router's observable state. */
static table *table_acquire(const mlops_router *r) {
    pthread_rwlock_rdlock((pthread_rwlock_t *)&r->lock);
    table *t = r->cur;
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    pthread_rwlock_unlock((pthread_rwlock_t *)&r->lock);
    return t;
}

/* A fresh table of `n` entries (refs = 1, variants not yet referenced). */
static table *table_new(size_t n) {
    table *t = mlops__calloc(1, sizeof(table) + n * sizeof(entry));
    if (!t) return NULL;
    atomic_init(&t->refs, 1);
    t->n = n;
    return t;
}

/* Fill cumulative weights and shapes, take a reference to every variant. */
static void table_finish(table *t) {
    uint64_t c = 0;
    for (size_t i = 0; i < t->n; i++) {
        c += t->e[i].weight;
        t->e[i].cum = c;
        atomic_fetch_add_explicit(&t->e[i].v->refs, 1, memory_order_relaxed);
    }
    t->total = c;
    if (t->n) {
        const mlops_model *m = t->e[0].v->model;
        t->n_features = mlops_model_n_features(m);
        t->width = mlops_model_output_width(m, 0);
        t->width_margin = mlops_model_output_width(m, MLOPS_PREDICT_MARGIN);
    }
}

/* Publish `t` as the current table (writer mutex held) and drop the old one. */
static void publish(mlops_router *r, table *t) {
    pthread_rwlock_wrlock(&r->lock);
    table *old = r->cur;
    r->cur = t;
    pthread_rwlock_unlock(&r->lock);
    table_release(old);
}

static long find_in(const table *t, const char *name) {
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->e[i].v->name, name) == 0) return (long)i;
    return -1;
}

/* A rwlock that lets a waiting writer in before new readers (glibc's default prefers readers:
 * under steady predict traffic set_weight waited up to 276 ms). Read sections only copy the
 * table pointer and never nest, which the non-recursive writer-preferring kind requires. */
static int writer_preferring_init(pthread_rwlock_t *lock) {
    pthread_rwlockattr_t a;
    if (pthread_rwlockattr_init(&a) != 0) return 0;
    int ok = pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP) == 0 &&
             pthread_rwlock_init(lock, &a) == 0;
    pthread_rwlockattr_destroy(&a);
    return ok;
}

MLOPS_API mlops_status mlops_router_create(const mlops_router_opts *opts, mlops_router **out) {
    MLOPS__CHECK_ARG("router", out);
    mlops_router_opts o = MLOPS_ROUTER_OPTS_INIT;
    MLOPS__TRY(mlops__opts_copy(&o, opts, sizeof o, MLOPS_ROUTER_OPTS_VERSION, "router", "options"));
    mlops_router *r = mlops__calloc(1, sizeof *r);
    table *t = table_new(0);
    if (!r || !t) {
        mlops__free(r);
        mlops__free(t);
        return mlops__fail(MLOPS_ENOMEM, "router: out of memory creating the router");
    }
    if (!writer_preferring_init(&r->lock)) {
        mlops__free(r);
        mlops__free(t);
        return mlops__fail(MLOPS_ENOMEM, "router: cannot create a lock");
    }
    if (pthread_mutex_init(&r->write, NULL) != 0) {
        pthread_rwlock_destroy(&r->lock);
        mlops__free(r);
        mlops__free(t);
        return mlops__fail(MLOPS_ENOMEM, "router: cannot create a lock");
    }
    r->cur = t;
    r->seed = o.seed;
    atomic_init(&r->counter, 0);
    *out = r;
    return MLOPS_OK;
}

MLOPS_API void mlops_router_free(mlops_router *router) {
    if (!router) return;
    table_release(router->cur);
    pthread_rwlock_destroy(&router->lock);
    pthread_mutex_destroy(&router->write);
    mlops__free(router);
}

static mlops_status check_name(const char *what, const char *name) {
    MLOPS__FAIL_IF(!name, MLOPS_EINVAL, "router: %s: NULL variant name", what);
    MLOPS__FAIL_IF(!*name, MLOPS_EINVAL, "router: %s: empty variant name", what);
    size_t len = strnlen(name, MLOPS_ROUTER_NAME_MAX);
    if (len >= MLOPS_ROUTER_NAME_MAX)
        return mlops__fail(MLOPS_ELIMIT, "router: %s: variant name longer than %d bytes", what,
                           MLOPS_ROUTER_NAME_MAX - 1);
    return MLOPS_OK;
}

MLOPS_API mlops_status mlops_router_add_variant(mlops_router *router, const char *name, mlops_model *model,
                                                uint32_t weight) {
    MLOPS__CHECK_ARG("router", router);
    mlops_status st = check_name("add_variant", name);
    if (st) return st;
    MLOPS__CHECK_ARG("router", model);
    size_t nf = mlops_model_n_features(model), w0 = mlops_model_output_width(model, 0),
           w1 = mlops_model_output_width(model, MLOPS_PREDICT_MARGIN);

    pthread_mutex_lock(&router->write);
    const table *cur = router->cur;
    if (find_in(cur, name) >= 0) {
        st = mlops__fail(MLOPS_EEXIST, "router: add_variant: variant '%s' already exists", name);
    } else if (cur->n >= MLOPS_ROUTER_MAX_VARIANTS) {
        st = mlops__fail(MLOPS_ELIMIT, "router: add_variant '%s': already %d variants", name,
                         MLOPS_ROUTER_MAX_VARIANTS);
    } else if (cur->n && (nf != cur->n_features || w0 != cur->width || w1 != cur->width_margin)) {
        st = mlops__fail(MLOPS_ESHAPE,
                         "router: add_variant '%s': model takes %zu features and gives %zu (margin %zu) "
                         "outputs per row, the variants take %zu and give %zu (margin %zu)",
                         name, nf, w0, w1, cur->n_features, cur->width, cur->width_margin);
    } else if (cur->total + weight > UINT32_MAX) {
        st = mlops__fail(MLOPS_ERANGE, "router: add_variant '%s': total weight %llu + %u exceeds %u", name,
                         (unsigned long long)cur->total, (unsigned)weight, (unsigned)UINT32_MAX);
    }
    if (st) {
        pthread_mutex_unlock(&router->write);
        return st;
    }
    table *t = table_new(cur->n + 1);
    rvariant *v = mlops__calloc(1, sizeof *v);
    if (!t || !v) {
        pthread_mutex_unlock(&router->write);
        mlops__free(t);
        mlops__free(v);
        return mlops__fail(MLOPS_ENOMEM, "router: add_variant '%s': out of memory", name);
    }
    atomic_init(&v->refs, 0);
    v->model = mlops_model_ref(model);
    memcpy(v->name, name, strlen(name) + 1);
    atomic_init(&v->assignments, 0);
    atomic_init(&v->requests, 0);
    atomic_init(&v->rows, 0);
    atomic_init(&v->errors, 0);
    atomic_init(&v->latency_ns, 0);
    for (size_t i = 0; i < cur->n; i++)
        t->e[i] = cur->e[i];
    t->e[cur->n].v = v;
    t->e[cur->n].weight = weight;
    table_finish(t);
    publish(router, t);
    pthread_mutex_unlock(&router->write);
    return MLOPS_OK;
}

/* Check `name`, take the writer lock and find the variant for `what` (its index in *k); the lock
 * is held on success only. */
static mlops_status lock_and_find(mlops_router *router, const char *what, const char *name, long *k) {
    mlops_status st = check_name(what, name);
    if (st) return st;
    pthread_mutex_lock(&router->write);
    *k = find_in(router->cur, name);
    if (*k >= 0) return MLOPS_OK;
    pthread_mutex_unlock(&router->write);
    return mlops__fail(MLOPS_ENOTFOUND, "router: %s: no variant '%s'", what, name);
}

MLOPS_API mlops_status mlops_router_set_weight(mlops_router *router, const char *name, uint32_t weight) {
    MLOPS__CHECK_ARG("router", router);
    long k;
    mlops_status st = lock_and_find(router, "set_weight", name, &k);
    if (st) return st;
    const table *cur = router->cur;
    if (cur->total - cur->e[k].weight + weight > UINT32_MAX)
        st = mlops__fail(MLOPS_ERANGE, "router: set_weight '%s': total weight would be %llu, more than %u",
                         name, (unsigned long long)(cur->total - cur->e[k].weight + weight),
                         (unsigned)UINT32_MAX);
    table *t = st ? NULL : table_new(cur->n);
    if (!st && !t) st = mlops__fail(MLOPS_ENOMEM, "router: set_weight '%s': out of memory", name);
    if (st) {
        pthread_mutex_unlock(&router->write);
        return st;
    }
    for (size_t i = 0; i < cur->n; i++)
        t->e[i] = cur->e[i];
    t->e[k].weight = weight;
    table_finish(t);
    publish(router, t);
    pthread_mutex_unlock(&router->write);
    return MLOPS_OK;
}

MLOPS_API mlops_status mlops_router_remove_variant(mlops_router *router, const char *name) {
    MLOPS__CHECK_ARG("router", router);
    long k;
    mlops_status st = lock_and_find(router, "remove_variant", name, &k);
    if (st) return st;
    const table *cur = router->cur;
    table *t = table_new(cur->n - 1);
    if (!t) st = mlops__fail(MLOPS_ENOMEM, "router: remove_variant '%s': out of memory", name);
    if (st) {
        pthread_mutex_unlock(&router->write);
        return st;
    }
    for (size_t i = 0, j = 0; i < cur->n; i++)
        if ((long)i != k) t->e[j++] = cur->e[i];
    table_finish(t);
    publish(router, t);
    pthread_mutex_unlock(&router->write);
    return MLOPS_OK;
}

/* The sizes of the current table, read under one reference; zeros for a NULL router. */
typedef struct table_sizes {
    size_t n, n_features, width, width_margin;
} table_sizes;

static table_sizes sizes_of(const mlops_router *router) {
    table_sizes s = {0, 0, 0, 0};
    if (!router) return s;
    table *t = table_acquire(router);
    s = (table_sizes){t->n, t->n_features, t->width, t->width_margin};
    table_release(t);
    return s;
}

MLOPS_API size_t mlops_router_n_variants(const mlops_router *router) { return sizes_of(router).n; }

MLOPS_API mlops_status mlops_router_find(const mlops_router *router, const char *name, size_t *index) {
    MLOPS__CHECK_ARG("router", router);
    MLOPS__CHECK_ARG("router", index);
    mlops_status st = check_name("find", name);
    if (st) return st;
    table *t = table_acquire(router);
    long k = find_in(t, name);
    table_release(t);
    if (k < 0) return mlops__fail(MLOPS_ENOTFOUND, "router: no variant '%s'", name);
    *index = (size_t)k;
    return MLOPS_OK;
}

MLOPS_API size_t mlops_router_n_features(const mlops_router *router) { return sizes_of(router).n_features; }

MLOPS_API size_t mlops_router_output_width(const mlops_router *router, uint32_t flags) {
    table_sizes s = sizes_of(router);
    return (flags & MLOPS_PREDICT_MARGIN) ? s.width_margin : s.width;
}

MLOPS_API uint64_t mlops_router_key_hash(const void *key, size_t key_len, uint64_t seed) {
    return XXH3_64bits_withSeed(key, key_len, seed);
}

/* floor(h * total / 2^64) for total < 2^32, exactly, without 128-bit types. */
static uint64_t scale(uint64_t h, uint64_t total) {
    uint64_t hi = h >> 32, lo = h & 0xffffffffu;
    return (hi * total + ((lo * total) >> 32)) >> 32;
}

/* The chosen index in `t` (t->total > 0). */
static size_t choose(mlops_router *r, const table *t, const void *key, size_t key_len) {
    uint64_t h;
    if (key)
        h = XXH3_64bits_withSeed(key, key_len, r->seed);
    else
        h = atomic_fetch_add_explicit(&r->counter, 1, memory_order_relaxed) * UINT64_C(0x9E3779B97F4A7C15);
    uint64_t p = scale(h, t->total);
    size_t lo = 0, hi = t->n - 1; /* first i with cum > p; cum[n-1] = total > p */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->e[mid].cum > p)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static mlops_status check_key(const char *what, const void *key, size_t key_len) {
    MLOPS__FAIL_IF(!key && key_len, MLOPS_EINVAL,
                   "router: %s: NULL key with length %zu (NULL key = unkeyed needs length 0)", what, key_len);
    return MLOPS_OK;
}

MLOPS_API mlops_status mlops_router_assign(mlops_router *router, const void *key, size_t key_len,
                                           size_t *variant) {
    MLOPS__CHECK_ARG("router", router);
    MLOPS__CHECK_ARG("router", variant);
    mlops_status st = check_key("assign", key, key_len);
    if (st) return st;
    table *t = table_acquire(router);
    if (t->total == 0) {
        st = mlops__fail(MLOPS_ESTATE, "router: assign: total weight is 0 (%zu variants)", t->n);
        table_release(t);
        return st;
    }
    size_t i = choose(router, t, key, key_len);
    atomic_fetch_add_explicit(&t->e[i].v->assignments, 1, memory_order_relaxed);
    table_release(t);
    *variant = i;
    return MLOPS_OK;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

MLOPS_API mlops_status mlops_router_predict(mlops_router *router, const void *key, size_t key_len,
                                            const float *x, size_t n_rows, size_t n_cols, uint32_t flags,
                                            float *out, size_t out_len, size_t *variant) {
    MLOPS__CHECK_ARG("router", router);
    mlops_status st = check_key("predict", key, key_len);
    if (st) return st;
    if (flags & ~(uint32_t)MLOPS_PREDICT_MARGIN)
        return mlops__fail(MLOPS_EINVAL, "router: predict: unknown flags 0x%x", (unsigned)flags);
    if (n_rows && (!x || !out)) return mlops__fail(MLOPS_EINVAL, "router: predict: NULL %s", x ? "out" : "x");

    table *t = table_acquire(router);
    size_t width = (flags & MLOPS_PREDICT_MARGIN) ? t->width_margin : t->width;
    if (t->total == 0) {
        st = mlops__fail(MLOPS_ESTATE, "router: predict: total weight is 0 (%zu variants)", t->n);
    } else if (n_cols != t->n_features) {
        st = mlops__fail(MLOPS_ESHAPE, "router: predict: expected %zu features per row, got %zu",
                         t->n_features, n_cols);
    } else if (width && n_rows > SIZE_MAX / width) {
        st = mlops__fail(MLOPS_ELIMIT, "router: predict: %zu rows is too many", n_rows);
    } else if (out_len < n_rows * width) {
        st = mlops__fail(MLOPS_ESHAPE, "router: predict: output holds %zu values, %zu rows need %zu", out_len,
                         n_rows, n_rows * width);
    }
    if (st) {
        table_release(t);
        return st;
    }
    size_t i = choose(router, t, key, key_len);
    rvariant *v = t->e[i].v;
    uint64_t t0 = now_ns();
    st = mlops_model_predict(v->model, x, n_rows, n_cols, flags, out, out_len);
    uint64_t dt = now_ns() - t0;
    atomic_fetch_add_explicit(&v->requests, 1, memory_order_relaxed);
    if (st == MLOPS_OK) {
        atomic_fetch_add_explicit(&v->rows, n_rows, memory_order_relaxed);
        atomic_fetch_add_explicit(&v->latency_ns, dt, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&v->errors, 1, memory_order_relaxed);
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mlops_last_error());
        st = mlops__fail(st, "router: variant '%s': %s", v->name, msg);
    }
    table_release(t);
    if (variant) *variant = i;
    return st;
}

MLOPS_API mlops_status mlops_router_get_variant_stats(const mlops_router *router, size_t index,
                                                      mlops_variant_stats *stats) {
    MLOPS__CHECK_ARG("router", router);
    MLOPS__CHECK_ARG("router", stats);
    table *t = table_acquire(router);
    if (index >= t->n) {
        size_t n = t->n;
        table_release(t);
        return mlops__fail(MLOPS_ERANGE, "router: stats: variant index %zu, the router has %zu", index, n);
    }
    const rvariant *v = t->e[index].v;
    mlops_variant_stats s;
    memset(&s, 0, sizeof s);
    memcpy(s.name, v->name, sizeof s.name);
    s.weight = t->e[index].weight;
    s.assignments = atomic_load_explicit(&v->assignments, memory_order_relaxed);
    s.requests = atomic_load_explicit(&v->requests, memory_order_relaxed);
    s.rows = atomic_load_explicit(&v->rows, memory_order_relaxed);
    s.errors = atomic_load_explicit(&v->errors, memory_order_relaxed);
    s.latency_ns = atomic_load_explicit(&v->latency_ns, memory_order_relaxed);
    table_release(t);
    *stats = s;
    return MLOPS_OK;
}
