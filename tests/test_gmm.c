/* The gmm model (a full-covariance Gaussian mixture fitted by EM) through
 * the public calls: it finds a mixture's components and density, chooses
 * their number on the validation rows, saves and loads to the same bits,
 * does not care about the data's units, resumes from its checkpoint, and
 * refuses what it cannot do. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "nflow.h"

enum { ROWS = 4000, DIM = 2, K = 4 };
static const double pi = 3.14159265358979323846;

/* Four Gaussians apart, each its own correlation and scale. */
static const double weight[K] = {0.4, 0.3, 0.2, 0.1};
static const double centre[K][DIM] = {{0, 0}, {6, 1}, {-5, 4}, {2, -7}};
static const double factor[K][3] = {{1, 0, 0.5}, {0.3, 0.8, 0.6}, {2, -1, 0.4}, {0.2, 0, 0.2}}; /* l11 l21 l22 */

static double truth(const float *x)
{
    double p = 0;
    for (int c = 0; c < K; c++) {
        double a = (x[0] - centre[c][0]) / factor[c][0];
        double b = (x[1] - centre[c][1] - factor[c][1] * a) / factor[c][2];
        p += weight[c] * exp(-0.5 * (a * a + b * b)) / (2 * pi * factor[c][0] * factor[c][2]);
    }
    return log(p);
}

static double normal(uint64_t *s)
{
    double u[2];
    for (int k = 0; k < 2; k++) {
        *s = *s * 6364136223846793005ull + 1442695040888963407ull;
        u[k] = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2 * log(u[0])) * cos(2 * pi * u[1]);
}

static void fill(float *x, double scale)
{
    uint64_t s = 99;
    for (int r = 0; r < ROWS; r++) {
        int c = r % 10 < 4 ? 0 : r % 10 < 7 ? 1 : r % 10 < 9 ? 2 : 3;
        double a = normal(&s), b = normal(&s);
        x[r * DIM] = (float)(scale * (centre[c][0] + factor[c][0] * a));
        x[r * DIM + 1] = (float)(scale * (centre[c][1] + factor[c][1] * a + factor[c][2] * b));
    }
}

/* A gmm fitted to the rows (20% for validation); components 0: chosen. */
static nf_flow *fitted(const float *x, size_t rows, int dim, int components, nf_data **data, nf_train_result *res)
{
    nf_data_options o;
    nf_data_options_default(&o);
    o.val_fraction = 0.2;
    o.test_fraction = 0;
    nf_data *d = NULL;
    nf_flow *f = NULL;
    nf_config cfg;
    nf_train_options t;
    CHECK(nf_data_from_arrays(&d, x, NULL, rows, dim, 0, NULL, NULL, 0, &o) == NF_OK, "%s", nf_last_error());
    if (!d)
        return NULL;
    CHECK(nf_data_defaults(d, "gmm", &cfg, &t) == NF_OK, "%s", nf_last_error());
    CHECK(cfg.components == 0 && cfg.whiten == 0 && cfg.tail_weight == 0);
    cfg.components = components;
    CHECK(nf_flow_create_for_data(&f, d, &cfg) == NF_OK, "%s", nf_last_error());
    if (f)
        CHECK(nf_flow_fit(f, d, &t, res) == NF_OK, "%s", nf_last_error());
    if (data)
        *data = d;
    else
        nf_data_free(d);
    return f;
}

static int components_of(const nf_flow *f)
{
    char text[4096];
    nf_flow_describe(f, text, sizeof text);
    const char *m = strstr(text, "model: gmm, ");
    return m ? atoi(m + strlen("model: gmm, ")) : -1;
}

