#!/usr/bin/python3
"""A real Prometheus server (Debian's /usr/bin/prometheus) scrapes our exposition and stores the right values.

Usage: test_prometheus_server.py PATH/TO/metrics_sample

metrics_sample serves a registry on 127.0.0.1 (a free port): /metrics in text format 0.0.4 and
/openmetrics in OpenMetrics 1.0. Prometheus runs on loopback with a temporary storage directory and a
1 s scrape interval, one job per format. The test waits for both targets to be up, then queries
/api/v1/query and checks series and values. Bounded to ~45 s; exits 77 (skip) if prometheus is absent.
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from harness import free_port, prometheus_query as query  # noqa: E402

PROMETHEUS = "/usr/bin/prometheus"
DEADLINE = 45.0

SPEC = {"families": [
    {"type": "counter", "name": "demo_requests_total", "help": "Requests.", "labels": ["method", "path"],
     "series": [{"labels": ["GET", "/a\"b\\c\nd"], "ops": [3]}, {"labels": ["POST", "naïve ☃"], "ops": [0.5, 0.25]}]},
    {"type": "gauge", "name": "demo_gauge", "help": "Gauge.", "labels": ["k"],
     "series": [{"labels": ["nan"], "ops": ["NaN"]}, {"labels": ["pinf"], "ops": ["+Inf"]},
                {"labels": ["third"], "ops": [1.0 / 3.0]}, {"labels": ["small"], "ops": [1e-05]}]},
    {"type": "histogram", "name": "demo_latency_seconds", "help": "Latency.", "labels": [],
     "series": [{"labels": [], "ops": [0.001, 0.3, 0.3, 7, 20]}]},
]}


def main():
    if not os.path.exists(PROMETHEUS):
        print("SKIP: %s is not installed (Debian package prometheus)" % PROMETHEUS)
        return 77
    exe = sys.argv[1]
    start = time.monotonic()
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        spec = os.path.join(tmp, "spec.json")
        with open(spec, "w", encoding="utf-8") as f:
            json.dump(SPEC, f)
        server = subprocess.Popen([exe, spec, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        prom = None
        try:
            line = server.stdout.readline()
            assert line.startswith("PORT "), "metrics_sample did not start: %r" % line
            target = "127.0.0.1:%d" % int(line.split()[1])
            pport = free_port()
            config = os.path.join(tmp, "prometheus.yml")
            with open(config, "w") as f:
                f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                        "scrape_configs:\n"
                        "  - job_name: text004\n    metrics_path: /metrics\n"
                        "    static_configs:\n      - targets: ['%s']\n"
                        "  - job_name: openmetrics\n    metrics_path: /openmetrics\n"
                        "    static_configs:\n      - targets: ['%s']\n" % (target, target))
            log = open(os.path.join(tmp, "prometheus.log"), "w")
            prom = subprocess.Popen([PROMETHEUS, "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(tmp, "data"),
                                     "--web.listen-address=127.0.0.1:%d" % pport, "--log.level=warn"],
                                    stdout=log, stderr=subprocess.STDOUT)
            # Wait until both jobs are up and have been scraped at least twice.
            ready = False
            while time.monotonic() - start < DEADLINE:
                if prom.poll() is not None:
                    break
                try:
                    up = query(pport, "up")
                    scr = query(pport, "sample_scrapes_total")
                    if (len(up) == 2 and all(r["value"][1] == "1" for r in up) and len(scr) == 4
                            and all(float(r["value"][1]) >= 2 for r in scr)):
                        ready = True
                        break
                except (OSError, ValueError):
                    pass
                time.sleep(0.5)
            if not ready:
                log.flush()
                with open(os.path.join(tmp, "prometheus.log")) as f:
                    print(f.read()[-3000:])
                print("FAIL: Prometheus did not scrape both targets within %.0f s" % DEADLINE)
                return 1
            print("ok   prometheus scraped both formats after %.1f s" % (time.monotonic() - start))

            def check(expr, want, job_count=2):
                res = query(pport, expr)
                jobs = sorted(r["metric"].get("job") for r in res)
                if jobs != sorted(["openmetrics", "text004"][:job_count]) and job_count == 2:
                    failures.append("%s: series for jobs %r" % (expr, jobs))
                    return
                for r in res:
                    got = float(r["value"][1])
                    if not ((math.isnan(want) and math.isnan(got)) or got == want):
                        failures.append("%s [%s]: got %r, want %r" % (expr, r["metric"].get("job"), got, want))
                        return
                print("ok   %s = %r in both jobs" % (expr, want))

            check('demo_requests_total{method="GET",path="/a\\"b\\\\c\\nd"}', 3.0)
            check('demo_requests_total{method="POST",path="naïve ☃"}', 0.75)
            check('demo_gauge{k="nan"}', float("nan"))
            check('demo_gauge{k="pinf"}', float("inf"))
            check('demo_gauge{k="third"}', 1.0 / 3.0)
            check('demo_gauge{k="small"}', 1e-05)
            check('demo_latency_seconds_bucket{le="0.005"}', 1.0)
            check('demo_latency_seconds_bucket{le="0.5"}', 3.0)
            check('demo_latency_seconds_bucket{le="10"}', 4.0)
            check('demo_latency_seconds_bucket{le="+Inf"}', 5.0)
            check("demo_latency_seconds_count", 5.0)
            check("demo_latency_seconds_sum", 0.001 + 0.3 + 0.3 + 7 + 20)
            # Prometheus itself computes from our buckets: 3 of 5 observations are <= 0.5 s.
            res = query(pport, 'demo_latency_seconds_bucket{le="0.5"} / ignoring(le) demo_latency_seconds_count')
            if len(res) != 2 or any(abs(float(r["value"][1]) - 0.6) > 1e-12 for r in res):
                failures.append("bucket ratio query: %r" % res)
            # Exactly the series we exposed (per job): 2 counters, 4 gauges, 12 buckets + _count + _sum.
            res = query(pport, '{__name__=~"demo_.*",job="text004"}')
            if len(res) != 2 + 4 + 12 + 2:
                failures.append("text004 has %d demo series, want 20" % len(res))
        finally:
            if prom is not None:
                prom.terminate()
                try:
                    prom.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    prom.kill()
            server.stdin.close()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
    for f in failures:
        print("FAIL", f)
    print("%d failed (%.1f s)" % (len(failures), time.monotonic() - start))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
