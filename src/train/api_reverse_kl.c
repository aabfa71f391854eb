/* Reverse-KL training (DESIGN.md section 5): probability density
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
#include <time.h>

#include "core/error.h"
#include "core/kern.h"
#include "flow/flow.h"
#include "train/adam.h"

void nf_kl_options_default(nf_kl_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->batch = 512;
    opt->steps = 3000;
    opt->lr = 1e-3;
    opt->clip_norm = 100;
    opt->seed = 1;
    opt->progress_every = 100;
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

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static nf_status check_student(const nf_flow *s, const nf_kl_options *o)
{
    if (!s || !s->finalized)
        return nf_fail(NF_ERR_INVALID, "student flow is not finalized");
    if (s->mog)
        return nf_fail(NF_ERR_UNSUPPORTED,
                       "a student with a MADE MoG base cannot be trained by reverse KL (its sampling is not "
                       "reparameterisable); use a normal base");
    if (o->batch < 2 || o->batch > 1 << 20)
        return nf_fail(NF_ERR_INVALID, "batch %d out of range 2..1048576", o->batch);
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

static nf_status reverse_kl_run(nf_flow *s, const kl_target *t, const nf_kl_options *o, nf_kl_progress *last);

/* The training loop below with denormals flushed (k_fast_fp_begin). */
static nf_status reverse_kl(nf_flow *s, const kl_target *t, const nf_kl_options *o, nf_kl_progress *last)
{
    unsigned fp = k_fast_fp_begin();
    nf_status st = reverse_kl_run(s, t, o, last);
    k_fast_fp_end(fp);
    return st;
}

static nf_status reverse_kl_run(nf_flow *s, const kl_target *t, const nf_kl_options *o, nf_kl_progress *last)
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
    double t0 = now();
    nf_kl_progress p = {0};
    size_t nc = (size_t)s->context_dim;
    for (int step = 1; step <= o->steps && !st; step++) {
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
        p.seconds = now() - t0;
        if (!isfinite(mean)) {
            st = nf_fail(NF_ERR_NONFINITE, "non-finite KL at step %d (try a lower --lr)", step);
            break;
        }
        memset(s->grads, 0, sizeof(real) * s->n_params);
        flow_z2x_backward(s, rows, b.x, b.gx, (real)(-1.0 / rows), s->grads, NULL);
        double lr = o->lr * 0.5 * (1 + cos(3.14159265358979323846 * (step - 1) / o->steps)); /* cosine decay to 0 */
        if (adam_step(s->n_params, s->params, s->grads, s->adam_m, s->adam_v, &s->adam_t, lr, 0, o->clip_norm)) {
            st = nf_fail(NF_ERR_NONFINITE, "non-finite gradient at step %d (try a lower --lr)", step);
            break;
        }
        int report = o->progress_every > 0 && (step % o->progress_every == 0 || step == o->steps);
        if (report && o->progress && o->progress(&p, o->user))
            break;
    }
    if (last)
        *last = p;
    free_buffers(&b);
    return st;
}

nf_status nf_flow_distill(nf_flow *student, nf_flow *teacher, const nf_kl_options *opt, nf_kl_progress *last)
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
    return reverse_kl(student, &t, opt, last);
}

nf_status nf_flow_fit_target(nf_flow *student, nf_log_density_fn target, void *user, const nf_kl_options *opt,
                             nf_kl_progress *last)
{
    if (!target)
        return nf_fail(NF_ERR_INVALID, "NULL target log-density");
    kl_target t = {NULL, target, NULL, user};
    return reverse_kl(student, &t, opt, last);
}

nf_status nf_flow_fit_target_given(nf_flow *student, nf_log_density_given_fn target, void *user,
                                   const nf_kl_options *opt, nf_kl_progress *last)
{
    if (!target)
        return nf_fail(NF_ERR_INVALID, "NULL target log-density");
    kl_target t = {NULL, NULL, target, user};
    return reverse_kl(student, &t, opt, last);
}
