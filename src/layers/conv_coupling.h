/* RealNVP's and Glow's affine coupling on images, its network a
 * convolutional residual network (src/nets/convnet.h). The layer acts on
 * the first height x width x channels values of each row, an image with
 * its channels innermost; the rest of the row (the parts a multi-scale
 * flow has factored out) passes through unchanged. A mask splits the
 * image into a conditioning part A and a changed part B:
 *   checkerboard: A = the pixels with (y + x) even, all their channels;
 *   channels:     A = the first channels / 2 channels of every pixel;
 * flip swaps A and B. The network reads part A (a checkerboard: the
 * image with B zeroed; a channel mask: A's channels) and, in a
 * conditional layer, the context as constant channels, and gives each
 * pixel [a | mu] for the channels B changes there:
 *   z_B = (x_B - mu) exp(-alpha), alpha = bound tanh(a / bound),
 *   log|det dz/dx| = -sum alpha over B. */
#ifndef NF_LAYERS_CONV_COUPLING_H
#define NF_LAYERS_CONV_COUPLING_H

#include "layers/layer.h"

enum { CONV_MASK_CHECKERBOARD = 0, CONV_MASK_CHANNELS = 1 };

/* shape: height, width, channels (their product at most dim); hidden:
 * the network's channels; blocks: its residual blocks. NULL (nf_fail's
 * message set) for invalid sizes or out of memory. */
layer *conv_coupling_new(int dim, int n_context, const int shape[3], int mask_kind, int flip, int hidden, int blocks,
                         double bound);
nf_status conv_coupling_load(const mf_file *f, const mf_section *s, int dim, layer **out);
extern const layer_ops conv_coupling_ops;

#endif
