/* Structural model checks (lib/model/format.c): real fixtures pass, every truncation and many
 * seeded bit flips fail cleanly or pass, and each kind of corruption gets a precise message. */
#include <check.h>
#include <gsl/gsl_rng.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures_util.h"
#include "mlops/common.h"
#include "model/format.h"
#include "harness.h"

static fx fixtures[FX_MAX];
static size_t n_fixtures;

static void setup(void) {
    n_fixtures = fx_load_all(fixtures);
    ck_assert_msg(n_fixtures >= 20, "fixtures missing in %s (run gen_format_fixtures.py)", FORMAT_FIXTURES);
}
static void teardown(void) { fx_free_all(fixtures, n_fixtures); }

static const fx *fixture(const char *name) {
    for (size_t i = 0; i < n_fixtures; ++i)
        if (strcmp(fixtures[i].name, name) == 0) return &fixtures[i];
    ck_abort_msg("no fixture %s", name);
    return NULL;
}

/* Expect EFORMAT with a message containing `what` and `needle`. */
static void expect_fail(const void *data, size_t len, const char *needle) {
    mlops_model_format det = (mlops_model_format)99;
    mlops_status st = mlops__model_check_bytes(data, len, MLOPS_FORMAT_AUTO, "crafted", &det);
    ck_assert_msg(st == MLOPS_EFORMAT, "expected EFORMAT (%s), got %d: %s", needle, st, mlops_last_error());
    ck_assert_int_eq(det, 99); /* untouched on failure */
    ck_assert_msg(strstr(mlops_last_error(), "crafted") != NULL, "message lacks source: %s",
                  mlops_last_error());
    ck_assert_msg(strstr(mlops_last_error(), needle) != NULL, "message \"%s\" lacks \"%s\"",
                  mlops_last_error(), needle);
}

static void expect_ok(const void *data, size_t len, mlops_model_format want) {
    mlops_model_format det = MLOPS_FORMAT_AUTO;
    mlops_status st = mlops__model_check_bytes(data, len, MLOPS_FORMAT_AUTO, "crafted", &det);
    ck_assert_msg(st == MLOPS_OK, "expected OK, got %d: %s", st, mlops_last_error());
    ck_assert_int_eq(det, want);
}

START_TEST(real_fixtures_pass) {
    int seen[4] = {0};
    for (size_t i = 0; i < n_fixtures; ++i) {
        const fx *f = &fixtures[i];
        mlops_model_format det = MLOPS_FORMAT_AUTO;
        mlops_status st = mlops__model_check_bytes(f->data, f->len, MLOPS_FORMAT_AUTO, f->name, &det);
        ck_assert_msg(st == MLOPS_OK, "%s rejected: %s", f->name, mlops_last_error());
        ck_assert_msg(det == f->format, "%s detected as %d, expected %d", f->name, det, f->format);
        /* The matching hint passes too; every other hint is refused with a message. */
        ck_assert_int_eq(mlops__model_check_bytes(f->data, f->len, f->format, f->name, &det), MLOPS_OK);
        mlops_model_format other = f->format == MLOPS_FORMAT_JSON ? MLOPS_FORMAT_BINARY : MLOPS_FORMAT_JSON;
        ck_assert_int_eq(mlops__model_check_bytes(f->data, f->len, other, f->name, &det), MLOPS_EFORMAT);
        ck_assert_msg(strstr(mlops_last_error(), "expected") != NULL, "%s", mlops_last_error());
        seen[f->format]++;
    }
    ck_assert_int_ge(seen[MLOPS_FORMAT_JSON], 11);
    ck_assert_int_ge(seen[MLOPS_FORMAT_UBJSON], 11);
    ck_assert_int_ge(seen[MLOPS_FORMAT_BINARY], 9);
}
END_TEST

