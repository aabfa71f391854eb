/* nflow train: maximum-likelihood training from the command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>

#include "extras/nflow_extras.h"
#include "cli.h"
#include "dist.h"

/* At the end, the checkpoints that could not be written (the model is
 * written all the same: a checkpoint is insurance, not the product). */
static void warn_checkpoints(const nf_flow *f, const char *path, const char *tail)
{
    const char *last;
    int failures = nf_flow_checkpoint_failures(f, &last);
    if (failures)
        fprintf(stderr, "nflow train: warning: %d checkpoint%s not written (the last: %s): %s may hold an earlier "
                        "state of this run, or none%s\n",
                failures, failures == 1 ? "" : "s", last, path, tail);
}

/* --resume: the model and the options that shape the run come from the
 * checkpoint (nf_recipe_resume refuses the model's options and checks the
 * training options given against the saved ones; --epochs and --patience
 * may change); the data options that shape the model are refused here.
 * Returns 0, 1 (unreadable checkpoint) or EXIT_USAGE. */
static int resume_options(const cli_command *cmd, const char *path, nf_train_options *topt, uint64_t *seed,
                          int quiet)
{
    static const char *const shaping_data[] = {"context-columns", "bounds"};
    for (size_t i = 0; i < 2; i++)
        if (cli_seen(cmd, shaping_data[i]))
            return cli_error("train", "--%s cannot be used with --resume: the model comes from %s", shaping_data[i],
                             path), EXIT_USAGE;
    nf_status st = nf_recipe_resume(cmd->recipe, path, topt);
    if (st == NF_ERR_INVALID && strstr(nf_last_error(), path))
        return cli_error("train", "--%s", nf_last_error()), EXIT_USAGE;
    if (st)
        return cli_error("train", "--resume: %s", nf_last_error());
    if (cli_seen(cmd, "seed") && *seed != topt->seed)
        return cli_error("train", "--seed %llu differs from the %llu saved in %s: a resumed run keeps its seed",
                         (unsigned long long)*seed, (unsigned long long)topt->seed, path),
               EXIT_USAGE;
    *seed = topt->seed;
    if (!quiet)
        fprintf(stderr,
                "nflow train: resuming %s with its saved options: batch %d, lr %g, lr-decay %g, weight-decay %g, "
                "clip %g, dropout %g, seed %llu; epochs %d, patience %d\n",
                path, topt->batch, topt->lr, topt->lr_decay, topt->weight_decay, topt->clip_norm, topt->dropout,
                (unsigned long long)topt->seed, topt->max_epochs, topt->patience);
    return 0;
}

/* Ctrl-C: the first stops training after the current step, and the best
 * model so far is saved; a second one ends the process at once. */
static volatile int interrupted;

static void on_interrupt(int sig)
{
    if (interrupted) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    interrupted = 1;
}

