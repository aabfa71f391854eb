/* The image architectures (api_image.h). Every layer acts on an image
 * held at the front of each row, height x width x channels with the
 * channels innermost; what a level factors out moves behind it, where the
 * later levels' layers pass it through, and it meets the base density
 * there: a multi-scale flow as one flow over the whole row.
 *
 *   glow, per level:       squeeze (when height and width are even),
 *                          `layers` steps of [ActNorm, 1x1 convolution,
 *                          channel coupling], then (but the last level)
 *                          a channel coupling of the second half of the
 *                          channels on the first (Glow's learned prior of
 *                          the factored half) and the split;
 *   realnvp-ms, per level: `layers` checkerboard couplings, then (but the
 *                          last level) a squeeze, `layers` channel
 *                          couplings and the split; ActNorm after each
 *                          coupling (the paper's batch normalisation). */
#include "models/api_image.h"

#include <stdlib.h>

#include "core/error.h"
#include "core/perm.h"
#include "layers/actnorm.h"
#include "layers/conv_coupling.h"
#include "layers/linear_lu.h"
#include "layers/permute.h"

/* The kind's name for messages (nf_model_name lives above this file). */
static const char *kind_name(const nf_config *cfg) { return cfg->model == NF_MODEL_GLOW ? "glow" : "realnvp-ms"; }

typedef struct image_walk {
    const nf_config *cfg;
    nf_flow *f; /* NULL: only check that the sizes work */
    int h, w, c;
    uint64_t seed;
} image_walk;

/* The permutation layer of a prefix permutation: new index i takes old
 * index prefix[i]; the rest of the row stays. */
static nf_status add_prefix_permutation(image_walk *s, const int *prefix, int active)
{
    int dim = s->f->dim;
    int *perm = malloc(sizeof(int) * dim);
    if (!perm)
        return nf_fail(NF_ERR_NOMEM, "out of memory building an image flow");
    for (int i = 0; i < dim; i++)
        perm[i] = i < active ? prefix[i] : i;
    nf_status st = flow_add(s->f, permute_new(dim, perm));
    free(perm);
    return st;
}

/* Space to depth: (h, w, c) -> (h/2, w/2, 4c), each 2x2 block's pixels
 * side by side in channel order (top left, top right, bottom left,
 * bottom right). */
static nf_status squeeze(image_walk *s)
{
    if (s->f) {
        int h = s->h, w = s->w, c = s->c, n = h * w * c;
        int *prefix = malloc(sizeof(int) * n);
        if (!prefix)
            return nf_fail(NF_ERR_NOMEM, "out of memory building an image flow");
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++)
                    prefix[((y / 2) * (w / 2) + x / 2) * 4 * c + ((y % 2) * 2 + x % 2) * c + k] = (y * w + x) * c + k;
        nf_status st = add_prefix_permutation(s, prefix, n);
        free(prefix);
        if (st)
            return st;
    }
    s->h /= 2;
    s->w /= 2;
    s->c *= 4;
    return NF_OK;
}

/* The split: the first c/2 channels of every pixel stay at the front
 * (h, w, c/2); the others follow them, factored out. */
static nf_status split(image_walk *s)
{
    int keep = s->c / 2;
    if (s->f) {
        int pixels = s->h * s->w, c = s->c, n = pixels * c, i = 0;
        int *prefix = malloc(sizeof(int) * n);
        if (!prefix)
            return nf_fail(NF_ERR_NOMEM, "out of memory building an image flow");
        for (int q = 0; q < pixels; q++)
            for (int k = 0; k < keep; k++)
                prefix[i++] = q * c + k;
        for (int q = 0; q < pixels; q++)
            for (int k = keep; k < c; k++)
                prefix[i++] = q * c + k;
        nf_status st = add_prefix_permutation(s, prefix, n);
        free(prefix);
        if (st)
            return st;
    }
    s->c = keep;
    return NF_OK;
}

