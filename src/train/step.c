/* One maximum-likelihood step on one batch. */
#include "train/step.h"

#include <math.h>
#include <string.h>

#include "core/kern.h"
#include "train/adam.h"

void flow_find_live_once(nf_flow *f)
{
    if (!f->opt.live.ranges) /* the gradient, zero between steps, is the probe */
        flow_find_live(f, f->opt.grads, &f->opt.live);
}

nf_status flow_adam_step(nf_flow *f, double lr, double weight_decay, double clip_norm)
{
    flow_optimizer *o = &f->opt;
    const flow_live *live = o->live.ranges ? &o->live : NULL; /* NULL (not found, out of memory): all */
    return adam_step(f->n_params, f->params, o->grads, o->m, o->v, &o->t, live, lr, weight_decay, clip_norm);
}

double train_step(nf_flow *f, int rows, const real *x, double lr, double weight_decay, double clip_norm)
{
    flow_set_training(f, 1);
    flow_x2z(f, rows, x, f->work.logp);
    double loss = 0;
    for (int r = 0; r < rows; r++)
        loss -= f->work.logp[r];
    loss /= rows;
    if (!isfinite(loss)) {
        flow_set_training(f, 0);
        return loss;
    }
    flow_find_live_once(f);
    flow_nll_backward(f, rows, x, f->opt.grads, NULL);
    flow_set_training(f, 0);
    if (flow_adam_step(f, lr, weight_decay, clip_norm))
        return NAN;
    return loss;
}

double train_step_shared(nf_flow *f, int rows, const real *x, int total, const train_share *share, double lr,
                         double weight_decay, double clip_norm, int *stop)
{
    size_t n = f->n_params;
    double sums[2] = {0, *stop ? 1 : 0}; /* the loss's sum, and whether a process stops */
    flow_find_live_once(f);
    if (rows > 0) {
        flow_set_training(f, 1);
        flow_x2z(f, rows, x, f->work.logp);
        for (int r = 0; r < rows; r++)
            sums[0] -= f->work.logp[r];
        if (isfinite(sums[0]))
            flow_nll_backward_of(f, rows, x, total, f->opt.grads, NULL);
        flow_set_training(f, 0);
    }
    if (share->reduce(sums, 2, 1, share->user) || share->reduce(f->opt.grads, n, 0, share->user)) {
        memset(f->opt.grads, 0, sizeof(real) * n); /* zero between steps, as the next one wants them */
        return NAN;
    }
    *stop = sums[1] > 0;
    double loss = sums[0] / total;
    if (!isfinite(loss)) {
        memset(f->opt.grads, 0, sizeof(real) * n);
        return loss;
    }
    if (flow_adam_step(f, lr, weight_decay, clip_norm))
        return NAN;
    return loss;
}
