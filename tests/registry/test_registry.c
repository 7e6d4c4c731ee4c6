/* Unit tests for the model registry: round trips against XGBoost's own
 * predictions (tests/fixtures), digests against Python's hashlib, tampering,
 * truncation, unknown names, bad names, aliases, deletes, crash leftovers and
 * concurrent writers (threads and a second process). */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mlops/model.h"
#include "mlops/registry.h"
#include "harness.h"

/* ---- fixtures ---- */

static void fixture(const char *file, char *buf, size_t cap) {
    char rel[512];
    snprintf(rel, sizeof rel, "models/%s", file);
    snprintf(buf, cap, "%s", test_fixture_file(rel));
}

static char tmpdir[256];
static char regdir[300];

static void setup(void) {
    test_tmpdir_make(tmpdir, sizeof tmpdir, "registry", 0);
    snprintf(regdir, sizeof regdir, "%s/reg", tmpdir);
}

static void teardown(void) { test_tmpdir_remove(tmpdir); }

static mlops_registry *open_new(void) {
    mlops_registry_opts o;
    mlops_registry_opts_init(&o, MLOPS_REGISTRY_OPTS_VERSION);
    o.create = 1;
    mlops_registry *r = NULL;
    ck_assert_int_eq(mlops_registry_create(regdir, &o, &r), MLOPS_OK);
    return r;
}

/* binary_logistic: 48 rows x 30 features; predictions written by XGBoost (tests/fixtures/gen_fixtures.py) */
static void check_predictions(mlops_model *m) {
    char p[512];
    size_t xl, pl;
    fixture("binary_logistic.x.f32", p, sizeof p);
    float *x = (float *)test_read_file(p, &xl);
    fixture("binary_logistic.pred.f32", p, sizeof p);
    float *want = (float *)test_read_file(p, &pl);
    size_t rows = pl / sizeof(float);
    ck_assert_uint_eq(rows, 48);
    ck_assert_uint_eq(xl / sizeof(float), rows * 30);
    float out[48];
    ck_assert_int_eq(mlops_model_predict(m, x, rows, 30, 0, out, rows), MLOPS_OK);
    for (size_t i = 0; i < rows; i++)
        ck_assert_msg(fabsf(out[i] - want[i]) <= 1e-6f, "row %zu", i);
    free(x);
    free(want);
}

static uint32_t put_fixture(mlops_registry *r, const char *name, const char *file) {
    char p[512];
    fixture(file, p, sizeof p);
    uint32_t v = 0;
    ck_assert_msg(mlops_registry_put_file(r, name, p, NULL, &v) == MLOPS_OK, "%s", mlops_last_error());
    return v;
}

static size_t list(mlops_registry *r, const char *name, uint32_t *out, size_t cap) {
    size_t n = 0;
    ck_assert_int_eq(mlops_registry_versions(r, name, out, cap, &n), MLOPS_OK);
    return n;
}

static void expect(mlops_status got, mlops_status want, const char *needle) {
    ck_assert_msg(got == want, "status %d (%s), want %d; message: %s", got, mlops_status_str(got), want,
                  mlops_last_error());
    if (needle)
        ck_assert_msg(strstr(mlops_last_error(), needle) != NULL, "message '%s' lacks '%s'",
                      mlops_last_error(), needle);
}

/* ---- tests ---- */

START_TEST(roundtrip_versions_and_predictions) {
    mlops_registry *r = open_new();
    ck_assert_uint_eq(put_fixture(r, "fraud", "binary_logistic.json"), 1);
    ck_assert_uint_eq(put_fixture(r, "fraud", "binary_logistic.ubj"), 2);
    ck_assert_uint_eq(put_fixture(r, "fraud", "binary_logistic.bin"), 3);
    uint32_t vs[8];
    ck_assert_uint_eq(list(r, "fraud", vs, 8), 3);
    ck_assert(vs[0] == 1 && vs[1] == 2 && vs[2] == 3);
    for (uint32_t v = 0; v <= 3; v++) {
        mlops_model *m = NULL;
        uint32_t got = 99;
        ck_assert_int_eq(mlops_registry_load_model(r, "fraud", v, NULL, &m, &got), MLOPS_OK);
        ck_assert_uint_eq(got, v ? v : 3);
        ck_assert_uint_eq(mlops_model_n_features(m), 30);
        check_predictions(m);
        mlops_model_free(m);
    }
    uint32_t latest = 0;
    ck_assert_int_eq(mlops_registry_latest(r, "fraud", &latest), MLOPS_OK);
    ck_assert_uint_eq(latest, 3);
    /* a second handle sees the same store (the filesystem is the truth) */
    mlops_registry *r2 = NULL;
    ck_assert_int_eq(mlops_registry_create(regdir, NULL, &r2), MLOPS_OK);
    ck_assert_uint_eq(list(r2, "fraud", vs, 8), 3);
    mlops_registry_free(r2);
    mlops_registry_free(r);
    mlops_registry_free(NULL);
}
END_TEST

