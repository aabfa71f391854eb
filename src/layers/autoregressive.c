/* MAF and IAF layers around one MADE (docs/layers.md).
 * The MADE always reads the "conditioner side" s and its output block k
 * gives (alpha_k, mu_k) for the dimension of degree k + 1:
 *   MAF: s = x, u = (x - mu(x)) exp(-alpha(x))  density one pass, sampling sequential
 *   IAF: s = u, x = u exp(alpha(u)) + mu(u)     sampling one pass, density sequential
 * alpha = bound * tanh(a / bound). The spline MAF (autoregressive neural
 * spline flow) replaces the affine map by the rational-quadratic spline of
 * src/core/rq_spline.c: u_i = g(x_i; theta(x_<i)), its block k the 3K - 1
 * raw parameters of dimension order[k]; raw 0 is the identity.
 * The sequential direction runs the MADE
 * in degree order (made_seq_step), so it costs one pass of arithmetic; its
 * backward is the same graph reversed (made_seq_backward_step), so IAF can
 * also be trained by maximum likelihood and MAF sampling differentiated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kern.h"
#include "layers/layer.h"
#include "core/perm.h"
#include "core/rq_spline.h"
#include "layers/autoregressive.h"
#include "nets/made.h"

typedef struct autoregressive {
    int iaf;
    int spline;  /* a spline MAF: rq is its spline */
    rq_spline rq;
    real bound;  /* the log-scale bound of MAF and IAF (a shifted spline's is rq's) */
    made net;
    int max_rows;
    real *dout;   /* rows x n_out: gradient of the MADE output */
    real *scales; /* rows x 2n: per row, exp(+-alpha) (n) then alpha (n); in the backward pass the
                   * direct path's gradient s_i -> y_i (n) */
} autoregressive;

static autoregressive *self(const layer *l) { return l->self; }

made *autoregressive_net(layer *l) { return &self(l)->net; }

static size_t n_params(const layer *l) { return made_n_params(&self(l)->net); }

static void init_params(layer *l, real *p, rng *r) { made_init_params(&self(l)->net, p, r, 1); }

static void constrain(const layer *l, real *p) { made_constrain(&self(l)->net, p); }

static int check_params(const layer *l, const real *p) { return made_check(&self(l)->net, p); }

static nf_status reserve(layer *l, int rows)
{
    autoregressive *a = self(l);
    if (rows <= a->max_rows)
        return NF_OK;
    k_free(a->dout);
    k_free(a->scales);
    a->dout = k_alloc(sizeof(real) * rows * a->net.n_out);
    a->scales = k_alloc(sizeof(real) * rows * 2 * l->dim);
    if (!a->dout || !a->scales || made_reserve(&a->net, rows))
        return NF_ERR_NOMEM;
    a->max_rows = rows;
    return NF_OK;
}

/* exp(+-alpha) of the direction's formula: + for IAF (y = s e^alpha + mu),
 * - for MAF (y = (s - mu) e^-alpha). */
static real exp_sign(const autoregressive *a) { return a->iaf ? 1 : -1; }

/* Floats of a MADE's activations per row: its input, output and hidden
 * units (a view's buffers, tile_view). */
static size_t activation_floats(const made *m) { return (size_t)m->n_in + m->n_out + (size_t)m->depth * m->hidden; }

/* Floats of a MADE's buffers for `rows` rows: its activations and the 2 n
 * scales of the affine kinds. */
static size_t pass_floats(const autoregressive *a, int rows)
{
    return (size_t)rows * (activation_floats(&a->net) + 2 * (size_t)a->net.n);
}

/* The buffers of the one-pass direction: the layer's own, or, when no
 * backward pass follows, the flow's shared scratch, so that an evaluation
 * of a flow of many MADEs touches one set of activations, not one per
 * layer (a MAF (5) 2 x 512 scoring 1,024-row chunks: 6 MB, not 30). The
 * scratch is laid out for this pass's rows: its hidden layers `rows`
 * apart (the MADE's max_rows), not as far apart as the layer's own
 * buffers' rows, which may be fewer (the training batch's) or more. */
