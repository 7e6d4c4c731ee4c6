/* Drift benchmarks (suite 'bench'): ratios against SciPy measured in the same run.
 *  1. continuous monitoring: R=10000, W=1000, 30 features, 20000 rows, report every 100 rows,
 *     against recomputing scipy.stats.ks_2samp(method='asymp') per feature per report;
 *  2. one-off mlops_drift_ks_2samp(10000 vs 1000 values, auto) against scipy.stats.ks_2samp;
 *  3. update cost per observation per feature as R doubles from 1k to 64k (W = 1000).
 * Also prints the state bytes per feature. Never fails on time. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mlops/drift.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state = 12345;
static double unif(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) * 0x1p-53;
}
static double normal(void) { return sqrt(-2 * log(unif())) * cos(2 * M_PI * unif()); }

static double scipy_time(const char *args) {
    const char *root = getenv("MLOPS_SOURCE_ROOT");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/drift/bench_scipy.py %s", root ? root : ".", args);
    FILE *p = popen(cmd, "r");
    double t = NAN;
    if (!p || fscanf(p, "%lf", &t) != 1) t = NAN;
    if (p) pclose(p);
    return t;
}

int main(void) {
    enum { R = 10000, W = 1000, F = 30, STREAM = 20000, EVERY = 100 };
    /* 1. continuous monitoring */
    double *ref = malloc((size_t)R * F * sizeof *ref), *rows = malloc((size_t)STREAM * F * sizeof *rows);
    for (size_t i = 0; i < (size_t)R * F; i++)
        ref[i] = normal();
    for (size_t i = 0; i < (size_t)STREAM * F; i++)
        rows[i] = normal() + 0.05;
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    o.window = W;
    o.method = MLOPS_DRIFT_KS_ASYMP;
    mlops_drift *d = NULL;
    if (mlops_drift_create(F, NULL, NULL, &o, &d) || mlops_drift_set_reference(d, ref, R, F)) {
        fprintf(stderr, "setup failed: %s\n", mlops_last_error());
        return 1;
    }
    mlops_drift_feature_result res[F];
    mlops_drift_summary sum;
    double t0 = now(), t_upd = 0;
    size_t reports = 0;
    for (size_t r = 0; r < STREAM; r += EVERY) {
        double a = now();
        mlops_drift_update(d, rows + r * F, EVERY, F);
        t_upd += now() - a;
        if (r + EVERY >= W) {
            mlops_drift_report(d, res, F, &sum);
            reports++;
        }
    }
    double t_lib = now() - t0;
    size_t bytes = mlops_drift_feature_bytes(d, 0);
    mlops_drift_free(d);
    int sp_reports = 20;
    char args[256];
    snprintf(args, sizeof args, "monitor %d %d %d %d", R, W, F, sp_reports);
    double sp_per_report = scipy_time(args);
    double sp_total = sp_per_report * (double)reports;
    printf("1. monitoring R=%d W=%d F=%d, %d rows, %zu reports; p-values on both sides by the asymptotic "
           "method (libmlops: mlops_drift_opts.method = MLOPS_DRIFT_KS_ASYMP; scipy: "
           "ks_2samp(method='asymp')):\n",
           R, W, F, STREAM, reports);
    printf("   libmlops %.3f s total (updates %.3f s, %.2f us/report incl. p-values)\n", t_lib, t_upd,
           1e6 * (t_lib - t_upd) / (double)reports);
    printf("   scipy ks_2samp asymp per feature per report: %.3f s/report (timed over %d), %.2f s for %zu "
           "reports\n",
           sp_per_report, sp_reports, sp_total, reports);
    printf("   ratio scipy/libmlops = %.1fx (goal >= 100x)\n", sp_total / t_lib);
    /* 2. one-off test */
    enum { N1 = 10000, N2 = 1000, REP = 30 };
    double *x = malloc(N1 * sizeof *x), *y = malloc(N2 * sizeof *y), s, p;
    for (int i = 0; i < N1; i++)
        x[i] = normal();
    for (int i = 0; i < N2; i++)
        y[i] = normal() + 0.05;
    mlops_drift_ks_2samp(x, N1, y, N2, MLOPS_DRIFT_KS_TWO_SIDED, MLOPS_DRIFT_KS_AUTO, &s, &p);
    t0 = now();
    for (int i = 0; i < REP; i++)
        mlops_drift_ks_2samp(x, N1, y, N2, MLOPS_DRIFT_KS_TWO_SIDED, MLOPS_DRIFT_KS_AUTO, &s, &p);
    double t_one = (now() - t0) / REP;
    /* SciPy gets the same samples (the exact path's cost grows with the statistic) */
    char dpath[] = "/tmp/mlops-drift-bench-XXXXXX";
    int fd = mkstemp(dpath);
    FILE *df = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (df) {
        fwrite(x, sizeof *x, N1, df);
        fwrite(y, sizeof *y, N2, df);
        fclose(df);
    }
    snprintf(args, sizeof args, "oneoff %d %d %d %s", N1, N2, REP, df ? dpath : "-");
    double sp_one = scipy_time(args);
    if (df) unlink(dpath);
    printf(
        "2. one-off ks_2samp %d vs %d (auto = exact, same samples, D = %.4f): libmlops %.3f ms, scipy %.3f "
        "ms, ratio %.1fx (goal >= 2x)\n",
        N1, N2, s, 1e3 * t_one, 1e3 * sp_one, sp_one / t_one);
    t0 = now();
    for (int i = 0; i < REP; i++)
        mlops_drift_ks_2samp(x, N1, y, N2, MLOPS_DRIFT_KS_TWO_SIDED, MLOPS_DRIFT_KS_ASYMP, &s, &p);
    printf("   (asymp: libmlops %.3f ms)\n", 1e3 * (now() - t0) / REP);
    /* 3. update cost vs reference size */
    printf("3. update cost per observation per feature (W=%d, 1 feature, steady state):\n", W);
    double base = NAN;
    for (int rs = 1000; rs <= 64000; rs *= 2) {
        double *rr = malloc((size_t)rs * sizeof *rr);
        for (int i = 0; i < rs; i++)
            rr[i] = normal();
        enum { U = 400000 };
        double *u = malloc(U * sizeof *u);
        for (int i = 0; i < U; i++)
            u[i] = normal();
        mlops_drift_opts o1 = MLOPS_DRIFT_OPTS_INIT;
        o1.window = W;
        mlops_drift *d1 = NULL;
        mlops_drift_create(1, NULL, NULL, &o1, &d1);
        mlops_drift_set_reference(d1, rr, (size_t)rs, 1);
        mlops_drift_update(d1, u, W, 1); /* fill the window */
        t0 = now();
        mlops_drift_update(d1, u + W, U - W, 1);
        double ns = 1e9 * (now() - t0) / (double)(U - W);
        if (rs == 1000) base = ns;
        printf("   R=%6d: %7.1f ns/update (x%.2f vs R=1000; log2 R = %.1f), state %zu bytes\n", rs, ns,
               ns / base, log2(rs), mlops_drift_feature_bytes(d1, 0));
        mlops_drift_free(d1);
        free(rr);
        free(u);
    }
    printf("memory: %zu bytes per feature at R=%d, W=%d (O(R + W))\n", bytes, R, W);
    free(ref);
    free(rows);
    free(x);
    free(y);
    return 0;
}
