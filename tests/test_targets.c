/* The energy targets of Rezende & Mohamed (2015) with the confining wall
 * of src/extras/targets.c beyond |z1| = 4: values at hand-computed points, the
 * normalisers by grid sums, analytic gradients against central
 * differences, errors. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "extras/nflow_extras.h"
#include "nflow.h"

static const char *const names[] = {"u1", "u2", "u3", "u4"};

static double lp1(const char *name, double x, double y)
{
    float p[2] = {(float)x, (float)y};
    double lp = NAN;
    nf_status st = nf_target_log_prob(name, p, 1, &lp, NULL);
    CHECK(st == NF_OK, "%s: %s", name, nf_last_error());
    return lp;
}

static void test_names(void)
{
    const char *const *n = nf_target_names();
    int k = 0;
    while (n[k]) {
        CHECK(k < 4 && strcmp(n[k], names[k]) == 0, "name %d is %s", k, n[k]);
        k++;
    }
    CHECK(k == 4, "%d names", k);
}

/* Values worked out by hand (not with the implementation's log-sum-exp). */
static void test_values(void)
{
    double s = 0.6 * 0.6;
    /* U1 on the ring at (2, 0): only the mode term, log(1 + e^{-0.5 (4/0.6)^2}) */
    CHECK_CLOSE(lp1("u1", 2, 0), log1p(exp(-0.5 * 16 / s)), 1e-12, 0);
    CHECK_CLOSE(lp1("u1", -2, 0), log1p(exp(-0.5 * 16 / s)), 1e-12, 0);
    /* U1 at the origin: ring 0.5 (2/0.4)^2 = 12.5, both modes e^{-0.5 4/0.36} */
    CHECK_CLOSE(lp1("u1", 0, 0), -12.5 - 0.5 * 4 / s + log(2.0), 1e-12, 0);
    /* U1 at (0, 3): ring 0.5 (1/0.4)^2 */
    CHECK_CLOSE(lp1("u1", 0, 3), -0.5 * 6.25 - 0.5 * 4 / s + log(2.0), 1e-12, 0);
    /* U2: zero on the curve z2 = sin(pi z1 / 2), 0.5 (d/0.4)^2 off it */
    CHECK_CLOSE(lp1("u2", 0, 0), 0.0, 1e-12, 0);
    CHECK_CLOSE(lp1("u2", 1, 1), 0.0, 1e-12, 0);
    CHECK_CLOSE(lp1("u2", 0, 0.5), -0.5 * 0.25 / 0.16, 1e-12, 0);
    CHECK_CLOSE(lp1("u2", 3, 0), -0.5 * 1 / 0.16, 1e-12, 0);
    /* U3 at (1, -0.5): w1 = 1, w2 = 3, both terms have |d| = 1.5 */
    CHECK_CLOSE(lp1("u3", 1, -0.5), -0.5 * 2.25 / 0.1225 + log(2.0), 1e-12, 0);
    /* at (9, 0.25): w1 = sin(4.5 pi) = 1 and w2 ~ 0, so both branches have
     * d = -0.75; the wall adds 0.5 (5 / 0.1)^2 */
    CHECK_CLOSE(lp1("u3", 9, 0.25), -0.5 * (0.75 * 0.75) / 0.1225 + log(2.0) - 1250, 1e-9, 0);
    /* U4 at (1, -0.25): w1 = 1, w3 = 1.5 */
    CHECK_CLOSE(lp1("u4", 1, -0.25), log(exp(-0.5 * 1.5625 / 0.16) + exp(-0.5 * 0.0625 / 0.1225)), 1e-12, 0);
    /* U4 at (-9, 0): w1 = sin(-4.5 pi) = -1, w3 = 3 sigma(-100/3) ~ 0, wall 1250 */
    CHECK_CLOSE(lp1("u4", -9, 0), log(exp(-0.5 / 0.16) + exp(-0.5 / 0.1225)) - 1250, 1e-9, 0);
    /* the wall: none up to |z1| = 4, 0.5 (1 / 0.1)^2 at |z1| = 5 (where
     * w1 = +-1) */
    CHECK_CLOSE(lp1("u2", 4, 0), 0.0, 1e-12, 0);
    CHECK_CLOSE(lp1("u2", 5, 1), -50.0, 1e-9, 0);
    CHECK_CLOSE(lp1("u2", -5, -1), -50.0, 1e-9, 0);
    /* stable far out: finite, no overflow in the log-sum-exp */
    for (int t = 0; t < 4; t++) {
        double v = lp1(names[t], 30, -40);
        CHECK(isfinite(v) && v < -100, "%s far out: %g", names[t], v);
    }
}

