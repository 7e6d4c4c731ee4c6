/* Schema <-> model tests: derive a schema from a model trained by XGBoost (tests/schema/gen_fixtures.py)
 * and check agreement. Linked against the full library. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlops.h"
#include "harness.h"

static const char *fixtures; /* argv[1]: tests/schema/fixtures */

static mlops_model *load_fixture(void) {
    const char *dir = fixtures;
    char path[1024];
    snprintf(path, sizeof path, "%s/typed_model.json", dir);
    mlops_model *m = NULL;
    ck_assert_msg(mlops_model_load(path, NULL, &m) == MLOPS_OK, "%s", mlops_last_error());
    return m;
}

static mlops_schema *parse(const char *json) {
    mlops_schema *s = NULL;
    ck_assert_msg(mlops_schema_load_buffer(json, strlen(json), &s) == MLOPS_OK, "%s", mlops_last_error());
    return s;
}

START_TEST(from_model) {
    mlops_model *m = load_fixture();
    mlops_schema *s = NULL;
    ck_assert_int_eq(mlops_schema_from_model(m, &s), MLOPS_OK);
    ck_assert_uint_eq(mlops_schema_n_features(s), 4);
    /* the names and XGBoost types as XGBoost itself stored them (typed_model.types) */
    char path[1024];
    snprintf(path, sizeof path, "%s/typed_model.types", fixtures);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char name[64], type[16];
    size_t i = 0;
    while (fscanf(f, "%63s %15s", name, type) == 2) {
        ck_assert_str_eq(mlops_schema_feature_name(s, i), name);
        mlops_feature_type want = !strcmp(type, "int") ? MLOPS_FEATURE_TYPE_INT
                                  : !strcmp(type, "i") ? MLOPS_FEATURE_TYPE_BOOL
                                  : !strcmp(type, "c") ? MLOPS_FEATURE_TYPE_INT
                                                       : MLOPS_FEATURE_TYPE_FLOAT;
        ck_assert_int_eq(mlops_schema_feature_type(s, i), want);
        if (!strcmp(type, "c")) ck_assert_double_eq(mlops_schema_feature_min(s, i), 0);
        i++;
    }
    fclose(f);
    ck_assert_uint_eq(i, 4);
    ck_assert_int_eq(mlops_schema_check_model(s, m), MLOPS_OK);
    mlops_schema_free(s);
    mlops_model_free(m);
}
END_TEST

START_TEST(check_model) {
    mlops_model *m = load_fixture();
    mlops_schema *ok =
        parse("{\"features\": [{\"name\": \"age\", \"type\": \"int\", \"min\": 0},"
              "{\"name\": \"income\", \"type\": \"float\"},"
              "{\"name\": \"plan\", \"type\": \"categorical\", \"categories\": [\"a\", \"b\", \"c\"]},"
              "{\"name\": \"member\", \"type\": \"bool\"}]}");
    ck_assert_int_eq(mlops_schema_check_model(ok, m), MLOPS_OK);
    mlops_schema *swapped = parse("{\"features\": [{\"name\": \"income\", \"type\": \"float\"},"
                                  "{\"name\": \"age\", \"type\": \"int\"},"
                                  "{\"name\": \"plan\", \"type\": \"int\"},"
                                  "{\"name\": \"member\", \"type\": \"bool\"}]}");
    ck_assert_int_eq(mlops_schema_check_model(swapped, m), MLOPS_EVALIDATION);
    ck_assert_msg(
        strstr(mlops_last_error(), "2 features") &&
            strstr(mlops_last_error(), "feature 0 is 'income' in the schema but 'age' in the model"),
        "%s", mlops_last_error());
    mlops_schema *floatcat = parse("{\"features\": [{\"name\": \"age\", \"type\": \"int\"},"
                                   "{\"name\": \"income\", \"type\": \"float\"},"
                                   "{\"name\": \"plan\", \"type\": \"float\"},"
                                   "{\"name\": \"member\", \"type\": \"bool\"}]}");
    ck_assert_int_eq(mlops_schema_check_model(floatcat, m), MLOPS_EVALIDATION);
    ck_assert(strstr(mlops_last_error(), "'plan') is categorical in the model but float") != NULL);
    mlops_schema *three = parse("{\"features\": [{\"name\": \"age\", \"type\": \"int\"},"
                                "{\"name\": \"income\", \"type\": \"float\"},"
                                "{\"name\": \"plan\", \"type\": \"int\"}]}");
    ck_assert_int_eq(mlops_schema_check_model(three, m), MLOPS_ESHAPE);
    ck_assert_str_eq(mlops_last_error(), "schema has 3 features, the model has 4");
    ck_assert_int_eq(mlops_schema_check_model(NULL, m), MLOPS_EINVAL);
    mlops_schema *none = NULL;
    ck_assert_int_eq(mlops_schema_from_model(NULL, &none), MLOPS_EINVAL);
    ck_assert_ptr_null(none);

    /* validated named rows predict like the same dense rows */
    float x[8];
    size_t n = 0;
    const char *js = "[{\"features\": {\"age\": 30, \"income\": 51.5, \"plan\": \"c\", \"member\": true}},"
                     " {\"features\": {\"member\": false, \"plan\": \"a\", \"income\": 40, \"age\": 70}}]";
    ck_assert_int_eq(mlops_schema_parse_rows(ok, js, strlen(js), x, 8, NULL, &n, NULL), MLOPS_OK);
    const float dense[8] = {30, 51.5f, 2, 1, 70, 40, 0, 0};
    ck_assert_mem_eq(x, dense, sizeof dense);
    mlops_schema_free(ok);
    mlops_schema_free(swapped);
    mlops_schema_free(floatcat);
    mlops_schema_free(three);
    mlops_model_free(m);
}
END_TEST

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_schema_model FIXTURE_DIR\n");
        return EXIT_FAILURE;
    }
    fixtures = argv[1];
    Suite *s = suite_create("schema-model");
    TCase *tc = tcase_create("model");
    tcase_add_test(tc, from_model);
    tcase_add_test(tc, check_model);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
