/* Structural check of serialized XGBoost models before XGBoost parses them. Internal. */
#ifndef MLOPS_MODEL_FORMAT_H
#define MLOPS_MODEL_FORMAT_H

#include <stddef.h>

#include "mlops/model.h"

/* Detect the format of `data` (when hint is MLOPS_FORMAT_AUTO) and verify its structure completely
 * enough that XGBoost 1.7.4 can parse it without reading out of bounds. Returns MLOPS_OK and the
 * detected format, or MLOPS_EFORMAT with a message saying what is wrong and where. `what` names the
 * source in messages (a path or "buffer"). Never reads outside [data, data+len). */
mlops_status mlops__model_check_bytes(const void *data, size_t len, mlops_model_format hint, const char *what,
                                      mlops_model_format *detected);

#endif
