/* Fault injection (issue 13): the library's allocator hook fails the k-th
 * allocation, for every k the call makes, for the registry, state-file and
 * schema entry points. Each failure must give a clean status (ENOMEM with a
 * message), leave no visible change (no new version, the old state file
 * intact, no temporary left), and leak nothing (run under ASan in CI: suite
 * unit). The same for I/O: every write, fsync and rename a save makes fails
 * with EIO in turn (this program's definitions of those functions take the
 * library's calls while a failure is armed). Then a full disk: a state save
 * onto a small tmpfs (root only) fails with the system's reason and keeps the
 * old file. Public API only. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../faults/fault_inject.h"
#include "file_util.h"
#include "harness.h"
#include "mlops.h"

static char dir[200];


static void setup(void) { test_tmpdir_make(dir, sizeof dir, "faults", 0); }

static void teardown(void) { test_tmpdir_remove(dir); }

/* ---- the failing allocator (fi_run: tests/faults/fault_inject.h) ---- */

/* fi_run() with `check` on the call's own context; success despite a failed allocation is allowed
 * where that allocation was best-effort work (removing stale temporaries), and still checked. */
static long inject(const char *what, fi_call_fn call, fi_check_fn check, void *ctx) {
    return fi_run(what, call, ctx, check, ctx, 1);
}

/* ---- failing I/O: write, fsync and rename, as the library calls them ---- */

static long io_fail_at, n_io; /* fail I/O call number io_fail_at (1-based); 0: pass everything through */
static int io_failed;

static int io_fails(void) {
    if (io_fail_at <= 0 || ++n_io != io_fail_at) return 0;
    io_failed = 1;
    errno = EIO;
    return 1;
}

/* Default visibility: the project compiles with -fvisibility=hidden, and these must be exported. */
#define INTERPOSE __attribute__((visibility("default")))

INTERPOSE ssize_t write(int fd, const void *buf, size_t n) {
    return io_fails() ? -1 : (ssize_t)syscall(SYS_write, fd, buf, n);
}

/* Directories excepted: the sync of a directory after a rename is best effort (the
 * new file is already in place), so its failure is not reported. */
INTERPOSE int fsync(int fd) {
    struct stat st;
    int is_dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    return !is_dir && io_fails() ? -1 : (int)syscall(SYS_fsync, fd);
}

INTERPOSE int rename(const char *from, const char *to) {
    return io_fails() ? -1 : (int)syscall(SYS_renameat, AT_FDCWD, from, AT_FDCWD, to);
}

/* As inject(), failing the k-th I/O call with EIO; the status must be EIO and the message
 * must name `target` and give the system's reason. Returns the I/O calls of a clean run. */
static long inject_io(const char *what, const char *target, fi_call_fn call, fi_check_fn check, void *ctx) {
    for (long k = 1; k < 100000; k++) {
        io_fail_at = k;
        n_io = 0;
        io_failed = 0;
        mlops_clear_error();
        mlops_status st = call(ctx);
        io_fail_at = 0;
        if (!io_failed) {
            ck_assert_msg(st == MLOPS_OK, "%s: clean run failed: %s", what, mlops_last_error());
            return n_io;
        }
        ck_assert_msg(st == MLOPS_EIO, "%s: I/O call %ld failed: status %d (%s): %s", what, k, st,
                      mlops_status_str(st), mlops_last_error());
        ck_assert_msg(strstr(mlops_last_error(), target) && strstr(mlops_last_error(), strerror(EIO)),
                      "%s: I/O call %ld: the message does not name %s and the reason: %s", what, k, target,
                      mlops_last_error());
        ck_assert_msg(!strstr(mlops_last_error(), ".tmp."), "%s: the message names the temporary: %s", what,
                      mlops_last_error());
        if (check) check(ctx, k);
    }
    ck_abort_msg("%s: did not finish", what);
    return 0;
}

/* ---- registry ---- */

typedef struct reg_ctx {
    mlops_registry *r;
    char root[300], model[512];
    char *out;
    mlops_model *m;
} reg_ctx;

/* A registry at <parent>/reg and the fixture model's path; with `put`, created and holding that
 * model as "m" version 1. */
