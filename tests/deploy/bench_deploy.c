/* Hot-path cost of the deployment: single-row mlops_deploy_predict against mlops_model_predict on the
 * same model in the same run (ratios, never pass/fail on time), with 1 and 2 threads.
 * meson test -C <builddir> --setup bench --suite bench deploy-bench -v */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlops/deploy.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

enum { MODE_MODEL, MODE_PLAIN, MODE_KEYED_CANARY, MODE_SHADOW };
static const char *mode_name[] = {"model_predict", "deploy_predict (keyless, no canary)",
                                  "deploy_predict (keyed, canary 0.1)", "deploy_predict (shadow on)"};

typedef struct {
    mlops_model *m;
    mlops_deploy *d;
    const float *x;
    size_t n_rows, n_cols;
    int mode;
    long iters;
    double secs;
} job;

static void *run(void *arg) {
    job *j = arg;
    float out;
    double t0 = now();
    for (long i = 0; i < j->iters; i++) {
        const float *row = j->x + (size_t)(i % (long)j->n_rows) * j->n_cols;
        mlops_status st;
        if (j->mode == MODE_MODEL) {
            st = mlops_model_predict(j->m, row, 1, j->n_cols, 0, &out, 1);
        } else {
            uint64_t key = (uint64_t)i;
            int keyed = j->mode == MODE_KEYED_CANARY;
            st = mlops_deploy_predict(j->d, keyed ? &key : NULL, keyed ? sizeof key : 0, row, 1, j->n_cols, 0,
                                      &out, 1, NULL);
        }
        if (st != MLOPS_OK) {
            fprintf(stderr, "predict failed: %s\n", mlops_last_error());
            exit(1);
        }
    }
    j->secs = now() - t0;
    return NULL;
}

static double measure(mlops_model *m, mlops_deploy *d, const float *x, size_t n, size_t c, int mode,
                      int threads, long iters) {
    job j[2];
    pthread_t t[2];
    for (int i = 0; i < threads; i++) {
        j[i] = (job){m, d, x, n, c, mode, iters, 0};
        pthread_create(&t[i], NULL, run, &j[i]);
    }
    double worst = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        if (j[i].secs > worst) worst = j[i].secs;
    }
    return worst / (double)iters * 1e9; /* ns per prediction per thread */
}

int main(void) {
    const char *root = getenv("MLOPS_SOURCE_ROOT");
    char p[4096];
    size_t n = 150, c = 30;
    snprintf(p, sizeof p, "%s/tests/fixtures/models/binary_logistic.json", root ? root : ".");
    mlops_model *a = NULL, *b = NULL;
    if (mlops_model_load(p, NULL, &a) != MLOPS_OK) return fprintf(stderr, "%s\n", mlops_last_error()), 1;
    snprintf(p, sizeof p, "%s/tests/fixtures/models/dart_binary.json", root ? root : ".");
    if (mlops_model_load(p, NULL, &b) != MLOPS_OK) return fprintf(stderr, "%s\n", mlops_last_error()), 1;
    snprintf(p, sizeof p, "%s/tests/deploy/fixtures/bc.x.f32", root ? root : ".");
    FILE *f = fopen(p, "rb");
    float *x = malloc(n * c * sizeof *x);
    if (!f || fread(x, sizeof *x, n * c, f) != n * c) return fprintf(stderr, "cannot read %s\n", p), 1;
    fclose(f);
    mlops_deploy *d = NULL;
    mlops_deploy_create(a, NULL, &d);
    mlops_deploy_stage(d, b);
    long iters = 400000;
    printf("single-row predict, binary_logistic (20 trees), %ld rows per thread, median of 5\n", iters);
    for (int threads = 1; threads <= 2; threads++) {
        double base = 0;
        for (int mode = MODE_MODEL; mode <= MODE_SHADOW; mode++) {
            mlops_deploy_set_canary(d, mode == MODE_KEYED_CANARY ? 0.1 : 0.0);
            mlops_deploy_set_shadow(d, mode == MODE_SHADOW);
            double v[5];
            for (int r = 0; r < 5; r++)
                v[r] = measure(a, d, x, n, c, mode, threads, iters);
            for (int i = 1; i < 5; i++)
                for (int k = i; k > 0 && v[k] < v[k - 1]; k--) {
                    double t = v[k];
                    v[k] = v[k - 1];
                    v[k - 1] = t;
                }
            if (mode == MODE_MODEL) base = v[2];
            printf("  %d thread(s)  %-38s %8.1f ns/row  ratio %.2f\n", threads, mode_name[mode], v[2],
                   v[2] / base);
        }
    }
    mlops_deploy_free(d);
    mlops_model_free(a);
    mlops_model_free(b);
    free(x);
    return 0;
}
