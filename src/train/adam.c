/* Adam (Kingma & Ba 2015) with L2 weight decay added to the gradient and
 * global gradient-norm clipping, over one flat parameter vector. */
#include "train/adam.h"

#include <math.h>
#include <string.h>

#include "core/kern.h"

/* Adam's passes go by fixed chunks of the parameters (at most ADAM_CHUNKS
 * of at least ADAM_MIN_CHUNK), threads taking whole chunks and the norm's
 * partial sums added in chunk order: the same bits at any thread count.
 * The step is memory-bound: two passes (the norm of the decayed gradient,
 * then the update, which decays it again and zeroes the gradient it
 * read) instead of writing the decayed gradient back. */
enum { ADAM_CHUNKS = 256, ADAM_MIN_CHUNK = 1 << 15 };

static void sum_squares(int chunks, size_t size, size_t n, const real *g, const real *p, real wd, double *partial)
{
#pragma omp for schedule(static) nowait
    for (int c = 0; c < chunks; c++) {
        size_t lo = (size_t)c * size, len = n - lo < size ? n - lo : size;
        partial[c] = k_adam_sum_squares(len, g + lo, p + lo, wd);
    }
}

/* The first live range that ends after `at`. */
static size_t first_range_after(const flow_live *live, size_t at)
{
    size_t lo = 0, hi = live->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (live->ranges[2 * mid + 1] > at)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static void apply(int chunks, size_t size, size_t n, real *p, real *g, real *m, real *v, const flow_live *live,
                  real wd, real scale, real step, real vfix)
{
#pragma omp for schedule(static) nowait
    for (int c = 0; c < chunks; c++) {
        size_t lo = (size_t)c * size, hi = n - lo < size ? n : lo + size;
        if (!live) {
            k_adam_apply(hi - lo, p + lo, g + lo, m + lo, v + lo, wd, scale, step, vfix);
            continue;
        }
        for (size_t i = first_range_after(live, lo); i < live->count && live->ranges[2 * i] < hi; i++) {
            size_t a = live->ranges[2 * i] > lo ? live->ranges[2 * i] : lo;
            size_t b = live->ranges[2 * i + 1] < hi ? live->ranges[2 * i + 1] : hi;
            k_adam_apply(b - a, p + a, g + a, m + a, v + a, wd, scale, step, vfix);
        }
    }
}

nf_status adam_step(size_t n, real *p, real *g, real *m, real *v, int64_t *t, const flow_live *live, double lr,
                    double weight_decay, double clip_norm)
{
    size_t size = n / ADAM_CHUNKS + 1;
    if (size < ADAM_MIN_CHUNK)
        size = ADAM_MIN_CHUNK;
    int chunks = (int)((n + size - 1) / size);
    real wd = weight_decay > 0 ? (real)weight_decay : 0;
    double partial[ADAM_CHUNKS + 1];
    K_RUN(chunks > 1, sum_squares(chunks, size, n, g, p, wd, partial));
    double norm2 = 0;
    for (int c = 0; c < chunks; c++)
        norm2 += partial[c];
    if (!isfinite(norm2)) {
        memset(g, 0, sizeof(real) * n);
        return NF_ERR_NONFINITE;
    }
    real scale = 1;
    if (clip_norm > 0 && norm2 > clip_norm * clip_norm)
        scale = (real)(clip_norm / sqrt(norm2));
    ++*t;
    double c1 = 1 - pow(0.9, (double)*t), c2 = 1 - pow(0.999, (double)*t);
    real step = (real)(lr / c1), vfix = (real)(1 / c2);
    K_RUN(chunks > 1, apply(chunks, size, n, p, g, m, v, live, wd, scale, step, vfix));
    return NF_OK;
}
