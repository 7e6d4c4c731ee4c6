/* Trusted models: key files, Ed25519 manifest signatures and XChaCha20-Poly1305
 * secretstream encryption of model bytes at rest. Every primitive is libsodium's.
 *
 * Key files are raw bytes: a private key is libsodium's 64-byte Ed25519 secret
 * key (NAME.key, mode 0600), a public key its 32 bytes (NAME.pub), an
 * encryption key 32 bytes (0600). A key's id is 8 bytes of BLAKE2b, in hex:
 * of the public key, or keyed by the symmetric key (so the id reveals nothing).
 *
 * A signature covers the manifest's canonical form: the manifest object without
 * its "signature" member, dumped by jansson compact with sorted keys. The
 * manifest binds the name, version, size and digest of the stored bytes, the
 * encryption record and the metadata (lineage included).
 *
 * Encrypted model.bin: the 24-byte secretstream header, then one message per
 * 64 KiB of plaintext (17 bytes of overhead each), the last tagged FINAL, so a
 * truncated file is refused even if its manifest was rewritten to match. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "trust.h"

#define SS_HEADER crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define SS_ABYTES crypto_secretstream_xchacha20poly1305_ABYTES
#define SS_KEY crypto_secretstream_xchacha20poly1305_KEYBYTES
#define SIG_CONTEXT "mlops-registry manifest v1\n"

void mlops__reg_digest_hex(const void *data, size_t len, char hex[2 * REG_DIGEST_BYTES + 1]) {
    unsigned char d[REG_DIGEST_BYTES];
    crypto_generichash(d, sizeof d, data, len, NULL, 0);
    sodium_bin2hex(hex, 2 * REG_DIGEST_BYTES + 1, d, sizeof d);
}

static void key_id(const unsigned char *key, size_t key_len, int keyed, char id[REG_KEY_ID_HEX]) {
    static const char label[] = "mlops-registry key id";
    unsigned char d[8];
    if (keyed)
        crypto_generichash(d, sizeof d, (const unsigned char *)label, sizeof label - 1, key, key_len);
    else
        crypto_generichash(d, sizeof d, key, key_len, NULL, 0);
    sodium_bin2hex(id, REG_KEY_ID_HEX, d, sizeof d);
}

/* Read a key file of exactly `want` bytes into `out`. `secret`: refuse group/world access. */
static mlops_status read_key_file(const char *path, const char *kind, size_t want, int secret,
                                  unsigned char *out) {
    MLOPS__FAIL_IF(!path || !*path, MLOPS_EINVAL, "registry: %s file name is empty", kind);
    int fd;
    size_t size;
    mlops_status st = mlops__open_regular(path, (size_t)1 << 30, &fd, &size);
    if (st == MLOPS_ELIMIT) st = mlops__fail(MLOPS_EINVAL, "registry: %s %s is far too large", kind, path);
    if (st) return st;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        st = mlops__fail(MLOPS_EIO, "registry: %s %s: %s", kind, path, strerror(errno));
    } else if (size != want) {
        st = mlops__fail(MLOPS_EINVAL, "registry: %s %s is %zu bytes, it must be exactly %zu", kind, path,
                         size, want);
    } else if (secret && (sb.st_mode & 077)) {
        st = mlops__fail(MLOPS_EINVAL,
                         "registry: %s %s is readable by group or others (mode %04o); a private key must be "
                         "mode 0600 (chmod 600 it)",
                         kind, path, (unsigned)(sb.st_mode & 07777));
    } else {
        size_t got = 0;
        while (got < want) {
            ssize_t r = read(fd, out + got, want - got);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) break;
            got += (size_t)r;
        }
        if (got != want)
            st = mlops__fail(MLOPS_EIO, "registry: %s %s: short read (%zu of %zu bytes)", kind, path, got,
                             want);
    }
    close(fd);
    return st;
}

void mlops__reg_keys_free(reg_keys *k) {
    if (!k) return;
    mlops__free(k->trust);
    sodium_free(k->sign_sk); /* zeroes before freeing; NULL is a no-op */
    sodium_free(k->enc_key);
    memset(k, 0, sizeof *k);
}

