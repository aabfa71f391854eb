#include "flow/base_mog.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kern.h"
#include "layers/layer.h"
#include "core/perm.h"

static const double half_log_2pi = 0.91893853320467274178;

/* Log-scales of the components stay within (-5, 5): sigma in (0.007, 148)
 * in standardised units. */
static const double log_scale_bound = 5.0;

mog_base *mog_new(int n, int n_context, int k, int hidden, int depth, int act, const int *order, const int *degrees,
                  int random_degrees, uint64_t seed)
{
    if (n < 1 || k < 1 || k > NF_MAX_COMPONENTS || depth < 0 || depth > NF_MAX_HIDDEN_LAYERS || (depth > 0 && hidden < 1) ||
        hidden > NF_MAX_HIDDEN) {
        nf_fail(NF_ERR_INVALID, "MADE MoG: components must be 1..%d, hidden layers 0..%d, units 1..%d", NF_MAX_COMPONENTS,
                NF_MAX_HIDDEN_LAYERS, NF_MAX_HIDDEN);
        return NULL;
    }
    if (!perm_is_valid(order, n)) {
        nf_fail(NF_ERR_INVALID, "MADE MoG: the order is not a permutation of 0..%d", n - 1);
        return NULL;
    }
    mog_base *m = calloc(1, sizeof *m);
    if (!m) {
        nf_fail(NF_ERR_NOMEM, "out of memory creating a MADE MoG");
        return NULL;
    }
    m->n = n;
    m->k = k;
    m->bound = (real)log_scale_bound;
    m->context_dim = n_context;
    rng r;
    rng_seed(&r, seed);
    if (made_setup(&m->net, n, n_context, hidden, depth, act, 3 * k, order, degrees, random_degrees, &r)) {
        free(m);
        nf_fail(NF_ERR_NOMEM, "out of memory creating a MADE MoG");
        return NULL;
    }
    return m;
}

mog_base *mog_new_independent(int n, int k)
{
    if (n < 1 || k < 1 || k > NF_MAX_COMPONENTS) {
        nf_fail(NF_ERR_INVALID, "MoG base: components must be 1..1000");
        return NULL;
    }
    mog_base *m = calloc(1, sizeof *m);
    real *blocks = malloc(sizeof(real) * 4 * (size_t)k * n);
    double *cdf = malloc(sizeof(double) * 6 * (size_t)k * n);
    if (!m || !blocks || !cdf) {
        free(m);
        free(blocks);
        free(cdf);
        nf_fail(NF_ERR_NOMEM, "out of memory creating a MoG base");
        return NULL;
    }
    m->n = n;
    m->k = k;
    m->independent = 1;
    m->blocks = blocks;
    m->scale = blocks + 3 * (size_t)k * n;
    m->cdf = cdf;
    m->terms = cdf + (size_t)k * n;
    m->bound = (real)log_scale_bound;
    m->net.n_out = 3 * k * n; /* the blocks' layout, as a MADE's output row */
    return m;
}

void mog_free(mog_base *m)
{
    if (!m)
        return;
    free(m->blocks);
    free(m->cdf);
    made_free(&m->net);
    free(m->dout);
    free(m->noise);
    free(m->direct);
    free(m);
}

size_t mog_n_params(const mog_base *m)
{
    return m->independent ? (size_t)3 * m->k * m->n : made_n_params(&m->net);
}

void mog_init_params(const mog_base *m, real *p, rng *r)
{
    if (!m->independent) {
        made_init_params(&m->net, p, r, 0);
        made_constrain(&m->net, p);
        return;
    }
    int K = m->k;
    double var_means = 0, mean[NF_MAX_COMPONENTS];
    for (int j = 0; j < K; j++) {
        mean[j] = K > 1 ? 0.3 * (2.0 * j / (K - 1) - 1) : 0;
        var_means += mean[j] * mean[j] / K;
    }
    for (int i = 0; i < m->n; i++) {
        real *b = p + (size_t)i * 3 * K;
        for (int j = 0; j < K; j++) {
            b[j] = 0;
            b[K + j] = (real)mean[j];
            b[2 * K + j] = (real)(0.5 * log(1 - var_means));
        }
    }
}

int mog_check(const mog_base *m, const real *p)
{
    return m->independent || made_check(&m->net, p);
}

