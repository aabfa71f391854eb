/* Conditional flows p(x | c) through the public API: a density with a
 * known closed form, x | c Gaussian with a mean and covariance that depend
 * non-linearly on c, learnt to within 0.05 nats of the truth; the context
 * changes the density and the samples as it should; save/load keeps the
 * context standardisation; the calls refuse a missing or unexpected
 * context. (Gradients by the context: tests/dtest_layers.c.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "harness.h"
#include "nflow.h"

enum { N_TRAIN = 12000, N_VAL = 2000, N_TEST = 4000, N = N_TRAIN + N_VAL + N_TEST, D = 2, C = 1 };
static float x[N * D], c[N * C];
static double truth[N];

/* c ~ U(-2, 2); x1 = 1.5 sin(c) + s1(c) e1 with s1 = 0.2 + 0.15 c^2;
 * x2 = 0.6 c x1 + cos(2c) + 0.25 e2. */
static void make_data(void)
{
    rng r;
    rng_seed(&r, 77);
    const double half_log_2pi = 0.91893853320467274;
    for (int i = 0; i < N; i++) {
        double ci = -2 + 4 * rng_uniform(&r), s1 = 0.2 + 0.15 * ci * ci, m1 = 1.5 * sin(ci);
        double x1 = m1 + s1 * rng_normal(&r), m2 = 0.6 * ci * x1 + cos(2 * ci), x2 = m2 + 0.25 * rng_normal(&r);
        c[i] = (float)ci;
        x[i * D] = (float)x1;
        x[i * D + 1] = (float)x2;
        double e1 = (x[i * D] - m1) / s1, e2 = (x[i * D + 1] - 0.6 * ci * x[i * D] - cos(2 * ci)) / 0.25;
        truth[i] = -0.5 * e1 * e1 - log(s1) - half_log_2pi - 0.5 * e2 * e2 - log(0.25) - half_log_2pi;
    }
}

static nf_flow *trained(nf_model model, int epochs)
{
    nf_config cfg;
    nf_config_default(&cfg, model, D);
    cfg.context_dim = C;
    cfg.hidden = 48;
    cfg.layers = model == NF_MODEL_REALNVP ? 6 : 3;
    nf_flow *f = NULL;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK && nf_flow_context_dim(f) == C);
    CHECK(f && nf_flow_fit_standardization_given(f, x, c, N_TRAIN) == NF_OK);
    nf_train_options o;
    nf_train_options_default(&o);
    o.batch = 64;
    o.max_epochs = epochs;
    CHECK(f && nf_flow_train_given(f, x, c, N_TRAIN, x + N_TRAIN * D, c + N_TRAIN, N_VAL, &o, NULL) == NF_OK);
    return f;
}

/* The test rows' mean log p(x | c) against the truth on the same rows. */
static double gap_to_truth(nf_flow *f)
{
    static double lp[N_TEST];
    const float *xt = x + (N_TRAIN + N_VAL) * D, *ct = c + N_TRAIN + N_VAL;
    CHECK(nf_flow_log_prob_given(f, xt, ct, N_TEST, lp) == NF_OK);
    double gap = 0;
    for (int i = 0; i < N_TEST; i++)
        gap += (truth[N_TRAIN + N_VAL + i] - lp[i]) / N_TEST;
    return gap;
}

