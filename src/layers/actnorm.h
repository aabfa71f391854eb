/* ActNorm (Glow): z = (x - b) exp(-logs) per dimension, b and logs set from
 * the first training batch (state: a 0/1 flag saying whether they were).
 * The constructor returns NULL (nf_fail's message set) when out of memory
 * or the arguments are invalid; the loader rebuilds it from its section. */
#ifndef NF_LAYERS_ACTNORM_H
#define NF_LAYERS_ACTNORM_H

#include "layers/layer.h"

layer *actnorm_new(int dim);
nf_status actnorm_load(const mf_file *f, const mf_section *s, int dim, layer **out);
/* The kind, for layers/registry.c. */
extern const layer_ops actnorm_ops;

#endif
