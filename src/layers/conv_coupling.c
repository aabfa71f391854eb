/* The image coupling (conv_coupling.h). */
#include "layers/conv_coupling.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kern.h"
#include "nets/convnet.h"

typedef struct conv_coupling {
    int height, width, channels, active; /* active = height x width x channels, a prefix of each row */
    int mask_kind, flip;
    char *cond;  /* active entries: 1 conditions, 0 changes */
    /* The network reads channels in_ch (n_in of them; the context apart, as its constant channels)
     * and gives [a | mu] for channels out_ch (n_out each) per pixel; slot
     * maps a channel to its place in either (-1: none). A checkerboard
     * reads and changes every channel (its changed pixels zeroed in the
     * input); a channel mask reads the conditioning channels alone and
     * gives values for the changed ones alone. */
    int n_in, n_out, *in_ch, *out_ch, *in_slot, *out_slot;
    real bound;
    convnet net; /* n_in + context -> 2 n_out channels */
    int max_rows;
    real *in, *out, *dout, *din, *dctx;
} conv_coupling;

static conv_coupling *self(const layer *l) { return l->self; }

static size_t n_params(const layer *l) { return convnet_n_params(&self(l)->net); }

static void init_params(layer *l, real *p, rng *r) { convnet_init_params(&self(l)->net, p, r, 1); }

static void release(conv_coupling *c)
{
    k_free(c->in);
    k_free(c->out);
    k_free(c->dout);
    k_free(c->din);
    k_free(c->dctx);
    c->in = c->out = c->dout = c->din = c->dctx = NULL;
    c->max_rows = 0;
}

static nf_status reserve(layer *l, int rows)
{
    conv_coupling *c = self(l);
    if (rows <= c->max_rows)
        return NF_OK;
    release(c);
    size_t n_in = (size_t)rows * c->net.pixels * c->n_in, n_out = (size_t)rows * c->net.pixels * c->net.c_out;
    c->in = k_alloc(sizeof(real) * n_in);
    c->din = k_alloc(sizeof(real) * n_in);
    c->out = k_alloc(sizeof(real) * n_out);
    c->dout = k_alloc(sizeof(real) * n_out);
    c->dctx = k_alloc(sizeof(real) * ((size_t)rows * l->context_dim + 1));
    if (!c->in || !c->din || !c->out || !c->dout || !c->dctx || convnet_reserve(&c->net, rows)) {
        release(c);
        return NF_ERR_NOMEM;
    }
    c->max_rows = rows;
    return NF_OK;
}

/* The network on src's conditioning part (the changed part zeroed) and
 * the context; alpha replaces a in c->out. */
static void condition(const layer *l, conv_coupling *c, const real *p, int rows, const real *src)
{
    int dim = l->dim, ch = c->channels, n_in = c->n_in, pixels = c->net.pixels;
    K_PARALLEL_ROWS((size_t)rows * c->active)
    for (int r = 0; r < rows; r++) {
        const real *s = src + (size_t)r * dim;
        real *in = c->in + (size_t)r * pixels * n_in;
        for (int q = 0; q < pixels; q++)
            for (int j = 0; j < n_in; j++) {
                int i = q * ch + c->in_ch[j];
                in[(size_t)q * n_in + j] = c->cond[i] ? s[i] : 0;
            }
    }
    convnet_forward(&c->net, p, rows, c->in, l->context_dim ? l->context : NULL, c->out);
    if (c->bound > 0) {
        K_PARALLEL_ROWS((size_t)rows * c->active)
        for (int r = 0; r < rows; r++)
            for (int q = 0; q < pixels; q++)
                k_bound_in_place(c->n_out, c->out + ((size_t)r * pixels + q) * 2 * c->n_out, 1, c->bound);
    }
}

/* The changed part through the affine map of c->out: forward (x2z) v ->
 * (v - mu) e^-alpha, ldj -= alpha; inverse (z2x) v -> v e^alpha + mu,
 * ldj += alpha. The conditioning part and the tail are copied. */
static void transform_rows(const layer *l, const conv_coupling *c, int rows, const real *src, real *dst, double *ldj,
                           int inverse)
{
    int dim = l->dim, ch = c->channels, pixels = c->net.pixels, no = c->n_out;
    K_PARALLEL_ROWS((size_t)rows * dim)
    for (int r = 0; r < rows; r++) {
        const real *in = src + (size_t)r * dim, *o = c->out + (size_t)r * pixels * 2 * no;
        real *out = dst + (size_t)r * dim;
        double sum = 0;
        for (int i = 0; i < c->active; i++) {
            if (c->cond[i]) {
                out[i] = in[i];
                continue;
            }
            const real *op = o + (size_t)(i / ch) * 2 * no;
            int j = c->out_slot[i % ch];
            out[i] = inverse ? in[i] * r_exp(op[j]) + op[no + j] : (in[i] - op[no + j]) * r_exp(-op[j]);
            sum += op[j];
        }
        memcpy(out + c->active, in + c->active, sizeof(real) * (size_t)(dim - c->active));
        ldj[r] += inverse ? sum : -sum;
    }
}

