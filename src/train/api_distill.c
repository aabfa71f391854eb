/* Distillation by maximum likelihood on the teacher's samples
 * (nf_flow_distill_forward): the plan that fits the student's training in
 * about the teacher's time, its default options, and the run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/sized.h"
#include "flow/flow.h"
#include "models/api_student.h"
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
/* Its batch at most: a student that sees each sample once or twice learns more
 * from smaller steps (a 63-column set's student 0.51 nats below its
 * teacher at 64 rows, 0.65 at the data-size rule's 128; a 64-column one
 * 3.2 and 4.1; 8-10 columns no worse), at 4% more time than 128 (32: 15%). */
enum { DISTILL_ML_BATCH = 64 };
/* The rows the teacher's training visited (its epochs x training rows):
 * the student's budget, in teacher visits, to train in about the
 * teacher's time. 0 without a record. */
static double visits_budget(const nf_flow *teacher)
{
    double visits = (double)teacher->record.epochs * (double)teacher->record.train_rows;
    return visits > 0 ? visits : 0;
}

/* What a default student's training visit costs in teacher visits: the
 * ratio of their arithmetic times the sequential density pass's overhead,
 * which grows with the columns (measured, one thread, batches of 64,
 * against MAF MoG teachers, once one-thread work no longer paid libgomp's
 * barriers: 1.0-1.7x at 8-16 columns, 1.7x at 30, 1.4-2.0x at 63-64, the
 * formula above them all; the old 1.5 + 0.04 x columns left 63-column
 * students done in half their teacher's time). */
static double student_visit_cost(const nf_flow *teacher)
{
    if (!teacher->has_config)
        return 1;
    nf_config c;
    nf_flow_student_config(teacher, nf_flow_student_model(teacher, 0), &c);
    return flow_sampling_macs(&c) / flow_sampling_macs(&teacher->config) * (1.55 + 0.013 * teacher->dim);
}

/* A fresh sample, drawn and validated, in teacher visits (measured: 0.25
 * on 8 and 30 columns). */
#define SAMPLE_COST 0.3
/* Default samples per training row of the teacher (see distill_plan). */
#define DISTILL_ROWS_PER_TEACHER_ROW 8.0

/* The maximum-likelihood phase's default samples (when *samples is 0)
 * and epochs, from the budget. Samples are free: enough that the student
 * does not learn them by heart (on a 14,500-row set: 14,500 left it 1.5
 * nats below its teacher, 60,000 0.07; on a 15,400-row one, 4 x its rows
 * kept the 17th of 24 epochs, 0.29 nats below, and 8 x the last of 12,
 * 0.19 below, in the same time), but no more
 * than the budget draws and visits once (a teacher of few rows trains in
 * seconds: drawing samples it has no time to visit cost a 30-column set's
 * student twice the teacher's time). The epochs: what the budget leaves
 * after drawing them, 1 to 1000. */
static void distill_plan(const nf_flow *teacher, size_t *samples, int *epochs)
{
    double budget = visits_budget(teacher), cost = student_visit_cost(teacher);
    if (*samples == 0) {
        double r = DISTILL_ROWS_PER_TEACHER_ROW * (double)teacher->record.train_rows, once = budget / (SAMPLE_COST + cost);
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
        opt->batch = opt->batch < DISTILL_ML_BATCH ? opt->batch : DISTILL_ML_BATCH;
    }
    sized_write(caller, struct_size, opt, sizeof *opt);
}

/* A teacher sample outside the teacher's training data widened by the
 * data's range on each side (flow_far_from_data) is drawn again. A MAF's
 * sampling pass can amplify a base draw without bound: a BSDS300 teacher
 * drew 2% of its samples beyond its data's range, up to 14,000 times it,
 * where its density is no guide; a student made to cover them got
 * log-likelihoods of -1e6 on them and lost its way (0.3 to 2.4 nats below
 * its teacher on the data). */
/* Rounds of redrawing before the teacher's samples are taken as they are
 * (a teacher whose mass lies mostly outside its data). */
