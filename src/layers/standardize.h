/* The standardisation (x - mean) / std every flow starts with.
 * The constructor returns NULL (nf_fail's message set) when out of memory
 * or the arguments are invalid; the loader rebuilds it from its section. */
#ifndef NF_LAYERS_STANDARDIZE_H
#define NF_LAYERS_STANDARDIZE_H

#include "layers/layer.h"

layer *standardize_new(int dim, const double *mean, const double *std);
nf_status standardize_load(const mf_file *f, const mf_section *s, int dim, layer **out);
/* The kind, for layers/registry.c. */
extern const layer_ops standardize_ops;
/* The range of a standardisation float32 arithmetic can apply: std and
 * 1/std, and x - mean, stay normal floats far from overflow. */
#define STANDARDIZE_MIN 1e-30
#define STANDARDIZE_MAX 1e30
/* 1 when every mean and std is in range; else 0 and the reason in why. */
int standardize_check(int dim, const double *mean, const double *std, char *why, size_t size);
/* For the standardisation layer owned by the flow. */
void standardize_set(layer *l, const double *mean, const double *std);
void standardize_get(const layer *l, const double **mean, const double **std);

#endif
