/* NICE's diagonal rescaling (docs/layers.md):
 *   z = x * exp(-t)          log|det dz/dx| = -sum t */
#include "layers/rescale.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kern.h"

static size_t rescale_n_params(const layer *l) { return (size_t)l->dim; }

static void rescale_init(layer *l, real *p, rng *r)
{
    (void)r;
    memset(p, 0, sizeof(real) * l->dim);
}

/* out = in * exp(sign * t), ldj += sign * sum t. */
static void rescale_apply(int dim, int sign, const real *t, int rows, const real *in, real *out, double *ldj)
{
    double sum = 0;
    for (int i = 0; i < dim; i++)
        sum += t[i];
    K_PARALLEL_ROWS((size_t)rows * dim)
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < dim; i++)
            out[(size_t)r * dim + i] = in[(size_t)r * dim + i] * r_exp(sign * t[i]);
        ldj[r] += sign * sum;
    }
}

static void rescale_x2z(layer *l, const real *t, int rows, const real *x, real *z, double *ldj)
{
    rescale_apply(l->dim, -1, t, rows, x, z, ldj);
}

static void rescale_z2x(layer *l, const real *t, int rows, const real *z, real *x, double *ldj)
{
    rescale_apply(l->dim, 1, t, rows, z, x, ldj);
}

/* out = in * exp(sign * t): din = dout * exp(sign t); dt = sign * sum_r dout * out + sign * rows * dldj */
static void rescale_backward(int dim, int sign, const real *t, int rows, const real *out, const real *dout,
                             real dldj, real *din, real *dt)
{
    for (int i = 0; i < dim; i++) {
        real e = r_exp(sign * t[i]);
        double g = 0;
        for (int r = 0; r < rows; r++) {
            size_t k = (size_t)r * dim + i;
            if (din)
                din[k] = dout[k] * e;
            g += (double)dout[k] * out[k];
        }
        if (dt)
            dt[i] += (real)(sign * (g + (double)rows * dldj));
    }
}

static void rescale_x2z_backward(layer *l, const real *t, int rows, const real *x, const real *z, const real *dz,
                                 real dldj, real *dx, real *dt)
{
    (void)x;
    rescale_backward(l->dim, -1, t, rows, z, dz, dldj, dx, dt);
}

static void rescale_z2x_backward(layer *l, const real *t, int rows, const real *z, const real *x, const real *dx,
                                 real dldj, real *dz, real *dt)
{
    (void)z;
    rescale_backward(l->dim, 1, t, rows, x, dx, dldj, dz, dt);
}

const layer_ops rescale_ops = {
    .load = rescale_load,
    .tag = "rescale",
    .n_params = rescale_n_params,
    .init_params = rescale_init,
    .reserve = layer_no_reserve,
    .x2z = rescale_x2z,
    .x2z_backward = rescale_x2z_backward,
    .z2x = rescale_z2x,
    .z2x_backward = rescale_z2x_backward,
    .save = layer_save_tag,
    .describe = layer_describe_tag,
};

layer *rescale_new(int dim) { return layer_alloc(&rescale_ops, dim, 0); }

nf_status rescale_load(const mf_file *f, const mf_section *s, int dim, layer **out)
{
    (void)f, (void)s;
    *out = rescale_new(dim);
    return *out ? NF_OK : NF_ERR_NOMEM;
}
