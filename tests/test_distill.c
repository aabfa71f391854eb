/* Reverse-KL training through the public API, in float: a student that can
 * represent its teacher exactly (a full-covariance Gaussian, an affine IAF)
 * reaches KL < 0.01 nats and the teacher's mean and covariance; the KL the
 * training reports agrees with an independent estimate from the two
 * models' densities; a callback target works the same way; bad pairs are
 * refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow/flow.h"
#include "train/api_train.h"
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

/* nflow distill's report (nf_flow_distill_evaluate): the KL of the same
 * fresh samples as an independent estimate from the two densities, the
 * identity KL = cross-entropy - entropy, a model against itself at 0, the
 * speeds only when timed, the default count, and the refusals. */
static void test_distill_evaluate(void)
{
    nf_flow *t = gaussian_teacher(), *s = affine_student(t), *wide = NULL;
    enum { N = 4000 };
    nf_distill_report r;
    nf_distill_report_init(&r, sizeof r);
    CHECK(nf_flow_distill_evaluate(s, t, NULL, 0, N, 77, 0, &r) == NF_OK, "%s", nf_last_error());
    double two_se, kl = independent_kl(s, t, N, &two_se); /* the same draws: seed 77 */
    CHECK(r.n == N && kl > 0.05, "n %zu, KL %g", r.n, kl);
    CHECK_CLOSE(r.kl, kl, 1e-4, 1e-4);
    CHECK_CLOSE(r.kl_two_stderr, two_se, 1e-4, 1e-3);
    CHECK_CLOSE(r.cross_entropy - r.entropy, r.kl, 1e-9, 1e-9);
    CHECK(r.student_samples_per_s == 0 && r.teacher_samples_per_s == 0, "untimed");
    CHECK(nf_flow_distill_evaluate(t, t, NULL, 0, N, 5, 1, &r) == NF_OK, "%s", nf_last_error());
    CHECK(fabs(r.kl) < 1e-4 && r.student_samples_per_s > 0 && r.teacher_samples_per_s > 0, "KL %g, %g/s, %g/s",
          r.kl, r.student_samples_per_s, r.teacher_samples_per_s);
    CHECK_CLOSE(r.entropy, r.cross_entropy, 1e-4, 0);
    nf_distill_report_init(&r, sizeof r);
    CHECK(nf_flow_distill_evaluate(NULL, t, NULL, 0, N, 1, 0, &r) == NF_ERR_INVALID && isnan(r.kl), "no student");
    /* n 0: the default count, nflow distill's and Python's */
    CHECK(nf_flow_distill_evaluate(s, t, NULL, 0, 0, 1, 0, &r) == NF_OK && r.n == NF_DISTILL_EVAL_SAMPLES &&
              isfinite(r.kl), "n %zu: %s", r.n, nf_last_error());
    CHECK(nf_flow_new(&wide, DIM + 1, NF_BASE_NORMAL) == NF_OK && nf_flow_add_rescale(wide) == NF_OK &&
          nf_flow_finalize(wide, 1) == NF_OK);
    CHECK(nf_flow_distill_evaluate(wide, t, NULL, 0, N, 1, 0, &r) == NF_ERR_INVALID &&
          strstr(nf_last_error(), "the student models 4 values"), "%s", nf_last_error());
    CHECK(nf_flow_distill_evaluate_sized(s, t, NULL, 0, N, 1, 0, &r, 8) == NF_ERR_INVALID, "a struct too small");
    nf_flow_free(wide);
    nf_flow_free(s);
    nf_flow_free(t);
}

/* nflow distill's report: the figures on rows of data are both models'
 * public evaluations of them; each call fills its own fields and keeps
 * the caller's (the run's); the words and the JSON carry what ran and
 * only that. */
