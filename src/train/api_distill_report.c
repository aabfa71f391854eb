/* What `nflow distill` and Python's Flow.distill report of a student
 * against its teacher: on fresh student samples, on rows of data, and the
 * report in words or JSON. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/sized.h"
#include "core/text.h"
#include "train/api_evaluate.h"

#define DISTILL_REPORT_SIZE_1 SIZED_END(nf_distill_report, teacher_samples_per_s)

void nf_distill_report_init(nf_distill_report *caller, size_t struct_size)
{
    nf_distill_report r = {.struct_size = sizeof r, .kl = NAN, .kl_two_stderr = NAN, .cross_entropy = NAN,
                           .cross_entropy_two_stderr = NAN, .entropy = NAN, .entropy_two_stderr = NAN,
                           .seconds = NAN, .train_seconds = NAN, .ml_val_log_likelihood = NAN, .kl_seconds = NAN,
                           .kl_best = NAN, .kl_best_stderr = NAN, .student_log_likelihood = NAN,
                           .student_two_stderr = NAN, .teacher_log_likelihood = NAN, .teacher_two_stderr = NAN,
                           .gaussian_log_likelihood = NAN};
    sized_write(caller, struct_size, &r, sizeof r);
}

/* Samples per second drawing n rows: the fastest of a few draws (at least
 * 3, half a second in all, 20 at most), since other processes share the
 * machine. */
static nf_status throughput(nf_flow *f, const float *given, size_t n, uint64_t seed, float *x, double *per_s)
{
    double best = INFINITY, total = 0;
    for (int rep = 0; rep < 20 && (rep < 3 || total < 0.5); rep++) {
        double t0 = clock_seconds();
        nf_status st = nf_flow_sample_given(f, given, n, seed, x, NULL);
        if (st)
            return st;
        double dt = clock_seconds() - t0;
        total += dt;
        best = fmin(best, dt);
    }
    *per_s = (double)n / fmax(best, 1e-9);
    return NF_OK;
}

/* The caller's report (struct_size bytes of it) over a full one of
 * defaults: the calls fill their fields and leave the others. */
static nf_status report_in(nf_distill_report *r, const nf_distill_report *caller, size_t struct_size)
{
    nf_status st = sized_check_size(struct_size, sizeof *r, DISTILL_REPORT_SIZE_1, "nf_distill_report");
    if (st)
        return st;
    nf_distill_report_init(r, sizeof *r);
    if (caller)
        memcpy(r, caller, struct_size);
    r->struct_size = sizeof *r;
    return NF_OK;
}

/* Student and teacher of one shape. */
static nf_status check_pair(const nf_flow *s, const nf_flow *t)
{
    if (nf_flow_dim(s) != nf_flow_dim(t) || nf_flow_context_dim(s) != nf_flow_context_dim(t))
        return nf_fail(NF_ERR_INVALID, "the student models %d values given %d, the teacher %d given %d",
                       nf_flow_dim(s), nf_flow_context_dim(s), nf_flow_dim(t), nf_flow_context_dim(t));
    return NF_OK;
}

