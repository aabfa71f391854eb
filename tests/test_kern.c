/* The vector versions of the narrow product (AVX-512, AVX2 with FMA, as
 * far as this CPU runs them) in float against double dot products: every
 * block shape, remainder of the vector width and stride, with and without
 * bias and activation. And the element-wise kernels of the splines and of
 * dropout, and the flushing of denormals around nflow's work. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "core/kern.h"
#include "core/kern_narrow.h"
#include "core/rng.h"
#include "flow/flow.h"

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

/* Dropout's kernels: about `rate` of the units dropped, each layer and
 * row with draws of its own, the kept ones scaled by 1 / (1 - rate); a
 * block at an offset draws what the whole matrix drew there (neither
 * threads and blocks nor a process taking its share of the batch change
 * the mask); the backward zeroes exactly the dropped units and scales the
 * others' activation slope. */
static void test_dropout(void)
{
    enum { ROWS = 300, COLS = 200, LD = 210 };
    static float h[ROWS * LD], whole[ROWS * LD], part[ROWS * LD], dh[ROWS * LD];
    const float rates[] = {0.1f, 0.5f, 0.9f};
    for (int t = 0; t < 3; t++) {
        k_dropout d = {rates[t], 0x1234567ull + (uint64_t)t, 0};
        for (int i = 0; i < ROWS * LD; i++)
            whole[i] = part[i] = (float)(0.1 + fabs(rng_normal(&gen))); /* positive: kept ones stay non-zero */
        memcpy(h, whole, sizeof h);
        k_dropout_forward(&d, 1, ROWS, COLS, LD, 0, 0, whole);
        long dropped = 0, scaled = 0, untouched = 1;
        for (int r = 0; r < ROWS; r++)
            for (int j = 0; j < LD; j++) {
                size_t i = (size_t)r * LD + j;
                if (j >= COLS)
                    untouched &= whole[i] == h[i];
                else if (whole[i] == 0)
                    dropped++;
                else
                    scaled += fabsf(whole[i] - h[i] / (1 - d.rate)) <= 1e-6f * whole[i];
            }
        double n = (double)ROWS * COLS, sd = sqrt(n * d.rate * (1 - d.rate));
        CHECK(fabs(dropped - n * d.rate) < 5 * sd, "rate %g: %ld of %.0f dropped", d.rate, dropped, n);
        CHECK(scaled == (long)n - dropped && untouched, "rate %g: %ld scaled, columns past the block kept %ld",
              d.rate, scaled, untouched);
        /* the same units by blocks at offsets (rows 0-99 and 100-299, columns 0-69 and 70-199) */
        int r_cut = 100, c_cut = 70;
        k_dropout_forward(&d, 1, r_cut, c_cut, LD, 0, 0, part);
        k_dropout_forward(&d, 1, r_cut, COLS - c_cut, LD, 0, c_cut, part + c_cut);
        k_dropout_forward(&d, 1, ROWS - r_cut, c_cut, LD, (size_t)r_cut, 0, part + (size_t)r_cut * LD);
        /* ... and a pass whose row 0 is the batch's row r_cut (a process's share) */
        k_dropout share = d;
        share.first_row = (size_t)r_cut;
        k_dropout_forward(&share, 1, ROWS - r_cut, COLS - c_cut, LD, 0, c_cut, part + (size_t)r_cut * LD + c_cut);
        CHECK(memcmp(part, whole, sizeof part) == 0, "rate %g: blocks drew another mask", d.rate);
        /* another layer, another key: other draws */
        memcpy(part, h, sizeof part);
        k_dropout_forward(&d, 2, ROWS, COLS, LD, 0, 0, part);
        long same = 0;
        for (int i = 0; i < ROWS * LD; i++)
            same += (part[i] == 0) == (whole[i] == 0);
        CHECK(same < ROWS * LD - 100, "rate %g: layer 2 drew layer 1's mask", d.rate);
        /* backward through tanh: dh = 1 -> (1 - tanh^2) / (1 - rate) where kept, 0 where dropped */
        for (int i = 0; i < ROWS * LD; i++) {
            h[i] = whole[i] * (1 - d.rate) > 0.99f ? 0.99f / (1 - d.rate) : whole[i]; /* a tanh's range */
            dh[i] = 1;
        }
        k_dropout_activate_backward(&d, K_ACT_TANH, 1, ROWS, COLS, LD, 0, 0, h, dh);
        double worst = 0;
        long wrong = 0;
        for (int r = 0; r < ROWS; r++)
            for (int j = 0; j < COLS; j++) {
                size_t i = (size_t)r * LD + j;
                double a = h[i] * (1 - d.rate);
                if (whole[i] == 0)
                    wrong += dh[i] != 0;
                else
                    worst = fmax(worst, fabs(dh[i] - (1 - a * a) / (1 - d.rate)));
            }
        CHECK(wrong == 0 && worst < 1e-5, "rate %g: backward: %ld dropped units with a gradient, off by %g", d.rate,
              wrong, worst);
    }
}