START_TEST(digest_and_metadata_in_manifest) {
    mlops_registry *r = open_new();
    uint32_t v = 0;
    ck_assert_int_eq(mlops_registry_put(r, "abc", "abc", 3, "{\"auc\": 0.97, \"data\": \"2024-05\"}", &v),
                     MLOPS_OK);
    char *info = NULL;
    ck_assert_int_eq(mlops_registry_info(r, "abc", v, &info), MLOPS_OK);
    json_t *j = json_loads(info, 0, NULL);
    ck_assert(j != NULL);
    /* hashlib.blake2b(b"abc", digest_size=32).hexdigest() (Python 3.11) */
    ck_assert_str_eq(json_string_value(json_object_get(j, "digest")),
                     "blake2b-256:bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "size")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(j, "name")), "abc");
    ck_assert(fabs(json_real_value(json_object_get(json_object_get(j, "metadata"), "auc")) - 0.97) < 1e-12);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "aliases")), 0);
    json_decref(j);
    mlops_free(info);
    /* the stored bytes are exactly what was given */
    char p[512];
    snprintf(p, sizeof p, "%s/abc/1/model.bin", regdir);
    size_t len;
    char *b = test_read_file(p, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert(memcmp(b, "abc", 3) == 0);
    free(b);
    /* "abc" is not a model: load verifies, then the model loader refuses it */
    mlops_model *m = NULL;
    expect(mlops_registry_load_model(r, "abc", 1, NULL, &m, NULL), MLOPS_EFORMAT, NULL);
    ck_assert(m == NULL);
    mlops_registry_free(r);
}
END_TEST

static void corrupt(const char *path, long offset, const char *mode) {
    if (strcmp(mode, "flip") == 0) {
        FILE *f = fopen(path, "r+b");
        ck_assert(f != NULL);
        fseek(f, offset, SEEK_SET);
        int c = fgetc(f);
        fseek(f, offset, SEEK_SET);
        fputc(c ^ 0x01, f);
        fclose(f);
    } else if (strcmp(mode, "truncate") == 0) {
        ck_assert_int_eq(truncate(path, offset), 0);
    } else {
        FILE *f = fopen(path, "ab");
        fputc(' ', f);
        fclose(f);
    }
}

START_TEST(tampered_model_is_refused) {
    const char *modes[] = {"flip", "truncate", "append"};
    mlops_registry *r = open_new();
    for (int i = 0; i < 3; i++)
        put_fixture(r, "m", "binary_logistic.json");
    for (int i = 0; i < 3; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/m/%d/model.bin", regdir, i + 1);
        corrupt(p, 100, modes[i]);
        mlops_model *m = (mlops_model *)&p; /* sentinel: must stay untouched */
        uint32_t got = 77;
        expect(mlops_registry_load_model(r, "m", (uint32_t)(i + 1), NULL, &m, &got), MLOPS_EINTEGRITY, p);
        ck_assert(m == (mlops_model *)&p);
        ck_assert_uint_eq(got, 77);
    }
    /* a flip must be reported as a digest mismatch, naming the algorithm */
    mlops_model *m = NULL;
    expect(mlops_registry_load_model(r, "m", 1, NULL, &m, NULL), MLOPS_EINTEGRITY, "BLAKE2b-256");
    mlops_registry_free(r);
}
END_TEST

