/* Schema module unit tests (Check). Expected values are hand-checkable from the inputs. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlops/schema.h"
#include "harness.h"

static const char *EXAMPLE =
    "{\"features\": [\n"
    "  {\"name\": \"mean_radius\", \"type\": \"float\", \"min\": 0, \"max\": 60, \"nullable\": false},\n"
    "  {\"name\": \"n_visits\", \"type\": \"int\", \"min\": 0},\n"
    "  {\"name\": \"plan\", \"type\": \"categorical\", \"categories\": [\"free\", \"pro\", \"team\"]},\n"
    "  {\"name\": \"is_member\", \"type\": \"bool\", \"default\": false}],\n"
    " \"unknown_features\": \"reject\"}";

static mlops_schema *example(void) {
    mlops_schema *s = NULL;
    ck_assert_int_eq(mlops_schema_load_buffer(EXAMPLE, strlen(EXAMPLE), &s), MLOPS_OK);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Parse `json`, expect `status` and a message containing `needle`; out stays untouched. */
static void expect_bad_schema(const char *json, mlops_status status, const char *needle) {
    mlops_schema *s = (mlops_schema *)(uintptr_t)0x1;
    mlops_status st = mlops_schema_load_buffer(json, strlen(json), &s);
    ck_assert_msg(st == status, "%s: got %d (%s), expected %d", json, st, mlops_last_error(), status);
    ck_assert_msg(strstr(mlops_last_error(), needle) != NULL, "message '%s' lacks '%s'", mlops_last_error(),
                  needle);
    ck_assert_ptr_eq(s, (mlops_schema *)(uintptr_t)0x1);
}

START_TEST(parse_example) {
    mlops_schema *s = example();
    ck_assert_uint_eq(mlops_schema_n_features(s), 4);
    ck_assert_str_eq(mlops_schema_feature_name(s, 2), "plan");
    ck_assert_ptr_null(mlops_schema_feature_name(s, 4));
    size_t idx = 99;
    ck_assert_int_eq(mlops_schema_find_feature(s, "n_visits", &idx), MLOPS_OK);
    ck_assert_uint_eq(idx, 1);
    ck_assert_int_eq(mlops_schema_find_feature(s, "nope", &idx), MLOPS_ENOTFOUND);
    ck_assert_uint_eq(idx, 1);
    ck_assert_int_eq(mlops_schema_feature_type(s, 0), MLOPS_FEATURE_TYPE_FLOAT);
    ck_assert_int_eq(mlops_schema_feature_type(s, 1), MLOPS_FEATURE_TYPE_INT);
    ck_assert_int_eq(mlops_schema_feature_type(s, 2), MLOPS_FEATURE_TYPE_CATEGORICAL);
    ck_assert_int_eq(mlops_schema_feature_type(s, 3), MLOPS_FEATURE_TYPE_BOOL);
    ck_assert_double_eq(mlops_schema_feature_min(s, 0), 0);
    ck_assert_double_eq(mlops_schema_feature_max(s, 0), 60);
    ck_assert(isinf(mlops_schema_feature_max(s, 1)));
    ck_assert_double_eq(mlops_schema_feature_max(s, 2), 2);
    ck_assert_int_eq(mlops_schema_feature_nullable(s, 0), 0);
    ck_assert_int_eq(mlops_schema_feature_nullable(s, 1), 1);
    double d = -1;
    ck_assert_int_eq(mlops_schema_get_feature_default(s, 3, &d), MLOPS_OK);
    ck_assert_double_eq(d, 0);
    ck_assert_int_eq(mlops_schema_get_feature_default(s, 0, &d), MLOPS_ENOTFOUND);
    ck_assert_int_eq(mlops_schema_get_feature_default(s, 4, &d), MLOPS_ERANGE);
    ck_assert_uint_eq(mlops_schema_feature_n_categories(s, 2), 3);
    ck_assert_str_eq(mlops_schema_feature_category(s, 2, 1), "pro");
    ck_assert_ptr_null(mlops_schema_feature_category(s, 2, 3));
    ck_assert_int_eq(mlops_schema_rejects_unknown(s), 1);
    mlops_schema_free(s);
    mlops_schema_free(NULL);
}
END_TEST

