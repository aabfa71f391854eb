/* Maximum-likelihood training: shuffled mini-batches, Adam, a validation
 * split with early stopping that keeps the best parameters, checkpoints and
 * exact resume. Every buffer is allocated before the first step (writing a
 * checkpoint allocates). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/hash.h"
#include "train/api_train.h"
#include "train/api_evaluate.h"
#include "train/api_gmm.h"
#include "flow/flow.h"
#include "flow/gaussian_fit.h"
#include "core/kern.h"
#include "core/sized.h"
#include "train/checkpoint.h"
#include "train/step.h"
#include "train/train_state.h"

void nf_train_options_init(nf_train_options *caller, size_t struct_size)
{
    nf_train_options o;
    memset(&o, 0, sizeof o);
    o.batch = 256;
    o.lr = 1e-3;
    o.weight_decay = 1e-6;
    o.clip_norm = 100;
    o.max_epochs = 1000;
    o.patience = 20;
    o.patience_steps = 1000;
    o.lr_decay = 0.5;
    o.seed = 1;
    o.checkpoint_seconds = 300;
    sized_write(caller, struct_size, &o, sizeof o);
}

nf_status train_options_in(const nf_train_options *opt, nf_train_options *full)
{
    nf_train_options_default(full);
    return sized_read(full, sizeof *full, TRAIN_OPTIONS_SIZE_1, opt, "nf_train_options");
}

static nf_status check_options(const nf_train_options *o)
{
    if (o->batch < 1 || o->batch > NF_MAX_BATCH)
        return nf_fail(NF_ERR_INVALID, "batch %d out of range 1..%d", o->batch, NF_MAX_BATCH);
    if (!(o->lr > 0 && o->lr < 10))
        return nf_fail(NF_ERR_INVALID, "learning rate %g out of range (0, 10)", o->lr);
    if (!(o->weight_decay >= 0) || !isfinite(o->weight_decay))
        return nf_fail(NF_ERR_INVALID, "weight decay %g must be >= 0", o->weight_decay);
    if (isnan(o->clip_norm))
        return nf_fail(NF_ERR_INVALID, "clip norm is NaN");
    if (!(o->lr_decay > 0 && o->lr_decay <= 1))
        return nf_fail(NF_ERR_INVALID, "learning-rate decay %g out of range (0, 1]", o->lr_decay);
    if (o->max_epochs < 0 || o->patience < 0 || o->patience_steps < 0)
        return nf_fail(NF_ERR_INVALID, "epochs and patience must be >= 0");
    if (!(o->dropout >= 0 && o->dropout < 1))
        return nf_fail(NF_ERR_INVALID, "dropout %g out of range [0, 1)", o->dropout);
    return NF_OK;
}

/* A context exactly when the flow is conditional. */
static nf_status check_context(const nf_flow *f, const float *context, size_t rows, const char *what)
{
    if (f->context_dim && rows && !context)
        return nf_fail(NF_ERR_INVALID, "the model is conditional on %d context values per row: pass the %s "
                                       "rows' context (nf_flow_*_given)", f->context_dim, what);
    if (!f->context_dim && context)
        return nf_fail(NF_ERR_INVALID, "the model takes no context");
    return NF_OK;
}

/* The networks' dropout for the step Adam is about to take: the draws
 * follow from the seed, the step (Adam's count, which checkpoints keep)
 * and each row's place in the global batch (first_row: this process's
 * first), so that processes sharing a batch draw what one process would. */
static void dropout_begin(nf_flow *f, const nf_train_options *o, size_t first_row)
{
    if (o->dropout > 0)
        flow_set_dropout(f, o->dropout, k_mix64(k_mix64(o->seed ^ 0x64726f706f7574ull) + (uint64_t)f->opt.t),
                         first_row);
}

static void dropout_end(nf_flow *f, const nf_train_options *o)
{
    if (o->dropout > 0)
        flow_set_dropout(f, 0, 0, 0);
}

