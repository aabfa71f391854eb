/* nf_system_report: the machine as `nflow info --system` prints it. */
#include <stdlib.h>

#include "core/text.h"
#include "nflow.h"

/* A JSON line `  "key": "value",` (the last without the comma). */
static void json_string(text *t, const char *key, const char *v, int last)
{
    text_add(t, "  \"%s\": \"", key);
    for (const char *c = v; *c; c++)
        if (*c == '"' || *c == '\\')
            text_add(t, "\\%c", *c);
        else if ((unsigned char)*c >= 0x20)
            text_add(t, "%c", *c);
    text_add(t, "\"%s\n", last ? "" : ",");
}

size_t nf_system_report(int flags, char *buf, size_t size)
{
    text t;
    text_init(&t, buf, size);
    nf_system_info s;
    nf_system_info_get(&s);
    const char *picked = getenv("NFLOW_OPENBLAS_PICKED");
    char why[256];
    int usable = nf_threads_usable(why, sizeof why);
    const char *threads_from = getenv("OMP_NUM_THREADS") ? "OMP_NUM_THREADS" : "the usable processors";
    const char *waiting = getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY")
                          : getenv("GOMP_SPINCOUNT") ? "spin (GOMP_SPINCOUNT)"
                                                     : "libgomp's default (spin, then sleep)";
    const char *waiting_from = getenv("NFLOW_OMP_WAIT_POLICY") ? "nflow"
                               : getenv("OMP_WAIT_POLICY")     ? "OMP_WAIT_POLICY"
                               : getenv("GOMP_SPINCOUNT")      ? "GOMP_SPINCOUNT"
                                                               : "libgomp";
    if (flags & NF_REPORT_JSON) {
        text_add(&t, "{\n");
        json_string(&t, "cpu", s.cpu, 0);
        json_string(&t, "cpu_features", s.cpu_features, 0);
        text_add(&t, "  \"cpu_vector_bits\": %d,\n", s.cpu_vector_bits);
        json_string(&t, "blas", s.blas, 0);
        json_string(&t, "blas_kernel", s.blas_kernel, 0);
        text_add(&t, "  \"blas_kernel_bits\": %d,\n  \"blas_kernel_generic\": %s,\n", s.blas_kernel_bits,
                 s.blas_kernel_generic ? "true" : "false");
        json_string(&t, "blas_kernel_chosen_by",
                    picked ? "nflow" : getenv("OPENBLAS_CORETYPE") ? "OPENBLAS_CORETYPE" : "OpenBLAS", 0);
        json_string(&t, "openblas_picked", picked ? picked : s.blas_kernel, 0);
        text_add(&t, "  \"threads\": %d,\n  \"processors\": %d,\n", s.threads, s.processors);
        text_add(&t, "  \"threads_usable\": %d,\n", usable);
        json_string(&t, "threads_usable_from", why, 0);
        json_string(&t, "threads_from", threads_from, 0);
        json_string(&t, "omp_wait_policy", waiting, 0);
        json_string(&t, "omp_wait_policy_from", waiting_from, 0);
        text_add(&t, "  \"limits\": {");
        for (int k = 0; k < NF_LIMIT_COUNT; k++) {
            const char *name;
            double lo, hi;
            nf_limit_get((nf_limit)k, &name, &lo, &hi);
            text_add(&t, "%s\"%s\": [%.17g, %.17g]", k ? ", " : "", name, lo, hi);
        }
        text_add(&t, "}\n}\n");
        return t.len;
    }
    text_add(&t, "cpu:         %s\n", s.cpu);
    text_add(&t, "features:    %s (vectors of %d bits)\n", s.cpu_features[0] ? s.cpu_features : "-",
             s.cpu_vector_bits);
    text_add(&t, "blas:        %s\n", s.blas);
    text_add(&t, "kernels:     %s (%d-bit)", s.blas_kernel, s.blas_kernel_bits);
    if (picked)
        text_add(&t, ", chosen by nflow: OpenBLAS picked %s for this CPU it does not know", picked);
    else if (getenv("OPENBLAS_CORETYPE"))
        text_add(&t, ", from OPENBLAS_CORETYPE");
    text_add(&t, "\n");
    if (s.blas_kernel_generic)
        text_add(&t, "warning:     generic kernels on a CPU with AVX2; OPENBLAS_CORETYPE=%s fits it\n",
                 s.suggested_coretype);
    text_add(&t, "threads:     %d (from %s); this process may use %d: %s\n", s.threads, threads_from, usable, why);
    text_add(&t, "waiting:     OpenMP threads wait %s (set by %s)\n", waiting, waiting_from);
    text_add(&t, "limits:     "); /* the library's, as it was built */
    for (int k = 0; k < NF_LIMIT_COUNT; k++) {
        const char *name;
        double lo, hi;
        nf_limit_get((nf_limit)k, &name, &lo, &hi);
        text_add(&t, " %s %.10g..%.10g%s", name, lo, hi, k + 1 < NF_LIMIT_COUNT ? "," : "\n");
    }
    return t.len;
}