static void x2z(layer *l, const real *p, int rows, const real *x, real *z, double *ldj)
{
    conv_coupling *c = self(l);
    condition(l, c, p, rows, x);
    transform_rows(l, c, rows, x, z, ldj, 0);
}

static void z2x(layer *l, const real *p, int rows, const real *z, real *x, double *ldj)
{
    conv_coupling *c = self(l);
    condition(l, c, p, rows, z);
    transform_rows(l, c, rows, z, x, ldj, 1);
}

/* Back through the network from c->dout (d alpha in its a slots): dsrc =
 * dsame plus the network's input gradient on the conditioning part, the
 * context's share added to l->dcontext. */
static void through_net(const layer *l, conv_coupling *c, const real *p, int rows, const real *dsame, real *dsrc,
                        real *dp)
{
    int dim = l->dim, ch = c->channels, nctx = l->context_dim, n_in = c->n_in, pixels = c->net.pixels;
    real *dctx = nctx ? l->dcontext : NULL;
    if (c->bound > 0) {
        K_PARALLEL_ROWS((size_t)rows * c->active)
        for (int r = 0; r < rows; r++)
            for (int q = 0; q < pixels; q++) {
                size_t at = ((size_t)r * pixels + q) * 2 * c->n_out;
                for (int j = 0; j < c->n_out; j++)
                    c->dout[at + j] *= k_bound_slope(c->bound, c->out[at + j]);
            }
    }
    convnet_backward(&c->net, p, rows, c->in, nctx ? l->context : NULL, c->dout, dsrc ? c->din : NULL,
                     dctx ? c->dctx : NULL, dp);
    if (!dsrc && !dctx)
        return;
    K_PARALLEL_ROWS((size_t)rows * dim)
    for (int r = 0; r < rows; r++) {
        const real *d = c->din + (size_t)r * pixels * n_in;
        if (dsrc)
            for (int i = 0; i < c->active; i++)
                if (c->cond[i])
                    dsrc[(size_t)r * dim + i] =
                        dsame[(size_t)r * dim + i] + d[(size_t)(i / ch) * n_in + c->in_slot[i % ch]];
        for (int j = 0; dctx && j < nctx; j++)
            dctx[(size_t)r * nctx + j] += c->dctx[(size_t)r * nctx + j];
    }
}

/* The affine map's gradients, either direction: given dL/d(output) on the
 * rows (dout_side) and dldj, c->dout gets dL/d(alpha) and dL/d(mu) of the
 * changed entries (0 where the network's value is not used) and din_side
 * (NULL: not wanted) dL/d(input) of the changed part and the tail; the
 * conditioning part's is through_net's. Forward (x2z), with the outputs z:
 * din = dz e^-alpha, dmu = -dz e^-alpha, dalpha = -dz z - dldj. Inverse
 * (z2x), with the outputs x: din = dx e^alpha, dmu = dx, dalpha = dx (x -
 * mu) + dldj. */
static void affine_grads(const layer *l, conv_coupling *c, int rows, const real *out_side, const real *dout_side,
                         real dldj, real *din_side, int inverse)
{
    int dim = l->dim, ch = c->channels, no = c->n_out;
    K_PARALLEL_ROWS((size_t)rows * dim)
    for (int r = 0; r < rows; r++) {
        const real *o = c->out + (size_t)r * c->net.pixels * 2 * no;
        real *d = c->dout + (size_t)r * c->net.pixels * 2 * no;
        const real *dy = dout_side + (size_t)r * dim, *y = out_side + (size_t)r * dim;
        for (int i = 0; i < c->active; i++) {
            size_t at = (size_t)(i / ch) * 2 * no;
            int j = c->out_slot[i % ch];
            if (c->cond[i]) {
                if (j >= 0) /* a checkerboard's: the network's value here is not used */
                    d[at + j] = d[at + no + j] = 0;
                continue;
            }
            real e = r_exp(inverse ? o[at + j] : -o[at + j]);
            if (din_side)
                din_side[(size_t)r * dim + i] = dy[i] * e;
            d[at + no + j] = inverse ? dy[i] : -dy[i] * e;
            d[at + j] = inverse ? dy[i] * (y[i] - o[at + no + j]) + dldj : -dy[i] * y[i] - dldj;
        }
        if (din_side)
            memcpy(din_side + (size_t)r * dim + c->active, dy + c->active, sizeof(real) * (size_t)(dim - c->active));
    }
}

