/* The Gaussian start and tail floor (src/models/whitening.c, src/flow/gaussian_fit.c)
 * and the dequantisation helpers: the untrained whitened flow is the
 * full-covariance Gaussian of the data; training never returns a model
 * that validates below it; the model's density is the mixture with the
 * fit, so a far-out point scores near the Gaussian; sampling draws from
 * the same mixture whose density log_prob reports. */
#include <string.h>

#include "flow/flow.h"
#include "flow/gaussian_fit.h"
#include "core/rng.h"
#include "harness.h"

enum { P = 4 };

/* rows of N(mu, A A^T) for a fixed lower-triangular A */
static float *correlated(size_t rows, uint64_t seed)
{
    static const double a[P][P] = {{2, 0, 0, 0}, {1.5, 0.5, 0, 0}, {-1, 0.3, 0.8, 0}, {0.2, -0.7, 0.4, 1.0}};
    static const double mu[P] = {10, -3, 0.5, 100};
    rng r;
    rng_seed(&r, seed);
    float *x = malloc(sizeof(float) * rows * P);
    for (size_t i = 0; i < rows; i++) {
        double e[P];
        for (int j = 0; j < P; j++)
            e[j] = rng_normal(&r);
        for (int j = 0; j < P; j++) {
            double v = mu[j];
            for (int k = 0; k <= j; k++)
                v += a[j][k] * e[k];
            x[i * P + j] = (float)v;
        }
    }
    return x;
}

static nf_flow *whitened_maf(const float *x, size_t rows, double tail_weight)
{
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_MAF, P);
    cfg.layers = 2;
    cfg.hidden = 16;
    cfg.tail_weight = tail_weight;
    nf_flow *f = NULL;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK);
    CHECK(f && nf_flow_fit_standardization(f, x, rows) == NF_OK);
    return f;
}

/* log N(x; mean, S) with the maximum-likelihood mean and covariance of
 * data, by Gaussian elimination in double. */
static double gaussian_ml_log_prob(const float *data, size_t rows, const float *x)
{
    double mean[P] = {0}, s[P][P] = {{0}};
    for (size_t i = 0; i < rows; i++)
        for (int j = 0; j < P; j++)
            mean[j] += data[i * P + j] / (double)rows;
    for (size_t i = 0; i < rows; i++)
        for (int j = 0; j < P; j++)
            for (int k = 0; k < P; k++)
                s[j][k] += (data[i * P + j] - mean[j]) * (data[i * P + k] - mean[k]) / (double)rows;
    double d[P], logdet = 0;
    for (int j = 0; j < P; j++)
        d[j] = x[j] - mean[j];
    /* S = L L^T; solve L y = d; log p = -0.5 |y|^2 - sum log L_jj - P/2 log 2pi */
    double l[P][P] = {{0}};
    for (int j = 0; j < P; j++) {
        double v = s[j][j];
        for (int k = 0; k < j; k++)
            v -= l[j][k] * l[j][k];
        l[j][j] = sqrt(v);
        for (int i = j + 1; i < P; i++) {
            double w = s[i][j];
            for (int k = 0; k < j; k++)
                w -= l[i][k] * l[j][k];
            l[i][j] = w / l[j][j];
        }
    }
    double q = 0;
    for (int j = 0; j < P; j++) {
        double y = d[j];
        for (int k = 0; k < j; k++)
            y -= l[j][k] * d[k];
        d[j] = y / l[j][j];
        q += d[j] * d[j];
        logdet += log(l[j][j]);
    }
    return -0.5 * q - logdet - 0.5 * P * log(2 * 3.14159265358979323846);
}

static void test_untrained_is_the_gaussian_fit(void)
{
    size_t n = 20000;
    float *x = correlated(n, 1);
    nf_flow *f = whitened_maf(x, n, 0);
    float probe[3 * P] = {10, -3, 0.5f, 100, 12, -1, -1, 100.2f, 6, -5, 2, 99.5f};
    double lp[3];
    CHECK(nf_flow_log_prob(f, probe, 3, lp) == NF_OK);
    /* Ledoit-Wolf's shrinkage (lambda ~ 3e-4 here) moves the quadratic
     * form by about lambda / the smallest eigenvalue: well under 1% */
    for (int i = 0; i < 3; i++)
        CHECK_CLOSE(lp[i], gaussian_ml_log_prob(x, n, probe + i * P), 0.01, 0.01);
    nf_flow_free(f);
    free(x);
}

