/* A/B significance tests from summary statistics: the pooled two-proportion z-test and Welch's
 * t-test. See include/mlops/router.h for the contract; the distributions are GSL's. */
#include <gsl/gsl_cdf.h>
#include <math.h>

#include "internal.h"
#include "mlops/router.h"

mlops_status mlops_ab_proportions_ztest(uint64_t successes_a, uint64_t n_a, uint64_t successes_b,
                                        uint64_t n_b, mlops_ab_test *out) {
    MLOPS__CHECK_ARG("router", out);
    if (n_a == 0 || n_b == 0)
        return mlops__fail(MLOPS_EINVAL, "router: ztest: empty sample (n_a %llu, n_b %llu)",
                           (unsigned long long)n_a, (unsigned long long)n_b);
    if (successes_a > n_a || successes_b > n_b)
        return mlops__fail(MLOPS_EINVAL,
                           "router: ztest: more successes than trials (%llu of %llu, %llu of %llu)",
                           (unsigned long long)successes_a, (unsigned long long)n_a,
                           (unsigned long long)successes_b, (unsigned long long)n_b);
    double na = (double)n_a, nb = (double)n_b;
    double pa = (double)successes_a / na, pb = (double)successes_b / nb;
    double p = ((double)successes_a + (double)successes_b) / (na + nb);
    if (p <= 0.0 || p >= 1.0)
        return mlops__fail(MLOPS_ESTATE, "router: ztest: pooled proportion is %g: the test is undefined", p);
    double z = (pa - pb) / sqrt(p * (1.0 - p) * (1.0 / na + 1.0 / nb));
    *out = (mlops_ab_test){z, 2.0 * gsl_cdf_ugaussian_Q(fabs(z)), 0.0};
    return MLOPS_OK;
}

static int bad_variance(double v) { return !isfinite(v) || v < 0.0; }

mlops_status mlops_ab_welch_ttest(double mean_a, double var_a, uint64_t n_a, double mean_b, double var_b,
                                  uint64_t n_b, mlops_ab_test *out) {
    MLOPS__CHECK_ARG("router", out);
    if (n_a < 2 || n_b < 2)
        return mlops__fail(MLOPS_EINVAL, "router: welch: each sample needs 2 values (n_a %llu, n_b %llu)",
                           (unsigned long long)n_a, (unsigned long long)n_b);
    if (!isfinite(mean_a) || !isfinite(mean_b) || bad_variance(var_a) || bad_variance(var_b))
        return mlops__fail(MLOPS_EINVAL,
                           "router: welch: means must be finite and variances finite and >= 0 "
                           "(mean %g, %g; variance %g, %g)",
                           mean_a, mean_b, var_a, var_b);
    double sa = var_a / (double)n_a, sb = var_b / (double)n_b, se2 = sa + sb;
    if (se2 <= 0.0)
        return mlops__fail(MLOPS_ESTATE, "router: welch: both variances are 0: the test is undefined");
    double t = (mean_a - mean_b) / sqrt(se2);
    double df = se2 * se2 / (sa * sa / (double)(n_a - 1) + sb * sb / (double)(n_b - 1));
    *out = (mlops_ab_test){t, 2.0 * gsl_cdf_tdist_Q(fabs(t), df), df};
    return MLOPS_OK;
}
