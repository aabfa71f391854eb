/* Invertible linear layer in the sampling direction x = W z with
 * W = P L (U + diag(s)) (Glow's LU form; docs/layers.md).
 * Parameters: one n x n matrix M holding L's strictly lower part, U's
 * strictly upper part and log|s| on the diagonal; P and sign(s) are fixed.
 * log|det dx/dz| = sum log|s_i| = trace(M): O(n).
 * On the whole row (n = dim), or as Glow's invertible 1x1 convolution: W
 * on each of the first `pixels` blocks of n values (an image's pixels,
 * channels innermost), log|det| = pixels trace(M), the rest of the row
 * (a multi-scale flow's factored-out part) unchanged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kern.h"
#include "layers/layer.h"
#include "core/perm.h"
#include "layers/linear_lu.h"

typedef struct linear_lu {
    int n, pixels;  /* W is n x n, applied to `pixels` blocks of n values */
    int *perm;      /* (P y)_i = y[perm[i]] */
    real *sign;     /* sign of s_i */
    real *w, *winv; /* dim x dim, rebuilt from the parameters on every pass */
    real *a, *da, *dw, *tmp, *uprime;
} linear_lu;

static size_t n_params(const layer *l)
{
    const linear_lu *s = l->self;
    return (size_t)s->n * s->n;
}

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
    int n = s->n;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            s->uprime[(size_t)i * n + j] = j < i ? 0 : j == i ? s_of(s, m, n, i) : m[(size_t)i * n + j];
}

/* The sampling direction's matrix: A = L U', W = P A. L is M's strictly
 * lower part with a unit diagonal, which the BLAS reads from M itself. */
