/* Native engine benchmark (suite 'bench'): native flattened forest vs
 * XGBoosterPredictFromDense in the same process, one thread each.
 *
 *   meson test -C <builddir> --setup bench --suite bench -v engine-bench
 *
 * Models are trained here with XGBoost's C API (fixed seeds):
 *   synthetic-100x6  100 trees, max_depth 6, 32 features
 *   synthetic-500x8  500 trees, max_depth 8, 32 features
 *   synthetic-1000x10 1,000 trees, max_depth 10, 32 features
 *   breast-cancer    binary:logistic, 100 trees, max_depth 4, on
 *                    examples/data/breast_cancer.csv (last column = label)
 *   predict-csv-200x6 binary:logistic, 200 trees, max_depth 6, 30 features:
 *                    the shape of issue 26's file-scoring benchmark
 *                    (tests/examples/bench_predict_csv.py)
 * Prints ratios only (the machine is shared and noisy: each figure is the best
 * of several repetitions); never fails on speed. MLOPS_BENCH_CACHE,
 * MLOPS_BENCH_ONLY and MLOPS_BENCH_LAYOUT (below) help when iterating. Also checks that both engines
 * give identical outputs. */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xgboost/c_api.h>

#include "engine/engine.h"
#include "engine/native_internal.h"

#define BATCH 4096
#define SINGLE_ROWS 2000
#define REPS 9 /* MLOPS_BENCH_REPS overrides */
static int reps = REPS;

static void xgb_ok(int rc, const char *what) {
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", what, XGBGetLastError());
        exit(1);
    }
}

/* Single-thread figures use this thread's CPU time (the machine is shared:
 * wall time would count time the scheduler gave to other processes); the
 * two-thread scaling uses wall time. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    const char *name;
    BoosterHandle h;
    unsigned n_features;
    float *x; /* BATCH rows of held-out-like inputs */
} bench_model;

static const float *xgb_predict(BoosterHandle h, const float *x, size_t rows, unsigned cols) {
    char arr[256];
    snprintf(arr, sizeof arr,
             "{\"data\": [%llu, true], \"shape\": [%zu, %u], \"typestr\": \"<f4\", \"version\": 3}",
             (unsigned long long)(uintptr_t)x, rows, cols);
    static const char *cfg =
        "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
        "\"strict_shape\": false, \"missing\": NaN, \"cache_id\": 0}";
    const bst_ulong *shape;
    bst_ulong dim;
    const float *res;
    xgb_ok(XGBoosterPredictFromDense(h, arr, cfg, NULL, &shape, &dim, &res), "predict");
    return res;
}

/* MLOPS_BENCH_CACHE=<dir> keeps trained models there between runs (when
 * iterating on the engine); by default every run trains afresh. */
static int cache_path(char *buf, size_t cap, const char *objective, int depth, int rounds, size_t n) {
    const char *dir = getenv("MLOPS_BENCH_CACHE");
    if (!dir || !*dir) return 0;
    snprintf(buf, cap, "%s/bench-%s-%d-%d-%zu.ubj", dir, objective, depth, rounds, n);
    for (char *p = buf + strlen(dir); *p; p++)
        if (*p == ':') *p = '_';
    return 1;
}

