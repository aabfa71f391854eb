/* The image layers in double precision: the convolutional network against
 * a direct convolution; each image layer's inverse, brute-force
 * log-determinant and gradients (parameters, inputs, context; both
 * directions) against central differences, on small images with and
 * without a factored-out tail. */
#include <stdlib.h>
#include <string.h>

#include "flow/flow.h"
#include "core/kern.h"
#include "layers/layer.h"
#include "dcheck.h"
#include "harness.h"
#include "layers/actnorm.h"
#include "layers/conv_coupling.h"
#include "layers/linear_lu.h"
#include "nets/convnet.h"

enum { ROWS = 3 };

static rng gen;

static void randn_fill(real *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = rng_normal(&gen);
}

/* One output value of the network, computed directly from its definition. */
static double direct_conv3x3(const convnet *n, const real *w, const real *bias, const double *src, int c_in,
                             int c_out, int img, int y, int x, int o)
{
    double s = bias[o];
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++) {
            int yy = y + ky - 1, xx = x + kx - 1;
            if (yy < 0 || yy >= n->height || xx < 0 || xx >= n->width)
                continue;
            for (int c = 0; c < c_in; c++)
                s += w[((size_t)(ky * 3 + kx) * c_in + c) * c_out + o] *
                     src[(((size_t)img * n->height + yy) * n->width + xx) * c_in + c];
        }
    return s;
}

static void test_convnet_direct(void)
{
    /* height, width, c_in, c_out, channels, blocks, c_const (the last c_const input channels constant per image) */
    int shapes[][7] = {{4, 5, 2, 3, 4, 1, 0}, {3, 3, 1, 2, 3, 0, 0}, {1, 4, 3, 2, 2, 2, 0}, {2, 1, 2, 4, 3, 1, 0},
                       {4, 5, 5, 3, 4, 1, 3}, {1, 3, 2, 2, 3, 0, 1}, {3, 2, 4, 4, 2, 2, 2}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int *sh = shapes[s];
        convnet n;
        convnet_shape(&n, sh[0], sh[1], sh[2], sh[6], sh[3], sh[4], sh[5]);
        CHECK(convnet_reserve(&n, ROWS) == NF_OK);
        size_t np = convnet_n_params(&n), pix = (size_t)n.pixels;
        int vary = n.c_in - n.c_const;
        CHECK(np == (size_t)convnet_params_of(sh[0], sh[1], sh[2], sh[3], sh[4], sh[5]));
        real *p = calloc(np, sizeof(real)), *in = malloc(sizeof(real) * ROWS * pix * vary);
        real *cst = malloc(sizeof(real) * (ROWS * n.c_const + 1));
        real *out = malloc(sizeof(real) * ROWS * pix * n.c_out);
        convnet_init_params(&n, p, &gen, 0);
        for (size_t i = 0; i < np; i++)
            p[i] += 0.1 * rng_normal(&gen);
        randn_fill(in, ROWS * pix * vary);
        randn_fill(cst, ROWS * n.c_const);
        convnet_forward(&n, p, ROWS, in, n.c_const ? cst : NULL, out);
        /* the same network, directly: h0 (the constant channels at every pixel), the blocks, the output */
        int f = n.channels;
        double *h = malloc(sizeof(double) * ROWS * pix * f), *h2 = malloc(sizeof(double) * ROWS * pix * f);
        double *src = malloc(sizeof(double) * ROWS * pix * n.c_in);
        for (size_t q = 0; q < ROWS * pix; q++)
            for (int c = 0; c < n.c_in; c++)
                src[q * n.c_in + c] = c < vary ? in[q * vary + c] : cst[(q / pix) * n.c_const + c - vary];
        const real *w = p;
        for (int img = 0; img < ROWS; img++)
            for (int y = 0; y < n.height; y++)
                for (int x = 0; x < n.width; x++)
                    for (int o = 0; o < f; o++)
                        h[(((size_t)img * n.height + y) * n.width + x) * f + o] =
                            fmax(0, direct_conv3x3(&n, w, w + 9 * n.c_in * f, src, n.c_in, f, img, y, x, o));
        w += 9 * n.c_in * f + f;
        for (int k = 0; k < n.blocks; k++, w += f * f + f)
            for (size_t q = 0; q < ROWS * pix; q++) {
                for (int o = 0; o < f; o++) {
                    double u = w[f * f + o];
                    for (int i = 0; i < f; i++)
                        u += w[i * f + o] * h[q * f + i];
                    h2[q * f + o] = h[q * f + o] + fmax(0, u);
                }
                memcpy(h + q * f, h2 + q * f, sizeof(double) * f);
            }
        for (int img = 0; img < ROWS; img++)
            for (int y = 0; y < n.height; y++)
                for (int x = 0; x < n.width; x++)
                    for (int o = 0; o < n.c_out; o++)
                        CHECK_CLOSE(out[(((size_t)img * n.height + y) * n.width + x) * n.c_out + o],
                                    direct_conv3x3(&n, w, w + 9 * f * n.c_out, h, f, n.c_out, img, y, x, o), 1e-12,
                                    1e-12);
        free(h);
        free(h2);
        free(src);
        free(p);
        free(in);
        free(cst);
        free(out);
        convnet_release(&n);
    }
}

static real *make_params(layer *l)
{
    size_t n = l->ops->n_params(l);
    real *p = calloc(n ? n : 1, sizeof(real));
    l->ops->init_params(l, p, &gen);
    for (size_t i = 0; i < n; i++)
        p[i] += 0.3 * rng_normal(&gen);
    CHECK(l->ops->reserve(l, ROWS) == NF_OK);
    return p;
}

/* Inverse, log-determinant (both directions) and gradients, and that the
 * tail beyond the image passes through untouched. */
