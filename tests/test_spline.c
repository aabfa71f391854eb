/* The rational-quadratic spline in float32, as training runs it, over
 * random splines, at the knots, at -B and B and far in the tails: x ->
 * g(x) -> x and y -> g^-1(y) -> y within 1e-5 (relative, or absolute below
 * 1) where the slope allows it, and elsewhere within what float32 can hold
 * (4 ulps of the other side carried through the slope: a flat stretch maps
 * a whole interval of x to one float y); no NaN or infinity in any value,
 * log-determinant or gradient. */
#include <math.h>
#include <string.h>

#include <stdlib.h>
#include <unistd.h>

#include "core/rng.h"
#include "core/rq_spline.h"
#include "harness.h"
#include "nflow.h"

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
    float ly, lx, gin, gin2, graw[P], graw2[P], l, prep[P];
    memcpy(prep, raw, sizeof prep);
    rq_prepare(s, 1, prep, P);
    /* x -> y -> x, then v as a y: y -> x -> y */
    float y = rq_forward(s, prep, v, &ly), back = rq_inverse(s, prep, y, &lx);
    float slope = expf(ly);
    float r1 = ratio(back, v, slope >= 0.05f ? 0 : 4 * ulp(y) / slope);
    float x2 = rq_inverse(s, prep, v, &l), y2 = rq_forward(s, prep, x2, &l);
    float slope2 = expf(l);
    float r2 = ratio(y2, v, slope2 <= 20 ? 0 : 4 * ulp(x2) * slope2);
    *worst = fmaxf(*worst, fmaxf(r1, r2));
    rq_forward_backward(s, prep, v, 1.0f, 1.0f, &gin, graw);
    rq_inverse_backward(s, prep, back, 1.0f, 1.0f, &gin2, graw2);
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

/* f trained for `epochs` on the first `train` rows (the next 100 validate),
 * saved and loaded back: the copy, NULL on failure. */
static nf_flow *train_and_reload(nf_flow *f, const float *x, int dim, int train, int batch, int epochs)
{
    nf_train_options o;
    nf_train_options_default(&o);
    o.max_epochs = epochs;
    o.batch = batch;
    CHECK(nf_flow_train(f, x, (size_t)train, x + (size_t)train * dim, 100, &o, NULL) == NF_OK);
    char path[] = "/tmp/nflow_test_spline_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    nf_flow *g = NULL;
    CHECK(nf_flow_save(f, path) == NF_OK && nf_flow_load(&g, path) == NF_OK);
    unlink(path);
    return g;
}

/* The nsf and nsf-ar models through the public API: each starts as the
 * Gaussian fit (the splines as the identity), trains, saves and loads to
 * the same log-densities, its samples' log-densities are what evaluation
 * gives, and decode(encode(x)) = x. */
static void check_spline_model(nf_model model)
{
    enum { N = 600, D = 3 };
    static float x[N * D], z[N * D], back[N * D], s[64 * D];
    static double lp[N], lg[N], lp2[N], ls[64], le[64];
    rng r;
    rng_seed(&r, 21);
    for (int i = 0; i < N; i++) {
        double a = rng_normal(&r), b = rng_normal(&r);
        x[i * D] = (float)a;
        x[i * D + 1] = (float)(0.5 * a * a + 0.3 * b);
        x[i * D + 2] = (float)(a - b + 0.2 * rng_normal(&r));
    }
    nf_config cfg;
    nf_config_default(&cfg, model, D);
    cfg.layers = 3;
    cfg.hidden = 16;
    cfg.bins = 6;
    nf_flow *f = NULL, *g = NULL;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK && nf_flow_fit_standardization(f, x, N) == NF_OK);
    if (!f)
        return;
    CHECK(nf_flow_log_prob(f, x, N, lp) == NF_OK && nf_flow_gaussian_log_prob(f, x, N, lg) == NF_OK);
    double worst = 0;
    for (int i = 0; i < N; i++)
        worst = fmax(worst, fabs(lp[i] - lg[i]));
    CHECK(worst < 1e-4, "untrained nsf differs from the Gaussian fit by %g", worst);
    g = train_and_reload(f, x, D, 500, 64, 3);
    CHECK(g && nf_flow_log_prob(f, x, N, lp) == NF_OK && nf_flow_log_prob(g, x, N, lp2) == NF_OK);
    CHECK(g && memcmp(lp, lp2, sizeof lp) == 0, "loaded model differs");
    CHECK(nf_flow_sample(f, 64, 5, s, ls) == NF_OK && nf_flow_log_prob(f, s, 64, le) == NF_OK);
    worst = 0;
    for (int i = 0; i < 64; i++)
        worst = fmax(worst, fabs(ls[i] - le[i]) / fmax(1, fabs(le[i])));
    CHECK(worst < 1e-3, "sampling's log-densities differ from evaluation's by %g", worst);
    CHECK(nf_flow_encode(f, x, N, z) == NF_OK && nf_flow_decode(f, z, N, back) == NF_OK);
    worst = 0;
    for (int i = 0; i < N * D; i++)
        worst = fmax(worst, fabs(back[i] - x[i]) / fmax(1, fabs(x[i])));
    CHECK(worst < 1e-4, "decode(encode(x)) off by %g", worst);
    nf_flow_free(f);
    nf_flow_free(g);
}

