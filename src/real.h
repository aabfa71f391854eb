/* The numeric type of the internal kernels and layers.
 * float in the library; the gradient tests build the same sources with
 * -DNF_REAL_DOUBLE so that central differences are accurate. */
#ifndef NF_REAL_H
#define NF_REAL_H

#ifdef NF_REAL_DOUBLE
typedef double real;
#else
typedef float real;
#endif

#endif
