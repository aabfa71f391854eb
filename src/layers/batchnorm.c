/* Batch normalisation as a flow layer (MAF, Papamakarios et al. 2017):
 *   z = (x - m) / sqrt(v + eps) * exp(g) + b,  log|det dz/dx| = sum g - 0.5 log(v + eps)
 * In training the statistics m, v are those of the batch (biased variance),
 * which keeps the deep stacks well conditioned; the loss then depends on
 * every row through m and v, so the backward goes through them. Otherwise,
 * and always when sampling, m, v are running averages (the layer's state,
 * kept by the flow so that saving and snapshots carry them), making the
 * layer a fixed per-dimension affine map. Parameters: g (dim), b (dim). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kern.h"
#include "layers/layer.h"
#include "layers/batchnorm.h"

typedef struct batchnorm {
    double momentum, eps;
    double *mean, *var; /* the statistics the last x2z used */
    double *tmp;        /* per-dimension scratch, 4 x dim */
    real *own_state;    /* l->state until a flow hands the layer its slot */
    int batch;          /* whether the last x2z used batch statistics */
} batchnorm;

static size_t bn_n_params(const layer *l) { return 2 * (size_t)l->dim; }

static size_t bn_n_state(const layer *l) { return 2 * (size_t)l->dim; }

static void bn_init_params(layer *l, real *p, rng *r)
{
    (void)r;
    memset(p, 0, sizeof(real) * bn_n_params(l));
}

static void bn_init_state(layer *l)
{
    for (int i = 0; i < l->dim; i++) {
        l->state[i] = 0;
        l->state[l->dim + i] = 1;
    }
}

static nf_status bn_reserve(layer *l, int rows)
{
    (void)l, (void)rows;
    return NF_OK; /* per-dimension buffers only, made with the layer */
}

/* inv[i] = 1 / sqrt(var[i] + eps) and scale[i] = exp(g[i]) * inv[i]. */
static void bn_factors(const batchnorm *s, int n, const real *g, const double *var, double *inv, double *scale)
{
    for (int i = 0; i < n; i++) {
        inv[i] = 1 / sqrt(var[i] + s->eps);
        scale[i] = exp((double)g[i]) * inv[i];
    }
}

/* The same with the running variance. */
static void bn_running_factors(const layer *l, const real *g, double *inv, double *scale)
{
    const batchnorm *s = l->self;
    for (int i = 0; i < l->dim; i++) {
        inv[i] = 1 / sqrt(l->state[l->dim + i] + s->eps);
        scale[i] = exp((double)g[i]) * inv[i];
    }
}

static void bn_x2z(layer *l, const real *p, int rows, const real *x, real *z, double *ldj)
{
    batchnorm *s = l->self;
    int n = l->dim;
    const real *g = p, *b = p + n;
    real *run_mean = l->state, *run_var = l->state + n;
    s->batch = l->training && rows > 0;
    if (s->batch) {
        for (int i = 0; i < n; i++)
            s->mean[i] = s->var[i] = 0;
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < n; i++)
                s->mean[i] += x[(size_t)r * n + i];
        for (int i = 0; i < n; i++)
            s->mean[i] /= rows;
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < n; i++) {
                double d = x[(size_t)r * n + i] - s->mean[i];
                s->var[i] += d * d;
            }
        for (int i = 0; i < n; i++) {
            s->var[i] /= rows;
            run_mean[i] = (real)((1 - s->momentum) * run_mean[i] + s->momentum * s->mean[i]);
            run_var[i] = (real)((1 - s->momentum) * run_var[i] + s->momentum * s->var[i]);
        }
    } else {
        for (int i = 0; i < n; i++) {
            s->mean[i] = run_mean[i];
            s->var[i] = run_var[i];
        }
    }
    double *inv = s->tmp, *scale = s->tmp + n, sum = 0;
    bn_factors(s, n, g, s->var, inv, scale);
    for (int i = 0; i < n; i++)
        sum += g[i] + log(inv[i]);
    K_PARALLEL_ROWS((size_t)rows * n)
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < n; i++) {
            size_t k = (size_t)r * n + i;
            z[k] = (real)((x[k] - s->mean[i]) * scale[i] + b[i]);
        }
        ldj[r] += sum;
    }
}