nf_status nf_flow_train_step_given(nf_flow *f, const float *batch, const float *context, size_t rows,
                                   const nf_train_options *opt, double *loss)
{
    nf_status st;
    if (!f || !f->finalized)
        return nf_fail(NF_ERR_INVALID, "flow is not finalized");
    if ((st = check_context(f, context, rows, "batch")))
        return st;
    nf_train_options full;
    if ((st = train_options_in(opt, &full)) || (st = check_options(&full)))
        return st;
    opt = &full;
    if (rows < 1 || rows > (size_t)opt->batch)
        return nf_fail(NF_ERR_INVALID, "batch of %zu rows (1..%d allowed)", rows, opt->batch);
    if ((st = flow_check_bounds(f, batch, rows, "batch")))
        return st;
    if ((st = flow_reserve(f, opt->batch)))
        return st;
    flow_load_context(f, context, 0, (int)rows);
    unsigned fp = k_fast_fp_begin();
    dropout_begin(f, opt, 0);
    double l = train_step(f, (int)rows, batch, opt->lr, opt->weight_decay, opt->clip_norm);
    dropout_end(f, opt);
    k_fast_fp_end(fp);
    if (loss)
        *loss = l;
    if (!isfinite(l))
        return nf_fail(NF_ERR_NONFINITE, "non-finite loss (%g); parameters left unchanged", l);
    return NF_OK;
}

nf_status nf_flow_train_step(nf_flow *f, const float *batch, size_t rows, const nf_train_options *opt,
                             double *loss)
{
    return nf_flow_train_step_given(f, batch, NULL, rows, opt, loss);
}


nf_status nf_train_options_read(const char *checkpoint_path, nf_train_options *opt)
{
    if (!checkpoint_path || !opt)
        return nf_fail(NF_ERR_INVALID, "NULL checkpoint path or options");
    nf_status st = sized_check(opt, sizeof *opt, TRAIN_OPTIONS_SIZE_1, "nf_train_options");
    return st ? st : checkpoint_read_options(checkpoint_path, opt);
}

/* The loop's working set: the caller's arguments, the state a checkpoint
 * saves (s), and what a run derives from them. The whole state is in s
 * (src/train/train_state.h), so that a checkpoint taken after any step
 * restores it exactly. */
struct train_run {
    nf_flow *f;
    const float *train, *val;
    const float *train_context, *val_context; /* NULL for an unconditional flow */
    size_t n_train, n_val;
    const nf_train_options *opt; /* the caller's (or own_opt): callbacks, checkpoint path, stop flag */
    nf_train_options own_opt;    /* a paused run's copy (train_run_open) */
    const char *candidate;       /* its progress calls' nf_train_progress.candidate */
    const nf_train_options *o;   /* the run's: s.opt (the saved ones on a resume) */
    train_state s;
    int batch, eval_rows, decay_every;
    int64_t steps_per_epoch;
    int anneal; /* the rate falls on a cosine from lr to 0 over max_epochs (no halving on plateaus) */
    k_probe probe; /* the default team against one thread (core/kern.h) */
    real *xb;    /* the gathered batch */
    float *cb;   /* and its context */
    /* The last validation pass's log-densities and the best parameters'
     * (of best_key), kept for the flow (flow_scored); NULL: not kept. */
    double *val_lp, *best_lp;
    uint64_t best_key;
    int best_kept; /* best_lp holds a pass */
    double t0, last_checkpoint, last_progress;
    int abandoned, stopped;
    int checkpoint_failures;
    char checkpoint_error[256];
    train_share share; /* ranks 1: alone */
};

/* A checkpoint is insurance, not the product: one that cannot be written
 * (a full disk) is counted and its message kept for the caller, and
 * training goes on (the file keeps its last good state). */
static void checkpoint(train_run *r)
{
    r->s.elapsed = clock_seconds() - r->t0;
    if (checkpoint_write(r->f, &r->s, r->opt->checkpoint_path) != NF_OK) {
        r->checkpoint_failures++;
        snprintf(r->checkpoint_error, sizeof r->checkpoint_error, "%s", nf_last_error());
    }
}

/* Data-parallel training needs the same data on every process: with other
 * row counts the processes would step through different reductions (Open
 * MPI aborts with MPI_ERR_TRUNCATE), with other rows of the same shape they
 * would train on nonsense silently. Rank 0's row counts and a hash of its
 * training and validation rows (contexts and shapes too) reach every
 * process through the reduce (the others add zeros; 16-bit pieces, exact
 * in doubles), each compares them with its own, and a second reduce counts
 * the processes that differ, so that every process refuses at the same
 * point, each saying what it holds. */