static void reg_setup(reg_ctx *x, const char *parent, int put) {
    snprintf(x->root, sizeof x->root, "%s/reg", parent);
    const char *fx = getenv("MLOPS_FIXTURES");
    snprintf(x->model, sizeof x->model, "%s/models/binary_logistic.json", fx ? fx : "tests/fixtures");
    if (!put) return;
    mlops_registry_opts o = MLOPS_REGISTRY_OPTS_INIT;
    o.create = 1;
    ck_assert_int_eq(mlops_registry_create(x->root, &o, &x->r), MLOPS_OK);
    ck_assert_int_eq(mlops_registry_put_file(x->r, "m", x->model, NULL, NULL), MLOPS_OK);
}

static size_t n_versions(mlops_registry *r) {
    size_t n = 0;
    mlops_status st = mlops_registry_versions(r, "m", NULL, 0, &n);
    return st == MLOPS_ENOTFOUND ? 0 : n;
}

static mlops_status do_put(void *c) {
    reg_ctx *x = c;
    return mlops_registry_put_file(x->r, "m", x->model, "{\"auc\": 0.9}", NULL);
}

static void put_changed_nothing(void *c, long k) {
    reg_ctx *x = c;
    uint32_t v = 0;
    if (k < 0 && mlops_registry_latest(x->r, "m", &v) == MLOPS_OK && v > 1) /* succeeded: undo it */
        ck_assert_int_eq(mlops_registry_delete(x->r, "m", v), MLOPS_OK);
    ck_assert_msg(n_versions(x->r) == 1, "put, allocation %ld: a version appeared", k);
    ck_assert_msg(temps_below(x->root) == 0, "put, allocation %ld: a temporary was left", k);
}

static mlops_status do_load(void *c) {
    reg_ctx *x = c;
    mlops_model_opts o;
    mlops_model_opts_init(&o, MLOPS_MODEL_OPTS_VERSION);
    o.engine = MLOPS_ENGINE_NATIVE;
    mlops_status st = mlops_registry_load_model(x->r, "m", 1, &o, &x->m, NULL);
    mlops_model_free(x->m);
    x->m = NULL;
    return st;
}

static mlops_status do_info(void *c) {
    reg_ctx *x = c;
    mlops_status st = mlops_registry_info(x->r, "m", 1, &x->out);
    if (!st) mlops_free(x->out);
    return st;
}

static mlops_status do_verify(void *c) {
    reg_ctx *x = c;
    mlops_status st = mlops_registry_verify(x->r, NULL, &x->out);
    if (!st) mlops_free(x->out);
    return st;
}

static mlops_status do_alias(void *c) {
    reg_ctx *x = c;
    return mlops_registry_set_alias(x->r, "m", "prod", 1);
}

static void alias_unchanged(void *c, long k) {
    reg_ctx *x = c;
    uint32_t v = 0;
    if (k < 0) ck_assert_int_eq(mlops_registry_remove_alias(x->r, "m", "prod"), MLOPS_OK);
    ck_assert_msg(mlops_registry_resolve_alias(x->r, "m", "prod", &v) == MLOPS_ENOTFOUND,
                  "set_alias, allocation %ld: the alias exists after a failure", k);
    ck_assert_msg(temps_below(x->root) == 0, "set_alias, allocation %ld: a temporary was left", k);
}

static mlops_status do_open(void *c) {
    reg_ctx *x = c;
    mlops_registry *r = NULL;
    mlops_status st = mlops_registry_create(x->root, NULL, &r);
    mlops_registry_free(r);
    return st;
}

START_TEST(registry_calls_survive_every_allocation_failure) {
    reg_ctx x = {0};
    reg_setup(&x, dir, 1);
    long n[6];
    n[0] = inject("registry_open", do_open, NULL, &x);
    n[1] = inject("registry_load", do_load, NULL, &x);
    n[2] = inject("registry_info", do_info, NULL, &x);
    n[3] = inject("registry_verify", do_verify, NULL, &x);
    n[4] = inject("registry_set_alias", do_alias, alias_unchanged, &x);
    ck_assert_int_eq(mlops_registry_remove_alias(x.r, "m", "prod"), MLOPS_OK);
    /* last: a successful put adds version 2, which put_changed_nothing would see */
    n[5] = inject("registry_put", do_put, put_changed_nothing, &x);
    ck_assert_uint_eq(n_versions(x.r), 2);
    uint32_t latest = 0;
    ck_assert_int_eq(mlops_registry_latest(x.r, "m", &latest), MLOPS_OK);
    ck_assert_int_eq(mlops_registry_delete(x.r, "m", latest), MLOPS_OK);
    long io_put = inject_io("registry_put (EIO)", x.root, do_put, put_changed_nothing, &x);
    ck_assert_int_eq(mlops_registry_latest(x.r, "m", &latest), MLOPS_OK);
    ck_assert_int_eq(mlops_registry_delete(x.r, "m", latest), MLOPS_OK);
    long io_alias = inject_io("registry_set_alias (EIO)", "aliases/prod", do_alias, alias_unchanged, &x);
    printf("faults: registry put/set_alias: %ld/%ld I/O calls, each failed with EIO once\n", io_put, io_alias);
    printf("faults: registry open/load/info/verify/set_alias/put: %ld/%ld/%ld/%ld/%ld/%ld allocations, each "
           "failed once\n", n[0], n[1], n[2], n[3], n[4], n[5]);
    mlops_registry_free(x.r);
}
END_TEST

