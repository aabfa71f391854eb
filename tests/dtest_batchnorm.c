/* The batch normalisation layer in double precision, with random
 * parameters and running averages: in eval mode it is an exact invertible
 * affine map (inverse, log-det against the finite-difference Jacobian,
 * gradients both directions); in training mode it normalises with the batch
 * statistics, its gradients go through them, and the running averages
 * follow the momentum rule. Also a whole flow's NLL gradient in training
 * mode, and save/load of the hyper-parameters. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flow/flow.h"
#include "core/kern.h"
#include "layers/layer.h"
#include "dcheck.h"
#include "harness.h"
#include "io/mfile.h"
#include "layers/batchnorm.h"
#include "layers/coupling.h"
#include "layers/linear_lu.h"
#include "layers/standardize.h"
#include "train/step.h"

enum { ROWS = 5, MAXD = 8 };
static const double EPS = 1e-5;

static rng gen;

static double randn(void) { return rng_normal(&gen); }

/* Random g, b and running averages, so that nothing is trivially 0 or 1. */
static layer *make_layer(int n, double momentum, real *p)
{
    layer *l = batchnorm_new(n, momentum);
    CHECK(l != NULL);
    if (!l)
        return NULL;
    CHECK(l->ops->n_params(l) == 2 * (size_t)n && l->ops->n_state(l) == 2 * (size_t)n);
    CHECK(l->ops->reserve(l, ROWS) == 0);
    l->ops->init_params(l, p, &gen);
    for (int i = 0; i < 2 * n; i++) {
        CHECK(p[i] == 0, "g and b start at 0");
        p[i] = (i < n ? 0.4 : 1.0) * randn();
    }
    l->ops->init_state(l);
    for (int i = 0; i < n; i++) {
        CHECK(l->state[i] == 0 && l->state[n + i] == 1, "running mean 0 and variance 1 at the start");
        l->state[i] = randn();
        l->state[n + i] = exp(0.7 * randn());
    }
    return l;
}

/* Inputs away from zero mean and unit variance. */
static void make_input(int rows, int n, real *x)
{
    for (int i = 0; i < rows * n; i++)
        x[i] = 1.5 + 2 * randn();
}

static void check_inverse(layer *l, const real *p)
{
    real x[ROWS * MAXD];
    make_input(ROWS, l->dim, x);
    check_layer_inverse(l, p, ROWS, x);
}

static void check_logdet(layer *l, const real *p, int dir)
{
    real in[MAXD];
    make_input(1, l->dim, in);
    check_layer_logdet(l, p, dir, in);
}

/* Analytic gradients against central differences, in the mode l->training
 * says (x2z only in training: z2x has no batch mode). */
static void check_gradients(layer *l, real *p, int dir, int rows)
{
    real in[ROWS * MAXD], c[ROWS * MAXD];
    make_input(rows, l->dim, in);
    for (int i = 0; i < rows * l->dim; i++)
        c[i] = randn();
    check_layer_gradients(l, p, dir, rows, in, c, randn(), NULL);
}

static void test_eval_mode(void)
{
    const int dims[] = {1, 3, 6};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        real p[2 * MAXD];
        layer *l = make_layer(dims[d], 0.1, p);
        if (!l)
            continue;
        real before[2 * MAXD];
        memcpy(before, l->state, sizeof(real) * 2 * dims[d]);
        check_inverse(l, p);
        for (int dir = 0; dir < 2; dir++) {
            check_logdet(l, p, dir);
            check_gradients(l, p, dir, ROWS);
        }
        CHECK(memcmp(before, l->state, sizeof(real) * 2 * dims[d]) == 0, "eval mode moved the running averages");
        layer_free(l);
    }
}

/* Batch mean and biased variance of column i, in the test's own arithmetic. */
static void column_stats(const real *x, int rows, int n, int i, double *mean, double *var)
{
    double m = 0, v = 0;
    for (int r = 0; r < rows; r++)
        m += x[r * n + i];
    m /= rows;
    for (int r = 0; r < rows; r++)
        v += (x[r * n + i] - m) * (x[r * n + i] - m);
    *mean = m;
    *var = v / rows;
}

