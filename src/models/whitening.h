/* The whitening layer of nf_config.whiten (Ledoit-Wolf shrunk covariance). */
#ifndef NF_MODELS_WHITENING_H
#define NF_MODELS_WHITENING_H

#include <stddef.h>

#include "flow/flow.h"

/* The whitening layer of nf_config.whiten: an LU layer in the natural
 * order (nf_flow_fit_standardization sets it). */
nf_status flow_add_whitening(nf_flow *f);
/* Sets that layer (the one after the standardisation) to the whitening of
 * the covariance of the standardised rows x (with bounds: x already mapped
 * by them). */
nf_status flow_fit_whitening(nf_flow *f, const float *x, size_t rows);
/* Sets that layer to W = chol (the lower Cholesky factor of a standardised
 * covariance, dim x dim, positive diagonal) and the Gaussian fit to it. */
nf_status flow_set_whitening(nf_flow *f, const double *chol, double tail_weight);

#endif