/* ---- monitor and drift state ---- */

typedef struct state_ctx {
    mlops_monitor *m;
    mlops_drift *d;
    char mpath[300], dpath[300];
    char *mold, *dold;
    size_t mold_len, dold_len;
} state_ctx;


static void file_is(const char *path, const char *want, size_t len, const char *what, long k) {
    size_t n = 0;
    char *got = test_try_read_file(path, &n);
    ck_assert_msg(got && n == len && memcmp(got, want, len) == 0, "%s, failure %ld: the old file changed", what, k);
    free(got);
    ck_assert_msg(temps_below(dir) == 0, "%s, failure %ld: a temporary was left", what, k);
}

static mlops_status do_monitor_save(void *c) { return mlops_monitor_save(((state_ctx *)c)->m, ((state_ctx *)c)->mpath); }
static mlops_status do_drift_save(void *c) { return mlops_drift_save(((state_ctx *)c)->d, ((state_ctx *)c)->dpath); }

static void monitor_file_unchanged(void *c, long k) {
    state_ctx *x = c;
    if (k < 0) ck_abort_msg("monitor_save succeeded with allocation %ld failed", -k);
    file_is(x->mpath, x->mold, x->mold_len, "monitor_save", k);
}

static void drift_file_unchanged(void *c, long k) {
    state_ctx *x = c;
    if (k < 0) ck_abort_msg("drift_save succeeded with allocation %ld failed", -k);
    file_is(x->dpath, x->dold, x->dold_len, "drift_save", k);
}

static mlops_status do_monitor_load(void *c) {
    mlops_monitor *m = NULL;
    mlops_status st = mlops_monitor_load(((state_ctx *)c)->mpath, &m);
    mlops_monitor_free(m);
    return st;
}

static mlops_status do_drift_load(void *c) {
    mlops_drift *d = NULL;
    mlops_status st = mlops_drift_load(((state_ctx *)c)->dpath, &d);
    mlops_drift_free(d);
    return st;
}

static void make_state(state_ctx *x) {
    ck_assert_int_eq(mlops_monitor_create(NULL, &x->m), MLOPS_OK);
    for (int i = 0; i < 40; i++) {
        double p = (i % 7) / 7.0;
        ck_assert_int_eq(mlops_monitor_record(x->m, &p, 1, (double)(i % 2)), MLOPS_OK);
    }
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    o.window = 32;
    ck_assert_int_eq(mlops_drift_create(2, NULL, NULL, &o, &x->d), MLOPS_OK);
    double ref[80];
    for (int i = 0; i < 80; i++)
        ref[i] = (double)((i * 13) % 29);
    ck_assert_int_eq(mlops_drift_set_reference(x->d, ref, 40, 2), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_update(x->d, ref, 10, 2), MLOPS_OK);
    snprintf(x->mpath, sizeof x->mpath, "%s/monitor.state", dir);
    snprintf(x->dpath, sizeof x->dpath, "%s/drift.state", dir);
}

