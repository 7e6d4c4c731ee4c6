/* Internal layout of a schema, shared by schema.c (building, JSON) and validate.c. */
#ifndef MLOPS_SCHEMA_INTERNAL_H
#define MLOPS_SCHEMA_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mlops/schema.h"

/* Open-addressing string -> index table over a caller-owned array of names. */
typedef struct mlops__strmap {
    uint32_t *slots; /* index + 1, 0 = empty; capacity is a power of two */
    uint32_t *hashes;
    size_t mask;
} mlops__strmap;

typedef struct mlops__feature {
    char *name;
    size_t name_len;
    mlops_feature_type type;
    int has_min, has_max;
    double min, max; /* as written by the user; meaningful only with has_min / has_max */
    int nullable;
    int has_default;
    double def; /* as the model sees it: category code, 0/1, value */
    char **cats;
    size_t *cat_lens;
    size_t n_cats;
    mlops__strmap catmap;
} mlops__feature;

struct mlops_schema {
    size_t n;
    mlops__feature *f;
    int reject_unknown;
    mlops__strmap names;
    char **name_ptrs; /* f[i].name, for the name map */
    size_t *name_lens;
    /* Precomputed dense checks: a value v passes fast when lo <= v <= hi and,
     * for integral types, v is integral. Bounds are float32-rounded. */
    double *lo, *hi;
    unsigned char *integral; /* int, bool, categorical */
    unsigned char *nan_ok;   /* nullable or has a default */
};

uint32_t mlops__strhash(const char *s, size_t len);
mlops_status mlops__strmap_build(mlops__strmap *m, char *const *keys, const size_t *lens, size_t n);
void mlops__strmap_free(mlops__strmap *m);
/* Index of key, or -1. */
long mlops__strmap_find(const mlops__strmap *m, char *const *keys, const size_t *lens, const char *key,
                        size_t len);

/* A zeroed schema of n features (reject_unknown = 1), or NULL. */
mlops_schema *mlops__schema_alloc(size_t n);
/* After the features are filled: name tables, duplicate checks, dense checks (EFORMAT names `ctx`). */
mlops_status mlops__schema_finish(mlops_schema *s, const char *ctx);

#define MLOPS__SCHEMA_MAX_FEATURES 100000u
#define MLOPS__SCHEMA_MAX_NAME 4096u
#define MLOPS__SCHEMA_MAX_CATEGORIES 65536u

#endif
