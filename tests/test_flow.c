/* Flows through the public API in float: the lecture's worked examples,
 * normalisation of a trained density, round trips, save/load exactness,
 * corrupted files refused, determinism. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "extras/nflow_extras.h"
#include "core/error.h"
#include "flow/flow.h"
#include "harness.h"

static char dir[] = "/tmp/nflow_test_flow_XXXXXX";

static void path_in(char *buf, const char *name) { snprintf(buf, 256, "%s/%s", dir, name); }

/* Z ~ U[0, 2], X = 4 Z: p_X(4) = p_Z(1) / 4 = 1/8. */
static void test_worked_example_uniform(void)
{
    nf_flow *f;
    CHECK(nf_flow_new(&f, 1, NF_BASE_UNIFORM) == NF_OK);
    CHECK(nf_flow_set_uniform_box(f, 0, 2) == NF_OK);
    CHECK(nf_flow_add_rescale(f) == NF_OK);
    CHECK(nf_flow_finalize(f, 1) == NF_OK);
    f->params[0] = logf(4); /* x = z * exp(t) */
    float x[3] = {4, 0.5f, 9};
    double lp[3];
    CHECK(nf_flow_log_prob(f, x, 3, lp) == NF_OK);
    CHECK_CLOSE(exp(lp[0]), 0.125, 1e-7, 1e-6);
    CHECK_CLOSE(exp(lp[1]), 0.125, 1e-7, 1e-6);
    CHECK(isinf(lp[2]) && lp[2] < 0, "x = 9 lies outside 4 * [0, 2]: density 0");
    float s[1000];
    CHECK(nf_flow_sample(f, 1000, 7, s, NULL) == NF_OK);
    float mn = 100, mx = -100;
    for (int i = 0; i < 1000; i++)
        mn = fminf(mn, s[i]), mx = fmaxf(mx, s[i]);
    CHECK(mn >= 0 && mx <= 8 && mx > 7.5f && mn < 0.5f, "samples of 4 U[0,2] span [0, 8]: %g..%g", mn, mx);
    nf_flow_free(f);
}

/* Solve W y = b and log|det W| by Gaussian elimination (n <= 8). */
static double solve(const double *w, const double *b, double *y, int n)
{
    double a[8][9], ld = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++)
            a[i][j] = w[i * n + j];
        a[i][n] = b[i];
    }
    for (int c = 0; c < n; c++) {
        int p = c;
        for (int r = c + 1; r < n; r++)
            if (fabs(a[r][c]) > fabs(a[p][c]))
                p = r;
        for (int k = 0; k <= n; k++) {
            double t = a[c][k];
            a[c][k] = a[p][k];
            a[p][k] = t;
        }
        ld += log(fabs(a[c][c]));
        for (int r = c + 1; r < n; r++) {
            double m = a[r][c] / a[c][c];
            for (int k = c; k <= n; k++)
                a[r][k] -= m * a[c][k];
        }
    }
    for (int i = n - 1; i >= 0; i--) {
        double s = a[i][n];
        for (int k = i + 1; k < n; k++)
            s -= a[i][k] * y[k];
        y[i] = s / a[i][i];
    }
    return ld;
}

/* X = A Z: p_X(x) = p_Z(A^-1 x) / |det A|, with A = P L (U + diag s) made
 * from random parameters and computed here independently of the layer. */
