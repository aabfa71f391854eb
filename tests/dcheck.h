/* Shared checks of the double-precision tests (tests/dtest_*.c): brute-force
 * log-determinants, and a whole flow's NLL gradient against central
 * differences. Include after harness.h and flow.h. */
#ifndef NF_TEST_DCHECK_H
#define NF_TEST_DCHECK_H

#include <stdlib.h>
#include <string.h>

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

/* Mean NLL of rows (<= f->max_rows) through the flow's density pass. */
static inline double flow_mean_nll(nf_flow *f, int rows, const real *x)
{
    double s = 0;
    flow_x2z(f, rows, x, f->logp);
    for (int r = 0; r < rows; r++)
        s -= f->logp[r];
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
    flow_x2z(f, rows, x, f->logp);
    memset(f->grads, 0, sizeof(real) * f->n_params);
    flow_nll_backward(f, rows, x, f->grads, dx);
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
            CHECK(f->grads[k] == 0, "gradient on pinned parameter %zu", k);
            continue;
        }
        real keep = f->params[k];
        f->params[k] = keep + h;
        double a = flow_mean_nll(f, rows, x);
        f->params[k] = keep - h;
        double b = flow_mean_nll(f, rows, x);
        f->params[k] = keep;
        CHECK_CLOSE(f->grads[k], (a - b) / (2 * h), 1e-6, 1e-5);
        gmax = fmax(gmax, fabs(f->grads[k]));
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
    if (f->mog)
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
    flow_x2z(f, rows, x, f->logp);
    memcpy(z, f->act[f->n_layers - 1], sizeof(real) * n);
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
    free(f->params);
    free(f->state);
}

#endif
