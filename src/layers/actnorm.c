/* Activation normalisation (Glow, Kingma & Dhariwal 2018), a per-dimension
 * affine map with a data-dependent initialisation:
 *   x2z: z = (x - b) exp(-logs),  log|det dz/dx| = -sum logs
 *   z2x: x = z exp(logs) + b,     log|det dx/dz| =  sum logs
 * Parameters (trainable): b[dim], then logs[dim]; init_params makes the
 * identity (b = 0, logs = 0).
 *
 * Initialisation from data: the first x2z of a training step (l->training
 * set) with at least two rows first sets b = the batch's mean and logs =
 * log of its standard deviation (biased, floored at ACTNORM_MIN_STD),
 * computed in double in a fixed order (the same bits at any thread count),
 * so that this batch leaves the layer with mean 0 and variance 1 per
 * dimension. Whether that has happened is the layer's state (one value,
 * 0 or 1), kept by the flow beside the parameters: models and checkpoints
 * carry it, and a loaded trained model is not initialised again. A flow
 * never trained is the identity here; evaluation, sampling and the
 * z2x-direction training of distillation never initialise.
 *
 * Writing the parameters: passes get their parameters as `const real *`
 * (a pass does not change them); this layer's first training pass is the
 * one exception. Every caller passes a slice of a writable buffer (the
 * flow's f->params, src/flow/flow.c, or a test's own array), so the initialisation
 * casts the const away to write it, before this same pass computes with the
 * new values. The Adam step that follows then starts from the initialised
 * values. A batch whose statistics are not finite leaves the layer as it
 * is (that step's loss is not finite anyway). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kern.h"
#include "layers/layer.h"
#include "layers/actnorm.h"

#define ACTNORM_MIN_STD 1e-6

typedef struct actnorm {
    int n, pixels;   /* parameters for n values, shared by `pixels` blocks of n (an image's channels) */
    double *tmp;     /* per-value scratch, 3 x n */
    real *own_state; /* l->state until a flow hands the layer its slot */
} actnorm;

static size_t an_n_params(const layer *l) { return 2 * (size_t)((const actnorm *)l->self)->n; }

/* Values a block of each row holds; the rest of the row passes through. */
static int an_active(const layer *l)
{
    const actnorm *s = l->self;
    return s->n * s->pixels;
}

static size_t an_n_state(const layer *l)
{
    (void)l;
    return 1;
}

static void an_init_params(layer *l, real *p, rng *r)
{
    (void)r;
    memset(p, 0, sizeof(real) * an_n_params(l));
}

static void an_init_state(layer *l) { l->state[0] = 0; }

static nf_status an_reserve(layer *l, int rows)
{
    (void)l, (void)rows;
    return NF_OK; /* per-dimension buffers only, made with the layer */
}

/* The batch's mean and biased standard deviation per dimension, in double,
 * rows in order; written into p (b, logs) and the flag set when all are
 * finite. */
static void an_init_from_batch(layer *l, real *p, int rows, const real *x)
{
    actnorm *s = l->self;
    int n = s->n, dim = l->dim;
    size_t count = (size_t)rows * s->pixels;
    double *mean = s->tmp, *var = s->tmp + n;
    for (int i = 0; i < n; i++)
        mean[i] = var[i] = 0;
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < s->pixels; q++)
            for (int i = 0; i < n; i++)
                mean[i] += x[(size_t)r * dim + (size_t)q * n + i];
    for (int i = 0; i < n; i++)
        mean[i] /= (double)count;
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < s->pixels; q++)
            for (int i = 0; i < n; i++) {
                double d = x[(size_t)r * dim + (size_t)q * n + i] - mean[i];
                var[i] += d * d;
            }
    for (int i = 0; i < n; i++) {
        double sd = sqrt(var[i] / (double)count);
        var[i] = log(sd > ACTNORM_MIN_STD ? sd : ACTNORM_MIN_STD); /* now log std */
        if (!isfinite(mean[i]) || !isfinite(var[i]))
            return;
    }
    for (int i = 0; i < n; i++) {
        p[i] = (real)mean[i];
        p[n + i] = (real)var[i];
    }
    l->state[0] = 1;
}

/* out = (in - shift) * scale + add per value of each block, the tail
 * copied; ldj[r] += ldj_add. */