START_TEST(parse_bad) {
    expect_bad_schema("{\"features\": [\n  {\"name\": \"a\", \"type\": \"float\",}\n]}", MLOPS_EFORMAT,
                      "line 2 column");
    expect_bad_schema("{\"features\": [{\"name\": \"a\", \"type\": \"float\", \"min\": 5, \"max\": 1}]}",
                      MLOPS_EFORMAT, "min 5 is greater than max 1");
    expect_bad_schema(
        "{\"features\": [{\"name\": \"a\", \"type\": \"float\"}, {\"name\": \"a\", \"type\": \"int\"}]}",
        MLOPS_EFORMAT, "duplicate feature name 'a'");
    expect_bad_schema("{\"features\": [{\"name\": \"c\", \"type\": \"categorical\", \"categories\": []}]}",
                      MLOPS_EFORMAT, "non-empty \"categories\"");
    expect_bad_schema("{\"features\": [{\"name\": \"c\", \"type\": \"categorical\"}]}", MLOPS_EFORMAT,
                      "non-empty \"categories\"");
    expect_bad_schema(
        "{\"features\": [{\"name\": \"c\", \"type\": \"categorical\", \"categories\": [\"x\", \"x\"]}]}",
        MLOPS_EFORMAT, "duplicate category 'x'");
    expect_bad_schema("{\"features\": [{\"name\": \"a\", \"type\": \"double\"}]}", MLOPS_EFORMAT,
                      "unknown type");
    expect_bad_schema("{\"features\": [{\"name\": \"a\"}]}", MLOPS_EFORMAT, "\"type\" must be");
    expect_bad_schema("{\"features\": [{\"name\": \"a\", \"type\": \"float\", \"maxx\": 1}]}", MLOPS_EFORMAT,
                      "unknown key 'maxx'");
    expect_bad_schema("{\"features\": [{\"name\": \"a\", \"type\": \"int\", \"default\": 1.5}]}",
                      MLOPS_EFORMAT, "not an integer");
    expect_bad_schema("{\"features\": [{\"name\": \"a\", \"type\": \"float\", \"max\": 3, \"default\": 4}]}",
                      MLOPS_EFORMAT, "outside [min, max]");
    expect_bad_schema("{\"features\": [{\"name\": \"c\", \"type\": \"categorical\", \"categories\": [\"x\"], "
                      "\"default\": \"y\"}]}",
                      MLOPS_EFORMAT, "not one of the categories");
    expect_bad_schema("{\"features\": [{\"name\": \"b\", \"type\": \"bool\", \"min\": 0}]}", MLOPS_EFORMAT,
                      "only allowed for float and int");
    expect_bad_schema("{\"features\": [{\"name\": \"a\", \"type\": \"float\", \"categories\": [\"x\"]}]}",
                      MLOPS_EFORMAT, "only allowed for categorical");
    expect_bad_schema("{\"features\": [{\"name\": \"\", \"type\": \"float\"}]}", MLOPS_EFORMAT,
                      "non-empty string");
    expect_bad_schema("{\"features\": []}", MLOPS_EFORMAT, "non-empty array");
    expect_bad_schema("{\"feature\": []}", MLOPS_EFORMAT, "unknown key 'feature'");
    expect_bad_schema("[1, 2]", MLOPS_EFORMAT, "expected a JSON object");
    expect_bad_schema(
        "{\"features\": [{\"name\": \"a\", \"type\": \"float\"}], \"unknown_features\": \"drop\"}",
        MLOPS_EFORMAT, "\"reject\" or \"ignore\"");
    expect_bad_schema("{\"features\": [{\"name\": \"a\", \"name\": \"b\", \"type\": \"float\"}]}",
                      MLOPS_EFORMAT, "duplicate object key");
    expect_bad_schema("{\"features\": [{\"name\": \"a\", \"type\": \"float\", \"max\": 1e999}]}",
                      MLOPS_EFORMAT, "real number overflow");
    expect_bad_schema(
        "{\"features\": [{\"name\": \"a\", \"type\": \"int\", \"max\": 123456789012345678901234}]}",
        MLOPS_EFORMAT, "too big integer");
    expect_bad_schema("{\"features\": [{\"name\": \"a\", \"type\": \"float\", \"max\": 1e300}]}",
                      MLOPS_EFORMAT, "fit in float32");
    expect_bad_schema("{\"features\": [{\"name\": \"\xff\xfe\", \"type\": \"float\"}]}", MLOPS_EFORMAT,
                      "unable to decode byte");
    expect_bad_schema("", MLOPS_EFORMAT, "line");
    /* nesting far deeper than jansson's limit */
    size_t depth = 5000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    expect_bad_schema(deep, MLOPS_EFORMAT, "depth");
    free(deep);
    mlops_schema *s = NULL;
    ck_assert_int_eq(mlops_schema_load_buffer(NULL, 0, &s), MLOPS_EINVAL);
}
END_TEST

