/* Crash safety under SIGKILL (issue 13): a child process saves monitor and
 * drift state, or puts registry versions, in a loop; the parent kills it at a
 * random moment, ROUNDS times each. After every kill: each state file is one
 * of the two complete versions the child alternates between (byte for byte),
 * loads, and no temporary survives the load; every listed registry version
 * loads with its digest checked, and no temporary survives the next open.
 * Prints the counts. Public API only (links libmlops). */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "file_util.h"
#include "mlops.h"
#include "harness.h"

#define ROUNDS 500
/* Kills land anywhere in the first few saves (a put is slower: more files, and a
 * shorter range keeps the number of versions to load, and the test, small). */
#define STATE_DELAY_US 3000
#define PUT_DELAY_US 1000

static char dir[256];
/* The child writes one byte to ready[1] when its set-up is done and it starts saving. */
static int ready[2];


static void setup(void) {
    ck_assert_int_eq(pipe(ready), 0);
    /* tmpfs when there is one: a killed process loses nothing the page cache holds, so fsync
     * plays no part in what is tested here, and on tmpfs it costs nothing. */
    test_tmpdir_make(dir, sizeof dir, "crash", 1);
}

static void teardown(void) {
    test_tmpdir_remove(dir);
    close(ready[0]);
    close(ready[1]);
}




static void child_ready(void) {
    if (write(ready[1], "r", 1) != 1) _exit(5);
}

/* Kill `child` a random time after it started saving; returns 1 if it was killed (not finished). */
static int kill_later(pid_t child, unsigned *seed, long max_delay_us) {
    char c;
    if (read(ready[0], &c, 1) != 1) ck_abort_msg("the child died before it was ready");
    struct timespec ts = {0, (rand_r(seed) % max_delay_us) * 1000L};
    nanosleep(&ts, NULL);
    kill(child, SIGKILL);
    int status = 0;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    return WIFSIGNALED(status);
}

/* Two distinct, deterministic monitors and drift detectors (variant 0 or 1). */
static mlops_monitor *make_monitor(int variant) {
    mlops_monitor *m = NULL;
    ck_assert_int_eq(mlops_monitor_create(NULL, &m), MLOPS_OK);
    for (int i = 0; i < 50 + 25 * variant; i++) {
        double p = (i % 10) / 10.0;
        ck_assert_int_eq(mlops_monitor_record(m, &p, 1, (double)(i % 2)), MLOPS_OK);
    }
    return m;
}

static mlops_drift *make_drift(int variant) {
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    o.window = 64;
    mlops_drift *d = NULL;
    ck_assert_int_eq(mlops_drift_create(2, NULL, NULL, &o, &d), MLOPS_OK);
    double ref[200];
    for (int i = 0; i < 200; i++)
        ref[i] = (double)((i * 37) % 101);
    ck_assert_int_eq(mlops_drift_set_reference(d, ref, 100, 2), MLOPS_OK);
    double row[2] = {1.0 + variant, 2.0};
    for (int i = 0; i < 10 + 20 * variant; i++)
        ck_assert_int_eq(mlops_drift_update(d, row, 1, 2), MLOPS_OK);
    return d;
}

