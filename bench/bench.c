/* The speed benchmark of issue 7: nflow's training step, log-density and
 * sampling on the MAF paper's shapes, timed in process (medians over
 * repeats after a warm-up), one JSON line per measurement on stdout, with
 * cblas_sgemm's GFLOP/s on this machine as the ceiling and the peak memory
 * at the end. bench/torch_reference.py bench prints the same lines for
 * PyTorch ("impl": "torch"); bench/run_all.sh runs both and pairs them.
 *
 *   bench_nflow [--quick] [--filter SUBSTRING] [--repeats N] [--threads 1,2] [--dropout P]
 *
 * Configurations: MAF (5) and RealNVP (10), 2 hidden layers of 100 units at
 * n = 6, 8 and of 512 units at n = 21, 43, 63; the spline flows nsf (8)
 * and nsf-ar (5), 8 bins, 2 hidden layers of 100 units at n = 6 and of 256
 * at n = 63 (--quick: a subset). Ops:
 *   train_step  one nf_flow_train_step (forward, backward, Adam) at batch
 *               100 and 512 (the same batch again and again, lr 1e-4, no
 *               weight decay, no clipping: what torch.optim.Adam does);
 *   log_prob    nf_flow_log_prob of 10,000 rows;
 *   sample      nf_flow_sample of 1,000 rows (base draws included);
 *   train_step_dropout  with --dropout P: the train_step at batch 512 with
 *               that dropout, each one right after a step without it; a
 *               "dropout_cost" line gives the median of their ratios.
 * Each measurement has a name, model_n<dim>_h<hidden>_<op>_b<batch>_t<threads>
 * (sgemm_<m>x<n>x<k>_t<threads> for the ceiling); --filter keeps those whose
 * name contains SUBSTRING.
 *
 * Effective GFLOP/s count dense-equivalent FLOPs: 2 in out per linear layer
 * per row for the forward pass (a MADE's masked products counted whole),
 * 3x that for a training step (forward and the two backward products),
 * the forward count for log-density and for sampling (whatever the
 * implementation really does: a MAF sampled the textbook way runs its MADEs
 * n times, which is not counted). Element-wise work is not counted. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "nflow.h"

typedef struct arch {
    const char *name; /* "maf" or "realnvp" */
    nf_model model;
    int layers, hidden, hidden_layers, dim;
    int quick;        /* part of the --quick subset */
} arch;

static const arch archs[] = {
    {"maf", NF_MODEL_MAF, 5, 100, 2, 6, 1},
    {"maf", NF_MODEL_MAF, 5, 100, 2, 8, 0},
    {"maf", NF_MODEL_MAF, 5, 512, 2, 21, 1},
    {"maf", NF_MODEL_MAF, 5, 512, 2, 43, 0},
    {"maf", NF_MODEL_MAF, 5, 512, 2, 63, 0},
    {"realnvp", NF_MODEL_REALNVP, 10, 100, 2, 6, 1},
    {"realnvp", NF_MODEL_REALNVP, 10, 100, 2, 8, 0},
    {"realnvp", NF_MODEL_REALNVP, 10, 512, 2, 21, 1},
    {"realnvp", NF_MODEL_REALNVP, 10, 512, 2, 43, 0},
    {"realnvp", NF_MODEL_REALNVP, 10, 512, 2, 63, 0},
    {"nsf", NF_MODEL_NSF, 8, 100, 2, 6, 1},
    {"nsf", NF_MODEL_NSF, 8, 256, 2, 63, 0},
    {"nsf-ar", NF_MODEL_NSF_AR, 5, 100, 2, 6, 1},
    {"nsf-ar", NF_MODEL_NSF_AR, 5, 256, 2, 63, 0},
};

enum { SPLINE_BINS = 8 }; /* the default */
enum { TRAIN_BATCH_A = 100, TRAIN_BATCH_B = 512, LOGP_BATCH = 10000, SAMPLE_BATCH = 1000 };
enum { MAX_REPEATS = 1000, MAX_THREADS = 8 };

static int repeats = 11;
static double dropout; /* --dropout: the rate of the train_step_dropout op, 0: no such op */
static const char *filter = NULL;
static int failures = 0;

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int wanted(const char *name) { return !filter || strstr(name, filter) != NULL; }