/* log Z = log of the integral of exp(log p), midpoint rule on [-8, 8]^2. */
static double log_z(const char *name)
{
    enum { N = 1600 };
    const double lo = -8, h = 16.0 / N;
    static float x[2 * N];
    static double lp[N];
    double z = 0;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++) {
            x[2 * j] = (float)(lo + (i + 0.5) * h);
            x[2 * j + 1] = (float)(lo + (j + 0.5) * h);
        }
        if (nf_target_log_prob(name, x, N, lp, NULL) != NF_OK)
            return NAN;
        for (int j = 0; j < N; j++)
            z += exp(lp[j]);
    }
    return log(z * h * h);
}

/* U2 with the wall in closed form: sqrt(2 pi) 0.4 (8 + 2 sqrt(2 pi) 0.1 / 2);
 * U1 by a grid sum. The values quoted in src/extras/targets.c and `nflow fit --help`. */
static void test_normalisers(void)
{
    double s2pi = sqrt(2 * 3.14159265358979323846);
    CHECK_CLOSE(log_z("u2"), log(s2pi * 0.4 * (8 + s2pi * 0.1)), 1e-5, 0);
    CHECK_CLOSE(log_z("u1"), 1.8775, 1e-4, 0);
    CHECK_CLOSE(log_z("u3"), 2.6726, 1e-4, 0);
    CHECK_CLOSE(log_z("u4"), 2.7416, 1e-4, 0);
}

/* A fixed pseudo-random point in [-5.5, 5.5] x [-3.5, 3.5], away from
 * U1's origin and from the wall's kink at |z1| = 4. */
static void point(int i, float *x)
{
    uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    s ^= s >> 31;
    s *= 0xbf58476d1ce4e5b9ull;
    s ^= s >> 29;
    x[0] = (float)(-5.5 + 11.0 * (double)(s & 0xffffff) / 0x1000000);
    x[1] = (float)(-3.5 + 7.0 * (double)((s >> 24) & 0xffffff) / 0x1000000);
    if (fabsf(x[0]) < 0.3f && fabsf(x[1]) < 0.3f)
        x[0] += 1.0f;
    if (fabsf(fabsf(x[0]) - 4) < 0.05f)
        x[0] *= 0.9f;
}

/* Central differences in double of the float points x +- h: the step
 * actually taken is (float)(x + h) - (float)(x - h). */
static void test_gradients(void)
{
    enum { N = 200 };
    const float h = 1e-2f;
    for (int t = 0; t < 4; t++) {
        float x[2 * N], g[2 * N];
        double lp[N], lp2[N];
        for (int i = 0; i < N; i++)
            point(i, x + 2 * i);
        CHECK(nf_target_log_prob(names[t], x, N, lp, g) == NF_OK, "%s", nf_last_error());
        CHECK(nf_target_log_prob(names[t], x, N, lp2, NULL) == NF_OK, "NULL grad: %s", nf_last_error());
        CHECK(memcmp(lp, lp2, sizeof lp) == 0, "%s: NULL grad changes log p", names[t]);
        double worst = 0, norm = 0;
        int bad = 0;
        for (int i = 0; i < N; i++)
            for (int d = 0; d < 2; d++) {
                float xp[2] = {x[2 * i], x[2 * i + 1]}, xm[2] = {x[2 * i], x[2 * i + 1]};
                xp[d] += h;
                xm[d] -= h;
                double a, b;
                nf_target_log_prob(names[t], xp, 1, &a, NULL);
                nf_target_log_prob(names[t], xm, 1, &b, NULL);
                double fd = (a - b) / ((double)xp[d] - (double)xm[d]), an = g[2 * i + d];
                /* truncation error is h^2/6 f''': up to ~1% of the slope here */
                double err = fabs(an - fd) / (0.05 + fabs(fd));
                if (err > 2e-2 && bad++ < 3)
                    fprintf(stderr, "  %s at (%g, %g) d%d: analytic %.8g, differences %.8g\n", names[t], x[2 * i],
                            x[2 * i + 1], d + 1, an, fd);
                worst = fmax(worst, err);
                norm += fabs(an);
            }
        CHECK(bad == 0, "%s: %d gradients off (worst relative error %.3g)", names[t], bad, worst);
        CHECK(norm > 1.0 * N, "%s: gradients trivially small (sum |g| = %g)", names[t], norm);
    }
}

