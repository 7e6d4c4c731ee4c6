/**
 * @file mlops/registry.h
 * @brief Versioned local model store: immutable numbered versions, BLAKE2b-256 digests, aliases.
 *
 * A registry is a directory. Each model name is a subdirectory; each version
 * N (1, 2, 3... never reused, even after a delete) is a subdirectory `N/`
 * holding `model.bin` (the bytes as given) and `manifest.json` (name, version,
 * size, "blake2b-256:<hex>" digest, creation time, optional user metadata).
 * A version exists once its manifest does: the manifest is written last and
 * atomically (temporary file, fsync, rename), so a crash or a failed put never
 * leaves a half-written version visible. Version numbers are allocated by an
 * exclusive mkdir() of `N/`, so concurrent puts from threads or processes get
 * distinct numbers. Aliases ("production") live in `<name>/aliases/<alias>`.
 *
 * Trust: nothing read back is trusted. mlops_registry_load_model() checks the size
 * and the BLAKE2b-256 digest (libsodium) of the bytes against the manifest
 * BEFORE they reach the model loader; a mismatch is MLOPS_EINTEGRITY. The
 * digest detects corruption and tampering of the model file; on its own it
 * does not authenticate the manifest (someone who can rewrite both can replace
 * a model). That is what signatures are for:
 *
 * Trusted models (libsodium for every primitive). With opts.sign_key, put signs
 * the manifest with Ed25519 (the signature covers name, version, size, digest,
 * encryption record and metadata, lineage included). A registry opened with
 * opts.trust_keys refuses, with MLOPS_EINTEGRITY and a message naming the
 * version and the reason, an unsigned version, a signature by a key outside the
 * trust set, and any edit of model or manifest (a signature copied from another
 * version does not match). With opts.encryption_key, put stores the model
 * encrypted (XChaCha20-Poly1305 secretstream, 64 KiB chunks, the last one
 * tagged final) and load decrypts it into memory only; the manifest stays
 * readable and records "encryption". A wrong key or a damaged or truncated
 * ciphertext is MLOPS_EINTEGRITY; an encrypted version opened without a key is
 * MLOPS_ESTATE. Key files: mlops_registry_keygen().
 *
 * Lineage: metadata may hold "lineage": {"parent": N (an existing version of
 * the same name), "data": [{"path", "digest"}...], "params": {...},
 * "metrics": {...}, "tools": {...}}; mlops_registry_lineage() follows parents.
 *
 * Audit: a registry whose directory holds `.audit.jsonl` (created by
 * opts.audit) appends one JSON line per put, alias change, delete and gc, and
 * hosts add their own (mlops_registry_audit_append()). Each line carries "seq"
 * and the BLAKE2b-256 of the previous line; mlops_registry_audit_verify()
 * names the first line removed, edited or moved. A put's line is written
 * before its manifest: if the log cannot be written, the put fails and no
 * version appears.
 *
 * Names (model names and aliases): 1..128 characters of [A-Za-z0-9._-], not
 * starting with '.'; aliases must start with a letter, and "latest" is
 * reserved (it always means the highest existing version).
 *
 * Thread safety: a registry handle holds only its directory path, which never
 * changes, so one handle may be used from any number of threads at once. The
 * filesystem is the source of truth: several handles and processes may share
 * one directory. Checks that span several files (delete refuses a version an
 * alias points to) are made at call time and are not transactional against
 * another process changing aliases concurrently.
 */
#ifndef MLOPS_REGISTRY_H
#define MLOPS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "mlops/common.h"
#include "mlops/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A registry directory opened for use. */
typedef struct mlops_registry mlops_registry;

/** Layout version of mlops_registry_opts: callers set it in `version` (or pass it to the initialiser). */
#define MLOPS_REGISTRY_OPTS_VERSION 2u
/** Longest model name or alias, in bytes. */
#define MLOPS_REGISTRY_NAME_MAX 128u

/**
 * Open options. Initialise with MLOPS_REGISTRY_OPTS_INIT or mlops_registry_opts_init(opts,
 * MLOPS_REGISTRY_OPTS_VERSION). Version 1 of the struct (the first four fields) is still accepted.
 * Key files are read once, at open; the strings need not outlive mlops_registry_create().
 */
typedef struct mlops_registry_opts {
    unsigned version;       /**< MLOPS_REGISTRY_OPTS_VERSION */
    int create;             /**< nonzero: create the directory (one level) if it does not exist; default 0 */
    size_t max_model_bytes; /**< refuse to store or load larger models; 0 = default 2 GiB */
    size_t max_metadata_bytes; /**< refuse larger metadata JSON; 0 = default 64 KiB */
    /* version 2: trusted models */
    const char *const *trust_keys; /**< public key files (NAME.pub, 32 bytes); with any, load, info,
                                        lineage and verify accept only versions signed by one of them */
    size_t n_trust_keys;           /**< entries in trust_keys; 0 = digest checks only (no signatures) */
    const char *sign_key;          /**< private key file (NAME.key, 64 bytes, mode 0600): put signs; NULL = unsigned */
    const char *encryption_key;    /**< 32-byte key file (mode 0600): put encrypts, load decrypts; NULL = none */
    int audit;                     /**< nonzero: create the audit log if missing (an existing one is always kept) */
    const char *actor;             /**< who the audit log names (a token id, a user; never a secret);
                                        NULL = "uid:<uid>" */
} mlops_registry_opts;