typedef struct own_buffers {
    real *in, *out, *h, *scales;
    int max_rows;
} own_buffers;

static void use_buffers(autoregressive *a, int rows, real *scratch, own_buffers *saved)
{
    made *m = &a->net;
    *saved = (own_buffers){m->in, m->out, m->net.h, a->scales, m->max_rows};
    m->max_rows = rows;
    m->in = scratch;
    m->out = m->in + (size_t)rows * m->n_in;
    m->net.h = m->out + (size_t)rows * m->n_out;
    a->scales = m->net.h + (size_t)rows * m->depth * m->hidden;
}

static void restore_buffers(autoregressive *a, const own_buffers *saved)
{
    a->net.in = saved->in, a->net.out = saved->out, a->net.net.h = saved->h, a->scales = saved->scales;
    a->net.max_rows = saved->max_rows;
}

/* Whether a pass no backward pass follows may take the MADE's outputs as
 * 0 without computing them: an untrained layer, the identity (the
 * untrained candidate training validates first, a distillation student's
 * start). */
static int outputs_zero(const layer *l, const real *p) { return l->inference && made_output_is_zero(&self(l)->net, p); }

/* The one-pass direction in the buffers the MADE points at now. */
static void one_pass(layer *l, const real *p, int rows, const real *s, real *y, double *ldj)
{
    autoregressive *a = self(l);
    int n = l->dim;
    if (outputs_zero(l, p))
        memset(a->net.out, 0, sizeof(real) * rows * a->net.n_out);
    else
        made_forward(&a->net, p, rows, s, l->context);
    if (a->spline) {
        int per = a->net.per_dim;
        K_PARALLEL_ROWS((size_t)rows * n)
        for (int r = 0; r < rows; r++) {
            real *o = a->net.out + (size_t)r * a->net.n_out;
            const real *sr = s + (size_t)r * n;
            double sum = 0;
            rq_block_prepare(&a->rq, n, o, (size_t)per); /* in place, for the backward pass too */
            for (int k = 0; k < n; k++) {
                int i = a->net.order[k];
                real l;
                y[(size_t)r * n + i] = rq_block_forward(&a->rq, o + (size_t)per * k, sr[i], &l);
                sum += l;
            }
            ldj[r] += sum;
        }
        return;
    }
    K_PARALLEL_ROWS((size_t)rows * n)
    for (int r = 0; r < rows; r++) {
        real *o = a->net.out + (size_t)r * 2 * n, *e = a->scales + (size_t)r * 2 * n, *alpha = e + n;
        const real *sr = s + (size_t)r * n;
        real *yr = y + (size_t)r * n;
        k_bound_exp(n, o, 2, a->bound, exp_sign(a), alpha, e);
        double sum = 0;
        for (int k = 0; k < n; k++) {
            int i = a->net.order[k];
            real mu = o[2 * k + 1];
            o[2 * k] = alpha[k]; /* kept bounded for the backward pass */
            yr[i] = a->iaf ? sr[i] * e[k] + mu : (sr[i] - mu) * e[k];
            sum += alpha[k];
        }
        ldj[r] += a->iaf ? sum : -sum;
    }
}

/* The one-pass direction: from s (MADE input) to y. */
static void parallel(layer *l, const real *p, int rows, const real *s, real *y, double *ldj)
{
    autoregressive *a = self(l);
    own_buffers saved = {0};
    int shared = l->inference && l->scratch; /* the flow sized it for these rows (flow_reserve) */
    if (shared)
        use_buffers(a, rows, l->scratch, &saved);
    one_pass(l, p, rows, s, y, ldj);
    if (shared)
        restore_buffers(a, &saved);
}

