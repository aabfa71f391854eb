/* Every layer, in double precision: inverse(forward) is the identity, the
 * log-determinant equals log|det| of the finite-difference Jacobian, and
 * the analytic gradients (parameters and inputs, both directions) equal
 * central differences. Also the whole flow's NLL gradient. */
#include <stdlib.h>
#include <string.h>

#include "flow/flow.h"
#include "core/kern.h"
#include "layers/layer.h"
#include "dcheck.h"
#include "harness.h"
#include "layers/actnorm.h"
#include "layers/autoregressive.h"
#include "layers/bounds.h"
#include "layers/coupling.h"
#include "layers/linear_lu.h"
#include "layers/permute.h"
#include "layers/rescale.h"
#include "layers/standardize.h"

enum { ROWS = 3, MAXD = 8 };

static rng gen;

static double randn(void) { return rng_normal(&gen); }

/* Parameters: the layer's own init, then noise so that no part (e.g. the
 * zero-initialised last layer of a coupling net) is trivially zero. */
static real *make_params(layer *l)
{
    size_t n = l->ops->n_params(l);
    real *p = calloc(n ? n : 1, sizeof(real));
    l->ops->init_params(l, p, &gen);
    for (size_t i = 0; i < n; i++)
        p[i] += 0.3 * randn();
    if (l->ops->constrain)
        l->ops->constrain(l, p);
    CHECK(l->ops->reserve(l, ROWS) == 0);
    return p;
}

/* pinned[k] = 1 for the entries a layer's constraint holds at 0 (MADE masks). */
static char *pinned_of(layer *l)
{
    size_t n = l->ops->n_params(l);
    real *probe = malloc(sizeof(real) * (n + 1));
    char *pinned = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        probe[i] = 1;
    if (l->ops->constrain)
        l->ops->constrain(l, probe);
    for (size_t i = 0; i < n; i++)
        pinned[i] = probe[i] == 0;
    free(probe);
    return pinned;
}

static void randn_fill(real *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = randn();
}

enum { MAXC = 3 }; /* context values a conditional layer here reads, at most */

/* Inverse, log-determinant and gradients in both directions; a conditional
 * layer with a context in place, and its context gradient too. */
static void check_layer(layer *l)
{
    CHECK(l != NULL && (!l || l->context_dim <= MAXC));
    if (!l || l->context_dim > MAXC)
        return;
    real *p = make_params(l);
    char *pinned = pinned_of(l);
    real x[ROWS * MAXD], c[ROWS * MAXD], ctx[ROWS * MAXC];
    randn_fill(ctx, ROWS * (size_t)l->context_dim);
    l->context = l->context_dim ? ctx : NULL;
    randn_fill(x, ROWS * (size_t)l->dim);
    check_layer_inverse(l, p, ROWS, x);
    for (int dir = 0; dir < 2; dir++) {
        randn_fill(x, (size_t)l->dim);
        check_layer_logdet(l, p, dir, x);
        randn_fill(x, ROWS * (size_t)l->dim);
        randn_fill(c, ROWS * (size_t)l->dim);
        double w = randn();
        check_layer_gradients(l, p, dir, ROWS, x, c, w, pinned);
        if (l->context_dim)
            check_layer_context_gradient(l, p, dir, ROWS, x, c, w, ctx);
    }
    l->context = NULL;
    free(pinned);
    free(p);
    layer_free(l);
}

/* every conditional kind: a context the layer reads */
static void check_conditional_layer(layer *l)
{
    CHECK(l && l->context_dim > 0);
    check_layer(l);
}

/* A layer that changes every dimension (an autoregressive one, a coupling
 * of one column): each dimension's output, the first in the order
 * included, moves with the context in both directions; then the checks of
 * every layer. */
