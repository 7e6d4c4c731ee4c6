/* mlops-predict: batch predictions for a CSV with a libmlops model.
 *
 *   mlops-predict --model M --input IN.csv [--output OUT.csv] [--margin] [--label COL]
 *                 [--schema schema.json] [--metrics-out FILE]
 *
 * Columns are matched to the model's features by header name (any order;
 * extra columns are ignored). Malformed rows, and with --schema every row
 * that breaks the schema, are reported on stderr and left out of the output.
 * Exit status: 0 ok, 2 usage or I/O error, 3 when any row was left out. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli_util.h"
#include "mlops.h"

static void usage(FILE *f) {
    fprintf(f, "usage: mlops-predict --model MODEL --input IN.csv [--output OUT.csv] [--margin]\n"
               "                     [--label COL] [--schema SCHEMA.json] [--metrics-out FILE]\n"
               "                     [--engine auto|native|xgboost] [--batch N] [--all-rounds] [--info]\n"
               "  --label COL        also score the predictions against column COL (accuracy or RMSE)\n"
               "  --schema FILE      validate every row against a feature schema first\n"
               "  --metrics-out FILE write Prometheus metrics of the run to FILE\n"
               "  --all-rounds       use every boosting round, not only up to the model's best_iteration\n"
               "  --info             print the engine, fallback and rounds served to stderr\n");
}

static void print_score(const mlops_model *m, const cli_csv *csv, long label_col, const size_t *ids, size_t n,
                        const float *pred, size_t width) {
    double hits = 0, sq = 0;
    size_t counted = 0, unusable = 0, first_unusable = 0;
    mlops_task task = mlops_model_task(m);
    for (size_t r = 0; r < n; r++) {
        float y;
        int ok = cli_parse_float(csv->fields[ids[r] - 1][label_col], &y) == 0;
        if (ok && isnan(y)) continue; /* unlabelled */
        if (!ok || isinf(y)) { /* an infinite or non-numeric label cannot be scored */
            if (!unusable++) first_unusable = ids[r];
            continue;
        }
        const float *p = pred + r * width;
        counted++;
        if (task == MLOPS_TASK_BINARY) {
            hits += ((p[0] > 0.5f) == (y > 0.5f));
        } else if (task == MLOPS_TASK_MULTICLASS) {
            size_t best = 0;
            if (width == 1)
                best = (size_t)p[0];
            else
                for (size_t k = 1; k < width; k++)
                    if (p[k] > p[best]) best = k;
            hits += ((float)best == y);
        } else {
            sq += ((double)p[0] - y) * ((double)p[0] - y);
        }
    }
    if (unusable)
        fprintf(stderr,
                "mlops-predict: %zu label(s) infinite or not a number (first: row %zu, \"%s\"); "
                "those rows are not scored\n",
                unusable, first_unusable, csv->fields[first_unusable - 1][label_col]);
    if (counted == 0) {
        fprintf(stderr, "mlops-predict: no usable labels: no score\n");
        return;
    }
    if (task == MLOPS_TASK_BINARY || task == MLOPS_TASK_MULTICLASS)
        fprintf(stderr, "mlops-predict: accuracy %.4f on %zu labelled rows\n", hits / (double)counted,
                counted);
    else
        fprintf(stderr, "mlops-predict: RMSE %.6g on %zu labelled rows\n", sqrt(sq / (double)counted),
                counted);
}

/* A CSV cell as a JSON value for the schema: empty/NA is null, numbers are
 * numbers, true/false are booleans, anything else is a string. */
static json_t *cell_json(const char *s) {
    double d;
    if (cli_parse_double(s, &d) == 0) return isnan(d) ? json_null() : json_real(d);
    if (strcasecmp(s, "true") == 0) return json_true();
    if (strcasecmp(s, "false") == 0) return json_false();
    return json_string(s);
}

/* Validate the CSV rows through the schema (as named rows); report every
 * violation, keep the valid rows. Returns 0 or -1 on a hard error. */