static void test_distill_report_text(void)
{
    nf_flow *t = gaussian_teacher(), *s = affine_student(t);
    enum { N = 500 };
    static float x[N * DIM];
    double ls[N], lt[N], mean_s = 0, mean_t = 0;
    CHECK(nf_flow_sample(t, N, 3, x, NULL) == NF_OK && nf_flow_log_prob(s, x, N, ls) == NF_OK &&
          nf_flow_log_prob(t, x, N, lt) == NF_OK);
    for (int i = 0; i < N; i++)
        mean_s += ls[i] / N, mean_t += lt[i] / N;
    nf_distill_report r;
    nf_distill_report_init(&r, sizeof r);
    CHECK(r.data_rows == 0 && r.kl_batch == 0 && isnan(r.kl_best) && isnan(r.student_log_likelihood));
    r.ml_epochs = 3, r.ml_best_epoch = 2, r.ml_val_log_likelihood = -1.25, r.train_seconds = 0.5;
    CHECK(nf_flow_distill_evaluate_data(s, t, x, NULL, N, &r) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_distill_evaluate(s, t, NULL, 0, 1000, 7, 0, &r) == NF_OK, "%s", nf_last_error());
    CHECK(r.data_rows == N && r.n == 1000 && r.ml_epochs == 3 && r.ml_val_log_likelihood == -1.25,
          "a call lost another's fields");
    CHECK_CLOSE(r.student_log_likelihood, mean_s, 1e-9, 1e-9);
    CHECK_CLOSE(r.teacher_log_likelihood, mean_t, 1e-9, 1e-9);
    CHECK(isnan(r.gaussian_log_likelihood) && !r.below_gaussian, "a teacher without a Gaussian fit");
    char text[2048], json[2048];
    size_t len = nf_distill_report_text(s, &r, "t\"1", "d.csv", 0, text, sizeof text);
    CHECK(len == strlen(text) && nf_distill_report_text(s, &r, "t\"1", "d.csv", 0, NULL, 0) == len);
    CHECK(strstr(text, "custom student: ") && strstr(text, "fresh teacher samples: 3 epochs (the best 2)") &&
          strstr(text, "on 1000 fresh student samples") && strstr(text, "mean log-likelihood on d.csv (500 rows)") &&
          !strstr(text, "reverse KL"), "%s", text);
    nf_distill_report_text(s, &r, "t\"1", "d.csv", NF_REPORT_JSON, json, sizeof json);
    const char *head = "{\"teacher\": \"t\\\"1\", \"student\": \"custom\"";
    CHECK(!strncmp(json, head, strlen(head)) &&
          strstr(json, "\"kl_train\": null") && strstr(json, "\"data_rows\": 500") && strstr(json, "}\n"), "%s", json);
    r.kl_steps = 10, r.kl_batch = 64, r.kl_best_step = 8, r.kl_best = 0.5, r.kl_best_stderr = 0.25, r.ml_epochs = 0;
    r.data_rows = 0;
    nf_distill_report_text(s, &r, "t", NULL, 0, text, sizeof text);
    CHECK(strstr(text, "reverse KL: 10 steps of 64 samples (the best at step 8)") &&
          strstr(text, "KL at the best check (4096 fresh samples, step 8): 0.5000 +- 0.5000") &&
          !strstr(text, "maximum likelihood") && !strstr(text, "mean log-likelihood on"), "%s", text);
    nf_distill_report_text(s, &r, "t", NULL, NF_REPORT_JSON, json, sizeof json);
    CHECK(strstr(json, "\"kl_train\": 0.5") && strstr(json, "\"ml_val_log_likelihood\": null") &&
          !strstr(json, "data_rows"), "%s", json);
    nf_flow_free(s);
    nf_flow_free(t);
}

/* nflow fit's report of a flow fitted to a target: its last check, in
 * words and in JSON (the target's name escaped), the length whatever the
 * buffer. */
static void test_kl_report_text(void)
{
    nf_flow *t = gaussian_teacher();
    nf_kl_progress p = {.step = 40, .kl = -1.5, .cross_entropy = 2.25, .entropy = 3.75, .kl_stderr = 0.125,
                        .seconds = 2.5};
    char text[512], json[512];
    size_t len = nf_kl_report_text(t, &p, "u1", 256, 0, text, sizeof text);
    CHECK(len == strlen(text) && nf_kl_report_text(t, &p, "u1", 256, 0, NULL, 0) == len);
    CHECK(strstr(text, "custom on u1: 12 parameters, 40 steps, 2.5 s\n") &&
          strstr(text, "KL -1.5000 +- 0.1250 (up to log Z), cross-entropy 2.2500, entropy 3.7500"), "%s", text);
    nf_kl_report_text(t, &p, "u\"1", 256, NF_REPORT_JSON, json, sizeof json);
    const char *head = "{\"target\": \"u\\\"1\", \"model\": \"custom\", \"params\": 12, \"steps\": 40, "
                       "\"batch\": 256, \"kl\": -1.5";
    CHECK(!strncmp(json, head, strlen(head)) && strstr(json, "\"seconds\": 2.500}\n"), "%s", json);
    CHECK(nf_kl_report_text(NULL, &p, "u1", 256, 0, text, sizeof text) == 0 && text[0] == '\0');
    nf_flow_free(t);
}

