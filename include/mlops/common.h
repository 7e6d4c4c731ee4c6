/**
 * @file mlops/common.h
 * @brief Status codes, thread-local last error, version, allocator and log hooks.
 *
 * Thread safety: every function here is safe to call from any thread, except
 * mlops_set_allocator(), which must be called before any other libmlops call.
 */
#ifndef MLOPS_COMMON_H
#define MLOPS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "mlops/version.h"

/**
 * @def MLOPS_API
 * Marks a declaration exported from libmlops. The exported set is frozen in
 * lib/libmlops.map (the linker version script).
 */
#if defined(_WIN32)
#define MLOPS_API __declspec(dllexport)
#elif defined(__GNUC__)
#define MLOPS_API __attribute__((visibility("default")))
#else
#define MLOPS_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The one table of status codes: X(name, value, description).
 * 0 is success, failures are negative. Numbers are never reused.
 */
#define MLOPS_STATUS_TABLE(X)                                                                                \
    X(MLOPS_OK, 0, "ok")                                                                                     \
    X(MLOPS_EINVAL, -1, "invalid argument")                                                                  \
    X(MLOPS_ENOMEM, -2, "out of memory")                                                                     \
    X(MLOPS_EIO, -3, "I/O error")                                                                            \
    X(MLOPS_EFORMAT, -4, "malformed input")                                                                  \
    X(MLOPS_ESHAPE, -5, "shape mismatch")                                                                    \
    X(MLOPS_ENOTSUP, -6, "not supported")                                                                    \
    X(MLOPS_EBACKEND, -7, "backend error")                                                                   \
    X(MLOPS_ERANGE, -8, "value out of range")                                                                \
    X(MLOPS_ESTATE, -9, "invalid state")                                                                     \
    X(MLOPS_ENOTFOUND, -10, "not found")                                                                     \
    X(MLOPS_EEXIST, -11, "already exists")                                                                   \
    X(MLOPS_ELIMIT, -12, "limit exceeded")                                                                   \
    X(MLOPS_EVALIDATION, -13, "validation failed")                                                           \
    X(MLOPS_EVERSION, -14, "version mismatch")                                                               \
    X(MLOPS_EINTEGRITY, -15, "integrity check failed")                                                       \
    X(MLOPS_EBUSY, -16, "re-entrant call refused")

/** Result of every call that can fail. */
typedef enum mlops_status {
/** Expands one row of MLOPS_STATUS_TABLE into an enumerator (undefined right after). */
#define MLOPS_X_ENUM(name, value, text) name = value,
    MLOPS_STATUS_TABLE(MLOPS_X_ENUM)
#undef MLOPS_X_ENUM
} mlops_status;

/** Static description of a status code ("invalid argument"); never NULL. */
MLOPS_API const char *mlops_status_str(mlops_status status);

/**
 * Message for the last failure on the calling thread, with context
 * ("model.json: expected 30 features, got 29"). Never NULL; "" when nothing
 * has failed yet. The string is owned by the library and stays valid until
 * the next failing libmlops call on the same thread.
 */
MLOPS_API const char *mlops_last_error(void);

/** Forget the calling thread's last error. */
MLOPS_API void mlops_clear_error(void);

/** Version of the library that is running (may differ from MLOPS_VERSION_STRING). */
MLOPS_API const char *mlops_version_string(void);
/** Version number of the running library, as MLOPS_VERSION_NUMBER. */
MLOPS_API unsigned mlops_version_number(void);

/** Severity of a log message. */
typedef enum mlops_log_level {
    MLOPS_LOG_DEBUG = 0,
    MLOPS_LOG_INFO = 1,
    MLOPS_LOG_WARN = 2,
    MLOPS_LOG_ERROR = 3
} mlops_log_level;

/** Receives diagnostics; `msg` is valid only during the call. */
typedef void (*mlops_log_fn)(mlops_log_level level, const char *msg, void *user);

/**
 * Route the library's diagnostics, and XGBoost's own log output, to `fn`.
 * NULL (the default) discards them: the library never prints. Messages below
 * `min_level` are dropped. Thread safety: may be called at any time, from any
 * thread, including from inside the callback. `fn` and `user` are replaced
 * together: a message reaches either the old pair or the new one, never a mix.
 * After this returns no new delivery to the old callback starts; a delivery
 * that had already started (on another thread, or the one this call is made
 * from) runs to its end, so keep the old `user` valid until such calls return.
 * Callbacks: the callback runs with no library lock held and may call any
 * function; messages raised by calls it makes on its own thread are dropped
 * (no recursion).
 */
MLOPS_API void mlops_set_log_callback(mlops_log_fn fn, void *user, mlops_log_level min_level);

/** Allocation hooks, malloc/realloc/free semantics. */
typedef struct mlops_allocator {
    void *(*malloc_fn)(size_t size);             /**< like malloc() */
    void *(*realloc_fn)(void *ptr, size_t size); /**< like realloc() */
    void (*free_fn)(void *ptr);                  /**< like free() */
} mlops_allocator;

/**
 * Use `alloc` for the library's own allocations (NULL restores the C library's).
 * XGBoost, jansson and GSL keep their own allocators. Not thread-safe: call it
 * once at startup, before any other libmlops call, and never while objects exist.
 */
MLOPS_API mlops_status mlops_set_allocator(const mlops_allocator *alloc);

/** Free memory that a libmlops function returned to the caller (strings, reports). NULL is a no-op. */
MLOPS_API void mlops_free(void *ptr);

/**
 * Write `len` bytes of `data` to `path` the way every libmlops save does, for
 * programs' own output files: a regular file (or nothing yet) is replaced
 * atomically (temporary beside it, fsync, rename; the old mode kept), a symbolic
 * link's target is replaced, a character device or FIFO (/dev/stdout, a pipe) is
 * written in place, anything else is refused (EINVAL). Errors (EIO) name `path`
 * with the system's reason. `data` may be NULL when `len` is 0. Thread-safe.
 */
MLOPS_API mlops_status mlops_write_file(const char *path, const void *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* MLOPS_COMMON_H */
