/* mlops-predict: batch predictions for a CSV with a libmlops model.
 *
 *   mlops-predict --model M --input IN.csv [--output OUT.csv] [--margin] [--label COL]
 *
 * Columns are matched to the model's features by header name (any order;
 * extra columns are ignored). Malformed rows are reported on stderr and
 * skipped. Exit status: 0 ok, 2 usage or I/O error, 3 when any row was skipped. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "mlops.h"

static void usage(FILE *f) {
    fprintf(f, "usage: mlops-predict --model MODEL --input IN.csv [--output OUT.csv] [--margin]\n"
               "                     [--label COL] [--engine auto|native|xgboost] [--batch N]\n"
               "  --label COL   also score the predictions against column COL (accuracy or RMSE)\n");
}

static void print_score(const mlops_model *m, const cli_csv *csv, long label_col, const size_t *ids, size_t n,
                        const float *pred, size_t width) {
    double hits = 0, sq = 0;
    size_t counted = 0;
    mlops_task task = mlops_model_task(m);
    for (size_t r = 0; r < n; r++) {
        float y;
        if (cli_parse_float(csv->fields[ids[r] - 1][label_col], &y) != 0 || isnan(y)) continue;
        const float *p = pred + r * width;
        counted++;
        if (task == MLOPS_TASK_BINARY) {
            hits += ((p[0] > 0.5f) == (y > 0.5f));
        } else if (task == MLOPS_TASK_MULTICLASS) {
            size_t best = 0;
            if (width == 1) best = (size_t)p[0];
            else
                for (size_t k = 1; k < width; k++)
                    if (p[k] > p[best]) best = k;
            hits += ((float)best == y);
        } else {
            sq += ((double)p[0] - y) * ((double)p[0] - y);
        }
    }
    if (counted == 0) return;
    if (task == MLOPS_TASK_BINARY || task == MLOPS_TASK_MULTICLASS)
        fprintf(stderr, "mlops-predict: accuracy %.4f on %zu labelled rows\n", hits / (double)counted, counted);
    else
        fprintf(stderr, "mlops-predict: RMSE %.6g on %zu labelled rows\n", sqrt(sq / (double)counted), counted);
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *input = NULL, *output = NULL, *label = NULL, *engine = "auto";
    int margin = 0;
    long batch = 4096;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--margin") == 0) {
            margin = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (!v) {
            fprintf(stderr, "mlops-predict: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--model") == 0) model_path = v;
        else if (strcmp(a, "--input") == 0) input = v;
        else if (strcmp(a, "--output") == 0) output = v;
        else if (strcmp(a, "--label") == 0) label = v;
        else if (strcmp(a, "--engine") == 0) engine = v;
        else if (strcmp(a, "--batch") == 0 && (batch = strtol(v, NULL, 10)) > 0) continue;
        else {
            fprintf(stderr, "mlops-predict: unknown option or bad value: %s %s\n", a, v);
            usage(stderr);
            return 2;
        }
    }
    if (!model_path || !input) {
        fprintf(stderr, "mlops-predict: --model and --input are required\n");
        usage(stderr);
        return 2;
    }
    mlops_model_opts opts;
    mlops_model_opts_init(&opts);
    if (strcmp(engine, "native") == 0) opts.engine = MLOPS_ENGINE_NATIVE;
    else if (strcmp(engine, "xgboost") == 0) opts.engine = MLOPS_ENGINE_XGBOOST;
    else if (strcmp(engine, "auto") != 0) {
        fprintf(stderr, "mlops-predict: --engine must be auto, native or xgboost\n");
        return 2;
    }
    mlops_model *m = NULL;
    if (mlops_model_load(model_path, &opts, &m) != MLOPS_OK) {
        fprintf(stderr, "mlops-predict: %s\n", mlops_last_error());
        return 2;
    }
    char err[512];
    cli_csv csv;
    if (cli_csv_read(input, &csv, err, sizeof err) != 0) {
        fprintf(stderr, "mlops-predict: %s\n", err);
        mlops_model_free(m);
        return 2;
    }
    size_t n_feat = mlops_model_n_features(m);
    long *sel = malloc((n_feat ? n_feat : 1) * sizeof *sel);
    int missing_cols = 0;
    for (size_t j = 0; j < n_feat; j++) {
        sel[j] = cli_csv_col(&csv, mlops_model_feature_name(m, j));
        if (sel[j] < 0) {
            fprintf(stderr, "mlops-predict: %s has no column \"%s\" (feature %zu of the model)\n", input,
                    mlops_model_feature_name(m, j), j);
            missing_cols = 1;
        }
    }
    long label_col = label ? cli_csv_col(&csv, label) : -1;
    if (label && label_col < 0) {
        fprintf(stderr, "mlops-predict: %s has no label column \"%s\"\n", input, label);
        missing_cols = 1;
    }
    int rc = 2;
    float *x = NULL, *pred = NULL;
    size_t *ids = NULL, n_rows = 0, n_bad = 0;
    FILE *out = NULL;
    if (missing_cols) goto done;
    if (cli_csv_matrix(&csv, "mlops-predict", input, sel, n_feat, &x, &n_rows, &ids, &n_bad) != 0) goto done;
    uint32_t flags = margin ? MLOPS_PREDICT_MARGIN : 0;
    size_t width = mlops_model_output_width(m, flags);
    pred = malloc((n_rows ? n_rows : 1) * width * sizeof *pred);
    if (!pred) {
        fprintf(stderr, "mlops-predict: out of memory\n");
        goto done;
    }
    for (size_t r = 0; r < n_rows; r += (size_t)batch) {
        size_t n = n_rows - r < (size_t)batch ? n_rows - r : (size_t)batch;
        if (mlops_model_predict(m, x + r * n_feat, n, n_feat, flags, pred + r * width, n * width) != MLOPS_OK) {
            fprintf(stderr, "mlops-predict: %s\n", mlops_last_error());
            goto done;
        }
    }
    out = output ? fopen(output, "w") : stdout;
    if (!out) {
        fprintf(stderr, "mlops-predict: %s: cannot write\n", output);
        goto done;
    }
    fprintf(out, "row");
    if (width == 1) fprintf(out, ",prediction");
    else
        for (size_t k = 0; k < width; k++) fprintf(out, ",class_%zu", k);
    fprintf(out, "\n");
    for (size_t r = 0; r < n_rows; r++) {
        fprintf(out, "%zu", ids[r]);
        for (size_t k = 0; k < width; k++) fprintf(out, ",%.9g", (double)pred[r * width + k]);
        fprintf(out, "\n");
    }
    if (label) print_score(m, &csv, label_col, ids, n_rows, pred, width);
    if (n_bad) fprintf(stderr, "mlops-predict: %zu row(s) skipped, %zu predicted\n", n_bad, n_rows);
    rc = (out != stdout && fclose(out) != 0) ? 2 : n_bad ? 3 : 0;
    out = NULL;
done:
    if (out && out != stdout) fclose(out);
    free(sel);
    free(x);
    free(pred);
    free(ids);
    cli_csv_free(&csv);
    mlops_model_free(m);
    return rc;
}