/* With xhat = (x - m) / sqrt(v + eps): dg += e^g sum dz xhat + rows dldj,
 * db += sum dz. With batch statistics dx also goes through m and v (ldj's
 * -0.5 log(v + eps) included), with dxhat = dz e^g:
 * dx = (dxhat - mean dxhat - xhat (mean(dxhat xhat) + dldj)) / sqrt(v + eps). */
static void bn_x2z_backward(layer *l, const real *p, int rows, const real *x, const real *z, const real *dz,
                            real dldj, real *dx, real *dp)
{
    (void)z;
    const batchnorm *s = l->self;
    int n = l->dim;
    const real *g = p;
    if (!dx && !dp)
        return;
    double *inv = s->tmp, *scale = s->tmp + n, *sum_dz = s->tmp + 2 * n, *sum_dzx = s->tmp + 3 * n;
    bn_factors(s, n, g, s->var, inv, scale);
    for (int i = 0; i < n; i++)
        sum_dz[i] = sum_dzx[i] = 0;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < n; i++) {
            size_t k = (size_t)r * n + i;
            sum_dz[i] += dz[k];
            sum_dzx[i] += dz[k] * (x[k] - s->mean[i]) * inv[i];
        }
    if (dp)
        for (int i = 0; i < n; i++) {
            dp[i] += (real)(exp((double)g[i]) * sum_dzx[i] + (double)rows * dldj);
            dp[n + i] += (real)sum_dz[i];
        }
    if (!dx)
        return;
    K_PARALLEL_ROWS((size_t)rows * n)
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < n; i++) {
            size_t k = (size_t)r * n + i;
            double d = dz[k] * scale[i];
            if (s->batch) {
                double xhat = (x[k] - s->mean[i]) * inv[i];
                d -= scale[i] * (sum_dz[i] + xhat * sum_dzx[i]) / rows + xhat * inv[i] * dldj;
            }
            dx[k] = (real)d;
        }
}

static void bn_z2x(layer *l, const real *p, int rows, const real *z, real *x, double *ldj)
{
    const batchnorm *s = l->self;
    int n = l->dim;
    const real *g = p, *b = p + n;
    const real *run_mean = l->state;
    double *inv = s->tmp, *scale = s->tmp + n, sum = 0;
    bn_running_factors(l, g, inv, scale);
    for (int i = 0; i < n; i++)
        sum -= g[i] + log(inv[i]);
    K_PARALLEL_ROWS((size_t)rows * n)
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < n; i++) {
            size_t k = (size_t)r * n + i;
            x[k] = (real)((z[k] - b[i]) / scale[i] + run_mean[i]);
        }
        ldj[r] += sum;
    }
}

/* x = (z - b) / scale + m with scale = e^g / sqrt(v + eps): dz = dx / scale,
 * dg -= sum dx (x - m) + rows dldj, db -= sum dx / scale. */
static void bn_z2x_backward(layer *l, const real *p, int rows, const real *z, const real *x, const real *dx,
                            real dldj, real *dz, real *dp)
{
    (void)x;
    const batchnorm *s = l->self;
    int n = l->dim;
    const real *g = p, *b = p + n;
    if (!dz && !dp)
        return;
    double *inv = s->tmp, *scale = s->tmp + n, *sum_g = s->tmp + 2 * n, *sum_b = s->tmp + 3 * n;
    bn_running_factors(l, g, inv, scale);
    for (int i = 0; i < n; i++)
        sum_g[i] = sum_b[i] = 0;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < n; i++) {
            size_t k = (size_t)r * n + i;
            double d = dx[k] / scale[i];
            if (dz)
                dz[k] = (real)d;
            sum_g[i] += d * (z[k] - b[i]); /* dx (x - m), from z: no cancellation */
            sum_b[i] += d;
        }
    if (dp)
        for (int i = 0; i < n; i++) {
            dp[i] -= (real)(sum_g[i] + (double)rows * dldj);
            dp[n + i] -= (real)sum_b[i];
        }
}

