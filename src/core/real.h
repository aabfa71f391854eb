/* The numeric type of the internal kernels and layers.
 * float in the library; the gradient tests build the same sources with
 * -DNF_REAL_DOUBLE so that central differences are accurate. */
#ifndef NF_REAL_H
#define NF_REAL_H

#include <math.h>

#ifdef NF_REAL_DOUBLE
typedef double real;
#define r_exp exp
#define r_tanh tanh
#define r_log log
#define r_log1p log1p
#define r_sqrt sqrt
#else
typedef float real;
#define r_exp expf
#define r_tanh tanhf
#define r_log logf
#define r_log1p log1pf
#define r_sqrt sqrtf
#endif

#endif
