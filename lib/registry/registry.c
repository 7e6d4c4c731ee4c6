/* The model registry: a directory of immutable numbered versions with
 * BLAKE2b-256 digests (libsodium) and aliases. Layout, crash safety and the
 * concurrency argument are in include/mlops/registry.h; in short:
 *
 *   <root>/.mlops-registry              marker {"format": "mlops-registry", "version": 1}
 *   <root>/<name>/<N>/model.bin         the bytes
 *   <root>/<name>/<N>/manifest.json     written last; its presence makes version N exist
 *   <root>/<name>/aliases/<alias>       {"version": N}
 *
 * mkdir(<N>) is the exclusive reservation of number N; a deleted version keeps
 * its (empty) directory so the number is never reused. Files are written with
 * mlops__write_file_atomic, whose temporaries ("<file>.tmp.<pid>.<n>") are not
 * version numbers or valid aliases' files, so listings never see them; those of
 * dead writers are removed when the registry is opened. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_sort_uint.h>

#include "internal.h"
#include "mlops/registry.h"
#include "trust.h"

#define DEFAULT_MAX_MODEL ((size_t)2 << 30)
#define DEFAULT_MAX_META ((size_t)64 << 10)
#define MANIFEST_MAX ((size_t)1 << 20)
#define ALIAS_MAX ((size_t)4096)
#define MARKER ".mlops-registry"
#define DIGEST_PREFIX "blake2b-256:"
#define DIGEST_BYTES 32u /* crypto_generichash_BYTES: BLAKE2b-256 */
#define FORMAT_VERSION 1

struct mlops_registry {
    char *root;
    size_t max_model, max_meta;
    reg_keys keys; /* trust set, signing and encryption keys: read at open, never changed */
    char *actor;   /* who the audit log names */
};

/* ---- small helpers ------------------------------------------------------------------------------ */

static char *pathf(const char *fmt, ...) MLOPS__PRINTF(1, 2);
static char *pathf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *s = mlops__malloc((size_t)n + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static mlops_status oom(const char *what) {
    return mlops__fail(MLOPS_ENOMEM, "registry: %s: out of memory", what);
}

/* `root` (NULL: out of memory) as JSON text (jansson `flags`) into *out, for mlops_free(). */
static mlops_status dump_json(const json_t *root, size_t flags, const char *what, char **out) {
    char *copy = mlops__strdup_take(root ? json_dumps(root, flags) : NULL);
    if (!copy) return oom(what);
    *out = copy;
    return MLOPS_OK;
}

/* kind: "model name" or "alias". Aliases must also start with a letter and not be "latest". */
static mlops_status check_name(const char *kind, const char *s) {
    MLOPS__FAIL_IF(!s, MLOPS_EINVAL, "registry: %s is NULL", kind);
    size_t n = strlen(s);
    if (n == 0) return mlops__fail(MLOPS_EINVAL, "registry: %s is empty", kind);
    if (n > MLOPS_REGISTRY_NAME_MAX)
        return mlops__fail(MLOPS_EINVAL, "registry: %s is %zu bytes, the limit is %u", kind, n,
                           MLOPS_REGISTRY_NAME_MAX);
    if (s[0] == '.') return mlops__fail(MLOPS_EINVAL, "registry: %s '%s' starts with '.'", kind, s);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '_' || c == '-';
        if (!ok)
            return mlops__fail(
                MLOPS_EINVAL,
                "registry: %s '%.*s' has character 0x%02x at offset %zu; allowed: A-Z a-z 0-9 . _ -", kind,
                (int)n, s, c, i);
    }
    return MLOPS_OK;
}

static mlops_status check_alias(const char *alias) {
    mlops_status st = check_name("alias", alias);
    if (st) return st;
    if (!((alias[0] >= 'A' && alias[0] <= 'Z') || (alias[0] >= 'a' && alias[0] <= 'z')))
        return mlops__fail(MLOPS_EINVAL, "registry: alias '%s' must start with a letter", alias);
    return MLOPS_OK;
}

static mlops_status check_reg(const mlops_registry *reg, const char *fn) {
    MLOPS__FAIL_IF(!reg, MLOPS_EINVAL, "registry: %s: registry is NULL", fn);
    return MLOPS_OK;
}

static void digest_hex(const void *data, size_t len, char hex[2 * DIGEST_BYTES + 1]) {
    mlops__reg_digest_hex(data, len, hex);
}

/* Append an audit entry if the registry keeps a log. `fields` is consumed. */
static mlops_status audit(const mlops_registry *reg, const char *action, json_t *fields,
                          mlops_status result) {
    mlops_status st = MLOPS_OK;
    int on = mlops__audit_enabled(reg->root);
    if (on < 0) st = oom("audit log"); /* unknown whether a log is kept: do not act unrecorded */
    if (on > 0) {
        char res[512] = "ok";
        if (result) snprintf(res, sizeof res, "%s: %s", mlops_status_str(result), mlops_last_error());
        st = fields ? mlops__audit_append(reg->root, reg->actor, action, fields, res)
                    : mlops__fail(MLOPS_ENOMEM, "registry: audit: out of memory");
    }
    json_decref(fields);
    return st;
}

/* "123" -> 123; anything but a canonical decimal in 1..UINT32_MAX -> 0. */
static uint32_t parse_version_dir(const char *s) {
    if (s[0] < '1' || s[0] > '9') return 0;
    unsigned long long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || p - s >= 10) return 0;
        v = v * 10 + (unsigned long long)(*p - '0');
    }
    return v <= UINT32_MAX ? (uint32_t)v : 0;
}

static int is_regular(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Existing versions of `name` (sorted, allocated into *list; may be NULL when
 * *n == 0) and the highest number ever reserved (*max_any, tombstones too).
 * ENOTFOUND when the model directory does not exist. */
static mlops_status scan_versions(const mlops_registry *reg, const char *name, unsigned **list, size_t *n,
                                  uint32_t *max_any) {
    char *dir = pathf("%s/%s", reg->root, name);
    if (!dir) return oom(name);
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        mlops_status st =
            e == ENOENT ? mlops__fail(MLOPS_ENOTFOUND, "registry: no model named '%s' in %s", name, reg->root)
                        : mlops__fail(MLOPS_EIO, "registry: %s: %s", dir, strerror(e));
        mlops__free(dir);
        return st;
    }
    unsigned *v = NULL;
    size_t count = 0, cap = 0;
    uint32_t hi = 0;
    mlops_status st = MLOPS_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint32_t num = parse_version_dir(e->d_name);
        if (!num) continue;
        if (num > hi) hi = num;
        if (!list) continue;
        char *man = pathf("%s/%s/manifest.json", dir, e->d_name);
        if (!man) {
            st = oom(name);
            break;
        }
        int visible = is_regular(man);
        mlops__free(man);
        if (!visible) continue;
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            unsigned *nv = mlops__realloc(v, ncap * sizeof *nv);
            if (!nv) {
                st = oom(name);
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[count++] = num;
    }
    closedir(d);
    mlops__free(dir);
    if (st) {
        mlops__free(v);
        return st;
    }
    if (count > 1) gsl_sort_uint(v, 1, count);
    if (list) {
        *list = v;
        *n = count;
    }
    if (max_any) *max_any = hi;
    return MLOPS_OK;
}