nf_status mog_reserve(mog_base *m, int rows)
{
    if (rows <= m->max_rows)
        return NF_OK;
    free(m->dout);
    free(m->noise);
    free(m->direct);
    m->dout = malloc(sizeof(real) * rows * m->net.n_out);
    m->noise = malloc(sizeof(real) * rows * 2 * m->n);
    m->direct = malloc(sizeof(real) * rows * m->n);
    if (!m->dout || !m->noise || !m->direct || (!m->independent && made_reserve(&m->net, rows)))
        return NF_ERR_NOMEM;
    m->max_rows = rows;
    return NF_OK;
}

/* Bounds the log-scales of one block in place. */
static void bound_block(const mog_base *m, real *b)
{
    k_bound_in_place(m->k, b + 2 * m->k, 1, m->bound);
}

/* log sum_j softmax(logits)_j N(z; mu_j, e^s_j) of one block; comp[j]
 * gets each term's log (weights included) and *lse_w the logits' lse. */
static double block_log_prob(const mog_base *m, const real *b, real z, double *comp, double *lse_w)
{
    int K = m->k;
    double top = -INFINITY;
    for (int j = 0; j < K; j++)
        top = fmax(top, b[j]);
    double s = 0;
    for (int j = 0; j < K; j++)
        s += exp(b[j] - top);
    *lse_w = top + log(s);
    double best = -INFINITY;
    for (int j = 0; j < K; j++) {
        double ls = b[2 * K + j], t = (z - b[K + j]) * exp(-ls);
        comp[j] = b[j] - *lse_w - half_log_2pi - ls - 0.5 * t * t;
        best = fmax(best, comp[j]);
    }
    double acc = 0;
    for (int j = 0; j < K; j++)
        acc += exp(comp[j] - best);
    return best + log(acc);
}

/* The independent kind's blocks: the parameters, log-scales bounded, and
 * what every row shares (the density's terms, the draws' cumulative
 * weights and scales), once per call. */
static void prepare_blocks(mog_base *m, const real *p)
{
    int K = m->k;
    memcpy(m->blocks, p, sizeof(real) * 3 * (size_t)K * m->n);
    for (int i = 0; i < m->n; i++) {
        real *b = m->blocks + (size_t)i * 3 * K;
        double *t = m->terms + (size_t)i * 5 * K, top = -INFINITY, s = 0;
        bound_block(m, b);
        for (int j = 0; j < K; j++)
            top = fmax(top, b[j]);
        double *cdf = m->cdf + (size_t)i * K;
        for (int j = 0; j < K; j++) {
            s += exp(b[j] - top);
            cdf[j] = s;
            m->scale[(size_t)i * K + j] = r_exp(b[2 * K + j]);
        }
        for (int j = 0; j < K; j++)
            cdf[j] /= s;
        double lse_w = top + log(s);
        for (int j = 0; j < K; j++) {
            t[j] = b[j] - lse_w - half_log_2pi - b[2 * K + j];
            t[K + j] = b[K + j];
            t[2 * K + j] = exp(-(double)b[2 * K + j]);
            t[3 * K + j] = exp(b[j] - lse_w);
            t[4 * K + j] = k_bound_slope(m->bound, b[2 * K + j]); /* of the bounded value, as the MADE kind's */
        }
    }
}

/* Dimension i's log-density at z from its terms; comp[j] as block_log_prob's. */
static double independent_term(const mog_base *m, int i, double z, real *resp)
{
    int K = m->k;
    const double *t = m->terms + (size_t)i * 5 * K;
    double best = -INFINITY, acc = 0, comp[NF_MAX_COMPONENTS];
    for (int j = 0; j < K; j++) {
        double u = (z - t[K + j]) * t[2 * K + j];
        comp[j] = t[j] - 0.5 * u * u;
        best = comp[j] > best ? comp[j] : best;
    }
    for (int j = 0; j < K; j++) {
        comp[j] = exp(comp[j] - best);
        acc += comp[j];
    }
    for (int j = 0; j < K; j++)
        resp[j] = (real)(comp[j] / acc);
    return best + log(acc);
}

/* After independent_log_prob on the same rows (which left each term's
 * responsibility where its weight's gradient goes): dz written, dp +=
 * summed over the rows. */
