/* Trusted models (issue 19): signatures, trust sets, encryption at rest, lineage
 * and the audit log. One test per refusal, each with its exact status and
 * message; happy paths load models whose predictions match XGBoost's own
 * (tests/fixtures); key, manifest and audit files are attacked (FIFO,
 * truncated, huge, wrong permissions). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "file_util.h"
#include "harness.h"
#include "mlops/model.h"
#include "mlops/registry.h"

static char tmpdir[256], regdir[300], model_path[512];

static void setup(void) {
    test_tmpdir_make(tmpdir, sizeof tmpdir, "trust", 0);
    snprintf(regdir, sizeof regdir, "%s/reg", tmpdir);
    const char *fx = getenv("MLOPS_FIXTURES");
    snprintf(model_path, sizeof model_path, "%s/models/binary_logistic.json", fx ? fx : "tests/fixtures");
}

static void teardown(void) { test_tmpdir_remove(tmpdir); }

static char *tpath(const char *fmt, const char *arg) {
    static char buf[4][600];
    static int i;
    char *b = buf[i++ & 3];
    char rel[256];
    snprintf(rel, sizeof rel, fmt, arg);
    snprintf(b, 600, "%s/%s", tmpdir, rel);
    return b;
}

static void expect_exact(mlops_status got, mlops_status want, const char *msg) {
    ck_assert_msg(got == want, "status %d (%s), want %d; message: %s", got, mlops_status_str(got), want,
                  mlops_last_error());
    if (msg) ck_assert_str_eq(mlops_last_error(), msg);
}

static void expect_has(mlops_status got, mlops_status want, const char *needle) {
    ck_assert_msg(got == want, "status %d (%s), want %d; message: %s", got, mlops_status_str(got), want,
                  mlops_last_error());
    ck_assert_msg(strstr(mlops_last_error(), needle) != NULL, "message '%s' lacks '%s'", mlops_last_error(),
                  needle);
}

/* Keys "alice" (signing), "mallory" (signing, untrusted) and "sym"/"sym2" (encryption) in tmpdir. */
static void make_keys(void) {
    ck_assert_int_eq(mlops_registry_keygen(tpath("%s", "alice"), 0), MLOPS_OK);
    ck_assert_int_eq(mlops_registry_keygen(tpath("%s", "mallory"), 0), MLOPS_OK);
    ck_assert_int_eq(mlops_registry_keygen(tpath("%s", "sym"), 1), MLOPS_OK);
    ck_assert_int_eq(mlops_registry_keygen(tpath("%s", "sym2"), 1), MLOPS_OK);
}

typedef struct keyset {
    const char *trust[2];
    size_t n_trust;
    const char *sign, *enc;
    int audit;
} keyset;

static mlops_registry *open_with(keyset k) {
    mlops_registry_opts o;
    mlops_registry_opts_init(&o, MLOPS_REGISTRY_OPTS_VERSION);
    o.create = 1;
    o.trust_keys = k.trust;
    o.n_trust_keys = k.n_trust;
    o.sign_key = k.sign;
    o.encryption_key = k.enc;
    o.audit = k.audit;
    o.actor = "test";
    mlops_registry *r = NULL;
    ck_assert_msg(mlops_registry_create(regdir, &o, &r) == MLOPS_OK, "%s", mlops_last_error());
    return r;
}

static uint32_t put_model(mlops_registry *r, const char *meta) {
    uint32_t v = 0;
    ck_assert_msg(mlops_registry_put_file(r, "m", model_path, meta, &v) == MLOPS_OK, "%s",
                  mlops_last_error());
    return v;
}

/* binary_logistic: 48 rows x 30 features; predictions written by XGBoost (tests/fixtures/gen_fixtures.py) */
static void check_predictions(mlops_model *m) {
    char p[512];
    size_t xl = 0, pl = 0;
    const char *fx = getenv("MLOPS_FIXTURES");
    snprintf(p, sizeof p, "%s/models/binary_logistic.x.f32", fx ? fx : "tests/fixtures");
    float *x = (float *)test_read_file(p, &xl);
    snprintf(p, sizeof p, "%s/models/binary_logistic.pred.f32", fx ? fx : "tests/fixtures");
    float *want = (float *)test_read_file(p, &pl);
    ck_assert(x && want && pl == 48 * sizeof(float) && xl == 48 * 30 * sizeof(float));
    float out[48];
    ck_assert_int_eq(mlops_model_predict(m, x, 48, 30, 0, out, 48), MLOPS_OK);
    for (size_t i = 0; i < 48; i++)
        ck_assert_msg(fabsf(out[i] - want[i]) <= 1e-6f, "row %zu", i);
    free(x);
    free(want);
}

static mlops_status load(mlops_registry *r, uint32_t v) {
    mlops_model *m = NULL;
    mlops_status st = mlops_registry_load_model(r, "m", v, NULL, &m, NULL);
    if (st == MLOPS_OK) check_predictions(m);
    mlops_model_free(m);
    return st;
}

static char *vfile(uint32_t v, const char *file) {
    static char buf[2][600];
    static int i;
    char *b = buf[i++ & 1];
    snprintf(b, 600, "%s/m/%u/%s", regdir, (unsigned)v, file);
    return b;
}

static json_t *read_json(const char *path) {
    json_t *j = json_load_file(path, 0, NULL);
    ck_assert_msg(j != NULL, "%s", path);
    return j;
}

