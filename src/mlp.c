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

/* Units per panel: the column unit of every product (a block is one row
 * tile by one panel; a weight gradient's panel sums over all rows). */
enum { UNIT_PANEL = 64 };

static int panel_count(int units) { return (units + UNIT_PANEL - 1) / UNIT_PANEL; }

/* Panel k of `units` units: [*a, *b). */
static void panel_range(int units, int k, int *a, int *b)
{
    int np = panel_count(units);
    *a = (int)((long)k * units / np);
    *b = (int)((long)(k + 1) * units / np);
}

static size_t layer_offset(const mlp *m, int l)
{
    size_t o = 0;
    for (int k = 0; k < l; k++)
        o += (size_t)layer_out(m, k) * layer_in(m, k) + layer_out(m, k);
    return o;
}

static real *layer_output(const mlp *m, int l, real *out) { return l == m->depth ? out : hidden_rows(m, m->h, l, 0); }

/* Layer by layer, in blocks of one row tile by one panel of units. */
void mlp_forward(mlp *m, const real *p, int rows, const real *in, real *out)
{
    int tiles = k_tiles(rows, K_ROW_TILE);
#pragma omp parallel num_threads(k_threads()) if (k_worth_threads(rows * flops_per_row(m)))
    {
        k_region_begin();
        for (int l = 0; l <= m->depth; l++) {
            int nin = layer_in(m, l), nout = layer_out(m, l), np = panel_count(nout);
            const real *w = p + layer_offset(m, l), *bias = w + (size_t)nout * nin;
            const real *x = l == 0 ? in : layer_output(m, l - 1, out);
            real *y = layer_output(m, l, out);
#pragma omp for collapse(2) schedule(dynamic, 1)
            for (int t = 0; t < tiles; t++)
                for (int k = 0; k < np; k++) {
                    int r0, r1, a, b;
                    k_tile(rows, K_ROW_TILE, t, &r0, &r1);
                    panel_range(nout, k, &a, &b);
                    real *yb = y + (size_t)r0 * nout + a;
                    k_gemm(0, 1, r1 - r0, b - a, nin, 1, x + (size_t)r0 * nin, nin, w + (size_t)a * nin, nin, 0, yb,
                           nout);
                    k_bias_activate_block(l < m->depth ? m->act : K_ACT_NONE, r1 - r0, b - a, nout, bias + a, yb);
                }
        }
    }
}

/* Layer by layer down: the weight and bias gradients by panels of output
 * units (each a sum over all rows, in row order), and dL/dx in blocks of
 * one row tile by one panel of input columns, with the activation's
 * derivative applied to them. */
void mlp_backward(mlp *m, const real *p, int rows, const real *in, const real *dout, real *din, real *dp)
{
    int tiles = k_tiles(rows, K_ROW_TILE);
#pragma omp parallel num_threads(k_threads()) if (k_worth_threads(2 * rows * flops_per_row(m)))
    {
        k_region_begin();
        const real *dy = dout;
        int cur = 0;
        for (int l = m->depth; l >= 0; l--) {
            int nin = layer_in(m, l), nout = layer_out(m, l);
            const real *x = l == 0 ? in : hidden_rows(m, m->h, l - 1, 0);
            const real *w = p + layer_offset(m, l);
            real *dx = l == 0 ? din : m->dh[cur];
            if (dp) {
                real *dw = dp + layer_offset(m, l), *db = dw + (size_t)nout * nin;
#pragma omp for schedule(dynamic, 1) nowait
                for (int k = 0; k < panel_count(nout); k++) {
                    int a, b;
                    panel_range(nout, k, &a, &b);
                    k_gemm(1, 0, b - a, nin, rows, 1, dy + a, nout, x, nin, 1, dw + (size_t)a * nin, nin);
                    for (int r = 0; r < rows; r++)
                        for (int j = a; j < b; j++)
                            db[j] += dy[(size_t)r * nout + j];
                }
            }
            if (dx) {
                int np = panel_count(nin);
#pragma omp for collapse(2) schedule(dynamic, 1)
                for (int t = 0; t < tiles; t++)
                    for (int k = 0; k < np; k++) {
                        int r0, r1, a, b;
                        k_tile(rows, K_ROW_TILE, t, &r0, &r1);
                        panel_range(nin, k, &a, &b);
                        real *dxb = dx + (size_t)r0 * nin + a;
                        k_gemm(0, 0, r1 - r0, b - a, nout, 1, dy + (size_t)r0 * nout, nout, w + a, nin, 0, dxb, nin);
                        if (l > 0)
                            k_activate_backward_block(m->act, r1 - r0, b - a, nin, x + (size_t)r0 * nin + a, dxb);
                    }
            } else {
#pragma omp barrier
            }
            if (l > 0) {
                dy = dx;
                cur ^= 1;
            }
        }
    }
}