static void test_linear_change_of_variables(void)
{
    const int n = 4;
    nf_flow *f;
    CHECK(nf_flow_new(&f, n, NF_BASE_NORMAL) == NF_OK);
    CHECK(nf_flow_add_linear_lu(f, 3) == NF_OK);
    CHECK(nf_flow_finalize(f, 1) == NF_OK);
    rng r;
    rng_seed(&r, 5);
    for (int k = 0; k < n * n; k++)
        f->params[k] = (float)(0.5 * rng_normal(&r));
    /* x = W z with W = P L U', (P y)_i = y[perm[i]]: read perm from the
     * layer's own saved description is circular, so recover W column by
     * column from decode (z = e_j) and check it is P L U' for some
     * permutation: rows of L U' permuted. */
    double w[16], lu[16];
    const float *m = f->params;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int k = 0; k <= (i < j ? i : j); k++)
                acc += (k == i ? 1.0 : m[i * n + k]) * (k == j ? exp(m[k * n + k]) : m[k * n + j]);
            lu[i * n + j] = acc;
        }
    for (int j = 0; j < n; j++) {
        float e[4] = {0}, col[4];
        e[j] = 1;
        CHECK(nf_flow_decode(f, e, 1, col) == NF_OK);
        for (int i = 0; i < n; i++)
            w[i * n + j] = col[i];
    }
    for (int i = 0; i < n; i++) { /* each row of W is some row of L U' */
        int found = 0;
        for (int k = 0; k < n && !found; k++) {
            int same = 1;
            for (int j = 0; j < n; j++)
                same &= fabs(w[i * n + j] - lu[k * n + j]) < 1e-5 * (1 + fabs(lu[k * n + j]));
            found = same;
        }
        CHECK(found, "row %d of W is not a row of L U'", i);
    }
    float x[4 * 5];
    double lp[5];
    for (int i = 0; i < 4 * 5; i++)
        x[i] = (float)rng_normal(&r);
    CHECK(nf_flow_log_prob(f, x, 5, lp) == NF_OK);
    for (int row = 0; row < 5; row++) {
        double b[4], z[4];
        for (int i = 0; i < n; i++)
            b[i] = x[row * n + i];
        double ld = solve(w, b, z, n), q = 0;
        for (int i = 0; i < n; i++)
            q += z[i] * z[i];
        double expect = -0.5 * q - 0.5 * n * log(2 * 3.14159265358979323846) - ld;
        CHECK_CLOSE(lp[row], expect, 1e-4, 1e-5);
    }
    nf_flow_free(f);
}

static nf_flow *train_toy(nf_model model, const char *toy, int epochs, float **data_out, size_t n)
{
    float *x = malloc(sizeof(float) * 2 * n);
    CHECK(nf_toy_sample(toy, n, 11, x) == NF_OK);
    nf_config cfg;
    nf_config_default(&cfg, model, 2);
    cfg.layers = 4;
    cfg.hidden = 32;
    nf_flow *f;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK);
    CHECK(nf_flow_fit_standardization(f, x, n) == NF_OK);
    nf_train_options o;
    nf_train_options_default(&o);
    o.max_epochs = epochs;
    nf_train_result res;
    CHECK(nf_flow_train(f, x, n, NULL, 0, &o, &res) == NF_OK);
    CHECK(res.epochs == epochs);
    if (data_out)
        *data_out = x;
    else
        free(x);
    return f;
}

/* A trained 2-D density of every kind integrates to 1 on a grid. */
static void test_trained_density_integrates_to_one(void)
{
    static const nf_model models[] = {NF_MODEL_NICE, NF_MODEL_REALNVP, NF_MODEL_MADE_MOG,
                                      NF_MODEL_MAF,  NF_MODEL_MAF_MOG, NF_MODEL_IAF};
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        nf_flow *f = train_toy(models[m], "eight_gaussians", 15, NULL, 2000);
        const int g = 500;
        const double lo = -9, hi = 9, cell = (hi - lo) / g;
        float *pts = malloc(sizeof(float) * 2 * g * g);
        double *lp = malloc(sizeof(double) * g * g), mass = 0;
        for (int i = 0; i < g; i++)
            for (int j = 0; j < g; j++) {
                pts[2 * (i * g + j)] = (float)(lo + (i + 0.5) * cell);
                pts[2 * (i * g + j) + 1] = (float)(lo + (j + 0.5) * cell);
            }
        CHECK(nf_flow_log_prob(f, pts, (size_t)g * g, lp) == NF_OK);
        for (int k = 0; k < g * g; k++)
            mass += exp(lp[k]) * cell * cell;
        CHECK(fabs(mass - 1) < 0.01, "model %d: mass %g", (int)models[m], mass);
        free(pts);
        free(lp);
        nf_flow_free(f);
    }
}