/* Few rows of Gaussian data and a high learning rate: the flow overfits
 * from its first epoch, so the Gaussian start is the best candidate. */
static void test_training_never_validates_below_the_start(void)
{
    size_t n_train = 60, n_val = 400;
    float *x = correlated(n_train, 2), *v = correlated(n_val, 3);
    nf_flow *f = whitened_maf(x, n_train, 0);
    double start[400], mean_start = 0, mean_end = 0;
    CHECK(nf_flow_log_prob(f, v, n_val, start) == NF_OK);
    for (size_t i = 0; i < n_val; i++)
        mean_start += start[i] / n_val;
    nf_train_options o;
    nf_train_options_default(&o);
    o.lr = 0.05;
    o.batch = 16;
    o.max_epochs = 30;
    o.patience = 10;
    nf_train_result res;
    CHECK(nf_flow_train(f, x, n_train, v, n_val, &o, &res) == NF_OK);
    CHECK(nf_flow_log_prob(f, v, n_val, start) == NF_OK);
    for (size_t i = 0; i < n_val; i++)
        mean_end += start[i] / n_val;
    CHECK(mean_end >= mean_start - 1e-9, "validation %.6f below the untrained %.6f", mean_end, mean_start);
    CHECK_CLOSE(res.val_log_likelihood, mean_end, 1e-9, 0);
    nf_flow_free(f);
    free(x);
    free(v);
}

static void test_tail_floor_and_mixture(void)
{
    size_t n = 5000;
    float *x = correlated(n, 4);
    double w = 1e-3;
    nf_flow *f = whitened_maf(x, n, w), *bare = whitened_maf(x, n, 0);
    nf_train_options o;
    nf_train_options_default(&o);
    o.max_epochs = 3;
    CHECK(nf_flow_train(f, x, n, NULL, 0, &o, NULL) == NF_OK);
    memcpy(bare->params, f->params, sizeof(float) * f->n_params);
    /* far out: 50 standard deviations in the first column */
    float far[2 * P] = {10 + 50 * 2, -3, 0.5f, 100, 10, -3 + 0.5f, 0.5f, 100};
    double lp[2], flow_only[2], gauss[2];
    CHECK(nf_flow_log_prob(f, far, 2, lp) == NF_OK);
    CHECK(nf_flow_log_prob(bare, far, 2, flow_only) == NF_OK);
    CHECK(flow_reserve(f, 2) == NF_OK);
    flow_gauss_log_prob(f, 2, far, gauss);
    for (int i = 0; i < 2; i++) {
        double mix = log((1 - w) * exp(flow_only[i]) + w * exp(gauss[i]));
        if (!isfinite(mix)) /* exp underflow: the larger term decides */
            mix = fmax(log1p(-w) + flow_only[i], log(w) + gauss[i]);
        CHECK_CLOSE(lp[i], mix, 1e-6, 1e-6);
        CHECK(lp[i] >= gauss[i] + log(w) - 1e-9, "row %d: %.3f below the floor %.3f", i, lp[i], gauss[i] + log(w));
    }
    CHECK(gauss[0] < -1000, "the far point is far (%.1f)", gauss[0]);
    nf_flow_free(f);
    nf_flow_free(bare);
    free(x);
}

/* With a large weight many samples come from the Gaussian: the log-density
 * nf_flow_sample reports is the mixture's at each sample. */
static void test_sampling_draws_from_the_mixture(void)
{
    size_t n = 3000;
    float *x = correlated(n, 5);
    nf_flow *f = whitened_maf(x, n, 0.3);
    nf_train_options o;
    nf_train_options_default(&o);
    o.max_epochs = 2;
    CHECK(nf_flow_train(f, x, n, NULL, 0, &o, NULL) == NF_OK);
    enum { S = 1500 };
    float *s = malloc(sizeof(float) * S * P);
    double lp[S], again[S];
    CHECK(nf_flow_sample(f, S, 9, s, lp) == NF_OK);
    CHECK(nf_flow_log_prob(f, s, S, again) == NF_OK);
    int worst = 0;
    for (int i = 0; i < S; i++)
        if (fabs(lp[i] - again[i]) > fabs(lp[worst] - again[worst]))
            worst = i;
    CHECK_CLOSE(lp[worst], again[worst], 1e-3, 1e-4);
    /* the sample mean of the 4th column near the data's (100) */
    double m = 0;
    for (int i = 0; i < S; i++)
        m += s[i * P + 3] / S;
    CHECK_CLOSE(m, 100, 0.1, 0);
    nf_flow_free(f);
    free(s);
    free(x);
}