static mlops_status latest(const mlops_registry *reg, const char *name, uint32_t *out) {
    unsigned *v = NULL;
    size_t n = 0;
    mlops_status st = scan_versions(reg, name, &v, &n, NULL);
    if (st) return st;
    if (n == 0) {
        mlops__free(v);
        return mlops__fail(MLOPS_ENOTFOUND, "registry: model '%s' has no versions", name);
    }
    *out = v[n - 1];
    mlops__free(v);
    return MLOPS_OK;
}

/* The arguments of a call `fn` on one version of model `name`; *version 0 becomes the latest. */
static mlops_status check_version_call(const mlops_registry *reg, const char *fn, const char *name,
                                       uint32_t *version) {
    mlops_status st = check_reg(reg, fn);
    if (st || (st = check_name("model name", name))) return st;
    return *version == 0 ? latest(reg, name, version) : MLOPS_OK;
}

/* Read the JSON document at `path` (at most `max` bytes) with jansson `flags`. Fails only when the
 * file cannot be read; text that is not JSON leaves *root NULL and says why in `jerr`. */
static mlops_status read_json(const char *path, size_t max, size_t flags, json_t **root, json_error_t *jerr) {
    char *data = NULL;
    size_t len = 0;
    mlops_status st = mlops__read_file(path, max, &data, &len);
    if (st) return st;
    *root = json_loadb(data, len, flags, jerr);
    mlops__free(data);
    return MLOPS_OK;
}

/* ---- manifests ---------------------------------------------------------------------------------- */

typedef struct manifest {
    json_t *root;
    json_t *encryption; /* borrowed from root; NULL: stored in plain */
    size_t size;
    char digest[2 * DIGEST_BYTES + 1]; /* lowercase hex */
} manifest;

/* ENOTFOUND for a missing version of `name`, saying whether the model itself is missing. */
static mlops_status no_version(const mlops_registry *reg, const char *name, uint32_t version) {
    struct stat sb;
    char *mdir = pathf("%s/%s", reg->root, name);
    int has_model = mdir && stat(mdir, &sb) == 0;
    mlops__free(mdir);
    return has_model ? mlops__fail(MLOPS_ENOTFOUND, "registry: model '%s' has no version %u", name,
                                   (unsigned)version)
                     : mlops__fail(MLOPS_ENOTFOUND, "registry: no model named '%s' in %s", name, reg->root);
}

/* Read and validate the manifest of an existing version (version != 0). */
static mlops_status read_manifest(const mlops_registry *reg, const char *name, uint32_t version,
                                  manifest *m) {
    char *path = pathf("%s/%s/%u/manifest.json", reg->root, name, (unsigned)version);
    if (!path) return oom(name);
    mlops_status st = MLOPS_OK;
    struct stat sb;
    if (stat(path, &sb) != 0 && errno == ENOENT) {
        mlops__free(path);
        return no_version(reg, name, version);
    }
    json_error_t jerr;
    json_t *root = NULL;
    st = read_json(path, MANIFEST_MAX, JSON_REJECT_DUPLICATES, &root, &jerr);
    if (st) {
        mlops__free(path);
        return st;
    }
    if (!root) {
        st = mlops__fail(MLOPS_EFORMAT, "registry: %s: malformed manifest: %s (line %d, column %d)", path,
                         jerr.text, jerr.line, jerr.column);
        goto out;
    }
    if (!json_is_object(root)) {
        st = mlops__fail(MLOPS_EFORMAT, "registry: %s: manifest is not a JSON object", path);
        goto out;
    }
    json_t *fv = json_object_get(root, "format_version");
    json_t *jn = json_object_get(root, "name"), *jv = json_object_get(root, "version");
    json_t *js = json_object_get(root, "size"), *jd = json_object_get(root, "digest");
    json_t *meta = json_object_get(root, "metadata");
    if (!json_is_integer(fv) || !json_is_string(jn) || !json_is_integer(jv) || !json_is_integer(js) ||
        !json_is_string(jd) || (meta && !json_is_object(meta))) {
        st = mlops__fail(MLOPS_EFORMAT,
                         "registry: %s: manifest needs integer format_version, version, size, string name, "
                         "digest and an optional metadata object",
                         path);
        goto out;
    }
    if (json_integer_value(fv) != FORMAT_VERSION) {
        st = mlops__fail(MLOPS_EVERSION, "registry: %s: manifest format_version %lld, this library reads %d",
                         path, (long long)json_integer_value(fv), FORMAT_VERSION);
        goto out;
    }
    if ((st = mlops__reg_check_signature(&reg->keys, root, name, version))) goto out;
    if (strcmp(json_string_value(jn), name) != 0 || json_integer_value(jv) != (json_int_t)version) {
        st = mlops__fail(MLOPS_EINTEGRITY,
                         "registry: %s: manifest describes '%s' version %lld, not '%s' version %u", path,
                         json_string_value(jn), (long long)json_integer_value(jv), name, (unsigned)version);
        goto out;
    }
    json_int_t size = json_integer_value(js);
    const char *dg = json_string_value(jd);
    size_t plen = strlen(DIGEST_PREFIX);
    int hex_ok = strlen(dg) == plen + 2 * DIGEST_BYTES && strncmp(dg, DIGEST_PREFIX, plen) == 0;
    for (size_t i = plen; hex_ok && dg[i]; i++)
        hex_ok = (dg[i] >= '0' && dg[i] <= '9') || (dg[i] >= 'a' && dg[i] <= 'f');
    if (size < 1 || (unsigned long long)size > SIZE_MAX || !hex_ok) {
        st = mlops__fail(MLOPS_EFORMAT,
                         "registry: %s: manifest size must be positive and digest \"%s<64 lowercase hex>\"",
                         path, DIGEST_PREFIX);
        goto out;
    }
    m->root = root;
    m->encryption = json_object_get(root, "encryption");
    m->size = (size_t)size;
    memcpy(m->digest, dg + plen, sizeof m->digest);
    root = NULL;
out:
    json_decref(root);
    mlops__free(path);
    return st;
}

/* The bytes of an existing version, checked against its manifest `m`: size
 * (a grown file too) and BLAKE2b-256 digest, before anything parses them. */
