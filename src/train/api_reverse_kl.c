/* Reverse-KL training: probability density
 * distillation from a flow teacher, and fitting to a target log-density.
 *
 * Each step draws u ~ p_Z, maps it through the student's sampling pass
 * x = s.z2x(u) (reparameterisation), and minimises the batch mean of
 *   log s(x) - log t(x),  log s(x) = log p_Z(u) - log|det dx/du|,
 * so the student's density of its own samples needs no sequential pass.
 * The gradient reaches the student's parameters through x (via d log t/dx)
 * and through log|det|; log p_Z(u) does not depend on them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/kern.h"
#include "core/sized.h"
#include "flow/base_ops.h"
#include "flow/flow.h"
#include "train/adam.h"
#include "train/step.h"

void nf_kl_options_init(nf_kl_options *caller, size_t struct_size)
{
    nf_kl_options o;
    memset(&o, 0, sizeof o);
    o.batch = 512;
    o.steps = 3000;
    o.lr = 1e-3;
    o.clip_norm = 100;
    o.seed = 1;
    o.progress_every = 100;
    sized_write(caller, struct_size, &o, sizeof o);
}

void nf_kl_options_distill_init(nf_kl_options *caller, size_t struct_size)
{
    nf_kl_options o;
    nf_kl_options_default(&o);
    o.steps = NF_DISTILL_KL_STEPS; /* the most: the checks' patience stops it */
    sized_write(caller, struct_size, &o, sizeof o);
}

typedef struct kl_target {
    nf_flow *teacher;              /* either a frozen flow ... */
    nf_log_density_fn fn;          /* ... or a callback */
    nf_log_density_given_fn fn_given; /* ... or a conditional one */
    void *user;
} kl_target;

typedef struct kl_buffers {
    real *u, *x, *gx;
    float *gt;               /* the callback's gradient */
    float *context;          /* the batch's contexts (a conditional student) */
    double *lpz, *ldj, *log_t;
} kl_buffers;

static void free_buffers(kl_buffers *b)
{
    free(b->u);
    free(b->x);
    free(b->gx);
    free(b->gt);
    free(b->context);
    free(b->lpz);
    free(b->ldj);
    free(b->log_t);
}


static nf_status check_student(const nf_flow *s, const nf_kl_options *o)
{
    if (!s || !s->finalized)
        return nf_fail(NF_ERR_INVALID, "student flow is not finalized");
    if (!flow_base_of(s)->reparameterised)
        return nf_fail(NF_ERR_UNSUPPORTED,
                       "a student with a MoG base cannot be trained by reverse KL (its sampling is not "
                       "reparameterisable); use a normal base (iaf rather than iaf-mog)");
    if (o->batch < 2 || o->batch > NF_MAX_BATCH)
        return nf_fail(NF_ERR_INVALID, "batch %d out of range 2..%d", o->batch, NF_MAX_BATCH);
    if (o->steps < 1)
        return nf_fail(NF_ERR_INVALID, "steps %d must be >= 1", o->steps);
    if (!(o->lr > 0 && o->lr < 10))
        return nf_fail(NF_ERR_INVALID, "learning rate %g out of range (0, 10)", o->lr);
    if (isnan(o->clip_norm))
        return nf_fail(NF_ERR_INVALID, "clip norm is NaN");
    if (s->context_dim && (!o->context || o->context_rows < 1))
        return nf_fail(NF_ERR_INVALID, "the student is conditional on %d context values: give the contexts to "
                                       "train under (nf_kl_options.context)", s->context_dim);
    if (!s->context_dim && o->context)
        return nf_fail(NF_ERR_INVALID, "the student takes no context");
    return NF_OK;
}

/* log t(x) into log_t and dL/dx = -(1/rows) d log t / dx into gx. */
static nf_status target_pass(const kl_target *t, kl_buffers *b, int rows, int dim, int context_dim)
{
    if (t->teacher) {
        flow_x2z(t->teacher, rows, b->x, b->log_t);
        flow_nll_backward(t->teacher, rows, b->x, NULL, b->gx); /* no parameter gradients */
        return NF_OK;
    }
    int stop = t->fn_given ? t->fn_given(b->x, b->context, (size_t)rows, dim, context_dim, b->log_t, b->gt, t->user)
                           : t->fn(b->x, (size_t)rows, dim, b->log_t, b->gt, t->user);
    if (stop)
        return nf_fail(NF_ERR_INVALID, "the target log-density stopped training: %s", nf_last_error());
    for (size_t i = 0; i < (size_t)rows * dim; i++)
        b->gx[i] = -b->gt[i] / (real)rows;
    return NF_OK;
}

