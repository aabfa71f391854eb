/* MADE and the autoregressive layers, in double precision: the
 * autoregressive property itself, the one-pass sequential direction against
 * the naive n-pass reference, and round trips both ways. */
#include <stdlib.h>
#include <string.h>

#include "flow/flow.h"
#include "core/kern.h"
#include "layers/layer.h"
#include "dcheck.h"
#include "harness.h"
#include "layers/autoregressive.h"
#include "layers/standardize.h"
#include "nets/made.h"

enum { ROWS = 4, MAXN = 9 };

static rng gen;

static void random_order(int *order, int n)
{
    int64_t idx[MAXN];
    for (int i = 0; i < n; i++)
        idx[i] = i;
    rng_shuffle(&gen, idx, n);
    for (int i = 0; i < n; i++)
        order[i] = (int)idx[i];
}

static real *random_params(const made *m)
{
    size_t np = made_n_params(m);
    real *p = malloc(sizeof(real) * np);
    for (size_t i = 0; i < np; i++)
        p[i] = 0.5 * rng_normal(&gen);
    made_constrain(m, p);
    return p;
}

/* Perturbing input j changes no output of a dimension i with degree(i) <=
 * degree(j), and does change some output of a later degree. */
static void check_autoregressive(int n, int hidden, int depth, int random_degrees)
{
    int order[MAXN], pos[MAXN];
    random_order(order, n);
    for (int k = 0; k < n; k++)
        pos[order[k]] = k;
    made m;
    CHECK(made_setup(&m, n, 0, hidden, depth, K_ACT_TANH, 3, order, NULL, random_degrees, &gen) == NF_OK);
    CHECK(made_reserve(&m, 1) == 0);
    real *p = random_params(&m);
    CHECK(made_check(&m, p) == 1);
    real x[MAXN], base[3 * MAXN];
    for (int i = 0; i < n; i++)
        x[i] = rng_normal(&gen);
    made_forward(&m, p, 1, x, NULL);
    memcpy(base, m.out, sizeof(real) * m.n_out);
    int changed_later = 0;
    for (int j = 0; j < n; j++) {
        real keep = x[j];
        x[j] = keep + 0.7;
        made_forward(&m, p, 1, x, NULL);
        x[j] = keep;
        for (int i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) {
                int o = 3 * pos[i] + c; /* block of dimension i */
                if (pos[i] <= pos[j])
                    CHECK(m.out[o] == base[o], "n=%d depth=%d: output of dim %d moved with input %d", n, depth, i, j);
                else if (m.out[o] != base[o])
                    changed_later = 1;
            }
    }
    if (n > 1)
        CHECK(changed_later, "no output depends on any input (n=%d depth=%d)", n, depth);
    /* a weight set that breaks the mask is detected */
    p[0] = 0, p[n - 1] = 1;
    CHECK(made_check(&m, p) == made_allowed(&m, 0, 0, n - 1));
    free(p);
    made_free(&m);
}

static void test_autoregressive_property(void)
{
    for (int rep = 0; rep < 3; rep++)
        for (int depth = 0; depth <= 3; depth++) {
            check_autoregressive(1, 5, depth, rep & 1);
            check_autoregressive(2, 6, depth, rep & 1);
            check_autoregressive(5, 8, depth, rep & 1);
            check_autoregressive(9, 12, depth, rep & 1);
        }
}

/* Naive sequential reference: the whole MADE once per dimension. From y
 * (known side) to s (MADE input side) for MAF sampling (iaf = 0) or IAF
 * density (iaf = 1). */
static void naive_sequential(int iaf, made *m, const real *p, double bound, int rows, const real *y, real *s,
                             double *ldj)
{
    int n = m->n;
    for (int i = 0; i < rows * n; i++)
        s[i] = 0;
    for (int r = 0; r < rows; r++)
        ldj[r] = 0;
    for (int k = 0; k < n; k++) {
        made_forward(m, p, rows, s, NULL);
        int i = m->order[k];
        for (int r = 0; r < rows; r++) {
            real a = m->out[(size_t)r * 2 * n + 2 * k], mu = m->out[(size_t)r * 2 * n + 2 * k + 1];
            if (bound > 0)
                a = bound * tanh(a / bound);
            real yi = y[r * n + i];
            s[r * n + i] = iaf ? (yi - mu) * exp(-a) : yi * exp(a) + mu;
            ldj[r] += iaf ? -a : a;
        }
    }
}

