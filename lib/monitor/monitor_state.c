/* Monitor state files: a versioned binary snapshot with magic, length and checksum.
 *
 *   header (40 bytes): "MLOPSMON" | u32 format version | u32 byte-order mark 0x01020304 |
 *                      u64 payload length | u64 checksum of the payload | u64 reserved (0)
 *   payload:           options | counters | lifetime sums | window records (oldest first) |
 *                      alert rules and states | pending predictions (oldest first, with their age)
 *
 * Numbers are stored in the host's byte order; the byte-order mark makes a file
 * from a machine of the other order fail cleanly as EFORMAT. The checksum is
 * 64-bit FNV-1a: it catches accidental corruption, it is not a signature.
 * Everything read is validated as if it were recorded afresh; the window sums
 * are rebuilt from the records. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "monitor_internal.h"

#define MAGIC "MLOPSMON"
#define FORMAT_VERSION 1u
#define BOM 0x01020304u
#define HEADER_LEN 40
#define MAX_STATE_BYTES ((size_t)1 << 34)
#define MAX_ID_LEN 1024

/* ------------------------------------------------------------- writing */

typedef struct wbuf {
    unsigned char *p; /* NULL: only count */
    size_t off;
} wbuf;

static void put(wbuf *w, const void *v, size_t n) {
    if (w->p) memcpy(w->p + w->off, v, n);
    w->off += n;
}
static void put_u32(wbuf *w, uint32_t v) { put(w, &v, sizeof v); }
static void put_u64(wbuf *w, uint64_t v) { put(w, &v, sizeof v); }
static void put_f64(wbuf *w, double v) { put(w, &v, sizeof v); }
static void put_ksum(wbuf *w, const ksum *k) {
    put_f64(w, k->s);
    put_f64(w, k->c);
}

static void put_sums(wbuf *w, const mlops__monitor_sums *s, size_t ncls) {
    put_u64(w, s->n);
    put_u64(w, s->tp);
    put_u64(w, s->fp);
    put_u64(w, s->fn);
    put_u64(w, s->tn);
    put_u64(w, s->correct);
    put_ksum(w, &s->pred);
    put_ksum(w, &s->ll);
    put_ksum(w, &s->brier);
    put_ksum(w, &s->y1);
    put_ksum(w, &s->y2);
    put_ksum(w, &s->se);
    put_ksum(w, &s->ae);
    put_f64(w, s->shift);
    put_u64(w, s->tol_ok);
    put_u64(w, s->exact);
    put_u64(w, s->label_changes);
    put_f64(w, s->last_y);
    put_f64(w, s->mean);
    put_f64(w, s->m2);
    for (size_t i = 0; i < ncls; i++)
        put_u64(w, s->cls[i]);
}

