/* mlops-gate: decide in CI whether a model may ship.
 *
 *   mlops-gate --candidate M [--baseline L | --registry DIR --name NAME --baseline-alias ALIAS]
 *              --data HOLDOUT.csv --label COL [thresholds...] [--schema S] [--json] [--junit FILE]
 *
 * Every quality number comes from the library's deploy gate (mlops_deploy_validate): each model is
 * measured in a deployment of its own (live and staged are the same model, so the report's
 * candidate_metric is that model's metric); agreement is the candidate's accuracy against the
 * baseline's predicted classes, again measured by the gate. Latency is single-row
 * mlops_model_predict over the holdout rows after a warm-up pass, its percentiles from the
 * library's latency window; memory is the resident growth (/proc/self/statm) of loading the model
 * (after one unmeasured load of it, with freed heap returned by malloc_trim, so the order of the
 * two models does not matter).
 * Prints a table of every check (candidate value, baseline value, threshold, pass/fail), or JSON
 * with --json; --junit FILE writes one JUnit test case per enabled check.
 * Exit status: 0 every enabled check passed, 3 some check failed, 2 usage, I/O or model error. */
#include <jansson.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_opts.h"
#include "cli_util.h"
#include "mlops.h"

static const char *prog = "mlops-gate";

/* Warm-up rows predicted (untimed) before the latency is measured. */
#define WARMUP_ROWS 200

/* ---- options: one cli_opts table ---- */

typedef struct gate_opts {
    const char *candidate, *baseline, *registry, *reg_name, *baseline_alias;
    const char *data, *label, *schema, *junit;
    int json;
    double threshold;
    double min_accuracy, max_logloss, max_logloss_increase, max_rmse, max_rmse_increase;
    double max_p99_us, max_memory_mb, min_agreement;
} gate_opts;

/* The combinations the table cannot check; prints the reason. */
static int check_options(const cli_prog *p, const gate_opts *o) {
    const char *why = NULL;
    int has_base = o->baseline || o->registry;
    if (!o->candidate || !o->data || !o->label) why = "--candidate, --data and --label are required";
    else if (o->baseline && o->registry) why = "give --baseline FILE or --registry DIR --name NAME --baseline-alias ALIAS, not both";
    else if (o->registry && (!o->reg_name || !o->baseline_alias)) why = "--registry needs --name and --baseline-alias";
    else if (!o->registry && (o->reg_name || o->baseline_alias)) why = "--name and --baseline-alias need --registry";
    else if (!has_base && (!isnan(o->max_logloss_increase) || !isnan(o->max_rmse_increase) || !isnan(o->min_agreement)))
        why = "--max-logloss-increase, --max-rmse-increase and --min-agreement need a baseline";
    else if (isnan(o->min_accuracy) && isnan(o->max_logloss) && isnan(o->max_logloss_increase) && isnan(o->max_rmse) &&
             isnan(o->max_rmse_increase) && isnan(o->max_p99_us) && isnan(o->max_memory_mb) &&
             isnan(o->min_agreement) && !o->schema)
        why = "no check: give at least one threshold (--min-accuracy, --max-logloss, ...) or --schema";
    return why ? cli_usage_error(p, "%s", why) : CLI_PARSED;
}

/* A threshold: any finite number; unset (NaN) disables its check. */
#define GATE_CHECK(n, a, h, d) CLI_OPT_DOUBLE(n, a, NULL, h, d, -HUGE_VAL, HUGE_VAL, 0, 0)