static int files_equal(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        same = ca == cb;
        if (ca == EOF)
            break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

/* Encode then decode returns the data; save/load reproduces every output;
 * the same seed gives the same bits. */
static void test_roundtrip_save_load_determinism(void)
{
    float *x;
    const size_t n = 500;
    nf_flow *f = train_toy(NF_MODEL_REALNVP, "two_moons", 5, &x, n);
    nf_flow *again = train_toy(NF_MODEL_REALNVP, "two_moons", 5, NULL, n);
    CHECK(memcmp(f->params, again->params, sizeof(float) * f->n_params) == 0, "same seed, different parameters");
    float *z = malloc(sizeof(float) * 2 * n), *back = malloc(sizeof(float) * 2 * n);
    CHECK(nf_flow_encode(f, x, n, z) == NF_OK);
    CHECK(nf_flow_decode(f, z, n, back) == NF_OK);
    for (size_t i = 0; i < 2 * n; i++)
        CHECK_CLOSE(back[i], x[i], 1e-5, 1e-4);
    char p1[256], p2[256];
    path_in(p1, "a.nfm");
    path_in(p2, "b.nfm");
    CHECK(nf_flow_save(f, p1) == NF_OK);
    CHECK(nf_flow_save(again, p2) == NF_OK);
    CHECK(files_equal(p1, p2), "two runs with one seed wrote different files");
    nf_flow *g;
    CHECK(nf_flow_load(&g, p1) == NF_OK);
    double *la = malloc(sizeof(double) * n), *lb = malloc(sizeof(double) * n);
    CHECK(nf_flow_log_prob(f, x, n, la) == NF_OK);
    CHECK(nf_flow_log_prob(g, x, n, lb) == NF_OK);
    CHECK(memcmp(la, lb, sizeof(double) * n) == 0, "log_prob differs after load");
    CHECK(nf_flow_sample(f, n, 3, z, la) == NF_OK);
    CHECK(nf_flow_sample(g, n, 3, back, lb) == NF_OK);
    CHECK(memcmp(z, back, sizeof(float) * 2 * n) == 0, "samples differ after load");
    /* the density reported with a sample is the density of that sample */
    double *lc = malloc(sizeof(double) * n);
    CHECK(nf_flow_log_prob(g, back, n, lc) == NF_OK);
    for (size_t i = 0; i < n; i++)
        CHECK_CLOSE(lb[i], lc[i], 1e-3, 1e-4);
    CHECK(nf_flow_param_count(g) == nf_flow_param_count(f));
    free(lc);
    free(la);
    free(lb);
    free(z);
    free(back);
    free(x);
    nf_flow_free(g);
    nf_flow_free(again);
    nf_flow_free(f);
}

/* A RealNVP with batch norm: training moves the running averages, and
 * save/load carries them (the same densities, bit for bit). */
static void test_batch_norm_save_load(void)
{
    const size_t n = 400;
    float *x = malloc(sizeof(float) * 2 * n), *z = malloc(sizeof(float) * 2 * n),
          *back = malloc(sizeof(float) * 2 * n);
    double *la = malloc(sizeof(double) * n), *lb = malloc(sizeof(double) * n);
    CHECK(nf_toy_sample("two_moons", n, 11, x) == NF_OK);
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_REALNVP, 2);
    cfg.layers = 2;
    cfg.hidden = 16;
    cfg.batch_norm = 1;
    nf_flow *f = NULL, *g = NULL;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK);
    if (f) {
        CHECK(f->n_state > 0, "no running averages");
        CHECK(nf_flow_fit_standardization(f, x, n) == NF_OK);
        nf_train_options o;
        nf_train_options_default(&o);
        o.max_epochs = 2;
        CHECK(nf_flow_train(f, x, n, NULL, 0, &o, NULL) == NF_OK);
        int moved = 0; /* from mean 0, variance 1 */
        for (size_t k = 0; k < f->n_state; k++)
            moved |= f->state[k] != (k % 4 < 2 ? 0.0f : 1.0f);
        CHECK(moved, "training left the running averages at their start");
        char desc[4096];
        nf_flow_describe(f, desc, sizeof desc);
        CHECK(strstr(desc, "batch_norm momentum=0.1") != NULL, "%s", desc);
        char p[256];
        path_in(p, "bn.nfm");
        CHECK(nf_flow_save(f, p) == NF_OK);
        CHECK(nf_flow_load(&g, p) == NF_OK);
    }
    if (g) {
        CHECK(g->n_state == f->n_state && memcmp(g->state, f->state, sizeof(float) * f->n_state) == 0);
        CHECK(nf_flow_log_prob(f, x, n, la) == NF_OK);
        CHECK(nf_flow_log_prob(g, x, n, lb) == NF_OK);
        CHECK(memcmp(la, lb, sizeof(double) * n) == 0, "log_prob differs after load");
        CHECK(nf_flow_encode(g, x, n, z) == NF_OK);
        CHECK(nf_flow_decode(g, z, n, back) == NF_OK);
        for (size_t i = 0; i < 2 * n; i++)
            CHECK_CLOSE(back[i], x[i], 1e-5, 1e-4);
    }
    nf_flow_free(g);
    nf_flow_free(f);
    free(x);
    free(z);
    free(back);
    free(la);
    free(lb);
}

