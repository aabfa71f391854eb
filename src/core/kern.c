#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, MADV_HUGEPAGE */
#include "core/kern.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/cpus.h"
#include "core/clock.h"

/* The element-wise loops are built twice, for AVX2 and for any x86-64; the
 * loader picks one for the CPU it runs on (a portable binary that still
 * uses 8-wide vectors). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define NF_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NF_VECTOR_CLONES
#endif

#if defined(__x86_64__) && defined(__GLIBC__) && !defined(NF_REAL_DOUBLE)
/* glibc's vector versions (libmvec, x86-64) of these, for the vectorised
 * loops below; the double build keeps the scalar ones */
#pragma omp declare simd notinbranch
float expf(float);
#pragma omp declare simd notinbranch
float tanhf(float);
#if __GLIBC_PREREQ(2, 35) /* libmvec's log1pf came in 2.35 */
#pragma omp declare simd notinbranch
float log1pf(float);
#endif
#endif

/* Each buffer is a mapping of its own, the data aligned to 2 MiB (to a
 * page below that) after a header page that records the mapping. Under
 * AddressSanitizer plain calloc, so that overruns are still caught. */
#if defined(__SANITIZE_ADDRESS__) || !defined(MAP_ANONYMOUS)
void *k_alloc(size_t bytes) { return calloc(bytes ? bytes : 1, 1); }
void k_free(void *p) { free(p); }
#else
typedef struct mapping {
    void *base;
    size_t len;
} mapping;

enum { PAGE_BYTES = 4096, HUGE_BYTES = 2 << 20 };

void *k_alloc(size_t bytes)
{
    size_t align = bytes >= HUGE_BYTES ? HUGE_BYTES : PAGE_BYTES, len = bytes + align + PAGE_BYTES;
    if (len < bytes)
        return NULL;
    unsigned char *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)
        return NULL;
    uintptr_t data = ((uintptr_t)base + PAGE_BYTES + align - 1) & ~(uintptr_t)(align - 1);
    mapping *m = (mapping *)(data - sizeof *m);
    m->base = base;
    m->len = len;
#ifdef MADV_HUGEPAGE
    if (align == HUGE_BYTES)
        madvise(base, len, MADV_HUGEPAGE); /* advice: refused or not, the memory works */
#endif
    return (void *)data;
}

void k_free(void *p)
{
    if (!p)
        return;
    const mapping *m = (const mapping *)((uintptr_t)p - sizeof(mapping));
    munmap(m->base, m->len);
}
#endif

static int team_size;   /* 0: not decided yet */
static int team_chosen; /* 1: the caller's count (nf_set_threads), which k_adapt_threads leaves alone */
static int team_max;    /* the default team's size, what k_adapt_threads may grow back to */
static unsigned team_flush = 0; /* the flush bits k_fast_fp_begin gave the team (0: none) */

/* How often k_adapt_threads looks at the machine (a read of /proc: ~50 us). */
#define ADAPT_SECONDS 0.25

static int clamp_team(int n) { return n < 1 ? 1 : n > K_MAX_THREADS ? K_MAX_THREADS : n; }

void k_set_threads(int n)
{
    team_size = clamp_team(n);
    team_chosen = 1;
}

/* The default team: the caller's OMP_NUM_THREADS when set (their OpenMP
 * settings stay theirs), else what the process may use (core/cpus.c): a
 * team larger than its processors spins at every barrier while its
 * threads wait for a turn (4x slower for two trainings on 2 cores). */
static int default_team(void)
{
    if (getenv("OMP_NUM_THREADS"))
        return omp_get_max_threads();
    char why[256];
    return cpus_usable(why, sizeof why);
}

void k_default_threads(void)
{
    team_max = team_size = clamp_team(default_team());
    team_chosen = getenv("OMP_NUM_THREADS") != NULL; /* the caller's count stays theirs */
}

static int team_one; /* 1: the step running now is on one thread (k_probe_step) */

int k_threads(void)
{
    if (!team_size)
        k_default_threads();
    return team_one ? 1 : team_size;
}

#if defined(__x86_64__) || defined(__SSE2__)
#include <xmmintrin.h>
enum { FLUSH_BITS = 0x8040 }; /* MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6) */

