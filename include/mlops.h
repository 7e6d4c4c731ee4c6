/**
 * @file mlops.h
 * @brief Umbrella header: includes every public libmlops module.
 */
#ifndef MLOPS_H
#define MLOPS_H

#include "mlops/common.h"
#include "mlops/deploy.h"
#include "mlops/drift.h"
#include "mlops/metrics.h"
#include "mlops/model.h"
#include "mlops/monitor.h"
#include "mlops/registry.h"
#include "mlops/router.h"
#include "mlops/schema.h"

#endif