static void test_training_output(void)
{
    const int n = 4;
    const double momentum = 0.1;
    real p[2 * MAXD], x[ROWS * MAXD], z[ROWS * MAXD], z2[ROWS * MAXD], old[2 * MAXD];
    double ldj[ROWS] = {0}, ldj2[ROWS] = {0};
    layer *l = make_layer(n, momentum, p);
    if (!l)
        return;
    make_input(ROWS, n, x);
    memcpy(old, l->state, sizeof(real) * 2 * n);
    l->training = 1;
    l->ops->x2z(l, p, ROWS, x, z, ldj);
    double ldj_want = 0;
    for (int i = 0; i < n; i++) {
        double mx, vx, mz, vz;
        column_stats(x, ROWS, n, i, &mx, &vx);
        column_stats(z, ROWS, n, i, &mz, &vz);
        CHECK_CLOSE(mz, p[n + i], 1e-12, 1e-12);
        CHECK_CLOSE(vz, exp(2 * p[i]) * vx / (vx + EPS), 1e-12, 1e-10);
        /* one call: exactly the momentum rule */
        CHECK_CLOSE(l->state[i], (1 - momentum) * old[i] + momentum * mx, 1e-14, 1e-14);
        CHECK_CLOSE(l->state[n + i], (1 - momentum) * old[n + i] + momentum * vx, 1e-14, 1e-14);
        ldj_want += p[i] - 0.5 * log(vx + EPS);
    }
    for (int r = 0; r < ROWS; r++)
        CHECK_CLOSE(ldj[r], ldj_want, 1e-12, 1e-12);
    /* the output does not depend on the running averages */
    for (int i = 0; i < 2 * n; i++)
        l->state[i] = (real)(i < n ? 5 * randn() : exp(randn()));
    l->ops->x2z(l, p, ROWS, x, z2, ldj2);
    for (int i = 0; i < ROWS * n; i++)
        CHECK(z2[i] == z[i], "training output moved with the running averages at %d", i);
    /* eval mode and z2x (even with the flag set) use the running averages */
    real avg[2 * MAXD], back[ROWS * MAXD];
    memcpy(avg, l->state, sizeof(real) * 2 * n);
    double ldj3[ROWS] = {0};
    l->ops->z2x(l, p, ROWS, z, back, ldj3);
    CHECK(memcmp(avg, l->state, sizeof(real) * 2 * n) == 0, "z2x moved the running averages");
    for (int r = 0; r < ROWS; r++)
        for (int i = 0; i < n; i++) {
            double want = (z[r * n + i] - p[n + i]) * exp(-p[i]) * sqrt(avg[n + i] + EPS) + avg[i];
            CHECK_CLOSE(back[r * n + i], want, 1e-12, 1e-12);
        }
    l->training = 0;
    memset(ldj3, 0, sizeof ldj3);
    l->ops->x2z(l, p, ROWS, x, z2, ldj3);
    for (int r = 0; r < ROWS; r++)
        for (int i = 0; i < n; i++) {
            double want = (x[r * n + i] - avg[i]) / sqrt(avg[n + i] + EPS) * exp(p[i]) + p[n + i];
            CHECK_CLOSE(z2[r * n + i], want, 1e-12, 1e-12);
        }
    CHECK(memcmp(avg, l->state, sizeof(real) * 2 * n) == 0, "eval x2z moved the running averages");
    /* a batch of one row has no spread: z = b, finite ldj */
    l->training = 1;
    memset(ldj3, 0, sizeof ldj3);
    l->ops->x2z(l, p, 1, x, z2, ldj3);
    for (int i = 0; i < n; i++)
        CHECK_CLOSE(z2[i], p[n + i], 1e-12, 1e-12);
    CHECK(isfinite(ldj3[0]));
    layer_free(l);
}

