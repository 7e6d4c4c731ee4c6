/* Fast exact number text <-> float for the example programs (issue 26).
 * Part of the examples, not of the library.
 *
 * Parsing: a strict decimal ([+-]? digits [. digits] | . digits, then [eE][+-]digits)
 * correctly rounded exactly as strtof/strtod would: Clinger's exact fast path
 * (mantissa <= 2^53, |exponent| <= 22 gives a correctly rounded double), with the
 * double -> float rounding checked for the double-rounding tie and the subnormal
 * and overflow ranges, which (with long mantissas and large exponents) go to
 * strtof/strtod. cli_float_scan is the CSV reader's fast path over padded buffers:
 * digits 8 at a time (SWAR), the same exact conversions, NULL where they do not decide.
 * Formatting: the shortest decimal that reads back (strtof) to the same float32 bits
 * (the fewest digits by bisection). No global state: every function is thread-safe. */
#ifndef MLOPS_CLI_FLOAT_H
#define MLOPS_CLI_FLOAT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Bytes cli_float_format may write, NUL included. */
#define CLI_FLOAT_MAX_CHARS 24

/* Parse the decimal s..end (no spaces; not NUL-terminated necessarily) as a float
 * (or double). Returns 0 with the value in *out, -1 when the text is not a decimal,
 * -2 when it is beyond the type's range (*out then holds the signed infinity). */
int cli_float_parse_dec(const char *s, const char *end, float *out);
int cli_double_parse_dec(const char *s, const char *end, double *out);

/* A C string cell: spaces and tabs, a decimal, spaces and tabs (no strlen first).
 * Returns as cli_float_parse_dec; -1 for anything else ("NA", "inf": the caller's). */
int cli_float_parse_cell(const char *s, float *out);

/* Bytes past the end of a number that cli_float_scan may read: the buffer holding the
 * text must have this many readable bytes after it (their values do not matter). */
#define CLI_FLOAT_SCAN_PAD 16

/* cli_float_scan's general case (out of line): any strict decimal of up to 19 digits. */
const char *cli_float_scan_general(const char *p, float *out);

/* The fast path for numeric tables: a strict decimal at p (sign, up to 19 digits read 8 at
 * a time, point, exponent) whose correctly rounded float is found without the C library.
 * Returns the first byte after it with the value in *out, or NULL when there is no such
 * decimal at p or it needs the slow path (the caller then uses cli_float_parse_dec or
 * cli_float_parse_cell, which decide). Never returns a value other than strtof's.
 * Inline for the CSV reader's loop: the usual cell, "[+-]D.F" (one digit before the point,
 * 0..7 after it, no exponent) worth at most 2^24 in units of its last digit, is the quotient
 * of two exact floats (the digits, a power of ten up to 10^7), which IEEE division rounds
 * correctly: strtof's value. Anything else goes to cli_float_scan_general. */
static inline const char *cli_float_scan(const char *p, float *out) {
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
            *out = *p == '-' ? -f : f;
            return s + 2 + n;
        }
    }
#endif
    return cli_float_scan_general(p, out);
}

/* Write the shortest decimal that reads back to v's bits into out (at least
 * CLI_FLOAT_MAX_CHARS bytes), NUL-terminated: positional for exponents -5..8
 * ("0.125", "12345678"), else scientific ("1.5e-07", "3e+20"); "nan", "inf",
 * "-inf", "0", "-0". Returns the length without the NUL. */
size_t cli_float_format(float v, char *out);

#endif
