/* Bounded support (nf_flow_set_bounds): the first layer of a flow whose
 * columns live on an interval or a half-line maps each bounded column to
 * the real line by an exact bijection, so that the layers after it (the
 * standardisation first) see unbounded values and the model's density is
 * zero outside the support:
 *
 *   (lo, hi):   z = log((x - lo) / (hi - x))   the logit of (x - lo) / (hi - lo)
 *   (lo, inf):  z = log(x - lo)
 *   (-inf, hi): z = -log(hi - x)               the mirror image, increasing
 *
 * The support is open: a value on a bound or beyond it (or NaN) has
 * density 0; x2z gives it z = 0 and log-determinant -inf. z2x computes in
 * double and, where rounding to the float type lands on a bound or beyond
 * (a logistic of a large z rounds to exactly hi; exp overflows), returns the
 * nearest representable value strictly inside instead, so that samples
 * and decoded rows never leave the support. No trainable parameters.
 * The constructor returns NULL (nf_fail's message set) when out of memory
 * or the bounds are invalid; the loader rebuilds it from its section. */
#ifndef NF_LAYERS_BOUNDS_H
#define NF_LAYERS_BOUNDS_H

#include "layers/layer.h"

/* lo[i], hi[i]: the open interval of column i; NaN or -inf (lo), NaN or
 * +inf (hi) for an open side; a column open on both sides is left as it
 * is. */
layer *bounds_new(int dim, const double *lo, const double *hi);
nf_status bounds_load(const mf_file *f, const mf_section *s, int dim, layer **out);
/* The kind, for layers/registry.c. */
extern const layer_ops bounds_ops;
/* Finite bounds within +-1e30 (so that x - lo stays far from overflow). */
#define BOUNDS_MAX 1e30
/* 1 when every column's bounds are valid (lo < hi, finite sides within
 * BOUNDS_MAX, a float strictly between them); else 0 and the reason,
 * naming the column (0-based), in why. */
int bounds_check(int dim, const double *lo, const double *hi, char *why, size_t size);
/* Whether a layer is the bounds layer. */
int bounds_is(const layer *l);
/* Its bounds (dim each; -inf / +inf for open sides). */
void bounds_get(const layer *l, const double **lo, const double **hi);
/* How many of rows rows (rows x dim) have a value on or outside its
 * column's bounds (or NaN there); the first such row and its first such
 * column in *first_row, *first_col (when some and the pointers are not
 * NULL). */
size_t bounds_outside(const layer *l, const real *x, size_t rows, size_t *first_row, int *first_col);
/* x -> z and z -> x of rows rows outside a flow's passes (the Gaussian
 * fit's density and draws): as the layer's passes, ldj (may be NULL for
 * bounds_to_x) added to. in and out may be the same buffer. */
void bounds_to_z(const layer *l, int rows, const real *x, real *z, double *ldj);
void bounds_to_x(const layer *l, int rows, const real *z, real *x, double *ldj);

#endif
