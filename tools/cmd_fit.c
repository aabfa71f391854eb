/* nflow fit: reverse-KL training of a 2-D flow against a built-in energy
 * density (Rezende & Mohamed 2015), with no data. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extras/nflow_extras.h"
#include "cli.h"

int cmd_fit(int argc, char **argv)
{
    nf_progress *shown = NULL;
    const char *target = NULL, *model = "iaf", *out = NULL, *plot = NULL;
    int json = 0, quiet = 0;
    uint64_t seed = 1;
    nf_kl_options kopt;
    nf_kl_options_default(&kopt);
    nf_recipe *recipe; /* the model's sizes: checked and applied by the library */
    if (nf_recipe_create(&recipe))
        return cli_fail("fit", NF_ERR_NOMEM);
    cli_option opts[] = {
        {"target", OPT_STRING, &target, "u1 | u2 | u3 | u4: the energy density to fit", 0},
        {"model", OPT_STRING, &model, "iaf | realnvp | nice | maf (default iaf)", 0},
        {"out", OPT_STRING, &out, "model file to write", 0},
        {"layers", OPT_RECIPE, recipe, "coupling layers (default 8) or MADEs (default 5)", 0},
        {"hidden", OPT_RECIPE, recipe, "units per hidden layer (default 64)", 0},
        {"hidden-layers", OPT_RECIPE, recipe, "hidden layers per coupling network or MADE (default 2)", 0},
        {"activation", OPT_RECIPE, recipe, "relu | tanh (default relu)", 0},
        {"steps", OPT_INT, &kopt.steps, "Adam steps (default 3000)", 0},
        {"batch", OPT_INT, &kopt.batch, "samples per step (default 512)", 0},
        {"lr", OPT_DOUBLE, &kopt.lr, "initial learning rate, cosine-decayed to 0 (default 1e-3)", 0},
        {"clip", OPT_DOUBLE, &kopt.clip_norm, "gradient-norm clipping, 0 = off (default 100)", 0},
        {"progress-every", OPT_INT, &kopt.progress_every, "steps between progress lines (default 100)", 0},
        {"seed", OPT_U64, &seed, "seed of the initial parameters and of the samples (default 1)", 0},
        {"plot", OPT_STRING, &plot, "write a PNG: target density, model density, model samples on [-4, 4]^2", 0},
        {"json", OPT_FLAG, &json, "print one JSON object with the results", 0},
        {"quiet", OPT_FLAG, &quiet, "no progress lines", 0},
        {NULL, 0, NULL, NULL, 0},
    };
    cli_command cmd = {
        "fit", "fit --target u1|u2|u3|u4 [--model iaf|realnvp|nice|maf] --out MODEL [options]",
        "Trains a 2-D flow q with no data by minimising the reverse KL, E_q[log q(x) - log p(x)], against an\n"
        "energy density p = exp(-U) of Rezende & Mohamed (2015), Table 1: u1 (a ring with two modes), u2 (a sine),\n"
        "u3 and u4 (split sines). As published, u2..u4 do not decay along x1 (infinite normaliser, no KL\n"
        "minimum: models spread along x1 without end), so every target adds the wall\n"
        "0.5 ((|x1| - 4) / 0.1)^2 for |x1| > 4 (the paper's box, [-4, 4]^2); inside it the energies are the\n"
        "published ones. The reported KL is the true KL(q || p) minus log Z; log Z (grid sums) is\n"
        "u1 1.8775, u2 2.1129, u3 2.6726, u4 2.7416.\n"
        "The model is saved with the identity standardisation (mean 0, std 1).",
        opts, 0, NULL, NULL, 1};
    nf_flow *f = NULL;
    int rc = cli_parse(&cmd, argc, argv), t = -1, m = -1;
    if (rc) {
        rc = rc == 1 ? 0 : rc;
        goto done;
    }
    rc = EXIT_USAGE;
    if (!target || !out) {
        cli_error("fit", "%s is required (see nflow fit --help)", !target ? "--target" : "--out");
        goto done;
    }
    for (int i = 0; nf_target_names()[i]; i++)
        if (!strcmp(target, nf_target_names()[i]))
            t = i;
    if (t < 0) {
        cli_error("fit", "--target: unknown target '%s' (u1, u2, u3 or u4)", target);
        goto done;
    }
    static const char *const models[] = {"iaf", "realnvp", "nice", "maf"};
    const cli_path outs[] = {{"out", out}, {"plot", plot}};
    if ((m = cli_choice("fit", "model", model, models, 4)) < 0 || (rc = cli_check_paths("fit", NULL, 0, outs, 2)))
        goto done;
    rc = 1;
    kopt.seed = seed;
    /* the library's display: a line per check, redrawn on a terminal */
    nf_status st = nf_progress_create(&shown, quiet ? NF_PROGRESS_QUIET : cli_tty() ? NF_PROGRESS_REWRITE : 0, NULL, 0);
    if (st) {
        cli_fail("fit", st);
        goto done;
    }
    kopt.progress = nf_progress_show_kl;
    kopt.user = shown;
    nf_kl_progress last = {0};
    if ((st = nf_recipe_set(recipe, "model", models[m])) || (st = nf_recipe_target_flow(recipe, 2, 0, seed, &f))) {
        cli_fail("fit", st);
        goto done;
    }
    st = nf_flow_fit_target(f, nf_target_callback, (void *)target, &kopt, &last);
    nf_progress_finish(shown);
    if (st) {
        cli_error("fit", "%s; no model written", nf_last_error());
        goto done;
    }
    if ((st = nf_flow_save(f, out)) || (plot && (st = nf_plot_target_png(f, target, plot, 2000, seed + 1, -4, 4)))) {
        cli_fail("fit", st);
        goto done;
    }
    char report[1024];
    nf_kl_report_text(f, &last, target, kopt.batch, json ? NF_REPORT_JSON : 0, report, sizeof report);
    fputs(report, stdout);
    if (!json)
        printf("saved %s\n", out);
    rc = 0;
done:
    nf_progress_free(shown);
    nf_flow_free(f);
    nf_recipe_free(recipe);
    return rc;
}
