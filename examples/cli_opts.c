/* Option tables, getopt_long and --help for the example programs. */
#include "cli_opts.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli_util.h"

/* Longest option table a program has (getopt_long needs its own array). */
#define CLI_MAX_OPTS 48

static size_t count_opts(const cli_opt *o) {
    size_t n = 0;
    while (o[n].name)
        n++;
    return n;
}

static void print_usage(const cli_prog *p, FILE *f) {
    fprintf(f, "usage: %s\n", p->usage);
    fprintf(f, "Try '%s --help' for the options.\n", p->name);
}

int cli_usage_error(const cli_prog *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", p->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    print_usage(p, stderr);
    return CLI_BAD_USAGE;
}

static int in_range(const cli_opt *o, double v) {
    int lo_ok = o->lo_open ? v > o->lo : v >= o->lo;
    int hi_ok = o->hi_open ? v < o->hi : v <= o->hi;
    return lo_ok && hi_ok;
}

static int bad_number(const cli_prog *p, const cli_opt *o, const char *v) {
    if (o->kind == CLI_LONG)
        return cli_usage_error(p, "--%s: expected an integer from %.0f to %.0f, got '%s'", o->name, o->lo, o->hi, v);
    if (isinf(o->lo) && isinf(o->hi))
        return cli_usage_error(p, "--%s: '%s' is not a finite number", o->name, v);
    return cli_usage_error(p, "--%s: expected a finite number in %c%g, %g%c, got '%s'", o->name, o->lo_open ? '(' : '[',
                           o->lo, o->hi, o->hi_open ? ')' : ']', v);
}

static int set_long(const cli_prog *p, const cli_opt *o, const char *v) {
    char *end = NULL;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || !in_range(o, (double)n)) return bad_number(p, o, v);
    *(long *)o->dst = n;
    return CLI_PARSED;
}

static int set_double(const cli_prog *p, const cli_opt *o, const char *v) {
    double d;
    if (cli_parse_double(v, &d) != 0 || !isfinite(d) || !in_range(o, d)) return bad_number(p, o, v);
    *(double *)o->dst = d;
    return CLI_PARSED;
}

static int set_choice(const cli_prog *p, const cli_opt *o, const char *v) {
    size_t n = strlen(v);
    for (const char *c = o->choices; n && c;) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && strncmp(c, v, n) == 0) {
            *(const char **)o->dst = v;
            return CLI_PARSED;
        }
        c = bar ? bar + 1 : NULL;
    }
    return cli_usage_error(p, "--%s: expected one of %s, got '%s'", o->name, o->choices, v);
}

static int add_to_list(const cli_prog *p, const cli_opt *o, const char *v) {
    cli_list *l = o->dst;
    const char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
    if (!nv) return cli_usage_error(p, "--%s: out of memory", o->name);
    nv[l->n++] = v;
    l->v = nv;
    return CLI_PARSED;
}

/* Store one value (an argument or a default) of option `o`. */
static int set_value(const cli_prog *p, const cli_opt *o, const char *v) {
    switch (o->kind) {
    case CLI_FLAG:
        *(int *)o->dst = 1;
        return CLI_PARSED;
    case CLI_STR:
        *(const char **)o->dst = v;
        return CLI_PARSED;
    case CLI_LIST:
        return add_to_list(p, o, v);
    case CLI_LONG:
        return set_long(p, o, v);
    case CLI_DOUBLE:
        return set_double(p, o, v);
    case CLI_CHOICE:
        return set_choice(p, o, v);
    }
    return CLI_BAD_USAGE;
}

static int apply_defaults(const cli_prog *p) {
    for (const cli_opt *o = p->opts; o->name; o++) {
        if (o->kind == CLI_FLAG) *(int *)o->dst = 0;
        if (o->kind == CLI_LIST) *(cli_list *)o->dst = (cli_list){NULL, 0};
        if ((o->kind == CLI_STR || o->kind == CLI_CHOICE) && !o->def) *(const char **)o->dst = NULL;
        if (o->def && o->kind != CLI_LIST && set_value(p, o, o->def) != CLI_PARSED) return CLI_BAD_USAGE;
    }
    return CLI_PARSED;
}

