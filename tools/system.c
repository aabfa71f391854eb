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

/* Set in the restarted process when nflow chose the OpenMP waiting. */
static const char *const wait_var = "NFLOW_OMP_WAIT_POLICY";

/* One thread has no team to wait in: the restart (16 ms of a 40 ms
 * `nflow sample`) would buy nothing. The count as the tool will set it:
 * --threads first, then OMP_NUM_THREADS, then what the process may use. */
static int one_thread(char **argv)
{
    for (int i = 1; argv[i] && strcmp(argv[i], "--"); i++) { /* "--": past the options */
        if (!strncmp(argv[i], "--threads=", 10))
            return !strcmp(argv[i] + 10, "1");
        if (!strcmp(argv[i], "--threads") && argv[i + 1])
            return !strcmp(argv[i + 1], "1");
    }
    const char *env = getenv("OMP_NUM_THREADS");
    if (env)
        return !strcmp(env, "1");
    char why[256];
    return nf_threads_usable(why, sizeof why) == 1;
}

/* libgomp reads its waiting policy once, as it loads: a team whose threads
 * spin at the barriers (its default) collapses when the processors are
 * shared (two trainings on 2 cores, 2 threads each: 4x slower than one
 * thread each; beside a busy loop per core 1.9x), where passive waiting
 * stays within 1.07x and beside the busy loops beats one thread. Alone it
 * costs 14% against spinning (still 15% faster than one thread). The
 * user's OMP_WAIT_POLICY or GOMP_SPINCOUNT stays theirs. */
static int choose_waiting(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT") || one_thread(argv))
        return 0;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    setenv(wait_var, "passive", 1);
    return 1;
}

void cli_prepare_process(char **argv)
{
    int restart = choose_waiting(argv);
    nf_system_info s;
    nf_system_info_get(&s);
    int kernels = !getenv("OPENBLAS_CORETYPE") && s.blas_kernel_generic && s.suggested_coretype[0];
    if (kernels) { /* OpenBLAS fixed its kernels when it was loaded: start again with the family that fits */
        setenv("OPENBLAS_CORETYPE", s.suggested_coretype, 1);
        setenv(fallback_var, s.blas_kernel, 1);
    }
    if (!restart && !kernels)
        return;
    execv("/proc/self/exe", argv);
    if (restart) { /* no restart: spinning, as before */
        unsetenv("OMP_WAIT_POLICY");
        unsetenv(wait_var);
    }
    if (kernels) {
        unsetenv("OPENBLAS_CORETYPE");
        unsetenv(fallback_var);
        fprintf(stderr,
                "nflow: warning: OpenBLAS runs its generic %s kernels on this CPU (%s); "
                "set OPENBLAS_CORETYPE=%s for several times the speed\n",
                s.blas_kernel, s.cpu, s.suggested_coretype);
    }
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

int cli_info_system(int json, int threads_seen)
{
    nf_system_info s;
    nf_system_info_get(&s);
    const char *picked = getenv(fallback_var);
    char why[256];
    int usable = nf_threads_usable(why, sizeof why);
    const char *threads_from = threads_seen ? "--threads" : getenv("OMP_NUM_THREADS") ? "OMP_NUM_THREADS"
                                                                                        : "the usable processors";
    const char *waiting = getenv("OMP_WAIT_POLICY") ? getenv("OMP_WAIT_POLICY")
                          : getenv("GOMP_SPINCOUNT") ? "spin (GOMP_SPINCOUNT)"
                                                     : "libgomp's default (spin, then sleep)";
    const char *waiting_from = getenv(wait_var) ? "nflow" : getenv("OMP_WAIT_POLICY") ? "OMP_WAIT_POLICY"
                               : getenv("GOMP_SPINCOUNT")                             ? "GOMP_SPINCOUNT"
                                                                                      : "libgomp";
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
        printf("  \"threads\": %d,\n  \"processors\": %d,\n", s.threads, s.processors);
        printf("  \"threads_usable\": %d,\n", usable);
        json_string("threads_usable_from", why, 0);
        json_string("threads_from", threads_from, 0);
        json_string("omp_wait_policy", waiting, 0);
        json_string("omp_wait_policy_from", waiting_from, 0);
        printf("  \"limits\": {");
        for (int k = 0; k < NF_LIMIT_COUNT; k++) {
            const char *name;
            double lo, hi;
            nf_limit_get((nf_limit)k, &name, &lo, &hi);
            printf("%s\"%s\": [%.17g, %.17g]", k ? ", " : "", name, lo, hi);
        }
        printf("}\n}\n");
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
    printf("threads:     %d (from %s); this process may use %d: %s\n", s.threads, threads_from, usable, why);
    printf("waiting:     OpenMP threads wait %s (set by %s)\n", waiting, waiting_from);
    printf("limits:     "); /* the library's, as it was built */
    for (int k = 0; k < NF_LIMIT_COUNT; k++) {
        const char *name;
        double lo, hi;
        nf_limit_get((nf_limit)k, &name, &lo, &hi);
        printf(" %s %.10g..%.10g%s", name, lo, hi, k + 1 < NF_LIMIT_COUNT ? "," : "\n");
    }
    return 0;
}
