/* Saving and loading whole models through the container of src/io/mfile.c.
 * The sections are specified in docs/model-format.md. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "flow/base_ops.h"
#include "flow/flow.h"
#include "layers/registry.h"
#include "layers/standardize.h"
#include "nets/mlp.h"
#include "flow/gaussian_fit.h"
#include "core/kern.h"
#include "models/api_config.h"
#include "models/api_image.h"

static const char *const activation_names[] = {"relu", "tanh"};
static const char *const order_names[] = {"natural", "reversed", "random"};
static const char *const partition_names[] = {"halves", "even_odd", "mask"};

/* The Gaussian fit of a whitened model, or an image model's identity
 * floor (src/flow/gaussian_fit.c). */
static nf_status gauss_save(const nf_flow *f, mf_writer *w)
{
    if (!flow_has_fit(f))
        return NF_OK;
    nf_status st = mf_begin(w, "gaussian_fit");
    if (!st && f->fit.identity)
        st = mf_put_i64(w, "identity", 1);
    else if (!st)
        st = mf_put_f32s(w, "cholesky", f->fit.chol, (size_t)f->dim * f->dim);
    if (!st) st = mf_put_f64(w, "tail_weight", f->fit.tail_weight);
    return st;
}

static nf_status gauss_load(const mf_file *mf, const mf_section *s, nf_flow *f)
{
    size_t p = (size_t)f->dim;
    const float *c;
    double w;
    int64_t identity = 0;
    nf_status st = mf_get_f64(mf, s, "tail_weight", &w);
    if (!st && mf_has(s, "identity") && (st = mf_get_i64(mf, s, "identity", &identity)) == NF_OK && identity != 1)
        st = nf_fail(NF_ERR_FORMAT, "%s: section 'gaussian_fit': identity %lld is not 1", mf_path(mf),
                     (long long)identity);
    if (!st && !identity)
        st = mf_get_f32s(mf, s, "cholesky", p * p, &c, NULL);
    if (st)
        return st;
    if (!(w >= 0 && w < 1))
        return nf_fail(NF_ERR_FORMAT, "%s: section 'gaussian_fit': tail_weight %g out of range [0, 1)", mf_path(mf), w);
    if (identity) {
        flow_gauss_identity(f, w);
        return NF_OK;
    }
    double *d = malloc(sizeof(double) * p * p);
    if (!d)
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < p && !st; i++)
        for (size_t j = 0; j < p && !st; j++) {
            d[i * p + j] = c[i * p + j];
            if (!isfinite(c[i * p + j]) || (i == j && !(c[i * p + j] > 0)))
                st = nf_fail(NF_ERR_FORMAT, "%s: section 'gaussian_fit': cholesky[%zu][%zu] = %g is not valid",
                             mf_path(mf), i, j, (double)c[i * p + j]);
        }
    if (!st)
        st = flow_gauss_set(f, d, w);
    free(d);
    return st;
}

/* A conditional model's context standardisation and columns (optional
 * keys of the header). */
static nf_status read_context(const mf_file *mf, const mf_section *s, nf_flow *f)
{
    int nc = f->context_dim;
    nf_status st = NF_OK;
    if (nc && mf_has(s, "context_mean")) {
        const double *mean, *std;
        st = mf_get_f64s(mf, s, "context_mean", (size_t)nc, &mean, NULL);
        if (!st) st = mf_get_f64s(mf, s, "context_std", (size_t)nc, &std, NULL);
        if (st)
            return st;
        char why[160];
        if (!standardize_check(nc, mean, std, why, sizeof why))
            return nf_fail(NF_ERR_FORMAT, "%s: section 'nflow': context standardisation: %s", mf_path(mf), why);
        if (!(f->context_mean = malloc(sizeof(double) * 2 * (size_t)nc)))
            return nf_fail(NF_ERR_NOMEM, "out of memory");
        f->context_std = f->context_mean + nc;
        memcpy(f->context_mean, mean, sizeof(double) * nc);
        memcpy(f->context_std, std, sizeof(double) * nc);
    }
    const char *cols;
    if (nc && mf_has(s, "context_columns") && !(st = mf_get_str(mf, s, "context_columns", &cols))) {
        if (!(f->context_columns = malloc(strlen(cols) + 1)))
            return nf_fail(NF_ERR_NOMEM, "out of memory");
        strcpy(f->context_columns, cols);
    }
    return st;
}

enum { RACE_MAX = 64 }; /* candidates a model file may list */

/* The race that chose the model (nf_flow_fit_auto): the candidates' kinds
 * comma-separated, then per candidate dropout and validation
 * log-likelihood, and layers, hidden, epochs, best epoch and round (not
 * the seconds: the same run writes the same bytes). */