START_TEST(json_round_trip) {
    mlops_schema *s = example(), *t = NULL;
    char *text = NULL;
    ck_assert_int_eq(mlops_schema_save_buffer(s, &text), MLOPS_OK);
    ck_assert_int_eq(mlops_schema_load_buffer(text, strlen(text), &t), MLOPS_OK);
    char *text2 = NULL;
    ck_assert_int_eq(mlops_schema_save_buffer(t, &text2), MLOPS_OK);
    ck_assert_str_eq(text, text2);
    ck_assert(strstr(text, "\"default\": false") != NULL);
    ck_assert(strstr(text, "\"nullable\": false") != NULL);
    mlops_free(text);
    mlops_free(text2);

    char dir[200];
    test_tmpdir_make(dir, sizeof dir, "schema", 0);
    char path[256];
    snprintf(path, sizeof path, "%s/schema.json", dir);
    ck_assert_int_eq(mlops_schema_save(s, path), MLOPS_OK);
    mlops_schema *u = NULL;
    ck_assert_int_eq(mlops_schema_load(path, &u), MLOPS_OK);
    ck_assert_uint_eq(mlops_schema_n_features(u), 4);
    ck_assert_str_eq(mlops_schema_feature_category(u, 2, 2), "team");
    /* a broken file names the path and the line */
    FILE *f = fopen(path, "w");
    fputs("{\"features\": [\n\n  {\"name\": 3}]}", f);
    fclose(f);
    mlops_schema *v = NULL;
    ck_assert_int_eq(mlops_schema_load(path, &v), MLOPS_EFORMAT);
    ck_assert(strstr(mlops_last_error(), path) != NULL);
    ck_assert_ptr_null(v);
    unlink(path);
    ck_assert_int_eq(mlops_schema_load(path, &v), MLOPS_EIO);
    ck_assert_int_eq(test_tmpdir_remove(dir), 0);
    mlops_schema_free(s);
    mlops_schema_free(t);
    mlops_schema_free(u);
}
END_TEST

/* Find the violation of (row, feature, kind) in the report. */
static int has(const mlops_schema_report *r, size_t row, long feat, mlops_violation_kind kind) {
    for (size_t i = 0; i < mlops_schema_report_count(r); i++)
        if (mlops_schema_report_row(r, i) == row && mlops_schema_report_feature(r, i) == feat &&
            mlops_schema_report_kind(r, i) == kind)
            return 1;
    return 0;
}