static mlops_status load_trust(reg_keys *k, const mlops_registry_opts *o) {
    if (o->n_trust_keys == 0) return MLOPS_OK;
    MLOPS__FAIL_IF(!o->trust_keys, MLOPS_EINVAL, "registry: n_trust_keys is %zu but trust_keys is NULL",
                   o->n_trust_keys);
    if (o->n_trust_keys > 4096)
        return mlops__fail(MLOPS_ELIMIT, "registry: %zu trusted keys, the limit is 4096", o->n_trust_keys);
    k->trust = mlops__calloc(o->n_trust_keys, sizeof *k->trust);
    if (!k->trust) return mlops__fail(MLOPS_ENOMEM, "registry: trust set: out of memory");
    for (size_t i = 0; i < o->n_trust_keys; i++) {
        mlops_status st =
            read_key_file(o->trust_keys[i], "public key", crypto_sign_PUBLICKEYBYTES, 0, k->trust[i].pk);
        if (st) return st;
        key_id(k->trust[i].pk, crypto_sign_PUBLICKEYBYTES, 0, k->trust[i].id);
        k->n_trust++;
    }
    return MLOPS_OK;
}

static mlops_status load_secret(const char *path, const char *kind, size_t len, unsigned char **out) {
    unsigned char *buf = sodium_malloc(len);
    if (!buf) return mlops__fail(MLOPS_ENOMEM, "registry: %s: out of memory", kind);
    mlops_status st = read_key_file(path, kind, len, 1, buf);
    if (st) {
        sodium_free(buf);
        return st;
    }
    *out = buf;
    return MLOPS_OK;
}

mlops_status mlops__reg_keys_load(reg_keys *k, const mlops_registry_opts *o) {
    memset(k, 0, sizeof *k);
    mlops_status st = load_trust(k, o);
    if (!st && o->sign_key &&
        !(st = load_secret(o->sign_key, "signing key", crypto_sign_SECRETKEYBYTES, &k->sign_sk)))
        key_id(k->sign_sk + crypto_sign_SECRETKEYBYTES - crypto_sign_PUBLICKEYBYTES,
               crypto_sign_PUBLICKEYBYTES, 0, k->sign_id);
    if (!st && o->encryption_key &&
        !(st = load_secret(o->encryption_key, "encryption key", SS_KEY, &k->enc_key)))
        key_id(k->enc_key, SS_KEY, 1, k->enc_id);
    if (st) mlops__reg_keys_free(k);
    return st;
}

/* ---- signatures --------------------------------------------------------------------------------- */

/* SIG_CONTEXT + the canonical form of `root` without "signature" (allocated with malloc). */
static char *signed_bytes(json_t *root, size_t *len) {
    json_t *copy = json_copy(root);
    if (!copy) return NULL;
    json_object_del(copy, "signature");
    char *body = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(copy);
    if (!body) return NULL;
    size_t blen = strlen(body), clen = sizeof SIG_CONTEXT - 1;
    char *msg = malloc(clen + blen + 1);
    if (msg) {
        memcpy(msg, SIG_CONTEXT, clen);
        memcpy(msg + clen, body, blen + 1);
        *len = clen + blen;
    }
    free(body);
    return msg;
}

mlops_status mlops__reg_sign(const reg_keys *k, json_t *root) {
    if (!k->sign_sk) return MLOPS_OK;
    size_t len = 0;
    char *msg = signed_bytes(root, &len);
    if (!msg) return mlops__fail(MLOPS_ENOMEM, "registry: signing: out of memory");
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const unsigned char *)msg, len, k->sign_sk);
    free(msg);
    char hex[2 * crypto_sign_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, sig, sizeof sig);
    json_t *s = json_pack("{s:s, s:s, s:s}", "algorithm", "ed25519", "key_id", k->sign_id, "value", hex);
    if (!s || json_object_set_new(root, "signature", s) != 0)
        return mlops__fail(MLOPS_ENOMEM, "registry: signing: out of memory");
    return MLOPS_OK;
}