/* The paper's spline coupling and the shifted one through the public API:
 * the shifted network has 2 more outputs per changed dimension, both start
 * as the identity, and each comes back from its file as it was saved. */
static void test_coupling_forms(void)
{
    enum { N = 400, D = 4, H = 8 };
    static float x[N * D];
    static double lp[N], lp2[N];
    rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < N * D; i++)
        x[i] = (float)(i % D == 1 ? 0.3 * x[i - 1] * x[i - 1] + 0.2 * rng_normal(&r) : rng_normal(&r));
    size_t counts[2] = {0, 0};
    for (int shifted = 0; shifted < 2; shifted++) {
        nf_flow *f = NULL, *g = NULL;
        CHECK(nf_flow_new(&f, D, NF_BASE_NORMAL) == NF_OK);
        if (!f)
            return;
        for (int l = 0; l < 2; l++)
            CHECK((shifted ? nf_flow_add_shifted_spline_coupling(f, NF_PART_EVEN_ODD, NULL, l, H, 1, NF_ACT_TANH, 5,
                                                                 3.0, 2.0)
                           : nf_flow_add_spline_coupling(f, NF_PART_EVEN_ODD, NULL, l, H, 1, NF_ACT_TANH, 5, 3.0)) ==
                  NF_OK);
        CHECK(nf_flow_finalize(f, 3) == NF_OK);
        counts[shifted] = nf_flow_param_count(f);
        CHECK(nf_flow_log_prob(f, x, N, lp) == NF_OK);
        double worst = 0; /* the identity: the standard normal's density */
        for (int i = 0; i < N; i++) {
            double want = 0;
            for (int j = 0; j < D; j++)
                want -= 0.5 * x[i * D + j] * x[i * D + j] + 0.9189385332046727;
            worst = fmax(worst, fabs(lp[i] - want));
        }
        CHECK(worst < 1e-4, "untrained coupling (shifted %d) is not the identity: %g", shifted, worst);
        g = train_and_reload(f, x, D, 300, 50, 2);
        char desc[4096];
        CHECK(g && nf_flow_log_prob(f, x, N, lp) == NF_OK && nf_flow_log_prob(g, x, N, lp2) == NF_OK);
        CHECK(g && memcmp(lp, lp2, sizeof lp) == 0, "loaded coupling (shifted %d) differs", shifted);
        CHECK(g && nf_flow_describe(g, desc, sizeof desc) > 0);
        CHECK(!strstr(desc, "(x - mu) e^-alpha") == !shifted, "%s", desc);
        nf_flow_free(f);
        nf_flow_free(g);
    }
    /* 2 changed dimensions per coupling, 2 more outputs each from H hidden units (and their biases) */
    CHECK(counts[1] - counts[0] == 2 * 2 * 2 * (H + 1), "%zu vs %zu parameters", counts[1], counts[0]);
    nf_flow *bad = NULL;
    CHECK(nf_flow_new(&bad, D, NF_BASE_NORMAL) == NF_OK);
    CHECK(nf_flow_add_shifted_spline_coupling(bad, NF_PART_EVEN_ODD, NULL, 0, H, 1, NF_ACT_TANH, 5, 3.0, -1) ==
          NF_ERR_INVALID);
    nf_flow_free(bad);
}

static void test_nsf_model(void) { check_spline_model(NF_MODEL_NSF); }
static void test_nsf_ar_model(void) { check_spline_model(NF_MODEL_NSF_AR); }

int main(void)
{
    RUN(test_float_round_trip);
    RUN(test_coupling_forms);
    RUN(test_nsf_model);
    RUN(test_nsf_ar_model);
    TEST_SUMMARY("test_spline");
}
