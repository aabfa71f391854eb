/* The rational-quadratic spline, one value at a time (rq_spline.h).
 *
 * In bin k with knots (x_k, y_k), width w, height h, s = h / w, derivatives
 * d0 at its left knot and d1 at its right, xi = (x - x_k) / w, t = xi (1 - xi):
 *   g(x)  = y_k + h (s xi^2 + d0 t) / D,      D = s + (d0 + d1 - 2 s) t
 *   g'(x) = s^2 (d1 xi^2 + 2 s t + d0 (1 - xi)^2) / D^2
 * The backward passes differentiate both through the bin's six numbers
 * (x_k, w, y_k, h, d0, d1), then those through the softmax (with the knots
 * as running sums) and the softplus. The inverse's gradients follow from
 * the forward's at the same point (implicit differentiation). */
#include "core/rq_spline.h"

#include <math.h>
#include <stddef.h>

#include "core/kern.h"

enum { XK, W, YK, H, D0, D1, N_LOCAL };

/* A bin as the formulas see it, with its place among the knots. */
typedef struct bin {
    int k;
    real v[N_LOCAL];
} bin;

rq_spline rq_spline_make(int bins, double bound)
{
    const real minimum = (real)1e-3;
    rq_spline s = {bins, (real)bound, minimum, minimum, (real)log(expm1(1.0 - (double)minimum)), 0, 0};
    return s;
}

rq_spline rq_spline_make_shifted(int bins, double bound, double scale_bound)
{
    rq_spline s = rq_spline_make(bins, bound);
    s.shifted = scale_bound >= 0;
    s.scale_bound = s.shifted ? (real)scale_bound : 0;
    return s;
}

int rq_spline_check(int bins, double bound) { return bins >= NF_MIN_BINS && bins <= RQ_MAX_BINS && bound > 0 && bound <= NF_MAX_TAIL_BOUND; }

void rq_prepare(const rq_spline *s, int n, real *params, size_t stride)
{
    k_spline_prepare(n, s->bins, s->shift, params, stride);
}

/* Knot j + 1 from the running sum of the first j + 1 probabilities. The
 * knots are -B, these, then B exactly, so that the bins tile [-B, B]
 * whatever the rounding; every pass sums in the same order, so the knots
 * (and the bin found) are the same in the forward and backward passes. */
static real next_knot(const rq_spline *s, real *acc, real p)
{
    *acc += s->min_width + (1 - s->bins * s->min_width) * p;
    return -s->bound + 2 * s->bound * *acc;
}

/* The bin holding v by the knots of probabilities p (the last whose left
 * knot is <= v): its index, left and right knots. */
static int locate(const rq_spline *s, const real *p, real v, real *left, real *right)
{
    int K = s->bins, k = 0;
    real acc = 0, lo = -s->bound, hi = s->bound;
    for (; k < K - 1; k++) {
        real next = next_knot(s, &acc, p[k]);
        if (next > v) {
            hi = next;
            break;
        }
        lo = next;
    }
    *left = lo;
    *right = hi;
    return k;
}

/* Knots k and k + 1 of probabilities p. */
static void knots_at(const rq_spline *s, const real *p, int k, real *left, real *right)
{
    real acc = 0, lo = -s->bound;
    for (int j = 0; j < k; j++)
        lo = next_knot(s, &acc, p[j]);
    *left = lo;
    *right = k == s->bins - 1 ? s->bound : next_knot(s, &acc, p[k]);
}

/* d_i, i = 0..K: 1 at both ends. */
static real derivative(const rq_spline *s, const real *prep, int i)
{
    if (i == 0 || i == s->bins)
        return 1;
    return s->min_derivative + prep[2 * s->bins + i - 1];
}

/* The bin of x (by_height 0) or of y (by_height 1). */
static void bin_of(const rq_spline *s, const real *prep, real v, int by_height, bin *b)
{
    const real *pw = prep, *ph = prep + s->bins;
    real lo, hi, lo2, hi2;
    int k = b->k = locate(s, by_height ? ph : pw, v, &lo, &hi);
    knots_at(s, by_height ? pw : ph, k, &lo2, &hi2);
    b->v[XK] = by_height ? lo2 : lo;
    b->v[W] = by_height ? hi2 - lo2 : hi - lo;
    b->v[YK] = by_height ? lo : lo2;
    b->v[H] = by_height ? hi - lo : hi2 - lo2;
    b->v[D0] = derivative(s, prep, k);
    b->v[D1] = derivative(s, prep, k + 1);
}

static real clamp01(real a) { return a < 0 ? 0 : a > 1 ? 1 : a; }

/* g(x) and log g'(x) in the bin (logdet NULL: not wanted); with f and l
 * not NULL, their partial derivatives: index 0 by x, then by the bin's six
 * numbers. */
