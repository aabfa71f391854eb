/* The narrow product of a MADE's first layers, vectorised by hand. */
#ifndef NF_CORE_KERN_NARROW_H
#define NF_CORE_KERN_NARROW_H

#include "core/real.h"

/* dst[r, u] = act(bias[u] + sum_{i < width} src[r, i] w[u, i]) for rows x
 * units (bias may be NULL, act K_ACT_NONE): the thin products of a
 * sequential MADE step, a few units of a tile of rows, read where they lie
 * (the BLAS would copy all of src for each). Vectorised for AVX-512 and
 * AVX2 with FMA (chosen at run time: k_narrow_isa() gives 512, 256 or 0);
 * k_narrow_isa_for_tests runs a given one (0: the plain loop). */
void k_narrow(int rows, int units, int width, const real *src, int lds, const real *w, int ldw, const real *bias,
              int act, real *dst, int ldd);
int k_narrow_isa(void);
void k_narrow_isa_for_tests(int isa, int rows, int units, int width, const real *src, int lds, const real *w,
                            int ldw, const real *bias, int act, real *dst, int ldd);

#endif