/** Initialiser of mlops_registry_opts with the defaults and the current version. */
#define MLOPS_REGISTRY_OPTS_INIT                                                                             \
    { MLOPS_REGISTRY_OPTS_VERSION, 0, 0, 0, NULL, 0, NULL, NULL, 0, NULL }

/**
 * Fill `opts` with the defaults and stamp `version`, which the caller passes as
 * MLOPS_REGISTRY_OPTS_VERSION (the layout it was compiled against; a constructor rejects an
 * unknown version with MLOPS_EVERSION). For bindings that cannot expand macros.
 * NULL is a no-op. Thread safety: writes only `*opts`.
 */
MLOPS_API void mlops_registry_opts_init(mlops_registry_opts *opts, unsigned version);

/**
 * Open the registry in directory `dir`. With opts->create the directory is
 * created if missing (its parent must exist). An existing directory must be
 * empty (it becomes a registry) or carry the registry marker file
 * `.mlops-registry`; anything else is MLOPS_EFORMAT. A missing directory
 * without create is MLOPS_ENOTFOUND. Opening also removes the temporary files
 * ("<file>.tmp.<pid>.<n>") of writers that no longer run (a killed put), which
 * costs one directory scan per stored version; a failure there is ignored. On success `*out` is a new handle
 * (free with mlops_registry_free); on failure `*out` is untouched.
 */
MLOPS_API mlops_status mlops_registry_create(const char *dir, const mlops_registry_opts *opts,
                                             mlops_registry **out);

/** Close the handle. Stored models are unaffected; NULL is a no-op. */
MLOPS_API void mlops_registry_free(mlops_registry *reg);

/**
 * Store `len` bytes of a serialized model as a new version of `name` and write
 * its number to `*version` (may be NULL). `metadata_json` is NULL or a JSON
 * object, stored verbatim in the manifest. The bytes are not parsed (a store
 * is not a loader) but must be non-empty. On failure no version is visible.
 */
MLOPS_API mlops_status mlops_registry_put(mlops_registry *reg, const char *name, const void *data, size_t len,
                                          const char *metadata_json, uint32_t *version);

/** As mlops_registry_put(), reading the model from the file at `path`. */
MLOPS_API mlops_status mlops_registry_put_file(mlops_registry *reg, const char *name, const char *path,
                                               const char *metadata_json, uint32_t *version);

/**
 * Load version `version` of `name` (0 = the latest): with a trust set, check
 * the manifest's signature first; read the bytes (decrypting them in memory,
 * chunk by chunk, when the version is encrypted), verify size and BLAKE2b-256
 * digest against the manifest (MLOPS_EINTEGRITY, naming the version or file and
 * the reason, on any mismatch), then mlops_model_load_buffer() with `model_opts`
 * (NULL = defaults). On success `*out` holds one model reference and
 * `*loaded_version` (may be NULL) the version loaded. Unknown name or version:
 * MLOPS_ENOTFOUND; malformed manifest: MLOPS_EFORMAT.
 */
MLOPS_API mlops_status mlops_registry_load_model(const mlops_registry *reg, const char *name,
                                                 uint32_t version, const mlops_model_opts *model_opts,
                                                 mlops_model **out, uint32_t *loaded_version);

/** Highest existing version of `name` into `*version`; MLOPS_ENOTFOUND if it has none. */
MLOPS_API mlops_status mlops_registry_latest(const mlops_registry *reg, const char *name, uint32_t *version);

/**
 * Existing versions of `name`, ascending, into the caller's `out[cap]`;
 * `*n_versions` receives the count. A name with no versions is MLOPS_ENOTFOUND.
 * If `cap` is too small, `*n_versions` still receives the count, nothing is
 * written and the result is MLOPS_ESHAPE (call with cap 0 to size the buffer).
 */
MLOPS_API mlops_status mlops_registry_versions(const mlops_registry *reg, const char *name, uint32_t *out,
                                               size_t cap, size_t *n_versions);

/**
 * The manifest of a version (0 = latest) as a JSON object string, validated,
 * with an added "aliases" array naming the aliases that point at it. The
 * string is allocated; free it with mlops_free().
 */
MLOPS_API mlops_status mlops_registry_info(const mlops_registry *reg, const char *name, uint32_t version,
                                           char **manifest_json);