static void write_json(const char *path, json_t *j) {
    ck_assert_int_eq(json_dump_file(j, path, JSON_INDENT(2)), 0);
    json_decref(j);
}

static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* The id of a public key file, as the manifest names it: 8 bytes of BLAKE2b, hex. */
static void pub_id(const char *pub, char id[17]) {
    size_t len = 0;
    unsigned char *pk = (unsigned char *)test_read_file(pub, &len);
    ck_assert(pk && len == 32);
    unsigned char d[8];
    crypto_generichash(d, sizeof d, pk, len, NULL, 0);
    sodium_bin2hex(id, 17, d, sizeof d);
    free(pk);
}

/* ---- keys ---- */

START_TEST(keygen_writes_raw_keys_with_private_modes) {
    make_keys();
    struct stat sb;
    ck_assert_int_eq(stat(tpath("%s", "alice.key"), &sb), 0);
    ck_assert_int_eq(sb.st_size, 64);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    ck_assert_int_eq(stat(tpath("%s", "alice.pub"), &sb), 0);
    ck_assert_int_eq(sb.st_size, 32);
    ck_assert_int_eq(stat(tpath("%s", "sym"), &sb), 0);
    ck_assert_int_eq(sb.st_size, 32);
    ck_assert_int_eq(sb.st_mode & 0777, 0600);
    /* the public key is the last half of libsodium's secret key */
    size_t kl = 0, pl = 0;
    char *sk = test_read_file(tpath("%s", "alice.key"), &kl), *pk = test_read_file(tpath("%s", "alice.pub"), &pl);
    unsigned char derived[32];
    ck_assert_int_eq(crypto_sign_ed25519_sk_to_pk(derived, (unsigned char *)sk), 0);
    ck_assert_int_eq(memcmp(derived, pk, 32), 0);
    free(sk);
    free(pk);
    char msg[700];
    snprintf(msg, sizeof msg, "registry: keygen: %s exists; not replacing a key", tpath("%s", "alice.pub"));
    expect_exact(mlops_registry_keygen(tpath("%s", "alice"), 0), MLOPS_EEXIST, msg);
    snprintf(msg, sizeof msg, "registry: keygen: %s exists; not replacing a key", tpath("%s", "sym"));
    expect_exact(mlops_registry_keygen(tpath("%s", "sym"), 1), MLOPS_EEXIST, msg);
}
END_TEST

static mlops_status open_keys(const char *trust, const char *sign, const char *enc) {
    mlops_registry_opts o;
    mlops_registry_opts_init(&o, MLOPS_REGISTRY_OPTS_VERSION);
    o.create = 1;
    const char *t[1] = {trust};
    o.trust_keys = t;
    o.n_trust_keys = trust ? 1 : 0;
    o.sign_key = sign;
    o.encryption_key = enc;
    mlops_registry *r = NULL;
    mlops_status st = mlops_registry_create(regdir, &o, &r);
    mlops_registry_free(r);
    return st;
}

START_TEST(bad_key_files_are_refused_with_the_reason) {
    make_keys();
    char msg[900], *p;
    /* group/world-readable private keys */
    p = tpath("%s", "alice.key");
    ck_assert_int_eq(chmod(p, 0640), 0);
    snprintf(msg, sizeof msg,
             "registry: signing key %s is readable by group or others (mode 0640); a private key must be "
             "mode 0600 "
             "(chmod 600 it)",
             p);
    expect_exact(open_keys(NULL, p, NULL), MLOPS_EINVAL, msg);
    p = tpath("%s", "sym");
    ck_assert_int_eq(chmod(p, 0604), 0);
    snprintf(
        msg, sizeof msg,
        "registry: encryption key %s is readable by group or others (mode 0604); a private key must be mode "
        "0600 (chmod 600 it)",
        p);
    expect_exact(open_keys(NULL, NULL, p), MLOPS_EINVAL, msg);
    /* wrong sizes: truncated, a public key given as the signing key, padded */
    p = tpath("%s", "short.pub");
    write_bytes(p, "0123456789", 10);
    snprintf(msg, sizeof msg, "registry: public key %s is 10 bytes, it must be exactly 32", p);
    expect_exact(open_keys(p, NULL, NULL), MLOPS_EINVAL, msg);
    p = tpath("%s", "mallory.pub");
    ck_assert_int_eq(chmod(p, 0600), 0);
    snprintf(msg, sizeof msg, "registry: signing key %s is 32 bytes, it must be exactly 64", p);
    expect_exact(open_keys(NULL, p, NULL), MLOPS_EINVAL, msg);
    /* huge (sparse: nothing is read) */
    p = tpath("%s", "huge.pub");
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    ck_assert(fd >= 0 && ftruncate(fd, (off_t)3 << 30) == 0);
    close(fd);
    snprintf(msg, sizeof msg, "registry: public key %s is far too large", p);
    expect_exact(open_keys(p, NULL, NULL), MLOPS_EINVAL, msg);
    /* a FIFO fails at once instead of hanging */
    p = tpath("%s", "fifo.pub");
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    snprintf(msg, sizeof msg, "%s: not a regular file (it is a FIFO)", p);
    expect_exact(open_keys(p, NULL, NULL), MLOPS_EIO, msg);
    /* missing */
    p = tpath("%s", "nope.pub");
    snprintf(msg, sizeof msg, "%s: %s", p, strerror(ENOENT));
    expect_exact(open_keys(p, NULL, NULL), MLOPS_EIO, msg);
    /* nothing was created or changed by the refused opens */
    struct stat sb;
    ck_assert_int_ne(stat(regdir, &sb), 0);
}
END_TEST