/* Repeated training calls converge the running averages to the batch's. */
static void test_running_average_converges(void)
{
    const int n = 3;
    real p[2 * MAXD], x[ROWS * MAXD], z[ROWS * MAXD];
    double ldj[ROWS] = {0};
    layer *l = make_layer(n, 0.5, p);
    if (!l)
        return;
    make_input(ROWS, n, x);
    l->training = 1;
    for (int k = 0; k < 80; k++)
        l->ops->x2z(l, p, ROWS, x, z, ldj);
    for (int i = 0; i < n; i++) {
        double m, v;
        column_stats(x, ROWS, n, i, &m, &v);
        CHECK_CLOSE(l->state[i], m, 1e-12, 1e-12);
        CHECK_CLOSE(l->state[n + i], v, 1e-12, 1e-12);
    }
    layer_free(l);
}

static void test_training_gradients(void)
{
    const int dims[] = {1, 3, 6};
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++) {
        real p[2 * MAXD];
        layer *l = make_layer(dims[d], 0.1, p);
        if (!l)
            continue;
        l->training = 1;
        check_gradients(l, p, 0, ROWS);
        check_gradients(l, p, 0, 2);
        layer_free(l);
    }
}

static void test_bad_arguments(void)
{
    CHECK(batchnorm_new(3, 0) == NULL);
    CHECK(batchnorm_new(3, 1.5) == NULL);
    CHECK(batchnorm_new(3, NAN) == NULL);
    CHECK(batchnorm_new(0, 0.1) == NULL);
    layer *l = batchnorm_new(3, 1);
    CHECK(l != NULL, "momentum 1 keeps only the last batch");
    layer_free(l);
}

static char tmpdir[64];

static void test_save_load(void)
{
    char path[256], desc[128];
    snprintf(path, sizeof path, "%s/bn.nfm", tmpdir);
    layer *l = batchnorm_new(3, 0.1), *m = batchnorm_new(3, 0.25);
    CHECK(l && m);
    if (!l || !m)
        return;
    l->ops->describe(l, desc, sizeof desc);
    CHECK(strcmp(desc, "batch_norm momentum=0.1 eps=1e-05") == 0, "%s", desc);
    mf_writer *w = mf_writer_new();
    CHECK(l->ops->save(l, w) == NF_OK);
    CHECK(m->ops->save(m, w) == NF_OK);
    /* bad hyper-parameters: momentum 0, 2, NaN; eps 0, -1, Inf; no eps */
    const double bad[][2] = {{0, 1e-5}, {2, 1e-5}, {NAN, 1e-5}, {0.1, 0}, {0.1, -1}, {0.1, INFINITY}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        CHECK(mf_begin(w, "batch_norm") == NF_OK);
        CHECK(mf_put_f64(w, "momentum", bad[k][0]) == NF_OK);
        CHECK(mf_put_f64(w, "eps", bad[k][1]) == NF_OK);
    }
    CHECK(mf_begin(w, "batch_norm") == NF_OK);
    CHECK(mf_put_f64(w, "momentum", 0.1) == NF_OK);
    CHECK(mf_writer_save(w, path) == NF_OK);
    mf_writer_free(w);
    mf_file *f = NULL;
    CHECK(mf_read(path, &f) == NF_OK);
    if (!f) {
        layer_free(l);
        layer_free(m);
        return;
    }
    CHECK(mf_section_count(f) == 2 + sizeof bad / sizeof bad[0] + 1);
    for (int k = 0; k < 2; k++) {
        layer *back = NULL;
        char want[128];
        (k ? m : l)->ops->describe(k ? m : l, want, sizeof want);
        CHECK(strcmp(mf_section_tag(mf_section_at(f, k)), "batch_norm") == 0);
        CHECK(batchnorm_load(f, mf_section_at(f, k), 3, &back) == NF_OK);
        if (!back)
            continue;
        back->ops->describe(back, desc, sizeof desc);
        CHECK(strcmp(desc, want) == 0, "%s vs %s", desc, want);
        CHECK(back->ops->n_params(back) == 6 && back->ops->n_state(back) == 6);
        layer_free(back);
    }
    for (size_t k = 2; k < mf_section_count(f); k++) {
        layer *back = NULL;
        nf_status st = batchnorm_load(f, mf_section_at(f, k), 3, &back);
        CHECK(st == NF_ERR_FORMAT && back == NULL, "section %zu accepted", k);
        CHECK(strstr(nf_last_error(), path) != NULL, "message does not name the file: %s", nf_last_error());
        layer_free(back);
    }
    mf_free(f);
    unlink(path);
    layer_free(l);
    layer_free(m);
}

