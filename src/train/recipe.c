/* The training recipe's options by name: the model and training options
 * that `nflow train` takes as flags and Python's Flow as keywords, in one
 * table with their ranges and help, and the rule that puts the ones given
 * over the defaults that fit the data (nf_data_defaults). The tool and the
 * binding hand over text and print; neither knows a range or a field. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/sized.h"
#include "data/api_prepare.h"

typedef enum option_id {
    O_MODEL, /* the first: not a shape option */
    O_LAYERS, O_HIDDEN, O_HIDDEN_LAYERS, O_ACTIVATION, O_PARTITION, O_ORDER, O_DEGREES, O_BATCH_NORM, O_ACTNORM,
    O_COMPONENTS, O_BINS, O_TAIL_BOUND, O_BASE, O_NO_WHITEN, O_TAIL_WEIGHT, O_SCALE_BOUND, O_LEVELS, O_STEPS,
    O_CHANNELS,
    O_BATCH, O_LR, O_LR_DECAY, O_WEIGHT_DECAY, O_CLIP, O_DROPOUT, /* kept from a checkpoint on a resume */
    O_EPOCHS, O_PATIENCE, O_PATIENCE_STEPS,                       /* a resume may change them */
    O_COUNT
} option_id;

typedef struct option_def {
    const char *name;
    nf_option_kind kind;
    double min, max;
    int min_open, max_open;
    const char *choices; /* CHOICE: "a|b|c", the index is the value */
    const char *help;
} option_def;

#define WHOLE(lo, hi) NF_OPTION_INT, (lo), (hi), 0, 0, NULL
#define CHOICE(list) NF_OPTION_CHOICE, 0, 0, 0, 0, (list)
#define FLAG NF_OPTION_FLAG, 0, 1, 0, 0, NULL

