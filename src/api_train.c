/* Maximum-likelihood training: shuffled mini-batches, Adam, a validation
 * split with early stopping that keeps the best parameters, checkpoints and
 * exact resume. Every buffer is allocated before the first step (writing a
 * checkpoint allocates). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "checkpoint.h"
#include "error.h"
#include "flow.h"
#include "kern.h"

void nf_train_options_default(nf_train_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->batch = 256;
    opt->lr = 1e-3;
    opt->weight_decay = 1e-6;
    opt->clip_norm = 100;
    opt->max_epochs = 1000;
    opt->patience = 20;
    opt->patience_steps = 1000;
    opt->lr_decay = 0.5;
    opt->seed = 1;
    opt->checkpoint_seconds = 300;
}

static nf_status check_options(const nf_train_options *o)
{
    if (o->batch < 1 || o->batch > 1 << 20)
        return nf_fail(NF_ERR_INVALID, "batch %d out of range 1..1048576", o->batch);
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
    return NF_OK;
}

nf_status nf_flow_train_step(nf_flow *f, const float *batch, size_t rows, const nf_train_options *opt,
                             double *loss)
{
    nf_status st;
    if (!f || !f->finalized)
        return nf_fail(NF_ERR_INVALID, "flow is not finalized");
    if ((st = check_options(opt)))
        return st;
    if (rows < 1 || rows > (size_t)opt->batch)
        return nf_fail(NF_ERR_INVALID, "batch of %zu rows (1..%d allowed)", rows, opt->batch);
    if ((st = flow_reserve(f, opt->batch)))
        return st;
    double l = flow_train_step(f, (int)rows, batch, opt->lr, opt->weight_decay, opt->clip_norm);
    if (loss)
        *loss = l;
    if (!isfinite(l))
        return nf_fail(NF_ERR_NONFINITE, "non-finite loss (%g); parameters left unchanged", l);
    return NF_OK;
}

/* Mean log-likelihood of a data set, summed in double, in chunks of a
 * fixed size (not f->max_rows, which depends on the flow's history). */
