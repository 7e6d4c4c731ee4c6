/* Status strings, thread-local last error, version, allocator and log hooks. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define MLOPS__ERROR_CAP 1024

/* Per-thread last error, as the API promises; never shared. */
static _Thread_local char last_error[MLOPS__ERROR_CAP];

MLOPS_API const char *mlops_status_str(mlops_status status) {
    switch (status) {
#define MLOPS_X_CASE(name, value, text)                                                                      \
    case name:                                                                                               \
        return text;
        MLOPS_STATUS_TABLE(MLOPS_X_CASE)
#undef MLOPS_X_CASE
    }
    return "unknown status";
}

MLOPS_API const char *mlops_last_error(void) { return last_error; }

MLOPS_API void mlops_clear_error(void) { last_error[0] = '\0'; }

mlops_status mlops__vfail(mlops_status status, const char *fmt, va_list ap) {
    char buf[MLOPS__ERROR_CAP];
    /* Format into a copy first: fmt's arguments may point into last_error. */
    vsnprintf(buf, sizeof buf, fmt, ap);
    memcpy(last_error, buf, sizeof buf);
    if (mlops__log_enabled(MLOPS_LOG_DEBUG))
        mlops__log(MLOPS_LOG_DEBUG, "%s: %s", mlops_status_str(status), buf);
    return status;
}

mlops_status mlops__fail(mlops_status status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mlops__vfail(status, fmt, ap);
    va_end(ap);
    return status;
}

MLOPS_API const char *mlops_version_string(void) { return MLOPS_VERSION_STRING; }

MLOPS_API unsigned mlops_version_number(void) { return MLOPS_VERSION_NUMBER; }

/* Process-wide log sink: logging is process-wide by nature (like a syslog
 * handle). The {fn, user} pair is replaced whole under sink_mu and copied whole
 * under it, so a message never pairs one callback's function with another's
 * pointer; the callback itself runs with no lock held, so it may call anything
 * (including mlops_set_log_callback). min_level is also kept in an atomic so
 * the level check on every failure takes no lock. */
typedef struct log_sink {
    mlops_log_fn fn;
    void *user;
} log_sink;

#define LOG_OFF (MLOPS_LOG_ERROR + 1)

static pthread_mutex_t sink_mu = PTHREAD_MUTEX_INITIALIZER;
static log_sink sink;                   /* under sink_mu */
static atomic_int sink_level = LOG_OFF; /* LOG_OFF: no callback */
static _Thread_local int delivering;    /* this thread is inside the callback */

MLOPS_API void mlops_set_log_callback(mlops_log_fn fn, void *user, mlops_log_level min_level) {
    pthread_mutex_lock(&sink_mu);
    sink.fn = fn;
    sink.user = user;
    atomic_store(&sink_level, fn ? (int)min_level : LOG_OFF);
    pthread_mutex_unlock(&sink_mu);
}

int mlops__log_enabled(mlops_log_level level) {
    return !delivering && (int)level >= atomic_load_explicit(&sink_level, memory_order_relaxed);
}

void mlops__log(mlops_log_level level, const char *fmt, ...) {
    if (!mlops__log_enabled(level)) return;
    char buf[MLOPS__ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&sink_mu);
    log_sink s = sink;
    int on = s.fn != NULL && (int)level >= atomic_load(&sink_level);
    pthread_mutex_unlock(&sink_mu);
    if (!on) return;
    /* Messages raised by library calls the callback makes are not delivered: no recursion. */
    delivering = 1;
    s.fn(level, buf, s.user);
    delivering = 0;
}

/* Process-wide allocator: set once at startup, before any object exists
 * (documented in common.h), so plain reads afterwards are safe. */
static mlops_allocator allocator = {malloc, realloc, free};

MLOPS_API mlops_status mlops_set_allocator(const mlops_allocator *alloc) {
    if (alloc == NULL) {
        allocator = (mlops_allocator){malloc, realloc, free};
        return MLOPS_OK;
    }
    if (!alloc->malloc_fn || !alloc->realloc_fn || !alloc->free_fn)
        return mlops__fail(MLOPS_EINVAL, "mlops_set_allocator: all three functions are required");
    allocator = *alloc;
    return MLOPS_OK;
}

