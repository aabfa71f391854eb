/* The 2-D toy densities of the flow literature, each with its exact
 * log-density.
 *
 * Every toy is defined by a generative process chosen so that the density of
 * exactly that process can be evaluated to double precision (documented per
 * toy below). All data lie roughly within [-4, 4]^2, as in FFJORD.
 *
 * two_moons        k ~ {0,1} (1/2 each), t ~ U[0, pi], centre
 *                  m0(t) = (2 cos t - 1, 2 sin t - 0.2),
 *                  m1(t) = (1 - 2 cos t, 0.8 - 2 sin t)  (sklearn's moons
 *                  scaled like FFJORD), x = m_k(t) + 0.2 N(0, I).
 *                  p(x) = 1/2 sum_k (1/pi) int_0^pi N(x; m_k(t), 0.04 I) dt,
 *                  by composite Gauss-Legendre quadrature in t.
 * eight_gaussians  k ~ U{0..7}, x = 2 sqrt2 (cos(k pi/4), sin(k pi/4))
 *                  + (sqrt2/4) N(0, I): closed-form mixture.
 * checkerboard     a square drawn uniformly among the 8 black 2x2 squares of
 *                  a 4x4 board on [-4,4]^2 (the bottom-left square is black),
 *                  a point uniform in it, plus 0.05 N(0, I) smoothing noise.
 *                  p(x) = 1/8 sum_squares prod_d (Phi((x_d-a_d)/s) -
 *                  Phi((x_d-b_d)/s)) / 2, in log space with exact Gaussian
 *                  tails, so it is finite everywhere.
 * rings            k ~ U{0..3}, radius R_k in {0.75, 1.5, 2.25, 3}, angle
 *                  u ~ U[0, 2 pi), x = R_k (cos u, sin u) + 0.1 N(0, I).
 *                  p(x) = 1/4 sum_k exp(-(|x|^2 + R_k^2) / 2s^2)
 *                  I0(R_k |x| / s^2) / (2 pi s^2): closed form with the
 *                  modified Bessel function I0 (evaluated in scaled form).
 *                  Isotropic noise around the circles rather than noise on
 *                  the radius only, whose density would be infinite at 0.
 * pinwheel         k ~ U{0..4}, f = (1 + 0.3 e1, 0.1 e2), the arm rotated by
 *                  a = 2 pi k / 5 + 0.25 exp(|f|) and scaled by 2:
 *                  x = 2 R(a) f. This is the classic pinwheel (Johnson et
 *                  al.; FFJORD) with the twist driven by |f| instead of by
 *                  f's first coordinate (the same picture to the eye):
 *                  then (|f|, angle) -> (|f|, angle + h(|f|)) is an
 *                  area-preserving bijection of the plane, the inverse is
 *                  f = R(-a(|x|/2)) x / 2 and p(x) = 1/4 * 1/5 sum_k
 *                  N(f_k(x)) exactly.
 * two_spirals      k ~ {0,1}, n = 3 pi sqrt(u) (density 2n / (3pi)^2 on
 *                  [0, 3pi]), m(n) = (-n cos n, n sin n) / 3, the second
 *                  spiral -m(n), x = +-m(n) + 0.1 N(0, I) (FFJORD's spirals
 *                  without the uniform jitter). Density by composite
 *                  Gauss-Legendre quadrature over n, with panels of equal
 *                  arc length.
 * gaussian_mixture weights 0.5, 0.3, 0.2 of three correlated Gaussians
 *                  x = mu + L e (table below): closed form.
 * banana           x1 ~ N(0, 1), x2 = 0.5 x1^2 - 1 + 0.35 e: closed form.
 *
 * The quadratures (16-point Gauss-Legendre panels of 4-5 sigma of arc,
 * graded toward the curves' ends) agree with much finer independent rules
 * to ~1e-10 relative, far in the tails too (tests/test_toy.c). Terms of a
 * log-sum-exp are dropped only below exp(-40) of the largest one. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kern.h"
#include "extras/nflow_extras.h"
#include "nflow.h"
#include "core/rng.h"

#define PI 3.14159265358979323846
#define LOG_2PI 1.83787706640934548356

enum {
    TOY_TWO_MOONS,
    TOY_EIGHT_GAUSSIANS,
    TOY_CHECKERBOARD,
    TOY_RINGS,
    TOY_PINWHEEL,
    TOY_TWO_SPIRALS,
    TOY_GAUSSIAN_MIXTURE,
    TOY_BANANA,
    TOY_COUNT
};

static const char *const toy_names[TOY_COUNT + 1] = {
    "two_moons", "eight_gaussians", "checkerboard", "rings", "pinwheel",
    "two_spirals", "gaussian_mixture", "banana", NULL,
};

const char *const *nf_toy_names(void) { return toy_names; }

/* ---- parameters ------------------------------------------------------- */