static double dataset_mean_log_lik(nf_flow *f, const float *x, size_t rows, int chunk)
{
    double sum = 0;
    for (size_t r0 = 0; r0 < rows; r0 += (size_t)chunk) {
        int n = rows - r0 < (size_t)chunk ? (int)(rows - r0) : chunk;
        flow_log_prob_rows(f, n, x + r0 * f->dim, f->logp);
        for (int i = 0; i < n; i++)
            sum += f->logp[i];
    }
    return sum / (double)rows;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

nf_status nf_train_options_read(const char *checkpoint_path, nf_train_options *opt)
{
    if (!checkpoint_path || !opt)
        return nf_fail(NF_ERR_INVALID, "NULL checkpoint path or options");
    return checkpoint_read_options(checkpoint_path, opt);
}

/* The loop's whole state is in a train_state (src/checkpoint.h), so that a
 * checkpoint taken after any step restores it exactly. */
nf_status nf_flow_train(nf_flow *f, const float *train, size_t n_train, const float *val, size_t n_val,
                        const nf_train_options *opt, nf_train_result *result)
{
    nf_status st;
    if (!f || !f->finalized)
        return nf_fail(NF_ERR_INVALID, "flow is not finalized");
    if ((st = check_options(opt)))
        return st;
    if (n_train < 1 || !train)
        return nf_fail(NF_ERR_INVALID, "no training data");
    if (n_val && !val)
        return nf_fail(NF_ERR_INVALID, "NULL validation data");
    const char *ck_path = opt->checkpoint_path;
    if (ck_path && !(opt->checkpoint_seconds >= 0))
        return nf_fail(NF_ERR_INVALID, "checkpoint interval %g s must be >= 0", opt->checkpoint_seconds);
    if (!(opt->progress_seconds >= 0))
        return nf_fail(NF_ERR_INVALID, "progress interval %g s must be >= 0", opt->progress_seconds);
    train_state s;
    if ((st = train_state_init(&s, f, train, n_train, val, n_val, opt, ck_path || opt->resume_path)))
        return st;
    if (opt->resume_path) {
        st = checkpoint_read(opt->resume_path, f, &s);
        s.opt.max_epochs = opt->max_epochs;
        s.opt.patience = opt->patience;
        s.opt.patience_steps = opt->patience_steps;
        if (!st && check_options(&s.opt)) {
            char why[256];
            snprintf(why, sizeof why, "%s", nf_last_error());
            st = nf_fail(NF_ERR_FORMAT, "%s: saved training options: %s", opt->resume_path, why);
        }
        if (st) {
            train_state_free(&s);
            return st;
        }
    }
    const nf_train_options *o = &s.opt;
    int batch = n_train < (size_t)o->batch ? (int)n_train : o->batch;
    int eval_rows = 1024 > batch ? 1024 : batch;
    real *xb = malloc(sizeof(real) * batch * f->dim);
    if (!xb || (st = flow_reserve(f, eval_rows))) {
        free(xb);
        train_state_free(&s);
        return xb ? st : nf_fail(NF_ERR_NOMEM, "out of memory for training buffers");
    }
    size_t n = f->n_params, ns = f->n_state, dim = (size_t)f->dim;
    /* The untrained flow is a candidate too (with whitening: the Gaussian
     * fit), so training never returns a model that validates below it. */
    if (n_val && !opt->resume_path && s.epoch == 0 && s.next == 0) {
        double untrained = dataset_mean_log_lik(f, val, n_val, eval_rows);
        if (!isnan(untrained))
            s.best_val = untrained;
    }
    double t0 = now() - s.elapsed, last_ck = now(), last_progress = now();
    int decay_every = o->patience / 4 > 1 ? o->patience / 4 : 1, abandoned = 0, stopped = 0;
    int64_t steps_per_epoch = ((int64_t)n_train + batch - 1) / batch;
    while (!st) {
        if (s.next == 0) {
            if (s.epoch >= o->max_epochs || (n_val && o->patience > 0 && s.bad_epochs >= o->patience &&
                                             s.bad_epochs * steps_per_epoch >= o->patience_steps))
                break;
            rng_shuffle(&s.rng, s.order, s.n_train);
        }
        if (s.next < s.n_train) {
            size_t b0 = (size_t)s.next;
            int rows = n_train - b0 < (size_t)batch ? (int)(n_train - b0) : batch;
            K_PARALLEL_ROWS((size_t)rows * dim) /* the batch's rows gathered by threads too */
            for (int i = 0; i < rows; i++)
                memcpy(xb + (size_t)i * dim, train + (size_t)s.order[b0 + i] * dim, sizeof(real) * dim);
            double loss = flow_train_step(f, rows, xb, s.lr, o->weight_decay, o->clip_norm);
            if (!isfinite(loss)) {
                st = nf_fail(NF_ERR_NONFINITE,
                             "non-finite loss in epoch %lld at row %zu; kept the parameters of epoch %lld "
                             "(try a lower --lr)",
                             (long long)s.epoch + 1, b0, (long long)s.best_epoch);
                break;
            }
            s.loss_sum += loss * rows;
            s.loss_rows += rows;
            s.next += rows;
            if (ck_path && now() - last_ck >= opt->checkpoint_seconds) {
                s.elapsed = now() - t0;
                if ((st = checkpoint_write(f, &s, ck_path)))
                    break;
                last_ck = now();
            }
            if (train_step_hook && train_step_hook(&s, train_step_hook_user)) {
                abandoned = 1;
                break;
            }
            if (opt->stop && *opt->stop) {
                stopped = 1;
                break;
            }
            if (opt->progress && opt->progress_seconds > 0 && (size_t)s.next < n_train &&
                now() - last_progress >= opt->progress_seconds) {
                nf_train_progress p = {(int)s.epoch + 1, -s.last_train, NAN, s.best_val, (int)s.bad_epochs,
                                       now() - t0, 1, (size_t)s.next, n_train};
                if (opt->progress(&p, opt->user))
                    break;
                last_progress = now();
            }
            continue;
        }
        /* the epoch's end */
        s.epoch++;
        s.next = 0;
        s.last_train = -s.loss_sum / (double)s.loss_rows;
        s.loss_sum = 0;
        s.loss_rows = 0;
        nf_train_progress p = {(int)s.epoch, -s.last_train, NAN, s.best_val, (int)s.bad_epochs, now() - t0,
                               0, n_train, n_train};
        if (n_val) {
            double v = dataset_mean_log_lik(f, val, n_val, eval_rows);
            p.val_log_likelihood = v;
            if (v > s.best_val) {
                s.best_val = v;
                s.best_epoch = s.epoch;
                s.bad_epochs = s.plateau = 0;
                memcpy(s.best, f->params, sizeof(real) * n);
                memcpy(s.best + n, f->state, sizeof(real) * ns);
            } else {
                s.bad_epochs++;
                if (++s.plateau >= decay_every && s.plateau * steps_per_epoch * 4 >= o->patience_steps) {
                    s.lr *= o->lr_decay;
                    s.plateau = 0;
                }
            }
            p.best_val = s.best_val;
            p.bad_epochs = (int)s.bad_epochs;
        } else {
            s.best_epoch = s.epoch;
        }
        if (opt->progress && opt->progress(&p, opt->user))
            break;
    }
    free(xb);
    if (abandoned) {
        train_state_free(&s);
        return nf_fail(NF_ERR_INVALID, "training abandoned by the test hook");
    }
    /* the state as it stopped, before the best parameters are put back */
    if (!st && ck_path) {
        s.elapsed = now() - t0;
        st = checkpoint_write(f, &s, ck_path);
    }
    if (n_val || st) {
        memcpy(f->params, s.best, sizeof(real) * n);
        memcpy(f->state, s.best + n, sizeof(real) * ns);
    }
    f->epochs += s.epoch;
    f->best_epoch = s.best_epoch;
    f->val_ll = n_val ? s.best_val : NAN;
    f->train_ll = s.last_train;
    if (result) {
        result->epochs = (int)s.epoch;
        result->best_epoch = (int)s.best_epoch;
        result->train_log_likelihood = s.last_train;
        result->val_log_likelihood = f->val_ll;
        result->seconds = now() - t0;
        result->stopped = stopped;
    }
    train_state_free(&s);
    return st;
}

nf_status nf_flow_evaluate_test(nf_flow *f, const float *x, size_t rows, double *mean_log_lik,
                                double *two_stderr)
{
    nf_status st;
    if (!f || !f->finalized)
        return nf_fail(NF_ERR_INVALID, "flow is not finalized");
    if (rows < 1 || !x)
        return nf_fail(NF_ERR_INVALID, "no test data");
    if ((st = flow_reserve(f, rows < 1024 ? (int)rows : 1024)))
        return st;
    /* one pass, Welford's running mean and sum of squared deviations */
    double mean = 0, m2 = 0;
    size_t seen = 0;
    for (size_t r0 = 0; r0 < rows; r0 += (size_t)f->max_rows) {
        int n = rows - r0 < (size_t)f->max_rows ? (int)(rows - r0) : f->max_rows;
        flow_log_prob_rows(f, n, x + r0 * f->dim, f->logp);
        for (int i = 0; i < n; i++) {
            double d = f->logp[i] - mean;
            mean += d / (double)++seen;
            m2 += d * (f->logp[i] - mean);
        }
    }
    f->test_ll = mean;
    if (mean_log_lik)
        *mean_log_lik = mean;
    if (two_stderr)
        *two_stderr = rows > 1 ? 2 * sqrt(m2 / (double)(rows - 1) / (double)rows) : NAN;
    return NF_OK;
}