static void check_context_reaches_every_dim(layer *l)
{
    CHECK(l && l->context_dim > 0 && l->context_dim <= MAXC && l->dim <= MAXD);
    if (!l || !l->context_dim || l->context_dim > MAXC || l->dim > MAXD)
        return;
    real *p = make_params(l), x[ROWS * MAXD], out[ROWS * MAXD], out2[ROWS * MAXD], ctx[ROWS * MAXC];
    double ldj[ROWS];
    randn_fill(x, ROWS * (size_t)l->dim);
    randn_fill(ctx, ROWS * (size_t)l->context_dim);
    l->context = ctx;
    for (int dir = 0; dir < 2; dir++) {
        pass_of(l, dir)(l, p, ROWS, x, out, memset(ldj, 0, sizeof ldj));
        for (int i = 0; i < ROWS * l->context_dim; i++)
            ctx[i] += 0.5;
        pass_of(l, dir)(l, p, ROWS, x, out2, ldj);
        for (int i = 0; i < ROWS * l->context_dim; i++)
            ctx[i] -= 0.5;
        for (int j = 0; j < l->dim; j++) {
            double moved = 0;
            for (int r = 0; r < ROWS; r++)
                moved = fmax(moved, fabs(out2[r * l->dim + j] - out[r * l->dim + j]));
            CHECK(moved > 1e-6, "%s, direction %d: dimension %d does not hear the context", l->ops->tag, dir, j);
        }
    }
    l->context = NULL;
    free(p);
    check_conditional_layer(l);
}

/* One x column: a coupling cannot split it, so it is element-wise, its
 * network reading the context alone (or, unconditional, nothing); a
 * conditional MADE of one input has hidden units of degree 0. */
static void test_one_column_layers(void)
{
    int one[1] = {0};
    for (int nc = 0; nc <= 2; nc += 2) {
        layer *ls[] = {coupling_new(1, nc, 1, one, 5, 2, K_ACT_TANH, 3.0), coupling_new(1, nc, 0, one, 4, 1, K_ACT_RELU, 0),
                       spline_coupling_new(1, nc, one, 5, 1, K_ACT_TANH, 5, 2.0, -1),
                       spline_coupling_new(1, nc, one, 5, 2, K_ACT_TANH, 4, 2.0, 3.0),
                       coupling_new(1, nc, 1, one, 0, 0, K_ACT_TANH, 3.0)};
        for (size_t k = 0; k < sizeof ls / sizeof ls[0]; k++)
            if (nc)
                check_context_reaches_every_dim(ls[k]);
            else
                check_layer(ls[k]);
    }
    for (int iaf = 0; iaf < 2; iaf++) {
        check_context_reaches_every_dim(autoregressive_new(1, 1, iaf, 5, 2, K_ACT_TANH, (int[]){0}, NULL, 0, 3, 3.0));
        check_context_reaches_every_dim(autoregressive_new(1, 2, iaf, 6, 1, K_ACT_RELU, (int[]){0}, NULL, 1, 3, 3.0));
        /* several columns: the first in the order hears the context too */
        check_context_reaches_every_dim(autoregressive_new(4, 2, iaf, 8, 2, K_ACT_TANH, (int[]){2, 0, 3, 1}, NULL, 0, 3, 3.0));
        check_context_reaches_every_dim(autoregressive_new(3, 1, iaf, 9, 1, K_ACT_TANH, (int[]){1, 2, 0}, NULL, 1, 5, 3.0));
    }
    check_context_reaches_every_dim(spline_maf_new(1, 2, 6, 1, K_ACT_TANH, (int[]){0}, NULL, 0, 4, 5, 2.0, 3.0));
    check_context_reaches_every_dim(spline_maf_new(3, 1, 6, 2, K_ACT_TANH, (int[]){2, 0, 1}, NULL, 1, 4, 5, 2.0, -1));
}