static nf_status coupling(image_walk *s, int mask, int flip)
{
    const nf_config *cfg = s->cfg;
    if (mask == CONV_MASK_CHANNELS && s->c < 2)
        return nf_fail(NF_ERR_INVALID, "%s: a %d x %d image of one channel cannot be split by channels (fewer "
                                       "levels, or an image of even height and width)",
                       kind_name(cfg), s->h, s->w);
    if (mask == CONV_MASK_CHECKERBOARD && s->h * s->w < 2)
        return nf_fail(NF_ERR_INVALID, "%s: a 1 x 1 image has no checkerboard (fewer levels)", kind_name(cfg));
    if (!s->f)
        return NF_OK;
    return flow_add(s->f, conv_coupling_new(s->f->dim, s->f->context_dim, (const int[]){s->h, s->w, s->c}, mask, flip,
                                            cfg->hidden, cfg->hidden_layers, cfg->log_scale_bound));
}

static nf_status actnorm(image_walk *s)
{
    return s->f ? flow_add(s->f, actnorm_new_blocks(s->f->dim, s->h * s->w, s->c)) : NF_OK;
}

static nf_status conv1x1(image_walk *s)
{
    if (!s->f)
        return NF_OK;
    int *perm;
    nf_status st = perm_random(s->c, s->seed++, &perm);
    if (!st)
        st = flow_add(s->f, linear_lu_new_blocks(s->f->dim, s->h * s->w, s->c, perm, NULL));
    free(perm);
    return st;
}

static nf_status glow_level(image_walk *s, int last)
{
    nf_status st = NF_OK;
    if (s->h % 2 == 0 && s->w % 2 == 0)
        st = squeeze(s);
    for (int k = 0; k < s->cfg->layers && !st; k++) {
        st = actnorm(s);
        if (!st) st = conv1x1(s);
        if (!st) st = coupling(s, CONV_MASK_CHANNELS, k % 2);
    }
    if (!st && !last) {
        st = coupling(s, CONV_MASK_CHANNELS, 0); /* the factored half given the kept half */
        if (!st) st = split(s);
    }
    return st;
}

static nf_status realnvp_level(image_walk *s, int last)
{
    nf_status st = NF_OK;
    for (int k = 0; k < s->cfg->layers && !st; k++) {
        st = coupling(s, CONV_MASK_CHECKERBOARD, k % 2);
        if (!st) st = actnorm(s);
    }
    if (!st && !last) {
        if (s->h % 2 || s->w % 2)
            return nf_fail(NF_ERR_INVALID, "realnvp-ms: a %d x %d image cannot be squeezed (fewer levels)", s->h, s->w);
        st = squeeze(s);
        for (int k = 0; k < s->cfg->layers && !st; k++) {
            st = coupling(s, CONV_MASK_CHANNELS, k % 2);
            if (!st) st = actnorm(s);
        }
        if (!st) st = split(s);
    }
    return st;
}

static nf_status walk(const nf_config *cfg, nf_flow *f)
{
    const int *shape = cfg->image_shape;
    if (shape[0] < 1 || shape[1] < 1 || shape[2] < 1 || (double)shape[0] * shape[1] * shape[2] != cfg->dim)
        return nf_fail(NF_ERR_INVALID, "%s: the image shape %d x %d x %d does not make the %d columns (image models "
                                       "are for image data: an N x H x W (x C) .npy or an IDX file)",
                       kind_name(cfg), shape[0], shape[1], shape[2], cfg->dim);
    if (cfg->levels < 1 || cfg->levels > NF_MAX_HIDDEN_LAYERS)
        return nf_fail(NF_ERR_INVALID, "levels %d out of range 1..%d", cfg->levels, NF_MAX_HIDDEN_LAYERS);
    image_walk s = {cfg, f, shape[0], shape[1], shape[2], cfg->seed};
    nf_status st = NF_OK;
    for (int level = 0; level < cfg->levels && !st; level++)
        st = cfg->model == NF_MODEL_GLOW ? glow_level(&s, level == cfg->levels - 1)
                                         : realnvp_level(&s, level == cfg->levels - 1);
    return st;
}

nf_status image_config_check(const nf_config *cfg) { return walk(cfg, NULL); }

nf_status flow_build_image(nf_flow *f, const nf_config *cfg) { return walk(cfg, f); }
