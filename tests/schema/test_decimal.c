/* The schema module's decimal parser (lib/schema/decimal.c, moved from the examples' cli_float.c
 * with this test, issues 26 and 17) against the C library, bit for bit: millions of random and
 * edge-case decimals parsed by mlops__parse_float / mlops__parse_double, as a one-field CSV cell
 * with spaces around it (mlops_schema_parse_csv), and by the CSV fast path mlops__scan_float /
 * mlops__scan_double (which must never disagree when it answers), against strtof / strtod.
 * Prints the mismatch counts; exit 1 unless all are 0. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/schema/decimal.h"
#include "mlops/schema.h"
#include "harness.h"

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
 * the ones mlops__scan_float answers by a product, so that its tie rule is tested. Some nudged. */
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
    static const char *edges[] = {"3.4028235e38",
                                  "3.40282347e38",
                                  "3.40282357e38",
                                  "3.4028236e38",
                                  "1e39",
                                  "-1e39",
                                  "1.17549435e-38",
                                  "1.4e-45",
                                  "7e-46",
                                  "7.1e-46",
                                  "1e-46",
                                  "0",
                                  "-0",
                                  "0e999",
                                  "1e-999",
                                  "000000000000000000000001.5",
                                  ".5",
                                  "5.",
                                  "0.000000000000000000000000000000000000000000001401298464324817"};
    uint32_t bits = (uint32_t)next_rand(rs);
    float f;
    memcpy(&f, &bits, sizeof f);
    if (isnan(f) || isinf(f)) f = 1.5f;
    switch (pick(rs, 5)) {
    case 0:
        strcpy(out, edges[pick(rs, sizeof edges / sizeof *edges)]);
        break;
    case 1:
        sprintf(out, "%.*g", 1 + (int)pick(rs, 25), (double)f);
        break;
    case 2:
        sprintf(out, "%.*e", (int)pick(rs, 20), (double)f * (1 + 1e-9 * (double)pick(rs, 1000)));
        break;
    case 3:
        sprintf(out, "%.*f", (int)pick(rs, 12), (double)(f * 1e-30f));
        break;
    default:
        sprintf(out, "%.17g", (double)(int64_t)next_rand(rs) * pow(10, (int)pick(rs, 60) - 40));
        break;
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

static long scan_answered; /* strings mlops__scan_float parsed itself (the test must reach the fast path) */

static int same_double(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

/* mlops__scan_float and _double on s followed by a ',' and garbage (as in a CSV row): when they
 * read up to the comma it must be a decimal strtof/strtod read whole, with their bits. The
 * number of disagreements. */
static int check_scan(const char *s, int ref_ok, float ref, double refd, long *shown) {
    char buf[320];
    size_t n = strlen(s);
    memcpy(buf, s, n);
    memcpy(buf + n, ",9e9.5x\n", 9);
    memset(buf + n + 9, '7', MLOPS__SCAN_PAD);
    float got;
    double gotd;
    int bad = 0;
    const char *end = mlops__scan_float(buf, &got);
    if (end && end == buf + n) { /* else declined, or stopped early (the row then goes the slow way) */
        scan_answered++;
        if (!ref_ok || !same_float(got, ref)) {
            bad++;
            if ((*shown)++ < 10)
                fprintf(stderr, "SCAN MISMATCH \"%s\": strtof %a (ok %d), mlops__scan_float %a\n", s,
                        (double)ref, ref_ok, (double)got);
        }
    }
    end = mlops__scan_double(buf, &gotd);
    if (end && end == buf + n && (!ref_ok || !same_double(gotd, refd))) {
        bad++;
        if ((*shown)++ < 10)
            fprintf(stderr, "SCAN MISMATCH \"%s\": strtod %a (ok %d), mlops__scan_double %a\n", s, refd,
                    ref_ok, gotd);
    }
    return bad;
}

/* One string against strtof/strtod; returns the number of disagreements (0..2). */
static int check_string(const char *s, long *shown) {
    char *endf;
    float ref = strtof(s, &endf);
    double refd = strtod(s, NULL);
    int ref_ok = *s && *endf == '\0';
    float got;
    double gotd;
    int rc = mlops__parse_float(s, s + strlen(s), &got), rcd = mlops__parse_double(s, s + strlen(s), &gotd);
    int bad = 0;
    if (ref_ok != (rc != -1) || (ref_ok && (!same_float(got, ref) || (rc == -2) != (isinf(ref) != 0)))) bad++;
    if (ref_ok != (rcd != -1) || (ref_ok && !same_double(gotd, refd))) bad++;
    char padded[300];
    float cell;
    size_t rows = 0;
    int n = snprintf(padded, sizeof padded, " \t%s \t", s); /* a one-field CSV row, spaces around */
    int cell_ok =
        *s && mlops_schema_parse_csv(padded, (size_t)n, 1, NULL, 0, NULL, &cell, 1, &rows, NULL) == MLOPS_OK;
    if (*s && (cell_ok != (rc == 0) || (cell_ok && (rows != 1 || !same_float(cell, got))))) bad++;
    int bad_scan = check_scan(s, ref_ok, ref, refd, shown);
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
        case 0:
            random_decimal(&rs, buf);
            break;
        case 1:
            halfway_decimal(&rs, buf);
            break;
        case 2:
            printed_decimal(&rs, buf);
            break;
        case 3:
            short_halfway_decimal(&rs, buf);
            break;
        default:
            garbage(&rs, buf);
            break;
        }
        bad += check_string(buf, &shown);
    }
    return bad;
}

/* The CSV cell mlops__scan_float answers inline, "[+-]D.F": every "D.ddddd" with a sign (the
 * benchmark's cells), then random ones with 0..8 fraction digits, around the 2^24 limit of
 * the digits (1.6777216 is the last one divided, 1.6777217 goes the general way) and with an
 * exponent after them. */
static long fixed_tests(long n_random) {
    uint64_t rs = 0x2545F4914F6CDD1Dull;
    long bad = 0, shown = 0;
    char buf[64];
    long n_fixed = test_on_valgrind() ? 100000 : 1000000; /* valgrind: a tenth */
    for (long v = 0; v < n_fixed; v++) {
        snprintf(buf, sizeof buf, "%c%ld.%05ld", v % 2 ? '-' : '+', v / 100000, v % 100000);
        bad += check_string(buf, &shown);
    }
    static const char *edges[] = {"1.6777216",  "1.6777217",  "-1.6777215", "9.9999999", "0.0000000",
                                  "-0.0",       "5.",         "+5.",        "1.5e3",     "1.5E-3",
                                  "2.00000005", "0.00000001", "9.99999995"};
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

int main(void) {
    long n_parse = test_on_valgrind() ? 200000 : 2000000;
    long bad_parse = parse_tests(n_parse);
    printf("parse: %ld strings, %ld mismatches against strtof/strtod (%ld answered by the fast scan)\n",
           n_parse, bad_parse, scan_answered);
    if (scan_answered < n_parse / 8) bad_parse++; /* the fast path was not exercised */
    long answered = scan_answered, bad_fixed = fixed_tests(test_on_valgrind() ? 100000 : 1000000);
    printf("fixed: the D.F strings, %ld mismatches (%ld answered by the fast scan)\n", bad_fixed,
           scan_answered - answered);
    if (scan_answered - answered < (test_on_valgrind() ? 190000 : 1900000)) bad_fixed++; /* the inline path was not reached */
    bad_parse += bad_fixed;
    return bad_parse != 0;
}
