/* The rational-quadratic spline in double precision: inverse(forward) is
 * the identity, log g' is the log of the numerical derivative, and every
 * gradient (by the input and by each raw parameter, forward and inverse,
 * of the value and of the log-determinant) equals central differences;
 * raw parameters of 0 give the identity; edges, tails and tiny bins. */
#include <math.h>
#include <stdlib.h>

#include "core/rng.h"
#include "core/rq_spline.h"
#include "harness.h"

enum { K = 5, P = 3 * K - 1 };
static const double B = 3.0;

/* raw's prepared form, as the layers keep it, in pp */
static real pp[P];

static const real *prepared(const rq_spline *s, const real *raw, real *prep)
{
    for (int j = 0; j < P; j++)
        prep[j] = raw[j];
    rq_prepare(s, 1, prep, P);
    return prep;
}

static void random_raw(rng *r, double scale, real *raw)
{
    for (int j = 0; j < P; j++)
        raw[j] = scale * rng_normal(r);
}

/* What the backward passes differentiate: gy y + gl log g' (forward) and
 * gx x + gl log|dx/dy| (inverse). */
static double objective(const rq_spline *s, const real *raw, int inverse, double v, double g1, double g2)
{
    real l;
    real out = inverse ? rq_inverse(s, prepared(s, raw, pp), v, &l) : rq_forward(s, prepared(s, raw, pp), v, &l);
    return g1 * out + g2 * l;
}

static void check_gradients(const rq_spline *s, real *raw, int inverse, double v)
{
    const double g1 = 0.7, g2 = -1.3, eps = 1e-6;
    real gin, graw[P], l;
    if (inverse) {
        real x = rq_inverse(s, prepared(s, raw, pp), v, &l);
        rq_inverse_backward(s, prepared(s, raw, pp), x, g1, g2, &gin, graw);
    } else {
        rq_forward_backward(s, prepared(s, raw, pp), v, g1, g2, &gin, graw);
    }
    double num = (objective(s, raw, inverse, v + eps, g1, g2) - objective(s, raw, inverse, v - eps, g1, g2)) / (2 * eps);
    CHECK(fabs(gin - num) <= 1e-6 + 1e-6 * fabs(num), "%s at %g: d/d input %.10g, numerically %.10g",
          inverse ? "inverse" : "forward", v, gin, num);
    for (int j = 0; j < P; j++) {
        real keep = raw[j];
        raw[j] = keep + eps;
        double up = objective(s, raw, inverse, v, g1, g2);
        raw[j] = keep - eps;
        double down = objective(s, raw, inverse, v, g1, g2);
        raw[j] = keep;
        num = (up - down) / (2 * eps);
        CHECK(fabs(graw[j] - num) <= 1e-6 + 1e-6 * fabs(num), "%s at %g: d/d raw[%d] %.10g, numerically %.10g",
              inverse ? "inverse" : "forward", v, j, graw[j], num);
    }
}

static void test_identity_at_zero(void)
{
    real raw[P] = {0}, l;
    rq_spline s = rq_spline_make(K, B);
    for (double x = -4; x <= 4; x += 0.37) {
        CHECK_CLOSE(rq_forward(&s, prepared(&s, raw, pp), x, &l), x, 1e-12, 1e-12);
        CHECK_CLOSE(l, 0, 1e-12, 0);
    }
}

static void test_round_trip_and_log_det(void)
{
    rng r;
    rng_seed(&r, 3);
    rq_spline s = rq_spline_make(K, B);
    real raw[P];
    for (int trial = 0; trial < 20; trial++) {
        random_raw(&r, 2.0, raw);
        for (int i = 0; i < 40; i++) {
            double x = -4 + 8 * rng_uniform(&r), ly, lx, h = 1e-6;
            real ld;
            real y = rq_forward(&s, prepared(&s, raw, pp), x, &ld);
            ly = ld;
            real back = rq_inverse(&s, prepared(&s, raw, pp), y, &ld);
            lx = ld;
            /* where g' is ~1e-5 (raw scale 2), x = g^-1(y) loses ~1e-11 */
            CHECK_CLOSE(back, x, 1e-9, 1e-9);
            CHECK_CLOSE(ly, -lx, 1e-11, 1e-11);
            real l0;
            const real *prep = prepared(&s, raw, pp);
            double slope = (rq_forward(&s, prep, x + h, &l0) - rq_forward(&s, prep, x - h, &l0)) / (2 * h);
            CHECK_CLOSE(exp(ly), slope, 1e-9, 1e-6);
        }
    }
}

static void test_gradients(void)
{
    rng r;
    rng_seed(&r, 5);
    rq_spline s = rq_spline_make(K, B);
    real raw[P];
    for (int trial = 0; trial < 10; trial++) {
        random_raw(&r, 1.5, raw);
        for (int i = 0; i < 6; i++) {
            double v = -2.9 + 5.8 * rng_uniform(&r);
            check_gradients(&s, raw, 0, v);
            check_gradients(&s, raw, 1, v);
        }
        /* the tails: the identity, no parameter gradient */
        check_gradients(&s, raw, 0, -3.5);
        check_gradients(&s, raw, 1, 7.0);
    }
}

/* Inputs exactly at the knots of the uniform spline, at -B and B, just
 * inside and outside them, far out; raw parameters that make a bin tiny or
 * derivatives extreme: finite values everywhere and an exact round trip. */
static void test_edges(void)
{
    rq_spline s = rq_spline_make(K, B);
    real raw[P] = {0};
    double at[] = {-B, B, -B + 2 * B / K, -B + 4 * B / K, 0, nextafter(B, 0), nextafter(B, 10), nextafter(-B, 0),
                   nextafter(-B, -10), 1e6, -1e6, 1e-300, -0.0};
    for (int setting = 0; setting < 4; setting++) {
        for (int j = 0; j < P; j++)
            raw[j] = 0;
        if (setting == 1) /* a tiny first bin and a huge second one */
            raw[0] = -30, raw[1] = 30, raw[K] = 30, raw[K + 1] = -30;
        if (setting == 2) /* extreme derivatives */
            for (int i = 0; i < K - 1; i++)
                raw[2 * K + i] = i % 2 ? 40 : -40;
        if (setting == 3)
            for (int j = 0; j < P; j++)
                raw[j] = j % 3 ? 25 : -25;
        for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
            real ly, lx, gin, graw[P];
            real y = rq_forward(&s, prepared(&s, raw, pp), at[i], &ly);
            real x = rq_inverse(&s, prepared(&s, raw, pp), y, &lx);
            CHECK(isfinite(y) && isfinite(ly) && isfinite(x) && isfinite(lx), "setting %d x %g: y %g x %g", setting, at[i],
                  y, x);
            CHECK_CLOSE(x, at[i], 1e-9, 1e-9);
            rq_forward_backward(&s, prepared(&s, raw, pp), at[i], 1, 1, &gin, graw);
            int finite = isfinite(gin);
            rq_inverse_backward(&s, prepared(&s, raw, pp), x, 1, 1, &gin, graw);
            finite &= isfinite(gin);
            for (int j = 0; j < P; j++)
                finite &= isfinite(graw[j]);
            CHECK(finite, "setting %d x %g: a gradient is not finite", setting, at[i]);
        }
    }
}

int main(void)
{
    RUN(test_identity_at_zero);
    RUN(test_round_trip_and_log_det);
    RUN(test_gradients);
    RUN(test_edges);
    TEST_SUMMARY("dtest_spline");
}
