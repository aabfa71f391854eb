/* Fitting a RealNVP to a built-in 2-D density with the library alone:
 *   cc fit_toy.c -Iinclude build/libnflow.a -lopenblas -lpng -lz -lm -fopenmp
 * (`make` builds it as build/fit_toy). Prints the test log-likelihood beside
 * the true one. */
#include <stdio.h>
#include <stdlib.h>

#include "nflow.h"

static int check(nf_status st, const char *what)
{
    if (st != NF_OK)
        fprintf(stderr, "fit_toy: %s: %s (%s)\n", what, nf_last_error(), nf_status_string(st));
    return st != NF_OK;
}

int main(int argc, char **argv)
{
    const char *toy = argc > 1 ? argv[1] : "banana";
    int epochs = argc > 2 ? atoi(argv[2]) : 30;
    enum { N_TRAIN = 5000, N_VAL = 1000, N_TEST = 2000 };
    float *train = malloc(sizeof(float) * 2 * N_TRAIN), *val = malloc(sizeof(float) * 2 * N_VAL),
          *test = malloc(sizeof(float) * 2 * N_TEST);
    double *lp = malloc(sizeof(double) * N_TEST), *truth = malloc(sizeof(double) * N_TEST);
    nf_flow *flow = NULL;
    int failed = !train || !val || !test || !lp || !truth;
    failed = failed || check(nf_toy_sample(toy, N_TRAIN, 1, train), "toy") ||
             check(nf_toy_sample(toy, N_VAL, 2, val), "toy") || check(nf_toy_sample(toy, N_TEST, 3, test), "toy");
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_REALNVP, 2);
    failed = failed || check(nf_flow_create(&flow, &cfg), "create") ||
             check(nf_flow_fit_standardization(flow, train, N_TRAIN), "standardise");
    nf_train_options opt;
    nf_train_options_default(&opt);
    opt.max_epochs = epochs;
    nf_train_result res;
    failed = failed || check(nf_flow_train(flow, train, N_TRAIN, val, N_VAL, &opt, &res), "train") ||
             check(nf_flow_log_prob(flow, test, N_TEST, lp), "log_prob") ||
             check(nf_toy_log_prob(toy, test, N_TEST, truth), "true density");
    if (!failed) {
        double model = 0, true_ll = 0;
        for (int i = 0; i < N_TEST; i++) {
            model += lp[i] / N_TEST;
            true_ll += truth[i] / N_TEST;
        }
        printf("%s: %d epochs, test log-likelihood %.4f (true %.4f)\n", toy, res.epochs, model, true_ll);
    }
    nf_flow_free(flow);
    free(train);
    free(val);
    free(test);
    free(lp);
    free(truth);
    return failed;
}