static nf_status put_race(const flow_record *r, mf_writer *w)
{
    int n = r->race_count < RACE_MAX ? r->race_count : RACE_MAX;
    char names[RACE_MAX * 17];
    double *d = malloc(sizeof(double) * 2 * n);
    int32_t *i = malloc(sizeof(int32_t) * 5 * n);
    nf_status st = d && i ? NF_OK : nf_fail(NF_ERR_NOMEM, "out of memory");
    size_t used = 0;
    names[0] = 0;
    for (int k = 0; !st && k < n; k++) {
        const nf_race_entry *e = &r->race[k];
        used += (size_t)snprintf(names + used, sizeof names - (used < sizeof names ? used : sizeof names),
                                 "%s%s", k ? "," : "", e->model);
        d[2 * k] = e->dropout, d[2 * k + 1] = e->val_log_likelihood;
        i[5 * k] = e->layers, i[5 * k + 1] = e->hidden, i[5 * k + 2] = e->epochs;
        i[5 * k + 3] = e->best_epoch, i[5 * k + 4] = e->round;
    }
    if (!st) st = mf_put_str(w, "race_models", names);
    if (!st) st = mf_put_f64s(w, "race_f64", d, 2 * (size_t)n);
    if (!st) st = mf_put_i32s(w, "race_i32", i, 5 * (size_t)n);
    free(d);
    free(i);
    return st;
}

static nf_status read_race(const mf_file *mf, const mf_section *s, flow_record *r)
{
    const char *names;
    nf_status st = mf_get_str(mf, s, "race_models", &names);
    if (st)
        return st;
    int n = 1;
    for (const char *p = names; *p; p++)
        n += *p == ',';
    if (n > RACE_MAX)
        return nf_fail(NF_ERR_FORMAT, "%s: section 'training': a race of %d candidates (at most %d)", mf_path(mf), n,
                       RACE_MAX);
    const double *d;
    const int32_t *i;
    if ((st = mf_get_f64s(mf, s, "race_f64", 2 * (size_t)n, &d, NULL)) ||
        (st = mf_get_i32s(mf, s, "race_i32", 5 * (size_t)n, &i, NULL)))
        return st;
    if (!(r->race = calloc((size_t)n, sizeof *r->race)))
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    r->race_count = n;
    const char *p = names;
    for (int k = 0; k < n; k++) {
        nf_race_entry *e = &r->race[k];
        e->struct_size = sizeof *e;
        size_t len = strcspn(p, ",");
        snprintf(e->model, sizeof e->model, "%.*s", (int)(len < sizeof e->model ? len : sizeof e->model - 1), p);
        p += len + (p[len] == ',');
        e->dropout = d[2 * k], e->val_log_likelihood = d[2 * k + 1];
        e->layers = i[5 * k], e->hidden = i[5 * k + 1], e->epochs = i[5 * k + 2];
        e->best_epoch = i[5 * k + 3], e->round = i[5 * k + 4];
    }
    return NF_OK;
}

static nf_status put_header(const nf_flow *f, mf_writer *w)
{
    nf_status st = mf_begin(w, "nflow");
    if (!st) st = mf_put_str(w, "version", NF_VERSION_STRING);
    if (!st) st = mf_put_i64(w, "dim", f->dim);
    if (!st) st = mf_put_str(w, "base", base_name(f->base.kind));
    if (!st) st = mf_put_f64(w, "box_lo", f->base.lo);
    if (!st) st = mf_put_f64(w, "box_hi", f->base.hi);
    if (!st) st = mf_put_i64(w, "layers", f->n_layers);
    if (!st) st = mf_put_i64(w, "params", (int64_t)f->n_params);
    if (!st && f->context_dim) st = mf_put_i64(w, "context", f->context_dim);
    if (!st && f->context_mean) st = mf_put_f64s(w, "context_mean", f->context_mean, (size_t)f->context_dim);
    if (!st && f->context_mean) st = mf_put_f64s(w, "context_std", f->context_std, (size_t)f->context_dim);
    if (!st && f->context_columns) st = mf_put_str(w, "context_columns", f->context_columns);
    if (!st && f->has_config) {
        const nf_config *c = &f->config;
        st = mf_begin(w, "config");
        if (!st) st = mf_put_str(w, "model", nf_model_name(c->model));
        if (!st) st = mf_put_i64(w, "layers", c->layers);
        if (!st) st = mf_put_i64(w, "hidden", c->hidden);
        if (!st) st = mf_put_i64(w, "hidden_layers", c->hidden_layers);
        if (!st) st = mf_put_str(w, "activation", activation_names[c->activation]);
        if (!st) st = mf_put_str(w, "partition", partition_names[c->partition]);
        if (!st) st = mf_put_i64(w, "seed", (int64_t)c->seed);
        if (!st) st = mf_put_str(w, "order", order_names[c->order]);
        if (!st) st = mf_put_i64(w, "random_degrees", c->random_degrees);
        if (!st) st = mf_put_i64(w, "batch_norm", c->batch_norm);
        if (!st) st = mf_put_i64(w, "components", c->components);
        if (!st) st = mf_put_i64(w, "whiten", c->whiten);
        if (!st) st = mf_put_i64(w, "actnorm", c->actnorm);
        if (!st) st = mf_put_f64(w, "log_scale_bound", c->log_scale_bound);
        if (!st) st = mf_put_i64(w, "bins", c->bins);
        if (!st) st = mf_put_f64(w, "tail_bound", c->tail_bound);
        if (!st && model_is_image(c->model)) st = mf_put_i64(w, "levels", c->levels);
        if (!st && model_is_image(c->model))
            st = mf_put_i32s(w, "image_shape", (const int32_t[]){c->image_shape[0], c->image_shape[1],
                                                                c->image_shape[2]}, 3);
    }
    if (!st) st = mf_begin(w, "training");
    if (!st) st = mf_put_i64(w, "rows", f->record.train_rows);
    if (!st) st = mf_put_i64(w, "epochs", f->record.epochs);
    if (!st) st = mf_put_i64(w, "best_epoch", f->record.best_epoch);
    if (!st) st = mf_put_f64(w, "train_log_likelihood", f->record.train_ll);
    if (!st) st = mf_put_f64(w, "val_log_likelihood", f->record.val_ll);
    if (!st) st = mf_put_f64(w, "test_log_likelihood", f->record.test_ll);
    if (!st && f->record.data_min) st = mf_put_f64s(w, "data_min", f->record.data_min, f->dim);
    if (!st && f->record.data_max) st = mf_put_f64s(w, "data_max", f->record.data_max, f->dim);
    if (!st && f->record.race_count) st = put_race(&f->record, w);
    if (!st && f->record.image[0])
        st = mf_put_i32s(w, "image_shape", (const int32_t[]){f->record.image[0], f->record.image[1],
                                                             f->record.image[2]}, 3);
    if (!st && f->record.label_classes)
        st = mf_put_i64(w, "label_classes", f->record.label_classes);
    return st;
}

