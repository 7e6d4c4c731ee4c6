/* libFuzzer harness: the files a registry reads back — a version's manifest.json
 * (plain and unsigned, or signed and encrypted: signature, encryption record,
 * lineage), an alias file, and the audit log (.audit.jsonl). The first byte
 * picks the target: bit 2 set = the audit log (mlops_registry_audit_verify);
 * else bit 0 = alias file, else bit 1 = version 2's manifest (signed +
 * encrypted) instead of version 1's. Manifests are read by info, lineage,
 * verify and a load through a handle that trusts the signing key and holds the
 * decryption key. Seeds: corpus/registry_manifest (gen_corpus.py). */
#include <string.h>

#include "fuzz_util.h"
#include "mlops/registry.h"

static mlops_registry *reg, *trusted;
static char manifest[2][256], alias[256], audit_log[256];

static mlops_registry *open_reg(const char *root, const char *sign, const char *enc, const char *trust) {
    mlops_registry_opts o = MLOPS_REGISTRY_OPTS_INIT;
    o.create = 1;
    o.audit = 1;
    o.sign_key = sign;
    o.encryption_key = enc;
    const char *t[1] = {trust};
    o.trust_keys = t;
    o.n_trust_keys = trust ? 1 : 0;
    mlops_registry *r = NULL;
    if (mlops_registry_create(root, &o, &r) != MLOPS_OK) abort();
    return r;
}

static void open_registry(void) {
    char root[128], key[160], sec[160], pub[160], sym[160], p[300];
    snprintf(root, sizeof root, "%s/reg", fuzz_dir());
    snprintf(key, sizeof key, "%s/signer", fuzz_dir());
    snprintf(sec, sizeof sec, "%s/signer.key", fuzz_dir());
    snprintf(pub, sizeof pub, "%s/signer.pub", fuzz_dir());
    snprintf(sym, sizeof sym, "%s/data.key", fuzz_dir());
    if (mlops_registry_keygen(key, 0) != MLOPS_OK || mlops_registry_keygen(sym, 1) != MLOPS_OK) abort();
    reg = open_reg(root, NULL, NULL, NULL);
    static const char bytes[] = "not a model, never parsed by info or verify";
    uint32_t v = 0;
    if (mlops_registry_put(reg, "m", bytes, sizeof bytes, "{\"k\": 1}", &v) != MLOPS_OK || v != 1) abort();
    if (mlops_registry_set_alias(reg, "m", "prod", 1) != MLOPS_OK) abort();
    mlops_registry *w = open_reg(root, sec, sym, NULL);
    if (mlops_registry_put(w, "m", bytes, sizeof bytes,
                           "{\"lineage\": {\"parent\": 1, \"params\": {\"eta\": 0.3}}}", &v) != MLOPS_OK ||
        v != 2)
        abort();
    mlops_registry_free(w);
    trusted = open_reg(root, NULL, sym, pub);
    for (int i = 0; i < 2; i++) {
        snprintf(manifest[i], sizeof manifest[i], "%s/m/%d/manifest.json", root, i + 1);
        snprintf(p, sizeof p, "%s.orig", manifest[i]);
        if (link(manifest[i], p) != 0) abort();
    }
    snprintf(alias, sizeof alias, "%s/m/aliases/prod", root);
    snprintf(audit_log, sizeof audit_log, "%s/.audit.jsonl", root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!reg) open_registry();
    if (size == 0) return 0;
    char *out = NULL;
    uint32_t v = 0;
    size_t n = 0;
    if (data[0] & 4) {
        fuzz_write(audit_log, data + 1, size - 1);
        if (mlops_registry_audit_verify(reg, &n) == MLOPS_OK && n > size)
            abort(); /* more entries than lines */
        return 0;
    }
    int is_alias = data[0] & 1, which = (data[0] >> 1) & 1;
    fuzz_write(is_alias ? alias : manifest[which], data + 1, size - 1);
    if (is_alias) {
        if (mlops_registry_resolve_alias(reg, "m", "prod", &v) == MLOPS_OK && v != 1 && v != 2) abort();
    } else {
        for (int t = 0; t < 2; t++) {
            mlops_registry *r = t ? trusted : reg;
            if (mlops_registry_info(r, "m", (uint32_t)which + 1, &out) == MLOPS_OK) mlops_free(out);
            if (mlops_registry_lineage(r, "m", 2, &out) == MLOPS_OK) mlops_free(out);
        }
        mlops_model *m = NULL;
        if (mlops_registry_load_model(trusted, "m", (uint32_t)which + 1, NULL, &m, NULL) == MLOPS_OK)
            abort(); /* not a model */
    }
    if (mlops_registry_verify(reg, "m", &out) != MLOPS_OK) abort(); /* problems are reported, not failures */
    mlops_free(out);
    if (mlops_registry_verify(trusted, "m", &out) != MLOPS_OK) abort();
    mlops_free(out);
    return 0;
}
