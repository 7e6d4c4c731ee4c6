/* Unit tests for the common module: status table, last error, version, hooks. */
#include <check.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"
#include "mlops/common.h"
#include "harness.h"

START_TEST(status_strings_are_distinct) {
    ck_assert_str_eq(mlops_status_str(MLOPS_OK), "ok");
    ck_assert_str_eq(mlops_status_str(MLOPS_ESHAPE), "shape mismatch");
    ck_assert_str_eq(mlops_status_str((mlops_status)-9999), "unknown status");
    ck_assert_str_ne(mlops_status_str(MLOPS_EINVAL), mlops_status_str(MLOPS_EIO));
}
END_TEST

START_TEST(last_error_is_never_null_and_has_context) {
    mlops_clear_error();
    ck_assert_ptr_nonnull(mlops_last_error());
    ck_assert_str_eq(mlops_last_error(), "");
    ck_assert_int_eq(mlops__fail(MLOPS_ESHAPE, "%s: expected %d features, got %d", "m.json", 30, 29),
                     MLOPS_ESHAPE);
    ck_assert_str_eq(mlops_last_error(), "m.json: expected 30 features, got 29");
}
END_TEST

static void *other_thread(void *arg) {
    (void)arg;
    /* A fresh thread starts with no error, whatever the main thread did. */
    return (void *)(strcmp(mlops_last_error(), "") == 0 ? (void *)1 : NULL);
}

START_TEST(last_error_is_thread_local) {
    mlops__fail(MLOPS_EINVAL, "main thread failure");
    pthread_t t;
    void *res = NULL;
    ck_assert_int_eq(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_join(t, &res);
    ck_assert_ptr_nonnull(res);
    ck_assert_str_eq(mlops_last_error(), "main thread failure");
}
END_TEST

START_TEST(version_matches_header) {
    ck_assert_str_eq(mlops_version_string(), MLOPS_VERSION_STRING);
    ck_assert_uint_eq(mlops_version_number(), MLOPS_VERSION_NUMBER);
}
END_TEST

static int log_calls;
static char log_last[256];
static void log_cb(mlops_log_level level, const char *msg, void *user) {
    (void)level;
    *(int *)user += 1;
    snprintf(log_last, sizeof log_last, "%s", msg);
}

START_TEST(log_callback_receives_and_filters) {
    log_calls = 0;
    mlops_set_log_callback(log_cb, &log_calls, MLOPS_LOG_INFO);
    mlops__log(MLOPS_LOG_DEBUG, "dropped");
    mlops__log(MLOPS_LOG_WARN, "kept %d", 7);
    ck_assert_int_eq(log_calls, 1);
    ck_assert_str_eq(log_last, "kept 7");
    mlops_set_log_callback(NULL, NULL, MLOPS_LOG_DEBUG);
    mlops__log(MLOPS_LOG_ERROR, "nobody listens");
    ck_assert_int_eq(log_calls, 1);
}
END_TEST

/* Two callbacks, each with its own user pointer: a message must never reach one function with the
 * other's pointer while a thread swaps them as fast as it can. */
static int tag_a, tag_b;
static atomic_long torn, delivered;
static void cb_a(mlops_log_level level, const char *msg, void *user) {
    (void)level, (void)msg;
    if (user != &tag_a) atomic_fetch_add(&torn, 1);
    atomic_fetch_add(&delivered, 1);
}
static void cb_b(mlops_log_level level, const char *msg, void *user) {
    (void)level, (void)msg;
    if (user != &tag_b) atomic_fetch_add(&torn, 1);
    atomic_fetch_add(&delivered, 1);
}

static atomic_int stop_logging;
static void *log_loop(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_logging))
        mlops__log(MLOPS_LOG_WARN, "message");
    return NULL;
}

START_TEST(log_callback_pair_is_never_torn) {
    atomic_store(&stop_logging, 0);
    atomic_store(&torn, 0);
    atomic_store(&delivered, 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, log_loop, NULL), 0);
    /* At least 20000 swaps, and until the loggers got 1000 messages through (bounded). */
    for (long i = 0; i < 20000 || (atomic_load(&delivered) < 1000 && i < 50000000); i++) {
        if (i & 1)
            mlops_set_log_callback(cb_a, &tag_a, MLOPS_LOG_INFO);
        else
            mlops_set_log_callback(cb_b, &tag_b, MLOPS_LOG_INFO);
    }
    atomic_store(&stop_logging, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    mlops_set_log_callback(NULL, NULL, MLOPS_LOG_DEBUG);
    ck_assert_int_eq(atomic_load(&torn), 0);
    ck_assert_int_ge(atomic_load(&delivered), 1000);
}
END_TEST