/* The teacher's density as a callback: the same fit through the
 * variational-inference route. */
static int teacher_density(const float *x, size_t rows, int dim, double *log_p, float *grad, void *user)
{
    nf_flow *t = user;
    if (dim != DIM || nf_flow_log_prob(t, x, rows, log_p))
        return 1;
    flow_x2z(t, (int)rows, x, t->work.logp);
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

/* A MAF teacher trained a little on a curved 3-D density (whitened: it
 * keeps a Gaussian fit). */
static nf_flow *trained_teacher(float *data, size_t rows)
{
    rng r;
    rng_seed(&r, 21);
    for (size_t i = 0; i < rows; i++) {
        double a = rng_normal(&r), b = 0.5 * a * a + 0.3 * rng_normal(&r);
        data[i * DIM] = (float)(2 + 3 * a);
        data[i * DIM + 1] = (float)(b - 1);
        data[i * DIM + 2] = (float)(0.5 * a + 0.2 * rng_normal(&r));
    }
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_MAF, DIM);
    cfg.layers = 2;
    cfg.hidden = 16;
    nf_flow *t = NULL;
    CHECK(nf_flow_create(&t, &cfg) == NF_OK && nf_flow_fit_standardization(t, data, rows) == NF_OK);
    nf_train_options o;
    nf_train_options_default(&o);
    o.max_epochs = 3;
    o.batch = 64;
    CHECK(t && nf_flow_train(t, data, rows, NULL, 0, &o, NULL) == NF_OK, "%s", nf_last_error());
    return t;
}

/* The teacher's default student; NULL (and *t freed) when there is none. */
static nf_flow *default_student(nf_flow **t)
{
    nf_flow *s = NULL;
    CHECK(*t && nf_flow_create_student(&s, *t, NULL) == NF_OK, "%s", nf_last_error());
    if (!s) {
        nf_flow_free(*t);
        *t = NULL;
    }
    return s;
}

/* The student nf_flow_create_student builds is the teacher's Gaussian fit:
 * its density of any point is the fit's, so distillation starts at
 * KL(Gaussian fit || teacher); sized from the teacher. */
static void test_student_starts_at_gaussian_fit(void)
{
    enum { ROWS = 3000 };
    static float data[ROWS * DIM];
    static double ls[ROWS], lg[ROWS];
    nf_flow *t = trained_teacher(data, ROWS), *s = default_student(&t);
    if (!s)
        return;
    CHECK(s->has_config && s->config.model == NF_MODEL_IAF && s->config.layers == 2 && s->config.hidden == 16,
          "student sized %d x %d", s->config.layers, s->config.hidden);
    CHECK(nf_flow_log_prob(s, data, ROWS, ls) == NF_OK && nf_flow_gaussian_log_prob(t, data, ROWS, lg) == NF_OK);
    double worst = 0;
    for (int i = 0; i < ROWS; i++)
        worst = fmax(worst, fabs(ls[i] - lg[i]));
    CHECK(worst < 1e-3, "the untrained student differs from the teacher's Gaussian fit by %g nats", worst);
    /* its KL is the fit's, and training only lowers it */
    double two_se, kl0 = independent_kl(s, t, 20000, &two_se);
    nf_kl_options o;
    nf_kl_options_default(&o);
    o.batch = 256;
    o.steps = 2000;
    o.progress_every = 50;
    nf_kl_progress best;
    CHECK(nf_flow_distill_converge(s, t, &o, 5, 0, &best) == NF_OK, "%s", nf_last_error());
    double kl1 = independent_kl(s, t, 20000, &two_se);
    printf("student: KL %.4f at the Gaussian fit, %.4f after %d steps (best check %.4f)\n", kl0, kl1, best.step,
           best.kl);
    CHECK(kl0 > 0.05 && kl1 < 0.5 * kl0, "KL %g -> %g", kl0, kl1);
    CHECK(fabs(best.kl - kl1) < 4 * two_se + 4 * best.kl_stderr + 0.01, "best check %g vs independent %g", best.kl,
          kl1);
    nf_flow_free(s);
    nf_flow_free(t);
}

