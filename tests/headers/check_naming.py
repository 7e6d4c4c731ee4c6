#!/usr/bin/python3
"""Every public name follows the naming convention (README, "Naming convention").

Reads the MLOPS_API declarations and the typedefs of include/mlops/*.h and fails on a name that
breaks a rule: the module's prefixes, banned constructor/getter shapes (_new, _open, _stats_get...),
the stats getter shape, opts_init arity, lookups that return an index instead of a status, and
`const` on getters and readers (reports, renders, savers, lookups, and the READ_ONLY list). Before checking the headers it checks itself on declarations that break each
rule, so a rule that can no longer fail is noticed.

Usage: check_naming.py SOURCE_ROOT
"""
import glob
import os
import re
import sys

# The names a module's header may declare: mlops_<module> and the type prefixes it owns.
# A new prefix is a decision: add it here and to the README table.
PREFIXES = {
    "common": ["mlops_status", "mlops_last_error", "mlops_clear_error", "mlops_version", "mlops_log",
               "mlops_set_log_callback", "mlops_allocator", "mlops_set_allocator", "mlops_free",
               "mlops_write_file"],
    "model": ["mlops_model", "mlops_engine", "mlops_task"],
    "schema": ["mlops_schema", "mlops_feature_type", "mlops_violation_kind"],
    "drift": ["mlops_drift", "mlops_feature_kind"],
    "monitor": ["mlops_monitor", "mlops_metric", "mlops_alert"],
    "metrics": ["mlops_metrics", "mlops_series"],
    "router": ["mlops_router", "mlops_variant_stats", "mlops_ab"],
    "deploy": ["mlops_deploy"],
    "registry": ["mlops_registry"],
}
BANNED_SUFFIXES = ["_new", "_open", "_close", "_destroy", "_stats_get", "_to_json", "_from_json", "_parse",
                   "_get_index", "_index"]
GETTER = re.compile(r"_get_|_n_\w+$|_name$")
# Readers by shape: reports, renders, savers and lookups change nothing observable (a lock or a
# cache they fill is internal), so they take a const handle like getters.
READER = re.compile(r"_(report|report_json|report_html|statistic|save|save_buffer|render|render_alloc|"
                    r"write_file|find|find_\w+)$")
# Read-only functions whose names have no reader shape: each is const and must stay so.
READ_ONLY = {"mlops_deploy_model", "mlops_drift_snapshot_create", "mlops_metrics_std_registry",
             "mlops_metrics_std_requests", "mlops_metrics_std_rows", "mlops_metrics_std_duration"}
HANDLE = re.compile(r"mlops_\w+ \*")  # a non-const pointer to one of our types
STATS_NAME = re.compile(r"^mlops_\w+_get_(\w+_)?stats$")
DECL = re.compile(r"MLOPS_API\s+(?P<ret>[^;]*?)\b(?P<name>mlops_\w+)\s*\((?P<params>[^;]*)\)\s*;", re.S)
TYPEDEF = re.compile(r"typedef\s+(?:struct|enum)\s*\w*\s*(?:\{[^{}]*\})?\s*(?P<name>mlops_\w+)\s*;", re.S)


def strip_comments(text):
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


def declarations(text):
    """(kind, name, return type, [params]) of every exported function and typedef in `text`."""
    text = strip_comments(text)
    out = []
    for m in DECL.finditer(text):
        params = [" ".join(p.split()) for p in m.group("params").split(",")]
        params = [] if params == ["void"] else params
        out.append(("function", m.group("name"), " ".join(m.group("ret").split()), params))
    for m in TYPEDEF.finditer(text):
        out.append(("type", m.group("name"), "", []))
    return out


def has_prefix(name, prefixes):
    return any(name == p or name.startswith(p + "_") for p in prefixes)


def problems(module, decls):
    """Messages for every declaration of header `module` that breaks a rule."""
    out = []
    for kind, name, ret, params in decls:
        where = "%s.h: %s" % (module, name)
        if not has_prefix(name, PREFIXES[module]):
            out.append("%s: prefix is none of %s" % (where, ", ".join(PREFIXES[module])))
        if kind != "function":
            continue
        for suffix in BANNED_SUFFIXES:
            if name.endswith(suffix):
                out.append("%s: '%s' is not in the vocabulary (create/free, load/save, load_buffer/"
                           "save_buffer, get_stats, find_<noun>)" % (where, suffix))
        stats_param = any(re.match(r"mlops_\w*stats \*", p) for p in params)
        if (stats_param or "stats" in name) and not STATS_NAME.match(name):
            out.append("%s: a stats snapshot is mlops_<x>_get_stats or mlops_<x>_get_<noun>_stats" % where)
        if name.endswith("_init"):
            if ret != "void" or len(params) != 2 or params[1] != "unsigned version":
                out.append("%s: an initialiser is void %s(T *opts, unsigned version)" % (where, name))
        if "_find_" in name or name.endswith("_find"):
            if ret != "mlops_status" or not params or "*" not in params[-1]:
                out.append("%s: a lookup returns mlops_status with an out-parameter" % where)
        if "index" in name and ret in ("long", "int", "ssize_t"):
            out.append("%s: a lookup returns mlops_status with an out-parameter, not %s" % (where, ret))
        if GETTER.search(name) and params and HANDLE.match(params[0]):
            out.append("%s: a getter (_get_, _n_, _name) takes a const handle; a function that changes "
                       "state on the way says what it does (compute_, update_...)" % where)
        if (READER.search(name) or name in READ_ONLY) and params and HANDLE.match(params[0]):
            out.append("%s: a reader (report, render, save, find, statistic, or listed in READ_ONLY) takes "
                       "a const handle; one that runs a callback or changes state is named for it" % where)
    return out