static void test_conditional_layers(void)
{
    int halves[5] = {1, 1, 0, 0, 0}, odd[4] = {0, 1, 0, 1};
    check_conditional_layer(coupling_new(5, 2, 1, halves, 7, 2, K_ACT_TANH, 3.0));
    check_conditional_layer(coupling_new(4, 1, 0, odd, 6, 1, K_ACT_RELU, 0));
    check_conditional_layer(spline_coupling_new(4, 3, odd, 6, 1, K_ACT_TANH, 5, 2.0, -1));
    check_conditional_layer(spline_coupling_new(4, 3, odd, 6, 1, K_ACT_TANH, 5, 2.0, 3.0));
    for (int iaf = 0; iaf < 2; iaf++) {
        check_conditional_layer(autoregressive_new(4, 2, iaf, 7, 2, K_ACT_TANH, (int[]){2, 0, 3, 1}, NULL, 0, 3, 3.0));
        check_conditional_layer(autoregressive_new(3, 1, iaf, 0, 0, K_ACT_TANH, (int[]){1, 2, 0}, NULL, 0, 5, 3.0));
    }
    check_conditional_layer(spline_maf_new(4, 2, 6, 1, K_ACT_TANH, (int[]){3, 1, 0, 2}, NULL, 1, 4, 5, 2.0, -1));
    check_conditional_layer(spline_maf_new(4, 2, 6, 1, K_ACT_TANH, (int[]){3, 1, 0, 2}, NULL, 1, 4, 5, 2.0, 3.0));
}

/* Dropout (a training step's): the layer's network with some hidden units
 * dropped, the same draws in every pass, is still a bijection with the
 * right log-determinant and gradients in both directions (the coupling
 * networks; the MADE's parallel and sequential passes). */
static void check_dropout_layer(layer *l, real rate)
{
    CHECK(l && l->ops->set_dropout, "a layer with a network takes dropout");
    if (!l || !l->ops->set_dropout)
        return;
    real *p = make_params(l);
    real x[ROWS * MAXD], whole[ROWS * MAXD], dropped[ROWS * MAXD], ctx[ROWS * MAXC];
    double ldj[ROWS] = {0};
    randn_fill(ctx, ROWS * (size_t)l->context_dim);
    l->context = l->context_dim ? ctx : NULL;
    randn_fill(x, ROWS * (size_t)l->dim);
    l->ops->x2z(l, p, ROWS, x, whole, ldj);
    k_dropout d = {rate, 0x5eed, 3};
    l->ops->set_dropout(l, &d);
    l->ops->x2z(l, p, ROWS, x, dropped, ldj);
    CHECK(memcmp(whole, dropped, sizeof(real) * ROWS * l->dim) != 0, "dropout changes nothing");
    free(p);
    check_layer(l);
}

static void test_dropout_layers(void)
{
    int halves[5] = {1, 1, 0, 0, 0}, odd[4] = {0, 1, 0, 1};
    check_dropout_layer(coupling_new(5, 0, 0, halves, 7, 2, K_ACT_TANH, 0), 0.3f);
    check_dropout_layer(coupling_new(4, 0, 1, odd, 8, 2, K_ACT_RELU, 2.0), 0.5f);
    check_dropout_layer(coupling_new(5, 2, 1, halves, 7, 2, K_ACT_TANH, 3.0), 0.2f);
    check_dropout_layer(spline_coupling_new(4, 0, odd, 6, 2, K_ACT_TANH, 5, 2.0, 3.0), 0.3f);
    for (int iaf = 0; iaf < 2; iaf++) {
        check_dropout_layer(autoregressive_new(4, 0, iaf, 7, 2, K_ACT_TANH, (int[]){0, 1, 2, 3}, NULL, 0, 2, 3.0), 0.3f);
        check_dropout_layer(autoregressive_new(5, 0, iaf, 9, 2, K_ACT_RELU, (int[]){3, 0, 4, 1, 2}, NULL, 1, 3, 2.0),
                            0.4f);
        check_dropout_layer(autoregressive_new(4, 2, iaf, 7, 1, K_ACT_TANH, (int[]){2, 0, 3, 1}, NULL, 0, 3, 3.0), 0.3f);
    }
    check_dropout_layer(spline_maf_new(4, 0, 6, 2, K_ACT_TANH, (int[]){0, 1, 2, 3}, NULL, 0, 7, 4, 2.0, 3.0), 0.3f);
    check_dropout_layer(spline_maf_new(3, 1, 8, 1, K_ACT_RELU, (int[]){1, 2, 0}, NULL, 1, 8, 5, 1.5, 0), 0.25f);
}

