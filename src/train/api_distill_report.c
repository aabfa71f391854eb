/* nf_flow_distill_evaluate: what `nflow distill` and Python's
 * Flow.distill report of a student against its teacher, on fresh student
 * samples. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/sized.h"
#include "train/api_evaluate.h"

#define DISTILL_REPORT_SIZE_1 SIZED_END(nf_distill_report, teacher_samples_per_s)

void nf_distill_report_init(nf_distill_report *caller, size_t struct_size)
{
    nf_distill_report r = {.struct_size = sizeof r, .kl = NAN, .kl_two_stderr = NAN, .cross_entropy = NAN,
                           .cross_entropy_two_stderr = NAN, .entropy = NAN, .entropy_two_stderr = NAN};
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

nf_status nf_flow_distill_evaluate_sized(nf_flow *s, nf_flow *t, const float *context, size_t context_rows,
                                         size_t n, uint64_t seed, int timed, nf_distill_report *caller,
                                         size_t struct_size)
{
    nf_distill_report r;
    nf_status st = sized_check(&(nf_distill_report){.struct_size = struct_size}, sizeof r, DISTILL_REPORT_SIZE_1,
                               "nf_distill_report");
    if (st)
        return st;
    if (!s || !t || !caller || n < 1)
        return nf_fail(NF_ERR_INVALID, "nf_flow_distill_evaluate: NULL argument, or no samples");
    int dim = nf_flow_dim(t), nc = nf_flow_context_dim(t);
    if (nf_flow_dim(s) != dim || nf_flow_context_dim(s) != nc)
        return nf_fail(NF_ERR_INVALID, "the student models %d values given %d, the teacher %d given %d",
                       nf_flow_dim(s), nf_flow_context_dim(s), dim, nc);
    if (nc && (!context || context_rows < 1))
        return nf_fail(NF_ERR_INVALID, "the teacher is conditional: pass contexts to evaluate under");
    nf_distill_report_init(&r, sizeof r);
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
