/* A/B significance tests against SciPy: tests/router/fixtures/abtest.txt, and latency percentiles
 * against numpy.percentile: tests/router/fixtures/latency.txt, both written by
 * tests/router/gen_abtest.py (SciPy 1.10, NumPy 1.24). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlops.h"
#include "mlops/router.h"
#include "harness.h"

#define TOL 1e-10

/* |got - want| within TOL relative to want (absolute below 1). */
static int close_to(double got, double want) { return fabs(got - want) <= TOL * fmax(1.0, fabs(want)); }
/* p-values: relative TOL, so that tiny p-values are compared digit for digit too. */
static int p_close(double got, double want) { return fabs(got - want) <= TOL * fmax(fabs(want), 1e-300); }

static FILE *open_fixture_named(const char *name) {
    char rel[512];
    snprintf(rel, sizeof rel, "tests/router/fixtures/%s", name);
    const char *path = test_source_file(rel);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    return f;
}

START_TEST(tests_equal_scipy_on_every_fixture_case) {
    FILE *f = open_fixture_named("abtest.txt");
    char kind[4];
    int nz = 0, nt = 0;
    while (fscanf(f, "%3s", kind) == 1) {
        mlops_ab_test r;
        if (!strcmp(kind, "z")) {
            unsigned long long sa, na, sb, nb;
            double z, p, pchi;
            ck_assert_int_eq(fscanf(f, "%llu %llu %llu %llu %lf %lf %lf", &sa, &na, &sb, &nb, &z, &p, &pchi),
                             7);
            ck_assert_int_eq(mlops_ab_proportions_ztest(sa, na, sb, nb, &r), MLOPS_OK);
            ck_assert_msg(close_to(r.statistic, z), "z %llu/%llu vs %llu/%llu: %.17g, SciPy %.17g", sa, na,
                          sb, nb, r.statistic, z);
            ck_assert_msg(p_close(r.p_value, p), "p %llu/%llu: %.17g, SciPy norm %.17g", sa, na, r.p_value,
                          p);
            ck_assert_msg(p_close(r.p_value, pchi) || fabs(r.p_value - pchi) <= 1e-12,
                          "p %.17g, SciPy chi2_contingency %.17g", r.p_value, pchi);
            ck_assert(r.df == 0.0);
            nz++;
        } else {
            double ma, va, mb, vb, t, p;
            unsigned long long na, nb;
            ck_assert_int_eq(
                fscanf(f, "%lf %lf %llu %lf %lf %llu %lf %lf", &ma, &va, &na, &mb, &vb, &nb, &t, &p), 8);
            ck_assert_int_eq(mlops_ab_welch_ttest(ma, va, na, mb, vb, nb, &r), MLOPS_OK);
            ck_assert_msg(close_to(r.statistic, t), "t: %.17g, SciPy %.17g", r.statistic, t);
            ck_assert_msg(p_close(r.p_value, p), "p (t %.6g): %.17g, SciPy %.17g", t, r.p_value, p);
            ck_assert(r.df > 0.0);
            nt++;
        }
    }
    fclose(f);
    ck_assert_int_ge(nz, 10);
    ck_assert_int_ge(nt, 6);
}
END_TEST

START_TEST(bad_input_fails_with_a_message_and_writes_nothing) {
    mlops_ab_test r = {42, 42, 42};
    ck_assert_int_eq(mlops_ab_proportions_ztest(1, 0, 1, 2, &r), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "empty sample"));
    ck_assert_int_eq(mlops_ab_proportions_ztest(3, 2, 1, 2, &r), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "more successes than trials"));
    ck_assert_int_eq(mlops_ab_proportions_ztest(0, 5, 0, 7, &r), MLOPS_ESTATE);
    ck_assert_int_eq(mlops_ab_proportions_ztest(5, 5, 7, 7, &r), MLOPS_ESTATE);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "undefined"));
    ck_assert_int_eq(mlops_ab_proportions_ztest(1, 2, 1, 2, NULL), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_ab_welch_ttest(0, 1, 1, 0, 1, 5, &r), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "needs 2 values"));
    ck_assert_int_eq(mlops_ab_welch_ttest(0, -1, 3, 0, 1, 5, &r), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_ab_welch_ttest(NAN, 1, 3, 0, 1, 5, &r), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_ab_welch_ttest(0, INFINITY, 3, 0, 1, 5, &r), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "variance"));
    ck_assert_int_eq(mlops_ab_welch_ttest(1, 0, 3, 2, 0, 5, &r), MLOPS_ESTATE);
    ck_assert_int_eq(mlops_ab_welch_ttest(1, 1, 3, 2, 1, 5, NULL), MLOPS_EINVAL);
    ck_assert(r.statistic == 42 && r.p_value == 42 && r.df == 42);
}
END_TEST

