/* mlops-drift: compare a current CSV with a reference CSV, column by column.
 *
 *   mlops-drift --reference R.csv --current C.csv [--exclude COL]... [--categorical COL]... [--json]
 *               [--html report.html] [--correction none|bonferroni|fdr] [--p-value 0.05]
 *
 * Columns whose every cell is a number (or missing) in both files get the
 * two-sample KS test (same numbers as scipy.stats.ks_2samp); columns that are
 * not numbers in either file, and those named by --categorical, the chi-square
 * test. A column numeric in one file and not in the other is an error (one
 * stray cell must not silently change the test) unless --categorical names it.
 * The report says which test each column got. Ragged rows are an error.
 * Exit status: 0 ok, 2 usage, I/O or data error.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"
#include "mlops.h"

static const char *prog = "mlops-drift";

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s --reference R.csv --current C.csv [--exclude COL]... [--categorical COL]... [--json]\n"
            "       [--html report.html] [--correction none|bonferroni|fdr] [--p-value 0.05]\n"
            "Compares every column present in both files: KS test for numeric columns, chi-square for\n"
            "non-numeric ones and those named by --categorical. A column numeric in one file only is an\n"
            "error unless named by --categorical.\n",
            prog);
}

typedef struct column {
    const char *name;
    long ri, ci; /* column in reference / current */
    int categorical;
    double *ref, *cur;
    size_t nref, ncur;
    char **labels; /* categorical: code -> label */
    size_t nlabels;
} column;

static double code_of(column *c, const char *s) {
    for (size_t i = 0; i < c->nlabels; i++)
        if (!strcmp(c->labels[i], s)) return (double)i;
    char **l = realloc(c->labels, (c->nlabels + 1) * sizeof *l);
    if (!l) return NAN;
    c->labels = l;
    c->labels[c->nlabels] = strdup(s);
    return (double)c->nlabels++;
}

/* The first row (0-based) of `csv` whose cell in column `col` is not a number, or n_rows. */
static size_t first_non_number(const cli_csv *csv, long col) {
    double v;
    for (size_t r = 0; r < csv->n_rows; r++)
        if (cli_parse_double(csv->fields[r][col], &v) != 0) return r;
    return csv->n_rows;
}

/* Decide the column's test and load its values. -1: out of memory; -2: numeric
 * in one file only (message printed). */
static int load_column(column *c, const cli_csv *R, const cli_csv *C, const char *rpath, const char *cpath,
                       int forced_categorical) {
    size_t rbad = first_non_number(R, c->ri), cbad = first_non_number(C, c->ci);
    int rnum = rbad == R->n_rows, cnum = cbad == C->n_rows;
    if (rnum != cnum && !forced_categorical) {
        const cli_csv *csv = rnum ? C : R;
        size_t row = rnum ? cbad : rbad;
        fprintf(stderr,
                "%s: column %s is numeric in %s but not in %s (row %zu (line %zu): \"%s\"); fix the data, or "
                "pass --categorical %s to compare it as categories\n",
                prog, c->name, rnum ? rpath : cpath, rnum ? cpath : rpath, row + 1, csv->line[row],
                csv->fields[row][rnum ? c->ci : c->ri], c->name);
        return -2;
    }
    c->categorical = forced_categorical || !rnum;
    c->nref = R->n_rows;
    c->ncur = C->n_rows;
    c->ref = malloc((c->nref + 1) * sizeof *c->ref);
    c->cur = malloc((c->ncur + 1) * sizeof *c->cur);
    if (!c->ref || !c->cur) return -1;
    for (int pass = 0; pass < 2; pass++) {
        const cli_csv *csv = pass ? C : R;
        double *dst = pass ? c->cur : c->ref;
        long col = pass ? c->ci : c->ri;
        for (size_t r = 0; r < csv->n_rows; r++) {
            const char *s = csv->fields[r][col];
            if (c->categorical)
                dst[r] = cli_is_missing(s) ? NAN : code_of(c, s);
            else
                cli_parse_double(s, &dst[r]);
        }
    }
    return 0;
}

typedef struct shown {
    size_t idx;
    mlops_drift_feature_result r;
} shown;

static int by_pvalue(const void *a, const void *b) {
    const shown *x = a, *y = b;
    double p = isnan(x->r.pvalue) ? 2.0 : x->r.pvalue, q = isnan(y->r.pvalue) ? 2.0 : y->r.pvalue;
    return p < q ? -1 : p > q ? 1 : (x->idx > y->idx) - (x->idx < y->idx);
}

