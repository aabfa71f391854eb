/* nflow eval, sample, encode, decode, info: using a trained model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int load(const char *cmd, const char *path, nf_flow **f)
{
    nf_status st = nf_flow_load(f, path);
    return st ? cli_fail(cmd, st) : 0;
}

int cmd_eval(int argc, char **argv)
{
    const char *data = NULL, *out = NULL, *columns = NULL, *model_path = NULL;
    int json = 0, threads = 0, dequantize = 0;
    uint64_t seed = 1;
    cli_option opts[] = {
        {"data", OPT_STRING, &data, "data to evaluate (.csv or .npy)", 0},
        {"columns", OPT_STRING, &columns, "columns to use, 0-based (default: all)", 0},
        {"out", OPT_STRING, &out, "write the per-row log-densities (nats) here (.csv or .npy)", 0},
        {"threads", OPT_INT, &threads, "threads (default: all processors)", 0},
        {"dequantize", OPT_FLAG, &dequantize, "add U[0,1) noise to the columns that hold only whole numbers", 0},
        {"seed", OPT_U64, &seed, "seed of that noise (default 1)", 0},
        {"json", OPT_FLAG, &json, "print {\"mean_log_likelihood\", \"two_stderr\", \"median_log_likelihood\", "
                                  "\"n\", \"below_gaussian\"}", 0},
        {NULL, 0, NULL, NULL, 0},
    };
    cli_command cmd = {"eval", "eval MODEL --data FILE [--out FILE] [--json]",
                       "Mean log-likelihood in nats with +- 2 standard errors of the mean, the median, and\n"
                       "how many rows score below the model's Gaussian fit (whitened models).", opts, 1,
                       &model_path};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!data)
        return cli_error("eval", "--data is required"), EXIT_USAGE;
    const cli_path in[] = {{"model", model_path}, {"data", data}}, outs[] = {{"out", out}};
    if ((rc = cli_check_paths("eval", in, 2, outs, 1)))
        return rc;
    if (out && cli_check_writable("eval", out))
        return 1;
    if (cli_seen(&cmd, "threads"))
        nf_set_threads(threads);
    nf_flow *f = NULL;
    nf_matrix m = {0};
    double *lp = NULL, *gauss = NULL;
    int *integer_cols = NULL;
    nf_status st;
    rc = 1;
    if (load("eval", model_path, &f) || cli_read("eval", data, columns, nf_flow_dim(f), &m))
        goto done;
    lp = malloc(sizeof(double) * m.rows * 2);
    integer_cols = malloc(sizeof(int) * m.cols);
    if (!lp || !integer_cols) {
        cli_error("eval", "out of memory");
        goto done;
    }
    gauss = lp + m.rows;
    if (dequantize && nf_matrix_integer_columns(&m, integer_cols))
        nf_matrix_dequantize(&m, integer_cols, seed);
    if ((st = nf_flow_log_prob(f, m.values, m.rows, lp))) {
        cli_fail("eval", st);
        goto done;
    }
    double mean, two_se;
    cli_mean_two_stderr(lp, m.rows, &mean, &two_se);
    long below = -1; /* rows below the Gaussian fit; -1: no fit */
    if (nf_flow_gaussian_log_prob(f, m.values, m.rows, gauss) == NF_OK) {
        below = 0;
        for (size_t i = 0; i < m.rows; i++) /* beyond rounding: the Gaussian model is its own fit */
            below += lp[i] < gauss[i] - 1e-9 * (1 + fabs(gauss[i]));
    }
    double median = cli_median(lp, m.rows, gauss);
    if (out && (st = nf_matrix_write_double(out, lp, m.rows, 1))) {
        cli_fail("eval", st);
        goto done;
    }
    if (json) {
        if (isfinite(mean) && isfinite(two_se))
            printf("{\"mean_log_likelihood\": %.17g, \"two_stderr\": %.17g, ", mean, two_se);
        else if (isfinite(mean)) /* one row: no standard error */
            printf("{\"mean_log_likelihood\": %.17g, \"two_stderr\": null, ", mean);
        else
            printf("{\"mean_log_likelihood\": null, \"two_stderr\": null, ");
        if (isfinite(median))
            printf("\"median_log_likelihood\": %.17g, ", median);
        else
            printf("\"median_log_likelihood\": null, ");
        printf("\"n\": %zu, \"below_gaussian\": ", m.rows);
        printf(below < 0 ? "null}\n" : "%ld}\n", below);
    } else {
        if (isfinite(two_se))
            printf("mean log-likelihood: %.4f +- %.4f nats (n = %zu), median %.4f\n", mean, two_se, m.rows, median);
        else
            printf("mean log-likelihood: %.4f nats (n = %zu: no standard error), median %.4f\n", mean, m.rows, median);
        if (below >= 0)
            printf("rows below the model's Gaussian fit: %ld of %zu\n", below, m.rows);
    }
    rc = 0;
done:
    free(integer_cols);
    free(lp);
    nf_matrix_free(&m);
    nf_flow_free(f);
    return rc;
}