static mlops_status read_verified_blob(const mlops_registry *reg, const char *name, uint32_t version,
                                       const manifest *m, int decrypt, char **out, size_t *out_len) {
    char *blob = pathf("%s/%s/%u/model.bin", reg->root, name, (unsigned)version);
    if (!blob) return oom(name);
    char *data = NULL;
    size_t len = 0, plain = 0;
    mlops_status st;
    if (m->encryption && decrypt) {
        char what[MLOPS_REGISTRY_NAME_MAX + 64];
        snprintf(what, sizeof what, "'%s' version %u", name, (unsigned)version);
        if (!(st = mlops__reg_check_encryption(&reg->keys, m->encryption, what, reg->max_model, &plain)) &&
            !(st = mlops__reg_read_decrypted(&reg->keys, blob, what, m->size, m->digest, plain, &data))) {
            *out = data;
            *out_len = plain;
        }
        mlops__free(blob);
        return st;
    }
    if (m->size > reg->max_model + (m->encryption ? m->size / 64 + 4096 : 0)) {
        st = mlops__fail(MLOPS_ELIMIT, "registry: %s: %zu bytes exceeds max_model_bytes %zu", blob, m->size,
                         reg->max_model);
        goto out;
    }
    /* Read one byte more than the manifest says so that a grown file is caught too. */
    st = mlops__read_file(blob, m->size + 1, &data, &len);
    if (st == MLOPS_ELIMIT) {
        st = mlops__fail(MLOPS_EINTEGRITY, "registry: %s is larger than the %zu bytes its manifest records",
                         blob, m->size);
        goto out;
    }
    if (st) goto out;
    if (len != m->size) {
        st = mlops__fail(MLOPS_EINTEGRITY, "registry: %s is %zu bytes, its manifest records %zu", blob, len,
                         m->size);
        goto out;
    }
    char hex[2 * DIGEST_BYTES + 1];
    digest_hex(data, len, hex);
    if (sodium_memcmp(hex, m->digest, sizeof hex) != 0) {
        st = mlops__fail(MLOPS_EINTEGRITY,
                         "registry: %s: BLAKE2b-256 digest %s does not match the manifest's %s", blob, hex,
                         m->digest);
        goto out;
    }
    *out = data;
    *out_len = len;
    data = NULL;
out:
    mlops__free(data);
    mlops__free(blob);
    return st;
}

/* ---- aliases ------------------------------------------------------------------------------------ */

/* Read one alias file. ENOTFOUND if it does not exist, EFORMAT if malformed. */
static mlops_status read_alias(const mlops_registry *reg, const char *name, const char *alias,
                               uint32_t *version) {
    char *path = pathf("%s/%s/aliases/%s", reg->root, name, alias);
    if (!path) return oom(alias);
    mlops_status st;
    if (!is_regular(path)) {
        st = mlops__fail(MLOPS_ENOTFOUND, "registry: model '%s' has no alias '%s'", name, alias);
        mlops__free(path);
        return st;
    }
    json_error_t jerr;
    json_t *root = NULL;
    st = read_json(path, ALIAS_MAX, JSON_REJECT_DUPLICATES, &root, &jerr);
    json_t *jv = json_object_get(root, "version"); /* NULL when the file could not be read */
    if (st) {
        /* st says why */
    } else if (!json_is_integer(jv) || json_integer_value(jv) < 1 ||
               json_integer_value(jv) > (json_int_t)UINT32_MAX) {
        st = mlops__fail(MLOPS_EFORMAT, "registry: %s: malformed alias file (want {\"version\": N}): %s",
                         path, root ? "no positive integer \"version\"" : jerr.text);
    } else {
        *version = (uint32_t)json_integer_value(jv);
    }
    json_decref(root);
    mlops__free(path);
    return st;
}

/* Aliases of `name` that point at `version`, as a JSON array (alphabetical);
 * malformed alias files are skipped (they point nowhere). */
static mlops_status aliases_of(const mlops_registry *reg, const char *name, uint32_t version, json_t **out) {
    json_t *arr = json_array();
    if (!arr) return oom(name);
    char *dir = pathf("%s/%s/aliases", reg->root, name);
    if (!dir) {
        json_decref(arr);
        return oom(name);
    }
    DIR *d = opendir(dir);
    mlops__free(dir);
    mlops__error_saved saved;
    mlops__error_save(&saved);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.' || check_alias(e->d_name) != MLOPS_OK) continue;
            uint32_t v = 0;
            if (read_alias(reg, name, e->d_name, &v) == MLOPS_OK && v == version)
                json_array_append_new(arr, json_string(e->d_name));
        }
        closedir(d);
        mlops__error_restore(&saved); /* skipped files are not this call's failure */
    }
    /* alphabetical: readdir order is arbitrary */
    size_t n = json_array_size(arr);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(json_string_value(json_array_get(arr, j - 1)),
                                           json_string_value(json_array_get(arr, j))) > 0;
             j--) {
            json_t *a = json_incref(json_array_get(arr, j - 1));
            json_array_set(arr, j - 1, json_array_get(arr, j));
            json_array_set_new(arr, j, a);
        }
    *out = arr;
    return MLOPS_OK;
}

/* ---- maintenance: stale temporaries, gc, verify ------------------------------------------------- */

/* Called for every model directory (version 0, dir = "<root>/<name>") and
 * every version directory (dir = "<root>/<name>/<N>") below the root; a
 * nonzero return stops the walk with that status. */
typedef mlops_status (*walk_fn)(const mlops_registry *reg, const char *name, uint32_t version,
                                const char *dir, void *ctx);

static mlops_status walk_model(const mlops_registry *reg, const char *name, walk_fn fn, void *ctx) {
    char *mdir = pathf("%s/%s", reg->root, name);
    if (!mdir) return oom(name);
    mlops_status st = fn(reg, name, 0, mdir, ctx);
    DIR *d = st ? NULL : opendir(mdir);
    struct dirent *e;
    while (d && !st && (e = readdir(d)) != NULL) {
        uint32_t v = parse_version_dir(e->d_name);
        if (!v) continue;
        char *vdir = pathf("%s/%s", mdir, e->d_name);
        st = vdir ? fn(reg, name, v, vdir, ctx) : oom(name);
        mlops__free(vdir);
    }
    if (d) closedir(d);
    mlops__free(mdir);
    return st;
}

/* Every model (only_name NULL) or one. */
static mlops_status walk(const mlops_registry *reg, const char *only_name, walk_fn fn, void *ctx) {
    if (only_name) return walk_model(reg, only_name, fn, ctx);
    DIR *d = opendir(reg->root);
    if (!d) return mlops__fail(MLOPS_EIO, "registry: %s: %s", reg->root, strerror(errno));
    mlops__error_saved saved;
    mlops__error_save(&saved);
    mlops_status st = MLOPS_OK;
    struct dirent *e;
    while (!st && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || check_name("model name", e->d_name) != MLOPS_OK) continue;
        st = walk_model(reg, e->d_name, fn, ctx);
    }
    closedir(d);
    if (!st) mlops__error_restore(&saved); /* skipped entries are not the caller's failure */
    return st;
}

