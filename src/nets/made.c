#include "nets/made.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kern.h"
#include "core/kern_narrow.h"

static int layer_in(const made *m, int l) { return l == 0 ? m->n_in : m->hidden; }
static int layer_out(const made *m, int l) { return l == m->depth ? m->n_out : m->hidden; }

static size_t layer_offset(const made *m, int l)
{
    size_t o = 0;
    for (int k = 0; k < l; k++)
        o += (size_t)layer_out(m, k) * layer_in(m, k) + layer_out(m, k);
    return o;
}

static real *hidden_of(const made *m, real *base, int l) { return base + (size_t)l * m->max_rows * m->hidden; }

static int end_of(const made *m, int l, int d) { return m->end[(size_t)l * (m->n + 1) + d]; }

/* Inputs of layer l read by a unit of degree d (hidden) or by output block
 * d (l == depth): a prefix of that many (of the first layer's: the context
 * and the inputs of degree <= d). */
static int width_for(const made *m, int l, int d)
{
    if (l < m->depth)
        return l == 0 ? m->nc + d : end_of(m, l - 1, d);
    return m->depth == 0 ? m->nc + d : end_of(m, m->depth - 1, d);
}

static int unit_width(const made *m, int l, int j)
{
    if (l < m->depth)
        return width_for(m, l, m->deg[(size_t)l * m->hidden + j]);
    return width_for(m, l, j / m->per_dim);
}

int made_allowed(const made *m, int l, int j, int i) { return i < unit_width(m, l, j); }

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

nf_status made_setup(made *m, int n, int n_context, int hidden, int depth, int act, int per_dim, const int *order,
                     const int *degrees, int random_degrees, rng *r)
{
    memset(m, 0, sizeof *m);
    m->n = n;
    m->nc = n_context;
    m->n_in = n_context + n;
    m->hidden = depth > 0 ? hidden : 0;
    m->depth = depth;
    m->act = act;
    m->per_dim = per_dim;
    m->n_out = per_dim * n;
    mlp_shape(&m->net, m->n_in, m->n_out, hidden, depth, act);
    m->order = malloc(sizeof(int) * n);
    m->deg = malloc(sizeof(int) * (depth * (size_t)m->hidden + 1));
    m->end = calloc((size_t)depth * (n + 1) + 1, sizeof(int));
    if (!m->order || !m->deg || !m->end) {
        made_free(m);
        return NF_ERR_NOMEM;
    }
    memcpy(m->order, order, sizeof(int) * n);
    /* Hidden degrees lie in 1..n-1; a conditional MADE's start at 0: units
     * that read the context alone, so that output block 0 (the first
     * dimension's conditional) hears the context too. */
    int bottom = n_context > 0 ? 0 : 1, top = n > 1 ? n - 1 : bottom;
    for (int l = 0; l < depth; l++) {
        int *d = m->deg + (size_t)l * m->hidden;
        int lo = l == 0 ? bottom : m->deg[(size_t)(l - 1) * m->hidden]; /* previous layer's minimum */
        for (int j = 0; j < m->hidden; j++) {
            if (degrees)
                d[j] = degrees[(size_t)l * m->hidden + j];
            else
                d[j] = random_degrees ? lo + (int)rng_below(r, (uint64_t)(top - lo + 1))
                                      : j % (top - bottom + 1) + bottom;
        }
        qsort(d, (size_t)m->hidden, sizeof(int), cmp_int);
        int *e = m->end + (size_t)l * (n + 1);
        for (int j = 0; j < m->hidden; j++)
            e[d[j] <= n ? d[j] : n]++;
        for (int k = 1; k <= n; k++)
            e[k] += e[k - 1];
    }
    return NF_OK;
}

static void release(made *m)
{
    k_free(m->in);
    k_free(m->out);
    k_free(m->din);
    k_free(m->dh);
    mlp_release(&m->net);
    m->in = m->out = m->din = m->dh = NULL;
    m->max_rows = 0;
}

void made_free(made *m)
{
    release(m);
    free(m->order);
    free(m->deg);
    free(m->end);
    m->order = m->deg = m->end = NULL;
}

size_t made_n_params(const made *m) { return mlp_n_params(&m->net); }

void made_init_params(const made *m, real *p, rng *r, int zero_last) { mlp_init_params(&m->net, p, r, zero_last); }

