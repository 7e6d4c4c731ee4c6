/* Links libmlops built as a subproject: prints the library version and a two-sample KS test. */
#include <stdio.h>

#include <mlops.h>

int main(void) {
    const double x[] = {0.1, 0.4, 0.7, 1.3, 2.2, 2.9, 3.1};
    const double y[] = {0.5, 1.1, 1.9, 2.5, 3.3, 4.0, 4.4, 5.2};
    double d = 0, p = 0;
    mlops_status st = mlops_drift_ks_2samp(x, 7, y, 8, MLOPS_DRIFT_KS_TWO_SIDED, MLOPS_DRIFT_KS_AUTO, &d, &p);
    if (st != MLOPS_OK) {
        fprintf(stderr, "consumer: %s\n", mlops_last_error());
        return 1;
    }
    printf("%s %s %.17g %.17g\n", mlops_version_string(), MLOPS_VERSION_STRING, d, p);
    return 0;
}