/* Two-moons rows moved off balance (mean about (10, -3), stds about 5 and
 * 0.05), as a flow without fitted standardisation sees them. */
static float *off_balance(size_t n, uint64_t seed)
{
    float *x = malloc(sizeof(float) * 2 * n);
    CHECK(nf_toy_sample("two_moons", n, seed, x) == NF_OK);
    for (size_t r = 0; r < n; r++) {
        x[2 * r] = 10 + 5 * x[2 * r];
        x[2 * r + 1] = -3 + 0.1f * x[2 * r + 1];
    }
    return x;
}

/* Per-dimension mean and (biased) std of rows x 2, in double. */
static void moments(const float *x, size_t n, double *mean, double *std)
{
    for (int i = 0; i < 2; i++) {
        double m = 0, v = 0;
        for (size_t r = 0; r < n; r++)
            m += x[2 * r + i];
        m /= (double)n;
        for (size_t r = 0; r < n; r++)
            v += (x[2 * r + i] - m) * (x[2 * r + i] - m);
        mean[i] = m;
        std[i] = sqrt(v / (double)n);
    }
}

/* ActNorm: identity until the first training step, which sets it from the
 * batch (output mean 0, std 1); the flag and parameters survive save/load
 * (the same log_prob bits), and neither a second step nor a step of the
 * loaded model initialises again. Layers: standardize (not fitted: the
 * identity), actnorm, affine coupling, actnorm. */