#define MOON_SIGMA 0.2
#define EIGHT_RADIUS 2.8284271247461900976 /* 2 sqrt 2 */
#define EIGHT_SIGMA 0.35355339059327376220 /* sqrt 2 / 4 */
#define CHECK_SIGMA 0.05
#define RING_SIGMA 0.1
static const double ring_radius[4] = {0.75, 1.5, 2.25, 3.0};
#define PIN_ARMS 5
#define PIN_RADIAL_SD 0.3
#define PIN_TANGENT_SD 0.1
#define PIN_RATE 0.25
#define SPIRAL_SIGMA 0.1
#define SPIRAL_TURN (3.0 * PI)
#define BANANA_SIGMA 0.35

/* gaussian_mixture: weight, mean, Cholesky factor L = [[l11, 0], [l21, l22]]. */
static const struct {
    double w, mx, my, l11, l21, l22;
} gm[3] = {
    {0.5, -1.5, -1.2, 0.8, 0.5, 0.4},
    {0.3, 1.6, 0.4, 0.45, -0.35, 0.55},
    {0.2, -0.2, 2.0, 0.9, 0.15, 0.3},
};

/* ---- numerics ----------------------------------------------------------- */

static double log_sum_exp(const double *v, int n)
{
    double m = -INFINITY;
    for (int i = 0; i < n; i++)
        if (v[i] > m)
            m = v[i];
    if (m == -INFINITY)
        return -INFINITY;
    double s = 0.0;
    for (int i = 0; i < n; i++)
        if (v[i] - m > -700.0) /* skips exp's slow underflow path */
            s += exp(v[i] - m);
    return m + log(s);
}

/* log Q(t), Q the upper tail of the standard normal, accurate for all t. */
static double log_upper_tail(double t)
{
    if (t < 30.0)
        return log(0.5 * erfc(t * 0.70710678118654752440));
    /* Q(t) = phi(t)/t * (1 - 1/t^2 + 3/t^4 - 15/t^6 + ...): at t >= 30 the
     * terms fall below 1e-17 within ten. */
    double it2 = 1.0 / (t * t), term = 1.0, sum = 1.0;
    for (int k = 1; k <= 12; k++) {
        term *= -(2.0 * k - 1.0) * it2;
        sum += term;
    }
    return -0.5 * t * t - log(t) - 0.5 * LOG_2PI + log(sum);
}

/* log P(a <= x + sigma e <= b) for e ~ N(0, 1): the log-density of
 * U[a, b] + sigma N(0, 1) at x, times (b - a). In units of sigma: x lies
 * `out` outside the interval's nearer end (out <= 0: inside, -out and
 * `w` + out from its ends), `w` the width. No cancellation, no underflow. */