static void put_state(wbuf *w, const mlops__monitor_core *c, double now) {
    const mlops_monitor_opts *o = &c->opts;
    size_t ncls = c->cfg.task == MLOPS_MONITOR_MULTICLASS ? 3 * (size_t)c->cfg.n_classes : 0;
    put(w, MAGIC, 8);
    put_u32(w, FORMAT_VERSION);
    put_u32(w, BOM);
    put_u64(w, 0); /* payload length, patched */
    put_u64(w, 0); /* checksum, patched */
    put_u64(w, 0);
    /* options */
    put_u32(w, (uint32_t)o->task);
    put_u32(w, o->n_classes);
    put_u64(w, o->window);
    put_f64(w, o->threshold);
    put_f64(w, o->tolerance);
    put_u64(w, o->pending_capacity);
    put_f64(w, o->pending_ttl);
    put_f64(w, o->log_loss_eps);
    put_u64(w, o->recompute_every);
    /* counters */
    put_u64(w, c->recorded);
    put_u64(w, c->matched);
    put_u64(w, c->evicted_ttl);
    put_u64(w, c->evicted_capacity);
    put_u64(w, c->recomputes);
    put_sums(w, &c->life, ncls);
    /* window */
    put_u64(w, c->count);
    for (size_t i = 0; i < c->count; i++) {
        const mlops__slot *s = &c->ring[(c->head + i) % c->window];
        put_f64(w, s->pred);
        put_f64(w, s->y);
        put_f64(w, s->ll);
    }
    /* alerts */
    put_u64(w, c->alert_mask);
    for (unsigned k = 0; k < MLOPS_METRIC_N; k++) {
        if (!(c->alert_mask & (1ull << k))) continue;
        const mlops__alert *a = &c->alerts[k];
        put_u32(w, (uint32_t)a->rule.metric);
        put_u32(w, (uint32_t)a->rule.direction);
        put_f64(w, a->rule.trigger);
        put_f64(w, a->rule.clear);
        put_u64(w, a->rule.min_count);
        put_u32(w, (uint32_t)a->firing);
    }
    /* pending */
    put_u64(w, c->n_pending);
    for (uint32_t i = c->p_head; i != UINT32_MAX; i = c->nodes[i].next) {
        const mlops__pnode *n = &c->nodes[i];
        double age = now - n->t;
        put_u32(w, (uint32_t)n->id_len);
        put(w, n->id, n->id_len);
        put_f64(w, age > 0.0 ? age : 0.0);
        for (size_t k = 0; k < c->cfg.width; k++)
            put_f64(w, c->pvals[(size_t)i * c->cfg.width + k]);
    }
}

size_t mlops__monitor_state_size(const mlops__monitor_core *c) {
    wbuf w = {NULL, 0};
    put_state(&w, c, 0.0);
    return w.off;
}

size_t mlops__monitor_serialize(const mlops__monitor_core *c, double now, unsigned char *buf) {
    wbuf w = {buf, 0};
    put_state(&w, c, now);
    uint64_t len = w.off - HEADER_LEN, sum = mlops__fnv1a64(buf + HEADER_LEN, (size_t)len);
    memcpy(buf + 16, &len, 8);
    memcpy(buf + 24, &sum, 8);
    return w.off;
}

/* ------------------------------------------------------------- reading */

static void get_ksum(mlops__reader *r, ksum *k) {
    k->s = mlops__read_f64(r);
    k->c = mlops__read_f64(r);
}

static int sums_finite(const mlops__monitor_sums *s) {
    const ksum *ks[] = {&s->pred, &s->ll, &s->brier, &s->y1, &s->y2, &s->se, &s->ae};
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++)
        if (!isfinite(ks[i]->s) || !isfinite(ks[i]->c)) return 0;
    return isfinite(s->shift) && isfinite(s->last_y) && isfinite(s->mean) && isfinite(s->m2) && s->m2 >= 0.0;
}

static void get_sums(mlops__reader *r, mlops__monitor_sums *s, size_t ncls) {
    s->n = mlops__read_u64(r);
    s->tp = mlops__read_u64(r);
    s->fp = mlops__read_u64(r);
    s->fn = mlops__read_u64(r);
    s->tn = mlops__read_u64(r);
    s->correct = mlops__read_u64(r);
    get_ksum(r, &s->pred);
    get_ksum(r, &s->ll);
    get_ksum(r, &s->brier);
    get_ksum(r, &s->y1);
    get_ksum(r, &s->y2);
    get_ksum(r, &s->se);
    get_ksum(r, &s->ae);
    s->shift = mlops__read_f64(r);
    s->tol_ok = mlops__read_u64(r);
    s->exact = mlops__read_u64(r);
    s->label_changes = mlops__read_u64(r);
    s->last_y = mlops__read_f64(r);
    s->mean = mlops__read_f64(r);
    s->m2 = mlops__read_f64(r);
    for (size_t i = 0; i < ncls; i++)
        s->cls[i] = mlops__read_u64(r);
}

/* Sections of the payload, in the order put_state() writes them. Each one reads
 * its part of `r` into `c` and fails with EFORMAT (and a message naming `path`)
 * on a truncated or invalid section; the caller frees `c` then. */

