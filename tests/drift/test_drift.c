/* Unit tests for the drift module: mlops_ks_2samp against SciPy fixtures,
 * the streaming detector against a from-scratch KS test, bad input. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drift/ks_internal.h"
#include "internal.h"
#include "mlops/drift.h"

/* The sample generator of tests/drift/gen_ks_fixtures.py, bit for bit. */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void gen_sample(uint64_t seed, int k, int kind, uint64_t levels, size_t n, double shift, double *out) {
    uint64_t state = seed * 2 + (uint64_t)k;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = splitmix64(&state);
        double u = (double)(r >> 11) * 0x1p-53;
        if (kind == 0)
            out[i] = (double)(r % levels) * 0.25 + shift;
        else if (kind == 1)
            out[i] = u * 8.0 + shift;
        else
            out[i] = u * u * 4.0 + shift;
    }
}

static const char *fixture_path(const char *name, char *buf, size_t len) {
    const char *root = getenv("MLOPS_SOURCE_ROOT");
    snprintf(buf, len, "%s/tests/drift/%s", root ? root : ".", name);
    return buf;
}

static int close_rel(double got, double want, double rtol) {
    if (isnan(want)) return isnan(got);
    if (got == want) return 1;
    return fabs(got - want) <= rtol * fabs(want);
}

START_TEST(ks_matches_scipy_fixtures) {
    char path[4096];
    FILE *f = fopen(fixture_path("ks_fixtures.txt", path, sizeof path), "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char line[512];
    size_t cases = 0, stat_bad = 0, p_bad = 0, dist_cases = 0, dist_bad = 0;
    double worst = 0.0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        if (line[0] == 'K' || line[0] == 'S') {
            long dn;
            double dd, want;
            ck_assert_int_eq(sscanf(line + 2, "%ld %lf %lf", &dn, &dd, &want), 3);
            double got = line[0] == 'K' ? mlops__kolmogn_sf(dn, dd) : mlops__smirnov_sf(dn, dd);
            dist_cases++;
            if (!close_rel(got, want, 1e-8)) {
                dist_bad++;
                fprintf(stderr, "%c n=%ld d=%.17g: %.17g vs scipy %.17g\n", line[0], dn, dd, got, want);
            }
            continue;
        }
        unsigned long long seed, levels;
        int kind, alt, meth, fell;
        size_t n, m;
        double sx, sy, want_s, want_p;
        int got_fields = sscanf(line, "%llu %d %llu %zu %zu %lf %lf %d %d %lf %lf %d", &seed, &kind, &levels,
                                &n, &m, &sx, &sy, &alt, &meth, &want_s, &want_p, &fell);
        ck_assert_int_eq(got_fields, 12);
        double *x = malloc(n * sizeof *x), *y = malloc(m * sizeof *y);
        gen_sample(seed, 0, kind, levels, n, sx, x);
        gen_sample(seed, 1, kind, levels, m, sy, y);
        double s = -1, p = -1;
        ck_assert_int_eq(mlops_ks_2samp(x, n, y, m, (mlops_ks_alternative)alt, (mlops_ks_method)meth, &s, &p),
                         MLOPS_OK);
        cases++;
        if (s != want_s) {
            stat_bad++;
            fprintf(stderr, "statistic mismatch seed %llu n=%zu m=%zu alt=%d meth=%d: %.17g vs scipy %.17g\n",
                    seed, n, m, alt, meth, s, want_s);
        }
        if (!close_rel(p, want_p, 1e-8)) {
            p_bad++;
            fprintf(stderr,
                    "pvalue mismatch seed %llu n=%zu m=%zu alt=%d meth=%d d=%.17g: %.17g vs scipy %.17g\n",
                    seed, n, m, alt, meth, want_s, p, want_p);
        } else if (want_p > 0 && !isnan(want_p)) {
            double r = fabs(p - want_p) / want_p;
            if (r > worst) worst = r;
        }
        free(x);
        free(y);
    }
    fclose(f);
    printf("kstwo.sf / smirnov vs SciPy: %zu cases, %zu mismatches (rtol 1e-8)\n", dist_cases, dist_bad);
    ck_assert_uint_ge(dist_cases, 1500);
    ck_assert_uint_eq(dist_bad, 0);
    printf(
        "ks_2samp vs SciPy: %zu cases, %zu statistic mismatches, %zu p-value mismatches (rtol 1e-8), worst "
        "relative p-value error %.3g\n",
        cases, stat_bad, p_bad, worst);
    ck_assert_uint_ge(cases, 4000);
    ck_assert_uint_eq(stat_bad, 0);
    ck_assert_uint_eq(p_bad, 0);
}
END_TEST

START_TEST(ks_rejects_bad_input) {
    double x[3] = {1, 2, 3}, y[2] = {1, NAN}, s = 42, p = 42;
    ck_assert_int_eq(mlops_ks_2samp(x, 0, x, 3, MLOPS_KS_TWO_SIDED, MLOPS_KS_AUTO, &s, &p), MLOPS_EINVAL);
    ck_assert_str_eq(mlops_last_error(), "ks_2samp: sample x is empty");
    ck_assert_int_eq(mlops_ks_2samp(x, 3, x, 0, MLOPS_KS_TWO_SIDED, MLOPS_KS_AUTO, &s, &p), MLOPS_EINVAL);
    ck_assert_str_eq(mlops_last_error(), "ks_2samp: sample y is empty");
    ck_assert_int_eq(mlops_ks_2samp(x, 3, y, 2, MLOPS_KS_TWO_SIDED, MLOPS_KS_AUTO, &s, &p), MLOPS_EINVAL);
    ck_assert_str_eq(mlops_last_error(), "ks_2samp: y[1] is NaN");
    ck_assert_int_eq(mlops_ks_2samp(x, 3, x, 3, (mlops_ks_alternative)7, MLOPS_KS_AUTO, &s, &p),
                     MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "unknown alternative 7"));
    ck_assert_int_eq(mlops_ks_2samp(x, 3, x, 3, MLOPS_KS_TWO_SIDED, (mlops_ks_method)-1, &s, &p),
                     MLOPS_EINVAL);
    ck_assert_int_eq(mlops_ks_2samp(NULL, 3, x, 3, MLOPS_KS_TWO_SIDED, MLOPS_KS_AUTO, &s, &p), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_ks_2samp(x, 3, x, 3, MLOPS_KS_TWO_SIDED, MLOPS_KS_AUTO, NULL, &p), MLOPS_EINVAL);
    /* outputs untouched on failure */
    ck_assert(s == 42 && p == 42);
    ck_assert_int_eq(mlops_ks_pvalue(1.5, 3, 3, MLOPS_KS_TWO_SIDED, MLOPS_KS_AUTO, NULL, &p), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_ks_pvalue(0.5, 0, 3, MLOPS_KS_TWO_SIDED, MLOPS_KS_AUTO, NULL, &p), MLOPS_EINVAL);
    ck_assert(p == 42);
}
END_TEST

static Suite *drift_suite(void) {
    Suite *s = suite_create("drift");
    TCase *tc = tcase_create("ks");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, ks_matches_scipy_fixtures);
    tcase_add_test(tc, ks_rejects_bad_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(drift_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
