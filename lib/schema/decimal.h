/* Exact decimal text -> float32/float64 for mlops_schema_parse_csv (moved from the examples'
 * cli_float.c, issue 17). Internal to the schema module.
 *
 * A strict decimal ([+-]? digits [. digits] | [+-]? . digits, then [eE][+-]? digits) correctly
 * rounded exactly as strtof/strtod: Clinger's exact fast path (mantissa <= 2^53, |exponent| <=
 * 22 gives a correctly rounded double), the double -> float rounding checked for the
 * double-rounding tie and the subnormal and overflow ranges, which (with long mantissas and
 * large exponents) go to strtof/strtod. The scan functions are the fast path over text with
 * MLOPS__SCAN_PAD readable bytes after the number: digits 8 at a time (SWAR), NULL where they
 * do not decide. No global state: every function is thread-safe. */
#ifndef MLOPS_SCHEMA_DECIMAL_H
#define MLOPS_SCHEMA_DECIMAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Parse the decimal [s, end) exactly. 0 with the value in *out, -1 when the text is not a
 * decimal, -2 when it is beyond the type's range (*out then holds the signed infinity). */
int mlops__parse_float(const char *s, const char *end, float *out);
int mlops__parse_double(const char *s, const char *end, double *out);

/* Bytes past the end of a number that the scan functions may read. */
#define MLOPS__SCAN_PAD 16

/* A strict decimal of up to 19 digits at p: the first byte after it with the value in *out,
 * or NULL when there is none or it needs mlops__parse_* (which decide). */
const char *mlops__scan_float_general(const char *p, float *out);
const char *mlops__scan_double_general(const char *p, double *out);

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* The digits at the start of the 8 bytes at p (the first byte the lowest): their count
 * (0..8), their value in *val. A byte is a digit when its high nibble is 3 and its low
 * one below 10; a carry out of a non-digit byte only reaches later bytes. */
static inline __attribute__((always_inline)) int mlops__swar_digits(const char *p, uint64_t *val) {
    uint64_t x;
    memcpy(&x, p, sizeof x);
    x ^= 0x3030303030303030ull;
    uint64_t non_digit = (x | (x + 0x0606060606060606ull)) & 0xF0F0F0F0F0F0F0F0ull;
    int n = non_digit ? __builtin_ctzll(non_digit) >> 3 : 8;
    if (n == 0) return *val = 0, 0;
    x <<= 8 * (8 - n); /* the digits in the high bytes, zeros (leading zeros) below */
    x = (x * 10 + (x >> 8)) & 0x00FF00FF00FF00FFull;
    x = (x * 100 + (x >> 16)) & 0x0000FFFF0000FFFFull;
    *val = (x * 10000 + (x >> 32)) & 0xFFFFFFFFull;
    return n;
}

/* The usual table cell "[+-]D.F" (one digit before the point, 0..7 after it, no exponent) at
 * p: 1 with its digits in *mant, how many follow the point in *n, the byte after it in *end;
 * else 0. */
static inline __attribute__((always_inline)) int mlops__plain_cell(const char *p, uint32_t *mant, int *n,
                                                                   const char **end) {
    static const uint32_t u10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
    const char *s = p + (*p == '-' || *p == '+');
    if ((unsigned)(s[0] - '0') >= 10 || s[1] != '.') return 0;
    uint64_t frac;
    int k = mlops__swar_digits(s + 2, &frac);
    if (k == 8 || (s[2 + k] | 0x20) == 'e') return 0;
    *mant = (uint32_t)(s[0] - '0') * u10[k] + (uint32_t)frac;
    *n = k;
    *end = s + 2 + k;
    return 1;
}
#endif

/* A usual cell worth at most 2^24 in units of its last digit is the quotient of two exact
 * floats (the digits, a power of ten up to 10^7), which IEEE division rounds correctly:
 * strtof's value. The sign by its bit: a branch on it mispredicts on half the cells of a
 * table of random signs (issue 26: 0.25 -> 0.19 s for 30M cells). Inline (always: gcc left it
 * a call in the bitmap loop) for the CSV loop; anything else goes to
 * mlops__scan_float_general. */
static inline __attribute__((always_inline)) const char *mlops__scan_float(const char *p, float *out) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    static const float p10f[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f};
    uint32_t mant, u;
    int n;
    const char *end;
    if (mlops__plain_cell(p, &mant, &n, &end) && mant <= (1u << 24)) {
        float f = (float)mant / p10f[n];
        memcpy(&u, &f, sizeof u);
        u ^= (uint32_t)(*p == '-') << 31;
        memcpy(out, &u, sizeof u);
        return end;
    }
#endif
    return mlops__scan_float_general(p, out);
}

/* The same as a double: the quotient of two exact doubles, correctly rounded by IEEE division
 * (Clinger): strtod's value (issue 26: the general scan took 17 ns a number on the bench's
 * table, this 5.5). Anything else goes to mlops__scan_double_general. */
static inline __attribute__((always_inline)) const char *mlops__scan_double(const char *p, double *out) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    static const double p10d[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7};
    uint32_t mant;
    uint64_t u;
    int n;
    const char *end;
    if (mlops__plain_cell(p, &mant, &n, &end)) {
        double v = (double)mant / p10d[n];
        memcpy(&u, &v, sizeof u);
        u ^= (uint64_t)(*p == '-') << 63;
        memcpy(out, &u, sizeof u);
        return end;
    }
#endif
    return mlops__scan_double_general(p, out);
}

#endif