START_TEST(swapping_the_samples_flips_the_sign_only) {
    mlops_ab_test ab, ba;
    ck_assert_int_eq(mlops_ab_proportions_ztest(45, 100, 30, 90, &ab), MLOPS_OK);
    ck_assert_int_eq(mlops_ab_proportions_ztest(30, 90, 45, 100, &ba), MLOPS_OK);
    ck_assert(ab.statistic == -ba.statistic && ab.p_value == ba.p_value);
    ck_assert_int_eq(mlops_ab_welch_ttest(1.0, 2.0, 10, 1.5, 0.5, 20, &ab), MLOPS_OK);
    ck_assert_int_eq(mlops_ab_welch_ttest(1.5, 0.5, 20, 1.0, 2.0, 10, &ba), MLOPS_OK);
    ck_assert(ab.statistic == -ba.statistic && ab.p_value == ba.p_value && ab.df == ba.df);
}
END_TEST

START_TEST(latency_percentiles_equal_numpy_over_the_window) {
    FILE *f = open_fixture_named("latency.txt");
    size_t capacity, n;
    int cases = 0;
    const double q[5] = {0.5, 0.95, 0.99, 0.0, 1.0};
    while (fscanf(f, "%zu %zu", &capacity, &n) == 2) {
        double want[5], got[5];
        for (int i = 0; i < 5; i++)
            ck_assert_int_eq(fscanf(f, "%lf", &want[i]), 1);
        mlops_router_latency_window *w = NULL;
        ck_assert_int_eq(mlops_router_latency_window_create(capacity, &w), MLOPS_OK);
        for (size_t i = 0; i < n; i++) {
            double x;
            ck_assert_int_eq(fscanf(f, "%lf", &x), 1);
            ck_assert_int_eq(mlops_router_latency_window_observe(w, x), MLOPS_OK);
        }
        size_t used = 0;
        ck_assert_int_eq(mlops_router_latency_window_quantiles(w, q, 5, got, &used), MLOPS_OK);
        ck_assert_uint_eq(used, n < capacity ? n : capacity);
        for (int i = 0; i < 5; i++)
            ck_assert_msg(close_to(got[i] * 1e6, want[i] * 1e6),
                          "capacity %zu n %zu q %g: %.17g, numpy %.17g", capacity, n, q[i], got[i], want[i]);
        mlops_router_latency_window_free(w);
        cases++;
    }
    fclose(f);
    ck_assert_int_ge(cases, 6);
}
END_TEST

START_TEST(latency_window_bad_input_fails_with_a_message) {
    mlops_router_latency_window *w = NULL;
    ck_assert_int_eq(mlops_router_latency_window_create(0, &w), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "capacity 0"));
    ck_assert_int_eq(mlops_router_latency_window_create(MLOPS_ROUTER_LATENCY_WINDOW_MAX + 1, &w),
                     MLOPS_EINVAL);
    ck_assert_int_eq(mlops_router_latency_window_create(4, NULL), MLOPS_EINVAL);
    ck_assert_ptr_null(w);
    ck_assert_int_eq(mlops_router_latency_window_create(4, &w), MLOPS_OK);
    double q = 0.5, out = 42;
    ck_assert_int_eq(mlops_router_latency_window_quantiles(w, &q, 1, &out, NULL), MLOPS_ESTATE);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "no latency observed"));
    ck_assert_int_eq(mlops_router_latency_window_observe(w, -1e-6), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "not a finite value"));
    ck_assert_int_eq(mlops_router_latency_window_observe(w, NAN), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_router_latency_window_observe(w, INFINITY), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_router_latency_window_observe(NULL, 1.0), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_router_latency_window_quantiles(w, &q, 1, &out, NULL),
                     MLOPS_ESTATE); /* still empty */
    ck_assert_int_eq(mlops_router_latency_window_observe(w, 2e-3), MLOPS_OK);
    q = 1.5;
    ck_assert_int_eq(mlops_router_latency_window_quantiles(w, &q, 1, &out, NULL), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "outside [0, 1]"));
    q = NAN;
    ck_assert_int_eq(mlops_router_latency_window_quantiles(w, &q, 1, &out, NULL), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_router_latency_window_quantiles(w, &q, 0, &out, NULL), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_router_latency_window_quantiles(NULL, &q, 1, &out, NULL), MLOPS_EINVAL);
    ck_assert(out == 42);
    q = 0.99;
    ck_assert_int_eq(mlops_router_latency_window_quantiles(w, &q, 1, &out, NULL), MLOPS_OK);
    ck_assert(out == 2e-3);
    mlops_router_latency_window_free(w);
    mlops_router_latency_window_free(NULL);
}
END_TEST

static Suite *make_suite(void) {
    TCase *t;
    Suite *s = test_suite_single("abtest", 0, NULL, NULL, &t);
    tcase_add_test(t, tests_equal_scipy_on_every_fixture_case);
    tcase_add_test(t, bad_input_fails_with_a_message_and_writes_nothing);
    tcase_add_test(t, swapping_the_samples_flips_the_sign_only);
    tcase_add_test(t, latency_percentiles_equal_numpy_over_the_window);
    tcase_add_test(t, latency_window_bad_input_fails_with_a_message);
    return s;
}

MLOPS_TEST_MAIN(make_suite)
