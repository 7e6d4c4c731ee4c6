/* mlops-train: train an XGBoost model from a CSV through XGBoost's C API.
 *
 *   mlops-train --data train.csv --label COL --objective binary:logistic
 *               --rounds N --max-depth D --out model.json [--eta E] [--seed S]
 *
 * The CSV has a header; every column but the label is a feature, and the
 * header names are stored in the model. The output format follows the file
 * extension: .json or .ubj (XGBoost's legacy binary format cannot hold the
 * feature names, so other extensions are refused). schema.json is written
 * beside the model after the model is saved. Existing files are not
 * overwritten without --force. Labels and features must be finite (missing
 * features are fine; a row with a missing label is skipped and reported).
 * Exit status: 0 ok, 3 trained but rows were skipped, 2 error. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xgboost/c_api.h>

#include "cli_opts.h"
#include "cli_progress.h"
#include "cli_util.h"
#include "mlops.h"
#include "train_lineage.h"

#define XGB(call)                                                                                            \
    do {                                                                                                     \
        if ((call) != 0) {                                                                                   \
            fprintf(stderr, "mlops-train: xgboost: %s\n", XGBGetLastError());                                \
            goto fail;                                                                                       \
        }                                                                                                    \
    } while (0)

/* schema.json in the model's directory. */
static void schema_path(const char *model_path, char *path, size_t cap) {
    const char *slash = strrchr(model_path, '/');
    int dir_len = slash ? (int)(slash - model_path) : 1;
    snprintf(path, cap, "%.*s/schema.json", dir_len, slash ? model_path : ".");
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Write schema.json beside the model, inferred from the training rows. */
static int write_schema(const char *path, const float *x, size_t n_rows, size_t n_feat, const char **names,
                        int quiet) {
    mlops_schema *s = NULL;
    if (mlops_schema_infer(x, n_rows, n_feat, names, NULL, &s) != MLOPS_OK ||
        mlops_schema_save(s, path) != MLOPS_OK) {
        fprintf(stderr, "mlops-train: schema: %s\n", mlops_last_error());
        mlops_schema_free(s);
        return -1;
    }
    mlops_schema_free(s);
    if (!quiet) printf("mlops-train: wrote %s\n", path);
    return 0;
}

/* -1 (message printed) if a kept row holds an infinite value: XGBoost would fail without a row number. */
static int check_finite(const float *x, size_t n_rows, size_t width, const size_t *ids, const char *data,
                        const char **names, size_t n_feat, const char *label, const cli_csv *csv) {
    for (size_t r = 0; r < n_rows; r++)
        for (size_t j = 0; j < width; j++)
            if (isinf(x[r * width + j])) {
                fprintf(stderr, "mlops-train: %s row %zu (line %zu): %s %s is infinite; labels and features must be finite\n",
                        data, ids[r], csv->line[ids[r] - 1], j < n_feat ? "feature" : "label",
                        j < n_feat ? names[j] : label);
                return -1;
            }
    return 0;
}

/* The command line. */
typedef struct train_args {
    const char *data, *label, *out, *objective;
    const char *registry, *name, *sign; /* --registry DIR --name NAME [--sign KEY]: train_lineage.c */
    long rounds, depth, seed, num_class;
    double eta;
    int force, progress, quiet;
} train_args;

/* Parse argv into `a`: CLI_PARSED, CLI_HELP_SHOWN or CLI_BAD_USAGE (message printed). */
static int parse_args(train_args *a, int argc, char **argv) {
    const cli_opt opts[] = {
        CLI_OPT_STR("data", "CSV", NULL, "training rows with a header; - is standard input; required", &a->data),
        CLI_OPT_STR("label", "COL", NULL, "the label column; every other column is a feature; required", &a->label),
        CLI_OPT_STR("out", "MODEL", NULL, "the model to write, MODEL.json or MODEL.ubj; required", &a->out),
        CLI_OPT_STR("objective", "OBJ", "binary:logistic", "XGBoost objective", &a->objective),
        CLI_OPT_LONG("rounds", "N", "100", "boosting rounds", &a->rounds, 1, 100000),
        CLI_OPT_LONG("max-depth", "D", "6", "maximum tree depth", &a->depth, 0, 64),
        /* a finite positive number: nan or inf would train a model whose every prediction is NaN */
        CLI_OPT_DOUBLE("eta", "E", "0.3", "learning rate", &a->eta, 0, 1e6, 1, 0),
        CLI_OPT_LONG("seed", "S", "0", "random seed", &a->seed, 0, 1L << 30),
        CLI_OPT_LONG("num-class", "K", "0", "classes of a multi: objective; 0 = the largest label + 1", &a->num_class,
                     0, 100000),
        CLI_OPT_FLAG("force", "overwrite MODEL and the schema.json beside it if they exist", &a->force),
        CLI_OPT_STR("registry", "DIR", NULL, "also put the model in this registry, with its lineage", &a->registry),
        CLI_OPT_STR("name", "NAME", NULL, "the model's name in --registry", &a->name),
        CLI_OPT_STR("sign", "KEY", NULL, "sign the registry version with this Ed25519 key file", &a->sign),
        CLI_OPT_FLAG("progress", CLI_PROGRESS_HELP, &a->progress),
        CLI_OPT_FLAG("quiet", CLI_QUIET_HELP, &a->quiet),
        CLI_OPT_END,
    };
    const cli_prog p = {"mlops-train", "mlops-train --data CSV --label COL --out MODEL.json|MODEL.ubj [options]",
                        "Trains an XGBoost model through XGBoost's C API; the CSV header becomes the model's feature\n"
                        "names, and schema.json (the observed ranges, widened) is written beside the model.",
                        "0 ok, 2 usage, I/O or training error, 3 trained but rows were skipped", opts};
    int rc = cli_opts_parse(&p, argc, argv);
    if (rc == CLI_PARSED && a->num_class == 1) rc = cli_usage_error(&p, "--num-class: give 2 or more (or 0)");
    if (rc == CLI_PARSED && (!a->data || !a->label || !a->out))
        rc = cli_usage_error(&p, "--data, --label and --out are required");
    if (rc == CLI_PARSED && (!a->registry != !a->name || (a->sign && !a->registry)))
        rc = cli_usage_error(&p, a->registry ? "--registry needs --name NAME"
                                 : a->name   ? "--name needs --registry DIR"
                                             : "--sign needs --registry DIR and --name NAME");
    return rc;
}

/* -1 (message printed) when the model path is unusable or would overwrite files without --force. */
static int check_outputs(const train_args *a, const char *schema_file) {
    if (!ends_with(a->out, ".json") && !ends_with(a->out, ".ubj")) {
        fprintf(stderr, "mlops-train: --out %s: give a .json or .ubj file; XGBoost's legacy binary format "
                        "(any other extension) would lose the feature names, and mlops-predict matches columns "
                        "by name\n", a->out);
        return -1;
    }
    for (int f = 0; f < 2 && !a->force; f++) {
        const char *p = f ? schema_file : a->out;
        if (access(p, F_OK) == 0) {
            fprintf(stderr, "mlops-train: %s exists; pass --force to overwrite it\n", p);
            return -1;
        }
    }
    return 0;
}

/* Training data: features and labels of the usable rows. */
typedef struct train_data {
    cli_csv csv;
    const char **names;
    long *sel;
    float *x, *feat, *y;
    size_t *ids, n_feat, n_rows, n_bad, kept;
} train_data;

static void train_data_free(train_data *t) {
    free(t->feat);
    free(t->y);
    free(t->x);
    free(t->ids);
    free(t->sel);
    free(t->names);
    cli_csv_free(&t->csv);
}

/* Read the CSV; every column but the label is a feature; rows without a label are skipped. */
static int read_data(const train_args *a, train_data *t) {
    char err[512];
    if (cli_csv_read(a->data, &t->csv, err, sizeof err) != 0) {
        fprintf(stderr, "mlops-train: %s\n", err);
        return -1;
    }
    const cli_csv *csv = &t->csv;
    long lab = cli_csv_col(csv, a->label);
    if (lab < 0) {
        fprintf(stderr, "mlops-train: %s: no column named \"%s\"\n", a->data, a->label);
        return -1;
    }
    size_t n_feat = t->n_feat = csv->n_cols - 1;
    t->sel = malloc((csv->n_cols + 1) * sizeof *t->sel);
    t->names = malloc((n_feat + 1) * sizeof *t->names);
    if (!t->sel || !t->names) return fprintf(stderr, "mlops-train: out of memory\n"), -1;
    size_t k = 0;
    for (size_t c = 0; c < csv->n_cols; c++)
        if ((long)c != lab) {
            t->names[k] = csv->header[c];
            t->sel[k++] = (long)c;
        }
    t->sel[k] = lab; /* the label rides along as the last column */
    if (cli_csv_matrix(csv, "mlops-train", a->data, t->sel, n_feat + 1, &t->x, &t->n_rows, &t->ids, &t->n_bad) != 0)
        return -1;
    if (check_finite(t->x, t->n_rows, n_feat + 1, t->ids, a->data, t->names, n_feat, a->label, csv)) return -1;
    t->feat = malloc((t->n_rows ? t->n_rows : 1) * (n_feat ? n_feat : 1) * sizeof *t->feat);
    t->y = malloc((t->n_rows ? t->n_rows : 1) * sizeof *t->y);
    if (!t->feat || !t->y) return fprintf(stderr, "mlops-train: out of memory\n"), -1;
    for (size_t r = 0; r < t->n_rows; r++) {
        float lv = t->x[r * (n_feat + 1) + n_feat];
        if (isnan(lv)) {
            fprintf(stderr, "mlops-train: %s row %zu: missing label; row skipped\n", a->data, t->ids[r]);
            t->n_bad++;
            continue;
        }
        memcpy(t->feat + t->kept * n_feat, t->x + r * (n_feat + 1), n_feat * sizeof *t->feat);
        t->y[t->kept++] = lv;
    }
    if (t->kept == 0) return fprintf(stderr, "mlops-train: %s: no usable rows\n", a->data), -1;
    return 0;
}

/* The booster's parameters; -1 after XGBoost's message. */
static int set_params(BoosterHandle b, const train_args *a, long num_class) {
    char buf[32];
    XGB(XGBoosterSetParam(b, "objective", a->objective));
    snprintf(buf, sizeof buf, "%ld", a->depth);
    XGB(XGBoosterSetParam(b, "max_depth", buf));
    snprintf(buf, sizeof buf, "%.17g", a->eta);
    XGB(XGBoosterSetParam(b, "eta", buf));
    snprintf(buf, sizeof buf, "%ld", a->seed);
    XGB(XGBoosterSetParam(b, "seed", buf));
    XGB(XGBoosterSetParam(b, "verbosity", "0"));
    if (num_class > 0) {
        snprintf(buf, sizeof buf, "%ld", num_class);
        XGB(XGBoosterSetParam(b, "num_class", buf));
    }
    return 0;
fail:
    return -1;
}

/* Train and save the model; -1 after a message. */
static int train(const train_args *a, const train_data *t) {
    DMatrixHandle dm = NULL;
    BoosterHandle b = NULL;
    int rc = -1;
    long num_class = a->num_class;
    if (strncmp(a->objective, "multi:", 6) == 0 && num_class == 0) /* infer from the labels */
        for (size_t r = 0; r < t->kept; r++)
            if ((long)t->y[r] + 1 > num_class) num_class = (long)t->y[r] + 1;
    XGB(XGDMatrixCreateFromMat(t->feat, (bst_ulong)t->kept, (bst_ulong)t->n_feat, NAN, &dm));
    XGB(XGDMatrixSetFloatInfo(dm, "label", t->y, (bst_ulong)t->kept));
    XGB(XGDMatrixSetStrFeatureInfo(dm, "feature_name", t->names, (bst_ulong)t->n_feat));
    XGB(XGBoosterCreate(&dm, 1, &b));
    if (set_params(b, a, num_class) != 0) goto fail;
    cli_progress pr;
    cli_progress_begin(&pr, "mlops-train", "rounds", (size_t)a->rounds, cli_progress_mode_of(a->progress, a->quiet));
    for (long it = 0; it < a->rounds; it++) {
        if (XGBoosterUpdateOneIter(b, (int)it, dm) != 0) {
            cli_progress_end(&pr);
            XGB(-1);
        }
        cli_progress_update(&pr, (size_t)it + 1);
    }
    cli_progress_end(&pr);
    /* The booster keeps its own copy of the names (the DMatrix's are not saved). */
    XGB(XGBoosterSetStrFeatureInfo(b, "feature_name", t->names, (bst_ulong)t->n_feat));
    XGB(XGBoosterSetAttr(b, "trained_by", "mlops-train"));
    XGB(XGBoosterSetAttr(b, "label", a->label));
    XGB(XGBoosterSaveModel(b, a->out));
    rc = 0;
fail:
    if (b) XGBoosterFree(b);
    if (dm) XGDMatrixFree(dm);
    return rc;
}

/* --registry: the model as a new version, with the data digest and parameters as its lineage. */
static int record_lineage(const train_args *a) {
    char eta[32];
    snprintf(eta, sizeof eta, "%.17g", a->eta);
    const train_lineage t = {a->registry, a->name, a->sign, a->out, a->data, a->objective, eta, a->label,
                             a->rounds, a->depth, a->seed, a->num_class};
    return train_lineage_record(&t);
}

static int run(const train_args *a) {
    char schema_file[4096];
    schema_path(a->out, schema_file, sizeof schema_file);
    if (check_outputs(a, schema_file) != 0) return 2;
    train_data t;
    memset(&t, 0, sizeof t);
    int rc = 2;
    if (read_data(a, &t) == 0 && train(a, &t) == 0) {
        if (!a->quiet)
            printf("mlops-train: trained %ld rounds of %s on %zu rows x %zu features -> %s\n", a->rounds,
                   a->objective, t.kept, t.n_feat, a->out);
        /* The schema after the model, so a failed save leaves no schema describing nothing:
         * observed ranges of the training data, widened. */
        if (write_schema(schema_file, t.feat, t.kept, t.n_feat, t.names, a->quiet) == 0) rc = t.n_bad ? 3 : 0;
        if (rc != 2 && a->registry && record_lineage(a) != 0) rc = 2;
    }
    train_data_free(&t);
    return rc;
}

int main(int argc, char **argv) {
    train_args a;
    int rc = parse_args(&a, argc, argv);
    return rc == CLI_PARSED ? run(&a) : rc == CLI_HELP_SHOWN ? 0 : 2;
}