/* Training until the student stops improving (nf_flow_distill_converge):
 * every progress_every steps the KL on CHECK_SAMPLES fresh samples, the
 * same base draws (and contexts) at every check, so that two checks differ
 * by the student's change and not by the draws; the best check's
 * parameters are kept. Without it (NULL): a fixed count on a cosine
 * schedule, as nf_flow_distill and the fits. */
typedef struct kl_stop {
    int patience;       /* checks without a better KL before stopping */
    double max_seconds; /* 0: none */
} kl_stop;

enum { CHECK_SAMPLES = 4096, AVERAGE_STEPS = 500 };

static nf_status reverse_kl_run(nf_flow *s, const kl_target *t, const nf_kl_options *o, const kl_stop *stop,
                                nf_kl_progress *last);

/* The training loop below with denormals flushed (k_fast_fp_begin). */
static nf_status reverse_kl(nf_flow *s, const kl_target *t, const nf_kl_options *o, const kl_stop *stop,
                            nf_kl_progress *last)
{
    nf_kl_options full; /* the caller's fields over the defaults (core/sized.h) */
    nf_kl_options_default(&full);
    nf_status in = sized_read(&full, sizeof full, KL_OPTIONS_SIZE_1, o, "nf_kl_options");
    if (in)
        return in;
    unsigned fp = k_fast_fp_begin();
    nf_status st = reverse_kl_run(s, t, &full, stop, last);
    k_fast_fp_end(fp);
    return st;
}

/* The check: mean log s - log t over CHECK_SAMPLES draws of the fixed seed
 * (contexts from o->context with a stream of their own), in batches of the
 * training rows; its figures into *p (step and seconds left alone). */
static nf_status kl_check(nf_flow *s, const kl_target *t, const nf_kl_options *o, kl_buffers *b, int rows,
                          nf_kl_progress *p)
{
    rng r, pick;
    rng_seed(&r, o->seed ^ 0x636865636B5F6B6Cull);
    rng_seed(&pick, o->seed ^ 0x636865636B5F6378ull);
    size_t nc = (size_t)s->context_dim;
    double mean = 0, m2 = 0, ce = 0;
    int seen = 0;
    nf_status st = NF_OK;
    for (int done = 0; done < CHECK_SAMPLES && !st; done += rows) {
        int n = CHECK_SAMPLES - done < rows ? CHECK_SAMPLES - done : rows;
        if (nc) {
            for (int i = 0; i < n; i++)
                memcpy(b->context + i * nc, o->context + rng_below(&pick, o->context_rows) * nc, sizeof(float) * nc);
            flow_load_context(s, b->context, 0, n);
            if (t->teacher)
                flow_load_context(t->teacher, b->context, 0, n);
        }
        flow_base_sample(s, &r, n, b->u);
        flow_base_log_prob(s, n, b->u, b->lpz);
        flow_z2x(s, n, b->u, b->x, b->ldj);
        st = target_pass(t, b, n, s->dim, s->context_dim);
        for (int i = 0; i < n && !st; i++) {
            double d = (b->lpz[i] - b->ldj[i]) - b->log_t[i], dm = d - mean;
            seen++;
            mean += dm / seen;
            m2 += dm * (d - mean);
            ce -= b->log_t[i] / CHECK_SAMPLES;
        }
    }
    p->kl = mean;
    p->cross_entropy = ce;
    p->entropy = ce - mean;
    p->kl_stderr = sqrt(m2 / (seen - 1) / seen);
    return st;
}