/* How many of OpenMP's threads hold flush bits nflow set (0: none). */
static int team_flushed;

/* The flush bits set to `bits` on every thread of the current team and on
 * those an earlier, larger team left them on. A one-thread caller starts
 * no team for it (a team of 2 cost `nflow sample --threads 1` 5 of its
 * 31 ms, the second thread spinning). */
static void set_team_flush(unsigned bits)
{
    int n = k_threads() > team_flushed ? k_threads() : team_flushed;
    if (n > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(n)
        _mm_setcsr((_mm_getcsr() & ~(unsigned)FLUSH_BITS) | bits);
    }
    team_flushed = bits ? n : 0;
}

unsigned k_fast_fp_begin(void)
{
    unsigned saved = _mm_getcsr();
    _mm_setcsr(saved | FLUSH_BITS);
    set_team_flush(FLUSH_BITS);
    team_flush = FLUSH_BITS;
    return saved;
}

void k_fast_fp_end(unsigned saved)
{
    set_team_flush(saved & FLUSH_BITS);
    _mm_setcsr(saved);
    team_flush = 0;
}

static void team_grown(void)
{
    if (team_flush)
        set_team_flush(team_flush);
}
#else
unsigned k_fast_fp_begin(void) { return 0; }
void k_fast_fp_end(unsigned saved) { (void)saved; }
static void team_grown(void) {}
#endif

void k_adapt_threads(void)
{
    /* A sleeping team (OMP_WAIT_POLICY=passive, as the tool and Python set
     * it) adapts too: beside a busy loop per processor on a 2-core VM its
     * 2 threads took 1.4-3.8 s where one took 1.6-2.2 (a region's join
     * waits for a thread to get a processor back), shrunk to 1 thread
     * 1.9-2.2 s. */
    if (team_chosen || team_max <= 1 || omp_in_parallel())
        return;
    static double last = -1;
    double t = clock_seconds();
    if (last >= 0 && t - last < ADAPT_SECONDS)
        return;
    last = t;
    int busy = cpus_busy_elsewhere();
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (busy < 0 || online < 1)
        return;
    int n = (int)(online - busy < team_max ? online - busy : team_max);
    n = n < 1 ? 1 : n;
    int grown = n > team_size;
    team_size = n;
    if (grown)
        team_grown();
}

enum { PROBE_WARM = 2, PROBE_EACH = 4 }; /* untimed first steps (allocations, caches); timed steps per side */

void k_probe_step(k_probe *p)
{
    double now = clock_seconds();
    if (p->began > 0) { /* the step that ended was timed */
        int side = !p->one;
        if (!p->timed[side]++ || now - p->began < p->best[side])
            p->best[side] = now - p->began;
    }
    team_one = 0;
    k_adapt_threads();
    if (!p->decided && (team_chosen || team_max <= 1 || omp_in_parallel()))
        p->decided = 1;
    if (!p->decided && p->timed[0] >= PROBE_EACH && p->timed[1] >= PROBE_EACH)
        p->decided = p->best[0] < 0.9 * p->best[1] ? 2 : 1;
    int trying = 0;
    if (!p->decided && p->warm < PROBE_WARM)
        p->warm++;
    else if (!p->decided) /* a team shrunk to one thread (a busy machine) has nothing to compare: wait */
        trying = k_threads() > 1;
    p->one = p->decided == 2 || (trying && p->timed[0] <= p->timed[1]); /* the sides in turn */
    team_one = p->one;
    p->began = trying ? clock_seconds() : 0;
}

void k_probe_pause(k_probe *p)
{
    team_one = 0;
    p->began = 0;
}

const char *k_blas_config(void) { return openblas_get_config(); }
const char *k_blas_kernel(void) { return openblas_get_corename(); }

/* Outside nflow's regions the caller's setting would let the BLAS split a
 * product: the calling thread's own setting is 1 for the call, then theirs
 * again (a region of one thread did this at the cost of a futex call). */
static int blas_alone_begin(void)
{
    int saved = omp_get_max_threads();
    if (saved > 1 && !omp_in_parallel())
        omp_set_num_threads(1);
    return saved;
}

