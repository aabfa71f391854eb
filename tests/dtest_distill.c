/* What reverse-KL training differentiates, in double precision: a flow's
 * sampling pass (x and log|det dx/dz| as functions of the parameters and
 * of z) through every kind of layer, against central differences; and a
 * teacher's density pass with respect to its input only. */
#include <stdlib.h>
#include <string.h>

#include "flow/flow.h"
#include "core/kern.h"
#include "layers/layer.h"
#include "dcheck.h"
#include "harness.h"
#include "layers/autoregressive.h"
#include "layers/batchnorm.h"
#include "layers/coupling.h"
#include "layers/linear_lu.h"
#include "layers/rescale.h"
#include "layers/standardize.h"

enum { ROWS = 3, N = 4 };

static rng gen;

/* loss = sum c .* x + w * sum ldj through flow_z2x_cached */
static double sampling_loss(nf_flow *f, const real *z, const real *c, double w)
{
    real x[ROWS * N];
    double ldj[ROWS], s = 0;
    flow_z2x_cached(f, ROWS, z, x, ldj);
    for (int i = 0; i < ROWS * N; i++)
        s += c[i] * x[i];
    for (int r = 0; r < ROWS; r++)
        s += w * ldj[r];
    return s;
}

static void check_sampling_gradients(nf_flow *f)
{
    real z[ROWS * N], c[ROWS * N], x[ROWS * N], dz[ROWS * N];
    double ldj[ROWS];
    for (int i = 0; i < ROWS * N; i++) {
        z[i] = rng_normal(&gen);
        c[i] = rng_normal(&gen);
    }
    double w = rng_normal(&gen);
    flow_z2x_cached(f, ROWS, z, x, ldj);
    memset(f->opt.grads, 0, sizeof(real) * f->n_params);
    flow_z2x_backward(f, ROWS, x, c, (real)w, f->opt.grads, dz);
    const double h = 1e-6;
    for (int i = 0; i < ROWS * N; i++) {
        real keep = z[i];
        z[i] = keep + h;
        double a = sampling_loss(f, z, c, w);
        z[i] = keep - h;
        double b = sampling_loss(f, z, c, w);
        z[i] = keep;
        CHECK_CLOSE(dz[i], (a - b) / (2 * h), 1e-6, 1e-5);
    }
    size_t nonzero = 0;
    char *pinned = pinned_params(f);
    for (size_t k = 0; k < f->n_params; k++) {
        if (pinned[k]) {
            CHECK(f->opt.grads[k] == 0, "gradient on masked weight %zu", k);
            continue;
        }
        real keep = f->params[k];
        f->params[k] = keep + h;
        double a = sampling_loss(f, z, c, w);
        f->params[k] = keep - h;
        double b = sampling_loss(f, z, c, w);
        f->params[k] = keep;
        CHECK_CLOSE(f->opt.grads[k], (a - b) / (2 * h), 1e-6, 1e-5);
        nonzero += fabs(f->opt.grads[k]) > 1e-6;
    }
    CHECK(nonzero > f->n_params / 4, "only %zu of %zu parameter gradients are non-zero", nonzero, f->n_params);
    free(pinned);
}

static void build(nf_flow *f, int with_maf)
{
    memset(f, 0, sizeof *f);
    f->dim = N;
    CHECK(flow_add(f, standardize_new(N, (double[]){0.5, -1, 0, 2}, (double[]){1.5, 0.7, 1, 2})) == NF_OK);
    CHECK(flow_add(f, autoregressive_new(N, 0, 1, 6, 2, K_ACT_TANH, (int[]){2, 0, 3, 1}, NULL, 0, 3, 3)) == NF_OK);
    CHECK(flow_add(f, batchnorm_new(N, 0.1)) == NF_OK);
    CHECK(flow_add(f, coupling_new(N, 0, 1, (int[]){1, 0, 1, 0}, 5, 1, K_ACT_TANH, 3)) == NF_OK);
    CHECK(flow_add(f, linear_lu_new(N, (int[]){1, 3, 0, 2}, NULL)) == NF_OK);
    if (with_maf)
        CHECK(flow_add(f, autoregressive_new(N, 0, 0, 5, 1, K_ACT_TANH, (int[]){0, 1, 2, 3}, NULL, 1, 4, 3)) == NF_OK);
    CHECK(flow_add(f, coupling_new(N, 0, 0, (int[]){0, 1, 0, 1}, 5, 1, K_ACT_TANH, 0)) == NF_OK);
    CHECK(flow_add(f, rescale_new(N)) == NF_OK);
    CHECK(flow_allocate_params(f) == NF_OK);
    CHECK(flow_reserve(f, ROWS) == NF_OK);
    flow_init_params(f, 3);
    for (size_t k = 0; k < f->n_params; k++)
        f->params[k] += 0.3 * rng_normal(&gen);
    for (int l = 0; l < f->n_layers; l++)
        if (f->layers[l]->ops->constrain)
            f->layers[l]->ops->constrain(f->layers[l], f->params + f->layers[l]->p_off);
    for (size_t k = 0; k < f->n_state; k++) /* running mean, then variance (> 0) */
        f->state[k] = k % (2 * N) < N ? rng_normal(&gen) : exp(0.5 * rng_normal(&gen));
}

/* IAF, batch norm, couplings, LU, rescale, standardize (and a MAF, whose
 * sampling pass is sequential but differentiable too). */
static void test_sampling_pass_gradients(void)
{
    for (int with_maf = 0; with_maf < 2; with_maf++) {
        nf_flow f;
        build(&f, with_maf);
        check_sampling_gradients(&f);
        free_test_flow(&f);
    }
}

/* The teacher's part: d log t / dx from the density pass with no parameter
 * gradients (grads NULL), equal to the one computed with them. */
static void test_teacher_input_gradient(void)
{
    nf_flow f;
    build(&f, 1);
    real x[ROWS * N], dx_only[ROWS * N], dx_full[ROWS * N];
    for (int i = 0; i < ROWS * N; i++)
        x[i] = rng_normal(&gen);
    char *pinned = pinned_params(&f);
    check_flow_nll_gradients(&f, ROWS, x, pinned);
    free(pinned);
    flow_x2z(&f, ROWS, x, f.work.logp);
    flow_nll_backward(&f, ROWS, x, NULL, dx_only);
    flow_x2z(&f, ROWS, x, f.work.logp);
    memset(f.opt.grads, 0, sizeof(real) * f.n_params);
    flow_nll_backward(&f, ROWS, x, f.opt.grads, dx_full);
    for (int i = 0; i < ROWS * N; i++)
        CHECK_CLOSE(dx_only[i], dx_full[i], 1e-14, 1e-12);
    free_test_flow(&f);
}

int main(void)
{
    rng_seed(&gen, 11);
    RUN(test_sampling_pass_gradients);
    RUN(test_teacher_input_gradient);
    TEST_SUMMARY("dtest_distill");
}
