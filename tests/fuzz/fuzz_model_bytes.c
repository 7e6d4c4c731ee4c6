/* libFuzzer harness: the structural check every serialized model passes before
 * XGBoost sees a byte (JSON, UBJSON, legacy binary; format detection too). A
 * format it accepts must be the one it was told to expect. The same bytes read
 * while streaming the trees to the native engine (issue 24) get the same
 * verdict, and a streamed document builds a forest or refuses with a message.
 * Seeds: corpus/model_bytes. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../lib/engine/engine.h"
#include "../../lib/model/format.h"
#include "mlops/common.h"

static void streamed_read(const uint8_t *data, size_t size, mlops_status verdict) {
    mlops__forest_stream *s = mlops__forest_stream_create();
    if (!s) abort();
    json_t *doc = NULL;
    int streamed = 0;
    mlops_model_format fmt = MLOPS_FORMAT_AUTO;
    mlops_status st = mlops__model_read_stream(data, size, MLOPS_FORMAT_AUTO, "fuzz", &fmt, &doc, s, &streamed);
    if (st != verdict) abort(); /* streaming never changes what the check says */
    if (st == MLOPS_OK && streamed) {
        mlops__forest *f = NULL;
        st = mlops__forest_stream_finish(s, doc, 0, 0, NULL, 0, NULL, 0, &f);
        if (st != MLOPS_OK && !mlops_last_error()[0]) abort();
        mlops__forest_free(f);
    }
    json_decref(doc);
    mlops__forest_stream_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mlops_model_format fmt = MLOPS_FORMAT_AUTO;
    mlops_status st = mlops__model_check_bytes(data, size, MLOPS_FORMAT_AUTO, "fuzz", &fmt);
    if (st != MLOPS_OK && !mlops_last_error()[0]) abort(); /* every refusal says why */
    streamed_read(data, size, st);
    if (st != MLOPS_OK) return 0;
    mlops_model_format again = MLOPS_FORMAT_AUTO;
    if (mlops__model_check_bytes(data, size, fmt, "fuzz", &again) != MLOPS_OK || again != fmt) abort();
    return 0;
}
