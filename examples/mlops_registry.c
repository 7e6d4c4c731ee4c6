/* mlops-registry: manage a model registry directory without Python.
 *
 *   mlops-registry DIR put NAME MODEL_FILE [--metadata JSON] [--create]
 *   mlops-registry DIR list [NAME]
 *   mlops-registry DIR info NAME [VERSION|ALIAS]
 *   mlops-registry DIR alias set NAME ALIAS VERSION
 *   mlops-registry DIR alias rm NAME ALIAS
 *   mlops-registry DIR verify [NAME]
 *   mlops-registry DIR gc [--min-age SECONDS]
 *   mlops-registry DIR delete NAME VERSION
 *
 * Results go to stdout (put prints the new version number, list one version
 * per line, info and verify a JSON document), errors to stderr as
 * "mlops-registry: <library message>". Exit status: 0 success, 1 verify found
 * a damaged version, 2 usage error or failed operation. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mlops.h"

static const char *prog = "mlops-registry";

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s DIR put NAME MODEL_FILE [--metadata JSON] [--create]\n"
            "       %s DIR list [NAME]\n"
            "       %s DIR info NAME [VERSION|ALIAS]          (default: latest)\n"
            "       %s DIR alias set NAME ALIAS VERSION\n"
            "       %s DIR alias rm NAME ALIAS\n"
            "       %s DIR verify [NAME]                      (exit 1 if a version is damaged)\n"
            "       %s DIR gc [--min-age SECONDS]             (default 3600: younger leftovers may\n"
            "                                                 belong to a put still running)\n"
            "       %s DIR delete NAME VERSION\n"
            "exit status: 0 success, 1 damaged versions found by verify, 2 error\n",
            prog, prog, prog, prog, prog, prog, prog, prog);
}

static int fail(void) {
    fprintf(stderr, "%s: %s\n", prog, mlops_last_error());
    return 2;
}

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    usage(stderr);
    return 2;
}

/* A version number 1..UINT32_MAX in canonical decimal, or 0. */
static uint32_t parse_version(const char *s) {
    if (!s || s[0] < '1' || s[0] > '9') return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    return (errno || *end || v > UINT32_MAX) ? 0 : (uint32_t)v;
}

/* VERSION, ALIAS or nothing (latest) -> a version number, or 0 with the error printed. */
static uint32_t resolve(mlops_registry *r, const char *name, const char *ref) {
    uint32_t v = 0;
    if (!ref) {
        if (mlops_registry_latest(r, name, &v) != MLOPS_OK) return fail(), 0;
        return v;
    }
    if (ref[0] >= '0' && ref[0] <= '9') {
        if (!(v = parse_version(ref))) return usage_error("'%s' is not a version number (1, 2, ...)", ref), 0;
        return v;
    }
    if (mlops_registry_resolve_alias(r, name, ref, &v) != MLOPS_OK) return fail(), 0;
    return v;
}

static int print_versions(mlops_registry *r, const char *name) {
    size_t n = 0;
    mlops_status st = mlops_registry_versions(r, name, NULL, 0, &n);
    if (st != MLOPS_ESHAPE) return fail();
    uint32_t *v = malloc((n + 16) * sizeof *v);
    if (!v) return fprintf(stderr, "%s: out of memory\n", prog), 2;
    if (mlops_registry_versions(r, name, v, n + 16, &n) != MLOPS_OK) {
        free(v);
        return fail();
    }
    for (size_t i = 0; i < n; i++)
        printf("%s\t%u\n", name, (unsigned)v[i]);
    free(v);
    return 0;
}

/* Every model name in DIR (directories other than dot-files), then their versions. */
static int list_all(mlops_registry *r, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno)), 2;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        uint32_t v;
        if (mlops_registry_latest(r, e->d_name, &v) != MLOPS_OK) continue; /* no versions */
        if (print_versions(r, e->d_name)) rc = 2;
    }
    closedir(d);
    return rc;
}

static int cmd_put(mlops_registry *r, int argc, char **argv) {
    const char *meta = NULL;
    int pos = 0;
    const char *name = NULL, *file = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--metadata") == 0 && i + 1 < argc)
            meta = argv[++i];
        else if (strcmp(argv[i], "--create") == 0)
            continue; /* handled at open */
        else if (argv[i][0] == '-' && argv[i][1])
            return usage_error("put: unknown option %s", argv[i]);
        else if (pos == 0)
            name = argv[i], pos++;
        else if (pos == 1)
            file = argv[i], pos++;
        else
            return usage_error("put: unexpected argument %s", argv[i]);
    }
    if (!file) return usage_error("%s", "put needs NAME and MODEL_FILE");
    uint32_t v = 0;
    if (mlops_registry_put_file(r, name, file, meta, &v) != MLOPS_OK) return fail();
    printf("%u\n", (unsigned)v);
    return 0;
}