/* Parse argv into `o`: CLI_PARSED, CLI_HELP_SHOWN or CLI_BAD_USAGE (message printed). */
static int parse_options(int argc, char **argv, gate_opts *o) {
    const cli_opt opts[] = {
        CLI_OPT_STR("candidate", "MODEL", NULL, "the model that wants to ship; required", &o->candidate),
        CLI_OPT_STR("baseline", "MODEL", NULL, "the model it replaces, from a file", &o->baseline),
        CLI_OPT_STR("registry", "DIR", NULL, "take the baseline from this registry instead", &o->registry),
        CLI_OPT_STR("name", "NAME", NULL, "--registry: the model's name", &o->reg_name),
        CLI_OPT_STR("baseline-alias", "ALIAS", NULL,
                    "--registry: the alias of the baseline (e.g. production)", &o->baseline_alias),
        CLI_OPT_STR("data", "HOLDOUT.csv", NULL, "holdout rows with a header; required", &o->data),
        CLI_OPT_STR("label", "COLUMN", NULL, "the label column of HOLDOUT.csv; required", &o->label),
        CLI_OPT_STR("schema", "SCHEMA.json", NULL, "also check the models' features against this schema",
                    &o->schema),
        CLI_OPT_DOUBLE("threshold", "T", "0.5", "binary models: the probability threshold of class 1",
                       &o->threshold, 0, 1, 1, 1),
        GATE_CHECK("min-accuracy", "A", "fail when the candidate's accuracy is below A", &o->min_accuracy),
        GATE_CHECK("max-logloss", "L", "fail when the candidate's log loss is above L", &o->max_logloss),
        GATE_CHECK("max-logloss-increase", "D",
                   "fail when the log loss exceeds the baseline's by more than D", &o->max_logloss_increase),
        GATE_CHECK("max-rmse", "R", "fail when the candidate's RMSE is above R", &o->max_rmse),
        GATE_CHECK("max-rmse-increase", "D", "fail when the RMSE exceeds the baseline's by more than D",
                   &o->max_rmse_increase),
        GATE_CHECK("max-p99-latency-us", "US",
                   "fail when the p99 single-row latency is above US microseconds", &o->max_p99_us),
        GATE_CHECK("max-memory-mb", "MB",
                   "fail when loading the candidate grows the resident memory by more than MB",
                   &o->max_memory_mb),
        GATE_CHECK("min-agreement", "S",
                   "fail when candidate and baseline predict the same class on fewer than S of the rows",
                   &o->min_agreement),
        CLI_OPT_FLAG("json", "write the checks as JSON instead of a table", &o->json),
        CLI_OPT_STR("junit", "FILE", NULL, "also write one JUnit test case per check to FILE", &o->junit),
        CLI_OPT_END,
    };
    const cli_prog p = {prog,
                        "mlops-gate --candidate MODEL [--baseline MODEL | --registry DIR --name NAME "
                        "--baseline-alias ALIAS]\n"
                        "       --data HOLDOUT.csv --label COLUMN [thresholds...] [--schema SCHEMA.json] "
                        "[--json] [--junit FILE]",
                        "Decides whether a model may ship: every enabled check on the holdout rows, the "
                        "candidate against the\n"
                        "thresholds and the baseline. agreement: share of holdout rows where candidate and "
                        "baseline predict the\n"
                        "same class; latency: single-row predict over the holdout rows after a warm-up; "
                        "memory: resident growth\n"
                        "of loading the model; the *-increase and agreement checks need a baseline.",
                        "0 every check passed, 3 a check failed, 2 usage or I/O error", opts};
    o->min_accuracy = o->max_logloss = o->max_logloss_increase = o->max_rmse = o->max_rmse_increase = NAN;
    o->max_p99_us = o->max_memory_mb = o->min_agreement = NAN;
    int rc = cli_opts_parse(&p, argc, argv);
    return rc == CLI_PARSED ? check_options(&p, o) : rc;
}

/* ---- one model: load, rows, metrics, latency ---- */

typedef struct model_eval {
    const char *role;  /* "candidate" or "baseline" */
    char where[1024];  /* file, or registry reference DIR/NAME@ALIAS */
    mlops_model *model;
    mlops_deploy *self; /* the model against itself: the gate measures it */
    double memory_mb;
    float *x, *y; /* holdout rows in this model's feature order, labels */
    size_t n_rows, n_feat;
    double accuracy, logloss, rmse, p50_us, p99_us;
    int schema_ok;  /* 1 compatible, 0 not, -1 not checked */
    char schema_msg[512];
} model_eval;

