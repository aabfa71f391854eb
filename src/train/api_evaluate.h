/* The mean log-likelihood as the MAF paper reports it, shared by
 * nf_flow_evaluate and nf_flow_mean_log_prob, and a data set's mean
 * log-likelihood, shared by training and the gmm's EM; the model kind the
 * reports name (src/train/api_evaluate.c). */
#ifndef NF_TRAIN_API_EVALUATE_H
#define NF_TRAIN_API_EVALUATE_H

#include <stddef.h>

#include "flow/flow.h"
#include "train/step.h"

/* Mean and two standard errors of the mean of the values v[i] with
 * keep[i] (NULL: all n), in two passes (exact for values far from 0);
 * NaN for the mean of none and the error of fewer than 2. */
void mean_two_stderr(const double *v, const unsigned char *keep, size_t n, double *mean, double *two_se);

/* Mean log-likelihood of a data set (rows of x, and their context or
 * NULL), summed in double, in chunks of a fixed size (not
 * f->work.max_rows, which depends on the flow's history); with
 * share->ranks > 1 each process scores its part and the sums meet through
 * share->reduce (NaN when that fails). log_prob (or NULL) gets this
 * process's rows' log-densities. */
double dataset_mean_log_lik(nf_flow *f, const float *x, const float *context, size_t rows, int chunk,
                            const train_share *share, double *log_prob);

/* The model kind of a flow: its config's, or "custom" (built layer by
 * layer), for the reports. */
const char *model_kind(const nf_flow *f);

#endif
