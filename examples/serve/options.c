/* mlops-serve's command line: one table of options, read with getopt_long. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

static void usage(FILE *f) {
    fprintf(
        f,
        "usage: %s (--model MODEL | --registry DIR --name NAME [--alias production] [--follow SECONDS])\n"
        "       [--gate-data CSV --gate-label COLUMN] [--admin-token-file FILE] [--route-header X-User-Id]\n"
        "       [--latency-buckets 1e-6,2,21] [--ab-alpha 0.05] [--rollback-below ACCURACY | "
        "--rollback-above RMSE] [--rollback-min-labels "
        "200]\n"
        "       [--schema SCHEMA.json] [--reference R.csv] [--bind 127.0.0.1]\n"
        "       [--port 8080] [--threads 4] [--max-body 1048576] [--window 1000] [--state-dir DIR]\n"
        "       [--checkpoint SECONDS] [--engine auto|native|xgboost]\n"
        "       [--max-connections 512] [--max-per-ip 64] [--header-timeout 10] [--body-timeout 30]\n"
        "       [--max-body-memory 67108864] [--max-pending-per-client 1000]\n"
        "       [--feedback-token-file FILE] [--tls-cert CERT.pem --tls-key KEY.pem] [--drain-seconds 0]\n"
        "       [--spin-us 50]   (0: a worker sleeps as soon as it has answered)\n"
        "       [--trust PUB]... [--encrypt-key KEY]   (registry versions: signed by a trusted key; decrypt)\n"
        "  POST /predict, POST /feedback,\n"
        "  GET /metrics /healthz /health /ready /model /model/info /drift /monitor\n"
        "  --port 0 picks a free port (printed on stderr at start)\n",
        serve_prog);
}

/* One option: a string (hi == 0) or a number in [lo, hi], stored at `offset` in serve_opts. */
typedef struct opt_spec {
    const char *name;
    size_t offset;
    unsigned long long lo, hi;
} opt_spec;

#define STR(field) offsetof(serve_opts, field), 0, 0
#define NUM(field, lo, hi) offsetof(serve_opts, field), lo, hi
static const opt_spec specs[] = {
    {"model", STR(model_path)},
    {"schema", STR(schema_path)},
    {"reference", STR(ref_path)},
    {"bind", STR(bind)},
    {"state-dir", STR(state_dir)},
    {"engine", STR(engine)},
    {"feedback-token-file", STR(feedback_token_file)},
    {"tls-cert", STR(tls_cert)},
    {"tls-key", STR(tls_key)},
    {"registry", STR(registry)},
    {"name", STR(reg_name)},
    {"alias", STR(alias)},
    {"gate-data", STR(gate_data)},
    {"gate-label", STR(gate_label)},
    {"admin-token-file", STR(admin_token_file)},
    {"route-header", STR(route_header)},
    {"ab-alpha", STR(ab_alpha_text)},
    {"latency-buckets", STR(latency_buckets)},
    {"rollback-below", STR(rollback_below_text)},
    {"rollback-above", STR(rollback_above_text)},
    {"rollback-min-labels", NUM(rollback_min_labels, 1, 100000000)},
    {"follow", NUM(follow, 0, 86400)},
    {"port", NUM(port, 0, 65535)},
    {"threads", NUM(threads, 1, 256)},
    {"max-body", NUM(max_body, 16, 1ull << 30)},
    {"window", NUM(window, 1, 1ull << 24)},
    {"checkpoint", NUM(checkpoint, 0, 86400ull * 365)},
    {"max-connections", NUM(max_connections, 1, 1000000)},
    {"max-per-ip", NUM(max_per_ip, 1, 1000000)},
    {"header-timeout", NUM(header_timeout, 1, 3600)},
    {"body-timeout", NUM(body_timeout, 1, 3600)},
    {"max-body-memory", NUM(max_body_memory, 1024, 1ull << 40)},
    {"max-pending-per-client", NUM(max_pending_per_client, 1, 1000000)},
    {"drain-seconds", NUM(drain_seconds, 0, 3600)},
    {"spin-us", NUM(spin_us, 0, 10000)},
    {"trust", STR(trust)}, /* repeatable: serve_trust_add */
    {"encrypt-key", STR(encrypt_key)},
};
#define N_SPECS (sizeof specs / sizeof specs[0])