static void an_apply(const layer *l, const real *shift, const double *scale, const real *add, int rows,
                     const real *in, real *out, double *ldj, double ldj_add)
{
    int n = ((const actnorm *)l->self)->n, dim = l->dim, active = an_active(l);
    K_PARALLEL_ROWS((size_t)rows * dim)
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < active; i++) {
            size_t k = (size_t)r * dim + i;
            int j = i % n;
            out[k] = (real)((in[k] - (shift ? shift[j] : 0)) * scale[j] + (add ? add[j] : 0));
        }
        memcpy(out + (size_t)r * dim + active, in + (size_t)r * dim + active, sizeof(real) * (dim - active));
        if (ldj)
            ldj[r] += ldj_add;
    }
}

/* scale[i] = exp(sign * logs[i]); returns sum logs. */
static double an_scales(int n, const real *logs, int sign, double *scale)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        scale[i] = exp(sign * (double)logs[i]);
        sum += logs[i];
    }
    return sum;
}

static void an_x2z(layer *l, const real *p, int rows, const real *x, real *z, double *ldj)
{
    actnorm *s = l->self;
    int n = s->n;
    if (l->training && l->state[0] == 0 && rows >= 2)
        an_init_from_batch(l, (real *)p, rows, x); /* writable: see the comment at the top */
    double *scale = s->tmp + 2 * n, sum = an_scales(n, p + n, -1, scale);
    an_apply(l, p, scale, NULL, rows, x, z, ldj, -sum * s->pixels);
}

static void an_z2x(layer *l, const real *p, int rows, const real *z, real *x, double *ldj)
{
    actnorm *s = l->self;
    int n = s->n;
    double *scale = s->tmp + 2 * n, sum = an_scales(n, p + n, 1, scale);
    an_apply(l, NULL, scale, p, rows, z, x, ldj, sum * s->pixels);
}

/* Per value of a block, sum_dout = the sum of dout over rows and blocks,
 * and sum_dy that of dout * y (in order, in double: the same bits at any
 * thread count). */
static void an_backward_sums(const layer *l, int rows, const real *dout, const real *y, double *sum_dout,
                             double *sum_dy)
{
    const actnorm *s = l->self;
    int n = s->n, dim = l->dim;
    for (int i = 0; i < n; i++)
        sum_dout[i] = sum_dy[i] = 0;
    for (int r = 0; r < rows; r++)
        for (int q = 0; q < s->pixels; q++)
            for (int i = 0; i < n; i++) {
                size_t k = (size_t)r * dim + (size_t)q * n + i;
                sum_dout[i] += dout[k];
                sum_dy[i] += (double)dout[k] * y[k];
            }
}

/* z = (x - b) e^{-logs}: dx = dz e^{-logs}; db = -e^{-logs} sum dz;
 * dlogs = -sum dz z - rows dldj. */
static void an_x2z_backward(layer *l, const real *p, int rows, const real *x, const real *z, const real *dz,
                            real dldj, real *dx, real *dp)
{
    (void)x;
    const actnorm *s = l->self;
    int n = s->n;
    if (!dx && !dp)
        return;
    double *sum_dz = s->tmp, *sum_dzz = s->tmp + n, *scale = s->tmp + 2 * n;
    an_scales(n, p + n, -1, scale);
    if (dp) {
        an_backward_sums(l, rows, dz, z, sum_dz, sum_dzz);
        for (int i = 0; i < n; i++) {
            dp[i] -= (real)(scale[i] * sum_dz[i]);
            dp[n + i] -= (real)(sum_dzz[i] + (double)rows * s->pixels * dldj);
        }
    }
    if (dx)
        an_apply(l, NULL, scale, NULL, rows, dz, dx, NULL, 0);
}

/* x = z e^{logs} + b: dz = dx e^{logs}; db = sum dx;
 * dlogs = e^{logs} sum dx z + rows dldj (x - b from z: no cancellation). */
