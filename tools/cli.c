#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_error(const char *cmd, const char *fmt, ...)
{
    /* one write for the whole line: processes of an MPI run that fail
     * together print whole lines, not "nflow train: nflow train: ..." */
    char line[4096];
    int n = snprintf(line, sizeof line, "nflow %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
    return 1;
}

int cli_fail(const char *cmd, nf_status st) { return cli_error(cmd, "%s", nf_last_error()[0] ? nf_last_error() : nf_status_string(st)); }

int cli_load(const char *cmd, const char *path, nf_flow **f)
{
    nf_status st = nf_flow_load(f, path);
    return st ? cli_fail(cmd, st) : 0;
}

void cli_print_help(const cli_command *cmd)
{
    printf("usage: nflow %s\n\n%s\n\noptions:\n", cmd->usage, cmd->summary);
    static const char *const kind_args[] = {[NF_OPTION_INT] = " N", [NF_OPTION_REAL] = " X",
                                            [NF_OPTION_CHOICE] = " S", [NF_OPTION_FLAG] = ""};
    nf_recipe_option o;
    char left[64];
    for (const cli_option *c = cmd->options; c->name; c++) {
        const char *arg = c->type == OPT_FLAG ? "" : c->type == OPT_STRING ? " S" : c->type == OPT_DOUBLE ? " X" : " N";
        if (c->type == OPT_RECIPE && nf_recipe_option_get(nf_recipe_option_index(c->name), &o) == NF_OK)
            arg = kind_args[o.kind];
        snprintf(left, sizeof left, "--%s%s", c->name, arg);
        printf("  %-22s %s\n", left, c->help);
    }
    if (cmd->takes_threads)
        printf("  %-22s %s\n", "--threads N", "threads (default: what the process may use: its affinity mask, one per "
                                              "core, its CPU quota)");
    for (int k = 0; cmd->recipe && nf_recipe_option_get(k, &o) == NF_OK; k++) {
        snprintf(left, sizeof left, "--%s%s", o.name, kind_args[o.kind]);
        printf("  %-22s %s\n", left, o.help);
    }
    printf("  %-22s %s\n", "--help", "show this help");
}

/* The option --name (len characters): the command's own, else --threads
 * (into *threads) or (with cmd->recipe) the library's recipe option of
 * that name as the entry *spare (its name in key, 64 bytes); NULL when
 * none. */
static cli_option *find(cli_command *cmd, const char *name, size_t len, cli_option *spare, char *key, int *threads)
{
    for (cli_option *o = cmd->options; o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    if (cmd->takes_threads && len == 7 && !strncmp(name, "threads", 7))
        return *spare = (cli_option){"threads", OPT_INT, threads, NULL, 0}, spare;
    if (!cmd->recipe || len >= 64)
        return NULL;
    snprintf(key, 64, "%.*s", (int)len, name);
    if (nf_recipe_option_index(key) < 0)
        return NULL;
    *spare = (cli_option){key, OPT_RECIPE, cmd->recipe, NULL, 0};
    return spare;
}

/* Whether the option takes no value: a flag of the tool's or of the recipe's. */
static int is_flag(const cli_option *o)
{
    nf_recipe_option spec;
    return o->type == OPT_FLAG ||
           (o->type == OPT_RECIPE && nf_recipe_option_get(nf_recipe_option_index(o->name), &spec) == NF_OK &&
            spec.kind == NF_OPTION_FLAG);
}

/* The values of every numeric option, by name: one rule for every command
 * (a value outside is a usage error naming the option and its range), and
 * one range for an option wherever it appears. An entry with a command
 * applies to that command alone, before the general one: plot's --n may be
 * 0 (no samples drawn). */
typedef struct opt_range {
    const char *name, *cmd;
    double lo, hi;
    int lo_open, hi_open; /* (lo, ...: lo itself excluded */
} opt_range;

static const opt_range ranges[] = {
    {"patience", "distill", 1, INT_MAX, 0, 0}, /* checks without a lower KL: 0 would stop at once */
    {"steps", "distill", 1, INT_MAX, 0, 0},    /* not the recipe's steps per level */
    {"steps", "fit", 1, INT_MAX, 0, 0},
    {"n", "plot", 0, INT_MAX, 0, 0},           /* no samples drawn */
    {"samples", NULL, 0, INT_MAX, 0, 0},
    {"progress-every", NULL, 1, INT_MAX, 0, 0},
    {"eval-n", NULL, 2, INT_MAX, 0, 0},
    {"max-time", NULL, 1e-9, 1e12, 0, 0},
    {"checkpoint-every", NULL, 0, INFINITY, 0, 1},
    {"threads", NULL, 1, NF_MAX_THREADS, 0, 0},
    {"n", NULL, 1, INT_MAX, 0, 0},
    {"lo", NULL, -1e30, 1e30, 0, 0},
    {"hi", NULL, -1e30, 1e30, 0, 0},
};

/* spec with this range */
static nf_recipe_option ranged(nf_recipe_option spec, double lo, double hi, int lo_open, int hi_open)
{
    spec.min = lo, spec.max = hi, spec.min_open = lo_open, spec.max_open = hi_open;
    return spec;
}

/* An option's kind and range, to be checked by the library's
 * nf_option_parse: this command's own entry, else the library's recipe
 * option of that name (--hidden has one range for train, distill and fit),
 * else the tool's, else any int or double. */
static nf_recipe_option option_spec(const char *cmd, const cli_option *o)
{
    int whole = o->type == OPT_INT;
    nf_recipe_option spec = {.name = o->name, .kind = whole ? NF_OPTION_INT : NF_OPTION_REAL}, lib;
    const opt_range *general = NULL;
    for (const opt_range *r = ranges; r < ranges + sizeof ranges / sizeof ranges[0]; r++)
        if (!strcmp(r->name, o->name) && r->cmd && !strcmp(r->cmd, cmd))
            return ranged(spec, r->lo, r->hi, r->lo_open, r->hi_open);
        else if (!strcmp(r->name, o->name) && !r->cmd)
            general = r;
    int k = nf_recipe_option_index(o->name);
    if (k >= 0 && nf_recipe_option_get(k, &lib) == NF_OK && (lib.kind == NF_OPTION_INT || lib.kind == NF_OPTION_REAL))
        return ranged(spec, lib.min, lib.max, lib.min_open, lib.max_open);
    if (general)
        return ranged(spec, general->lo, general->hi, general->lo_open, general->hi_open);
    return whole ? ranged(spec, INT_MIN, INT_MAX, 0, 0) : ranged(spec, -INFINITY, INFINITY, 0, 0);
}

static int parse_value(cli_command *cmd, cli_option *o, const char *s)
{
    char *end;
    errno = 0;
    switch (o->type) {
    case OPT_INT:
    case OPT_DOUBLE: {
        nf_recipe_option spec = option_spec(cmd->name, o);
        double v;
        if (nf_option_parse(&spec, s, &v)) {
            fprintf(stderr, "nflow %s: --%s\n", cmd->name, nf_last_error());
            return EXIT_USAGE;
        }
        if (o->type == OPT_INT)
            *(int *)o->value = (int)v;
        else
            *(double *)o->value = v;
        break;
    }
    case OPT_U64: {
        unsigned long long v = strtoull(s, &end, 10);
        if (*s == '-' || *s == '\0' || *end || errno) {
            fprintf(stderr, "nflow %s: --%s: '%s' is not a valid integer\n", cmd->name, o->name, s);
            return EXIT_USAGE;
        }
        *(uint64_t *)o->value = (uint64_t)v;
        break;
    }
    case OPT_STRING:
        *(const char **)o->value = s;
        break;
    case OPT_RECIPE:
        if (nf_recipe_set(o->value, o->name, s)) {
            fprintf(stderr, "nflow %s: --%s\n", cmd->name, nf_last_error());
            return EXIT_USAGE;
        }
        break;
    case OPT_FLAG:
        *(int *)o->value = 1;
        break;
    }
    return 0;
}

int cli_parse(cli_command *cmd, int argc, char **argv)
{
    int npos = 0, threads = 0;
    char key[64];
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_print_help(cmd);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            if (npos >= cmd->n_positional) {
                fprintf(stderr, "nflow %s: unexpected argument '%s' (see nflow %s --help)\n", cmd->name, a,
                        cmd->name);
                return EXIT_USAGE;
            }
            cmd->positional[npos++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        cli_option spare, *o = find(cmd, name, len, &spare, key, &threads);
        if (!o) {
            fprintf(stderr, "nflow %s: unknown option '%.*s' (see nflow %s --help)\n", cmd->name, (int)len + 2, a,
                    cmd->name);
            return EXIT_USAGE;
        }
        o->seen = 1;
        if (is_flag(o) && eq) {
            fprintf(stderr, "nflow %s: --%s takes no value\n", cmd->name, o->name);
            return EXIT_USAGE;
        }
        const char *v = is_flag(o) ? "1" : eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "nflow %s: --%s needs a value\n", cmd->name, o->name);
            return EXIT_USAGE;
        }
        int rc = parse_value(cmd, o, v);
        if (rc)
            return rc;
    }
    if (npos < cmd->n_positional) {
        fprintf(stderr, "nflow %s: missing argument (usage: nflow %s)\n", cmd->name, cmd->usage);
        return EXIT_USAGE;
    }
    char warning[320]; /* more than the processors: capped (a larger team waits at every barrier) */
    if (threads && nf_set_threads_usable(threads, warning, sizeof warning) && warning[0])
        fprintf(stderr, "nflow %s: warning: --threads %d: %s\n", cmd->name, threads, warning);
    return 0;
}

