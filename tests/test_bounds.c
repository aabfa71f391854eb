/* Bounded support through the public API in float (nf_flow_set_bounds):
 * exact densities of the maps, samples and decoded rows strictly inside
 * (rounding to float32 nudged inside), rows outside at -inf and refused
 * where they have no answer (encoding, training), the standardisation and
 * Gaussian fit of the mapped columns, saving and loading. */
#include <float.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flow/flow.h"
#include "harness.h"

static char dir[] = "/tmp/nflow_test_bounds_XXXXXX";

static void path_in(char *buf, const char *name) { snprintf(buf, 256, "%s/%s", dir, name); }

static const double LOG_SQRT_2PI = 0.91893853320467274178;

/* (0, 1), (2, inf), (-inf, -1) on a standard normal base, nothing else:
 * p(x) = N(z) |dz/dx| with z = logit x, log(x - 2), -log(-1 - x). */
static nf_flow *three_columns(void)
{
    nf_flow *f;
    CHECK(nf_flow_new(&f, 3, NF_BASE_NORMAL) == NF_OK);
    CHECK(nf_flow_set_bounds(f, (double[]){0, 2, NAN}, (double[]){1, INFINITY, -1}) == NF_OK);
    CHECK(nf_flow_finalize(f, 1) == NF_OK);
    return f;
}

static double exact_log_prob(const float *x)
{
    double a = x[0], b = x[1], c = x[2];
    double z0 = log(a / (1 - a)), z1 = log(b - 2), z2 = -log(-1 - c);
    double lj = -log(a) - log(1 - a) - log(b - 2) - log(-1 - c);
    return -0.5 * (z0 * z0 + z1 * z1 + z2 * z2) - 3 * LOG_SQRT_2PI + lj;
}

static void test_exact_density(void)
{
    nf_flow *f = three_columns();
    float x[4 * 3] = {0.3f, 2.5f, -1.5f, 1e-6f, 50, -1.0001f, 0.999f, 2.0001f, -300,
                      0.5f, 3, -2};
    double lp[4];
    CHECK(nf_flow_log_prob(f, x, 4, lp) == NF_OK);
    for (int r = 0; r < 4; r++)
        CHECK_CLOSE(lp[r], exact_log_prob(x + 3 * r), 1e-6, 1e-6);
    /* on a bound, beyond it: density 0, never NaN */
    float out[5 * 3] = {0, 2.5f, -1.5f, 1, 2.5f, -1.5f, 0.5f, 2, -1.5f, 0.5f, 3, -1, -0.5f, 1.5f, 0};
    double lo[5];
    CHECK(nf_flow_log_prob(f, out, 5, lo) == NF_OK);
    for (int r = 0; r < 5; r++)
        CHECK(lo[r] == -INFINITY, "row %d: %g", r, lo[r]);
    size_t first = 99;
    int col = 99;
    CHECK(nf_flow_outside_bounds(f, out, 5, &first, &col) == 5 && first == 0 && col == 0);
    CHECK(nf_flow_outside_bounds(f, x, 4, NULL, NULL) == 0);
    /* encoding has no answer there: refused, naming the row and column */
    float z[5 * 3];
    CHECK(nf_flow_encode(f, out + 6, 3, z) == NF_ERR_INVALID);
    CHECK(strstr(nf_last_error(), "row 0") && strstr(nf_last_error(), "column 1"), "%s", nf_last_error());
    CHECK(nf_flow_encode(f, x, 4, z) == NF_OK);
    float back[4 * 3];
    CHECK(nf_flow_decode(f, z, 4, back) == NF_OK);
    for (int k = 0; k < 12; k++)
        CHECK_CLOSE(back[k], x[k], 1e-6, 2e-6);
    double lo2[3], hi2[3];
    CHECK(nf_flow_get_bounds(f, lo2, hi2) == 1);
    CHECK(lo2[0] == 0 && hi2[0] == 1 && lo2[1] == 2 && hi2[1] == INFINITY && lo2[2] == -INFINITY && hi2[2] == -1);
    nf_flow_free(f);
}

/* A wide standardisation: z of +-50 and beyond, whose logistic rounds to
 * exactly 0 or 1 in float32 and whose exp overflows. Every sample and
 * decoded row lies strictly inside, the nudged ones on the nearest float
 * inside. */
