/* The arithmetic boundary: matrix products and element-wise kernels on
 * row-major buffers. Everything heavy in the layers goes through here, so a
 * later backend (GPU, MPI) replaces this file's implementation only. */
#ifndef NF_KERN_H
#define NF_KERN_H

#include <omp.h>
#include <stddef.h>
#include <stdint.h>

#include "core/real.h"
#include "nflow.h"

/* Threads: one OpenMP team does all the parallel work, and every result is
 * the same bits at any thread count and with any BLAS kernel. Work is cut
 * into pieces whose shapes never depend on how many threads run: rows into
 * tiles (k_row_tile), a layer's units into fixed panels, and a weight
 * gradient's sum over the batch belongs to one panel. Threads take whole
 * pieces, and each piece calls the BLAS single-threaded, so every number
 * comes from the same product of the same shape whichever thread computes
 * it (a BLAS computes a product's edge tiles, and small products, by other
 * code paths than the rest: a cut that moved with the thread count moved
 * the rounding). */

/* nflow's team size (default: omp_get_max_threads() when first asked,
 * bounded by K_MAX_THREADS). Call from outside parallel regions. */
enum { K_MAX_THREADS = NF_MAX_THREADS };
void k_set_threads(int n);
int k_threads(void);
/* Back to the default team (the caller's OMP_NUM_THREADS, else what the
 * process may use). */
void k_default_threads(void);
/* At a point between parallel regions (a training step's start): a
 * default team (not a count the caller set, nor OMP_NUM_THREADS), its
 * threads spinning or sleeping at the barriers, shrinks
 * to the processors other processes leave free, at least 1, and grows
 * back as they leave, looking at most every 0.25 s. A team larger than its
 * free processors waits at every barrier for threads that wait for a
 * processor. Results are the same bits at any count. */
void k_adapt_threads(void);

/* A training run's trial of its default team against one thread. A small
 * model's step is many barriers around little work, and a team can take
 * several times one thread's time there (MAGIC's MAF, 2 threads on a
 * 2-vCPU VM: 7x). Results are the same bits at any count, so the run may
 * take the faster: k_probe_step, at each step's start (it calls
 * k_adapt_threads), times steps from the third on, one thread and the team
 * in turn, until each side has 4, and where one thread's fastest step took
 * under 0.9 of the team's, runs the rest of the run on one thread. Steps
 * on which the team is one thread anyway (other work holds the
 * processors) are not timed: the trial waits for the team to come back. A
 * count the caller chose is never tried. k_probe_pause gives the team back
 * (between a paused run's slices, and at its end). One k_probe per run:
 * the race's runs interleave. */
typedef struct k_probe {
    int warm;       /* untimed steps begun (up to 2) */
    int decided;    /* 0: trying; 1: the team; 2: one thread */
    int one;        /* the step running now is on one thread */
    int timed[2];   /* steps timed: [0] on one thread, [1] on the team (up to 4 each) */
    double began;   /* when the step running now began, when it is timed (else 0) */
    double best[2]; /* the fastest timed step of each side */
} k_probe;
void k_probe_step(k_probe *p);
void k_probe_pause(k_probe *p);

#define K_PRAGMA(x) _Pragma(#x)

/* First statement of every nflow parallel region: holds the BLAS called
 * inside it to one thread (OpenBLAS's OpenMP build follows the calling
 * task's omp_get_max_threads()) by setting the region's own ICV; the
 * caller's OpenMP settings are not touched. */
static inline void k_region_begin(void) { omp_set_num_threads(1); }

/* Whether to start a parallel region for work `worth` it: only with more
 * than one thread. A region of one thread still pays libgomp's barriers, a
 * futex system call each (on this project's VMs 13% of a one-thread
 * training step's time); without a region the body's worksharing loops,
 * orphaned, run whole on the calling thread with no barrier. Inside a
 * caller's region an orphaned loop would bind to the caller's team, so
 * there nflow starts its own region always. */
static inline int k_team(int worth) { return (worth && k_threads() > 1) || omp_get_level() > 0; }
/* Runs `call` (whose loops are `omp for`) as an nflow region when k_team
 * says so, else on the calling thread alone. */
