/* NICE additive, RealNVP affine and neural-spline coupling (docs/layers.md).
 * The mask splits the dimensions into a conditioning part A (unchanged) and
 * a transformed part B; the network sees only A.
 *   additive: z_B = x_B - m(x_A)                       log|det dz/dx| = 0
 *   affine:   z_B = (x_B - mu(x_A)) * exp(-alpha(x_A))   log|det dz/dx| = -sum alpha
 *   spline:   z_B = g(x_B; theta(x_A))                    log|det dz/dx| = sum log g'
 * alpha = bound * tanh(a / bound) keeps the log-scales bounded; g is the
 * rational-quadratic spline of src/core/rq_spline.c, 3K - 1 raw parameters
 * per changed dimension. A conditional coupling's network also reads the
 * context: its input is [x_A | c]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kern.h"
#include "layers/layer.h"
#include "core/rq_spline.h"
#include "layers/coupling.h"
#include "nets/mlp.h"

typedef struct coupling {
    int affine;
    int spline;      /* the spline kind (affine 0), rq its spline (shifted or not) */
    rq_spline rq;
    int nc, nt;
    int *mask, *cond, *trans;
    real bound;      /* the affine kind's log-scale bound */
    mlp net;         /* nc -> nt (additive), 2 nt: [a | mu] (affine), nt rq_block_params (spline, by dimension) */
    int max_rows;
    int n_in;        /* the network's inputs: nc + the layer's context_dim */
    real *in;        /* rows x n_in: the gathered conditioning part, then the context */
    real *out;       /* rows x n_out: network output; alpha replaces a */
    real *dout;      /* rows x n_out */
    real *din;       /* rows x n_in */
} coupling;

static coupling *self(const layer *l) { return l->self; }

static size_t n_params(const layer *l) { return mlp_n_params(&self(l)->net); }

static void init_params(layer *l, real *p, rng *r) { mlp_init_params(&self(l)->net, p, r, 1); }

static void release(coupling *c)
{
    free(c->in);
    free(c->out);
    free(c->dout);
    free(c->din);
    c->in = c->out = c->dout = c->din = NULL;
    c->max_rows = 0;
}

static nf_status reserve(layer *l, int rows)
{
    coupling *c = self(l);
    if (rows <= c->max_rows)
        return NF_OK;
    release(c);
    int n_out = c->net.n_out;
    size_t n_in = c->n_in ? (size_t)c->n_in : 1; /* an unconditional one-column layer's network reads nothing */
    c->in = malloc(sizeof(real) * rows * n_in);
    c->din = malloc(sizeof(real) * rows * n_in);
    c->out = malloc(sizeof(real) * rows * n_out);
    c->dout = malloc(sizeof(real) * rows * n_out);
    if (!c->in || !c->din || !c->out || !c->dout || mlp_reserve(&c->net, rows)) {
        release(c);
        return NF_ERR_NOMEM;
    }
    c->max_rows = rows;
    return NF_OK;
}

/* Runs the network on the conditioning part of `src` (and the context),
 * then bounds alpha (affine) or prepares the splines' parameters, in place
 * for the backward pass too. */
static void condition(const layer *l, coupling *c, const real *p, int rows, const real *src)
{
    int dim = l->dim, nctx = l->context_dim;
    K_PARALLEL_ROWS((size_t)rows * c->net.n_out)
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < c->nc; i++)
            c->in[(size_t)r * c->n_in + i] = src[(size_t)r * dim + c->cond[i]];
        for (int j = 0; j < nctx; j++)
            c->in[(size_t)r * c->n_in + c->nc + j] = l->context[(size_t)r * nctx + j];
    }
    mlp_forward(&c->net, p, rows, c->in, c->out);
    if (c->affine && c->bound > 0) {
        int n_out = c->net.n_out;
        K_PARALLEL_ROWS((size_t)rows * c->net.n_out)
        for (int r = 0; r < rows; r++)
            k_bound_in_place(c->nt, c->out + (size_t)r * n_out, 1, c->bound);
    }
    if (c->spline) {
        K_PARALLEL_ROWS((size_t)rows * c->net.n_out)
        for (int r = 0; r < rows; r++)
            rq_block_prepare(&c->rq, c->nt, c->out + (size_t)r * c->net.n_out, (size_t)rq_block_params(&c->rq));
    }
}

