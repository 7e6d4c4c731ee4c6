/* The native engine's worker pool (n_threads > 1) under concurrent callers.
 *
 * For n_threads 2, 4 and 8: forests are built and freed in a loop; each life
 * several caller threads predict random slices (1..N_ROWS rows) into a fresh
 * buffer poisoned with NaN, with a guard zone after it, and compare every
 * value bit for bit with XGBoost's own prediction (made once on the main
 * thread; the n_threads = 1 path is checked against it first). The buffer is
 * freed right after the call, so a worker still writing after the call
 * returned is a use-after-free under ASan and a race under TSan. A watchdog
 * ends the process if a call hangs. Last, idle workers must sleep: the
 * process uses almost no CPU while a pool of 8 workers sits idle.
 *
 * Usage: test_pool <models dir> */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xgboost/c_api.h>

#include "engine/engine.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

#define N_ROWS 512
#define N_CALLERS 3
/* valgrind runs one thread at a time: fewer rounds there prove the same protocol. */
#ifdef RUNNING_ON_VALGRIND
#define ON_VALGRIND (RUNNING_ON_VALGRIND != 0)
#else
#define ON_VALGRIND 0
#endif
#define CALLS_PER_CALLER (ON_VALGRIND ? 8 : 40)
#define LIVES (ON_VALGRIND ? 1 : 4)
#define GUARD 8
#define WATCHDOG_SECONDS 240

static atomic_int failures;

#define CHECK(cond, ...)                                                                                     \
    do {                                                                                                     \
        if (!(cond)) {                                                                                       \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                             \
            fprintf(stderr, __VA_ARGS__);                                                                    \
            fputc('\n', stderr);                                                                             \
            atomic_fetch_add(&failures, 1);                                                                  \
        }                                                                                                    \
    } while (0)

static void xgb_ok(int rc, const char *what) {
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", what, XGBGetLastError());
        exit(1);
    }
}

static void on_watchdog(int sig) {
    (void)sig;
    static const char msg[] = "FAIL watchdog: a predict call hung\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

typedef struct {
    const char *name;
    char *json;
    size_t json_len;
    unsigned n_features;
    size_t width;
    float *x;   /* N_ROWS rows */
    float *ref; /* XGBoost's output for x */
} model_case;

static uint64_t next_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void load_case(const char *dir, const char *file, model_case *c) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    BoosterHandle h;
    xgb_ok(XGBoosterCreate(NULL, 0, &h), "create");
    xgb_ok(XGBoosterLoadModel(h, path), path);
    xgb_ok(XGBoosterSetParam(h, "nthread", "1"), "nthread");
    bst_ulong len, n_feat;
    const char *buf;
    xgb_ok(XGBoosterSaveModelToBuffer(h, "{\"format\": \"json\"}", &len, &buf), "save json");
    c->name = file;
    c->json = malloc(len);
    memcpy(c->json, buf, len);
    c->json_len = len;
    xgb_ok(XGBoosterGetNumFeature(h, &n_feat), "features");
    c->n_features = (unsigned)n_feat;
    c->x = malloc(sizeof(float) * N_ROWS * n_feat);
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < N_ROWS * n_feat; i++) {
        uint64_t r = next_rand(&s);
        c->x[i] = r % 17 == 0 ? NAN : (float)((double)(r >> 11) / 9007199254740992.0 * 4.0 - 2.0);
    }
    char arr[256];
    snprintf(arr, sizeof arr,
             "{\"data\": [%llu, true], \"shape\": [%d, %u], \"typestr\": \"<f4\", \"version\": 3}",
             (unsigned long long)(uintptr_t)c->x, N_ROWS, c->n_features);
    const bst_ulong *oshape;
    bst_ulong odim;
    const float *res;
    xgb_ok(XGBoosterPredictFromDense(
               h, arr,
               "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
               "\"iteration_end\": 0, \"strict_shape\": false, \"missing\": NaN, \"cache_id\": 0}",
               NULL, &oshape, &odim, &res),
           "predict");
    size_t n = 1;
    for (bst_ulong d = 0; d < odim; d++)
        n *= oshape[d];
    c->width = n / N_ROWS;
    c->ref = malloc(n * sizeof(float));
    memcpy(c->ref, res, n * sizeof(float));
    XGBoosterFree(h);
}

typedef struct {
    const model_case *c;
    const mlops__forest *f;
    int n_threads;
    uint64_t seed;
} caller_arg;

