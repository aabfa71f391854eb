#include "nets/mlp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kern.h"

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

nf_status mlp_reserve(mlp *m, int rows)
{
    if (rows <= m->max_rows)
        return NF_OK;
    mlp_release(m);
    if (m->depth > 0) {
        size_t per = (size_t)rows * m->hidden;
        m->h = k_alloc(sizeof(real) * per * m->depth);
        m->dh[0] = k_alloc(sizeof(real) * per);
        m->dh[1] = k_alloc(sizeof(real) * per);
        if (!m->h || !m->dh[0] || !m->dh[1]) {
            mlp_release(m);
            return NF_ERR_NOMEM;
        }
    }
    m->max_rows = rows;
    return NF_OK;
}

void mlp_release(mlp *m)
{
    k_free(m->h);
    k_free(m->dh[0]);
    k_free(m->dh[1]);
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
            double bound = in > 0 ? 1.0 / sqrt((double)in) : 1.0; /* no inputs: the bias alone */
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

/* A coupling network has no masked zeros to skip, and a product split into
 * panels of units copies (packs) its rows again for each panel, a product
 * split into tiles of rows its weights: the forward pass and dL/dx go by
 * tiles of MLP_ROW_TILE rows through whole layers. Weight gradients go by
 * panels of GRAD_UNITS output units, each a sum over all rows. (Measured
 * at hidden 512, n = 21: tiles of 128 rows by panels of 64 units spent 29%
 * of a density pass packing; tiles of 256 through whole layers 14%, as
 * much as one product per thread did before.) */
enum { GRAD_UNITS = 128, MLP_ROW_TILE = 256 };

static int panel_count(int units) { return (units + GRAD_UNITS - 1) / GRAD_UNITS; }

static size_t layer_offset(const mlp *m, int l)
{
    size_t o = 0;
    for (int k = 0; k < l; k++)
        o += (size_t)layer_out(m, k) * layer_in(m, k) + layer_out(m, k);
    return o;
}

/* Rows [r0, r1) through every layer (a tile: no other rows are read). */
static void forward_rows(mlp *m, const real *p, int r0, int r1, const real *in, real *out)
{
    const real *x = in + (size_t)r0 * m->n_in;
    for (int l = 0; l <= m->depth; l++) {
        int nin = layer_in(m, l), nout = layer_out(m, l);
        const real *w = p + layer_offset(m, l), *bias = w + (size_t)nout * nin;
        real *y = l == m->depth ? out + (size_t)r0 * nout : hidden_rows(m, m->h, l, r0);
        k_gemm(0, 1, r1 - r0, nout, nin, 1, x, nin, w, nin, 0, y, nout);
        k_bias_activate_block(l < m->depth ? m->act : K_ACT_NONE, r1 - r0, nout, nout, bias, y);
        if (l < m->depth)
            k_dropout_forward(&m->dropout, l, r1 - r0, nout, nout, (size_t)r0, 0, y);
        x = y;
    }
}

/* Each row tile through every layer, the tiles shared between threads. */
static void forward_tiles(mlp *m, const real *p, int rows, const real *in, real *out)
{
    int tiles = k_tiles(rows, MLP_ROW_TILE);
#pragma omp for schedule(dynamic, 1) nowait
    for (int t = 0; t < tiles; t++) {
        int r0, r1;
        k_tile(rows, MLP_ROW_TILE, t, &r0, &r1);
        forward_rows(m, p, r0, r1, in, out);
    }
}

void mlp_forward(mlp *m, const real *p, int rows, const real *in, real *out)
{
    K_RUN(k_tiles(rows, MLP_ROW_TILE) > 1 && k_worth_threads(rows * flops_per_row(m)),
          forward_tiles(m, p, rows, in, out));
}

/* Layer by layer down: the weight and bias gradients by panels of output
 * units (each a sum over all rows, in row order), and dL/dx by row tiles
 * through the whole layer, with the activation's derivative applied. */
static void backward_body(mlp *m, const real *p, int rows, const real *in, const real *dout, real *din, real *dp)
{
    int tiles = k_tiles(rows, MLP_ROW_TILE);
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
                k_part(nout, panel_count(nout), k, &a, &b);
                k_gemm(1, 0, b - a, nin, rows, 1, dy + a, nout, x, nin, 1, dw + (size_t)a * nin, nin);
                k_add_rows(rows, b - a, dy + a, (size_t)nout, db + a);
            }
        }
        if (dx) {
#pragma omp for schedule(dynamic, 1)
            for (int t = 0; t < tiles; t++) {
                int r0, r1;
                k_tile(rows, MLP_ROW_TILE, t, &r0, &r1);
                real *dxt = dx + (size_t)r0 * nin;
                k_gemm(0, 0, r1 - r0, nin, nout, 1, dy + (size_t)r0 * nout, nout, w, nin, 0, dxt, nin);
                if (l > 0)
                    k_dropout_activate_backward(&m->dropout, m->act, l - 1, r1 - r0, nin, nin, (size_t)r0, 0,
                                                x + (size_t)r0 * nin, dxt);
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

void mlp_backward(mlp *m, const real *p, int rows, const real *in, const real *dout, real *din, real *dp)
{
    K_RUN(k_worth_threads(2 * rows * flops_per_row(m)), backward_body(m, p, rows, in, dout, din, dp));
}

double mlp_file_params(const mf_file *f, const mf_section *s, double n_in, double n_out)
{
    int64_t hidden = 0, depth = 0;
    if (!mf_has(s, "hidden") || !mf_has(s, "hidden_layers") || mf_get_i64(f, s, "hidden", &hidden) ||
        mf_get_i64(f, s, "hidden_layers", &depth) || hidden < 0 || depth < 0)
        return -1;
    double h = (double)hidden, d = (double)depth;
    if (d <= 0)
        return n_in * n_out + n_out;
    return n_in * h + h + (d - 1) * (h * h + h) + h * n_out + n_out;
}
