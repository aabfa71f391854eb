/* Shared checks of the double-precision tests (tests/dtest_*.c): brute-force
 * log-determinants, and a whole flow's NLL gradient against central
 * differences. Include after harness.h and flow.h. */
#ifndef NF_TEST_DCHECK_H
#define NF_TEST_DCHECK_H

#include <stdlib.h>
#include <string.h>

#include "core/kern.h"
#include "harness.h"

typedef void (*pass_fn)(layer *, const real *, int, const real *, real *, double *);

static inline pass_fn pass_of(layer *l, int dir) { return dir == 0 ? l->ops->x2z : l->ops->z2x; }

/* log|det| of an n x n matrix by Gaussian elimination with pivoting. */
static inline double log_abs_det(double *a, int n)
{
    double s = 0;
    for (int c = 0; c < n; c++) {
        int piv = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[piv * n + c]))
                piv = r;
        for (int k = 0; k < n; k++) {
            double t = a[c * n + k];
            a[c * n + k] = a[piv * n + k];
            a[piv * n + k] = t;
        }
        s += log(fabs(a[c * n + c]));
        for (int r = c + 1; r < n; r++) {
            double f = a[r * n + c] / a[c * n + c];
            for (int k = c; k < n; k++)
                a[r * n + k] -= f * a[c * n + k];
        }
    }
    return s;
}

/* x -> z -> x for rows rows of x (rows x dim): the identity, and opposite
 * log-determinants. */
static inline void check_layer_inverse(layer *l, const real *p, int rows, const real *x)
{
    size_t n = (size_t)rows * l->dim;
    real *z = malloc(sizeof(real) * n), *back = malloc(sizeof(real) * n);
    double *ldj_a = calloc((size_t)rows, sizeof(double)), *ldj_b = calloc((size_t)rows, sizeof(double));
    l->ops->x2z(l, p, rows, x, z, ldj_a);
    l->ops->z2x(l, p, rows, z, back, ldj_b);
    for (size_t i = 0; i < n; i++)
        CHECK_CLOSE(back[i], x[i], 1e-10, 1e-10);
    for (int r = 0; r < rows; r++)
        CHECK_CLOSE(ldj_a[r], -ldj_b[r], 1e-10, 1e-10);
    free(z);
    free(back);
    free(ldj_a);
    free(ldj_b);
}

/* The log-determinant of one row equals log|det| of the finite-difference
 * Jacobian (in: dim values, restored on return). */
static inline void check_layer_logdet(layer *l, const real *p, int dir, real *in)
{
    int n = l->dim;
    pass_fn pass = pass_of(l, dir);
    real *out = malloc(sizeof(real) * n), *plus = malloc(sizeof(real) * n), *minus = malloc(sizeof(real) * n);
    double ldj = 0, dummy = 0, *jac = malloc(sizeof(double) * n * n);
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
    free(out);
    free(plus);
    free(minus);
    free(jac);
}

/* loss = sum c .* out + w * sum ldj of one pass */
static inline double layer_loss(layer *l, const real *p, int dir, int rows, const real *in, const real *c, double w)
{
    size_t n = (size_t)rows * l->dim;
    real *out = malloc(sizeof(real) * n);
    double *ldj = calloc((size_t)rows, sizeof(double)), s = 0;
    pass_of(l, dir)(l, p, rows, in, out, ldj);
    for (size_t i = 0; i < n; i++)
        s += c[i] * out[i];
    for (int r = 0; r < rows; r++)
        s += w * ldj[r];
    free(out);
    free(ldj);
    return s;
}

/* Each of n values v[i] (the input, the parameters or the context of the
 * pass) nudged by +-h: grad[i] against the central difference of
 * layer_loss, or exactly 0 where pinned[i] (NULL: none); v restored.
 * Returns the largest |grad[i]|. */
