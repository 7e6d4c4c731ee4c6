/* Schema benchmarks (suite 'bench'): dense 30-feature row validation, named JSON row parse + validate,
 * and jansson's json_loadb alone on the same row in the same run. Prints times and ratios; never fails
 * on absolute time (the machine is shared and noisy). Each figure is the best of 7 repetitions. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mlops/schema.h"

#define NF 30
#define ROWS 20000
#define REPS 7

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(void) {
    /* 20 bounded floats, 5 ints, 3 bools, 2 categoricals */
    char schema_js[8192];
    size_t at = (size_t)snprintf(schema_js, sizeof schema_js, "{\"features\": [");
    for (int i = 0; i < NF; i++) {
        const char *sep = i ? "," : "";
        if (i < 20)
            at += (size_t)snprintf(
                schema_js + at, sizeof schema_js - at,
                "%s{\"name\": \"feature_%02d\", \"type\": \"float\", \"min\": -100, \"max\": 100, "
                "\"nullable\": false}",
                sep, i);
        else if (i < 25)
            at += (size_t)snprintf(
                schema_js + at, sizeof schema_js - at,
                "%s{\"name\": \"feature_%02d\", \"type\": \"int\", \"min\": 0, \"max\": 1000}", sep, i);
        else if (i < 28)
            at += (size_t)snprintf(schema_js + at, sizeof schema_js - at,
                                   "%s{\"name\": \"feature_%02d\", \"type\": \"bool\"}", sep, i);
        else
            at +=
                (size_t)snprintf(schema_js + at, sizeof schema_js - at,
                                 "%s{\"name\": \"feature_%02d\", \"type\": \"categorical\", \"categories\": "
                                 "[\"free\", \"pro\", \"team\", \"enterprise\"]}",
                                 sep, i);
    }
    snprintf(schema_js + at, sizeof schema_js - at, "]}");
    mlops_schema *s = NULL;
    if (mlops_schema_load_buffer(schema_js, strlen(schema_js), &s) != MLOPS_OK) {
        fprintf(stderr, "schema: %s\n", mlops_last_error());
        return 1;
    }

    float *x = malloc(sizeof(float) * NF * ROWS);
    unsigned char *ok = malloc(ROWS);
    srand(1);
    for (int r = 0; r < ROWS; r++)
        for (int i = 0; i < NF; i++)
            x[r * NF + i] = i < 20   ? (float)(rand() % 20000 - 10000) / 100.0f
                            : i < 25 ? (float)(rand() % 1000)
                            : i < 28 ? (float)(rand() % 2)
                                     : (float)(rand() % 4);
    double best_dense = 1e9;
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now();
        mlops_status st = mlops_schema_validate(s, x, ROWS, NF, ok, NULL);
        double t = (now() - t0) / ROWS;
        if (st != MLOPS_OK) {
            fprintf(stderr, "dense: %s\n", mlops_last_error());
            return 1;
        }
        if (t < best_dense) best_dense = t;
    }

    /* one named row, as a service receives it */
    char row[4096];
    at = (size_t)snprintf(row, sizeof row, "{\"features\": {");
    const char *cats[] = {"free", "pro", "team", "enterprise"};
    for (int i = 0; i < NF; i++) {
        const char *sep = i ? ", " : "";
        float v = x[i];
        if (i < 20)
            at += (size_t)snprintf(row + at, sizeof row - at, "%s\"feature_%02d\": %.2f", sep, i, v);
        else if (i < 25)
            at += (size_t)snprintf(row + at, sizeof row - at, "%s\"feature_%02d\": %d", sep, i, (int)v);
        else if (i < 28)
            at += (size_t)snprintf(row + at, sizeof row - at, "%s\"feature_%02d\": %s", sep, i,
                                   v ? "true" : "false");
        else
            at += (size_t)snprintf(row + at, sizeof row - at, "%s\"feature_%02d\": \"%s\"", sep, i,
                                   cats[(int)v]);
    }
    snprintf(row + at, sizeof row - at, "}}");
    size_t len = strlen(row);
    int iters = 20000;
    float out[NF];
    unsigned char rok;
    size_t n;
    mlops_schema_report *rep_obj = NULL;
    mlops_schema_report_create(0, &rep_obj);
    double best_named = 1e9, best_jansson = 1e9;
    for (int rep = 0; rep < REPS; rep++) {
        double t0 = now();
        for (int k = 0; k < iters; k++) {
            json_error_t e;
            json_t *j = json_loadb(row, len, JSON_REJECT_DUPLICATES, &e);
            if (!j) {
                fprintf(stderr, "jansson: %s\n", e.text);
                return 1;
            }
            json_decref(j);
        }
        double tj = (now() - t0) / iters;
        t0 = now();
        for (int k = 0; k < iters; k++) {
            if (mlops_schema_parse_rows(s, row, len, out, NF, &rok, &n, rep_obj) != MLOPS_OK) {
                fprintf(stderr, "named: %s\n", mlops_last_error());
                return 1;
            }
        }
        double tn = (now() - t0) / iters;
        if (tj < best_jansson) best_jansson = tj;
        if (tn < best_named) best_named = tn;
    }
    printf("row: %zu bytes, %d features (20 float, 5 int, 3 bool, 2 categorical)\n", len, NF);
    printf("dense validate:              %8.1f ns/row  (target <= 50 ns)\n", best_dense * 1e9);
    printf("named parse+validate:        %8.3f us/row  (target <= 5 us)\n", best_named * 1e6);
    printf("jansson json_loadb alone:    %8.3f us/row\n", best_jansson * 1e6);
    printf("ratio named / jansson:       %8.2f\n", best_named / best_jansson);
    printf("ratio dense / jansson:       %8.4f\n", best_dense / best_jansson);
    mlops_schema_report_free(rep_obj);
    mlops_schema_free(s);
    free(x);
    free(ok);
    return 0;
}
