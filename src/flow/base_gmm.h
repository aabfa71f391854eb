/* A full-covariance Gaussian mixture as a flow's base density (the gmm
 * model: the standardisation, then this): p(z) = sum_k w_k N(z; mu_k,
 * L_k L_k^T). The peer many users try first (scikit-learn's
 * GaussianMixture), and on some sets of small integers the best model
 * (issue 30). Fitted by EM (src/train/gmm_em.c), not by gradient steps: its
 * values are its own (double), not in the flow's parameter buffer, so that
 * EM may change the number of components. */
#ifndef NF_BASE_GMM_H
#define NF_BASE_GMM_H

#include "io/mfile.h"
#include "core/real.h"
#include "core/rng.h"

typedef struct gmm_base {
    int n, k;
    double *weight;   /* k, summing to 1 */
    double *mean;     /* k x n */
    double *chol;     /* k x n x n: the lower Cholesky factor L_k of each covariance */
    /* derived by gmm_set */
    double *prec;     /* k x n x n: L_k^-T */
    double *shift;    /* k x n: mu_k L_k^-T */
    double *log_norm; /* k: log w_k - n/2 log(2 pi) - sum log diag L_k */
    double *cdf;      /* k cumulative weights */
    /* scratch of rows <= max_rows */
    int max_rows;
    double *zd, *y, *acc; /* rows x n each */
    double *logs;         /* rows x k: log w_k N_k(z) of the last gmm_log_prob */
} gmm_base;

/* k standard normal components of equal weight (the density N(0, I)
 * until fitted); NULL with nf_fail's message. */
gmm_base *gmm_new(int n, int k);
void gmm_free(gmm_base *g);
/* Sets k components (weights: positive, normalised here; chol: lower,
 * positive diagonal), reallocating for a new k. NF_ERR_INVALID naming the
 * first bad value; g unchanged then. */
nf_status gmm_set(gmm_base *g, int k, const double *weight, const double *mean, const double *chol);
nf_status gmm_reserve(gmm_base *g, int rows);
/* logs[r * k + c] = log w_c N_c(z_r) for rows of zd (double, rows x n;
 * rows <= max_rows; uses y). */
void gmm_component_logs(gmm_base *g, int rows, const double *zd, double *logs);
/* out[r] = log p(z[r, :]); keeps the components' terms for gmm_grad. */
void gmm_log_prob(gmm_base *g, int rows, const real *z, double *out);
/* After gmm_log_prob on the same z: dz = scale * d log p / dz (turns the
 * kept terms into responsibilities). */
void gmm_grad(gmm_base *g, int rows, const real *z, real scale, real *dz);
/* rows draws; the stream is read in row order, 1 + n values a row. */
void gmm_sample(gmm_base *g, rng *r, int rows, real *z);
nf_status gmm_save(const gmm_base *g, mf_writer *w);
/* The section 'gmm_base' of a model of dim columns. */
nf_status gmm_load(const mf_file *f, const mf_section *s, int dim, gmm_base **out);
size_t gmm_describe(const gmm_base *g, char *buf, size_t size);

#endif
