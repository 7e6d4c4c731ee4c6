/* Monitor benchmark: record cost per pair at W = 1000 and mlops_monitor_compute_metrics() (with ROC AUC)
 * at W = 10000. Prints key=value lines; bench_monitor.py runs it and times scikit-learn on the same
 * window in the same run. Usage: bench_monitor WINDOW_DUMP_PATH */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlops/monitor.h"

/* Thread CPU time: the machine is shared, so wall time includes waiting for a core. */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static double wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t s = 88172645463325252ull;
static double urand(void) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    return (double)(s >> 11) * (1.0 / 9007199254740992.0);
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[n / 2];
}

static void die(const char *what) {
    fprintf(stderr, "%s: %s\n", what, mlops_last_error());
    exit(1);
}

/* Best of 5 runs of 1e6 pairs; CPU ns per pair (wall ns in *wall_ns). */
static double bench_record(mlops_monitor_task task, unsigned k, int batch, int with_alert, double *wall_ns) {
    const size_t N = 1000000, W = 1000;
    size_t width = task == MLOPS_MONITOR_MULTICLASS ? k : 1;
    double *p = malloc(N * width * sizeof *p), *y = malloc(N * sizeof *y);
    for (size_t i = 0; i < N; i++) {
        if (task == MLOPS_MONITOR_MULTICLASS) {
            double sum = 0;
            for (size_t j = 0; j < k; j++)
                sum += (p[i * k + j] = urand());
            for (size_t j = 0; j < k; j++)
                p[i * k + j] /= sum;
            y[i] = (double)(i % k);
        } else if (task == MLOPS_MONITOR_BINARY) {
            p[i] = urand();
            y[i] = urand() < p[i];
        } else {
            y[i] = urand() * 10;
            p[i] = y[i] + urand() - 0.5;
        }
    }
    double best = 1e9, best_wall = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        mlops_monitor_opts o = MLOPS_MONITOR_OPTS_INIT;
        o.task = task;
        o.window = W;
        o.n_classes = k;
        mlops_monitor *m;
        if (mlops_monitor_create(&o, &m)) die("create");
        if (with_alert) {
            mlops_alert_rule r = MLOPS_ALERT_RULE_INIT;
            r.metric = task == MLOPS_MONITOR_REGRESSION ? MLOPS_METRIC_MSE : MLOPS_METRIC_ACCURACY;
            r.direction = task == MLOPS_MONITOR_REGRESSION ? MLOPS_ALERT_ABOVE : MLOPS_ALERT_BELOW;
            r.trigger = 0.5;
            r.clear = 0.5;
            if (mlops_monitor_set_alert(m, &r)) die("alert");
        }
        double t0 = now(), w0 = wall();
        if (batch) {
            for (size_t i = 0; i < N; i += 1000)
                if (mlops_monitor_record_batch(m, p + i * width, 1000 * width, y + i, 1000)) die("batch");
        } else {
            for (size_t i = 0; i < N; i++)
                if (mlops_monitor_record(m, p + i * width, width, y[i])) die("record");
        }
        double dt = (now() - t0) / (double)N * 1e9, dw = (wall() - w0) / (double)N * 1e9;
        if (dt < best) best = dt;
        if (dw < best_wall) best_wall = dw;
        mlops_monitor_free(m);
    }
    free(p);
    free(y);
    *wall_ns = best_wall;
    return best;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s WINDOW_DUMP_PATH\n", argv[0]);
        return 2;
    }
    static const struct {
        const char *name;
        mlops_monitor_task task;
        unsigned k;
        int batch, alert;
    } cases[] = {{"record_binary", MLOPS_MONITOR_BINARY, 2, 0, 0},
                 {"record_binary_alert", MLOPS_MONITOR_BINARY, 2, 0, 1},
                 {"record_binary_batch", MLOPS_MONITOR_BINARY, 2, 1, 0},
                 {"record_regression", MLOPS_MONITOR_REGRESSION, 0, 0, 0},
                 {"record_multiclass4", MLOPS_MONITOR_MULTICLASS, 4, 0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double wall_ns,
            cpu_ns = bench_record(cases[i].task, cases[i].k, cases[i].batch, cases[i].alert, &wall_ns);
        printf("%s_ns=%.1f\n%s_wall_ns=%.1f\n", cases[i].name, cpu_ns, cases[i].name, wall_ns);
    }

    /* metrics() with ROC AUC at W = 10000: one new record before each call so the AUC cache is cold. */
    const size_t W = 10000, extra = 400;
    mlops_monitor_opts o = MLOPS_MONITOR_OPTS_INIT;
    o.window = W;
    mlops_monitor *m;
    if (mlops_monitor_create(&o, &m)) die("create");
    double *p = malloc((W + extra) * sizeof *p), *y = malloc((W + extra) * sizeof *y);
    for (size_t i = 0; i < W + extra; i++) {
        p[i] = round(urand() * 1000) / 1000; /* ties, as real scores have */
        y[i] = urand() < p[i];
    }
    if (mlops_monitor_record_batch(m, p, W, y, W)) die("fill");
    double t[400];
    mlops_monitor_metrics r;
    r.version = MLOPS_MONITOR_METRICS_VERSION;
    for (size_t i = 0; i < extra; i++) {
        if (mlops_monitor_record(m, &p[W + i], 1, y[W + i])) die("record");
        double t0 = now();
        if (mlops_monitor_compute_metrics(m, &r)) die("metrics");
        t[i] = (now() - t0) * 1e3;
    }
    printf("metrics_w10000_ms=%.4f\n", median(t, (int)extra));
    double t0 = now();
    for (int i = 0; i < 1000; i++)
        mlops_monitor_compute_metrics(m, &r);
    printf("metrics_w10000_cached_ms=%.5f\n", (now() - t0) / 1000 * 1e3);
    printf("roc_auc=%.17g\naccuracy=%.17g\nlog_loss=%.17g\n", r.roc_auc, r.accuracy, r.log_loss);
    /* The window as it is now (last W records) for the scikit-learn side. */
    FILE *f = fopen(argv[1], "wb");
    if (!f) die("dump");
    fwrite(p + extra, sizeof *p, W, f);
    fwrite(y + extra, sizeof *y, W, f);
    fclose(f);
    mlops_monitor_free(m);
    free(p);
    free(y);
    return 0;
}
