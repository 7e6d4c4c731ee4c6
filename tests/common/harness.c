/* The shared test harness (see harness.h). */
#define _XOPEN_SOURCE 700
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif

static int run(Suite *s, int fork) {
    SRunner *sr = srunner_create(s);
    if (!fork) srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int test_run_suite(Suite *s) { return run(s, 1); }

int test_run_suite_no_fork(Suite *s) { return run(s, 0); }

TCase *test_case_add(Suite *s, const char *name, double timeout, const TTest *const *tests, size_t n) {
    TCase *tc = tcase_create(name);
    if (timeout > 0) tcase_set_timeout(tc, timeout);
    for (size_t i = 0; i < n; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    return tc;
}

int test_run_case(const char *suite, const char *tcase, double timeout, const TTest *const *tests, size_t n) {
    Suite *s = suite_create(suite);
    test_case_add(s, tcase, timeout, tests, n);
    return test_run_suite(s);
}

Suite *test_suite_single(const char *name, double timeout, SFun setup, SFun teardown, TCase **tc_out) {
    Suite *s = suite_create(name);
    TCase *tc = test_case_add(s, name, timeout, NULL, 0);
    if (setup || teardown) tcase_add_checked_fixture(tc, setup, teardown);
    *tc_out = tc;
    return s;
}

int test_on_valgrind(void) {
#ifdef RUNNING_ON_VALGRIND
    return RUNNING_ON_VALGRIND != 0;
#else
    return 0;
#endif
}

#define N_PATH_BUFS 16
#define PATH_CAP 4096

static const char *under(const char *env, const char *fallback, const char *rel) {
    static _Thread_local char bufs[N_PATH_BUFS][PATH_CAP];
    static _Thread_local unsigned next;
    char *buf = bufs[next++ % N_PATH_BUFS];
    const char *root = getenv(env);
    int n = snprintf(buf, PATH_CAP, "%s/%s", root && *root ? root : fallback, rel);
    if (n <= 0 || n >= PATH_CAP) { /* no ck_assert: main calls this too, outside any test */
        fprintf(stderr, "path too long: %s/%s\n", root ? root : fallback, rel);
        exit(EXIT_FAILURE);
    }
    return buf;
}

const char *test_source_file(const char *rel) { return under("MLOPS_SOURCE_ROOT", ".", rel); }

const char *test_fixture_file(const char *rel) { return under("MLOPS_FIXTURES", "tests/fixtures", rel); }

/* The file's bytes, or NULL with a reason in why. Opened without blocking, so that a FIFO is
 * refused at once instead of waiting for a writer. */
static void *read_whole(const char *path, size_t *len, const char **why) {
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    *why = strerror(errno);
    if (fd < 0) return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        close(fd);
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf || got != (size_t)st.st_size) {
        *why = buf ? "short read" : "out of memory";
        free(buf);
        return NULL;
    }
    buf[got] = '\0';
    if (len) *len = got;
    return buf;
}

void *test_try_read_file(const char *path, size_t *len) {
    const char *why;
    return read_whole(path, len, &why);
}

void *test_read_file(const char *path, size_t *len) {
    const char *why = NULL;
    void *buf = read_whole(path, len, &why);
    ck_assert_msg(buf != NULL, "cannot read %s: %s", path, why);
    return buf;
}

float *test_read_f32(const char *path, size_t *n) {
    size_t bytes = 0;
    float *v = test_read_file(path, &bytes);
    ck_assert_msg(bytes % sizeof(float) == 0, "%s: %zu bytes is not a whole number of float32", path, bytes);
    *n = bytes / sizeof(float);
    return v;
}

void test_tmpdir_make(char *buf, size_t cap, const char *tag, int in_memory) {
    struct stat st;
    const char *base = getenv("TMPDIR");
    if (in_memory && stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode)) base = "/dev/shm";
    if (!base || !*base) base = "/tmp";
    int n = snprintf(buf, cap, "%s/mlops-%s-XXXXXX", base, tag);
    ck_assert_msg(n > 0 && (size_t)n < cap, "temporary directory name too long");
    ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp %s: %s", buf, strerror(errno));
}

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int test_tmpdir_remove(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0 && errno == ENOENT) return 0;
    return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

size_t test_dir_entries(const char *path) {
    size_t n = 0;
    char **names = test_list_dir(path, "", &n); /* before test_names_free reads n */
    test_names_free(names, n);
    return n;
}

static int ends_with(const char *s, const char *suffix) {
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **test_list_dir(const char *path, const char *suffix, size_t *n) {
    DIR *d = opendir(path);
    ck_assert_msg(d != NULL, "opendir %s: %s", path, strerror(errno));
    char **names = NULL;
    size_t count = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") || !ends_with(e->d_name, suffix)) continue;
        if (count == cap) {
            cap = cap ? 2 * cap : 64;
            names = realloc(names, cap * sizeof *names);
            ck_assert_ptr_nonnull(names);
        }
        ck_assert_ptr_nonnull(names[count++] = strdup(e->d_name));
    }
    closedir(d);
    if (count) qsort(names, count, sizeof *names, by_name);
    *n = count;
    return names;
}

void test_names_free(char **names, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int test_same_f32(float a, float b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0; }
