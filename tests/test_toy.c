/* The toy densities: nf_toy_log_prob is the exact density of what
 * nf_toy_sample draws. For every toy: the density integrates to 1 on a grid,
 * the samples' counts in 1x1 cells match the density's integrals over the
 * cells (chi-square), the mean log-density of the samples matches the
 * grid's integral of p log p, and the values agree with independent
 * references (finer quadratures, direct formulas). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "extras/nflow_extras.h"
#include "nflow.h"

#define PI 3.14159265358979323846

static const char *const all_toys[] = {"two_moons", "eight_gaussians", "checkerboard", "rings",
                                       "pinwheel",  "two_spirals",     "gaussian_mixture", "banana"};
#define N_TOYS 8

/* The grid of each toy: a box holding all but ~1e-9 of the mass, a spacing
 * h well below the smallest length scale of the density (the midpoint rule
 * on a smooth density that vanishes at the border is spectrally accurate),
 * cells of `cell` grid steps (1 unit). */
static const struct {
    const char *name;
    double x0, x1, y0, y1, h;
} boxes[N_TOYS] = {
    {"two_moons", -5, 5, -3, 4, 0.05},
    {"eight_gaussians", -6, 6, -6, 6, 0.05},
    {"checkerboard", -4.5, 4.5, -4.5, 4.5, 1.0 / 30},
    {"rings", -4, 4, -4, 4, 0.025},
    {"pinwheel", -7, 7, -7, 7, 0.05},
    {"two_spirals", -4, 4, -4, 4, 0.04},
    {"gaussian_mixture", -8, 8, -7, 6, 0.05},
    {"banana", -5.5, 5.5, -4, 17, 0.025},
};

static double lp1(const char *name, double x, double y)
{
    float p[2] = {(float)x, (float)y};
    double lp = NAN;
    nf_status st = nf_toy_log_prob(name, p, 1, &lp);
    CHECK(st == NF_OK, "%s: %s", name, nf_last_error());
    return lp;
}

static void test_names(void)
{
    const char *const *names = nf_toy_names();
    int n = 0;
    while (names[n])
        n++;
    CHECK(n == N_TOYS, "%d toys", n);
    for (int i = 0; i < n && i < N_TOYS; i++) {
        int found = 0;
        for (int j = 0; j < N_TOYS; j++)
            found += strcmp(names[i], all_toys[j]) == 0;
        CHECK(found == 1, "%s", names[i]);
    }
}

static void test_errors(void)
{
    float x[4] = {0};
    double lp[2];
    CHECK(nf_toy_sample("three_moons", 2, 1, x) == NF_ERR_INVALID);
    const char *msg = nf_last_error();
    CHECK(strstr(msg, "three_moons") && strstr(msg, "two_moons") && strstr(msg, "banana") &&
              strstr(msg, "checkerboard"),
          "%s", msg);
    CHECK(nf_toy_log_prob("Two_Moons", x, 2, lp) == NF_ERR_INVALID);
    CHECK(strstr(nf_last_error(), "pinwheel") != NULL, "%s", nf_last_error());
    CHECK(nf_toy_sample(NULL, 2, 1, x) == NF_ERR_INVALID);
    CHECK(nf_toy_log_prob(NULL, x, 2, lp) == NF_ERR_INVALID);
    CHECK(nf_toy_sample("", 0, 1, NULL) == NF_ERR_INVALID);
    /* rows == 0 is a no-op, NULL buffers included */
    CHECK(nf_toy_sample("rings", 0, 1, NULL) == NF_OK);
    CHECK(nf_toy_log_prob("rings", NULL, 0, NULL) == NF_OK);
    CHECK(nf_toy_sample("rings", 2, 1, NULL) == NF_ERR_INVALID);
    CHECK(nf_toy_log_prob("rings", x, 2, NULL) == NF_ERR_INVALID);
    CHECK(nf_toy_log_prob("rings", NULL, 2, lp) == NF_ERR_INVALID);
    x[3] = NAN;
    CHECK(nf_toy_log_prob("banana", x, 2, lp) == NF_ERR_NONFINITE);
    CHECK(strstr(nf_last_error(), "row 1") != NULL, "%s", nf_last_error());
    x[3] = INFINITY;
    CHECK(nf_toy_log_prob("two_moons", x, 2, lp) == NF_ERR_NONFINITE);
}

