/* mlops-serve's fast path of /predict bodies (examples/serve/rows.c) against the library's parser
 * (mlops_schema_parse_rows: jansson, strtod) and the C library's strtod (issue 11).
 *
 *   serve_rows     hand-written bodies (every kind of malformed or unusual input), random
 *                  well-formed bodies with numbers in every notation, and random edits of them,
 *                  on three schemas. Fails on any disagreement with the library, on a number
 *                  that differs from (float)strtod of its text, and when a well-formed body of the
 *                  common kind is not taken by the fast path (so the test cannot pass by declining). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve_rows_check.h"
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define N_FLOAT 30
#define N_RANDOM (RUNNING_ON_VALGRIND ? 1000 : 20000) /* valgrind: a twentieth (9 min otherwise) */
#define N_EDITS 20 /* edits of each random body */

/* Bodies for the typed schema; each is checked against the library on both typed schemas. */
static const char *const TYPED_BODIES[] = {
    "{\"features\": {\"mean_radius\": 14.2, \"n_visits\": 3, \"plan\": \"pro\", \"is_member\": true, "
    "\"score\": "
    "null}}",
    "[{\"features\":{\"mean_radius\":1,\"n_visits\":0,\"plan\":\"free\",\"score\":-0.0}},"
    "{\"features\":{\"score\":1e-400,\"plan\":\"team\",\"n_visits\":7,\"mean_radius\":60,\"tier\":null}}]",
    " \r\n\t{ \"model_version\" : \"v1.0\" , \"features\" : { \"mean_radius\" : 0 , \"n_visits\" : -0 , "
    "\"plan\" : "
    "\"free\" , \"score\" : 1 } } \n",
    "[]",
    " [ ] ",
    "{\"features\": {\"mean_radius\": 61, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1}}", /* above max */
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": -1, \"plan\": \"pro\", \"score\": 1}}", /* below min */
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 2.5, \"plan\": \"pro\", \"score\": 1}}", /* not int */
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 2.0000000001, \"plan\": \"pro\", \"score\": 1}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 1e2, \"plan\": \"pro\", \"score\": 1}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"gold\", \"score\": 1}}", /* category */
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": 1, \"score\": 1}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1, \"is_member\": "
    "1}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1, \"is_member\": "
    "2}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": true}}",
    "{\"features\": {\"mean_radius\": null, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1}}", /* not null
                                                                                                  */
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\"}}",                  /* missing */
    "{\"features\": {\"mean_radius\": 1, \"mean_radius\": 2, \"n_visits\": 3, \"plan\": \"pro\", \"score\": "
    "1}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1, \"other\": 1}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1, \"other\": [1]}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1}, \"a\": 1, \"a\": "
    "2}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1}, \"a\": {}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1}, \"features\": "
    "{}}",
    "{\"features\": {\"mean\\u005fradius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pr\\u006f\", \"score\": 1}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 12345678901234567890, \"plan\": \"pro\", \"score\": "
    "1}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 123456789012345678, \"plan\": \"pro\", \"score\": 1}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1e39}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 3.4028235e38}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 3.40282357e38}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1e400}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 01}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1.}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": .5}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": +1}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1e}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": -}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": NaN}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": Infinity}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": nul}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": nullx}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1,}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1}} x",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1}}}",
    "[{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1}},]",
    "[{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1}}",
    "[{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1}} 1]",
    "[1]",
    "{\"features\": []}",
    "{\"features\": 1}",
    "{}",
    "{\"other\": 1}",
    "",
    "   ",
    "null",
    "\xef\xbb\xbf{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pr\xc3\xa9\", \"score\": 1}}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1}, \"x\": \"\xff\"}",
    "{\"features\": {\"mean_radius\": 1, \"n_visits\": 3, \"plan\": \"pro\", \"score\": 1}, \"x\": \"a\tb\"}",
};