/* Zeroes the masked part of every weight matrix (bias untouched). */
void made_constrain(const made *m, real *p)
{
    for (int l = 0; l <= m->depth; l++) {
        int in = layer_in(m, l), out = layer_out(m, l);
        real *w = p + layer_offset(m, l);
        for (int j = 0; j < out; j++) {
            int wd = unit_width(m, l, j);
            memset(w + (size_t)j * in + wd, 0, sizeof(real) * (size_t)(in - wd));
        }
    }
}

int made_check(const made *m, const real *p)
{
    for (int l = 0; l <= m->depth; l++) {
        int in = layer_in(m, l), out = layer_out(m, l);
        const real *w = p + layer_offset(m, l);
        for (int j = 0; j < out; j++) {
            int wd = unit_width(m, l, j);
            if (!k_all_zero((size_t)(in - wd), w + (size_t)j * in + wd))
                return 0;
        }
    }
    return 1;
}

nf_status made_reserve(made *m, int rows)
{
    if (rows <= m->max_rows)
        return NF_OK;
    release(m);
    size_t hs = (size_t)rows * m->hidden * m->depth;
    m->in = k_alloc(sizeof(real) * rows * m->n_in);
    m->din = k_alloc(sizeof(real) * rows * m->n_in);
    m->out = k_alloc(sizeof(real) * rows * m->n_out);
    m->dh = k_alloc(sizeof(real) * (hs ? hs : 1));
    if (!m->in || !m->din || !m->out || !m->dh || mlp_reserve(&m->net, rows)) {
        release(m);
        return NF_ERR_NOMEM;
    }
    m->max_rows = rows;
    return NF_OK;
}

/* Up to this many units (a sequential step's units of one degree, an
 * output block), a product goes through k_narrow with the bias and the
 * activation; wider ones (the parallel pass's panels) through the BLAS. */
enum { NARROW_UNITS = 24 };

/* Units [a, b) of layer l (or output rows when l == depth) for rows
 * [r0, r0 + rows) from the first `width` columns of their input:
 * dst[:, a:b] = act(src[:, :width] W^T + b). */
static void panel_forward(made *m, const real *p, int r0, int rows, int l, int a, int b, int width)
{
    int in = layer_in(m, l), out = layer_out(m, l);
    const real *w = p + layer_offset(m, l), *bias = w + (size_t)out * in;
    int ld_src = l == 0 ? m->n_in : m->hidden;
    const real *src = (l == 0 ? m->in : hidden_of(m, m->net.h, l - 1)) + (size_t)r0 * ld_src;
    real *dst = (l == m->depth ? m->out : hidden_of(m, m->net.h, l)) + (size_t)r0 * out;
    if (b - a <= NARROW_UNITS) {
        k_narrow(rows, b - a, width, src, ld_src, w + (size_t)a * in, in, bias + a, l < m->depth ? m->act : K_ACT_NONE,
                 dst + a, out);
        return;
    }
    k_gemm(0, 1, rows, b - a, width, 1, src, ld_src, w + (size_t)a * in, in, 0, dst + a, out);
    k_bias_activate_block(l < m->depth ? m->act : K_ACT_NONE, rows, b - a, out, bias + a, dst + a);
}

/* panel_forward, then the hidden units' dropout (while training; rate 0 otherwise). */
static void panel_forward_drop(made *m, const real *p, int r0, int rows, int l, int a, int b, int width)
{
    panel_forward(m, p, r0, rows, l, a, b, width);
    if (l < m->depth)
        k_dropout_forward(&m->net.dropout, l, rows, b - a, m->hidden, (size_t)r0,
                          a, hidden_of(m, m->net.h, l) + (size_t)r0 * m->hidden + a);
}

void made_seq_step(made *m, const real *p, int r0, int rows, int k)
{
    for (int l = 0; l < m->depth; l++) {
        int a = k ? end_of(m, l, k - 1) : 0, b = end_of(m, l, k);
        if (b > a)
            panel_forward_drop(m, p, r0, rows, l, a, b, width_for(m, l, k));
    }
    panel_forward(m, p, r0, rows, m->depth, k * m->per_dim, (k + 1) * m->per_dim, width_for(m, m->depth, k));
}

void made_load_context(made *m, int r0, int rows, const real *context)
{
    if (!m->nc || !context)
        return;
    for (int r = 0; r < rows; r++)
        memcpy(m->in + (size_t)(r0 + r) * m->n_in, context + (size_t)r * m->nc, sizeof(real) * m->nc);
}

