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

enum { XK, W, YK, H, D0, D1, N_LOCAL };

/* A bin as the formulas see it, with its place among the knots. */
typedef struct bin {
    int k;
    real v[N_LOCAL];
    real pw[RQ_MAX_BINS], ph[RQ_MAX_BINS]; /* the softmax probabilities */
} bin;

rq_spline rq_spline_make(int bins, double bound)
{
    const real minimum = (real)1e-3;
    rq_spline s = {bins, (real)bound, minimum, minimum, (real)log(expm1(1.0 - (double)minimum))};
    return s;
}

int rq_spline_check(int bins, double bound) { return bins >= 2 && bins <= RQ_MAX_BINS && bound > 0 && isfinite(bound); }

static void softmax(int n, const real *u, int stride, real *p)
{
    real top = u[0];
    for (int j = 1; j < n; j++)
        top = u[(size_t)j * stride] > top ? u[(size_t)j * stride] : top;
    real sum = 0;
    for (int j = 0; j < n; j++)
        sum += p[j] = r_exp(u[(size_t)j * stride] - top);
    for (int j = 0; j < n; j++)
        p[j] /= sum;
}

/* knot[0..K] from the probabilities: -B, then running sums, then B exactly,
 * so that the bins tile [-B, B] whatever the rounding. */
static void knots_of(const rq_spline *s, const real *p, real *knot)
{
    int K = s->bins;
    real scale = 1 - K * s->min_width, acc = 0;
    knot[0] = -s->bound;
    for (int j = 0; j < K - 1; j++) {
        acc += s->min_width + scale * p[j];
        knot[j + 1] = -s->bound + 2 * s->bound * acc;
    }
    knot[K] = s->bound;
}

static real softplus(real a) { return a > 20 ? a : r_log1p(r_exp(a)); }
static real sigmoid(real a) { return 1 / (1 + r_exp(-a)); }

/* d_i, i = 0..K: 1 at both ends. */
static real derivative(const rq_spline *s, const real *raw, int stride, int i)
{
    if (i == 0 || i == s->bins)
        return 1;
    return s->min_derivative + softplus(raw[(size_t)(2 * s->bins + i - 1) * stride] + s->shift);
}

/* The bin holding v among knot[0..K] (the last whose left knot is <= v). */
static int find_bin(const real *knot, int K, real v)
{
    int k = 0;
    while (k < K - 1 && knot[k + 1] <= v)
        k++;
    return k;
}

/* The bin of x (by_height 0) or of y (by_height 1); b->pw, b->ph kept. */
static void bin_of(const rq_spline *s, const real *raw, int stride, real v, int by_height, bin *b)
{
    int K = s->bins;
    real kx[RQ_MAX_BINS + 1], ky[RQ_MAX_BINS + 1];
    softmax(K, raw, stride, b->pw);
    softmax(K, raw + (size_t)K * stride, stride, b->ph);
    knots_of(s, b->pw, kx);
    knots_of(s, b->ph, ky);
    int k = b->k = find_bin(by_height ? ky : kx, K, v);
    b->v[XK] = kx[k];
    b->v[W] = kx[k + 1] - kx[k];
    b->v[YK] = ky[k];
    b->v[H] = ky[k + 1] - ky[k];
    b->v[D0] = derivative(s, raw, stride, k);
    b->v[D1] = derivative(s, raw, stride, k + 1);
}

static real clamp01(real a) { return a < 0 ? 0 : a > 1 ? 1 : a; }

/* g(x) and log g'(x) in the bin; with f and l not NULL, their partial
 * derivatives: index 0 by x, then by the bin's six numbers. */
