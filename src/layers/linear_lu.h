/* The invertible linear layer W = P L (U + diag(s)), signs fixed.
 * The constructor returns NULL (nf_fail's message set) when out of memory
 * or the arguments are invalid; the loader rebuilds it from its section. */
#ifndef NF_LAYERS_LINEAR_LU_H
#define NF_LAYERS_LINEAR_LU_H

#include "layers/layer.h"

layer *linear_lu_new(int dim, const int *perm, const real *signs);
/* Glow's invertible 1x1 convolution: an n x n W (perm and signs of n
 * entries) on each of the first `pixels` blocks of n values of a row, the
 * rest of the row unchanged. */
layer *linear_lu_new_blocks(int dim, int pixels, int n, const int *perm, const real *signs);
nf_status linear_lu_load(const mf_file *f, const mf_section *s, int dim, layer **out);
/* The kind, for layers/registry.c. */
extern const layer_ops linear_lu_ops;

#endif
