/* XGBoost as the reference of the Check tests (see xgb_ref.h). */
#include "xgb_ref.h"

#include "harness.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void test_xgb_ok(int rc, const char *what) { ck_assert_msg(rc == 0, "%s: %s", what, XGBGetLastError()); }

char **test_xgb_models(const char *dir, size_t min, size_t *n) {
    char **names = test_list_dir(dir, ".ubj", n);
    ck_assert_msg(*n >= min, "%zu XGBoost models (*.ubj) in %s, expected at least %zu", *n, dir, min);
    return names;
}

BoosterHandle test_xgb_load(const char *path) {
    BoosterHandle h = NULL;
    test_xgb_ok(XGBoosterCreate(NULL, 0, &h), "create");
    test_xgb_ok(XGBoosterLoadModel(h, path), path);
    test_xgb_ok(XGBoosterSetParam(h, "nthread", "1"), "nthread");
    return h;
}

char *test_xgb_save_json(BoosterHandle h, size_t *len) {
    bst_ulong n = 0;
    const char *json = NULL;
    test_xgb_ok(XGBoosterSaveModelToBuffer(h, "{\"format\": \"json\"}", &n, &json), "save json");
    char *copy = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, json, (size_t)n);
    copy[n] = '\0';
    *len = (size_t)n;
    return copy;
}

const float *test_xgb_predict(BoosterHandle h, const float *x, size_t rows, size_t cols, int margin, unsigned ib,
                              unsigned ie, float missing, size_t *n) {
    char arr[256], cfg[512], miss[64];
    snprintf(arr, sizeof arr,
             "{\"data\": [%llu, true], \"shape\": [%zu, %zu], \"typestr\": \"<f4\", \"version\": 3}",
             (unsigned long long)(uintptr_t)x, rows, cols);
    if (isnan(missing))
        snprintf(miss, sizeof miss, "NaN");
    else
        snprintf(miss, sizeof miss, "%.9g", (double)missing);
    snprintf(cfg, sizeof cfg,
             "{\"type\": %d, \"training\": false, \"iteration_begin\": %u, \"iteration_end\": %u, "
             "\"strict_shape\": false, \"missing\": %s, \"cache_id\": 0}",
             margin ? 1 : 0, ib, ie, miss);
    const bst_ulong *shape;
    bst_ulong dim;
    const float *res;
    test_xgb_ok(XGBoosterPredictFromDense(h, arr, cfg, NULL, &shape, &dim, &res), "predict");
    size_t count = 1;
    for (bst_ulong i = 0; i < dim; i++)
        count *= (size_t)shape[i];
    *n = count;
    return res;
}
