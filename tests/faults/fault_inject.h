/* Allocation-failure injection shared by the fault tests: the library's
 * allocator hook (mlops_set_allocator) fails the k-th allocation, for every k
 * a call makes. Only allocations that go through the hook are counted:
 * XGBoost, jansson and GSL keep their own allocators (see the test files). */
#ifndef MLOPS_TEST_FAULT_INJECT_H
#define MLOPS_TEST_FAULT_INJECT_H

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "failing_alloc.h"
#include "mlops.h"

typedef mlops_status (*fi_call_fn)(void *ctx);
/* Observable state of the object a call works on, malloc'd text (taken with the hook off). */
typedef char *(*fi_snap_fn)(void *ctx);

/* Set by a test before fi_inject() for a call with best-effort allocations (a
 * shrink-to-fit realloc whose failure keeps the larger buffer): success despite
 * a failed allocation is then accepted and counted in fi_absorbed. */
static int fi_allow_ok;
static long fi_absorbed;

/* Run `call` with allocation k failing, for k = 1, 2, ... until a run makes no
 * failing allocation; that clean run must succeed. Every failed run must return
 * MLOPS_ENOMEM with a message, and leave `snap` (if given) as it was before.
 * A call that succeeds despite a failed allocation fails the test unless
 * fi_allow_ok is set. Returns the number of allocations of the clean run (0: the
 * call allocates nothing through the hook). */
static long fi_inject(const char *what, fi_call_fn call, fi_snap_fn snap, void *ctx) {
    char *before = snap ? snap(ctx) : NULL;
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
            free(before);
            return fi_n_allocs;
        }
        if (st == MLOPS_OK && fi_allow_ok) {
            fi_absorbed++;
            continue;
        }
        ck_assert_msg(st == MLOPS_ENOMEM, "%s: allocation %ld failed: status %d (%s) instead of ENOMEM: %s", what,
                      k, st, mlops_status_str(st), mlops_last_error());
        ck_assert_msg(mlops_last_error()[0] != '\0', "%s: allocation %ld: no message", what, k);
        if (snap) {
            char *after = snap(ctx);
            ck_assert_msg(strcmp(before, after) == 0, "%s: allocation %ld failed and the state changed:\n%s\n--- now:\n%s",
                          what, k, before, after);
            free(after);
        }
    }
    ck_abort_msg("%s: did not finish", what);
    return 0;
}

#endif