int cmd_sample(int argc, char **argv)
{
    const char *out = NULL, *model_path = NULL, *log_prob_path = NULL;
    int n = 0, threads = 0;
    uint64_t seed = 1;
    cli_option opts[] = {
        {"n", OPT_INT, &n, "number of samples", 0},
        {"seed", OPT_U64, &seed, "random seed (default 1)", 0},
        {"out", OPT_STRING, &out, "file to write (.csv or .npy)", 0},
        {"log-prob", OPT_STRING, &log_prob_path, "also write each sample's log-density (nats; .csv or .npy), "
                                                 "computed in the sampling pass", 0},
        {"threads", OPT_INT, &threads, "threads (default: all processors)", 0},
        {NULL, 0, NULL, NULL, 0},
    };
    cli_command cmd = {"sample", "sample MODEL --n N [--seed S] --out FILE [--log-prob FILE]", "Draws samples from a model.", opts,
                       1, &model_path};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!out || n < 1)
        return cli_error("sample", "--out and --n (>= 1) are required"), EXIT_USAGE;
    const cli_path in[] = {{"model", model_path}}, outs[] = {{"out", out}, {"log-prob", log_prob_path}};
    if ((rc = cli_check_paths("sample", in, 1, outs, 2)))
        return rc;
    if (cli_check_writable("sample", out) || (log_prob_path && cli_check_writable("sample", log_prob_path)))
        return 1;
    if (cli_seen(&cmd, "threads"))
        nf_set_threads(threads);
    nf_flow *f = NULL;
    nf_matrix m = {0};
    double *lp = NULL;
    nf_status st;
    rc = 1;
    if (load("sample", model_path, &f))
        goto done;
    m.rows = (size_t)n;
    m.cols = (size_t)nf_flow_dim(f);
    m.values = malloc(sizeof(float) * m.rows * m.cols);
    if (log_prob_path)
        lp = malloc(sizeof(double) * m.rows);
    if (!m.values || (log_prob_path && !lp)) {
        cli_error("sample", "out of memory for %d samples", n);
        goto done;
    }
    if ((st = nf_flow_sample(f, m.rows, seed, m.values, lp)) || (st = nf_matrix_write(out, &m)) ||
        (lp && (st = nf_matrix_write_double(log_prob_path, lp, m.rows, 1)))) {
        cli_fail("sample", st);
        goto done;
    }
    rc = 0;
done:
    free(lp);
    nf_matrix_free(&m);
    nf_flow_free(f);
    return rc;
}

/* encode (x -> z) and decode (z -> x) share everything but the direction. */
static int code(const char *name, int argc, char **argv, int decode)
{
    const char *data = NULL, *out = NULL, *columns = NULL, *model_path = NULL;
    cli_option opts[] = {
        {"data", OPT_STRING, &data, decode ? "latent codes (.csv or .npy)" : "data (.csv or .npy)", 0},
        {"columns", OPT_STRING, &columns, "columns to use, 0-based (default: all)", 0},
        {"out", OPT_STRING, &out, "file to write (.csv or .npy)", 0},
        {NULL, 0, NULL, NULL, 0},
    };
    cli_command cmd = {name, decode ? "decode MODEL --data FILE --out FILE" : "encode MODEL --data FILE --out FILE",
                       decode ? "Maps latent codes z to data x (the sampling direction)."
                              : "Maps data x to latent codes z (the density direction).",
                       opts, 1, &model_path};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!data || !out)
        return cli_error(name, "--data and --out are required"), EXIT_USAGE;
    const cli_path inputs[] = {{"model", model_path}, {"data", data}}, outs[] = {{"out", out}};
    if ((rc = cli_check_paths(name, inputs, 2, outs, 1)))
        return rc;
    if (cli_check_writable(name, out))
        return 1;
    nf_flow *f = NULL;
    nf_matrix in = {0}, res = {0};
    nf_status st;
    rc = 1;
    if (load(name, model_path, &f) || cli_read(name, data, columns, nf_flow_dim(f), &in))
        goto done;
    res.rows = in.rows;
    res.cols = in.cols;
    res.values = malloc(sizeof(float) * in.rows * in.cols);
    if (!res.values) {
        cli_error(name, "out of memory");
        goto done;
    }
    st = decode ? nf_flow_decode(f, in.values, in.rows, res.values) : nf_flow_encode(f, in.values, in.rows, res.values);
    if (st || (st = nf_matrix_write(out, &res))) {
        cli_fail(name, st);
        goto done;
    }
    rc = 0;
done:
    nf_matrix_free(&in);
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
    if (system && argc == 1 + json)
        return cli_info_system(json);
    cli_option opts[] = {{"system", OPT_FLAG, &system, "describe this machine instead (no MODEL): CPU, vector "
                          "features, BLAS kernels, threads", 0},
                         {"json", OPT_FLAG, &json, "with --system: as JSON", 0},
                         {NULL, 0, NULL, NULL, 0}};
    cli_command cmd = {"info", "info MODEL | info --system [--json]",
                       "Describes a model: architecture, parameters, data statistics.", opts, 1, &model_path};
    int rc = cli_parse(&cmd, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (system || json)
        return cli_error("info", "--system takes no model file and --json needs --system");
    nf_flow *f;
    if (load("info", model_path, &f))
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
