/* The public calls that build autoregressive flows: MAF / IAF layers, batch
 * normalisation and ActNorm, the MADE MoG base, and the ready-made MADE,
 * MADE MoG, MAF, MAF MoG, IAF and spline MAF architectures of
 * nf_flow_create. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "flow/flow.h"
#include "core/kern.h"
#include "core/perm.h"
#include "layers/actnorm.h"
#include "layers/autoregressive.h"
#include "layers/batchnorm.h"
#include "models/api_autoregressive.h"
#include "core/sized.h"

/* MAF log-scales stay within (-3, 3) per layer, like the couplings'. */
static const double made_bound = 3.0;

void nf_made_options_init(nf_made_options *caller, size_t struct_size)
{
    nf_made_options o;
    memset(&o, 0, sizeof o);
    o.hidden = 64;
    o.hidden_layers = 2;
    o.activation = NF_ACT_RELU;
    o.order = NF_ORDER_NATURAL;
    o.seed = 1;
    o.bound = made_bound;
    sized_write(caller, struct_size, &o, sizeof o);
}

/* The order of an options struct (malloc'ed): perm[k] = dimension of
 * degree k + 1. */
static nf_status order_of(int dim, const nf_made_options *o, int **out)
{
    if (o->perm) {
        if (!perm_is_valid(o->perm, dim))
            return nf_fail(NF_ERR_INVALID, "MADE order is not a permutation of 0..%d", dim - 1);
        if (!(*out = malloc(sizeof(int) * dim)))
            return nf_fail(NF_ERR_NOMEM, "out of memory");
        memcpy(*out, o->perm, sizeof(int) * dim);
        return NF_OK;
    }
    if (o->order == NF_ORDER_RANDOM)
        return perm_random(dim, o->seed, out);
    if ((unsigned)o->order > NF_ORDER_RANDOM)
        return nf_fail(NF_ERR_INVALID, "unknown MADE order %d", (int)o->order);
    if (!(*out = malloc(sizeof(int) * dim)))
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    for (int i = 0; i < dim; i++)
        (*out)[i] = o->order == NF_ORDER_REVERSED ? dim - 1 - i : i;
    return NF_OK;
}

/* The caller's options (their struct_size bytes, core/sized.h) over the
 * defaults into `o`, checked. */
static nf_status made_options_in(const nf_flow *f, const nf_made_options *caller, nf_made_options *o)
{
    if (!f || f->finalized)
        return nf_fail(NF_ERR_INVALID, "layers cannot be added after nf_flow_finalize");
    nf_made_options_default(o);
    nf_status st = sized_read(o, sizeof *o, MADE_OPTIONS_SIZE_1, caller, "nf_made_options");
    if (st)
        return st;
    if ((unsigned)o->activation > NF_ACT_TANH)
        return nf_fail(NF_ERR_INVALID, "unknown activation %d", (int)o->activation);
    if (o->hidden_layers < 0 || o->hidden_layers > NF_MAX_HIDDEN_LAYERS || o->hidden < 1 || o->hidden > NF_MAX_HIDDEN)
        return nf_fail(NF_ERR_INVALID, "MADE: hidden layers must be 0..%d and units 1..%d (got %d x %d)",
                       NF_MAX_HIDDEN_LAYERS, NF_MAX_HIDDEN, o->hidden_layers, o->hidden);
    return NF_OK;
}

/* bins > 0: a spline MAF on [-tail_bound, tail_bound] */
static nf_status add_autoregressive(nf_flow *f, int iaf, const nf_made_options *caller, int bins, double tail_bound)
{
    int *order;
    nf_made_options full, *o = &full;
    nf_status st = made_options_in(f, caller, o);
    if (st || (st = order_of(f->dim, o, &order)))
        return st;
    int act = o->activation == NF_ACT_TANH ? K_ACT_TANH : K_ACT_RELU;
    st = flow_add(f, bins ? spline_maf_new(f->dim, f->context_dim, o->hidden, o->hidden_layers, act, order, NULL, o->random_degrees,
                                           o->seed, bins, tail_bound, o->bound)
                          : autoregressive_new(f->dim, f->context_dim, iaf, o->hidden, o->hidden_layers, act, order, NULL,
                                               o->random_degrees, o->seed, o->bound));
    free(order);
    return st;
}

