/* cli_float (examples/cli_float.c) against the C library, bit for bit (issue 26).
 *
 *   float_exact            millions of random and edge-case decimals parsed by
 *                          cli_float_parse_dec / cli_double_parse_dec /
 *                          cli_float_parse_cell / cli_float_scan (the CSV fast
 *                          path, which must never disagree when it answers) and by
 *                          strtof / strtod; millions of float bit patterns
 *                          formatted by cli_float_format and read back by strtof.
 *                          Prints the mismatch counts; exit 1 unless all are 0.
 *   float_exact format     reads float bit patterns (decimal uint32, one a line)
 *                          on stdin, prints cli_float_format of each (for the
 *                          numpy shortness oracle in test_float_format.py). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../examples/cli_float.h"

static uint64_t next_rand(uint64_t *s) { /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static unsigned pick(uint64_t *s, unsigned n) { return (unsigned)(next_rand(s) % n); }

/* Random digits with an optional sign, point, leading zeros and exponent. */
static void random_decimal(uint64_t *rs, char *out) {
    char *w = out;
    unsigned r = pick(rs, 4);
    if (r == 0) *w++ = '-';
    if (r == 1) *w++ = '+';
    unsigned zeros = pick(rs, 4) == 0 ? pick(rs, 5) : 0, n = 1 + pick(rs, pick(rs, 3) ? 12 : 30);
    unsigned point = pick(rs, n + 2);
    for (unsigned i = 0; i < zeros; i++)
        *w++ = '0';
    for (unsigned i = 0; i < n; i++) {
        if (i == point) *w++ = '.';
        *w++ = (char)('0' + pick(rs, 10));
    }
    if (point == n) *w++ = '.';
    if (pick(rs, 2)) w += sprintf(w, "e%d", (int)pick(rs, 100) - 55);
    *w = '\0';
}

/* Decimals on and near the midpoint between a float and the next one, at several lengths. */
static void halfway_decimal(uint64_t *rs, char *out) {
    uint32_t bits = (uint32_t)next_rand(rs) & 0x7f7fffffu;
    if (pick(rs, 8) == 0) bits &= 0x007fffffu; /* subnormal */
    float f;
    memcpy(&f, &bits, sizeof f);
    double mid = ((double)f + (double)nextafterf(f, INFINITY)) / 2; /* exact */
    int digits = 6 + (int)pick(rs, 60);
    sprintf(out, "%.*e", digits, pick(rs, 2) ? mid : -mid);
    if (pick(rs, 3) == 0) { /* nudge the last digit */
        char *e = strchr(out, 'e');
        char *d = e - 1;
        *d = (char)(*d == '9' ? '8' : *d + 1);
    }
}

/* Exact midpoints (ties) between floats of [2^17, 2^23), at most 14 digits without an exponent:
 * the ones cli_float_scan answers by a product, so that its tie rule is tested. Some nudged. */
static void short_halfway_decimal(uint64_t *rs, char *out) {
    int k = 17 + (int)pick(rs, 6);
    float f = ldexpf(1.0f + (float)pick(rs, 1u << 23) / 8388608.0f, k);
    double mid = ((double)f + (double)nextafterf(f, INFINITY)) / 2; /* exact, 24 - k decimals */
    sprintf(out, "%s%.*f", pick(rs, 2) ? "" : "-", 24 - k, mid);
    if (pick(rs, 3) == 0) { /* nudge the last digit */
        char *d = out + strlen(out) - 1;
        *d = (char)(*d == '9' ? '8' : *d + 1);
    }
}