mlops_status mlops__reg_check_signature(const reg_keys *k, json_t *root, const char *name, uint32_t version) {
    if (k->n_trust == 0) return MLOPS_OK;
    json_t *s = json_object_get(root, "signature");
    if (!s)
        return mlops__fail(
            MLOPS_EINTEGRITY,
            "registry: '%s' version %u is unsigned, and this registry trusts only versions signed "
            "by its trusted keys",
            name, (unsigned)version);
    const char *alg = json_string_value(json_object_get(s, "algorithm"));
    const char *id = json_string_value(json_object_get(s, "key_id"));
    const char *val = json_string_value(json_object_get(s, "value"));
    unsigned char sig[crypto_sign_BYTES];
    size_t sig_len = 0;
    if (!alg || strcmp(alg, "ed25519") != 0 || !id || !val || strlen(val) != 2 * crypto_sign_BYTES ||
        sodium_hex2bin(sig, sizeof sig, val, strlen(val), NULL, &sig_len, NULL) != 0 || sig_len != sizeof sig)
        return mlops__fail(
            MLOPS_EINTEGRITY,
            "registry: '%s' version %u: malformed signature (want {\"algorithm\": \"ed25519\", "
            "\"key_id\", \"value\": 128 hex digits})",
            name, (unsigned)version);
    const reg_pubkey *pk = NULL;
    for (size_t i = 0; i < k->n_trust && !pk; i++)
        if (strcmp(k->trust[i].id, id) == 0) pk = &k->trust[i];
    if (!pk)
        return mlops__fail(MLOPS_EINTEGRITY,
                           "registry: '%s' version %u is signed by key %.16s, which is not trusted", name,
                           (unsigned)version, id);
    size_t len = 0;
    char *msg = signed_bytes(root, &len);
    if (!msg) return mlops__fail(MLOPS_ENOMEM, "registry: signature check: out of memory");
    int bad = crypto_sign_verify_detached(sig, (const unsigned char *)msg, len, pk->pk);
    free(msg);
    if (bad)
        return mlops__fail(
            MLOPS_EINTEGRITY,
            "registry: '%s' version %u: the signature by key %s does not match the manifest (it "
            "was edited, or the signature belongs to another version)",
            name, (unsigned)version, pk->id);
    return MLOPS_OK;
}

/* ---- encryption at rest ------------------------------------------------------------------------- */

json_t *mlops__reg_encryption_json(const reg_keys *k, size_t plain) {
    return json_pack("{s:s, s:I, s:I, s:s}", "cipher", REG_CIPHER, "chunk_bytes", (json_int_t)REG_CHUNK,
                     "plain_size", (json_int_t)plain, "key_id", k->enc_id);
}

mlops_status mlops__reg_check_encryption(const reg_keys *k, json_t *enc, const char *what, size_t max_plain,
                                         size_t *plain) {
    const char *cipher = json_string_value(json_object_get(enc, "cipher"));
    const char *id = json_string_value(json_object_get(enc, "key_id"));
    json_t *chunk = json_object_get(enc, "chunk_bytes"), *ps = json_object_get(enc, "plain_size");
    if (!json_is_object(enc) || !cipher || strcmp(cipher, REG_CIPHER) != 0 || !id ||
        !json_is_integer(chunk) || json_integer_value(chunk) != (json_int_t)REG_CHUNK ||
        !json_is_integer(ps) || json_integer_value(ps) < 1)
        return mlops__fail(MLOPS_EFORMAT,
                           "registry: %s: malformed \"encryption\" (want cipher \"%s\", chunk_bytes %zu, "
                           "positive plain_size, key_id)",
                           what, REG_CIPHER, REG_CHUNK);
    if ((unsigned long long)json_integer_value(ps) > max_plain)
        return mlops__fail(MLOPS_ELIMIT, "registry: %s: %lld bytes exceeds max_model_bytes %zu", what,
                           (long long)json_integer_value(ps), max_plain);
    if (!k->enc_key)
        return mlops__fail(MLOPS_ESTATE,
                           "registry: %s is encrypted (key %.16s); open the registry with its encryption key",
                           what, id);
    if (strcmp(id, k->enc_id) != 0)
        return mlops__fail(MLOPS_EINTEGRITY,
                           "registry: %s is encrypted with key %.16s, not with this registry's key %s (wrong "
                           "decryption key)",
                           what, id, k->enc_id);
    *plain = (size_t)json_integer_value(ps);
    return MLOPS_OK;
}