static real eval(const bin *b, real x, real *logdet, real *f, real *l)
{
    real xk = b->v[XK], w = b->v[W], yk = b->v[YK], h = b->v[H], d0 = b->v[D0], d1 = b->v[D1];
    real xi = clamp01((x - xk) / w), t = xi * (1 - xi), s = h / w, delta = d0 + d1 - 2 * s;
    real D = s + delta * t, n = s * xi * xi + d0 * t, R = n / D;
    real M = d1 * xi * xi + 2 * s * t + d0 * (1 - xi) * (1 - xi);
    real sD = s / D;
    if (logdet)
        *logdet = r_log(sD * sD * M); /* one log: g' stays well inside float's range */
    if (f) {
        real D_xi = delta * (1 - 2 * xi);
        real R_xi = (2 * s * xi + d0 * (1 - 2 * xi) - R * D_xi) / D;
        real R_s = (xi * xi - R * (1 - 2 * t)) / D;
        real M_xi = 2 * d1 * xi + 2 * s * (1 - 2 * xi) - 2 * d0 * (1 - xi);
        real L_xi = M_xi / M - 2 * D_xi / D;
        real L_s = 2 / s + 2 * t / M - 2 * (1 - 2 * t) / D;
        f[0] = h * R_xi / w;
        f[1 + XK] = -f[0];
        f[1 + W] = -(xi * h * R_xi + s * h * R_s) / w;
        f[1 + YK] = 1;
        f[1 + H] = R + h * R_s / w;
        f[1 + D0] = h * t * (1 - R) / D;
        f[1 + D1] = -h * R * t / D;
        l[0] = L_xi / w;
        l[1 + XK] = -l[0];
        l[1 + W] = -(xi * L_xi + s * L_s) / w;
        l[1 + YK] = 0;
        l[1 + H] = L_s / w;
        l[1 + D0] = (1 - xi) * (1 - xi) / M - 2 * t / D;
        l[1 + D1] = xi * xi / M - 2 * t / D;
    }
    return yk + h * R;
}

real rq_forward(const rq_spline *s, const real *prep, real x, real *logdet)
{
    if (!(x >= -s->bound && x <= s->bound)) {
        *logdet = 0;
        return x;
    }
    bin b;
    bin_of(s, prep, x, 0, &b);
    return eval(&b, x, logdet, NULL, NULL);
}

/* xi of y in the bin: the root of a xi^2 + b xi + c = 0 in [0, 1], as
 * 2c / (-b - sqrt(b^2 - 4ac)), which does not cancel (c <= 0 < b's
 * magnitude); in double, the discriminant clamped at 0. */
static real inverse_xi(const bin *bn, real y)
{
    double w = bn->v[W], yk = bn->v[YK], h = bn->v[H], d0 = bn->v[D0], d1 = bn->v[D1];
    double s = h / w, dy = y - yk, delta = d0 + d1 - 2 * s;
    double a = h * (s - d0) + dy * delta, b = h * d0 - dy * delta, c = -s * dy;
    double disc = b * b - 4 * a * c;
    double denom = -b - sqrt(disc > 0 ? disc : 0);
    return clamp01(denom != 0 ? (real)(2 * c / denom) : 0);
}

real rq_inverse(const rq_spline *s, const real *prep, real y, real *logdet)
{
    if (!(y >= -s->bound && y <= s->bound)) {
        *logdet = 0;
        return y;
    }
    bin b;
    bin_of(s, prep, y, 1, &b);
    real x = b.v[XK] + inverse_xi(&b, y) * b.v[W], l;
    eval(&b, x, &l, NULL, NULL);
    *logdet = -l;
    return x;
}

/* The softplus's slope, the sigmoid, from the softplus v: -expm1(-v). For
 * float, 1 - e^-v in double is as precise and costs half of expm1f. */
static real softplus_slope(real v)
{
    return sizeof(real) < sizeof(double) ? (real)(1 - exp(-(double)v)) : (real)-expm1(-(double)v);
}

/* The gradient by the bin's six numbers (g) into raw: the knots are
 * running sums of the widths (heights), which are a softmax; the interior
 * derivatives a softplus. */
static void scatter(const rq_spline *s, const real *prep, const bin *b, const real *g, real *graw)
{
    int K = s->bins, k = b->k;
    real scale = 2 * s->bound * (1 - K * s->min_width);
    for (int half = 0; half < 2; half++) {
        const real *p = prep + half * K;
        real g_size = scale * g[half ? H : W], g_start = scale * g[half ? YK : XK], dot = 0;
        for (int j = 0; j < k; j++)
            dot += p[j];
        dot = dot * g_start + p[k] * g_size;
        real *out = graw + half * K;
        for (int j = 0; j < K; j++)
            out[j] = p[j] * ((j == k ? g_size : j < k ? g_start : 0) - dot);
    }
    real *gd = graw + 2 * K;
    for (int i = 1; i < K; i++)
        gd[i - 1] = 0;
    if (k > 0)
        gd[k - 1] = g[D0] * softplus_slope(prep[2 * K + k - 1]);
    if (k + 1 < K)
        gd[k] = g[D1] * softplus_slope(prep[2 * K + k]);
}