nf_status nf_train_check_same_data(const float *train, const float *train_context, size_t n_train, const float *val,
                                   const float *val_context, size_t n_val, int dim, int context_dim,
                                   const nf_train_options *opt)
{
    nf_train_options full;
    if (opt) {
        nf_status in = train_options_in(opt, &full);
        if (in)
            return in;
        opt = &full;
    }
    if (!opt || opt->ranks <= 1)
        return NF_OK;
    if (!opt->reduce || opt->rank < 0 || opt->rank >= opt->ranks)
        return nf_fail(NF_ERR_INVALID, "data-parallel training: rank %d of %d, %s", opt->rank, opt->ranks,
                       opt->reduce ? "out of range" : "no reduce function");
    if (dim < 1 || context_dim < 0)
        return nf_fail(NF_ERR_INVALID, "data-parallel training: %d columns of x, %d of context", dim, context_dim);
    uint64_t h = 0x6E666C6F77646174ull; /* "nflowdat" */
    h = hash_size(h, (size_t)dim);
    h = hash_size(h, (size_t)context_dim);
    h = hash_size(h, n_train);
    h = hash_size(h, n_val);
    h = hash_bytes(h, train, sizeof(float) * n_train * (size_t)dim);
    h = hash_bytes(h, context_dim ? train_context : NULL, sizeof(float) * n_train * (size_t)context_dim);
    h = hash_bytes(h, val, sizeof(float) * n_val * (size_t)dim);
    h = hash_bytes(h, context_dim ? val_context : NULL, sizeof(float) * n_val * (size_t)context_dim);
    enum { PIECES = 4 };
    double mine[PIECES + 2], first[PIECES + 2];
    for (int k = 0; k < PIECES; k++)
        mine[k] = (double)((h >> (16 * k)) & 0xFFFF);
    mine[PIECES] = (double)n_train;
    mine[PIECES + 1] = (double)n_val;
    for (int k = 0; k < PIECES + 2; k++)
        first[k] = opt->rank == 0 ? mine[k] : 0;
    if (opt->reduce(first, PIECES + 2, 1, opt->reduce_user))
        return nf_fail(NF_ERR_IO, "data-parallel training: the reduction that compares the processes' data failed");
    int mismatch = memcmp(mine, first, sizeof mine) != 0;
    double differ = mismatch;
    if (opt->reduce(&differ, 1, 1, opt->reduce_user))
        return nf_fail(NF_ERR_IO, "data-parallel training: the reduction that compares the processes' data failed");
    if (differ == 0)
        return NF_OK;
    uint64_t h0 = 0;
    for (int k = 0; k < PIECES; k++)
        h0 |= (uint64_t)first[k] << (16 * k);
    if (!mismatch)
        return nf_fail(NF_ERR_INVALID,
                       "data-parallel training: %.0f of the %d processes hold other data than process 0 (process %d "
                       "holds the same: %zu training and %zu validation rows, hash %016llx); every process must read "
                       "the same data",
                       differ, opt->ranks, opt->rank, n_train, n_val, (unsigned long long)h);
    return nf_fail(NF_ERR_INVALID,
                   "data-parallel training: process %d holds other data than process 0: %zu training and %zu "
                   "validation rows, hash %016llx, against %.0f and %.0f, hash %016llx; every process must read the "
                   "same data",
                   opt->rank, n_train, n_val, (unsigned long long)h, first[PIECES], first[PIECES + 1],
                   (unsigned long long)h0);
}

/* What a checkpoint belongs to: the data's checksums (contexts too). */
static void data_checksums(train_run *r)
{
    train_state *s = &r->s;
    size_t dim = (size_t)r->f->dim, nc = (size_t)r->f->context_dim;
    s->crc_train = train_data_crc(r->train, r->n_train * dim);
    s->crc_val = train_data_crc(r->val, r->n_val * dim);
    if (nc) {
        s->crc_train = train_data_crc_more(s->crc_train, r->train_context, r->n_train * nc);
        s->crc_val = train_data_crc_more(s->crc_val, r->val_context, r->n_val * nc);
    }
}

static void free_buffers(train_run *r)
{
    free(r->xb);
    free(r->cb);
    free(r->val_lp);
    free(r->best_lp);
    r->xb = NULL;
    r->cb = NULL;
    r->val_lp = r->best_lp = NULL;
}

/* The mean log-likelihood of the validation rows (their log-densities in val_lp). */
static double validate(train_run *r)
{
    double *lp = r->val_lp && r->best_lp ? r->val_lp : NULL;
    return dataset_mean_log_lik(r->f, r->val, r->val_context, r->n_val, r->eval_rows, &r->share, lp);
}