static void test_additive_coupling(void)
{
    int halves[5] = {1, 1, 0, 0, 0}, odd[4] = {0, 1, 0, 1}, user[6] = {1, 0, 0, 1, 1, 0};
    check_layer(coupling_new(5, 0, 0, halves, 7, 2, K_ACT_TANH, 0));
    check_layer(coupling_new(4, 0, 0, odd, 6, 1, K_ACT_RELU, 0));
    check_layer(coupling_new(6, 0, 0, user, 5, 3, K_ACT_TANH, 0));
    check_layer(coupling_new(2, 0, 0, (int[]){0, 1}, 4, 0, K_ACT_TANH, 0));
}

static void test_affine_coupling(void)
{
    int halves[5] = {1, 1, 0, 0, 0}, odd[4] = {0, 1, 0, 1}, user[7] = {1, 0, 0, 1, 1, 0, 1};
    check_layer(coupling_new(5, 0, 1, halves, 7, 2, K_ACT_TANH, 3.0));
    check_layer(coupling_new(4, 0, 1, odd, 6, 1, K_ACT_RELU, 2.0));
    check_layer(coupling_new(7, 0, 1, user, 5, 2, K_ACT_TANH, 0));
    check_layer(coupling_new(2, 0, 1, (int[]){1, 0}, 8, 2, K_ACT_TANH, 3.0));
}

/* Tail bounds of 2.5 and 1: points inside the bins and in the tails. */
static void test_spline_coupling(void)
{
    int halves[5] = {1, 1, 0, 0, 0}, odd[4] = {0, 1, 0, 1};
    check_layer(spline_coupling_new(5, 0, halves, 7, 2, K_ACT_TANH, 4, 2.5, -1));
    check_layer(spline_coupling_new(4, 0, odd, 6, 1, K_ACT_RELU, 8, 1.0, -1));
    check_layer(spline_coupling_new(2, 0, (int[]){1, 0}, 5, 0, K_ACT_TANH, 2, 2.0, -1));
    /* shifted: the spline reads (x - mu) e^-alpha, alpha bounded or not */
    check_layer(spline_coupling_new(5, 0, halves, 7, 2, K_ACT_TANH, 4, 2.5, 3.0));
    check_layer(spline_coupling_new(4, 0, odd, 6, 1, K_ACT_RELU, 6, 1.0, 0));
}

/* The spline MAF: its density direction in one pass, its sampling one
 * degree at a time, both differentiated; tail bounds that put points inside
 * and beyond the bins. */
static void test_spline_maf(void)
{
    int natural[4] = {0, 1, 2, 3}, shuffled[5] = {3, 0, 4, 1, 2};
    check_layer(spline_maf_new(4, 0, 6, 2, K_ACT_TANH, natural, NULL, 0, 1, 4, 2.0, -1));
    check_layer(spline_maf_new(5, 0, 7, 1, K_ACT_RELU, shuffled, NULL, 1, 3, 6, 1.0, -1));
    check_layer(spline_maf_new(1, 0, 3, 1, K_ACT_TANH, (int[]){0}, NULL, 0, 1, 3, 2.0, -1));
    check_layer(spline_maf_new(4, 0, 6, 1, K_ACT_TANH, (int[]){2, 0, 3, 1}, NULL, 0, 2, 4, 2.0, -1));
    /* shifted: the spline reads (x - mu) e^-alpha, alpha bounded or not */
    check_layer(spline_maf_new(4, 0, 6, 2, K_ACT_TANH, natural, NULL, 0, 7, 4, 2.0, 3.0));
    check_layer(spline_maf_new(3, 0, 5, 1, K_ACT_RELU, (int[]){1, 2, 0}, NULL, 1, 8, 5, 1.5, 0));
}