static void parallel_backward(layer *l, const real *p, int rows, const real *y, const real *dy, real dldj,
                              real *ds, real *dp)
{
    autoregressive *a = self(l);
    int n = l->dim;
    if (!ds && !dp && !l->dcontext)
        return;
    K_PARALLEL_ROWS((size_t)rows * n)
    for (int r = 0; r < rows; r++) {
        if (a->spline) { /* gradients at s, the MADE's input (degree order) */
            int per = a->net.per_dim;
            const real *o = a->net.out + (size_t)r * a->net.n_out, *sk = made_in(&a->net, r, 0);
            real *d = a->dout + (size_t)r * a->net.n_out, *direct = a->scales + (size_t)r * 2 * n;
            for (int k = 0; k < n; k++)
                rq_block_forward_backward(&a->rq, o + (size_t)per * k, sk[k], dy[(size_t)r * n + a->net.order[k]],
                                          dldj, &direct[k], d + (size_t)per * k);
            continue;
        }
        const real *o = a->net.out + (size_t)r * 2 * n;
        real *d = a->dout + (size_t)r * 2 * n, *e = a->scales + (size_t)r * 2 * n;
        const real *yr = y + (size_t)r * n, *dyr = dy + (size_t)r * n;
        k_bound_exp(n, o, 2, 0, exp_sign(a), e + n, e); /* o holds the bounded alphas */
        for (int k = 0; k < n; k++) {
            int i = a->net.order[k];
            real alpha = o[2 * k], mu = o[2 * k + 1], dalpha;
            if (a->iaf) { /* y = s e^alpha + mu */
                d[2 * k + 1] = dyr[i];
                dalpha = dyr[i] * (yr[i] - mu) + dldj;
            } else { /* y = (s - mu) e^-alpha */
                d[2 * k + 1] = -dyr[i] * e[k];
                dalpha = -dyr[i] * yr[i] - dldj;
            }
            d[2 * k] = dalpha * k_bound_slope(a->bound, alpha);
            e[k] *= dyr[i]; /* the direct path's gradient */
        }
    }
    made_backward(&a->net, p, rows, a->dout, ds, l->dcontext, dp);
    if (ds) {
        K_PARALLEL_ROWS((size_t)rows * n)
        for (int r = 0; r < rows; r++) {
            const real *e = a->scales + (size_t)r * 2 * n;
            for (int k = 0; k < n; k++) /* the direct path s_i -> y_i */
                ds[(size_t)r * n + a->net.order[k]] += e[k];
        }
    }
}

/* Rows per tile of the sequential direction: the tile's activations stay
 * in cache across the n steps (64 x 512 floats = 128 KiB per layer), and
 * 1,000 rows make 16 tiles for 16 threads (64, 128 and 256 rows measured
 * the same speed on one thread at n = 63, hidden 512). */
enum { SEQ_TILE = 64 };

/* A view of the MADE whose buffers are `buf` (SEQ_TILE rows of them, or
 * `rows` when fewer), for a tile's activations when no backward pass
 * follows (l->inference): they need not stay in the layer's buffers for
 * all rows, which the kernel would otherwise have to zero page by page
 * (4 MB per MADE for 1,000 rows at hidden 512). */
static void tile_view(const made *m, real *buf, int rows, made *view)
{
    *view = *m;
    view->max_rows = rows < SEQ_TILE ? rows : SEQ_TILE;
    view->in = buf;
    view->out = buf + (size_t)view->max_rows * m->n_in;
    view->net.h = view->out + (size_t)view->max_rows * m->n_out;
}

/* Rows r0 .. r1 - 1 of the sequential direction, in the buffers of mm,
 * whose first row is row `base`; zero: the MADE's outputs are 0
 * (outputs_zero), its steps skipped. */