/* The last validation pass is the best's: its log-densities kept, with the
 * hash of what they came from (the flow as it is now). */
static void keep_best_lp(train_run *r)
{
    if (!r->val_lp || !r->best_lp)
        return;
    double *t = r->best_lp;
    r->best_lp = r->val_lp;
    r->val_lp = t;
    r->best_key = flow_scored_key(r->f, r->val, r->val_context, r->n_val, r->eval_rows);
    r->best_kept = 1;
}

/* Start: checks, the state (fresh or resumed), the buffers, and the
 * untrained flow as the first candidate. Nothing is allocated after this. */
static nf_status train_start(train_run *r)
{
    nf_flow *f = r->f;
    const nf_train_options *opt = r->opt;
    nf_status st;
    if (!f || !f->finalized)
        return nf_fail(NF_ERR_INVALID, "flow is not finalized");
    if ((st = check_options(opt)))
        return st;
    if (r->n_train < 1 || !r->train)
        return nf_fail(NF_ERR_INVALID, "no training data");
    if (r->n_val && !r->val)
        return nf_fail(NF_ERR_INVALID, "NULL validation data");
    if ((st = check_context(f, r->train_context, r->n_train, "training")) ||
        (st = check_context(f, r->val_context, r->n_val, "validation")))
        return st;
    /* a row outside the bounds has density 0: no loss to train on */
    if ((st = flow_check_bounds(f, r->train, r->n_train, "training")) ||
        (st = flow_check_bounds(f, r->val, r->n_val, "validation")))
        return st;
    if (opt->checkpoint_path && !(opt->checkpoint_seconds >= 0))
        return nf_fail(NF_ERR_INVALID, "checkpoint interval %g s must be >= 0", opt->checkpoint_seconds);
    if (!(opt->progress_seconds >= 0))
        return nf_fail(NF_ERR_INVALID, "progress interval %g s must be >= 0", opt->progress_seconds);
    r->share = (train_share){0, 1, NULL, NULL};
    if (opt->ranks > 1) {
        if (opt->rank < 0 || opt->rank >= opt->ranks || !opt->reduce)
            return nf_fail(NF_ERR_INVALID, "data-parallel training: rank %d of %d, %s", opt->rank, opt->ranks,
                           opt->reduce ? "out of range" : "no reduce function");
        for (int l = 0; l < f->n_layers; l++)
            if (f->layers[l]->ops->n_state)
                return nf_fail(NF_ERR_UNSUPPORTED, "data-parallel training: the %s layer keeps batch statistics, "
                               "which would differ between processes; train it in one process",
                               f->layers[l]->ops->tag);
        r->share = (train_share){opt->rank, opt->ranks, opt->reduce, opt->reduce_user};
        if ((st = nf_train_check_same_data(r->train, r->train_context, r->n_train, r->val, r->val_context, r->n_val,
                                           f->dim, f->context_dim, opt)))
            return st;
    }
    train_state *s = &r->s;
    int checksums = opt->checkpoint_path || opt->resume_path;
    if ((st = train_state_init(s, f, r->train, r->n_train, r->val, r->n_val, opt, 0)))
        return st;
    if (checksums)
        data_checksums(r);
    if (opt->resume_path) {
        st = checkpoint_read(opt->resume_path, f, s);
        s->opt.max_epochs = opt->max_epochs;
        s->opt.patience = opt->patience;
        s->opt.patience_steps = opt->patience_steps;
        if (!st && check_options(&s->opt)) {
            char why[256];
            snprintf(why, sizeof why, "%s", nf_last_error());
            st = nf_fail(NF_ERR_FORMAT, "%s: saved training options: %s", opt->resume_path, why);
        }
        if (st) {
            train_state_free(s);
            return st;
        }
    }
    const nf_train_options *o = r->o = &s->opt;
    r->batch = r->n_train < (size_t)o->batch ? (int)r->n_train : o->batch;
    r->eval_rows = flow_eval_rows(f) > r->batch ? flow_eval_rows(f) : r->batch;
    r->xb = malloc(sizeof(real) * r->batch * f->dim);
    r->cb = f->context_dim ? malloc(sizeof(float) * r->batch * f->context_dim) : NULL;
    int allocated = r->xb && (!f->context_dim || r->cb);
    if (r->n_val && r->share.ranks == 1) { /* an optimisation: without the memory, not kept */
        r->val_lp = malloc(sizeof(double) * r->n_val);
        r->best_lp = malloc(sizeof(double) * r->n_val);
    }
    if (!allocated || (st = flow_reserve_rows(f, r->eval_rows, r->batch))) {
        free_buffers(r);
        train_state_free(s);
        return allocated ? st : nf_fail(NF_ERR_NOMEM, "out of memory for training buffers");
    }
    /* The untrained flow is a candidate too (with whitening: the Gaussian
     * fit), so training never returns a model that validates below it. */
    if (r->n_val && !opt->resume_path && s->epoch == 0 && s->next == 0) {
        double untrained = validate(r);
        if (!isnan(untrained)) {
            s->best_val = untrained;
            keep_best_lp(r);
        }
    }
    r->t0 = clock_seconds() - s->elapsed;
    r->last_checkpoint = r->last_progress = clock_seconds();
    r->decay_every = o->patience / 4 > 1 ? o->patience / 4 : 1;
    r->steps_per_epoch = ((int64_t)r->n_train + r->batch - 1) / r->batch;
    return NF_OK;
}

