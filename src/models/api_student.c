/* A distillation student built from its teacher: the teacher's data
 * transforms (bounds, standardisation, context standardisation) and its
 * Gaussian fit as the student's whitening, every other layer the identity,
 * so that reverse-KL training starts from the Gaussian fit and only has to
 * improve on it (a student from scratch started far off: KL 35 nats on a
 * 19-column set, with densities of -1e14 on data). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "flow/flow.h"
#include "core/rng.h"
#include "core/sized.h"
#include "models/api_autoregressive.h"
#include "models/api_config.h"
#include "models/api_student.h"
#include "models/whitening.h"

/* The student's sampling arithmetic is at most the teacher's over this:
 * the teacher's sequential pass costs 1.5x (8 columns) to 1.7x (64) its
 * arithmetic's share; measured, the default students sampled 3.3-4.1x
 * faster than their MAF MoG teachers (bench/RESULTS.md). */
#define STUDENT_SPEEDUP 3.0

/* Multiply-adds per row of one MADE of `per` outputs per dimension. */
static double made_macs(double dim, double context, double hidden, int hidden_layers, double per)
{
    if (hidden_layers < 1)
        return (dim + context) * per * dim;
    return (dim + context) * hidden + (hidden_layers - 1) * hidden * hidden + hidden * per * dim;
}

/* Multiply-adds per sampled row of a flow of this config: its MADEs (or
 * coupling networks, reading and writing about half the columns), and a
 * MoG model's base MADE; what sampling costs, the sequential direction
 * being one pass of arithmetic. */
double flow_sampling_macs(const nf_config *c)
{
    double d = c->dim, nc = c->context_dim, h = c->hidden;
    int hl = c->hidden_layers;
    switch (c->model) {
    case NF_MODEL_NICE:
    case NF_MODEL_REALNVP:
        return c->layers * made_macs(d / 2, nc, h, hl, 2);
    case NF_MODEL_NSF:
        return c->layers * made_macs(d / 2, nc, h, hl, 3.0 * c->bins - 1);
    case NF_MODEL_NSF_AR:
        return c->layers * made_macs(d, nc, h, hl, 3.0 * c->bins - 1);
    case NF_MODEL_MADE:
        return made_macs(d, nc, h, hl, 2);
    case NF_MODEL_MADE_MOG:
        return made_macs(d, nc, h, hl, 3.0 * c->components);
    case NF_MODEL_MAF_MOG:
        return c->layers * made_macs(d, nc, h, hl, 2) + made_macs(d, nc, h, hl, 3.0 * c->components);
    case NF_MODEL_IAF_MOG: /* a draw of the independent base costs about 30 products per component (measured:
                            * a 10-column student of 71 units sampled 8% slower with 10 components) */
        return c->layers * made_macs(d, nc, h, hl, 2) + 30.0 * c->components * d;
    case NF_MODEL_GAUSSIAN:
        return d * d;
    default:
        return c->layers * made_macs(d, nc, h, hl, 2);
    }
}

/* The fewest hidden units a student is shrunk to. */
enum { STUDENT_MIN_HIDDEN = 16 };

nf_model nf_flow_student_model(const nf_flow *teacher, int reverse_kl)
{
    return teacher && teacher->mog && !reverse_kl ? NF_MODEL_IAF_MOG : NF_MODEL_IAF;
}

void nf_flow_student_config_sized(const nf_flow *teacher, nf_model model, nf_config *caller, size_t struct_size)
{
    if (!caller || !teacher)
        return;
    nf_config full, *cfg = &full;
    nf_config_default(cfg, model, teacher->dim);
    cfg->context_dim = teacher->context_dim;
    if (teacher->mog && model_has_mog(model))
        cfg->components = teacher->mog->k;
    if (teacher->has_config) {
        const nf_config *t = &teacher->config;
        cfg->layers = t->layers;
        cfg->hidden = t->hidden;
        cfg->hidden_layers = t->hidden_layers;
        cfg->activation = t->activation;
        cfg->tail_weight = t->tail_weight;
        /* sampling at least 3x the teacher's arithmetic: an IAF of the
         * teacher's size samples 2.3x faster than an 8-column MAF MoG (its
         * MoG base is a third of the work); 64 units of 100 there scored
         * 0.2 nats below the teacher, 0.1 more than the full width */
        double budget = flow_sampling_macs(t) / STUDENT_SPEEDUP;
        while (cfg->hidden > STUDENT_MIN_HIDDEN && flow_sampling_macs(cfg) > budget)
            cfg->hidden--;
    }
    cfg->whiten = 1;
    sized_write(caller, struct_size, cfg, sizeof *cfg);
}

/* The teacher's Gaussian fit as a double Cholesky factor (the identity
 * without one). */
static void teacher_chol(const nf_flow *t, double *chol)
{
    size_t p = (size_t)t->dim;
    for (size_t i = 0; i < p; i++)
        for (size_t j = 0; j < p; j++)
            chol[i * p + j] = t->fit.chol ? (double)t->fit.chol[i * p + j] : i == j;
}

static nf_status copy_data_transforms(nf_flow *s, const nf_flow *t)
{
    size_t p = (size_t)t->dim;
    double *lo = malloc(sizeof(double) * p * 2);
    if (!lo)
        return nf_fail(NF_ERR_NOMEM, "out of memory building a student");
    double *hi = lo + p;
    nf_status st = NF_OK;
    if (nf_flow_get_bounds(t, lo, hi))
        st = nf_flow_set_bounds(s, lo, hi);
    if (!st)
        st = nf_flow_get_standardization(t, lo, hi);
    if (!st)
        st = nf_flow_set_standardization(s, lo, hi);
    free(lo);
    if (!st && t->context_dim && t->context_mean)
        st = nf_flow_set_context_standardization(s, t->context_mean, t->context_std);
    if (!st && t->context_columns)
        st = nf_flow_set_context_columns(s, t->context_columns);
    return st;
}

nf_status nf_flow_create_student(nf_flow **out, const nf_flow *teacher, const nf_config *cfg)
{
    *out = NULL;
    if (!teacher || !teacher->finalized)
        return nf_fail(NF_ERR_INVALID, "teacher flow is not finalized");
    nf_config c;
    nf_status in = NF_OK;
    if (cfg)
        in = config_in(cfg, &c);
    else
        nf_flow_student_config(teacher, nf_flow_student_model(teacher, 0), &c);
    if (in)
        return in;
    if (c.dim != teacher->dim || c.context_dim != teacher->context_dim)
        return nf_fail(NF_ERR_DIMENSION, "student config: %d dimensions and %d context values, the teacher %d and %d",
                       c.dim, c.context_dim, teacher->dim, teacher->context_dim);
    nf_flow *s;
    nf_status st = nf_flow_create(&s, &c);
    if (st)
        return st;
    st = copy_data_transforms(s, teacher);
    if (!st && c.whiten) {
        size_t p = (size_t)teacher->dim;
        double *chol = malloc(sizeof(double) * p * p);
        st = chol ? NF_OK : nf_fail(NF_ERR_NOMEM, "out of memory building a student");
        if (!st) {
            teacher_chol(teacher, chol);
            st = flow_set_whitening(s, chol, c.tail_weight);
        }
        free(chol);
    }
    if (st) {
        nf_flow_free(s);
        return st;
    }
    *out = s;
    return NF_OK;
}
