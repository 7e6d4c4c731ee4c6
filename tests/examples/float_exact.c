/* cli_float_format (examples/cli_float.c) against the C library, bit for bit (issue 26). The
 * number parsing it once tested here moved to the library with its test
 * (tests/schema/test_decimal.c, issue 17).
 *
 *   float_exact            millions of float bit patterns formatted by cli_float_format
 *                          and read back by strtof. Prints the mismatch count; exit 1
 *                          unless it is 0.
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

static int same_float(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

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
    long n_format = 2000000, bad_format = format_tests(n_format);
    printf("format: %ld floats, %ld that do not read back to the same bits\n", n_format, bad_format);
    return bad_format != 0;
}