/* Maximum likelihood on teacher samples (KL(teacher || student)): the
 * student scores the teacher's data as the teacher does. */
static void test_distill_forward(void)
{
    enum { ROWS = 3000 };
    static float data[ROWS * DIM];
    static double ls[ROWS], lt[ROWS];
    nf_flow *t = trained_teacher(data, ROWS), *s = default_student(&t);
    if (!s)
        return;
    nf_train_options o;
    nf_train_options_default(&o);
    o.max_epochs = 15;
    o.batch = 128;
    nf_train_result r;
    CHECK(nf_flow_distill_forward(s, t, 20000, NULL, 0, &o, &r) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_log_prob(s, data, ROWS, ls) == NF_OK && nf_flow_log_prob(t, data, ROWS, lt) == NF_OK);
    double gap = 0;
    for (int i = 0; i < ROWS; i++)
        gap += (lt[i] - ls[i]) / ROWS;
    printf("forward distillation: the student %.4f nats below its teacher on its data, %d epochs\n", gap, r.epochs);
    CHECK(fabs(gap) < 0.1 && r.epochs > 0, "gap %g after %d epochs", gap, r.epochs);
    float c[2] = {0, 1};
    CHECK(nf_flow_distill_forward(s, t, 100, c, 2, &o, NULL) == NF_ERR_INVALID); /* no context to take */
    CHECK(nf_flow_distill_forward(s, s, 100, NULL, 0, &o, NULL) == NF_ERR_INVALID);
    CHECK(nf_flow_distill_forward(s, t, 1, NULL, 0, &o, NULL) == NF_ERR_INVALID);
    nf_flow_free(s);
    nf_flow_free(t);
}

static int epochs_seen;
static int count_epoch(const nf_train_progress *p, void *user)
{
    (void)user;
    epochs_seen += !p->in_epoch;
    return 0;
}

/* nf_flow_distill_run: its first phase alone trains what
 * nf_flow_distill_forward trains; a time limit stops that phase after the
 * epoch that passes it (the caller's progress still called) and leaves the
 * second phase the rest. */
static void test_distill_run(void)
{
    enum { ROWS = 2000 };
    static float data[ROWS * DIM];
    static double la[ROWS], lb[ROWS];
    nf_flow *t = trained_teacher(data, ROWS), *a = default_student(&t), *b = default_student(&t);
    if (!a || !b)
        return;
    nf_train_options o;
    nf_train_options_default(&o);
    o.max_epochs = 3;
    o.batch = 128;
    nf_train_result ra, rb;
    CHECK(nf_flow_distill_forward(a, t, 5000, NULL, 0, &o, &ra) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_distill_run(b, t, NULL, 0, 5000, &o, NULL, 5, 0, &rb, NULL) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_log_prob(a, data, ROWS, la) == NF_OK && nf_flow_log_prob(b, data, ROWS, lb) == NF_OK &&
              !memcmp(la, lb, sizeof la) && ra.epochs == rb.epochs, "not the bits of nf_flow_distill_forward");
    o.max_epochs = 1000;
    o.progress = count_epoch;
    epochs_seen = 0;
    nf_kl_options k;
    nf_kl_options_default(&k);
    k.steps = 1000000;
    k.lr = 1e-5; /* never converges in the time */
    k.progress_every = 20;
    nf_kl_progress last = {.step = -1}; /* the second phase writes its best check, the start at least */
    CHECK(nf_flow_distill_run(b, t, NULL, 0, 5000, &o, &k, 1000, 0.2, &rb, &last) == NF_OK, "%s", nf_last_error());
    CHECK(rb.epochs >= 1 && rb.epochs < 1000 && epochs_seen == rb.epochs && last.step >= 0 && last.seconds < 5,
          "%d epochs (%d seen), reverse KL to step %d in %g s", rb.epochs, epochs_seen, last.step, last.seconds);
    CHECK(nf_flow_distill_run(b, t, NULL, 0, 5000, &o, &k, 5, -1, NULL, NULL) == NF_ERR_INVALID, "a negative limit");
    /* distillation's defaults: nf_kl_options_default's but for the steps, and patience 0 the library's */
    nf_kl_options dk;
    nf_kl_options_distill(&dk);
    CHECK(dk.steps == NF_DISTILL_KL_STEPS && dk.batch == k.batch && dk.lr == 1e-3 && dk.clip_norm == k.clip_norm &&
              dk.progress_every == 100 && dk.seed == k.seed && dk.struct_size == sizeof dk, "steps %d", dk.steps);
    nf_flow *c = default_student(&t), *d = default_student(&t);
    dk.steps = 300, dk.batch = 64, dk.progress_every = 10, dk.lr = 1e-4;
    nf_kl_progress lc, ld;
    CHECK(c && d && nf_flow_distill_run(c, t, NULL, 0, 0, NULL, &dk, 0, 0, NULL, &lc) == NF_OK &&
              nf_flow_distill_run(d, t, NULL, 0, 0, NULL, &dk, NF_DISTILL_PATIENCE, 0, NULL, &ld) == NF_OK,
          "%s", nf_last_error());
    CHECK(c && d && nf_flow_log_prob(c, data, ROWS, la) == NF_OK && nf_flow_log_prob(d, data, ROWS, lb) == NF_OK &&
              !memcmp(la, lb, sizeof la) && lc.step == ld.step && lc.kl == ld.kl,
          "patience 0 is not NF_DISTILL_PATIENCE: best steps %d, %d", lc.step, ld.step);
    nf_flow_free(c);
    nf_flow_free(d);
    nf_flow_free(a);
    nf_flow_free(b);
    nf_flow_free(t);
}