static void test_finds_the_mixture(void)
{
    static float x[ROWS * DIM];
    fill(x, 1);
    nf_data *d = NULL;
    nf_train_result res;
    nf_flow *f = fitted(x, ROWS, DIM, 0, &d, &res);
    if (!f)
        return;
    CHECK(components_of(f) == 4, "chose %d components", components_of(f));
    /* the validation rows' mean log-density is the truth's within its noise (0.02 nats) */
    const float *v;
    size_t nv = nf_data_rows(d, NF_PART_VAL, &v, NULL);
    double mean_truth = 0;
    for (size_t r = 0; r < nv; r++)
        mean_truth += truth(v + r * DIM) / (double)nv;
    CHECK(nv == ROWS / 5);
    CHECK(fabs(res.val_log_likelihood - mean_truth) < 0.02, "gmm %g, truth %g", res.val_log_likelihood, mean_truth);
    CHECK(res.train_log_likelihood > res.val_log_likelihood - 0.1 && res.epochs >= 1 && res.best_epoch == res.epochs);
    /* draws: as many in each component's neighbourhood as its weight says (1,000 of 10,000 for the last) */
    enum { DRAWS = 10000 };
    float *s = malloc(sizeof(float) * DRAWS * DIM);
    CHECK(nf_flow_sample(f, DRAWS, 5, s, NULL) == NF_OK);
    int near_last = 0;
    for (int r = 0; r < DRAWS; r++)
        near_last += hypot(s[r * DIM] - centre[3][0], s[r * DIM + 1] - centre[3][1]) < 1.5;
    CHECK(abs(near_last - 1000) < 100, "%d draws near the fourth component", near_last);
    free(s);
    nf_flow_free(f);
    nf_data_free(d);
    /* a fixed number is kept */
    f = fitted(x, ROWS, DIM, 2, NULL, &res);
    CHECK(f && components_of(f) == 2);
    nf_flow_free(f);
}

/* Saved and loaded: the same densities and the same draws, bit for bit. */
static void test_save_load(void)
{
    static float x[ROWS * DIM];
    fill(x, 1);
    nf_flow *f = fitted(x, ROWS, DIM, 0, NULL, NULL), *g = NULL;
    if (!f)
        return;
    char path[] = "/tmp/nflow_test_gmm_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(nf_flow_save(f, path) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_load(&g, path) == NF_OK, "%s", nf_last_error());
    unlink(path);
    if (g) {
        static double a[ROWS], b[ROWS];
        static float sa[100 * DIM], sb[100 * DIM];
        CHECK(nf_flow_log_prob(f, x, ROWS, a) == NF_OK && nf_flow_log_prob(g, x, ROWS, b) == NF_OK);
        CHECK(memcmp(a, b, sizeof a) == 0);
        CHECK(nf_flow_sample(f, 100, 9, sa, NULL) == NF_OK && nf_flow_sample(g, 100, 9, sb, NULL) == NF_OK);
        CHECK(memcmp(sa, sb, sizeof sa) == 0);
        CHECK(components_of(g) == 4);
    }
    nf_flow_free(f);
    nf_flow_free(g);
}

/* The same rows in units a million times larger or smaller: the same
 * model, its log-densities shifted by -dim log(scale). */
static void test_units_do_not_matter(void)
{
    static float x[ROWS * DIM];
    nf_train_result base, big, small;
    fill(x, 1);
    nf_flow *f = fitted(x, ROWS, DIM, 0, NULL, &base);
    nf_flow_free(f);
    fill(x, 1e6);
    f = fitted(x, ROWS, DIM, 0, NULL, &big);
    nf_flow_free(f);
    fill(x, 1e-6);
    f = fitted(x, ROWS, DIM, 0, NULL, &small);
    nf_flow_free(f);
    CHECK_CLOSE(big.val_log_likelihood, base.val_log_likelihood - DIM * log(1e6), 1e-3, 0);
    CHECK_CLOSE(small.val_log_likelihood, base.val_log_likelihood - DIM * log(1e-6), 1e-3, 0);
}