static void x2z_backward(layer *l, const real *p, int rows, const real *x, const real *z, const real *dz,
                         real dldj, real *dx, real *dp)
{
    (void)x;
    conv_coupling *c = self(l);
    affine_grads(l, c, rows, z, dz, dldj, dx, 0);
    through_net(l, c, p, rows, dz, dx, dp);
}

static void z2x_backward(layer *l, const real *p, int rows, const real *z, const real *x, const real *dx,
                         real dldj, real *dz, real *dp)
{
    (void)z;
    conv_coupling *c = self(l);
    affine_grads(l, c, rows, x, dx, dldj, dz, 1);
    through_net(l, c, p, rows, dx, dz, dp);
}

static const char *mask_name(int kind) { return kind == CONV_MASK_CHANNELS ? "channels" : "checkerboard"; }

static nf_status save(const layer *l, mf_writer *w)
{
    const conv_coupling *c = self(l);
    nf_status st = mf_begin(w, l->ops->tag);
    if (!st) st = mf_put_i32s(w, "image", (const int32_t[]){c->height, c->width, c->channels}, 3);
    if (!st) st = mf_put_str(w, "mask", mask_name(c->mask_kind));
    if (!st) st = mf_put_i64(w, "flip", c->flip);
    if (!st) st = mf_put_i64(w, "hidden", c->net.channels);
    if (!st) st = mf_put_i64(w, "blocks", c->net.blocks);
    if (!st) st = mf_put_f64(w, "log_scale_bound", c->bound);
    if (!st && l->context_dim) st = mf_put_i64(w, "context", l->context_dim);
    return st;
}

static size_t describe(const layer *l, char *buf, size_t size)
{
    const conv_coupling *c = self(l);
    return (size_t)snprintf(buf, size,
                            "conv_coupling %dx%dx%d %s%s net=conv3x3 %d channels, %d residual block%s, conv3x3",
                            c->height, c->width, c->channels, mask_name(c->mask_kind), c->flip ? " (flipped)" : "",
                            c->net.channels, c->net.blocks, c->net.blocks == 1 ? "" : "s");
}

static void destroy(layer *l)
{
    conv_coupling *c = self(l);
    release(c);
    convnet_release(&c->net);
    free(c->cond);
    free(c->in_ch);
}

/* The network's weights from the section's sizes (-1: a size missing or out of range). */
static double file_params(const mf_file *f, const mf_section *s, int dim)
{
    (void)dim;
    const int32_t *shape;
    int64_t hidden = 0, blocks = 0, context = 0;
    if (!mf_has(s, "image") || !mf_has(s, "hidden") || !mf_has(s, "blocks") ||
        mf_get_i32s(f, s, "image", 3, &shape, NULL) || mf_get_i64(f, s, "hidden", &hidden) ||
        mf_get_i64(f, s, "blocks", &blocks) || (mf_has(s, "context") && mf_get_i64(f, s, "context", &context)) ||
        hidden < 0 || blocks < 0 || context < 0 || shape[2] < 0)
        return -1;
    const char *mask = "";
    int64_t flip = 0;
    if ((mf_has(s, "mask") && mf_get_str(f, s, "mask", &mask)) || (mf_has(s, "flip") && mf_get_i64(f, s, "flip", &flip)))
        return -1;
    double reads = shape[2], changes = shape[2]; /* a checkerboard's */
    if (!strcmp(mask, "channels")) {
        reads = flip ? shape[2] - shape[2] / 2 : shape[2] / 2;
        changes = shape[2] - reads;
    }
    return convnet_params_of(shape[0], shape[1], reads + (double)context, 2 * changes, (double)hidden, (double)blocks);
}

const layer_ops conv_coupling_ops = {
    .tag = "conv_coupling", LAYER_OPS_BY_NAME, .load = conv_coupling_load, .file_params = file_params};