static double log_interval_prob(double out, double w)
{
    if (out <= 0.0) /* inside: 1 - Q(-out) - Q(w + out) */
        return log1p(-(0.5 * erfc(-out * 0.70710678118654752440) + 0.5 * erfc((w + out) * 0.70710678118654752440)));
    double a = log_upper_tail(out); /* Q(out) - Q(out + w) */
    if (w * out > 40.0)             /* Q(out + w) / Q(out) < exp(-w out) */
        return a;
    return a + log1p(-exp(log_upper_tail(out + w) - a));
}

/* log(exp(-z) I0(z)) for z >= 0. */
static double log_bessel_i0_scaled(double z)
{
    if (z < 30.0) {
        /* I0(z) = sum_k (z^2/4)^k / (k!)^2: positive terms, no cancellation */
        double q = 0.25 * z * z, term = 1.0, sum = 1.0;
        for (int k = 1; k < 200; k++) {
            term *= q / ((double)k * k);
            sum += term;
            if (term < 1e-17 * sum)
                break;
        }
        return log(sum) - z;
    }
    /* e^-z I0(z) = (2 pi z)^-1/2 sum_k c_k z^-k, c_k / c_(k-1) = (2k-1)^2/(8k):
     * at z >= 30 the terms fall below 1e-17 by k = 16 and keep falling. */
    double term = 1.0, sum = 1.0;
    for (int k = 1; k < 40; k++) {
        term *= (2.0 * k - 1.0) * (2.0 * k - 1.0) / (8.0 * k * z);
        sum += term;
        if (term < 1e-17 * sum)
            break;
    }
    return log(sum) - 0.5 * (LOG_2PI + log(z));
}

/* Gauss-Legendre nodes and weights on [-1, 1] by Newton's method. */
#define GL_N 16
static void gauss_legendre(double *x, double *w)
{
    const int n = GL_N;
    for (int i = 0; i < (n + 1) / 2; i++) {
        double z = cos(PI * (i + 0.75) / (n + 0.5)), pp = 1.0;
        for (int it = 0; it < 100; it++) {
            double p1 = 1.0, p2 = 0.0;
            for (int j = 1; j <= n; j++) {
                double p3 = p2;
                p2 = p1;
                p1 = ((2.0 * j - 1.0) * z * p2 - (j - 1.0) * p3) / j;
            }
            pp = n * (z * p1 - p2) / (z * z - 1.0);
            double z1 = z;
            z = z1 - p1 / pp;
            if (fabs(z - z1) < 1e-15)
                break;
        }
        x[i] = -z;
        x[n - 1 - i] = z;
        w[i] = w[n - 1 - i] = 2.0 / ((1.0 - z * z) * pp * pp);
    }
}

/* ---- densities along curves ---------------------------------------------- */

/* A mixture of isotropic Gaussians N(c_j, sigma^2 I) with log-weights lw_j:
 * the quadrature of a density that is noise around curves. The nodes come
 * in panels of GL_N; each panel has a bounding circle (over its nodes) and
 * the largest log-weight of its nodes, so that far panels are skipped. */
#define MAX_PANELS 96
typedef struct curve_nodes {
    int panels;
    double sigma;
    double *cx, *cy, *lw;                    /* panels * GL_N nodes */
    double pcx[MAX_PANELS], pcy[MAX_PANELS]; /* bounding circles */
    double pr[MAX_PANELS], plw[MAX_PANELS];
} curve_nodes;

static void curve_free(curve_nodes *c)
{
    free(c->cx);
    free(c->cy);
    free(c->lw);
    c->cx = c->cy = c->lw = NULL;
}

static int curve_alloc(curve_nodes *c, int panels, double sigma)
{
    size_t n = (size_t)panels * GL_N;
    c->panels = panels;
    c->sigma = sigma;
    c->cx = malloc(sizeof(double) * n);
    c->cy = malloc(sizeof(double) * n);
    c->lw = malloc(sizeof(double) * n);
    if (!c->cx || !c->cy || !c->lw) {
        curve_free(c);
        return -1;
    }
    return 0;
}