SELF_TEST = {
    "MLOPS_API mlops_status mlops_model_new(mlops_model **out);": "vocabulary",
    "MLOPS_API mlops_status mlops_registry_open(const char *d, mlops_registry **out);": "vocabulary",
    "MLOPS_API mlops_status mlops_deploy_stats_get(mlops_deploy *d, mlops_deploy_stats *s);": "stats",
    "MLOPS_API mlops_status mlops_router_stats(const mlops_router *r, mlops_variant_stats *s);": "stats",
    "MLOPS_API void mlops_model_opts_init(mlops_model_opts *opts);": "initialiser",
    "MLOPS_API long mlops_model_feature_index(const mlops_model *m, const char *n);": "vocabulary",
    "MLOPS_API long mlops_model_lookup_index(const mlops_model *m, const char *n);": "not long",
    "MLOPS_API int mlops_model_find_attr(const mlops_model *m, const char *k);": "lookup",
    "MLOPS_API size_t mlops_model_n_widgets(mlops_model *m);": "const handle",
    "MLOPS_API mlops_status mlops_model_get_widgets(mlops_model *m, int *w);": "const handle",
    "MLOPS_API const char *mlops_model_widget_name(mlops_model *m);": "const handle",
    "MLOPS_API mlops_status mlops_model_report_json(mlops_model *m, char **j);": "reader",
    "MLOPS_API mlops_status mlops_model_save(mlops_model *m, const char *p);": "reader",
    "MLOPS_API mlops_status mlops_model_render(mlops_model *m, char *b, size_t n, size_t *l);": "reader",
    "MLOPS_API mlops_status mlops_model_find(mlops_model *m, const char *n, mlops_model **o);": "reader",
    "MLOPS_API mlops_status mlops_model_statistic(mlops_model *m, size_t i, double *s);": "reader",
    "MLOPS_API mlops_status mlops_deploy_model(mlops_deploy *d, int s, mlops_model **o);": "reader",
    "MLOPS_API void mlops_widget_free(void *w);": "prefix",
    "typedef struct mlops_widget mlops_widget;": "prefix",
}
GOOD = """
/** doc */
MLOPS_API mlops_status mlops_model_create(const mlops_model_opts *opts, mlops_model **out);
MLOPS_API mlops_status mlops_model_get_stats(const mlops_model *m, mlops_model_stats *s);
MLOPS_API void mlops_model_opts_init(mlops_model_opts *opts, unsigned version);
MLOPS_API mlops_status mlops_model_find_feature(const mlops_model *m, const char *n, size_t *i);
MLOPS_API size_t mlops_model_n_features(const mlops_model *m);
MLOPS_API mlops_status mlops_model_save(const mlops_model *m, const char *path);
MLOPS_API const char *mlops_task_name(mlops_task task);
typedef struct mlops_model_stats { int a; } mlops_model_stats;
"""


def self_test():
    """Each rule fires on a declaration that breaks it, and none fires on good ones."""
    failures = []
    for decl, expect in SELF_TEST.items():
        got = problems("model", declarations(decl))
        if not any(expect in p for p in got):
            failures.append("self-test: %r not reported as %r (got %r)" % (decl, expect, got))
    got = problems("model", declarations(GOOD))
    if got or len(declarations(GOOD)) != 8:
        failures.append("self-test: good declarations reported: %r" % got)
    return failures


def main():
    src = sys.argv[1]
    failures = self_test()
    n = 0
    declared = set()
    for path in sorted(glob.glob(os.path.join(src, "include", "mlops", "*.h"))):
        module = os.path.splitext(os.path.basename(path))[0]
        if module not in PREFIXES:
            failures.append("%s: a new header: add its module and prefixes to check_naming.py" % path)
            continue
        with open(path) as f:
            decls = declarations(f.read())
        n += len(decls)
        failures += problems(module, decls)
        declared.update(name for _, name, _, _ in decls)
    for name in sorted(READ_ONLY - declared):
        failures.append("READ_ONLY lists %s, which no header declares: update the list" % name)
    for f in failures:
        print("FAIL", f)
    print("%d public names checked; %d passed, %d failed" % (n, 0 if failures else 1, len(failures)))
    return 1 if failures or n < 100 else 0


if __name__ == "__main__":
    sys.exit(main())
