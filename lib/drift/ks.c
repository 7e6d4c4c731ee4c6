/* Two-sample Kolmogorov-Smirnov test, matching scipy.stats.ks_2samp (SciPy 1.10).
 *
 * Written for libmlops from the published algorithms:
 *  - exact two-sample distribution: Hodges (1958) lattice-path counting, with
 *    Viehmann (2021, arXiv:2102.08037) recursion for 1 - P(inside);
 *  - one-sample two-sided Kolmogorov distribution: Simard & L'Ecuyer (2011)
 *    decision rule, Durbin's matrix (Marsaglia, Tsang & Wang 2003),
 *    Pelz & Good (1976) for large n, Smirnov/Birnbaum-Tingey one-sided sum;
 *  - one-sided asymptotic: Hodges (1958) eq. 5.3.
 * The branch points, rounding of the statistic and the fall-backs follow SciPy
 * 1.10 so that the results agree with it (see tests/drift/gen_ks_fixtures.py).
 */
#include <float.h>
#include <gsl/gsl_sort.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "drift/ks_internal.h"
#include "internal.h"
#include "mlops/drift.h"

/* ---------------------------------------------------------------------------
 * One-sided one-sample distribution (Smirnov / Birnbaum-Tingey):
 *   P(D+_n >= x) = x * sum_{v=0}^{floor(n(1-x))} C(n,v) (x+v/n)^(v-1) (1-x-v/n)^(n-v)
 * evaluated in long double with logarithms (every term is positive).
 * ------------------------------------------------------------------------- */

#define KS_MINLOG (-708.3964185322641) /* log(DBL_MIN) */

/* log k! for k <= KS_LF_MAX, each from lgamma (~1 ulp; no accumulated rounding), built
 * once per process: log C(n, v) = lf[n] - lf[v] - lf[n - v] replaces one log per term of
 * the one-sided sum (a quarter of its transcendental calls) for n <= KS_LF_MAX. */
#define KS_LF_MAX 4096
static double ks_lf[KS_LF_MAX + 1];
static pthread_once_t ks_lf_once = PTHREAD_ONCE_INIT;
static void ks_lf_init(void) {
    for (int k = 0; k <= KS_LF_MAX; k++)
        ks_lf[k] = lgamma((double)k + 1.0);
}

