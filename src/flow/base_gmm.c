/* The full-covariance Gaussian mixture base (flow/base_gmm.h): density and
 * its gradient through BLAS products in double, draws, the model file. */
#include "flow/base_gmm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dense.h"
#include "core/error.h"
#include "core/kern.h"
#include "nflow.h"

static const double half_log_2pi = 0.91893853320467274178;

/* The per-component arrays for k components, in one allocation. */
static double *component_arrays(gmm_base *g, int k)
{
    size_t n = (size_t)g->n, nn = n * n;
    double *a = malloc(sizeof(double) * (size_t)k * (4 + 2 * n + 2 * nn));
    if (!a)
        return NULL;
    g->weight = a;
    g->log_norm = a + k;
    g->cdf = a + 2 * (size_t)k;
    g->mean = a + 4 * (size_t)k; /* k doubles spare: keeps the blocks below apart */
    g->shift = g->mean + (size_t)k * n;
    g->chol = g->shift + (size_t)k * n;
    g->prec = g->chol + (size_t)k * nn;
    return a;
}

gmm_base *gmm_new(int n, int k)
{
    if (n < 1 || k < 1 || k > NF_MAX_COMPONENTS) {
        nf_fail(NF_ERR_INVALID, "Gaussian mixture: %d components (1..%d)", k, NF_MAX_COMPONENTS);
        return NULL;
    }
    gmm_base *g = calloc(1, sizeof *g);
    if (!g) {
        nf_fail(NF_ERR_NOMEM, "out of memory creating a Gaussian mixture");
        return NULL;
    }
    g->n = n;
    double *w = malloc(sizeof(double) * k), *mean = calloc((size_t)k * n, sizeof(double)),
           *chol = calloc((size_t)k * n * n, sizeof(double));
    nf_status st = w && mean && chol ? NF_OK : nf_fail(NF_ERR_NOMEM, "out of memory creating a Gaussian mixture");
    for (int c = 0; !st && c < k; c++) {
        w[c] = 1.0 / k;
        for (int i = 0; i < n; i++)
            chol[((size_t)c * n + i) * n + i] = 1;
    }
    if (!st)
        st = gmm_set(g, k, w, mean, chol);
    free(w);
    free(mean);
    free(chol);
    if (st) {
        gmm_free(g);
        return NULL;
    }
    return g;
}

void gmm_free(gmm_base *g)
{
    if (!g)
        return;
    free(g->weight);
    free(g->zd);
    free(g->logs);
    free(g);
}

nf_status gmm_set(gmm_base *g, int k, const double *weight, const double *mean, const double *chol)
{
    size_t n = (size_t)g->n, nn = n * n;
    if (k < 1 || k > NF_MAX_COMPONENTS)
        return nf_fail(NF_ERR_INVALID, "Gaussian mixture: %d components (1..%d)", k, NF_MAX_COMPONENTS);
    double total = 0;
    for (int c = 0; c < k; c++) {
        if (!(weight[c] > 0 && isfinite(weight[c])))
            return nf_fail(NF_ERR_INVALID, "Gaussian mixture: component %d's weight %g is not positive", c, weight[c]);
        total += weight[c];
        for (size_t i = 0; i < n; i++) {
            if (!isfinite(mean[c * n + i]))
                return nf_fail(NF_ERR_INVALID, "Gaussian mixture: component %d's mean %zu is not finite", c, i);
            for (size_t j = 0; j <= i; j++) {
                double v = chol[c * nn + i * n + j];
                if (!isfinite(v) || (i == j && !(v > 0)))
                    return nf_fail(NF_ERR_INVALID, "Gaussian mixture: component %d's Cholesky factor (%zu, %zu) = %g "
                                   "(finite, and positive on the diagonal)", c, i, j, v);
            }
        }
    }
    double *old = g->weight;
    if (k != g->k || !old) {
        if (!component_arrays(g, k)) {
            g->weight = old;
            return nf_fail(NF_ERR_NOMEM, "out of memory for %d mixture components", k);
        }
        free(old);
        if (g->k != k && g->max_rows) { /* the terms' scratch is rows x k */
            free(g->logs);
            g->logs = malloc(sizeof(double) * (size_t)g->max_rows * k);
            if (!g->logs)
                g->max_rows = 0;
        }
        g->k = k;
    }
    double acc = 0;
    for (int c = 0; c < k; c++) {
        g->weight[c] = weight[c] / total;
        memcpy(g->mean + c * n, mean + c * n, sizeof(double) * n);
        double *l = g->chol + c * nn, *p = g->prec + c * nn, log_det = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++)
                l[i * n + j] = j <= i ? chol[c * nn + i * n + j] : 0;
        for (size_t i = 0; i < n; i++)
            log_det += log(l[i * n + i]);
        dense_lower_inverse_t(l, (int)n, p);
        for (size_t j = 0; j < n; j++) { /* mu_k L^-T, a row */
            double s = 0;
            for (size_t i = 0; i <= j; i++)
                s += g->mean[c * n + i] * p[i * n + j];
            g->shift[c * n + j] = s;
        }
        g->log_norm[c] = log(g->weight[c]) - (double)n * half_log_2pi - log_det;
        acc += g->weight[c];
        g->cdf[c] = acc;
    }
    g->cdf[k - 1] = 1;
    return NF_OK;
}