START_TEST(version_1_options_still_open) {
    mlops_registry_opts o;
    memset(&o, 0, sizeof o);
    o.version = 1;
    o.create = 1;
    o.sign_key = "ignored: not part of version 1";
    mlops_registry *r = NULL;
    ck_assert_int_eq(mlops_registry_create(regdir, &o, &r), MLOPS_OK);
    ck_assert_int_eq(put_model(r, NULL), 1);
    size_t len = 0;
    char *man = test_read_file(vfile(1, "manifest.json"), &len);
    ck_assert_ptr_eq(memmem(man, len, "signature", 9), NULL); 
    free(man);
    mlops_registry_free(r);
    o.version = 3;
    expect_exact(mlops_registry_create(regdir, &o, &r), MLOPS_EVERSION,
                 "registry: options version 3, this library knows 1 and 2");
}
END_TEST

/* ---- signatures ---- */

static const char *alice_pub(void) { return tpath("%s", "alice.pub"); }

START_TEST(signed_put_loads_in_a_trusted_registry) {
    make_keys();
    mlops_registry *w = open_with((keyset){{NULL}, 0, tpath("%s", "alice.key"), NULL, 0});
    ck_assert_int_eq(put_model(w, "{\"auc\": 0.97}"), 1);
    mlops_registry_free(w);
    keyset k = {{alice_pub(), tpath("%s", "mallory.pub")}, 2, NULL, NULL, 0};
    mlops_registry *r = open_with(k);
    ck_assert_int_eq(load(r, 1), MLOPS_OK);
    char *info = NULL;
    ck_assert_int_eq(mlops_registry_info(r, "m", 1, &info), MLOPS_OK);
    char id[17], want[64];
    pub_id(alice_pub(), id);
    snprintf(want, sizeof want, "\"key_id\":\"%s\"", id);
    ck_assert_msg(strstr(info, want) && strstr(info, "\"algorithm\":\"ed25519\""), "%s", info);
    mlops_free(info);
    char *report = NULL;
    ck_assert_int_eq(mlops_registry_verify(r, NULL, &report), MLOPS_OK);
    ck_assert_str_eq(report, "{\"checked\":1,\"orphans\":[],\"problems\":[]}");
    mlops_free(report);
    mlops_registry_free(r);
}
END_TEST

START_TEST(trusted_registry_refuses_an_unsigned_version) {
    make_keys();
    mlops_registry *w = open_with((keyset){{NULL}, 0, NULL, NULL, 0});
    put_model(w, NULL);
    mlops_registry_free(w);
    mlops_registry *r = open_with((keyset){{alice_pub()}, 1, NULL, NULL, 0});
    const char *msg = "registry: 'm' version 1 is unsigned, and this registry trusts only versions signed by "
                      "its trusted keys";
    expect_exact(load(r, 1), MLOPS_EINTEGRITY, msg);
    char *s = NULL;
    expect_exact(mlops_registry_info(r, "m", 1, &s), MLOPS_EINTEGRITY, msg);
    /* verify reports it as a problem */
    ck_assert_int_eq(mlops_registry_verify(r, NULL, &s), MLOPS_OK);
    ck_assert_msg(strstr(s, msg) != NULL, "%s", s);
    mlops_free(s);
    mlops_registry_free(r);
}
END_TEST

START_TEST(trusted_registry_refuses_an_unknown_key) {
    make_keys();
    mlops_registry *w = open_with((keyset){{NULL}, 0, tpath("%s", "mallory.key"), NULL, 0});
    put_model(w, NULL);
    mlops_registry_free(w);
    mlops_registry *r = open_with((keyset){{alice_pub()}, 1, NULL, NULL, 0});
    char id[17], msg[200];
    pub_id(tpath("%s", "mallory.pub"), id);
    snprintf(msg, sizeof msg, "registry: 'm' version 1 is signed by key %s, which is not trusted", id);
    expect_exact(load(r, 1), MLOPS_EINTEGRITY, msg);
    mlops_registry_free(r);
}
END_TEST

static char bad_sig_msg[300];

static mlops_registry *signed_two_versions(void) {
    make_keys();
    mlops_registry *w = open_with((keyset){{NULL}, 0, tpath("%s", "alice.key"), NULL, 0});
    put_model(w, "{\"note\": \"first\"}");
    put_model(w, "{\"note\": \"second\"}");
    mlops_registry_free(w);
    char id[17];
    pub_id(alice_pub(), id);
    snprintf(bad_sig_msg, sizeof bad_sig_msg,
             "registry: 'm' version %%u: the signature by key %s does not match the manifest (it was edited, "
             "or the "
             "signature belongs to another version)",
             id);
    return open_with((keyset){{alice_pub()}, 1, NULL, NULL, 0});
}

static void expect_bad_sig(mlops_status st, unsigned v) {
    char msg[400];
    snprintf(msg, sizeof msg, bad_sig_msg, v);
    expect_exact(st, MLOPS_EINTEGRITY, msg);
}