nf_status nf_flow_distill_evaluate_sized(nf_flow *s, nf_flow *t, const float *context, size_t context_rows,
                                         size_t n, uint64_t seed, int timed, nf_distill_report *caller,
                                         size_t struct_size)
{
    nf_distill_report r;
    nf_status st = report_in(&r, caller, struct_size);
    if (st)
        return st;
    if (n == 0)
        n = NF_DISTILL_EVAL_SAMPLES;
    if (!s || !t || !caller)
        return nf_fail(NF_ERR_INVALID, "nf_flow_distill_evaluate: NULL argument");
    int dim = nf_flow_dim(t), nc = nf_flow_context_dim(t);
    if ((st = check_pair(s, t)))
        return st;
    if (nc && (!context || context_rows < 1))
        return nf_fail(NF_ERR_INVALID, "the teacher is conditional: pass contexts to evaluate under");
    r.n = n;
    float *x = malloc(sizeof(float) * n * (size_t)dim), *given = nc ? malloc(sizeof(float) * n * (size_t)nc) : NULL;
    double *ls = malloc(sizeof(double) * n), *lt = malloc(sizeof(double) * n);
    if (!x || !ls || !lt || (nc && !given)) {
        st = nf_fail(NF_ERR_NOMEM, "out of memory evaluating a student on %zu samples", n);
        goto done;
    }
    for (size_t i = 0; nc && i < n; i++)
        memcpy(given + i * (size_t)nc, context + i % context_rows * (size_t)nc, sizeof(float) * (size_t)nc);
    /* log s from the sampling pass, log t from the teacher */
    if ((st = nf_flow_sample_given(s, given, n, seed, x, ls)) || (st = nf_flow_log_prob_given(t, x, given, n, lt)))
        goto done;
    mean_two_stderr(ls, NULL, n, &r.entropy, &r.entropy_two_stderr);
    mean_two_stderr(lt, NULL, n, &r.cross_entropy, &r.cross_entropy_two_stderr);
    for (size_t i = 0; i < n; i++)
        ls[i] -= lt[i];
    mean_two_stderr(ls, NULL, n, &r.kl, &r.kl_two_stderr);
    r.entropy = -r.entropy;
    r.cross_entropy = -r.cross_entropy;
    if (timed && ((st = throughput(s, given, n, seed, x, &r.student_samples_per_s)) ||
                  (st = throughput(t, given, n, seed, x, &r.teacher_samples_per_s))))
        goto done;
    sized_write(caller, struct_size, &r, sizeof r);
done:
    free(x);
    free(given);
    free(ls);
    free(lt);
    return st;
}

nf_status nf_flow_distill_evaluate_data_sized(nf_flow *s, nf_flow *t, const float *x, const float *context,
                                              size_t rows, nf_distill_report *caller, size_t struct_size)
{
    nf_distill_report r;
    nf_eval_report es, et;
    nf_status st = report_in(&r, caller, struct_size);
    if (st)
        return st;
    if (!s || !t || !caller)
        return nf_fail(NF_ERR_INVALID, "nf_flow_distill_evaluate_data: NULL argument");
    if ((st = check_pair(s, t)) || (st = nf_flow_evaluate(s, x, context, rows, NULL, &es)) ||
        (st = nf_flow_evaluate(t, x, context, rows, NULL, &et)))
        return st;
    r.data_rows = rows;
    r.student_log_likelihood = es.mean;
    r.student_two_stderr = es.two_stderr;
    r.teacher_log_likelihood = et.mean;
    r.teacher_two_stderr = et.two_stderr;
    r.gaussian_log_likelihood = et.gaussian_mean;
    /* the student's rows against its whitening, the teacher's fit, where
     * the teacher has one; a student at the fit's level (a Gaussian
     * teacher's, or one the run did not move) is not flagged for 0.0003
     * nats of noise or the float rounding of the two ways to the fit */
    double gap = et.below_gaussian >= 0 ? es.gap : NAN, margin = et.below_gaussian >= 0 ? es.gap_two_stderr : NAN;
    margin = (isfinite(margin) ? margin : 0) + 0.01;
    r.below_gaussian = isnan(es.mean) || gap < -margin;
    sized_write(caller, struct_size, &r, sizeof r);
    return NF_OK;
}

