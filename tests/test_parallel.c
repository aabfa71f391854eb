/* Data-parallel training (nf_train_options.rank/ranks/reduce) without MPI:
 * N threads stand for N processes, each with its own copy of the flow and
 * of the data, and `reduce` sums across them in rank order behind a
 * barrier (deterministic, as MPI_Allreduce is for a fixed N). A run at 2
 * and at 3 "ranks" (uneven shares of each batch) ends within 1e-5 relative
 * of the single-process run in its validation log-likelihood, with every
 * rank holding the same parameters; the same N gives the same bits twice;
 * a stop request on one rank stops all at the same step; batch norm is
 * refused, and so is other data on some rank. */
#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "harness.h"
#include "nflow.h"

enum { N_TRAIN = 2000, N_VAL = 500, D = 3, MAX_RANKS = 3 };
static float data[(N_TRAIN + N_VAL) * D];

typedef struct group {
    int ranks;
    pthread_barrier_t barrier;
    double *slots; /* ranks x the largest buffer, in doubles */
    size_t slot_size;
} group;

typedef struct member {
    group *g;
    int rank;
} member;

static int reduce_in_threads(void *buf, size_t n, int is_double, void *user)
{
    member *m = user;
    group *g = m->g;
    if (n > g->slot_size)
        return 1;
    double *mine = g->slots + (size_t)m->rank * g->slot_size;
    for (size_t i = 0; i < n; i++)
        mine[i] = is_double ? ((double *)buf)[i] : ((float *)buf)[i];
    pthread_barrier_wait(&g->barrier);
    for (size_t i = 0; i < n; i++) {
        double sum = 0; /* in rank order; floats summed as floats, as MPI_SUM on MPI_FLOAT does */
        float fsum = 0;
        for (int k = 0; k < g->ranks; k++) {
            sum += g->slots[(size_t)k * g->slot_size + i];
            fsum += (float)g->slots[(size_t)k * g->slot_size + i];
        }
        if (is_double)
            ((double *)buf)[i] = sum;
        else
            ((float *)buf)[i] = fsum;
    }
    pthread_barrier_wait(&g->barrier); /* the slots are free again */
    return 0;
}

static nf_flow *make_flow(int batch_norm)
{
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_MAF, D);
    cfg.layers = 2;
    cfg.hidden = 32;
    cfg.batch_norm = batch_norm;
    nf_flow *f = NULL;
    CHECK(nf_flow_create(&f, &cfg) == NF_OK && nf_flow_fit_standardization(f, data, N_TRAIN) == NF_OK);
    return f;
}

typedef struct job {
    member m;
    nf_flow *f;
    nf_train_options o;
    nf_train_result res;
    nf_status st;
} job;

static void *run_rank(void *arg)
{
    job *j = arg;
    j->st = nf_flow_train(j->f, data, N_TRAIN, data + N_TRAIN * D, N_VAL, &j->o, &j->res);
    return NULL;
}

static void base_options(nf_train_options *o)
{
    nf_train_options_default(o);
    o->batch = 100;
    o->max_epochs = 4;
    o->patience_steps = 0;
}

/* Trains at `ranks` (1: plainly, no reduce); the flows are left in f[]. */
static void train_at(int ranks, nf_flow **f, nf_train_result *res, volatile int *stop_rank1)
{
    group g;
    memset(&g, 0, sizeof g);
    g.ranks = ranks;
    job jobs[MAX_RANKS];
    pthread_t th[MAX_RANKS];
    size_t n_params = 0;
    for (int k = 0; k < ranks; k++) {
        f[k] = make_flow(0);
        n_params = nf_flow_param_count(f[k]);
    }
    g.slot_size = n_params + 8;
    g.slots = malloc(sizeof(double) * g.slot_size * ranks);
    pthread_barrier_init(&g.barrier, NULL, (unsigned)ranks);
    for (int k = 0; k < ranks; k++) {
        jobs[k].m = (member){&g, k};
        jobs[k].f = f[k];
        base_options(&jobs[k].o);
        if (ranks > 1) {
            jobs[k].o.rank = k;
            jobs[k].o.ranks = ranks;
            jobs[k].o.reduce = reduce_in_threads;
            jobs[k].o.reduce_user = &jobs[k].m;
        }
        if (k == 1 && stop_rank1)
            jobs[k].o.stop = stop_rank1;
        pthread_create(&th[k], NULL, run_rank, &jobs[k]);
    }
    for (int k = 0; k < ranks; k++) {
        pthread_join(th[k], NULL);
        CHECK(jobs[k].st == NF_OK, "rank %d: %s", k, nf_last_error());
        res[k] = jobs[k].res;
    }
    pthread_barrier_destroy(&g.barrier);
    free(g.slots);
}