static void blas_alone_end(int saved)
{
    if (saved > 1 && !omp_in_parallel())
        omp_set_num_threads(saved);
}

static void gemm(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a, int lda, const real *b,
                 int ldb, real beta, real *c, int ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) { /* a network with no inputs (a one-column coupling without context): C = beta C */
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
                c[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * c[(size_t)i * ldc + j];
        return;
    }
#ifdef NF_REAL_DOUBLE
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, a, lda, b, ldb, beta, c, ldc);
#else
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

void k_gemm(int trans_a, int trans_b, int m, int n, int k, real alpha, const real *a, int lda, const real *b,
            int ldb, real beta, real *c, int ldc)
{
    int saved = blas_alone_begin();
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    blas_alone_end(saved);
}

void k_gemm_f64(int trans_a, int trans_b, int m, int n, int k, double alpha, const double *a, int lda,
                const double *b, int ldb, double beta, double *c, int ldc)
{
    if (m <= 0 || n <= 0 || k <= 0)
        return;
    int saved = blas_alone_begin();
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
                alpha, a, lda, b, ldb, beta, c, ldc);
    blas_alone_end(saved);
}

#ifdef NF_REAL_DOUBLE
#define TRMM cblas_dtrmm
#define TRSM cblas_dtrsm
#else
#define TRMM cblas_strmm
#define TRSM cblas_strsm
#endif

static void triangular(int solve, int left, int upper, int trans, int unit, int m, int n, const real *a, int lda,
                       real *b, int ldb)
{
    (solve ? TRSM : TRMM)(CblasRowMajor, left ? CblasLeft : CblasRight, upper ? CblasUpper : CblasLower,
                          trans ? CblasTrans : CblasNoTrans, unit ? CblasUnit : CblasNonUnit, m, n, 1, a, lda, b,
                          ldb);
}

void k_triangular(int solve, int left, int upper, int trans, int unit, int m, int n, const real *a, int lda,
                  real *b, int ldb)
{
    int saved = blas_alone_begin();
    triangular(solve, left, upper, trans, unit, m, n, a, lda, b, ldb);
    blas_alone_end(saved);
}

/* The block versions loop over rows inside one clone: a call per row of a
 * narrow panel cost more than the arithmetic. */
NF_VECTOR_CLONES void k_bias_activate_block(int act, int rows, int cols, int ld, const real *bias, real *h)
{
    for (int r = 0; r < rows; r++) {
        real *row = h + (size_t)r * ld;
        if (act == K_ACT_RELU) {
#pragma omp simd
            for (int j = 0; j < cols; j++) {
                real v = row[j] + bias[j];
                row[j] = v > 0 ? v : 0;
            }
        } else if (act == K_ACT_TANH) {
            for (int j = 0; j < cols; j++)
                row[j] = r_tanh(row[j] + bias[j]);
        } else {
#pragma omp simd
            for (int j = 0; j < cols; j++)
                row[j] += bias[j];
        }
    }
}

NF_VECTOR_CLONES void k_activate_backward_block(int act, int rows, int cols, int ld, const real *h, real *dh)
{
    for (int r = 0; r < rows; r++) {
        const real *hr = h + (size_t)r * ld;
        real *dr = dh + (size_t)r * ld;
        if (act == K_ACT_RELU) {
#pragma omp simd
            for (int j = 0; j < cols; j++)
                dr[j] = hr[j] > 0 ? dr[j] : 0;
        } else {
#pragma omp simd
            for (int j = 0; j < cols; j++)
                dr[j] *= 1 - hr[j] * hr[j];
        }
    }
}

/* Kept when a hash's top 24 bits reach rate 2^24 (rate < 1): a 64-bit
 * mix of (key, layer, row) once per row, then a 32-bit one (murmur3's
 * finaliser) per unit, which vectorises on AVX2 too. */
static inline uint32_t dropout_threshold(real rate) { return (uint32_t)((double)rate * (1 << 24) + 0.5); }

static inline uint32_t dropout_row_seed(uint64_t key, int layer, size_t row)
{
    return (uint32_t)(k_mix64(key + (((uint64_t)layer << 52) ^ (uint64_t)row)) >> 32);
}

