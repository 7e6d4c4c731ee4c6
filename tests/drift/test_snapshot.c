/* Drift window snapshots in C (the values are checked against SciPy in
 * tests/python/test_snapshot.py and tests/fleet): what merging, refusing and
 * parsing do to memory and state, run under ASan and valgrind with the unit suite (linked into
 * test_drift, which adds drift_snapshot_tcase() to its suite). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlops/drift.h"

static const char *const NAMES[] = {"x", "c"};
static const mlops_feature_kind KINDS[] = {MLOPS_FEATURE_NUMERIC, MLOPS_FEATURE_CATEGORICAL};

/* A detector over a fixed reference (shifted by `ref_shift`), with `rows` window rows from `seed`. */
static mlops_drift *detector(double ref_shift, size_t rows, unsigned seed) {
    double ref[2 * 60], cur[2 * 80];
    for (int i = 0; i < 60; i++) {
        ref[2 * i] = (double)((i * 37) % 23) / 4.0 + ref_shift;
        ref[2 * i + 1] = (double)(i % 4);
    }
    for (size_t i = 0; i < rows; i++) {
        cur[2 * i] = (double)((i * 13 + seed) % 29) / 4.0;
        cur[2 * i + 1] = (double)((i + seed) % 5);
    }
    cur[0] = NAN; /* a missing value */
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    o.window = 50;
    mlops_drift *d = NULL;
    ck_assert_int_eq(mlops_drift_create(2, (const char *const *)NAMES, KINDS, &o, &d), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_set_reference(d, ref, 60, 2), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_update(d, cur, rows, 2), MLOPS_OK);
    return d;
}

static mlops_drift_snapshot *snap_of(mlops_drift *d) {
    mlops_drift_snapshot *s = NULL;
    ck_assert_int_eq(mlops_drift_snapshot_create(d, &s), MLOPS_OK);
    return s;
}

static char *json_of(const mlops_drift_snapshot *s) {
    char *j = NULL;
    ck_assert_int_eq(mlops_drift_snapshot_report_json(s, &j), MLOPS_OK);
    return j;
}

START_TEST(merge_adds_windows_and_refuses_other_references) {
    mlops_drift *a = detector(0, 80, 1), *b = detector(0, 30, 7), *c = detector(0.5, 30, 7);
    mlops_drift_snapshot *sa = snap_of(a), *sb = snap_of(b), *sc = snap_of(c);
    mlops_drift_summary before, after;
    mlops_drift_feature_result r[2];
    ck_assert_int_eq(mlops_drift_snapshot_report(sa, r, 2, &before), MLOPS_OK);
    ck_assert_uint_eq(before.n_rows, 50); /* the window holds 50 of the 80 rows */
    ck_assert_uint_eq(r[0].n_missing, 0); /* the NaN row left the window */
    char *j0 = json_of(sa);
    ck_assert_int_eq(mlops_drift_snapshot_merge(sa, sc), MLOPS_EINVAL);
    ck_assert_ptr_nonnull(strstr(mlops_last_error(), "different references"));
    char *j1 = json_of(sa);
    ck_assert_str_eq(j0, j1); /* refused: unchanged */
    ck_assert_int_eq(mlops_drift_snapshot_merge(sa, sb), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_snapshot_merge(sa, sa), MLOPS_EINVAL);
    ck_assert_int_eq(mlops_drift_snapshot_report(sa, r, 2, &after), MLOPS_OK);
    ck_assert_uint_eq(after.n_rows, 80);
    ck_assert_uint_eq(r[0].n_current + r[0].n_missing, 80);
    ck_assert_uint_eq(r[0].n_missing, 1);
    ck_assert_uint_eq(after.n_seen, 110);
    ck_assert_int_eq(mlops_drift_snapshot_report(sa, r, 1, NULL), MLOPS_ESHAPE);
    ck_assert_str_eq(mlops_drift_snapshot_feature_name(sa, 1), "c");
    ck_assert_ptr_null(mlops_drift_snapshot_feature_name(sa, 2));
    mlops_free(j0);
    mlops_free(j1);
    mlops_drift_snapshot_free(sa);
    mlops_drift_snapshot_free(sb);
    mlops_drift_snapshot_free(sc);
    mlops_drift_free(a);
    mlops_drift_free(b);
    mlops_drift_free(c);
}
END_TEST

START_TEST(buffers_round_trip_and_every_truncation_or_flip_is_refused) {
    mlops_drift *d = detector(0, 40, 3);
    mlops_drift_snapshot *s = snap_of(d), *t = NULL;
    void *buf = NULL;
    size_t len = 0;
    ck_assert_int_eq(mlops_drift_snapshot_save_buffer(s, &buf, &len), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_snapshot_load_buffer(buf, len, &t), MLOPS_OK);
    char *a = json_of(s), *b = json_of(t);
    ck_assert_str_eq(a, b);
    uint64_t da, db;
    ck_assert_int_eq(mlops_drift_snapshot_get_digest(s, &da), MLOPS_OK);
    ck_assert_int_eq(mlops_drift_snapshot_get_digest(t, &db), MLOPS_OK);
    ck_assert_uint_eq(da, db);
    unsigned char *copy = malloc(len);
    for (size_t n = 0; n < len; n++) {
        mlops_drift_snapshot *u = (mlops_drift_snapshot *)&u;
        ck_assert_int_ne(mlops_drift_snapshot_load_buffer(buf, n, &u), MLOPS_OK);
        ck_assert_ptr_eq(u, (mlops_drift_snapshot *)&u); /* untouched on failure */
        memcpy(copy, buf, len);
        copy[n] ^= 0x10;
        ck_assert_int_ne(mlops_drift_snapshot_load_buffer(copy, len, &u), MLOPS_OK);
    }
    ck_assert_int_eq(mlops_drift_snapshot_load_buffer(NULL, 0, &t), MLOPS_EINVAL);
    free(copy);
    mlops_free(a);
    mlops_free(b);
    mlops_free(buf);
    mlops_drift_snapshot_free(s);
    mlops_drift_snapshot_free(t);
    mlops_drift_free(d);
}
END_TEST

START_TEST(no_snapshot_before_the_reference) {
    mlops_drift_opts o = MLOPS_DRIFT_OPTS_INIT;
    o.reference_size = 10;
    mlops_drift *d = NULL;
    ck_assert_int_eq(mlops_drift_create(1, NULL, NULL, &o, &d), MLOPS_OK);
    mlops_drift_snapshot *s = (mlops_drift_snapshot *)&s;
    ck_assert_int_eq(mlops_drift_snapshot_create(d, &s), MLOPS_ESTATE);
    ck_assert_ptr_eq(s, (mlops_drift_snapshot *)&s);
    ck_assert_int_eq(mlops_drift_snapshot_create(NULL, &s), MLOPS_EINVAL);
    mlops_drift_snapshot_free(NULL);
    mlops_drift_free(d);
}
END_TEST

/* The snapshot tests, run by test_drift.c's suite. */
TCase *drift_snapshot_tcase(void);
TCase *drift_snapshot_tcase(void) {
    TCase *tc = tcase_create("snapshot");
    tcase_add_test(tc, merge_adds_windows_and_refuses_other_references);
    tcase_add_test(tc, buffers_round_trip_and_every_truncation_or_flip_is_refused);
    tcase_add_test(tc, no_snapshot_before_the_reference);
    return tc;
}
