# issue 15 leftovers (branch v15b): the module prefixes that were allow-listed are renamed to the
# owning module's prefix. Apply with: sed -i -E -f scripts/rename-issue15b.sed FILES  (GNU sed, -E)
# Pure renames: same signature, new name. Each rule is anchored on word boundaries and applied once.
# metrics: series operations
s/\bmlops_counter_(inc|inc_labels)\b/mlops_metrics_counter_\1/g
s/\bmlops_gauge_(set|add|set_labels|add_labels)\b/mlops_metrics_gauge_\1/g
s/\bmlops_histogram_(observe|observe_labels|snapshot)\b/mlops_metrics_histogram_\1/g
# deploy: the promotion gate
s/\bmlops_gate_(opts_init|opts|report|metric_name|metric)\b/mlops_deploy_gate_\1/g
s/\bMLOPS_GATE_(OPTS_VERSION|OPTS_INIT|AUTO|NONE|ACCURACY|LOGLOSS|RMSE)\b/MLOPS_DEPLOY_GATE_\1/g
# drift: the two-sample Kolmogorov-Smirnov test
s/\bmlops_ks_(2samp|pvalue|method|alternative)\b/mlops_drift_ks_\1/g
s/\bMLOPS_KS_(TWO_SIDED|LESS|GREATER|AUTO|EXACT|ASYMP)\b/MLOPS_DRIFT_KS_\1/g
# router: the latency window of GET /ab
s/\bmlops_latency_window/mlops_router_latency_window/g
s/\bMLOPS_LATENCY_WINDOW_MAX\b/MLOPS_ROUTER_LATENCY_WINDOW_MAX/g
# monitor: the window metrics are computed (ROC AUC sort, alert evaluation), not read
s/\bmlops_monitor_get_metrics\b/mlops_monitor_compute_metrics/g
