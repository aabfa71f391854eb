/* The optimiser against steps computed by hand in double: plain Adam,
 * L2 weight decay, gradient-norm clipping, the bias corrections of later
 * steps, a learning rate that changes between steps; the same bits at any
 * thread count (the norm is summed by fixed chunks); the gradient consumed
 * (zero after a step); and the same bits when the pinned parameters (MADE's
 * masked weights) are skipped, which are then left alone. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "flow/flow.h"
#include "train/adam.h"
#include "train/step.h"
#include "harness.h"

/* One Adam step on the flow's parameters (what training does). */
static nf_status adam(nf_flow *f, double lr, double wd, double clip)
{
    return adam_step(f->n_params, f->params, f->opt.grads, f->opt.m, f->opt.v, &f->opt.t, NULL, lr, wd, clip);
}

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

/* Gradients of mixed size and sign. */
static void fill_grads(nf_flow *f, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < f->n_params; i++)
        f->opt.grads[i] = (float)(rng_normal(&r) * (i % 7 == 0 ? 10 : 0.01));
}

/* Fills parameters and gradients with values of mixed size and sign,
 * moments with zeros. */
static void fill(nf_flow *f, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < f->n_params; i++)
        f->params[i] = (float)rng_normal(&r);
    fill_grads(f, seed + 1);
    memset(f->opt.m, 0, sizeof(float) * f->n_params);
    memset(f->opt.v, 0, sizeof(float) * f->n_params);
    f->opt.t = 0;
}

/* The decayed gradient as float arithmetic gives it (where g and wd p
 * nearly cancel, its rounding decides the step's size). */