START_TEST(state_saves_survive_sigkill) {
    char mpath[300], dpath[300], ref[2][2][320];
    snprintf(mpath, sizeof mpath, "%s/monitor.state", dir);
    snprintf(dpath, sizeof dpath, "%s/drift.state", dir);
    /* The reference bytes of each variant, saved once here. */
    char *want[2][2];
    size_t want_len[2][2];
    /* A fresh monitor's file holds clock-dependent fields; one loaded from a file
     * saves the same bytes every time. So the child saves monitors and detectors
     * loaded from these reference files, and those bytes are what is compared. */
    for (int v = 0; v < 2; v++) {
        mlops_monitor *m = make_monitor(v);
        mlops_drift *d = make_drift(v);
        snprintf(ref[0][v], sizeof ref[0][v], "%s/ref-monitor-%d", dir, v);
        snprintf(ref[1][v], sizeof ref[1][v], "%s/ref-drift-%d", dir, v);
        ck_assert_int_eq(mlops_monitor_save(m, ref[0][v]), MLOPS_OK);
        ck_assert_int_eq(mlops_drift_save(d, ref[1][v]), MLOPS_OK);
        mlops_monitor_free(m);
        mlops_drift_free(d);
        ck_assert_int_eq(mlops_monitor_load(ref[0][v], &m), MLOPS_OK);
        ck_assert_int_eq(mlops_drift_load(ref[1][v], &d), MLOPS_OK);
        ck_assert_int_eq(mlops_monitor_save(m, mpath), MLOPS_OK);
        ck_assert_int_eq(mlops_drift_save(d, dpath), MLOPS_OK);
        ck_assert_ptr_nonnull(want[0][v] = test_try_read_file(mpath, &want_len[0][v]));
        ck_assert_ptr_nonnull(want[1][v] = test_try_read_file(dpath, &want_len[1][v]));
        mlops_monitor_free(m);
        mlops_drift_free(d);
    }
    /* Variant 1 is in place now, so there always is an "old" file. */
    unsigned seed = 12345;
    int killed = 0, torn_temps = 0;
    size_t saves_seen[2] = {0, 0};
    for (int round = 0; round < ROUNDS; round++) {
        fflush(NULL);
        pid_t child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) {
            mlops_monitor *m[2] = {NULL, NULL};
            mlops_drift *d[2] = {NULL, NULL};
            for (int v = 0; v < 2; v++)
                if (mlops_monitor_load(ref[0][v], &m[v]) != MLOPS_OK || mlops_drift_load(ref[1][v], &d[v]) != MLOPS_OK)
                    _exit(6);
            child_ready();
            for (unsigned i = 0;; i++) {
                if (mlops_monitor_save(m[i & 1], mpath) != MLOPS_OK) _exit(3);
                if (mlops_drift_save(d[i & 1], dpath) != MLOPS_OK) _exit(4);
            }
        }
        killed += kill_later(child, &seed, STATE_DELAY_US);
        torn_temps += temps_below(dir) > 0;
        const char *paths[2] = {mpath, dpath};
        for (int k = 0; k < 2; k++) {
            size_t len = 0;
            char *got = test_try_read_file(paths[k], &len);
            ck_assert_ptr_nonnull(got);
            int which = -1;
            for (int v = 0; v < 2; v++)
                if (len == want_len[k][v] && memcmp(got, want[k][v], len) == 0) which = v;
            if (which < 0) {
                size_t off = 0;
                while (off < len && off < want_len[k][0] && got[off] == want[k][0][off])
                    off++;
                ck_abort_msg("round %d: %s is neither the old nor the new version (%zu bytes; variant 0 has %zu, "
                             "variant 1 %zu; first difference from variant 0 at byte %zu)",
                             round, paths[k], len, want_len[k][0], want_len[k][1], off);
            }
            saves_seen[which]++;
            free(got);
        }
        mlops_monitor *m = NULL;
        mlops_drift *d = NULL;
        ck_assert_msg(mlops_monitor_load(mpath, &m) == MLOPS_OK, "round %d: %s", round, mlops_last_error());
        ck_assert_msg(mlops_drift_load(dpath, &d) == MLOPS_OK, "round %d: %s", round, mlops_last_error());
        mlops_monitor_free(m);
        mlops_drift_free(d);
        ck_assert_msg(temps_below(dir) == 0, "round %d: a temporary survived the loads", round);
    }
    printf("crash: monitor/drift state: %d rounds, %d killed mid-run, %d left temporaries (all removed on "
           "load), files seen as variant 0/1: %zu/%zu\n",
           ROUNDS, killed, torn_temps, saves_seen[0], saves_seen[1]);
    ck_assert_int_gt(torn_temps, 0); /* the kills did land inside saves */
    ck_assert_int_gt(saves_seen[1], 0);
    for (int k = 0; k < 2; k++)
        for (int v = 0; v < 2; v++)
            free(want[k][v]);
}
END_TEST

