# issue 15 rename (branch v15). Apply with: sed -i -E -f /work/notes/rename.sed FILES  (GNU sed, -E)
# Pure renames: same signature, new name.
s/\bmlops_drift_new\b/mlops_drift_create/g
s/\bmlops_registry_open\b/mlops_registry_create/g
s/\bmlops_registry_load\b/mlops_registry_load_model/g
s/\bmlops_deployment\b/mlops_deploy/g
s/\bmlops_deploy_stats_get\b/mlops_deploy_get_stats/g
s/\bmlops_router_stats\b/mlops_router_get_variant_stats/g
s/\bmlops_schema_parse\b/mlops_schema_load_buffer/g
s/\bmlops_schema_to_json\b/mlops_schema_save_buffer/g
s/\bmlops_report_new\b/mlops_schema_report_create/g
s/\bmlops_report\b/mlops_schema_report/g
s/\bmlops_report_(free|clear|n_rows|n_invalid|count|n_omitted|row|feature|feature_name|kind|message)\b/mlops_schema_report_\1/g
# Options initialisers now take the caller's version (stamped into opts->version).
s/\bmlops_(deploy|gate|drift|metrics|metrics_family|model|monitor|registry|router|schema_infer)_opts_init\(([^(),]*)\)/mlops_\1_opts_init(\2, MLOPS_\U\1\E_OPTS_VERSION)/g
s/\bmlops_alert_rule_init\(([^(),]*)\)/mlops_alert_rule_init(\1, MLOPS_ALERT_RULE_VERSION)/g
# Signature changes NOT done by this script (fix by hand; old names no longer exist, so the compiler finds them):
#   long mlops_model_feature_index(m, name)            -> mlops_status mlops_model_find_feature(m, name, size_t *index)   (MLOPS_ENOTFOUND)
#   long mlops_schema_feature_index(s, name)           -> mlops_status mlops_schema_find_feature(s, name, size_t *index)  (MLOPS_ENOTFOUND)
#   int mlops_schema_feature_default(s, i, &v) (flag)  -> mlops_status mlops_schema_get_feature_default(s, i, &v)         (MLOPS_ENOTFOUND = no default)
#   const char *mlops_model_attr(m, key) (NULL)        -> mlops_status mlops_model_find_attr(m, key, const char **value)  (MLOPS_ENOTFOUND)
