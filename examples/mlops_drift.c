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

#include <sodium.h>

#include "cli_util.h"
#include "drift_merge.h"
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

#define PLOT_W 460.0
#define PLOT_H 200.0
#define PLOT_X0 40.0
#define PLOT_Y0 10.0

static double plot_x(double v, double lo, double hi) {
    double span = hi > lo ? hi - lo : 1.0;
    return PLOT_X0 + PLOT_W * (isfinite(v) ? (v - lo) / span : (v > 0 ? 1.0 : 0.0));
}

static double plot_y(double share) { return PLOT_Y0 + PLOT_H * (1.0 - share); }

static void svg_ecdf_path(FILE *f, const double *s, size_t n, double lo, double hi, const char *cls) {
    if (!n) return;
    fprintf(f, "<path class=\"%s\" d=\"M%.1f %.1f", cls, PLOT_X0, PLOT_Y0 + PLOT_H);
    size_t step = n > 2000 ? n / 2000 : 1; /* keep the file small */
    for (size_t i = 0; i < n; i += step) {
        size_t j = i;
        while (j + 1 < n && s[j + 1] == s[i])
            j++;
        fprintf(f, " H%.1f V%.1f", plot_x(s[i], lo, hi), plot_y((double)i / (double)n));
        fprintf(f, " V%.1f", plot_y((double)(j + 1) / (double)n));
        i = j + 1 - step;
    }
    fprintf(f, " H%.1f\"/>\n", PLOT_X0 + PLOT_W);
}

/* Where the two ECDFs are farthest apart (the KS statistic): the first such value, both heights. */
typedef struct ks_point {
    double x, fa, fb, d;
} ks_point;

static ks_point largest_distance(const double *a, size_t na, const double *b, size_t nb) {
    ks_point best = {NAN, 0, 0, -1};
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        double v = j >= nb || (i < na && a[i] <= b[j]) ? a[i] : b[j];
        while (i < na && a[i] <= v)
            i++;
        while (j < nb && b[j] <= v)
            j++;
        double fa = (double)i / (double)na, fb = (double)j / (double)nb;
        if (fabs(fa - fb) > best.d) best = (ks_point){v, fa, fb, fabs(fa - fb)};
    }
    return best;
}

static void html_ecdf(FILE *f, const column *c) {
    double *a = NULL, *b = NULL;
    size_t na = sorted_values(c->ref, c->nref, &a), nb = sorted_values(c->cur, c->ncur, &b);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < na; i++)
        if (isfinite(a[i])) lo = fmin(lo, a[i]), hi = fmax(hi, a[i]);
    for (size_t i = 0; i < nb; i++)
        if (isfinite(b[i])) lo = fmin(lo, b[i]), hi = fmax(hi, b[i]);
    if (!isfinite(lo)) lo = 0, hi = 1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"520\" height=\"240\" viewBox=\"0 0 520 240\">\n"
               "<rect class=\"frame\" x=\"40\" y=\"10\" width=\"460\" height=\"200\"/>\n");
    svg_ecdf_path(f, a, na, lo, hi, "ref");
    svg_ecdf_path(f, b, nb, lo, hi, "cur");
    if (na && nb) {
        ks_point k = largest_distance(a, na, b, nb);
        double x = plot_x(k.x, lo, hi);
        fprintf(f,
                "<g class=\"ksmark\" data-x=\"%.17g\" data-d=\"%.17g\"><line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" "
                "y2=\"%.1f\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/><circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">D = %.4f at %.4g</text></g>\n",
                k.x, k.d, x, x, plot_y(k.fa), plot_y(k.fb), x, plot_y(k.fa), x, plot_y(k.fb),
                x + (x > 300 ? -6 : 6), (plot_y(k.fa) + plot_y(k.fb)) / 2, x > 300 ? "end" : "start", k.d, k.x);
    }
    fprintf(f,
            "<text x=\"40\" y=\"228\">%.4g</text><text x=\"500\" y=\"228\" text-anchor=\"end\">%.4g</text>"
            "<text x=\"35\" y=\"20\" text-anchor=\"end\">1</text>"
            "<text x=\"35\" y=\"210\" text-anchor=\"end\">0</text></svg>\n",
            lo, hi);
    free(a);
    free(b);
}

