/* The layer kinds (registry.h): one line each. */
#include "layers/registry.h"

#include <string.h>

#include "layers/actnorm.h"
#include "layers/autoregressive.h"
#include "layers/batchnorm.h"
#include "layers/bounds.h"
#include "layers/conv_coupling.h"
#include "layers/coupling.h"
#include "layers/linear_lu.h"
#include "layers/permute.h"
#include "layers/rescale.h"
#include "layers/standardize.h"

static const layer_ops *const kinds[] = {
    &standardize_ops,     &bounds_ops,          &additive_coupling_ops, &affine_coupling_ops,
    &spline_coupling_ops, &rescale_ops,         &permute_ops,           &linear_lu_ops,
    &maf_ops,             &iaf_ops,             &spline_maf_ops,        &batchnorm_ops,
    &actnorm_ops,         &conv_coupling_ops,
};

const layer_ops *layer_kind(const char *tag)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(tag, kinds[i]->tag) == 0)
            return kinds[i];
    return NULL;
}

const layer_ops *layer_kind_at(int n)
{
    return n >= 0 && (size_t)n < sizeof kinds / sizeof kinds[0] ? kinds[n] : NULL;
}
