/* Exact float -> text for the example programs (issue 26). Part of the examples, not of the
 * library. Text -> numbers is the library's (mlops_schema_parse_csv, issue 17: the exact
 * parser that lived here moved there); cli_util's cells and CSV chunks go through it.
 *
 * Formatting: the shortest decimal that reads back (strtof) to the same float32 bits (the
 * fewest digits by bisection). No global state: every function is thread-safe. */
#ifndef MLOPS_CLI_FLOAT_H
#define MLOPS_CLI_FLOAT_H

#include <stddef.h>

/* Bytes cli_float_format may write, NUL included. */
#define CLI_FLOAT_MAX_CHARS 24

/* Write the shortest decimal that reads back to v's bits into out (at least
 * CLI_FLOAT_MAX_CHARS bytes), NUL-terminated: positional for exponents -5..8
 * ("0.125", "12345678"), else scientific ("1.5e-07", "3e+20"); "nan", "inf",
 * "-inf", "0", "-0". Returns the length without the NUL. */
size_t cli_float_format(float v, char *out);

#endif
