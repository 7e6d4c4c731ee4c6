/* Check tests for the metrics module: registry, validation, escaping, number formatting, locale
 * independence, render buffers, collectors, standard metrics and an 8-thread concurrency test.
 *
 * Expected exposition texts below are written by hand from the format specifications
 * (https://prometheus.io/docs/instrumenting/exposition_formats/ and OpenMetrics 1.0); the real
 * tools (promtool, prometheus_client's parsers, a Prometheus server) check the output in
 * tests/metrics/check_exposition.py and tests/metrics/test_prometheus_server.py. */
#include <check.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlops/metrics.h"
#include "harness.h"

static char *render(mlops_metrics *reg, mlops_metrics_format fmt) {
    char *text = NULL;
    size_t len = 0;
    ck_assert_int_eq(mlops_metrics_render_alloc(reg, fmt, &text, &len), MLOPS_OK);
    ck_assert_uint_eq(strlen(text), len);
    return text;
}

static mlops_metrics *new_reg(void) {
    mlops_metrics *reg = NULL;
    ck_assert_int_eq(mlops_metrics_create(NULL, &reg), MLOPS_OK);
    ck_assert_ptr_nonnull(reg);
    return reg;
}

static mlops_metrics_family *reg_family(mlops_metrics *reg, mlops_metrics_type t, const char *name,
                                        const char *help, const char *const *labels, size_t n) {
    mlops_metrics_family_opts o = MLOPS_METRICS_FAMILY_OPTS_INIT;
    o.label_names = labels;
    o.n_labels = n;
    mlops_metrics_family *f = NULL;
    ck_assert_int_eq(mlops_metrics_register(reg, t, name, help, &o, &f), MLOPS_OK);
    return f;
}

static mlops_series *series1(mlops_metrics_family *f, const char *v) {
    mlops_series *s = NULL;
    ck_assert_int_eq(mlops_metrics_series(f, v ? &v : NULL, v ? 1 : 0, &s), MLOPS_OK);
    return s;
}

/* ---- exact exposition ------------------------------------------------------------------------ */

static mlops_metrics *sample_registry(void) {
    mlops_metrics *reg = new_reg();
    const char *const hl[] = {"method", "path"};
    mlops_metrics_family *req = reg_family(reg, MLOPS_METRICS_COUNTER, "http_requests_total",
                                           "Requests \\ with\nnewline \"q\"", hl, 2);
    const char *const vals[] = {"GET", "/a\"b\\c\nd"};
    ck_assert_int_eq(mlops_metrics_counter_inc_labels(req, vals, 2, 3), MLOPS_OK);
    mlops_metrics_family *temp = reg_family(reg, MLOPS_METRICS_GAUGE, "temp", NULL, NULL, 0);
    ck_assert_int_eq(mlops_metrics_gauge_set(series1(temp, NULL), 0.1), MLOPS_OK);
    const char *const kl[] = {"k"};
    mlops_metrics_family *g = reg_family(reg, MLOPS_METRICS_GAUGE, "g", "", kl, 1);
    ck_assert_int_eq(mlops_metrics_gauge_set(series1(g, "nan"), NAN), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_gauge_set(series1(g, "pinf"), INFINITY), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_gauge_set(series1(g, "ninf"), -INFINITY), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_gauge_set(series1(g, "small"), 1e-05), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_gauge_set(series1(g, "big"), 1e21), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_gauge_set(series1(g, "neg"), -2.5), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_gauge_set(series1(g, "third"), 1.0 / 3.0), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_gauge_add(series1(g, "third"), 0.0), MLOPS_OK);
    mlops_metrics_family_opts ho = MLOPS_METRICS_FAMILY_OPTS_INIT;
    const double b[] = {0.1, 1};
    ho.buckets = b;
    ho.n_buckets = 2;
    mlops_metrics_family *h = NULL;
    ck_assert_int_eq(mlops_metrics_register(reg, MLOPS_METRICS_HISTOGRAM, "lat_seconds", "Latency.", &ho, &h),
                     0);
    mlops_series *hs = series1(h, NULL);
    ck_assert_int_eq(mlops_metrics_histogram_observe(hs, 0.0625), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_histogram_observe(hs, 0.5), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_histogram_observe(hs, 4), MLOPS_OK);
    mlops_metrics_family *plain = reg_family(reg, MLOPS_METRICS_COUNTER, "plain", "P.", NULL, 0);
    ck_assert_int_eq(mlops_metrics_counter_inc(series1(plain, NULL), 1), MLOPS_OK);
    /* A labelled family without series renders nothing. */
    reg_family(reg, MLOPS_METRICS_GAUGE, "empty_family", "none yet", kl, 1);
    return reg;
}

/* What both exposition formats write for the samples of the registry above, between the counter's
 * HELP and TYPE lines and the last counter's sample. */
#define EXPECTED_SHARED                                                                                      \
    "http_requests_total{method=\"GET\",path=\"/a\\\"b\\\\c\\nd\"} 3\n"                                      \
    "# TYPE temp gauge\n"                                                                                    \
    "temp 0.1\n"                                                                                             \
    "# TYPE g gauge\n"                                                                                       \
    "g{k=\"nan\"} NaN\n"                                                                                     \
    "g{k=\"pinf\"} +Inf\n"                                                                                   \
    "g{k=\"ninf\"} -Inf\n"                                                                                   \
    "g{k=\"small\"} 1e-05\n"                                                                                 \
    "g{k=\"big\"} 1e+21\n"                                                                                   \
    "g{k=\"neg\"} -2.5\n"                                                                                    \
    "g{k=\"third\"} 0.3333333333333333\n"                                                                    \
    "# HELP lat_seconds Latency.\n"                                                                          \
    "# TYPE lat_seconds histogram\n"                                                                         \
    "lat_seconds_bucket{le=\"0.1\"} 1\n"                                                                     \
    "lat_seconds_bucket{le=\"1\"} 2\n"                                                                       \
    "lat_seconds_bucket{le=\"+Inf\"} 3\n"                                                                    \
    "lat_seconds_count 3\n"                                                                                  \
    "lat_seconds_sum 4.5625\n"                                                                               \
    "# HELP plain P.\n"                                                                                      \
    "# TYPE plain counter\n"

