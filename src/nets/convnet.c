#include "nets/convnet.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kern.h"

/* Pixel rows per tile: enough for the BLAS to run at speed, few enough
 * that a tile's im2col matrix stays in the cache's reach. */
enum { CONV_TILE_PIXELS = 1024 };
enum { CONST_SCRATCH = 9 + 16 }; /* vectors of `channels` values (const_scratch) */

void convnet_shape(convnet *n, int height, int width, int c_in, int c_const, int c_out, int channels, int blocks)
{
    memset(n, 0, sizeof *n);
    n->height = height;
    n->width = width;
    n->c_in = c_in;
    n->c_const = c_const;
    n->c_out = c_out;
    n->channels = channels;
    n->blocks = blocks;
    n->pixels = height * width;
    n->tile = n->pixels >= CONV_TILE_PIXELS ? 1 : CONV_TILE_PIXELS / n->pixels;
}

int convnet_check(int height, int width, int c_in, int c_out, int channels, int blocks)
{
    return height >= 1 && width >= 1 && (double)height * width <= NF_MAX_DIM && c_in >= 1 && c_in <= NF_MAX_DIM &&
           c_out >= 1 && c_out <= NF_MAX_DIM && channels >= 1 && channels <= NF_MAX_HIDDEN && blocks >= 0 &&
           blocks <= NF_MAX_HIDDEN_LAYERS;
}

double convnet_params_of(double height, double width, double c_in, double c_out, double channels, double blocks)
{
    (void)height, (void)width;
    return 9 * c_in * channels + channels + blocks * (channels * channels + channels) + 9 * channels * c_out + c_out;
}

size_t convnet_n_params(const convnet *n)
{
    size_t f = (size_t)n->channels;
    return 9 * (size_t)n->c_in * f + f + (size_t)n->blocks * (f * f + f) + 9 * f * n->c_out + n->c_out;
}

/* Offsets of the parameters: W0, b0, block k's W and b (k = 1..blocks), W_out, b_out. */
static size_t off_block(const convnet *n, int k)
{
    size_t f = (size_t)n->channels;
    return 9 * (size_t)n->c_in * f + f + (size_t)(k - 1) * (f * f + f);
}
static size_t off_out(const convnet *n) { return off_block(n, n->blocks + 1); }

static int tile_count(const convnet *n, int rows) { return k_tiles(rows, n->tile); }

static size_t slot_size_of(const convnet *n)
{
    size_t m = (size_t)n->tile * n->pixels;
    int wide = n->c_in > n->channels ? n->c_in : n->channels;
    size_t widest = (size_t)(wide > n->c_out ? wide : n->c_out);
    size_t tail = (size_t)(n->c_out > n->c_in ? n->c_out : n->c_in); /* W_out's or W0's gradient before it is placed */
    return m * (9 * widest + 2 * (size_t)n->channels) + (size_t)n->channels * (9 * tail + CONST_SCRATCH);
}

/* The constant channels' scratch at the end of a slot: 9 tap vectors and 16 class vectors. */
static real *const_scratch(const convnet *n, real *slot)
{
    return slot + n->slot_size - (size_t)CONST_SCRATCH * n->channels;
}

void convnet_release(convnet *n)
{
    k_free(n->act);
    k_free(n->scratch);
    k_free(n->tile_grads);
    k_free(n->flip);
    k_free(n->spread);
    k_free(n->w_vary);
    n->act = n->scratch = n->tile_grads = n->flip = n->spread = n->w_vary = NULL;
    n->max_rows = n->slots = 0;
}

/* Scratch for `slots` threads at once. */
static nf_status reserve_slots(convnet *n, int slots)
{
    k_free(n->scratch);
    n->slot_size = slot_size_of(n);
    n->scratch = k_alloc(sizeof(real) * n->slot_size * (size_t)slots);
    n->slots = n->scratch ? slots : 0;
    return n->scratch ? NF_OK : NF_ERR_NOMEM;
}

