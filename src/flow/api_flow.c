/* The public flow API, use: densities, sampling, codes, sizes, freeing. A
 * thin bridge from float buffers to the flow's passes (src/flow/flow.c),
 * in chunks of rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "flow/flow.h"
#include "layers/bounds.h"
#include "flow/gaussian_fit.h"
#include "core/kern.h"

/* Sampling's passes are fewer rows: a process that only samples touches
 * every buffer first (page faults, zeroing), and a quarter of them reused
 * four times cost less (nsf, 1,000 rows of 63 columns: 160 -> 70 ms); a
 * multiple of base_sample_at's 64-row blocks, so the draw is the same. */
enum { SAMPLE_CHUNK = 256 };

void nf_flow_free(nf_flow *f)
{
    if (!f)
        return;
    flow_free_buffers(f);
    for (int l = 0; l < f->n_layers; l++)
        layer_free(f->layers[l]);
    free(f->layers);
    mog_free(f->mog);
    gmm_free(f->gmm);
    k_free(f->params);
    flow_live_free(&f->opt.live);
    free(f->state);
    free(f->record.data_min);
    free(f->record.data_max);
    free(f->record.race);
    free(f->fit.chol);
    free(f->context_mean); /* context_std lies in the same block */
    free(f->context_columns);
    free(f->scored.log_prob);
    free(f);
}

int nf_flow_dim(const nf_flow *f) { return f->dim; }
size_t nf_flow_param_count(const nf_flow *f) { return f->n_params; }

static nf_status ready(const nf_flow *f, const void *buf, size_t rows)
{
    if (!f || !f->finalized)
        return nf_fail(NF_ERR_INVALID, "flow is not finalized");
    if (rows && !buf)
        return nf_fail(NF_ERR_INVALID, "NULL buffer");
    return NF_OK;
}

/* ... and its context: present exactly when the flow is conditional. */
static nf_status ready_given(const nf_flow *f, const void *buf, const float *context, size_t rows)
{
    nf_status st = ready(f, buf, rows);
    if (st)
        return st;
    if (f->context_dim && rows && !context)
        return nf_fail(NF_ERR_INVALID, "the model is conditional on %d context values per row: pass them "
                                       "(nf_flow_*_given)", f->context_dim);
    if (!f->context_dim && context)
        return nf_fail(NF_ERR_INVALID, "the model takes no context");
    return NF_OK;
}

int nf_flow_context_dim(const nf_flow *f) { return f ? f->context_dim : 0; }

/* Around every pass that only computes: the layers in inference mode and
   denormals flushed (k_fast_fp_begin); the end gives the caller's setting back. */
static unsigned inference_begin(nf_flow *f)
{
    flow_set_inference(f, 1);
    return k_fast_fp_begin();
}

static void inference_end(nf_flow *f, unsigned fp)
{
    k_fast_fp_end(fp);
    flow_set_inference(f, 0);
}

static int chunk_rows(const nf_flow *f, size_t rows)
{
    return flow_chunk(f, rows < FLOW_EVAL_CHUNK ? (int)rows : FLOW_EVAL_CHUNK);
}

nf_status nf_flow_log_prob_given(nf_flow *f, const float *x, const float *context, size_t rows, double *log_prob)
{
    nf_status st = ready_given(f, x, context, rows);
    if (st || !rows || (st = flow_reserve_eval(f, chunk_rows(f, rows))))
        return st;
    unsigned fp = inference_begin(f);
    for (size_t r0 = 0; r0 < rows; r0 += (size_t)flow_eval_rows(f)) {
        int n = chunk_rows(f, rows - r0);
        flow_load_context(f, context, r0, n);
        flow_log_prob_rows(f, n, x + r0 * f->dim, log_prob + r0);
    }
    inference_end(f, fp);
    return NF_OK;
}

nf_status nf_flow_log_prob(nf_flow *f, const float *x, size_t rows, double *log_prob)
{
    return nf_flow_log_prob_given(f, x, NULL, rows, log_prob);
}

nf_status nf_flow_gaussian_log_prob(nf_flow *f, const float *x, size_t rows, double *log_prob)
{
    nf_status st = ready(f, x, rows);
    if (!st && !flow_has_fit(f))
        st = nf_fail(NF_ERR_UNSUPPORTED, "the model has no Gaussian fit (trained without whitening)");
    if (st || !rows || (st = flow_reserve_eval(f, chunk_rows(f, rows))))
        return st;
    for (size_t r0 = 0; r0 < rows; r0 += (size_t)flow_eval_rows(f))
        flow_gauss_log_prob(f, chunk_rows(f, rows - r0), x + r0 * f->dim, log_prob + r0);
    return NF_OK;
}