int cmd_train(int argc, char **argv)
{
    const char *data = NULL, *val_path = NULL, *test_path = NULL, *out = NULL, *columns = NULL, *plot = NULL;
    const char *context_columns = NULL, *bounds_spec = NULL;
    const char *labels[3] = {NULL, NULL, NULL}; /* of --data, --val, --test */
    int dequantize = 0, json = 0, quiet = 0;
    double max_time = 0;
    uint64_t seed = 1;
    nf_train_options topt;
    nf_train_options_default(&topt);
    const char *ck_path = NULL, *resume = NULL; /* checkpoints */
    nf_recipe *recipe; /* the model and training options: the library's (--help lists them after these) */
    if (nf_recipe_create(&recipe))
        return cli_fail("train", NF_ERR_NOMEM);
    cli_option opts[] = {
        {"data", OPT_STRING, &data, "training data (.csv, .npy, IDX, or a folder of PNG images); validation and test split off unless given", 0},
        {"val", OPT_STRING, &val_path, "validation data (default: 10% of --data)", 0},
        {"test", OPT_STRING, &test_path, "test data (default: 10% of --data)", 0},
        {"columns", OPT_STRING, &columns, "columns to use, 0-based, e.g. 0-9 or 1,3,5-7 (default: all)", 0},
        {"context-columns", OPT_STRING, &context_columns, "a conditional model p(x | c): these columns (0-based, of "
                                                          "the data as read) are the context c, the rest x; the model "
                                                          "keeps the list", 0},
        {"labels", OPT_STRING, &labels[0], "a class-conditional model p(x | class): a class label per row of --data "
                                           "(whole numbers from 0; an IDX labels file, .npy or one-column .csv; or the "
                                           "--data folder of class subfolders), "
                                           "the context as its one-hot code", 0},
        {"val-labels", OPT_STRING, &labels[1], "the labels of the --val rows", 0},
        {"test-labels", OPT_STRING, &labels[2], "the labels of the --test rows", 0},
        {"bounds", OPT_STRING, &bounds_spec, "columns on an interval or a half-line: COLS=LO:HI items, comma-separated "
                                             "(COLS 0-based as for --context-columns; a side empty for an open "
                                             "one), e.g. 0-1=0:1,2=0: ; the model maps them to the real line first, "
                                             "so that its density and samples stay inside", 0},
        {"out", OPT_STRING, &out, "model file to write", 0},
        {"dequantize", OPT_FLAG, &dequantize, "add U[0,1) noise to the columns that hold only whole numbers (in all "
                                              "splits); log-likelihoods are then of the noisy values", 0},
        {"max-time", OPT_DOUBLE, &max_time, "stop once this run has trained this many seconds, inside an epoch too, keeping the best epoch (or the parameters where it stopped, when better on the validation rows) (default: no limit)", 0},
        {"seed", OPT_U64, &seed, "seed for the split, the initial parameters and the shuffling (default 1)", 0},
        {"plot", OPT_STRING, &plot, "2-D data only: write a PNG of density, data and samples", 0},
        {"json", OPT_FLAG, &json, "print one JSON object with the results", 0},
        {"quiet", OPT_FLAG, &quiet, "no progress lines", 0},
        {"checkpoint", OPT_STRING, &ck_path, "write the whole training state to this file (atomically) every "
                                             "--checkpoint-every seconds and at the end, for --resume", 0},
        {"checkpoint-every", OPT_DOUBLE, &topt.checkpoint_seconds,
         "seconds between checkpoints, 0 = after every step (default 300)", 0},
        {"resume", OPT_STRING, &resume, "continue the run saved in this checkpoint, with the same data options; "
                                        "model and training options come from it (--epochs, --patience may change); "
                                        "checkpoints go on into it unless --checkpoint", 0},
        {NULL, 0, NULL, NULL, 0},
    };
    cli_command cmd = {"train", "train --data FILE --out MODEL [--model KIND] [options]",
                       "Trains a normalizing flow by maximum likelihood (Adam, early stopping on validation data).\n"
                       "Data are standardised with the training split's statistics; the model keeps them.",
                       opts, 0, NULL, recipe, 1};
    nf_data *d = NULL;
    nf_flow *f = NULL;
    int agreed = 0; /* a failure every process of an mpirun job met alike: no abort */
    int rank = dist_rank(), ranks = dist_ranks(); /* several processes (mpirun): rank 0 speaks and writes, all train */
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) {
        rc = rc == 1 ? 0 : rc;
        goto parsed;
    }
    rc = EXIT_USAGE;
    if (!data || !out) {
        cli_error("train", "--data and --out are required (see nflow train --help)");
        goto parsed;
    }
    if (rank > 0) {
        quiet = 1;
        json = 0;
    }
    if (cli_seen(&cmd, "checkpoint-every") && !ck_path && !resume) {
        cli_error("train", "--checkpoint-every needs --checkpoint or --resume");
        goto parsed;
    }
    if (resume && (rc = resume_options(&cmd, resume, &topt, &seed, quiet || json)))
        goto parsed;
    /* --checkpoint may continue into the --resume file; nothing else may meet */
    const cli_path in[] = {{"data", data},           {"val", val_path},         {"test", test_path},
                           {"labels", labels[0]},    {"val-labels", labels[1]}, {"test-labels", labels[2]},
                           {"resume", resume}},
                   outs[] = {{"checkpoint", ck_path}, {"out", out}, {"plot", plot}};
    if ((rc = cli_check_paths("train", in, 6, outs, 3)) || (rc = cli_check_paths("train", in, 7, outs + 1, 2)))
        goto parsed;
    nf_status st;
    nf_data_options dopt;
    nf_data_options_default(&dopt);
    dopt.columns = columns;
    dopt.context_columns = context_columns;
    dopt.bounds = bounds_spec;
    dopt.dequantize = dequantize;
    dopt.seed = seed;
    memcpy(dopt.label_files, labels, sizeof labels);
    rc = 1;
    if (resume) { /* the model first: its context columns, bounds and widths */
        if (nf_flow_load(&f, resume)) {
            cli_error("train", "--resume: %s", nf_last_error());
            goto done;
        }
        if (nf_data_options_to_train_further(f, &dopt)) { /* its layout and bounds */
            cli_error("train", "--resume: %s: %s (--context-columns, --labels)", resume, nf_last_error());
            goto done;
        }
    }
    if ((st = nf_data_read(&d, data, val_path, test_path, &dopt))) {
        if (resume)
            cli_error("train", "the model in %s: %s", resume, nf_last_error());
        else
            cli_error("train", "%s", nf_last_error());
        rc = st == NF_ERR_INVALID && !resume ? EXIT_USAGE : 1;
        goto done;
    }
    size_t dim = (size_t)nf_data_dim(d), n_context = (size_t)nf_data_context_dim(d);
    if (plot && (dim != 2 || n_context)) { /* refused before training, not after */
        cli_error("train", n_context ? "--plot: a conditional model p(x | c) has no single density to draw"
                                     : "--plot: only for 2-D data (this has %zu columns)", dim);
        rc = EXIT_USAGE;
        goto done;
    }
    const float *train, *train_c, *val, *val_c;
    size_t n_train = nf_data_rows(d, NF_PART_TRAIN, &train, &train_c), n_val = nf_data_rows(d, NF_PART_VAL, &val, &val_c);
    char warning[512];
    if (nf_data_note(d, warning, sizeof warning) && !quiet && !json)
        fprintf(stderr, "nflow train: %s\n", warning);
    else if (nf_data_warning(d, warning, sizeof warning))
        fprintf(stderr, "nflow train: warning: %s; --dequantize adds U[0,1) noise\n", warning);
    if (ranks > 1) { /* the same data on every process, or every process refuses alike (no abort) */
        topt.rank = rank;
        topt.ranks = ranks;
        topt.reduce = dist_reduce;
        if (nf_train_check_same_data(train, train_c, n_train, val, val_c, n_val, (int)dim, (int)n_context, &topt)) {
            cli_error("train", "%s; no model written", nf_last_error());
            agreed = 1;
            goto done;
        }
    }
    nf_config cfg;
    nf_config_default(&cfg, NF_MODEL_MAF, (int)dim);
    int race = 0;
    if (!resume) { /* the model and sizes that fit the data; the options given override */
        if ((st = nf_recipe_resolve(recipe, d, &cfg, &topt, &race))) { /* options that do not fit the data */
            cli_error("train", "%s", nf_last_error());
            rc = st == NF_ERR_INVALID ? EXIT_USAGE : 1;
            goto done;
        }
        if (!race && (st = nf_flow_create_for_data(&f, d, &cfg))) {
            cli_error("train", "%s", nf_last_error());
            goto done;
        }
        if (!quiet && !json) {
            char line[512];
            nf_recipe_summary(d, &cfg, &topt, race, line, sizeof line);
            fprintf(stderr, "nflow train: %s\n", line);
        }
    }
    topt.checkpoint_path = rank > 0 ? NULL : ck_path ? ck_path : resume;
    topt.resume_path = resume;
    if (ranks > 1 && !quiet)
        fprintf(stderr, "nflow train: %d processes, each its share of every batch of %d rows, %d thread%s each\n",
                ranks, topt.batch, nf_get_threads(), nf_get_threads() == 1 ? "" : "s");
    /* progress on stderr (--json's object goes to stdout): lines, and the bar unless --json */
    int flags = quiet ? NF_PROGRESS_QUIET : json ? (cli_tty() ? NF_PROGRESS_REWRITE : 0)
                                                 : nf_progress_flags(cli_tty(), warning, sizeof warning);
    if (!quiet && !json && *warning)
        fprintf(stderr, "nflow train: warning: %s\n", warning);
    nf_progress *shown;
    if ((st = nf_progress_create(&shown, flags, "nflow train: ", max_time))) {
        cli_fail("train", st);
        goto done;
    }
    nf_progress_attach(shown, &topt);
    nf_train_result res;
    memset(&res, 0, sizeof res); /* a run that fails to start leaves it */
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    topt.stop = &interrupted;
    st = race ? nf_flow_fit_auto(&f, d, &topt, max_time, &res) : nf_flow_fit(f, d, &topt, &res);
    nf_progress_finish(shown);
    nf_progress_free(shown);
    if (race && f && !quiet && !json) {
        char table[2048];
        nf_flow_race_table(f, table, sizeof table);
        fputs(table, stderr);
    }
    if (st || !res.stopped) { /* after training, Ctrl-C ends at once: every write is atomic */
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if (st) {
        warn_checkpoints(f, topt.checkpoint_path, "");
        cli_error("train", "%s; no model written", nf_last_error());
        goto done;
    }
    if (rank == 0 && nf_fit_warning(f, d, &res, warning, sizeof warning))
        fprintf(stderr, "nflow train: warning: %s (--lr)\n", warning);
    nf_fit_scores scores; /* before the save: the model records its test figure */
    nf_fit_scores_init(&scores, sizeof scores);
    if ((st = nf_flow_fit_scores(f, d, &topt, &scores))) {
        cli_error("train", "%s", nf_last_error());
        goto done;
    }
    if (rank > 0) { /* rank 0 writes the model and reports */
        rc = res.stopped ? 130 : 0;
        goto done;
    }
    if ((st = nf_flow_save(f, out))) {
        warn_checkpoints(f, topt.checkpoint_path, "");
        cli_fail("train", st);
        goto done;
    }
    warn_checkpoints(f, topt.checkpoint_path, "; the model is written all the same");
    if (plot && (st = nf_plot_model_png(f, plot, train, n_train, 2000, seed + 1, 0, 0))) {
        cli_fail("train", st);
        goto done;
    }
    char report[8192];
    nf_fit_report(f, d, &topt, &res, &scores, json ? NF_REPORT_JSON : 0, report, sizeof report);
    fputs(report, stdout);
    if (!json)
        printf("saved %s\n", out);
    rc = 0;
    if (res.stopped) {
        cli_error("train", "interrupted in epoch %d: saved the best model so far (epoch %d) to %s%s%s", res.epochs + 1,
                  res.best_epoch, out, topt.checkpoint_path && !nf_flow_checkpoint_failures(f, NULL) ? " and the checkpoint to " : "",
                  topt.checkpoint_path && !nf_flow_checkpoint_failures(f, NULL) ? topt.checkpoint_path : "");
        rc = 130; /* as a shell reports SIGINT */
    }
done:
    nf_flow_free(f);
    nf_data_free(d);
    if (rc && rc != 130 && ranks > 1 && !agreed)
        dist_abort(rc); /* a process that cannot go on ends the job: the others may be waiting in a reduction */
parsed:
    nf_recipe_free(recipe);
    return rc;
}