double mlops__smirnov_sf(long n, double x) {
    if (!(n > 0 && x >= 0.0 && x <= 1.0)) return NAN;
    if (n == 1) return 1.0 - x;
    if (x == 0.0) return 1.0;
    if (x == 1.0) return 0.0;
    /* floor(n*x) and the fractional part, exactly (n*x = hi + lo). */
    double hi = (double)n * x;
    double lo = fma((double)n, x, -hi);
    double fl = floor(hi);
    if (fl == hi && lo < 0) fl -= 1.0;
    double alpha = (hi - fl) + lo;
    long nxfl = (long)fl;
    if (alpha >= 1.0) {
        nxfl += 1;
        alpha = 0.0;
    }
    if (nxfl == 0 || (nxfl == 1 && alpha == 0)) {
        /* x <= 1/n: cdf = x (1+x)^(n-1) */
        double cdf = (double)((long double)x * powl(1.0L + (long double)x, (long double)(n - 1)));
        return 1.0 - cdf;
    }
    if ((double)(-2 * n) * x * x < KS_MINLOG) return 0.0;
    if (nxfl >= n - 1) return (double)powl(1.0L - (long double)x, (long double)n);
    if (n > 1000000) {
        /* SciPy's approximation for very large n: p ~ exp(-(6nx+1)^2 / 18n) */
        double logp = -pow(6.0 * (double)n * x + 1, 2) / 18.0 / (double)n;
        if (logp < -M_LN2) return exp(logp);
        return 1.0 - (-expm1(logp));
    }
    long last = n - nxfl - (alpha == 0 ? 0 : 1);
    if (alpha == 0) last -= 1;
    long upper_first = n - nxfl + (alpha == 0 ? 1 : 0);
    long n_upper = n - upper_first + 1;
    int use_upper = (n_upper <= 1 && x < 0.5) || (n >= 10 && n_upper <= 3 && x <= 0.5 / sqrt((double)n));
    long double lx = x, ln = (long double)n;
    long double lgn1 = lgammal(ln + 1.0L);
    if (use_upper) {
        /* cdf = x * sum_{v=upper_first}^{n} C(n,v) (x+v/n)^(v-1) (1-x-v/n)^(n-v), a few terms */
        long double s = 0.0L;
        for (long v = upper_first; v <= n; v++) {
            long double a = lx + (long double)v / ln;
            long double b = ((long double)(n - v - nxfl) - (long double)alpha) / ln; /* 1 - x - v/n (< 0) */
            long double lc = lgn1 - lgammal((long double)v + 1.0L) - lgammal((long double)(n - v) + 1.0L);
            long double t = expl(lc + (long double)(v - 1) * logl(a));
            if (n - v > 0) t *= powl(b, (long double)(n - v));
            s += t;
        }
        double cdf = (double)(lx * s);
        if (cdf < 0) cdf = 0;
        if (cdf > 1) cdf = 1;
        return 1.0 - cdf;
    }
    /* Up to n = 10^5 the terms are summed in double (log, exp): each term's logarithm is a sum
     * of magnitude <~ n with relative rounding ~1e-16, so the sum stays within ~1e-10 relative
     * -- inside the 1e-8 contract -- at several times the speed of long double, which matters
     * for reports (one p-value per feature). Larger n keeps long double. */
    double sf;
    long n_terms = last + 1;
    if (n <= 100000) {
        double sum = 0.0, logc = 0.0, dn = (double)n, dx = x, dalpha = alpha; /* logc = log C(n, v) */
        const double *lf = NULL;
        if (n <= KS_LF_MAX && pthread_once(&ks_lf_once, ks_lf_init) == 0) lf = ks_lf;
        for (long v = 0; v < n_terms; v++) {
            double a = dx + (double)v / dn;
            double b = ((double)(n - v - nxfl) - dalpha) / dn;
            double t;
            if (b <= 0.0) {
                t = 0.0;
            } else {
                double lt = (lf ? lf[n] - lf[v] - lf[n - v] : logc) + (double)(n - v) * log(b);
                lt += (v == 1) ? 0.0 : (double)(v - 1) * log(a);
                t = exp(lt);
            }
            sum += t;
            if (t != 0.0) {
                if (4.0 * (double)(n_terms - v) * t < DBL_EPSILON * sum && v != n_terms - 1) break;
            } else if (v > n / 2) {
                break;
            }
            if (!lf) logc += log((double)(n - v) / (double)(v + 1));
        }
        sf = dx * sum;
    } else {
        long double sum = 0.0L;
        long double logc = 0.0L; /* log C(n, v) */
        for (long v = 0; v < n_terms; v++) {
            long double a = lx + (long double)v / ln;
            long double b = ((long double)(n - v - nxfl) - (long double)alpha) / ln;
            long double t;
            if (b <= 0.0L) {
                t = 0.0L;
            } else {
                long double lt = logc + (long double)(n - v) * logl(b);
                lt += (v == 1) ? 0.0L : (long double)(v - 1) * logl(a);
                t = expl(lt);
            }
            sum += t;
            if (t != 0.0L) {
                if (4.0L * (long double)(n_terms - v) * t < (long double)DBL_EPSILON * sum &&
                    v != n_terms - 1)
                    break;
            } else if (v > n / 2) {
                break;
            }
            logc += logl((long double)(n - v) / (long double)(v + 1));
        }
        sf = (double)(lx * sum);
    }
    if (sf < 0) sf = 0;
    if (sf > 1) sf = 1;
    return sf;
}

/* ---------------------------------------------------------------------------
 * Two-sided one-sample Kolmogorov distribution P(D_n <= x).
 * ------------------------------------------------------------------------- */

static double clip01(double p) { return p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p); }

/* Durbin's matrix: P(D_n <= d) = n!/n^n * (H^n)[k-1][k-1] (Marsaglia, Tsang & Wang). */
static void mat_mul(const double *a, const double *b, double *out, int m) {
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < m; j++) {
            double s = 0.0;
            for (int l = 0; l < m; l++)
                s += a[i * m + l] * b[l * m + j];
            out[i * m + j] = s;
        }
    }
}