static void eval_init(model_eval *e, const char *role) {
    memset(e, 0, sizeof *e);
    e->role = role;
    e->accuracy = e->logloss = e->rmse = e->p50_us = e->p99_us = e->memory_mb = NAN;
    e->schema_ok = -1;
}

static void eval_free(model_eval *e) {
    mlops_deploy_free(e->self);
    mlops_model_free(e->model);
    free(e->x);
    free(e->y);
}

static int lib_fail(const char *what) {
    fprintf(stderr, "%s: %s: %s\n", prog, what, mlops_last_error());
    return -1;
}

/* Resident set size in MB from /proc/self/statm (NaN when it cannot be read). */
static double resident_mb(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    int n = f ? fscanf(f, "%llu %llu", &size, &resident) : 0;
    if (f) fclose(f);
    return n == 2 ? (double)resident * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0) : NAN;
}

/* Load from a file, or the version `alias` names in the registry (digest verified). */
static int eval_load(model_eval *e, const char *path, const gate_opts *o) {
    mlops_registry *reg = NULL;
    uint32_t v = 0;
    if (!path && mlops_registry_create(o->registry, NULL, &reg) != MLOPS_OK) return lib_fail(o->registry);
    if (!path && mlops_registry_resolve_alias(reg, o->reg_name, o->baseline_alias, &v) != MLOPS_OK) {
        mlops_registry_free(reg);
        return lib_fail("--baseline-alias");
    }
    /* A first, unmeasured load faults in the code and one-time state; malloc_trim returns freed
     * heap, so the measured growth is what the loaded model keeps resident. */
    double before = 0.0;
    mlops_status st = MLOPS_OK;
    for (int pass = 0; pass < 2 && st == MLOPS_OK; pass++) {
        mlops_model_free(e->model);
        e->model = NULL;
        malloc_trim(0);
        before = resident_mb();
        st = path ? mlops_model_load(path, NULL, &e->model)
                  : mlops_registry_load_model(reg, o->reg_name, v, NULL, &e->model, NULL);
    }
    malloc_trim(0);
    e->memory_mb = resident_mb() - before;
    mlops_registry_free(reg);
    if (st != MLOPS_OK) return lib_fail(e->role);
    mlops_task t = mlops_model_task(e->model);
    if (t != MLOPS_TASK_BINARY && t != MLOPS_TASK_REGRESSION) {
        fprintf(stderr, "%s: %s: a %s model; the gate handles binary and regression models\n", prog, e->role,
                mlops_task_name(t));
        return -1;
    }
    if (mlops_deploy_create(e->model, NULL, &e->self) != MLOPS_OK || mlops_deploy_stage(e->self, e->model) != MLOPS_OK)
        return lib_fail(e->role);
    return 0;
}

/* The holdout's columns in the model's feature order, then the label. */
static int eval_rows(model_eval *e, const cli_csv *csv, const gate_opts *o) {
    size_t nf = mlops_model_n_features(e->model);
    long *sel = malloc((nf + 1) * sizeof *sel);
    if (!sel) return fprintf(stderr, "%s: out of memory\n", prog), -1;
    for (size_t j = 0; j <= nf; j++) {
        const char *name = j < nf ? mlops_model_feature_name(e->model, j) : o->label;
        if ((sel[j] = cli_csv_col(csv, name)) < 0) {
            fprintf(stderr, "%s: %s has no column \"%s\" (%s)\n", prog, o->data, name,
                    j < nf ? "a feature of the model" : "--label");
            free(sel);
            return -1;
        }
    }
    float *xy = NULL;
    size_t *ids = NULL, n = 0, bad = 0;
    int rc = cli_csv_matrix(csv, prog, o->data, sel, nf + 1, &xy, &n, &ids, &bad);
    free(sel);
    free(ids);
    if (rc == 0 && (bad || !n))
        rc = (fprintf(stderr, "%s: %s: %zu malformed rows, %zu usable: fix the holdout\n", prog, o->data, bad, n), -1);
    e->x = rc == 0 ? malloc(n * (nf ? nf : 1) * sizeof *e->x) : NULL;
    e->y = rc == 0 ? malloc(n * sizeof *e->y) : NULL;
    if (rc == 0 && (!e->x || !e->y)) rc = (fprintf(stderr, "%s: out of memory\n", prog), -1);
    for (size_t r = 0; rc == 0 && r < n; r++) {
        memcpy(e->x + r * nf, xy + r * (nf + 1), nf * sizeof *xy);
        e->y[r] = xy[r * (nf + 1) + nf];
    }
    free(xy);
    e->n_rows = n;
    e->n_feat = nf;
    return rc;
}

