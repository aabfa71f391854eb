/* One maximum-likelihood training step. */
#ifndef NF_TRAIN_STEP_H
#define NF_TRAIN_STEP_H

#include "flow/flow.h"

/* Mean NLL of one batch, gradient into f->opt.grads (zero between steps:
 * each one's Adam step consumes them), then one Adam step. Returns the
 * loss (NaN/Inf when it is not finite; parameters are then left
 * unchanged). */
double train_step(nf_flow *f, int rows, const real *x, double lr, double weight_decay, double clip_norm);

/* Finds f's live parameters (flow_find_live) unless found: before a
 * step's backward pass, while the gradient is zero. */
void flow_find_live_once(nf_flow *f);
/* One Adam step on f's parameters from f->opt.grads, which it zeroes
 * (src/train/adam.h), skipping the pinned ones once found. */
nf_status flow_adam_step(nf_flow *f, double lr, double weight_decay, double clip_norm);

/* Data-parallel training: this process's rank of `ranks`, and the sum of a
 * buffer across the processes (nf_train_options.reduce). */
typedef struct train_share {
    int rank, ranks;
    int (*reduce)(void *buf, size_t n, int is_double, void *user);
    void *user;
} train_share;

/* The step of data-parallel training: this process's `rows` (possibly 0)
 * of a global batch of `total`; the gradients and the loss are summed
 * across the processes, then every one takes the same Adam step. *stop in:
 * this process wants to stop; out: some process does. Returns the global
 * batch's loss (NaN/Inf when not finite or a reduction failed: no step). */
double train_step_shared(nf_flow *f, int rows, const real *x, int total, const train_share *share, double lr,
                         double weight_decay, double clip_norm, int *stop);

#endif
