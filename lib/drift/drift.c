/* placeholder */
typedef int mlops__drift_placeholder;
