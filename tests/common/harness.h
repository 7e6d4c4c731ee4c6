/* The harness every Check test program shares (tests/<module>/test_*.c): the run-suite main,
 * temporary directories, valgrind detection, fixture paths and file reading.
 *
 * It is linked into every program that uses check_dep (tests/meson.build adds it there).
 * Functions that can fail call ck_assert, so a failure names what broke: call them inside a
 * test or fixture only (Check refuses ck_assert outside one). The path functions may be called
 * from main as well: they print the reason and exit. Not thread-safe unless stated. */
#ifndef MLOPS_TEST_HARNESS_H
#define MLOPS_TEST_HARNESS_H

#include <check.h>
#include <stddef.h>

/* Run every test of `s` (CK_NORMAL output) and free it: EXIT_SUCCESS when none failed. */
int test_run_suite(Suite *s);

/* The same without forking a process per test (for tests that keep expensive state, e.g. XGBoost's). */
int test_run_suite_no_fork(Suite *s);

/* `main` for a program whose only work is its suite: MLOPS_TEST_MAIN(my_suite). */
#define MLOPS_TEST_MAIN(suite_fn)                                                                            \
    int main(void) { return test_run_suite(suite_fn()); }

/* How many tests an array of them holds: const TTest *tests[] = {a, b}; ... MLOPS_TEST_COUNT(tests). */
#define MLOPS_TEST_COUNT(tests) (sizeof(tests) / sizeof *(tests))

/* A new test case `name` holding the `n` tests, with a timeout in seconds (0: Check's default),
 * added to suite `s`. */
TCase *test_case_add(Suite *s, const char *name, double timeout, const TTest *const *tests, size_t n);

/* `main`'s whole tail for a suite of one test case: suite `suite`, case `tcase` of the `n` tests with
 * a timeout (0: Check's default), run as test_run_suite() does. */
int test_run_case(const char *suite, const char *tcase, double timeout, const TTest *const *tests, size_t n);

/* A suite of one test case named like the suite, with a timeout in seconds (0: Check's default)
 * and, when `setup` or `teardown` is not NULL, a checked fixture around every test. The test case
 * is in the suite already: add the tests to *tc_out. */
Suite *test_suite_single(const char *name, double timeout, SFun setup, SFun teardown, TCase **tc_out);

/* 1 when the program runs under valgrind (tests shrink their loops there). */
int test_on_valgrind(void);

/* $MLOPS_SOURCE_ROOT/rel (default "."), and $MLOPS_FIXTURES/rel (default "tests/fixtures"). The
 * result is one of 16 thread-local buffers: valid until 16 more calls on the same thread. */
const char *test_source_file(const char *rel);
const char *test_fixture_file(const char *rel);

/* The whole file, NUL-terminated (malloc'd), or NULL when it cannot be read (missing, not a
 * regular file, out of memory): for tests that expect a file may be absent. */
void *test_try_read_file(const char *path, size_t *len);

/* The whole file, NUL-terminated (malloc'd, caller frees); *len gets its size when len is not NULL.
 * Fails the test when the file cannot be read. */
void *test_read_file(const char *path, size_t *len);

/* A file of little-endian float32 values (the fixtures' .f32 files): *n gets the count. */
float *test_read_f32(const char *path, size_t *n);

/* Make a fresh directory "<base>/mlops-<tag>-XXXXXX" in `buf` (base: $TMPDIR or /tmp; "/dev/shm"
 * when `in_memory` and it exists). Fails the test when it cannot. */
void test_tmpdir_make(char *buf, size_t cap, const char *tag, int in_memory);

/* Remove `path` and everything below it (nftw, depth first, symbolic links not followed; no
 * shell). 0, or -1 when something could not be removed. A missing path is 0. */
int test_tmpdir_remove(const char *path);

/* Entries of directory `path` other than "." and ".." (fails the test when it cannot be read). */
size_t test_dir_entries(const char *path);

/* The names in directory `path` that end with `suffix` ("" for all but "." and ".."), sorted; *n
 * gets their count. Fails the test when the directory cannot be read. Free with test_names_free. */
char **test_list_dir(const char *path, const char *suffix, size_t *n);
void test_names_free(char **names, size_t n);

/* 1 when `a` and `b` have the same bits or are both NaN (reference values must match exactly). */
int test_same_f32(float a, float b);

#endif