START_TEST(every_truncation_fails_cleanly) {
    size_t total = 0;
    for (size_t i = 0; i < n_fixtures; ++i) {
        const fx *f = &fixtures[i];
        size_t cut;
        for (size_t k = 0; fx_trunc_len(f->len, k, &cut); ++k) {
            /* A fresh heap block of exactly `cut` bytes, so ASan/valgrind see any overread. */
            unsigned char *b = malloc(cut ? cut : 1);
            memcpy(b, f->data, cut);
            mlops_status st = mlops__model_check_bytes(cut ? b : NULL, cut, MLOPS_FORMAT_AUTO, f->name, NULL);
            ck_assert_msg(st == MLOPS_EFORMAT, "%s truncated to %zu: status %d", f->name, cut, st);
            ck_assert_msg(strstr(mlops_last_error(), f->name) != NULL, "%s", mlops_last_error());
            free(b);
            ++total;
        }
    }
    ck_assert_uint_gt(total, 50000);
}
END_TEST

START_TEST(bit_flips_pass_or_fail_cleanly) {
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 20240611);
    size_t accepted = 0, rejected = 0;
    for (size_t i = 0; i < n_fixtures; ++i) {
        const fx *f = &fixtures[i];
        for (int k = 0; k < 400; ++k) {
            unsigned char *b = malloc(f->len);
            fx_bitflip(r, f->data, f->len, b);
            mlops_model_format det = MLOPS_FORMAT_AUTO;
            mlops_status st = mlops__model_check_bytes(b, f->len, MLOPS_FORMAT_AUTO, f->name, &det);
            ck_assert_msg(st == MLOPS_OK || st == MLOPS_EFORMAT, "%s flip %d: status %d", f->name, k, st);
            if (st == MLOPS_OK)
                ++accepted;
            else {
                ++rejected;
                ck_assert_msg(strlen(mlops_last_error()) > strlen(f->name) + 4, "%s", mlops_last_error());
            }
            free(b);
        }
    }
    gsl_rng_free(r);
    /* Flips in float payloads are harmless and must still pass; flips in structure must not. */
    ck_assert_uint_gt(accepted, 0);
    ck_assert_uint_gt(rejected, 0);
}
END_TEST

START_TEST(other_files_are_not_models) {
    const char *csv = "a,b,label\n1,2,0\n3,4,1\n";
    expect_fail(csv, strlen(csv), "not an XGBoost model (JSON, UBJSON or legacy binary)");
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                                        0,    0,   0,   13,  'I',  'H',  'D',  'R'};
    expect_fail(png, sizeof png, "not an XGBoost model");
    expect_fail("", 0, "empty");
    expect_fail("{}", 2, "neither JSON nor UBJSON");
    expect_fail("{", 1, "neither JSON nor UBJSON");
    expect_fail("[1,2,3]", 7, "not an XGBoost model");
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 7);
    unsigned char rnd[4096];
    for (int k = 0; k < 50; ++k) {
        for (size_t i = 0; i < sizeof rnd; ++i)
            rnd[i] = (unsigned char)gsl_rng_uniform_int(r, 256);
        if (rnd[0] == '{' || memcmp(rnd, "binf", 4) == 0) rnd[0] = 'x';
        mlops_status st = mlops__model_check_bytes(rnd, sizeof rnd, MLOPS_FORMAT_AUTO, "crafted", NULL);
        ck_assert_int_eq(st, MLOPS_EFORMAT);
    }
    gsl_rng_free(r);
    ck_assert_int_eq(mlops__model_check_bytes(NULL, 10, MLOPS_FORMAT_AUTO, "crafted", NULL), MLOPS_EINVAL);
    ck_assert_int_eq(mlops__model_check_bytes("{\"a\":1}", 7, (mlops_model_format)42, "crafted", NULL),
                     MLOPS_EINVAL);
    /* JSON with leading whitespace: XGBoost would read it as binary, so say so. */
    const fx *f = fixture("gbtree_binary.json");
    unsigned char *b = malloc(f->len + 2);
    memcpy(b, "\n ", 2);
    memcpy(b + 2, f->data, f->len);
    expect_fail(b, f->len + 2, "must start with '{' at offset 0");
    free(b);
}
END_TEST

/* ---- JSON edits through jansson ---- */

static json_t *load_fixture_json(const char *name) {
    const fx *f = fixture(name);
    /* Real fixtures may hold NaN (XGBoost's spelling); jansson needs a finite stand-in. */
    char *text = malloc(f->len + 1);
    memcpy(text, f->data, f->len);
    text[f->len] = '\0';
    for (char *p = text; (p = strstr(p, "NaN")) != NULL; p += 3)
        memcpy(p, "0.0", 3);
    json_error_t e;
    json_t *j = json_loadb(text, f->len, 0, &e);
    free(text);
    ck_assert_msg(j != NULL, "%s: %s", name, e.text);
    return j;
}

