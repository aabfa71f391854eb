/* nf_system_info_get: the report that keeps generic BLAS kernels on a
 * capable CPU from going unnoticed, and the thread count it reads; the
 * threads a process may use (affinity, cores, cgroup quota) and the
 * default team that shrinks while other processes hold the processors. */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/cpus.h"
#include "core/kern.h"
#include "harness.h"
#include "nflow.h"

static int has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = strstr(list, word); p; p = strstr(p + 1, word))
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
            return 1;
    return 0;
}

/* nf_set_threads_usable: at most the usable count, saying why; any count
 * up to it as asked, without a word; NFLOW_OVERSUBSCRIBE=1 keeps more. */
static void test_set_threads_usable(void)
{
    char why[256], warning[320], want[320];
    int usable = nf_threads_usable(why, sizeof why);
    CHECK(nf_set_threads_usable(usable + 3, warning, sizeof warning) == usable && nf_get_threads() == usable);
    snprintf(want, sizeof want, "this process may use %d (%s); using %d", usable, why, usable);
    CHECK(!strcmp(warning, want), "'%s' against '%s'", warning, want);
    CHECK(nf_set_threads_usable(1, warning, sizeof warning) == 1 && warning[0] == '\0' && nf_get_threads() == 1);
    CHECK(nf_set_threads_usable(usable, NULL, 0) == usable);
    setenv("NFLOW_OVERSUBSCRIBE", "1", 1);
    CHECK(nf_set_threads_usable(usable + 3, warning, 12) == usable + 3 && strlen(warning) == 11, "%s", warning);
    CHECK(nf_set_threads_usable(100000, warning, sizeof warning) == NF_MAX_THREADS &&
          strstr(warning, "; using 1024"), "%s", warning); /* the count set, after the library's own limit */
    unsetenv("NFLOW_OVERSUBSCRIBE");
    nf_set_threads(1);
}

static void test_report_is_consistent(void)
{
    nf_system_info s;
    nf_set_threads(3);
    nf_system_info_get(&s);
    CHECK(s.threads == 3, "threads %d", s.threads);
    CHECK(s.processors >= 1);
    CHECK(s.cpu[0] && s.blas[0] && s.blas_kernel[0], "cpu '%s' blas '%s' kernel '%s'", s.cpu, s.blas, s.blas_kernel);
    CHECK(s.blas_kernel_bits == 128 || s.blas_kernel_bits == 256 || s.blas_kernel_bits == 512);
    CHECK(s.cpu_vector_bits == 128 || s.cpu_vector_bits == 256 || s.cpu_vector_bits == 512);
    int avx2 = has_word(s.cpu_features, "avx2") && has_word(s.cpu_features, "fma");
    CHECK(!avx2 || s.cpu_vector_bits >= 256, "features '%s' but %d bits", s.cpu_features, s.cpu_vector_bits);
    /* generic only on an AVX2 CPU, and always when its kernels are narrower */
    CHECK(!s.blas_kernel_generic || avx2, "generic on '%s'", s.cpu_features);
    CHECK(!(avx2 && s.blas_kernel_bits < 256) || s.blas_kernel_generic, "%s kernels on '%s' not called generic",
          s.blas_kernel, s.cpu_features);
    CHECK(!s.blas_kernel_generic || s.suggested_coretype[0]);
    CHECK(s.blas_kernel_generic || !s.suggested_coretype[0]);
    nf_set_threads(1);
}

/* nf_system_report: the figures of nf_system_info_get in words and JSON,
 * who chose the waiting as the environment says, the length whatever the
 * buffer. */
static void test_system_report(void)
{
    nf_system_info s;
    nf_set_threads(2);
    nf_system_info_get(&s);
    char text[4096], js[4096], want[256];
    size_t len = nf_system_report(0, text, sizeof text);
    CHECK(len == strlen(text) && len < sizeof text && !strncmp(text, "cpu:         ", 13), "%s", text);
    snprintf(want, sizeof want, "\nkernels:     %s (%d-bit)", s.blas_kernel, s.blas_kernel_bits);
    CHECK(strstr(text, want), "'%s' lacks '%s'", text, want);
    snprintf(want, sizeof want, "\nthreads:     2 (from ");
    CHECK(strstr(text, want) && strstr(text, "\nlimits:      dim 1..") && text[len - 1] == '\n', "%s", text);
    CHECK(nf_system_report(0, NULL, 0) == len);
    len = nf_system_report(NF_REPORT_JSON, js, sizeof js);
    CHECK(len == strlen(js) && len < sizeof js && js[0] == '{' && !strcmp(js + len - 4, "}\n}\n"), "%s", js);
    snprintf(want, sizeof want, "\"blas_kernel\": \"%s\",\n", s.blas_kernel);
    CHECK(strstr(js, want) && strstr(js, "\"threads\": 2,\n") && strstr(js, "\"hidden\": [1, 65536]"), "%s", js);
    /* the waiting: nflow's when a launcher says so, else the variable's */
    char saved[64] = "";
    if (getenv("NFLOW_OMP_WAIT_POLICY"))
        snprintf(saved, sizeof saved, "%s", getenv("NFLOW_OMP_WAIT_POLICY"));
    setenv("NFLOW_OMP_WAIT_POLICY", "passive", 1);
    nf_system_report(NF_REPORT_JSON, js, sizeof js);
    CHECK(strstr(js, "\"omp_wait_policy_from\": \"nflow\""), "%s", js);
    unsetenv("NFLOW_OMP_WAIT_POLICY");
    nf_system_report(NF_REPORT_JSON, js, sizeof js);
    CHECK(!strstr(js, "\"omp_wait_policy_from\": \"nflow\""), "%s", js);
    if (saved[0])
        setenv("NFLOW_OMP_WAIT_POLICY", saved, 1);
    nf_set_threads(1);
}

