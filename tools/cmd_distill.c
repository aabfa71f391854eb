/* nflow distill: probability density distillation (Parallel WaveNet). A
 * student flow learns to minimise KL(student || teacher) on its own samples;
 * the teacher (typically a MAF trained by maximum likelihood) is frozen. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extras/nflow_extras.h"
#include "cli.h"

/* Each check's line (the library's display: 4096 fresh samples, the same
 * draws every time, marked when the best so far: the student kept); the
 * steps run, for the report. */
typedef struct progress_state {
    nf_progress *shown;
    int steps;
} progress_state;

static int show_progress(const nf_kl_progress *p, void *user)
{
    progress_state *s = user;
    s->steps = p->step;
    return nf_progress_show_kl(p, s->shown);
}

/* The student's and the teacher's figures on the rows of --data (the
 * teacher's layout, its context columns included) into r. */
static int report_on_data(nf_flow *s, nf_flow *t, const char *path, nf_distill_report *r)
{
    nf_data *d = NULL;
    const float *x, *c;
    if (nf_flow_context_dim(t) && !nf_flow_context_columns(t)) /* built by the library without a data layout */
        return cli_error("distill", "--data %s: the teacher is conditional but keeps no context columns, so its data "
                                    "layout is unknown", path);
    if (cli_read_for_model("distill", t, "--teacher", path, NULL, NULL, NULL, 0, 0, &d))
        return 1;
    size_t rows = nf_data_rows(d, NF_PART_TRAIN, &x, &c);
    nf_status st = nf_flow_distill_evaluate_data(s, t, x, c, rows, r);
    nf_data_free(d);
    return st ? cli_error("distill", "--data %s: %s", path, nf_last_error()) : 0;
}