nf_status gmm_reserve(gmm_base *g, int rows)
{
    if (rows <= g->max_rows)
        return NF_OK;
    free(g->zd);
    free(g->logs);
    g->zd = malloc(sizeof(double) * 3 * (size_t)rows * g->n);
    g->logs = malloc(sizeof(double) * (size_t)rows * g->k);
    if (!g->zd || !g->logs) {
        free(g->zd);
        free(g->logs);
        g->zd = g->logs = NULL;
        g->max_rows = 0;
        return NF_ERR_NOMEM;
    }
    g->y = g->zd + (size_t)rows * g->n;
    g->acc = g->y + (size_t)rows * g->n;
    g->max_rows = rows;
    return NF_OK;
}

/* Y = z L_c^-T - mu_c L_c^-T: rows whose squared norms are the Mahalanobis distances. */
static void whiten_rows(const gmm_base *g, int c, int rows, const double *zd, double *y)
{
    size_t n = (size_t)g->n;
    k_gemm_f64(0, 0, rows, g->n, g->n, 1, zd, g->n, g->prec + c * n * n, g->n, 0, y, g->n);
    for (int r = 0; r < rows; r++)
        for (size_t j = 0; j < n; j++)
            y[r * n + j] -= g->shift[c * n + j];
}

/* log sum_c e^t[c] */
static double log_sum_exp(const double *t, size_t k)
{
    double top = t[0], s = 0;
    for (size_t c = 1; c < k; c++)
        top = t[c] > top ? t[c] : top;
    for (size_t c = 0; c < k; c++)
        s += exp(t[c] - top);
    return top + log(s);
}

void gmm_component_logs(gmm_base *g, int rows, const double *zd, double *logs)
{
    size_t n = (size_t)g->n, k = (size_t)g->k;
    for (int c = 0; c < g->k; c++) {
        whiten_rows(g, c, rows, zd, g->y);
        for (int r = 0; r < rows; r++) {
            const double *y = g->y + r * n;
            double q = 0;
            for (size_t j = 0; j < n; j++)
                q += y[j] * y[j];
            logs[r * k + c] = g->log_norm[c] - 0.5 * q;
        }
    }
}

void gmm_log_prob(gmm_base *g, int rows, const real *z, double *out)
{
    size_t n = (size_t)g->n, k = (size_t)g->k;
    for (size_t i = 0; i < (size_t)rows * n; i++)
        g->zd[i] = z[i];
    gmm_component_logs(g, rows, g->zd, g->logs);
    for (int r = 0; r < rows; r++)
        out[r] = log_sum_exp(g->logs + r * k, k);
}

