/* Training the gmm model: EM, the number of components chosen on the data. */
#ifndef NF_API_GMM_H
#define NF_API_GMM_H

#include "flow/flow.h"

/* Fits f's Gaussian mixture (f->gmm) to the training rows mapped through
 * f's layers (the standardisation) by EM from k-means++ and k-means, as
 * scikit-learn's GaussianMixture does (tolerance 1e-3 nats a row, at most
 * 100 iterations, 1e-6 added to the covariances' diagonals). With
 * f's config components 0: 1, 2, 4, ... 64 components, the best on the
 * validation rows (or, without them, by BIC); the search ends after two
 * numbers without gain. deadline (CLOCK_MONOTONIC seconds; 0: none) and
 * opt->stop end it early with the best so far. A fit takes seconds: with
 * opt->checkpoint_path the fitted model is written as a checkpoint at the
 * end; opt->resume_path checks the data against that checkpoint's and
 * fits again (the same bits: nothing depends on the fit being resumed). */
nf_status flow_fit_gmm(nf_flow *f, const float *train, size_t n_train, const float *val, size_t n_val,
                       const nf_train_options *opt, double deadline, nf_train_result *result);
/* Writes the fitted f to path as a checkpoint of its fit (a failure is
 * counted in f's record, as training's checkpoints are). */
void flow_gmm_checkpoint(nf_flow *f, const float *train, size_t n_train, const float *val, size_t n_val,
                         const nf_train_options *opt, const char *path);

#endif