static void train(BoosterHandle *h, const float *x, const float *y, size_t n, unsigned f,
                  const char *objective, int depth, int rounds) {
    char cached[4096];
    int use_cache = cache_path(cached, sizeof cached, objective, depth, rounds, n);
    if (use_cache) {
        FILE *fp = fopen(cached, "rb");
        if (fp) {
            fclose(fp);
            xgb_ok(XGBoosterCreate(NULL, 0, h), "create");
            xgb_ok(XGBoosterLoadModel(*h, cached), "load cached model");
            xgb_ok(XGBoosterSetParam(*h, "nthread", "1"), "nthread");
            return;
        }
    }
    DMatrixHandle dm;
    xgb_ok(XGDMatrixCreateFromMat(x, n, f, NAN, &dm), "dmatrix");
    xgb_ok(XGDMatrixSetFloatInfo(dm, "label", y, n), "label");
    xgb_ok(XGBoosterCreate(&dm, 1, h), "create");
    char d[16];
    snprintf(d, sizeof d, "%d", depth);
    xgb_ok(XGBoosterSetParam(*h, "objective", objective), "objective");
    xgb_ok(XGBoosterSetParam(*h, "max_depth", d), "depth");
    xgb_ok(XGBoosterSetParam(*h, "eta", "0.1"), "eta");
    xgb_ok(XGBoosterSetParam(*h, "tree_method", "hist"), "hist");
    xgb_ok(XGBoosterSetParam(*h, "min_child_weight", "0"), "mcw");
    xgb_ok(XGBoosterSetParam(*h, "seed", "7"), "seed");
    for (int i = 0; i < rounds; i++)
        xgb_ok(XGBoosterUpdateOneIter(*h, i, dm), "train");
    XGDMatrixFree(dm);
    xgb_ok(XGBoosterSetParam(*h, "nthread", "1"), "nthread");
    if (use_cache) xgb_ok(XGBoosterSaveModel(*h, cached), "save cached model");
}

static void synthetic(bench_model *m, const char *name, int depth, int rounds, gsl_rng *r) {
    size_t n = 20000;
    unsigned f = 32;
    float *x = malloc(n * f * sizeof(float)), *y = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (unsigned j = 0; j < f; j++) {
            float v = (float)gsl_ran_gaussian(r, 1.0);
            if (gsl_rng_uniform(r) < 0.02) v = NAN;
            x[i * f + j] = v;
            if (!isnan(v)) s += sin((double)v * (j + 1)) * (j % 3 == 0 ? 1.0 : 0.3) + (double)v * v * 0.1;
        }
        y[i] = (float)(s + gsl_ran_gaussian(r, 0.3));
    }
    train(&m->h, x, y, n, f, "reg:squarederror", depth, rounds);
    m->name = name;
    m->n_features = f;
    m->x = malloc((size_t)BATCH * f * sizeof(float));
    memcpy(m->x, x, (size_t)BATCH * f * sizeof(float)); /* first rows, with some shuffling below */
    for (size_t i = 0; i < (size_t)BATCH * f; i++)
        if (gsl_rng_uniform(r) < 0.5) m->x[i] = (float)gsl_ran_gaussian(r, 1.0);
    free(x);
    free(y);
}

/* Issue 26's model (bench_predict_csv.py: 30 normal features, label
 * x0 + x1 * x2 + noise > 0), trained here with the C API. */
static void predict_csv(bench_model *m, gsl_rng *r) {
    size_t n = 50000;
    unsigned f = 30;
    float *x = malloc(n * f * sizeof(float)), *y = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        for (unsigned j = 0; j < f; j++)
            x[i * f + j] = (float)gsl_ran_gaussian(r, 1.0);
        double s = x[i * f] + (double)x[i * f + 1] * x[i * f + 2] + gsl_ran_gaussian(r, 1.0);
        y[i] = s > 0 ? 1.0f : 0.0f;
    }
    train(&m->h, x, y, n, f, "binary:logistic", 6, 200);
    m->name = "predict-csv-200x6";
    m->n_features = f;
    m->x = malloc((size_t)BATCH * f * sizeof(float));
    for (size_t i = 0; i < (size_t)BATCH * f; i++)
        m->x[i] = (float)gsl_ran_gaussian(r, 1.0);
    free(x);
    free(y);
}

static int breast_cancer(bench_model *m, const char *path, gsl_rng *r) {
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "cannot open %s\n", path);
        return 0;
    }
    char line[8192];
    size_t n = 0, cap = 1024;
    unsigned cols = 0;
    float *data = malloc(cap * 32 * sizeof(float));
    if (!fgets(line, sizeof line, fp)) return 0; /* header */
    for (char *p = line; *p; p++)
        cols += *p == ',';
    cols += 1;
    while (fgets(line, sizeof line, fp)) {
        if (n == cap) {
            cap *= 2;
            data = realloc(data, cap * cols * sizeof(float));
        }
        char *p = line;
        for (unsigned j = 0; j < cols; j++) {
            data[n * cols + j] = strtof(p, &p);
            if (*p == ',') p++;
        }
        n++;
    }
    fclose(fp);
    unsigned f = cols - 1;
    float *x = malloc(n * f * sizeof(float)), *y = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        memcpy(x + i * f, data + i * cols, f * sizeof(float));
        y[i] = data[i * cols + f];
    }
    train(&m->h, x, y, n, f, "binary:logistic", 4, 100);
    m->name = "breast-cancer";
    m->n_features = f;
    m->x = malloc((size_t)BATCH * f * sizeof(float));
    for (size_t i = 0; i < BATCH; i++) /* dataset rows, resampled with small jitter */
        for (unsigned j = 0; j < f; j++)
            m->x[i * f + j] = x[gsl_rng_uniform_int(r, n) * f + j] * (float)(1.0 + gsl_ran_gaussian(r, 0.02));
    free(data);
    free(x);
    free(y);
    return 1;
}

