/* libFuzzer harness: parsing a drift window snapshot (mlops_drift_snapshot_load_buffer), then a
 * report, a save/load round trip and a merge of what loaded. The input is the snapshot without
 * its trailing checksum: the harness appends the right one, so the fuzzer reaches the parser
 * behind it (and the input as given is tried too). Seeds: corpus/drift_snapshot. */
#include <string.h>

#include "fuzz_util.h"
#include "mlops/drift.h"

static uint64_t fnv1a64(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void check(const uint8_t *data, size_t size) {
    mlops_drift_snapshot *s = NULL, *t = NULL;
    if (mlops_drift_snapshot_load_buffer(data, size, &s) != MLOPS_OK) {
        if (s || !mlops_last_error()[0]) abort();
        return;
    }
    char *json = NULL;
    if (mlops_drift_snapshot_report_json(s, &json) == MLOPS_OK) mlops_free(json);
    void *again = NULL;
    size_t len = 0;
    if (mlops_drift_snapshot_save_buffer(s, &again, &len) != MLOPS_OK ||
        mlops_drift_snapshot_load_buffer(again, len, &t) != MLOPS_OK || len != size || memcmp(again, data, size))
        abort(); /* what loads saves back to the same bytes */
    mlops_status st = mlops_drift_snapshot_merge(s, t); /* same reference: merges unless it grows too large */
    if (st != MLOPS_OK && st != MLOPS_ELIMIT) abort();
    mlops_free(again);
    mlops_drift_snapshot_free(t);
    mlops_drift_snapshot_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check(data, size);
    uint8_t *sealed = malloc(size + 8);
    if (!sealed) return 0;
    memcpy(sealed, data, size);
    uint64_t h = fnv1a64(data, size);
    memcpy(sealed + size, &h, 8);
    check(sealed, size + 8);
    free(sealed);
    return 0;
}