static const char *expected_prom = "# HELP http_requests_total Requests \\\\ with\\nnewline \"q\"\n"
                                   "# TYPE http_requests_total counter\n" EXPECTED_SHARED "plain 1\n";

static const char *expected_om = "# HELP http_requests Requests \\\\ with\\nnewline \\\"q\\\"\n"
                                 "# TYPE http_requests counter\n" EXPECTED_SHARED "plain_total 1\n"
                                 "# EOF\n";

START_TEST(test_render_exact) {
    mlops_metrics *reg = sample_registry();
    char *p = render(reg, MLOPS_METRICS_PROMETHEUS);
    ck_assert_str_eq(p, expected_prom);
    char *o = render(reg, MLOPS_METRICS_OPENMETRICS);
    ck_assert_str_eq(o, expected_om);
    mlops_free(p);
    mlops_free(o);
    ck_assert_int_eq(mlops_metrics_render_alloc(reg, (mlops_metrics_format)7, &p, NULL), MLOPS_EINVAL);
    ck_assert_str_eq(mlops_metrics_content_type(MLOPS_METRICS_PROMETHEUS),
                     "text/plain; version=0.0.4; charset=utf-8");
    mlops_metrics_free(reg);
}
END_TEST

START_TEST(test_render_buffer) {
    mlops_metrics *reg = sample_registry();
    size_t want = strlen(expected_prom), len = 0;
    char *buf = malloc(want + 1);
    /* Too small by one (no room for the NUL): ESHAPE, the needed length, "" in the buffer. */
    memset(buf, 'x', want + 1);
    ck_assert_int_eq(mlops_metrics_render(reg, MLOPS_METRICS_PROMETHEUS, buf, want, &len), MLOPS_ESHAPE);
    ck_assert_uint_eq(len, want);
    ck_assert_str_eq(buf, "");
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "buffer holds"));
    len = 0;
    ck_assert_int_eq(mlops_metrics_render(reg, MLOPS_METRICS_PROMETHEUS, NULL, 0, &len), MLOPS_ESHAPE);
    ck_assert_uint_eq(len, want);
    ck_assert_int_eq(mlops_metrics_render(reg, MLOPS_METRICS_PROMETHEUS, buf, want + 1, &len), MLOPS_OK);
    ck_assert_str_eq(buf, expected_prom);
    ck_assert_int_eq(mlops_metrics_render(reg, MLOPS_METRICS_PROMETHEUS, NULL, 5, &len), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_metrics_render(NULL, MLOPS_METRICS_PROMETHEUS, buf, want + 1, &len), MLOPS_EINVAL);
    free(buf);

    /* Empty registry: empty text (Prometheus) or just "# EOF" (OpenMetrics). */
    mlops_metrics *empty = new_reg();
    char *t = render(empty, MLOPS_METRICS_PROMETHEUS);
    ck_assert_str_eq(t, "");
    mlops_free(t);
    t = render(empty, MLOPS_METRICS_OPENMETRICS);
    ck_assert_str_eq(t, "# EOF\n");
    mlops_free(t);

    /* write_file: atomic replace; the file holds exactly the rendering. */
    char path[] = "/tmp/mlops_metrics_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(mlops_metrics_write_file(reg, MLOPS_METRICS_OPENMETRICS, path), MLOPS_OK);
    FILE *f = fopen(path, "rb");
    char got[4096];
    size_t n = fread(got, 1, sizeof got - 1, f);
    got[n] = 0;
    fclose(f);
    ck_assert_str_eq(got, expected_om);
    ck_assert_int_eq(mlops_metrics_write_file(reg, MLOPS_METRICS_OPENMETRICS, "/nonexistent-dir/x.prom"),
                     MLOPS_EIO);
    unlink(path);
    mlops_metrics_free(empty);
    mlops_metrics_free(reg);
}
END_TEST

/* ---- locale independence --------------------------------------------------------------------- */

/* Make a locale whose decimal separator is ',' available: the system one if installed, else compile
 * de_DE.UTF-8 from /usr/share/i18n with localedef into a temporary LOCPATH (no root needed). */
static const char *use_comma_locale(char *tmpdir) {
    static const char *const names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8"};
    for (size_t i = 0; i < 4; i++)
        if (setlocale(LC_ALL, names[i])) return names[i];
    if (!mkdtemp(tmpdir)) return NULL;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "localedef -i de_DE -f UTF-8 %s/de_DE.UTF-8 >/dev/null 2>&1", tmpdir);
    if (system(cmd) != 0) return NULL;
    setenv("LOCPATH", tmpdir, 1);
    return setlocale(LC_ALL, "de_DE.UTF-8") ? "de_DE.UTF-8 (generated with localedef into LOCPATH)" : NULL;
}