static void check_one_pass(int iaf, int n, int hidden, int depth, int random_degrees)
{
    int order[MAXN];
    random_order(order, n);
    const double bound = 3.0;
    layer *l = autoregressive_new(n, 0, iaf, hidden, depth, K_ACT_RELU, order, NULL, random_degrees, 7, bound);
    CHECK(l != NULL);
    if (!l)
        return;
    CHECK(l->ops->reserve(l, ROWS) == 0);
    made *m = autoregressive_net(l);
    size_t np = l->ops->n_params(l);
    real *p = random_params(m);
    CHECK(np == made_n_params(m));
    real y[ROWS * MAXN], s_fast[ROWS * MAXN], s_naive[ROWS * MAXN], back[ROWS * MAXN];
    double ldj_fast[ROWS] = {0}, ldj_naive[ROWS], ldj_back[ROWS] = {0};
    for (int i = 0; i < ROWS * n; i++)
        y[i] = rng_normal(&gen);
    /* the sequential direction: z2x for MAF, x2z for IAF */
    if (iaf)
        l->ops->x2z(l, p, ROWS, y, s_fast, ldj_fast);
    else
        l->ops->z2x(l, p, ROWS, y, s_fast, ldj_fast);
    naive_sequential(iaf, m, p, bound, ROWS, y, s_naive, ldj_naive);
    for (int i = 0; i < ROWS * n; i++)
        CHECK_CLOSE(s_fast[i], s_naive[i], 1e-12, 1e-12);
    for (int r = 0; r < ROWS; r++)
        CHECK_CLOSE(ldj_fast[r], ldj_naive[r], 1e-12, 1e-12);
    /* the parallel direction undoes it: x2z(z2x(u)) == u for MAF and
     * z2x(x2z(x)) == x for IAF */
    if (iaf)
        l->ops->z2x(l, p, ROWS, s_fast, back, ldj_back);
    else
        l->ops->x2z(l, p, ROWS, s_fast, back, ldj_back);
    for (int i = 0; i < ROWS * n; i++)
        CHECK_CLOSE(back[i], y[i], 1e-10, 1e-10);
    for (int r = 0; r < ROWS; r++)
        CHECK_CLOSE(ldj_back[r], -ldj_fast[r], 1e-10, 1e-10);
    free(p);
    layer_free(l);
}

static void test_one_pass_equals_naive(void)
{
    for (int iaf = 0; iaf < 2; iaf++)
        for (int depth = 0; depth <= 3; depth++) {
            check_one_pass(iaf, 1, 4, depth, 0);
            check_one_pass(iaf, 3, 5, depth, 1);
            check_one_pass(iaf, 7, 11, depth, 0);
            check_one_pass(iaf, 9, 20, depth, 1);
        }
}

/* A whole flow with a MAF, an IAF and a MADE MoG base (independent: the
 * MoG base of independent dimensions, the distillation student's, whose
 * gradients are summed over the rows): the NLL gradient with respect to
 * every free parameter and every input equals central differences; a
 * pinned (masked) weight gets exactly zero. */
static void check_flow_gradient(int components, int depth, double dropout, int independent)
{
    const int n = 4;
    nf_flow f = {0};
    f.dim = n;
    CHECK(flow_add(&f, standardize_new(n, (double[]){0.5, -1, 0, 2}, (double[]){1.5, 0.7, 1, 2})) == NF_OK);
    CHECK(flow_add(&f, autoregressive_new(n, 0, 0, 6, depth, K_ACT_TANH, (int[]){2, 0, 3, 1}, NULL, 0, 3, 3)) == NF_OK);
    CHECK(flow_add(&f, autoregressive_new(n, 0, 1, 5, depth, K_ACT_TANH, (int[]){0, 1, 2, 3}, NULL, 1, 4, 3)) == NF_OK);
    f.mog = independent ? mog_new_independent(n, components)
                        : mog_new(n, 0, components, 7, depth, K_ACT_TANH, (int[]){3, 1, 0, 2}, NULL, 0, 5);
    CHECK(f.mog != NULL);
    CHECK(!independent || mog_n_params(f.mog) == (size_t)3 * components * n);
    CHECK(flow_allocate_params(&f) == NF_OK);
    CHECK(flow_reserve(&f, ROWS) == NF_OK);
    for (size_t k = 0; k < f.n_params; k++)
        f.params[k] = 0.4 * rng_normal(&gen);
    for (int l = 1; l < 3; l++)
        made_constrain(autoregressive_net(f.layers[l]), f.params + f.layers[l]->p_off);
    if (!independent)
        made_constrain(&f.mog->net, f.params + f.mog->p_off);
    char *pinned = pinned_params(&f);
    real x[ROWS * 4];
    for (int i = 0; i < ROWS * n; i++)
        x[i] = (independent ? 1.5 : 1) * rng_normal(&gen);
    if (dropout > 0) { /* a training step's networks: the same draws in every pass until changed */
        double whole = flow_mean_nll(&f, ROWS, x);
        flow_set_dropout(&f, dropout, 77, 5);
        CHECK(flow_mean_nll(&f, ROWS, x) != whole, "dropout changes nothing");
    }
    check_flow_nll_gradients(&f, ROWS, x, pinned);
    size_t mog_grads = 0;
    for (size_t k = f.mog->p_off; k < f.n_params; k++)
        mog_grads += fabs(f.opt.grads[k]) > 1e-4;
    CHECK(mog_grads > (size_t)(independent ? n : 10), "the MoG base's gradients are not trivially zero");
    check_flow_round_trip(&f, ROWS, x);
    free(pinned);
    free_test_flow(&f);
}

