/* mlops-validate: check a CSV against a feature schema, or infer a schema from data.
 *
 *   mlops-validate --schema S.json --input IN.csv [--exclude COL]... [--json]
 *   mlops-validate --infer --input train.csv [--exclude COL]... [--margin 0.1] [--out schema.json]
 *
 * Validation takes the named-row path (as mlops-predict --schema and the
 * server's /predict): every CSV column except the excluded ones is a key of
 * the row's {"features": {...}} object; an empty cell (or NA, NaN, null) is
 * null, numbers are numbers, true/false are booleans, anything else is a
 * string. So columns the schema does not know are "unknown_feature" when the
 * schema rejects unknown features (exclude the label column), and schema
 * features missing from the file are "missing" in every row. Every violation
 * is reported: on stderr, or with --json as one document on stdout:
 *   {"rows": N, "invalid_rows": K, "violations": [{"row", "line", "feature", "kind", "message"}...],
 *    "omitted": n}
 * Rows are numbered from 1 (the first data row), "line" is the file line.
 * Exit status: 0 all rows valid (or schema written), 2 usage or I/O error,
 * 3 at least one row invalid (or, with --infer, rows left out). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli_opts.h"
#include "cli_progress.h"
#include "cli_util.h"
#include "mlops.h"

static const char *prog = "mlops-validate";

/* Rows handed to the library per call: bounds the memory for large files. */
#define CHUNK_ROWS 1024

/* A growable text buffer; `oom` is sticky. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

/* Append `s` as a JSON string literal (jansson does the escaping). */
static void sb_json_string(sbuf *b, const char *s) {
    json_t *j = json_string(s);
    char *t = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    if (!t) { /* not valid UTF-8: keep the row, the library reports a wrong type */
        sb_str(b, "\"\\ufffd\"");
    } else {
        sb_str(b, t);
    }
    free(t);
    json_decref(j);
}

/* Kinds of cell as the named-row path sees it. */
enum { CELL_NULL, CELL_NUMBER, CELL_NONFINITE, CELL_TRUE, CELL_FALSE, CELL_STRING };

static int classify(const char *s, double *v) {
    if (cli_is_missing(s)) return CELL_NULL;
    int num = cli_parse_double(s, v); /* -2: "1e400", beyond a double: not finite */
    if (num == 0 || num == -2) return isnan(*v) ? CELL_NULL : isinf(*v) ? CELL_NONFINITE : CELL_NUMBER;
    if (!strcasecmp(s, "true")) return CELL_TRUE;
    if (!strcasecmp(s, "false")) return CELL_FALSE;
    return CELL_STRING;
}

/* One violation as the program reports it. */
typedef struct report_out {
    int json;
    const char *input;
    json_t *violations; /* --json */
    size_t n_rows, n_invalid, n_omitted, n_stored;
    cli_progress *progress; /* erased before a violation is printed on stderr */
} report_out;

#define MAX_STORED 100000 /* violations kept in the JSON document; further ones are counted as omitted */

static void emit(report_out *o, size_t row, size_t line, const char *feature, const char *kind,
                 const char *msg) {
    if (o->json) {
        if (o->n_stored >= MAX_STORED) {
            o->n_omitted++;
            return;
        }
        json_t *v = json_pack("{s:I, s:I, s:s?, s:s, s:s}", "row", (json_int_t)row, "line", (json_int_t)line,
                              "feature", feature, "kind", kind, "message", msg);
        if (!v || json_array_append_new(o->violations, v) != 0) {
            o->n_omitted++;
            return;
        }
        o->n_stored++;
    } else {
        cli_progress_clear(o->progress);
        fprintf(stderr, "%s: %s row %zu (line %zu), feature %s: %s: %s\n", prog, o->input, row, line,
                feature ? feature : "-", kind, msg);
    }
}

/* Violations of one chunk, collected and then emitted in row order. */
typedef struct pending {
    size_t row, line, seq;
    const char *feature, *kind;
    char *msg;
} pending;

typedef struct pending_list {
    pending *v;
    size_t n, cap;
    int oom;
} pending_list;

static void pend(pending_list *l, size_t row, size_t line, const char *feature, const char *kind,
                 const char *msg) {
    if (l->oom) return;
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 64;
        pending *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) {
            l->oom = 1;
            return;
        }
        l->v = nv;
        l->cap = nc;
    }
    char *m = strdup(msg);
    if (!m) {
        l->oom = 1;
        return;
    }
    l->v[l->n] = (pending){row, line, l->n, feature, kind, m};
    l->n++;
}