/* The gate's `metric` of the model on labels `y` (its own deployment: live == candidate). */
static int gate_metric(model_eval *e, const float *y, mlops_deploy_gate_metric metric, double threshold,
                       double *out) {
    mlops_deploy_gate_opts g;
    mlops_deploy_gate_opts_init(&g, MLOPS_DEPLOY_GATE_OPTS_VERSION);
    g.metric = metric;
    g.threshold = threshold;
    mlops_deploy_gate_report rep;
    if (mlops_deploy_validate(e->self, e->x, e->n_rows, e->n_feat, y, &g, &rep) != MLOPS_OK)
        return lib_fail(e->role);
    *out = rep.candidate_metric;
    return 0;
}

static int eval_quality(model_eval *e, double threshold) {
    if (mlops_model_task(e->model) == MLOPS_TASK_REGRESSION)
        return gate_metric(e, e->y, MLOPS_DEPLOY_GATE_RMSE, threshold, &e->rmse);
    if (gate_metric(e, e->y, MLOPS_DEPLOY_GATE_ACCURACY, threshold, &e->accuracy) != 0) return -1;
    return gate_metric(e, e->y, MLOPS_DEPLOY_GATE_LOGLOSS, threshold, &e->logloss);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Single-row predictions over every holdout row after a warm-up; p50 and p99 by the library. */
static int eval_latency(model_eval *e) {
    size_t w = mlops_model_output_width(e->model, 0);
    float *out = malloc((w ? w : 1) * sizeof *out);
    mlops_router_latency_window *win = NULL;
    size_t cap = e->n_rows < MLOPS_ROUTER_LATENCY_WINDOW_MAX ? e->n_rows : MLOPS_ROUTER_LATENCY_WINDOW_MAX;
    int rc =
        out && mlops_router_latency_window_create(cap, &win) == MLOPS_OK ? 0 : lib_fail("latency window");
    for (size_t r = 0; rc == 0 && r < WARMUP_ROWS && r < e->n_rows; r++)
        if (mlops_model_predict(e->model, e->x + r * e->n_feat, 1, e->n_feat, 0, out, w) != MLOPS_OK)
            rc = lib_fail(e->role);
    for (size_t r = 0; rc == 0 && r < e->n_rows; r++) {
        double t0 = now_seconds();
        mlops_status st = mlops_model_predict(e->model, e->x + r * e->n_feat, 1, e->n_feat, 0, out, w);
        double dt = now_seconds() - t0;
        if (st != MLOPS_OK || mlops_router_latency_window_observe(win, dt) != MLOPS_OK)
            rc = lib_fail(e->role);
    }
    const double q[2] = {0.5, 0.99};
    double v[2];
    if (rc == 0 && mlops_router_latency_window_quantiles(win, q, 2, v, NULL) != MLOPS_OK)
        rc = lib_fail("latency");
    if (rc == 0) {
        e->p50_us = v[0] * 1e6;
        e->p99_us = v[1] * 1e6;
    }
    mlops_router_latency_window_free(win);
    free(out);
    return rc;
}

static void eval_schema(model_eval *e, const mlops_schema *schema) {
    if (!schema) return;
    e->schema_ok = mlops_schema_check_model(schema, e->model) == MLOPS_OK;
    snprintf(e->schema_msg, sizeof e->schema_msg, "%s", e->schema_ok ? "compatible" : mlops_last_error());
}

/* Agreement: the candidate's accuracy (by the gate) against the baseline's predicted classes. */
static int agreement(model_eval *cand, const model_eval *base, double threshold, double *out) {
    if (cand->n_rows != base->n_rows) {
        fprintf(stderr, "%s: candidate and baseline read different rows\n", prog);
        return -1;
    }
    float *cls = malloc((base->n_rows ? base->n_rows : 1) * sizeof *cls);
    if (!cls) return fprintf(stderr, "%s: out of memory\n", prog), -1;
    int rc = mlops_model_predict(base->model, base->x, base->n_rows, base->n_feat, 0, cls, base->n_rows) == MLOPS_OK
                 ? 0
                 : lib_fail("baseline");
    for (size_t r = 0; rc == 0 && r < base->n_rows; r++)
        cls[r] = cls[r] >= threshold ? 1.0f : 0.0f;
    if (rc == 0) rc = gate_metric(cand, cls, MLOPS_DEPLOY_GATE_ACCURACY, threshold, out);
    free(cls);
    return rc;
}

/* ---- checks ---- */

typedef struct check {
    const char *name;
    double cand, base; /* values (NaN: not applicable) */
    double threshold;  /* NaN: no threshold given, the row is information only */
    int at_least;      /* 1: passes when value >= threshold; 0: when value <= threshold */
    int passed;        /* 1 pass, 0 fail, -1 not checked */
    char message[600];
} check;

#define MAX_CHECKS 10

static void judge(check *c) {
    if (isnan(c->threshold)) {
        c->passed = -1;
        return;
    }
    c->passed = !isnan(c->cand) && (c->at_least ? c->cand >= c->threshold : c->cand <= c->threshold);
    snprintf(c->message, sizeof c->message, "%s %.6g %s %s %.6g", c->name, c->cand,
             c->passed ? "is within" : "fails", c->at_least ? "minimum" : "maximum", c->threshold);
}

static size_t add(check *cs, size_t n, const char *name, double cand, double base, double threshold, int at_least) {
    cs[n] = (check){name, cand, base, threshold, at_least, -1, ""};
    judge(&cs[n]);
    return n + 1;
}

static size_t build_checks(const model_eval *c, const model_eval *b, double agree, const gate_opts *o, check *cs) {
    size_t n = 0;
    double nan = NAN;
    int reg = mlops_model_task(c->model) == MLOPS_TASK_REGRESSION;
    if (!reg) {
        n = add(cs, n, "accuracy", c->accuracy, b ? b->accuracy : nan, o->min_accuracy, 1);
        n = add(cs, n, "logloss", c->logloss, b ? b->logloss : nan, o->max_logloss, 0);
        n = add(cs, n, "logloss_increase", b ? c->logloss - b->logloss : nan, nan, o->max_logloss_increase, 0);
    } else {
        n = add(cs, n, "rmse", c->rmse, b ? b->rmse : nan, o->max_rmse, 0);
        n = add(cs, n, "rmse_increase", b ? c->rmse - b->rmse : nan, nan, o->max_rmse_increase, 0);
    }
    if (!reg && b) n = add(cs, n, "agreement", agree, nan, o->min_agreement, 1);
    n = add(cs, n, "p99_latency_us", c->p99_us, b ? b->p99_us : nan, o->max_p99_us, 0);
    n = add(cs, n, "memory_mb", c->memory_mb, b ? b->memory_mb : nan, o->max_memory_mb, 0);
    if (c->schema_ok >= 0) {
        n = add(cs, n, "schema", c->schema_ok, b ? b->schema_ok : nan, 1.0, 1);
        snprintf(cs[n - 1].message, sizeof cs[n - 1].message, "schema: %s", c->schema_msg);
    }
    return n;
}

/* ---- output ---- */

static void print_value(double v, const char *name) {
    if (isnan(v)) printf(" %14s", "-");
    else if (!strcmp(name, "schema")) printf(" %14s", v > 0 ? "compatible" : "MISMATCH");
    else printf(" %14.6g", v);
}

static void print_table(const check *cs, size_t n, const model_eval *c, const model_eval *b) {
    printf("%s: %zu holdout rows; candidate %s; baseline %s\n", prog, c->n_rows, c->where, b ? b->where : "(none)");
    printf("%-18s %14s %14s %16s  %s\n", "check", "candidate", "baseline", "threshold", "result");
    for (size_t i = 0; i < n; i++) {
        printf("%-18s", cs[i].name);
        print_value(cs[i].cand, cs[i].name);
        print_value(cs[i].base, cs[i].name);
        if (isnan(cs[i].threshold)) printf(" %16s", "-");
        else if (!strcmp(cs[i].name, "schema")) printf(" %16s", "compatible");
        else printf(" %2s %13.6g", cs[i].at_least ? ">=" : "<=", cs[i].threshold);
        printf("  %s\n", cs[i].passed < 0 ? "-" : cs[i].passed ? "pass" : "FAIL");
    }
    for (size_t i = 0; i < n; i++)
        if (cs[i].passed == 0) printf("FAIL %s\n", cs[i].message);
}

static json_t *jnum(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *checks_json(const check *cs, size_t n, const model_eval *c, const model_eval *b, int passed) {
    json_t *arr = json_array(), *failed = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *p = cs[i].passed < 0 ? json_null() : json_boolean(cs[i].passed);
        json_array_append_new(arr, json_pack("{s:s, s:o, s:o, s:o, s:s, s:o, s:s}", "name", cs[i].name, "candidate",
                                             jnum(cs[i].cand), "baseline", jnum(cs[i].base), "threshold",
                                             jnum(cs[i].threshold), "op", cs[i].at_least ? ">=" : "<=", "passed", p,
                                             "message", cs[i].message));
        if (cs[i].passed == 0) json_array_append_new(failed, json_string(cs[i].name));
    }
    return json_pack("{s:b, s:I, s:s, s:s?, s:o, s:o, s:{s:o, s:o}}", "passed", passed, "rows", (json_int_t)c->n_rows,
                     "candidate", c->where, "baseline", b ? b->where : NULL, "checks", arr, "failed", failed,
                     "latency_p50_us", "candidate", jnum(c->p50_us), "baseline", jnum(b ? b->p50_us : NAN));
}

/* Append `s` to the buffer with XML's five special characters escaped. */
static void xml_escape(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t') fputc(*s, f);
        }
    }
}