static void test_flow_gradient_mog(void)
{
    check_flow_gradient(3, 1, 0, 0);
    check_flow_gradient(1, 2, 0, 0);
    check_flow_gradient(4, 0, 0, 0);
}

/* A conditional flow (a MAF, an IAF, a MADE MoG base, each reading the
 * context): the NLL gradient by parameters, inputs and context against
 * central differences; with n = 1 the MoG base alone must hear the
 * context (its first output block: the hidden units of degree 0). */
static void check_conditional_flow_gradient(int n, int with_layers, int components)
{
    enum { NC = 2 };
    nf_flow f = {0};
    f.dim = n;
    f.context_dim = NC;
    int order[MAXN];
    random_order(order, n);
    CHECK(flow_add(&f, standardize_new(n, NULL, NULL)) == NF_OK);
    if (with_layers) {
        CHECK(flow_add(&f, autoregressive_new(n, NC, 0, 6, 1, K_ACT_TANH, order, NULL, 0, 3, 3)) == NF_OK);
        CHECK(flow_add(&f, autoregressive_new(n, NC, 1, 5, 2, K_ACT_TANH, order, NULL, 1, 4, 3)) == NF_OK);
    }
    f.mog = mog_new(n, NC, components, 7, 1, K_ACT_TANH, order, NULL, 0, 5);
    CHECK(f.mog != NULL);
    CHECK(flow_allocate_params(&f) == NF_OK);
    CHECK(flow_reserve(&f, ROWS) == NF_OK);
    for (size_t k = 0; k < f.n_params; k++)
        f.params[k] = 0.4 * rng_normal(&gen);
    for (int l = 1; l < f.n_layers; l++)
        made_constrain(autoregressive_net(f.layers[l]), f.params + f.layers[l]->p_off);
    made_constrain(&f.mog->net, f.params + f.mog->p_off);
    char *pinned = pinned_params(&f);
    real x[ROWS * MAXN], ctx[ROWS * NC], dctx[ROWS * NC] = {0};
    for (int i = 0; i < ROWS * n; i++)
        x[i] = rng_normal(&gen);
    for (int i = 0; i < ROWS * NC; i++)
        ctx[i] = rng_normal(&gen);
    flow_point_context(&f, ctx, NULL);
    check_flow_nll_gradients(&f, ROWS, x, pinned);
    flow_point_context(&f, ctx, dctx);
    flow_x2z(&f, ROWS, x, f.work.logp);
    flow_nll_backward(&f, ROWS, x, NULL, NULL);
    flow_point_context(&f, ctx, NULL);
    const double h = 1e-6;
    double gmax = 0;
    for (int i = 0; i < ROWS * NC; i++) {
        real keep = ctx[i];
        ctx[i] = keep + h;
        double a = flow_mean_nll(&f, ROWS, x);
        ctx[i] = keep - h;
        double b = flow_mean_nll(&f, ROWS, x);
        ctx[i] = keep;
        CHECK_CLOSE(dctx[i], (a - b) / (2 * h), 1e-6, 1e-5);
        gmax = fmax(gmax, fabs(dctx[i]));
    }
    CHECK(gmax > 1e-3, "n=%d: the density does not hear the context (gradient %g)", n, gmax);
    free(pinned);
    free_test_flow(&f);
}