/* Copies the conditioning part through: dst[:, A] = src[:, A]. */
static void copy_cond(const coupling *c, int rows, int dim, const real *src, real *dst)
{
    K_PARALLEL_ROWS((size_t)rows * c->net.n_out)
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < c->nc; i++)
            dst[(size_t)r * dim + c->cond[i]] = src[(size_t)r * dim + c->cond[i]];
}

/* One row's changed dimensions through their splines (inverse: g^-1),
 * network output o; returns the row's log-determinant. */
static double spline_row(const coupling *c, const real *o, const real *in, real *out, int inverse)
{
    double sum = 0;
    for (int j = 0; j < c->nt; j++) {
        int t = c->trans[j];
        const real *block = o + (size_t)j * rq_block_params(&c->rq);
        real l;
        out[t] = inverse ? rq_block_inverse(&c->rq, block, in[t], &l) : rq_block_forward(&c->rq, block, in[t], &l);
        sum += l;
    }
    return sum;
}

/* Either direction: the conditioning half copied, the changed half through
 * its spline, affine map (z = (x - mu) e^-s; inverse x = z e^s + mu) or
 * shift, ldj[r] plus the direction's log-determinant. */
static void transform(layer *l, const real *p, int rows, const real *in, real *out, double *ldj, int inverse)
{
    coupling *c = self(l);
    int dim = l->dim, n_out = c->net.n_out;
    condition(l, c, p, rows, in);
    copy_cond(c, rows, dim, in, out);
    K_PARALLEL_ROWS((size_t)rows * c->net.n_out)
    for (int r = 0; r < rows; r++) {
        const real *o = c->out + (size_t)r * n_out;
        const real *ir = in + (size_t)r * dim;
        real *orow = out + (size_t)r * dim;
        if (c->spline) {
            ldj[r] += spline_row(c, o, ir, orow, inverse);
        } else if (c->affine) {
            double sum = 0;
            for (int j = 0; j < c->nt; j++) {
                int t = c->trans[j];
                orow[t] = inverse ? ir[t] * r_exp(o[j]) + o[c->nt + j] : (ir[t] - o[c->nt + j]) * r_exp(-o[j]);
                sum += o[j];
            }
            ldj[r] += inverse ? sum : -sum;
        } else {
            for (int j = 0; j < c->nt; j++)
                orow[c->trans[j]] = inverse ? ir[c->trans[j]] + o[j] : ir[c->trans[j]] - o[j];
        }
    }
}

static void x2z(layer *l, const real *p, int rows, const real *x, real *z, double *ldj)
{
    transform(l, p, rows, x, z, ldj, 0);
}

static void z2x(layer *l, const real *p, int rows, const real *z, real *x, double *ldj)
{
    transform(l, p, rows, z, x, ldj, 1);
}

/* d alpha -> d a through the tanh bound, in place over dout's first half. */
static void unbound(const coupling *c, int rows)
{
    if (!c->affine || c->bound <= 0)
        return;
    int n_out = c->net.n_out;
    K_PARALLEL_ROWS((size_t)rows * c->net.n_out)
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < c->nt; j++)
            c->dout[(size_t)r * n_out + j] *= k_bound_slope(c->bound, c->out[(size_t)r * n_out + j]);
}

/* Back through the network: din_full[:, A] = dout_full[:, A] + dnet/din,
 * and the context's share added to l->dcontext. */
static void through_net(const layer *l, coupling *c, const real *p, int rows, const real *dsame, real *dsrc,
                        real *dp)
{
    int dim = l->dim, nctx = l->context_dim;
    real *dctx = nctx ? l->dcontext : NULL;
    unbound(c, rows);
    mlp_backward(&c->net, p, rows, c->in, c->dout, dsrc || dctx ? c->din : NULL, dp);
    if (!dsrc && !dctx)
        return;
    K_PARALLEL_ROWS((size_t)rows * c->net.n_out)
    for (int r = 0; r < rows; r++) {
        const real *d = c->din + (size_t)r * c->n_in;
        for (int i = 0; dsrc && i < c->nc; i++) {
            int a = c->cond[i];
            dsrc[(size_t)r * dim + a] = dsame[(size_t)r * dim + a] + d[i];
        }
        for (int j = 0; dctx && j < nctx; j++)
            dctx[(size_t)r * nctx + j] += d[c->nc + j];
    }
}

