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

#include "cli_util.h"
#include "mlops.h"
#include "train_lineage.h"

static void usage(FILE *f) {
    fprintf(f, "usage: mlops-train --data CSV --label COL --out MODEL.json|MODEL.ubj [--objective OBJ]\n"
               "                   [--rounds N] [--max-depth D] [--eta E] [--seed S] [--num-class K] [--force]\n"
               "defaults: --objective binary:logistic --rounds 100 --max-depth 6 --eta 0.3 --seed 0\n"
               "--force: overwrite MODEL and the schema.json beside it if they exist\n"
               "--registry DIR --name NAME [--sign KEY]: also put the model in a registry, with its lineage\n");
}

#define XGB(call)                                                                                            \
    do {                                                                                                     \
        if ((call) != 0) {                                                                                   \
            fprintf(stderr, "mlops-train: xgboost: %s\n", XGBGetLastError());                                \
            goto fail;                                                                                       \
        }                                                                                                    \
    } while (0)

static int parse_int(const char *s, long lo, long hi, long *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

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
static int write_schema(const char *path, const float *x, size_t n_rows, size_t n_feat, const char **names) {
    mlops_schema *s = NULL;
    if (mlops_schema_infer(x, n_rows, n_feat, names, NULL, &s) != MLOPS_OK ||
        mlops_schema_save(s, path) != MLOPS_OK) {
        fprintf(stderr, "mlops-train: schema: %s\n", mlops_last_error());
        mlops_schema_free(s);
        return -1;
    }
    mlops_schema_free(s);
    printf("mlops-train: wrote %s\n", path);
    return 0;
}

/* A learning rate XGBoost can use: a finite positive number (nan or inf would
 * train a model whose every prediction is NaN). */
static int valid_eta(const char *s) {
    double d;
    return cli_parse_double(s, &d) == 0 && isfinite(d) && d > 0;
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

int main(int argc, char **argv) {
    const char *data = NULL, *label = NULL, *out = NULL, *objective = "binary:logistic", *eta = "0.3";
    const char *reg_dir = NULL, *reg_name = NULL, *sign_key = NULL; /* --registry, --name, --sign */
    long rounds = 100, depth = 6, seed = 0, num_class = 0;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--force") == 0) {
            force = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "mlops-train: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--data") == 0)
            data = v;
        else if (strcmp(a, "--label") == 0)
            label = v;
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--objective") == 0)
            objective = v;
        else if (strcmp(a, "--registry") == 0 || strcmp(a, "--name") == 0 || strcmp(a, "--sign") == 0)
            *(a[2] == 'r' ? &reg_dir : a[2] == 'n' ? &reg_name : &sign_key) = v;
        else if (strcmp(a, "--eta") == 0 && valid_eta(v))
            eta = v;
        else if (strcmp(a, "--rounds") == 0 && parse_int(v, 1, 100000, &rounds) == 0)
            continue;
        else if (strcmp(a, "--max-depth") == 0 && parse_int(v, 0, 64, &depth) == 0)
            continue;
        else if (strcmp(a, "--seed") == 0 && parse_int(v, 0, 1L << 30, &seed) == 0)
            continue;
        else if (strcmp(a, "--num-class") == 0 && parse_int(v, 2, 100000, &num_class) == 0)
            continue;
        else {
            fprintf(stderr, "mlops-train: bad option or value: %s %s\n", a, v);
            usage(stderr);
            return 2;
        }
    }
    if (!data || !label || !out) {
        fprintf(stderr, "mlops-train: --data, --label and --out are required\n");
        usage(stderr);
        return 2;
    }
    if (!ends_with(out, ".json") && !ends_with(out, ".ubj")) {
        fprintf(stderr, "mlops-train: --out %s: give a .json or .ubj file; XGBoost's legacy binary format "
                        "(any other extension) would lose the feature names, and mlops-predict matches columns "
                        "by name\n", out);
        return 2;
    }
    char schema_file[4096];
    schema_path(out, schema_file, sizeof schema_file);
    for (int f = 0; f < 2 && !force; f++) {
        const char *p = f ? schema_file : out;
        if (access(p, F_OK) == 0) {
            fprintf(stderr, "mlops-train: %s exists; pass --force to overwrite it\n", p);
            return 2;
        }
    }
    char err[512];
    cli_csv csv;
    if (cli_csv_read(data, &csv, err, sizeof err) != 0) {
        fprintf(stderr, "mlops-train: %s\n", err);
        return 2;
    }
    long lab = cli_csv_col(&csv, label);
    if (lab < 0) {
        fprintf(stderr, "mlops-train: %s: no column named \"%s\"\n", data, label);
        cli_csv_free(&csv);
        return 2;
    }
    size_t n_feat = csv.n_cols - 1;
    long *sel = malloc((csv.n_cols + 1) * sizeof *sel);
    const char **names = malloc((n_feat + 1) * sizeof *names);
    size_t k = 0;
    for (size_t c = 0; c < csv.n_cols; c++)
        if ((long)c != lab) {
            names[k] = csv.header[c];
            sel[k++] = (long)c;
        }
    sel[k] = lab; /* the label rides along as the last column */
    float *x = NULL;
    size_t n_rows = 0, n_bad = 0, *ids = NULL;
    int rc = 2;
    DMatrixHandle dm = NULL;
    BoosterHandle b = NULL;
    float *feat = NULL, *y = NULL;
    if (!sel || !names) {
        fprintf(stderr, "mlops-train: out of memory\n");
        goto fail;
    }
    if (cli_csv_matrix(&csv, "mlops-train", data, sel, n_feat + 1, &x, &n_rows, &ids, &n_bad) != 0) goto fail;
    if (check_finite(x, n_rows, n_feat + 1, ids, data, names, n_feat, label, &csv)) goto fail;
    feat = malloc((n_rows ? n_rows : 1) * (n_feat ? n_feat : 1) * sizeof *feat);
    y = malloc((n_rows ? n_rows : 1) * sizeof *y);
    if (!feat || !y) {
        fprintf(stderr, "mlops-train: out of memory\n");
        goto fail;
    }
    size_t kept = 0;
    for (size_t r = 0; r < n_rows; r++) {
        float lv = x[r * (n_feat + 1) + n_feat];
        if (isnan(lv)) {
            fprintf(stderr, "mlops-train: %s row %zu: missing label; row skipped\n", data, ids[r]);
            n_bad++;
            continue;
        }
        memcpy(feat + kept * n_feat, x + r * (n_feat + 1), n_feat * sizeof *feat);
        y[kept++] = lv;
    }
    if (kept == 0) {
        fprintf(stderr, "mlops-train: %s: no usable rows\n", data);
        goto fail;
    }
    if (strncmp(objective, "multi:", 6) == 0 && num_class == 0) { /* infer from the labels */
        for (size_t r = 0; r < kept; r++)
            if ((long)y[r] + 1 > num_class) num_class = (long)y[r] + 1;
    }
    XGB(XGDMatrixCreateFromMat(feat, (bst_ulong)kept, (bst_ulong)n_feat, NAN, &dm));
    XGB(XGDMatrixSetFloatInfo(dm, "label", y, (bst_ulong)kept));
    XGB(XGDMatrixSetStrFeatureInfo(dm, "feature_name", names, (bst_ulong)n_feat));
    XGB(XGBoosterCreate(&dm, 1, &b));
    char buf[32];
    XGB(XGBoosterSetParam(b, "objective", objective));
    snprintf(buf, sizeof buf, "%ld", depth);
    XGB(XGBoosterSetParam(b, "max_depth", buf));
    XGB(XGBoosterSetParam(b, "eta", eta));
    snprintf(buf, sizeof buf, "%ld", seed);
    XGB(XGBoosterSetParam(b, "seed", buf));
    XGB(XGBoosterSetParam(b, "verbosity", "0"));
    if (num_class > 0) {
        snprintf(buf, sizeof buf, "%ld", num_class);
        XGB(XGBoosterSetParam(b, "num_class", buf));
    }
    for (long it = 0; it < rounds; it++)
        XGB(XGBoosterUpdateOneIter(b, (int)it, dm));
    /* The booster keeps its own copy of the names (the DMatrix's are not saved). */
    XGB(XGBoosterSetStrFeatureInfo(b, "feature_name", names, (bst_ulong)n_feat));
    XGB(XGBoosterSetAttr(b, "trained_by", "mlops-train"));
    XGB(XGBoosterSetAttr(b, "label", label));
    XGB(XGBoosterSaveModel(b, out));
    printf("mlops-train: trained %ld rounds of %s on %zu rows x %zu features -> %s\n", rounds, objective,
           kept, n_feat, out);
    /* The schema after the model, so a failed save leaves no schema describing nothing:
     * observed ranges of the training data, widened. */
    if (write_schema(schema_file, feat, kept, n_feat, names) != 0) goto fail;
    if (reg_dir && train_lineage_record(&(train_lineage){reg_dir, reg_name, sign_key, out, data, objective, eta,
                                                         label, rounds, depth, seed, num_class}))
        goto fail;
    rc = n_bad ? 3 : 0;
fail:
    free(feat);
    free(y);
    if (b) XGBoosterFree(b);
    if (dm) XGDMatrixFree(dm);
    free(x);
    free(ids);
    free(sel);
    free(names);
    cli_csv_free(&csv);
    return rc;
}
