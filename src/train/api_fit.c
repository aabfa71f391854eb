/* The training recipe on prepared data (nf_data): the defaults that fit
 * it, a model built for it, training, and the mean log-likelihood of a
 * part as the MAF paper reports it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/sized.h"
#include "data/api_prepare.h"
#include "data/labels.h"
#include "flow/flow.h"
#include "layers/bounds.h"
#include "models/api_image.h"
#include "train/api_evaluate.h"

nf_status nf_data_options_for_flow(const nf_flow *f, nf_data_options *caller)
{
    nf_data_options o;
    nf_data_options_default(&o);
    nf_status st = sized_read(&o, sizeof o, DATA_OPTIONS_SIZE_1, caller, "nf_data_options");
    if (st)
        return st;
    if (!f)
        return nf_fail(NF_ERR_INVALID, "nf_data_options_for_flow: NULL flow");
    int nc = f->context_dim, classes = f->record.label_classes;
    const char *list = o.context_columns ? o.context_columns : f->context_columns;
    if (!nc && o.context_columns)
        return nf_fail(NF_ERR_INVALID, "the model is not conditional: it takes no context columns");
    if (!classes && o.label_files[0])
        return nf_fail(NF_ERR_INVALID, "the model was not trained on class labels: it takes none");
    if (classes && !o.label_files[0] && !o.context_columns)
        return nf_fail(NF_ERR_INVALID, "the model is conditional on a class label (%d classes): give a label per row",
                       classes);
    if (nc && !classes && !list)
        return nf_fail(NF_ERR_INVALID, "the model is conditional on %d context values but does not say which columns "
                                       "hold them: give the context columns (%d-%d for x, then the context)",
                       nc, f->dim, f->dim + nc - 1);
    o.dim = f->dim;
    o.context_dim = nc;
    o.label_classes = classes;
    o.context_columns = nc && !o.label_files[0] ? list : NULL;
    sized_write(caller, caller->struct_size, &o, sizeof o);
    return NF_OK;
}

nf_status nf_data_options_to_train_further(const nf_flow *f, nf_data_options *opt)
{
    nf_status st = nf_data_options_for_flow(f, opt);
    if (st)
        return st;
    const layer *b = flow_bounds(f);
    opt->lo = opt->hi = NULL; /* the model's bounds, or none: the rows it trains on further lie inside them */
    if (b)
        bounds_get(b, &opt->lo, &opt->hi);
    return NF_OK;
}

nf_status nf_data_defaults_sized(const nf_data *d, const char *model, nf_config *cfg, size_t cfg_size,
                                 nf_train_options *opt, size_t opt_size)
{
    if (!d)
        return nf_fail(NF_ERR_INVALID, "nf_data_defaults: NULL data");
    nf_status st;
    if ((cfg && (st = sized_check_size(cfg_size, sizeof *cfg, CONFIG_SIZE_1, "nf_config"))) ||
        (opt && (st = sized_check_size(opt_size, sizeof *opt, TRAIN_OPTIONS_SIZE_1, "nf_train_options"))))
        return st;
    size_t rows = d->x[NF_PART_TRAIN].rows;
    int image = d->image[0] > 0;
    nf_model kind = image ? NF_MODEL_GLOW : nf_default_model(rows, d->dim);
    if (model && (st = nf_model_from_name(model, &kind)))
        return st;
    nf_config c;
    nf_train_options o;
    nf_config_default(&c, kind, d->dim);
    nf_train_options_default(&o);
    if (model_is_image(kind)) {
        memcpy(c.image_shape, d->image, sizeof c.image_shape);
        /* measured on Fashion-MNIST in 600 s (bench/RESULTS.md): batch 16 3.68 test bits/dim, 32 3.72, 64 (Glow's
         * and RealNVP's) 3.76: more steps beat the BLAS's better pace on bigger batches; lr 2e-3 beat 1e-3 */
        o.batch = 16;
        o.lr = 2e-3;
    } else {
        nf_defaults_for_data(rows, d->dim, &c, &o);
    }
    c.context_dim = d->context_dim;
    c.seed = o.seed = d->seed;
    if (kind == NF_MODEL_GAUSSIAN)
        o.max_epochs = 0; /* the fit is the maximum-likelihood (shrunk) Gaussian already */
    if ((kind == NF_MODEL_GAUSSIAN || kind == NF_MODEL_GMM) && d->context_dim)
        return nf_fail(NF_ERR_INVALID, "the %s model does not depend on a context: choose a flow (maf, "
                                       "realnvp, ...) for p(x | c)", nf_model_name(kind));
    sized_write(cfg, cfg_size, &c, sizeof c);
    sized_write(opt, opt_size, &o, sizeof o);
    return NF_OK;
}