/* The quota files as cgroups write them. */
static void test_quota_parsing(void)
{
    CHECK(cpus_quota_v2("max 100000") == 0);
    CHECK(cpus_quota_v2("150000 100000") == 1.5);
    CHECK(cpus_quota_v2("50000 100000") == 0.5);
    CHECK(cpus_quota_v2("") == 0 && cpus_quota_v2("junk") == 0 && cpus_quota_v2("100 0") == 0);
    CHECK(cpus_quota_v1("-1", "100000") == 0);
    CHECK(cpus_quota_v1("200000", "100000") == 2);
    CHECK(cpus_quota_v1("x", "y") == 0);
}

/* The usable count follows the affinity mask: one processor, one thread. */
static void test_usable_follows_affinity(void)
{
    char why[256];
    int n = nf_threads_usable(why, sizeof why);
    CHECK(n >= 1 && n <= (int)sysconf(_SC_NPROCESSORS_ONLN) && strstr(why, "affinity mask"), "%d: %s", n, why);
    cpu_set_t all, one;
    CHECK(sched_getaffinity(0, sizeof all, &all) == 0);
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &all)) {
            CPU_SET(c, &one);
            break;
        }
    CHECK(sched_setaffinity(0, sizeof one, &one) == 0);
    n = nf_threads_usable(why, sizeof why);
    CHECK(n == 1 && strstr(why, "1 processor in the affinity mask"), "%d: %s", n, why);
    CHECK(nf_threads_usable(NULL, 0) == 1);
    CHECK(sched_setaffinity(0, sizeof all, &all) == 0);
}

static void sleep_seconds(double s)
{
    struct timespec t = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    nanosleep(&t, NULL);
}

/* A default team, spinning or sleeping at its barriers, shrinks to 1
 * while busy processes hold every processor; a count the caller set
 * stays. */
static void test_team_adapts(void)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    unsetenv("OMP_NUM_THREADS");
    unsetenv("OMP_WAIT_POLICY");
    nf_set_threads(0);
    if (nf_get_threads() < 2 || online < 2 || online > 64) {
        printf("test_team_adapts: %d threads on %ld processors; skipped\n", nf_get_threads(), online);
        nf_set_threads(1);
        return;
    }
    int full = nf_get_threads();
    pid_t kids[64];
    for (long i = 0; i < online; i++)
        if ((kids[i] = fork()) == 0)
            for (volatile unsigned long spin = 0;; spin++) {
            }
    sleep_seconds(0.4);
    k_adapt_threads();
    int busy = nf_get_threads();
    k_probe trial = {0}; /* a team shrunk to one thread: nothing timed, nothing decided */
    for (int step = 0; step < 14; step++)
        k_probe_step(&trial);
    k_probe_pause(&trial);
    CHECK(busy > 1 || (trial.decided == 0 && trial.timed[0] == 0 && trial.timed[1] == 0 && !trial.one),
          "a busy machine's trial: decided %d after %d + %d timed steps", trial.decided, trial.timed[0],
          trial.timed[1]);
    nf_set_threads(full); /* the caller's count: left alone */
    sleep_seconds(0.3);
    k_adapt_threads();
    int chosen = nf_get_threads();
    setenv("OMP_WAIT_POLICY", "passive", 1);
    nf_set_threads(0);
    sleep_seconds(0.3);
    k_adapt_threads();
    int sleeping = nf_get_threads();
    unsetenv("OMP_WAIT_POLICY");
    for (long i = 0; i < online; i++)
        kill(kids[i], SIGKILL);
    for (long i = 0; i < online; i++)
        waitpid(kids[i], NULL, 0);
    printf("default team of %d: %d beside %ld busy processes (a chosen count %d, a sleeping team %d)\n", full, busy,
           online, chosen, sleeping);
    CHECK(busy == 1 && chosen == full && sleeping == 1, "busy %d, chosen %d, sleeping %d of %d", busy, chosen,
          sleeping, full);
    nf_set_threads(1);
}