static void test_maf_learns_the_conditional(void)
{
    nf_flow *f = trained(NF_MODEL_MAF, 40);
    double gap = gap_to_truth(f);
    printf("conditional maf: mean log p(x|c) %.4f nats below the truth\n", gap);
    CHECK(fabs(gap) < 0.05, "conditional MAF: %.4f nats from the truth", gap);
    /* samples given c = 1.2 have the conditional's mean and spread of x1 */
    enum { S = 4000 };
    static float cs[S], xs[S * D];
    for (int i = 0; i < S; i++)
        cs[i] = 1.2f;
    CHECK(nf_flow_sample_given(f, cs, S, 9, xs, NULL) == NF_OK);
    double mean = 0, var = 0;
    for (int i = 0; i < S; i++)
        mean += xs[i * D] / S;
    for (int i = 0; i < S; i++)
        var += (xs[i * D] - mean) * (xs[i * D] - mean) / (S - 1);
    double want_mean = 1.5 * sin(1.2), want_sd = 0.2 + 0.15 * 1.44;
    CHECK(fabs(mean - want_mean) < 0.05 && fabs(sqrt(var) - want_sd) < 0.05, "x1 | c = 1.2: mean %.3f (%.3f), sd %.3f (%.3f)",
          mean, want_mean, sqrt(var), want_sd);
    /* a saved and loaded model gives the same log-densities */
    char path[] = "/tmp/nflow_test_conditional_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    nf_flow *g = NULL;
    static double a[64], b[64];
    CHECK(nf_flow_set_context_columns(f, "2") == NF_OK);
    CHECK(nf_flow_save(f, path) == NF_OK && nf_flow_load(&g, path) == NF_OK);
    unlink(path);
    CHECK(g && nf_flow_context_dim(g) == C && nf_flow_context_columns(g) && !strcmp(nf_flow_context_columns(g), "2"));
    /* the description names the context, and its columns once known */
    char text[4096];
    CHECK(g && nf_flow_describe(g, text, sizeof text) < sizeof text &&
              strstr(text, "\ncontext: 1 column (the data's columns 2)\n"),
          "describe: %s", text);
    CHECK(g && nf_flow_log_prob_given(f, x, c, 64, a) == NF_OK && nf_flow_log_prob_given(g, x, c, 64, b) == NF_OK &&
          memcmp(a, b, sizeof a) == 0);
    /* encode/decode round trip given the context */
    static float z[64 * D], back[64 * D];
    CHECK(nf_flow_encode_given(f, x, c, 64, z) == NF_OK && nf_flow_decode_given(f, z, c, 64, back) == NF_OK);
    double worst = 0;
    for (int i = 0; i < 64 * D; i++)
        worst = fmax(worst, fabs(back[i] - x[i]));
    CHECK(worst < 1e-4, "decode(encode(x)) off by %g", worst);
    /* the context is required, and refused where the model takes none */
    CHECK(nf_flow_log_prob(f, x, 4, a) == NF_ERR_INVALID);
    CHECK(nf_flow_log_prob_given(f, x, NULL, 4, a) == NF_ERR_INVALID);
    nf_flow_free(f);
    nf_flow_free(g);
}

static void test_coupling_and_mog_models_take_the_context(void)
{
    nf_model models[] = {NF_MODEL_REALNVP, NF_MODEL_MAF_MOG, NF_MODEL_NSF_AR};
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        nf_flow *f = trained(models[k], 12);
        double gap = gap_to_truth(f);
        printf("conditional model %d: %.4f nats below the truth\n", (int)models[k], gap);
        CHECK(gap < 0.25, "model %d: %.4f nats from the truth", (int)models[k], gap);
        nf_flow_free(f);
    }
}

/* Reverse KL to a conditional target: x | c ~ N((c, -c), 0.5^2 I). */
static int gaussian_given(const float *xs, const float *cs, size_t rows, int dim, int context_dim, double *log_p,
                          float *grad, void *user)
{
    (void)user;
    const double var = 0.25, half_log_2pi = 0.91893853320467274;
    for (size_t r = 0; r < rows; r++) {
        double lp = 0, cr = cs[r * context_dim];
        for (int j = 0; j < dim; j++) {
            double m = j ? -cr : cr, d = xs[r * dim + j] - m;
            lp += -0.5 * d * d / var - 0.5 * log(var) - half_log_2pi;
            if (grad)
                grad[r * dim + j] = (float)(-d / var);
        }
        log_p[r] = lp;
    }
    return 0;
}

