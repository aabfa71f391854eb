/* Batch normalisation with running averages updated by `momentum` (0..1]
 * per training batch: avg = (1 - momentum) avg + momentum batch.
 * The constructor returns NULL (nf_fail's message set) when out of memory
 * or the arguments are invalid; the loader rebuilds it from its section. */
#ifndef NF_LAYERS_BATCHNORM_H
#define NF_LAYERS_BATCHNORM_H

#include "layers/layer.h"

layer *batchnorm_new(int dim, double momentum);
nf_status batchnorm_load(const mf_file *f, const mf_section *s, int dim, layer **out);
/* The kind, for layers/registry.c. */
extern const layer_ops batchnorm_ops;

#endif
