/* Fitting a flow with the library alone, on a 2-D "banana" made here with
 * a known density: x1 ~ N(0, 1), x2 = x1^2 / 2 + N(0, 0.3^2). Prints the
 * test log-likelihood beside the true one. Built by `make` as
 * build/fit_banana, or against an installed nflow:
 *   cc fit_banana.c $(pkg-config --cflags --libs nflow) -o fit_banana */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "nflow.h"

static const double SIGMA = 0.3, LOG_2PI = 1.8378770664093453;

/* splitmix64 and Box-Muller: enough for an example's data */
static double uniform(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return ((z ^ (z >> 31)) >> 11) * 0x1.0p-53 + 0x1.0p-54;
}

static double normal(uint64_t *s) { return sqrt(-2 * log(uniform(s))) * cos(6.283185307179586 * uniform(s)); }

static void banana(float *x, int rows, uint64_t seed)
{
    for (int i = 0; i < rows; i++) {
        double x1 = normal(&seed);
        x[2 * i] = (float)x1;
        x[2 * i + 1] = (float)(x1 * x1 / 2 + SIGMA * normal(&seed));
    }
}

static double banana_log_prob(const float *x)
{
    double x1 = x[0], r = (x[1] - x1 * x1 / 2) / SIGMA;
    return -0.5 * x1 * x1 - 0.5 * r * r - LOG_2PI - log(SIGMA);
}

static int check(nf_status st, const char *what)
{
    if (st != NF_OK)
        fprintf(stderr, "fit_banana: %s: %s (%s)\n", what, nf_last_error(), nf_status_string(st));
    return st != NF_OK;
}

int main(int argc, char **argv)
{
    int epochs = argc > 1 ? atoi(argv[1]) : 30;
    enum { N_TRAIN = 5000, N_VAL = 1000, N_TEST = 2000 };
    float *train = malloc(sizeof(float) * 2 * N_TRAIN), *val = malloc(sizeof(float) * 2 * N_VAL),
          *test = malloc(sizeof(float) * 2 * N_TEST);
    double *lp = malloc(sizeof(double) * N_TEST);
    nf_flow *flow = NULL;
    int failed = !train || !val || !test || !lp;
    if (!failed) {
        banana(train, N_TRAIN, 1);
        banana(val, N_VAL, 2);
        banana(test, N_TEST, 3);
    }
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_REALNVP, 2);
    failed = failed || check(nf_flow_create(&flow, &cfg), "create") ||
             check(nf_flow_fit_standardization(flow, train, N_TRAIN), "standardise");
    nf_train_options opt;
    nf_train_options_default(&opt);
    opt.max_epochs = epochs;
    nf_train_result res;
    failed = failed || check(nf_flow_train(flow, train, N_TRAIN, val, N_VAL, &opt, &res), "train") ||
             check(nf_flow_log_prob(flow, test, N_TEST, lp), "log_prob");
    if (!failed) {
        double model = 0, truth = 0;
        for (int i = 0; i < N_TEST; i++) {
            model += lp[i] / N_TEST;
            truth += banana_log_prob(test + 2 * i) / N_TEST;
        }
        printf("banana: %d epochs, test log-likelihood %.4f (true %.4f)\n", res.epochs, model, truth);
    }
    nf_flow_free(flow);
    free(train);
    free(val);
    free(test);
    free(lp);
    return failed;
}
