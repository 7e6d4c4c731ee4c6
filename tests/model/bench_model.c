/* Benchmark: the wrapper's cost over XGBoost. mlops_model_predict (engine=xgboost,
 * and the default engine) against XGBoosterPredictFromDense on the same model in
 * the same process, one thread each, for one row and for 4,096-row batches.
 * Prints ratios (times are noisy on shared machines; ratios are what we compare).
 * Run: meson test -C build --setup bench --suite bench -v model-bench */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xgboost/c_api.h>

#include "cli_util.h"
#include "mlops.h"

#define CHECK(x)                                                                                             \
    do {                                                                                                     \
        if ((x) != 0) {                                                                                      \
            fprintf(stderr, "bench: %s failed: %s %s\n", #x, XGBGetLastError(), mlops_last_error());         \
            exit(1);                                                                                         \
        }                                                                                                    \
    } while (0)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static BoosterHandle booster;
static const char *cfg = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
                         "\"strict_shape\": false, \"missing\": NaN, \"cache_id\": 0}";

static void xgb_predict(const float *x, size_t rows, size_t cols, float *out) {
    char ai[192];
    snprintf(ai, sizeof ai,
             "{\"data\": [%llu, true], \"shape\": [%zu, %zu], \"typestr\": \"<f4\", \"version\": 3}",
             (unsigned long long)(uintptr_t)x, rows, cols);
    const bst_ulong *shape;
    bst_ulong dim;
    const float *res;
    CHECK(XGBoosterPredictFromDense(booster, ai, cfg, NULL, &shape, &dim, &res));
    memcpy(out, res, rows * sizeof *out);
}

/* Seconds per call for `calls` calls of predicting `rows` rows starting at row r0. */
static double time_xgb(const float *x, size_t n_rows, size_t cols, size_t rows, int calls, float *out) {
    double t0 = now();
    for (int i = 0; i < calls; i++)
        xgb_predict(x + ((size_t)i * rows % (n_rows - rows + 1)) * cols, rows, cols, out);
    return (now() - t0) / calls;
}

static double time_mlops(const mlops_model *m, const float *x, size_t n_rows, size_t cols, size_t rows,
                         int calls, float *out) {
    double t0 = now();
    for (int i = 0; i < calls; i++)
        CHECK(mlops_model_predict(m, x + ((size_t)i * rows % (n_rows - rows + 1)) * cols, rows, cols, 0, out,
                                  rows));
    return (now() - t0) / calls;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    const char *root = getenv("MLOPS_SOURCE_ROOT");
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/examples/data/breast_cancer.csv", root ? root : ".");
    cli_csv csv;
    if (cli_csv_read(path, &csv, err, sizeof err) != 0) {
        fprintf(stderr, "bench: %s\n", err);
        return 1;
    }
    float *data;
    size_t n, *ids, bad, cols = csv.n_cols - 1;
    CHECK(cli_csv_matrix(&csv, "bench", path, NULL, 0, &data, &n, &ids, &bad));
    float *x = malloc(n * cols * sizeof *x), *y = malloc(n * sizeof *y);
    for (size_t r = 0; r < n; r++) {
        memcpy(x + r * cols, data + r * csv.n_cols, cols * sizeof *x);
        y[r] = data[r * csv.n_cols + cols];
    }
    /* 100 trees of depth 6 on the breast-cancer data, trained here through XGBoost. */
    DMatrixHandle dm;
    CHECK(XGDMatrixCreateFromMat(x, n, cols, NAN, &dm));
    CHECK(XGDMatrixSetFloatInfo(dm, "label", y, n));
    CHECK(XGBoosterCreate(&dm, 1, &booster));
    CHECK(XGBoosterSetParam(booster, "objective", "binary:logistic"));
    CHECK(XGBoosterSetParam(booster, "max_depth", "6"));
    CHECK(XGBoosterSetParam(booster, "nthread", "1"));
    for (int i = 0; i < 100; i++)
        CHECK(XGBoosterUpdateOneIter(booster, i, dm));
    bst_ulong len;
    const char *buf;
    CHECK(XGBoosterSaveModelToBuffer(booster, "{\"format\": \"json\"}", &len, &buf));
    char *json = malloc(len);
    memcpy(json, buf, len);
    mlops_model_opts o = MLOPS_MODEL_OPTS_INIT;
    o.engine = MLOPS_ENGINE_XGBOOST;
    mlops_model *mx = NULL, *ma = NULL;
    CHECK(mlops_model_load_buffer(json, len, &o, &mx));
    CHECK(mlops_model_load_buffer(json, len, NULL, &ma));
    /* A bigger input: the data repeated to 8 x 4096 rows. */
    size_t big = 8 * 4096;
    float *xb = malloc(big * cols * sizeof *xb), *out = malloc(4096 * sizeof *out);
    for (size_t r = 0; r < big; r++)
        memcpy(xb + r * cols, x + (r % n) * cols, cols * sizeof *xb);

    printf("model: breast cancer, 100 trees depth 6, %zu features; default engine: %s\n", cols,
           mlops_engine_name(mlops_model_engine(ma)));
    const int trials = 7;
    struct {
        const char *name;
        size_t rows;
        int calls;
    } cases[] = {{"1 row", 1, 20000}, {"4096-row batch", 4096, 20}};
    for (int c = 0; c < 2; c++) {
        double r_wrap[7], r_auto[7], t_x = 0, t_w = 0, t_a = 0;
        for (int t = 0; t < trials; t++) { /* interleave to share the machine's noise */
            double a = time_xgb(xb, big, cols, cases[c].rows, cases[c].calls, out);
            double b = time_mlops(mx, xb, big, cols, cases[c].rows, cases[c].calls, out);
            double d = time_mlops(ma, xb, big, cols, cases[c].rows, cases[c].calls, out);
            r_wrap[t] = b / a;
            r_auto[t] = a / d;
            t_x += a;
            t_w += b;
            t_a += d;
        }
        qsort(r_wrap, trials, sizeof(double), cmp_d);
        qsort(r_auto, trials, sizeof(double), cmp_d);
        printf(
            "%-15s XGBoosterPredictFromDense %9.2f us/call | mlops(engine=xgboost) %9.2f us/call, "
            "overhead %+.1f%% (median of %d) | mlops(default=%s) %9.2f us/call, %.1fx faster than xgboost\n",
            cases[c].name, t_x / trials * 1e6, t_w / trials * 1e6, (r_wrap[trials / 2] - 1) * 100, trials,
            mlops_engine_name(mlops_model_engine(ma)), t_a / trials * 1e6, r_auto[trials / 2]);
    }
    mlops_model_free(mx);
    mlops_model_free(ma);
    XGBoosterFree(booster);
    XGDMatrixFree(dm);
    free(json);
    free(xb);
    free(out);
    free(x);
    free(y);
    free(data);
    free(ids);
    cli_csv_free(&csv);
    return 0;
}
