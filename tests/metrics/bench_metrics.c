/* Benchmark: counter increment and histogram observation (uncontended and with 2 threads on one
 * series), rendering 1,000 series. Prints "name ns_per_op" lines; bench_metrics.py adds the
 * prometheus_client reference measured in the same run and prints ratios. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlops/metrics.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct job {
    mlops_series *s;
    int hist;
    long n;
    double secs;
} job;

static void *run(void *arg) {
    job *j = arg;
    double t0 = now();
    if (j->hist == 2) /* prediction-like durations, 0 to 1 ms, over the latency buckets */
        for (long i = 0; i < j->n; i++)
            mlops_metrics_histogram_observe(j->s, (double)(i & 1023) * 1e-6);
    else if (j->hist)
        for (long i = 0; i < j->n; i++)
            mlops_metrics_histogram_observe(j->s, (double)(i & 1023) * 0.01);
    else
        for (long i = 0; i < j->n; i++)
            mlops_metrics_counter_inc(j->s, 1.0);
    j->secs = now() - t0;
    return NULL;
}

/* Best of `reps` runs of `threads` threads doing n ops each; ns per op per thread. */
static double bench(mlops_series *s, int hist, int threads, long n, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        pthread_t th[2];
        job j[2];
        for (int t = 0; t < threads; t++) {
            j[t] = (job){s, hist, n, 0};
            pthread_create(&th[t], NULL, run, &j[t]);
        }
        double worst = 0;
        for (int t = 0; t < threads; t++) {
            pthread_join(th[t], NULL);
            if (j[t].secs > worst) worst = j[t].secs;
        }
        if (worst / (double)n < best) best = worst / (double)n;
    }
    return best * 1e9;
}

static double bench_render(mlops_metrics *reg, int reps) {
    char *buf = malloc(1 << 22);
    size_t len;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (mlops_metrics_render(reg, MLOPS_METRICS_PROMETHEUS, buf, 1 << 22, &len)) abort();
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    free(buf);
    return best * 1e9;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 20000000;
    mlops_metrics *reg;
    mlops_metrics_create(NULL, &reg);
    mlops_metrics_family *c, *h;
    mlops_metrics_register(reg, MLOPS_METRICS_COUNTER, "bench_total", "c", NULL, &c);
    mlops_metrics_register(reg, MLOPS_METRICS_HISTOGRAM, "bench_seconds", "h", NULL, &h);
    mlops_series *cs, *hs;
    mlops_metrics_series(c, NULL, 0, &cs);
    mlops_metrics_series(h, NULL, 0, &hs);
    printf("counter_inc %.2f\n", bench(cs, 0, 1, n, 5));
    printf("histogram_observe %.2f\n", bench(hs, 1, 1, n, 5));
    /* The standard prediction histogram: 21 latency buckets, 1 us to 1.05 s. */
    mlops_metrics_std *std;
    mlops_metrics_std_create(reg, NULL, &std);
    printf("histogram_observe_latency %.2f\n", bench(mlops_metrics_std_duration(std), 2, 1, n, 5));
    printf("counter_inc_2threads %.2f\n", bench(cs, 0, 2, n / 2, 3));
    printf("histogram_observe_2threads %.2f\n", bench(hs, 1, 2, n / 2, 3));

    /* 1,000 series: one counter family with 1,000 label values (like the Python side). */
    mlops_metrics *r2;
    mlops_metrics_create(NULL, &r2);
    const char *lab[] = {"key"};
    mlops_metrics_family_opts o;
    mlops_metrics_family_opts_init(&o, MLOPS_METRICS_FAMILY_OPTS_VERSION);
    o.label_names = lab;
    o.n_labels = 1;
    mlops_metrics_family *f;
    mlops_metrics_register(r2, MLOPS_METRICS_COUNTER, "render_total", "Rendering bench.", &o, &f);
    for (int i = 0; i < 1000; i++) {
        char v[32];
        snprintf(v, sizeof v, "series-%d", i);
        const char *vp = v;
        mlops_metrics_counter_inc_labels(f, &vp, 1, i * 1.5);
    }
    printf("render_1000_counter_series %.0f\n", bench_render(r2, 200));
    /* 1,000 histogram series (13 lines each) for scale. */
    mlops_metrics *r3;
    mlops_metrics_create(NULL, &r3);
    mlops_metrics_register(r3, MLOPS_METRICS_HISTOGRAM, "render_seconds", "Rendering bench.", &o, &f);
    for (int i = 0; i < 1000; i++) {
        char v[32];
        snprintf(v, sizeof v, "series-%d", i);
        const char *vp = v;
        mlops_metrics_histogram_observe_labels(f, &vp, 1, i * 0.003);
    }
    printf("render_1000_histogram_series %.0f\n", bench_render(r3, 50));
    mlops_metrics_free(r3);
    mlops_metrics_free(r2);
    mlops_metrics_free(reg);
    return 0;
}
