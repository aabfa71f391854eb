/* Reverse-KL training through the public API, in float: a student that can
 * represent its teacher exactly (a full-covariance Gaussian, an affine IAF)
 * reaches KL < 0.01 nats and the teacher's mean and covariance; the KL the
 * training reports agrees with an independent estimate from the two
 * models' densities; a callback target works the same way; bad pairs are
 * refused. */
#include <stdlib.h>
#include <string.h>

#include "flow/flow.h"
#include "harness.h"

enum { DIM = 3 };

/* A Gaussian teacher: standardize, a random LU layer and a rescale (all
 * linear: x = A z + b). */
static nf_flow *gaussian_teacher(void)
{
    nf_flow *t;
    CHECK(nf_flow_new(&t, DIM, NF_BASE_NORMAL) == NF_OK);
    CHECK(nf_flow_add_linear_lu(t, 5) == NF_OK);
    CHECK(nf_flow_add_rescale(t) == NF_OK);
    CHECK(nf_flow_finalize(t, 1) == NF_OK);
    rng r;
    rng_seed(&r, 8);
    for (size_t k = 0; k < t->n_params; k++)
        t->params[k] = (float)(0.6 * rng_normal(&r));
    CHECK(nf_flow_set_standardization(t, (double[]){1, -2, 0.5}, (double[]){2, 0.5, 1.5}) == NF_OK);
    return t;
}

/* An affine student: one IAF whose MADE has no hidden layer, so
 * x_k = u_k exp(alpha_k) + mu_k(u_<k) with alpha constant, mu linear: every
 * Gaussian has such a (Cholesky) form. */
static nf_flow *affine_student(const nf_flow *teacher)
{
    nf_flow *s;
    nf_made_options o;
    nf_made_options_default(&o);
    o.hidden_layers = 0;
    CHECK(nf_flow_new(&s, DIM, NF_BASE_NORMAL) == NF_OK);
    CHECK(nf_flow_add_iaf(s, &o) == NF_OK);
    CHECK(nf_flow_finalize(s, 2) == NF_OK);
    double mean[DIM], std[DIM];
    CHECK(nf_flow_get_standardization(teacher, mean, std) == NF_OK);
    CHECK(nf_flow_set_standardization(s, mean, std) == NF_OK);
    return s;
}

/* Mean and covariance of an affine flow x = A z + b: b = decode(0), A's
 * columns decode(e_i) - b. */
static void affine_moments(nf_flow *f, double *mean, double *cov)
{
    float z[(DIM + 1) * DIM] = {0}, x[(DIM + 1) * DIM];
    for (int i = 0; i < DIM; i++)
        z[(i + 1) * DIM + i] = 1;
    CHECK(nf_flow_decode(f, z, DIM + 1, x) == NF_OK);
    double a[DIM][DIM];
    for (int i = 0; i < DIM; i++) {
        mean[i] = x[i];
        for (int j = 0; j < DIM; j++)
            a[i][j] = x[(j + 1) * DIM + i] - x[i];
    }
    for (int i = 0; i < DIM; i++)
        for (int j = 0; j < DIM; j++) {
            cov[i * DIM + j] = 0;
            for (int k = 0; k < DIM; k++)
                cov[i * DIM + j] += a[i][k] * a[j][k];
        }
}

/* KL(s || t) from n samples of s: mean of log s - log t, both computed by
 * the density passes (not by training). */
static double independent_kl(nf_flow *s, nf_flow *t, size_t n, double *two_se)
{
    float *x = malloc(sizeof(float) * n * DIM);
    double *ls = malloc(sizeof(double) * n), *lt = malloc(sizeof(double) * n), m = 0, m2 = 0;
    CHECK(nf_flow_sample(s, n, 77, x, NULL) == NF_OK);
    CHECK(nf_flow_log_prob(s, x, n, ls) == NF_OK);
    CHECK(nf_flow_log_prob(t, x, n, lt) == NF_OK);
    for (size_t i = 0; i < n; i++) {
        double d = ls[i] - lt[i], dm = d - m;
        m += dm / (double)(i + 1);
        m2 += dm * (d - m);
    }
    *two_se = 2 * sqrt(m2 / (double)(n - 1) / (double)n);
    free(x);
    free(ls);
    free(lt);
    return m;
}

static void check_matches(nf_flow *s, nf_flow *t)
{
    double ms[DIM], cs[DIM * DIM], mt[DIM], ct[DIM * DIM];
    affine_moments(s, ms, cs);
    affine_moments(t, mt, ct);
    for (int i = 0; i < DIM; i++)
        CHECK_CLOSE(ms[i], mt[i], 0.03, 0.02);
    for (int i = 0; i < DIM * DIM; i++)
        CHECK_CLOSE(cs[i], ct[i], 0.03, 0.03);
}

