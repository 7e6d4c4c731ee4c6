/* Native flattened-forest evaluator: not yet written. Until it lands, every
 * model reports ENOTSUP here and MLOPS_ENGINE_AUTO falls back to XGBoost. */
#include "engine/engine.h"
#include "internal.h"

mlops_status mlops__forest_build(const char *json, size_t len, unsigned iteration_begin, unsigned iteration_end,
                                 mlops__forest **out) {
    (void)json;
    (void)len;
    (void)iteration_begin;
    (void)iteration_end;
    (void)out;
    return mlops__fail(MLOPS_ENOTSUP, "native engine: not built in this version");
}

void mlops__forest_free(mlops__forest *forest) { (void)forest; }
size_t mlops__forest_bytes(const mlops__forest *forest) { (void)forest; return 0; }
size_t mlops__forest_output_width(const mlops__forest *forest, int margin) { (void)forest; (void)margin; return 0; }
mlops_status mlops__forest_predict(const mlops__forest *forest, const float *x, size_t n_rows, size_t n_cols,
                                   float missing, int margin, int n_threads, float *out) {
    (void)forest; (void)x; (void)n_rows; (void)n_cols; (void)missing; (void)margin; (void)n_threads; (void)out;
    return mlops__fail(MLOPS_ENOTSUP, "native engine: not built in this version");
}
