/* Every layer, in double precision: inverse(forward) is the identity, the
 * log-determinant equals log|det| of the finite-difference Jacobian, and
 * the analytic gradients (parameters and inputs, both directions) equal
 * central differences. Also the whole flow's NLL gradient. */
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "harness.h"
#include "kern.h"
#include "layer.h"
#include "dcheck.h"

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

/* free[k] = 0 for the entries a layer's constraint pins (MADE masks). */
static char *free_params(layer *l)
{
    size_t n = l->ops->n_params(l);
    real *probe = malloc(sizeof(real) * (n ? n : 1));
    char *ok = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        probe[i] = 1;
    if (l->ops->constrain)
        l->ops->constrain(l, probe);
    for (size_t i = 0; i < n; i++)
        ok[i] = probe[i] != 0;
    free(probe);
    return ok;
}

static void check_inverse(layer *l, const real *p, const char *what)
{
    int n = l->dim;
    real x[ROWS * MAXD] = {0}, z[ROWS * MAXD], back[ROWS * MAXD];
    double ldj_a[ROWS] = {0}, ldj_b[ROWS] = {0};
    for (int i = 0; i < ROWS * n; i++)
        x[i] = randn();
    l->ops->x2z(l, p, ROWS, x, z, ldj_a);
    l->ops->z2x(l, p, ROWS, z, back, ldj_b);
    for (int i = 0; i < ROWS * n; i++)
        CHECK_CLOSE(back[i], x[i], 1e-10, 1e-10);
    for (int r = 0; r < ROWS; r++)
        CHECK_CLOSE(ldj_a[r], -ldj_b[r], 1e-10, 1e-10);
    (void)what;
}

static void check_logdet(layer *l, const real *p, int dir)
{
    int n = l->dim;
    pass_fn pass = pass_of(l, dir);
    real in[MAXD] = {0}, out[MAXD], plus[MAXD], minus[MAXD];
    double ldj = 0, dummy = 0, jac[MAXD * MAXD];
    for (int i = 0; i < n; i++)
        in[i] = randn();
    pass(l, p, 1, in, out, &ldj);
    const double h = 1e-6;
    for (int j = 0; j < n; j++) {
        real keep = in[j];
        in[j] = keep + h;
        pass(l, p, 1, in, plus, &dummy);
        in[j] = keep - h;
        pass(l, p, 1, in, minus, &dummy);
        in[j] = keep;
        for (int i = 0; i < n; i++)
            jac[i * n + j] = (plus[i] - minus[i]) / (2 * h);
    }
    CHECK_CLOSE(ldj, log_abs_det(jac, n), 1e-6, 1e-6);
}

/* loss = sum c .* out + w * sum ldj */
static double loss_of(layer *l, const real *p, int dir, const real *in, const real *c, double w)
{
    int n = l->dim;
    real out[ROWS * MAXD];
    double ldj[ROWS] = {0}, s = 0;
    pass_of(l, dir)(l, p, ROWS, in, out, ldj);
    for (int i = 0; i < ROWS * n; i++)
        s += c[i] * out[i];
    for (int r = 0; r < ROWS; r++)
        s += w * ldj[r];
    return s;
}

static void check_gradients(layer *l, real *p, int dir)
{
    int n = l->dim;
    size_t np = l->ops->n_params(l);
    real in[ROWS * MAXD] = {0}, out[ROWS * MAXD], c[ROWS * MAXD] = {0}, din[ROWS * MAXD];
    double ldj[ROWS] = {0};
    for (int i = 0; i < ROWS * n; i++) {
        in[i] = randn();
        c[i] = randn();
    }
    double w = randn();
    real *dp = calloc(np ? np : 1, sizeof(real));
    pass_of(l, dir)(l, p, ROWS, in, out, ldj);
    if (dir == 0)
        l->ops->x2z_backward(l, p, ROWS, in, out, c, w, din, dp);
    else
        l->ops->z2x_backward(l, p, ROWS, in, out, c, w, din, dp);
    const double h = 1e-6;
    double gmax = 0;
    for (int i = 0; i < ROWS * n; i++) {
        real keep = in[i];
        in[i] = keep + h;
        double a = loss_of(l, p, dir, in, c, w);
        in[i] = keep - h;
        double b = loss_of(l, p, dir, in, c, w);
        in[i] = keep;
        CHECK_CLOSE(din[i], (a - b) / (2 * h), 1e-6, 1e-5);
    }
    char *is_free = free_params(l);
    for (size_t k = 0; k < np; k++) {
        if (!is_free[k]) { /* pinned by a constraint: no gradient may leak into it */
            CHECK(dp[k] == 0, "gradient %g on pinned parameter %zu", (double)dp[k], k);
            continue;
        }
        real keep = p[k];
        p[k] = keep + h;
        double a = loss_of(l, p, dir, in, c, w);
        p[k] = keep - h;
        double b = loss_of(l, p, dir, in, c, w);
        p[k] = keep;
        CHECK_CLOSE(dp[k], (a - b) / (2 * h), 1e-6, 1e-5);
        gmax = fmax(gmax, fabs(dp[k]));
    }
    free(is_free);
    if (np)
        CHECK(gmax > 1e-3, "parameter gradient trivially zero (max %g)", gmax);
    /* NULL gradients are allowed and change nothing */
    pass_of(l, dir)(l, p, ROWS, in, out, ldj);
    if (dir == 0)
        l->ops->x2z_backward(l, p, ROWS, in, out, c, w, NULL, NULL);
    else
        l->ops->z2x_backward(l, p, ROWS, in, out, c, w, NULL, NULL);
    free(dp);
}