static uint64_t next_rand(uint64_t *s) { /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static unsigned pick(uint64_t *s, unsigned n) { return (unsigned)(next_rand(s) % n); }

/* A JSON number in a random notation, and its value; *exact_ok 0 when the fast path may decline it (an
 * integer too long for int64, a value beyond float32). */
static double random_number(uint64_t *rs, char *out, int *exact_ok) {
    char *p = out;
    if (pick(rs, 2)) *p++ = '-';
    unsigned n_int = pick(rs, 16) ? 1 + pick(rs, 6) : 1 + pick(rs, 22),
             n_frac = pick(rs, 3) ? pick(rs, 18) : 0;
    *p++ = n_int == 1 ? (char)('0' + pick(rs, 10)) : (char)('1' + pick(rs, 9));
    for (unsigned i = 1; i < n_int; i++)
        *p++ = (char)('0' + pick(rs, 10));
    if (n_frac) *p++ = '.';
    for (unsigned i = 0; i < n_frac; i++)
        *p++ = (char)('0' + pick(rs, 10));
    int has_exp = pick(rs, 4) == 0;
    if (has_exp)
        p += sprintf(p, "%c%s%u", pick(rs, 2) ? 'e' : 'E', pick(rs, 2) ? "-" : (pick(rs, 2) ? "+" : ""),
                     pick(rs, 16) ? pick(rs, 30) : pick(rs, 400));
    *p = '\0';
    int integer = n_frac == 0 && !has_exp;
    /* jansson reads an integer through strtoll (so "-0" is +0), other numbers through strtod */
    double d = integer ? (double)strtoll(out, NULL, 10) : strtod(out, NULL);
    *exact_ok = !(integer && n_int > 18) && fabs(d) <= FLT_MAX;
    return d;
}

/* A random well-formed body of 1..3 rows of the float schema, keys in a random order.
 * vals receives the expected floats (each number as the C library reads it, rounded to float). */
static size_t random_body(uint64_t *rs, char *buf, float *vals, size_t *n_rows, int *exact_ok) {
    char *p = buf;
    size_t rows = 1 + pick(rs, 3);
    int array = rows > 1 || pick(rs, 2);
    const char *ws[] = {"", " ", "\n  ", "\t"};
    *exact_ok = 1;
    if (array) *p++ = '[';
    for (size_t r = 0; r < rows; r++) {
        p += sprintf(p, "%s{%s\"features\":%s{", r ? "," : "", ws[pick(rs, 4)], ws[pick(rs, 4)]);
        unsigned order[N_FLOAT];
        for (unsigned i = 0; i < N_FLOAT; i++)
            order[i] = i;
        if (pick(rs, 2))
            for (unsigned i = N_FLOAT - 1; i > 0; i--) {
                unsigned j = pick(rs, i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
        for (unsigned k = 0; k < N_FLOAT; k++) {
            char num[128];
            int ok;
            vals[r * N_FLOAT + order[k]] = (float)random_number(rs, num, &ok);
            *exact_ok &= ok;
            p += sprintf(p, "%s%s\"f %u\"%s:%s%s", k ? "," : "", ws[pick(rs, 4)], order[k], ws[pick(rs, 4)],
                         ws[pick(rs, 4)], num);
        }
        p += sprintf(p, "}%s%s}", pick(rs, 3) ? "" : ", \"model_version\": \"v1.0\"", ws[pick(rs, 4)]);
    }
    if (array) *p++ = ']';
    *p = '\0';
    *n_rows = rows;
    return (size_t)(p - buf);
}

/* One random edit: delete, insert or replace a byte, or repeat a stretch. */
static size_t edit(uint64_t *rs, char *b, size_t len) {
    static const char alphabet[] = "{}[]\":,0123456789.eE+- tfnul\\\x80\xff\x01";
    size_t at = len ? pick(rs, (unsigned)len) : 0;
    switch (pick(rs, 4)) {
    case 0:
        if (len) memmove(b + at, b + at + 1, len - at - 1), len--;
        break;
    case 1:
        memmove(b + at + 1, b + at, len - at);
        b[at] = alphabet[pick(rs, sizeof alphabet - 1)];
        len++;
        break;
    case 2:
        if (len) b[at] = alphabet[pick(rs, sizeof alphabet - 1)];
        break;
    default: {
        size_t n = len - at < 12 ? len - at : 12;
        memmove(b + at + n, b + at, len - at);
        len += n;
    }
    }
    b[len] = '\0';
    return len;
}

static mlops_schema *load_schema(const char *text) {
    mlops_schema *s;
    if (mlops_schema_load_buffer(text, strlen(text), &s) != MLOPS_OK) {
        fprintf(stderr, "serve_rows: schema: %s\n", mlops_last_error());
        exit(1);
    }
    return s;
}

static serve_rows *plan_of(const mlops_schema *s) {
    serve_rows *p;
    if (serve_rows_create(s, &p) != 0) exit(1);
    return p;
}

/* The hand-written bodies on the typed schema (unknown features rejected or ignored). */
static int typed_bodies(size_t *taken) {
    int bad = 0;
    for (int ignore = 0; ignore < 2; ignore++) {
        char text[2048];
        snprintf(text, sizeof text, ROWS_CHECK_SCHEMA_TYPED, ignore ? "ignore" : "reject");
        mlops_schema *s = load_schema(text);
        serve_rows *p = plan_of(s);
        for (size_t i = 0; i < sizeof TYPED_BODIES / sizeof TYPED_BODIES[0]; i++) {
            enum rows_verdict v = rows_check(s, p, TYPED_BODIES[i], strlen(TYPED_BODIES[i]));
            bad += v == ROWS_MISMATCH;
            *taken += v == ROWS_TAKEN || v == ROWS_TAKEN_INVALID;
            if (i < 5 && v != ROWS_TAKEN) { /* the first five are the common kind: they must be taken */
                fprintf(stderr, "serve_rows: typed body %zu not taken: %s\n", i, TYPED_BODIES[i]);
                bad++;
            }
        }
        serve_rows_free(p);
        mlops_schema_free(s);
    }
    return bad;
}

/* Random bodies of the float schema and their edits. */
static int random_bodies(size_t *taken, size_t *edits_taken) {
    char text[8192];
    rows_check_float_schema(text, sizeof text, "f ", N_FLOAT);
    mlops_schema *s = load_schema(text);
    serve_rows *p = plan_of(s);
    uint64_t rs = 0x9E3779B97F4A7C15ull;
    int bad = 0;
    static char body[65536], copy[65536];
    static float want[3 * N_FLOAT], got[ROWS_CHECK_MAX_ROWS * N_FLOAT];
    for (int k = 0; k < N_RANDOM && bad < 10; k++) {
        size_t n_rows, n_got = 0;
        int exact_ok;
        size_t len = random_body(&rs, body, want, &n_rows, &exact_ok);
        enum rows_verdict v = rows_check(s, p, body, len);
        bad += v == ROWS_MISMATCH;
        if (exact_ok) { /* must be taken, each number equal to (float)strtod of its text */
            int fast = serve_rows_parse(p, body, len, got, ROWS_CHECK_MAX_ROWS, &n_got);
            int same = fast == 0 && n_got == n_rows && v == ROWS_TAKEN;
            for (size_t i = 0; same && i < n_rows * N_FLOAT; i++)
                same = rows_same_bits(got[i], want[i]);
            if (!same) {
                fprintf(stderr, "serve_rows: not taken or not strtod's values: %.300s\n", body);
                bad++;
            }
            *taken += same;
        }
        memcpy(copy, body, len + 1);
        for (int e = 0; e < N_EDITS && len < sizeof copy - 64; e++) {
            len = edit(&rs, copy, len);
            v = rows_check(s, p, copy, len);
            bad += v == ROWS_MISMATCH;
            *edits_taken += v == ROWS_TAKEN || v == ROWS_TAKEN_INVALID;
        }
    }
    serve_rows_free(p);
    mlops_schema_free(s);
    return bad;
}

int main(void) {
    size_t typed_taken = 0, taken = 0, edits_taken = 0;
    int bad = typed_bodies(&typed_taken) + random_bodies(&taken, &edits_taken);
    printf(
        "serve_rows: %zu hand-written bodies taken by the fast path, %zu random bodies taken with strtod's "
        "values, %zu edited bodies taken; %d disagreements\n",
        typed_taken, taken, edits_taken, bad);
    /* most random bodies are of the common kind: a fast path that declines everything fails here */
    return bad == 0 && taken > N_RANDOM / 10 ? 0 : 1;
}
