/* One maximum-likelihood step on one batch. */
#include "train/step.h"

#include <math.h>
#include <string.h>

#include "core/kern.h"
#include "train/adam.h"

double train_step(nf_flow *f, int rows, const real *x, double lr, double weight_decay, double clip_norm)
{
    size_t n = f->n_params;
    flow_set_training(f, 1);
    flow_x2z(f, rows, x, f->logp);
    double loss = 0;
    for (int r = 0; r < rows; r++)
        loss -= f->logp[r];
    loss /= rows;
    if (!isfinite(loss)) {
        flow_set_training(f, 0);
        return loss;
    }
    /* zeroed by threads in pieces: a serial pass over every parameter
     * each step would not scale */
    enum { PIECE = 1 << 14 };
#pragma omp parallel for schedule(static) num_threads(k_threads()) if (n > 4 * PIECE)
    for (size_t i = 0; i < n; i += PIECE)
        memset(f->grads + i, 0, sizeof(real) * (n - i < PIECE ? n - i : PIECE));
    flow_nll_backward(f, rows, x, f->grads, NULL);
    flow_set_training(f, 0);
    if (adam_step(n, f->params, f->grads, f->adam_m, f->adam_v, &f->adam_t, lr, weight_decay, clip_norm))
        return NAN;
    return loss;
}