static void test_actnorm_init_save_load(void)
{
    const size_t n = 256;
    float *x = off_balance(n, 5), *x2 = off_balance(n, 6);
    for (size_t r = 0; r < n; r++)
        x2[2 * r] += 20; /* a second batch with other statistics */
    double *la = malloc(sizeof(double) * n), *lb = malloc(sizeof(double) * n), mean[2], std[2];
    nf_flow *f = NULL, *g = NULL;
    CHECK(nf_flow_new(&f, 2, NF_BASE_NORMAL) == NF_OK);
    CHECK(nf_flow_add_actnorm(f) == NF_OK);
    CHECK(nf_flow_add_affine_coupling(f, NF_PART_HALVES, NULL, 0, 8, 1, NF_ACT_TANH, 3.0) == NF_OK);
    CHECK(nf_flow_add_actnorm(f) == NF_OK);
    CHECK(nf_flow_finalize(f, 3) == NF_OK);
    CHECK(nf_flow_add_actnorm(f) == NF_ERR_INVALID, "added after finalize");
    CHECK(f->n_state == 2 && f->state[0] == 0 && f->state[1] == 0);
    const layer *an = f->layers[1];
    CHECK(strcmp(an->ops->tag, "actnorm") == 0 && an->ops->n_params(an) == 4);
    CHECK(strcmp(f->layers[3]->ops->tag, "actnorm") == 0 && f->layers[3]->state == f->state + 1);
    real *p = f->params + an->p_off;
    for (int i = 0; i < 4; i++)
        CHECK(p[i] == 0, "init_params: the identity");
    /* evaluation before training initialises nothing */
    CHECK(nf_flow_log_prob(f, x, n, la) == NF_OK);
    CHECK(f->state[0] == 0 && p[0] == 0 && p[2] == 0);

    nf_train_options o;
    nf_train_options_default(&o);
    o.batch = (int)n;
    double loss;
    CHECK(nf_flow_train_step(f, x, n, &o, &loss) == NF_OK && isfinite(loss));
    CHECK(f->state[0] == 1 && f->state[1] == 1, "flags %g %g", f->state[0], f->state[1]);
    /* that step's forward pass computed with the initialised values: the
     * actnorm's output (its activation buffer) is standardised exactly */
    double zm[2], zs[2];
    moments(f->work.act[1], n, zm, zs);
    moments(x, n, mean, std);
    for (int i = 0; i < 2; i++) {
        CHECK_CLOSE(zm[i], 0, 1e-5, 0);
        CHECK_CLOSE(zs[i], 1, 1e-5, 1e-5);
        /* then one Adam step of about lr moved b and logs */
        CHECK_CLOSE(p[i], mean[i], 3 * o.lr, 3 * o.lr);
        CHECK_CLOSE(p[2 + i], log(std[i]), 3 * o.lr, 0);
    }
    /* the output with the stepped parameters: still about mean 0, std 1 */
    float *z = malloc(sizeof(float) * 2 * n);
    for (size_t r = 0; r < n; r++)
        for (int i = 0; i < 2; i++)
            z[2 * r + i] = (float)((x[2 * r + i] - p[i]) * exp(-(double)p[2 + i]));
    moments(z, n, zm, zs);
    for (int i = 0; i < 2; i++) {
        CHECK_CLOSE(zm[i], 0, 0.01, 0);
        CHECK_CLOSE(zs[i], 1, 0.01, 0.01);
    }
    char desc[4096];
    nf_flow_describe(f, desc, sizeof desc);
    CHECK(strstr(desc, "actnorm (initialised from data)") != NULL, "%s", desc);

    char path[256];
    path_in(path, "actnorm.nfm");
    CHECK(nf_flow_save(f, path) == NF_OK);
    CHECK(nf_flow_load(&g, path) == NF_OK);
    if (g) {
        CHECK(g->n_state == 2 && memcmp(g->state, f->state, sizeof(float) * 2) == 0);
        CHECK(g->n_params == f->n_params && memcmp(g->params, f->params, sizeof(float) * f->n_params) == 0);
        CHECK(nf_flow_log_prob(f, x, n, la) == NF_OK);
        CHECK(nf_flow_log_prob(g, x, n, lb) == NF_OK);
        CHECK(memcmp(la, lb, sizeof(double) * n) == 0, "log_prob differs after load");
    }
    /* a second step (in memory, and of the loaded model) moves the
     * parameters by about lr, not to the new batch's statistics */
    nf_flow *both[2] = {f, g};
    for (int k = 0; k < 2 && both[k]; k++) {
        nf_flow *h = both[k];
        real *q = h->params + h->layers[1]->p_off, keep[4];
        memcpy(keep, q, sizeof keep);
        CHECK(nf_flow_train_step(h, x2, n, &o, &loss) == NF_OK);
        CHECK(h->state[0] == 1 && h->state[1] == 1);
        for (int i = 0; i < 4; i++)
            CHECK_CLOSE(q[i], keep[i], 3 * o.lr, 0);
    }
    /* a flag other than 0 or 1 is refused on loading */
    f->state[0] = 0.5f;
    path_in(path, "actnorm_bad.nfm");
    CHECK(nf_flow_save(f, path) == NF_OK);
    nf_flow *bad = NULL;
    CHECK(nf_flow_load(&bad, path) == NF_ERR_FORMAT && bad == NULL);
    CHECK(strstr(nf_last_error(), "actnorm") != NULL, "%s", nf_last_error());
    nf_flow_free(g);
    nf_flow_free(f);
    free(x);
    free(x2);
    free(z);
    free(la);
    free(lb);
}