/* JUnit XML, one test case per enabled check, written atomically through the library. */
static int write_junit(const char *path, const check *cs, size_t n) {
    char *buf = NULL;
    size_t len = 0, tests = 0, failures = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return fprintf(stderr, "%s: out of memory\n", prog), -1;
    for (size_t i = 0; i < n; i++)
        if (cs[i].passed >= 0) tests++, failures += cs[i].passed == 0;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"%s\" tests=\"%zu\" failures=\"%zu\">\n"
               "  <testsuite name=\"%s\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"0\">\n",
            prog, tests, failures, prog, tests, failures);
    for (size_t i = 0; i < n; i++) {
        if (cs[i].passed < 0) continue;
        fprintf(f, "    <testcase classname=\"%s\" name=\"%s\"", prog, cs[i].name);
        if (cs[i].passed) {
            fputs("/>\n", f);
            continue;
        }
        fputs(">\n      <failure message=\"", f);
        xml_escape(f, cs[i].message);
        fputs("\" type=\"threshold\">", f);
        xml_escape(f, cs[i].message);
        fputs("</failure>\n    </testcase>\n", f);
    }
    fputs("  </testsuite>\n</testsuites>\n", f);
    int rc = fclose(f) == 0 && mlops_write_file(path, buf, len) == MLOPS_OK ? 0 : lib_fail("--junit");
    free(buf);
    return rc;
}

