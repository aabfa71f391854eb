/* Shared pieces of the nflow command-line tool: option tables, messages,
 * reading data for a model. Exit codes: 0 success, 1 failure, 2 usage. */
#ifndef NFLOW_CLI_H
#define NFLOW_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "nflow.h"

enum { EXIT_USAGE = 2 };

/* OPT_RECIPE: the library's recipe option of that name, under this
 * command's own help; its text goes to the nf_recipe `value` points to
 * (nf_recipe_set checks it). */
typedef enum { OPT_FLAG, OPT_INT, OPT_U64, OPT_DOUBLE, OPT_STRING, OPT_RECIPE } opt_type;

typedef struct cli_option {
    const char *name;   /* without the leading "--" */
    opt_type type;
    void *value;        /* int*, uint64_t*, double*, const char**, nf_recipe* */
    const char *help;
    int seen;
} cli_option;

typedef struct cli_command {
    const char *name;
    const char *usage;      /* the line after "usage: nflow " */
    const char *summary;
    cli_option *options;    /* ends with a {NULL} entry */
    int n_positional;       /* required positional arguments */
    const char **positional;
    nf_recipe *recipe;      /* not NULL: the library's recipe options are options too, set in it */
    int takes_threads;      /* --threads N: cli_parse sets the library's count (nf_set_threads) */
} cli_command;

/* Parses argv (after the subcommand name). Returns 0, 1 for --help (printed),
 * or EXIT_USAGE after printing a message naming the option: an unknown one,
 * a value that is not a number, or a number outside the option's range
 * (one table in cli.c for every command). --threads, where the command
 * takes it, is set (no more than the process may use, with a warning). */
int cli_parse(cli_command *cmd, int argc, char **argv);
void cli_print_help(const cli_command *cmd);
int cli_seen(const cli_command *cmd, const char *name);
/* "nflow CMD: message" on stderr; returns 1 (or the given code). */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports a failed library call with its detailed message; returns 1. */
int cli_fail(const char *cmd, nf_status st);
/* Loads a model file; 1 after a message naming what is wrong. */
int cli_load(const char *cmd, const char *path, nf_flow **f);
/* Reads a data file and checks its width against `dim` (0: any). */
int cli_read(const char *cmd, const char *path, int dim, nf_matrix *m);
/* The --context FILE of a command on a model (`role`: "model", "teacher"
 * read from model_path) that is conditional on nc values: refused
 * (EXIT_USAGE) when missing for a conditional model, the message ending
 * with `purpose` (may be ""), or given for an unconditional one; read into
 * *ctx (left empty when nc is 0) and refused (1) when it has not nc columns
 * or no rows. Returns 0, 1 or EXIT_USAGE. */
int cli_read_context(const char *cmd, const char *role, const char *model_path, int nc, const char *path,
                     const char *purpose, nf_matrix *ctx);
/* An option and the path it was given (NULL: not given). */
typedef struct cli_path {
    const char *option, *path;
} cli_path;
/* Refuses (EXIT_USAGE, with a message) an output that is the same file as
 * an input or as another output, and (1) one whose folder cannot be
 * written; 0 when all are fine. */
int cli_check_paths(const char *cmd, const cli_path *in, int n_in, const cli_path *out, int n_out);
/* The data of a command on a loaded model (model_path names it): read as
 * nflow train reads data (nf_data_read, no split), the model's widths,
 * the context in the columns --context-columns names (context_columns)
 * or else in the model's own list (a conditional model without one is a
 * usage error), or a model of class labels the labels in the file
 * `labels`; with dequantize, the training recipe's noise for `seed`.
 * Returns 0, 1 or EXIT_USAGE. */
int cli_read_for_model(const char *cmd, const nf_flow *f, const char *model_path, const char *path,
                       const char *columns, const char *context_columns, const char *labels, int dequantize,
                       uint64_t seed, nf_data **d);
/* Fails early when `path` cannot be written (missing folder). */
int cli_check_writable(const char *cmd, const char *path);
/* Whether stderr is a terminal (progress lines). */
int cli_tty(void);
/* Restarts the tool once, before anything else, with what OpenMP and
 * OpenBLAS read only as they load: OMP_WAIT_POLICY=passive (threads that
 * sleep at barriers rather than spin, so a machine shared with other work
 * does not collapse) when neither it nor GOMP_SPINCOUNT is set, and
 * OPENBLAS_CORETYPE when OpenBLAS picked generic kernels on a CPU with
 * AVX2; a variable the user set is left alone. */
void cli_prepare_process(char **argv);

/* The index of `value` among the n names, or -1 after a message naming
 * --opt. */
int cli_choice(const char *cmd, const char *opt, const char *value, const char *const *names, int n);
/* A monotonic clock, in seconds. */
double cli_seconds(void);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_decode(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_toy(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_distill(int argc, char **argv);

#endif