static mlops_status read_header(const char *path, const unsigned char *data, size_t len, mlops__reader *r) {
    if (len < HEADER_LEN || memcmp(data, MAGIC, 8) != 0)
        return mlops__fail(MLOPS_EFORMAT, "%s: not a libmlops monitor state file (bad magic or too short)",
                           path);
    uint32_t version = mlops__read_u32(r), bom = mlops__read_u32(r);
    uint64_t plen = mlops__read_u64(r), sum = mlops__read_u64(r);
    (void)mlops__read_u64(r);
    MLOPS__FAIL_IF(bom != BOM, MLOPS_EFORMAT, "%s: state file has the other byte order", path);
    MLOPS__FAIL_IF(version != FORMAT_VERSION, MLOPS_EVERSION,
                   "%s: state format version %u, this library reads %u", path, version, FORMAT_VERSION);
    MLOPS__FAIL_IF(plen != len - HEADER_LEN, MLOPS_EFORMAT,
                   "%s: state file is truncated or padded (%zu payload bytes, header says %llu)", path,
                   len - HEADER_LEN, (unsigned long long)plen);
    MLOPS__FAIL_IF(mlops__fnv1a64(data + HEADER_LEN, (size_t)plen) != sum, MLOPS_EINTEGRITY,
                   "%s: state file checksum mismatch (corrupted)", path);
    return MLOPS_OK;
}

static mlops_status read_options(const char *path, mlops__reader *r, mlops_monitor_opts *o) {
    o->task = (mlops_monitor_task)mlops__read_u32(r);
    o->n_classes = mlops__read_u32(r);
    o->window = (size_t)mlops__read_u64(r);
    o->threshold = mlops__read_f64(r);
    o->tolerance = mlops__read_f64(r);
    o->pending_capacity = (size_t)mlops__read_u64(r);
    o->pending_ttl = mlops__read_f64(r);
    o->log_loss_eps = mlops__read_f64(r);
    o->recompute_every = (size_t)mlops__read_u64(r);
    MLOPS__FAIL_IF(r->short_read, MLOPS_EFORMAT, "%s: state file is truncated (options)", path);
    if (mlops__monitor_check_opts(o)) {
        char why[256];
        snprintf(why, sizeof why, "%s", mlops_last_error());
        return mlops__fail(MLOPS_EFORMAT, "%s: invalid options in state file: %s", path, why);
    }
    return MLOPS_OK;
}

/* The counters, kept aside: they are set on the core only once everything else is read. */
typedef struct counters {
    uint64_t recorded, matched, evicted_ttl, evicted_capacity, recomputes;
} counters;

static mlops_status read_counters(const char *path, mlops__reader *r, mlops__monitor_core *c, counters *n) {
    size_t ncls = c->cfg.task == MLOPS_MONITOR_MULTICLASS ? 3 * (size_t)c->cfg.n_classes : 0;
    n->recorded = mlops__read_u64(r);
    n->matched = mlops__read_u64(r);
    n->evicted_ttl = mlops__read_u64(r);
    n->evicted_capacity = mlops__read_u64(r);
    n->recomputes = mlops__read_u64(r);
    get_sums(r, &c->life, ncls);
    const mlops__monitor_sums *l = &c->life;
    MLOPS__FAIL_IF(r->short_read, MLOPS_EFORMAT, "%s: state file is truncated (totals)", path);
    MLOPS__FAIL_IF(!sums_finite(l), MLOPS_EFORMAT, "%s: state file has non-finite lifetime totals", path);
    MLOPS__FAIL_IF(c->cfg.task == MLOPS_MONITOR_BINARY && l->tp + l->fp + l->fn + l->tn != l->n,
                   MLOPS_EFORMAT, "%s: state file's lifetime confusion matrix does not add up", path);
    return MLOPS_OK;
}