static int cmd_info(mlops_registry *r, int argc, char **argv) {
    if (argc < 1 || argc > 2) return usage_error("%s", "info needs NAME [VERSION|ALIAS]");
    uint32_t v = resolve(r, argv[0], argc == 2 ? argv[1] : NULL);
    if (!v) return 2;
    char *json = NULL;
    if (mlops_registry_info(r, argv[0], v, &json) != MLOPS_OK) return fail();
    printf("%s\n", json);
    mlops_free(json);
    return 0;
}

static int cmd_alias(mlops_registry *r, int argc, char **argv) {
    if (argc == 4 && strcmp(argv[0], "set") == 0) {
        uint32_t v = parse_version(argv[3]);
        if (!v) return usage_error("alias set: '%s' is not a version number", argv[3]);
        return mlops_registry_set_alias(r, argv[1], argv[2], v) == MLOPS_OK ? 0 : fail();
    }
    if (argc == 3 && strcmp(argv[0], "rm") == 0)
        return mlops_registry_remove_alias(r, argv[1], argv[2]) == MLOPS_OK ? 0 : fail();
    return usage_error("%s", "alias set NAME ALIAS VERSION | alias rm NAME ALIAS");
}

static int cmd_verify(mlops_registry *r, int argc, char **argv) {
    if (argc > 1) return usage_error("%s", "verify takes at most one NAME");
    char *json = NULL;
    if (mlops_registry_verify(r, argc ? argv[0] : NULL, &json) != MLOPS_OK) return fail();
    printf("%s\n", json);
    /* the report's "problems" array is empty exactly when it is printed as [] */
    int damaged = strstr(json, "\"problems\":[]") == NULL;
    mlops_free(json);
    if (damaged) fprintf(stderr, "%s: verify: damaged versions found (see \"problems\")\n", prog);
    return damaged ? 1 : 0;
}

static int cmd_gc(mlops_registry *r, int argc, char **argv) {
    unsigned long age = 3600;
    if (argc == 2 && strcmp(argv[0], "--min-age") == 0) {
        char *end;
        errno = 0;
        age = strtoul(argv[1], &end, 10);
        if (errno || *end || !argv[1][0] || argv[1][0] == '-' || age > UINT32_MAX)
            return usage_error("gc: --min-age needs a number of seconds, not '%s'", argv[1]);
    } else if (argc != 0) {
        return usage_error("%s", "gc [--min-age SECONDS]");
    }
    size_t removed = 0;
    if (mlops_registry_gc(r, (unsigned)age, &removed) != MLOPS_OK) return fail();
    printf("removed %zu file%s\n", removed, removed == 1 ? "" : "s");
    return 0;
}

static int cmd_delete(mlops_registry *r, int argc, char **argv) {
    if (argc != 2) return usage_error("%s", "delete needs NAME VERSION");
    uint32_t v = parse_version(argv[1]);
    if (!v) return usage_error("delete: '%s' is not a version number", argv[1]);
    return mlops_registry_delete(r, argv[0], v) == MLOPS_OK ? 0 : fail();
}

int main(int argc, char **argv) {
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc < 3) {
        usage(stderr);
        return 2;
    }
    const char *dir = argv[1], *cmd = argv[2];
    int create = 0;
    if (strcmp(cmd, "put") == 0)
        for (int i = 3; i < argc; i++)
            create |= strcmp(argv[i], "--create") == 0;
    mlops_registry_opts o = MLOPS_REGISTRY_OPTS_INIT;
    o.create = create;
    mlops_registry *r = NULL;
    if (mlops_registry_create(dir, &o, &r) != MLOPS_OK) return fail();
    int rest = argc - 3;
    char **args = argv + 3;
    int rc;
    if (strcmp(cmd, "put") == 0)
        rc = cmd_put(r, rest, args);
    else if (strcmp(cmd, "list") == 0)
        rc = rest == 0 ? list_all(r, dir) : rest == 1 ? print_versions(r, args[0]) : usage_error("%s", "list [NAME]");
    else if (strcmp(cmd, "info") == 0)
        rc = cmd_info(r, rest, args);
    else if (strcmp(cmd, "alias") == 0)
        rc = cmd_alias(r, rest, args);
    else if (strcmp(cmd, "verify") == 0)
        rc = cmd_verify(r, rest, args);
    else if (strcmp(cmd, "gc") == 0)
        rc = cmd_gc(r, rest, args);
    else if (strcmp(cmd, "delete") == 0)
        rc = cmd_delete(r, rest, args);
    else
        rc = usage_error("unknown command '%s'", cmd);
    mlops_registry_free(r);
    return rc;
}
