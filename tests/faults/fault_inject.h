/* Allocation-failure injection shared by the fault tests (tests/faults/test_faults_api.c,
 * tests/registry/test_faults.c): the library's allocator hook (mlops_set_allocator) fails the
 * k-th allocation, for every k a call makes. Only allocations that go through the hook are
 * counted: XGBoost, jansson and GSL keep their own allocators (see the test files). The functions
 * are static inline so that a test using only some of them builds without warnings. */
#ifndef MLOPS_TEST_FAULT_INJECT_H
#define MLOPS_TEST_FAULT_INJECT_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "failing_alloc.h"
#include "mlops.h"

typedef mlops_status (*fi_call_fn)(void *ctx);
/* Checks that a failed allocation changed nothing: k > 0 when the call failed at allocation k,
 * k < 0 when it succeeded despite allocation -k failing (allowed runs only). */
typedef void (*fi_check_fn)(void *ctx, long k);
/* Observable state of the object a call works on, malloc'd text (taken with the hook off). */
typedef char *(*fi_snap_fn)(void *ctx);

/* Runs that succeeded despite a failed allocation (allowed ones), over the whole program. */
static long fi_absorbed;

/* Run `call(ctx)` with allocation k failing, for k = 1, 2, ... until a run makes no failing
 * allocation; that clean run must succeed. Every failed run must return MLOPS_ENOMEM with a
 * message, then `check(check_ctx, k)` (if given) sees that nothing changed. A run that succeeds
 * despite a failed allocation (best-effort work: a shrink-to-fit realloc, removing stale
 * temporaries) fails the test unless `allow_ok`; allowed, it is counted in fi_absorbed and checked
 * with -k. Returns the number of allocations of the clean run (0: none through the hook). */
static inline long fi_run(const char *what, fi_call_fn call, void *ctx, fi_check_fn check, void *check_ctx,
                          int allow_ok) {
    for (long k = 1; k < 100000; k++) {
        fi_fail_at = k;
        fi_n_allocs = 0;
        fi_failed = 0;
        ck_assert_int_eq(mlops_set_allocator(&fi_failing), MLOPS_OK);
        mlops_clear_error();
        mlops_status st = call(ctx);
        mlops_set_allocator(NULL);
        if (!fi_failed) {
            ck_assert_msg(st == MLOPS_OK, "%s: clean run failed: %s", what, mlops_last_error());
            return fi_n_allocs;
        }
        if (st == MLOPS_OK && allow_ok) {
            fi_absorbed++;
            if (check) check(check_ctx, -k);
            continue;
        }
        ck_assert_msg(st == MLOPS_ENOMEM, "%s: allocation %ld failed: status %d (%s) instead of ENOMEM: %s", what,
                      k, st, mlops_status_str(st), mlops_last_error());
        ck_assert_msg(mlops_last_error()[0] != '\0', "%s: allocation %ld: no message", what, k);
        if (check) check(check_ctx, k);
    }
    ck_abort_msg("%s: did not finish", what);
    return 0;
}

/* Set by a test before fi_inject() for a call with best-effort allocations: see fi_run. */
static int fi_allow_ok;

typedef struct fi_snapshot {
    const char *what;
    fi_snap_fn snap;
    void *ctx;
    char *before;
} fi_snapshot;

/* fi_check_fn of fi_inject: a failed run left the snapshot as it was (a successful one changed it). */
static inline void fi_same_snapshot(void *p, long k) {
    const fi_snapshot *s = p;
    if (k < 0) return;
    char *after = s->snap(s->ctx);
    ck_assert_msg(strcmp(s->before, after) == 0, "%s: allocation %ld failed and the state changed:\n%s\n--- now:\n%s",
                  s->what, k, s->before, after);
    free(after);
}

/* fi_run() whose check compares `snap` (if given) before and after each failed run, allowing
 * success when fi_allow_ok is set. */
static inline long fi_inject(const char *what, fi_call_fn call, fi_snap_fn snap, void *ctx) {
    fi_snapshot s = {what, snap, ctx, snap ? snap(ctx) : NULL};
    long n = fi_run(what, call, ctx, snap ? fi_same_snapshot : NULL, &s, fi_allow_ok);
    free(s.before);
    return n;
}

#endif
