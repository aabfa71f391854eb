/* The arithmetic boundary: matrix products and element-wise kernels on
 * row-major buffers. Everything heavy in the layers goes through here, so a
 * later backend (GPU, MPI) replaces this file's implementation only. */
#ifndef NF_KERN_H
#define NF_KERN_H

#include <stddef.h>

#include "real.h"

/* C = alpha * op(A) op(B) + beta * C, row-major; op(A) is M x K, op(B) K x N. */
void k_gemm(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a, int lda, const real *b,
            int ldb, real beta, real *c, int ldc);
/* y[r, :] = x[r, :] W^T + b for rows r: W is (out x in), b may be NULL. */
void k_linear(int rows, int in, int out, const real *x, const real *w, const real *b, real *y);
/* Backward of k_linear: dW += dy^T x, db += column sums of dy (each may be
 * NULL), dx = dy W (NULL: skipped). */
void k_linear_backward(int rows, int in, int out, const real *x, const real *w, const real *dy, real *dx,
                       real *dw, real *db);

enum { K_ACT_RELU = 0, K_ACT_TANH = 1 };
void k_activate(int act, size_t n, real *h);
/* dh *= f'(.) expressed through the activation's output h. */
void k_activate_backward(int act, size_t n, const real *h, real *dh);

#endif
