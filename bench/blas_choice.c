/* The measurement behind nflow's choice of matrix library (issue 12):
 * single-threaded sgemm GFLOP/s on the shapes nflow's layers multiply
 * (a tile of 128 rows by a panel of 64 units, whole 512 x 512 layers, the
 * 63-wide input layer, weight gradients), for whichever BLAS this is built
 * against (OpenBLAS or BLIS's CBLAS). bench/blas_choice.sh runs it under
 * every kernel family the CPU executes. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cblas.h>

#ifdef BLAS_IS_BLIS
#include <blis.h>
#endif

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
#ifdef BLAS_IS_BLIS
    bli_thread_set_num_threads(1);
    printf("BLIS %s, kernels %s\n", bli_info_get_version_str(), bli_arch_string(bli_arch_query_id()));
#else
    extern char *openblas_get_corename(void);
    extern void openblas_set_num_threads(int);
    openblas_set_num_threads(1);
    printf("OpenBLAS, kernels %s\n", openblas_get_corename());
#endif
    /* m, n, k, transposed A (weight gradients: dW = dY^T X) */
    static const int shapes[][4] = {{512, 512, 512, 0}, {128, 64, 512, 0}, {128, 64, 256, 0}, {512, 512, 63, 0},
                                    {100, 512, 512, 0}, {64, 512, 512, 1}, {32, 512, 512, 0}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2], ta = shapes[s][3];
        float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n), *c = malloc(sizeof(float) * m * n);
        for (long i = 0; i < (long)m * k; i++)
            a[i] = (float)rand() / RAND_MAX;
        for (long i = 0; i < (long)k * n; i++)
            b[i] = (float)rand() / RAND_MAX;
        int reps = (int)(1e8 / (2.0 * m * n * k)) + 1;
        double t[11];
        for (int r = 0; r < 11; r++) {
            double t0 = now();
            for (int q = 0; q < reps; q++)
                cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, CblasTrans, m, n, k, 1, a, ta ? m : k, b,
                            k, 0, c, n);
            t[r] = (now() - t0) / reps;
        }
        qsort(t, 11, sizeof t[0], cmp);
        printf("  %4d x %4d x %4d%s  %6.1f GFLOP/s\n", m, n, k, ta ? " (A^T)" : "      ", 2.0 * m * n * k / t[5] * 1e-9);
        free(a);
        free(b);
        free(c);
    }
    return 0;
}
