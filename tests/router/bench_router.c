/* Router writer latency under reader load (suite 'bench'): mlops_router_set_weight() while
 * READERS threads call mlops_router_predict() (one row, keyed) as fast as they can. Prints the
 * set_weight latency percentiles, and as the ratio against the anchor measured in the same run:
 * one single-row predict on an idle router. Never fails on speed (the goal, p99 <= 1 ms, is
 * printed beside the figure). Also runs, with fewer rounds, as the unit test 'router-writer'
 * (which checks only that every call succeeds).
 *   meson test -C <builddir> --setup bench --suite bench router-bench -v */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlops/router.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

#define READERS 4
#define NF 30

static mlops_router *router;
static atomic_int stop;
static atomic_long reads, failures;
static float X[NF];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *reader(void *arg) {
    unsigned k = (unsigned)(size_t)arg * 7919u;
    float out[1];
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        k++;
        if (mlops_router_predict(router, &k, sizeof k, X, 1, NF, 0, out, 1, NULL) != MLOPS_OK)
            atomic_fetch_add(&failures, 1);
        atomic_fetch_add_explicit(&reads, 1, memory_order_relaxed);
    }
    return NULL;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 2000, bench = argc > 2 && strcmp(argv[2], "bench") == 0;
#ifdef RUNNING_ON_VALGRIND
    if (RUNNING_ON_VALGRIND && rounds > 20) rounds = 20; /* valgrind runs one thread at a time */
#endif
    const char *root = getenv("MLOPS_FIXTURES");
    char path[2048];
    snprintf(path, sizeof path, "%s/models/binary_logistic.json", root ? root : "tests/fixtures");
    mlops_model *m = NULL;
    if (mlops_model_load(path, NULL, &m) != MLOPS_OK || mlops_router_create(NULL, &router) != MLOPS_OK ||
        mlops_router_add_variant(router, "A", m, 1) != MLOPS_OK ||
        mlops_router_add_variant(router, "B", m, 1) != MLOPS_OK) {
        fprintf(stderr, "setup: %s\n", mlops_last_error());
        return 1;
    }
    for (int i = 0; i < NF; i++)
        X[i] = (float)i * 0.25f;
    /* Anchor: one keyed single-row predict on an idle router (median of batches; bench run only). */
    double anchor[9] = {0};
    float out[1];
    for (int r = 0; r < (bench ? 9 : 0); r++) {
        double t0 = now();
        for (unsigned k = 0; k < 2000; k++)
            mlops_router_predict(router, &k, sizeof k, X, 1, NF, 0, out, 1, NULL);
        anchor[r] = (now() - t0) / 2000;
    }
    qsort(anchor, 9, sizeof(double), cmp);
    pthread_t t[READERS];
    for (size_t i = 0; i < READERS; i++)
        pthread_create(&t[i], NULL, reader, (void *)i);
    while (atomic_load(&reads) < READERS) { /* readers running */
        struct timespec ms = {0, 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    double *lat = malloc((size_t)rounds * sizeof *lat);
    int bad = 0;
    for (int i = 0; i < rounds; i++) {
        double t0 = now();
        bad += mlops_router_set_weight(router, "B", 1 + (uint32_t)(i % 7)) != MLOPS_OK;
        lat[i] = now() - t0;
        struct timespec gap = {0, 50 * 1000}; /* readers run between writes */
        nanosleep(&gap, NULL);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < READERS; i++)
        pthread_join(t[i], NULL);
    qsort(lat, (size_t)rounds, sizeof(double), cmp);
    double p50 = lat[rounds / 2], p99 = lat[(size_t)(rounds * 0.99)], worst = lat[rounds - 1];
    printf("router set_weight under %d reader threads (%d calls, %ld predicts meanwhile):\n", READERS, rounds,
           atomic_load(&reads));
    printf("  p50 %8.1f us  p99 %8.1f us  max %8.1f us   (goal p99 <= 1000 us)\n", p50 * 1e6, p99 * 1e6,
           worst * 1e6);
    if (bench)
        printf("  p99 / single-row predict (anchor %.2f us): %.1fx\n", anchor[4] * 1e6, p99 / anchor[4]);
    else
        printf("  (unit run: timings are informational only)\n");
    free(lat);
    mlops_router_free(router);
    mlops_model_free(m);
    if (bad || atomic_load(&failures)) {
        fprintf(stderr, "%d set_weight failures, %ld predict failures\n", bad, atomic_load(&failures));
        return 1;
    }
    return 0;
}
