/* Exact decimal text -> float32/float64 (see decimal.h). Moved from examples/cli_float.c. */
#include "decimal.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/internal.h"

/* 10^-50 .. 10^60, each the correctly rounded double (exact for 0..22). */
static const double P10[] = {
    1e-50, 1e-49, 1e-48, 1e-47, 1e-46, 1e-45, 1e-44, 1e-43, 1e-42, 1e-41, 1e-40, 1e-39, 1e-38, 1e-37,
    1e-36, 1e-35, 1e-34, 1e-33, 1e-32, 1e-31, 1e-30, 1e-29, 1e-28, 1e-27, 1e-26, 1e-25, 1e-24, 1e-23,
    1e-22, 1e-21, 1e-20, 1e-19, 1e-18, 1e-17, 1e-16, 1e-15, 1e-14, 1e-13, 1e-12, 1e-11, 1e-10, 1e-9,
    1e-8,  1e-7,  1e-6,  1e-5,  1e-4,  1e-3,  1e-2,  1e-1,  1e0,   1e1,   1e2,   1e3,   1e4,   1e5,
    1e6,   1e7,   1e8,   1e9,   1e10,  1e11,  1e12,  1e13,  1e14,  1e15,  1e16,  1e17,  1e18,  1e19,
    1e20,  1e21,  1e22,  1e23,  1e24,  1e25,  1e26,  1e27,  1e28,  1e29,  1e30,  1e31,  1e32,  1e33,
    1e34,  1e35,  1e36,  1e37,  1e38,  1e39,  1e40,  1e41,  1e42,  1e43,  1e44,  1e45,  1e46,  1e47,
    1e48,  1e49,  1e50,  1e51,  1e52,  1e53,  1e54,  1e55,  1e56,  1e57,  1e58,  1e59,  1e60};
#define POW10(k) P10[(k) + 50]

/* A decimal as read: (-1)^neg * mant * 10^exp10; `inexact` when digits past the
 * 19th were not zero (mant holds only the first 19 significant digits). */
typedef struct dec_num {
    uint64_t mant;
    long exp10;
    int neg, inexact;
} dec_num;

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* One digit into d: leading zeros are not significant, past 19 digits only the exponent moves. */
static void take_digit(dec_num *d, int v, int *n_sig, int after_point) {
    if (d->mant == 0 && v == 0) {
        d->exp10 -= after_point;
        return;
    }
    if (*n_sig < 19) {
        d->mant = d->mant * 10 + (uint64_t)v;
        (*n_sig)++;
        d->exp10 -= after_point;
    } else {
        d->exp10 += !after_point;
        d->inexact |= v != 0;
    }
}

/* Digits [s, end) (and the point, skipped) one by one, for more than 19 digits. */
static void take_digits(dec_num *d, const char *s, const char *end, int *n_sig, int *after_point) {
    for (; s < end; s++) {
        if (*s == '.')
            *after_point = 1;
        else
            take_digit(d, *s - '0', n_sig, *after_point);
    }
}

/* Text left at s: before end, or before the NUL when end is NULL (a C string). */
static int more(const char *s, const char *end) { return end ? s < end : *s != '\0'; }

static const char *skip_digits(const char *s, const char *end) {
    while (more(s, end) && is_digit(*s))
        s++;
    return s;
}

/* The strict grammar from s up to end (NULL: the first byte not part of a number); *d and
 * where it stopped, or NULL. Up to 19 digits (the usual case) in one pass. */
