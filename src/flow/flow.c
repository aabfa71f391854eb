#include "flow/flow.h"
#include "layers/conv_coupling.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/kern.h"
#include "flow/base_ops.h"
#include "layers/bounds.h"

layer *flow_bounds(const nf_flow *f)
{
    return f->n_layers > 0 && bounds_is(f->layers[0]) ? f->layers[0] : NULL;
}

int flow_first(const nf_flow *f) { return flow_bounds(f) ? 1 : 0; }

nf_status flow_check_bounds(const nf_flow *f, const real *x, size_t rows, const char *what)
{
    layer *b = flow_bounds(f);
    size_t r = 0;
    int c = 0;
    if (!b || !x || !bounds_outside(b, x, rows, &r, &c))
        return NF_OK;
    const double *lo, *hi;
    bounds_get(b, &lo, &hi);
    return nf_fail(NF_ERR_INVALID, "%s row %zu (0-based), column %d: %.9g is not strictly inside the column's bounds "
                   "(%g, %g)", what, r, c, (double)x[r * f->dim + c], lo[c], hi[c]);
}

nf_status flow_add(nf_flow *f, layer *l)
{
    if (!l) { /* the constructor's message and code stand: NF_ERR_NOMEM for an allocation */
        nf_status code = nf_fail_code();
        return code != NF_OK ? code : nf_fail(NF_ERR_NOMEM, "out of memory creating a layer");
    }
    if (f->finalized) {
        layer_free(l);
        return nf_fail(NF_ERR_INVALID, "layers cannot be added after nf_flow_finalize");
    }
    if (f->n_layers == f->cap) {
        int cap = f->cap ? 2 * f->cap : 8;
        layer **p = realloc(f->layers, sizeof *p * cap);
        if (!p) {
            layer_free(l);
            return nf_fail(NF_ERR_NOMEM, "out of memory adding a layer");
        }
        f->layers = p;
        f->cap = cap;
    }
    f->layers[f->n_layers++] = l;
    if (l->ops == &conv_coupling_ops)
        f->row_cap = FLOW_IMAGE_CHUNK;
    return NF_OK;
}

/* Lays the parameters out in one buffer; params, grads and both Adam
 * moments share a single allocation. */
nf_status flow_allocate_params(nf_flow *f)
{
    size_t n = 0;
    for (int l = 0; l < f->n_layers; l++) {
        f->layers[l]->p_off = n;
        n += f->layers[l]->ops->n_params(f->layers[l]);
    }
    const flow_base_ops *base = flow_base_of(f);
    base->place_params(f, n);
    n += base->n_params(f);
    f->n_params = n;
    size_t ns = 0;
    for (int l = 0; l < f->n_layers; l++)
        ns += f->layers[l]->ops->n_state ? f->layers[l]->ops->n_state(f->layers[l]) : 0;
    f->n_state = ns;
    f->params = k_alloc(sizeof(real) * 4 * (n ? n : 1)); /* zeroed */
    f->state = calloc(ns ? ns : 1, sizeof(real));
    if (!f->params || !f->state)
        return nf_fail(NF_ERR_NOMEM, "out of memory for %zu parameters", n);
    ns = 0;
    for (int l = 0; l < f->n_layers; l++) {
        layer *ly = f->layers[l];
        ly->state = f->state + ns;
        ns += ly->ops->n_state ? ly->ops->n_state(ly) : 0;
    }
    f->opt.grads = f->params + n;
    f->opt.m = f->opt.grads + n;
    f->opt.v = f->opt.m + n;
    f->finalized = 1;
    return NF_OK;
}

void flow_set_training(nf_flow *f, int training)
{
    for (int l = 0; l < f->n_layers; l++)
        f->layers[l]->training = training;
}

void flow_set_dropout(nf_flow *f, double rate, uint64_t key, size_t first_row)
{
    for (int l = 0; l < f->n_layers; l++)
        if (f->layers[l]->ops->set_dropout) {
            k_dropout d = {(real)rate, k_mix64(key + (uint64_t)l + 1), first_row};
            f->layers[l]->ops->set_dropout(f->layers[l], &d);
        }
    flow_base_of(f)->set_dropout(f, (k_dropout){(real)rate, k_mix64(key + (uint64_t)f->n_layers + 1), first_row});
}

/* The shared scratch goes to the layers that use it in every pass no
 * backward pass follows, in a trained flow too: its own buffers are
 * touched only for its batches' rows, and the validation passes of
 * training, 1,024-row chunks, would otherwise touch every MADE's (a MAF
 * (5) 2 x 512 at batch 100: 27 MB of fresh pages each run, not 5). */