enum { REDRAW_ROUNDS = 8 };

/* `total` teacher samples into x (and their contexts, rows of `context`
 * drawn uniformly from a stream of their own, into c), those outside the
 * teacher's data redrawn (their count into *redrawn). Nothing outside: the
 * samples of one draw. */
static nf_status draw_samples(nf_flow *teacher, const float *context, size_t context_rows, size_t total,
                              uint64_t seed, float *x, float *c, size_t *redrawn)
{
    size_t p = (size_t)teacher->dim, nc = (size_t)teacher->context_dim, have = 0;
    rng pick;
    rng_seed(&pick, seed ^ 0x666F72776172645Full);
    *redrawn = 0;
    for (int round = 0; have < total; round++) {
        for (size_t i = have; nc && i < total; i++)
            memcpy(c + i * nc, context + rng_below(&pick, context_rows) * nc, sizeof(float) * nc);
        nf_status st = nf_flow_sample_given(teacher, c ? c + have * nc : NULL, total - have,
                                            seed ^ 0x7465616368657273ull ^ ((uint64_t)round << 48), x + have * p, NULL);
        if (st)
            return st;
        if (!teacher->record.data_min || round == REDRAW_ROUNDS)
            break;
        size_t kept = have;
        for (size_t i = have; i < total; i++) {
            if (flow_far_from_data(teacher, x + i * p))
                continue;
            memmove(x + kept * p, x + i * p, sizeof(float) * p);
            if (nc)
                memmove(c + kept * nc, c + i * nc, sizeof(float) * nc);
            kept++;
        }
        *redrawn += total - kept;
        have = kept;
    }
    return NF_OK;
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
    nf_status st = draw_samples(teacher, context, context_rows, total, opt->seed, x, c, &student->record.samples_redrawn);
    if (!st)
        st = flow_train_annealed(student, x, c, rows, x + rows * p, c ? c + rows * nc : NULL, n_val, opt, 1, result);
    free(x);
    free(c);
    return st;
}

size_t nf_flow_distill_redrawn(const nf_flow *student) { return student ? student->record.samples_redrawn : 0; }

/* The first phase's progress: the caller's, then the shared time limit. */
typedef struct timed_progress {
    const nf_train_options *caller;
    double started, max_seconds;
} timed_progress;


static int timed(const nf_train_progress *p, void *user)
{
    const timed_progress *t = user;
    int stop = t->caller->progress && t->caller->progress(p, t->caller->user);
    return stop || (!p->in_epoch && t->max_seconds > 0 && clock_seconds() - t->started >= t->max_seconds);
}

nf_status nf_flow_distill_run(nf_flow *student, nf_flow *teacher, const float *context, size_t context_rows,
                              size_t samples, const nf_train_options *ml, const nf_kl_options *kl, int patience,
                              double max_seconds, nf_train_result *ml_result, nf_kl_progress *last)
{
    if (!(max_seconds >= 0))
        return nf_fail(NF_ERR_INVALID, "distillation time limit %g: 0 (none) or more seconds", max_seconds);
    timed_progress t = {ml, clock_seconds(), max_seconds};
    nf_status st = NF_OK;
    if (ml) {
        nf_train_options o;
        nf_train_options_default(&o);
        if ((st = sized_read(&o, sizeof o, TRAIN_OPTIONS_SIZE_1, ml, "nf_train_options")))
            return st;
        o.progress = timed;
        o.user = &t;
        nf_train_result r;
        memset(&r, 0, sizeof r);
        st = nf_flow_distill_forward(student, teacher, samples, context, context_rows, &o, &r);
        if (ml_result)
            *ml_result = r;
    }
    if (!st && kl) {
        double left = 0;
        if (max_seconds > 0) { /* what the first phase left, never nothing */
            left = max_seconds - (clock_seconds() - t.started);
            left = left > 1e-3 ? left : 1e-3;
        }
        st = nf_flow_distill_converge(student, teacher, kl, patience > 0 ? patience : NF_DISTILL_PATIENCE, left, last);
    }
    return st;
}
