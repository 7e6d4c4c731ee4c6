/* mlops-train --registry DIR --name NAME [--sign KEY]: record the trained model in a registry
 * with its lineage (train_lineage.c). */
#ifndef MLOPS_TRAIN_LINEAGE_H
#define MLOPS_TRAIN_LINEAGE_H

#include <stddef.h>

/* What mlops-train knows about the model it trained. */
typedef struct train_lineage {
    const char *dir, *name, *sign_key; /* --registry, --name (required with it), --sign (may be NULL) */
    const char *model_path, *data_path, *objective, *eta, *label;
    long rounds, max_depth, seed, num_class;
} train_lineage;

/* Put the model file as a new version of `name` in registry `dir` (created if missing; its audit
 * log too), signed with `sign_key` when given, with metadata.lineage: the BLAKE2b-256 digest of
 * the training data, the training parameters, the parent (the name's newest version before this
 * one, if any) and the tool and library versions. Prints the new version; returns 0, or 2 with
 * the error printed. */
int train_lineage_record(const train_lineage *t);

#endif