static real eval(const bin *b, real x, real *logdet, real *f, real *l)
{
    real xk = b->v[XK], w = b->v[W], yk = b->v[YK], h = b->v[H], d0 = b->v[D0], d1 = b->v[D1];
    real xi = clamp01((x - xk) / w), t = xi * (1 - xi), s = h / w, delta = d0 + d1 - 2 * s;
    real D = s + delta * t, n = s * xi * xi + d0 * t, R = n / D;
    real M = d1 * xi * xi + 2 * s * t + d0 * (1 - xi) * (1 - xi);
    *logdet = 2 * r_log(s) + r_log(M) - 2 * r_log(D);
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

real rq_forward(const rq_spline *s, const real *raw, int stride, real x, real *logdet)
{
    if (!(x >= -s->bound && x <= s->bound)) {
        *logdet = 0;
        return x;
    }
    bin b;
    bin_of(s, raw, stride, x, 0, &b);
    return eval(&b, x, logdet, NULL, NULL);
}

/* xi of y in the bin: the root of a xi^2 + b xi + c = 0 in [0, 1], as
 * 2c / (-b - sqrt(b^2 - 4ac)), which does not cancel (c <= 0 < b's
 * magnitude); in double, the discriminant clamped at 0. */
static real inverse_xi(const bin *bn, real y)
{
    double xk = bn->v[XK], w = bn->v[W], yk = bn->v[YK], h = bn->v[H], d0 = bn->v[D0], d1 = bn->v[D1];
    (void)xk;
    double s = h / w, dy = y - yk, delta = d0 + d1 - 2 * s;
    double a = h * (s - d0) + dy * delta, b = h * d0 - dy * delta, c = -s * dy;
    double disc = b * b - 4 * a * c;
    double denom = -b - sqrt(disc > 0 ? disc : 0);
    return clamp01(denom != 0 ? (real)(2 * c / denom) : 0);
}

real rq_inverse(const rq_spline *s, const real *raw, int stride, real y, real *logdet)
{
    if (!(y >= -s->bound && y <= s->bound)) {
        *logdet = 0;
        return y;
    }
    bin b;
    bin_of(s, raw, stride, y, 1, &b);
    real x = b.v[XK] + inverse_xi(&b, y) * b.v[W], l;
    eval(&b, x, &l, NULL, NULL);
    *logdet = -l;
    return x;
}

/* The gradient by the bin's six numbers (g) into raw: the knots are
 * running sums of the widths (heights), which are a softmax; the interior
 * derivatives a softplus. */
static void scatter(const rq_spline *s, const real *raw, int stride, const bin *b, const real *g, real *graw)
{
    int K = s->bins, k = b->k;
    real scale = 2 * s->bound * (1 - K * s->min_width);
    for (int half = 0; half < 2; half++) {
        const real *p = half ? b->ph : b->pw;
        real g_size = g[half ? H : W], g_start = g[half ? YK : XK], gp[RQ_MAX_BINS], dot = 0;
        for (int j = 0; j < K; j++) {
            gp[j] = scale * ((j == k ? g_size : 0) + (j < k ? g_start : 0));
            dot += p[j] * gp[j];
        }
        for (int j = 0; j < K; j++)
            graw[(size_t)(half * K + j) * stride] = p[j] * (gp[j] - dot);
    }
    real shift = s->shift;
    for (int i = 1; i < K; i++) {
        real gd = (i == k ? g[D0] : 0) + (i == k + 1 ? g[D1] : 0);
        size_t at = (size_t)(2 * K + i - 1) * stride;
        graw[at] = gd != 0 ? gd * sigmoid(raw[at] + shift) : 0;
    }
}

static void zero(const rq_spline *s, int stride, real *graw)
{
    for (int j = 0; j < rq_params(s->bins); j++)
        graw[(size_t)j * stride] = 0;
}

/* Both backward passes at the point x: forward (gy, gl of y and log g')
 * or inverse (gx, gl of x and log|dx/dy|, by implicit differentiation:
 * with y = g(x, theta), dx/dy = 1 / g_x, dx/dtheta = -g_theta / g_x, and
 * the inverse's log-determinant -L(x, theta) has d/dy = -L_x / g_x and
 * d/dtheta = -(L_theta - L_x g_theta / g_x)). */
static void backward(const rq_spline *s, const real *raw, int stride, real x, real g_out, real gl, int inverse,
                     real *g_in, real *graw)
{
    if (!(x >= -s->bound && x <= s->bound)) { /* the identity */
        *g_in = g_out;
        zero(s, stride, graw);
        return;
    }
    bin b;
    bin_of(s, raw, stride, x, 0, &b);
    real f[1 + N_LOCAL], l[1 + N_LOCAL], ld, g[N_LOCAL];
    eval(&b, x, &ld, f, l);
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
    scatter(s, raw, stride, &b, g, graw);
}

void rq_forward_backward(const rq_spline *s, const real *raw, int stride, real x, real gy, real gl, real *gx,
                         real *graw)
{
    backward(s, raw, stride, x, gy, gl, 0, gx, graw);
}

void rq_inverse_backward(const rq_spline *s, const real *raw, int stride, real x, real gx, real gl, real *gy,
                         real *graw)
{
    backward(s, raw, stride, x, gx, gl, 1, gy, graw);
}