void made_context_grad(const made *m, int r0, int rows, real *dcontext)
{
    if (!m->nc || !dcontext)
        return;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < m->nc; j++)
            dcontext[(size_t)r * m->nc + j] += m->din[(size_t)(r0 + r) * m->n_in + j];
}

void made_seq_backward_begin(made *m, int r0, int rows)
{
    memset(m->din + (size_t)r0 * m->n_in, 0, sizeof(real) * rows * m->n_in);
    for (int l = 0; l < m->depth; l++)
        memset(hidden_of(m, m->dh, l) + (size_t)r0 * m->hidden, 0, sizeof(real) * rows * m->hidden);
}

/* Backward of panel_forward for units [a, b) and input columns [c0, c1)
 * given the units' output gradient dy (ld_dy, row 0): dW[a:b, c0:c1] +=
 * dy^T src[:, c0:c1] over all rows; the block at c0 = 0 adds db too. */
static void block_param_grad(const made *m, int rows, int l, int a, int b, int c0, int c1, const real *dy, int ld_dy,
                             real *dp)
{
    int in = layer_in(m, l), out = layer_out(m, l), ld_src = l == 0 ? m->n_in : m->hidden;
    real *dw = dp + layer_offset(m, l), *db = dw + (size_t)out * in;
    const real *src = l == 0 ? m->in : hidden_of(m, m->net.h, l - 1);
    if (c1 > c0)
        k_gemm(1, 0, b - a, c1 - c0, rows, 1, dy, ld_dy, src + c0, ld_src, 1, dw + (size_t)a * in + c0, in);
    if (c0 == 0)
        k_add_rows(rows, b - a, dy, (size_t)ld_dy, db + a);
}

/* ... and dsrc[r0:r0+rows, :width] += dy W for the rows from r0 (dy at row r0). */
static void panel_input_grad(made *m, const real *p, int r0, int rows, int l, int a, int b, int width,
                             const real *dy, int ld_dy)
{
    int in = layer_in(m, l), ld_src = l == 0 ? m->n_in : m->hidden;
    real *dsrc = (l == 0 ? m->din : hidden_of(m, m->dh, l - 1)) + (size_t)r0 * ld_src;
    if (width > 0)
        k_gemm(0, 0, rows, width, b - a, 1, dy, ld_dy, p + layer_offset(m, l) + (size_t)a * in, in, 1, dsrc, ld_src);
}

void made_seq_backward_step(made *m, const real *p, int r0, int rows, int k, const real *dblock, int ld)
{
    int top = m->depth;
    panel_input_grad(m, p, r0, rows, top, k * m->per_dim, (k + 1) * m->per_dim, width_for(m, top, k), dblock, ld);
    for (int l = m->depth - 1; l >= 0; l--) {
        int a = k ? end_of(m, l, k - 1) : 0, b = end_of(m, l, k);
        if (b <= a)
            continue;
        real *dh = hidden_of(m, m->dh, l) + (size_t)r0 * m->hidden + a;
        const real *h = hidden_of(m, m->net.h, l) + (size_t)r0 * m->hidden + a;
        k_dropout_activate_backward(&m->net.dropout, m->act, l, rows, b - a, m->hidden, (size_t)r0, a, h, dh);
        panel_input_grad(m, p, r0, rows, l, a, b, width_for(m, l, k), dh, m->hidden);
    }
}

/* The parallel pass multiplies each layer in panels of consecutive units,
 * each reading only the prefix its last (widest) unit needs: the staircase
 * masks leave about half of every matrix zero. Through the BLAS, panels of
 * 64 units skip most of it while keeping the products large (measured at
 * n = 63, hidden 512: 64 beat 32 by 6-10% and 128 by 3-8%, because each
 * panel's product copies its rows of the input again); the gradients use
 * those. The forward pass, where the vector narrow product exists, takes
 * panels of 16 units through it instead, which copies nothing and skips
 * more of the zeros: one-epoch MAF training there 9% faster (AVX-512) and
 * 4% (AVX2) than with the BLAS's panels of 64. */
enum { PANEL_UNITS = 64, NARROW_PANEL_UNITS = 16 };

_Static_assert((int)NARROW_PANEL_UNITS <= (int)NARROW_UNITS, "forward panels must take the narrow product");