static void test_distill_gaussian(void)
{
    nf_flow *t = gaussian_teacher(), *s = affine_student(t);
    nf_kl_options o;
    nf_kl_options_default(&o);
    o.steps = 1500;
    o.batch = 256;
    o.lr = 1e-2;
    nf_kl_progress last;
    double t_before[64];
    memcpy(t_before, t->params, sizeof(float) * t->n_params);
    CHECK(nf_flow_distill(s, t, &o, &last) == NF_OK, "%s", nf_last_error());
    CHECK(memcmp(t_before, t->params, sizeof(float) * t->n_params) == 0, "the teacher changed");
    CHECK(last.step == o.steps && fabs(last.kl) < 0.01, "training KL %g after %d steps", last.kl, last.step);
    CHECK_CLOSE(last.entropy + last.kl, last.cross_entropy, 1e-9, 1e-9);
    double two_se, kl = independent_kl(s, t, 20000, &two_se);
    CHECK(kl >= -1e-3 && kl < 0.01, "independent KL %g +- %g", kl, two_se);
    CHECK(fabs(kl - last.kl) < 4 * two_se + 4 * last.kl_stderr + 2e-3, "training %g vs independent %g", last.kl,
          kl);
    check_matches(s, t);
    nf_flow_free(s);
    nf_flow_free(t);
}

/* The teacher's density as a callback: the same fit through the
 * variational-inference route. */
static int teacher_density(const float *x, size_t rows, int dim, double *log_p, float *grad, void *user)
{
    nf_flow *t = user;
    if (dim != DIM || nf_flow_log_prob(t, x, rows, log_p))
        return 1;
    flow_x2z(t, (int)rows, x, t->logp);
    flow_nll_backward(t, (int)rows, x, NULL, grad); /* -(1/rows) d log p / dx */
    for (size_t i = 0; i < rows * (size_t)dim; i++)
        grad[i] *= -(float)rows;
    return 0;
}

static void test_fit_target_callback(void)
{
    nf_flow *t = gaussian_teacher(), *s = affine_student(t);
    CHECK(flow_reserve(t, 256) == NF_OK);
    nf_kl_options o;
    nf_kl_options_default(&o);
    o.steps = 1500;
    o.batch = 256;
    o.lr = 1e-2;
    nf_kl_progress last;
    CHECK(nf_flow_fit_target(s, teacher_density, t, &o, &last) == NF_OK, "%s", nf_last_error());
    CHECK(fabs(last.kl) < 0.01, "KL %g", last.kl);
    check_matches(s, t);
    nf_flow_free(s);
    nf_flow_free(t);
}

static int progress_calls;
static int count_progress(const nf_kl_progress *p, void *user)
{
    (void)user;
    progress_calls++;
    return p->step >= 30; /* stop early */
}

static int failing_target(const float *x, size_t rows, int dim, double *log_p, float *grad, void *user)
{
    (void)x, (void)rows, (void)dim, (void)log_p, (void)grad, (void)user;
    return 1;
}

static void test_refusals_and_progress(void)
{
    nf_flow *t = gaussian_teacher(), *s = affine_student(t), *wrong, *mog;
    nf_kl_options o;
    nf_kl_options_default(&o);
    o.batch = 64;
    o.progress_every = 10;
    o.progress = count_progress;
    nf_kl_progress last;
    CHECK(nf_flow_distill(s, t, &o, &last) == NF_OK);
    CHECK(progress_calls == 3 && last.step == 30, "%d calls, stopped at %d", progress_calls, last.step);
    o.progress = NULL;
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_REALNVP, 2);
    CHECK(nf_flow_create(&wrong, &cfg) == NF_OK);
    CHECK(nf_flow_distill(wrong, t, &o, NULL) == NF_ERR_DIMENSION);
    nf_config_default(&cfg, NF_MODEL_MAF_MOG, DIM);
    CHECK(nf_flow_create(&mog, &cfg) == NF_OK);
    CHECK(nf_flow_distill(mog, t, &o, NULL) == NF_ERR_UNSUPPORTED);
    CHECK(strstr(nf_last_error(), "MoG") != NULL, "%s", nf_last_error());
    CHECK(nf_flow_distill(s, s, &o, NULL) == NF_ERR_INVALID);
    CHECK(nf_flow_fit_target(s, failing_target, NULL, &o, NULL) == NF_ERR_INVALID);
    o.batch = 1;
    CHECK(nf_flow_distill(s, t, &o, NULL) == NF_ERR_INVALID);
    nf_flow_free(wrong);
    nf_flow_free(mog);
    nf_flow_free(s);
    nf_flow_free(t);
}

int main(void)
{
    nf_set_threads(1);
    RUN(test_distill_gaussian);
    RUN(test_fit_target_callback);
    RUN(test_refusals_and_progress);
    TEST_SUMMARY("test_distill");
}