/* Whether the run is over at an epoch's start: epochs spent, or patience
 * (in epochs and in steps) run out. */
static int train_done(const train_run *r)
{
    const train_state *s = &r->s;
    const nf_train_options *o = r->o;
    return s->epoch >= o->max_epochs || (r->n_val && o->patience > 0 && s->bad_epochs >= o->patience &&
                                         s->bad_epochs * r->steps_per_epoch >= o->patience_steps);
}

/* Step: the next batch of the shuffled order, one Adam step, then the
 * checkpoint, the stop flag and the in-epoch progress. *halt: stop now. */
static nf_status train_batch(train_run *r, int *halt)
{
    k_probe_step(&r->probe); /* the default team: shrunk while other work holds the processors, or one thread */
    nf_flow *f = r->f;
    train_state *s = &r->s;
    const nf_train_options *opt = r->opt, *o = r->o;
    size_t dim = (size_t)f->dim, b0 = (size_t)s->next;
    int rows = r->n_train - b0 < (size_t)r->batch ? (int)(r->n_train - b0) : r->batch;
    int lo = 0, hi = rows, stop = opt->stop && *opt->stop;
    if (r->share.ranks > 1) /* this process's part of the global batch */
        k_part(rows, r->share.ranks, r->share.rank, &lo, &hi);
    real *xb = r->xb;
    const float *train = r->train;
    const int64_t *order = s->order + b0 + lo;
    int mine = hi - lo;
    K_PARALLEL_ROWS((size_t)mine * dim) /* the batch's rows gathered by threads too */
    for (int i = 0; i < mine; i++)
        memcpy(xb + (size_t)i * dim, train + (size_t)order[i] * dim, sizeof(real) * dim);
    if (f->context_dim) {
        size_t nc = (size_t)f->context_dim;
        for (int i = 0; i < mine; i++)
            memcpy(r->cb + (size_t)i * nc, r->train_context + (size_t)order[i] * nc, sizeof(float) * nc);
        flow_load_context(f, r->cb, 0, mine);
    }
    dropout_begin(f, o, (size_t)lo);
    double lr = s->lr;
    if (r->anneal) {
        double done = (double)(s->epoch * r->steps_per_epoch + b0 / (size_t)r->batch) /
                      (double)(o->max_epochs * r->steps_per_epoch);
        lr = s->lr * 0.5 * (1 + cos(3.14159265358979323846 * (done < 1 ? done : 1)));
    }
    double loss = r->share.ranks > 1 ? train_step_shared(f, mine, xb, rows, &r->share, lr, o->weight_decay,
                                                         o->clip_norm, &stop)
                                     : train_step(f, rows, xb, lr, o->weight_decay, o->clip_norm);
    dropout_end(f, o);
    if (!isfinite(loss))
        return nf_fail(NF_ERR_NONFINITE,
                       "non-finite loss in epoch %lld at row %zu; kept the parameters of epoch %lld "
                       "(try a lower learning rate)",
                       (long long)s->epoch + 1, b0, (long long)s->best_epoch);
    s->loss_sum += loss * rows;
    s->loss_rows += rows;
    s->next += rows;
    if (opt->checkpoint_path && clock_seconds() - r->last_checkpoint >= opt->checkpoint_seconds) {
        checkpoint(r);
        r->last_checkpoint = clock_seconds();
    }
    if (train_step_hook && train_step_hook(s, train_step_hook_user)) {
        r->abandoned = *halt = 1;
        return NF_OK;
    }
    if (stop) {
        r->stopped = *halt = 1;
        return NF_OK;
    }
    if (opt->progress && opt->progress_seconds > 0 && (size_t)s->next < r->n_train &&
        clock_seconds() - r->last_progress >= opt->progress_seconds) {
        nf_train_progress p = {(int)s->epoch + 1, -s->last_train, NAN, s->best_val, (int)s->bad_epochs,
                               clock_seconds() - r->t0, 1, (size_t)s->next, r->n_train, r->checkpoint_failures,
                               r->checkpoint_error, r->candidate};
        int asked = opt->progress(&p, opt->user) != 0;
        *halt = asked && r->share.ranks <= 1; /* the processes' clocks differ: only epoch ends can stop all */
        r->last_progress = clock_seconds();
    }
    return NF_OK;
}