nf_status convnet_reserve(convnet *n, int rows)
{
    if (rows <= n->max_rows)
        return NF_OK;
    convnet_release(n);
    size_t per = (size_t)rows * n->pixels * n->channels;
    n->act = k_alloc(sizeof(real) * per * (1 + 2 * (size_t)n->blocks));
    n->tile_grads = k_alloc(sizeof(real) * convnet_n_params(n) * (size_t)tile_count(n, rows));
    n->flip = k_alloc(sizeof(real) * 9 * (size_t)n->c_out * n->channels);
    n->spread = k_alloc(sizeof(real) * 9 * (size_t)n->c_out * n->channels);
    n->w_vary = k_alloc(sizeof(real) * 9 * (size_t)n->c_in * n->channels);
    if (!n->act || !n->tile_grads || !n->flip || !n->spread || !n->w_vary || reserve_slots(n, k_threads())) {
        convnet_release(n);
        return NF_ERR_NOMEM;
    }
    n->max_rows = rows;
    return NF_OK;
}

void convnet_init_params(const convnet *n, real *p, rng *r, int zero_last)
{
    size_t f = (size_t)n->channels;
    typedef struct {
        size_t fan_in, weights, biases;
    } part;
    part parts[NF_MAX_HIDDEN_LAYERS + 2];
    int count = 0;
    parts[count++] = (part){9 * (size_t)n->c_in, 9 * (size_t)n->c_in * f, f};
    for (int k = 0; k < n->blocks; k++)
        parts[count++] = (part){f, f * f, f};
    parts[count++] = (part){9 * f, 9 * f * n->c_out, (size_t)n->c_out};
    for (int k = 0; k < count; k++) {
        int last = k == count - 1;
        double bound = 1.0 / sqrt((double)parts[k].fan_in);
        for (size_t i = 0; i < parts[k].weights; i++)
            p[i] = last && zero_last ? 0 : (real)((2 * rng_uniform(r) - 1) * bound);
        memset(p + parts[k].weights, 0, sizeof(real) * parts[k].biases);
        p += parts[k].weights + parts[k].biases;
    }
}

/* Activation buffer j (0: h0; 2k - 1: r_k; 2k: h_k) at image i0. */
static real *act_at(const convnet *n, int j, int i0)
{
    return n->act + ((size_t)j * n->max_rows + (size_t)i0) * n->pixels * n->channels;
}

/* The 3x3 neighbourhoods of `count` images of c channels as rows of 9 c
 * values (ky, kx, channel), zeros beyond the border. A pixel row's three
 * neighbours in one image row are contiguous in both: one copy of 3 c
 * values each (of 2 c at the left and right borders). */
static void im2col(const convnet *n, const real *src, int count, int c, real *col)
{
    int h = n->height, w = n->width;
    size_t k = 9 * (size_t)c;
    for (int img = 0; img < count; img++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                real *dst = col + (((size_t)img * h + y) * w + x) * k;
                int x0 = x > 0 ? x - 1 : 0, x1 = x < w - 1 ? x + 1 : w - 1;
                for (int ky = 0; ky < 3; ky++, dst += 3 * c) {
                    int yy = y + ky - 1;
                    if (yy < 0 || yy >= h) {
                        memset(dst, 0, sizeof(real) * 3 * (size_t)c);
                        continue;
                    }
                    if (x == 0)
                        memset(dst, 0, sizeof(real) * c);
                    if (x == w - 1)
                        memset(dst + 2 * c, 0, sizeof(real) * c);
                    memcpy(dst + (size_t)(x0 - x + 1) * c, src + (((size_t)img * h + yy) * w + x0) * c,
                           sizeof(real) * (size_t)(x1 - x0 + 1) * c);
                }
            }
}

/* im2col's adjoint: dsrc = the sum of each neighbourhood row's gradient at
 * the pixels it was copied from. */
