/* nflow eval, sample, encode, decode, info: using a trained model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "extras/nflow_extras.h"

int cmd_eval(int argc, char **argv)
{
    const char *data = NULL, *out = NULL, *columns = NULL, *model_path = NULL, *context_columns = NULL;
    const char *labels = NULL;
    int json = 0, dequantize = 0;
    uint64_t seed = 1;
    cli_option opts[] = {
        {"data", OPT_STRING, &data, "data to evaluate (.csv or .npy)", 0},
        {"columns", OPT_STRING, &columns, "columns to use, 0-based (default: all)", 0},
        {"context-columns", OPT_STRING, &context_columns, "a conditional model: these columns (0-based, after "
                                                          "--columns) are the context c (default: the model's list)", 0},
        {"labels", OPT_STRING, &labels, "a model of class labels: the label of each row of --data", 0},
        {"out", OPT_STRING, &out, "write the per-row log-densities (nats) here (.csv or .npy)", 0},
        {"dequantize", OPT_FLAG, &dequantize, "add U[0,1) noise to the columns that hold only whole numbers", 0},
        {"seed", OPT_U64, &seed, "seed of that noise (default 1)", 0},
        {"json", OPT_FLAG, &json, "print {\"mean_log_likelihood\", \"two_stderr\", \"median_log_likelihood\", "
                                  "\"n\", \"below_gaussian\"} (an image model: and \"bits_per_dim\", "
                                  "\"bits_per_dim_two_stderr\")", 0},
        {NULL, 0, NULL, NULL, 0},
    };
    cli_command cmd = {"eval", "eval MODEL --data FILE [--out FILE] [--json]",
                       "Mean log-likelihood in nats with +- 2 standard errors of the mean, the median, and\n"
                       "how many rows score below the model's Gaussian fit (whitened models). For a conditional\n"
                       "model: log p(x | c), the context c in the columns it was trained with.", opts, 1,
                       &model_path, NULL, 1};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!data)
        return cli_error("eval", "--data is required"), EXIT_USAGE;
    const cli_path in[] = {{"model", model_path}, {"data", data}, {"labels", labels}}, outs[] = {{"out", out}};
    if ((rc = cli_check_paths("eval", in, 3, outs, 1)))
        return rc;
    nf_flow *f = NULL;
    nf_data *d = NULL;
    double *lp = NULL;
    nf_status st;
    nf_eval_report r;
    if (cli_load("eval", model_path, &f) ||
        (rc = cli_read_for_model("eval", f, model_path, data, columns, context_columns, labels, dequantize, seed,
                                 &d)))
        goto done;
    rc = 1;
    const float *x, *c;
    size_t rows = nf_data_rows(d, NF_PART_TRAIN, &x, &c);
    if (!(lp = malloc(sizeof(double) * (rows ? rows : 1)))) {
        cli_error("eval", "out of memory");
        goto done;
    }
    if ((st = nf_flow_evaluate(f, x, c, rows, lp, &r))) {
        cli_fail("eval", st);
        goto done;
    }
    char report[2048];
    nf_eval_warnings(&r, d, report, sizeof report);
    for (char *line = report, *end; (end = strchr(line, '\n')); line = end + 1)
        fprintf(stderr, "nflow eval: warning: %.*s\n", (int)(end - line), line);
    if (out && (st = nf_matrix_write_double(out, lp, rows, 1))) {
        cli_fail("eval", st);
        goto done;
    }
    nf_eval_report_text(f, &r, json ? NF_REPORT_JSON : 0, report, sizeof report);
    fputs(report, stdout);
    rc = 0;
done:
    free(lp);
    nf_data_free(d);
    nf_flow_free(f);
    return rc;
}

int cmd_sample(int argc, char **argv)
{
    const char *out = NULL, *model_path = NULL, *log_prob_path = NULL, *context_path = NULL, *class_list = NULL;
    int n = 0;
    uint64_t seed = 1;
    double temperature = 1;
    cli_option opts[] = {
        {"n", OPT_INT, &n, "number of samples (with --context: per context row, default 1)", 0},
        {"temperature", OPT_DOUBLE, &temperature, "scale the base's draws by this (Glow's 0.7: less varied, cleaner "
                                                  "samples; default 1: the model's own distribution)", 0},
        {"context", OPT_STRING, &context_path, "a conditional model: its context rows (.csv or .npy, one value per "
                                               "context column); rows i*N .. i*N+N-1 of the output are drawn given "
                                               "row i, in the training data's layout (without the model's list of "
                                               "context columns: x, then the context)", 0},
        {"classes", OPT_STRING, &class_list, "a model of class labels: N samples of each class the list names "
                                             "(e.g. 0,3 or 0-9); .csv and .npy rows hold x, then the class", 0},
        {"seed", OPT_U64, &seed, "random seed (default 1)", 0},
        {"out", OPT_STRING, &out, "file to write (.csv or .npy; .png for an image model: a grid of the samples, a "
                                  "row per context row or class with --context or --classes)", 0},
        {"log-prob", OPT_STRING, &log_prob_path, "also write each sample's log-density (nats; .csv or .npy), "
                                                 "computed in the sampling pass", 0},
        {NULL, 0, NULL, NULL, 0},
    };
    cli_command cmd = {"sample", "sample MODEL --n N [--context FILE | --classes LIST] [--seed S] [--temperature T] --out FILE "
                                 "[--log-prob FILE]",
                       "Draws samples from a model; from a conditional model p(x | c), N per row of --context.",
                       opts, 1, &model_path, NULL, 1};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if ((context_path || class_list) && !cli_seen(&cmd, "n"))
        n = 1;
    if (!out || n < 1)
        return cli_error("sample", "--out and --n (>= 1) are required"), EXIT_USAGE;
    const cli_path in[] = {{"model", model_path}, {"context", context_path}},
                   outs[] = {{"out", out}, {"log-prob", log_prob_path}};
    if ((rc = cli_check_paths("sample", in, 2, outs, 2)))
        return rc;
    nf_flow *f = NULL;
    nf_matrix rows = {0}, x = {0}, given = {0}; /* the file's rows, x alone, the context rows or classes */
    double *lp = NULL;
    nf_status st;
    rc = 1;
    if (cli_load("sample", model_path, &f))
        goto done;
    int shape[3], classes = nf_flow_label_classes(f);
    size_t len = strlen(out);
    int png = len >= 4 && !strcmp(out + len - 4, ".png");
    rc = EXIT_USAGE;
    if (png && !nf_flow_image_shape(f, shape)) {
        cli_error("sample", "--out %s: a .png grid is drawn for an image model; this one models columns (write "
                            ".csv or .npy)", out);
        goto done;
    }
    if (class_list && context_path)
        cli_error("sample", "--classes or --context, not both");
    else if (classes && !class_list && !context_path)
        cli_error("sample", "the model in %s is conditional on a class label (%d classes): give --classes LIST (e.g. "
                            "0,3 or 0-%d)", model_path, classes, classes - 1);
    else if (class_list && nf_flow_labels_of_list(f, class_list, &given))
        cli_error("sample", "--classes: %s", nf_last_error());
    else
        rc = class_list ? 0 : cli_read_context("sample", "model", model_path, nf_flow_context_dim(f), context_path, "",
                                               &given);
    if (rc)
        goto done;
    rc = 1;
    /* rows i*n .. i*n+n-1 given context row i, in the training data's layout (a .png grid: a row per context row) */
    if ((st = nf_flow_sample_rows(f, given.values, given.rows, (size_t)n, seed, temperature, png ? NULL : &rows,
                                  png || given.rows ? &x : NULL, log_prob_path ? &lp : NULL)) ||
        (st = png ? nf_plot_images_png(out, x.values, x.rows, shape, given.rows ? n : 0)
                  : nf_matrix_write(out, &rows)) ||
        (lp && (st = nf_matrix_write_double(log_prob_path, lp, png ? x.rows : rows.rows, 1)))) {
        cli_fail("sample", st);
        goto done;
    }
    char warning[512];
    if (nf_sample_warning(f, x.values ? x.values : rows.values, png ? x.rows : rows.rows, warning, sizeof warning))
        fprintf(stderr, "nflow sample: warning: %s\n", warning);
    rc = 0;