static void *caller(void *arg) {
    caller_arg *a = arg;
    const model_case *c = a->c;
    uint64_t s = a->seed;
    for (int call = 0; call < CALLS_PER_CALLER; call++) {
        /* Mostly big slices (the pool splits them), some small (inline). */
        size_t n = call % 4 == 3 ? 1 + next_rand(&s) % 40 : N_ROWS / 2 + next_rand(&s) % (N_ROWS / 2 + 1);
        size_t r0 = next_rand(&s) % (N_ROWS - n + 1);
        size_t len = n * c->width;
        float *out = malloc((len + GUARD) * sizeof(float));
        for (size_t i = 0; i < len + GUARD; i++)
            out[i] = NAN;
        mlops_status st = mlops__forest_predict(a->f, c->x + r0 * c->n_features, n, c->n_features, NAN, 0,
                                                a->n_threads, out);
        CHECK(st == MLOPS_OK, "%s: predict failed", c->name);
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < len; i++)
            if (memcmp(&out[i], &c->ref[r0 * c->width + i], sizeof(float)) != 0 && bad++ == 0) first = i;
        for (size_t i = len; i < len + GUARD; i++)
            bad += !isnan(out[i]);
        CHECK(bad == 0, "%s n_threads=%d rows [%zu,%zu): %zu wrong values (first at %zu: %.9g, XGBoost %.9g)",
              c->name, a->n_threads, r0, r0 + n, bad, first, (double)out[first],
              (double)c->ref[r0 * c->width + first]);
        free(out); /* a late worker write is now a use-after-free */
    }
    return NULL;
}

static void run_threads(const model_case *c, int n_threads) {
    for (int life = 0; life < LIVES; life++) {
        mlops__forest *f = NULL;
        if (mlops__forest_build(c->json, c->json_len, 0, 0, &f) != MLOPS_OK) {
            CHECK(0, "%s: build: %s", c->name, mlops_last_error());
            return;
        }
        pthread_t t[N_CALLERS];
        caller_arg args[N_CALLERS];
        for (int k = 0; k < N_CALLERS; k++) {
            args[k] = (caller_arg){c, f, n_threads, 0x1234567u * (uint64_t)(k + 1) + (uint64_t)life};
            CHECK(pthread_create(&t[k], NULL, caller, &args[k]) == 0, "pthread_create");
        }
        for (int k = 0; k < N_CALLERS; k++)
            pthread_join(t[k], NULL);
        mlops__forest_free(f);
    }
}

/* n_threads = 1 must already equal XGBoost, or the comparison means nothing. */
static void check_single(const model_case *c) {
    mlops__forest *f = NULL;
    CHECK(mlops__forest_build(c->json, c->json_len, 0, 0, &f) == MLOPS_OK, "%s: build", c->name);
    if (!f) return;
    float *out = malloc(N_ROWS * c->width * sizeof(float));
    CHECK(mlops__forest_predict(f, c->x, N_ROWS, c->n_features, NAN, 0, 1, out) == MLOPS_OK, "predict");
    CHECK(memcmp(out, c->ref, N_ROWS * c->width * sizeof(float)) == 0, "%s: n_threads=1 differs from XGBoost",
          c->name);
    free(out);
    mlops__forest_free(f);
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Idle workers sleep: 8 started workers, 300 ms idle, well under 100 ms of CPU. */
static void check_idle(const model_case *c) {
    mlops__forest *f = NULL;
    CHECK(mlops__forest_build(c->json, c->json_len, 0, 0, &f) == MLOPS_OK, "%s: build", c->name);
    if (!f) return;
    float *out = malloc(N_ROWS * c->width * sizeof(float));
    CHECK(mlops__forest_predict(f, c->x, N_ROWS, c->n_features, NAN, 0, 8, out) == MLOPS_OK, "predict");
    struct timespec settle = {0, 50 * 1000 * 1000}, idle = {0, 300 * 1000 * 1000};
    nanosleep(&settle, NULL); /* let the workers finish their bounded spin */
    double t0 = cpu_seconds();
    nanosleep(&idle, NULL);
    double used = cpu_seconds() - t0;
    CHECK(used < 0.1, "idle pool of 8 workers used %.3f s CPU in 0.3 s", used);
    free(out);
    mlops__forest_free(f);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "models";
    signal(SIGALRM, on_watchdog);
    alarm(WATCHDOG_SECONDS);
    /* binary:logistic (perfect layout), softprob (several outputs per row),
     * depth 12 (compact layout), categorical (the plain walker) */
    static const char *files[] = {"m14_binary_logistic_gbtree.ubj", "m28_multi_softprob_gbtree.ubj",
                                  "m38_depth12.ubj", "m45_cat_partition.ubj"};
    enum { N_CASES = sizeof files / sizeof files[0] };
    model_case cases[N_CASES];
    for (int i = 0; i < N_CASES; i++) {
        load_case(dir, files[i], &cases[i]);
        check_single(&cases[i]);
    }
    static const int threads[] = {2, 4, 8};
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < N_CASES; i++)
            run_threads(&cases[i], threads[t]);
    check_idle(&cases[0]);
    for (int i = 0; i < N_CASES; i++) {
        free(cases[i].json);
        free(cases[i].x);
        free(cases[i].ref);
    }
    if (atomic_load(&failures)) {
        fprintf(stderr, "%d failures\n", atomic_load(&failures));
        return 1;
    }
    printf("pool: %d models x n_threads {2,4,8} x %d lives x %d callers x %d calls: all equal to XGBoost\n",
           N_CASES, LIVES, N_CALLERS, CALLS_PER_CALLER);
    return 0;
}