static void test_determinism(void)
{
    enum { N = 2000 };
    float *a = malloc(sizeof(float) * 2 * N), *b = malloc(sizeof(float) * 2 * N), *c = malloc(sizeof(float) * 2 * N);
    float prefix[20];
    for (int t = 0; t < N_TOYS; t++) {
        const char *name = all_toys[t];
        CHECK(nf_toy_sample(name, N, 42, a) == NF_OK);
        CHECK(nf_toy_sample(name, N, 42, b) == NF_OK);
        CHECK(nf_toy_sample(name, N, 43, c) == NF_OK);
        CHECK(nf_toy_sample(name, 10, 42, prefix) == NF_OK);
        CHECK(memcmp(a, b, sizeof(float) * 2 * N) == 0, "%s: same seed, different bits", name);
        CHECK(memcmp(a, prefix, sizeof prefix) == 0, "%s: not a prefix of the longer draw", name);
        int same = 0, inside = 0;
        for (int i = 0; i < N; i++) {
            same += a[2 * i] == c[2 * i] && a[2 * i + 1] == c[2 * i + 1];
            inside += fabsf(a[2 * i]) <= 4.5f && fabsf(a[2 * i + 1]) <= 4.5f;
        }
        CHECK(same == 0, "%s: %d equal points with another seed", name, same);
        CHECK(inside >= 0.99 * N, "%s: only %d of %d points in [-4.5,4.5]^2", name, inside, N);
        /* log_prob is deterministic too, and finite on samples */
        double *l1 = malloc(sizeof(double) * N), *l2 = malloc(sizeof(double) * N);
        CHECK(nf_toy_log_prob(name, a, N, l1) == NF_OK && nf_toy_log_prob(name, a, N, l2) == NF_OK);
        CHECK(memcmp(l1, l2, sizeof(double) * N) == 0, "%s", name);
        int finite = 1;
        for (int i = 0; i < N; i++)
            finite &= isfinite(l1[i]);
        CHECK(finite, "%s", name);
        /* row by row gives the same bits as a batch (threads don't matter) */
        CHECK(lp1(name, a[2 * 17], a[2 * 17 + 1]) == l1[17], "%s", name);
        free(l1);
        free(l2);
    }
    free(a);
    free(b);
    free(c);
}

/* For every toy: normalisation, chi-square of the samples over 1x1 cells,
 * E_p[log p] by Monte Carlo against the grid. */