static const char *scan_decimal(const char *s, const char *end, dec_num *d) {
    memset(d, 0, sizeof *d);
    if (more(s, end) && (*s == '+' || *s == '-')) d->neg = *s++ == '-';
    const char *int_start = s, *int_end = skip_digits(s, end), *frac_start = int_end, *frac_end = int_end;
    if (more(int_end, end) && *int_end == '.') frac_end = skip_digits(frac_start = int_end + 1, end);
    size_t n_int = (size_t)(int_end - int_start), n_frac = (size_t)(frac_end - frac_start);
    if (n_int + n_frac == 0) return NULL;
    if (n_int + n_frac <= 19) {
        uint64_t m = 0;
        for (const char *p = int_start; p < int_end; p++)
            m = m * 10 + (uint64_t)(*p - '0');
        for (const char *p = frac_start; p < frac_end; p++)
            m = m * 10 + (uint64_t)(*p - '0');
        d->mant = m;
        d->exp10 = -(long)n_frac;
    } else {
        int n_sig = 0, after_point = 0;
        take_digits(d, int_start, frac_end, &n_sig, &after_point);
    }
    s = frac_end;
    if (more(s, end) && (*s == 'e' || *s == 'E')) {
        s++;
        int eneg = 0;
        if (more(s, end) && (*s == '+' || *s == '-')) eneg = *s++ == '-';
        if (!more(s, end) || !is_digit(*s)) return NULL;
        long x = 0;
        for (; more(s, end) && is_digit(*s); s++)
            if (x < 1000000) x = x * 10 + (*s - '0');
        d->exp10 += eneg ? -x : x;
    }
    return s;
}

/* Clinger's fast path: 1 and the correctly rounded double, or 0. */
static int fast_double(const dec_num *d, double *out) {
    if (d->mant == 0 && !d->inexact) {
        *out = d->neg ? -0.0 : 0.0;
        return 1;
    }
    if (d->inexact || d->mant > ((uint64_t)1 << 53) || d->exp10 < -22 || d->exp10 > 22) return 0;
    double v = (double)d->mant;
    v = d->exp10 < 0 ? v / POW10(-d->exp10) : v * POW10(d->exp10);
    *out = d->neg ? -v : v;
    return 1;
}

/* The correctly rounded double as a float: 1, or 0 where rounding twice could differ
 * from rounding once (a double on a float halfway point) or outside the normal range. */
static int float_of_double(double v, float *out) {
    double a = fabs(v);
    if (a == 0) {
        *out = (float)v;
        return 1;
    }
    if (!(a >= FLT_MIN && a <= FLT_MAX)) return 0;
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    if ((b & 0x1FFFFFFFu) == 0x10000000u) return 0;
    *out = (float)v;
    return 1;
}

/* 10^-k as doubles for the quick path below (not exact: rounded once). */
static const double INV10[] = {1,     1e-1,  1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,
                               1e-8,  1e-9,  1e-10, 1e-11, 1e-12, 1e-13, 1e-14, 1e-15,
                               1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22};

/* A float from mant * 10^-k by a multiplication instead of a division: within two
 * double ulps of the exact quotient, so its rounding to float is the exact one's
 * unless it lies within 8 double ulps of a float halfway point (then 0: divide). */
static int quick_float(const dec_num *d, float *out) {
    if (d->inexact || d->mant == 0 || d->mant > ((uint64_t)1 << 53) || d->exp10 >= 0 || d->exp10 < -22)
        return 0;
    double v = (double)d->mant * INV10[-d->exp10];
    if (!(v >= FLT_MIN && v <= FLT_MAX)) return 0;
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    uint32_t low = (uint32_t)(b & 0x1FFFFFFFu);
    if (low + 8 >= 0x10000000u && low <= 0x10000000u + 8) return 0;
    float f = (float)v;
    *out = d->neg ? -f : f;
    return 1;
}

static int fast_float(const dec_num *d, float *out) {
    double v;
    return quick_float(d, out) || (fast_double(d, &v) && float_of_double(v, out));
}

static const uint64_t U10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static int swar_digits(const char *p, uint64_t *val) { return mlops__swar_digits(p, val); }
#else
static int swar_digits(const char *p, uint64_t *val) {
    int n = 0;
    uint64_t v = 0;
    for (; n < 8 && is_digit(p[n]); n++)
        v = v * 10 + (uint64_t)(p[n] - '0');
    *val = v;
    return n;
}
#endif

/* Digits at *p into d (8 at a time) while they fit in 19; the count, or -1 past 19. */
static int take_swar(const char **p, uint64_t *mant, int *n_dig) {
    int total = 0, n;
    do {
        uint64_t v;
        n = swar_digits(*p, &v);
        if (*n_dig + n > 19) return -1;
        *mant = *mant * U10[n] + v;
        *n_dig += n;
        *p += n;
        total += n;
    } while (n == 8);
    return total;
}