static void zero(const rq_spline *s, real *graw)
{
    for (int j = 0; j < rq_params(s->bins); j++)
        graw[j] = 0;
}

/* Both backward passes at the point x: forward (gy, gl of y and log g')
 * or inverse (gx, gl of x and log|dx/dy|, by implicit differentiation:
 * with y = g(x, theta), dx/dy = 1 / g_x, dx/dtheta = -g_theta / g_x, and
 * the inverse's log-determinant -L(x, theta) has d/dy = -L_x / g_x and
 * d/dtheta = -(L_theta - L_x g_theta / g_x)). */
static void backward(const rq_spline *s, const real *prep, real x, real g_out, real gl, int inverse, real *g_in,
                     real *graw)
{
    if (!(x >= -s->bound && x <= s->bound)) { /* the identity */
        *g_in = g_out;
        zero(s, graw);
        return;
    }
    bin b;
    bin_of(s, prep, x, 0, &b);
    real f[1 + N_LOCAL], l[1 + N_LOCAL], g[N_LOCAL];
    eval(&b, x, NULL, f, l);
    if (inverse) {
        real inv = 1 / f[0];
        *g_in = (g_out - gl * l[0]) * inv;
        for (int i = 0; i < N_LOCAL; i++)
            g[i] = -g_out * f[1 + i] * inv - gl * (l[1 + i] - l[0] * f[1 + i] * inv);
    } else {
        *g_in = g_out * f[0] + gl * l[0];
        for (int i = 0; i < N_LOCAL; i++)
            g[i] = g_out * f[1 + i] + gl * l[1 + i];
    }
    scatter(s, prep, &b, g, graw);
}

void rq_forward_backward(const rq_spline *s, const real *prep, real x, real gy, real gl, real *gx, real *graw)
{
    backward(s, prep, x, gy, gl, 0, gx, graw);
}

void rq_inverse_backward(const rq_spline *s, const real *prep, real x, real gx, real gl, real *gy, real *graw)
{
    backward(s, prep, x, gx, gl, 1, gy, graw);
}

/* Shifted blocks: [alpha, mu, spline]; plain blocks: the spline alone. */
enum { ALPHA, MU, SHIFT_PARAMS };

static const real *spline_of(const rq_spline *s, const real *block) { return block + (s->shifted ? SHIFT_PARAMS : 0); }

void rq_block_prepare(const rq_spline *s, int n, real *blocks, size_t stride)
{
    rq_prepare(s, n, blocks + (s->shifted ? SHIFT_PARAMS : 0), stride);
    if (s->shifted && s->scale_bound > 0)
        k_bound_in_place(n, blocks + ALPHA, stride, s->scale_bound);
}

real rq_block_forward(const rq_spline *s, const real *block, real x, real *logdet)
{
    if (!s->shifted)
        return rq_forward(s, block, x, logdet);
    real y = rq_forward(s, spline_of(s, block), (x - block[MU]) * r_exp(-block[ALPHA]), logdet);
    *logdet -= block[ALPHA];
    return y;
}

real rq_block_inverse(const rq_spline *s, const real *block, real y, real *logdet)
{
    real t = rq_inverse(s, spline_of(s, block), y, logdet);
    if (!s->shifted)
        return t;
    *logdet += block[ALPHA];
    return t * r_exp(block[ALPHA]) + block[MU];
}

/* t = (x - mu) e^-alpha: dt/dx = e^-alpha, dt/dmu = -e^-alpha, dt/dalpha = -t,
 * and -alpha in the log-determinant. */
void rq_block_forward_backward(const rq_spline *s, const real *block, real x, real gy, real gl, real *gx,
                               real *gblock)
{
    if (!s->shifted) {
        rq_forward_backward(s, block, x, gy, gl, gx, gblock);
        return;
    }
    real e = r_exp(-block[ALPHA]), t = (x - block[MU]) * e, gt;
    rq_forward_backward(s, spline_of(s, block), t, gy, gl, &gt, gblock + SHIFT_PARAMS);
    *gx = gt * e;
    gblock[MU] = -gt * e;
    gblock[ALPHA] = (-gt * t - gl) * k_bound_slope(s->scale_bound, block[ALPHA]);
}

/* x = mu + e^alpha t, t = g^-1(y): dx/dmu = 1, dx/dalpha = x - mu, dx/dt =
 * e^alpha, and +alpha in the log-determinant. */
void rq_block_inverse_backward(const rq_spline *s, const real *block, real x, real gx, real gl, real *gy,
                               real *gblock)
{
    if (!s->shifted) {
        rq_inverse_backward(s, block, x, gx, gl, gy, gblock);
        return;
    }
    real e = r_exp(block[ALPHA]), t = (x - block[MU]) / e;
    gblock[MU] = gx;
    gblock[ALPHA] = (gx * (x - block[MU]) + gl) * k_bound_slope(s->scale_bound, block[ALPHA]);
    rq_inverse_backward(s, spline_of(s, block), t, gx * e, gl, gy, gblock + SHIFT_PARAMS);
}
