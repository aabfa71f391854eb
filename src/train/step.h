/* One maximum-likelihood training step. */
#ifndef NF_TRAIN_STEP_H
#define NF_TRAIN_STEP_H

#include "flow/flow.h"

/* Mean NLL of one batch, gradient into f->grads (zeroed first), then one
 * Adam step. Returns the loss (NaN/Inf when it is not finite; parameters
 * are then left unchanged). */
double train_step(nf_flow *f, int rows, const real *x, double lr, double weight_decay, double clip_norm);

#endif