START_TEST(trusted_registry_refuses_a_swapped_model) {
    mlops_registry *r = signed_two_versions();
    /* an attacker who writes both files: another model, manifest size and digest to match */
    const char *fx = getenv("MLOPS_FIXTURES");
    char other[512];
    snprintf(other, sizeof other, "%s/models/reg_squarederror.json", fx ? fx : "tests/fixtures");
    size_t len = 0;
    char *bytes = test_read_file(other, &len);
    write_bytes(vfile(2, "model.bin"), bytes, len);
    char hex[65], dg[80];
    unsigned char d[32];
    crypto_generichash(d, 32, (unsigned char *)bytes, len, NULL, 0);
    sodium_bin2hex(hex, sizeof hex, d, 32);
    snprintf(dg, sizeof dg, "blake2b-256:%s", hex);
    free(bytes);
    json_t *m = read_json(vfile(2, "manifest.json"));
    json_object_set_new(m, "size", json_integer((json_int_t)len));
    json_object_set_new(m, "digest", json_string(dg));
    write_json(vfile(2, "manifest.json"), m);
    expect_bad_sig(load(r, 2), 2);
    /* the model file alone swapped: the (signed) digest catches it */
    snprintf(other, sizeof other, "%s/models/binary_logistic.ubj", fx ? fx : "tests/fixtures");
    bytes = test_read_file(other, &len);
    write_bytes(vfile(1, "model.bin"), bytes, len);
    free(bytes);
    expect_has(load(r, 1), MLOPS_EINTEGRITY, "/m/1/model.bin is ");
    mlops_registry_free(r);
}
END_TEST

START_TEST(trusted_registry_refuses_an_edited_manifest) {
    mlops_registry *r = signed_two_versions();
    json_t *m = read_json(vfile(1, "manifest.json"));
    json_object_set_new(json_object_get(m, "metadata"), "note", json_string("approved by risk"));
    write_json(vfile(1, "manifest.json"), m);
    expect_bad_sig(load(r, 1), 1);
    /* version 2 is untouched and still loads */
    ck_assert_int_eq(load(r, 2), MLOPS_OK);
    /* removing the signature makes it unsigned, not trusted */
    m = read_json(vfile(2, "manifest.json"));
    json_object_del(m, "signature");
    write_json(vfile(2, "manifest.json"), m);
    expect_has(load(r, 2), MLOPS_EINTEGRITY, "'m' version 2 is unsigned");
    mlops_registry_free(r);
}
END_TEST

START_TEST(trusted_registry_refuses_a_signature_moved_to_another_version) {
    mlops_registry *r = signed_two_versions();
    json_t *m1 = read_json(vfile(1, "manifest.json")), *m2 = read_json(vfile(2, "manifest.json"));
    json_object_set(m2, "signature", json_object_get(m1, "signature"));
    json_decref(m1);
    write_json(vfile(2, "manifest.json"), m2);
    expect_bad_sig(load(r, 2), 2);
    /* the whole manifest of version 1 copied over version 2 names the wrong version */
    size_t len = 0;
    char *b = test_read_file(vfile(1, "manifest.json"), &len);
    write_bytes(vfile(2, "manifest.json"), b, len);
    free(b);
    expect_has(load(r, 2), MLOPS_EINTEGRITY, "manifest describes 'm' version 1, not 'm' version 2");
    mlops_registry_free(r);
}
END_TEST

/* ---- encryption ---- */

START_TEST(encrypted_put_stores_no_plaintext_and_loads) {
    make_keys();
    keyset k = {{alice_pub()}, 1, tpath("%s", "alice.key"), tpath("%s", "sym"), 0};
    mlops_registry *r = open_with(k);
    put_model(r, NULL);
    size_t plen = 0, clen = 0;
    char *plain = test_read_file(model_path, &plen), *stored = test_read_file(vfile(1, "model.bin"), &clen);
    /* header + 17 bytes per 64 KiB chunk; no 32-byte window of the model survives */
    ck_assert_uint_eq(clen, 24 + plen + 17 * ((plen + 65535) / 65536));
    for (size_t i = 0; i + 32 <= plen; i += 997)
        ck_assert_ptr_eq(memmem(stored, clen, plain + i, 32), NULL);
    free(plain);
    free(stored);
    json_t *m = read_json(vfile(1, "manifest.json"));
    json_t *enc = json_object_get(m, "encryption");
    ck_assert_str_eq(json_string_value(json_object_get(enc, "cipher")), "xchacha20poly1305-secretstream");
    ck_assert_int_eq(json_integer_value(json_object_get(enc, "plain_size")), (json_int_t)plen);
    json_decref(m);
    ck_assert_int_eq(load(r, 1), MLOPS_OK);
    mlops_registry_free(r);
    /* without the key: the manifest is readable, the model is not */
    r = open_with((keyset){{NULL}, 0, NULL, NULL, 0});
    char *info = NULL;
    ck_assert_int_eq(mlops_registry_info(r, "m", 1, &info), MLOPS_OK);
    mlops_free(info);
    expect_has(load(r, 1), MLOPS_ESTATE, "registry: 'm' version 1 is encrypted (key ");
    /* verify checks the stored bytes without the key */
    ck_assert_int_eq(mlops_registry_verify(r, NULL, &info), MLOPS_OK);
    ck_assert_str_eq(info, "{\"checked\":1,\"orphans\":[],\"problems\":[]}");
    mlops_free(info);
    mlops_registry_free(r);
}
END_TEST

