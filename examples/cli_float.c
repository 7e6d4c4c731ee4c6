/* Shortest exact float -> decimal for the example programs (see cli_float.h). */
#include "cli_float.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The shortest decimal by Ryu (Ulf Adams, "Ryu: fast float-to-string conversion", PLDI 2018;
 * reference code github.com/ulfjack/ryu f2s.c, Apache-2.0), for float32 only: v's rounding
 * interval scaled by a power of ten in 32-bit integers (the 64-bit multipliers below give the
 * exact floor, as the paper proves), then digits removed while the interval still holds a
 * number with fewer. No parse, no search (issue 26: the bisection that parsed candidates
 * back was half of mlops-predict's formatting). The tables are exact integers:
 *   POW5_INV[q] = floor(2^(bitlen(5^q) - 1 + 59) / 5^q) + 1, q = 0..30
 *   POW5[i]     = 5^i scaled to 61 bits (5^i >> (bitlen(5^i) - 61), or <<), i = 0..47
 * (Python: b = (5**q).bit_length(); (1 << (b - 1 + 59)) // 5**q + 1). */
#define POW5_INV_BITS 59
#define POW5_BITS 61
static const uint64_t POW5_INV[31] = {
    576460752303423489u, 461168601842738791u, 368934881474191033u, 295147905179352826u, 472236648286964522u,
    377789318629571618u, 302231454903657294u, 483570327845851670u, 386856262276681336u, 309485009821345069u,
    495176015714152110u, 396140812571321688u, 316912650057057351u, 507060240091291761u, 405648192073033409u,
    324518553658426727u, 519229685853482763u, 415383748682786211u, 332306998946228969u, 531691198313966350u,
    425352958651173080u, 340282366920938464u, 544451787073501542u, 435561429658801234u, 348449143727040987u,
    557518629963265579u, 446014903970612463u, 356811923176489971u, 570899077082383953u, 456719261665907162u,
    365375409332725730u,
};
static const uint64_t POW5[48] = {
    1152921504606846976u, 1441151880758558720u, 1801439850948198400u, 2251799813685248000u,
    1407374883553280000u, 1759218604441600000u, 2199023255552000000u, 1374389534720000000u,
    1717986918400000000u, 2147483648000000000u, 1342177280000000000u, 1677721600000000000u,
    2097152000000000000u, 1310720000000000000u, 1638400000000000000u, 2048000000000000000u,
    1280000000000000000u, 1600000000000000000u, 2000000000000000000u, 1250000000000000000u,
    1562500000000000000u, 1953125000000000000u, 1220703125000000000u, 1525878906250000000u,
    1907348632812500000u, 1192092895507812500u, 1490116119384765625u, 1862645149230957031u,
    1164153218269348144u, 1455191522836685180u, 1818989403545856475u, 2273736754432320594u,
    1421085471520200371u, 1776356839400250464u, 2220446049250313080u, 1387778780781445675u,
    1734723475976807094u, 2168404344971008868u, 1355252715606880542u, 1694065894508600678u,
    2117582368135750847u, 1323488980084844279u, 1654361225106055349u, 2067951531382569187u,
    1292469707114105741u, 1615587133892632177u, 2019483917365790221u, 1262177448353618888u,

};

/* bitlen(5^e), floor(e log10 2), floor(e log10 5) for the exponents of float32 */
static int32_t pow5bits(int32_t e) { return (int32_t)((((uint32_t)e) * 1217359) >> 19) + 1; }
static uint32_t log10_pow2(int32_t e) { return ((uint32_t)e * 78913) >> 18; }
static uint32_t log10_pow5(int32_t e) { return ((uint32_t)e * 732923) >> 20; }

static int multiple_of_pow5(uint32_t v, uint32_t p) {
    uint32_t n = 0;
    for (; v % 5 == 0; v /= 5)
        n++;
    return n >= p;
}

/* (m * factor) >> shift (shift > 32), without 128-bit arithmetic. */
static uint32_t mul_shift(uint32_t m, uint64_t factor, int32_t shift) {
    uint64_t lo = (uint64_t)m * (uint32_t)factor, hi = (uint64_t)m * (uint32_t)(factor >> 32);
    return (uint32_t)(((lo >> 32) + hi) >> (shift - 32));
}

/* The shortest c * 10^q reading back as v (finite, not zero), the nearest of those (ties even). */
static void shortest(float v, uint32_t *c_out, int *q_out) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint32_t ieee_m = bits & 0x7FFFFFu, ieee_e = (bits >> 23) & 0xFFu;
    int32_t e2 = (ieee_e ? (int32_t)ieee_e : 1) - 127 - 23 - 2; /* two more bits for the bounds */
    uint32_t m2 = ieee_e ? (1u << 23) | ieee_m : ieee_m;
    int accept = (m2 & 1) == 0; /* the bounds round to v (to even) */
    uint32_t mv = 4 * m2, mp = 4 * m2 + 2, mm_shift = ieee_m != 0 || ieee_e <= 1, mm = 4 * m2 - 1 - mm_shift;
    uint32_t vr, vp, vm, last = 0;
    int32_t e10;
    int vm_zeros = 0, vr_zeros = 0;
    if (e2 >= 0) {
        uint32_t q = log10_pow2(e2);
        int32_t k = POW5_INV_BITS + pow5bits((int32_t)q) - 1, i = -e2 + (int32_t)q + k;
        e10 = (int32_t)q;
        vr = mul_shift(mv, POW5_INV[q], i);
        vp = mul_shift(mp, POW5_INV[q], i);
        vm = mul_shift(mm, POW5_INV[q], i);
        if (q != 0 && (vp - 1) / 10 <= vm / 10) { /* one removed digit is needed */
            int32_t l = POW5_INV_BITS + pow5bits((int32_t)q - 1) - 1;
            last = mul_shift(mv, POW5_INV[q - 1], -e2 + (int32_t)q - 1 + l) % 10;
        }
        if (q <= 9) { /* only one of mp, mv, mm can be a multiple of 5 */
            if (mv % 5 == 0)
                vr_zeros = multiple_of_pow5(mv, q);
            else if (accept)
                vm_zeros = multiple_of_pow5(mm, q);
            else
                vp -= (uint32_t)multiple_of_pow5(mp, q);
        }
    } else {
        uint32_t q = log10_pow5(-e2);
        int32_t i = -e2 - (int32_t)q, j = (int32_t)q - (pow5bits(i) - POW5_BITS);
        e10 = (int32_t)q + e2;
        vr = mul_shift(mv, POW5[i], j);
        vp = mul_shift(mp, POW5[i], j);
        vm = mul_shift(mm, POW5[i], j);
        if (q != 0 && (vp - 1) / 10 <= vm / 10) {
            j = (int32_t)q - 1 - (pow5bits(i + 1) - POW5_BITS);
            last = mul_shift(mv, POW5[i + 1], j) % 10;
        }
        if (q <= 1) { /* mv has two trailing zero bits, mm one iff mm_shift, mp one */
            vr_zeros = 1;
            if (accept)
                vm_zeros = mm_shift == 1;
            else
                vp--;
        } else if (q < 31) {
            vr_zeros = (mv & ((1u << (q - 1)) - 1)) == 0;
        }
    }
    int32_t removed = 0;
    while (vp / 10 > vm / 10) { /* a shorter number is still inside the interval */
        vm_zeros &= vm % 10 == 0;
        vr_zeros &= last == 0;
        last = vr % 10;
        vr /= 10;
        vp /= 10;
        vm /= 10;
        removed++;
    }
    if (vm_zeros) {
        while (vm % 10 == 0) {
            vr_zeros &= last == 0;
            last = vr % 10;
            vr /= 10;
            vp /= 10;
            vm /= 10;
            removed++;
        }
    }
    if (vr_zeros && last == 5 && vr % 2 == 0) last = 4; /* exactly halfway: round to even */
    *c_out = vr + ((vr == vm && (!accept || !vm_zeros)) || last >= 5);
    *q_out = e10 + removed;
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
    if (v == 0) return n + (size_t)sprintf(out + n, "0");
    uint32_t c;
    int q;
    shortest(v, &c, &q);
    return n + write_decimal(c, q, out + n);
}