static void test_density_matches_samples(void)
{
    enum { NS = 100000, NL = 20000 };
    float *s = malloc(sizeof(float) * 2 * NS);
    double *slp = malloc(sizeof(double) * NL);
    for (int t = 0; t < N_TOYS; t++) {
        const char *name = boxes[t].name;
        double h = boxes[t].h, x0 = boxes[t].x0, y0 = boxes[t].y0;
        int nx = (int)lround((boxes[t].x1 - x0) / h), ny = (int)lround((boxes[t].y1 - y0) / h);
        int m = (int)lround(1.0 / h); /* grid steps per cell */
        int cx = (nx + m - 1) / m, cy = (ny + m - 1) / m, ncell = cx * cy;
        size_t n = (size_t)nx * (size_t)ny;
        float *g = malloc(sizeof(float) * 2 * n);
        double *lp = malloc(sizeof(double) * n);
        double *cellp = calloc((size_t)ncell + 1, sizeof(double));
        double *count = calloc((size_t)ncell + 1, sizeof(double));
        for (int j = 0; j < ny; j++)
            for (int i = 0; i < nx; i++) {
                g[2 * ((size_t)j * nx + i)] = (float)(x0 + (i + 0.5) * h);
                g[2 * ((size_t)j * nx + i) + 1] = (float)(y0 + (j + 0.5) * h);
            }
        CHECK(nf_toy_log_prob(name, g, n, lp) == NF_OK, "%s", nf_last_error());
        double z = 0.0, plogp = 0.0;
        for (int j = 0; j < ny; j++)
            for (int i = 0; i < nx; i++) {
                double l = lp[(size_t)j * nx + i], p = exp(l) * h * h;
                z += p;
                if (p > 0.0)
                    plogp += p * l;
                cellp[(j / m) * cx + i / m] += p;
            }
        CHECK_CLOSE(z, 1.0, 1e-6, 0.0);

        CHECK(nf_toy_sample(name, NS, 1234 + t, s) == NF_OK);
        for (int i = 0; i < NS; i++) {
            double xi = s[2 * i], yi = s[2 * i + 1];
            int ci = (int)floor((xi - x0) / (m * h)), cj = (int)floor((yi - y0) / (m * h));
            int k = ci >= 0 && ci < cx && cj >= 0 && cj < cy ? cj * cx + ci : ncell;
            count[k] += 1.0;
        }
        /* E_p[log p] from the first NL samples */
        CHECK(nf_toy_log_prob(name, s, NL, slp) == NF_OK);
        double mean = 0.0, sq = 0.0;
        for (int i = 0; i < NL; i++) {
            mean += slp[i];
            sq += slp[i] * slp[i];
        }
        mean /= NL;
        double sd = sqrt(sq / NL - mean * mean), se = sd / sqrt((double)NL);
        CHECK(fabs(mean - plogp) < 5.0 * se, "%s: mean log p of samples %.6f, integral of p log p %.6f (se %.2g)",
              name, mean, plogp, se);

        /* chi-square over cells expecting >= 5 samples; the rest lumped */
        double chi2 = 0.0, rest_e = NS, rest_o = 0.0, worst = 0.0;
        int bins = 0;
        for (int k = 0; k <= ncell; k++) {
            double e = k < ncell ? NS * cellp[k] : 0.0;
            if (e >= 5.0) {
                double r = (count[k] - e) / sqrt(e);
                chi2 += r * r;
                if (fabs(r) > worst)
                    worst = fabs(r);
                rest_e -= e;
                bins++;
            } else {
                rest_o += count[k];
            }
        }
        if (rest_e > 1e-9) {
            chi2 += (rest_o - rest_e) * (rest_o - rest_e) / rest_e;
            bins++;
        }
        int dof = bins - 1;
        CHECK(chi2 < dof + 6.0 * sqrt(2.0 * dof), "%s: chi2 %.1f with %d dof", name, chi2, dof);
        CHECK(worst < 5.0, "%s: a cell %.1f standard errors off", name, worst);
        CHECK(bins > 10, "%s: %d bins", name, bins);
        free(g);
        free(lp);
        free(cellp);
        free(count);
    }
    free(s);
    free(slp);
}

/* ---- independent references ------------------------------------------------ */

/* Simpson's rule in the raw curve parameter with many intervals. */
static double moons_ref(double x, double y)
{
    const int n = 40000;
    double h = PI / n, s = 0.0, sig = 0.2;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i <= n; i++) {
            double t = i * h, w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
            double mx = k == 0 ? 2 * cos(t) - 1 : 1 - 2 * cos(t), my = k == 0 ? 2 * sin(t) - 0.2 : 0.8 - 2 * sin(t);
            double d2 = (x - mx) * (x - mx) + (y - my) * (y - my);
            if (d2 < 1400 * sig * sig) /* else exp underflows, slowly */
                s += w * h / 3 * 0.5 / PI * exp(-d2 / (2 * sig * sig));
        }
    return s / (2 * PI * sig * sig);
}

static double spirals_ref(double x, double y)
{
    const int n = 200000; /* beyond the outer end the integrand falls in 0.002 */
    double top = 3 * PI, h = top / n, s = 0.0, sig = 0.1;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i <= n; i++) {
            double t = i * h, w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2), sg = k ? -1 : 1;
            double mx = -sg * t * cos(t) / 3, my = sg * t * sin(t) / 3;
            double d2 = (x - mx) * (x - mx) + (y - my) * (y - my);
            if (d2 < 1400 * sig * sig)
                s += w * h / 3 * 0.5 * 2 * t / (top * top) * exp(-d2 / (2 * sig * sig));
        }
    return s / (2 * PI * sig * sig);
}

/* The ring density as a periodic trapezoid rule over the circle's angle
 * (spectrally accurate), instead of the Bessel function. */
static double rings_ref(double x, double y)
{
    const int n = 4000;
    const double radius[4] = {0.75, 1.5, 2.25, 3.0};
    double s = 0.0, sig = 0.1;
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < n; i++) {
            double a = 2 * PI * i / n, mx = radius[k] * cos(a), my = radius[k] * sin(a);
            s += 0.25 / n * exp(-((x - mx) * (x - mx) + (y - my) * (y - my)) / (2 * sig * sig));
        }
    return s / (2 * PI * sig * sig);
}