static nf_status reverse_kl_run(nf_flow *s, const kl_target *t, const nf_kl_options *o, const kl_stop *stop,
                                nf_kl_progress *last)
{
    nf_status st;
    if ((st = check_student(s, o)))
        return st;
    int rows = o->batch, dim = s->dim;
    size_t n = (size_t)rows * dim;
    if ((st = flow_reserve(s, rows)) || (t->teacher && (st = flow_reserve(t->teacher, rows))))
        return st;
    kl_buffers b = {0};
    b.u = malloc(sizeof(real) * n);
    b.x = malloc(sizeof(real) * n);
    b.gx = malloc(sizeof(real) * n);
    b.gt = t->teacher ? NULL : malloc(sizeof(float) * n);
    b.context = s->context_dim ? malloc(sizeof(float) * rows * s->context_dim) : NULL;
    b.lpz = malloc(sizeof(double) * rows);
    b.ldj = malloc(sizeof(double) * rows);
    b.log_t = malloc(sizeof(double) * rows);
    if (!b.u || !b.x || !b.gx || (!t->teacher && !b.gt) || (s->context_dim && !b.context) || !b.lpz || !b.ldj ||
        !b.log_t) {
        free_buffers(&b);
        return nf_fail(NF_ERR_NOMEM, "out of memory for a batch of %d samples", rows);
    }
    rng r, pick; /* the contexts' draws: a stream of their own */
    rng_seed(&r, o->seed);
    rng_seed(&pick, o->seed ^ 0x636F6E7465787473ull);
    double t0 = clock_seconds();
    nf_kl_progress p = {0}, best = {0};
    best.kl = INFINITY;
    size_t nc = (size_t)s->context_dim;
    /* converging: kept (the best check's parameters), the running average
     * of the parameters (what the checks score) and the current ones
     * while a check runs */
    size_t np = s->n_params ? s->n_params : 1;
    real *kept = NULL, *avg = NULL, *cur = NULL;
    if (stop && (!(kept = malloc(sizeof(real) * np)) || !(avg = malloc(sizeof(real) * np)) ||
                 !(cur = malloc(sizeof(real) * np)))) {
        free(kept);
        free(avg);
        free_buffers(&b);
        return nf_fail(NF_ERR_NOMEM, "out of memory for the best parameters");
    }
    int bad = 0, every = o->progress_every > 0 ? o->progress_every : 100;
    if (stop) { /* the start: a student that does not improve keeps its initial parameters */
        if ((st = kl_check(s, t, o, &b, rows, &best)) == NF_OK && !isfinite(best.kl))
            best.kl = INFINITY;
        memcpy(kept, s->params, sizeof(real) * s->n_params);
        memcpy(avg, s->params, sizeof(real) * s->n_params);
    }
    k_probe probe = {0}; /* the default team: shrunk while other work holds the processors, or one thread */
    for (int step = 1; step <= o->steps && !st; step++) {
        k_probe_step(&probe);
        if (nc) {
            for (int i = 0; i < rows; i++)
                memcpy(b.context + i * nc, o->context + rng_below(&pick, o->context_rows) * nc, sizeof(float) * nc);
            flow_load_context(s, b.context, 0, rows);
            if (t->teacher)
                flow_load_context(t->teacher, b.context, 0, rows);
        }
        flow_base_sample(s, &r, rows, b.u);
        flow_base_log_prob(s, rows, b.u, b.lpz);
        flow_z2x_cached(s, rows, b.u, b.x, b.ldj);
        if ((st = target_pass(t, &b, rows, dim, s->context_dim)))
            break;
        /* the batch's figures, in double; Welford for the spread */
        double mean = 0, m2 = 0, ce = 0;
        for (int i = 0; i < rows; i++) {
            double d = (b.lpz[i] - b.ldj[i]) - b.log_t[i], dm = d - mean;
            mean += dm / (i + 1);
            m2 += dm * (d - mean);
            ce -= b.log_t[i] / rows;
        }
        p.step = step;
        p.kl = mean;
        p.cross_entropy = ce;
        p.entropy = ce - mean; /* -mean log s = -(kl + mean log t) */
        p.kl_stderr = sqrt(m2 / (rows - 1) / rows);
        p.seconds = clock_seconds() - t0;
        if (!isfinite(mean)) {
            st = nf_fail(NF_ERR_NONFINITE, "non-finite KL at step %d (try a lower learning rate)", step);
            break;
        }
        flow_find_live_once(s);
        flow_z2x_backward(s, rows, b.x, b.gx, (real)(-1.0 / rows), s->opt.grads, NULL); /* zero between steps */
        /* cosine decay to 0 over the steps; converging: constant, halved on a plateau */
        double lr = stop ? o->lr : o->lr * 0.5 * (1 + cos(3.14159265358979323846 * (step - 1) / o->steps));
        if (flow_adam_step(s, lr, 0, o->clip_norm)) {
            st = nf_fail(NF_ERR_NONFINITE, "non-finite gradient at step %d (try a lower learning rate)", step);
            break;
        }
        int report = step % every == 0 || step == o->steps;
        if (stop) {
            /* a constant rate, and the checks score the parameters' running
             * average over about AVERAGE_STEPS steps (fewer early on, a
             * quarter of the steps so far): Polyak averaging
             * takes out the steps' noise as a decaying rate would, without
             * a schedule that must know when training ends */
            int span = 1 + step / 4 < AVERAGE_STEPS ? 1 + step / 4 : AVERAGE_STEPS; /* short while the start moves fast */
            for (size_t k = 0; k < s->n_params; k++)
                avg[k] += (real)(1.0 / span) * (s->params[k] - avg[k]);
        }
        if (stop && report) {
            memcpy(cur, s->params, sizeof(real) * s->n_params);
            memcpy(s->params, avg, sizeof(real) * s->n_params);
            st = kl_check(s, t, o, &b, rows, &p);
            memcpy(s->params, cur, sizeof(real) * s->n_params);
            if (st)
                break;
            p.seconds = clock_seconds() - t0;
            if (p.kl < best.kl) { /* paired draws: any fall is the student's */
                best = p;
                memcpy(kept, avg, sizeof(real) * s->n_params);
                bad = 0;
            } else {
                bad++;
            }
        }
        if (report && o->progress_every > 0 && o->progress && o->progress(&p, o->user))
            break;
        if (stop && report && (bad >= stop->patience || (stop->max_seconds > 0 && clock_seconds() - t0 >= stop->max_seconds)))
            break;
    }
    k_probe_pause(&probe);
    if (stop) {
        memcpy(s->params, kept, sizeof(real) * s->n_params);
        if (best.kl == INFINITY && !st)
            st = nf_fail(NF_ERR_NONFINITE, "the student's KL was never finite (try a lower learning rate)");
        best.seconds = clock_seconds() - t0;
        p = best;
        free(kept);
        free(avg);
        free(cur);
    }
    if (last)
        *last = p;
    free_buffers(&b);
    return st;
}