static double kolmogn_durbin_cdf(long n, double d) {
    if (d >= 1.0) return 1.0;
    double nd = (double)n * d;
    if (nd <= 0.5) return 0.0;
    int k = (int)ceil(nd);
    double h = (double)k - nd;
    int m = 2 * k - 1;
    size_t mm = (size_t)m * (size_t)m;
    double *buf = mlops__malloc(4 * mm * sizeof(double));
    if (!buf) return NAN;
    double *H = buf, *P = buf + mm, *T = buf + 2 * mm, *v = buf + 3 * mm;
    double fac = 1.0;
    double *w = v + m; /* second row of scratch (m <= mm - m when m >= 2; handled below) */
    double wsmall[2];
    if (m < 2) w = wsmall;
    for (int j = 1; j <= m; j++) {
        w[j - 1] = fac;
        fac /= j;
        v[j - 1] = (1.0 - pow(h, j)) * fac;
    }
    double tt = pow(fmax(2 * h - 1.0, 0.0), m) - 2 * pow(h, m);
    v[m - 1] = (1.0 + tt) * fac;
    memset(H, 0, mm * sizeof(double));
    for (int i = 1; i < m; i++)
        for (int r = i - 1; r < m; r++)
            H[r * m + i] = w[r - (i - 1)];
    for (int r = 0; r < m; r++)
        H[r * m] = v[r];
    for (int c = 0; c < m; c++)
        H[(m - 1) * m + c] = v[m - 1 - c];
    memset(P, 0, mm * sizeof(double));
    for (int i = 0; i < m; i++)
        P[i * m + i] = 1.0;
    long nn = n;
    int expnt = 0, hexpnt = 0;
    while (nn > 0) {
        if (nn % 2) {
            mat_mul(P, H, T, m);
            memcpy(P, T, mm * sizeof(double));
            expnt += hexpnt;
        }
        mat_mul(H, H, T, m);
        memcpy(H, T, mm * sizeof(double));
        hexpnt *= 2;
        if (fabs(H[(k - 1) * m + (k - 1)]) > 0x1p128) {
            for (size_t i = 0; i < mm; i++)
                H[i] *= 0x1p-128;
            hexpnt += 128;
        }
        nn /= 2;
    }
    long double p = P[(k - 1) * m + (k - 1)];
    mlops__free(buf);
    for (long i = 1; i <= n; i++) {
        p = (long double)i * p / (long double)n;
        if (fabsl(p) < 0x1p-128L) {
            p *= 0x1p128L;
            expnt -= 128;
        }
    }
    if (expnt != 0) p = ldexpl(p, expnt);
    return clip01((double)p);
}

/* Pelz & Good (1976) approximation of P(D_n <= x). */
static double kolmogn_pelz_good_cdf(long n, double x) {
    if (x <= 0.0) return 0.0;
    if (x >= 1.0) return 1.0;
    const double pi2 = M_PI * M_PI, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
    const double sqrt2pi = sqrt(2 * M_PI);
    double z = sqrt((double)n) * x;
    double z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
    double qlog = -pi2 / 8 / z2;
    if (qlog < -708) return 0.0;
    double q = exp(qlog);
    double k1a = -z2, k1b = pi2 / 4;
    double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4, k2c = pi4 * (1 - 2 * z2) / 16;
    double k3d = pi6 * (5 - 30 * z2) / 64, k3c = pi4 * (-60 * z2 + 212 * z4) / 16;
    double k3b = pi2 * (135 * z4 - 96 * z6) / 4, k3a = -30 * z6 - 90 * pow(z, 8);
    double K[4] = {0, 0, 0, 0};
    int maxk = (int)ceil(16 * z / M_PI);
    for (int k = maxk; k > 0; k--) {
        double mo = 2 * k - 1, m2 = mo * mo, m4 = m2 * m2, m6 = m4 * m2;
        double qp = pow(q, 8 * k);
        double c[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6};
        for (int i = 0; i < 4; i++)
            K[i] = K[i] * qp + c[i];
    }
    double den[4] = {z, 6 * z4, 72 * pow(z, 7), 6480 * pow(z, 10)};
    for (int i = 0; i < 4; i++)
        K[i] = K[i] * q * sqrt2pi / den[i];
    double q2 = exp(-pi2 / 2 / z2);
    double s2 = 0.0, s3 = 0.0, sqrt3z = sqrt(3.0) * z;
    for (int k = maxk; k > 0; k--) {
        double kk = (double)k * k, qk = pow(q2, kk), kpi = M_PI * k;
        s2 += kk * qk;
        s3 += (sqrt3z + kpi) * (sqrt3z - kpi) * kk * qk;
    }
    K[2] += s2 * (pi2 * sqrt2pi / (-36 * z3));
    K[3] += s3 * (pi2 * sqrt2pi / (216 * z6));
    double sum = 0.0;
    for (int i = 0; i < 4; i++)
        sum += K[i] / pow((double)n, i / 2.0);
    return sum;
}

