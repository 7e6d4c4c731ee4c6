/* Status strings, thread-local last error, version, allocator and log hooks. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

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

void mlops__error_save(mlops__error_saved *saved) { memcpy(saved->msg, last_error, sizeof last_error); }

void mlops__error_restore(const mlops__error_saved *saved) { memcpy(last_error, saved->msg, sizeof last_error); }

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

mlops_status mlops__fail_at(mlops_status status, const char *prefix, const char *fmt, ...) {
    char what[MLOPS__ERROR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return mlops__fail(status, "%s%s", prefix, what);
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
    MLOPS__FAIL_IF(!alloc->malloc_fn || !alloc->realloc_fn || !alloc->free_fn, MLOPS_EINVAL,
                   "common: mlops_set_allocator: all three functions are required");
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

MLOPS_API mlops_status mlops_write_file(const char *path, const void *data, size_t len) {
    return mlops__write_file_atomic(path, data, len);
}

char *mlops__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = mlops__malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

char *mlops__strdup_take(char *s) {
    char *copy = s ? mlops__strdup(s) : NULL;
    free(s); /* from malloc, whatever mlops_set_allocator installed */
    return copy;
}

/* Open `path` for reading as a regular file: O_NONBLOCK so that opening a FIFO
 * cannot hang, then fstat, then blocking reads again. */