static void check_layer(layer *l)
{
    CHECK(l != NULL);
    if (!l)
        return;
    real *p = make_params(l);
    check_inverse(l, p, l->ops->tag);
    for (int dir = 0; dir < 2; dir++) {
        check_logdet(l, p, dir);
        check_gradients(l, p, dir);
    }
    free(p);
    layer_free(l);
}

static void test_additive_coupling(void)
{
    int halves[5] = {1, 1, 0, 0, 0}, odd[4] = {0, 1, 0, 1}, user[6] = {1, 0, 0, 1, 1, 0};
    check_layer(coupling_new(5, 0, halves, 7, 2, K_ACT_TANH, 0));
    check_layer(coupling_new(4, 0, odd, 6, 1, K_ACT_RELU, 0));
    check_layer(coupling_new(6, 0, user, 5, 3, K_ACT_TANH, 0));
    check_layer(coupling_new(2, 0, (int[]){0, 1}, 4, 0, K_ACT_TANH, 0));
}

static void test_affine_coupling(void)
{
    int halves[5] = {1, 1, 0, 0, 0}, odd[4] = {0, 1, 0, 1}, user[7] = {1, 0, 0, 1, 1, 0, 1};
    check_layer(coupling_new(5, 1, halves, 7, 2, K_ACT_TANH, 3.0));
    check_layer(coupling_new(4, 1, odd, 6, 1, K_ACT_RELU, 2.0));
    check_layer(coupling_new(7, 1, user, 5, 2, K_ACT_TANH, 0));
    check_layer(coupling_new(2, 1, (int[]){1, 0}, 8, 2, K_ACT_TANH, 3.0));
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
        check_layer(autoregressive_new(1, iaf, 4, 1, K_ACT_TANH, (int[]){0}, NULL, 0, 1, 3.0));
        check_layer(autoregressive_new(2, iaf, 5, 1, K_ACT_TANH, (int[]){1, 0}, NULL, 0, 1, 3.0));
        check_layer(autoregressive_new(4, iaf, 7, 2, K_ACT_TANH, (int[]){0, 1, 2, 3}, NULL, 0, 2, 3.0));
        check_layer(autoregressive_new(5, iaf, 6, 2, K_ACT_RELU, (int[]){3, 0, 4, 1, 2}, NULL, 1, 3, 2.0));
        check_layer(autoregressive_new(6, iaf, 9, 3, K_ACT_TANH, (int[]){5, 4, 3, 2, 1, 0}, NULL, 1, 4, 0));
        check_layer(autoregressive_new(3, iaf, 0, 0, K_ACT_TANH, (int[]){2, 0, 1}, NULL, 0, 5, 3.0));
    }
}

static void test_standardize(void)
{
    check_layer(standardize_new(4, (double[]){1, -2, 0.5, 3}, (double[]){2, 0.5, 1, 7}));
}

/* The whole flow: NLL gradient with respect to parameters and inputs. */
static void check_flow_gradient(nf_base base)
{
    const int n = 4;
    nf_flow f = {0};
    f.dim = n;
    f.base.kind = base;
    CHECK(flow_add(&f, standardize_new(n, (double[]){0.5, -1, 0, 2}, (double[]){1.5, 0.7, 1, 2})) == NF_OK);
    CHECK(flow_add(&f, coupling_new(n, 1, (int[]){1, 0, 1, 0}, 6, 2, K_ACT_TANH, 3)) == NF_OK);
    CHECK(flow_add(&f, linear_lu_new(n, (int[]){2, 0, 3, 1}, NULL)) == NF_OK);
    CHECK(flow_add(&f, coupling_new(n, 0, (int[]){0, 1, 0, 1}, 5, 1, K_ACT_TANH, 0)) == NF_OK);
    CHECK(flow_add(&f, rescale_new(n)) == NF_OK);
    CHECK(flow_allocate_params(&f) == NF_OK);
    CHECK(flow_reserve(&f, ROWS) == NF_OK);
    for (size_t k = 0; k < f.n_params; k++)
        f.params[k] = 0.3 * randn();
    real x[ROWS * 4];
    for (int i = 0; i < ROWS * n; i++)
        x[i] = randn();
    check_flow_nll_gradients(&f, ROWS, x, NULL);
    check_flow_round_trip(&f, ROWS, x);
    free_test_flow(&f);
}

static void test_flow_gradient_normal(void) { check_flow_gradient(NF_BASE_NORMAL); }
static void test_flow_gradient_logistic(void) { check_flow_gradient(NF_BASE_LOGISTIC); }

int main(void)
{
    rng_seed(&gen, 42);
    RUN(test_additive_coupling);
    RUN(test_affine_coupling);
    RUN(test_rescale);
    RUN(test_permutation);
    RUN(test_linear_lu);
    RUN(test_autoregressive);
    RUN(test_standardize);
    RUN(test_flow_gradient_normal);
    RUN(test_flow_gradient_logistic);
    TEST_SUMMARY("dtest_layers");
}