static int last_check_step;
static int record_check(const nf_kl_progress *p, void *user)
{
    (void)user;
    last_check_step = p->step;
    return 0;
}

/* nf_flow_distill_converge stops when the KL stops falling, long before
 * its step limit, with the best check's student; max_seconds stops it too. */
static void test_converge_stops(void)
{
    nf_flow *t = gaussian_teacher(), *s = affine_student(t);
    nf_kl_options o;
    nf_kl_options_default(&o);
    o.steps = 1000000;
    o.batch = 256;
    o.lr = 1e-2;
    o.progress_every = 50;
    o.progress = record_check;
    nf_kl_progress best;
    CHECK(nf_flow_distill_converge(s, t, &o, 5, 0, &best) == NF_OK, "%s", nf_last_error());
    CHECK(last_check_step < 20000 && best.step <= last_check_step && last_check_step - best.step == 5 * 50,
          "stopped at step %d, the best at %d", last_check_step, best.step);
    double two_se, kl = independent_kl(s, t, 20000, &two_se);
    CHECK(kl < 0.01 && fabs(best.kl) < 0.01, "KL %g (best check %g)", kl, best.kl);
    check_matches(s, t);
    CHECK(nf_flow_distill_converge(s, t, &o, 0, 0, NULL) == NF_ERR_INVALID);
    /* a time limit: one check at the most past it */
    nf_flow_free(s);
    s = affine_student(t);
    o.lr = 1e-4; /* slow: never converges in the time */
    CHECK(nf_flow_distill_converge(s, t, &o, 1000, 0.3, &best) == NF_OK);
    CHECK(best.seconds < 5 && last_check_step < 1000000, "%g s, %d steps", best.seconds, last_check_step);
    nf_flow_free(s);
    nf_flow_free(t);
}

/* nf_flow_distill_options: the teacher's training visits over the samples
 * (1 to 1000 epochs), 50 without a record, 4e-3, no dropout, batches of
 * 64 rows at most. */
