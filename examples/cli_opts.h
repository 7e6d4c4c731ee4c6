/* Command-line options of the example programs: one table per program.
 * Part of the examples, not of the library.
 *
 * A program describes each option once (name, argument, default, help text,
 * where the value goes, its range); cli_opts_parse applies the defaults,
 * parses argv with getopt_long and checks every value, and cli_opts_help
 * prints --help from the same table, so the help text cannot disagree with
 * the parser. Every error is one line on stderr, "PROG: --OPTION: reason",
 * followed by the usage lines, and means exit status 2.
 *
 * Thread safety: parsing uses getopt_long's globals; call it from main only. */
#ifndef MLOPS_CLI_OPTS_H
#define MLOPS_CLI_OPTS_H

#include <stddef.h>
#include <stdio.h>

/* What an option's value is, and so what `dst` points to. */
typedef enum cli_opt_kind {
    CLI_FLAG,   /* no value; int *dst set to 1 */
    CLI_STR,    /* const char **dst: the argument itself (points into argv) */
    CLI_LIST,   /* cli_list *dst: repeatable, every argument kept in order */
    CLI_LONG,   /* long *dst: a decimal integer in [lo, hi] */
    CLI_DOUBLE, /* double *dst: a finite decimal number in the range lo..hi (see lo_open, hi_open) */
    CLI_CHOICE  /* const char **dst: one of the words of `choices` ("a|b|c") */
} cli_opt_kind;

/* The arguments of a repeatable option. `v` is malloc'd; release it with cli_list_free. */
typedef struct cli_list {
    const char **v;
    size_t n;
} cli_list;

/* One option. Tables end with an entry whose name is NULL. */
typedef struct cli_opt {
    const char *name;    /* long name without the leading "--" */
    cli_opt_kind kind;
    const char *arg;     /* argument placeholder in --help ("FILE", "N"); NULL for a flag */
    const char *def;     /* default as the user would type it, parsed like an argument; NULL = none */
    const char *help;    /* one line */
    void *dst;
    double lo, hi;       /* CLI_LONG and CLI_DOUBLE: the accepted range */
    int lo_open, hi_open; /* CLI_DOUBLE: 1 excludes the bound itself */
    const char *choices; /* CLI_CHOICE: "auto|native|xgboost" */
} cli_opt;

/* Table entries, one macro per kind (the fields a kind does not use stay zero). */
#define CLI_OPT_FLAG(n, h, d) {.name = (n), .kind = CLI_FLAG, .help = (h), .dst = (d)}
#define CLI_OPT_STR(n, a, df, h, d) {.name = (n), .kind = CLI_STR, .arg = (a), .def = (df), .help = (h), .dst = (d)}
#define CLI_OPT_LIST(n, a, h, d) {.name = (n), .kind = CLI_LIST, .arg = (a), .help = (h), .dst = (d)}
#define CLI_OPT_LONG(n, a, df, h, d, l, u)                                                                     \
    {.name = (n), .kind = CLI_LONG, .arg = (a), .def = (df), .help = (h), .dst = (d), .lo = (l), .hi = (u)}
#define CLI_OPT_DOUBLE(n, a, df, h, d, l, u, lopen, hopen)                                                     \
    {.name = (n), .kind = CLI_DOUBLE, .arg = (a), .def = (df), .help = (h), .dst = (d), .lo = (l), .hi = (u),  \
     .lo_open = (lopen), .hi_open = (hopen)}
#define CLI_OPT_CHOICE(n, a, df, ch, h, d)                                                                     \
    {.name = (n), .kind = CLI_CHOICE, .arg = (a), .def = (df), .choices = (ch), .help = (h), .dst = (d)}
#define CLI_OPT_END {.name = NULL}

/* A program: its name, synopsis and option table. */
typedef struct cli_prog {
    const char *name;   /* "mlops-predict": the prefix of every message */
    const char *usage;  /* synopsis, one or more lines without "usage: " */
    const char *about;  /* what it does, a few lines */
    const char *exit_status; /* "0 ok, 2 usage or I/O error, 3 ..." */
    const cli_opt *opts;
} cli_prog;

enum { CLI_PARSED = 0, CLI_HELP_SHOWN = 1, CLI_BAD_USAGE = 2 };

/* Apply the defaults, then parse argv. Returns CLI_PARSED; CLI_HELP_SHOWN after
 * printing --help on stdout (the program exits 0); or CLI_BAD_USAGE after
 * printing the error and the usage on stderr (exit 2). Positional arguments
 * are refused. CLI_LIST destinations must be released with cli_list_free in
 * every case. */
int cli_opts_parse(const cli_prog *p, int argc, char **argv);

/* cli_opts_parse for a program whose options come before a command: parsing stops at the
 * first operand (a command and its own arguments), whose index goes to *first (argc when
 * there is none). */
int cli_opts_parse_until_operand(const cli_prog *p, int argc, char **argv, int *first);

/* Print --help: usage, about, one line per option ("  --name ARG  help
 * (default: D)"), then the exit statuses. */
void cli_opts_help(const cli_prog *p, FILE *f);

/* Print "PROG: message" and the usage on stderr; returns CLI_BAD_USAGE, so
 * that a program's own checks of option combinations read `return cli_usage_error(...)`. */
int cli_usage_error(const cli_prog *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void cli_list_free(cli_list *l);

/* 1 if `name` is one of the list's arguments. */
int cli_list_has(const cli_list *l, const char *name);

/* -1 after printing "PROG: PATH has no column \"NAME\" to exclude" for the first name of `l`
 * that is not a header column of `csv`; 0 when all are. */
struct cli_csv;
int cli_check_excluded(const struct cli_csv *csv, const cli_list *l, const char *prog, const char *path);

/* The last path component of `path` ("dir/m.json" -> "m.json"); points into path. */
const char *cli_base_name(const char *path);

#endif