static void test_rescale(void)
{
    check_layer(rescale_new(1));
    check_layer(rescale_new(6));
}

static void test_permutation(void)
{
    check_layer(permute_new(5, (int[]){4, 3, 2, 1, 0}));
    check_layer(permute_new(6, (int[]){2, 0, 5, 1, 3, 4}));
    CHECK(permute_new(3, (int[]){0, 0, 1}) == NULL, "a repeated index is no permutation");
}

static void test_linear_lu(void)
{
    check_layer(linear_lu_new(1, (int[]){0}, NULL));
    check_layer(linear_lu_new(5, (int[]){3, 0, 4, 1, 2}, NULL));
    check_layer(linear_lu_new(6, (int[]){0, 1, 2, 3, 4, 5}, (real[]){1, -1, 1, 1, -1, 1}));
}

/* MAF and IAF: both directions have gradients (the sequential one through
 * the reversed one-pass graph). */
static void test_autoregressive(void)
{
    for (int iaf = 0; iaf < 2; iaf++) {
        check_layer(autoregressive_new(1, 0, iaf, 4, 1, K_ACT_TANH, (int[]){0}, NULL, 0, 1, 3.0));
        check_layer(autoregressive_new(2, 0, iaf, 5, 1, K_ACT_TANH, (int[]){1, 0}, NULL, 0, 1, 3.0));
        check_layer(autoregressive_new(4, 0, iaf, 7, 2, K_ACT_TANH, (int[]){0, 1, 2, 3}, NULL, 0, 2, 3.0));
        check_layer(autoregressive_new(5, 0, iaf, 6, 2, K_ACT_RELU, (int[]){3, 0, 4, 1, 2}, NULL, 1, 3, 2.0));
        check_layer(autoregressive_new(6, 0, iaf, 9, 3, K_ACT_TANH, (int[]){5, 4, 3, 2, 1, 0}, NULL, 1, 4, 0));
        check_layer(autoregressive_new(3, 0, iaf, 0, 0, K_ACT_TANH, (int[]){2, 0, 1}, NULL, 0, 5, 3.0));
    }
}

/* Bounds: an interval, both half-lines, an open column and a narrow
 * interval far from 0. x2z needs x inside, so x comes from z2x of normal
 * draws; both directions then as for every layer. */
static const double b_lo[5] = {0.5, -1, NAN, -INFINITY, -2}, b_hi[5] = {3, INFINITY, 2, NAN, -1.99};