static void independent_grad(mog_base *m, int rows, const real *z, real scale, real *dz, real *dp)
{
    int n = m->n, K = m->k;
    size_t per = (size_t)3 * K * n;
    K_PARALLEL_ROWS((size_t)rows * n * K)
    for (int r = 0; r < rows; r++) {
        real *d = m->dout + (size_t)r * per;
        for (int i = 0; i < n; i++, d += 3 * K) {
            const double *t = m->terms + (size_t)i * 5 * K;
            double zi = z[(size_t)r * n + i], g = 0;
            for (int j = 0; j < K; j++) {
                double resp = d[j], inv_var = t[2 * K + j] * t[2 * K + j], dev = zi - t[K + j];
                d[j] = (real)(scale * (resp - t[3 * K + j]));
                d[K + j] = (real)(scale * resp * dev * inv_var);
                d[2 * K + j] = (real)(scale * resp * (dev * dev * inv_var - 1) * t[4 * K + j]);
                g -= resp * dev * inv_var;
            }
            dz[(size_t)r * n + i] = (real)(scale * g);
        }
    }
    if (dp)
        for (int r = 0; r < rows; r++)
            for (size_t c = 0; c < per; c++)
                dp[c] += m->dout[(size_t)r * per + c];
}

static void independent_log_prob(mog_base *m, const real *p, int rows, const real *z, double *out)
{
    int n = m->n;
    prepare_blocks(m, p);
    size_t per = (size_t)3 * m->k * n;
    K_PARALLEL_ROWS((size_t)rows * n * m->k)
    for (int r = 0; r < rows; r++) {
        double sum = 0;
        for (int i = 0; i < n; i++) /* the responsibilities kept for independent_grad */
            sum += independent_term(m, i, z[(size_t)r * n + i], m->dout + (size_t)r * per + (size_t)3 * m->k * i);
        out[r] = sum;
    }
}

void mog_log_prob(mog_base *m, const real *p, int rows, const real *z, double *out)
{
    int n = m->n, K = m->k, no = m->net.n_out;
    double comp[NF_MAX_COMPONENTS];
    if (m->independent) {
        independent_log_prob(m, p, rows, z, out);
        return;
    }
    made_forward(&m->net, p, rows, z, m->context);
    for (int r = 0; r < rows; r++) {
        double sum = 0, lse_w;
        for (int k = 0; k < n; k++) {
            real *b = m->net.out + (size_t)r * no + (size_t)k * 3 * K;
            bound_block(m, b);
            sum += block_log_prob(m, b, z[(size_t)r * n + m->net.order[k]], comp, &lse_w);
        }
        out[r] = sum;
    }
}

void mog_grad(mog_base *m, const real *p, int rows, const real *z, real scale, real *dz, real *dp)
{
    int n = m->n, K = m->k, no = m->net.n_out;
    if (m->independent) {
        independent_grad(m, rows, z, scale, dz, dp);
        return;
    }
    K_PARALLEL_ROWS((size_t)rows * n * K)
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < n; k++) {
            double comp[NF_MAX_COMPONENTS];
            const real *b = m->net.out + (size_t)r * no + (size_t)k * 3 * K;
            real *d = m->dout + (size_t)r * no + (size_t)k * 3 * K;
            real zi = z[(size_t)r * n + m->net.order[k]];
            double lse_w, lp = block_log_prob(m, b, zi, comp, &lse_w), g = 0;
            for (int j = 0; j < K; j++) {
                double resp = exp(comp[j] - lp), w = exp(b[j] - lse_w);
                double ls = b[2 * K + j], inv_var = exp(-2 * ls), dev = zi - b[K + j];
                d[j] = (real)(scale * (resp - w));
                d[K + j] = (real)(scale * resp * dev * inv_var);
                d[2 * K + j] = (real)(scale * resp * (dev * dev * inv_var - 1) * k_bound_slope(m->bound, (real)ls));
                g -= resp * dev * inv_var;
            }
            m->direct[(size_t)r * n + k] = (real)(scale * g); /* z_i -> its own conditional */
        }
    made_backward(&m->net, p, rows, m->dout, dz, m->dcontext, dp);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < n; k++)
            dz[(size_t)r * n + m->net.order[k]] += m->direct[(size_t)r * n + k];
}