/* k_spline_prepare against the softmax and softplus in double: every
 * remainder of its lanes, a few bin counts up to the most, raw values far
 * out (the softmax's maximum must be taken out, the softplus must not
 * overflow), and the values between the blocks untouched. */
static void test_spline_prepare(void)
{
    const int bin_counts[] = {2, 3, 8, 17, K_SPLINE_MAX_BINS};
    const float shift = 0.5413f;
    for (int b = 0; b < (int)(sizeof bin_counts / sizeof *bin_counts); b++)
        for (int n = 0; n <= 37; n += 1 + 8 * (b == 4)) {
            int bins = bin_counts[b], per = 3 * bins - 1, stride = per + 2;
            float *v = malloc(sizeof(float) * (size_t)(n + 1) * stride);
            float *raw = malloc(sizeof(float) * (size_t)(n + 1) * stride);
            for (int i = 0; i < (n + 1) * stride; i++) {
                double z = rng_normal(&gen);
                v[i] = raw[i] = (float)(i % 7 == 3 ? 60 * z : 3 * z);
            }
            k_spline_prepare(n, bins, shift, v, (size_t)stride);
            double worst = 0;
            int others_kept = 1;
            for (int i = 0; i <= n; i++) {
                const float *r = raw + (size_t)i * stride, *got = v + (size_t)i * stride;
                for (int j = per; j < stride; j++)
                    others_kept &= got[j] == r[j];
                if (i == n) { /* past the last value: untouched */
                    for (int j = 0; j < per; j++)
                        others_kept &= got[j] == r[j];
                    continue;
                }
                for (int half = 0; half < 2; half++) {
                    double top = -INFINITY, sum = 0;
                    for (int j = 0; j < bins; j++)
                        top = fmax(top, r[half * bins + j]);
                    for (int j = 0; j < bins; j++)
                        sum += exp(r[half * bins + j] - top);
                    for (int j = 0; j < bins; j++) {
                        double want = exp(r[half * bins + j] - top) / sum;
                        worst = fmax(worst, fabs(got[half * bins + j] - want) / (want + 1e-30) * (want > 1e-30));
                    }
                }
                for (int j = 2 * bins; j < per; j++) {
                    double a = (double)r[j] + shift, want = fmax(a, 0) + log1p(exp(-fabs(a)));
                    worst = fmax(worst, fabs(got[j] - want) / (want + 1e-30) * (want > 1e-30));
                }
            }
            CHECK(worst < 1e-5 && others_kept, "%d bins, %d values: off by %g relative, others kept %d", bins, n, worst,
                  others_kept);
            free(v);
            free(raw);
        }
}

#if defined(__x86_64__) || defined(__SSE2__)
#include <omp.h>
#include <xmmintrin.h>

#include "nflow.h"

/* a tiny product: denormal, or 0 where denormals are flushed */
static float tiny_product(void)
{
    volatile float a = 1e-30f, b = 1e-10f;
    return a * b;
}

/* Between k_fast_fp_begin and k_fast_fp_end denormals are flushed on the
 * calling thread and on every thread of the team; after it the caller's
 * setting is back, whichever it was; and a public call leaves it alone. */
