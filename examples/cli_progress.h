/* Progress of a long run on stderr: "PROG: 12,288 / 100,000 rows (12%), 45,000 rows/s, ETA 2 s".
 * Part of the examples, not of the library.
 *
 * Shown when stderr is a terminal, or when asked (--progress) even on a pipe;
 * never with --quiet. One line rewritten in place with '\r', at most ten
 * times a second, and ended with a newline by cli_progress_end, so whatever a
 * program prints next starts on a line of its own. Single-threaded: one
 * progress line per program, updated from the thread that does the work. */
#ifndef MLOPS_CLI_PROGRESS_H
#define MLOPS_CLI_PROGRESS_H

#include <stddef.h>

/* When to show progress: from --progress / --quiet. */
typedef enum cli_progress_mode {
    CLI_PROGRESS_AUTO,   /* when stderr is a terminal */
    CLI_PROGRESS_ALWAYS, /* --progress */
    CLI_PROGRESS_NEVER   /* --quiet */
} cli_progress_mode;

typedef struct cli_progress {
    const char *prog, *unit; /* "mlops-predict", "rows" */
    size_t total;            /* 0 = unknown: no percentage, no ETA */
    size_t done;
    int on;                  /* drawing at all */
    int drawn;               /* a line is on the screen (needs its newline) */
    size_t last_len;         /* width of the line drawn last, to blank what a shorter one leaves */
    double t0, last;         /* start, last draw (seconds, monotonic) */
} cli_progress;

/* Help lines of --progress and --quiet, the same in every program. */
#define CLI_PROGRESS_HELP "show progress on stderr even when it is not a terminal"
#define CLI_QUIET_HELP "no progress and no success notes; errors and the results asked for stay"

/* The mode the flags ask for: --quiet wins over --progress. */
cli_progress_mode cli_progress_mode_of(int progress_flag, int quiet_flag);

/* Start counting `unit` towards `total` (0 if unknown). Nothing is drawn yet. */
void cli_progress_begin(cli_progress *p, const char *prog, const char *unit, size_t total, cli_progress_mode mode);

/* `done` units so far: redraws when 100 ms have passed since the last draw. */
void cli_progress_update(cli_progress *p, size_t done);

/* Erase the progress line (when one is drawn) so that a message can be printed on stderr;
 * the next update draws it again. */
void cli_progress_clear(cli_progress *p);

/* The final line (count, time, rate) and its newline, when progress is on. */
void cli_progress_end(cli_progress *p);

#endif
