/* One maximum-likelihood training step. */
#ifndef NF_TRAIN_STEP_H
#define NF_TRAIN_STEP_H

#include "flow/flow.h"

/* A batch whose loss lies far above the recent ones (more than SPIKE_DEVS
 * mean absolute deviations above their running mean) gets no update: a
 * rare image a sharp model maps far out costs a glow 1e5 to 1e12 nats
 * where its batches cost 2,000 (its learned prior of the factored half
 * multiplies what the earlier steps already spread), and the clipped step
 * that batch would take (all of its length along that image) unsettles
 * the model for whole epochs. The running figures start after SPIKE_WARM
 * batches; after SPIKE_RUN skips in a row the next batch is taken whatever
 * its loss (the loss has moved, not spiked). The training loop guards
 * image models only: on columns (htru2, a realnvp with dropout) it skipped
 * a batch of a heavy-tailed data set, a change of the estimator nobody
 * measured there. */
enum { SPIKE_DEVS = 50, SPIKE_WARM = 50, SPIKE_RUN = 10 };
typedef struct spike_guard {
    double mean, dev;           /* running mean and mean absolute deviation of accepted losses */
    int64_t seen, run, skipped; /* batches accepted; skips in a row; skips in all */
} spike_guard;

/* 1: skip this batch's update (counted); 0: take it (its loss recorded). */
int spike_guard_skips(spike_guard *g, double loss);

/* Mean NLL of one batch, gradient into f->opt.grads (zeroed first), then one
 * Adam step, unless the guard (NULL: none) skips the batch. Returns the
 * loss (NaN/Inf when it is not finite; parameters are then left
 * unchanged). */
double train_step(nf_flow *f, int rows, const real *x, double lr, double weight_decay, double clip_norm,
                  spike_guard *guard);

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
                         double weight_decay, double clip_norm, spike_guard *guard, int *stop);

#endif
