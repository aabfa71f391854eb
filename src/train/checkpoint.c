/* Training checkpoints: writing and checking the "train_state" section that
 * follows the model sections (docs/model-format.md). */
#include "train/checkpoint.h"

/* Training is float-only: the double build of the arithmetic has no use
 * for checkpoints (and its `real` is not what the file stores). */
#ifndef NF_REAL_DOUBLE

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "models/model_file.h"
#include "train/train_state.h"

enum { STATE_FORMAT = 1 };

/* Bits of a u64 as an i64 value and back, without implementation-defined
 * conversions. */
static int64_t as_i64(uint64_t u)
{
    int64_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

static uint64_t as_u64(int64_t v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static const char *const rng_keys[4] = {"rng0", "rng1", "rng2", "rng3"};

nf_status checkpoint_write(const nf_flow *f, const train_state *s, const char *path)
{
    mf_writer *w = mf_writer_new();
    /* the container has no i64 arrays; f64 holds every index below 2^53 */
    double *order = malloc(sizeof(double) * (s->n_train ? (size_t)s->n_train : 1));
    if (!w || !order) {
        mf_writer_free(w);
        free(order);
        return nf_fail(NF_ERR_NOMEM, "out of memory writing checkpoint %s", path);
    }
    for (int64_t i = 0; i < s->n_train; i++)
        order[i] = (double)s->order[i];
    const nf_train_options *o = &s->opt;
    nf_status st = flow_put_model(f, w, 1);
    if (!st) st = mf_begin(w, "train_state");
    if (!st) st = mf_put_i64(w, "format", STATE_FORMAT);
    if (!st) st = mf_put_i64(w, "dim", s->dim);
    if (!st) st = mf_put_i64(w, "train_rows", s->n_train);
    if (!st) st = mf_put_i64(w, "val_rows", s->n_val);
    if (!st) st = mf_put_i64(w, "train_crc32", s->crc_train);
    if (!st) st = mf_put_i64(w, "val_crc32", s->crc_val);
    if (!st) st = mf_put_i64(w, "batch", o->batch);
    if (!st) st = mf_put_f64(w, "lr", o->lr);
    if (!st) st = mf_put_f64(w, "weight_decay", o->weight_decay);
    if (!st) st = mf_put_f64(w, "clip_norm", o->clip_norm);
    if (!st) st = mf_put_i64(w, "max_epochs", o->max_epochs);
    if (!st) st = mf_put_i64(w, "patience", o->patience);
    if (!st) st = mf_put_f64(w, "lr_decay", o->lr_decay);
    if (!st && o->dropout > 0) st = mf_put_f64(w, "dropout", o->dropout);
    if (!st) st = mf_put_i64(w, "seed", as_i64(o->seed));
    for (int k = 0; k < 4 && !st; k++)
        st = mf_put_i64(w, rng_keys[k], as_i64(s->rng.s[k]));
    if (!st) st = mf_put_i64(w, "epoch", s->epoch);
    if (!st) st = mf_put_i64(w, "next_row", s->next);
    if (!st) st = mf_put_f64s(w, "order", order, (size_t)s->n_train);
    if (!st) st = mf_put_f64(w, "loss_sum", s->loss_sum);
    if (!st) st = mf_put_i64(w, "loss_rows", s->loss_rows);
    if (!st) st = mf_put_f64(w, "last_train", s->last_train);
    if (!st) st = mf_put_f64(w, "best_val", s->best_val);
    if (!st) st = mf_put_i64(w, "best_epoch", s->best_epoch);
    if (!st) st = mf_put_i64(w, "bad_epochs", s->bad_epochs);
    if (!st) st = mf_put_i64(w, "plateau", s->plateau);
    if (!st) st = mf_put_f64(w, "lr_now", s->lr);
    if (!st) st = mf_put_f64(w, "elapsed", s->elapsed);
    if (!st) st = mf_put_f32s(w, "best", s->best, s->n_params);
    if (!st) st = mf_put_f32s(w, "best_state", s->best + s->n_params, s->n_state);
    free(order);
    if (!st) st = mf_writer_save(w, path);
    mf_writer_free(w);
    return st;
}

/* The train_state section: the last one, in a format this reader knows. */
static nf_status state_section(const mf_file *mf, const mf_section **out)
{
    size_t ns = mf_section_count(mf);
    const mf_section *s = ns ? mf_section_at(mf, ns - 1) : NULL;
    if (!s || strcmp(mf_section_tag(s), "train_state") != 0)
        return nf_fail(NF_ERR_FORMAT, "%s: not a training checkpoint (no 'train_state' section)", mf_path(mf));
    int64_t format;
    nf_status st = mf_get_i64(mf, s, "format", &format);
    if (st)
        return st;
    if (format != STATE_FORMAT)
        return nf_fail(format > STATE_FORMAT ? NF_ERR_UNSUPPORTED : NF_ERR_FORMAT,
                       "%s: train_state format %lld (this nflow reads %d)", mf_path(mf), (long long)format,
                       STATE_FORMAT);
    *out = s;
    return NF_OK;
}

static nf_status get_int(const mf_file *mf, const mf_section *s, const char *key, int64_t lo, int64_t hi, int64_t *v)
{
    nf_status st = mf_get_i64(mf, s, key, v);
    if (!st && (*v < lo || *v > hi))
        st = nf_fail(NF_ERR_FORMAT, "%s: section 'train_state': %s = %lld out of range %lld..%lld", mf_path(mf), key,
                     (long long)*v, (long long)lo, (long long)hi);
    return st;
}

static nf_status get_options(const mf_file *mf, const mf_section *s, nf_train_options *o)
{
    int64_t batch, max_epochs, patience, seed;
    nf_status st = get_int(mf, s, "batch", 1, INT_MAX, &batch);
    if (!st) st = mf_get_f64(mf, s, "lr", &o->lr);
    if (!st) st = mf_get_f64(mf, s, "weight_decay", &o->weight_decay);
    if (!st) st = mf_get_f64(mf, s, "clip_norm", &o->clip_norm);
    if (!st) st = get_int(mf, s, "max_epochs", 0, INT_MAX, &max_epochs);
    if (!st) st = get_int(mf, s, "patience", 0, INT_MAX, &patience);
    if (!st) st = mf_get_f64(mf, s, "lr_decay", &o->lr_decay);
    o->dropout = 0; /* written when not 0; absent in older checkpoints */
    if (!st && mf_has(s, "dropout")) st = mf_get_f64(mf, s, "dropout", &o->dropout);
    if (!st) st = mf_get_i64(mf, s, "seed", &seed);
    if (st)
        return st;
    o->batch = (int)batch;
    o->max_epochs = (int)max_epochs;
    o->patience = (int)patience;
    o->seed = as_u64(seed);
    return NF_OK;
}

nf_status checkpoint_read_options(const char *path, nf_train_options *opt)
{
    mf_file *mf;
    const mf_section *s;
    nf_status st = mf_read(path, &mf);
    if (st)
        return st;
    nf_train_options o = *opt;
    st = state_section(mf, &s);
    if (!st) st = get_options(mf, s, &o);
    if (!st)
        *opt = o;
    mf_free(mf);
    return st;
}

/* Whether f holds exactly the parameters, layer state and Adam state saved
 * in the model sections of the checkpoint. */
static nf_status check_flow(const mf_file *mf, const nf_flow *f)
{
    const char *path = mf_path(mf);
    size_t ns = mf_section_count(mf);
    const mf_section *ps = ns >= 3 ? mf_section_at(mf, ns - 3) : NULL, *os = ns >= 3 ? mf_section_at(mf, ns - 2) : NULL;
    if (!ps || strcmp(mf_section_tag(ps), "parameters") || strcmp(mf_section_tag(os), "optimizer"))
        return nf_fail(NF_ERR_FORMAT, "%s: no 'parameters' and 'optimizer' sections before 'train_state'", path);
    const float *p, *st_v = NULL, *m, *v;
    size_t np, nst = 0, nm, nv;
    int64_t step;
    nf_status st = mf_get_f32s(mf, ps, "values", (size_t)-1, &p, &np);
    if (!st && mf_has(ps, "state")) st = mf_get_f32s(mf, ps, "state", (size_t)-1, &st_v, &nst);
    if (!st) st = mf_get_i64(mf, os, "step", &step);
    if (!st) st = mf_get_f32s(mf, os, "m", (size_t)-1, &m, &nm);
    if (!st) st = mf_get_f32s(mf, os, "v", (size_t)-1, &v, &nv);
    if (st)
        return st;
    size_t n = f->n_params;
    if (np != n || nst != f->n_state || nm != n || nv != n || step != f->opt.t ||
        (n && (memcmp(p, f->params, sizeof(float) * n) || memcmp(m, f->opt.m, sizeof(float) * n) ||
               memcmp(v, f->opt.v, sizeof(float) * n))) ||
        (nst && memcmp(st_v, f->state, sizeof(float) * nst)))
        return nf_fail(NF_ERR_INVALID,
                       "%s: the flow to train is not the model saved in this checkpoint "
                       "(resume with the flow nf_flow_load reads from it)",
                       path);
    return NF_OK;
}

/* The caller's data against the data the checkpoint was made with. */
static nf_status check_data(const mf_file *mf, const mf_section *sec, const train_state *s)
{
    const char *path = mf_path(mf);
    int64_t dim, rows[2], crc[2];
    nf_status st = mf_get_i64(mf, sec, "dim", &dim);
    if (!st) st = mf_get_i64(mf, sec, "train_rows", &rows[0]);
    if (!st) st = mf_get_i64(mf, sec, "train_crc32", &crc[0]);
    if (!st) st = mf_get_i64(mf, sec, "val_rows", &rows[1]);
    if (!st) st = mf_get_i64(mf, sec, "val_crc32", &crc[1]);
    if (st)
        return st;
    if (dim != s->dim)
        return nf_fail(NF_ERR_DIMENSION, "%s: the checkpoint was made with %lld-dimensional data, not %d", path,
                       (long long)dim, s->dim);
    for (int k = 0; k < 2; k++) {
        int64_t now_rows = k ? s->n_val : s->n_train;
        uint32_t now_crc = k ? s->crc_val : s->crc_train;
        const char *what = k ? "validation" : "training";
        if (rows[k] != now_rows)
            return nf_fail(NF_ERR_INVALID, "%s: the checkpoint was made with other %s data (%lld rows, now %lld)", path,
                           what, (long long)rows[k], (long long)now_rows);
        if (crc[k] != (int64_t)now_crc)
            return nf_fail(NF_ERR_INVALID,
                           "%s: the checkpoint was made with other %s data (same %lld rows, CRC-32 %08llx, now %08lx)",
                           path, what, (long long)rows[k], (unsigned long long)crc[k], (unsigned long)now_crc);
    }
    return NF_OK;
}

nf_status checkpoint_read(const char *path, const nf_flow *f, train_state *s)
{
    mf_file *mf;
    const mf_section *sec;
    nf_status st = mf_read(path, &mf);
    if (st)
        return st;
    train_state t = *s; /* s changes only when everything checks out */
    if (!(st = state_section(mf, &sec)) && !(st = check_data(mf, sec, s)) && !(st = check_flow(mf, f)))
        st = get_options(mf, sec, &t.opt);
    int64_t rng_bits[4], best_epoch, next = 0, loss_rows;
    const double *order = NULL;
    const float *best = NULL, *best_state = NULL;
    for (int k = 0; k < 4 && !st; k++)
        st = mf_get_i64(mf, sec, rng_keys[k], &rng_bits[k]);
    if (!st) st = get_int(mf, sec, "epoch", 0, INT_MAX, &t.epoch);
    if (!st) st = get_int(mf, sec, "next_row", 0, s->n_train, &next);
    if (!st) st = mf_get_f64s(mf, sec, "order", (size_t)s->n_train, &order, NULL);
    if (!st) st = mf_get_f64(mf, sec, "loss_sum", &t.loss_sum);
    if (!st) st = get_int(mf, sec, "loss_rows", next, next, &loss_rows);
    if (!st) st = mf_get_f64(mf, sec, "last_train", &t.last_train);
    if (!st) st = mf_get_f64(mf, sec, "best_val", &t.best_val);
    if (!st) st = get_int(mf, sec, "best_epoch", 0, t.epoch, &best_epoch);
    if (!st) st = get_int(mf, sec, "bad_epochs", 0, t.epoch, &t.bad_epochs);
    if (!st) st = get_int(mf, sec, "plateau", 0, t.epoch, &t.plateau);
    if (!st) st = mf_get_f64(mf, sec, "lr_now", &t.lr);
    if (!st) st = mf_get_f64(mf, sec, "elapsed", &t.elapsed);
    if (!st) st = mf_get_f32s(mf, sec, "best", s->n_params, &best, NULL);
    if (!st) st = mf_get_f32s(mf, sec, "best_state", s->n_state, &best_state, NULL);
    int64_t batch = s->n_train < t.opt.batch ? s->n_train : t.opt.batch;
    if (!st && next % batch != 0 && next != s->n_train)
        st = nf_fail(NF_ERR_FORMAT, "%s: section 'train_state': next_row %lld is not at a batch start", path,
                     (long long)next);
    if (!st && (!isfinite(t.loss_sum) || !(t.lr > 0) || !isfinite(t.lr) || !(t.elapsed >= 0) || isnan(t.best_val)))
        st = nf_fail(NF_ERR_FORMAT, "%s: section 'train_state': loss_sum, lr_now, elapsed or best_val out of range",
                     path);
    for (size_t k = 0; !st && k < s->n_params + s->n_state; k++) {
        float b = k < s->n_params ? best[k] : best_state[k - s->n_params];
        if (!isfinite(b))
            st = nf_fail(NF_ERR_FORMAT, "%s: section 'train_state': best value %zu is not finite", path, k);
    }
    /* the order must be a permutation: it indexes the data */
    unsigned char *seen = st ? NULL : calloc(s->n_train ? (size_t)s->n_train : 1, 1);
    if (!st && !seen)
        st = nf_fail(NF_ERR_NOMEM, "out of memory reading %s", path);
    for (int64_t i = 0; !st && i < s->n_train; i++) {
        double d = order[i];
        if (!(d >= 0 && d < (double)s->n_train) || d != floor(d) || seen[(size_t)d]++)
            st = nf_fail(NF_ERR_FORMAT, "%s: section 'train_state': the row order is not a permutation (at %lld)",
                         path, (long long)i);
    }
    free(seen);
    if (!st) {
        for (int k = 0; k < 4; k++)
            t.rng.s[k] = as_u64(rng_bits[k]);
        t.next = next;
        t.loss_rows = loss_rows;
        t.best_epoch = best_epoch;
        for (int64_t i = 0; i < s->n_train; i++)
            t.order[i] = (int64_t)order[i];
        if (s->n_params)
            memcpy(t.best, best, sizeof(float) * s->n_params);
        if (s->n_state)
            memcpy(t.best + s->n_params, best_state, sizeof(float) * s->n_state);
        *s = t;
    }
    mf_free(mf);
    return st;
}

#else
typedef int checkpoint_unused_in_double_build;
#endif