static void test_inside_by_construction(void)
{
    enum { N = 1000000 };
    nf_flow *f = three_columns();
    CHECK(nf_flow_set_standardization(f, (double[]){0, 0, 0}, (double[]){40, 40, 40}) == NF_OK);
    float *s = malloc(sizeof(float) * 3 * N);
    double *lp = malloc(sizeof(double) * N);
    CHECK(nf_flow_sample(f, N, 5, s, lp) == NF_OK);
    CHECK(nf_flow_outside_bounds(f, s, N, NULL, NULL) == 0);
    size_t at_top = 0, bad = 0;
    for (size_t r = 0; r < N; r++) {
        bad += !(s[3 * r] > 0 && s[3 * r] < 1 && s[3 * r + 1] > 2 && isfinite(s[3 * r + 1]) &&
                 s[3 * r + 2] < -1 && isfinite(s[3 * r + 2]) && !isnan(lp[r]));
        at_top += s[3 * r] == nextafterf(1, 0);
    }
    CHECK(bad == 0, "%zu samples outside", bad);
    CHECK(at_top > 1000, "the nudge was needed for %zu samples", at_top); /* z > 17 rounds to 1 */
    float z[4 * 3] = {1e30f, 1e30f, 1e30f, -1e30f, -1e30f, -1e30f, 100, -100, 100, 0, 88, -88};
    float x[4 * 3];
    CHECK(nf_flow_set_standardization(f, (double[]){0, 0, 0}, (double[]){1, 1, 1}) == NF_OK);
    CHECK(nf_flow_decode(f, z, 4, x) == NF_OK);
    CHECK(nf_flow_outside_bounds(f, x, 4, NULL, NULL) == 0);
    CHECK(x[0] == nextafterf(1, 0) && x[1] == FLT_MAX && x[2] == nextafterf(-1, -INFINITY), "%.9g %g %.9g", x[0], x[1], x[2]);
    /* never a subnormal next to 0: the computing calls read those as 0 */
    CHECK(x[3] == FLT_MIN && x[4] == nextafterf(2, 3) && x[5] == -FLT_MAX, "%g %.9g %g", x[3], x[4], x[5]);
    double lz[4];
    CHECK(nf_flow_log_prob(f, x, 4, lz) == NF_OK);
    for (int r = 0; r < 4; r++)
        CHECK(lz[r] > -INFINITY && !isnan(lz[r]), "decoded row %d scores %g", r, lz[r]);
    free(s);
    free(lp);
    nf_flow_free(f);
}

/* The standardisation and the Gaussian fit are of the mapped columns; rows
 * outside are refused in fitting and training, naming the row and column. */