/* A code or a row that is not finite cannot be written and read back (the
 * readers refuse NaN and Inf): a value beyond what the model's float
 * arithmetic represents is reported, never passed on. */
static nf_status check_finite(const float *v, size_t rows, int dim, const char *what, const char *from)
{
    size_t bad = 0, first = 0;
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < dim; j++)
            if (!isfinite(v[r * dim + j])) {
                if (!bad++)
                    first = r;
                break;
            }
    if (!bad)
        return NF_OK;
    return nf_fail(NF_ERR_NONFINITE, "%zu of %zu rows have no finite %s (row %zu, counting from 0, is the first): "
                   "their %s overflow the model's float arithmetic", bad, rows, what, first, from);
}

nf_status nf_flow_encode_given(nf_flow *f, const float *x, const float *context, size_t rows, float *z)
{
    nf_status st = ready_given(f, x, context, rows);
    if (!st && rows && (st = flow_check_bounds(f, x, rows, "data"))) { /* outside: no latent code */
        char why[512];
        snprintf(why, sizeof why, "%s", nf_last_error());
        return nf_fail(st, "%s: it has no latent code", why);
    }
    if (st || !rows || (st = flow_reserve_eval(f, chunk_rows(f, rows))))
        return st;
    unsigned fp = inference_begin(f);
    for (size_t r0 = 0; r0 < rows; r0 += (size_t)flow_eval_rows(f)) {
        int n = chunk_rows(f, rows - r0);
        flow_load_context(f, context, r0, n);
        flow_x2z(f, n, x + r0 * f->dim, f->work.logp);
        memcpy(z + r0 * f->dim, f->work.act[f->n_layers - 1], sizeof(float) * n * f->dim);
    }
    inference_end(f, fp);
    return check_finite(z, rows, f->dim, "code", "values");
}

nf_status nf_flow_encode(nf_flow *f, const float *x, size_t rows, float *z)
{
    return nf_flow_encode_given(f, x, NULL, rows, z);
}

nf_status nf_flow_decode_given(nf_flow *f, const float *z, const float *context, size_t rows, float *x)
{
    nf_status st = ready_given(f, z, context, rows);
    if (st || !rows || (st = flow_reserve_eval(f, chunk_rows(f, rows))))
        return st;
    unsigned fp = inference_begin(f);
    for (size_t r0 = 0; r0 < rows; r0 += (size_t)flow_eval_rows(f)) {
        int n = chunk_rows(f, rows - r0);
        flow_load_context(f, context, r0, n);
        flow_z2x(f, n, z + r0 * f->dim, x + r0 * f->dim, NULL);
    }
    inference_end(f, fp);
    return check_finite(x, rows, f->dim, "value", "codes");
}

nf_status nf_flow_decode(nf_flow *f, const float *z, size_t rows, float *x)
{
    return nf_flow_decode_given(f, z, NULL, rows, x);
}

nf_status nf_flow_sample_given(nf_flow *f, const float *context, size_t rows, uint64_t seed, float *x,
                               double *log_prob)
{
    return nf_flow_sample_tempered(f, context, rows, seed, 1.0, x, log_prob);
}