static void col2im(const convnet *n, const real *col, int count, int c, real *dsrc)
{
    int h = n->height, w = n->width;
    size_t k = 9 * (size_t)c;
    memset(dsrc, 0, sizeof(real) * (size_t)count * n->pixels * c);
    for (int img = 0; img < count; img++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const real *g = col + (((size_t)img * h + y) * w + x) * k;
                for (int ky = 0; ky < 3; ky++) {
                    int yy = y + ky - 1;
                    for (int kx = 0; kx < 3; kx++, g += c) {
                        int xx = x + kx - 1;
                        if (yy < 0 || yy >= h || xx < 0 || xx >= w)
                            continue;
                        real *d = dsrc + (((size_t)img * h + yy) * w + xx) * c;
                        for (int i = 0; i < c; i++)
                            d[i] += g[i];
                    }
                }
            }
}

/* The last convolution, out = conv3x3(src) + b, of `count` images: taps =
 * src spread (pixels x 9 c_out: what each pixel gives its neighbours,
 * the taps in im2col's order turned half a turn), then each pixel's taps
 * added to the neighbours they reach: col2im's sum. */
static void conv_out(const convnet *n, const real *src, int count, const real *b, real *taps, real *out)
{
    int co = n->c_out, m = count * n->pixels;
    k_gemm(0, 0, m, 9 * co, n->channels, 1, src, n->channels, n->spread, 9 * co, 0, taps, 9 * co);
    col2im(n, taps, count, co, out);
    k_bias_activate_block(K_ACT_NONE, m, co, co, b, out);
}

/* A pixel's side class along one axis: 1 on the first row (column), 2 on
 * the last, 3 both (an image one pixel across), 0 inside. Taps at offset
 * -1 read inside the image unless class & 1, at +1 unless class & 2. */
static int side_class(int i, int n) { return (i == 0) | (i == n - 1) << 1; }
static int tap_reads_inside(int side, int k3) { return k3 == 1 || !(side & (k3 == 0 ? 1 : 2)); }
/* Whether tap k reads inside the image at the pixels of class cls (row side << 2 | column side). */
static int class_reads_tap(int cls, int k) { return tap_reads_inside(cls >> 2, k / 3) && tap_reads_inside(cls & 3, k % 3); }

/* The constant channels' share of the first convolution, added to h (one
 * image's pixels x width): tap k's share v[k] = W0's rows (k, constant
 * channels) against cst; a pixel gets the sum of the taps that read inside
 * the image, one of 16 sums by its side classes (table). */
static void add_constant_share(const convnet *n, const real *p, const real *cst, real *scratch, real *h)
{
    int f = n->channels, vary = n->c_in - n->c_const;
    real *v = scratch, *table = scratch + 9 * (size_t)f;
    for (int k = 0; k < 9; k++) {
        real *vk = v + (size_t)k * f;
        memset(vk, 0, sizeof(real) * f);
        for (int j = 0; j < n->c_const; j++) {
            const real *w = p + ((size_t)k * n->c_in + vary + j) * f;
            for (int i = 0; i < f; i++)
                vk[i] += cst[j] * w[i];
        }
    }
    for (int cls = 0; cls < 16; cls++) {
        real *t = table + (size_t)cls * f;
        memset(t, 0, sizeof(real) * f);
        for (int k = 0; k < 9; k++)
            if (class_reads_tap(cls, k))
                for (int i = 0; i < f; i++)
                    t[i] += v[(size_t)k * f + i];
    }
    for (int y = 0; y < n->height; y++)
        for (int x = 0; x < n->width; x++) {
            real *restrict hp = h + ((size_t)y * n->width + x) * f;
            const real *restrict t = table + (size_t)(side_class(y, n->height) << 2 | side_class(x, n->width)) * f;
#pragma omp simd
            for (int i = 0; i < f; i++)
                hp[i] += t[i];
        }
}

/* s[k] = the sum of dh (one image's pixels x width) over the pixels whose
 * tap k reads inside the image: the pixels' sums by side class first. */