static int by_drift_then_p(const void *a, const void *b) {
    const shown *x = a, *y = b;
    if (x->r.drift != y->r.drift) return y->r.drift - x->r.drift;
    return by_pvalue(a, b);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void html_escape(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<')
            fputs("&lt;", f);
        else if (*s == '>')
            fputs("&gt;", f);
        else if (*s == '&')
            fputs("&amp;", f);
        else if (*s == '"')
            fputs("&quot;", f);
        else
            fputc(*s, f);
    }
}

/* Sorted non-missing values; returns count. */
static size_t sorted_values(const double *v, size_t n, double **out) {
    double *s = malloc((n + 1) * sizeof *s);
    size_t k = 0;
    if (!s) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i])) s[k++] = v[i];
    qsort(s, k, sizeof *s, cmp_double);
    *out = s;
    return k;
}

static void svg_ecdf_path(FILE *f, const double *s, size_t n, double lo, double hi, const char *colour) {
    const double W = 460, H = 200, X0 = 40, Y0 = 10;
    if (!n) return;
    double span = hi > lo ? hi - lo : 1.0;
    fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" d=\"M%.1f %.1f", colour, X0, Y0 + H);
    size_t step = n > 2000 ? n / 2000 : 1; /* keep the file small */
    for (size_t i = 0; i < n; i += step) {
        size_t j = i;
        while (j + 1 < n && s[j + 1] == s[i])
            j++;
        double x = X0 + W * (isfinite(s[i]) ? (s[i] - lo) / span : (s[i] > 0 ? 1.0 : 0.0));
        double y0 = Y0 + H * (1.0 - (double)i / (double)n), y1 = Y0 + H * (1.0 - (double)(j + 1) / (double)n);
        fprintf(f, " H%.1f V%.1f", x, y0);
        fprintf(f, " V%.1f", y1);
        i = j + 1 - step;
    }
    fprintf(f, " H%.1f\"/>\n", X0 + W);
}