START_TEST(state_files_survive_every_allocation_failure) {
    state_ctx x = {0};
    make_state(&x);
    /* an old version of each file, which every failed save must leave as it was */
    ck_assert_int_eq(mlops_monitor_save(x.m, x.mpath), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_save(x.d, x.dpath), MLOPS_OK);
    double p = 0.9;
    ck_assert_int_eq(mlops_monitor_record(x.m, &p, 1, 1.0), MLOPS_OK);
    double row[2] = {100, 100};
    ck_assert_int_eq(mlops_drift_update(x.d, row, 1, 2), MLOPS_OK);
    x.mold = test_try_read_file(x.mpath, &x.mold_len);
    x.dold = test_try_read_file(x.dpath, &x.dold_len);
    long n[4];
    n[0] = inject("monitor_load", do_monitor_load, NULL, &x);
    n[1] = inject("drift_load", do_drift_load, NULL, &x);
    n[2] = inject("monitor_save", do_monitor_save, monitor_file_unchanged, &x);
    n[3] = inject("drift_save", do_drift_save, drift_file_unchanged, &x);
    /* the files now hold the last clean saves; change the state again */
    free(x.mold);
    free(x.dold);
    x.mold = test_try_read_file(x.mpath, &x.mold_len);
    x.dold = test_try_read_file(x.dpath, &x.dold_len);
    ck_assert_int_eq(mlops_monitor_record(x.m, &p, 1, 0.0), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_update(x.d, row, 1, 2), MLOPS_OK);
    long io_m = inject_io("monitor_save (EIO)", x.mpath, do_monitor_save, monitor_file_unchanged, &x);
    long io_d = inject_io("drift_save (EIO)", x.dpath, do_drift_save, drift_file_unchanged, &x);
    printf("faults: monitor/drift save: %ld/%ld I/O calls, each failed with EIO once\n", io_m, io_d);
    printf("faults: monitor load/save, drift load/save: %ld/%ld/%ld/%ld allocations, each failed once\n", n[0], n[2],
           n[1], n[3]);
    free(x.mold);
    free(x.dold);
    mlops_monitor_free(x.m);
    mlops_drift_free(x.d);
}
END_TEST

/* Mount a tmpfs of `size` at <dir>/small into `mnt` (a full disk for an ENOSPC test); 0 when it
 * is mounted, -1 (after saying why `what` is skipped) where mounting needs root we lack. */
static int mount_small_tmpfs(char *mnt, size_t cap, const char *size, const char *what) {
    if (geteuid() != 0) {
        printf("faults: %s skipped: mounting a small tmpfs needs root\n", what);
        return -1;
    }
    snprintf(mnt, cap, "%s/small", dir);
    ck_assert_int_eq(mkdir(mnt, 0755), 0);
    char data[32];
    snprintf(data, sizeof data, "size=%s", size);
    if (mount("tmpfs", mnt, "tmpfs", 0, data) != 0) {
        printf("faults: %s skipped: cannot mount a tmpfs here: %s\n", what, strerror(errno));
        return -1;
    }
    return 0;
}

/* Write zeros to `fill` = <mnt>/fill until the file system at `mnt` is full. */
static void fill_disk(const char *mnt, char *fill, size_t cap) {
    snprintf(fill, cap, "%s/fill", mnt);
    FILE *f = fopen(fill, "wb");
    ck_assert_ptr_nonnull(f);
    char block[4096] = {0};
    while (fwrite(block, 1, sizeof block, f) == sizeof block)
        ;
    fclose(f);
}

/* A full disk during every save: a 64 KiB tmpfs (mounting needs root; CI runs as root). */
START_TEST(saves_on_a_full_disk_keep_the_old_file) {
    char mnt[280];
    if (mount_small_tmpfs(mnt, sizeof mnt, "64k", "ENOSPC test") != 0) return;
    state_ctx x = {0};
    make_state(&x);
    snprintf(x.mpath, sizeof x.mpath, "%s/monitor.state", mnt);
    snprintf(x.dpath, sizeof x.dpath, "%s/drift.state", mnt);
    ck_assert_int_eq(mlops_monitor_save(x.m, x.mpath), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_save(x.d, x.dpath), MLOPS_OK);
    x.mold = test_try_read_file(x.mpath, &x.mold_len);
    x.dold = test_try_read_file(x.dpath, &x.dold_len);
    /* fill the disk */
    char fill[320];
    fill_disk(mnt, fill, sizeof fill);
    /* a bigger state than the free space: 5000 more window rows */
    double *rows = calloc(2 * 5000, sizeof *rows);
    ck_assert_int_eq(mlops_drift_update(x.d, rows, 5000, 2), MLOPS_OK);
    free(rows);
    mlops_status st = mlops_drift_save(x.d, x.dpath);
    ck_assert_int_eq(st, MLOPS_EIO);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), x.dpath));
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), strerror(ENOSPC)));
    for (int i = 0; i < 100; i++) {
        double p = 0.5;
        mlops_monitor_record(x.m, &p, 1, 0.0);
    }
    st = mlops_monitor_save(x.m, x.mpath);
    ck_assert_msg(st == MLOPS_EIO && strstr(mlops_last_error(), strerror(ENOSPC)), "%d %s", st, mlops_last_error());
    file_is(x.mpath, x.mold, x.mold_len, "monitor_save on a full disk", 0);
    file_is(x.dpath, x.dold, x.dold_len, "drift_save on a full disk", 0);
    printf("faults: ENOSPC: monitor and drift saves on a full 64 KiB tmpfs failed cleanly, old files intact\n");
    free(x.mold);
    free(x.dold);
    mlops_monitor_free(x.m);
    mlops_drift_free(x.d);
    ck_assert_int_eq(umount(mnt), 0);
}
END_TEST