/* The callback: a wrong dimension or name stops training with a message. */
static void test_callback(void)
{
    float x[4] = {0.5f, -1.0f, 2.0f, 0.25f}, g[4], g2[4];
    double lp[2], lp2[2];
    CHECK(nf_target_callback(x, 2, 2, lp, g, (void *)"u3") == 0, "%s", nf_last_error());
    CHECK(nf_target_log_prob("u3", x, 2, lp2, g2) == NF_OK, "%s", nf_last_error());
    CHECK(memcmp(lp, lp2, sizeof lp) == 0 && memcmp(g, g2, sizeof g) == 0, "callback differs");
    CHECK(nf_target_callback(x, 2, 2, lp, NULL, (void *)"u1") == 0, "NULL grad: %s", nf_last_error());
    CHECK(nf_target_callback(x, 1, 4, lp, g, (void *)"u1") != 0, "dim 4 accepted");
    CHECK(strstr(nf_last_error(), "2-D") != NULL, "message: %s", nf_last_error());
    CHECK(nf_target_callback(x, 2, 2, lp, g, (void *)"u9") != 0, "u9 accepted");
    CHECK(strstr(nf_last_error(), "u9") != NULL, "message: %s", nf_last_error());
    CHECK(nf_target_callback(x, 2, 2, lp, g, NULL) != 0, "NULL name accepted");
}

static void test_errors(void)
{
    float x[2] = {0, 0};
    double lp;
    CHECK(nf_target_log_prob("banana", x, 1, &lp, NULL) == NF_ERR_INVALID, "unknown name accepted");
    const char *m = nf_last_error();
    CHECK(strstr(m, "banana") && strstr(m, "u1") && strstr(m, "u4"), "message: %s", m);
    CHECK(nf_target_log_prob(NULL, x, 1, &lp, NULL) == NF_ERR_INVALID, "NULL name accepted");
    CHECK(nf_target_log_prob("u1", NULL, 1, &lp, NULL) == NF_ERR_INVALID, "NULL x accepted");
    CHECK(nf_target_log_prob("u1", x, 1, NULL, NULL) == NF_ERR_INVALID, "NULL log_p accepted");
    CHECK(nf_target_log_prob("u1", NULL, 0, NULL, NULL) == NF_OK, "0 rows refused");
    x[1] = NAN;
    CHECK(nf_target_log_prob("u2", x, 1, &lp, NULL) == NF_ERR_NONFINITE, "NaN accepted");
    CHECK(strstr(nf_last_error(), "row 0") != NULL, "message: %s", nf_last_error());
}

/* The PNG's width from its IHDR chunk, or -1 for a file that is no PNG. */
static long png_width(const char *path)
{
    unsigned char b[24];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(b, 1, sizeof b, f) : 0;
    if (f)
        fclose(f);
    if (n != sizeof b || memcmp(b, "\x89PNG\r\n\x1a\n", 8) != 0 || memcmp(b + 12, "IHDR", 4) != 0)
        return -1;
    return (long)b[16] << 24 | (long)b[17] << 16 | (long)b[18] << 8 | b[19];
}

/* nf_plot_target_png: three panels (two without samples); errors leave no file. */
static void test_plot_target(void)
{
    char dir[] = "/tmp/nf_test_targets.XXXXXX", path[64], bad_path[80];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/t.png", dir);
    snprintf(bad_path, sizeof bad_path, "%s/bad.png", dir);
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_REALNVP, 2);
    cfg.layers = 2;
    cfg.hidden = 8;
    nf_flow *f = NULL, *f3 = NULL;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK, "%s", nf_last_error());
    cfg.dim = 3;
    CHECK(nf_flow_create(&f3, &cfg) == NF_OK, "%s", nf_last_error());
    if (f && f3) {
        CHECK(nf_plot_target_png(f, "u4", path, 300, 1, -4, 4) == NF_OK, "%s", nf_last_error());
        long w3 = png_width(path);
        CHECK(nf_plot_target_png(f, "u1", path, 0, 1, -4, 4) == NF_OK, "no samples: %s", nf_last_error());
        long w2 = png_width(path);
        CHECK(w2 > 0 && w3 > w2 * 4 / 3, "widths %ld (3 panels), %ld (2)", w3, w2);
        CHECK(nf_plot_target_png(f, "u5", bad_path, 10, 1, -4, 4) == NF_ERR_INVALID, "u5 accepted");
        CHECK(strstr(nf_last_error(), "u5") != NULL, "message: %s", nf_last_error());
        CHECK(nf_plot_target_png(f, "u1", bad_path, 10, 1, 4, -4) == NF_ERR_INVALID, "empty box accepted");
        CHECK(nf_plot_target_png(f3, "u1", bad_path, 10, 1, -4, 4) == NF_ERR_DIMENSION, "3-D flow accepted");
        CHECK(nf_plot_target_png(NULL, "u1", bad_path, 10, 1, -4, 4) == NF_ERR_DIMENSION, "NULL flow accepted");
        CHECK(access(bad_path, F_OK) != 0, "a failed call wrote %s", bad_path);
    }
    nf_flow_free(f);
    nf_flow_free(f3);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    RUN(test_names);
    RUN(test_values);
    RUN(test_normalisers);
    RUN(test_gradients);
    RUN(test_callback);
    RUN(test_errors);
    RUN(test_plot_target);
    TEST_SUMMARY("test_targets");
}