void *mlops__malloc(size_t size) { return allocator.malloc_fn(size ? size : 1); }

void *mlops__calloc(size_t n, size_t size) {
    if (size != 0 && n > SIZE_MAX / size) return NULL;
    size_t total = n * size;
    void *p = allocator.malloc_fn(total ? total : 1);
    if (p) memset(p, 0, total);
    return p;
}

void *mlops__realloc(void *ptr, size_t size) { return allocator.realloc_fn(ptr, size ? size : 1); }

void mlops__free(void *ptr) {
    if (ptr) allocator.free_fn(ptr);
}

MLOPS_API void mlops_free(void *ptr) { mlops__free(ptr); }

char *mlops__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = mlops__malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

mlops_status mlops__read_file(const char *path, size_t max_len, char **data, size_t *len) {
    if (!path || !data || !len) return mlops__fail(MLOPS_EINVAL, "read_file: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return mlops__fail(MLOPS_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return mlops__fail(MLOPS_EIO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > (unsigned long long)max_len) {
        fclose(f);
        return mlops__fail(MLOPS_ELIMIT, "%s: %lld bytes is more than the limit of %zu", path,
                           (long long)st.st_size, max_len);
    }
    size_t n = (size_t)st.st_size;
    char *buf = mlops__malloc(n + 1);
    if (!buf) {
        fclose(f);
        return mlops__fail(MLOPS_ENOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (err || got != n) {
        mlops__free(buf);
        return mlops__fail(MLOPS_EIO, "%s: short read (%zu of %zu bytes)", path, got, n);
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return MLOPS_OK;
}

static int write_all(int fd, const char *p, size_t len) {
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

mlops_status mlops__write_file_atomic(const char *path, const void *data, size_t len) {
    if (!path || (!data && len)) return mlops__fail(MLOPS_EINVAL, "write_file: NULL argument");
    size_t plen = strlen(path);
    char *tmp = mlops__malloc(plen + 48);
    if (!tmp) return mlops__fail(MLOPS_ENOMEM, "%s: out of memory", path);
    /* A temporary beside the target, unique per call (pid + a process-wide counter,
     * created with O_EXCL), so two threads or processes replacing the same file
     * never write into one temporary. Mode 0644 less the caller's umask. */
    static atomic_uint tmp_counter = 0; /* only makes names unique */
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 16; attempt++) {
        snprintf(tmp, plen + 48, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&tmp_counter, 1u));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        mlops_status st = mlops__fail(MLOPS_EIO, "%s: %s", tmp, strerror(errno));
        mlops__free(tmp);
        return st;
    }
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        mlops_status st = mlops__fail(MLOPS_EIO, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        mlops__free(tmp);
        return st;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        mlops_status st = mlops__fail(MLOPS_EIO, "%s: rename failed: %s", path, strerror(errno));
        unlink(tmp);
        mlops__free(tmp);
        return st;
    }
    mlops__free(tmp);
    /* fsync the directory so the rename itself is durable. */
    char *dir = mlops__strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        if (slash == dir)
            slash[1] = '\0';
        else if (slash)
            *slash = '\0';
        else
            strcpy(dir, ".");
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        mlops__free(dir);
    }
    return MLOPS_OK;
}

uint64_t mlops__fnv1a64(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 14695981039346656037ull; /* the FNV-1a 64 offset basis */
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

void mlops__read_bytes(mlops__reader *r, void *dst, size_t n) {
    if (r->short_read || r->len - r->off < n) {
        r->short_read = 1;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, r->p + r->off, n);
    r->off += n;
}

uint32_t mlops__read_u32(mlops__reader *r) {
    uint32_t v;
    mlops__read_bytes(r, &v, sizeof v);
    return v;
}

uint64_t mlops__read_u64(mlops__reader *r) {
    uint64_t v;
    mlops__read_bytes(r, &v, sizeof v);
    return v;
}

double mlops__read_f64(mlops__reader *r) {
    double v;
    mlops__read_bytes(r, &v, sizeof v);
    return v;
}