static void test_bounds(void)
{
    layer *l = bounds_new(5, b_lo, b_hi);
    CHECK(l != NULL);
    if (!l)
        return;
    real *p = make_params(l);
    real z[ROWS * 5], x[ROWS * 5], c[ROWS * 5];
    double ldj[ROWS] = {0};
    randn_fill(z, ROWS * 5);
    l->ops->z2x(l, p, ROWS, z, x, ldj);
    CHECK(bounds_outside(l, x, ROWS, NULL, NULL) == 0, "z2x leaves the bounds");
    check_layer_inverse(l, p, ROWS, x);
    for (int dir = 0; dir < 2; dir++) {
        real *in = dir == 0 ? x : z;
        check_layer_logdet(l, p, dir, in);
        randn_fill(c, ROWS * 5);
        check_layer_gradients(l, p, dir, ROWS, in, c, randn(), NULL);
    }
    /* outside, on a bound, NaN: z = 0 (finite), log-determinant -inf, no gradient */
    real bad[ROWS * 5], zb[ROWS * 5], dx[ROWS * 5];
    memcpy(bad, x, sizeof bad);
    bad[0] = 3;       /* on the upper bound of (0.5, 3) */
    bad[5 + 1] = -2;  /* below (-1, inf) */
    bad[10 + 4] = NAN;
    double lb[ROWS] = {0};
    size_t first = 9;
    int col = 9;
    CHECK(bounds_outside(l, bad, ROWS, &first, &col) == 3 && first == 0 && col == 0);
    l->ops->x2z(l, p, ROWS, bad, zb, lb);
    for (int r = 0; r < ROWS; r++)
        CHECK(lb[r] == -INFINITY, "row %d: %g", r, lb[r]);
    CHECK(zb[0] == 0 && zb[6] == 0 && zb[14] == 0 && isfinite(zb[1]));
    randn_fill(c, ROWS * 5);
    l->ops->x2z_backward(l, p, ROWS, bad, zb, c, 1, dx, NULL);
    CHECK(dx[0] == 0 && dx[6] == 0 && dx[14] == 0 && isfinite(dx[1]));
    /* latent values far out land strictly inside (the nearest value inside where rounding reaches a bound) */
    real far[5] = {800, -800, 800, 1e300, -800}, xf[5];
    double lf = 0;
    l->ops->z2x(l, p, 1, far, xf, &lf);
    CHECK(bounds_outside(l, xf, 1, NULL, NULL) == 0, "%g %g %g %g", xf[0], xf[1], xf[2], xf[4]);
    CHECK(xf[0] < 3 && xf[1] > -1 && xf[2] < 2 && xf[3] == 1e300 && xf[4] > -2);
    free(p);
    layer_free(l);
    /* refused: lo >= hi, a wrong-signed infinity, beyond 1e30, no float32 between */
    CHECK(bounds_new(1, (double[]){1}, (double[]){0}) == NULL);
    CHECK(bounds_new(1, (double[]){INFINITY}, (double[]){NAN}) == NULL);
    CHECK(bounds_new(1, (double[]){NAN}, (double[]){-INFINITY}) == NULL);
    CHECK(bounds_new(1, (double[]){-1e31}, (double[]){0}) == NULL);
    CHECK(bounds_new(1, (double[]){1}, (double[]){1 + 1e-9}) == NULL);
}

/* The whole flow with bounds first: NLL gradients through the map. */
static void test_flow_gradient_bounds(void)
{
    const int n = 5;
    nf_flow f = {0};
    f.dim = n;
    f.base.kind = NF_BASE_NORMAL;
    CHECK(flow_add(&f, bounds_new(n, b_lo, b_hi)) == NF_OK);
    CHECK(flow_add(&f, standardize_new(n, (double[]){0.5, -1, 0, 2, 1}, (double[]){1.5, 0.7, 1, 2, 3})) == NF_OK);
    CHECK(flow_add(&f, autoregressive_new(n, 0, 0, 7, 1, K_ACT_TANH, (int[]){2, 0, 4, 3, 1}, NULL, 0, 1, 3.0)) ==
          NF_OK);
    CHECK(flow_add(&f, coupling_new(n, 0, 1, (int[]){1, 0, 1, 0, 1}, 6, 1, K_ACT_TANH, 3)) == NF_OK);
    CHECK(flow_allocate_params(&f) == NF_OK);
    CHECK(flow_reserve(&f, ROWS) == NF_OK);
    CHECK(flow_first(&f) == 1 && flow_bounds(&f) == f.layers[0]);
    for (size_t k = 0; k < f.n_params; k++)
        f.params[k] = 0.3 * randn();
    for (int l = 0; l < f.n_layers; l++)
        if (f.layers[l]->ops->constrain)
            f.layers[l]->ops->constrain(f.layers[l], f.params + f.layers[l]->p_off);
    real z[ROWS * 5], x[ROWS * 5];
    double ldj[ROWS];
    randn_fill(z, ROWS * (size_t)n);
    bounds_to_x(f.layers[0], ROWS, z, x, ldj);
    char *pinned = pinned_params(&f);
    check_flow_nll_gradients(&f, ROWS, x, pinned);
    check_flow_round_trip(&f, ROWS, x);
    free(pinned);
    free_test_flow(&f);
}