static int record_ok(const mlops__monitor_cfg *g, const mlops__slot *s) {
    if (g->task == MLOPS_MONITOR_MULTICLASS)
        return s->pred >= 0 && s->pred < g->n_classes && s->pred == floor(s->pred) && s->y >= 0 &&
               s->y < g->n_classes && s->y == floor(s->y) && isfinite(s->ll) && s->ll >= 0;
    mlops__slot v;
    double pred = s->pred;
    return mlops__monitor_make_slot(g, &pred, s->y, 0, 0, &v) == MLOPS_OK && v.ll == s->ll;
}

static mlops_status read_window(const char *path, mlops__reader *r, mlops__monitor_core *c) {
    uint64_t count = mlops__read_u64(r);
    MLOPS__FAIL_IF(r->short_read, MLOPS_EFORMAT, "%s: state file is truncated (window)", path);
    MLOPS__FAIL_IF(count > c->window, MLOPS_EFORMAT, "%s: state file holds %llu records for a window of %zu",
                   path, (unsigned long long)count, c->window);
    MLOPS__FAIL_IF(count * 24 > r->len - r->off, MLOPS_EFORMAT,
                   "%s: state file is truncated (window records)", path);
    MLOPS__TRY(mlops__monitor_reserve(c, (size_t)count));
    for (uint64_t i = 0; i < count; i++) {
        mlops__slot s;
        s.pred = mlops__read_f64(r);
        s.y = mlops__read_f64(r);
        s.ll = mlops__read_f64(r);
        MLOPS__FAIL_IF(!record_ok(&c->cfg, &s), MLOPS_EFORMAT, "%s: invalid %srecord %llu in state file",
                       path, c->cfg.task == MLOPS_MONITOR_MULTICLASS ? "multiclass " : "",
                       (unsigned long long)i);
        c->ring[i] = s;
    }
    c->count = (size_t)count;
    c->head = 0;
    mlops__monitor_rebuild(c);
    return MLOPS_OK;
}

static mlops_status read_alerts(const char *path, mlops__reader *r, mlops__monitor_core *c) {
    uint64_t mask = mlops__read_u64(r);
    MLOPS__FAIL_IF(mask >> MLOPS_METRIC_N, MLOPS_EFORMAT, "%s: state file has unknown alert metrics", path);
    for (unsigned k = 0; k < MLOPS_METRIC_N; k++) {
        if (!(mask & (1ull << k))) continue;
        mlops_alert_rule rule = MLOPS_ALERT_RULE_INIT;
        rule.metric = (mlops_metric)mlops__read_u32(r);
        rule.direction = (mlops_alert_direction)mlops__read_u32(r);
        rule.trigger = mlops__read_f64(r);
        rule.clear = mlops__read_f64(r);
        rule.min_count = mlops__read_u64(r);
        uint32_t firing = mlops__read_u32(r);
        MLOPS__FAIL_IF(r->short_read, MLOPS_EFORMAT, "%s: state file is truncated (alerts)", path);
        MLOPS__FAIL_IF((unsigned)rule.metric != k || firing > 1 || isnan(rule.clear) ||
                           mlops__monitor_check_rule(&c->cfg, &rule),
                       MLOPS_EFORMAT, "%s: invalid alert rule in state file", path);
        c->alerts[k].rule = rule;
        c->alerts[k].firing = (int)firing;
    }
    c->alert_mask = mask;
    return MLOPS_OK;
}