/* splitmix64 and Box-Muller: standard normal data, the same every run */
static uint64_t sm_state = 12345;
static double uniform01(void)
{
    uint64_t z = (sm_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}
static void fill_normal(float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(sqrt(-2 * log(uniform01())) * cos(6.283185307179586 * uniform01()));
}

/* Dense-equivalent forward FLOPs per row, and the weights + biases of the
 * linear layers (checked against nf_flow_param_count). */
static double mlp_flops(int n_in, int n_out, int hidden, int depth, double *n_params)
{
    double flops = 0;
    int in = n_in;
    for (int l = 0; l <= depth; l++) {
        int out = l < depth ? hidden : n_out;
        flops += 2.0 * in * out;
        *n_params += (double)in * out + out;
        in = out;
    }
    return flops;
}

static double forward_flops_per_row(const arch *a, double *n_params)
{
    double flops = 0;
    /* the splines are shifted: mu and alpha, then 3 bins - 1 spline parameters per changed dimension */
    int per = a->model == NF_MODEL_NSF || a->model == NF_MODEL_NSF_AR ? 3 * SPLINE_BINS + 1 : 2;
    *n_params = 0;
    for (int l = 0; l < a->layers; l++) {
        if (a->model == NF_MODEL_MAF || a->model == NF_MODEL_NSF_AR) {
            flops += mlp_flops(a->dim, per * a->dim, a->hidden, a->hidden_layers, n_params);
        } else { /* coupling, even/odd partition, flipped every other layer */
            int even = (a->dim + 1) / 2, odd = a->dim / 2;
            int nc = l % 2 ? odd : even, nt = a->dim - nc;
            flops += mlp_flops(nc, per * nt, a->hidden, a->hidden_layers, n_params);
        }
        if (a->model == NF_MODEL_NSF || (a->model == NF_MODEL_NSF_AR && l == 0)) {
            /* nsf: an LU layer before each coupling; the first (nsf-ar's only one) starts as the whitening */
            flops += 2.0 * a->dim * a->dim;
            *n_params += (double)a->dim * a->dim;
        }
    }
    return flops;
}

static void print_line(const arch *a, const char *op, int batch, int threads, double *times, int n,
                       double flops)
{
    double med = median(times, n);
    printf("{\"impl\": \"nflow\", \"model\": \"%s\", \"layers\": %d, \"hidden\": %d, \"hidden_layers\": %d, "
           "\"dim\": %d, \"op\": \"%s\", \"batch\": %d, \"threads\": %d, \"median_ms\": %.4f, "
           "\"min_ms\": %.4f, \"gflops\": %.3f, \"flops\": %.0f, \"repeats\": %d}\n",
           a->name, a->layers, a->hidden, a->hidden_layers, a->dim, op, batch, threads, med, times[0],
           flops / (med * 1e6), flops, n);
    fflush(stdout);
}

static void fail(const char *what, const char *name, nf_status st)
{
    fprintf(stderr, "bench_nflow: %s: %s failed: %s\n", name, what, nf_last_error());
    (void)st;
    failures++;
}

static void bench_arch(const arch *a, const int *threads, int n_threads)
{
    char name[160];
    int any = 0;
    static const char *const ops[] = {"train_step", "train_step", "log_prob", "sample", "train_step_dropout"};
    static const int batches[] = {TRAIN_BATCH_A, TRAIN_BATCH_B, LOGP_BATCH, SAMPLE_BATCH, TRAIN_BATCH_B};
    int n_ops = dropout > 0 ? 5 : 4;
    for (int t = 0; t < n_threads; t++)
        for (int o = 0; o < n_ops; o++) {
            snprintf(name, sizeof name, "%s_n%d_h%d_%s_b%d_t%d", a->name, a->dim, a->hidden, ops[o], batches[o],
                     threads[t]);
            any |= wanted(name);
        }
    if (!any)
        return;

    nf_config cfg;
    nf_config_default(&cfg, a->model, a->dim);
    cfg.layers = a->layers;
    cfg.hidden = a->hidden;
    cfg.hidden_layers = a->hidden_layers;
    nf_flow *f = NULL;
    nf_status st = nf_flow_create(&f, &cfg);
    if (st) {
        fail("nf_flow_create", a->name, st);
        return;
    }
    double n_params;
    double fwd = forward_flops_per_row(a, &n_params);
    if (n_params != (double)nf_flow_param_count(f))
        fprintf(stderr, "bench_nflow: %s n=%d: FLOP count assumes %.0f parameters, the flow has %zu\n", a->name,
                a->dim, n_params, nf_flow_param_count(f));

    float *x = malloc(sizeof(float) * (size_t)LOGP_BATCH * a->dim);
    float *samples = malloc(sizeof(float) * (size_t)SAMPLE_BATCH * a->dim);
    double *lp = malloc(sizeof(double) * LOGP_BATCH);
    double times[MAX_REPEATS], ratios[MAX_REPEATS];
    if (!x || !samples || !lp) {
        fprintf(stderr, "bench_nflow: out of memory\n");
        exit(2);
    }
    fill_normal(x, (size_t)LOGP_BATCH * a->dim);
    if ((st = nf_flow_fit_standardization(f, x, LOGP_BATCH)))
        fail("nf_flow_fit_standardization", a->name, st);

    for (int t = 0; t < n_threads; t++) {
        nf_set_threads(threads[t]);
        int nt = nf_get_threads();
        for (int o = 0; o < n_ops; o++) {
            int batch = batches[o], training = o < 2 || o == 4;
            snprintf(name, sizeof name, "%s_n%d_h%d_%s_b%d_t%d", a->name, a->dim, a->hidden, ops[o], batch, nt);
            if (!wanted(name))
                continue;
            nf_train_options opt;
            nf_train_options_default(&opt);
            opt.batch = batch;
            opt.lr = 1e-4;
            opt.weight_decay = 0;
            opt.clip_norm = 0;
            opt.dropout = o == 4 ? dropout : 0;
            double loss;
            int warm = training ? 3 : 1, ok = 1;
            for (int r = -warm; r < repeats && ok; r++) {
                double plain = 0;
                if (o == 4) { /* a step without dropout right before each one with it: their ratio */
                    opt.dropout = 0;
                    double t0 = now_ms();
                    st = nf_flow_train_step(f, x, (size_t)batch, &opt, &loss);
                    plain = now_ms() - t0;
                    opt.dropout = dropout;
                    if (st) {
                        fail(ops[0], name, st);
                        ok = 0;
                        break;
                    }
                }
                double t0 = now_ms();
                if (training)
                    st = nf_flow_train_step(f, x, (size_t)batch, &opt, &loss);
                else if (o == 2)
                    st = nf_flow_log_prob(f, x, (size_t)batch, lp);
                else
                    st = nf_flow_sample(f, (size_t)batch, (uint64_t)(r + 100), samples, NULL);
                double t1 = now_ms();
                if (st) {
                    fail(ops[o], name, st);
                    ok = 0;
                } else if (r >= 0) {
                    times[r] = t1 - t0;
                    if (o == 4)
                        ratios[r] = (t1 - t0) / plain;
                }
            }
            if (ok)
                print_line(a, ops[o], batch, nt, times, repeats, (training ? 3.0 : 1.0) * fwd * batch);
            if (ok && o == 4)
                printf("{\"impl\": \"nflow\", \"model\": \"%s\", \"dim\": %d, \"hidden\": %d, \"op\": "
                       "\"dropout_cost\", \"batch\": %d, \"threads\": %d, \"dropout\": %g, "
                       "\"median_ratio\": %.3f, \"repeats\": %d}\n",
                       a->name, a->dim, a->hidden, batch, nt, dropout, median(ratios, repeats), repeats);
        }
    }
    free(x);
    free(samples);
    free(lp);
    nf_flow_free(f);
}

/* The ceiling: cblas_sgemm C (m x n) = A (m x k) B (k x n), row-major. */
static void bench_sgemm(int m, int n, int k, const int *threads, int n_threads)
{
    char name[96];
    float *A = malloc(sizeof(float) * (size_t)m * k);
    float *B = malloc(sizeof(float) * (size_t)k * n);
    float *C = malloc(sizeof(float) * (size_t)m * n);
    double times[MAX_REPEATS];
    if (!A || !B || !C) {
        fprintf(stderr, "bench_nflow: out of memory\n");
        exit(2);
    }
    fill_normal(A, (size_t)m * k);
    fill_normal(B, (size_t)k * n);
    for (int t = 0; t < n_threads; t++) {
        nf_set_threads(threads[t]);
        int nt = nf_get_threads();
        snprintf(name, sizeof name, "sgemm_%dx%dx%d_t%d", m, n, k, nt);
        if (!wanted(name))
            continue;
        /* at least 2e8 FLOPs per repeat: small shapes are called several times */
        double flops = 2.0 * m * n * k;
        int inner = (int)(2e8 / flops) + 1;
        for (int r = -2; r < repeats; r++) {
            double t0 = now_ms();
            for (int i = 0; i < inner; i++) {
                /* the BLAS is single-threaded; threads take shares of the rows, as nflow's layers do */
#pragma omp parallel num_threads(nf_get_threads())
                {
                    int t_id = omp_get_thread_num(), t_n = omp_get_num_threads();
                    int r0 = m * t_id / t_n, r1 = m * (t_id + 1) / t_n;
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, n, k, 1.0f, A + (size_t)r0 * k,
                                k, B, n, 0.0f, C + (size_t)r0 * n, n);
                }
            }
            double t1 = now_ms();
            if (r >= 0)
                times[r] = (t1 - t0) / inner;
        }
        double med = median(times, repeats);
        printf("{\"impl\": \"nflow\", \"model\": \"sgemm\", \"layers\": 0, \"hidden\": %d, \"hidden_layers\": 0, "
               "\"dim\": %d, \"op\": \"sgemm\", \"batch\": %d, \"threads\": %d, \"median_ms\": %.4f, "
               "\"min_ms\": %.4f, \"gflops\": %.3f, \"flops\": %.0f, \"repeats\": %d, \"m\": %d, \"n\": %d, "
               "\"k\": %d}\n",
               n, k, m, nt, med, times[0], flops / (med * 1e6), flops, repeats, m, n, k);
        fflush(stdout);
    }
    free(A);
    free(B);
    free(C);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_nflow [--quick] [--filter SUBSTRING] [--repeats N] [--threads 1,2] [--dropout P]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int quick = 0, threads[MAX_THREADS] = {1, 2}, n_threads = 2, repeats_given = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (!strcmp(argv[i], "--dropout") && i + 1 < argc) {
            char *end;
            dropout = strtod(argv[++i], &end);
            if (*end || !(dropout > 0 && dropout < 1))
                usage();
        } else if (!strcmp(argv[i], "--filter") && i + 1 < argc) {
            filter = argv[++i];
        } else if (!strcmp(argv[i], "--repeats") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > MAX_REPEATS)
                usage();
            repeats = (int)v;
            repeats_given = 1;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            char *s = argv[++i], *end;
            n_threads = 0;
            for (;;) {
                long v = strtol(s, &end, 10);
                if (end == s || v < 1 || v > 256 || n_threads == MAX_THREADS)
                    usage();
                threads[n_threads++] = (int)v;
                if (*end == '\0')
                    break;
                if (*end != ',')
                    usage();
                s = end + 1;
            }
        } else {
            usage();
        }
    }
    if (quick && !repeats_given)
        repeats = 3;

    nf_system_info sys;
    nf_system_info_get(&sys);
    printf("{\"impl\": \"nflow\", \"op\": \"info\", \"version\": \"%s\", \"blas\": \"%s\", \"cpu\": \"%s\", "
           "\"cpu_features\": \"%s\", \"blas_kernel\": \"%s\", \"blas_kernel_generic\": %d, \"processors\": %d, "
           "\"quick\": %d, \"repeats\": %d}\n",
           nf_version(), sys.blas, sys.cpu, sys.cpu_features, sys.blas_kernel, sys.blas_kernel_generic,
           sys.processors, quick, repeats);
    if (sys.blas_kernel_generic)
        fprintf(stderr, "bench_nflow: warning: OpenBLAS runs generic %s kernels on this CPU; OPENBLAS_CORETYPE=%s "
                        "would be faster\n", sys.blas_kernel, sys.suggested_coretype);
    fflush(stdout);
    bench_sgemm(512, 512, 512, threads, n_threads);
    bench_sgemm(100, 512, 512, threads, n_threads);
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (!quick || archs[i].quick)
            bench_arch(&archs[i], threads, n_threads);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\": \"nflow\", \"op\": \"peak_memory\", \"max_rss_mib\": %.1f}\n", ru.ru_maxrss / 1024.0);
    return failures ? 1 : 0;
}
