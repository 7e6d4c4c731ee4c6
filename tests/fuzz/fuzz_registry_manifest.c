/* libFuzzer harness: a registry version's manifest.json (mlops_registry_info and
 * mlops_registry_verify read and validate it). The first byte picks whether the
 * input is the manifest or an alias file. Seeds: corpus/registry_manifest. */
#include <string.h>

#include "fuzz_util.h"
#include "mlops/registry.h"

static mlops_registry *reg;
static char manifest[256], alias[256];

static void open_registry(void) {
    char root[128], p[200];
    snprintf(root, sizeof root, "%s/reg", fuzz_dir());
    mlops_registry_opts o = MLOPS_REGISTRY_OPTS_INIT;
    o.create = 1;
    if (mlops_registry_create(root, &o, &reg) != MLOPS_OK) abort();
    static const char bytes[] = "not a model, never parsed by info or verify";
    uint32_t v = 0;
    if (mlops_registry_put(reg, "m", bytes, sizeof bytes, "{\"k\": 1}", &v) != MLOPS_OK || v != 1) abort();
    if (mlops_registry_set_alias(reg, "m", "prod", 1) != MLOPS_OK) abort();
    snprintf(manifest, sizeof manifest, "%s/m/1/manifest.json", root);
    snprintf(alias, sizeof alias, "%s/m/aliases/prod", root);
    snprintf(p, sizeof p, "%s.orig", manifest);
    if (link(manifest, p) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!reg) open_registry();
    if (size == 0) return 0;
    int is_alias = data[0] & 1;
    fuzz_write(is_alias ? alias : manifest, data + 1, size - 1);
    char *out = NULL;
    uint32_t v = 0;
    if (is_alias) {
        if (mlops_registry_resolve_alias(reg, "m", "prod", &v) == MLOPS_OK && v != 1) abort();
    } else if (mlops_registry_info(reg, "m", 1, &out) == MLOPS_OK) {
        mlops_free(out);
    }
    if (mlops_registry_verify(reg, "m", &out) != MLOPS_OK) abort(); /* problems are reported, not failures */
    mlops_free(out);
    return 0;
}
