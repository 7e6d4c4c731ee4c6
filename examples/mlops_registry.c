/* mlops-registry: manage a model registry directory without Python.
 *
 *   mlops-registry [GLOBAL OPTIONS] COMMAND ...        (the registry from --registry DIR)
 *   mlops-registry DIR COMMAND ...                     (the original form, still accepted)
 *
 * Global options: --registry DIR, --trust PUB (repeatable: only versions signed
 * by these keys load), --sign KEY (put signs), --encrypt-key KEY (put encrypts,
 * loads decrypt), --actor WHO (the audit log's actor; default uid:<uid>).
 * Commands: put, list, info, alias, verify, gc, delete (as before), keygen,
 * check, lineage, audit verify; see REGISTRY_USAGE.
 *
 * Results go to stdout (put prints the new version number, list one version
 * per line, info and verify a JSON document, lineage one JSON object per
 * version from the asked one back to the first), errors to stderr as
 * "mlops-registry: <library message>". Exit status: 0 success, 1 verify found
 * a damaged version, 2 usage error or failed operation, 4 integrity failure
 * (a refused signature, digest, decryption or audit chain). Commands that
 * change the registry (put, alias, delete, gc) keep an audit log in it
 * (.audit.jsonl), created on first use. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli_opts.h"
#include "mlops.h"

static const char *prog = "mlops-registry";

/* The synopsis: every command with its own arguments (the global options are in the table of parse_globals).
 */
#define REGISTRY_USAGE                                                                                       \
    "mlops-registry [--registry DIR | DIR] [--trust PUB]... [--sign KEY] [--encrypt-key KEY] [--actor "      \
    "WHO]\n"                                                                                                 \
    "          COMMAND ...\n"                                                                                \
    "commands (DIR first, or --registry DIR before the command):\n"                                          \
    "       keygen --out NAME [--symmetric]   (NAME.key 0600 + NAME.pub, or a 32-byte key NAME)\n"           \
    "       check NAME [VERSION|ALIAS]        (load and verify; exit 4 on an integrity failure)\n"           \
    "       lineage NAME [VERSION|ALIAS]      (one JSON line per version, back to the first)\n"              \
    "       audit verify                      (exit 4 names the first bad line)\n"                           \
    "       mlops-registry DIR put NAME MODEL_FILE [--metadata JSON] [--create]\n"                           \
    "       mlops-registry DIR list [NAME]\n"                                                                \
    "       mlops-registry DIR info NAME [VERSION|ALIAS]          (default: latest)\n"                       \
    "       mlops-registry DIR alias set NAME ALIAS VERSION\n"                                               \
    "       mlops-registry DIR alias rm NAME ALIAS\n"                                                        \
    "       mlops-registry DIR verify [NAME]                      (exit 1 if a version is damaged)\n"        \
    "       mlops-registry DIR gc [--min-age SECONDS]             (default 3600: younger leftovers may\n"    \
    "                                                             belong to a put still running)\n"          \
    "       mlops-registry DIR delete NAME VERSION"

static mlops_status last_status = MLOPS_OK; /* the last failed call's status, for the exit code */

static int fail(void) {
    fprintf(stderr, "%s: %s\n", prog, mlops_last_error());
    return last_status == MLOPS_EINTEGRITY ? 4 : 2;
}

/* Run a library call's result through here to remember its status. */
static mlops_status ck(mlops_status st) {
    if (st) last_status = st;
    return st;
}

/* A command's usage error: the message, then the synopsis, on stderr; returns exit status 2. */
static int usage_error(const char *fmt, const char *arg) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, arg);
    const cli_prog p = {.name = prog, .usage = REGISTRY_USAGE};
    return cli_usage_error(&p, "%s", msg);
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
        return ck(mlops_registry_set_alias(r, argv[1], argv[2], v)) == MLOPS_OK ? 0 : fail();
    }
    if (argc == 3 && strcmp(argv[0], "rm") == 0)
        return ck(mlops_registry_remove_alias(r, argv[1], argv[2])) == MLOPS_OK ? 0 : fail();
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
    return ck(mlops_registry_delete(r, argv[0], v)) == MLOPS_OK ? 0 : fail();
}

