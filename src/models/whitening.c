/* The whitening layer of nf_config.whiten: an LU layer set to the Cholesky
 * factor of the standardised training data's covariance, so that the
 * untrained flow is the full-covariance Gaussian fit and training starts
 * from it (every other layer starts as the identity).
 *
 * The covariance is shrunk toward the identity by Ledoit and Wolf's rule
 * (2004, "A well-conditioned estimator for large-dimensional covariance
 * matrices"): S* = (1 - lambda) S + lambda mu I with lambda estimated from
 * the data. With many rows per column lambda is ~0 (the maximum-likelihood
 * Gaussian); with few rows and many columns S is near-singular and the
 * shrunk one still generalises. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dense.h"
#include "core/error.h"
#include "flow/flow.h"
#include "flow/gaussian_fit.h"
#include "core/kern.h"
#include "layers/linear_lu.h"
#include "layers/standardize.h"
#include "models/whitening.h"

nf_status flow_add_whitening(nf_flow *f)
{
    int *perm = malloc(sizeof(int) * f->dim);
    if (!perm)
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    for (int i = 0; i < f->dim; i++)
        perm[i] = i;
    nf_status st = flow_add(f, linear_lu_new(f->dim, perm, NULL));
    free(perm);
    return st;
}

enum { CHUNK_ROWS = 1024 };

/* S = Y^T Y / n of the standardised rows (their mean is 0), summed in
 * double over float products of CHUNK_ROWS rows; row_norm4 = sum ||y||^4. */
static nf_status covariance(const float *x, size_t rows, int p, const double *mean, const double *std, double *s,
                            double *row_norm4)
{
    real *y = malloc(sizeof(real) * CHUNK_ROWS * p), *part = malloc(sizeof(real) * p * p);
    if (!y || !part) {
        free(y);
        free(part);
        return nf_fail(NF_ERR_NOMEM, "out of memory for the covariance");
    }
    memset(s, 0, sizeof(double) * p * p);
    *row_norm4 = 0;
    for (size_t r0 = 0; r0 < rows; r0 += CHUNK_ROWS) {
        int n = rows - r0 < CHUNK_ROWS ? (int)(rows - r0) : CHUNK_ROWS;
        for (int r = 0; r < n; r++) {
            double norm2 = 0;
            for (int i = 0; i < p; i++) {
                double v = (x[(r0 + r) * p + i] - mean[i]) / std[i];
                y[(size_t)r * p + i] = (real)v;
                norm2 += v * v;
            }
            *row_norm4 += norm2 * norm2;
        }
        k_gemm(1, 0, p, p, n, 1, y, p, y, p, 0, part, p);
        for (size_t k = 0; k < (size_t)p * p; k++)
            s[k] += part[k];
    }
    for (size_t k = 0; k < (size_t)p * p; k++)
        s[k] /= (double)rows;
    free(y);
    free(part);
    return NF_OK;
}

/* The Ledoit-Wolf intensity for S of n rows in p columns; with mu =
 * tr(S) / p: delta2 = ||S - mu I||^2 / p and beta2 = (sum ||y||^4 - n
 * ||S||^2) / (n^2 p) (the sum over rows of ||y y^T - S||^2, in closed form). */
static double shrinkage(const double *s, int p, size_t n, double row_norm4, double *mu)
{
    double trace = 0, norm2 = 0;
    for (int i = 0; i < p; i++)
        trace += s[(size_t)i * p + i];
    for (size_t k = 0; k < (size_t)p * p; k++)
        norm2 += s[k] * s[k];
    *mu = trace / p;
    double delta2 = (norm2 - 2 * *mu * trace + *mu * *mu * p) / p;
    double beta2 = (row_norm4 - (double)n * norm2) / ((double)n * (double)n * p);
    if (!(delta2 > 0))
        return 1;
    beta2 = beta2 < 0 ? 0 : beta2 > delta2 ? delta2 : beta2;
    return beta2 / delta2;
}

nf_status flow_fit_whitening(nf_flow *f, const float *x, size_t rows)
{
    int p = f->dim, first = flow_first(f);
    if (f->n_layers < first + 2 || strcmp(f->layers[first + 1]->ops->tag, "linear_lu") != 0)
        return nf_fail(NF_ERR_INVALID, "the flow has no whitening layer");
    const double *mean, *std;
    standardize_get(f->layers[first], &mean, &std);
    double *s = malloc(sizeof(double) * p * p * 2), row_norm4 = 0, mu;
    if (!s)
        return nf_fail(NF_ERR_NOMEM, "out of memory for the covariance");
    double *chol = s + (size_t)p * p;
    nf_status st = covariance(x, rows, p, mean, std, s, &row_norm4);
    if (st) {
        free(s);
        return st;
    }
    double lambda = shrinkage(s, p, rows, row_norm4, &mu);
    /* a tiny ridge first, larger ones only if rounding left S* indefinite */
    int ok = -1;
    for (double ridge = 1e-6; ok && ridge <= 1; ridge *= 10) {
        for (int i = 0; i < p; i++)
            for (int j = 0; j < p; j++)
                chol[(size_t)i * p + j] =
                    (1 - lambda) * s[(size_t)i * p + j] + (i == j ? (lambda + ridge) * mu : 0);
        ok = dense_cholesky(chol, p);
    }
    if (ok) {
        free(s);
        return nf_fail(NF_ERR_INVALID, "the training data's covariance is not positive definite");
    }
    st = flow_set_whitening(f, chol, f->config.tail_weight);
    free(s);
    return st;
}

nf_status flow_set_whitening(nf_flow *f, const double *chol, double tail_weight)
{
    int p = f->dim, first = flow_first(f);
    if (f->n_layers < first + 2 || strcmp(f->layers[first + 1]->ops->tag, "linear_lu") != 0)
        return nf_fail(NF_ERR_INVALID, "the flow has no whitening layer");
    /* W = L diag(r) with L = R diag(1 / r) unit lower: the strictly lower
     * part of L, log r on the diagonal, nothing above (src/layers/linear_lu.c) */
    real *m = f->params + f->layers[first + 1]->p_off;
    for (int i = 0; i < p; i++)
        for (int j = 0; j < p; j++) {
            double rjj = chol[(size_t)j * p + j];
            m[(size_t)i * p + j] = (real)(i > j ? chol[(size_t)i * p + j] / rjj : i == j ? log(rjj) : 0);
        }
    return flow_gauss_set(f, chol, tail_weight);
}