/* A callback may call back into the library: replace itself, fail a call (its own message is not
 * delivered to it again: no recursion). */
static int reenter_calls, after_calls;
static mlops_status reenter_status;
static void cb_after(mlops_log_level level, const char *msg, void *user) {
    (void)level, (void)msg, (void)user;
    after_calls++;
}
static void cb_reenter(mlops_log_level level, const char *msg, void *user) {
    (void)level, (void)msg, (void)user;
    reenter_calls++;
    reenter_status = mlops__fail(MLOPS_EINVAL, "raised inside the callback");
    mlops_set_log_callback(cb_after, NULL, MLOPS_LOG_DEBUG);
}

START_TEST(log_callback_reenters) {
    reenter_calls = after_calls = 0;
    mlops_set_log_callback(cb_reenter, NULL, MLOPS_LOG_DEBUG);
    mlops__log(MLOPS_LOG_INFO, "first");
    ck_assert_int_eq(reenter_calls, 1);
    ck_assert_int_eq(reenter_status, MLOPS_EINVAL);
    ck_assert_str_eq(mlops_last_error(), "raised inside the callback");
    ck_assert_int_eq(after_calls, 0);
    mlops__log(MLOPS_LOG_INFO, "second");
    ck_assert_int_eq(reenter_calls, 1);
    ck_assert_int_eq(after_calls, 1);
    mlops_set_log_callback(NULL, NULL, MLOPS_LOG_DEBUG);
}
END_TEST

static size_t counted_allocs;
static void *counting_malloc(size_t n) {
    counted_allocs++;
    return malloc(n);
}

START_TEST(allocator_hook_is_used) {
    mlops_allocator a = {counting_malloc, realloc, free};
    ck_assert_int_eq(mlops_set_allocator(&a), MLOPS_OK);
    counted_allocs = 0;
    char *s = mlops__strdup("abc");
    ck_assert_str_eq(s, "abc");
    mlops_free(s);
    ck_assert_uint_eq(counted_allocs, 1);
    mlops_allocator bad = {NULL, realloc, free};
    ck_assert_int_eq(mlops_set_allocator(&bad), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_set_allocator(NULL), MLOPS_OK);
    ck_assert_ptr_null(mlops__calloc(SIZE_MAX / 2, 4));
}
END_TEST

START_TEST(atomic_write_then_read) {
    char path[] = "/tmp/mlops_common_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(mlops__write_file_atomic(path, "hello", 5), MLOPS_OK);
    char *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(mlops__read_file(path, 1024, &data, &len), MLOPS_OK);
    ck_assert_uint_eq(len, 5);
    ck_assert_str_eq(data, "hello");
    mlops_free(data);
    ck_assert_int_eq(mlops__read_file(path, 2, &data, &len), MLOPS_ELIMIT);
    unlink(path);
    ck_assert_int_eq(mlops__read_file(path, 1024, &data, &len), MLOPS_EIO);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), path));
    ck_assert_int_eq(mlops__write_file_atomic("/nonexistent-dir/x", "a", 1), MLOPS_EIO);
}
END_TEST

static char race_path[64];
static void *write_many(void *arg) {
    char buf[4096];
    memset(buf, *(const char *)arg, sizeof buf);
    for (int i = 0; i < 200; i++)
        if (mlops__write_file_atomic(race_path, buf, sizeof buf) != MLOPS_OK) return NULL;
    return arg;
}

START_TEST(atomic_writes_from_two_threads_never_mix) {
    snprintf(race_path, sizeof race_path, "/tmp/mlops_race_%ld", (long)getpid());
    static const char a = 'a', b = 'b';
    pthread_t t1, t2;
    void *r1, *r2;
    pthread_create(&t1, NULL, write_many, (void *)&a);
    pthread_create(&t2, NULL, write_many, (void *)&b);
    pthread_join(t1, &r1);
    pthread_join(t2, &r2);
    ck_assert_ptr_nonnull(r1);
    ck_assert_ptr_nonnull(r2);
    char *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(mlops__read_file(race_path, 1 << 20, &data, &len), MLOPS_OK);
    ck_assert_uint_eq(len, 4096);
    for (size_t i = 1; i < len; i++)
        ck_assert_int_eq(data[i], data[0]);
    mlops_free(data);
    unlink(race_path);
}
END_TEST

