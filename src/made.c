#include "made.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kern.h"

static int layer_in(const made *m, int l) { return l == 0 ? m->n : m->hidden; }
static int layer_out(const made *m, int l) { return l == m->depth ? m->n_out : m->hidden; }

static size_t layer_offset(const made *m, int l)
{
    size_t o = 0;
    for (int k = 0; k < l; k++)
        o += (size_t)layer_out(m, k) * layer_in(m, k) + layer_out(m, k);
    return o;
}

static int end_of(const made *m, int l, int d) { return m->end[(size_t)l * (m->n + 1) + d]; }

/* Inputs of layer l read by a unit of degree d (hidden) or by output block
 * d (l == depth): a prefix of that many. */
static int width_for(const made *m, int l, int d)
{
    if (l < m->depth)
        return l == 0 ? d : end_of(m, l - 1, d);
    return m->depth == 0 ? d : end_of(m, m->depth - 1, d);
}

static int unit_width(const made *m, int l, int j)
{
    if (l < m->depth)
        return width_for(m, l, m->deg[(size_t)l * m->hidden + j]);
    return width_for(m, l, j / m->per_dim);
}

int made_allowed(const made *m, int l, int j, int i) { return i < unit_width(m, l, j); }

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

int made_setup(made *m, int n, int hidden, int depth, int act, int per_dim, const int *order, const int *degrees,
               int random_degrees, rng *r)
{
    memset(m, 0, sizeof *m);
    m->n = n;
    m->hidden = depth > 0 ? hidden : 0;
    m->depth = depth;
    m->act = act;
    m->per_dim = per_dim;
    m->n_out = per_dim * n;
    m->order = malloc(sizeof(int) * n);
    m->deg = malloc(sizeof(int) * (depth * (size_t)m->hidden + 1));
    m->end = calloc((size_t)depth * (n + 1) + 1, sizeof(int));
    if (!m->order || !m->deg || !m->end) {
        made_free(m);
        return -1;
    }
    memcpy(m->order, order, sizeof(int) * n);
    int top = n > 1 ? n - 1 : 1; /* hidden degrees lie in 1..n-1 */
    for (int l = 0; l < depth; l++) {
        int *d = m->deg + (size_t)l * m->hidden;
        int lo = l == 0 ? 1 : m->deg[(size_t)(l - 1) * m->hidden]; /* previous layer's minimum */
        for (int j = 0; j < m->hidden; j++) {
            if (degrees)
                d[j] = degrees[(size_t)l * m->hidden + j];
            else
                d[j] = random_degrees ? lo + (int)rng_below(r, (uint64_t)(top - lo + 1)) : j % top + 1;
        }
        qsort(d, (size_t)m->hidden, sizeof(int), cmp_int);
        int *e = m->end + (size_t)l * (n + 1);
        for (int j = 0; j < m->hidden; j++)
            e[d[j] <= n ? d[j] : n]++;
        for (int k = 1; k <= n; k++)
            e[k] += e[k - 1];
    }
    return 0;
}

static void release(made *m)
{
    free(m->in);
    free(m->h);
    free(m->out);
    free(m->din);
    free(m->dh);
    m->in = m->h = m->out = m->din = m->dh = NULL;
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

size_t made_n_params(const made *m) { return layer_offset(m, m->depth + 1); }

void made_init_params(const made *m, real *p, rng *r, int zero_last)
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
        for (int j = 0; j < out; j++)
            for (int i = unit_width(m, l, j); i < in; i++)
                if (w[(size_t)j * in + i] != 0)
                    return 0;
    }
    return 1;
}

int made_reserve(made *m, int rows)
{
    if (rows <= m->max_rows)
        return 0;
    release(m);
    size_t hs = (size_t)rows * m->hidden * m->depth;
    m->in = malloc(sizeof(real) * rows * m->n);
    m->din = malloc(sizeof(real) * rows * m->n);
    m->out = malloc(sizeof(real) * rows * m->n_out);
    m->h = malloc(sizeof(real) * (hs ? hs : 1));
    m->dh = malloc(sizeof(real) * (hs ? hs : 1));
    if (!m->in || !m->din || !m->out || !m->h || !m->dh) {
        release(m);
        return -1;
    }
    m->max_rows = rows;
    return 0;
}

static real *hidden_of(const made *m, real *base, int l) { return base + (size_t)l * m->max_rows * m->hidden; }

void made_forward(made *m, const real *p, int rows, const real *x)
{
    int n = m->n;
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < n; k++)
            m->in[(size_t)r * n + k] = x[(size_t)r * n + m->order[k]];
    const real *src = m->in;
    for (int l = 0; l <= m->depth; l++) {
        int in = layer_in(m, l), out = layer_out(m, l);
        const real *w = p + layer_offset(m, l);
        real *y = l == m->depth ? m->out : hidden_of(m, m->h, l);
        k_linear(rows, in, out, src, w, w + (size_t)out * in, y);
        if (l < m->depth)
            k_activate(m->act, (size_t)rows * out, y);
        src = y;
    }
}