START_TEST(truncated_or_wrong_manifest) {
    mlops_registry *r = open_new();
    for (int i = 0; i < 3; i++)
        put_fixture(r, "m", "binary_logistic.json");
    char p[512];
    snprintf(p, sizeof p, "%s/m/2/manifest.json", regdir);
    corrupt(p, 40, "truncate");
    mlops_model *m = NULL;
    expect(mlops_registry_load_model(r, "m", 2, NULL, &m, NULL), MLOPS_EFORMAT, "2/manifest.json");
    ck_assert(m == NULL);
    char *info = NULL;
    expect(mlops_registry_info(r, "m", 2, &info), MLOPS_EFORMAT, "manifest");
    ck_assert(info == NULL);
    expect(mlops_registry_set_alias(r, "m", "prod", 2), MLOPS_EFORMAT, "manifest");
    /* a manifest copied from another version is caught */
    char q[512];
    snprintf(q, sizeof q, "%s/m/1/manifest.json", regdir);
    size_t len;
    char *one = test_read_file(q, &len);
    snprintf(p, sizeof p, "%s/m/3/manifest.json", regdir);
    FILE *f = fopen(p, "wb");
    fwrite(one, 1, len, f);
    fclose(f);
    free(one);
    expect(mlops_registry_load_model(r, "m", 3, NULL, &m, NULL), MLOPS_EINTEGRITY, "version 1");
    /* version 1 is untouched and still loads */
    ck_assert_int_eq(mlops_registry_load_model(r, "m", 1, NULL, &m, NULL), MLOPS_OK);
    check_predictions(m);
    mlops_model_free(m);
    mlops_registry_free(r);
}
END_TEST

START_TEST(unknown_things_are_not_found) {
    mlops_registry *r = open_new();
    put_fixture(r, "m", "binary_logistic.json");
    mlops_model *m = NULL;
    uint32_t v = 0;
    size_t n = 42;
    char *info = NULL;
    expect(mlops_registry_load_model(r, "nope", 0, NULL, &m, NULL), MLOPS_ENOTFOUND, "'nope'");
    expect(mlops_registry_load_model(r, "nope", 1, NULL, &m, NULL), MLOPS_ENOTFOUND, "'nope'");
    expect(mlops_registry_load_model(r, "m", 2, NULL, &m, NULL), MLOPS_ENOTFOUND, "version 2");
    expect(mlops_registry_versions(r, "nope", NULL, 0, &n), MLOPS_ENOTFOUND, "'nope'");
    ck_assert_uint_eq(n, 42);
    expect(mlops_registry_latest(r, "nope", &v), MLOPS_ENOTFOUND, "'nope'");
    expect(mlops_registry_info(r, "m", 9, &info), MLOPS_ENOTFOUND, "version 9");
    expect(mlops_registry_resolve_alias(r, "m", "prod", &v), MLOPS_ENOTFOUND, "'prod'");
    expect(mlops_registry_set_alias(r, "m", "prod", 5), MLOPS_ENOTFOUND, "version 5");
    expect(mlops_registry_remove_alias(r, "m", "prod"), MLOPS_ENOTFOUND, "'prod'");
    expect(mlops_registry_delete(r, "m", 3), MLOPS_ENOTFOUND, "version 3");
    expect(mlops_registry_delete(r, "nope", 1), MLOPS_ENOTFOUND, "'nope'");
    ck_assert(m == NULL && v == 0 && info == NULL);
    mlops_registry_free(r);
}
END_TEST

static size_t count_entries(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert(d != NULL);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

START_TEST(bad_names_are_refused_and_create_nothing) {
    mlops_registry *r = open_new();
    put_fixture(r, "m", "binary_logistic.json");
    ck_assert_int_eq(mlops_registry_set_alias(r, "m", "prod", 1), MLOPS_OK);
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const char *bad[] = {"",    ".",   "..",          ".hidden", "../x",  "a/b",
                         "a b", "x\n", "caf\xc3\xa9", "a\\b",    longname};
    size_t before = count_entries(regdir);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint32_t v = 0;
        mlops_model *m = NULL;
        expect(mlops_registry_put(r, bad[i], "abc", 3, NULL, &v), MLOPS_EINVAL, "model name");
        expect(mlops_registry_load_model(r, bad[i], 0, NULL, &m, NULL), MLOPS_EINVAL, "model name");
        expect(mlops_registry_set_alias(r, "m", bad[i], 1), MLOPS_EINVAL, "alias");
        expect(mlops_registry_resolve_alias(r, "m", bad[i], &v), MLOPS_EINVAL, "alias");
        expect(mlops_registry_delete(r, bad[i], 1), MLOPS_EINVAL, "model name");
    }
    expect(mlops_registry_put(r, NULL, "abc", 3, NULL, NULL), MLOPS_EINVAL, "NULL");
    expect(mlops_registry_set_alias(r, "m", "1abc", 1), MLOPS_EINVAL, "start with a letter");
    expect(mlops_registry_set_alias(r, "m", "latest", 1), MLOPS_EINVAL, "reserved");
    expect(mlops_registry_put(r, "m", "", 0, NULL, NULL), MLOPS_EINVAL, "empty");
    expect(mlops_registry_put(NULL, "m", "abc", 3, NULL, NULL), MLOPS_EINVAL, "NULL");
    ck_assert_uint_eq(count_entries(regdir), before);
    /* name rules allow these */
    ck_assert_int_eq(mlops_registry_put(r, "Fraud_v2.xgb-A", "abc", 3, NULL, NULL), MLOPS_OK);
    ck_assert_int_eq(mlops_registry_put(r, longname + 72, "abc", 3, NULL, NULL), MLOPS_OK); /* 127 chars */
    uint32_t vs[4];
    ck_assert_uint_eq(list(r, "m", vs, 4), 1);
    mlops_registry_free(r);
}
END_TEST

