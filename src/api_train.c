/* Maximum-likelihood training: shuffled mini-batches, Adam, a validation
 * split with early stopping that keeps the best parameters. Every buffer is
 * allocated before the first step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "flow.h"

void nf_train_options_default(nf_train_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->batch = 256;
    opt->lr = 1e-3;
    opt->weight_decay = 1e-6;
    opt->clip_norm = 100;
    opt->max_epochs = 1000;
    opt->patience = 20;
    opt->lr_decay = 0.5;
    opt->seed = 1;
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
    if (o->max_epochs < 0 || o->patience < 0)
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

/* Mean log-likelihood of a data set, summed in double. */
static double dataset_mean_log_lik(nf_flow *f, const float *x, size_t rows)
{
    double sum = 0;
    for (size_t r0 = 0; r0 < rows; r0 += (size_t)f->max_rows) {
        int n = rows - r0 < (size_t)f->max_rows ? (int)(rows - r0) : f->max_rows;
        flow_x2z(f, n, x + r0 * f->dim, f->logp);
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
    int batch = n_train < (size_t)opt->batch ? (int)n_train : opt->batch;
    int eval_rows = 1024 > batch ? 1024 : batch;
    if ((st = flow_reserve(f, eval_rows)))
        return st;
    size_t n = f->n_params;
    int64_t *order = malloc(sizeof(int64_t) * n_train);
    real *xb = malloc(sizeof(real) * batch * f->dim);
    size_t ns = f->n_state;
    real *best = malloc(sizeof(real) * (n + ns ? n + ns : 1)); /* parameters, then layer state */
    if (!order || !xb || !best) {
        free(order);
        free(xb);
        free(best);
        return nf_fail(NF_ERR_NOMEM, "out of memory for training buffers");
    }
    for (size_t i = 0; i < n_train; i++)
        order[i] = (int64_t)i;
    memcpy(best, f->params, sizeof(real) * n);
    memcpy(best + n, f->state, sizeof(real) * ns);
    rng r;
    rng_seed(&r, opt->seed);
    double t0 = now(), best_val = -INFINITY, last_train = NAN;
    int best_epoch = 0, bad = 0, epoch = 0, plateau = 0;
    int decay_every = opt->patience / 4 > 1 ? opt->patience / 4 : 1;
    double lr = opt->lr;
    st = NF_OK;
    while (epoch < opt->max_epochs && !st) {
        epoch++;
        rng_shuffle(&r, order, (int64_t)n_train);
        double sum = 0;
        size_t seen = 0;
        for (size_t b0 = 0; b0 < n_train; b0 += (size_t)batch) {
            int rows = n_train - b0 < (size_t)batch ? (int)(n_train - b0) : batch;
            for (int i = 0; i < rows; i++)
                memcpy(xb + (size_t)i * f->dim, train + (size_t)order[b0 + i] * f->dim, sizeof(real) * f->dim);
            double loss = flow_train_step(f, rows, xb, lr, opt->weight_decay, opt->clip_norm);
            if (!isfinite(loss)) {
                st = nf_fail(NF_ERR_NONFINITE,
                             "non-finite loss in epoch %d at row %zu; kept the parameters of epoch %d "
                             "(try a lower --lr)",
                             epoch, b0, best_epoch);
                break;
            }
            sum += loss * rows;
            seen += (size_t)rows;
        }
        if (st)
            break;
        last_train = -sum / (double)seen;
        nf_train_progress p = {epoch, -last_train, NAN, best_val, bad, now() - t0};
        if (n_val) {
            double v = dataset_mean_log_lik(f, val, n_val);
            p.val_log_likelihood = v;
            if (v > best_val) {
                best_val = v;
                best_epoch = epoch;
                bad = plateau = 0;
                memcpy(best, f->params, sizeof(real) * n);
                memcpy(best + n, f->state, sizeof(real) * ns);
            } else {
                bad++;
                if (++plateau >= decay_every) {
                    lr *= opt->lr_decay;
                    plateau = 0;
                }
            }
            p.best_val = best_val;
            p.bad_epochs = bad;
        } else {
            best_epoch = epoch;
        }
        if (opt->progress && opt->progress(&p, opt->user))
            break;
        if (n_val && bad >= opt->patience && opt->patience > 0)
            break;
    }
    if (n_val || st) {
        memcpy(f->params, best, sizeof(real) * n);
        memcpy(f->state, best + n, sizeof(real) * ns);
    }
    free(order);
    free(xb);
    free(best);
    f->epochs += epoch;
    f->best_epoch = best_epoch;
    f->val_ll = n_val ? best_val : NAN;
    f->train_ll = last_train;
    if (result) {
        result->epochs = epoch;
        result->best_epoch = best_epoch;
        result->train_log_likelihood = last_train;
        result->val_log_likelihood = f->val_ll;
        result->seconds = now() - t0;
    }
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
        flow_x2z(f, n, x + r0 * f->dim, f->logp);
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
