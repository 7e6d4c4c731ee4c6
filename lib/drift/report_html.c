/* The drift report as one self-contained HTML page (mlops_drift_report_html): a sortable summary
 * table, the ECDFs of the numeric features (with the KS distance marked) and the category shares of
 * the categorical ones, reference vs window. One inline style sheet and one inline script, allowed
 * by the page's Content-Security-Policy through their SHA-256 (libsodium) and nothing else.
 * Moved here from examples/mlops_drift.c, so mlops-drift --html and the bindings write the same page. */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drift/drift_internal.h"
#include "mlops/drift.h"

/* One feature as the page draws it: raw values (NaN = missing) and, for a categorical one, the
 * label of each code 0..nlabels-1. */
typedef struct hcol {
    const char *name;
    int categorical;
    double *ref, *cur;
    size_t nref, ncur;
    char **labels;
    size_t nlabels;
} hcol;

typedef struct shown {
    size_t idx;
    mlops_drift_feature_result r;
} shown;

/* Drifted features first, then by raw p-value (NaN last), then by index: the page's order. */
static int by_drift_then_p(const void *a, const void *b) {
    const shown *x = a, *y = b;
    if (x->r.drift != y->r.drift) return y->r.drift - x->r.drift;
    double p = isnan(x->r.pvalue) ? 2.0 : x->r.pvalue, q = isnan(y->r.pvalue) ? 2.0 : y->r.pvalue;
    if (p != q) return p < q ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
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

/* Sorted non-missing values into *out (allocated), their count into *k; -1 when out of memory. */
static int sorted_values(const double *v, size_t n, double **out, size_t *k) {
    double *s = mlops__malloc((n + 1) * sizeof *s);
    *out = s;
    *k = 0;
    if (!s) return -1;
    for (size_t i = 0; i < n; i++)
        if (!isnan(v[i])) s[(*k)++] = v[i];
    qsort(s, *k, sizeof *s, cmp_double);
    return 0;
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

/* -1 when out of memory (nothing written). */
static int html_ecdf(FILE *f, const hcol *c) {
    double *a = NULL, *b = NULL;
    size_t na, nb;
    int bad = sorted_values(c->ref, c->nref, &a, &na);
    bad |= sorted_values(c->cur, c->ncur, &b, &nb);
    if (bad) {
        mlops__free(a);
        mlops__free(b);
        return -1;
    }
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
    mlops__free(a);
    mlops__free(b);
    return 0;
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
/* -1 when out of memory (nothing written). */
static int html_histogram(FILE *f, const hcol *c) {
    double *sr = mlops__calloc(c->nlabels + 1, sizeof *sr), *sc = mlops__calloc(c->nlabels + 1, sizeof *sc);
    if (!sr || !sc) {
        mlops__free(sr);
        mlops__free(sc);
        return -1;
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
    mlops__free(sr);
    mlops__free(sc);
    return 0;
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

static void html_summary_table(FILE *f, const hcol *cols, const shown *sh, size_t n) {
    fputs("<table id=\"summary\"><thead><tr><th>feature</th><th>test</th><th>statistic</th><th>p-value</th>"
          "<th>adjusted</th><th>drift</th><th>missing share</th></tr></thead><tbody>\n",
          f);
    for (size_t k = 0; k < n; k++) {
        const hcol *c = &cols[sh[k].idx];
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

/* The page into `f` (a memory stream): n features in the order of `sh`. -1 when out of memory. */
static int write_page(FILE *f, const hcol *cols, const shown *sh, size_t n, const mlops_drift_summary *sum,
                       double pthr) {
    char style_hash[64], script_hash[64];
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
        const hcol *c = &cols[sh[k].idx];
        const mlops_drift_feature_result *r = &sh[k].r;
        fprintf(f, "<div class=\"f\" id=\"f%zu\"><h3%s>", sh[k].idx, r->drift ? " class=\"drift\"" : "");
        html_escape(f, c->name);
        fprintf(f, "</h3><p>%s statistic %.4g, p-value %.3g%s</p>\n", c->categorical ? "chi-square" : "KS",
                r->statistic, r->pvalue, r->drift ? " &mdash; drift" : "");
        if (c->categorical ? html_histogram(f, c) : html_ecdf(f, c)) return -1;
        fputs("</div>\n", f);
    }
    fprintf(f, "<script>%s</script>\n</body></html>\n", report_script);
    return 0;
}

static void free_cols(hcol *cols, size_t nf) {
    for (size_t j = 0; cols && j < nf; j++) {
        mlops__free(cols[j].ref);
        mlops__free(cols[j].cur);
        for (size_t l = 0; cols[j].labels && l < cols[j].nlabels; l++)
            mlops__free(cols[j].labels[l]);
        mlops__free(cols[j].labels);
    }
    mlops__free(cols);
}

/* Labels of categorical column c: the caller's (labels[j], n_labels[j] of them) or the codes as text
 * (0 .. largest code seen). 0 on success, -1 when out of memory. */
static int column_labels(hcol *c, const char *const *labels, size_t n_labels) {
    size_t n = n_labels;
    if (!labels) {
        double top = -1;
        for (size_t i = 0; i < c->nref; i++)
            if (!isnan(c->ref[i]) && c->ref[i] > top) top = c->ref[i];
        for (size_t i = 0; i < c->ncur; i++)
            if (!isnan(c->cur[i]) && c->cur[i] > top) top = c->cur[i];
        n = top >= 0 && top < 1e6 ? (size_t)top + 1 : 0;
    }
    c->labels = mlops__calloc(n + 1, sizeof *c->labels);
    if (!c->labels) return -1;
    c->nlabels = n;
    for (size_t k = 0; k < n; k++) {
        char num[32];
        if (!labels) snprintf(num, sizeof num, "%zu", k);
        c->labels[k] = mlops__strdup(labels ? (labels[k] ? labels[k] : "") : num);
        if (!c->labels[k]) return -1;
    }
    return 0;
}

/* Copy feature j's reference and window values out of the detector (lock held). */
static int column_values(const mlops_drift *d, size_t j, hcol *c) {
    const stream *s = &d->x;
    c->name = d->names[j];
    c->categorical = d->kinds[j] == MLOPS_FEATURE_CATEGORICAL;
    c->nref = s->ref_rows;
    c->ncur = s->len;
    c->ref = mlops__malloc((c->nref + 1) * sizeof *c->ref);
    c->cur = mlops__malloc((c->ncur + 1) * sizeof *c->cur);
    if (!c->ref || !c->cur) return -1;
    for (size_t r = 0; r < c->nref; r++)
        c->ref[r] = s->ref[r * s->nf + j];
    for (size_t r = 0; r < c->ncur; r++)
        c->cur[r] = s->win[((s->head + r) % s->W) * s->nf + j];
    return 0;
}

/* Columns and results under the lock. */
static mlops_status snapshot_columns(const mlops_drift *d, hcol *cols, shown *sh, mlops_drift_summary *sum) {
    size_t nf = d->x.nf;
    mlops_drift_feature_result *res = mlops__calloc(nf, sizeof *res);
    if (!res) return mlops__fail(MLOPS_ENOMEM, "drift_report_html: out of memory");
    pthread_mutex_lock(mlops__drift_lock(d));
    mlops_status st = d->x.ready ? MLOPS_OK
                                 : mlops__fail(MLOPS_ESTATE, "drift_report_html: reference not complete (%zu of "
                                                             "%zu rows)", d->x.ref_rows, d->x.ref_cap);
    if (!st) st = mlops__drift_report_locked(d, res, sum);
    for (size_t j = 0; !st && j < nf; j++)
        if (column_values(d, j, &cols[j])) st = mlops__fail(MLOPS_ENOMEM, "drift_report_html: out of memory");
    pthread_mutex_unlock(mlops__drift_lock(d));
    for (size_t j = 0; !st && j < nf; j++)
        sh[j] = (shown){j, res[j]};
    mlops__free(res);
    return st;
}

mlops_status mlops_drift_report_html(const mlops_drift *d, const char *const *const *labels, const size_t *n_labels,
                                     char **html, size_t *len) {
    MLOPS__CHECK_ARG("drift", d);
    MLOPS__CHECK_ARG("drift", html);
    MLOPS__FAIL_IF(labels && !n_labels, MLOPS_EINVAL, "drift: report_html: labels without n_labels");
    if (sodium_init() < 0) return mlops__fail(MLOPS_EBACKEND, "drift_report_html: libsodium failed to start");
    size_t nf = d->x.nf;
    hcol *cols = mlops__calloc(nf, sizeof *cols);
    shown *sh = mlops__calloc(nf, sizeof *sh);
    mlops_drift_summary sum;
    mlops_status st = cols && sh ? snapshot_columns(d, cols, sh, &sum)
                                 : mlops__fail(MLOPS_ENOMEM, "drift_report_html: out of memory");
    for (size_t j = 0; !st && j < nf; j++)
        if (cols[j].categorical && column_labels(&cols[j], labels ? labels[j] : NULL, labels ? n_labels[j] : 0))
            st = mlops__fail(MLOPS_ENOMEM, "drift_report_html: out of memory");
    char *buf = NULL;
    size_t blen = 0;
    FILE *f = st ? NULL : open_memstream(&buf, &blen);
    if (!st && !f) st = mlops__fail(MLOPS_ENOMEM, "drift_report_html: out of memory");
    if (f) {
        qsort(sh, nf, sizeof *sh, by_drift_then_p);
        int err = write_page(f, cols, sh, nf, &sum, d->opts.p_value) || ferror(f);
        if (fclose(f) != 0 || err) st = mlops__fail(MLOPS_ENOMEM, "drift_report_html: out of memory");
    }
    char *out = st ? NULL : mlops__malloc(blen + 1);
    if (!st && !out) st = mlops__fail(MLOPS_ENOMEM, "drift_report_html: out of memory");
    if (out) {
        memcpy(out, buf, blen + 1);
        *html = out;
        if (len) *len = blen;
    }
    free(buf); /* open_memstream's buffer comes from malloc */
    free_cols(cols, nf);
    mlops__free(sh);
    return st;
}