static void test_distill_options(void)
{
    enum { ROWS = 3000 };
    static float data[ROWS * DIM];
    nf_flow *t = trained_teacher(data, ROWS);
    nf_train_options o;
    /* 3 epochs x 3000 rows = 9,000 visits; 1,000 samples drawn cost 300; a student as wide as this teacher
     * visits at 1.55 + 0.013 x 3 = 1.589 of its visits: (9000 - 300) / 1589 = 5.5 epochs; the batch of
     * 1,000 rows (32), no more than 64 */
    nf_flow_distill_options(t, 1000, &o);
    CHECK(o.max_epochs == 5 && o.lr == 4e-3 && o.dropout == 0 && o.batch == 32, "%d epochs, lr %g, batch %d",
          o.max_epochs, o.lr, o.batch);
    nf_flow_distill_options(t, 0, &o); /* by default no more samples than the 9,000 visits, 10,000 at least */
    CHECK(o.max_epochs == 1 && o.batch == 32, "%d epochs, batch %d", o.max_epochs, o.batch);
    nf_flow_distill_options(t, 2, &o);
    CHECK(o.max_epochs == 1000, "%d epochs", o.max_epochs);
    nf_flow_distill_options(t, 100000, &o); /* the data-size rule's 128 */
    CHECK(o.batch == 64, "batch %d for 100,000 samples", o.batch);
    nf_flow_free(t);
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_MAF, DIM);
    CHECK(nf_flow_create(&t, &cfg) == NF_OK);
    nf_flow_distill_options(t, 1000, &o); /* no training record */
    CHECK(o.max_epochs == 50, "%d epochs", o.max_epochs);
    nf_flow_free(t);
    nf_flow_distill_options(NULL, 1000, &o);
    CHECK(o.max_epochs == 1000 && o.lr == 1e-3); /* nf_train_options_default */
}

/* Multiply-adds per row of an IAF student of these sizes (2 outputs per
 * dimension), and of a MAF MoG teacher (its base: 3 x components). */
static double iaf_macs(double d, double h, double layers)
{
    return layers * (d * h + h * h + h * 2 * d);
}

/* The default student samples with a third of a MAF MoG teacher's
 * arithmetic: the widest that fits, wider for 64 columns (whose teacher's
 * MoG base is the larger share) than for 8. */
static void test_student_width(void)
{
    int dims[2] = {8, 64}, width[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        double d = dims[k];
        nf_config cfg, sc;
        nf_config_default(&cfg, NF_MODEL_MAF_MOG, dims[k]);
        cfg.layers = 5;
        cfg.hidden = 100;
        cfg.hidden_layers = 2;
        nf_flow *t = NULL;
        CHECK(nf_flow_create(&t, &cfg) == NF_OK, "%s", nf_last_error());
        if (!t)
            return;
        nf_flow_student_config(t, NF_MODEL_IAF, &sc);
        double teacher = iaf_macs(d, 100, 5) + d * 100 + 100 * 100 + 100 * 3 * cfg.components * d;
        CHECK(sc.layers == 5 && sc.hidden_layers == 2 && iaf_macs(d, sc.hidden, 5) <= teacher / 3 + 1e-9,
              "%d columns: %d units", dims[k], sc.hidden);
        CHECK(sc.hidden < 100 && iaf_macs(d, sc.hidden + 1, 5) > teacher / 3, "%d columns: %d units", dims[k],
              sc.hidden);
        width[k] = sc.hidden;
        nf_flow_free(t);
    }
    CHECK(width[0] < width[1], "%d units for 8 columns, %d for 64", width[0], width[1]);
}

static nf_flow *anneal_flow;
static float anneal_prev[4096];
static double anneal_moved[16];
static int record_moves(const nf_train_progress *p, void *user)
{
    (void)user;
    double sum = 0;
    for (size_t k = 0; k < anneal_flow->n_params; k++) {
        double dk = anneal_flow->params[k] - anneal_prev[k];
        sum += dk * dk;
        anneal_prev[k] = anneal_flow->params[k];
    }
    anneal_moved[p->epoch] = sqrt(sum);
    return 0;
}

/* An annealed run: the rate falls to 0 over max_epochs, so the last epoch
 * moves the parameters far less than the first (Adam's steps are about the
 * rate); a constant rate moves them alike. No checkpoints. */
