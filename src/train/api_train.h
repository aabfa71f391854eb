/* Training entries the library's own callers use besides the public
 * nf_flow_train*. */
#ifndef NF_API_TRAIN_H
#define NF_API_TRAIN_H

#include "flow/flow.h"

/* nf_flow_train_given with, when `anneal`, a learning rate that falls on a
 * cosine from opt->lr to 0 over opt->max_epochs instead of halving on
 * plateaus (a run of known length: distillation's maximum-likelihood
 * phase). No checkpoints or resume. */
nf_status flow_train_annealed(nf_flow *f, const float *train, const float *train_context, size_t n_train,
                              const float *val, const float *val_context, size_t n_val, const nf_train_options *opt,
                              int anneal, nf_train_result *result);

/* The caller's options (their struct_size bytes, core/sized.h) over the
 * defaults, into `full`. */
nf_status train_options_in(const nf_train_options *opt, nf_train_options *full);

#endif
