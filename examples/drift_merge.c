/* mlops-drift --merge: the drift report of a fleet from its replicas' windows.
 *
 *   mlops-drift --merge SOURCE... [--json] [--html report.html] [--token-file FILE]
 *
 * Each SOURCE is a drift snapshot: a file, or an http:// URL answering one (mlops-serve's
 * GET /drift/window; --token-file sends "Authorization: Bearer <token>", as its admin API wants).
 * The snapshots must share one reference (refused otherwise); their windows merge into one whose
 * report equals scipy.stats.ks_2samp(reference, all windows concatenated). Prints a table, or the
 * JSON report with --json; --html also writes an HTML table. Exit status: 0 ok, 2 usage, I/O,
 * format error or different references. (https:// is not fetched: save the snapshot with curl.)
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cli_util.h"
#include "drift_merge.h"
#include "mlops.h"

#define MERGE_MAX_BYTES ((size_t)1 << 30)

static const char *prog = "mlops-drift --merge";

/* Read everything from fd into a malloc'd buffer (at most MERGE_MAX_BYTES). NULL on error. */
static char *read_all(int fd, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n == cap) {
            char *nb = cap < MERGE_MAX_BYTES ? realloc(b, cap *= 2) : NULL;
            if (!nb) break;
            b = nb;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r == 0) {
            *len = n;
            return b;
        }
        if (r < 0 && errno != EINTR) break;
        if (r > 0) n += (size_t)r;
    }
    free(b);
    return NULL;
}

/* Connect to host:port (30 s send and receive timeouts). -1 on failure. */
static int dial(const char *host, const char *port) {
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
    int fd = -1;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        struct timeval tv = {30, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* GET an http:// URL with HTTP/1.0; the body of a 200 answer, else NULL with a message printed. */
static char *http_get(const char *url, const char *token, size_t *len) {
    char host[256], port[8] = "80", path[1024] = "/";
    const char *p = url + 7, *slash = strchr(p, '/'), *colon = strchr(p, ':');
    size_t hl = slash ? (size_t)(slash - p) : strlen(p);
    if (colon && (!slash || colon < slash)) {
        snprintf(port, sizeof port, "%.*s", (int)(hl - (size_t)(colon + 1 - p)), colon + 1);
        hl = (size_t)(colon - p);
    }
    if (hl == 0 || hl >= sizeof host || (slash && strlen(slash) >= sizeof path)) {
        fprintf(stderr, "%s: %s: not a URL this tool fetches\n", prog, url);
        return NULL;
    }
    snprintf(host, sizeof host, "%.*s", (int)hl, p);
    if (slash) snprintf(path, sizeof path, "%s", slash);
    int fd = dial(host, port);
    if (fd < 0) {
        fprintf(stderr, "%s: %s: cannot connect\n", prog, url);
        return NULL;
    }
    char req[2048 + 512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n%s%s%sConnection: close\r\n\r\n", path, host,
                     token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "");
    size_t total = 0;
    char *resp = (n > 0 && (size_t)n < sizeof req && write(fd, req, (size_t)n) == n) ? read_all(fd, &total) : NULL;
    close(fd);
    char *body = resp ? strstr(resp, "\r\n\r\n") : NULL;
    int status = 0;
    if (!body || sscanf(resp, "HTTP/%*s %d", &status) != 1 || status != 200) {
        fprintf(stderr, "%s: %s: %s (HTTP status %d)\n", prog, url, resp ? "no snapshot" : "no answer", status);
        free(resp);
        return NULL;
    }
    body += 4;
    *len = total - (size_t)(body - resp);
    memmove(resp, body, *len);
    return resp;
}

/* The snapshot a SOURCE names, or NULL with a message printed. */
static mlops_drift_snapshot *load_source(const char *src, const char *token) {
    size_t len = 0;
    char *data;
    if (!strncmp(src, "http://", 7)) {
        data = http_get(src, token, &len);
    } else {
        FILE *f = fopen(src, "rb");
        data = f ? read_all(fileno(f), &len) : NULL;
        if (f) fclose(f);
        if (!data) fprintf(stderr, "%s: %s: %s\n", prog, src, strerror(errno ? errno : EIO));
    }
    if (!data) return NULL;
    mlops_drift_snapshot *s = NULL;
    if (mlops_drift_snapshot_load_buffer(data, len, &s) != MLOPS_OK)
        fprintf(stderr, "%s: %s: %s\n", prog, src, mlops_last_error());
    free(data);
    return s;
}

static void print_table(FILE *f, const mlops_drift_snapshot *s, const mlops_drift_feature_result *r,
                        const mlops_drift_summary *sum) {
    fprintf(f, "%-32s %-5s %12s %12s %10s %s\n", "feature", "test", "statistic", "p-value", "current", "drift");
    for (size_t i = 0; i < mlops_drift_snapshot_n_features(s); i++)
        fprintf(f, "%-32s %-5s %12.6g %12.6g %10zu %s\n", mlops_drift_snapshot_feature_name(s, i),
                r[i].kind == MLOPS_FEATURE_CATEGORICAL ? "chi2" : "ks", r[i].statistic, r[i].pvalue_adjusted,
                r[i].n_current, r[i].drift ? "DRIFT" : "-");
    fprintf(f, "%zu of %zu features drifted (share %.3f): dataset drift %s; %zu rows in the merged window\n",
            sum->n_drifted, sum->n_features, sum->drift_share, sum->dataset_drift ? "YES" : "no", sum->n_rows);
}

static int write_html(const char *path, const char *json) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    /* the JSON report is rendered by the page itself: no escaping of names in C */
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Fleet drift report</title></head>\n"
               "<body><h1>Fleet drift report</h1><table id=\"t\" border=\"1\"><tr><th>feature</th><th>test</th>"
               "<th>statistic</th><th>p-value</th><th>drift</th></tr></table><p id=\"s\"></p>\n"
               "<script type=\"application/json\" id=\"report\">");
    for (const char *c = json; *c; c++) /* keep "</script>" out of the data block */
        *c == '<' ? fputs("\\u003c", f) : fputc(*c, f);
    fprintf(f, "</script>\n<script>\nconst r = JSON.parse(document.getElementById('report').textContent);\n"
               "for (const x of r.features) { const tr = document.getElementById('t').insertRow();\n"
               "  for (const v of [x.name, x.test, x.statistic, x.pvalue_adjusted, x.drift ? 'DRIFT' : '-'])\n"
               "    tr.insertCell().textContent = String(v); }\n"
               "document.getElementById('s').textContent = r.n_drifted + ' of ' + r.n_features +\n"
               "  ' features drifted; ' + r.n_rows + ' rows in the merged window';\n</script></body></html>\n");
    return fclose(f) == 0 ? 0 : -1;
}

