/* A dense multi-layer perceptron: the coupling networks. Parameters live in
 * the caller's buffer, laid out layer by layer as W (out x in) then b (out);
 * activations of the last forward pass are kept for the backward pass. */
#ifndef NF_MLP_H
#define NF_MLP_H

#include <stddef.h>

#include "core/kern.h"
#include "core/real.h"
#include "core/rng.h"
#include "io/mfile.h"
#include "nflow.h"

typedef struct mlp {
    int n_in, n_out, hidden, depth;  /* depth: number of hidden layers */
    int act;                         /* K_ACT_RELU or K_ACT_TANH */
    int max_rows;
    real *h;                         /* depth x (max_rows x hidden), post-activation */
    real *dh[2];                     /* backward scratch, max_rows x hidden each */
    k_dropout dropout;               /* of the hidden units, while training (rate 0: none) */
} mlp;

void mlp_shape(mlp *m, int n_in, int n_out, int hidden, int depth, int act);
size_t mlp_n_params(const mlp *m);
/* The weights and biases of a network n_in -> hidden_layers x hidden ->
 * n_out whose hidden and hidden_layers a model-file section holds, in
 * double (a hostile size must not wrap); -1 when either is missing or
 * negative. For the kinds' layer_ops.file_params. */
double mlp_file_params(const mf_file *f, const mf_section *s, double n_in, double n_out);
/* Allocates the activation buffers for up to `rows` rows; 0 or -1 (no memory). */
nf_status mlp_reserve(mlp *m, int rows);
void mlp_release(mlp *m);
/* PyTorch-style uniform(-1/sqrt(in), 1/sqrt(in)) init; the last layer gets
 * zero weights and biases when zero_last, so the network starts at 0. */
void mlp_init_params(const mlp *m, real *p, rng *r, int zero_last);
/* in: rows x n_in, out: rows x n_out. */
void mlp_forward(mlp *m, const real *p, int rows, const real *in, real *out);
/* Given dout = dL/dout of the last forward: din = dL/din (written; NULL to
 * skip), dp += dL/dparams (NULL to skip). */
void mlp_backward(mlp *m, const real *p, int rows, const real *in, const real *dout, real *din, real *dp);

#endif
