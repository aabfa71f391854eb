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

/* A training run that pauses between epochs (the race among models,
 * nf_flow_fit_auto): the state stays in memory, so that a run continued
 * to N epochs ends with the bits of one that ran N epochs at once. Opened
 * without checkpoints (set one later); closed, the best parameters are put
 * back as nf_flow_train leaves them. */
typedef struct train_run train_run;
nf_status train_run_open(train_run **out, nf_flow *f, const float *train, const float *train_context,
                         size_t n_train, const float *val, const float *val_context, size_t n_val,
                         const nf_train_options *opt);
/* Trains until `epochs` epochs are done in all, the run is over (patience,
 * max_epochs), or it halts (the stop flag, the progress callback); *over:
 * it will train no more. */
nf_status train_run_until(train_run *r, int64_t epochs, int *over);
void train_run_status(const train_run *r, int64_t *epochs, int64_t *best_epoch, double *best_val, int *stopped);
void train_run_set_checkpoint(train_run *r, const char *path, double every);
/* Progress calls from now on (every: within epochs too, as
 * progress_seconds), each with candidate as nf_train_progress.candidate. */
void train_run_set_progress(train_run *r, int (*progress)(const nf_train_progress *, void *), void *user,
                            double every, const char *candidate);
/* Ends the run (st: a failure to report), frees r. */
nf_status train_run_close(train_run *r, nf_status st, nf_train_result *result);

#endif
