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
 * Exit status: 0 ok, 2 usage, I/O or data error, 3 with --fail-on-drift when any column drifted.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_opts.h"
#include "cli_progress.h"

#include "cli_util.h"
#include "drift_merge.h"
#include "mlops.h"

static const char *prog = "mlops-drift";

typedef struct column {
    const char *name;
    long ri, ci; /* column in reference / current */
    int categorical;
    double *ref, *cur;
    size_t nref, ncur;
    char **labels; /* categorical: code -> label */
    size_t nlabels;
    /* the chunked reader's path (fast_inputs) */
    size_t cap_ref, cap_cur;
    int forced;     /* named by --categorical */
    int ref_num;    /* every reference cell a number (or missing) */
    int cur_nonnum; /* a current cell not a number */
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

/* The HTML report: the library's page (mlops_drift_report_html) with the CSV labels of the
 * categorical columns, written with the library's safe writer (devices, FIFOs, symlinks). */
static int write_html(const char *path, mlops_drift *d, const column *cols, size_t nc) {
    const char *const **labels = calloc(nc, sizeof *labels);
    size_t *n_labels = calloc(nc, sizeof *n_labels);
    char *html = NULL;
    size_t len = 0;
    mlops_status st = MLOPS_ENOMEM;
    if (labels && n_labels) {
        for (size_t j = 0; j < nc; j++) {
            labels[j] = (const char *const *)cols[j].labels;
            n_labels[j] = cols[j].nlabels;
        }
        st = mlops_drift_report_html(d, labels, n_labels, &html, &len);
        if (!st) st = mlops_write_file(path, html, len);
    }
    free(labels);
    free(n_labels);
    mlops_free(html);
    if (st) {
        fprintf(stderr, "%s: cannot write the report: %s\n", prog,
                st == MLOPS_ENOMEM && !labels ? "out of memory" : mlops_last_error());
        return -1;
    }
    return 0;
}

/* The command line. */
typedef struct drift_args {
    const char *ref_path, *cur_path, *html, *correction;
    cli_list exclude, categorical;
    int json, fail_on_drift, progress, quiet;
    mlops_drift_opts opts;
} drift_args;

/* Parse argv into `a`: CLI_PARSED, CLI_HELP_SHOWN or CLI_BAD_USAGE (message printed). */
static int parse_args(drift_args *a, int argc, char **argv) {
    const cli_opt opts[] = {
        CLI_OPT_STR("reference", "R.csv", NULL, "the reference data (e.g. training); required", &a->ref_path),
        CLI_OPT_STR("current", "C.csv", NULL, "the data to compare with it; required", &a->cur_path),
        CLI_OPT_LIST("exclude", "COL", "leave column COL out", &a->exclude),
        CLI_OPT_LIST("categorical", "COL", "compare column COL as categories (chi-square)", &a->categorical),
        CLI_OPT_FLAG("json", "write the report as JSON instead of a table", &a->json),
        CLI_OPT_STR("html", "FILE", NULL, "also write a self-contained HTML report with an ECDF per column", &a->html),
        CLI_OPT_CHOICE("correction", "METHOD", "none", "none|bonferroni|fdr|bh",
                       "multiple-test correction of the p-values (bh is fdr)", &a->correction),
        CLI_OPT_DOUBLE("p-value", "P", "0.05", "a column drifts when its (adjusted) p-value is below P",
                       &a->opts.p_value, 0, 1, 1, 1),
        CLI_OPT_FLAG("fail-on-drift", "exit 3 when any column drifted (a CI gate)", &a->fail_on_drift),
        CLI_OPT_FLAG("progress", CLI_PROGRESS_HELP, &a->progress),
        CLI_OPT_FLAG("quiet", CLI_QUIET_HELP, &a->quiet),
        CLI_OPT_END,
    };
    const cli_prog p = {prog,
                        "mlops-drift --reference R.csv --current C.csv [--exclude COL]... [options]\n"
                        "       mlops-drift --merge SNAPSHOT|URL... [--json] [--html FILE] [--token-file FILE]",
                        "Compares every column present in both files: KS test for numeric columns, chi-square for\n"
                        "non-numeric ones and those named by --categorical. A column numeric in one file only is an\n"
                        "error unless named by --categorical.",
                        "0 ok (drift or not), 2 usage, I/O or data error, 3 with --fail-on-drift when any column "
                        "drifted",
                        opts};
    mlops_drift_opts def = MLOPS_DRIFT_OPTS_INIT;
    a->opts = def;
    int rc = cli_opts_parse(&p, argc, argv);
    if (rc == CLI_PARSED && (!a->ref_path || !a->cur_path))
        rc = cli_usage_error(&p, "--reference and --current are required");
    a->opts.correction = !strcmp(a->correction, "bonferroni") ? MLOPS_DRIFT_CORRECTION_BONFERRONI
                         : !strcmp(a->correction, "none")     ? MLOPS_DRIFT_CORRECTION_NONE
                                                              : MLOPS_DRIFT_CORRECTION_BH;
    return rc;
}

/* Both files, read and checked for ragged rows: whole (R, C) or in chunks (rs, cs). */
typedef struct drift_run {
    const drift_args *a;
    cli_csv R, C;
    cli_csv_stream rs, cs;
    size_t nr, ncur; /* data rows of the reference and of the current file */
    column *cols;
    size_t nc;
    mlops_drift *d;
    shown *sh;
    mlops_drift_summary sum;
} drift_run;

static int read_inputs(drift_run *r) {
    char err[512];
    if (cli_csv_read(r->a->ref_path, &r->R, err, sizeof err) || cli_csv_read(r->a->cur_path, &r->C, err, sizeof err) ||
        cli_csv_check_ragged(&r->R, r->a->ref_path, err, sizeof err) ||
        cli_csv_check_ragged(&r->C, r->a->cur_path, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    return 0;
}

/* The columns present in both files and not excluded, each with its test and values. */
static int build_columns(drift_run *r) {
    const drift_args *a = r->a;
    const cli_csv *R = &r->R, *C = &r->C;
    r->cols = calloc(R->n_cols + 1, sizeof *r->cols);
    if (!r->cols) return fprintf(stderr, "%s: out of memory\n", prog), -1;
    for (size_t j = 0; j < R->n_cols; j++) {
        long ci = cli_csv_col(C, R->header[j]);
        if (ci < 0 || cli_list_has(&a->exclude, R->header[j])) continue;
        column *c = &r->cols[r->nc];
        c->name = R->header[j];
        c->ri = (long)j;
        c->ci = ci;
        int lc = load_column(c, R, C, a->ref_path, a->cur_path, cli_list_has(&a->categorical, R->header[j]));
        r->nc++; /* its buffers are freed at the end either way */
        if (lc == -1) fprintf(stderr, "%s: out of memory\n", prog);
        if (lc) return -1;
    }
    for (size_t k = 0; k < a->categorical.n; k++)
        if (cli_csv_col(R, a->categorical.v[k]) < 0 || cli_csv_col(C, a->categorical.v[k]) < 0) {
            fprintf(stderr, "%s: --categorical %s: no such column in both files\n", prog, a->categorical.v[k]);
            return -1;
        }
    for (size_t e = 0; e < a->exclude.n; e++)
        if (cli_csv_col(R, a->exclude.v[e]) < 0 && cli_csv_col(C, a->exclude.v[e]) < 0)
            fprintf(stderr, "%s: warning: --exclude %s: no such column\n", prog, a->exclude.v[e]);
    if (r->nc == 0) return fprintf(stderr, "%s: %s and %s have no column in common\n", prog, a->ref_path, a->cur_path), -1;
    if (R->n_rows == 0 || C->n_rows == 0) {
        fprintf(stderr, "%s: %s has no data rows\n", prog, R->n_rows == 0 ? a->ref_path : a->cur_path);
        return -1;
    }
    r->nr = R->n_rows;
    r->ncur = C->n_rows;
    return 0;
}

/* ---- the chunked reader (issue 26) ----
 * Both files through cli_csv_stream, one chunk of text at a time, each chunk's cells parsed
 * row by row into the columns' values. It takes the common case only: regular files (not
 * "-"), no unreadable record, no ragged row, a column not named by --categorical either a
 * number (or missing) in every cell of both files, or not a number in both files, with a
 * reference cell that is not a number in the first chunk (the earlier cells' text is then
 * still there to turn them into categories). Anything else makes fast_inputs return 1
 * without a message, and the whole-file path (read_inputs, build_columns) runs from the
 * start: same checks, same messages. The values and codes are the whole-file path's. */

/* Append x to *v (n values, room for *cap). 0, or -1 out of memory. */
static int push_value(double **v, size_t n, size_t *cap, double x) {
    if (n == *cap) {
        size_t nc = *cap ? *cap * 2 : 1024;
        double *nv = realloc(*v, nc * sizeof *nv);
        if (!nv) return -1;
        *v = nv;
        *cap = nc;
    }
    (*v)[n] = x;
    return 0;
}

static double category(column *c, const char *s) { return cli_is_missing(s) ? NAN : code_of(c, s); }

/* Reference rows [0, upto) of this chunk (the column's first values) as categories. */
static void recode_chunk(column *c, const cli_csv *csv, size_t upto) {
    for (size_t i = 0; i < upto; i++)
        c->ref[i] = category(c, csv->fields[i][c->ri]);
}

/* One cell of file `cur` (0 the reference) into column c: 0, 1 to fall back, -1 out of memory. */
static int fast_cell(column *c, int cur, const cli_csv *csv, size_t i, size_t base) {
    const char *s = csv->fields[i][cur ? c->ci : c->ri];
    double v = NAN, ignored;
    if (!c->categorical && cli_parse_double(s, &v) != 0) { /* the column's first non-number */
        if (cur || base) return 1;                        /* an error, or earlier chunks' text is gone */
        c->categorical = 1;
        recode_chunk(c, csv, i);
    }
    if (c->categorical) {
        v = category(c, s);
        if (cur && !c->forced && !c->cur_nonnum) c->cur_nonnum = cli_parse_double(s, &ignored) != 0;
    }
    return cur ? push_value(&c->cur, c->ncur++, &c->cap_cur, v) : push_value(&c->ref, c->nref++, &c->cap_ref, v);
}

/* The chunk's rows into every column, row by row: 0, 1 to fall back, -1 out of memory. */
static int fast_chunk(drift_run *r, int cur, const cli_csv *csv) {
    const char *path = cur ? r->a->cur_path : r->a->ref_path;
    char err[512];
    if (cli_csv_check_ragged(csv, path, err, sizeof err) != 0) return 1;
    size_t *n = cur ? &r->ncur : &r->nr, base = *n;
    for (size_t i = 0; i < csv->n_rows; i++)
        for (size_t j = 0; j < r->nc; j++) {
            int rc = fast_cell(&r->cols[j], cur, csv, i, base);
            if (rc) return rc;
        }
    *n += csv->n_rows;
    return 0;
}

/* Every chunk of one file: 0, 1 to fall back, -1 out of memory. */
static int fast_file(drift_run *r, int cur) {
    cli_csv_stream *st = cur ? &r->cs : &r->rs;
    char err[512];
    int more = 0, rc = 0;
    while (!rc && (more = cli_csv_stream_next(st, err, sizeof err)) == 1)
        rc = fast_chunk(r, cur, &st->csv);
    return rc ? rc : more < 0;
}

/* The columns in both headers, not excluded: 0, or 1 to fall back. */
static int fast_columns(drift_run *r) {
    const drift_args *a = r->a;
    const cli_csv *R = &r->rs.csv, *C = &r->cs.csv;
    for (size_t k = 0; k < a->categorical.n; k++)
        if (cli_csv_col(R, a->categorical.v[k]) < 0 || cli_csv_col(C, a->categorical.v[k]) < 0) return 1;
    if (!(r->cols = calloc(R->n_cols + 1, sizeof *r->cols))) return 1;
    for (size_t j = 0; j < R->n_cols; j++) {
        long ci = cli_csv_col(C, R->header[j]);
        if (ci < 0 || cli_list_has(&a->exclude, R->header[j])) continue;
        column *c = &r->cols[r->nc++];
        c->name = R->header[j];
        c->ri = (long)j;
        c->ci = ci;
        c->forced = c->categorical = cli_list_has(&a->categorical, R->header[j]);
    }
    return r->nc == 0;
}

static void free_columns(drift_run *r) {
    for (size_t j = 0; r->cols && j < r->nc; j++) {
        free(r->cols[j].ref);
        free(r->cols[j].cur);
        for (size_t l = 0; l < r->cols[j].nlabels; l++)
            free(r->cols[j].labels[l]);
        free(r->cols[j].labels);
    }
    free(r->cols);
    r->cols = NULL;
    r->nc = 0;
}

/* Both files in chunks: 0 (columns and values ready), 1 to take the whole-file path (nothing
 * printed, nothing kept), -1 out of memory (printed). */
static int fast_inputs(drift_run *r) {
    const drift_args *a = r->a;
    char err[512];
    if (!strcmp(a->ref_path, "-") || !strcmp(a->cur_path, "-")) return 1;
    int rc = 1;
    if (cli_csv_stream_open(a->ref_path, 0, &r->rs, err, sizeof err) == 0 &&
        cli_csv_stream_open(a->cur_path, 0, &r->cs, err, sizeof err) == 0 && fast_columns(r) == 0 &&
        (rc = fast_file(r, 0)) == 0) {
        for (size_t j = 0; j < r->nc; j++) /* the reference's verdict on each column */
            r->cols[j].ref_num = !r->cols[j].categorical;
        rc = fast_file(r, 1);
    }
    for (size_t j = 0; rc == 0 && j < r->nc; j++) /* not a number in the reference only: an error */
        if (!r->cols[j].forced && !r->cols[j].ref_num && !r->cols[j].cur_nonnum) rc = 1;
    if (rc == 0 && (r->nr == 0 || r->ncur == 0)) rc = 1;
    if (rc == 0) {
        for (size_t e = 0; e < a->exclude.n; e++)
            if (cli_csv_col(&r->rs.csv, a->exclude.v[e]) < 0 && cli_csv_col(&r->cs.csv, a->exclude.v[e]) < 0)
                fprintf(stderr, "%s: warning: --exclude %s: no such column\n", prog, a->exclude.v[e]);
        return 0;
    }
    if (rc < 0) fprintf(stderr, "%s: out of memory\n", prog);
    free_columns(r);
    cli_csv_stream_close(&r->rs);
    cli_csv_stream_close(&r->cs);
    r->nr = r->ncur = 0;
    return rc;
}

/* Rows handed to the detector per update, between progress lines. */
#define UPDATE_ROWS 65536

/* The detector over the columns: reference, then the current rows in chunks; the per-column results. */
static int detect(drift_run *r) {
    size_t nc = r->nc, nr = r->nr, ncur = r->ncur;
    const char **names = calloc(nc, sizeof *names);
    mlops_feature_kind *kinds = calloc(nc, sizeof *kinds);
    double *X = malloc(nr * nc * sizeof *X), *Y = malloc(ncur * nc * sizeof *Y);
    mlops_drift_feature_result *res = calloc(nc, sizeof *res);
    r->sh = calloc(nc, sizeof *r->sh);
    mlops_status st = MLOPS_ENOMEM;
    if (names && kinds && X && Y && res && r->sh) {
        for (size_t j = 0; j < nc; j++) {
            names[j] = r->cols[j].name;
            kinds[j] = r->cols[j].categorical ? MLOPS_FEATURE_CATEGORICAL : MLOPS_FEATURE_NUMERIC;
            for (size_t i = 0; i < nr; i++)
                X[i * nc + j] = r->cols[j].ref[i];
            for (size_t i = 0; i < ncur; i++)
                Y[i * nc + j] = r->cols[j].cur[i];
        }
        mlops_drift_opts opts = r->a->opts;
        opts.window = ncur;
        opts.reference_size = 0;
        st = mlops_drift_create(nc, names, kinds, &opts, &r->d);
        if (!st) st = mlops_drift_set_reference(r->d, X, nr, nc);
        cli_progress pr;
        cli_progress_begin(&pr, prog, "rows", ncur, cli_progress_mode_of(r->a->progress, r->a->quiet));
        for (size_t i = 0; !st && i < ncur; i += UPDATE_ROWS) {
            size_t n = ncur - i < UPDATE_ROWS ? ncur - i : UPDATE_ROWS;
            st = mlops_drift_update(r->d, Y + i * nc, n, nc);
            cli_progress_update(&pr, i + n);
        }
        cli_progress_end(&pr);
        if (!st) st = mlops_drift_report(r->d, res, nc, &r->sum);
        for (size_t j = 0; !st && j < nc; j++)
            r->sh[j] = (shown){j, res[j]};
    }
    if (st) fprintf(stderr, "%s: %s (%s)\n", prog, st == MLOPS_ENOMEM && !r->d ? "out of memory" : mlops_last_error(),
                    mlops_status_str(st));
    free(names);
    free(kinds);
    free(X);
    free(Y);
    free(res);
    return st ? -1 : 0;
}

static void print_table(const drift_run *r) {
    const column *cols = r->cols;
    const shown *sh = r->sh;
    size_t nc = r->nc, w = 7;
    for (size_t j = 0; j < nc; j++)
        w = strlen(cols[j].name) > w ? strlen(cols[j].name) : w;
    printf("%-*s  %-4s  %10s  %11s  %11s  %5s  %7s\n", (int)w, "feature", "test", "statistic", "p-value",
           "adjusted", "drift", "missing");
    for (size_t k = 0; k < nc; k++) {
        const mlops_drift_feature_result *res = &sh[k].r;
        printf("%-*s  %-4s  %10.6f  %11.4e  %11.4e  %5s  %6.2f%%\n", (int)w, cols[sh[k].idx].name,
               res->kind ? "chi2" : "ks", res->statistic, res->pvalue, res->pvalue_adjusted,
               res->drift ? "yes" : "no", 100.0 * res->missing_rate);
    }
    printf("\n%zu of %zu columns drifted (share %.3f); dataset drift: %s; mean KS statistic %.6f\n",
           r->sum.n_drifted, r->sum.n_features, r->sum.drift_share, r->sum.dataset_drift ? "yes" : "no",
           r->sum.mean_statistic);
}

/* The table or JSON on stdout, the HTML file; the exit status. */
static int report(drift_run *r) {
    const drift_args *a = r->a;
    if (a->json) {
        char *json = NULL;
        if (mlops_drift_report_json(r->d, &json)) {
            fprintf(stderr, "%s: %s\n", prog, mlops_last_error());
            return 2;
        }
        printf("%s\n", json);
        mlops_free(json);
    } else {
        qsort(r->sh, r->nc, sizeof *r->sh, by_pvalue);
        print_table(r);
    }
    if (a->html) {
        if (write_html(a->html, r->d, r->cols, r->nc)) return 2;
    }
    return a->fail_on_drift && r->sum.n_drifted ? 3 : 0;
}

static void drift_run_free(drift_run *r) {
    mlops_drift_free(r->d);
    free_columns(r);
    free(r->sh);
    cli_csv_free(&r->R);
    cli_csv_free(&r->C);
    cli_csv_stream_close(&r->rs);
    cli_csv_stream_close(&r->cs);
}

static int run(const drift_args *a) {
    drift_run r;
    memset(&r, 0, sizeof r);
    r.a = a;
    r.rs.fd = r.cs.fd = -1;
    int rc = 2, fast = fast_inputs(&r);
    if (fast == 0 || (fast == 1 && read_inputs(&r) == 0 && build_columns(&r) == 0))
        if (detect(&r) == 0) rc = report(&r);
    drift_run_free(&r);
    return rc;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--merge")) return drift_merge_main(argc, argv); /* drift_merge.c */
    drift_args a;
    int rc = parse_args(&a, argc, argv);
    if (rc == CLI_PARSED) rc = run(&a);
    cli_list_free(&a.exclude);
    cli_list_free(&a.categorical);
    return rc == CLI_HELP_SHOWN ? 0 : rc;
}