static int pending_cmp(const void *a, const void *b) {
    const pending *x = a, *y = b;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

typedef struct inf_cell {
    size_t row; /* index in the chunk */
    size_t col;
} inf_cell;

/* Validate rows [first, first + n) of the CSV chunk (data rows csv->row_base + first + 1 ... of the
 * file). Returns 0, or -1 on a hard error (message printed). */
static int validate_chunk(const mlops_schema *schema, const cli_csv *csv, const unsigned char *use_col,
                          size_t first, size_t n, report_out *o, mlops_schema_report *rep, float *x,
                          unsigned char *ok) {
    size_t nf = mlops_schema_n_features(schema);
    size_t src[CHUNK_ROWS], n_json = 0;
    unsigned char bad_here[CHUNK_ROWS];
    inf_cell *infs = NULL;
    size_t n_inf = 0, cap_inf = 0;
    sbuf b = {0};
    pending_list pl = {0};
    int rc = -1;
    sb_str(&b, "[");
    for (size_t i = 0; i < n; i++) {
        size_t r = first + i;
        if (csv->n_fields[r] != csv->n_cols) {
            char msg[160];
            snprintf(msg, sizeof msg, "expected %zu columns, got %zu", csv->n_cols, csv->n_fields[r]);
            pend(&pl, csv->row_base + r + 1, csv->line[r], NULL, "malformed_row", msg);
            o->n_invalid++;
            continue;
        }
        bad_here[n_json] = 0;
        sb_str(&b, n_json ? ",{\"features\":{" : "{\"features\":{");
        int first_key = 1;
        for (size_t c = 0; c < csv->n_cols; c++) {
            if (!use_col[c]) continue;
            if (!first_key) sb_str(&b, ",");
            first_key = 0;
            sb_json_string(&b, csv->header[c]);
            sb_str(&b, ":");
            double v = 0;
            char num[40];
            switch (classify(csv->fields[r][c], &v)) {
            case CELL_NULL:
                sb_str(&b, "null");
                break;
            case CELL_NONFINITE:
                /* JSON has no infinity: report it here and pass null, whose own verdict is dropped below. */
                if (n_inf == cap_inf) {
                    size_t nc = cap_inf ? 2 * cap_inf : 16;
                    inf_cell *ni = realloc(infs, nc * sizeof *ni);
                    if (!ni) {
                        b.oom = 1;
                        break;
                    }
                    infs = ni;
                    cap_inf = nc;
                }
                infs[n_inf].row = n_json;
                infs[n_inf++].col = c;
                bad_here[n_json] = 1;
                sb_str(&b, "null");
                break;
            case CELL_NUMBER:
                /* an integral value is written as a JSON integer when it fits, so int features accept it */
                if (v == floor(v) && fabs(v) < 9007199254740992.0)
                    snprintf(num, sizeof num, "%.0f", v);
                else
                    snprintf(num, sizeof num, "%.17g", v);
                sb_str(&b, num);
                break;
            case CELL_TRUE:
                sb_str(&b, "true");
                break;
            case CELL_FALSE:
                sb_str(&b, "false");
                break;
            default:
                sb_json_string(&b, csv->fields[r][c]);
            }
        }
        sb_str(&b, "}}");
        src[n_json++] = r;
    }
    sb_str(&b, "]");
    if (b.oom) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    size_t n_rows = 0;
    mlops_status st = mlops_schema_parse_rows(schema, b.p, b.len, x, (n_json ? n_json : 1) * (nf ? nf : 1),
                                              ok, &n_rows, rep);
    if (st != MLOPS_OK && st != MLOPS_EVALIDATION) {
        fprintf(stderr, "%s: %s: %s\n", prog, o->input, mlops_last_error());
        goto done;
    }
    for (size_t k = 0; k < n_inf; k++) {
        size_t r = src[infs[k].row];
        const char *name = csv->header[infs[k].col];
        char msg[320];
        snprintf(msg, sizeof msg, "feature '%.200s': %.40s is not finite", name, csv->fields[r][infs[k].col]);
        pend(&pl, csv->row_base + r + 1, csv->line[r], name, mlops_violation_kind_name(MLOPS_VIOLATION_NOT_FINITE),
             msg);
    }
    for (size_t i = 0; i < mlops_schema_report_count(rep); i++) {
        size_t row = mlops_schema_report_row(rep, i);
        const char *fname = mlops_schema_report_feature_name(rep, i);
        mlops_violation_kind kind = mlops_schema_report_kind(rep, i);
        int skip = 0;
        if (kind == MLOPS_VIOLATION_NULL && fname) /* the null we passed for an infinite cell */
            for (size_t k = 0; k < n_inf && !skip; k++)
                skip = infs[k].row == row && !strcmp(csv->header[infs[k].col], fname);
        if (skip) continue;
        size_t r = src[row];
        pend(&pl, csv->row_base + r + 1, csv->line[r], fname, mlops_violation_kind_name(kind),
             cli_violation_detail(mlops_schema_report_message(rep, i)));
    }
    if (pl.oom) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    if (pl.n) qsort(pl.v, pl.n, sizeof *pl.v, pending_cmp);
    for (size_t i = 0; i < pl.n; i++)
        emit(o, pl.v[i].row, pl.v[i].line, pl.v[i].feature, pl.v[i].kind, pl.v[i].msg);
    o->n_omitted += mlops_schema_report_n_omitted(rep);
    for (size_t i = 0; i < n_json; i++)
        if (!ok[i] || bad_here[i]) o->n_invalid++;
    rc = 0;
done:
    for (size_t i = 0; i < pl.n; i++)
        free(pl.v[i].msg);
    free(pl.v);
    free(b.p);
    free(infs);
    return rc;
}

/* The command line. */
typedef struct validate_args {
    const char *schema_path, *input, *out_path;
    cli_list exclude;
    int json, infer, progress, quiet;
    double margin;
} validate_args;

/* The JSON document, or the summary lines on stderr; the exit status. */
static int report_summary(const report_out *o) {
    if (o->json) {
        json_t *doc = json_pack("{s:I, s:I, s:O, s:I}", "rows", (json_int_t)o->n_rows, "invalid_rows",
                                (json_int_t)o->n_invalid, "violations", o->violations, "omitted",
                                (json_int_t)o->n_omitted);
        int bad = !doc || json_dumpf(doc, stdout, JSON_INDENT(1)) != 0 || fputc('\n', stdout) == EOF ||
                  fflush(stdout) != 0;
        json_decref(doc);
        if (bad) {
            fprintf(stderr, "%s: cannot write the report\n", prog);
            return 2;
        }
    } else {
        if (o->n_omitted) fprintf(stderr, "%s: ... and %zu more violation(s)\n", prog, o->n_omitted);
        fprintf(stderr, "%s: %s: %zu row(s), %zu invalid\n", prog, o->input, o->n_rows, o->n_invalid);
    }
    return o->n_invalid ? 3 : 0;
}

/* The file in chunks (cli_csv_stream), each validated CHUNK_ROWS rows at a time; o->n_rows counts
 * them. 0 at the end, -1 after a hard error (printed, or a read error left in err). */
static int validate_stream(cli_csv_stream *st, const mlops_schema *schema, const unsigned char *use_col,
                           report_out *o, mlops_schema_report *rep, float *x, unsigned char *ok, cli_progress *pr,
                           char *err, size_t err_len) {
    const cli_csv *csv = &st->csv;
    int more;
    *err = '\0';
    while ((more = cli_csv_stream_next(st, err, err_len)) == 1) {
        for (size_t r = 0; r < csv->n_rows; r += CHUNK_ROWS) {
            size_t n = csv->n_rows - r < CHUNK_ROWS ? csv->n_rows - r : CHUNK_ROWS;
            if (validate_chunk(schema, csv, use_col, r, n, o, rep, x, ok) != 0) return -1;
            cli_progress_update(pr, o->n_rows + r + n);
        }
        o->n_rows += csv->n_rows;
    }
    if (more < 0) cli_progress_clear(pr);
    return more;
}

/* Data rows of the file for the progress line's total (a first pass of the chunked reader), when a
 * progress line will be drawn and the input can be read twice; else 0 (unknown). */
static size_t rows_for_progress(const char *input, cli_progress_mode mode) {
    if (!strcmp(input, "-") || mode == CLI_PROGRESS_NEVER || (mode == CLI_PROGRESS_AUTO && !isatty(STDERR_FILENO)))
        return 0;
    cli_csv_stream st;
    char err[512];
    size_t n = 0;
    int more;
    if (cli_csv_stream_open(input, 0, &st, err, sizeof err) != 0) return 0;
    while ((more = cli_csv_stream_next(&st, err, sizeof err)) == 1)
        n += st.csv.n_rows;
    cli_csv_stream_close(&st);
    return more == 0 ? n : 0;
}

static int run_validate(const validate_args *a) {
    const char *input = a->input;
    int json = a->json;
    mlops_schema *schema = NULL;
    if (mlops_schema_load(a->schema_path, &schema) != MLOPS_OK) {
        fprintf(stderr, "%s: %s\n", prog, mlops_last_error());
        return 2;
    }
    cli_csv_stream st;
    char err[512];
    if (cli_csv_stream_open(input, 0, &st, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        mlops_schema_free(schema);
        return 2;
    }
    const cli_csv *csv = &st.csv; /* the header, and the rows of the current chunk */
    int rc = 2;
    size_t nf = mlops_schema_n_features(schema);
    unsigned char *use_col = calloc(csv->n_cols ? csv->n_cols : 1, 1);
    float *x = malloc(CHUNK_ROWS * (nf ? nf : 1) * sizeof *x);
    unsigned char *ok = malloc(CHUNK_ROWS);
    mlops_schema_report *rep = NULL;
    report_out o = {json, input, NULL, 0, 0, 0, 0, NULL};
    if (!use_col || !x || !ok || mlops_schema_report_create(0, &rep) != MLOPS_OK ||
        (json && !(o.violations = json_array()))) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    if (cli_check_excluded(csv, &a->exclude, prog, input) != 0) goto done;
    for (size_t c = 0; c < csv->n_cols; c++)
        use_col[c] = !cli_list_has(&a->exclude, csv->header[c]);
    cli_progress pr;
    cli_progress_mode mode = cli_progress_mode_of(a->progress, a->quiet);
    cli_progress_begin(&pr, prog, "rows", rows_for_progress(input, mode), mode);
    o.progress = &pr;
    int more = validate_stream(&st, schema, use_col, &o, rep, x, ok, &pr, err, sizeof err);
    cli_progress_end(&pr);
    if (more < 0 && *err) fprintf(stderr, "%s: %s\n", prog, err);
    if (more == 0) rc = report_summary(&o);
done:
    json_decref(o.violations);
    mlops_schema_report_free(rep);
    free(ok);
    free(x);
    free(use_col);
    cli_csv_stream_close(&st);
    mlops_schema_free(schema);
    return rc;
}

/* The schema to `out_path`, or to stdout for "-"; -1 after a message. */
static int write_schema_out(const mlops_schema *schema, const char *out_path) {
    char *text = NULL;
    int rc = -1;
    if (strcmp(out_path, "-") != 0) {
        if (mlops_schema_save(schema, out_path) == MLOPS_OK) return 0;
        fprintf(stderr, "%s: %s\n", prog, mlops_last_error());
    } else if (mlops_schema_save_buffer(schema, &text) != MLOPS_OK) {
        fprintf(stderr, "%s: %s\n", prog, mlops_last_error());
    } else if (printf("%s\n", text) < 0 || fflush(stdout) != 0) {
        fprintf(stderr, "%s: cannot write the schema\n", prog);
    } else {
        rc = 0;
    }
    mlops_free(text);
    return rc;
}

/* Every chunk of the stream as numbers over columns sel (cli_csv_stream_matrix: left-out rows
 * reported on stderr and counted in *n_bad) appended to *x (malloc'd): 0, or -1 after a message. */
static int read_matrix(cli_csv_stream *st, const long *sel, size_t n_sel, float **x, size_t *n_rows, size_t *n_bad) {
    char err[512];
    const float *cx;
    const size_t *ids;
    size_t n, bad, cap = 0;
    int more;
    while ((more = cli_csv_stream_matrix(st, prog, sel, n_sel, 1, &cx, &ids, &n, &bad, err, sizeof err)) == 1) {
        *n_bad += bad;
        if (*n_rows + n > cap) {
            size_t nc = cap ? cap : 4096;
            while (nc < *n_rows + n)
                nc *= 2;
            float *nx = realloc(*x, nc * n_sel * sizeof *nx);
            if (!nx) return fprintf(stderr, "%s: out of memory\n", prog), -1;
            *x = nx;
            cap = nc;
        }
        if (n) memcpy(*x + *n_rows * n_sel, cx, n * n_sel * sizeof *cx);
        *n_rows += n;
    }
    if (more < 0) fprintf(stderr, "%s: %s\n", prog, err);
    return more;
}

static int run_infer(const validate_args *a) {
    const char *input = a->input;
    cli_csv_stream st;
    char err[512];
    if (cli_csv_stream_open(input, 0, &st, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 2;
    }
    const cli_csv *csv = &st.csv;
    int rc = 2;
    long *sel = malloc((csv->n_cols ? csv->n_cols : 1) * sizeof *sel);
    const char **names = malloc((csv->n_cols ? csv->n_cols : 1) * sizeof *names);
    float *x = NULL;
    size_t n_rows = 0, n_bad = 0, n_sel = 0;
    mlops_schema *schema = NULL;
    if (!sel || !names) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto done;
    }
    if (cli_check_excluded(csv, &a->exclude, prog, input) != 0) goto done;
    for (size_t c = 0; c < csv->n_cols; c++)
        if (!cli_list_has(&a->exclude, csv->header[c])) {
            sel[n_sel] = (long)c;
            names[n_sel++] = csv->header[c];
        }
    if (n_sel == 0) {
        fprintf(stderr, "%s: %s: no column left to infer a schema from\n", prog, input);
        goto done;
    }
    if (read_matrix(&st, sel, n_sel, &x, &n_rows, &n_bad) != 0) goto done;
    if (n_rows == 0) {
        fprintf(stderr, "%s: %s: no usable row (exclude non-numeric columns with --exclude)\n", prog, input);
        goto done;
    }
    mlops_schema_infer_opts opts;
    mlops_schema_infer_opts_init(&opts, MLOPS_SCHEMA_INFER_OPTS_VERSION);
    opts.margin = a->margin;
    if (mlops_schema_infer(x, n_rows, n_sel, names, &opts, &schema) != MLOPS_OK) {
        fprintf(stderr, "%s: %s: %s\n", prog, input, mlops_last_error());
        goto done;
    }
    if (write_schema_out(schema, a->out_path) != 0) goto done;
    if (!a->quiet)
        fprintf(stderr, "%s: schema of %zu feature(s) inferred from %zu row(s) of %s%s\n", prog, n_sel, n_rows,
                input, n_bad ? " (some rows left out)" : "");
    rc = n_bad ? 3 : 0;
done:
    mlops_schema_free(schema);
    free(x);
    free(sel);
    free(names);
    cli_csv_stream_close(&st);
    return rc;
}

/* Parse argv into `a`: CLI_PARSED, CLI_HELP_SHOWN or CLI_BAD_USAGE (message printed). */
static int parse_args(validate_args *a, int argc, char **argv) {
    const cli_opt opts[] = {
        CLI_OPT_STR("schema", "FILE", NULL, "the feature schema to validate against", &a->schema_path),
        CLI_OPT_STR("input", "IN.csv", NULL, "the rows, with a header; - is standard input; required", &a->input),
        CLI_OPT_LIST("exclude", "COL", "leave column COL (e.g. the label) out of the rows", &a->exclude),
        CLI_OPT_FLAG("json", "write the report as JSON on stdout instead of lines on stderr", &a->json),
        CLI_OPT_FLAG("infer", "write a schema inferred from the numeric columns of IN.csv instead", &a->infer),
        CLI_OPT_DOUBLE("margin", "M", "0.1", "--infer: widen observed ranges by M times their width", &a->margin, 0,
                       INFINITY, 0, 1),
        CLI_OPT_STR("out", "FILE", "-", "--infer: where the schema goes; - is standard output", &a->out_path),
        CLI_OPT_FLAG("progress", CLI_PROGRESS_HELP, &a->progress),
        CLI_OPT_FLAG("quiet", CLI_QUIET_HELP, &a->quiet),
        CLI_OPT_END,
    };
    const cli_prog p = {prog,
                        "mlops-validate --schema SCHEMA.json --input IN.csv [--exclude COL]... [--json]\n"
                        "       mlops-validate --infer --input TRAIN.csv [--exclude COL]... [--margin M] [--out FILE]",
                        "Checks every row of a CSV against a feature schema and lists every violation, or infers a\n"
                        "schema from training data.",
                        "0 all rows valid (or schema written), 2 usage or I/O error, 3 at least one row invalid "
                        "(with --infer: rows left out)",
                        opts};
    int rc = cli_opts_parse(&p, argc, argv);
    if (rc == CLI_PARSED && a->infer && (!a->input || a->schema_path || a->json))
        rc = cli_usage_error(&p, "--infer takes --input (and --exclude, --margin, --out), not --schema or --json");
    if (rc == CLI_PARSED && !a->infer && (!a->schema_path || !a->input || strcmp(a->out_path, "-") != 0))
        rc = cli_usage_error(&p, "--schema and --input are required (--out only with --infer)");
    return rc;
}

int main(int argc, char **argv) {
    validate_args a;
    int rc = parse_args(&a, argc, argv);
    if (rc == CLI_PARSED) rc = a.infer ? run_infer(&a) : run_validate(&a);
    cli_list_free(&a.exclude);
    return rc == CLI_HELP_SHOWN ? 0 : rc;
}