START_TEST(wrong_decryption_key_fails_cleanly) {
    make_keys();
    mlops_registry *r = open_with((keyset){{NULL}, 0, NULL, tpath("%s", "sym"), 0});
    put_model(r, NULL);
    json_t *m = read_json(vfile(1, "manifest.json"));
    char stored_id[17];
    snprintf(stored_id, sizeof stored_id, "%s",
             json_string_value(json_object_get(json_object_get(m, "encryption"), "key_id")));
    mlops_registry_free(r);
    r = open_with((keyset){{NULL}, 0, NULL, tpath("%s", "sym2"), 0});
    expect_has(load(r, 1), MLOPS_EINTEGRITY, "registry: 'm' version 1 is encrypted with key ");
    ck_assert_msg(strstr(mlops_last_error(), stored_id) &&
                      strstr(mlops_last_error(), "(wrong decryption key)"),
                  "%s", mlops_last_error());
    /* an attacker who edits the key id to match gets an authentication failure, not garbage */
    size_t len = 0;
    char *k2 = test_read_file(tpath("%s", "sym2"), &len);
    unsigned char d[8];
    crypto_generichash(d, 8, (const unsigned char *)"mlops-registry key id", 21, (unsigned char *)k2, 32);
    free(k2);
    char id2[17];
    sodium_bin2hex(id2, sizeof id2, d, 8);
    json_object_set_new(json_object_get(m, "encryption"), "key_id", json_string(id2));
    write_json(vfile(1, "manifest.json"), m);
    expect_exact(load(r, 1), MLOPS_EINTEGRITY,
                 "registry: 'm' version 1: decryption failed at chunk 0 (wrong key or damaged bytes)");
    mlops_registry_free(r);
}
END_TEST

/* Rewrite the manifest's size and digest to match model.bin (an attacker without a signing key). */
static void manifest_matches_blob(uint32_t v) {
    size_t len = 0;
    char *b = test_read_file(vfile(v, "model.bin"), &len);
    unsigned char d[32];
    char hex[65], dg[80];
    crypto_generichash(d, 32, (unsigned char *)b, len, NULL, 0);
    sodium_bin2hex(hex, sizeof hex, d, 32);
    snprintf(dg, sizeof dg, "blake2b-256:%s", hex);
    free(b);
    json_t *m = read_json(vfile(v, "manifest.json"));
    json_object_set_new(m, "size", json_integer((json_int_t)len));
    json_object_set_new(m, "digest", json_string(dg));
    write_json(vfile(v, "manifest.json"), m);
}

START_TEST(truncated_or_flipped_ciphertext_fails_cleanly) {
    make_keys();
    mlops_registry *r = open_with((keyset){{NULL}, 0, NULL, tpath("%s", "sym"), 0});
    /* a model of 3 chunks and a bit */
    size_t plen = 3 * 65536 + 100;
    char *big = malloc(plen);
    randombytes_buf(big, plen);
    for (int v = 1; v <= 3; v++)
        ck_assert_int_eq(mlops_registry_put(r, "m", big, plen, NULL, NULL), MLOPS_OK);
    free(big);
    size_t stored = 24 + plen + 4 * 17;
    /* truncated: the manifest's size catches it */
    ck_assert_int_eq(truncate(vfile(1, "model.bin"), (off_t)(stored - 5)), 0);
    char msg[700];
    snprintf(msg, sizeof msg, "registry: 'm' version 1 is %zu bytes, its manifest records %zu", stored - 5,
             stored);
    mlops_model *m = NULL;
    expect_exact(mlops_registry_load_model(r, "m", 1, NULL, &m, NULL), MLOPS_EINTEGRITY, msg);
    /* truncated at a chunk boundary with the manifest rewritten to match: no final chunk */
    ck_assert_int_eq(truncate(vfile(2, "model.bin"), (off_t)(24 + 2 * (65536 + 17))), 0);
    manifest_matches_blob(2);
    snprintf(msg, sizeof msg,
             "registry: 'm' version 2: %d stored bytes cannot hold the %zu bytes of plaintext the manifest "
             "records",
             24 + 2 * (65536 + 17), plen);
    expect_exact(mlops_registry_load_model(r, "m", 2, NULL, &m, NULL), MLOPS_EINTEGRITY, msg);
    json_t *man = read_json(vfile(2, "manifest.json")); /* plain_size edited too: the missing final tag */
    json_object_set_new(json_object_get(man, "encryption"), "plain_size", json_integer(2 * 65536));
    write_json(vfile(2, "manifest.json"), man);
    expect_exact(mlops_registry_load_model(r, "m", 2, NULL, &m, NULL), MLOPS_EINTEGRITY,
                 "registry: 'm' version 2: the ciphertext is truncated (no final chunk)");
    /* one flipped byte in chunk 1, manifest rewritten to match */
    FILE *f = fopen(vfile(3, "model.bin"), "r+b");
    ck_assert(f && fseek(f, 24 + 65536 + 17 + 40, SEEK_SET) == 0);
    int c = fgetc(f);
    fseek(f, -1, SEEK_CUR);
    fputc(c ^ 1, f);
    fclose(f);
    manifest_matches_blob(3);
    expect_exact(mlops_registry_load_model(r, "m", 3, NULL, &m, NULL), MLOPS_EINTEGRITY,
                 "registry: 'm' version 3: decryption failed at chunk 1 (wrong key or damaged bytes)");
    ck_assert_ptr_eq(m, NULL);
    mlops_registry_free(r);
}
END_TEST

/* ---- lineage ---- */