static const option_def defs[O_COUNT] = {
    [O_MODEL] = {"model", CHOICE(NULL),
                 "auto | maf | maf-mog | realnvp | nice | nsf | nsf-ar | made | made-mog | iaf | iaf-mog | gaussian | "
                 "gmm | glow | realnvp-ms (default auto: a race among maf-mog, maf, nsf-ar, made-mog and, up to 32 "
                 "columns without a context, gmm, scored on the validation rows; with an option that shapes one "
                 "model (hidden, layers, ...), the data's rule: maf-mog up to 2,000,000 values or 4 columns, maf "
                 "beyond; for images, glow)"},
    [O_LAYERS] = {"layers", WHOLE(1, NF_MAX_LAYERS), "MADEs or coupling layers (default 5 MADEs, 8 couplings)"},
    [O_HIDDEN] = {"hidden", WHOLE(1, NF_MAX_HIDDEN),
                  "units per hidden layer (default from the data: 100, or 4 x columns up to 512 from 50,000 rows)"},
    [O_HIDDEN_LAYERS] = {"hidden-layers", WHOLE(0, NF_MAX_HIDDEN_LAYERS),
                         "hidden layers per coupling network (default 2); of an image model, residual blocks per "
                         "network (default 1)"},
    [O_ACTIVATION] = {"activation", CHOICE("relu|tanh"), "relu | tanh (default relu)"},
    [O_PARTITION] = {"partition", CHOICE("halves|even_odd"),
                     "even_odd | halves: which dimensions condition (default even_odd)"},
    [O_ORDER] = {"order", CHOICE("natural|reversed|random"),
                 "natural | reversed | random: input order of the first MADE; natural and reversed alternate "
                 "between MADEs (default natural)"},
    [O_DEGREES] = {"degrees", CHOICE("sequential|random"),
                   "sequential | random: hidden-unit degrees of the MADEs (default sequential)"},
    [O_BATCH_NORM] = {"batch-norm", FLAG, "batch normalisation after every MADE or coupling"},
    [O_ACTNORM] = {"actnorm", FLAG,
                   "ActNorm after every MADE or coupling (scale and shift per column, set from the first batch)"},
    [O_COMPONENTS] = {"components", WHOLE(1, NF_MAX_COMPONENTS),
                      "Gaussians per conditional of made-mog / maf-mog, per dimension of iaf-mog (default 10); of "
                      "gmm (default: 1 to 64, chosen on the validation rows)"},
    [O_BINS] = {"bins", WHOLE(NF_MIN_BINS, NF_MAX_BINS), "bins of each spline of nsf and nsf-ar (default 8)"},
    [O_TAIL_BOUND] = {"tail-bound", NF_OPTION_REAL, 0, NF_MAX_TAIL_BOUND, 1, 0, NULL,
                      "the splines of nsf and nsf-ar cover [-B, B] of the standardised data, the identity outside "
                      "(default 3)"},
    [O_BASE] = {"base", CHOICE("normal|logistic"), "normal | logistic (default normal)"},
    [O_NO_WHITEN] = {"no-whiten", FLAG,
                     "start from the identity, not from the Gaussian fit (no whitening layer, no tail floor)"},
    [O_TAIL_WEIGHT] = {"tail-weight", NF_OPTION_REAL, 0, 1, 0, 1, NULL,
                       "weight of the Gaussian fit in the density, a floor under the tails (default 1e-3; image "
                       "models: N(0, I) of the standardised logits, 1e-6; 0: the flow alone)"},
    [O_SCALE_BOUND] = {"scale-bound", NF_OPTION_REAL, 0, NF_MAX_LOG_SCALE_BOUND, 0, 1, NULL,
                       "affine layers' (and the splines' shifts) log-scales: B tanh(a / B); 0: unbounded (default "
                       "3)"},
    [O_LEVELS] = {"levels", WHOLE(1, NF_MAX_HIDDEN_LAYERS),
                  "glow, realnvp-ms: levels of the multi-scale architecture, half the channels factored out after "
                  "each but the last (default 2)"},
    [O_STEPS] = {"steps", WHOLE(1, NF_MAX_LAYERS), "glow, realnvp-ms: steps (couplings) per level, as layers (default 8)"},
    [O_CHANNELS] = {"channels", WHOLE(1, NF_MAX_HIDDEN),
                    "glow, realnvp-ms: channels of the couplings' convolutional networks, as hidden (default 32)"},
    [O_BATCH] = {"batch", WHOLE(2, NF_MAX_BATCH),
                 "mini-batch size (default from the data: the largest power of two giving 250 steps an epoch, "
                 "32..256; 16 for an image model)"},
    [O_LR] = {"lr", NF_OPTION_REAL, 0, 10, 1, 1, NULL, "Adam learning rate (default 1e-3; 2e-3 for an image model)"},
    [O_LR_DECAY] = {"lr-decay", NF_OPTION_REAL, 0, 1, 1, 0, NULL,
                    "multiply the lr by this after patience/4 epochs without gain (default 0.5)"},
    [O_WEIGHT_DECAY] = {"weight-decay", NF_OPTION_REAL, 0, INFINITY, 0, 1, NULL, "L2 weight decay (default 1e-6)"},
    [O_CLIP] = {"clip", NF_OPTION_REAL, 0, INFINITY, 0, 1, NULL, "gradient-norm clipping, 0 = off (default 100)"},
    [O_DROPOUT] = {"dropout", NF_OPTION_REAL, 0, 0.99, 0, 0, NULL,
                   "drop each hidden unit of the networks with this probability in training steps, 0..0.99 "
                   "(default 0.2 for 8 columns or more below 5,000 rows, else 0)"},
    [O_EPOCHS] = {"epochs", WHOLE(0, INT_MAX), "at most this many epochs (default 1000)"},
    [O_PATIENCE] = {"patience", WHOLE(0, INT_MAX), "stop after this many epochs without validation gain (default 20) ..."},
    [O_PATIENCE_STEPS] = {"patience-steps", WHOLE(0, INT_MAX),
                          "... once they are at least this many steps (default 1000; lr decays wait for a quarter "
                          "of it)"},
};

struct nf_recipe {
    int set[O_COUNT];
    double value[O_COUNT]; /* a number; a flag's 0 or 1; a choice's index (the model's kind, -1 for auto) */
};

static int is_shape(option_id i) { return i > O_MODEL && i < O_BATCH; }
static int is_kept_on_resume(option_id i) { return i >= O_BATCH && i < O_EPOCHS; }

nf_status nf_recipe_create(nf_recipe **out)
{
    if (!out)
        return nf_fail(NF_ERR_INVALID, "nf_recipe_create: NULL argument");
    if (!(*out = calloc(1, sizeof **out)))
        return nf_fail(NF_ERR_NOMEM, "out of memory for a recipe");
    return NF_OK;
}

void nf_recipe_free(nf_recipe *r) { free(r); }

int nf_recipe_option_count(void) { return O_COUNT; }

