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

void mlp_forward(mlp *m, const real *p, int rows, const real *in, real *out)
{
    const real *x = in;
    for (int l = 0; l <= m->depth; l++) {
        int nin = layer_in(m, l), nout = layer_out(m, l);
        const real *w = p, *b = p + (size_t)nout * nin;
        real *y = l == m->depth ? out : m->h + (size_t)l * m->max_rows * m->hidden;
        k_linear(rows, nin, nout, x, w, b, y);
        if (l < m->depth)
            k_activate(m->act, (size_t)rows * nout, y);
        x = y;
        p = b + nout;
    }
}

void mlp_backward(mlp *m, const real *p, int rows, const real *in, const real *dout, real *din, real *dp)
{
    /* offsets of each layer's parameters */
    size_t off[64];
    size_t o = 0;
    for (int l = 0; l <= m->depth; l++) {
        off[l] = o;
        o += (size_t)layer_out(m, l) * layer_in(m, l) + layer_out(m, l);
    }
    const real *dy = dout;
    int cur = 0;
    for (int l = m->depth; l >= 0; l--) {
        int nin = layer_in(m, l), nout = layer_out(m, l);
        const real *x = l == 0 ? in : m->h + (size_t)(l - 1) * m->max_rows * m->hidden;
        const real *w = p + off[l];
        real *dw = dp ? dp + off[l] : NULL;
        real *db = dp ? dw + (size_t)nout * nin : NULL;
        real *dx = l == 0 ? din : m->dh[cur];
        k_linear_backward(rows, nin, nout, x, w, dy, dx, dw, db);
        if (l > 0) {
            k_activate_backward(m->act, (size_t)rows * nin, x, dx);
            dy = dx;
            cur ^= 1;
        }
    }
}