/* Every source merged into the first, or NULL with a message printed. */
static mlops_drift_snapshot *merge_all(char **srcs, int n, const char *token) {
    mlops_drift_snapshot *all = load_source(srcs[0], token);
    for (int i = 1; all && i < n; i++) {
        mlops_drift_snapshot *s = load_source(srcs[i], token);
        mlops_status st = s ? mlops_drift_snapshot_merge(all, s) : MLOPS_EINVAL;
        if (s && st != MLOPS_OK) fprintf(stderr, "%s: %s: %s\n", prog, srcs[i], mlops_last_error());
        mlops_drift_snapshot_free(s);
        if (st != MLOPS_OK) {
            mlops_drift_snapshot_free(all);
            all = NULL;
        }
    }
    return all;
}

static int report(const mlops_drift_snapshot *all, int as_json, const char *html) {
    size_t nf = mlops_drift_snapshot_n_features(all);
    char *json = NULL;
    mlops_drift_feature_result *res = calloc(nf, sizeof *res);
    mlops_drift_summary sum;
    int rc = 2;
    if (res && mlops_drift_snapshot_report(all, res, nf, &sum) == MLOPS_OK &&
        mlops_drift_snapshot_report_json(all, &json) == MLOPS_OK) {
        rc = 0;
        if (as_json)
            printf("%s\n", json);
        else
            print_table(stdout, all, res, &sum);
        if (html && write_html(html, json)) rc = 2;
    } else {
        fprintf(stderr, "%s: %s\n", prog, mlops_last_error());
    }
    mlops_free(json);
    free(res);
    return rc;
}

static void merge_usage(FILE *f) {
    fprintf(f, "usage: mlops-drift --merge SOURCE... [--json] [--html report.html] [--token-file FILE]\n"
               "SOURCE: a drift snapshot file or an http:// URL serving one (mlops-serve GET /drift/window).\n"
               "Prints the report of the merged windows (as SciPy's ks_2samp on the concatenated windows).\n");
}

/* The token in `path` (first line), malloc'd; NULL with a message printed. */
static char *read_token(const char *path) {
    char line[512];
    FILE *f = fopen(path, "r");
    char *t = f && fgets(line, sizeof line, f) ? strdup(strtok(line, "\r\n") ? line : "") : NULL;
    if (f) fclose(f);
    if (!t) fprintf(stderr, "%s: %s: cannot read a token\n", prog, path);
    return t;
}

int drift_merge_main(int argc, char **argv) {
    char **srcs = calloc((size_t)argc, sizeof *srcs);
    const char *html = NULL, *token_file = NULL;
    int n = 0, as_json = 0, rc = 2;
    for (int i = 2; srcs && i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            merge_usage(stdout);
            free(srcs);
            return 0;
        } else if (!strcmp(a, "--json")) {
            as_json = 1;
        } else if ((!strcmp(a, "--html") || !strcmp(a, "--token-file")) && i + 1 < argc) {
            *(a[2] == 'h' ? &html : &token_file) = argv[++i];
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "%s: unknown option or missing value: %s\n", prog, a);
            n = -1;
            break;
        } else {
            srcs[n++] = argv[i];
        }
    }
    if (n <= 0) {
        if (n == 0 && srcs) fprintf(stderr, "%s: no snapshot given\n", prog);
        merge_usage(stderr);
        free(srcs);
        return 2;
    }
    char *token = token_file ? read_token(token_file) : NULL;
    mlops_drift_snapshot *all = !token_file || token ? merge_all(srcs, n, token) : NULL;
    if (all) rc = report(all, as_json, html);
    mlops_drift_snapshot_free(all);
    free(token);
    free(srcs);
    return rc;
}