int nf_recipe_option_index(const char *name)
{
    for (int i = 0; name && i < O_COUNT; i++)
        if (!strcmp(defs[i].name, name))
            return i;
    return -1;
}

static nf_recipe_option describe(option_id i)
{
    const option_def *d = &defs[i];
    return (nf_recipe_option){sizeof(nf_recipe_option), d->name, d->help, d->kind, d->min, d->max, d->min_open,
                              d->max_open, i == O_MODEL ? NULL : d->choices, is_shape(i), is_kept_on_resume(i)};
}

void nf_recipe_option_init(nf_recipe_option *o, size_t struct_size)
{
    nf_recipe_option full = {.struct_size = sizeof full};
    sized_write(o, struct_size, &full, sizeof full);
}

nf_status nf_recipe_option_sized(int i, nf_recipe_option *o, size_t struct_size)
{
    if (i < 0 || i >= O_COUNT)
        return nf_fail(NF_ERR_INVALID, "recipe option %d out of range 0..%d", i, O_COUNT - 1);
    nf_status st = sized_check_size(struct_size, sizeof *o,
                                    SIZED_END(nf_recipe_option, kept_on_resume), "nf_recipe_option");
    if (st)
        return st;
    nf_recipe_option full = describe((option_id)i);
    sized_write(o, struct_size, &full, sizeof full);
    return NF_OK;
}

/* "1..1000" for a closed range, else "(0, 10)", "[0, inf)" */
static const char *range_text(const nf_recipe_option *o, char *buf, size_t size)
{
    if (!o->min_open && !o->max_open)
        snprintf(buf, size, "%.10g..%.10g", o->min, o->max);
    else
        snprintf(buf, size, "%c%.10g, %.10g%c", o->min_open ? '(' : '[', o->min, o->max, o->max_open ? ')' : ']');
    return buf;
}

/* The index of `value` among a choice's names; '-' and '_' are one. */
static int choice_index(const char *list, const char *value)
{
    for (int k = 0; *list; k++) {
        size_t len = strcspn(list, "|"), i = 0;
        while (i < len && value[i] && (value[i] == list[i] || (strchr("-_", value[i]) && strchr("-_", list[i]))))
            i++;
        if (i == len && !value[i])
            return k;
        list += len + (list[len] == '|');
    }
    return -1;
}

nf_status nf_option_parse(const nf_recipe_option *o, const char *s, double *value)
{
    if (!o || !o->name || !s || !value)
        return nf_fail(NF_ERR_INVALID, "nf_option_parse: NULL argument");
    double v; /* *value is written only with a value accepted */
    char *end;
    errno = 0;
    switch (o->kind) {
    case NF_OPTION_CHOICE: {
        int k = o->choices ? choice_index(o->choices, s) : -1;
        if (k < 0) {
            char list[256] = "";
            for (const char *c = o->choices ? o->choices : ""; *c; c++) /* "a|b" as "a, b" */
                snprintf(list + strlen(list), sizeof list - strlen(list), *c == '|' ? ", " : "%c", *c);
            return nf_fail(NF_ERR_INVALID, "%s: unknown value '%.64s' (one of %s)", o->name, s, list);
        }
        *value = k;
        return NF_OK;
    }
    case NF_OPTION_FLAG:
        if (strcmp(s, "0") && strcmp(s, "1"))
            return nf_fail(NF_ERR_INVALID, "%s: '%.64s' is not 0 or 1", o->name, s);
        *value = s[0] == '1';
        return NF_OK;
    case NF_OPTION_INT: {
        long long n = strtoll(s, &end, 10);
        if (*s == '\0' || *end || (errno && errno != ERANGE))
            return nf_fail(NF_ERR_INVALID, "%s: '%.64s' is not a valid integer", o->name, s);
        if (errno == ERANGE || n < INT_MIN || n > INT_MAX) /* a whole number, too large for any option */
            return nf_fail(NF_ERR_INVALID, "%s: %.64s is too %s (the limit is %.10g)", o->name, s,
                           n > 0 ? "large" : "small", n > 0 ? o->max : o->min);
        v = (double)n;
        break;
    }
    case NF_OPTION_REAL:
        v = strtod(s, &end);
        if (*s == '\0' || *end || errno)
            return nf_fail(NF_ERR_INVALID, "%s: '%.64s' is not a valid number", o->name, s);
        break;
    default:
        return nf_fail(NF_ERR_INVALID, "%s: unknown option kind %d", o->name, (int)o->kind);
    }
    if (!((o->min_open ? v > o->min : v >= o->min) && (o->max_open ? v < o->max : v <= o->max))) {
        char text[64];
        return nf_fail(NF_ERR_INVALID, "%s: %.10g out of range %s", o->name, v, range_text(o, text, sizeof text));
    }
    *value = v;
    return NF_OK;
}