static void test_fit_mapped(void)
{
    enum { N = 2000 };
    float *x = malloc(sizeof(float) * 2 * N);
    rng r;
    rng_seed(&r, 3);
    double mean0 = 0, mean1 = 0;
    for (int i = 0; i < N; i++) {
        double u = 1 / (1 + exp(-(0.5 + 0.8 * rng_normal(&r)))), g = exp(1 + 0.3 * rng_normal(&r));
        x[2 * i] = (float)(2 + 3 * u); /* in (2, 5) */
        x[2 * i + 1] = (float)g;
        mean0 += log((x[2 * i] - 2.0) / (5.0 - x[2 * i]));
        mean1 += log((double)x[2 * i + 1]);
    }
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_GAUSSIAN, 2);
    nf_flow *f;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK);
    CHECK(nf_flow_set_bounds(f, (double[]){2, 0}, (double[]){5, NAN}) == NF_OK);
    float keep = x[2 * 7 + 1];
    x[2 * 7 + 1] = 0; /* on the bound */
    CHECK(nf_flow_fit_standardization(f, x, N) == NF_ERR_INVALID);
    CHECK(strstr(nf_last_error(), "row 7") && strstr(nf_last_error(), "column 1"), "%s", nf_last_error());
    x[2 * 7 + 1] = keep;
    CHECK(nf_flow_fit_standardization(f, x, N) == NF_OK);
    double m[2], sd[2];
    CHECK(nf_flow_get_standardization(f, m, sd) == NF_OK);
    CHECK_CLOSE(m[0], mean0 / N, 1e-4, 1e-4);
    CHECK_CLOSE(m[1], mean1 / N, 1e-4, 1e-4);
    CHECK_CLOSE(m[1], 1, 0.05, 0);
    CHECK_CLOSE(sd[1], 0.3, 0.02, 0);
    /* the Gaussian model is the Gaussian of the mapped columns, with the maps' Jacobian */
    double lp[3], lg[3];
    float probe[3 * 2] = {3, 2.5f, 4.9f, 0.1f, 5, 1};
    CHECK(nf_flow_log_prob(f, probe, 3, lp) == NF_OK);
    CHECK(nf_flow_gaussian_log_prob(f, probe, 3, lg) == NF_OK);
    CHECK(lp[2] == -INFINITY && lg[2] == -INFINITY);
    for (int i = 0; i < 2; i++) {
        CHECK(isfinite(lp[i]));
        CHECK_CLOSE(lp[i], lg[i], 1e-4, 1e-5);
    }
    /* the whole density integrates to 1 on (2, 5) x (0, inf): a grid in the mapped coordinates, in one call */
    enum { G = 400 };
    float *pt = malloc(sizeof(float) * 2 * G * G);
    double *l = malloc(sizeof(double) * G * G), *w = malloc(sizeof(double) * G * G), total = 0;
    for (int i = 0; i < G; i++)
        for (int j = 0; j < G; j++) {
            double z0 = m[0] + sd[0] * (i - G / 2 + 0.5) * 0.04, z1 = m[1] + sd[1] * (j - G / 2 + 0.5) * 0.04;
            double u = 1 / (1 + exp(-z0));
            pt[2 * (i * G + j)] = (float)(2 + 3 * u);
            pt[2 * (i * G + j) + 1] = (float)exp(z1);
            w[i * G + j] = 3 * u * (1 - u) * exp(z1) * sd[0] * 0.04 * sd[1] * 0.04; /* dx / dz of the cell */
        }
    CHECK(nf_flow_log_prob(f, pt, G * G, l) == NF_OK);
    for (int k = 0; k < G * G; k++)
        total += l[k] > -INFINITY ? exp(l[k]) * w[k] : 0;
    free(pt);
    free(l);
    free(w);
    CHECK_CLOSE(total, 1, 2e-3, 0);
    /* set too late: the standardisation is fitted */
    CHECK(nf_flow_set_bounds(f, (double[]){0, 0}, (double[]){1, 1}) == NF_ERR_INVALID);
    /* training: a validation row outside is refused */
    nf_train_options opt;
    nf_train_options_default(&opt);
    opt.max_epochs = 1;
    float val[4] = {3, 1, 6, 1};
    CHECK(nf_flow_train(f, x, N, val, 2, &opt, NULL) == NF_ERR_INVALID);
    CHECK(strstr(nf_last_error(), "validation row 1") && strstr(nf_last_error(), "column 0"), "%s", nf_last_error());
    CHECK(nf_flow_train(f, x, N, val, 1, &opt, NULL) == NF_OK);
    free(x);
    nf_flow_free(f);
}

/* Invalid bounds named; a second call replaces, NULL removes. */
static void test_set_rules(void)
{
    nf_flow *f;
    CHECK(nf_flow_new(&f, 2, NF_BASE_NORMAL) == NF_OK);
    CHECK(nf_flow_set_bounds(f, (double[]){0, 3}, (double[]){1, 2}) == NF_ERR_INVALID);
    CHECK(strstr(nf_last_error(), "column 1"), "%s", nf_last_error());
    CHECK(nf_flow_set_bounds(f, (double[]){0, INFINITY}, (double[]){1, NAN}) == NF_ERR_INVALID);
    CHECK(nf_flow_set_bounds(f, (double[]){0, 0}, NULL) == NF_ERR_INVALID);
    CHECK(nf_flow_get_bounds(f, NULL, NULL) == 0);
    CHECK(nf_flow_set_bounds(f, (double[]){0, NAN}, (double[]){1, NAN}) == NF_OK);
    CHECK(nf_flow_set_bounds(f, (double[]){NAN, -5}, (double[]){NAN, NAN}) == NF_OK);
    double lo[2], hi[2];
    CHECK(nf_flow_get_bounds(f, lo, hi) == 1 && lo[0] == -INFINITY && hi[0] == INFINITY && lo[1] == -5);
    CHECK(f->n_layers == 2);
    /* the context is still set before the first layer of the model proper */
    CHECK(nf_flow_set_context_dim(f, 1) == NF_OK);
    CHECK(nf_flow_set_bounds(f, NULL, NULL) == NF_OK);
    CHECK(nf_flow_get_bounds(f, NULL, NULL) == 0 && f->n_layers == 1);
    /* all sides open: no layer */
    CHECK(nf_flow_set_bounds(f, (double[]){NAN, -INFINITY}, (double[]){INFINITY, NAN}) == NF_OK);
    CHECK(nf_flow_get_bounds(f, NULL, NULL) == 0);
    nf_flow_free(f);
}