static void sequential_tile(layer *l, const real *p, made *mm, int base, int r0, int r1, const real *y, real *s,
                            double *ldj, int zero)
{
    autoregressive *a = self(l);
    const made *m = &a->net;
    int n = l->dim;
    if (l->context)
        made_load_context(mm, r0 - base, r1 - r0, l->context + (size_t)r0 * l->context_dim);
    if (zero)
        memset(mm->out + (size_t)(r0 - base) * m->n_out, 0, sizeof(real) * (size_t)(r1 - r0) * m->n_out);
    for (int k = 0; k < n; k++) {
        if (!zero)
            made_seq_step(mm, p, r0 - base, r1 - r0, k);
        int i = m->order[k];
        if (a->spline) { /* u -> x: x = g^-1(u), or mu + e^alpha g^-1(u) when shifted */
            int per = m->per_dim;
            /* the tile's rows of block k at once, in place, for the backward pass too */
            rq_block_prepare(&a->rq, r1 - r0, mm->out + (size_t)(r0 - base) * m->n_out + (size_t)per * k,
                             (size_t)m->n_out);
            for (int r = r0; r < r1; r++) {
                const real *b = mm->out + (size_t)(r - base) * m->n_out + (size_t)per * k;
                real l, si = rq_block_inverse(&a->rq, b, y[(size_t)r * n + i], &l);
                ldj[r] += l;
                s[(size_t)r * n + i] = si;
                *made_in(mm, r - base, k) = si;
            }
            continue;
        }
        real alpha[SEQ_TILE], e[SEQ_TILE]; /* the step's log-scales for the tile's rows */
        k_bound_exp(r1 - r0, mm->out + (size_t)(r0 - base) * 2 * n + 2 * k, 2 * n, a->bound, -exp_sign(a), alpha, e);
        for (int r = r0; r < r1; r++) {
            real *o = mm->out + (size_t)(r - base) * 2 * n;
            real mu = o[2 * k + 1], yi = y[(size_t)r * n + i], si;
            o[2 * k] = alpha[r - r0];
            if (a->iaf) { /* x -> u: u = (x - mu) e^-alpha */
                si = (yi - mu) * e[r - r0];
                ldj[r] -= alpha[r - r0];
            } else { /* u -> x: x = u e^alpha + mu */
                si = yi * e[r - r0] + mu;
                ldj[r] += alpha[r - r0];
            }
            s[(size_t)r * n + i] = si;
            *made_in(mm, r - base, k) = si;
        }
    }
}

/* The sequential direction: from y to s, one degree at a time, tile by
 * tile. With l->inference the tiles work in a scratch: the flow's shared
 * one, a tile at a time, on one thread; on several, a scratch of each
 * thread's own, or the shared one where that cannot be had and the
 * layer's buffers hold fewer rows (the training batch's:
 * flow_reserve_rows). */
static void sequential_tiles(layer *l, const real *p, int rows, const real *y, real *s, double *ldj)
{
    made *m = &self(l)->net, view;
    int tiles = (rows + SEQ_TILE - 1) / SEQ_TILE, alone = omp_get_num_threads() == 1 && l->scratch;
    real *tile = l->inference && !alone ? malloc(sizeof(real) * SEQ_TILE * activation_floats(m)) : NULL;
    int shared = l->inference && l->scratch && (alone || (!tile && m->max_rows < rows)), zero = outputs_zero(l, p);
    if (tile)
        tile_view(m, tile, SEQ_TILE, &view);
#pragma omp for schedule(dynamic, 1) nowait
    for (int t = 0; t < tiles; t++) {
        int r0 = t * SEQ_TILE, r1 = rows - r0 < SEQ_TILE ? rows : r0 + SEQ_TILE;
        if (shared) {
#pragma omp critical(nflow_sequential_shared_scratch)
            {
                made one;
                tile_view(m, l->scratch, rows, &one);
                sequential_tile(l, p, &one, r0, r0, r1, y, s, ldj, zero);
            }
        } else {
            sequential_tile(l, p, tile ? &view : m, tile ? r0 : 0, r0, r1, y, s, ldj, zero);
        }
    }
    free(tile);
}

/* Tiles are independent: each thread takes whole tiles. */
static void sequential(layer *l, const real *p, int rows, const real *y, real *s, double *ldj)
{
    K_RUN(rows > SEQ_TILE, sequential_tiles(l, p, rows, y, s, ldj));
}

/* Tile by tile (rows are independent), each step's output-block gradient
 * kept in dout; the weight gradients from all of them at the end. */
