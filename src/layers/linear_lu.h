/* The invertible linear layer W = P L (U + diag(s)), signs fixed.
 * The constructor returns NULL (nf_fail's message set) when out of memory
 * or the arguments are invalid; the loader rebuilds it from its section. */
#ifndef NF_LAYERS_LINEAR_LU_H
#define NF_LAYERS_LINEAR_LU_H

#include "layers/layer.h"

layer *linear_lu_new(int dim, const int *perm, const real *signs);
nf_status linear_lu_load(const mf_file *f, const mf_section *s, int dim, layer **out);
/* The kind, for layers/registry.c. */
extern const layer_ops linear_lu_ops;

#endif
