/* The standardisation every flow starts with (docs/layers.md):
 *   z = (x - mean) / std     log|det dz/dx| = -sum log std */
#include "layers/standardize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kern.h"

typedef struct standardize {
    double *mean, *std;
    real *shift, *inv_scale, *scale;
    double log_std_sum;
} standardize;

static void standardize_x2z(layer *l, const real *p, int rows, const real *x, real *z, double *ldj)
{
    (void)p;
    const standardize *s = l->self;
    int dim = l->dim;
    K_PARALLEL_ROWS((size_t)rows * dim)
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < dim; i++)
            z[(size_t)r * dim + i] = (x[(size_t)r * dim + i] - s->shift[i]) * s->inv_scale[i];
        ldj[r] -= s->log_std_sum;
    }
}

static void standardize_z2x(layer *l, const real *p, int rows, const real *z, real *x, double *ldj)
{
    (void)p;
    const standardize *s = l->self;
    int dim = l->dim;
    K_PARALLEL_ROWS((size_t)rows * dim)
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < dim; i++)
            x[(size_t)r * dim + i] = z[(size_t)r * dim + i] * s->scale[i] + s->shift[i];
        ldj[r] += s->log_std_sum;
    }
}

static void scale_rows(int dim, const real *factor, int rows, const real *src, real *dst)
{
    K_PARALLEL_ROWS((size_t)rows * dim)
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < dim; i++)
            dst[(size_t)r * dim + i] = src[(size_t)r * dim + i] * factor[i];
}

static void standardize_x2z_backward(layer *l, const real *p, int rows, const real *x, const real *z,
                                     const real *dz, real dldj, real *dx, real *dp)
{
    (void)p, (void)x, (void)z, (void)dldj, (void)dp;
    if (dx)
        scale_rows(l->dim, ((standardize *)l->self)->inv_scale, rows, dz, dx);
}

static void standardize_z2x_backward(layer *l, const real *p, int rows, const real *z, const real *x,
                                     const real *dx, real dldj, real *dz, real *dp)
{
    (void)p, (void)x, (void)z, (void)dldj, (void)dp;
    if (dz)
        scale_rows(l->dim, ((standardize *)l->self)->scale, rows, dx, dz);
}

static nf_status standardize_save(const layer *l, mf_writer *w)
{
    const standardize *s = l->self;
    nf_status st = mf_begin(w, l->ops->tag);
    if (!st) st = mf_put_f64s(w, "mean", s->mean, l->dim);
    if (!st) st = mf_put_f64s(w, "std", s->std, l->dim);
    return st;
}

static size_t standardize_describe(const layer *l, char *buf, size_t size)
{
    (void)l;
    return (size_t)snprintf(buf, size, "standardize (x - mean) / std, from the training data");
}

static void standardize_destroy(layer *l)
{
    standardize *s = l->self;
    free(s->mean);
    free(s->std);
    free(s->shift);
    free(s->inv_scale);
    free(s->scale);
}

const layer_ops standardize_ops = {
    .load = standardize_load,
    .tag = "standardize",
    .n_params = layer_no_params,
    .init_params = layer_no_init,
    .reserve = layer_no_reserve,
    .x2z = standardize_x2z,
    .x2z_backward = standardize_x2z_backward,
    .z2x = standardize_z2x,
    .z2x_backward = standardize_z2x_backward,
    .save = standardize_save,
    .describe = standardize_describe,
    .destroy = standardize_destroy,
};

void standardize_set(layer *l, const double *mean, const double *std)
{
    standardize *s = l->self;
    s->log_std_sum = 0;
    for (int i = 0; i < l->dim; i++) {
        s->mean[i] = mean ? mean[i] : 0;
        s->std[i] = std ? std[i] : 1;
        s->shift[i] = (real)s->mean[i];
        s->scale[i] = (real)s->std[i];
        s->inv_scale[i] = (real)(1 / s->std[i]);
        s->log_std_sum += log(s->std[i]);
    }
}

void standardize_get(const layer *l, const double **mean, const double **std)
{
    const standardize *s = l->self;
    *mean = s->mean;
    *std = s->std;
}

int standardize_check(int dim, const double *mean, const double *std, char *why, size_t size)
{
    for (int i = 0; i < dim; i++) {
        if (!isfinite(mean[i]) || fabs(mean[i]) > STANDARDIZE_MAX) {
            snprintf(why, size, "column %d: mean %g is %s", i, mean[i],
                     isnan(mean[i]) ? "not a number" : "outside +-1e30, beyond what float32 arithmetic can shift");
            return 0;
        }
        if (!(std[i] >= STANDARDIZE_MIN && std[i] <= STANDARDIZE_MAX)) {
            snprintf(why, size,
                     "column %d: standard deviation %g is outside %g..%g, the spread float32 arithmetic can "
                     "scale; rescale the column (by a power of ten, say)",
                     i, std[i], STANDARDIZE_MIN, STANDARDIZE_MAX);
            return 0;
        }
    }
    return 1;
}

layer *standardize_new(int dim, const double *mean, const double *std)
{
    char why[256];
    if (std && !standardize_check(dim, mean, std, why, sizeof why)) {
        nf_fail(NF_ERR_INVALID, "standardisation: %s", why);
        return NULL;
    }
    layer *l = layer_alloc(&standardize_ops, dim, sizeof(standardize));
    if (!l)
        return NULL;
    standardize *s = l->self;
    s->mean = malloc(sizeof(double) * dim);
    s->std = malloc(sizeof(double) * dim);
    s->shift = malloc(sizeof(real) * dim);
    s->scale = malloc(sizeof(real) * dim);
    s->inv_scale = malloc(sizeof(real) * dim);
    if (!s->mean || !s->std || !s->shift || !s->scale || !s->inv_scale) {
        layer_free(l);
        nf_fail(NF_ERR_NOMEM, "out of memory creating the standardisation");
        return NULL;
    }
    standardize_set(l, mean, std);
    return l;
}

nf_status standardize_load(const mf_file *f, const mf_section *s, int dim, layer **out)
{
    const double *mean, *std;
    nf_status st = mf_get_f64s(f, s, "mean", (size_t)dim, &mean, NULL);
    if (!st) st = mf_get_f64s(f, s, "std", (size_t)dim, &std, NULL);
    if (st)
        return st;
    char why[256];
    if (!standardize_check(dim, mean, std, why, sizeof why))
        return nf_fail(NF_ERR_FORMAT, "%s: section 'standardize': %s", mf_path(f), why);
    *out = standardize_new(dim, mean, std);
    return *out ? NF_OK : NF_ERR_NOMEM;
}