/* A registry put onto a full disk (issue 13, ENOSPC): a clean EIO naming the reason, the published
 * version still listed and loadable, no temporary or half version left. Root only, as above. */
START_TEST(registry_put_on_a_full_disk_changes_nothing) {
    char mnt[280];
    if (mount_small_tmpfs(mnt, sizeof mnt, "96k", "registry ENOSPC test") != 0) return;
    reg_ctx x = {0};
    reg_setup(&x, mnt, 1);
    char fill[320];
    fill_disk(mnt, fill, sizeof fill);
    mlops_status st = do_put(&x);
    ck_assert_msg(st == MLOPS_EIO && strstr(mlops_last_error(), strerror(ENOSPC)), "%d %s", st, mlops_last_error());
    put_changed_nothing(&x, 0);
    ck_assert_int_eq(do_load(&x), MLOPS_OK);
    remove(fill); /* with room again, the next put succeeds: nothing half-made is in its way */
    ck_assert_int_eq(do_put(&x), MLOPS_OK);
    ck_assert_uint_eq(n_versions(x.r), 2);
    printf("faults: ENOSPC: registry put on a full 96 KiB tmpfs failed cleanly, version 1 intact\n");
    mlops_registry_free(x.r);
    ck_assert_int_eq(umount(mnt), 0);
}
END_TEST

/* Signed, encrypted, audited (issue 19): put and a trusted load under every allocation failure. */
START_TEST(trusted_registry_calls_survive_every_allocation_failure) {
    reg_ctx x = {0};
    reg_setup(&x, dir, 0);
    char key[300], sec[310], pub[310], sym[300];
    snprintf(key, sizeof key, "%s/ci", dir);
    snprintf(sec, sizeof sec, "%s.key", key);
    snprintf(pub, sizeof pub, "%s.pub", key);
    snprintf(sym, sizeof sym, "%s/data.key", dir);
    ck_assert_int_eq(mlops_registry_keygen(key, 0), MLOPS_OK);
    ck_assert_int_eq(mlops_registry_keygen(sym, 1), MLOPS_OK);
    mlops_registry_opts o = MLOPS_REGISTRY_OPTS_INIT;
    const char *trust[1] = {pub};
    o.create = 1;
    o.audit = 1;
    o.sign_key = sec;
    o.encryption_key = sym;
    o.trust_keys = trust;
    o.n_trust_keys = 1;
    ck_assert_int_eq(mlops_registry_create(x.root, &o, &x.r), MLOPS_OK);
    ck_assert_int_eq(mlops_registry_put_file(x.r, "m", x.model, NULL, NULL), MLOPS_OK);
    long n_open = inject("trusted registry_open", do_open, NULL, &x);
    long n_load = inject("trusted registry_load", do_load, NULL, &x);
    long n_put = inject("trusted registry_put", do_put, put_changed_nothing, &x);
    ck_assert_uint_eq(n_versions(x.r), 2);
    size_t n = 0;
    ck_assert_msg(mlops_registry_audit_verify(x.r, &n) == MLOPS_OK, "%s", mlops_last_error());
    printf("faults: trusted registry open/load/put: %ld/%ld/%ld allocations, each failed once; audit log of %zu "
           "entries intact\n", n_open, n_load, n_put, n);
    mlops_registry_free(x.r);
}
END_TEST

static Suite *make_suite(void) {
    TCase *tc;
    Suite *s = test_suite_single("faults", 240, setup, teardown, &tc);
    tcase_add_test(tc, registry_calls_survive_every_allocation_failure);
    tcase_add_test(tc, trusted_registry_calls_survive_every_allocation_failure);
    tcase_add_test(tc, state_files_survive_every_allocation_failure);
    tcase_add_test(tc, saves_on_a_full_disk_keep_the_old_file);
    tcase_add_test(tc, registry_put_on_a_full_disk_changes_nothing);
    return s;
}

MLOPS_TEST_MAIN(make_suite)