START_TEST(test_locale_independent) {
    mlops_metrics *reg = sample_registry();
    char tmpdir[] = "/tmp/mlops_locale_XXXXXX";
    const char *loc = use_comma_locale(tmpdir);
    if (!loc) {
        fprintf(stderr, "SKIP locale test: no comma-decimal locale available and localedef failed\n");
        mlops_metrics_free(reg);
        return;
    }
    char probe[32];
    snprintf(probe, sizeof probe, "%g", 0.5);
    ck_assert_msg(strcmp(probe, "0,5") == 0, "locale %s is active but printf gives %s", loc, probe);
    /* Histogram created under the comma locale: its le labels must still use '.'. */
    mlops_metrics_family_opts ho = MLOPS_METRICS_FAMILY_OPTS_INIT;
    const double b[] = {0.25, 2.5};
    ho.buckets = b;
    ho.n_buckets = 2;
    mlops_metrics_family *h = NULL;
    ck_assert_int_eq(mlops_metrics_register(reg, MLOPS_METRICS_HISTOGRAM, "loc_seconds", "x", &ho, &h), 0);
    ck_assert_int_eq(mlops_metrics_histogram_observe(series1(h, NULL), 0.75), MLOPS_OK);
    char *p = render(reg, MLOPS_METRICS_PROMETHEUS);
    ck_assert_ptr_nonnull(strstr(p, expected_prom));
    ck_assert_ptr_nonnull(strstr(p, "loc_seconds_bucket{le=\"0.25\"} 0\nloc_seconds_bucket{le=\"2.5\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(p, "loc_seconds_sum 0.75\n"));
    mlops_free(p);
    /* The caller's locale is restored after the render. */
    snprintf(probe, sizeof probe, "%g", 0.5);
    ck_assert_str_eq(probe, "0,5");
    setlocale(LC_ALL, "C");
    if (strstr(loc, "generated")) ck_assert_int_eq(test_tmpdir_remove(tmpdir), 0);
    mlops_metrics_free(reg);
}
END_TEST

/* ---- validation -------------------------------------------------------------------------------- */

START_TEST(test_names_validated) {
    mlops_metrics *reg = new_reg();
    char *before = render(reg, MLOPS_METRICS_PROMETHEUS);
    mlops_metrics_family *f = (mlops_metrics_family *)0x1;
    static const char *const bad_names[] = {"", "1abc", "a-b", "a b", "é", "a.b"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        ck_assert_int_eq(mlops_metrics_register(reg, MLOPS_METRICS_GAUGE, bad_names[i], "h", NULL, &f),
                         MLOPS_EINVAL);
        ck_assert_ptr_nonnull(strstr(mlops_last_error(), "invalid metric name"));
    }
    ck_assert_int_eq(mlops_metrics_register(reg, MLOPS_METRICS_GAUGE, NULL, "h", NULL, &f), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_metrics_register(reg, (mlops_metrics_type)9, "ok", "h", NULL, &f), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_metrics_register(reg, MLOPS_METRICS_GAUGE, "ok", "bad \xff utf8", NULL, &f),
                     MLOPS_EINVAL);
    ck_assert_ptr_eq(f, (mlops_metrics_family *)0x1); /* out untouched on failure */

    struct {
        const char *labels[2];
        size_t n;
        mlops_metrics_type type;
        const char *msg;
    } cases[] = {
        {{"1x", NULL}, 1, MLOPS_METRICS_GAUGE, "invalid label name"},
        {{"a:b", NULL}, 1, MLOPS_METRICS_GAUGE, "invalid label name"},
        {{"__name__", NULL}, 1, MLOPS_METRICS_GAUGE, "reserved"},
        {{"__x", NULL}, 1, MLOPS_METRICS_COUNTER, "reserved"},
        {{"le", NULL}, 1, MLOPS_METRICS_HISTOGRAM, "reserved for histogram"},
        {{"a", "a"}, 2, MLOPS_METRICS_GAUGE, "appears twice"},
        {{"a", NULL}, 2, MLOPS_METRICS_GAUGE, "is NULL"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mlops_metrics_family_opts o = MLOPS_METRICS_FAMILY_OPTS_INIT;
        o.label_names = cases[i].labels;
        o.n_labels = cases[i].n;
        ck_assert_int_eq(mlops_metrics_register(reg, cases[i].type, "lbl", "h", &o, &f), MLOPS_EINVAL);
        ck_assert_msg(strstr(mlops_last_error(), cases[i].msg), "case %zu: %s", i, mlops_last_error());
    }
    /* 'le' is fine outside histograms; 'quantile' is fine (no summaries here). */
    const char *le[] = {"le"}, *q[] = {"quantile"};
    reg_family(reg, MLOPS_METRICS_GAUGE, "le_gauge", "h", le, 1);
    reg_family(reg, MLOPS_METRICS_COUNTER, "q_total", "h", q, 1);

    /* Bad buckets. */
    mlops_metrics_family_opts o = MLOPS_METRICS_FAMILY_OPTS_INIT;
    const double nonincr[] = {1, 1}, inf[] = {1, INFINITY}, nan_[] = {NAN};
    o.buckets = nonincr;
    o.n_buckets = 2;
    ck_assert_int_eq(mlops_metrics_register(reg, MLOPS_METRICS_HISTOGRAM, "h1", "h", &o, &f), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "strictly increasing"));
    o.buckets = inf;
    ck_assert_int_eq(mlops_metrics_register(reg, MLOPS_METRICS_HISTOGRAM, "h1", "h", &o, &f), MLOPS_EINVAL);
    o.buckets = nan_;
    o.n_buckets = 1;
    ck_assert_int_eq(mlops_metrics_register(reg, MLOPS_METRICS_HISTOGRAM, "h1", "h", &o, &f), MLOPS_EINVAL);
    o.n_buckets = 0;
    ck_assert_int_eq(mlops_metrics_register(reg, MLOPS_METRICS_HISTOGRAM, "h1", "h", &o, &f), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_metrics_register(reg, MLOPS_METRICS_GAUGE, "g1", "h", &o, &f), MLOPS_EINVAL);
    o = (mlops_metrics_family_opts)MLOPS_METRICS_FAMILY_OPTS_INIT;
    o.version = 99;
    ck_assert_int_eq(mlops_metrics_register(reg, MLOPS_METRICS_GAUGE, "g1", "h", &o, &f), MLOPS_EVERSION);

    /* Clashes: same name, histogram suffixes, counter with/without _total. */
    reg_family(reg, MLOPS_METRICS_HISTOGRAM, "x", "h", NULL, 0);
    reg_family(reg, MLOPS_METRICS_COUNTER, "c_total", "h", NULL, 0);
    static const struct {
        mlops_metrics_type t;
        const char *name;
    } clash[] = {{MLOPS_METRICS_HISTOGRAM, "x"},    {MLOPS_METRICS_GAUGE, "x_count"},
                 {MLOPS_METRICS_GAUGE, "x_bucket"}, {MLOPS_METRICS_COUNTER, "x_sum"},
                 {MLOPS_METRICS_GAUGE, "c"},        {MLOPS_METRICS_COUNTER, "c"},
                 {MLOPS_METRICS_GAUGE, "c_total"}};
    for (size_t i = 0; i < sizeof clash / sizeof clash[0]; i++) {
        ck_assert_int_eq(mlops_metrics_register(reg, clash[i].t, clash[i].name, "h", NULL, &f), MLOPS_EEXIST);
        ck_assert_ptr_nonnull(strstr(mlops_last_error(), "clashes"));
    }
    mlops_metrics_family *found = NULL;
    ck_assert_int_eq(mlops_metrics_find(reg, "x", &found), MLOPS_OK);
    ck_assert_str_eq(mlops_metrics_family_name(found), "x");
    ck_assert_int_eq(mlops_metrics_family_type(found), MLOPS_METRICS_HISTOGRAM);
    ck_assert_int_eq(mlops_metrics_find(reg, "nope", &found), MLOPS_ENOTFOUND);
    mlops_free(before);
    mlops_metrics_free(reg);

    /* max_families. */
    mlops_metrics_opts ro;
    mlops_metrics_opts_init(&ro, MLOPS_METRICS_OPTS_VERSION);
    ro.max_families = 2;
    ck_assert_int_eq(mlops_metrics_create(&ro, &reg), MLOPS_OK);
    reg_family(reg, MLOPS_METRICS_GAUGE, "a", "h", NULL, 0);
    reg_family(reg, MLOPS_METRICS_GAUGE, "b", "h", NULL, 0);
    before = render(reg, MLOPS_METRICS_PROMETHEUS);
    ck_assert_int_eq(mlops_metrics_register(reg, MLOPS_METRICS_GAUGE, "c", "h", NULL, &f), MLOPS_ELIMIT);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "max_families"));
    char *after = render(reg, MLOPS_METRICS_PROMETHEUS);
    ck_assert_str_eq(before, after);
    mlops_free(before);
    mlops_free(after);
    mlops_metrics_free(reg);
    ro.version = 3;
    ck_assert_int_eq(mlops_metrics_create(&ro, &reg), MLOPS_EVERSION);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "options version 3"));
    ck_assert_int_eq(mlops_metrics_create(NULL, NULL), MLOPS_EINVAL);
    mlops_metrics_free(NULL);
}
END_TEST