/* A fresh directory for one test's files. */
static void temp_dir(char *buf, size_t cap) { test_tmpdir_make(buf, cap, "io", 0); }

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void assert_file_is(const char *path, const char *text) {
    char *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(mlops__read_file(path, 1 << 20, &data, &len), MLOPS_OK);
    ck_assert_str_eq(data, text);
    mlops_free(data);
}

/* Finding 1: /dev/full was turned into a text file (as root). It stays a
 * device, and the write fails with the device's own reason. */
START_TEST(writer_writes_char_devices_in_place) {
    ck_assert_int_eq(mlops__write_file_atomic("/dev/full", "x\n", 2), MLOPS_EIO);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "/dev/full"));
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), strerror(ENOSPC)));
    struct stat st;
    ck_assert_int_eq(stat("/dev/full", &st), 0);
    ck_assert(S_ISCHR(st.st_mode));
    ck_assert_int_eq(mlops__write_file_atomic("/dev/null", "x\n", 2), MLOPS_OK);
    /* a regular file under /dev/shm is an ordinary file: replaced, not appended to */
    if (stat("/dev/shm", &st) == 0) {
        char shm[64];
        snprintf(shm, sizeof shm, "/dev/shm/mlops_common_%ld", (long)getpid());
        ck_assert_int_eq(mlops__write_file_atomic(shm, "one", 3), MLOPS_OK);
        ck_assert_int_eq(mlops__write_file_atomic(shm, "two", 3), MLOPS_OK);
        assert_file_is(shm, "two");
        unlink(shm);
    }
    ck_assert_int_eq(stat("/dev/null", &st), 0);
    ck_assert(S_ISCHR(st.st_mode));
}
END_TEST

/* Finding 1: a FIFO was replaced by a file. It is written in place; without a
 * reader the write fails at once (no hang). */
START_TEST(writer_writes_fifos_in_place) {
    char dir[64], fifo[96];
    temp_dir(dir, sizeof dir);
    snprintf(fifo, sizeof fifo, "%s/pipe", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(mlops__write_file_atomic(fifo, "abc", 3), MLOPS_EIO);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "no reader"));
    int rfd = open(fifo, O_RDONLY | O_NONBLOCK);
    ck_assert_int_ge(rfd, 0);
    ck_assert_int_eq(mlops__write_file_atomic(fifo, "abc", 3), MLOPS_OK);
    char got[8] = {0};
    ck_assert_int_eq(read(rfd, got, sizeof got), 3);
    ck_assert_str_eq(got, "abc");
    close(rfd);
    struct stat st;
    ck_assert_int_eq(lstat(fifo, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    /* Finding 3: reading a FIFO as a file fails at once instead of hanging. */
    char *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(mlops__read_file(fifo, 1024, &data, &len), MLOPS_EIO);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "not a regular file (it is a FIFO)"));
    unlink(fifo);
    rmdir(dir);
}
END_TEST

/* Finding 1: a symlink was replaced instead of its target. */
START_TEST(writer_replaces_the_target_of_a_symlink) {
    char dir[64], target[96], link[96], dangling[96], created[96];
    temp_dir(dir, sizeof dir);
    snprintf(target, sizeof target, "%s/target", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    snprintf(dangling, sizeof dangling, "%s/dangling", dir);
    snprintf(created, sizeof created, "%s/created", dir);
    write_text(target, "old");
    ck_assert_int_eq(symlink("target", link), 0); /* relative, as people make them */
    ck_assert_int_eq(mlops__write_file_atomic(link, "new", 3), MLOPS_OK);
    struct stat st;
    ck_assert_int_eq(lstat(link, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    assert_file_is(target, "new");
    ck_assert_int_eq(symlink(created, dangling), 0);
    ck_assert_int_eq(mlops__write_file_atomic(dangling, "made", 4), MLOPS_OK);
    ck_assert_int_eq(lstat(dangling, &st), 0);
    ck_assert(S_ISLNK(st.st_mode));
    assert_file_is(created, "made");
    unlink(link);
    unlink(target);
    unlink(dangling);
    unlink(created);
    rmdir(dir);
}
END_TEST

START_TEST(writer_keeps_mode_and_refuses_other_kinds) {
    char dir[64], path[96], sub[96];
    temp_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/secret", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    write_text(path, "old");
    ck_assert_int_eq(chmod(path, 0600), 0);
    ck_assert_int_eq(mlops__write_file_atomic(path, "new", 3), MLOPS_OK);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
    assert_file_is(path, "new");
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    ck_assert_int_eq(mlops__write_file_atomic(sub, "x", 1), MLOPS_EIO);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "it is a directory"));
    /* Finding 6: errors name the target, never the temporary. */
    char missing[128];
    snprintf(missing, sizeof missing, "%s/no/such/file", dir);
    ck_assert_int_eq(mlops__write_file_atomic(missing, "x", 1), MLOPS_EIO);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), missing));
    ck_assert_ptr_null(strstr(mlops_last_error(), ".tmp."));
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), strerror(ENOENT)));
    /* nothing of ours is left beside the file */
    ck_assert_uint_eq(mlops__remove_stale_temps(dir, NULL), 0);
    unlink(path);
    rmdir(sub);
    rmdir(dir);
}
END_TEST

