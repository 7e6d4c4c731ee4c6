/* libFuzzer harness: loading a drift state file (mlops_drift_load), then a
 * report and a save/load round trip of what loaded. Seeds: corpus/drift_state. */
#include "fuzz_util.h"
#include "mlops/drift.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[128], again[160];
    snprintf(path, sizeof path, "%s/drift.state", fuzz_dir());
    fuzz_write(path, data, size);
    mlops_drift *d = NULL;
    if (mlops_drift_load(path, &d) != MLOPS_OK) {
        if (d || !mlops_last_error()[0]) abort();
        return 0;
    }
    char *json = NULL;
    if (mlops_drift_report_json(d, &json) == MLOPS_OK) mlops_free(json);
    snprintf(again, sizeof again, "%s/drift.state.2", fuzz_dir());
    mlops_drift *e = NULL;
    if (mlops_drift_save(d, again) != MLOPS_OK || mlops_drift_load(again, &e) != MLOPS_OK) abort();
    mlops_drift_free(e);
    mlops_drift_free(d);
    return 0;
}
