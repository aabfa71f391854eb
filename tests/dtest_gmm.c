/* The full-covariance Gaussian mixture base (src/flow/base_gmm.c) in
 * double: its density against the textbook formula (explicit inverse and
 * determinant), its gradient against central differences, its draws'
 * moments against the mixture's, and its checks of bad values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/kern.h"
#include "core/rng.h"
#include "flow/base_gmm.h"
#include "harness.h"

enum { N = 3, K = 3 };
static const double pi = 3.14159265358979323846;

/* A random mixture: weights, means, lower factors with diagonals in (0.3, 1.3). */
static gmm_base *random_mixture(uint64_t seed, double *w, double *mean, double *chol)
{
    rng r;
    rng_seed(&r, seed);
    for (int c = 0; c < K; c++) {
        w[c] = 0.2 + rng_uniform(&r);
        for (int i = 0; i < N; i++) {
            mean[c * N + i] = 2 * rng_normal(&r);
            for (int j = 0; j < N; j++)
                chol[(c * N + i) * N + j] = j < i ? 0.5 * rng_normal(&r) : j == i ? 0.3 + rng_uniform(&r) : 0;
        }
    }
    gmm_base *g = gmm_new(N, 1);
    CHECK(g && gmm_set(g, K, w, mean, chol) == NF_OK && gmm_reserve(g, 64) == NF_OK);
    return g;
}

/* log sum_c w_c N(z; mu_c, L L^T) from Sigma = L L^T, its inverse by
 * Gauss-Jordan and its determinant by elimination. */
static double textbook(const double *w, const double *mean, const double *chol, const double *z)
{
    double total = 0, wsum = 0;
    for (int c = 0; c < K; c++)
        wsum += w[c];
    for (int c = 0; c < K; c++) {
        double s[N][2 * N];
        const double *l = chol + c * N * N;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                double v = 0;
                for (int k = 0; k < N; k++)
                    v += l[i * N + k] * l[j * N + k];
                s[i][j] = v;
                s[i][N + j] = i == j;
            }
        double det = 1;
        for (int p = 0; p < N; p++) { /* Sigma is positive definite: no pivoting needed */
            double d = s[p][p];
            det *= d;
            for (int j = 0; j < 2 * N; j++)
                s[p][j] /= d;
            for (int i = 0; i < N; i++)
                if (i != p) {
                    double f = s[i][p];
                    for (int j = 0; j < 2 * N; j++)
                        s[i][j] -= f * s[p][j];
                }
        }
        double q = 0;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++)
                q += (z[i] - mean[c * N + i]) * s[i][N + j] * (z[j] - mean[c * N + j]);
        total += w[c] / wsum * exp(-0.5 * q) / sqrt(pow(2 * pi, N) * det);
    }
    return log(total);
}

static void test_density_is_the_textbook_one(void)
{
    double w[K], mean[K * N], chol[K * N * N];
    gmm_base *g = random_mixture(1, w, mean, chol);
    rng r;
    rng_seed(&r, 2);
    real z[20 * N];
    double lp[20];
    for (int i = 0; i < 20 * N; i++)
        z[i] = 3 * rng_normal(&r);
    gmm_log_prob(g, 20, z, lp);
    for (int row = 0; row < 20; row++) {
        double zz[N];
        for (int i = 0; i < N; i++)
            zz[i] = z[row * N + i];
        CHECK_CLOSE(lp[row], textbook(w, mean, chol, zz), 1e-10, 1e-10);
    }
    gmm_free(g);
}

static void test_gradient_is_central_differences(void)
{
    double w[K], mean[K * N], chol[K * N * N];
    gmm_base *g = random_mixture(3, w, mean, chol);
    rng r;
    rng_seed(&r, 4);
    real z[8 * N], dz[8 * N];
    double lp[8], up[8], down[8];
    for (int i = 0; i < 8 * N; i++)
        z[i] = 2 * rng_normal(&r);
    gmm_log_prob(g, 8, z, lp);
    gmm_grad(g, 8, z, 0.5, dz);
    const double h = 1e-6;
    for (int i = 0; i < 8 * N; i++) {
        double keep = z[i];
        z[i] = keep + h;
        gmm_log_prob(g, 8, z, up);
        z[i] = keep - h;
        gmm_log_prob(g, 8, z, down);
        z[i] = keep;
        CHECK_CLOSE(dz[i], 0.5 * (up[i / N] - down[i / N]) / (2 * h), 1e-6, 1e-6);
    }
    gmm_free(g);
}