static void free_all(nf_flow **f, int n)
{
    for (int k = 0; k < n; k++)
        nf_flow_free(f[k]);
}

static void check_against_single(int ranks)
{
    nf_flow *one[1], *many[MAX_RANKS];
    nf_train_result r1[1], rn[MAX_RANKS];
    train_at(1, one, r1, NULL);
    train_at(ranks, many, rn, NULL);
    size_t n = nf_flow_param_count(one[0]);
    static double lp0[N_VAL], lpk[N_VAL];
    nf_flow_log_prob(many[0], data + N_TRAIN * D, N_VAL, lp0);
    for (int k = 1; k < ranks; k++) { /* every rank holds the same model */
        nf_flow_log_prob(many[k], data + N_TRAIN * D, N_VAL, lpk);
        CHECK(memcmp(lp0, lpk, sizeof lp0) == 0, "rank %d's model differs from rank 0's", k);
        CHECK(rn[k].epochs == rn[0].epochs && rn[k].best_epoch == rn[0].best_epoch);
    }
    double a = r1[0].val_log_likelihood, b = rn[0].val_log_likelihood;
    printf("%d ranks: validation log-likelihood %.9g, one process %.9g (relative %.2g)\n", ranks, b, a, fabs(a - b) / fabs(a));
    CHECK(fabs(a - b) <= 1e-5 * fabs(a), "%d ranks: validation %.9g, one process %.9g (relative %.2g)", ranks, b, a,
          fabs(a - b) / fabs(a));
    CHECK(rn[0].epochs == r1[0].epochs, "%d ranks ran %d epochs, one process %d", ranks, rn[0].epochs, r1[0].epochs);
    (void)n;
    free_all(one, 1);
    free_all(many, ranks);
}

static void test_two_ranks(void) { check_against_single(2); }
static void test_three_ranks_uneven(void) { check_against_single(3); } /* 100-row batches: 33, 33, 34 */

static void test_same_bits_twice(void)
{
    nf_flow *a[2], *b[2];
    nf_train_result ra[2], rb[2];
    train_at(2, a, ra, NULL);
    train_at(2, b, rb, NULL);
    static double la[N_VAL], lb[N_VAL];
    nf_flow_log_prob(a[0], data, N_VAL, la);
    nf_flow_log_prob(b[0], data, N_VAL, lb);
    CHECK(memcmp(la, lb, sizeof la) == 0 && ra[0].val_log_likelihood == rb[0].val_log_likelihood);
    free_all(a, 2);
    free_all(b, 2);
}

static void test_stop_on_one_rank_stops_all(void)
{
    static volatile int stop = 1;
    nf_flow *f[2];
    nf_train_result r[2];
    train_at(2, f, r, &stop);
    /* after its first step; that part of an epoch is kept (as epoch 1) when it beats the untrained model, on
     * both ranks alike */
    CHECK(r[0].stopped && r[1].stopped && r[0].epochs <= 1 && r[0].epochs == r[1].epochs &&
              r[0].best_epoch == r[1].best_epoch,
          "stopped %d %d after %d %d epochs", r[0].stopped, r[1].stopped, r[0].epochs, r[1].epochs);
    free_all(f, 2);
}

static void test_batch_norm_refused(void)
{
    nf_flow *f = make_flow(1);
    nf_train_options o;
    base_options(&o);
    o.ranks = 2;
    o.reduce = reduce_in_threads;
    CHECK(nf_flow_train(f, data, N_TRAIN, NULL, 0, &o, NULL) == NF_ERR_UNSUPPORTED);
    o.ranks = 2;
    o.rank = 2;
    CHECK(nf_flow_train(f, data, N_TRAIN, NULL, 0, &o, NULL) == NF_ERR_UNSUPPORTED ||
          nf_flow_train(f, data, N_TRAIN, NULL, 0, &o, NULL) == NF_ERR_INVALID);
    nf_flow_free(f);
}

/* Processes holding other data (issue 26): other row counts or other rows
 * of the same shape are refused by every process alike (NF_ERR_INVALID),
 * before any other reduction, each message saying what that process
 * holds; the same data passes. */
typedef struct data_job {
    member m;
    nf_flow *f;
    const float *x;
    size_t rows;
    nf_train_options o;
    nf_status st;
    char msg[400];
} data_job;