static nf_status distill(nf_flow *student, nf_flow *teacher, const nf_kl_options *opt, const kl_stop *stop,
                         nf_kl_progress *last)
{
    if (!teacher || !teacher->finalized)
        return nf_fail(NF_ERR_INVALID, "teacher flow is not finalized");
    if (student && teacher->dim != student->dim)
        return nf_fail(NF_ERR_DIMENSION, "teacher has %d dimensions, student %d", teacher->dim, student->dim);
    if (student == teacher)
        return nf_fail(NF_ERR_INVALID, "student and teacher must be different flows");
    if (student && teacher->context_dim != student->context_dim)
        return nf_fail(NF_ERR_DIMENSION, "teacher takes %d context values, student %d", teacher->context_dim,
                       student->context_dim);
    if (student && student->context_dim && !student->context_mean && teacher->context_mean) {
        size_t nc = (size_t)student->context_dim;
        if (!(student->context_mean = malloc(sizeof(double) * 2 * nc)))
            return nf_fail(NF_ERR_NOMEM, "out of memory");
        student->context_std = student->context_mean + nc;
        memcpy(student->context_mean, teacher->context_mean, sizeof(double) * 2 * nc);
    }
    kl_target t = {teacher, NULL, NULL, NULL};
    return reverse_kl(student, &t, opt, stop, last);
}

nf_status nf_flow_distill(nf_flow *student, nf_flow *teacher, const nf_kl_options *opt, nf_kl_progress *last)
{
    return distill(student, teacher, opt, NULL, last);
}

nf_status nf_flow_distill_converge(nf_flow *student, nf_flow *teacher, const nf_kl_options *opt, int patience,
                                   double max_seconds, nf_kl_progress *best)
{
    if (patience < 1 || patience > 1000000)
        return nf_fail(NF_ERR_INVALID, "patience %d out of range 1..1000000", patience);
    if (!(max_seconds >= 0))
        return nf_fail(NF_ERR_INVALID, "max seconds %g must be >= 0", max_seconds);
    kl_stop stop = {patience, max_seconds};
    return distill(student, teacher, opt, &stop, best);
}

nf_status nf_flow_fit_target(nf_flow *student, nf_log_density_fn target, void *user, const nf_kl_options *opt,
                             nf_kl_progress *last)
{
    if (!target)
        return nf_fail(NF_ERR_INVALID, "NULL target log-density");
    kl_target t = {NULL, target, NULL, user};
    return reverse_kl(student, &t, opt, NULL, last);
}

nf_status nf_flow_fit_target_given(nf_flow *student, nf_log_density_given_fn target, void *user,
                                   const nf_kl_options *opt, nf_kl_progress *last)
{
    if (!target)
        return nf_fail(NF_ERR_INVALID, "NULL target log-density");
    kl_target t = {NULL, NULL, target, user};
    return reverse_kl(student, &t, opt, NULL, last);
}
