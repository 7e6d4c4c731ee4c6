/* Metrics callbacks that call back into the library, and a render during series and collector
 * churn. A collector (and a monitor alert callback an attached monitor runs during a render) may
 * call anything, except the calls that would wait for the render itself: those return MLOPS_EBUSY
 * with a message (metrics.h). Linked with the monitor module for the alert path. */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mlops/metrics.h"
#include "mlops/monitor.h"
#include "harness.h"

#define ck_busy(call, needle)                                                                                \
    do {                                                                                                     \
        mlops_status st_ = (call);                                                                           \
        ck_assert_msg(st_ == MLOPS_EBUSY, "%s: got %d (%s)", #call, st_, mlops_last_error());                \
        ck_assert_msg(strstr(mlops_last_error(), needle), "%s: '%s' lacks '%s'", #call, mlops_last_error(),  \
                      needle);                                                                               \
    } while (0)

typedef struct {
    mlops_metrics *reg;
    mlops_metrics_std *std;
    int calls;
} reenter_ctx;

static mlops_status other_collector(mlops_metrics_writer *w, void *user) {
    (void)w, (void)user;
    return MLOPS_OK;
}

/* Re-enters from inside a render: the self-waiting calls are refused, the rest work. */
static mlops_status reentering_collector(mlops_metrics_writer *w, void *user) {
    reenter_ctx *c = user;
    c->calls++;
    char *text = NULL;
    ck_busy(mlops_metrics_render_alloc(c->reg, MLOPS_METRICS_PROMETHEUS, &text, NULL),
            "metrics_render: called from inside a render of the same registry");
    ck_assert_ptr_null(text);
    ck_busy(mlops_metrics_add_collector(c->reg, other_collector, NULL), "metrics_add_collector");
    ck_busy(mlops_metrics_remove_collector(c->reg, reentering_collector, c), "metrics_remove_collector");
    /* A standard set's lock is held only while its own collector runs (see alert_callback_during_render);
     * updates and registrations do not wait for a render. */
    ck_assert_int_eq(mlops_metrics_std_set_model_info(c->std, "m", "1", "binary:logistic", "native"),
                     MLOPS_OK);
    mlops_metrics_family *f = NULL;
    mlops_status st = mlops_metrics_find(c->reg, "reentry_total", &f);
    if (st == MLOPS_ENOTFOUND)
        st = mlops_metrics_register(c->reg, MLOPS_METRICS_COUNTER, "reentry_total", "h", NULL, &f);
    ck_assert_int_eq(st, MLOPS_OK);
    mlops_series *s = NULL;
    ck_assert_int_eq(mlops_metrics_series(f, NULL, 0, &s), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_counter_inc(s, 1), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_writer_family(w, MLOPS_METRICS_GAUGE, "reentry_gauge", "h", NULL, 0),
                     MLOPS_OK);
    return mlops_metrics_writer_sample(w, NULL, 0, 1);
}

START_TEST(collector_reenters) {
    mlops_metrics *reg = NULL;
    ck_assert_int_eq(mlops_metrics_create(NULL, &reg), MLOPS_OK);
    reenter_ctx c = {reg, NULL, 0};
    ck_assert_int_eq(mlops_metrics_std_create(reg, "ml", &c.std), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_add_collector(reg, reentering_collector, &c), MLOPS_OK);
    char *text = NULL;
    ck_assert_int_eq(mlops_metrics_render_alloc(reg, MLOPS_METRICS_PROMETHEUS, &text, NULL), MLOPS_OK);
    ck_assert_int_eq(c.calls, 1);
    ck_assert_ptr_nonnull(strstr(text, "\nreentry_gauge 1\n"));
    mlops_free(text);
    /* Outside a render the same calls work. */
    ck_assert_int_eq(mlops_metrics_std_set_model_info(c.std, "m", "1", "binary:logistic", "native"),
                     MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_remove_collector(reg, reentering_collector, &c), MLOPS_OK);
    mlops_metrics_free(reg);
}
END_TEST

/* The deadlock: an alert handler run by the monitor collector during a scrape sets the
 * model info and renders. Both would wait for the render that runs the handler. */
typedef struct {
    mlops_metrics *reg;
    mlops_metrics_std *std;
    int events;
    mlops_status info_st, render_st;
    char info_msg[512];
    mlops_monitor_stats stats;
    mlops_status stats_st;
} alert_ctx;

static void on_alert(mlops_monitor *m, const mlops_alert_event *e, void *user) {
    (void)e;
    alert_ctx *a = user;
    a->events++;
    a->info_st = mlops_metrics_std_set_model_info(a->std, "m", "2", "binary:logistic", "native");
    snprintf(a->info_msg, sizeof a->info_msg, "%s", mlops_last_error());
    char *text = NULL;
    a->render_st = mlops_metrics_render_alloc(a->reg, MLOPS_METRICS_PROMETHEUS, &text, NULL);
    mlops_free(text);
    a->stats.version = MLOPS_MONITOR_STATS_VERSION;
    a->stats_st = mlops_monitor_get_stats(m, &a->stats); /* the monitor itself is free */
}

START_TEST(alert_callback_during_render) {
    mlops_metrics *reg = NULL;
    ck_assert_int_eq(mlops_metrics_create(NULL, &reg), MLOPS_OK);
    alert_ctx a;
    memset(&a, 0, sizeof a);
    a.reg = reg;
    ck_assert_int_eq(mlops_metrics_std_create(reg, "ml", &a.std), MLOPS_OK);
    mlops_monitor_opts o = MLOPS_MONITOR_OPTS_INIT;
    o.window = 16;
    mlops_monitor *m = NULL;
    ck_assert_int_eq(mlops_monitor_create(&o, &m), MLOPS_OK);
    /* ROC AUC alerts are evaluated when metrics are read, i.e. by the render's collector. */
    mlops_alert_rule r = MLOPS_ALERT_RULE_INIT;
    r.metric = MLOPS_METRIC_ROC_AUC;
    r.direction = MLOPS_ALERT_BELOW;
    r.trigger = 0.9;
    r.clear = 0.95;
    r.min_count = 1;
    ck_assert_int_eq(mlops_monitor_set_alert(m, &r), MLOPS_OK);
    ck_assert_int_eq(mlops_monitor_set_alert_callback(m, on_alert, &a), MLOPS_OK);
    double hi = 0.9, lo = 0.1;
    ck_assert_int_eq(mlops_monitor_record(m, &hi, 1, 0.0), MLOPS_OK); /* ranked the wrong way: AUC 0 */
    ck_assert_int_eq(mlops_monitor_record(m, &lo, 1, 1.0), MLOPS_OK);
    ck_assert_int_eq(mlops_metrics_attach_monitor(a.std, m), MLOPS_OK);
    char *text = NULL;
    ck_assert_int_eq(mlops_metrics_render_alloc(reg, MLOPS_METRICS_PROMETHEUS, &text, NULL), MLOPS_OK);
    mlops_free(text);
    ck_assert_int_eq(a.events, 1);
    ck_assert_int_eq(a.info_st, MLOPS_EBUSY);
    ck_assert_msg(strstr(a.info_msg, "metrics_std_set_model_info: called from inside a render"), "%s",
                  a.info_msg);
    ck_assert_int_eq(a.render_st, MLOPS_EBUSY);
    ck_assert_int_eq(a.stats_st, MLOPS_OK);
    ck_assert_uint_eq(a.stats.recorded, 2);
    ck_assert_int_eq(mlops_metrics_attach_monitor(a.std, NULL), MLOPS_OK);
    mlops_monitor_free(m);
    mlops_metrics_free(reg);
}
END_TEST

/* Renders while other threads add and remove collectors and create and update series. */
typedef struct {
    mlops_metrics *reg;
    mlops_metrics_family *fam;
    atomic_int stop;
    atomic_long renders, bad;
} churn;

static mlops_status counting_collector(mlops_metrics_writer *w, void *user) {
    (void)user;
    mlops_status st = mlops_metrics_writer_family(w, MLOPS_METRICS_GAUGE, "churn_collector", "h", NULL, 0);
    return st ? st : mlops_metrics_writer_sample(w, NULL, 0, 1);
}

static void *render_loop(void *arg) {
    churn *c = arg;
    while (!atomic_load(&c->stop)) {
        char *text = NULL;
        mlops_status st = mlops_metrics_render_alloc(c->reg, MLOPS_METRICS_PROMETHEUS, &text, NULL);
        /* a family shows once it has a series, always with its header */
        if (st != MLOPS_OK || (strstr(text, "churn_total{") && !strstr(text, "# TYPE churn_total counter\n")))
            atomic_fetch_add(&c->bad, 1);
        mlops_free(text);
        atomic_fetch_add(&c->renders, 1);
    }
    return NULL;
}

static void *collector_loop(void *arg) {
    churn *c = arg;
    static int users[8];
    for (int i = 0; i < 2000; i++) {
        void *u = &users[i % 8];
        if (mlops_metrics_add_collector(c->reg, counting_collector, u) != MLOPS_OK ||
            mlops_metrics_remove_collector(c->reg, counting_collector, u) != MLOPS_OK)
            atomic_fetch_add(&c->bad, 1);
    }
    return NULL;
}

static void *series_loop(void *arg) {
    churn *c = arg;
    char buf[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(buf, sizeof buf, "k%d", i % 500);
        const char *v = buf;
        if (mlops_metrics_counter_inc_labels(c->fam, &v, 1, 1) != MLOPS_OK) atomic_fetch_add(&c->bad, 1);
    }
    return NULL;
}

START_TEST(render_during_churn) {
    churn c;
    memset(&c, 0, sizeof c);
    ck_assert_int_eq(mlops_metrics_create(NULL, &c.reg), MLOPS_OK);
    const char *k[] = {"key"};
    mlops_metrics_family_opts o = MLOPS_METRICS_FAMILY_OPTS_INIT;
    o.label_names = k;
    o.n_labels = 1;
    o.max_series = 1000;
    ck_assert_int_eq(mlops_metrics_register(c.reg, MLOPS_METRICS_COUNTER, "churn_total", "h", &o, &c.fam),
                     MLOPS_OK);
    pthread_t r[2], w[3];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&r[i], NULL, render_loop, &c), 0);
    while (atomic_load(&c.renders) == 0) /* renders run before the churn starts, and during it */
        sched_yield();
    ck_assert_int_eq(pthread_create(&w[0], NULL, collector_loop, &c), 0);
    ck_assert_int_eq(pthread_create(&w[1], NULL, series_loop, &c), 0);
    ck_assert_int_eq(pthread_create(&w[2], NULL, series_loop, &c), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(w[i], NULL);
    atomic_store(&c.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    ck_assert_int_eq(atomic_load(&c.bad), 0);
    ck_assert_int_gt(atomic_load(&c.renders), 0);
    ck_assert_uint_eq(mlops_metrics_family_n_series(c.fam), 500);
    char *text = NULL;
    ck_assert_int_eq(mlops_metrics_render_alloc(c.reg, MLOPS_METRICS_PROMETHEUS, &text, NULL), MLOPS_OK);
    ck_assert_ptr_nonnull(strstr(text, "churn_total{key=\"k0\"} 8\n")); /* 2 threads x 4 rounds of 500 */
    ck_assert_ptr_null(strstr(text, "churn_collector"));                /* every collector removed */
    mlops_free(text);
    mlops_metrics_free(c.reg);
}
END_TEST

static Suite *make_suite(void) {
    TCase *tc;
    Suite *s = test_suite_single("metrics-reentry", 120, NULL, NULL, &tc);
    tcase_add_test(tc, collector_reenters);
    tcase_add_test(tc, alert_callback_during_render);
    tcase_add_test(tc, render_during_churn);
    return s;
}

MLOPS_TEST_MAIN(make_suite)