int cli_seen(const cli_command *cmd, const char *name)
{
    if (cmd->recipe && nf_recipe_is_set(cmd->recipe, name))
        return 1;
    for (const cli_option *o = cmd->options; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o->seen;
    return 0;
}

int cli_read(const char *cmd, const char *path, int dim, nf_matrix *m)
{
    nf_status st = nf_matrix_read(path, NULL, m); /* the default options: every column, a header detected */
    if (st)
        return cli_fail(cmd, st);
    if (dim && m->cols != (size_t)dim) {
        cli_error(cmd, "%s: %zu columns, the model expects %d", path, m->cols, dim);
        nf_matrix_free(m);
        return 1;
    }
    return 0;
}

int cli_read_context(const char *cmd, const char *role, const char *model_path, int nc, const char *path,
                     const char *purpose, nf_matrix *ctx)
{
    const char *s = nc == 1 ? "" : "s";
    if (nc && !path)
        return cli_error(cmd, "the %s in %s is conditional (p(x | c)): give --context FILE with its %d context value%s "
                              "per row%s",
                         role, model_path, nc, s, purpose),
               EXIT_USAGE;
    if (!nc && path)
        return cli_error(cmd, "--context: the %s in %s is not conditional", role, model_path), EXIT_USAGE;
    if (!nc || cli_read(cmd, path, 0, ctx))
        return nc ? 1 : 0;
    if (ctx->cols != (size_t)nc || !ctx->rows) {
        if (ctx->rows)
            cli_error(cmd, "%s: %zu columns, the %s takes %d context value%s per row", path, ctx->cols, role, nc, s);
        else
            cli_error(cmd, "%s: no context rows", path);
        nf_matrix_free(ctx);
        return 1;
    }
    return 0;
}

/* Writes the folder that holds path into dir ("." for a bare name, "/"
 * at the root) and returns the name within it. */
static const char *split_folder(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, size, ".");
    else
        snprintf(dir, size, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    return slash ? slash + 1 : path;
}

int cli_check_writable(const char *cmd, const char *path)
{
    char dir[4096];
    split_folder(path, dir, sizeof dir);
    if (access(dir, W_OK) != 0)
        return cli_error(cmd, "%s: cannot write there: %s", path, strerror(errno));
    return 0;
}

int cli_tty(void) { return isatty(fileno(stderr)); }

/* Whether two paths name one file: the same device and inode where both
 * exist; where neither does, the same folder (by device and inode) and
 * name. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    int ha = stat(a, &sa) == 0, hb = stat(b, &sb) == 0;
    if (ha && hb)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (ha || hb)
        return 0;
    char da[4096], db[4096];
    const char *na = split_folder(a, da, sizeof da), *nb = split_folder(b, db, sizeof db);
    return strcmp(na, nb) == 0 && stat(da, &sa) == 0 && stat(db, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int cli_check_paths(const char *cmd, const cli_path *in, int n_in, const cli_path *out, int n_out)
{
    for (int i = 0; i < n_out; i++) {
        if (!out[i].path)
            continue;
        for (int j = 0; j < n_in; j++)
            if (in[j].path && same_file(out[i].path, in[j].path))
                return cli_error(cmd, "--%s %s is the same file as --%s: refusing to overwrite an input",
                                 out[i].option, out[i].path, in[j].option),
                       EXIT_USAGE;
        for (int j = 0; j < i; j++)
            if (out[j].path && same_file(out[i].path, out[j].path))
                return cli_error(cmd, "--%s and --%s are the same file (%s): one would replace the other",
                                 out[j].option, out[i].option, out[i].path),
                       EXIT_USAGE;
    }
    for (int i = 0; i < n_out; i++)
        if (out[i].path && cli_check_writable(cmd, out[i].path))
            return 1;
    return 0;
}

int cli_read_for_model(const char *cmd, const nf_flow *f, const char *model_path, const char *path,
                       const char *columns, const char *context_columns, const char *labels, int dequantize,
                       uint64_t seed, nf_data **d)
{
    *d = NULL;
    nf_data_options o;
    nf_data_options_default(&o);
    o.columns = columns;
    o.context_columns = context_columns;
    o.label_files[0] = labels;
    o.dequantize = dequantize;
    o.seed = seed;
    o.val_fraction = o.test_fraction = 0;
    if (nf_data_options_for_flow(f, &o)) /* the model's layout: what it takes, and what is missing */
        return cli_error(cmd, "%s: %s (--context-columns, --labels)", model_path, nf_last_error()), EXIT_USAGE;
    nf_status st = nf_data_read(d, path, NULL, NULL, &o);
    if (!st)
        return 0;
    if (st == NF_ERR_INVALID && context_columns)
        return cli_error(cmd, "--context-columns '%.100s': %s", context_columns, nf_last_error()), EXIT_USAGE;
    return cli_error(cmd, "%s", nf_last_error());
}

int cli_choice(const char *cmd, const char *opt, const char *value, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(value, names[i]))
            return i;
    cli_error(cmd, "--%s: unknown value '%s'", opt, value);
    return -1;
}

double cli_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
