/* The registry's audit log: "<root>/.audit.jsonl", one JSON object per line,
 * appended under an exclusive flock(), written with one write() and fsync'd.
 * Each line holds "seq" (1, 2, ...) and "prev", the BLAKE2b-256 of the previous
 * line's bytes (without its newline; the first line's is that of the empty
 * string), so a line edited, removed or moved breaks the chain where it was.
 * "<root>/.audit.head" ({"lines": N, "last": digest of line N}) is rewritten
 * after each append so that removing the last lines is caught too; after a
 * crash between the two writes the log may be one line ahead of it, which
 * verify accepts. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "trust.h"

#define LOG_NAME ".audit.jsonl"
#define HEAD_NAME ".audit.head"
#define LINE_MAX_BYTES ((size_t)16 << 10)
#define LOG_MAX_BYTES ((size_t)1 << 30)
#define HEX_LEN (2 * REG_DIGEST_BYTES + 1)

static char *join(const char *root, const char *file) {
    size_t a = strlen(root), b = strlen(file);
    char *p = mlops__malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, root, a);
    p[a] = '/';
    memcpy(p + a + 1, file, b + 1);
    return p;
}

int mlops__audit_enabled(const char *root) {
    char *p = join(root, LOG_NAME);
    if (!p) return -1;
    struct stat sb;
    int on = lstat(p, &sb) == 0;
    mlops__free(p);
    return on;
}

static mlops_status open_log(const char *path, int *fd_out) {
    /* O_NONBLOCK: a FIFO planted in its place fails instead of hanging */
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd < 0) return mlops__fail(MLOPS_EIO, "registry: audit log %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return mlops__fail(MLOPS_EIO, "registry: audit log %s is not a regular file", path);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *fd_out = fd;
    return MLOPS_OK;
}

mlops_status mlops__audit_create(const char *root) {
    char *p = join(root, LOG_NAME);
    if (!p) return mlops__fail(MLOPS_ENOMEM, "registry: audit log: out of memory");
    int fd = -1;
    mlops_status st = open_log(p, &fd);
    if (!st) close(fd);
    mlops__free(p);
    return st;
}

/* The last line of the log open at `fd` (size `size`): its digest and seq. */
static mlops_status last_line(int fd, const char *path, off_t size, char hex[HEX_LEN], long long *seq) {
    *seq = 0;
    mlops__reg_digest_hex("", 0, hex);
    if (size == 0) return MLOPS_OK;
    size_t win = (size_t)size < 4 * LINE_MAX_BYTES ? (size_t)size : 4 * LINE_MAX_BYTES;
    char *buf = mlops__malloc(win + 1);
    if (!buf) return mlops__fail(MLOPS_ENOMEM, "registry: audit log: out of memory");
    mlops_status st = MLOPS_OK;
    ssize_t got = pread(fd, buf, win, size - (off_t)win);
    if (got != (ssize_t)win) {
        st = mlops__fail(MLOPS_EIO, "registry: audit log %s: short read", path);
    } else if (buf[win - 1] != '\n') {
        st = mlops__fail(MLOPS_EINTEGRITY,
                         "registry: audit log %s ends in a partial line; run 'mlops-registry audit verify'",
                         path);
    } else {
        size_t end = win - 1, start = end;
        while (start > 0 && buf[start - 1] != '\n')
            start--;
        buf[end] = '\0';
        mlops__reg_digest_hex(buf + start, end - start, hex);
        json_t *o = json_loads(buf + start, 0, NULL);
        json_t *js = json_object_get(o, "seq");
        if (!json_is_integer(js))
            st = mlops__fail(
                MLOPS_EINTEGRITY,
                "registry: audit log %s: the last line has no seq; run 'mlops-registry audit verify'", path);
        else
            *seq = json_integer_value(js);
        json_decref(o);
    }
    mlops__free(buf);
    return st;
}