START_TEST(bad_metadata_and_limits_leave_no_version) {
    mlops_registry_opts o;
    mlops_registry_opts_init(&o, MLOPS_REGISTRY_OPTS_VERSION);
    o.create = 1;
    o.max_model_bytes = 1000;
    o.max_metadata_bytes = 64;
    mlops_registry *r = NULL;
    ck_assert_int_eq(mlops_registry_create(regdir, &o, &r), MLOPS_OK);
    ck_assert_int_eq(mlops_registry_put(r, "m", "abc", 3, NULL, NULL), MLOPS_OK);
    expect(mlops_registry_put(r, "m", "abc", 3, "{\"a\": ", NULL), MLOPS_EFORMAT, "metadata");
    expect(mlops_registry_put(r, "m", "abc", 3, "[1, 2]", NULL), MLOPS_EFORMAT, "object");
    expect(mlops_registry_put(r, "m", "abc", 3, "{\"a\": 1, \"a\": 2}", NULL), MLOPS_EFORMAT, "metadata");
    char big[100];
    memset(big, ' ', sizeof big);
    big[0] = '{';
    big[sizeof big - 2] = '}';
    big[sizeof big - 1] = '\0';
    expect(mlops_registry_put(r, "m", "abc", 3, big, NULL), MLOPS_ELIMIT, "max_metadata_bytes");
    static char blob[1001];
    expect(mlops_registry_put(r, "m", blob, sizeof blob, NULL, NULL), MLOPS_ELIMIT, "max_model_bytes");
    char p[512];
    fixture("binary_logistic.json", p, sizeof p);
    expect(mlops_registry_put_file(r, "m", p, NULL, NULL), MLOPS_ELIMIT, "limit");
    snprintf(p, sizeof p, "%s/missing.json", tmpdir);
    expect(mlops_registry_put_file(r, "m", p, NULL, NULL), MLOPS_EIO, "missing.json");
    uint32_t vs[4], v = 0;
    ck_assert_uint_eq(list(r, "m", vs, 4), 1);
    snprintf(p, sizeof p, "%s/m", regdir);
    ck_assert_uint_eq(count_entries(p), 1); /* no number burned by refused input */
    ck_assert_int_eq(mlops_registry_put(r, "m", "abc", 3, NULL, &v), MLOPS_OK);
    ck_assert_uint_eq(v, 2);
    mlops_registry_free(r);
}
END_TEST