/* The whole flow in training mode: NLL gradient through two batch norms. */
static void test_flow_gradient(void)
{
    const int n = 4;
    nf_flow f = {0};
    f.dim = n;
    f.base.kind = NF_BASE_NORMAL;
    CHECK(flow_add(&f, standardize_new(n, (double[]){0.5, -1, 0, 2}, (double[]){1.5, 0.7, 1, 2})) == NF_OK);
    CHECK(flow_add(&f, coupling_new(n, 0, 1, (int[]){1, 0, 1, 0}, 6, 2, K_ACT_TANH, 3)) == NF_OK);
    CHECK(flow_add(&f, batchnorm_new(n, 0.1)) == NF_OK);
    CHECK(flow_add(&f, linear_lu_new(n, (int[]){2, 0, 3, 1}, NULL)) == NF_OK);
    CHECK(flow_add(&f, coupling_new(n, 0, 1, (int[]){0, 1, 0, 1}, 5, 1, K_ACT_TANH, 3)) == NF_OK);
    CHECK(flow_add(&f, batchnorm_new(n, 0.1)) == NF_OK);
    CHECK(flow_allocate_params(&f) == NF_OK);
    CHECK(flow_reserve(&f, ROWS) == NF_OK);
    CHECK(f.n_layers == 6 && f.n_state == 4 * (size_t)n);
    if (f.n_layers != 6 || f.n_state != 4 * (size_t)n)
        return;
    CHECK(f.layers[2]->state == f.state && f.layers[5]->state == f.state + 2 * n, "state slots in the flow");
    flow_init_params(&f, 7);
    for (int i = 0; i < n; i++)
        CHECK(f.state[i] == 0 && f.state[n + i] == 1 && f.state[3 * n + i] == 1);
    for (size_t k = 0; k < f.n_params; k++)
        f.params[k] = 0.3 * randn();
    for (int i = 0; i < 4 * n; i++)
        f.state[i] = (i / n) % 2 ? exp(0.5 * randn()) : randn();
    real x[ROWS * 4];
    make_input(ROWS, n, x);
    flow_set_training(&f, 1);
    real before[4 * 4];
    memcpy(before, f.state, sizeof before);
    flow_x2z(&f, ROWS, x, f.work.logp);
    CHECK(memcmp(before, f.state, sizeof before) != 0, "training did not move the flow's state");
    check_flow_nll_gradients(&f, ROWS, x, NULL);
    /* a training step with the averages, then an exact round trip in eval mode */
    flow_set_training(&f, 0);
    CHECK(isfinite(train_step(&f, ROWS, x, 1e-3, 0, 0)));
    CHECK(f.layers[2]->training == 0, "train step leaves eval mode behind");
    check_flow_round_trip(&f, ROWS, x);
    free_test_flow(&f);
}

int main(void)
{
    rng_seed(&gen, 2017);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nflow_bn_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_eval_mode);
    RUN(test_training_output);
    RUN(test_running_average_converges);
    RUN(test_training_gradients);
    RUN(test_bad_arguments);
    RUN(test_save_load);
    RUN(test_flow_gradient);
    rmdir(tmpdir);
    TEST_SUMMARY("dtest_batchnorm");
}