mlops_status mlops__open_regular(const char *path, size_t max_len, int *fd_out, size_t *size_out) {
    MLOPS__CHECK_ARG("common", path);
    MLOPS__CHECK_ARG("common", fd_out);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return mlops__fail(MLOPS_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return mlops__fail(MLOPS_EIO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mlops__fail(MLOPS_EIO, "%s: not a regular file (it is a %s)", path, mlops__file_kind(st.st_mode));
    }
    if ((unsigned long long)st.st_size > (unsigned long long)max_len) {
        close(fd);
        return mlops__fail(MLOPS_ELIMIT, "%s: %lld bytes is more than the limit of %zu", path,
                           (long long)st.st_size, max_len);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *fd_out = fd;
    if (size_out) *size_out = (size_t)st.st_size;
    return MLOPS_OK;
}

const char *mlops__file_kind(unsigned mode) {
    if (S_ISREG(mode)) return "regular file";
    if (S_ISDIR(mode)) return "directory";
    if (S_ISCHR(mode)) return "character device";
    if (S_ISBLK(mode)) return "block device";
    if (S_ISFIFO(mode)) return "FIFO";
    if (S_ISSOCK(mode)) return "socket";
    if (S_ISLNK(mode)) return "symbolic link";
    return "special file";
}

mlops_status mlops__read_file(const char *path, size_t max_len, char **data, size_t *len) {
    MLOPS__CHECK_ARG("common", path);
    MLOPS__CHECK_ARG("common", data);
    MLOPS__CHECK_ARG("common", len);
    int fd;
    size_t n;
    mlops_status st = mlops__open_regular(path, max_len, &fd, &n);
    if (st) return st;
    char *buf = mlops__malloc(n + 1);
    if (!buf) {
        close(fd);
        return mlops__fail(MLOPS_ENOMEM, "%s: cannot allocate %zu bytes", path, n + 1);
    }
    size_t got = 0;
    int err = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) err = errno;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got != n) {
        mlops__free(buf);
        if (err) return mlops__fail(MLOPS_EIO, "%s: %s", path, strerror(err));
        return mlops__fail(MLOPS_EIO, "%s: short read (%zu of %zu bytes; changed while reading?)", path, got, n);
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

/* Temporaries are "<target>" TMP_INFIX "<pid>.<counter>" beside the target;
 * mlops__remove_stale_temps recognises exactly this pattern. */
#define TMP_INFIX ".tmp."

static char *dir_of(const char *path) {
    char *dir = mlops__strdup(path);
    if (!dir) return NULL;
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        strcpy(dir, ".");
    return dir;
}

void mlops__fsync_dir(const char *dir) {
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

/* Follow symbolic links from `path` to the name that should be replaced, even
 * when the last link dangles (then the file it names is created). Allocated. */
static char *resolve_links(const char *path) {
    char *cur = mlops__strdup(path);
    for (int hops = 0; cur && hops < 40; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) return cur;
        char target[PATH_MAX];
        ssize_t n = readlink(cur, target, sizeof target - 1);
        if (n < 0) return cur;
        target[n] = '\0';
        char *next;
        if (target[0] == '/') {
            next = mlops__strdup(target);
        } else {
            char *dir = dir_of(cur);
            size_t need = (dir ? strlen(dir) : 0) + (size_t)n + 2;
            next = dir ? mlops__malloc(need) : NULL;
            if (next) snprintf(next, need, "%s/%s", dir, target);
            mlops__free(dir);
        }
        mlops__free(cur);
        cur = next;
        if (!cur) errno = ENOMEM;
    }
    if (cur) errno = ELOOP;
    mlops__free(cur);
    return NULL;
}

/* "/dev/stdout", "/dev/fd/3", "/proc/self/fd/1"...: names of a process's open file. */
static int is_fd_alias(const char *path) {
    return strcmp(path, "/dev/stdout") == 0 || strcmp(path, "/dev/stderr") == 0 ||
           strncmp(path, "/dev/fd/", 8) == 0 || strncmp(path, "/proc/", 6) == 0;
}

/* Character devices and FIFOs are written in place: they cannot be replaced,
 * and "/dev/stdout" or a pipe is what the caller asked for. */
static mlops_status write_in_place(const char *path, const void *data, size_t len, int is_fifo, int append) {
    /* O_NONBLOCK: a FIFO without a reader fails with ENXIO instead of hanging. */
    int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC | (is_fifo ? O_NONBLOCK : 0) | (append ? O_APPEND : 0));
    if (fd < 0) {
        int e = errno;
        return mlops__fail(MLOPS_EIO, "%s: cannot write: %s", path,
                           e == ENXIO && is_fifo ? "FIFO has no reader" : strerror(e));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    int err = write_all(fd, data, len) != 0 ? errno : 0;
    if (close(fd) != 0 && !err && errno != EINTR) err = errno;
    if (err) return mlops__fail(MLOPS_EIO, "%s: cannot write: %s", path, strerror(err));
    return MLOPS_OK;
}

/* Replace regular file (or create) `path` through a temporary beside it. */
static mlops_status replace_regular(const char *path, const void *data, size_t len, const struct stat *old) {
    size_t plen = strlen(path);
    char *tmp = mlops__malloc(plen + 48), *dir = dir_of(path); /* both before anything changes */
    if (!tmp || !dir) {
        mlops__free(tmp);
        mlops__free(dir);
        return mlops__fail(MLOPS_ENOMEM, "%s: cannot write: out of memory", path);
    }
    /* Unique per call (pid + a process-wide counter, O_EXCL), so two threads or
     * processes replacing the same file never write into one temporary. */
    static atomic_uint tmp_counter = 0; /* only makes names unique */
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 16; attempt++) {
        snprintf(tmp, plen + 48, "%s" TMP_INFIX "%ld.%u", path, (long)getpid(),
                 atomic_fetch_add(&tmp_counter, 1u));
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) break;
    }
    int err = fd < 0 ? errno : 0;
    const char *step = "cannot create a temporary file beside it";
    if (!err && old && fchmod(fd, old->st_mode & 07777) != 0) err = errno, step = "cannot keep its mode";
    if (!err && write_all(fd, data, len) != 0) err = errno, step = "cannot write";
    if (!err && fsync(fd) != 0) err = errno, step = "cannot sync";
    if (fd >= 0 && close(fd) != 0 && !err) err = errno, step = "cannot write";
    if (!err && rename(tmp, path) != 0) err = errno, step = "cannot rename the temporary file over it";
    if (err && fd >= 0) unlink(tmp);
    mlops__free(tmp);
    if (!err) mlops__fsync_dir(dir); /* so the rename itself is durable */
    mlops__free(dir);
    if (err) return mlops__fail(MLOPS_EIO, "%s: %s: %s", path, step, strerror(err));
    return MLOPS_OK;
}