static void test_annealed_rate(void)
{
    enum { ROWS = 2000, EPOCHS = 8 };
    static float data[ROWS * DIM];
    nf_flow *t = trained_teacher(data, ROWS);
    double ratio[2];
    for (int anneal = 0; anneal < 2; anneal++) {
        nf_config cfg;
        nf_config_default(&cfg, NF_MODEL_MAF, DIM);
        cfg.hidden = 16;
        nf_flow *f = NULL;
        CHECK(nf_flow_create(&f, &cfg) == NF_OK && f->n_params <= 4096);
        if (!f)
            break;
        anneal_flow = f;
        memcpy(anneal_prev, f->params, sizeof(float) * f->n_params);
        nf_train_options o;
        nf_train_options_default(&o);
        o.max_epochs = EPOCHS;
        o.batch = 100;
        o.lr = 3e-3;
        o.patience = 0;
        o.progress = record_moves;
        CHECK(flow_train_annealed(f, data, NULL, ROWS, NULL, NULL, 0, &o, anneal, NULL) == NF_OK, "%s",
              nf_last_error());
        ratio[anneal] = anneal_moved[EPOCHS] / anneal_moved[1];
        o.checkpoint_path = "never-written.nfm";
        CHECK(!anneal || flow_train_annealed(f, data, NULL, ROWS, NULL, NULL, 0, &o, 1, NULL) == NF_ERR_UNSUPPORTED);
        nf_flow_free(f);
    }
    printf("last epoch's move over the first's: constant rate %.3f, annealed %.3f\n", ratio[0], ratio[1]);
    CHECK(ratio[1] < 0.02 && ratio[1] < ratio[0] / 5, "constant %g, annealed %g", ratio[0], ratio[1]);
    nf_flow_free(t);
}

/* A MAF MoG teacher's default student is an IAF on an independent MoG base
 * with the teacher's components: it starts within 0.02 nats a dimension of
 * the teacher's Gaussian fit on average over the data, maximum likelihood on teacher samples brings
 * it near the teacher on the teacher's data, and reverse KL refuses it. */
static void test_mog_teacher_student(void)
{
    enum { ROWS = 3000 };
    static float data[ROWS * DIM];
    static double ls[ROWS], lg[ROWS], lt[ROWS];
    nf_flow *t = trained_teacher(data, ROWS), *mt = NULL, *s = NULL;
    nf_flow_free(t);
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_MAF_MOG, DIM);
    cfg.layers = 2;
    cfg.hidden = 16;
    cfg.components = 4;
    CHECK(nf_flow_create(&mt, &cfg) == NF_OK && nf_flow_fit_standardization(mt, data, ROWS) == NF_OK);
    nf_train_options o;
    nf_train_options_default(&o);
    o.max_epochs = 5;
    o.batch = 64;
    CHECK(mt && nf_flow_train(mt, data, ROWS, NULL, 0, &o, NULL) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_student_model(mt, 0) == NF_MODEL_IAF_MOG && nf_flow_student_model(mt, 1) == NF_MODEL_IAF &&
          nf_flow_student_model(NULL, 0) == NF_MODEL_IAF);
    if (!(s = default_student(&mt)))
        return;
    CHECK(s->config.model == NF_MODEL_IAF_MOG && s->mog && s->mog->independent && s->mog->k == 4);
    CHECK(nf_flow_log_prob(s, data, ROWS, ls) == NF_OK && nf_flow_gaussian_log_prob(mt, data, ROWS, lg) == NF_OK);
    double apart = 0; /* the mixture's components are a little narrower: lighter tails far out */
    for (int i = 0; i < ROWS; i++)
        apart += fabs(ls[i] - lg[i]) / ROWS;
    CHECK(apart < 0.02 * DIM, "the untrained student differs from the Gaussian fit by %g nats on average", apart);
    nf_kl_options ko;
    nf_kl_options_default(&ko);
    CHECK(nf_flow_distill_converge(s, mt, &ko, 5, 0, NULL) == NF_ERR_UNSUPPORTED);
    nf_train_options_default(&o);
    o.max_epochs = 15;
    o.batch = 128;
    CHECK(nf_flow_distill_forward(s, mt, 20000, NULL, 0, &o, NULL) == NF_OK, "%s", nf_last_error());
    CHECK(nf_flow_log_prob(s, data, ROWS, ls) == NF_OK && nf_flow_log_prob(mt, data, ROWS, lt) == NF_OK);
    double gap = 0, fit = 0;
    for (int i = 0; i < ROWS; i++) {
        gap += (lt[i] - ls[i]) / ROWS;
        fit += (lt[i] - lg[i]) / ROWS;
    }
    printf("iaf-mog student of a maf-mog teacher: %.4f nats below it on its data (the Gaussian fit %.4f)\n", gap,
           fit);
    CHECK(fabs(gap) < 0.1 && fit > 0.2, "gap %g, the fit's %g", gap, fit);
    nf_flow_free(s);
    nf_flow_free(mt);
}

