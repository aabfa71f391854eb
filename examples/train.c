/* What `nflow train --data FILE --out MODEL` does, in a handful of library
 * calls: the data prepared as the tool prepares it (10% validation and 10%
 * test rows split off), the sizes that fit them, the race among models
 * that picks and trains one (early stopping) with the tool's progress
 * lines, the tool's report (log-likelihoods of the training, validation
 * and test rows), the model saved. With the same seed (1) it writes the
 * model file the tool writes and prints the lines it prints. Built by `make` as
 * build/train, or against an installed nflow:
 *   cc train.c $(pkg-config --cflags --libs nflow) -o train
 *   ./train data.csv model.nfm */
#include <stdio.h>
#include <unistd.h>

#include "nflow.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DATA MODEL\n", argv[0]);
        return 2;
    }
    nf_data_options data_options;
    nf_data_options_default(&data_options);
    nf_data *data = NULL;
    nf_flow *flow = NULL;
    nf_progress *shown = NULL;
    nf_config config; /* the data's defaults; the race chooses the model */
    nf_train_options options;
    nf_train_result result;
    nf_fit_scores scores;
    nf_fit_scores_init(&scores, sizeof scores);
    char report[4096];
    int rc = 1;
    if (nf_data_read(&data, argv[1], NULL, NULL, &data_options) ||
        nf_data_defaults(data, NULL, &config, &options) || /* the batch and epochs that fit the data */
        nf_progress_create(&shown, nf_progress_flags(isatty(2), NULL, 0), "train: ", 0)) {
        fprintf(stderr, "train: %s\n", nf_last_error());
        goto done;
    }
    nf_progress_attach(shown, &options); /* epoch lines on stderr, as nflow train's */
    nf_status trained = nf_flow_fit_auto(&flow, data, &options, 0, &result); /* the race: maf-mog, maf, nsf-ar, made-mog */
    nf_progress_finish(shown);
    if (trained ||
        nf_flow_fit_scores(flow, data, &options, &scores) || /* the model records its test figure: before saving */
        nf_flow_save(flow, argv[2])) {
        fprintf(stderr, "train: %s\n", nf_last_error());
        goto done;
    }
    nf_fit_report(flow, data, &options, &result, &scores, 0, report, sizeof report); /* NF_REPORT_JSON: --json's */
    printf("%ssaved %s\n", report, argv[2]);
    rc = 0;
done:
    nf_progress_free(shown);
    nf_flow_free(flow);
    nf_data_free(data);
    return rc;
}