static int write_all(int fd, const unsigned char *p, size_t len) {
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void fsync_parent(const char *path) {
    char *dir = mlops__strdup(path);
    if (!dir) return;
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    int fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    mlops__free(dir);
}

/* Encrypt into the open descriptor `fd`, hashing what is written. */
static int encrypt_to(int fd, const reg_keys *k, const unsigned char *data, size_t len,
                      crypto_generichash_state *h, size_t *stored) {
    crypto_secretstream_xchacha20poly1305_state ss;
    unsigned char header[SS_HEADER];
    crypto_secretstream_xchacha20poly1305_init_push(&ss, header, k->enc_key);
    unsigned char *buf = mlops__malloc(REG_CHUNK + SS_ABYTES);
    if (!buf) return errno = ENOMEM, -1;
    int rc = write_all(fd, header, sizeof header);
    crypto_generichash_update(h, header, sizeof header);
    size_t total = sizeof header;
    for (size_t off = 0; rc == 0 && off < len; off += REG_CHUNK) {
        size_t n = len - off < REG_CHUNK ? len - off : REG_CHUNK;
        unsigned char tag = off + n == len ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0;
        unsigned long long clen = 0;
        crypto_secretstream_xchacha20poly1305_push(&ss, buf, &clen, data + off, n, NULL, 0, tag);
        rc = write_all(fd, buf, (size_t)clen);
        crypto_generichash_update(h, buf, (size_t)clen);
        total += (size_t)clen;
    }
    mlops__free(buf);
    sodium_memzero(&ss, sizeof ss);
    *stored = total;
    return rc;
}

mlops_status mlops__reg_write_encrypted(const reg_keys *k, const char *path, const void *data, size_t len,
                                        char hex[2 * REG_DIGEST_BYTES + 1], size_t *stored) {
    /* The version directory belongs to this put alone, so the name cannot collide;
     * it has the shape of the library's temporaries, which open() sweeps if we die. */
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld.0", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return mlops__fail(MLOPS_EINVAL, "registry: %s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) return mlops__fail(MLOPS_EIO, "registry: cannot create %s: %s", path, strerror(errno));
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, REG_DIGEST_BYTES);
    int rc = encrypt_to(fd, k, data, len, &h, stored);
    int e = errno;
    if (rc == 0 && fsync(fd) != 0) rc = -1, e = errno;
    close(fd);
    if (rc == 0 && rename(tmp, path) != 0) rc = -1, e = errno;
    if (rc != 0) {
        unlink(tmp);
        if (e == ENOMEM) return mlops__fail(MLOPS_ENOMEM, "registry: %s: out of memory", path);
        return mlops__fail(MLOPS_EIO, "registry: cannot write %s: %s", path, strerror(e));
    }
    fsync_parent(path);
    unsigned char d[REG_DIGEST_BYTES];
    crypto_generichash_final(&h, d, sizeof d);
    sodium_bin2hex(hex, 2 * REG_DIGEST_BYTES + 1, d, sizeof d);
    return MLOPS_OK;
}

static int read_full(int fd, unsigned char *p, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        got += (size_t)r;
    }
    return 0;
}

typedef struct decrypt_job {
    int fd;
    const char *what;
    size_t stored, plain;
    unsigned char *out, *buf;
    crypto_generichash_state h;
    crypto_secretstream_xchacha20poly1305_state ss;
} decrypt_job;

static mlops_status decrypt_chunks(decrypt_job *j) {
    size_t left = j->stored - SS_HEADER, done = 0;
    unsigned char tag = 0;
    for (size_t i = 0; left > 0; i++) {
        if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
            return mlops__fail(MLOPS_EINTEGRITY, "registry: %s: bytes follow the final chunk", j->what);
        size_t clen = left < REG_CHUNK + SS_ABYTES ? left : REG_CHUNK + SS_ABYTES;
        if (clen <= SS_ABYTES || clen - SS_ABYTES > j->plain - done)
            return mlops__fail(MLOPS_EINTEGRITY, "registry: %s: chunk %zu does not fit the recorded size",
                               j->what, i);
        if (read_full(j->fd, j->buf, clen) != 0)
            return mlops__fail(MLOPS_EIO, "registry: %s: short read (changed while reading?)", j->what);
        crypto_generichash_update(&j->h, j->buf, clen);
        unsigned long long mlen = 0;
        if (crypto_secretstream_xchacha20poly1305_pull(&j->ss, j->out + done, &mlen, &tag, j->buf, clen, NULL,
                                                       0) != 0)
            return mlops__fail(MLOPS_EINTEGRITY,
                               "registry: %s: decryption failed at chunk %zu (wrong key or damaged bytes)",
                               j->what, i);
        done += (size_t)mlen;
        left -= clen;
    }
    if (tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL || done != j->plain)
        return mlops__fail(MLOPS_EINTEGRITY, "registry: %s: the ciphertext is truncated (no final chunk)",
                           j->what);
    return MLOPS_OK;
}

