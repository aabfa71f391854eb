/* The rational-quadratic spline in float32, as training runs it, over
 * random splines, at the knots, at -B and B and far in the tails: x ->
 * g(x) -> x and y -> g^-1(y) -> y within 1e-5 (relative, or absolute below
 * 1) where the slope allows it, and elsewhere within what float32 can hold
 * (4 ulps of the other side carried through the slope: a flat stretch maps
 * a whole interval of x to one float y); no NaN or infinity in any value,
 * log-determinant or gradient. */
#include <math.h>

#include "core/rng.h"
#include "core/rq_spline.h"
#include "harness.h"

enum { K = 8, P = 3 * K - 1 };

static int all_finite(const float *v, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

static float ulp(float v) { return nextafterf(fabsf(v), INFINITY) - fabsf(v); }

/* err / allowed, allowed = 1e-5 max(1, |want|) or, where float32 cannot
 * hold that, 4 ulps of the other side carried through the slope */
static float ratio(float got, float want, float carried)
{
    return fabsf(got - want) / fmaxf(1e-5f * fmaxf(1.0f, fabsf(want)), carried);
}

static void round_trip(const rq_spline *s, const float *raw, float v, float *worst, int *bad)
{
    float ly, lx, gin, gin2, graw[P], graw2[P], l;
    /* x -> y -> x, then v as a y: y -> x -> y */
    float y = rq_forward(s, raw, 1, v, &ly), back = rq_inverse(s, raw, 1, y, &lx);
    float slope = expf(ly);
    float r1 = ratio(back, v, slope >= 0.05f ? 0 : 4 * ulp(y) / slope);
    float x2 = rq_inverse(s, raw, 1, v, &l), y2 = rq_forward(s, raw, 1, x2, &l);
    float slope2 = expf(l);
    float r2 = ratio(y2, v, slope2 <= 20 ? 0 : 4 * ulp(x2) * slope2);
    *worst = fmaxf(*worst, fmaxf(r1, r2));
    rq_forward_backward(s, raw, 1, v, 1.0f, 1.0f, &gin, graw);
    rq_inverse_backward(s, raw, 1, back, 1.0f, 1.0f, &gin2, graw2);
    *bad += !(isfinite(y) && isfinite(ly) && isfinite(back) && isfinite(lx) && isfinite(gin) && isfinite(gin2) &&
              all_finite(graw, P) && all_finite(graw2, P));
}

static void test_float_round_trip(void)
{
    rng r;
    rng_seed(&r, 11);
    rq_spline s = rq_spline_make(K, 3.0);
    float raw[P], worst = 0;
    int bad = 0;
    for (int trial = 0; trial < 200; trial++) {
        double scale = trial < 100 ? 1.0 : 4.0; /* the second half: bins near their minimum size */
        for (int j = 0; j < P; j++)
            raw[j] = (float)(scale * rng_normal(&r));
        for (int i = 0; i < 200; i++)
            round_trip(&s, raw, (float)(-3.5 + 7 * rng_uniform(&r)), &worst, &bad);
        float edges[] = {-3.0f, 3.0f, nextafterf(3.0f, 0), nextafterf(-3.0f, 0), nextafterf(3.0f, 9),
                         nextafterf(-3.0f, -9), 0.0f, 1e30f, -1e30f, -0.75f, 0.75f, 1.5f};
        for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
            round_trip(&s, raw, edges[i], &worst, &bad);
    }
    CHECK(worst <= 1, "worst round trip %g of the allowed error", worst);
    CHECK(bad == 0, "%d points with a value, log-determinant or gradient not finite", bad);
}

int main(void)
{
    RUN(test_float_round_trip);
    TEST_SUMMARY("test_spline");
}
