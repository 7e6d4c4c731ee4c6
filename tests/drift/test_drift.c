/* Unit tests for the drift module: mlops_drift_ks_2samp against SciPy fixtures,
 * the streaming detector against a from-scratch KS test, bad input. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drift/ks_internal.h"
#include "harness.h"
#include "internal.h"
#include "mlops/drift.h"

TCase *drift_snapshot_tcase(void); /* test_snapshot.c */

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

static int close_rel(double got, double want, double rtol) {
    if (isnan(want)) return isnan(got);
    if (got == want) return 1;
    return fabs(got - want) <= rtol * fabs(want);
}

START_TEST(ks_matches_scipy_fixtures) {
    const char *path = test_source_file("tests/drift/ks_fixtures.txt");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char line[512];
    size_t cases = 0, stat_bad = 0, p_bad = 0, dist_cases = 0, dist_bad = 0, dist_skipped = 0;
    double worst = 0.0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        if (line[0] == 'K' || line[0] == 'S') {
            long dn;
            double dd, want;
            ck_assert_int_eq(sscanf(line + 2, "%ld %lf %lf", &dn, &dd, &want), 3);
            if (dn > 100000 && test_on_valgrind()) {
                /* ks.c evaluates these in long double; valgrind emulates long double with
                 * 64-bit doubles, so the result is not what the hardware computes. */
                dist_skipped++;
                continue;
            }
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
        ck_assert_int_eq(mlops_drift_ks_2samp(x, n, y, m, (mlops_drift_ks_alternative)alt,
                                              (mlops_drift_ks_method)meth, &s, &p),
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
    printf("kstwo.sf / smirnov vs SciPy: %zu cases, %zu mismatches (rtol 1e-8), %zu long-double cases skipped "
           "under valgrind\n",
           dist_cases, dist_bad, dist_skipped);
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
    ck_assert_int_eq(mlops_drift_ks_2samp(x, 0, x, 3, MLOPS_DRIFT_KS_TWO_SIDED, MLOPS_DRIFT_KS_AUTO, &s, &p),
                     MLOPS_EINVAL);
    ck_assert_str_eq(mlops_last_error(), "ks_2samp: sample x is empty");
    ck_assert_int_eq(mlops_drift_ks_2samp(x, 3, x, 0, MLOPS_DRIFT_KS_TWO_SIDED, MLOPS_DRIFT_KS_AUTO, &s, &p),
                     MLOPS_EINVAL);
    ck_assert_str_eq(mlops_last_error(), "ks_2samp: sample y is empty");
    ck_assert_int_eq(mlops_drift_ks_2samp(x, 3, y, 2, MLOPS_DRIFT_KS_TWO_SIDED, MLOPS_DRIFT_KS_AUTO, &s, &p),
                     MLOPS_EINVAL);
    ck_assert_str_eq(mlops_last_error(), "ks_2samp: y[1] is NaN");
    ck_assert_int_eq(
        mlops_drift_ks_2samp(x, 3, x, 3, (mlops_drift_ks_alternative)7, MLOPS_DRIFT_KS_AUTO, &s, &p),
        MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "unknown alternative 7"));
    ck_assert_int_eq(
        mlops_drift_ks_2samp(x, 3, x, 3, MLOPS_DRIFT_KS_TWO_SIDED, (mlops_drift_ks_method)-1, &s, &p),
        MLOPS_EINVAL);
    ck_assert_int_eq(
        mlops_drift_ks_2samp(NULL, 3, x, 3, MLOPS_DRIFT_KS_TWO_SIDED, MLOPS_DRIFT_KS_AUTO, &s, &p),
        MLOPS_EINVAL);
    ck_assert_int_eq(
        mlops_drift_ks_2samp(x, 3, x, 3, MLOPS_DRIFT_KS_TWO_SIDED, MLOPS_DRIFT_KS_AUTO, NULL, &p),
        MLOPS_EINVAL);
    /* outputs untouched on failure */
    ck_assert(s == 42 && p == 42);
    ck_assert_int_eq(
        mlops_drift_ks_pvalue(1.5, 3, 3, MLOPS_DRIFT_KS_TWO_SIDED, MLOPS_DRIFT_KS_AUTO, NULL, &p),
        MLOPS_EINVAL);
    ck_assert_int_eq(
        mlops_drift_ks_pvalue(0.5, 0, 3, MLOPS_DRIFT_KS_TWO_SIDED, MLOPS_DRIFT_KS_AUTO, NULL, &p),
        MLOPS_EINVAL);
    ck_assert(p == 42);
}
END_TEST

/* ---------------------------------------------------------------- detector */

/* From-scratch KS on a window column (NaN excluded), exactly as mlops_drift_ks_2samp. */
static int scratch_ks(const double *ref, size_t nref, const double *win, size_t nwin, double *stat,
                      double *p) {
    double *a = malloc((nref + 1) * sizeof *a), *b = malloc((nwin + 1) * sizeof *b);
    size_t na = 0, nb = 0;
    for (size_t i = 0; i < nref; i++)
        if (!isnan(ref[i])) a[na++] = ref[i];
    for (size_t i = 0; i < nwin; i++)
        if (!isnan(win[i])) b[nb++] = win[i];
    int ok = nb > 0 && mlops_drift_ks_2samp(a, na, b, nb, MLOPS_DRIFT_KS_TWO_SIDED, MLOPS_DRIFT_KS_AUTO, stat,
                                            p) == MLOPS_OK;
    free(a);
    free(b);
    return ok;
}

START_TEST(streaming_statistic_equals_from_scratch) {
    enum { NF = 3, NREF = 400, W = 150, STREAM = 1500 };
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    o.window = W;
    o.reference_size = NREF;
    mlops_drift *d = NULL;
    ck_assert_int_eq(mlops_drift_create(NF, NULL, NULL, &o, &d), MLOPS_OK);
    static double ref[NREF * NF], rows[STREAM * NF];
    uint64_t st = 77;
    for (size_t i = 0; i < NREF * NF; i++) {
        uint64_t r = splitmix64(&st);
        size_t f = i % NF;
        /* f0: ties (lattice), f1: continuous, f2: continuous with NaN */
        ref[i] = f == 0 ? (double)(r % 12) : (double)(r >> 11) * 0x1p-53;
        if (f == 2 && r % 17 == 0) ref[i] = NAN;
    }
    for (size_t i = 0; i < STREAM * NF; i++) {
        uint64_t r = splitmix64(&st);
        size_t f = i % NF, row = i / NF;
        double shift = row > STREAM / 2 ? 0.3 : 0.0; /* drift halfway */
        rows[i] = f == 0 ? (double)(r % 14) : (double)(r >> 11) * 0x1p-53 + shift * (double)f;
        if (f == 2 && r % 11 == 0) rows[i] = NAN;
        if (f == 1 && r % 97 == 0) rows[i] = INFINITY;
    }
    /* reference from the first NREF observations */
    ck_assert_int_eq(mlops_drift_update(d, ref, NREF - 1, NF), MLOPS_OK);
    mlops_drift_summary sum;
    ck_assert_int_eq(mlops_drift_report(d, NULL, 0, &sum), MLOPS_ESTATE);
    ck_assert_int_eq(mlops_drift_update(d, ref + (NREF - 1) * NF, 1, NF), MLOPS_OK);
    size_t checks = 0;
    double colref[NREF], colwin[W];
    for (size_t row = 0; row < STREAM; row++) {
        /* one row or a batch of three */
        size_t batch = (row % 5 == 0 && row + 3 <= STREAM) ? 3 : 1;
        ck_assert_int_eq(mlops_drift_update(d, rows + row * NF, batch, NF), MLOPS_OK);
        row += batch - 1;
        if (row % 7 != 0 && row != STREAM - 1) continue;
        size_t end = row + 1, nwin = end < W ? end : W;
        mlops_drift_feature_result res[NF];
        ck_assert_int_eq(mlops_drift_report(d, res, NF, &sum), MLOPS_OK);
        ck_assert_uint_eq(sum.n_rows, nwin);
        for (size_t f = 0; f < NF; f++) {
            for (size_t i = 0; i < NREF; i++)
                colref[i] = ref[i * NF + f];
            size_t nm = 0;
            for (size_t i = 0; i < nwin; i++) {
                colwin[i] = rows[(end - nwin + i) * NF + f];
                nm += isnan(colwin[i]);
            }
            double s, p;
            ck_assert(scratch_ks(colref, NREF, colwin, nwin, &s, &p));
            ck_assert_msg(res[f].statistic == s, "row %zu feature %zu: streaming %.17g, from scratch %.17g",
                          row, f, res[f].statistic, s);
            ck_assert_msg(res[f].pvalue == p, "row %zu feature %zu: p %.17g vs %.17g", row, f, res[f].pvalue,
                          p);
            ck_assert_uint_eq(res[f].n_missing, nm);
            ck_assert(res[f].missing_rate == (double)nm / (double)nwin);
            double direct;
            ck_assert_int_eq(mlops_drift_statistic(d, f, &direct), MLOPS_OK);
            ck_assert(fabs(direct - s) <= 1e-15); /* raw statistic; the report rounds it like SciPy */
            checks++;
        }
    }
    ck_assert_uint_gt(checks, 300);
    /* drift halfway: features 1 and 2 moved by 0.3 and 0.6 */
    mlops_drift_feature_result res[NF];
    ck_assert_int_eq(mlops_drift_report(d, res, NF, &sum), MLOPS_OK);
    ck_assert_int_eq(res[1].drift, 1);
    ck_assert_int_eq(res[2].drift, 1);
    mlops_drift_free(d);
}
END_TEST

/* Larger reference (many slots), batches longer than the window (rows evicted within
 * a batch), missing values moving C up and down (the table of j / C rebuilt), values
 * equal to reference values and outside its range. */
START_TEST(streaming_large_batches_match_from_scratch) {
    enum { NF = 2, NREF = 3000, W = 200, STREAM = 4000 };
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    o.window = W;
    mlops_drift *d = NULL;
    ck_assert_int_eq(mlops_drift_create(NF, NULL, NULL, &o, &d), MLOPS_OK);
    static double ref[NREF * NF], rows[STREAM * NF], colref[NREF], colwin[W];
    uint64_t st = 991;
    for (size_t i = 0; i < NREF * NF; i++) {
        uint64_t r = splitmix64(&st);
        ref[i] = i % NF == 0 ? (double)(r % 500) * 0.5 : (double)(r >> 11) * 0x1p-53;
    }
    for (size_t i = 0; i < STREAM * NF; i++) {
        uint64_t r = splitmix64(&st);
        double shift = (double)(i / NF) / STREAM * 0.5;
        rows[i] = i % NF == 0 ? (double)(r % 560) * 0.5 - 10 : (double)(r >> 11) * 0x1p-53 + shift;
        if ((r >> 7) % 9 == 0) rows[i] = NAN;
    }
    ck_assert_int_eq(mlops_drift_set_reference(d, ref, NREF, NF), MLOPS_OK);
    static const size_t sizes[] = {1, 7, 450, 3, 60, 1, 1, 250, 33, 2, 199, 201, 5};
    size_t row = 0, checks = 0;
    for (size_t k = 0; row < STREAM; k++) {
        size_t n = sizes[k % (sizeof sizes / sizeof sizes[0])];
        if (row + n > STREAM) n = STREAM - row;
        ck_assert_int_eq(mlops_drift_update(d, rows + row * NF, n, NF), MLOPS_OK);
        row += n;
        size_t nwin = row < W ? row : W;
        mlops_drift_feature_result res[NF];
        mlops_drift_summary sum;
        ck_assert_int_eq(mlops_drift_report(d, res, NF, &sum), MLOPS_OK);
        for (size_t f = 0; f < NF; f++) {
            for (size_t i = 0; i < NREF; i++)
                colref[i] = ref[i * NF + f];
            for (size_t i = 0; i < nwin; i++)
                colwin[i] = rows[(row - nwin + i) * NF + f];
            double s, p;
            if (!scratch_ks(colref, NREF, colwin, nwin, &s, &p)) continue; /* all missing */
            ck_assert_msg(res[f].statistic == s, "row %zu feature %zu: streaming %.17g, from scratch %.17g",
                          row, f, res[f].statistic, s);
            ck_assert_msg(res[f].pvalue == p, "row %zu feature %zu: p %.17g vs %.17g", row, f, res[f].pvalue,
                          p);
            checks++;
        }
    }
    ck_assert_uint_gt(checks, 80);
    mlops_drift_free(d);
}
END_TEST

/* Issue 28 #7: two features with one name would render one series twice (a scrape Prometheus
 * rejects); the detector refuses them, wherever they are in the list. */
START_TEST(duplicate_feature_names_are_refused) {
    const char *dup[4] = {"age", "income", "zip", "age"};
    mlops_drift *d = NULL;
    ck_assert_int_eq(mlops_drift_create(4, dup, NULL, NULL, &d), MLOPS_EEXIST);
    ck_assert_ptr_null(d);
    ck_assert_str_eq(mlops_last_error(), "drift_new: feature name \"age\" is given twice");
    const char *ok[4] = {"age", "income", "zip", "age2"};
    ck_assert_int_eq(mlops_drift_create(4, ok, NULL, NULL, &d), MLOPS_OK);
    mlops_drift_free(d);
}
END_TEST

START_TEST(detector_rejects_bad_input_and_keeps_state) {
    const char *names[2] = {"age", "colour"};
    mlops_feature_kind kinds[2] = {MLOPS_FEATURE_NUMERIC, MLOPS_FEATURE_CATEGORICAL};
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    o.window = 10;
    mlops_drift *d = NULL;
    o.p_value = 1.5;
    ck_assert_int_eq(mlops_drift_create(2, names, kinds, &o, &d), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "p_value"));
    o.p_value = 0.05;
    o.version = 99;
    ck_assert_int_eq(mlops_drift_create(2, names, kinds, &o, &d), MLOPS_EVERSION);
    o.version = MLOPS_DRIFT_OPTS_VERSION;
    o.window = 0;
    ck_assert_int_eq(mlops_drift_create(2, names, kinds, &o, &d), MLOPS_EINVAL);
    o.window = 10;
    ck_assert_int_eq(mlops_drift_create(0, NULL, NULL, &o, &d), MLOPS_EINVAL);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(mlops_drift_create(2, names, kinds, &o, &d), MLOPS_OK);
    double ref[8] = {1, 0, 2, 1, 3, 1, 4, 2};
    ck_assert_int_eq(mlops_drift_set_reference(d, ref, 4, 3), MLOPS_ESHAPE);
    ck_assert_str_eq(mlops_last_error(), "drift: set_reference: expected 2 features, got 3");
    double badcat[4] = {1, 0.5, 2, 1};
    ck_assert_int_eq(mlops_drift_set_reference(d, badcat, 2, 2), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "row 1 feature 1 is categorical but 0.5 is not an integer category"));
    double allnan[4] = {NAN, 1, NAN, 2};
    ck_assert_int_eq(mlops_drift_set_reference(d, allnan, 2, 2), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "'age' has no non-missing value"));
    ck_assert_int_eq(mlops_drift_set_reference(d, ref, 4, 2), MLOPS_OK);
    double cur[6] = {1.5, 1, 2.5, 2, NAN, 1};
    ck_assert_int_eq(mlops_drift_update(d, cur, 3, 2), MLOPS_OK);
    mlops_drift_feature_result before[2], after[2];
    mlops_drift_summary sb, sa;
    ck_assert_int_eq(mlops_drift_report(d, before, 2, &sb), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_report(d, before, 1, &sb), MLOPS_ESHAPE);
    /* a bad row in a batch: nothing of the batch is applied */
    double bad[4] = {5, 1, 6, 1.25};
    ck_assert_int_eq(mlops_drift_update(d, bad, 2, 2), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_drift_update(d, bad, 2, 1), MLOPS_ESHAPE);
    ck_assert_int_eq(mlops_drift_update(d, NULL, 2, 2), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_drift_statistic(d, 1, &sa.mean_statistic), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_drift_statistic(d, 9, &sa.mean_statistic), MLOPS_ERANGE);
    ck_assert_int_eq(mlops_drift_report(d, after, 2, &sa), MLOPS_OK);
    ck_assert_int_eq(memcmp(before, after, sizeof before), 0);
    ck_assert_uint_eq(sa.n_rows, 3);
    ck_assert_uint_eq(after[0].n_missing, 1);
    ck_assert_str_eq(mlops_drift_feature_name(d, 1), "colour");
    ck_assert_ptr_null(mlops_drift_feature_name(d, 2));
    char *json = NULL;
    ck_assert_int_eq(mlops_drift_report_json(d, &json), MLOPS_OK);
    ck_assert_ptr_nonnull(strstr(json, "\"name\":\"colour\""));
    ck_assert_ptr_nonnull(strstr(json, "\"test\":\"chi2\""));
    mlops_free(json);
    /* no reference and reference_size 0: updates are refused */
    mlops_drift *e = NULL;
    o.reference_size = 0;
    ck_assert_int_eq(mlops_drift_create(1, NULL, NULL, &o, &e), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_update(e, ref, 1, 1), MLOPS_ESTATE);
    mlops_drift_free(e);
    mlops_drift_free(d);
    mlops_drift_free(NULL);
}
END_TEST

