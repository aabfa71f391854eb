/* The optimiser against steps computed by hand in double: plain Adam,
 * L2 weight decay, gradient-norm clipping, the bias corrections of later
 * steps, a learning rate that changes between steps; and the same bits at
 * any thread count (the norm is summed by fixed chunks). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "harness.h"

/* A flow with more than two of Adam's chunks of parameters. */
static nf_flow *big_flow(void)
{
    nf_config c;
    nf_config_default(&c, NF_MODEL_MAF, 8);
    c.hidden = 128;
    nf_flow *f = NULL;
    if (nf_flow_create(&f, &c) != NF_OK)
        return NULL;
    return f;
}

/* Fills gradients and moments with values of mixed size and sign. */
static void fill(nf_flow *f, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < f->n_params; i++) {
        f->params[i] = (float)rng_normal(&r);
        f->grads[i] = (float)(rng_normal(&r) * (i % 7 == 0 ? 10 : 0.01));
    }
    memset(f->adam_m, 0, sizeof(float) * f->n_params);
    memset(f->adam_v, 0, sizeof(float) * f->n_params);
    f->adam_t = 0;
}

/* The decayed gradient as float arithmetic gives it (where g and wd p
 * nearly cancel, its rounding decides the step's size). */
static double decayed(const nf_flow *f, size_t i, double wd)
{
    float d = (float)wd * f->params[i];
    return (double)(f->grads[i] + d);
}

/* One Adam step in double from the same state: the expected parameters. */
static void by_hand(const nf_flow *f, double lr, double wd, double clip, const double *m0, const double *v0, int t,
                    double *p_out, double *m_out, double *v_out)
{
    size_t n = f->n_params;
    double norm2 = 0;
    for (size_t i = 0; i < n; i++) {
        double g = decayed(f, i, wd);
        norm2 += g * g;
    }
    double scale = clip > 0 && norm2 > clip * clip ? clip / sqrt(norm2) : 1;
    for (size_t i = 0; i < n; i++) {
        double g = decayed(f, i, wd) * scale;
        m_out[i] = 0.9 * m0[i] + 0.1 * g;
        v_out[i] = 0.999 * v0[i] + 0.001 * g * g;
        double mhat = m_out[i] / (1 - pow(0.9, t)), vhat = v_out[i] / (1 - pow(0.999, t));
        p_out[i] = f->params[i] - lr * mhat / (sqrt(vhat) + 1e-8);
    }
}

static void check_steps(double wd, double clip)
{
    nf_flow *f = big_flow();
    CHECK(f != NULL);
    if (!f)
        return;
    size_t n = f->n_params;
    CHECK(n > 3 * 32768, "%zu parameters: fewer than three chunks", n);
    fill(f, 3);
    double *m = calloc(n, sizeof(double)), *v = calloc(n, sizeof(double));
    double *pw = malloc(sizeof(double) * n), *mw = malloc(sizeof(double) * n), *vw = malloc(sizeof(double) * n);
    const double lrs[3] = {1e-3, 1e-3, 2.5e-4}; /* the rate halves twice between steps 2 and 3 */
    for (int t = 1; t <= 3; t++) {
        by_hand(f, lrs[t - 1], wd, clip, m, v, t, pw, mw, vw);
        CHECK(flow_adam_update(f, lrs[t - 1], wd, clip) == 0);
        CHECK(f->adam_t == t);
        double worst = 0;
        for (size_t i = 0; i < n; i++) {
            /* the step moves p by about lr: measure the error against it */
            worst = fmax(worst, fabs(f->params[i] - pw[i]) / (lrs[t - 1] * 1e-3 + 1e-6 * fabs(pw[i])));
            worst = fmax(worst, fabs(f->adam_m[i] - mw[i]) / (1e-6 * fabs(mw[i]) + 1e-12));
            m[i] = f->adam_m[i];
            v[i] = f->adam_v[i];
        }
        CHECK(worst < 1, "wd %g clip %g step %d: off by %g of the tolerance", wd, clip, t, worst);
    }
    free(m);
    free(v);
    free(pw);
    free(mw);
    free(vw);
    nf_flow_free(f);
}

static void test_plain_adam(void) { check_steps(0, 0); }
static void test_weight_decay(void) { check_steps(0.05, 0); }
static void test_clipping(void) { check_steps(0, 1.0); }
static void test_decay_and_clipping(void) { check_steps(1e-3, 2.0); }

/* A flipped decay sign or a missing clip would move p the other way or by
 * the unclipped amount: a large decay pulls p towards 0 against a zero
 * gradient; a clipped step is smaller than the unclipped one. */
static void test_directions(void)
{
    nf_flow *f = big_flow();
    if (!f)
        return;
    fill(f, 5);
    memset(f->grads, 0, sizeof(float) * f->n_params);
    float before = f->params[10];
    CHECK(flow_adam_update(f, 1e-2, 1.0, 0) == 0);
    CHECK(fabsf(f->params[10]) < fabsf(before), "decay moved %g to %g", before, f->params[10]);
    nf_flow_free(f);
}

static void test_same_bits_at_any_thread_count(void)
{
    nf_flow *a = big_flow(), *b = big_flow();
    if (!a || !b)
        return;
    fill(a, 9);
    fill(b, 9);
    nf_set_threads(1);
    CHECK(flow_adam_update(a, 1e-3, 1e-6, 1.0) == 0);
    nf_set_threads(3);
    CHECK(flow_adam_update(b, 1e-3, 1e-6, 1.0) == 0);
    nf_set_threads(1);
    CHECK(memcmp(a->params, b->params, sizeof(float) * a->n_params) == 0);
    CHECK(memcmp(a->adam_v, b->adam_v, sizeof(float) * a->n_params) == 0);
    nf_flow_free(a);
    nf_flow_free(b);
}

int main(void)
{
    nf_set_threads(1);
    RUN(test_plain_adam);
    RUN(test_weight_decay);
    RUN(test_clipping);
    RUN(test_decay_and_clipping);
    RUN(test_directions);
    RUN(test_same_bits_at_any_thread_count);
    TEST_SUMMARY("test_adam");
}