/* The initialisation's statistics do not depend on the thread count: one
 * step of a large batch (row passes in parallel) at 1 and at 4 threads. */
static void test_actnorm_threads(void)
{
    const size_t n = 6000;
    float *x = off_balance(n, 8);
    double *lp[2] = {malloc(sizeof(double) * n), malloc(sizeof(double) * n)};
    nf_flow *f[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        nf_set_threads(k ? 4 : 1);
        CHECK(nf_flow_new(&f[k], 2, NF_BASE_NORMAL) == NF_OK);
        CHECK(nf_flow_add_actnorm(f[k]) == NF_OK);
        CHECK(nf_flow_add_rescale(f[k]) == NF_OK);
        CHECK(nf_flow_finalize(f[k], 1) == NF_OK);
        nf_train_options o;
        nf_train_options_default(&o);
        o.batch = (int)n;
        CHECK(nf_flow_train_step(f[k], x, n, &o, NULL) == NF_OK);
        CHECK(nf_flow_log_prob(f[k], x, n, lp[k]) == NF_OK);
    }
    nf_set_threads(1);
    CHECK(f[0]->state[0] == 1 && f[1]->state[0] == 1);
    CHECK(memcmp(f[0]->params, f[1]->params, sizeof(float) * f[0]->n_params) == 0, "parameters differ");
    CHECK(memcmp(lp[0], lp[1], sizeof(double) * n) == 0, "log_prob differs");
    for (int k = 0; k < 2; k++) {
        nf_flow_free(f[k]);
        free(lp[k]);
    }
    free(x);
}

static void test_corrupted_model_refused(void)
{
    char p[256], q[256];
    path_in(p, "a.nfm");
    path_in(q, "bad.nfm");
    size_t n = 0;
    unsigned char *buf = th_slurp(p, &n);
    long size = (long)n;
    CHECK(buf && size > 0, "%s", p);
    if (!buf)
        return;
    long cuts[] = {0, 7, 20, size / 2, size - 5, size - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        FILE *out = fopen(q, "wb");
        fwrite(buf, 1, (size_t)cuts[c], out);
        fclose(out);
        nf_flow *f = NULL;
        nf_status st = nf_flow_load(&f, q);
        CHECK(st != NF_OK && f == NULL, "truncated to %ld bytes accepted", cuts[c]);
        CHECK(strstr(nf_last_error(), q) != NULL, "message does not name the file: %s", nf_last_error());
    }
    for (long at = 10; at < size; at += size / 7) {
        buf[at] ^= 0x10;
        FILE *out = fopen(q, "wb");
        fwrite(buf, 1, (size_t)size, out);
        fclose(out);
        buf[at] ^= 0x10;
        nf_flow *f = NULL;
        CHECK(nf_flow_load(&f, q) != NF_OK && f == NULL, "a flipped byte at %ld accepted", at);
    }
    nf_flow *f = NULL;
    path_in(q, "missing.nfm");
    CHECK(nf_flow_load(&f, q) == NF_ERR_IO && strstr(nf_last_error(), "missing.nfm"));
    free(buf);
}

