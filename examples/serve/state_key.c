/* Which model the saved monitor and drift state belong to. A restart with another model (a new
 * registry version, another task or feature set) must not restore a window of predictions the
 * served model never made, and must not fail either: with a persistent volume and a Recreate
 * rollout that would be a crash loop on every upgrade. So --state-dir keeps a key of the live
 * model beside the state; a state of another model, or one that cannot be read, is set aside
 * (renamed, never deleted) with a log line and ml_state_set_aside_total{reason}. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "serve.h"

#define KEY_FILE "state.key"

/* BLAKE2b-256 of a file, as hex; 0 or -1. */
static int file_digest(const char *path, char hex[2 * crypto_generichash_BYTES + 1]) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, crypto_generichash_BYTES);
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        crypto_generichash_update(&st, buf, n);
    int bad = ferror(f);
    fclose(f);
    unsigned char out[crypto_generichash_BYTES];
    crypto_generichash_final(&st, out, sizeof out);
    sodium_bin2hex(hex, 2 * crypto_generichash_BYTES + 1, out, sizeof out);
    return bad ? -1 : 0;
}

/* The live model's identity: the registry manifest's digest, or the model file's. */
static int model_identity(server *s, char *out, size_t cap) {
    if (!s->registry) {
        char hex[2 * crypto_generichash_BYTES + 1];
        if (file_digest(s->opts->model_path, hex) != 0) return -1;
        snprintf(out, cap, "blake2b-256:%s", hex);
        return 0;
    }
    char *manifest = NULL;
    unsigned v = atomic_load(&s->slot_version[MLOPS_SLOT_BLUE]);
    if (mlops_registry_info(s->registry, s->opts->reg_name, v, &manifest) != MLOPS_OK) return -1;
    json_t *doc = json_loads(manifest, 0, NULL);
    mlops_free(manifest);
    const char *digest = json_string_value(json_object_get(doc, "digest"));
    if (digest) snprintf(out, cap, "%s", digest);
    json_decref(doc);
    return digest ? 0 : -1;
}

/* The key of `live` (one line per fact, so that a mismatch is easy to read in the file). */
static char *model_key(server *s, const mlops_model *live) {
    char id[256];
    if (model_identity(s, id, sizeof id) != 0) return NULL;
    size_t cap = 512, len = 0;
    for (size_t j = 0; j < mlops_model_n_features(live); j++)
        cap += strlen(mlops_model_feature_name(live, j)) + 1;
    char *key = malloc(cap);
    if (key) {
        len = (size_t)snprintf(key, cap, "model %s\ntask %s\nwidth %zu\nfeatures %zu", id,
                               mlops_task_name(mlops_model_task(live)), mlops_model_output_width(live, 0),
                               mlops_model_n_features(live));
        for (size_t j = 0; j < mlops_model_n_features(live) && len < cap; j++)
            len += (size_t)snprintf(key + len, cap - len, "%c%s", j ? ',' : ' ', mlops_model_feature_name(live, j));
        if (len < cap) snprintf(key + len, cap - len, "\n");
    }
    return key;
}

/* A regular file of at most 1 MiB (a FIFO or device put there is not waited on); NULL otherwise. */
static char *read_small_file(const char *path) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= (1 << 20) &&
        (buf = malloc((size_t)st.st_size + 1))) {
        ssize_t n = read(fd, buf, (size_t)st.st_size);
        if (n != (ssize_t)st.st_size) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
        }
    }
    close(fd);
    return buf;
}

static void key_path(const server *s, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s", s->opts->state_dir, KEY_FILE);
}

void serve_state_set_aside(server *s, const char *path, const char *reason) {
    char aside[4200];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(aside, sizeof aside, "%s.set-aside.%s", path, stamp);
    if (rename(path, aside) != 0) {
        fprintf(stderr, "%s: cannot set %s aside: %s\n", serve_prog, path, strerror(errno));
        return;
    }
    fprintf(stderr, "%s: %s set aside as %s (%s); starting that state afresh\n", serve_prog, path, aside,
            strcmp(reason, "other_model") == 0 ? "it belongs to another model" : "it cannot be read");
    const char *labels[1] = {reason};
    mlops_metrics_counter_inc_labels(s->set_aside, labels, 1, 1.0);
}

int serve_state_key_matches(server *s) {
    char path[4200];
    key_path(s, path, sizeof path);
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT) return 1; /* saved before keys existed: try it */
    char *saved = read_small_file(path);
    if (!saved) return 0;
    char *now = model_key(s, s->model); /* at start the live model is the one loaded */
    int same = now && strcmp(now, saved) == 0;
    free(now);
    free(saved);
    return same;
}

int serve_state_save_key(server *s) {
    char path[4200];
    key_path(s, path, sizeof path);
    mlops_model *live = NULL;
    if (mlops_deploy_model(s->deploy, MLOPS_SLOT_BLUE, &live) != MLOPS_OK) return -1;
    char *key = model_key(s, live);
    mlops_model_free(live);
    int rc = key && mlops_write_file(path, key, strlen(key)) == MLOPS_OK ? 0 : -1;
    if (rc) fprintf(stderr, "%s: saving %s: %s\n", serve_prog, path, key ? mlops_last_error() : "out of memory");
    free(key);
    return rc;
}