static void x2z_backward(layer *l, const real *p, int rows, const real *x, const real *z, const real *dz,
                         real dldj, real *dx, real *dp)
{
    coupling *c = self(l);
    int dim = l->dim, n_out = c->net.n_out, np = rq_block_params(&c->rq);
    K_PARALLEL_ROWS((size_t)rows * c->net.n_out)
    for (int r = 0; r < rows; r++) {
        const real *o = c->out + (size_t)r * n_out;
        real *d = c->dout + (size_t)r * n_out;
        const real *dzr = dz + (size_t)r * dim, *zr = z + (size_t)r * dim, *xr = x + (size_t)r * dim;
        for (int j = 0; j < c->nt; j++) {
            int t = c->trans[j];
            if (c->spline) {
                real g;
                rq_block_forward_backward(&c->rq, o + (size_t)j * np, xr[t], dzr[t], dldj, &g, d + (size_t)j * np);
                if (dx)
                    dx[(size_t)r * dim + t] = g;
            } else if (c->affine) {
                real e = r_exp(-o[j]);
                if (dx)
                    dx[(size_t)r * dim + t] = dzr[t] * e;
                d[c->nt + j] = -dzr[t] * e;
                d[j] = -dzr[t] * zr[t] - dldj;
            } else {
                if (dx)
                    dx[(size_t)r * dim + t] = dzr[t];
                d[j] = -dzr[t];
            }
        }
    }
    through_net(l, c, p, rows, dz, dx, dp);
}

static void z2x_backward(layer *l, const real *p, int rows, const real *z, const real *x, const real *dx,
                         real dldj, real *dz, real *dp)
{
    (void)z;
    coupling *c = self(l);
    int dim = l->dim, n_out = c->net.n_out, np = rq_block_params(&c->rq);
    K_PARALLEL_ROWS((size_t)rows * c->net.n_out)
    for (int r = 0; r < rows; r++) {
        const real *o = c->out + (size_t)r * n_out;
        real *d = c->dout + (size_t)r * n_out;
        const real *dxr = dx + (size_t)r * dim, *xr = x + (size_t)r * dim;
        for (int j = 0; j < c->nt; j++) {
            int t = c->trans[j];
            if (c->spline) {
                real g;
                rq_block_inverse_backward(&c->rq, o + (size_t)j * np, xr[t], dxr[t], dldj, &g, d + (size_t)j * np);
                if (dz)
                    dz[(size_t)r * dim + t] = g;
            } else if (c->affine) {
                if (dz)
                    dz[(size_t)r * dim + t] = dxr[t] * r_exp(o[j]);
                d[c->nt + j] = dxr[t];
                d[j] = dxr[t] * (xr[t] - o[c->nt + j]) + dldj;
            } else {
                if (dz)
                    dz[(size_t)r * dim + t] = dxr[t];
                d[j] = dxr[t];
            }
        }
    }
    through_net(l, c, p, rows, dx, dz, dp);
}

static nf_status save(const layer *l, mf_writer *w)
{
    const coupling *c = self(l);
    nf_status st = mf_begin(w, l->ops->tag);
    int32_t *mask = malloc(sizeof(int32_t) * l->dim);
    if (!mask)
        return nf_fail(NF_ERR_NOMEM, "out of memory saving a coupling");
    for (int i = 0; i < l->dim; i++)
        mask[i] = c->mask[i];
    if (!st) st = mf_put_i32s(w, "mask", mask, l->dim);
    free(mask);
    if (!st) st = mf_put_i64(w, "hidden", c->net.hidden);
    if (!st) st = mf_put_i64(w, "hidden_layers", c->net.depth);
    if (!st) st = mf_put_str(w, "activation", c->net.act == K_ACT_TANH ? "tanh" : "relu");
    if (!st && c->affine) st = mf_put_f64(w, "log_scale_bound", c->bound);
    if (!st && l->context_dim) st = mf_put_i64(w, "context", l->context_dim);
    if (!st && c->spline) st = mf_put_i64(w, "bins", c->rq.bins);
    if (!st && c->spline) st = mf_put_f64(w, "tail_bound", c->rq.bound);
    if (!st && c->spline) st = mf_put_i64(w, "shifted", c->rq.shifted);
    if (!st && c->spline && c->rq.shifted) st = mf_put_f64(w, "log_scale_bound", c->rq.scale_bound);
    return st;
}