static int cmd_keygen(int argc, char **argv) {
    const char *out = NULL;
    int symmetric = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--symmetric") == 0)
            symmetric = 1;
        else
            return usage_error("keygen: unexpected argument %s", argv[i]);
    }
    if (!out) return usage_error("%s", "keygen needs --out NAME");
    if (ck(mlops_registry_keygen(out, symmetric)) != MLOPS_OK) return fail();
    if (symmetric)
        printf("%s\n", out);
    else
        printf("%s.key\n%s.pub\n", out, out);
    return 0;
}

/* The version "<cmd> NAME [VERSION|ALIAS]" names, or 0 once reported with *rc its exit status
 * (2 usage or lookup, 4 integrity). */
static uint32_t named_version(mlops_registry *r, const char *cmd, int argc, char **argv, int *rc) {
    if (argc < 1 || argc > 2) {
        *rc = usage_error("%s needs NAME [VERSION|ALIAS]", cmd);
        return 0;
    }
    uint32_t v = resolve(r, argv[0], argc == 2 ? argv[1] : NULL);
    if (!v) *rc = last_status == MLOPS_EINTEGRITY ? 4 : 2;
    return v;
}

/* check NAME [VERSION|ALIAS]: load (signature, digest, decryption, model parse) and report. */
static int cmd_check(mlops_registry *r, int argc, char **argv) {
    int rc;
    uint32_t v = named_version(r, "check", argc, argv, &rc);
    if (!v) return rc;
    mlops_model *m = NULL;
    if (ck(mlops_registry_load_model(r, argv[0], v, NULL, &m, NULL)) != MLOPS_OK) return fail();
    mlops_model_free(m);
    printf("%s\t%u\tok\n", argv[0], (unsigned)v);
    return 0;
}

static int cmd_lineage(mlops_registry *r, int argc, char **argv) {
    int rc;
    uint32_t v = named_version(r, "lineage", argc, argv, &rc);
    if (!v) return rc;
    char *chain = NULL;
    if (ck(mlops_registry_lineage(r, argv[0], v, &chain)) != MLOPS_OK) return fail();
    /* the array [{...},{...}] as one object per line */
    int depth = 0;
    for (const char *p = chain + 1; *p && !(depth == 0 && *p == ']'); p++) {
        if (depth == 0 && *p == ',') {
            putchar('\n');
            continue;
        }
        putchar(*p);
        if (*p == '"') { /* copy a string verbatim: brackets inside it do not count */
            for (p++; *p && *p != '"'; p++) {
                putchar(*p);
                if (*p == '\\' && p[1]) putchar(*++p);
            }
            if (*p) putchar('"');
        } else if (*p == '{' || *p == '[') {
            depth++;
        } else if (*p == '}' || *p == ']') {
            depth--;
        }
    }
    putchar('\n');
    mlops_free(chain);
    return 0;
}

static int cmd_audit(mlops_registry *r, int argc, char **argv) {
    if (argc != 1 || strcmp(argv[0], "verify") != 0) return usage_error("%s", "audit verify");
    size_t n = 0;
    if (ck(mlops_registry_audit_verify(r, &n)) != MLOPS_OK) return fail();
    printf("audit log: %zu entries, chain intact\n", n);
    return 0;
}

static int run(mlops_registry *r, const char *dir, const char *cmd, int rest, char **args) {
    if (strcmp(cmd, "put") == 0) return cmd_put(r, rest, args);
    if (strcmp(cmd, "list") == 0)
        return rest == 0   ? list_all(r, dir)
               : rest == 1 ? print_versions(r, args[0])
                           : usage_error("%s", "list [NAME]");
    if (strcmp(cmd, "info") == 0) return cmd_info(r, rest, args);
    if (strcmp(cmd, "alias") == 0) return cmd_alias(r, rest, args);
    if (strcmp(cmd, "verify") == 0) return cmd_verify(r, rest, args);
    if (strcmp(cmd, "gc") == 0) return cmd_gc(r, rest, args);
    if (strcmp(cmd, "delete") == 0) return cmd_delete(r, rest, args);
    if (strcmp(cmd, "check") == 0) return cmd_check(r, rest, args);
    if (strcmp(cmd, "lineage") == 0) return cmd_lineage(r, rest, args);
    if (strcmp(cmd, "audit") == 0) return cmd_audit(r, rest, args);
    return usage_error("unknown command '%s'", cmd);
}