#define MAX_BARS 40 /* categories drawn; the rest are counted in the caption */

/* Share of each category among the non-missing values (shares[0..nlabels)). Returns that count. */
static size_t category_shares(const double *v, size_t n, size_t nlabels, double *shares) {
    size_t total = 0;
    for (size_t k = 0; k < nlabels; k++)
        shares[k] = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i]) && (size_t)v[i] < nlabels) shares[(size_t)v[i]] += 1, total++;
    for (size_t k = 0; total && k < nlabels; k++)
        shares[k] /= (double)total;
    return total;
}

/* Side-by-side bars of the category shares, reference then current. */
static void html_histogram(FILE *f, const column *c) {
    double *sr = calloc(c->nlabels + 1, sizeof *sr), *sc = calloc(c->nlabels + 1, sizeof *sc);
    if (!sr || !sc) {
        free(sr);
        free(sc);
        fprintf(f, "<p>(no histogram: out of memory)</p>\n");
        return;
    }
    category_shares(c->ref, c->nref, c->nlabels, sr);
    category_shares(c->cur, c->ncur, c->nlabels, sc);
    size_t nb = c->nlabels < MAX_BARS ? c->nlabels : MAX_BARS;
    double top = 1e-12;
    for (size_t k = 0; k < nb; k++)
        top = fmax(top, fmax(sr[k], sc[k]));
    double slot = PLOT_W / (double)(nb ? nb : 1), bw = slot * 0.4;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"520\" height=\"240\" viewBox=\"0 0 520 240\">\n"
               "<rect class=\"frame\" x=\"40\" y=\"10\" width=\"460\" height=\"200\"/>\n");
    for (size_t k = 0; k < nb; k++) {
        double x = PLOT_X0 + slot * (double)k + slot * 0.1;
        for (int side = 0; side < 2; side++) {
            double share = side ? sc[k] : sr[k], h = PLOT_H * share / top;
            fprintf(f, "<rect class=\"%s\" data-category=\"", side ? "cur" : "ref");
            html_escape(f, c->labels[k]);
            fprintf(f, "\" data-share=\"%.17g\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>",
                    share, x + bw * side, PLOT_Y0 + PLOT_H - h, bw, h);
            html_escape(f, c->labels[k]);
            fprintf(f, ": %.2f%%</title></rect>\n", 100.0 * share);
        }
        fprintf(f, "<text x=\"%.1f\" y=\"224\" text-anchor=\"middle\">", x + bw);
        char shortl[16];
        if (snprintf(shortl, sizeof shortl, "%s", c->labels[k]) >= (int)sizeof shortl) { /* cut long labels */
            size_t e = strlen(shortl);
            while (e && ((unsigned char)shortl[e - 1] & 0xC0) == 0x80) /* not inside a UTF-8 character */
                e--;
            if (e && (unsigned char)shortl[e - 1] >= 0xC0) e--;
            shortl[e] = '\0';
        }
        html_escape(f, shortl);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "<text x=\"35\" y=\"20\" text-anchor=\"end\">%.2g</text><text x=\"35\" y=\"210\" "
               "text-anchor=\"end\">0</text></svg>\n",
            top);
    if (c->nlabels > nb) fprintf(f, "<p>%zu more categories not drawn.</p>\n", c->nlabels - nb);
    free(sr);
    free(sc);
}

/* A number cell: data-value keeps it exactly (NaN sorts last as Infinity), the text is rounded. */
static void td_number(FILE *f, double v, const char *format) {
    fprintf(f, "<td data-value=\"%.17g\">", isnan(v) ? INFINITY : v);
    if (isnan(v))
        fputs("&mdash;", f);
    else
        fprintf(f, format, v);
    fputs("</td>", f);
}