START_TEST(validate_dense) {
    mlops_schema *s = example();
    mlops_schema_report *r = NULL;
    ck_assert_int_eq(mlops_schema_report_create(0, &r), MLOPS_OK);
    const float x[] = {
        10.5f,    3,    1,    0,    /* 0 valid */
        60,       0,    2,    1,    /* 1 valid: bounds are inclusive */
        NAN,      1,    0,    NAN,  /* 2 mean_radius not nullable; is_member NaN ok (default) */
        -1,       2.5f, 3,    0.5f, /* 3 below min, not integer, bad code, bool 0.5 */
        INFINITY, -4,   1.5f, 2,    /* 4 not finite, below min, fractional code, bool 2 */
        0,        NAN,  NAN,  1,    /* 5 valid: n_visits and plan are nullable */
    };
    unsigned char ok[6];
    mlops_status st = mlops_schema_validate(s, x, 6, 4, ok, r);
    ck_assert_int_eq(st, MLOPS_EVALIDATION);
    ck_assert(strstr(mlops_last_error(), "3 of 6 rows invalid") != NULL);
    ck_assert(strstr(mlops_last_error(), "row 3: feature 'mean_radius'") != NULL); /* rows from 1 */
    const unsigned char want[6] = {1, 1, 0, 0, 0, 1};
    ck_assert_mem_eq(ok, want, 6);
    ck_assert_uint_eq(mlops_schema_report_n_rows(r), 6);
    ck_assert_uint_eq(mlops_schema_report_n_invalid(r), 3);
    ck_assert_uint_eq(mlops_schema_report_count(r), 9);
    ck_assert(has(r, 2, 0, MLOPS_VIOLATION_NULL));
    ck_assert(has(r, 3, 0, MLOPS_VIOLATION_OUT_OF_RANGE));
    ck_assert(has(r, 3, 1, MLOPS_VIOLATION_NOT_INTEGER));
    ck_assert(has(r, 3, 2, MLOPS_VIOLATION_UNKNOWN_CATEGORY));
    ck_assert(has(r, 3, 3, MLOPS_VIOLATION_WRONG_TYPE));
    ck_assert(has(r, 4, 0, MLOPS_VIOLATION_NOT_FINITE));
    ck_assert(has(r, 4, 1, MLOPS_VIOLATION_OUT_OF_RANGE));
    ck_assert(has(r, 4, 2, MLOPS_VIOLATION_UNKNOWN_CATEGORY));
    ck_assert(has(r, 4, 3, MLOPS_VIOLATION_WRONG_TYPE));
    ck_assert_str_eq(mlops_schema_report_message(r, 1), "row 4: feature 'mean_radius' (0): -1 is below min 0");
    ck_assert_uint_eq(mlops_schema_report_row(r, 1), 3); /* the index stays 0-based */
    ck_assert_str_eq(mlops_schema_report_feature_name(r, 1), "mean_radius");
    ck_assert_ptr_null(mlops_schema_report_message(r, 99));
    ck_assert_int_eq(mlops_schema_report_feature(r, 99), -1);

    /* all valid: OK, and the report is cleared */
    ck_assert_int_eq(mlops_schema_validate(s, x, 2, 4, ok, r), MLOPS_OK);
    ck_assert_uint_eq(mlops_schema_report_count(r), 0);
    ck_assert_uint_eq(mlops_schema_report_n_rows(r), 2);
    /* optional outputs */
    ck_assert_int_eq(mlops_schema_validate(s, x, 6, 4, NULL, NULL), MLOPS_EVALIDATION);
    /* wrong width: ESHAPE, report untouched */
    ck_assert_int_eq(mlops_schema_validate(s, x, 6, 4, ok, r), MLOPS_EVALIDATION);
    size_t before = mlops_schema_report_count(r);
    unsigned char ok2[8] = {7, 7, 7, 7, 7, 7, 7, 7};
    ck_assert_int_eq(mlops_schema_validate(s, x, 6, 3, ok2, r), MLOPS_ESHAPE);
    ck_assert(strstr(mlops_last_error(), "3 values, the schema has 4") != NULL);
    ck_assert_uint_eq(mlops_schema_report_count(r), before);
    ck_assert_uint_eq(ok2[0], 7);
    ck_assert_int_eq(mlops_schema_validate(NULL, x, 1, 4, NULL, NULL), MLOPS_EINVAL);
    mlops_schema_report_free(r);
    mlops_schema_free(s);
}
END_TEST

