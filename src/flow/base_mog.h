/* MADE MoG base density (MAF paper): each conditional p(z_i | z_<i) is a
 * mixture of K Gaussians whose weights, means and log-scales come from one
 * MADE, output block k = [K logits | K means | K log-scales]. Density in one
 * pass, sampling in one pass of work (degree order). Log-scales are bounded
 * by bound * tanh(a / bound). Its parameters live in the flow's buffer at
 * p_off, after the layers'.
 * The independent kind (mog_new_independent) has no MADE: dimension i's
 * block is parameters of its own, p(z) = prod_i p_i(z_i), so sampling is
 * one parallel pass too (an IAF student's base: the multimodal marginals
 * of a MoG teacher's conditionals at no sequential cost). */
#ifndef NF_BASE_MOG_H
#define NF_BASE_MOG_H

#include "nets/made.h"
#include "io/mfile.h"
#include "core/real.h"
#include "core/rng.h"

typedef struct mog_base {
    int n, k;
    int independent; /* no MADE (net unused): blocks are the parameters */
    real *blocks;    /* independent: n x 3k, the parameters with bounded log-scales */
    double *cdf;     /* independent, sampling: n x k cumulative weights, */
    real *scale;     /* and n x k e^log-scale */
    double *terms;   /* independent: n x 5k per component log(w) - log(2 pi)/2 - log-scale, mean,
                      * e^-log-scale, weight, the log-scale bound's slope */
    real bound;
    /* a conditional base's context, as for a layer (src/core/layer.h) */
    int context_dim;
    const real *context;
    real *dcontext;
    made net;
    size_t p_off;
    int max_rows;
    real *dout;   /* rows x 3kn */
    real *noise;  /* rows x 2n: uniform and normal draws, in row order */
    real *direct; /* rows x n: d log p / dz_k through z_k's own conditional */
} mog_base;

/* NULL with nf_fail's message on bad arguments or no memory; n_context
 * context inputs of degree 0 (a conditional base; 0: none). */
mog_base *mog_new(int n, int n_context, int k, int hidden, int depth, int act, const int *order, const int *degrees,
                  int random_degrees, uint64_t seed);
/* The independent kind: n dimensions, k components each. */
mog_base *mog_new_independent(int n, int k);
void mog_free(mog_base *m);
size_t mog_n_params(const mog_base *m);
/* Weights everywhere (no zero layer: the components must start apart).
 * The independent kind starts as nearly N(0, 1): equal weights, means
 * spread over [-0.3, 0.3], variances making up the rest (KL to N(0, 1)
 * about 1e-4 nats a dimension). */
void mog_init_params(const mog_base *m, real *p, rng *r);
nf_status mog_reserve(mog_base *m, int rows);
/* out[r] = log p(z[r, :]). */
void mog_log_prob(mog_base *m, const real *p, int rows, const real *z, double *out);
/* After mog_log_prob on the same z: dz = scale * d log p / dz (written),
 * dp += scale * d log p / dparams (NULL skips). */
void mog_grad(mog_base *m, const real *p, int rows, const real *z, real scale, real *dz, real *dp);
/* rows draws; the random stream is consumed in row order, 2 n per row. */
void mog_sample(mog_base *m, const real *p, rng *r, int rows, real *z);
nf_status mog_save(const mog_base *m, mf_writer *w);
/* Either kind, by the section's tag (made_mog_base, mog_base). */
nf_status mog_load(const mf_file *f, const mf_section *s, int dim, mog_base **out);
/* Whether a MADE kind's parameters keep the MADE's masks (1 for the
 * independent kind). */
int mog_check(const mog_base *m, const real *p);
size_t mog_describe(const mog_base *m, char *buf, size_t size);

#endif