/* 200,000 draws: their mean and covariance are the mixture's. */
static void test_draws_have_the_mixture_moments(void)
{
    double w[K], mean[K * N], chol[K * N * N];
    gmm_base *g = random_mixture(5, w, mean, chol);
    double wsum = 0, m[N] = {0}, second[N][N] = {{0}};
    for (int c = 0; c < K; c++)
        wsum += w[c];
    for (int c = 0; c < K; c++) /* E z = sum w mu; E z z^T = sum w (Sigma + mu mu^T) */
        for (int i = 0; i < N; i++) {
            m[i] += w[c] / wsum * mean[c * N + i];
            for (int j = 0; j < N; j++) {
                double s = 0;
                for (int k = 0; k < N; k++)
                    s += chol[(c * N + i) * N + k] * chol[(c * N + j) * N + k];
                second[i][j] += w[c] / wsum * (s + mean[c * N + i] * mean[c * N + j]);
            }
        }
    enum { DRAWS = 200000 };
    real *z = malloc(sizeof(real) * DRAWS * N);
    rng r;
    rng_seed(&r, 6);
    gmm_sample(g, &r, DRAWS, z);
    double em[N] = {0}, es[N][N] = {{0}};
    for (int row = 0; row < DRAWS; row++)
        for (int i = 0; i < N; i++) {
            em[i] += z[row * N + i] / DRAWS;
            for (int j = 0; j < N; j++)
                es[i][j] += z[row * N + i] * z[row * N + j] / DRAWS;
        }
    for (int i = 0; i < N; i++) { /* standard errors about 0.005 and 0.02 */
        CHECK_CLOSE(em[i], m[i], 0.03, 0);
        for (int j = 0; j < N; j++)
            CHECK_CLOSE(es[i][j], second[i][j], 0.1, 0.02);
    }
    free(z);
    gmm_free(g);
}

/* Bad values are refused, naming the component, and leave the mixture as it was. */
static void test_bad_values_refused(void)
{
    double w[K], mean[K * N], chol[K * N * N];
    gmm_base *g = random_mixture(7, w, mean, chol);
    real z[N] = {0.1, 0.2, 0.3};
    double before, after;
    gmm_log_prob(g, 1, z, &before);
    double bad_w[K] = {1, 0, 1};
    CHECK(gmm_set(g, K, bad_w, mean, chol) == NF_ERR_INVALID);
    CHECK(strstr(nf_last_error(), "component 1") != NULL, "%s", nf_last_error());
    double bad_chol[K * N * N];
    memcpy(bad_chol, chol, sizeof bad_chol);
    bad_chol[(2 * N + 1) * N + 1] = -0.5;
    CHECK(gmm_set(g, K, w, mean, bad_chol) == NF_ERR_INVALID);
    mean[4] = NAN;
    CHECK(gmm_set(g, K, w, mean, chol) == NF_ERR_INVALID);
    CHECK(gmm_set(g, 0, w, mean, chol) == NF_ERR_INVALID);
    gmm_log_prob(g, 1, z, &after);
    CHECK(before == after);
    CHECK(gmm_new(N, 0) == NULL);
    gmm_free(g);
}

/* A new number of components after the scratch was reserved. */
static void test_components_change(void)
{
    gmm_base *g = gmm_new(1, 4);
    CHECK(g && gmm_reserve(g, 10) == NF_OK);
    real z[10];
    double lp[10];
    for (int i = 0; i < 10; i++)
        z[i] = -2 + 0.4 * i;
    gmm_log_prob(g, 10, z, lp); /* four copies of N(0, 1) */
    for (int i = 0; i < 10; i++)
        CHECK_CLOSE(lp[i], -0.91893853320467274 - 0.5 * z[i] * z[i], 1e-12, 0);
    double w[7], mean[7], chol[7];
    for (int c = 0; c < 7; c++) {
        w[c] = 1;
        mean[c] = c - 3;
        chol[c] = 0.5;
    }
    CHECK(gmm_set(g, 7, w, mean, chol) == NF_OK && g->k == 7);
    gmm_log_prob(g, 10, z, lp);
    for (int i = 0; i < 10; i++) {
        double s = 0;
        for (int c = 0; c < 7; c++)
            s += exp(-0.5 * pow((z[i] - mean[c]) / 0.5, 2)) / (0.5 * sqrt(2 * pi)) / 7;
        CHECK_CLOSE(lp[i], log(s), 1e-12, 1e-12);
    }
    gmm_free(g);
}

int main(void)
{
    RUN(test_density_is_the_textbook_one);
    RUN(test_gradient_is_central_differences);
    RUN(test_draws_have_the_mixture_moments);
    RUN(test_bad_values_refused);
    RUN(test_components_change);
    TEST_SUMMARY("dtest_gmm");
}
