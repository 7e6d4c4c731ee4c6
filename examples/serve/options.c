/* mlops-serve's command line, read with getopt_long. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: %s --model MODEL [--schema SCHEMA.json] [--reference R.csv] [--bind 127.0.0.1]\n"
            "       [--port 8080] [--threads 4] [--max-body 1048576] [--window 1000] [--state-dir DIR]\n"
            "       [--checkpoint SECONDS] [--engine auto|native|xgboost]\n"
            "  POST /predict, POST /feedback,\n"
            "  GET /metrics /healthz /health /ready /model /model/info /drift /monitor\n"
            "  --port 0 picks a free port (printed on stderr at start)\n",
            serve_prog);
}

static int parse_size(const char *v, size_t lo, size_t hi, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || *end || errno || *v == '-' || n < lo || n > hi) return -1;
    *out = (size_t)n;
    return 0;
}

enum {
    O_MODEL = 256,
    O_SCHEMA,
    O_REFERENCE,
    O_BIND,
    O_STATE_DIR,
    O_ENGINE,
    O_PORT,
    O_THREADS,
    O_MAX_BODY,
    O_WINDOW,
    O_CHECKPOINT
};

/* Numeric options: where the value goes and its range. */
static int numeric(int code, const char *v, serve_opts *o) {
    switch (code) {
    case O_PORT:
        return parse_size(v, 0, 65535, &o->port);
    case O_THREADS:
        return parse_size(v, 1, 256, &o->threads);
    case O_MAX_BODY:
        return parse_size(v, 16, (size_t)1 << 30, &o->max_body);
    case O_WINDOW:
        return parse_size(v, 1, (size_t)1 << 24, &o->window);
    case O_CHECKPOINT:
        return parse_size(v, 0, 86400 * 365, &o->checkpoint);
    default:
        return -1;
    }
}

static const char *option_name(const struct option *table, int code) {
    for (; table->name; table++)
        if (table->val == code) return table->name;
    return "?";
}

int serve_opts_parse(int argc, char **argv, serve_opts *o) {
    static const struct option table[] = {{"model", required_argument, NULL, O_MODEL},
                                          {"schema", required_argument, NULL, O_SCHEMA},
                                          {"reference", required_argument, NULL, O_REFERENCE},
                                          {"bind", required_argument, NULL, O_BIND},
                                          {"state-dir", required_argument, NULL, O_STATE_DIR},
                                          {"engine", required_argument, NULL, O_ENGINE},
                                          {"port", required_argument, NULL, O_PORT},
                                          {"threads", required_argument, NULL, O_THREADS},
                                          {"max-body", required_argument, NULL, O_MAX_BODY},
                                          {"window", required_argument, NULL, O_WINDOW},
                                          {"checkpoint", required_argument, NULL, O_CHECKPOINT},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    *o = (serve_opts){.bind = "127.0.0.1",
                      .engine = "auto",
                      .port = 8080,
                      .threads = 4,
                      .max_body = 1048576,
                      .window = 1000};
    opterr = 0;
    int code;
    while ((code = getopt_long(argc, argv, ":h", table, NULL)) != -1) {
        const char *v = optarg;
        switch (code) {
        case 'h':
            usage(stdout);
            return 1;
        case O_MODEL:
            o->model_path = v;
            break;
        case O_SCHEMA:
            o->schema_path = v;
            break;
        case O_REFERENCE:
            o->ref_path = v;
            break;
        case O_BIND:
            o->bind = v;
            break;
        case O_STATE_DIR:
            o->state_dir = v;
            break;
        case O_ENGINE:
            o->engine = v;
            break;
        case ':':
            fprintf(stderr, "%s: %s needs a value\n", serve_prog, argv[optind - 1]);
            usage(stderr);
            return 2;
        case '?':
            fprintf(stderr, "%s: unknown option: %s\n", serve_prog, argv[optind - 1]);
            usage(stderr);
            return 2;
        default:
            if (numeric(code, v, o) != 0) {
                fprintf(stderr, "%s: bad value for --%s: %s\n", serve_prog, option_name(table, code), v);
                usage(stderr);
                return 2;
            }
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument: %s\n", serve_prog, argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!o->model_path) {
        fprintf(stderr, "%s: --model is required\n", serve_prog);
        usage(stderr);
        return 2;
    }
    if (strcmp(o->engine, "auto") && strcmp(o->engine, "native") && strcmp(o->engine, "xgboost")) {
        fprintf(stderr, "%s: --engine must be auto, native or xgboost\n", serve_prog);
        return 2;
    }
    return 0;
}