/* Finding 2: temporaries of an interrupted save survived forever. Those of a
 * dead writer go; a live writer's (this process) and other files stay. */
START_TEST(stale_temporaries_of_dead_writers_are_removed) {
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) _exit(0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child);
    char dir[64], state[96], dead[128], live[128], other[128], lookalike[128];
    temp_dir(dir, sizeof dir);
    snprintf(state, sizeof state, "%s/monitor.state", dir);
    snprintf(dead, sizeof dead, "%s.tmp.%ld.4", state, (long)child);
    snprintf(live, sizeof live, "%s.tmp.%ld.5", state, (long)getpid());
    snprintf(other, sizeof other, "%s/notes.txt", dir);
    snprintf(lookalike, sizeof lookalike, "%s.tmp.%ld.x", state, (long)child);
    write_text(state, "s");
    write_text(dead, "d");
    write_text(live, "l");
    write_text(other, "o");
    write_text(lookalike, "x");
    ck_assert_uint_eq(mlops__remove_stale_temps_of(state), 1);
    ck_assert_int_ne(access(dead, F_OK), 0);
    ck_assert_int_eq(access(live, F_OK), 0);
    ck_assert_int_eq(access(other, F_OK), 0);
    ck_assert_int_eq(access(lookalike, F_OK), 0);
    ck_assert_int_eq(access(state, F_OK), 0);
    write_text(dead, "d");
    ck_assert_uint_eq(mlops__remove_stale_temps(dir, NULL), 1);
    ck_assert_int_ne(access(dead, F_OK), 0);
    unlink(state);
    unlink(live);
    unlink(other);
    unlink(lookalike);
    rmdir(dir);
}
END_TEST

START_TEST(reader_refuses_directories_and_big_files) {
    char *data = NULL;
    size_t len = 0;
    ck_assert_int_eq(mlops__read_file("/tmp", 1024, &data, &len), MLOPS_EIO);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "it is a directory"));
    ck_assert_int_eq(mlops__read_file("/dev/zero", 1024, &data, &len), MLOPS_EIO);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "character device"));
    ck_assert_ptr_null(data);
}
END_TEST

START_TEST(reader_is_bounded_and_checksum_is_fnv1a) {
    /* FNV-1a 64 reference values from its specification: "" and "a". */
    ck_assert_uint_eq(mlops__fnv1a64("", 0), 0xcbf29ce484222325ull);
    ck_assert_uint_eq(mlops__fnv1a64("a", 1), 0xaf63dc4c8601ec8cull);
    unsigned char bytes[12];
    uint64_t v = 0x1122334455667788ull;
    uint32_t w = 7;
    memcpy(bytes, &v, 8);
    memcpy(bytes + 8, &w, 4);
    mlops__reader r = {bytes, sizeof bytes, 0, 0};
    ck_assert_uint_eq(mlops__read_u64(&r), v);
    ck_assert_uint_eq(mlops__read_u32(&r), 7);
    ck_assert_int_eq(r.short_read, 0);
    ck_assert(mlops__read_f64(&r) == 0.0); /* past the end: zeros */
    ck_assert_int_eq(r.short_read, 1);
    r.off = 0;
    ck_assert_uint_eq(mlops__read_u32(&r), 0); /* sticky */
}
END_TEST

/* ---- the shared test harness itself (tests/common/harness.c) ---- */

/* A tree with files, a subdirectory, a FIFO and a symbolic link to a directory outside: removal takes
 * the tree and leaves the link's target and its file alone. */
