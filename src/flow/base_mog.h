/* MADE MoG base density (MAF paper): each conditional p(z_i | z_<i) is a
 * mixture of K Gaussians whose weights, means and log-scales come from one
 * MADE, output block k = [K logits | K means | K log-scales]. Density in one
 * pass, sampling in one pass of work (degree order). Log-scales are bounded
 * by bound * tanh(a / bound). Its parameters live in the flow's buffer at
 * p_off, after the layers'. */
#ifndef NF_BASE_MOG_H
#define NF_BASE_MOG_H

#include "nets/made.h"
#include "io/mfile.h"
#include "core/real.h"
#include "core/rng.h"

typedef struct mog_base {
    int n, k;
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
void mog_free(mog_base *m);
size_t mog_n_params(const mog_base *m);
/* Weights everywhere (no zero layer: the components must start apart). */
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
nf_status mog_load(const mf_file *f, const mf_section *s, int dim, mog_base **out);
size_t mog_describe(const mog_base *m, char *buf, size_t size);

#endif