static void *run_data_job(void *arg)
{
    data_job *j = arg;
    if (j->f)
        j->st = nf_flow_train(j->f, j->x, j->rows, data + N_TRAIN * D, N_VAL, &j->o, NULL);
    else
        j->st = nf_train_check_same_data(j->x, NULL, j->rows, data + N_TRAIN * D, NULL, N_VAL, D, 0, &j->o);
    snprintf(j->msg, sizeof j->msg, "%s", nf_last_error());
    return NULL;
}

/* Every rank k trains (train: nf_flow_train; else the check alone) on
 * rows[k] rows of x[k]. */
static void data_at(int ranks, const float **x, const size_t *rows, int train, data_job *jobs)
{
    group g;
    memset(&g, 0, sizeof g);
    g.ranks = ranks;
    g.slot_size = 64;
    pthread_t th[MAX_RANKS];
    for (int k = 0; k < ranks; k++) {
        jobs[k] = (data_job){.m = {&g, k}, .x = x[k], .rows = rows[k]};
        jobs[k].f = train ? make_flow(0) : NULL;
        if (jobs[k].f)
            g.slot_size = nf_flow_param_count(jobs[k].f) + 8;
        base_options(&jobs[k].o);
        jobs[k].o.max_epochs = 1;
        jobs[k].o.rank = k;
        jobs[k].o.ranks = ranks;
        jobs[k].o.reduce = reduce_in_threads;
        jobs[k].o.reduce_user = &jobs[k].m;
    }
    g.slots = malloc(sizeof(double) * g.slot_size * ranks);
    pthread_barrier_init(&g.barrier, NULL, (unsigned)ranks);
    for (int k = 0; k < ranks; k++)
        pthread_create(&th[k], NULL, run_data_job, &jobs[k]);
    for (int k = 0; k < ranks; k++) {
        pthread_join(th[k], NULL);
        nf_flow_free(jobs[k].f);
    }
    pthread_barrier_destroy(&g.barrier);
    free(g.slots);
}

static void test_other_data_refused(void)
{
    static float other[N_TRAIN * D];
    memcpy(other, data, sizeof other);
    other[7 * D + 1] += 1.0f; /* one value of one row */
    data_job jobs[MAX_RANKS];
    const float *same[] = {data, data, data}, *changed[] = {data, data, other};
    const size_t full[] = {N_TRAIN, N_TRAIN, N_TRAIN}, fewer[] = {N_TRAIN, N_TRAIN - 100, N_TRAIN};
    data_at(3, same, full, 0, jobs);
    for (int k = 0; k < 3; k++)
        CHECK(jobs[k].st == NF_OK, "the same data, rank %d: %s", k, jobs[k].msg);
    data_at(3, changed, full, 0, jobs);
    for (int k = 0; k < 3; k++)
        CHECK(jobs[k].st == NF_ERR_INVALID, "rank %d of 3, one value changed on rank 2: status %d", k, jobs[k].st);
    CHECK(strstr(jobs[2].msg, "process 2 holds other data than process 0: 2000 training and 500 validation rows"),
          "rank 2: %s", jobs[2].msg);
    for (int k = 0; k < 2; k++)
        CHECK(strstr(jobs[k].msg, "1 of the 3 processes hold other data than process 0"), "rank %d: %s", k,
              jobs[k].msg);
    /* other row counts: nf_flow_train itself refuses on both, nothing hangs */
    data_at(2, same, fewer, 1, jobs);
    CHECK(jobs[0].st == NF_ERR_INVALID && jobs[1].st == NF_ERR_INVALID, "statuses %d %d", jobs[0].st, jobs[1].st);
    CHECK(strstr(jobs[1].msg, "1900 training and 500 validation rows") && strstr(jobs[1].msg, "against 2000 and 500"),
          "rank 1: %s", jobs[1].msg);
    data_at(2, same, full, 1, jobs);
    CHECK(jobs[0].st == NF_OK && jobs[1].st == NF_OK, "the same data: %s / %s", jobs[0].msg, jobs[1].msg);
}

int main(void)
{
    nf_set_threads(1);
    rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < N_TRAIN + N_VAL; i++) {
        double a = rng_normal(&r), b = rng_normal(&r);
        data[i * D] = (float)a;
        data[i * D + 1] = (float)(0.5 * a * a + 0.4 * b);
        data[i * D + 2] = (float)(sin(a) - b + 0.3 * rng_normal(&r));
    }
    RUN(test_two_ranks);
    RUN(test_three_ranks_uneven);
    RUN(test_same_bits_twice);
    RUN(test_stop_on_one_rank_stops_all);
    RUN(test_batch_norm_refused);
    RUN(test_other_data_refused);
    TEST_SUMMARY("test_parallel");
}