static double decayed(const nf_flow *f, size_t i, double wd)
{
    float d = (float)wd * f->params[i];
    return (double)(f->opt.grads[i] + d);
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
        if (t > 1)
            fill_grads(f, 3 + 1); /* the same gradient again: the last step consumed it */
        by_hand(f, lrs[t - 1], wd, clip, m, v, t, pw, mw, vw);
        CHECK(adam(f, lrs[t - 1], wd, clip) == 0);
        CHECK(f->opt.t == t);
        CHECK(k_all_zero(n, f->opt.grads), "step %d left a gradient behind", t);
        double worst = 0;
        for (size_t i = 0; i < n; i++) {
            /* the step moves p by about lr: measure the error against it */
            worst = fmax(worst, fabs(f->params[i] - pw[i]) / (lrs[t - 1] * 1e-3 + 1e-6 * fabs(pw[i])));
            worst = fmax(worst, fabs(f->opt.m[i] - mw[i]) / (1e-6 * fabs(mw[i]) + 1e-12));
            m[i] = f->opt.m[i];
            v[i] = f->opt.v[i];
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
    memset(f->opt.grads, 0, sizeof(float) * f->n_params);
    float before = f->params[10];
    CHECK(adam(f, 1e-2, 1.0, 0) == 0);
    CHECK(fabsf(f->params[10]) < fabsf(before), "decay moved %g to %g", before, f->params[10]);
    nf_flow_free(f);
}

/* Two parameters worked on paper. p = (1, -2), g = (3, 4) + wd p with wd =
 * 0.5: g' = (3.5, 3); clipped to norm 1: g' / |g'| = (0.7592566, 0.6507914).
 * Step 1: m = 0.1 g', v = 0.001 g'^2, so m / (1 - 0.9) = g' and
 * v / (1 - 0.999) = g'^2: p moves by lr g' / (|g'| + 1e-8) = lr sign(g') to
 * within 1e-8. Step 2 with a zero gradient (g' = wd p) and lr halved:
 * m = 0.9 m1 + 0.1 g', v = 0.999 v1 + 0.001 g'^2 with the bias fixes of t = 2.
 * Tolerances: float32, whose 1 - 0.999f is 0.001 (1 + 4.7e-5). */
static void test_by_hand_two_parameters(void)
{
    float p[2] = {1, -2}, g[2] = {3, 4}, m[2] = {0, 0}, v[2] = {0, 0};
    int64_t t = 0;
    CHECK(adam_step(2, p, g, m, v, &t, NULL, 0.1, 0.5, 1.0) == NF_OK && t == 1);
    CHECK(g[0] == 0 && g[1] == 0, "the gradient was not consumed");
    double n = sqrt(3.5 * 3.5 + 3.0 * 3.0), c0 = 3.5 / n, c1 = 3.0 / n;
    CHECK(fabs(m[0] - 0.1 * c0) < 1e-7 && fabs(m[1] - 0.1 * c1) < 1e-7, "m = %g %g", m[0], m[1]);
    CHECK(fabs(v[0] / (0.001 * c0 * c0) - 1) < 1e-4 && fabs(v[1] / (0.001 * c1 * c1) - 1) < 1e-4, "v = %g %g", v[0],
          v[1]);
    CHECK(fabs(p[0] - 0.9) < 1e-6 && fabs(p[1] - (-2.1)) < 1e-6, "p = %.7f %.7f", p[0], p[1]);
    double m0 = m[0], m1 = m[1], v0 = v[0], v1 = v[1], p0 = p[0], p1 = p[1];
    CHECK(adam_step(2, p, g, m, v, &t, NULL, 0.05, 0.5, 0) == NF_OK && t == 2);
    double gd[2] = {0.5 * p0, 0.5 * p1}, mo[2] = {m0, m1}, vo[2] = {v0, v1}, po[2] = {p0, p1};
    for (int i = 0; i < 2; i++) {
        double mm = 0.9 * mo[i] + 0.1 * gd[i], vv = 0.999 * vo[i] + 0.001 * gd[i] * gd[i];
        double want = po[i] - 0.05 * (mm / (1 - 0.81)) / (sqrt(vv / (1 - 0.998001)) + 1e-8);
        CHECK(fabs(m[i] - mm) < 1e-7 && fabs(v[i] / vv - 1) < 1e-4 && fabs(p[i] - want) < 1e-6,
              "step 2, p[%d] = %.7f, want %.7f", i, p[i], want);
    }
}

/* A gradient that is not finite changes nothing, the step count included,
 * but the gradient itself, which is zeroed for the next step. */
static void test_nonfinite_gradient(void)
{
    float p[3] = {1, 2, 3}, g[3] = {0.1f, NAN, 0.2f}, m[3] = {0.5f, 0.5f, 0.5f}, v[3] = {1, 1, 1};
    int64_t t = 7;
    CHECK(adam_step(3, p, g, m, v, &t, NULL, 1e-3, 0, 0) == NF_ERR_NONFINITE);
    CHECK(t == 7 && p[0] == 1 && p[1] == 2 && p[2] == 3 && m[1] == 0.5f && v[2] == 1, "changed");
    CHECK(g[0] == 0 && g[1] == 0 && g[2] == 0, "gradient left behind");
    g[1] = INFINITY;
    CHECK(adam_step(3, p, g, m, v, &t, NULL, 1e-3, 0, 1.0) == NF_ERR_NONFINITE && t == 7);
}

/* Whether parameter i lies in one of live's ranges. */
static int in_live(const flow_live *live, size_t i)
{
    for (size_t k = 0; k < live->count; k++)
        if (i >= live->ranges[2 * k] && i < live->ranges[2 * k + 1])
            return 1;
    return 0;
}

/* The live ranges of MAF flows (masked MADEs, with and without a MADE MoG
 * base) and of a flow without constraints: in order, apart, inside the
 * vector; every parameter outside them pinned (zeroed by the constraints);
 * the pinned gaps inside them short; a real share of a MADE's left out. */
static void test_live_ranges(void)
{
    const nf_model kinds[3] = {NF_MODEL_MAF, NF_MODEL_MAF_MOG, NF_MODEL_REALNVP};
    for (int k = 0; k < 3; k++) {
        nf_config c;
        nf_config_default(&c, kinds[k], 8);
        c.hidden = 128;
        nf_flow *f = NULL;
        CHECK(nf_flow_create(&f, &c) == NF_OK);
        if (!f)
            continue;
        size_t n = f->n_params, live_total = 0, end = 0;
        flow_live live;
        CHECK(flow_find_live(f, f->opt.grads, &live) == NF_OK);
        CHECK(k_all_zero(n, f->opt.grads), "the scratch left non-zero");
        float *probe = malloc(sizeof(float) * n);
        for (size_t i = 0; i < n; i++)
            probe[i] = 1;
        flow_constrain(f, probe);
        for (size_t r = 0; r < live.count; r++) {
            size_t a = live.ranges[2 * r], b = live.ranges[2 * r + 1];
            CHECK(a < b && b <= n && (r == 0 || a > end), "range %zu: %zu..%zu after %zu", r, a, b, end);
            CHECK(r == 0 || a - end >= 32, "a gap of %zu left out", a - end);
            live_total += b - a;
            end = b;
        }
        size_t pinned = 0, pinned_inside = 0;
        for (size_t i = 0; i < n; i++) {
            pinned += probe[i] == 0;
            if (!in_live(&live, i))
                CHECK(probe[i] == 0, "kind %d: parameter %zu skipped but not pinned", k, i);
            else
                pinned_inside += probe[i] == 0;
        }
        CHECK(live_total + pinned - pinned_inside == n);
        if (kinds[k] == NF_MODEL_REALNVP)
            CHECK(live.count == 1 && live_total == n && pinned == 0, "%zu ranges", live.count);
        else
            CHECK(live_total < 0.7 * n, "kind %d: %zu of %zu live", k, live_total, n);
        if (kinds[k] == NF_MODEL_MAF_MOG) { /* the base's MADE is masked too */
            size_t base_skipped = 0;
            for (size_t i = f->mog->p_off; i < n; i++)
                base_skipped += !in_live(&live, i);
            CHECK(base_skipped > 0, "the MoG base's masked weights are not skipped");
        }
        free(probe);
        flow_live_free(&live);
        nf_flow_free(f);
    }
}

/* Skipping the pinned parameters gives the bits of the full step (they
 * and their gradients and moments are zero) and leaves them alone: a
 * pinned parameter made non-zero stays as it is under weight decay,
 * which moves it in a full step. */
static void test_live_step(void)
{
    nf_flow *a = big_flow(), *b = big_flow();
    CHECK(a && b);
    if (!a || !b)
        return;
    size_t n = a->n_params, pinned = n;
    flow_live live;
    CHECK(flow_find_live(a, a->opt.grads, &live) == NF_OK);
    for (int step = 0; step < 2; step++) {
        fill_grads(a, 40 + step);
        fill_grads(b, 40 + step);
        flow_constrain(a, a->opt.grads); /* what the backward pass leaves on pinned weights */
        flow_constrain(b, b->opt.grads);
        CHECK(adam_step(n, a->params, a->opt.grads, a->opt.m, a->opt.v, &a->opt.t, &live, 1e-3, 0.1, 1.0) == 0);
        CHECK(adam_step(n, b->params, b->opt.grads, b->opt.m, b->opt.v, &b->opt.t, NULL, 1e-3, 0.1, 1.0) == 0);
        CHECK(memcmp(a->params, b->params, sizeof(float) * n) == 0, "step %d: other parameters", step);
        CHECK(memcmp(a->opt.m, b->opt.m, sizeof(float) * n) == 0 && memcmp(a->opt.v, b->opt.v, sizeof(float) * n) == 0);
        CHECK(k_all_zero(n, a->opt.grads), "step %d left a gradient", step);
    }
    for (size_t i = 0; i < n && pinned == n; i++)
        if (!in_live(&live, i))
            pinned = i;
    CHECK(pinned < n && a->params[pinned] == 0);
    if (pinned < n) {
        a->params[pinned] = b->params[pinned] = 5;
        CHECK(adam_step(n, a->params, a->opt.grads, a->opt.m, a->opt.v, &a->opt.t, &live, 1e-3, 0.1, 0) == 0);
        CHECK(adam_step(n, b->params, b->opt.grads, b->opt.m, b->opt.v, &b->opt.t, NULL, 1e-3, 0.1, 0) == 0);
        CHECK(a->params[pinned] == 5 && b->params[pinned] != 5, "skipped %g, full %g", a->params[pinned],
              b->params[pinned]);
    }
    flow_live_free(&live);
    nf_flow_free(a);
    nf_flow_free(b);
}

/* A training step leaves the gradient zero for the next one (no step
 * zeroes it first), whether it took its Adam step or refused it. */
static void test_step_leaves_zero_gradient(void)
{
    nf_flow *f = big_flow();
    CHECK(f != NULL);
    if (!f)
        return;
    enum { ROWS = 16 };
    float x[ROWS * 8];
    rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < ROWS * 8; i++)
        x[i] = (float)rng_normal(&r);
    CHECK(flow_reserve(f, ROWS) == NF_OK);
    float before[64];
    memcpy(before, f->params, sizeof before);
    for (int step = 0; step < 3; step++) {
        CHECK(isfinite(train_step(f, ROWS, x, 1e-3, 1e-6, 100)));
        CHECK(k_all_zero(f->n_params, f->opt.grads), "step %d left a gradient", step);
    }
    CHECK(memcmp(before, f->params, sizeof before) != 0, "no step was taken");
    int64_t t = f->opt.t;
    x[5] = 1e30f; /* a batch whose loss overflows: no step, nothing left */
    double loss = train_step(f, ROWS, x, 1e-3, 1e-6, 100);
    CHECK(!isfinite(loss) && f->opt.t == t, "loss %g, step %lld", loss, (long long)f->opt.t);
    CHECK(k_all_zero(f->n_params, f->opt.grads), "the refused step left a gradient");
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
    CHECK(adam(a, 1e-3, 1e-6, 1.0) == 0);
    nf_set_threads(3);
    CHECK(adam(b, 1e-3, 1e-6, 1.0) == 0);
    nf_set_threads(1);
    CHECK(memcmp(a->params, b->params, sizeof(float) * a->n_params) == 0);
    CHECK(memcmp(a->opt.v, b->opt.v, sizeof(float) * a->n_params) == 0);
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
    RUN(test_by_hand_two_parameters);
    RUN(test_nonfinite_gradient);
    RUN(test_live_ranges);
    RUN(test_live_step);
    RUN(test_step_leaves_zero_gradient);
    RUN(test_same_bits_at_any_thread_count);
    TEST_SUMMARY("test_adam");
}
