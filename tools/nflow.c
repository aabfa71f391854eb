/* nflow: the command-line tool, a thin layer over libnflow. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dist.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
    const char *what;
} commands[] = {
    {"train", cmd_train, "train a flow by maximum likelihood"},
    {"eval", cmd_eval, "mean log-likelihood of data (per-row log-densities with --out)"},
    {"sample", cmd_sample, "draw samples from a model"},
    {"encode", cmd_encode, "map data to latent codes (x -> z)"},
    {"decode", cmd_decode, "map latent codes to data (z -> x)"},
    {"info", cmd_info, "describe a model file"},
    {"toy", cmd_toy, "write points from a built-in 2-D density"},
    {"plot", cmd_plot, "picture of a 2-D model: density, data, samples"},
    {"fit", cmd_fit, "fit a 2-D flow to an energy density (u1..u4) by reverse KL"},
    {"distill", cmd_distill, "train a student flow to minimise KL(student || teacher) on its own samples"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: nflow COMMAND [options]   (nflow COMMAND --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].what);
    fprintf(out, "\nnflow %s: normalizing flows (NICE, RealNVP) in C.\n", nf_version());
}

int main(int argc, char **argv)
{
    /* A file size limit (ulimit -f) would kill the process with SIGXFSZ,
     * without a word; ignored, the write fails with EFBIG and is reported
     * as a full disk is, naming the file, its temporary removed. */
    signal(SIGXFSZ, SIG_IGN);
    cli_prepare_process(argv);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("nflow %s\n", nf_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            /* training may be shared by the processes of an mpirun job */
            int shared = commands[i].run == cmd_train;
            if (shared && dist_begin(&argc, &argv))
                return 1;
            int rc = commands[i].run(argc - 2, argv + 2);
            if (shared)
                dist_end();
            return rc;
        }
    fprintf(stderr, "nflow: unknown command '%s' (nflow --help lists the commands)\n", argv[1]);
    return EXIT_USAGE;
}