static void fill_report(mlops_drift *d, mlops_drift_feature_result *r, size_t n, mlops_drift_summary *s) {
    ck_assert_int_eq(mlops_drift_report(d, r, n, s), MLOPS_OK);
}

START_TEST(save_and_load_round_trip) {
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    o.window = 50;
    o.reference_size = 80;
    o.correction = MLOPS_DRIFT_CORRECTION_BH;
    mlops_feature_kind kinds[3] = {MLOPS_FEATURE_NUMERIC, MLOPS_FEATURE_CATEGORICAL, MLOPS_FEATURE_NUMERIC};
    const char *names[3] = {"x", "c", "y z"};
    mlops_drift *d = NULL;
    ck_assert_int_eq(mlops_drift_create(3, names, kinds, &o, &d), MLOPS_OK);
    uint64_t st = 5;
    double row[3];
    for (int i = 0; i < 200; i++) {
        uint64_t r = splitmix64(&st);
        row[0] = (double)(r % 1000) / 7.0 + (i > 120 ? 40 : 0);
        row[1] = (double)(r % 4);
        row[2] = r % 13 == 0 ? NAN : (double)(r >> 40);
        ck_assert_int_eq(mlops_drift_update(d, row, 1, 3), MLOPS_OK);
        double pr = (double)(r % 100) / 100.0;
        ck_assert_int_eq(mlops_drift_update_predictions(d, &pr, 1), MLOPS_OK);
    }
    char dir[] = "/tmp/mlops-drift-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256], bad[300];
    snprintf(path, sizeof path, "%s/state.bin", dir);
    ck_assert_int_eq(mlops_drift_save(d, path), MLOPS_OK);
    mlops_drift *l = NULL;
    ck_assert_int_eq(mlops_drift_load(path, &l), MLOPS_OK);
    mlops_drift_feature_result a[3], b[3];
    mlops_drift_summary sa, sb;
    fill_report(d, a, 3, &sa);
    fill_report(l, b, 3, &sb);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    ck_assert_int_eq(memcmp(&sa, &sb, sizeof sa), 0);
    ck_assert_int_eq(sa.has_prediction, 1);
    ck_assert_str_eq(mlops_drift_feature_name(l, 2), "y z");
    /* both continue identically */
    for (int i = 0; i < 30; i++) {
        row[0] = i;
        row[1] = i % 5;
        row[2] = i * 3.0;
        ck_assert_int_eq(mlops_drift_update(d, row, 1, 3), MLOPS_OK);
        ck_assert_int_eq(mlops_drift_update(l, row, 1, 3), MLOPS_OK);
    }
    fill_report(d, a, 3, &sa);
    fill_report(l, b, 3, &sb);
    ck_assert_int_eq(memcmp(a, b, sizeof a), 0);
    /* truncated, corrupted, missing, foreign files */
    char *data;
    size_t len;
    ck_assert_int_eq(mlops__read_file(path, 1 << 30, &data, &len), MLOPS_OK);
    snprintf(bad, sizeof bad, "%s/trunc.bin", dir);
    ck_assert_int_eq(mlops__write_file_atomic(bad, data, len / 2), MLOPS_OK);
    mlops_drift *x = NULL;
    ck_assert_int_eq(mlops_drift_load(bad, &x), MLOPS_EFORMAT);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "checksum"));
    data[len / 3] ^= 0x40;
    ck_assert_int_eq(mlops__write_file_atomic(bad, data, len), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_load(bad, &x), MLOPS_EFORMAT);
    ck_assert_int_eq(mlops__write_file_atomic(bad, "hello world, not a state", 24), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_load(bad, &x), MLOPS_EFORMAT);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "not a libmlops drift state"));
    snprintf(bad, sizeof bad, "%s/missing.bin", dir);
    ck_assert_int_eq(mlops_drift_load(bad, &x), MLOPS_EIO);
    ck_assert_ptr_null(x);
    ck_assert_int_eq(mlops_drift_save(d, "/nonexistent-dir/x/state.bin"), MLOPS_EIO);
    mlops_free(data);
    unlink(path);
    rmdir(dir);
    mlops_drift_free(d);
    mlops_drift_free(l);
}
END_TEST