/* One pending prediction into `c`; `preds` is scratch of cfg.width doubles. */
static mlops_status read_pending_one(const char *path, mlops__reader *r, mlops__monitor_core *c,
                                     double *preds) {
    const mlops__monitor_cfg *g = &c->cfg;
    uint32_t idlen = mlops__read_u32(r);
    MLOPS__FAIL_IF(r->short_read || idlen == 0 || idlen > MAX_ID_LEN || idlen > r->len - r->off,
                   MLOPS_EFORMAT, "%s: state file has a truncated or invalid pending id", path);
    const char *idp = (const char *)r->p + r->off;
    r->off += idlen;
    MLOPS__FAIL_IF(memchr(idp, 0, idlen), MLOPS_EFORMAT, "%s: state file has a pending id with a NUL byte",
                   path);
    double age = mlops__read_f64(r);
    for (size_t k = 0; k < g->width; k++)
        preds[k] = mlops__read_f64(r);
    mlops__slot v;
    MLOPS__FAIL_IF(r->short_read, MLOPS_EFORMAT, "%s: state file is truncated (pending predictions)", path);
    MLOPS__FAIL_IF(!isfinite(age) || age < 0 || mlops__monitor_make_slot(g, preds, 0.0, 0, 0, &v),
                   MLOPS_EFORMAT, "%s: invalid pending prediction in state file", path);
    char *id = mlops__malloc(idlen + 1);
    MLOPS__FAIL_IF(!id, MLOPS_ENOMEM, "%s: out of memory", path);
    memcpy(id, idp, idlen);
    id[idlen] = '\0';
    if (mlops__monitor_pending_insert(c, id, idlen, preds, -age)) {
        mlops__free(id);
        return mlops__fail(MLOPS_EFORMAT, "%s: state file has a duplicate pending id", path);
    }
    return MLOPS_OK;
}

static mlops_status read_pending(const char *path, mlops__reader *r, mlops__monitor_core *c) {
    uint64_t npend = mlops__read_u64(r);
    MLOPS__FAIL_IF(r->short_read, MLOPS_EFORMAT, "%s: state file is truncated (pending)", path);
    MLOPS__FAIL_IF(npend > c->pending_capacity, MLOPS_EFORMAT,
                   "%s: state file holds %llu pending predictions for a capacity of %zu", path,
                   (unsigned long long)npend, c->pending_capacity);
    double *preds = mlops__calloc(c->cfg.width, sizeof *preds);
    MLOPS__FAIL_IF(!preds, MLOPS_ENOMEM, "%s: out of memory", path);
    mlops_status st = MLOPS_OK;
    for (uint64_t i = 0; i < npend && st == MLOPS_OK; i++)
        st = read_pending_one(path, r, c, preds);
    mlops__free(preds);
    return st;
}

static mlops_status read_sections(const char *path, mlops__reader *r, mlops__monitor_core *c) {
    counters n;
    MLOPS__TRY(read_counters(path, r, c, &n));
    MLOPS__TRY(read_window(path, r, c));
    MLOPS__TRY(read_alerts(path, r, c));
    MLOPS__TRY(read_pending(path, r, c));
    MLOPS__FAIL_IF(r->off != r->len, MLOPS_EFORMAT, "%s: state file has %zu trailing bytes", path,
                   r->len - r->off);
    c->rebase = 1;
    c->recorded = n.recorded;
    c->matched = n.matched;
    c->evicted_ttl = n.evicted_ttl;
    c->evicted_capacity = n.evicted_capacity;
    c->recomputes = n.recomputes;
    return MLOPS_OK;
}

static mlops_status parse(const char *path, const unsigned char *data, size_t len, mlops__monitor_core *out) {
    mlops__reader r = {data, len, 8, 0};
    MLOPS__TRY(read_header(path, data, len, &r));
    mlops_monitor_opts o = MLOPS_MONITOR_OPTS_INIT;
    MLOPS__TRY(read_options(path, &r, &o));
    mlops__monitor_core c;
    MLOPS__TRY(mlops__monitor_core_init(&c, &o));
    mlops_status st = read_sections(path, &r, &c);
    if (st != MLOPS_OK) {
        mlops__monitor_core_free(&c);
        return st;
    }
    *out = c;
    return MLOPS_OK;
}

mlops_status mlops__monitor_load_file(const char *path, mlops__monitor_core *out) {
    char *data;
    size_t len;
    if (path) mlops__remove_stale_temps_of(path); /* saves interrupted by a crash */
    mlops_status st = mlops__read_file(path, MAX_STATE_BYTES, &data, &len);
    if (st) return st;
    st = parse(path, (const unsigned char *)data, len, out);
    mlops__free(data);
    return st;
}