START_TEST(test_exponential_buckets) {
    double b[MLOPS_METRICS_MAX_BUCKETS + 1], keep[3] = {7, 7, 7};
    ck_assert_int_eq(mlops_metrics_exponential_buckets(1e-6, 2, 21, b, 64), MLOPS_OK);
    for (int i = 0; i < 21; i++) /* scaling by a power of two is exact */
        ck_assert_double_eq(b[i], ldexp(1e-6, i));
    ck_assert_int_eq(mlops_metrics_exponential_buckets(0.5, 2.5, 3, b, 3), MLOPS_OK);
    ck_assert_double_eq(b[0], 0.5);
    ck_assert_double_eq(b[1], 1.25);
    ck_assert_double_eq(b[2], 3.125);
    /* Bad input: EINVAL with the reason, output unchanged. */
    const struct {
        double start, factor;
        size_t count, len;
    } bad[] = {{0, 2, 3, 3},   {-1, 2, 3, 3},    {NAN, 2, 3, 3},  {INFINITY, 2, 3, 3}, {1, 1, 3, 3},
               {1, 0.5, 3, 3}, {1, NAN, 3, 3},   {1, 2, 0, 3},    {1, 2, 4, 3},        {1, 2, 65, 65},
               {1e300, 1e10, 3, 3}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(mlops_metrics_exponential_buckets(bad[i].start, bad[i].factor, bad[i].count, keep,
                                                           bad[i].len),
                         MLOPS_EINVAL);
        ck_assert_ptr_nonnull(strstr(mlops_last_error(), "metrics_exponential_buckets"));
        ck_assert_double_eq(keep[0], 7);
    }
    ck_assert_int_eq(mlops_metrics_exponential_buckets(1, 2, 3, NULL, 3), MLOPS_EINVAL);
}
END_TEST