/* Reverse KL under the training rows' contexts. */
static void kl_options(nf_kl_options *o)
{
    nf_kl_options_default(o);
    o->batch = 256;
    o->steps = 1500;
    o->lr = 3e-3;
    o->context = c;
    o->context_rows = N_TRAIN;
}

static nf_flow *iaf_student(void)
{
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_IAF, D);
    cfg.context_dim = C;
    cfg.hidden = 32;
    cfg.layers = 3;
    cfg.whiten = 0;
    nf_flow *f = NULL;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK);
    /* the contexts are U(-2, 2): mean 0, standard deviation 4 / sqrt(12) */
    CHECK(f && nf_flow_set_context_standardization(f, (double[]){0}, (double[]){1.1547}) == NF_OK);
    CHECK(f && nf_flow_set_context_standardization(f, (double[]){0}, (double[]){0}) == NF_ERR_INVALID);
    return f;
}

static void test_fit_conditional_target(void)
{
    nf_flow *f = iaf_student();
    nf_kl_options o;
    kl_options(&o);
    nf_kl_progress last;
    CHECK(f && nf_flow_fit_target_given(f, gaussian_given, NULL, &o, &last) == NF_OK);
    CHECK(last.kl < 0.02, "KL to the conditional target %.4f (up to its normaliser: 0 at the optimum)", last.kl);
    enum { S = 2000 };
    static float cs[S], xs[S * D];
    for (int i = 0; i < S; i++)
        cs[i] = 1.0f;
    CHECK(nf_flow_sample_given(f, cs, S, 3, xs, NULL) == NF_OK);
    double m0 = 0, m1 = 0;
    for (int i = 0; i < S; i++) {
        m0 += xs[i * D] / S;
        m1 += xs[i * D + 1] / S;
    }
    CHECK(fabs(m0 - 1) < 0.08 && fabs(m1 + 1) < 0.08, "given c = 1: mean (%.3f, %.3f), want (1, -1)", m0, m1);
    o.context = NULL; /* a conditional student needs the contexts */
    CHECK(nf_flow_fit_target_given(f, gaussian_given, NULL, &o, &last) == NF_ERR_INVALID);
    nf_flow_free(f);
}

/* A conditional IAF distilled from a conditional MAF teacher follows it:
 * small KL, and log-densities close to the teacher's on data. */
static void test_distill_conditional(void)
{
    nf_flow *teacher = trained(NF_MODEL_MAF, 40), *student = iaf_student();
    nf_kl_options o;
    kl_options(&o);
    nf_kl_progress last;
    CHECK(student && nf_flow_distill(student, teacher, &o, &last) == NF_OK);
    CHECK(last.kl < 0.05, "student-teacher KL %.4f", last.kl);
    double gap = gap_to_truth(student);
    printf("conditional IAF distilled from the MAF: %.4f nats below the truth (KL %.4f)\n", gap, last.kl);
    CHECK(gap < 0.1, "distilled student %.4f nats from the truth", gap);
    nf_flow_free(teacher);
    nf_flow_free(student);
}

static void test_unconditional_refuses_context(void)
{
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_MAF, D);
    nf_flow *f = NULL;
    double lp[4];
    CHECK(nf_flow_create(&f, &cfg) == NF_OK);
    char text[4096];
    CHECK(nf_flow_describe(f, text, sizeof text) < sizeof text && !strstr(text, "context"), "describe: %s", text);
    CHECK(nf_flow_log_prob_given(f, x, c, 4, lp) == NF_ERR_INVALID);
    CHECK(nf_flow_set_context_dim(f, 2) == NF_ERR_INVALID); /* after the layers */
    nf_flow_free(f);
}

int main(void)
{
    nf_set_threads(1);
    make_data();
    RUN(test_maf_learns_the_conditional);
    RUN(test_coupling_and_mog_models_take_the_context);
    RUN(test_fit_conditional_target);
    RUN(test_distill_conditional);
    RUN(test_unconditional_refuses_context);
    TEST_SUMMARY("test_conditional");
}