struct thr {
    mlops_drift *d;
    int id;
};

static void *hammer(void *arg) {
    struct thr *t = arg;
    double row[2];
    for (int i = 0; i < 2000; i++) {
        row[0] = (double)((i * 7 + t->id) % 50);
        row[1] = (double)(i % 9) * 0.5;
        if (mlops_drift_update(t->d, row, 1, 2) != MLOPS_OK) return (void *)1;
        if (i % 100 == 0) {
            mlops_drift_feature_result r[2];
            mlops_drift_summary s;
            if (mlops_drift_report(t->d, r, 2, &s) != MLOPS_OK) return (void *)1;
        }
    }
    return NULL;
}

START_TEST(concurrent_updates_and_reports) {
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    o.window = 300;
    mlops_drift *d = NULL;
    ck_assert_int_eq(mlops_drift_create(2, NULL, NULL, &o, &d), MLOPS_OK);
    double ref[200];
    for (int i = 0; i < 200; i++)
        ref[i] = (double)(i % 37);
    ck_assert_int_eq(mlops_drift_set_reference(d, ref, 100, 2), MLOPS_OK);
    pthread_t th[4];
    struct thr a[4];
    for (int i = 0; i < 4; i++) {
        a[i].d = d;
        a[i].id = i;
        ck_assert_int_eq(pthread_create(&th[i], NULL, hammer, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *r;
        pthread_join(th[i], &r);
        ck_assert_ptr_null(r);
    }
    mlops_drift_summary s;
    ck_assert_int_eq(mlops_drift_report(d, NULL, 0, &s), MLOPS_OK); /* summary only */
    mlops_drift_feature_result r[2];
    ck_assert_int_eq(mlops_drift_report(d, r, 2, &s), MLOPS_OK);
    ck_assert_uint_eq(s.n_seen, 8000);
    ck_assert_uint_eq(s.n_rows, 300);
    ck_assert_uint_eq(r[0].n_current, 300);
    mlops_drift_free(d);
}
END_TEST

static Suite *drift_suite(void) {
    const TTest *ks[] = {ks_matches_scipy_fixtures, ks_rejects_bad_input};
    const TTest *detector[] = {streaming_statistic_equals_from_scratch, streaming_large_batches_match_from_scratch,
                               detector_rejects_bad_input_and_keeps_state, duplicate_feature_names_are_refused,
                               save_and_load_round_trip, concurrent_updates_and_reports};
    Suite *s = suite_create("drift");
    test_case_add(s, "ks", 240, ks, MLOPS_TEST_COUNT(ks));
    test_case_add(s, "detector", 240, detector, MLOPS_TEST_COUNT(detector));
    suite_add_tcase(s, drift_snapshot_tcase()); /* test_snapshot.c */
    return s;
}

MLOPS_TEST_MAIN(drift_suite)