static void sequential_backward_tiles(layer *l, const real *p, int rows, const real *ds, real dldj, real *dy)
{
    autoregressive *a = self(l);
    made *m = &a->net;
    int n = l->dim, tiles = (rows + SEQ_TILE - 1) / SEQ_TILE;
#pragma omp for schedule(dynamic, 1) nowait
    for (int t = 0; t < tiles; t++) {
        int r0 = t * SEQ_TILE, r1 = rows - r0 < SEQ_TILE ? rows : r0 + SEQ_TILE;
        made_seq_backward_begin(m, r0, r1 - r0);
        for (int k = n - 1; k >= 0; k--) {
            int i = m->order[k];
            int per = m->per_dim;
            for (int r = r0; r < r1; r++) {
                if (a->spline) { /* s = g^-1(y), or mu + e^alpha g^-1(y) when shifted */
                    real g = ds[(size_t)r * n + i] + *made_din(m, r, k), gy;
                    rq_block_inverse_backward(&a->rq, m->out + (size_t)r * m->n_out + (size_t)per * k, *made_in(m, r, k),
                                              g, dldj, &gy, a->dout + (size_t)r * m->n_out + (size_t)per * k);
                    if (dy)
                        dy[(size_t)r * n + i] = gy;
                    continue;
                }
                const real *o = m->out + (size_t)r * 2 * n;
                real *blk = a->dout + (size_t)r * 2 * n + 2 * k;
                real alpha = o[2 * k], mu = o[2 * k + 1], si = *made_in(m, r, k);
                real g = ds[(size_t)r * n + i] + *made_din(m, r, k), gy, dalpha;
                if (a->iaf) { /* s = (y - mu) e^-alpha */
                    gy = g * r_exp(-alpha);
                    blk[1] = -gy;
                    dalpha = -g * si - dldj;
                } else { /* s = y e^alpha + mu */
                    gy = g * r_exp(alpha);
                    blk[1] = g;
                    dalpha = g * (si - mu) + dldj;
                }
                blk[0] = dalpha * k_bound_slope(a->bound, alpha);
                if (dy)
                    dy[(size_t)r * n + i] = gy;
            }
            made_seq_backward_step(m, p, r0, r1 - r0, k, a->dout + (size_t)r0 * m->n_out + (size_t)per * k, m->n_out);
        }
        if (l->dcontext)
            made_context_grad(m, r0, r1 - r0, l->dcontext + (size_t)r0 * l->context_dim);
    }
}

static void sequential_backward(layer *l, const real *p, int rows, const real *ds, real dldj, real *dy, real *dp)
{
    if (!dy && !dp && !l->dcontext)
        return;
    K_RUN(rows > SEQ_TILE, sequential_backward_tiles(l, p, rows, ds, dldj, dy));
    if (dp)
        made_param_grad(&self(l)->net, rows, self(l)->dout, dp);
}

static void x2z(layer *l, const real *p, int rows, const real *x, real *z, double *ldj)
{
    if (self(l)->iaf)
        sequential(l, p, rows, x, z, ldj);
    else
        parallel(l, p, rows, x, z, ldj);
}

static void z2x(layer *l, const real *p, int rows, const real *z, real *x, double *ldj)
{
    if (self(l)->iaf)
        parallel(l, p, rows, z, x, ldj);
    else
        sequential(l, p, rows, z, x, ldj);
}

static void x2z_backward(layer *l, const real *p, int rows, const real *x, const real *z, const real *dz,
                         real dldj, real *dx, real *dp)
{
    (void)x;
    if (self(l)->iaf)
        sequential_backward(l, p, rows, dz, dldj, dx, dp);
    else
        parallel_backward(l, p, rows, z, dz, dldj, dx, dp);
}

static void z2x_backward(layer *l, const real *p, int rows, const real *z, const real *x, const real *dx,
                         real dldj, real *dz, real *dp)
{
    (void)z;
    if (self(l)->iaf)
        parallel_backward(l, p, rows, x, dx, dldj, dz, dp);
    else
        sequential_backward(l, p, rows, dx, dldj, dz, dp);
}