static void run(bench_model *m) {
    bst_ulong len;
    const char *buf;
    xgb_ok(XGBoosterSaveModelToBuffer(m->h, "{\"format\": \"json\"}", &len, &buf), "json");
    size_t json_len = len;
    char *json = malloc(len);
    memcpy(json, buf, len);
    xgb_ok(XGBoosterSaveModelToBuffer(m->h, "{\"format\": \"ubj\"}", &len, &buf), "ubj");
    size_t ubj_len = len;
    mlops__forest *f;
    double t0 = now();
    if (mlops__forest_build(json, json_len, 0, 0, &f) != MLOPS_OK) {
        fprintf(stderr, "%s: build failed: %s\n", m->name, mlops_last_error());
        exit(1);
    }
    double t_build = now() - t0;
    /* MLOPS_BENCH_LAYOUT=plain / perfect: every tree on the compact layout /
     * every tree at most MLOPS__PERFECT_MAX_DEPTH deep on the perfect one (to
     * measure the per-tree layout choice against). */
    const char *layout = getenv("MLOPS_BENCH_LAYOUT");
    if (layout && (strcmp(layout, "plain") == 0 || strcmp(layout, "perfect") == 0)) {
        mlops__forest_free(f);
        if (mlops__forest_build_keep(json, json_len, 0, 0, &f) != MLOPS_OK ||
            !mlops__forest_layout(f, layout[1] == 'l' ? MLOPS__LAYOUT_PLAIN : MLOPS__LAYOUT_PERFECT))
            exit(1);
    }
    unsigned nf = m->n_features;
    float *ref = malloc(BATCH * sizeof(float)), *out = malloc(BATCH * sizeof(float));
    memcpy(ref, xgb_predict(m->h, m->x, BATCH, nf), BATCH * sizeof(float));

    /* identical outputs */
    size_t bad = 0;
    mlops__forest_predict(f, m->x, BATCH, nf, NAN, 0, 1, out);
    for (size_t i = 0; i < BATCH; i++)
        bad += memcmp(&out[i], &ref[i], sizeof(float)) != 0;
    mlops__forest_predict(f, m->x, BATCH, nf, NAN, 0, 2, out);
    for (size_t i = 0; i < BATCH; i++)
        bad += memcmp(&out[i], &ref[i], sizeof(float)) != 0;
    f->isa = MLOPS__ISA_SCALAR; /* the portable batch kernels too */
    mlops__forest_predict(f, m->x, BATCH, nf, NAN, 0, 1, out);
    for (size_t i = 0; i < BATCH; i++)
        bad += memcmp(&out[i], &ref[i], sizeof(float)) != 0;
    f->isa = MLOPS__ISA_AUTO;

    size_t perfect = 0, depth_runs = 0;
    for (size_t g = 0; g < f->n_segs; g++) {
        perfect += f->segs[g].perfect ? f->segs[g].t1 - f->segs[g].t0 : 0;
        depth_runs += f->segs[g].perfect;
    }
    printf("%s: build %.1f ms, non-identical outputs %zu; layout: %zu of %zu trees perfect, in %zu runs (%zu "
           "runs in all)\n",
           m->name, t_build * 1e3, bad, perfect, f->n_trees, depth_runs, f->n_segs);
    /* single row, rows with a missing value and rows without timed apart;
     * native with the lane kernels and with the plain walker */
    size_t *rows_of[2], n_of[2] = {0, 0};
    rows_of[0] = malloc(BATCH * sizeof(size_t));
    rows_of[1] = malloc(BATCH * sizeof(size_t));
    for (size_t i = 0; i < BATCH; i++) {
        int has_nan = 0;
        for (unsigned j = 0; j < nf; j++)
            has_nan |= isnan(m->x[i * nf + j]);
        if (n_of[has_nan] < SINGLE_ROWS / 2) rows_of[has_nan][n_of[has_nan]++] = i;
    }
    int simd = f->fast;
    volatile float sink = 0;
    for (int kind = 0; kind < 2; kind++) {
        size_t n1 = n_of[kind];
        const size_t *rows = rows_of[kind];
        if (n1 == 0) continue;
        /* native: the kernels this CPU runs, the portable ones (f->isa
         * forced scalar; the same as the first without AVX-512), the plain
         * walker */
        double best_x1 = 1e9, best_n1[3] = {1e9, 1e9, 1e9};
        mlops__isa isa = f->isa;
        for (int rep = 0; rep < reps; rep++) {
            t0 = cpu_now();
            for (size_t i = 0; i < n1; i++)
                sink += xgb_predict(m->h, m->x + rows[i] * nf, 1, nf)[0];
            double tx = (cpu_now() - t0) / (double)n1;
            for (int s = 0; s < 3; s++) {
                f->fast = s == 2 ? 0 : simd;
                f->isa = s == 1 ? MLOPS__ISA_SCALAR : isa;
                t0 = cpu_now();
                for (int k = 0; k < 5; k++)
                    for (size_t i = 0; i < n1; i++) {
                        float o;
                        mlops__forest_predict(f, m->x + rows[i] * nf, 1, nf, NAN, 0, 1, &o);
                        sink += o;
                    }
                double tn = (cpu_now() - t0) / (5.0 * (double)n1);
                if (tn < best_n1[s]) best_n1[s] = tn;
            }
            f->fast = simd;
            f->isa = isa;
            if (tx < best_x1) best_x1 = tx;
        }
        printf("  single row %-3s xgboost %8.2f us   native %8.3f us   ratio %6.1fx (target >= 25x)   [scalar "
               "kernels %.3f us, %.1fx; plain walker %.3f us, %.1fx]\n",
               kind ? "NaN" : "", best_x1 * 1e6, best_n1[0] * 1e6, best_x1 / best_n1[0], best_n1[1] * 1e6,
               best_x1 / best_n1[1], best_n1[2] * 1e6, best_x1 / best_n1[2]);
    }
    free(rows_of[0]);
    free(rows_of[1]);
    /* batch */
    double best_xb = 1e9, best_nb = 1e9, best_sb = 1e9, best_cb = 1e9, best_w1 = 1e9, best_w2 = 1e9,
           best_ub = 1e9;
    int binned = f->bnodes && mlops__isa_detect() == MLOPS__ISA_AVX512;
    for (int rep = 0; rep < reps; rep++) {
        t0 = cpu_now();
        sink += xgb_predict(m->h, m->x, BATCH, nf)[0];
        double tx = cpu_now() - t0;
        t0 = cpu_now();
        mlops__forest_predict(f, m->x, BATCH, nf, NAN, 0, 1, out);
        double tn = cpu_now() - t0;
        f->fast = 0;
        t0 = cpu_now();
        mlops__forest_predict(f, m->x, BATCH, nf, NAN, 0, 1, out);
        double ts = cpu_now() - t0;
        f->fast = simd;
        f->isa = MLOPS__ISA_SCALAR; /* the portable kernels, against the SIMD ones (issue 18) */
        t0 = cpu_now();
        mlops__forest_predict(f, m->x, BATCH, nf, NAN, 0, 1, out);
        double tc = cpu_now() - t0;
        f->isa = MLOPS__ISA_AUTO;
        if (binned) { /* the AVX-512 kernel the binned one replaced (issue 26), where there are bins */
            f->no_bins = 1;
            t0 = cpu_now();
            mlops__forest_predict(f, m->x, BATCH, nf, NAN, 0, 1, out);
            double tu = cpu_now() - t0;
            f->no_bins = 0;
            if (tu < best_ub) best_ub = tu;
        }
        /* wall time, back to back calls (a serving loop with steady batches) */
        double tw1 = 1e9, tw2 = 1e9;
        for (int k = 0; k < 4; k++) {
            t0 = now();
            mlops__forest_predict(f, m->x, BATCH, nf, NAN, 0, 1, out);
            double t = now() - t0;
            if (t < tw1) tw1 = t;
        }
        for (int k = 0; k < 4; k++) {
            t0 = now();
            mlops__forest_predict(f, m->x, BATCH, nf, NAN, 0, 2, out);
            double t = now() - t0;
            if (t < tw2) tw2 = t;
        }
        if (tx < best_xb) best_xb = tx;
        if (tn < best_nb) best_nb = tn;
        if (ts < best_sb) best_sb = ts;
        if (tc < best_cb) best_cb = tc;
        if (tw1 < best_w1) best_w1 = tw1;
        if (tw2 < best_w2) best_w2 = tw2;
    }
    (void)sink;
    printf("  batch %d      xgboost %8.2f ms   native %8.3f ms   ratio %6.1fx (target >= 5x)   per row %.3f "
           "us   "
           "[scalar kernels %.3f ms, %.1fx; plain walker %.3f ms, %.1fx]\n",
           BATCH, best_xb * 1e3, best_nb * 1e3, best_xb / best_nb, best_nb * 1e6 / BATCH, best_cb * 1e3,
           best_xb / best_cb, best_sb * 1e3, best_xb / best_sb);
    if (binned)
        printf("  batch 4096     binned kernel %.3f ms; without bins (4 vector levels + scalar lanes) %.3f ms, "
               "%.1fx: binned %.2fx faster\n",
               best_nb * 1e3, best_ub * 1e3, best_xb / best_ub, best_ub / best_nb);
    printf(
        "  batch wall     native 1 thread %8.3f ms   2 threads %8.3f ms   scaling %4.2fx (target >= 1.8x)\n",
        best_w1 * 1e3, best_w2 * 1e3, best_w1 / best_w2);
    printf("  model bytes    native %zu   xgboost json %zu   ubj %zu   (native/ubj %.2f)\n",
           mlops__forest_bytes(f), json_len, ubj_len, (double)mlops__forest_bytes(f) / (double)ubj_len);
    fflush(stdout);
    mlops__forest_free(f);
    free(json);
    free(ref);
    free(out);
}