static json_t *tree0(json_t *root) {
    json_t *gb = json_object_get(json_object_get(root, "learner"), "gradient_booster");
    return json_array_get(json_object_get(json_object_get(gb, "model"), "trees"), 0);
}

static void expect_json_fail(json_t *j, const char *needle) {
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9));
    expect_fail(s, strlen(s), needle);
    free(s);
    json_decref(j);
}

static long first_internal(json_t *t, long from) {
    json_t *l = json_object_get(t, "left_children");
    for (size_t i = (size_t)from; i < json_array_size(l); ++i)
        if (json_integer_value(json_array_get(l, i)) != -1) return (long)i;
    return -1;
}

START_TEST(json_tree_corruptions) {
    json_t *j = load_fixture_json("gbtree_binary.json");
    json_array_set_new(json_object_get(tree0(j), "left_children"), 0, json_integer(999));
    expect_json_fail(j, "outside [-1,");

    j = load_fixture_json("gbtree_binary.json");
    json_array_set_new(json_object_get(tree0(j), "split_indices"), 0, json_integer(5));
    expect_json_fail(j, "splits on feature 5 but the model has 5 features");

    j = load_fixture_json("gbtree_binary.json");
    json_array_remove(json_object_get(tree0(j), "base_weights"), 0);
    expect_json_fail(j, "base_weights has");

    j = load_fixture_json("gbtree_binary.json");
    json_array_remove(json_object_get(tree0(j), "left_children"), 0);
    expect_json_fail(j, "left_children has");

    j = load_fixture_json("gbtree_binary.json");
    json_t *t = tree0(j);
    long k = first_internal(t, 1);
    ck_assert_int_gt(k, 0);
    json_array_set(json_object_get(t, "left_children"), (size_t)k,
                   json_array_get(json_object_get(t, "left_children"), 0));
    expect_json_fail(j, "reached twice");

    j = load_fixture_json("gbtree_binary.json");
    json_array_set_new(json_object_get(tree0(j), "parents"), 1, json_integer(-5));
    expect_json_fail(j, "has parent");

    j = load_fixture_json("gbtree_binary.json");
    json_object_set_new(json_object_get(tree0(j), "tree_param"), "num_nodes", json_string("abc"));
    expect_json_fail(j, "num_nodes is \"abc\"");

    j = load_fixture_json("gbtree_binary.json");
    json_object_set_new(json_object_get(tree0(j), "tree_param"), "num_deleted", json_string("2"));
    expect_json_fail(j, "num_deleted says 2");

    j = load_fixture_json("gbtree_binary.json");
    json_array_set_new(json_object_get(tree0(j), "split_conditions"), 0, json_integer(1));
    expect_json_fail(j, "split_conditions[0] is not a floating-point number");
}
END_TEST