START_TEST(lineage_follows_parents_back_to_the_first_version) {
    make_keys();
    mlops_registry *r = open_with((keyset){{alice_pub()}, 1, tpath("%s", "alice.key"), NULL, 0});
    put_model(r, "{\"lineage\": {\"data\": [{\"path\": \"train.csv\", \"digest\": \"blake2b-256:00\"}], "
                 "\"params\": {\"max_depth\": 3}, \"tools\": {\"xgboost\": \"1.7.4\"}}}");
    put_model(r, "{\"lineage\": {\"parent\": 1, \"metrics\": {\"auc\": 0.91}}}");
    put_model(r, "{\"lineage\": {\"parent\": 2}}");
    char *chain = NULL;
    ck_assert_int_eq(mlops_registry_lineage(r, "m", 0, &chain), MLOPS_OK);
    json_t *a = json_loads(chain, 0, NULL);
    ck_assert_uint_eq(json_array_size(a), 3);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(a, i), "version")),
                         (json_int_t)(3 - i));
    json_t *first = json_object_get(json_array_get(a, 2), "lineage");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(first, "params"), "max_depth")), 3);
    json_decref(a);
    mlops_free(chain);
    /* a parent that does not exist is refused at put, and nothing appears */
    uint32_t v = 0;
    expect_exact(mlops_registry_put_file(r, "m", model_path, "{\"lineage\": {\"parent\": 9}}", &v),
                 MLOPS_ENOTFOUND, "registry: put 'm': lineage parent version 9 does not exist");
    expect_exact(
        mlops_registry_put_file(r, "m", model_path, "{\"lineage\": {\"parent\": \"1\"}}", &v), MLOPS_EFORMAT,
        "registry: put 'm': metadata.lineage must be an object with an optional integer parent, data array "
        "and params, metrics, tools objects");
    ck_assert_int_eq(mlops_registry_latest(r, "m", &v), MLOPS_OK);
    ck_assert_uint_eq(v, 3);
    /* lineage is signed: an edited parent link is refused */
    json_t *m = read_json(vfile(3, "manifest.json"));
    json_object_set_new(json_object_get(json_object_get(m, "metadata"), "lineage"), "parent",
                        json_integer(1));
    write_json(vfile(3, "manifest.json"), m);
    expect_has(mlops_registry_lineage(r, "m", 3, &chain), MLOPS_EINTEGRITY,
               "'m' version 3: the signature by key");
    mlops_registry_free(r);
}
END_TEST

/* ---- audit ---- */

static char *audit_log(void) {
    static char p[400];
    snprintf(p, sizeof p, "%s/.audit.jsonl", regdir);
    return p;
}

/* A registry with 5 audit entries: put, put, alias, alias removal, delete. */
static mlops_registry *audited(void) {
    test_tmpdir_remove(regdir); /* a fresh registry each time */
    mlops_registry *r = open_with((keyset){{NULL}, 0, NULL, NULL, 1});
    put_model(r, NULL);
    put_model(r, NULL);
    ck_assert_int_eq(mlops_registry_set_alias(r, "m", "production", 1), MLOPS_OK);
    ck_assert_int_eq(mlops_registry_remove_alias(r, "m", "production"), MLOPS_OK);
    ck_assert_int_eq(mlops_registry_delete(r, "m", 2), MLOPS_OK);
    size_t n = 0;
    ck_assert_msg(mlops_registry_audit_verify(r, &n) == MLOPS_OK, "%s", mlops_last_error());
    ck_assert_uint_eq(n, 5);
    return r;
}

/* Lines of the audit log (malloc'd array of malloc'd strings without newlines). */
static size_t read_lines(char **lines, size_t cap) {
    size_t len = 0, n = 0;
    char *d = test_read_file(audit_log(), &len);
    ck_assert(d != NULL);
    for (char *s = d, *nl; n < cap && (nl = memchr(s, '\n', len - (size_t)(s - d))); s = nl + 1) {
        *nl = '\0';
        lines[n++] = strdup(s);
    }
    free(d);
    return n;
}

static void write_lines(char **lines, size_t n) {
    FILE *f = fopen(audit_log(), "w");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s\n", lines[i]);
    fclose(f);
}

static void free_lines(char **lines, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
}

START_TEST(audit_log_records_every_mutation) {
    mlops_registry *r = audited();
    char *l[8];
    size_t n = read_lines(l, 8);
    ck_assert_uint_eq(n, 5);
    const char *actions[] = {"put", "put", "alias", "alias", "delete"};
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_loads(l[i], 0, NULL);
        ck_assert_msg(o != NULL, "%s", l[i]);
        ck_assert_int_eq(json_integer_value(json_object_get(o, "seq")), (json_int_t)(i + 1));
        ck_assert_str_eq(json_string_value(json_object_get(o, "action")), actions[i]);
        ck_assert_str_eq(json_string_value(json_object_get(o, "actor")), "test");
        ck_assert_str_eq(json_string_value(json_object_get(o, "result")), "ok");
        /* prev: BLAKE2b-256 of the previous line, computed here with libsodium directly */
        unsigned char d[32];
        const char *prev_line = i ? l[i - 1] : "";
        crypto_generichash(d, 32, (const unsigned char *)prev_line, strlen(prev_line), NULL, 0);
        char hex[65], want[80];
        sodium_bin2hex(hex, sizeof hex, d, 32);
        snprintf(want, sizeof want, "blake2b-256:%s", hex);
        ck_assert_str_eq(json_string_value(json_object_get(o, "prev")), want);
        json_decref(o);
    }
    ck_assert_ptr_ne(strstr(l[0], "\"version\":1"), NULL);
    ck_assert_ptr_ne(strstr(l[4], "\"version\":2"), NULL);
    free_lines(l, n);
    /* a host's own action, with its actor; never without a log */
    ck_assert_int_eq(mlops_registry_audit_append(r, "token:ops", "promote", "{\"from\": 1, \"to\": 2}", "ok"),
                     MLOPS_OK);
    n = read_lines(l, 8);
    ck_assert_uint_eq(n, 6);
    ck_assert_msg(
        strstr(l[5], "\"actor\":\"token:ops\",\"action\":\"promote\",\"from\":1,\"to\":2,\"result\":\"ok\""),
        "%s", l[5]);
    free_lines(l, n);
    expect_exact(mlops_registry_audit_append(r, NULL, "x", "[1]", "ok"), MLOPS_EFORMAT,
                 "registry: audit_append: fields must be a JSON object");
    mlops_registry_free(r);
}
END_TEST