static int schema_rows(const mlops_schema *schema, const cli_csv *csv, const char *input, const long *sel,
                       size_t n_feat, const char *const *names, float **x_out, size_t **ids_out,
                       size_t *n_out, size_t *n_malformed, size_t *n_invalid) {
    json_t *arr = json_array();
    size_t *src = malloc((csv->n_rows ? csv->n_rows : 1) * sizeof *src), n_json = 0;
    for (size_t r = 0; r < csv->n_rows; r++) {
        if (csv->n_fields[r] != csv->n_cols) {
            fprintf(stderr,
                    "mlops-predict: %s row %zu (line %zu): expected %zu columns, got %zu; row skipped\n",
                    input, r + 1, csv->line[r], csv->n_cols, csv->n_fields[r]);
            (*n_malformed)++;
            continue;
        }
        json_t *feats = json_object();
        for (size_t j = 0; j < n_feat; j++)
            json_object_set_new(feats, names[j], cell_json(csv->fields[r][sel[j]]));
        json_t *row = json_object();
        json_object_set_new(row, "features", feats);
        json_array_append_new(arr, row);
        src[n_json++] = r + 1;
    }
    char *text = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    float *x = malloc((n_json ? n_json : 1) * n_feat * sizeof *x);
    unsigned char *ok = malloc(n_json ? n_json : 1);
    size_t *ids = malloc((n_json ? n_json : 1) * sizeof *ids);
    mlops_schema_report *rep = NULL;
    size_t n_rows = 0;
    int rc = -1;
    if (!text || !x || !ok || !ids || mlops_schema_report_create(0, &rep) != MLOPS_OK) {
        fprintf(stderr, "mlops-predict: out of memory\n");
        goto done;
    }
    mlops_status st =
        mlops_schema_parse_rows(schema, text, strlen(text), x, n_json * n_feat, ok, &n_rows, rep);
    if (st != MLOPS_OK && st != MLOPS_EVALIDATION) {
        fprintf(stderr, "mlops-predict: %s: %s\n", input, mlops_last_error());
        goto done;
    }
    for (size_t i = 0; i < mlops_schema_report_count(rep); i++) {
        const char *fname = mlops_schema_report_feature_name(rep, i);
        size_t r = src[mlops_schema_report_row(rep, i)]; /* 1-based data row */
        fprintf(stderr, "mlops-predict: %s row %zu (line %zu), feature %s: %s: %s; row skipped\n", input, r,
                csv->line[r - 1], fname ? fname : "-", mlops_violation_kind_name(mlops_schema_report_kind(rep, i)),
                cli_violation_detail(mlops_schema_report_message(rep, i)));
    }
    if (mlops_schema_report_n_omitted(rep))
        fprintf(stderr, "mlops-predict: ... and %zu more violation(s)\n", mlops_schema_report_n_omitted(rep));
    size_t kept = 0;
    for (size_t r = 0; r < n_rows; r++) {
        if (!ok[r]) {
            (*n_invalid)++;
            continue;
        }
        memmove(x + kept * n_feat, x + r * n_feat, n_feat * sizeof *x);
        ids[kept++] = src[r];
    }
    mlops_schema_impute(schema, x, kept, n_feat);
    *x_out = x;
    *ids_out = ids;
    *n_out = kept;
    x = NULL;
    ids = NULL;
    rc = 0;
done:
    mlops_schema_report_free(rep);
    free(text);
    free(x);
    free(ok);
    free(ids);
    free(src);
    return rc;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int has_categories(const mlops_model *m) {
    for (size_t j = 0; j < mlops_model_n_features(m); j++)
        if (mlops_model_n_categories(m, j)) return 1;
    return 0;
}

static void print_info(const mlops_model *m) {
    unsigned b = mlops_model_iteration_begin(m), e = mlops_model_iteration_end(m);
    fprintf(stderr, "mlops-predict: engine %s, fallback %s, rounds [%u, %u) of %zu, best_iteration %ld\n",
            mlops_engine_name(mlops_model_engine(m)), mlops_model_fallback(m) ? "xgboost" : "none", b, e,
            mlops_model_n_rounds(m), mlops_model_best_iteration(m));
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *input = NULL, *output = NULL, *label = NULL, *engine = "auto";
    const char *schema_path = NULL, *metrics_out = NULL;
    int margin = 0, all_rounds = 0, info = 0;
    long batch = 4096;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--margin") == 0 || strcmp(a, "--all-rounds") == 0 || strcmp(a, "--info") == 0) {
            *(a[2] == 'm' ? &margin : a[2] == 'a' ? &all_rounds : &info) = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (!v) {
            fprintf(stderr, "mlops-predict: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        if (strcmp(a, "--model") == 0)
            model_path = v;
        else if (strcmp(a, "--input") == 0)
            input = v;
        else if (strcmp(a, "--output") == 0)
            output = v;
        else if (strcmp(a, "--label") == 0)
            label = v;
        else if (strcmp(a, "--engine") == 0)
            engine = v;
        else if (strcmp(a, "--schema") == 0)
            schema_path = v;
        else if (strcmp(a, "--metrics-out") == 0)
            metrics_out = v;
        else if (strcmp(a, "--batch") == 0 && (batch = strtol(v, NULL, 10)) > 0)
            continue;
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
    mlops_model_opts_init(&opts, MLOPS_MODEL_OPTS_VERSION);
    if (strcmp(engine, "native") == 0)
        opts.engine = MLOPS_ENGINE_NATIVE;
    else if (strcmp(engine, "xgboost") == 0)
        opts.engine = MLOPS_ENGINE_XGBOOST;
    else if (strcmp(engine, "auto") != 0) {
        fprintf(stderr, "mlops-predict: --engine must be auto, native or xgboost\n");
        return 2;
    }
    opts.all_rounds = all_rounds;
    int rc = 2;
    mlops_model *m = NULL;
    mlops_schema *schema = NULL;
    mlops_metrics *reg = NULL;
    mlops_metrics_std *std = NULL;
    float *x = NULL, *pred = NULL;
    size_t *ids = NULL, n_rows = 0, n_bad = 0, n_invalid = 0;
    long *sel = NULL;
    const char **names = NULL;
    FILE *out = NULL;
    cli_csv csv;
    memset(&csv, 0, sizeof csv);
    if (mlops_model_load(model_path, &opts, &m) != MLOPS_OK) {
        fprintf(stderr, "mlops-predict: %s\n", mlops_last_error());
        goto done;
    }
    if (info) print_info(m);
    if (schema_path && (mlops_schema_load(schema_path, &schema) != MLOPS_OK ||
                        mlops_schema_check_model(schema, m) != MLOPS_OK)) {
        fprintf(stderr, "mlops-predict: %s\n", mlops_last_error());
        goto done;
    }
    /* Category strings stored in the model (XGBoost 3.x): read the CSV through the schema they define. */
    if (!schema && has_categories(m) && mlops_schema_from_model(m, &schema) != MLOPS_OK) {
        fprintf(stderr, "mlops-predict: %s\n", mlops_last_error());
        goto done;
    }
    if (metrics_out && (mlops_metrics_create(NULL, &reg) != MLOPS_OK ||
                        mlops_metrics_std_create(reg, NULL, &std) != MLOPS_OK ||
                        mlops_metrics_std_set_model(std, m, base_name(model_path), NULL) != MLOPS_OK)) {
        fprintf(stderr, "mlops-predict: metrics: %s\n", mlops_last_error());
        goto done;
    }
    char err[512];
    if (cli_csv_read(input, &csv, err, sizeof err) != 0) {
        fprintf(stderr, "mlops-predict: %s\n", err);
        goto done;
    }
    size_t n_feat = mlops_model_n_features(m);
    sel = malloc((n_feat ? n_feat : 1) * sizeof *sel);
    names = malloc((n_feat ? n_feat : 1) * sizeof *names);
    int missing_cols = 0;
    for (size_t j = 0; j < n_feat; j++) {
        names[j] = mlops_model_feature_name(m, j);
        sel[j] = cli_csv_col(&csv, names[j]);
        if (sel[j] < 0) {
            fprintf(stderr, "mlops-predict: %s has no column \"%s\" (feature %zu of the model)\n", input,
                    names[j], j);
            missing_cols = 1;
        }
    }
    long label_col = label ? cli_csv_col(&csv, label) : -1;
    if (label && label_col < 0) {
        fprintf(stderr, "mlops-predict: %s has no label column \"%s\"\n", input, label);
        missing_cols = 1;
    }
    if (missing_cols) goto done;
    if (schema) {
        if (schema_rows(schema, &csv, input, sel, n_feat, names, &x, &ids, &n_rows, &n_bad, &n_invalid) != 0)
            goto done;
    } else if (cli_csv_matrix(&csv, "mlops-predict", input, sel, n_feat, &x, &n_rows, &ids, &n_bad) != 0) {
        goto done;
    }
    if (std && n_invalid) mlops_metrics_std_error(std, "validation", n_invalid);
    if (std && n_bad) mlops_metrics_std_error(std, "malformed", n_bad);
    uint32_t flags = margin ? MLOPS_PREDICT_MARGIN : 0;
    size_t width = mlops_model_output_width(m, flags);
    pred = malloc((n_rows ? n_rows : 1) * width * sizeof *pred);
    if (!pred) {
        fprintf(stderr, "mlops-predict: out of memory\n");
        goto done;
    }
    for (size_t r = 0; r < n_rows; r += (size_t)batch) {
        size_t n = n_rows - r < (size_t)batch ? n_rows - r : (size_t)batch;
        mlops_status st =
            std ? mlops_metrics_std_predict(std, m, x + r * n_feat, n, n_feat, flags, pred + r * width,
                                            n * width)
                : mlops_model_predict(m, x + r * n_feat, n, n_feat, flags, pred + r * width, n * width);
        if (st != MLOPS_OK) {
            fprintf(stderr, "mlops-predict: %s\n", mlops_last_error());
            goto done;
        }
    }
    out = output ? fopen(output, "w") : stdout;
    if (!out) {
        fprintf(stderr, "mlops-predict: %s: cannot write: %s\n", output, strerror(errno));
        goto done;
    }
    fprintf(out, "row");
    if (width == 1)
        fprintf(out, ",prediction");
    else
        for (size_t k = 0; k < width; k++)
            fprintf(out, ",class_%zu", k);
    fprintf(out, "\n");
    for (size_t r = 0; r < n_rows; r++) {
        fprintf(out, "%zu", ids[r]);
        for (size_t k = 0; k < width; k++)
            fprintf(out, ",%.9g", (double)pred[r * width + k]);
        fprintf(out, "\n");
    }
    if (label) print_score(m, &csv, label_col, ids, n_rows, pred, width);
    if (n_bad || n_invalid)
        fprintf(stderr, "mlops-predict: %zu row(s) left out (%zu malformed, %zu invalid), %zu predicted\n",
                n_bad + n_invalid, n_bad, n_invalid, n_rows);
    /* A full disk or a closed pipe must not pass for a written file. */
    errno = 0;
    int werr = (fflush(out) != 0 || ferror(out)) ? (errno ? errno : EIO) : 0;
    if (out != stdout && fclose(out) != 0 && !werr) werr = errno;
    out = NULL;
    if (werr) {
        fprintf(stderr, "mlops-predict: %s: cannot write: %s\n", output ? output : "standard output",
                strerror(werr));
        goto done;
    }
    if (reg && mlops_metrics_write_file(reg, MLOPS_METRICS_PROMETHEUS, metrics_out) != MLOPS_OK) {
        fprintf(stderr, "mlops-predict: %s\n", mlops_last_error());
        goto done;
    }
    rc = (n_bad || n_invalid) ? 3 : 0;
done:
    if (out && out != stdout) fclose(out);
    free(sel);
    free(names);
    free(x);
    free(pred);
    free(ids);
    cli_csv_free(&csv);
    mlops_metrics_free(reg);
    mlops_schema_free(schema);
    mlops_model_free(m);
    return rc;
}
