/* The layer interface. A layer is a bijection between a data side x and a
 * latent side z of the same dimension, listed in the density direction:
 * layer 0 of a flow meets the data first.
 *
 *   x2z: z = f(x), ldj[r] += log|det dz/dx| (the density direction)
 *   z2x: x = f^-1(z), ldj[r] += log|det dx/dz| (the sampling direction)
 *
 * Buffers are rows x dim, row-major. The *_backward calls follow the
 * matching forward call on the same rows (the layer keeps what it needs in
 * its own buffers, sized by reserve): given dout = dL/d(output) and dldj =
 * dL/d(ldj[r]) (the same for every row), they write din = dL/d(input) (NULL:
 * not needed) and add dL/dparams into dp (NULL: not needed). A direction the
 * layer cannot run in one parallel pass may leave its backward NULL.
 *
 * Optional ops (NULL when the kind has none): n_state counts non-trainable
 * values the layer updates itself (batch norm's running averages); the flow
 * keeps them in one buffer beside the parameters (l->state) so that saving,
 * the best-epoch snapshot and checkpoints carry them. constrain puts a
 * parameter vector back into the layer's feasible set (MADE: zeroes the
 * masked weights); check_params says whether a loaded vector (and the
 * layer's state) is in it.
 *
 * Passes get the parameters as const: they do not change them. The one
 * exception is ActNorm's data-dependent initialisation, which writes its own
 * slice in its first training x2z (src/layers/actnorm.c); every caller
 * passes a slice of a writable buffer (the flow's params). */
#ifndef NF_LAYER_H
#define NF_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "core/kern.h"
#include "core/real.h"
#include "core/rng.h"
#include "io/mfile.h"

typedef struct layer layer;

typedef struct layer_ops {
    const char *tag; /* stable name in model files */
    size_t (*n_params)(const layer *l);
    void (*init_params)(layer *l, real *p, rng *r);
    nf_status (*reserve)(layer *l, int rows); /* NF_OK, or NF_ERR_NOMEM */
    void (*x2z)(layer *l, const real *p, int rows, const real *x, real *z, double *ldj);
    void (*x2z_backward)(layer *l, const real *p, int rows, const real *x, const real *z, const real *dz,
                         real dldj, real *dx, real *dp);
    void (*z2x)(layer *l, const real *p, int rows, const real *z, real *x, double *ldj);
    void (*z2x_backward)(layer *l, const real *p, int rows, const real *z, const real *x, const real *dx,
                         real dldj, real *dz, real *dp);
    /* Hyper-parameters and fixed buffers (not the trainable parameters,
     * which the flow saves in one tensor). */
    nf_status (*save)(const layer *l, mf_writer *w);
    size_t (*describe)(const layer *l, char *buf, size_t size);
    void (*destroy)(layer *l);
    size_t (*n_state)(const layer *l);
    void (*init_state)(layer *l);
    void (*constrain)(const layer *l, real *p);
    int (*check_params)(const layer *l, const real *p); /* 1 ok, 0 not */
    /* The dropout of the layer's network's hidden units in the passes
     * that follow (rate 0: none; key and first_row: the draws,
     * src/core/kern.h). */
    void (*set_dropout)(layer *l, const k_dropout *d);
    /* Reading a model file: the layer from its section (its keys as save
     * wrote them, docs/model-format.md), and the trainable parameters the
     * section's scalars imply, computed in double before anything is
     * allocated (a hostile size must not wrap); -1 when a size is missing
     * or negative (load then names it). NULL: parameters per dimension,
     * at most a few times dim. Every kind is listed in layers/registry.c. */
    nf_status (*load)(const mf_file *f, const mf_section *s, int dim, layer **out);
    double (*file_params)(const mf_file *f, const mf_section *s, int dim);
    /* Floats of scratch the layer's passes of `rows` rows can use when no
     * backward pass follows (l->inference): the flow holds one buffer, the
     * largest any layer asks, for all of them (NULL: none used). */
    size_t (*scratch_floats)(const layer *l, int rows);
} layer_ops;

/* The ops every layer kind has, for a file that defines them under these
 * names; a file of several kinds (coupling.c, autoregressive.c) makes each
 * kind's table as {.tag = "...", LAYER_OPS_BY_NAME, its optional ops}. */
#define LAYER_OPS_BY_NAME                                                                                      \
    .n_params = n_params, .init_params = init_params, .reserve = reserve, .x2z = x2z,                          \
    .x2z_backward = x2z_backward, .z2x = z2x, .z2x_backward = z2x_backward, .save = save, .describe = describe, \
    .destroy = destroy

struct layer {
    const layer_ops *ops;
    int dim;
    size_t p_off; /* offset of this layer's parameters in the flow's buffer */
    real *state;  /* n_state values inside the flow's state buffer, or NULL */
    int training; /* set by the flow around a training step: batch statistics */
    int inference; /* set around the evaluation passes: no backward pass follows, so a
                    * layer may keep its activations in scratch (src/flow/api_flow.c) */
    real *scratch; /* while inference is set, the flow's buffer of scratch_floats, shared
                    * by its layers (a pass may use it all), or NULL: use the layer's own */
    /* A conditional layer's context: context_dim values per row (fixed when
     * the layer is made; 0 for a layer that takes none); the flow points
     * `context` at the current pass's rows (standardised) and `dcontext`
     * where their gradient is to be added (NULL: not wanted). */
    int context_dim;
    const real *context;
    real *dcontext;
    void *self;   /* the kind's own state */
};

void layer_free(layer *l);
/* Allocates a layer with its ops and a zeroed `self` of the given size. */
layer *layer_alloc(const layer_ops *ops, int dim, size_t self_size);

/* Ops for kinds that have nothing of that sort: no parameters, nothing to
 * initialise or reserve, nothing saved but the tag, described by the tag. */
size_t layer_no_params(const layer *l);
void layer_no_init(layer *l, real *p, rng *r);
nf_status layer_no_reserve(layer *l, int rows);
nf_status layer_save_tag(const layer *l, mf_writer *w);
size_t layer_describe_tag(const layer *l, char *buf, size_t size);

#endif