START_TEST(audit_verify_names_a_removed_line) {
    mlops_registry *r = audited();
    char *l[8];
    size_t n = read_lines(l, 8);
    char *without3[4] = {l[0], l[1], l[3], l[4]};
    write_lines(without3, 4);
    expect_exact(mlops_registry_audit_verify(r, NULL), MLOPS_EINTEGRITY,
                 "registry: audit log line 3 holds entry 4: entries before it were removed or reordered");
    /* the last line removed: the head file catches it */
    write_lines(l, 4);
    expect_exact(mlops_registry_audit_verify(r, NULL), MLOPS_EINTEGRITY,
                 "registry: audit log has 4 lines, its head records 5: line 5 was removed");
    free_lines(l, n);
    mlops_registry_free(r);
}
END_TEST

START_TEST(audit_verify_names_an_edited_line) {
    mlops_registry *r = audited();
    char *l[8];
    size_t n = read_lines(l, 8);
    char *p = strstr(l[1], "\"actor\":\"test\"");
    ck_assert_ptr_ne(p, NULL);
    memcpy(p + 9, "evil", 4);
    write_lines(l, n);
    expect_exact(mlops_registry_audit_verify(r, NULL), MLOPS_EINTEGRITY,
                 "registry: audit log line 2 was edited: its digest does not match the prev of line 3");
    /* the last line edited: the head catches it */
    free_lines(l, n);
    mlops_registry_free(r);
    r = audited();
    n = read_lines(l, 8);
    p = strstr(l[4], "\"result\":\"ok\"");
    memcpy(p + 10, "OK", 2);
    write_lines(l, n);
    expect_exact(mlops_registry_audit_verify(r, NULL), MLOPS_EINTEGRITY,
                 "registry: audit log line 5 was edited (it does not match the head)");
    /* garbage in a line */
    free(l[0]);
    l[0] = strdup("{not json");
    write_lines(l, n);
    expect_exact(mlops_registry_audit_verify(r, NULL), MLOPS_EINTEGRITY,
                 "registry: audit log line 1 is not an audit entry (edited)");
    free_lines(l, n);
    mlops_registry_free(r);
}
END_TEST

START_TEST(audit_verify_names_reordered_lines) {
    mlops_registry *r = audited();
    char *l[8];
    size_t n = read_lines(l, 8);
    char *t = l[1];
    l[1] = l[2], l[2] = t;
    write_lines(l, n);
    expect_exact(mlops_registry_audit_verify(r, NULL), MLOPS_EINTEGRITY,
                 "registry: audit log line 2 holds entry 3: entries before it were removed or reordered");
    free_lines(l, n);
    mlops_registry_free(r);
}
END_TEST

START_TEST(audit_log_attacks_fail_cleanly) {
    mlops_registry *r = audited();
    /* a partial last line (a torn write): appends refuse, verify names it, no version appears */
    FILE *f = fopen(audit_log(), "a");
    fputs("{\"seq\":6,", f);
    fclose(f);
    expect_exact(mlops_registry_audit_verify(r, NULL), MLOPS_EINTEGRITY,
                 "registry: audit log line 6 is incomplete (no newline)");
    uint32_t v = 0;
    expect_has(mlops_registry_put_file(r, "m", model_path, NULL, &v), MLOPS_EINTEGRITY,
               "ends in a partial line");
    ck_assert_int_eq(mlops_registry_latest(r, "m", &v), MLOPS_OK);
    ck_assert_uint_eq(v, 1);
    /* a FIFO in its place: put fails at once (no hang), nothing appears */
    ck_assert_int_eq(unlink(audit_log()), 0);
    ck_assert_int_eq(mkfifo(audit_log(), 0600), 0);
    expect_has(mlops_registry_put_file(r, "m", model_path, NULL, &v), MLOPS_EIO, ".audit.jsonl");
    expect_has(mlops_registry_audit_verify(r, NULL), MLOPS_EIO, "not a regular file (it is a FIFO)");
    ck_assert_int_eq(mlops_registry_latest(r, "m", &v), MLOPS_OK);
    ck_assert_uint_eq(v, 1);
    ck_assert_uint_eq(temps_below(regdir), 0);
    /* unwritable: the alias change is refused and not made */
    ck_assert_int_eq(unlink(audit_log()), 0);
    ck_assert_int_eq(mkdir(audit_log(), 0700), 0);
    expect_has(mlops_registry_set_alias(r, "m", "production", 1), MLOPS_EIO, ".audit.jsonl");
    expect_has(mlops_registry_resolve_alias(r, "m", "production", &v), MLOPS_ENOTFOUND, "no alias");
    mlops_registry_free(r);
}
END_TEST

