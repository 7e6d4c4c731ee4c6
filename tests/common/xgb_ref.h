/* XGBoost as the reference of the Check tests that compare against it in-process (engine, model,
 * json_reader): its checked C API calls and its dense predict. Linked through test_xgb_ref_dep
 * (tests/meson.build). The functions call ck_assert: use them inside a test or fixture. */
#ifndef MLOPS_TEST_XGB_REF_H
#define MLOPS_TEST_XGB_REF_H

#include <stddef.h>
#include <xgboost/c_api.h>

/* Fail the test, naming `what` and XGBoost's last error, when the XGBoost call returned `rc` != 0. */
void test_xgb_ok(int rc, const char *what);

/* The XGBoost model files (*.ubj) of directory `dir`, sorted (see test_list_dir; free with
 * test_names_free); the test fails when there are fewer than `min`. */
char **test_xgb_models(const char *dir, size_t min, size_t *n);

/* A booster loaded from the model file `path`, predicting on one thread (free with XGBoosterFree). */
BoosterHandle test_xgb_load(const char *path);

/* The booster's JSON export, NUL-terminated (malloc'd, caller frees); *len gets its length. */
char *test_xgb_save_json(BoosterHandle h, size_t *len);

/* XGBoosterPredictFromDense on `rows` x `cols` float32 values `x` (row-major; `missing` marks a
 * missing value, NaN as usual), output type margin (1) or default (0), trees of iterations
 * [ib, ie) ((0, 0): all). Returns XGBoost's buffer (valid until the booster's next predict or
 * free; do not free it) and sets *n to the number of values in it. */
const float *test_xgb_predict(BoosterHandle h, const float *x, size_t rows, size_t cols, int margin, unsigned ib,
                              unsigned ie, float missing, size_t *n);

#endif