START_TEST(registry_puts_survive_sigkill) {
    char reg_dir[300], model[512];
    const char *fx = getenv("MLOPS_FIXTURES");
    snprintf(model, sizeof model, "%s/models/binary_logistic.json", fx ? fx : "tests/fixtures");
    mlops_registry_opts o = MLOPS_REGISTRY_OPTS_INIT;
    o.create = 1;
    mlops_registry *r = NULL;
    unsigned seed = 54321;
    int killed = 0, torn = 0;
    uint32_t checked = 0; /* versions up to this one are loaded and verified */
    size_t n_versions = 0, removed = 0, total_versions = 0;
    for (int round = 0; round < ROUNDS; round++) {
        /* A fresh registry every 10 rounds keeps each one small, and the test linear. */
        if (round % 10 == 0) {
            if (round) {
                ck_assert_int_eq(mlops_registry_create(reg_dir, NULL, &r), MLOPS_OK);
                size_t k = 0;
                ck_assert_int_eq(mlops_registry_gc(r, 0, &k), MLOPS_OK);
                removed += k;
                char *report = NULL;
                ck_assert_int_eq(mlops_registry_verify(r, NULL, &report), MLOPS_OK);
                ck_assert_msg(strstr(report, "\"problems\":[]") && strstr(report, "\"orphans\":[]"), "%s", report);
                mlops_free(report);
                mlops_registry_free(r);
                total_versions += n_versions;
            }
            snprintf(reg_dir, sizeof reg_dir, "%s/reg%d", dir, round / 10);
            ck_assert_int_eq(mlops_registry_create(reg_dir, &o, &r), MLOPS_OK);
            mlops_registry_free(r);
            checked = 0;
            n_versions = 0;
        }
        fflush(NULL);
        pid_t child = fork();
        ck_assert_int_ge(child, 0);
        if (child == 0) {
            mlops_registry *c = NULL;
            if (mlops_registry_create(reg_dir, NULL, &c) != MLOPS_OK) _exit(3);
            child_ready();
            for (;;)
                if (mlops_registry_put_file(c, "m", model, "{\"by\": \"crash test\"}", NULL) != MLOPS_OK) _exit(4);
        }
        killed += kill_later(child, &seed, PUT_DELAY_US);
        torn += temps_below(reg_dir) > 0;
        ck_assert_int_eq(mlops_registry_create(reg_dir, NULL, &r), MLOPS_OK);
        ck_assert_msg(temps_below(reg_dir) == 0, "round %d: a temporary survived the open", round);
        size_t n = 0;
        uint32_t vs[4096];
        mlops_status st = mlops_registry_versions(r, "m", vs, 4096, &n);
        ck_assert_msg(st == MLOPS_OK || st == MLOPS_ENOTFOUND, "%s", mlops_last_error());
        if (st == MLOPS_ENOTFOUND) n = 0;
        for (size_t i = 0; i < n; i++) {
            if (vs[i] <= checked) continue;
            mlops_model *mm = NULL;
            /* the native engine: the bytes are parsed and checked without building an XGBoost booster */
            mlops_model_opts mo;
            mlops_model_opts_init(&mo, MLOPS_MODEL_OPTS_VERSION);
            mo.engine = MLOPS_ENGINE_NATIVE;
            ck_assert_msg(mlops_registry_load_model(r, "m", vs[i], &mo, &mm, NULL) == MLOPS_OK, "round %d: v%u: %s",
                          round, (unsigned)vs[i], mlops_last_error());
            mlops_model_free(mm);
            checked = vs[i];
        }
        n_versions = n;
        mlops_registry_free(r);
    }
    ck_assert_int_eq(mlops_registry_create(reg_dir, NULL, &r), MLOPS_OK);
    size_t k = 0;
    ck_assert_int_eq(mlops_registry_gc(r, 0, &k), MLOPS_OK);
    removed += k;
    total_versions += n_versions;
    char *report = NULL;
    ck_assert_int_eq(mlops_registry_verify(r, NULL, &report), MLOPS_OK);
    ck_assert_msg(strstr(report, "\"problems\":[]") && strstr(report, "\"orphans\":[]"), "%s", report);
    mlops_free(report);
    mlops_registry_free(r);
    printf("crash: registry: %d rounds, %d killed mid-run, %d left temporaries (all removed on open), "
           "%zu versions published and loaded, %zu orphaned files removed by gc\n",
           ROUNDS, killed, torn, total_versions, removed);
    ck_assert_int_gt(torn, 0);
    ck_assert_uint_gt(total_versions, 0);
}
END_TEST

static Suite *make_suite(void) {
    TCase *tc;
    Suite *s = test_suite_single("crash", 240, setup, teardown, &tc);
    tcase_add_test(tc, state_saves_survive_sigkill);
    tcase_add_test(tc, registry_puts_survive_sigkill);
    return s;
}

MLOPS_TEST_MAIN(make_suite)
