/* Internal helpers shared by every module. Never installed, never exported. */
#ifndef MLOPS_INTERNAL_H
#define MLOPS_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mlops/common.h"

#if defined(__GNUC__)
#define MLOPS__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MLOPS__PRINTF(a, b)
#endif

/* Record a failure for mlops_last_error() on this thread and return `status`. */
mlops_status mlops__fail(mlops_status status, const char *fmt, ...) MLOPS__PRINTF(2, 3);
mlops_status mlops__vfail(mlops_status status, const char *fmt, va_list ap);

/* Send a diagnostic to the user's log callback, if any. */
void mlops__log(mlops_log_level level, const char *fmt, ...) MLOPS__PRINTF(2, 3);
int mlops__log_enabled(mlops_log_level level);

/* The library's allocator (see mlops_set_allocator). */
void *mlops__malloc(size_t size);
void *mlops__calloc(size_t n, size_t size); /* zeroed; checks n * size for overflow */
void *mlops__realloc(void *ptr, size_t size);
void mlops__free(void *ptr);
char *mlops__strdup(const char *s);

/* Read a whole file into a fresh buffer (NUL-terminated for convenience;
 * *len excludes the NUL). Fails with EIO and a message naming the path. */
mlops_status mlops__read_file(const char *path, size_t max_len, char **data, size_t *len);

/* Replace `path` atomically with `data`: write a temporary file beside it,
 * fsync it, rename it over `path`, fsync the directory. A crash at any moment
 * leaves either the old file or the new one. */
mlops_status mlops__write_file_atomic(const char *path, const void *data, size_t len);

/* 64-bit FNV-1a of `n` bytes: the checksum of state files. It catches accidental
 * corruption; it is not a signature. */
uint64_t mlops__fnv1a64(const void *data, size_t n);

/* Bounds-checked reader over bytes (state files). A read past the end yields
 * zeros and sets `short_read`, and so does every read after it, so a parser
 * checks once where it matters instead of after every field. */
typedef struct mlops__reader {
    const unsigned char *p;
    size_t len, off;
    int short_read;
} mlops__reader;

void mlops__read_bytes(mlops__reader *r, void *dst, size_t n);
uint32_t mlops__read_u32(mlops__reader *r);
uint64_t mlops__read_u64(mlops__reader *r);
double mlops__read_f64(mlops__reader *r);

#endif
