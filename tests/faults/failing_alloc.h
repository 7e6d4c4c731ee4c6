/* The failing allocator of the fault tests (tests/faults/fault_inject.h, tests/registry/test_faults.c):
 * installed with mlops_set_allocator(&fi_failing), it fails allocation number fi_fail_at (1-based;
 * 0: never) of those made since fi_n_allocs was reset, and sets fi_failed when it did. */
#ifndef MLOPS_TEST_FAILING_ALLOC_H
#define MLOPS_TEST_FAILING_ALLOC_H

#include <stdlib.h>

#include "mlops.h"

static long fi_fail_at, fi_n_allocs;
static int fi_failed;

static void *fi_malloc(size_t n) {
    if (++fi_n_allocs == fi_fail_at) {
        fi_failed = 1;
        return NULL;
    }
    return malloc(n);
}

static void *fi_realloc(void *p, size_t n) {
    if (++fi_n_allocs == fi_fail_at) {
        fi_failed = 1;
        return NULL;
    }
    return realloc(p, n);
}

static const mlops_allocator fi_failing = {fi_malloc, fi_realloc, free};

#endif
