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

#define MLOPS__ERROR_CAP 1024

/* A copy of the calling thread's last error. mlops_last_error() names the last *failing* call, so
 * a function that tries something which may fail without failing the call (a probe, a fallback, a
 * skipped entry) saves the message before and restores it once it knows it succeeds; it never
 * clears it (issue 22). */
typedef struct mlops__error_saved {
    char msg[MLOPS__ERROR_CAP];
} mlops__error_saved;
void mlops__error_save(mlops__error_saved *saved);
void mlops__error_restore(const mlops__error_saved *saved);

/* Record a failure for mlops_last_error() on this thread and return `status`. */
mlops_status mlops__fail(mlops_status status, const char *fmt, ...) MLOPS__PRINTF(2, 3);
mlops_status mlops__vfail(mlops_status status, const char *fmt, va_list ap);

/* The one family of error helpers. Messages read "<module>: <what>", e.g.
 * "router: find: NULL index", "schema.json: feature 2 ('plan'): ...". */

/* Fail with `status` and `prefix` followed by the formatted message: for code
 * that names the same place in every error (a parser's "<file>: feature 3: "). */
mlops_status mlops__fail_at(mlops_status status, const char *prefix, const char *fmt, ...) MLOPS__PRINTF(3, 4);

/* Return `status` with a formatted message from the calling function when `cond` holds. */
#define MLOPS__FAIL_IF(cond, status, ...)                                                                    \
    do {                                                                                                     \
        if (cond) return mlops__fail((status), __VA_ARGS__);                                                 \
    } while (0)

