/* File helpers shared by the crash and fault-injection tests (reading files and temporary
 * directories: tests/common/harness.h). */
#ifndef MLOPS_TEST_FILE_UTIL_H
#define MLOPS_TEST_FILE_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Our temporaries ("*.tmp.*") anywhere below `root`. */
static size_t n_temps;
static inline int count_tmp(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag;
    if (strstr(p + ftw->base, ".tmp.")) n_temps++;
    return 0;
}

static inline size_t temps_below(const char *root) {
    n_temps = 0;
    nftw(root, count_tmp, 16, FTW_PHYS);
    return n_temps;
}

#endif
