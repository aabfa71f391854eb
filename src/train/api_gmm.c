/* EM for the gmm model (train/api_gmm.h): k-means++ and k-means, then EM,
 * for each number of components searched; the best kept. */
#include "train/api_gmm.h"

#include <float.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/dense.h"
#include "core/error.h"
#include "core/kern.h"
#include "layers/standardize.h"
#include "train/api_evaluate.h"
#include "train/checkpoint.h"
#include "train/train_state.h"

enum { MAX_EM_ITERATIONS = 100, MAX_KMEANS_ITERATIONS = 30, MAX_SEARCHED = 64, CHUNK = 1024 };
static const double tolerance = 1e-3, reg_covar = 1e-6;

typedef struct em {
    gmm_base *g;
    const double *z; /* n x d: the rows mapped through the layers */
    size_t n;
    int d;
    double *resp;    /* n x kmax */
    double *w, *mean, *chol, *work; /* kmax, kmax x d, kmax x d x d, n x d */
    double *reg;     /* d: what the covariances' diagonals get */
} em;


/* rows mapped through the layers (standardisation, bounds), in double. */
static nf_status map_rows(nf_flow *f, const float *x, size_t n, double **out)
{
    size_t d = (size_t)f->dim;
    double *z = malloc(sizeof(double) * (n ? n : 1) * d);
    if (!z)
        return nf_fail(NF_ERR_NOMEM, "out of memory for %zu mapped rows", n);
    for (size_t r0 = 0; r0 < n; r0 += CHUNK) {
        int rows = n - r0 < CHUNK ? (int)(n - r0) : CHUNK;
        flow_x2z(f, rows, x + r0 * d, f->work.logp);
        const real *zr = f->work.act[f->n_layers - 1];
        for (size_t i = 0; i < (size_t)rows * d; i++)
            z[r0 * d + i] = zr[i];
    }
    *out = z;
    return NF_OK;
}

/* E-step: resp (n x k) = responsibilities; the mean log-likelihood of the rows. */
static double e_step(em *e, const double *z, size_t n, double *resp)
{
    int k = e->g->k;
    double sum = 0;
    for (size_t r0 = 0; r0 < n; r0 += CHUNK) {
        int rows = n - r0 < CHUNK ? (int)(n - r0) : CHUNK;
        double *t = resp + r0 * k;
        gmm_component_logs(e->g, rows, z + r0 * e->d, t);
        for (int r = 0; r < rows; r++, t += k) {
            double top = t[0], s = 0;
            for (int c = 1; c < k; c++)
                top = t[c] > top ? t[c] : top;
            for (int c = 0; c < k; c++)
                s += (t[c] = exp(t[c] - top));
            for (int c = 0; c < k; c++)
                t[c] /= s;
            sum += top + log(s);
        }
    }
    return sum / (double)n;
}

/* M-step: weights, means and covariances from the responsibilities (n x k). */
static nf_status m_step(em *e, int k)
{
    size_t n = e->n, d = (size_t)e->d;
    for (int c = 0; c < k; c++) {
        double s = 10 * DBL_EPSILON; /* scikit-learn's guard for an empty component */
        for (size_t r = 0; r < n; r++)
            s += e->resp[r * k + c];
        e->w[c] = s;
    }
    k_gemm_f64(1, 0, k, e->d, (int)n, 1, e->resp, k, e->z, e->d, 0, e->mean, e->d);
    for (int c = 0; c < k; c++) {
        double *mu = e->mean + c * d, *l = e->chol + c * d * d;
        for (size_t j = 0; j < d; j++)
            mu[j] /= e->w[c];
        for (size_t r = 0; r < n; r++) {
            double s = sqrt(e->resp[r * k + c]);
            for (size_t j = 0; j < d; j++)
                e->work[r * d + j] = s * (e->z[r * d + j] - mu[j]);
        }
        k_gemm_f64(1, 0, e->d, e->d, (int)n, 1 / e->w[c], e->work, e->d, e->work, e->d, 0, l, e->d);
        double more = 1;
        for (int tries = 0;; tries++) { /* more ridge where rounding broke positive definiteness */
            double *a = e->work; /* n >= 1 rows of d: room for d x d when n >= d, else below */
            double own[64 * 64];
            if (n < d)
                a = d <= 64 ? own : NULL;
            if (!a)
                return nf_fail(NF_ERR_INVALID, "the gmm: %zu rows for %zu columns", n, d);
            memcpy(a, l, sizeof(double) * d * d);
            for (size_t j = 0; j < d; j++)
                a[j * d + j] += more * e->reg[j];
            if (dense_cholesky(a, e->d) == 0) {
                memcpy(l, a, sizeof(double) * d * d);
                break;
            }
            if (tries == 12)
                return nf_fail(NF_ERR_NONFINITE, "the gmm: component %d's covariance is not positive definite", c);
            more *= 10;
        }
    }
    return gmm_set(e->g, k, e->w, e->mean, e->chol);
}

