/* The monotonic rational-quadratic spline of neural spline flows (Durkan,
 * Bekasov, Murray, Papamakarios 2019), one value at a time: K bins on
 * [-B, B], the identity outside (the tails), the knots' widths and heights
 * by softmax and the interior knots' derivatives by softplus, both kept
 * above a minimum; the derivatives at -B and B are 1, so the tails join
 * smoothly, and raw parameters of 0 give the identity.
 *
 * Raw parameters of one value (rq_params(K) of them, one after another):
 * K widths, K heights, K - 1 interior derivatives. Directions: forward is
 * the density direction y = g(x); the inverse x = g^-1(y) is the closed
 * form root of a quadratic, in the form that does not cancel. */
#ifndef NF_CORE_RQ_SPLINE_H
#define NF_CORE_RQ_SPLINE_H

#include <stddef.h>

#include "core/kern.h"
#include "core/real.h"

/* Most bins a spline may have (rq_spline_check): what the vector
 * preparation's buffers hold. */
#define RQ_MAX_BINS K_SPLINE_MAX_BINS

typedef struct rq_spline {
    int bins;
    real bound;          /* B */
    real min_width;      /* of a bin, as a fraction of 2B (and of heights) */
    real min_derivative; /* at an interior knot */
    real shift;          /* the softplus offset that makes a raw derivative of 0 give 1 */
    int shifted;         /* the block functions below: the spline reads (x - mu) e^-alpha */
    real scale_bound;    /* their alpha = scale_bound tanh(raw / scale_bound); 0: unbounded */
} rq_spline;

/* K bins on [-bound, bound] with the minima of nflows (1e-3); not shifted. */
rq_spline rq_spline_make(int bins, double bound);
/* The same spline, shifted when scale_bound >= 0 (its alpha bounded by it). */
rq_spline rq_spline_make_shifted(int bins, double bound, double scale_bound);
/* 1 when bins is in 2..RQ_MAX_BINS and bound > 0 is finite, else 0. */
int rq_spline_check(int bins, double bound);
static inline int rq_params(int bins) { return 3 * bins - 1; }

/* The raw parameters of n values (rq_params(K) each, value i at params +
 * i stride) turned in place into the form the passes below read: each value's K
 * width and K height softmax probabilities, then the softplus of its K - 1
 * interior derivatives (raw + shift, before the minimum is added). Done for
 * a whole block at once in vectors (k_spline_prepare), and kept for the
 * backward passes, which then need no exp or log of their own. */
void rq_prepare(const rq_spline *s, int n, real *params, size_t stride);
/* y = g(x); *logdet = log g'(x). prep: one value's prepared parameters. */
real rq_forward(const rq_spline *s, const real *prep, real x, real *logdet);
/* x = g^-1(y); *logdet = log |dx/dy| = -log g'(x). */
real rq_inverse(const rq_spline *s, const real *prep, real y, real *logdet);
/* Gradients at the point x (the data side) for upstream gradients gy of
 * y = g(x) and gl of log g'(x): *gx = d/dx, and graw[0 .. rq_params) (each
 * written) d/d the raw parameters that were prepared into prep. */
void rq_forward_backward(const rq_spline *s, const real *prep, real x, real gy, real gl, real *gx, real *graw);
/* Gradients of the inverse at its output x = g^-1(y), for upstream
 * gradients gx of x and gl of log|dx/dy|: *gy = d/dy, graw = d/d raw. */
void rq_inverse_backward(const rq_spline *s, const real *prep, real x, real gx, real gl, real *gy, real *graw);


/* The block functions: one value's block of network outputs, as a layer
 * keeps it. Shifted, the block is [alpha, mu, the spline's rq_params] and
 * the value goes through t = (x - mu) e^-alpha, y = g(t), so that the
 * spline's interval [-B, B] follows the value's conditional location and
 * scale (g alone maps [-B, B] onto itself and cannot move either):
 * log|dy/dx| = log g'(t) - alpha. Not shifted, the block is the spline's
 * parameters and t = x. */
static inline int rq_block_params(const rq_spline *s) { return rq_params(s->bins) + (s->shifted ? 2 : 0); }
/* n blocks (block i at blocks + i stride) prepared in place: the spline's
 * parameters as rq_prepare, alpha bounded. */
void rq_block_prepare(const rq_spline *s, int n, real *blocks, size_t stride);
real rq_block_forward(const rq_spline *s, const real *block, real x, real *logdet);
real rq_block_inverse(const rq_spline *s, const real *block, real y, real *logdet);
/* As rq_forward_backward / rq_inverse_backward, gblock (each written) the
 * gradient by the block's raw values. */
void rq_block_forward_backward(const rq_spline *s, const real *block, real x, real gy, real gl, real *gx,
                               real *gblock);
void rq_block_inverse_backward(const rq_spline *s, const real *block, real x, real gx, real gl, real *gy,
                               real *gblock);

#endif