#define K_RUN(worth, call)                                                                                   \
    do {                                                                                                      \
        if (k_team(worth)) {                                                                                  \
            K_PRAGMA(omp parallel num_threads(k_threads()))                                                   \
            {                                                                                                 \
                k_region_begin();                                                                             \
                call;                                                                                         \
            }                                                                                                 \
        } else {                                                                                              \
            call;                                                                                             \
        }                                                                                                     \
    } while (0)

/* Denormal floats (below 1.2e-38) cost a hundred times a normal operation
 * on x86 CPUs, and training makes them: the weights into a dead unit decay
 * geometrically under weight decay and Adam, through the denormal range,
 * and their products with the activations fall there too; late in a
 * BSDS300 run they doubled MAF's epoch. Every public call that computes
 * runs between these two: the calling thread and nflow's worker threads
 * flush denormal results and inputs to zero (SSE's FTZ and DAZ), then get
 * the caller's setting back. Call from outside parallel regions; elsewhere
 * than x86-64 they do nothing. */
unsigned k_fast_fp_begin(void);
void k_fast_fp_end(unsigned saved);

/* Whether work of this many FLOPs is worth a parallel region (a region
 * costs a few microseconds; below this the threads would mostly wait). */
static inline int k_worth_threads(double flops) { return flops > 4e5; }

/* Whether an element-wise pass over this many values (a few flops each:
 * exp, tanh, a log-density term) is worth a parallel region. Rows are
 * independent in such passes, so splitting them changes no bit. */
static inline int k_worth_elements(size_t n) { return n >= 8192; }
/* Before a loop over independent rows doing about `elements` such values. */
#define K_PARALLEL_ROWS(elements)                                                                             \
    K_PRAGMA(omp parallel for schedule(static) num_threads(k_threads()) if (k_worth_elements(elements)))

/* Rows per tile, the unit of every row-parallel product, for a call on
 * `rows` rows: 128, or 256 from 1,024 rows on (evaluation chunks), where
 * tiles are plentiful and each tile re-copies (packs) the weights it
 * multiplies. A function of the rows alone, never of the thread count. */
enum { K_ROW_TILE = 128 };
static inline int k_row_tile(int rows) { return rows >= 1024 ? 2 * K_ROW_TILE : K_ROW_TILE; }
static inline int k_tiles(int n, int size) { return (n + size - 1) / size; }
/* Part k of [0, n) cut into `parts` near-equal parts (panels of units,
 * whose count depends on n only): [*lo, *hi). */
static inline void k_part(int n, int parts, int k, int *lo, int *hi)
{
    *lo = (int)((long)k * n / parts);
    *hi = (int)((long)(k + 1) * n / parts);
}
/* Tile t of [0, n) cut into tiles of `size`: [*lo, *hi). */
static inline void k_tile(int n, int size, int t, int *lo, int *hi)
{
    *lo = t * size;
    *hi = n - *lo < size ? n : *lo + size;
}

/* Buffers of the arithmetic (parameters, activations): zeroed, their pages
 * touched only when used, and from 2 MiB on backed by transparent huge
 * pages where the system allows: a model's first pass would otherwise
 * fault in tens of megabytes 4 KiB at a time (a fifth of sampling 1,000
 * rows from a 7 MB model). NULL when out of memory; k_free(NULL) is fine. */
void *k_alloc(size_t bytes);
void k_free(void *p);

/* The BLAS's description of itself and the kernel family it runs. */
const char *k_blas_config(void);
const char *k_blas_kernel(void);

/* C = alpha * op(A) op(B) + beta * C, row-major; op(A) is M x K, op(B) K x N.
 * Always single-threaded (outside nflow's regions too). */
void k_gemm(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a, int lda, const real *b,
            int ldb, real beta, real *c, int ldc);
/* k_gemm in double whatever `real` is (a Gaussian mixture's EM and
 * density: Mahalanobis sums of tight components need the digits). */
void k_gemm_f64(int trans_a, int trans_b, int m, int n, int k, double alpha, const double *a, int lda,
                const double *b, int ldb, double beta, double *c, int ldc);
/* B = op(T) B (left) or B op(T) (right) for a triangular T (upper or
 * lower; unit: its diagonal is taken as ones and not read); solve: B =
 * op(T)^-1 B or B op(T)^-1 instead. B is m x n, row-major. Single-threaded
 * like k_gemm. */
