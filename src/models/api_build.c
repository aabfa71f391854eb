/* The public flow API, building: a flow layer by layer, its parameters,
 * its standardisation. A thin bridge to the layers (src/layers/). */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "flow/flow.h"
#include "core/kern.h"
#include "core/perm.h"
#include "layers/bounds.h"
#include "layers/coupling.h"
#include "layers/linear_lu.h"
#include "layers/permute.h"
#include "layers/rescale.h"
#include "layers/standardize.h"
#include "models/api_image.h"
#include "models/whitening.h"

nf_status nf_flow_new(nf_flow **out, int dim, nf_base base)
{
    *out = NULL;
    if (dim < 1 || dim > NF_MAX_DIM)
        return nf_fail(NF_ERR_INVALID, "dimension %d out of range 1..100000", dim);
    if ((unsigned)base > NF_BASE_UNIFORM)
        return nf_fail(NF_ERR_INVALID, "unknown base density %d", (int)base);
    nf_flow *f = calloc(1, sizeof *f);
    if (!f)
        return nf_fail(NF_ERR_NOMEM, "out of memory creating a flow");
    f->dim = dim;
    f->base.kind = base;
    f->base.lo = 0;
    f->base.hi = 1;
    f->record.val_ll = f->record.train_ll = f->record.test_ll = NAN;
    nf_status st = flow_add(f, standardize_new(dim, NULL, NULL));
    if (st) {
        nf_flow_free(f);
        return st;
    }
    *out = f;
    return NF_OK;
}

nf_status nf_flow_set_uniform_box(nf_flow *f, double lo, double hi)
{
    if (!(lo < hi) || !isfinite(lo) || !isfinite(hi))
        return nf_fail(NF_ERR_INVALID, "uniform box [%g, %g] is empty or not finite", lo, hi);
    f->base.lo = lo;
    f->base.hi = hi;
    return NF_OK;
}

static nf_status make_mask(const nf_flow *f, nf_partition part, const int *user, int flip, int *mask)
{
    for (int i = 0; i < f->dim; i++) {
        switch (part) {
        case NF_PART_HALVES: mask[i] = i < f->dim / 2; break;
        case NF_PART_EVEN_ODD: mask[i] = i % 2 == 0; break;
        case NF_PART_MASK:
            if (!user)
                return nf_fail(NF_ERR_INVALID, "NF_PART_MASK needs a mask");
            mask[i] = user[i] != 0;
            break;
        default: return nf_fail(NF_ERR_INVALID, "unknown partition %d", (int)part);
        }
        if (flip)
            mask[i] = !mask[i];
    }
    if (f->dim == 1 && part != NF_PART_MASK)
        mask[0] = 0; /* one column cannot be split: every layer changes it, conditioned on the context alone */
    return NF_OK;
}

/* kind: 0 additive, 1 affine (bound: the log-scale bound), 2 spline (bound: the tail bound; shifted when
 * shift_bound >= 0) */
static nf_status add_coupling(nf_flow *f, int kind, nf_partition part, const int *user, int flip, int hidden,
                              int hidden_layers, nf_activation act, double bound, int bins, double shift_bound)
{
    if ((unsigned)act > NF_ACT_TANH)
        return nf_fail(NF_ERR_INVALID, "unknown activation %d", (int)act);
    int *mask = malloc(sizeof(int) * f->dim);
    if (!mask)
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    nf_status st = make_mask(f, part, user, flip, mask);
    int k_act = act == NF_ACT_TANH ? K_ACT_TANH : K_ACT_RELU;
    if (!st)
        st = flow_add(f, kind == 2 ? spline_coupling_new(f->dim, f->context_dim, mask, hidden, hidden_layers, k_act, bins,
                                                         bound, shift_bound)
                                   : coupling_new(f->dim, f->context_dim, kind, mask, hidden, hidden_layers, k_act, bound));
    free(mask);
    return st;
}

nf_status nf_flow_add_additive_coupling(nf_flow *f, nf_partition part, const int *mask, int flip, int hidden,
                                        int hidden_layers, nf_activation act)
{
    return add_coupling(f, 0, part, mask, flip, hidden, hidden_layers, act, 0, 0, -1);
}

nf_status nf_flow_add_affine_coupling(nf_flow *f, nf_partition part, const int *mask, int flip, int hidden,
                                      int hidden_layers, nf_activation act, double bound)
{
    if (!(bound >= 0 && bound < NF_MAX_LOG_SCALE_BOUND))
        return nf_fail(NF_ERR_INVALID, "log-scale bound %g out of range [0, 100) (0: unbounded)", bound);
    return add_coupling(f, 1, part, mask, flip, hidden, hidden_layers, act, bound, 0, -1);
}