void flow_set_inference(nf_flow *f, int inference)
{
    for (int l = 0; l < f->n_layers; l++) {
        layer *ly = f->layers[l];
        ly->inference = inference;
        ly->scratch = inference && ly->ops->scratch_floats ? f->work.scratch : NULL;
    }
}

void flow_init_params(nf_flow *f, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    for (int l = 0; l < f->n_layers; l++) {
        layer *ly = f->layers[l];
        real *p = f->params + ly->p_off;
        ly->ops->init_params(ly, p, &r);
        if (ly->ops->init_state)
            ly->ops->init_state(ly);
    }
    flow_base_of(f)->init_params(f, &r);
    flow_constrain(f, f->params);
}

void flow_constrain(const nf_flow *f, real *p)
{
    for (int l = 0; l < f->n_layers; l++) {
        layer *ly = f->layers[l];
        if (ly->ops->constrain)
            ly->ops->constrain(ly, p + ly->p_off);
    }
    const flow_base_ops *base = flow_base_of(f);
    if (base->constrain)
        base->constrain(f, p);
}

/* Pinned gaps shorter than this (values) count as live. */
enum { LIVE_MIN_GAP = 32 };

static nf_status live_ranges(size_t n, const real *probe, flow_live *out)
{
    size_t count = 0, cap = 16, *r = malloc(sizeof(size_t) * 2 * cap);
    if (!r)
        return NF_ERR_NOMEM;
    for (size_t i = 0; i < n;) {
        while (i < n && probe[i] == 0)
            i++;
        if (i == n)
            break;
        size_t begin = i;
        for (;;) { /* to the end of the range, across short gaps */
            while (i < n && probe[i] != 0)
                i++;
            size_t gap = i;
            while (gap < n && gap - i < LIVE_MIN_GAP && probe[gap] == 0)
                gap++;
            if (gap == n || gap - i >= LIVE_MIN_GAP)
                break;
            i = gap;
        }
        if (count == cap) {
            size_t *grown = realloc(r, sizeof(size_t) * 4 * cap);
            if (!grown) {
                free(r);
                return NF_ERR_NOMEM;
            }
            r = grown;
            cap *= 2;
        }
        r[2 * count] = begin;
        r[2 * count + 1] = i;
        count++;
    }
    out->count = count;
    out->ranges = r;
    return NF_OK;
}

nf_status flow_find_live(const nf_flow *f, real *scratch, flow_live *out)
{
    size_t n = f->n_params;
    for (size_t i = 0; i < n; i++)
        scratch[i] = 1;
    flow_constrain(f, scratch);
    nf_status st = live_ranges(n, scratch, out);
    memset(scratch, 0, sizeof(real) * n);
    return st;
}

void flow_live_free(flow_live *live)
{
    free(live->ranges);
    live->ranges = NULL;
    live->count = 0;
}

void flow_free_buffers(nf_flow *f)
{
    if (f->work.act)
        for (int l = 0; l < f->n_layers; l++)
            k_free(f->work.act[l]);
    free(f->work.act);
    k_free(f->work.dbuf[0]);
    k_free(f->work.dbuf[1]);
    free(f->work.ldj);
    free(f->work.logp);
    free(f->work.gauss_ldj);
    free(f->work.context);
    free(f->work.dcontext);
    k_free(f->work.scratch);
    for (int l = 0; l < f->n_layers; l++)
        f->layers[l]->scratch = NULL;
    f->work.context = f->work.dcontext = f->work.scratch = NULL;
    flow_point_context(f, NULL, NULL);
    f->work.act = NULL;
    f->work.dbuf[0] = f->work.dbuf[1] = NULL;
    f->work.ldj = f->work.logp = f->work.gauss_ldj = NULL;
    f->work.max_rows = f->work.own_rows = 0;
}