static inline int dropout_kept(uint32_t row_seed, int unit, uint32_t threshold)
{
    uint32_t h = row_seed + (uint32_t)unit * 0x9e3779b9u;
    h = (h ^ (h >> 16)) * 0x85ebca6bu;
    h = (h ^ (h >> 13)) * 0xc2b2ae35u;
    h ^= h >> 16;
    return (h >> 8) >= threshold;
}

NF_VECTOR_CLONES void k_dropout_forward(const k_dropout *d, int layer, int rows, int cols, int ld, size_t row0,
                                        int col0, real *h)
{
    if (!(d->rate > 0))
        return;
    uint32_t threshold = dropout_threshold(d->rate);
    real scale = 1 / (1 - d->rate);
    for (int r = 0; r < rows; r++) {
        real *hr = h + (size_t)r * ld;
        uint32_t seed = dropout_row_seed(d->key, layer, d->first_row + row0 + (size_t)r);
#pragma omp simd
        for (int j = 0; j < cols; j++) {
            real m = dropout_kept(seed, col0 + j, threshold) ? scale : 0; /* a select, so that it vectorises */
            hr[j] *= m;
        }
    }
}

NF_VECTOR_CLONES void k_dropout_activate_backward(const k_dropout *d, int act, int layer, int rows, int cols, int ld,
                                                  size_t row0, int col0, const real *h, real *dh)
{
    if (!(d->rate > 0)) {
        k_activate_backward_block(act, rows, cols, ld, h, dh);
        return;
    }
    uint32_t threshold = dropout_threshold(d->rate);
    real scale = 1 / (1 - d->rate), keep = 1 - d->rate;
    for (int r = 0; r < rows; r++) {
        const real *hr = h + (size_t)r * ld;
        real *dr = dh + (size_t)r * ld;
        uint32_t seed = dropout_row_seed(d->key, layer, d->first_row + row0 + (size_t)r);
        if (act == K_ACT_RELU) {
#pragma omp simd
            for (int j = 0; j < cols; j++) {
                real m = dropout_kept(seed, col0 + j, threshold) && hr[j] > 0 ? scale : 0;
                dr[j] *= m;
            }
        } else {
#pragma omp simd
            for (int j = 0; j < cols; j++) {
                real a = hr[j] * keep; /* the unit's output before the scaling */
                real m = dropout_kept(seed, col0 + j, threshold) ? scale : 0;
                dr[j] *= m * (1 - a * a);
            }
        }
    }
}

/* In blocks that vectorise (no early exit inside one): x - x is 0 for a
 * finite x and NaN otherwise. */
NF_VECTOR_CLONES size_t k_first_nonfinite(size_t n, const real *x)
{
    enum { BLOCK = 1024 };
    for (size_t b = 0; b < n; b += BLOCK) {
        size_t e = n - b < BLOCK ? n : b + BLOCK;
        real probe = 0;
#pragma omp simd reduction(+ : probe)
        for (size_t i = b; i < e; i++)
            probe += x[i] - x[i];
        if (probe != 0 || probe != probe)
            for (size_t i = b; i < e; i++)
                if (!isfinite(x[i]))
                    return i;
    }
    return n;
}

NF_VECTOR_CLONES void k_add_rows(int rows, int cols, const real *src, size_t ld, real *dst)
{
    for (int r = 0; r < rows; r++) {
        const real *restrict row = src + (size_t)r * ld;
        real *restrict out = dst;
#pragma omp simd
        for (int j = 0; j < cols; j++)
            out[j] += row[j];
    }
}

NF_VECTOR_CLONES int k_all_zero(size_t n, const real *x)
{
    int nonzero = 0;
#pragma omp simd reduction(| : nonzero)
    for (size_t i = 0; i < n; i++)
        nonzero |= x[i] != 0;
    return !nonzero;
}

NF_VECTOR_CLONES double k_adam_sum_squares(size_t n, const real *g, const real *p, real wd)
{
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (size_t i = 0; i < n; i++) {
        real gi = g[i] + wd * p[i];
        s += (double)gi * gi;
    }
    return s;
}

/* Adam (Kingma & Ba) with the bias corrections folded into step = lr / (1 -
 * b1^t) and vfix = 1 / (1 - b2^t); b1 = 0.9, b2 = 0.999, eps = 1e-8. */