mlops_status mlops__write_file_atomic(const char *path, const void *data, size_t len) {
    MLOPS__CHECK_STR("common", path);
    MLOPS__CHECK_BUF("common", data, len);
    struct stat st;
    /* stat follows links: "/dev/stdout" -> /proc/self/fd/1 -> a pipe or terminal. */
    if (stat(path, &st) == 0) {
        if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))
            return write_in_place(path, data, len, S_ISFIFO(st.st_mode), 0);
        /* "/dev/stdout" redirected to a file: another process's open file, reached through
         * /proc; replacing it would cut it off from its writer. Appended to, like stdout. */
        if (S_ISREG(st.st_mode) && is_fd_alias(path)) return write_in_place(path, data, len, 0, 1);
        if (!S_ISREG(st.st_mode))
            return mlops__fail(MLOPS_EIO, "%s: refusing to write: it is a %s, not a regular file", path,
                               mlops__file_kind(st.st_mode));
    } else if (errno != ENOENT) {
        return mlops__fail(MLOPS_EIO, "%s: cannot write: %s", path, strerror(errno));
    }
    /* A symlink is kept: the file it points to is replaced. */
    char *real = resolve_links(path);
    if (!real && errno == ELOOP) return mlops__fail(MLOPS_EIO, "%s: cannot write: %s", path, strerror(ELOOP));
    if (!real) return mlops__fail(MLOPS_ENOMEM, "%s: cannot write: out of memory", path);
    mlops_status s = replace_regular(real, data, len, stat(real, &st) == 0 && S_ISREG(st.st_mode) ? &st : NULL);
    if (s && strcmp(real, path) != 0) s = mlops__fail(s, "%s (through symlink %s)", last_error, path);
    mlops__free(real);
    return s;
}

/* "<base>.tmp.<pid>.<n>": our temporary of target <base>; returns the pid or 0. */
static long temp_owner(const char *name, const char *base) {
    size_t bl = strlen(base), il = strlen(TMP_INFIX);
    if (strncmp(name, base, bl) != 0 || strncmp(name + bl, TMP_INFIX, il) != 0) return 0;
    const char *p = name + bl + il;
    char *end;
    errno = 0;
    long pid = strtol(p, &end, 10);
    if (errno || end == p || *end != '.' || pid <= 0 || !isdigit((unsigned char)end[1])) return 0;
    for (p = end + 1; *p; p++)
        if (!isdigit((unsigned char)*p)) return 0;
    return pid;
}

size_t mlops__remove_stale_temps(const char *dir, const char *base) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t removed = 0;
    int dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long pid = 0;
        if (base) {
            pid = temp_owner(e->d_name, base);
        } else {
            /* any target: find the last TMP_INFIX whose tail is "<pid>.<n>" */
            for (const char *p = strstr(e->d_name, TMP_INFIX); p && !pid; p = strstr(p + 1, TMP_INFIX)) {
                char prefix[NAME_MAX + 1];
                size_t bl = (size_t)(p - e->d_name);
                if (bl == 0 || bl > NAME_MAX) continue;
                memcpy(prefix, e->d_name, bl);
                prefix[bl] = '\0';
                pid = temp_owner(e->d_name, prefix);
            }
        }
        /* A live writer's temporary is left alone: only a dead owner's is stale. */
        if (pid <= 0 || (kill((pid_t)pid, 0) == 0 || errno == EPERM)) continue;
        if (unlinkat(dfd, e->d_name, 0) == 0) removed++;
    }
    closedir(d);
    return removed;
}

size_t mlops__remove_stale_temps_of(const char *path) {
    char *dir = dir_of(path);
    if (!dir) return 0;
    const char *slash = strrchr(path, '/');
    size_t n = mlops__remove_stale_temps(dir, slash ? slash + 1 : path);
    mlops__free(dir);
    return n;
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

void mlops__opts_init(void *opts, const void *defaults, size_t size, unsigned version) {
    if (!opts) return;
    memcpy(opts, defaults, size);
    memcpy(opts, &version, sizeof version);
}

mlops_status mlops__opts_copy(void *o, const void *opts, size_t size, unsigned current, const char *module,
                              const char *what) {
    if (!opts) return MLOPS_OK;
    unsigned version;
    memcpy(&version, opts, sizeof version);
    MLOPS__CHECK_VERSION(module, what, version, current);
    memcpy(o, opts, size);
    return MLOPS_OK;
}

size_t mlops__opts_size(unsigned version, unsigned current, size_t size_v1, size_t size_current) {
    if (version == current) return size_current;
    if (version == 1u) return size_v1;
    return sizeof(unsigned);
}