START_TEST(harness_removes_a_tree_without_following_links) {
    char outside[256], dir[256], p[512];
    test_tmpdir_make(outside, sizeof outside, "outside", 0);
    test_tmpdir_make(dir, sizeof dir, "tree", 0);
    snprintf(p, sizeof p, "%s/keep.txt", outside);
    write_text(p, "keep");
    snprintf(p, sizeof p, "%s/sub", dir);
    ck_assert_int_eq(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/sub/a.txt", dir);
    write_text(p, "a");
    snprintf(p, sizeof p, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    snprintf(p, sizeof p, "%s/link", dir);
    ck_assert_int_eq(symlink(outside, p), 0);
    ck_assert_uint_eq(test_dir_entries(dir), 3);
    ck_assert_int_eq(test_tmpdir_remove(dir), 0);
    struct stat st;
    ck_assert_int_eq(lstat(dir, &st), -1);
    ck_assert_uint_eq(test_dir_entries(outside), 1);
    ck_assert_int_eq(test_tmpdir_remove(dir), 0); /* already gone: nothing to do */
    ck_assert_int_eq(test_tmpdir_remove(outside), 0);
}
END_TEST

START_TEST(harness_reads_whole_files_and_refuses_others) {
    char dir[256], p[512];
    test_tmpdir_make(dir, sizeof dir, "read", 0);
    snprintf(p, sizeof p, "%s/f.bin", dir);
    write_text(p, "abc\0def");
    size_t n = 0;
    char *got = test_read_file(p, &n);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(got, "abc");
    free(got);
    ck_assert_ptr_null(test_try_read_file(dir, &n)); /* a directory */
    snprintf(p, sizeof p, "%s/missing", dir);
    ck_assert_ptr_null(test_try_read_file(p, &n));
    snprintf(p, sizeof p, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(p, 0600), 0);
    ck_assert_ptr_null(test_try_read_file(p, &n)); /* refused at once, not a hang */
    ck_assert_int_eq(test_tmpdir_remove(dir), 0);
}
END_TEST

/* The listing the differential tests walk (models by suffix, sorted), and the exact comparison of
 * reference values: same bits, any NaN equal to any NaN, -0 not +0. */
START_TEST(harness_lists_by_suffix_sorted_and_compares_bits) {
    char dir[256], p[512];
    test_tmpdir_make(dir, sizeof dir, "list", 0);
    static const char *const files[] = {"b.ubj", "a.ubj", "c.json", "ubj", "d.ubj.bak"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        write_text(p, "x");
    }
    size_t n = 0;
    char **names = test_list_dir(dir, ".ubj", &n);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(names[0], "a.ubj");
    ck_assert_str_eq(names[1], "b.ubj");
    test_names_free(names, n);
    names = test_list_dir(dir, "", &n);
    ck_assert_uint_eq(n, 5);
    ck_assert_str_eq(names[0], "a.ubj");
    ck_assert_str_eq(names[4], "ubj");
    test_names_free(names, n);
    ck_assert_int_eq(test_tmpdir_remove(dir), 0);
    ck_assert(test_same_f32(1.5f, 1.5f));
    ck_assert(test_same_f32(NAN, -NAN));
    ck_assert(!test_same_f32(0.0f, -0.0f));
    ck_assert(!test_same_f32(1.0f, 1.0f + FLT_EPSILON));
    ck_assert(!test_same_f32(NAN, 0.0f));
}
END_TEST

static Suite *make_suite(void) {
    TCase *tc;
    Suite *s = test_suite_single("common", 0, NULL, NULL, &tc);
    tcase_add_test(tc, status_strings_are_distinct);
    tcase_add_test(tc, last_error_is_never_null_and_has_context);
    tcase_add_test(tc, last_error_is_thread_local);
    tcase_add_test(tc, version_matches_header);
    tcase_add_test(tc, log_callback_receives_and_filters);
    tcase_add_test(tc, log_callback_pair_is_never_torn);
    tcase_add_test(tc, log_callback_reenters);
    tcase_add_test(tc, allocator_hook_is_used);
    tcase_add_test(tc, atomic_write_then_read);
    tcase_add_test(tc, reader_is_bounded_and_checksum_is_fnv1a);
    tcase_add_test(tc, atomic_writes_from_two_threads_never_mix);
    tcase_add_test(tc, writer_writes_char_devices_in_place);
    tcase_add_test(tc, writer_writes_fifos_in_place);
    tcase_add_test(tc, writer_replaces_the_target_of_a_symlink);
    tcase_add_test(tc, writer_keeps_mode_and_refuses_other_kinds);
    tcase_add_test(tc, stale_temporaries_of_dead_writers_are_removed);
    tcase_add_test(tc, reader_refuses_directories_and_big_files);
    tcase_add_test(tc, harness_removes_a_tree_without_following_links);
    tcase_add_test(tc, harness_reads_whole_files_and_refuses_others);
    tcase_add_test(tc, harness_lists_by_suffix_sorted_and_compares_bits);
    return s;
}

MLOPS_TEST_MAIN(make_suite)