static void tap_sums(const convnet *n, const real *dh, real *scratch)
{
    int f = n->channels;
    real *s = scratch, *bucket = scratch + 9 * (size_t)f;
    memset(bucket, 0, sizeof(real) * 16 * (size_t)f);
    for (int y = 0; y < n->height; y++)
        for (int x = 0; x < n->width; x++) {
            const real *restrict d = dh + ((size_t)y * n->width + x) * f;
            real *restrict b = bucket + (size_t)(side_class(y, n->height) << 2 | side_class(x, n->width)) * f;
#pragma omp simd
            for (int i = 0; i < f; i++)
                b[i] += d[i];
        }
    for (int k = 0; k < 9; k++) {
        real *sk = s + (size_t)k * f;
        memset(sk, 0, sizeof(real) * f);
        for (int cls = 0; cls < 16; cls++)
            if (class_reads_tap(cls, k))
                for (int i = 0; i < f; i++)
                    sk[i] += bucket[(size_t)cls * f + i];
    }
}

/* W0's rows of the varying channels: the first product's matrix (W0
 * itself without constant channels). */
static const real *varying_rows(convnet *n, const real *p)
{
    int vary = n->c_in - n->c_const, f = n->channels;
    if (!n->c_const)
        return p;
    for (int k = 0; k < 9; k++)
        memcpy(n->w_vary + (size_t)k * vary * f, p + (size_t)k * n->c_in * f, sizeof(real) * (size_t)vary * f);
    return n->w_vary;
}

static void tile_forward(convnet *n, const real *p, int i0, int i1, const real *in, const real *cst, real *out,
                         real *slot)
{
    int f = n->channels, m = (i1 - i0) * n->pixels, vary = n->c_in - n->c_const;
    real *col = slot;
    im2col(n, in + (size_t)i0 * n->pixels * vary, i1 - i0, vary, col);
    real *prev = act_at(n, 0, i0);
    k_gemm(0, 0, m, f, 9 * vary, 1, col, 9 * vary, n->c_const ? n->w_vary : p, f, 0, prev, f);
    for (int i = i0; n->c_const && i < i1; i++)
        add_constant_share(n, p, cst + (size_t)i * n->c_const, const_scratch(n, slot),
                           prev + (size_t)(i - i0) * n->pixels * f);
    k_bias_activate_block(K_ACT_RELU, m, f, f, p + (size_t)9 * n->c_in * f, prev);
    for (int k = 1; k <= n->blocks; k++) {
        const real *w = p + off_block(n, k);
        real *r = act_at(n, 2 * k - 1, i0), *h = act_at(n, 2 * k, i0);
        k_gemm(0, 0, m, f, f, 1, prev, f, w, f, 0, r, f);
        k_bias_activate_block(K_ACT_RELU, m, f, f, w + (size_t)f * f, r);
        for (size_t i = 0; i < (size_t)m * f; i++)
            h[i] = prev[i] + r[i];
        prev = h;
    }
    conv_out(n, prev, i1 - i0, p + off_out(n) + (size_t)9 * f * n->c_out, col,
             out + (size_t)i0 * n->pixels * n->c_out);
}

/* g_b = d's column sums over m rows of cols (overwritten): a bias's gradient. */
static void column_sums(int m, int cols, const real *d, real *restrict g_b)
{
    memset(g_b, 0, sizeof(real) * cols);
    for (int r = 0; r < m; r++) {
        const real *restrict dr = d + (size_t)r * cols;
#pragma omp simd
        for (int j = 0; j < cols; j++)
            g_b[j] += dr[j];
    }
}

/* g_w = a^T d (k x cols, overwritten), g_b = d's column sums: a linear
 * map's gradients over one tile's m rows. */
static void linear_grads(int m, int k, int cols, const real *a, const real *d, real *g_w)
{
    k_gemm(1, 0, k, cols, m, 1, a, k, d, cols, 0, g_w, cols);
    column_sums(m, cols, d, g_w + (size_t)k * cols);
}

/* d *= [a > 0] over m rows of cols: through a ReLU, from its outputs
 * (the kernels' vector loop: a branch per value cost a fifth of a step). */
static void relu_backward(int m, int cols, const real *a, real *d)
{
    k_activate_backward_block(K_ACT_RELU, m, cols, cols, a, d);
}

