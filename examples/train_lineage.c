/* Lineage for mlops-train (train_lineage.h). The training data is digested with libsodium's
 * BLAKE2b-256 (the registry's digest), streamed so that a large CSV is never held twice. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <xgboost/c_api.h>

#include "mlops.h"
#include "train_lineage.h"

/* "blake2b-256:<hex>" of the file at `path` into `out` (80 bytes); 0 or -1 (errno set). */
static int file_digest(const char *path, char out[80]) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 32);
    unsigned char buf[1 << 16], d[32];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        crypto_generichash_update(&h, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return -1;
    crypto_generichash_final(&h, d, sizeof d);
    char hex[65];
    sodium_bin2hex(hex, sizeof hex, d, sizeof d);
    snprintf(out, 80, "blake2b-256:%s", hex);
    return 0;
}

static json_t *lineage_json(mlops_registry *r, const train_lineage *t, const char *digest) {
    int maj = 0, min = 0, pat = 0;
    XGBoostVersion(&maj, &min, &pat);
    char xgbv[32];
    snprintf(xgbv, sizeof xgbv, "%d.%d.%d", maj, min, pat);
    json_t *lin = json_pack("{s:[{s:s, s:s}], s:{s:s, s:I, s:I, s:f, s:I, s:s}, s:{s:s, s:s, s:s}}", "data",
                            "path", t->data_path, "digest", digest, "params", "objective", t->objective,
                            "rounds", (json_int_t)t->rounds, "max_depth", (json_int_t)t->max_depth, "eta",
                            atof(t->eta), "seed", (json_int_t)t->seed, "label", t->label, "tools", "trainer",
                            "mlops-train", "libmlops", mlops_version_string(), "xgboost", xgbv);
    if (lin && t->num_class > 0)
        json_object_set_new(json_object_get(lin, "params"), "num_class", json_integer(t->num_class));
    uint32_t parent = 0;
    if (lin && mlops_registry_latest(r, t->name, &parent) == MLOPS_OK)
        json_object_set_new(lin, "parent", json_integer((json_int_t)parent));
    mlops_clear_error(); /* no versions yet: no parent */
    return lin;
}

int train_lineage_record(const train_lineage *t) {
    if (!t->name) {
        fprintf(stderr, "mlops-train: --registry needs --name NAME\n");
        return 2;
    }
    char digest[80];
    if (sodium_init() < 0 || file_digest(t->data_path, digest) != 0) {
        fprintf(stderr, "mlops-train: cannot digest %s\n", t->data_path);
        return 2;
    }
    mlops_registry_opts o = MLOPS_REGISTRY_OPTS_INIT;
    o.create = 1;
    o.sign_key = t->sign_key;
    o.audit = 1;
    mlops_registry *r = NULL;
    if (mlops_registry_create(t->dir, &o, &r) != MLOPS_OK) {
        fprintf(stderr, "mlops-train: --registry %s: %s\n", t->dir, mlops_last_error());
        return 2;
    }
    json_t *meta = json_pack("{s:o*}", "lineage", lineage_json(r, t, digest));
    char *text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    uint32_t v = 0;
    int rc = 0;
    if (!text || mlops_registry_put_file(r, t->name, t->model_path, text, &v) != MLOPS_OK) {
        fprintf(stderr, "mlops-train: --registry %s --name %s: %s\n", t->dir, t->name,
                text ? mlops_last_error() : "out of memory");
        rc = 2;
    } else {
        printf("mlops-train: registered %s version %u in %s\n", t->name, (unsigned)v, t->dir);
    }
    free(text);
    mlops_registry_free(r);
    return rc;
}
