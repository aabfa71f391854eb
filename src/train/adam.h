/* The optimiser: one Adam step over a flat parameter vector. */
#ifndef NF_TRAIN_ADAM_H
#define NF_TRAIN_ADAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/real.h"
#include "flow/flow.h"
#include "nflow.h"

/* With g' = g + weight_decay p, scaled so that |g'| <= clip_norm (when
 * clip_norm > 0), and t the step count (incremented here):
 *   m = 0.9 m + 0.1 g'      v = 0.999 v + 0.001 g'^2
 *   p -= lr / (1 - 0.9^t) * m / (sqrt(v / (1 - 0.999^t)) + 1e-8)
 * over the live parameters (NULL: all; the norm sums every gradient). The
 * step consumes the gradient: g is zero on the live parameters on return,
 * as the next step's backward pass wants it, without a pass of its own.
 * NF_ERR_NONFINITE when |g'| is not finite: g is zeroed, nothing else
 * changes. The same bits at any thread count. */
nf_status adam_step(size_t n, real *p, real *g, real *m, real *v, int64_t *t, const flow_live *live, double lr,
                    double weight_decay, double clip_norm);

#endif
