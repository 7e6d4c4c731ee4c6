/* libFuzzer harness: the structural check every serialized model passes before
 * XGBoost sees a byte (JSON, UBJSON, legacy binary; format detection too). A
 * format it accepts must be the one it was told to expect. Seeds: corpus/model_bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "../../lib/model/format.h"
#include "mlops/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mlops_model_format fmt = MLOPS_FORMAT_AUTO;
    mlops_status st = mlops__model_check_bytes(data, size, MLOPS_FORMAT_AUTO, "fuzz", &fmt);
    if (st != MLOPS_OK) {
        if (!mlops_last_error()[0]) abort(); /* every refusal says why */
        return 0;
    }
    mlops_model_format again = MLOPS_FORMAT_AUTO;
    if (mlops__model_check_bytes(data, size, fmt, "fuzz", &again) != MLOPS_OK || again != fmt) abort();
    return 0;
}