layer *conv_coupling_new(int dim, int n_context, const int shape[3], int mask_kind, int flip, int hidden, int blocks,
                         double bound)
{
    int h = shape[0], w = shape[1], ch = shape[2];
    if (h < 1 || w < 1 || ch < 1 || (double)h * w * ch > dim) {
        nf_fail(NF_ERR_INVALID, "image coupling: a %d x %d x %d image does not fit in %d values", h, w, ch, dim);
        return NULL;
    }
    if ((mask_kind == CONV_MASK_CHANNELS && ch < 2) || (mask_kind == CONV_MASK_CHECKERBOARD && h * w < 2) ||
        (mask_kind != CONV_MASK_CHANNELS && mask_kind != CONV_MASK_CHECKERBOARD)) {
        nf_fail(NF_ERR_INVALID, "image coupling: a %s mask cannot split a %d x %d x %d image", mask_name(mask_kind), h,
                w, ch);
        return NULL;
    }
    if (n_context < 0 || n_context > NF_MAX_CONTEXT || !convnet_check(h, w, ch + n_context, 2 * ch, hidden, blocks) ||
        !(bound >= 0 && bound < NF_MAX_LOG_SCALE_BOUND)) {
        nf_fail(NF_ERR_INVALID, "image coupling: network of %d channels and %d blocks (1..%d, 0..%d), bound %g", hidden,
                blocks, NF_MAX_HIDDEN, NF_MAX_HIDDEN_LAYERS, bound);
        return NULL;
    }
    layer *l = layer_alloc(&conv_coupling_ops, dim, sizeof(conv_coupling));
    if (!l)
        return NULL;
    conv_coupling *c = l->self;
    l->context_dim = n_context;
    c->height = h;
    c->width = w;
    c->channels = ch;
    c->active = h * w * ch;
    c->mask_kind = mask_kind;
    c->flip = flip != 0;
    c->bound = (real)bound;
    c->cond = malloc((size_t)c->active);
    c->in_ch = malloc(sizeof(int) * 4 * (size_t)ch); /* in_ch, out_ch, in_slot, out_slot */
    if (!c->cond || !c->in_ch) {
        layer_free(l);
        nf_fail(NF_ERR_NOMEM, "out of memory creating an image coupling");
        return NULL;
    }
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < ch; k++) {
                int a = mask_kind == CONV_MASK_CHANNELS ? k < ch / 2 : (y + x) % 2 == 0;
                c->cond[(y * w + x) * ch + k] = (char)(a != c->flip);
            }
    c->out_ch = c->in_ch + ch;
    c->in_slot = c->out_ch + ch;
    c->out_slot = c->in_slot + ch;
    for (int k = 0; k < ch; k++) {
        int reads = mask_kind == CONV_MASK_CHECKERBOARD || c->cond[k], changes = mask_kind == CONV_MASK_CHECKERBOARD || !c->cond[k];
        c->in_slot[k] = reads ? c->n_in : -1;
        c->out_slot[k] = changes ? c->n_out : -1;
        if (reads)
            c->in_ch[c->n_in++] = k;
        if (changes)
            c->out_ch[c->n_out++] = k;
    }
    convnet_shape(&c->net, h, w, c->n_in + n_context, n_context, 2 * c->n_out, hidden, blocks);
    return l;
}

nf_status conv_coupling_load(const mf_file *f, const mf_section *s, int dim, layer **out)
{
    const int32_t *shape;
    const char *mask;
    int64_t flip, hidden, blocks, context = 0;
    double bound;
    nf_status st = mf_get_i32s(f, s, "image", 3, &shape, NULL);
    if (!st) st = mf_get_str(f, s, "mask", &mask);
    if (!st) st = mf_get_i64(f, s, "flip", &flip);
    if (!st) st = mf_get_i64(f, s, "hidden", &hidden);
    if (!st) st = mf_get_i64(f, s, "blocks", &blocks);
    if (!st) st = mf_get_f64(f, s, "log_scale_bound", &bound);
    if (!st && mf_has(s, "context")) st = mf_get_i64(f, s, "context", &context);
    if (st)
        return st;
    int kind = !strcmp(mask, "channels") ? CONV_MASK_CHANNELS : !strcmp(mask, "checkerboard") ? CONV_MASK_CHECKERBOARD : -1;
    if (kind < 0)
        return nf_fail(NF_ERR_FORMAT, "%s: section 'conv_coupling': mask '%s' unknown (checkerboard or channels)",
                       mf_path(f), mask);
    if (hidden < 1 || hidden > NF_MAX_HIDDEN || blocks < 0 || blocks > NF_MAX_HIDDEN_LAYERS || context < 0 ||
        context > NF_MAX_CONTEXT || (flip != 0 && flip != 1))
        return nf_fail(NF_ERR_FORMAT, "%s: section 'conv_coupling': sizes out of range", mf_path(f));
    *out = conv_coupling_new(dim, (int)context, (const int[]){shape[0], shape[1], shape[2]}, kind, (int)flip,
                             (int)hidden, (int)blocks, bound);
    if (!*out) {
        char why[256];
        snprintf(why, sizeof why, "%s", nf_last_error());
        return nf_fail(NF_ERR_FORMAT, "%s: bad conv_coupling: %s", mf_path(f), why);
    }
    return NF_OK;
}