static void build_w(const layer *l, const real *m)
{
    linear_lu *s = l->self;
    int n = s->n;
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
    int n = s->n;
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

/* out = in mat^T on every block; ldj += sign * pixels * sum log|s|. */
static void apply(const layer *l, const real *m, const real *mat, int sign, int rows, const real *in, real *out,
                  double *ldj)
{
    const linear_lu *s = l->self;
    int n = s->n, dim = l->dim, active = n * s->pixels;
    if (active == dim) {
        k_gemm(0, 1, rows * s->pixels, n, n, 1, in, n, mat, n, 0, out, n);
    } else {
        for (int r = 0; r < rows; r++) {
            k_gemm(0, 1, s->pixels, n, n, 1, in + (size_t)r * dim, n, mat, n, 0, out + (size_t)r * dim, n);
            memcpy(out + (size_t)r * dim + active, in + (size_t)r * dim + active, sizeof(real) * (dim - active));
        }
    }
    double t = s->pixels * trace(m, n);
    for (int r = 0; r < rows; r++)
        ldj[r] += sign * t;
}

/* out = d mat on every block (the input gradient), the tail passed through. */
static void apply_grad(const layer *l, const real *mat, int rows, const real *d, real *out)
{
    const linear_lu *s = l->self;
    int n = s->n, dim = l->dim, active = n * s->pixels;
    if (active == dim) {
        k_gemm(0, 0, rows * s->pixels, n, n, 1, d, n, mat, n, 0, out, n);
        return;
    }
    for (int r = 0; r < rows; r++) {
        k_gemm(0, 0, s->pixels, n, n, 1, d + (size_t)r * dim, n, mat, n, 0, out + (size_t)r * dim, n);
        memcpy(out + (size_t)r * dim + active, d + (size_t)r * dim + active, sizeof(real) * (dim - active));
    }
}

/* s->dw = the sum over every block of a^T b (n x n). */
static void block_outer(const layer *l, int rows, const real *a, const real *b)
{
    linear_lu *s = l->self;
    int n = s->n, dim = l->dim;
    if (n * s->pixels == dim) {
        k_gemm(1, 0, n, n, rows * s->pixels, 1, a, n, b, n, 0, s->dw, n);
        return;
    }
    for (int r = 0; r < rows; r++)
        k_gemm(1, 0, n, n, s->pixels, 1, a + (size_t)r * dim, n, b + (size_t)r * dim, n, r ? 1 : 0, s->dw, n);
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
    int n = s->n;
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
    int n = s->n;
    if (dx)
        apply_grad(l, s->winv, rows, dz, dx);
    if (!dm)
        return;
    /* dWinv = dZ^T X; dW = -Winv^T dWinv Winv^T */
    block_outer(l, rows, dz, x);
    k_gemm(1, 0, n, n, n, 1, s->winv, n, s->dw, n, 0, s->tmp, n);
    k_gemm(0, 1, n, n, n, -1, s->tmp, n, s->winv, n, 0, s->dw, n);
    grad_params(l, m, -(real)rows * s->pixels * dldj, dm);
}

static void z2x_backward(layer *l, const real *m, int rows, const real *z, const real *x, const real *dx,
                         real dldj, real *dz, real *dm)
{
    (void)x;
    linear_lu *s = l->self;
    if (dz)
        apply_grad(l, s->w, rows, dx, dz);
    if (!dm)
        return;
    block_outer(l, rows, dx, z); /* dW = dX^T Z */
    grad_params(l, m, (real)rows * s->pixels * dldj, dm);
}

static nf_status save(const layer *l, mf_writer *w)
{
    const linear_lu *s = l->self;
    int n = s->n;
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
    /* absent: one block of dim values; a 1 x 1 image's channels after a split are fewer */
    int blocks = s->pixels > 1 || s->n != l->dim;
    if (!st && blocks) st = mf_put_i64(w, "pixels", s->pixels);
    if (!st && blocks) st = mf_put_i64(w, "block", s->n);
    free(v);
    return st;
}

static size_t describe(const layer *l, char *buf, size_t size)
{
    const linear_lu *s = l->self;
    if (s->pixels > 1)
        return (size_t)snprintf(buf, size, "linear_lu W = P L (U + diag(s)), %d x %d on each of %d pixels (1x1 convolution)",
                                s->n, s->n, s->pixels);
    return (size_t)snprintf(buf, size, "linear_lu W = P L (U + diag(s)), %d x %d", s->n, s->n);
}

static void destroy(layer *l)
{
    linear_lu *s = l->self;
    free(s->perm);
    free(s->sign);
    free(s->w);
}

/* The block size: dim, or the section's `block` (a 1x1 convolution's channels). */
static nf_status block_of(const mf_file *f, const mf_section *s, int dim, int64_t *pixels, int64_t *n)
{
    *pixels = 1;
    *n = dim;
    nf_status st = mf_has(s, "pixels") ? mf_get_i64(f, s, "pixels", pixels) : NF_OK;
    if (!st && mf_has(s, "block"))
        st = mf_get_i64(f, s, "block", n);
    if (!st && (*pixels < 1 || *n < 1 || (double)*pixels * (double)*n > dim))
        st = nf_fail(NF_ERR_FORMAT, "%s: section 'linear_lu': %lld blocks of %lld values do not fit in %d", mf_path(f),
                     (long long)*pixels, (long long)*n, dim);
    return st;
}

/* n x n: the LU factors and the diagonal's log-scales */
static double file_params(const mf_file *f, const mf_section *s, int dim)
{
    int64_t pixels, n;
    if (block_of(f, s, dim, &pixels, &n))
        return -1;
    return (double)n * (double)n;
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

layer *linear_lu_new(int dim, const int *perm, const real *signs) { return linear_lu_new_blocks(dim, 1, dim, perm, signs); }

layer *linear_lu_new_blocks(int dim, int pixels, int n, const int *perm, const real *signs)
{
    if (pixels < 1 || n < 1 || (double)pixels * n > dim) {
        nf_fail(NF_ERR_INVALID, "linear layer: %d blocks of %d values do not fit in %d", pixels, n, dim);
        return NULL;
    }
    if (!perm_is_valid(perm, n)) {
        nf_fail(NF_ERR_INVALID, "linear layer: not a permutation of 0..%d", n - 1);
        return NULL;
    }
    layer *l = layer_alloc(&linear_lu_ops, dim, sizeof(linear_lu));
    if (!l)
        return NULL;
    linear_lu *s = l->self;
    s->n = n;
    s->pixels = pixels;
    size_t nn = (size_t)n * n;
    s->perm = malloc(sizeof(int) * n);
    s->sign = malloc(sizeof(real) * n);
    s->w = malloc(sizeof(real) * (7 * nn + n));
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
    s->tmp = s->uprime + nn; /* nn + n: a matrix or a column */
    for (int i = 0; i < n; i++) {
        s->perm[i] = perm[i];
        s->sign[i] = signs && signs[i] < 0 ? -1 : 1;
    }
    return l;
}

nf_status linear_lu_load(const mf_file *f, const mf_section *sec, int dim, layer **out)
{
    const int32_t *p, *sg;
    int64_t pixels, block;
    nf_status st = block_of(f, sec, dim, &pixels, &block);
    int n = (int)block;
    if (!st) st = mf_get_i32s(f, sec, "perm", (size_t)n, &p, NULL);
    if (!st) st = mf_get_i32s(f, sec, "sign", (size_t)n, &sg, NULL);
    if (st)
        return st;
    int *perm = malloc(sizeof(int) * n);
    real *sign = malloc(sizeof(real) * n);
    if (!perm || !sign) {
        free(perm);
        free(sign);
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        perm[i] = p[i];
        sign[i] = sg[i] < 0 ? -1 : 1;
    }
    *out = linear_lu_new_blocks(dim, (int)pixels, n, perm, sign);
    free(perm);
    free(sign);
    if (!*out)
        return nf_fail(NF_ERR_FORMAT, "%s: section 'linear_lu': not a permutation of 0..%d", mf_path(f), n - 1);
    return NF_OK;
}