typedef struct global_opts {
    const char *dir, *sign, *enc, *actor;
    cli_list trust;
} global_opts;

/* The options before the command: CLI_PARSED with the index of the first operand (the
 * command, or DIR of the original form) in *first, CLI_HELP_SHOWN or CLI_BAD_USAGE. */
static int parse_globals(int argc, char **argv, global_opts *g, int *first) {
    const cli_opt opts[] = {
        CLI_OPT_STR("registry", "DIR", NULL, "the registry directory (or give DIR before the command)",
                    &g->dir),
        CLI_OPT_LIST("trust", "PUB", "load only versions signed by this public key file", &g->trust),
        CLI_OPT_STR("sign", "KEY", NULL, "put signs the version with this Ed25519 key file", &g->sign),
        CLI_OPT_STR("encrypt-key", "KEY", NULL, "put encrypts with this 32-byte key file, loads decrypt",
                    &g->enc),
        CLI_OPT_STR("actor", "WHO", NULL, "the actor of the audit log's lines (unset: uid:<uid>)", &g->actor),
        CLI_OPT_END,
    };
    const cli_prog p = {
        prog, REGISTRY_USAGE,
        "Manages a model registry directory: stores versions, lists them, moves aliases, verifies\n"
        "digests, signatures and the audit log. The options come before the command.",
        "0 success, 1 damaged versions found by verify, 2 error, 4 integrity failure", opts};
    int rc = cli_opts_parse_until_operand(&p, argc, argv, first);
    if (rc != CLI_PARSED) return rc;
    int operands = argc - *first;
    int keygen = operands > 0 && strcmp(argv[*first], "keygen") == 0;
    if (!keygen && operands < (g->dir ? 1 : 2))
        return cli_usage_error(&p, "%s", "give --registry DIR (or DIR) and then a COMMAND");
    return CLI_PARSED;
}

static int is_mutating(const char *cmd) {
    return strcmp(cmd, "put") == 0 || strcmp(cmd, "alias") == 0 || strcmp(cmd, "delete") == 0 ||
           strcmp(cmd, "gc") == 0;
}

/* Open the registry of `g` for `cmd` (and its arguments) and run it. */
static int open_and_run(const global_opts *g, const char *cmd, int argc, char **argv) {
    int create = 0;
    if (strcmp(cmd, "put") == 0)
        for (int j = 0; j < argc; j++)
            create |= strcmp(argv[j], "--create") == 0;
    mlops_registry_opts o = MLOPS_REGISTRY_OPTS_INIT;
    o.create = create;
    o.trust_keys = g->trust.v;
    o.n_trust_keys = g->trust.n;
    o.sign_key = g->sign;
    o.encryption_key = g->enc;
    o.actor = g->actor;
    o.audit = is_mutating(cmd);
    mlops_registry *r = NULL;
    if (ck(mlops_registry_create(g->dir, &o, &r)) != MLOPS_OK) return fail();
    int rc = run(r, g->dir, cmd, argc, argv);
    mlops_registry_free(r);
    return rc;
}

int main(int argc, char **argv) {
    global_opts g = {0};
    int i = 0, rc = parse_globals(argc, argv, &g, &i);
    if (rc != CLI_PARSED)
        rc = rc == CLI_HELP_SHOWN ? 0 : 2;
    else if (strcmp(argv[i], "keygen") == 0)
        rc = cmd_keygen(argc - i - 1, argv + i + 1);
    else {
        if (!g.dir) g.dir = argv[i++]; /* the original form: DIR COMMAND ... */
        rc = open_and_run(&g, argv[i], argc - i - 1, argv + i + 1);
    }
    cli_list_free(&g.trust);
    return rc;
}