/* A constant x column of the training rows has no density. */
static nf_status check_not_constant(const nf_data *d)
{
    const nf_matrix *m = &d->x[NF_PART_TRAIN];
    for (size_t j = 0; m->rows && j < m->cols; j++) {
        size_t r = 1;
        while (r < m->rows && m->values[r * m->cols + j] == m->values[j])
            r++;
        if (r == m->rows)
            return nf_fail(NF_ERR_FORMAT, "%s: column %zu is constant (%g): a density over it does not exist",
                           d->name, data_file_column(d, j), m->values[j]);
    }
    return NF_OK;
}

nf_status nf_flow_create_for_data(nf_flow **out, const nf_data *d, const nf_config *cfg)
{
    if (!out || !d || !cfg)
        return nf_fail(NF_ERR_INVALID, "nf_flow_create_for_data: NULL argument");
    *out = NULL;
    if (cfg->dim != d->dim || cfg->context_dim != d->context_dim)
        return nf_fail(NF_ERR_DIMENSION, "the configuration is for %d columns of x and %d of context, the data "
                                         "have %d and %d", cfg->dim, cfg->context_dim, d->dim, d->context_dim);
    nf_status st = check_not_constant(d);
    nf_flow *f = NULL;
    const nf_matrix *x = &d->x[NF_PART_TRAIN], *c = &d->c[NF_PART_TRAIN];
    if (!st)
        st = nf_flow_create(&f, cfg);
    if (!st && d->lo)
        st = nf_flow_set_bounds(f, d->lo, d->hi);
    if (!st)
        st = nf_flow_fit_standardization_given(f, x->values, d->context_dim ? c->values : NULL, x->rows);
    if (!st && d->context_columns)
        st = nf_flow_set_context_columns(f, d->context_columns);
    if (!st) {
        memcpy(f->record.image, d->image, sizeof d->image);
        f->record.label_classes = d->label_classes;
    }
    if (st) {
        nf_flow_free(f);
        return st;
    }
    *out = f;
    return NF_OK;
}

nf_status nf_flow_fit(nf_flow *f, const nf_data *d, const nf_train_options *opt, nf_train_result *result)
{
    if (!f || !d)
        return nf_fail(NF_ERR_INVALID, "nf_flow_fit: NULL argument");
    const float *x, *c, *vx, *vc;
    size_t n = nf_data_rows(d, NF_PART_TRAIN, &x, &c), nv = nf_data_rows(d, NF_PART_VAL, &vx, &vc);
    return nf_flow_train_given(f, x, c, n, nv ? vx : NULL, nv ? vc : NULL, nv, opt, result);
}

/* Rows i * n / m (i < m) of x (and c) into xs (and cs): an evenly spaced sample. */
static void take_rows(const float *x, const float *c, size_t n, size_t m, size_t nx, size_t nc, float *xs, float *cs)
{
    for (size_t i = 0; i < m; i++) {
        size_t r = i * n / m;
        memcpy(xs + i * nx, x + r * nx, sizeof(float) * nx);
        if (c)
            memcpy(cs + i * nc, c + r * nc, sizeof(float) * nc);
    }
}

int nf_flow_image_shape(const nf_flow *f, int shape[3])
{
    for (int k = 0; shape && k < 3; k++)
        shape[k] = f ? f->record.image[k] : 0;
    return f && f->record.image[0] > 0;
}

int nf_flow_label_classes(const nf_flow *f) { return f ? f->record.label_classes : 0; }

nf_status nf_flow_context_of_labels(const nf_flow *f, const float *labels, size_t rows, float *context)
{
    if (!f || (rows && (!labels || !context)))
        return nf_fail(NF_ERR_INVALID, "nf_flow_context_of_labels: NULL argument");
    int k = f->record.label_classes;
    if (!k)
        return nf_fail(NF_ERR_INVALID, "the model was not trained with class labels as its context");
    size_t bad = labels_one_hot(labels, rows, k, context, (size_t)k);
    if (bad < rows)
        return nf_fail(NF_ERR_INVALID, "label %g (row %zu) is not one of the model's classes (0 to %d)", labels[bad],
                       bad, k - 1);
    return NF_OK;
}