/* The model's choices are nf_model_name's and "auto" (-1). */
static nf_status parse_value(option_id id, const char *s, double *v)
{
    nf_model m;
    if (id != O_MODEL) {
        nf_recipe_option o = describe(id);
        return nf_option_parse(&o, s, v);
    }
    if (!strcmp(s, "auto") || nf_model_from_name(s, &m) == NF_OK) {
        *v = strcmp(s, "auto") ? (double)m : -1;
        return NF_OK;
    }
    char list[256] = "auto";
    for (int k = 0; k < NF_MODEL_COUNT; k++)
        snprintf(list + strlen(list), sizeof list - strlen(list), ", %s", nf_model_name((nf_model)k));
    return nf_fail(NF_ERR_INVALID, "model: unknown value '%.64s' (one of %s)", s, list);
}

nf_status nf_recipe_set(nf_recipe *r, const char *name, const char *value)
{
    if (!r || !name || !value)
        return nf_fail(NF_ERR_INVALID, "nf_recipe_set: NULL argument");
    int i = nf_recipe_option_index(name);
    if (i < 0)
        return nf_fail(NF_ERR_INVALID, "unknown option '%.64s'", name);
    double v = 0;
    nf_status st = parse_value((option_id)i, value, &v);
    if (st)
        return st;
    r->set[i] = 1;
    r->value[i] = v;
    return NF_OK;
}

int nf_recipe_is_set(const nf_recipe *r, const char *name)
{
    int i = nf_recipe_option_index(name);
    return r && i >= 0 && r->set[i];
}

/* The first option set that shapes one model (NULL: none), in the table's order. */
static const char *shape_option(const nf_recipe *r)
{
    for (int i = 0; i < O_COUNT; i++)
        if (r->set[i] && is_shape((option_id)i))
            return defs[i].name;
    return NULL;
}

/* The value a training option (O_BATCH..O_PATIENCE_STEPS) holds in o, and
 * its setting: the one list of which option is which field. */
static double training_value(option_id i, const nf_train_options *o)
{
    switch (i) {
    case O_BATCH: return o->batch;
    case O_LR: return o->lr;
    case O_LR_DECAY: return o->lr_decay;
    case O_WEIGHT_DECAY: return o->weight_decay;
    case O_CLIP: return o->clip_norm;
    case O_DROPOUT: return o->dropout;
    case O_EPOCHS: return o->max_epochs;
    case O_PATIENCE: return o->patience;
    case O_PATIENCE_STEPS: return o->patience_steps;
    default: return NAN;
    }
}

static void set_training(option_id i, nf_train_options *o, double v)
{
    switch (i) {
    case O_BATCH: o->batch = (int)v; break;
    case O_LR: o->lr = v; break;
    case O_LR_DECAY: o->lr_decay = v; break;
    case O_WEIGHT_DECAY: o->weight_decay = v; break;
    case O_CLIP: o->clip_norm = v; break;
    case O_DROPOUT: o->dropout = v; break;
    case O_EPOCHS: o->max_epochs = (int)v; break;
    case O_PATIENCE: o->patience = (int)v; break;
    case O_PATIENCE_STEPS: o->patience_steps = (int)v; break;
    default: break;
    }
}

/* The training options from `first` on that r sets, into o. */
static void apply_training(const nf_recipe *r, nf_train_options *o, option_id first)
{
    for (int i = first; i < O_COUNT; i++)
        if (r->set[i])
            set_training((option_id)i, o, r->value[i]);
}