START_TEST(audit_head_and_huge_logs_fail_cleanly) {
    mlops_registry *r = audited();
    char head[400], msg[600];
    snprintf(head, sizeof head, "%s/.audit.head", regdir);
    /* a malformed head, then a FIFO as the head: refused, no hang */
    write_bytes(head, "{\"lines\": \"5\"}", 14);
    snprintf(msg, sizeof msg, "registry: audit head %s is malformed", head);
    expect_exact(mlops_registry_audit_verify(r, NULL), MLOPS_EINTEGRITY, msg);
    ck_assert_int_eq(unlink(head), 0);
    ck_assert_int_eq(mkfifo(head, 0600), 0);
    snprintf(msg, sizeof msg, "%s: not a regular file (it is a FIFO)", head);
    expect_exact(mlops_registry_audit_verify(r, NULL), MLOPS_EIO, msg);
    /* a huge (sparse) log is refused without being read; appends refuse its partial last line */
    int fd = open(audit_log(), O_WRONLY);
    ck_assert(fd >= 0 && ftruncate(fd, (off_t)3 << 30) == 0);
    close(fd);
    snprintf(msg, sizeof msg, "%s: %lld bytes is more than the limit of %zu", audit_log(), 3LL << 30,
             (size_t)1 << 30);
    expect_exact(mlops_registry_audit_verify(r, NULL), MLOPS_ELIMIT, msg);
    expect_has(mlops_registry_set_alias(r, "m", "production", 1), MLOPS_EINTEGRITY, "ends in a partial line");
    mlops_registry_free(r);
}
END_TEST

static mlops_registry *shared_reg;

static void *appender(void *arg) {
    (void)arg;
    for (int i = 0; i < 25; i++)
        if (mlops_registry_audit_append(shared_reg, NULL, "ping", NULL, "ok") != MLOPS_OK) {
            fprintf(stderr, "append %d: %s\n", i, mlops_last_error());
            return (void *)1;
        }
    return NULL;
}

START_TEST(concurrent_appends_keep_the_chain) {
    shared_reg = open_with((keyset){{NULL}, 0, NULL, NULL, 1});
    pid_t pid = fork(); /* before the threads: a child forked among threads may inherit held locks */
    if (pid == 0) _exit(appender(NULL) != NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, appender, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *res;
        pthread_join(t[i], &res);
        ck_assert_ptr_eq(res, NULL);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    size_t n = 0;
    ck_assert_msg(mlops_registry_audit_verify(shared_reg, &n) == MLOPS_OK, "%s", mlops_last_error());
    ck_assert_uint_eq(n, 125);
    mlops_registry_free(shared_reg);
}
END_TEST

START_TEST(no_audit_log_without_the_option) {
    mlops_registry *r = open_with((keyset){{NULL}, 0, NULL, NULL, 0});
    put_model(r, NULL);
    struct stat sb;
    ck_assert_int_ne(stat(audit_log(), &sb), 0);
    char msg[500];
    snprintf(msg, sizeof msg, "registry: %s has no audit log (.audit.jsonl)", regdir);
    expect_exact(mlops_registry_audit_verify(r, NULL), MLOPS_ENOTFOUND, msg);
    snprintf(msg, sizeof msg, "registry: %s has no audit log (open it with the audit option)", regdir);
    expect_exact(mlops_registry_audit_append(r, NULL, "promote", NULL, "ok"), MLOPS_ESTATE, msg);
    mlops_registry_free(r);
}
END_TEST

static Suite *make_suite(void) {
    TCase *tc;
    Suite *s = test_suite_single("registry_trust", 120, setup, teardown, &tc);
    tcase_add_test(tc, keygen_writes_raw_keys_with_private_modes);
    tcase_add_test(tc, bad_key_files_are_refused_with_the_reason);
    tcase_add_test(tc, version_1_options_still_open);
    tcase_add_test(tc, signed_put_loads_in_a_trusted_registry);
    tcase_add_test(tc, trusted_registry_refuses_an_unsigned_version);
    tcase_add_test(tc, trusted_registry_refuses_an_unknown_key);
    tcase_add_test(tc, trusted_registry_refuses_a_swapped_model);
    tcase_add_test(tc, trusted_registry_refuses_an_edited_manifest);
    tcase_add_test(tc, trusted_registry_refuses_a_signature_moved_to_another_version);
    tcase_add_test(tc, encrypted_put_stores_no_plaintext_and_loads);
    tcase_add_test(tc, wrong_decryption_key_fails_cleanly);
    tcase_add_test(tc, truncated_or_flipped_ciphertext_fails_cleanly);
    tcase_add_test(tc, lineage_follows_parents_back_to_the_first_version);
    tcase_add_test(tc, audit_log_records_every_mutation);
    tcase_add_test(tc, audit_verify_names_a_removed_line);
    tcase_add_test(tc, audit_verify_names_an_edited_line);
    tcase_add_test(tc, audit_verify_names_reordered_lines);
    tcase_add_test(tc, audit_log_attacks_fail_cleanly);
    tcase_add_test(tc, audit_head_and_huge_logs_fail_cleanly);
    tcase_add_test(tc, concurrent_appends_keep_the_chain);
    tcase_add_test(tc, no_audit_log_without_the_option);
    return s;
}

int main(void) {
    if (sodium_init() < 0) return 1;
    return test_run_suite(make_suite());
}
