"""Reference values for the A/B significance tests (mlops_ab_proportions_ztest, mlops_ab_welch_ttest),
computed by SciPy 1.10 (Debian 12's python3-scipy).

z-test: statsmodels is not installed, so the reference is built from SciPy twice, independently:
the statistic and p-value from scipy.stats.norm (z from the pooled formula, p = 2 norm.sf(|z|)), and
chi2_contingency(correction=False) on the 2x2 table, whose chi-square is z^2 and whose p-value is
the same two-sided p (the test checks both).
Welch: scipy.stats.ttest_ind(a, b, equal_var=False) on raw samples; the C test gets each sample's
mean, unbiased variance (ddof=1) and size, computed here in float64.

Latency percentiles (mlops_router_latency_window_quantiles): numpy.percentile (default "linear") over the
last `capacity` of n log-normal latencies, at q = 0.5, 0.95, 0.99 and 0, 1.

Regenerate:  /usr/bin/python3 tests/router/gen_abtest.py
(writes tests/router/fixtures/abtest.txt and tests/router/fixtures/latency.txt)
Format: one case per line, numbers in %.17g.
    z  successes_a n_a successes_b n_b  z p chi2_p
    t  mean_a var_a n_a mean_b var_b n_b  t p
latency.txt: per case one line "capacity n p50 p95 p99 p0 p100", then a line of the n latencies.
"""
import os

import numpy as np
from scipy import stats

HERE = os.path.dirname(os.path.abspath(__file__))


def ztest_lines():
    cases = [(45, 100, 30, 100), (870, 1000, 850, 1000), (9000, 10000, 8950, 10000), (1, 3, 2, 3),
             (50, 50, 49, 60), (0, 10, 5, 10), (123456, 200000, 120000, 200000), (7, 9, 1, 12),
             (500, 1000, 500, 1000), (3, 1000000, 30, 1000000)]
    for sa, na, sb, nb in cases:
        p = (sa + sb) / (na + nb)
        z = (sa / na - sb / nb) / np.sqrt(p * (1 - p) * (1 / na + 1 / nb))
        pz = 2 * stats.norm.sf(abs(z))
        chi2, pchi, _, _ = stats.chi2_contingency([[sa, na - sa], [sb, nb - sb]], correction=False)
        assert np.isclose(chi2, z * z, rtol=1e-9)
        yield "z %d %d %d %d %.17g %.17g %.17g" % (sa, na, sb, nb, z, pz, pchi)


def welch_lines():
    rng = np.random.default_rng(20261202)
    shapes = [(0.30, 0.05, 200, 0.25, 0.08, 150), (1.0, 1.0, 2, 3.0, 2.0, 3), (0.1, 0.2, 1000, 0.1, 0.2, 1000),
              (5.0, 10.0, 30, 4.0, 1.0, 300), (0.02, 0.01, 5000, 0.021, 0.012, 4000), (0.0, 1.0, 10, 0.0, 0.0001, 2)]
    for ma, sda, na, mb, sdb, nb in shapes:
        a = rng.normal(ma, sda, na) ** 2  # squared errors, as the server tests them
        b = rng.normal(mb, sdb, nb) ** 2
        res = stats.ttest_ind(a, b, equal_var=False)
        yield "t %.17g %.17g %d %.17g %.17g %d %.17g %.17g" % (a.mean(), a.var(ddof=1), na, b.mean(),
                                                             b.var(ddof=1), nb, res.statistic, res.pvalue)


QS = [0.5, 0.95, 0.99, 0.0, 1.0]


def latency_cases():
    rng = np.random.default_rng(20261203)
    for capacity, n in [(1, 5), (7, 3), (100, 100), (1000, 2500), (4096, 1500), (64, 65)]:
        x = rng.lognormal(np.log(200e-6), 0.6, n)
        pct = np.percentile(x[-capacity:], [100 * q for q in QS])
        head = "%d %d " % (capacity, n) + " ".join("%.17g" % v for v in pct)
        yield head + "\n" + " ".join("%.17g" % v for v in x)


def main():
    os.makedirs(os.path.join(HERE, "fixtures"), exist_ok=True)
    with open(os.path.join(HERE, "fixtures", "abtest.txt"), "w") as f:
        for line in list(ztest_lines()) + list(welch_lines()):
            f.write(line + "\n")
    with open(os.path.join(HERE, "fixtures", "latency.txt"), "w") as f:
        for case in latency_cases():
            f.write(case + "\n")


if __name__ == "__main__":
    main()