void made_backward(made *m, const real *p, int rows, const real *dout, real *dx, real *dp)
{
    int n = m->n;
    const real *dy = dout;
    for (int l = m->depth; l >= 0; l--) {
        int in = layer_in(m, l), out = layer_out(m, l);
        size_t off = layer_offset(m, l);
        const real *src = l == 0 ? m->in : hidden_of(m, m->h, l - 1);
        real *dsrc = l == 0 ? (dx ? m->din : NULL) : hidden_of(m, m->dh, l - 1);
        real *dw = dp ? dp + off : NULL;
        k_linear_backward(rows, in, out, src, p + off, dy, dsrc, dw, dw ? dw + (size_t)out * in : NULL);
        if (dw) /* the masked weights are not parameters: their gradient stays 0 */
            for (int j = 0; j < out; j++) {
                int wd = unit_width(m, l, j);
                memset(dw + (size_t)j * in + wd, 0, sizeof(real) * (size_t)(in - wd));
            }
        if (l > 0) {
            k_activate_backward(m->act, (size_t)rows * in, src, dsrc);
            dy = dsrc;
        }
    }
    if (dx)
        for (int r = 0; r < rows; r++)
            for (int k = 0; k < n; k++)
                dx[(size_t)r * n + m->order[k]] = m->din[(size_t)r * n + k];
}

/* Units [a, b) of layer l (or output rows when l == depth) from the first
 * `width` columns of their input: dst[:, a:b] = act(src[:, :width] W^T + b). */
static void panel_forward(made *m, const real *p, int rows, int l, int a, int b, int width)
{
    int in = layer_in(m, l), out = layer_out(m, l);
    const real *w = p + layer_offset(m, l), *bias = w + (size_t)out * in;
    const real *src = l == 0 ? m->in : hidden_of(m, m->h, l - 1);
    int ld_src = l == 0 ? m->n : m->hidden;
    real *dst = l == m->depth ? m->out : hidden_of(m, m->h, l);
    for (int r = 0; r < rows; r++)
        memcpy(dst + (size_t)r * out + a, bias + a, sizeof(real) * (size_t)(b - a));
    if (width > 0)
        k_gemm(0, 1, rows, b - a, width, 1, src, ld_src, w + (size_t)a * in, in, 1, dst + a, out);
    if (l < m->depth)
        for (int r = 0; r < rows; r++)
            k_activate(m->act, (size_t)(b - a), dst + (size_t)r * out + a);
}

void made_seq_step(made *m, const real *p, int rows, int k)
{
    for (int l = 0; l < m->depth; l++) {
        int a = k ? end_of(m, l, k - 1) : 0, b = end_of(m, l, k);
        if (b > a)
            panel_forward(m, p, rows, l, a, b, width_for(m, l, k));
    }
    panel_forward(m, p, rows, m->depth, k * m->per_dim, (k + 1) * m->per_dim, width_for(m, m->depth, k));
}

void made_seq_backward_begin(made *m, int rows)
{
    memset(m->din, 0, sizeof(real) * rows * m->n);
    for (int l = 0; l < m->depth; l++)
        memset(hidden_of(m, m->dh, l), 0, sizeof(real) * rows * m->hidden);
}

/* Backward of panel_forward for units [a, b) given their output gradient
 * dy (ld_dy): dW, db += ...; dsrc[:, :width] += dy W. */
static void panel_backward(made *m, const real *p, int rows, int l, int a, int b, int width, const real *dy,
                           int ld_dy, real *dp)
{
    int in = layer_in(m, l), out = layer_out(m, l);
    size_t off = layer_offset(m, l);
    const real *src = l == 0 ? m->in : hidden_of(m, m->h, l - 1);
    real *dsrc = l == 0 ? m->din : hidden_of(m, m->dh, l - 1);
    int ld_src = l == 0 ? m->n : m->hidden;
    if (dp) {
        real *dw = dp + off, *db = dw + (size_t)out * in;
        if (width > 0)
            k_gemm(1, 0, b - a, width, rows, 1, dy, ld_dy, src, ld_src, 1, dw + (size_t)a * in, in);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < b - a; j++)
                db[a + j] += dy[(size_t)r * ld_dy + j];
    }
    if (width > 0)
        k_gemm(0, 0, rows, width, b - a, 1, dy, ld_dy, p + off + (size_t)a * in, in, 1, dsrc, ld_src);
}

void made_seq_backward_step(made *m, const real *p, int rows, int k, const real *dblock, real *dp)
{
    int top = m->depth;
    panel_backward(m, p, rows, top, k * m->per_dim, (k + 1) * m->per_dim, width_for(m, top, k), dblock,
                   m->per_dim, dp);
    for (int l = m->depth - 1; l >= 0; l--) {
        int a = k ? end_of(m, l, k - 1) : 0, b = end_of(m, l, k);
        if (b <= a)
            continue;
        real *dh = hidden_of(m, m->dh, l) + a;
        const real *h = hidden_of(m, m->h, l) + a;
        for (int r = 0; r < rows; r++)
            k_activate_backward(m->act, (size_t)(b - a), h + (size_t)r * m->hidden, dh + (size_t)r * m->hidden);
        panel_backward(m, p, rows, l, a, b, width_for(m, l, k), dh, m->hidden, dp);
    }
}