typedef struct gc_ctx {
    time_t older_than; /* orphans modified at or after this are left (a put may be writing them) */
    size_t removed;
} gc_ctx;

static mlops_status sweep_dir(const mlops_registry *reg, const char *name, uint32_t version, const char *dir,
                              void *ctx) {
    (void)reg;
    gc_ctx *g = ctx;
    g->removed += mlops__remove_stale_temps(dir, NULL);
    if (version == 0) {
        char *aliases = pathf("%s/aliases", dir);
        if (!aliases) return oom(name);
        g->removed += mlops__remove_stale_temps(aliases, NULL);
        mlops__free(aliases);
    }
    return MLOPS_OK;
}

/* Files of a version that was never published (or whose delete was
 * interrupted): no manifest, so nothing can see them. */
static mlops_status gc_dir(const mlops_registry *reg, const char *name, uint32_t version, const char *dir,
                           void *ctx) {
    mlops_status st = sweep_dir(reg, name, version, dir, ctx);
    if (st || version == 0) return st;
    gc_ctx *g = ctx;
    char *man = pathf("%s/manifest.json", dir);
    if (!man) return oom(name);
    int published = is_regular(man);
    mlops__free(man);
    DIR *d = published ? NULL : opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(sb.st_mode)) continue;
        if (sb.st_mtime >= g->older_than) continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0) g->removed++;
    }
    if (d) closedir(d);
    /* the empty directory stays: it keeps number `version` from being reused */
    return MLOPS_OK;
}

mlops_status mlops_registry_gc(mlops_registry *reg, unsigned min_age_seconds, size_t *removed) {
    mlops_status st = check_reg(reg, "gc");
    if (st) return st;
    gc_ctx g = {time(NULL) - (time_t)min_age_seconds, 0};
    if (min_age_seconds == 0) g.older_than++; /* a file of this very second counts too */
    st = walk(reg, NULL, gc_dir, &g);
    mlops_status ast = audit(reg, "gc", json_pack("{s:I}", "removed", (json_int_t)g.removed), st);
    if (!st) st = ast;
    if (removed) *removed = g.removed;
    return st;
}

typedef struct verify_ctx {
    json_t *problems, *orphans;
    size_t checked;
} verify_ctx;

static mlops_status add_entry(json_t *arr, const char *name, uint32_t version, const char *key,
                              const char *text) {
    json_t *o = json_pack("{s:s, s:I, s:s}", "name", name, "version", (json_int_t)version, key, text);
    if (!o || json_array_append_new(arr, o) != 0) return oom(name);
    return MLOPS_OK;
}

static mlops_status verify_dir(const mlops_registry *reg, const char *name, uint32_t version, const char *dir,
                               void *ctx) {
    verify_ctx *vc = ctx;
    if (version == 0) return MLOPS_OK;
    char *man = pathf("%s/manifest.json", dir), *blob = pathf("%s/model.bin", dir);
    if (!man || !blob) {
        mlops__free(man);
        mlops__free(blob);
        return oom(name);
    }
    int published = is_regular(man), has_blob = access(blob, F_OK) == 0;
    mlops__free(man);
    mlops__free(blob);
    if (!published)
        return has_blob ? add_entry(vc->orphans, name, version, "reason", "model.bin without a manifest")
                        : MLOPS_OK;
    vc->checked++;
    manifest m;
    mlops_status st = read_manifest(reg, name, version, &m);
    char *data = NULL;
    size_t len = 0;
    if (!st) {
        st = read_verified_blob(reg, name, version, &m, 0, &data, &len);
        mlops__free(data);
        json_decref(m.root);
    }
    if (st == MLOPS_ENOMEM) return st;
    return st ? add_entry(vc->problems, name, version, "error", mlops_last_error()) : MLOPS_OK;
}

mlops_status mlops_registry_verify(const mlops_registry *reg, const char *name, char **report_json) {
    mlops_status st = check_reg(reg, "verify");
    if (st || (name && (st = check_name("model name", name)))) return st;
    MLOPS__CHECK_ARG("registry", report_json);
    if (name) {
        char *mdir = pathf("%s/%s", reg->root, name);
        if (!mdir) return oom(name);
        struct stat sb;
        int exists = stat(mdir, &sb) == 0 && S_ISDIR(sb.st_mode);
        mlops__free(mdir);
        if (!exists)
            return mlops__fail(MLOPS_ENOTFOUND, "registry: no model named '%s' in %s", name, reg->root);
    }
    verify_ctx vc = {json_array(), json_array(), 0};
    json_t *root = NULL;
    if (!vc.problems || !vc.orphans) {
        st = oom("verify");
        goto out;
    }
    if ((st = walk(reg, name, verify_dir, &vc))) goto out;
    root = json_pack("{s:I, s:O, s:O}", "checked", (json_int_t)vc.checked, "problems", vc.problems, "orphans",
                     vc.orphans);
    st = dump_json(root, JSON_COMPACT | JSON_SORT_KEYS, "verify", report_json);
out:
    json_decref(root);
    json_decref(vc.problems);
    json_decref(vc.orphans);
    return st;
}

/* ---- public API --------------------------------------------------------------------------------- */

/* version 1: the fields before trust_keys */
MLOPS__DEFINE_OPTS_INIT(mlops_registry_opts_init, mlops_registry_opts, MLOPS_REGISTRY_OPTS_INIT,
                        MLOPS_REGISTRY_OPTS_VERSION, offsetof(mlops_registry_opts, trust_keys))

static mlops_status read_marker(const char *path) {
    json_t *root = NULL;
    mlops_status st = read_json(path, ALIAS_MAX, 0, &root, NULL);
    if (st) return st;
    json_t *f = json_object_get(root, "format"), *v = json_object_get(root, "version");
    if (!json_is_string(f) || strcmp(json_string_value(f), "mlops-registry") != 0 || !json_is_integer(v))
        st = mlops__fail(MLOPS_EFORMAT,
                         "registry: %s: not a registry marker (want {\"format\": \"mlops-registry\", "
                         "\"version\": %d})",
                         path, FORMAT_VERSION);
    else if (json_integer_value(v) != FORMAT_VERSION)
        st = mlops__fail(MLOPS_EVERSION, "registry: %s: registry format version %lld, this library reads %d",
                         path, (long long)json_integer_value(v), FORMAT_VERSION);
    json_decref(root);
    return st;
}

static int dir_is_empty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = 0;
    closedir(d);
    return empty;
}

static mlops_status open_dir(const char *dir, const mlops_registry_opts *opts, reg_keys *keys,
                             mlops_registry **out);