START_TEST(aliases_and_delete) {
    mlops_registry *r = open_new();
    for (int i = 0; i < 3; i++)
        put_fixture(r, "m", "binary_logistic.json");
    uint32_t v = 0;
    ck_assert_int_eq(mlops_registry_set_alias(r, "m", "production", 1), MLOPS_OK);
    ck_assert_int_eq(mlops_registry_resolve_alias(r, "m", "production", &v), MLOPS_OK);
    ck_assert_uint_eq(v, 1);
    ck_assert_int_eq(mlops_registry_set_alias(r, "m", "production", 2), MLOPS_OK); /* move */
    ck_assert_int_eq(mlops_registry_set_alias(r, "m", "canary", 2), MLOPS_OK);
    ck_assert_int_eq(mlops_registry_resolve_alias(r, "m", "production", &v), MLOPS_OK);
    ck_assert_uint_eq(v, 2);
    ck_assert_int_eq(mlops_registry_resolve_alias(r, "m", "latest", &v), MLOPS_OK);
    ck_assert_uint_eq(v, 3);
    char *info = NULL;
    ck_assert_int_eq(mlops_registry_info(r, "m", 2, &info), MLOPS_OK);
    ck_assert_msg(strstr(info, "\"aliases\":[\"canary\",\"production\"]") != NULL, "%s", info);
    mlops_free(info);
    /* refused while an alias points at it; nothing changes */
    expect(mlops_registry_delete(r, "m", 2), MLOPS_ESTATE, "alias 'canary'");
    uint32_t vs[8];
    ck_assert_uint_eq(list(r, "m", vs, 8), 3);
    ck_assert_int_eq(mlops_registry_remove_alias(r, "m", "canary"), MLOPS_OK);
    expect(mlops_registry_delete(r, "m", 2), MLOPS_ESTATE, "alias 'production'");
    ck_assert_int_eq(mlops_registry_set_alias(r, "m", "production", 1), MLOPS_OK);
    ck_assert_int_eq(mlops_registry_delete(r, "m", 2), MLOPS_OK);
    ck_assert_uint_eq(list(r, "m", vs, 8), 2);
    ck_assert(vs[0] == 1 && vs[1] == 3);
    mlops_model *m = NULL;
    expect(mlops_registry_load_model(r, "m", 2, NULL, &m, NULL), MLOPS_ENOTFOUND, "version 2");
    expect(mlops_registry_delete(r, "m", 2), MLOPS_ENOTFOUND, "version 2");
    /* an alias written by an older process pointing at a deleted version resolves to ENOTFOUND */
    char p[512];
    snprintf(p, sizeof p, "%s/m/aliases/stale", regdir);
    FILE *f = fopen(p, "w");
    fputs("{\"version\": 2}", f);
    fclose(f);
    expect(mlops_registry_resolve_alias(r, "m", "stale", &v), MLOPS_ENOTFOUND, "does not exist");
    /* a malformed alias file is a format error */
    f = fopen(p, "w");
    fputs("{\"version\": ", f);
    fclose(f);
    expect(mlops_registry_resolve_alias(r, "m", "stale", &v), MLOPS_EFORMAT, "stale");
    /* numbers are never reused: delete the latest, the next put is 4 */
    ck_assert_int_eq(mlops_registry_delete(r, "m", 3), MLOPS_OK);
    ck_assert_uint_eq(put_fixture(r, "m", "binary_logistic.json"), 4);
    ck_assert_int_eq(mlops_registry_load_model(r, "m", 0, NULL, &m, &v), MLOPS_OK);
    ck_assert_uint_eq(v, 4);
    mlops_model_free(m);
    /* the caller-buffer contract */
    size_t n = 0;
    expect(mlops_registry_versions(r, "m", NULL, 0, &n), MLOPS_ESHAPE, "buffer");
    ck_assert_uint_eq(n, 2);
    vs[0] = 1234;
    expect(mlops_registry_versions(r, "m", vs, 1, &n), MLOPS_ESHAPE, "buffer");
    ck_assert_uint_eq(vs[0], 1234);
    mlops_registry_free(r);
}
END_TEST