done:
    nf_free(lp);
    nf_matrix_free(&rows);
    nf_matrix_free(&x);
    nf_matrix_free(&given);
    nf_flow_free(f);
    return rc;
}

/* encode (x -> z) and decode (z -> x) share everything but the direction.
 * A conditional model's files hold the context in its columns, passed
 * through: decode(encode(file)) gives the file back. */
static int code(const char *name, int argc, char **argv, int decode)
{
    const char *data = NULL, *out = NULL, *columns = NULL, *model_path = NULL, *context_columns = NULL;
    const char *labels = NULL;
    cli_option opts[] = {
        {"data", OPT_STRING, &data, decode ? "latent codes (.csv or .npy)" : "data (.csv or .npy)", 0},
        {"columns", OPT_STRING, &columns, "columns to use, 0-based (default: all)", 0},
        {"context-columns", OPT_STRING, &context_columns,
         decode ? "a conditional model: these columns (0-based, after --columns) are the context c, kept as they "
                  "are; the others z (default: the model's list)"
                : "a conditional model: these columns (0-based, after --columns) are the context c, kept as they "
                  "are; the others x (default: the model's list)", 0},
        {"labels", OPT_STRING, &labels, "a model of class labels: the label of each row of --data (the output then "
                                        "holds the codes alone)", 0},
        {"out", OPT_STRING, &out, "file to write (.csv or .npy)", 0},
        {NULL, 0, NULL, NULL, 0},
    };
    cli_command cmd = {name, decode ? "decode MODEL --data FILE --out FILE" : "encode MODEL --data FILE --out FILE",
                       decode ? "Maps latent codes z to data x (the sampling direction); for a conditional model,\n"
                                "given the context columns beside z, which are written back unchanged."
                              : "Maps data x to latent codes z (the density direction); for a conditional model,\n"
                                "given the context columns beside x, which are written back unchanged.",
                       opts, 1, &model_path, NULL, 1};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!data || !out)
        return cli_error(name, "--data and --out are required"), EXIT_USAGE;
    const cli_path inputs[] = {{"model", model_path}, {"data", data}, {"labels", labels}}, outs[] = {{"out", out}};
    if ((rc = cli_check_paths(name, inputs, 3, outs, 1)))
        return rc;
    nf_flow *f = NULL;
    nf_data *d = NULL;
    nf_matrix res = {0};
    nf_status st;
    if (cli_load(name, model_path, &f) ||
        (rc = cli_read_for_model(name, f, model_path, data, columns, context_columns, labels, 0, 0, &d)))
        goto done;
    rc = 0;
    if ((st = nf_data_code(f, d, decode, &res)) || (st = nf_matrix_write(out, &res)))
        rc = cli_fail(name, st);
