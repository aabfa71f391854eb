/* The layers without networks: NICE's rescaling, permutations and the
 * standardisation that every flow starts with (docs/layers.md).
 *   rescale:     z = x * exp(-t)          log|det dz/dx| = -sum t
 *   permute:     z[:, i] = x[:, perm[i]]  log|det| = 0
 *   standardize: z = (x - mean) / std     log|det dz/dx| = -sum log std */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kern.h"
#include "layer.h"

/* ---- rescale ---------------------------------------------------------- */

static size_t rescale_n_params(const layer *l) { return (size_t)l->dim; }

static void rescale_init(layer *l, real *p, rng *r)
{
    (void)r;
    memset(p, 0, sizeof(real) * l->dim);
}

static int no_reserve(layer *l, int rows)
{
    (void)l, (void)rows;
    return 0;
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

static nf_status tag_only_save(const layer *l, mf_writer *w) { return mf_begin(w, l->ops->tag); }

static size_t tag_only_describe(const layer *l, char *buf, size_t size)
{
    return (size_t)snprintf(buf, size, "%s", l->ops->tag);
}

static const layer_ops rescale_ops = {
    .tag = "rescale",
    .n_params = rescale_n_params,
    .init_params = rescale_init,
    .reserve = no_reserve,
    .x2z = rescale_x2z,
    .x2z_backward = rescale_x2z_backward,
    .z2x = rescale_z2x,
    .z2x_backward = rescale_z2x_backward,
    .save = tag_only_save,
    .describe = tag_only_describe,
};

layer *rescale_new(int dim) { return layer_alloc(&rescale_ops, dim, 0); }

nf_status rescale_load(const mf_file *f, const mf_section *s, int dim, layer **out)
{
    (void)f, (void)s;
    *out = rescale_new(dim);
    return *out ? NF_OK : NF_ERR_NOMEM;
}

/* ---- permutation ------------------------------------------------------ */

typedef struct permute {
    int *perm, *inv;
} permute;

static size_t no_params(const layer *l)
{
    (void)l;
    return 0;
}

static void no_init(layer *l, real *p, rng *r) { (void)l, (void)p, (void)r; }

static void gather(int dim, const int *idx, int rows, const real *src, real *dst)
{
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < dim; i++)
            dst[(size_t)r * dim + i] = src[(size_t)r * dim + idx[i]];
}

static void permute_x2z(layer *l, const real *p, int rows, const real *x, real *z, double *ldj)
{
    (void)p, (void)ldj;
    gather(l->dim, ((permute *)l->self)->perm, rows, x, z);
}

static void permute_z2x(layer *l, const real *p, int rows, const real *z, real *x, double *ldj)
{
    (void)p, (void)ldj;
    gather(l->dim, ((permute *)l->self)->inv, rows, z, x);
}

static void permute_x2z_backward(layer *l, const real *p, int rows, const real *x, const real *z, const real *dz,
                                 real dldj, real *dx, real *dp)
{
    (void)p, (void)x, (void)z, (void)dldj, (void)dp;
    if (dx)
        gather(l->dim, ((permute *)l->self)->inv, rows, dz, dx);
}

static void permute_z2x_backward(layer *l, const real *p, int rows, const real *z, const real *x, const real *dx,
                                 real dldj, real *dz, real *dp)
{
    (void)p, (void)x, (void)z, (void)dldj, (void)dp;
    if (dz)
        gather(l->dim, ((permute *)l->self)->perm, rows, dx, dz);
}

static nf_status permute_save(const layer *l, mf_writer *w)
{
    const permute *s = l->self;
    int32_t *v = malloc(sizeof(int32_t) * l->dim);
    if (!v)
        return nf_fail(NF_ERR_NOMEM, "out of memory saving a permutation");
    for (int i = 0; i < l->dim; i++)
        v[i] = s->perm[i];
    nf_status st = mf_begin(w, l->ops->tag);
    if (!st)
        st = mf_put_i32s(w, "perm", v, l->dim);
    free(v);
    return st;
}

static size_t permute_describe(const layer *l, char *buf, size_t size)
{
    const permute *s = l->self;
    int reversed = 1;
    for (int i = 0; i < l->dim; i++)
        reversed &= s->perm[i] == l->dim - 1 - i;
    return (size_t)snprintf(buf, size, "permutation (%s)", reversed ? "reverse" : "fixed random");
}

static void permute_destroy(layer *l)
{
    permute *s = l->self;
    free(s->perm);
    free(s->inv);
}

static const layer_ops permute_ops = {
    .tag = "permutation",
    .n_params = no_params,
    .init_params = no_init,
    .reserve = no_reserve,
    .x2z = permute_x2z,
    .x2z_backward = permute_x2z_backward,
    .z2x = permute_z2x,
    .z2x_backward = permute_z2x_backward,
    .save = permute_save,
    .describe = permute_describe,
    .destroy = permute_destroy,
};

int perm_is_valid(const int *perm, int dim)
{
    char *seen = calloc((size_t)dim, 1);
    int ok = seen != NULL;
    for (int i = 0; ok && i < dim; i++) {
        ok = perm[i] >= 0 && perm[i] < dim && !seen[perm[i]];
        if (ok)
            seen[perm[i]] = 1;
    }
    free(seen);
    return ok;
}

layer *permute_new(int dim, const int *perm)
{
    if (!perm_is_valid(perm, dim)) {
        nf_fail(NF_ERR_INVALID, "not a permutation of 0..%d", dim - 1);
        return NULL;
    }
    layer *l = layer_alloc(&permute_ops, dim, sizeof(permute));
    if (!l)
        return NULL;
    permute *s = l->self;
    s->perm = malloc(sizeof(int) * dim);
    s->inv = malloc(sizeof(int) * dim);
    if (!s->perm || !s->inv) {
        layer_free(l);
        nf_fail(NF_ERR_NOMEM, "out of memory creating a permutation");
        return NULL;
    }
    for (int i = 0; i < dim; i++) {
        s->perm[i] = perm[i];
        s->inv[perm[i]] = i;
    }
    return l;
}

nf_status permute_load(const mf_file *f, const mf_section *s, int dim, layer **out)
{
    const int32_t *v;
    nf_status st = mf_get_i32s(f, s, "perm", (size_t)dim, &v, NULL);
    if (st)
        return st;
    int *perm = malloc(sizeof(int) * dim);
    if (!perm)
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    for (int i = 0; i < dim; i++)
        perm[i] = v[i];
    *out = permute_new(dim, perm);
    free(perm);
    if (!*out)
        return nf_fail(NF_ERR_FORMAT, "%s: section 'permutation': not a permutation of 0..%d", mf_path(f), dim - 1);
    return NF_OK;
}

/* ---- standardisation -------------------------------------------------- */

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

static const layer_ops standardize_ops = {
    .tag = "standardize",
    .n_params = no_params,
    .init_params = no_init,
    .reserve = no_reserve,
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
            snprintf(why, size, "column %d: mean %g is %s", i + 1, mean[i],
                     isnan(mean[i]) ? "not a number" : "outside +-1e30, beyond what float32 arithmetic can shift");
            return 0;
        }
        if (!(std[i] >= STANDARDIZE_MIN && std[i] <= STANDARDIZE_MAX)) {
            snprintf(why, size,
                     "column %d: standard deviation %g is outside %g..%g, the spread float32 arithmetic can "
                     "scale; rescale the column (by a power of ten, say)",
                     i + 1, std[i], STANDARDIZE_MIN, STANDARDIZE_MAX);
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