START_TEST(report_cap) {
    mlops_schema *s = example();
    mlops_schema_report *r = NULL;
    ck_assert_int_eq(mlops_schema_report_create(3, &r), MLOPS_OK);
    float x[40];
    for (int i = 0; i < 40; i++)
        x[i] = -5; /* 10 rows, each: mean_radius, n_visits below min; code; bool */
    unsigned char ok[10];
    ck_assert_int_eq(mlops_schema_validate(s, x, 10, 4, ok, r), MLOPS_EVALIDATION);
    ck_assert_uint_eq(mlops_schema_report_count(r), 3);
    ck_assert_uint_eq(mlops_schema_report_n_omitted(r), 37);
    ck_assert_uint_eq(mlops_schema_report_n_invalid(r), 10);
    for (int i = 0; i < 10; i++)
        ck_assert_uint_eq(ok[i], 0);
    mlops_schema_report_free(r);
    mlops_schema_free(s);
}
END_TEST

START_TEST(impute) {
    mlops_schema *s = example();
    float x[] = {1, NAN, NAN, NAN};
    ck_assert_int_eq(mlops_schema_impute(s, x, 1, 4), MLOPS_OK);
    ck_assert_float_eq(x[0], 1);
    ck_assert(isnan(x[1]) && isnan(x[2]));
    ck_assert_float_eq(x[3], 0);
    ck_assert_int_eq(mlops_schema_impute(s, x, 1, 5), MLOPS_ESHAPE);
    mlops_schema_free(s);
}
END_TEST

static mlops_status rows(const mlops_schema *s, const char *json, float *out, size_t out_len,
                         unsigned char *ok, size_t *n, mlops_schema_report *r) {
    return mlops_schema_parse_rows(s, json, strlen(json), out, out_len, ok, n, r);
}

