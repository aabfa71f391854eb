/* A fixed permutation of the dimensions.
 * The constructor returns NULL (nf_fail's message set) when out of memory
 * or the arguments are invalid; the loader rebuilds it from its section. */
#ifndef NF_LAYERS_PERMUTE_H
#define NF_LAYERS_PERMUTE_H

#include "layers/layer.h"

layer *permute_new(int dim, const int *perm);
nf_status permute_load(const mf_file *f, const mf_section *s, int dim, layer **out);
/* The kind, for layers/registry.c. */
extern const layer_ops permute_ops;

#endif
