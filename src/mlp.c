#include "mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"

void mlp_shape(mlp *m, int n_in, int n_out, int hidden, int depth, int act)
{
    memset(m, 0, sizeof *m);
    m->n_in = n_in;
    m->n_out = n_out;
    m->hidden = depth > 0 ? hidden : 0;
    m->depth = depth;
    m->act = act;
}

/* Fan-in and fan-out of linear layer l (0..depth). */
static int layer_in(const mlp *m, int l) { return l == 0 ? m->n_in : m->hidden; }
static int layer_out(const mlp *m, int l) { return l == m->depth ? m->n_out : m->hidden; }

size_t mlp_n_params(const mlp *m)
{
    size_t n = 0;
    for (int l = 0; l <= m->depth; l++)
        n += (size_t)layer_out(m, l) * layer_in(m, l) + layer_out(m, l);
    return n;
}

int mlp_reserve(mlp *m, int rows)
{
    if (rows <= m->max_rows)
        return 0;
    mlp_release(m);
    if (m->depth > 0) {
        size_t per = (size_t)rows * m->hidden;
        m->h = malloc(sizeof(real) * per * m->depth);
        m->dh[0] = malloc(sizeof(real) * per);
        m->dh[1] = malloc(sizeof(real) * per);
        if (!m->h || !m->dh[0] || !m->dh[1]) {
            mlp_release(m);
            return -1;
        }
    }
    m->max_rows = rows;
    return 0;
}

void mlp_release(mlp *m)
{
    free(m->h);
    free(m->dh[0]);
    free(m->dh[1]);
    m->h = m->dh[0] = m->dh[1] = NULL;
    m->max_rows = 0;
}

void mlp_init_params(const mlp *m, real *p, rng *r, int zero_last)
{
    for (int l = 0; l <= m->depth; l++) {
        int in = layer_in(m, l), out = layer_out(m, l);
        size_t n = (size_t)out * in + out;
        if (l == m->depth && zero_last) {
            memset(p, 0, sizeof(real) * n);
        } else {
            double bound = 1.0 / sqrt((double)in);
            for (size_t i = 0; i < n; i++)
                p[i] = (real)((2 * rng_uniform(r) - 1) * bound);
        }
        p += n;
    }
}

/* Work of one row through the network, forward (FLOPs). */
static double flops_per_row(const mlp *m) { return 2.0 * (double)mlp_n_params(m); }

/* Row r0 of hidden layer l's buffer in base (m->h or m->dh). */
static real *hidden_rows(const mlp *m, real *base, int l, int r0)
{
    return base + ((size_t)l * m->max_rows + r0) * m->hidden;
}

/* Rows [r0, r1) through every layer; each thread runs its own rows. */
static void forward_rows(mlp *m, const real *p, int r0, int r1, const real *in, real *out)
{
    const real *x = in + (size_t)r0 * m->n_in;
    for (int l = 0; l <= m->depth; l++) {
        int nin = layer_in(m, l), nout = layer_out(m, l);
        const real *w = p, *b = p + (size_t)nout * nin;
        real *y = l == m->depth ? out + (size_t)r0 * nout : hidden_rows(m, m->h, l, r0);
        k_linear(r1 - r0, nin, nout, x, w, b, y);
        if (l < m->depth)
            k_activate(m->act, (size_t)(r1 - r0) * nout, y);
        x = y;
        p = b + nout;
    }
}

void mlp_forward(mlp *m, const real *p, int rows, const real *in, real *out)
{
#pragma omp parallel num_threads(k_threads()) if (k_worth_threads(rows * flops_per_row(m)))
    {
        int r0, r1;
        k_share(rows, &r0, &r1);
        forward_rows(m, p, r0, r1, in, out);
    }
}

/* Each layer backward in two shares: the weight and bias gradients of the
 * thread's output units (sums over all rows, in row order), then dL/dx of
 * its rows, with the activation's derivative applied to them. */
void mlp_backward(mlp *m, const real *p, int rows, const real *in, const real *dout, real *din, real *dp)
{
    size_t off[64]; /* offsets of each layer's parameters */
    size_t o = 0;
    for (int l = 0; l <= m->depth; l++) {
        off[l] = o;
        o += (size_t)layer_out(m, l) * layer_in(m, l) + layer_out(m, l);
    }
#pragma omp parallel num_threads(k_threads()) if (k_worth_threads(2 * rows * flops_per_row(m)))
    {
        const real *dy = dout;
        int cur = 0;
        for (int l = m->depth; l >= 0; l--) {
            int nin = layer_in(m, l), nout = layer_out(m, l), a, b;
            const real *x = l == 0 ? in : hidden_rows(m, m->h, l - 1, 0);
            const real *w = p + off[l];
            real *dx = l == 0 ? din : m->dh[cur];
            if (dp) {
                real *dw = dp + off[l], *db = dw + (size_t)nout * nin;
                k_share(nout, &a, &b);
                if (b > a)
                    k_gemm(1, 0, b - a, nin, rows, 1, dy + a, nout, x, nin, 1, dw + (size_t)a * nin, nin);
                for (int r = 0; r < rows; r++)
                    for (int j = a; j < b; j++)
                        db[j] += dy[(size_t)r * nout + j];
            }
            if (dx) {
                k_share(rows, &a, &b);
                if (b > a) {
                    k_gemm(0, 0, b - a, nin, nout, 1, dy + (size_t)a * nout, nout, w, nin, 0, dx + (size_t)a * nin,
                           nin);
                    if (l > 0)
                        k_activate_backward(m->act, (size_t)(b - a) * nin, x + (size_t)a * nin, dx + (size_t)a * nin);
                }
            }
            if (l > 0) {
                dy = dx;
                cur ^= 1;
            }
#pragma omp barrier /* the next layer's weight gradients read every row of dx */
        }
    }
}