nf_status nf_flow_add_maf(nf_flow *f, const nf_made_options *opt) { return add_autoregressive(f, 0, opt, 0, 0); }

nf_status nf_flow_add_iaf(nf_flow *f, const nf_made_options *opt) { return add_autoregressive(f, 1, opt, 0, 0); }

nf_status nf_flow_add_spline_maf(nf_flow *f, const nf_made_options *opt, int bins, double tail_bound)
{
    if (bins < 1)
        return nf_fail(NF_ERR_INVALID, "spline MAF: %d bins (2..128)", bins);
    return add_autoregressive(f, 0, opt, bins, tail_bound);
}

nf_status nf_flow_add_batch_norm(nf_flow *f)
{
    if (!f || f->finalized)
        return nf_fail(NF_ERR_INVALID, "layers cannot be added after nf_flow_finalize");
    return flow_add(f, batchnorm_new(f->dim, 0.1));
}

nf_status nf_flow_add_actnorm(nf_flow *f)
{
    if (!f || f->finalized)
        return nf_fail(NF_ERR_INVALID, "layers cannot be added after nf_flow_finalize");
    return flow_add(f, actnorm_new(f->dim));
}

nf_status nf_flow_set_mog_base(nf_flow *f, int components, const nf_made_options *caller)
{
    int *order;
    nf_made_options full, *o = &full;
    nf_status st = made_options_in(f, caller, o);
    if (st || (st = order_of(f->dim, o, &order)))
        return st;
    mog_base *m = mog_new(f->dim, f->context_dim, components, o->hidden, o->hidden_layers,
                          o->activation == NF_ACT_TANH ? K_ACT_TANH : K_ACT_RELU, order, NULL, o->random_degrees,
                          o->seed);
    free(order);
    if (!m)
        return NF_ERR_INVALID;
    mog_free(f->mog);
    f->mog = m;
    return NF_OK;
}

/* MADE k of a stack: natural / reversed alternate (the MAF paper's
 * reversal between MADEs); random draws a new order for each. */
static void made_k(const nf_config *cfg, int k, nf_made_options *o)
{
    nf_made_options_default(o);
    o->hidden = cfg->hidden;
    o->hidden_layers = cfg->hidden_layers;
    o->activation = cfg->activation;
    o->random_degrees = cfg->random_degrees;
    o->seed = cfg->seed + 7919 * (uint64_t)(k + 1);
    o->bound = cfg->log_scale_bound;
    if (cfg->order == NF_ORDER_RANDOM)
        o->order = NF_ORDER_RANDOM;
    else
        o->order = (nf_order)(((int)cfg->order + k) % 2);
}

nf_status flow_build_autoregressive(nf_flow *f, const nf_config *cfg)
{
    int single = cfg->model == NF_MODEL_MADE || cfg->model == NF_MODEL_MADE_MOG;
    int layers = cfg->model == NF_MODEL_MADE ? 1 : cfg->model == NF_MODEL_MADE_MOG ? 0 : cfg->layers;
    int mog = model_has_mog(cfg->model), iaf = cfg->model == NF_MODEL_IAF || cfg->model == NF_MODEL_IAF_MOG;
    if (mog && (cfg->components < 1 || cfg->components > NF_MAX_COMPONENTS))
        return nf_fail(NF_ERR_INVALID, "components %d out of range 1..1000", cfg->components);
    nf_made_options o;
    nf_status st = NF_OK;
    for (int k = 0; k < layers && !st; k++) {
        made_k(cfg, k, &o);
        if (cfg->model == NF_MODEL_NSF_AR)
            st = nf_flow_add_spline_maf(f, &o, cfg->bins, cfg->tail_bound);
        else
            st = iaf ? nf_flow_add_iaf(f, &o) : nf_flow_add_maf(f, &o);
        if (!st && cfg->batch_norm && !single)
            st = nf_flow_add_batch_norm(f);
        if (!st && cfg->actnorm && !single)
            st = nf_flow_add_actnorm(f);
    }
    if (!st && mog && iaf) { /* no MADE: sampling stays one pass */
        mog_base *m = mog_new_independent(f->dim, cfg->components);
        if (!m)
            return NF_ERR_NOMEM;
        mog_free(f->mog);
        f->mog = m;
    } else if (!st && mog) {
        made_k(cfg, layers, &o);
        st = nf_flow_set_mog_base(f, cfg->components, &o);
    }
    return st;
}
