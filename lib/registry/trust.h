/* Internal to lib/registry: keys, manifest signatures (Ed25519), encryption at
 * rest (XChaCha20-Poly1305 secretstream) and the audit log (BLAKE2b hash chain).
 * Every primitive is libsodium's. */
#ifndef MLOPS_REGISTRY_TRUST_H
#define MLOPS_REGISTRY_TRUST_H

#include <jansson.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mlops/registry.h"

#define REG_KEY_ID_HEX 17u /* 8 bytes of BLAKE2b as hex, NUL */
#define REG_DIGEST_BYTES 32u
#define REG_DIGEST_PREFIX "blake2b-256:"
#define REG_CIPHER "xchacha20poly1305-secretstream"
#define REG_CHUNK ((size_t)1 << 16) /* plaintext bytes per secretstream message */

typedef struct reg_pubkey {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    char id[REG_KEY_ID_HEX];
} reg_pubkey;

/* Keys a registry handle holds; immutable after open (secrets in sodium_malloc memory). */
typedef struct reg_keys {
    reg_pubkey *trust;
    size_t n_trust;
    unsigned char *sign_sk; /* crypto_sign_SECRETKEYBYTES, or NULL */
    char sign_id[REG_KEY_ID_HEX];
    unsigned char *enc_key; /* crypto_secretstream_xchacha20poly1305_KEYBYTES, or NULL */
    char enc_id[REG_KEY_ID_HEX];
} reg_keys;

/* Read the key files `o` names into `k` (zeroed first). On failure `k` holds nothing. */
mlops_status mlops__reg_keys_load(reg_keys *k, const mlops_registry_opts *o);
void mlops__reg_keys_free(reg_keys *k);

/* Add "signature" to manifest `root` (signed over its canonical form without it). */
mlops_status mlops__reg_sign(const reg_keys *k, json_t *root);

/* With a trust set: `root` must carry a valid signature by a trusted key
 * (EINTEGRITY naming `name`/`version` and the reason). Without one: OK. */
mlops_status mlops__reg_check_signature(const reg_keys *k, json_t *root, const char *name, uint32_t version);

/* Encrypt `len` bytes into `path` (temporary beside it, fsync, rename); the
 * digest of the stored bytes is written as hex into `hex`, their size into *stored. */
mlops_status mlops__reg_write_encrypted(const reg_keys *k, const char *path, const void *data, size_t len,
                                        char hex[2 * REG_DIGEST_BYTES + 1], size_t *stored);

/* Stream `path` (exactly `stored` bytes whose digest must be `hex`) through the
 * decryptor into a fresh buffer of `plain` bytes. Messages name `what`. */
mlops_status mlops__reg_read_decrypted(const reg_keys *k, const char *path, const char *what, size_t stored,
                                       const char *hex, size_t plain, char **out);

/* Encryption record for a manifest, and its validation. */
json_t *mlops__reg_encryption_json(const reg_keys *k, size_t plain);
mlops_status mlops__reg_check_encryption(const reg_keys *k, json_t *enc, const char *what, size_t max_plain,
                                         size_t *plain);

/* Audit log "<root>/.audit.jsonl" (+ ".audit.head"). enabled: 1 (it exists), 0, -1 (out of memory). */
int mlops__audit_enabled(const char *root);
mlops_status mlops__audit_create(const char *root);
mlops_status mlops__audit_append(const char *root, const char *actor, const char *action, json_t *fields,
                                 const char *result);
mlops_status mlops__audit_verify(const char *root, size_t *n_lines);

/* The current time, returned, and written in `when` as UTC "YYYY-MM-DDTHH:MM:SSZ" (manifests, audit
 * lines; "" if it cannot be converted). */
time_t mlops__reg_utc_now(char when[32]);

/* BLAKE2b-256 of `len` bytes as lowercase hex. */
void mlops__reg_digest_hex(const void *data, size_t len, char hex[2 * REG_DIGEST_BYTES + 1]);

#endif