static void html_summary_table(FILE *f, const column *cols, const shown *sh, size_t n) {
    fputs("<table id=\"summary\"><thead><tr><th>feature</th><th>test</th><th>statistic</th><th>p-value</th>"
          "<th>adjusted</th><th>drift</th><th>missing share</th></tr></thead><tbody>\n",
          f);
    for (size_t k = 0; k < n; k++) {
        const column *c = &cols[sh[k].idx];
        const mlops_drift_feature_result *r = &sh[k].r;
        fprintf(f, "<tr%s data-feature=\"", r->drift ? " class=\"drift\"" : "");
        html_escape(f, c->name);
        fputs("\"><td data-value=\"", f);
        html_escape(f, c->name);
        fprintf(f, "\"><a href=\"#f%zu\">", sh[k].idx);
        html_escape(f, c->name);
        fprintf(f, "</a></td><td data-value=\"%s\">%s</td>", c->categorical ? "chi2" : "ks",
                c->categorical ? "chi2" : "ks");
        td_number(f, r->statistic, "%.4g");
        td_number(f, r->pvalue, "%.3g");
        td_number(f, r->pvalue_adjusted, "%.3g");
        fprintf(f, "<td data-value=\"%d\">%s</td>", r->drift, r->drift ? "yes" : "no");
        td_number(f, r->missing_rate, "%.4f");
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
}

/* The report's one style sheet and one script; the page's Content-Security-Policy allows exactly
 * these two (by their SHA-256) and nothing else. */
static const char report_style[] =
    "body{font-family:sans-serif;margin:2em}.f{display:inline-block;margin:1em;vertical-align:top}"
    ".drift,.drift a{color:#b00}table{border-collapse:collapse}th,td{padding:.2em .6em;text-align:left;"
    "border-bottom:1px solid #ddd}th{cursor:pointer;user-select:none}th[data-dir=asc]::after{content:' \\25b2'}"
    "th[data-dir=desc]::after{content:' \\25bc'}svg text{font-size:11px}.frame{fill:none;stroke:#ccc}"
    "path.ref,path.cur{fill:none;stroke-width:1.5}path.ref{stroke:#1f77b4}path.cur{stroke:#d62728}"
    "rect.ref{fill:#1f77b4}rect.cur{fill:#d62728}span.ref{color:#1f77b4}span.cur{color:#d62728}"
    ".ksmark line{stroke:#000;stroke-dasharray:3 2}.ksmark circle{fill:#000}";
static const char report_script[] =
    "document.querySelectorAll('#summary th').forEach((th, i) => th.addEventListener('click', () => {\n"
    "  const dir = th.dataset.dir === 'asc' ? -1 : 1, body = document.querySelector('#summary tbody');\n"
    "  document.querySelectorAll('#summary th').forEach((h) => delete h.dataset.dir);\n"
    "  th.dataset.dir = dir > 0 ? 'asc' : 'desc';\n"
    "  const key = (r) => { const v = r.cells[i].dataset.value, x = Number(v); return isNaN(x) ? v : x; };\n"
    "  Array.from(body.rows).sort((a, b) => { const x = key(a), y = key(b);\n"
    "    return dir * (typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y)));\n"
    "  }).forEach((r) => body.appendChild(r));\n"
    "}));\n";

/* "'sha256-BASE64'" of `text` into out. */
static void csp_hash(const char *text, char *out, size_t cap) {
    unsigned char h[crypto_hash_sha256_BYTES];
    char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    crypto_hash_sha256(h, (const unsigned char *)text, strlen(text));
    sodium_bin2base64(b64, sizeof b64, h, sizeof h, sodium_base64_VARIANT_ORIGINAL);
    snprintf(out, cap, "'sha256-%s'", b64);
}

static int write_html(const char *path, column *cols, shown *sh, size_t n, const mlops_drift_summary *sum,
                      double pthr) {
    /* built in memory, then written with the library's safe writer (devices, FIFOs, symlinks) */
    char *buf = NULL;
    size_t len = 0;
    char style_hash[64], script_hash[64];
    FILE *f = sodium_init() < 0 ? NULL : open_memstream(&buf, &len);
    if (!f) {
        fprintf(stderr, "%s: out of memory\n", prog);
        return -1;
    }
    csp_hash(report_style, style_hash, sizeof style_hash);
    csp_hash(report_script, script_hash, sizeof script_hash);
    fprintf(f,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<meta http-equiv=\"Content-Security-Policy\" "
            "content=\"default-src 'none'; style-src %s; script-src %s; base-uri 'none'; form-action 'none'\">\n"
            "<title>Drift report</title>\n<style>%s</style></head><body>\n<h1>Drift report</h1>\n",
            style_hash, script_hash, report_style);
    fprintf(f,
            "<p id=\"overview\">%zu of %zu columns drifted (share %.3f, threshold p &lt; %g); dataset drift: "
            "<b>%s</b>; mean KS statistic %.4f. Click a column heading to sort.</p>\n",
            sum->n_drifted, sum->n_features, sum->drift_share, pthr, sum->dataset_drift ? "yes" : "no",
            sum->mean_statistic);
    html_summary_table(f, cols, sh, n);
    fputs("<p><span class=\"ref\">reference</span> vs <span class=\"cur\">current</span>: ECDFs of numeric "
          "columns (the dashed line marks their largest distance, the KS statistic), shares of each category "
          "for categorical ones.</p>\n",
          f);
    for (size_t k = 0; k < n; k++) {
        column *c = &cols[sh[k].idx];
        const mlops_drift_feature_result *r = &sh[k].r;
        fprintf(f, "<div class=\"f\" id=\"f%zu\"><h3%s>", sh[k].idx, r->drift ? " class=\"drift\"" : "");
        html_escape(f, c->name);
        fprintf(f, "</h3><p>%s statistic %.4g, p-value %.3g%s</p>\n", c->categorical ? "chi-square" : "KS",
                r->statistic, r->pvalue, r->drift ? " &mdash; drift" : "");
        if (c->categorical)
            html_histogram(f, c);
        else
            html_ecdf(f, c);
        fputs("</div>\n", f);
    }
    fprintf(f, "<script>%s</script>\n</body></html>\n", report_script);
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

/* Both files, read and checked for ragged rows. */
typedef struct drift_run {
    const drift_args *a;
    cli_csv R, C;
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
    return 0;
}

/* Rows handed to the detector per update, between progress lines. */
#define UPDATE_ROWS 65536

/* The detector over the columns: reference, then the current rows in chunks; the per-column results. */
static int detect(drift_run *r) {
    size_t nc = r->nc, nr = r->R.n_rows, ncur = r->C.n_rows;
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
        qsort(r->sh, r->nc, sizeof *r->sh, by_drift_then_p);
        if (write_html(a->html, r->cols, r->sh, r->nc, &r->sum, a->opts.p_value)) return 2;
    }
    return a->fail_on_drift && r->sum.n_drifted ? 3 : 0;
}

static void drift_run_free(drift_run *r) {
    mlops_drift_free(r->d);
    for (size_t j = 0; r->cols && j < r->nc; j++) {
        free(r->cols[j].ref);
        free(r->cols[j].cur);
        for (size_t l = 0; l < r->cols[j].nlabels; l++)
            free(r->cols[j].labels[l]);
        free(r->cols[j].labels);
    }
    free(r->cols);
    free(r->sh);
    cli_csv_free(&r->R);
    cli_csv_free(&r->C);
}

static int run(const drift_args *a) {
    drift_run r;
    memset(&r, 0, sizeof r);
    r.a = a;
    int rc = 2;
    if (read_inputs(&r) == 0 && build_columns(&r) == 0 && detect(&r) == 0) rc = report(&r);
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