/* An epoch (or the part of one a halted run keeps) closed: counted, its
 * training loss recorded, the next one to start from its first row. */
static void close_epoch(train_state *s)
{
    s->epoch++;
    s->next = 0;
    s->last_train = -s->loss_sum / (double)s->loss_rows;
    s->loss_sum = 0;
    s->loss_rows = 0;
}

/* The flow's parameters and state as the best so far, of validation v. */
static void keep_best(train_run *r, double v)
{
    train_state *s = &r->s;
    s->best_val = v;
    s->best_epoch = s->epoch;
    memcpy(s->best, r->f->params, sizeof(real) * r->f->n_params);
    memcpy(s->best + r->f->n_params, r->f->state, sizeof(real) * r->f->n_state);
    keep_best_lp(r);
}

/* End of an epoch: its training loss, the validation, the best parameters
 * kept, patience and learning-rate halving, the progress call. Returns 1
 * when the progress callback asks to stop. */
static int train_epoch_end(train_run *r)
{
    train_state *s = &r->s;
    const nf_train_options *o = r->o;
    close_epoch(s);
    nf_train_progress p = {(int)s->epoch, -s->last_train, NAN, s->best_val, (int)s->bad_epochs, clock_seconds() - r->t0,
                           0, r->n_train, r->n_train, r->checkpoint_failures, r->checkpoint_error, r->candidate};
    if (r->n_val) {
        double v = validate(r);
        p.val_log_likelihood = v;
        if (v > s->best_val) {
            keep_best(r, v);
            s->bad_epochs = s->plateau = 0;
        } else {
            s->bad_epochs++;
            if (!r->anneal && ++s->plateau >= r->decay_every &&
                s->plateau * r->steps_per_epoch * 4 >= o->patience_steps) {
                s->lr *= o->lr_decay;
                s->plateau = 0;
            }
        }
        p.best_val = s->best_val;
        p.bad_epochs = (int)s->bad_epochs;
    } else {
        s->best_epoch = s->epoch;
    }
    double asked = r->opt->progress && r->opt->progress(&p, r->opt->user);
    if (r->share.ranks > 1 && r->share.reduce(&asked, 1, 1, r->share.user))
        return 1;
    return asked > 0;
}

/* The end: the last checkpoint (the state as it stopped), the best
 * parameters put back, the flow's training record, the result. */
static nf_status train_finish(train_run *r, nf_status st, nf_train_result *result)
{
    nf_flow *f = r->f;
    train_state *s = &r->s;
    size_t n = f->n_params, ns = f->n_state;
    if (!st && r->best_kept) {
        flow_scored_keep(f, r->best_key, r->n_val, r->best_lp);
        r->best_lp = NULL;
    }
    free_buffers(r);
    if (r->abandoned) {
        train_state_free(s);
        return nf_fail(NF_ERR_INVALID, "training abandoned by the test hook");
    }
    if (!st && r->opt->checkpoint_path)
        checkpoint(r);
    if (r->n_val || st) {
        memcpy(f->params, s->best, sizeof(real) * n);
        memcpy(f->state, s->best + n, sizeof(real) * ns);
    }
    f->record.epochs += s->epoch;
    f->record.best_epoch = s->best_epoch;
    f->record.val_ll = r->n_val ? s->best_val : NAN;
    f->record.train_ll = s->last_train;
    if (result) {
        result->epochs = (int)s->epoch;
        result->best_epoch = (int)s->best_epoch;
        result->train_log_likelihood = s->last_train;
        result->val_log_likelihood = f->record.val_ll;
        result->seconds = clock_seconds() - r->t0;
        result->stopped = r->stopped;
    }
    f->record.checkpoint_failures = r->checkpoint_failures;
    snprintf(f->record.checkpoint_error, sizeof f->record.checkpoint_error, "%s", r->checkpoint_error);
    train_state_free(s);
    return st;
}