START_TEST(crash_leftovers_are_invisible) {
    mlops_registry *r = open_new();
    put_fixture(r, "m", "binary_logistic.json");
    /* a put that died after reserving 2 and writing the bytes, before the manifest */
    char p[512];
    snprintf(p, sizeof p, "%s/m/2", regdir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(p, sizeof p, "%s/m/2/model.bin", regdir);
    FILE *f = fopen(p, "w");
    fputs("half", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/m/2/manifest.json.tmp.12345", regdir);
    f = fopen(p, "w");
    fputs("{\"format_version\": 1, \"na", f);
    fclose(f);
    uint32_t vs[4], v = 0;
    ck_assert_uint_eq(list(r, "m", vs, 4), 1);
    ck_assert_int_eq(mlops_registry_latest(r, "m", &v), MLOPS_OK);
    ck_assert_uint_eq(v, 1);
    mlops_model *m = NULL;
    expect(mlops_registry_load_model(r, "m", 2, NULL, &m, NULL), MLOPS_ENOTFOUND, "version 2");
    ck_assert_uint_eq(put_fixture(r, "m", "binary_logistic.json"), 3);
    mlops_registry_free(r);
}
END_TEST


static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    fputs(text, f);
    fclose(f);
}

/* A pid that certainly does not run: a child that has exited and been reaped. */
static long dead_pid(void) {
    pid_t c = fork();
    ck_assert(c >= 0);
    if (c == 0) _exit(0);
    ck_assert_int_eq(waitpid(c, NULL, 0), c);
    return (long)c;
}

/* Finding 2: a killed put left model.bin.tmp.* (4 MB) in version directories
 * for ever. Opening the registry removes dead writers' temporaries; gc removes
 * the bytes of never-published versions; published versions are untouched. */
START_TEST(open_and_gc_remove_leftovers_of_killed_puts) {
    mlops_registry *r = open_new();
    put_fixture(r, "m", "binary_logistic.json");
    uint32_t v2 = put_fixture(r, "m", "binary_logistic.json");
    ck_assert_int_eq(mlops_registry_set_alias(r, "m", "prod", v2), MLOPS_OK);
    mlops_registry_free(r);
    long pid = dead_pid();
    char p[512], tmp_blob[600], tmp_alias[600], orphan[512], live[600];
    snprintf(p, sizeof p, "%s/m/3", regdir);
    ck_assert_int_eq(mkdir(p, 0755), 0);
    snprintf(orphan, sizeof orphan, "%s/m/3/model.bin", regdir);
    write_file(orphan, "bytes of a put killed before its manifest");
    snprintf(tmp_blob, sizeof tmp_blob, "%s/m/3/manifest.json.tmp.%ld.0", regdir, pid);
    write_file(tmp_blob, "{\"format_version\": 1, \"na");
    snprintf(tmp_alias, sizeof tmp_alias, "%s/m/aliases/prod.tmp.%ld.7", regdir, pid);
    write_file(tmp_alias, "{\"vers");
    snprintf(live, sizeof live, "%s/m/1/model.bin.tmp.%ld.1", regdir, (long)getpid());
    write_file(live, "a put of this process, still writing");

    mlops_registry_opts o = MLOPS_REGISTRY_OPTS_INIT;
    ck_assert_int_eq(mlops_registry_create(regdir, &o, &r), MLOPS_OK);
    ck_assert_int_ne(access(tmp_blob, F_OK), 0);
    ck_assert_int_ne(access(tmp_alias, F_OK), 0);
    ck_assert_int_eq(access(live, F_OK), 0); /* its writer runs: left alone */
    ck_assert_int_eq(access(orphan, F_OK), 0);

    char *report = NULL;
    ck_assert_int_eq(mlops_registry_verify(r, NULL, &report), MLOPS_OK);
    json_t *j = json_loads(report, 0, NULL);
    mlops_free(report);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "checked")), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "problems")), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "orphans")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(j, "orphans"), 0), "version")), 3);
    json_decref(j);

    size_t removed = 99;
    ck_assert_int_eq(mlops_registry_gc(r, 3600, &removed), MLOPS_OK); /* too young: a put may be writing */
    ck_assert_uint_eq(removed, 0);
    ck_assert_int_eq(access(orphan, F_OK), 0);
    ck_assert_int_eq(mlops_registry_gc(r, 0, &removed), MLOPS_OK);
    ck_assert_uint_eq(removed, 1);
    ck_assert_int_ne(access(orphan, F_OK), 0);
    ck_assert_int_eq(access(live, F_OK), 0);
    unlink(live);
    /* the number stays taken; published versions and aliases are intact */
    ck_assert_uint_eq(put_fixture(r, "m", "binary_logistic.json"), 4);
    uint32_t v = 0;
    ck_assert_int_eq(mlops_registry_resolve_alias(r, "m", "prod", &v), MLOPS_OK);
    ck_assert_uint_eq(v, v2);
    for (uint32_t k = 1; k <= 4; k += (k == 2 ? 2 : 1)) {
        mlops_model *m = NULL;
        ck_assert_msg(mlops_registry_load_model(r, "m", k, NULL, &m, NULL) == MLOPS_OK, "%s", mlops_last_error());
        mlops_model_free(m);
    }
    mlops_registry_free(r);
}
END_TEST