static void curve_bounds(curve_nodes *c)
{
    for (int p = 0; p < c->panels; p++) {
        const double *x = c->cx + p * GL_N, *y = c->cy + p * GL_N, *lw = c->lw + p * GL_N;
        double mx = 0.0, my = 0.0, r2 = 0.0, l = -INFINITY;
        for (int j = 0; j < GL_N; j++) {
            mx += x[j] / GL_N;
            my += y[j] / GL_N;
        }
        for (int j = 0; j < GL_N; j++) {
            double d2 = (x[j] - mx) * (x[j] - mx) + (y[j] - my) * (y[j] - my);
            r2 = d2 > r2 ? d2 : r2;
            l = lw[j] > l ? lw[j] : l;
        }
        c->pcx[p] = mx;
        c->pcy[p] = my;
        c->pr[p] = sqrt(r2) * (1.0 + 1e-12);
        c->plw[p] = l;
    }
}

/* The largest log-term of panel p at (x, y), raised from m. */
static double panel_max(const curve_nodes *c, int p, double x, double y, double inv, double m)
{
    for (int j = p * GL_N; j < (p + 1) * GL_N; j++) {
        double dx = x - c->cx[j], dy = y - c->cy[j];
        double e = c->lw[j] - (dx * dx + dy * dy) * inv;
        m = e > m ? e : m;
    }
    return m;
}

/* log sum_j exp(lw_j) N(x; c_j, sigma^2 I). Terms below exp(-40) of the
 * largest are dropped (fewer than 2048 of them: relative error < 1e-14);
 * a panel whose bound lies below that is skipped whole. */
static double curve_log_prob(const curve_nodes *c, double x, double y)
{
    double inv = 0.5 / (c->sigma * c->sigma), ub[MAX_PANELS];
    int best = 0;
    for (int p = 0; p < c->panels; p++) {
        double dx = x - c->pcx[p], dy = y - c->pcy[p];
        double d = sqrt(dx * dx + dy * dy) - c->pr[p];
        d = d > 0.0 ? d : 0.0;
        ub[p] = c->plw[p] - d * d * inv;
        if (ub[p] > ub[best])
            best = p;
    }
    /* a lower bound of the largest term from the most promising panel
     * decides which panels can matter; then the largest term itself */
    double m = panel_max(c, best, x, y, inv, -INFINITY);
    double cut = m - 41.0;
    for (int p = 0; p < c->panels; p++)
        if (p != best && ub[p] > cut)
            m = panel_max(c, p, x, y, inv, m);
    double s = 0.0;
    for (int p = 0; p < c->panels; p++)
        if (p == best || ub[p] > cut)
            for (int j = p * GL_N; j < (p + 1) * GL_N; j++) {
                double dx = x - c->cx[j], dy = y - c->cy[j];
                double d = c->lw[j] - (dx * dx + dy * dy) * inv - m;
                if (d > -40.0)
                    s += exp(d);
            }
    return m + log(s) - LOG_2PI - 2.0 * log(c->sigma);
}

/* The curves: moon k at t in [0, pi], spiral k at n in [0, 3 pi], and the
 * log of (weight of the curve) * (density of the parameter). */
static void moon_point(int k, double t, double *x, double *y)
{
    double ct = cos(t), st = sin(t);
    *x = k == 0 ? 2.0 * ct - 1.0 : 1.0 - 2.0 * ct;
    *y = k == 0 ? 2.0 * st - 0.2 : 0.8 - 2.0 * st;
}

static double moon_log_weight(double t)
{
    (void)t;
    return log(0.5 / PI);
}

static void spiral_point(int k, double n, double *x, double *y)
{
    double sign = k == 0 ? 1.0 : -1.0;
    *x = -sign * n * cos(n) / 3.0;
    *y = sign * n * sin(n) / 3.0;
}