/* The independent kind's draws: per row a uniform's component and a normal. */
static void independent_sample(mog_base *m, const real *p, int rows, real *z)
{
    int n = m->n, K = m->k;
    prepare_blocks(m, p);
    K_PARALLEL_ROWS((size_t)rows * n * K)
    for (int row = 0; row < rows; row++)
        for (int i = 0; i < n; i++) {
            const double *cdf = m->cdf + (size_t)i * K;
            const real *noise = m->noise + 2 * ((size_t)row * n + i);
            int pick = 0;
            while (pick < K - 1 && noise[0] >= cdf[pick])
                pick++;
            z[(size_t)row * n + i] = m->blocks[(size_t)i * 3 * K + K + pick] + m->scale[(size_t)i * K + pick] * noise[1];
        }
}

void mog_sample(mog_base *m, const real *p, rng *r, int rows, real *z)
{
    int n = m->n, K = m->k, no = m->net.n_out;
    for (int i = 0; i < rows * n; i++) {
        m->noise[2 * i] = (real)rng_uniform(r);
        m->noise[2 * i + 1] = (real)rng_normal(r);
    }
    if (m->independent) {
        independent_sample(m, p, rows, z);
        return;
    }
    made_load_context(&m->net, 0, rows, m->context);
    for (int k = 0; k < n; k++) {
        made_seq_step(&m->net, p, 0, rows, k);
        int i = m->net.order[k];
        for (int row = 0; row < rows; row++) {
            real *b = m->net.out + (size_t)row * no + (size_t)k * 3 * K;
            bound_block(m, b);
            double top = -INFINITY, s = 0;
            for (int j = 0; j < K; j++)
                top = fmax(top, b[j]);
            for (int j = 0; j < K; j++)
                s += exp(b[j] - top);
            double u = m->noise[2 * ((size_t)row * n + k)] * s, acc = 0;
            int pick = K - 1;
            for (int j = 0; j < K; j++) {
                acc += exp(b[j] - top);
                if (u < acc) {
                    pick = j;
                    break;
                }
            }
            real v = b[K + pick] + r_exp(b[2 * K + pick]) * m->noise[2 * ((size_t)row * n + k) + 1];
            z[(size_t)row * n + i] = v;
            *made_in(&m->net, row, k) = v;
        }
    }
}

nf_status mog_save(const mog_base *m, mf_writer *w)
{
    if (m->independent) {
        nf_status st = mf_begin(w, "mog_base");
        return st ? st : mf_put_i64(w, "components", m->k);
    }
    nf_status st = mf_begin(w, "made_mog_base");
    if (!st) st = mf_put_i64(w, "components", m->k);
    if (!st) st = made_put(&m->net, w);
    return st;
}

nf_status mog_load(const mf_file *f, const mf_section *s, int dim, mog_base **out)
{
    int64_t k;
    made_spec sp;
    nf_status st = mf_get_i64(f, s, "components", &k);
    if (!st && strcmp(mf_section_tag(s), "mog_base") == 0) {
        if (k < 1 || k > NF_MAX_COMPONENTS)
            return nf_fail(NF_ERR_FORMAT, "%s: mog_base: %lld components (1..1000 allowed)", mf_path(f), (long long)k);
        *out = mog_new_independent(dim, (int)k);
        return *out ? NF_OK : NF_ERR_NOMEM;
    }
    if (st || (st = made_get(f, s, dim, &sp)))
        return st;
    if (k < 1 || k > NF_MAX_COMPONENTS)
        st = nf_fail(NF_ERR_FORMAT, "%s: made_mog_base: %lld components (1..1000 allowed)", mf_path(f), (long long)k);
    if (!st && !(*out = mog_new(dim, sp.context, (int)k, sp.hidden, sp.depth, sp.act, sp.order, sp.degrees, 0, 0))) {
        char why[256];
        snprintf(why, sizeof why, "%s", nf_last_error());
        st = nf_fail(NF_ERR_FORMAT, "%s: bad made_mog_base: %s", mf_path(f), why);
    }
    made_spec_free(&sp);
    return st;
}

size_t mog_describe(const mog_base *m, char *buf, size_t size)
{
    if (m->independent)
        return (size_t)snprintf(buf, size, "MoG, %d Gaussians per dimension, dimensions independent", m->k);
    const made *net = &m->net;
    return (size_t)snprintf(buf, size, "MADE MoG, %d Gaussians per conditional, made=%d-%dx%d-%d %s", m->k, m->n,
                            net->depth, net->hidden, net->n_out, net->act == K_ACT_TANH ? "tanh" : "relu");
}