static void test_fast_fp(void)
{
    unsigned before = _mm_getcsr();
    CHECK(tiny_product() != 0, "denormals are flushed before the test");
    nf_set_threads(2);
    int before_team = 0; /* the team's threads exist before (new ones inherit the creator's setting) */
#pragma omp parallel num_threads(2) reduction(+ : before_team)
    before_team += tiny_product() != 0;
    CHECK(before_team == 2, "%d of 2 team threads make denormals before the test", before_team);
    unsigned fp = k_fast_fp_begin();
    CHECK(tiny_product() == 0, "the caller still makes denormals");
    int flushed = 0, team = 0;
#pragma omp parallel num_threads(2) reduction(+ : flushed, team)
    {
        team += 1;
        flushed += tiny_product() == 0;
    }
    CHECK(flushed == team && team == 2, "%d of %d team threads flush denormals", flushed, team);
    k_fast_fp_end(fp);
    CHECK(_mm_getcsr() == before && tiny_product() != 0, "the caller's setting is not back");
    int left = 0;
#pragma omp parallel num_threads(2) reduction(+ : left)
    left += tiny_product() != 0;
    CHECK(left == 2, "%d of 2 team threads make denormals again", left);
    /* a team made smaller between begin and end: the end still clears the
     * thread the larger team flushed */
    fp = k_fast_fp_begin();
    nf_set_threads(1);
    k_fast_fp_end(fp);
    left = 0;
#pragma omp parallel num_threads(2) reduction(+ : left)
    left += tiny_product() != 0;
    CHECK(left == 2, "after a smaller team's end %d of 2 threads make denormals", left);
    nf_set_threads(2);
    /* a caller that flushes already keeps flushing; nesting restores each level */
    _mm_setcsr(before | 0x8040);
    fp = k_fast_fp_begin();
    unsigned inner = k_fast_fp_begin();
    k_fast_fp_end(inner);
    CHECK(tiny_product() == 0, "the inner end undid the outer begin");
    k_fast_fp_end(fp);
    CHECK(_mm_getcsr() == (before | 0x8040), "a flushing caller's setting is not back");
    _mm_setcsr(before);
    /* a public call: the flow computes flushed, the caller gets its setting back */
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_MAF, 3);
    nf_flow *f = NULL;
    float x[3 * 4] = {0.1f, -0.2f, 0.3f, 1, 2, 3, -1, 0, 1, 0.5f, 0.5f, 0.5f};
    double lp[4];
    CHECK(nf_flow_create(&f, &cfg) == NF_OK && nf_flow_log_prob(f, x, 4, lp) == NF_OK);
    CHECK(_mm_getcsr() == before, "nf_flow_log_prob changed the caller's floating-point setting");
    nf_flow_free(f);
    nf_set_threads(1);
}
#endif

/* nflow called from inside a caller's parallel region, one flow per caller
 * thread, one nflow thread: the one-thread path runs its worksharing loops
 * without a region of its own, and inside the caller's region they would
 * bind to the caller's team (each thread computing part of its rows). The
 * same bits as the calls made one after the other; the caller's thread
 * setting is theirs after a call that multiplied through the BLAS. */
static void test_calls_inside_callers_region(void)
{
    enum { ROWS = 600, DIM = 5, FLOWS = 2 };
    static float x[ROWS * DIM];
    static double alone[FLOWS][ROWS], inside[FLOWS][ROWS];
    for (int i = 0; i < ROWS * DIM; i++)
        x[i] = (float)rng_normal(&gen);
    nf_flow *f[FLOWS] = {NULL};
    nf_model kinds[FLOWS] = {NF_MODEL_MAF, NF_MODEL_IAF}; /* IAF: the sequential density pass */
    for (int k = 0; k < FLOWS; k++) {
        nf_config cfg;
        nf_config_default(&cfg, kinds[k], DIM);
        CHECK(nf_flow_create(&f[k], &cfg) == NF_OK);
        for (size_t i = 0; i < f[k]->n_params; i++) /* away from the identity start */
            f[k]->params[i] += (real)(0.05 * rng_normal(&gen));
    }
    nf_set_threads(1);
    omp_set_num_threads(3);
    for (int k = 0; k < FLOWS; k++)
        CHECK(nf_flow_log_prob(f[k], x, ROWS, alone[k]) == NF_OK);
    CHECK(omp_get_max_threads() == 3, "the caller's thread setting became %d", omp_get_max_threads());
    int failed = 0;
#pragma omp parallel num_threads(FLOWS) reduction(+ : failed)
    failed += nf_flow_log_prob(f[omp_get_thread_num()], x, ROWS, inside[omp_get_thread_num()]) != NF_OK;
    CHECK(failed == 0);
    for (int k = 0; k < FLOWS; k++)
        CHECK(memcmp(alone[k], inside[k], sizeof alone[k]) == 0, "flow %d: other bits inside the caller's region", k);
    omp_set_num_threads(1);
    for (int k = 0; k < FLOWS; k++)
        nf_flow_free(f[k]);
}

int main(void)
{
    rng_seed(&gen, 5);
    RUN(test_narrow_vector_versions);
    RUN(test_bound_in_place);
    RUN(test_spline_prepare);
    RUN(test_dropout);
    RUN(test_calls_inside_callers_region);
#if defined(__x86_64__) || defined(__SSE2__)
    RUN(test_fast_fp);
#endif
    TEST_SUMMARY("test_kern");
}
