/* libFuzzer harness: schema parsing, then JSON output and re-parse of whatever parsed.
 * Built only with -Dfuzz=true and CC=clang; seed corpus in corpus/schema_parse. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mlops/schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mlops_schema *s = NULL;
    if (mlops_schema_load_buffer((const char *)data, size, &s) != MLOPS_OK) {
        if (s) abort(); /* out-parameter must stay untouched on failure */
        if (!mlops_last_error()[0]) abort();
        return 0;
    }
    char *text = NULL;
    if (mlops_schema_save_buffer(s, &text) != MLOPS_OK) abort();
    mlops_schema *t = NULL;
    if (mlops_schema_load_buffer(text, strlen(text), &t) != MLOPS_OK) abort(); /* round trip must hold */
    if (mlops_schema_n_features(t) != mlops_schema_n_features(s)) abort();
    mlops_free(text);
    mlops_schema_free(t);
    mlops_schema_free(s);
    return 0;
}
