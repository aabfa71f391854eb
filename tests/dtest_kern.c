/* The arithmetic boundary's own pieces in double precision: the narrow
 * product, the row tiles, the thread count. */
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "core/kern.h"
#include "core/kern_narrow.h"
#include "core/rng.h"

static rng gen;

/* The plain loop of the narrow product (the double build's) against dot
 * products: every block shape and remainder, strided operands, with and
 * without bias and activation. tests/test_kern.c checks the vector ones. */
static void test_narrow_product(void)
{
    int failures = 0;
    for (int rows = 1; rows <= 7 && failures < 3; rows++)
        for (int units = 1; units <= 9; units++)
            for (int width = 0; width <= 41; width += 1 + width / 3) {
                int lds = width + 3, ldw = width + 2, ldd = units + 5, act = (rows + units) % 3 - 1;
                real *src = malloc(sizeof(real) * rows * lds), *w = malloc(sizeof(real) * units * ldw);
                real *dst = malloc(sizeof(real) * rows * ldd), *want = malloc(sizeof(real) * rows * ldd);
                real bias[9];
                for (int i = 0; i < rows * lds; i++)
                    src[i] = rng_normal(&gen);
                for (int i = 0; i < units * ldw; i++)
                    w[i] = rng_normal(&gen);
                for (int u = 0; u < units; u++)
                    bias[u] = rng_normal(&gen);
                for (int i = 0; i < rows * ldd; i++)
                    dst[i] = want[i] = rng_normal(&gen);
                for (int r = 0; r < rows; r++)
                    for (int u = 0; u < units; u++) {
                        double acc = width % 2 ? bias[u] : 0;
                        for (int i = 0; i < width; i++)
                            acc += (double)src[r * lds + i] * w[u * ldw + i];
                        want[r * ldd + u] = (real)(act == K_ACT_RELU ? fmax(acc, 0) : act == K_ACT_TANH ? tanh(acc) : acc);
                    }
                k_narrow(rows, units, width, src, lds, w, ldw, width % 2 ? bias : NULL, act, dst, ldd);
                double worst = 0;
                for (int i = 0; i < rows * ldd; i++)
                    worst = fmax(worst, fabs((double)dst[i] - want[i]));
                CHECK(worst < 1e-12, "rows %d units %d width %d act %d: off by %g", rows, units, width, act, worst);
                failures += !(worst < 1e-12);
                free(src);
                free(w);
                free(dst);
                free(want);
            }
}

static void test_tiles(void)
{
    static const int sizes[] = {0, 1, 47, 127, 128, 129, 500, 1000, 1024, 10000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int n = sizes[s], next = 0, ok = 1, tiles = k_tiles(n, K_ROW_TILE);
        for (int t = 0; t < tiles; t++) {
            int lo, hi;
            k_tile(n, K_ROW_TILE, t, &lo, &hi);
            ok &= lo == next && hi > lo && (hi - lo == K_ROW_TILE || hi == n);
            next = hi;
        }
        CHECK(ok && next == n, "n = %d: tiles do not cover [0, n) in tiles of %d", n, K_ROW_TILE);
    }
}

/* nflow's thread count is its own: setting it and calling a product leave
 * the caller's OpenMP setting as it was; absurd counts are bounded. */
static void test_threads_leave_caller_alone(void)
{
    omp_set_num_threads(3);
    k_set_threads(2);
    real a[4] = {1, 2, 3, 4}, c[4];
    k_gemm(0, 0, 2, 2, 2, 1, a, 2, a, 2, 0, c, 2);
    CHECK(omp_get_max_threads() == 3, "caller's OpenMP setting changed to %d", omp_get_max_threads());
    CHECK(c[0] == 7 && c[1] == 10 && c[2] == 15 && c[3] == 22);
    k_set_threads(100000);
    CHECK(k_threads() == K_MAX_THREADS, "100000 threads asked, %d kept", k_threads());
    k_set_threads(-5);
    CHECK(k_threads() == 1);
}

int main(void)
{
    rng_seed(&gen, 3);
    RUN(test_narrow_product);
    RUN(test_tiles);
    RUN(test_threads_leave_caller_alone);
    TEST_SUMMARY("dtest_kern");
}
