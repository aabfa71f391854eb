/* nflow toy and nflow plot: the built-in 2-D densities and pictures. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extras/nflow_extras.h"
#include "cli.h"

/* The exact mean log-likelihood of data under a toy density: the ceiling a
 * model trained on that toy can reach on average. */
static int true_log_likelihood(const char *name, const char *path, int json)
{
    nf_matrix m = {0};
    if (cli_read("toy", path, 2, &m))
        return 1;
    double *lp = malloc(sizeof(double) * m.rows);
    nf_status st = lp ? nf_toy_log_prob(name, m.values, m.rows, lp) : NF_ERR_NOMEM;
    if (!st) {
        double mean, two_se;
        nf_mean_two_stderr(lp, m.rows, &mean, &two_se);
        if (!isfinite(two_se))
            two_se = 0;
        if (json)
            printf("{\"mean_log_likelihood\": %.17g, \"two_stderr\": %.17g, \"n\": %zu}\n", mean, two_se, m.rows);
        else
            printf("true mean log-likelihood under %s: %.4f +- %.4f nats (n = %zu)\n", name, mean, two_se, m.rows);
    }
    free(lp);
    nf_matrix_free(&m);
    return st ? cli_fail("toy", st) : 0;
}

int cmd_toy(int argc, char **argv)
{
    const char *out = NULL, *name = NULL, *eval = NULL;
    int n = 0, json = 0;
    uint64_t seed = 1;
    cli_option opts[] = {
        {"n", OPT_INT, &n, "number of points", 0},
        {"eval", OPT_STRING, &eval, "instead: the true mean log-likelihood of the points in this file", 0},
        {"json", OPT_FLAG, &json, "with --eval: print {\"mean_log_likelihood\", \"two_stderr\", \"n\"}", 0},
        {"seed", OPT_U64, &seed, "random seed (default 1)", 0},
        {"out", OPT_STRING, &out, "file to write (.csv or .npy)", 0},
        {NULL, 0, NULL, NULL, 0},
    };
    char summary[512] = "Writes points drawn from a built-in 2-D density. Names:";
    for (const char *const *t = nf_toy_names(); *t; t++) {
        strncat(summary, " ", sizeof summary - strlen(summary) - 1);
        strncat(summary, *t, sizeof summary - strlen(summary) - 1);
    }
    cli_command cmd = {"toy", "toy NAME --n N [--seed S] --out FILE", summary, opts, 1, &name, NULL, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (eval)
        return true_log_likelihood(name, eval, json);
    if (!out || n < 1)
        return cli_error("toy", "--out and --n (>= 1) are required"), EXIT_USAGE;
    if (cli_check_writable("toy", out))
        return 1;
    nf_matrix m = {.rows = (size_t)n, .cols = 2, .values = malloc(sizeof(float) * 2 * (size_t)n)};
    if (!m.values)
        return cli_error("toy", "out of memory");
    nf_status st = nf_toy_sample(name, m.rows, seed, m.values);
    if (!st)
        st = nf_matrix_write(out, &m);
    nf_matrix_free(&m);
    return st ? cli_fail("toy", st) : 0;
}

int cmd_plot(int argc, char **argv)
{
    const char *out = NULL, *data = NULL, *model_path = NULL;
    int n = 2000;
    double lo = 0, hi = 0;
    uint64_t seed = 1;
    cli_option opts[] = {
        {"out", OPT_STRING, &out, "PNG file to write", 0},
        {"data", OPT_STRING, &data, "data to show beside the samples (.csv or .npy, 2 columns)", 0},
        {"n", OPT_INT, &n, "samples to draw (default 2000; 0: none)", 0},
        {"seed", OPT_U64, &seed, "random seed of the samples (default 1)", 0},
        {"lo", OPT_DOUBLE, &lo, "lower edge of the square box (default: from the data)", 0},
        {"hi", OPT_DOUBLE, &hi, "upper edge of the square box", 0},
        {NULL, 0, NULL, NULL, 0},
    };
    cli_command cmd = {"plot", "plot MODEL --out PNG [--data FILE] [--n N]",
                       "Pictures a 2-D model: its density as a heat map, the data and its samples side by side.",
                       opts, 1, &model_path, NULL, 1};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!out || n < 0)
        return cli_error("plot", "--out is required and --n must be >= 0"), EXIT_USAGE;
    if (cli_seen(&cmd, "lo") != cli_seen(&cmd, "hi") || (cli_seen(&cmd, "lo") && !(lo < hi)))
        return cli_error("plot", "--lo and --hi go together, with lo < hi (got %g, %g)", lo, hi), EXIT_USAGE;
    const cli_path in[] = {{"model", model_path}, {"data", data}}, outs[] = {{"out", out}};
    if ((rc = cli_check_paths("plot", in, 2, outs, 1)))
        return rc;
    nf_flow *f = NULL;
    nf_matrix d = {0};
    nf_status st;
    rc = 1;
    if (cli_load("plot", model_path, &f))
        goto done;
    if (nf_flow_dim(f) != 2 || nf_flow_context_dim(f)) { /* one density in the plane */
        cli_error("plot", nf_flow_context_dim(f) ? "%s: a conditional model p(x | c) of %d columns has no single "
                                                   "density to draw"
                                                 : "%s: a model of %d columns; pictures are for 2-D models",
                  model_path, nf_flow_dim(f));
        goto done;
    }
    if (data && cli_read("plot", data, 2, &d))
        goto done;
    if ((st = nf_plot_model_png(f, out, d.values, d.rows, (size_t)n, seed, lo, hi))) {
        cli_fail("plot", st);
        goto done;
    }
    rc = 0;
done:
    nf_matrix_free(&d);
    nf_flow_free(f);
    return rc;
}
