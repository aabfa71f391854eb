/* MAF (iaf = 0) or IAF (iaf = 1) layer around a MADE: order[k] is the
 * dimension of degree k + 1; hidden degrees given (depth x hidden), or
 * sequential / random from seed. Log-scales bound * tanh(a / bound).
 * n_context: context inputs of the MADE (a conditional layer; 0: none).
 * The constructor returns NULL (nf_fail's message set) when out of memory
 * or the arguments are invalid; the loader rebuilds it from its section. */
#ifndef NF_LAYERS_AUTOREGRESSIVE_H
#define NF_LAYERS_AUTOREGRESSIVE_H

#include <stdint.h>

#include "layers/layer.h"

layer *autoregressive_new(int dim, int n_context, int iaf, int hidden, int depth, int act, const int *order,
                          const int *degrees, int random_degrees, uint64_t seed, double bound);
nf_status autoregressive_load(const mf_file *f, const mf_section *s, int dim, layer **out);
/* The kinds, for layers/registry.c. */
extern const layer_ops maf_ops, iaf_ops, spline_maf_ops;
/* The spline MAF (autoregressive neural spline flow): u_i = g(t_i;
 * theta(x_<i)) with the rational-quadratic spline of `bins` bins on
 * [-tail_bound, tail_bound]; density in one pass, sampling sequential.
 * With shift_bound >= 0 the spline reads t_i = (x_i - mu) e^-alpha, mu and
 * alpha (bounded by shift_bound as MAF's, 0: unbounded) from the same
 * MADE, so that the spline's box follows the conditional location and
 * scale that an affine MAF would give; shift_bound < 0: t_i = x_i. */
layer *spline_maf_new(int dim, int n_context, int hidden, int depth, int act, const int *order, const int *degrees,
                      int random_degrees, uint64_t seed, int bins, double tail_bound, double shift_bound);
/* The MADE inside a MAF/IAF layer (for tests). */
struct made *autoregressive_net(layer *l);

#endif