static double normal_pdf(double x, double mu, double sd)
{
    return exp(-0.5 * (x - mu) * (x - mu) / (sd * sd)) / (sd * sqrt(2 * PI));
}

/* The pinwheel map of arm k, f -> x, as the sampler defines it. */
static void pin_forward(int k, double f0, double f1, double *x, double *y)
{
    double a = 2 * PI * k / 5 + 0.25 * exp(hypot(f0, f1));
    *x = 2 * (cos(a) * f0 - sin(a) * f1);
    *y = 2 * (sin(a) * f0 + cos(a) * f1);
}

/* Change of variables with a numerical Jacobian of the forward map at the
 * preimage (the implementation uses |det J| = 4 exactly). */
static double pinwheel_ref(double x, double y)
{
    double p = 0.0, e = 1e-6;
    for (int k = 0; k < 5; k++) {
        double a = 2 * PI * k / 5 + 0.25 * exp(hypot(x, y) / 2);
        double f0 = (cos(a) * x + sin(a) * y) / 2, f1 = (-sin(a) * x + cos(a) * y) / 2;
        double bx, by, cxp, cyp, cxm, cym, dxp, dyp, dxm, dym;
        pin_forward(k, f0, f1, &bx, &by);
        CHECK(fabs(bx - x) < 1e-12 && fabs(by - y) < 1e-12, "preimage");
        pin_forward(k, f0 + e, f1, &cxp, &cyp);
        pin_forward(k, f0 - e, f1, &cxm, &cym);
        pin_forward(k, f0, f1 + e, &dxp, &dyp);
        pin_forward(k, f0, f1 - e, &dxm, &dym);
        double j00 = (cxp - cxm) / (2 * e), j10 = (cyp - cym) / (2 * e);
        double j01 = (dxp - dxm) / (2 * e), j11 = (dyp - dym) / (2 * e);
        double det = fabs(j00 * j11 - j01 * j10);
        p += 0.2 * normal_pdf(f0, 1.0, 0.3) * normal_pdf(f1, 0.0, 0.1) / det;
    }
    return p;
}

/* P(a <= x + 0.05 e <= a + 2) with erfc on the side away from the interval
 * (accurate until erfc underflows at ~38 sigma). */
static double interval_prob(double x, double a)
{
    double s = 0.05 * sqrt(2.0), u = (x - a) / s, v = (x - a - 2) / s;
    if (v > 0)
        return 0.5 * (erfc(v) - erfc(u));
    if (u < 0)
        return 0.5 * (erfc(-u) - erfc(-v));
    return 1 - 0.5 * erfc(u) - 0.5 * erfc(-v);
}

static double checker_ref(double x, double y)
{
    double p = 0.0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            if ((i + j) % 2 == 0)
                p += interval_prob(x, -4 + 2 * i) / 2 * interval_prob(y, -4 + 2 * j) / 2 / 8;
    return p;
}

static double gm_ref(double x, double y)
{
    /* the covariances S = L L^T written out, inverted directly */
    const double w[3] = {0.5, 0.3, 0.2}, mx[3] = {-1.5, 1.6, -0.2}, my[3] = {-1.2, 0.4, 2.0};
    const double sxx[3] = {0.64, 0.2025, 0.81}, sxy[3] = {0.4, -0.1575, 0.135}, syy[3] = {0.41, 0.425, 0.1125};
    double p = 0.0;
    for (int k = 0; k < 3; k++) {
        double det = sxx[k] * syy[k] - sxy[k] * sxy[k], dx = x - mx[k], dy = y - my[k];
        double q = (syy[k] * dx * dx - 2 * sxy[k] * dx * dy + sxx[k] * dy * dy) / det;
        p += w[k] * exp(-0.5 * q) / (2 * PI * sqrt(det));
    }
    return p;
}