mlops_status mlops__reg_read_decrypted(const reg_keys *k, const char *path, const char *what, size_t stored,
                                       const char *hex, size_t plain, char **out) {
    decrypt_job j;
    memset(&j, 0, sizeof j);
    j.what = what;
    j.stored = stored;
    j.plain = plain;
    size_t size = 0;
    mlops_status st = mlops__open_regular(path, stored, &j.fd, &size);
    if (st == MLOPS_ELIMIT)
        return mlops__fail(MLOPS_EINTEGRITY, "registry: %s is larger than the %zu bytes its manifest records",
                           what, stored);
    if (st) return st;
    unsigned char header[SS_HEADER];
    size_t chunks = plain / REG_CHUNK + (plain % REG_CHUNK != 0);
    if (size != stored) {
        st = mlops__fail(MLOPS_EINTEGRITY, "registry: %s is %zu bytes, its manifest records %zu", what, size,
                         stored);
    } else if (stored < SS_HEADER + SS_ABYTES || plain > stored ||
               stored - SS_HEADER - plain != chunks * SS_ABYTES) {
        /* before any allocation: the plaintext size follows from the stored size */
        st = mlops__fail(
            MLOPS_EINTEGRITY,
            "registry: %s: %zu stored bytes cannot hold the %zu bytes of plaintext the manifest records",
            what, stored, plain);
    } else if (read_full(j.fd, header, sizeof header) != 0) {
        st = mlops__fail(MLOPS_EIO, "registry: %s: short read", what);
    } else if (!(j.out = mlops__malloc(plain + 1)) || !(j.buf = mlops__malloc(REG_CHUNK + SS_ABYTES))) {
        st = mlops__fail(MLOPS_ENOMEM, "registry: %s: cannot allocate %zu bytes", what, plain);
    } else {
        crypto_generichash_init(&j.h, NULL, 0, REG_DIGEST_BYTES);
        crypto_generichash_update(&j.h, header, sizeof header);
        if (crypto_secretstream_xchacha20poly1305_init_pull(&j.ss, header, k->enc_key) != 0)
            st = mlops__fail(MLOPS_EINTEGRITY, "registry: %s: invalid encryption header", what);
        else
            st = decrypt_chunks(&j);
    }
    close(j.fd);
    if (!st) {
        /* the AEAD authenticated the plaintext; the digest binds these exact bytes to the (signed) manifest
         */
        unsigned char d[REG_DIGEST_BYTES];
        char got[2 * REG_DIGEST_BYTES + 1];
        crypto_generichash_final(&j.h, d, sizeof d);
        sodium_bin2hex(got, sizeof got, d, sizeof d);
        if (sodium_memcmp(got, hex, sizeof got - 1) != 0)
            st = mlops__fail(MLOPS_EINTEGRITY,
                             "registry: %s: BLAKE2b-256 digest %s does not match the manifest's %s", what,
                             got, hex);
    }
    mlops__free(j.buf);
    sodium_memzero(&j.ss, sizeof j.ss);
    if (st) {
        if (j.out) sodium_memzero(j.out, plain);
        mlops__free(j.out);
        return st;
    }
    *out = (char *)j.out;
    return MLOPS_OK;
}

/* ---- key generation ----------------------------------------------------------------------------- */

/* Create `path` exclusively with `mode` and write `len` bytes (fsync'd). */
static mlops_status write_new_key(const char *path, const unsigned char *data, size_t len, mode_t mode) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return errno == EEXIST
                   ? mlops__fail(MLOPS_EEXIST, "registry: keygen: %s exists; not replacing a key", path)
                   : mlops__fail(MLOPS_EIO, "registry: keygen: %s: %s", path, strerror(errno));
    int rc = fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0;
    int e = errno;
    close(fd);
    if (rc) {
        unlink(path);
        return mlops__fail(MLOPS_EIO, "registry: keygen: %s: %s", path, strerror(e));
    }
    return MLOPS_OK;
}

mlops_status mlops_registry_keygen(const char *out, int symmetric) {
    MLOPS__CHECK_STR("registry", out);
    if (sodium_init() < 0) return mlops__fail(MLOPS_EBACKEND, "registry: libsodium failed to initialise");
    if (symmetric) {
        unsigned char *key = sodium_malloc(SS_KEY);
        if (!key) return mlops__fail(MLOPS_ENOMEM, "registry: keygen: out of memory");
        crypto_secretstream_xchacha20poly1305_keygen(key);
        mlops_status st = write_new_key(out, key, SS_KEY, 0600);
        sodium_free(key);
        return st;
    }
    size_t n = strlen(out);
    char *priv = mlops__malloc(n + 5), *pub = mlops__malloc(n + 5);
    unsigned char *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    mlops_status st = MLOPS_OK;
    if (!priv || !pub || !sk) {
        st = mlops__fail(MLOPS_ENOMEM, "registry: keygen: out of memory");
    } else {
        snprintf(priv, n + 5, "%s.key", out);
        snprintf(pub, n + 5, "%s.pub", out);
        crypto_sign_keypair(pk, sk);
        struct stat sb;
        if (lstat(pub, &sb) == 0)
            st = mlops__fail(MLOPS_EEXIST, "registry: keygen: %s exists; not replacing a key", pub);
        else if (!(st = write_new_key(priv, sk, crypto_sign_SECRETKEYBYTES, 0600)) &&
                 (st = write_new_key(pub, pk, sizeof pk, 0644)))
            unlink(priv);
    }
    sodium_free(sk);
    mlops__free(priv);
    mlops__free(pub);
    return st;
}