static const char *order_name(const made *m)
{
    int natural = 1, reversed = 1;
    for (int k = 0; k < m->n; k++) {
        natural &= m->order[k] == k;
        reversed &= m->order[k] == m->n - 1 - k;
    }
    return natural ? "natural" : reversed ? "reversed" : "permuted";
}

static nf_status save(const layer *l, mf_writer *w)
{
    const autoregressive *a = self(l);
    nf_status st = mf_begin(w, l->ops->tag);
    if (!st && a->spline) st = mf_put_i64(w, "bins", a->rq.bins);
    if (!st && a->spline) st = mf_put_f64(w, "tail_bound", a->rq.bound);
    if (!st && a->spline) st = mf_put_i64(w, "shifted", a->rq.shifted);
    if (!st && (!a->spline || a->rq.shifted))
        st = mf_put_f64(w, "log_scale_bound", a->spline ? a->rq.scale_bound : a->bound);
    if (!st) st = made_put(&a->net, w);
    return st;
}

static size_t describe(const layer *l, char *buf, size_t size)
{
    const autoregressive *a = self(l);
    const made *m = &a->net;
    return (size_t)snprintf(buf, size, "%s order=%s made=%d-%dx%d-%d %s%s", l->ops->tag, order_name(m), m->n,
                            m->depth, m->hidden, m->n_out, m->act == K_ACT_TANH ? "tanh" : "relu",
                            a->spline && a->rq.shifted ? ", the spline reads (x - mu) e^-alpha" : "");
}

static void destroy(layer *l)
{
    autoregressive *a = self(l);
    made_free(&a->net);
    k_free(a->dout);
    k_free(a->scales);
}

static void set_dropout(layer *l, const k_dropout *d) { self(l)->net.net.dropout = *d; }

/* A MADE of dim inputs (the context aside: a lower bound) and 2 outputs per dimension. */
static double file_params(const mf_file *f, const mf_section *s, int dim)
{
    return mlp_file_params(f, s, dim, 2.0 * dim);
}

/* ... or 3 bins - 1 spline parameters per dimension. */
static double spline_file_params(const mf_file *f, const mf_section *s, int dim)
{
    int64_t bins = 0;
    if (!mf_has(s, "bins") || mf_get_i64(f, s, "bins", &bins) || bins < 2)
        return -1;
    return mlp_file_params(f, s, dim, (3.0 * (double)bins - 1) * dim);
}

/* The three kinds share every op; the tag names the kind in model files. */
#define AR_OPS                                                                                             \
    LAYER_OPS_BY_NAME, .constrain = constrain, .check_params = check_params, .set_dropout = set_dropout, \
    .load = autoregressive_load, .scratch_floats = scratch_floats
static size_t scratch_floats(const layer *l, int rows) { return pass_floats(self(l), rows); }

const layer_ops maf_ops = {.tag = "maf", AR_OPS, .file_params = file_params};
const layer_ops iaf_ops = {.tag = "iaf", AR_OPS, .file_params = file_params};
const layer_ops spline_maf_ops = {.tag = "spline_maf", AR_OPS, .file_params = spline_file_params};

/* spline: bins > 0, on [-tail_bound, tail_bound], MAF orientation only;
 * shifted splines (and MAF, IAF) bound their log-scales by `bound` */