START_TEST(json_model_corruptions) {
    json_t *j = load_fixture_json("gbtree_binary.json");
    json_t *model =
        json_object_get(json_object_get(json_object_get(j, "learner"), "gradient_booster"), "model");
    json_array_set_new(json_object_get(model, "tree_info"), 0, json_integer(1));
    expect_json_fail(j, "tree_info[0] is not an output group in [0, 1)");

    j = load_fixture_json("gbtree_binary.json");
    model = json_object_get(json_object_get(json_object_get(j, "learner"), "gradient_booster"), "model");
    json_array_remove(json_object_get(model, "tree_info"), 0);
    expect_json_fail(j, "tree_info has");

    j = load_fixture_json("gbtree_binary.json");
    model = json_object_get(json_object_get(json_object_get(j, "learner"), "gradient_booster"), "model");
    json_object_set_new(json_array_get(json_object_get(model, "trees"), 1), "id", json_integer(0));
    expect_json_fail(j, "repeated");

    j = load_fixture_json("gbtree_binary.json");
    model = json_object_get(json_object_get(json_object_get(j, "learner"), "gradient_booster"), "model");
    json_object_set_new(json_object_get(model, "gbtree_model_param"), "num_trees", json_string("99"));
    expect_json_fail(j, "num_trees is 99");

    j = load_fixture_json("gbtree_binary.json");
    json_object_set_new(json_object_get(json_object_get(j, "learner"), "objective"), "name",
                        json_string("binary:logistac"));
    expect_json_fail(j, "\"binary:logistac\" is not an XGBoost objective");

    j = load_fixture_json("gbtree_binary.json");
    json_object_del(j, "learner");
    expect_json_fail(j, "\"learner\" is missing");

    j = load_fixture_json("gbtree_binary.json");
    json_object_set_new(json_object_get(json_object_get(j, "learner"), "gradient_booster"), "name",
                        json_string("forest"));
    expect_json_fail(j, "is not gbtree, dart or gblinear");

    j = load_fixture_json("gbtree_binary.json");
    json_object_set_new(json_object_get(json_object_get(j, "learner"), "learner_model_param"), "num_feature",
                        json_integer(5));
    expect_json_fail(j, "num_feature is not a string");

    j = load_fixture_json("gbtree_binary.json");
    json_array_remove(json_object_get(json_object_get(j, "learner"), "feature_names"), 0);
    expect_json_fail(j, "feature_names has 4 entries");

    j = load_fixture_json("gbtree_multiclass.json");
    json_object_set_new(json_object_get(json_object_get(json_object_get(j, "learner"), "objective"),
                                        "softmax_multiclass_param"),
                        "num_class", json_string("4"));
    expect_json_fail(j, "num_class is 4 but learner_model_param.num_class is 3");

    j = load_fixture_json("gblinear_regression.json");
    json_array_remove(
        json_object_get(
            json_object_get(json_object_get(json_object_get(j, "learner"), "gradient_booster"), "model"),
            "weights"),
        0);
    expect_json_fail(j, "weights has 5 entries, expected 6");

    j = load_fixture_json("dart_binary.json");
    json_array_remove(
        json_object_get(json_object_get(json_object_get(j, "learner"), "gradient_booster"), "weight_drop"),
        0);
    expect_json_fail(j, "weight_drop has");

    j = load_fixture_json("gbtree_binary.json");
    json_t *deep = json_array();
    json_t *cur = deep;
    for (int i = 0; i < 200; ++i) {
        json_t *n = json_array();
        json_array_append_new(cur, n);
        cur = n;
    }
    json_object_set_new(j, "deep", deep);
    expect_json_fail(j, "nesting deeper than");

    const char *bad = "{\"learner\": {\"x\": [1, 2,, 3]}}";
    expect_fail(bad, strlen(bad), "at offset");
}
END_TEST

START_TEST(json_categorical_corruptions) {
    json_t *j = load_fixture_json("gbtree_categorical.json");
    json_array_set_new(json_object_get(tree0(j), "categories_sizes"), 0, json_integer(100));
    expect_json_fail(j, "runs past the");

    j = load_fixture_json("gbtree_categorical.json");
    json_array_set_new(json_object_get(tree0(j), "categories"), 0, json_integer(-1));
    expect_json_fail(j, "categories[0] is not an integer in [0, 16777216)");

    j = load_fixture_json("gbtree_categorical.json");
    json_array_remove(json_object_get(tree0(j), "categories_segments"), 0);
    expect_json_fail(j, "categories_segments has 0");

    j = load_fixture_json("gbtree_categorical.json");
    json_t *t = tree0(j);
    long k = first_internal(t, 1);
    ck_assert_int_gt(k, 0);
    json_array_set_new(json_object_get(t, "split_type"), (size_t)k, json_integer(1));
    expect_json_fail(j, "categorical nodes");

    j = load_fixture_json("gbtree_categorical.json");
    json_array_remove(json_object_get(tree0(j), "split_type"), 0);
    expect_json_fail(j, "split_type has");
}
END_TEST

/* Replace the first `from` in `s` with `to`; returns a new malloc'd string. */
static char *replace1(const char *s, const char *from, const char *to) {
    const char *at = strstr(s, from);
    ck_assert_msg(at != NULL, "no %s", from);
    size_t pre = (size_t)(at - s), n = strlen(s), nf = strlen(from), nt = strlen(to);
    char *r = malloc(n - nf + nt + 1);
    memcpy(r, s, pre);
    memcpy(r + pre, to, nt);
    strcpy(r + pre + nt, at + nf);
    return r;
}