START_TEST(verify_reports_damaged_versions) {
    mlops_registry *r = open_new();
    put_fixture(r, "m", "binary_logistic.json");
    put_fixture(r, "m", "binary_logistic.json");
    put_fixture(r, "other", "binary_logistic.json");
    char p[512];
    snprintf(p, sizeof p, "%s/m/2/model.bin", regdir);
    corrupt(p, 10, "flip");
    char *report = NULL;
    ck_assert_int_eq(mlops_registry_verify(r, NULL, &report), MLOPS_OK);
    json_t *j = json_loads(report, 0, NULL);
    mlops_free(report);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "checked")), 3);
    json_t *probs = json_object_get(j, "problems");
    ck_assert_uint_eq(json_array_size(probs), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(probs, 0), "name")), "m");
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(probs, 0), "version")), 2);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(json_array_get(probs, 0), "error")), "digest"));
    json_decref(j);
    ck_assert_int_eq(mlops_registry_verify(r, "other", &report), MLOPS_OK);
    j = json_loads(report, 0, NULL);
    mlops_free(report);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "checked")), 1);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "problems")), 0);
    json_decref(j);
    expect(mlops_registry_verify(r, "nope", &report), MLOPS_ENOTFOUND, "nope");
    expect(mlops_registry_verify(r, NULL, NULL), MLOPS_EINVAL, "report_json");
    expect(mlops_registry_gc(NULL, 0, NULL), MLOPS_EINVAL, "NULL");
    mlops_registry_free(r);
}
END_TEST

/* Finding 3: a FIFO as manifest.json or model.bin hung info()/load() for ever. */
START_TEST(fifo_manifest_or_model_fails_at_once) {
    mlops_registry *r = open_new();
    put_fixture(r, "m", "binary_logistic.json");
    put_fixture(r, "m", "binary_logistic.json");
    char p[512];
    snprintf(p, sizeof p, "%s/m/1/manifest.json", regdir);
    ck_assert_int_eq(unlink(p), 0);
    ck_assert_int_eq(mkfifo(p, 0644), 0);
    snprintf(p, sizeof p, "%s/m/2/model.bin", regdir);
    ck_assert_int_eq(unlink(p), 0);
    ck_assert_int_eq(mkfifo(p, 0644), 0);
    char *info = NULL;
    mlops_model *m = NULL;
    expect(mlops_registry_info(r, "m", 1, &info), MLOPS_EIO, "it is a FIFO");
    expect(mlops_registry_load_model(r, "m", 2, NULL, &m, NULL), MLOPS_EIO, "FIFO");
    ck_assert_ptr_null(m);
    char *report = NULL;
    ck_assert_int_eq(mlops_registry_verify(r, "m", &report), MLOPS_OK);
    ck_assert_ptr_nonnull(strstr(report, "FIFO"));
    mlops_free(report);
    mlops_registry_free(r);
}
END_TEST

START_TEST(open_errors) {
    mlops_registry *r = (mlops_registry *)&r;
    expect(mlops_registry_create(regdir, NULL, &r), MLOPS_ENOTFOUND, regdir);
    mlops_registry_opts o = MLOPS_REGISTRY_OPTS_INIT;
    o.version = 7;
    o.create = 1;
    expect(mlops_registry_create(regdir, &o, &r), MLOPS_EVERSION, "options version");
    /* a non-empty directory that is not a registry */
    char p[512];
    snprintf(p, sizeof p, "%s/notes.txt", tmpdir);
    FILE *f = fopen(p, "w");
    fputs("x", f);
    fclose(f);
    o.version = MLOPS_REGISTRY_OPTS_VERSION;
    expect(mlops_registry_create(tmpdir, &o, &r), MLOPS_EFORMAT, "not a registry");
    expect(mlops_registry_create(p, &o, &r), MLOPS_EFORMAT, "not a directory");
    expect(mlops_registry_create(NULL, &o, &r), MLOPS_EINVAL, "NULL");
    ck_assert(r == (mlops_registry *)&r);
    /* an existing empty directory becomes a registry only with create */
    ck_assert_int_eq(mkdir(regdir, 0755), 0);
    expect(mlops_registry_create(regdir, NULL, &r), MLOPS_EFORMAT, "create");
    ck_assert_int_eq(mlops_registry_create(regdir, &o, &r), MLOPS_OK);
    mlops_registry_free(r);
    ck_assert_int_eq(mlops_registry_create(regdir, NULL, &r), MLOPS_OK);
    mlops_registry_free(r);
    /* a marker of another format version */
    snprintf(p, sizeof p, "%s/.mlops-registry", regdir);
    f = fopen(p, "w");
    fputs("{\"format\": \"mlops-registry\", \"version\": 2}", f);
    fclose(f);
    expect(mlops_registry_create(regdir, NULL, &r), MLOPS_EVERSION, "version 2");
    f = fopen(p, "w");
    fputs("{\"format\": \"mlops-reg", f);
    fclose(f);
    expect(mlops_registry_create(regdir, NULL, &r), MLOPS_EFORMAT, ".mlops-registry");
}
END_TEST