static void test_standardize(void)
{
    check_layer(standardize_new(4, (double[]){1, -2, 0.5, 3}, (double[]){2, 0.5, 1, 7}));
}

/* The generic checks see ActNorm's affine map: flag set to initialised (and
 * l->training is 0 here anyway). */
static void test_actnorm(void)
{
    for (int n = 1; n <= 6; n += 5) {
        layer *l = actnorm_new(n);
        CHECK(l != NULL);
        if (!l)
            continue;
        l->state[0] = 1;
        check_layer(l);
    }
    CHECK(actnorm_new(0) == NULL);
}

/* The data-dependent initialisation, in double: the first training x2z sets
 * b = the batch mean and logs = log of its (biased) std before computing,
 * so its output has mean 0 and variance 1; not before training, not twice,
 * not from one row, and a constant column gets the floored std. */
static void test_actnorm_init(void)
{
    enum { R = 50, N = 3 };
    layer *l = actnorm_new(N);
    CHECK(l != NULL);
    if (!l)
        return;
    CHECK(l->ops->n_params(l) == 2 * N && l->ops->n_state(l) == 1);
    real p[2 * N], x[R * N], z[R * N], x2[R * N];
    double ldj[R] = {0};
    l->ops->init_params(l, p, &gen);
    for (int i = 0; i < 2 * N; i++)
        CHECK(p[i] == 0, "init_params is the identity");
    CHECK(l->state[0] == 0, "not initialised at creation");
    for (int r = 0; r < R; r++) {
        x[r * N + 0] = 5 + 3 * randn();
        x[r * N + 1] = -2 + 0.01 * randn();
        x[r * N + 2] = 7; /* constant column */
    }
    /* evaluation (training off) is the identity and initialises nothing */
    l->ops->x2z(l, p, R, x, z, ldj);
    CHECK(l->state[0] == 0 && memcmp(x, z, sizeof x) == 0 && ldj[0] == 0);
    /* one row is no batch to take statistics from */
    l->training = 1;
    l->ops->x2z(l, p, 1, x, z, ldj);
    CHECK(l->state[0] == 0 && p[0] == 0 && p[N] == 0);
    l->ops->x2z(l, p, R, x, z, ldj);
    CHECK(l->state[0] == 1, "the first training batch initialises");
    double sum_logs = 0;
    for (int i = 0; i < N; i++) {
        double m = 0, v = 0, zm = 0, zv = 0;
        for (int r = 0; r < R; r++)
            m += x[r * N + i], zm += z[r * N + i];
        m /= R, zm /= R;
        for (int r = 0; r < R; r++)
            v += (x[r * N + i] - m) * (x[r * N + i] - m), zv += (z[r * N + i] - zm) * (z[r * N + i] - zm);
        v /= R, zv /= R;
        CHECK_CLOSE(p[i], m, 1e-12, 1e-12);
        CHECK_CLOSE(p[N + i], i == 2 ? log(1e-6) : 0.5 * log(v), 1e-12, 1e-12);
        CHECK_CLOSE(zm, 0, 1e-12, 0);
        if (i < 2)
            CHECK_CLOSE(zv, 1, 1e-12, 1e-12);
        sum_logs += p[N + i];
    }
    CHECK_CLOSE(ldj[0], -sum_logs, 1e-12, 1e-12);
    /* a second training batch (shifted) does not initialise again */
    real keep[2 * N];
    memcpy(keep, p, sizeof p);
    for (int k = 0; k < R * N; k++)
        x2[k] = x[k] + 10;
    l->ops->x2z(l, p, R, x2, z, ldj);
    CHECK(memcmp(keep, p, sizeof p) == 0, "initialised twice");
    /* statistics that are not finite leave a fresh layer alone */
    l->state[0] = 0;
    memset(p, 0, sizeof p);
    x2[4] = NAN;
    l->ops->x2z(l, p, R, x2, z, ldj);
    CHECK(l->state[0] == 0 && p[0] == 0 && p[1] == 0 && p[N + 1] == 0);
    char desc[128];
    l->ops->describe(l, desc, sizeof desc);
    CHECK(strstr(desc, "actnorm") == desc, "%s", desc);
    layer_free(l);
}