NF_VECTOR_CLONES void k_adam_apply(size_t n, real *p, real *g, real *m, real *v, real wd, real scale, real step,
                                   real vfix)
{
    const real b1 = (real)0.9, b2 = (real)0.999, eps = (real)1e-8;
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        real gi = (g[i] + wd * p[i]) * scale;
        g[i] = 0;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] -= step * m[i] / (r_sqrt(v[i] * vfix) + eps);
    }
}

/* Values per pass of k_spline_prepare: the values are the vector lanes
 * (two AVX2 vectors), so that the maxima, sums and the softmax's and
 * softplus's exp and log run across values, not along one value's 8 or so
 * bins; a value's parameters are gathered into a column of the block. */
enum { SPLINE_LANES = 16 };

NF_VECTOR_CLONES void k_spline_prepare(int n, int bins, real shift, real *v, size_t stride)
{
    int per = 3 * bins - 1;
    real u[3 * K_SPLINE_MAX_BINS - 1][SPLINE_LANES], top[SPLINE_LANES], sum[SPLINE_LANES];
    for (int i0 = 0; i0 < n; i0 += SPLINE_LANES) {
        int count = n - i0 < SPLINE_LANES ? n - i0 : SPLINE_LANES;
        for (int i = 0; i < SPLINE_LANES; i++) {
            const real *value = v + (size_t)(i0 + (i < count ? i : 0)) * stride; /* spare lanes: a copy */
            for (int j = 0; j < per; j++)
                u[j][i] = value[j];
        }
        for (int half = 0; half < 2; half++) { /* softmax of the widths, then of the heights */
            real(*g)[SPLINE_LANES] = u + half * bins;
#pragma omp simd
            for (int i = 0; i < SPLINE_LANES; i++)
                top[i] = g[0][i], sum[i] = 0;
            for (int j = 1; j < bins; j++)
#pragma omp simd
                for (int i = 0; i < SPLINE_LANES; i++)
                    top[i] = g[j][i] > top[i] ? g[j][i] : top[i];
            for (int j = 0; j < bins; j++)
#pragma omp simd
                for (int i = 0; i < SPLINE_LANES; i++) {
                    g[j][i] = r_exp(g[j][i] - top[i]);
                    sum[i] += g[j][i];
                }
#pragma omp simd
            for (int i = 0; i < SPLINE_LANES; i++)
                sum[i] = 1 / sum[i];
            for (int j = 0; j < bins; j++)
#pragma omp simd
                for (int i = 0; i < SPLINE_LANES; i++)
                    g[j][i] *= sum[i];
        }
        /* the derivatives: softplus(a) = max(a, 0) + log1p(e^-|a|), a = raw + shift */
        for (int j = 2 * bins; j < per; j++)
#pragma omp simd
            for (int i = 0; i < SPLINE_LANES; i++) {
                real a = u[j][i] + shift;
                u[j][i] = (a > 0 ? a : 0) + r_log1p(r_exp(a > 0 ? -a : a));
            }
        for (int i = 0; i < count; i++) {
            real *value = v + (size_t)(i0 + i) * stride;
            for (int j = 0; j < per; j++)
                value[j] = u[j][i];
        }
    }
}

NF_VECTOR_CLONES void k_bound_in_place(int n, real *v, size_t stride, real bound)
{
    real inv = 1 / bound;
#pragma omp simd
    for (int i = 0; i < n; i++)
        v[(size_t)i * stride] = bound * r_tanh(v[(size_t)i * stride] * inv);
}

NF_VECTOR_CLONES void k_bound_exp(int n, const real *raw, int stride, real bound, real sign, real *alpha, real *e)
{
    if (bound > 0) {
        real inv = 1 / bound;
#pragma omp simd
        for (int i = 0; i < n; i++)
            alpha[i] = bound * r_tanh(raw[(size_t)i * stride] * inv);
    } else {
#pragma omp simd
        for (int i = 0; i < n; i++)
            alpha[i] = raw[(size_t)i * stride];
    }
#pragma omp simd
    for (int i = 0; i < n; i++)
        e[i] = r_exp(sign * alpha[i]);
}