nf_status nf_flow_add_spline_coupling(nf_flow *f, nf_partition part, const int *mask, int flip, int hidden,
                                      int hidden_layers, nf_activation act, int bins, double tail_bound)
{
    return add_coupling(f, 2, part, mask, flip, hidden, hidden_layers, act, tail_bound, bins, -1);
}

nf_status nf_flow_add_shifted_spline_coupling(nf_flow *f, nf_partition part, const int *mask, int flip, int hidden,
                                              int hidden_layers, nf_activation act, int bins, double tail_bound,
                                              double scale_bound)
{
    if (!(scale_bound >= 0 && scale_bound < NF_MAX_LOG_SCALE_BOUND))
        return nf_fail(NF_ERR_INVALID, "log-scale bound %g out of range [0, 100) (0: unbounded)", scale_bound);
    return add_coupling(f, 2, part, mask, flip, hidden, hidden_layers, act, tail_bound, bins, scale_bound);
}

nf_status nf_flow_add_rescale(nf_flow *f) { return flow_add(f, rescale_new(f->dim)); }

nf_status nf_flow_add_permutation(nf_flow *f, nf_permutation kind, uint64_t seed)
{
    int *perm;
    if (kind == NF_PERM_RANDOM) {
        nf_status st = perm_random(f->dim, seed, &perm);
        if (st)
            return st;
    } else if (kind == NF_PERM_REVERSE) {
        perm = malloc(sizeof(int) * f->dim);
        if (!perm)
            return nf_fail(NF_ERR_NOMEM, "out of memory");
        for (int i = 0; i < f->dim; i++)
            perm[i] = f->dim - 1 - i;
    } else {
        return nf_fail(NF_ERR_INVALID, "unknown permutation kind %d", (int)kind);
    }
    nf_status st = flow_add(f, permute_new(f->dim, perm));
    free(perm);
    return st;
}

nf_status nf_flow_add_linear_lu(nf_flow *f, uint64_t seed)
{
    int *perm;
    nf_status st = perm_random(f->dim, seed, &perm);
    if (st)
        return st;
    st = flow_add(f, linear_lu_new(f->dim, perm, NULL));
    free(perm);
    return st;
}

nf_status nf_flow_finalize(nf_flow *f, uint64_t seed)
{
    if (f->finalized)
        return nf_fail(NF_ERR_INVALID, "flow already finalized");
    nf_status st = flow_allocate_params(f);
    if (st)
        return st;
    flow_init_params(f, seed);
    return NF_OK;
}

nf_status nf_flow_set_standardization(nf_flow *f, const double *mean, const double *std)
{
    char why[256];
    if (!standardize_check(f->dim, mean, std, why, sizeof why))
        return nf_fail(NF_ERR_INVALID, "standardisation: %s", why);
    standardize_set(f->layers[flow_first(f)], mean, std);
    return NF_OK;
}

nf_status nf_flow_get_standardization(const nf_flow *f, double *mean, double *std)
{
    if (!f || !mean || !std)
        return nf_fail(NF_ERR_INVALID, "NULL flow or buffer");
    const double *m, *s;
    standardize_get(f->layers[flow_first(f)], &m, &s);
    memcpy(mean, m, sizeof(double) * f->dim);
    memcpy(std, s, sizeof(double) * f->dim);
    return NF_OK;
}

nf_status nf_flow_set_context_dim(nf_flow *f, int context_dim)
{
    if (!f || f->finalized || f->n_layers > flow_first(f) + 1 || f->mog)
        return nf_fail(NF_ERR_INVALID, "the context is set before the first layer is added");
    if (context_dim < 0 || context_dim > NF_MAX_CONTEXT)
        return nf_fail(NF_ERR_INVALID, "context of %d values out of range 0..%d", context_dim, NF_MAX_CONTEXT);
    f->context_dim = context_dim;
    return NF_OK;
}

nf_status nf_flow_set_context_columns(nf_flow *f, const char *columns)
{
    if (!f || !f->context_dim)
        return nf_fail(NF_ERR_INVALID, "only a conditional model has context columns");
    char *copy = NULL;
    if (columns && !(copy = malloc(strlen(columns) + 1)))
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    if (copy)
        strcpy(copy, columns);
    free(f->context_columns);
    f->context_columns = copy;
    return NF_OK;
}

const char *nf_flow_context_columns(const nf_flow *f) { return f ? f->context_columns : NULL; }

/* Mean and standard deviation of each context column, in double; a column
 * with no spread (below 1e-12 of its magnitude) keeps scale 1. */