static void tile_backward(convnet *n, const real *p, int i0, int i1, const real *in, const real *cst,
                          const real *dout, real *din, real *dcst, real *g, real *slot)
{
    int f = n->channels, m = (i1 - i0) * n->pixels, last = 2 * n->blocks;
    size_t mf = (size_t)m * f;
    int wide = n->c_in > f ? n->c_in : f;
    real *col = slot, *dh = slot + (size_t)m * 9 * (wide > n->c_out ? wide : n->c_out), *dr = dh + mf;
    const real *d_o = dout + (size_t)i0 * n->pixels * n->c_out;
    /* dL/dh: the output's gradient through the adjoint convolution, a 3x3
     * convolution of its own (a product of 9 c_out columns, not 9 width) */
    int co = n->c_out, kk = 9 * co;
    im2col(n, d_o, i1 - i0, co, col);
    k_gemm(0, 0, m, f, kk, 1, col, kk, n->flip, f, 0, dh, f);
    if (g) { /* W_out's: h^T against the same columns, whose taps run the other way */
        real *e = dr + mf, *g_w = g + off_out(n);
        k_gemm(1, 0, f, kk, m, 1, act_at(n, last, i0), f, col, kk, 0, e, kk);
        for (int k = 0; k < 9; k++)
            for (int i = 0; i < f; i++)
                memcpy(g_w + ((size_t)k * f + i) * co, e + (size_t)i * kk + (size_t)(8 - k) * co, sizeof(real) * co);
        column_sums(m, co, d_o, g_w + (size_t)9 * f * co);
    }
    for (int k = n->blocks; k >= 1; k--) {
        const real *w = p + off_block(n, k);
        memcpy(dr, dh, sizeof(real) * mf);
        relu_backward(m, f, act_at(n, 2 * k - 1, i0), dr);
        if (g)
            linear_grads(m, f, f, act_at(n, 2 * k - 2, i0), dr, g + off_block(n, k));
        k_gemm(0, 1, m, f, f, 1, dr, f, w, f, 1, dh, f);
    }
    relu_backward(m, f, act_at(n, 0, i0), dh);
    int vary = n->c_in - n->c_const;
    const real *tile_in = in + (size_t)i0 * n->pixels * vary;
    if (g && !n->c_const) {
        im2col(n, tile_in, i1 - i0, n->c_in, col);
        linear_grads(m, 9 * n->c_in, f, col, dh, g);
    } else if (g || dcst) { /* W0's varying rows as above, placed among its rows; the constant rows' and
                             * the constants' own gradients from each image's tap sums */
        real *e = dr + mf, *s = const_scratch(n, slot);
        if (g) {
            im2col(n, tile_in, i1 - i0, vary, col);
            k_gemm(1, 0, 9 * vary, f, m, 1, col, 9 * vary, dh, f, 0, e, f);
            memset(g, 0, sizeof(real) * 9 * (size_t)n->c_in * f);
            for (int k = 0; k < 9; k++)
                memcpy(g + (size_t)k * n->c_in * f, e + (size_t)k * vary * f, sizeof(real) * (size_t)vary * f);
            column_sums(m, f, dh, g + (size_t)9 * n->c_in * f);
        }
        for (int i = i0; i < i1; i++) {
            const real *c = cst + (size_t)i * n->c_const;
            tap_sums(n, dh + (size_t)(i - i0) * n->pixels * f, s);
            if (dcst)
                memset(dcst + (size_t)i * n->c_const, 0, sizeof(real) * n->c_const);
            for (int k = 0; k < 9; k++)
                for (int j = 0; j < n->c_const; j++) {
                    const real *sk = s + (size_t)k * f;
                    size_t row = ((size_t)k * n->c_in + vary + j) * f;
                    if (g)
                        for (int o = 0; o < f; o++)
                            g[row + o] += c[j] * sk[o];
                    if (dcst) {
                        real sum = 0;
                        for (int o = 0; o < f; o++)
                            sum += p[row + o] * sk[o];
                        dcst[(size_t)i * n->c_const + j] += sum;
                    }
                }
        }
    }
    if (din) {
        k_gemm(0, 1, m, 9 * vary, f, 1, dh, f, n->c_const ? n->w_vary : p, f, 0, col, 9 * vary);
        col2im(n, col, i1 - i0, vary, din + (size_t)i0 * n->pixels * vary);
    }
}

