/* The mean log-likelihood as the MAF paper reports it, shared by
 * nf_flow_evaluate and nf_flow_mean_log_prob (src/train/api_evaluate.c). */
#ifndef NF_TRAIN_API_EVALUATE_H
#define NF_TRAIN_API_EVALUATE_H

#include <stddef.h>

/* Mean and two standard errors of the mean of the values v[i] with
 * keep[i] (NULL: all n), in two passes (exact for values far from 0);
 * NaN for the mean of none and the error of fewer than 2. */
void mean_two_stderr(const double *v, const unsigned char *keep, size_t n, double *mean, double *two_se);

#endif
