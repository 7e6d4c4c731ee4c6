/* libFuzzer harness: our JSON model reader (lib/model/json_reader.c) against jansson on any bytes.
 * Both accept or both refuse, accepted documents are the same tree (compact arrays expanded, reals
 * bit for bit); the deliberate differences (NaN / Infinity tokens, the depth limit, the reserved
 * 0x02 byte) as tests/model/json_compare.h describes. Seeds: corpus/json_reader. */
#include <stdint.h>
#include <stdlib.h>

#include "../model/json_compare.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    mlops__json_read_error e;
    json_t *ours = mlops__json_read(s, size, 64, &e);
    if (!ours && (e.position > size || e.nomem)) abort();
    if (ours && mlops__arr_expand_all(ours)) abort();
    text ref = reference_text(s, size);
    json_error_t je;
    json_t *theirs = json_loadb(ref.s ? ref.s : "", ref.n, 0, &je);
    if (json_compare_verdict(ours, &e, theirs, 64)) abort();
    json_decref(ours);
    json_decref(theirs);
    free(ref.s);
    return 0;
}