static int ascending(const void *a, const void *b)
{
    double u = *(const double *)a, v = *(const double *)b;
    return (u > v) - (u < v);
}

/* Teacher samples outside the teacher's data (widened by its range on each
 * side; nf_flow_count_far_from_data counts them) are drawn again: with the recorded range narrowed so that a tenth
 * of the first draw lies outside, the student's run redraws at least those
 * and, a tenth of each redraw failing too, not many more; a teacher
 * without a recorded range redraws none. */
static void test_samples_outside_redrawn(void)
{
    enum { ROWS = 3000, SAMPLES = 2000 };
    static float data[ROWS * DIM];
    nf_flow *t = trained_teacher(data, ROWS);
    nf_flow *s = default_student(&t);
    if (!s)
        return;
    nf_train_options o;
    nf_flow_distill_options(t, SAMPLES, &o);
    o.max_epochs = 1;
    free(t->record.data_min);
    free(t->record.data_max);
    t->record.data_min = t->record.data_max = NULL;
    CHECK(nf_flow_distill_forward(s, t, SAMPLES, NULL, 0, &o, NULL) == NF_OK, "%s", nf_last_error());
    CHECK(!t->record.data_min && nf_flow_distill_redrawn(s) == 0, "%zu redrawn without a recorded range",
          nf_flow_distill_redrawn(s));
    float far[DIM] = {1e30f, 0, 0};
    CHECK(nf_flow_count_far_from_data(t, far, 1) == 0, "far from data without a recorded range");
    /* the first draw (the library's stream for this seed) and its rows' largest |x_i| */
    size_t total = SAMPLES + SAMPLES / 10;
    float *x = malloc(sizeof(float) * total * DIM);
    double *big = malloc(sizeof(double) * total);
    CHECK(nf_flow_sample(t, total, o.seed ^ 0x7465616368657273ull, x, NULL) == NF_OK);
    for (size_t i = 0; i < total; i++) {
        big[i] = 0;
        for (int j = 0; j < DIM; j++)
            big[i] = fmax(big[i], fabs(x[i * DIM + j]));
    }
    qsort(big, total, sizeof *big, ascending);
    double w = big[total * 9 / 10 - 1]; /* the box [-3w, 3w] keeps the rows up to the 90th percentile of big */
    size_t below = 0;
    while (below < total && big[below] <= w)
        below++;
    w = w / 3 * (1 + 1e-6);
    t->record.data_min = malloc(sizeof(double) * DIM);
    t->record.data_max = malloc(sizeof(double) * DIM);
    for (int j = 0; j < DIM; j++) {
        t->record.data_min[j] = -w;
        t->record.data_max[j] = w;
    }
    CHECK(nf_flow_count_far_from_data(t, x, total) == total - below, "%zu of the first draw far from the data, "
          "%zu expected", nf_flow_count_far_from_data(t, x, total), total - below);
    CHECK(nf_flow_distill_forward(s, t, SAMPLES, NULL, 0, &o, NULL) == NF_OK, "%s", nf_last_error());
    size_t first = total - below, redrawn = nf_flow_distill_redrawn(s);
    CHECK(redrawn >= first && redrawn < first * 13 / 10 + 20, "%zu redrawn, %zu outside the first draw", redrawn,
          first);
    free(x);
    free(big);
    nf_flow_free(s);
    nf_flow_free(t);
}

int main(void)
{
    nf_set_threads(1);
    RUN(test_distill_gaussian);
    RUN(test_distill_evaluate);
    RUN(test_distill_report_text);
    RUN(test_kl_report_text);
    RUN(test_student_starts_at_gaussian_fit);
    RUN(test_converge_stops);
    RUN(test_distill_forward);
    RUN(test_distill_run);
    RUN(test_distill_options);
    RUN(test_samples_outside_redrawn);
    RUN(test_student_width);
    RUN(test_annealed_rate);
    RUN(test_mog_teacher_student);
    RUN(test_fit_target_callback);
    RUN(test_refusals_and_progress);
    TEST_SUMMARY("test_distill");
}