static layer *make(int dim, int n_context, int iaf, int hidden, int depth, int act, const int *order,
                   const int *degrees, int random_degrees, uint64_t seed, double bound, int bins, double tail_bound,
                   int shifted)
{
    if (dim < 1 || depth < 0 || depth > NF_MAX_HIDDEN_LAYERS || (depth > 0 && hidden < 1) || hidden > NF_MAX_HIDDEN) {
        nf_fail(NF_ERR_INVALID, "MADE: dimension must be >= 1, hidden layers 0..%d, units 1..%d", NF_MAX_HIDDEN_LAYERS,
                NF_MAX_HIDDEN);
        return NULL;
    }
    if (!perm_is_valid(order, dim)) {
        nf_fail(NF_ERR_INVALID, "MADE: the order is not a permutation of 0..%d", dim - 1);
        return NULL;
    }
    if (bins && (iaf || !rq_spline_check(bins, tail_bound))) {
        nf_fail(NF_ERR_INVALID, "spline MAF: %d bins (2..%d) on [-%g, %g] (a bound > 0)", bins, RQ_MAX_BINS,
                tail_bound, tail_bound);
        return NULL;
    }
    if ((!bins || shifted) && !(bound >= 0 && bound < NF_MAX_LOG_SCALE_BOUND)) {
        nf_fail(NF_ERR_INVALID, "MADE: log-scale bound %g out of range [0, 100)", bound);
        return NULL;
    }
    layer *l = layer_alloc(bins ? &spline_maf_ops : iaf ? &iaf_ops : &maf_ops, dim, sizeof(autoregressive));
    if (!l)
        return NULL;
    autoregressive *a = l->self;
    a->iaf = iaf;
    a->spline = bins > 0;
    a->bound = bins ? 0 : (real)bound;
    if (bins)
        a->rq = rq_spline_make_shifted(bins, tail_bound, shifted ? bound : -1);
    rng r;
    rng_seed(&r, seed);
    l->context_dim = n_context;
    int per = bins ? rq_block_params(&a->rq) : 2;
    if (made_setup(&a->net, dim, n_context, hidden, depth, act, per, order, degrees, random_degrees, &r)) {
        layer_free(l);
        nf_fail(NF_ERR_NOMEM, "out of memory creating a MADE");
        return NULL;
    }
    return l;
}

layer *autoregressive_new(int dim, int n_context, int iaf, int hidden, int depth, int act, const int *order,
                          const int *degrees, int random_degrees, uint64_t seed, double bound)
{
    return make(dim, n_context, iaf, hidden, depth, act, order, degrees, random_degrees, seed, bound, 0, 0, 0);
}

layer *spline_maf_new(int dim, int n_context, int hidden, int depth, int act, const int *order, const int *degrees,
                      int random_degrees, uint64_t seed, int bins, double tail_bound, double shift_bound)
{
    return make(dim, n_context, 0, hidden, depth, act, order, degrees, random_degrees, seed, shift_bound, bins,
                tail_bound, shift_bound >= 0);
}

nf_status autoregressive_load(const mf_file *f, const mf_section *s, int dim, layer **out)
{
    double bound = 0, tail_bound = 0;
    int64_t bins = 0, shifted = 0;
    made_spec sp;
    int spline = strcmp(mf_section_tag(s), "spline_maf") == 0;
    nf_status st = spline ? mf_get_i64(f, s, "bins", &bins) : NF_OK;
    if (!st && spline)
        st = mf_get_f64(f, s, "tail_bound", &tail_bound);
    if (!st && spline && mf_has(s, "shifted")) /* files before the shift have none */
        st = mf_get_i64(f, s, "shifted", &shifted);
    if (!st && (!spline || shifted))
        st = mf_get_f64(f, s, "log_scale_bound", &bound);
    if (!st && spline && (bins < NF_MIN_BINS || bins > RQ_MAX_BINS))
        st = nf_fail(NF_ERR_FORMAT, "%s: spline MAF: %lld bins out of range 2..%d", mf_path(f), (long long)bins,
                     RQ_MAX_BINS);
    if (st || (st = made_get(f, s, dim, &sp)))
        return st;
    int iaf = strcmp(mf_section_tag(s), "iaf") == 0;
    *out = make(dim, sp.context, iaf, sp.hidden, sp.depth, sp.act, sp.order, sp.degrees, 0, 0, bound, (int)bins,
                tail_bound, shifted != 0);
    made_spec_free(&sp);
    if (!*out) {
        char why[256];
        snprintf(why, sizeof why, "%s", nf_last_error());
        return nf_fail(NF_ERR_FORMAT, "%s: bad %s layer: %s", mf_path(f), mf_section_tag(s), why);
    }
    return NF_OK;
}
