/* Base densities p_Z: standard normal, standard logistic, uniform on a box. */
#ifndef NF_BASE_H
#define NF_BASE_H

#include "nflow.h"
#include "core/real.h"
#include "core/rng.h"

typedef struct base_density {
    nf_base kind;
    double lo, hi; /* the uniform box */
} base_density;

const char *base_name(nf_base kind);
/* NF_BASE_* for a name, or -1. */
int base_from_name(const char *name);
/* out[r] = log p_Z(z[r, :]) (-INFINITY outside a uniform box). */
void base_log_prob(const base_density *b, int rows, int dim, const real *z, double *out);
/* dz = scale * d log p_Z / dz. */
void base_grad(const base_density *b, int rows, int dim, const real *z, real scale, real *dz);
/* rows x dim draws in row order, so the stream does not depend on chunking. */
void base_sample(const base_density *b, rng *r, int rows, int dim, real *z);
/* The same rows of a larger draw under `key` (base_sample: one draw of r,
 * first_row 0): rows first_row.. of it, first_row a multiple of 64, so
 * that a draw made in parts is the draw made at once. */
void base_sample_at(const base_density *b, uint64_t key, size_t first_row, int rows, int dim, real *z);

#endif
