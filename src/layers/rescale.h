/* NICE's diagonal rescaling z = x exp(-t), t trainable.
 * The constructor returns NULL (nf_fail's message set) when out of memory
 * or the arguments are invalid; the loader rebuilds it from its section. */
#ifndef NF_LAYERS_RESCALE_H
#define NF_LAYERS_RESCALE_H

#include "layers/layer.h"

layer *rescale_new(int dim);
nf_status rescale_load(const mf_file *f, const mf_section *s, int dim, layer **out);
/* The kind, for layers/registry.c. */
extern const layer_ops rescale_ops;

#endif