int cmd_distill(int argc, char **argv)
{
    const char *teacher_path = NULL, *student = NULL, *out = NULL, *plot = NULL, *context_path = NULL,
               *data_path = NULL;
    int json = 0, quiet = 0, eval_n = 0, patience = 0; /* 0: the library's defaults */
    int samples = -1; /* -1: the library's default (nf_flow_distill_forward's) */
    double max_time = 0;
    uint64_t seed = 1, eval_seed = 0;
    nf_kl_options kopt;
    nf_kl_options_distill(&kopt); /* at most NF_DISTILL_KL_STEPS: training stops when the student stops improving */
    int ml_epochs = 0; /* 0: nf_flow_distill_options' */
    progress_state ps = {NULL, 0};
    nf_recipe *recipe; /* the student's model and sizes: nf_recipe_student builds its configuration */
    if (nf_recipe_create(&recipe))
        return cli_fail("distill", NF_ERR_NOMEM);
    cli_option opts[] = {
        {"teacher", OPT_STRING, &teacher_path, "the teacher model file (e.g. a MAF from nflow train)", 0},
        {"student", OPT_STRING, &student, "iaf | iaf-mog | realnvp | nice | maf (default: iaf-mog for a teacher "
                                          "with a MoG base, iaf otherwise; iaf when reverse KL runs)", 0},
        {"out", OPT_STRING, &out, "student model file to write", 0},
        {"context", OPT_STRING, &context_path, "a conditional teacher p(x | c): the contexts to distil under (.csv or "
                                               ".npy, one value per context column); each step draws its batch's "
                                               "contexts from these rows, fresh sample i takes row i mod rows", 0},
        {"layers", OPT_RECIPE, recipe, "MADEs or coupling layers (default: the teacher's)", 0},
        {"hidden", OPT_RECIPE, recipe, "units per hidden layer (default: the teacher's, or fewer: a third of its "
                                       "sampling arithmetic at most)", 0},
        {"hidden-layers", OPT_RECIPE, recipe, "hidden layers per MADE or coupling network (default: the teacher's)", 0},
        {"activation", OPT_RECIPE, recipe, "relu | tanh (default: the teacher's)", 0},
        {"order", OPT_RECIPE, recipe, "natural | reversed | random: input order of the first MADE (default natural)", 0},
        {"steps", OPT_INT, &kopt.steps, "reverse-KL steps after the maximum-likelihood phase, at the most (given: "
                                        "that phase then runs; with --samples 0 the default is 100000: until the "
                                        "student stops improving)", 0},
        {"patience", OPT_INT, &patience, "stop after this many checks without a lower KL (default 10)", 0},
        {"max-time", OPT_DOUBLE, &max_time, "stop after this many seconds of training (default: none)", 0},
        {"samples", OPT_INT, &samples, "fresh teacher samples the student learns by maximum likelihood (KL(teacher "
                                        "|| student), which covers the teacher's mass); 0: reverse KL alone "
                                        "(default: 8 x the teacher's training rows, 50000 to 1000000, but no more than the teacher's "
                                        "training visited, 10000 at least)", 0},
        {"epochs", OPT_INT, &ml_epochs, "epochs of that maximum-likelihood phase, its learning rate falling on a "
                                        "cosine to 0 over them (the best on a tenth more samples kept; default: the "
                                        "rows the teacher's training visited over the samples, 1 to 1000: about "
                                        "the teacher's training time)", 0},
        {"batch", OPT_INT, &kopt.batch, "student samples per reverse-KL step (default 512)", 0},
        {"lr", OPT_DOUBLE, &kopt.lr, "learning rate of both phases (default: 4e-3 for maximum likelihood, "
                                        "the peak of its cosine; 1e-3 for reverse KL, whose checks score the "
                                        "parameters' running average)", 0},
        {"clip", OPT_DOUBLE, &kopt.clip_norm, "gradient-norm clipping, 0 = off (default 100)", 0},
        {"progress-every", OPT_INT, &kopt.progress_every, "a check of the KL on 4096 fresh samples (the same draws "
                                                          "each time), and a progress line, every this many steps "
                                                          "(default 100)", 0},
        {"data", OPT_STRING, &data_path, "rows (the teacher's layout) to report the student's and the teacher's mean "
                                         "log-likelihood on, e.g. the teacher's test rows", 0},
        {"seed", OPT_U64, &seed, "seed for the student's initial parameters and its training samples (default 1)", 0},
        {"eval-n", OPT_INT, &eval_n, "fresh student samples for the final KL and the sampling-speed comparison "
                                     "(default 10000)", 0},
        {"eval-seed", OPT_U64, &eval_seed, "seed of those samples (default: --seed + 1); nflow sample with the same "
                                           "seed and threads draws the same ones", 0},
        {"plot", OPT_STRING, &plot, "2-D only: PNG of teacher and student densities and samples side by side", 0},
        {"json", OPT_FLAG, &json, "print one JSON object with the results", 0},
        {"quiet", OPT_FLAG, &quiet, "no progress lines", 0},
        {NULL, 0, NULL, NULL, 0},
    };
    cli_command cmd = {"distill", "distill --teacher MODEL [--student iaf|iaf-mog|realnvp|nice|maf] --out MODEL [--context FILE] [options]",
                       "Probability density distillation: trains a fast-sampling student flow (an IAF) to match a\n"
                       "teacher (e.g. a MAF, slow to sample); the teacher is frozen. The student is sized from the\n"
                       "teacher and starts as the teacher's Gaussian fit (its standardisation and whitening, every\n"
                       "other layer the identity); it learns fresh teacher samples by maximum likelihood in about\n"
                       "the teacher's training time, then, with --steps, minimises KL(student || teacher) on its own\n"
                       "samples until that stops falling, keeping the best student.\n"
                       "A conditional teacher gives a conditional student, distilled under the contexts of --context.\n"
                       "Reports the KL on --eval-n fresh student samples and the sampling speed of both.",
                       opts, 0, NULL, NULL, 1};
    nf_flow *teacher = NULL, *s = NULL;
    nf_matrix ctx = {0};
    nf_status st;
    int rc = cli_parse(&cmd, argc, argv);
    if (rc) {
        rc = rc == 1 ? 0 : rc;
        goto done;
    }
    rc = EXIT_USAGE;
    if (!teacher_path || !out) {
        cli_error("distill", "--teacher and --out are required (see nflow distill --help)");
        goto done;
    }
    static const char *const students[] = {"iaf", "realnvp", "nice", "maf", "iaf-mog"};
    if (student && cli_choice("distill", "student", student, students, 5) < 0)
        goto done;
    int reverse = samples == 0 || cli_seen(&cmd, "steps"); /* reverse KL runs (after maximum likelihood unless
                                                            * --samples 0) */
    const cli_path in[] = {{"teacher", teacher_path}, {"context", context_path}, {"data", data_path}},
                   outs[] = {{"out", out}, {"plot", plot}};
    if ((student && nf_recipe_set(recipe, "model", student)) || (rc = cli_check_paths("distill", in, 3, outs, 2)))
        goto done;
    rc = 1;
    if (!cli_seen(&cmd, "eval-seed"))
        eval_seed = seed + 1;
    if (cli_load("distill", teacher_path, &teacher))
        goto done;
    int dim = nf_flow_dim(teacher), nc = nf_flow_context_dim(teacher);
    if (plot && (dim != 2 || nc)) {
        cli_error("distill", "--plot: only for 2-D unconditional models (%s has %d dimensions%s)", teacher_path, dim,
                  nc ? " and a context" : "");
        rc = EXIT_USAGE;
        goto done;
    }
    if ((rc = cli_read_context("distill", "teacher", teacher_path, nc, context_path, ", the contexts to distil under",
                               &ctx)))
        goto done;
    nf_config cfg;
    if (nf_recipe_student(recipe, teacher, reverse, &cfg)) { /* iaf-mog by reverse KL */
        cli_error("distill", "%s (reverse KL runs with --steps or --samples 0)", nf_last_error());
        rc = EXIT_USAGE;
        goto done;
    }
    rc = 1;
    cfg.seed = seed;
    if ((st = nf_flow_create_student(&s, teacher, &cfg))) {
        cli_fail("distill", st);
        goto done;
    }
    /* maximum likelihood on fresh teacher samples (mass-covering), then reverse KL where asked: measured
     * on a 14,500 x 8 set, reverse KL after maximum likelihood lowered KL(student || teacher) 2.2 -> 0.36
     * but the test log-likelihood 1.1 nats (it seeks modes, shedding the tails the first phase covered) */
    double started = cli_seconds();
    nf_train_result ml = {0};
    nf_train_options topt;
    nf_flow_distill_options(teacher, samples > 0 ? (size_t)samples : 0, &topt);
    if (ml_epochs)
        topt.max_epochs = ml_epochs;
    if (cli_seen(&cmd, "lr"))
        topt.lr = kopt.lr; /* the peak of its cosine */
    topt.seed = seed;
    /* the library's display: the first phase's epochs as nflow train's (every one), then each check */
    if ((st = nf_progress_create(&ps.shown, quiet || json ? NF_PROGRESS_QUIET
                                                          : NF_PROGRESS_MARK_BEST | NF_PROGRESS_EVERY_EPOCH, NULL, 0))) {
        cli_fail("distill", st);
        goto done;
    }
    nf_progress_attach(ps.shown, &topt);
    kopt.seed = seed;
    kopt.context = nc ? ctx.values : NULL; /* the library gives the student the teacher's context standardisation */
    kopt.context_rows = ctx.rows;
    kopt.progress = show_progress;
    kopt.user = &ps;
    nf_kl_progress last = {0};
    if ((st = nf_flow_distill_run(s, teacher, nc ? ctx.values : NULL, ctx.rows, samples > 0 ? (size_t)samples : 0,
                                  samples ? &topt : NULL, reverse ? &kopt : NULL, patience, max_time, &ml, &last))) {
        cli_error("distill", "%s; no model written", nf_last_error());
        goto done;
    }
    nf_distill_report e; /* the run, the figures on fresh samples and on --data, the sampling speed of both */
    nf_distill_report_init(&e, sizeof e);
    e.train_seconds = cli_seconds() - started; /* both phases, with the teacher's sampling: what compares with
                                                * the teacher's training time */
    e.ml_epochs = ml.epochs, e.ml_best_epoch = ml.best_epoch, e.ml_val_log_likelihood = ml.val_log_likelihood;
    e.kl_steps = ps.steps, e.kl_batch = reverse ? kopt.batch : 0, e.kl_best_step = last.step;
    e.kl_seconds = last.seconds, e.kl_best = last.kl, e.kl_best_stderr = last.kl_stderr;
    if (data_path && report_on_data(s, teacher, data_path, &e))
        goto done;
    if ((st = nf_flow_distill_evaluate(s, teacher, ctx.values, ctx.rows, (size_t)eval_n, eval_seed, 1, &e))) {
        cli_error("distill", "evaluating: %s; no model written", nf_last_error());
        goto done;
    }
    if (!isfinite(e.kl)) {
        cli_error("distill", "the student's KL on fresh samples is not finite; no model written");
        goto done;
    }
    if ((st = nf_flow_save(s, out))) {
        cli_fail("distill", st);
        goto done;
    }
    if (plot && (st = nf_plot_compare_png(teacher, "teacher", s, "student", plot, 2000, eval_seed, 0, 0))) {
        cli_error("distill", "--plot: %s; model saved", nf_last_error());
        goto done;
    }
    e.seconds = cli_seconds() - started;
    char report[4096];
    nf_distill_report_text(s, &e, teacher_path, data_path, json ? NF_REPORT_JSON : 0, report, sizeof report);
    fputs(report, stdout);
    if (!json)
        printf("saved %s\n", out);
    fflush(stdout); /* the summary, then the warning under it */
    if (e.below_gaussian) /* reverse KL seeks modes: a student can miss some of the teacher's, its KL small */
        fprintf(stderr, "nflow distill: warning: the student's mean log-likelihood on %s is below the teacher's "
                        "Gaussian fit's: distillation failed there (the student misses mass the teacher has); try a "
                        "larger student (--layers, --hidden) or a lower --lr\n", data_path);
    rc = 0;
done:
    nf_progress_free(ps.shown);
    nf_matrix_free(&ctx);
    nf_flow_free(s);
    nf_flow_free(teacher);
    nf_recipe_free(recipe);
    return rc;
}