static int forward_panel_units(void) { return k_narrow_isa() ? NARROW_PANEL_UNITS : PANEL_UNITS; }

static int panels_of(int out, int units) { return (out + units - 1) / units; }
static int panel_count(int out) { return panels_of(out, PANEL_UNITS); }

static void panel_range_of(const made *m, int l, int k, int units, int *a, int *b, int *w)
{
    int out = layer_out(m, l), np = panels_of(out, units);
    k_part(out, np, k, a, b);
    *w = unit_width(m, l, *b - 1);
}

static void panel_range(const made *m, int l, int k, int *a, int *b, int *w)
{
    panel_range_of(m, l, k, PANEL_UNITS, a, b, w);
}

/* Work of one row through the whole (unmasked) network, forward. */
static double flops_per_row(const made *m) { return 2.0 * (double)made_n_params(m); }

/* Layer by layer, in blocks of one row tile by one panel of units (the
 * bias, the product, the activation): the blocks' shapes do not depend on
 * the thread count, and a layer has enough of them for many threads. */
static void forward_body(made *m, const real *p, int rows, const real *x, const real *context)
{
    int n = m->n, nc = m->nc, n_in = m->n_in, tile = k_row_tile(rows), tiles = k_tiles(rows, tile);
#pragma omp for schedule(static)
    for (int r = 0; r < rows; r++) {
        for (int j = 0; j < nc; j++)
            m->in[(size_t)r * n_in + j] = context[(size_t)r * nc + j];
        for (int k = 0; k < n; k++)
            m->in[(size_t)r * n_in + nc + k] = x[(size_t)r * n + m->order[k]];
    }
    for (int l = 0; l <= m->depth; l++) {
        int units = forward_panel_units(), np = panels_of(layer_out(m, l), units);
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int t = 0; t < tiles; t++)
            for (int k = 0; k < np; k++) {
                int r0, r1, a, b, width;
                k_tile(rows, tile, t, &r0, &r1);
                panel_range_of(m, l, k, units, &a, &b, &width);
                panel_forward_drop(m, p, r0, r1 - r0, l, a, b, width);
            }
    }
}

int made_output_is_zero(const made *m, const real *p)
{
    const real *w = p + layer_offset(m, m->depth);
    size_t n = (size_t)m->n_out * layer_in(m, m->depth) + m->n_out; /* the weights, then the biases */
    for (size_t i = 0; i < n; i++)
        if (w[i] != 0)
            return 0;
    return 1;
}

void made_forward(made *m, const real *p, int rows, const real *x, const real *context)
{
    K_RUN(k_worth_threads(rows * flops_per_row(m)), forward_body(m, p, rows, x, context));
}

/* The first unit of layer l that reads input column c (units read
 * prefixes that widen with the unit, so the readers are a suffix). */
