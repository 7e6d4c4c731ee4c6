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
const char *mlops__scan_double(const char *p, double *out);

/* The usual table cell "[+-]D.F" (one digit before the point, 0..7 after it, no exponent)
 * worth at most 2^24 in units of its last digit is the quotient of two exact floats (the
 * digits, a power of ten up to 10^7), which IEEE division rounds correctly: strtof's value.
 * Inline (always: gcc left it a call in the bitmap loop) for the CSV loop; anything else goes
 * to mlops__scan_float_general. */
static inline __attribute__((always_inline)) const char *mlops__scan_float(const char *p, float *out) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    static const float p10f[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f};
    static const uint32_t u10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000};
    const char *s = p + (*p == '-' || *p == '+');
    if ((unsigned)(s[0] - '0') < 10 && s[1] == '.') {
        uint64_t x;
        memcpy(&x, s + 2, sizeof x);
        x ^= 0x3030303030303030ull;
        uint64_t non_digit = (x | (x + 0x0606060606060606ull)) & 0xF0F0F0F0F0F0F0F0ull;
        int n = non_digit ? __builtin_ctzll(non_digit) >> 3 : 8;
        uint32_t frac = 0;
        if (n > 0 && n < 8) { /* the digits in the high bytes, then pairs, quads, eights */
            x <<= 8 * (8 - n);
            x = (x * 10 + (x >> 8)) & 0x00FF00FF00FF00FFull;
            x = (x * 100 + (x >> 16)) & 0x0000FFFF0000FFFFull;
            frac = (uint32_t)((x * 10000 + (x >> 32)) & 0xFFFFFFFFull);
        }
        uint32_t mant = (uint32_t)(s[0] - '0') * u10[n & 7] + frac;
        if (n < 8 && (s[2 + n] | 0x20) != 'e' && mant <= (1u << 24)) {
            float f = (float)mant / p10f[n];
            /* the sign by its bit: a branch on it mispredicts on half the cells of a table of
             * random signs (issue 26: 0.25 -> 0.19 s for 30M cells) */
            uint32_t u;
            memcpy(&u, &f, sizeof u);
            u ^= (uint32_t)(*p == '-') << 31;
            memcpy(out, &u, sizeof u);
            return s + 2 + n;
        }
    }
#endif
    return mlops__scan_float_general(p, out);
}

#endif