/* One column; two rows without validation (BIC, as many components as rows at most). */
static void test_edges(void)
{
    static float x[ROWS];
    uint64_t s = 5;
    for (int r = 0; r < ROWS; r++)
        x[r] = (float)(r % 2 ? 3 + 0.2 * normal(&s) : normal(&s));
    nf_flow *f = fitted(x, ROWS, 1, 0, NULL, NULL);
    CHECK(f && components_of(f) == 2, "one column: %d components", f ? components_of(f) : -1);
    nf_flow_free(f);
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_GMM, 2);
    const float two[4] = {1, 2, 3, 5};
    double lp[2];
    nf_train_options o;
    nf_train_options_default(&o);
    nf_train_result res;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK && nf_flow_fit_standardization(f, two, 2) == NF_OK);
    CHECK(nf_flow_train(f, two, 2, NULL, 0, &o, &res) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_log_prob(f, two, 2, lp) == NF_OK && isfinite(lp[0]) && isfinite(lp[1]));
    CHECK(components_of(f) >= 1 && components_of(f) <= 2);
    nf_flow_free(f);
    /* more components asked than rows: one a row */
    cfg.components = 5;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK && nf_flow_fit_standardization(f, two, 2) == NF_OK);
    CHECK(nf_flow_train(f, two, 2, NULL, 0, &o, &res) == NF_OK, "%s", nf_last_error());
    CHECK(components_of(f) == 2, "%d components for 2 rows", components_of(f));
    cfg.components = 0;
    nf_flow_free(f);
    /* a context and a bad number of components are refused with the reason */
    cfg.context_dim = 1;
    CHECK(nf_flow_create(&f, &cfg) == NF_ERR_INVALID && strstr(nf_last_error(), "context"), "%s", nf_last_error());
    cfg.context_dim = 0;
    cfg.components = -1;
    CHECK(nf_flow_create(&f, &cfg) == NF_ERR_INVALID && strstr(nf_last_error(), "components"), "%s", nf_last_error());
    nf_model m;
    CHECK(nf_model_from_name("gmm", &m) == NF_OK && m == NF_MODEL_GMM && !strcmp(nf_model_name(m), "gmm"));
}

/* A checkpoint holds the fitted mixture; a resume from it checks the data
 * and ends with the same bits; other data are refused. */
static void test_checkpoint_and_resume(void)
{
    static float x[ROWS * DIM];
    static double a[ROWS], b[ROWS];
    fill(x, 1);
    char path[] = "/tmp/nflow_test_gmm_ck_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_GMM, DIM);
    nf_train_options o;
    nf_train_options_default(&o);
    o.checkpoint_path = path;
    nf_flow *f = NULL, *g = NULL;
    nf_train_result r1, r2;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK && nf_flow_fit_standardization(f, x, 3000) == NF_OK);
    CHECK(f && nf_flow_train(f, x, 3000, x + 3000 * DIM, 1000, &o, &r1) == NF_OK, "%s", nf_last_error());
    CHECK(f && nf_flow_checkpoint_failures(f, NULL) == 0);
    CHECK(nf_flow_load(&g, path) == NF_OK, "%s", nf_last_error());
    o.checkpoint_path = NULL;
    o.resume_path = path;
    CHECK(g && nf_flow_train(g, x, 3000, x + 3000 * DIM, 1000, &o, &r2) == NF_OK, "%s", nf_last_error());
    CHECK(f && g && nf_flow_log_prob(f, x, ROWS, a) == NF_OK && nf_flow_log_prob(g, x, ROWS, b) == NF_OK &&
          memcmp(a, b, sizeof a) == 0, "the resumed gmm differs");
    CHECK(r1.epochs == r2.epochs && r1.val_log_likelihood == r2.val_log_likelihood);
    CHECK(g && nf_flow_train(g, x, 2999, x + 3000 * DIM, 1000, &o, &r2) != NF_OK, "other data resumed");
    unlink(path);
    nf_flow_free(f);
    nf_flow_free(g);
}

int main(void)
{
    RUN(test_checkpoint_and_resume);
    RUN(test_finds_the_mixture);
    RUN(test_save_load);
    RUN(test_units_do_not_matter);
    RUN(test_edges);
    TEST_SUMMARY("test_gmm");
}