/* Printed floats and doubles: short, 9+ digits, subnormal, near overflow. */
static void printed_decimal(uint64_t *rs, char *out) {
    static const char *edges[] = {"3.4028235e38", "3.40282347e38", "3.40282357e38", "3.4028236e38", "1e39",
                                  "-1e39", "1.17549435e-38", "1.4e-45", "7e-46", "7.1e-46", "1e-46", "0",
                                  "-0", "0e999", "1e-999", "000000000000000000000001.5", ".5", "5.",
                                  "0.000000000000000000000000000000000000000000001401298464324817"};
    uint32_t bits = (uint32_t)next_rand(rs);
    float f;
    memcpy(&f, &bits, sizeof f);
    if (isnan(f) || isinf(f)) f = 1.5f;
    switch (pick(rs, 5)) {
    case 0: strcpy(out, edges[pick(rs, sizeof edges / sizeof *edges)]); break;
    case 1: sprintf(out, "%.*g", 1 + (int)pick(rs, 25), (double)f); break;
    case 2: sprintf(out, "%.*e", (int)pick(rs, 20), (double)f * (1 + 1e-9 * (double)pick(rs, 1000))); break;
    case 3: sprintf(out, "%.*f", (int)pick(rs, 12), (double)(f * 1e-30f)); break;
    default: sprintf(out, "%.17g", (double)(int64_t)next_rand(rs) * pow(10, (int)pick(rs, 60) - 40)); break;
    }
}

/* Random text over the number alphabet: accepted exactly when strtof reads all of it. */
static void garbage(uint64_t *rs, char *out) {
    static const char alpha[] = "0123456789.eE+-";
    unsigned n = pick(rs, 8);
    for (unsigned i = 0; i < n; i++)
        out[i] = alpha[pick(rs, sizeof alpha - 1)];
    out[n] = '\0';
}