static void apply_shape(const nf_recipe *r, nf_config *c)
{
    const double *v = r->value;
    const int *set = r->set;
    if (set[O_LAYERS]) c->layers = (int)v[O_LAYERS];
    if (set[O_STEPS]) c->layers = (int)v[O_STEPS];
    if (set[O_HIDDEN]) c->hidden = (int)v[O_HIDDEN];
    if (set[O_CHANNELS]) c->hidden = (int)v[O_CHANNELS];
    if (set[O_HIDDEN_LAYERS]) c->hidden_layers = (int)v[O_HIDDEN_LAYERS];
    if (set[O_LEVELS]) c->levels = (int)v[O_LEVELS];
    if (set[O_ACTIVATION]) c->activation = (nf_activation)v[O_ACTIVATION];
    if (set[O_PARTITION]) c->partition = (nf_partition)v[O_PARTITION];
    if (set[O_ORDER]) c->order = (nf_order)v[O_ORDER];
    if (set[O_DEGREES]) c->random_degrees = (int)v[O_DEGREES];
    if (set[O_BATCH_NORM]) c->batch_norm = (int)v[O_BATCH_NORM];
    if (set[O_ACTNORM]) c->actnorm = (int)v[O_ACTNORM];
    if (set[O_COMPONENTS]) c->components = (int)v[O_COMPONENTS];
    if (set[O_BINS]) c->bins = (int)v[O_BINS];
    if (set[O_TAIL_BOUND]) c->tail_bound = v[O_TAIL_BOUND];
    if (set[O_BASE]) c->base = (nf_base)v[O_BASE];
    if (set[O_NO_WHITEN] && v[O_NO_WHITEN]) c->whiten = 0; /* else the model's own (the gmm has its own covariances) */
    if (set[O_TAIL_WEIGHT]) c->tail_weight = v[O_TAIL_WEIGHT];
    if (set[O_SCALE_BOUND]) c->log_scale_bound = v[O_SCALE_BOUND];
}

nf_status nf_recipe_apply_sized(const nf_recipe *r, nf_config *cfg, size_t cfg_size, nf_train_options *opt,
                                size_t opt_size)
{
    if (!r)
        return nf_fail(NF_ERR_INVALID, "nf_recipe_apply: NULL recipe");
    nf_config c;
    nf_train_options o;
    nf_status st;
    if ((cfg && (st = sized_read(&c, sizeof c, CONFIG_SIZE_1, cfg, "nf_config"))) ||
        (opt && (st = sized_read(&o, sizeof o, TRAIN_OPTIONS_SIZE_1, opt, "nf_train_options"))))
        return st;
    if (cfg) {
        apply_shape(r, &c);
        sized_write(cfg, cfg_size, &c, sizeof c);
    }
    if (opt) { /* the caller's callbacks and paths stay */
        apply_training(r, &o, O_BATCH);
        sized_write(opt, opt_size, &o, sizeof o);
    }
    return NF_OK;
}

nf_status nf_recipe_resolve_sized(const nf_recipe *r, const nf_data *d, nf_config *cfg, size_t cfg_size,
                                  nf_train_options *opt, size_t opt_size, int *race)
{
    if (!r || !d || !race)
        return nf_fail(NF_ERR_INVALID, "nf_recipe_resolve: NULL argument");
    const char *shaped = shape_option(r);
    int auto_named = r->set[O_MODEL] && r->value[O_MODEL] < 0;
    if (auto_named && shaped)
        return nf_fail(NF_ERR_INVALID, "%s shapes one model: name it (model maf-mog, maf, ...) to set it; model auto "
                                       "races the candidates at their own defaults", shaped);
    /* the race by default; with an option that shapes one model, the data's rule; images: glow, the data's rule
     * (the race's candidates are for columns) */
    *race = (r->set[O_MODEL] ? auto_named : !shaped) && !nf_data_image_shape(d, NULL);
    const char *model = r->set[O_MODEL] && !auto_named ? nf_model_name((nf_model)r->value[O_MODEL]) : NULL;
    nf_config c;
    nf_train_options sized;
    nf_status st = nf_data_defaults(d, model, &c, &sized);
    if (st || (st = nf_recipe_apply(r, &c, &sized)))
        return st;
    if (opt) { /* the data's sizes under the caller's callbacks and paths */
        nf_train_options o;
        if ((st = sized_read(&o, sizeof o, TRAIN_OPTIONS_SIZE_1, opt, "nf_train_options")))
            return st;
        for (int i = O_BATCH; i < O_COUNT; i++)
            set_training((option_id)i, &o, training_value((option_id)i, &sized));
        o.seed = sized.seed;
        sized_write(opt, opt_size, &o, sizeof o);
    }
    if (cfg && (st = sized_check_size(cfg_size, sizeof c, CONFIG_SIZE_1, "nf_config")))
        return st;
    sized_write(cfg, cfg_size, &c, sizeof c);
    return NF_OK;
}

