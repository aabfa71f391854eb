/* The vector versions of the narrow product (AVX-512, AVX2 with FMA, as
 * far as this CPU runs them) in float against double dot products: every
 * block shape, remainder of the vector width and stride, with and without
 * bias and activation. And the in-place tanh bound. */
#include <math.h>
#include <stdlib.h>

#include "harness.h"
#include "core/kern.h"
#include "core/kern_narrow.h"
#include "core/rng.h"

static rng gen;

static void check_isa(int isa)
{
    int failures = 0;
    for (int rows = 1; rows <= 9; rows++)
        for (int units = 1; units <= 11; units++)
            for (int width = 0; width <= 70 && failures < 3; width += 1 + width / 4) {
                int lds = width + 5, ldw = width + 1, ldd = units + 3, act = (rows + units + width) % 3 - 1;
                float *src = malloc(sizeof(float) * rows * lds), *w = malloc(sizeof(float) * units * ldw);
                float *dst = malloc(sizeof(float) * rows * ldd), bias[11];
                double *want = malloc(sizeof(double) * rows * ldd), *scale = malloc(sizeof(double) * rows * ldd);
                for (int i = 0; i < rows * lds; i++)
                    src[i] = (float)rng_normal(&gen);
                for (int i = 0; i < units * ldw; i++)
                    w[i] = (float)rng_normal(&gen);
                for (int u = 0; u < units; u++)
                    bias[u] = (float)rng_normal(&gen);
                for (int i = 0; i < rows * ldd; i++)
                    dst[i] = (float)(want[i] = rng_normal(&gen)), scale[i] = 0;
                int with_bias = (rows + width) % 2;
                for (int r = 0; r < rows; r++)
                    for (int u = 0; u < units; u++) {
                        double acc = with_bias ? bias[u] : 0, mag = fabs(acc);
                        for (int i = 0; i < width; i++) {
                            acc += (double)src[r * lds + i] * w[u * ldw + i];
                            mag += fabs((double)src[r * lds + i] * w[u * ldw + i]);
                        }
                        want[r * ldd + u] = act == K_ACT_RELU ? fmax(acc, 0) : act == K_ACT_TANH ? tanh(acc) : acc;
                        scale[r * ldd + u] = mag + 1;
                    }
                k_narrow_isa_for_tests(isa, rows, units, width, src, lds, w, ldw, with_bias ? bias : NULL, act, dst,
                                       ldd);
                double worst = 0; /* in units of float round-off of the sum's magnitude */
                int padding_kept = 1;
                for (int i = 0; i < rows * ldd; i++) {
                    if (scale[i])
                        worst = fmax(worst, fabs(dst[i] - want[i]) / (scale[i] * 1.2e-7));
                    else
                        padding_kept &= dst[i] == (float)want[i];
                }
                int ok = worst <= 8 + width / 4.0 && padding_kept;
                CHECK(ok, "isa %d rows %d units %d width %d act %d: off by %g round-offs", isa, rows, units, width, act,
                      worst);
                failures += !ok;
                free(src);
                free(w);
                free(dst);
                free(want);
                free(scale);
            }
}

static void test_narrow_vector_versions(void)
{
    int isa = k_narrow_isa();
    printf("test_kern: this CPU runs the %d-bit narrow product%s\n", isa, isa ? "" : " (plain loop)");
    check_isa(0);
    if (isa >= 256)
        check_isa(256);
    if (isa >= 512)
        check_isa(512);
}

/* k_bound_in_place against tanh in double: every remainder of the vector
 * width, a stride, and the values between the strided ones untouched. */
static void test_bound_in_place(void)
{
    enum { MAX = 40, STRIDE = 3 };
    for (int n = 0; n <= MAX; n++) {
        float v[MAX * STRIDE], before[MAX * STRIDE];
        for (int i = 0; i < MAX * STRIDE; i++)
            v[i] = before[i] = (float)(4 * rng_normal(&gen));
        k_bound_in_place(n, v, STRIDE, 2.5f);
        double worst = 0;
        int others_kept = 1;
        for (int i = 0; i < MAX * STRIDE; i++) {
            if (i % STRIDE == 0 && i / STRIDE < n)
                worst = fmax(worst, fabs(v[i] - 2.5 * tanh(before[i] / 2.5)));
            else
                others_kept &= v[i] == before[i];
        }
        CHECK(worst < 1e-6 && others_kept, "n %d: off by %g, others kept %d", n, worst, others_kept);
    }
}

int main(void)
{
    rng_seed(&gen, 5);
    RUN(test_narrow_vector_versions);
    RUN(test_bound_in_place);
    TEST_SUMMARY("test_kern");
}
