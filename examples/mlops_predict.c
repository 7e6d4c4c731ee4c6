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
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli_float.h"
#include "cli_opts.h"
#include "cli_progress.h"
#include "cli_util.h"
#include "mlops.h"

/* Accuracy (classification) or RMSE of the predictions against the label column,
 * summed over the chunks of the input. */
typedef struct score_acc {
    double hits, sq;
    size_t counted, unusable, first_unusable;
    char *first_text; /* the first unusable label (malloc'd) */
} score_acc;

/* Rows ids[0..n) (1-based data rows; csv holds rows row_base + 1 ...) against their
 * predictions. Margins (--margin) are log-odds: a binary margin is class 1 above 0,
 * where a probability is above 0.5. */
static void score_rows(score_acc *acc, const mlops_model *m, const cli_csv *csv, long label_col, const size_t *ids,
                       size_t n, const float *pred, size_t width, int margin) {
    const float threshold = margin ? 0.0f : 0.5f;
    mlops_task task = mlops_model_task(m);
    for (size_t r = 0; r < n; r++) {
        float y;
        const char *cell = csv->fields[ids[r] - 1 - csv->row_base][label_col];
        int ok = cli_parse_float(cell, &y) == 0;
        if (ok && isnan(y)) continue; /* unlabelled */
        if (!ok || isinf(y)) { /* an infinite or non-numeric label cannot be scored */
            if (!acc->unusable++) {
                acc->first_unusable = ids[r];
                acc->first_text = strdup(cell);
            }
            continue;
        }
        const float *p = pred + r * width;
        acc->counted++;
        if (task == MLOPS_TASK_BINARY) {
            acc->hits += ((p[0] > threshold) == (y > 0.5f));
        } else if (task == MLOPS_TASK_MULTICLASS) {
            size_t best = 0;
            if (width == 1)
                best = (size_t)p[0];
            else
                for (size_t k = 1; k < width; k++)
                    if (p[k] > p[best]) best = k;
            acc->hits += ((float)best == y);
        } else {
            acc->sq += ((double)p[0] - y) * ((double)p[0] - y);
        }
    }
}