nf_status nf_recipe_resume_sized(const nf_recipe *r, const char *checkpoint_path, nf_train_options *opt,
                                 size_t opt_size)
{
    if (!r || !checkpoint_path || !opt)
        return nf_fail(NF_ERR_INVALID, "nf_recipe_resume: NULL argument");
    for (int i = 0; i <= O_CHANNELS; i++)
        if (r->set[i])
            return nf_fail(NF_ERR_INVALID, "%s cannot be set for a resumed run: the model comes from %s", defs[i].name,
                           checkpoint_path);
    nf_train_options o;
    nf_status st = sized_read(&o, sizeof o, TRAIN_OPTIONS_SIZE_1, opt, "nf_train_options");
    if (st || (st = nf_train_options_read(checkpoint_path, &o)))
        return st;
    for (int i = O_BATCH; i < O_EPOCHS; i++)
        if (r->set[i] && r->value[i] != training_value((option_id)i, &o))
            return nf_fail(NF_ERR_INVALID, "%s %g differs from the %g saved in %s: a resumed run keeps its training "
                                           "options", defs[i].name, r->value[i], training_value((option_id)i, &o),
                           checkpoint_path);
    apply_training(r, &o, O_EPOCHS); /* the options a resume may change */
    sized_write(opt, opt_size, &o, sizeof o);
    return NF_OK;
}

nf_status nf_recipe_student_sized(const nf_recipe *r, const nf_flow *teacher, int reverse_kl, nf_config *cfg,
                                  size_t cfg_size)
{
    if (!r || !teacher || !cfg)
        return nf_fail(NF_ERR_INVALID, "nf_recipe_student: NULL argument");
    nf_status st = sized_check_size(cfg_size, sizeof(nf_config), CONFIG_SIZE_1, "nf_config");
    if (st)
        return st;
    if (r->set[O_MODEL] && r->value[O_MODEL] < 0)
        return nf_fail(NF_ERR_INVALID, "model auto: a student is one model (iaf, iaf-mog, realnvp, nice, maf)");
    nf_model m = r->set[O_MODEL] ? (nf_model)r->value[O_MODEL] : nf_flow_student_model(teacher, reverse_kl);
    if (reverse_kl && m == NF_MODEL_IAF_MOG)
        return nf_fail(NF_ERR_INVALID, "iaf-mog cannot be trained by reverse KL: its base's draws are not "
                                       "reparameterisable; use iaf");
    nf_config c;
    nf_flow_student_config(teacher, m, &c);
    apply_shape(r, &c);
    sized_write(cfg, cfg_size, &c, sizeof c);
    return NF_OK;
}

nf_status nf_recipe_target_flow(const nf_recipe *r, int dim, int context_dim, uint64_t seed, nf_flow **out)
{
    if (!r || !out)
        return nf_fail(NF_ERR_INVALID, "nf_recipe_target_flow: NULL argument");
    *out = NULL;
    if (dim < 1 || dim > NF_MAX_DIM || context_dim < 0 || context_dim > NF_MAX_CONTEXT)
        return nf_fail(NF_ERR_INVALID, "a target of %d columns given %d context values: columns 1..%d, context "
                       "0..%d", dim, context_dim, NF_MAX_DIM, NF_MAX_CONTEXT);
    if (r->set[O_MODEL] && r->value[O_MODEL] < 0)
        return nf_fail(NF_ERR_INVALID, "model auto: a flow fitted to a target is one model (iaf, maf, realnvp, ...)");
    nf_config c;
    nf_config_default(&c, r->set[O_MODEL] ? (nf_model)r->value[O_MODEL] : NF_MODEL_IAF, dim);
    apply_shape(r, &c);
    c.whiten = 0; /* no data to whiten by */
    c.seed = seed;
    c.context_dim = context_dim;
    double *zero = calloc((size_t)dim, sizeof *zero), *one = malloc((size_t)dim * sizeof *one);
    nf_status st = zero && one ? NF_OK : nf_fail(NF_ERR_NOMEM, "out of memory for a target's flow");
    for (int j = 0; !st && j < dim; j++)
        one[j] = 1;
    if (!st && !(st = nf_flow_create(out, &c)) && (st = nf_flow_set_standardization(*out, zero, one))) {
        nf_flow_free(*out);
        *out = NULL;
    }
    free(zero);
    free(one);
    return st;
}