static double spiral_log_weight(double n) { return log(0.5 * 2.0 * n / (SPIRAL_TURN * SPIRAL_TURN)); }

/* Gauss-Legendre panels between `breaks` (n_breaks - 1 of them) on each of
 * two curves. The first and last panels are split geometrically toward the
 * curve's ends (GRADE levels, ratio 1/4): in the far tails beyond an end the
 * integrand is a steep exponential ramp, which the small panels resolve. */
#define GRADE 4
static int curve_build(curve_nodes *c, double sigma, const double *breaks, int n_breaks,
                       void (*point)(int, double, double *, double *), double (*log_weight)(double))
{
    double b[MAX_PANELS / 2 + 1], gx[GL_N], gw[GL_N];
    int nb = 0, n = n_breaks;
    b[nb++] = breaks[0];
    for (int g = GRADE; g >= 1; g--)
        b[nb++] = breaks[0] + (breaks[1] - breaks[0]) * ldexp(1.0, -2 * g);
    for (int i = 1; i < n - 1; i++)
        b[nb++] = breaks[i];
    for (int g = 1; g <= GRADE; g++)
        b[nb++] = breaks[n - 1] - (breaks[n - 1] - breaks[n - 2]) * ldexp(1.0, -2 * g);
    b[nb++] = breaks[n - 1];
    if (curve_alloc(c, 2 * (nb - 1), sigma))
        return -1;
    gauss_legendre(gx, gw);
    int j = 0;
    for (int k = 0; k < 2; k++)
        for (int p = 0; p + 1 < nb; p++) {
            double h = b[p + 1] - b[p];
            for (int q = 0; q < GL_N; q++, j++) {
                double t = b[p] + 0.5 * h * (1.0 + gx[q]);
                point(k, t, &c->cx[j], &c->cy[j]);
                c->lw[j] = log_weight(t) + log(0.5 * h * gw[q]);
            }
        }
    curve_bounds(c);
    return 0;
}

/* 8 panels of 0.79 of arc (4 sigma) per moon */
#define MOON_PANELS 8
static int moon_nodes(curve_nodes *c)
{
    double breaks[MOON_PANELS + 1];
    for (int p = 0; p <= MOON_PANELS; p++)
        breaks[p] = PI * p / MOON_PANELS;
    return curve_build(c, MOON_SIGMA, breaks, MOON_PANELS + 1, moon_point, moon_log_weight);
}

/* Arc length of n -> (n cos n, n sin n) / 3 from 0 to n. */
static double spiral_arc(double n) { return (n * sqrt(1.0 + n * n) + asinh(n)) / 6.0; }

/* 32 panels of equal arc length, 0.48 (5 sigma), per spiral */
#define SPIRAL_PANELS 32
_Static_assert(2 * (SPIRAL_PANELS + 2 * GRADE) <= MAX_PANELS && 2 * (MOON_PANELS + 2 * GRADE) <= MAX_PANELS,
               "too many panels");
static int spiral_nodes(curve_nodes *c)
{
    /* panel ends by Newton's method on spiral_arc */
    double breaks[SPIRAL_PANELS + 1];
    double total = spiral_arc(SPIRAL_TURN), n = 0.0;
    breaks[0] = 0.0;
    for (int p = 1; p < SPIRAL_PANELS; p++) {
        double target = total * p / SPIRAL_PANELS;
        for (int it = 0; it < 60; it++) {
            double step = (spiral_arc(n) - target) / (sqrt(1.0 + n * n) / 3.0);
            n -= step;
            if (fabs(step) < 1e-14)
                break;
        }
        breaks[p] = n;
    }
    breaks[SPIRAL_PANELS] = SPIRAL_TURN;
    return curve_build(c, SPIRAL_SIGMA, breaks, SPIRAL_PANELS + 1, spiral_point, spiral_log_weight);
}

/* ---- closed-form densities ------------------------------------------------- */