static void test_conditional_flow_gradient(void)
{
    check_conditional_flow_gradient(1, 0, 3); /* the MoG base alone */
    check_conditional_flow_gradient(1, 1, 2);
    check_conditional_flow_gradient(3, 1, 2);
}

/* With the networks' hidden units dropped (MAF's parallel pass, IAF's
 * sequential one, the MoG base's MADE): the same checks. */
static void test_flow_gradient_dropout(void)
{
    check_flow_gradient(3, 1, 0.3, 0);
    check_flow_gradient(2, 2, 0.5, 0);
}

/* A 1-D MoG base's density integrates to 1 (a grid) and its samples have
 * that density's mean; p: its parameters, moved off their start. */
static void check_normalised(mog_base *m, real *p)
{
    enum { G = 4000 };
    CHECK(mog_reserve(m, G) == 0);
    rng r;
    rng_seed(&r, 2);
    real *z = malloc(sizeof(real) * G);
    double *lp = malloc(sizeof(double) * G), mass = 0, mean = 0;
    const double lo = -40, hi = 40, cell = (hi - lo) / G;
    for (int i = 0; i < G; i++)
        z[i] = lo + (i + 0.5) * cell;
    mog_log_prob(m, p, G, z, lp);
    for (int i = 0; i < G; i++) {
        mass += exp(lp[i]) * cell;
        mean += z[i] * exp(lp[i]) * cell;
    }
    CHECK_CLOSE(mass, 1.0, 1e-6, 0);
    mog_sample(m, p, &r, G, z);
    double sm = 0;
    for (int i = 0; i < G; i++)
        sm += z[i] / G;
    CHECK(fabs(sm - mean) < 0.2, "sample mean %g, density mean %g", sm, mean);
    free(z);
    free(lp);
}

/* Each conditional of the MADE kind, and each dimension of the independent
 * kind, is a proper mixture: so the product over dimensions is one too. */
static void test_mog_normalised(void)
{
    mog_base *kinds[2] = {mog_new(1, 0, 4, 5, 1, K_ACT_TANH, (int[]){0}, NULL, 0, 3), mog_new_independent(1, 4)};
    for (int k = 0; k < 2; k++) {
        mog_base *m = kinds[k];
        CHECK(m != NULL);
        if (!m)
            continue;
        real *p = malloc(sizeof(real) * mog_n_params(m));
        rng r;
        rng_seed(&r, 2);
        mog_init_params(m, p, &r);
        for (size_t j = 0; j < mog_n_params(m); j++)
            p[j] += 0.8 * rng_normal(&r);
        if (!m->independent)
            made_constrain(&m->net, p);
        check_normalised(m, p);
        free(p);
        mog_free(m);
    }
}

/* The independent MoG base (the distillation student's) in a whole flow:
 * gradients and round trip as the MADE kind's; and its start is nearly
 * N(0, 1). */
static void test_flow_gradient_independent_mog(void)
{
    check_flow_gradient(3, 1, 0, 1);
    check_flow_gradient(1, 2, 0, 1);
    /* the start: N(0, 1) within 0.02 nats at every point of [-4, 4] */
    mog_base *m = mog_new_independent(1, 10);
    CHECK(m != NULL && mog_reserve(m, 81) == 0);
    real p[30], z[81];
    double lp[81];
    rng r;
    rng_seed(&r, 3);
    mog_init_params(m, p, &r);
    for (int i = 0; i < 81; i++)
        z[i] = -4 + 0.1 * i;
    mog_log_prob(m, p, 81, z, lp);
    double worst = 0;
    for (int i = 0; i < 81; i++)
        worst = fmax(worst, fabs(lp[i] - (-0.91893853320467274 - 0.5 * z[i] * z[i])));
    CHECK(worst < 0.02, "the independent base starts %g nats from N(0, 1)", worst);
    mog_free(m);
}

int main(void)
{
    rng_seed(&gen, 7);
    RUN(test_autoregressive_property);
    RUN(test_one_pass_equals_naive);
    RUN(test_flow_gradient_mog);
    RUN(test_conditional_flow_gradient);
    RUN(test_flow_gradient_dropout);
    RUN(test_mog_normalised);
    RUN(test_flow_gradient_independent_mog);
    TEST_SUMMARY("dtest_made");
}