mlops_status mlops_registry_create(const char *dir, const mlops_registry_opts *opts, mlops_registry **out) {
    MLOPS__CHECK_STR("registry", dir);
    MLOPS__CHECK_ARG("registry", out);
    mlops_registry_opts o = MLOPS_REGISTRY_OPTS_INIT;
    if (opts) {
        if (opts->version == 1) /* the first four fields: version 1 of the struct */
            memcpy(&o.create, &opts->create,
                   offsetof(mlops_registry_opts, trust_keys) - offsetof(mlops_registry_opts, create));
        else if (opts->version != MLOPS_REGISTRY_OPTS_VERSION)
            return mlops__fail(MLOPS_EVERSION, "registry: options version %u, this library knows 1 and %u",
                               opts->version, MLOPS_REGISTRY_OPTS_VERSION);
        else
            o = *opts;
        o.version = MLOPS_REGISTRY_OPTS_VERSION;
    }
    if (sodium_init() < 0) return mlops__fail(MLOPS_EBACKEND, "registry: libsodium failed to initialise");
    /* keys first: a refused key file must leave nothing created */
    reg_keys keys;
    mlops_status st = mlops__reg_keys_load(&keys, &o);
    if (st) return st;
    st = open_dir(dir, &o, &keys, out);
    if (st) mlops__reg_keys_free(&keys);
    return st;
}

/* mlops_registry_create() after the options and keys are read; `keys` moves into the handle on success. */
static mlops_status open_dir(const char *dir, const mlops_registry_opts *opts, reg_keys *keys,
                             mlops_registry **out) {
    mlops_registry_opts o = *opts;
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT) return mlops__fail(MLOPS_EIO, "registry: %s: %s", dir, strerror(errno));
        if (!o.create)
            return mlops__fail(MLOPS_ENOTFOUND, "registry: %s does not exist (open with create to make it)",
                               dir);
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return mlops__fail(MLOPS_EIO, "registry: cannot create %s: %s", dir, strerror(errno));
    } else if (!S_ISDIR(sb.st_mode)) {
        return mlops__fail(MLOPS_EFORMAT, "registry: %s is not a directory", dir);
    }
    char *marker = pathf("%s/" MARKER, dir);
    if (!marker) return oom(dir);
    mlops_status st;
    if (is_regular(marker)) {
        st = read_marker(marker);
    } else if (o.create && dir_is_empty(dir)) {
        char body[96];
        int n = snprintf(body, sizeof body, "{\"format\": \"mlops-registry\", \"version\": %d}\n",
                         FORMAT_VERSION);
        st = mlops__write_file_atomic(marker, body, (size_t)n);
    } else {
        st = mlops__fail(MLOPS_EFORMAT, "registry: %s is not a registry (no %s file%s)", dir, MARKER,
                         o.create ? " and not empty" : "; open an empty directory with create to make one");
    }
    mlops__free(marker);
    if (st) return st;
    mlops_registry *r = mlops__calloc(1, sizeof *r);
    char *root = mlops__strdup(dir);
    char uid[32];
    snprintf(uid, sizeof uid, "uid:%u", (unsigned)getuid());
    char *actor = mlops__strdup(o.actor ? o.actor : uid);
    if (!r || !root || !actor) {
        mlops__free(r);
        mlops__free(root);
        mlops__free(actor);
        return oom(dir);
    }
    if (o.audit && (st = mlops__audit_create(root))) {
        mlops__free(r);
        mlops__free(root);
        mlops__free(actor);
        return st;
    }
    r->actor = actor;
    r->keys = *keys;
    /* trailing slashes would only make paths ugly */
    for (size_t n = strlen(root); n > 1 && root[n - 1] == '/'; n--)
        root[n - 1] = '\0';
    r->root = root;
    r->max_model = o.max_model_bytes ? o.max_model_bytes : DEFAULT_MAX_MODEL;
    r->max_meta = o.max_metadata_bytes ? o.max_metadata_bytes : DEFAULT_MAX_META;
    /* Temporaries of writers killed mid-save: a dead process's never become files. */
    gc_ctx g = {0, 0};
    mlops__remove_stale_temps(r->root, NULL);
    walk(r, NULL, sweep_dir, &g);
    *out = r;
    return MLOPS_OK;
}

void mlops_registry_free(mlops_registry *reg) {
    if (!reg) return;
    mlops__reg_keys_free(&reg->keys);
    mlops__free(reg->actor);
    mlops__free(reg->root);
    mlops__free(reg);
}

/* metadata.lineage, if present: {"parent": an existing version, "data": [...], "params",
 * "metrics", "tools": objects}. */
static mlops_status check_lineage(const mlops_registry *reg, const char *name, json_t *meta) {
    json_t *lin = meta ? json_object_get(meta, "lineage") : NULL;
    if (!lin) return MLOPS_OK;
    json_t *parent = json_object_get(lin, "parent"), *data = json_object_get(lin, "data");
    int ok = json_is_object(lin) && (!parent || json_is_integer(parent)) && (!data || json_is_array(data));
    static const char *const objs[] = {"params", "metrics", "tools"};
    for (size_t i = 0; ok && i < sizeof objs / sizeof *objs; i++) {
        json_t *o = json_object_get(lin, objs[i]);
        ok = !o || json_is_object(o);
    }
    if (!ok)
        return mlops__fail(MLOPS_EFORMAT,
                           "registry: put '%s': metadata.lineage must be an object with an optional integer "
                           "parent, data array and params, metrics, tools objects",
                           name);
    if (!parent) return MLOPS_OK;
    json_int_t pv = json_integer_value(parent);
    if (pv < 1 || pv > (json_int_t)UINT32_MAX)
        return mlops__fail(MLOPS_EFORMAT, "registry: put '%s': lineage parent %lld is not a version number",
                           name, (long long)pv);
    char *man = pathf("%s/%s/%lld/manifest.json", reg->root, name, (long long)pv);
    if (!man) return oom(name);
    int exists = is_regular(man);
    mlops__free(man);
    return exists ? MLOPS_OK
                  : mlops__fail(MLOPS_ENOTFOUND,
                                "registry: put '%s': lineage parent version %lld does not exist", name,
                                (long long)pv);
}

static mlops_status parse_metadata(const mlops_registry *reg, const char *name, const char *metadata_json,
                                   json_t **out) {
    *out = NULL;
    if (!metadata_json) return MLOPS_OK;
    size_t mlen = strlen(metadata_json);
    if (mlen > reg->max_meta)
        return mlops__fail(MLOPS_ELIMIT,
                           "registry: put '%s': metadata is %zu bytes, max_metadata_bytes is %zu", name, mlen,
                           reg->max_meta);
    json_error_t jerr;
    json_t *meta = json_loadb(metadata_json, mlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!meta)
        return mlops__fail(MLOPS_EFORMAT, "registry: put '%s': metadata is not valid JSON: %s (column %d)",
                           name, jerr.text, jerr.column);
    mlops_status st =
        json_is_object(meta)
            ? check_lineage(reg, name, meta)
            : mlops__fail(MLOPS_EFORMAT, "registry: put '%s': metadata must be a JSON object", name);
    if (st)
        json_decref(meta);
    else
        *out = meta;
    return st;
}