/* Registry latency buckets: the standard histogram uses them; version 1 options still work. */
START_TEST(test_latency_buckets_option) {
    const double lat[] = {0.001, 0.01, 0.1};
    mlops_metrics_opts ro = MLOPS_METRICS_OPTS_INIT;
    ro.latency_buckets = lat;
    ro.n_latency_buckets = 3;
    mlops_metrics *reg = NULL;
    mlops_metrics_std *std = NULL;
    ck_assert_int_eq(mlops_metrics_create(&ro, &reg), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_std_create(reg, NULL, &std), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_std_observe_predict(std, 1, 0.05, MLOPS_OK), MLOPS_OK);
    char *p = render(reg, MLOPS_METRICS_PROMETHEUS);
    ck_assert_ptr_nonnull(strstr(p, "\nml_prediction_duration_seconds_bucket{le=\"0.01\"} 0\n"
                                    "ml_prediction_duration_seconds_bucket{le=\"0.1\"} 1\n"
                                    "ml_prediction_duration_seconds_bucket{le=\"+Inf\"} 1\n"));
    ck_assert_ptr_null(strstr(p, "le=\"1e-06\""));
    mlops_free(p);
    mlops_metrics_free(reg);

    /* A version 1 caller knows only the first three fields: the default latency buckets apply. */
    struct {
        unsigned version;
        size_t max_families, default_max_series;
    } v1 = {1u, 8, 10};
    ck_assert_int_eq(mlops_metrics_create((const mlops_metrics_opts *)(const void *)&v1, &reg), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_std_create(reg, NULL, &std), MLOPS_OK);
    p = render(reg, MLOPS_METRICS_PROMETHEUS);
    ck_assert_ptr_nonnull(strstr(p, "ml_prediction_duration_seconds_bucket{le=\"1e-06\"} 0\n"));
    mlops_free(p);
    mlops_metrics_free(reg);

    /* Bad buckets: EINVAL naming the option, nothing created. */
    const double unsorted[] = {0.1, 0.01}, inf[] = {0.1, INFINITY};
    const struct {
        const double *b;
        size_t n;
        const char *msg;
    } bad[] = {{unsorted, 2, "strictly increasing"}, {inf, 2, "not finite"}, {lat, 0, "0 buckets"},
               {lat, 65, "65 buckets"},             {NULL, 3, "without latency_buckets"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ro.latency_buckets = bad[i].b;
        ro.n_latency_buckets = bad[i].n;
        reg = NULL;
        ck_assert_int_eq(mlops_metrics_create(&ro, &reg), MLOPS_EINVAL);
        ck_assert_ptr_null(reg);
        ck_assert_ptr_nonnull(strstr(mlops_last_error(), bad[i].msg));
        ck_assert_ptr_nonnull(strstr(mlops_last_error(), "latency_buckets"));
    }
}
END_TEST

START_TEST(test_series_bounded) {
    mlops_metrics *reg = new_reg();
    const char *const labels[] = {"a", "b"};
    mlops_metrics_family_opts o = MLOPS_METRICS_FAMILY_OPTS_INIT;
    o.label_names = labels;
    o.n_labels = 2;
    o.max_series = 2;
    mlops_metrics_family *f = NULL;
    ck_assert_int_eq(mlops_metrics_register(reg, MLOPS_METRICS_COUNTER, "s_total", "h", &o, &f), MLOPS_OK);
    const char *v1[] = {"x", "y"}, *v2[] = {"x", "z"}, *v3[] = {"q", "y"};
    mlops_series *s1, *s2, *s3 = (mlops_series *)0x1, *again;
    ck_assert_int_eq(mlops_metrics_series(f, v1, 2, &s1), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_series(f, v2, 2, &s2), MLOPS_OK);
    ck_assert_ptr_ne(s1, s2);
    ck_assert_int_eq(mlops_metrics_series(f, v1, 2, &again), MLOPS_OK);
    ck_assert_ptr_eq(s1, again);
    char *before = render(reg, MLOPS_METRICS_PROMETHEUS);
    ck_assert_int_eq(mlops_metrics_series(f, v3, 2, &s3), MLOPS_ELIMIT);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "max_series"));
    ck_assert_ptr_eq(s3, (mlops_series *)0x1);
    ck_assert_int_eq(mlops_metrics_counter_inc_labels(f, v3, 2, 1), MLOPS_ELIMIT);
    ck_assert_uint_eq(mlops_metrics_family_n_series(f), 2);
    /* Wrong arity, NULL values, invalid UTF-8. */
    ck_assert_int_eq(mlops_metrics_series(f, v1, 1, &s3), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "has 2 labels, got 1"));
    ck_assert_int_eq(mlops_metrics_series(f, NULL, 2, &s3), MLOPS_EINVAL);
    const char *vn[] = {"x", NULL}, *vbad[] = {"x", "\xc3\x28"};
    ck_assert_int_eq(mlops_metrics_series(f, vn, 2, &s3), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_metrics_series(f, vbad, 2, &s3), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "UTF-8"));
    ck_assert_int_eq(mlops_metrics_series(NULL, v1, 2, &s3), MLOPS_EINVAL);
    char *after = render(reg, MLOPS_METRICS_PROMETHEUS);
    ck_assert_str_eq(before, after);
    mlops_free(before);
    mlops_free(after);
    mlops_metrics_free(reg);
}
END_TEST

START_TEST(test_values_validated) {
    mlops_metrics *reg = new_reg();
    mlops_series *c = series1(reg_family(reg, MLOPS_METRICS_COUNTER, "c_total", "h", NULL, 0), NULL);
    mlops_series *g = series1(reg_family(reg, MLOPS_METRICS_GAUGE, "g", "h", NULL, 0), NULL);
    mlops_series *h = series1(reg_family(reg, MLOPS_METRICS_HISTOGRAM, "h", "h", NULL, 0), NULL);
    double v;
    ck_assert_int_eq(mlops_metrics_counter_inc(c, 2.5), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_counter_inc(c, -1), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "negative or NaN"));
    ck_assert_int_eq(mlops_metrics_counter_inc(c, NAN), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_series_value(c, &v), MLOPS_OK);
    ck_assert_double_eq(v, 2.5);
    ck_assert_int_eq(mlops_metrics_counter_inc(g, 1), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "which is a gauge"));
    ck_assert_int_eq(mlops_metrics_gauge_set(c, 1), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_metrics_histogram_observe(c, 1), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_metrics_counter_inc(NULL, 1), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_metrics_gauge_set(g, -3), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_gauge_add(g, 0.5), MLOPS_OK);
    ck_assert_int_eq(mlops_series_value(g, &v), MLOPS_OK);
    ck_assert_double_eq(v, -2.5);
    ck_assert_int_eq(mlops_metrics_histogram_observe(h, NAN), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_metrics_histogram_observe(h, 0.005), MLOPS_OK); /* le is inclusive */
    ck_assert_int_eq(mlops_metrics_histogram_observe(h, 100), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_histogram_observe(h, -INFINITY), MLOPS_OK);
    uint64_t cum[12], count;
    double sum;
    ck_assert_int_eq(mlops_metrics_histogram_snapshot(h, cum, 11, &sum, &count), MLOPS_ESHAPE);
    ck_assert_int_eq(mlops_metrics_histogram_snapshot(h, cum, 12, &sum, &count), MLOPS_OK);
    ck_assert_uint_eq(cum[0], 2);
    ck_assert_uint_eq(cum[10], 2);
    ck_assert_uint_eq(cum[11], 3);
    ck_assert_uint_eq(count, 3);
    ck_assert(isinf(sum) && sum < 0);
    ck_assert_int_eq(mlops_series_value(h, &v), MLOPS_EINVAL);
    mlops_metrics_free(reg);
}
END_TEST