static void test_reference_values(void)
{
    /* points on the data and in the tails, as floats (what log_prob sees) */
    const float pts[][2] = {{0.0f, 0.0f},  {1.0f, 1.7f},   {-1.3f, 0.4f}, {2.9f, -0.6f}, {0.5f, -1.1f},
                            {-2.2f, 2.1f}, {3.1f, 3.05f},  {-0.7f, -3.2f}, {1.9f, 0.02f}, {-3.6f, -1.4f},
                            {0.31f, 0.77f}, {2.2f, -2.3f}, {4.5f, 3.0f},  {-3.9f, -3.9f}, {0.2f, 5.0f}};
    const int np = (int)(sizeof pts / sizeof pts[0]);
    double worst[8] = {0};
    for (int i = 0; i < np; i++) {
        double x = pts[i][0], y = pts[i][1];
        struct {
            int toy;
            double ref;
        } c[8] = {
            {0, moons_ref(x, y)},
            {1, 0.0},
            {2, checker_ref(x, y)},
            {3, rings_ref(x, y)},
            {4, pinwheel_ref(x, y)},
            {5, spirals_ref(x, y)},
            {6, gm_ref(x, y)},
            {7, normal_pdf(x, 0, 1) * normal_pdf(y, 0.5 * x * x - 1, 0.35)},
        };
        double e8 = 0.0, r8 = 2.0 * sqrt(2.0);
        for (int k = 0; k < 8; k++)
            e8 += normal_pdf(x, r8 * cos(k * PI / 4), sqrt(2.0) / 4) * normal_pdf(y, r8 * sin(k * PI / 4), sqrt(2.0) / 4) / 8;
        c[1].ref = e8;
        for (int k = 0; k < 8; k++) {
            if (c[k].ref < 1e-200)
                continue;
            double lp = lp1(all_toys[c[k].toy], x, y);
            double err = fabs(lp - log(c[k].ref)); /* absolute error in log = relative in p */
            if (err > worst[k])
                worst[k] = err;
        }
    }
    /* the quadrature references are accurate to ~1e-10 (in the tails too);
     * the numerical Jacobian to ~1e-8 */
    const double tol[8] = {1e-8, 1e-12, 1e-10, 1e-10, 1e-6, 1e-8, 1e-12, 1e-12};
    for (int k = 0; k < 8; k++)
        CHECK(worst[k] < tol[k], "%s: log-density off by %.3g", all_toys[k], worst[k]);
}

/* Far from the data every log-density is finite, and the exact tails of
 * the checkerboard and rings match their asymptotics. */
static void test_tails(void)
{
    const float far[][2] = {{30.0f, -30.0f}, {1e4f, 2e4f}, {-3e5f, 1e3f}, {1e30f, -1e30f}, {-FLT_MAX, FLT_MAX}};
    for (int t = 0; t < N_TOYS; t++)
        for (int i = 0; i < 5; i++) {
            double lp = lp1(all_toys[t], far[i][0], far[i][1]);
            CHECK(isfinite(lp) && lp < -50.0, "%s at (%g, %g): %g", all_toys[t], far[i][0], far[i][1], lp);
        }
    /* checkerboard at (10, -1): only square (3, 1) matters; x is 6 = 120
     * sigma right of it, y is inside it 20 sigma from its edges. */
    double t = 120.0;
    double logq = -0.5 * t * t - log(t * sqrt(2 * PI)) + log(1 - 1 / (t * t) + 3 / pow(t, 4) - 15 / pow(t, 6));
    CHECK_CLOSE(lp1("checkerboard", 10.0, -1.0), log(1.0 / 8) + log(0.5) + logq + log(0.5), 1e-9, 1e-12);
    /* rings at r = 20: the outer ring dominates; log p ~ -(r-R)^2/2s^2 +
     * log e^-z I0(z) with the leading asymptotic (2 pi z)^-1/2 (1 + 1/8z) */
    double r = 20.0, z = r * 3.0 / 0.01;
    double expect = -(r - 3.0) * (r - 3.0) / 0.02 - 0.5 * log(2 * PI * z) + log1p(1 / (8 * z) + 9 / (128 * z * z)) +
                    log(0.25) - log(2 * PI * 0.01);
    CHECK_CLOSE(lp1("rings", 20.0, 0.0), expect, 1e-9, 1e-12);
    CHECK_CLOSE(lp1("rings", 0.0, -20.0), expect, 1e-9, 1e-12);
}

int main(void)
{
    RUN(test_names);
    RUN(test_errors);
    RUN(test_determinism);
    RUN(test_density_matches_samples);
    RUN(test_reference_values);
    RUN(test_tails);
    TEST_SUMMARY("test_toy");
}
