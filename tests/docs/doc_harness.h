/* The context a C block of the documentation runs in (tests/docs/test_docs.py).
 *
 * A block is a fragment: it uses data it does not declare (x, n_rows, out, ...). This header
 * declares them, filled by doc_setup() from the files the test writes into the working directory
 * (data.csv: the demo's feature columns, labels.csv: its labels, rows.json: named JSON rows), and
 * doc_check(), which the generated source wraps around every call that returns mlops_status: any
 * status but MLOPS_OK fails the test with the block's line and the library's message. Compiled as
 * C11 and as C++. Globals are fine here: one program per block, one thread. */
#ifndef DOC_HARNESS_H
#define DOC_HARNESS_H
#include <mlops.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOC_ROWS 200
#define DOC_COLS 30

float x[DOC_ROWS * DOC_COLS], xv[DOC_ROWS * DOC_COLS], yv[DOC_ROWS], out[DOC_ROWS * 8];
double a[DOC_ROWS], b[DOC_ROWS], ref[DOC_ROWS * DOC_COLS], xd[DOC_ROWS * DOC_COLS], p = 0.5;
size_t n_rows = 10, n = DOC_ROWS, m2 = DOC_ROWS, n_ref = DOC_ROWS, n_val = DOC_ROWS, cap = DOC_ROWS * DOC_COLS;
size_t body_len, len;
unsigned char row_ok[DOC_ROWS];
char *body, *text;
char name_buf[DOC_COLS][64];
const char *names[DOC_COLS];

static mlops_status doc_check(mlops_status st, const char *call, int line)
{
    if (st != MLOPS_OK) {
        fprintf(stderr, "DOC-FAIL line %d: %s returned %s: %s\n", line, call, mlops_status_str(st),
                mlops_last_error());
        exit(1);
    }
    return st;
}

static char *doc_read(const char *path, size_t *n_out)
{
    FILE *f = fopen(path, "rb");
    char *buf = (char *)calloc(1, 1 << 20);
    size_t got = f && buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    if (!f || !buf) {
        fprintf(stderr, "DOC-FAIL harness: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *n_out = got;
    return buf;
}

/* data.csv: a header of DOC_COLS names, then DOC_ROWS rows; labels.csv: one label per line. */
static void doc_setup(void)
{
    size_t nd, nl;
    char *d = doc_read("data.csv", &nd), *l = doc_read("labels.csv", &nl), *s = d, *t = l;
    for (size_t j = 0; j < DOC_COLS; j++) {
        size_t k = strcspn(s, ",\n");
        snprintf(name_buf[j], sizeof name_buf[j], "%.*s", (int)k, s);
        names[j] = name_buf[j];
        s += k + 1;
    }
    for (size_t i = 0; i < DOC_ROWS; i++) {
        for (size_t j = 0; j < DOC_COLS; j++) {
            double v = strtod(s, &s);
            s++;
            x[i * DOC_COLS + j] = xv[i * DOC_COLS + j] = (float)v;
            ref[i * DOC_COLS + j] = v;
            xd[i * DOC_COLS + j] = v * 0.7;
        }
        a[i] = ref[i * DOC_COLS];
        b[i] = xd[i * DOC_COLS];
        yv[i] = (float)strtod(t, &t);
    }
    free(d);
    free(l);
    body = doc_read("rows.json", &body_len);
}
#endif