START_TEST(named_rows) {
    mlops_schema *s = example();
    mlops_schema_report *r = NULL;
    ck_assert_int_eq(mlops_schema_report_create(0, &r), MLOPS_OK);
    float out[16];
    unsigned char ok[4];
    size_t n = 0;
    /* one object, key order free, default imputed for the absent bool */
    ck_assert_int_eq(
        rows(s, "{\"features\": {\"plan\": \"team\", \"n_visits\": 4, \"mean_radius\": 12.5}, \"id\": 7}",
             out, 16, ok, &n, r),
        MLOPS_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_float_eq(out[0], 12.5f);
    ck_assert_float_eq(out[1], 4);
    ck_assert_float_eq(out[2], 2);
    ck_assert_float_eq(out[3], 0);
    ck_assert_uint_eq(ok[0], 1);

    /* an array: row 1 misses everything at once, row 2 is all wrong, row 3 fine with nulls */
    const char *batch =
        "[{\"features\": {\"mean_radius\": 1, \"n_visits\": 0, \"plan\": \"free\", \"is_member\": true}},\n"
        " {\"features\": {}},\n"
        " {\"features\": {\"mean_radius\": \"big\", \"n_visits\": 1.5, \"plan\": \"gold\", "
        "\"is_member\": 2, \"colour\": \"red\"}},\n"
        " {\"features\": {\"mean_radius\": 61, \"n_visits\": null, \"plan\": null, \"is_member\": null}}]";
    ck_assert_int_eq(rows(s, batch, out, 16, ok, &n, r), MLOPS_EVALIDATION);
    ck_assert_uint_eq(n, 4);
    const unsigned char want[4] = {1, 0, 0, 0};
    ck_assert_mem_eq(ok, want, 4);
    ck_assert_float_eq(out[3], 1);
    ck_assert(has(r, 1, 0, MLOPS_VIOLATION_MISSING));
    ck_assert(has(r, 1, 1, MLOPS_VIOLATION_MISSING));
    ck_assert(has(r, 1, 2, MLOPS_VIOLATION_MISSING));
    ck_assert(!has(r, 1, 3, MLOPS_VIOLATION_MISSING)); /* has a default */
    ck_assert_float_eq(out[7], 0);
    ck_assert(has(r, 2, 0, MLOPS_VIOLATION_WRONG_TYPE));
    ck_assert(has(r, 2, 1, MLOPS_VIOLATION_NOT_INTEGER));
    ck_assert(has(r, 2, 2, MLOPS_VIOLATION_UNKNOWN_CATEGORY));
    ck_assert(has(r, 2, 3, MLOPS_VIOLATION_WRONG_TYPE));
    ck_assert(has(r, 2, -1, MLOPS_VIOLATION_UNKNOWN_FEATURE));
    ck_assert(has(r, 3, 0, MLOPS_VIOLATION_OUT_OF_RANGE));
    ck_assert_uint_eq(mlops_schema_report_count(r), 9);
    ck_assert(isnan(out[13]) && isnan(out[14]));
    ck_assert_float_eq(out[15], 0); /* null bool -> default */
    int found = 0;
    for (size_t i = 0; i < mlops_schema_report_count(r); i++)
        if (mlops_schema_report_kind(r, i) == MLOPS_VIOLATION_UNKNOWN_FEATURE) {
            ck_assert_str_eq(mlops_schema_report_feature_name(r, i), "colour");
            found = 1;
        }
    ck_assert(found);

    /* null for a non-nullable feature, huge value for float32 */
    ck_assert_int_eq(rows(s, "{\"features\": {\"mean_radius\": null, \"n_visits\": 1e300, \"plan\": 1}}", out,
                          16, ok, &n, r),
                     MLOPS_EVALIDATION);
    ck_assert(has(r, 0, 0, MLOPS_VIOLATION_NULL));
    ck_assert(has(r, 0, 1, MLOPS_VIOLATION_OUT_OF_RANGE));
    ck_assert(has(r, 0, 2, MLOPS_VIOLATION_WRONG_TYPE));

    /* a duplicate key only invalidates its row */
    ck_assert_int_eq(
        rows(s,
             "[{\"features\": {\"mean_radius\": 1, \"mean_radius\": 2, \"n_visits\": 0, \"plan\": \"pro\"}},"
             " {\"features\": {\"mean_radius\": 3, \"n_visits\": 0, \"plan\": \"pro\"}}]",
             out, 16, ok, &n, r),
        MLOPS_EVALIDATION);
    ck_assert_uint_eq(ok[0], 0);
    ck_assert_uint_eq(ok[1], 1);
    ck_assert(has(r, 0, 0, MLOPS_VIOLATION_DUPLICATE));
    ck_assert_uint_eq(mlops_schema_report_count(r), 1);
    ck_assert_float_eq(out[4], 3);

    /* empty array is fine */
    ck_assert_int_eq(rows(s, " [ ] ", out, 16, ok, &n, r), MLOPS_OK);
    ck_assert_uint_eq(n, 0);
    mlops_schema_report_free(r);
    mlops_schema_free(s);
}
END_TEST

/* Bad payloads: clear status, nothing written, report untouched. */
static void expect_bad_rows(const mlops_schema *s, const char *json, size_t out_len, mlops_status status,
                            const char *needle) {
    mlops_schema_report *r = NULL;
    ck_assert_int_eq(mlops_schema_report_create(0, &r), MLOPS_OK);
    const float v[4] = {NAN, 0, 0, 0};
    ck_assert_int_eq(mlops_schema_validate(s, v, 1, 4, NULL, r), MLOPS_EVALIDATION);
    size_t before = mlops_schema_report_count(r);
    float out[16];
    for (int i = 0; i < 16; i++)
        out[i] = 42;
    unsigned char ok[4] = {9, 9, 9, 9};
    size_t n = 77;
    mlops_status st = mlops_schema_parse_rows(s, json, strlen(json), out, out_len, ok, &n, r);
    ck_assert_msg(st == status, "%s: got %d (%s)", json, st, mlops_last_error());
    ck_assert_msg(strstr(mlops_last_error(), needle) != NULL, "message '%s' lacks '%s'", mlops_last_error(),
                  needle);
    ck_assert_uint_eq(n, 77);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(out[i], 42);
    ck_assert_uint_eq(ok[0], 9);
    ck_assert_uint_eq(mlops_schema_report_count(r), before);
    mlops_schema_report_free(r);
}

START_TEST(named_rows_bad) {
    mlops_schema *s = example();
    expect_bad_rows(s, "[{\"features\": {\"mean_radius\": 1}},\n {\"features\": {\"mean_radius\": }}]", 16,
                    MLOPS_EFORMAT, "row 2 at line 2 column");
    expect_bad_rows(s, "{\"features\": [1, 2]}", 16, MLOPS_EFORMAT, "not {\"features\": {...}}");
    expect_bad_rows(s, "[{\"features\": {}}, 3]", 16, MLOPS_EFORMAT, "row 2 (line 1 column 20)");
    expect_bad_rows(s, "[{\"features\": {}} {\"features\": {}}]", 16, MLOPS_EFORMAT, "expected ',' or ']' after row 1");
    expect_bad_rows(s, "[{\"features\": {}}", 16, MLOPS_EFORMAT, "expected ',' or ']'");
    expect_bad_rows(s, "{\"features\": {}} x", 16, MLOPS_EFORMAT, "unexpected text");
    expect_bad_rows(s, "\"features\"", 16, MLOPS_EFORMAT, "expected {\"features\"");
    expect_bad_rows(s, "   ", 16, MLOPS_EFORMAT, "empty input");
    expect_bad_rows(s, "{\"features\": {\"plan\": \"\xc3\x28\"}}", 16, MLOPS_EFORMAT,
                    "unable to decode byte");
    expect_bad_rows(s, "{\"features\": {\"n_visits\": 1e400}}", 16, MLOPS_EFORMAT, "real number overflow");
    expect_bad_rows(s, "{\"features\": {\"n_visits\": 99999999999999999999999}}", 16, MLOPS_EFORMAT,
                    "too big integer");
    expect_bad_rows(s, "[{\"features\": {}}, {\"features\": {}}]", 7, MLOPS_ESHAPE, "2 rows of 4 features");
    size_t depth = 3000;
    char *deep = malloc(2 * depth + 40);
    strcpy(deep, "{\"features\": {\"a\": ");
    size_t at = strlen(deep);
    memset(deep + at, '[', depth);
    memset(deep + at + depth, ']', depth);
    strcpy(deep + at + 2 * depth, "}}");
    expect_bad_rows(s, deep, 16, MLOPS_EFORMAT, "depth");
    free(deep);
    mlops_schema_free(s);
}
END_TEST

START_TEST(ignore_unknown) {
    const char *js =
        "{\"features\": [{\"name\": \"a\", \"type\": \"float\"}], \"unknown_features\": \"ignore\"}";
    mlops_schema *s = NULL;
    ck_assert_int_eq(mlops_schema_load_buffer(js, strlen(js), &s), MLOPS_OK);
    float out[1];
    size_t n;
    ck_assert_int_eq(rows(s, "{\"features\": {\"a\": 2, \"zzz\": [1]}}", out, 1, NULL, &n, NULL), MLOPS_OK);
    ck_assert_float_eq(out[0], 2);
    mlops_schema_free(s);
}
END_TEST

START_TEST(infer) {
    /* columns: [0, 10] ints; [-1.5, 2.5] floats; constant 5 with a NaN; all NaN */
    const float x[] = {0, -1.5f, 5, NAN, 10, 2.5f, NAN, NAN, 4, 0.5f, 5, NAN};
    const char *names[] = {"count", "score", "flat", "empty"};
    mlops_schema *s = NULL;
    ck_assert_int_eq(mlops_schema_infer(x, 3, 4, names, NULL, &s), MLOPS_OK);
    /* count: range 10, margin 0.1 -> [-1, 11], sign kept -> [0, 11], int */
    ck_assert_int_eq(mlops_schema_feature_type(s, 0), MLOPS_FEATURE_TYPE_INT);
    ck_assert_double_eq(mlops_schema_feature_min(s, 0), 0);
    ck_assert_double_eq(mlops_schema_feature_max(s, 0), 11);
    /* score: range 4 -> [-1.9, 2.9] */
    ck_assert_int_eq(mlops_schema_feature_type(s, 1), MLOPS_FEATURE_TYPE_FLOAT);
    ck_assert_double_eq_tol(mlops_schema_feature_min(s, 1), -1.9, 1e-12);
    ck_assert_double_eq_tol(mlops_schema_feature_max(s, 1), 2.9, 1e-12);
    /* flat: 5 +- 0.1 * 5, integral: whole units of margin only (none) -> [5, 5] */
    ck_assert_double_eq(mlops_schema_feature_min(s, 2), 5);
    ck_assert_double_eq(mlops_schema_feature_max(s, 2), 5);
    ck_assert_int_eq(mlops_schema_feature_nullable(s, 2), 1);
    ck_assert(isinf(mlops_schema_feature_min(s, 3)));
    /* the training rows validate against their own schema */
    ck_assert_int_eq(mlops_schema_validate(s, x, 3, 4, NULL, NULL), MLOPS_OK);
    mlops_schema_free(s);

    mlops_schema_infer_opts o;
    mlops_schema_infer_opts_init(&o, MLOPS_SCHEMA_INFER_OPTS_VERSION);
    o.margin = 0;
    o.detect_int = 0;
    o.nullable = 0;
    ck_assert_int_eq(mlops_schema_infer(x, 3, 4, NULL, &o, &s), MLOPS_OK);
    ck_assert_str_eq(mlops_schema_feature_name(s, 1), "f1");
    ck_assert_int_eq(mlops_schema_feature_type(s, 0), MLOPS_FEATURE_TYPE_FLOAT);
    ck_assert_double_eq(mlops_schema_feature_max(s, 0), 10);
    ck_assert_int_eq(mlops_schema_feature_nullable(s, 0), 0);
    ck_assert_int_eq(mlops_schema_feature_nullable(s, 2), 1); /* saw a NaN */
    mlops_schema_free(s);

    s = (mlops_schema *)(uintptr_t)0x1;
    const float bad[] = {1, INFINITY};
    ck_assert_int_eq(mlops_schema_infer(bad, 1, 2, NULL, NULL, &s), MLOPS_EINVAL);
    ck_assert(strstr(mlops_last_error(), "row 1 column 1 is infinite") != NULL);
    const char *dup[] = {"a", "a"};
    ck_assert_int_eq(mlops_schema_infer(x, 1, 2, dup, NULL, &s), MLOPS_EINVAL);
    ck_assert(strstr(mlops_last_error(), "duplicate feature name 'a'") != NULL);
    ck_assert_int_eq(mlops_schema_infer(x, 0, 2, NULL, NULL, &s), MLOPS_EINVAL);
    o.margin = -1;
    ck_assert_int_eq(mlops_schema_infer(x, 1, 2, NULL, &o, &s), MLOPS_EINVAL);
    o.version = 99;
    ck_assert_int_eq(mlops_schema_infer(x, 1, 2, NULL, &o, &s), MLOPS_EVERSION);
    ck_assert_ptr_eq(s, (mlops_schema *)(uintptr_t)0x1);
}
END_TEST

START_TEST(names) {
    ck_assert_str_eq(mlops_violation_kind_name(MLOPS_VIOLATION_NULL), "null_not_allowed");
    ck_assert_str_eq(mlops_violation_kind_name(MLOPS_VIOLATION_DUPLICATE), "duplicate_feature");
    ck_assert_str_eq(mlops_violation_kind_name((mlops_violation_kind)0), "unknown");
    ck_assert_str_eq(mlops_feature_type_name(MLOPS_FEATURE_TYPE_CATEGORICAL), "categorical");
}
END_TEST

static Suite *make_suite(void) {
    TCase *tc;
    Suite *s = test_suite_single("schema", 0, NULL, NULL, &tc);
    tcase_add_test(tc, parse_example);
    tcase_add_test(tc, parse_bad);
    tcase_add_test(tc, json_round_trip);
    tcase_add_test(tc, validate_dense);
    tcase_add_test(tc, report_cap);
    tcase_add_test(tc, impute);
    tcase_add_test(tc, named_rows);
    tcase_add_test(tc, named_rows_bad);
    tcase_add_test(tc, ignore_unknown);
    tcase_add_test(tc, infer);
    tcase_add_test(tc, names);
    return s;
}

MLOPS_TEST_MAIN(make_suite)