static int first_reader(const made *m, int l, int c)
{
    int lo = 0, hi = layer_out(m, l);
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (unit_width(m, l, mid) > c)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* dsrc[r0:r1, c0:c1] = dy[r0:r1, u0:] W[u0:, c0:c1] for the units u0.. that
 * read those columns (the others' weights there are masked, zero). */
static void input_block_grad(made *m, const real *p, int r0, int r1, int l, int c0, int c1, const real *dy)
{
    int in = layer_in(m, l), out = layer_out(m, l), u0 = first_reader(m, l, c0);
    real *dsrc = (l == 0 ? m->din : hidden_of(m, m->dh, l - 1)) + (size_t)r0 * in + c0;
    if (u0 < out)
        k_gemm(0, 0, r1 - r0, c1 - c0, out - u0, 1, dy + (size_t)r0 * out + u0, out,
               p + layer_offset(m, l) + (size_t)u0 * in + c0, in, 0, dsrc, in);
    else
        for (int r = r0; r < r1; r++)
            memset(dsrc + (size_t)(r - r0) * in, 0, sizeof(real) * (size_t)(c1 - c0));
}

/* Columns per block of a weight gradient: a block of one panel of units by
 * this many input columns sums over all the rows, so blocks split a
 * layer's gradient between many threads without changing any sum. */
enum { GRAD_COLUMNS = 64 };

static void param_grad_blocks(const made *m, int rows, const real *dout, real *dp, const int *panels, int total,
                              int columns)
{
#pragma omp for collapse(2) schedule(dynamic, 1) nowait
    for (int i = 0; i < total; i++)
        for (int j = 0; j < columns; j++) {
            int l = m->depth;
            while (panels[l] > i)
                l--;
            int a, b, w, out = layer_out(m, l), c0 = j * GRAD_COLUMNS;
            panel_range(m, l, i - panels[l], &a, &b, &w);
            if (c0 >= w && c0 > 0)
                continue; /* past the panel's prefix: masked, gradient 0 */
            const real *dy = l == m->depth ? dout : hidden_of(m, m->dh, l);
            block_param_grad(m, rows, l, a, b, c0, w - c0 < GRAD_COLUMNS ? w : c0 + GRAD_COLUMNS, dy + a, out, dp);
        }
}

/* The masked weights are not parameters: their gradient stays 0. The
 * blocks wrote only within each panel's prefix, so only there, past each
 * unit's own prefix, is there anything to zero (an eighth of what
 * made_constrain clears at hidden 512: a memory pass a step saved). */
static void unmask_panels(const made *m, real *dp)
{
    for (int l = 0; l <= m->depth; l++) {
        int in = layer_in(m, l), np = panel_count(layer_out(m, l));
        real *dw = dp + layer_offset(m, l);
        for (int k = 0; k < np; k++) {
            int a, b, w;
            panel_range(m, l, k, &a, &b, &w);
            for (int j = a; j < b; j++) {
                int wd = unit_width(m, l, j);
                memset(dw + (size_t)j * in + wd, 0, sizeof(real) * (size_t)(w - wd));
            }
        }
    }
}

void made_param_grad(const made *m, int rows, const real *dout, real *dp)
{
    int panels[64], total = 0, widest = 0; /* panels before layer l: panels[l] */
    for (int l = 0; l <= m->depth; l++) {
        panels[l] = total;
        total += panel_count(layer_out(m, l));
        widest = layer_in(m, l) > widest ? layer_in(m, l) : widest;
    }
    int columns = k_tiles(widest, GRAD_COLUMNS);
    K_RUN(k_worth_threads(rows * flops_per_row(m)), param_grad_blocks(m, rows, dout, dp, panels, total, columns));
    unmask_panels(m, dp);
}

/* Layer by layer down: the activation's derivative by row tiles, then
 * dL/d(input) in blocks of one row tile by one panel of input columns;
 * the weight gradients follow. */
static void backward_body(made *m, const real *p, int rows, const real *dout, real *dx, real *dcontext)
{
    int n = m->n, nc = m->nc, n_in = m->n_in, tile = k_row_tile(rows), tiles = k_tiles(rows, tile);
    for (int l = m->depth; l >= 0; l--) {
        int in = layer_in(m, l), out = layer_out(m, l), np = panel_count(in);
        real *dy = l == m->depth ? (real *)dout : hidden_of(m, m->dh, l);
        if (l < m->depth) { /* dL/dh -> dL/d(pre-activation), in place */
#pragma omp for schedule(static)
            for (int t = 0; t < tiles; t++) {
                int r0, r1;
                k_tile(rows, tile, t, &r0, &r1);
                k_dropout_activate_backward(&m->net.dropout, m->act, l, r1 - r0, out, out, (size_t)r0, 0,
                                            hidden_of(m, m->net.h, l) + (size_t)r0 * out, dy + (size_t)r0 * out);
            }
        }
        if (l == 0 && !dx && !dcontext)
            break;
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int t = 0; t < tiles; t++)
            for (int k = 0; k < np; k++) {
                int r0, r1, c0, c1;
                k_tile(rows, tile, t, &r0, &r1);
                k_part(in, np, k, &c0, &c1);
                input_block_grad(m, p, r0, r1, l, c0, c1, dy);
            }
    }
    if (dx || dcontext) {
#pragma omp for schedule(static)
        for (int r = 0; r < rows; r++) {
            for (int j = 0; dcontext && j < nc; j++)
                dcontext[(size_t)r * nc + j] += m->din[(size_t)r * n_in + j];
            for (int k = 0; dx && k < n; k++)
                dx[(size_t)r * n + m->order[k]] = m->din[(size_t)r * n_in + nc + k];
        }
    }
}

void made_backward(made *m, const real *p, int rows, const real *dout, real *dx, real *dcontext, real *dp)
{
    K_RUN(k_worth_threads(rows * flops_per_row(m)), backward_body(m, p, rows, dout, dx, m->nc ? dcontext : NULL));
    if (dp)
        made_param_grad(m, rows, dout, dp);
}

nf_status made_put(const made *m, mf_writer *w)
{
    size_t nd = (size_t)m->depth * m->hidden;
    int32_t *buf = malloc(sizeof(int32_t) * (nd > (size_t)m->n ? nd : (size_t)m->n));
    if (!buf)
        return nf_fail(NF_ERR_NOMEM, "out of memory saving a MADE");
    nf_status st = mf_put_i64(w, "hidden", m->hidden);
    if (!st && m->nc) st = mf_put_i64(w, "context", m->nc);
    if (!st) st = mf_put_i64(w, "hidden_layers", m->depth);
    if (!st) st = mf_put_str(w, "activation", m->act == K_ACT_TANH ? "tanh" : "relu");
    for (int k = 0; k < m->n; k++)
        buf[k] = m->order[k];
    if (!st) st = mf_put_i32s(w, "order", buf, (size_t)m->n);
    for (size_t j = 0; j < nd; j++)
        buf[j] = m->deg[j];
    if (!st) st = mf_put_i32s(w, "degrees", buf, nd);
    free(buf);
    return st;
}

void made_spec_free(made_spec *sp)
{
    free(sp->order);
    free(sp->degrees);
    sp->order = sp->degrees = NULL;
}

nf_status made_get(const mf_file *f, const mf_section *s, int dim, made_spec *out)
{
    int64_t hidden, depth;
    const char *act, *tag = mf_section_tag(s);
    const int32_t *order32, *deg32;
    memset(out, 0, sizeof *out);
    nf_status st = mf_get_i64(f, s, "hidden", &hidden);
    if (!st) st = mf_get_i64(f, s, "hidden_layers", &depth);
    if (!st) st = mf_get_str(f, s, "activation", &act);
    if (!st) st = mf_get_i32s(f, s, "order", (size_t)dim, &order32, NULL);
    int64_t context = 0; /* written since revision 4 (docs/model-format.md) when not 0 */
    if (!st && mf_has(s, "context")) st = mf_get_i64(f, s, "context", &context);
    if (st)
        return st;
    if (context < 0 || context > NF_MAX_CONTEXT)
        return nf_fail(NF_ERR_FORMAT, "%s: %s: %lld context inputs out of range 0..%d", mf_path(f), tag,
                       (long long)context, NF_MAX_CONTEXT);
    out->context = (int)context;
    if (hidden < 0 || hidden > NF_MAX_HIDDEN || depth < 0 || depth > NF_MAX_HIDDEN_LAYERS || (strcmp(act, "relu") && strcmp(act, "tanh")))
        return nf_fail(NF_ERR_FORMAT, "%s: %s: MADE sizes or activation out of range", mf_path(f), tag);
    size_t nd = depth > 0 ? (size_t)depth * (size_t)hidden : 0;
    if ((st = mf_get_i32s(f, s, "degrees", nd, &deg32, NULL)))
        return st;
    out->hidden = (int)hidden;
    out->depth = (int)depth;
    out->act = strcmp(act, "tanh") ? K_ACT_RELU : K_ACT_TANH;
    out->order = malloc(sizeof(int) * dim);
    out->degrees = malloc(sizeof(int) * (nd + 1));
    if (!out->order || !out->degrees) {
        made_spec_free(out);
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    }
    for (int k = 0; k < dim; k++)
        out->order[k] = order32[k];
    /* degree 0 (the context alone) only in a conditional MADE; older files have none */
    int bottom = context > 0 ? 0 : 1, top = dim > 1 ? dim - 1 : 1;
    for (size_t j = 0; j < nd; j++) {
        if ((out->degrees[j] = deg32[j]) < bottom || deg32[j] > top) {
            made_spec_free(out);
            return nf_fail(NF_ERR_FORMAT, "%s: %s: hidden degree %d out of range %d..%d", mf_path(f), tag,
                           (int)deg32[j], bottom, top);
        }
        if (j % (size_t)hidden && deg32[j] < deg32[j - 1]) { /* the weights are laid out in this order */
            made_spec_free(out);
            return nf_fail(NF_ERR_FORMAT, "%s: %s: hidden degrees not ascending within a layer", mf_path(f), tag);
        }
    }
    return NF_OK;
}