static int same_float(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

static long scan_answered; /* strings cli_float_scan parsed itself (the test must reach the fast path) */

/* cli_float_scan on s followed by a ',' and garbage (as in a CSV row): when it reads up to the
 * comma it must be a decimal strtof reads whole, with strtof's bits. 1 on a disagreement. */
static int check_scan(const char *s, int ref_ok, float ref, long *shown) {
    char buf[320];
    size_t n = strlen(s);
    memcpy(buf, s, n);
    memcpy(buf + n, ",9e9.5x\n", 9);
    memset(buf + n + 9, '7', CLI_FLOAT_SCAN_PAD);
    float got;
    const char *end = cli_float_scan(buf, &got);
    if (!end || end != buf + n) return 0; /* declined, or stopped early (the row then goes the slow way) */
    scan_answered++;
    if (ref_ok && same_float(got, ref)) return 0;
    if ((*shown)++ < 10) fprintf(stderr, "SCAN MISMATCH \"%s\": strtof %a (ok %d), cli_float_scan %a\n", s, (double)ref, ref_ok, (double)got);
    return 1;
}
static int same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* One string against strtof/strtod; returns the number of disagreements (0..2). */
static int check_string(const char *s, long *shown) {
    char *endf;
    float ref = strtof(s, &endf);
    double refd = strtod(s, NULL);
    int ref_ok = *s && *endf == '\0';
    float got;
    double gotd;
    int rc = cli_float_parse_dec(s, s + strlen(s), &got), rcd = cli_double_parse_dec(s, s + strlen(s), &gotd);
    int bad = 0;
    if (ref_ok != (rc != -1) || (ref_ok && (!same_float(got, ref) || (rc == -2) != (isinf(ref) != 0)))) bad++;
    if (ref_ok != (rcd != -1) || (ref_ok && !same_double(gotd, refd))) bad++;
    char padded[300];
    float cell;
    snprintf(padded, sizeof padded, " \t%s \t", s);
    int rcc = cli_float_parse_cell(padded, &cell); /* the C-string form, with spaces around */
    if (rcc != rc || (rc == 0 && !same_float(cell, got))) bad++;
    int bad_scan = check_scan(s, ref_ok, ref, shown);
    if (bad_scan) return bad + bad_scan;
    if (bad && (*shown)++ < 10)
        fprintf(stderr, "MISMATCH \"%s\": strtof %a (ok %d) ours %a (rc %d); strtod %a ours %a (rc %d)\n", s,
                (double)ref, ref_ok, (double)got, rc, refd, gotd, rcd);
    return bad;
}

static long parse_tests(long n) {
    uint64_t rs = 0x9E3779B97F4A7C15ull;
    long bad = 0, shown = 0;
    char buf[256];
    for (long i = 0; i < n; i++) {
        switch (i % 5) {
        case 0: random_decimal(&rs, buf); break;
        case 1: halfway_decimal(&rs, buf); break;
        case 2: printed_decimal(&rs, buf); break;
        case 3: short_halfway_decimal(&rs, buf); break;
        default: garbage(&rs, buf); break;
        }
        bad += check_string(buf, &shown);
    }
    return bad;
}

/* The CSV cell cli_float_scan answers inline, "[+-]D.F": every "D.ddddd" with a sign (the
 * benchmark's cells), then random ones with 0..8 fraction digits, around the 2^24 limit of
 * the digits (1.6777216 is the last one divided, 1.6777217 goes the general way) and with an
 * exponent after them. */
static long fixed_tests(long n_random) {
    uint64_t rs = 0x2545F4914F6CDD1Dull;
    long bad = 0, shown = 0;
    char buf[64];
    for (long v = 0; v < 1000000; v++) {
        snprintf(buf, sizeof buf, "%c%ld.%05ld", v % 2 ? '-' : '+', v / 100000, v % 100000);
        bad += check_string(buf, &shown);
    }
    static const char *edges[] = {"1.6777216", "1.6777217", "-1.6777215", "9.9999999", "0.0000000", "-0.0", "5.",
                                  "+5.", "1.5e3", "1.5E-3", "2.00000005", "0.00000001", "9.99999995"};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
        bad += check_string(edges[i], &shown);
    for (long i = 0; i < n_random; i++) {
        int k = (int)pick(&rs, 9);
        int w = snprintf(buf, sizeof buf, "%s%u.", pick(&rs, 3) == 0 ? "-" : "", (unsigned)pick(&rs, 10));
        for (int j = 0; j < k; j++)
            buf[w++] = (char)('0' + pick(&rs, 10));
        buf[w] = '\0';
        if (pick(&rs, 16) == 0) snprintf(buf + w, sizeof buf - (size_t)w, "e%d", (int)pick(&rs, 20) - 10);
        bad += check_string(buf, &shown);
    }
    return bad;
}

/* Formats read back to the same bits, and say nan/inf for those. */
static long format_tests(long n) {
    uint64_t rs = 0xD1B54A32D192ED03ull;
    long bad = 0, shown = 0;
    char buf[CLI_FLOAT_MAX_CHARS];
    for (long i = 0; i < n; i++) {
        uint32_t bits = i < 512 ? (uint32_t)(i < 256 ? i : (uint32_t)(i - 256) << 23) : (uint32_t)next_rand(&rs);
        if (i % 7 == 0 && i >= 512) bits = (uint32_t)pick(&rs, 0x800000); /* subnormals */
        float f;
        memcpy(&f, &bits, sizeof f);
        size_t len = cli_float_format(f, buf);
        float back = strtof(buf, NULL);
        int ok = len == strlen(buf) && len < CLI_FLOAT_MAX_CHARS &&
                 (isnan(f) ? strcmp(buf, "nan") == 0 : same_float(back, f));
        if (!ok && shown++ < 10) fprintf(stderr, "FORMAT MISMATCH bits %08x: \"%s\"\n", bits, buf);
        bad += !ok;
    }
    return bad;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "format") == 0) {
        unsigned long bits;
        char buf[CLI_FLOAT_MAX_CHARS];
        while (scanf("%lu", &bits) == 1) {
            uint32_t b = (uint32_t)bits;
            float f;
            memcpy(&f, &b, sizeof f);
            cli_float_format(f, buf);
            puts(buf);
        }
        return 0;
    }
    long n_parse = 2000000, n_format = 2000000;
    long bad_parse = parse_tests(n_parse), bad_format = format_tests(n_format);
    printf("parse: %ld strings, %ld mismatches against strtof/strtod (%ld answered by the fast scan)\n", n_parse,
           bad_parse, scan_answered);
    if (scan_answered < n_parse / 8) bad_parse++; /* the fast path was not exercised */
    long answered = scan_answered, bad_fixed = fixed_tests(1000000);
    printf("fixed: 2000013 D.F strings, %ld mismatches (%ld answered by the fast scan)\n", bad_fixed,
           scan_answered - answered);
    if (scan_answered - answered < 1900000) bad_fixed++; /* the inline path was not reached */
    bad_parse += bad_fixed;
    printf("format: %ld floats, %ld that do not read back to the same bits\n", n_format, bad_format);
    return bad_parse || bad_format;
}
