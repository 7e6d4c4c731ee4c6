/* mlops-train: train an XGBoost model from a CSV through XGBoost's C API.
 *
 *   mlops-train --data train.csv --label COL --objective binary:logistic
 *               --rounds N --max-depth D --out model.json [--eta E] [--seed S]
 *
 * The CSV has a header; every column but the label is a feature, and the
 * header names are stored in the model. The output format follows the file
 * extension (.json, .ubj, anything else: XGBoost's legacy binary). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "cli_util.h"
#include "mlops.h"

static void usage(FILE *f) {
    fprintf(f, "usage: mlops-train --data CSV --label COL --out MODEL [--objective OBJ] [--rounds N]\n"
               "                   [--max-depth D] [--eta E] [--seed S] [--num-class K]\n"
               "defaults: --objective binary:logistic --rounds 100 --max-depth 6 --eta 0.3 --seed 0\n");
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

/* Write schema.json in the model's directory, inferred from the training rows. */
static int write_schema(const char *model_path, const float *x, size_t n_rows, size_t n_feat,
                        const char **names) {
    char path[4096];
    const char *slash = strrchr(model_path, '/');
    int dir_len = slash ? (int)(slash - model_path) : 1;
    snprintf(path, sizeof path, "%.*s/schema.json", dir_len, slash ? model_path : ".");
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

int main(int argc, char **argv) {
    const char *data = NULL, *label = NULL, *out = NULL, *objective = "binary:logistic", *eta = "0.3";
    long rounds = 100, depth = 6, seed = 0, num_class = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
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
        else if (strcmp(a, "--eta") == 0)
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
    if (cli_csv_matrix(&csv, "mlops-train", data, sel, n_feat + 1, &x, &n_rows, &ids, &n_bad) != 0) goto fail;
    float *feat = malloc((n_rows ? n_rows : 1) * (n_feat ? n_feat : 1) * sizeof *feat);
    float *y = malloc((n_rows ? n_rows : 1) * sizeof *y);
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
        free(feat);
        free(y);
        goto fail;
    }
    if (strncmp(objective, "multi:", 6) == 0 && num_class == 0) { /* infer from the labels */
        for (size_t r = 0; r < kept; r++)
            if ((long)y[r] + 1 > num_class) num_class = (long)y[r] + 1;
    }
    /* The schema beside the model: observed ranges of the training data, widened. */
    if (write_schema(out, feat, kept, n_feat, names) != 0) {
        free(feat);
        free(y);
        goto fail;
    }
    XGB(XGDMatrixCreateFromMat(feat, (bst_ulong)kept, (bst_ulong)n_feat, NAN, &dm));
    XGB(XGDMatrixSetFloatInfo(dm, "label", y, (bst_ulong)kept));
    XGB(XGDMatrixSetStrFeatureInfo(dm, "feature_name", names, (bst_ulong)n_feat));
    free(feat);
    free(y);
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
    rc = n_bad ? 3 : 0;
fail:
    if (b) XGBoosterFree(b);
    if (dm) XGDMatrixFree(dm);
    free(x);
    free(ids);
    free(sel);
    free(names);
    cli_csv_free(&csv);
    return rc;
}