static size_t describe(const layer *l, char *buf, size_t size)
{
    const coupling *c = self(l);
    char parts[80];
    size_t k = 0;
    for (int i = 0; i < l->dim && k + 4 < sizeof parts; i++)
        parts[k++] = c->mask[i] ? 'c' : 't';
    if (l->dim > (int)k)
        parts[k++] = '.', parts[k++] = '.';
    parts[k] = '\0';
    return (size_t)snprintf(buf, size, "%s mask=%s (c: conditions, t: changes) net=%d-%dx%d-%d %s%s",
                            l->ops->tag, parts, c->nc, c->net.depth, c->net.hidden, c->net.n_out,
                            c->net.act == K_ACT_TANH ? "tanh" : "relu",
                            c->spline && c->rq.shifted ? ", the spline reads (x - mu) e^-alpha" : "");
}

static void destroy(layer *l)
{
    coupling *c = self(l);
    release(c);
    mlp_release(&c->net);
    free(c->mask);
    free(c->cond);
    free(c->trans);
}

static void set_dropout(layer *l, const k_dropout *d) { self(l)->net.dropout = *d; }

/* A coupling's network: at least one output, and one input unless the
 * layer has one column (without context its network reads nothing). */
static double file_params(const mf_file *f, const mf_section *s, int dim)
{
    return mlp_file_params(f, s, dim > 1 ? 1 : 0, 1);
}

/* The three kinds share every op; the tag names the kind in model files. */
#define COUPLING_OPS LAYER_OPS_BY_NAME, .set_dropout = set_dropout, .load = coupling_load, .file_params = file_params
const layer_ops additive_coupling_ops = {.tag = "additive_coupling", COUPLING_OPS};
const layer_ops spline_coupling_ops = {.tag = "spline_coupling", COUPLING_OPS};
const layer_ops affine_coupling_ops = {.tag = "affine_coupling", COUPLING_OPS};

/* kind: 0 additive, 1 affine (bound: the log-scale bound), 2 spline (bins on [-tail_bound, tail_bound],
 * shifted when shift_bound >= 0) */
static layer *make(int dim, int n_context, int kind, const int *cond_mask, int hidden, int depth, int act,
                   double bound, int bins, double tail_bound, double shift_bound)
{
    int nc = 0;
    for (int i = 0; i < dim; i++)
        nc += cond_mask[i] != 0;
    /* One column cannot be split: the layer is then element-wise, its
     * network reading the context alone (or nothing: a learned constant
     * transform of an unconditional column). */
    if (nc == dim || (nc == 0 && dim > 1 && n_context == 0)) {
        nf_fail(NF_ERR_INVALID, "coupling mask must have conditioning and changed dimensions (dim %d, %d conditioning)",
                dim, nc);
        return NULL;
    }
    if (depth < 0 || depth > NF_MAX_HIDDEN_LAYERS || (depth > 0 && hidden < 1) || hidden > NF_MAX_HIDDEN) {
        nf_fail(NF_ERR_INVALID, "coupling network: hidden layers must be 0..%d and units 1..%d", NF_MAX_HIDDEN_LAYERS,
                NF_MAX_HIDDEN);
        return NULL;
    }
    if (kind == 2 && !rq_spline_check(bins, tail_bound)) {
        nf_fail(NF_ERR_INVALID, "spline coupling: %d bins (2..%d) on [-%g, %g] (a bound > 0)", bins, RQ_MAX_BINS,
                tail_bound, tail_bound);
        return NULL;
    }
    if (kind == 2 && !(shift_bound < NF_MAX_LOG_SCALE_BOUND)) {
        nf_fail(NF_ERR_INVALID, "spline coupling: log-scale bound %g out of range [0, 100)", shift_bound);
        return NULL;
    }
    layer *l = layer_alloc(kind == 2 ? &spline_coupling_ops : kind == 1 ? &affine_coupling_ops : &additive_coupling_ops, dim, sizeof(coupling));
    if (!l)
        return NULL;
    coupling *c = l->self;
    l->context_dim = n_context;
    c->n_in = nc + n_context;
    c->affine = kind == 1;
    c->spline = kind == 2;
    if (c->spline)
        c->rq = rq_spline_make_shifted(bins, tail_bound, shift_bound);
    c->nc = nc;
    c->nt = dim - nc;
    c->bound = c->affine ? (real)bound : 0;
    c->mask = malloc(sizeof(int) * dim);
    c->cond = malloc(sizeof(int) * nc);
    c->trans = malloc(sizeof(int) * c->nt);
    if (!c->mask || !c->cond || !c->trans) {
        layer_free(l);
        nf_fail(NF_ERR_NOMEM, "out of memory creating a coupling");
        return NULL;
    }
    for (int i = 0, a = 0, b = 0; i < dim; i++) {
        c->mask[i] = cond_mask[i] != 0;
        if (c->mask[i])
            c->cond[a++] = i;
        else
            c->trans[b++] = i;
    }
    int per = c->spline ? rq_block_params(&c->rq) : c->affine ? 2 : 1;
    mlp_shape(&c->net, c->n_in, per * c->nt, hidden, depth, act);
    return l;
}

