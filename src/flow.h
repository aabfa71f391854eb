/* The flow: a base density and a list of layers, all parameters in one
 * buffer (gradients and Adam moments in buffers of the same layout), and
 * the activation buffers of one batch, allocated before training so that a
 * step allocates nothing. Layer 0 is always the standardisation. */
#ifndef NF_FLOW_H
#define NF_FLOW_H

#include "base.h"
#include "base_mog.h"
#include "layer.h"
#include "nflow.h"
#include "real.h"

struct nf_flow {
    int dim;
    base_density base;
    mog_base *mog;   /* when not NULL, the base density instead of `base` */
    layer **layers;
    int n_layers, cap;
    int finalized;

    size_t n_params;
    real *params, *grads, *adam_m, *adam_v;
    int64_t adam_t;
    size_t n_state;  /* non-trainable layer state (batch-norm averages) */
    real *state;

    int max_rows;    /* rows the buffers below hold */
    real **act;      /* act[l]: output of layer l (rows x dim); act[n_layers-1] = z */
    real *dbuf[2];   /* backward scratch, rows x dim */
    double *ldj, *logp;

    /* what built it (for info and saving) */
    int has_config;
    nf_config config;
    /* training record */
    int64_t train_rows, epochs, best_epoch;
    double train_ll, val_ll, test_ll;
    double *data_min, *data_max; /* of the training data, dim each, or NULL */
    /* the Gaussian fit (src/gaussian_fit.c): lower Cholesky factor of the
     * standardised covariance (dim x dim) or NULL, sum log diag, and its
     * weight in the model's density */
    real *gauss;
    double gauss_log_det, tail_weight;
};

/* Appends a layer (takes ownership; frees it on failure). */
nf_status flow_add(nf_flow *f, layer *l);
/* Lays out the parameters of all layers in one buffer (zeroed); params,
 * grads and both Adam moments share one allocation. */
nf_status flow_allocate_params(nf_flow *f);
/* Sets every layer's training flag (batch statistics in batch norm). */
void flow_set_training(nf_flow *f, int training);
/* Sets every layer's inference flag: no backward pass follows the passes
 * until it is cleared. */
void flow_set_inference(nf_flow *f, int inference);
/* Initialises parameters (seeded) and layer state, then applies the
 * layers' constraints (MADE masks). */
void flow_init_params(nf_flow *f, uint64_t seed);
/* Frees the batch buffers (flow_reserve makes them again). */
void flow_free_buffers(nf_flow *f);
/* Grows the batch buffers to hold `rows` rows (never shrinks). */
nf_status flow_reserve(nf_flow *f, int rows);

/* x -> z for rows <= max_rows: leaves z in f->act[last] and log p(x) in
 * logp[r]. */
void flow_x2z(nf_flow *f, int rows, const real *x, double *logp);
/* Backward of the mean negative log-likelihood of the last flow_x2z:
 * adds dL/dparams into f->grads (or not, when grads is NULL) and, when dx
 * is not NULL, writes dL/dx there. Returns nothing: all is in buffers. */
void flow_nll_backward(nf_flow *f, int rows, const real *x, real *grads, real *dx);
/* The whitening layer of nf_config.whiten: an LU layer in the natural
 * order (nf_flow_fit_standardization sets it). */
nf_status flow_add_whitening(nf_flow *f);
/* Sets that layer (the flow's layer 1) to the whitening of the covariance
 * of the standardised rows x. */
nf_status flow_fit_whitening(nf_flow *f, const float *x, size_t rows);
/* The Gaussian fit (src/gaussian_fit.c). set copies the lower Cholesky
 * factor chol (dim x dim, double) and the tail weight. */
nf_status flow_gauss_set(nf_flow *f, const double *chol, double tail_weight);
/* log N(x; fit) per row (rows <= max_rows; uses dbuf[0]). */
void flow_gauss_log_prob(nf_flow *f, int rows, const real *x, double *out);
/* logp (the flow's log-densities of rows x) -> the model's: the mixture
 * with the fit. Uses dbuf[0] and ldj. No-op without a fit. */
void flow_mix_tail(nf_flow *f, int rows, const real *x, double *logp);
/* The model's log-density of rows <= max_rows: flow_x2z, then the mixture. */
void flow_log_prob_rows(nf_flow *f, int rows, const real *x, double *logp);
/* x = mean + std * (R u) for rows of standard normal draws u. */
void flow_gauss_draw(const nf_flow *f, int rows, const real *u, real *x);
nf_status flow_gauss_save(const nf_flow *f, mf_writer *w);
nf_status flow_gauss_load(const mf_file *mf, const mf_section *s, nf_flow *f);
/* The layers (and MoG base) of the ready-made MADE / MADE MoG / MAF / MAF
 * MoG / IAF architectures. */
nf_status flow_build_autoregressive(nf_flow *f, const nf_config *cfg);
/* A seeded random permutation of 0..dim-1 (malloc'ed). */
nf_status flow_random_perm(int dim, uint64_t seed, int **out);
/* rows draws from the base density (rows <= max_rows). */
void flow_base_sample(nf_flow *f, rng *r, int rows, real *z);
/* log p_Z(z) per row. */
void flow_base_log_prob(nf_flow *f, int rows, const real *z, double *out);
/* z -> x for rows <= max_rows; ldj[r] = sum of log|det dx/dz| (may be NULL). */
void flow_z2x(nf_flow *f, int rows, const real *z, real *x, double *ldj);

/* z -> x keeping every layer's input for flow_z2x_backward: layer l reads
 * act[l] and writes act[l - 1] (x for l = 0); act[last] gets a copy of z. */
void flow_z2x_cached(nf_flow *f, int rows, const real *z, real *x, double *ldj);
/* Backward of the last flow_z2x_cached given dx = dL/dx and dldj = dL/d(ldj
 * of each row): adds dL/dparams into grads (NULL: not needed), and writes
 * dL/dz into dz when not NULL. */
void flow_z2x_backward(nf_flow *f, int rows, const real *x, const real *dx, real dldj, real *grads, real *dz);
/* One Adam step from f->grads (L2 weight decay and norm clipping first).
 * Returns 0, or -1 when the gradient is not finite (nothing changed). */
int flow_adam_update(nf_flow *f, double lr, double weight_decay, double clip_norm);

/* Mean NLL of one batch, gradient into f->grads (zeroed first), then one
 * Adam step. Returns the loss (NaN/Inf when it is not finite; parameters
 * are then left unchanged). */
double flow_train_step(nf_flow *f, int rows, const real *x, double lr, double weight_decay, double clip_norm);

#endif
