/* The narrow product alone (k_narrow, src/core/kern_narrow.h): each vector
 * version this CPU runs, at the shapes nflow gives it. A sequential MADE
 * step takes a tile of 64 rows by a degree's 8 hidden units (4 x 4 blocks)
 * or an output block of 2 (8 x 2 blocks), reading prefixes of 32 to 512
 * inputs; the parallel forward pass takes panels of 16 units of a 100-row
 * batch. One JSON line per shape: the median over repeats of the time per
 * call, and GFLOP/s (2 rows units width per call).
 *
 *   bench_narrow [--repeats N]   (bench/README.md, "2026-12-07 (5)") */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/kern.h"
#include "core/kern_narrow.h"

enum { MAX_REPEATS = 101, LD = 512 };

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    long repeats = 11;
    char *end = NULL;
    if (argc == 3 && !strcmp(argv[1], "--repeats"))
        repeats = strtol(argv[2], &end, 10);
    if ((argc != 1 && argc != 3) || (end && *end) || repeats < 1 || repeats > MAX_REPEATS) {
        fprintf(stderr, "usage: bench_narrow [--repeats N], N from 1 to %d\n", MAX_REPEATS);
        return 2;
    }
    static const struct { int rows, units, width, act; } shapes[] = {
        {64, 8, 32, K_ACT_RELU},  {64, 8, 64, K_ACT_RELU},  {64, 8, 128, K_ACT_RELU}, {64, 8, 256, K_ACT_RELU},
        {64, 8, 512, K_ACT_RELU}, {64, 2, 64, K_ACT_NONE},  {64, 2, 256, K_ACT_NONE}, {64, 2, 512, K_ACT_NONE},
        {100, 16, 64, K_ACT_RELU}, {100, 16, 256, K_ACT_RELU}, {100, 16, 512, K_ACT_RELU},
    };
    float *src = malloc(sizeof(float) * 128 * LD), *w = malloc(sizeof(float) * 16 * LD);
    float *dst = malloc(sizeof(float) * 128 * LD), bias[16];
    if (!src || !w || !dst)
        return 1;
    srand(1);
    for (int i = 0; i < 128 * LD; i++)
        src[i] = (float)rand() / (float)RAND_MAX;
    for (int i = 0; i < 16 * LD; i++)
        w[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (int i = 0; i < 16; i++)
        bias[i] = 0.1f;
    static const int isas[] = {512, 256, 0};
    for (size_t k = 0; k < sizeof isas / sizeof isas[0]; k++) {
        int isa = isas[k];
        if (isa > k_narrow_isa())
            continue;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int rows = shapes[s].rows, units = shapes[s].units, width = shapes[s].width;
            double flops = 2.0 * rows * units * width, times[MAX_REPEATS];
            int inner = (int)(2e7 / flops) + 1; /* about 2e7 FLOPs per repeat */
            for (int r = -2; r < repeats; r++) {
                double t0 = now_s();
                for (int i = 0; i < inner; i++)
                    k_narrow_isa_for_tests(isa, rows, units, width, src, LD, w, LD, bias, shapes[s].act, dst, LD);
                if (r >= 0)
                    times[r] = (now_s() - t0) / inner;
            }
            qsort(times, (size_t)repeats, sizeof times[0], cmp_double);
            double med = times[repeats / 2];
            printf("{\"op\": \"narrow\", \"isa\": %d, \"rows\": %d, \"units\": %d, \"width\": %d, \"median_ns\": %.0f, "
                   "\"gflops\": %.1f}\n",
                   isa, rows, units, width, med * 1e9, flops / med * 1e-9);
        }
    }
    free(src);
    free(w);
    free(dst);
    return 0;
}