layer *coupling_new(int dim, int n_context, int affine, const int *cond_mask, int hidden, int depth, int act,
                    double bound)
{
    return make(dim, n_context, affine ? 1 : 0, cond_mask, hidden, depth, act, bound, 0, 0, -1);
}

layer *spline_coupling_new(int dim, int n_context, const int *cond_mask, int hidden, int depth, int act, int bins,
                           double tail_bound, double shift_bound)
{
    return make(dim, n_context, 2, cond_mask, hidden, depth, act, 0, bins, tail_bound, shift_bound);
}

nf_status coupling_load(const mf_file *f, const mf_section *s, int dim, layer **out)
{
    const int32_t *mask32;
    int64_t hidden, depth;
    const char *act;
    double bound = 0, tail_bound = 0, shift_bound = -1;
    int64_t bins = 0, context = 0, shifted = 0;
    int affine = strcmp(mf_section_tag(s), "affine_coupling") == 0;
    int spline = strcmp(mf_section_tag(s), "spline_coupling") == 0;
    nf_status st = mf_get_i32s(f, s, "mask", (size_t)dim, &mask32, NULL);
    if (!st) st = mf_get_i64(f, s, "hidden", &hidden);
    if (!st) st = mf_get_i64(f, s, "hidden_layers", &depth);
    if (!st) st = mf_get_str(f, s, "activation", &act);
    if (!st && affine) st = mf_get_f64(f, s, "log_scale_bound", &bound);
    if (!st && mf_has(s, "context")) st = mf_get_i64(f, s, "context", &context);
    if (!st && (context < 0 || context > NF_MAX_CONTEXT))
        st = nf_fail(NF_ERR_FORMAT, "%s: coupling: %lld context inputs out of range 0..%d", mf_path(f),
                     (long long)context, NF_MAX_CONTEXT);
    if (!st && spline) st = mf_get_i64(f, s, "bins", &bins);
    if (!st && spline) st = mf_get_f64(f, s, "tail_bound", &tail_bound);
    if (!st && spline && mf_has(s, "shifted")) /* files before the shift have none */
        st = mf_get_i64(f, s, "shifted", &shifted);
    if (!st && shifted) st = mf_get_f64(f, s, "log_scale_bound", &shift_bound);
    if (st)
        return st;
    if (spline && !rq_spline_check((int)(bins > 0 && bins <= RQ_MAX_BINS ? bins : 0), tail_bound))
        return nf_fail(NF_ERR_FORMAT, "%s: spline coupling: %lld bins on [-%g, %g] out of range", mf_path(f),
                       (long long)bins, tail_bound, tail_bound);
    if (strcmp(act, "relu") && strcmp(act, "tanh"))
        return nf_fail(NF_ERR_FORMAT, "%s: coupling activation '%s' unknown", mf_path(f), act);
    if (hidden < 0 || hidden > NF_MAX_HIDDEN || depth < 0 || depth > NF_MAX_HIDDEN_LAYERS ||
        !(bound >= 0 && bound < NF_MAX_LOG_SCALE_BOUND) || !(tail_bound <= NF_MAX_TAIL_BOUND) ||
        (shifted && !(shift_bound >= 0 && shift_bound < NF_MAX_LOG_SCALE_BOUND)))
        return nf_fail(NF_ERR_FORMAT, "%s: coupling sizes out of range", mf_path(f));
    int *mask = malloc(sizeof(int) * dim);
    if (!mask)
        return nf_fail(NF_ERR_NOMEM, "out of memory");
    for (int i = 0; i < dim; i++)
        mask[i] = mask32[i] != 0;
    *out = make(dim, (int)context, spline ? 2 : affine, mask, (int)hidden, (int)depth, strcmp(act, "tanh") ? K_ACT_RELU : K_ACT_TANH,
                bound, (int)bins, tail_bound, shift_bound);
    free(mask);
    if (!*out) {
        char why[256];
        snprintf(why, sizeof why, "%s", nf_last_error());
        return nf_fail(NF_ERR_FORMAT, "%s: bad coupling: %s", mf_path(f), why);
    }
    return NF_OK;
}