/* A model as bytes in memory: the file's bytes exactly, read back to the
 * same densities, and refused truncated or corrupted as a file is. */
static void test_model_bytes(void)
{
    char p[256];
    path_in(p, "a.nfm");
    size_t size = 0;
    unsigned char *file = th_slurp(p, &size);
    CHECK(file && size > 0, "%s", p);
    if (!file)
        return;
    nf_flow *f = NULL, *g = NULL;
    void *bytes = NULL;
    size_t n = 0;
    CHECK(nf_flow_load(&f, p) == NF_OK && nf_flow_save_bytes(f, &bytes, &n) == NF_OK, "%s", nf_last_error());
    CHECK(n == size && bytes && memcmp(bytes, file, n) == 0, "the bytes are not the file's");
    CHECK(nf_flow_load_bytes(&g, bytes, n) == NF_OK, "%s", nf_last_error());
    float x[2 * 50];
    double la[50], lb[50];
    for (int i = 0; i < 100; i++)
        x[i] = (float)sin(0.37 * i);
    CHECK(g && nf_flow_log_prob(f, x, 50, la) == NF_OK && nf_flow_log_prob(g, x, 50, lb) == NF_OK &&
          memcmp(la, lb, sizeof la) == 0, "densities differ after reading the bytes");
    nf_flow_free(g);
    g = NULL;
    size_t cuts[] = {0, 7, n / 2, n - 1};
    for (size_t c = 0; c < 4; c++)
        CHECK(nf_flow_load_bytes(&g, bytes, cuts[c]) != NF_OK && !g && strstr(nf_last_error(), "model bytes"),
              "truncated to %zu bytes: %s", cuts[c], nf_last_error());
    ((unsigned char *)bytes)[n / 3] ^= 0x10;
    CHECK(nf_flow_load_bytes(&g, bytes, n) != NF_OK && !g, "a flipped byte accepted");
    CHECK(nf_flow_load_bytes(&g, NULL, 5) == NF_ERR_INVALID && nf_flow_save_bytes(f, NULL, &n) == NF_ERR_INVALID);
    nf_free(bytes);
    nf_flow_free(f);
    free(file);
}

static void test_bad_arguments(void)
{
    nf_flow *f = NULL;
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_REALNVP, 1); /* one column: element-wise layers, no split */
    CHECK(nf_flow_create(&f, &cfg) == NF_OK && f != NULL);
    nf_flow_free(f);
    f = NULL;
    nf_config_default(&cfg, NF_MODEL_REALNVP, 3);
    cfg.hidden = 0;
    CHECK(nf_flow_create(&f, &cfg) == NF_ERR_INVALID);
    cfg.hidden = 8;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK);
    float x[6] = {1, 2, 3, 1, 2, 3};
    CHECK(nf_flow_fit_standardization(f, x, 2) == NF_ERR_INVALID, "constant columns have no density");
    nf_train_options o;
    nf_train_options_default(&o);
    o.lr = -1;
    CHECK(nf_flow_train(f, x, 2, NULL, 0, &o, NULL) == NF_ERR_INVALID);
    nf_train_options_default(&o);
    double bad_dropout[] = {-0.1, 1, NAN};
    for (int i = 0; i < 3; i++) {
        o.dropout = bad_dropout[i];
        CHECK(nf_flow_train(f, x, 2, NULL, 0, &o, NULL) == NF_ERR_INVALID && strstr(nf_last_error(), "dropout"),
              "dropout %g: %s", bad_dropout[i], nf_last_error());
    }
    CHECK(strlen(nf_status_string(NF_ERR_CHECKSUM)) > 0);
    nf_flow_free(f);
    nf_flow_free(NULL);
}