START_TEST(json_non_finite_literals_accepted) {
    /* XGBoost writes NaN / Infinity / -Infinity for non-finite floats and reads them back. */
    json_t *j = load_fixture_json("gbtree_binary.json");
    json_t *t = tree0(j);
    json_array_set_new(json_object_get(t, "split_conditions"), 0, json_real(12345.5));
    json_array_set_new(json_object_get(t, "loss_changes"), 0, json_real(23456.5));
    json_array_set_new(json_object_get(t, "sum_hessian"), 0, json_real(34567.5));
    char *s0 = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char *s1 = replace1(s0, "12345.5", "NaN");
    char *s2 = replace1(s1, "23456.5", "Infinity");
    char *s3 = replace1(s2, "34567.5", "-Infinity");
    expect_ok(s3, strlen(s3), MLOPS_FORMAT_JSON);
    /* ...but only as whole tokens: "1NaN" is not a number. */
    char *s4 = replace1(s3, "-Infinity", "1NaN");
    expect_fail(s4, strlen(s4), "JSON:");
    free(s0);
    free(s1);
    free(s2);
    free(s3);
    free(s4);
}
END_TEST

/* ---- UBJSON ---- */

static unsigned char *copy_fixture(const char *name, size_t *len) {
    const fx *f = fixture(name);
    unsigned char *b = malloc(f->len);
    memcpy(b, f->data, f->len);
    *len = f->len;
    return b;
}

static void put_be64(unsigned char *p, uint64_t v) {
    for (int i = 7; i >= 0; --i) {
        p[i] = (unsigned char)v;
        v >>= 8;
    }
}

static unsigned char *find(unsigned char *b, size_t len, const char *pat, size_t plen) {
    for (size_t i = 0; i + plen <= len; ++i)
        if (memcmp(b + i, pat, plen) == 0) return b + i;
    return NULL;
}

START_TEST(ubjson_corruptions) {
    size_t len;
    unsigned char *b = copy_fixture("gbtree_binary.ubj", &len);
    ck_assert_int_eq(b[1], 'L');
    put_be64(b + 2, 4294967295u);
    char want[128];
    snprintf(want, sizeof want, "string length 4294967295 at offset 1 runs past the end (%zu bytes)", len);
    expect_fail(b, len, want);
    free(b);

    b = copy_fixture("gbtree_binary.ubj", &len);
    unsigned char *p = find(b, len, "[$d#L", 5);
    ck_assert_ptr_nonnull(p);
    put_be64(p + 5, (uint64_t)1 << 40);
    expect_fail(b, len, "typed array count 1099511627776");
    free(b);

    b = copy_fixture("gbtree_binary.ubj", &len);
    p = find(b, len, "[$d#L", 5);
    p[2] = 'q';
    expect_fail(b, len, "typed array of 'q'");
    free(b);

    b = copy_fixture("gbtree_binary.ubj", &len);
    p = find(b, len, "[$d#L", 5);
    put_be64(p + 5, (uint64_t)-3);
    expect_fail(b, len, "typed array count -3");
    free(b);

    b = copy_fixture("gbtree_binary.ubj", &len);
    unsigned char *b2 = malloc(len + 1);
    memcpy(b2, b, len);
    b2[len] = 'Z';
    expect_fail(b2, len + 1, "1 trailing bytes");
    free(b2);
    free(b);

    static const unsigned char bad_marker[] = {'{', 'L', 0, 0, 0, 0, 0, 0, 0, 1,  'a',
                                               'H', 0,   0, 0, 0, 0, 0, 0, 0, '}'};
    expect_fail(bad_marker, sizeof bad_marker, "'H' number at offset 11");
    static const unsigned char short_key[] = {'{', 'i', 3, 'a', 'b', 'c', 'Z', '}'};
    expect_fail(short_key, sizeof short_key, "XGBoost 1.7 reads only 'L'");
    unsigned char deep[400] = {'{', 'L', 0, 0, 0, 0, 0, 0, 0, 1, 'a'};
    memset(deep + 11, '[', sizeof deep - 11);
    expect_fail(deep, sizeof deep, "nesting deeper than 64");
    static const unsigned char bad_count[] = {'{',  'L',  0,    0,    0,    0,    0,    0,
                                              0,    1,    'a',  '[',  '#',  'L',  0x7f, 0xff,
                                              0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '}'};
    expect_fail(bad_count, sizeof bad_count, "array count 9223372036854775807");

    /* Semantic checks are shared with JSON: an out-of-range child in a typed int32 array. */
    b = copy_fixture("gbtree_binary.ubj", &len);
    p = find(b, len, "left_children[$l#L", 18);
    ck_assert_ptr_nonnull(p);
    p[18 + 8 + 3] = 0x7f; /* first child id (big-endian int32) -> huge */
    expect_fail(b, len, "outside [-1,");
    free(b);
}
END_TEST