static void check_image_layer(layer *l)
{
    CHECK(l != NULL);
    if (!l)
        return;
    real *p = make_params(l);
    size_t n = (size_t)ROWS * l->dim;
    real *x = malloc(sizeof(real) * n), *c = malloc(sizeof(real) * n), *ctx = NULL;
    if (l->context_dim) {
        ctx = malloc(sizeof(real) * ROWS * l->context_dim);
        randn_fill(ctx, (size_t)ROWS * l->context_dim);
        l->context = ctx;
    }
    randn_fill(x, n);
    check_layer_inverse(l, p, ROWS, x);
    for (int dir = 0; dir < 2; dir++) {
        randn_fill(x, n);
        check_layer_logdet(l, p, dir, x);
        randn_fill(c, n);
        double w = rng_normal(&gen);
        check_layer_gradients(l, p, dir, ROWS, x, c, w, NULL);
        if (l->context_dim)
            check_layer_context_gradient(l, p, dir, ROWS, x, c, w, ctx);
    }
    l->context = NULL;
    free(ctx);
    free(x);
    free(c);
    free(p);
    layer_free(l);
}

static void test_conv_coupling(void)
{
    check_image_layer(conv_coupling_new(12, 0, (int[]){2, 3, 2}, CONV_MASK_CHECKERBOARD, 0, 3, 1, 3.0));
    check_image_layer(conv_coupling_new(12, 0, (int[]){2, 3, 2}, CONV_MASK_CHECKERBOARD, 1, 2, 0, 0));
    check_image_layer(conv_coupling_new(12, 0, (int[]){3, 2, 2}, CONV_MASK_CHANNELS, 0, 3, 2, 2.0));
    check_image_layer(conv_coupling_new(15, 0, (int[]){1, 5, 3}, CONV_MASK_CHANNELS, 1, 2, 1, 3.0));
    /* a tail beyond the image (a factored-out part), one channel */
    check_image_layer(conv_coupling_new(14, 0, (int[]){3, 3, 1}, CONV_MASK_CHECKERBOARD, 0, 3, 1, 3.0));
    /* conditional: the context as constant channels */
    check_image_layer(conv_coupling_new(8, 2, (int[]){2, 2, 2}, CONV_MASK_CHANNELS, 0, 3, 1, 3.0));
    check_image_layer(conv_coupling_new(10, 1, (int[]){2, 2, 2}, CONV_MASK_CHECKERBOARD, 1, 2, 1, 0));
}

static void test_conv_coupling_refuses(void)
{
    CHECK(conv_coupling_new(4, 0, (int[]){2, 2, 1}, CONV_MASK_CHANNELS, 0, 3, 1, 3.0) == NULL);
    CHECK(conv_coupling_new(3, 0, (int[]){2, 2, 1}, CONV_MASK_CHECKERBOARD, 0, 3, 1, 3.0) == NULL);
    CHECK(conv_coupling_new(1, 0, (int[]){1, 1, 1}, CONV_MASK_CHECKERBOARD, 0, 3, 1, 3.0) == NULL);
    CHECK(conv_coupling_new(8, 0, (int[]){2, 2, 2}, 7, 0, 3, 1, 3.0) == NULL);
    CHECK(conv_coupling_new(8, 0, (int[]){2, 2, 2}, CONV_MASK_CHANNELS, 0, 0, 1, 3.0) == NULL);
}

/* Glow's 1x1 convolution: one c x c LU matrix on every pixel. */
static void test_conv1x1(void)
{
    check_image_layer(linear_lu_new_blocks(12, 4, 3, (int[]){2, 0, 1}, (real[]){1, -1, 1}));
    check_image_layer(linear_lu_new_blocks(11, 4, 2, (int[]){1, 0}, NULL)); /* a tail of 3 */
    check_image_layer(linear_lu_new_blocks(6, 6, 1, (int[]){0}, NULL));
    CHECK(linear_lu_new_blocks(6, 4, 2, (int[]){1, 0}, NULL) == NULL);
}

/* Per-channel ActNorm; its data-dependent start normalises each channel
 * over the batch's rows and pixels, not the tail. */
static void test_actnorm_channels(void)
{
    check_image_layer(actnorm_new_blocks(12, 4, 3));
    check_image_layer(actnorm_new_blocks(13, 5, 2));
    layer *l = actnorm_new_blocks(10, 4, 2);
    real p[4] = {0}, x[4 * 10], z[4 * 10];
    double ldj[4] = {0};
    randn_fill(x, 40);
    l->training = 1;
    l->ops->x2z(l, p, 4, x, z, ldj);
    for (int k = 0; k < 2; k++) {
        double m = 0, v = 0;
        for (int r = 0; r < 4; r++)
            for (int q = 0; q < 4; q++)
                m += z[r * 10 + q * 2 + k] / 16;
        for (int r = 0; r < 4; r++)
            for (int q = 0; q < 4; q++)
                v += pow(z[r * 10 + q * 2 + k] - m, 2) / 16;
        CHECK_CLOSE(m, 0, 1e-12, 1e-12);
        CHECK_CLOSE(v, 1, 1e-9, 1e-9);
    }
    for (int r = 0; r < 4; r++)
        CHECK(z[r * 10 + 8] == x[r * 10 + 8] && z[r * 10 + 9] == x[r * 10 + 9]);
    layer_free(l);
}

int main(void)
{
    rng_seed(&gen, 7);
    RUN(test_convnet_direct);
    RUN(test_conv_coupling);
    RUN(test_conv_coupling_refuses);
    RUN(test_conv1x1);
    RUN(test_actnorm_channels);
    TEST_SUMMARY("dtest_images");
}