/* The whole flow: NLL gradient with respect to parameters and inputs. */
static void check_flow_gradient(nf_base base)
{
    const int n = 4;
    nf_flow f = {0};
    f.dim = n;
    f.base.kind = base;
    CHECK(flow_add(&f, standardize_new(n, (double[]){0.5, -1, 0, 2}, (double[]){1.5, 0.7, 1, 2})) == NF_OK);
    CHECK(flow_add(&f, coupling_new(n, 0, 1, (int[]){1, 0, 1, 0}, 6, 2, K_ACT_TANH, 3)) == NF_OK);
    CHECK(flow_add(&f, linear_lu_new(n, (int[]){2, 0, 3, 1}, NULL)) == NF_OK);
    CHECK(flow_add(&f, coupling_new(n, 0, 0, (int[]){0, 1, 0, 1}, 5, 1, K_ACT_TANH, 0)) == NF_OK);
    CHECK(flow_add(&f, spline_coupling_new(n, 0, (int[]){1, 1, 0, 0}, 5, 1, K_ACT_TANH, 5, 2.0, -1)) == NF_OK);
    CHECK(flow_add(&f, spline_coupling_new(n, 0, (int[]){0, 1, 1, 0}, 5, 1, K_ACT_TANH, 5, 2.0, 3.0)) == NF_OK);
    CHECK(flow_add(&f, spline_maf_new(n, 0, 6, 1, K_ACT_TANH, (int[]){2, 0, 3, 1}, NULL, 0, 2, 4, 2.0, -1)) == NF_OK);
    CHECK(flow_add(&f, rescale_new(n)) == NF_OK);
    CHECK(flow_add(&f, actnorm_new(n)) == NF_OK); /* not training: the affine map */
    CHECK(flow_allocate_params(&f) == NF_OK);
    CHECK(flow_reserve(&f, ROWS) == NF_OK);
    for (size_t k = 0; k < f.n_params; k++)
        f.params[k] = 0.3 * randn();
    for (int l = 0; l < f.n_layers; l++) /* the MADE's masks */
        if (f.layers[l]->ops->constrain)
            f.layers[l]->ops->constrain(f.layers[l], f.params + f.layers[l]->p_off);
    real x[ROWS * 4];
    for (int i = 0; i < ROWS * n; i++)
        x[i] = randn();
    char *pinned = pinned_params(&f);
    check_flow_nll_gradients(&f, ROWS, x, pinned);
    check_flow_round_trip(&f, ROWS, x);
    free(pinned);
    free_test_flow(&f);
}

static void test_flow_gradient_normal(void) { check_flow_gradient(NF_BASE_NORMAL); }
static void test_flow_gradient_logistic(void) { check_flow_gradient(NF_BASE_LOGISTIC); }

int main(void)
{
    rng_seed(&gen, 42);
    RUN(test_conditional_layers);
    RUN(test_one_column_layers);
    RUN(test_dropout_layers);
    RUN(test_additive_coupling);
    RUN(test_affine_coupling);
    RUN(test_spline_coupling);
    RUN(test_spline_maf);
    RUN(test_rescale);
    RUN(test_permutation);
    RUN(test_linear_lu);
    RUN(test_autoregressive);
    RUN(test_standardize);
    RUN(test_bounds);
    RUN(test_flow_gradient_bounds);
    RUN(test_actnorm);
    RUN(test_actnorm_init);
    RUN(test_flow_gradient_normal);
    RUN(test_flow_gradient_logistic);
    TEST_SUMMARY("dtest_layers");
}