/* The message for getopt_long's '?' or ':' on argv[optind - 1]. */
static int getopt_error(const cli_prog *p, int c, char **argv) {
    const char *arg = argv[optind - 1];
    if (c == ':') return cli_usage_error(p, "%s needs a value", arg);
    if (strchr(arg, '=') && strncmp(arg, "--", 2) == 0)
        return cli_usage_error(p, "%s: unknown option, or a flag given a value", arg);
    return cli_usage_error(p, "unknown option %s, or an ambiguous abbreviation", arg);
}

/* Parse the options; with `first` non-NULL stop at the first operand and store its index there,
 * else refuse operands. */
static int parse_argv(const cli_prog *p, int argc, char **argv, int *first) {
    size_t n = count_opts(p->opts);
    struct option lo[CLI_MAX_OPTS + 2];
    if (n > CLI_MAX_OPTS || apply_defaults(p) != CLI_PARSED) return CLI_BAD_USAGE;
    for (size_t i = 0; i < n; i++)
        lo[i] = (struct option){p->opts[i].name, p->opts[i].kind == CLI_FLAG ? no_argument : required_argument,
                                NULL, (int)(256 + i)};
    lo[n] = (struct option){"help", no_argument, NULL, 'h'};
    lo[n + 1] = (struct option){NULL, 0, NULL, 0};
    opterr = 0;
    optind = 1;
    for (;;) {
        int c = getopt_long(argc, argv, first ? "+:h" : ":h", lo, NULL);
        if (c == -1) break;
        if (c == 'h') {
            cli_opts_help(p, stdout);
            return CLI_HELP_SHOWN;
        }
        if (c < 256) return getopt_error(p, c, argv);
        if (set_value(p, &p->opts[c - 256], optarg) != CLI_PARSED) return CLI_BAD_USAGE;
    }
    if (first)
        *first = optind;
    else if (optind < argc)
        return cli_usage_error(p, "unexpected argument '%s'", argv[optind]);
    return CLI_PARSED;
}

int cli_opts_parse(const cli_prog *p, int argc, char **argv) { return parse_argv(p, argc, argv, NULL); }

int cli_opts_parse_until_operand(const cli_prog *p, int argc, char **argv, int *first) {
    return parse_argv(p, argc, argv, first);
}

/* "--name ARG" of an option, as --help shows it. */
static void option_label(const cli_opt *o, char *buf, size_t size) {
    snprintf(buf, size, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
}

/* Width of the label column: 22, or wider so that two spaces follow the longest label. */
static int label_width(const cli_opt *opts) {
    int w = 22;
    for (const cli_opt *o = opts; o->name; o++) {
        char left[64];
        option_label(o, left, sizeof left);
        if ((int)strlen(left) + 1 > w) w = (int)strlen(left) + 1;
    }
    return w;
}

void cli_opts_help(const cli_prog *p, FILE *f) {
    int w = label_width(p->opts);
    fprintf(f, "usage: %s\n%s\n\noptions:\n", p->usage, p->about);
    for (const cli_opt *o = p->opts; o->name; o++) {
        char left[64];
        option_label(o, left, sizeof left);
        fprintf(f, "  %-*s %s", w, left, o->help);
        if (o->kind == CLI_LIST) fprintf(f, "; repeatable");
        if (o->def) fprintf(f, " (default: %s)", o->def);
        fputc('\n', f);
    }
    fprintf(f, "  %-*s %s\n", w, "--help", "print this help and exit");
    fprintf(f, "\nexit status: %s\n", p->exit_status);
}

void cli_list_free(cli_list *l) {
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int cli_list_has(const cli_list *l, const char *name) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], name) == 0) return 1;
    return 0;
}

const char *cli_base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int cli_check_excluded(const cli_csv *csv, const cli_list *l, const char *prog, const char *path) {
    for (size_t i = 0; i < l->n; i++)
        if (cli_csv_col(csv, l->v[i]) < 0) {
            fprintf(stderr, "%s: %s has no column \"%s\" to exclude\n", prog, path, l->v[i]);
            return -1;
        }
    return 0;
}