static void report_json(text *o, const nf_flow *s, const nf_distill_report *r, const char *teacher_name,
                        const char *model)
{
    text_add(o, "{\"teacher\": ");
    text_json_string(o, teacher_name ? teacher_name : "");
    text_add(o, ", \"student\": \"%s\", \"dim\": %d, \"context_dim\": %d, \"params\": %zu, \"steps\": %d, "
                "\"best_step\": %d, \"eval_n\": %zu",
             model, nf_flow_dim(s), nf_flow_context_dim(s), nf_flow_param_count(s), r->kl_steps, r->kl_best_step, r->n);
    text_json_number(o, "kl", r->kl);
    text_json_number(o, "kl_two_stderr", r->kl_two_stderr);
    text_json_number(o, "cross_entropy", r->cross_entropy);
    text_json_number(o, "entropy", r->entropy);
    text_json_number(o, "kl_train", r->kl_batch ? r->kl_best : NAN);
    text_json_number(o, "seconds", r->seconds);
    text_json_number(o, "train_seconds", r->train_seconds);
    text_add(o, ", \"ml_epochs\": %d, \"ml_best_epoch\": %d, \"teacher_samples_redrawn\": %zu", r->ml_epochs,
             r->ml_best_epoch, nf_flow_distill_redrawn(s));
    text_json_number(o, "ml_val_log_likelihood", r->ml_epochs ? r->ml_val_log_likelihood : NAN);
    text_json_number(o, "student_samples_per_s", r->student_samples_per_s);
    text_json_number(o, "teacher_samples_per_s", r->teacher_samples_per_s);
    if (r->data_rows) {
        text_add(o, ", \"data_rows\": %zu", r->data_rows);
        text_json_number(o, "student_log_likelihood", r->student_log_likelihood);
        text_json_number(o, "student_two_stderr", r->student_two_stderr);
        text_json_number(o, "teacher_log_likelihood", r->teacher_log_likelihood);
        text_json_number(o, "teacher_two_stderr", r->teacher_two_stderr);
        text_json_number(o, "gaussian_log_likelihood", r->gaussian_log_likelihood);
    }
    text_add(o, "}\n");
}

size_t nf_distill_report_text(const nf_flow *s, const nf_distill_report *r, const char *teacher_name,
                              const char *data_name, int flags, char *buf, size_t size)
{
    text o;
    text_init(&o, buf, size);
    if (!s || !r)
        return 0;
    const char *model = model_kind(s);
    if (flags & NF_REPORT_JSON) {
        report_json(&o, s, r, teacher_name, model);
        return o.len;
    }
    text_add(&o, "%s student: %zu parameters, trained in %.1f s\n", model, nf_flow_param_count(s), r->train_seconds);
    if (r->ml_epochs)
        text_add(&o, "maximum likelihood on fresh teacher samples: %d epochs (the best %d), validation mean "
                     "log-likelihood %.4f\n", r->ml_epochs, r->ml_best_epoch, r->ml_val_log_likelihood);
    if (nf_flow_distill_redrawn(s))
        text_add(&o, "teacher samples outside its training data (beyond the data's range on either side), redrawn: "
                     "%zu\n", nf_flow_distill_redrawn(s));
    if (r->kl_batch)
        text_add(&o, "reverse KL: %d steps of %d samples (the best at step %d), %.1f s\n", r->kl_steps, r->kl_batch,
                 r->kl_best_step, r->kl_seconds);
    text_add(&o, "KL(student || teacher) on %zu fresh student samples: %.4f +- %.4f nats (cross-entropy %.4f +- "
                 "%.4f, entropy %.4f +- %.4f)\n", r->n, r->kl, r->kl_two_stderr, r->cross_entropy,
             r->cross_entropy_two_stderr, r->entropy, r->entropy_two_stderr);
    if (r->kl_batch)
        text_add(&o, "KL at the best check (4096 fresh samples, step %d): %.4f +- %.4f nats\n", r->kl_best_step,
                 r->kl_best, 2 * r->kl_best_stderr);
    text_add(&o, "sampling %zu rows: student %.0f samples/s, teacher %.0f samples/s (ratio %.2f)\n", r->n,
             r->student_samples_per_s, r->teacher_samples_per_s, r->student_samples_per_s / r->teacher_samples_per_s);
    if (r->data_rows) {
        char a[32], b[32], c[32], d[32], g[32];
        text_add(&o, "mean log-likelihood on %s (%zu rows): student %s +- %s, teacher %s +- %s, the teacher's "
                     "Gaussian fit %s\n", data_name ? data_name : "the data", r->data_rows,
                 text_nats(r->student_log_likelihood, a, sizeof a), text_nats(r->student_two_stderr, b, sizeof b),
                 text_nats(r->teacher_log_likelihood, c, sizeof c), text_nats(r->teacher_two_stderr, d, sizeof d),
                 text_nats(r->gaussian_log_likelihood, g, sizeof g));
    }
    return o.len;
}