static double eight_log_prob(double x, double y)
{
    double v[8], inv = 0.5 / (EIGHT_SIGMA * EIGHT_SIGMA);
    for (int k = 0; k < 8; k++) {
        double a = k * (PI / 4.0);
        double dx = x - EIGHT_RADIUS * cos(a), dy = y - EIGHT_RADIUS * sin(a);
        v[k] = -(dx * dx + dy * dy) * inv;
    }
    return log_sum_exp(v, 8) - log(8.0) - LOG_2PI - 2.0 * log(EIGHT_SIGMA);
}

static double checker_log_prob(double x, double y)
{
    /* lx[i]: log of the density of U[-4+2i, -2+2i] + sigma N at x */
    double lx[4], ly[4], v[8];
    for (int i = 0; i < 4; i++) {
        double a = -4.0 + 2.0 * i, b = a + 2.0, w = 2.0 / CHECK_SIGMA;
        double ox = x < a ? (a - x) / CHECK_SIGMA : x > b ? (x - b) / CHECK_SIGMA : -fmin(x - a, b - x) / CHECK_SIGMA;
        double oy = y < a ? (a - y) / CHECK_SIGMA : y > b ? (y - b) / CHECK_SIGMA : -fmin(y - a, b - y) / CHECK_SIGMA;
        lx[i] = log_interval_prob(ox, w) - log(2.0);
        ly[i] = log_interval_prob(oy, w) - log(2.0);
    }
    int n = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            if ((i + j) % 2 == 0)
                v[n++] = lx[i] + ly[j];
    return log_sum_exp(v, 8) - log(8.0);
}

static double rings_log_prob(double x, double y)
{
    double r = hypot(x, y), s2 = RING_SIGMA * RING_SIGMA, v[4];
    for (int k = 0; k < 4; k++) {
        double d = r - ring_radius[k];
        /* exp(-(r^2+R^2)/2s^2) I0(rR/s^2) = exp(-(r-R)^2/2s^2) e^-z I0(z) */
        v[k] = -d * d / (2.0 * s2) + log_bessel_i0_scaled(r * ring_radius[k] / s2);
    }
    return log_sum_exp(v, 4) - log(4.0) - LOG_2PI - log(s2);
}

static double pinwheel_log_prob(double x, double y)
{
    double rho = 0.5 * hypot(x, y), v[PIN_ARMS];
    /* The twist 0.25 exp(rho) carries a rounding error of ~3e-17 exp(rho)
     * radians: negligible for |x| < 40 (log p above -2000 there, off by
     * less than 1e-3 at |x| = 40, by 1e-15 relative within [-4, 4]^2), but
     * the angle is meaningless far beyond, and exp overflows past |x| =
     * 1400, where the arm is taken as aligned with x (an upper bound). */
    double twist = rho < 700.0 ? PIN_RATE * exp(rho) : 0.0;
    double cr = -0.5 / (PIN_RADIAL_SD * PIN_RADIAL_SD), ct = -0.5 / (PIN_TANGENT_SD * PIN_TANGENT_SD);
    for (int k = 0; k < PIN_ARMS; k++) {
        double ca, sa;
        if (rho < 700.0) {
            double a = 2.0 * PI * k / PIN_ARMS + twist;
            ca = cos(a);
            sa = sin(a);
        } else { /* f = (rho, 0) */
            ca = x / (2.0 * rho);
            sa = y / (2.0 * rho);
        }
        double f0 = 0.5 * (ca * x + sa * y), f1 = 0.5 * (-sa * x + ca * y);
        v[k] = cr * (f0 - 1.0) * (f0 - 1.0) + ct * f1 * f1;
    }
    return log_sum_exp(v, PIN_ARMS) - log((double)PIN_ARMS) - LOG_2PI - log(PIN_RADIAL_SD * PIN_TANGENT_SD) -
           log(4.0);
}