/* Reserve the next version number of `name` (an exclusive mkdir of <mdir>/<N>). */
static mlops_status reserve_version(const mlops_registry *reg, const char *name, const char *mdir,
                                    char **vdir_out, uint32_t *v_out) {
    uint32_t hi = 0;
    mlops_status st = scan_versions(reg, name, NULL, NULL, &hi);
    if (st) return st;
    for (int tries = 0; tries < 10000; tries++) {
        if (hi == UINT32_MAX)
            return mlops__fail(MLOPS_ELIMIT, "registry: model '%s' has used every version number", name);
        char *vdir = pathf("%s/%u", mdir, (unsigned)(hi + 1));
        if (!vdir) return oom(name);
        if (mkdir(vdir, 0755) == 0) {
            *vdir_out = vdir;
            *v_out = hi + 1;
            mlops__fsync_dir(mdir);
            return MLOPS_OK;
        }
        int e = errno;
        if (e != EEXIST) {
            st = mlops__fail(MLOPS_EIO, "registry: cannot create %s: %s", vdir, strerror(e));
            mlops__free(vdir);
            return st;
        }
        mlops__free(vdir);
        hi++;
    }
    return mlops__fail(MLOPS_EIO, "registry: could not reserve a version number for '%s'", name);
}

/* Write the model bytes (encrypted with the registry's key, if any) and build the manifest. */
static mlops_status write_blob(const mlops_registry *reg, const char *name, uint32_t v, const char *blob,
                               const void *data, size_t len, json_t *meta, json_t **root_out) {
    char hex[2 * DIGEST_BYTES + 1];
    size_t stored = len;
    mlops_status st;
    if (reg->keys.enc_key) {
        st = mlops__reg_write_encrypted(&reg->keys, blob, data, len, hex, &stored);
    } else {
        digest_hex(data, len, hex);
        st = mlops__write_file_atomic(blob, data, len);
    }
    if (st) return st;
    char dg[sizeof DIGEST_PREFIX + sizeof hex];
    snprintf(dg, sizeof dg, DIGEST_PREFIX "%s", hex);
    char when[32];
    time_t now = mlops__reg_utc_now(when);
    json_t *root = json_pack("{s:i, s:s, s:I, s:I, s:s, s:s, s:I}", "format_version", FORMAT_VERSION, "name",
                             name, "version", (json_int_t)v, "size", (json_int_t)stored, "digest", dg,
                             "created", when, "created_unix", (json_int_t)now);
    if (!root || (meta && json_object_set(root, "metadata", meta) != 0) ||
        (reg->keys.enc_key &&
         json_object_set_new(root, "encryption", mlops__reg_encryption_json(&reg->keys, len)))) {
        json_decref(root);
        return oom(name);
    }
    if ((st = mlops__reg_sign(&reg->keys, root))) {
        json_decref(root);
        return st;
    }
    *root_out = root;
    return MLOPS_OK;
}

static json_t *put_fields(const mlops_registry *reg, const char *name, uint32_t v, json_t *root) {
    json_t *f = json_pack("{s:s, s:I, s:O}", "name", name, "version", (json_int_t)v, "digest",
                          json_object_get(root, "digest"));
    if (f && reg->keys.sign_sk) json_object_set_new(f, "signed_by", json_string(reg->keys.sign_id));
    if (f && reg->keys.enc_key) json_object_set_new(f, "encrypted", json_true());
    return f;
}

mlops_status mlops_registry_put(mlops_registry *reg, const char *name, const void *data, size_t len,
                                const char *metadata_json, uint32_t *version) {
    mlops_status st = check_reg(reg, "put");
    if (st || (st = check_name("model name", name))) return st;
    if (!data || len == 0)
        return mlops__fail(MLOPS_EINVAL, "registry: put '%s': the model bytes are empty", name);
    if (len > reg->max_model)
        return mlops__fail(MLOPS_ELIMIT, "registry: put '%s': %zu bytes exceeds max_model_bytes %zu", name,
                           len, reg->max_model);
    json_t *meta = NULL;
    if ((st = parse_metadata(reg, name, metadata_json, &meta))) return st;
    char *mdir = pathf("%s/%s", reg->root, name);
    char *vdir = NULL, *blob = NULL, *man = NULL, *text = NULL;
    json_t *root = NULL;
    uint32_t v = 0;
    if (!mdir) {
        st = oom(name);
        goto out;
    }
    if (mkdir(mdir, 0755) != 0 && errno != EEXIST) {
        st = mlops__fail(MLOPS_EIO, "registry: cannot create %s: %s", mdir, strerror(errno));
        goto out;
    }
    if ((st = reserve_version(reg, name, mdir, &vdir, &v))) goto out;
    blob = pathf("%s/model.bin", vdir);
    man = pathf("%s/manifest.json", vdir);
    if (!blob || !man) {
        st = oom(name);
        goto burn;
    }
    /* The bytes first, then the manifest: once the manifest exists, so does everything it names. */
    if ((st = write_blob(reg, name, v, blob, data, len, meta, &root))) goto burn;
    if (!(text = json_dumps(root, JSON_INDENT(2)))) {
        st = oom(name);
        goto burn;
    }
    /* The audit line before the manifest: a put the log cannot record does not happen. */
    if ((st = audit(reg, "put", put_fields(reg, name, v, root), MLOPS_OK))) goto burn;
    size_t tlen = strlen(text);
    text[tlen] = '\n'; /* json_dumps' NUL becomes a trailing newline (length tlen + 1) */
    st = mlops__write_file_atomic(man, text, tlen + 1);
    text[tlen] = '\0';
    if (st) {
        audit(reg, "put", put_fields(reg, name, v, root), st); /* best effort: the version did not appear */
        goto burn;
    }
    if (version) *version = v;
    goto out;
burn:
    /* Number v stays reserved (an empty directory) and is never visible. */
    if (blob) unlink(blob);
out:
    free(text); /* json_dumps allocates with jansson's allocator (malloc) */
    json_decref(root);
    json_decref(meta);
    mlops__free(mdir);
    mlops__free(vdir);
    mlops__free(blob);
    mlops__free(man);
    return st;
}

mlops_status mlops_registry_put_file(mlops_registry *reg, const char *name, const char *path,
                                     const char *metadata_json, uint32_t *version) {
    mlops_status st = check_reg(reg, "put_file");
    if (st || (st = check_name("model name", name))) return st;
    MLOPS__CHECK_ARG("registry", path);
    char *data = NULL;
    size_t len = 0;
    if ((st = mlops__read_file(path, reg->max_model, &data, &len))) return st;
    st = mlops_registry_put(reg, name, data, len, metadata_json, version);
    mlops__free(data);
    return st;
}

