/* Slow check: every mutated fixture (truncation or seeded bit flip) that the format checker
 * ACCEPTS is loaded by XGBoost 1.7 (XGBoosterLoadModelFromBuffer) and used to predict a few rows,
 * so that running this under valgrind or ASan proves accepted bytes never make XGBoost read out of
 * bounds. Mutants the checker rejects are not given to XGBoost (it may overread on those).
 * FORMAT_XGB_FLIPS (default 150) sets the number of bit flips per fixture. */
#include <check.h>
#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "fixtures_util.h"
#include "mlops/common.h"
#include "model/format.h"
#include "harness.h"

static void quiet(const char *msg) { (void)msg; }

static size_t n_loaded, n_load_errors;

/* Load `b` with XGBoost and predict 8 rows (with missing values); any outcome but a crash is fine. */
static void load_and_predict(const unsigned char *b, size_t len) {
    BoosterHandle h = NULL;
    ck_assert_int_eq(XGBoosterCreate(NULL, 0, &h), 0);
    if (XGBoosterLoadModelFromBuffer(h, b, (bst_ulong)len) != 0) {
        ++n_load_errors;
        if (getenv("FORMAT_XGB_VERBOSE"))
            fprintf(stderr, "xgboost refused a mutant: %.300s\n", XGBGetLastError());
        XGBoosterFree(h);
        return;
    }
    ++n_loaded;
    bst_ulong nf = 0;
    if (XGBoosterGetNumFeature(h, &nf) == 0 && nf > 0 && nf < 4096) {
        size_t n = 8 * (size_t)nf;
        float *x = malloc(n * sizeof *x);
        for (size_t i = 0; i < n; ++i)
            x[i] = i % 5 == 0 ? NAN : (float)((int)(i % 7) - 3) * 0.7f;
        DMatrixHandle d = NULL;
        if (XGDMatrixCreateFromMat(x, 8, nf, NAN, &d) == 0) {
            bst_ulong const *shape = NULL;
            bst_ulong dim = 0;
            float const *out = NULL;
            const char *cfg =
                "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, \"iteration_end\": 0, "
                "\"strict_shape\": false}";
            if (XGBoosterPredictFromDMatrix(h, d, cfg, &shape, &dim, &out) == 0) {
                bst_ulong total = 1;
                for (bst_ulong k = 0; k < dim; ++k)
                    total *= shape[k];
                volatile float sink = 0;
                for (bst_ulong k = 0; k < total; ++k)
                    sink += out[k];
                (void)sink;
            }
            XGDMatrixFree(d);
        }
        free(x);
    }
    XGBoosterFree(h);
}

START_TEST(accepted_mutants_load_safely) {
    fx fixtures[FX_MAX];
    size_t n = fx_load_all(fixtures);
    ck_assert_uint_ge(n, 20);
    XGBRegisterLogCallback(quiet);
    const char *env = getenv("FORMAT_XGB_FLIPS");
    int flips = env ? atoi(env) : 150;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 20240611);
    size_t accepted = 0, tried = 0;
    for (size_t i = 0; i < n; ++i) {
        const fx *f = &fixtures[i];
        /* The fixture itself, then truncations (none should pass), then bit flips. */
        load_and_predict(f->data, f->len);
        size_t cut;
        for (size_t k = 0; fx_trunc_len(f->len, k, &cut); ++k) {
            ++tried;
            if (mlops__model_check_bytes(f->data, cut, MLOPS_FORMAT_AUTO, f->name, NULL) != MLOPS_OK)
                continue;
            ++accepted;
            unsigned char *b = malloc(cut ? cut : 1);
            memcpy(b, f->data, cut);
            load_and_predict(b, cut);
            free(b);
        }
        for (int k = 0; k < flips; ++k) {
            unsigned char *b = malloc(f->len);
            fx_bitflip(r, f->data, f->len, b);
            ++tried;
            if (mlops__model_check_bytes(b, f->len, MLOPS_FORMAT_AUTO, f->name, NULL) == MLOPS_OK) {
                ++accepted;
                load_and_predict(b, f->len);
            }
            free(b);
        }
    }
    gsl_rng_free(r);
    fx_free_all(fixtures, n);
    fprintf(stderr,
            "format_xgb: %zu mutants, %zu accepted by the checker; XGBoost loaded %zu (incl. %zu originals), "
            "refused %zu\n",
            tried, accepted, n_loaded, n, n_load_errors);
    ck_assert_uint_gt(accepted, 0);
}
END_TEST

static Suite *make_suite(void) {
    TCase *tc;
    Suite *s = test_suite_single("format_xgb", 3600, NULL, NULL, &tc);
    tcase_add_test(tc, accepted_mutants_load_safely);
    return s;
}

MLOPS_TEST_MAIN(make_suite)
