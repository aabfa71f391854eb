/* A whitened model's Gaussian fit and the tail mixture it gives the density. */
#ifndef NF_CORE_GAUSSIAN_FIT_H
#define NF_CORE_GAUSSIAN_FIT_H

#include "flow/flow.h"

/* The Gaussian fit (src/flow/gaussian_fit.c). set copies the lower Cholesky
 * factor chol (dim x dim, double) and the tail weight. */
nf_status flow_gauss_set(nf_flow *f, const double *chol, double tail_weight);
/* The standard normal of the standardised values as the fit, no factor
 * kept: an image model's floor (its dimensions make a Cholesky factor
 * large, and its per-channel standardisation is the fit's scale). */
void flow_gauss_identity(nf_flow *f, double tail_weight);
/* Whether the flow has a fit (a factor, or the identity). */
int flow_has_fit(const nf_flow *f);
/* log N(x; fit) per row (rows <= max_rows; uses dbuf[0]). */
void flow_gauss_log_prob(nf_flow *f, int rows, const real *x, double *out);
/* logp (the flow's log-densities of rows x) -> the model's: the mixture
 * with the fit. Uses dbuf[0] and ldj. No-op without a fit. */
void flow_mix_tail(nf_flow *f, int rows, const real *x, double *logp);
/* The model's log-density of rows <= max_rows: flow_x2z, then the mixture. */
void flow_log_prob_rows(nf_flow *f, int rows, const real *x, double *logp);
/* x = mean + std * (R u) for rows of standard normal draws u. */
void flow_gauss_draw(const nf_flow *f, int rows, const real *u, real *x);

#endif