static nf_status fit_context(nf_flow *f, const float *context, size_t rows)
{
    int nc = f->context_dim;
    double *mean = calloc((size_t)nc * 2, sizeof(double));
    if (!mean)
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    double *std = mean + nc;
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < nc; j++)
            mean[j] += context[r * nc + j];
    for (int j = 0; j < nc; j++)
        mean[j] /= (double)rows;
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < nc; j++) {
            double d = context[r * nc + j] - mean[j];
            std[j] += d * d;
        }
    for (int j = 0; j < nc; j++) {
        std[j] = sqrt(std[j] / (double)(rows - 1));
        if (!isfinite(mean[j]) || !isfinite(std[j])) {
            free(mean);
            return nf_fail(NF_ERR_INVALID, "context column %d is not finite", j);
        }
        if (!(std[j] > 1e-12 * fmax(1, fabs(mean[j]))))
            std[j] = 1;
    }
    free(f->context_mean);
    f->context_mean = mean;
    f->context_std = std;
    return NF_OK;
}

nf_status nf_flow_set_context_standardization(nf_flow *f, const double *mean, const double *std)
{
    if (!f || !f->context_dim)
        return nf_fail(NF_ERR_INVALID, "only a conditional model has a context standardisation");
    int nc = f->context_dim;
    char why[160];
    if (!mean || !std || !standardize_check(nc, mean, std, why, sizeof why))
        return nf_fail(NF_ERR_INVALID, "context standardisation: %s", mean && std ? why : "NULL mean or std");
    double *both = malloc(sizeof(double) * 2 * (size_t)nc);
    if (!both)
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    memcpy(both, mean, sizeof(double) * nc);
    memcpy(both + nc, std, sizeof(double) * nc);
    free(f->context_mean);
    f->context_mean = both;
    f->context_std = both + nc;
    return NF_OK;
}

nf_status nf_flow_fit_standardization_given(nf_flow *f, const float *x, const float *context, size_t rows)
{
    if (!f)
        return nf_fail(NF_ERR_INVALID, "NULL flow");
    if (f->context_dim && !context)
        return nf_fail(NF_ERR_INVALID, "the model is conditional on %d context values per row: pass them",
                       f->context_dim);
    if (!f->context_dim && context)
        return nf_fail(NF_ERR_INVALID, "the model takes no context");
    if (rows < 2)
        return nf_fail(NF_ERR_INVALID, "standardisation needs at least 2 rows, got %zu", rows);
    nf_status st = context ? fit_context(f, context, rows) : NF_OK;
    return st ? st : nf_flow_fit_standardization(f, x, rows);
}

/* With bounds: *mapped = the rows mapped to the real line (malloc'd),
 * after refusing any outside; without: NULL. */
static nf_status map_bounded(nf_flow *f, const float *x, size_t rows, float **mapped)
{
    *mapped = NULL;
    layer *b = flow_bounds(f);
    if (!b)
        return NF_OK;
    nf_status st = flow_check_bounds(f, x, rows, "training");
    if (st)
        return st;
    size_t dim = (size_t)f->dim;
    float *y = malloc(sizeof(float) * rows * dim);
    if (!y)
        return nf_fail(NF_ERR_NOMEM, "out of memory mapping %zu bounded rows", rows);
    for (size_t r0 = 0; r0 < rows; r0 += 1 << 16) {
        int n = rows - r0 < 1 << 16 ? (int)(rows - r0) : 1 << 16;
        bounds_to_z(b, n, x + r0 * dim, y + r0 * dim, NULL);
    }
    *mapped = y;
    return NF_OK;
}

nf_status nf_flow_set_bounds(nf_flow *f, const double *lo, const double *hi)
{
    if (!f)
        return nf_fail(NF_ERR_INVALID, "NULL flow");
    if (!lo != !hi)
        return nf_fail(NF_ERR_INVALID, "bounds: give both lo and hi, or neither (no bounds)");
    if (f->record.data_min || f->record.train_rows)
        return nf_fail(NF_ERR_INVALID, "bounds are set before the standardisation is fitted "
                                       "(nf_flow_fit_standardization): it is fitted to the mapped columns");
    layer *l = NULL;
    int any = 0;
    char why[256];
    if (lo && !bounds_check(f->dim, lo, hi, why, sizeof why))
        return nf_fail(NF_ERR_INVALID, "bounds: %s", why);
    for (int i = 0; lo && i < f->dim; i++)
        any |= !(isnan(lo[i]) || lo[i] == -INFINITY) || !(isnan(hi[i]) || hi[i] == INFINITY);
    if (any && !(l = bounds_new(f->dim, lo, hi)))
        return NF_ERR_NOMEM;
    flow_free_buffers(f); /* one activation buffer per layer */
    if (flow_bounds(f)) { /* new bounds replace the old */
        layer_free(f->layers[0]);
        memmove(f->layers, f->layers + 1, sizeof *f->layers * (size_t)--f->n_layers);
    }
    if (!l)
        return NF_OK;
    if (f->n_layers == f->cap) {
        int cap = f->cap ? 2 * f->cap : 8;
        layer **p = realloc(f->layers, sizeof *p * cap);
        if (!p) {
            layer_free(l);
            return nf_fail(NF_ERR_NOMEM, "out of memory adding the bounds layer");
        }
        f->layers = p;
        f->cap = cap;
    }
    memmove(f->layers + 1, f->layers, sizeof *f->layers * (size_t)f->n_layers++);
    f->layers[0] = l; /* no parameters and no state: the parameter layout stands */
    return NF_OK;
}