static double log_nfact_div_npown(long n) {
    /* log(n!/n^n) by Stirling's series with log(n^n) removed first */
    static const double c[] = {-2.955065359477124183e-2,  6.4102564102564102564e-3, -1.9175269175269175269e-3,
                               8.4175084175084175084e-4,  -5.952380952380952381e-4, 7.9365079365079365079e-4,
                               -2.7777777777777777778e-3, 8.3333333333333333333e-2};
    double rn = 1.0 / (double)n, r2 = rn / (double)n, s = 0.0;
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        s = s * r2 + c[i];
    return log((double)n) / 2 - (double)n + log(2 * M_PI) / 2 + rn * s;
}

double mlops__kolmogn_sf(long n, double x) {
    if (isnan(x) || n <= 0) return NAN;
    if (x >= 1.0) return 0.0;
    if (x <= 0.0) return 1.0;
    double t = (double)n * x;
    if (t <= 1.0) {
        if (t <= 0.5) return 1.0;
        double prob;
        if (n <= 140) {
            prob = 1.0;
            for (long i = 1; i <= n; i++)
                prob *= (double)i * (1.0 / (double)n) * (2 * t - 1);
        } else {
            prob = exp(log_nfact_div_npown(n) + (double)n * log(2 * t - 1));
        }
        return clip01(1.0 - prob);
    }
    if (t >= (double)(n - 1)) return clip01(2 * pow(1.0 - x, (double)n));
    if (x >= 0.5) return clip01(2 * mlops__smirnov_sf(n, x));
    double nx2 = t * x;
    if (n <= 140) {
        if (nx2 <= 4) return clip01(1.0 - kolmogn_durbin_cdf(n, x));
        return clip01(2 * mlops__smirnov_sf(n, x));
    }
    if (nx2 >= 370.0) return 0.0;
    if (nx2 >= 2.2) return clip01(2 * mlops__smirnov_sf(n, x));
    double cdf;
    if (n <= 100000 && (double)n * pow(x, 1.5) <= 1.4)
        cdf = kolmogn_durbin_cdf(n, x);
    else
        cdf = kolmogn_pelz_good_cdf(n, x);
    return clip01(1.0 - cdf);
}

/* ---------------------------------------------------------------------------
 * Exact two-sample distribution.
 * ------------------------------------------------------------------------- */

/* P(D_{n,n} >= h/n), Horner-like alternating sum of ratios of binomials. */
static double prob_outside_square(long n, long h) {
    double P = 0.0;
    long k = (long)floor((double)n / (double)h);
    while (k >= 0) {
        double p1 = 1.0;
        for (long j = 0; j < h; j++)
            p1 = (double)(n - k * h - j) * p1 / (double)(n + k * h + j + 1);
        P = p1 * (1.0 - P);
        k--;
    }
    return 2 * P;
}

/* 1 - P(all lattice paths stay strictly inside |x/m - y/n| < h/lcm), computed
 * directly with Viehmann's recursion over one sliding column. */