nf_status flow_reserve_rows(nf_flow *f, int rows, int backward_rows)
{
    if (rows < backward_rows)
        rows = backward_rows;
    if (rows <= f->work.max_rows && backward_rows <= f->work.own_rows)
        return NF_OK;
    rows = rows > f->work.max_rows ? rows : f->work.max_rows;
    backward_rows = backward_rows > f->work.own_rows ? backward_rows : f->work.own_rows;
    flow_free_buffers(f);
    size_t n = (size_t)rows * f->dim;
    f->work.act = calloc((size_t)f->n_layers, sizeof *f->work.act);
    f->work.dbuf[0] = k_alloc(sizeof(real) * n);
    f->work.dbuf[1] = k_alloc(sizeof(real) * n);
    f->work.ldj = malloc(sizeof(double) * rows);
    f->work.logp = malloc(sizeof(double) * rows);
    f->work.gauss_ldj = malloc(sizeof(double) * rows);
    int ok = f->work.act && f->work.dbuf[0] && f->work.dbuf[1] && f->work.ldj && f->work.logp && f->work.gauss_ldj;
    if (ok && f->context_dim) {
        f->work.context = calloc((size_t)rows * f->context_dim, sizeof(real));
        f->work.dcontext = calloc((size_t)rows * f->context_dim, sizeof(real));
        ok = f->work.context && f->work.dcontext;
    }
    for (int l = 0; ok && l < f->n_layers; l++) {
        f->work.act[l] = k_alloc(sizeof(real) * n);
        layer *ly = f->layers[l];
        ok = f->work.act[l] && ly->ops->reserve(ly, ly->ops->scratch_floats ? backward_rows : rows) == NF_OK;
    }
    if (ok)
        ok = flow_base_of(f)->reserve(f, rows) == NF_OK;
    size_t shared = 0; /* one scratch for all the layers: the largest any asks */
    for (int l = 0; l < f->n_layers; l++)
        if (f->layers[l]->ops->scratch_floats) {
            size_t want = f->layers[l]->ops->scratch_floats(f->layers[l], rows);
            shared = want > shared ? want : shared;
        }
    if (ok && shared) /* untouched until an inference pass uses it */
        ok = (f->work.scratch = k_alloc(sizeof(real) * shared)) != NULL;
    if (!ok) {
        flow_free_buffers(f);
        return nf_fail(NF_ERR_NOMEM, "out of memory for a batch of %d rows", rows);
    }
    f->work.max_rows = rows;
    f->work.own_rows = backward_rows;
    return NF_OK;
}

static const real *layer_params(const nf_flow *f, const layer *l) { return f->params + l->p_off; }

void flow_point_context(nf_flow *f, const real *context, real *dcontext)
{
    for (int l = 0; l < f->n_layers; l++)
        if (f->layers[l]->context_dim) {
            f->layers[l]->context = context;
            f->layers[l]->dcontext = dcontext;
        }
    flow_base_of(f)->point_context(f, context, dcontext);
}

void flow_load_context(nf_flow *f, const float *context, size_t r0, int rows)
{
    int nc = f->context_dim;
    if (!nc || !context)
        return;
    context += r0 * (size_t)nc;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < nc; j++) {
            double v = context[(size_t)r * nc + j];
            if (f->context_mean)
                v = (v - f->context_mean[j]) / f->context_std[j];
            f->work.context[(size_t)r * nc + j] = (real)v;
        }
    flow_point_context(f, f->work.context, NULL);
}

void flow_x2z(nf_flow *f, int rows, const real *x, double *logp)
{
    memset(f->work.ldj, 0, sizeof(double) * rows);
    const real *in = x;
    for (int l = 0; l < f->n_layers; l++) {
        layer *ly = f->layers[l];
        ly->ops->x2z(ly, layer_params(f, ly), rows, in, f->work.act[l], f->work.ldj);
        in = f->work.act[l];
    }
    flow_base_log_prob(f, rows, in, logp);
    for (int r = 0; r < rows; r++)
        logp[r] += f->work.ldj[r];
}

void flow_nll_backward(nf_flow *f, int rows, const real *x, real *grads, real *dx)
{
    flow_nll_backward_of(f, rows, x, rows, grads, dx);
}

void flow_nll_backward_of(nf_flow *f, int rows, const real *x, int total, real *grads, real *dx)
{
    const real w = (real)(-1.0 / total); /* d(-mean log p)/d log p_r */
    int last = f->n_layers - 1;
    real *dout = f->work.dbuf[0], *din = f->work.dbuf[1];
    flow_base_of(f)->grad(f, rows, f->work.act[last], w, dout, grads);
    for (int l = last; l >= 0; l--) {
        layer *ly = f->layers[l];
        const real *in = l > 0 ? f->work.act[l - 1] : x;
        real *d = l > 0 ? din : dx;
        real *dp = grads && ly->ops->n_params(ly) ? grads + ly->p_off : NULL;
        if (!d && !dp)
            break; /* nothing below needs a gradient */
        ly->ops->x2z_backward(ly, layer_params(f, ly), rows, in, f->work.act[l], dout, w, d, dp);
        real *t = dout;
        dout = din;
        din = t;
    }
}

uint64_t flow_base_key(const nf_flow *f, rng *r) { return flow_base_of(f)->keyed ? rng_next(r) : 0; }