int nf_flow_get_bounds(const nf_flow *f, double *lo, double *hi)
{
    const layer *b = f ? flow_bounds(f) : NULL;
    const double *blo = NULL, *bhi = NULL;
    if (b)
        bounds_get(b, &blo, &bhi);
    for (int i = 0; f && i < f->dim; i++) {
        if (lo)
            lo[i] = b ? blo[i] : -INFINITY;
        if (hi)
            hi[i] = b ? bhi[i] : INFINITY;
    }
    return b != NULL;
}

size_t nf_flow_outside_bounds(const nf_flow *f, const float *x, size_t rows, size_t *first_row, int *first_col)
{
    const layer *b = f && x ? flow_bounds(f) : NULL;
    return b ? bounds_outside(b, x, rows, first_row, first_col) : 0;
}

/* An image model's standardisation is one per channel, pooled over its
 * pixels (the pixels' variances and the spread of their means), as the
 * image flows' papers scale whole images: per pixel, a border pixel that
 * is nearly always 0 got a tiny deviation, and the rare image with ink
 * there became an outlier of hundreds of deviations that the couplings
 * then amplified (training losses of 1e18; 3.68 test bits/dim after 600 s
 * on Fashion-MNIST, against 3.5 pooled: bench/RESULTS.md). */
static void pool_channels(const nf_config *c, double *mean, double *std)
{
    int ch = c->image_shape[2], px = c->image_shape[0] * c->image_shape[1];
    for (int k = 0; k < ch; k++) {
        double m = 0, v = 0;
        for (int q = 0; q < px; q++)
            m += mean[(size_t)q * ch + k];
        m /= px;
        for (int q = 0; q < px; q++) {
            double sd = std[(size_t)q * ch + k], dm = mean[(size_t)q * ch + k] - m;
            v += sd * sd + dm * dm;
        }
        v = sqrt(v / px);
        for (int q = 0; q < px; q++) {
            mean[(size_t)q * ch + k] = m;
            std[(size_t)q * ch + k] = v;
        }
    }
}

nf_status nf_flow_fit_standardization(nf_flow *f, const float *x, size_t rows)
{
    if (!f)
        return nf_fail(NF_ERR_INVALID, "NULL flow");
    int dim = f->dim;
    if (rows < 2)
        return nf_fail(NF_ERR_INVALID, "standardisation needs at least 2 rows, got %zu", rows);
    float *mapped = NULL; /* with bounds: everything below is of the mapped rows */
    nf_status st = map_bounded(f, x, rows, &mapped);
    if (st)
        return st;
    if (mapped)
        x = mapped;
    double *mean = calloc((size_t)dim * 2, sizeof(double));
    double *lo = malloc(sizeof(double) * dim), *hi = malloc(sizeof(double) * dim);
    if (!mean || !lo || !hi) {
        free(mapped);
        free(mean);
        free(lo);
        free(hi);
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    }
    double *std = mean + dim;
    for (int i = 0; i < dim; i++) {
        lo[i] = INFINITY;
        hi[i] = -INFINITY;
    }
    for (size_t r = 0; r < rows; r++)
        for (int i = 0; i < dim; i++) {
            double v = x[r * dim + i];
            mean[i] += v;
            if (v < lo[i]) lo[i] = v;
            if (v > hi[i]) hi[i] = v;
        }
    for (int i = 0; i < dim; i++)
        mean[i] /= (double)rows;
    for (size_t r = 0; r < rows; r++)
        for (int i = 0; i < dim; i++) {
            double d = x[r * dim + i] - mean[i];
            std[i] += d * d;
        }
    for (int i = 0; i < dim && !st; i++) {
        std[i] = sqrt(std[i] / (double)(rows - 1));
        if (!(std[i] > 0))
            st = nf_fail(NF_ERR_INVALID, "column %d is constant (%g): a density over it does not exist", i,
                         mean[i]);
    }
    if (!st && f->has_config && model_is_image(f->config.model))
        pool_channels(&f->config, mean, std);
    if (!st)
        st = nf_flow_set_standardization(f, mean, std);
    if (!st && f->has_config && f->config.whiten)
        st = flow_fit_whitening(f, x, rows);
    if (!st) {
        free(f->record.data_min);
        free(f->record.data_max);
        f->record.data_min = lo;
        f->record.data_max = hi;
        lo = hi = NULL;
        f->record.train_rows = (int64_t)rows;
    }
    free(mapped);
    free(mean);
    free(lo);
    free(hi);
    return st;
}