/* ---- concurrency: 2 threads on one handle + 1 other process, all putting at once ---- */

#define PUTS 8
static mlops_registry *shared;
static char thread_error[2][512];
static void *put_thread(void *arg) {
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < PUTS; i++) {
        char p[512];
        uint32_t v = 0;
        fixture("binary_logistic.json", p, sizeof p);
        /* both threads also move one alias, through the same temporary-file directory */
        if (mlops_registry_put_file(shared, "m", p, NULL, &v) != MLOPS_OK ||
            mlops_registry_set_alias(shared, "m", "prod", v) != MLOPS_OK) {
            snprintf(thread_error[id], sizeof thread_error[id], "%s", mlops_last_error());
            return (void *)1;
        }
    }
    return NULL;
}

START_TEST(concurrent_writers_get_distinct_versions) {
    shared = open_new();
    fflush(NULL);
    pid_t child = fork();
    ck_assert(child >= 0);
    if (child == 0) {
        mlops_registry *r = NULL;
        int bad = mlops_registry_create(regdir, NULL, &r) != MLOPS_OK;
        for (int i = 0; i < PUTS && !bad; i++) {
            char p[512];
            fixture("binary_logistic.ubj", p, sizeof p);
            bad = mlops_registry_put_file(r, "m", p, NULL, NULL) != MLOPS_OK;
        }
        mlops_registry_free(r);
        _exit(bad);
    }
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, put_thread, NULL);
    for (int i = 0; i < 2; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        ck_assert_msg(ret == NULL, "thread put failed: %s", mlops_last_error());
    }
    int status = 0;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    uint32_t vs[64];
    ck_assert_uint_eq(list(shared, "m", vs, 64), 3 * PUTS);
    for (uint32_t i = 0; i < 3 * PUTS; i++) {
        ck_assert_uint_eq(vs[i], i + 1);
        mlops_model *m = NULL;
        ck_assert_msg(mlops_registry_load_model(shared, "m", vs[i], NULL, &m, NULL) == MLOPS_OK, "%s",
                      mlops_last_error());
        mlops_model_free(m);
    }
    /* the alias file is whole (never interleaved) and points at a version the threads wrote */
    uint32_t v = 0;
    ck_assert_msg(mlops_registry_resolve_alias(shared, "m", "prod", &v) == MLOPS_OK, "%s",
                  mlops_last_error());
    ck_assert(v >= 1 && v <= 3 * PUTS);
    mlops_registry_free(shared);
}
END_TEST

static Suite *make_suite(void) {
    TCase *tc;
    Suite *s = test_suite_single("registry", 120, setup, teardown, &tc);
    tcase_add_test(tc, roundtrip_versions_and_predictions);
    tcase_add_test(tc, digest_and_metadata_in_manifest);
    tcase_add_test(tc, tampered_model_is_refused);
    tcase_add_test(tc, truncated_or_wrong_manifest);
    tcase_add_test(tc, unknown_things_are_not_found);
    tcase_add_test(tc, bad_names_are_refused_and_create_nothing);
    tcase_add_test(tc, bad_metadata_and_limits_leave_no_version);
    tcase_add_test(tc, aliases_and_delete);
    tcase_add_test(tc, crash_leftovers_are_invisible);
    tcase_add_test(tc, open_errors);
    tcase_add_test(tc, open_and_gc_remove_leftovers_of_killed_puts);
    tcase_add_test(tc, verify_reports_damaged_versions);
    tcase_add_test(tc, fifo_manifest_or_model_fails_at_once);
    tcase_add_test(tc, concurrent_writers_get_distinct_versions);
    return s;
}

MLOPS_TEST_MAIN(make_suite)
