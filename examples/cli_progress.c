/* The progress line of the example programs. */
#include "cli_progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Seconds between two draws: at most ten lines a second. */
#define MIN_INTERVAL 0.1

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

cli_progress_mode cli_progress_mode_of(int progress_flag, int quiet_flag) {
    if (quiet_flag) return CLI_PROGRESS_NEVER;
    return progress_flag ? CLI_PROGRESS_ALWAYS : CLI_PROGRESS_AUTO;
}

void cli_progress_begin(cli_progress *p, const char *prog, const char *unit, size_t total, cli_progress_mode mode) {
    memset(p, 0, sizeof *p);
    p->prog = prog;
    p->unit = unit;
    p->total = total;
    p->on = mode == CLI_PROGRESS_ALWAYS || (mode == CLI_PROGRESS_AUTO && isatty(STDERR_FILENO));
    p->t0 = p->last = now();
}

/* "1234567" -> "1,234,567" */
static void grouped(char *out, size_t cap, size_t v) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%zu", v);
    size_t k = 0;
    for (int i = 0; i < n && k + 2 < cap; i++) {
        if (i && (n - i) % 3 == 0) out[k++] = ',';
        out[k++] = digits[i];
    }
    out[k] = '\0';
}

/* Write `line` over the previous one, blanking what it leaves of a longer one. */
static void draw(cli_progress *p, const char *line) {
    size_t len = strlen(line);
    int pad = p->last_len > len ? (int)(p->last_len - len) : 0;
    fprintf(stderr, "\r%s%*s", line, pad, "");
    fflush(stderr);
    p->last_len = len;
    p->drawn = 1;
}

static void draw_running(cli_progress *p, double t) {
    char done[32], total[32], line[256];
    double el = t - p->t0, rate = el > 0 ? (double)p->done / el : 0;
    grouped(done, sizeof done, p->done);
    int n = snprintf(line, sizeof line, "%s: %s", p->prog, done);
    if (p->total) {
        grouped(total, sizeof total, p->total);
        n += snprintf(line + n, sizeof line - (size_t)n, " / %s %s (%.0f%%)", total, p->unit,
                      100.0 * (double)p->done / (double)p->total);
    } else {
        n += snprintf(line + n, sizeof line - (size_t)n, " %s", p->unit);
    }
    n += snprintf(line + n, sizeof line - (size_t)n, ", %.0f %s/s", rate, p->unit);
    if (p->total && rate > 0 && p->done < p->total)
        snprintf(line + n, sizeof line - (size_t)n, ", ETA %.0f s", (double)(p->total - p->done) / rate);
    draw(p, line);
}

void cli_progress_update(cli_progress *p, size_t done) {
    p->done = done;
    if (!p->on) return;
    double t = now();
    if (t - p->last < MIN_INTERVAL) return;
    p->last = t;
    draw_running(p, t);
}

void cli_progress_clear(cli_progress *p) {
    if (!p || !p->on || !p->drawn) return;
    fprintf(stderr, "\r%*s\r", (int)p->last_len, "");
    p->drawn = 0;
    p->last_len = 0;
}

void cli_progress_end(cli_progress *p) {
    if (!p->on) return;
    char done[32], line[256];
    double el = now() - p->t0;
    grouped(done, sizeof done, p->done);
    snprintf(line, sizeof line, "%s: %s %s in %.2f s (%.0f %s/s)", p->prog, done, p->unit, el,
             el > 0 ? (double)p->done / el : 0.0, p->unit);
    draw(p, line);
    fputc('\n', stderr);
    p->on = 0;
}