double nf_flow_bits_per_dim(const nf_flow *f, double mean_log_likelihood)
{
    /* the density is over pixel values in [0, 256), dequantised by U[0, 1):
     * -log2 of the mass on the unit cube of each 8-bit value, per value */
    return f && f->record.image[0] ? -mean_log_likelihood / (f->dim * log(2.0)) : NAN;
}

nf_status nf_flow_mean_log_prob(nf_flow *f, const nf_data *d, nf_part part, size_t max_rows,
                                const nf_train_options *share, double *mean, double *two_stderr)
{
    if (!f || !d || (unsigned)part > NF_PART_TEST)
        return nf_fail(NF_ERR_INVALID, "nf_flow_mean_log_prob: NULL argument or no such part");
    const float *x, *c;
    size_t n = nf_data_rows(d, part, &x, &c), lo = 0, hi;
    double m = NAN, s = NAN;
    int ranks = share && share->ranks > 1 && share->reduce ? share->ranks : 1, sampled = max_rows && max_rows < n;
    if (part == NF_PART_TEST && n && ranks == 1 && !sampled) { /* recorded in the model */
        nf_status st = nf_flow_evaluate_test_given(f, x, c, n, &m, &s);
        if (!st && mean) *mean = m;
        if (!st && two_stderr) *two_stderr = s;
        return st;
    }
    size_t nx = (size_t)d->dim, nc = (size_t)d->context_dim;
    float *xs = NULL, *cs = NULL;
    if (sampled) {
        xs = malloc(sizeof(float) * max_rows * (nx + nc));
        if (!xs)
            return nf_fail(NF_ERR_NOMEM, "out of memory sampling %zu rows", max_rows);
        cs = xs + max_rows * nx;
        take_rows(x, c, n, max_rows, nx, nc, xs, cs);
        x = xs;
        c = c ? cs : NULL;
        n = max_rows;
    }
    hi = n;
    if (ranks > 1) { /* each process its part of the rows; the sums added across them */
        lo = n * (size_t)share->rank / (size_t)ranks;
        hi = n * (size_t)(share->rank + 1) / (size_t)ranks;
    }
    double *lp = malloc(sizeof(double) * (hi > lo ? hi - lo : 1));
    nf_status st = lp ? NF_OK : nf_fail(NF_ERR_NOMEM, "out of memory scoring %zu rows", hi - lo);
    /* the validation rows training just scored with these parameters: that pass's figures */
    const double *kept = ranks == 1 && !sampled ? flow_scored_find(f, x, c, n, flow_eval_rows(f)) : NULL;
    if (!st && kept)
        memcpy(lp, kept, sizeof(double) * n);
    else if (!st && hi > lo)
        st = nf_flow_log_prob_given(f, x + lo * nx, c ? c + lo * nc : NULL, hi - lo, lp);
    free(xs);
    if (ranks == 1 && !st && n) {
        mean_two_stderr(lp, NULL, n, &m, &s);
    } else if (ranks > 1) { /* every process reduces, a failure counted, so that none waits alone */
        double sums[3] = {0, 0, st ? 1 : 0};
        for (size_t i = 0; !st && i < hi - lo; i++) {
            sums[0] += lp[i];
            sums[1] += lp[i] * lp[i];
        }
        if (share->reduce(sums, 3, 1, share->reduce_user) && !st)
            st = nf_fail(NF_ERR_INVALID, "the processes' sums could not be added");
        else if (sums[2] > 0 && !st)
            st = nf_fail(NF_ERR_INVALID, "another process could not score its rows");
        if (!st && n) {
            m = sums[0] / (double)n;
            double var = n > 1 ? (sums[1] - (double)n * m * m) / (double)(n - 1) : 0;
            s = n > 1 ? 2 * sqrt(fmax(var, 0) / (double)n) : NAN;
        }
    }
    free(lp);
    if (st)
        return st;
    if (mean) *mean = m;
    if (two_stderr) *two_stderr = s;
    return NF_OK;
}
