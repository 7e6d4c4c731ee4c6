/* Schema <-> model: derive a schema from a model, check that they agree. Kept in its own
 * file so that code using only schemas does not pull in the model module. */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "mlops/model.h"
#include "mlops/schema.h"
#include "schema_internal.h"

/* A feature whose category strings the model stores (XGBoost 3.x) is categorical with them:
 * the k-th string is code k, as the model's trees read it. */
static mlops_status categories_from_model(const mlops_model *model, size_t i, mlops__feature *f) {
    size_t n = mlops_model_n_categories(model, i);
    if (n > MLOPS__SCHEMA_MAX_CATEGORIES)
        return mlops__fail(MLOPS_ELIMIT, "schema: feature '%.200s' has %zu categories, the limit is %u",
                           f->name, n, MLOPS__SCHEMA_MAX_CATEGORIES);
    f->cats = mlops__calloc(n, sizeof *f->cats);
    f->cat_lens = mlops__calloc(n, sizeof *f->cat_lens);
    if (!f->cats || !f->cat_lens) return mlops__fail(MLOPS_ENOMEM, "schema: out of memory");
    for (size_t k = 0; k < n; k++) {
        f->cats[k] = mlops__strdup(mlops_model_category(model, i, k));
        if (!f->cats[k]) return mlops__fail(MLOPS_ENOMEM, "schema: out of memory");
        f->cat_lens[k] = strlen(f->cats[k]);
        f->n_cats = k + 1;
    }
    f->type = MLOPS_FEATURE_TYPE_CATEGORICAL;
    f->has_min = 0;
    return MLOPS_OK;
}

mlops_status mlops_schema_from_model(const mlops_model *model, mlops_schema **out) {
    MLOPS__CHECK_ARG("schema", model);
    MLOPS__CHECK_ARG("schema", out);
    size_t n = mlops_model_n_features(model);
    if (n == 0) return mlops__fail(MLOPS_EINVAL, "schema: the model has no features");
    if (n > MLOPS__SCHEMA_MAX_FEATURES)
        return mlops__fail(MLOPS_ELIMIT, "schema: the model has %zu features, the limit is %u", n,
                           MLOPS__SCHEMA_MAX_FEATURES);
    mlops_schema *s = mlops__schema_alloc(n);
    if (!s) return mlops__fail(MLOPS_ENOMEM, "schema: out of memory for %zu features", n);
    mlops_status st = MLOPS_OK;
    for (size_t i = 0; i < n && st == MLOPS_OK; i++) {
        mlops__feature *f = &s->f[i];
        const char *name = mlops_model_feature_name(model, i);
        const char *type = mlops_model_feature_type(model, i);
        char fallback[32];
        if (!name || !*name) {
            snprintf(fallback, sizeof fallback, "f%zu", i);
            name = fallback;
        }
        f->name = mlops__strdup(name);
        if (!f->name) {
            st = mlops__fail(MLOPS_ENOMEM, "schema: out of memory");
            break;
        }
        f->name_len = strlen(name);
        f->nullable = 1;
        f->type = MLOPS_FEATURE_TYPE_FLOAT;
        if (type && !strcmp(type, "int")) {
            f->type = MLOPS_FEATURE_TYPE_INT;
        } else if (type && !strcmp(type, "i")) {
            f->type = MLOPS_FEATURE_TYPE_BOOL;
        } else if (type && !strcmp(type, "c")) {
            f->type = MLOPS_FEATURE_TYPE_INT;
            f->has_min = 1;
            f->min = 0;
        }
        if (mlops_model_n_categories(model, i)) st = categories_from_model(model, i, f);
    }
    if (st == MLOPS_OK) st = mlops__schema_finish(s, "schema from model");
    if (st != MLOPS_OK) {
        mlops_schema_free(s);
        return st;
    }
    *out = s;
    return MLOPS_OK;
}

mlops_status mlops_schema_check_model(const mlops_schema *s, const mlops_model *model) {
    MLOPS__CHECK_ARG("schema", s);
    MLOPS__CHECK_ARG("schema", model);
    size_t nm = mlops_model_n_features(model);
    if (nm != s->n) return mlops__fail(MLOPS_ESHAPE, "schema has %zu features, the model has %zu", s->n, nm);
    char msg[2048];
    size_t used = 0, bad = 0;
    for (size_t i = 0; i < s->n; i++) {
        const char *mn = mlops_model_feature_name(model, i);
        const char *mt = mlops_model_feature_type(model, i);
        char part[640];
        part[0] = '\0';
        if (!mn || strcmp(mn, s->f[i].name)) {
            long j = mn ? mlops__strmap_find(&s->names, s->name_ptrs, s->name_lens, mn, strlen(mn)) : -1;
            if (j >= 0)
                snprintf(part, sizeof part,
                         "feature %zu is '%.100s' in the schema but '%.100s' in the model "
                         "(the schema has it at %ld)",
                         i, s->f[i].name, mn, j);
            else
                snprintf(part, sizeof part, "feature %zu is '%.100s' in the schema but '%.100s' in the model",
                         i, s->f[i].name, mn ? mn : "(none)");
        } else if (mt && !strcmp(mt, "c") && s->f[i].type != MLOPS_FEATURE_TYPE_CATEGORICAL &&
                   s->f[i].type != MLOPS_FEATURE_TYPE_INT) {
            snprintf(part, sizeof part,
                     "feature %zu ('%.100s') is categorical in the model but %s in the schema", i,
                     s->f[i].name, mlops_feature_type_name(s->f[i].type));
        }
        if (part[0]) {
            if (bad < 20 && used < sizeof msg - 1)
                used += (size_t)snprintf(msg + used, sizeof msg - used, "%s%s", bad ? "; " : "", part);
            if (used > sizeof msg - 1) used = sizeof msg - 1;
            bad++;
        }
    }
    if (bad)
        return mlops__fail(MLOPS_EVALIDATION, "schema and model disagree (%zu feature%s): %s%s", bad,
                           bad == 1 ? "" : "s", msg, bad > 20 ? "; ..." : "");
    return MLOPS_OK;
}