nf_status flow_put_model(const nf_flow *f, mf_writer *w, int with_optimizer)
{
    nf_status st = put_header(f, w);
    for (int l = 0; l < f->n_layers && !st; l++)
        st = f->layers[l]->ops->save(f->layers[l], w);
    if (!st && flow_base_of(f)->save)
        st = flow_base_of(f)->save(f, w);
    if (!st)
        st = gauss_save(f, w);
    size_t n = f->n_params;
    if (!st) st = mf_begin(w, "parameters");
    if (!st) st = mf_put_f32s(w, "values", f->params, n);
    if (!st && f->n_state) st = mf_put_f32s(w, "state", f->state, f->n_state);
    if (!with_optimizer)
        return st;
    if (!st) st = mf_begin(w, "optimizer");
    if (!st) st = mf_put_str(w, "kind", "adam");
    if (!st) st = mf_put_i64(w, "step", f->opt.t);
    if (!st) st = mf_put_f32s(w, "m", f->opt.m, n);
    if (!st) st = mf_put_f32s(w, "v", f->opt.v, n);
    return st;
}

/* The model file of f as a path's file, or (path NULL) as bytes. */
static nf_status save_to(const nf_flow *f, const char *path, void **bytes, size_t *size)
{
    if (!f || !f->finalized)
        return nf_fail(NF_ERR_INVALID, "flow is not finalized");
    mf_writer *w = mf_writer_new();
    if (!w)
        return nf_fail(NF_ERR_NOMEM, "out of memory saving %s", path ? path : "a model");
    nf_status st = flow_put_model(f, w, 0);
    if (!st)
        st = path ? mf_writer_save(w, path) : mf_writer_bytes(w, (unsigned char **)bytes, size);
    mf_writer_free(w);
    return st;
}

nf_status nf_flow_save(const nf_flow *f, const char *path)
{
    return path ? save_to(f, path, NULL, NULL) : nf_fail(NF_ERR_INVALID, "nf_flow_save: NULL path");
}

nf_status nf_flow_save_bytes(const nf_flow *f, void **bytes, size_t *size)
{
    if (!bytes || !size)
        return nf_fail(NF_ERR_INVALID, "nf_flow_save_bytes: NULL argument");
    return save_to(f, NULL, bytes, size);
}

void nf_free(void *p) { free(p); }

