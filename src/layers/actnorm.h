/* ActNorm (Glow): z = (x - b) exp(-logs) per dimension, b and logs set from
 * the first training batch (state: a 0/1 flag saying whether they were).
 * The constructor returns NULL (nf_fail's message set) when out of memory
 * or the arguments are invalid; the loader rebuilds it from its section. */
#ifndef NF_LAYERS_ACTNORM_H
#define NF_LAYERS_ACTNORM_H

#include "layers/layer.h"

layer *actnorm_new(int dim);
/* Glow's per-channel ActNorm: one b and logs for each of n values, shared
 * by the first `pixels` blocks of n values of a row (an image's pixels,
 * channels innermost); the rest of the row passes through. */
layer *actnorm_new_blocks(int dim, int pixels, int n);
nf_status actnorm_load(const mf_file *f, const mf_section *s, int dim, layer **out);
/* The kind, for layers/registry.c. */
extern const layer_ops actnorm_ops;

#endif