static inline double check_central(layer *l, const real *p, int dir, int rows, const real *in, const real *c,
                                   double w, real *v, const real *grad, size_t n, const char *pinned)
{
    const double h = 1e-6;
    double gmax = 0;
    for (size_t i = 0; i < n; i++) {
        if (pinned && pinned[i]) {
            CHECK(grad[i] == 0, "gradient %g on pinned value %zu", (double)grad[i], i);
            continue;
        }
        real keep = v[i];
        v[i] = keep + h;
        double a = layer_loss(l, p, dir, rows, in, c, w);
        v[i] = keep - h;
        double b = layer_loss(l, p, dir, rows, in, c, w);
        v[i] = keep;
        CHECK_CLOSE(grad[i], (a - b) / (2 * h), 1e-6, 1e-5);
        gmax = fmax(gmax, fabs(grad[i]));
    }
    return gmax;
}

/* The backward of direction dir against central differences of layer_loss
 * for every input and parameter (pinned ones, which constraints hold at 0,
 * must get exactly 0); gradients add into dp; NULL outputs are allowed.
 * in: rows x dim (restored on return). */
static inline void check_layer_gradients(layer *l, real *p, int dir, int rows, real *in, const real *c, double w,
                                         const char *pinned)
{
    size_t n = (size_t)rows * l->dim, np = l->ops->n_params(l);
    real *out = malloc(sizeof(real) * n), *din = malloc(sizeof(real) * n);
    real *dp = calloc(np + 1, sizeof(real)), *dp2 = calloc(np + 1, sizeof(real));
    double *ldj = calloc((size_t)rows, sizeof(double));
    void (*backward)(layer *, const real *, int, const real *, const real *, const real *, real, real *, real *) =
        dir == 0 ? l->ops->x2z_backward : l->ops->z2x_backward;
    pass_of(l, dir)(l, p, rows, in, out, ldj);
    backward(l, p, rows, in, out, c, (real)w, din, dp);
    check_central(l, p, dir, rows, in, c, w, in, din, n, NULL);
    double gmax = check_central(l, p, dir, rows, in, c, w, p, dp, np, pinned);
    if (np)
        CHECK(gmax > 1e-3, "parameter gradient trivially zero (max %g)", gmax);
    /* gradients accumulate into dp, and NULL outputs are allowed */
    memcpy(dp2, dp, sizeof(real) * np);
    pass_of(l, dir)(l, p, rows, in, out, ldj);
    backward(l, p, rows, in, out, c, (real)w, NULL, dp2);
    backward(l, p, rows, in, out, c, (real)w, NULL, NULL);
    for (size_t k = 0; k < np; k++)
        CHECK_CLOSE(dp2[k], 2 * dp[k], 1e-12, 1e-12);
    free(out);
    free(din);
    free(dp);
    free(dp2);
    free(ldj);
}

/* A conditional layer's context gradient (added into l->dcontext by either
 * backward pass) against central differences of layer_loss, and a
 * different context giving a different output; ctx: rows x context_dim,
 * the layer's l->context (restored on return). */
static inline void check_layer_context_gradient(layer *l, real *p, int dir, int rows, real *x, const real *c, double w,
                                                real *ctx)
{
    int nc = l->context_dim;
    size_t n = (size_t)rows * l->dim;
    real *out = malloc(sizeof(real) * n), *out2 = malloc(sizeof(real) * n);
    real *dctx = calloc((size_t)rows * nc, sizeof(real));
    double *ldj = calloc((size_t)rows, sizeof(double));
    l->dcontext = dctx;
    pass_of(l, dir)(l, p, rows, x, out, ldj);
    (dir == 0 ? l->ops->x2z_backward : l->ops->z2x_backward)(l, p, rows, x, out, c, (real)w, NULL, NULL);
    l->dcontext = NULL;
    double gmax = check_central(l, p, dir, rows, x, c, w, ctx, dctx, (size_t)rows * nc, NULL);
    CHECK(gmax > 1e-3, "context gradient trivially zero (max %g)", gmax);
    for (int i = 0; i < rows * nc; i++)
        ctx[i] += 1;
    pass_of(l, dir)(l, p, rows, x, out2, ldj);
    for (int i = 0; i < rows * nc; i++)
        ctx[i] -= 1;
    CHECK(memcmp(out, out2, sizeof(real) * n) != 0, "the context changes nothing");
    free(out);
    free(out2);
    free(dctx);
    free(ldj);
}

