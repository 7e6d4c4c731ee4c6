/* File helpers shared by the crash and fault-injection tests. */
#ifndef MLOPS_TEST_FILE_UTIL_H
#define MLOPS_TEST_FILE_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* nftw callback removing everything (depth first). */
static inline int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

/* The whole file (malloc'd), or NULL. */
static inline char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) *len = (size_t)n;
    return buf;
}

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