static double gm_log_prob(double x, double y)
{
    double v[3];
    for (int k = 0; k < 3; k++) {
        /* solve L e = x - mu */
        double e0 = (x - gm[k].mx) / gm[k].l11;
        double e1 = (y - gm[k].my - gm[k].l21 * e0) / gm[k].l22;
        v[k] = log(gm[k].w) - 0.5 * (e0 * e0 + e1 * e1) - log(gm[k].l11 * gm[k].l22);
    }
    return log_sum_exp(v, 3) - LOG_2PI;
}

static double banana_log_prob(double x, double y)
{
    double d = (y - (0.5 * x * x - 1.0)) / BANANA_SIGMA;
    return -0.5 * (x * x + d * d) - LOG_2PI - log(BANANA_SIGMA);
}

/* ---- sampling --------------------------------------------------------------- */

static void sample_row(int toy, rng *r, double *px, double *py)
{
    double x = 0.0, y = 0.0;
    switch (toy) {
    case TOY_TWO_MOONS: {
        int k = rng_uniform(r) < 0.5;
        moon_point(k, PI * rng_uniform(r), &x, &y);
        x += MOON_SIGMA * rng_normal(r);
        y += MOON_SIGMA * rng_normal(r);
        break;
    }
    case TOY_EIGHT_GAUSSIANS: {
        double a = (double)rng_below(r, 8) * (PI / 4.0);
        x = EIGHT_RADIUS * cos(a) + EIGHT_SIGMA * rng_normal(r);
        y = EIGHT_RADIUS * sin(a) + EIGHT_SIGMA * rng_normal(r);
        break;
    }
    case TOY_CHECKERBOARD: {
        int k = (int)rng_below(r, 8);
        int i = k >> 1, j = (i & 1) + 2 * (k & 1); /* (i + j) even */
        x = -4.0 + 2.0 * i + 2.0 * rng_uniform(r);
        y = -4.0 + 2.0 * j + 2.0 * rng_uniform(r);
        x += CHECK_SIGMA * rng_normal(r);
        y += CHECK_SIGMA * rng_normal(r);
        break;
    }
    case TOY_RINGS: {
        double rad = ring_radius[rng_below(r, 4)], a = 2.0 * PI * rng_uniform(r);
        x = rad * cos(a) + RING_SIGMA * rng_normal(r);
        y = rad * sin(a) + RING_SIGMA * rng_normal(r);
        break;
    }
    case TOY_PINWHEEL: {
        int k = (int)rng_below(r, PIN_ARMS);
        double f0 = 1.0 + PIN_RADIAL_SD * rng_normal(r), f1 = PIN_TANGENT_SD * rng_normal(r);
        double a = 2.0 * PI * k / PIN_ARMS + PIN_RATE * exp(hypot(f0, f1));
        double ca = cos(a), sa = sin(a);
        x = 2.0 * (ca * f0 - sa * f1);
        y = 2.0 * (sa * f0 + ca * f1);
        break;
    }
    case TOY_TWO_SPIRALS: {
        int k = rng_uniform(r) < 0.5;
        spiral_point(k, SPIRAL_TURN * sqrt(rng_uniform(r)), &x, &y);
        x += SPIRAL_SIGMA * rng_normal(r);
        y += SPIRAL_SIGMA * rng_normal(r);
        break;
    }
    case TOY_GAUSSIAN_MIXTURE: {
        double u = rng_uniform(r);
        int k = u < gm[0].w ? 0 : u < gm[0].w + gm[1].w ? 1 : 2;
        double e0 = rng_normal(r), e1 = rng_normal(r);
        x = gm[k].mx + gm[k].l11 * e0;
        y = gm[k].my + gm[k].l21 * e0 + gm[k].l22 * e1;
        break;
    }
    case TOY_BANANA: {
        x = rng_normal(r);
        y = 0.5 * x * x - 1.0 + BANANA_SIGMA * rng_normal(r);
        break;
    }
    default:
        break;
    }
    *px = x;
    *py = y;
}

