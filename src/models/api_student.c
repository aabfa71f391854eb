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
#include "models/whitening.h"
#include "train/api_train.h"

/* A teacher without a training record (built, not trained): epochs of the
 * maximum-likelihood phase. */
enum { DISTILL_EPOCHS_UNKNOWN = 50 };
/* Fresh samples: at least the first where the teacher's training allows,
 * never fewer than the second. */
enum { DISTILL_MIN_SAMPLES_FULL = 50000, DISTILL_MIN_SAMPLES = 10000 };
/* The peak of the cosine: in a run of the teacher's length, 4e-3 left the
 * student 0.04 nats below its teacher on an 8-column set and 0.36 on a
 * 10-column one, 1e-3 0.21 and 0.53 (8e-3: 0.38). */
#define DISTILL_ML_LR 4e-3
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
static double sampling_macs(const nf_config *c)
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
        double budget = sampling_macs(t) / STUDENT_SPEEDUP;
        while (cfg->hidden > STUDENT_MIN_HIDDEN && sampling_macs(cfg) > budget)
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
            chol[i * p + j] = t->gauss ? (double)t->gauss[i * p + j] : i == j;
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

/* The rows the teacher's training visited (its epochs x training rows):
 * the student's budget, in teacher visits, to train in about the
 * teacher's time. 0 without a record. */
static double visits_budget(const nf_flow *teacher)
{
    double visits = (double)teacher->epochs * (double)teacher->train_rows;
    return visits > 0 ? visits : 0;
}

/* What a default student's training visit costs in teacher visits: the
 * ratio of their arithmetic times the sequential density pass's overhead,
 * which grows with the columns (measured, one thread, against MAF MoG
 * teachers: 1.5-2x at 8-10 columns, 2.5x at 30; a student's visit then
 * cost 0.55-0.65 and 0.84 of the teacher's). */
static double student_visit_cost(const nf_flow *teacher)
{
    if (!teacher->has_config)
        return 1;
    nf_config c;
    nf_flow_student_config(teacher, nf_flow_student_model(teacher, 0), &c);
    return sampling_macs(&c) / sampling_macs(&teacher->config) * (1.5 + 0.04 * teacher->dim);
}

/* A fresh sample, drawn and validated, in teacher visits (measured: 0.25
 * on 8 and 30 columns). */
#define SAMPLE_COST 0.3

/* The maximum-likelihood phase's default samples (when *samples is 0)
 * and epochs, from the budget. Samples are free: enough that a student of
 * the teacher's size does not learn them by heart (on a 14,500-row set:
 * 14,500 left it 1.5 nats below its teacher, 60,000 0.07), but no more
 * than the budget draws and visits once (a teacher of few rows trains in
 * seconds: drawing samples it has no time to visit cost a 30-column set's
 * student twice the teacher's time). The epochs: what the budget leaves
 * after drawing them, 1 to 1000. */
static void distill_plan(const nf_flow *teacher, size_t *samples, int *epochs)
{
    double budget = visits_budget(teacher), cost = student_visit_cost(teacher);
    if (*samples == 0) {
        double r = 4.0 * (double)teacher->train_rows, once = budget / (SAMPLE_COST + cost);
        r = r < DISTILL_MIN_SAMPLES_FULL ? DISTILL_MIN_SAMPLES_FULL : r > 1000000 ? 1000000 : r;
        if (budget > 0 && once < r)
            r = once < DISTILL_MIN_SAMPLES ? DISTILL_MIN_SAMPLES : once;
        *samples = (size_t)r;
    }
    if (!(budget > 0)) {
        *epochs = DISTILL_EPOCHS_UNKNOWN;
        return;
    }
    double e = round((budget - SAMPLE_COST * (double)*samples) / ((double)*samples * cost));
    *epochs = e < 1 ? 1 : e > 1000 ? 1000 : (int)e;
}

void nf_flow_distill_options_sized(const nf_flow *teacher, size_t samples, nf_train_options *caller,
                                   size_t struct_size)
{
    if (!caller)
        return;
    nf_train_options full, *opt = &full;
    nf_train_options_default(opt);
    if (teacher) {
        int epochs;
        distill_plan(teacher, &samples, &epochs);
        nf_defaults_for_data(samples, teacher->dim, NULL, opt);
        opt->dropout = 0; /* fresh samples are not learned by heart */
        opt->max_epochs = epochs;
        opt->lr = DISTILL_ML_LR;
    }
    sized_write(caller, struct_size, opt, sizeof *opt);
}

nf_status nf_flow_distill_forward(nf_flow *student, nf_flow *teacher, size_t rows, const float *context,
                                  size_t context_rows, const nf_train_options *opt, nf_train_result *result)
{
    if (!student || !teacher || student == teacher)
        return nf_fail(NF_ERR_INVALID, "a student and a different teacher are needed");
    if (student->dim != teacher->dim || student->context_dim != teacher->context_dim)
        return nf_fail(NF_ERR_DIMENSION, "teacher: %d dimensions and %d context values, student %d and %d",
                       teacher->dim, teacher->context_dim, student->dim, student->context_dim);
    if (rows == 0) {
        int unused;
        distill_plan(teacher, &rows, &unused);
    }
    if (rows < 2 || rows > (size_t)1 << 32)
        return nf_fail(NF_ERR_INVALID, "%zu teacher samples out of range 2..2^32", rows);
    size_t nc = (size_t)teacher->context_dim, p = (size_t)teacher->dim;
    if (nc && (!context || context_rows < 1))
        return nf_fail(NF_ERR_INVALID, "the teacher is conditional on %zu context values: give the contexts to "
                                       "sample under", nc);
    if (!nc && context)
        return nf_fail(NF_ERR_INVALID, "the teacher takes no context");
    nf_train_options defaults;
    if (!opt) {
        nf_flow_distill_options(teacher, rows, &defaults);
    } else {
        nf_status in = train_options_in(opt, &defaults);
        if (in)
            return in;
    }
    opt = &defaults;
    /* a tenth more for validation: the samples are fresh, so early stopping
     * only guards against the student fitting these rows by heart */
    size_t n_val = rows / 10 > 2 ? rows / 10 : 2, total = rows + n_val;
    float *x = malloc(sizeof(float) * total * p), *c = nc ? malloc(sizeof(float) * total * nc) : NULL;
    if (!x || (nc && !c)) {
        free(x);
        free(c);
        return nf_fail(NF_ERR_NOMEM, "out of memory for %zu teacher samples", total);
    }
    uint64_t seed = opt->seed;
    if (nc) { /* each sample's context: a row of `context`, drawn uniformly (a stream of its own) */
        rng pick;
        rng_seed(&pick, seed ^ 0x666F72776172645Full);
        for (size_t i = 0; i < total; i++)
            memcpy(c + i * nc, context + rng_below(&pick, context_rows) * nc, sizeof(float) * nc);
    }
    nf_status st = nf_flow_sample_given(teacher, c, total, seed ^ 0x7465616368657273ull, x, NULL);
    if (!st)
        st = flow_train_annealed(student, x, c, rows, x + rows * p, c ? c + rows * nc : NULL, n_val, opt, 1, result);
    free(x);
    free(c);
    return st;
}