void k_triangular(int solve, int left, int upper, int trans, int unit, int m, int n, const real *a, int lda,
                  real *b, int ldb);
enum { K_ACT_NONE = -1, K_ACT_RELU = 0, K_ACT_TANH = 1 };
/* On a rows x cols block of a matrix with row stride ld (a panel of
 * units): h = act(h + bias) (act K_ACT_NONE: the bias only), and dh *=
 * f'(.) through the outputs h. */
void k_bias_activate_block(int act, int rows, int cols, int ld, const real *bias, real *h);
void k_activate_backward_block(int act, int rows, int cols, int ld, const real *h, real *dh);
/* Dropout of hidden units while training (inverted: a kept unit is
 * scaled by 1 / (1 - rate), so evaluation changes nothing). Unit u of
 * hidden layer `layer` in row r of the batch is dropped when a hash of
 * (key, layer, r, u) falls below the rate: the backward pass redraws the
 * same mask, whatever the threads or the blocks, and none is stored. rate
 * 0: off. The rows and units of a block start at row0 and col0 (rows
 * counted from first_row). */
typedef struct k_dropout {
    real rate;
    uint64_t key;
    size_t first_row; /* the batch's row that this pass's row 0 is (a process's share of it) */
} k_dropout;
static inline uint64_t k_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
/* h *= mask / (1 - rate) on a block of post-activation units (rate 0:
 * nothing). */
void k_dropout_forward(const k_dropout *d, int layer, int rows, int cols, int ld, size_t row0, int col0, real *h);
/* k_activate_backward_block for units that went through k_dropout_forward
 * (h: the block's stored, dropped and scaled outputs): dh = dL/d(output)
 * becomes dL/d(pre-activation); rate 0: k_activate_backward_block itself. */
void k_dropout_activate_backward(const k_dropout *d, int act, int layer, int rows, int cols, int ld, size_t row0,
                                 int col0, const real *h, real *dh);
/* The log-scales of an affine autoregressive step: alpha[i] = bound
 * tanh(raw[i stride] / bound) (raw itself when bound <= 0) and e[i] =
 * exp(sign alpha[i]), in vectors (glibc's libmvec: the scalar libm calls
 * were a tenth of a MAF density pass). */
void k_bound_exp(int n, const real *raw, int stride, real bound, real sign, real *alpha, real *e);
/* v[i stride] = bound tanh(v[i stride] / bound) in place, i < n (bound > 0),
 * in vectors: the spline blocks' log-scales. */
void k_bound_in_place(int n, real *v, size_t stride, real bound);
/* d alpha / d raw of alpha = bound tanh(raw / bound), from alpha itself:
 * 1 - (alpha / bound)^2 (1 when bound <= 0, unbounded). */
static inline real k_bound_slope(real bound, real alpha)
{
    real t = bound > 0 ? alpha / bound : 0;
    return 1 - t * t;
}
/* The rational-quadratic splines' parameters (src/core/rq_spline.h), in
 * place, for n values of 3 bins - 1 each, value i at v + i stride: a
 * softmax over each value's first bins, another over its next bins, and
 * softplus(v + shift) over its last bins - 1, in vectors as k_bound_exp. */
void k_spline_prepare(int n, int bins, real shift, real *v, size_t stride);
/* Most bins k_spline_prepare takes (its buffers are sized by it). */
#define K_SPLINE_MAX_BINS NF_MAX_BINS
/* Adam's two passes over a chunk of the parameters (src/train/adam.c splits
 * them): the sum of squares of the decayed gradient g + wd p, then the
 * step with that gradient times scale (the clipping), moments m and v,
 * which zeroes g (consumed). */
double k_adam_sum_squares(size_t n, const real *g, const real *p, real wd);
void k_adam_apply(size_t n, real *p, real *g, real *m, real *v, real wd, real scale, real step, real vfix);
/* dst[j] += the sum of src[r][j] over the rows r = 0..rows-1, added in
 * row order (a bias's gradient: the same bits as a plain loop). */
void k_add_rows(int rows, int cols, const real *src, size_t ld, real *dst);
/* The index of the first of n values that is NaN or infinite, or n. */
size_t k_first_nonfinite(size_t n, const real *x);
/* Whether every one of n values is exactly zero. */
int k_all_zero(size_t n, const real *x);
#endif