nf_status nf_flow_sample_tempered(nf_flow *f, const float *context, size_t rows, uint64_t seed, double temperature,
                                  float *x, double *log_prob)
{
    nf_status st = ready_given(f, x, context, rows);
    if (!st && !(temperature > 0 && temperature <= 100))
        st = nf_fail(NF_ERR_INVALID, "temperature %g out of range (0, 100]", temperature);
    if (!st && temperature != 1 && (f->mog || f->gmm || f->base.kind == NF_BASE_UNIFORM))
        st = nf_fail(NF_ERR_UNSUPPORTED, "a temperature scales a normal or logistic base's draws: this model's base "
                                         "is a %s", f->mog ? "mixture (MoG)" : f->gmm ? "gmm" : "uniform box");
    int chunk = flow_chunk(f, SAMPLE_CHUNK); /* a multiple of the base's 64-row blocks either way */
    if (st || !rows || (st = flow_reserve_eval(f, rows < (size_t)chunk ? (int)rows : chunk)))
        return st;
    /* The fit is of x's marginal: a conditional model's samples come from
     * the flow alone, so that none ignores its context (the floor stays in
     * the densities, w of their mass; src/flow/gaussian_fit.c). */
    int mix = flow_has_fit(f) && f->fit.tail_weight > 0, draw_fit = mix && !f->context_dim, p = f->dim;
    int *picked = mix ? malloc(sizeof(int) * SAMPLE_CHUNK) : NULL;
    real *drawn = mix ? malloc(sizeof(real) * SAMPLE_CHUNK * p) : NULL;
    real *drawn_context = mix && f->context_dim ? malloc(sizeof(real) * SAMPLE_CHUNK * f->context_dim) : NULL;
    if (mix && (!picked || !drawn || (f->context_dim && !drawn_context))) {
        free(picked);
        free(drawn);
        free(drawn_context);
        return nf_fail(NF_ERR_NOMEM, "out of memory for sampling");
    }
    rng r, pick; /* the Gaussian component's rows and draws: a stream of their own */
    rng_seed(&r, seed);
    rng_seed(&pick, seed ^ 0x7461696C5F6D6978ull);
    real *z = f->work.act[0];
    uint64_t key = flow_base_key(f, &r); /* one draw for all the chunks */
    unsigned fp = inference_begin(f);
    for (size_t r0 = 0; r0 < rows; r0 += (size_t)chunk) {
        int n = rows - r0 < (size_t)chunk ? (int)(rows - r0) : chunk;
        real *xo = x + r0 * p;
        flow_load_context(f, context, r0, n);
        flow_base_sample_at(f, &r, key, r0, n, z);
        if (temperature != 1)
            for (size_t i = 0; i < (size_t)n * p; i++)
                z[i] = (real)(z[i] * temperature);
        if (log_prob)
            flow_base_log_prob(f, n, z, log_prob + r0);
        flow_z2x(f, n, z, xo, f->work.logp);
        if (log_prob)
            for (int i = 0; i < n; i++)
                log_prob[r0 + i] -= f->work.logp[i];
        if (!mix)
            continue;
        int k = 0;
        for (int i = 0; i < n && draw_fit; i++)
            if (rng_uniform(&pick) < f->fit.tail_weight) {
                for (int j = 0; j < p; j++)
                    drawn[(size_t)k * p + j] = (real)(rng_normal(&pick) * temperature);
                flow_gauss_draw(f, 1, drawn + (size_t)k * p, xo + (size_t)i * p);
                memcpy(drawn + (size_t)k * p, xo + (size_t)i * p, sizeof(real) * p);
                picked[k++] = i;
            }
        if (!log_prob)
            continue;
        if (k) { /* the flow's density where the Gaussian drew, given those rows' context */
            for (int j = 0; j < k && drawn_context; j++)
                memcpy(drawn_context + (size_t)j * f->context_dim, f->work.context + (size_t)picked[j] * f->context_dim,
                       sizeof(real) * f->context_dim);
            flow_point_context(f, drawn_context, NULL);
            flow_x2z(f, k, drawn, f->work.logp);
            for (int j = 0; j < k; j++)
                log_prob[r0 + picked[j]] = f->work.logp[j];
        }
        flow_mix_tail(f, n, xo, log_prob + r0);
    }
    inference_end(f, fp);
    free(picked);
    free(drawn);
    free(drawn_context);
    return NF_OK;
}

size_t nf_flow_count_far_from_data(const nf_flow *f, const float *x, size_t rows)
{
    size_t far = 0;
    if (!f || !x || !f->record.data_min)
        return 0;
    /* with bounds the training range is of the mapped columns: rows are mapped
     * as the model maps them (a row on or beyond a bound maps to +-inf: far) */
    const layer *b = flow_bounds(f);
    real *mapped = b ? malloc(sizeof(real) * (size_t)f->dim) : NULL;
    if (b && !mapped)
        return 0;
    for (size_t r = 0; r < rows; r++) {
        const float *row = x + r * (size_t)f->dim;
        if (b) {
            bounds_to_z(b, 1, row, mapped, NULL);
            row = mapped;
        }
        far += (size_t)flow_far_from_data(f, row);
    }
    free(mapped);
    return far;
}

nf_status nf_flow_sample(nf_flow *f, size_t rows, uint64_t seed, float *x, double *log_prob)
{
    return nf_flow_sample_given(f, NULL, rows, seed, x, log_prob);
}