/* A run halted inside an epoch (Ctrl-C, --max-time): the parameters where
 * it stopped are validated too, and kept when they beat the best epoch's,
 * the part epoch then counted as one. An image model's epoch is minutes
 * long: without this a time limit threw away up to an epoch of training. */
static void keep_part_epoch(train_run *r)
{
    double v = validate(r);
    if (!(v > r->s.best_val))
        return;
    close_epoch(&r->s);
    keep_best(r, v);
}

/* Epochs of shuffled mini-batches until train_done, `epochs` epochs in
 * all, or a halt; *over: the run will train no more. */
static nf_status train_advance(train_run *r, int64_t epochs, int *over)
{
    nf_status st = NF_OK;
    int halt = 0, done = 0;
    while (!st && !halt) {
        if (r->s.next == 0) {
            if ((done = train_done(r)) || r->s.epoch >= epochs)
                break;
            rng_shuffle(&r->s.rng, r->s.order, r->s.n_train);
        }
        if ((size_t)r->s.next < r->n_train)
            st = train_batch(r, &halt);
        else
            halt = train_epoch_end(r);
    }
    if (!st && halt && !r->abandoned && r->s.next > 0 && r->s.loss_rows > 0 && r->n_val)
        keep_part_epoch(r);
    k_probe_pause(&r->probe);
    *over = st || halt || done;
    return st;
}

/* The whole training run. */
static nf_status train_loop(train_run *r, nf_train_result *result)
{
    nf_status st = train_start(r);
    if (st)
        return st;
    int over;
    st = train_advance(r, INT64_MAX, &over);
    return train_finish(r, st, result);
}

nf_status train_run_open(train_run **out, nf_flow *f, const float *train, const float *train_context,
                         size_t n_train, const float *val, const float *val_context, size_t n_val,
                         const nf_train_options *opt)
{
    *out = NULL;
    train_run *r = calloc(1, sizeof *r);
    if (!r)
        return nf_fail(NF_ERR_NOMEM, "out of memory for a training run");
    nf_status st = train_options_in(opt, &r->own_opt);
    if (!st && (r->own_opt.resume_path || r->own_opt.checkpoint_path))
        st = nf_fail(NF_ERR_UNSUPPORTED, "a paused training run starts without checkpoints");
    *r = (train_run){.f = f, .train = train, .val = val, .train_context = train_context, .val_context = val_context,
                     .n_train = n_train, .n_val = n_val, .own_opt = r->own_opt};
    r->opt = &r->own_opt;
    if (!st) {
        unsigned fp = k_fast_fp_begin();
        st = train_start(r);
        k_fast_fp_end(fp);
    }
    if (st) {
        free(r);
        return st;
    }
    *out = r;
    return NF_OK;
}

nf_status train_run_until(train_run *r, int64_t epochs, int *over)
{
    unsigned fp = k_fast_fp_begin();
    nf_status st = train_advance(r, epochs, over);
    k_fast_fp_end(fp);
    return st;
}

void train_run_status(const train_run *r, int64_t *epochs, int64_t *best_epoch, double *best_val, int *stopped)
{
    if (epochs) *epochs = r->s.epoch;
    if (best_epoch) *best_epoch = r->s.best_epoch;
    if (best_val) *best_val = r->s.best_val;
    if (stopped) *stopped = r->stopped;
}

void train_run_set_checkpoint(train_run *r, const char *path, double every)
{
    r->own_opt.checkpoint_path = path;
    r->own_opt.checkpoint_seconds = every;
    r->last_checkpoint = clock_seconds();
    if (path)
        data_checksums(r);
}

