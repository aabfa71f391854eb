/* The arithmetic boundary: matrix products and element-wise kernels on
 * row-major buffers. Everything heavy in the layers goes through here, so a
 * later backend (GPU, MPI) replaces this file's implementation only. */
#ifndef NF_KERN_H
#define NF_KERN_H

#include <omp.h>
#include <stddef.h>

#include "real.h"

/* Threads: one OpenMP team does all the parallel work. Layers split rows
 * (or, for weight gradients, output units) between its threads, each
 * thread calling the BLAS on its own share (OpenBLAS runs single-threaded
 * inside a parallel region), so every number is computed by the same
 * sequence of operations at any thread count: results are bit for bit the
 * same with 1 or 8 threads. */

/* nflow's team size (default: omp_get_max_threads() when first asked).
 * OpenMP's own default is held at 1 so that the BLAS (OpenBLAS's OpenMP
 * build follows it) never starts threads of its own; nflow's regions ask
 * for num_threads(k_threads()). Call from outside parallel regions. */
void k_set_threads(int n);
int k_threads(void);

/* Whether work of this many FLOPs is worth a parallel region (a region
 * costs a few microseconds; below this the threads would mostly wait). */
static inline int k_worth_threads(double flops) { return flops > 4e5; }

/* The calling thread's share [*lo, *hi) of [0, n): contiguous, in thread
 * order (the whole range outside a parallel region). Shares are cut at
 * multiples of K_SHARE_ALIGN: a BLAS microkernel computes the last, partial
 * tile of a product in another order than a full one (OpenBLAS on Zen
 * works in tiles of 24 rows), so a cut elsewhere would change the last few
 * rows of a share in the last bit. 48 is a multiple of the usual widths
 * (4, 6, 8, 12, 16, 24). */
enum { K_SHARE_ALIGN = 48 };
static inline void k_share(int n, int *lo, int *hi)
{
    int t = omp_get_thread_num(), nt = omp_get_num_threads(), blocks = (n + K_SHARE_ALIGN - 1) / K_SHARE_ALIGN;
    int b0 = (int)((long)blocks * t / nt), b1 = (int)((long)blocks * (t + 1) / nt);
    *lo = b0 * K_SHARE_ALIGN < n ? b0 * K_SHARE_ALIGN : n;
    *hi = b1 * K_SHARE_ALIGN < n ? b1 * K_SHARE_ALIGN : n;
}

/* C = alpha * op(A) op(B) + beta * C, row-major; op(A) is M x K, op(B) K x N. */
void k_gemm(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a, int lda, const real *b,
            int ldb, real beta, real *c, int ldc);
/* y[r, :] = x[r, :] W^T + b for rows r: W is (out x in), b may be NULL. */
void k_linear(int rows, int in, int out, const real *x, const real *w, const real *b, real *y);

enum { K_ACT_RELU = 0, K_ACT_TANH = 1 };
void k_activate(int act, size_t n, real *h);
/* dh *= f'(.) expressed through the activation's output h. */
void k_activate_backward(int act, size_t n, const real *h, real *dh);
/* The same on a rows x cols block of a matrix with row stride ld: one call
 * for a panel of a few units, not one per row. */
void k_activate_block(int act, int rows, int cols, int ld, real *h);
void k_activate_backward_block(int act, int rows, int cols, int ld, const real *h, real *dh);
/* dst[r, u] += sum_{i < width} src[r, i] w[u, i] for rows x units: C += A B^T
 * with a few columns (a sequential MADE step's output block of 2). The BLAS
 * would copy (pack) all of A for each such product, which costs more than
 * the product; this reads A where it lies. */
void k_gemm_nt_narrow(int rows, int units, int width, const real *src, int lds, const real *w, int ldw, real *dst,
                      int ldd);
/* h[r, :cols] = v for each of rows rows of stride ld (biases before a product adds to them). */
void k_fill_rows(int rows, int cols, int ld, const real *v, real *h);

#endif