static double outer_prob_inside(long m, long n, long g, long h, int divide, int *ok) {
    if (m < n) {
        long t = m;
        m = n;
        n = t;
    }
    long mg = m / g, ng = n / g;
    long minj = 0, maxj = (long)ceil((double)h / (double)mg);
    if (maxj > n + 1) maxj = n + 1;
    long curlen = maxj - minj;
    long lenA = 2 * maxj + 2 < n + 1 ? 2 * maxj + 2 : n + 1;
    double *A = mlops__malloc((size_t)(lenA + m + n + 1) * sizeof(double));
    if (!A) {
        *ok = -1; /* out of memory: not the same as infeasible */
        return NAN;
    }
    double *rec = A + lenA; /* rec[k] = 1/k */
    rec[0] = 0.0;
    for (long k = 1; k <= m + n; k++)
        rec[k] = 1.0 / (double)k;
    for (long i = 0; i < lenA; i++)
        A[i] = i < maxj ? 0.0 : 1.0;
    *ok = 1;
    for (long i = 1; i <= m; i++) {
        long lastminj = minj, lastlen = curlen;
        minj = (long)floor((double)(ng * i - h) / (double)mg) + 1;
        if (minj < 0) minj = 0;
        if (minj > n) minj = n;
        maxj = (long)ceil((double)(ng * i + h) / (double)mg);
        if (maxj > n + 1) maxj = n + 1;
        if (maxj <= minj) {
            mlops__free(A);
            return 1.0;
        }
        double val = minj == 0 ? 0.0 : 1.0;
        /* SciPy divides by (i + j) in the loop; multiplying by a tabulated 1/(i + j) keeps
         * the division out of the chain val -> val. Where values sink towards the subnormal
         * range that loses relative precision, the caller reruns with SciPy's division. */
        const double di = (double)i, *ri = rec + i + minj;
        const double *prev = A + (minj - lastminj);
        long len = maxj - minj;
        if (divide) {
            for (long jj = 0; jj < len; jj++) {
                long j = jj + minj;
                val = (prev[jj] * di + val * (double)j) / (double)(i + j);
                A[jj] = val;
            }
        } else {
            for (long jj = 0; jj < len; jj++) {
                double r = ri[jj];
                val = val * ((double)(jj + minj) * r) + prev[jj] * (di * r);
                A[jj] = val;
            }
        }
        curlen = maxj - minj;
        if (lastlen > curlen) {
            long end = maxj - minj + (lastlen - curlen);
            if (end > lenA) end = lenA;
            for (long q = maxj - minj; q < end; q++)
                A[q] = 1.0;
        }
    }
    double r = A[maxj - minj - 1];
    mlops__free(A);
    return r;
}

/* Binomial coefficient as SciPy's special.binom computes it for integers:
 * a product for small k, otherwise from log-factorials (lf = log(i!), i <= top). */
static double binom_int(long n, long k, const long double *lf) {
    if (n < 0 || k < 0 || k > n) return k < 0 || (n >= 0 && k > n) ? 0.0 : NAN;
    long kx = k;
    if (kx > n / 2.0 && n > 0) kx = n - kx;
    if (kx < 20) {
        double num = 1.0, den = 1.0;
        for (long i = 1; i <= kx; i++) {
            num *= (double)(i + n - kx);
            den *= (double)i;
            if (fabs(num) > 1e50) {
                num /= den;
                den = 1.0;
            }
        }
        return num / den;
    }
    long double l = lf[n] - lf[k] - lf[n - k];
    if (l > 709.782712893384L) return INFINITY;
    return (double)expl(l);
}

/* Number of lattice paths from (0,0) to (m,n) that reach the line n x - m y >= h g (Hodges). */
static double count_paths_outside(long m, long n, long g, long h, const long double *lf, int *ok) {
    if (m < n) {
        long t = m;
        m = n;
        n = t;
    }
    long mg = m / g, ng = n / g;
    long lxj = n + (mg - h) / mg;
    /* Python floor division: (mg - h) may be negative */
    if ((mg - h) % mg != 0 && (mg - h) < 0) lxj -= 1;
    *ok = 1;
    if (lxj <= 0) return binom_int(m + n, n, lf);
    long *xj = mlops__malloc((size_t)lxj * sizeof(long));
    double *B = mlops__malloc((size_t)lxj * sizeof(double));
    if (!xj || !B) {
        mlops__free(xj);
        mlops__free(B);
        *ok = -1; /* out of memory: not the same as infeasible */
        return NAN;
    }
    for (long j = 0; j < lxj; j++) {
        long num = h + mg * j + ng - 1;
        xj[j] = num >= 0 ? num / ng : -((-num + ng - 1) / ng);
    }
    B[0] = 1.0;
    double num_paths = NAN;
    for (long j = 1; j < lxj; j++) {
        double Bj = binom_int(xj[j] + j, j, lf);
        if (!isfinite(Bj)) goto fail;
        for (long i = 0; i < j; i++) {
            double bin = binom_int(xj[j] - xj[i] + j - i, j - i, lf);
            double prod = bin * B[i];
            if (!isfinite(prod)) goto fail;
            Bj -= prod;
            if (!isfinite(Bj)) goto fail;
        }
        B[j] = Bj;
    }
    num_paths = 0.0;
    for (long j = 0; j < lxj; j++) {
        double bin = binom_int((m - xj[j]) + (n - j), n - j, lf);
        double term = B[j] * bin;
        if (!isfinite(term)) goto fail;
        num_paths += term;
        if (!isfinite(num_paths)) goto fail;
    }
    mlops__free(xj);
    mlops__free(B);
    return num_paths;
fail:
    mlops__free(xj);
    mlops__free(B);
    *ok = 0;
    return NAN;
}