/* MLOPS_BENCH_ONLY=<substring> runs only the shapes whose name contains it
 * (when iterating on the engine; the inputs stay the same). */
static int wanted(const char *name) {
    const char *only = getenv("MLOPS_BENCH_ONLY");
    return !only || !*only || strstr(name, only) != NULL;
}

int main(int argc, char **argv) {
    const char *csv = argc > 1 ? argv[1] : "examples/data/breast_cancer.csv";
    XGBSetGlobalConfig("{\"verbosity\": 0}");
    if (getenv("MLOPS_BENCH_REPS") && atoi(getenv("MLOPS_BENCH_REPS")) > 0)
        reps = atoi(getenv("MLOPS_BENCH_REPS"));
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 42);
    bench_model m;
    static const struct {
        const char *name;
        int depth, rounds;
    } shapes[] = {{"synthetic-100x6", 6, 100}, {"synthetic-500x8", 8, 500}, {"synthetic-1000x10", 10, 1000}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        synthetic(&m, shapes[s].name, shapes[s].depth, shapes[s].rounds, r);
        if (wanted(shapes[s].name)) run(&m);
        XGBoosterFree(m.h);
        free(m.x);
    }
    if (wanted("breast-cancer") && breast_cancer(&m, csv, r)) {
        run(&m);
        XGBoosterFree(m.h);
        free(m.x);
    }
    if (wanted("predict-csv-200x6")) { /* its own generator: the shapes above keep their inputs */
        gsl_rng *r2 = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(r2, 26);
        predict_csv(&m, r2);
        run(&m);
        XGBoosterFree(m.h);
        free(m.x);
        gsl_rng_free(r2);
    }
    gsl_rng_free(r);
    return 0;
}