/* A decimal at p (any length of digits up to 19, an exponent) into *d; the byte after it or NULL. */
static const char *scan_dec(const char *p, dec_num *d) {
    int n_dig = 0, n_int, n_frac = 0;
    memset(d, 0, sizeof *d);
    if (*p == '-' || *p == '+') d->neg = *p++ == '-';
    if ((n_int = take_swar(&p, &d->mant, &n_dig)) < 0) return NULL;
    if (*p == '.') {
        p++;
        if ((n_frac = take_swar(&p, &d->mant, &n_dig)) < 0) return NULL;
        d->exp10 = -n_frac;
    }
    if (n_int + n_frac == 0) return NULL;
    if ((*p | 0x20) == 'e') {
        p++;
        int eneg = 0;
        if (*p == '+' || *p == '-') eneg = *p++ == '-';
        if (!is_digit(*p)) return NULL;
        long x = 0;
        for (; is_digit(*p); p++)
            if (x < 1000000) x = x * 10 + (*p - '0');
        d->exp10 += eneg ? -x : x;
    }
    return p;
}

static const char *scan_general(const char *p, float *out) {
    dec_num d;
    p = scan_dec(p, &d);
    return p && fast_float(&d, out) ? p : NULL;
}

const char *mlops__scan_double_general(const char *p, double *out) {
    dec_num d;
    p = scan_dec(p, &d);
    return p && fast_double(&d, out) ? p : NULL;
}

const char *mlops__scan_float_general(const char *p, float *out) {
    const char *start = p;
    int neg = 0;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    uint64_t mant, frac;
    int n_int, n_frac = 0;
    if (is_digit(*p) && p[1] == '.') { /* one digit before the point (the common case): no SWAR */
        mant = (uint64_t)(*p - '0');
        n_int = 1;
    } else if ((n_int = swar_digits(p, &mant)) == 8) {
        return scan_general(start, out);
    }
    p += n_int;
    if (*p == '.') {
        n_frac = swar_digits(p + 1, &frac);
        if (n_frac == 8) return scan_general(start, out);
        p += 1 + n_frac;
        mant = mant * U10[n_frac] + frac;
    }
    if (n_int + n_frac == 0) return NULL;
    if ((*p | 0x20) == 'e') return scan_general(start, out);
    /* At most 14 digits (mant < 2^53, exact as a double) over 10^0..10^-7: as quick_float, a
     * product within 2 double ulps of mant / 10^n_frac, at least 1e-7 (a normal float) or 0,
     * rounded once more to float unless near a float halfway point. */
    double v = (double)(int64_t)mant * INV10[n_frac];
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    uint32_t low = (uint32_t)(b & 0x1FFFFFFFu);
    if (low + 8 < 0x10000000u || low > 0x10000000u + 8) {
        float f = (float)v;
        *out = neg ? -f : f;
        return p;
    }
    dec_num d = {mant, -n_frac, neg, 0};
    return fast_float(&d, out) ? p : NULL;
}

/* The C library on a validated decimal; as_float picks strtof over strtod. */
static int slow_parse(const char *s, const char *end, int as_float, float *f, double *dv) {
    char small[256], *buf = small;
    size_t n = (size_t)(end - s);
    if (n >= sizeof small && !(buf = mlops__malloc(n + 1))) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    int inf;
    if (as_float) {
        *f = strtof(buf, NULL);
        inf = isinf(*f);
    } else {
        *dv = strtod(buf, NULL);
        inf = isinf(*dv);
    }
    if (buf != small) mlops__free(buf);
    return inf ? -2 : 0;
}

int mlops__parse_float(const char *s, const char *end, float *out) {
    dec_num d;
    if (scan_decimal(s, end, &d) != end) return -1;
    if (fast_float(&d, out)) return 0;
    return slow_parse(s, end, 1, out, NULL);
}

int mlops__parse_double(const char *s, const char *end, double *out) {
    dec_num d;
    if (scan_decimal(s, end, &d) != end) return -1;
    if (fast_double(&d, out)) return 0;
    return slow_parse(s, end, 0, NULL, out);
}