/* ---- collectors ------------------------------------------------------------------------------ */

static mlops_status good_collector(mlops_metrics_writer *w, void *user) {
    const char *labels[] = {"feature"};
    mlops_status st =
        mlops_metrics_writer_family(w, MLOPS_METRICS_GAUGE, "col_stat", "From a \"collector\".", labels, 1);
    if (st) return st;
    const char *f0[] = {"f0"}, *f1[] = {"f\"1"};
    if ((st = mlops_metrics_writer_sample(w, f0, 1, *(double *)user))) return st;
    if ((st = mlops_metrics_writer_sample(w, f1, 1, 0.125))) return st;
    if ((st = mlops_metrics_writer_family(w, MLOPS_METRICS_COUNTER, "col_events", NULL, NULL, 0))) return st;
    return mlops_metrics_writer_sample(w, NULL, 0, 7);
}

static int bad_mode;
static mlops_status bad_collector(mlops_metrics_writer *w, void *user) {
    (void)user;
    switch (bad_mode) {
    case 0: /* clashes with a registered family */
        return mlops_metrics_writer_family(w, MLOPS_METRICS_GAUGE, "reg_gauge", "x", NULL, 0);
    case 1:
        return mlops_metrics_writer_family(w, MLOPS_METRICS_HISTOGRAM, "col_h", "x", NULL, 0);
    case 2:
        return mlops_metrics_writer_sample(w, NULL, 0, 1);
    default: {
        mlops_status st = mlops_metrics_writer_family(w, MLOPS_METRICS_GAUGE, "col_two", "x", NULL, 0);
        return st ? st : mlops_metrics_writer_sample(w, NULL, 1, 1);
    }
    }
}

START_TEST(test_collectors) {
    mlops_metrics *reg = new_reg();
    ck_assert_int_eq(mlops_metrics_gauge_set(
                         series1(reg_family(reg, MLOPS_METRICS_GAUGE, "reg_gauge", "h", NULL, 0), NULL), 2),
                     MLOPS_OK);
    double val = 0.5;
    ck_assert_int_eq(mlops_metrics_add_collector(reg, good_collector, &val), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_add_collector(reg, good_collector, &val), MLOPS_EEXIST);
    char *p = render(reg, MLOPS_METRICS_PROMETHEUS);
    ck_assert_str_eq(p, "# HELP reg_gauge h\n# TYPE reg_gauge gauge\nreg_gauge 2\n"
                        "# HELP col_stat From a \"collector\".\n# TYPE col_stat gauge\n"
                        "col_stat{feature=\"f0\"} 0.5\ncol_stat{feature=\"f\\\"1\"} 0.125\n"
                        "# TYPE col_events counter\ncol_events 7\n");
    mlops_free(p);
    p = render(reg, MLOPS_METRICS_OPENMETRICS);
    ck_assert_ptr_nonnull(strstr(p, "# HELP col_stat From a \\\"collector\\\".\n"));
    ck_assert_ptr_nonnull(strstr(p, "# TYPE col_events counter\ncol_events_total 7\n# EOF\n"));
    mlops_free(p);

    ck_assert_int_eq(mlops_metrics_add_collector(reg, bad_collector, NULL), MLOPS_OK);
    mlops_status want[] = {MLOPS_EEXIST, MLOPS_ENOTSUP, MLOPS_ESTATE, MLOPS_EINVAL};
    for (bad_mode = 0; bad_mode < 4; bad_mode++) {
        char *t = NULL;
        ck_assert_int_eq(mlops_metrics_render_alloc(reg, MLOPS_METRICS_PROMETHEUS, &t, NULL), want[bad_mode]);
        ck_assert_ptr_null(t);
        ck_assert_str_ne(mlops_last_error(), "");
    }
    ck_assert_int_eq(mlops_metrics_remove_collector(reg, bad_collector, NULL), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_remove_collector(reg, bad_collector, NULL), MLOPS_ENOTFOUND);
    /* A registered family cannot take a name a collector writes only at render time, but a
     * collector name clash with a later registration is caught at render. */
    reg_family(reg, MLOPS_METRICS_GAUGE, "col_stat", "h", NULL, 0);
    char *t = NULL;
    ck_assert_int_eq(mlops_metrics_render_alloc(reg, MLOPS_METRICS_PROMETHEUS, &t, NULL), MLOPS_EEXIST);
    ck_assert_int_eq(mlops_metrics_remove_collector(reg, good_collector, &val), MLOPS_OK);
    p = render(reg, MLOPS_METRICS_PROMETHEUS);
    ck_assert_ptr_null(strstr(p, "col_events"));
    mlops_free(p);
    mlops_metrics_free(reg);
}
END_TEST

/* ---- standard metrics ------------------------------------------------------------------------- */

