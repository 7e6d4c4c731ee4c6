/* Internal KS helpers shared by the drift module's files. Never installed. */
#ifndef MLOPS_DRIFT_KS_INTERNAL_H
#define MLOPS_DRIFT_KS_INTERNAL_H

#include <stddef.h>

#include "mlops/drift.h"

/* P(D+_n >= x), one-sided one-sample (SciPy's special.smirnov). */
double mlops__smirnov_sf(long n, double x);
/* P(D_n >= x), two-sided one-sample (SciPy's stats.kstwo.sf). */
double mlops__kolmogn_sf(long n, double x);
/* p-value of statistic d for sizes n1, n2 following SciPy's ks_2samp; *d_out
 * receives the statistic SciPy reports (rounded in the exact path);
 * *fell_back (may be NULL) is set when exact was infeasible. */
mlops_status mlops__ks_pvalue_raw(double d, size_t n1, size_t n2, mlops_drift_ks_alternative alt,
                                  mlops_drift_ks_method method, double *d_out, double *pvalue,
                                  int *fell_back);
/* max and min over pooled values of cdf_a - cdf_b (sorted inputs), as doubles. */
void mlops__ks_statistic_sorted(const double *a, size_t n1, const double *b, size_t n2, double *max_s,
                                double *min_s);
/* The statistic SciPy reports for an alternative, from max/min of cdf1 - cdf2. */
double mlops__ks_pick(double max_s, double min_s, mlops_drift_ks_alternative alt);

#endif