static long gcd_l(long a, long b) {
    while (b) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* SciPy's _attempt_exact_2kssamp. Returns 1 on success, 0 when infeasible (SciPy then falls back to
 * the asymptotic distribution), -1 when out of memory; *d is always rounded. */
static int attempt_exact(long n1, long n2, long g, double *d, mlops_drift_ks_alternative alt, double *prob) {
    long lcm = (n1 / g) * n2;
    long h = (long)nearbyint(*d * (double)lcm);
    *d = (double)h * 1.0 / (double)lcm;
    if (h == 0) {
        *prob = 1.0;
        return 1;
    }
    double p = NAN;
    int ok = 1;
    if (alt == MLOPS_DRIFT_KS_TWO_SIDED) {
        if (n1 == n2)
            p = prob_outside_square(n1, h);
        else {
            p = outer_prob_inside(n1, n2, g, h, 0, &ok);
            if (ok > 0 && p < 1e-280) p = outer_prob_inside(n1, n2, g, h, 1, &ok);
        }
    } else {
        if (n1 == n2) {
            p = 1.0;
            for (long j = 0; j < h; j++)
                p *= (double)(n1 - j) / ((double)n1 + (double)j + 1.0);
        } else {
            long top = n1 + n2 + 1;
            long double *lf = mlops__malloc((size_t)(top + 1) * sizeof(long double));
            if (!lf) return -1;
            lf[0] = 0.0L;
            for (long i = 1; i <= top; i++)
                lf[i] = lf[i - 1] + logl((long double)i);
            /* log-factorials by summation lose ~1e-16 per step; refresh from lgammal periodically */
            for (long i = 64; i <= top; i += 64)
                lf[i] = lgammal((long double)i + 1.0L);
            for (long i = 1; i <= top; i++)
                if (i % 64) lf[i] = lf[i - 1] + logl((long double)i);
            double paths = count_paths_outside(n1, n2, g, h, lf, &ok);
            double bin = ok > 0 ? binom_int(n1 + n2, n1, lf) : NAN;
            mlops__free(lf);
            if (ok > 0) {
                if (paths > bin || isinf(bin))
                    ok = 0;
                else
                    p = paths / bin;
            }
        }
    }
    if (ok <= 0) return ok;
    *prob = p;
    if (!(p >= 0 && p <= 1)) return 0;
    return 1;
}