done:
    nf_data_free(d);
    nf_matrix_free(&res);
    nf_flow_free(f);
    return rc;
}

int cmd_encode(int argc, char **argv) { return code("encode", argc, argv, 0); }
int cmd_decode(int argc, char **argv) { return code("decode", argc, argv, 1); }

int cmd_info(int argc, char **argv)
{
    const char *model_path = NULL;
    int system = 0, json = 0;
    for (int i = 0; i < argc; i++) {
        system |= !strcmp(argv[i], "--system");
        json |= !strcmp(argv[i], "--json");
    }
    if (system && argc == 1 + json) { /* the machine: CPU, vector features, BLAS kernels, threads, OpenMP waiting */
        char report[4096];
        nf_system_report(json ? NF_REPORT_JSON : 0, report, sizeof report);
        return fputs(report, stdout) < 0;
    }
    cli_option opts[] = {{"system", OPT_FLAG, &system, "describe this machine instead (no MODEL): CPU, vector "
                          "features, BLAS kernels, threads", 0},
                         {"json", OPT_FLAG, &json, "with --system: as JSON", 0},
                         {NULL, 0, NULL, NULL, 0}};
    cli_command cmd = {"info", "info MODEL | info --system [--json]",
                       "Describes a model: architecture, parameters, data statistics.", opts, 1, &model_path, NULL, 0};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (system || json)
        return cli_error("info", "--system takes no model file and --json needs --system");
    nf_flow *f;
    if (cli_load("info", model_path, &f))
        return 1;
    size_t need = nf_flow_describe(f, NULL, 0) + 1;
    char *buf = malloc(need);
    if (buf) {
        nf_flow_describe(f, buf, need);
        printf("%s: nflow model\n%s", model_path, buf);
    }
    free(buf);
    nf_flow_free(f);
    return buf ? 0 : 1;
}
