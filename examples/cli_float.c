/* Shortest exact float -> decimal for the example programs (see cli_float.h). */
#include "cli_float.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mlops/schema.h"

/* 10^-50 .. 10^60, each the correctly rounded double (exact for 0..22). */
static const double P10[] = {
    1e-50, 1e-49, 1e-48, 1e-47, 1e-46, 1e-45, 1e-44, 1e-43, 1e-42, 1e-41, 1e-40, 1e-39, 1e-38, 1e-37, 1e-36,
    1e-35, 1e-34, 1e-33, 1e-32, 1e-31, 1e-30, 1e-29, 1e-28, 1e-27, 1e-26, 1e-25, 1e-24, 1e-23, 1e-22, 1e-21,
    1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13, 1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-5,
    1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32, 1e33,
    1e34, 1e35, 1e36, 1e37, 1e38, 1e39, 1e40, 1e41, 1e42, 1e43, 1e44, 1e45, 1e46, 1e47, 1e48, 1e49, 1e50, 1e51,
    1e52, 1e53, 1e54, 1e55, 1e56, 1e57, 1e58, 1e59, 1e60
};
#define POW10(k) P10[(k) + 50]

/* Does (-1)^neg * c * 10^q read back (as strtof would: the library's exact CSV parser) as exactly
 * `want`? The text is written here, not by snprintf: this runs a few times per value formatted. */
static int reads_back(uint64_t c, int q, int neg, float want) {
    /* A decimal more than an ulp away from want cannot round to it: most candidates of the digit
     * search are that far (too few digits) and need no parse. The double product is within a few
     * double ulps of c * 10^q, far below a float ulp; only the parse decides the near ones. */
    double a = fabs((double)want), ulp = (double)nextafterf((float)a, INFINITY) - a;
    if (q >= -50 && q <= 60 && fabs((double)c * POW10(q) - a) > ulp) return 0;
    if (c <= (uint64_t)1 << 53 && q >= -22 && q <= 22) {
        /* Both operands exact (c < 2^53, 10^0..10^22): IEEE rounds c * 10^q correctly to double
         * (Clinger), and rounding that on to float is strtof's rounding of the decimal unless it
         * is a float halfway point (low 29 bits 0x10000000) or outside float's normal range. No
         * parse for nearly every candidate (issue 26: the parse was half the formatting). */
        double x = q < 0 ? (double)c / POW10(-q) : (double)c * POW10(q);
        uint64_t b;
        memcpy(&b, &x, sizeof b);
        if (x >= FLT_MIN && x <= FLT_MAX && (b & 0x1FFFFFFFu) != 0x10000000u) {
            float f = neg ? -(float)x : (float)x;
            return memcmp(&f, &want, sizeof f) == 0;
        }
    }
    char buf[48], dig[24], *w = buf;
    int n = 0;
    if (neg) *w++ = '-';
    do
        dig[n++] = (char)('0' + c % 10);
    while (c /= 10);
    while (n)
        *w++ = dig[--n];
    *w++ = 'e';
    if (q < 0) *w++ = '-';
    for (unsigned x = (unsigned)(q < 0 ? -q : q);; x /= 10) {
        dig[n++] = (char)('0' + x % 10);
        if (x < 10) break;
    }
    while (n)
        *w++ = dig[--n];
    float got;
    size_t rows = 0;
    if (mlops_schema_parse_csv(buf, (size_t)(w - buf), 1, NULL, 0, NULL, &got, 1, &rows, NULL) != MLOPS_OK || rows != 1)
        return 0; /* beyond float's range */
    return memcmp(&got, &want, sizeof got) == 0;
}

/* The k-digit decimal reading back as v (a = |v|, 10^e <= a < 10^(e+1)), if there is one:
 * the nearest, and its neighbours where they could be the one inside v's rounding
 * interval (lattice no coarser than an ulp, or a near tie). */
static int probe_digits(float v, double a, int e, double ulp, int k, uint64_t *c_out, int *q_out) {
    int p = k - 1 - e, q = -p, neg = signbit(v) != 0;
    double s = a * POW10(p), r = nearbyint(s);
    uint64_t c = (uint64_t)r;
    *q_out = q;
    if (reads_back(c, q, neg, v)) return *c_out = c, 1;
    if (POW10(e - k + 1) <= ulp || fabs(s - r) > 0.4999) {
        if (c > 0 && reads_back(c - 1, q, neg, v)) return *c_out = c - 1, 1;
        if (reads_back(c + 1, q, neg, v)) return *c_out = c + 1, 1;
    }
    return 0;
}

/* The shortest c * 10^q reading back as v (v finite, not zero). A k-digit decimal inside
 * v's rounding interval makes a (k+1)-digit one (a trailing zero), and probe_digits finds
 * one whenever there is one, so the fewest digits are found by bisection over 1..9. */
static int shortest(float v, uint64_t *c_out, int *q_out) {
    double a = fabs((double)v);
    int be;
    (void)frexp(a, &be);
    int e = ((be - 1) * 78913) >> 18; /* floor((be - 1) log10 2), then exact: */
    while (e < 38 && a >= POW10(e + 1))
        e++;
    while (e > -46 && a < POW10(e))
        e--;
    double ulp = ldexp(1.0, be - 24 < -149 ? -149 : be - 24);
    int lo = 1, hi = 9, found = 0;
    while (lo <= hi) {
        int k = (lo + hi) / 2;
        uint64_t c;
        int q;
        if (probe_digits(v, a, e, ulp, k, &c, &q)) {
            *c_out = c;
            *q_out = q;
            found = 1;
            hi = k - 1;
        } else {
            lo = k + 1;
        }
    }
    return found;
}

/* The digits c * 10^q (c > 0), positional for exponents -5..8, else scientific. */
static size_t write_decimal(uint64_t c, int q, char *p) {
    char dig[24] = {0};
    while (c % 10 == 0) {
        c /= 10;
        q++;
    }
    int n = 0;
    for (; c; c /= 10)
        dig[n++] = (char)('0' + c % 10);
    for (int i = 0; i < n / 2; i++) {
        char t = dig[i];
        dig[i] = dig[n - 1 - i];
        dig[n - 1 - i] = t;
    }
    int x = q + n - 1; /* exponent of the first digit */
    char *w = p;
    if (x >= -5 && x < 9) {
        if (x < 0) {
            *w++ = '0';
            *w++ = '.';
            for (int i = 0; i < -x - 1; i++)
                *w++ = '0';
            memcpy(w, dig, (size_t)n);
            w += n;
        } else {
            for (int i = 0; i < n || i <= x; i++) {
                if (i == x + 1) *w++ = '.';
                *w++ = i < n ? dig[i] : '0';
            }
        }
    } else {
        *w++ = dig[0];
        if (n > 1) {
            *w++ = '.';
            memcpy(w, dig + 1, (size_t)n - 1);
            w += n - 1;
        }
        w += sprintf(w, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    }
    *w = '\0';
    return (size_t)(w - p);
}

size_t cli_float_format(float v, char *out) {
    if (isnan(v)) return (size_t)sprintf(out, "nan");
    if (isinf(v)) return (size_t)sprintf(out, v < 0 ? "-inf" : "inf");
    size_t n = 0;
    if (signbit(v)) out[n++] = '-';
    uint64_t c;
    int q;
    if (v == 0) return n + (size_t)sprintf(out + n, "0");
    if (!shortest(v, &c, &q)) return (size_t)snprintf(out, CLI_FLOAT_MAX_CHARS, "%.9g", (double)v); /* not reached */
    return n + write_decimal(c, q, out + n);
}