static double sq_dist(const double *a, const double *b, size_t d)
{
    double s = 0;
    for (size_t j = 0; j < d; j++)
        s += (a[j] - b[j]) * (a[j] - b[j]);
    return s;
}

/* Hard responsibilities from k-means++ seeding and Lloyd's iterations. */
static void kmeans(em *e, int k, uint64_t seed)
{
    size_t n = e->n, d = (size_t)e->d;
    double *centre = e->mean, *best = e->work; /* n distances to the nearest centre */
    int *label = (int *)(e->work + n);         /* work holds n x d >= 2n doubles when d >= 2 */
    int *own = NULL;
    if (d < 2)
        label = own = malloc(sizeof(int) * n);
    rng r;
    rng_seed(&r, seed);
    memcpy(centre, e->z + rng_below(&r, n) * d, sizeof(double) * d);
    for (size_t i = 0; i < n; i++)
        best[i] = sq_dist(e->z + i * d, centre, d);
    for (int c = 1; c < k; c++) { /* the next centre drawn in proportion to the squared distance */
        double total = 0;
        for (size_t i = 0; i < n; i++)
            total += best[i];
        double u = rng_uniform(&r) * total, acc = 0;
        size_t pick = n - 1;
        for (size_t i = 0; i < n && total > 0; i++)
            if ((acc += best[i]) > u) {
                pick = i;
                break;
            }
        if (!(total > 0))
            pick = rng_below(&r, n);
        memcpy(centre + c * d, e->z + pick * d, sizeof(double) * d);
        for (size_t i = 0; i < n; i++) {
            double s = sq_dist(e->z + i * d, centre + c * d, d);
            best[i] = s < best[i] ? s : best[i];
        }
    }
    for (int it = 0; it < MAX_KMEANS_ITERATIONS; it++) {
        int changed = 0;
        for (size_t i = 0; i < n; i++) {
            int lab = 0;
            double b = sq_dist(e->z + i * d, centre, d);
            for (int c = 1; c < k; c++) {
                double s = sq_dist(e->z + i * d, centre + c * d, d);
                if (s < b) {
                    b = s;
                    lab = c;
                }
            }
            changed += it == 0 || label[i] != lab;
            label[i] = lab;
        }
        if (!changed)
            break;
        memset(centre, 0, sizeof(double) * k * d);
        memset(e->w, 0, sizeof(double) * k);
        for (size_t i = 0; i < n; i++) {
            e->w[label[i]] += 1;
            for (size_t j = 0; j < d; j++)
                centre[label[i] * d + j] += e->z[i * d + j];
        }
        for (int c = 0; c < k; c++) /* an empty cluster keeps its old centre's place: zero here, harmless */
            for (size_t j = 0; e->w[c] > 0 && j < d; j++)
                centre[c * d + j] /= e->w[c];
    }
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < k; c++)
            e->resp[i * k + c] = label[i] == c;
    free(own);
}