mlops_status mlops__ks_pvalue_raw(double d, size_t n1s, size_t n2s, mlops_drift_ks_alternative alt,
                                  mlops_drift_ks_method method, double *d_out, double *pvalue,
                                  int *fell_back) {
    if (n1s > (size_t)LONG_MAX / 4 || n2s > (size_t)LONG_MAX / 4)
        return mlops__fail(MLOPS_EINVAL, "ks: sample sizes %zu and %zu are too large", n1s, n2s);
    long n1 = (long)n1s, n2 = (long)n2s;
    long g = gcd_l(n1, n2);
    long n1g = n1 / g, n2g = n2 / g;
    double prob = -INFINITY;
    if (fell_back) *fell_back = 0;
    if (method == MLOPS_DRIFT_KS_AUTO) {
        method = (n1 > n2 ? n1 : n2) <= 10000 ? MLOPS_DRIFT_KS_EXACT : MLOPS_DRIFT_KS_ASYMP;
    } else if (method == MLOPS_DRIFT_KS_EXACT) {
        if ((double)n1g >= 2147483647.0 / (double)n2g) {
            method = MLOPS_DRIFT_KS_ASYMP;
            if (fell_back) *fell_back = 1;
        }
    }
    if (method == MLOPS_DRIFT_KS_EXACT) {
        int r = attempt_exact(n1, n2, g, &d, alt, &prob);
        if (r < 0) return mlops__fail(MLOPS_ENOMEM, "ks: out of memory for the exact p-value (n=%ld, m=%ld)", n1, n2);
        if (!r) {
            method = MLOPS_DRIFT_KS_ASYMP;
            if (fell_back) *fell_back = 1;
        }
    }
    if (method == MLOPS_DRIFT_KS_ASYMP) {
        double m = (double)(n1 > n2 ? n1 : n2), n = (double)(n1 > n2 ? n2 : n1);
        double en = m * n / (m + n);
        if (alt == MLOPS_DRIFT_KS_TWO_SIDED) {
            double nr = nearbyint(en);
            if (nr < 1) {
                prob = NAN; /* SciPy: kstwo with n = 0 is undefined */
            } else {
                long nn = (long)nr;
                double a = 0.5 / nr;
                if (d <= a)
                    prob = 1.0;
                else if (d >= 1.0)
                    prob = 0.0;
                else
                    prob = mlops__kolmogn_sf(nn, d);
                if (isnan(prob)) /* only its Durbin matrix failing to allocate makes NaN here */
                    return mlops__fail(MLOPS_ENOMEM, "ks: out of memory for the asymptotic p-value (n=%ld)", nn);
            }
        } else {
            double z = sqrt(en) * d;
            double expt = -2 * (z * z) - 2 * z * (m + 2 * n) / sqrt(m * n * (m + n)) / 3.0;
            prob = exp(expt);
        }
    }
    if (!isnan(prob)) prob = clip01(prob);
    *d_out = d;
    *pvalue = prob;
    return MLOPS_OK;
}

static mlops_status check_enums(mlops_drift_ks_alternative alternative, mlops_drift_ks_method method) {
    if ((int)alternative < 0 || (int)alternative > 2)
        return mlops__fail(MLOPS_EINVAL,
                           "ks: unknown alternative %d (expected two-sided 0, less 1, greater 2)",
                           (int)alternative);
    if ((int)method < 0 || (int)method > 2)
        return mlops__fail(MLOPS_EINVAL, "ks: unknown method %d (expected auto 0, exact 1, asymp 2)",
                           (int)method);
    return MLOPS_OK;
}

mlops_status mlops_drift_ks_pvalue(double d, size_t n, size_t m, mlops_drift_ks_alternative alternative,
                                   mlops_drift_ks_method method, double *statistic_out, double *pvalue) {
    mlops_status st = check_enums(alternative, method);
    if (st) return st;
    MLOPS__CHECK_ARG("drift", pvalue);
    if (n == 0 || m == 0)
        return mlops__fail(MLOPS_EINVAL, "ks_pvalue: sample sizes must be positive (got %zu, %zu)", n, m);
    if (!(d >= 0.0 && d <= 1.0))
        return mlops__fail(MLOPS_EINVAL, "ks_pvalue: statistic %g is not in [0, 1]", d);
    double dd, p;
    st = mlops__ks_pvalue_raw(d, n, m, alternative, method, &dd, &p, NULL);
    if (st) return st;
    if (statistic_out) *statistic_out = dd;
    *pvalue = p;
    return MLOPS_OK;
}

void mlops__ks_statistic_sorted(const double *a, size_t n1, const double *b, size_t n2, double *max_s,
                                double *min_s) {
    /* ECDF difference cdf1 - cdf2 at every pooled value, as SciPy computes it in doubles */
    double mx = -INFINITY, mn = INFINITY;
    size_t i = 0, j = 0;
    double dn1 = (double)n1, dn2 = (double)n2;
    while (i < n1 || j < n2) {
        double v;
        if (j >= n2 || (i < n1 && a[i] <= b[j]))
            v = a[i];
        else
            v = b[j];
        while (i < n1 && a[i] <= v)
            i++;
        while (j < n2 && b[j] <= v)
            j++;
        double diff = (double)i / dn1 - (double)j / dn2;
        if (diff > mx) mx = diff;
        if (diff < mn) mn = diff;
    }
    *max_s = mx;
    *min_s = mn;
}

