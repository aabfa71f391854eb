/* The Gaussian fit a whitened flow keeps beside its layers: the training
 * data's full-covariance Gaussian N(mean, D R R^T D) (D = diag(std) of the
 * standardisation, R the Cholesky factor of the standardised covariance
 * that also started the whitening layer).
 *
 * It serves two ends. Evaluation compares each row with it (`nflow eval`
 * counts the rows the model scores below it). And the model's density is
 * the defensive mixture p = (1 - w) p_flow + w N(fit) (Hesterberg 1995)
 * with a small weight w: inside the data it costs at most -log(1 - w)
 * nats (0.001 for w = 1e-3), while a point far outside the training data,
 * where the flow's learned maps extrapolate wildly (a pixel 50 standard
 * deviations out once scored -7e4), scores at least the Gaussian's
 * log-density + log w instead. Encoding and decoding stay the flow's
 * bijection; sampling draws from the mixture, except a conditional
 * model's: the fit is of x's marginal, and a draw from it would ignore the
 * context, so those samples come from the flow alone (at most w of the
 * density's mass differs from the sampler's).
 *
 * An image model's floor is N(0, I) of its standardised values instead
 * (the identity fit; after the logit of the bounds, whose Jacobian it
 * counts): no factor of dim^2 values to keep, and as the logit bounds
 * those values, the floor bounds how low an image can score, where a Glow
 * once gave a rare validation image -1e12 nats and lost that epoch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "flow/flow.h"
#include "core/kern.h"
#include "layers/bounds.h"
#include "layers/standardize.h"

nf_status flow_gauss_set(nf_flow *f, const double *chol, double tail_weight)
{
    size_t p = (size_t)f->dim;
    if (!f->fit.chol && !(f->fit.chol = malloc(sizeof(real) * p * p)))
        return nf_fail(NF_ERR_NOMEM, "out of memory for the Gaussian fit");
    f->fit.log_det = 0;
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < p; j++)
            f->fit.chol[i * p + j] = (real)(j <= i ? chol[i * p + j] : 0);
    for (size_t i = 0; i < p; i++)
        f->fit.log_det += log(f->fit.chol[i * p + i]);
    f->fit.tail_weight = tail_weight;
    f->fit.identity = 0;
    return NF_OK;
}

void flow_gauss_identity(nf_flow *f, double tail_weight)
{
    free(f->fit.chol);
    f->fit.chol = NULL;
    f->fit.log_det = 0;
    f->fit.tail_weight = tail_weight;
    f->fit.identity = 1;
}

int flow_has_fit(const nf_flow *f) { return f->fit.chol || f->fit.identity; }

/* The same for one row in double throughout: a finite row far out (3e38
 * over a std below 1) overflows float in its standardised value or in z,
 * where double keeps the floor finite. */
static double gauss_log_prob_double(const nf_flow *f, const real *x, const double *mean, const double *std,
                                    double *z)
{
    const double half_log_2pi = 0.91893853320467274178;
    int p = f->dim;
    double acc = 0, log_std = 0;
    for (int i = 0; i < p; i++) { /* forward substitution: R z = y */
        double v = ((double)x[i] - mean[i]) / std[i];
        for (int j = 0; j < i && f->fit.chol; j++)
            v -= (double)f->fit.chol[(size_t)i * p + j] * z[j];
        z[i] = f->fit.chol ? v / (double)f->fit.chol[(size_t)i * p + i] : v;
        acc += z[i] * z[i];
        log_std += log(std[i]);
    }
    return -0.5 * acc - p * half_log_2pi - f->fit.log_det - log_std;
}

/* log N(x) = log N(z; 0, I) - sum log r_ii - sum log std with z = R^-1 y,
 * y the standardised row: the standard normal base's log-density of z.
 * Computed in float; a row whose result is not finite again in double.
 * With bounds, the Gaussian is of the mapped rows, and the density of x
 * adds the map's log-determinant (-inf outside the bounds). */
void flow_gauss_log_prob(nf_flow *f, int rows, const real *x, double *out)
{
    static const base_density standard_normal = {NF_BASE_NORMAL, 0, 1};
    int p = f->dim;
    real *scratch = f->work.dbuf[0];
    const layer *b = flow_bounds(f);
    if (b) {
        memset(f->work.gauss_ldj, 0, sizeof(double) * rows);
        bounds_to_z(b, rows, x, f->work.dbuf[1], f->work.gauss_ldj);
        x = f->work.dbuf[1];
    }
    const double *mean, *std;
    standardize_get(f->layers[flow_first(f)], &mean, &std);
    double log_std = 0;
    for (int i = 0; i < p; i++)
        log_std += log(std[i]);
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < p; i++)
            scratch[(size_t)r * p + i] = (real)((x[(size_t)r * p + i] - mean[i]) / std[i]);
    /* z = R^-1 y for every row: Z = Y R^-T */
    if (f->fit.chol)
        k_triangular(1, 0, 0, 1, 0, rows, p, f->fit.chol, p, scratch, p);
    base_log_prob(&standard_normal, rows, p, scratch, out);
    double *z = NULL; /* only for rows far out: rare */
    for (int r = 0; r < rows; r++) {
        out[r] -= f->fit.log_det + log_std;
        if (!isfinite(out[r]) && (z || (z = malloc(sizeof(double) * p))))
            out[r] = gauss_log_prob_double(f, x + (size_t)r * p, mean, std, z);
        out[r] += b ? f->work.gauss_ldj[r] : 0;
    }
    free(z);
}

static double log_sum_exp(double a, double b)
{
    double m = a > b ? a : b;
    if (m == -INFINITY)
        return m;
    return m + log(exp(a - m) + exp(b - m));
}

void flow_mix_tail(nf_flow *f, int rows, const real *x, double *logp)
{
    if (!flow_has_fit(f) || !(f->fit.tail_weight > 0))
        return;
    double *lg = f->work.ldj; /* free after the pass */
    flow_gauss_log_prob(f, rows, x, lg);
    double keep = log1p(-f->fit.tail_weight), tail = log(f->fit.tail_weight);
    for (int r = 0; r < rows; r++) /* a flow that overflowed (NaN) has no density there: the floor holds */
        logp[r] = log_sum_exp(isnan(logp[r]) ? -INFINITY : keep + logp[r], tail + lg[r]);
}

void flow_log_prob_rows(nf_flow *f, int rows, const real *x, double *logp)
{
    flow_x2z(f, rows, x, logp);
    flow_mix_tail(f, rows, x, logp);
    for (int r = 0; r < rows; r++) /* a row the model cannot represent: -inf, never NaN */
        if (isnan(logp[r]))
            logp[r] = -INFINITY;
}

void flow_gauss_draw(const nf_flow *f, int rows, const real *u, real *x)
{
    int p = f->dim;
    const double *mean, *std;
    standardize_get(f->layers[flow_first(f)], &mean, &std);
    memcpy(x, u, sizeof(real) * rows * p);
    if (f->fit.chol)
        k_triangular(0, 0, 0, 1, 0, rows, p, f->fit.chol, p, x, p); /* X = U R^T */
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < p; i++)
            x[(size_t)r * p + i] = (real)(mean[i] + std[i] * x[(size_t)r * p + i]);
    if (flow_bounds(f)) /* drawn where the fit is, among the mapped rows */
        bounds_to_x(flow_bounds(f), rows, x, x, NULL);
}
