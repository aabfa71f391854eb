#include "core/base.h"

#include <math.h>
#include <string.h>

#include "core/kern.h"

static const char *const names[] = {"normal", "logistic", "uniform"};

const char *base_name(nf_base kind) { return (unsigned)kind < 3 ? names[kind] : "?"; }

int base_from_name(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

void base_log_prob(const base_density *b, int rows, int dim, const real *z, double *out)
{
    const double half_log_2pi = 0.91893853320467274178;
    K_PARALLEL_ROWS((size_t)rows * dim)
    for (int r = 0; r < rows; r++) {
        const real *zr = z + (size_t)r * dim;
        double acc = 0;
        switch (b->kind) {
        case NF_BASE_NORMAL:
            for (int i = 0; i < dim; i++)
                acc += (double)zr[i] * zr[i];
            acc = -0.5 * acc - dim * half_log_2pi;
            break;
        case NF_BASE_LOGISTIC:
            /* log p(z) = -|z| - 2 log(1 + exp(-|z|)) */
            for (int i = 0; i < dim; i++) {
                double a = fabs((double)zr[i]);
                acc += -a - 2 * log1p(exp(-a));
            }
            break;
        case NF_BASE_UNIFORM:
            acc = -dim * log(b->hi - b->lo);
            for (int i = 0; i < dim; i++)
                if (!(zr[i] >= b->lo && zr[i] <= b->hi))
                    acc = -INFINITY;
            break;
        }
        out[r] = acc;
    }
}

void base_grad(const base_density *b, int rows, int dim, const real *z, real scale, real *dz)
{
    size_t n = (size_t)rows * dim;
    switch (b->kind) {
    case NF_BASE_NORMAL:
        for (size_t k = 0; k < n; k++)
            dz[k] = -scale * z[k];
        break;
    case NF_BASE_LOGISTIC:
        K_PARALLEL_ROWS(n)
        for (size_t k = 0; k < n; k++)
            dz[k] = -scale * r_tanh(z[k] / 2);
        break;
    case NF_BASE_UNIFORM:
        for (size_t k = 0; k < n; k++)
            dz[k] = 0;
        break;
    }
}

/* Rows in blocks of SAMPLE_BLOCK, each drawn from its own stream seeded by
 * one draw of r and the block's index: threads take whole blocks, so the
 * draws are the same at any thread count (and r moves on by one draw). */
enum { SAMPLE_BLOCK = 64 };

void base_sample(const base_density *b, rng *r, int rows, int dim, real *z)
{
    base_sample_at(b, rng_next(r), 0, rows, dim, z);
}

void base_sample_at(const base_density *b, uint64_t key, size_t first_row, int rows, int dim, real *z)
{
    int blocks = k_tiles(rows, SAMPLE_BLOCK);
    uint64_t first_block = (uint64_t)(first_row / SAMPLE_BLOCK);
    K_PARALLEL_ROWS((size_t)rows * dim * 8)
    for (int blk = 0; blk < blocks; blk++) {
        rng own;
        rng_seed(&own, key ^ (0x9e3779b97f4a7c15ULL * (first_block + (uint64_t)blk + 1)));
        int r0, r1;
        k_tile(rows, SAMPLE_BLOCK, blk, &r0, &r1);
        for (size_t k = (size_t)r0 * dim; k < (size_t)r1 * dim; k++) {
            switch (b->kind) {
            case NF_BASE_NORMAL:
                z[k] = (real)rng_normal(&own);
                break;
            case NF_BASE_LOGISTIC: {
                double u = rng_uniform_open(&own);
                z[k] = (real)log(u / (1 - u));
                break;
            }
            case NF_BASE_UNIFORM:
                z[k] = (real)(b->lo + (b->hi - b->lo) * rng_uniform(&own));
                break;
            }
        }
    }
}
