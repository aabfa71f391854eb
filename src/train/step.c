/* One maximum-likelihood step on one batch. */
#include "train/step.h"

#include <math.h>
#include <string.h>

#include "core/kern.h"
#include "train/adam.h"

/* Zeroed by threads in pieces: a serial pass over every parameter each
 * step would not scale. */
enum { PIECE = 1 << 14 };

static void zero_pieces(real *g, size_t n)
{
#pragma omp for schedule(static) nowait
    for (size_t i = 0; i < n; i += PIECE)
        memset(g + i, 0, sizeof(real) * (n - i < PIECE ? n - i : PIECE));
}

static void zero_grads(nf_flow *f)
{
    K_RUN(f->n_params > 4 * PIECE, zero_pieces(f->opt.grads, f->n_params));
}

double train_step(nf_flow *f, int rows, const real *x, double lr, double weight_decay, double clip_norm)
{
    size_t n = f->n_params;
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
    zero_grads(f);
    flow_nll_backward(f, rows, x, f->opt.grads, NULL);
    flow_set_training(f, 0);
    if (adam_step(n, f->params, f->opt.grads, f->opt.m, f->opt.v, &f->opt.t, lr, weight_decay, clip_norm))
        return NAN;
    return loss;
}

double train_step_shared(nf_flow *f, int rows, const real *x, int total, const train_share *share, double lr,
                         double weight_decay, double clip_norm, int *stop)
{
    size_t n = f->n_params;
    double sums[2] = {0, *stop ? 1 : 0}; /* the loss's sum, and whether a process stops */
    zero_grads(f);
    if (rows > 0) {
        flow_set_training(f, 1);
        flow_x2z(f, rows, x, f->work.logp);
        for (int r = 0; r < rows; r++)
            sums[0] -= f->work.logp[r];
        if (isfinite(sums[0]))
            flow_nll_backward_of(f, rows, x, total, f->opt.grads, NULL);
        flow_set_training(f, 0);
    }
    if (share->reduce(sums, 2, 1, share->user) || share->reduce(f->opt.grads, n, 0, share->user))
        return NAN;
    *stop = sums[1] > 0;
    double loss = sums[0] / total;
    if (!isfinite(loss))
        return loss;
    if (adam_step(n, f->params, f->opt.grads, f->opt.m, f->opt.v, &f->opt.t, lr, weight_decay, clip_norm))
        return NAN;
    return loss;
}
