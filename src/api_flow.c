/* The public flow API: building, densities, sampling, codes. A thin bridge
 * from float buffers to the internal layers (src/flow.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "flow.h"
#include "kern.h"

enum { EVAL_CHUNK = 1024 }; /* rows per pass: a 1024 x 512 layer of activations stays in cache */

nf_status nf_flow_new(nf_flow **out, int dim, nf_base base)
{
    *out = NULL;
    if (dim < 1 || dim > 100000)
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
    f->val_ll = f->train_ll = f->test_ll = NAN;
    nf_status st = flow_add(f, standardize_new(dim, NULL, NULL));
    if (st) {
        nf_flow_free(f);
        return st;
    }
    *out = f;
    return NF_OK;
}

void nf_flow_free(nf_flow *f)
{
    if (!f)
        return;
    flow_free_buffers(f);
    for (int l = 0; l < f->n_layers; l++)
        layer_free(f->layers[l]);
    free(f->layers);
    mog_free(f->mog);
    k_free(f->params);
    free(f->state);
    free(f->data_min);
    free(f->data_max);
    free(f->gauss);
    free(f);
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
    return NF_OK;
}

static nf_status add_coupling(nf_flow *f, int affine, nf_partition part, const int *user, int flip, int hidden,
                              int hidden_layers, nf_activation act, double bound)
{
    if (f->dim < 2)
        return nf_fail(NF_ERR_INVALID, "coupling layers need at least 2 dimensions");
    if ((unsigned)act > NF_ACT_TANH)
        return nf_fail(NF_ERR_INVALID, "unknown activation %d", (int)act);
    int *mask = malloc(sizeof(int) * f->dim);
    if (!mask)
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    nf_status st = make_mask(f, part, user, flip, mask);
    if (!st)
        st = flow_add(f, coupling_new(f->dim, affine, mask, hidden, hidden_layers,
                                      act == NF_ACT_TANH ? K_ACT_TANH : K_ACT_RELU, bound));
    free(mask);
    return st;
}

nf_status nf_flow_add_additive_coupling(nf_flow *f, nf_partition part, const int *mask, int flip, int hidden,
                                        int hidden_layers, nf_activation act)
{
    return add_coupling(f, 0, part, mask, flip, hidden, hidden_layers, act, 0);
}

nf_status nf_flow_add_affine_coupling(nf_flow *f, nf_partition part, const int *mask, int flip, int hidden,
                                      int hidden_layers, nf_activation act, double bound)
{
    if (!(bound >= 0 && bound < 100))
        return nf_fail(NF_ERR_INVALID, "log-scale bound %g out of range [0, 100) (0: unbounded)", bound);
    return add_coupling(f, 1, part, mask, flip, hidden, hidden_layers, act, bound);
}

nf_status nf_flow_add_rescale(nf_flow *f) { return flow_add(f, rescale_new(f->dim)); }

nf_status flow_random_perm(int dim, uint64_t seed, int **out)
{
    int64_t *idx = malloc(sizeof(int64_t) * dim);
    int *perm = malloc(sizeof(int) * dim);
    if (!idx || !perm) {
        free(idx);
        free(perm);
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    }
    rng r;
    rng_seed(&r, seed);
    for (int i = 0; i < dim; i++)
        idx[i] = i;
    rng_shuffle(&r, idx, dim);
    for (int i = 0; i < dim; i++)
        perm[i] = (int)idx[i];
    free(idx);
    *out = perm;
    return NF_OK;
}