/* ---- public entry points ------------------------------------------------------- */

static nf_status find_toy(const char *name, int *toy)
{
    if (name)
        for (int i = 0; i < TOY_COUNT; i++)
            if (strcmp(name, toy_names[i]) == 0) {
                *toy = i;
                return NF_OK;
            }
    char known[256];
    size_t len = 0;
    known[0] = '\0';
    for (int i = 0; i < TOY_COUNT; i++) {
        int w = snprintf(known + len, sizeof known - len, "%s%s", i ? ", " : "", toy_names[i]);
        if (w < 0 || (size_t)w >= sizeof known - len)
            break;
        len += (size_t)w;
    }
    if (!name)
        return nf_fail(NF_ERR_INVALID, "toy name is NULL (known toys: %s)", known);
    return nf_fail(NF_ERR_INVALID, "unknown toy '%s' (known toys: %s)", name, known);
}

nf_status nf_toy_sample(const char *name, size_t rows, uint64_t seed, float *x)
{
    int toy;
    nf_status st = find_toy(name, &toy);
    if (st)
        return st;
    if (rows == 0)
        return NF_OK;
    if (!x)
        return nf_fail(NF_ERR_INVALID, "nf_toy_sample: x is NULL");
    if (rows > SIZE_MAX / (2 * sizeof(float)))
        return nf_fail(NF_ERR_INVALID, "nf_toy_sample: %zu rows is too many", rows);
    rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < rows; i++) {
        double a, b;
        sample_row(toy, &r, &a, &b);
        x[2 * i] = (float)a;
        x[2 * i + 1] = (float)b;
    }
    return NF_OK;
}

nf_status nf_toy_log_prob(const char *name, const float *x, size_t rows, double *log_prob)
{
    int toy;
    nf_status st = find_toy(name, &toy);
    if (st)
        return st;
    if (rows == 0)
        return NF_OK;
    if (!x || !log_prob)
        return nf_fail(NF_ERR_INVALID, "nf_toy_log_prob: %s is NULL", x ? "log_prob" : "x");
    if (rows > SIZE_MAX / (2 * sizeof(float)))
        return nf_fail(NF_ERR_INVALID, "nf_toy_log_prob: %zu rows is too many", rows);
    for (size_t i = 0; i < 2 * rows; i++)
        if (!isfinite(x[i]))
            return nf_fail(NF_ERR_NONFINITE, "nf_toy_log_prob: row %zu, column %zu is %s", i / 2, i % 2,
                           isnan(x[i]) ? "NaN" : "infinite");

    curve_nodes c;
    memset(&c, 0, sizeof c);
    if ((toy == TOY_TWO_MOONS && moon_nodes(&c)) || (toy == TOY_TWO_SPIRALS && spiral_nodes(&c)))
        return nf_fail(NF_ERR_NOMEM, "nf_toy_log_prob: out of memory");

    long long n = (long long)rows;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(k_threads()) if (n >= 512)
#endif
    for (long long i = 0; i < n; i++) {
        double a = x[2 * i], b = x[2 * i + 1], lp;
        switch (toy) {
        case TOY_TWO_MOONS:
        case TOY_TWO_SPIRALS: lp = curve_log_prob(&c, a, b); break;
        case TOY_EIGHT_GAUSSIANS: lp = eight_log_prob(a, b); break;
        case TOY_CHECKERBOARD: lp = checker_log_prob(a, b); break;
        case TOY_RINGS: lp = rings_log_prob(a, b); break;
        case TOY_PINWHEEL: lp = pinwheel_log_prob(a, b); break;
        case TOY_GAUSSIAN_MIXTURE: lp = gm_log_prob(a, b); break;
        default: lp = banana_log_prob(a, b); break;
        }
        log_prob[i] = lp;
    }
    curve_free(&c);
    return NF_OK;
}