static nf_status bn_save(const layer *l, mf_writer *w)
{
    const batchnorm *s = l->self;
    nf_status st = mf_begin(w, l->ops->tag);
    if (!st) st = mf_put_f64(w, "momentum", s->momentum);
    if (!st) st = mf_put_f64(w, "eps", s->eps);
    return st;
}

static size_t bn_describe(const layer *l, char *buf, size_t size)
{
    const batchnorm *s = l->self;
    return (size_t)snprintf(buf, size, "%s momentum=%g eps=%g", l->ops->tag, s->momentum, s->eps);
}

static void bn_destroy(layer *l)
{
    batchnorm *s = l->self;
    free(s->mean);
    free(s->var);
    free(s->tmp);
    free(s->own_state);
}

/* A loaded model's running variances must be >= 0 (l->state is set by then). */
static int bn_check_params(const layer *l, const real *p)
{
    (void)p;
    for (int i = 0; i < l->dim; i++)
        if (!(l->state[l->dim + i] >= 0))
            return 0;
    return 1;
}

const layer_ops batchnorm_ops = {
    .load = batchnorm_load,
    .tag = "batch_norm",
    .n_params = bn_n_params,
    .init_params = bn_init_params,
    .reserve = bn_reserve,
    .x2z = bn_x2z,
    .x2z_backward = bn_x2z_backward,
    .z2x = bn_z2x,
    .z2x_backward = bn_z2x_backward,
    .save = bn_save,
    .describe = bn_describe,
    .destroy = bn_destroy,
    .n_state = bn_n_state,
    .init_state = bn_init_state,
    .check_params = bn_check_params,
};

static int momentum_ok(double m) { return m > 0 && m <= 1; }

static int eps_ok(double e) { return e > 0 && isfinite(e); }

static layer *batchnorm_make(int dim, double momentum, double eps)
{
    if (dim < 1 || !momentum_ok(momentum) || !eps_ok(eps)) {
        nf_fail(NF_ERR_INVALID, "batch norm: need dim >= 1, momentum in (0, 1] and eps > 0 (got %d, %g, %g)", dim,
                momentum, eps);
        return NULL;
    }
    layer *l = layer_alloc(&batchnorm_ops, dim, sizeof(batchnorm));
    if (!l)
        return NULL;
    batchnorm *s = l->self;
    s->momentum = momentum;
    s->eps = eps;
    s->mean = calloc((size_t)dim, sizeof(double));
    s->var = calloc((size_t)dim, sizeof(double));
    s->tmp = calloc(4 * (size_t)dim, sizeof(double));
    s->own_state = calloc(2 * (size_t)dim, sizeof(real));
    if (!s->mean || !s->var || !s->tmp || !s->own_state) {
        layer_free(l);
        nf_fail(NF_ERR_NOMEM, "out of memory creating a batch norm layer");
        return NULL;
    }
    /* usable on its own; flow_allocate_params points state into the flow */
    l->state = s->own_state;
    bn_init_state(l);
    return l;
}

layer *batchnorm_new(int dim, double momentum) { return batchnorm_make(dim, momentum, 1e-5); }

nf_status batchnorm_load(const mf_file *f, const mf_section *s, int dim, layer **out)
{
    double momentum, eps;
    nf_status st = mf_get_f64(f, s, "momentum", &momentum);
    if (!st) st = mf_get_f64(f, s, "eps", &eps);
    if (st)
        return st;
    if (!momentum_ok(momentum))
        return nf_fail(NF_ERR_FORMAT, "%s: section 'batch_norm': momentum %g not in (0, 1]", mf_path(f), momentum);
    if (!eps_ok(eps))
        return nf_fail(NF_ERR_FORMAT, "%s: section 'batch_norm': eps %g must be positive and finite", mf_path(f),
                       eps);
    *out = batchnorm_make(dim, momentum, eps);
    return *out ? NF_OK : NF_ERR_NOMEM;
}
