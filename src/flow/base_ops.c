/* The tables of base_ops.h: a simple base (f->base), the MADE mixture
 * (f->mog, whose parameters follow the layers') and the full-covariance
 * Gaussian mixture (f->gmm). */
#include "flow/base_ops.h"

#include <stdio.h>

#include "core/base.h"
#include "flow/base_gmm.h"
#include "flow/base_mog.h"

static size_t simple_n_params(const nf_flow *f) { (void)f; return 0; }
static void simple_place(nf_flow *f, size_t offset) { (void)f; (void)offset; }
static void simple_init(nf_flow *f, rng *r) { (void)f; (void)r; }
static nf_status simple_reserve(nf_flow *f, int rows) { (void)f; (void)rows; return NF_OK; }
static void simple_context(nf_flow *f, const real *c, real *dc) { (void)f; (void)c; (void)dc; }
static void simple_dropout(nf_flow *f, k_dropout d) { (void)f; (void)d; }

static void simple_log_prob(nf_flow *f, int rows, const real *z, double *out)
{
    base_log_prob(&f->base, rows, f->dim, z, out);
}

static void simple_grad(nf_flow *f, int rows, const real *z, real scale, real *dz, real *grads)
{
    (void)grads;
    base_grad(&f->base, rows, f->dim, z, scale, dz);
}

static void simple_sample(nf_flow *f, rng *r, uint64_t key, size_t first_row, int rows, real *z)
{
    (void)r;
    base_sample_at(&f->base, key, first_row, rows, f->dim, z);
}

static size_t simple_describe(const nf_flow *f, char *buf, size_t size)
{
    if (f->base.kind == NF_BASE_UNIFORM)
        return (size_t)snprintf(buf, size, "%s on [%g, %g]", base_name(f->base.kind), f->base.lo, f->base.hi);
    return (size_t)snprintf(buf, size, "%s", base_name(f->base.kind));
}

static const flow_base_ops simple_ops = {
    .keyed = 1, .reparameterised = 1, .n_params = simple_n_params, .place_params = simple_place,
    .init_params = simple_init, .reserve = simple_reserve, .point_context = simple_context,
    .set_dropout = simple_dropout, .log_prob = simple_log_prob, .grad = simple_grad, .sample = simple_sample,
    .save = NULL, .describe = simple_describe,
};

static const real *mog_params(const nf_flow *f) { return f->params + f->mog->p_off; }
static size_t mog_count(const nf_flow *f) { return mog_n_params(f->mog); }
static void mog_place(nf_flow *f, size_t offset) { f->mog->p_off = offset; }
static void mog_init(nf_flow *f, rng *r) { mog_init_params(f->mog, f->params + f->mog->p_off, r); }

static void mog_hold(const nf_flow *f, real *p)
{
    if (!f->mog->independent)
        made_constrain(&f->mog->net, p + f->mog->p_off);
}
static nf_status mog_reserve_rows(nf_flow *f, int rows) { return mog_reserve(f->mog, rows); }

static void mog_context(nf_flow *f, const real *context, real *dcontext)
{
    if (f->mog->context_dim) {
        f->mog->context = context;
        f->mog->dcontext = dcontext;
    }
}

static void mog_dropout(nf_flow *f, k_dropout d) { f->mog->net.net.dropout = d; }

static void mog_density(nf_flow *f, int rows, const real *z, double *out)
{
    mog_log_prob(f->mog, mog_params(f), rows, z, out);
}

static void mog_gradient(nf_flow *f, int rows, const real *z, real scale, real *dz, real *grads)
{
    mog_grad(f->mog, mog_params(f), rows, z, scale, dz, grads ? grads + f->mog->p_off : NULL);
}

static void mog_draw(nf_flow *f, rng *r, uint64_t key, size_t first_row, int rows, real *z)
{
    (void)key;
    (void)first_row;
    mog_sample(f->mog, mog_params(f), r, rows, z);
}

static nf_status mog_section(const nf_flow *f, mf_writer *w) { return mog_save(f->mog, w); }

static size_t mog_text(const nf_flow *f, char *buf, size_t size)
{
    size_t k = mog_describe(f->mog, buf, size);
    return k + (size_t)snprintf(buf + (k < size ? k : size), k < size ? size - k : 0, " [%zu params]",
                                mog_n_params(f->mog));
}

static const flow_base_ops mog_ops = {
    .keyed = 0, .reparameterised = 0, .n_params = mog_count, .place_params = mog_place, .init_params = mog_init,
    .constrain = mog_hold,
    .reserve = mog_reserve_rows, .point_context = mog_context, .set_dropout = mog_dropout,
    .log_prob = mog_density, .grad = mog_gradient, .sample = mog_draw, .save = mog_section, .describe = mog_text,
};

/* The Gaussian mixture's values are its own (EM fits them): no parameters in the buffer. */
static nf_status gmm_reserve_rows(nf_flow *f, int rows) { return gmm_reserve(f->gmm, rows); }
static void gmm_density(nf_flow *f, int rows, const real *z, double *out) { gmm_log_prob(f->gmm, rows, z, out); }

static void gmm_gradient(nf_flow *f, int rows, const real *z, real scale, real *dz, real *grads)
{
    (void)grads;
    gmm_grad(f->gmm, rows, z, scale, dz);
}

static void gmm_draw(nf_flow *f, rng *r, uint64_t key, size_t first_row, int rows, real *z)
{
    (void)key;
    (void)first_row;
    gmm_sample(f->gmm, r, rows, z);
}

static nf_status gmm_section(const nf_flow *f, mf_writer *w) { return gmm_save(f->gmm, w); }
static size_t gmm_text(const nf_flow *f, char *buf, size_t size) { return gmm_describe(f->gmm, buf, size); }

static const flow_base_ops gmm_ops = {
    .keyed = 0, .reparameterised = 0, .n_params = simple_n_params, .place_params = simple_place,
    .init_params = simple_init, .reserve = gmm_reserve_rows, .point_context = simple_context,
    .set_dropout = simple_dropout, .log_prob = gmm_density, .grad = gmm_gradient, .sample = gmm_draw,
    .save = gmm_section, .describe = gmm_text,
};

const flow_base_ops *flow_base_of(const nf_flow *f)
{
    return f->gmm ? &gmm_ops : f->mog ? &mog_ops : &simple_ops;
}
