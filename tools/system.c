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
