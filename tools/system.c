/* The machine nflow runs on: the BLAS kernels chosen at start-up, and
 * `nflow info --system`. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Set in the restarted process: the family OpenBLAS had picked itself. */
static const char *const fallback_var = "NFLOW_OPENBLAS_PICKED";

void cli_choose_blas_kernels(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE")) /* the user's choice, or ours after the restart */
        return;
    nf_system_info s;
    nf_system_info_get(&s);
    if (!s.blas_kernel_generic || !s.suggested_coretype[0])
        return;
    /* OpenBLAS fixed its kernels when it was loaded: start again with the
     * family that fits this CPU */
    setenv("OPENBLAS_CORETYPE", s.suggested_coretype, 1);
    setenv(fallback_var, s.blas_kernel, 1);
    execv("/proc/self/exe", argv);
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(fallback_var);
    fprintf(stderr,
            "nflow: warning: OpenBLAS runs its generic %s kernels on this CPU (%s); "
            "set OPENBLAS_CORETYPE=%s for several times the speed\n",
            s.blas_kernel, s.cpu, s.suggested_coretype);
}

static void json_string(const char *key, const char *v, int last)
{
    printf("  \"%s\": \"", key);
    for (const char *c = v; *c; c++)
        if (*c == '"' || *c == '\\')
            printf("\\%c", *c);
        else if ((unsigned char)*c >= 0x20)
            putchar(*c);
    printf("\"%s\n", last ? "" : ",");
}

int cli_info_system(int json)
{
    nf_system_info s;
    nf_system_info_get(&s);
    const char *picked = getenv(fallback_var);
    if (json) {
        printf("{\n");
        json_string("cpu", s.cpu, 0);
        json_string("cpu_features", s.cpu_features, 0);
        printf("  \"cpu_vector_bits\": %d,\n", s.cpu_vector_bits);
        json_string("blas", s.blas, 0);
        json_string("blas_kernel", s.blas_kernel, 0);
        printf("  \"blas_kernel_bits\": %d,\n  \"blas_kernel_generic\": %s,\n", s.blas_kernel_bits,
               s.blas_kernel_generic ? "true" : "false");
        json_string("blas_kernel_chosen_by", picked ? "nflow" : getenv("OPENBLAS_CORETYPE") ? "OPENBLAS_CORETYPE"
                                                                                         : "OpenBLAS",
                    0);
        json_string("openblas_picked", picked ? picked : s.blas_kernel, 0);
        printf("  \"threads\": %d,\n  \"processors\": %d\n}\n", s.threads, s.processors);
        return 0;
    }
    printf("cpu:         %s\n", s.cpu);
    printf("features:    %s (vectors of %d bits)\n", s.cpu_features[0] ? s.cpu_features : "-", s.cpu_vector_bits);
    printf("blas:        %s\n", s.blas);
    printf("kernels:     %s (%d-bit)", s.blas_kernel, s.blas_kernel_bits);
    if (picked)
        printf(", chosen by nflow: OpenBLAS picked %s for this CPU it does not know", picked);
    else if (getenv("OPENBLAS_CORETYPE"))
        printf(", from OPENBLAS_CORETYPE");
    printf("\n");
    if (s.blas_kernel_generic)
        printf("warning:     generic kernels on a CPU with AVX2; OPENBLAS_CORETYPE=%s fits it\n",
               s.suggested_coretype);
    printf("threads:     %d of %d processors (--threads, OMP_NUM_THREADS)\n", s.threads, s.processors);
    return 0;
}