mlops_status mlops_registry_latest(const mlops_registry *reg, const char *name, uint32_t *version) {
    mlops_status st = check_reg(reg, "latest");
    if (st || (st = check_name("model name", name))) return st;
    MLOPS__CHECK_ARG("registry", version);
    return latest(reg, name, version);
}

mlops_status mlops_registry_load_model(const mlops_registry *reg, const char *name, uint32_t version,
                                       const mlops_model_opts *model_opts, mlops_model **out,
                                       uint32_t *loaded_version) {
    MLOPS__CHECK_ARG("registry", out);
    mlops_status st = check_version_call(reg, "load", name, &version);
    if (st) return st;
    manifest m;
    if ((st = read_manifest(reg, name, version, &m))) return st;
    char *data = NULL;
    size_t len = 0;
    if ((st = read_verified_blob(reg, name, version, &m, 1, &data, &len))) goto out;
    mlops_model *model = NULL;
    if ((st = mlops_model_load_buffer(data, len, model_opts, &model))) goto out;
    *out = model;
    if (loaded_version) *loaded_version = version;
out:
    mlops__free(data);
    json_decref(m.root);
    return st;
}

mlops_status mlops_registry_versions(const mlops_registry *reg, const char *name, uint32_t *out, size_t cap,
                                     size_t *n_versions) {
    mlops_status st = check_reg(reg, "versions");
    if (st || (st = check_name("model name", name))) return st;
    MLOPS__CHECK_ARG("registry", n_versions);
    MLOPS__CHECK_BUF("registry", out, cap);
    unsigned *v = NULL;
    size_t n = 0;
    if ((st = scan_versions(reg, name, &v, &n, NULL))) return st;
    if (n == 0) {
        st = mlops__fail(MLOPS_ENOTFOUND, "registry: model '%s' has no versions", name);
    } else if (n > cap) {
        *n_versions = n;
        st = mlops__fail(MLOPS_ESHAPE, "registry: model '%s' has %zu versions, the buffer holds %zu", name, n,
                         cap);
    } else {
        for (size_t i = 0; i < n; i++)
            out[i] = v[i];
        *n_versions = n;
    }
    mlops__free(v);
    return st;
}

/* Builds a JSON document about an existing version of `name` in *doc; what it leaves there, also
 * on failure, is the caller's to release. */
typedef mlops_status (*version_doc_fn)(const mlops_registry *reg, const char *name, uint32_t version,
                                       json_t **doc);

/* Check a call `fn` about `version` of `name` (0: the latest), build its document with `doc_of` and
 * return it as compact JSON text in *out (for mlops_free()). */
static mlops_status version_json(const mlops_registry *reg, const char *fn, const char *name,
                                 uint32_t version, version_doc_fn doc_of, char **out) {
    json_t *doc = NULL;
    mlops_status st = check_version_call(reg, fn, name, &version);
    if (!st && !(st = doc_of(reg, name, version, &doc))) st = dump_json(doc, JSON_COMPACT, name, out);
    json_decref(doc);
    return st;
}

/* The manifest with the version's aliases. */
static mlops_status info_doc(const mlops_registry *reg, const char *name, uint32_t version, json_t **doc) {
    manifest m;
    mlops_status st = read_manifest(reg, name, version, &m);
    if (st) return st;
    *doc = m.root;
    json_t *aliases = NULL;
    if ((st = aliases_of(reg, name, version, &aliases))) return st;
    return json_object_set_new(m.root, "aliases", aliases) != 0 ? oom(name) : MLOPS_OK;
}

mlops_status mlops_registry_info(const mlops_registry *reg, const char *name, uint32_t version,
                                 char **manifest_json) {
    MLOPS__CHECK_ARG("registry", manifest_json);
    return version_json(reg, "info", name, version, info_doc, manifest_json);
}

/* Audit details of an alias change (version 0: removed). */
static json_t *alias_fields(const char *name, const char *alias, uint32_t version) {
    return version
               ? json_pack("{s:s, s:s, s:I}", "name", name, "alias", alias, "version", (json_int_t)version)
               : json_pack("{s:s, s:s, s:n}", "name", name, "alias", alias, "version");
}

mlops_status mlops_registry_set_alias(mlops_registry *reg, const char *name, const char *alias,
                                      uint32_t version) {
    mlops_status st = check_reg(reg, "set_alias");
    if (st || (st = check_name("model name", name)) || (st = check_alias(alias))) return st;
    if (strcmp(alias, "latest") == 0)
        return mlops__fail(MLOPS_EINVAL,
                           "registry: alias 'latest' is reserved (it always means the newest version)");
    if (version == 0)
        return mlops__fail(MLOPS_EINVAL, "registry: set_alias '%s': version 0 does not exist", alias);
    manifest m;
    if ((st = read_manifest(reg, name, version, &m))) return st;
    json_decref(m.root);
    char *dir = pathf("%s/%s/aliases", reg->root, name);
    char *path = pathf("%s/%s/aliases/%s", reg->root, name, alias);
    if (!dir || !path) {
        st = oom(alias);
    } else if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        st = mlops__fail(MLOPS_EIO, "registry: cannot create %s: %s", dir, strerror(errno));
    } else if (!(st = audit(reg, "alias", alias_fields(name, alias, version), MLOPS_OK))) {
        char body[48];
        int n = snprintf(body, sizeof body, "{\"version\": %u}\n", (unsigned)version);
        st = mlops__write_file_atomic(path, body, (size_t)n);
        if (st) audit(reg, "alias", alias_fields(name, alias, version), st);
    }
    mlops__free(dir);
    mlops__free(path);
    return st;
}

mlops_status mlops_registry_resolve_alias(const mlops_registry *reg, const char *name, const char *alias,
                                          uint32_t *version) {
    mlops_status st = check_reg(reg, "resolve_alias");
    if (st || (st = check_name("model name", name)) || (st = check_alias(alias))) return st;
    MLOPS__CHECK_ARG("registry", version);
    if (strcmp(alias, "latest") == 0) return latest(reg, name, version);
    uint32_t v = 0;
    if ((st = read_alias(reg, name, alias, &v))) return st;
    char *man = pathf("%s/%s/%u/manifest.json", reg->root, name, (unsigned)v);
    if (!man) return oom(alias);
    int exists = is_regular(man);
    mlops__free(man);
    if (!exists)
        return mlops__fail(MLOPS_ENOTFOUND,
                           "registry: alias '%s' of '%s' points at version %u, which does not exist", alias,
                           name, (unsigned)v);
    *version = v;
    return MLOPS_OK;
}

