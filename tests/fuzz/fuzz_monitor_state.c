/* libFuzzer harness: loading a monitor state file (mlops_monitor_load), then
 * saving what loaded and loading it again. Seeds: corpus/monitor_state. */
#include <string.h>

#include "fuzz_util.h"
#include "mlops/monitor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[128], again[160];
    snprintf(path, sizeof path, "%s/monitor.state", fuzz_dir());
    fuzz_write(path, data, size);
    mlops_monitor *m = NULL;
    if (mlops_monitor_load(path, &m) != MLOPS_OK) {
        if (m || !mlops_last_error()[0]) abort();
        return 0;
    }
    snprintf(again, sizeof again, "%s/monitor.state.2", fuzz_dir());
    mlops_monitor *n = NULL;
    if (mlops_monitor_save(m, again) != MLOPS_OK || mlops_monitor_load(again, &n) != MLOPS_OK) abort();
    mlops_monitor_free(n);
    mlops_monitor_free(m);
    return 0;
}