static void an_z2x_backward(layer *l, const real *p, int rows, const real *z, const real *x, const real *dx,
                            real dldj, real *dz, real *dp)
{
    (void)x;
    const actnorm *s = l->self;
    int n = s->n;
    if (!dz && !dp)
        return;
    double *sum_dx = s->tmp, *sum_dxz = s->tmp + n, *scale = s->tmp + 2 * n;
    an_scales(n, p + n, 1, scale);
    if (dp) {
        an_backward_sums(l, rows, dx, z, sum_dx, sum_dxz);
        for (int i = 0; i < n; i++) {
            dp[i] += (real)sum_dx[i];
            dp[n + i] += (real)(scale[i] * sum_dxz[i] + (double)rows * s->pixels * dldj);
        }
    }
    if (dz)
        an_apply(l, NULL, scale, NULL, rows, dx, dz, NULL, 0);
}

static nf_status an_save(const layer *l, mf_writer *w)
{
    const actnorm *s = l->self;
    nf_status st = mf_begin(w, l->ops->tag);
    /* absent: one block of dim values; a 1 x 1 image's channels after a split are fewer */
    int blocks = s->pixels > 1 || s->n != l->dim;
    if (!st && blocks) st = mf_put_i64(w, "pixels", s->pixels);
    if (!st && blocks) st = mf_put_i64(w, "block", s->n);
    return st;
}

static size_t an_describe(const layer *l, char *buf, size_t size)
{
    const actnorm *s = l->self;
    char per[64] = "";
    if (s->pixels > 1)
        snprintf(per, sizeof per, ", per channel: %d channels x %d pixels", s->n, s->pixels);
    return (size_t)snprintf(buf, size, "%s (%s%s)", l->ops->tag,
                            l->state[0] != 0 ? "initialised from data" : "identity until the first training batch",
                            per);
}

static void an_destroy(layer *l)
{
    actnorm *s = l->self;
    free(s->tmp);
    free(s->own_state);
}

/* A loaded model's flag must be 0 or 1 (l->state is set by then). */
static int an_check_params(const layer *l, const real *p)
{
    (void)p;
    return l->state[0] == 0 || l->state[0] == 1;
}

const layer_ops actnorm_ops = {
    .load = actnorm_load,
    .tag = "actnorm",
    .n_params = an_n_params,
    .init_params = an_init_params,
    .reserve = an_reserve,
    .x2z = an_x2z,
    .x2z_backward = an_x2z_backward,
    .z2x = an_z2x,
    .z2x_backward = an_z2x_backward,
    .save = an_save,
    .describe = an_describe,
    .destroy = an_destroy,
    .n_state = an_n_state,
    .init_state = an_init_state,
    .check_params = an_check_params,
};

layer *actnorm_new(int dim) { return actnorm_new_blocks(dim, 1, dim); }

layer *actnorm_new_blocks(int dim, int pixels, int n)
{
    if (dim < 1 || pixels < 1 || n < 1 || (double)pixels * n > dim) {
        nf_fail(NF_ERR_INVALID, "actnorm: %d blocks of %d values do not fit in %d", pixels, n, dim);
        return NULL;
    }
    layer *l = layer_alloc(&actnorm_ops, dim, sizeof(actnorm));
    if (!l)
        return NULL;
    actnorm *s = l->self;
    s->n = n;
    s->pixels = pixels;
    s->tmp = calloc(3 * (size_t)n, sizeof(double));
    s->own_state = calloc(1, sizeof(real));
    if (!s->tmp || !s->own_state) {
        layer_free(l);
        nf_fail(NF_ERR_NOMEM, "out of memory creating an actnorm layer");
        return NULL;
    }
    /* usable on its own; flow_allocate_params points state into the flow */
    l->state = s->own_state;
    an_init_state(l);
    return l;
}

nf_status actnorm_load(const mf_file *f, const mf_section *s, int dim, layer **out)
{
    int64_t pixels = 1, n = dim;
    nf_status st = mf_has(s, "pixels") ? mf_get_i64(f, s, "pixels", &pixels) : NF_OK;
    if (!st && mf_has(s, "block"))
        st = mf_get_i64(f, s, "block", &n);
    if (st)
        return st;
    if (pixels < 1 || n < 1 || (double)pixels * (double)n > dim)
        return nf_fail(NF_ERR_FORMAT, "%s: section 'actnorm': %lld blocks of %lld values do not fit in %d", mf_path(f),
                       (long long)pixels, (long long)n, dim);
    *out = actnorm_new_blocks(dim, (int)pixels, (int)n);
    return *out ? NF_OK : NF_ERR_NOMEM;
}
