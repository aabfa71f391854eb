/* NICE additive (affine = 0) and RealNVP affine (affine = 1) coupling, and
 * rational-quadratic spline coupling; n_context: context inputs of the
 * network (a conditional layer; 0: none):
 * the dimensions with cond_mask 1 condition an MLP that shifts (and
 * scales, log-scales bound * tanh(a / bound)) the others.
 * The constructor returns NULL (nf_fail's message set) when out of memory
 * or the arguments are invalid; the loader rebuilds it from its section. */
#ifndef NF_LAYERS_COUPLING_H
#define NF_LAYERS_COUPLING_H

#include "layers/layer.h"

layer *coupling_new(int dim, int n_context, int affine, const int *cond_mask, int hidden, int depth, int act,
                    double bound);
/* Rational-quadratic spline coupling (neural spline flows): `bins` bins on
 * [-tail_bound, tail_bound], the identity outside. With shift_bound >= 0
 * the spline reads (x - mu) e^-alpha, mu and alpha (bounded by shift_bound,
 * 0: unbounded) from the same network (rq_block_forward); < 0: x itself. */
layer *spline_coupling_new(int dim, int n_context, const int *cond_mask, int hidden, int depth, int act, int bins,
                           double tail_bound, double shift_bound);
nf_status coupling_load(const mf_file *f, const mf_section *s, int dim, layer **out);
/* The kinds, for layers/registry.c. */
extern const layer_ops additive_coupling_ops, affine_coupling_ops, spline_coupling_ops;

#endif