void flow_base_sample(nf_flow *f, rng *r, int rows, real *z)
{
    flow_base_sample_at(f, r, flow_base_key(f, r), 0, rows, z);
}

void flow_base_sample_at(nf_flow *f, rng *r, uint64_t key, size_t first_row, int rows, real *z)
{
    flow_base_of(f)->sample(f, r, key, first_row, rows, z);
}

void flow_base_log_prob(nf_flow *f, int rows, const real *z, double *out)
{
    flow_base_of(f)->log_prob(f, rows, z, out);
}

void flow_z2x(nf_flow *f, int rows, const real *z, real *x, double *ldj)
{
    double *acc = ldj ? ldj : f->work.ldj;
    memset(acc, 0, sizeof(double) * rows);
    /* run the layers last to first, ping-ponging between two buffers and
     * writing the first layer's output straight into x */
    const real *in = z;
    for (int l = f->n_layers - 1; l >= 0; l--) {
        layer *ly = f->layers[l];
        real *out = l == 0 ? x : f->work.dbuf[l & 1];
        ly->ops->z2x(ly, layer_params(f, ly), rows, in, out, acc);
        in = out;
    }
}

void flow_z2x_cached(nf_flow *f, int rows, const real *z, real *x, double *ldj)
{
    int last = f->n_layers - 1;
    memset(ldj, 0, sizeof(double) * rows);
    memcpy(f->work.act[last], z, sizeof(real) * rows * f->dim);
    for (int l = last; l >= 0; l--) {
        layer *ly = f->layers[l];
        ly->ops->z2x(ly, layer_params(f, ly), rows, f->work.act[l], l > 0 ? f->work.act[l - 1] : x, ldj);
    }
}

void flow_z2x_backward(nf_flow *f, int rows, const real *x, const real *dx, real dldj, real *grads, real *dz)
{
    int last = f->n_layers - 1;
    real *dout = f->work.dbuf[0], *din = f->work.dbuf[1];
    memcpy(dout, dx, sizeof(real) * rows * f->dim);
    for (int l = 0; l <= last; l++) {
        layer *ly = f->layers[l];
        real *d = l < last ? din : dz;
        real *dp = grads && ly->ops->n_params(ly) ? grads + ly->p_off : NULL;
        ly->ops->z2x_backward(ly, layer_params(f, ly), rows, f->work.act[l], l > 0 ? f->work.act[l - 1] : x, dout, dldj, d,
                              dp);
        real *t = dout;
        dout = din;
        din = t;
    }
}

int flow_far_from_data(const nf_flow *f, const float *x)
{
    for (int i = 0; i < f->dim; i++) {
        double lo = f->record.data_min[i], hi = f->record.data_max[i], w = hi - lo;
        if (!(x[i] >= lo - w && x[i] <= hi + w))
            return 1;
    }
    return 0;
}

uint64_t flow_scored_key(const nf_flow *f, const float *x, const float *context, size_t rows, int chunk)
{
    uint64_t h = hash_size(0x73636F726564ull, rows);
    h = hash_size(h, (size_t)chunk);
    h = hash_size(h, f->n_params);
    h = hash_size(h, f->n_state);
    h = hash_bytes(h, f->params, sizeof(real) * f->n_params);
    h = hash_bytes(h, f->state, sizeof(real) * f->n_state);
    /* what else the density reads: the Gaussian fit and the context's standardisation */
    h = hash_bytes(h, f->fit.chol, sizeof(real) * (size_t)f->dim * f->dim);
    double fit[3] = {f->fit.log_det, f->fit.tail_weight, f->fit.identity};
    h = hash_bytes(h, fit, sizeof fit);
    h = hash_bytes(h, f->context_mean, sizeof(double) * 2 * (size_t)f->context_dim); /* context_std follows */
    h = hash_bytes(h, x, sizeof(float) * rows * (size_t)f->dim);
    return hash_bytes(h, f->context_dim ? context : NULL, sizeof(float) * rows * (size_t)f->context_dim);
}

void flow_scored_keep(nf_flow *f, uint64_t key, size_t rows, double *log_prob)
{
    free(f->scored.log_prob);
    f->scored = (flow_scored){key, rows, log_prob};
}

const double *flow_scored_find(const nf_flow *f, const float *x, const float *context, size_t rows, int chunk)
{
    const flow_scored *s = &f->scored;
    if (!s->log_prob || f->gmm || s->rows != rows || s->key != flow_scored_key(f, x, context, rows, chunk))
        return NULL;
    return s->log_prob;
}