static void test_integer_columns_and_dequantize(void)
{
    float v[3 * 3] = {1, 0.5f, 3, 2, 7, -4, 0, 1, 1e6f};
    nf_matrix m = {3, 3, v, NULL, 0};
    int flags[3];
    CHECK(nf_matrix_integer_columns(&m, flags) == 2);
    CHECK(flags[0] == 1 && flags[1] == 0 && flags[2] == 1);
    float before[9];
    memcpy(before, v, sizeof before);
    CHECK(nf_matrix_dequantize(&m, flags, 7) == NF_OK);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            float d = v[i * 3 + j] - before[i * 3 + j];
            if (flags[j] && j == 0)
                CHECK(d >= 0 && d < 1 && d != 0, "noise %g", d);
            if (!flags[j])
                CHECK(d == 0);
        }
    /* the recipe's streams: the same part the same noise, each part its own */
    float a[4] = {0, 0, 0, 0}, b[4] = {0, 0, 0, 0}, c[4] = {0, 0, 0, 0};
    nf_matrix ma = {4, 1, a, NULL, 0}, mb = {4, 1, b, NULL, 0}, mc = {4, 1, c, NULL, 0};
    int one = 1;
    CHECK(nf_matrix_dequantize_part(&ma, &one, 5, 1) == NF_OK && nf_matrix_dequantize_part(&mb, &one, 5, 1) == NF_OK &&
          nf_matrix_dequantize_part(&mc, &one, 5, 2) == NF_OK);
    CHECK(!memcmp(a, b, sizeof a) && memcmp(a, c, sizeof a), "streams of parts 1 and 2");
    CHECK(nf_matrix_dequantize_part(&ma, &one, 5, 3) == NF_ERR_INVALID && nf_matrix_dequantize_part(&ma, &one, 5, -1));
}

/* The documented rule (README.md, "Defaults and how they were chosen"). */
static void test_defaults_for_data(void)
{
    nf_config c;
    nf_train_options o;
    nf_config_default(&c, NF_MODEL_MAF, 128);
    nf_train_options_default(&o);
    nf_defaults_for_data(1663, 128, &c, &o);
    CHECK(c.hidden == 100 && o.batch == 32 && o.dropout == 0.2, "hidden %d batch %d dropout %g", c.hidden, o.batch,
          o.dropout);
    nf_defaults_for_data(18000, 2, &c, &o);
    CHECK(c.hidden == 100 && o.batch == 64 && o.dropout == 0, "hidden %d batch %d dropout %g", c.hidden, o.batch,
          o.dropout);
    /* dropout: 8 columns or more, below 5,000 rows */
    nf_defaults_for_data(4999, 8, NULL, &o);
    CHECK(o.dropout == 0.2, "dropout %g", o.dropout);
    nf_defaults_for_data(5000, 8, NULL, &o);
    CHECK(o.dropout == 0, "dropout %g", o.dropout);
    nf_defaults_for_data(500, 7, NULL, &o);
    CHECK(o.dropout == 0, "dropout %g", o.dropout);
    nf_defaults_for_data(64000, 2, &c, &o);
    CHECK(o.batch == 256, "batch %d", o.batch);
    nf_defaults_for_data(1000000, 63, &c, &o);
    CHECK(c.hidden == 252 && o.batch == 256, "hidden %d batch %d", c.hidden, o.batch);
    nf_defaults_for_data(60000, 300, &c, NULL);
    CHECK(c.hidden == 512);
    nf_defaults_for_data(10, 3, NULL, &o);
    CHECK(o.batch == 32);
    CHECK(nf_default_model(1663, 128) == NF_MODEL_MAF_MOG);
    CHECK(nf_default_model(1000000, 63) == NF_MODEL_MAF);
    CHECK(nf_default_model(1000000, 2) == NF_MODEL_MAF_MOG);
}

int main(void)
{
    RUN(test_defaults_for_data);
    RUN(test_untrained_is_the_gaussian_fit);
    RUN(test_training_never_validates_below_the_start);
    RUN(test_tail_floor_and_mixture);
    RUN(test_sampling_draws_from_the_mixture);
    RUN(test_integer_columns_and_dequantize);
    TEST_SUMMARY("test_gaussian_start");
}
