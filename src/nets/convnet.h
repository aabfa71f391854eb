/* A convolutional residual network on images: the image couplings'
 * networks. Images are height x width x channels, row-major with the
 * channels innermost (NHWC); each of `rows` images is one row of the
 * caller's buffers. The network (same padding, stride 1):
 *
 *   h0 = relu(conv3x3(in) + b0)                      c_in -> width
 *   h_k = h_{k-1} + relu(conv1x1(h_{k-1}) + b_k)     k = 1..blocks
 *   out = conv3x3(h_blocks) + b_out                  width -> c_out
 *
 * The last c_const of the c_in channels may be constant over each image
 * (a conditional model's context): they come apart, a row of c_const
 * values per image, and their share of the first convolution is a map of
 * the 9 taps' sums (fewer at the borders) rather than 9 c_const columns
 * more of its product.
 *
 * Parameters live in the caller's buffer: W0 (9 c_in x width, rows in
 * the order ky, kx, channel), b0, then each block's W (width x width) and
 * b, then W_out (9 width x c_out), b_out. The 3x3 products go through the
 * BLAS: the first as an im2col product (9 c_in columns), the last, whose
 * outputs are few, as a product giving each pixel's 9 taps (9 c_out
 * columns) that col2im then adds to the neighbours they reach.
 *
 * Work is cut into tiles of whole images whose size depends on the image
 * alone; each tile's weight gradient is its own, and the tiles' gradients
 * are summed in tile order: the same bits at any thread count. */
#ifndef NF_CONVNET_H
#define NF_CONVNET_H

#include <stddef.h>

#include "core/kern.h"
#include "core/real.h"
#include "core/rng.h"
#include "nflow.h"

typedef struct convnet {
    int height, width, c_in, c_out, channels, blocks;
    int c_const;           /* the last c_const input channels: constant over each image */
    int pixels, tile;      /* height x width; images per tile */
    int max_rows, slots;   /* reserved images; per-thread scratch slots */
    real *act;             /* (1 + 2 blocks) x max_rows x pixels x channels: h0, then r_k = relu(.), h_k */
    real *scratch;         /* slots x slot_size */
    size_t slot_size;
    real *tile_grads;      /* tiles x n_params: each tile's weight gradient */
    real *flip;            /* 9 c_out x channels: W_out turned half a turn and transposed (its adjoint's kernel) */
    real *spread;          /* channels x 9 c_out: W_out's taps side by side, turned half a turn (the last product) */
    real *w_vary;          /* 9 (c_in - c_const) x channels: W0's rows of the varying channels (c_const > 0) */
} convnet;

/* Shape only (no buffers); convnet_check says whether the sizes are valid.
 * c_in counts the constant channels, c_const of them (0..c_in - 1). */
void convnet_shape(convnet *n, int height, int width, int c_in, int c_const, int c_out, int channels, int blocks);
int convnet_check(int height, int width, int c_in, int c_out, int channels, int blocks);
size_t convnet_n_params(const convnet *n);
/* The same count from sizes, in double (a hostile file's sizes must not wrap). */
double convnet_params_of(double height, double width, double c_in, double c_out, double channels, double blocks);
/* Buffers for up to `rows` images; NF_OK or NF_ERR_NOMEM. */
nf_status convnet_reserve(convnet *n, int rows);
void convnet_release(convnet *n);
/* He-uniform weights (uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)), as
 * PyTorch), zero biases; the last convolution zero when zero_last, so the
 * network starts at 0. */
void convnet_init_params(const convnet *n, real *p, rng *r, int zero_last);
/* in: rows x (pixels (c_in - c_const)); cst: rows x c_const (NULL when 0);
 * out: rows x (pixels c_out). */
void convnet_forward(convnet *n, const real *p, int rows, const real *in, const real *cst, real *out);
/* After the forward pass on the same rows: din = dL/din and dcst =
 * dL/dcst (each NULL: not wanted), dp += dL/dparams (NULL: not wanted). */
void convnet_backward(convnet *n, const real *p, int rows, const real *in, const real *cst, const real *dout,
                      real *din, real *dcst, real *dp);

#endif