static int name_index(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static nf_status read_config(const mf_file *mf, const mf_section *s, nf_flow *f)
{
    const char *model, *act, *part;
    int64_t layers, hidden, depth, seed;
    nf_status st = mf_get_str(mf, s, "model", &model);
    if (!st) st = mf_get_i64(mf, s, "layers", &layers);
    if (!st) st = mf_get_i64(mf, s, "hidden", &hidden);
    if (!st) st = mf_get_i64(mf, s, "hidden_layers", &depth);
    if (!st) st = mf_get_str(mf, s, "activation", &act);
    if (!st) st = mf_get_str(mf, s, "partition", &part);
    if (!st) st = mf_get_i64(mf, s, "seed", &seed);
    if (st)
        return st;
    nf_config *c = &f->config;
    c->struct_size = sizeof *c;
    /* every field in range before it is narrowed to an int: 2^62 layers must not read as 0 */
    const struct {
        const char *key;
        int64_t v;
    } sizes[] = {{"layers", layers}, {"hidden", hidden}, {"hidden_layers", depth}};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
        if (sizes[k].v < INT_MIN || sizes[k].v > INT_MAX)
            return nf_fail(NF_ERR_FORMAT, "%s: section 'config': %s %lld out of range", mf_path(mf), sizes[k].key,
                           (long long)sizes[k].v);
    nf_model kind = NF_MODEL_MAF;
    int m = nf_model_from_name(model, &kind) == NF_OK ? (int)kind : -1, a = name_index(activation_names, 2, act),
        p = name_index(partition_names, 3, part);
    if (m < 0 || a < 0 || p < 0)
        return nf_fail(NF_ERR_FORMAT, "%s: section 'config': unknown model, activation or partition", mf_path(mf));
    c->model = (nf_model)m;
    c->activation = (nf_activation)a;
    c->partition = (nf_partition)p;
    c->dim = f->dim;
    c->layers = (int)layers;
    c->hidden = (int)hidden;
    c->hidden_layers = (int)depth;
    c->base = f->base.kind;
    c->seed = (uint64_t)seed;
    /* written since revision 2 (docs/model-format.md); absent in older files */
    const char *order = "natural";
    int64_t random_degrees = 0, batch_norm = 0, components = 10, whiten = 0, actnorm = 0;
    if (mf_has(s, "order") && (st = mf_get_str(mf, s, "order", &order)))
        return st;
    if (mf_has(s, "random_degrees") && (st = mf_get_i64(mf, s, "random_degrees", &random_degrees)))
        return st;
    if (mf_has(s, "batch_norm") && (st = mf_get_i64(mf, s, "batch_norm", &batch_norm)))
        return st;
    if (mf_has(s, "components") && (st = mf_get_i64(mf, s, "components", &components)))
        return st;
    if (mf_has(s, "whiten") && (st = mf_get_i64(mf, s, "whiten", &whiten)))
        return st;
    if (mf_has(s, "actnorm") && (st = mf_get_i64(mf, s, "actnorm", &actnorm)))
        return st;
    double bound = 3.0;
    if (mf_has(s, "log_scale_bound") && (st = mf_get_f64(mf, s, "log_scale_bound", &bound)))
        return st;
    c->log_scale_bound = bound;
    int64_t bins = 8;
    double tail_bound = 3.0;
    if (mf_has(s, "bins") && (st = mf_get_i64(mf, s, "bins", &bins)))
        return st;
    if (mf_has(s, "tail_bound") && (st = mf_get_f64(mf, s, "tail_bound", &tail_bound)))
        return st;
    if (bins < NF_MIN_BINS || bins > NF_MAX_BINS || !(tail_bound > 0 && tail_bound <= NF_MAX_TAIL_BOUND))
        return nf_fail(NF_ERR_FORMAT, "%s: section 'config': %lld bins on [-%g, %g] out of range", mf_path(mf),
                       (long long)bins, tail_bound, tail_bound);
    const struct {
        const char *key;
        int64_t v;
    } flags[] = {{"random_degrees", random_degrees}, {"batch_norm", batch_norm}, {"whiten", whiten},
                 {"actnorm", actnorm}};
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
        if (flags[k].v != 0 && flags[k].v != 1)
            return nf_fail(NF_ERR_FORMAT, "%s: section 'config': %s %lld is not 0 or 1", mf_path(mf), flags[k].key,
                           (long long)flags[k].v);
    if (components < INT_MIN || components > INT_MAX)
        return nf_fail(NF_ERR_FORMAT, "%s: section 'config': components %lld out of range", mf_path(mf),
                       (long long)components);
    c->bins = (int)bins;
    c->tail_bound = tail_bound;
    int o = name_index(order_names, 3, order);
    if (o < 0)
        return nf_fail(NF_ERR_FORMAT, "%s: section 'config': unknown order '%s'", mf_path(mf), order);
    c->order = (nf_order)o;
    c->random_degrees = random_degrees != 0;
    c->batch_norm = batch_norm != 0;
    c->components = (int)components;
    c->whiten = whiten != 0;
    c->actnorm = actnorm != 0;
    c->context_dim = f->context_dim;
    /* since revision 8: the image models' levels and shape */
    int64_t levels = 2;
    const int32_t *shape = NULL;
    if (mf_has(s, "levels") && (st = mf_get_i64(mf, s, "levels", &levels)))
        return st;
    if (mf_has(s, "image_shape") && (st = mf_get_i32s(mf, s, "image_shape", 3, &shape, NULL)))
        return st;
    c->levels = levels >= 0 && levels <= NF_MAX_HIDDEN_LAYERS ? (int)levels : -1;
    for (int k = 0; k < 3; k++)
        c->image_shape[k] = shape ? shape[k] : 0;
    if (flow_config_check(c)) { /* nonsense that a valid checksum cannot make sense of */
        char why[256];
        snprintf(why, sizeof why, "%s", nf_last_error());
        return nf_fail(NF_ERR_FORMAT, "%s: section 'config': %s", mf_path(mf), why);
    }
    f->has_config = 1;
    return NF_OK;
}

static nf_status read_training(const mf_file *mf, const mf_section *s, nf_flow *f)
{
    nf_status st = mf_get_i64(mf, s, "rows", &f->record.train_rows);
    if (!st) st = mf_get_i64(mf, s, "epochs", &f->record.epochs);
    if (!st) st = mf_get_i64(mf, s, "best_epoch", &f->record.best_epoch);
    if (!st) st = mf_get_f64(mf, s, "train_log_likelihood", &f->record.train_ll);
    if (!st) st = mf_get_f64(mf, s, "val_log_likelihood", &f->record.val_ll);
    if (!st) st = mf_get_f64(mf, s, "test_log_likelihood", &f->record.test_ll);
    const double *v;
    for (int k = 0; k < 2 && !st; k++) {
        const char *key = k ? "data_max" : "data_min";
        double **dst = k ? &f->record.data_max : &f->record.data_min;
        if (!mf_has(s, key))
            continue;
        st = mf_get_f64s(mf, s, key, (size_t)f->dim, &v, NULL);
        if (!st && !(*dst = malloc(sizeof(double) * f->dim)))
            st = nf_fail(NF_ERR_NOMEM, "out of memory");
        if (!st)
            memcpy(*dst, v, sizeof(double) * f->dim);
    }
    if (!st && mf_has(s, "race_models"))
        st = read_race(mf, s, &f->record);
    const int32_t *shape;
    if (!st && mf_has(s, "image_shape") && !(st = mf_get_i32s(mf, s, "image_shape", 3, &shape, NULL))) {
        if (shape[0] < 1 || shape[1] < 1 || shape[2] < 1 || (double)shape[0] * shape[1] * shape[2] != f->dim)
            return nf_fail(NF_ERR_FORMAT, "%s: section 'training': image_shape %d x %d x %d is not the model's %d "
                           "columns", mf_path(mf), shape[0], shape[1], shape[2], f->dim);
        for (int k = 0; k < 3; k++)
            f->record.image[k] = shape[k];
    }
    int64_t classes = 0;
    if (!st && mf_has(s, "label_classes") && !(st = mf_get_i64(mf, s, "label_classes", &classes))) {
        if (classes != f->context_dim || classes < 1)
            return nf_fail(NF_ERR_FORMAT, "%s: section 'training': label_classes %lld is not the model's %d context "
                           "values", mf_path(mf), (long long)classes, f->context_dim);
        f->record.label_classes = (int)classes;
    }
    return st;
}

/* The parameters a layer or base section's sizes imply, from its scalars
 * alone, before anything is allocated for it; -1 when a size is missing or
 * negative (the loader then reports the section itself). */
static double section_params(const mf_file *mf, const mf_section *s, int dim)
{
    const char *tag = mf_section_tag(s);
    int64_t k = 0;
    if (!strcmp(tag, "mog_base"))
        return mf_has(s, "components") && !mf_get_i64(mf, s, "components", &k) && k > 0 ? 3.0 * k * dim : -1;
    if (!strcmp(tag, "made_mog_base"))
        return mf_has(s, "components") && !mf_get_i64(mf, s, "components", &k) && k > 0
                   ? mlp_file_params(mf, s, dim, 3.0 * k * dim)
                   : -1;
    const layer_ops *kind = layer_kind(tag);
    return kind && kind->file_params ? kind->file_params(mf, s, dim) : 0;
}

/* The count of parameter values the file really holds: what the header's
 * count must equal before anything of that size is allocated. */
static nf_status stored_params(const mf_file *mf, size_t *count)
{
    for (size_t i = 0; i < mf_section_count(mf); i++) {
        const mf_section *s = mf_section_at(mf, i);
        if (strcmp(mf_section_tag(s), "parameters") == 0)
            return mf_count_f32s(mf, s, "values", count);
    }
    return nf_fail(NF_ERR_FORMAT, "%s: section 'parameters' missing", mf_path(mf));
}

static nf_status read_flow(const mf_file *mf, nf_flow **out)
{
    size_t ns = mf_section_count(mf), i = 0;
    const char *path = mf_path(mf);
    if (ns < 1 || strcmp(mf_section_tag(mf_section_at(mf, 0)), "nflow") != 0)
        return nf_fail(NF_ERR_FORMAT, "%s: not an nflow model (no 'nflow' section first)", path);
    const mf_section *s = mf_section_at(mf, i++);
    int64_t dim, n_layers, n_params;
    const char *base;
    double lo, hi;
    nf_status st = mf_get_i64(mf, s, "dim", &dim);
    if (!st) st = mf_get_str(mf, s, "base", &base);
    if (!st) st = mf_get_f64(mf, s, "box_lo", &lo);
    if (!st) st = mf_get_f64(mf, s, "box_hi", &hi);
    if (!st) st = mf_get_i64(mf, s, "layers", &n_layers);
    if (!st) st = mf_get_i64(mf, s, "params", &n_params);
    if (st)
        return st;
    int b = base_from_name(base);
    if (dim < 1 || dim > NF_MAX_DIM || b < 0 || n_layers < 1 || n_layers > 100000 || n_params < 0)
        return nf_fail(NF_ERR_FORMAT, "%s: section 'nflow': dim, base or counts out of range", path);
    int64_t context = 0; /* since revision 4 (docs/model-format.md): a conditional model */
    if (mf_has(s, "context") && (st = mf_get_i64(mf, s, "context", &context)))
        return st;
    if (context < 0 || context > NF_MAX_CONTEXT)
        return nf_fail(NF_ERR_FORMAT, "%s: section 'nflow': %lld context values out of range 0..%d", path,
                       (long long)context, NF_MAX_CONTEXT);
    const mf_section *header = s;
    size_t stored;
    if ((st = stored_params(mf, &stored)))
        return st;
    if (stored != (uint64_t)n_params)
        return nf_fail(NF_ERR_FORMAT, "%s: the header announces %lld parameters, the file holds %zu", path,
                       (long long)n_params, stored);
    /* every section's sizes against the header before any is built */
    double implied = 0;
    for (size_t k = 1; k < ns; k++) {
        double p = section_params(mf, mf_section_at(mf, k), (int)dim);
        implied += p > 0 ? p : 0;
        if (implied > (double)n_params)
            return nf_fail(NF_ERR_FORMAT, "%s: section %zu ('%s'): its sizes imply more parameters than the %lld "
                           "of the header", path, k, mf_section_tag(mf_section_at(mf, k)), (long long)n_params);
    }
    nf_flow *f = calloc(1, sizeof *f);
    if (!f)
        return nf_fail(NF_ERR_NOMEM, "out of memory loading %s", path);
    f->dim = (int)dim;
    f->context_dim = (int)context;
    f->base.kind = (nf_base)b;
    f->base.lo = lo;
    f->base.hi = hi;
    if (!st)
        st = read_context(mf, header, f);
    if (b == NF_BASE_UNIFORM && !(lo < hi))
        st = nf_fail(NF_ERR_FORMAT, "%s: uniform box [%g, %g] is empty", path, lo, hi);
    if (!st && i < ns && strcmp(mf_section_tag(mf_section_at(mf, i)), "config") == 0)
        st = read_config(mf, mf_section_at(mf, i++), f);
    f->config.context_dim = f->context_dim;
    if (!st && i < ns && strcmp(mf_section_tag(mf_section_at(mf, i)), "training") == 0)
        st = read_training(mf, mf_section_at(mf, i++), f);
    for (int64_t l = 0; l < n_layers && !st; l++, i++) {
        if (i >= ns) {
            st = nf_fail(NF_ERR_FORMAT, "%s: %lld layers announced, %lld found", path, (long long)n_layers,
                         (long long)l);
            break;
        }
        s = mf_section_at(mf, i);
        const layer_ops *kind = layer_kind(mf_section_tag(s));
        nf_status (*load)(const mf_file *, const mf_section *, int, layer **) = kind ? kind->load : NULL;
        if (!load) {
            st = nf_fail(NF_ERR_FORMAT, "%s: section %zu: unknown layer '%s'", path, i, mf_section_tag(s));
            break;
        }
        /* since revision 5: 'bounds' first, then 'standardize'; 'bounds' nowhere else */
        const char *tag = mf_section_tag(s);
        int is_std = !strcmp(tag, "standardize"), is_bounds = !strcmp(tag, "bounds");
        if ((l == 0 && !is_std && !is_bounds) || (l == 1 && flow_bounds(f) && !is_std) || (l > 0 && is_bounds)) {
            st = nf_fail(NF_ERR_FORMAT, "%s: the first layer must be 'standardize' (or 'bounds', then "
                         "'standardize'); section %zu is '%s'", path, i, tag);
            break;
        }
        layer *ly = NULL;
        st = load(mf, s, f->dim, &ly);
        if (!st && ly->context_dim && ly->context_dim != f->context_dim) {
            st = nf_fail(NF_ERR_FORMAT, "%s: section %zu ('%s') reads %d context values, the model has %d", path, i,
                         mf_section_tag(s), ly->context_dim, f->context_dim);
            layer_free(ly);
            break;
        }
        if (!st)
            st = flow_add(f, ly);
    }
    const char *base_tag = i < ns ? mf_section_tag(mf_section_at(mf, i)) : "";
    if (!st && (strcmp(base_tag, "made_mog_base") == 0 || strcmp(base_tag, "mog_base") == 0))
        st = mog_load(mf, mf_section_at(mf, i++), f->dim, &f->mog);
    if (!st && f->mog && f->mog->context_dim && f->mog->context_dim != f->context_dim)
        st = nf_fail(NF_ERR_FORMAT, "%s: the MoG base reads %d context values, the model has %d", path,
                     f->mog->context_dim, f->context_dim);
    if (!st && !f->mog && strcmp(base_tag, "gmm_base") == 0)
        st = gmm_load(mf, mf_section_at(mf, i++), f->dim, &f->gmm);
    if (!st && i < ns && strcmp(mf_section_tag(mf_section_at(mf, i)), "gaussian_fit") == 0)
        st = gauss_load(mf, mf_section_at(mf, i++), f);
    if (!st && flow_has_fit(f))
        f->config.tail_weight = f->fit.tail_weight;
    else if (!st && f->has_config && model_is_image(f->config.model))
        f->config.tail_weight = 0; /* written before image models had a floor */
    if (!st)
        st = flow_allocate_params(f);
    if (!st && f->n_params != (size_t)n_params)
        st = nf_fail(NF_ERR_FORMAT, "%s: the layers hold %zu parameters, the header says %lld", path, f->n_params,
                     (long long)n_params);
    if (!st && (i >= ns || strcmp(mf_section_tag(mf_section_at(mf, i)), "parameters") != 0))
        st = nf_fail(NF_ERR_FORMAT, "%s: section 'parameters' missing", path);
    if (!st) {
        s = mf_section_at(mf, i++);
        st = mf_copy_f32s(mf, s, "values", f->n_params, f->params);
        if (!st && f->n_state) st = mf_copy_f32s(mf, s, "state", f->n_state, f->state);
    }
    /* checkpoints (and older models) carry Adam's state; without it
     * further training starts Adam afresh */
    if (!st && i < ns && strcmp(mf_section_tag(mf_section_at(mf, i)), "optimizer") == 0) {
        s = mf_section_at(mf, i++);
        st = mf_get_i64(mf, s, "step", &f->opt.t);
        if (!st) st = mf_copy_f32s(mf, s, "m", f->n_params, f->opt.m);
        if (!st) st = mf_copy_f32s(mf, s, "v", f->n_params, f->opt.v);
        if (!st && f->opt.t < 0)
            st = nf_fail(NF_ERR_FORMAT, "%s: section 'optimizer': negative step", path);
    }
    size_t bad;
    if (!st && (bad = k_first_nonfinite(f->n_params, f->params)) < f->n_params)
        st = nf_fail(NF_ERR_FORMAT, "%s: parameter %zu is not finite", path, bad);
    if (!st && (bad = k_first_nonfinite(f->n_state, f->state)) < f->n_state)
        st = nf_fail(NF_ERR_FORMAT, "%s: layer state value %zu is not finite", path, bad);
    for (int l = 0; !st && l < f->n_layers; l++) {
        const layer *ly = f->layers[l];
        if (ly->ops->check_params && !ly->ops->check_params(ly, f->params + ly->p_off))
            st = nf_fail(NF_ERR_FORMAT, "%s: layer %d (%s): parameters or state break the layer's constraint "
                         "(MADE mask, negative variance)",
                         path, l, ly->ops->tag);
    }
    if (!st && f->mog && !mog_check(f->mog, f->params + f->mog->p_off))
        st = nf_fail(NF_ERR_FORMAT, "%s: MADE MoG base: parameters break the MADE mask", path);
    /* a training checkpoint (src/io/checkpoint.c) is a model plus this */
    if (!st && i + 1 == ns && strcmp(mf_section_tag(mf_section_at(mf, i)), "train_state") == 0)
        i++;
    if (!st && i != ns)
        st = nf_fail(NF_ERR_FORMAT, "%s: unexpected section '%s' after the parameters", path,
                     mf_section_tag(mf_section_at(mf, i)));
    if (st) {
        nf_flow_free(f);
        return st;
    }
    *out = f;
    return NF_OK;
}

/* Reads a model from the file at path, or (path NULL) from bytes. */
static nf_status load_from(nf_flow **out, const char *path, const void *bytes, size_t size)
{
    if (!out)
        return nf_fail(NF_ERR_INVALID, "nf_flow_load: NULL argument");
    *out = NULL;
    mf_file *mf;
    nf_status st = path ? mf_read(path, &mf) : mf_read_bytes("model bytes", bytes, size, &mf);
    if (st)
        return st;
    st = read_flow(mf, out);
    mf_free(mf);
    return st;
}

nf_status nf_flow_load(nf_flow **out, const char *path)
{
    return path ? load_from(out, path, NULL, 0) : nf_fail(NF_ERR_INVALID, "nf_flow_load: NULL path");
}

nf_status nf_flow_load_bytes(nf_flow **out, const void *bytes, size_t size)
{
    if (!bytes && size)
        return nf_fail(NF_ERR_INVALID, "nf_flow_load_bytes: NULL bytes");
    return load_from(out, NULL, bytes ? bytes : "", size);
}

size_t nf_flow_describe(const nf_flow *f, char *buf, size_t size)
{
    size_t k = 0;
#define OUT(...) k += (size_t)snprintf(buf + (k < size ? k : size), k < size ? size - k : 0, __VA_ARGS__)
    const nf_config *c = &f->config;
    if (f->has_config && c->model == NF_MODEL_GAUSSIAN)
        OUT("model: gaussian, full covariance (the whitening layer alone)\n");
    else if (f->has_config && c->model == NF_MODEL_GMM)
        OUT("model: gmm, %d full-covariance Gaussians%s\n", f->gmm ? f->gmm->k : c->components,
            c->components ? "" : " (their number chosen on the data)");
    else if (f->has_config && c->model == NF_MODEL_NSF)
        OUT("model: nsf, %d spline coupling layers of %d bins on [-%g, %g] (shifted and scaled per row), LU layers "
            "between, networks %d x %d %s%s\n",
            c->layers, c->bins, c->tail_bound, c->tail_bound, c->hidden_layers, c->hidden,
            activation_names[c->activation], c->batch_norm ? ", batch norm" : "");
    else if (f->has_config && c->model == NF_MODEL_NSF_AR)
        OUT("model: nsf-ar, %d spline MAFs of %d bins on [-%g, %g] (shifted and scaled per row), MADEs of %d x %d %s, "
            "first order %s%s\n",
            c->layers, c->bins, c->tail_bound, c->tail_bound, c->hidden_layers, c->hidden,
            activation_names[c->activation], order_names[c->order], c->batch_norm ? ", batch norm" : "");
    else if (f->has_config && model_is_image(c->model))
        OUT("model: %s, %d levels of %d steps on %d x %d x %d images, convolutional networks of %d channels and %d "
            "residual block%s\n",
            nf_model_name(c->model), c->levels, c->layers, c->image_shape[0], c->image_shape[1], c->image_shape[2],
            c->hidden, c->hidden_layers, c->hidden_layers == 1 ? "" : "s");
    else if (f->has_config && c->model <= NF_MODEL_REALNVP)
        OUT("model: %s, %d coupling layers, networks %d x %d %s%s\n", nf_model_name(c->model), c->layers,
            c->hidden_layers, c->hidden, activation_names[c->activation], c->batch_norm ? ", batch norm" : "");
    else if (f->has_config)
        OUT("model: %s, MADEs of %d x %d %s, first order %s%s%s\n", nf_model_name(c->model), c->hidden_layers,
            c->hidden, activation_names[c->activation], order_names[c->order],
            c->random_degrees ? ", random degrees" : "", c->batch_norm ? ", batch norm" : "");
    if (f->fit.chol && c->model != NF_MODEL_GAUSSIAN) /* fitted from data, not merely configured */
        OUT("first layer: whitening of the training covariance (linear LU, trained on)\n");
    if (flow_has_fit(f) && f->fit.tail_weight > 0)
        OUT("density: %g x flow + %g x %s (a floor under the tails)\n", 1 - f->fit.tail_weight, f->fit.tail_weight,
            f->fit.identity ? "N(0, I) of the standardised values" : "the Gaussian fit");
    OUT("dimension: %d\n", f->dim);
    if (f->record.image[0])
        OUT("images: %d x %d x %d of 8-bit values (dequantised, then RealNVP's logit with alpha 0.05 as its "
            "first layer); log-likelihoods also in bits per dimension\n",
            f->record.image[0], f->record.image[1], f->record.image[2]);
    if (f->record.label_classes)
        OUT("context: a class label of %d classes (0 to %d), one-hot\n",
            f->record.label_classes, f->record.label_classes - 1);
    else if (f->context_dim && f->context_columns)
        OUT("context: %d column%s (the data's columns %s)\n", f->context_dim, f->context_dim == 1 ? "" : "s",
            f->context_columns);
    else if (f->context_dim)
        OUT("context: %d value%s per row (which data columns hold them is not recorded)\n", f->context_dim,
            f->context_dim == 1 ? "" : "s");
    OUT("base: ");
    k += flow_base_of(f)->describe(f, buf + (k < size ? k : size), k < size ? size - k : 0);
    OUT("\nparameters: %zu\nlayers (density direction, data first):\n", f->n_params);
    for (int l = 0; l < f->n_layers; l++) {
        const layer *ly = f->layers[l];
        OUT("  %2d: ", l);
        k += ly->ops->describe(ly, buf + (k < size ? k : size), k < size ? size - k : 0);
        OUT(" [%zu params]\n", ly->ops->n_params(ly));
    }
    const double *mean, *std;
    standardize_get(f->layers[flow_first(f)], &mean, &std);
    OUT("data statistics (%lld training rows%s):\n  %-6s %12s %12s %12s %12s\n", (long long)f->record.train_rows,
        flow_bounds(f) ? "; bounded columns as mapped to the real line" : "", "column", "mean", "std", "min", "max");
    for (int i = 0; i < f->dim; i++) {
        if (i == 12 && f->dim > 16) {
            OUT("  ... %d more columns\n", f->dim - 12);
            break;
        }
        OUT("  %-6d %12.6g %12.6g %12.6g %12.6g\n", i, mean[i], std[i], f->record.data_min ? f->record.data_min[i] : NAN,
            f->record.data_max ? f->record.data_max[i] : NAN);
    }
    if (f->record.epochs && f->gmm)
        OUT("training: EM, %lld iterations, mean log-likelihood train %.4f, validation %.4f, test %.4f\n",
            (long long)f->record.epochs, f->record.train_ll, f->record.val_ll, f->record.test_ll);
    else if (f->record.epochs)
        OUT("training: %lld epochs, best epoch %lld, mean log-likelihood train %.4f, validation %.4f, test %.4f\n",
            (long long)f->record.epochs, (long long)f->record.best_epoch, f->record.train_ll, f->record.val_ll, f->record.test_ll);
    if (f->record.race_count)
        OUT("chosen by a race (validation log-likelihood, best epoch of the epochs trained; dropped after round):\n");
    for (int r = 0; r < f->record.race_count; r++) {
        const nf_race_entry *e = &f->record.race[r];
        if (!strcmp(e->model, "gmm")) { /* hidden: its components; epochs: EM's iterations */
            OUT("  %-9s %4d components        %10.4f  %4d EM iterations  %s", e->model, e->hidden,
                e->val_log_likelihood, e->epochs, e->round ? "round " : "the winner\n");
            if (e->round)
                OUT("%d\n", e->round);
            continue;
        }
        OUT("  %-9s dropout %-4g %d x %-4d %10.4f  epoch %4d of %4d  %s", e->model, e->dropout, e->layers,
            e->hidden, e->val_log_likelihood, e->best_epoch, e->epochs, e->round ? "round " : "the winner\n");
        if (e->round)
            OUT("%d\n", e->round);
    }
#undef OUT
    return k;
}