/* Mean NLL of rows (<= f->work.max_rows) through the flow's density pass. */
static inline double flow_mean_nll(nf_flow *f, int rows, const real *x)
{
    double s = 0;
    flow_x2z(f, rows, x, f->work.logp);
    for (int r = 0; r < rows; r++)
        s -= f->work.logp[r];
    return s / rows;
}

/* flow_nll_backward against central differences of flow_mean_nll, for
 * every input and every parameter; pinned (may be NULL) marks parameters
 * a constraint holds at zero: their gradient must be exactly 0. Returns
 * the largest parameter gradient. */
static inline double check_flow_nll_gradients(nf_flow *f, int rows, real *x, const char *pinned)
{
    int n = f->dim;
    real *dx = malloc(sizeof(real) * rows * n);
    flow_x2z(f, rows, x, f->work.logp);
    memset(f->opt.grads, 0, sizeof(real) * f->n_params);
    flow_nll_backward(f, rows, x, f->opt.grads, dx);
    const double h = 1e-6;
    for (int i = 0; i < rows * n; i++) {
        real keep = x[i];
        x[i] = keep + h;
        double a = flow_mean_nll(f, rows, x);
        x[i] = keep - h;
        double b = flow_mean_nll(f, rows, x);
        x[i] = keep;
        CHECK_CLOSE(dx[i], (a - b) / (2 * h), 1e-6, 1e-5);
    }
    double gmax = 0;
    for (size_t k = 0; k < f->n_params; k++) {
        if (pinned && pinned[k]) {
            CHECK(f->opt.grads[k] == 0, "gradient on pinned parameter %zu", k);
            continue;
        }
        real keep = f->params[k];
        f->params[k] = keep + h;
        double a = flow_mean_nll(f, rows, x);
        f->params[k] = keep - h;
        double b = flow_mean_nll(f, rows, x);
        f->params[k] = keep;
        CHECK_CLOSE(f->opt.grads[k], (a - b) / (2 * h), 1e-6, 1e-5);
        gmax = fmax(gmax, fabs(f->opt.grads[k]));
    }
    free(dx);
    return gmax;
}

/* pinned[k] = 1 for the parameters the layers' constraints hold at zero
 * (MADE masks); malloc'ed. */
static inline char *pinned_params(nf_flow *f)
{
    real *probe = malloc(sizeof(real) * (f->n_params + 1));
    char *pinned = malloc(f->n_params + 1);
    for (size_t k = 0; k < f->n_params; k++)
        probe[k] = 1;
    for (int l = 0; l < f->n_layers; l++)
        if (f->layers[l]->ops->constrain)
            f->layers[l]->ops->constrain(f->layers[l], probe + f->layers[l]->p_off);
    if (f->mog && !f->mog->independent)
        made_constrain(&f->mog->net, probe + f->mog->p_off);
    for (size_t k = 0; k < f->n_params; k++)
        pinned[k] = probe[k] == 0;
    free(probe);
    return pinned;
}

/* z2x(x2z(x)) == x through the whole flow. */
static inline void check_flow_round_trip(nf_flow *f, int rows, const real *x)
{
    size_t n = (size_t)rows * f->dim;
    real *z = malloc(sizeof(real) * n), *back = malloc(sizeof(real) * n);
    double *ldj = malloc(sizeof(double) * rows);
    flow_x2z(f, rows, x, f->work.logp);
    memcpy(z, f->work.act[f->n_layers - 1], sizeof(real) * n);
    flow_z2x(f, rows, z, back, ldj);
    for (size_t i = 0; i < n; i++)
        CHECK_CLOSE(back[i], x[i], 1e-10, 1e-10);
    free(z);
    free(back);
    free(ldj);
}

/* Frees a flow assembled in a test (struct on the stack, no public API). */
static inline void free_test_flow(nf_flow *f)
{
    flow_free_buffers(f);
    for (int l = 0; l < f->n_layers; l++)
        layer_free(f->layers[l]);
    mog_free(f->mog);
    free(f->layers);
    k_free(f->params);
    flow_live_free(&f->opt.live);
    free(f->state);
}

#endif