void train_run_set_progress(train_run *r, int (*progress)(const nf_train_progress *, void *), void *user,
                            double every, const char *candidate)
{
    r->own_opt.progress = progress;
    r->own_opt.user = user;
    r->own_opt.progress_seconds = every;
    r->candidate = candidate;
}

nf_status train_run_close(train_run *r, nf_status st, nf_train_result *result)
{
    if (!r)
        return st;
    st = train_finish(r, st, result);
    free(r);
    return st;
}

nf_status flow_train_annealed(nf_flow *f, const float *train, const float *train_context, size_t n_train,
                              const float *val, const float *val_context, size_t n_val, const nf_train_options *opt,
                              int anneal, nf_train_result *result)
{
    nf_train_options full;
    nf_status in = train_options_in(opt, &full);
    if (in)
        return in;
    opt = &full;
    if (anneal && (opt->resume_path || opt->checkpoint_path))
        return nf_fail(NF_ERR_UNSUPPORTED, "an annealed run keeps no checkpoints");
    if (f && f->gmm) /* EM, not gradient steps */
        return train_context || val_context ? nf_fail(NF_ERR_INVALID, "the gmm model does not depend on a context")
                                            : flow_fit_gmm(f, train, n_train, val, n_val, opt, 0, result);
    train_run r = {.f = f, .train = train, .val = val, .train_context = train_context, .val_context = val_context,
                   .n_train = n_train, .n_val = n_val, .opt = opt, .anneal = anneal};
    unsigned fp = k_fast_fp_begin();
    nf_status st = train_loop(&r, result);
    k_fast_fp_end(fp);
    return st;
}

nf_status nf_flow_train_given(nf_flow *f, const float *train, const float *train_context, size_t n_train,
                              const float *val, const float *val_context, size_t n_val, const nf_train_options *opt,
                              nf_train_result *result)
{
    return flow_train_annealed(f, train, train_context, n_train, val, val_context, n_val, opt, 0, result);
}

nf_status nf_flow_train(nf_flow *f, const float *train, size_t n_train, const float *val, size_t n_val,
                        const nf_train_options *opt, nf_train_result *result)
{
    return nf_flow_train_given(f, train, NULL, n_train, val, NULL, n_val, opt, result);
}

nf_status nf_flow_evaluate_test_given(nf_flow *f, const float *x, const float *context, size_t rows,
                                      double *mean_log_lik, double *two_stderr)
{
    nf_status st;
    if (!f || !f->finalized)
        return nf_fail(NF_ERR_INVALID, "flow is not finalized");
    if (rows < 1 || !x)
        return nf_fail(NF_ERR_INVALID, "no test data");
    if ((st = check_context(f, context, rows, "test")))
        return st;
    if ((st = flow_reserve_eval(f, flow_chunk(f, rows < 1024 ? (int)rows : 1024))))
        return st;
    /* one pass, Welford's running mean and sum of squared deviations */
    double mean = 0, m2 = 0;
    size_t seen = 0;
    unsigned fp = k_fast_fp_begin();
    flow_set_inference(f, 1);
    for (size_t r0 = 0; r0 < rows; r0 += (size_t)f->work.max_rows) {
        int n = rows - r0 < (size_t)f->work.max_rows ? (int)(rows - r0) : f->work.max_rows;
        flow_load_context(f, context, r0, n);
        flow_log_prob_rows(f, n, x + r0 * f->dim, f->work.logp);
        for (int i = 0; i < n; i++) {
            double d = f->work.logp[i] - mean;
            mean += d / (double)++seen;
            m2 += d * (f->work.logp[i] - mean);
        }
    }
    flow_set_inference(f, 0);
    k_fast_fp_end(fp);
    f->record.test_ll = mean;
    if (mean_log_lik)
        *mean_log_lik = mean;
    if (two_stderr)
        *two_stderr = rows > 1 ? 2 * sqrt(m2 / (double)(rows - 1) / (double)rows) : NAN;
    return NF_OK;
}

nf_status nf_flow_evaluate_test(nf_flow *f, const float *x, size_t rows, double *mean_log_lik,
                                double *two_stderr)
{
    return nf_flow_evaluate_test_given(f, x, NULL, rows, mean_log_lik, two_stderr);
}

int nf_flow_checkpoint_failures(const nf_flow *f, const char **last_error)
{
    if (last_error)
        *last_error = f ? f->record.checkpoint_error : "";
    return f ? f->record.checkpoint_failures : 0;
}
