/* Shared by the file-format harnesses: the parsers under test read files, so
 * each input is written to one scratch file (in /dev/shm when it exists) first. */
#ifndef MLOPS_FUZZ_UTIL_H
#define MLOPS_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A per-process scratch directory, made once. */
static inline const char *fuzz_dir(void) {
    static char dir[64];
    if (!dir[0]) {
        struct stat st;
        snprintf(dir, sizeof dir, "%s/mlops-fuzz-XXXXXX", stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp");
        if (!mkdtemp(dir)) abort();
    }
    return dir;
}

/* Write the input to `path` (replacing it); aborts on I/O failure, which is not a finding. */
static inline void fuzz_write(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
}

#endif
