/* Ready-made architectures: what `nflow train --model nice|realnvp` builds,
 * and the library-wide odds and ends (version, threads). */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "flow/flow.h"
#include "flow/gaussian_fit.h"
#include "core/sized.h"
#include "models/api_autoregressive.h"
#include "models/api_config.h"
#include "models/api_image.h"
#include "models/whitening.h"

const char *nf_version(void) { return NF_VERSION_STRING; }

static const char *const model_names[NF_MODEL_COUNT] = {
    "nice", "realnvp", "made", "made-mog", "maf", "maf-mog", "iaf", "gaussian", "nsf", "nsf-ar", "iaf-mog", "gmm",
    "realnvp-ms", "glow"};

const char *nf_model_name(nf_model model)
{
    return (unsigned)model < NF_MODEL_COUNT ? model_names[model] : NULL;
}

nf_status nf_model_from_name(const char *name, nf_model *model)
{
    for (int m = 0; name && m < NF_MODEL_COUNT; m++)
        if (!strcmp(name, model_names[m])) {
            if (model)
                *model = (nf_model)m;
            return NF_OK;
        }
    char list[256] = "";
    for (int m = 0; m < NF_MODEL_COUNT; m++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", m ? ", " : "", model_names[m]);
    return nf_fail(NF_ERR_INVALID, "unknown model '%s' (one of %s)", name ? name : "(null)", list);
}

nf_status nf_flow_get_config(const nf_flow *f, nf_config *cfg)
{
    if (!f || !cfg)
        return nf_fail(NF_ERR_INVALID, "nf_flow_get_config: NULL flow or config");
    nf_status st = sized_check(cfg, sizeof *cfg, CONFIG_SIZE_1, "nf_config");
    if (st)
        return st;
    if (!f->has_config)
        return nf_fail(NF_ERR_UNSUPPORTED, "the flow was built layer by layer: it has no config");
    sized_write(cfg, cfg->struct_size, &f->config, sizeof f->config);
    return NF_OK;
}

void nf_config_init(nf_config *cfg, size_t struct_size, nf_model model, int dim)
{
    nf_config c;
    memset(&c, 0, sizeof c);
    c.model = model;
    c.dim = dim;
    c.hidden_layers = 2;
    c.base = NF_BASE_NORMAL;
    c.partition = NF_PART_EVEN_ODD;
    c.seed = 1;
    c.layers = 8;
    c.hidden = 64;
    c.activation = NF_ACT_RELU;
    c.order = NF_ORDER_NATURAL;
    c.components = 10;
    c.whiten = 1;
    c.log_scale_bound = 3.0;
    c.tail_weight = 1e-3;
    c.bins = 8;
    c.tail_bound = 3;
    c.levels = 2;
    if (model_is_autoregressive(model))
        c.layers = 5; /* the MAF paper's MAF (5) */
    if (model_is_image(model)) {
        /* a small Glow: 2 levels of 8 steps, networks of 32 channels with
         * one residual 1x1 block. Measured on Fashion-MNIST (bench/RESULTS.md,
         * "Images"): lower bits/dim for the time than 64 channels with or
         * without the block, or 32 without */
        c.hidden = 32;
        c.hidden_layers = 1;
        c.whiten = 0;
        /* the floor N(0, I) of the standardised values (src/flow/gaussian_fit.c):
         * its weight caps a rare image's cost at its density + log w, and is
         * small enough that a grid of samples holds none of its noise */
        c.tail_weight = 1e-6;
    }
    if (model == NF_MODEL_GMM) { /* the mixture's own covariances; its number chosen on the data */
        c.components = 0;
        c.whiten = 0;
        c.tail_weight = 0;
    }
    sized_write(cfg, struct_size, &c, sizeof c);
}

nf_status config_in(const nf_config *cfg, nf_config *full)
{
    nf_status st = sized_check(cfg, sizeof *full, CONFIG_SIZE_1, "nf_config");
    if (st)
        return st;
    nf_config_default(full, cfg->model, cfg->dim);
    return sized_read(full, sizeof *full, CONFIG_SIZE_1, cfg, "nf_config");
}

nf_model nf_default_model(size_t rows, int dim)
{
    return dim <= 4 || (double)rows * dim <= 2e6 ? NF_MODEL_MAF_MOG : NF_MODEL_MAF;
}

/* Measured on bench/quality.sh's sets (RESULTS.md): batch 64 instead of
 * 256 gained 2.7 to 44 nats on the sets of a few thousand rows, 0.2 nats
 * on htru2 and reached eight_gaussians' truth within 0.03 nats (0.06 at
 * 256); 32 against 64 changed nothing beyond the noise. Width beyond 100
 * only pays with many rows. */
enum { DROPOUT_MIN_DIM = 8, DROPOUT_MAX_ROWS = 5000 };

void nf_defaults_for_data(size_t rows, int dim, nf_config *cfg, nf_train_options *opt)
{
    /* fields every struct_size has (core/sized.h); a struct not set by its
     * _default call is left alone */
    if (cfg && sized_check(cfg, sizeof *cfg, CONFIG_SIZE_1, "nf_config"))
        cfg = NULL;
    if (opt && sized_check(opt, sizeof *opt, TRAIN_OPTIONS_SIZE_1, "nf_train_options"))
        opt = NULL;
    if (cfg) {
        int wide = 4 * dim < 512 ? 4 * dim : 512;
        cfg->hidden = rows >= 50000 && wide > 100 ? wide : 100;
    }
    if (opt) {
        int batch = 256;
        while (batch > 32 && (size_t)batch * 250 > rows)
            batch /= 2;
        opt->batch = batch;
        /* few rows for many columns: the networks learn the rows by heart
         * (bench/RESULTS.md, "Dropout"); low-dimensional densities need
         * every unit for their sharp features */
        opt->dropout = dim >= DROPOUT_MIN_DIM && rows < DROPOUT_MAX_ROWS ? 0.2 : 0;
    }
}

nf_status flow_config_check(const nf_config *cfg)
{
    int autoregressive = model_is_autoregressive(cfg->model);
    int gaussian = cfg->model == NF_MODEL_GAUSSIAN, spline = cfg->model == NF_MODEL_NSF || cfg->model == NF_MODEL_NSF_AR;
    int mog = model_has_mog(cfg->model), gmm = cfg->model == NF_MODEL_GMM;
    if (cfg->model != NF_MODEL_NICE && cfg->model != NF_MODEL_REALNVP && !autoregressive && !gaussian && !spline &&
        !gmm && !model_is_image(cfg->model))
        return nf_fail(NF_ERR_INVALID, "unknown model %d", (int)cfg->model);
    if ((unsigned)cfg->order > NF_ORDER_RANDOM)
        return nf_fail(NF_ERR_INVALID, "unknown order %d", (int)cfg->order);
    if ((unsigned)cfg->activation > NF_ACT_TANH)
        return nf_fail(NF_ERR_INVALID, "unknown activation %d", (int)cfg->activation);
    if ((unsigned)cfg->partition > NF_PART_MASK)
        return nf_fail(NF_ERR_INVALID, "unknown partition %d", (int)cfg->partition);
    if (cfg->dim < 1 || cfg->dim > NF_MAX_DIM)
        return nf_fail(NF_ERR_INVALID, "dimension %d out of range 1..%d", cfg->dim, NF_MAX_DIM);
    if (cfg->layers < 1 || cfg->layers > NF_MAX_LAYERS)
        return nf_fail(NF_ERR_INVALID, "layers %d out of range 1..%d", cfg->layers, NF_MAX_LAYERS);
    if (cfg->hidden < 1 || cfg->hidden > NF_MAX_HIDDEN)
        return nf_fail(NF_ERR_INVALID, "hidden units %d out of range 1..%d", cfg->hidden, NF_MAX_HIDDEN);
    if (cfg->hidden_layers < 0 || cfg->hidden_layers > NF_MAX_HIDDEN_LAYERS)
        return nf_fail(NF_ERR_INVALID, "hidden layers %d out of range 0..%d", cfg->hidden_layers, NF_MAX_HIDDEN_LAYERS);
    if (!(cfg->log_scale_bound >= 0 && cfg->log_scale_bound < NF_MAX_LOG_SCALE_BOUND))
        return nf_fail(NF_ERR_INVALID, "log-scale bound %g out of range [0, %g)", cfg->log_scale_bound,
                       NF_MAX_LOG_SCALE_BOUND);
    if (!(cfg->tail_weight >= 0 && cfg->tail_weight < 1))
        return nf_fail(NF_ERR_INVALID, "tail weight %g out of range [0, 1)", cfg->tail_weight);
    if (spline && !(cfg->bins >= NF_MIN_BINS && cfg->bins <= NF_MAX_BINS && cfg->tail_bound > 0 &&
                    cfg->tail_bound <= NF_MAX_TAIL_BOUND))
        return nf_fail(NF_ERR_INVALID, "spline: %d bins (%d..%d) on [-%g, %g] (a bound in (0, %g])", cfg->bins,
                       NF_MIN_BINS, NF_MAX_BINS, cfg->tail_bound, cfg->tail_bound, NF_MAX_TAIL_BOUND);
    if (mog && (cfg->components < 1 || cfg->components > NF_MAX_COMPONENTS))
        return nf_fail(NF_ERR_INVALID, "components %d out of range 1..%d", cfg->components, NF_MAX_COMPONENTS);
    if (gmm && (cfg->components < 0 || cfg->components > NF_MAX_COMPONENTS))
        return nf_fail(NF_ERR_INVALID, "components %d out of range 0..%d (0: chosen on the data)", cfg->components,
                       NF_MAX_COMPONENTS);
    if (gmm && cfg->context_dim)
        return nf_fail(NF_ERR_INVALID, "the gmm model does not depend on a context: choose a flow (maf-mog, "
                                       "nsf-ar, ...) for p(x | c)");
    if (cfg->context_dim < 0 || cfg->context_dim > NF_MAX_CONTEXT)
        return nf_fail(NF_ERR_INVALID, "context of %d values out of range 0..%d", cfg->context_dim, NF_MAX_CONTEXT);
    if (cfg->partition == NF_PART_MASK)
        return nf_fail(NF_ERR_INVALID, "a user mask needs the layer-by-layer calls (nf_flow_add_*)");
    if (model_is_image(cfg->model))
        return image_config_check(cfg);
    return NF_OK;
}

nf_status nf_flow_create(nf_flow **out, const nf_config *cfg)
{
    if (!out)
        return nf_fail(NF_ERR_INVALID, "nf_flow_create: out is NULL");
    *out = NULL;
    nf_config full;
    nf_status in = config_in(cfg, &full);
    if (in)
        return in;
    cfg = &full;
    int autoregressive = model_is_autoregressive(cfg->model);
    int gaussian = cfg->model == NF_MODEL_GAUSSIAN, spline = cfg->model == NF_MODEL_NSF || cfg->model == NF_MODEL_NSF_AR;
    nf_status check = flow_config_check(cfg);
    if (check)
        return check;
    nf_flow *f;
    nf_status st = nf_flow_new(&f, cfg->dim, cfg->base);
    if (!st && cfg->context_dim)
        st = nf_flow_set_context_dim(f, cfg->context_dim);
    if (!st && (cfg->whiten || gaussian))
        st = flow_add_whitening(f);
    if (!st && autoregressive)
        st = flow_build_autoregressive(f, cfg);
    int image = model_is_image(cfg->model);
    if (!st && image)
        st = flow_build_image(f, cfg);
    for (int l = 0; l < cfg->layers && !st && !autoregressive && !gaussian && !image && cfg->model != NF_MODEL_GMM;
         l++) {
        if (cfg->model == NF_MODEL_NICE) {
            st = nf_flow_add_additive_coupling(f, cfg->partition, NULL, l % 2, cfg->hidden, cfg->hidden_layers,
                                               cfg->activation);
        } else if (spline) {
            /* the paper's: an LU layer (a seeded permutation to start) before every coupling but the first */
            if (l > 0)
                st = nf_flow_add_linear_lu(f, cfg->seed + (uint64_t)l);
            if (!st)
                st = nf_flow_add_shifted_spline_coupling(f, cfg->partition, NULL, l % 2, cfg->hidden,
                                                         cfg->hidden_layers, cfg->activation, cfg->bins,
                                                         cfg->tail_bound, cfg->log_scale_bound);
        } else
            st = nf_flow_add_affine_coupling(f, cfg->partition, NULL, l % 2, cfg->hidden, cfg->hidden_layers,
                                             cfg->activation, cfg->log_scale_bound);
        if (!st && cfg->batch_norm)
            st = nf_flow_add_batch_norm(f);
        if (!st && cfg->actnorm)
            st = nf_flow_add_actnorm(f);
    }
    if (!st && cfg->model == NF_MODEL_NICE)
        st = nf_flow_add_rescale(f);
    if (!st && cfg->model == NF_MODEL_GMM && !(f->gmm = gmm_new(cfg->dim, cfg->components ? cfg->components : 1)))
        st = NF_ERR_NOMEM;
    if (!st)
        st = nf_flow_finalize(f, cfg->seed);
    if (st) {
        nf_flow_free(f);
        return st;
    }
    if (image && cfg->tail_weight > 0)
        flow_gauss_identity(f, cfg->tail_weight);
    f->has_config = 1;
    f->config = *cfg;
    f->config.whiten = cfg->whiten || gaussian;
    *out = f;
    return NF_OK;
}
