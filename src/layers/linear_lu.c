/* Invertible linear layer in the sampling direction x = W z with
 * W = P L (U + diag(s)) (Glow's LU form; docs/layers.md).
 * Parameters: one dim x dim matrix M holding L's strictly lower part, U's
 * strictly upper part and log|s| on the diagonal; P and sign(s) are fixed.
 * log|det dx/dz| = sum log|s_i| = trace(M): O(dim). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kern.h"
#include "layers/layer.h"
#include "core/perm.h"
#include "layers/linear_lu.h"

typedef struct linear_lu {
    int *perm;      /* (P y)_i = y[perm[i]] */
    real *sign;     /* sign of s_i */
    real *w, *winv; /* dim x dim, rebuilt from the parameters on every pass */
    real *a, *da, *dw, *tmp, *uprime;
} linear_lu;

static size_t n_params(const layer *l) { return (size_t)l->dim * l->dim; }

static void init_params(layer *l, real *m, rng *r)
{
    (void)r;
    memset(m, 0, sizeof(real) * n_params(l));
}

static real s_of(const linear_lu *s, const real *m, int n, int i) { return s->sign[i] * r_exp(m[(size_t)i * n + i]); }

/* U' = U + diag(s) from the parameters, zero below the diagonal: the
 * triangular products take it as a matrix of its own. */
static void build_uprime(const layer *l, const real *m)
{
    linear_lu *s = l->self;
    int n = l->dim;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            s->uprime[(size_t)i * n + j] = j < i ? 0 : j == i ? s_of(s, m, n, i) : m[(size_t)i * n + j];
}

/* The sampling direction's matrix: A = L U', W = P A. L is M's strictly
 * lower part with a unit diagonal, which the BLAS reads from M itself. */
static void build_w(const layer *l, const real *m)
{
    linear_lu *s = l->self;
    int n = l->dim;
    build_uprime(l, m);
    memcpy(s->a, s->uprime, sizeof(real) * n * n);
    k_triangular(0, 1, 0, 0, 1, n, n, m, n, s->a, n);
    for (int i = 0; i < n; i++)
        memcpy(s->w + (size_t)i * n, s->a + (size_t)s->perm[i] * n, sizeof(real) * n);
}

/* The density direction's matrix, by triangular solves: Winv = U'^-1 L^-1 P^T. */
static void build_winv(const layer *l, const real *m)
{
    linear_lu *s = l->self;
    int n = l->dim;
    build_uprime(l, m);
    memset(s->winv, 0, sizeof(real) * n * n);
    for (int j = 0; j < n; j++) /* column j of P^T is e_{perm[j]} */
        s->winv[(size_t)s->perm[j] * n + j] = 1;
    k_triangular(1, 1, 0, 0, 1, n, n, m, n, s->winv, n);
    k_triangular(1, 1, 1, 0, 0, n, n, s->uprime, n, s->winv, n);
}

static double trace(const real *m, int n)
{
    double t = 0;
    for (int i = 0; i < n; i++)
        t += m[(size_t)i * n + i];
    return t;
}

/* out = in M^T for the direction's matrix M; ldj += sign * sum log|s|. */
static void apply(const layer *l, const real *m, const real *mat, int sign, int rows, const real *in, real *out,
                  double *ldj)
{
    int n = l->dim;
    k_gemm(0, 1, rows, n, n, 1, in, n, mat, n, 0, out, n);
    double t = trace(m, n);
    for (int r = 0; r < rows; r++)
        ldj[r] += sign * t;
}

static void x2z(layer *l, const real *m, int rows, const real *x, real *z, double *ldj)
{
    build_winv(l, m);
    apply(l, m, ((linear_lu *)l->self)->winv, -1, rows, x, z, ldj);
}

static void z2x(layer *l, const real *m, int rows, const real *z, real *x, double *ldj)
{
    build_w(l, m);
    apply(l, m, ((linear_lu *)l->self)->w, 1, rows, z, x, ldj);
}

/* From dL/dW (in s->dw, overwritten) to dL/dM; diag_extra is added to the
 * diagonal. With dA = P^T dW: dL = dA U'^T below the diagonal, dU' = L^T dA
 * on and above it (U' as the last build left it). */
static void grad_params(const layer *l, const real *m, real diag_extra, real *dm)
{
    linear_lu *s = l->self;
    int n = l->dim;
    for (int i = 0; i < n; i++)
        memcpy(s->da + (size_t)s->perm[i] * n, s->dw + (size_t)i * n, sizeof(real) * n);
    memcpy(s->dw, s->da, sizeof(real) * n * n);
    k_triangular(0, 0, 1, 1, 0, n, n, s->uprime, n, s->dw, n); /* dA U'^T */
    k_triangular(0, 1, 0, 1, 1, n, n, m, n, s->da, n);         /* L^T dA */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            size_t ij = (size_t)i * n + j;
            dm[ij] += i > j ? s->dw[ij] : i < j ? s->da[ij] : s->da[ij] * s_of(s, m, n, i) + diag_extra;
        }
}