double mlops__ks_pick(double max_s, double min_s, mlops_drift_ks_alternative alt) {
    double minS = clip01(-min_s);
    if (alt == MLOPS_DRIFT_KS_LESS || (alt == MLOPS_DRIFT_KS_TWO_SIDED && minS > max_s)) return minS;
    return max_s;
}

/* Sort doubles (no NaN) ascending. gsl_sort is a heapsort: ~1.4 ms for 10^4 values here,
 * most of a one-off test. Sorting is not a distribution, so for large inputs this
 * uses an LSD radix sort on the order-preserving bit patterns (8-bit digits, passes where
 * every key has the same digit skipped), O(n) and ~10x faster; -0.0 sorts just before
 * +0.0, which the statistic treats as equal. Small inputs, or no scratch memory: gsl_sort. */
static void sort_doubles(double *v, size_t n) {
    if (n < 512) {
        gsl_sort(v, 1, n);
        return;
    }
    uint64_t *k = mlops__malloc(2 * n * sizeof *k);
    if (!k) {
        gsl_sort(v, 1, n);
        return;
    }
    uint64_t *tmp = k + n;
    static const uint64_t top = (uint64_t)1 << 63;
    size_t cnt[8][256];
    memset(cnt, 0, sizeof cnt);
    for (size_t i = 0; i < n; i++) {
        uint64_t b;
        memcpy(&b, &v[i], sizeof b);
        b = (b & top) ? ~b : (b | top);
        k[i] = b;
        for (int d = 0; d < 8; d++)
            cnt[d][(b >> (8 * d)) & 255]++;
    }
    for (int d = 0; d < 8; d++) {
        if (cnt[d][(k[0] >> (8 * d)) & 255] == n) continue; /* one digit value: nothing moves */
        size_t pos = 0;
        for (int c = 0; c < 256; c++) {
            size_t t = cnt[d][c];
            cnt[d][c] = pos;
            pos += t;
        }
        for (size_t i = 0; i < n; i++)
            tmp[cnt[d][(k[i] >> (8 * d)) & 255]++] = k[i];
        uint64_t *sw = k;
        k = tmp;
        tmp = sw;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t b = k[i];
        b = (b & top) ? (b & ~top) : ~b;
        memcpy(&v[i], &b, sizeof b);
    }
    mlops__free(k < tmp ? k : tmp);
}

mlops_status mlops_drift_ks_2samp(const double *x, size_t n, const double *y, size_t m,
                                  mlops_drift_ks_alternative alternative, mlops_drift_ks_method method,
                                  double *statistic, double *pvalue) {
    mlops_status st = check_enums(alternative, method);
    if (st) return st;
    MLOPS__CHECK_ARG("drift", statistic);
    MLOPS__CHECK_ARG("drift", pvalue);
    MLOPS__FAIL_IF(n == 0 || !x, MLOPS_EINVAL, "ks_2samp: sample x is empty");
    MLOPS__FAIL_IF(m == 0 || !y, MLOPS_EINVAL, "ks_2samp: sample y is empty");
    for (size_t i = 0; i < n; i++)
        if (isnan(x[i])) return mlops__fail(MLOPS_EINVAL, "ks_2samp: x[%zu] is NaN", i);
    for (size_t i = 0; i < m; i++)
        if (isnan(y[i])) return mlops__fail(MLOPS_EINVAL, "ks_2samp: y[%zu] is NaN", i);
    double *a = mlops__malloc((n + m) * sizeof(double));
    if (!a) return mlops__fail(MLOPS_ENOMEM, "ks_2samp: out of memory for %zu values", n + m);
    double *b = a + n;
    memcpy(a, x, n * sizeof(double));
    memcpy(b, y, m * sizeof(double));
    sort_doubles(a, n);
    sort_doubles(b, m);
    double mx, mn;
    mlops__ks_statistic_sorted(a, n, b, m, &mx, &mn);
    mlops__free(a);
    double d = mlops__ks_pick(mx, mn, alternative), p;
    st = mlops__ks_pvalue_raw(d, n, m, alternative, method, &d, &p, NULL);
    if (st) return st;
    *statistic = d;
    *pvalue = p;
    return MLOPS_OK;
}
