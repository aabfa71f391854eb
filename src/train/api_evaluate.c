/* nf_flow_evaluate: a model's figures on rows, as `nflow eval` and
 * `nflow distill --data` report them: the mean log-likelihood with two
 * standard errors (the MAF paper's way), the median, the Gaussian fit as a
 * baseline row by row, rows outside the bounds and rows at -inf. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/sized.h"
#include "flow/gaussian_fit.h"
#include "train/api_evaluate.h"

#define EVAL_REPORT_SIZE_1 SIZED_END(nf_eval_report, first_no_density)

void nf_eval_report_init(nf_eval_report *caller, size_t struct_size)
{
    nf_eval_report r;
    memset(&r, 0, sizeof r);
    r.mean = r.two_stderr = r.median = r.gaussian_mean = r.gap = r.gap_two_stderr = NAN;
    r.first_outside_value = r.first_outside_lo = r.first_outside_hi = r.mean_inside = r.two_stderr_inside = NAN;
    r.below_gaussian = -1;
    sized_write(caller, struct_size, &r, sizeof r);
}

void mean_two_stderr(const double *v, const unsigned char *keep, size_t n, double *mean, double *two_se)
{
    double sum = 0, sq = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!keep || keep[i]) {
            sum += v[i];
            k++;
        }
    double m = k ? sum / (double)k : NAN;
    for (size_t i = 0; i < n; i++)
        if (!keep || keep[i])
            sq += (v[i] - m) * (v[i] - m);
    *mean = m;
    *two_se = k > 1 ? 2 * sqrt(sq / (double)(k - 1) / (double)k) : NAN;
}

void nf_mean_two_stderr(const double *v, size_t n, double *mean, double *two_stderr)
{
    double m = NAN, s = NAN;
    if (v)
        mean_two_stderr(v, NULL, n, &m, &s);
    if (mean)
        *mean = m;
    if (two_stderr)
        *two_stderr = s;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

nf_status nf_flow_evaluate_sized(nf_flow *f, const float *x, const float *context, size_t rows, double *log_prob,
                                 nf_eval_report *caller, size_t struct_size)
{
    nf_eval_report r;
    nf_status st = sized_check_size(struct_size, sizeof r, EVAL_REPORT_SIZE_1, "nf_eval_report");
    if (st)
        return st;
    if (!f || !caller || (rows && !x))
        return nf_fail(NF_ERR_INVALID, "nf_flow_evaluate: NULL argument");
    nf_eval_report_init(&r, sizeof r);
    r.rows = rows;
    size_t dim = (size_t)nf_flow_dim(f), n = rows ? rows : 1;
    double *lp = malloc(sizeof(double) * n * 2), *other = lp + n;
    unsigned char *inside = malloc(n);
    if (!lp || !inside) {
        free(lp);
        free(inside);
        return nf_fail(NF_ERR_NOMEM, "out of memory scoring %zu rows", rows);
    }
    if (rows && (st = nf_flow_log_prob_given(f, x, context, rows, lp)))
        goto done;
    mean_two_stderr(lp, NULL, rows, &r.mean, &r.two_stderr);
    memcpy(other, lp, sizeof(double) * rows);
    qsort(other, rows, sizeof(double), compare_doubles);
    r.median = !rows ? NAN : rows % 2 ? other[rows / 2] : 0.5 * (other[rows / 2 - 1] + other[rows / 2]);
    int col = 0;
    r.outside = nf_flow_outside_bounds(f, x, rows, &r.first_outside_row, &col);
    for (size_t i = 0; i < rows; i++)
        inside[i] = !r.outside || !nf_flow_outside_bounds(f, x + i * dim, 1, NULL, NULL);
    if (r.outside) {
        double *lo = malloc(sizeof(double) * dim * 2);
        if (lo && nf_flow_get_bounds(f, lo, lo + dim)) {
            r.first_outside_lo = lo[col];
            r.first_outside_hi = lo[dim + col];
        }
        free(lo);
        r.first_outside_column = col;
        r.first_outside_value = x[r.first_outside_row * dim + (size_t)col];
        mean_two_stderr(lp, inside, rows, &r.mean_inside, &r.two_stderr_inside);
    }
    for (size_t i = 0; i < rows; i++)
        if (lp[i] == -INFINITY && inside[i] && !r.no_density++)
            r.first_no_density = i;
    if (rows && nf_flow_gaussian_log_prob(f, x, rows, other) == NF_OK) {
        double unused;
        r.below_gaussian = 0;
        for (size_t i = 0; i < rows; i++) /* beyond rounding: the Gaussian model is its own fit */
            r.below_gaussian += lp[i] < other[i] - 1e-9 * (1 + fabs(other[i]));
        mean_two_stderr(other, NULL, rows, &r.gaussian_mean, &unused);
        for (size_t i = 0; i < rows; i++)
            other[i] = lp[i] - other[i];
        mean_two_stderr(other, NULL, rows, &r.gap, &r.gap_two_stderr);
    }
    if (log_prob)
        memcpy(log_prob, lp, sizeof(double) * rows);
    sized_write(caller, struct_size, &r, sizeof r);
done:
    free(lp);
    free(inside);
    return st;
}

const char *model_kind(const nf_flow *f)
{
    nf_config c;
    nf_config_default(&c, NF_MODEL_MAF, 1);
    return nf_flow_get_config(f, &c) == NF_OK ? nf_model_name(c.model) : "custom";
}

double dataset_mean_log_lik(nf_flow *f, const float *x, const float *context, size_t rows, int chunk,
                            const train_share *share, double *log_prob)
{
    double sum = 0;
    size_t lo = 0, hi = rows;
    if (share->ranks > 1) { /* this process's part; the sums added across them */
        lo = rows * (size_t)share->rank / (size_t)share->ranks;
        hi = rows * (size_t)(share->rank + 1) / (size_t)share->ranks;
    }
    flow_set_inference(f, 1); /* no backward pass follows: the shared scratch, not every layer's buffers */
    for (size_t r0 = lo; r0 < hi; r0 += (size_t)chunk) {
        int n = hi - r0 < (size_t)chunk ? (int)(hi - r0) : chunk;
        flow_load_context(f, context, r0, n);
        flow_log_prob_rows(f, n, x + r0 * f->dim, f->work.logp);
        for (int i = 0; i < n; i++)
            sum += f->work.logp[i];
        if (log_prob)
            memcpy(log_prob + (r0 - lo), f->work.logp, sizeof(double) * (size_t)n);
    }
    flow_set_inference(f, 0);
    if (share->ranks > 1 && share->reduce(&sum, 1, 1, share->user))
        return NAN;
    return sum / (double)rows;
}