static int parse_size(const char *v, unsigned long long lo, unsigned long long hi, size_t *out) {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (end == v || *end || errno || *v == '-' || n < lo || n > hi) return -1;
    *out = (size_t)n;
    return 0;
}

/* Store `v` for specs[i]; 0, or -1 for a number out of range. */
static int store(serve_opts *o, const opt_spec *sp, const char *v) {
    char *field = (char *)o + sp->offset;
    if (sp->hi == 0) {
        memcpy(field, &v, sizeof v);
        return 0;
    }
    return parse_size(v, sp->lo, sp->hi, (size_t *)(void *)field);
}

/* A number option strictly between lo and hi (kept unchanged when the option was not given). */
static int parse_double(const char *name, const char *text, double lo, double hi, double *out) {
    if (!text) return 0;
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !(v > lo && v < hi)) {
        fprintf(stderr, "%s: --%s %s: expected a number between %g and %g\n", serve_prog, name, text, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

static int check(serve_opts *o) {
    if (!o->model_path == !o->registry) {
        fprintf(stderr, "%s: give --model FILE or --registry DIR --name NAME (one of them)\n", serve_prog);
        return -1;
    }
    if (o->registry && !o->reg_name) {
        fprintf(stderr, "%s: --registry needs --name\n", serve_prog);
        return -1;
    }
    if (parse_double("ab-alpha", o->ab_alpha_text, 0, 1, &o->ab_alpha) ||
        parse_double("rollback-below", o->rollback_below_text, 0, 1, &o->rollback_below) ||
        parse_double("rollback-above", o->rollback_above_text, 0, INFINITY, &o->rollback_above))
        return -1;
    if (!o->gate_data != !o->gate_label) {
        fprintf(stderr, "%s: --gate-data and --gate-label go together\n", serve_prog);
        return -1;
    }
    if (!o->tls_cert != !o->tls_key) {
        fprintf(stderr, "%s: --tls-cert and --tls-key go together\n", serve_prog);
        return -1;
    }
    if (strcmp(o->engine, "auto") && strcmp(o->engine, "native") && strcmp(o->engine, "xgboost")) {
        fprintf(stderr, "%s: --engine must be auto, native or xgboost\n", serve_prog);
        return -1;
    }
    return 0;
}

int serve_opts_parse(int argc, char **argv, serve_opts *o) {
    struct option table[N_SPECS + 2];
    for (size_t i = 0; i < N_SPECS; i++)
        table[i] = (struct option){specs[i].name, required_argument, NULL, 256 + (int)i};
    table[N_SPECS] = (struct option){"help", no_argument, NULL, 'h'};
    table[N_SPECS + 1] = (struct option){NULL, 0, NULL, 0};
    *o = (serve_opts){.bind = "127.0.0.1",
                      .engine = "auto",
                      .port = 8080,
                      .threads = 4,
                      .max_body = 1048576,
                      .window = 1000,
                      .max_connections = 512,
                      .max_per_ip = 64,
                      .header_timeout = 10,
                      .body_timeout = 30,
                      .max_body_memory = (size_t)64 << 20,
                      .max_pending_per_client = 1000,
                      .spin_us = 50,
                      .alias = "production",
                      .route_header = "X-User-Id",
                      .ab_alpha = 0.05,
                      .rollback_below = NAN,
                      .rollback_above = NAN,
                      .rollback_min_labels = 200};
    opterr = 0;
    optind = 1;
    int code;
    while ((code = getopt_long(argc, argv, ":h", table, NULL)) != -1) {
        if (code == 'h') {
            usage(stdout);
            return 1;
        }
        if (code == ':' || code == '?') {
            fprintf(stderr, "%s: %s: %s\n", serve_prog, argv[optind - 1],
                    code == ':' ? "needs a value" : "unknown option");
            usage(stderr);
            return 2;
        }
        const opt_spec *sp = &specs[code - 256];
        if (sp->offset == offsetof(serve_opts, trust)) {
            if (serve_trust_add(o, optarg) != 0) return 2;
            continue;
        }
        if (store(o, sp, optarg) != 0) {
            fprintf(stderr, "%s: --%s %s: expected a whole number from %llu to %llu\n", serve_prog, sp->name,
                    optarg, sp->lo, sp->hi);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument: %s\n", serve_prog, argv[optind]);
        usage(stderr);
        return 2;
    }
    if (check(o) != 0) {
        usage(stderr);
        return 2;
    }
    return 0;
}