static int write_html(const char *path, column *cols, shown *sh, size_t n, const mlops_drift_summary *sum,
                      double pthr) {
    /* built in memory, then written with the library's safe writer (devices, FIFOs, symlinks) */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    fprintf(
        f,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Drift report</title>\n"
        "<style>body{font-family:sans-serif;margin:2em}.f{display:inline-block;margin:1em;vertical-align:top}"
        ".drift{color:#b00}</style></head><body>\n<h1>Drift report</h1>\n");
    fprintf(
        f,
        "<p>%zu of %zu columns drifted (share %.3f, threshold p &lt; %g); dataset drift: <b>%s</b>; mean KS "
        "statistic %.4f.</p>\n<p><span style=\"color:#1f77b4\">reference</span> vs <span "
        "style=\"color:#d62728\">current</span> ECDF.</p>\n",
        sum->n_drifted, sum->n_features, sum->drift_share, pthr, sum->dataset_drift ? "yes" : "no",
        sum->mean_statistic);
    for (size_t k = 0; k < n; k++) {
        column *c = &cols[sh[k].idx];
        const mlops_drift_feature_result *r = &sh[k].r;
        fprintf(f, "<div class=\"f\"><h3%s>", r->drift ? " class=\"drift\"" : "");
        html_escape(f, c->name);
        fprintf(f, "</h3><p>%s statistic %.4g, p-value %.3g%s</p>\n", c->categorical ? "chi-square" : "KS",
                r->statistic, r->pvalue, r->drift ? " &mdash; drift" : "");
        double *a = NULL, *b = NULL;
        size_t na = sorted_values(c->ref, c->nref, &a), nb = sorted_values(c->cur, c->ncur, &b);
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < na; i++)
            if (isfinite(a[i])) lo = fmin(lo, a[i]), hi = fmax(hi, a[i]);
        for (size_t i = 0; i < nb; i++)
            if (isfinite(b[i])) lo = fmin(lo, b[i]), hi = fmax(hi, b[i]);
        if (!isfinite(lo)) lo = 0, hi = 1;
        fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"520\" height=\"240\" viewBox=\"0 0 520 "
                   "240\">\n"
                   "<rect x=\"40\" y=\"10\" width=\"460\" height=\"200\" fill=\"none\" stroke=\"#ccc\"/>\n");
        svg_ecdf_path(f, a, na, lo, hi, "#1f77b4");
        svg_ecdf_path(f, b, nb, lo, hi, "#d62728");
        fprintf(
            f,
            "<text x=\"40\" y=\"228\" font-size=\"11\">%.4g</text><text x=\"500\" y=\"228\" font-size=\"11\" "
            "text-anchor=\"end\">%.4g</text><text x=\"35\" y=\"20\" font-size=\"11\" "
            "text-anchor=\"end\">1</text>"
            "<text x=\"35\" y=\"210\" font-size=\"11\" text-anchor=\"end\">0</text></svg></div>\n",
            lo, hi);
        free(a);
        free(b);
    }
    fprintf(f, "</body></html>\n");
    int err = ferror(f);
    if (fclose(f) != 0 || err) {
        free(buf);
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    mlops_status st = mlops_write_file(path, buf, len);
    free(buf);
    if (st) {
        fprintf(stderr, "%s: cannot write the report: %s\n", prog, mlops_last_error());
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *ref_path = NULL, *cur_path = NULL, *html = NULL;
    const char **exclude = calloc(2 * ((size_t)argc + 1), sizeof *exclude);
    const char **categorical = exclude + argc + 1; /* same allocation */
    size_t n_exclude = 0, n_categorical = 0;
    int as_json = 0;
    mlops_drift_opts opts = MLOPS_DRIFT_OPTS_INIT;
    if (!exclude) return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(exclude);
            return 0;
        } else if (!strcmp(a, "--json")) {
            as_json = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "%s: %s needs a value\n", prog, a);
            usage(stderr);
            free(exclude);
            return 2;
        }
        i++;
        if (!strcmp(a, "--reference"))
            ref_path = v;
        else if (!strcmp(a, "--current"))
            cur_path = v;
        else if (!strcmp(a, "--exclude"))
            exclude[n_exclude++] = v;
        else if (!strcmp(a, "--categorical"))
            categorical[n_categorical++] = v;
        else if (!strcmp(a, "--html"))
            html = v;
        else if (!strcmp(a, "--correction")) {
            if (!strcmp(v, "none"))
                opts.correction = MLOPS_DRIFT_CORRECTION_NONE;
            else if (!strcmp(v, "bonferroni"))
                opts.correction = MLOPS_DRIFT_CORRECTION_BONFERRONI;
            else if (!strcmp(v, "fdr") || !strcmp(v, "bh"))
                opts.correction = MLOPS_DRIFT_CORRECTION_BH;
            else {
                fprintf(stderr, "%s: --correction must be none, bonferroni or fdr, not '%s'\n", prog, v);
                free(exclude);
                return 2;
            }
        } else if (!strcmp(a, "--p-value")) {
            char *end;
            opts.p_value = strtod(v, &end);
            if (*end || !(opts.p_value > 0 && opts.p_value < 1)) {
                fprintf(stderr, "%s: --p-value must be a number in (0, 1), not '%s'\n", prog, v);
                free(exclude);
                return 2;
            }
        } else {
            fprintf(stderr, "%s: unknown option %s\n", prog, a);
            usage(stderr);
            free(exclude);
            return 2;
        }
    }
    if (!ref_path || !cur_path) {
        fprintf(stderr, "%s: --reference and --current are required\n", prog);
        usage(stderr);
        free(exclude);
        return 2;
    }
    cli_csv R, C;
    char err[512];
    if (cli_csv_read(ref_path, &R, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        free(exclude);
        return 2;
    }
    if (cli_csv_read(cur_path, &C, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        cli_csv_free(&R);
        free(exclude);
        return 2;
    }
    int rc = 2;
    if (cli_csv_check_ragged(&R, ref_path, err, sizeof err) || cli_csv_check_ragged(&C, cur_path, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        cli_csv_free(&R);
        cli_csv_free(&C);
        free(exclude);
        return 2;
    }
    column *cols = calloc(R.n_cols + 1, sizeof *cols);
    size_t nc = 0;
    mlops_drift *d = NULL;
    shown *sh = NULL;
    const char **names = NULL;
    mlops_feature_kind *kinds = NULL;
    double *X = NULL, *Y = NULL;
    if (!cols) goto done;
    for (size_t j = 0; j < R.n_cols; j++) {
        long ci = cli_csv_col(&C, R.header[j]);
        int skip = ci < 0;
        for (size_t e = 0; e < n_exclude && !skip; e++)
            skip = !strcmp(exclude[e], R.header[j]);
        if (skip) continue;
        cols[nc].name = R.header[j];
        cols[nc].ri = (long)j;
        cols[nc].ci = ci;
        int forced = 0;
        for (size_t k = 0; k < n_categorical && !forced; k++)
            forced = !strcmp(categorical[k], R.header[j]);
        int lc = load_column(&cols[nc], &R, &C, ref_path, cur_path, forced);
        if (lc == -1) goto oom;
        nc++; /* its buffers are freed at the end either way */
        if (lc) goto done;
    }
    for (size_t k = 0; k < n_categorical; k++)
        if (cli_csv_col(&R, categorical[k]) < 0 || cli_csv_col(&C, categorical[k]) < 0) {
            fprintf(stderr, "%s: --categorical %s: no such column in both files\n", prog, categorical[k]);
            goto done;
        }
    for (size_t e = 0; e < n_exclude; e++)
        if (cli_csv_col(&R, exclude[e]) < 0 && cli_csv_col(&C, exclude[e]) < 0)
            fprintf(stderr, "%s: warning: --exclude %s: no such column\n", prog, exclude[e]);
    if (nc == 0) {
        fprintf(stderr, "%s: %s and %s have no column in common\n", prog, ref_path, cur_path);
        goto done;
    }
    if (R.n_rows == 0 || C.n_rows == 0) {
        fprintf(stderr, "%s: %s has no data rows\n", prog, R.n_rows == 0 ? ref_path : cur_path);
        goto done;
    }
    names = calloc(nc, sizeof *names);
    kinds = calloc(nc, sizeof *kinds);
    X = malloc(R.n_rows * nc * sizeof *X);
    Y = malloc(C.n_rows * nc * sizeof *Y);
    sh = calloc(nc, sizeof *sh);
    if (!names || !kinds || !X || !Y || !sh) goto oom;
    for (size_t j = 0; j < nc; j++) {
        names[j] = cols[j].name;
        kinds[j] = cols[j].categorical ? MLOPS_FEATURE_CATEGORICAL : MLOPS_FEATURE_NUMERIC;
        for (size_t r = 0; r < R.n_rows; r++)
            X[r * nc + j] = cols[j].ref[r];
        for (size_t r = 0; r < C.n_rows; r++)
            Y[r * nc + j] = cols[j].cur[r];
    }
    opts.window = C.n_rows;
    opts.reference_size = 0;
    mlops_status st = mlops_drift_create(nc, names, kinds, &opts, &d);
    if (!st) st = mlops_drift_set_reference(d, X, R.n_rows, nc);
    if (!st) st = mlops_drift_update(d, Y, C.n_rows, nc);
    mlops_drift_summary sum;
    mlops_drift_feature_result *res = calloc(nc, sizeof *res);
    if (!res) goto oom;
    if (!st) st = mlops_drift_report(d, res, nc, &sum);
    if (st) {
        fprintf(stderr, "%s: %s (%s)\n", prog, mlops_last_error(), mlops_status_str(st));
        free(res);
        goto done;
    }
    for (size_t j = 0; j < nc; j++) {
        sh[j].idx = j;
        sh[j].r = res[j];
    }
    free(res);
    if (as_json) {
        char *json = NULL;
        st = mlops_drift_report_json(d, &json);
        if (st) {
            fprintf(stderr, "%s: %s\n", prog, mlops_last_error());
            goto done;
        }
        printf("%s\n", json);
        mlops_free(json);
    } else {
        qsort(sh, nc, sizeof *sh, by_pvalue);
        size_t w = 7;
        for (size_t j = 0; j < nc; j++)
            w = strlen(cols[j].name) > w ? strlen(cols[j].name) : w;
        printf("%-*s  %-4s  %10s  %11s  %11s  %5s  %7s\n", (int)w, "feature", "test", "statistic", "p-value",
               "adjusted", "drift", "missing");
        for (size_t k = 0; k < nc; k++) {
            const mlops_drift_feature_result *r = &sh[k].r;
            printf("%-*s  %-4s  %10.6f  %11.4e  %11.4e  %5s  %6.2f%%\n", (int)w, cols[sh[k].idx].name,
                   r->kind ? "chi2" : "ks", r->statistic, r->pvalue, r->pvalue_adjusted,
                   r->drift ? "yes" : "no", 100.0 * r->missing_rate);
        }
        printf("\n%zu of %zu columns drifted (share %.3f); dataset drift: %s; mean KS statistic %.6f\n",
               sum.n_drifted, sum.n_features, sum.drift_share, sum.dataset_drift ? "yes" : "no",
               sum.mean_statistic);
    }
    if (html) {
        qsort(sh, nc, sizeof *sh, by_drift_then_p);
        if (write_html(html, cols, sh, nc, &sum, opts.p_value)) goto done;
    }
    rc = 0;
    goto done;
oom:
    fprintf(stderr, "%s: out of memory\n", prog);
done:
    mlops_drift_free(d);
    for (size_t j = 0; cols && j < nc + 1 && j <= R.n_cols; j++) {
        free(cols[j].ref);
        free(cols[j].cur);
        for (size_t l = 0; l < cols[j].nlabels; l++)
            free(cols[j].labels[l]);
        free(cols[j].labels);
    }
    free(cols);
    free(names);
    free(kinds);
    free(X);
    free(Y);
    free(sh);
    free(exclude);
    cli_csv_free(&R);
    cli_csv_free(&C);
    return rc;
}