/* Threads for a call on `tiles` tiles: nflow's team, as far as there are
 * scratch slots (grown when the team grew since the reserve) and tiles. */
static int team_for(convnet *n, int tiles, double flops)
{
    int t = k_threads();
    if (t > n->slots && reserve_slots(n, t))
        reserve_slots(n, 1);
    if (t > n->slots)
        t = n->slots;
    if (t > tiles)
        t = tiles;
    return k_worth_threads(flops) || omp_get_level() > 0 ? t : 1;
}

static double flops_per_image(const convnet *n) { return 2.0 * n->pixels * (double)convnet_n_params(n); }

/* spread[i, (8 - k, o)] = W_out[(k, i), o]: the taps' blocks side by side,
 * turned half a turn (pixel q reaches q - offset(k) through tap k, which
 * col2im's tap 8 - k adds to). */
static void build_spread(convnet *n, const real *w_out)
{
    int f = n->channels, co = n->c_out;
    for (int k = 0; k < 9; k++)
        for (int i = 0; i < f; i++)
            memcpy(n->spread + ((size_t)i * 9 + 8 - k) * co, w_out + ((size_t)k * f + i) * co, sizeof(real) * co);
}

void convnet_forward(convnet *n, const real *p, int rows, const real *in, const real *cst, real *out)
{
    int tiles = tile_count(n, rows);
    build_spread(n, p + off_out(n));
    varying_rows(n, p);
    int team = team_for(n, tiles, rows * flops_per_image(n));
#pragma omp parallel num_threads(team) if (team > 1 || omp_get_level() > 0)
    {
        k_region_begin();
        real *slot = n->scratch + n->slot_size * (size_t)omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < tiles; t++) {
            int i0, i1;
            k_tile(rows, n->tile, t, &i0, &i1);
            tile_forward(n, p, i0, i1, in, cst, out, slot);
        }
    }
}

/* flip[(ky, kx, o), i] = W_out[(2 - ky, 2 - kx, i), o]. */
static void build_flip(convnet *n, const real *w_out)
{
    int f = n->channels, co = n->c_out;
    for (int k = 0; k < 9; k++)
        for (int o = 0; o < co; o++)
            for (int i = 0; i < f; i++)
                n->flip[((size_t)k * co + o) * f + i] = w_out[((size_t)(8 - k) * f + i) * co + o];
}

void convnet_backward(convnet *n, const real *p, int rows, const real *in, const real *cst, const real *dout,
                      real *din, real *dcst, real *dp)
{
    int tiles = tile_count(n, rows);
    build_flip(n, p + off_out(n));
    varying_rows(n, p);
    size_t np = convnet_n_params(n);
    int team = team_for(n, tiles, 2 * rows * flops_per_image(n));
#pragma omp parallel num_threads(team) if (team > 1 || omp_get_level() > 0)
    {
        k_region_begin();
        real *slot = n->scratch + n->slot_size * (size_t)omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
        for (int t = 0; t < tiles; t++) {
            int i0, i1;
            k_tile(rows, n->tile, t, &i0, &i1);
            tile_backward(n, p, i0, i1, in, cst, dout, din, n->c_const ? dcst : NULL,
                          dp ? n->tile_grads + np * (size_t)t : NULL, slot);
        }
        if (dp) {
            /* the tiles' gradients summed in tile order, in fixed chunks of parameters */
            enum { CHUNK = 4096 };
            int chunks = (int)((np + CHUNK - 1) / CHUNK);
#pragma omp for schedule(static)
            for (int c = 0; c < chunks; c++) {
                size_t a = (size_t)c * CHUNK, b = a + CHUNK < np ? a + CHUNK : np;
                for (int t = 0; t < tiles; t++) {
                    const real *g = n->tile_grads + np * (size_t)t;
                    for (size_t i = a; i < b; i++)
                        dp[i] += g[i];
                }
            }
        }
    }
}