void gmm_grad(gmm_base *g, int rows, const real *z, real scale, real *dz)
{
    /* d log p / dz = -sum_c r_c Sigma_c^-1 (z - mu_c) = -sum_c r_c y_c L_c^-1 (rows) */
    size_t n = (size_t)g->n, k = (size_t)g->k;
    for (size_t i = 0; i < (size_t)rows * n; i++) {
        g->zd[i] = z[i];
        g->acc[i] = 0;
    }
    for (int r = 0; r < rows; r++) { /* the responsibilities r_c, over the terms (used once) */
        double *t = g->logs + r * k, lse = log_sum_exp(t, k);
        for (size_t c = 0; c < k; c++)
            t[c] = exp(t[c] - lse);
    }
    for (int c = 0; c < g->k; c++) {
        whiten_rows(g, c, rows, g->zd, g->y);
        for (int r = 0; r < rows; r++)
            for (size_t j = 0; j < n; j++)
                g->y[r * n + j] *= g->logs[r * k + c];
        k_gemm_f64(0, 1, rows, g->n, g->n, -1, g->y, g->n, g->prec + c * n * n, g->n, 1, g->acc, g->n);
    }
    for (size_t i = 0; i < (size_t)rows * n; i++)
        dz[i] = (real)(scale * g->acc[i]);
}

void gmm_sample(gmm_base *g, rng *r, int rows, real *z)
{
    size_t n = (size_t)g->n;
    for (int row = 0; row < rows; row++) {
        double u = rng_uniform(r);
        int c = 0;
        while (c < g->k - 1 && u >= g->cdf[c])
            c++;
        double *e = g->y; /* one row of normals */
        for (size_t i = 0; i < n; i++)
            e[i] = rng_normal(r);
        const double *l = g->chol + (size_t)c * n * n;
        for (size_t i = 0; i < n; i++) {
            double v = g->mean[(size_t)c * n + i];
            for (size_t j = 0; j <= i; j++)
                v += l[i * n + j] * e[j];
            z[(size_t)row * n + i] = (real)v;
        }
    }
}

nf_status gmm_save(const gmm_base *g, mf_writer *w)
{
    size_t n = (size_t)g->n, k = (size_t)g->k;
    nf_status st = mf_begin(w, "gmm_base");
    if (!st) st = mf_put_i64(w, "components", g->k);
    if (!st) st = mf_put_f64s(w, "weights", g->weight, k);
    if (!st) st = mf_put_f64s(w, "means", g->mean, k * n);
    if (!st) st = mf_put_f64s(w, "cholesky", g->chol, k * n * n);
    return st;
}

nf_status gmm_load(const mf_file *f, const mf_section *s, int dim, gmm_base **out)
{
    *out = NULL;
    int64_t k;
    const double *w, *mean, *chol;
    nf_status st = mf_get_i64(f, s, "components", &k);
    if (!st && (k < 1 || k > NF_MAX_COMPONENTS))
        return nf_fail(NF_ERR_FORMAT, "%s: gmm_base: %lld components (1..%d allowed)", mf_path(f), (long long)k,
                       NF_MAX_COMPONENTS);
    size_t n = (size_t)dim;
    if (!st) st = mf_get_f64s(f, s, "weights", (size_t)k, &w, NULL);
    if (!st) st = mf_get_f64s(f, s, "means", (size_t)k * n, &mean, NULL);
    if (!st) st = mf_get_f64s(f, s, "cholesky", (size_t)k * n * n, &chol, NULL);
    if (st)
        return st;
    gmm_base *g = gmm_new(dim, 1);
    if (!g)
        return NF_ERR_NOMEM;
    if ((st = gmm_set(g, (int)k, w, mean, chol))) {
        char why[256];
        snprintf(why, sizeof why, "%s", nf_last_error());
        gmm_free(g);
        return nf_fail(NF_ERR_FORMAT, "%s: gmm_base: %s", mf_path(f), why);
    }
    *out = g;
    return NF_OK;
}

size_t gmm_describe(const gmm_base *g, char *buf, size_t size)
{
    return (size_t)snprintf(buf, size, "Gaussian mixture, %d full-covariance component%s (fitted by EM) [%zu values]",
                            g->k, g->k == 1 ? "" : "s", (size_t)g->k * (1 + g->n + (size_t)g->n * (g->n + 1) / 2));
}