/* A trained conditional model with bounds: saved and loaded, the bounds
 * and every density kept; info shows them. */
static void test_save_load(void)
{
    enum { N = 1500 };
    float *x = malloc(sizeof(float) * 2 * N), *c = malloc(sizeof(float) * N);
    rng r;
    rng_seed(&r, 9);
    for (int i = 0; i < N; i++) {
        c[i] = (float)rng_normal(&r);
        x[2 * i] = (float)(1 / (1 + exp(-(c[i] + 0.3 * rng_normal(&r)))));
        x[2 * i + 1] = (float)exp(0.5 * rng_normal(&r) + 0.2 * c[i]);
    }
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_MAF, 2);
    cfg.context_dim = 1;
    cfg.hidden = 16;
    cfg.layers = 2;
    nf_flow *f, *g;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK);
    CHECK(nf_flow_set_bounds(f, (double[]){0, 0}, (double[]){1, NAN}) == NF_OK);
    CHECK(nf_flow_fit_standardization_given(f, x, c, N) == NF_OK);
    nf_train_options opt;
    nf_train_options_default(&opt);
    opt.max_epochs = 2;
    CHECK(nf_flow_train_given(f, x, c, N, NULL, NULL, 0, &opt, NULL) == NF_OK);
    char path[256];
    path_in(path, "b.nfm");
    CHECK(nf_flow_save(f, path) == NF_OK);
    CHECK(nf_flow_load(&g, path) == NF_OK);
    if (g) {
        double lo[2], hi[2], a[N], b[N];
        CHECK(nf_flow_get_bounds(g, lo, hi) == 1 && lo[0] == 0 && hi[0] == 1 && lo[1] == 0 && hi[1] == INFINITY);
        CHECK(nf_flow_log_prob_given(f, x, c, N, a) == NF_OK && nf_flow_log_prob_given(g, x, c, N, b) == NF_OK);
        CHECK(memcmp(a, b, sizeof a) == 0, "the loaded model's densities differ");
        char desc[4096];
        nf_flow_describe(g, desc, sizeof desc);
        CHECK(strstr(desc, "column 0 in (0, 1) by logit") && strstr(desc, "column 1 in (0, inf) by log"), "%s", desc);
        float s[2 * 1000];
        CHECK(nf_flow_sample_given(g, c, 1000, 4, s, NULL) == NF_OK);
        CHECK(nf_flow_outside_bounds(g, s, 1000, NULL, NULL) == 0);
        nf_flow_free(g);
    }
    /* a model without bounds is saved as before: standardize first */
    nf_flow *h;
    nf_config_default(&cfg, NF_MODEL_GAUSSIAN, 2);
    CHECK(nf_flow_create(&h, &cfg) == NF_OK);
    CHECK(nf_flow_fit_standardization(h, x, N) == NF_OK);
    path_in(path, "plain.nfm");
    CHECK(nf_flow_save(h, path) == NF_OK);
    nf_flow_free(h);
    CHECK(nf_flow_load(&h, path) == NF_OK);
    CHECK(h && nf_flow_get_bounds(h, NULL, NULL) == 0 && !strcmp(h->layers[0]->ops->tag, "standardize"));
    nf_flow_free(h);
    free(x);
    free(c);
    nf_flow_free(f);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    RUN(test_exact_density);
    RUN(test_inside_by_construction);
    RUN(test_fit_mapped);
    RUN(test_set_rules);
    RUN(test_save_load);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) {
    }
    TEST_SUMMARY("test_bounds");
}