static void print_score(const score_acc *acc, const mlops_model *m) {
    mlops_task task = mlops_model_task(m);
    if (acc->unusable)
        fprintf(stderr,
                "mlops-predict: %zu label(s) infinite or not a number (first: row %zu, \"%s\"); "
                "those rows are not scored\n",
                acc->unusable, acc->first_unusable, acc->first_text ? acc->first_text : "?");
    if (acc->counted == 0) {
        fprintf(stderr, "mlops-predict: no usable labels: no score\n");
        return;
    }
    if (task == MLOPS_TASK_BINARY || task == MLOPS_TASK_MULTICLASS)
        fprintf(stderr, "mlops-predict: accuracy %.4f on %zu labelled rows\n", acc->hits / (double)acc->counted,
                acc->counted);
    else
        fprintf(stderr, "mlops-predict: RMSE %.6g on %zu labelled rows\n", sqrt(acc->sq / (double)acc->counted),
                acc->counted);
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

/* The command line. */
typedef struct predict_args {
    const char *model_path, *input, *output, *label, *engine, *schema_path, *metrics_out;
    int margin, all_rounds, info, progress, quiet;
    long batch, threads;
} predict_args;

/* Parse argv into `a`: CLI_PARSED, CLI_HELP_SHOWN or CLI_BAD_USAGE (message printed). */
static int parse_args(predict_args *a, int argc, char **argv) {
    const cli_opt opts[] = {
        CLI_OPT_STR("model", "FILE", NULL, "the model (XGBoost JSON, UBJSON or binary); required", &a->model_path),
        CLI_OPT_STR("input", "IN.csv", NULL, "rows to predict, with a header; - is standard input; required",
                    &a->input),
        CLI_OPT_STR("output", "OUT.csv", "-", "where the predictions go; - is standard output", &a->output),
        CLI_OPT_FLAG("margin", "write raw margins instead of transformed outputs", &a->margin),
        CLI_OPT_STR("label", "COL", NULL, "also score the predictions against column COL (accuracy or RMSE)",
                    &a->label),
        CLI_OPT_STR("schema", "FILE", NULL, "validate every row against a feature schema first", &a->schema_path),
        CLI_OPT_STR("metrics-out", "FILE", NULL, "write Prometheus metrics of the run to FILE", &a->metrics_out),
        CLI_OPT_CHOICE("engine", "NAME", "auto", "auto|native|xgboost", "evaluator: auto, native or xgboost",
                       &a->engine),
        CLI_OPT_LONG("batch", "N", "4096", "rows per predict call", &a->batch, 1, 1 << 24),
        CLI_OPT_LONG("threads", "N", "1",
                     "threads for parsing, predicting and formatting (streaming without --label or --schema: "
                     "two chunk workers, (N+1)/2 engine threads each)",
                     &a->threads, 1, 256),
        CLI_OPT_FLAG("all-rounds", "use every boosting round, not only up to the model's best_iteration",
                     &a->all_rounds),
        CLI_OPT_FLAG("info", "print the engine, fallback and rounds served to stderr", &a->info),
        CLI_OPT_FLAG("progress", CLI_PROGRESS_HELP, &a->progress),
        CLI_OPT_FLAG("quiet", CLI_QUIET_HELP, &a->quiet),
        CLI_OPT_END,
    };
    const cli_prog p = {
        "mlops-predict", "mlops-predict --model MODEL --input IN.csv [--output OUT.csv] [--label COL] [options]",
        "Batch predictions for a CSV. Columns are matched to the model's features by header name (any order,\n"
        "extra columns ignored); malformed rows, and with --schema every row that breaks the schema, are\n"
        "reported on stderr and left out.",
        "0 ok, 2 usage or I/O error, 3 when any row was left out", opts};
    int rc = cli_opts_parse(&p, argc, argv);
    if (rc == CLI_PARSED && (!a->model_path || !a->input)) rc = cli_usage_error(&p, "--model and --input are required");
    return rc;
}

/* The model, the schema (given, or the one a model with category strings defines) and the metrics. */
typedef struct predict_run {
    const predict_args *a;
    mlops_model *m;
    mlops_schema *schema;
    mlops_metrics *reg;
    mlops_metrics_std *std;
    cli_csv csv;         /* the whole file (with --schema or --label) */
    cli_csv_stream st;   /* or the file in chunks */
    const cli_csv *in;   /* csv, or the stream's current chunk */
    long *sel, label_col;
    score_acc score;     /* with --label */
    const char **names;
    size_t n_feat, n_rows, n_bad, n_invalid, width;
    float *x, *pred;     /* x: rows parsed here (owned) */
    size_t *ids;
    const float *xv;     /* the rows being predicted: x, or the stream's */
    const size_t *idv;   /* and their row numbers: ids, or the stream's */
    int write_errno;     /* errno of the first short write (the stream's error flag keeps no errno) */
} predict_run;

static int load_model(predict_run *r) {
    const predict_args *a = r->a;
    mlops_model_opts opts;
    mlops_model_opts_init(&opts, MLOPS_MODEL_OPTS_VERSION);
    opts.engine = !strcmp(a->engine, "native")    ? MLOPS_ENGINE_NATIVE
                  : !strcmp(a->engine, "xgboost") ? MLOPS_ENGINE_XGBOOST
                                                  : MLOPS_ENGINE_AUTO;
    opts.all_rounds = a->all_rounds;
    /* Streaming without --label: two chunk workers (pipeline) share the threads. (A model
     * with stored categories reads through the schema path instead, with these N/2.) */
    opts.n_threads = !a->schema_path && !a->label && a->threads > 1 ? (int)(a->threads + 1) / 2 : (int)a->threads;
    if (mlops_model_load(a->model_path, &opts, &r->m) != MLOPS_OK) return -1;
    if (a->info) print_info(r->m);
    if (a->schema_path && (mlops_schema_load(a->schema_path, &r->schema) != MLOPS_OK ||
                           mlops_schema_check_model(r->schema, r->m) != MLOPS_OK))
        return -1;
    /* Category strings stored in the model (XGBoost 3.x): read the CSV through the schema they define. */
    if (!r->schema && has_categories(r->m) && mlops_schema_from_model(r->m, &r->schema) != MLOPS_OK) return -1;
    return 0;
}

static int make_metrics(predict_run *r) {
    const predict_args *a = r->a;
    if (a->metrics_out && (mlops_metrics_create(NULL, &r->reg) != MLOPS_OK ||
                           mlops_metrics_std_create(r->reg, NULL, &r->std) != MLOPS_OK ||
                           mlops_metrics_std_set_model(r->std, r->m, cli_base_name(a->model_path), NULL) != MLOPS_OK)) {
        fprintf(stderr, "mlops-predict: metrics: %s\n", mlops_last_error());
        return -1;
    }
    return 0;
}

/* The CSV column of every model feature (and of the label); -1 after naming each one missing. */
static int select_columns(predict_run *r) {
    const char *input = r->a->input, *label = r->a->label;
    size_t n_feat = r->n_feat = mlops_model_n_features(r->m);
    r->sel = malloc((n_feat ? n_feat : 1) * sizeof *r->sel);
    r->names = malloc((n_feat ? n_feat : 1) * sizeof *r->names);
    if (!r->sel || !r->names) {
        fprintf(stderr, "mlops-predict: out of memory\n");
        return -1;
    }
    int missing_cols = 0;
    for (size_t j = 0; j < n_feat; j++) {
        r->names[j] = mlops_model_feature_name(r->m, j);
        r->sel[j] = cli_csv_col(r->in, r->names[j]);
        if (r->sel[j] < 0) {
            fprintf(stderr, "mlops-predict: %s has no column \"%s\" (feature %zu of the model)\n", input,
                    r->names[j], j);
            missing_cols = 1;
        }
    }
    r->label_col = label ? cli_csv_col(r->in, label) : -1;
    if (label && r->label_col < 0) {
        fprintf(stderr, "mlops-predict: %s has no label column \"%s\"\n", input, label);
        missing_cols = 1;
    }
    return missing_cols ? -1 : 0;
}

/* Rows to a dense matrix: through the schema when there is one. */
static int read_rows(predict_run *r) {
    const char *input = r->a->input;
    int rc = r->schema ? schema_rows(r->schema, &r->csv, input, r->sel, r->n_feat, r->names, &r->x, &r->ids,
                                     &r->n_rows, &r->n_bad, &r->n_invalid)
                       : cli_csv_matrix_mt(&r->csv, "mlops-predict", input, r->sel, r->n_feat, &r->x, &r->n_rows,
                                           &r->ids, &r->n_bad, (int)r->a->threads);
    if (rc != 0) return -1;
    r->xv = r->x;
    r->idv = r->ids;
    if (r->std && r->n_invalid) mlops_metrics_std_error(r->std, "validation", r->n_invalid);
    if (r->std && r->n_bad) mlops_metrics_std_error(r->std, "malformed", r->n_bad);
    return 0;
}

/* Predictions of rows xv[0..n_rows) into pred (room for them), in --batch calls; progress in
 * pr (or none). Any thread (the model is shared read-only, metrics are atomic). */
static int predict_block(const predict_run *r, const float *xv, size_t n_rows, float *pred, cli_progress *pr,
                         size_t done_before) {
    size_t batch = (size_t)r->a->batch, n_feat = r->n_feat, width = r->width;
    uint32_t flags = r->a->margin ? MLOPS_PREDICT_MARGIN : 0;
    for (size_t i = 0; i < n_rows; i += batch) {
        size_t n = n_rows - i < batch ? n_rows - i : batch;
        const float *x = xv + i * n_feat;
        float *out = pred + i * width;
        mlops_status st = r->std ? mlops_metrics_std_predict(r->std, r->m, x, n, n_feat, flags, out, n * width)
                                 : mlops_model_predict(r->m, x, n, n_feat, flags, out, n * width);
        if (st != MLOPS_OK) {
            if (pr) cli_progress_clear(pr);
            fprintf(stderr, "mlops-predict: %s\n", mlops_last_error());
            return -1;
        }
        if (pr) cli_progress_update(pr, done_before + i + n);
    }
    return 0;
}

/* Predictions of r->xv into r->pred (allocated), in --batch calls; progress in pr (or none). */
static int predict_rows(predict_run *r, cli_progress *pr, size_t done_before) {
    r->width = mlops_model_output_width(r->m, r->a->margin ? MLOPS_PREDICT_MARGIN : 0);
    free(r->pred);
    r->pred = malloc((r->n_rows ? r->n_rows : 1) * r->width * sizeof *r->pred);
    if (!r->pred) {
        fprintf(stderr, "mlops-predict: out of memory\n");
        return -1;
    }
    return predict_block(r, r->xv, r->n_rows, r->pred, pr, done_before);
}

static int predict_all(predict_run *r) {
    cli_progress pr;
    cli_progress_begin(&pr, "mlops-predict", "rows", r->n_rows, cli_progress_mode_of(r->a->progress, r->a->quiet));
    int rc = predict_rows(r, &pr, 0);
    cli_progress_end(&pr);
    return rc;
}

/* Rows [lo, hi) of the predictions as CSV text (row id, then the shortest
 * round-trip decimal of each output) into buf, which has room for them. */
typedef struct format_part {
    const size_t *ids; /* row numbers */
    const float *pred; /* width values a row */
    size_t width, lo, hi, len;
    char *buf;
} format_part;

/* Bytes one output row may take: a row number and width values with their separators. */
static size_t row_text_max(size_t width) { return 21 + width * (CLI_FLOAT_MAX_CHARS + 1) + 1; }

static void *format_rows(void *arg) {
    format_part *f = arg;
    char *w = f->buf;
    for (size_t i = f->lo; i < f->hi; i++) {
        char num[24];
        size_t n = 0;
        for (size_t id = f->ids[i]; n == 0 || id; id /= 10)
            num[n++] = (char)('0' + id % 10);
        while (n)
            *w++ = num[--n];
        for (size_t k = 0; k < f->width; k++) {
            *w++ = ',';
            w += cli_float_format(f->pred[i * f->width + k], w);
        }
        *w++ = '\n';
    }
    f->len = (size_t)(w - f->buf);
    return NULL;
}

/* The rows in chunks: each chunk formatted by up to --threads threads, written in order. */
static int write_rows(predict_run *r, FILE *out) {
    enum { CHUNK_ROWS = 1 << 15, MAX_PARTS = 64 };
    size_t n_parts = (size_t)r->a->threads < MAX_PARTS ? (size_t)r->a->threads : MAX_PARTS;
    size_t part_rows = (CHUNK_ROWS + n_parts - 1) / n_parts, row_max = row_text_max(r->width);
    format_part parts[MAX_PARTS];
    pthread_t tid[MAX_PARTS];
    char *buf = malloc(n_parts * part_rows * row_max);
    if (!buf) return -1;
    for (size_t lo = 0; lo < r->n_rows; lo += n_parts * part_rows) {
        for (size_t i = 0; i < n_parts; i++) {
            size_t a = lo + i * part_rows, b = a + part_rows;
            parts[i] = (format_part){r->idv, r->pred, r->width, a < r->n_rows ? a : r->n_rows,
                                     b < r->n_rows ? b : r->n_rows, 0, buf + i * part_rows * row_max};
        }
        int started[MAX_PARTS] = {0};
        for (size_t i = 1; i < n_parts; i++)
            started[i] = pthread_create(&tid[i], NULL, format_rows, &parts[i]) == 0;
        format_rows(&parts[0]);
        for (size_t i = 0; i < n_parts; i++) {
            if (started[i]) pthread_join(tid[i], NULL);
            else if (i > 0) format_rows(&parts[i]);
            if (fwrite(parts[i].buf, 1, parts[i].len, out) != parts[i].len) {
                if (!r->write_errno) r->write_errno = errno ? errno : EIO;
                break;
            }
        }
    }
    free(buf);
    return 0;
}

/* The output file with its header row, or NULL after a message. */
static FILE *open_output(const predict_run *r) {
    const char *output = r->a->output;
    FILE *out = !strcmp(output, "-") ? stdout : fopen(output, "w");
    if (!out) {
        fprintf(stderr, "mlops-predict: %s: cannot write: %s\n", output, strerror(errno));
        return NULL;
    }
    fprintf(out, "row");
    if (r->width == 1)
        fprintf(out, ",prediction");
    else
        for (size_t k = 0; k < r->width; k++)
            fprintf(out, ",class_%zu", k);
    fprintf(out, "\n");
    return out;
}

/* Flush and close (not stdout): a full disk or a closed pipe must not pass for a written file. */
static int close_output(const predict_run *r, FILE *out, int write_failed) {
    const char *output = r->a->output;
    int to_stdout = out == stdout;
    errno = 0;
    int werr = write_failed ? ENOMEM : 0;
    if (!werr && (fflush(out) != 0 || ferror(out))) werr = r->write_errno ? r->write_errno : errno ? errno : EIO;
    if (!to_stdout && fclose(out) != 0 && !werr) werr = errno;
    if (werr) {
        fprintf(stderr, "mlops-predict: %s: cannot write: %s\n", to_stdout ? "standard output" : output,
                strerror(werr));
        return -1;
    }
    return 0;
}

static int write_predictions(predict_run *r) {
    FILE *out = open_output(r);
    return out ? close_output(r, out, write_rows(r, out) != 0) : -1;
}

/* Score, left-out rows and metrics file; the exit status. */
static int report(predict_run *r) {
    const predict_args *a = r->a;
    if (a->label && r->in == &r->csv) /* the whole file (with --schema) */
        score_rows(&r->score, r->m, r->in, r->label_col, r->idv, r->n_rows, r->pred, r->width, a->margin);
    if (a->label) print_score(&r->score, r->m);
    if (r->n_bad || r->n_invalid)
        fprintf(stderr, "mlops-predict: %zu row(s) left out (%zu malformed, %zu invalid), %zu predicted\n",
                r->n_bad + r->n_invalid, r->n_bad, r->n_invalid, r->n_rows);
    if (r->reg && mlops_metrics_write_file(r->reg, MLOPS_METRICS_PROMETHEUS, a->metrics_out) != MLOPS_OK) {
        fprintf(stderr, "mlops-predict: %s\n", mlops_last_error());
        return 2;
    }
    return (r->n_bad || r->n_invalid) ? 3 : 0;
}

/* The next chunk without --label (cli_csv_stream_matrix, parsed by n_threads): 1, 0 at the
 * end, -1 after a message. Left-out rows are reported and counted here. */
static int read_numeric(predict_run *r, const float **x, const size_t **ids, size_t *n_rows, int n_threads) {
    char err[512];
    size_t bad = 0;
    int more = cli_csv_stream_matrix(&r->st, "mlops-predict", r->sel, r->n_feat, n_threads, x, ids, n_rows, &bad, err,
                                     sizeof err);
    if (more < 0) fprintf(stderr, "mlops-predict: %s\n", err);
    r->n_bad += bad;
    if (r->std && bad) mlops_metrics_std_error(r->std, "malformed", bad);
    return more;
}

/* The next chunk of the stream as rows of numbers: 1, 0 at the end, -1 after a message.
 * With --label, the chunk is split into fields (score_rows reads the label cells). */
static int stream_rows(predict_run *r) {
    if (!r->a->label) return read_numeric(r, &r->xv, &r->idv, &r->n_rows, (int)r->a->threads);
    char err[512];
    size_t bad = 0;
    free(r->x);
    free(r->ids);
    r->x = NULL;
    r->ids = NULL;
    r->n_rows = 0;
    int more = cli_csv_stream_next(&r->st, err, sizeof err);
    if (more < 0) fprintf(stderr, "mlops-predict: %s\n", err);
    if (more == 1 && cli_csv_matrix_mt(r->in, "mlops-predict", r->a->input, r->sel, r->n_feat, &r->x, &r->n_rows,
                                       &r->ids, &bad, (int)r->a->threads) != 0)
        return -1;
    r->xv = r->x;
    r->idv = r->ids;
    r->n_bad += bad;
    if (r->std && bad) mlops_metrics_std_error(r->std, "malformed", bad);
    return more;
}

/* One chunk of the stream: predict, write. */
static int stream_chunk(predict_run *r, FILE *out, cli_progress *pr, size_t done_before) {
    if (predict_rows(r, pr, done_before) != 0) return -1;
    if (r->a->label)
        score_rows(&r->score, r->m, r->in, r->label_col, r->idv, r->n_rows, r->pred, r->width, r->a->margin);
    if (write_rows(r, out) != 0) {
        fprintf(stderr, "mlops-predict: out of memory\n");
        return -1;
    }
    return 0;
}

/* With --threads N > 1 and no --label, two workers take the chunks in turn, each a whole
 * chunk: parse it (the stream, one worker at a time, with N/2 threads), predict it (the model
 * was loaded with N/2 engine threads), format it, and write it once the chunk before it is
 * written. While one parses, the other predicts and formats: both cores stay busy without a
 * third thread (issue 26: a reader thread beside a 2-thread engine left CPU idle at every
 * fork-join). The stream's double buffering keeps chunk k's rows until chunk k + 2 is
 * parsed, so a worker takes chunk k + 2 only once chunk k is written: at most two chunks in
 * memory. Left-out rows are reported while parsing, in chunk order. */
typedef struct pipe_state {
    predict_run *r;
    FILE *out;
    cli_progress *pr;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t taken, written; /* chunks taken from the stream, chunks written */
    size_t done;           /* rows written */
    int reading;           /* a worker is parsing (the stream is its) */
    int more;              /* 1 while chunks come, then 0 (the end) or -1 (reported) */
    int failed;            /* predicting or writing failed: take no more */
} pipe_state;

/* A worker's own buffers (grown as needed, kept from chunk to chunk). */
typedef struct pipe_worker {
    pipe_state *ps;
    float *pred;
    char *text;
    size_t pred_cap, text_cap;
} pipe_worker;

/* Chunk k's rows x/ids (n rows) predicted and formatted into w->text: its length, or -1
 * after a message. */
static long predict_format(pipe_worker *w, const float *x, const size_t *ids, size_t n) {
    const predict_run *r = w->ps->r;
    size_t need = (n ? n : 1) * r->width, text = n * row_text_max(r->width) + 1;
    if (need > w->pred_cap) {
        free(w->pred);
        w->pred_cap = (w->pred = malloc(need * sizeof *w->pred)) ? need : 0;
    }
    if (text > w->text_cap) {
        free(w->text);
        w->text_cap = (w->text = malloc(text)) ? text : 0;
    }
    if (!w->pred || !w->text) {
        fprintf(stderr, "mlops-predict: out of memory\n");
        return -1;
    }
    if (predict_block(r, x, n, w->pred, NULL, 0) != 0) return -1;
    format_part f = {ids, w->pred, r->width, 0, n, 0, w->text};
    format_rows(&f);
    return (long)f.len;
}

static void *pipe_worker_main(void *arg) {
    pipe_worker *w = arg;
    pipe_state *ps = w->ps;
    predict_run *r = ps->r;
    int n_parse = r->a->threads >= 4 ? (int)r->a->threads / 2 : 1;
    pthread_mutex_lock(&ps->mu);
    for (;;) {
        while (!ps->failed && ps->more == 1 && (ps->reading || ps->taken >= ps->written + 2))
            pthread_cond_wait(&ps->cv, &ps->mu);
        if (ps->failed || ps->more != 1) break;
        size_t k = ps->taken++;
        ps->reading = 1;
        pthread_mutex_unlock(&ps->mu);
        const float *x;
        const size_t *ids;
        size_t n = 0;
        int more = read_numeric(r, &x, &ids, &n, n_parse);
        pthread_mutex_lock(&ps->mu);
        ps->reading = 0;
        if (more != 1) {
            ps->more = more;
            ps->taken = k; /* no chunk k */
        }
        pthread_cond_broadcast(&ps->cv);
        if (more != 1) break;
        pthread_mutex_unlock(&ps->mu);
        long len = predict_format(w, x, ids, n);
        pthread_mutex_lock(&ps->mu);
        while (!ps->failed && ps->written != k)
            pthread_cond_wait(&ps->cv, &ps->mu);
        if (ps->failed || len < 0) {
            ps->failed = 1;
            pthread_cond_broadcast(&ps->cv);
            break;
        }
        pthread_mutex_unlock(&ps->mu);
        if (fwrite(w->text, 1, (size_t)len, ps->out) != (size_t)len && !r->write_errno) /* told at close_output */
            r->write_errno = errno ? errno : EIO;
        cli_progress_update(ps->pr, ps->done + n);
        pthread_mutex_lock(&ps->mu);
        ps->done += n;
        ps->written = k + 1;
        pthread_cond_broadcast(&ps->cv);
    }
    pthread_mutex_unlock(&ps->mu);
    return NULL;
}

/* The chunks through two workers (this thread one of them); *more as stream_rows' last
 * result, *done the rows written. Returns 1 when predicting or writing failed, -1 when the
 * workers could not start. */
static int pipeline(predict_run *r, FILE *out, cli_progress *pr, int *more, size_t *done) {
    pipe_state ps;
    memset(&ps, 0, sizeof ps);
    ps.r = r;
    ps.out = out;
    ps.pr = pr;
    ps.more = 1;
    pipe_worker w[2] = {{&ps, NULL, NULL, 0, 0}, {&ps, NULL, NULL, 0, 0}};
    if (pthread_mutex_init(&ps.mu, NULL) != 0) return -1;
    if (pthread_cond_init(&ps.cv, NULL) != 0) {
        pthread_mutex_destroy(&ps.mu);
        return -1;
    }
    pthread_t tid;
    int started = pthread_create(&tid, NULL, pipe_worker_main, &w[1]) == 0;
    pipe_worker_main(&w[0]); /* alone, if the other could not start: chunk after chunk */
    if (started) pthread_join(tid, NULL);
    pthread_cond_destroy(&ps.cv);
    pthread_mutex_destroy(&ps.mu);
    for (int i = 0; i < 2; i++) {
        free(w[i].pred);
        free(w[i].text);
    }
    *more = ps.more;
    *done = ps.done;
    return ps.failed;
}

/* Without --schema and --label: the file in chunks, in bounded memory. */
static int run_stream(predict_run *r) {
    char err[512];
    if (cli_csv_stream_open(r->a->input, 0, &r->st, err, sizeof err) != 0) {
        fprintf(stderr, "mlops-predict: %s\n", err);
        return 2;
    }
    r->in = &r->st.csv;
    r->width = mlops_model_output_width(r->m, r->a->margin ? MLOPS_PREDICT_MARGIN : 0);
    FILE *out;
    if (select_columns(r) != 0 || !(out = open_output(r))) return 2;
    cli_progress pr;
    cli_progress_begin(&pr, "mlops-predict", "rows", 0, cli_progress_mode_of(r->a->progress, r->a->quiet));
    size_t done = 0;
    int more = 1, failed = -1;
    if (r->a->threads > 1 && !r->a->label) failed = pipeline(r, out, &pr, &more, &done);
    if (failed < 0) { /* one thread (or none could start): chunk after chunk */
        failed = 0;
        while (!failed && (more = stream_rows(r)) == 1) {
            failed = stream_chunk(r, out, &pr, done) != 0;
            done += r->n_rows;
        }
    }
    cli_progress_end(&pr);
    if (close_output(r, out, 0) != 0 || failed || more < 0) return 2;
    r->n_rows = done;
    return report(r);
}

static void predict_run_free(predict_run *r) {
    free(r->sel);
    free(r->names);
    free(r->x);
    free(r->pred);
    free(r->ids);
    cli_csv_free(&r->csv);
    cli_csv_stream_close(&r->st);
    free(r->score.first_text);
    mlops_metrics_free(r->reg);
    mlops_schema_free(r->schema);
    mlops_model_free(r->m);
}

static int run(const predict_args *a) {
    predict_run r;
    memset(&r, 0, sizeof r);
    r.a = a;
    char err[512];
    int rc = 2;
    if (load_model(&r) != 0) {
        fprintf(stderr, "mlops-predict: %s\n", mlops_last_error());
    } else if (make_metrics(&r) == 0) {
        r.in = &r.csv;
        if (!r.schema)
            rc = run_stream(&r);
        else if (cli_csv_read(a->input, &r.csv, err, sizeof err) != 0)
            fprintf(stderr, "mlops-predict: %s\n", err);
        else if (select_columns(&r) == 0 && read_rows(&r) == 0 && predict_all(&r) == 0 &&
                 write_predictions(&r) == 0)
            rc = report(&r);
    }
    predict_run_free(&r);
    return rc;
}

int main(int argc, char **argv) {
    predict_args a;
    int rc = parse_args(&a, argc, argv);
    return rc == CLI_PARSED ? run(&a) : rc == CLI_HELP_SHOWN ? 0 : 2;
}