mlops_status mlops_registry_remove_alias(mlops_registry *reg, const char *name, const char *alias) {
    mlops_status st = check_reg(reg, "remove_alias");
    if (st || (st = check_name("model name", name)) || (st = check_alias(alias))) return st;
    char *dir = pathf("%s/%s/aliases", reg->root, name);
    char *path = pathf("%s/%s/aliases/%s", reg->root, name, alias);
    if (!dir || !path) {
        st = oom(alias);
    } else if (!is_regular(path)) {
        st = mlops__fail(MLOPS_ENOTFOUND, "registry: model '%s' has no alias '%s'", name, alias);
    } else if ((st = audit(reg, "alias", alias_fields(name, alias, 0), MLOPS_OK))) {
        /* not recorded, not done */
    } else if (unlink(path) != 0) {
        st = errno == ENOENT
                 ? mlops__fail(MLOPS_ENOTFOUND, "registry: model '%s' has no alias '%s'", name, alias)
                 : mlops__fail(MLOPS_EIO, "registry: cannot remove %s: %s", path, strerror(errno));
    } else {
        mlops__fsync_dir(dir);
    }
    mlops__free(dir);
    mlops__free(path);
    return st;
}

mlops_status mlops_registry_delete(mlops_registry *reg, const char *name, uint32_t version) {
    mlops_status st = check_reg(reg, "delete");
    if (st || (st = check_name("model name", name))) return st;
    if (version == 0)
        return mlops__fail(MLOPS_EINVAL, "registry: delete '%s': version 0 does not exist", name);
    char *vdir = pathf("%s/%s/%u", reg->root, name, (unsigned)version);
    char *man = pathf("%s/%s/%u/manifest.json", reg->root, name, (unsigned)version);
    char *blob = pathf("%s/%s/%u/model.bin", reg->root, name, (unsigned)version);
    json_t *aliases = NULL;
    if (!vdir || !man || !blob) {
        st = oom(name);
        goto out;
    }
    if (!is_regular(man)) {
        st = no_version(reg, name, version);
        goto out;
    }
    if ((st = aliases_of(reg, name, version, &aliases))) goto out;
    if (json_array_size(aliases) > 0) {
        st = mlops__fail(
            MLOPS_ESTATE,
            "registry: cannot delete '%s' version %u: alias '%s' points at it (move or remove it first)",
            name, (unsigned)version, json_string_value(json_array_get(aliases, 0)));
        goto out;
    }
    if ((st = audit(reg, "delete", json_pack("{s:s, s:I}", "name", name, "version", (json_int_t)version),
                    MLOPS_OK)))
        goto out;
    /* The manifest goes first: from that instant the version does not exist. */
    if (unlink(man) != 0) {
        st = mlops__fail(MLOPS_EIO, "registry: cannot remove %s: %s", man, strerror(errno));
        audit(reg, "delete", json_pack("{s:s, s:I}", "name", name, "version", (json_int_t)version), st);
        goto out;
    }
    unlink(blob); /* a leftover blob without a manifest is invisible */
    mlops__fsync_dir(vdir);
out:
    json_decref(aliases);
    mlops__free(vdir);
    mlops__free(man);
    mlops__free(blob);
    return st;
}

/* ---- lineage and audit -------------------------------------------------------------------------- */

static json_t *lineage_entry(const manifest *m, uint32_t version) {
    json_t *e = json_pack("{s:I, s:O, s:O}", "version", (json_int_t)version, "created",
                          json_object_get(m->root, "created"), "digest", json_object_get(m->root, "digest"));
    json_t *lin = json_object_get(json_object_get(m->root, "metadata"), "lineage");
    if (e && lin) json_object_set(e, "lineage", lin);
    return e;
}

/* Parent of the manifest's lineage (0: none). */
static uint32_t lineage_parent(const manifest *m) {
    json_t *p = json_object_get(json_object_get(json_object_get(m->root, "metadata"), "lineage"), "parent");
    json_int_t v = json_is_integer(p) ? json_integer_value(p) : 0;
    return v > 0 && v <= (json_int_t)UINT32_MAX ? (uint32_t)v : 0;
}

static mlops_status lineage_chain(const mlops_registry *reg, const char *name, uint32_t version,
                                  json_t *chain) {
    while (version) {
        manifest m;
        mlops_status st = read_manifest(reg, name, version, &m);
        if (st == MLOPS_ENOTFOUND && json_array_size(chain) > 0)
            st = mlops__fail(MLOPS_EINTEGRITY, "registry: '%s' lineage: parent version %u does not exist",
                             name, (unsigned)version);
        if (st) return st;
        uint32_t parent = lineage_parent(&m);
        json_t *e = lineage_entry(&m, version);
        json_decref(m.root);
        if (!e || json_array_append_new(chain, e) != 0) return oom(name);
        if (parent >= version)
            return mlops__fail(MLOPS_EINTEGRITY,
                               "registry: '%s' version %u names parent %u, which is not older", name,
                               (unsigned)version, (unsigned)parent);
        version = parent;
    }
    return MLOPS_OK;
}

/* The lineage chain as a JSON array, the version first. */
static mlops_status lineage_doc(const mlops_registry *reg, const char *name, uint32_t version, json_t **doc) {
    if (!(*doc = json_array())) return oom(name);
    return lineage_chain(reg, name, version, *doc);
}

mlops_status mlops_registry_lineage(const mlops_registry *reg, const char *name, uint32_t version,
                                    char **chain_json) {
    MLOPS__CHECK_ARG("registry", chain_json);
    return version_json(reg, "lineage", name, version, lineage_doc, chain_json);
}

mlops_status mlops_registry_audit_append(mlops_registry *reg, const char *actor, const char *action,
                                         const char *fields_json, const char *result) {
    mlops_status st = check_reg(reg, "audit_append");
    if (st) return st;
    MLOPS__CHECK_STR("registry", action);
    MLOPS__CHECK_ARG("registry", result);
    int on = mlops__audit_enabled(reg->root);
    if (on < 0) return oom("audit log");
    if (!on)
        return mlops__fail(MLOPS_ESTATE, "registry: %s has no audit log (open it with the audit option)",
                           reg->root);
    json_t *fields = NULL;
    if (fields_json) {
        json_error_t jerr;
        fields = json_loads(fields_json, JSON_REJECT_DUPLICATES, &jerr);
        if (!json_is_object(fields)) {
            json_decref(fields);
            return mlops__fail(MLOPS_EFORMAT, "registry: audit_append: fields must be a JSON object");
        }
    }
    st = mlops__audit_append(reg->root, actor ? actor : reg->actor, action, fields, result);
    json_decref(fields);
    return st;
}

mlops_status mlops_registry_audit_verify(const mlops_registry *reg, size_t *n_entries) {
    mlops_status st = check_reg(reg, "audit_verify");
    return st ? st : mlops__audit_verify(reg->root, n_entries);
}