/* EM for k components from k-means; the iterations it took. */
static nf_status fit_k(em *e, int k, uint64_t seed, const nf_train_options *o, double deadline, int *iterations,
                       double *train_ll)
{
    kmeans(e, k, seed);
    nf_status st = m_step(e, k);
    double prev = -INFINITY, ll = -INFINITY;
    int it = 0;
    while (!st && it < MAX_EM_ITERATIONS) {
        ll = e_step(e, e->z, e->n, e->resp);
        it++;
        if (!isfinite(ll)) {
            st = nf_fail(NF_ERR_NONFINITE, "the gmm: EM with %d components reached log-likelihood %g", k, ll);
            break;
        }
        if (fabs(ll - prev) < tolerance || (o->stop && *o->stop) || (deadline > 0 && clock_seconds() >= deadline))
            break;
        prev = ll;
        st = m_step(e, k);
    }
    *iterations = it;
    *train_ll = ll;
    return st;
}

nf_status flow_fit_gmm(nf_flow *f, const float *train, size_t n_train, const float *val, size_t n_val,
                       const nf_train_options *opt, double deadline, nf_train_result *result)
{
    double t0 = clock_seconds();
    if (!f || !f->gmm || !f->finalized)
        return nf_fail(NF_ERR_INVALID, "flow_fit_gmm: not a finalized gmm");
    if (n_train < 1 || !train)
        return nf_fail(NF_ERR_INVALID, "no training data");
    if (n_val && !val)
        return nf_fail(NF_ERR_INVALID, "NULL validation data");
    nf_status st;
    nf_train_options alone = *opt;
    if (opt->ranks > 1) { /* every process fits the same mixture: no flag or clock of its own may cut it short */
        alone.stop = NULL;
        deadline = 0;
    }
    opt = &alone;
    if (opt->resume_path) { /* the checkpoint's data, checked; the fit is then made again, to the same bits */
        train_state s;
        if (!(st = train_state_init(&s, f, train, n_train, val, n_val, opt, 1))) {
            st = checkpoint_read(opt->resume_path, f, &s);
            train_state_free(&s);
        }
        if (st)
            return st;
    }
    if ((st = flow_check_bounds(f, train, n_train, "training")) ||
        (st = flow_check_bounds(f, val, n_val, "validation")) || (st = flow_reserve(f, CHUNK)))
        return st;
    int d = f->dim, fixed = f->config.components;
    int kmax = fixed ? fixed : MAX_SEARCHED;
    if ((size_t)kmax > n_train)
        kmax = (int)n_train;
    em e = {.g = f->gmm, .n = n_train, .d = d};
    double *z = NULL, *zv = NULL;
    size_t dd = (size_t)d * d;
    e.resp = malloc(sizeof(double) * n_train * kmax);
    /* scikit-learn's 1e-6 in the data's units (a dequantised column's
     * components are as narrow as its noise, 1/12, far below 1e-6 of its
     * variance), at most 1e-6 in the standardised ones */
    double *reg = malloc(sizeof(double) * d);
    const double *centre, *std;
    standardize_get(f->layers[flow_first(f)], &centre, &std);
    for (int j = 0; reg && j < d; j++)
        reg[j] = reg_covar * fmin(1, 1 / (std[j] * std[j]));
    e.reg = reg;
    e.w = malloc(sizeof(double) * kmax * 2 * (1 + d + dd)); /* the fit's values, then the best's */
    e.work = malloc(sizeof(double) * (n_train * d > 2 * n_train ? n_train * d : 2 * n_train));
    if (!e.resp || !e.w || !e.work || !reg)
        st = nf_fail(NF_ERR_NOMEM, "out of memory for EM on %zu rows", n_train);
    double *bw = NULL, *bmean = NULL, *bchol = NULL;
    if (!st) {
        e.mean = e.w + kmax;
        e.chol = e.mean + (size_t)kmax * d;
        bw = e.chol + (size_t)kmax * dd;
        bmean = bw + kmax;
        bchol = bmean + (size_t)kmax * d;
        st = map_rows(f, train, n_train, &z);
    }
    if (!st && n_val)
        st = map_rows(f, val, n_val, &zv);
    e.z = z;
    double best = -INFINITY;
    int best_k = 0, best_it = 0, worse = 0, stopped = 0;
    double *val_resp = NULL;
    if (!st && n_val && !(val_resp = malloc(sizeof(double) * CHUNK * kmax)))
        st = nf_fail(NF_ERR_NOMEM, "out of memory for EM");
    for (int k = fixed ? kmax : 1; !st && k <= kmax; k *= 2) { /* fixed: as many as asked, at most one a row */
        int it;
        double ll;
        st = fit_k(&e, k, opt->seed + (uint64_t)k, opt, deadline, &it, &ll);
        if (st)
            break;
        double score;
        if (n_val) { /* the mixture's mean log-density of the mapped validation rows (the layers' part is the same for all) */
            double sum = 0;
            for (size_t r0 = 0; r0 < n_val; r0 += CHUNK) {
                int rows = n_val - r0 < CHUNK ? (int)(n_val - r0) : CHUNK;
                sum += e_step(&e, zv + r0 * d, (size_t)rows, val_resp) * rows;
            }
            score = sum / (double)n_val;
        } else { /* BIC, as a log-likelihood: -BIC / (2 n) */
            double params = (k - 1) + (double)k * d + (double)k * d * (d + 1) / 2;
            score = ll - params * log((double)n_train) / (2.0 * n_train);
        }
        if (score > best || !best_k) {
            best = score;
            best_k = k;
            best_it = it;
            memcpy(bw, e.g->weight, sizeof(double) * k);
            memcpy(bmean, e.g->mean, sizeof(double) * k * d);
            memcpy(bchol, e.g->chol, sizeof(double) * k * dd);
            worse = 0;
        } else if (++worse == 2)
            break;
        if ((opt->stop && *opt->stop) || (deadline > 0 && clock_seconds() >= deadline)) {
            stopped = opt->stop && *opt->stop;
            break;
        }
        if (fixed)
            break;
    }
    if (!st && best_k)
        st = gmm_set(f->gmm, best_k, bw, bmean, bchol);
    free(e.resp);
    free(e.work);
    free(z);
    free(zv);
    free(val_resp);
    free(e.w);
    free(reg);
    if (st)
        return st;
    const train_share alone_share = {0, 1, NULL, NULL}; /* the model's own density, layers included */
    double train_ll = dataset_mean_log_lik(f, train, NULL, n_train, CHUNK, &alone_share, NULL),
           val_ll = n_val ? dataset_mean_log_lik(f, val, NULL, n_val, CHUNK, &alone_share, NULL) : NAN;
    f->record.epochs = best_it; /* a fit starts afresh, a resumed one too */
    f->record.best_epoch = best_it;
    f->record.train_ll = train_ll;
    f->record.val_ll = val_ll;
    if (result) {
        result->epochs = best_it;
        result->best_epoch = best_it;
        result->train_log_likelihood = train_ll;
        result->val_log_likelihood = val_ll;
        result->seconds = clock_seconds() - t0;
        result->stopped = stopped;
    }
    f->record.checkpoint_failures = 0;
    if (opt->checkpoint_path)
        flow_gmm_checkpoint(f, train, n_train, val, n_val, opt, opt->checkpoint_path);
    return NF_OK;
}

void flow_gmm_checkpoint(nf_flow *f, const float *train, size_t n_train, const float *val, size_t n_val,
                         const nf_train_options *opt, const char *path)
{
    train_state s;
    nf_status st = train_state_init(&s, f, train, n_train, val, n_val, opt, 1);
    if (!st) {
        s.epoch = s.best_epoch = f->record.epochs;
        s.best_val = n_val ? f->record.val_ll : -INFINITY;
        s.last_train = f->record.train_ll;
        st = checkpoint_write(f, &s, path);
        train_state_free(&s);
    }
    if (st) { /* insurance, not the product: counted and reported as training's are */
        f->record.checkpoint_failures++;
        snprintf(f->record.checkpoint_error, sizeof f->record.checkpoint_error, "%s", nf_last_error());
    }
}