/* k_probe: a default team tried against one thread over a run's first
 * steps (here steps that sleep longer on one side), the faster kept for
 * the rest of the run, the team back after k_probe_pause; a count the
 * caller chose is never tried. */
static void test_probe(void)
{
    unsetenv("OMP_NUM_THREADS");
    nf_set_threads(0);
    int team = nf_get_threads();
    if (team < 2) {
        printf("test_probe: a team of %d; skipped\n", team);
        nf_set_threads(1);
        return;
    }
    for (int one_faster = 1; one_faster >= 0; one_faster--) {
        k_probe p = {0};
        int ones = 0, wrong = 0;
        for (int step = 0; step < 16; step++) {
            k_probe_step(&p);
            ones += p.one;
            wrong += p.one && k_threads() != 1;
            sleep_seconds(p.one == one_faster ? 0.002 : 0.008);
        }
        k_probe_pause(&p);
        CHECK(!wrong, "%d one-thread steps ran on more threads", wrong);
        if (p.decided) /* (a busy machine's team is one thread: nothing to time, the trial waits) */
            CHECK(p.decided == (one_faster ? 2 : 1) && ones >= (one_faster ? 6 : 4), "one faster %d: decided %d "
                  "after %d one-thread steps (fastest %.4f s on one, %.4f s on the team)", one_faster, p.decided,
                  ones, p.best[0], p.best[1]);
        else
            printf("test_probe: the team was one thread (a busy machine); the decision not checked\n");
    }
    nf_set_threads(team); /* the caller's count: not tried */
    k_probe chosen = {0};
    int ones = 0;
    for (int step = 0; step < 14; step++) {
        k_probe_step(&chosen);
        ones += chosen.one;
    }
    k_probe_pause(&chosen);
    CHECK(ones == 0 && chosen.decided == 1 && k_threads() == team, "a chosen count tried: %d steps on one", ones);
    nf_set_threads(1);
}

/* nf_header: the text of include/nflow.h byte for byte, as the bindings
 * read it (tests run from the source tree's root). */
static void test_header_text(void)
{
    size_t n = 0;
    unsigned char *file = th_slurp("include/nflow.h", &n);
    CHECK(file != NULL);
    CHECK(strlen(nf_header()) == n);
    CHECK(file && memcmp(nf_header(), file, n) == 0);
    CHECK(strstr(nf_header(), "NF_API const char *nf_header(void);") != NULL);
    free(file);
}

/* The limits the library reports are the header's, one per kind. */
static void test_limits_reported(void)
{
    const char *name = NULL;
    double lo = -1, hi = -1;
    CHECK(nf_limit_get(NF_LIMIT_HIDDEN, &name, &lo, &hi) == NF_OK && !strcmp(name, "hidden") && lo == 1 &&
          hi == NF_MAX_HIDDEN, "%s %g %g", name, lo, hi);
    CHECK(nf_limit_get(NF_LIMIT_BATCH, NULL, NULL, &hi) == NF_OK && hi == NF_MAX_BATCH);
    CHECK(nf_limit_get(NF_LIMIT_HIDDEN_LAYERS, NULL, &lo, &hi) == NF_OK && lo == 0 && hi == NF_MAX_HIDDEN_LAYERS);
    int named = 1;
    for (int k = 0; k < NF_LIMIT_COUNT; k++)
        named &= nf_limit_get((nf_limit)k, &name, &lo, &hi) == NF_OK && name && name[0] && lo <= hi;
    CHECK(named, "a limit without a name or with min > max");
    CHECK(nf_limit_get(NF_LIMIT_COUNT, &name, NULL, NULL) == NF_ERR_INVALID);
    CHECK(nf_limit_get((nf_limit)-1, NULL, NULL, NULL) == NF_ERR_INVALID);
    /* what the builder refuses is what is reported */
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_MAF, 2);
    nf_flow *f = NULL;
    cfg.hidden_layers = NF_MAX_HIDDEN_LAYERS + 1;
    CHECK(nf_flow_create(&f, &cfg) == NF_ERR_INVALID && strstr(nf_last_error(), "0..16"), "%s", nf_last_error());
}

int main(void)
{
    RUN(test_header_text);
    RUN(test_limits_reported);
    RUN(test_set_threads_usable);
    RUN(test_report_is_consistent);
    RUN(test_system_report);
    RUN(test_quota_parsing);
    RUN(test_usable_follows_affinity);
    RUN(test_team_adapts);
    RUN(test_probe);
    TEST_SUMMARY("test_system");
}