/* A loss that cannot be finite (data outside a uniform base's box) is an
 * error, and the parameters stay finite. */
static void test_nonfinite_loss_reported(void)
{
    nf_flow *f;
    CHECK(nf_flow_new(&f, 2, NF_BASE_UNIFORM) == NF_OK);
    CHECK(nf_flow_add_rescale(f) == NF_OK);
    CHECK(nf_flow_finalize(f, 1) == NF_OK);
    float x[4] = {5, 5, 6, 6};
    nf_train_options o;
    nf_train_options_default(&o);
    CHECK(nf_flow_train(f, x, 2, NULL, 0, &o, NULL) == NF_ERR_NONFINITE);
    CHECK(f->params[0] == 0 && f->params[1] == 0);
    nf_flow_free(f);
}

/* A layer constructor's failure keeps its code: out of memory is not an
 * invalid argument. */
static void test_constructor_failure_code(void)
{
    nf_flow *f = NULL;
    CHECK(nf_flow_new(&f, 2, NF_BASE_NORMAL) == NF_OK);
    nf_fail(NF_ERR_NOMEM, "out of memory creating a test layer");
    CHECK(flow_add(f, NULL) == NF_ERR_NOMEM && strstr(nf_last_error(), "test layer"), "%s", nf_last_error());
    nf_fail(NF_ERR_INVALID, "a bad size");
    CHECK(flow_add(f, NULL) == NF_ERR_INVALID);
    nf_flow_free(f);
}

/* Model kinds by name both ways, and the config a flow was built from. */
static void test_model_names_and_config(void)
{
    nf_model m = NF_MODEL_MAF;
    CHECK(!strcmp(nf_model_name(NF_MODEL_MAF_MOG), "maf-mog") && nf_model_name(NF_MODEL_COUNT) == NULL);
    for (int k = 0; k < NF_MODEL_COUNT; k++)
        CHECK(nf_model_from_name(nf_model_name((nf_model)k), &m) == NF_OK && m == (nf_model)k, "kind %d", k);
    CHECK(nf_model_from_name("maf_mog", &m) == NF_ERR_INVALID && strstr(nf_last_error(), "maf-mog"), "%s",
          nf_last_error());
    nf_config cfg, got;
    nf_config_default(&cfg, NF_MODEL_REALNVP, 3);
    cfg.layers = 2;
    cfg.hidden = 7;
    nf_flow *f = NULL;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK);
    nf_config_default(&got, NF_MODEL_MAF, 1);
    CHECK(nf_flow_get_config(f, &got) == NF_OK && got.model == NF_MODEL_REALNVP && got.layers == 2 &&
          got.hidden == 7 && got.dim == 3 && got.struct_size == sizeof got);
    nf_flow_free(f);
    CHECK(nf_flow_new(&f, 2, NF_BASE_NORMAL) == NF_OK && nf_flow_add_rescale(f) == NF_OK);
    CHECK(nf_flow_get_config(f, &got) == NF_ERR_UNSUPPORTED);
    nf_flow_free(f);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    nf_set_threads(1);
    RUN(test_worked_example_uniform);
    RUN(test_linear_change_of_variables);
    RUN(test_trained_density_integrates_to_one);
    RUN(test_roundtrip_save_load_determinism);
    nf_set_threads(2); /* the same bits at a fixed thread count above one */
    RUN(test_roundtrip_save_load_determinism);
    nf_set_threads(1);
    RUN(test_corrupted_model_refused);
    RUN(test_model_bytes);
    RUN(test_batch_norm_save_load);
    RUN(test_actnorm_init_save_load);
    RUN(test_actnorm_threads);
    RUN(test_bad_arguments);
    RUN(test_nonfinite_loss_reported);
    RUN(test_constructor_failure_code);
    RUN(test_model_names_and_config);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    TEST_SUMMARY("test_flow");
}