nf_status nf_flow_add_permutation(nf_flow *f, nf_permutation kind, uint64_t seed)
{
    int *perm;
    if (kind == NF_PERM_RANDOM) {
        nf_status st = flow_random_perm(f->dim, seed, &perm);
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
    nf_status st = flow_random_perm(f->dim, seed, &perm);
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

int nf_flow_dim(const nf_flow *f) { return f->dim; }
size_t nf_flow_param_count(const nf_flow *f) { return f->n_params; }

nf_status nf_flow_set_standardization(nf_flow *f, const double *mean, const double *std)
{
    char why[256];
    if (!standardize_check(f->dim, mean, std, why, sizeof why))
        return nf_fail(NF_ERR_INVALID, "standardisation: %s", why);
    standardize_set(f->layers[0], mean, std);
    return NF_OK;
}

nf_status nf_flow_get_standardization(const nf_flow *f, double *mean, double *std)
{
    if (!f || !mean || !std)
        return nf_fail(NF_ERR_INVALID, "NULL flow or buffer");
    const double *m, *s;
    standardize_get(f->layers[0], &m, &s);
    memcpy(mean, m, sizeof(double) * f->dim);
    memcpy(std, s, sizeof(double) * f->dim);
    return NF_OK;
}

nf_status nf_flow_fit_standardization(nf_flow *f, const float *x, size_t rows)
{
    int dim = f->dim;
    if (rows < 2)
        return nf_fail(NF_ERR_INVALID, "standardisation needs at least 2 rows, got %zu", rows);
    double *mean = calloc((size_t)dim * 2, sizeof(double));
    double *lo = malloc(sizeof(double) * dim), *hi = malloc(sizeof(double) * dim);
    if (!mean || !lo || !hi) {
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
    nf_status st = NF_OK;
    for (int i = 0; i < dim && !st; i++) {
        std[i] = sqrt(std[i] / (double)(rows - 1));
        if (!(std[i] > 0))
            st = nf_fail(NF_ERR_INVALID, "column %d is constant (%g): a density over it does not exist", i + 1,
                         mean[i]);
    }
    if (!st)
        st = nf_flow_set_standardization(f, mean, std);
    if (!st && f->has_config && f->config.whiten)
        st = flow_fit_whitening(f, x, rows);
    if (!st) {
        free(f->data_min);
        free(f->data_max);
        f->data_min = lo;
        f->data_max = hi;
        lo = hi = NULL;
        f->train_rows = (int64_t)rows;
    }
    free(mean);
    free(lo);
    free(hi);
    return st;
}

static nf_status ready(const nf_flow *f, const void *buf, size_t rows)
{
    if (!f || !f->finalized)
        return nf_fail(NF_ERR_INVALID, "flow is not finalized");
    if (rows && !buf)
        return nf_fail(NF_ERR_INVALID, "NULL buffer");
    return NF_OK;
}

static int chunk_rows(size_t rows) { return rows < EVAL_CHUNK ? (int)rows : EVAL_CHUNK; }

nf_status nf_flow_log_prob(nf_flow *f, const float *x, size_t rows, double *log_prob)
{
    nf_status st = ready(f, x, rows);
    if (st || !rows || (st = flow_reserve(f, chunk_rows(rows))))
        return st;
    flow_set_inference(f, 1);
    for (size_t r0 = 0; r0 < rows; r0 += EVAL_CHUNK) {
        int n = chunk_rows(rows - r0);
        flow_log_prob_rows(f, n, x + r0 * f->dim, log_prob + r0);
    }
    flow_set_inference(f, 0);
    return NF_OK;
}

nf_status nf_flow_gaussian_log_prob(nf_flow *f, const float *x, size_t rows, double *log_prob)
{
    nf_status st = ready(f, x, rows);
    if (!st && !f->gauss)
        st = nf_fail(NF_ERR_UNSUPPORTED, "the model has no Gaussian fit (trained without whitening)");
    if (st || !rows || (st = flow_reserve(f, chunk_rows(rows))))
        return st;
    for (size_t r0 = 0; r0 < rows; r0 += EVAL_CHUNK)
        flow_gauss_log_prob(f, chunk_rows(rows - r0), x + r0 * f->dim, log_prob + r0);
    return NF_OK;
}

nf_status nf_flow_encode(nf_flow *f, const float *x, size_t rows, float *z)
{
    nf_status st = ready(f, x, rows);
    if (st || !rows || (st = flow_reserve(f, chunk_rows(rows))))
        return st;
    flow_set_inference(f, 1);
    for (size_t r0 = 0; r0 < rows; r0 += EVAL_CHUNK) {
        int n = chunk_rows(rows - r0);
        flow_x2z(f, n, x + r0 * f->dim, f->logp);
        memcpy(z + r0 * f->dim, f->act[f->n_layers - 1], sizeof(float) * n * f->dim);
    }
    flow_set_inference(f, 0);
    return NF_OK;
}

nf_status nf_flow_decode(nf_flow *f, const float *z, size_t rows, float *x)
{
    nf_status st = ready(f, z, rows);
    if (st || !rows || (st = flow_reserve(f, chunk_rows(rows))))
        return st;
    flow_set_inference(f, 1);
    for (size_t r0 = 0; r0 < rows; r0 += EVAL_CHUNK) {
        int n = chunk_rows(rows - r0);
        flow_z2x(f, n, z + r0 * f->dim, x + r0 * f->dim, NULL);
    }
    flow_set_inference(f, 0);
    return NF_OK;
}

nf_status nf_flow_sample(nf_flow *f, size_t rows, uint64_t seed, float *x, double *log_prob)
{
    nf_status st = ready(f, x, rows);
    if (st || !rows || (st = flow_reserve(f, chunk_rows(rows))))
        return st;
    int mix = f->gauss && f->tail_weight > 0, p = f->dim;
    int *picked = mix ? malloc(sizeof(int) * EVAL_CHUNK) : NULL;
    real *drawn = mix ? malloc(sizeof(real) * EVAL_CHUNK * p) : NULL;
    if (mix && (!picked || !drawn)) {
        free(picked);
        free(drawn);
        return nf_fail(NF_ERR_NOMEM, "out of memory for sampling");
    }
    rng r, pick; /* the Gaussian component's rows and draws: a stream of their own */
    rng_seed(&r, seed);
    rng_seed(&pick, seed ^ 0x7461696C5F6D6978ull);
    real *z = f->act[0];
    flow_set_inference(f, 1);
    for (size_t r0 = 0; r0 < rows; r0 += EVAL_CHUNK) {
        int n = chunk_rows(rows - r0);
        real *xo = x + r0 * p;
        flow_base_sample(f, &r, n, z);
        if (log_prob)
            flow_base_log_prob(f, n, z, log_prob + r0);
        flow_z2x(f, n, z, xo, f->logp);
        if (log_prob)
            for (int i = 0; i < n; i++)
                log_prob[r0 + i] -= f->logp[i];
        if (!mix)
            continue;
        int k = 0;
        for (int i = 0; i < n; i++)
            if (rng_uniform(&pick) < f->tail_weight) {
                for (int j = 0; j < p; j++)
                    drawn[(size_t)k * p + j] = (real)rng_normal(&pick);
                flow_gauss_draw(f, 1, drawn + (size_t)k * p, xo + (size_t)i * p);
                memcpy(drawn + (size_t)k * p, xo + (size_t)i * p, sizeof(real) * p);
                picked[k++] = i;
            }
        if (!log_prob)
            continue;
        if (k) { /* the flow's density where the Gaussian drew */
            flow_x2z(f, k, drawn, f->logp);
            for (int j = 0; j < k; j++)
                log_prob[r0 + picked[j]] = f->logp[j];
        }
        flow_mix_tail(f, n, xo, log_prob + r0);
    }
    flow_set_inference(f, 0);
    free(picked);
    free(drawn);
    return NF_OK;
}