/**
 * Point alias `alias` of `name` at an existing `version` (replacing its previous
 * target atomically). Unknown version: MLOPS_ENOTFOUND.
 */
MLOPS_API mlops_status mlops_registry_set_alias(mlops_registry *reg, const char *name, const char *alias,
                                                uint32_t version);

/**
 * The version alias `alias` of `name` points at ("latest" = highest version).
 * Unknown alias, or an alias whose version has been deleted: MLOPS_ENOTFOUND.
 */
MLOPS_API mlops_status mlops_registry_resolve_alias(const mlops_registry *reg, const char *name,
                                                    const char *alias, uint32_t *version);

/** Remove alias `alias` of `name`; MLOPS_ENOTFOUND if it does not exist. */
MLOPS_API mlops_status mlops_registry_remove_alias(mlops_registry *reg, const char *name, const char *alias);

/**
 * Delete version `version` of `name`: its manifest disappears first (atomically),
 * then its bytes. Refused with MLOPS_ESTATE while an alias points at it. The
 * number is never given to another version.
 */
MLOPS_API mlops_status mlops_registry_delete(mlops_registry *reg, const char *name, uint32_t version);

/**
 * Remove what interrupted operations left behind: temporaries of writers that
 * no longer run (also done by mlops_registry_create()), and the files of
 * versions that were never published (no manifest: a put that was killed or
 * failed, or an interrupted delete) and were last modified at least
 * `min_age_seconds` ago. The age protects a put still writing its bytes in
 * another process; give 0 only when no other process uses the registry.
 * Version directories stay (empty), so numbers are never reused. Published
 * versions are never touched. `*removed` (may be NULL) receives the number of
 * files removed. Safe to call from any thread.
 */
MLOPS_API mlops_status mlops_registry_gc(mlops_registry *reg, unsigned min_age_seconds, size_t *removed);

/**
 * Check every published version of `name` (NULL = every model): the manifest
 * is valid (and signed by a trusted key, with a trust set), and the stored
 * bytes have its size and BLAKE2b-256 digest (encrypted versions are checked
 * as stored, without the key). Nothing is
 * changed. On MLOPS_OK `*report_json` is an allocated JSON object (free with
 * mlops_free): {"checked": N, "problems": [{"name", "version", "error"}...],
 * "orphans": [{"name", "version", "reason"}...]} — a damaged version is a
 * problem in the report, not a failed call. Unknown `name`: MLOPS_ENOTFOUND.
 */
MLOPS_API mlops_status mlops_registry_verify(const mlops_registry *reg, const char *name, char **report_json);

/**
 * Generate a key and write it, refusing to replace an existing file (EEXIST).
 * symmetric == 0: an Ed25519 pair, `<out>.key` (64 bytes, mode 0600) and
 * `<out>.pub` (32 bytes, 0644). symmetric != 0: a 32-byte encryption key at
 * `out` itself (mode 0600). Thread-safe.
 */
MLOPS_API mlops_status mlops_registry_keygen(const char *out, int symmetric);

/**
 * The lineage chain of version `version` of `name` (0 = latest): a JSON array,
 * the version itself first, then its parent, and so on back to the first
 * version, each {"version", "created", "digest", "lineage"} (lineage may be
 * absent). Every manifest on the way is validated (and its signature checked
 * when the registry has a trust set). A parent link that does not go strictly
 * back, or a missing parent, is MLOPS_EINTEGRITY. The string is allocated;
 * free it with mlops_free(). Thread-safe.
 */
MLOPS_API mlops_status mlops_registry_lineage(const mlops_registry *reg, const char *name, uint32_t version,
                                              char **chain_json);

/**
 * Append an entry to the registry's audit log (for hosts' own actions: a
 * server's promote or rollback). `actor` (NULL = the handle's actor) names who
 * acted, never with a secret; `action` is a short word; `fields_json` is NULL
 * or a JSON object of details (versions...); `result` is "ok" or a failure
 * text. The entry also gets "seq", "time" and "prev". A registry without an
 * audit log: MLOPS_ESTATE. Thread- and process-safe (an exclusive flock).
 */
MLOPS_API mlops_status mlops_registry_audit_append(mlops_registry *reg, const char *actor, const char *action,
                                                   const char *fields_json, const char *result);

/**
 * Check the audit log's hash chain. MLOPS_OK with `*n_entries` (may be NULL)
 * the number of entries, or MLOPS_EINTEGRITY naming the first bad line
 * (removed, edited or reordered), or MLOPS_ENOTFOUND without a log.
 * Changes nothing. Thread-safe.
 */
MLOPS_API mlops_status mlops_registry_audit_verify(const mlops_registry *reg, size_t *n_entries);

#ifdef __cplusplus
}
#endif

#endif /* MLOPS_REGISTRY_H */