/* Return MLOPS_EINVAL "<module>: <function>: NULL <arg>" when the pointer `arg` is NULL. */
#define MLOPS__CHECK_ARG(module, arg)                                                                        \
    MLOPS__FAIL_IF((arg) == NULL, MLOPS_EINVAL, "%s: %s: NULL %s", (module), __func__, #arg)

/* Return MLOPS_EINVAL "<module>: <function>: NULL or empty <arg>" when the C string `arg` is NULL or "". */
#define MLOPS__CHECK_STR(module, arg)                                                                        \
    MLOPS__FAIL_IF((arg) == NULL || (arg)[0] == '\0', MLOPS_EINVAL, "%s: %s: NULL or empty %s", (module),    \
                   __func__, #arg)

/* Return MLOPS_EINVAL "<module>: <function>: <ptr> is NULL but <len> is N" when the buffer `ptr` is NULL
 * and its length `len` is not 0: an empty buffer may be NULL. */
#define MLOPS__CHECK_BUF(module, ptr, len)                                                                   \
    MLOPS__FAIL_IF((ptr) == NULL && (len) != 0, MLOPS_EINVAL, "%s: %s: %s is NULL but %s is %zu", (module),  \
                   __func__, #ptr, #len, (size_t)(len))

/* Return MLOPS_EVERSION "<module>: <what> version N, this library knows M" when the caller's struct
 * version `got` is not `want` (options, or a struct the caller hands us to fill). */
#define MLOPS__CHECK_VERSION(module, what, got, want)                                                        \
    MLOPS__FAIL_IF((got) != (want), MLOPS_EVERSION, "%s: %s version %u, this library knows %u", (module),    \
                   (what), (unsigned)(got), (unsigned)(want))

/* Evaluate `expr` (an mlops_status) once; return it from the calling function when it failed. */
#define MLOPS__TRY(expr)                                                                                     \
    do {                                                                                                     \
        mlops_status mlops__try_st = (expr);                                                                 \
        if (mlops__try_st != MLOPS_OK) return mlops__try_st;                                                 \
    } while (0)

/* Send a diagnostic to the user's log callback, if any. */
void mlops__log(mlops_log_level level, const char *fmt, ...) MLOPS__PRINTF(2, 3);
int mlops__log_enabled(mlops_log_level level);

/* The library's allocator (see mlops_set_allocator). */
void *mlops__malloc(size_t size);
void *mlops__calloc(size_t n, size_t size); /* zeroed; checks n * size for overflow */
void *mlops__realloc(void *ptr, size_t size);
void mlops__free(void *ptr);
char *mlops__strdup(const char *s);
/* A copy of `s`, a string from malloc (json_dumps, open_memstream...), in the library's allocator
 * for mlops_free(); `s` is freed either way. NULL when `s` is NULL or memory runs out. */
char *mlops__strdup_take(char *s);

/* Open `path` for reading, refusing anything but a regular file (opened with
 * O_NONBLOCK first, so a FIFO cannot hang the caller) and any file larger than
 * `max_len` (ELIMIT). On success *fd_out is a blocking descriptor and
 * *size_out (may be NULL) the size. Errors name the path. */
mlops_status mlops__open_regular(const char *path, size_t max_len, int *fd_out, size_t *size_out);

/* "regular file", "FIFO", "directory"...: the kind of file for messages. */
const char *mlops__file_kind(unsigned mode);

/* Read a whole regular file (mlops__open_regular) into a fresh buffer
 * (NUL-terminated for convenience; *len excludes the NUL). Errors name the path. */
mlops_status mlops__read_file(const char *path, size_t max_len, char **data, size_t *len);

/* Write `data` to `path` safely, whatever `path` is:
 * - a regular file (or nothing yet) is replaced atomically: temporary
 *   "<path>.tmp.<pid>.<n>" beside it, fsync, rename, fsync the directory; the
 *   old file's mode is kept. A crash at any moment leaves the old or the new file.
 * - a symbolic link is kept and the file it points to is replaced (a dangling
 *   link's target is created).
 * - a character device or FIFO is written in place (/dev/stdout, a pipe); a FIFO
 *   without a reader fails at once instead of blocking. A regular file named
 *   through /dev/stdout, /dev/stderr, /dev/fd/N or /proc (stdout redirected to a
 *   file) is appended to: it is another open file's, not ours to replace.
 * - anything else (directory, socket, block device) is refused.
 * Errors (EIO) name the target, not the temporary, with the system's reason. */
mlops_status mlops__write_file_atomic(const char *path, const void *data, size_t len);

/* fsync the directory `dir`, so that a rename or creation in it is durable; best effort (a
 * directory that cannot be opened or synced is left as it is). */
void mlops__fsync_dir(const char *dir);

/* Remove our temporaries left in `dir` by writers that no longer run (a crash
 * or a kill during mlops__write_file_atomic): files named "<base>.tmp.<pid>.<n>"
 * whose <pid> is not a live process. `base` NULL matches any target. A live
 * writer's temporary is never touched. Returns the number removed; never fails. */
size_t mlops__remove_stale_temps(const char *dir, const char *base);

/* The same for the temporaries of one target file `path`. */
size_t mlops__remove_stale_temps_of(const char *path);

/* The body of every mlops_<x>_opts_init(opts, version): copy the first `size`
 * bytes of `defaults` into the caller's struct, then stamp `version` (every
 * options struct starts with `unsigned version`). `size` is the struct's size
 * in the caller's version (see mlops__opts_size): an older caller's struct is
 * a prefix of ours and must not be written past its end. NULL `opts` is a no-op. */
void mlops__opts_init(void *opts, const void *defaults, size_t size, unsigned version);

/* The whole definition of a public `void fn(type *opts, unsigned version)`: defaults from the
 * initialiser macro `init`, `current` the struct's version (MLOPS_<X>_OPTS_VERSION) and `size_v1`
 * its size in version 1 (sizeof(type) while there is only one version, else offsetof the first
 * field version 2 added). Every module's opts_init is one line of this. */
#define MLOPS__DEFINE_OPTS_INIT(fn, type, init, current, size_v1)                                            \
    void fn(type *opts, unsigned version) {                                                                  \
        static const type defaults = init;                                                                   \
        mlops__opts_init(opts, &defaults, mlops__opts_size(version, (current), (size_v1), sizeof defaults),  \
                         version);                                                                           \
    }

/* Copy the caller's options `opts` (`size` bytes; every options struct starts with `unsigned
 * version`) into `o` when their version is `current`. NULL `opts` leaves the defaults in `o`.
 * Otherwise MLOPS_EVERSION "<module>: <what> version N, this library knows M", `o` untouched. */
mlops_status mlops__opts_copy(void *o, const void *opts, size_t size, unsigned current, const char *module,
                              const char *what);

/* Size of an options struct in `version` when the library knows versions 1
 * (`size_v1` bytes) to `current` (`size_current`, with nothing in between);
 * sizeof(unsigned) for any other version, so that only the version is written
 * and the constructor refuses it with MLOPS_EVERSION. */
size_t mlops__opts_size(unsigned version, unsigned current, size_t size_v1, size_t size_current);

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