/* ---- legacy binary ---- */

static size_t tree0_offset(const unsigned char *b) {
    size_t off = 4 + 136;
    uint64_t n;
    memcpy(&n, b + off, 8);
    off += 8 + n;
    memcpy(&n, b + off, 8);
    off += 8 + n;
    return off + 160;
}

static void put_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; ++i)
        p[i] = (unsigned char)(v >> (8 * i));
}

START_TEST(binary_corruptions) {
    size_t len;
    unsigned char *b = copy_fixture("gbtree_binary.bin", &len);
    size_t t0 = tree0_offset(b);
    put_le32(b + t0 - 160, 0x7fffffff);
    expect_fail(b, len, "num_trees 2147483647");
    free(b);

    b = copy_fixture("gbtree_binary.bin", &len);
    put_le32(b + t0 + 148 + 4, 9999);
    expect_fail(b, len, "node 0 has child 9999");
    free(b);

    b = copy_fixture("gbtree_binary.bin", &len);
    put_le32(b + t0 + 148 + 12, 7);
    expect_fail(b, len, "splits on feature 7 but the model has 5 features");
    free(b);

    b = copy_fixture("gbtree_binary.bin", &len);
    put_le32(b + t0 + 4, 100000);
    expect_fail(b, len, "100000 nodes run past the end");
    free(b);

    b = copy_fixture("gbtree_binary.bin", &len);
    put_le32(b + 4 + 136, 0xffffff);
    expect_fail(b, len, "objective name length 16777215 at offset 140 runs past the end");
    free(b);

    b = copy_fixture("gbtree_binary.bin", &len);
    unsigned char *b2 = malloc(len + 3);
    memcpy(b2, b, len);
    memset(b2 + len, 0, 3);
    expect_fail(b2, len + 3, "3 trailing bytes");
    free(b2);
    free(b);

    expect_fail("binf", 4, "learner parameters at offset 4 needs 136 bytes");

    b = copy_fixture("gbtree_binary.bin", &len);
    memcpy(b + 4 + 136 + 8, "binary:logistiX", 15);
    expect_fail(b, len, "(\"binary:logistiX\") is not an XGBoost 1.7 objective");
    free(b);

    b = copy_fixture("gblinear_regression.bin", &len);
    put_le32(b + 4 + 4, 6); /* num_feature 5 -> 6: weights no longer fit */
    expect_fail(b, len, "gblinear weights");
    free(b);

    b = copy_fixture("gbtree_multiclass.bin", &len);
    put_le32(b + 4 + 8, 2); /* num_class 3 -> 2: some tree_info entries point past the groups */
    expect_fail(b, len, "is not an output group in [0, 2)");
    free(b);
}
END_TEST

static Suite *make_suite(void) {
    TCase *tc;
    Suite *s = test_suite_single("format", 600, setup, teardown, &tc);
    tcase_add_test(tc, real_fixtures_pass);
    tcase_add_test(tc, other_files_are_not_models);
    tcase_add_test(tc, json_tree_corruptions);
    tcase_add_test(tc, json_model_corruptions);
    tcase_add_test(tc, json_categorical_corruptions);
    tcase_add_test(tc, json_non_finite_literals_accepted);
    tcase_add_test(tc, ubjson_corruptions);
    tcase_add_test(tc, binary_corruptions);
    tcase_add_test(tc, every_truncation_fails_cleanly);
    tcase_add_test(tc, bit_flips_pass_or_fail_cleanly);
    return s;
}

MLOPS_TEST_MAIN(make_suite)