START_TEST(test_std) {
    mlops_metrics *reg = new_reg();
    mlops_metrics_std *std = NULL, *dup = NULL;
    ck_assert_int_eq(mlops_metrics_std_create(reg, "bad-prefix", &std), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_metrics_std_create(reg, NULL, &std), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_std_create(reg, "ml", &dup), MLOPS_EEXIST);
    ck_assert_ptr_null(dup);
    ck_assert_ptr_eq(mlops_metrics_std_registry(std), reg);
    mlops_metrics_family *f = NULL;
    /* Reserved names of the collector-written families. */
    ck_assert_int_eq(mlops_metrics_register(reg, MLOPS_METRICS_GAUGE, "ml_model_info", "h", NULL, &f),
                     MLOPS_EEXIST);
    ck_assert_int_eq(mlops_metrics_register(reg, MLOPS_METRICS_GAUGE, "ml_data_drift_score", "h", NULL, &f),
                     MLOPS_EEXIST);

    ck_assert_int_eq(mlops_metrics_std_observe_predict(std, 10, 0.0078125, MLOPS_OK), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_std_observe_predict(std, 5, 0.25, MLOPS_OK), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_std_observe_predict(std, 3, 2, MLOPS_EVALIDATION), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_std_observe_predict(std, 3, 0.5, MLOPS_EBACKEND), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_std_observe_predict(std, 3, 0.5, MLOPS_EINTEGRITY), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_std_observe_predict(std, 3, -1, MLOPS_OK), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_metrics_std_observe_predict(std, 3, NAN, MLOPS_OK), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_metrics_std_error(std, "validation", 4), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_std_error(std, "timeout", 1), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_std_error(std, "", 1), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_metrics_std_error(std, "\xff", 1), MLOPS_EINVAL);
    ck_assert_str_eq(mlops_metrics_error_reason(MLOPS_ESHAPE), "shape");
    ck_assert_str_eq(mlops_metrics_error_reason(MLOPS_EEXIST), "other");
    ck_assert_int_eq(mlops_metrics_std_set_model_info(std, "churn", "3", "binary:logistic", "native"),
                     MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_std_set_model_info(std, "churn", "4", "binary:logistic", "native"),
                     MLOPS_OK);
    char *p = render(reg, MLOPS_METRICS_PROMETHEUS);
    ck_assert_ptr_nonnull(
        strstr(p, "# TYPE ml_prediction_requests_total counter\nml_prediction_requests_total 5\n"));
    ck_assert_ptr_nonnull(strstr(p, "\nml_prediction_rows_total 15\n"));
    ck_assert_ptr_nonnull(strstr(p, "\nml_prediction_errors_total{reason=\"validation\"} 5\n"));
    ck_assert_ptr_nonnull(strstr(p, "\nml_prediction_errors_total{reason=\"backend\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(p, "\nml_prediction_errors_total{reason=\"shape\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(p, "\nml_prediction_errors_total{reason=\"other\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(p, "\nml_prediction_errors_total{reason=\"timeout\"} 1\n"));
    /* Default latency buckets 1e-6 * 2^i: 2^-7 s falls in (4.096 ms, 8.192 ms], 0.25 s in (131 ms, 262 ms]. */
    ck_assert_ptr_nonnull(strstr(p, "\nml_prediction_duration_seconds_bucket{le=\"1e-06\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(p, "\nml_prediction_duration_seconds_bucket{le=\"0.004096\"} 0\n"));
    ck_assert_ptr_nonnull(strstr(p, "\nml_prediction_duration_seconds_bucket{le=\"0.008192\"} 1\n"));
    ck_assert_ptr_nonnull(strstr(p, "\nml_prediction_duration_seconds_bucket{le=\"0.262144\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(p, "\nml_prediction_duration_seconds_bucket{le=\"1.048576\"} 4\n"));
    ck_assert_ptr_null(strstr(p, "le=\"2.097152\"")); /* 21 finite buckets */
    ck_assert_ptr_nonnull(strstr(p, "\nml_prediction_duration_seconds_bucket{le=\"+Inf\"} 5\n"));
    ck_assert_ptr_nonnull(strstr(p, "\nml_prediction_duration_seconds_count 5\n"));
    ck_assert_ptr_nonnull(strstr(p, "\nml_prediction_duration_seconds_sum 3.2578125\n"));
    ck_assert_ptr_nonnull(strstr(p, "\nml_model_info{model=\"churn\",version=\"4\",objective=\"binary:"
                                    "logistic\",engine=\"native\"} 1\n"));
    ck_assert_ptr_null(strstr(p, "version=\"3\""));
    mlops_free(p);
    ck_assert_int_eq(mlops_metrics_std_set_model_info(std, NULL, NULL, NULL, NULL), MLOPS_OK);
    p = render(reg, MLOPS_METRICS_PROMETHEUS);
    ck_assert_ptr_null(strstr(p, "ml_model_info"));
    mlops_free(p);
    ck_assert_ptr_nonnull(mlops_metrics_std_requests(std));
    double v;
    ck_assert_int_eq(mlops_series_value(mlops_metrics_std_rows(std), &v), MLOPS_OK);
    ck_assert_double_eq(v, 15);

    /* A second set with another prefix lives beside the first. */
    mlops_metrics_std *svc = NULL;
    ck_assert_int_eq(mlops_metrics_std_create(reg, "svc", &svc), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_std_set_model_info(svc, "m", NULL, NULL, NULL), MLOPS_OK);
    p = render(reg, MLOPS_METRICS_OPENMETRICS);
    ck_assert_ptr_nonnull(
        strstr(p, "# TYPE svc_prediction_requests counter\nsvc_prediction_requests_total 0\n"));
    ck_assert_ptr_nonnull(
        strstr(p, "svc_model_info{model=\"m\",version=\"\",objective=\"\",engine=\"\"} 1\n"));
    mlops_free(p);
    mlops_metrics_free(reg);
}
END_TEST

/* ---- concurrency ----------------------------------------------------------------------------- */

#define N_THREADS 8
#define N_ITERS 200000

typedef struct shared {
    mlops_series *counter, *gauge, *hist;
    mlops_metrics_family *labelled;
    mlops_metrics *reg;
    atomic_int stop;
    int renders, bad;
} shared;

static void *worker(void *arg) {
    shared *sh = arg;
    static const double obs[] = {0.0078125, 0.25, 2, 16};
    static const char *const keys[] = {"a", "b", "c", "d"};
    for (int i = 0; i < N_ITERS; i++) {
        mlops_metrics_counter_inc(sh->counter, 1);
        mlops_metrics_gauge_add(sh->gauge, (i & 1) ? -0.5 : 1.0);
        mlops_metrics_histogram_observe(sh->hist, obs[i & 3]);
        if ((i & 15) == 0) mlops_metrics_counter_inc_labels(sh->labelled, &keys[(i >> 4) & 3], 1, 2);
    }
    return NULL;
}

/* Under concurrent observation every rendered histogram must still have +Inf == _count. */
static int check_hist_consistent(const char *text) {
    const char *inf = strstr(text, "conc_seconds_bucket{le=\"+Inf\"} ");
    const char *cnt = strstr(text, "conc_seconds_count ");
    if (!inf || !cnt) return 0;
    return strtoull(inf + strlen("conc_seconds_bucket{le=\"+Inf\"} "), NULL, 10) ==
           strtoull(cnt + strlen("conc_seconds_count "), NULL, 10);
}

static void *renderer(void *arg) {
    shared *sh = arg;
    while (!atomic_load(&sh->stop)) {
        char *text = NULL;
        if (mlops_metrics_render_alloc(
                sh->reg, (sh->renders & 1) ? MLOPS_METRICS_OPENMETRICS : MLOPS_METRICS_PROMETHEUS, &text,
                NULL) != MLOPS_OK ||
            !check_hist_consistent(text))
            sh->bad++;
        mlops_free(text);
        sh->renders++;
    }
    return NULL;
}

START_TEST(test_concurrency) {
    shared sh;
    memset(&sh, 0, sizeof sh);
    sh.reg = new_reg();
    sh.counter = series1(reg_family(sh.reg, MLOPS_METRICS_COUNTER, "conc_total", "h", NULL, 0), NULL);
    sh.gauge = series1(reg_family(sh.reg, MLOPS_METRICS_GAUGE, "conc_gauge", "h", NULL, 0), NULL);
    sh.hist = series1(reg_family(sh.reg, MLOPS_METRICS_HISTOGRAM, "conc_seconds", "h", NULL, 0), NULL);
    const char *k[] = {"key"};
    sh.labelled = reg_family(sh.reg, MLOPS_METRICS_COUNTER, "conc_labelled_total", "h", k, 1);
    pthread_t th[N_THREADS], r;
    ck_assert_int_eq(pthread_create(&r, NULL, renderer, &sh), 0);
    for (int i = 0; i < N_THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker, &sh), 0);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&sh.stop, 1);
    pthread_join(r, NULL);
    ck_assert_int_eq(sh.bad, 0);
    ck_assert_int_gt(sh.renders, 0);
    const double total = (double)N_THREADS * N_ITERS;
    double v;
    ck_assert_int_eq(mlops_series_value(sh.counter, &v), MLOPS_OK);
    ck_assert_double_eq(v, total);
    ck_assert_int_eq(mlops_series_value(sh.gauge, &v), MLOPS_OK);
    ck_assert_double_eq(v, total / 4); /* half +1, half -0.5 */
    uint64_t cum[12], count;
    double sum;
    ck_assert_int_eq(mlops_metrics_histogram_snapshot(sh.hist, cum, 12, &sum, &count), MLOPS_OK);
    uint64_t quarter = (uint64_t)total / 4;
    ck_assert_uint_eq(cum[1], quarter);      /* le=0.01: 0.0078125 */
    ck_assert_uint_eq(cum[5], 2 * quarter);  /* le=0.25 */
    ck_assert_uint_eq(cum[8], 3 * quarter);  /* le=2.5: 2 */
    ck_assert_uint_eq(cum[10], 3 * quarter); /* le=10 */
    ck_assert_uint_eq(count, (uint64_t)total);
    ck_assert_double_eq(sum, quarter * (0.0078125 + 0.25 + 2 + 16));
    ck_assert_uint_eq(mlops_metrics_family_n_series(sh.labelled), 4);
    char *text = render(sh.reg, MLOPS_METRICS_PROMETHEUS);
    char line[128];
    /* Each thread did N_ITERS/16 labelled increments of 2, spread evenly over 4 keys. */
    snprintf(line, sizeof line, "conc_labelled_total{key=\"a\"} %d\n", N_THREADS * (N_ITERS / 16 / 4) * 2);
    ck_assert_ptr_nonnull(strstr(text, line));
    snprintf(line, sizeof line, "conc_total %d\n", N_THREADS * N_ITERS);
    ck_assert_ptr_nonnull(strstr(text, line));
    mlops_free(text);
    mlops_metrics_free(sh.reg);
}
END_TEST

/* Many threads create the same new series at once: exactly one series per label set. */
static void *creator(void *arg) {
    mlops_metrics_family *f = arg;
    char buf[16];
    for (int i = 0; i < 500; i++) {
        snprintf(buf, sizeof buf, "v%d", i);
        const char *v = buf;
        mlops_metrics_counter_inc_labels(f, &v, 1, 1);
    }
    return NULL;
}

START_TEST(test_concurrent_create) {
    mlops_metrics *reg = new_reg();
    const char *k[] = {"k"};
    mlops_metrics_family *f = reg_family(reg, MLOPS_METRICS_COUNTER, "cc_total", "h", k, 1);
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        pthread_create(&th[i], NULL, creator, f);
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_uint_eq(mlops_metrics_family_n_series(f), 500);
    for (int i = 0; i < 500; i += 99) {
        char buf[16];
        snprintf(buf, sizeof buf, "v%d", i);
        const char *v = buf;
        mlops_series *s;
        double val;
        ck_assert_int_eq(mlops_metrics_series(f, &v, 1, &s), MLOPS_OK);
        ck_assert_int_eq(mlops_series_value(s, &val), MLOPS_OK);
        ck_assert_double_eq(val, N_THREADS);
    }
    mlops_metrics_free(reg);
}
END_TEST

static Suite *make_suite(void) {
    TCase *tc;
    Suite *s = test_suite_single("metrics", 60, NULL, NULL, &tc);
    tcase_add_test(tc, test_render_exact);
    tcase_add_test(tc, test_render_buffer);
    tcase_add_test(tc, test_locale_independent);
    tcase_add_test(tc, test_names_validated);
    tcase_add_test(tc, test_series_bounded);
    tcase_add_test(tc, test_values_validated);
    tcase_add_test(tc, test_collectors);
    tcase_add_test(tc, test_std);
    tcase_add_test(tc, test_exponential_buckets);
    tcase_add_test(tc, test_latency_buckets_option);
    tcase_add_test(tc, test_concurrency);
    tcase_add_test(tc, test_concurrent_create);
    return s;
}

MLOPS_TEST_MAIN(make_suite)
