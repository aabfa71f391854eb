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
 * slice in its first training x2z (src/layer_actnorm.c); every caller
 * passes a slice of a writable buffer (the flow's params). */
#ifndef NF_LAYER_H
#define NF_LAYER_H

#include <stddef.h>

#include "mfile.h"
#include "real.h"
#include "rng.h"

typedef struct layer layer;

typedef struct layer_ops {
    const char *tag; /* stable name in model files */
    size_t (*n_params)(const layer *l);
    void (*init_params)(layer *l, real *p, rng *r);
    int (*reserve)(layer *l, int rows); /* 0, or -1 when out of memory */
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
} layer_ops;

struct layer {
    const layer_ops *ops;
    int dim;
    size_t p_off; /* offset of this layer's parameters in the flow's buffer */
    real *state;  /* n_state values inside the flow's state buffer, or NULL */
    int training; /* set by the flow around a training step: batch statistics */
    int inference; /* set around the public evaluation calls: no backward pass follows, so
                    * a layer may keep its activations in scratch (src/api_flow.c) */
    void *self;   /* the kind's own state */
};

/* Constructors; each returns NULL when out of memory or the arguments are
 * invalid (with nf_fail's message set). */
layer *coupling_new(int dim, int affine, const int *cond_mask, int hidden, int depth, int act, double bound);
layer *rescale_new(int dim);
layer *permute_new(int dim, const int *perm);
layer *linear_lu_new(int dim, const int *perm, const real *signs);
layer *standardize_new(int dim, const double *mean, const double *std);
/* Batch normalisation with running averages updated by `momentum` (0..1]
 * per training batch: avg = (1 - momentum) avg + momentum batch. */
layer *batchnorm_new(int dim, double momentum);
/* ActNorm (Glow): z = (x - b) exp(-logs) per dimension, b and logs set from
 * the first training batch (state: a 0/1 flag saying whether they were). */
layer *actnorm_new(int dim);
/* MAF (iaf = 0) or IAF (iaf = 1) layer around a MADE: order[k] is the
 * dimension of degree k + 1; hidden degrees given (depth x hidden), or
 * sequential / random from seed. Log-scales bound * tanh(a / bound). */
layer *autoregressive_new(int dim, int iaf, int hidden, int depth, int act, const int *order, const int *degrees,
                          int random_degrees, uint64_t seed, double bound);

/* Loaders: rebuild a layer from its saved section. */
nf_status coupling_load(const mf_file *f, const mf_section *s, int dim, layer **out);
nf_status rescale_load(const mf_file *f, const mf_section *s, int dim, layer **out);
nf_status permute_load(const mf_file *f, const mf_section *s, int dim, layer **out);
nf_status linear_lu_load(const mf_file *f, const mf_section *s, int dim, layer **out);
nf_status standardize_load(const mf_file *f, const mf_section *s, int dim, layer **out);
nf_status batchnorm_load(const mf_file *f, const mf_section *s, int dim, layer **out);
nf_status actnorm_load(const mf_file *f, const mf_section *s, int dim, layer **out);
/* The MADE inside a MAF/IAF layer (for tests). */
struct made *autoregressive_net(layer *l);
nf_status autoregressive_load(const mf_file *f, const mf_section *s, int dim, layer **out);

/* The range of a standardisation float32 arithmetic can apply: std and
 * 1/std, and x - mean, stay normal floats far from overflow. */
#define STANDARDIZE_MIN 1e-30
#define STANDARDIZE_MAX 1e30
/* 1 when every mean and std is in range; else 0 and the reason in why. */
int standardize_check(int dim, const double *mean, const double *std, char *why, size_t size);
/* For the standardisation layer owned by the flow. */
void standardize_set(layer *l, const double *mean, const double *std);
void standardize_get(const layer *l, const double **mean, const double **std);

/* Whether perm is a permutation of 0..dim-1. */
int perm_is_valid(const int *perm, int dim);

void layer_free(layer *l);
/* Allocates a layer with its ops and a zeroed `self` of the given size. */
layer *layer_alloc(const layer_ops *ops, int dim, size_t self_size);

#endif
