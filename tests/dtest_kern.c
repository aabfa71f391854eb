/* The arithmetic boundary's own pieces: the narrow product against plain
 * dot products (every block shape and remainder, strided operands), and
 * the thread shares: they cover [0, n) in order, without overlap, cut only
 * at multiples of K_SHARE_ALIGN, for 1 to 5 threads. */
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "kern.h"
#include "rng.h"

static rng gen;

static void test_narrow_product(void)
{
    int failures = 0;
    for (int rows = 1; rows <= 7 && failures < 3; rows++)
        for (int units = 1; units <= 9; units++)
            for (int width = 0; width <= 41; width += 1 + width / 3) {
                int lds = width + 3, ldw = width + 2, ldd = units + 5;
                real *src = malloc(sizeof(real) * rows * lds), *w = malloc(sizeof(real) * units * ldw);
                real *dst = malloc(sizeof(real) * rows * ldd), *want = malloc(sizeof(real) * rows * ldd);
                for (int i = 0; i < rows * lds; i++)
                    src[i] = rng_normal(&gen);
                for (int i = 0; i < units * ldw; i++)
                    w[i] = rng_normal(&gen);
                for (int i = 0; i < rows * ldd; i++)
                    dst[i] = want[i] = rng_normal(&gen);
                for (int r = 0; r < rows; r++)
                    for (int u = 0; u < units; u++) {
                        double acc = 0;
                        for (int i = 0; i < width; i++)
                            acc += (double)src[r * lds + i] * w[u * ldw + i];
                        want[r * ldd + u] += (real)acc;
                    }
                k_gemm_nt_narrow(rows, units, width, src, lds, w, ldw, dst, ldd);
                double worst = 0;
                for (int i = 0; i < rows * ldd; i++)
                    worst = fmax(worst, fabs((double)dst[i] - want[i]));
                CHECK(worst < 1e-12, "rows %d units %d width %d: off by %g", rows, units, width, worst);
                failures += !(worst < 1e-12);
                free(src);
                free(w);
                free(dst);
                free(want);
            }
}

static void test_shares(void)
{
    static const int sizes[] = {0, 1, 47, 48, 49, 100, 500, 1000, 1024, 10000};
    for (int nt = 1; nt <= 5; nt++)
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int n = sizes[s], lo[8], hi[8], team = 0;
#pragma omp parallel num_threads(nt)
            {
                int t = omp_get_thread_num();
                k_share(n, &lo[t], &hi[t]);
#pragma omp single
                team = omp_get_num_threads();
            }
            int next = 0, ok = 1;
            for (int t = 0; t < team; t++) {
                ok &= lo[t] == next && hi[t] >= lo[t];
                ok &= lo[t] == n || lo[t] % K_SHARE_ALIGN == 0;
                next = hi[t];
            }
            CHECK(ok && next == n, "%d threads, n = %d: shares do not tile [0, n) at multiples of %d", team, n,
                  K_SHARE_ALIGN);
        }
    int lo, hi; /* outside a parallel region: everything */
    k_share(777, &lo, &hi);
    CHECK(lo == 0 && hi == 777);
}

int main(void)
{
    rng_seed(&gen, 3);
    RUN(test_narrow_product);
    RUN(test_shares);
    TEST_SUMMARY("dtest_kern");
}