time_t mlops__reg_utc_now(char when[32]) {
    time_t now = time(NULL);
    struct tm tm;
    when[0] = '\0';
    if (gmtime_r(&now, &tm)) strftime(when, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return now;
}

static json_t *make_line(long long seq, const char *actor, const char *action, json_t *fields,
                         const char *result, const char *prev) {
    char when[32];
    mlops__reg_utc_now(when);
    json_t *o = json_pack("{s:I, s:s, s:s, s:s}", "seq", (json_int_t)seq, "time", when, "actor", actor,
                          "action", action);
    if (!o) return NULL;
    const char *k;
    json_t *v;
    if (fields) json_object_foreach(fields, k, v) {
            if (!json_object_get(o, k) && strcmp(k, "prev") != 0 && strcmp(k, "result") != 0)
                json_object_set(o, k, v);
        }
    char p[sizeof REG_DIGEST_PREFIX + HEX_LEN];
    snprintf(p, sizeof p, REG_DIGEST_PREFIX "%s", prev);
    if (json_object_set_new(o, "result", json_string(result)) != 0 ||
        json_object_set_new(o, "prev", json_string(p)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static mlops_status write_head(const char *root, long long lines, const char *hex) {
    char *p = join(root, HEAD_NAME);
    if (!p) return mlops__fail(MLOPS_ENOMEM, "registry: audit head: out of memory");
    char body[160];
    int n =
        snprintf(body, sizeof body, "{\"lines\": %lld, \"last\": \"" REG_DIGEST_PREFIX "%s\"}\n", lines, hex);
    mlops_status st = mlops__write_file_atomic(p, body, (size_t)n);
    mlops__free(p);
    return st;
}

static mlops_status append_locked(const char *root, int fd, const char *path, const char *actor,
                                  const char *action, json_t *fields, const char *result) {
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return mlops__fail(MLOPS_EIO, "registry: audit log %s: %s", path, strerror(errno));
    char prev[HEX_LEN];
    long long seq = 0;
    mlops_status st = last_line(fd, path, sb.st_size, prev, &seq);
    if (st) return st;
    json_t *o = make_line(seq + 1, actor, action, fields, result, prev);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) return mlops__fail(MLOPS_ENOMEM, "registry: audit log: out of memory");
    size_t len = strlen(text);
    if (len >= LINE_MAX_BYTES) {
        free(text);
        return mlops__fail(MLOPS_ELIMIT, "registry: audit line of %zu bytes exceeds %zu", len,
                           LINE_MAX_BYTES);
    }
    char hex[HEX_LEN];
    mlops__reg_digest_hex(text, len, hex);
    text[len] = '\n'; /* one write: the line and its newline together */
    ssize_t w = write(fd, text, len + 1);
    free(text);
    if (w != (ssize_t)(len + 1)) {
        int e = w < 0 ? errno : ENOSPC;
        if (w > 0 && ftruncate(fd, sb.st_size) != 0) { /* best effort: no partial line */
        }
        return mlops__fail(MLOPS_EIO, "registry: audit log %s: %s", path, strerror(e));
    }
    if (fsync(fd) != 0) return mlops__fail(MLOPS_EIO, "registry: audit log %s: %s", path, strerror(errno));
    return write_head(root, seq + 1, hex);
}

mlops_status mlops__audit_append(const char *root, const char *actor, const char *action, json_t *fields,
                                 const char *result) {
    char *path = join(root, LOG_NAME);
    if (!path) return mlops__fail(MLOPS_ENOMEM, "registry: audit log: out of memory");
    int fd = -1;
    mlops_status st = open_log(path, &fd);
    if (!st) {
        while (flock(fd, LOCK_EX) != 0 && errno == EINTR) {
        }
        st = append_locked(root, fd, path, actor, action, fields, result);
        close(fd); /* releases the lock */
    }
    mlops__free(path);
    return st;
}

/* ---- verify ------------------------------------------------------------------------------------- */

static mlops_status read_head(const char *root, long long *lines, char hex[HEX_LEN]) {
    char *p = join(root, HEAD_NAME);
    if (!p) return mlops__fail(MLOPS_ENOMEM, "registry: audit head: out of memory");
    *lines = -1;
    struct stat sb;
    mlops_status st = MLOPS_OK;
    if (lstat(p, &sb) == 0) {
        char *data = NULL;
        size_t len = 0;
        st = mlops__read_file(p, 4096, &data, &len);
        json_t *o = st ? NULL : json_loadb(data, len, 0, NULL);
        const char *last = json_string_value(json_object_get(o, "last"));
        json_t *jl = json_object_get(o, "lines");
        if (!st && (!json_is_integer(jl) || !last || strlen(last) != strlen(REG_DIGEST_PREFIX) + HEX_LEN - 1))
            st = mlops__fail(MLOPS_EINTEGRITY, "registry: audit head %s is malformed", p);
        if (!st) {
            *lines = json_integer_value(jl);
            memcpy(hex, last + strlen(REG_DIGEST_PREFIX), HEX_LEN);
        }
        json_decref(o);
        mlops__free(data);
    }
    mlops__free(p);
    return st;
}

/* Line `i` (1-based) of `len` bytes at `s`; `prev` is the digest of line i-1. */
static mlops_status check_line(const char *s, size_t len, long long i, const char *prev) {
    json_error_t jerr;
    json_t *o = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *js = json_object_get(o, "seq");
    const char *p = json_string_value(json_object_get(o, "prev"));
    mlops_status st = MLOPS_OK;
    if (!json_is_object(o) || !json_is_integer(js) || !p)
        st = mlops__fail(MLOPS_EINTEGRITY, "registry: audit log line %lld is not an audit entry (edited)", i);
    else if (json_integer_value(js) != i)
        st = mlops__fail(MLOPS_EINTEGRITY,
                         "registry: audit log line %lld holds entry %lld: entries before it were removed or "
                         "reordered",
                         i, (long long)json_integer_value(js));
    else if (strlen(p) != strlen(REG_DIGEST_PREFIX) + HEX_LEN - 1 ||
             strcmp(p + strlen(REG_DIGEST_PREFIX), prev) != 0)
        st = i == 1
                 ? mlops__fail(MLOPS_EINTEGRITY, "registry: audit log line 1 was edited (bad prev)")
                 : mlops__fail(MLOPS_EINTEGRITY,
                               "registry: audit log line %lld was edited: its digest does not match the prev "
                               "of line %lld",
                               i - 1, i);
    json_decref(o);
    return st;
}

static mlops_status check_lines(const char *data, size_t len, long long *n, char last[HEX_LEN]) {
    mlops__reg_digest_hex("", 0, last);
    long long i = 0;
    for (size_t off = 0; off < len;) {
        const char *nl = memchr(data + off, '\n', len - off);
        i++;
        if (!nl)
            return mlops__fail(MLOPS_EINTEGRITY, "registry: audit log line %lld is incomplete (no newline)",
                               i);
        size_t l = (size_t)(nl - (data + off));
        mlops_status st = check_line(data + off, l, i, last);
        if (st) return st;
        mlops__reg_digest_hex(data + off, l, last);
        off += l + 1;
    }
    *n = i;
    return MLOPS_OK;
}

mlops_status mlops__audit_verify(const char *root, size_t *n_lines) {
    char *path = join(root, LOG_NAME);
    if (!path) return mlops__fail(MLOPS_ENOMEM, "registry: audit log: out of memory");
    struct stat sb;
    if (lstat(path, &sb) != 0) {
        mlops_status st = mlops__fail(MLOPS_ENOTFOUND, "registry: %s has no audit log (%s)", root, LOG_NAME);
        mlops__free(path);
        return st;
    }
    char *data = NULL;
    size_t len = 0;
    mlops_status st = mlops__read_file(path, LOG_MAX_BYTES, &data, &len);
    mlops__free(path);
    if (st) return st;
    long long n = 0, head_lines = -1;
    char last[HEX_LEN], head[HEX_LEN];
    st = check_lines(data, len, &n, last);
    if (!st) st = read_head(root, &head_lines, head);
    if (!st && head_lines > n)
        st = mlops__fail(MLOPS_EINTEGRITY,
                         "registry: audit log has %lld lines, its head records %lld: line %lld was "
                         "removed",
                         n, head_lines, n + 1);
    if (!st && head_lines == n && n > 0 && strcmp(head, last) != 0)
        st = mlops__fail(MLOPS_EINTEGRITY,
                         "registry: audit log line %lld was edited (it does not match the head)", n);
    mlops__free(data);
    if (!st && n_lines) *n_lines = (size_t)n;
    return st;
}