static void x2z_backward(layer *l, const real *m, int rows, const real *x, const real *z, const real *dz,
                         real dldj, real *dx, real *dm)
{
    (void)z;
    linear_lu *s = l->self;
    int n = l->dim;
    if (dx)
        k_gemm(0, 0, rows, n, n, 1, dz, n, s->winv, n, 0, dx, n);
    if (!dm)
        return;
    /* dWinv = dZ^T X; dW = -Winv^T dWinv Winv^T */
    k_gemm(1, 0, n, n, rows, 1, dz, n, x, n, 0, s->dw, n);
    k_gemm(1, 0, n, n, n, 1, s->winv, n, s->dw, n, 0, s->tmp, n);
    k_gemm(0, 1, n, n, n, -1, s->tmp, n, s->winv, n, 0, s->dw, n);
    grad_params(l, m, -(real)rows * dldj, dm);
}

static void z2x_backward(layer *l, const real *m, int rows, const real *z, const real *x, const real *dx,
                         real dldj, real *dz, real *dm)
{
    (void)x;
    linear_lu *s = l->self;
    int n = l->dim;
    if (dz)
        k_gemm(0, 0, rows, n, n, 1, dx, n, s->w, n, 0, dz, n);
    if (!dm)
        return;
    k_gemm(1, 0, n, n, rows, 1, dx, n, z, n, 0, s->dw, n); /* dW = dX^T Z */
    grad_params(l, m, (real)rows * dldj, dm);
}

static nf_status save(const layer *l, mf_writer *w)
{
    const linear_lu *s = l->self;
    int n = l->dim;
    int32_t *v = malloc(sizeof(int32_t) * n * 2);
    if (!v)
        return nf_fail(NF_ERR_NOMEM, "out of memory saving a linear layer");
    for (int i = 0; i < n; i++) {
        v[i] = s->perm[i];
        v[n + i] = s->sign[i] < 0 ? -1 : 1;
    }
    nf_status st = mf_begin(w, l->ops->tag);
    if (!st) st = mf_put_i32s(w, "perm", v, n);
    if (!st) st = mf_put_i32s(w, "sign", v + n, n);
    free(v);
    return st;
}

static size_t describe(const layer *l, char *buf, size_t size)
{
    return (size_t)snprintf(buf, size, "linear_lu W = P L (U + diag(s)), %d x %d", l->dim, l->dim);
}

static void destroy(layer *l)
{
    linear_lu *s = l->self;
    free(s->perm);
    free(s->sign);
    free(s->w);
}

/* dim x dim: the LU factors and the diagonal's log-scales */
static double file_params(const mf_file *f, const mf_section *s, int dim)
{
    (void)f;
    (void)s;
    return (double)dim * dim;
}

const layer_ops linear_lu_ops = {
    .load = linear_lu_load,
    .file_params = file_params,
    .tag = "linear_lu",
    .n_params = n_params,
    .init_params = init_params,
    .reserve = layer_no_reserve,
    .x2z = x2z,
    .x2z_backward = x2z_backward,
    .z2x = z2x,
    .z2x_backward = z2x_backward,
    .save = save,
    .describe = describe,
    .destroy = destroy,
};

layer *linear_lu_new(int dim, const int *perm, const real *signs)
{
    if (!perm_is_valid(perm, dim)) {
        nf_fail(NF_ERR_INVALID, "linear layer: not a permutation of 0..%d", dim - 1);
        return NULL;
    }
    layer *l = layer_alloc(&linear_lu_ops, dim, sizeof(linear_lu));
    if (!l)
        return NULL;
    linear_lu *s = l->self;
    size_t nn = (size_t)dim * dim;
    s->perm = malloc(sizeof(int) * dim);
    s->sign = malloc(sizeof(real) * dim);
    s->w = malloc(sizeof(real) * (7 * nn + dim));
    if (!s->perm || !s->sign || !s->w) {
        layer_free(l);
        nf_fail(NF_ERR_NOMEM, "out of memory creating a linear layer");
        return NULL;
    }
    s->winv = s->w + nn;
    s->a = s->winv + nn;
    s->da = s->a + nn;
    s->dw = s->da + nn;
    s->uprime = s->dw + nn;
    s->tmp = s->uprime + nn; /* nn + dim: a matrix or a column */
    for (int i = 0; i < dim; i++) {
        s->perm[i] = perm[i];
        s->sign[i] = signs && signs[i] < 0 ? -1 : 1;
    }
    return l;
}

nf_status linear_lu_load(const mf_file *f, const mf_section *sec, int dim, layer **out)
{
    const int32_t *p, *sg;
    nf_status st = mf_get_i32s(f, sec, "perm", (size_t)dim, &p, NULL);
    if (!st) st = mf_get_i32s(f, sec, "sign", (size_t)dim, &sg, NULL);
    if (st)
        return st;
    int *perm = malloc(sizeof(int) * dim);
    real *sign = malloc(sizeof(real) * dim);
    if (!perm || !sign) {
        free(perm);
        free(sign);
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < dim; i++) {
        perm[i] = p[i];
        sign[i] = sg[i] < 0 ? -1 : 1;
    }
    *out = linear_lu_new(dim, perm, sign);
    free(perm);
    free(sign);
    if (!*out)
        return nf_fail(NF_ERR_FORMAT, "%s: section 'linear_lu': not a permutation of 0..%d", mf_path(f), dim - 1);
    return NF_OK;
}