/* ---- main ---- */

/* A threshold the model's task has no metric for is an error, not a silently skipped check. */
static int thresholds_fit(const gate_opts *o, mlops_task task) {
    int reg = task == MLOPS_TASK_REGRESSION;
    const char *bad = NULL;
    if (reg && (!isnan(o->min_accuracy) || !isnan(o->max_logloss) || !isnan(o->max_logloss_increase) ||
                !isnan(o->min_agreement)))
        bad = "--min-accuracy, --max-logloss, --max-logloss-increase and --min-agreement need a binary model";
    else if (!reg && (!isnan(o->max_rmse) || !isnan(o->max_rmse_increase)))
        bad = "--max-rmse and --max-rmse-increase need a regression model";
    if (bad) fprintf(stderr, "%s: %s (the candidate is a %s model)\n", prog, bad, mlops_task_name(task));
    return bad ? -1 : 0;
}

/* Everything measured: both models loaded, rows read, metrics, latency, schema. */
static int measure(model_eval *c, model_eval *b, const gate_opts *o, double *agree) {
    snprintf(c->where, sizeof c->where, "%s", o->candidate);
    if (eval_load(c, o->candidate, o) != 0) return -1;
    if (o->registry) snprintf(b->where, sizeof b->where, "%s/%s@%s", o->registry, o->reg_name, o->baseline_alias);
    else if (o->baseline) snprintf(b->where, sizeof b->where, "%s", o->baseline);
    if (b->role && eval_load(b, o->baseline, o) != 0) return -1;
    if (b->role && mlops_model_task(b->model) != mlops_model_task(c->model)) {
        fprintf(stderr, "%s: the candidate is a %s model, the baseline a %s model\n", prog,
                mlops_task_name(mlops_model_task(c->model)), mlops_task_name(mlops_model_task(b->model)));
        return -1;
    }
    if (thresholds_fit(o, mlops_model_task(c->model)) != 0) return -1;
    cli_csv csv;
    char err[512];
    if (cli_csv_read(o->data, &csv, err, sizeof err) != 0) return fprintf(stderr, "%s: --data: %s\n", prog, err), -1;
    int rc = eval_rows(c, &csv, o);
    if (rc == 0 && b->role) rc = eval_rows(b, &csv, o);
    cli_csv_free(&csv);
    model_eval *both[2] = {c, b->role ? b : NULL};
    for (int i = 0; i < 2 && rc == 0 && both[i]; i++)
        rc = eval_quality(both[i], o->threshold) || eval_latency(both[i]) ? -1 : 0;
    if (rc == 0 && b->role && mlops_model_task(c->model) == MLOPS_TASK_BINARY)
        rc = agreement(c, b, o->threshold, agree);
    mlops_schema *schema = NULL;
    if (rc == 0 && o->schema && mlops_schema_load(o->schema, &schema) != MLOPS_OK) rc = lib_fail("--schema");
    eval_schema(c, schema);
    if (b->role) eval_schema(b, schema);
    mlops_schema_free(schema);
    return rc;
}

int main(int argc, char **argv) {
    gate_opts o = {0};
    int parsed = parse_options(argc, argv, &o);
    if (parsed != CLI_PARSED) return parsed == CLI_HELP_SHOWN ? 0 : 2;
    model_eval c, b;
    eval_init(&c, "candidate");
    eval_init(&b, (o.baseline || o.registry) ? "baseline" : NULL);
    double agree = NAN;
    check cs[MAX_CHECKS];
    int rc = measure(&c, &b, &o, &agree) == 0 ? 0 : 2;
    size_t n = rc ? 0 : build_checks(&c, b.role ? &b : NULL, agree, &o, cs);
    for (size_t i = 0; i < n; i++)
        if (cs[i].passed == 0) rc = 3;
    if (n && o.json) {
        json_t *doc = checks_json(cs, n, &c, b.role ? &b : NULL, rc == 0);
        if (!doc || json_dumpf(doc, stdout, JSON_INDENT(2)) != 0) rc = 2;
        putchar('\n');
        json_decref(doc);
    } else if (n) {
        print_table(cs, n, &c, b.role ? &b : NULL);
    }
    if (n && o.junit && write_junit(o.junit, cs, n) != 0) rc = 2;
    eval_free(&c);
    eval_free(&b);
    return rc;
}
